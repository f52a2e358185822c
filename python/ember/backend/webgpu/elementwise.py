"""Elementwise kernels of the gpu backend: unary and broadcasting binary ops."""

from __future__ import annotations

import numpy as np

from ... import _core
from ...errors import DTypeError, InvalidArgumentError, ShapeError
from .memory import MemoryKernels
from .runtime import GpuBuffer, f

#: The parametric unary ops and their Keras defaults (rust/src/kernels/unary.rs has the same).
UNARY_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


def unary_alpha(op: str, alpha: float | None) -> float:
    """The parameter a unary kernel runs with, validated as the CPU kernel does."""
    if alpha is None:
        return UNARY_DEFAULT_ALPHA.get(op, 0.0)
    if op not in UNARY_DEFAULT_ALPHA:
        raise InvalidArgumentError(f"unary: op {op!r} takes no parameter, got alpha={alpha}")
    if not np.isfinite(alpha):
        raise InvalidArgumentError(f"unary: {op}: alpha must be finite, got {alpha}")
    return float(alpha)

MAX_DIMS = 8


def check_f32(op: str, *bufs: GpuBuffer) -> None:
    for b in bufs:
        if b.dtype != "float32":
            raise DTypeError(f"{op}: operands must be float32, got {b.dtype}")


def check_dtype(op: str, what: str, buf: GpuBuffer, dtype: str = "float32") -> None:
    if buf.dtype != dtype:
        raise DTypeError(f"{op}: {what} must be {dtype}, got {buf.dtype}")


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def check_len(op: str, what: str, buf: GpuBuffer, shape) -> None:
    """The CPU kernels' boundary check: a buffer must hold exactly what its shape needs."""
    need = numel(shape)
    if buf.n != need:
        raise ShapeError(f"{op}: {what} holds {buf.n} elements but its shape {tuple(shape)} needs {need}")


def broadcast_shape(op: str, a: tuple, b: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise ShapeError(f"{op}: operands could not be broadcast together with shapes {tuple(a)} and {tuple(b)}") from None


def strides_in(shape: tuple, out: tuple) -> list[int]:
    """Element strides of ``shape`` broadcast to ``out`` (0 on broadcast axes), padded to MAX_DIMS."""
    own = [0] * len(shape)
    acc = 1
    for i in range(len(shape) - 1, -1, -1):
        own[i] = acc if shape[i] != 1 else 0
        acc *= shape[i]
    off = len(out) - len(shape)
    return [0] * off + own


def shape_words(out: tuple, *strides: list) -> list[int]:
    """Uniform words after ``n``: ndim, 2 pad words, out shape[8], each operand's strides[8]
    (the `Params` header of shaders/elementwise/binary.wgsl)."""
    pad = MAX_DIMS - len(out)
    if pad < 0:
        raise InvalidArgumentError(f"gpu: tensors of rank {len(out)} exceed the supported {MAX_DIMS}")
    words = [len(out), 0, 0] + list(out) + [1] * pad
    for s in strides:
        words += list(s) + [0] * pad
    return words


class ElementwiseKernels(MemoryKernels):
    def unary(self, op: str, x: GpuBuffer, alpha: float | None = None) -> GpuBuffer:
        if op not in _core.UNARY_OPS:
            raise InvalidArgumentError(f"unary: unknown unary op {op!r}; valid ops: {', '.join(_core.UNARY_OPS)}")
        a = unary_alpha(op, alpha)
        check_f32("unary", x)
        out = self.rt.alloc(x.n)
        if x.n:
            self.rt.dispatch("elementwise/unary", f"unary_{op}", [x], [out], (x.n, f(a)), threads=x.n)
        return out

    def unary_backward(self, op: str, x: GpuBuffer, y: GpuBuffer, gy: GpuBuffer, alpha: float | None = None) -> GpuBuffer:
        if op not in _core.UNARY_OPS:
            raise InvalidArgumentError(f"unary_backward: unknown unary op {op!r}; valid ops: {', '.join(_core.UNARY_OPS)}")
        a = unary_alpha(op, alpha)
        check_f32("unary_backward", x, y, gy)
        if not x.n == y.n == gy.n:
            raise ShapeError("unary_backward: x, y and the gradient differ in size")
        out = self.rt.alloc(x.n)
        if x.n:
            self.rt.dispatch("elementwise/unary_backward", f"unary_backward_{op}", [x, y, gy], [out], (x.n, f(a)), threads=x.n)
        return out

    def binary(self, op: str, a: GpuBuffer, a_shape, b: GpuBuffer, b_shape):
        if op not in _core.BINARY_OPS:
            raise InvalidArgumentError(f"binary: unknown binary op {op!r}; valid ops: {', '.join(_core.BINARY_OPS)}")
        check_f32(op, a, b)
        check_len(op, "left operand", a, a_shape)
        check_len(op, "right operand", b, b_shape)
        out_shape = broadcast_shape(op, a_shape, b_shape)
        n = int(np.prod(out_shape)) if out_shape else 1
        out = self.rt.alloc(n)
        if n:
            words = shape_words(out_shape, strides_in(tuple(a_shape), out_shape), strides_in(tuple(b_shape), out_shape))
            self.rt.dispatch("elementwise/binary", f"binary_{op}", [a, b], [out], (n, *words), threads=n)
        return out, out_shape

    def binary_backward(self, op, a, a_shape, b, b_shape, gy, need_a, need_b):
        if op not in _core.BINARY_OPS:
            raise InvalidArgumentError(f"binary: unknown binary op {op!r}; valid ops: {', '.join(_core.BINARY_OPS)}")
        check_f32(op, a, b, gy)
        check_len(op, "left operand", a, a_shape)
        check_len(op, "right operand", b, b_shape)
        out_shape = broadcast_shape(op, a_shape, b_shape)
        n = int(np.prod(out_shape)) if out_shape else 1
        if gy.n != n:
            raise ShapeError(f"{op}: upstream gradient holds {gy.n} values but the broadcast output of shapes "
                             f"{tuple(a_shape)} and {tuple(b_shape)} is {out_shape}")
        words = shape_words(out_shape, strides_in(tuple(a_shape), out_shape), strides_in(tuple(b_shape), out_shape))
        grads = []
        for need, side, shape in ((need_a, "a", a_shape), (need_b, "b", b_shape)):
            if not need:
                grads.append(None)
                continue
            full = self.rt.alloc(n)
            if n:
                self.rt.dispatch("elementwise/binary_backward", f"binary_backward_{op}_{side}", [a, b, gy], [full], (n, *words), threads=n)
            grads.append(self.sum_to_shape(full, out_shape, tuple(shape)))
        return grads[0], grads[1]
