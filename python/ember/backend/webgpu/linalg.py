"""Matmul (and the fused dense built on its epilogue) and data movement kernels of the
gpu backend."""

from __future__ import annotations

import numpy as np

from ...errors import DTypeError, InvalidArgumentError, ShapeError
from .elementwise import MAX_DIMS, check_dtype, check_f32, check_len
from .runtime import MAX_WORKGROUPS, GpuBuffer

ACT = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3}
#: The K extent one matmul workgroup walks (256 slices of 16, a few thousand loop
#: iterations per invocation); a longer K is split (runtime.LOOP_BUDGET says why).
K_CHUNK = 4096
#: Indices one scatter_add_rows dispatch walks per output element.
INDEX_CHUNK = 16384


def _c_strides(shape) -> list[int]:
    s, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        s[i] = acc
        acc *= shape[i]
    return s


class LinalgKernels:
    # -- matmul --------------------------------------------------------------------------
    def _gemm(self, a, b, bias, batch, m, k, n, trans_a, trans_b, a_batch, b_batch, act: str) -> GpuBuffer:
        out = self.rt.alloc(batch * m * n)
        if batch * m * n == 0:
            return out
        if k == 0:
            # An empty sum: zeros, then the epilogue (bias and activation) still applies.
            zeros = self.full(batch * m * n, 0.0, "float32")
            if bias is not None:
                zeros, _ = self.binary("add", zeros, (batch * m, n), bias, (n,))
            return zeros if act == "linear" else self.unary(act, zeros)
        sa_m, sa_k = (1, m) if trans_a else (k, 1)
        sb_k, sb_n = (1, k) if trans_b else (n, 1)
        # Split-K past K_CHUNK: each z slice sums one chunk of k into its own partial (see
        # shaders/matmul/matmul.wgsl), then a reduction adds them and the epilogue runs.
        splits = -(-k // K_CHUNK)
        if batch * splits > MAX_WORKGROUPS or -(-m // 64) > MAX_WORKGROUPS or -(-n // 64) > MAX_WORKGROUPS:
            raise InvalidArgumentError(f"matmul: batch {batch} x ({m}, {k}) @ ({k}, {n}) exceeds the gpu dispatch limits "
                                       f"({MAX_WORKGROUPS} workgroups per dimension)")
        fused = splits == 1
        params = (m, n, k, batch, sa_m, sa_k, sb_k, sb_n, a_batch, b_batch, 1 if (bias is not None and fused) else 0,
                  ACT[act] if fused else 0, splits, K_CHUNK if not fused else max(k, 1))
        # vec4 global loads along whichever axis of each operand is contiguous, when that
        # axis (hence every row start and batch stride) is a multiple of 4.
        vec_a = (2 if m % 4 == 0 else 0) if trans_a else (1 if k % 4 == 0 else 0)
        vec_b = (2 if k % 4 == 0 else 0) if trans_b else (1 if n % 4 == 0 else 0)
        part = out if fused else self.rt.alloc(batch * splits * m * n)
        self.rt.dispatch("matmul/matmul", "matmul", [a, b, bias if bias is not None else a], [part], params,
                         groups=(-(-n // 64), -(-m // 64), batch * splits), constants={"VEC_A": vec_a, "VEC_B": vec_b})
        if not fused:
            out = self._reduce_axis("sum", part, batch, splits, m * n)
            if bias is not None:
                out, _ = self.binary("add", out, (batch * m, n), bias, (n,))
            if act != "linear":
                out = self.unary(act, out)
        return out

    def matmul(self, a, a_shape, b, b_shape, trans_a, trans_b):
        check_f32("matmul", a, b)
        a_shape, b_shape = tuple(a_shape), tuple(b_shape)
        if len(a_shape) < 2 or len(b_shape) < 2:
            raise ShapeError(f"matmul: operands need rank >= 2, got {a_shape} and {b_shape}")
        check_len("matmul", "left operand", a, a_shape)
        check_len("matmul", "right operand", b, b_shape)
        m, ka = (a_shape[-1], a_shape[-2]) if trans_a else (a_shape[-2], a_shape[-1])
        kb, n = (b_shape[-1], b_shape[-2]) if trans_b else (b_shape[-2], b_shape[-1])
        if ka != kb:
            raise ShapeError(f"matmul: shapes {a_shape} and {b_shape} are not aligned ({ka} != {kb})")
        ba, bb = a_shape[:-2], b_shape[:-2]
        try:
            batch_shape = tuple(np.broadcast_shapes(ba, bb))
        except ValueError:
            raise ShapeError(f"matmul: batch dimensions of {a_shape} and {b_shape} do not broadcast") from None
        nb = int(np.prod(batch_shape)) if batch_shape else 1
        na, nbb = (int(np.prod(ba)) if ba else 1), (int(np.prod(bb)) if bb else 1)
        if na not in (1, nb) or nbb not in (1, nb):
            raise ShapeError("matmul: partially broadcast batch dimensions must be expanded first")
        out = self._gemm(a, b, None, nb, m, ka, n, trans_a, trans_b, m * ka if na > 1 else 0, ka * n if nbb > 1 else 0, "linear")
        return out, batch_shape + (m, n)

    def dense(self, x, w, b, rows, fin, fout, activation):
        if activation not in ACT:
            raise InvalidArgumentError(f"dense: activation {activation!r} is not fused; fused ones: {', '.join(ACT)}")
        check_f32("dense", x, w)
        if x.n != rows * fin or w.n != fin * fout or (b is not None and b.n != fout):
            raise ShapeError(f"dense: input ({rows}, {fin}), kernel of {w.n} values and bias do not fit (units {fout})")
        return self._gemm(x, w, b, 1, rows, fin, fout, False, False, 0, 0, activation)

    def dense_backward(self, x, w, y, gy, rows, fin, fout, activation, need_gx, need_gb=True):
        # The composite backward (three GEMMs and a column sum), with the CPU kernel's checks.
        check_f32("dense_backward", x, w, y, gy)
        if x.n != rows * fin or w.n != fin * fout:
            raise ShapeError(f"dense_backward: input ({rows}, {fin}) or kernel ({fin}, {fout}) does not match its buffer")
        if y.n != rows * fout or gy.n != rows * fout:
            raise ShapeError("dense_backward: output or its gradient does not match (rows, units)")
        return super().dense_backward(x, w, y, gy, rows, fin, fout, activation, need_gx, need_gb)

    # -- data movement (transpose and broadcast_to are Backend's composites over strided_copy) --
    def _indices(self, op: str, indices, n_rows: int):
        idx = np.asarray(list(indices), dtype=np.int64).reshape(-1)
        if idx.size and ((idx < -n_rows).any() or (idx >= n_rows).any()):
            bad = idx[(idx < -n_rows) | (idx >= n_rows)][0]
            raise InvalidArgumentError(f"{op}: index {bad} is out of bounds for axis 0 with size {n_rows}")
        idx = np.where(idx < 0, idx + n_rows, idx).astype(np.int32)
        return idx, self.rt.upload(idx, "int32")

    def take_rows(self, x, row_len, indices):
        if row_len == 0:
            # Empty rows: the row count is unknown here, so the caller (ops.take) checks bounds.
            return self.rt.alloc(0, x.dtype)
        n_rows = x.n // row_len
        idx, ib = self._indices("take", indices, n_rows)
        out = self.rt.alloc(idx.size * row_len, x.dtype)
        if out.n:
            self.rt.dispatch("layout/gather", "take_rows", [x, ib], [out], (idx.size, row_len, n_rows, idx.size), threads=out.n)
        return out

    def scatter_add_rows(self, g, row_len, indices, n_rows):
        check_dtype("take_backward", "gradient", g)
        idx, ib = self._indices("take_backward", indices, n_rows)
        if g.n != idx.size * row_len:
            raise ShapeError("take_backward: gradient rows do not match the indices")
        out = self.rt.alloc(n_rows * row_len)
        if out.n:
            # Each output walks the index list: at most INDEX_CHUNK indices per dispatch
            # (runtime.LOOP_BUDGET), the partial sums of longer lists added in order.
            for lo in range(0, max(idx.size, 1), INDEX_CHUNK):
                hi = min(idx.size, lo + INDEX_CHUNK)
                gi, ii = (g, ib) if (lo == 0 and hi == idx.size) else (self._slice(g, lo * row_len, hi * row_len),
                                                                       self.rt.upload(idx[lo:hi], "int32"))
                part = out if lo == 0 else self.rt.alloc(n_rows * row_len)
                self.rt.dispatch("layout/scatter", "scatter_add_rows", [gi, ii], [part], (n_rows, row_len, hi - lo), threads=part.n)
                if lo:
                    out, _ = self.binary("add", out, (out.n,), part, (part.n,))
        return out

    def _slice(self, x, lo: int, hi: int):
        """x[lo:hi] of a flat buffer, as a new buffer."""
        return self.strided_copy(x, (hi - lo,), (1,), lo)

    def one_hot(self, labels, depth):
        if labels.dtype != "int32":
            raise DTypeError("one_hot: labels must be int32")
        if depth < 0 or (depth == 0 and labels.n):
            # With no classes every label is out of range: no data needed to say so.
            raise InvalidArgumentError(f"one_hot: labels are out of range for depth {depth}")
        out = self.rt.alloc(labels.n * depth)
        if out.n:
            def error(label: int) -> InvalidArgumentError:
                return InvalidArgumentError(f"one_hot: label {label} is out of range for {depth} classes "
                                            "(found by the gpu kernel, raised at the next readback)")
            slot = self.rt.check_slot(error)
            self.rt.dispatch("layout/one_hot", "one_hot", [labels], [out, self.rt.flags], (out.n, depth, slot), threads=out.n)
        return out
