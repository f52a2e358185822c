"""Every differentiable op's gradient against central finite differences of the float64
numpy reference (``check_op``: one line per case)."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember import ops

from _conformance import REDUCTION, assert_close, check_op, f32, to_np

R = np.random.default_rng


def U(shape, lo=-2.0, hi=2.0, seed=0):
    return R(seed).uniform(lo, hi, shape)


def away_from_zero(shape, seed=0, gap=0.2):
    x = U(shape, seed=seed)
    return np.sign(x) * (np.abs(x) + gap)


def distinct(shape, seed=0):
    """Values whose pairwise gaps are >= 0.05 (no ties for max/min and their gradient)."""
    n = int(np.prod(shape))
    return R(seed).permutation(n).reshape(shape) * 0.05 - n * 0.025


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = [
    ("neg", ops.negative, np.negative, U((3, 4))),
    ("abs", ops.abs, np.abs, away_from_zero((3, 4))),
    ("exp", ops.exp, np.exp, U((3, 4))),
    ("log", ops.log, np.log, U((3, 4), 0.2, 3.0)),
    ("sqrt", ops.sqrt, np.sqrt, U((3, 4), 0.2, 3.0)),
    ("square", ops.square, np.square, U((3, 4))),
    ("relu", ops.relu, lambda x: np.maximum(x, 0), away_from_zero((3, 4))),
    ("sigmoid", ops.sigmoid, _np_sigmoid, U((3, 4), -5, 5)),
    ("tanh", ops.tanh, np.tanh, U((3, 4))),
    ("unary on rank 0", ops.exp, np.exp, np.array(0.7)),
]


@pytest.mark.parametrize("name,em_fn,np_fn,x", UNARY, ids=[c[0] for c in UNARY])
def test_unary_grad(backend_name, name, em_fn, np_fn, x):
    check_op(backend_name, em_fn, np_fn, [x])


BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((1, 4), (3, 1)), ((), (2, 3)), ((2, 3), ()),
                   ((2, 1, 3), (1, 4, 1)), ((5,), (1,))]
BINARY = {
    "add": (ops.add, np.add, lambda sa, sb, s: (U(sa, seed=s), U(sb, seed=s + 1))),
    "sub": (ops.subtract, np.subtract, lambda sa, sb, s: (U(sa, seed=s), U(sb, seed=s + 1))),
    "mul": (ops.multiply, np.multiply, lambda sa, sb, s: (U(sa, seed=s), U(sb, seed=s + 1))),
    "div": (ops.divide, np.divide, lambda sa, sb, s: (U(sa, seed=s), away_from_zero(sb, s + 1, 0.5))),
    "pow": (ops.power, np.power, lambda sa, sb, s: (U(sa, 0.3, 2.0, s), U(sb, -2, 2, s + 1))),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS, ids=[f"{a}-{b}" for a, b in BROADCAST_PAIRS])
def test_binary_grad_with_broadcasting(backend_name, op, sa, sb):
    em_fn, np_fn, make = BINARY[op]
    a, b = make(sa, sb, 3)
    check_op(backend_name, em_fn, np_fn, [a, b])


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (5,))])
def test_maximum_minimum_grad_away_from_ties(backend_name, op, sa, sb):
    out = np.broadcast_shapes(sa, sb)
    a = U(sa, seed=4)
    # b differs from every broadcast partner of a by at least 0.1.
    b = U(sb, seed=5)
    ab = np.broadcast_to(a, out)
    bb = np.broadcast_to(b, out)
    if np.any(np.abs(ab - bb) < 0.1):
        b = np.round(b) + 0.5  # a in (-2, 2); push b onto half-integers
        a = np.round(a * 2) / 2 + 0.25
        assert np.all(np.abs(np.broadcast_to(a, out) - np.broadcast_to(b, out)) >= 0.1)
    check_op(backend_name, getattr(ops, op), getattr(np, op), [a, b])


def test_binary_grad_with_python_scalars(backend_name):
    x = U((3, 4), 0.3, 2.0, seed=6)
    check_op(backend_name, lambda t: t * 2.5, lambda t: t * 2.5, [x])
    check_op(backend_name, lambda t: 1.5 - t, lambda t: 1.5 - t, [x])
    check_op(backend_name, lambda t: 2.0 / t, lambda t: 2.0 / t, [x])
    check_op(backend_name, lambda t: t ** 3.0, lambda t: t ** 3.0, [x])
    check_op(backend_name, lambda t: 2.0 ** t, lambda t: 2.0 ** t, [x])
    check_op(backend_name, lambda t: -t + abs(t), lambda t: -t + np.abs(t), [x])


def test_clip_grad(backend_name):
    x = np.array([[-3.0, -1.2, -0.5, 0.0], [0.3, 0.9, 1.3, 4.0]])
    check_op(backend_name, lambda t: ops.clip(t, -1.0, 1.0), lambda t: np.clip(t, -1.0, 1.0), [x])
    lo, hi = np.full((4,), -0.7), np.array([0.1, 0.5, 2.0, 3.0])
    check_op(backend_name, ops.clip, np.clip, [x, lo, hi])


REDUCTIONS = [
    ("sum all", lambda t: ops.sum(t), lambda t: np.sum(t), (3, 4)),
    ("sum axis 0", lambda t: ops.sum(t, 0), lambda t: np.sum(t, 0), (3, 4)),
    ("sum axes (0,2) keepdims", lambda t: ops.sum(t, (0, 2), True), lambda t: np.sum(t, (0, 2), keepdims=True), (2, 3, 4)),
    ("sum axis -1", lambda t: ops.sum(t, -1), lambda t: np.sum(t, -1), (2, 3, 4)),
    ("mean all", lambda t: ops.mean(t), lambda t: np.mean(t), (3, 4)),
    ("mean axes (-1,-3)", lambda t: ops.mean(t, (-1, -3)), lambda t: np.mean(t, (-1, -3)), (2, 3, 4)),
    ("mean axis 1 keepdims", lambda t: ops.mean(t, 1, True), lambda t: np.mean(t, 1, keepdims=True), (2, 3, 4)),
    ("max all", lambda t: ops.max(t), lambda t: np.max(t), (3, 4)),
    ("max axis 1", lambda t: ops.max(t, 1), lambda t: np.max(t, 1), (2, 3, 4)),
    ("max axes (0,2) keepdims", lambda t: ops.max(t, (0, 2), True), lambda t: np.max(t, (0, 2), keepdims=True), (2, 3, 4)),
    ("min axis -1", lambda t: ops.min(t, -1), lambda t: np.min(t, -1), (2, 3, 4)),
    ("min all", lambda t: ops.min(t), lambda t: np.min(t), (2, 3)),
    ("Tensor.sum / mean methods", lambda t: t.sum(0) + t.mean(), lambda t: t.sum(0) + t.mean(), (3, 4)),
]


@pytest.mark.parametrize("name,em_fn,np_fn,shape", REDUCTIONS, ids=[c[0] for c in REDUCTIONS])
def test_reduction_grad(backend_name, name, em_fn, np_fn, shape):
    check_op(backend_name, em_fn, np_fn, [distinct(shape, seed=7)], fwd_tol=REDUCTION)


def test_max_grad_splits_ties_evenly(backend_name):
    x = em.tensor(f32([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), device=backend_name, requires_grad=True)
    ops.max(x, 1).backward(em.tensor(f32([1.0, 4.0]), device=backend_name))
    np.testing.assert_array_equal(to_np(x.grad), [[0.0, 0.5, 0.5], [2.0, 0.0, 2.0]])


SHAPE_OPS = [
    ("reshape", lambda t: ops.reshape(t, (4, 6)), lambda t: np.reshape(t, (4, 6))),
    ("reshape -1", lambda t: t.reshape(-1, 2), lambda t: np.reshape(t, (-1, 2))),
    ("transpose default", lambda t: ops.transpose(t), lambda t: np.transpose(t)),
    ("transpose perm", lambda t: ops.transpose(t, (1, 2, 0)), lambda t: np.transpose(t, (1, 2, 0))),
    ("transpose negative perm", lambda t: ops.transpose(t, (-1, 0, -2)), lambda t: np.transpose(t, (2, 0, 1))),
    (".T", lambda t: t.T, lambda t: t.T),
    ("expand_dims", lambda t: ops.expand_dims(t, 1), lambda t: np.expand_dims(t, 1)),
    ("expand + squeeze", lambda t: ops.squeeze(ops.expand_dims(t, -1), -1), lambda t: t),
    ("broadcast_to", lambda t: ops.broadcast_to(ops.reshape(t, (2, 1, 3, 4)), (2, 5, 3, 4)),
     lambda t: np.broadcast_to(t.reshape(2, 1, 3, 4), (2, 5, 3, 4))),
    ("getitem int", lambda t: t[1], lambda t: t[1]),
    ("getitem negative int", lambda t: t[-2], lambda t: t[-2]),
    ("getitem slice", lambda t: t[1:], lambda t: t[1:]),
    ("getitem reversed slice", lambda t: t[::-1], lambda t: t[::-1]),
    ("getitem index array with repeats", lambda t: t[[1, 0, 1, -1]], lambda t: t[[1, 0, 1, -1]]),
    ("getitem 2-d index array", lambda t: t[np.array([[0, 1], [1, 1]])], lambda t: t[np.array([[0, 1], [1, 1]])]),
    ("take", lambda t: ops.take(t, [1, 1, 0], axis=0), lambda t: np.take(t, [1, 1, 0], axis=0)),
]


@pytest.mark.parametrize("name,em_fn,np_fn", SHAPE_OPS, ids=[c[0] for c in SHAPE_OPS])
def test_shape_op_grad(backend_name, name, em_fn, np_fn):
    check_op(backend_name, em_fn, np_fn, [U((2, 3, 4), seed=8)])


MATMUL = [((3, 4), (4, 5)), ((1, 7), (7, 1)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((4, 3), (2, 3, 2)),
          ((2, 1, 3, 4), (3, 4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("sa,sb", MATMUL, ids=[f"{a}@{b}" for a, b in MATMUL])
def test_matmul_grad(backend_name, sa, sb):
    check_op(backend_name, ops.matmul, np.matmul, [U(sa, seed=9), U(sb, seed=10)], fwd_tol=REDUCTION)


_ACT = {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "sigmoid": _np_sigmoid, "tanh": np.tanh}


@pytest.mark.parametrize("act", sorted(_ACT))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(5, 3), (2, 2, 3)])
def test_dense_grad(backend_name, act, bias, xshape):
    for seed in range(11, 200, 3):  # relu: keep every pre-activation away from the kink
        x, w = U(xshape, seed=seed), U((3, 4), seed=seed + 1)
        b = U((4,), seed=seed + 2) if bias else np.zeros(4)
        if act != "relu" or np.abs(x @ w + b).min() > 0.05:
            break
    if bias:
        check_op(backend_name, lambda x, w, b: ops.dense(x, w, b, act), lambda x, w, b: _ACT[act](x @ w + b), [x, w, b],
                 fwd_tol=REDUCTION)
    else:
        check_op(backend_name, lambda x, w: ops.dense(x, w, None, act), lambda x, w: _ACT[act](x @ w), [x, w], fwd_tol=REDUCTION)


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_grad(backend_name, axis, log):
    x = U((2, 3, 4), -3, 3, seed=14)
    if log:
        check_op(backend_name, lambda t: ops.log_softmax(t, axis), lambda t: np.log(_np_softmax(t, axis)), [x])
    else:
        check_op(backend_name, lambda t: ops.softmax(t, axis), lambda t: _np_softmax(t, axis), [x])


def _np_sce(z, y):
    lse = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    if y.dtype.kind in "iu":
        return lse - np.take_along_axis(z, y[..., None].astype(np.int64), -1)[..., 0]
    return (y * (lse[..., None] - z)).sum(-1)


@pytest.mark.parametrize("zshape", [(4, 5), (2, 3, 4)])
def test_softmax_cross_entropy_grad(backend_name, zshape):
    z = U(zshape, -3, 3, seed=15)
    sparse = R(16).integers(0, zshape[-1], zshape[:-1])
    check_op(backend_name, ops.softmax_cross_entropy, _np_sce, [z, sparse], fwd_tol=REDUCTION)
    soft = R(17).dirichlet(np.ones(zshape[-1]), zshape[:-1])
    check_op(backend_name, ops.softmax_cross_entropy, _np_sce, [z, soft], wrt=[0], fwd_tol=REDUCTION)
    smoothed = R(18).uniform(0, 1, zshape)  # rows need not sum to 1
    check_op(backend_name, ops.softmax_cross_entropy, _np_sce, [z, smoothed], wrt=[0], fwd_tol=REDUCTION)


def test_sigmoid_bce_grad(backend_name):
    z = U((4, 3), -6, 6, seed=19)
    y = R(20).uniform(0, 1, (4, 3))
    ref = lambda z, y: np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))  # noqa: E731
    check_op(backend_name, ops.sigmoid_binary_cross_entropy, ref, [z, y], wrt=[0])


def test_graph_with_reused_inputs(backend_name):
    """Gradients accumulate over every use of an input (diamonds in the graph)."""
    a, b = U((3, 4), 0.3, 2.0, seed=21), U((4,), seed=22)

    def em_fn(a, b):
        h = ops.tanh(a * b + a)
        return ops.sum(h * a, axis=1, keepdims=True) / ops.mean(ops.exp(b)) + ops.matmul(h, ops.reshape(b, (4, 1)))

    def np_fn(a, b):
        h = np.tanh(a * b + a)
        return np.sum(h * a, axis=1, keepdims=True) / np.mean(np.exp(b)) + h @ b.reshape(4, 1)

    check_op(backend_name, em_fn, np_fn, [a, b], fwd_tol=REDUCTION)


def test_gradient_tape_matches_backward(backend_name):
    rng = R(23)
    x = f32(rng.uniform(-1, 1, (4, 3)))
    w = em.Variable(f32(rng.uniform(-1, 1, (3, 2))), device=backend_name)
    xt = em.tensor(x, device=backend_name)
    with em.GradientTape() as tape:
        loss = ops.mean(ops.square(ops.dense(xt, w, None, "tanh")))
    (gw,) = tape.gradient(loss, [w])
    h = np.tanh(x.astype(np.float64) @ w.numpy().astype(np.float64))
    expected = x.astype(np.float64).T @ (2 * h * (1 - h * h) / h.size)
    assert_close(to_np(gw), expected, what="tape gradient", rtol=1e-4, atol=1e-6)
    # Watching a plain tensor.
    t = em.tensor(x, device=backend_name)
    with em.GradientTape() as tape:
        tape.watch(t)
        y = ops.sum(t * t)
    assert_close(to_np(tape.gradient(y, t)), 2 * x.astype(np.float64), what="watched", rtol=1e-5, atol=1e-6)
