"""The GPU backend under threads: one device, one runtime, several threads at once.

Four threads call ``predict`` on one model while a fifth trains another model on the
same device. Every prediction must equal the serial one bit for bit (the kernels are
deterministic and each thread's dispatches run whole and in its program order), the
training thread must reproduce its serial run, and the device must work afterwards.
Before the runtime took a lock, this gave ``GpuError: Encoding must not have ended``,
raw ``wgpu`` validation errors, ``AttributeError``s from a pass another thread had ended,
silently wrong predictions, and a backend that stayed broken.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import ember as em
from ember.errors import GpuError

from conftest import GPU_UNAVAILABLE

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))]

PREDICT_THREADS = 4
PREDICTS_PER_THREAD = 200
TRAIN_STEPS = 30
DEADLINE_S = 90.0  # the whole stress run; a hang or a crawl fails instead of timing out pytest


def _mlp(seed: int, compile: bool = False):
    em.utils.set_random_seed(seed)
    with em.device("gpu"):
        model = em.Sequential([em.Input((12,)), em.layers.Dense(16, activation="relu"), em.layers.Dense(5)])
    if compile:
        model.compile(em.optimizers.SGD(0.05), "mse")
    return model


def _numpy_mlp(weights, x):
    k1, b1, k2, b2 = (w.astype(np.float64) for w in weights)
    return np.maximum(x @ k1 + b1, 0.0) @ k2 + b2


def _run_threads(fns, deadline_s):
    errors: list = []

    def guard(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported below, with its type
            errors.append(f"{type(e).__module__}.{type(e).__name__}: {e}")

    threads = [threading.Thread(target=guard, args=(fn,), daemon=True) for fn in fns]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline_s - (time.perf_counter() - t0)))
    hung = sum(t.is_alive() for t in threads)
    assert not hung, f"{hung} threads still running after {deadline_s} s"
    return errors, time.perf_counter() - t0


def test_concurrent_predict_and_training_on_one_device():
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(int(rng.integers(1, 9)), 12)).astype(np.float32) for _ in range(8)]
    model = _mlp(1)
    # Reference: float64 numpy on the model's weights; then the serial GPU results.
    weights = model.get_weights()
    serial = [model.predict(x, verbose=0) for x in inputs]
    for x, out in zip(inputs, serial):
        np.testing.assert_allclose(out, _numpy_mlp(weights, x), rtol=1e-5, atol=1e-5)

    x_train = rng.normal(size=(16, 12)).astype(np.float32)
    y_train = rng.normal(size=(16, 5)).astype(np.float32)
    trainer = _mlp(2, compile=True)
    start = trainer.get_weights()
    serial_losses = [float(trainer.train_on_batch(x_train, y_train)) for _ in range(TRAIN_STEPS)]
    serial_trained = trainer.get_weights()
    trainer.set_weights(start)
    trainer.optimizer = None
    trainer.compile(em.optimizers.SGD(0.05), "mse")

    wrong: list = []
    losses: list = []

    def predictor(tid):
        def run():
            for k in range(PREDICTS_PER_THREAD):
                i = (tid * 3 + k) % len(inputs)
                out = model.predict(inputs[i], verbose=0)
                if not np.array_equal(out, serial[i]):
                    wrong.append((tid, k, float(np.max(np.abs(out - serial[i])))))
        return run

    def train():
        for _ in range(TRAIN_STEPS):
            losses.append(float(trainer.train_on_batch(x_train, y_train)))

    errors, _ = _run_threads([predictor(t) for t in range(PREDICT_THREADS)] + [train], DEADLINE_S)
    assert not errors, f"{len(errors)} threads failed:\n" + "\n".join(errors)
    assert not wrong, f"{len(wrong)} predictions differ from the serial ones, e.g. {wrong[:5]}"
    np.testing.assert_array_equal(losses, serial_losses)
    for a, b in zip(trainer.get_weights(), serial_trained):
        np.testing.assert_array_equal(a, b)
    # The device still works: a fresh computation against numpy.
    a = rng.normal(size=(7, 12)).astype(np.float32)
    got = (em.tensor(a, device="gpu") @ em.tensor(a.T, device="gpu")).numpy()
    np.testing.assert_allclose(got, a.astype(np.float64) @ a.T.astype(np.float64), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(model.predict(inputs[0], verbose=0), serial[0])


def _record_invalid_dispatch(rt, b=None):
    """Records a dispatch WebGPU rejects: one buffer bound both read-only and read-write
    (conflicting usages in one pass). wgpu reports it when the encoder is submitted."""
    b = rt.alloc(4) if b is None else b
    rt.dispatch("elementwise/unary", "unary_relu", [b], [b], (4, ("f", 0.0)), threads=4)


def test_failed_encoding_does_not_poison_the_device():
    """A rejected command does not take the rest of its encoder down: the flush raises
    GpuError, the work recorded with it still runs, a tensor computed from the rejected
    command's output raises when read instead of returning garbage, and the device keeps
    working."""
    from ember.backend import get_backend
    from ember.tensor import Tensor

    be = get_backend("gpu")
    rt = be.rt
    x = em.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="gpu")
    w = em.Variable(np.ones((2, 3), np.float32), device="gpu")
    pending = x * 2.0  # recorded, not yet submitted
    w.assign(x + 1.0)  # an in-place update in the same encoder
    b = rt.alloc(4)
    _record_invalid_dispatch(rt, b)
    downstream = em.ops.relu(Tensor._wrap(b, (4,), "float32", be))  # reads the rejected output
    with pytest.raises(GpuError, match="unary_relu"):
        rt.flush()
    np.testing.assert_array_equal(pending.numpy(), np.arange(6).reshape(2, 3) * 2.0)
    np.testing.assert_array_equal(w.numpy(), np.arange(6).reshape(2, 3) + 1.0)
    with pytest.raises(GpuError, match="never computed"):
        downstream.numpy()
    with pytest.raises(GpuError, match="never computed"):
        em.ops.relu(downstream)  # nor can it feed another op
    np.testing.assert_array_equal((x * 3.0).numpy(), np.arange(6).reshape(2, 3) * 3.0)
    model = _mlp(3)
    np.testing.assert_allclose(model.predict(np.ones((2, 12), np.float32), verbose=0),
                               _numpy_mlp(model.get_weights(), np.ones((2, 12))), rtol=1e-5, atol=1e-5)
    assert rt._encoder is None and not rt._log


def test_rejected_command_is_reported_to_the_thread_that_recorded_it():
    """Thread A records a command the device rejects; thread B submits the encoder. B's
    own work runs and B sees no error; A gets the GpuError at its next sync."""
    from ember.backend import get_backend

    rt = get_backend("gpu").rt
    recorded, flushed = threading.Event(), threading.Event()
    seen: list = []

    def a():
        _record_invalid_dispatch(rt)
        recorded.set()
        flushed.wait(30)
        try:
            rt.flush()
        except GpuError as e:
            seen.append(str(e))

    th = threading.Thread(target=a, daemon=True)
    th.start()
    assert recorded.wait(30)
    t = em.tensor(np.ones(4, np.float32), device="gpu") * 3.0
    np.testing.assert_array_equal(t.numpy(), np.full(4, 3.0))  # submits A's command too
    flushed.set()
    th.join(30)
    assert len(seen) == 1 and "unary_relu" in seen[0], seen
    rt.flush()  # reported once, to A only
