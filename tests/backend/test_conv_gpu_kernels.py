"""The gpu backend's WGSL convolution and pooling kernels (shaders/conv/conv.wgsl,
shaders/pool/pool.wgsl, python/ember/backend/webgpu/conv.py) against float64 numpy
references written as loops over output positions and kernel taps, and against the CPU
backend's result for the same float32 inputs.

Each conv case runs through both schedules of the gpu kernels (the tiled implicit GEMM,
with 64x64 or 128x32 tiles and scalar or vec4 loads by shape, and the direct kernels),
pinned with ``conv.SCHEDULE``. Shapes are small: lavapipe runs
the shaders on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from ember.backend import get_backend
from ember.errors import DTypeError, InvalidArgumentError, ShapeError

from _conformance import REDUCTION, assert_close, f32
from conftest import GPU_UNAVAILABLE

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))]

# Gradients sum up to a few hundred float32 products: a slightly wider absolute floor.
GRAD = dict(rtol=1e-4, atol=5e-5)


@pytest.fixture(scope="module")
def gpu():
    return get_backend("gpu")


@pytest.fixture(scope="module")
def cpu():
    return get_backend("cpu")


@pytest.fixture(params=["tiled", "direct"])
def schedule(request, monkeypatch):
    from ember.backend.webgpu import conv

    monkeypatch.setattr(conv, "SCHEDULE", request.param)
    return request.param


# -- float64 references: loops over output positions and kernel taps -------------------------------

def _act(z, act):
    if act == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(np.float64)
    if act == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s, s * (1.0 - s)
    if act == "tanh":
        t = np.tanh(z)
        return t, 1.0 - t * t
    return z, np.ones_like(z)


def _geometry(x_shape, k, strides, pads, dilation):
    _, h, w, _ = x_shape
    hp, wp = h + pads[0][0] + pads[0][1], w + pads[1][0] + pads[1][1]
    return (hp - (k[0] - 1) * dilation[0] - 1) // strides[0] + 1, (wp - (k[1] - 1) * dilation[1] - 1) // strides[1] + 1


def conv_ref(x, w, b, strides, pads, dilation, groups, act, gy):
    """(y, gx, gw, gb) in float64: y = act(conv + b), and the gradients for output gradient gy."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    og = o // groups
    (sh, sw), (dh, dw) = strides, dilation
    xp = np.pad(x, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)))
    oh, ow = _geometry(x.shape, (kh, kw), strides, pads, dilation)
    z = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    v = xp[:, i * sh + p * dh, j * sw + q * dw, :]
                    for g in range(groups):
                        z[:, i, j, g * og:(g + 1) * og] += v[:, g * cg:(g + 1) * cg] @ w[p, q, :, g * og:(g + 1) * og]
    if b is not None:
        z += b.astype(np.float64)
    y, dy = _act(z, act)
    gz = gy.astype(np.float64) * dy
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    r, s = i * sh + p * dh, j * sw + q * dw
                    for g in range(groups):
                        co, oo = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
                        gxp[:, r, s, co] += gz[:, i, j, oo] @ w[p, q, :, oo].T
                        gw[p, q, :, oo] += xp[:, r, s, co].T @ gz[:, i, j, oo]
    gx = gxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd, :]
    return y, gx, gw, gz.sum(axis=(0, 1, 2))


def pool_ref(x, pool, strides, pads, mode, gy):
    """(y, argmax or None, gx) in float64; padding is -inf for max and uncounted for average."""
    x = x.astype(np.float64)
    n, h, wd, c = x.shape
    (kh, kw), (sh, sw) = pool, strides
    oh, ow = _geometry(x.shape, pool, strides, pads, (1, 1))
    y, am = np.zeros((n, oh, ow, c)), np.zeros((n, oh, ow, c), np.int32)
    gx = np.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            taps = [(p, q, i * sh + p - pads[0][0], j * sw + q - pads[1][0]) for p in range(kh) for q in range(kw)]
            inside = [(p, q, r, s) for p, q, r, s in taps if 0 <= r < h and 0 <= s < wd]
            if mode == "max":
                best = np.full((n, c), -np.inf)
                for p, q, r, s in inside:
                    better = x[:, r, s, :] > best
                    best = np.where(better, x[:, r, s, :], best)
                    am[:, i, j, :] = np.where(better, p * kw + q, am[:, i, j, :])
                y[:, i, j] = best
                for p, q, r, s in inside:
                    gx[:, r, s, :] += np.where(am[:, i, j, :] == p * kw + q, gy[:, i, j, :], 0.0)
            else:
                y[:, i, j] = sum(x[:, r, s, :] for _, _, r, s in inside) / len(inside)
                for _, _, r, s in inside:
                    gx[:, r, s, :] += gy[:, i, j, :] / len(inside)
    return y, (am if mode == "max" else None), gx


# -- helpers -----------------------------------------------------------------------------------------

def _up(be, a, dtype="float32"):
    return be.from_numpy(np.ascontiguousarray(a), dtype)


def _down(be, buf, shape, dtype="float32"):
    return np.array(be.to_numpy(buf, tuple(shape), dtype))


def _run_conv(be, x, w, b, strides, pads, dilation, groups, act, gy):
    xb, wb = _up(be, x), _up(be, w)
    bb = None if b is None else _up(be, b)
    y, shape = be.conv2d(xb, x.shape, wb, w.shape, bb, strides, pads, dilation, groups, act)
    gx, gw, gb = be.conv2d_backward(xb, x.shape, wb, w.shape, y, _up(be, gy), strides, pads, dilation, groups, act, True)
    return (_down(be, y, shape), _down(be, gx, x.shape), _down(be, gw, w.shape), _down(be, gb, (w.shape[3],))), shape


V, S = ((0, 0), (0, 0)), None  # valid padding; S: TensorFlow's "same", computed per case

CONV_CASES = [
    # (input, kernel, strides, pads, dilation, groups, activation)
    ((2, 7, 5, 3), (3, 3, 3, 5), (1, 1), V, (1, 1), 1, "linear"),                  # odd sizes
    ((1, 7, 6, 3), (3, 2, 3, 4), (2, 1), S, (1, 1), 1, "relu"),                    # batch 1, same
    ((2, 9, 9, 2), (2, 2, 2, 3), (3, 3), V, (1, 1), 1, "sigmoid"),                 # stride > kernel
    ((1, 9, 8, 2), (3, 3, 2, 3), (1, 1), S, (2, 3), 1, "tanh"),                    # dilation
    ((2, 6, 6, 4), (3, 3, 2, 6), (1, 1), S, (1, 1), 2, "relu"),                    # grouped
    ((2, 5, 7, 6), (3, 3, 1, 6), (2, 2), V, (1, 1), 6, "tanh"),                    # depthwise
    ((1, 5, 5, 4), (3, 3, 1, 8), (1, 1), S, (1, 1), 4, "linear"),                  # depthwise x2
    ((3, 5, 4, 6), (1, 1, 6, 5), (1, 1), V, (1, 1), 1, "sigmoid"),                 # 1x1
    ((2, 4, 5, 3), (4, 5, 3, 2), (1, 1), V, (1, 1), 1, "relu"),                    # full-size kernel
    ((2, 9, 7, 8), (3, 3, 8, 20), (2, 2), S, (1, 1), 1, "relu"),                   # vec4 x loads, 20 outputs
    ((1, 6, 6, 8), (3, 3, 4, 32), (1, 1), ((2, 0), (1, 3)), (1, 1), 2, "tanh"),    # vec4 x and w, odd pads
    ((2, 16, 14, 4), (3, 3, 4, 16), (1, 1), S, (1, 1), 1, "linear"),               # split filter reduction
    ((1, 5, 6, 8), (3, 3, 8, 40), (1, 1), S, (1, 1), 1, "relu"),                   # 64x64 tiles, vec4
    ((1, 4, 5, 36), (2, 3, 36, 37), (2, 1), V, (1, 1), 1, "sigmoid"),              # 64x64 tiles, scalar
    ((1, 12, 12, 5), (3, 3, 5, 30), (1, 1), S, (1, 1), 1, "tanh"),                 # 128x32 tiles, scalar
    ((1, 6, 6, 15), (3, 3, 15, 10), (1, 1), V, (1, 1), 1, "linear"),               # 128x32 filter tiles
]


def _same(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _pads(xs, ks, strides, pads, dilation):
    if pads is not None:
        return pads
    return _same(xs[1], ks[0], strides[0], dilation[0]), _same(xs[2], ks[1], strides[1], dilation[1])


@pytest.mark.parametrize("xs,ks,strides,pads,dilation,groups,act", CONV_CASES)
def test_conv2d_kernels_match_loop_reference_and_cpu(gpu, cpu, schedule, xs, ks, strides, pads, dilation, groups, act):
    rng = np.random.default_rng(hash((xs, ks)) % 2**32)
    pads = _pads(xs, ks, strides, pads, dilation)
    x, w, b = f32(rng.uniform(-1, 1, xs)), f32(rng.uniform(-1, 1, ks)), f32(rng.uniform(-1, 1, ks[-1]))
    oh, ow = _geometry(xs, ks, strides, pads, dilation)
    gy = f32(rng.uniform(-1, 1, (xs[0], oh, ow, ks[3])))
    got, shape = _run_conv(gpu, x, w, b, strides, pads, dilation, groups, act, gy)
    assert shape == (xs[0], oh, ow, ks[3])
    ref = conv_ref(x, w, b, strides, pads, dilation, groups, act, gy)
    on_cpu, _ = _run_conv(cpu, x, w, b, strides, pads, dilation, groups, act, gy)
    what = f"{schedule} conv2d {xs} {ks} s{strides} p{pads} d{dilation} g{groups} {act}"
    for name, a, r, c, tol in zip(("y", "gx", "gw", "gb"), got, ref, on_cpu, (REDUCTION, GRAD, GRAD, GRAD)):
        assert_close(a, r, what=f"{what}: {name} vs float64", **tol)
        assert_close(a, c, what=f"{what}: {name} vs cpu", **tol)


@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "tanh"])
def test_conv2d_each_fused_activation_without_bias(gpu, schedule, act):
    rng = np.random.default_rng(11)
    xs, ks, pads = (2, 6, 5, 4), (3, 3, 4, 16), ((1, 1), (1, 1))
    x, w = f32(rng.uniform(-1, 1, xs)), f32(rng.uniform(-1, 1, ks))
    gy = f32(rng.uniform(-1, 1, (2, 6, 5, 16)))
    got, _ = _run_conv(gpu, x, w, None, (1, 1), pads, (1, 1), 1, act, gy)
    ref = conv_ref(x, w, None, (1, 1), pads, (1, 1), 1, act, gy)
    for name, a, r, tol in zip(("y", "gx", "gw", "gb"), got, ref, (REDUCTION, GRAD, GRAD, GRAD)):
        assert_close(a, r, what=f"{schedule} {act}: {name}", **tol)


def test_conv2d_without_input_gradient_and_dispatch_counts(gpu):
    # One dispatch forward; the backward is the input gradient, the filter/bias gradient
    # (+ the sum of its split partials) and nothing else, with no readback in between.
    rng = np.random.default_rng(12)
    xs, ks = (2, 16, 16, 8), (3, 3, 8, 16)
    x, w, b = f32(rng.uniform(-1, 1, xs)), f32(rng.uniform(-1, 1, ks)), f32(rng.uniform(-1, 1, 16))
    gy = f32(rng.uniform(-1, 1, (2, 14, 14, 16)))
    rt = gpu.rt
    xb, wb, bb, gyb = _up(gpu, x), _up(gpu, w), _up(gpu, b), _up(gpu, gy)
    d0, r0 = rt.dispatches, rt.readbacks
    y, _ = gpu.conv2d(xb, xs, wb, ks, bb, (1, 1), V, (1, 1), 1, "relu")
    assert rt.dispatches - d0 == 1
    gx, gw, gb = gpu.conv2d_backward(xb, xs, wb, ks, y, gyb, (1, 1), V, (1, 1), 1, "relu", False)
    assert gx is None
    assert rt.dispatches - d0 <= 3 and rt.readbacks == r0
    _, _, rgw, rgb = conv_ref(x, w, b, (1, 1), V, (1, 1), 1, "relu", gy)
    assert_close(_down(gpu, gw, ks), rgw, what="gw", **GRAD)
    assert_close(_down(gpu, gb, (16,)), rgb, what="gb", **GRAD)


def test_conv2d_schedule_follows_the_shape(gpu, monkeypatch):
    # Depthwise (one channel per group): the direct kernels; a wide layer: the tiled
    # ones. Both agree with the reference.
    rng = np.random.default_rng(13)
    entries = []
    dispatch = gpu.rt.dispatch
    monkeypatch.setattr(gpu.rt, "dispatch", lambda shader, entry, *a, **k: (entries.append(entry), dispatch(shader, entry, *a, **k)))
    for xs, ks, groups, expect in (((2, 10, 10, 4), (3, 3, 1, 8), 4, "direct"), ((2, 8, 8, 16), (3, 3, 16, 32), 1, "tiled")):
        x, w = f32(rng.uniform(-1, 1, xs)), f32(rng.uniform(-1, 1, ks))
        gy = f32(rng.uniform(-1, 1, (2, xs[1] - 2, xs[2] - 2, ks[3])))
        entries.clear()
        got, _ = _run_conv(gpu, x, w, None, (1, 1), V, (1, 1), groups, "relu", gy)
        conv_entries = [e for e in entries if e.startswith("conv2d")]
        assert conv_entries[:3] == [f"conv2d_{expect}", f"conv2d_backward_input_{expect}", f"conv2d_backward_filter_{expect}"]
        ref = conv_ref(x, w, None, (1, 1), V, (1, 1), groups, "relu", gy)
        for name, a, r, tol in zip(("y", "gx", "gw", "gb"), got, ref, (REDUCTION, GRAD, GRAD, GRAD)):
            assert_close(a, r, what=f"{xs}: {name}", **tol)


# -- pooling -------------------------------------------------------------------------------------------

POOL_CASES = [
    # (input, pool, strides, pads)
    ((2, 6, 6, 3), (2, 2), (2, 2), V),
    ((2, 7, 7, 2), (3, 3), (2, 2), V),                 # overlapping windows
    ((1, 7, 5, 2), (3, 3), (2, 2), ((1, 1), (1, 1))),  # overlapping, padded
    ((1, 5, 6, 3), (2, 3), (1, 2), ((0, 1), (1, 1))),  # "same" with the extra at the end
    ((2, 4, 5, 1), (2, 2), (1, 1), V),                 # stride 1
    ((1, 9, 9, 4), (3, 3), (3, 3), ((1, 0), (0, 2))),  # odd pads
]


@pytest.mark.parametrize("xs,pool,strides,pads", POOL_CASES)
def test_pooling_kernels_match_loop_reference_and_cpu(gpu, cpu, xs, pool, strides, pads):
    rng = np.random.default_rng(hash((xs, pool)) % 2**32)
    x = f32(rng.uniform(-1, 1, xs))
    oh, ow = _geometry(xs, pool, strides, pads, (1, 1))
    gy = f32(rng.uniform(-1, 1, (xs[0], oh, ow, xs[3])))
    ry, ram, rgx = pool_ref(x, pool, strides, pads, "max", gy)
    ay, _, agx = pool_ref(x, pool, strides, pads, "average", gy)
    for be in (gpu, cpu):
        xb = _up(be, x)
        y, shape, am = be.max_pool2d(xb, xs, pool, strides, pads, True)
        assert shape == ry.shape
        assert_close(_down(be, y, shape), ry, what=f"{be.name} max_pool2d {xs} {pool}", **REDUCTION)
        np.testing.assert_array_equal(_down(be, am, shape, "int32"), ram, err_msg=f"{be.name} argmax {xs} {pool}")
        gx = be.max_pool2d_backward(am, _up(be, gy), xs, pool, strides, pads)
        assert_close(_down(be, gx, xs), rgx, what=f"{be.name} max_pool2d_backward {xs} {pool}", **GRAD)
        y2, shape2, none = be.max_pool2d(xb, xs, pool, strides, pads, False)
        assert none is None
        assert_close(_down(be, y2, shape2), ry, what="max_pool2d without argmax", **REDUCTION)
        y, shape = be.average_pool2d(xb, xs, pool, strides, pads)
        assert_close(_down(be, y, shape), ay, what=f"{be.name} average_pool2d {xs} {pool}", **REDUCTION)
        gx = be.average_pool2d_backward(_up(be, gy), xs, pool, strides, pads)
        assert_close(_down(be, gx, xs), agx, what=f"{be.name} average_pool2d_backward {xs} {pool}", **GRAD)


def test_max_pool_ties_and_nan_follow_first_maximum(gpu):
    # Ties: the first maximum in row-major window order; NaN wins (numpy's max/argmax).
    x = np.ones((1, 4, 4, 1), np.float32)
    x[0, 1, 3, 0] = np.nan
    y, shape, am = gpu.max_pool2d(_up(gpu, x), x.shape, (2, 2), (2, 2), V, True)
    out = _down(gpu, y, shape).reshape(2, 2)
    assert np.isnan(out[0, 1]) and (np.delete(out.reshape(-1), 1) == 1.0).all()
    np.testing.assert_array_equal(_down(gpu, am, shape, "int32").reshape(-1), [0, 3, 0, 0])


# -- errors --------------------------------------------------------------------------------------------

def test_bad_shapes_raise_naming_the_op_and_shapes(gpu):
    x = _up(gpu, np.zeros((1, 5, 5, 4), np.float32))
    w = _up(gpu, np.zeros((3, 3, 4, 6), np.float32))
    with pytest.raises(ShapeError, match=r"conv2d: input of shape \(1, 5, 5, 4\) does not fit kernel of shape \(3, 3, 4, 6\)"):
        gpu.conv2d(x, (1, 5, 5, 4), w, (3, 3, 4, 6), None, (1, 1), V, (1, 1), 4, "linear")
    with pytest.raises(ShapeError, match=r"conv2d: .*rank 4.*\(1, 5, 5\)"):
        gpu.conv2d(x, (1, 5, 5), w, (3, 3, 4, 6), None, (1, 1), V, (1, 1), 1, "linear")
    with pytest.raises(ShapeError, match=r"conv2d: .*kernel of rank 4.*\(3, 3, 24\)"):
        gpu.conv2d(x, (1, 5, 5, 4), w, (3, 3, 24), None, (1, 1), V, (1, 1), 1, "linear")
    with pytest.raises(ShapeError, match=r"conv2d: the window \(3, 3\) \(dilated to \(5, 7\)\) is larger .*\(1, 5, 5, 4\)"):
        gpu.conv2d(x, (1, 5, 5, 4), w, (3, 3, 4, 6), None, (1, 1), V, (2, 3), 1, "linear")
    with pytest.raises(ShapeError, match=r"conv2d: bias holds 5 values .*\(3, 3, 4, 6\) has 6 filters"):
        gpu.conv2d(x, (1, 5, 5, 4), w, (3, 3, 4, 6), _up(gpu, np.zeros(5, np.float32)), (1, 1), V, (1, 1), 1, "linear")
    with pytest.raises(ShapeError, match=r"conv2d: input holds 100 elements but its shape \(1, 5, 5, 5\)"):
        gpu.conv2d(x, (1, 5, 5, 5), _up(gpu, np.zeros((3, 3, 5, 6), np.float32)), (3, 3, 5, 6), None, (1, 1), V, (1, 1), 1, "linear")
    with pytest.raises(InvalidArgumentError, match="conv2d: activation 'gelu' is not fused"):
        gpu.conv2d(x, (1, 5, 5, 4), w, (3, 3, 4, 6), None, (1, 1), V, (1, 1), 1, "gelu")
    with pytest.raises(InvalidArgumentError, match="conv2d: .*must be positive"):
        gpu.conv2d(x, (1, 5, 5, 4), w, (3, 3, 4, 6), None, (0, 1), V, (1, 1), 1, "linear")
    with pytest.raises(DTypeError, match="conv2d"):
        gpu.conv2d(_up(gpu, np.zeros((1, 5, 5, 4)), "int32"), (1, 5, 5, 4), w, (3, 3, 4, 6), None, (1, 1), V, (1, 1), 1, "linear")
    y = _up(gpu, np.zeros((1, 3, 3, 6), np.float32))
    with pytest.raises(ShapeError, match=r"conv2d_backward: output gradient holds 9 elements but its shape \(1, 3, 3, 6\)"):
        gpu.conv2d_backward(x, (1, 5, 5, 4), w, (3, 3, 4, 6), y, _up(gpu, np.zeros(9, np.float32)), (1, 1), V, (1, 1), 1,
                            "linear", True)
    with pytest.raises(ShapeError, match=r"max_pool2d: the window \(6, 2\) .* larger .*\(1, 5, 5, 4\)"):
        gpu.max_pool2d(x, (1, 5, 5, 4), (6, 2), (1, 1), V, True)
    with pytest.raises(ShapeError, match=r"average_pool2d: .*rank 4"):
        gpu.average_pool2d(x, (5, 5, 4), (2, 2), (1, 1), V)
    with pytest.raises(DTypeError, match="max_pool2d_backward: argmax must be int32"):
        gpu.max_pool2d_backward(x, x, (1, 10, 10, 1), (2, 2), (2, 2), V)
