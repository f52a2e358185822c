"""The CPU backend's fused convolution and pooling kernels (rust/src/kernels/conv.rs,
pool.rs) against float64 numpy loop references written here (loops over the kernel taps
and groups, straight from the definitions in `Backend.conv2d`'s docstring) and against
the composites they override (`Backend.conv2d(cpu, ...)`: im2col views, the fused dense,
col2im by scatter_add). Odd sizes, strides larger than the kernel, dilation, groups
(depthwise included), batch 1, 1x1 and full-size kernels, padding, every fused
activation, 1 and 2 threads; bad inputs raise ember.errors, never a panic."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.backend import get_backend
from ember.backend.base import Backend
from ember.errors import DTypeError, InvalidArgumentError, ShapeError

from _conformance import assert_close, call_no_panic, expect_error

TOL = dict(rtol=2e-4, atol=2e-5)
ACTS = ("linear", "relu", "sigmoid", "tanh")


# -- float64 references -------------------------------------------------------------------------

def _act(name, z):
    return {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "tanh": np.tanh}[name](z)


def _act_grad(name, y, gy):
    return {"linear": gy, "relu": gy * (y > 0), "sigmoid": gy * y * (1 - y), "tanh": gy * (1 - y * y)}[name]


def _taps(xp, kh, kw, strides, dilation, oh, ow):
    """(p, q, the (N, OH, OW, C) slice of the padded input that tap (p, q) reads)."""
    (sh, sw), (dh, dw) = strides, dilation
    for p in range(kh):
        for q in range(kw):
            r0, c0 = p * dh, q * dw
            yield p, q, (slice(None), slice(r0, r0 + (oh - 1) * sh + 1, sh), slice(c0, c0 + (ow - 1) * sw + 1, sw))


def _out_size(size, pad, k, s, d):
    return (size + pad[0] + pad[1] - (k - 1) * d - 1) // s + 1


def conv_ref(x, w, b, strides, pads, dilation, groups, act):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    og = o // groups
    oh, ow = _out_size(h, pads[0], kh, strides[0], dilation[0]), _out_size(wd, pads[1], kw, strides[1], dilation[1])
    xp = np.pad(x, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)))
    z = np.zeros((n, oh, ow, o))
    for p, q, sl in _taps(xp, kh, kw, strides, dilation, oh, ow):
        v = xp[sl]
        for g in range(groups):
            z[..., g * og:(g + 1) * og] += v[..., g * cg:(g + 1) * cg] @ w[p, q, :, g * og:(g + 1) * og]
    if b is not None:
        z = z + np.asarray(b, np.float64)
    return _act(act, z)


def conv_backward_ref(x, w, y, gy, strides, pads, dilation, groups, act):
    x, w, y, gy = (np.asarray(a, np.float64) for a in (x, w, y, gy))
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    og = o // groups
    oh, ow = y.shape[1:3]
    xp = np.pad(x, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)))
    gz = _act_grad(act, y, gy)
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for p, q, sl in _taps(xp, kh, kw, strides, dilation, oh, ow):
        v = xp[sl]
        for g in range(groups):
            cs, os_ = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
            gw[p, q, :, os_] = np.einsum("nijc,nijo->co", v[..., cs], gz[..., os_])
            gxp[sl + (cs,)] += gz[..., os_] @ w[p, q, :, os_].T
    gx = gxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd]
    return gx, gw, gz.sum(axis=(0, 1, 2))


def pool_ref(x, pool, strides, pads, mode):
    """(y, argmax or None): max with -inf padding and the first maximum's window position;
    average over input elements only."""
    x = np.asarray(x, np.float64)
    n, h, wd, c = x.shape
    kh, kw = pool
    oh, ow = _out_size(h, pads[0], kh, strides[0], 1), _out_size(wd, pads[1], kw, strides[1], 1)
    pw = ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0))
    if mode == "max":
        xp = np.pad(x, pw, constant_values=-np.inf)
        best, arg = np.full((n, oh, ow, c), -np.inf), np.zeros((n, oh, ow, c), np.int64)
        for p, q, sl in _taps(xp, kh, kw, strides, (1, 1), oh, ow):
            v = xp[sl]
            take = v > best
            best, arg = np.where(take, v, best), np.where(take, p * kw + q, arg)
        return best, arg
    xp, ones = np.pad(x, pw), np.pad(np.ones_like(x), pw)
    s, cnt = np.zeros((n, oh, ow, c)), np.zeros((n, oh, ow, c))
    for _, _, sl in _taps(xp, kh, kw, strides, (1, 1), oh, ow):
        s, cnt = s + xp[sl], cnt + ones[sl]
    return s / cnt, None


def pool_backward_ref(x_shape, gy, pool, strides, pads, mode, argmax=None):
    n, h, wd, c = x_shape
    kh, kw = pool
    gy = np.asarray(gy, np.float64)
    oh, ow = gy.shape[1:3]
    hp, wp = h + pads[0][0] + pads[0][1], wd + pads[1][0] + pads[1][1]
    gxp = np.zeros((n, hp, wp, c))
    if mode == "avg":
        ones = np.pad(np.ones(x_shape), ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)))
        cnt = sum(ones[sl] for _, _, sl in _taps(ones, kh, kw, strides, (1, 1), oh, ow))
    for p, q, sl in _taps(gxp, kh, kw, strides, (1, 1), oh, ow):
        gxp[sl] += gy * (argmax == p * kw + q) if mode == "max" else gy / cnt
    return gxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd]


# -- cases ----------------------------------------------------------------------------------------

# (x shape, kernel shape, strides, pads, dilation, groups)
CONV_CASES = [
    ((2, 7, 9, 3), (3, 3, 3, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),      # odd sizes, "same"
    ((1, 11, 10, 4), (2, 2, 4, 3), (3, 4), ((0, 0), (0, 0)), (1, 1), 1),    # batch 1, stride > kernel
    ((2, 12, 11, 2), (3, 2, 2, 4), (1, 2), ((2, 1), (0, 3)), (2, 3), 1),    # dilation, uneven padding
    ((2, 6, 7, 6), (3, 3, 2, 9), (2, 1), ((1, 1), (1, 1)), (1, 1), 3),      # groups
    ((2, 8, 8, 5), (3, 3, 1, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 5),      # depthwise
    ((1, 9, 7, 3), (3, 2, 1, 6), (2, 2), ((1, 0), (0, 1)), (2, 1), 3),      # depthwise, multiplier 2
    ((1, 6, 5, 2), (3, 3, 1, 32), (1, 1), ((1, 1), (0, 2)), (1, 1), 2),     # depthwise, multiplier 16
    ((2, 10, 10, 1), (3, 3, 1, 8), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),    # one input channel
    ((3, 5, 6, 7), (1, 1, 7, 4), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),      # 1x1
    ((2, 5, 4, 3), (5, 4, 3, 6), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),      # full-size kernel
    ((2, 4, 4, 2), (3, 3, 2, 3), (1, 1), ((3, 2), (2, 3)), (1, 1), 1),      # padding wider than needed
]
CONV_IDS = ["same", "stride>kernel", "dilation", "groups", "depthwise", "depthwise-x2", "depthwise-x16", "c1", "1x1", "full", "wide-pad"]


@pytest.fixture(scope="module")
def cpu():
    return get_backend("cpu")


def _buf(be, a):
    return be.from_numpy(np.ascontiguousarray(a, np.float32), "float32")


def _np(be, buf, shape):
    return np.array(be.to_numpy(buf, tuple(shape), "float32"), np.float64)


def _conv_all(be, case, act, with_bias, seed, need_gx=True, fn=None):
    """Runs forward and backward through ``fn`` (the backend's own methods by default);
    returns the arrays and the numpy inputs."""
    xs, ws, strides, pads, dil, groups = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs).astype(np.float32), (rng.standard_normal(ws) * 0.5).astype(np.float32)
    b = rng.standard_normal(ws[3]).astype(np.float32) if with_bias else None
    fwd = fn[0] if fn else be.conv2d
    bwd = fn[1] if fn else be.conv2d_backward
    args = (strides, pads, dil, groups, act)
    yb, shape = fwd(_buf(be, x), xs, _buf(be, w), ws, None if b is None else _buf(be, b), *args) if not fn else \
        fwd(be, _buf(be, x), xs, _buf(be, w), ws, None if b is None else _buf(be, b), *args)
    gy = rng.standard_normal(tuple(shape)).astype(np.float32)
    bargs = (_buf(be, x), xs, _buf(be, w), ws, yb, _buf(be, gy), strides, pads, dil, groups, act, need_gx)
    gx, gw, gb = bwd(*bargs) if not fn else bwd(be, *bargs)
    out = dict(y=_np(be, yb, shape), gw=_np(be, gw, ws), gb=_np(be, gb, (ws[3],)),
               gx=None if gx is None else _np(be, gx, xs))
    return out, (x, w, b, gy)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_reference_and_composite(cpu, case):
    xs, ws, strides, pads, dil, groups = case
    act = ACTS[CONV_CASES.index(case) % len(ACTS)]
    got, (x, w, b, gy) = _conv_all(cpu, case, act, True, 0)
    y_ref = conv_ref(x, w, b, strides, pads, dil, groups, act)
    assert_close(got["y"], y_ref, what=f"conv2d {case} {act}", **TOL)
    # The activation's derivative is taken from the kernel's own y, as the op does.
    gx_ref, gw_ref, gb_ref = conv_backward_ref(x, w, got["y"], gy, strides, pads, dil, groups, act)
    assert_close(got["gx"], gx_ref, what="gx", **TOL)
    assert_close(got["gw"], gw_ref, what="gw", **TOL)
    assert_close(got["gb"], gb_ref, what="gb", **TOL)
    comp, _ = _conv_all(cpu, case, act, True, 0, fn=(Backend.conv2d, Backend.conv2d_backward))
    for k in ("y", "gx", "gw", "gb"):
        assert_close(got[k], comp[k], what=f"{k} vs the composite", **TOL)


@pytest.mark.parametrize("act", ACTS)
def test_every_fused_activation_and_no_bias(cpu, act):
    case = CONV_CASES[2]
    got, (x, w, _, gy) = _conv_all(cpu, case, act, False, 1, need_gx=False)
    assert got["gx"] is None
    assert_close(got["y"], conv_ref(x, w, None, *case[2:], act), what=act, **TOL)
    _, gw_ref, gb_ref = conv_backward_ref(x, w, got["y"], gy, *case[2:], act)
    assert_close(got["gw"], gw_ref, what="gw", **TOL)
    assert_close(got["gb"], gb_ref, what="gb", **TOL)


# Large enough to cross the kernels' parallel thresholds (several tasks per thread, gx
# scattered by whole images, the GEMM tile boundary inside an image).
BIG = [
    ((5, 14, 13, 8), (3, 3, 8, 16), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((3, 16, 16, 12), (3, 3, 1, 12), (2, 2), ((1, 1), (1, 1)), (1, 1), 12),
    ((4, 20, 20, 1), (3, 3, 1, 32), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((1, 40, 40, 8), (3, 3, 4, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),
]


@pytest.mark.parametrize("threads", [1, 2])
def test_parallel_paths(cpu, threads):
    before = em.get_num_threads()
    em.set_num_threads(threads)
    try:
        for case in BIG:
            got, (x, w, b, gy) = _conv_all(cpu, case, "relu", True, 2)
            assert_close(got["y"], conv_ref(x, w, b, *case[2:], "relu"), what=f"{case}", **TOL)
            refs = conv_backward_ref(x, w, got["y"], gy, *case[2:], "relu")
            for k, r in zip(("gx", "gw", "gb"), refs):
                assert_close(got[k], r, what=f"{k} {case}", rtol=1e-3, atol=1e-4)
    finally:
        em.set_num_threads(before)


# -- pooling --------------------------------------------------------------------------------------

# (x shape, pool, strides, pads)
POOL_CASES = [
    ((2, 6, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ((1, 7, 9, 4), (3, 3), (2, 2), ((1, 1), (1, 1))),     # "same"-like, overlapping windows
    ((2, 5, 8, 2), (2, 3), (3, 4), ((0, 1), (2, 1))),     # stride > window, uneven padding
    ((3, 4, 4, 5), (4, 4), (1, 1), ((0, 0), (0, 0))),     # full-size window
    ((1, 9, 9, 33), (3, 2), (1, 2), ((1, 1), (0, 1))),
    ((16, 26, 26, 32), (2, 2), (2, 2), ((0, 0), (0, 0))),  # mnist_convnet's first pool (parallel)
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[0]) for c in POOL_CASES])
def test_max_pool2d_matches_reference_and_composite(cpu, case):
    xs, pool, strides, pads = case
    rng = np.random.default_rng(3)
    # Rounded values make ties common: the first maximum must win.
    x = np.round(rng.standard_normal(xs) * 2).astype(np.float32)
    yb, shape, am = cpu.max_pool2d(_buf(cpu, x), xs, pool, strides, pads, True)
    y_ref, am_ref = pool_ref(x, pool, strides, pads, "max")
    assert_close(_np(cpu, yb, shape), y_ref, what="max_pool2d", rtol=0, atol=0)
    assert am.dtype == "int32"
    np.testing.assert_array_equal(cpu.to_numpy(am, tuple(shape), "int32"), am_ref)
    gy = rng.standard_normal(tuple(shape)).astype(np.float32)
    gx = cpu.max_pool2d_backward(am, _buf(cpu, gy), xs, pool, strides, pads)
    assert_close(_np(cpu, gx, xs), pool_backward_ref(xs, gy, pool, strides, pads, "max", am_ref), what="gx", **TOL)
    cy, _, cam = Backend.max_pool2d(cpu, _buf(cpu, x), xs, pool, strides, pads, True)
    assert_close(_np(cpu, yb, shape), _np(cpu, cy, shape), what="vs composite", rtol=0, atol=0)
    np.testing.assert_array_equal(cpu.to_numpy(am, tuple(shape), "int32"), cpu.to_numpy(cam, tuple(shape), "int32"))
    cgx = Backend.max_pool2d_backward(cpu, cam, _buf(cpu, gy), xs, pool, strides, pads)
    assert_close(_np(cpu, gx, xs), _np(cpu, cgx, xs), what="gx vs composite", **TOL)
    y2, _, none = cpu.max_pool2d(_buf(cpu, x), xs, pool, strides, pads, False)
    assert none is None
    assert_close(_np(cpu, y2, shape), y_ref, what="without argmax", rtol=0, atol=0)


@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[0]) for c in POOL_CASES])
def test_average_pool2d_matches_reference_and_composite(cpu, case):
    xs, pool, strides, pads = case
    rng = np.random.default_rng(4)
    x = rng.standard_normal(xs).astype(np.float32)
    yb, shape = cpu.average_pool2d(_buf(cpu, x), xs, pool, strides, pads)
    y_ref, _ = pool_ref(x, pool, strides, pads, "avg")
    assert_close(_np(cpu, yb, shape), y_ref, what="average_pool2d", **TOL)
    gy = rng.standard_normal(tuple(shape)).astype(np.float32)
    gx = cpu.average_pool2d_backward(_buf(cpu, gy), xs, pool, strides, pads)
    assert_close(_np(cpu, gx, xs), pool_backward_ref(xs, gy, pool, strides, pads, "avg"), what="gx", **TOL)
    cy, _ = Backend.average_pool2d(cpu, _buf(cpu, x), xs, pool, strides, pads)
    assert_close(_np(cpu, yb, shape), _np(cpu, cy, shape), what="vs composite", **TOL)
    cgx = Backend.average_pool2d_backward(cpu, _buf(cpu, gy), xs, pool, strides, pads)
    assert_close(_np(cpu, gx, xs), _np(cpu, cgx, xs), what="gx vs composite", **TOL)


def test_max_pool_nan_and_all_padding_window(cpu):
    # NaN wins its window (as reduce max / argmax do); a window wholly in the padding
    # gives -inf and sends its gradient nowhere.
    x = np.array([1.0, np.nan, 3.0, 2.0], np.float32).reshape(1, 2, 2, 1)
    y, shape, am = cpu.max_pool2d(_buf(cpu, x), x.shape, (2, 2), (2, 2), ((0, 0), (0, 0)), True)
    assert np.isnan(_np(cpu, y, shape)).all()
    assert cpu.to_numpy(am, tuple(shape), "int32").ravel().tolist() == [1]
    x = np.ones((1, 1, 1, 1), np.float32)
    y, shape, am = cpu.max_pool2d(_buf(cpu, x), x.shape, (1, 1), (1, 1), ((0, 1), (0, 0)), True)
    assert _np(cpu, y, shape).ravel().tolist() == [1.0, -np.inf]
    gx = cpu.max_pool2d_backward(am, _buf(cpu, np.array([2.0, 5.0])), x.shape, (1, 1), (1, 1), ((0, 1), (0, 0)))
    assert _np(cpu, gx, x.shape).ravel().tolist() == [2.0]


# -- errors ---------------------------------------------------------------------------------------

def test_bad_inputs_raise_ember_errors(cpu):
    x, w = _buf(cpu, np.zeros((2, 5, 5, 3))), _buf(cpu, np.zeros((3, 3, 3, 4)))
    p0 = ((0, 0), (0, 0))
    conv = cpu.conv2d
    expect_error(ShapeError, conv, x, (2, 5, 5, 3), _buf(cpu, np.zeros((3, 3, 2, 4))), (3, 3, 2, 4), None,
                 (1, 1), p0, (1, 1), 1, "linear", words=("conv2d", "(2, 5, 5, 3)", "(3, 3, 2, 4)"))
    expect_error(ShapeError, conv, x, (2, 5, 5, 3), _buf(cpu, np.zeros((6, 3, 3, 4))), (6, 3, 3, 4), None,
                 (1, 1), p0, (1, 1), 1, "linear", words=("conv2d", "(2, 5, 5, 3)"))
    expect_error(ShapeError, conv, x, (2, 5, 5, 3), w, (3, 3, 3, 4), None, (1, 1), p0, (1, 1), 2, "linear",
                 words=("conv2d", "groups=2"))
    expect_error(ShapeError, conv, x, (10, 5, 3), w, (3, 3, 3, 4), None, (1, 1), p0, (1, 1), 1, "linear",
                 words=("conv2d", "(10, 5, 3)"))
    expect_error(ShapeError, conv, x, (2, 5, 5, 3), w, (3, 3, 12), None, (1, 1), p0, (1, 1), 1, "linear",
                 words=("conv2d", "(3, 3, 12)"))
    expect_error(ShapeError, conv, x, (1, 5, 5, 3), w, (3, 3, 3, 4), None, (1, 1), p0, (1, 1), 1, "linear",
                 words=("conv2d", "150", "(1, 5, 5, 3)"))
    expect_error(ShapeError, conv, x, (2, 5, 5, 3), w, (3, 3, 3, 4), _buf(cpu, np.zeros(3)), (1, 1), p0, (1, 1), 1,
                 "linear", words=("conv2d", "bias"))
    expect_error(InvalidArgumentError, conv, x, (2, 5, 5, 3), w, (3, 3, 3, 4), None, (0, 1), p0, (1, 1), 1, "linear",
                 words=("conv2d",))
    expect_error(InvalidArgumentError, conv, x, (2, 5, 5, 3), w, (3, 3, 3, 4), None, (1, 1), ((-1, 0), (0, 0)), (1, 1),
                 1, "linear", words=("conv2d", "non-negative"))
    expect_error(InvalidArgumentError, conv, x, (2, 5, 5, 3), w, (3, 3, 3, 4), None, (1, 1), p0, (1, 1), 1, "gelu",
                 words=("conv2d", "gelu"))
    expect_error(DTypeError, conv, cpu.cast(x, "int32"), (2, 5, 5, 3), w, (3, 3, 3, 4), None, (1, 1), p0, (1, 1), 1,
                 "linear", words=("conv2d",))
    y, _ = conv(x, (2, 5, 5, 3), w, (3, 3, 3, 4), None, (1, 1), p0, (1, 1), 1, "linear")
    expect_error(ShapeError, cpu.conv2d_backward, x, (2, 5, 5, 3), w, (3, 3, 3, 4), y, _buf(cpu, np.zeros(5)), (1, 1),
                 p0, (1, 1), 1, "linear", True, words=("conv2d_backward",))
    expect_error(ShapeError, cpu.max_pool2d, x, (2, 5, 5, 3), (6, 2), (1, 1), p0, True, words=("max_pool2d", "(2, 5, 5, 3)"))
    expect_error(ShapeError, cpu.average_pool2d, x, (2, 5, 5), (2, 2), (1, 1), p0, words=("average_pool2d",))
    expect_error(InvalidArgumentError, cpu.average_pool2d, x, (2, 5, 5, 3), (2, 2), (0, 1), p0, words=("average_pool2d",))
    _, _, am = cpu.max_pool2d(x, (2, 5, 5, 3), (2, 2), (2, 2), p0, True)
    bad = cpu.from_numpy(np.full(2 * 2 * 2 * 3, 7, np.int32), "int32")
    expect_error(InvalidArgumentError, cpu.max_pool2d_backward, bad, _buf(cpu, np.zeros(24)), (2, 5, 5, 3), (2, 2),
                 (2, 2), p0, words=("max_pool2d_backward",))
    expect_error(ShapeError, cpu.max_pool2d_backward, am, _buf(cpu, np.zeros(23)), (2, 5, 5, 3), (2, 2), (2, 2), p0,
                 words=("max_pool2d_backward",))
    expect_error(ShapeError, cpu.average_pool2d_backward, _buf(cpu, np.zeros(23)), (2, 5, 5, 3), (2, 2), (2, 2), p0,
                 words=("average_pool2d_backward",))
    # Nonsense never panics, whatever it raises.
    for args in [((1, 1, 1), p0, (1, 1)), ((1, 1), ((0,), (0, 0)), (1, 1)), ((1, 1), p0, (1, 1, 1))]:
        e = call_no_panic(conv, x, (2, 5, 5, 3), w, (3, 3, 3, 4), None, *args, 1, "linear")
        assert isinstance(e, InvalidArgumentError), e
