"""GPU backend smoke tests (the full conformance run on "gpu" is issue 3's remaining
work). They run on any WebGPU adapter, lavapipe included, and skip with the reason
where wgpu or an adapter is missing."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em

try:
    import wgpu

    _ADAPTER = wgpu.gpu.request_adapter_sync()
    _REASON = "no WebGPU adapter (apt-get install mesa-vulkan-drivers)"
except Exception as e:  # noqa: BLE001
    _ADAPTER, _REASON = None, f"wgpu not importable ({e}); pip install wgpu"

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_ADAPTER is None, reason=_REASON)]


def test_ops_match_cpu(rng):
    a = rng.standard_normal((37, 19)).astype(np.float32)
    b = rng.standard_normal((19, 23)).astype(np.float32)
    for f in (lambda x, y: x @ y, lambda x, y: em.ops.softmax(x @ y), lambda x, y: em.ops.sum(em.ops.relu(x @ y), axis=0)):
        cpu = f(em.tensor(a), em.tensor(b)).numpy()
        gpu = f(em.tensor(a, device="gpu"), em.tensor(b, device="gpu")).numpy()
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


def test_philox_bits_match_cpu():
    gb = em.backend.get_backend("gpu")
    assert gb.philox_bits(64, 12345, 2**32 - 3) == em._core.philox_bits(64, 12345, 2**32 - 3)
    assert np.array_equal(em.random.dropout_mask((1000,), 0.3, seed=7, device="gpu").numpy(),
                          em.random.dropout_mask((1000,), 0.3, seed=7).numpy())


def test_fit_on_gpu_matches_cpu():
    rng = np.random.default_rng(0)
    x = rng.random((512, 20), dtype=np.float32)
    y = rng.integers(0, 4, 512)
    results = []
    for dev in ("cpu", "gpu"):
        em.utils.set_random_seed(3)
        with em.device(dev):
            model = em.Sequential([em.Input((20,)), em.layers.Dense(32, activation="relu"), em.layers.Dropout(0.2),
                                   em.layers.Dense(4, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=2, batch_size=64, verbose=0, shuffle=False)
        results.append((model.evaluate(x, y, verbose=0), model.get_weights()))
    (l_cpu, w_cpu), (l_gpu, w_gpu) = results
    np.testing.assert_allclose(l_gpu, l_cpu, rtol=1e-3)
    for a, b in zip(w_cpu, w_gpu):
        np.testing.assert_allclose(b, a, atol=1e-3)


def test_mixing_devices_is_an_error():
    with pytest.raises(em.errors.DeviceError):
        em.tensor([1.0]) + em.tensor([1.0], device="gpu")
