"""Convolution and pooling ops (NHWC, Keras's ``channels_last``), each forward through
the backend's composite (or fused) kernel with its backward next to it.

``conv2d``, ``max_pool2d`` and ``average_pool2d`` are Ember's coarse ops (bias and
activation fused into the convolution, as in `ember.ops.nn.dense`); ``conv``,
``max_pool`` and ``average_pool`` are ``keras.ops``'s, for 1-D (N, L, C) and 2-D
(N, H, W, C) inputs. Padding follows Keras/TensorFlow: "valid" is none; "same" pads
``max((ceil(size / stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)`` in total,
half of it (rounded down) before and the rest after; "causal" (1-D) pads
``(k - 1) * dilation`` before.
"""

from __future__ import annotations

import numbers
from ..autograd import _state
from ..errors import DeviceError, InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor
from .core import _float, _record, _wrap, reshape
from .nn import FUSED_ACTIVATIONS

__all__ = ["conv", "max_pool", "average_pool", "conv2d", "max_pool2d", "average_pool2d", "conv_output_length",
           "conv_padding"]


# -- argument handling -------------------------------------------------------------------------

def normalize_tuple(value, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` positive ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        out = (int(value),) * n
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise InvalidArgumentError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(out) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in out):
            raise InvalidArgumentError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        out = tuple(int(v) for v in out)
    if any(v < 1 for v in out):
        raise InvalidArgumentError(f"{op}: {name} must be positive, got {value!r}")
    return out


def normalize_padding(padding, op: str, allow_causal: bool = False) -> str:
    valid = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in valid:
        raise InvalidArgumentError(f"{op}: padding must be one of {', '.join(map(repr, valid))}, got {padding!r}")
    return p


def normalize_data_format(data_format, op: str) -> str:
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise InvalidArgumentError(
            f"{op}: data_format='channels_first' is not supported yet; Ember's convolutions and pooling take "
            "channels_last (batch, ..., channels) inputs (Keras's default). Transpose the input, e.g. "
            "ember.ops.transpose(x, (0, 2, 3, 1)) for NCHW."
        )
    raise InvalidArgumentError(f"{op}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")


def conv_padding(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """(before, after) padding of one spatial axis for Keras's padding mode."""
    ek = (k - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return ek - 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + ek - size, 0)
    return total // 2, total - total // 2


def conv_output_length(size, k: int, stride: int, dilation: int, padding: str):
    """Keras's output length of one spatial axis (None stays None); may be <= 0 for a
    window larger than a "valid" input (callers raise)."""
    if size is None:
        return None
    if padding == "valid":
        return (size - (k - 1) * dilation - 1) // stride + 1
    return (size - 1) // stride + 1


def _same_device(op: str, x: Tensor, **others) -> None:
    for name, t in others.items():
        if isinstance(t, Tensor) and t.device != x.device:
            raise DeviceError(f"{op}: the input is on {x.device!r} but the {name} is on {t.device!r}; move one with .to()")


def _pads(op: str, x_shape: tuple, window: tuple, strides: tuple, dilation: tuple, padding) -> tuple:
    """Explicit ((top, bottom), (left, right)) pads from a padding mode or explicit pairs;
    ShapeError where the (dilated) window does not fit the padded input."""
    if isinstance(padding, str):
        padding = normalize_padding(padding, op, allow_causal=True)
        pads = tuple(conv_padding(x_shape[1 + i], window[i], strides[i], dilation[i], padding) for i in range(2))
    else:
        try:
            pads = tuple((int(a), int(b)) for a, b in padding)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"{op}: padding must be 'valid', 'same' or ((top, bottom), (left, right)), "
                                       f"got {padding!r}") from None
        if len(pads) != 2 or any(p < 0 for pair in pads for p in pair):
            raise InvalidArgumentError(f"{op}: explicit padding must be two non-negative (before, after) pairs, got {padding!r}")
    for i, name in enumerate(("height", "width")):
        size = x_shape[1 + i] + pads[i][0] + pads[i][1]
        ek = (window[i] - 1) * dilation[i] + 1
        if ek > size:
            raise ShapeError(
                f"{op}: the window {window} (dilation {dilation}, so {ek} along the {name}) is larger than the "
                f"input's {name} {x_shape[1 + i]} (padded to {size}); input shape {x_shape}, padding {padding!r}"
            )
    return pads


# -- the coarse ops ------------------------------------------------------------------------------

def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups: int = 1,
           activation: str = "linear") -> Tensor:
    """``activation(conv2d(x, kernel) + bias)`` in one backend call.

    Args:
        x: (batch, height, width, channels).
        kernel: (kh, kw, channels // groups, filters), Keras's layout.
        bias: (filters,) or None.
        strides, dilation_rate: an int or a pair.
        padding: "valid", "same" (Keras/TensorFlow's: the extra row/column at the end)
            or explicit ((top, bottom), (left, right)).
        groups: grouped convolution (channels and filters split into ``groups``).
        activation: one of linear, relu, sigmoid, tanh (fused).

    Returns:
        (batch, out_height, out_width, filters).
    """
    op = "conv2d"
    x = _float(as_tensor(x))
    if not isinstance(kernel, Tensor):
        kernel = as_tensor(kernel, device=x.device)
    if bias is not None and not isinstance(bias, Tensor):
        bias = as_tensor(bias, device=x.device)
    _same_device(op, x, kernel=kernel, bias=bias)
    if activation not in FUSED_ACTIVATIONS:
        raise InvalidArgumentError(f"{op}: activation {activation!r} is not fused; valid: {', '.join(FUSED_ACTIVATIONS)}")
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected an input of rank 4 (batch, height, width, channels), got shape {x.shape}")
    if kernel.ndim != 4:
        raise ShapeError(f"{op}: expected a kernel of rank 4 (kh, kw, in_channels, filters), got shape {kernel.shape}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise InvalidArgumentError(f"{op}: groups must be a positive integer, got {groups!r}")
    groups = int(groups)
    kh, kw, cin, cout = kernel.shape
    if cin * groups != x.shape[3] or cout % groups:
        raise ShapeError(
            f"{op}: input of shape {x.shape} does not match kernel of shape {kernel.shape} with groups={groups} "
            f"(the kernel's input channels {cin} x groups {groups} must equal the input's channels {x.shape[3]}"
            + (f", and its filters {cout} must divide by groups)" if groups > 1 else ")")
        )
    if bias is not None and bias.shape != (cout,):
        raise ShapeError(f"{op}: bias of shape {bias.shape} does not match the kernel's {cout} filters")
    strides = normalize_tuple(strides, 2, "strides", op)
    dilation = normalize_tuple(dilation_rate, 2, "dilation_rate", op)
    pads = _pads(op, x.shape, (kh, kw), strides, dilation, padding)
    kernel = _float(kernel)
    be = x._backend
    bbuf = None if bias is None else bias._buf
    ybuf, out_shape = be.conv2d(x._buf, x.shape, kernel._buf, kernel.shape, bbuf, strides, pads, dilation, groups,
                                activation)
    y = _wrap(ybuf, tuple(out_shape), "float32", be)

    def backward(g):
        gx, gw, gb = be.conv2d_backward(x._buf, x.shape, kernel._buf, kernel.shape, ybuf, g._buf, strides, pads,
                                        dilation, groups, activation, x.requires_grad)
        return (
            None if gx is None else _wrap(gx, x.shape, "float32", be),
            _wrap(gw, kernel.shape, "float32", be),
            None if bias is None else _wrap(gb, bias.shape, "float32", be),
        )

    return _record(y, (x, kernel, bias), backward)


def _pool_args(op: str, x, pool_size, strides, padding):
    x = _float(as_tensor(x))
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected an input of rank 4 (batch, height, width, channels), got shape {x.shape}")
    pool = normalize_tuple(pool_size, 2, "pool_size", op)
    strides = pool if strides is None else normalize_tuple(strides, 2, "strides", op)
    if isinstance(padding, str):
        normalize_padding(padding, op)
    return x, pool, strides, _pads(op, x.shape, pool, strides, (1, 1), padding)


def max_pool2d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """The maximum over (pool_size) windows of x (batch, height, width, channels), moved
    by ``strides`` (default: pool_size). Padding ("valid" or "same") never wins a
    window. The gradient goes to each window's first maximum (TensorFlow, PyTorch)."""
    op = "max_pool2d"
    x, pool, strides, pads = _pool_args(op, x, pool_size, strides, padding)
    be = x._backend
    need = _state.enabled and x.requires_grad
    ybuf, out_shape, argmax = be.max_pool2d(x._buf, x.shape, pool, strides, pads, need)
    y = _wrap(ybuf, tuple(out_shape), "float32", be)
    if not need:
        return y
    return _record(y, (x,), lambda g: (
        _wrap(be.max_pool2d_backward(argmax, g._buf, x.shape, pool, strides, pads), x.shape, "float32", be),))


def average_pool2d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """The mean over (pool_size) windows of x (batch, height, width, channels), moved by
    ``strides`` (default: pool_size); with "same" padding each window averages its
    input elements only (TensorFlow, Keras)."""
    op = "average_pool2d"
    x, pool, strides, pads = _pool_args(op, x, pool_size, strides, padding)
    be = x._backend
    ybuf, out_shape = be.average_pool2d(x._buf, x.shape, pool, strides, pads)
    y = _wrap(ybuf, tuple(out_shape), "float32", be)
    return _record(y, (x,), lambda g: (
        _wrap(be.average_pool2d_backward(g._buf, x.shape, pool, strides, pads), x.shape, "float32", be),))


# -- keras.ops ------------------------------------------------------------------------------------

def _spatial_rank(op: str, x: Tensor) -> int:
    if x.ndim == 3:
        return 1
    if x.ndim == 4:
        return 2
    extra = " (3-D convolution and pooling are not supported yet)" if x.ndim == 5 else ""
    raise ShapeError(f"{op}: expected an input of rank 3 (batch, steps, channels) or 4 (batch, height, width, "
                     f"channels), got shape {x.shape}{extra}")


def _as_2d(value, name: str, op: str, rank: int):
    """A 1-D argument as its 2-D form (a unit first axis)."""
    if rank == 2:
        return normalize_tuple(value, 2, name, op)
    return (1,) + normalize_tuple(value, 1, name, op)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """General convolution (``keras.ops.conv``): 1-D for inputs (batch, steps, channels)
    and kernels (k, in, out); 2-D for inputs (batch, height, width, channels) and kernels
    (kh, kw, in, out). A kernel with fewer input channels than the input makes a grouped
    convolution (groups = channels / kernel in-channels), as in TensorFlow.

    Args:
        inputs: the input tensor, channels last.
        kernel: the kernel, Keras's layout.
        strides: an int or a tuple with one int per spatial axis.
        padding: "valid" or "same".
        data_format: "channels_last" (or None); "channels_first" is not supported yet.
        dilation_rate: an int or a tuple with one int per spatial axis.

    Example:
        >>> import ember as em
        >>> x = em.ones((1, 5, 5, 2))
        >>> em.ops.conv(x, em.ones((3, 3, 2, 4)), padding="same").shape
        (1, 5, 5, 4)
    """
    op = "conv"
    normalize_data_format(data_format, op)
    x = _float(as_tensor(inputs))
    rank = _spatial_rank(op, x)
    k = kernel if isinstance(kernel, Tensor) else as_tensor(kernel, device=x.device)
    if k.ndim != rank + 2:
        raise ShapeError(f"{op}: a {rank}-D convolution of an input of shape {x.shape} needs a kernel of rank "
                         f"{rank + 2}, got shape {k.shape}")
    c, cin = x.shape[-1], k.shape[-2]
    if cin == 0 or c % cin:
        raise ShapeError(f"{op}: the input's {c} channels are not a multiple of the kernel's {cin} input channels "
                         f"(input shape {x.shape}, kernel shape {k.shape})")
    padding = normalize_padding(padding, op)
    s2, d2 = _as_2d(strides, "strides", op, rank), _as_2d(dilation_rate, "dilation_rate", op, rank)
    if rank == 1:
        # The unit height axis needs no padding under any mode (k = stride = dilation = 1).
        y = conv2d(reshape(x, (x.shape[0], 1) + x.shape[1:]), reshape(k, (1,) + k.shape), None, s2, padding, d2,
                   c // cin)
        return reshape(y, (y.shape[0],) + y.shape[2:])
    return conv2d(x, k, None, s2, padding, d2, c // cin)


def _pool(op: str, fn, inputs, pool_size, strides, padding, data_format):
    normalize_data_format(data_format, op)
    x = _float(as_tensor(inputs))
    rank = _spatial_rank(op, x)
    padding = normalize_padding(padding, op)
    pool = _as_2d(pool_size, "pool_size", op, rank)
    s2 = pool if strides is None else _as_2d(strides, "strides", op, rank)
    if rank == 1:
        y = fn(reshape(x, (x.shape[0], 1) + x.shape[1:]), pool, s2, padding)
        return reshape(y, (y.shape[0],) + y.shape[2:])
    return fn(x, pool, s2, padding)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    """Max pooling (``keras.ops.max_pool``) of inputs (batch, steps, channels) or (batch,
    height, width, channels).

    Args:
        inputs: the input tensor, channels last.
        pool_size: an int or a tuple with one int per spatial axis.
        strides: likewise; None means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None).

    Example:
        >>> import ember as em
        >>> em.ops.max_pool(em.ones((2, 4, 4, 3)), 2).shape
        (2, 2, 2, 3)
    """
    return _pool("max_pool", max_pool2d, inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    """Average pooling (``keras.ops.average_pool``); with "same" padding each window
    averages its input elements only.

    Args:
        inputs: the input tensor, channels last.
        pool_size: an int or a tuple with one int per spatial axis.
        strides: likewise; None means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None).

    Example:
        >>> import ember as em
        >>> em.ops.average_pool(em.ones((2, 6, 3)), 3).shape
        (2, 2, 3)
    """
    return _pool("average_pool", average_pool2d, inputs, pool_size, strides, padding, data_format)
