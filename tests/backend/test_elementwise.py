"""Unary and binary elementwise kernels against float64 numpy, with numpy broadcasting."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.backend import get_backend

from _conformance import ELEMENTWISE, assert_close, broadcast_partner, f32, random_shape, ref64, to_np


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


UNARY = {
    "neg": (np.negative, em.ops.negative, "any"),
    "abs": (np.abs, em.ops.abs, "any"),
    "exp": (np.exp, em.ops.exp, "any"),
    "log": (np.log, em.ops.log, "pos"),
    "sqrt": (np.sqrt, em.ops.sqrt, "pos"),
    "square": (np.square, em.ops.square, "any"),
    "relu": (lambda x: np.maximum(x, 0.0), em.ops.relu, "any"),
    "sigmoid": (_sigmoid, em.ops.sigmoid, "any"),
    "tanh": (np.tanh, em.ops.tanh, "any"),
}


def _unary_input(rng, domain, shape):
    x = rng.uniform(-4.0, 4.0, size=shape)
    return np.abs(x) + 0.05 if domain == "pos" else x


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_backend_kernel(backend_name, op):
    be = get_backend(backend_name)
    rng = np.random.default_rng(1)
    np_fn, _, domain = UNARY[op]
    for shape in [(), (0,), (7,), (3, 5), (2, 3, 4)]:
        x = f32(_unary_input(rng, domain, shape))
        y = be.to_numpy(be.unary(op, be.from_numpy(x, "float32")), shape, "float32")
        assert y.dtype == np.float32
        assert_close(y, np_fn(ref64(x)), what=f"{op}{shape}", **ELEMENTWISE)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_op_noncontiguous(backend_name, op):
    rng = np.random.default_rng(2)
    np_fn, em_fn, domain = UNARY[op]
    base = f32(_unary_input(rng, domain, (6, 8)))
    for view in [base[:, ::2], base.T, np.asfortranarray(base), base[::-1, 1::3], base.reshape(-1)[::3]]:
        y = em_fn(em.tensor(view, device=backend_name))
        assert_close(to_np(y), np_fn(ref64(view)), what=f"{op} of a non-contiguous view", **ELEMENTWISE)


def test_unary_stable_forms_at_large_magnitude(backend_name):
    """sigmoid and tanh are exact and finite at |x| = 1000 and keep their tails."""
    be = get_backend(backend_name)
    x = f32([-1000.0, -100.0, -30.0, -20.0, -5.0, 0.0, 5.0, 20.0, 30.0, 100.0, 1000.0])
    buf = be.from_numpy(x, "float32")
    s = be.to_numpy(be.unary("sigmoid", buf), x.shape, "float32")
    t = be.to_numpy(be.unary("tanh", buf), x.shape, "float32")
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(t))
    assert s[0] == 0.0 and s[-1] == 1.0 and t[0] == -1.0 and t[-1] == 1.0
    # The lower tail keeps relative precision (no 1 - sigmoid(-x) cancellation).
    assert_close(s, _sigmoid(ref64(x)), what="sigmoid tails", **ELEMENTWISE)
    assert_close(t, np.tanh(ref64(x)), what="tanh", **ELEMENTWISE)
    # The backward at saturation is finite (0), not NaN.
    for op in ("sigmoid", "tanh"):
        y = be.unary(op, buf)
        g = be.to_numpy(be.unary_backward(op, buf, y, be.from_numpy(np.ones_like(x), "float32")), x.shape, "float32")
        assert np.all(np.isfinite(g)), (op, g)
        assert g[0] == 0.0 and g[-1] == 0.0


def test_unary_special_values(backend_name):
    """IEEE edge cases follow numpy: log(0) = -inf, log(-1) = nan, sqrt(-1) = nan,
    exp overflow = inf, relu/abs/neg propagate NaN."""
    be = get_backend(backend_name)
    x = f32([0.0, -1.0, 1000.0, -1000.0, np.inf, -np.inf, np.nan])
    buf = be.from_numpy(x, "float32")
    with np.errstate(all="ignore"):
        for op, (np_fn, _, _) in UNARY.items():
            y = be.to_numpy(be.unary(op, buf), x.shape, "float32")
            assert_close(y, np_fn(ref64(x)), what=f"{op} special values", **ELEMENTWISE)


# -- binary ---------------------------------------------------------------------------------

BINARY = {
    "add": (np.add, em.ops.add),
    "sub": (np.subtract, em.ops.subtract),
    "mul": (np.multiply, em.ops.multiply),
    "div": (np.divide, em.ops.divide),
    "pow": (np.power, em.ops.power),
    "maximum": (np.maximum, em.ops.maximum),
    "minimum": (np.minimum, em.ops.minimum),
}
COMPARE = {
    "equal": (np.equal, em.ops.equal),
    "not_equal": (np.not_equal, em.ops.not_equal),
    "less": (np.less, em.ops.less),
    "less_equal": (np.less_equal, em.ops.less_equal),
    "greater": (np.greater, em.ops.greater),
    "greater_equal": (np.greater_equal, em.ops.greater_equal),
}


def _operands(rng, op, sa, sb):
    a = rng.uniform(-3.0, 3.0, size=sa)
    b = rng.uniform(-3.0, 3.0, size=sb)
    if op == "pow":
        a = np.abs(a) + 0.1
    if op == "div":
        b = np.sign(b + 1e-9) * (np.abs(b) + 0.2)
    if op in COMPARE:  # small integers so ties happen
        a, b = np.round(a), np.round(b)
    return f32(a), f32(b)


def _ref(op, a, b):
    fn = BINARY[op][0] if op in BINARY else COMPARE[op][0]
    with np.errstate(all="ignore"):
        return np.asarray(fn(ref64(a), ref64(b)), dtype=np.float64)


def _shape_pairs(seed, n=12, allow_zero=False):
    rng = np.random.default_rng(seed)
    pairs = [((), ()), ((), (3,)), ((4,), ()), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((1,), (5, 1, 1)),
             ((3, 1, 2), (1, 4, 1)), ((2, 3, 4), (2, 3, 4))]
    if allow_zero:
        pairs += [((0,), ()), ((0, 3), (3,)), ((2, 0), (2, 1)), ((0, 1), (1, 4)), ((1, 0, 2), (3, 1, 1))]
    for _ in range(n):
        sa = random_shape(rng, 4, 4, allow_zero)
        sb = broadcast_partner(rng, sa)
        pairs.append((sa, sb) if rng.random() < 0.5 else (sb, sa))
    return pairs


@pytest.mark.parametrize("op", sorted(BINARY) + sorted(COMPARE))
def test_binary_backend_kernel_broadcasting(backend_name, op):
    be = get_backend(backend_name)
    rng = np.random.default_rng(3)
    for sa, sb in _shape_pairs(4, allow_zero=True):
        a, b = _operands(rng, op, sa, sb)
        buf, shape = be.binary(op, be.from_numpy(a, "float32"), sa, be.from_numpy(b, "float32"), sb)
        expected = _ref(op, a, b)
        assert tuple(shape) == expected.shape, f"{op} {sa} {sb}: shape {shape} != {expected.shape}"
        y = be.to_numpy(buf, tuple(shape), "float32")
        assert_close(y, expected, what=f"{op} {sa} {sb}", **ELEMENTWISE)


@pytest.mark.parametrize("op", sorted(BINARY) + sorted(COMPARE))
def test_binary_op_noncontiguous_inputs(backend_name, op):
    rng = np.random.default_rng(5)
    fn = (BINARY.get(op) or COMPARE[op])[1]
    a0, b0 = _operands(rng, op, (6, 8), (8, 6))
    cases = [
        (a0[:, ::2], b0[::2, :].T),
        (a0.T, b0),
        (np.asfortranarray(a0), a0 * 0 + b0.T),
        (a0[::-1, 1::2], b0[1::2, 0]),
        (a0[:, 3:4], b0.T[:, ::3]),
        (a0.reshape(-1)[::4], b0.reshape(-1)[1::4]),
    ]
    for a, b in cases:
        a, b = f32(a), f32(b)
        y = fn(em.tensor(a, device=backend_name), em.tensor(b, device=backend_name))
        assert_close(to_np(y), _ref(op, a, b), what=f"{op} of non-contiguous views", **ELEMENTWISE)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_with_python_scalars(backend_name, op):
    fn = BINARY[op][1]
    a = f32([[0.5, 1.5, 2.5], [3.0, 0.25, 4.0]])
    t = em.tensor(a, device=backend_name)
    assert_close(to_np(fn(t, 2.0)), _ref(op, a, f32(2.0)), what=f"{op}(t, 2.0)", **ELEMENTWISE)
    assert_close(to_np(fn(1.5, t)), _ref(op, f32(1.5), a), what=f"{op}(1.5, t)", **ELEMENTWISE)


def test_comparisons_give_one_and_zero(backend_name):
    a = f32([1.0, 2.0, 3.0, np.nan])
    b = f32([2.0, 2.0, 2.0, np.nan])
    ta, tb = em.tensor(a, device=backend_name), em.tensor(b, device=backend_name)
    for op, (np_fn, em_fn) in COMPARE.items():
        y = to_np(em_fn(ta, tb))
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np_fn(a, b).astype(np.float32), err_msg=op)


def test_binary_special_values(backend_name):
    """maximum/minimum propagate NaN like numpy; division by zero gives inf."""
    be = get_backend(backend_name)
    a = f32([np.nan, 1.0, 1.0, -1.0, 0.0, np.inf])
    b = f32([1.0, np.nan, 0.0, 0.0, 0.0, 1.0])
    for op in ("maximum", "minimum", "div", "add", "mul"):
        buf, shape = be.binary(op, be.from_numpy(a, "float32"), a.shape, be.from_numpy(b, "float32"), b.shape)
        assert_close(be.to_numpy(buf, tuple(shape), "float32"), _ref(op, a, b), what=f"{op} special values", **ELEMENTWISE)


def test_binary_backward_kernel_sums_over_broadcast_axes(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(6)
    for sa, sb in [((2, 3, 4), (3, 1)), ((1, 4), (3, 1)), ((), (2, 3)), ((5,), ()), ((0, 3), (3,))]:
        a, b = f32(rng.uniform(0.5, 2.0, sa)), f32(rng.uniform(0.5, 2.0, sb))
        out = np.broadcast_shapes(sa, sb)
        g = f32(rng.uniform(-1, 1, out))
        ga, gb = be.binary_backward("mul", be.from_numpy(a, "float32"), sa, be.from_numpy(b, "float32"), sb,
                                    be.from_numpy(g, "float32"), True, True)
        ea = _sum_to(np.broadcast_to(ref64(b), out) * ref64(g), sa)
        eb = _sum_to(np.broadcast_to(ref64(a), out) * ref64(g), sb)
        assert_close(be.to_numpy(ga, sa, "float32"), ea, what=f"mul grad a {sa} {sb}", rtol=1e-4, atol=1e-5)
        assert_close(be.to_numpy(gb, sb, "float32"), eb, what=f"mul grad b {sa} {sb}", rtol=1e-4, atol=1e-5)
        ga, gb = be.binary_backward("add", be.from_numpy(a, "float32"), sa, be.from_numpy(b, "float32"), sb,
                                    be.from_numpy(g, "float32"), False, True)
        assert ga is None
        assert_close(be.to_numpy(gb, sb, "float32"), _sum_to(ref64(g), sb), what="add grad b", rtol=1e-4, atol=1e-5)


def _sum_to(x, shape):
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True) if axes else x.reshape(shape)


def test_sum_to_shape_kernel(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(7)
    for shape, target in [((2, 3, 4), (3, 1)), ((2, 3, 4), ()), ((2, 3, 4), (1, 1, 4)), ((4, 1, 3), (1, 3)),
                          ((0, 3), (3,)), ((0, 3), ()), ((3,), (3,))]:
        x = f32(rng.uniform(-1, 1, shape))
        y = be.to_numpy(be.sum_to_shape(be.from_numpy(x, "float32"), shape, target), target, "float32")
        assert_close(y, _sum_to(ref64(x), target), what=f"sum_to_shape {shape} -> {target}", rtol=1e-4, atol=1e-5)
