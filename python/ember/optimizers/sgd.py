"""Stochastic gradient descent with Keras 3 momentum and Nesterov semantics."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .base import Optimizer


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)``.

    velocity = momentum * velocity - lr * g; theta += velocity, or with Nesterov
    theta += momentum * velocity - lr * g (Keras's form; PyTorch's momentum buffer
    differs by a factor of lr).

    Example:
        >>> import ember as em
        >>> v = em.Variable([1.0]); opt = em.optimizers.SGD(0.1)
        >>> _ = opt.apply_gradients([(em.tensor([2.0]), v)]); round(float(v.numpy()[0]), 6)
        0.8
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"SGD: argument momentum must be a float in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def build(self, variables):
        if self.momentum:
            for v in variables:
                self.add_variable_from_reference(v, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        vel = self.slot(variable, "momentum")._buf if self.momentum else None
        variable._backend.sgd_update(variable._buf, gradient._buf, vel, learning_rate, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
