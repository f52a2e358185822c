"""Reductions of the gpu backend, with the CPU kernel's axis handling: a contiguous
block of reduced axes is viewed as (outer, r, inner); other axis sets are transposed so
the reduced axes come last."""

from __future__ import annotations

import numpy as np

from ... import _core
from ...errors import InvalidArgumentError, ShapeError
from .elementwise import check_dtype, check_f32, check_len


def _normalize(op: str, axes, ndim: int) -> list[int]:
    out = []
    for a in axes:
        b = a + ndim if a < 0 else a
        if not 0 <= b < ndim:
            raise InvalidArgumentError(f"{op}: axis {a} is out of bounds for a tensor of rank {ndim}")
        if b in out:
            raise InvalidArgumentError(f"{op}: axis {a} is repeated")
        out.append(b)
    return sorted(out)


#: Values of the reduced axis one output of a pass covers: a workgroup of 256 in the rows
#: form (64 loop iterations each), one invocation in the cols form. Longer axes take more
#: passes over the partials (runtime.LOOP_BUDGET says why loops must stay short).
ROW_CHUNK = 256 * 64
COL_CHUNK = 1024


class ReduceKernels:
    def reduce(self, op: str, x, shape, axes, keepdims: bool):
        if op not in _core.REDUCE_OPS:
            raise InvalidArgumentError(f"reduce: unknown reduction {op!r}; valid: {', '.join(_core.REDUCE_OPS)}")
        check_f32(op, x)
        shape = tuple(shape)
        check_len(op, "input", x, shape)
        ax = list(range(len(shape))) if axes is None else _normalize(op, axes, len(shape))
        if op.startswith("arg") and len(ax) > 1:
            raise InvalidArgumentError(f"{op}: argmax/argmin reduce over a single axis (or all axes)")
        out_shape = tuple(1 if i in ax else d for i, d in enumerate(shape) if keepdims or i not in ax)
        r = int(np.prod([shape[a] for a in ax])) if ax else 1
        n_out = int(np.prod(out_shape)) if out_shape else 1
        if r == 0 and n_out > 0 and op not in ("sum", "mean"):
            raise InvalidArgumentError(f"{op}: zero-size reduction over axes {ax} of shape {shape} has no identity")
        if ax and all(b == a + 1 for a, b in zip(ax, ax[1:])):
            outer = int(np.prod(shape[: ax[0]])) if ax[0] else 1
            inner = int(np.prod(shape[ax[-1] + 1:])) if ax[-1] + 1 < len(shape) else 1
            data = x
        elif not ax:
            outer, inner, data = n_out, 1, x
        else:
            perm = [d for d in range(len(shape)) if d not in ax] + ax
            data = self.transpose(x, shape, perm)
            outer, inner = n_out, 1
        if not n_out:
            return self.rt.alloc(0, "int32" if op.startswith("arg") else "float32"), out_shape
        if r == 0:
            return self.full(n_out, 0.0 if op == "sum" else float("nan"), "float32"), out_shape
        return self._reduce_axis(op, data, outer, r, inner), out_shape

    def _reduce_axis(self, op: str, data, outer: int, r: int, inner: int):
        """Reduces the middle axis of contiguous (outer, r, inner) data in passes over chunks
        of the axis (see shaders/reduce/reduce.wgsl), so that no invocation loops over more
        than ROW_CHUNK / 256 or COL_CHUNK values however long the axis is."""
        arg, form = op.startswith("arg"), "rows" if inner == 1 else "cols"
        count, m, src, first = r, r, data, True
        while True:
            chunk = ROW_CHUNK if (first and form == "rows") else COL_CHUNK
            nch = -(-m // chunk)
            if nch == 1:
                chunk = m
            n = outer * nch * inner
            out = self.rt.alloc(n, "int32" if arg else "float32")
            params = (outer, m, inner, chunk, count, r)
            if arg and not first:
                # Partials are indices into data's axis: keep the best value they point at.
                self.rt.dispatch("reduce/reduce", f"reduce_{op}_combine", [data, src], [out], params, threads=n)
            else:
                kop = "sum" if (op == "mean" and nch > 1) else op
                kform = form if first else "cols"
                if kform == "rows":
                    self.rt.dispatch("reduce/reduce", f"reduce_{kop}_rows", [src], [out], params, groups=_grid(outer * nch))
                else:
                    self.rt.dispatch("reduce/reduce", f"reduce_{kop}_cols", [src], [out], params, threads=n)
            if nch == 1:
                return out
            src, m, first = out, nch, False

    def sum_to_shape(self, x, shape, target):
        shape, target = tuple(shape), tuple(target)
        check_dtype("sum_to_shape", "input", x)
        check_len("sum_to_shape", "input", x, shape)
        if shape == target:
            return self.rt.copy(x)
        if len(target) > len(shape):
            raise ShapeError(f"sum_to_shape: cannot reduce {shape} to the larger rank {target}")
        off = len(shape) - len(target)
        axes = list(range(off))
        for i, t in enumerate(target):
            s = shape[off + i]
            if t == 1 and s != 1:
                axes.append(off + i)
            elif t != s:
                raise ShapeError(f"sum_to_shape: {target} does not broadcast to {shape}")
        if len(target) > len(shape) or any(t not in (1, s) for t, s in zip(target[::-1], shape[::-1])):
            raise ShapeError(f"sum_to_shape: {target} does not broadcast to {shape}")
        out, _ = self.reduce("sum", x, shape, axes, False)
        return out


def _grid(n: int) -> tuple:
    gx = min(n, 65535)
    gy = -(-n // gx)
    if gy > 65535:
        raise InvalidArgumentError(f"reduce: {n} outputs exceed the gpu dispatch limits")
    return (gx, gy, 1)
