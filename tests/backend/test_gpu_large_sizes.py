"""The gpu backend past its size limits, against float64 numpy references.

Two limits matter. WebGPU allows 65,535 workgroups per dispatch dimension: 1-D kernels
split larger grids over x and y (runtime.Runtime.dispatch, common.wgsl's flat_id). And
Mesa's lavapipe, the driver CI runs on, stops every loop of an invocation after 65,535
iterations in total and carries on with the partial result, so a reduction over 65,536
or more values by one invocation came back silently wrong (a (65536, 32) column sum off
by a whole row). Reductions, matmul's K loop (split-K), batch-norm statistics, softmax
over a long axis, scatter_add_rows' index walk and the conv filter gradient now split
long loops on the host (runtime.LOOP_BUDGET); the kernels that do not (cross-entropy over
very many classes, scans, argsort) raise instead of returning wrong values.

Shapes are the narrowest that cross the limits: lavapipe runs shaders on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from ember.backend import get_backend
from ember.errors import InvalidArgumentError

from conftest import GPU_UNAVAILABLE

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))]

LIMIT = 65535


@pytest.fixture(scope="module")
def gpu():
    return get_backend("gpu")


def up(gpu, a):
    a = np.asarray(a)
    return gpu.from_numpy(a, "int32" if a.dtype.kind == "i" else "float32")


def down(gpu, buf, shape, dtype="float32"):
    return gpu.to_numpy(buf, tuple(shape), dtype)


def u(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def close(got, ref, rel=2e-6):
    """float32 sums of n terms against float64: error relative to the sum of |terms|."""
    ref = np.asarray(ref, np.float64)
    np.testing.assert_allclose(got, ref, rtol=0, atol=rel * max(1.0, float(np.abs(ref).max())) * 10)


@pytest.mark.parametrize("rows", [LIMIT + 1, 100_003])
def test_sum_to_shape_over_many_rows(gpu, rng, rows):
    a = u(rng, rows, 2)
    got = down(gpu, gpu.sum_to_shape(up(gpu, a), a.shape, (2,)), (2,))
    # A dropped row would be off by up to 1; float32 rounding over 1e5 terms is ~1e-3.
    np.testing.assert_allclose(got, a.astype(np.float64).sum(0), atol=2e-3)


@pytest.mark.parametrize("shape,axis", [((LIMIT + 2, 3), 0), ((2, 70_001), 1), ((2, 70_001, 2), 1)])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "argmax", "argmin"])
def test_reduce_long_axis(gpu, rng, shape, axis, op):
    a = u(rng, *shape)
    # Plant the extremum in the last chunk, so a reduction that stopped early misses it.
    idx = [slice(None)] * len(shape)
    idx[axis] = shape[axis] - 1
    a[tuple(idx)] = 5.0 if op in ("max", "argmax") else -5.0
    out, oshape = gpu.reduce(op, up(gpu, a), shape, [axis], False)
    got = down(gpu, out, oshape, "int32" if op.startswith("arg") else "float32")
    ref = getattr(np, op)(a.astype(np.float64), axis=axis)
    if op.startswith("arg"):
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, atol=2e-3 if op == "sum" else 1e-6)


def test_argmax_ties_keep_the_first_across_chunks(gpu):
    a = np.zeros((1, 3 * 16384 + 5), np.float32)
    a[0, [20_000, 40_000, 49_000]] = 1.0
    out, shp = gpu.reduce("argmax", up(gpu, a), a.shape, [1], False)
    assert down(gpu, out, shp, "int32").tolist() == [20_000]


@pytest.mark.parametrize("rows", [LIMIT, 86_528])
def test_matmul_transposed_long_k(gpu, rng, rows):
    # The conv/dense weight gradient: x^T @ gy with a reduction over every row.
    a, b = u(rng, rows, 4), u(rng, rows, 3)
    out, shp = gpu.matmul(up(gpu, a), a.shape, up(gpu, b), b.shape, True, False)
    close(down(gpu, out, shp), a.T.astype(np.float64) @ b)


def test_dense_fused_epilogue_with_split_k(gpu, rng):
    x, w, b = u(rng, 3, 9_001), u(rng, 9_001, 5), u(rng, 5)
    y = gpu.dense(up(gpu, x), up(gpu, w), up(gpu, b), 3, 9_001, 5, "relu")
    close(down(gpu, y, (3, 5)), np.maximum(x.astype(np.float64) @ w + b, 0))


def test_batched_matmul_split_k(gpu, rng):
    a, b = u(rng, 2, 3, 9_000), u(rng, 2, 4, 9_000)
    out, shp = gpu.matmul(up(gpu, a), a.shape, up(gpu, b), b.shape, False, True)
    close(down(gpu, out, shp), a.astype(np.float64) @ b.transpose(0, 2, 1))


def test_batch_norm_many_rows(gpu, rng):
    rows, ch, eps = 70_000, 2, 1e-3
    x = (u(rng, rows, ch) * 3 + 1).astype(np.float32)
    gamma, beta, gy = u(rng, ch), u(rng, ch), u(rng, rows, ch)
    y, mean, var = gpu.batch_norm(up(gpu, x), up(gpu, gamma), up(gpu, beta), rows, ch, eps)
    x64 = x.astype(np.float64)
    m, v = x64.mean(0), x64.var(0)
    np.testing.assert_allclose(down(gpu, mean, (ch,)), m, atol=1e-5)
    np.testing.assert_allclose(down(gpu, var, (ch,)), v, rtol=1e-5)
    xhat = (x64 - m) / np.sqrt(v + eps)
    np.testing.assert_allclose(down(gpu, y, (rows, ch)), xhat * gamma + beta, atol=1e-4)
    gx, ggamma, gbeta = gpu.batch_norm_backward(up(gpu, x), up(gpu, gamma), mean, var, up(gpu, gy), rows, ch, eps, True)
    np.testing.assert_allclose(down(gpu, gbeta, (ch,)), gy.sum(0, dtype=np.float64), atol=2e-3)
    np.testing.assert_allclose(down(gpu, ggamma, (ch,)), (gy * xhat).sum(0), atol=2e-3)
    ref_gx = gamma / np.sqrt(v + eps) * (gy - gy.mean(0) - xhat * (gy * xhat).mean(0))
    np.testing.assert_allclose(down(gpu, gx, (rows, ch)), ref_gx, atol=1e-4)


def test_scatter_add_rows_many_indices(gpu, rng):
    n_idx, n_rows, row_len = 70_000, 3, 2
    idx = rng.integers(0, n_rows, n_idx)
    g = u(rng, n_idx, row_len)
    out = down(gpu, gpu.scatter_add_rows(up(gpu, g), row_len, idx.tolist(), n_rows), (n_rows, row_len))
    ref = np.zeros((n_rows, row_len))
    np.add.at(ref, idx, g.astype(np.float64))
    np.testing.assert_allclose(out, ref, atol=2e-3)


def test_conv_filter_gradient_many_rows(gpu, rng):
    # 1 x 260 x 260 x 1 input, 1x1 kernel to 16 filters: a reduction over 67,600 rows.
    x, w = u(rng, 1, 260, 260, 1), u(rng, 1, 1, 1, 16)
    gy = u(rng, 1, 260, 260, 16)
    valid = ((0, 0), (0, 0))
    y, _ = gpu.conv2d(up(gpu, x), x.shape, up(gpu, w), w.shape, None, (1, 1), valid, (1, 1), 1, "linear")
    _, gw, gb = gpu.conv2d_backward(up(gpu, x), x.shape, up(gpu, w), w.shape, y, up(gpu, gy), (1, 1), valid, (1, 1), 1,
                                    "linear", False)
    x2, g2 = x.reshape(-1, 1).astype(np.float64), gy.reshape(-1, 16).astype(np.float64)
    close(down(gpu, gw, (1, 1, 1, 16)).reshape(1, 16), x2.T @ g2)
    np.testing.assert_allclose(down(gpu, gb, (16,)), g2.sum(0), atol=2e-3)


def test_elementwise_past_65535_workgroups(gpu, rng):
    n = LIMIT * 256 + 7  # one more workgroup than fits in x
    a = rng.standard_normal(n, dtype=np.float32)
    got = down(gpu, gpu.unary("neg", up(gpu, a)), (n,))
    assert got[-1] == -a[-1]
    np.testing.assert_array_equal(got, -a)


def test_unsplit_loops_raise_on_a_limited_driver(gpu, rng, monkeypatch):
    # Kernels whose loops are not split refuse sizes the driver would cut short.
    monkeypatch.setattr(gpu.rt, "loop_limit", LIMIT)
    logits = u(rng, 1, 20_000)
    with pytest.raises(InvalidArgumentError, match="softmax_cross_entropy"):
        gpu.softmax_cross_entropy(up(gpu, logits), up(gpu, np.zeros(1, np.int32)), 1, 20_000)
    y = u(rng, 70_000)
    with pytest.raises(InvalidArgumentError, match="cumsum"):
        gpu.cumsum(up(gpu, y), y.shape, 0)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_long_axis(gpu, rng, log):
    x = (u(rng, 2, 20_000, 2) * 4).astype(np.float32)
    x[0, -1, 0] = 30.0  # the maximum in the last values of the axis
    gy = u(rng, *x.shape)
    y = gpu.softmax(up(gpu, x), x.shape, 1, log)
    x64 = x.astype(np.float64)
    z = x64 - x64.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    ref = z - lse if log else np.exp(z - lse)
    np.testing.assert_allclose(down(gpu, y, x.shape), ref, rtol=1e-4, atol=1e-6 if not log else 1e-4)
    gx = down(gpu, gpu.softmax_backward(y, up(gpu, gy), x.shape, 1, log), x.shape)
    p = np.exp(z - lse)
    ref_gx = gy - p * gy.sum(1, keepdims=True) if log else p * (gy - (gy * p).sum(1, keepdims=True))
    np.testing.assert_allclose(gx, ref_gx, rtol=1e-4, atol=1e-5)
