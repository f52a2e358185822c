"""RMSprop (Keras 3 semantics), Keras's default optimizer in ``compile``.

Built from backend ops (a composite); a fused kernel comes with the optimizer catalogue.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError
from ..ops import core
from .adam import check_beta
from .base import Optimizer, check_nonnegative


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; inc = lr g / sqrt(v + eps) (epsilon inside the root);
    with momentum: mom = momentum * mom + inc, theta -= mom; else theta -= inc."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs)
        self.rho = check_beta("rho", rho, "RMSprop")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise InvalidArgumentError(f"RMSprop: argument momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.epsilon = check_nonnegative("epsilon", epsilon, "RMSprop")
        self.centered = bool(centered)

    def build(self, variables):
        for v in variables:
            self.add_variable_from_reference(v, "velocity")
            if self.momentum:
                self.add_variable_from_reference(v, "momentum")
            if self.centered:
                self.add_variable_from_reference(v, "average_gradient")

    def update_step(self, g, var, lr):
        vel = self.slot(var, "velocity")
        vel.assign(core.add(core.multiply(vel.detach(), self.rho), core.multiply(core.square(g), 1 - self.rho)))
        denom = vel.detach()
        if self.centered:
            ag = self.slot(var, "average_gradient")
            ag.assign(core.add(core.multiply(ag.detach(), self.rho), core.multiply(g, 1 - self.rho)))
            denom = core.subtract(denom, core.square(ag.detach()))
        inc = core.divide(core.multiply(g, lr), core.sqrt(core.add(denom, self.epsilon)))
        if self.momentum:
            mom = self.slot(var, "momentum")
            mom.assign(core.add(core.multiply(mom.detach(), self.momentum), inc))
            inc = mom.detach()
        var.assign(core.subtract(var.detach(), inc))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}
