"""The CPU backend: every kernel is a call into the Rust core (`ember._core`), which
releases the GIL and runs rayon-parallel kernels."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import _core
from ..errors import DTypeError
from .base import Backend, Buffer, Shape

_NP = {"float32": np.float32, "int32": np.int32}


def _np_dtype(dtype: str):
    try:
        return _NP[dtype]
    except (KeyError, TypeError):
        raise DTypeError(f"buffer: unsupported dtype {dtype!r}; supported: float32, int32") from None


class CpuBackend(Backend):
    name = "cpu"

    def from_numpy(self, array: np.ndarray, dtype: str) -> Buffer:
        a = np.asarray(array)
        if a.dtype != _np_dtype(dtype):
            a = a.astype(_NP[dtype])
        return _core.CpuBuffer.from_array(a.reshape(-1) if a.ndim != 1 else a, dtype)

    def to_numpy(self, buf: Buffer, shape: Shape, dtype: str) -> np.ndarray:
        # A read-only view of the Rust memory (the buffer stays alive as its base).
        return np.frombuffer(buf, dtype=_np_dtype(dtype)).reshape(shape)

    def full(self, n: int, value: float, dtype: str) -> Buffer:
        return _core.CpuBuffer.full(n, float(value), dtype)

    def copy(self, buf: Buffer) -> Buffer:
        return buf.copy()

    def assign(self, dst: Buffer, src: Buffer) -> None:
        dst.assign(src)

    def cast(self, buf: Buffer, dtype: str) -> Buffer:
        return _core.cast(buf, dtype)

    def all_finite(self, buf: Buffer) -> bool:
        return _core.all_finite(buf)

    unary = staticmethod(_core.unary_op)  # type: ignore[assignment]
    unary_backward = staticmethod(_core.unary_backward)  # type: ignore[assignment]
    binary = staticmethod(_core.binary_op)  # type: ignore[assignment]
    binary_backward = staticmethod(_core.binary_backward)  # type: ignore[assignment]

    def reduce(self, op: str, x: Buffer, shape: Shape, axes: Sequence[int] | None, keepdims: bool) -> tuple[Buffer, Shape]:
        buf, s = _core.reduce_op(op, x, shape, None if axes is None else list(axes), keepdims)
        return buf, tuple(s)

    sum_to_shape = staticmethod(_core.sum_to_shape)  # type: ignore[assignment]
    broadcast_to = staticmethod(_core.broadcast_to)  # type: ignore[assignment]
    transpose = staticmethod(_core.transpose)  # type: ignore[assignment]
    take_rows = staticmethod(_core.take_rows)  # type: ignore[assignment]
    scatter_add_rows = staticmethod(_core.scatter_add_rows)  # type: ignore[assignment]
    one_hot = staticmethod(_core.one_hot)  # type: ignore[assignment]
    strided_copy = staticmethod(_core.strided_copy)  # type: ignore[assignment]
    strided_write = staticmethod(_core.strided_write)  # type: ignore[assignment]
    gather = staticmethod(_core.gather)  # type: ignore[assignment]
    scatter_add = staticmethod(_core.scatter_add)  # type: ignore[assignment]
    cumsum = staticmethod(_core.cumsum)  # type: ignore[assignment]
    cumprod = staticmethod(_core.cumprod)  # type: ignore[assignment]
    argsort = staticmethod(_core.argsort)  # type: ignore[assignment]

    def where(self, cond: Buffer, c_shape: Shape, x: Buffer, x_shape: Shape, y: Buffer, y_shape: Shape) -> tuple[Buffer, Shape]:
        buf, s = _core.where(cond, c_shape, x, x_shape, y, y_shape)
        return buf, tuple(s)

    def matmul(self, a: Buffer, a_shape: Shape, b: Buffer, b_shape: Shape, trans_a: bool, trans_b: bool) -> tuple[Buffer, Shape]:
        buf, s = _core.matmul(a, a_shape, b, b_shape, trans_a, trans_b)
        return buf, tuple(s)

    softmax = staticmethod(_core.softmax)  # type: ignore[assignment]
    softmax_backward = staticmethod(_core.softmax_backward)  # type: ignore[assignment]
    softmax_cross_entropy = staticmethod(_core.softmax_cross_entropy)  # type: ignore[assignment]
    softmax_cross_entropy_backward = staticmethod(_core.softmax_cross_entropy_backward)  # type: ignore[assignment]
    sigmoid_bce = staticmethod(_core.sigmoid_bce)  # type: ignore[assignment]
    sigmoid_bce_backward = staticmethod(_core.sigmoid_bce_backward)  # type: ignore[assignment]
    # Fused overrides of the composites in base.py.
    dense = staticmethod(_core.dense)  # type: ignore[assignment]
    dense_backward = staticmethod(_core.dense_backward)  # type: ignore[assignment]
    batch_norm = staticmethod(_core.batch_norm)  # type: ignore[assignment]
    batch_norm_backward = staticmethod(_core.batch_norm_backward)  # type: ignore[assignment]
    random = staticmethod(_core.random)  # type: ignore[assignment]
    sgd_update = staticmethod(_core.sgd_update)  # type: ignore[assignment]
    adam_update = staticmethod(_core.adam_update)  # type: ignore[assignment]
    rmsprop_update = staticmethod(_core.rmsprop_update)  # type: ignore[assignment]
    adagrad_update = staticmethod(_core.adagrad_update)  # type: ignore[assignment]
    adadelta_update = staticmethod(_core.adadelta_update)  # type: ignore[assignment]
    adamax_update = staticmethod(_core.adamax_update)  # type: ignore[assignment]
    nadam_update = staticmethod(_core.nadam_update)  # type: ignore[assignment]
    # Fused whole-sequence recurrences (rust/src/kernels/rnn.rs).
    rnn_sequence = staticmethod(_core.rnn_sequence)  # type: ignore[assignment]
    rnn_sequence_backward = staticmethod(_core.rnn_sequence_backward)  # type: ignore[assignment]

    # Convolution and pooling (rust/src/kernels/conv.rs, pool.rs): tiled implicit GEMM or a
    # direct kernel, bias and activation fused; single-pass pooling with int32 argmax.
    def conv2d(self, x: Buffer, x_shape: Shape, w: Buffer, w_shape: Shape, b: Buffer | None, strides: Sequence[int],
               pads: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int,
               activation: str) -> tuple[Buffer, Shape]:
        y, s = _core.conv2d(x, x_shape, w, w_shape, b, strides, pads, dilation, groups, activation)
        return y, tuple(s)

    conv2d_backward = staticmethod(_core.conv2d_backward)  # type: ignore[assignment]

    def max_pool2d(self, x: Buffer, x_shape: Shape, pool_size: Sequence[int], strides: Sequence[int],
                   pads: Sequence[tuple[int, int]], need_argmax: bool = False) -> tuple[Buffer, Shape, Buffer | None]:
        y, s, am = _core.max_pool2d(x, x_shape, pool_size, strides, pads, need_argmax)
        return y, tuple(s), am

    max_pool2d_backward = staticmethod(_core.max_pool2d_backward)  # type: ignore[assignment]

    def average_pool2d(self, x: Buffer, x_shape: Shape, pool_size: Sequence[int], strides: Sequence[int],
                       pads: Sequence[tuple[int, int]]) -> tuple[Buffer, Shape]:
        y, s = _core.average_pool2d(x, x_shape, pool_size, strides, pads)
        return y, tuple(s)

    average_pool2d_backward = staticmethod(_core.average_pool2d_backward)  # type: ignore[assignment]


class ReferenceCompositeCpuBackend(CpuBackend):
    """The CPU backend with its fused overrides switched off, so the conformance suite
    can check each fused kernel against the composite default it replaces."""

    name = "cpu-composite"
    dense = Backend.dense  # type: ignore[assignment]
    dense_backward = Backend.dense_backward  # type: ignore[assignment]
    batch_norm = Backend.batch_norm  # type: ignore[assignment]
    batch_norm_backward = Backend.batch_norm_backward  # type: ignore[assignment]
    # The layout kernels' composites over strided_copy / gather / scatter_add.
    transpose = Backend.transpose  # type: ignore[assignment]
    broadcast_to = Backend.broadcast_to  # type: ignore[assignment]
    take_rows = Backend.take_rows  # type: ignore[assignment]
    scatter_add_rows = Backend.scatter_add_rows  # type: ignore[assignment]
    # Convolution and pooling: im2col views, the fused dense, col2im by scatter_add.
    conv2d = Backend.conv2d  # type: ignore[assignment]
    conv2d_backward = Backend.conv2d_backward  # type: ignore[assignment]
    max_pool2d = Backend.max_pool2d  # type: ignore[assignment]
    max_pool2d_backward = Backend.max_pool2d_backward  # type: ignore[assignment]
    average_pool2d = Backend.average_pool2d  # type: ignore[assignment]
    average_pool2d_backward = Backend.average_pool2d_backward  # type: ignore[assignment]
    # The recurrences' composites over matmul / binary / unary / strided_copy.
    rnn_sequence = Backend.rnn_sequence  # type: ignore[assignment]
    rnn_sequence_backward = Backend.rnn_sequence_backward  # type: ignore[assignment]
