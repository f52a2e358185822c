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
from .core import _float, _record, _wrap, add, getitem, reshape, transpose
from .array_ops import pad as _pad
from .nn import FUSED_ACTIVATIONS

__all__ = ["conv", "conv_transpose", "depthwise_conv", "separable_conv", "max_pool", "average_pool", "conv2d",
           "conv3d", "conv2d_transpose", "max_pool2d", "average_pool2d", "max_pool3d", "average_pool3d",
           "conv_output_length", "conv_padding", "conv_transpose_padding"]


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
    """Keras's data_format: None means "channels_last" (Keras's default image data format)."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        return "channels_first"
    raise InvalidArgumentError(f"{op}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")


def to_channels_last(x: Tensor, data_format: str) -> Tensor:
    """(N, C, *spatial) -> (N, *spatial, C) for channels_first; unchanged otherwise. The
    kernels compute channels_last (NHWC), so channels_first is a transpose around them."""
    if data_format != "channels_first":
        return x
    return transpose(x, (0,) + tuple(range(2, x.ndim)) + (1,))


def to_channels_first(x: Tensor, data_format: str) -> Tensor:
    """The inverse of `to_channels_last`."""
    if data_format != "channels_first":
        return x
    return transpose(x, (0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))


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


def _activate(y: Tensor, activation: str) -> Tensor:
    if activation == "linear":
        return y
    from . import core

    return getattr(core, activation)(y)


def conv3d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups: int = 1,
           activation: str = "linear") -> Tensor:
    """``activation(conv3d(x, kernel) + bias)`` for x (batch, depth, height, width,
    channels) and kernel (kd, kh, kw, channels // groups, filters), Keras's layout.

    A composite of `conv2d`: the sum over the kd depth taps of a 2-D convolution of the
    depth slices that tap sees (a strided view along the depth), so the 3-D convolution
    runs on whatever 2-D kernel the backend has, forward and backward.

    Args:
        x: (batch, depth, height, width, channels).
        kernel: (kd, kh, kw, channels // groups, filters).
        bias: (filters,) or None.
        strides, dilation_rate: an int or a triple.
        padding: "valid" or "same".
        groups: grouped convolution.
        activation: one of linear, relu, sigmoid, tanh.

    Returns:
        (batch, out_depth, out_height, out_width, filters).
    """
    op = "conv3d"
    x = _float(as_tensor(x))
    if not isinstance(kernel, Tensor):
        kernel = as_tensor(kernel, device=x.device)
    if bias is not None and not isinstance(bias, Tensor):
        bias = as_tensor(bias, device=x.device)
    _same_device(op, x, kernel=kernel, bias=bias)
    if x.ndim != 5:
        raise ShapeError(f"{op}: expected an input of rank 5 (batch, depth, height, width, channels) for a 3-D "
                         f"convolution, got shape {x.shape}")
    if kernel.ndim != 5:
        raise ShapeError(f"{op}: expected a kernel of rank 5 (kd, kh, kw, in_channels, filters) for a 3-D "
                         f"convolution, got shape {kernel.shape}")
    if activation not in FUSED_ACTIVATIONS:
        raise InvalidArgumentError(f"{op}: activation {activation!r} is not one of {', '.join(FUSED_ACTIVATIONS)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise InvalidArgumentError(f"{op}: groups must be a positive integer, got {groups!r}")
    kd, kh, kw, cin, cout = kernel.shape
    if cin * groups != x.shape[4] or cout % groups:
        raise ShapeError(f"{op}: input of shape {x.shape} does not match kernel of shape {kernel.shape} with "
                         f"groups={groups} (kernel input channels x groups must equal the input's channels)")
    if bias is not None and bias.shape != (cout,):
        raise ShapeError(f"{op}: bias of shape {bias.shape} does not match the kernel's {cout} filters")
    strides = normalize_tuple(strides, 3, "strides", op)
    dilation = normalize_tuple(dilation_rate, 3, "dilation_rate", op)
    padding = normalize_padding(padding, op)
    n, d, h, w, c = x.shape
    pads = [conv_padding(size, k, s, dl, padding) for size, k, s, dl in zip((d, h, w), (kd, kh, kw), strides, dilation)]
    for i, (name, size, k) in enumerate(zip(("depth", "height", "width"), (d, h, w), (kd, kh, kw))):
        ek = (k - 1) * dilation[i] + 1
        if ek > size + sum(pads[i]):
            raise ShapeError(f"{op}: the 3-D window {(kd, kh, kw)} (dilation {dilation}, so {ek} along the {name}) is "
                             f"larger than the input's {name} {size} (padded to {size + sum(pads[i])}); input shape "
                             f"{x.shape}, padding {padding!r}")
    xp = _pad(x, [(0, 0), pads[0], pads[1], pads[2], (0, 0)]) if any(p for pair in pads for p in pair) else x
    dp, hp, wp = xp.shape[1:4]
    od = (dp - (kd - 1) * dilation[0] - 1) // strides[0] + 1
    acc = None
    for p in range(kd):
        start = p * dilation[0]
        taps = getitem(xp, (slice(None), slice(start, start + (od - 1) * strides[0] + 1, strides[0])))
        y = conv2d(reshape(taps, (n * od, hp, wp, c)), getitem(kernel, p), None, strides[1:], "valid", dilation[1:],
                   groups)
        acc = y if acc is None else add(acc, y)
    y = reshape(acc, (n, od) + acc.shape[1:])
    if bias is not None:
        y = add(y, bias)
    return _activate(y, activation)


def conv_transpose_padding(size: int, k: int, stride: int, dilation: int, padding: str,
                           output_padding) -> tuple[int, tuple[int, int]]:
    """(output length, (before, after) padding of the forward convolution whose input
    gradient the transposed convolution is), Keras's geometry.

    Keras (and JAX) define the transposed convolution as the input ``x`` dilated by the
    stride, padded by (left, right) and convolved with the flipped kernel; that is the
    input gradient of the convolution of the output with padding (ek - 1 - left, ...)."""
    ek = (k - 1) * dilation + 1
    if padding == "valid":
        op = max(ek, stride) - ek if output_padding is None else output_padding
        left, right = ek - 1, ek - 1 + op
    else:
        pad_len = stride + ek - 2 if output_padding is None else ek + ek % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, ek - 1)
        right = pad_len - left
    out = (size - 1) * stride + left + right - ek + 2
    return out, (ek - 1 - left, max(ek - 1 - right, 0))


def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                     activation: str = "linear") -> Tensor:
    """The transposed 2-D convolution (Keras's ``Conv2DTranspose``) of x (batch, height,
    width, in_channels) with kernel (kh, kw, filters, in_channels), Keras's layout.

    It is the input gradient of the convolution, with the same kernel, that maps the
    output back to x: the forward pass is the backend's ``conv2d_backward`` (input
    gradient), the backward pass its ``conv2d`` (for x) and ``conv2d_backward`` (for the
    kernel), so the transposed convolution runs on the backend's convolution kernels.

    Args:
        x: (batch, height, width, in_channels).
        kernel: (kh, kw, filters, in_channels).
        bias: (filters,) or None.
        strides, dilation_rate: an int or a pair.
        padding: "valid" or "same".
        output_padding: None, an int or a pair: extra rows/columns at the end of the
            output, each smaller than its stride (Keras).
        activation: one of linear, relu, sigmoid, tanh.

    Returns:
        (batch, out_height, out_width, filters).
    """
    op = "conv2d_transpose"
    x = _float(as_tensor(x))
    if not isinstance(kernel, Tensor):
        kernel = as_tensor(kernel, device=x.device)
    if bias is not None and not isinstance(bias, Tensor):
        bias = as_tensor(bias, device=x.device)
    _same_device(op, x, kernel=kernel, bias=bias)
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected an input of rank 4 (batch, height, width, channels), got shape {x.shape}")
    if kernel.ndim != 4:
        raise ShapeError(f"{op}: expected a kernel of rank 4 (kh, kw, filters, in_channels), got shape {kernel.shape}")
    if activation not in FUSED_ACTIVATIONS:
        raise InvalidArgumentError(f"{op}: activation {activation!r} is not one of {', '.join(FUSED_ACTIVATIONS)}")
    kh, kw, f, cin = kernel.shape
    if cin != x.shape[3]:
        raise ShapeError(f"{op}: input of shape {x.shape} does not match kernel of shape {kernel.shape} (the kernel's "
                         f"last axis, {cin}, must equal the input's channels {x.shape[3]})")
    if bias is not None and bias.shape != (f,):
        raise ShapeError(f"{op}: bias of shape {bias.shape} does not match the kernel's {f} filters")
    strides = normalize_tuple(strides, 2, "strides", op)
    dilation = normalize_tuple(dilation_rate, 2, "dilation_rate", op)
    padding = normalize_padding(padding, op)
    outp = None if output_padding is None else _output_padding(output_padding, 2, strides, op)
    n = x.shape[0]
    out, pads = [], []
    for i, (size, k) in enumerate(zip(x.shape[1:3], (kh, kw))):
        length, pad = conv_transpose_padding(size, k, strides[i], dilation[i], padding,
                                             None if outp is None else outp[i])
        if length <= 0:
            raise ShapeError(f"{op}: the output would have size {length} along axis {i + 1} (input shape {x.shape}, "
                             f"kernel shape {kernel.shape}, padding {padding!r})")
        out.append(length)
        pads.append(pad)
    y_shape = (n, out[0], out[1], f)
    be = x._backend
    zeros = be.full(n * out[0] * out[1] * f, 0.0, "float32")
    kernel = _float(kernel)
    ybuf, _, _ = be.conv2d_backward(zeros, y_shape, kernel._buf, kernel.shape, x._buf, x._buf, strides, pads,
                                    dilation, 1, "linear", True)
    y = _wrap(ybuf, y_shape, "float32", be)

    def backward(g):
        gx, _ = be.conv2d(g._buf, y_shape, kernel._buf, kernel.shape, None, strides, pads, dilation, 1, "linear")
        _, gw, _ = be.conv2d_backward(g._buf, y_shape, kernel._buf, kernel.shape, x._buf, x._buf, strides, pads,
                                      dilation, 1, "linear", False)
        return _wrap(gx, x.shape, "float32", be), _wrap(gw, kernel.shape, "float32", be)

    y = _record(y, (x, kernel), backward)
    if bias is not None:
        y = add(y, bias)
    return _activate(y, activation)


def conv3d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                     activation: str = "linear") -> Tensor:
    """The transposed 3-D convolution (Keras's ``Conv3DTranspose``) of x (batch, depth,
    height, width, in_channels) with kernel (kd, kh, kw, filters, in_channels), composed
    of 2-D transposed convolutions: every depth tap ``p`` of the kernel transposes each
    input depth slice with ``kernel[p]`` (the 2-D kernels, on every backend), and the
    results land at output depths ``i * stride + p * dilation - pad`` (a stride-dilated,
    shifted sum over the taps), Keras's geometry along every axis.

    Args:
        x: (batch, depth, height, width, in_channels).
        kernel: (kd, kh, kw, filters, in_channels).
        bias: (filters,) or None.
        strides, dilation_rate: an int or a triple.
        padding: "valid" or "same".
        output_padding: None, an int or a triple, each smaller than its stride.
        activation: one of linear, relu, sigmoid, tanh.

    Returns:
        (batch, out_depth, out_height, out_width, filters).
    """
    op = "conv3d_transpose"
    x = _float(as_tensor(x))
    if not isinstance(kernel, Tensor):
        kernel = as_tensor(kernel, device=x.device)
    if bias is not None and not isinstance(bias, Tensor):
        bias = as_tensor(bias, device=x.device)
    _same_device(op, x, kernel=kernel, bias=bias)
    if x.ndim != 5:
        raise ShapeError(f"{op}: expected an input of rank 5 (batch, depth, height, width, channels), got shape "
                         f"{x.shape}")
    if kernel.ndim != 5:
        raise ShapeError(f"{op}: expected a kernel of rank 5 (kd, kh, kw, filters, in_channels), got shape "
                         f"{kernel.shape}")
    if activation not in FUSED_ACTIVATIONS:
        raise InvalidArgumentError(f"{op}: activation {activation!r} is not one of {', '.join(FUSED_ACTIVATIONS)}")
    kd, kh, kw, f, cin = kernel.shape
    if cin != x.shape[4]:
        raise ShapeError(f"{op}: input of shape {x.shape} does not match kernel of shape {kernel.shape} (the kernel's "
                         f"last axis, {cin}, must equal the input's channels {x.shape[4]})")
    if bias is not None and bias.shape != (f,):
        raise ShapeError(f"{op}: bias of shape {bias.shape} does not match the kernel's {f} filters")
    strides = normalize_tuple(strides, 3, "strides", op)
    dilation = normalize_tuple(dilation_rate, 3, "dilation_rate", op)
    padding = normalize_padding(padding, op)
    outp = (None,) * 3 if output_padding is None else _output_padding(output_padding, 3, strides, op)
    n, depth, h, w, _ = x.shape
    out_d, (pad_before, _) = conv_transpose_padding(depth, kd, strides[0], dilation[0], padding, outp[0])
    if out_d <= 0:
        raise ShapeError(f"{op}: the output would have size {out_d} along the depth (input shape {x.shape}, kernel "
                         f"shape {kernel.shape}, padding {padding!r})")
    slices = reshape(x, (n * depth, h, w, cin))
    inner_outp = None if output_padding is None else outp[1:]
    acc = None
    s = strides[0]
    for p in range(kd):
        z = conv2d_transpose(slices, getitem(kernel, p), None, strides[1:], padding, inner_outp, dilation[1:])
        oh, ow = z.shape[1:3]
        z = reshape(z, (n, depth, 1, oh * ow * f))
        if s > 1:  # input depth i lands at i * s: s - 1 zero slices after each
            z = reshape(_pad(z, [(0, 0), (0, 0), (0, s - 1), (0, 0)]), (n, depth * s, oh * ow * f))
            z = getitem(z, (slice(None), slice(0, (depth - 1) * s + 1)))
        else:
            z = reshape(z, (n, depth, oh * ow * f))
        offset = p * dilation[0] - pad_before  # output depth of input depth 0 for this tap
        length = z.shape[1]
        if offset < 0:
            z = getitem(z, (slice(None), slice(-offset, None)))
            length += offset
            offset = 0
        after = out_d - offset - length
        if after < 0:
            z = getitem(z, (slice(None), slice(0, length + after)))
            after = 0
        if offset or after:
            z = _pad(z, [(0, 0), (offset, after), (0, 0)])
        acc = z if acc is None else add(acc, z)
    y = reshape(acc, (n, out_d, oh, ow, f))
    if bias is not None:
        y = add(y, bias)
    return _activate(y, activation)


def _output_padding(value, n: int, strides: tuple, op: str) -> tuple:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        out = (int(value),) * n
    else:
        try:
            out = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"{op}: output_padding must be None, an int or {n} ints, got {value!r}") from None
        if len(out) != n:
            raise InvalidArgumentError(f"{op}: output_padding must be None, an int or {n} ints, got {value!r}")
    for i, (p, s) in enumerate(zip(out, strides)):
        if p < 0 or p >= s:
            raise InvalidArgumentError(f"{op}: output_padding must be non-negative and strictly less than the strides "
                                       f"(Keras); at index {i} output_padding is {p} but strides is {s}")
    return out


def _pool3d(fn, x: Tensor, pool: tuple, strides: tuple, padding: str, op: str) -> Tensor:
    """A 3-D max/average pool as a 2-D pool over (height, width) of every depth slice,
    then a (kd, 1) pool over the depth: both reductions are separable over the axes (a
    box's max is the max of its slices' maxes; its mean over input elements is the
    mean of means, counts multiplying), "same" padding included."""
    if x.ndim != 5:
        raise ShapeError(f"{op}: expected an input of rank 5 (batch, depth, height, width, channels), got shape {x.shape}")
    n, d, h, w, c = x.shape
    for i, (name, size) in enumerate(zip(("depth", "height", "width"), (d, h, w))):
        if padding == "valid" and pool[i] > size:
            raise ShapeError(f"{op}: the window {pool} is larger than the input's {name} {size}; input shape {x.shape}")
    y = fn(reshape(x, (n * d, h, w, c)), pool[1:], strides[1:], padding)
    oh, ow = y.shape[1:3]
    y = fn(reshape(y, (n, d, oh * ow, c)), (pool[0], 1), (strides[0], 1), padding)
    return reshape(y, (n, y.shape[1], oh, ow, c))


def max_pool3d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """The maximum over (pool_size) windows of x (batch, depth, height, width, channels),
    moved by ``strides`` (default: pool_size); padding never wins a window."""
    op = "max_pool3d"
    x = _float(as_tensor(x))
    pool = normalize_tuple(pool_size, 3, "pool_size", op)
    st = pool if strides is None else normalize_tuple(strides, 3, "strides", op)
    return _pool3d(max_pool2d, x, pool, st, normalize_padding(padding, op), op)


def average_pool3d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """The mean over (pool_size) windows of x (batch, depth, height, width, channels)
    over their input elements (Keras/TensorFlow's "same")."""
    op = "average_pool3d"
    x = _float(as_tensor(x))
    pool = normalize_tuple(pool_size, 3, "pool_size", op)
    st = pool if strides is None else normalize_tuple(strides, 3, "strides", op)
    return _pool3d(average_pool2d, x, pool, st, normalize_padding(padding, op), op)


# -- channels_last dispatch over the spatial rank (the layers use these) ----------------------------

def conv_nd(x: Tensor, kernel, bias, strides: tuple, padding: str, dilation: tuple, groups: int,
            activation: str = "linear") -> Tensor:
    """A 1-, 2- or 3-D channels_last convolution (the rank is ``len(strides)``); 1-D is
    a 2-D convolution over a unit height axis (never padded: k = stride = dilation = 1,
    "causal" included)."""
    rank = len(strides)
    if rank == 2:
        return conv2d(x, kernel, bias, strides, padding, dilation, groups, activation)
    if rank == 3:
        return conv3d(x, kernel, bias, strides, padding, dilation, groups, activation)
    if x.ndim != 3:
        raise ShapeError(f"conv1d: expected an input of rank 3 (batch, steps, channels), got shape {x.shape}")
    x4 = reshape(x, (x.shape[0], 1) + x.shape[1:])
    k4 = reshape(kernel, (1,) + tuple(kernel.shape))
    y = conv2d(x4, k4, bias, (1,) + tuple(strides), padding, (1,) + tuple(dilation), groups, activation)
    return reshape(y, (y.shape[0],) + y.shape[2:])


def conv_transpose_nd(x: Tensor, kernel, bias, strides: tuple, padding: str, output_padding, dilation: tuple,
                      activation: str = "linear") -> Tensor:
    """A 1-, 2- or 3-D channels_last transposed convolution (1-D over a unit height axis,
    3-D composed of 2-D ones, `conv3d_transpose`)."""
    if len(strides) == 2:
        return conv2d_transpose(x, kernel, bias, strides, padding, output_padding, dilation, activation)
    if len(strides) == 3:
        return conv3d_transpose(x, kernel, bias, strides, padding, output_padding, dilation, activation)
    if x.ndim != 3:
        raise ShapeError(f"conv1d_transpose: expected an input of rank 3 (batch, steps, channels), got shape {x.shape}")
    outp = None if output_padding is None else (0,) + tuple(output_padding)
    y = conv2d_transpose(reshape(x, (x.shape[0], 1) + x.shape[1:]), reshape(kernel, (1,) + tuple(kernel.shape)), bias,
                         (1,) + tuple(strides), padding, outp, (1,) + tuple(dilation), activation)
    return reshape(y, (y.shape[0],) + y.shape[2:])


def depthwise_kernel_as_grouped(kernel) -> Tensor:
    """Keras's depthwise kernel (*k, channels, depth_multiplier) as the grouped
    convolution's (*k, 1, channels * depth_multiplier): output channel c * m + j is input
    channel c's j-th filter, Keras's order."""
    shape = tuple(kernel.shape)
    return reshape(kernel, shape[:-2] + (1, shape[-2] * shape[-1]))


def pool_nd(mode: str, x: Tensor, pool: tuple, strides: tuple, padding: str) -> Tensor:
    """A 1-, 2- or 3-D channels_last max ("max") or average pool."""
    rank = len(pool)
    fn = max_pool2d if mode == "max" else average_pool2d
    if rank == 2:
        return fn(x, pool, strides, padding)
    if rank == 3:
        return _pool3d(fn, _float(as_tensor(x)), pool, strides, padding, f"{mode}_pool3d")
    y = fn(reshape(x, (x.shape[0], 1) + x.shape[1:]), (1,) + tuple(pool), (1,) + tuple(strides), padding)
    return reshape(y, (y.shape[0],) + y.shape[2:])


# -- keras.ops ------------------------------------------------------------------------------------

def _spatial_rank(op: str, x: Tensor) -> int:
    if x.ndim in (3, 4, 5):
        return x.ndim - 2
    raise ShapeError(f"{op}: expected an input of rank 3 (batch, steps, channels), 4 (batch, height, width, "
                     f"channels) or 5 (batch, depth, height, width, channels, a 3-D input), got shape {x.shape}")


def _kernel_arg(kernel, x: Tensor) -> Tensor:
    return kernel if isinstance(kernel, Tensor) else as_tensor(kernel, device=x.device)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """General convolution (``keras.ops.conv``): 1-D for inputs (batch, steps, channels)
    and kernels (k, in, out), 2-D for (batch, height, width, channels) and (kh, kw, in,
    out), 3-D for (batch, depth, height, width, channels) and (kd, kh, kw, in, out). A
    kernel with fewer input channels than the input makes a grouped convolution (groups
    = channels / kernel in-channels), as in TensorFlow.

    Args:
        inputs: the input tensor.
        kernel: the kernel, Keras's layout (the same for both data formats).
        strides: an int or a tuple with one int per spatial axis.
        padding: "valid" or "same".
        data_format: "channels_last" (or None) or "channels_first" (batch, channels, ...).
        dilation_rate: an int or a tuple with one int per spatial axis.

    Example:
        >>> import ember as em
        >>> x = em.ones((1, 5, 5, 2))
        >>> em.ops.conv(x, em.ones((3, 3, 2, 4)), padding="same").shape
        (1, 5, 5, 4)
    """
    op = "conv"
    fmt = normalize_data_format(data_format, op)
    x = to_channels_last(_float(as_tensor(inputs)), fmt)
    rank = _spatial_rank(op, x)
    k = _kernel_arg(kernel, x)
    if k.ndim != rank + 2:
        raise ShapeError(f"{op}: a {rank}-D convolution of an input of shape {x.shape} needs a kernel of rank "
                         f"{rank + 2}, got shape {k.shape}")
    c, cin = x.shape[-1], k.shape[-2]
    if cin == 0 or c % cin:
        raise ShapeError(f"{op}: the input's {c} channels are not a multiple of the kernel's {cin} input channels "
                         f"(input shape {x.shape}, kernel shape {k.shape})")
    padding = normalize_padding(padding, op)
    s = normalize_tuple(strides, rank, "strides", op)
    d = normalize_tuple(dilation_rate, rank, "dilation_rate", op)
    return to_channels_first(conv_nd(x, k, None, s, padding, d, c // cin), fmt)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1) -> Tensor:
    """Transposed convolution (``keras.ops.conv_transpose``), 1-, 2- or 3-D: the input
    gradient of the convolution that maps the output back to the input.

    Args:
        inputs: (batch, steps, channels), (batch, height, width, channels) or (batch,
            depth, height, width, channels).
        kernel: (k, filters, in_channels), (kh, kw, filters, in_channels) or (kd, kh, kw,
            filters, in_channels) (Keras's layout: the output channels come before the
            input channels).
        strides: an int or a tuple with one int per spatial axis.
        padding: "valid" or "same".
        output_padding: None, an int or a tuple: extra size at the end of each output
            axis (each smaller than its stride).
        data_format: "channels_last" (or None) or "channels_first".
        dilation_rate: an int or a tuple with one int per spatial axis.

    Example:
        >>> import ember as em
        >>> em.ops.conv_transpose(em.ones((1, 4, 4, 3)), em.ones((3, 3, 2, 3)), 2, padding="same").shape
        (1, 8, 8, 2)
    """
    op = "conv_transpose"
    fmt = normalize_data_format(data_format, op)
    x = to_channels_last(_float(as_tensor(inputs)), fmt)
    rank = _spatial_rank(op, x)
    k = _kernel_arg(kernel, x)
    if k.ndim != rank + 2:
        raise ShapeError(f"{op}: a {rank}-D transposed convolution of an input of shape {x.shape} needs a kernel of "
                         f"rank {rank + 2}, got shape {k.shape}")
    s = normalize_tuple(strides, rank, "strides", op)
    d = normalize_tuple(dilation_rate, rank, "dilation_rate", op)
    outp = None if output_padding is None else _output_padding(output_padding, rank, s, op)
    return to_channels_first(conv_transpose_nd(x, k, None, s, normalize_padding(padding, op), outp, d), fmt)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """Depthwise convolution (``keras.ops.depthwise_conv``), 1-D or 2-D: each input
    channel convolved with its own ``depth_multiplier`` filters; output channel
    ``c * depth_multiplier + j``.

    Args:
        inputs: (batch, steps, channels) or (batch, height, width, channels).
        kernel: (k, channels, depth_multiplier) or (kh, kw, channels, depth_multiplier).
        strides, dilation_rate: an int or a tuple with one int per spatial axis.
        padding: "valid" or "same".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.depthwise_conv(em.ones((1, 5, 5, 3)), em.ones((3, 3, 3, 2))).shape
        (1, 3, 3, 6)
    """
    op = "depthwise_conv"
    fmt = normalize_data_format(data_format, op)
    x = to_channels_last(_float(as_tensor(inputs)), fmt)
    rank = _spatial_rank(op, x)
    if rank == 3:
        raise ShapeError(f"{op}: 3-D depthwise convolution is not supported; got an input of shape {x.shape}")
    k = _kernel_arg(kernel, x)
    if k.ndim != rank + 2 or k.shape[-2] != x.shape[-1]:
        raise ShapeError(f"{op}: an input of shape {x.shape} needs a kernel of shape (*kernel_size, {x.shape[-1]}, "
                         f"depth_multiplier) of rank {rank + 2}, got shape {k.shape}")
    s = normalize_tuple(strides, rank, "strides", op)
    d = normalize_tuple(dilation_rate, rank, "dilation_rate", op)
    y = conv_nd(x, depthwise_kernel_as_grouped(k), None, s, normalize_padding(padding, op), d, x.shape[-1])
    return to_channels_first(y, fmt)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1) -> Tensor:
    """Separable convolution (``keras.ops.separable_conv``): a depthwise convolution
    (strides, padding and dilation apply to it) followed by a pointwise (1 x 1) one.

    Args:
        inputs: (batch, steps, channels) or (batch, height, width, channels).
        depthwise_kernel: (*kernel_size, channels, depth_multiplier).
        pointwise_kernel: (*(1,) * rank, channels * depth_multiplier, filters).
        strides, dilation_rate: an int or a tuple with one int per spatial axis.
        padding: "valid" or "same".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.separable_conv(em.ones((1, 5, 5, 3)), em.ones((3, 3, 3, 2)), em.ones((1, 1, 6, 4))).shape
        (1, 3, 3, 4)
    """
    op = "separable_conv"
    fmt = normalize_data_format(data_format, op)
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, fmt, dilation_rate)
    y = to_channels_last(y, fmt)
    rank = y.ndim - 2
    pk = _kernel_arg(pointwise_kernel, y)
    if pk.ndim != rank + 2 or tuple(pk.shape[:rank]) != (1,) * rank or pk.shape[-2] != y.shape[-1]:
        raise ShapeError(f"{op}: the pointwise kernel must have shape ({'1, ' * rank}{y.shape[-1]}, filters) after a "
                         f"depthwise output of shape {y.shape}, got shape {pk.shape}")
    return to_channels_first(conv_nd(y, pk, None, (1,) * rank, "valid", (1,) * rank, 1), fmt)


def _pool(op: str, mode: str, inputs, pool_size, strides, padding, data_format):
    fmt = normalize_data_format(data_format, op)
    x = to_channels_last(_float(as_tensor(inputs)), fmt)
    rank = _spatial_rank(op, x)
    padding = normalize_padding(padding, op)
    pool = normalize_tuple(pool_size, rank, "pool_size", op)
    s = pool if strides is None else normalize_tuple(strides, rank, "strides", op)
    if rank != 2:
        for i, (size, k) in enumerate(zip(x.shape[1:-1], pool)):
            if padding == "valid" and k > size:
                raise ShapeError(f"{op}: the window {pool} is larger than the input of shape {x.shape} along axis "
                                 f"{i + 1}")
    else:
        _pads(op, x.shape, pool, s, (1, 1), padding)
    return to_channels_first(pool_nd(mode, x, pool, s, padding), fmt)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    """Max pooling (``keras.ops.max_pool``) of 1-D (batch, steps, channels), 2-D (batch,
    height, width, channels) or 3-D (batch, depth, height, width, channels) inputs.

    Args:
        inputs: the input tensor.
        pool_size: an int or a tuple with one int per spatial axis.
        strides: likewise; None means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.max_pool(em.ones((2, 4, 4, 3)), 2).shape
        (2, 2, 2, 3)
    """
    return _pool("max_pool", "max", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    """Average pooling (``keras.ops.average_pool``); with "same" padding each window
    averages its input elements only.

    Args:
        inputs: the input tensor (1-, 2- or 3-D spatial).
        pool_size: an int or a tuple with one int per spatial axis.
        strides: likewise; None means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.average_pool(em.ones((2, 6, 3)), 3).shape
        (2, 2, 3)
    """
    return _pool("average_pool", "average", inputs, pool_size, strides, padding, data_format)


# -- adaptive pooling (keras.ops.adaptive_average_pool / adaptive_max_pool) ------------------------

def _adaptive_windows(size: int, out: int):
    """PyTorch's (and Keras's) adaptive windows: bin i covers [floor(i L / out),
    ceil((i + 1) L / out))."""
    import numpy as np

    i = np.arange(out)
    starts = (i * size) // out
    ends = -((-(i + 1) * size) // out)
    return starts, ends


def _adaptive_pool(op: str, mode: str, inputs, output_size, data_format) -> Tensor:
    import numpy as np

    from .array_ops import take
    from .core import max as _max, mean as _mean

    fmt = normalize_data_format(data_format, op)
    x = to_channels_last(_float(as_tensor(inputs)), fmt)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ShapeError(f"{op}: expected an input of rank 3, 4 or 5 (batch, *spatial, channels), got shape {x.shape}")
    out = normalize_tuple(output_size, rank, "output_size", op)
    for axis in range(1, rank + 1):
        size, n_out = x.shape[axis], out[axis - 1]
        if size == 0:
            raise ShapeError(f"{op}: spatial axis {axis} of the input of shape {x.shape} is empty")
        starts, ends = _adaptive_windows(size, n_out)
        if mode == "average":
            # a (n_out, size) averaging matrix along this axis: one contraction, exact means
            w = np.zeros((n_out, size), np.float32)
            for j, (s, e) in enumerate(zip(starts, ends)):
                w[j, s:e] = 1.0 / (e - s)
            from .array_ops import tensordot

            moved = tensordot(x, as_tensor(w.T.copy(), device=x.device), axes=[[axis], [0]])  # axis moves last
            perm = list(range(axis)) + [moved.ndim - 1] + list(range(axis, moved.ndim - 1))
            x = transpose(moved, perm)
        else:
            # gather every window padded to the longest with its own last element, then max
            width = int((ends - starts).max())
            idx = np.minimum(starts[:, None] + np.arange(width)[None, :], (ends - 1)[:, None])  # (n_out, width)
            g = take(x, as_tensor(idx.astype(np.int32), dtype="int32", device=x.device), axis=axis)
            x = _max(g, axis=axis + 1)
    return to_channels_first(x, fmt)


def adaptive_average_pool(inputs, output_size, data_format=None) -> Tensor:
    """Adaptive average pooling (``keras.ops.adaptive_average_pool``): each output
    position is the mean over its input window ``[floor(i L / out), ceil((i + 1) L /
    out))`` along every spatial axis (PyTorch's windows), so any input size pools to
    ``output_size``. 1-, 2- or 3-D.

    Args:
        inputs: (batch, *spatial, channels), or channels first.
        output_size: an int or one int per spatial axis.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.adaptive_average_pool(em.ones((2, 7, 9, 3)), (2, 4)).shape
        (2, 2, 4, 3)
    """
    return _adaptive_pool("adaptive_average_pool", "average", inputs, output_size, data_format)


def adaptive_max_pool(inputs, output_size, data_format=None) -> Tensor:
    """Adaptive max pooling (``keras.ops.adaptive_max_pool``): each output position is
    the maximum over its input window (see `adaptive_average_pool`). 1-, 2- or 3-D.

    Args:
        inputs: (batch, *spatial, channels), or channels first.
        output_size: an int or one int per spatial axis.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.adaptive_max_pool(em.ones((2, 7, 3)), 3).shape
        (2, 3, 3)
    """
    return _adaptive_pool("adaptive_max_pool", "max", inputs, output_size, data_format)
