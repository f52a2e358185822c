"""LearningRateScheduler, ReduceLROnPlateau and TerminateOnNaN against Keras 3 semantics."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em


def _model(lr=0.1, device="cpu"):
    with em.device(device):
        m = em.Sequential([em.Input((3,)), em.layers.Dense(1)])
    m.compile(optimizer=em.optimizers.SGD(lr), loss="mse")
    return m


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32)


def test_learning_rate_scheduler_sets_each_epoch_and_logs(backend_name):
    x, y = _data()
    m = _model(0.1, backend_name)
    seen = []
    cb = em.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    spy = em.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs=None: seen.append(float(m.optimizer.learning_rate)))
    h = m.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[cb, spy])
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.025, 0.0125])
    np.testing.assert_allclose(h.history["learning_rate"], [0.1, 0.05, 0.025, 0.0125])
    # The rate really drives the update: one SGD step of size lr on a known gradient.
    m2 = _model(1.0, backend_name)
    w0 = [w.copy() for w in m2.get_weights()]
    m2.fit(x[:8], y[:8], epochs=1, batch_size=8, verbose=0, shuffle=False,
           callbacks=[em.callbacks.LearningRateScheduler(lambda epoch: 0.0)])
    for a, b in zip(w0, m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_waits_patience_then_cools_down():
    x, y = _data()
    m = _model(0.0)  # lr 0: the loss never improves, a plateau from epoch 1
    cb = em.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.0)
    m.optimizer.learning_rate = 0.0
    h = m.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert h.history["learning_rate"] == [0.0]
    # With a real rate but frozen weights (trainable=False) the loss is flat too.
    m = _model(0.8)
    m.layers[0].trainable = False
    cb = em.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.15)
    h = m.fit(x, y, epochs=8, batch_size=32, verbose=0, callbacks=[cb])
    # Keras 3 logs the rate the epoch used, then decides: best at epoch 0; wait 2 at epoch 2
    # -> 0.4 from epoch 3, which is a cooldown epoch (wait reset, then counts 1); wait 2 at
    # epoch 4 -> 0.2; cooldown at 5 (wait 1); epoch 6 -> max(0.1, min_lr 0.15).
    np.testing.assert_allclose(h.history["learning_rate"], [0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.15])


def test_terminate_on_nan_stops_training():
    x, y = _data()
    m = _model(1e30)
    h = m.fit(x * 1e10, y * 1e10, epochs=5, batch_size=4, verbose=0, callbacks=[em.callbacks.TerminateOnNaN()])
    assert len(h.history["loss"]) == 1 and not np.isfinite(h.history["loss"][0])


@pytest.mark.parametrize("make", [
    lambda: em.callbacks.LearningRateScheduler(0.1),
    lambda: em.callbacks.ReduceLROnPlateau(factor=1.0),
    lambda: em.callbacks.ReduceLROnPlateau(patience=-1),
    lambda: em.callbacks.ReduceLROnPlateau(mode="up"),
    lambda: em.callbacks.ReduceLROnPlateau(min_lr=-1.0),
])
def test_bad_configurations_raise_value_error(make):
    with pytest.raises(ValueError):
        make()
