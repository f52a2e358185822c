"""Convolution and pooling: ops (conv2d, conv, max_pool, average_pool) and layers
(Conv1D, Conv2D, the pooling layers), on every backend.

References: float64 numpy written as direct loops over the output positions (not
im2col), central finite differences of those references, hand-computed values that pin
Keras/TensorFlow's "same" padding (the odd extra row at the end), the Keras
functional-API guide's toy ResNet (shapes and its 223,242 parameters), and training on
scikit-learn's digits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember import layers
from ember.errors import InvalidArgumentError, ShapeError
from ember.ops.conv import conv2d as conv2d_op

sys.path.insert(0, str(Path(__file__).parent / "backend"))
from _conformance import GRADIENT, REDUCTION, assert_close, check_op, expect_error, f32, to_np  # noqa: E402
from conftest import GPU_UNAVAILABLE  # noqa: E402


# -- float64 references: direct loops over output positions ---------------------------------------

def _same(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (tf.nn.convolution docs): output ceil(size / s); total
    padding max((out - 1) s + (k - 1) d + 1 - size, 0), the odd one at the end."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def conv2d_ref(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1, act=None):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        (pt, pb), (pl, pr) = _same(h, kh, sh, dh), _same(wd, kw, sw, dw)
    else:
        pt = pb = pl = pr = 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    v = xp[:, i * sh + p * dh, j * sw + q * dw, :]
                    for g in range(groups):
                        out[:, i, j, g * og:(g + 1) * og] += v[:, g * cg:(g + 1) * cg] @ w[p, q, :, g * og:(g + 1) * og]
    if b is not None:
        out = out + np.asarray(b, np.float64)
    if act == "relu":
        out = np.maximum(out, 0.0)
    elif act == "tanh":
        out = np.tanh(out)
    return out


def conv1d_ref(x, w, b=None, stride=1, padding="valid", dilation=1):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, steps, c = x.shape
    k, _, o = w.shape
    lo, hi = {"valid": (0, 0), "same": _same(steps, k, stride, dilation), "causal": ((k - 1) * dilation, 0)}[padding]
    xp = np.pad(x, ((0, 0), (lo, hi), (0, 0)))
    out_len = (xp.shape[1] - (k - 1) * dilation - 1) // stride + 1
    out = np.zeros((n, out_len, o))
    for t in range(out_len):
        for p in range(k):
            out[:, t, :] += xp[:, t * stride + p * dilation, :] @ w[p]
    return out if b is None else out + b


def pool2d_ref(x, pool, strides, padding, mode):
    x = np.asarray(x, np.float64)
    n, h, wd, c = x.shape
    (kh, kw), (sh, sw) = pool, strides
    (pt, pb), (pl, pr) = (_same(h, kh, sh), _same(wd, kw, sw)) if padding == "same" else ((0, 0), (0, 0))
    widths = ((0, 0), (pt, pb), (pl, pr), (0, 0))
    xp = np.pad(x, widths, constant_values=-np.inf if mode == "max" else 0.0)
    inside = np.pad(np.ones_like(x), widths)
    oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            if mode == "max":
                out[:, i, j] = win.max(axis=(1, 2))
            else:
                out[:, i, j] = win.sum(axis=(1, 2)) / inside[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :].sum(axis=(1, 2))
    return out


def ref64(x):
    return np.asarray(x, np.float64)


def _rand(rng, shape):
    return f32(rng.uniform(-1.0, 1.0, shape))


# -- ops: forward against the references -----------------------------------------------------------

CONV_CASES = [
    # (input shape, kernel shape, strides, padding, dilation, groups)
    ((2, 7, 7, 3), (3, 3, 3, 4), (1, 1), "valid", (1, 1), 1),
    ((2, 7, 6, 3), (3, 2, 3, 5), (2, 1), "same", (1, 1), 1),
    ((1, 8, 8, 2), (3, 3, 2, 3), (1, 1), "valid", (2, 2), 1),
    ((1, 8, 7, 2), (3, 3, 2, 3), (1, 1), "same", (2, 3), 1),
    ((2, 5, 6, 4), (2, 3, 4, 2), (2, 3), "same", (1, 1), 1),
    ((2, 9, 9, 2), (2, 2, 2, 3), (3, 3), "valid", (1, 1), 1),   # strides larger than the kernel
    ((2, 4, 4, 3), (4, 4, 3, 2), (1, 1), "valid", (1, 1), 1),   # kernel as large as the input
    ((3, 5, 5, 6), (1, 1, 6, 4), (1, 1), "valid", (1, 1), 1),   # 1x1
    ((1, 6, 6, 4), (3, 3, 2, 6), (1, 1), "same", (1, 1), 2),    # grouped
    ((2, 5, 5, 6), (3, 3, 1, 6), (2, 2), "valid", (1, 1), 6),   # depthwise
    ((2, 13, 11, 8), (3, 3, 8, 16), (2, 2), "same", (1, 1), 1),
]


@pytest.mark.parametrize("xs,ks,strides,padding,dilation,groups", CONV_CASES)
def test_conv2d_matches_direct_loop_reference(backend_name, xs, ks, strides, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x, k, b = _rand(rng, xs), _rand(rng, ks), _rand(rng, ks[-1:])
    for act in ("linear", "relu"):
        y = conv2d_op(em.tensor(x, device=backend_name), em.tensor(k, device=backend_name),
                               em.tensor(b, device=backend_name), strides, padding, dilation, groups, act)
        ref = conv2d_ref(x, k, b, strides, padding, dilation, groups, act)
        assert_close(to_np(y), ref, what=f"conv2d {xs} {ks} {strides} {padding} {dilation} g{groups} {act}", **REDUCTION)
    # keras.ops.conv (no bias; groups inferred from the kernel's input channels)
    y = em.ops.conv(em.tensor(x, device=backend_name), em.tensor(k, device=backend_name), strides=strides,
                    padding=padding, dilation_rate=dilation)
    assert_close(to_np(y), conv2d_ref(x, k, None, strides, padding, dilation, groups), what="ops.conv", **REDUCTION)


def test_same_padding_puts_the_odd_extra_at_the_end(backend_name):
    # Hand-computed (TensorFlow/Keras SAME): input 0..4, kernel [1, 1], stride 1: the one
    # row of padding goes after the input, so the last output is 4 + 0.
    x = np.arange(5, dtype=np.float32).reshape(1, 5, 1)
    k = np.ones((2, 1, 1), np.float32)
    y = em.ops.conv(em.tensor(x, device=backend_name), em.tensor(k, device=backend_name), padding="same")
    np.testing.assert_array_equal(to_np(y).reshape(-1), [1, 3, 5, 7, 4])
    # stride 2 on 4 rows with a 3-tap kernel: out 2, total padding 1, at the end: rows (0,1,2), (2,3,pad).
    x = np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)
    y = em.ops.conv(em.tensor(x, device=backend_name), em.tensor(np.ones((3, 1, 1, 1), np.float32), device=backend_name),
                    strides=2, padding="same")
    np.testing.assert_array_equal(to_np(y).reshape(-1), [3, 5])
    # max pool 2x2 stride 2 "same" on 3x3: windows (0..1), (2, pad): padding never wins.
    x = -np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    y = em.ops.max_pool(em.tensor(x, device=backend_name), 2, padding="same")
    np.testing.assert_array_equal(to_np(y).reshape(-1), [0, -2, -6, -8])
    # average pool "same" divides by the input elements in the window only.
    y = em.ops.average_pool(em.tensor(-x, device=backend_name), 2, padding="same")
    np.testing.assert_allclose(to_np(y).reshape(-1), [(0 + 1 + 3 + 4) / 4, (2 + 5) / 2, (6 + 7) / 2, 8], rtol=1e-6)


POOL_CASES = [
    # (input shape, pool, strides, padding)
    ((2, 6, 6, 3), (2, 2), (2, 2), "valid"),
    ((2, 7, 7, 2), (3, 3), (2, 2), "valid"),
    ((2, 7, 5, 2), (3, 3), (2, 2), "same"),
    ((1, 5, 6, 3), (2, 3), (1, 2), "same"),
    ((1, 9, 9, 4), (3, 3), (3, 3), "valid"),
    ((2, 4, 5, 1), (2, 2), (1, 1), "valid"),
    ((3, 28, 28, 8), (3, 3), (3, 3), "valid"),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("xs,pool,strides,padding", POOL_CASES)
def test_pooling_matches_direct_loop_reference(backend_name, xs, pool, strides, padding, mode):
    rng = np.random.default_rng(2)
    x = _rand(rng, xs)
    fn = em.ops.max_pool if mode == "max" else em.ops.average_pool
    y = fn(em.tensor(x, device=backend_name), pool, strides=strides, padding=padding)
    assert_close(to_np(y), pool2d_ref(x, pool, strides, padding, mode), what=f"{mode} pool {xs} {pool} {strides} {padding}",
                 **REDUCTION)


# -- gradients against central finite differences ---------------------------------------------------

CONV_GRAD_CASES = [
    ((2, 5, 5, 2), (3, 3, 2, 3), (1, 1), "valid", (1, 1), 1, "linear"),
    ((1, 5, 4, 2), (3, 2, 2, 2), (2, 2), "same", (1, 1), 1, "tanh"),
    ((1, 6, 6, 1), (2, 2, 1, 2), (1, 1), "same", (2, 2), 1, "linear"),
    ((2, 4, 4, 4), (3, 3, 2, 4), (1, 1), "same", (1, 1), 2, "tanh"),
    ((1, 5, 5, 2), (2, 2, 2, 2), (3, 3), "valid", (1, 1), 1, "linear"),
]


@pytest.mark.parametrize("xs,ks,strides,padding,dilation,groups,act", CONV_GRAD_CASES)
def test_conv2d_gradients_match_finite_differences(backend_name, xs, ks, strides, padding, dilation, groups, act):
    rng = np.random.default_rng(3)
    x, k, b = _rand(rng, xs), _rand(rng, ks), _rand(rng, ks[-1:])
    check_op(
        backend_name,
        lambda x, k, b: conv2d_op(x, k, b, strides, padding, dilation, groups, act),
        lambda x, k, b: conv2d_ref(x, k, b, strides, padding, dilation, groups, None if act == "linear" else act),
        [x, k, b], fwd_tol=REDUCTION, grad_tol=GRADIENT,
    )


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("xs,pool,strides,padding", [
    ((2, 5, 5, 2), (2, 2), (2, 2), "valid"),
    ((1, 5, 4, 2), (3, 3), (2, 2), "same"),
    ((1, 5, 5, 1), (3, 2), (1, 1), "valid"),   # overlapping windows accumulate
])
def test_pooling_gradients_match_finite_differences(backend_name, xs, pool, strides, padding, mode):
    rng = np.random.default_rng(4)
    x = _rand(rng, xs)  # continuous values: no ties, so max pooling is differentiable here
    fn = em.ops.max_pool if mode == "max" else em.ops.average_pool
    check_op(backend_name, lambda x: fn(x, pool, strides=strides, padding=padding),
             lambda x: pool2d_ref(x, pool, strides, padding, mode), [x], fwd_tol=REDUCTION, grad_tol=GRADIENT)


def test_max_pool_gradient_goes_to_the_first_maximum_of_a_tie(backend_name):
    # TensorFlow and PyTorch route a window's gradient to one element: the first
    # maximum in row-major window order.
    x = em.tensor(np.ones((1, 4, 4, 1), np.float32), device=backend_name)
    x.requires_grad = True
    em.ops.sum(em.ops.max_pool(x, 2)).backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0
    np.testing.assert_array_equal(to_np(x.grad).reshape(4, 4), expected)


def test_conv_and_pool_ops_1d(backend_name):
    rng = np.random.default_rng(5)
    x, k = _rand(rng, (2, 11, 3)), _rand(rng, (3, 3, 4))
    for stride, padding, dilation in ((1, "valid", 1), (2, "same", 1), (1, "same", 2)):
        y = em.ops.conv(em.tensor(x, device=backend_name), em.tensor(k, device=backend_name), strides=stride,
                        padding=padding, dilation_rate=dilation)
        assert_close(to_np(y), conv1d_ref(x, k, None, stride, padding, dilation), what=f"conv1d {stride} {padding}",
                     **REDUCTION)
    y = em.ops.max_pool(em.tensor(x, device=backend_name), 3, strides=2)
    assert_close(to_np(y), pool2d_ref(x[:, None], (1, 3), (1, 2), "valid", "max")[:, 0], what="max_pool 1d", **REDUCTION)


# -- layers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(filters=4, kernel_size=3),
    dict(filters=5, kernel_size=(3, 2), strides=(2, 1), padding="same", activation="relu"),
    dict(filters=3, kernel_size=3, dilation_rate=2, use_bias=False, activation="tanh"),
    dict(filters=4, kernel_size=2, groups=2, padding="same"),
    dict(filters=6, kernel_size=3, activation="softmax"),
])
def test_conv2d_layer_matches_reference(backend_name, kwargs):
    rng = np.random.default_rng(6)
    x = _rand(rng, (2, 9, 8, 4))
    with em.device(backend_name):
        layer = layers.Conv2D(**kwargs)
        y = to_np(layer(em.tensor(x, device=backend_name)))
    k = to_np(layer.kernel)
    b = to_np(layer.bias) if layer.use_bias else None
    assert k.shape == layer.kernel_size + (4 // layer.groups, layer.filters)
    act = kwargs.get("activation")
    ref = conv2d_ref(x, k, b, layer.strides, layer.padding, layer.dilation_rate, layer.groups,
                     act if act in ("relu", "tanh") else None)
    if act == "softmax":
        e = np.exp(ref - ref.max(-1, keepdims=True))
        ref = e / e.sum(-1, keepdims=True)
    assert_close(y, ref, what=f"Conv2D {kwargs}", **REDUCTION)
    assert y.shape == layer.compute_output_shape((2, 9, 8, 4))


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1), ("causal", 1, 2)])
def test_conv1d_layer_matches_reference(backend_name, padding, strides, dilation):
    rng = np.random.default_rng(7)
    x = _rand(rng, (3, 10, 2))
    with em.device(backend_name):
        layer = layers.Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation)
        y = to_np(layer(em.tensor(x, device=backend_name)))
    assert layer.kernel.shape == (3, 2, 4)
    ref = conv1d_ref(x, to_np(layer.kernel), to_np(layer.bias), strides, padding, dilation)
    assert_close(y, ref, what=f"Conv1D {padding}", **REDUCTION)
    assert y.shape == layer.compute_output_shape((3, 10, 2))


def test_causal_conv1d_does_not_see_the_future():
    x = np.zeros((1, 8, 1), np.float32)
    layer = layers.Conv1D(1, 3, padding="causal", kernel_initializer="ones")
    base = to_np(layer(x))
    x[0, 5, 0] = 1.0
    changed = np.nonzero(to_np(layer(x))[0, :, 0] != base[0, :, 0])[0]
    assert changed.tolist() == [5, 6, 7]


def test_pooling_layers_match_reference(backend_name):
    rng = np.random.default_rng(8)
    x = _rand(rng, (2, 7, 6, 3))
    x1 = _rand(rng, (2, 9, 3))
    cases = [
        (layers.MaxPooling2D(), pool2d_ref(x, (2, 2), (2, 2), "valid", "max"), x),
        (layers.MaxPooling2D(3, strides=2, padding="same"), pool2d_ref(x, (3, 3), (2, 2), "same", "max"), x),
        (layers.AveragePooling2D((2, 3), strides=1), pool2d_ref(x, (2, 3), (1, 1), "valid", "average"), x),
        (layers.AveragePooling2D(2, padding="same"), pool2d_ref(x, (2, 2), (2, 2), "same", "average"), x),
        (layers.GlobalAveragePooling2D(), ref64(x).mean(axis=(1, 2)), x),
        (layers.GlobalMaxPooling2D(keepdims=True), ref64(x).max(axis=(1, 2), keepdims=True), x),
        (layers.MaxPooling1D(), pool2d_ref(x1[:, None], (1, 2), (1, 2), "valid", "max")[:, 0], x1),
        (layers.AveragePooling1D(3, strides=2, padding="same"), pool2d_ref(x1[:, None], (1, 3), (1, 2), "same", "average")[:, 0], x1),
        (layers.GlobalAveragePooling1D(), ref64(x1).mean(axis=1), x1),
        (layers.GlobalMaxPooling1D(), ref64(x1).max(axis=1), x1),
    ]
    with em.device(backend_name):
        for layer, ref, inp in cases:
            y = to_np(layer(em.tensor(inp, device=backend_name)))
            assert_close(y, ref, what=type(layer).__name__, **REDUCTION)
            assert y.shape == layer.compute_output_shape(inp.shape), type(layer).__name__


def test_output_shapes_are_none_safe_and_symbolic():
    conv = layers.Conv2D(8, 3, strides=2, padding="valid")
    assert conv.compute_output_shape((None, None, 9, 3)) == (None, None, 4, 8)
    assert layers.Conv2D(8, 3, strides=2, padding="same").compute_output_shape((None, 9, 10, 3)) == (None, 5, 5, 8)
    assert layers.MaxPooling2D(3).compute_output_shape((None, 28, None, 64)) == (None, 9, None, 64)
    assert layers.Conv1D(4, 5, padding="causal", strides=2).compute_output_shape((None, 11, 2)) == (None, 6, 4)
    inp = em.Input((None, None, 3))
    out = layers.GlobalMaxPooling2D()(layers.MaxPooling2D(padding="same")(layers.Conv2D(8, 3)(inp)))
    assert out.shape == (None, 8)
    model = em.Model(inp, out)
    assert model(np.ones((2, 12, 9, 3), np.float32)).shape == (2, 8)


def test_input_spec_after_build():
    conv = layers.Conv2D(4, 3)
    conv(np.ones((1, 5, 5, 3), np.float32))
    assert conv.input_spec.ndim == 4 and conv.input_spec.axes == {-1: 3}
    expect_error(ShapeError, conv, np.ones((1, 5, 5, 2), np.float32), words=(conv.name, "(1, 5, 5, 2)"))


# -- errors --------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    x4 = np.ones((2, 5, 5, 3), np.float32)
    conv = layers.Conv2D(4, 3)
    expect_error(ShapeError, conv, np.ones((2, 5, 3), np.float32), words=(conv.name, "(2, 5, 3)"))
    big = layers.Conv2D(4, 7)
    expect_error(ShapeError, big, x4, words=(big.name, "(None, 5, 5, 3)", "(7, 7)"))
    pool = layers.MaxPooling2D(6)
    expect_error(ShapeError, pool, x4, words=(pool.name, "(6, 6)"))
    expect_error(ShapeError, lambda: layers.Conv2D(4, 7)(em.Input((5, 5, 3))), words=("(None, 5, 5, 3)",))
    for bad in (0, -1, (1, 0), (1, 2, 3), 1.5, "2"):
        expect_error(InvalidArgumentError, layers.Conv2D, 4, 3, strides=bad, words=("Conv2D", "strides"))
        expect_error(InvalidArgumentError, layers.MaxPooling2D, 2, strides=bad, words=("MaxPooling2D", "strides"))
    expect_error(InvalidArgumentError, layers.Conv2D, 0, 3, words=("filters",))
    expect_error(InvalidArgumentError, layers.Conv2D, 4, 0, words=("kernel_size",))
    expect_error(InvalidArgumentError, layers.Conv2D, 4, 3, padding="full", words=("padding", "full"))
    expect_error(InvalidArgumentError, layers.Conv2D, 4, 3, padding="causal", words=("padding",))
    expect_error(InvalidArgumentError, layers.Conv2D, 4, 3, strides=2, dilation_rate=2, words=("dilation_rate",))
    expect_error(InvalidArgumentError, layers.Conv2D, 5, 3, groups=2, words=("groups",))
    expect_error(ShapeError, layers.Conv2D(4, 3, groups=2), x4, words=("groups", "(None, 5, 5, 3)"))
    for cls in (layers.Conv2D, layers.Conv1D):
        expect_error(InvalidArgumentError, cls, 4, 3, data_format="NCHW", words=("data_format", "NCHW"))
    for cls in (layers.MaxPooling2D, layers.GlobalAveragePooling2D):
        expect_error(InvalidArgumentError, cls, data_format="NCHW", words=("data_format",))
    expect_error(InvalidArgumentError, layers.AveragePooling1D, 2, data_format="NCHW", words=("data_format",))
    t = em.tensor(x4)
    expect_error(ShapeError, em.ops.conv, t, em.ones((7, 7, 3, 2)), words=("conv2d", "(2, 5, 5, 3)", "(7, 7)"))
    expect_error(ShapeError, em.ops.conv, t, em.ones((3, 3, 2, 2)), words=("conv", "(2, 5, 5, 3)", "(3, 3, 2, 2)"))
    expect_error(ShapeError, em.ops.conv, em.ones((1, 2, 5, 5, 3)), em.ones((3, 3, 3, 3, 2)), words=("3-D",))
    expect_error(ShapeError, em.ops.conv, t, em.ones((3, 3, 2)), words=("kernel", "(3, 3, 2)"))
    expect_error(InvalidArgumentError, em.ops.conv, t, em.ones((3, 3, 3, 2)), strides=0, words=("strides",))
    expect_error(InvalidArgumentError, em.ops.conv, t, em.ones((3, 3, 3, 2)), padding="full", words=("padding",))
    expect_error(ShapeError, em.ops.max_pool, t, 6, words=("max_pool", "(2, 5, 5, 3)"))
    expect_error(ShapeError, em.ops.average_pool, em.ones((5, 5)), 2, words=("average_pool", "(5, 5)"))


# -- config round trip ---------------------------------------------------------------------------

ROUND_TRIP = [
    (layers.Conv2D, dict(filters=6, kernel_size=(3, 2), strides=(2, 1), padding="same", activation="relu",
                         use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2", groups=2), (2, 8, 7, 4)),
    (layers.Conv2D, dict(filters=3, kernel_size=3, dilation_rate=2, activation="gelu"), (2, 8, 7, 4)),
    (layers.Conv1D, dict(filters=3, kernel_size=2, padding="causal", dilation_rate=2), (2, 9, 4)),
    (layers.MaxPooling2D, dict(pool_size=3, strides=2, padding="same"), (2, 8, 7, 4)),
    (layers.AveragePooling2D, dict(pool_size=(2, 3)), (2, 8, 7, 4)),
    (layers.MaxPooling1D, dict(pool_size=3, strides=1), (2, 9, 4)),
    (layers.AveragePooling1D, dict(pool_size=2, padding="same"), (2, 9, 4)),
    (layers.GlobalAveragePooling2D, dict(keepdims=True), (2, 8, 7, 4)),
    (layers.GlobalMaxPooling2D, dict(), (2, 8, 7, 4)),
    (layers.GlobalAveragePooling1D, dict(), (2, 9, 4)),
    (layers.GlobalMaxPooling1D, dict(keepdims=True), (2, 9, 4)),
]


@pytest.mark.parametrize("cls,kwargs,shape", ROUND_TRIP, ids=[c.__name__ for c, _, _ in ROUND_TRIP])
def test_config_round_trip(cls, kwargs, shape):
    layer = cls(**kwargs)
    x = np.random.default_rng(9).uniform(-1, 1, shape).astype(np.float32)
    y = to_np(layer(x))
    config = json.loads(json.dumps(layer.get_config()))
    for key, value in kwargs.items():
        got = config[key]
        if isinstance(got, list):
            assert got == list(layer.__dict__[key]), key
        elif isinstance(value, str) and key.endswith(("initializer", "regularizer")):
            assert got is not None, key
        else:
            assert got == value, key
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_np(clone(x)), y)
    restored = em.saving.deserialize(json.loads(json.dumps(em.saving.serialize(layer))))
    assert type(restored) is cls and restored.get_config() == config


def test_keras_default_names_and_config_values():
    conv = layers.Conv2D(2, 3)
    assert conv.name.startswith("conv2d") and "_d" not in conv.name
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
    assert layers.GlobalAveragePooling2D().name.startswith("global_average_pooling2d")
    cfg = conv.get_config()
    assert cfg["kernel_size"] == [3, 3] and cfg["strides"] == [1, 1] and cfg["padding"] == "valid"
    assert cfg["data_format"] == "channels_last" and cfg["dilation_rate"] == [1, 1] and cfg["groups"] == 1
    assert cfg["activation"] == "linear" and cfg["use_bias"] is True
    assert layers.MaxPooling2D().get_config()["strides"] == [2, 2]


# -- the Keras guide's toy ResNet --------------------------------------------------------------------

def toy_resnet():
    keras = em
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="toy_resnet")


# The guide's model.summary(): (layer type, output shape, parameters), in order.
GUIDE_SUMMARY = [
    ("InputLayer", (None, 32, 32, 3), 0),
    ("Conv2D", (None, 30, 30, 32), 896),
    ("Conv2D", (None, 28, 28, 64), 18496),
    ("MaxPooling2D", (None, 9, 9, 64), 0),
    ("Conv2D", (None, 9, 9, 64), 36928),
    ("Conv2D", (None, 9, 9, 64), 36928),
    ("Add", (None, 9, 9, 64), 0),
    ("Conv2D", (None, 9, 9, 64), 36928),
    ("Conv2D", (None, 9, 9, 64), 36928),
    ("Add", (None, 9, 9, 64), 0),
    ("Conv2D", (None, 7, 7, 64), 36928),
    ("GlobalAveragePooling2D", (None, 64), 0),
    ("Dense", (None, 256), 16640),
    ("Dropout", (None, 256), 0),
    ("Dense", (None, 10), 2570),
]


def test_toy_resnet_shapes_and_parameter_count():
    model = toy_resnet()
    assert model.count_params() == 223_242
    got = [(type(l).__name__, tuple(l.output.shape), l.count_params()) for l in model.layers]
    assert got == GUIDE_SUMMARY
    y = model(np.random.default_rng(10).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32))
    assert y.shape == (2, 10) and np.all(np.isfinite(to_np(y)))


def test_toy_resnet_trains_on_a_small_batch():
    # A few Adam steps on 32 noise images whose class (of 3) brightens one color
    # channel: the loss must fall and the batch be learnt, so the gradients of every
    # conv, pool, add and dense layer reach the weights.
    rng = np.random.default_rng(11)
    y = rng.integers(0, 3, 32).astype(np.int32)
    x = rng.uniform(0, 1, (32, 32, 32, 3)).astype(np.float32)
    x[np.arange(32), :, :, y] += 0.5
    model = toy_resnet()
    model.compile(optimizer=em.optimizers.Adam(1e-3), loss=em.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.25 * history[0], history
    _, acc = model.evaluate(x, y, verbose=0)
    assert acc >= 0.9, acc


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    y = d.target.astype(np.int32)
    p = np.random.default_rng(0).permutation(len(x))
    return x[p[:1400]], y[p[:1400]], x[p[1400:]], y[p[1400:]]


def test_small_conv_net_learns_digits(backend_name):
    # scikit-learn's 8x8 digits (1797 images, 10 classes): a conv / pool / conv / global
    # pool net reaches far above chance (10%) on held-out images within a few epochs.
    xtr, ytr, xte, yte = _digits()
    with em.device(backend_name):
        model = em.Sequential([
            em.Input((8, 8, 1)),
            layers.Conv2D(16, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ])
        model.compile(optimizer=em.optimizers.Adam(0.01),
                      loss=em.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        history = model.fit(xtr, ytr, epochs=5, batch_size=64, verbose=0).history
        loss, acc = model.evaluate(xte, yte, verbose=0)
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]
    assert acc > 0.8, acc


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_toy_resnet_trains_identically_on_cpu_and_gpu():
    # Same weights, same batch, two SGD steps (Dropout's Philox masks agree across
    # devices): the predictions, the losses and the updated weights agree.
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, 4).astype(np.int32)
    weights = toy_resnet().get_weights()
    runs = {}
    for device in ("cpu", "gpu"):
        em.utils.set_random_seed(7)
        with em.device(device):
            model = toy_resnet()
            model.set_weights(weights)
            model.compile(optimizer=em.optimizers.SGD(0.05),
                          loss=em.losses.SparseCategoricalCrossentropy(from_logits=True))
            pred = model.predict(x, verbose=0)
            loss = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
            runs[device] = (np.asarray(pred), loss, model.get_weights())
    (pc, lc, wc), (pg, lg, wg) = runs["cpu"], runs["gpu"]
    assert_close(pg, pc, what="predictions", rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(lg, lc, rtol=1e-3)
    for a, b in zip(wg, wc):
        assert_close(a, b, what="weights after two steps", rtol=1e-3, atol=1e-4)


def test_integer_inputs_are_cast():
    x = np.arange(2 * 5 * 5 * 1, dtype=np.int32).reshape(2, 5, 5, 1)
    conv = layers.Conv2D(2, 3)
    y = conv(x)
    assert y.dtype == "float32"
    assert_close(to_np(y), conv2d_ref(x, to_np(conv.kernel), to_np(conv.bias)), what="int input", **REDUCTION)
    assert layers.MaxPooling2D()(x).dtype == "float32"
    assert layers.GlobalAveragePooling2D()(x).dtype == "float32"
