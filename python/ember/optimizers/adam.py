"""Adam with Keras 3 semantics (epsilon added to the uncorrected sqrt(v))."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .base import Optimizer, check_nonnegative


def check_beta(name: str, value, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidArgumentError(f"{owner}: argument {name} must be in [0, 1), got {value!r}")
    return float(value)


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)``.

    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs)
        self.beta_1 = check_beta("beta_1", beta_1, "Adam")
        self.beta_2 = check_beta("beta_2", beta_2, "Adam")
        self.epsilon = check_nonnegative("epsilon", epsilon, "Adam")
        if amsgrad:
            raise InvalidArgumentError("Adam: amsgrad=True is not supported yet")
        self.amsgrad = False

    def build(self, variables):
        for v in variables:
            self.add_variable_from_reference(v, "momentum")
            self.add_variable_from_reference(v, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        m = self.slot(variable, "momentum")._buf
        v = self.slot(variable, "velocity")._buf
        variable._backend.adam_update(
            variable._buf, gradient._buf, m, v, learning_rate, self.beta_1, self.beta_2, self.epsilon, self.iterations + 1
        )

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}
