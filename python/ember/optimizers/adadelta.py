"""Adadelta with Keras 3 semantics."""

from __future__ import annotations

from .base import Optimizer, check_nonnegative, check_unit_interval


class Adadelta(Optimizer):
    """``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)`` (``keras/src/optimizers/adadelta.py``).

    ``Eg = rho * Eg + (1 - rho) * g^2``; ``d = -sqrt(Ed + eps) * g / sqrt(Eg + eps)``;
    ``Ed = rho * Ed + (1 - rho) * d^2``; ``theta += lr * d``. Epsilon sits inside both roots
    (as in the paper); Keras scales the step by ``learning_rate`` (default 0.001, where the
    paper has 1.0: pass ``learning_rate=1.0`` for the original method).

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        rho: decay rate, in [0, 1) (default 0.95).
        epsilon: float >= 0 (default 1e-7).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).
    """

    _fused_weight_decay = True

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        self.rho = check_unit_interval("rho", rho, "Adadelta")
        self.epsilon = check_nonnegative("epsilon", epsilon, "Adadelta")

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "accumulated_grad")
            self.add_variable_from_reference(v, "accumulated_delta_var")

    def update_step(self, gradient, variable, learning_rate):
        eg = self.slot(variable, "accumulated_grad")._buf
        ed = self.slot(variable, "accumulated_delta_var")._buf
        variable._backend.adadelta_update(variable._buf, gradient._buf, eg, ed, learning_rate, self.rho, self.epsilon,
                                          decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
