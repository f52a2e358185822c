"""Linear-algebra and neural-network ops: matmul, the fused dense layer, softmax, the
fused cross-entropies, one-hot and dropout."""

from __future__ import annotations

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor
from .core import _float, _pair, _record, _wrap, cast, reshape, sum_to

FUSED_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


def matmul(a, b) -> Tensor:
    """numpy.matmul semantics: rank-1 operands are promoted and the added axis removed;
    leading (batch) axes broadcast."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must not be scalars, got shapes {a.shape} and {b.shape}")
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    a2 = reshape(a, (1,) + a.shape) if squeeze_a else a
    b2 = reshape(b, b.shape + (1,)) if squeeze_b else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned ({a2.shape[-1]} != {b2.shape[-2]})")
    # Expand partially broadcast batch dims (the kernel takes equal or shared batches).
    ba, bb = a2.shape[:-2], b2.shape[:-2]
    if ba != bb and ba and bb:
        import numpy as np

        try:
            batch = tuple(np.broadcast_shapes(ba, bb))
        except ValueError:
            raise ShapeError(
                f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast together ({ba} and {bb})"
            ) from None
        from .core import broadcast_to

        if ba != batch and int(np.prod(ba)) != 1:
            a2 = broadcast_to(a2, batch + a2.shape[-2:])
        if bb != batch and int(np.prod(bb)) != 1:
            b2 = broadcast_to(b2, batch + b2.shape[-2:])
    be = a2._backend
    buf, shape = be.matmul(a2._buf, a2.shape, b2._buf, b2.shape, False, False)
    out = _wrap(buf, tuple(shape), "float32", be)
    sa, sb = a2.shape, b2.shape

    def backward(g):
        ga = gb = None
        if a2.requires_grad:
            buf_a, s = be.matmul(g._buf, g.shape, b2._buf, sb, False, True)
            ga = _wrap(be.sum_to_shape(buf_a, tuple(s), sa), sa, "float32", be) if tuple(s) != sa else _wrap(buf_a, sa, "float32", be)
        if b2.requires_grad:
            buf_b, s = be.matmul(a2._buf, sa, g._buf, g.shape, True, False)
            gb = _wrap(be.sum_to_shape(buf_b, tuple(s), sb), sb, "float32", be) if tuple(s) != sb else _wrap(buf_b, sb, "float32", be)
        return ga, gb

    out = _record(out, (a2, b2), backward)
    if squeeze_a:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if squeeze_b:
        out = reshape(out, out.shape[:-1])
    return out


def dense(x, kernel, bias=None, activation: str = "linear") -> Tensor:
    """``activation(x @ kernel + bias)`` in one fused kernel; x is (..., in), kernel
    (in, out). ``activation`` is one of linear, relu, sigmoid, tanh."""
    x = _float(as_tensor(x))
    for name, t in (("kernel", kernel), ("bias", bias)):
        if isinstance(t, Tensor) and t.device != x.device:
            from ..errors import DeviceError

            raise DeviceError(f"dense: the input is on {x.device!r} but the {name} is on {t.device!r}; move one with .to()")
    if activation not in FUSED_ACTIVATIONS:
        raise InvalidArgumentError(f"dense: activation {activation!r} is not fused; valid: {', '.join(FUSED_ACTIVATIONS)}")
    if x.ndim == 0 or kernel.ndim != 2 or x.shape[-1] != kernel.shape[0]:
        raise ShapeError(f"dense: input of shape {x.shape} does not match kernel of shape {kernel.shape}")
    fin, fout = kernel.shape
    lead = x.shape[:-1]
    rows = 1
    for d in lead:
        rows *= d
    be = x._backend
    bbuf = None if bias is None else bias._buf
    ybuf = be.dense(x._buf, kernel._buf, bbuf, rows, fin, fout, activation)
    y = _wrap(ybuf, lead + (fout,), "float32", be)

    def backward(g):
        gx, gw, gb = be.dense_backward(x._buf, kernel._buf, ybuf, g._buf, rows, fin, fout, activation, x.requires_grad,
                                       bias is not None)
        return (
            None if gx is None else _wrap(gx, x.shape, "float32", be),
            _wrap(gw, kernel.shape, "float32", be),
            None if bias is None else _wrap(gb, bias.shape, "float32", be),
        )

    return _record(y, (x, kernel, bias), backward)


def _softmax(x, axis: int, log: bool) -> Tensor:
    x = _float(as_tensor(x))
    if x.ndim == 0:
        raise ShapeError(f"{'log_softmax' if log else 'softmax'}: needs a tensor of rank >= 1, got a scalar")
    be = x._backend
    ybuf = be.softmax(x._buf, x.shape, axis, log)
    y = _wrap(ybuf, x.shape, "float32", be)
    return _record(y, (x,), lambda g: (_wrap(be.softmax_backward(ybuf, g._buf, x.shape, axis, log), x.shape, "float32", be),))


def softmax(x, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
    return _softmax(x, axis, False)


def log_softmax(x, axis: int = -1) -> Tensor:
    return _softmax(x, axis, True)


def softmax_cross_entropy(logits, labels) -> Tensor:
    """Per-row cross-entropy of softmax(logits) (rows, classes) against int32 class
    indices (rows,) or a float distribution (rows, classes): one fused kernel."""
    z = _float(as_tensor(logits))
    if z.ndim < 1:
        raise ShapeError("softmax_cross_entropy: logits must have rank >= 1")
    classes = z.shape[-1]
    lead = z.shape[:-1]
    rows = 1
    for d in lead:
        rows *= d
    y = as_tensor(labels, device=z.device)
    if y.dtype == "int32":
        if y.size != rows:
            raise ShapeError(f"sparse_categorical_crossentropy: labels of shape {y.shape} do not match logits of shape {z.shape}")
    elif y.shape != z.shape:
        raise ShapeError(f"categorical_crossentropy: labels of shape {y.shape} do not match logits of shape {z.shape}")
    be = z._backend
    loss_buf, probs = be.softmax_cross_entropy(z._buf, y._buf, rows, classes)
    loss = _wrap(loss_buf, lead, "float32", be)
    return _record(
        loss, (z,), lambda g: (_wrap(be.softmax_cross_entropy_backward(probs, y._buf, g._buf, rows, classes), z.shape, "float32", be),)
    )


def sigmoid_binary_cross_entropy(logits, labels) -> Tensor:
    """Elementwise binary cross-entropy of sigmoid(logits) against labels, from logits
    (stable for any finite logit)."""
    z = _float(as_tensor(logits))
    y = _float(as_tensor(labels, device=z.device))
    if y.shape != z.shape:
        raise ShapeError(f"binary_crossentropy: labels of shape {y.shape} do not match logits of shape {z.shape}")
    be = z._backend
    out = _wrap(be.sigmoid_bce(z._buf, y._buf), z.shape, "float32", be)
    return _record(out, (z,), lambda g: (_wrap(be.sigmoid_bce_backward(z._buf, y._buf, g._buf), z.shape, "float32", be),))


def one_hot(labels, num_classes: int) -> Tensor:
    """float32 one-hot encoding of integer labels; out-of-range labels are an error."""
    y = as_tensor(labels)
    if y.dtype != "int32":
        y = cast(y, "int32")
    if num_classes < 0:
        raise InvalidArgumentError(f"one_hot: num_classes must be >= 0, got {num_classes}")
    be = y._backend
    return _wrap(be.one_hot(y._buf, num_classes), y.shape + (num_classes,), "float32", be)


def dropout_with_mask(x, mask: Tensor) -> Tensor:
    """``x * mask`` where mask holds 0 or 1/keep; the gradient is ``g * mask``."""
    from .core import multiply

    return multiply(x, mask)


__all__ = [
    "matmul", "dense", "softmax", "log_softmax", "softmax_cross_entropy", "sigmoid_binary_cross_entropy", "one_hot",
    "sum_to",
]
