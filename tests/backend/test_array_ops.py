"""Conformance of the layout and indexing ops (ops/array.py) on every backend: forward
against numpy in float64, gradients against central finite differences, fused kernels
against the Backend composites, and errors (never a panic)."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember import ops
from ember.backend import get_backend
from ember.backend.base import Backend
from ember.backend.cpu import ReferenceCompositeCpuBackend
from ember.errors import DTypeError, InvalidArgumentError, ShapeError

from _conformance import ELEMENTWISE, REDUCTION, assert_close, check_op, expect_error, f32, synced, to_np

RNG = np.random.default_rng(42)
X456 = RNG.uniform(-1, 1, (4, 5, 6))

GETITEM_KEYS = [
    1, -1, slice(1, 3), slice(None, None, -1), (slice(None, None, 2), slice(1, -1)), (Ellipsis, slice(None, None, -2)),
    (None, 1, Ellipsis, None), (slice(None), [0, 2, 2]), ([1, -1], slice(None), [0, 5]), (slice(None), [[0, 1], [2, 2]], slice(1, 3)),
    (np.array([True, False, True, True]),), (1, [0, 3]), (slice(2, 0, -1), Ellipsis, 3), ([0, 0, 1],), (2, slice(None), -2),
    (slice(None), np.array([[True, False, True, False, False, True]] * 5)), (slice(10, 20),), ([3, 0], [4, 1], [5, 0]),
    (slice(None), None, [1, 1], slice(None, None, -3)),
]


@pytest.mark.parametrize("key", GETITEM_KEYS, ids=[repr(k) for k in GETITEM_KEYS])
def test_getitem(backend_name, key):
    check_op(backend_name, lambda t: t[key], lambda a: a[key], [X456])


def test_getitem_with_index_tensors(backend_name):
    """int32 index tensors on the device: the kernel reads (and checks) them there."""
    idx = np.array([[3, -1], [0, 0]])
    check_op(backend_name, lambda t, i: t[:, i], lambda a, i: a[:, i], [X456, idx])
    check_op(backend_name, lambda t, i: t[i, 2:, i], lambda a, i: a[i, 2:, i], [X456, idx])
    check_op(backend_name, lambda t, i: ops.take(t, i, axis=2), lambda a, i: np.take(a, i, axis=2), [X456, idx])


def test_getitem_int_dtype_and_errors(backend_name):
    xi = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    t = em.tensor(xi, device=backend_name)
    for key in [(1, slice(None, None, -1)), (Ellipsis, [3, 0]), (slice(None), 1)]:
        y = t[key]
        assert y.dtype == "int32"
        np.testing.assert_array_equal(to_np(y), xi[key])
    expect_error(InvalidArgumentError, lambda: t[2], words=("getitem", "2", "axis 0", "size 2"))
    expect_error(InvalidArgumentError, lambda: t[:, [0, 3]], words=("getitem", "3", "axis 1"))
    expect_error(InvalidArgumentError, lambda: t[0, 0, 0, 0], words=("too many indices",))
    expect_error(InvalidArgumentError, lambda: t[..., 0, ...], words=("ellipsis",))
    expect_error(DTypeError, lambda: t[np.array([0.5])], words=("integers",))
    expect_error(ShapeError, lambda: t[[0, 1], :, [0, 1, 2]], words=("broadcast",))
    expect_error(ShapeError, lambda: t[np.array([True, False, True])], words=("boolean",))
    expect_error(InvalidArgumentError, lambda: t[::0], words=("slice",))
    be = get_backend(backend_name)
    bad = em.tensor(np.array([0, 7], np.int32), device=backend_name)
    expect_error(InvalidArgumentError, synced(be, lambda: t[:, :, bad].numpy()), words=("7", "size 4"))
    # The device is usable after a flagged error.
    np.testing.assert_array_equal(to_np(t[:, :, em.tensor(np.array([1], np.int32), device=backend_name)]), xi[:, :, [1]])


def test_take_and_take_along_axis(backend_name):
    x = RNG.uniform(-1, 1, (3, 4, 5))
    for idx, axis in [([2, 0, -1, 2], 0), ([[1, 3], [0, 0]], 1), ([4], 2), ([0, 5, 59], None)]:
        check_op(backend_name, lambda t: ops.take(t, idx, axis=axis), lambda a: np.take(a, idx, axis=axis), [x])
    order = np.argsort(x, axis=1)[:, :2]
    check_op(backend_name, lambda t: ops.take_along_axis(t, order, axis=1), lambda a: np.take_along_axis(a, order, 1), [x])
    bcast = np.array([[[4], [0], [4]]])  # (1, 3, 1) broadcast over axis 0 and gathering along axis 2
    check_op(backend_name, lambda t: ops.take_along_axis(t[:, :3], bcast, axis=2),
             lambda a: np.take_along_axis(a[:, :3], np.broadcast_to(bcast, (3, 3, 1)), 2), [x])
    check_op(backend_name, lambda t, i: ops.take_along_axis(t, i, axis=-1), lambda a, i: np.take_along_axis(a, i, -1),
             [x, RNG.integers(-5, 5, (3, 4, 7))])
    flat = np.array([0, 59, 7])
    check_op(backend_name, lambda t: ops.take_along_axis(t, flat, axis=None), lambda a: np.take_along_axis(a.ravel(), flat, 0), [x])
    t = em.tensor(f32(x), device=backend_name)
    expect_error(InvalidArgumentError, ops.take, t, [3], axis=0, words=("take", "3", "axis 0"))
    expect_error(InvalidArgumentError, ops.take, t, [0], axis=3, words=("axis 3",))
    expect_error(ShapeError, ops.take_along_axis, t, np.zeros((3, 4), np.int64), axis=1, words=("same rank",))
    expect_error(InvalidArgumentError, ops.take_along_axis, t, np.full((3, 4, 1), 5), axis=2, words=("5", "size 5"))


def test_concatenate_stack_split(backend_name):
    a, b, c = RNG.uniform(-1, 1, (2, 3, 4)), RNG.uniform(-1, 1, (2, 1, 4)), RNG.uniform(-1, 1, (2, 5, 4))
    check_op(backend_name, lambda x, y, z: ops.concatenate([x, y, z], axis=1), lambda x, y, z: np.concatenate([x, y, z], 1), [a, b, c])
    check_op(backend_name, lambda x, y: ops.concatenate([x, y], axis=-1), lambda x, y: np.concatenate([x, y], -1), [a, a * 2])
    check_op(backend_name, lambda x, y: ops.stack([x, y], axis=2), lambda x, y: np.stack([x, y], 2), [a, a + 1])
    check_op(backend_name, lambda x, y: ops.stack([x, y], axis=-1), lambda x, y: np.stack([x, y], -1), [a, a + 1])
    for sections in (2, [1, 3], [0, 2, 2, 4]):
        for k in range(len(np.split(a, sections, axis=2))):
            check_op(backend_name, lambda x: ops.split(x, sections, axis=2)[k], lambda x: np.split(x, sections, axis=2)[k], [a])
    ti = em.tensor(np.arange(6, dtype=np.int32).reshape(2, 3), device=backend_name)
    y = ops.concatenate([ti, ti], axis=0)
    assert y.dtype == "int32" and to_np(y).tolist() == [[0, 1, 2], [3, 4, 5], [0, 1, 2], [3, 4, 5]]
    t = em.tensor(f32(a), device=backend_name)
    expect_error(ShapeError, ops.concatenate, [t, em.tensor(f32(c[:, :, :2]), device=backend_name)], axis=1,
                 words=("concatenate", "(2, 3, 4)", "(2, 5, 2)"))
    expect_error(InvalidArgumentError, ops.concatenate, [t, t], axis=3, words=("axis 3",))
    expect_error(ShapeError, ops.stack, [t, em.tensor(f32(b), device=backend_name)], words=("same shape",))
    expect_error(InvalidArgumentError, ops.split, t, 3, axis=2, words=("3 sections",))


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
def test_pad(backend_name, mode):
    x = RNG.uniform(-1, 1, (3, 4, 2))
    widths = [((1, 2), (0, 3), (2, 1)), ((0, 0), (2, 2), (1, 0)), 1]
    for w in widths:
        kw = {"constant_values": 1.5} if mode == "constant" else {}
        check_op(backend_name, lambda t: ops.pad(t, w, mode=mode, **kw), lambda a: np.pad(a, w, mode=mode, **kw), [x])
    t = em.tensor(f32(x), device=backend_name)
    expect_error(InvalidArgumentError, ops.pad, t, -1, words=("non-negative",))
    expect_error(InvalidArgumentError, ops.pad, t, ((1, 1), (1, 1)), words=("rank 3",))
    expect_error(InvalidArgumentError, ops.pad, t, 1, mode="median", words=("median",))


def test_where(backend_name):
    c = (RNG.uniform(size=(3, 1, 4)) > 0.5).astype(np.float64)
    x, y = RNG.uniform(-1, 1, (2, 4)), RNG.uniform(-1, 1, (3, 2, 1))
    check_op(backend_name, lambda cc, a, b: ops.where(cc, a, b), lambda cc, a, b: np.where(cc != 0, a, b), [c, x, y], wrt=[1, 2])
    check_op(backend_name, lambda a: ops.where(a > 0, a, 0.5), lambda a: np.where(a > 0, a, 0.5), [x])
    # Unselected infinities never leak (no 0 * inf); NaN conditions count as true (numpy).
    cond = em.tensor(f32([1.0, 0.0, float("nan"), -0.0]), device=backend_name)
    xs = em.tensor(f32([1.0, float("inf"), 3.0, float("-inf")]), device=backend_name)
    assert to_np(ops.where(cond, xs, 7.0)).tolist() == [1.0, 7.0, 3.0, 7.0]
    idx = ops.where(em.tensor(f32([[0, 1], [2, 0]]), device=backend_name))
    assert [to_np(i).tolist() for i in idx] == [[0, 1], [1, 0]]
    expect_error(ShapeError, ops.where, cond, em.tensor(f32([1, 2, 3]), device=backend_name), 0.0, words=("where", "(4,)", "(3,)"))


@pytest.mark.parametrize("perm", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1), (0, 2, 1)])
def test_transpose_any_permutation(backend_name, perm):
    check_op(backend_name, lambda t: ops.transpose(t, perm), lambda a: np.transpose(a, perm), [X456])


def test_shape_ops(backend_name):
    x = RNG.uniform(-1, 1, (2, 3, 1, 4))
    cases = [
        (lambda t: ops.expand_dims(t, (0, -1)), lambda a: np.expand_dims(a, (0, -1))),
        (lambda t: ops.expand_dims(t, 2), lambda a: np.expand_dims(a, 2)),
        (lambda t: ops.squeeze(t), lambda a: np.squeeze(a)),
        (lambda t: ops.squeeze(t, 2), lambda a: np.squeeze(a, 2)),
        (lambda t: ops.swapaxes(t, 0, -1), lambda a: np.swapaxes(a, 0, -1)),
        (lambda t: ops.moveaxis(t, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
        (lambda t: ops.moveaxis(t, (0, 1), (3, 0)), lambda a: np.moveaxis(a, (0, 1), (3, 0))),
        (lambda t: ops.tile(t, (2, 1, 3, 1)), lambda a: np.tile(a, (2, 1, 3, 1))),
        (lambda t: ops.tile(t, 2), lambda a: np.tile(a, 2)),
        (lambda t: ops.tile(t, (2, 1, 1, 1, 2)), lambda a: np.tile(a, (2, 1, 1, 1, 2))),
        (lambda t: ops.repeat(t, 2, axis=1), lambda a: np.repeat(a, 2, axis=1)),
        (lambda t: ops.repeat(t, [1, 0, 3], axis=1), lambda a: np.repeat(a, [1, 0, 3], axis=1)),
        (lambda t: ops.repeat(t, 2), lambda a: np.repeat(a, 2)),
        (lambda t: ops.flip(t, 1), lambda a: np.flip(a, 1)),
        (lambda t: ops.flip(t), lambda a: np.flip(a)),
        (lambda t: ops.flip(t, (0, 3)), lambda a: np.flip(a, (0, 3))),
        (lambda t: ops.roll(t, 2, axis=3), lambda a: np.roll(a, 2, axis=3)),
        (lambda t: ops.roll(t, -5), lambda a: np.roll(a, -5)),
        (lambda t: ops.roll(t, (1, -1), axis=(0, 1)), lambda a: np.roll(a, (1, -1), axis=(0, 1))),
        (lambda t: ops.triu(t[:, :, 0], 1), lambda a: np.triu(a[:, :, 0], 1)),
        (lambda t: ops.tril(t[:, :, 0]), lambda a: np.tril(a[:, :, 0])),
    ]
    for em_fn, np_fn in cases:
        check_op(backend_name, em_fn, np_fn, [x])
    t = em.tensor(f32(x), device=backend_name)
    expect_error(InvalidArgumentError, ops.transpose, t, (0, 1, 2, 4), words=("transpose",))
    expect_error(InvalidArgumentError, ops.expand_dims, t, 6, words=("expand_dims",))
    expect_error(ShapeError, ops.squeeze, t, 0, words=("squeeze", "size 2"))
    expect_error(InvalidArgumentError, ops.tile, t, (-1,), words=("non-negative",))
    expect_error(ShapeError, ops.repeat, t, [1, 2], axis=1, words=("2 repeats",))


def test_clip_cumsum_cumprod(backend_name):
    x = RNG.uniform(-2, 2, (3, 4, 5))
    check_op(backend_name, lambda t: ops.clip(t, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), [x])
    for axis in (0, 1, -1, None):
        check_op(backend_name, lambda t: ops.cumsum(t, axis=axis), lambda a: np.cumsum(a, axis=axis), [x], fwd_tol=REDUCTION)
    pos = RNG.uniform(0.5, 1.5, (3, 4)) * RNG.choice([-1, 1], (3, 4))
    for axis in (0, 1, None):
        check_op(backend_name, lambda t: ops.cumprod(t, axis=axis), lambda a: np.cumprod(a, axis=axis), [pos], fwd_tol=REDUCTION)
    expect_error(InvalidArgumentError, ops.cumsum, em.tensor(f32(x), device=backend_name), axis=3, words=("cumsum", "axis 3"))


def test_sort_argsort_top_k(backend_name):
    x = RNG.integers(-3, 4, (3, 5, 6)).astype(np.float64) + RNG.uniform(0, 0.5, (3, 5, 6)) * (RNG.uniform(size=(3, 5, 6)) > 0.5)
    t = em.tensor(f32(x), device=backend_name)
    for axis in (0, 1, -1):
        np.testing.assert_array_equal(to_np(ops.argsort(t, axis=axis)), np.argsort(f32(x), axis=axis, kind="stable"))
        check_op(backend_name, lambda a: ops.sort(a, axis=axis), lambda a: np.sort(a, axis=axis), [RNG.uniform(-1, 1, (3, 5, 6))])
    nan = em.tensor(f32([3.0, float("nan"), -1.0, 3.0]), device=backend_name)
    assert to_np(ops.argsort(nan)).tolist() == [2, 0, 3, 1]
    values, idx = ops.top_k(t, 3)
    want_idx = np.argsort(-f32(x), axis=-1, kind="stable")[..., :3]
    np.testing.assert_array_equal(to_np(idx), want_idx)
    assert_close(to_np(values), np.take_along_axis(f32(x), want_idx, -1), what="top_k values", **ELEMENTWISE)
    u = RNG.uniform(-1, 1, (4, 7))
    check_op(backend_name, lambda a: ops.top_k(a, 2)[0], lambda a: -np.sort(-a, axis=-1)[..., :2], [u])
    expect_error(InvalidArgumentError, ops.top_k, t, 7, words=("top_k", "k"))


def test_one_hot_any_shape(backend_name):
    labels = RNG.integers(0, 4, (2, 3))
    y = ops.one_hot(em.tensor(labels, device=backend_name), 4)
    np.testing.assert_array_equal(to_np(y), np.eye(4)[labels])
    y = ops.one_hot(em.tensor(labels, device=backend_name), 4, axis=1)
    np.testing.assert_array_equal(to_np(y), np.moveaxis(np.eye(4)[labels], -1, 1))
    be = get_backend(backend_name)
    expect_error(InvalidArgumentError, synced(be, lambda: ops.one_hot(em.tensor([[0, 4]], device=backend_name), 4).numpy()),
                 words=("one_hot", "4"))


EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->", [(3, 4), (3, 4)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]), ("ijk,jk->i", [(2, 3, 4), (3, 4)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]), ("bij,jk->bik", [(2, 3, 4), (4, 5)]), ("ijk->k", [(2, 3, 4)]), ("ij,kj->ikj", [(2, 3), (4, 3)]),
    ("abc,cd->abd", [(2, 1, 3), (3, 2)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUM, ids=[s for s, _ in EINSUM])
def test_einsum(backend_name, spec, shapes):
    arrays = [RNG.uniform(-1, 1, s) for s in shapes]
    check_op(backend_name, lambda *t: ops.einsum(spec, *t), lambda *a: np.einsum(spec, *a), arrays, fwd_tol=REDUCTION, grad_tol=REDUCTION)


def test_einsum_errors(backend_name):
    a = em.tensor(f32(np.ones((2, 3))), device=backend_name)
    expect_error(ShapeError, ops.einsum, "ij,jk->ik", a, a, words=("einsum", "'j'"))
    expect_error(ShapeError, ops.einsum, "ijk,jk->i", a, a, words=("einsum",))
    expect_error(InvalidArgumentError, ops.einsum, "ij,jk,kl->il", a, a, a, words=("einsum",))


def test_unary_additions(backend_name):
    x = RNG.uniform(-3, 3, (4, 5))
    from scipy.special import erf as np_erf  # noqa: PLC0415

    for em_fn, np_fn, data in [
        (ops.log1p, np.log1p, RNG.uniform(-0.9, 3, (4, 5))), (ops.expm1, np.expm1, x), (ops.erf, np_erf, x),
        (ops.rsqrt, lambda a: 1 / np.sqrt(a), RNG.uniform(0.2, 4, (4, 5))),
    ]:
        check_op(backend_name, em_fn, np_fn, [data])
    tiny = f32([1e-7, -3e-6, 1e-30])
    for em_fn, np_fn in [(ops.log1p, np.log1p), (ops.expm1, np.expm1), (ops.erf, np_erf)]:
        assert_close(to_np(em_fn(em.tensor(tiny, device=backend_name))), np_fn(tiny.astype(np.float64)), what=f"{em_fn.__name__} near 0",
                     rtol=1e-6, atol=0)
    r = f32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2, -1.7, 0.0])
    for em_fn, np_fn in [(ops.floor, np.floor), (ops.ceil, np.ceil), (ops.round, np.round), (ops.sign, np.sign)]:
        v = em.tensor(r, device=backend_name, requires_grad=True)
        y = em_fn(v)
        np.testing.assert_array_equal(to_np(y), np_fn(r))
        ops.sum(y).backward()
        np.testing.assert_array_equal(to_np(v.grad), np.zeros_like(r))
    assert_close(to_np(ops.round(em.tensor(f32([1.234, -5.678]), device=backend_name), 2)), np.array([1.23, -5.68]),
                 what="round(decimals=2)", rtol=1e-6, atol=1e-6)


def test_reduction_composites(backend_name):
    x = RNG.uniform(-1, 1, (3, 4, 5))
    for axis in (None, 1, (0, 2)):
        check_op(backend_name, lambda t: ops.var(t, axis=axis), lambda a: np.var(a, axis=axis), [x], fwd_tol=REDUCTION)
        check_op(backend_name, lambda t: ops.std(t, axis=axis), lambda a: np.std(a, axis=axis), [x], fwd_tol=REDUCTION)
        check_op(backend_name, lambda t: ops.prod(t, axis=axis), lambda a: np.prod(a, axis=axis), [x], fwd_tol=REDUCTION)
        check_op(backend_name, lambda t: ops.logsumexp(t, axis=axis), lambda a: np.log(np.sum(np.exp(a), axis=axis)), [x],
                 fwd_tol=REDUCTION)
        check_op(backend_name, lambda t: ops.norm(t, axis=axis if axis != (0, 2) else None),
                 lambda a: np.linalg.norm(a.reshape(-1) if axis in (None, (0, 2)) else a, axis=None if axis in (None, (0, 2)) else axis),
                 [x], fwd_tol=REDUCTION)
    # prod's gradient is exact where elements are zero (no division).
    z = f32([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0]])
    v = em.tensor(z, device=backend_name, requires_grad=True)
    ops.sum(ops.prod(v, axis=1)).backward()
    assert to_np(v.grad).tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]]
    big = em.tensor(f32([1000.0, 1000.0, -np.inf]), device=backend_name)
    assert_close(to_np(ops.logsumexp(big)), np.float64(1000.0 + np.log(2.0)), what="logsumexp", **REDUCTION)
    assert to_np(ops.logsumexp(em.tensor(f32([-np.inf, -np.inf]), device=backend_name))).item() == -np.inf
    b = em.tensor(f32([[0.0, 1.0], [0.0, 0.0]]), device=backend_name)
    assert to_np(ops.any(b, axis=1)).tolist() == [1.0, 0.0] and to_np(ops.all(b)).item() == 0.0
    for axis, ord_ in ((1, 1), (1, np.inf), (-1, -np.inf), (0, 3)):
        check_op(backend_name, lambda t: ops.norm(t[0], ord=ord_, axis=axis), lambda a: np.linalg.norm(a[0], ord=ord_, axis=axis), [x],
                 fwd_tol=REDUCTION)


def test_dot_tensordot_creation(backend_name):
    a, b = RNG.uniform(-1, 1, (3, 4)), RNG.uniform(-1, 1, (4,))
    check_op(backend_name, ops.dot, np.dot, [a, b], fwd_tol=REDUCTION)
    check_op(backend_name, ops.dot, np.dot, [b, b], fwd_tol=REDUCTION)
    check_op(backend_name, ops.dot, np.dot, [RNG.uniform(-1, 1, (2, 3, 4)), RNG.uniform(-1, 1, (5, 4, 2))], fwd_tol=REDUCTION)
    check_op(backend_name, lambda x, y: ops.tensordot(x, y, axes=([1, 2], [0, 1])), lambda x, y: np.tensordot(x, y, axes=([1, 2], [0, 1])),
             [RNG.uniform(-1, 1, (2, 3, 4)), RNG.uniform(-1, 1, (3, 4, 5))], fwd_tol=REDUCTION)
    with em.device(backend_name):
        np.testing.assert_array_equal(to_np(ops.eye(3, 4, k=1)), np.eye(3, 4, 1))
        np.testing.assert_array_equal(to_np(ops.arange(2, 11, 3)), np.arange(2, 11, 3))
        g = ops.meshgrid(em.tensor(f32([1, 2, 3])), em.tensor(f32([4, 5])))
        for got, want in zip(g, np.meshgrid([1, 2, 3], [4, 5])):
            np.testing.assert_array_equal(to_np(got), want)
        assert ops.shape(em.ones((2, 3))) == (2, 3)
        assert to_np(ops.full_like(em.ones((2,)), 7.0)).tolist() == [7.0, 7.0]


# -- primitives: fused kernels vs the Backend composites, and their boundary errors ------------------

def _composite(backend_name):
    be = get_backend(backend_name)
    if backend_name == "cpu":
        return be, ReferenceCompositeCpuBackend()
    cls = type("CompositeGpu", (type(be),), {"transpose": Backend.transpose, "broadcast_to": Backend.broadcast_to,
                                             "take_rows": Backend.take_rows, "scatter_add_rows": Backend.scatter_add_rows})
    return be, cls()


def test_fused_layout_kernels_match_composites(backend_name):
    fused, comp = _composite(backend_name)
    x = f32(RNG.uniform(-1, 1, (5, 6, 7)))
    for name, args, out_shape in [
        ("transpose", ((5, 6, 7), [2, 0, 1]), (7, 5, 6)), ("transpose", ((5, 6, 7), [1, 0, 2]), (6, 5, 7)),
        ("broadcast_to", ((5, 6, 7), (2, 5, 6, 7)), (2, 5, 6, 7)),
        ("take_rows", (42, [4, 0, -1, 4]), (4, 6, 7)),
    ]:
        outs = [be.to_numpy(getattr(be, name)(be.from_numpy(x, "float32"), *args), out_shape, "float32") for be in (fused, comp)]
        ref = {"transpose": lambda: np.transpose(x, args[1]), "broadcast_to": lambda: np.broadcast_to(x, args[1]),
               "take_rows": lambda: x[args[1]]}[name]()
        for o, which in zip(outs, ("fused", "composite")):
            np.testing.assert_array_equal(o, ref, err_msg=f"{which} {name}")
    g = f32(RNG.uniform(-1, 1, (4, 42)))
    outs = [be.to_numpy(be.scatter_add_rows(be.from_numpy(g, "float32"), 42, [4, 0, -1, 4], 5), (5, 42), "float32") for be in (fused, comp)]
    ref = np.zeros((5, 42))
    np.add.at(ref, [4, 0, 4, 4], g.astype(np.float64))
    for o, which in zip(outs, ("fused", "composite")):
        assert_close(o, ref, what=f"{which} scatter_add_rows", **ELEMENTWISE)


def test_view_primitives_reject_bad_views(backend_name):
    be = get_backend(backend_name)
    x = be.from_numpy(f32(np.arange(6)), "float32")
    idx = be.from_numpy(np.array([0, 5], np.int32), "int32")
    expect_error(InvalidArgumentError, be.strided_copy, x, (3,), [3], 0, words=("strided_copy", "outside"))
    expect_error(InvalidArgumentError, be.strided_copy, x, (2,), [-1], 0, words=("outside",))
    expect_error(ShapeError, be.strided_copy, x, (2, 3), [1], 0, words=("strides",))
    out = be.full(6, 0.0, "float32")
    expect_error(InvalidArgumentError, be.strided_write, out, be.from_numpy(f32([1, 2]), "float32"), (2,), [0], 0, words=("more than once",))
    expect_error(ShapeError, be.strided_write, out, be.from_numpy(f32([1, 2, 3]), "float32"), (2,), [1], 0, words=("strided_write",))
    expect_error(InvalidArgumentError, synced(be, lambda: be.to_numpy(be.gather(x, (2,), [0], 0, idx, [1], [(1, 3)], op="take"), (2,), "float32")),
                 words=("take", "5"))
    expect_error(DTypeError, be.gather, x, (2,), [0], 0, x, [1], [(1, 6)], words=("indices",))
    expect_error(InvalidArgumentError, be.gather, x, (2,), [0], 0, idx, [1], [(1, 6)] * 5, words=("4 index arrays",))
    expect_error(ShapeError, be.scatter_add, be.from_numpy(f32([1, 2, 3]), "float32"), 6, (2,), [1], 0, words=("scatter_add",))
    expect_error(InvalidArgumentError, be.argsort, x, (6,), 1, words=("argsort", "axis 1"))
    got = be.to_numpy(be.scatter_add(be.from_numpy(f32([1, 2, 3]), "float32"), 2, (3,), [0], 1), (2,), "float32")
    assert got.tolist() == [0.0, 6.0]  # a broadcast (stride 0) view accumulates
