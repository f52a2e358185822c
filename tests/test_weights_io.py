"""Weights files (`Model.save_weights` / `load_weights`: .safetensors and Keras 3's
.weights.h5), PyTorch state dicts (`ember.saving.load_torch_state_dict`) and model JSON
(`Model.to_json` / `ember.models.model_from_json`)."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import ember as em
from ember.errors import EmberError, InvalidArgumentError, NotBuiltError, SerializationError

try:
    import h5py
except ImportError:  # the optional "keras" extra
    h5py = None

needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py is not installed (pip install 'ember[keras]')")
FORMATS = ["safetensors", pytest.param("weights.h5", marks=needs_h5py)]

X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


def sequential():
    return em.Sequential([
        em.Input((4,)), em.layers.Dense(5, activation="relu"), em.layers.BatchNormalization(),
        em.layers.Dropout(0.5), em.layers.Dense(3),
    ])


def functional():
    inputs = em.Input((4,))
    a = em.layers.Dense(6, activation="tanh")(inputs)
    b = em.layers.Dense(6)(inputs)
    x = em.layers.Concatenate()([a, b])
    return em.Model(inputs, em.layers.Dense(2)(x))


def trained(make):
    """A model whose weights differ from a fresh initialisation (BatchNorm's moving
    statistics included)."""
    model = make()
    model.compile(em.optimizers.SGD(0.05), "mse")
    y = np.ones(model.predict(X, verbose=0).shape, np.float32)
    model.fit(X, y, epochs=2, verbose=0)
    return model


def weights_equal(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def snapshot(model):
    return [w.copy() for w in model.get_weights()]


def assert_unchanged(model, before):
    after = model.get_weights()
    assert len(after) == len(before)
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", [sequential, functional], ids=["sequential", "functional"])
def test_round_trip_into_a_fresh_model(make, fmt, tmp_path):
    model = trained(make)
    path = tmp_path / f"model.{fmt}"
    model.save_weights(path)
    fresh = make()  # same architecture, other automatic layer names (dense_3 for dense)
    assert [w.path for w in fresh.weights] != [w.path for w in model.weights]
    assert not weights_equal(model, fresh)
    fresh.load_weights(str(path))
    assert weights_equal(model, fresh)
    np.testing.assert_array_equal(model.predict(X, verbose=0), fresh.predict(X, verbose=0))


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_through_json(fmt, tmp_path):
    model = trained(functional)
    path = tmp_path / f"m.{fmt}"
    model.save_weights(path)
    clone = em.models.model_from_json(model.to_json())
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]  # the names travel in the config
    clone.load_weights(path)
    np.testing.assert_array_equal(model.predict(X, verbose=0), clone.predict(X, verbose=0))


def test_safetensors_names_are_the_weight_paths(tmp_path):
    model = sequential()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    stored = load_file(str(path))
    assert sorted(stored) == sorted(w.path for w in model.weights)
    for w in model.weights:
        np.testing.assert_array_equal(stored[w.path], w.numpy())
        assert stored[w.path].dtype == np.float32


@needs_h5py
def test_h5_has_keras_3_layout(tmp_path):
    model = sequential()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert "vars" in f  # the model's own (empty) group
        assert len(f["layers/dropout/vars"]) == 0  # weightless layers get their empty group, as in Keras
        dense, bn, dense_1 = model.layers[0], model.layers[1], model.layers[3]
        np.testing.assert_array_equal(f["layers/dense/vars/0"][()], dense.kernel.numpy())
        np.testing.assert_array_equal(f["layers/dense/vars/1"][()], dense.bias.numpy())
        np.testing.assert_array_equal(f["layers/dense_1/vars/0"][()], dense_1.kernel.numpy())
        np.testing.assert_array_equal(f["layers/batch_normalization/vars/3"][()], bn.moving_variance.numpy())
    assert sorted(names) == sorted(
        ["layers/dense/vars/0", "layers/dense/vars/1", "layers/dense_1/vars/0", "layers/dense_1/vars/1"]
        + [f"layers/batch_normalization/vars/{i}" for i in range(4)]
    )


@needs_h5py
def test_h5_loads_a_file_in_keras_layout_with_an_optimizer_group(tmp_path):
    """A file as Keras 3 writes it for a compiled model: the optimizer's group is ignored."""
    model = em.Sequential([em.Input((3,)), em.layers.Dense(2)])
    k = np.arange(6, dtype=np.float32).reshape(3, 2)
    path = tmp_path / "keras.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        g = f.create_group("layers/dense/vars")
        g["0"], g["1"] = k, np.ones(2, np.float32)
        f.create_group("optimizer/vars")["0"] = np.array(3, np.int64)
    model.load_weights(path)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), k)


def test_nested_model_round_trip(tmp_path):
    def make():
        inner = em.Sequential([em.Input((4,)), em.layers.Dense(3)])
        return em.Sequential([em.Input((4,)), inner, em.layers.Dense(2)])

    model, fresh = make(), make()
    for fmt in ["safetensors"] + (["weights.h5"] if h5py is not None else []):
        model.save_weights(tmp_path / f"n.{fmt}")
        other = make()
        other.load_weights(tmp_path / f"n.{fmt}")
        np.testing.assert_array_equal(model.predict(X, verbose=0), other.predict(X, verbose=0))
    assert not weights_equal(model, fresh)


# ---------------------------------------------------------------------------------------------
# mismatches
# ---------------------------------------------------------------------------------------------

def wider():
    return em.Sequential([
        em.Input((4,)), em.layers.Dense(5, activation="relu"), em.layers.BatchNormalization(),
        em.layers.Dropout(0.5), em.layers.Dense(7),
    ])


@pytest.mark.parametrize("fmt", FORMATS)
def test_shape_mismatch_raises_and_changes_nothing(fmt, tmp_path):
    path = tmp_path / f"w.{fmt}"
    trained(sequential).save_weights(path)
    target = wider()
    before = snapshot(target)
    with pytest.raises(SerializationError) as e:
        target.load_weights(path)
    assert "shape" in str(e.value) and "(5, 7)" in str(e.value) and "nothing was loaded" in str(e.value)
    assert_unchanged(target, before)  # the matching first layers were not assigned either


@pytest.mark.parametrize("fmt", FORMATS)
def test_skip_mismatch_loads_the_rest_and_warns(fmt, tmp_path):
    source = trained(sequential)
    path = tmp_path / f"w.{fmt}"
    source.save_weights(path)
    target = wider()
    before = snapshot(target)
    with pytest.warns(UserWarning, match="skipped 2 mismatched"):
        target.load_weights(path, skip_mismatch=True)
    after = target.get_weights()
    for i in range(6):  # dense and batch_normalization loaded
        np.testing.assert_array_equal(after[i], source.get_weights()[i])
    for i in (6, 7):  # the last Dense kept its values
        np.testing.assert_array_equal(after[i], before[i])


def test_dtype_mismatch(tmp_path):
    model = em.Sequential([em.Input((3,)), em.layers.Dense(2, name="d")])
    path = tmp_path / "w.safetensors"
    save_file({"d/kernel": np.zeros((3, 2), np.float64), "d/bias": np.zeros(2, np.float32)}, str(path))
    before = snapshot(model)
    with pytest.raises(SerializationError, match="dtype float32.*float64"):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_missing_and_extra_tensors(tmp_path):
    model = em.Sequential([em.Input((3,)), em.layers.Dense(2, name="d")])
    before = snapshot(model)
    path = tmp_path / "w.safetensors"
    save_file({"d/kernel": np.zeros((3, 2), np.float32)}, str(path))
    with pytest.raises(SerializationError, match="d/bias: not in the file"):
        model.load_weights(path)
    save_file({"d/kernel": np.zeros((3, 2), np.float32), "d/bias": np.zeros(2, np.float32),
               "e/kernel": np.zeros(1, np.float32)}, str(path))
    with pytest.raises(SerializationError, match="e/kernel: in the file but not in the model"):
        model.load_weights(path)
    assert_unchanged(model, before)


@needs_h5py
def test_h5_wrong_variable_count(tmp_path):
    model = em.Sequential([em.Input((3,)), em.layers.Dense(2)])
    path = tmp_path / "w.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("layers/dense/vars")["0"] = np.zeros((3, 2), np.float32)
    before = snapshot(model)
    with pytest.raises(SerializationError, match="layers/dense/vars/1"):
        model.load_weights(path)
    assert_unchanged(model, before)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header"])
def test_truncated_or_corrupt_files(fmt, damage, tmp_path):
    model = sequential()
    path = tmp_path / f"w.{fmt}"
    model.save_weights(path)
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8))
    elif damage == "empty":
        data = b""
    else:  # a corrupted header
        data = data[:8] + b"{not json" + data[17:]
    path.write_bytes(data)
    before = snapshot(model)
    with pytest.raises(SerializationError):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_missing_file(tmp_path):
    with pytest.raises(SerializationError, match="no such file"):
        sequential().load_weights(tmp_path / "absent.safetensors")


# ---------------------------------------------------------------------------------------------
# arguments, files on disk
# ---------------------------------------------------------------------------------------------

def test_bad_arguments(tmp_path):
    model = sequential()
    for bad in (tmp_path / "w.h5", tmp_path / "w.keras", tmp_path / "w.npz", 3, None, b"w.safetensors"):
        with pytest.raises(InvalidArgumentError, match="safetensors"):
            model.save_weights(bad)
        with pytest.raises(InvalidArgumentError):
            model.load_weights(bad)
    with pytest.raises(InvalidArgumentError, match="skip_mismatch"):
        model.load_weights(tmp_path / "w.safetensors", skip_mismatch="yes")
    with pytest.raises(InvalidArgumentError, match="ember Model"):
        em.saving.save_weights(em.layers.Dense(2), tmp_path / "w.safetensors")
    unbuilt = em.Sequential([em.layers.Dense(2)])
    with pytest.raises(NotBuiltError):
        unbuilt.save_weights(tmp_path / "w.safetensors")


def test_overwrite_false_and_atomic_write(tmp_path):
    model = sequential()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    first = path.read_bytes()
    with pytest.raises(SerializationError, match="overwrite=False"):
        model.save_weights(path, overwrite=False)
    assert path.read_bytes() == first
    model.save_weights(path)  # overwrite=True replaces it
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left behind
    with pytest.raises(SerializationError, match="cannot write"):
        model.save_weights(tmp_path / "no" / "such" / "folder" / "w.safetensors")


def test_duplicate_paths_cannot_be_saved_as_safetensors(tmp_path):
    inner = lambda: em.Sequential([em.Input((2,)), em.layers.Dense(2, name="same")])  # noqa: E731
    model = em.Sequential([em.Input((2,)), inner(), inner()])
    with pytest.raises(SerializationError, match="same/kernel"):
        model.save_weights(tmp_path / "w.safetensors")
    if h5py is not None:  # the h5 layout addresses by structure: no clash
        model.save_weights(tmp_path / "w.weights.h5")
        model.load_weights(tmp_path / "w.weights.h5")


def test_h5_without_h5py_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    with pytest.raises(SerializationError, match="pip install h5py"):
        sequential().save_weights(tmp_path / "w.weights.h5")


def test_never_pickles(tmp_path):
    """Neither format can carry a Python object: the readers never unpickle."""
    import pickle

    model = sequential()
    path = tmp_path / "w.safetensors"
    path.write_bytes(pickle.dumps({"dense/kernel": np.zeros((4, 5), np.float32)}))
    with pytest.raises(SerializationError):
        model.load_weights(path)


# ---------------------------------------------------------------------------------------------
# PyTorch state dicts
# ---------------------------------------------------------------------------------------------

def torch_mlp_state(rng):
    """What ``safetensors.torch.save_file(nn.Sequential(nn.Linear(4, 5), nn.ReLU(),
    nn.BatchNorm1d(5), nn.Linear(5, 3)).state_dict(), path)`` writes: names
    ``<index>.<param>``, Linear weights as (out, in)."""
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    return {
        "0.weight": f(5, 4), "0.bias": f(5),
        "2.weight": f(5), "2.bias": f(5), "2.running_mean": f(5), "2.running_var": np.abs(f(5)) + 0.5,
        "2.num_batches_tracked": np.array(7, np.int64),
        "3.weight": f(3, 5), "3.bias": f(3),
    }


def torch_reference(state, x):
    h = np.maximum(x @ state["0.weight"].T + state["0.bias"], 0)
    h = (h - state["2.running_mean"]) / np.sqrt(state["2.running_var"] + 1e-5) * state["2.weight"] + state["2.bias"]
    return h @ state["3.weight"].T + state["3.bias"]


def ember_mlp():
    return em.Sequential([
        em.Input((4,)), em.layers.Dense(5, activation="relu", name="fc1"),
        em.layers.BatchNormalization(epsilon=1e-5, name="bn"), em.layers.Dense(3, name="fc2"),
    ])


def test_torch_state_dict_from_safetensors_file(tmp_path):
    state = torch_mlp_state(np.random.default_rng(3))
    path = tmp_path / "torch.safetensors"
    save_file(state, str(path))
    model = ember_mlp()
    em.saving.load_torch_state_dict(model, path, name_map={"0": "fc1", "2": "bn", "3": "fc2"})
    np.testing.assert_array_equal(model.get_layer("fc1").kernel.numpy(), state["0.weight"].T)
    np.testing.assert_array_equal(model.get_layer("bn").moving_variance.numpy(), state["2.running_var"])
    np.testing.assert_allclose(model.predict(X, verbose=0), torch_reference(state, X), rtol=1e-5, atol=1e-5)


def test_torch_state_dict_full_name_map_and_dict_input():
    rng = np.random.default_rng(4)
    state = {"0.weight": rng.normal(size=(2, 4)).astype(np.float32), "0.bias": np.ones(2, np.float32)}
    model = em.Sequential([em.Input((4,)), em.layers.Dense(2)])
    dense = model.layers[0].name
    em.saving.load_torch_state_dict(model, state, name_map={"0.weight": f"{dense}/kernel", "0.bias": f"{dense}/bias"})
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ state["0.weight"].T + 1, rtol=1e-5, atol=1e-5)


def test_torch_state_dict_module_names_match_layer_names():
    state = torch_mlp_state(np.random.default_rng(5))
    renamed = {k.replace("0.", "fc1.").replace("2.", "bn.").replace("3.", "fc2."): v for k, v in state.items()}
    model = ember_mlp()
    em.saving.load_torch_state_dict(model, renamed)
    np.testing.assert_allclose(model.predict(X, verbose=0), torch_reference(state, X), rtol=1e-5, atol=1e-5)


def test_torch_state_dict_conv_layout():
    rng = np.random.default_rng(6)
    w = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)  # torch Conv2d: (out, in, kh, kw)
    model = em.Sequential([em.Input((5, 5, 3)), em.layers.Conv2D(4, 2, name="conv")])
    em.saving.load_torch_state_dict(model, {"conv.weight": w, "conv.bias": np.zeros(4, np.float32)})
    np.testing.assert_array_equal(model.get_layer("conv").kernel.numpy(), w.transpose(2, 3, 1, 0))


def test_torch_state_dict_mismatches_change_nothing(tmp_path):
    state = torch_mlp_state(np.random.default_rng(7))
    model = ember_mlp()
    before = snapshot(model)
    bad = dict(state, **{"3.weight": np.zeros((4, 5), np.float32)})  # a Linear(5, 4) where fc2 has 3 units
    with pytest.raises(SerializationError, match="fc2/kernel"):
        em.saving.load_torch_state_dict(model, bad, name_map={"0": "fc1", "2": "bn", "3": "fc2"})
    with pytest.raises(SerializationError, match="in the state dict but not in the model"):
        em.saving.load_torch_state_dict(model, state)  # "0.weight": no layer "0"
    with pytest.raises(InvalidArgumentError, match="no weight of the model"):
        em.saving.load_torch_state_dict(model, state, name_map={"0.weight": "nope/kernel"})
    with pytest.raises(InvalidArgumentError, match="name_map"):
        em.saving.load_torch_state_dict(model, state, name_map=[("0", "fc1")])
    with pytest.raises(InvalidArgumentError):
        em.saving.load_torch_state_dict(model, 42)
    assert_unchanged(model, before)


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [sequential, functional], ids=["sequential", "functional"])
def test_to_json_round_trip(make):
    model = make()
    text = model.to_json(indent=2)
    config = json.loads(text)
    assert config["class_name"] == type(model).__name__ and "config" in config
    clone = em.models.model_from_json(text)
    assert type(clone) is type(model)
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]
    assert clone.to_json(indent=2) == text
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(X, verbose=0), clone.predict(X, verbose=0))


def test_model_from_json_custom_objects():
    @em.saving.register_serializable(package="weights_io_test")
    class Twice(em.layers.Layer):
        def call(self, x):
            return x * 2

    model = em.Sequential([em.Input((4,)), Twice()])
    clone = em.models.model_from_json(model.to_json(), custom_objects={"Twice": Twice})
    np.testing.assert_array_equal(clone.predict(X, verbose=0), X * 2)


def test_model_from_json_bad_input():
    for bad in ("{not json", "[1, 2]", json.dumps({"class_name": "Dense", "config": {"units": 2}}), 3, None):
        with pytest.raises(EmberError) as e:
            em.models.model_from_json(bad)
        assert isinstance(e.value, (SerializationError, InvalidArgumentError))


@needs_h5py
def test_recurrent_weights_h5_use_keras_cell_paths(tmp_path):
    """Keras keeps LSTM/GRU variables on the layer's cell: ``layers/lstm/cell/vars/0``."""
    def make():
        return em.Sequential([em.Input((5, 3)), em.layers.LSTM(4, return_sequences=True), em.layers.GRU(2)])

    m = make()
    path = tmp_path / "rnn.weights.h5"
    m.save_weights(path)
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    assert sorted(names) == ["layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2",
                             "layers/lstm/cell/vars/0", "layers/lstm/cell/vars/1", "layers/lstm/cell/vars/2"]
    fresh = make()
    fresh.load_weights(path)
    for a, b in zip(m.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_safetensors_records_a_digest_of_its_tensor_bytes(tmp_path):
    m = em.Sequential([em.Input((3,)), em.layers.Dense(2)])
    path = tmp_path / "w.safetensors"
    m.save_weights(path)
    data = bytearray(path.read_bytes())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    assert header["__metadata__"]["ember.sha256"] == hashlib.sha256(bytes(data[8 + n:])).hexdigest()
    data[-1] ^= 0x01  # one flipped bit in the last weight
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="sha256"):
        m.load_weights(path)
