"""Elementwise, reduction and shape ops, each with its backward next to its forward.

Every op runs its forward through the tensor's backend and, when gradients are being
recorded and an input requires them, attaches a `Node` whose closure computes the
inputs' gradients with backend kernels (so every device gets gradients for free).
"""

from __future__ import annotations

import builtins as _builtins
import numbers
from typing import Sequence

import numpy as np

from ..autograd import Node, _state
from ..errors import DeviceError, DTypeError, InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor, full

_wrap = Tensor._wrap


def _record(out: Tensor, inputs: tuple, backward) -> Tensor:
    """Attaches a node when recording and some input requires grad.

    A backward closure must not hold ``out`` itself (out -> node -> closure -> out is a
    reference cycle that only the garbage collector frees, late, with its device
    buffers): closures that need the output capture its buffer."""
    if _state.enabled:
        for i in inputs:
            if i is not None and i.requires_grad:
                out.requires_grad = True
                out._node = Node(inputs, backward)
                break
    return out


_scalar_cache: dict = {}
# Set while a step is traced (`ember.compiled`): a cached scalar costs no kernel call and
# a new one costs one, so with the cache two traces of the same step could disagree on
# their calls depending on what ran before. Traced steps make their scalars every time.
_tracing = [False]


def _scalar(value: float, like: Tensor) -> Tensor:
    if _tracing[0]:
        return full((), float(value), "float32", like.device)
    key = (float(value), like.device)
    t = _scalar_cache.get(key)
    if t is None:
        if len(_scalar_cache) > 4096:
            _scalar_cache.clear()
        t = full((), float(value), "float32", like.device)
        _scalar_cache[key] = t
    return t


def _float(t: Tensor) -> Tensor:
    return t if t.dtype == "float32" else cast(t, "float32")


def _pair(a, b) -> tuple[Tensor, Tensor]:
    """Operands as float32 tensors on one device (Python numbers become scalars)."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.device != b.device:
                raise DeviceError(f"operands are on different devices: {a.device!r} and {b.device!r}; move one with .to()")
        elif isinstance(b, numbers.Number):
            b = _scalar(b, a)
        else:
            b = as_tensor(b, device=a.device)
    elif isinstance(b, Tensor):
        a = _scalar(a, b) if isinstance(a, numbers.Number) else as_tensor(a, device=b.device)
    else:
        a, b = as_tensor(a), as_tensor(b)
    if a.dtype != "float32":
        a = cast(a, "float32")
    if b.dtype != "float32":
        b = cast(b, "float32")
    return a, b


# -- elementwise unary ----------------------------------------------------------------------

def _unary(op: str, x, alpha: float | None = None) -> Tensor:
    x = _float(as_tensor(x))
    be = x._backend
    # Only the parametric kernels (leaky_relu, elu) take ``alpha``.
    extra = () if alpha is None else (float(alpha),)
    y = _wrap(be.unary(op, x._buf, *extra), x.shape, "float32", be)
    ybuf = y._buf

    def backward(g):
        return (_wrap(be.unary_backward(op, x._buf, ybuf, g._buf, *extra), x.shape, "float32", be),)

    return _record(y, (x,), backward)


def negative(x): return _unary("neg", x)
def abs(x): return _unary("abs", x)  # noqa: A001
def exp(x): return _unary("exp", x)
def log(x): return _unary("log", x)
def sqrt(x): return _unary("sqrt", x)
def square(x): return _unary("square", x)
def relu(x): return _unary("relu", x)
def rsqrt(x): return _unary("rsqrt", x)
def log1p(x): return _unary("log1p", x)
def expm1(x): return _unary("expm1", x)
def erf(x): return _unary("erf", x)
def floor(x): return _unary("floor", x)
def ceil(x): return _unary("ceil", x)
def sign(x): return _unary("sign", x)
def sigmoid(x): return _unary("sigmoid", x)
def tanh(x): return _unary("tanh", x)


# -- activations (keras.ops names and defaults; one fused kernel each) ---------------------------

def relu6(x):
    """``min(max(x, 0), 6)``; the gradient is 1 on (0, 6) and 0 elsewhere (TensorFlow)."""
    return _unary("relu6", x)


def hard_sigmoid(x):
    """Keras 3's ``relu6(x + 3) / 6`` (not Keras 2's ``0.2 x + 0.5``)."""
    return _unary("hard_sigmoid", x)


def step(x):
    """Heaviside step, 1 for ``x >= 0`` and 0 below, with a zero gradient: Ember's own
    (Keras has no step activation), for perceptrons."""
    return _unary("step", x)


def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x``; the slope is also the gradient at 0."""
    return _unary("leaky_relu", x, _finite("leaky_relu", "negative_slope", negative_slope))


def elu(x, alpha: float = 1.0):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return _unary("elu", x, _finite("elu", "alpha", alpha))


def selu(x):
    """``scale * elu(x, alpha)`` with alpha = 1.67326324, scale = 1.05070099."""
    return _unary("selu", x)


def gelu(x, approximate: bool = True):
    """``x * Phi(x)``; ``approximate=True`` (the ``keras.ops.gelu`` default) uses the tanh
    form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    return _unary("gelu_tanh" if approximate else "gelu", x)


def silu(x):
    """``x * sigmoid(x)``."""
    return _unary("silu", x)


swish = silu


def softplus(x):
    """``log(1 + exp(x))``, computed as ``max(x, 0) + log1p(exp(-|x|))``."""
    return _unary("softplus", x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return _unary("softsign", x)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return _unary("mish", x)


def _finite(op: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise InvalidArgumentError(f"{op}: {name} must be a finite number, got {value!r}")
    return float(value)


# -- elementwise binary ---------------------------------------------------------------------

def _binary(op: str, a, b) -> Tensor:
    a, b = _pair(a, b)
    be = a._backend
    buf, shape = be.binary(op, a._buf, a.shape, b._buf, b.shape)
    out = _wrap(buf, tuple(shape), "float32", be)
    if op in _COMPARISONS:
        return out

    def backward(g):
        ga, gb = be.binary_backward(op, a._buf, a.shape, b._buf, b.shape, g._buf, a.requires_grad, b.requires_grad)
        return (
            None if ga is None else _wrap(ga, a.shape, "float32", be),
            None if gb is None else _wrap(gb, b.shape, "float32", be),
        )

    return _record(out, (a, b), backward)


_COMPARISONS = frozenset(["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"])


def add(a, b): return _binary("add", a, b)
def subtract(a, b): return _binary("sub", a, b)
def multiply(a, b): return _binary("mul", a, b)
def divide(a, b): return _binary("div", a, b)
def power(a, b): return _binary("pow", a, b)
def maximum(a, b): return _binary("maximum", a, b)
def minimum(a, b): return _binary("minimum", a, b)
def equal(a, b): return _binary("equal", a, b)
def not_equal(a, b): return _binary("not_equal", a, b)
def less(a, b): return _binary("less", a, b)
def less_equal(a, b): return _binary("less_equal", a, b)
def greater(a, b): return _binary("greater", a, b)
def greater_equal(a, b): return _binary("greater_equal", a, b)


def clip(x, x_min, x_max) -> Tensor:
    """Clamps to [x_min, x_max]; the gradient passes where x_min <= x <= x_max."""
    return minimum(maximum(x, x_min), x_max)


# -- reductions -------------------------------------------------------------------------------

def _axes(axis, ndim: int, op: str) -> list[int] | None:
    if axis is None:
        return None
    try:
        axes = [axis] if isinstance(axis, (int, np.integer)) else [int(a) for a in axis]
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{op}: axis must be an integer, a tuple of integers or None, got {axis!r}") from None
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise InvalidArgumentError(f"{op}: axis {a} is out of bounds for a tensor of rank {ndim}")
        out.append(a % ndim)
    return sorted(set(out))


def _kept_shape(shape: tuple, axes: list[int] | None) -> tuple:
    return tuple(1 if (axes is None or i in axes) else d for i, d in enumerate(shape))


def _reduce(op: str, x, axis, keepdims: bool) -> Tensor:
    x = _float(as_tensor(x))
    be = x._backend
    axes = _axes(axis, x.ndim, op)
    buf, shape = be.reduce(op, x._buf, x.shape, axes, keepdims)
    y = _wrap(buf, tuple(shape), "float32", be)
    kept = _kept_shape(x.shape, axes)
    ybuf = buf
    count = x.size // _builtins.max(1, int(np.prod(kept))) if x.size else 0

    def backward(g):
        gk = reshape(g, kept)
        if op in ("sum", "mean"):
            gx = _wrap(be.broadcast_to(gk._buf, kept, x.shape), x.shape, "float32", be)
            return (gx if op == "sum" else multiply(gx, 1.0 / _builtins.max(count, 1)),)
        # max / min: split the gradient evenly among the tied extrema (as TF and PyTorch).
        mask = equal(x, _wrap(ybuf, kept, "float32", be))
        ties = _reduce("sum", mask, axes, True)
        return (multiply(mask, divide(gk, ties)),)

    return _record(y, (x,), backward)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("sum", x, axis, keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    return _reduce("mean", x, axis, keepdims)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("min", x, axis, keepdims)


def _arg(op: str, x, axis, keepdims: bool) -> Tensor:
    x = _float(as_tensor(x))
    be = x._backend
    if axis is None:
        x = reshape(x, (x.size,))
        axis = 0
    axes = _axes(axis, x.ndim, op)
    buf, shape = be.reduce(op, x._buf, x.shape, axes, keepdims)
    return _wrap(buf, tuple(shape), "int32", be)


def argmax(x, axis=-1, keepdims: bool = False) -> Tensor:
    """Index of the first maximum along ``axis`` (int32); no gradient."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=-1, keepdims: bool = False) -> Tensor:
    return _arg("argmin", x, axis, keepdims)


# -- shape -------------------------------------------------------------------------------------

def reshape(x, shape) -> Tensor:
    """A tensor sharing ``x``'s memory with a new shape (one -1 is inferred)."""
    x = as_tensor(x)
    try:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"reshape: shape must be a tuple of integers, got {shape!r}") from None
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: can only specify one unknown dimension, got {shape}")
    if -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known *= d
        if known == 0 or x.size % known:
            raise ShapeError(f"reshape: cannot reshape tensor of shape {x.shape} into {shape}")
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    n = 1
    for d in shape:
        if d < 0:
            raise ShapeError(f"reshape: negative dimension in {shape}")
        n *= d
    if n != x.size:
        raise ShapeError(f"reshape: cannot reshape tensor of shape {x.shape} ({x.size} elements) into {shape}")
    if shape == x.shape:
        return x
    y = _wrap(x._buf, shape, x.dtype, x._backend)
    src_shape = x.shape
    return _record(y, (x,), lambda g: (reshape(g, src_shape),))


def transpose(x, axes: Sequence[int] | None = None) -> Tensor:
    """numpy.transpose: reverses the axes by default; any permutation (negative axes
    count from the end). Both dtypes."""
    x = as_tensor(x)
    nd = x.ndim
    if axes is None:
        perm = list(range(nd))[::-1]
    else:
        perm = [int(a) for a in axes]
        if any(not -nd <= a < nd for a in perm):
            raise InvalidArgumentError(f"transpose: axes {tuple(axes)} are out of bounds for a tensor of shape {x.shape}")
        perm = [a % nd for a in perm]
    if sorted(perm) != list(range(nd)):
        raise InvalidArgumentError(f"transpose: axes {axes} are not a permutation of the {nd} axes of shape {x.shape}")
    if perm == list(range(nd)):
        return x
    be = x._backend
    out_shape = tuple(x.shape[p] for p in perm)
    if x.dtype != "float32":
        st = [0] * nd
        acc = 1
        for i in range(nd - 1, -1, -1):
            st[i] = acc
            acc *= x.shape[i]
        return _wrap(be.strided_copy(x._buf, out_shape, [st[p] for p in perm], 0), out_shape, x.dtype, be)
    y = _wrap(be.transpose(x._buf, x.shape, perm), out_shape, "float32", be)
    inv = [int(i) for i in np.argsort(perm)]
    return _record(y, (x,), lambda g: (transpose(g, inv),))


def squeeze(x, axis=None) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        return reshape(x, tuple(d for d in x.shape if d != 1))
    axes = _axes(axis, x.ndim, "squeeze")
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: cannot squeeze axis {a} of size {x.shape[a]} in shape {x.shape}")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def broadcast_to(x, shape) -> Tensor:
    x = _float(as_tensor(x))
    shape = tuple(int(d) for d in shape)
    if shape == x.shape:
        return x
    be = x._backend
    y = _wrap(be.broadcast_to(x._buf, x.shape, shape), shape, "float32", be)
    src = x.shape
    return _record(y, (x,), lambda g: (_wrap(be.sum_to_shape(g._buf, shape, src), src, "float32", be),))


def cast(x, dtype) -> Tensor:
    from ..tensor import normalize_dtype

    x = as_tensor(x)
    dt = normalize_dtype(dtype)
    if dt == x.dtype:
        return x
    y = _wrap(x._backend.cast(x._buf, dt), x.shape, dt, x._backend)
    if dt == "float32":
        return y
    return y


def stop_gradient(x) -> Tensor:
    return as_tensor(x).detach()


# Kept for the ops modules that import them from here; they live in ops/array_ops.py.
def take(x, indices, axis=0) -> Tensor:
    """`ops.array_ops.take` with the leading axis as default (``ops.take`` follows Keras: axis=None)."""
    from .array_ops import take as _take

    return _take(x, indices, axis)


def expand_dims(x, axis) -> Tensor:
    from .array_ops import expand_dims as _expand_dims

    return _expand_dims(x, axis)


def getitem(x, key) -> Tensor:
    from .array_ops import getitem as _getitem

    return _getitem(x, key)


def concatenate(tensors: Sequence, axis: int = 0) -> Tensor:
    from .array_ops import concatenate as _concatenate

    return _concatenate(tensors, axis)


def sum_to(x: Tensor, shape: tuple) -> Tensor:
    """Sums ``x`` down to ``shape`` (undoing a broadcast)."""
    if x.shape == shape:
        return x
    be = x._backend
    return _wrap(be.sum_to_shape(x._buf, x.shape, shape), shape, "float32", be)
