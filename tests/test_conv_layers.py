"""The convolutional layer family beyond Conv1D/Conv2D: Conv3D, Conv1DTranspose,
Conv2DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D, 3-D and channels_first pooling,
UpSampling, ZeroPadding, Cropping, and the keras.ops conv_transpose / depthwise_conv /
separable_conv, on every backend.

References: float64 numpy written as direct loops over the kernel taps (convolutions),
the output positions (pooling) or the pixels (bilinear upsampling); the transposed
convolution's reference is Keras/JAX's definition (the input dilated by the stride,
padded by the amounts of keras' ``_convert_conv_transpose_padding_args_from_keras_to_jax``,
convolved with the flipped kernel), not the input-gradient formulation Ember computes;
central finite differences of those references; real Keras layers given the same
weights; and the golden parameter counts of VGG16's convolutional base and Keras's MNIST
convnet.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember import layers
from ember.errors import InvalidArgumentError, ShapeError

sys.path.insert(0, str(Path(__file__).parent / "backend"))
from _conformance import GRADIENT, REDUCTION, assert_close, check_op, expect_error, f32, to_np  # noqa: E402

conv_ops = sys.modules["ember.ops.conv"]


# -- float64 references ---------------------------------------------------------------------------

def _pads(size, k, s, d, padding):
    ek = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return ek - 1, 0
    out = -(-size // s)
    total = max((out - 1) * s + ek - size, 0)
    return total // 2, total - total // 2


def conv_ref(x, w, strides, padding="valid", dilation=None, groups=1):
    """N-D channels_last convolution: the sum over the kernel taps of the strided input
    slices that tap sees, times the tap's (in, out) matrix, per group."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    r = x.ndim - 2
    dilation = dilation or (1,) * r
    ks, (cg, o) = w.shape[:r], w.shape[r:]
    xp = np.pad(x, [(0, 0)] + [_pads(x.shape[1 + i], ks[i], strides[i], dilation[i], padding) for i in range(r)]
                + [(0, 0)])
    out = [(xp.shape[1 + i] - (ks[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(r)]
    y = np.zeros((x.shape[0], *out, o))
    og = o // groups
    for tap in itertools.product(*(range(k) for k in ks)):
        sl = tuple(slice(tap[i] * dilation[i], tap[i] * dilation[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                   for i in range(r))
        v = xp[(slice(None),) + sl]
        for g in range(groups):
            y[..., g * og:(g + 1) * og] += v[..., g * cg:(g + 1) * cg] @ w[tap][:, g * og:(g + 1) * og]
    return y


def _keras_jax_transpose_pads(k, s, d, padding, output_padding):
    """keras.src.backend.common.backend_utils._convert_conv_transpose_padding_args_from_keras_to_jax."""
    k = (k - 1) * d + 1
    if padding == "valid":
        output_padding = max(k, s) - k if output_padding is None else output_padding
        return k - 1, k - 1 + output_padding
    pad_len = s + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return left, pad_len - left


def conv_transpose_ref(x, w, strides, padding, output_padding=None, dilation=None):
    """JAX's conv_transpose: dilate x by the strides (zeros between), pad, and convolve
    (stride 1, the layer's dilation) with the spatially flipped kernel (k, in, out)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    r = x.ndim - 2
    dilation = dilation or (1,) * r
    op = output_padding or (None,) * r
    dil_shape = [x.shape[0]] + [(x.shape[1 + i] - 1) * strides[i] + 1 for i in range(r)] + [x.shape[-1]]
    xd = np.zeros(dil_shape)
    xd[(slice(None),) + tuple(slice(None, None, s) for s in strides)] = x
    pads = [_keras_jax_transpose_pads(w.shape[i], strides[i], dilation[i], padding, op[i]) for i in range(r)]
    xp = np.pad(xd, [(0, 0)] + pads + [(0, 0)])
    wf = np.swapaxes(w[tuple(slice(None, None, -1) for _ in range(r))], -1, -2)
    return conv_ref(xp, wf, (1,) * r, "valid", dilation)


def depthwise_ref(x, w, strides, padding, dilation=None):
    """Each channel c convolved with its own depth_multiplier filters w[..., c, :];
    output channel c * m + j."""
    r = x.ndim - 2
    outs = [conv_ref(x[..., c:c + 1], w[..., c:c + 1, :], strides, padding, dilation) for c in range(x.shape[-1])]
    return np.concatenate(outs, axis=-1)


def pool_ref(x, pool, strides, padding, mode):
    x = np.asarray(x, np.float64)
    r = x.ndim - 2
    widths = [(0, 0)] + [_pads(x.shape[1 + i], pool[i], strides[i], 1, padding) for i in range(r)] + [(0, 0)]
    xp = np.pad(x, widths, constant_values=-np.inf if mode == "max" else 0.0)
    inside = np.pad(np.ones_like(x), widths)
    out = [(xp.shape[1 + i] - pool[i]) // strides[i] + 1 for i in range(r)]
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for pos in itertools.product(*(range(o) for o in out)):
        win = (slice(None),) + tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, strides, pool))
        axes = tuple(range(1, r + 1))
        if mode == "max":
            y[(slice(None),) + pos] = xp[win].max(axis=axes)
        else:
            y[(slice(None),) + pos] = xp[win].sum(axis=axes) / inside[win].sum(axis=axes)
    return y


def bilinear_ref(x, out_h, out_w):
    """Half-pixel bilinear resize, source coordinates clamped, pixel by pixel."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    y = np.zeros((n, out_h, out_w, c))
    for i in range(out_h):
        sy = min(max((i + 0.5) * h / out_h - 0.5, 0.0), h - 1)
        y0 = int(np.floor(sy)); y1 = min(y0 + 1, h - 1); fy = sy - y0
        for j in range(out_w):
            sx = min(max((j + 0.5) * w / out_w - 0.5, 0.0), w - 1)
            x0 = int(np.floor(sx)); x1 = min(x0 + 1, w - 1); fx = sx - x0
            y[:, i, j] = ((1 - fy) * ((1 - fx) * x[:, y0, x0] + fx * x[:, y0, x1])
                          + fy * ((1 - fx) * x[:, y1, x0] + fx * x[:, y1, x1]))
    return y


def first(a):
    """channels_last -> channels_first."""
    return np.moveaxis(np.asarray(a), -1, 1)


def last(a):
    return np.moveaxis(np.asarray(a), 1, -1)


def _rand(rng, shape):
    return f32(rng.uniform(-1.0, 1.0, shape))


def _build(layer, x, backend_name):
    with em.device(backend_name):
        y = layer(em.tensor(x, device=backend_name))
    return to_np(y)


# -- forward against the references, on every backend ----------------------------------------------

CONV_LAYER_CASES = [
    # (class, kwargs, input shape (channels_last))
    (layers.Conv3D, dict(filters=4, kernel_size=(2, 3, 2), padding="same"), (2, 4, 5, 5, 3)),
    (layers.Conv3D, dict(filters=3, kernel_size=2, strides=(2, 3, 1)), (1, 5, 7, 4, 2)),          # stride > kernel
    (layers.Conv3D, dict(filters=4, kernel_size=2, dilation_rate=(2, 1, 2), groups=2), (2, 5, 4, 5, 4)),
    (layers.Conv3D, dict(filters=2, kernel_size=(3, 4, 4)), (1, 3, 4, 4, 2)),                     # full-size kernel
    (layers.Conv3D, dict(filters=3, kernel_size=1), (1, 2, 3, 3, 4)),                             # 1x1x1
    (layers.Conv2D, dict(filters=4, kernel_size=3, strides=2, padding="same", groups=2), (1, 7, 6, 4)),
    (layers.Conv1D, dict(filters=3, kernel_size=3, padding="causal", dilation_rate=2), (2, 9, 2)),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cls,kwargs,shape", CONV_LAYER_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in
                                                                     enumerate(CONV_LAYER_CASES)])
def test_conv_layers_match_direct_loop_reference(backend_name, cls, kwargs, shape, data_format):
    rng = np.random.default_rng(1)
    x = _rand(rng, shape)
    layer = cls(data_format=data_format, **kwargs)
    y = _build(layer, x if data_format == "channels_last" else first(x), backend_name)
    k, b = to_np(layer.kernel), to_np(layer.bias)
    r = len(shape) - 2
    assert k.shape == layer.kernel_size + (shape[-1] // layer.groups, layer.filters)
    ref = conv_ref(x, k, layer.strides, layer.padding, layer.dilation_rate, layer.groups) + b
    if data_format == "channels_first":
        y = last(y)
    assert_close(y, ref, what=f"{cls.__name__} {kwargs} {data_format}", **REDUCTION)
    assert layer.compute_output_shape((None,) + (shape[1:] if data_format == "channels_last"
                                                 else first(np.zeros(shape)).shape[1:])) == (None,) + (
        ref.shape[1:] if data_format == "channels_last" else first(ref).shape[1:])
    assert len(layer.kernel.shape) == r + 2


TRANSPOSE_CASES = [
    (layers.Conv2DTranspose, dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 4, 5, 2)),
    (layers.Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=0), (1, 5, 4, 3)),
    (layers.Conv2DTranspose, dict(filters=2, kernel_size=(2, 3), strides=(3, 2), output_padding=(2, 1)), (2, 3, 4, 2)),
    (layers.Conv2DTranspose, dict(filters=3, kernel_size=2, strides=3), (1, 3, 3, 2)),          # stride > kernel
    (layers.Conv2DTranspose, dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"), (1, 5, 5, 2)),
    (layers.Conv2DTranspose, dict(filters=2, kernel_size=4, strides=3, padding="same", output_padding=2),
     (1, 3, 4, 3)),
    (layers.Conv2DTranspose, dict(filters=4, kernel_size=1), (1, 3, 3, 2)),
    (layers.Conv1DTranspose, dict(filters=3, kernel_size=4, strides=2, padding="same"), (2, 5, 2)),
    (layers.Conv1DTranspose, dict(filters=2, kernel_size=3, strides=2, output_padding=1), (1, 6, 3)),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cls,kwargs,shape", TRANSPOSE_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in
                                                                    enumerate(TRANSPOSE_CASES)])
def test_transposed_conv_layers_match_keras_definition(backend_name, cls, kwargs, shape, data_format):
    rng = np.random.default_rng(2)
    x = _rand(rng, shape)
    layer = cls(data_format=data_format, **kwargs)
    y = _build(layer, x if data_format == "channels_last" else first(x), backend_name)
    k, b = to_np(layer.kernel), to_np(layer.bias)
    assert k.shape == layer.kernel_size + (layer.filters, shape[-1])   # Keras's (k, filters, in) layout
    ref = conv_transpose_ref(x, k, layer.strides, layer.padding, layer.output_padding, layer.dilation_rate) + b
    if data_format == "channels_first":
        y = last(y)
    assert_close(y, ref, what=f"{cls.__name__} {kwargs}", **REDUCTION)
    in_shape = (None,) + (shape[1:] if data_format == "channels_last" else first(np.zeros(shape)).shape[1:])
    out = ref.shape[1:] if data_format == "channels_last" else first(ref).shape[1:]
    assert layer.compute_output_shape(in_shape) == (None,) + out


DEPTHWISE_CASES = [
    (layers.DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 6, 3)),
    (layers.DepthwiseConv2D, dict(kernel_size=(2, 3), dilation_rate=2), (1, 6, 8, 2)),
    (layers.DepthwiseConv2D, dict(kernel_size=(5, 4)), (1, 5, 4, 2)),                           # full-size kernel
    (layers.DepthwiseConv1D, dict(kernel_size=3, depth_multiplier=3, padding="same"), (2, 7, 2)),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cls,kwargs,shape", DEPTHWISE_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in
                                                                    enumerate(DEPTHWISE_CASES)])
def test_depthwise_layers_match_reference(backend_name, cls, kwargs, shape, data_format):
    rng = np.random.default_rng(3)
    x = _rand(rng, shape)
    layer = cls(data_format=data_format, **kwargs)
    y = _build(layer, x if data_format == "channels_last" else first(x), backend_name)
    k, b = to_np(layer.kernel), to_np(layer.bias)
    assert k.shape == layer.kernel_size + (shape[-1], layer.depth_multiplier)
    ref = depthwise_ref(x, k, layer.strides, layer.padding, layer.dilation_rate) + b
    assert_close(last(y) if data_format == "channels_first" else y, ref, what=f"{cls.__name__}", **REDUCTION)


@pytest.mark.parametrize("cls,kwargs,shape", [
    (layers.SeparableConv2D, dict(filters=5, kernel_size=3, depth_multiplier=2, padding="same", activation="relu"),
     (2, 6, 7, 3)),
    (layers.SeparableConv2D, dict(filters=2, kernel_size=2, strides=3, data_format="channels_first"), (1, 7, 8, 2)),
    (layers.SeparableConv1D, dict(filters=4, kernel_size=3, dilation_rate=2), (2, 9, 3)),
])
def test_separable_layers_match_reference(backend_name, cls, kwargs, shape):
    rng = np.random.default_rng(4)
    x = _rand(rng, shape)
    layer = cls(**kwargs)
    cf = layer.data_format == "channels_first"
    y = _build(layer, first(x) if cf else x, backend_name)
    dk, pk, b = (to_np(w) for w in layer.weights)
    r = len(shape) - 2
    assert pk.shape == (1,) * r + (shape[-1] * layer.depth_multiplier, layer.filters)
    ref = conv_ref(depthwise_ref(x, dk, layer.strides, layer.padding, layer.dilation_rate), pk, (1,) * r) + b
    if kwargs.get("activation") == "relu":
        ref = np.maximum(ref, 0)
    assert_close(last(y) if cf else y, ref, what=cls.__name__, **REDUCTION)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool,strides,padding,shape", [
    ((2, 2, 2), None, "valid", (2, 4, 5, 5, 2)),
    ((2, 3, 2), (2, 2, 3), "same", (1, 5, 5, 7, 2)),
    ((3, 1, 2), (1, 1, 1), "valid", (1, 4, 3, 4, 1)),    # overlapping windows
    ((1, 1, 1), (3, 3, 3), "valid", (1, 4, 5, 4, 2)),    # stride > pool
])
def test_pooling3d_layers_match_reference(backend_name, mode, pool, strides, padding, shape):
    rng = np.random.default_rng(5)
    x = _rand(rng, shape)
    cls = layers.MaxPooling3D if mode == "max" else layers.AveragePooling3D
    for fmt in ("channels_last", "channels_first"):
        layer = cls(pool, strides, padding, data_format=fmt)
        y = _build(layer, x if fmt == "channels_last" else first(x), backend_name)
        ref = pool_ref(x, pool, strides or pool, padding, mode)
        assert_close(y if fmt == "channels_last" else last(y), ref, what=f"{cls.__name__} {fmt}", **REDUCTION)


def test_channels_first_pooling_and_global_pooling(backend_name):
    rng = np.random.default_rng(6)
    x2, x1, x3 = _rand(rng, (2, 7, 6, 3)), _rand(rng, (2, 9, 3)), _rand(rng, (1, 3, 4, 5, 2))
    for cls, mode in ((layers.MaxPooling2D, "max"), (layers.AveragePooling2D, "average")):
        y = _build(cls(3, 2, "same", data_format="channels_first"), first(x2), backend_name)
        assert_close(last(y), pool_ref(x2, (3, 3), (2, 2), "same", mode), what=cls.__name__, **REDUCTION)
    for cls, mode in ((layers.MaxPooling1D, "max"), (layers.AveragePooling1D, "average")):
        y = _build(cls(3, 2, data_format="channels_first"), first(x1), backend_name)
        assert_close(last(y), pool_ref(x1, (3,), (2,), "valid", mode), what=cls.__name__, **REDUCTION)
    for x, (avg, mx) in ((x1, (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D)),
                         (x2, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)),
                         (x3, (layers.GlobalAveragePooling3D, layers.GlobalMaxPooling3D))):
        axes = tuple(range(1, x.ndim - 1))
        for cls, fn in ((avg, np.mean), (mx, np.max)):
            for keep in (False, True):
                ref = fn(x.astype(np.float64), axis=axes, keepdims=keep)
                y = _build(cls(keepdims=keep), x, backend_name)
                assert_close(y, ref, what=f"{cls.__name__} keepdims={keep}", **REDUCTION)
                yf = _build(cls(data_format="channels_first", keepdims=keep), first(x), backend_name)
                assert_close(yf, first(ref) if keep else ref, what=f"{cls.__name__} channels_first", **REDUCTION)
                assert cls(keepdims=keep).compute_output_shape(x.shape) == ref.shape


def test_reshaping_layers_match_numpy(backend_name):
    rng = np.random.default_rng(7)
    x1, x2, x3 = _rand(rng, (2, 5, 3)), _rand(rng, (2, 4, 3, 2)), _rand(rng, (1, 3, 4, 5, 2))
    cases = [
        (layers.ZeroPadding1D((1, 2)), x1, np.pad(x1, ((0, 0), (1, 2), (0, 0)))),
        (layers.ZeroPadding2D(((1, 0), (2, 3))), x2, np.pad(x2, ((0, 0), (1, 0), (2, 3), (0, 0)))),
        (layers.ZeroPadding2D(1), x2, np.pad(x2, ((0, 0), (1, 1), (1, 1), (0, 0)))),
        (layers.ZeroPadding3D((1, 0, 2)), x3, np.pad(x3, ((0, 0), (1, 1), (0, 0), (2, 2), (0, 0)))),
        (layers.Cropping1D((1, 2)), x1, x1[:, 1:3]),
        (layers.Cropping2D(((1, 0), (1, 1))), x2, x2[:, 1:, 1:2]),
        (layers.Cropping3D(((1, 0), (0, 1), (2, 1))), x3, x3[:, 1:, :3, 2:4]),
        (layers.UpSampling1D(3), x1, np.repeat(x1, 3, axis=1)),
        (layers.UpSampling2D((2, 3)), x2, np.repeat(np.repeat(x2, 2, axis=1), 3, axis=2)),
        (layers.UpSampling2D((2, 3), interpolation="bilinear"), x2, bilinear_ref(x2, 8, 9)),
        (layers.UpSampling2D(3, interpolation="bilinear"), x2[:1, :1, :1], np.repeat(np.repeat(x2[:1, :1, :1], 3, 1), 3, 2)),
    ]
    for layer, x, ref in cases:
        assert_close(_build(layer, x, backend_name), ref, what=type(layer).__name__, **REDUCTION)
        assert layer.compute_output_shape(x.shape) == ref.shape
    # channels_first: the same on the transposed layout
    for layer, x, ref in ((layers.ZeroPadding2D(((1, 0), (2, 3)), data_format="channels_first"), x2,
                           np.pad(x2, ((0, 0), (1, 0), (2, 3), (0, 0)))),
                          (layers.Cropping2D(((1, 0), (1, 1)), data_format="channels_first"), x2, x2[:, 1:, 1:2]),
                          (layers.UpSampling2D(2, data_format="channels_first", interpolation="bilinear"), x2,
                           bilinear_ref(x2, 8, 6))):
        assert_close(last(_build(layer, first(x), backend_name)), ref, what=f"{type(layer).__name__} cf", **REDUCTION)


# -- gradients against central finite differences -----------------------------------------------------

GRAD_CASES = [
    # (name, em_fn(x, k), np_fn(x, k), x shape, k shape)
    ("conv3d same", lambda x, k: conv_ops.conv3d(x, k, None, (1, 2, 1), "same"),
     lambda x, k: conv_ref(x, k, (1, 2, 1), "same"), (1, 3, 4, 3, 2), (2, 2, 2, 2, 3)),
    ("conv3d grouped dilated", lambda x, k: conv_ops.conv3d(x, k, None, 1, "valid", (2, 1, 1), 2),
     lambda x, k: conv_ref(x, k, (1, 1, 1), "valid", (2, 1, 1), 2), (1, 4, 3, 3, 4), (2, 2, 2, 2, 4)),
    ("conv_transpose same op1", lambda x, k: em.ops.conv_transpose(x, k, 2, "same", output_padding=1),
     lambda x, k: conv_transpose_ref(x, k, (2, 2), "same", (1, 1)), (2, 3, 3, 2), (3, 3, 3, 2)),
    ("conv_transpose valid stride>kernel", lambda x, k: em.ops.conv_transpose(x, k, 3),
     lambda x, k: conv_transpose_ref(x, k, (3, 3), "valid"), (1, 2, 3, 2), (2, 2, 2, 2)),
    ("conv_transpose 1d dilated", lambda x, k: em.ops.conv_transpose(x, k, 1, "same", dilation_rate=2),
     lambda x, k: conv_transpose_ref(x, k, (1,), "same", None, (2,)), (2, 5, 2), (3, 2, 2)),
    ("depthwise_conv", lambda x, k: em.ops.depthwise_conv(x, k, 2, "same"),
     lambda x, k: depthwise_ref(x, k, (2, 2), "same"), (1, 5, 4, 3), (3, 3, 3, 2)),
    ("conv channels_first", lambda x, k: em.ops.conv(x, k, 1, "same", data_format="channels_first"),
     lambda x, k: first(conv_ref(last(x), k, (1, 1), "same")), (2, 2, 4, 5), (3, 2, 2, 3)),
]


@pytest.mark.parametrize("name,em_fn,np_fn,xs,ks", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_finite_differences(backend_name, name, em_fn, np_fn, xs, ks):
    rng = np.random.default_rng(8)
    check_op(backend_name, em_fn, np_fn, [_rand(rng, xs), _rand(rng, ks)], fwd_tol=REDUCTION, grad_tol=GRADIENT)


def test_separable_and_pooling_gradients_match_finite_differences(backend_name):
    rng = np.random.default_rng(9)
    x, dk, pk = _rand(rng, (1, 5, 5, 2)), _rand(rng, (3, 3, 2, 2)), _rand(rng, (1, 1, 4, 3))
    check_op(backend_name, lambda x, dk, pk: em.ops.separable_conv(x, dk, pk, 1, "same"),
             lambda x, dk, pk: conv_ref(depthwise_ref(x, dk, (1, 1), "same"), pk, (1, 1)), [x, dk, pk],
             fwd_tol=REDUCTION, grad_tol=GRADIENT)
    x3 = _rand(rng, (1, 3, 4, 5, 2))
    for mode, fn in (("max", em.ops.max_pool), ("average", em.ops.average_pool)):
        check_op(backend_name, lambda x: fn(x, (2, 2, 3), (1, 2, 2), "same"),
                 lambda x: pool_ref(x, (2, 2, 3), (1, 2, 2), "same", mode), [x3], fwd_tol=REDUCTION, grad_tol=GRADIENT)
    x2 = _rand(rng, (1, 3, 2, 2))
    up = layers.UpSampling2D((2, 3), interpolation="bilinear")
    check_op(backend_name, lambda x: up(x), lambda x: bilinear_ref(x, 6, 6), [x2], fwd_tol=REDUCTION,
             grad_tol=GRADIENT)


def test_layer_weight_gradients_flow_and_batch_of_one(backend_name):
    """A batch of one through every new trainable layer; the loss's gradient reaches
    every weight (checked against finite differences for Conv2DTranspose's kernel)."""
    rng = np.random.default_rng(10)
    x = _rand(rng, (1, 5, 4, 2))
    layer = layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1)
    with em.device(backend_name):
        layer(em.tensor(x, device=backend_name))
    k, b = to_np(layer.kernel), to_np(layer.bias)
    check_op(backend_name, lambda x, k, b: conv_ops.conv2d_transpose(x, k, b, 2, "same", 1),
             lambda x, k, b: conv_transpose_ref(x, k, (2, 2), "same", (1, 1)) + b, [x, k, b], fwd_tol=REDUCTION,
             grad_tol=GRADIENT)
    for layer, xs in ((layers.Conv3D(2, 2), (1, 3, 3, 3, 2)), (layers.DepthwiseConv2D(2, depth_multiplier=2), (1, 3, 3, 2)),
                      (layers.SeparableConv1D(2, 2), (1, 4, 2)), (layers.Conv1DTranspose(2, 3, 2), (1, 3, 2))):
        with em.device(backend_name), em.GradientTape() as tape:
            loss = em.ops.sum(em.ops.square(layer(em.tensor(_rand(rng, xs), device=backend_name))))
        grads = tape.gradient(loss, layer.trainable_weights)
        assert len(grads) == len(layer.trainable_weights) and all(g is not None and np.any(to_np(g)) for g in grads)


# -- real Keras, same weights --------------------------------------------------------------------------

# One case per layer family; the numpy references above cover the argument combinations
# (each Keras case costs a few seconds of JAX compilation).
KERAS_CASES = [
    ("Conv3D", dict(filters=4, kernel_size=(2, 3, 2), strides=(1, 2, 1), padding="same", groups=2,
                    data_format="channels_first"), (2, 4, 4, 5, 6)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=1), (2, 4, 5, 2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=4, strides=2, padding="valid", data_format="channels_first"),
     (2, 2, 5)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 6, 3)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, depth_multiplier=2, padding="same", activation="relu"),
     (2, 6, 7, 3)),
    ("AveragePooling3D", dict(pool_size=(2, 3, 2), padding="same", data_format="channels_first"), (2, 3, 4, 5, 6)),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (2, 4, 3, 2)),
]


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    # One XLA thread: on a small shared machine XLA's spinning thread pool and Ember's
    # rayon pool can starve each other (a 2 s comparison once took minutes).
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("name,kwargs,shape", KERAS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(KERAS_CASES)])
def test_same_weights_give_keras_outputs_and_configs(keras, name, kwargs, shape):
    rng = np.random.default_rng(11)
    x = _rand(rng, shape)
    kl, el = getattr(keras.layers, name)(**kwargs), getattr(layers, name)(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # keras's numpy-2 __array__ notice
        kl(x)
        el(x)
        assert [tuple(w.shape) for w in kl.weights] == [w.shape for w in el.weights]
        assert [w.name.split("/")[-1] for w in el.weights] == [w.path.split("/")[-1] for w in kl.weights]
        weights = [_rand(rng, tuple(w.shape)) for w in kl.weights]
        for w, a in zip(kl.weights, weights):
            w.assign(a)
        el.set_weights(weights)
        expected = np.asarray(kl(x))
        kc = kl.get_config()
    assert_close(to_np(el(x)), expected, what=name, **REDUCTION)
    ec = el.get_config()
    assert set(kc) == set(ec), (set(kc) ^ set(ec))
    for key in ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "pool_size", "output_padding",
                "depth_multiplier", "filters", "groups", "cropping", "size", "interpolation", "keepdims"):
        if key in kc:
            want = kc[key]
            want = [list(p) if isinstance(p, tuple) else p for p in want] if isinstance(want, (tuple, list)) else want
            assert ec[key] == want, (key, ec[key], kc[key])
    clone = type(el).from_config(json.loads(json.dumps(ec)))
    assert clone.get_config() == ec
    restored = em.saving.deserialize(json.loads(json.dumps(em.saving.serialize(el))))
    assert type(restored) is type(el)
    restored(x)
    restored.set_weights(el.get_weights())
    np.testing.assert_array_equal(to_np(restored(x)), to_np(el(x)))


# -- model-level: the golden parameter counts -------------------------------------------------------------

def vgg16_base():
    """Keras's VGG16 (include_top=False) convolutional base, block by block."""
    stack = [em.Input((224, 224, 3))]
    for filters, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu") for _ in range(convs)]
        stack.append(layers.MaxPooling2D(2, strides=2))
    return em.Sequential(stack)


def _summary(model, input_shape):
    shape, rows = (None,) + input_shape, []
    for layer in model.layers:
        shape = layer.compute_output_shape(shape)
        rows.append((tuple(shape[1:]), layer.count_params()))
    return rows


def test_vgg16_base_and_mnist_convnet_match_golden_counts(golden):
    counts = golden["param_counts"]
    vgg = vgg16_base()
    ref = counts["vgg16_convolutional_base_no_top"]
    assert _summary(vgg, (224, 224, 3)) == [(tuple(r["output_shape"]), r["params"]) for r in ref["layers"]]
    assert vgg.count_params() == ref["total"] == 14_714_688
    assert vgg.output_shape == (None, 7, 7, 512)
    mnist = em.Sequential([em.Input((28, 28, 1)), layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    ref = counts["keras_mnist_convnet"]
    assert _summary(mnist, (28, 28, 1)) == [(tuple(r["output_shape"]), r["params"]) for r in ref["layers"]]
    assert mnist.count_params() == ref["total"] == 34_826


# -- bad input -------------------------------------------------------------------------------------------

def test_bad_inputs_raise_errors_naming_the_layer_and_shapes():
    x5 = np.ones((1, 3, 5, 5, 2), np.float32)
    big = layers.Conv3D(2, (4, 3, 3))
    expect_error(ShapeError, big, x5, words=(big.name, "(None, 3, 5, 5, 2)", "(4, 3, 3)"))
    dw = layers.DepthwiseConv2D(6)
    expect_error(ShapeError, dw, np.ones((1, 5, 5, 2), np.float32), words=(dw.name, "(6, 6)"))
    sep = layers.SeparableConv1D(3, 7)
    expect_error(ShapeError, sep, np.ones((1, 5, 2), np.float32), words=(sep.name, "(7,)"))
    pool = layers.MaxPooling3D(4)
    expect_error(ShapeError, pool, x5, words=(pool.name, "(4, 4, 4)"))
    crop = layers.Cropping2D(((2, 3), (0, 0)))
    expect_error(ShapeError, crop, np.ones((1, 5, 5, 2), np.float32), words=(crop.name, "(None, 5, 5, 2)"))
    for layer, bad in ((layers.Conv3D(2, 2), np.ones((1, 5, 5, 2), np.float32)),
                       (layers.Conv2DTranspose(2, 2), np.ones((1, 5, 2), np.float32)),
                       (layers.DepthwiseConv1D(2), np.ones((1, 5, 5, 2), np.float32)),
                       (layers.AveragePooling3D(2), np.ones((1, 5, 5, 2), np.float32)),
                       (layers.UpSampling2D(), np.ones((1, 5, 2), np.float32)),
                       (layers.ZeroPadding3D(), np.ones((1, 5, 5, 2), np.float32))):
        expect_error(ShapeError, layer, bad, words=(layer.name, str(bad.shape)))
    # set_weights with the wrong channel count names the weight (layer/kernel) and both shapes
    conv = layers.Conv2DTranspose(4, 3)
    conv(np.ones((1, 4, 4, 3), np.float32))
    expect_error(ShapeError, conv.set_weights, [np.ones((3, 3, 4, 2), np.float32), np.ones(4, np.float32)],
                 words=(conv.name, "(3, 3, 4, 3)", "(3, 3, 4, 2)"))
    for cls, args in ((layers.Conv3D, (2, 2)), (layers.Conv2DTranspose, (2, 2)), (layers.Conv1DTranspose, (2, 2)),
                      (layers.DepthwiseConv2D, (2,)), (layers.SeparableConv2D, (2, 2)), (layers.SeparableConv1D, (2, 2)),
                      (layers.MaxPooling3D, (2,)), (layers.AveragePooling3D, (2,))):
        for bad in (0, -1):
            expect_error(InvalidArgumentError, cls, *args, strides=bad, words=(cls.__name__, "strides"))
    expect_error(InvalidArgumentError, layers.Conv2DTranspose, 2, 3, strides=2, output_padding=2,
                 words=("output_padding", "strides"))
    expect_error(InvalidArgumentError, layers.DepthwiseConv2D, 3, depth_multiplier=0, words=("depth_multiplier",))
    expect_error(InvalidArgumentError, layers.Conv1DTranspose, 2, 3, padding="causal", words=("padding",))
    expect_error(InvalidArgumentError, layers.Conv3D, 2, 3, data_format="NCHW", words=("data_format",))
    expect_error(InvalidArgumentError, layers.UpSampling2D, interpolation="bicubic", words=("interpolation",))
    expect_error(InvalidArgumentError, layers.ZeroPadding2D, ((1, 2, 3),), words=("padding",))
    t = em.ones((1, 4, 4, 3))
    expect_error(ShapeError, em.ops.conv_transpose, t, em.ones((3, 3, 2, 5)), words=("conv2d_transpose", "(1, 4, 4, 3)",
                                                                                  "(3, 3, 2, 5)"))
    expect_error(ShapeError, em.ops.depthwise_conv, t, em.ones((3, 3, 2, 1)), words=("depthwise_conv", "(3, 3, 2, 1)"))
    expect_error(ShapeError, em.ops.separable_conv, t, em.ones((3, 3, 3, 1)), em.ones((1, 1, 2, 4)),
                 words=("separable_conv", "(1, 1, 2, 4)"))
    expect_error(InvalidArgumentError, em.ops.conv_transpose, t, em.ones((3, 3, 2, 3)), strides=0, words=("strides",))
