"""More ``keras.ops`` names, as compositions of Ember's differentiable primitives: the
trigonometric and hyperbolic functions, numpy's elementwise and NaN-aware reductions,
quantiles, array building and splitting, segment reductions, the extra activations,
attention, and the crossentropies of ``keras.ops.nn``.

Each is built from ops that run on every device and carry their gradients, so these do
too. Comparisons and predicates return float32 1.0 / 0.0 (Ember has no bool dtype).
``sin``/``cos`` reduce the argument to [-pi/2, pi/2] and evaluate a degree-13 Taylor
polynomial (error below 1e-9 there; float32 range reduction dominates for large |x|);
``arctan`` is Cephes's ``atanf`` (polynomial after reduction to |x| <= tan(pi/8)).

Ops whose output shape depends on the values (``unique``, ``histogram`` without a range,
``bincount`` without ``minlength`` covering the data, ``allclose``) read the values back,
as `nonzero` does.

Example:
    >>> import ember as em
    >>> [round(v, 5) for v in em.ops.sin(em.tensor([0.0, 1.5707964, 3.0])).numpy().tolist()]
    [0.0, 1.0, 0.14112]
"""

from __future__ import annotations

import builtins as _b
import math

import numpy as np

from .._validation import check_axis, check_num_elements, check_int, check_number
from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor, full, ones, zeros
from . import array_ops as array, core
from .nn import log_softmax as _log_softmax
from .nn import matmul as _matmul
from .nn import softmax as _softmax

_PI = math.pi
_A = array  # the module, for functions whose Keras argument is named "array"


def _f(x) -> Tensor:
    return core._float(as_tensor(x))


def _pair(x1, x2):
    return core._pair(x1, x2)


def _where(c, a, b) -> Tensor:
    if isinstance(c, Tensor) and not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = full((), float(a), "float32", c.device)  # both values constants: on the condition's device
    return array.where(c, a, b)


# -- elementwise: trigonometric and hyperbolic ------------------------------------------------

_SIN = [1.0 / math.factorial(k) * (-1) ** (k // 2) for k in range(1, 14, 2)]  # 1, -1/3!, 1/5!, ...


def _sin_reduced(r: Tensor) -> Tensor:
    r2 = core.square(r)
    acc = core.multiply(r2, _SIN[-1])
    for c in reversed(_SIN[1:-1]):
        acc = core.multiply(core.add(acc, c), r2)
    return core.multiply(core.add(acc, 1.0), r)


def sin(x) -> Tensor:
    """Sine, elementwise."""
    x = _f(x)
    r = core.subtract(x, core.multiply(array.round(core.multiply(x, 1 / (2 * _PI))), 2 * _PI))  # [-pi, pi]
    r = _where(core.greater(r, _PI / 2), core.subtract(_PI, r), _where(core.less(r, -_PI / 2), core.subtract(-_PI, r), r))
    return _sin_reduced(r)


def cos(x) -> Tensor:
    """Cosine, elementwise (``sin(x + pi/2)``)."""
    return sin(core.add(_f(x), _PI / 2))


def tan(x) -> Tensor:
    """Tangent, elementwise."""
    return core.divide(sin(x), cos(x))


def arctan(x) -> Tensor:
    """Inverse tangent, elementwise (Cephes ``atanf``)."""
    x = _f(x)
    ax = core.abs(x)
    big = core.greater(ax, 2.414213562373095)
    mid = core.multiply(core.greater(ax, 0.4142135623730950), core.subtract(1.0, big))
    safe = core.maximum(ax, 1e-30)
    t = _where(big, core.divide(-1.0, safe), _where(mid, core.divide(core.subtract(ax, 1.0), core.add(ax, 1.0)), ax))
    base = core.add(core.multiply(big, _PI / 2), core.multiply(mid, _PI / 4))
    z = core.square(t)
    p = core.add(core.multiply(z, 8.05374449538e-2), -1.38776856032e-1)
    p = core.add(core.multiply(p, z), 1.99777106478e-1)
    p = core.add(core.multiply(p, z), -3.33329491539e-1)
    y = core.add(core.add(core.multiply(core.multiply(p, z), t), t), base)
    return core.multiply(y, array.sign(x))


def arcsin(x) -> Tensor:
    """Inverse sine, elementwise (NaN outside [-1, 1])."""
    x = _f(x)
    return arctan(core.divide(x, core.sqrt(core.subtract(1.0, core.square(x)))))


def arccos(x) -> Tensor:
    """Inverse cosine, elementwise."""
    return core.subtract(_PI / 2, arcsin(x))


def arctan2(x1, x2) -> Tensor:
    """The angle of the point ``(x2, x1)``: ``arctan(x1 / x2)`` in the right quadrant."""
    y, x = _pair(x1, x2)
    zero = core.equal(x, 0.0)
    base = arctan(core.divide(y, core.add(x, zero)))
    left = core.add(base, _where(core.greater_equal(y, 0.0), _PI, -_PI))
    return _where(core.greater(x, 0.0), base, _where(core.less(x, 0.0), left, core.multiply(array.sign(y), _PI / 2)))


def sinh(x) -> Tensor:
    """Hyperbolic sine."""
    x = _f(x)
    return core.multiply(core.subtract(core.exp(x), core.exp(core.negative(x))), 0.5)


def cosh(x) -> Tensor:
    """Hyperbolic cosine."""
    x = _f(x)
    return core.multiply(core.add(core.exp(x), core.exp(core.negative(x))), 0.5)


def arcsinh(x) -> Tensor:
    """Inverse hyperbolic sine, ``sign(x) log(|x| + sqrt(x^2 + 1))``."""
    x = _f(x)
    ax = core.abs(x)
    return core.multiply(array.sign(x), core.log(core.add(ax, core.sqrt(core.add(core.square(ax), 1.0)))))


def arccosh(x) -> Tensor:
    """Inverse hyperbolic cosine, ``log(x + sqrt(x^2 - 1))`` (NaN below 1)."""
    x = _f(x)
    return core.log(core.add(x, core.sqrt(core.subtract(core.square(x), 1.0))))


def arctanh(x) -> Tensor:
    """Inverse hyperbolic tangent, ``log((1 + x) / (1 - x)) / 2``."""
    x = _f(x)
    return core.multiply(core.subtract(array.log1p(x), array.log1p(core.negative(x))), 0.5)


def sinc(x) -> Tensor:
    """``sin(pi x) / (pi x)``, 1 at 0."""
    x = _f(x)
    px = core.multiply(x, _PI)
    zero = core.equal(x, 0.0)
    return _where(zero, 1.0, core.divide(sin(px), core.add(px, zero)))


def deg2rad(x) -> Tensor:
    return core.multiply(_f(x), _PI / 180)


def rad2deg(x) -> Tensor:
    return core.multiply(_f(x), 180 / _PI)


# -- elementwise: arithmetic and predicates ---------------------------------------------------

def absolute(x) -> Tensor:
    """``abs`` (numpy's name)."""
    return core.abs(x)


fabs = absolute


def cbrt(x) -> Tensor:
    """Cube root (real, negative for negative x)."""
    x = _f(x)
    return core.multiply(array.sign(x), core.power(core.abs(x), 1.0 / 3.0))


def exp2(x) -> Tensor:
    return core.exp(core.multiply(_f(x), math.log(2.0)))


def log2(x) -> Tensor:
    return core.multiply(core.log(_f(x)), 1 / math.log(2.0))


def log10(x) -> Tensor:
    return core.multiply(core.log(_f(x)), 1 / math.log(10.0))


def erfc(x) -> Tensor:
    """``1 - erf(x)``."""
    return core.subtract(1.0, array.erf(x))


def reciprocal(x) -> Tensor:
    return core.divide(1.0, _f(x))


def true_divide(x1, x2) -> Tensor:
    return core.divide(x1, x2)


def trunc(x) -> Tensor:
    """Rounds toward zero."""
    x = _f(x)
    return core.multiply(array.sign(x), array.floor(core.abs(x)))


def floor_divide(x1, x2) -> Tensor:
    """``floor(x1 / x2)``."""
    return array.floor(core.divide(x1, x2))


def mod(x1, x2) -> Tensor:
    """numpy's remainder: ``x1 - floor(x1 / x2) * x2`` (the sign of ``x2``)."""
    a, b = _pair(x1, x2)
    return core.subtract(a, core.multiply(array.floor(core.divide(a, b)), b))


def fmod(x1, x2) -> Tensor:
    """C's remainder: ``x1 - trunc(x1 / x2) * x2`` (the sign of ``x1``)."""
    a, b = _pair(x1, x2)
    return core.subtract(a, core.multiply(trunc(core.divide(a, b)), b))


def isnan(x) -> Tensor:
    x = _f(x)
    return core.not_equal(x, x)


def isinf(x) -> Tensor:
    return core.equal(core.abs(_f(x)), float("inf"))


def isposinf(x) -> Tensor:
    return core.equal(_f(x), float("inf"))


def isneginf(x) -> Tensor:
    return core.equal(_f(x), float("-inf"))


def isfinite(x) -> Tensor:
    x = _f(x)
    return core.multiply(core.subtract(1.0, isnan(x)), core.subtract(1.0, isinf(x)))


def signbit(x) -> Tensor:
    """1 where the sign bit is set (negative values, and -0.0)."""
    x = _f(x)
    zero = core.equal(x, 0.0)
    return _where(zero, core.less(core.divide(1.0, x), 0.0), core.less(x, 0.0))  # 1 / -0.0 = -inf


def heaviside(x1, x2) -> Tensor:
    """0 for ``x1 < 0``, 1 for ``x1 > 0``, ``x2`` at 0."""
    a, b = _pair(x1, x2)
    return _where(core.less(a, 0.0), 0.0, _where(core.greater(a, 0.0), 1.0, b))


def hypot(x1, x2) -> Tensor:
    a, b = _pair(x1, x2)
    return core.sqrt(core.add(core.square(a), core.square(b)))


def logaddexp(x1, x2) -> Tensor:
    """``log(exp(x1) + exp(x2))``, stably."""
    a, b = _pair(x1, x2)
    m = core.maximum(a, b)
    return core.add(m, array.log1p(core.exp(core.negative(core.abs(core.subtract(a, b))))))


def logaddexp2(x1, x2) -> Tensor:
    """``log2(2**x1 + 2**x2)``."""
    a, b = _pair(x1, x2)
    ln2 = math.log(2.0)
    return core.multiply(logaddexp(core.multiply(a, ln2), core.multiply(b, ln2)), 1 / ln2)


def ldexp(x1, x2) -> Tensor:
    """``x1 * 2 ** x2``."""
    a, b = _pair(x1, x2)
    return core.multiply(a, exp2(b))


def fmax(x1, x2) -> Tensor:
    """Elementwise maximum ignoring NaN (NaN only where both are)."""
    a, b = _pair(x1, x2)
    return _where(isnan(a), b, _where(isnan(b), a, core.maximum(a, b)))


def fmin(x1, x2) -> Tensor:
    """Elementwise minimum ignoring NaN."""
    a, b = _pair(x1, x2)
    return _where(isnan(a), b, _where(isnan(b), a, core.minimum(a, b)))


def _bool(x) -> Tensor:
    return core.not_equal(_f(x), 0.0)


def logical_and(x1, x2) -> Tensor:
    return core.multiply(_bool(x1), _bool(x2))


def logical_or(x1, x2) -> Tensor:
    return core.maximum(_bool(x1), _bool(x2))


def logical_xor(x1, x2) -> Tensor:
    return core.not_equal(_bool(x1), _bool(x2))


def logical_not(x) -> Tensor:
    return core.equal(_f(x), 0.0)


def divide_no_nan(x1, x2) -> Tensor:
    """``x1 / x2``, 0 where ``x2 == 0``."""
    a, b = _pair(x1, x2)
    zero = core.equal(b, 0.0)
    return core.multiply(core.divide(a, core.add(b, zero)), core.subtract(1.0, zero))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf`` (default: float32's largest), -inf -> ``neginf``."""
    x = _f(x)
    big = float(np.finfo(np.float32).max)
    x = _where(isnan(x), float(nan), x)
    x = _where(isposinf(x), big if posinf is None else float(posinf), x)
    return _where(isneginf(x), -big if neginf is None else float(neginf), x)


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False) -> Tensor:
    """``|x1 - x2| <= atol + rtol * |x2|`` elementwise (equal infinities are close)."""
    a, b = _pair(x1, x2)
    close = core.less_equal(core.abs(core.subtract(a, b)), core.add(core.multiply(core.abs(b), rtol), atol))
    close = core.maximum(close, core.multiply(core.equal(a, b), 1.0))
    if equal_nan:
        close = core.maximum(close, core.multiply(isnan(a), isnan(b)))
    return close


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """Whether every element `isclose` (a host readback)."""
    return bool(float(core.min(core.reshape(isclose(x1, x2, rtol, atol, equal_nan), (-1,)))) > 0)


# -- activations ----------------------------------------------------------------------------

def celu(x, alpha=1.0) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    x = _f(x)
    return core.add(core.relu(x), core.minimum(core.multiply(array.expm1(core.divide(x, alpha)), alpha), 0.0))


def glu(x, axis=-1) -> Tensor:
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second."""
    x = _f(x)
    axis = check_axis(axis, x.ndim, "glu")
    if x.shape[axis] % 2:
        raise ShapeError(f"glu: axis {axis} must have an even size, got shape {x.shape}")
    a, b = array.split(x, 2, axis=axis)
    return core.multiply(a, core.sigmoid(b))


def hard_tanh(x) -> Tensor:
    return core.clip(_f(x), -1.0, 1.0)


def hard_shrink(x, threshold=0.5) -> Tensor:
    """``x`` where ``|x| > threshold``, else 0."""
    x = _f(x)
    return core.multiply(x, core.greater(core.abs(x), threshold))


def soft_shrink(x, threshold=0.5) -> Tensor:
    """``x - threshold`` above it, ``x + threshold`` below ``-threshold``, else 0."""
    x = _f(x)
    return core.multiply(array.sign(x), core.relu(core.subtract(core.abs(x), threshold)))


def tanh_shrink(x) -> Tensor:
    x = _f(x)
    return core.subtract(x, core.tanh(x))


def sparse_plus(x) -> Tensor:
    """0 for ``x <= -1``, ``x`` for ``x >= 1``, ``(x + 1)^2 / 4`` between."""
    x = _f(x)
    return _where(core.less_equal(x, -1.0), 0.0, _where(core.greater_equal(x, 1.0), x,
                                                        core.multiply(core.square(core.add(x, 1.0)), 0.25)))


def sparse_sigmoid(x) -> Tensor:
    """0 for ``x <= -1``, 1 for ``x >= 1``, ``(x + 1) / 2`` between."""
    return core.clip(core.multiply(core.add(_f(x), 1.0), 0.5), 0.0, 1.0)


def squareplus(x, b=4) -> Tensor:
    """``(x + sqrt(x^2 + b)) / 2``."""
    b = check_number(b, "b", "squareplus")
    x = _f(x)
    return core.multiply(core.add(x, core.sqrt(core.add(core.square(x), b))), 0.5)


def threshold(x, threshold, default_value) -> Tensor:
    """``x`` where ``x > threshold``, else ``default_value`` (both numbers)."""
    threshold = check_number(threshold, "threshold", "threshold", finite=False)
    default_value = check_number(default_value, "default_value", "threshold", finite=False)
    x = _f(x)
    return _where(core.greater(x, threshold), x, default_value)


def hard_silu(x) -> Tensor:
    """``x * hard_sigmoid(x)`` (hard swish)."""
    x = _f(x)
    return core.multiply(x, core.hard_sigmoid(x))


hard_swish = hard_silu


def log_sigmoid(x) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return core.negative(core.softplus(core.negative(_f(x))))


def sparsemax(x, axis=-1) -> Tensor:
    """The Euclidean projection of ``x`` onto the probability simplex along ``axis``
    (Martins & Astudillo 2016)."""
    x = _f(x)
    ax = check_axis(axis, x.ndim, "sparsemax")
    z = array.flip(array.sort(x, axis=ax), axis=ax)  # descending
    k = x.shape[ax]
    shape = [1] * x.ndim
    shape[ax] = k
    ks = Tensor(np.arange(1, k + 1, dtype=np.float32).reshape(shape), device=x.device)
    cs = array.cumsum(z, axis=ax)
    support = core.greater(core.add(core.multiply(z, ks), 1.0), cs)
    kz = core.sum(support, axis=ax, keepdims=True)
    cz = core.sum(core.multiply(support, z), axis=ax, keepdims=True)  # the support is a prefix of the sorted values
    tau = core.divide(core.subtract(cz, 1.0), kz)
    return core.relu(core.subtract(x, tau))


# -- reductions -------------------------------------------------------------------------------

def amax(x, axis=None, keepdims=False) -> Tensor:
    return core.max(x, axis=axis, keepdims=keepdims)


def amin(x, axis=None, keepdims=False) -> Tensor:
    return core.min(x, axis=axis, keepdims=keepdims)


def ptp(x, axis=None, keepdims=False) -> Tensor:
    """``max - min`` along ``axis``."""
    return core.subtract(core.max(x, axis=axis, keepdims=keepdims), core.min(x, axis=axis, keepdims=keepdims))


def average(x, axis=None, weights=None) -> Tensor:
    """The (weighted) mean along ``axis``; 1-D ``weights`` apply along ``axis``."""
    x = _f(x)
    if weights is None:
        return core.mean(x, axis=axis)
    w = _f(as_tensor(weights, device=x.device))
    if w.ndim == 1 and x.ndim > 1 and axis is not None:
        shape = [1] * x.ndim
        shape[check_axis(axis, x.ndim, "average")] = w.shape[0]
        w = core.reshape(w, tuple(shape))
    w = core.broadcast_to(w, x.shape) if w.shape != x.shape else w
    return core.divide(core.sum(core.multiply(x, w), axis=axis), core.sum(w, axis=axis))


def count_nonzero(x, axis=None) -> Tensor:
    """The number of nonzero values along ``axis`` (int32)."""
    return core.cast(core.sum(core.not_equal(_f(x), 0.0), axis=axis), "int32")


def _nan_filled(x, value) -> Tensor:
    x = _f(x)
    return _where(isnan(x), value, x)


def nansum(x, axis=None, keepdims=False) -> Tensor:
    return core.sum(_nan_filled(x, 0.0), axis=axis, keepdims=keepdims)


def nanprod(x, axis=None, keepdims=False) -> Tensor:
    return array.prod(_nan_filled(x, 1.0), axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False) -> Tensor:
    x = _f(x)
    n = core.sum(core.subtract(1.0, isnan(x)), axis=axis, keepdims=keepdims)
    return core.divide(nansum(x, axis, keepdims), n)


def nanvar(x, axis=None, keepdims=False) -> Tensor:
    x = _f(x)
    m = nanmean(x, axis, True)
    n = core.sum(core.subtract(1.0, isnan(x)), axis=axis, keepdims=keepdims)
    return core.divide(nansum(core.square(core.subtract(x, m)), axis, keepdims), n)


def nanstd(x, axis=None, keepdims=False) -> Tensor:
    return core.sqrt(nanvar(x, axis, keepdims))


def _all_nan(x, axis, keepdims) -> Tensor:
    return core.min(isnan(x), axis=axis, keepdims=keepdims)


def nanmax(x, axis=None, keepdims=False) -> Tensor:
    """The maximum ignoring NaN (NaN where every value is)."""
    x = _f(x)
    m = core.max(_nan_filled(x, float("-inf")), axis=axis, keepdims=keepdims)
    return _where(_all_nan(x, axis, keepdims), float("nan"), m)


def nanmin(x, axis=None, keepdims=False) -> Tensor:
    x = _f(x)
    m = core.min(_nan_filled(x, float("inf")), axis=axis, keepdims=keepdims)
    return _where(_all_nan(x, axis, keepdims), float("nan"), m)


def nanargmax(x, axis=None, keepdims=False) -> Tensor:
    x = _f(x)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    return core.argmax(_nan_filled(x, float("-inf")), axis, keepdims)


def nanargmin(x, axis=None, keepdims=False) -> Tensor:
    x = _f(x)
    if axis is None:
        x, axis = core.reshape(x, (-1,)), 0
    return core.argmin(_nan_filled(x, float("inf")), axis, keepdims)


def nancumsum(x, axis=None, dtype=None) -> Tensor:
    return array.cumsum(_nan_filled(x, 0.0), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None) -> Tensor:
    return array.cumprod(_nan_filled(x, 1.0), axis=axis, dtype=dtype)


def quantile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """The ``q``-th quantiles (q in [0, 1], a number or a 1-D list: a leading axis) along
    ``axis``, numpy's methods ``linear``, ``lower``, ``higher``, ``midpoint``, ``nearest``."""
    x = _f(x)
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise InvalidArgumentError(f"quantile: method must be linear, lower, higher, midpoint or nearest, got {method!r}")
    qs = np.asarray(q.numpy() if isinstance(q, Tensor) else q, np.float64)
    if np.any((qs < 0) | (qs > 1)):
        raise InvalidArgumentError(f"quantile: q must lie in [0, 1], got {q!r}")
    if axis is None:
        src, ax = core.reshape(x, (-1,)), 0
    else:
        src, ax = x, check_axis(axis, x.ndim, "quantile")
    s = array.sort(src, axis=ax)
    n = s.shape[ax]
    outs = []
    for qv in np.atleast_1d(qs):
        pos = qv * (n - 1)
        lo, hi = int(math.floor(pos)), int(math.ceil(pos))
        frac = pos - lo
        if method == "lower":
            hi, frac = lo, 0.0
        elif method == "higher":
            lo, frac = hi, 0.0
        elif method == "midpoint":
            frac = 0.5 if hi != lo else 0.0
        elif method == "nearest":
            lo = hi = int(np.round(pos))  # numpy rounds half to even
            frac = 0.0
        a = array.take(s, [lo], axis=ax)
        b = array.take(s, [hi], axis=ax)
        v = core.add(a, core.multiply(core.subtract(b, a), frac)) if frac else a
        if not keepdims:
            v = core.squeeze(v, ax)
        elif axis is None:
            v = core.reshape(v, (1,) * x.ndim)
        outs.append(v)
    return outs[0] if qs.ndim == 0 else array.stack(outs, axis=0)


def percentile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """`quantile` with ``q`` in percent."""
    qs = np.asarray(q.numpy() if isinstance(q, Tensor) else q, np.float64) / 100.0
    return quantile(x, qs, axis=axis, method=method, keepdims=keepdims)


def median(x, axis=None, keepdims=False) -> Tensor:
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def trapezoid(y, x=None, dx=1.0, axis=-1) -> Tensor:
    """The trapezoidal rule along ``axis``."""
    y = _f(y)
    ax = check_axis(axis, y.ndim, "trapezoid")
    n = y.shape[ax]
    a = array.take(y, list(range(1, n)), axis=ax)
    b = array.take(y, list(range(n - 1)), axis=ax)
    mid = core.multiply(core.add(a, b), 0.5)
    if x is None:
        return core.multiply(core.sum(mid, axis=ax), check_number(dx, "dx", "trapezoid"))
    xv = _f(as_tensor(x, device=y.device))
    d = diff(xv, axis=-1 if xv.ndim == 1 else ax)
    if xv.ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[ax] = n - 1
        d = core.reshape(d, tuple(shape))
    return core.sum(core.multiply(mid, d), axis=ax)


# -- building, splitting, reshaping ---------------------------------------------------------

def copy(x) -> Tensor:
    """A new tensor with the values of ``x`` (gradients pass through)."""
    x = as_tensor(x)
    if x.dtype == "float32":
        return core.multiply(x, 1.0)
    be = x._backend
    return Tensor._wrap(be.copy(x._buf), x.shape, x.dtype, be)


def empty(shape, dtype=None) -> Tensor:
    """A tensor of ``shape`` (zeros: Ember does not hand out uninitialized memory)."""
    return zeros(shape, dtype or "float32")


def empty_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return zeros(x.shape, dtype or x.dtype, x.device)


def identity(n, dtype=None) -> Tensor:
    return array.eye(n, dtype=dtype or "float32")


def tri(N, M=None, k=0, dtype=None) -> Tensor:
    """Ones at and below the ``k``-th diagonal of an ``N x M`` matrix."""
    return array.tril(ones((N, N if M is None else M), dtype or "float32"), k)


def _num(num, op: str) -> int:
    num = check_int(num, "num", op, minimum=0)
    check_num_elements(num, op, "a range")
    return num


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values (numpy's ``linspace``; scalar or array ends)."""
    vals = np.linspace(np.asarray(start, np.float64), np.asarray(stop, np.float64), _num(num, "linspace"),
                       endpoint=endpoint, retstep=retstep, axis=axis)
    if retstep:
        return Tensor(vals[0].astype(np.float32)), float(vals[1])
    return Tensor(vals.astype(np.float32), dtype=dtype)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0) -> Tensor:
    vals = np.logspace(start, stop, _num(num, "logspace"), endpoint=endpoint, base=base, axis=axis)
    return Tensor(vals.astype(np.float32), dtype=dtype)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0) -> Tensor:
    vals = np.geomspace(start, stop, _num(num, "geomspace"), endpoint=endpoint, axis=axis)
    return Tensor(vals.astype(np.float32), dtype=dtype)


def _window(fn, x, op: str) -> Tensor:
    """numpy's window ``fn`` of length ``x`` (an integer, or a one-element integer tensor)."""
    if isinstance(x, Tensor) and x.size == 1 and x.dtype == "int32":
        x = int(x.item())
    n = check_int(x, "the window length x", op)
    check_num_elements(n, op, "a window")
    return Tensor(fn(n).astype(np.float32))


def bartlett(x) -> Tensor:
    """The Bartlett window of length ``x``."""
    return _window(np.bartlett, x, "bartlett")


def blackman(x) -> Tensor:
    return _window(np.blackman, x, "blackman")


def hamming(x) -> Tensor:
    return _window(np.hamming, x, "hamming")


def hanning(x) -> Tensor:
    return _window(np.hanning, x, "hanning")


def kaiser(x, beta) -> Tensor:
    beta = check_number(beta, "beta", "kaiser")
    return _window(lambda n: np.kaiser(n, beta), x, "kaiser")


def ndim(x) -> int:
    return as_tensor(x).ndim


def size(x) -> int:
    return as_tensor(x).size


def ravel(x) -> Tensor:
    return core.reshape(as_tensor(x), (-1,))


def append(x1, x2, axis=None) -> Tensor:
    """``x2`` appended to ``x1`` along ``axis`` (both flattened when None)."""
    a, b = as_tensor(x1), as_tensor(x2)
    if axis is None:
        a, b = ravel(a), ravel(b)
        axis = 0
    return array.concatenate([a, b], axis=axis)


def array_split(x, indices_or_sections, axis=0) -> list:
    """Like `split`, but ``n`` sections need not divide the axis (the first ones are one
    longer)."""
    x = as_tensor(x)
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        if x.ndim == 0:
            raise ShapeError("array_split: cannot split a 0-d tensor")
        n = x.shape[check_axis(axis, x.ndim, "array_split")]
        k = int(indices_or_sections)
        if k < 1:
            raise InvalidArgumentError(f"array_split: the number of sections must be >= 1, got {k}")
        array.check_sections(k, n, "array_split")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        cuts = list(np.cumsum(sizes)[:-1])
        return array.split(x, cuts, axis=axis)
    return array.split(x, indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections) -> list:
    x = as_tensor(x)
    return array.split(x, indices_or_sections, axis=1 if x.ndim > 1 else 0)


def vsplit(x, indices_or_sections) -> list:
    return array.split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections) -> list:
    return array.split(x, indices_or_sections, axis=2)


def _atleast(x, n: int) -> Tensor:
    x = as_tensor(x)
    if x.ndim >= n:
        return x
    if n == 2:
        return core.reshape(x, (1, -1) if x.ndim == 1 else (1, 1))
    if x.ndim == 2:
        return core.reshape(x, x.shape + (1,))
    return core.reshape(x, (1, x.size, 1) if x.ndim == 1 else (1, 1, 1))


def hstack(xs) -> Tensor:
    xs = [as_tensor(x) for x in xs]
    return array.concatenate(xs, axis=0 if xs[0].ndim == 1 else 1)


def vstack(xs) -> Tensor:
    return array.concatenate([_atleast(x, 2) for x in xs], axis=0)


def dstack(xs) -> Tensor:
    return array.concatenate([_atleast(x, 3) for x in xs], axis=2)


def fliplr(x) -> Tensor:
    return array.flip(x, axis=1)


def flipud(x) -> Tensor:
    return array.flip(x, axis=0)


def rot90(array, k=1, axes=(0, 1)) -> Tensor:  # noqa: F811 - keras.ops's argument name
    """Rotates by 90 degrees ``k`` times in the plane of ``axes`` (numpy's direction)."""
    x = as_tensor(array)
    k %= 4
    a0, a1 = axes
    for _ in range(k):
        x = _A.swapaxes(_A.flip(x, axis=a1), a0, a1)
    return x


def diagonal(x, offset=0, axis1=0, axis2=1) -> Tensor:
    """The diagonal ``offset`` of the ``axis1, axis2`` planes, as the last axis."""
    x = as_tensor(x)
    a1, a2 = check_axis(axis1, x.ndim, "diagonal", "axis1"), check_axis(axis2, x.ndim, "diagonal", "axis2")
    if a1 == a2:
        raise InvalidArgumentError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    offset = check_int(offset, "offset", "diagonal")
    x = array.moveaxis(x, [a1, a2], [-2, -1])
    n, m = x.shape[-2], x.shape[-1]
    rows = [i for i in range(n) if 0 <= i + offset < m]
    if not rows:
        return zeros(x.shape[:-2] + (0,), x.dtype, x.device)
    flat = core.reshape(x, x.shape[:-2] + (n * m,))
    return array.take(flat, [i * m + i + offset for i in rows], axis=-1)


def trace(x, offset=0, axis1=0, axis2=1) -> Tensor:
    return core.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(x, k=0) -> Tensor:
    """A 1-D ``x``: the matrix with ``x`` on diagonal ``k``; a 2-D ``x``: its diagonal ``k``."""
    x = as_tensor(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ShapeError(f"diag: expected a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0] + abs(k)
    pads = [(0, abs(k))]  # v[i] sits in row i (k >= 0) or column i (k < 0)
    eye = Tensor(np.eye(n, n, k, dtype=np.float32), device=x.device)
    col = array.pad(core._float(x), pads)  # the values, indexed by row (k >= 0) or column
    return core.multiply(eye, core.reshape(col, (n, 1)) if k >= 0 else core.reshape(col, (1, n)))


def diagflat(x, k=0) -> Tensor:
    return diag(ravel(x), k)


def diff(a, n=1, axis=-1) -> Tensor:
    """The ``n``-th discrete difference along ``axis``."""
    x = as_tensor(a)
    ax = check_axis(axis, x.ndim, "diff")
    n = check_int(n, "n", "diff", minimum=0)
    for _ in range(n):
        if x.shape[ax] == 0:
            break
        m = x.shape[ax]
        x = core.subtract(array.take(x, list(range(1, m)), axis=ax), array.take(x, list(range(m - 1)), axis=ax))
    return x


def outer(x1, x2) -> Tensor:
    a, b = _pair(x1, x2)
    return core.multiply(core.reshape(a, (-1, 1)), core.reshape(b, (1, -1)))


def inner(x1, x2) -> Tensor:
    """Sum product over the last axes."""
    a, b = _pair(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return core.multiply(a, b)
    return array.tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 1]))


def vdot(x1, x2) -> Tensor:
    a, b = _pair(x1, x2)
    return core.sum(core.multiply(ravel(a), ravel(b)))


def kron(x1, x2) -> Tensor:
    """The Kronecker product."""
    a, b = _pair(x1, x2)
    nd = _b.max(a.ndim, b.ndim)
    a = core.reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = core.reshape(b, (1,) * (nd - b.ndim) + b.shape)
    ea = core.reshape(a, tuple(v for d in a.shape for v in (d, 1)))
    eb = core.reshape(b, tuple(v for d in b.shape for v in (1, d)))
    return core.reshape(core.multiply(ea, eb), tuple(p * q for p, q in zip(a.shape, b.shape)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None) -> Tensor:
    """The cross product of 3-vectors (2-vectors are padded with a zero z)."""
    a, b = _pair(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = array.moveaxis(a, axisa, -1), array.moveaxis(b, axisb, -1)
    if a.shape[-1] == 2:
        a = array.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, 1)])
    if b.shape[-1] == 2:
        b = array.pad(b, [(0, 0)] * (b.ndim - 1) + [(0, 1)])
    a0, a1, a2 = array.split(a, 3, axis=-1)
    b0, b1, b2 = array.split(b, 3, axis=-1)
    c = array.concatenate([core.subtract(core.multiply(a1, b2), core.multiply(a2, b1)),
                           core.subtract(core.multiply(a2, b0), core.multiply(a0, b2)),
                           core.subtract(core.multiply(a0, b1), core.multiply(a1, b0))], axis=-1)
    return array.moveaxis(c, -1, axisc)


def unstack(x, num=None, axis=0) -> list:
    x = as_tensor(x)
    n = x.shape[axis]
    if num is not None and num != n:
        raise ShapeError(f"unstack: num={num} does not match axis {axis} of size {n}")
    return [core.squeeze(p, axis) for p in array.split(x, n, axis=axis)]


def vander(x, N=None, increasing=False) -> Tensor:
    """The Vandermonde matrix of a 1-D ``x``: columns ``x ** (N - 1) ... x ** 0``."""
    x = _f(x)
    n = x.shape[0] if N is None else int(N)
    powers = np.arange(n, dtype=np.float32) if increasing else np.arange(n - 1, -1, -1, dtype=np.float32)
    return core.power(core.reshape(x, (-1, 1)), Tensor(powers.reshape(1, -1), device=x.device))


def select(condlist, choicelist, default=0) -> Tensor:
    """The first choice whose condition holds, elementwise (``default`` where none does)."""
    if len(condlist) != len(choicelist):
        raise InvalidArgumentError("select: condlist and choicelist must have the same length")
    out = _f(default) if isinstance(default, Tensor) else float(default)
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = _where(c, v, out)
    return out if isinstance(out, Tensor) else as_tensor(np.float32(out))


def searchsorted(sorted_sequence, values, side="left") -> Tensor:
    """Insertion indices of ``values`` into the 1-D ``sorted_sequence`` (int32)."""
    s, v = _pair(sorted_sequence, values)
    if side not in ("left", "right"):
        raise InvalidArgumentError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    cmp = core.less if side == "left" else core.less_equal
    return core.cast(core.sum(cmp(core.reshape(s, (1,) * v.ndim + (-1,)), array.expand_dims(v, -1)), axis=-1), "int32")


def digitize(x, bins) -> Tensor:
    """The bin of each value: ``i`` with ``bins[i-1] <= x < bins[i]`` (increasing bins)."""
    return searchsorted(bins, x, side="right")


def in_top_k(targets, predictions, k) -> Tensor:
    """1 where the target class's score is among the ``k`` largest of its row."""
    from ..metrics import _in_top_k

    p = _f(predictions)
    return _in_top_k(p, as_tensor(targets, device=p.device), int(k))


def get_item(x, key) -> Tensor:
    return array.getitem(x, key)


def slice(inputs, start_indices, shape) -> Tensor:  # noqa: A001 - keras.ops name
    """The block of ``shape`` starting at ``start_indices``."""
    x = as_tensor(inputs)
    starts = [int(s) for s in (start_indices.numpy() if isinstance(start_indices, Tensor) else start_indices)]
    return array.getitem(x, tuple(_b.slice(s, s + int(n)) for s, n in zip(starts, shape)))


def slice_update(inputs, start_indices, updates) -> Tensor:
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``."""
    x = as_tensor(inputs)
    u = as_tensor(updates, device=x.device)
    starts = [int(s) for s in (start_indices.numpy() if isinstance(start_indices, Tensor) else start_indices)]
    pads = [(s, d - s - n) for s, n, d in zip(starts, u.shape, x.shape)]
    if any(p < 0 or q < 0 for p, q in pads):
        raise ShapeError(f"slice_update: updates of shape {u.shape} at {starts} do not fit in shape {x.shape}")
    mask = array.pad(ones(u.shape, "float32", x.device), pads)
    placed = array.pad(core._float(u), pads)
    out = core.add(core.multiply(core._float(x), core.subtract(1.0, mask)), placed)
    return core.cast(out, "int32") if x.dtype == "int32" else out


def _linear_indices(indices, shape, device) -> tuple[Tensor, int]:
    idx = as_tensor(indices, device=device)
    if idx.ndim == 1:
        idx = core.reshape(idx, (-1, 1))
    r = idx.shape[-1]
    strides = np.cumprod((list(shape[1:r]) + [1])[::-1])[::-1].astype(np.float32)
    lin = core.sum(core.multiply(core._float(idx), Tensor(strides.copy(), device=device)), axis=-1)
    return lin, int(np.prod(shape[:r]))


def scatter(indices, values, shape) -> Tensor:
    """Zeros of ``shape`` with ``values`` added at ``indices`` (rows of coordinates into the
    leading axes; repeated indices accumulate, as Keras's)."""
    v = _f(values)
    shape = tuple(int(d) for d in shape)
    lin, n = _linear_indices(indices, shape, v.device)
    onehot = core.equal(core.reshape(lin, (-1, 1)), Tensor(np.arange(n, dtype=np.float32).reshape(1, -1), device=v.device))
    flat = core.reshape(v, (lin.shape[0], -1))
    return core.reshape(_matmul(core.transpose(onehot), flat), shape)


def scatter_update(inputs, indices, updates, reduction=None) -> Tensor:
    """``inputs`` with the entries at ``indices`` set to ``updates`` (``reduction`` None),
    or combined with them (``"add"``, ``"max"``, ``"min"``, ``"mul"``)."""
    x = _f(inputs)
    u = _f(as_tensor(updates, device=x.device))
    lin, n = _linear_indices(indices, x.shape, x.device)
    onehot = core.equal(core.reshape(lin, (-1, 1)), Tensor(np.arange(n, dtype=np.float32).reshape(1, -1), device=x.device))
    flat_u = core.reshape(u, (lin.shape[0], -1))
    flat_x = core.reshape(x, (n, -1))
    hit = core.minimum(core.sum(onehot, axis=0), 1.0)
    hit = core.reshape(hit, (n, 1))
    if reduction is None or reduction == "add":
        summed = _matmul(core.transpose(onehot), flat_u)
        out = core.add(core.multiply(flat_x, core.subtract(1.0, hit)), summed) if reduction is None else \
            core.add(flat_x, summed)
    elif reduction in ("max", "min", "mul"):
        fill = {"max": float("-inf"), "min": float("inf"), "mul": 1.0}[reduction]
        e = array.expand_dims(onehot, -1)  # (K, n, 1)
        vals = _where(e, array.expand_dims(flat_u, 1), fill)
        comb = {"max": core.max, "min": core.min}.get(reduction)
        red = comb(vals, axis=0) if comb is not None else array.prod(vals, axis=0)
        op = {"max": core.maximum, "min": core.minimum, "mul": core.multiply}[reduction]
        out = op(flat_x, red)
    else:
        raise InvalidArgumentError(f"scatter_update: reduction must be None, 'add', 'max', 'min' or 'mul', got {reduction!r}")
    return core.reshape(out, x.shape)


def _segments(data, segment_ids, num_segments):
    d = _f(data)
    ids = as_tensor(segment_ids, device=d.device)
    if num_segments is None:
        num_segments = int(core.max(core._float(ids)).item()) + 1
    k = int(num_segments)
    onehot = core.equal(core.reshape(core._float(ids), (-1, 1)), Tensor(np.arange(k, dtype=np.float32).reshape(1, -1),
                                                                       device=d.device))
    return d, onehot, k


def segment_sum(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    """Sums of the rows of ``data`` per segment id."""
    d, onehot, k = _segments(data, segment_ids, num_segments)
    flat = core.reshape(d, (d.shape[0], -1))
    return core.reshape(_matmul(core.transpose(onehot), flat), (k,) + d.shape[1:])


def _segment_reduce(data, segment_ids, num_segments, fill, reduce) -> Tensor:
    d, onehot, k = _segments(data, segment_ids, num_segments)
    flat = core.reshape(d, (d.shape[0], 1, -1))
    vals = _where(array.expand_dims(onehot, -1), flat, fill)
    return core.reshape(reduce(vals), (k,) + d.shape[1:])


def segment_max(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    """Maxima per segment (-inf for an empty segment)."""
    return _segment_reduce(data, segment_ids, num_segments, float("-inf"), lambda v: core.max(v, axis=0))


def segment_min(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    return _segment_reduce(data, segment_ids, num_segments, float("inf"), lambda v: core.min(v, axis=0))


def segment_prod(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    return _segment_reduce(data, segment_ids, num_segments, 1.0, lambda v: array.prod(v, axis=0))


def bincount(x, weights=None, minlength=0, sparse=False) -> Tensor:
    """Counts (or summed ``weights``) of each non-negative integer of a 1-D ``x``; the
    length is ``max(x) + 1`` (a readback) or ``minlength``, the larger."""
    if sparse:
        raise NotImplementedError("bincount: sparse=True is not supported")
    v = as_tensor(x)
    n = _b.max(int(core.max(core._float(v)).item()) + 1 if v.size else 0, int(minlength))
    onehot = core.equal(core.reshape(core._float(v), (-1, 1)), Tensor(np.arange(n, dtype=np.float32).reshape(1, -1),
                                                                     device=v.device))
    if weights is None:
        return core.cast(core.sum(onehot, axis=0), "int32")
    w = _f(as_tensor(weights, device=v.device))
    return core.reshape(_matmul(core.reshape(w, (1, -1)), onehot), (n,))


def histogram(x, bins=10, range=None):  # noqa: A002 - numpy's name
    """``(counts, edges)`` of the values of ``x`` in ``bins`` equal bins over ``range``
    (default: the data's min and max, read back)."""
    v = core.reshape(_f(x), (-1,))
    if range is None:
        lo, hi = float(core.min(v).item()), float(core.max(v).item())
    else:
        lo, hi = float(range[0]), float(range[1])
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, int(bins) + 1)
    e = Tensor(edges.astype(np.float32), device=v.device)
    idx = core.sum(core.less_equal(core.reshape(e[1:-1], (1, -1)), core.reshape(v, (-1, 1))), axis=-1)
    inside = core.multiply(core.greater_equal(v, lo), core.less_equal(v, hi))
    onehot = core.equal(core.reshape(idx, (-1, 1)), Tensor(np.arange(int(bins), dtype=np.float32).reshape(1, -1),
                                                          device=v.device))
    counts = core.sum(core.multiply(onehot, core.reshape(inside, (-1, 1))), axis=0)
    return counts, e


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None, size=None,  # noqa: A002
           fill_value=None):
    """numpy's ``unique`` (a readback: the output's length depends on the values). With
    ``size``, the result is padded with ``fill_value`` (default: the smallest value) or cut."""
    t = as_tensor(x)
    res = np.unique(t.numpy(), return_index=return_index, return_inverse=return_inverse, return_counts=return_counts,
                    axis=axis)
    res = res if isinstance(res, tuple) else (res,)
    vals = res[0]
    if size is not None:
        fill = vals.min() if fill_value is None and vals.size else (fill_value or 0)
        vals = np.concatenate([vals, np.full((_b.max(0, size - len(vals)),) + vals.shape[1:], fill, vals.dtype)])[:size]
    out = [Tensor(vals, device=t.device)] + [Tensor(r.astype(np.int32), dtype="int32", device=t.device) for r in res[1:]]
    return out[0] if len(out) == 1 else tuple(out)


def argpartition(x, kth, axis=-1) -> Tensor:
    """Indices that partition ``x`` around its ``kth`` element (a full argsort satisfies it)."""
    return array.argsort(x, axis=axis)


def correlate(x1, x2, mode="valid") -> Tensor:
    """Cross-correlation of two 1-D tensors (numpy's ``correlate``: valid, same, full)."""
    a, v = _pair(x1, x2)
    if a.ndim != 1 or v.ndim != 1:
        raise ShapeError(f"correlate: expected 1-D tensors, got shapes {a.shape} and {v.shape}")
    n, m = a.shape[0], v.shape[0]
    if n < m:
        a, v = v, a
        n, m = m, n
        flip = True
    else:
        flip = False
    pad = {"valid": (0, 0), "same": (m // 2, m - 1 - m // 2), "full": (m - 1, m - 1)}.get(mode)
    if pad is None:
        raise InvalidArgumentError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    ap = array.pad(a, [pad])
    k = ap.shape[0] - m + 1
    idx = (np.arange(k)[:, None] + np.arange(m)[None, :]).reshape(-1).tolist()
    win = core.reshape(array.take(ap, idx), (k, m))
    out = core.reshape(_matmul(win, core.reshape(v, (m, 1))), (k,))
    return array.flip(out, axis=0) if flip else out


def cdist(x, y) -> Tensor:
    """Euclidean distances between the rows of ``x`` (..., P, M) and ``y`` (..., R, M)."""
    a, b = _pair(x, y)
    d = core.subtract(array.expand_dims(a, -2), array.expand_dims(b, -3))
    return core.sqrt(core.sum(core.square(d), axis=-1))


# -- nn ---------------------------------------------------------------------------------------

_EPS = 1e-7


def binary_crossentropy(target, output, from_logits=False) -> Tensor:
    """Elementwise binary crossentropy (``keras.ops.binary_crossentropy``: no mean)."""
    t, o = _pair(target, output)
    if from_logits:
        # max(z, 0) - z * t + log(1 + exp(-|z|))
        return core.add(core.subtract(core.relu(o), core.multiply(o, t)), array.log1p(core.exp(core.negative(core.abs(o)))))
    o = core.clip(o, _EPS, 1.0 - _EPS)
    return core.negative(core.add(core.multiply(t, core.log(o)),
                                  core.multiply(core.subtract(1.0, t), core.log(core.subtract(1.0, o)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """``-sum(target * log(output))`` along ``axis`` (``output`` renormalized, as Keras)."""
    t, o = _pair(target, output)
    if t.shape != o.shape:
        raise ShapeError(f"categorical_crossentropy: target {t.shape} and output {o.shape} must have one shape")
    if from_logits:
        logp = _log_softmax(o, axis=axis)
    else:
        o = core.divide(o, core.sum(o, axis=axis, keepdims=True))
        logp = core.log(core.clip(o, _EPS, 1.0 - _EPS))
    return core.negative(core.sum(core.multiply(t, logp), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """`categorical_crossentropy` with integer class ids."""
    o = _f(output)
    t = as_tensor(target, device=o.device)
    if t.ndim == o.ndim and t.shape[-1] == 1:
        t = core.squeeze(t, -1)
    onehot = array.one_hot(core.cast(t, "int32"), o.shape[axis], axis=axis)
    return categorical_crossentropy(onehot, o, from_logits=from_logits, axis=axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs) -> Tensor:
    """1 at every class id listed in each row of ``inputs`` (batch, ids)."""
    if sparse:
        raise NotImplementedError("multi_hot: sparse=True is not supported")
    num_classes = kwargs.pop("num_tokens", num_classes)
    if kwargs:
        raise InvalidArgumentError(f"multi_hot: unexpected arguments {sorted(kwargs)}")
    if num_classes is None:
        raise InvalidArgumentError("multi_hot: num_classes is required")
    x = as_tensor(inputs)
    oh = array.one_hot(core.cast(x, "int32"), int(num_classes))
    out = core.max(oh, axis=-2) if x.ndim > 1 else core.max(oh, axis=0)
    return array.moveaxis(out, -1, axis) if axis != -1 else out


def normalize(x, axis=-1, order=2, epsilon=None) -> Tensor:
    """``x`` divided by its ``order``-norm along ``axis`` (Keras: the L2 case as ``x *
    min(rsqrt(sum(x^2)), 1 / epsilon)``)."""
    x = _f(x)
    eps = _EPS if epsilon is None else float(epsilon)
    if order == 2:
        inv = core.minimum(array.rsqrt(core.sum(core.square(x), axis=axis, keepdims=True)), 1.0 / eps)
        return core.multiply(x, inv)
    n = array.norm(x, ord=order, axis=axis, keepdims=True)
    return core.divide(x, core.maximum(n, eps))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs) -> Tensor:
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` over ``axis`` (Keras's
    ``ops.layer_normalization``; ``rms_scaling`` in kwargs is not supported)."""
    if kwargs.get("rms_scaling"):
        raise NotImplementedError("layer_normalization: rms_scaling=True is not supported; use rms_normalization")
    x = _f(x)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    axes = tuple(check_axis(a, x.ndim, "layer_normalization") for a in axes)
    eps = 1e-3 if epsilon is None else check_number(epsilon, "epsilon", "layer_normalization")
    m = core.mean(x, axis=axes, keepdims=True)
    v = core.mean(core.square(core.subtract(x, m)), axis=axes, keepdims=True)
    y = core.multiply(core.subtract(x, m), array.rsqrt(core.add(v, eps)))
    if gamma is not None:
        y = core.multiply(y, gamma)
    if beta is not None:
        y = core.add(y, beta)
    return y


def rms_normalization(x, scale=None, axis=-1, epsilon=None) -> Tensor:
    """``x * rsqrt(mean(x^2, axis) + epsilon) * scale``."""
    x = _f(x)
    eps = _EPS if epsilon is None else float(epsilon)
    y = core.multiply(x, array.rsqrt(core.add(core.mean(core.square(x), axis=axis, keepdims=True), eps)))
    return y if scale is None else core.multiply(y, scale)


def psnr(x1, x2, max_val) -> Tensor:
    """Peak signal-to-noise ratio ``20 log10(max_val) - 10 log10(mse)``."""
    a, b = _pair(x1, x2)
    mse = core.mean(core.square(core.subtract(a, b)))
    return core.subtract(20.0 * math.log10(float(max_val)), core.multiply(log10(mse), 10.0))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None,
                          attn_logits_soft_cap=None) -> Tensor:
    """``softmax(q k^T * scale + bias, masked) v`` for ``(batch, seq, heads, dim)`` inputs
    (Keras's layout; ``scale`` defaults to ``1 / sqrt(dim)``; ``mask`` True = attend)."""
    if flash_attention:
        raise NotImplementedError("dot_product_attention: flash_attention=True is not supported")
    q, k = _pair(query, key)
    v = _f(as_tensor(value, device=q.device))
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ShapeError(f"dot_product_attention: expected 4-D (batch, seq, heads, dim) inputs, got {q.shape}, {k.shape}, "
                         f"{v.shape}")
    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    logits = core.multiply(array.einsum("btnh,bsnh->bnts", q, k), s)
    if attn_logits_soft_cap is not None:
        cap = float(attn_logits_soft_cap)
        logits = core.multiply(core.tanh(core.divide(logits, cap)), cap)
    if bias is not None:
        logits = core.add(logits, bias)
    t, src = q.shape[1], k.shape[1]
    keep = None
    if mask is not None:
        keep = _f(as_tensor(mask, device=q.device))
    if is_causal:
        causal = Tensor(np.tril(np.ones((t, src), np.float32)), device=q.device)
        keep = causal if keep is None else core.multiply(keep, causal)
    if keep is not None:
        logits = _where(keep, logits, -1e9)  # a large negative, as Keras's masking
    w = _softmax(logits, axis=-1)
    return array.einsum("bnts,bsnh->btnh", w, v)


__all__ = [
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
    "sinc", "deg2rad", "rad2deg", "absolute", "fabs", "cbrt", "exp2", "log2", "log10", "erfc", "reciprocal",
    "true_divide", "trunc", "floor_divide", "mod", "fmod", "isnan", "isinf", "isposinf", "isneginf", "isfinite",
    "signbit", "heaviside", "hypot", "logaddexp", "logaddexp2", "ldexp", "fmax", "fmin", "logical_and", "logical_or",
    "logical_xor", "logical_not", "divide_no_nan", "nan_to_num", "isclose", "allclose", "celu", "glu", "hard_tanh",
    "hard_shrink", "soft_shrink", "tanh_shrink", "sparse_plus", "sparse_sigmoid", "squareplus", "threshold",
    "hard_silu", "hard_swish", "log_sigmoid", "sparsemax", "amax", "amin", "ptp", "average", "count_nonzero",
    "nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanargmax", "nanargmin", "nancumsum",
    "nancumprod", "quantile", "percentile", "median", "trapezoid", "copy", "empty", "empty_like", "identity", "tri",
    "linspace", "logspace", "geomspace", "bartlett", "blackman", "hamming", "hanning", "kaiser", "ndim", "size",
    "ravel", "append", "array_split", "hsplit", "vsplit", "dsplit", "hstack", "vstack", "dstack", "fliplr", "flipud",
    "rot90", "diagonal", "trace", "diag", "diagflat", "diff", "outer", "inner", "vdot", "kron", "cross", "unstack",
    "vander", "select", "searchsorted", "digitize", "in_top_k", "get_item", "slice", "slice_update", "scatter",
    "scatter_update", "segment_sum", "segment_max", "segment_min", "segment_prod", "bincount", "histogram", "unique",
    "argpartition", "correlate", "cdist", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "multi_hot", "normalize", "layer_normalization", "rms_normalization", "psnr",
    "dot_product_attention",
]


# -- special functions, membership, correlation, NaN-aware quantiles -------------------------

_ERFINV_SMALL = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                 -0.00417768164, 0.246640727, 1.50140941]
_ERFINV_LARGE = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                 0.00943887047, 1.00167406, 2.83297682]


def _horner(coeffs, w) -> Tensor:
    p = core.add(core.multiply(w, 0.0), coeffs[0])
    for c in coeffs[1:]:
        p = core.add(core.multiply(p, w), c)
    return p


def erfinv(x) -> Tensor:
    """The inverse error function on (-1, 1) (Giles's single-precision approximation;
    +-inf at +-1, NaN outside)."""
    x = _f(x)
    w = core.negative(core.log(core.multiply(core.subtract(1.0, x), core.add(1.0, x))))
    small = _horner(_ERFINV_SMALL, core.subtract(w, 2.5))
    large = _horner(_ERFINV_LARGE, core.subtract(core.sqrt(core.maximum(w, 0.0)), 3.0))
    return core.multiply(_where(core.less(w, 5.0), small, large), x)


_I0_SMALL = [0.0045813, 0.0360768, 0.2659732, 1.2067492, 3.0899424, 3.5156229, 1.0]
_I0_LARGE = [0.00392377, -0.01647633, 0.02635537, -0.02057706, 0.00916281, -0.00157565, 0.00225319, 0.01328592,
             0.39894228]


def i0(x) -> Tensor:
    """The modified Bessel function of the first kind, order 0 (Abramowitz & Stegun 9.8.1-2,
    relative error below 2e-7)."""
    ax = core.abs(_f(x))
    small = _horner(_I0_SMALL, core.square(core.divide(ax, 3.75)))
    t = core.divide(3.75, core.maximum(ax, 3.75))
    large = core.multiply(core.divide(core.exp(ax), core.sqrt(core.maximum(ax, 3.75))), _horner(_I0_LARGE, t))
    return _where(core.less_equal(ax, 3.75), small, large)


def isin(x1, x2, assume_unique=False, invert=False) -> Tensor:
    """1 where an element of ``x1`` occurs in ``x2`` (0 with ``invert``)."""
    a, b = _pair(x1, x2)
    hit = core.max(core.equal(array.expand_dims(a, -1), core.reshape(b, (1,) * a.ndim + (-1,))), axis=-1)
    return core.subtract(1.0, hit) if invert else hit


def corrcoef(x) -> Tensor:
    """Pearson correlation coefficients of the rows of ``x`` (variables by observations)."""
    x = _f(x)
    if x.ndim == 1:
        x = core.reshape(x, (1, -1))
    xm = core.subtract(x, core.mean(x, axis=1, keepdims=True))
    c = _matmul(xm, core.transpose(xm))
    d = core.sqrt(diagonal(c))
    return core.clip(core.divide(c, core.multiply(core.reshape(d, (-1, 1)), core.reshape(d, (1, -1)))), -1.0, 1.0)


def _nan_quantile(x, q, axis, method, keepdims, op: str) -> Tensor:
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise InvalidArgumentError(f"{op}: method must be linear, lower, higher, midpoint or nearest, got {method!r}")
    x = _f(x)
    qs = np.asarray(q.numpy() if isinstance(q, Tensor) else q, np.float64)
    if np.any((qs < 0) | (qs > 1)):
        raise InvalidArgumentError(f"{op}: q must lie in [0, 1], got {q!r}")
    src = core.reshape(x, (-1,)) if axis is None else array.moveaxis(x, axis, -1)
    s = array.sort(src, axis=-1)  # NaN sorts last
    nv = core.sum(core.subtract(1.0, isnan(src)), axis=-1, keepdims=True)
    top = core.maximum(core.subtract(nv, 1.0), 0.0)
    outs = []
    for qv in np.atleast_1d(qs):
        pos = core.multiply(top, float(qv))
        lo, hi = array.floor(pos), array.ceil(pos)
        if method == "lower":
            hi = lo
        elif method == "higher":
            lo = hi
        elif method == "nearest":
            lo = hi = array.round(pos)
        a = array.take_along_axis(s, core.cast(lo, "int32"), axis=-1)
        b = array.take_along_axis(s, core.cast(hi, "int32"), axis=-1)
        if method == "linear":
            v = core.add(a, core.multiply(core.subtract(b, a), core.subtract(pos, lo)))
        elif method == "midpoint":
            v = core.multiply(core.add(a, b), 0.5)
        else:
            v = a
        v = _where(core.equal(nv, 0.0), float("nan"), v)
        if axis is None:
            v = core.reshape(v, (1,) * x.ndim) if keepdims else core.reshape(v, ())
        else:
            v = array.moveaxis(v, -1, axis) if keepdims else core.squeeze(v, -1)
        outs.append(v)
    return outs[0] if qs.ndim == 0 else array.stack(outs, axis=0)


def nanquantile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """`quantile` ignoring NaN (NaN where a slice has no number)."""
    return _nan_quantile(x, q, axis, method, keepdims, "nanquantile")


def nanpercentile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    qs = np.asarray(q.numpy() if isinstance(q, Tensor) else q, np.float64) / 100.0
    return _nan_quantile(x, qs, axis, method, keepdims, "nanpercentile")


def nanmedian(x, axis=None, keepdims=False) -> Tensor:
    return _nan_quantile(x, 0.5, axis, "linear", keepdims, "nanmedian")


__all__ += ["erfinv", "i0", "isin", "corrcoef", "nanquantile", "nanpercentile", "nanmedian"]
