"""Philox 4x32-10 (known answers, determinism, offset addressing, distribution moments)
and the fused optimizer updates against float64 numpy implementations of Keras's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember as em
from ember import _core
from ember.backend import get_backend
from ember.errors import EmberError, InvalidArgumentError

from _conformance import assert_close, expect_error, f32

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox4x32(ctr, key):
    """Reference Philox 4x32-10 in plain Python integers (Salmon et al. 2011)."""
    c = list(ctr)
    k = list(key)
    for _ in range(10):
        p0, p1 = M0 * c[0], M1 * c[2]
        hi0, lo0, hi1, lo1 = p0 >> 32, p0 & MASK, p1 >> 32, p1 & MASK
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
        k = [(k[0] + W0) & MASK, (k[1] + W1) & MASK]
    return c


def ref_bits(n, seed, offset):
    """Element i: lane i % 4 of philox(counter = offset + i // 4 (64-bit), key = seed)."""
    out = []
    for blk in range((n + 3) // 4):
        ctr = (offset + blk) & 0xFFFFFFFFFFFFFFFF
        out.extend(philox4x32([ctr & MASK, ctr >> 32, 0, 0], [seed & MASK, (seed >> 32) & MASK]))
    return np.array(out[:n], dtype=np.uint64)


def test_reference_philox_matches_random123_known_answers():
    # Random123's kat_vectors for philox4x32_10.
    assert philox4x32([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox4x32([MASK] * 4, [MASK] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert philox4x32([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_philox_bits_known_answer():
    assert list(_core.philox_bits(4, 0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


@pytest.mark.parametrize("seed,offset", [(0, 0), (1, 0), (1234, 7), (2**32 + 5, 3), (2**64 - 1, 2**32 - 1), (42, 2**40 + 3),
                                         (7, 2**64 - 2)])
def test_philox_bits_match_reference(seed, offset):
    n = 23
    got = np.array(_core.philox_bits(n, seed, offset), dtype=np.uint64)
    np.testing.assert_array_equal(got, ref_bits(n, seed, offset))


def _u01(bits):
    return (bits >> np.uint64(8)).astype(np.float64) / 16777216.0


@pytest.mark.parametrize("kind,a,b", [("uniform", -2.0, 3.0), ("normal", 1.0, 2.0), ("truncated_normal", -1.0, 0.5),
                                      ("bernoulli", 0.7, 1 / 0.7)])
def test_random_determinism_and_offset_addressing(backend_name, kind, a, b):
    be = get_backend(backend_name)
    n = 37
    x1 = be.to_numpy(be.random(kind, n, 99, 5, a, b), (n,), "float32")
    x2 = be.to_numpy(be.random(kind, n, 99, 5, a, b), (n,), "float32")
    np.testing.assert_array_equal(x1, x2)
    # A draw at offset 5 + k is the tail of the draw at offset 5 from element 4k on.
    for k in (1, 3):
        tail = be.to_numpy(be.random(kind, n - 4 * k, 99, 5 + k, a, b), (n - 4 * k,), "float32")
        np.testing.assert_array_equal(tail, x1[4 * k:])
    # A shorter draw is a prefix (n need not be a multiple of 4).
    for m in (1, 2, 3, 5, 10):
        np.testing.assert_array_equal(be.to_numpy(be.random(kind, m, 99, 5, a, b), (m,), "float32"), x1[:m])
    other = be.to_numpy(be.random(kind, n, 100, 5, a, b), (n,), "float32")
    if kind != "bernoulli":
        assert not np.array_equal(other, x1)
    assert be.to_numpy(be.random(kind, 0, 1, 0, a, b), (0,), "float32").shape == (0,)


def test_random_values_follow_from_the_bits(backend_name):
    """uniform and bernoulli are exact functions of the Philox bits; normal is Box-Muller
    on lanes (0, 1) and (2, 3); truncated_normal is the inverse CDF."""
    be = get_backend(backend_name)
    n, seed, off = 64, 2024, 11
    bits = ref_bits(n, seed, off)
    u = _u01(bits)
    got = be.to_numpy(be.random("uniform", n, seed, off, -1.0, 3.0), (n,), "float32")
    np.testing.assert_array_equal(got, f32(f32(-1.0) + f32(4.0) * f32(u)))
    got = be.to_numpy(be.random("bernoulli", n, seed, off, 0.3, 2.0), (n,), "float32")
    np.testing.assert_array_equal(got, np.where(u < np.float32(0.3), 2.0, 0.0).astype(np.float32))
    got = be.to_numpy(be.random("normal", n, seed, off, 0.5, 2.0), (n,), "float32")
    b4 = bits.reshape(-1, 4)
    u_open = ((b4[:, [0, 2]] >> np.uint64(8)) + np.uint64(1)).astype(np.float64) / 16777216.0
    r = np.sqrt(-2.0 * np.log(u_open))
    t = 2 * np.pi * _u01(b4[:, [1, 3]])
    z = np.stack([r[:, 0] * np.cos(t[:, 0]), r[:, 0] * np.sin(t[:, 0]), r[:, 1] * np.cos(t[:, 1]), r[:, 1] * np.sin(t[:, 1])], 1)
    assert_close(got, 0.5 + 2.0 * z.reshape(-1), what="normal from bits", rtol=1e-5, atol=1e-4)
    got = be.to_numpy(be.random("truncated_normal", n, seed, off, 0.0, 1.0), (n,), "float32")
    from statistics import NormalDist

    nd = NormalDist()
    p = (u * 2 - 1 + 1 / 16777216.0) * math.erf(2 / math.sqrt(2))
    expected = np.clip([nd.inv_cdf((v + 1) / 2) for v in p], -2, 2)
    assert_close(got, expected, what="truncated_normal from bits", rtol=1e-4, atol=1e-4)


def test_random_moments(backend_name):
    be = get_backend(backend_name)
    n = 200_000
    x = be.to_numpy(be.random("uniform", n, 1, 0, -2.0, 4.0), (n,), "float32").astype(np.float64)
    assert x.min() >= -2.0 and x.max() < 4.0
    se = 6 / math.sqrt(12 * n)
    assert abs(x.mean() - 1.0) < 5 * se and abs(x.var() - 36 / 12) < 0.03
    x = be.to_numpy(be.random("normal", n, 2, 0, 1.0, 3.0), (n,), "float32").astype(np.float64)
    assert abs(x.mean() - 1.0) < 5 * 3 / math.sqrt(n) and abs(x.std() - 3.0) < 0.02
    skew = np.mean(((x - x.mean()) / x.std()) ** 3)
    kurt = np.mean(((x - x.mean()) / x.std()) ** 4)
    assert abs(skew) < 0.03 and abs(kurt - 3.0) < 0.06
    x = be.to_numpy(be.random("truncated_normal", n, 3, 0, 0.5, 2.0), (n,), "float32").astype(np.float64)
    assert x.min() >= 0.5 - 4.0 and x.max() <= 0.5 + 4.0
    # Variance of a standard normal truncated at +-2 standard deviations: 0.773741...
    assert abs(x.mean() - 0.5) < 0.02 and abs(x.var() / 4.0 - 0.773741) < 0.01
    x = be.to_numpy(be.random("bernoulli", n, 4, 0, 0.8, 1.25), (n,), "float32")
    assert set(np.unique(x).tolist()) <= {0.0, 1.25}
    assert abs((x > 0).mean() - 0.8) < 5 * math.sqrt(0.16 / n)
    assert abs(x.mean() - 1.0) < 0.01
    # Consecutive counter blocks are not correlated.
    u = be.to_numpy(be.random("uniform", n, 5, 0, 0.0, 1.0), (n,), "float32").astype(np.float64)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:-4], u[4:])[0, 1]) < 0.01


def test_random_bad_arguments(backend_name):
    be = get_backend(backend_name)
    for kind, a, b in [("uniform", 1.0, 0.0), ("uniform", float("nan"), 1.0), ("normal", 0.0, -1.0),
                       ("truncated_normal", 0.0, float("inf")), ("bernoulli", 1.5, 1.0), ("bernoulli", -0.1, 1.0),
                       ("poisson", 1.0, 1.0)]:
        expect_error(InvalidArgumentError, be.random, kind, 4, 0, 0, a, b)


def test_random_module_uses_the_generator(backend_name):
    em.utils.set_random_seed(3)
    a = em.random.uniform((5, 3), device=backend_name).numpy().copy()
    b = em.random.uniform((5, 3), device=backend_name).numpy().copy()
    em.utils.set_random_seed(3)
    np.testing.assert_array_equal(em.random.uniform((5, 3), device=backend_name).numpy(), a)
    np.testing.assert_array_equal(em.random.uniform((5, 3), device=backend_name).numpy(), b)
    assert not np.array_equal(a, b)
    s1 = em.random.normal((3,), seed=7, device=backend_name).numpy()
    s2 = em.random.normal((3,), seed=7, device=backend_name).numpy()
    np.testing.assert_array_equal(s1, s2)


# -- optimizers -------------------------------------------------------------------------------------

def _sgd_ref(p, g, v, lr, momentum, nesterov):
    if v is None:
        return p - lr * g, None
    v = momentum * v - lr * g
    return (p + momentum * v - lr * g if nesterov else p + v), v


def _adam_ref(p, g, m, v, lr, b1, b2, eps, t):
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    return p - alpha * m / (np.sqrt(v) + eps), m, v


@pytest.mark.parametrize("mode", ["plain", "momentum", "nesterov"])
@pytest.mark.parametrize("n", [0, 1, 37, 40_000])
def test_sgd_update(backend_name, mode, n):
    be = get_backend(backend_name)
    rng = np.random.default_rng(30)
    p = f32(rng.uniform(-1, 1, n))
    pb = be.from_numpy(p, "float32")
    vb = None if mode == "plain" else be.from_numpy(np.zeros(n, np.float32), "float32")
    p64, v64 = p.astype(np.float64), (None if mode == "plain" else np.zeros(n))
    lr, mom = 0.05, (0.0 if mode == "plain" else 0.9)
    for _ in range(5):
        g = f32(rng.uniform(-1, 1, n))
        be.sgd_update(pb, be.from_numpy(g, "float32"), vb, lr, mom, mode == "nesterov")
        p64, v64 = _sgd_ref(p64, g.astype(np.float64), v64, np.float64(np.float32(lr)), np.float64(np.float32(mom)), mode == "nesterov")
    assert_close(be.to_numpy(pb, (n,), "float32"), p64, what=f"sgd {mode} param", rtol=1e-5, atol=1e-6)
    if vb is not None:
        assert_close(be.to_numpy(vb, (n,), "float32"), v64, what=f"sgd {mode} velocity", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 37, 40_000])
def test_adam_update(backend_name, n):
    be = get_backend(backend_name)
    rng = np.random.default_rng(31)
    p = f32(rng.uniform(-1, 1, n))
    pb, mb, vb = be.from_numpy(p, "float32"), be.from_numpy(np.zeros(n, np.float32), "float32"), be.from_numpy(np.zeros(n, np.float32), "float32")
    lr, b1, b2, eps = (float(np.float32(v)) for v in (0.01, 0.9, 0.999, 1e-7))
    p64, m64, v64 = p.astype(np.float64), np.zeros(n), np.zeros(n)
    for t in range(1, 8):
        g = f32(rng.uniform(-1, 1, n) * (10.0 if t % 2 else 0.01))
        be.adam_update(pb, be.from_numpy(g, "float32"), mb, vb, lr, b1, b2, eps, t)
        p64, m64, v64 = _adam_ref(p64, g.astype(np.float64), m64, v64, lr, b1, b2, eps, t)
    assert_close(be.to_numpy(pb, (n,), "float32"), p64, what="adam param", rtol=1e-5, atol=1e-6)
    assert_close(be.to_numpy(mb, (n,), "float32"), m64, what="adam m", rtol=1e-5, atol=1e-6)
    assert_close(be.to_numpy(vb, (n,), "float32"), v64, what="adam v", rtol=1e-5, atol=1e-7)


def test_adam_first_step_moves_by_lr(backend_name):
    be = get_backend(backend_name)
    p = be.from_numpy(np.zeros(3, np.float32), "float32")
    m, v = be.from_numpy(np.zeros(3, np.float32), "float32"), be.from_numpy(np.zeros(3, np.float32), "float32")
    be.adam_update(p, be.from_numpy(f32([3.0, -0.5, 0.1]), "float32"), m, v, 0.001, 0.9, 0.999, 1e-7, 1)
    assert_close(be.to_numpy(p, (3,), "float32"), np.array([-0.001, 0.001, -0.001]), what="adam step 1", rtol=1e-4, atol=0)


def test_optimizer_errors(backend_name):
    be = get_backend(backend_name)
    p = be.from_numpy(np.zeros(3, np.float32), "float32")
    g = be.from_numpy(np.zeros(3, np.float32), "float32")
    short = be.from_numpy(np.zeros(2, np.float32), "float32")
    from ember.errors import DTypeError, ShapeError

    expect_error(ShapeError, be.sgd_update, p, short, None, 0.1, 0.0, False, words=("sgd_update",))
    expect_error(ShapeError, be.sgd_update, p, g, short, 0.1, 0.9, False, words=("sgd_update",))
    expect_error(ShapeError, be.adam_update, p, g, short, be.from_numpy(np.zeros(3, np.float32), "float32"), 0.1, 0.9, 0.999, 1e-7, 1)
    m, v = be.from_numpy(np.zeros(3, np.float32), "float32"), be.from_numpy(np.zeros(3, np.float32), "float32")
    expect_error(InvalidArgumentError, be.adam_update, p, g, m, v, 0.1, 0.9, 0.999, 1e-7, 0, words=("step",))
    expect_error(EmberError, be.adam_update, p, g, m, m, 0.1, 0.9, 0.999, 1e-7, 1)
    expect_error(EmberError, be.sgd_update, p, p, None, 0.1, 0.0, False)
    ip = be.from_numpy(np.zeros(3, np.int32), "int32")
    expect_error(DTypeError, be.sgd_update, ip, g, None, 0.1, 0.0, False)
    expect_error(DTypeError, be.sgd_update, p, be.from_numpy(np.zeros(3, np.int32), "int32"), None, 0.1, 0.0, False)
    expect_error(DTypeError, be.adam_update, ip, g, m, v, 0.1, 0.9, 0.999, 1e-7, 1)
