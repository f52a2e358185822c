"""Reductions, broadcast_to, transpose, take_rows / getitem, scatter_add_rows, one_hot, cast."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember as em
from ember.backend import get_backend
from ember.errors import EmberError, InvalidArgumentError

from _conformance import ELEMENTWISE, REDUCTION, assert_close, call_no_panic, expect_error, f32, ref64, synced, to_np

NP_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
EM_REDUCE = {"sum": em.ops.sum, "mean": em.ops.mean, "max": em.ops.max, "min": em.ops.min}


def _axis_subsets(ndim):
    for r in range(ndim + 1):
        yield from itertools.combinations(range(ndim), r)


def _with_negatives(axes, ndim, rng):
    return [a - ndim if rng.random() < 0.5 else a for a in axes]


@pytest.mark.parametrize("op", sorted(NP_REDUCE))
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)])
def test_reduce_every_axis_subset(backend_name, op, shape):
    be = get_backend(backend_name)
    rng = np.random.default_rng(10)
    x = f32(rng.uniform(-2.0, 2.0, shape))
    buf = be.from_numpy(x, "float32")
    cases = [None] + [list(s) for s in _axis_subsets(len(shape)) if s]
    for axes in cases:
        for keepdims in (False, True):
            given = None if axes is None else _with_negatives(axes, len(shape), rng)
            out, oshape = be.reduce(op, buf, shape, given, keepdims)
            expected = NP_REDUCE[op](ref64(x), axis=None if axes is None else tuple(axes), keepdims=keepdims)
            expected = np.asarray(expected)
            assert tuple(oshape) == expected.shape, f"{op} axes={given} keepdims={keepdims}: {oshape} != {expected.shape}"
            assert_close(be.to_numpy(out, tuple(oshape), "float32"), expected, what=f"{op} axes={given}", **REDUCTION)
            # Same through ops (the differentiable front end), with negative axes.
            y = EM_REDUCE[op](em.tensor(x, device=backend_name), None if given is None else tuple(given), keepdims)
            assert_close(to_np(y), expected, what=f"ops.{op} axes={given}", **REDUCTION)


def test_reduce_empty_axes_list_is_identity(backend_name):
    be = get_backend(backend_name)
    x = f32(np.arange(6).reshape(2, 3))
    for op in NP_REDUCE:
        out, s = be.reduce(op, be.from_numpy(x, "float32"), (2, 3), [], False)
        assert tuple(s) == (2, 3)
        assert_close(be.to_numpy(out, (2, 3), "float32"), NP_REDUCE[op](ref64(x), axis=()), what=op, **REDUCTION)


def test_reduce_rank0(backend_name):
    be = get_backend(backend_name)
    x = f32(3.5)
    for op in NP_REDUCE:
        out, s = be.reduce(op, be.from_numpy(x, "float32"), (), None, False)
        assert tuple(s) == ()
        assert float(be.to_numpy(out, (), "float32")) == 3.5


def test_reduce_long_sum_is_accurate(backend_name):
    """A long sum stays within float32 rounding of the exact result (no naive drift)."""
    rng = np.random.default_rng(11)
    x = f32(rng.uniform(0.0, 1.0, 200_000))
    y = em.ops.sum(em.tensor(x, device=backend_name))
    assert_close(to_np(y), ref64(x).sum(), what="long sum", rtol=1e-6, atol=0)
    y = em.ops.mean(em.tensor(x.reshape(400, 500), device=backend_name), axis=0)
    assert_close(to_np(y), ref64(x).reshape(400, 500).mean(axis=0), what="mean axis 0", **REDUCTION)


@pytest.mark.parametrize("shape,axes", [((0,), None), ((0, 3), [0]), ((0, 3), None), ((2, 0, 3), [1]), ((2, 0, 3), [0, 1]),
                                         ((3, 0), [-1]), ((3, 0), [0]), ((2, 3, 0), [0, 1]), ((0, 2, 0), [1])])
def test_reduce_empty(backend_name, shape, axes):
    """numpy semantics: sum of empty = 0, mean of empty = nan, max/min of empty raise."""
    be = get_backend(backend_name)
    x = np.zeros(shape, np.float32)
    buf = be.from_numpy(x, "float32")
    for keepdims in (False, True):
        ax = None if axes is None else tuple(axes)
        out, s = be.reduce("sum", buf, shape, axes, keepdims)
        expected = np.sum(x.astype(np.float64), axis=ax, keepdims=keepdims)
        assert tuple(s) == np.shape(expected)
        assert_close(be.to_numpy(out, tuple(s), "float32"), expected, what="sum of empty", **REDUCTION)
        out, s = be.reduce("mean", buf, shape, axes, keepdims)
        with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            expected = np.mean(x.astype(np.float64), axis=ax, keepdims=keepdims)
        assert tuple(s) == np.shape(expected)
        assert_close(be.to_numpy(out, tuple(s), "float32"), expected, what="mean of empty", **REDUCTION)
        for op in ("max", "min"):
            try:
                expected = NP_REDUCE[op](x.astype(np.float64), axis=ax, keepdims=keepdims)
            except ValueError:  # numpy: "zero-size array to reduction operation maximum which has no identity"
                expect_error(EmberError, be.reduce, op, buf, shape, axes, keepdims, words=(op,))
                expect_error(EmberError, EM_REDUCE[op], em.tensor(x, device=backend_name), ax, keepdims)
                continue
            out, s = be.reduce(op, buf, shape, axes, keepdims)
            assert tuple(s) == expected.shape


def test_reduce_max_over_nonempty_axis_of_empty_tensor(backend_name):
    """Reducing a non-empty axis of an empty tensor is fine (numpy gives an empty result)."""
    x = np.zeros((0, 3), np.float32)
    for op in ("max", "min", "sum", "mean"):
        y = EM_REDUCE[op](em.tensor(x, device=backend_name), 1)
        assert y.shape == (0,)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(backend_name, op):
    be = get_backend(backend_name)
    rng = np.random.default_rng(12)
    np_fn = getattr(np, op)
    for shape in [(7,), (3, 4), (2, 3, 4), (2, 1, 5)]:
        # Small integers so ties occur: the first extremum wins, as in numpy.
        x = f32(rng.integers(-2, 3, shape))
        buf = be.from_numpy(x, "float32")
        for axis in range(-len(shape), len(shape)):
            for keepdims in (False, True):
                out, s = be.reduce(op, buf, shape, [axis], keepdims)
                expected = np_fn(x, axis=axis, keepdims=keepdims)
                assert tuple(s) == expected.shape
                got = be.to_numpy(out, tuple(s), "int32")
                assert got.dtype == np.int32
                np.testing.assert_array_equal(got, expected, err_msg=f"{op} {shape} axis={axis}")
                y = getattr(em.ops, op)(em.tensor(x, device=backend_name), axis, keepdims)
                assert y.dtype == "int32"
                np.testing.assert_array_equal(to_np(y), expected)
        y = getattr(em.ops, op)(em.tensor(x, device=backend_name), None)
        assert int(y.item()) == int(np_fn(x))
    # Empty: numpy raises ("attempt to get argmax of an empty sequence").
    expect_error(EmberError, be.reduce, op, be.from_numpy(np.zeros((0, 2), np.float32), "float32"), (0, 2), [0], False)


def test_argmax_nan_is_the_maximum(backend_name):
    x = f32([1.0, np.nan, 3.0])
    assert int(em.ops.argmax(em.tensor(x, device=backend_name)).item()) == int(np.argmax(x))
    assert int(em.ops.argmin(em.tensor(x, device=backend_name)).item()) == int(np.argmin(x))


# -- layout -------------------------------------------------------------------------------------

def test_broadcast_to(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(13)
    cases = [((), (3, 2)), ((3,), (2, 3)), ((2, 1), (2, 5)), ((1, 3, 1), (4, 2, 3, 2)), ((1,), (0,)), ((2, 1), (2, 0)),
             ((0,), (3, 0)), ((4,), (4,))]
    for src, dst in cases:
        x = f32(rng.uniform(-1, 1, src))
        y = be.to_numpy(be.broadcast_to(be.from_numpy(x, "float32"), src, dst), dst, "float32")
        np.testing.assert_array_equal(y, np.broadcast_to(x, dst))
        np.testing.assert_array_equal(to_np(em.ops.broadcast_to(em.tensor(x, device=backend_name), dst)), np.broadcast_to(x, dst))


def test_transpose_random_permutations(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(14)
    for _ in range(40):
        rank = int(rng.integers(1, 6))
        shape = tuple(int(d) for d in rng.integers(0 if rng.random() < 0.15 else 1, 5, rank))
        perm = [int(p) for p in rng.permutation(rank)]
        x = f32(rng.uniform(-1, 1, shape))
        y = be.to_numpy(be.transpose(be.from_numpy(x, "float32"), shape, perm), tuple(shape[p] for p in perm), "float32")
        np.testing.assert_array_equal(y, np.transpose(x, perm), err_msg=f"{shape} {perm}")
        neg = [p - rank for p in perm]
        np.testing.assert_array_equal(to_np(em.ops.transpose(em.tensor(x, device=backend_name), neg)), np.transpose(x, perm))
    x = f32(rng.uniform(-1, 1, (3, 4, 2)))
    np.testing.assert_array_equal(to_np(em.ops.transpose(em.tensor(x, device=backend_name))), x.T)
    np.testing.assert_array_equal(to_np(em.tensor(x, device=backend_name).T), x.T)
    # Transpose of a non-contiguous source.
    v = x[:, ::2, :].transpose(2, 0, 1)
    np.testing.assert_array_equal(to_np(em.ops.transpose(em.tensor(v, device=backend_name), (1, 2, 0))), v.transpose(1, 2, 0))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_take_rows(backend_name, dtype):
    be = get_backend(backend_name)
    rng = np.random.default_rng(15)
    x = rng.integers(-50, 50, (5, 3, 2)).astype(dtype)
    buf = be.from_numpy(x, dtype)
    for idx in [[0], [4, 0, 2], [-1, -5, 3, 3], [], list(range(5))]:
        out = be.to_numpy(be.take_rows(buf, 6, idx), (len(idx), 3, 2), dtype)
        np.testing.assert_array_equal(out, x[idx] if idx else x[:0])
        y = em.ops.take(em.tensor(x, device=backend_name), np.array(idx, dtype=np.int64), axis=0)
        assert y.dtype == dtype
        np.testing.assert_array_equal(to_np(y), x[np.array(idx, dtype=np.int64)])
    for bad in ([5], [-6], [0, 7]):
        expect_error(InvalidArgumentError, be.take_rows, buf, 6, bad, words=(str(bad[-1]),))


def test_getitem(backend_name):
    rng = np.random.default_rng(16)
    x = f32(rng.uniform(-1, 1, (6, 3)))
    t = em.tensor(x, device=backend_name)
    keys = [0, 5, -1, -6, np.int64(2), slice(None), slice(1, 4), slice(None, None, 2), slice(None, None, -1),
            slice(-2, None), slice(4, 1, -2), slice(3, 3), [1, 1, 0], np.array([-1, 2, -6]), np.array([[0, 1], [5, 4]]),
            (2,), (slice(1, 3),)]
    for key in keys:
        np.testing.assert_array_equal(to_np(t[key]), x[key], err_msg=f"key {key!r}")
    # A 2-D index array keeps its shape; rank-1 input gives scalars.
    v = em.tensor(f32([1.0, 2.0, 3.0]), device=backend_name)
    assert v[1].shape == () and float(v[1].item()) == 2.0
    for bad in (6, -7):
        expect_error(InvalidArgumentError, t.__getitem__, bad, words=(str(bad),))
    expect_error(InvalidArgumentError, t.__getitem__, [0, 6])
    expect_error(EmberError, em.tensor(f32(1.0), device=backend_name).__getitem__, 0)


def test_take_rows_with_empty_rows_still_checks_bounds(backend_name):
    """x of shape (3, 0): x[[5]] is out of bounds in numpy even though rows are empty."""
    x = np.zeros((3, 0), np.float32)
    t = em.tensor(x, device=backend_name)
    np.testing.assert_array_equal(to_np(t[[2, -3]]), x[[2, -3]])
    expect_error(InvalidArgumentError, t.__getitem__, [5])
    expect_error(InvalidArgumentError, t.__getitem__, np.array([-4]))


def test_scatter_add_rows(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(17)
    idx = [3, -1, 0, 3, 4, -5]
    g = f32(rng.uniform(-1, 1, (len(idx), 2, 2)))
    out = be.to_numpy(be.scatter_add_rows(be.from_numpy(g, "float32"), 4, idx, 5), (5, 2, 2), "float32")
    expected = np.zeros((5, 2, 2))
    np.add.at(expected, np.array(idx), ref64(g))
    assert_close(out, expected, what="scatter_add_rows", **ELEMENTWISE)
    expect_error(InvalidArgumentError, be.scatter_add_rows, be.from_numpy(g, "float32"), 4, [0, 1, 2, 3, 4, 5], 5)
    empty = be.to_numpy(be.scatter_add_rows(be.from_numpy(np.zeros(0, np.float32), "float32"), 4, [], 3), (3, 4), "float32")
    np.testing.assert_array_equal(empty, np.zeros((3, 4)))


def test_one_hot(backend_name):
    be = get_backend(backend_name)
    labels = np.array([[0, 3], [2, 1], [3, 3]], np.int32)
    out = be.to_numpy(be.one_hot(be.from_numpy(labels, "int32"), 4), (3, 2, 4), "float32")
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[labels])
    y = em.ops.one_hot(em.tensor(labels, device=backend_name), 4)
    assert y.shape == (3, 2, 4) and y.dtype == "float32"
    np.testing.assert_array_equal(to_np(y), np.eye(4, dtype=np.float32)[labels])
    for bad in ([4], [-1], [0, 1, 7]):
        expect_error(InvalidArgumentError, synced(be, be.one_hot), be.from_numpy(np.array(bad, np.int32), "int32"), 4,
                     words=("one_hot", str(bad[-1])))
        expect_error(InvalidArgumentError, lambda *a: em.ops.one_hot(*a).numpy(), em.tensor(np.array(bad), device=backend_name), 4)
    assert em.ops.one_hot(em.tensor(np.zeros((0,), np.int32), device=backend_name), 3).shape == (0, 3)
    expect_error(InvalidArgumentError, em.ops.one_hot, em.tensor(np.array([0]), device=backend_name), 0)


def test_cast(backend_name):
    be = get_backend(backend_name)
    x = f32([-2.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.7, 1e6, -2147483520.0])
    out = be.to_numpy(be.cast(be.from_numpy(x, "float32"), "int32"), x.shape, "int32")
    np.testing.assert_array_equal(out, x.astype(np.int32))  # truncation toward zero
    back = be.to_numpy(be.cast(be.from_numpy(out, "int32"), "float32"), x.shape, "float32")
    np.testing.assert_array_equal(back, out.astype(np.float32))
    i = np.array([0, 1, -7, 2**24 + 1, -(2**31)], np.int32)
    np.testing.assert_array_equal(be.to_numpy(be.cast(be.from_numpy(i, "int32"), "float32"), i.shape, "float32"), i.astype(np.float32))
    for bad in (np.nan, np.inf, -np.inf, 3e9, -3e9):
        expect_error(InvalidArgumentError, be.cast, be.from_numpy(f32([1.0, bad]), "float32"), "int32", words=("cast",))
    t = em.ops.cast(em.tensor(x, device=backend_name), "int32")
    assert t.dtype == "int32"
    np.testing.assert_array_equal(to_np(t), x.astype(np.int32))
    assert em.ops.cast(t, "float32").dtype == "float32"
    assert em.ops.cast(t, np.float64).dtype == "float32"


def test_memory_kernels(backend_name):
    be = get_backend(backend_name)
    for dtype in ("float32", "int32"):
        f = be.to_numpy(be.full(5, 3.0, dtype), (5,), dtype)
        np.testing.assert_array_equal(f, np.full(5, 3, dtype))
        assert be.to_numpy(be.full(0, 1.0, dtype), (0,), dtype).shape == (0,)
    x = f32([[1, 2], [3, 4]])
    a = be.from_numpy(x, "float32")
    c = be.copy(a)
    be.assign(c, be.from_numpy(f32([[5, 6], [7, 8]]), "float32"))
    np.testing.assert_array_equal(be.to_numpy(a, (2, 2), "float32"), x)  # deep copy
    np.testing.assert_array_equal(be.to_numpy(c, (2, 2), "float32"), [[5, 6], [7, 8]])
    assert be.all_finite(a) and not be.all_finite(be.from_numpy(f32([1.0, np.nan]), "float32"))
    assert not be.all_finite(be.from_numpy(f32([np.inf]), "float32"))
    assert be.all_finite(be.from_numpy(np.array([1], np.int32), "int32"))
    e = call_no_panic(be.assign, c, be.from_numpy(f32([1.0]), "float32"))
    assert isinstance(e, EmberError)
    # from_numpy of any layout and of other numpy dtypes.
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    for view in (base[:, ::2], base.T, np.asfortranarray(base), base[::-1]):
        got = be.to_numpy(be.from_numpy(view, "float32"), view.shape, "float32")
        np.testing.assert_array_equal(got, view.astype(np.float32))
    be_big = f32(base).astype(">f4")
    np.testing.assert_array_equal(be.to_numpy(be.from_numpy(be_big, "float32"), (4, 6), "float32"), base)
