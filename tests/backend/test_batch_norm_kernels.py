"""The fused batch_norm kernels (Rust and WGSL) against a float64 reference and against
the composite default they replace in backend/base.py, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from ember.backend import get_backend
from ember.backend.base import Backend
from ember.errors import ShapeError

from _conformance import REDUCTION, assert_close, call_no_panic, expect_error, f32, ref64


def _composite_of(backend):
    cls = type(f"Composite{type(backend).__name__}", (type(backend),),
               {"batch_norm": Backend.batch_norm, "batch_norm_backward": Backend.batch_norm_backward})
    return cls()


def _reference(x, gamma, beta, gy, eps):
    x, gy = ref64(x), ref64(gy)
    n = x.shape[0]
    mean, var = x.mean(0), x.var(0)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv
    g = np.ones(x.shape[1]) if gamma is None else ref64(gamma)
    y = xhat * g + (0.0 if beta is None else ref64(beta))
    dbeta, dgamma = gy.sum(0), (gy * xhat).sum(0)
    gx = g * inv * (gy - dbeta / n - xhat * dgamma / n)
    return y, mean, var, gx, dgamma, dbeta


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_fused_vs_reference_and_composite(backend_name, affine):
    fused = get_backend(backend_name)
    composite = _composite_of(fused)
    rng = np.random.default_rng(31)
    for rows, ch in [(1, 1), (2, 3), (7, 5), (64, 33), (300, 130), (4096, 9)]:
        x = f32(rng.normal(3.0, 2.0, (rows, ch)))
        gy = f32(rng.uniform(-1, 1, (rows, ch)))
        gamma = f32(rng.uniform(0.5, 1.5, ch)) if affine else None
        beta = f32(rng.uniform(-1, 1, ch)) if affine else None
        ref = _reference(x, gamma, beta, gy, 1e-3)
        outs = {}
        for name, be in (("fused", fused), ("composite", composite)):
            up = lambda a: None if a is None else be.from_numpy(a, "float32")  # noqa: E731
            xb = up(x)
            y, mean, var = be.batch_norm(xb, up(gamma), up(beta), rows, ch, 1e-3)
            gx, dgamma, dbeta = be.batch_norm_backward(xb, up(gamma), mean, var, up(gy), rows, ch, 1e-3, True)
            none, dgamma2, _ = be.batch_norm_backward(xb, up(gamma), mean, var, up(gy), rows, ch, 1e-3, False)
            assert none is None
            got = [be.to_numpy(b, s, "float32") for b, s in
                   ((y, (rows, ch)), (mean, (ch,)), (var, (ch,)), (gx, (rows, ch)), (dgamma, (ch,)), (dbeta, (ch,)))]
            np.testing.assert_array_equal(be.to_numpy(dgamma2, (ch,), "float32"), got[4])
            outs[name] = got
            for g, r, what in zip(got, ref, ("y", "mean", "var", "gx", "dgamma", "dbeta")):
                assert_close(g, r, what=f"{name} batch_norm {rows}x{ch} {what}", **REDUCTION)
        for a, c, what in zip(outs["fused"], outs["composite"], ("y", "mean", "var", "gx", "dgamma", "dbeta")):
            assert_close(a, c, what=f"fused vs composite {rows}x{ch} {what}", rtol=1e-4, atol=1e-5)


def test_batch_norm_errors(backend_name):
    be = get_backend(backend_name)
    f = lambda *shape: be.from_numpy(np.ones(shape, np.float32), "float32")  # noqa: E731
    expect_error(ShapeError, be.batch_norm, f(5), None, None, 2, 3, 1e-3, words=("batch_norm", "(2, 3)"))
    expect_error(ShapeError, be.batch_norm, f(0), None, None, 0, 3, 1e-3, words=("batch_norm", "0 rows"))
    expect_error(ShapeError, be.batch_norm, f(6), f(2), None, 2, 3, 1e-3, words=("gamma",))
    expect_error(ShapeError, be.batch_norm_backward, f(6), None, f(3), f(3), f(5), 2, 3, 1e-3, True, words=("batch_norm_backward",))
    expect_error(ShapeError, be.batch_norm_backward, f(6), None, f(2), f(3), f(6), 2, 3, 1e-3, True, words=("mean",))
    i = be.from_numpy(np.ones(6, np.int32), "int32")
    e = call_no_panic(be.batch_norm, i, None, None, 2, 3, 1e-3)
    assert e is not None and "batch_norm" in str(e)
