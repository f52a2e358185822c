"""RMSprop (Keras 3 semantics), Keras's default optimizer in ``compile``."""

from __future__ import annotations

from .base import Optimizer, check_bool, check_nonnegative, check_unit_interval


class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)``
    (``keras/src/optimizers/rmsprop.py``).

    ``v = rho * v + (1 - rho) * g^2``; centered: ``a = rho * a + (1 - rho) * g`` and
    ``denom = v - a^2 + eps``, else ``denom = v + eps``; ``inc = lr * g / sqrt(denom)``.
    With momentum ``mom = momentum * mom + inc; theta -= mom``, else ``theta -= inc``.
    Keras puts epsilon *inside* the square root (PyTorch: ``sqrt(v) + eps``) and folds the
    learning rate into the momentum buffer.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        rho: discount of the squared-gradient average, in [0, 1) (default 0.9).
        momentum: float in [0, 1) (default 0).
        epsilon: float >= 0 (default 1e-7).
        centered: normalise by the estimated variance (default False).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).
    """

    _fused_weight_decay = True

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        self.rho = check_unit_interval("rho", rho, "RMSprop")
        self.momentum = check_unit_interval("momentum", momentum, "RMSprop")
        self.epsilon = check_nonnegative("epsilon", epsilon, "RMSprop")
        self.centered = check_bool("centered", centered, "RMSprop")

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "velocity")
            if self.momentum > 0:
                self.add_variable_from_reference(v, "momentum")
            if self.centered:
                self.add_variable_from_reference(v, "average_gradient")

    def update_step(self, gradient, variable, learning_rate):
        vel = self.slot(variable, "velocity")._buf
        mom = self.slot(variable, "momentum")._buf if self.momentum > 0 else None
        avg = self.slot(variable, "average_gradient")._buf if self.centered else None
        variable._backend.rmsprop_update(variable._buf, gradient._buf, vel, avg, mom, learning_rate, self.rho,
                                         self.momentum, self.epsilon, decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
