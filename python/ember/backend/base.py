"""THE kernel interface: one method per kernel, with its exact semantics.

A backend owns buffers (opaque objects holding a tensor's elements in row-major order)
and runs kernels on them. Shapes travel separately as tuples of ints; every output is a
new buffer unless the method says "in place". ``ops`` builds autograd on top of these
methods only, so a backend that implements them gets training for free.

Conventions:
    * dtypes are ``"float32"`` and ``"int32"``.
    * Broadcasting follows numpy (align right; dims equal or 1).
    * Backward methods take what the forward produced and the upstream gradient and
      return gradients already reduced to each operand's shape.
    * Errors are ``ember.errors`` exceptions naming the op and the shapes.

Primitives are abstract. Composites (documented as such) have default bodies built from
primitives; a backend overrides them with fused kernels where that pays, and the
conformance suite compares both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

Buffer = Any
Shape = tuple[int, ...]


def contiguous_strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of ``shape``."""
    st, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        st[i] = acc
        acc *= int(shape[i])
    return st


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Strides of ``shape`` viewed as broadcast to ``out_shape`` (0 along broadcast dims)."""
    own = contiguous_strides(shape)
    off = len(out_shape) - len(shape)
    return [0] * off + [0 if int(shape[i]) == 1 else own[i] for i in range(len(shape))]


def check_buffer_len(op: str, what: str, buf: Any, shape: Sequence[int]) -> None:
    """ShapeError unless ``buf`` holds exactly the elements ``shape`` needs."""
    need = int(np.prod(shape)) if len(shape) else 1
    if len(buf) != need:
        from ..errors import ShapeError

        raise ShapeError(f"{op}: {what} holds {len(buf)} elements but its shape {tuple(shape)} needs {need}")


def check_float32(op: str, what: str, buf: Any) -> None:
    """DTypeError unless ``buf`` holds float32 (the float kernels' contract; int32 layout
    goes through `Backend.strided_copy`)."""
    if getattr(buf, "dtype", "float32") != "float32":
        from ..errors import DTypeError

        raise DTypeError(f"{op}: {what} must be float32, got {buf.dtype}")


def check_view(op: str, n_src: int, shape: Sequence[int], strides: Sequence[int], offset: int,
               index_dims: Sequence[tuple[int, int]] = ()) -> None:
    """Raises InvalidArgumentError unless every address of the view (index dims spanning
    their whole axis) lies in a buffer of ``n_src`` elements: the host-side check of the
    kernels' boundary (the CPU kernel does the same in Rust)."""
    from ..errors import InvalidArgumentError, ShapeError

    if len(strides) != len(shape):
        raise ShapeError(f"{op}: {len(strides)} strides for a view of shape {tuple(shape)}")
    if len(index_dims) > 4:
        raise InvalidArgumentError(f"{op}: at most 4 index arrays are supported, got {len(index_dims)}")
    if any(int(d) == 0 for d in shape):
        return
    lo = hi = int(offset)
    for d, s in list(zip(shape, strides)) + [(size, stride) for stride, size in index_dims]:
        if int(d) == 0:
            raise InvalidArgumentError(f"{op}: an index array indexes an axis of length 0")
        span = (int(d) - 1) * int(s)
        if span < 0:
            lo += span
        else:
            hi += span
    if lo < 0 or hi >= n_src:
        raise InvalidArgumentError(f"{op}: view of shape {tuple(shape)} (strides {list(strides)}, offset {offset}) reaches "
                                   f"outside a buffer of {n_src} elements")


class Backend(ABC):
    """A device's kernels."""

    #: device name, e.g. "cpu"
    name: str = "abstract"
    #: the largest tensor in bytes the device can hold in one buffer (None: host memory)
    max_buffer_bytes: int | None = None

    def synchronize(self) -> None:
        """Waits until every kernel launched so far has finished. Asynchronous devices
        check some data-dependent errors (label ranges) inside their kernels and raise
        them here, or at the next readback; on the CPU every error is raised at the call."""

    # -- memory ---------------------------------------------------------------------
    @abstractmethod
    def from_numpy(self, array: np.ndarray, dtype: str) -> Buffer:
        """Copies a numpy array (any layout) into a new buffer of ``dtype``."""

    @abstractmethod
    def to_numpy(self, buf: Buffer, shape: Shape, dtype: str) -> np.ndarray:
        """The buffer's elements as a numpy array of ``shape`` (read-only where the
        backend can share memory; a copy otherwise)."""

    @abstractmethod
    def full(self, n: int, value: float, dtype: str) -> Buffer:
        """A buffer of ``n`` copies of ``value``."""

    @abstractmethod
    def copy(self, buf: Buffer) -> Buffer:
        """A deep copy."""

    @abstractmethod
    def assign(self, dst: Buffer, src: Buffer) -> None:
        """In place: ``dst[:] = src`` (same dtype and length)."""

    @abstractmethod
    def cast(self, buf: Buffer, dtype: str) -> Buffer:
        """float32 <-> int32 (truncation toward zero; non-finite values are an error)."""

    @abstractmethod
    def all_finite(self, buf: Buffer) -> bool:
        """Whether no element is NaN or infinite."""

    # -- elementwise ------------------------------------------------------------------
    @abstractmethod
    def unary(self, op: str, x: Buffer, alpha: float | None = None) -> Buffer:
        """``op(x)`` elementwise; op in neg, abs, exp, log, sqrt, square, relu, sigmoid,
        tanh, log1p, expm1, erf, rsqrt, floor, ceil, round (half to even), sign and the activations relu6, hard_sigmoid (Keras 3: relu6(x + 3) / 6), step
        (Heaviside, 1 at 0), leaky_relu, elu, selu, gelu (exact, x * Phi(x)), gelu_tanh
        (the tanh approximation), silu, softplus, softsign, mish.

        ``alpha`` is the parameter of the parametric ops: leaky_relu's negative slope
        (default 0.2) and elu's alpha (default 1.0); None gives the default, and passing
        one to any other op is an InvalidArgumentError. NaN propagates; +-inf give the
        limits (silu(-inf) = 0, softsign(inf) = 1)."""

    @abstractmethod
    def unary_backward(self, op: str, x: Buffer, y: Buffer, gy: Buffer, alpha: float | None = None) -> Buffer:
        """``gy * op'(x)`` given ``y = op(x)``. At kinks Keras 3's (JAX's) convention:
        relu'(0) = relu6'(0) = relu6'(6) = 0, leaky_relu'(0) = 1 (the positive side's
        slope), elu'(0) = alpha, selu'(0) = scale * alpha; step's and the rounding ops'
        gradients are zero."""

    @abstractmethod
    def binary(self, op: str, a: Buffer, a_shape: Shape, b: Buffer, b_shape: Shape) -> tuple[Buffer, Shape]:
        """``op(a, b)`` broadcast; op in add, sub, mul, div, pow, maximum, minimum and
        the comparisons (equal, not_equal, less, less_equal, greater, greater_equal),
        which give 1.0 / 0.0."""

    @abstractmethod
    def binary_backward(
        self, op: str, a: Buffer, a_shape: Shape, b: Buffer, b_shape: Shape, gy: Buffer, need_a: bool, need_b: bool
    ) -> tuple[Buffer | None, Buffer | None]:
        """Gradients of ``op(a, b)`` w.r.t. each operand, summed over broadcast axes."""

    # -- reductions and layout ----------------------------------------------------------
    @abstractmethod
    def reduce(self, op: str, x: Buffer, shape: Shape, axes: Sequence[int] | None, keepdims: bool) -> tuple[Buffer, Shape]:
        """sum, mean, max, min over ``axes`` (None: all); argmax/argmin over one axis
        give int32."""

    @abstractmethod
    def sum_to_shape(self, x: Buffer, shape: Shape, target: Shape) -> Buffer:
        """Sums ``x`` down to ``target``, the inverse of broadcasting ``target`` to ``shape``."""

    # -- views, gathers and scatters ------------------------------------------------------
    # Tensors are contiguous. A *view* of a buffer is (shape, strides, offset) in elements:
    # view position c is element ``offset + sum_d c_d * strides[d]``; strides are signed
    # (reversed slices) and may be 0 (broadcasts). Every address a view can reach must lie in
    # the buffer (InvalidArgumentError otherwise). Layout ops are built on these four.
    @abstractmethod
    def strided_copy(self, x: Buffer, shape: Shape, strides: Sequence[int], offset: int) -> Buffer:
        """A contiguous copy of a view of ``x`` (slices, steps, transposes, broadcasts,
        diagonals). Both dtypes."""

    @abstractmethod
    def strided_write(self, dst: Buffer, src: Buffer, shape: Shape, strides: Sequence[int], offset: int) -> None:
        """In place: the view (shape, strides, offset) of ``dst`` takes the values of the
        contiguous ``src`` (same dtype). The view must address each element at most once
        (concatenate, pad and the like write into a fresh buffer with it)."""

    @abstractmethod
    def gather(self, x: Buffer, shape: Shape, strides: Sequence[int], offset: int, indices: Buffer,
               index_strides: Sequence[int], index_dims: Sequence[tuple[int, int]], op: str = "gather") -> Buffer:
        """numpy advanced indexing over a view. ``indices`` (int32) holds K = len(index_dims)
        <= 4 index arrays of ``count = len(indices) // K`` values each; output position c reads
        ``x[offset + sum_d c_d strides[d] + sum_k wrap(indices[k count + sum_d c_d
        index_strides[d]]) * index_dims[k][0]]``, where ``index_dims[k] = (source stride,
        axis size)`` and wrap adds the size to negative indices. An index outside
        [-size, size) is an InvalidArgumentError naming ``op`` (on asynchronous devices
        raised at the next sync). Both dtypes. take, take_along_axis and getitem use it."""

    @abstractmethod
    def scatter_add(self, g: Buffer, n: int, shape: Shape, strides: Sequence[int], offset: int, indices: Buffer | None = None,
                    index_strides: Sequence[int] = (), index_dims: Sequence[tuple[int, int]] = (),
                    op: str = "scatter_add") -> Buffer:
        """The adjoint of `gather` (and of `strided_copy` without indices): ``n`` float32
        zeros, then ``g`` (of ``shape``) added at the addresses `gather` reads; repeated
        addresses accumulate."""

    @abstractmethod
    def where(self, cond: Buffer, c_shape: Shape, x: Buffer, x_shape: Shape, y: Buffer, y_shape: Shape) -> tuple[Buffer, Shape]:
        """numpy.where(cond, x, y), broadcast; float32 operands, cond nonzero (or NaN) = true."""

    @abstractmethod
    def cumsum(self, x: Buffer, shape: Shape, axis: int, reverse: bool = False) -> Buffer:
        """Inclusive cumulative sum along ``axis``; ``reverse`` scans from the end."""

    @abstractmethod
    def cumprod(self, x: Buffer, shape: Shape, axis: int, reverse: bool = False) -> Buffer:
        """Inclusive cumulative product along ``axis``; ``reverse`` scans from the end."""

    @abstractmethod
    def argsort(self, x: Buffer, shape: Shape, axis: int, descending: bool = False) -> Buffer:
        """Stable argsort along ``axis`` (int32). Ascending puts NaN last (numpy);
        descending keeps the lower index first among ties (top_k), NaN first."""

    # Composites of the view primitives; the CPU backend overrides the first four with
    # fused kernels, and the conformance suite compares them with these bodies.
    def transpose(self, x: Buffer, shape: Shape, perm: Sequence[int]) -> Buffer:
        """Composite: numpy.transpose(x, perm) of float32 ``x``, contiguous."""
        shape, perm = tuple(shape), [int(p) for p in perm]
        check_float32("transpose", "input", x)
        check_buffer_len("transpose", "input", x, shape)
        if sorted(perm) != list(range(len(shape))):
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(f"transpose: axes {perm} are not a permutation of the {len(shape)} axes of shape {shape}")
        st = contiguous_strides(shape)
        return self.strided_copy(x, tuple(shape[p] for p in perm), [st[p] for p in perm], 0)

    def broadcast_to(self, x: Buffer, shape: Shape, out_shape: Shape) -> Buffer:
        """Composite: materialises float32 ``x`` broadcast to ``out_shape``."""
        shape, out_shape = tuple(shape), tuple(out_shape)
        check_float32("broadcast_to", "input", x)
        check_buffer_len("broadcast_to", "input", x, shape)
        try:
            ok = tuple(np.broadcast_shapes(shape, out_shape)) == out_shape
        except ValueError:
            ok = False
        if not ok:
            from ..errors import ShapeError

            raise ShapeError(f"broadcast_to: cannot broadcast a tensor of shape {shape} to {out_shape}")
        return self.strided_copy(x, out_shape, broadcast_strides(shape, out_shape), 0)

    def take_rows(self, x: Buffer, row_len: int, indices: Sequence[int]) -> Buffer:
        """Composite: rows ``indices`` of ``x`` viewed as (n, row_len); negative indices
        count from the end. Both dtypes."""
        idx = np.asarray(list(indices), dtype=np.int64).reshape(-1)
        if row_len == 0:
            return self.full(0, 0.0, getattr(x, "dtype", "float32"))
        n_rows = len(x) // row_len
        ib = self.from_numpy(idx.astype(np.int32), "int32")
        return self.gather(x, (idx.size, row_len), (0, 1), 0, ib, (1, 0), [(row_len, n_rows)], op="take")

    def scatter_add_rows(self, g: Buffer, row_len: int, indices: Sequence[int], n_rows: int) -> Buffer:
        """Composite: the backward of ``take_rows``: zeros (n_rows, row_len), rows added at ``indices``."""
        idx = np.asarray(list(indices), dtype=np.int64).reshape(-1)
        ib = self.from_numpy(idx.astype(np.int32), "int32")
        return self.scatter_add(g, n_rows * row_len, (idx.size, row_len), (0, 1), 0, ib, (1, 0), [(row_len, n_rows)],
                                op="take_backward")

    def concatenate(self, bufs: Sequence[Buffer], shapes: Sequence[Shape], axis: int, dtype: str) -> tuple[Buffer, Shape]:
        """Composite: numpy.concatenate along a non-negative ``axis`` (shapes checked by
        the caller): one fresh buffer, each part written into its slab."""
        shapes = [tuple(s) for s in shapes]
        total = sum(s[axis] for s in shapes)
        out_shape = shapes[0][:axis] + (total,) + shapes[0][axis + 1:]
        out = self.full(int(np.prod(out_shape)), 0.0, dtype)
        st = contiguous_strides(out_shape)
        start = 0
        for b, s in zip(bufs, shapes):
            if int(np.prod(s)):
                self.strided_write(out, b, s, st, start * st[axis] if out_shape else 0)
            start += s[axis]
        return out, out_shape

    def pad(self, x: Buffer, shape: Shape, pad_width: Sequence[tuple[int, int]], value: float, dtype: str) -> tuple[Buffer, Shape]:
        """Composite: numpy.pad(x, pad_width, constant_values=value) with non-negative widths."""
        shape = tuple(shape)
        out_shape = tuple(d + lo + hi for d, (lo, hi) in zip(shape, pad_width))
        out = self.full(int(np.prod(out_shape)), value, dtype)
        st = contiguous_strides(out_shape)
        if int(np.prod(shape)):
            self.strided_write(out, x, shape, st, sum(lo * s for (lo, _), s in zip(pad_width, st)))
        return out, out_shape

    @abstractmethod
    def one_hot(self, labels: Buffer, depth: int) -> Buffer:
        """float32 one-hot rows of int32 labels; labels outside [0, depth) are an error."""

    # -- linear algebra and nn ----------------------------------------------------------
    @abstractmethod
    def matmul(self, a: Buffer, a_shape: Shape, b: Buffer, b_shape: Shape, trans_a: bool, trans_b: bool) -> tuple[Buffer, Shape]:
        """Batched ``op(a) @ op(b)`` for rank >= 2 operands; batch dims broadcast when
        one side's batch is all ones."""

    @abstractmethod
    def softmax(self, x: Buffer, shape: Shape, axis: int, log: bool) -> Buffer:
        """softmax (or log_softmax) along ``axis``, max-subtracted (no overflow)."""

    @abstractmethod
    def softmax_backward(self, y: Buffer, gy: Buffer, shape: Shape, axis: int, log: bool) -> Buffer:
        """Backward of softmax / log_softmax given its output ``y``."""

    @abstractmethod
    def softmax_cross_entropy(self, logits: Buffer, labels: Buffer, rows: int, classes: int) -> tuple[Buffer, Buffer]:
        """Per-row ``logsumexp(z) - sum(y * z)`` and the softmax probabilities. int32
        labels are class indices, float32 labels a distribution per row."""

    @abstractmethod
    def softmax_cross_entropy_backward(self, probs: Buffer, labels: Buffer, gloss: Buffer, rows: int, classes: int) -> Buffer:
        """``g_r * (p * sum(y_r) - y_r)``."""

    @abstractmethod
    def sigmoid_bce(self, z: Buffer, y: Buffer) -> Buffer:
        """Elementwise ``max(z,0) - z*y + log1p(exp(-|z|))``."""

    @abstractmethod
    def sigmoid_bce_backward(self, z: Buffer, y: Buffer, g: Buffer) -> Buffer:
        """``g * (sigmoid(z) - y)``."""

    def dense(self, x: Buffer, w: Buffer, b: Buffer | None, rows: int, fin: int, fout: int, activation: str) -> Buffer:
        """Composite: ``act(x @ w + b)`` with act in linear, relu, sigmoid, tanh."""
        y, _ = self.matmul(x, (rows, fin), w, (fin, fout), False, False)
        if b is not None:
            y, _ = self.binary("add", y, (rows, fout), b, (fout,))
        return y if activation == "linear" else self.unary(activation, y)

    def dense_backward(
        self, x: Buffer, w: Buffer, y: Buffer, gy: Buffer, rows: int, fin: int, fout: int, activation: str, need_gx: bool,
        need_gb: bool = True,
    ) -> tuple[Buffer | None, Buffer, Buffer | None]:
        """Composite: (gx, gw, gb) of ``dense``; gx is None unless ``need_gx``, gb None
        unless ``need_gb``."""
        # For relu, sigmoid and tanh op'(x) is a function of y (relu: y > 0 iff x > 0),
        # so y stands in for x.
        gz = gy if activation == "linear" else self.unary_backward(activation, y, y, gy)
        gx = self.matmul(gz, (rows, fout), w, (fin, fout), False, True)[0] if need_gx else None
        gw = self.matmul(x, (rows, fin), gz, (rows, fout), True, False)[0]
        gb = self.sum_to_shape(gz, (rows, fout), (fout,)) if need_gb else None
        return gx, gw, gb

    def batch_norm(self, x: Buffer, gamma: Buffer | None, beta: Buffer | None, rows: int, channels: int,
                   epsilon: float) -> tuple[Buffer, Buffer, Buffer]:
        """Composite: training-mode batch normalization of ``x`` viewed as (rows, channels),
        statistics per channel over the rows. Returns ``(y, mean, var)`` with the biased
        variance and ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` (Keras)."""
        shape, c = (rows, channels), (channels,)
        if rows == 0:
            from ..errors import ShapeError

            raise ShapeError(f"batch_norm: cannot normalize over 0 rows (view (0, {channels}))")
        mean, _ = self.reduce("mean", x, shape, [0], False)
        xc, _ = self.binary("sub", x, shape, mean, c)
        var, _ = self.reduce("mean", self.unary("square", xc), shape, [0], False)
        y, _ = self.binary("mul", xc, shape, self._inv_std(var, channels, epsilon), c)
        if gamma is not None:
            y, _ = self.binary("mul", y, shape, gamma, c)
        if beta is not None:
            y, _ = self.binary("add", y, shape, beta, c)
        return y, mean, var

    def batch_norm_backward(self, x: Buffer, gamma: Buffer | None, mean: Buffer, var: Buffer, gy: Buffer, rows: int,
                            channels: int, epsilon: float, need_gx: bool) -> tuple[Buffer | None, Buffer, Buffer]:
        """Composite: ``(gx or None, d gamma, d beta)`` of `batch_norm` from its batch
        statistics: ``gx = inv_std * gamma * (g - mean_r(g) - x_hat * mean_r(g * x_hat))``."""
        shape, c = (rows, channels), (channels,)
        inv = self._inv_std(var, channels, epsilon)
        xhat, _ = self.binary("mul", self.binary("sub", x, shape, mean, c)[0], shape, inv, c)
        gbeta, _ = self.reduce("sum", gy, shape, [0], False)
        ggamma, _ = self.reduce("sum", self.binary("mul", gy, shape, xhat, shape)[0], shape, [0], False)
        gx = None
        if need_gx:
            per_row = self.full(1, 1.0 / rows, "float32")
            t, _ = self.binary("sub", gy, shape, self.binary("mul", gbeta, c, per_row, ())[0], c)
            u, _ = self.binary("mul", xhat, shape, self.binary("mul", ggamma, c, per_row, ())[0], c)
            scale = inv if gamma is None else self.binary("mul", gamma, c, inv, c)[0]
            gx, _ = self.binary("mul", self.binary("sub", t, shape, u, shape)[0], shape, scale, c)
        return gx, ggamma, gbeta

    def _inv_std(self, var: Buffer, channels: int, epsilon: float) -> Buffer:
        std, _ = self.binary("add", var, (channels,), self.full(1, epsilon, "float32"), ())
        inv, _ = self.binary("div", self.full(1, 1.0, "float32"), (), self.unary("sqrt", std), (channels,))
        return inv

    # -- random -----------------------------------------------------------------------
    @abstractmethod
    def random(self, kind: str, n: int, seed: int, offset: int, a: float, b: float) -> Buffer:
        """Philox 4x32-10 draw of ``n`` values at counter ``offset``: uniform(low=a,
        high=b), normal(mean=a, std=b), truncated_normal(mean=a, std=b, cut at 2 std),
        bernoulli(keep=a, scale=b) -> scale or 0."""

    # -- optimizers (in place, outside the tape) ------------------------------------------
    @abstractmethod
    def sgd_update(
        self, param: Buffer, grad: Buffer, velocity: Buffer | None, lr: float, momentum: float, nesterov: bool, decay: float = 0.0
    ) -> None:
        """Keras SGD step in place (see kernels/optim.rs). Every optimizer method first
        applies decoupled weight decay ``param -= param * decay`` (decay = weight_decay * lr,
        0 = off) in the same pass."""

    @abstractmethod
    def adam_update(
        self,
        param: Buffer,
        grad: Buffer,
        m: Buffer,
        v: Buffer,
        lr: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        step: int,
        vhat: Buffer | None = None,
        decay: float = 0.0,
    ) -> None:
        """Keras Adam step ``step`` (1-based) in place; with ``vhat`` (AMSGrad) it also
        updates vhat = max(vhat, v) and divides by sqrt(vhat) + eps instead."""

    @abstractmethod
    def rmsprop_update(
        self,
        param: Buffer,
        grad: Buffer,
        velocity: Buffer,
        average_gradient: Buffer | None,
        momentum_slot: Buffer | None,
        lr: float,
        rho: float,
        momentum: float,
        epsilon: float,
        decay: float = 0.0,
    ) -> None:
        """Keras RMSprop step in place: centered when ``average_gradient`` is given, with
        momentum when ``momentum_slot`` is given (epsilon inside the root)."""

    @abstractmethod
    def adagrad_update(self, param: Buffer, grad: Buffer, accumulator: Buffer, lr: float, epsilon: float, decay: float = 0.0) -> None:
        """Keras Adagrad step in place: acc += g^2; p -= lr g / sqrt(acc + eps)."""

    @abstractmethod
    def adadelta_update(
        self,
        param: Buffer,
        grad: Buffer,
        accumulated_grad: Buffer,
        accumulated_delta: Buffer,
        lr: float,
        rho: float,
        epsilon: float,
        decay: float = 0.0,
    ) -> None:
        """Keras Adadelta step in place (epsilon inside both roots)."""

    @abstractmethod
    def adamax_update(
        self,
        param: Buffer,
        grad: Buffer,
        m: Buffer,
        u: Buffer,
        lr: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        step: int,
        decay: float = 0.0,
    ) -> None:
        """Keras Adamax step ``step`` (1-based) in place."""

    @abstractmethod
    def nadam_update(
        self,
        param: Buffer,
        grad: Buffer,
        m: Buffer,
        v: Buffer,
        lr: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        step: int,
        u_product: float,
        decay: float = 0.0,
    ) -> None:
        """Keras 3 Nadam step ``step`` in place; ``u_product`` is the momentum-cache product
        u_1 * ... * u_step (including this step's u_t = beta_1 (1 - 0.5 * 0.96^t))."""

    # -- recurrences (composites) -------------------------------------------------------
    # One call runs a whole sequence: the input projection xw = x @ kernel + bias of every
    # step is the caller's one GEMM (`dense`); these run the recurrence after it. Layouts
    # (row-major): xw (batch, time, k * units) with k = 1 (simple_rnn), 4 (lstm: gates i,
    # f, c, o) or 3 (gru: z, r, h); recurrent_kernel (units, k * units); h0, c0 and
    # recurrent_dropout_mask (batch, units); mask (batch, time) float32, nonzero = keep.
    # Saved for the backward, in processing order s (time index t(s) = T - 1 - s with
    # go_backwards, else s): gates (time, batch, g * units) with g = 1 (simple_rnn: the new
    # state's activation), 5 (lstm: i, f, c~, o after their activations and act(c_t)), 4
    # (gru: z, r, hh, and with reset_after h_in @ R_h + b_h, without it r * h_in); hs
    # (time + 1, batch, units) with hs[0] = h0 and hs[s + 1] the state after step s; cs
    # likewise for the lstm's carry (None otherwise).
    def rnn_sequence(self, cell: str, xw: Buffer, recurrent_kernel: Buffer, recurrent_bias: Buffer | None, h0: Buffer,
                     c0: Buffer | None, mask: Buffer | None, recurrent_dropout_mask: Buffer | None, batch: int,
                     time: int, units: int, go_backwards: bool, activation: str, recurrent_activation: str,
                     reset_after: bool, zero_output_for_mask: bool, return_sequences: bool
                     ) -> tuple[Buffer, Buffer, Buffer | None, Buffer, Buffer, Buffer | None]:
        """Composite: Keras 3's recurrence over a whole sequence, ``cell`` one of
        simple_rnn, lstm, gru. Per step s, with ``h_in = h_{s-1} * recurrent_dropout_mask``
        and ``x = xw[:, t(s)]``:

        * simple_rnn: ``h = act(x + h_in @ R + b)``;
        * lstm: ``z = x + h_in @ R + b`` split (i, f, c, o); ``i, f, o = ract(.)``,
          ``c_t = f * c_{t-1} + i * act(z_c)``, ``h = o * act(c_t)``;
        * gru, reset_after: ``z, r = ract(x_zr + (h_in @ R + b)_zr)``, ``hh = act(x_h +
          r * (h_in @ R + b)_h)``; without reset_after (``b`` must be None): ``hh =
          act(x_h + (r * h_in) @ R_h)``; then ``h = z * h_{t-1} + (1 - z) * hh``.

        ``b`` is ``recurrent_bias`` (k * units,) or None. act, ract in tanh, sigmoid,
        relu, hard_sigmoid, linear. Where ``mask[b, t(s)]`` is 0 every state keeps its
        previous value and the step's output is the previous state, or zeros with
        ``zero_output_for_mask`` (Keras 3). Returns ``(outputs, h, c, gates, hs, cs)``:
        outputs (batch, time, units) in processing order when ``return_sequences``, else
        the last step's output (batch, units) (h0 when time is 0); h, c the final states
        (c None unless lstm); gates, hs, cs the saved tensors above."""
        from ..errors import InvalidArgumentError

        k = self._rnn_check(cell, recurrent_bias, c0, reset_after, activation, recurrent_activation)
        b, t, u = int(batch), int(time), int(units)
        n, ku, gu = b * u, k * u, {"simple_rnn": 1, "lstm": 5, "gru": 4}[cell] * u
        f32 = "float32"
        bin_ = self._rnn_bin
        act = lambda name, x: x if name == "linear" else self.unary(name, x)  # noqa: E731
        hs = self.full((t + 1) * n, 0.0, f32)
        self.strided_write(hs, h0, (n,), (1,), 0)
        cs = None
        if cell == "lstm":
            cs = self.full((t + 1) * n, 0.0, f32)
            self.strided_write(cs, c0, (n,), (1,), 0)
        gates = self.full(t * b * gu, 0.0, f32)
        seq = self.full(b * t * u, 0.0, f32) if return_sequences else None
        split = cell == "gru" and not reset_after
        if split:
            r_zr = self.strided_copy(recurrent_kernel, (u, 2 * u), (3 * u, 1), 0)
            r_h = self.strided_copy(recurrent_kernel, (u, u), (3 * u, 1), 2 * u)
        h, c, out = h0, c0, h0
        if cell not in ("simple_rnn", "lstm", "gru"):
            raise InvalidArgumentError(f"rnn_sequence: unknown cell {cell!r}")
        for s in range(t):
            tt = t - 1 - s if go_backwards else s
            x = self.strided_copy(xw, (b, ku), (t * ku, 1), tt * ku)
            blk = lambda buf, j, w=ku: self.strided_copy(buf, (b, u), (w, 1), j * u)  # noqa: E731
            h_in = h if recurrent_dropout_mask is None else bin_("mul", h, (b, u), recurrent_dropout_mask, (b, u))
            if split:
                rec, _ = self.matmul(h_in, (b, u), r_zr, (u, 2 * u), False, False)
                z = act(recurrent_activation, bin_("add", blk(x, 0), (b, u), blk(rec, 0, 2 * u), (b, u)))
                r = act(recurrent_activation, bin_("add", blk(x, 1), (b, u), blk(rec, 1, 2 * u), (b, u)))
                rh = bin_("mul", r, (b, u), h_in, (b, u))
                zh, _ = self.matmul(rh, (b, u), r_h, (u, u), False, False)
                hh = act(activation, bin_("add", blk(x, 2), (b, u), zh, (b, u)))
                new = [bin_("add", hh, (b, u), bin_("mul", z, (b, u), bin_("sub", h, (b, u), hh, (b, u)), (b, u)), (b, u))]
                saved = [z, r, hh, rh]
            else:
                rec, _ = self.matmul(h_in, (b, u), recurrent_kernel, (u, ku), False, False)
                if recurrent_bias is not None:
                    rec = bin_("add", rec, (b, ku), recurrent_bias, (ku,))
                if cell == "gru":
                    z = act(recurrent_activation, bin_("add", blk(x, 0), (b, u), blk(rec, 0), (b, u)))
                    r = act(recurrent_activation, bin_("add", blk(x, 1), (b, u), blk(rec, 1), (b, u)))
                    rh = blk(rec, 2)
                    hh = act(activation, bin_("add", blk(x, 2), (b, u), bin_("mul", r, (b, u), rh, (b, u)), (b, u)))
                    new = [bin_("add", hh, (b, u), bin_("mul", z, (b, u), bin_("sub", h, (b, u), hh, (b, u)), (b, u)), (b, u))]
                    saved = [z, r, hh, rh]
                else:
                    zz = bin_("add", x, (b, ku), rec, (b, ku))
                    if cell == "simple_rnn":
                        new = [act(activation, zz)]
                        saved = new
                    else:
                        i, f, o = (act(recurrent_activation, blk(zz, j)) for j in (0, 1, 3))
                        g = act(activation, blk(zz, 2))
                        c_new = bin_("add", bin_("mul", f, (b, u), c, (b, u)), (b, u), bin_("mul", i, (b, u), g, (b, u)), (b, u))
                        ac = act(activation, c_new)
                        new = [bin_("mul", o, (b, u), ac, (b, u)), c_new]
                        saved = [i, f, g, o, ac]
            for j, v in enumerate(saved):
                self.strided_write(gates, v, (b, u), (gu, 1), s * b * gu + j * u)
            old = [h] if cell != "lstm" else [h, c]
            if mask is None:
                states, out = new, new[0]
            else:
                keep = self.strided_copy(mask, (b, 1), (t, 1), tt)
                states = [self.where(keep, (b, 1), nv, (b, u), ov, (b, u))[0] for nv, ov in zip(new, old)]
                out = (self.where(keep, (b, 1), new[0], (b, u), self.full(1, 0.0, f32), ())[0]
                       if zero_output_for_mask else states[0])
            h = states[0]
            self.strided_write(hs, h, (n,), (1,), (s + 1) * n)
            if cs is not None:
                c = states[1]
                self.strided_write(cs, c, (n,), (1,), (s + 1) * n)
            if seq is not None:
                self.strided_write(seq, out, (b, u), (t * u, 1), s * u)
        outputs = seq if seq is not None else self.copy(out)
        return outputs, self.copy(h), (None if c is None else self.copy(c)), gates, hs, cs

    def rnn_sequence_backward(self, cell: str, recurrent_kernel: Buffer, need_bias: bool, mask: Buffer | None,
                              recurrent_dropout_mask: Buffer | None, gates: Buffer, hs: Buffer, cs: Buffer | None,
                              gy: Buffer | None, gh: Buffer | None, gc: Buffer | None, batch: int, time: int,
                              units: int, go_backwards: bool, activation: str, recurrent_activation: str,
                              reset_after: bool, zero_output_for_mask: bool, return_sequences: bool
                              ) -> tuple[Buffer, Buffer, Buffer | None, Buffer, Buffer | None]:
        """Composite: the backward through time of `rnn_sequence` from its saved
        ``gates, hs, cs`` and the upstream gradients of its outputs (``gy``, shaped like
        them), final h (``gh``) and final c (``gc``), each None for zeros. Returns
        ``(d xw (batch, time, k units), d recurrent_kernel, d recurrent_bias (k units,) when
        need_bias else None, d h0, d c0 (lstm) else None)``. Derivatives of the activations
        come from their outputs (relu'(0) = 0; hard_sigmoid's is 0 where it saturates)."""
        k = self._rnn_check(cell, None, cs, reset_after, activation, recurrent_activation)
        b, t, u = int(batch), int(time), int(units)
        n, ku, gu = b * u, k * u, {"simple_rnn": 1, "lstm": 5, "gru": 4}[cell] * u
        f32 = "float32"
        bin_ = self._rnn_bin
        bu = (b, u)
        dact = self._rnn_dact
        one = self.full(1, 1.0, f32)
        dh = self.copy(gh) if gh is not None else self.full(n, 0.0, f32)
        dc = (self.copy(gc) if gc is not None else self.full(n, 0.0, f32)) if cell == "lstm" else None
        gxw = self.full(b * t * ku, 0.0, f32)
        grk = self.full(u * ku, 0.0, f32)
        grb = self.full(ku, 0.0, f32) if need_bias else None
        split = cell == "gru" and not reset_after
        if split:
            r_zr = self.strided_copy(recurrent_kernel, (u, 2 * u), (3 * u, 1), 0)
            r_h = self.strided_copy(recurrent_kernel, (u, u), (3 * u, 1), 2 * u)
            g_zr, g_h = self.full(2 * u * u, 0.0, f32), self.full(u * u, 0.0, f32)
        for s in range(t - 1, -1, -1):
            tt = t - 1 - s if go_backwards else s
            gate = [self.strided_copy(gates, bu, (gu, 1), s * b * gu + j * u) for j in range(gu // u)]
            hp = self.strided_copy(hs, (n,), (1,), s * n)
            h_in = hp if recurrent_dropout_mask is None else bin_("mul", hp, bu, recurrent_dropout_mask, bu)
            go = None
            if gy is not None and (return_sequences or s == t - 1):
                go = self.strided_copy(gy, bu, (t * u, 1), s * u) if return_sequences else gy
            dht = dh if go is None else bin_("add", dh, bu, go, bu)
            keep = None if mask is None else self.strided_copy(mask, (b, 1), (t, 1), tt)
            kept = (lambda v: v) if keep is None else (lambda v: bin_("mul", v, bu, keep, (b, 1)))
            direct = None
            dc_new = None
            if cell == "simple_rnn":
                gx = drec = [kept(bin_("mul", dht, bu, dact(activation, gate[0], n), bu))]
            elif cell == "lstm":
                i, f, g, o, ac = gate
                cp = self.strided_copy(cs, (n,), (1,), s * n)
                dct = bin_("add", dc, bu, bin_("mul", bin_("mul", dht, bu, o, bu), bu, dact(activation, ac, n), bu), bu)
                di = bin_("mul", bin_("mul", dct, bu, g, bu), bu, dact(recurrent_activation, i, n), bu)
                df = bin_("mul", bin_("mul", dct, bu, cp, bu), bu, dact(recurrent_activation, f, n), bu)
                dg = bin_("mul", bin_("mul", dct, bu, i, bu), bu, dact(activation, g, n), bu)
                do = bin_("mul", bin_("mul", dht, bu, ac, bu), bu, dact(recurrent_activation, o, n), bu)
                gx = drec = [kept(v) for v in (di, df, dg, do)]
                dc_new = bin_("mul", dct, bu, f, bu)
            else:
                z, r, hh, rh = gate
                one_minus_z = bin_("sub", one, (), z, bu)
                dhh = kept(bin_("mul", bin_("mul", dht, bu, one_minus_z, bu), bu, dact(activation, hh, n), bu))
                dz = kept(bin_("mul", bin_("mul", dht, bu, bin_("sub", hp, bu, hh, bu), bu), bu,
                               dact(recurrent_activation, z, n), bu))
                direct = bin_("mul", dht, bu, z, bu)
                if split:
                    drh, _ = self.matmul(dhh, bu, r_h, (u, u), False, True)
                    dr = bin_("mul", bin_("mul", drh, bu, h_in, bu), bu, dact(recurrent_activation, r, n), bu)
                    gx, drec = [dz, dr, dhh], [dz, dr]
                    gh_part, _ = self.matmul(rh, bu, dhh, bu, True, False)
                    g_h = bin_("add", g_h, (u, u), gh_part, (u, u))
                    rpath = bin_("mul", drh, bu, r, bu)
                    if recurrent_dropout_mask is not None:
                        rpath = bin_("mul", rpath, bu, recurrent_dropout_mask, bu)
                    direct = bin_("add", direct, bu, rpath, bu)
                else:
                    dr = bin_("mul", bin_("mul", dhh, bu, rh, bu), bu, dact(recurrent_activation, r, n), bu)
                    gx, drec = [dz, dr, dhh], [dz, dr, bin_("mul", dhh, bu, r, bu)]
            for j, v in enumerate(gx):
                self.strided_write(gxw, v, bu, (t * ku, 1), tt * ku + j * u)
            w = len(drec) * u
            dz_all = self.full(b * w, 0.0, f32)
            for j, v in enumerate(drec):
                self.strided_write(dz_all, v, bu, (w, 1), j * u)
            rk = r_zr if split else recurrent_kernel
            dh_in, _ = self.matmul(dz_all, (b, w), rk, (u, w), False, True)
            if recurrent_dropout_mask is not None:
                dh_in = bin_("mul", dh_in, bu, recurrent_dropout_mask, bu)
            part, _ = self.matmul(h_in, bu, dz_all, (b, w), True, False)
            if split:
                g_zr = bin_("add", g_zr, (u, w), part, (u, w))
            else:
                grk = bin_("add", grk, (u, w), part, (u, w))
            if grb is not None:
                grb = bin_("add", grb, (w,), self.sum_to_shape(dz_all, (b, w), (w,)), (w,))
            if direct is None:
                direct = self.full(n, 0.0, f32)
            if keep is not None:
                carry = dh if (go is None or zero_output_for_mask) else dht
                direct = self.where(keep, (b, 1), direct, bu, carry, bu)[0]
                if dc_new is not None:
                    dc_new = self.where(keep, (b, 1), dc_new, bu, dc, bu)[0]
            dh = bin_("add", direct, bu, dh_in, bu)
            if dc_new is not None:
                dc = dc_new
        if split:
            grk = self.full(u * ku, 0.0, f32)
            self.strided_write(grk, g_zr, (u, 2 * u), (3 * u, 1), 0)
            self.strided_write(grk, g_h, (u, u), (3 * u, 1), 2 * u)
        return gxw, grk, grb, dh, dc

    def _rnn_bin(self, op: str, a: Buffer, a_shape: Shape, b: Buffer, b_shape: Shape) -> Buffer:
        return self.binary(op, a, a_shape, b, b_shape)[0]

    def _rnn_dact(self, name: str, y: Buffer, n: int) -> Buffer:
        """The derivative of activation ``name`` at the input whose output is ``y``."""
        one = self.full(1, 1.0, "float32")
        zero = self.full(1, 0.0, "float32")
        if name == "tanh":
            return self._rnn_bin("sub", one, (), self._rnn_bin("mul", y, (n,), y, (n,)), (n,))
        if name == "sigmoid":
            return self._rnn_bin("mul", y, (n,), self._rnn_bin("sub", one, (), y, (n,)), (n,))
        if name == "relu":
            return self._rnn_bin("greater", y, (n,), zero, ())
        if name == "hard_sigmoid":
            inside = self._rnn_bin("mul", self._rnn_bin("greater", y, (n,), zero, ()), (n,),
                                   self._rnn_bin("less", y, (n,), one, ()), (n,))
            return self._rnn_bin("mul", inside, (n,), self.full(1, 1.0 / 6.0, "float32"), ())
        return self.full(n, 1.0, "float32")

    def _rnn_check(self, cell: str, recurrent_bias, carry, reset_after: bool, activation: str,
                   recurrent_activation: str) -> int:
        """The gate count of ``cell``, or InvalidArgumentError for a bad combination."""
        from ..errors import InvalidArgumentError

        gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}.get(cell)
        if gates is None:
            raise InvalidArgumentError(f"rnn_sequence: unknown cell {cell!r}; valid: simple_rnn, lstm, gru")
        for a in (activation, recurrent_activation):
            if a not in ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear"):
                raise InvalidArgumentError(f"rnn_sequence: activation {a!r} is not fused; valid: tanh, sigmoid, relu, "
                                           "hard_sigmoid, linear")
        if (carry is None) == (cell == "lstm"):
            raise InvalidArgumentError(f"rnn_sequence: {cell} {'needs' if cell == 'lstm' else 'has no'} carry state c")
        if recurrent_bias is not None and cell == "gru" and not reset_after:
            raise InvalidArgumentError("rnn_sequence: a GRU with reset_after=False has no recurrent bias")
        return gates

    # -- convolution and pooling (composites) -------------------------------------------
    # Inputs are NHWC (channels_last); kernels are (kh, kw, in // groups, out) as Keras
    # lays them out; ``pads`` are explicit zero paddings ((top, bottom), (left, right)),
    # so "valid", "same" and "causal" are the caller's choice. im2col is one strided view
    # of the padded input (no index arrays), col2im its adjoint (`scatter_add`, which
    # accumulates where windows overlap); the product is the fused `dense`. A backend
    # overrides these with fused (implicit-GEMM) kernels; the conformance suite compares.
    def _window_geometry(self, op: str, x_shape: Shape, window: Sequence[int], strides: Sequence[int],
                         pads: Sequence[tuple[int, int]], dilation: Sequence[int]) -> tuple[int, int, int, int]:
        """(padded height, padded width, output height, output width), or ShapeError."""
        from ..errors import InvalidArgumentError, ShapeError

        if len(x_shape) != 4:
            raise ShapeError(f"{op}: expected an NHWC input of rank 4, got shape {tuple(x_shape)}")
        if any(int(s) < 1 for s in strides) or any(int(d) < 1 for d in dilation) or any(int(k) < 1 for k in window):
            raise InvalidArgumentError(f"{op}: window {tuple(window)}, strides {tuple(strides)} and dilation "
                                       f"{tuple(dilation)} must be positive")
        if any(int(p) < 0 for pair in pads for p in pair):
            raise InvalidArgumentError(f"{op}: paddings must be non-negative, got {tuple(map(tuple, pads))}")
        _, h, w, _ = (int(d) for d in x_shape)
        hp, wp = h + int(pads[0][0]) + int(pads[0][1]), w + int(pads[1][0]) + int(pads[1][1])
        ekh, ekw = (int(window[0]) - 1) * int(dilation[0]) + 1, (int(window[1]) - 1) * int(dilation[1]) + 1
        if ekh > hp or ekw > wp:
            raise ShapeError(f"{op}: the window {tuple(window)} (dilated to ({ekh}, {ekw})) is larger than the padded "
                             f"input ({hp}, {wp}) of the input of shape {tuple(x_shape)}")
        return hp, wp, (hp - ekh) // int(strides[0]) + 1, (wp - ekw) // int(strides[1]) + 1

    def _window_view(self, padded: Shape, window, strides, dilation, oh: int, ow: int, layout: str) -> tuple[Shape, list[int]]:
        """The strided view of the padded NHWC input holding every window: layout "nhwkc"
        is (N, OH, OW, KH, KW, C) (im2col rows), "kkhwc" is (KH, KW, N, OH, OW, C) (window
        axes first, so pooling reduces a leading axis: one thread per output on a GPU),
        "gnhwkc" is (G, N, OH, OW, KH, KW, C // G) (grouped im2col)."""
        n, hp, wp, c = padded
        kh, kw = int(window[0]), int(window[1])
        sn, sh, sw = hp * wp * c, int(strides[0]) * wp * c, int(strides[1]) * c
        dh, dw = int(dilation[0]) * wp * c, int(dilation[1]) * c
        if layout == "nhwkc":
            return (n, oh, ow, kh, kw, c), [sn, sh, sw, dh, dw, 1]
        if layout == "kkhwc":
            return (kh, kw, n, oh, ow, c), [dh, dw, sn, sh, sw, 1]
        g = int(layout[len("gnhwkc:"):])
        return (g, n, oh, ow, kh, kw, c // g), [c // g, sn, sh, sw, dh, dw, 1]

    @staticmethod
    def _merge_view_axes(shape: Shape, strides: Sequence[int]) -> tuple[Shape, list[int]]:
        """The same view with neighbouring axes merged where one stride spans the next
        (e.g. (KW, C) with strides (C, 1) -> (KW * C,)): fewer axes to index per element."""
        out_shape, out_strides = [int(shape[0])], [int(strides[0])]
        for d, s in zip(shape[1:], strides[1:]):
            if out_strides[-1] == int(s) * int(d):
                out_shape[-1] *= int(d)
                out_strides[-1] = int(s)
            else:
                out_shape.append(int(d))
                out_strides.append(int(s))
        return tuple(out_shape), out_strides

    def _pad_nhwc(self, x: Buffer, x_shape: Shape, pads, value: float) -> tuple[Buffer, Shape]:
        if not any(int(p) for pair in pads for p in pair):
            return x, tuple(x_shape)
        return self.pad(x, tuple(x_shape), [(0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)], value, "float32")

    def _col2im(self, gcols: Buffer, view: Shape, view_strides, padded: Shape, x_shape: Shape, pads, op: str) -> Buffer:
        """The adjoint of the window view: window gradients summed into the input's positions."""
        n_padded = int(np.prod(padded))
        gxp = self.scatter_add(gcols, n_padded, *self._merge_view_axes(view, view_strides), 0, op=op)
        if tuple(padded) == tuple(x_shape):
            return gxp
        st = contiguous_strides(padded)
        return self.strided_copy(gxp, tuple(x_shape), st, int(pads[0][0]) * st[1] + int(pads[1][0]) * st[2])

    def conv2d(self, x: Buffer, x_shape: Shape, w: Buffer, w_shape: Shape, b: Buffer | None, strides: Sequence[int],
               pads: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int,
               activation: str) -> tuple[Buffer, Shape]:
        """Composite: ``act(conv2d(x, w) + b)`` for x (N, H, W, C) and w (KH, KW, C // groups,
        O): output position (n, i, j, o), o in group g = o // (O // groups), is
        ``sum_{p, q, c} xpad[n, i s0 + p d0, j s1 + q d1, g C/groups + c] w[p, q, c, o]``
        where xpad is x zero-padded by ``pads``. act in linear, relu, sigmoid, tanh.
        Returns ``(y, (N, OH, OW, O))``."""
        from ..errors import ShapeError

        hp, wp, oh, ow = self._window_geometry("conv2d", x_shape, w_shape[:2], strides, pads, dilation)
        n, _, _, c = (int(d) for d in x_shape)
        kh, kw, cg, o = (int(d) for d in w_shape)
        g = int(groups)
        if g < 1 or cg * g != c or o % g:
            raise ShapeError(f"conv2d: input of shape {tuple(x_shape)} does not fit kernel of shape {tuple(w_shape)} "
                             f"with groups={groups} (kernel input channels x groups must equal the input's channels "
                             "and output channels divide by groups)")
        xp, padded = self._pad_nhwc(x, x_shape, pads, 0.0)
        rows, k = n * oh * ow, kh * kw * cg
        out_shape = (n, oh, ow, o)
        if g == 1:
            view, st = self._window_view(padded, (kh, kw), strides, dilation, oh, ow, "nhwkc")
            cols = self.strided_copy(xp, *self._merge_view_axes(view, st), 0)
            return self.dense(cols, w, b, rows, k, o, activation), out_shape
        og = o // g
        view, st = self._window_view(padded, (kh, kw), strides, dilation, oh, ow, f"gnhwkc:{g}")
        cols = self.strided_copy(xp, *self._merge_view_axes(view, st), 0)
        wg = self.transpose(w, (k, g, og), (1, 0, 2))
        yg, _ = self.matmul(cols, (g, rows, k), wg, (g, k, og), False, False)
        y = self.transpose(yg, (g, rows, og), (1, 0, 2))
        if b is not None:
            y, _ = self.binary("add", y, (rows, o), b, (o,))
        return (y if activation == "linear" else self.unary(activation, y)), out_shape

    def conv2d_backward(self, x: Buffer, x_shape: Shape, w: Buffer, w_shape: Shape, y: Buffer, gy: Buffer,
                        strides: Sequence[int], pads: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int,
                        activation: str, need_gx: bool) -> tuple[Buffer | None, Buffer, Buffer]:
        """Composite: ``(gx or None, gw, gb)`` of `conv2d` given its output ``y`` (for the
        activation's derivative, as in `dense_backward`) and the output gradient ``gy``."""
        hp, wp, oh, ow = self._window_geometry("conv2d_backward", x_shape, w_shape[:2], strides, pads, dilation)
        n, _, _, c = (int(d) for d in x_shape)
        kh, kw, cg, o = (int(d) for d in w_shape)
        g = int(groups)
        xp, padded = self._pad_nhwc(x, x_shape, pads, 0.0)
        rows, k = n * oh * ow, kh * kw * cg
        layout = "nhwkc" if g == 1 else f"gnhwkc:{g}"
        view, st = self._window_view(padded, (kh, kw), strides, dilation, oh, ow, layout)
        cols = self.strided_copy(xp, *self._merge_view_axes(view, st), 0)
        if g == 1:
            gcols, gw, gb = self.dense_backward(cols, w, y, gy, rows, k, o, activation, need_gx)
        else:
            og = o // g
            gz = gy if activation == "linear" else self.unary_backward(activation, y, y, gy)
            gzg = self.transpose(gz, (rows, g, og), (1, 0, 2))
            gwg, _ = self.matmul(cols, (g, rows, k), gzg, (g, rows, og), True, False)
            gw = self.transpose(gwg, (g, k, og), (1, 0, 2))
            gb = self.sum_to_shape(gz, (rows, o), (o,))
            gcols = None
            if need_gx:
                wg = self.transpose(w, (k, g, og), (1, 0, 2))
                gcols, _ = self.matmul(gzg, (g, rows, og), wg, (g, k, og), False, True)
        gx = self._col2im(gcols, view, st, padded, x_shape, pads, "conv2d_backward") if need_gx else None
        return gx, gw, gb

    def max_pool2d(self, x: Buffer, x_shape: Shape, pool_size: Sequence[int], strides: Sequence[int],
                   pads: Sequence[tuple[int, int]], need_argmax: bool = False) -> tuple[Buffer, Shape, Buffer | None]:
        """Composite: the maximum of each (KH, KW) window of x (N, H, W, C) padded with
        -inf by ``pads``. Returns ``(y (N, OH, OW, C), shape, argmax)``: with ``need_argmax``
        the int32 row-major window position (p KW + q) of each output's first maximum
        (TensorFlow's and PyTorch's gradient goes to that one element), else None."""
        _, _, oh, ow = self._window_geometry("max_pool2d", x_shape, pool_size, strides, pads, (1, 1))
        n, _, _, c = (int(d) for d in x_shape)
        xp, padded = self._pad_nhwc(x, x_shape, pads, float("-inf"))
        view, st = self._window_view(padded, pool_size, strides, (1, 1), oh, ow, "kkhwc")
        win = self.strided_copy(xp, *self._merge_view_axes(view, st), 0)
        k, m = int(pool_size[0]) * int(pool_size[1]), n * oh * ow * c
        y, _ = self.reduce("max", win, (k, m), [0], False)
        am = self.reduce("argmax", win, (k, m), [0], False)[0] if need_argmax else None
        return y, (n, oh, ow, c), am

    def max_pool2d_backward(self, argmax: Buffer, gy: Buffer, x_shape: Shape, pool_size: Sequence[int],
                            strides: Sequence[int], pads: Sequence[tuple[int, int]]) -> Buffer:
        """Composite: the gradient of `max_pool2d` w.r.t. x: each output's gradient goes to
        its window's first maximum (``argmax``); overlapping windows accumulate."""
        _, _, oh, ow = self._window_geometry("max_pool2d_backward", x_shape, pool_size, strides, pads, (1, 1))
        n, h, w, c = (int(d) for d in x_shape)
        padded = (n, h + int(pads[0][0]) + int(pads[0][1]), w + int(pads[1][0]) + int(pads[1][1]), c)
        view, st = self._window_view(padded, pool_size, strides, (1, 1), oh, ow, "kkhwc")
        k, m = int(pool_size[0]) * int(pool_size[1]), n * oh * ow * c
        positions = self.from_numpy(np.arange(k, dtype=np.float32), "float32")
        hit, _ = self.binary("equal", self.cast(argmax, "float32"), (1, m), positions, (k, 1))
        gcols, _ = self.binary("mul", hit, (k, m), gy, (1, m))
        return self._col2im(gcols, view, st, padded, x_shape, pads, "max_pool2d_backward")

    def _pool_counts(self, x_shape: Shape, pool_size, strides, pads, oh: int, ow: int) -> Buffer | None:
        """(OH, OW, 1) float32: how many input (not padding) elements each window covers;
        None when every window is whole."""
        _, h, w, _ = (int(d) for d in x_shape)
        if not any(int(p) for pair in pads for p in pair):
            return None
        per_axis = []
        for size, k, s, lo, o in ((h, pool_size[0], strides[0], pads[0][0], oh), (w, pool_size[1], strides[1], pads[1][0], ow)):
            start = np.arange(o) * int(s) - int(lo)
            per_axis.append(np.minimum(start + int(k), size) - np.maximum(start, 0))
        counts = np.outer(per_axis[0], per_axis[1]).astype(np.float32).reshape(oh, ow, 1)
        return self.from_numpy(counts, "float32")

    def average_pool2d(self, x: Buffer, x_shape: Shape, pool_size: Sequence[int], strides: Sequence[int],
                       pads: Sequence[tuple[int, int]]) -> tuple[Buffer, Shape]:
        """Composite: the mean of each (KH, KW) window of x (N, H, W, C) over its input
        elements; padding is excluded from the count (TensorFlow's and Keras's "same").
        Returns ``(y (N, OH, OW, C), shape)``."""
        _, _, oh, ow = self._window_geometry("average_pool2d", x_shape, pool_size, strides, pads, (1, 1))
        n, _, _, c = (int(d) for d in x_shape)
        xp, padded = self._pad_nhwc(x, x_shape, pads, 0.0)
        view, st = self._window_view(padded, pool_size, strides, (1, 1), oh, ow, "kkhwc")
        win = self.strided_copy(xp, *self._merge_view_axes(view, st), 0)
        k, m = int(pool_size[0]) * int(pool_size[1]), n * oh * ow * c
        counts = self._pool_counts(x_shape, pool_size, strides, pads, oh, ow)
        if counts is None:
            y, _ = self.reduce("mean", win, (k, m), [0], False)
        else:
            s, _ = self.reduce("sum", win, (k, m), [0], False)
            y, _ = self.binary("div", s, (n, oh, ow, c), counts, (oh, ow, 1))
        return y, (n, oh, ow, c)

    def average_pool2d_backward(self, gy: Buffer, x_shape: Shape, pool_size: Sequence[int], strides: Sequence[int],
                                pads: Sequence[tuple[int, int]]) -> Buffer:
        """Composite: the gradient of `average_pool2d` w.r.t. x."""
        _, _, oh, ow = self._window_geometry("average_pool2d_backward", x_shape, pool_size, strides, pads, (1, 1))
        n, h, w, c = (int(d) for d in x_shape)
        padded = (n, h + int(pads[0][0]) + int(pads[0][1]), w + int(pads[1][0]) + int(pads[1][1]), c)
        view, st = self._window_view(padded, pool_size, strides, (1, 1), oh, ow, "kkhwc")
        k, m = int(pool_size[0]) * int(pool_size[1]), n * oh * ow * c
        counts = self._pool_counts(x_shape, pool_size, strides, pads, oh, ow)
        if counts is None:
            gs, _ = self.binary("mul", gy, (n, oh, ow, c), self.full(1, 1.0 / k, "float32"), ())
        else:
            gs, _ = self.binary("div", gy, (n, oh, ow, c), counts, (oh, ow, 1))
        gcols = self.broadcast_to(gs, (1, m), (k, m))
        return self._col2im(gcols, view, st, padded, x_shape, pads, "average_pool2d_backward")
