"""Fused in-place optimizer updates on the gpu (Keras 3 semantics).

Each method validates its operands like the Rust twin (sizes, float32, distinct buffers,
step >= 1), computes the step-dependent factors and the complements (1 - beta) on the host in float64 (as Keras
does with its Python-float hyperparameters), and records one
dispatch of an entry point of ``shaders/optim/optim.wgsl``.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import DTypeError, InvalidArgumentError, ShapeError
from .runtime import f

SHADER = "optim/optim"


def _check(op: str, param, grad, **slots) -> None:
    named = [("parameter", param), ("gradient", grad)] + [(k, v) for k, v in slots.items() if v is not None]
    for what, b in named:
        if getattr(b, "dtype", "float32") != "float32":
            raise DTypeError(f"{op}: {what} must be float32, got {b.dtype}")
    for what, b in named[1:]:
        if b.n != param.n:
            raise ShapeError(f"{op}: {what} holds {b.n} values but the parameter holds {param.n}")
    bufs = [b for _, b in named]
    if len({id(b) for b in bufs}) != len(bufs) or len({id(b.buf) for b in bufs}) != len(bufs):
        raise InvalidArgumentError(f"{op}: the parameter, gradient and optimizer slots must be distinct buffers")


def _step(op: str, step: int) -> int:
    if step < 1:
        raise InvalidArgumentError(f"{op}: step must be >= 1")
    return min(int(step), 2**31 - 1)


class OptimKernels:
    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov, decay=0.0):
        _check("sgd_update", param, grad, velocity=velocity)
        if param.n == 0:
            return
        if velocity is None:
            self.rt.dispatch(SHADER, "sgd", [grad], [param], (param.n, 0, f(lr), f(momentum), f(decay)), threads=param.n)
        else:
            self.rt.dispatch(SHADER, "sgd_momentum", [grad], [param, velocity],
                             (param.n, int(nesterov), f(lr), f(momentum), f(decay)), threads=param.n)

    def adam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, vhat=None, decay=0.0):
        op = "adam_update"
        _check(op, param, grad, m=m, v=v, vhat=vhat)
        t = _step(op, step)
        if param.n == 0:
            return
        lr_t = float(_f32(lr)) * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        if vhat is None:
            self.rt.dispatch(SHADER, "adam", [grad], [param, m, v],
                             (param.n, 0, f(lr_t), f(1.0 - beta_1), f(1.0 - beta_2), f(epsilon), f(decay)), threads=param.n)
        else:
            self.rt.dispatch(SHADER, "adam_amsgrad", [grad], [param, m, v, vhat],
                             _op(param.n, (lr_t, 1.0 - beta_1, 1.0 - beta_2, epsilon), decay), threads=param.n)

    def rmsprop_update(self, param, grad, velocity, average_gradient, momentum_slot, lr, rho, momentum, epsilon, decay=0.0):
        _check("rmsprop_update", param, grad, velocity=velocity, average_gradient=average_gradient, momentum=momentum_slot)
        if param.n == 0:
            return
        params = _op(param.n, (lr, rho, 1.0 - rho, momentum, epsilon), decay)
        slots = [s for s in (velocity, average_gradient, momentum_slot) if s is not None]
        entry = "rmsprop" + ("_centered" if average_gradient is not None else "") + ("_momentum" if momentum_slot is not None else "")
        self.rt.dispatch(SHADER, entry, [grad], [param, *slots], params, threads=param.n)

    def adagrad_update(self, param, grad, accumulator, lr, epsilon, decay=0.0):
        _check("adagrad_update", param, grad, accumulator=accumulator)
        if param.n == 0:
            return
        self.rt.dispatch(SHADER, "adagrad", [grad], [param, accumulator], _op(param.n, (lr, epsilon), decay), threads=param.n)

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay=0.0):
        _check("adadelta_update", param, grad, accumulated_grad=accumulated_grad, accumulated_delta=accumulated_delta)
        if param.n == 0:
            return
        self.rt.dispatch(SHADER, "adadelta", [grad], [param, accumulated_grad, accumulated_delta],
                         _op(param.n, (lr, rho, 1.0 - rho, epsilon), decay), threads=param.n)

    def adamax_update(self, param, grad, m, u, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        op = "adamax_update"
        _check(op, param, grad, m=m, u=u)
        t = _step(op, step)
        if param.n == 0:
            return
        bc = 1.0 - beta_1**t
        self.rt.dispatch(SHADER, "adamax", [grad], [param, m, u],
                         _op(param.n, (lr, 1.0 - beta_1, beta_2, epsilon, bc), decay), threads=param.n)

    def nadam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay=0.0):
        op = "nadam_update"
        _check(op, param, grad, m=m, v=v)
        t = _step(op, step)
        if param.n == 0:
            return
        b1, b2 = float(beta_1), float(beta_2)
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        c1 = u_t1 / (1.0 - u_product * u_t1)
        c2 = (1.0 - u_t) / (1.0 - u_product)
        c3 = 1.0 / (1.0 - b2**t)
        self.rt.dispatch(SHADER, "nadam", [grad], [param, m, v],
                         _op(param.n, (lr, 1.0 - beta_1, 1.0 - beta_2, epsilon, c1, c2, c3), decay), threads=param.n)


def _op(n: int, ks: tuple, decay: float) -> tuple:
    """The ``OptParams`` block: n, pad, k0..k6 (unused ones 0), decay."""
    ks = tuple(ks) + (0.0,) * (7 - len(ks))
    return (n, 0, *(f(k) for k in ks), f(decay))


def _f32(x: float):
    """``x`` rounded to float32, as the Rust kernel receives it."""
    return np.float32(x)
