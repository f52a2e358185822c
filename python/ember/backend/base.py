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
        tanh and the activations relu6, hard_sigmoid (Keras 3: relu6(x + 3) / 6), step
        (Heaviside, 1 at 0), leaky_relu, elu, selu, gelu (exact, x * Phi(x)), gelu_tanh
        (the tanh approximation), silu, softplus, softsign, mish.

        ``alpha`` is the parameter of the parametric ops: leaky_relu's negative slope
        (default 0.2) and elu's alpha (default 1.0); None gives the default, and passing
        one to any other op is an InvalidArgumentError. NaN propagates; +-inf give the
        limits (silu(-inf) = 0, softsign(inf) = 1)."""

    @abstractmethod
    def unary_backward(self, op: str, x: Buffer, y: Buffer, gy: Buffer, alpha: float | None = None) -> Buffer:
        """``gy * op'(x)`` given ``y = op(x)``. At kinks the TensorFlow kernels'
        convention: relu'(0) = relu6'(0) = relu6'(6) = 0, leaky_relu'(0) = slope,
        elu'(0) = alpha, selu'(0) = scale; step's gradient is zero."""

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

    @abstractmethod
    def broadcast_to(self, x: Buffer, shape: Shape, out_shape: Shape) -> Buffer:
        """Materialises ``x`` broadcast to ``out_shape``."""

    @abstractmethod
    def transpose(self, x: Buffer, shape: Shape, perm: Sequence[int]) -> Buffer:
        """numpy.transpose(x, perm), contiguous."""

    @abstractmethod
    def take_rows(self, x: Buffer, row_len: int, indices: Sequence[int]) -> Buffer:
        """Rows ``indices`` of ``x`` viewed as (n, row_len); negative indices count
        from the end. Both dtypes."""

    @abstractmethod
    def scatter_add_rows(self, g: Buffer, row_len: int, indices: Sequence[int], n_rows: int) -> Buffer:
        """The backward of ``take_rows``: zeros (n_rows, row_len), rows added at ``indices``."""

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
        self, x: Buffer, w: Buffer, y: Buffer, gy: Buffer, rows: int, fin: int, fout: int, activation: str, need_gx: bool
    ) -> tuple[Buffer | None, Buffer, Buffer]:
        """Composite: (gx, gw, gb) of ``dense``."""
        # For relu, sigmoid and tanh op'(x) is a function of y (relu: y > 0 iff x > 0),
        # so y stands in for x.
        gz = gy if activation == "linear" else self.unary_backward(activation, y, y, gy)
        gx = self.matmul(gz, (rows, fout), w, (fin, fout), False, True)[0] if need_gx else None
        gw = self.matmul(x, (rows, fin), gz, (rows, fout), True, False)[0]
        gb = self.sum_to_shape(gz, (rows, fout), (fout,))
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
