"""Normalization ops: the fused training-mode ``batch_norm``, ``layer_norm``, and the
Keras ``moments`` / ``batch_normalization`` functions.

``batch_norm`` and ``layer_norm`` are coarse ops: their forward is a handful of backend
kernels (two-pass mean and biased variance, normalise, scale and shift) and they attach
*one* autograd node whose backward computes the gradients of the input, ``gamma`` and
``beta`` together from the saved normalised input ``x_hat`` and ``1/sqrt(var + eps)``:

    gx = inv_std * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)),   g_hat = g * gamma

with the means over the normalised axes. ``batch_norm`` with the features axis last (the
Keras default) runs the backend's fused ``batch_norm`` kernels (Rust and WGSL twins);
other layouts and ``layer_norm`` are written against the backend primitives (``reduce``,
``binary``, ``unary``, ``sum_to_shape``), so everything runs on every device.

Numerics follow Keras 3: the variance is the biased one (divide by the count), epsilon
is added to the variance inside the square root, and the default epsilon is 1e-3
(PyTorch uses 1e-5).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor
from .core import _float, _record, _wrap, add, divide, mean, multiply, reshape, sqrt, square, subtract

__all__ = ["batch_norm", "layer_norm", "moments", "batch_normalization"]


def _check_epsilon(op: str, epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not math.isfinite(epsilon) or epsilon < 0:
        raise InvalidArgumentError(f"{op}: argument epsilon must be a finite number >= 0, got {epsilon!r}")
    return float(epsilon)


def _axis_list(op: str, axis, ndim: int) -> list[int]:
    axes = [axis] if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    try:
        axes = list(axes)
    except TypeError:
        raise InvalidArgumentError(f"{op}: argument axis must be an int or a list of ints, got {axis!r}") from None
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise InvalidArgumentError(f"{op}: argument axis must be an int or a list of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise InvalidArgumentError(f"{op}: axis {int(a)} is out of bounds for an input of rank {ndim}")
        out.append(int(a) % ndim)
    if not out or len(set(out)) != len(out):
        raise InvalidArgumentError(f"{op}: argument axis must name distinct axes, got {axis!r}")
    return sorted(out)


def _param(op: str, name: str, p, want: tuple, device: str) -> Tensor | None:
    if p is None:
        return None
    p = _float(as_tensor(p, device=device))
    if p.device != device:
        from ..errors import DeviceError

        raise DeviceError(f"{op}: {name} is on {p.device!r} but the input is on {device!r}; move one with .to()")
    if p.shape != want:
        raise ShapeError(f"{op}: {name} has shape {p.shape}, expected {want}")
    return p


def _normalize(op: str, x: Tensor, stat_axes: list[int], param_kept: tuple, gamma, beta, epsilon: float):
    """The shared fused forward and backward.

    Statistics are taken over ``stat_axes`` (kept shape S); ``gamma``/``beta`` broadcast
    from ``param_kept`` (same rank as x, ones elsewhere). Returns ``(y, mean, var)`` with
    ``mean``/``var`` as raw buffers of kept shape S (no gradient flows through them).
    """
    be = x._backend
    shape = x.shape
    count = 1
    for a in stat_axes:
        count *= shape[a]
    if count == 0:
        raise ShapeError(f"{op}: cannot normalize over axes {stat_axes} of an input of shape {shape}: they hold no elements")
    mean_b, s = be.reduce("mean", x._buf, shape, stat_axes, True)
    s = tuple(s)
    xc, _ = be.binary("sub", x._buf, shape, mean_b, s)
    var_b, _ = be.reduce("mean", be.unary("square", xc), shape, stat_axes, True)
    eps_b = be.full(1, epsilon, "float32")
    std, _ = be.binary("add", var_b, s, eps_b, ())
    inv, _ = be.binary("div", be.full(1, 1.0, "float32"), (), be.unary("sqrt", std), s)
    xhat, _ = be.binary("mul", xc, shape, inv, s)
    y = xhat
    if gamma is not None:
        y, _ = be.binary("mul", y, shape, gamma._buf, param_kept)
    if beta is not None:
        y, _ = be.binary("add", y, shape, beta._buf, param_kept)
    if y is xhat:
        y = be.copy(xhat)
    out = _wrap(y, shape, "float32", be)

    def backward(g):
        gb = g._buf
        gx = ggamma = gbeta = None
        if beta is not None and beta.requires_grad:
            gbeta = _wrap(be.sum_to_shape(gb, shape, param_kept), beta.shape, "float32", be)
        if gamma is not None and gamma.requires_grad:
            gxh, _ = be.binary("mul", gb, shape, xhat, shape)
            ggamma = _wrap(be.sum_to_shape(gxh, shape, param_kept), gamma.shape, "float32", be)
        if x.requires_grad:
            ghat = gb if gamma is None else be.binary("mul", gb, shape, gamma._buf, param_kept)[0]
            m1, _ = be.reduce("mean", ghat, shape, stat_axes, True)
            gh_xh, _ = be.binary("mul", ghat, shape, xhat, shape)
            m2, _ = be.reduce("mean", gh_xh, shape, stat_axes, True)
            t, _ = be.binary("sub", ghat, shape, m1, s)
            u, _ = be.binary("mul", xhat, shape, m2, s)
            t, _ = be.binary("sub", t, shape, u, shape)
            gxb, _ = be.binary("mul", t, shape, inv, s)
            gx = _wrap(gxb, shape, "float32", be)
        return gx, ggamma, gbeta

    return _record(out, (x, gamma, beta), backward), mean_b, var_b


def batch_norm(x, gamma=None, beta=None, axis: int = -1, epsilon: float = 1e-3):
    """Training-mode batch normalization in one fused op.

    Normalises ``x`` with the mean and the *biased* variance over every axis except
    ``axis`` (the features axis), then scales by ``gamma`` and shifts by ``beta`` (each of
    shape ``(x.shape[axis],)``, or None)::

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta

    Keras numerics: biased variance, epsilon inside the square root, default 1e-3.

    Args:
        x: input tensor of rank >= 1.
        gamma: scale of shape ``(x.shape[axis],)`` or None.
        beta: offset of shape ``(x.shape[axis],)`` or None.
        axis: the features axis (kept); statistics are over all the others.
        epsilon: added to the variance; must be >= 0.

    Returns:
        ``(y, mean, variance)``: the normalised output (differentiable w.r.t. ``x``,
        ``gamma`` and ``beta``) and the batch statistics of shape
        ``(x.shape[axis],)``, which carry no gradient (they feed the moving averages).

    Example:
        >>> import ember as em
        >>> y, m, v = em.ops.batch_norm(em.tensor([[1.0], [3.0]]))
        >>> m.numpy().tolist(), v.numpy().tolist()
        ([2.0], [1.0])
    """
    x = _float(as_tensor(x))
    eps = _check_epsilon("batch_norm", epsilon)
    if x.ndim == 0:
        raise ShapeError("batch_norm: the input must have rank >= 1, got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InvalidArgumentError(f"batch_norm: argument axis must be an int, got {axis!r}")
    (ax,) = _axis_list("batch_norm", axis, x.ndim)
    channels = x.shape[ax]
    gamma = _param("batch_norm", "gamma", gamma, (channels,), x.device)
    beta = _param("batch_norm", "beta", beta, (channels,), x.device)
    be = x._backend
    if ax == x.ndim - 1 and x.size:
        # The common layout (features last): the backend's fused kernel on a (rows, C) view.
        y, mean_b, var_b = _batch_norm_fused(x, gamma, beta, eps)
    else:
        stat_axes = [i for i in range(x.ndim) if i != ax]
        kept = tuple(channels if i == ax else 1 for i in range(x.ndim))
        y, mean_b, var_b = _normalize("batch_norm", x, stat_axes, kept, gamma, beta, eps)
    return y, _wrap(mean_b, (channels,), "float32", be), _wrap(var_b, (channels,), "float32", be)


def _batch_norm_fused(x: Tensor, gamma, beta, epsilon: float):
    """batch_norm over every axis but the last through `Backend.batch_norm` (one fused
    kernel per pass on CPU and GPU) with one autograd node."""
    be = x._backend
    channels = x.shape[-1]
    rows = x.size // channels
    gb, bb = (None if gamma is None else gamma._buf), (None if beta is None else beta._buf)
    ybuf, mean_b, var_b = be.batch_norm(x._buf, gb, bb, rows, channels, epsilon)
    out = _wrap(ybuf, x.shape, "float32", be)

    def backward(g):
        gx, ggamma, gbeta = be.batch_norm_backward(x._buf, gb, mean_b, var_b, g._buf, rows, channels, epsilon, x.requires_grad)
        return (
            None if gx is None else _wrap(gx, x.shape, "float32", be),
            None if gamma is None else _wrap(ggamma, gamma.shape, "float32", be),
            None if beta is None else _wrap(gbeta, beta.shape, "float32", be),
        )

    return _record(out, (x, gamma, beta), backward), mean_b, var_b


def layer_norm(x, gamma=None, beta=None, axis=-1, epsilon: float = 1e-3) -> Tensor:
    """Layer normalization in one fused op: each sample is normalised with the mean and
    biased variance over ``axis`` (an int or a list of ints), then scaled by ``gamma`` and
    shifted by ``beta``, both of shape ``tuple(x.shape[a] for a in axis)`` (or None).

    Keras numerics: epsilon inside the square root, default 1e-3 (PyTorch: 1e-5).

    Example:
        >>> import ember as em
        >>> em.ops.layer_norm(em.tensor([[1.0, 3.0]]), epsilon=0.0).numpy().tolist()
        [[-1.0, 1.0]]
    """
    x = _float(as_tensor(x))
    eps = _check_epsilon("layer_norm", epsilon)
    if x.ndim == 0:
        raise ShapeError("layer_norm: the input must have rank >= 1, got a scalar")
    axes = _axis_list("layer_norm", axis, x.ndim)
    pshape = tuple(x.shape[a] for a in axes)
    gamma = _param("layer_norm", "gamma", gamma, pshape, x.device)
    beta = _param("layer_norm", "beta", beta, pshape, x.device)
    kept = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    y, _, _ = _normalize("layer_norm", x, axes, kept, gamma, beta, eps)
    return y


def moments(x, axes, keepdims: bool = False, synchronized: bool = False):
    """Keras ``ops.moments``: the mean and the biased variance of ``x`` over ``axes``
    (differentiable; a composite of ``mean`` and ``square``)."""
    x = _float(as_tensor(x))
    ax = _axis_list("moments", axes, x.ndim) if x.ndim else []
    m = mean(x, ax, keepdims=True)
    v = mean(square(subtract(x, m)), ax, keepdims=True)
    if not keepdims:
        out_shape = tuple(d for i, d in enumerate(x.shape) if i not in ax)
        m, v = reshape(m, out_shape), reshape(v, out_shape)
    return m, v


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon: float = 1e-3) -> Tensor:
    """Keras ``ops.batch_normalization``: normalises ``x`` with the given statistics
    (of shape ``(x.shape[axis],)``), as BatchNormalization does at inference::

        y = scale * (x - mean) / sqrt(variance + epsilon) + offset

    The per-channel factors are computed first (small vectors), then applied with one
    multiply and one add on ``x``; every argument gets gradients through the tape.
    """
    x = _float(as_tensor(x))
    eps = _check_epsilon("batch_normalization", epsilon)
    if x.ndim == 0:
        raise ShapeError("batch_normalization: the input must have rank >= 1, got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InvalidArgumentError(f"batch_normalization: argument axis must be an int, got {axis!r}")
    (ax,) = _axis_list("batch_normalization", axis, x.ndim)
    c = x.shape[ax]
    m = _param("batch_normalization", "mean", mean, (c,), x.device)
    v = _param("batch_normalization", "variance", variance, (c,), x.device)
    if m is None or v is None:
        raise InvalidArgumentError("batch_normalization: mean and variance are required")
    g = _param("batch_normalization", "scale", scale, (c,), x.device)
    b = _param("batch_normalization", "offset", offset, (c,), x.device)
    inv = divide(1.0, sqrt(add(v, eps)))
    a = inv if g is None else multiply(g, inv)
    shift = multiply(m, a)
    shift = multiply(shift, -1.0) if b is None else subtract(b, shift)
    kept = tuple(c if i == ax else 1 for i in range(x.ndim))
    return add(multiply(x, reshape(a, kept)), reshape(shift, kept))
