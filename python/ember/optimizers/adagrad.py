"""Adagrad with Keras 3 semantics."""

from __future__ import annotations

from .base import Optimizer, check_nonnegative


class Adagrad(Optimizer):
    """``Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)``
    (``keras/src/optimizers/adagrad.py``).

    ``acc += g^2``; ``theta -= lr * g / sqrt(acc + eps)``, the accumulator starting at
    ``initial_accumulator_value``. Keras puts epsilon inside the root (PyTorch:
    ``sqrt(acc) + eps``, with an accumulator starting at 0).

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        initial_accumulator_value: float >= 0 (default 0.1).
        epsilon: float >= 0 (default 1e-7).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).
    """

    _fused_weight_decay = True

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        self.initial_accumulator_value = check_nonnegative("initial_accumulator_value", initial_accumulator_value, "Adagrad")
        self.epsilon = check_nonnegative("epsilon", epsilon, "Adagrad")

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "accumulator", initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        acc = self.slot(variable, "accumulator")._buf
        variable._backend.adagrad_update(variable._buf, gradient._buf, acc, learning_rate, self.epsilon,
                                         decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}
