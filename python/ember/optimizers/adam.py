"""Adam with Keras 3 semantics (epsilon added to the uncorrected sqrt(v))."""

from __future__ import annotations

from .base import Optimizer, check_bool, check_nonnegative, check_unit_interval


def check_beta(name: str, value, owner: str) -> float:
    return check_unit_interval(name, value, owner)


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)``
    (``keras/src/optimizers/adam.py``).

    ``m += (g - m)(1 - b1)``; ``v += (g^2 - v)(1 - b2)``; with ``amsgrad``
    ``vhat = max(vhat, v)`` replaces ``v`` below; ``alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)``;
    ``theta -= alpha * m / (sqrt(v) + eps)``. Keras adds epsilon to the *uncorrected*
    ``sqrt(v)`` (the paper's "epsilon hat"), i.e. ``lr * mhat / (sqrt(vhat) + eps / sqrt(1 - b2^t))``;
    PyTorch adds it to ``sqrt(vhat)``. The two differ when ``sqrt(v)`` is near epsilon.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        beta_1: decay of the first moment, in [0, 1) (default 0.9).
        beta_2: decay of the second moment, in [0, 1) (default 0.999).
        epsilon: float >= 0 (default 1e-7).
        amsgrad: use the running maximum of v (default False).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([0.0]); opt = em.optimizers.Adam(0.001)
        >>> _ = opt.apply_gradients([(em.tensor([3.0]), v)]); round(float(v.numpy()[0]), 6)
        -0.001
    """

    _fused_weight_decay = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = type(self).__name__
        self.beta_1 = check_beta("beta_1", beta_1, owner)
        self.beta_2 = check_beta("beta_2", beta_2, owner)
        self.epsilon = check_nonnegative("epsilon", epsilon, owner)
        self.amsgrad = check_bool("amsgrad", amsgrad, owner)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "momentum")
            self.add_variable_from_reference(v, "velocity")
            if self.amsgrad:
                self.add_variable_from_reference(v, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        m = self.slot(variable, "momentum")._buf
        v = self.slot(variable, "velocity")._buf
        vhat = self.slot(variable, "velocity_hat")._buf if self.amsgrad else None
        variable._backend.adam_update(variable._buf, gradient._buf, m, v, learning_rate, self.beta_1, self.beta_2,
                                      self.epsilon, self.iterations + 1, vhat,
                                      decay=self._decay(variable, learning_rate))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}
