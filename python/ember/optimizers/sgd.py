"""Stochastic gradient descent with Keras 3 momentum and Nesterov semantics."""

from __future__ import annotations

from .base import Optimizer, check_bool, check_unit_interval


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`` (``keras/src/optimizers/sgd.py``).

    Without momentum ``theta -= lr * g``. With momentum ``m = momentum * m - lr * g``, then
    ``theta += m``, or with Nesterov ``theta += momentum * m - lr * g``. This is Keras's
    form; PyTorch's momentum buffer holds ``g`` sums without the factor lr, which differs
    when the learning rate changes during training. ``momentum`` must lie in [0, 1) (Keras
    also admits 1, which never forgets a gradient).

    Args:
        learning_rate: float >= 0 or a schedule (default 0.01).
        momentum: float in [0, 1) (default 0).
        nesterov: Nesterov momentum (default False).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([1.0]); opt = em.optimizers.SGD(0.1)
        >>> _ = opt.apply_gradients([(em.tensor([2.0]), v)]); round(float(v.numpy()[0]), 6)
        0.8
    """

    _fused_weight_decay = True
    _default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        self.momentum = check_unit_interval("momentum", momentum, "SGD")
        self.nesterov = check_bool("nesterov", nesterov, "SGD")

    def build(self, var_list):
        super().build(var_list)
        if self.momentum:
            for v in var_list:
                self.add_variable_from_reference(v, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        vel = self.slot(variable, "momentum")._buf if self.momentum else None
        variable._backend.sgd_update(variable._buf, gradient._buf, vel, learning_rate, self.momentum, self.nesterov,
                                     decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
