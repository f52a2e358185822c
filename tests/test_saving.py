"""Whole-model ``.keras`` files (`ember.saving.saving_lib`): round trips, malformed files,
and interop with real Keras 3 when it is installed."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, SerializationError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 4)).astype(np.float32)
Y = RNG.normal(size=(16, 2)).astype(np.float32)
HAVE_H5PY = importlib.util.find_spec("h5py") is not None
FORMATS = ["npz"] + (["h5"] if HAVE_H5PY else [])


def sequential():
    m = em.Sequential([em.Input((4,)), em.layers.Dense(8, activation="relu"), em.layers.BatchNormalization(),
                       em.layers.Dropout(0.2), em.layers.Dense(2)])
    m.compile("adam", "mse", metrics=["mae"])
    return m


def functional():
    a, b = em.Input((3,), name="a"), em.Input((1,), name="b")
    inner = em.Sequential([em.Input((4,)), em.layers.Dense(5, activation="tanh")])
    h = inner(em.layers.Concatenate()([a, b]))
    o1, o2 = em.layers.Dense(1, name="o1")(h), em.layers.Dense(2, name="o2")(h)
    m = em.Model([a, b], [o1, o2])
    m.compile(em.optimizers.SGD(0.05, momentum=0.9), ["mse", "mse"], loss_weights=[1.0, 0.5])
    return m


def fx(m):
    return [X[:, :3], X[:, 3:]] if isinstance(m.input, list) else X


def fy(m):
    return [Y[:, :1], Y] if isinstance(m.input, list) else Y


def assert_same(a, b):
    for p, q in zip(np.atleast_1d(a) if not isinstance(a, list) else a, b if isinstance(b, list) else np.atleast_1d(b)):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


def train(m, epochs=1):
    em.utils.set_random_seed(7)
    return m.fit(fx(m), fy(m), epochs=epochs, batch_size=8, shuffle=False, verbose=0).history["loss"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", [sequential, functional], ids=["sequential", "functional"])
def test_round_trip_predictions_and_resumed_training(tmp_path, make, fmt):
    m = make()
    train(m, 2)
    path = tmp_path / "m.keras"
    m.save(path, weights_format=fmt)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"metadata.json", "config.json", f"model.weights.{fmt}"}
        config = json.loads(zf.read("config.json"))
        assert "compile_config" in config and (make is functional or "build_config" in config)
        assert json.loads(zf.read("metadata.json"))["keras_version"].startswith("3.")
    r = em.models.load_model(path)
    assert type(r) is type(m)
    assert_same(m.predict(fx(m), verbose=0), r.predict(fx(r), verbose=0))
    assert r.optimizer.iterations == m.optimizer.iterations
    # optimizer state restored: continued training is identical
    assert train(m, 2) == train(r, 2)
    assert_same(m.predict(fx(m), verbose=0), r.predict(fx(r), verbose=0))


def test_npz_layout_is_keras_paths(tmp_path):
    m = sequential()
    train(m)
    m.save(tmp_path / "m.keras", weights_format="npz")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        npz = np.load(io.BytesIO(zf.read("model.weights.npz")), allow_pickle=False)
    assert "layers/dense/vars/0" in npz.files and "layers/dense_1/vars/1" in npz.files
    assert npz["layers/batch_normalization/vars/3"].shape == (8,)  # moving_variance, after the trainables
    assert npz["optimizer/vars/0"] == m.optimizer.iterations
    np.testing.assert_allclose(npz["optimizer/vars/1"], 0.001)  # the constant learning rate, as Keras stores it


def test_nested_and_subclassed_parts(tmp_path):
    @em.saving.register_serializable(package="test_saving")
    class Block(em.layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = em.layers.Dense(units)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

        def call(self, x):
            return self.inner(x) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    m = em.Sequential([em.Input((4,)), Block(3), em.Sequential([em.Input((3,)), em.layers.Dense(2)])])
    m.compile("rmsprop", "mse")
    train(m)
    m.save(tmp_path / "m.keras", weights_format="npz")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        names = np.load(io.BytesIO(zf.read("model.weights.npz")), allow_pickle=False).files
    assert "layers/block/vars/0" in names and "layers/block/inner/vars/0" in names
    assert "layers/sequential/layers/dense/vars/0" in names
    r = em.models.load_model(tmp_path / "m.keras")
    assert_same(m.predict(X, verbose=0), r.predict(X, verbose=0))
    assert train(m) == train(r)


def test_custom_objects_and_compile_false(tmp_path):
    class Doubler(em.layers.Layer):
        def call(self, x):
            return x * 2.0

    m = em.Sequential([em.Input((4,)), Doubler(), em.layers.Dense(2)])
    m.compile("adam", "mse")
    m.save(tmp_path / "m.keras")
    with pytest.raises(SerializationError):
        em.models.load_model(tmp_path / "m.keras")
    r = em.saving.load_model(tmp_path / "m.keras", custom_objects={"Doubler": Doubler}, compile=False)
    assert not r.compiled
    assert_same(m.predict(X, verbose=0), r.predict(X, verbose=0))


def test_save_is_atomic_and_respects_overwrite(tmp_path):
    m = sequential()
    path = tmp_path / "m.keras"
    m.save(path)
    with pytest.raises(InvalidArgumentError):
        m.save(path, overwrite=False)
    with pytest.raises(InvalidArgumentError):
        m.save(tmp_path / "m.h5")
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # a plain open's mode, not the temporary's 0600
    os.chmod(path, 0o640)
    m.save(path)
    assert path.stat().st_mode & 0o777 == 0o640  # an overwritten file keeps its mode


@pytest.mark.parametrize("bad", [None, 3, "", b"x.keras", ["a"], np.ones(2)])
def test_bad_arguments_are_ember_errors(tmp_path, bad):
    m = sequential()
    with pytest.raises(em.errors.EmberError):
        m.save(bad)
    with pytest.raises(em.errors.EmberError):
        em.models.load_model(bad)
    path = tmp_path / "m.keras"
    m.save(path)
    with pytest.raises(em.errors.EmberError):
        em.models.load_model(path, compile=bad)
    with pytest.raises(em.errors.EmberError):
        em.models.load_model(path, custom_objects=bad if bad is not None else 3)


# -- malformed files ---------------------------------------------------------------------------

def _rewrite(src, dst, edit):
    """Copies the zip ``src`` to ``dst`` with ``edit(name, data) -> [(name, data)]``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            for name, data in edit(info.filename, zin.read(info)):
                zout.writestr(name, data)


def _npz_edit(fn):
    def edit(name, data):
        if name != "model.weights.npz":
            return [(name, data)]
        arrays = dict(np.load(io.BytesIO(data), allow_pickle=False))
        fn(arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return [(name, buf.getvalue())]
    return edit


MALFORMED = {
    "truncated": None,
    "not a zip": None,
    "traversal name": lambda n, d: [("../evil.txt" if n == "metadata.json" else n, d)],
    "absolute name": lambda n, d: [("/etc/passwd" if n == "metadata.json" else n, d)],
    "no config": lambda n, d: [] if n == "config.json" else [(n, d)],
    "config not json": lambda n, d: [(n, b"{not json" if n == "config.json" else d)],
    "no weights": lambda n, d: [] if n.startswith("model.weights") else [(n, d)],
    "wrong shape": _npz_edit(lambda a: a.__setitem__("layers/dense/vars/0", np.zeros((4, 9), np.float32))),
    "missing variable": _npz_edit(lambda a: a.pop("layers/dense_1/vars/1")),
    "extra layer": _npz_edit(lambda a: a.__setitem__("layers/dense_7/vars/0", np.zeros(2, np.float32))),
    "string dtype": _npz_edit(lambda a: a.__setitem__("layers/dense/vars/1", np.array(["a"] * 8))),
    "non-finite": _npz_edit(lambda a: a.__setitem__("layers/dense/vars/1", np.full(8, np.nan, np.float32))),
    "bad optimizer state": _npz_edit(lambda a: a.__setitem__("optimizer/vars/3", np.zeros((1, 1), np.float32))),
    "pickled npz": "pickle",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_and_change_nothing(tmp_path, case):
    m = sequential()
    train(m)
    good = tmp_path / "good.keras"
    m.save(good, weights_format="npz")
    bad = tmp_path / "bad.keras"
    edit = MALFORMED[case]
    if case == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "not a zip":
        bad.write_bytes(b"hello, not a zip file")
    elif edit == "pickle":  # Keras's NpzIOStore layout: object arrays, never unpickled
        def pickled(name, data):
            if name != "model.weights.npz":
                return [(name, data)]
            buf = io.BytesIO()
            np.savez(buf, **{"layers/dense": np.array({"0": np.zeros((4, 8))}, dtype=object)})
            return [(name, buf.getvalue())]
        _rewrite(good, bad, pickled)
    else:
        _rewrite(good, bad, edit)
    with pytest.raises(SerializationError):
        em.models.load_model(bad)
    before = [w.copy() for w in m.get_weights()]
    try:
        em.saving.saving_lib.load_weights_only(m, bad)
    except SerializationError:
        pass
    else:
        assert case in ("no config", "config not json", "bad optimizer state"), "a malformed file loaded"
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_zip_bomb_is_refused(tmp_path):
    m = sequential()
    good = tmp_path / "good.keras"
    m.save(good, weights_format="npz")
    bad = tmp_path / "bomb.keras"

    def bomb(name, data):
        if name != "model.weights.npz":
            return [(name, data)]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("layers/dense/vars/0.npy", b"\0" * (300 * 2**20))
        return [(name, buf.getvalue())]

    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            for name, data in bomb(info.filename, zin.read(info)):
                zout.writestr(name, data)
    assert bad.stat().st_size < 5 * 2**20
    with pytest.raises(SerializationError, match="zip bomb"):
        em.models.load_model(bad)


def test_h5_without_h5py_says_how_to_install(tmp_path, monkeypatch):
    m = sequential()
    if HAVE_H5PY:
        m.save(tmp_path / "m.keras", weights_format="h5")
    else:
        pytest.skip("h5py is not installed: no h5 file to read")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(SerializationError, match="pip install h5py"):
        em.models.load_model(tmp_path / "m.keras")


# -- real Keras ----------------------------------------------------------------------------------

# One Keras process does both directions for every kind (a Keras start costs seconds):
# it reads the files Ember wrote and predicts, then builds, trains and saves its own.
KERAS_SCRIPT = r"""
import os, sys
os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np, keras
L = keras.layers
folder = sys.argv[1]
def build(kind):
    if kind == "dense":
        return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.BatchNormalization(),
                                 L.Dropout(0.2), L.Dense(2)])
    if kind == "conv":
        return keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                                 L.Conv2D(3, 2, padding="same"), L.AveragePooling2D(2), L.Flatten(), L.Dense(2)])
    return keras.Sequential([keras.Input((5, 3)), L.LSTM(4, return_sequences=True),
                             L.Bidirectional(L.GRU(3, return_sequences=True)), L.SimpleRNN(3), L.Dense(2)])
for kind in sys.argv[2:]:
    x = np.load(os.path.join(folder, f"x_{kind}.npy"))
    m = keras.models.load_model(os.path.join(folder, f"ember_{kind}.keras"))
    np.save(os.path.join(folder, f"k_reads_{kind}.npy"), m.predict(x, verbose=0))
    w = build(kind)
    w.load_weights(os.path.join(folder, f"ember_{kind}.weights.h5"))
    np.save(os.path.join(folder, f"k_reads_weights_{kind}.npy"), w.predict(x, verbose=0))
    keras.utils.set_random_seed(0)
    m = build(kind)
    m.compile("adam", "mse")
    m.fit(x, np.ones((len(x), 2), "float32"), epochs=2, batch_size=8, verbose=0)
    m.save(os.path.join(folder, f"keras_{kind}.keras"))
    m.save_weights(os.path.join(folder, f"keras_{kind}.weights.h5"))
    np.save(os.path.join(folder, f"k_pred_{kind}.npy"), m.predict(x, verbose=0))
"""


def _ember_model(kind):
    L = em.layers
    if kind == "dense":
        return sequential()
    if kind == "conv":
        m = em.Sequential([em.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                           L.Conv2D(3, 2, padding="same"), L.AveragePooling2D(2), L.Flatten(), L.Dense(2)])
    else:
        m = em.Sequential([em.Input((5, 3)), L.LSTM(4, return_sequences=True),
                           L.Bidirectional(L.GRU(3, return_sequences=True)), L.SimpleRNN(3), L.Dense(2)])
    m.compile("adam", "mse")
    return m


KERAS_INPUTS = {"dense": X, "conv": RNG.normal(size=(16, 8, 8, 3)).astype(np.float32),
                "rnn": RNG.normal(size=(16, 5, 3)).astype(np.float32)}


def _keras_python():
    """A Python that can import keras: this one, or $EMBER_KERAS_PYTHON."""
    exe = os.environ.get("EMBER_KERAS_PYTHON")
    if exe:
        return exe
    if importlib.util.find_spec("keras") is not None and HAVE_H5PY:
        return sys.executable
    return None


def test_recurrent_weights_sit_on_keras_cell_path(tmp_path):
    m = _ember_model("rnn")
    m.save(tmp_path / "m.keras", weights_format="npz")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        names = set(np.load(io.BytesIO(zf.read("model.weights.npz")), allow_pickle=False).files)
    assert {"layers/lstm/cell/vars/0", "layers/lstm/cell/vars/2", "layers/bidirectional/forward_layer/cell/vars/2",
            "layers/bidirectional/backward_layer/cell/vars/0", "layers/simple_rnn/cell/vars/1"} <= names
    assert not any(n.startswith("layers/lstm/vars/") for n in names)


@pytest.mark.skipif(_keras_python() is None, reason="keras (with h5py and a backend such as jax) is not installed; "
                    "pip install '.[test]' or set EMBER_KERAS_PYTHON")
@pytest.mark.timeout(300)
def test_interop_with_real_keras(tmp_path):
    exe = _keras_python()
    script = tmp_path / "k.py"
    script.write_text(KERAS_SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    ours = {}
    for kind, x in KERAS_INPUTS.items():
        np.save(tmp_path / f"x_{kind}.npy", x)
        m = _ember_model(kind)
        em.utils.set_random_seed(7)
        m.fit(x, np.ones((len(x), 2), np.float32), epochs=2, batch_size=8, verbose=0)
        m.save(tmp_path / f"ember_{kind}.keras", weights_format="h5")
        m.save_weights(tmp_path / f"ember_{kind}.weights.h5")
        ours[kind] = m.predict(x, verbose=0)
    subprocess.run([exe, str(script), str(tmp_path), *KERAS_INPUTS], check=True, env=env, timeout=240)
    for kind, x in KERAS_INPUTS.items():
        # (a) Ember wrote, Keras read
        np.testing.assert_allclose(np.load(tmp_path / f"k_reads_{kind}.npy"), ours[kind], rtol=1e-5, atol=1e-5,
                                   err_msg=kind)
        # (b) Keras wrote, Ember reads (config, weights, optimizer state)
        r = em.models.load_model(tmp_path / f"keras_{kind}.keras")
        np.testing.assert_allclose(r.predict(x, verbose=0), np.load(tmp_path / f"k_pred_{kind}.npy"), rtol=1e-5,
                                   atol=1e-5, err_msg=kind)
        assert r.optimizer.iterations == 4, kind
        r.fit(x, np.ones((len(x), 2), np.float32), epochs=1, batch_size=8, verbose=0)  # resumes
        # weights files (Keras's .weights.h5 layout, optimizer group ignored), both ways
        np.testing.assert_allclose(np.load(tmp_path / f"k_reads_weights_{kind}.npy"), ours[kind], rtol=1e-5,
                                   atol=1e-5, err_msg=kind)
        w = _ember_model(kind)
        w.load_weights(tmp_path / f"keras_{kind}.weights.h5")
        np.testing.assert_allclose(w.predict(x, verbose=0), np.load(tmp_path / f"k_pred_{kind}.npy"), rtol=1e-5,
                                   atol=1e-5, err_msg=kind)
