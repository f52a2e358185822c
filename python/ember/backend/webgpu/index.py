"""Views, gathers, scatters, where, scans and argsort of the gpu backend (shaders
layout/index.wgsl, elementwise/where.wgsl, reduce/scan.wgsl): the twins of
rust/src/kernels/index.rs and scan.rs, with the CPU kernels' boundary checks on the host
and the index-range checks on the device (check slots, raised at the next readback)."""

from __future__ import annotations

import numpy as np

from ...errors import DTypeError, InvalidArgumentError, ShapeError
from ..base import check_view
from .elementwise import MAX_DIMS, broadcast_shape, check_dtype, check_f32, check_len, numel, shape_words, strides_in


def _pad(v, fill: int, n: int = MAX_DIMS) -> list[int]:
    return [int(a) for a in v] + [fill] * (n - len(v))


def is_injective(shape, strides) -> bool:
    """Whether no two positions of the view address the same element."""
    if numel(shape) == 0:
        return True
    dims = sorted((abs(int(s)), int(n)) for n, s in zip(shape, strides) if int(n) > 1)
    extent = 0
    for s, n in dims:
        if s <= extent:
            return False
        extent += s * (n - 1)
    return True


def _split_axis(op: str, shape, axis: int):
    shape = tuple(shape)
    r = len(shape)
    a = axis + r if axis < 0 else axis
    if not 0 <= a < r:
        raise InvalidArgumentError(f"{op}: axis {axis} is out of bounds for a tensor of shape {shape}")
    return numel(shape[:a]), shape[a], numel(shape[a + 1:])


class IndexKernels:
    def _index_words(self, op, shape, strides, offset, k=0, count=0, slot=0, index_strides=(), index_dims=()):
        if len(shape) > MAX_DIMS:
            raise InvalidArgumentError(f"{op}: tensors of rank {len(shape)} exceed the gpu's supported {MAX_DIMS}")
        isrc = [int(s) for s, _ in index_dims]
        isize = [int(n) for _, n in index_dims]
        return (numel(shape), len(shape), int(offset), k, count, slot, 0, 0, *_pad(shape, 1), *_pad(strides, 0),
                *_pad(index_strides if k else [], 0), *_pad(isrc, 0, 4), *_pad(isize, 1, 4))

    def strided_copy(self, x, shape, strides, offset):
        shape = tuple(int(d) for d in shape)
        check_view("strided_copy", x.n, shape, strides, offset)
        n = numel(shape)
        out = self.rt.alloc(n, x.dtype)
        if n:
            self.rt.dispatch("layout/index", "strided_copy", [x], [out], self._index_words("strided_copy", shape, strides, offset),
                             threads=n)
        return out

    def strided_write(self, dst, src, shape, strides, offset):
        shape = tuple(int(d) for d in shape)
        if dst is src:
            raise InvalidArgumentError("strided_write: source and destination must be distinct buffers")
        if dst.dtype != src.dtype:
            raise DTypeError("strided_write: source and destination dtypes differ")
        check_view("strided_write", dst.n, shape, strides, offset)
        check_len("strided_write", "source", src, shape)
        if not is_injective(shape, strides):
            raise InvalidArgumentError("strided_write: the destination view addresses some elements more than once")
        n = numel(shape)
        if n:
            self.rt.dispatch("layout/index", "strided_write", [src], [dst], self._index_words("strided_write", shape, strides, offset),
                             threads=n)

    def _check_indices(self, op, shape, indices, index_strides, index_dims) -> int:
        k = len(index_dims)
        if indices.dtype != "int32":
            raise DTypeError(f"{op}: indices must be int32, got {indices.dtype}")
        if len(index_strides) != len(shape):
            raise ShapeError(f"{op}: {len(index_strides)} index strides for a view of shape {tuple(shape)}")
        count = indices.n // k
        if count * k != indices.n:
            raise ShapeError(f"{op}: {indices.n} index values do not split into {k} arrays")
        if numel(shape) and sum((int(d) - 1) * int(t) for d, t in zip(shape, index_strides)) >= count:
            raise ShapeError(f"{op}: index arrays of {count} elements are too short for output shape {tuple(shape)}")
        if any(int(t) < 0 for t in index_strides):
            raise InvalidArgumentError(f"{op}: index strides must be non-negative")
        return count

    def _index_error(self, op, index_dims):
        sizes = sorted({int(n) for _, n in index_dims})

        def error(value: int) -> InvalidArgumentError:
            return InvalidArgumentError(f"{op}: index {value} is out of bounds for axis with size "
                                        f"{sizes[0] if len(sizes) == 1 else sizes} (found by the gpu kernel, raised at the next readback)")
        return error

    def gather(self, x, shape, strides, offset, indices, index_strides, index_dims, op="gather"):
        shape = tuple(int(d) for d in shape)
        index_dims = [(int(s), int(n)) for s, n in index_dims]
        check_view(op, x.n, shape, strides, offset, index_dims)
        k = len(index_dims)
        count = self._check_indices(op, shape, indices, index_strides, index_dims) if k else 0
        if k == 0:
            return self.strided_copy(x, shape, strides, offset)
        n = numel(shape)
        out = self.rt.alloc(n, x.dtype)
        if n:
            slot = self.rt.check_slot(self._index_error(op, index_dims))
            words = self._index_words(op, shape, strides, offset, k, count, slot, index_strides, index_dims)
            self.rt.dispatch("layout/index", "gather", [x, indices], [out, self.rt.flags], words, threads=n)
        return out

    def scatter_add(self, g, n, shape, strides, offset, indices=None, index_strides=(), index_dims=(), op="scatter_add"):
        shape = tuple(int(d) for d in shape)
        index_dims = [(int(s), int(nn)) for s, nn in index_dims]
        check_dtype(op, "gradient", g)
        check_view(op, n, shape, strides, offset, index_dims)
        check_len(op, "gradient", g, shape)
        k = len(index_dims)
        if k and indices is None:
            raise InvalidArgumentError(f"{op}: index_dims given without indices")
        count = self._check_indices(op, shape, indices, index_strides, index_dims) if k else 0
        out = self.full(n, 0.0, "float32")
        m = numel(shape)
        if m:
            slot = self.rt.check_slot(self._index_error(op, index_dims)) if k else 0
            words = self._index_words(op, shape, strides, offset, k, count, slot, index_strides, index_dims)
            self.rt.dispatch("layout/index", "scatter_add", [g, indices if k else g], [out, self.rt.flags], words, threads=m)
        return out

    def where(self, cond, c_shape, x, x_shape, y, y_shape):
        op = "where"
        check_f32(op, cond, x, y)
        c_shape, x_shape, y_shape = tuple(c_shape), tuple(x_shape), tuple(y_shape)
        check_len(op, "condition", cond, c_shape)
        check_len(op, "x", x, x_shape)
        check_len(op, "y", y, y_shape)
        try:
            out_shape = tuple(np.broadcast_shapes(c_shape, x_shape, y_shape))
        except ValueError:
            raise ShapeError(f"where: condition, x and y of shapes {c_shape}, {x_shape} and {y_shape} do not broadcast together") from None
        n = numel(out_shape)
        out = self.rt.alloc(n)
        if n:
            words = shape_words(out_shape, strides_in(c_shape, out_shape), strides_in(x_shape, out_shape), strides_in(y_shape, out_shape))
            self.rt.dispatch("elementwise/where", "where_select", [cond, x, y], [out], (n, *words), threads=n)
        return out, out_shape

    def _scan(self, op, x, shape, axis, reverse):
        check_f32(op, x)
        check_len(op, "input", x, tuple(shape))
        outer, n, inner = _split_axis(op, shape, int(axis))
        out = self.rt.alloc(x.n)
        self.rt.check_loops(op, n, f"an axis of {n} values")
        if x.n:
            self.rt.dispatch("reduce/scan", op, [x], [out], (outer, n, inner, int(bool(reverse))), threads=outer * inner)
        return out

    def cumsum(self, x, shape, axis, reverse=False):
        return self._scan("cumsum", x, shape, axis, reverse)

    def cumprod(self, x, shape, axis, reverse=False):
        return self._scan("cumprod", x, shape, axis, reverse)

    def argsort(self, x, shape, axis, descending=False):
        check_f32("argsort", x)
        check_len("argsort", "input", x, tuple(shape))
        outer, n, inner = _split_axis("argsort", shape, int(axis))
        out = self.rt.alloc(x.n, "int32")
        self.rt.check_loops("argsort", n, f"an axis of {n} values")
        if x.n:
            self.rt.dispatch("reduce/scan", "argsort", [x], [out], (outer, n, inner, int(bool(descending))), threads=x.n)
        return out


__all__ = ["IndexKernels", "broadcast_shape"]
