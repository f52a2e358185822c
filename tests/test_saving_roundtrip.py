"""Round trips of every model kind through ``model.save`` / ``load_model`` on each
backend: the loaded model predicts exactly what the saved one did, and training it on
continues bit for bit like a run that was never saved (save after one epoch, load,
train one more == two epochs uninterrupted, exact equality), with Dropout and shuffling
on. A ``.keras`` file, like Keras's, holds no random-stream state: the test carries the
streams over with `callbacks.backup_and_restore.random_state` as a restarted program
using `BackupAndRestore` would."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.callbacks.backup_and_restore import random_state, set_random_state
from conftest import BACKENDS

L = em.layers
RNG = np.random.default_rng(0)
N = 12


@em.saving.register_serializable(package="test_roundtrip")
class Scale(L.Layer):
    """A registered custom layer with its own weight and a sublayer."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.proj = L.Dense(units, activation="tanh")

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

    def call(self, x):
        return self.proj(x) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@em.saving.register_serializable(package="test_roundtrip")
class Net(em.Model):
    """A registered subclassed model."""

    def __init__(self, hidden=5, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.block = Scale(hidden)
        self.drop = L.Dropout(0.25, seed=4)
        self.out = L.Dense(2)

    def call(self, x, training=False):
        return self.out(self.drop(self.block(x), training=training))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


def mlp():
    return em.Sequential([em.Input((4,)), L.Dense(8, activation="relu"), L.BatchNormalization(), L.Dropout(0.3),
                          L.LayerNormalization(), L.Dense(2)])


def conv():
    return em.Sequential([em.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same", activation="relu"), L.MaxPooling2D(),
                          L.Conv2D(2, 2), L.AveragePooling2D(2), L.Flatten(), L.Dropout(0.2, seed=1), L.Dense(2)])


def rnn():
    return em.Sequential([em.Input((5,), dtype="int32"), L.Embedding(10, 4), L.LSTM(3, return_sequences=True),
                          L.Bidirectional(L.GRU(2, return_sequences=True)), L.SimpleRNN(2, dropout=0.2)])


def functional():
    a, b = em.Input((4,), name="a"), em.Input((3,), name="b")
    inner = em.Sequential([em.Input((7,)), L.Dense(6, activation="tanh"), L.Dropout(0.2)], name="inner")
    h = inner(L.Concatenate()([a, b]))
    h = L.Add()([h, L.Dense(6)(a)])
    return em.Model([a, b], [L.Dense(2, name="o1")(h), L.Dense(1, name="o2")(h)])


def subclassed():
    m = Net()
    m(np.zeros((1, 4), np.float32))
    return m


KINDS = {"mlp": mlp, "conv": conv, "rnn": rnn, "functional": functional, "subclassed": subclassed}
DATA = {
    "mlp": (RNG.normal(size=(N, 4)), RNG.normal(size=(N, 2))),
    "conv": (RNG.normal(size=(N, 6, 6, 2)), RNG.normal(size=(N, 2))),
    "rnn": (RNG.integers(0, 10, size=(N, 5)), RNG.normal(size=(N, 2))),
    "functional": ([RNG.normal(size=(N, 4)), RNG.normal(size=(N, 3))], [RNG.normal(size=(N, 2)), RNG.normal(size=(N, 1))]),
    "subclassed": (RNG.normal(size=(N, 4)), RNG.normal(size=(N, 2))),
}


def _f32(a):
    return [_f32(v) for v in a] if isinstance(a, list) else (a.astype(np.int32) if a.dtype.kind == "i" else a.astype(np.float32))


def make(kind):
    em.utils.set_random_seed(3)
    m = KINDS[kind]()
    loss = ["mse", "mse"] if kind == "functional" else "mse"
    opt = em.optimizers.SGD(0.05, momentum=0.9) if kind == "conv" else em.optimizers.Adam(0.01)
    m.compile(opt, loss)
    return m


def fit(m, kind):
    x, y = DATA[kind]
    return m.fit(_f32(x), _f32(y), epochs=1, batch_size=4, shuffle=True, verbose=0).history["loss"]


def assert_equal_lists(a, b):
    a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.timeout(300)
def test_round_trip_predicts_identically_and_trains_on_bit_for_bit(tmp_path, backend, kind):
    fmt = "npz" if kind in ("mlp", "rnn") else "h5"
    if fmt == "h5":
        pytest.importorskip("h5py")
    x = _f32(DATA[kind][0])
    with em.device(backend):
        straight = make(kind)
        losses = fit(straight, kind) + fit(straight, kind)  # two epochs, never saved

        m = make(kind)
        first = fit(m, kind)
        streams = random_state(m)
        path = tmp_path / f"{kind}.keras"
        m.save(path, weights_format=fmt)
        r = em.models.load_model(path)
    assert type(r) is type(m)
    if kind != "subclassed":  # a subclassed model's sublayers get fresh automatic names, as in Keras
        assert [w.path for w in r.weights] == [w.path for w in m.weights]
    assert_equal_lists(r.get_weights(), m.get_weights())
    assert_equal_lists(r.predict(x, verbose=0), m.predict(x, verbose=0))
    assert int(r.optimizer.iterations) == int(m.optimizer.iterations) == 3
    set_random_state(r, streams)
    second = fit(r, kind)
    assert first + second == losses
    assert_equal_lists(r.get_weights(), straight.get_weights())
