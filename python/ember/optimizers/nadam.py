"""Nadam (Adam with Nesterov momentum) with Keras 3 semantics."""

from __future__ import annotations

from .adam import check_beta
from .base import Optimizer, check_nonnegative


class Nadam(Optimizer):
    """``Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``
    (``keras/src/optimizers/nadam.py``).

    With the momentum cache ``u_t = b1 * (1 - 0.5 * 0.96^t)`` and its running product
    ``P_t = u_1 * ... * u_t`` (one per optimizer, updated once per step):
    ``m += (g - m)(1 - b1)``; ``v += (g^2 - v)(1 - b2)``;
    ``mhat = u_{t+1} * m / (1 - P_t * u_{t+1}) + (1 - u_t) * g / (1 - P_t)``;
    ``vhat = v / (1 - b2^t)``; ``theta -= lr * mhat / (sqrt(vhat) + eps)``.
    Keras 3 uses ``0.96^t``; Keras 2 and tf.keras's legacy Nadam used ``0.96^(0.004 t)``
    (their ``schedule_decay``), which PyTorch's ``momentum_decay=0.004`` also follows.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        beta_1: decay of the first moment, in [0, 1) (default 0.9).
        beta_2: decay of the second moment, in [0, 1) (default 0.999).
        epsilon: float >= 0 (default 1e-7).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).
    """

    _fused_weight_decay = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1 = check_beta("beta_1", beta_1, "Nadam")
        self.beta_2 = check_beta("beta_2", beta_2, "Nadam")
        self.epsilon = check_nonnegative("epsilon", epsilon, "Nadam")
        self._u_product = 1.0

    def _scalar_state(self) -> dict:
        return {**super()._scalar_state(), "u_product": self._u_product}

    def _set_scalar_state(self, state: dict) -> None:
        super()._set_scalar_state(state)
        self._u_product = float(state["u_product"])

    def _prepare_step(self, t: int) -> None:
        self._u_product *= self.beta_1 * (1.0 - 0.5 * 0.96**t)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "momentum")
            self.add_variable_from_reference(v, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        m = self.slot(variable, "momentum")._buf
        v = self.slot(variable, "velocity")._buf
        variable._backend.nadam_update(variable._buf, gradient._buf, m, v, learning_rate, self.beta_1, self.beta_2,
                                       self.epsilon, self.iterations + 1, self._u_product,
                                       decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
