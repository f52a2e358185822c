"""Errors: bad shapes raise ShapeError naming the op and the shapes, wrong dtypes
DTypeError, bad values InvalidArgumentError, and nothing ever panics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember as em
from ember import ops
from ember.backend import get_backend
from ember.errors import DTypeError, EmberError, InvalidArgumentError, ShapeError

from _conformance import call_no_panic, expect_error


def T(shape, name, dtype="float32"):
    return em.tensor(np.ones(shape, dtype=dtype), device=name)


def test_op_shape_errors_name_op_and_shapes(backend_name):
    n = backend_name
    cases = [
        (ops.add, (T((2, 3), n), T((4,), n)), ("add", "(2, 3)", "(4,)")),
        (ops.subtract, (T((2, 3), n), T((3, 2), n)), ("sub", "(2, 3)", "(3, 2)")),
        (ops.multiply, (T((5,), n), T((4,), n)), ("mul", "(5,)", "(4,)")),
        (ops.divide, (T((0,), n), T((2,), n)), ("div", "(0,)", "(2,)")),
        (ops.power, (T((2, 1, 3), n), T((4, 2), n)), ("pow", "(2, 1, 3)", "(4, 2)")),
        (ops.maximum, (T((3,), n), T((2, 2), n)), ("maximum", "(3,)", "(2, 2)")),
        (ops.less, (T((3,), n), T((2,), n)), ("less", "(3,)", "(2,)")),
        (ops.matmul, (T((2, 3), n), T((4, 5), n)), ("matmul", "(2, 3)", "(4, 5)")),
        (ops.matmul, (T((3,), n), T((4,), n)), ("matmul", "(3,)", "(4,)")),
        (ops.matmul, (T((2, 2, 3), n), T((3, 3, 4), n)), ("matmul",)),
        (ops.matmul, (T((), n), T((3,), n)), ("matmul",)),
        (ops.reshape, (T((2, 3), n), (4, 2)), ("reshape", "(2, 3)", "(4, 2)")),
        (ops.reshape, (T((2, 3), n), (-1, 4)), ("reshape", "(2, 3)")),
        (ops.reshape, (T((2, 3), n), (-1, -1)), ("reshape",)),
        (ops.broadcast_to, (T((3,), n), (4,)), ("broadcast_to", "(3,)", "(4,)")),
        (ops.broadcast_to, (T((2, 3), n), (3,)), ("broadcast_to", "(2, 3)", "(3,)")),
        (ops.squeeze, (T((2, 3), n), 0), ("squeeze", "(2, 3)")),
        (ops.dense, (T((2, 3), n), T((4, 5), n)), ("dense", "(2, 3)", "(4, 5)")),
        (ops.softmax_cross_entropy, (T((2, 3), n), T((3,), n, "int32")), ("(3,)", "(2, 3)")),
        (ops.softmax_cross_entropy, (T((2, 3), n), T((2, 4), n)), ("(2, 4)", "(2, 3)")),
        (ops.sigmoid_binary_cross_entropy, (T((2, 3), n), T((3, 2), n)), ("(3, 2)", "(2, 3)")),
        (ops.softmax, (T((), n),), ("softmax",)),
        (ops.log_softmax, (T((), n),), ("log_softmax",)),
    ]
    for fn, args, words in cases:
        expect_error(ShapeError, fn, *args, words=words)


def test_backend_shape_errors(backend_name):
    be = get_backend(backend_name)
    f = lambda *shape: be.from_numpy(np.ones(shape, np.float32), "float32")  # noqa: E731
    cases = [
        (be.binary, ("add", f(2, 3), (2, 3), f(4), (4,)), ("add", "(2, 3)", "(4,)")),
        (be.binary, ("mul", f(5), (2, 3), f(3), (3,)), ("mul", "(2, 3)")),  # buffer shorter than its shape
        (be.binary_backward, ("mul", f(2, 3), (2, 3), f(3), (3,), f(5), True, True), ("mul", "(2, 3)", "(3,)")),
        (be.binary_backward, ("add", f(2, 3), (2, 3), f(4), (4,), f(6), True, True), ("add", "(2, 3)", "(4,)")),
        (be.unary_backward, ("exp", f(3), f(3), f(2)), ("unary_backward",)),
        (be.reduce, ("sum", f(6), (2, 2), None, False), ("sum", "(2, 2)")),
        (be.sum_to_shape, (f(2, 3), (2, 3), (4,)), ("sum_to_shape", "(4,)", "(2, 3)")),
        (be.sum_to_shape, (f(3), (3,), (2, 3)), ("sum_to_shape",)),
        (be.broadcast_to, (f(3), (3,), (4,)), ("broadcast_to", "(3,)", "(4,)")),
        (be.broadcast_to, (f(5), (2, 3), (2, 3)), ("broadcast_to", "(2, 3)")),
        (be.transpose, (f(5), (2, 3), [1, 0]), ("transpose", "(2, 3)")),
        (be.matmul, (f(2, 3), (2, 3), f(4, 5), (4, 5), False, False), ("matmul", "(2, 3)", "(4, 5)")),
        (be.matmul, (f(2, 3), (2, 3), f(2, 5), (2, 5), False, False), ("matmul",)),
        (be.matmul, (f(3), (3,), f(3, 2), (3, 2), False, False), ("matmul", "(3,)")),
        (be.matmul, (f(2, 2, 3), (2, 2, 3), f(3, 3, 4), (3, 3, 4), False, False), ("matmul",)),
        (be.matmul, (f(5), (2, 3), f(3, 4), (3, 4), False, False), ("matmul", "(2, 3)")),
        (be.softmax, (f(5), (2, 3), -1, False), ("softmax", "(2, 3)")),
        (be.softmax_backward, (f(6), f(5), (2, 3), -1, False), ("softmax_backward", "(2, 3)")),
        (be.softmax_cross_entropy, (f(5), f(6), 2, 3), ("softmax_cross_entropy",)),
        (be.sigmoid_bce, (f(3), f(4)), ("sigmoid_binary_cross_entropy",)),
        (be.sigmoid_bce_backward, (f(3), f(3), f(2)), ("sigmoid_binary_cross_entropy_backward",)),
        (be.dense, (f(2, 3), f(4, 5), None, 2, 3, 5, "linear"), ("dense",)),
        (be.dense, (f(2, 3), f(3, 5), f(4), 2, 3, 5, "relu"), ("dense", "bias")),
        (be.dense_backward, (f(2, 3), f(3, 5), f(2, 5), f(2, 4), 2, 3, 5, "relu", True), ("dense_backward",)),
        (be.scatter_add_rows, (f(3, 2), 2, [0, 1], 4), ("take_backward",)),
    ]
    for fn, args, words in cases:
        expect_error(ShapeError, fn, *args, words=words)


def test_dtype_errors(backend_name):
    be = get_backend(backend_name)
    i = lambda *shape: be.from_numpy(np.ones(shape, np.int32), "int32")  # noqa: E731
    f = lambda *shape: be.from_numpy(np.ones(shape, np.float32), "float32")  # noqa: E731
    cases = [
        (be.unary, ("exp", i(3)), ("unary",)),
        (be.unary_backward, ("exp", f(3), f(3), i(3)), ("unary_backward",)),
        (be.binary, ("add", i(3), (3,), f(3), (3,)), ("add",)),
        (be.binary, ("add", f(3), (3,), i(3), (3,)), ("add",)),
        (be.reduce, ("sum", i(3), (3,), None, False), ("sum",)),
        (be.sum_to_shape, (i(2, 3), (2, 3), (3,)), ("sum_to_shape",)),
        (be.broadcast_to, (i(3), (3,), (2, 3)), ("broadcast_to",)),
        (be.transpose, (i(2, 3), (2, 3), [1, 0]), ("transpose",)),
        (be.matmul, (i(2, 3), (2, 3), f(3, 2), (3, 2), False, False), ("matmul",)),
        (be.softmax, (i(3), (3,), -1, False), ("softmax",)),
        (be.one_hot, (f(3), 4), ("one_hot",)),
        (be.sigmoid_bce, (f(3), i(3)), ("sigmoid_binary_cross_entropy",)),
        (be.dense, (i(2, 3), f(3, 5), None, 2, 3, 5, "linear"), ("dense",)),
        (be.scatter_add_rows, (i(2, 2), 2, [0, 1], 2), ("take_backward",)),
        (be.cast, (f(3), "float64"), ("cast",)),
        (be.full, (3, 1.0, "float64"), ()),
        (be.from_numpy, (np.ones(3), "float64"), ()),
        (be.to_numpy, (f(3), (3,), "float16"), ()),
    ]
    for fn, args, words in cases:
        expect_error(DTypeError, fn, *args, words=words)
    for data, kwargs in [(np.array(["a", "b"]), {}), (np.ones(2, np.complex64), {}), ([1.0], {"dtype": "complex64"}),
                         ([1.0], {"dtype": "float16x"})]:
        expect_error(DTypeError, em.tensor, data, device=backend_name, **kwargs)
    expect_error(DTypeError, ops.take, T((3, 2), backend_name), np.array([0.5]))


def test_invalid_argument_errors(backend_name):
    be = get_backend(backend_name)
    f = lambda *shape: be.from_numpy(np.ones(shape, np.float32), "float32")  # noqa: E731
    n = backend_name
    cases = [
        (be.unary, ("sine", f(3)), ("sine",)),
        (be.binary, ("mod", f(3), (3,), f(3), (3,)), ("mod",)),
        (be.reduce, ("median", f(3), (3,), None, False), ("median",)),
        (be.reduce, ("sum", f(2, 3), (2, 3), [2], False), ("sum", "2")),
        (be.reduce, ("sum", f(2, 3), (2, 3), [-3], False), ("sum", "-3")),
        (be.reduce, ("sum", f(2, 3), (2, 3), [1, -1], False), ("sum",)),
        (be.reduce, ("argmax", f(2, 3), (2, 3), [0, 1], False), ("argmax",)),
        (be.transpose, (f(2, 3), (2, 3), [0, 0]), ("transpose",)),
        (be.transpose, (f(2, 3), (2, 3), [0, 2]), ("transpose",)),
        (be.transpose, (f(2, 3), (2, 3), [0]), ("transpose",)),
        (be.softmax, (f(2, 3), (2, 3), 2, False), ("softmax", "2")),
        (be.softmax, (f(2, 3), (2, 3), -3, True), ("log_softmax",)),
        (be.dense, (f(2, 3), f(3, 5), None, 2, 3, 5, "gelu"), ("dense", "gelu")),
        (ops.sum, (T((2, 3), n), 2), ("sum", "2")),
        (ops.mean, (T((2, 3), n), (0, -3)), ("mean",)),
        (ops.argmax, (T((2, 3), n), 5), ("argmax",)),
        (ops.transpose, (T((2, 3), n), (0, 0)), ("transpose",)),
        (ops.expand_dims, (T((2, 3), n), 4), ("expand_dims",)),
        (ops.softmax, (T((2, 3), n), 2), ("softmax",)),
        (ops.one_hot, (T((2,), n, "int32"), -1), ("one_hot",)),
        (em.random.dropout_mask, ((3,), 1.0), ("dropout",)),
    ]
    for fn, args, words in cases:
        expect_error(InvalidArgumentError, fn, *args, words=words)
    expect_error(InvalidArgumentError, em.tensor, [np.nan], dtype="int32", device=n)


def test_backward_needs_a_scalar_or_grad_output(backend_name):
    x = em.tensor(np.ones((2, 3), np.float32), device=backend_name, requires_grad=True)
    y = x * 2.0
    expect_error(ShapeError, y.backward, words=("(2, 3)",))


def test_errors_are_builtin_subclasses():
    assert issubclass(ShapeError, ValueError) and issubclass(InvalidArgumentError, ValueError)
    assert issubclass(DTypeError, TypeError)
    for cls in (ShapeError, DTypeError, InvalidArgumentError):
        assert issubclass(cls, EmberError)


def test_huge_allocations_raise_instead_of_aborting(backend_name):
    """An impossible size must raise (never abort the interpreter or panic)."""
    be = get_backend(backend_name)
    for fn, args in [
        (be.full, (2**62, 0.0, "float32")),
        (be.full, (2**42, 0.0, "int32")),
        (be.broadcast_to, (be.from_numpy(np.ones(1, np.float32), "float32"), (1,), (2**21, 2**21))),
        (be.random, ("uniform", 2**42, 0, 0, 0.0, 1.0)),
        (be.one_hot, (be.from_numpy(np.zeros(4, np.int32), "int32"), 2**62)),
    ]:
        e = call_no_panic(fn, *args)
        assert isinstance(e, (EmberError, MemoryError, OverflowError)), repr(e)


# -- fuzz: random (mostly invalid) arguments never panic ------------------------------------------

def _fuzz_args(rng, be):
    shapes = [(), (0,), (1,), (3,), (2, 3), (3, 2), (2, 0), (1, 1, 4), (2, 3, 4)]
    def buf():
        s = shapes[int(rng.integers(len(shapes)))]
        dt = "int32" if rng.random() < 0.2 else "float32"
        return be.from_numpy(np.ones(s, dt), dt), s
    def shape():
        return shapes[int(rng.integers(len(shapes)))]
    return buf, shape


def test_fuzz_backend_never_panics(backend_name):
    be = get_backend(backend_name)
    rng = np.random.default_rng(40)
    buf, shape = _fuzz_args(rng, be)
    ints = [0, 1, 2, 3, 5, 7, 24]
    idx = [[], [0], [-1], [2, 0], [5], [-7], [0, 1, 2]]
    raised = 0
    for _ in range(600):
        (a, sa), (b, sb), (c, sc), (d, _) = buf(), buf(), buf(), buf()
        r = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
        calls = [
            lambda: be.unary(r(["exp", "relu", "log"]), a),
            lambda: be.unary_backward(r(["sigmoid", "abs", "sqrt"]), a, b, c),
            lambda: be.binary(r(["add", "pow", "equal", "maximum"]), a, shape(), b, shape()),
            lambda: be.binary_backward(r(["mul", "div", "pow", "minimum"]), a, shape(), b, shape(), c, bool(rng.random() < 0.5), True),
            lambda: be.reduce(r(["sum", "mean", "max", "argmin"]), a, shape(), r([None, [0], [-1], [0, 1], [3]]), bool(rng.random() < 0.5)),
            lambda: be.sum_to_shape(a, shape(), shape()),
            lambda: be.broadcast_to(a, shape(), shape()),
            lambda: be.transpose(a, shape(), list(rng.permutation(int(rng.integers(0, 4))))),
            lambda: be.take_rows(a, r(ints), r(idx)),
            lambda: be.scatter_add_rows(a, r(ints), r(idx), r(ints)),
            lambda: be.one_hot(a, r(ints)),
            lambda: be.cast(a, r(["int32", "float32"])),
            lambda: be.matmul(a, shape(), b, shape(), bool(rng.random() < 0.5), bool(rng.random() < 0.5)),
            lambda: be.softmax(a, shape(), r([-2, -1, 0, 1, 2]), bool(rng.random() < 0.5)),
            lambda: be.softmax_backward(a, b, shape(), r([-1, 0, 1]), bool(rng.random() < 0.5)),
            lambda: be.softmax_cross_entropy(a, b, r(ints), r(ints)),
            lambda: be.softmax_cross_entropy_backward(a, b, c, r(ints), r(ints)),
            lambda: be.sigmoid_bce(a, b),
            lambda: be.sigmoid_bce_backward(a, b, c),
            lambda: be.dense(a, b, r([None, c]), r(ints), r(ints), r(ints), r(["linear", "relu", "tanh"])),
            lambda: be.dense_backward(a, b, c, d, r(ints), r(ints), r(ints), r(["linear", "sigmoid"]), bool(rng.random() < 0.5)),
            lambda: be.random(r(["uniform", "normal", "bernoulli"]), r(ints), r(ints), r(ints), float(rng.normal()), float(rng.normal())),
            lambda: be.sgd_update(be.copy(a), b, r([None, be.copy(c)]), 0.1, 0.9, bool(rng.random() < 0.5)),
            lambda: be.adam_update(be.copy(a), b, be.copy(c), be.copy(d), 0.1, 0.9, 0.999, 1e-7, r(ints)),
            lambda: be.assign(be.copy(a), b),
        ]
        e = call_no_panic(calls[int(rng.integers(len(calls)))])
        raised += e is not None
        if e is not None:
            assert isinstance(e, (EmberError, OverflowError, TypeError)), f"unexpected {type(e).__name__}: {e}"
    assert raised > 0


def test_fuzz_ops_never_panic(backend_name):
    rng = np.random.default_rng(41)
    shapes = [(), (0,), (1,), (3,), (2, 3), (3, 2), (2, 0), (1, 1, 3), (2, 3, 3)]
    tensors = [em.tensor(np.ones(s, np.float32), device=backend_name) for s in shapes]
    binary = [ops.add, ops.multiply, ops.power, ops.maximum, ops.matmul, ops.greater, ops.softmax_cross_entropy,
              ops.sigmoid_binary_cross_entropy]
    for a, b in itertools.product(tensors, tensors):
        for fn in binary:
            e = call_no_panic(fn, a, b)
            if e is not None:
                assert isinstance(e, EmberError), f"{fn.__name__} {a.shape} {b.shape}: {type(e).__name__}: {e}"
    unary = [lambda t: ops.sum(t, 0), lambda t: ops.max(t), lambda t: ops.argmax(t), lambda t: ops.softmax(t, 0),
             lambda t: t[0], lambda t: t[1:], lambda t: ops.reshape(t, (-1,)), lambda t: ops.transpose(t),
             lambda t: ops.squeeze(t), lambda t: ops.one_hot(t, 3), lambda t: ops.cast(t, "int32")]
    for t in tensors:
        for fn in unary:
            e = call_no_panic(fn, t)
            if e is not None:
                assert isinstance(e, EmberError), f"{t.shape}: {type(e).__name__}: {e}"


@pytest.mark.parametrize("fn", [ops.exp, ops.relu, lambda t: ops.sum(t), lambda t: ops.softmax(t)])
def test_int_tensors_are_promoted_not_rejected(backend_name, fn):
    """float ops take int32 tensors by promoting them (as numpy does)."""
    y = fn(em.tensor(np.array([1, 2, 3], np.int32), device=backend_name))
    assert y.dtype == "float32"
