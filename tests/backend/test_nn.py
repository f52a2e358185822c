"""matmul, softmax / log_softmax, fused cross-entropies, fused dense (and fused vs composite)."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.backend import get_backend
from ember.backend.cpu import ReferenceCompositeCpuBackend
from ember.backend.base import Backend
from ember.errors import InvalidArgumentError, ShapeError

from _conformance import ELEMENTWISE, REDUCTION, assert_close, expect_error, f32, ref64, synced, to_np


def _bmm_ref(a, b):
    return np.matmul(ref64(a), ref64(b))


MATMUL_CASES = [
    # (a batch, b batch, m, k, n)
    ((), (), 1, 1, 1),
    ((), (), 3, 5, 2),
    ((), (), 7, 13, 5),
    ((), (), 33, 17, 65),
    ((), (), 67, 129, 35),
    ((), (), 4, 0, 3),
    ((), (), 0, 3, 4),
    ((2,), (2,), 3, 4, 5),
    ((2, 3), (2, 3), 5, 1, 7),
    ((1,), (4,), 3, 2, 6),
    ((4,), (), 3, 2, 6),
    ((), (2, 2), 5, 3, 1),
    ((1, 1), (2, 3), 2, 9, 4),
    ((3,), (1, 3), 2, 2, 2),
    ((0,), (), 2, 3, 4),
    # Multiples of 4: the gpu kernel's vec4 loads along each operand's contiguous axis,
    # over several 64x64 tiles and K slices, batched and broadcast.
    ((), (), 68, 132, 72),
    ((3,), (3,), 8, 20, 12),
    ((2,), (), 64, 16, 4),
    ((), (2,), 4, 8, 68),
    ((), (), 12, 6, 8),
    ((), (), 6, 12, 10),
]


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_matmul_backend_all_transposes(backend_name, trans_a, trans_b):
    be = get_backend(backend_name)
    rng = np.random.default_rng(20)
    for ba, bb, m, k, n in MATMUL_CASES:
        a = f32(rng.uniform(-1, 1, ba + (m, k)))
        b = f32(rng.uniform(-1, 1, bb + (k, n)))
        sa = np.ascontiguousarray(np.swapaxes(a, -1, -2)) if trans_a else a
        sb = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if trans_b else b
        buf, shape = be.matmul(be.from_numpy(sa, "float32"), sa.shape, be.from_numpy(sb, "float32"), sb.shape, trans_a, trans_b)
        expected = _bmm_ref(a, b)
        assert tuple(shape) == expected.shape, f"{ba}{bb} {m}x{k}x{n} ta={trans_a} tb={trans_b}: {shape}"
        assert_close(be.to_numpy(buf, tuple(shape), "float32"), expected, what=f"matmul {ba}{bb} {m}x{k}x{n} ta={trans_a} tb={trans_b}", **REDUCTION)


@pytest.mark.parametrize(
    "sa,sb",
    [((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)), ((3, 2, 4), (4,)), ((4,), (3, 4, 2)), ((2, 1, 3, 4), (5, 4, 2)),
     ((5, 3, 4), (1, 4, 2)), ((2, 1, 3, 4), (1, 2, 4, 3)), ((1, 5), (5, 1)), ((6, 9), (9, 11))],
)
def test_matmul_op_numpy_semantics(backend_name, sa, sb):
    rng = np.random.default_rng(21)
    a, b = f32(rng.uniform(-1, 1, sa)), f32(rng.uniform(-1, 1, sb))
    y = em.ops.matmul(em.tensor(a, device=backend_name), em.tensor(b, device=backend_name))
    assert_close(to_np(y), _bmm_ref(a, b), what=f"ops.matmul {sa} @ {sb}", **REDUCTION)
    y2 = em.tensor(a, device=backend_name) @ em.tensor(b, device=backend_name)
    assert_close(to_np(y2), _bmm_ref(a, b), what="@", **REDUCTION)


def test_matmul_noncontiguous_inputs(backend_name):
    rng = np.random.default_rng(22)
    a0, b0 = f32(rng.uniform(-1, 1, (8, 10))), f32(rng.uniform(-1, 1, (10, 6)))
    for a, b in [(a0[:, ::2], b0[::2]), (a0.T[:6].T[:, :6], b0[:6]), (np.asfortranarray(a0), b0), (b0.T, a0.T)]:
        y = em.ops.matmul(em.tensor(a, device=backend_name), em.tensor(b, device=backend_name))
        assert_close(to_np(y), _bmm_ref(a, b), what="matmul of views", **REDUCTION)


# -- softmax --------------------------------------------------------------------------------------

def _softmax_ref(x, axis, log):
    x = ref64(x)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=axis, keepdims=True)
    return (x - m - np.log(s)) if log else e / s


@pytest.mark.parametrize("log", [False, True])
def test_softmax_every_axis(backend_name, log):
    be = get_backend(backend_name)
    rng = np.random.default_rng(23)
    fn = em.ops.log_softmax if log else em.ops.softmax
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)]:
        x = f32(rng.uniform(-5, 5, shape))
        for axis in range(-len(shape), len(shape)):
            y = be.to_numpy(be.softmax(be.from_numpy(x, "float32"), shape, axis, log), shape, "float32")
            assert_close(y, _softmax_ref(x, axis, log), what=f"softmax {shape} axis={axis}", **ELEMENTWISE)
            assert_close(to_np(fn(em.tensor(x, device=backend_name), axis)), _softmax_ref(x, axis, log), what="ops", **ELEMENTWISE)
            # backward kernel: the vector-Jacobian product of the float64 reference Jacobian.
            g = f32(rng.uniform(-1, 1, shape))
            yb = be.softmax(be.from_numpy(x, "float32"), shape, axis, log)
            gx = be.to_numpy(be.softmax_backward(yb, be.from_numpy(g, "float32"), shape, axis, log), shape, "float32")
            yr = _softmax_ref(x, axis, log)
            if log:
                expected = ref64(g) - np.exp(yr) * ref64(g).sum(axis=axis, keepdims=True)
            else:
                expected = yr * (ref64(g) - (yr * ref64(g)).sum(axis=axis, keepdims=True))
            assert_close(gx, expected, what=f"softmax_backward {shape} axis={axis}", **REDUCTION)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_stable_at_large_logits(backend_name, log):
    x = f32([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0], [88.0, 89.0, 90.0]])
    fn = em.ops.log_softmax if log else em.ops.softmax
    for axis in (0, 1):
        y = to_np(fn(em.tensor(x, device=backend_name), axis))
        assert np.all(np.isfinite(y)), y
        assert_close(y, _softmax_ref(x, axis, log), what=f"axis {axis}", **ELEMENTWISE)
    y = to_np(em.ops.log_softmax(em.tensor(x, device=backend_name), 1))
    assert y[0, 0] == 0.0 and y[0, 1] == -1000.0 and y[0, 2] == -2000.0


def test_softmax_empty_and_size_one_axis(backend_name):
    for shape, axis in [((0, 3), 1), ((3, 0), 0), ((2, 1, 3), 1)]:
        x = np.ones(shape, np.float32)
        y = em.ops.softmax(em.tensor(x, device=backend_name), axis)
        assert y.shape == shape
        if x.size:
            np.testing.assert_array_equal(to_np(y), np.ones(shape))


# -- fused cross-entropies --------------------------------------------------------------------------

def _lse(z):
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _sce_ref(z, y):
    z = ref64(z)
    if y.dtype.kind in "iu":
        return _lse(z) - np.take_along_axis(z, y[..., None].astype(np.int64), axis=-1)[..., 0]
    return _lse(z) * ref64(y).sum(axis=-1) - (ref64(y) * z).sum(axis=-1)


def test_softmax_cross_entropy_kernel(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(24)
    for rows, classes in [(1, 1), (4, 3), (7, 10), (3, 1000)]:
        z = f32(rng.uniform(-4, 4, (rows, classes)))
        z[0, 0] = 1000.0  # stable at large logits
        for labels in (
            rng.integers(0, classes, rows).astype(np.int32),
            f32(rng.dirichlet(np.ones(classes), rows)),
            f32(rng.uniform(0, 1, (rows, classes))),  # unnormalised soft labels (label smoothing, sums != 1)
        ):
            dtype = "int32" if labels.dtype == np.int32 else "float32"
            lb = be.from_numpy(labels, dtype)
            loss, probs = be.softmax_cross_entropy(be.from_numpy(z, "float32"), lb, rows, classes)
            loss = be.to_numpy(loss, (rows,), "float32")
            assert np.all(np.isfinite(loss))
            assert_close(loss, _sce_ref(z, labels), what=f"sce {rows}x{classes} {dtype}", **REDUCTION)
            p = be.to_numpy(probs, (rows, classes), "float32")
            assert_close(p, _softmax_ref(z, -1, False), what="probs", **ELEMENTWISE)
            g = f32(rng.uniform(-1, 1, rows))
            gz = be.to_numpy(be.softmax_cross_entropy_backward(probs, lb, be.from_numpy(g, "float32"), rows, classes), (rows, classes), "float32")
            y = np.eye(classes)[labels] if dtype == "int32" else ref64(labels)
            expected = ref64(g)[:, None] * (_softmax_ref(z, -1, False) * y.sum(-1, keepdims=True) - y)
            assert_close(gz, expected, what="sce backward", **REDUCTION)


def test_softmax_cross_entropy_op_with_leading_dims(backend_name):
    rng = np.random.default_rng(25)
    z = f32(rng.uniform(-3, 3, (2, 3, 5)))
    y = rng.integers(0, 5, (2, 3)).astype(np.int32)
    out = em.ops.softmax_cross_entropy(em.tensor(z, device=backend_name), em.tensor(y, device=backend_name))
    assert out.shape == (2, 3)
    assert_close(to_np(out), _sce_ref(z, y), what="sparse", **REDUCTION)
    ys = f32(rng.dirichlet(np.ones(5), (2, 3)))
    out = em.ops.softmax_cross_entropy(em.tensor(z, device=backend_name), em.tensor(ys, device=backend_name))
    assert_close(to_np(out), _sce_ref(z, ys), what="soft", **REDUCTION)


def test_softmax_cross_entropy_bad_labels(backend_name):
    be = get_backend(backend_name)
    z = be.from_numpy(np.zeros((2, 3), np.float32), "float32")
    for bad in ([0, 3], [-1, 0]):
        expect_error(InvalidArgumentError, synced(be, be.softmax_cross_entropy), z, be.from_numpy(np.array(bad, np.int32), "int32"), 2, 3,
                     words=("softmax_cross_entropy", str(bad[0] if bad[0] < 0 else bad[1])))
    expect_error(ShapeError, be.softmax_cross_entropy, z, be.from_numpy(np.array([0], np.int32), "int32"), 2, 3)
    expect_error(ShapeError, be.softmax_cross_entropy, z, be.from_numpy(np.zeros(5, np.float32), "float32"), 2, 3)
    _, probs = be.softmax_cross_entropy(z, be.from_numpy(np.array([0, 1], np.int32), "int32"), 2, 3)
    g = be.from_numpy(np.ones(2, np.float32), "float32")
    # The backward validates its labels too (never indexes out of bounds).
    expect_error(InvalidArgumentError, synced(be, be.softmax_cross_entropy_backward), probs, be.from_numpy(np.array([0, 3], np.int32), "int32"), g, 2, 3)
    expect_error(InvalidArgumentError, synced(be, be.softmax_cross_entropy_backward), probs, be.from_numpy(np.array([-1, 0], np.int32), "int32"), g, 2, 3)
    expect_error(ShapeError, be.softmax_cross_entropy_backward, probs, be.from_numpy(np.array([0], np.int32), "int32"), g, 2, 3)
    expect_error(ShapeError, be.softmax_cross_entropy_backward, probs, be.from_numpy(np.zeros(4, np.float32), "float32"), g, 2, 3)
    expect_error(InvalidArgumentError, lambda *a: em.ops.softmax_cross_entropy(*a).numpy(),
                 em.tensor(np.zeros((2, 3), np.float32), device=backend_name), em.tensor(np.array([0, 5]), device=backend_name))
    # After a reported failure the device is usable and reports nothing stale.
    good = em.ops.softmax_cross_entropy(em.tensor(np.zeros((2, 3), np.float32), device=backend_name),
                                        em.tensor(np.array([0, 2]), device=backend_name))
    assert_close(to_np(good), np.full(2, np.log(3.0)), what="after a bad-label error", **REDUCTION)


def _bce_ref(z, y):
    z, y = ref64(z), ref64(y)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def test_sigmoid_bce_kernel(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(26)
    z = f32(np.concatenate([rng.uniform(-6, 6, 20), [1000.0, -1000.0, 50.0, -50.0, 0.0]]))
    y = f32(np.concatenate([rng.uniform(0, 1, 20), [0.0, 1.0, 1.0, 0.0, 0.5]]))
    loss = be.to_numpy(be.sigmoid_bce(be.from_numpy(z, "float32"), be.from_numpy(y, "float32")), z.shape, "float32")
    assert np.all(np.isfinite(loss))
    assert_close(loss, _bce_ref(z, y), what="sigmoid_bce", **ELEMENTWISE)
    g = f32(rng.uniform(-1, 1, z.shape))
    gz = be.to_numpy(be.sigmoid_bce_backward(be.from_numpy(z, "float32"), be.from_numpy(y, "float32"), be.from_numpy(g, "float32")), z.shape, "float32")
    with np.errstate(over="ignore"):
        sig = 1.0 / (1.0 + np.exp(-ref64(z)))
    assert_close(gz, ref64(g) * (sig - ref64(y)), what="sigmoid_bce backward", **ELEMENTWISE)
    out = em.ops.sigmoid_binary_cross_entropy(em.tensor(z.reshape(5, 5), device=backend_name), em.tensor(y.reshape(5, 5), device=backend_name))
    assert_close(to_np(out), _bce_ref(z, y).reshape(5, 5), what="ops", **ELEMENTWISE)


# -- fused dense ------------------------------------------------------------------------------------

_ACT = {
    "linear": lambda v: v,
    "relu": lambda v: np.maximum(v, 0),
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "tanh": np.tanh,
}


def _dense_ref(x, w, b, act):
    z = ref64(x) @ ref64(w) + (0 if b is None else ref64(b))
    return _ACT[act](z)


def _dense_grads_ref(x, w, b, act, gy):
    z = ref64(x) @ ref64(w) + (0 if b is None else ref64(b))
    y = _ACT[act](z)
    d = {"linear": np.ones_like(z), "relu": (z > 0).astype(float), "sigmoid": y * (1 - y), "tanh": 1 - y * y}[act]
    gz = ref64(gy) * d
    return gz @ ref64(w).T, ref64(x).T @ gz, gz.sum(0)


def _composite_of(backend):
    """``backend`` with its fused dense overrides switched off."""
    cls = type(f"Composite{type(backend).__name__}", (type(backend),),
               {"dense": Backend.dense, "dense_backward": Backend.dense_backward})
    return cls()


@pytest.mark.parametrize("act", sorted(_ACT))
@pytest.mark.parametrize("bias", [True, False])
def test_dense_fused_vs_reference_and_composite(backend_name, act, bias):
    fused = get_backend(backend_name)
    # The composite runs on the same device, so the two differ only by fusion, not by
    # the device's summation order.
    composite = ReferenceCompositeCpuBackend() if backend_name == "cpu" else _composite_of(fused)
    rng = np.random.default_rng(27)
    for rows, fin, fout in [(1, 1, 1), (5, 3, 4), (17, 33, 9), (64, 70, 130), (0, 3, 2), (3, 0, 2), (3, 2, 0)]:
        x = f32(rng.uniform(-1, 1, (rows, fin)))
        w = f32(rng.uniform(-1, 1, (fin, fout)))
        b = f32(rng.uniform(-1, 1, fout)) if bias else None
        gy = f32(rng.uniform(-1, 1, (rows, fout)))
        outs = {}
        for name, be in (("fused", fused), ("composite", composite)):
            xb, wb = be.from_numpy(x, "float32"), be.from_numpy(w, "float32")
            bb = None if b is None else be.from_numpy(b, "float32")
            yb = be.dense(xb, wb, bb, rows, fin, fout, act)
            y = be.to_numpy(yb, (rows, fout), "float32")
            gx, gw, gb = be.dense_backward(xb, wb, yb, be.from_numpy(gy, "float32"), rows, fin, fout, act, True)
            outs[name] = (y, be.to_numpy(gx, (rows, fin), "float32"), be.to_numpy(gw, (fin, fout), "float32"), be.to_numpy(gb, (fout,), "float32"))
            gx2, gw2, _ = be.dense_backward(xb, wb, yb, be.from_numpy(gy, "float32"), rows, fin, fout, act, False)
            assert gx2 is None
            np.testing.assert_array_equal(be.to_numpy(gw2, (fin, fout), "float32"), outs[name][2])
            # Without the bias's gradient: None, and the other two unchanged.
            gx3, gw3, gb3 = be.dense_backward(xb, wb, yb, be.from_numpy(gy, "float32"), rows, fin, fout, act, True, False)
            assert gb3 is None
            np.testing.assert_array_equal(be.to_numpy(gx3, (rows, fin), "float32"), outs[name][1])
            np.testing.assert_array_equal(be.to_numpy(gw3, (fin, fout), "float32"), outs[name][2])
        tag = f"dense {act} bias={bias} {rows}x{fin}x{fout}"
        ref_y = _dense_ref(x, w, b, act)
        ref_g = _dense_grads_ref(x, w, b, act, gy)
        for name in outs:
            y, gx, gw, gb = outs[name]
            assert_close(y, ref_y, what=f"{name} {tag} forward", **REDUCTION)
            for got, exp, what in zip((gx, gw, gb), ref_g, ("gx", "gw", "gb")):
                assert_close(got, exp, what=f"{name} {tag} {what}", **REDUCTION)
        # fused and composite agree with each other (tighter than with the reference).
        for a, c, what in zip(outs["fused"], outs["composite"], ("y", "gx", "gw", "gb")):
            assert_close(a, c, what=f"fused vs composite {tag} {what}", rtol=1e-5, atol=1e-6)


def test_dense_op_with_leading_dims(backend_name):
    rng = np.random.default_rng(28)
    x = f32(rng.uniform(-1, 1, (2, 3, 4)))
    w = f32(rng.uniform(-1, 1, (4, 5)))
    b = f32(rng.uniform(-1, 1, 5))
    y = em.ops.dense(em.tensor(x, device=backend_name), em.tensor(w, device=backend_name), em.tensor(b, device=backend_name), "tanh")
    assert y.shape == (2, 3, 5)
    assert_close(to_np(y), np.tanh(ref64(x) @ ref64(w) + ref64(b)), what="dense (2,3,4)", **REDUCTION)
    expect_error(InvalidArgumentError, em.ops.dense, em.tensor(x, device=backend_name), em.tensor(w, device=backend_name), None, "softmax")


def test_large_inputs_take_the_parallel_paths(backend_name):
    """Sizes above the kernels' parallel threshold (2**15 elements) run the rayon paths;
    they must agree with numpy exactly as the serial ones do."""
    be = get_backend(backend_name)
    rng = np.random.default_rng(29)
    x = f32(rng.uniform(-2, 2, (96, 520)))
    t = em.tensor(x, device=backend_name)
    assert_close(to_np(em.ops.tanh(t)), np.tanh(ref64(x)), what="tanh", **ELEMENTWISE)
    b = f32(rng.uniform(-2, 2, (96, 1)))
    assert_close(to_np(t * em.tensor(b, device=backend_name)), ref64(x) * ref64(b), what="broadcast mul", **ELEMENTWISE)
    for axes in (None, 0, 1, (0, 1)):
        for op in ("sum", "max", "mean"):
            y = getattr(em.ops, op)(t, axes)
            assert_close(to_np(y), getattr(np, op)(ref64(x), axis=axes), what=f"{op} axis={axes}", **REDUCTION)
    x3 = f32(rng.uniform(-2, 2, (8, 512, 9)))
    for axes in ((0, 2), 1, (0,)):
        y = em.ops.sum(em.tensor(x3, device=backend_name), axes)
        assert_close(to_np(y), ref64(x3).sum(axis=axes), what=f"sum 3-d axes={axes}", **REDUCTION)
    np.testing.assert_array_equal(to_np(em.ops.argmax(t, 0)), np.argmax(x, 0))
    np.testing.assert_array_equal(to_np(t.T), x.T)
    np.testing.assert_array_equal(to_np(em.ops.transpose(em.tensor(x3, device=backend_name), (2, 0, 1))), x3.transpose(2, 0, 1))
    for axis in (0, 1):
        assert_close(to_np(em.ops.softmax(t, axis)), _softmax_ref(x, axis, False), what=f"softmax axis {axis}", **ELEMENTWISE)
    idx = rng.integers(-96, 96, 200)
    np.testing.assert_array_equal(to_np(t[idx]), x[idx])
    labels = rng.integers(0, 520, 96).astype(np.int32)
    loss = em.ops.softmax_cross_entropy(t, em.tensor(labels, device=backend_name))
    assert_close(to_np(loss), _sce_ref(x, labels), what="sce", **REDUCTION)
    w = f32(rng.uniform(-0.1, 0.1, (520, 70)))
    y = be.to_numpy(be.dense(be.from_numpy(x, "float32"), be.from_numpy(w, "float32"), None, 96, 520, 70, "relu"), (96, 70), "float32")
    assert_close(y, np.maximum(ref64(x) @ ref64(w), 0), what="dense", **REDUCTION)
    u = be.to_numpy(be.random("uniform", 100_003, 9, 0, 0.0, 1.0), (100_003,), "float32")
    tail = be.to_numpy(be.random("uniform", 3, 9, 25_000, 0.0, 1.0), (3,), "float32")
    np.testing.assert_array_equal(tail, u[100_000:])
