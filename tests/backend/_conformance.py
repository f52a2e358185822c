"""Shared helpers of the backend conformance suite.

Every check compares a backend's float32 result with a float64 numpy reference computed
on the *same* float32-rounded inputs, under an explicit tolerance:

* elementwise ops: relative error <= 1e-5 (plus a small atol),
* reductions and matmul: relative error <= 1e-4 (plus a small atol),
* gradients: against central finite differences of the float64 numpy reference.
"""

from __future__ import annotations

import numpy as np

import ember as em

ELEMENTWISE = dict(rtol=1e-5, atol=1e-6)
REDUCTION = dict(rtol=1e-4, atol=1e-5)
GRADIENT = dict(rtol=1e-4, atol=1e-5)


def f32(x) -> np.ndarray:
    """The float32 rounding of ``x`` (what a backend sees)."""
    return np.asarray(x, dtype=np.float32)


def ref64(x) -> np.ndarray:
    """``x`` rounded to float32, then widened to float64 for the reference."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def to_np(t) -> np.ndarray:
    return np.array(t.numpy())


def assert_close(actual, expected, rtol, atol, what=""):
    """Elementwise |a - e| <= atol + rtol * |e|, with matching shapes and NaN/inf positions."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN positions differ")
    np.testing.assert_array_equal(np.isinf(a) & (a > 0), np.isinf(e) & (e > 0), err_msg=f"{what}: +inf positions differ")
    np.testing.assert_array_equal(np.isinf(a) & (a < 0), np.isinf(e) & (e < 0), err_msg=f"{what}: -inf positions differ")
    fin = np.isfinite(e)
    if fin.any():
        err = np.abs(a[fin] - e[fin])
        bound = atol + rtol * np.abs(e[fin])
        worst = int(np.argmax(err - bound))
        assert np.all(err <= bound), (
            f"{what}: max excess error {float((err - bound)[worst]):.3g} at flat {worst}: "
            f"got {a[fin][worst]!r}, expected {e[fin][worst]!r} (rtol={rtol}, atol={atol})"
        )


def random_shape(rng: np.random.Generator, max_rank: int = 4, max_dim: int = 5, allow_zero: bool = False) -> tuple:
    rank = int(rng.integers(0, max_rank + 1))
    lo = 0 if allow_zero else 1
    return tuple(int(d) for d in rng.integers(lo, max_dim + 1, size=rank))


def broadcast_partner(rng: np.random.Generator, shape: tuple) -> tuple:
    """A shape that broadcasts with ``shape``: a random suffix with random dims set to 1,
    possibly with extra leading dims."""
    keep = int(rng.integers(0, len(shape) + 1))
    suffix = list(shape[len(shape) - keep:])
    for i in range(len(suffix)):
        if rng.random() < 0.4:
            suffix[i] = 1
    extra = [int(d) for d in rng.integers(1, 4, size=int(rng.integers(0, 2)))] if rng.random() < 0.3 else []
    return tuple(extra + suffix)


def numerical_grad(f, xs: list[np.ndarray], i: int, w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d/dx_i of sum(f(*xs) * w) by central differences, in float64."""
    x = xs[i].astype(np.float64).copy()
    args = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in xs]
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        args[i] = x
        hi = float(np.sum(np.asarray(f(*args), dtype=np.float64) * w))
        flat[k] = old - eps
        lo = float(np.sum(np.asarray(f(*args), dtype=np.float64) * w))
        flat[k] = old
        gflat[k] = (hi - lo) / (2 * eps)
    return g


def check_op(
    backend_name: str,
    em_fn,
    np_fn,
    inputs: list,
    grad: bool = True,
    fwd_tol: dict = ELEMENTWISE,
    grad_tol: dict = GRADIENT,
    wrt: list[int] | None = None,
    seed: int = 0,
):
    """tinygrad's helper_test_op: forward of ``em_fn`` against ``np_fn`` (float64), then
    the gradient of sum(out * w) for random w against central finite differences of
    ``np_fn`` for every float input in ``wrt`` (default: all float inputs).

    ``inputs`` are numpy arrays (floats are rounded to float32 first); ints are passed
    through as int32 tensors and never differentiated.
    """
    arrays = [np.asarray(x) for x in inputs]
    arrays = [f32(a) if a.dtype.kind == "f" else a.astype(np.int32) for a in arrays]
    tensors = [em.tensor(a, device=backend_name) for a in arrays]
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    wrt = floats if wrt is None else wrt
    for i in wrt:
        tensors[i].requires_grad = True
    out = em_fn(*tensors)
    ref = np.asarray(np_fn(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]), dtype=np.float64)
    assert_close(to_np(out), ref, what="forward", **fwd_tol)
    if not grad or not wrt:
        return out
    rng = np.random.default_rng(seed + 1)
    w = rng.uniform(-1.0, 1.0, size=ref.shape)
    w32 = f32(w)
    out.backward(em.tensor(w32, device=backend_name))
    for i in wrt:
        g = tensors[i].grad
        expected = numerical_grad(np_fn, arrays, i, w32.astype(np.float64))
        assert g is not None, f"input {i}: no gradient"
        assert g.shape == arrays[i].shape, f"input {i}: gradient shape {g.shape} != input shape {arrays[i].shape}"
        assert_close(to_np(g), expected, what=f"gradient of input {i}", **grad_tol)
    return out


def call_no_panic(fn, *args, **kwargs):
    """Calls ``fn`` and returns the exception it raised (or None); a Rust panic surfacing
    as ``pyo3_runtime.PanicException`` (a BaseException) fails the test."""
    try:
        fn(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 -- PanicException derives from BaseException
        assert type(e).__name__ != "PanicException", f"Rust panic: {e!r}"
        assert isinstance(e, Exception), f"unexpected BaseException {type(e).__name__}: {e!r}"
        return e
    return None


def expect_error(cls, fn, *args, words=(), **kwargs):
    """``fn`` raises ``cls`` (never a panic) and the message contains each of ``words``."""
    e = call_no_panic(fn, *args, **kwargs)
    assert e is not None, f"expected {cls.__name__}, nothing was raised"
    assert isinstance(e, cls), f"expected {cls.__name__}, got {type(e).__name__}: {e}"
    msg = str(e)
    for w in words:
        assert str(w) in msg, f"message {msg!r} does not mention {w!r}"
    return e


def synced(backend, fn):
    """``fn`` followed by ``backend.synchronize()``: an asynchronous device (the gpu) checks
    data-dependent errors such as label ranges inside its kernels and raises them at the
    next sync, so a test of such an error must sync; the CPU raises at the call."""

    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        backend.synchronize()
        return out

    return call
