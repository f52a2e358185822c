"""Reliability: no silent integer wraps or float32 overflows, no made-up losses, argument
checks before any step, the right error types, a bounded thread count, and callbacks told
of each batch once. Each test provokes one case of the reliability issue exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import ember as em
from ember.errors import DTypeError, EmberError, InvalidArgumentError, OutOfMemoryError, ShapeError

X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=(10, 3)).astype(np.float32)


def mlp(loss="mse", metrics=None, seed=0):
    em.utils.set_random_seed(seed)
    model = em.Sequential([em.Input((4,)), em.layers.Dense(5, activation="relu"), em.layers.Dense(3)])
    model.compile(em.optimizers.SGD(0.01), loss, metrics=metrics)
    return model


class Unchanged:
    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.before = [w.copy() for w in self.model.get_weights()]
        return self

    def __exit__(self, *exc):
        for a, b in zip(self.before, self.model.get_weights()):
            np.testing.assert_array_equal(a, b)
        return False


# -- 2. integers never wrap -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_tensor_out_of_int32_range_raises(dtype):
    with pytest.raises(DTypeError) as e:
        em.tensor(np.array([2**32 + 1, 2**40], dtype=dtype))
    msg = str(e.value)
    assert str(2**40) in msg and np.dtype(dtype).name in msg and "int32" in msg


def test_tensor_negative_out_of_range_and_float_to_int():
    with pytest.raises(DTypeError, match=str(-(2**40))):
        em.tensor(np.array([1, -(2**40)]))
    with pytest.raises(DTypeError):
        em.tensor(np.array([3e9]), dtype="int32")
    np.testing.assert_array_equal(em.tensor(np.array([-(2**31), 2**31 - 1])).numpy(), [-(2**31), 2**31 - 1])


def test_variable_assign_out_of_int32_range_raises():
    v = em.Variable(np.zeros(2, np.int32))
    with pytest.raises(DTypeError):
        v.assign(np.array([1, 2**33], np.int64))
    np.testing.assert_array_equal(v.numpy(), [0, 0])


def test_fit_sparse_labels_beyond_int32_raise_not_wrap():
    model = mlp("sparse_categorical_crossentropy")
    y = np.arange(10, dtype=np.int64) % 3
    y[4] = 2**32 + 1  # would wrap to class 1, a valid label
    with Unchanged(model), pytest.raises(DTypeError) as e:
        model.fit(X, y, verbose=0)
    assert str(2**32 + 1) in str(e.value) and "int64" in str(e.value)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_fit_integer_regression_targets_convert_like_keras(dtype):
    """Keras casts y_true to the prediction's dtype: int64 targets of 2**40 train exactly
    as the float32 targets 2**40 do (before, they wrapped to 0)."""
    y = np.full((10, 3), 2**40, dtype=dtype)
    got = mlp(seed=3).fit(X, y, epochs=2, shuffle=False, verbose=0).history["loss"]
    ref = mlp(seed=3).fit(X, y.astype(np.float32), epochs=2, shuffle=False, verbose=0).history["loss"]
    assert got == ref
    assert got[0] > 1e23  # (2**40)**2 scale: not the loss of wrapped zeros


def test_fit_integer_inputs_beyond_int32_raise():
    with pytest.raises(DTypeError, match="fit: x"):
        mlp().fit(np.full((10, 4), 2**40, np.int64), Y, verbose=0)


# -- 3. finite after the cast to float32 ---------------------------------------------------------

@pytest.mark.parametrize("where", ["x", "y", "sample_weight", "validation_data"])
def test_float64_beyond_float32_range_is_refused(where):
    model = mlp()
    x, y, sw = X.astype(np.float64), Y.astype(np.float64), np.ones(10)
    kwargs = {}
    if where == "x":
        x[0, 0] = 1e300
    elif where == "y":
        y[3, 2] = -1e300
    elif where == "sample_weight":
        sw[5] = 1e300
        kwargs["sample_weight"] = sw
    else:
        xv = X.astype(np.float64)
        xv[1, 1] = 1e39
        kwargs["validation_data"] = (xv, Y)
    with Unchanged(model), pytest.raises(InvalidArgumentError) as e:
        model.fit(x, y, verbose=0, **kwargs)
    msg = str(e.value)
    assert "non-finite" in msg and "float32" in msg
    index = {"x": "(0, 0)", "y": "(3, 2)", "sample_weight": "(5,)", "validation_data": "(1, 1)"}[where]
    assert index in msg and (where.split("_")[0] in msg)


# -- 4. no made-up values ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate", "test_on_batch", "train_on_batch"])
def test_empty_data_is_an_error_not_a_zero_loss(method):
    model = mlp(metrics=["mae"])
    kwargs = {"verbose": 0} if method in ("fit", "evaluate") else {}
    with Unchanged(model), pytest.raises(InvalidArgumentError, match="0 samples"):
        getattr(model, method)(X[:0], Y[:0], **kwargs)


def test_evaluate_with_metrics_returns_a_list():
    out = mlp(metrics=["mae"]).evaluate(X, Y, verbose=0)
    assert isinstance(out, list) and len(out) == 2


def test_predict_on_empty_data_is_empty():
    assert mlp().predict(X[:0], verbose=0).shape == (0, 3)


@pytest.mark.parametrize("bad", [0, -1, "x", 2.5, True])
def test_bad_steps_per_epoch(bad):
    model = mlp()
    with Unchanged(model), pytest.raises(InvalidArgumentError, match="steps_per_epoch"):
        model.fit(X, Y, epochs=2, steps_per_epoch=bad, verbose=0)


@pytest.mark.parametrize("bad", [-3, 0, 1.5, "8"])
def test_bad_validation_batch_size(bad):
    model = mlp()
    with Unchanged(model), pytest.raises(InvalidArgumentError, match="validation_batch_size"):
        model.fit(X, Y, validation_data=(X, Y), validation_batch_size=bad, verbose=0)


def test_steps_per_epoch_limits_the_steps():
    seen = []

    class Count(em.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    mlp().fit(X, Y, batch_size=2, epochs=2, steps_per_epoch=3, verbose=0, callbacks=[Count()])
    assert seen == [0, 1, 2, 0, 1, 2]


# -- 5. checks before any step, with Ember's types -------------------------------------------------------

@pytest.mark.parametrize("loss,y_val", [("mse", np.zeros((10, 5), np.float32)),
                                        ("sparse_categorical_crossentropy", np.zeros((10, 5), np.float32))])
def test_validation_targets_that_do_not_fit_are_refused_before_training(loss, y_val):
    model = mlp(loss)
    y = Y if loss == "mse" else np.arange(10) % 3
    with Unchanged(model), pytest.raises(ShapeError, match="validation_data"):
        model.fit(X, y, validation_data=(X, y_val), verbose=0)
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize("bad", [0, -2, 1.5, "1"])
def test_bad_validation_freq(bad):
    model = mlp()
    with Unchanged(model), pytest.raises(InvalidArgumentError, match="validation_freq"):
        model.fit(X, Y, validation_data=(X, Y), validation_freq=bad, verbose=0)


def test_validation_freq_runs_every_n_epochs():
    h = mlp().fit(X, Y, validation_data=(X, Y), validation_freq=2, epochs=4, verbose=0).history
    assert len(h["loss"]) == 4 and len(h["val_loss"]) == 2


@pytest.mark.parametrize("shape", [(2**40,), (2**31, 2**31)])
def test_cpu_allocation_failure_is_out_of_memory(shape):
    with pytest.raises(OutOfMemoryError) as e:
        em.zeros(shape, device="cpu")
    assert isinstance(e.value, MemoryError) and isinstance(e.value, EmberError)
    assert "out of memory" in str(e.value)


def test_ones_like_takes_array_likes():
    np.testing.assert_array_equal(em.ops.ones_like(np.zeros((2, 3))).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(em.ops.zeros_like([1.0, 2.0]).numpy(), [0.0, 0.0])
    with pytest.raises(EmberError):
        em.ops.ones_like(object())


# -- 6. a bounded thread count ------------------------------------------------------------------------

def test_set_num_threads_rejects_absurd_counts_at_once():
    before = em.get_num_threads()
    cap = em.config.max_num_threads()
    assert cap >= 4 * (os.cpu_count() or 1) and cap >= 64
    for bad in (2**40, cap + 1):
        t0 = time.perf_counter()
        with pytest.raises(InvalidArgumentError, match=str(cap)):
            em.set_num_threads(bad)
        assert time.perf_counter() - t0 < 1.0  # refused before any thread starts
    assert em.get_num_threads() == before
    with pytest.raises(InvalidArgumentError):
        em._core.set_num_threads(2**40)  # the native entry point is bounded too


def test_ember_num_threads_beyond_the_cap_fails_at_import():
    r = subprocess.run([sys.executable, "-c", "import ember"], env={**os.environ, "EMBER_NUM_THREADS": str(2**40)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "InvalidArgumentError" in r.stderr and "EMBER_NUM_THREADS" in r.stderr


# -- 7. a NaN batch is reported once -------------------------------------------------------------------------

@pytest.mark.parametrize("terminate", [False, True])
def test_nan_batch_reported_once_to_every_callback(terminate):
    class Record(em.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append((batch, logs["loss"]))

    a, b = Record(), Record()
    model = em.Sequential([em.Input((4,)), em.layers.Dense(3)])
    model.compile(em.optimizers.SGD(1e30), "mse")  # diverges to inf, then NaN
    cbs = [a, em.callbacks.TerminateOnNaN(), b] if terminate else [a, b]
    model.fit(X * 1e3, Y * 1e3, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=cbs)
    assert a.batches == b.batches or all(np.isnan(x[1]) and np.isnan(y[1]) and x[0] == y[0] for x, y in zip(a.batches, b.batches))
    steps = [s for s, _ in a.batches]
    assert steps == list(range(len(steps)))  # each batch once, in order
    assert any(not np.isfinite(loss) for _, loss in a.batches)
    if terminate:
        assert not np.isfinite(a.batches[-1][1]) and all(np.isfinite(loss) for _, loss in a.batches[:-1])
    else:
        assert len(steps) == 5
