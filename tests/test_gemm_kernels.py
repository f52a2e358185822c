"""The GEMM on CPUs without AVX-512: the AVX2+FMA and scalar kernel families, forced by
the test hook (`_core._force_gemm_kernel`, or EMBER_GEMM_KERNEL at import), agree with the
AVX-512 path and with a float64 reference, for every transpose and a batched product."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember as em
from ember import _core

FAMILIES = [k for k in ("avx512", "avx2", "scalar") if k != "avx512" or "avx512f" in _core.cpu_features()]
needs_avx512 = pytest.mark.skipif("avx512f" not in _core.cpu_features(), reason="this CPU has no AVX-512")
# Shapes large enough for Ember's own AVX-512 kernel (it takes m >= 32, n >= 64, k >= 32 and
# about 96^3), thin ones that go to the gemm crate, and odd sizes that leave remainders.
SHAPES = [(256, 300, 200), (130, 97, 65), (1, 512, 64), (64, 1, 300), (7, 5, 3)]


@pytest.fixture
def gemm_kernel():
    def force(name):
        _core._force_gemm_kernel(name)
        assert _core.gemm_kernel() == name

    yield force
    _core._force_gemm_kernel(None)


def _products(rng, m, k, n):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    ta, tb = em.tensor(a), em.tensor(b)
    return {
        "nn": (em.ops.matmul(ta, tb), a.astype(np.float64) @ b),
        "tn": (em.ops.matmul(em.tensor(a.T.copy()).T, tb), a.astype(np.float64) @ b),
        "nt": (em.ops.matmul(ta, em.tensor(b.T.copy()).T), a.astype(np.float64) @ b),
    }


def test_detected_family_and_features_are_reported():
    assert _core.gemm_kernel() in ("avx512", "avx2", "neon", "scalar")
    feats = _core.cpu_features()
    if _core.gemm_kernel() == "avx512":
        assert "avx512f" in feats


@pytest.mark.parametrize("family", [k for k in FAMILIES if k != "avx512"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_narrow_family_matches_float64_and_the_default_path(gemm_kernel, family, shape):
    m, k, n = shape
    default = {key: np.asarray(v[0]) for key, v in _products(np.random.default_rng(1), m, k, n).items()}
    gemm_kernel(family)
    forced = _products(np.random.default_rng(1), m, k, n)
    tol = 1e-5 * np.sqrt(k) * 4 + 1e-6
    for key, (got, want) in forced.items():
        got = np.asarray(got)
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, float(np.abs(want).max())), err_msg=key)
        np.testing.assert_allclose(got, default[key], rtol=0, atol=tol * max(1.0, float(np.abs(want).max())), err_msg=key)


@needs_avx512
@pytest.mark.parametrize("family", ["avx2", "scalar"])
def test_training_step_agrees_with_the_avx512_path(gemm_kernel, family):
    """A dense layer's forward and backward (the GEMMs of training) agree across paths."""
    def run():
        em.utils.set_random_seed(3)
        x = np.random.default_rng(0).standard_normal((128, 96)).astype(np.float32)
        y = np.random.default_rng(1).integers(0, 10, 128).astype(np.int32)
        m = em.Sequential([em.Input((96,)), em.layers.Dense(128, activation="relu"), em.layers.Dense(10)])
        m.compile(optimizer="sgd", loss=em.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, batch_size=128, epochs=2, verbose=0, shuffle=False)
        return [np.asarray(w) for w in m.get_weights()]

    gemm_kernel("avx512")
    ref = run()
    gemm_kernel(family)
    for got, want in zip(run(), ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_batched_product_on_every_family(gemm_kernel):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 70, 90)).astype(np.float32)
    b = rng.standard_normal((4, 90, 110)).astype(np.float32)
    want = np.einsum("bij,bjk->bik", a.astype(np.float64), b)
    for family in FAMILIES:
        gemm_kernel(family)
        got = np.asarray(em.ops.matmul(em.tensor(a), em.tensor(b)))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3, err_msg=family)


def test_environment_variable_forces_the_family_at_import():
    code = textwrap.dedent("""
        import numpy as np, ember as em
        from ember import _core
        a = np.random.default_rng(0).standard_normal((200, 150)).astype("float32")
        got = np.asarray(em.tensor(a) @ em.tensor(a.T.copy()))
        print(_core.gemm_kernel(), float(np.abs(got - a.astype("float64") @ a.T).max()))
        """)
    for family in [k for k in FAMILIES if k != "avx512"]:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "EMBER_GEMM_KERNEL": family})
        assert r.returncode == 0, r.stderr
        name, err = r.stdout.split()
        assert name == family and float(err) < 1e-3


def test_unknown_or_unsupported_family_is_an_error():
    with pytest.raises(em.errors.InvalidArgumentError, match="unknown kernel"):
        _core._force_gemm_kernel("avx1024")
    unsupported = [k for k in ("avx512", "avx2", "neon") if k not in FAMILIES and k != _core.gemm_kernel()]
    for k in unsupported:
        with pytest.raises(em.errors.InvalidArgumentError, match="cannot run"):
            _core._force_gemm_kernel(k)
    assert _core.gemm_kernel() in ("avx512", "avx2", "neon", "scalar")
