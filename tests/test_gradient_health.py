"""callbacks.GradientHealth: per-layer gradient norms in History, warnings that name the
layer when gradients vanish or explode, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.callbacks import GradientHealth, GradientHealthWarning


def _data(rng, n=32, d=8):
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, 1)).astype(np.float32)


def test_recorded_norms_match_a_float64_backprop(backend_name, rng):
    """One full-batch step per epoch: the recorded norm of each layer is the L2 norm of
    the gradient that step used, checked against a hand-written float64 backprop."""
    x, y = _data(rng, n=16, d=3)
    with em.device(backend_name):
        model = em.Sequential([em.Input((3,)), em.layers.Dense(4, activation="tanh", name="hidden"),
                               em.layers.Dense(1, name="out")])
    w1, b1, w2, b2 = (a.astype(np.float64) for a in model.get_weights())
    model.compile(em.optimizers.SGD(0.1), "mse")
    cb = GradientHealth()
    hist = model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[cb])

    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    h = np.tanh(x64 @ w1 + b1)
    pred = h @ w2 + b2
    gpred = 2.0 * (pred - y64) / pred.size  # d mean((pred - y)^2)
    gw2, gb2 = h.T @ gpred, gpred.sum(0)
    gz = (gpred @ w2.T) * (1.0 - h ** 2)
    gw1, gb1 = x64.T @ gz, gz.sum(0)
    expected = {
        "hidden": np.sqrt(np.sum(gw1 ** 2) + np.sum(gb1 ** 2)),
        "out": np.sqrt(np.sum(gw2 ** 2) + np.sum(gb2 ** 2)),
    }
    for name, value in expected.items():
        got = hist.history[f"grad_norm/{name}"]
        assert len(got) == 1
        np.testing.assert_allclose(got[0], value, rtol=1e-4, err_msg=name)
        assert cb.norms[name] == got
    assert cb.unhealthy == []
    assert model._grad_observers == (), "the callback unregisters itself after fit"


def test_norms_are_the_mean_over_the_epoch_steps_and_kept_per_epoch(rng):
    x, y = _data(rng, n=24, d=4)
    model = em.Sequential([em.Input((4,)), em.layers.Dense(3, name="a"), em.layers.Dropout(0.1),
                           em.layers.Dense(1, name="b")])
    model.compile(em.optimizers.SGD(0.0), "mse")  # lr 0: every epoch sees the same weights
    steps = []
    model._grad_observers = (lambda v, g: steps.append(np.sqrt(sum(float(np.sum(np.square(gi.numpy())))
                                                                   for vi, gi in zip(v, g) if vi.name.startswith("a/")))),)
    cb = GradientHealth()
    hist = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[cb])
    assert set(k for k in hist.history if k.startswith("grad_norm/")) == {"grad_norm/a", "grad_norm/b"}
    assert len(hist.history["grad_norm/a"]) == 3
    per_epoch = np.array(steps).reshape(3, 3).mean(axis=1)
    np.testing.assert_allclose(hist.history["grad_norm/a"], per_epoch, rtol=1e-5)


def test_vanishing_gradients_warn_naming_the_layer(backend_name, rng):
    x, y = _data(rng)
    layers = [em.Input((8,))]
    for i in range(8):
        layers.append(em.layers.Dense(8, activation="sigmoid", name=f"sig{i}",
                                      kernel_initializer=em.initializers.RandomNormal(stddev=0.01)))
    layers.append(em.layers.Dense(1, name="head"))
    with em.device(backend_name):
        model = em.Sequential(layers)
    model.compile("sgd", "mse")
    cb = GradientHealth(vanish_threshold=1e-7)
    with pytest.warns(GradientHealthWarning) as record:
        hist = model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert any("layer 'sig0' are vanishing at epoch 1: mean gradient norm" in str(w.message) for w in record)
    norms = [hist.history[f"grad_norm/sig{i}"][0] for i in range(8)]
    assert norms[0] < 1e-7 < norms[-1]
    assert all(a < b for a, b in zip(norms, norms[1:])), "each sigmoid layer shrinks the gradient"
    warned = {str(w.message).split("'")[1] for w in record if issubclass(w.category, GradientHealthWarning)}
    flagged = {name for _, name, kind, _ in cb.unhealthy if kind == "vanishing"}
    assert warned == flagged == {f"sig{i}" for i in range(8) if norms[i] < 1e-7}
    assert "head" not in warned


def test_exploding_gradients_warn_naming_the_layer(backend_name, rng):
    x, y = _data(rng)
    layers = [em.Input((8,))]
    for i in range(4):
        layers.append(em.layers.Dense(32, name=f"lin{i}", kernel_initializer=em.initializers.RandomNormal(stddev=2.0)))
    layers.append(em.layers.Dense(1, name="head", kernel_initializer=em.initializers.RandomNormal(stddev=2.0)))
    with em.device(backend_name):
        model = em.Sequential(layers)
    model.compile(em.optimizers.SGD(1e-12), "mse")
    cb = GradientHealth(explode_threshold=1e3)
    with pytest.warns(GradientHealthWarning) as record:
        hist = model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    messages = [str(w.message) for w in record]
    assert any("layer 'lin0' are exploding at epoch 1: mean gradient norm" in m and "above explode_threshold=1000" in m
               for m in messages), messages
    assert np.isfinite(hist.history["grad_norm/lin0"][0]) and hist.history["grad_norm/lin0"][0] > 1e3
    assert ("exploding" in {kind for _, name, kind, _ in cb.unhealthy if name == "lin0"})


def test_non_finite_gradients_count_as_exploding(rng):
    x, y = _data(rng)
    model = em.Sequential([em.Input((8,)), em.layers.Dense(8, name="big"), em.layers.Dense(1, name="top")])
    model.compile(em.optimizers.SGD(1e30), "mse")  # the first update overflows the weights
    with pytest.warns(GradientHealthWarning) as record:
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[GradientHealth()])
    messages = [str(w.message) for w in record]
    assert any("'big' are exploding at epoch 2: mean gradient norm nan is not finite" in m for m in messages), messages


def test_healthy_network_gives_no_warning_and_warn_false_only_records(rng):
    x, y = _data(rng)
    model = em.Sequential([em.Input((8,)), em.layers.Dense(16, activation="relu"), em.layers.BatchNormalization(),
                           em.layers.Dense(1)])
    model.compile("adam", "mse")
    cb = GradientHealth()
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])  # filterwarnings=error
    assert cb.unhealthy == []
    bn_name = model.layers[1].name
    assert len(hist.history[f"grad_norm/{bn_name}"]) == 2 and hist.history[f"grad_norm/{bn_name}"][0] > 0

    quiet = GradientHealth(vanish_threshold=1e3, explode_threshold=1e4, warn=False)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[quiet])  # would warn for every layer
    assert {name for _, name, _, _ in quiet.unhealthy} == {l.name for l in model.layers}


@pytest.mark.parametrize("kwargs,word", [
    ({"vanish_threshold": -1.0}, "vanish_threshold"),
    ({"vanish_threshold": 0.0}, "vanish_threshold"),
    ({"explode_threshold": float("inf")}, "explode_threshold"),
    ({"explode_threshold": "big"}, "explode_threshold"),
    ({"vanish_threshold": 10.0, "explode_threshold": 1.0}, "vanish_threshold"),
    ({"warn": "yes"}, "warn"),
])
def test_bad_configuration_raises_naming_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        GradientHealth(**kwargs)
