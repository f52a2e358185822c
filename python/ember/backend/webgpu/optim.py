"""Fused in-place optimizer updates on the gpu (Keras 3 semantics)."""

from __future__ import annotations

import math

from ...errors import InvalidArgumentError, ShapeError
from .runtime import f


class OptimKernels:
    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        if grad.n != param.n or (velocity is not None and velocity.n != param.n):
            raise ShapeError(f"sgd_update: gradient/velocity sizes differ from the parameter's {param.n}")
        if param.n == 0:
            return
        if velocity is None:
            self.rt.dispatch("optim/optim", "sgd", [grad], [param], (param.n, 0, f(lr), f(momentum)), threads=param.n)
        else:
            self.rt.dispatch("optim/optim", "sgd_momentum", [grad], [param, velocity], (param.n, int(nesterov), f(lr), f(momentum)), threads=param.n)

    def adam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step):
        if not grad.n == m.n == v.n == param.n:
            raise ShapeError(f"adam_update: gradient/moment sizes differ from the parameter's {param.n}")
        if step < 1:
            raise InvalidArgumentError("adam_update: step must be >= 1")
        if param.n == 0:
            return
        lr_t = lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
        self.rt.dispatch("optim/optim", "adam", [grad], [param, m, v],
                         (param.n, 0, f(lr_t), f(1.0 - beta_1), f(1.0 - beta_2), f(epsilon)), threads=param.n)
