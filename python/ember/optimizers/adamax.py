"""Adamax (Adam with the infinity norm) with Keras 3 semantics."""

from __future__ import annotations

from .adam import check_beta
from .base import Optimizer, check_nonnegative


class Adamax(Optimizer):
    """``Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``
    (``keras/src/optimizers/adamax.py``).

    ``m += (g - m)(1 - b1)``; ``u = max(b2 * u, |g|)``;
    ``theta -= lr * m / ((1 - b1^t) * (u + eps))``.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        beta_1: decay of the first moment, in [0, 1) (default 0.9).
        beta_2: decay of the infinity norm, in [0, 1) (default 0.999).
        epsilon: float >= 0 (default 1e-7).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).
    """

    _fused_weight_decay = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1 = check_beta("beta_1", beta_1, "Adamax")
        self.beta_2 = check_beta("beta_2", beta_2, "Adamax")
        self.epsilon = check_nonnegative("epsilon", epsilon, "Adamax")

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "m")
            self.add_variable_from_reference(v, "u")

    def update_step(self, gradient, variable, learning_rate):
        m = self.slot(variable, "m")._buf
        u = self.slot(variable, "u")._buf
        variable._backend.adamax_update(variable._buf, gradient._buf, m, u, learning_rate, self.beta_1, self.beta_2,
                                        self.epsilon, self.iterations + 1, decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
