"""The callbacks that write files (CSVLogger, ModelCheckpoint, TensorBoard, History.plot),
each driven by a real ``fit`` on tiny data and checked by reading back what it wrote."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import ember as em
from ember.errors import BackendUnavailableError, EmberError, InvalidArgumentError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3)).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
XV, YV = X[:6], Y[:6]


def make_model(metrics=("mae",)):
    em.utils.set_random_seed(1)
    m = em.Sequential([em.Input((3,)), em.layers.Dense(4, activation="relu"), em.layers.Dense(1)])
    m.compile(em.optimizers.SGD(0.05), "mse", metrics=list(metrics))
    return m


# ---------------------------------------------------------------------------------------------
# CSVLogger
# ---------------------------------------------------------------------------------------------

def test_csv_logger_writes_keras_format(tmp_path):
    path = tmp_path / "log.csv"
    h = make_model().fit(X, Y, epochs=3, batch_size=8, validation_data=(XV, YV), verbose=0,
                         callbacks=[em.callbacks.CSVLogger(path)])
    keys = sorted(h.history)
    assert keys == ["loss", "mae", "val_loss", "val_mae"]
    expected = "epoch," + ",".join(keys) + "\r\n"
    for e in range(3):
        expected += ",".join([str(e)] + [repr(h.history[k][e]) for k in keys]) + "\r\n"
    assert path.read_bytes().decode() == expected


def test_csv_logger_without_validation_adds_na_val_columns_like_keras(tmp_path):
    path = tmp_path / "log.csv"
    h = make_model(metrics=()).fit(X, Y, epochs=2, verbose=0, callbacks=[em.callbacks.CSVLogger(path, separator=";")])
    lines = path.read_bytes().decode().split("\r\n")
    assert lines[0] == "epoch;loss;val_loss"
    assert lines[1:] == [f"0;{h.history['loss'][0]!r};NA", f"1;{h.history['loss'][1]!r};NA", ""]


def test_csv_logger_flushes_each_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    seen = []
    reader = em.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(path.read_text().count("\n")))
    model = make_model(metrics=())
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[em.callbacks.CSVLogger(path), reader])
    assert seen == [2, 3, 4]  # the header and every row so far are on disk when the epoch ends
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[em.callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines[0] == "epoch;loss;val_loss".replace(";", ",")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["0", "1", "2", "0", "1"]
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[em.callbacks.CSVLogger(path)])  # append=False overwrites
    assert len(path.read_text().splitlines()) == 2


@pytest.mark.parametrize("kwargs", [{"filename": ""}, {"filename": 3}, {"filename": "a.csv", "separator": ",,"},
                                    {"filename": "a.csv", "append": "yes"}])
def test_csv_logger_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        em.callbacks.CSVLogger(**kwargs)


# ---------------------------------------------------------------------------------------------
# ModelCheckpoint
# ---------------------------------------------------------------------------------------------

HAS_SAVE = hasattr(em.Model, "save") and hasattr(em.Model, "save_weights")


def recording_model(metrics=("mae",)):
    """A real model whose save/save_weights record the call and write a marker file, for
    testing the callback's file-name and best-only logic on its own (also where
    ``Model.save`` is not there yet)."""
    m = make_model(metrics)
    m.saved = []

    def recorder(kind):
        def save(path, *args, **kwargs):
            m.saved.append((kind, str(path)))
            with open(path, "w") as f:
                f.write(kind)
        return save

    m.save = recorder("model")
    m.save_weights = recorder("weights")
    return m


def test_checkpoint_names_files_from_epoch_and_logs(tmp_path):
    m = recording_model()
    pattern = str(tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.keras")
    h = m.fit(X, Y, epochs=3, validation_data=(XV, YV), verbose=0, callbacks=[em.callbacks.ModelCheckpoint(pattern)])
    names = [f"{e + 1:02d}-{v:.2f}.keras" for e, v in enumerate(h.history["val_loss"])]
    assert [p for _, p in m.saved] == [str(tmp_path / "ckpt" / n) for n in names]
    assert {k for k, _ in m.saved} == {"model"}
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == sorted(set(names))


def test_checkpoint_save_best_only(tmp_path):
    m = recording_model()
    losses = iter([0.5, 0.7, 0.3, 0.3, 0.9])  # the monitored value, forced by a callback that logs it

    class Inject(em.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)

    cb = em.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.weights.h5"), save_best_only=True, save_weights_only=True)
    m.fit(X, Y, epochs=5, validation_data=(XV, YV), verbose=0, callbacks=[Inject(), cb])
    assert m.saved == [("weights", str(tmp_path / "e1.weights.h5")), ("weights", str(tmp_path / "e3.weights.h5"))]
    assert cb.best == 0.3


def test_checkpoint_mode_max_threshold_and_one_path(tmp_path, capsys):
    m = recording_model()
    accs = iter([0.6, 0.8, 0.85, 0.7])

    class Inject(em.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_acc"] = next(accs)

    cb = em.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_acc", save_best_only=True, verbose=1,
                                      initial_value_threshold=0.7)
    m.fit(X, Y, epochs=4, verbose=0, callbacks=[Inject(), cb])
    assert [p for _, p in m.saved] == [str(tmp_path / "best.keras")] * 2  # epochs 2 and 3 beat 0.7 then 0.8
    out = capsys.readouterr().out
    assert "Epoch 1: val_acc did not improve from 0.70000" in out
    assert "Epoch 2: val_acc improved from 0.70000 to 0.80000, saving model to" in out
    assert "Epoch 4: val_acc did not improve from 0.85000" in out


def test_checkpoint_every_n_batches(tmp_path):
    m = recording_model()
    cb = em.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.keras"), save_freq=3)
    m.fit(X, Y, epochs=2, batch_size=4, verbose=0, callbacks=[cb])  # 4 batches an epoch, 8 in all
    assert [p.split("/")[-1] for _, p in m.saved] == ["e1-b3.keras", "e2-b2.keras"]


def test_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    m = recording_model()
    cb = em.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True)
    with pytest.warns(UserWarning, match="val_loss"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[cb])
    assert len(m.saved) == 1


def test_checkpoint_unknown_field_is_a_clear_error(tmp_path):
    m = recording_model()
    cb = em.callbacks.ModelCheckpoint(str(tmp_path / "{val_accuracy:.2f}.keras"))
    with pytest.raises(InvalidArgumentError, match="val_accuracy"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[cb])


@pytest.mark.parametrize("kwargs", [
    {"filepath": "m.h5"}, {"filepath": "m.keras", "save_weights_only": True}, {"filepath": "m.weights.h5"},
    {"filepath": "m{.keras"}, {"filepath": "m{}.keras"}, {"filepath": "m.keras", "mode": "up"},
    {"filepath": "m.keras", "save_freq": 0}, {"filepath": "m.keras", "save_freq": "batch"},
    {"filepath": "m.keras", "initial_value_threshold": float("nan")}, {"filepath": None},
])
def test_checkpoint_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        em.callbacks.ModelCheckpoint(**kwargs)


@pytest.mark.skipif(not HAS_SAVE, reason="Model.save / Model.save_weights are not implemented yet")
def test_checkpoint_with_real_save(tmp_path):
    m = make_model()
    m.fit(X, Y, epochs=2, validation_data=(XV, YV), verbose=0, callbacks=[
        em.callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}.keras")),
        em.callbacks.ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True, save_best_only=True),
    ])
    for name in ("m1.keras", "m2.keras", "w.weights.h5"):
        assert (tmp_path / name).stat().st_size > 0
    m.fit(X, Y, epochs=2, verbose=0, callbacks=[
        em.callbacks.ModelCheckpoint(str(tmp_path / "last.safetensors"), save_weights_only=True)])
    fresh = make_model()
    fresh.load_weights(str(tmp_path / "last.safetensors"))  # the last epoch's file holds the final weights
    for a, b in zip(fresh.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    if hasattr(em.saving, "load_model"):
        loaded = em.saving.load_model(str(tmp_path / "m2.keras"))
        assert [w.shape for w in loaded.get_weights()] == [w.shape for w in m.get_weights()]


# ---------------------------------------------------------------------------------------------
# TensorBoard
# ---------------------------------------------------------------------------------------------

def read_events(run_dir):
    """(tag, step, value) of every scalar and the tags of every histogram in a run's
    event files, read through the TFRecord framing TensorBoard reads (length, masked
    CRC of the length, data, masked CRC of the data)."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    scalars, histograms = [], []
    files = sorted(run_dir.glob("events.out.tfevents.*"))
    assert files, f"no event file in {run_dir}"
    for f in files:
        data = f.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            body = data[i + 12:i + 12 + n]
            assert len(body) == n, "truncated record"
            i += 12 + n + 4
            ev = event_pb2.Event.FromString(body)
            for v in ev.summary.value:
                if v.HasField("histo"):
                    histograms.append((v.tag, ev.step, v.histo))
                elif v.HasField("simple_value") or v.WhichOneof("value") == "simple_value":
                    scalars.append((v.tag, ev.step, v.simple_value))
    return scalars, histograms


def test_tensorboard_epoch_scalars_and_histograms(tmp_path):
    pytest.importorskip("tensorboardX", reason="the optional writer package tensorboardX is not installed")
    model = make_model()
    cb = em.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"), histogram_freq=2)
    h = model.fit(X, Y, epochs=3, validation_data=(XV, YV), verbose=0, callbacks=[cb])
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["train", "validation"]
    train, hist = read_events(tmp_path / "logs" / "train")
    val, _ = read_events(tmp_path / "logs" / "validation")
    got = {(t, s): v for t, s, v in train}
    for e in range(3):
        assert got[("epoch_loss", e)] == pytest.approx(h.history["loss"][e], rel=1e-6)
        assert got[("epoch_mae", e)] == pytest.approx(h.history["mae"][e], rel=1e-6)
        assert got[("epoch_learning_rate", e)] == pytest.approx(0.05)
    assert {t for t, _, _ in train} == {"epoch_loss", "epoch_mae", "epoch_learning_rate"}
    gotv = {(t, s): v for t, s, v in val}
    assert {t for t, _, _ in val} == {"epoch_loss", "epoch_mae"}
    for e in range(3):
        assert gotv[("epoch_loss", e)] == pytest.approx(h.history["val_loss"][e], rel=1e-6)
    # histograms at epochs 0 and 2, one per weight, with every value counted
    tags = sorted({t for t, _, _ in hist})
    assert tags == sorted(f"{w.name}/histogram" for w in model.weights)
    assert sorted({s for _, s, _ in hist}) == [0, 2]
    first = model.layers[0].weights[0]
    kernel = next(hh for t, s, hh in hist if t == f"{first.name}/histogram" and s == 2)
    w = first.numpy()
    assert kernel.num == w.size and kernel.min == pytest.approx(w.min()) and kernel.max == pytest.approx(w.max())


def test_tensorboard_batch_scalars(tmp_path):
    pytest.importorskip("tensorboardX", reason="the optional writer package tensorboardX is not installed")
    model = make_model(metrics=())
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0,
              callbacks=[em.callbacks.TensorBoard(log_dir=tmp_path, update_freq=3)])
    train, _ = read_events(tmp_path / "train")
    assert sorted(s for t, s, _ in train if t == "batch_loss") == [3, 6]
    assert sorted(s for t, s, _ in train if t == "epoch_loss") == [0, 1]
    assert not (tmp_path / "validation").exists()


def test_tensorboard_bad_arguments():
    pytest.importorskip("tensorboardX", reason="the optional writer package tensorboardX is not installed")
    for kwargs in ({"log_dir": ""}, {"histogram_freq": -1}, {"update_freq": 0}, {"update_freq": "step"},
                   {"write_graph": 1.5}):
        with pytest.raises(InvalidArgumentError):
            em.callbacks.TensorBoard(**kwargs)
    for kwargs in ({"write_images": True}, {"profile_batch": 2}, {"embeddings_freq": 1}):
        with pytest.raises(NotImplementedError, match=next(iter(kwargs))):
            em.callbacks.TensorBoard(**kwargs)


def test_tensorboard_without_tensorboardx_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # an import of it now fails
    with pytest.raises(BackendUnavailableError, match="pip install tensorboardX"):
        em.callbacks.TensorBoard()


# ---------------------------------------------------------------------------------------------
# History.plot
# ---------------------------------------------------------------------------------------------

def test_history_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    h = make_model().fit(X, Y, epochs=4, validation_data=(XV, YV), validation_freq=2, verbose=0)
    fig = h.plot(tmp_path / "curves.png")
    data = (tmp_path / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "mae"]
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["training", "validation"]
    assert list(lines[0].get_xdata()) == [1, 2, 3, 4] and list(lines[1].get_xdata()) == [2, 4]
    assert [ax.get_title() for ax in h.plot(metrics=["val_loss"]).axes] == ["loss"]


def test_history_plot_errors(tmp_path, monkeypatch):
    h = em.callbacks.History()
    with pytest.raises(InvalidArgumentError, match="empty"):
        h.plot()
    h = make_model().fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(InvalidArgumentError, match="accuracy"):
        h.plot(metrics=["accuracy"])
    with pytest.raises(InvalidArgumentError, match="png"):
        h.plot(tmp_path / "a.jpg")
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(BackendUnavailableError, match="pip install matplotlib"):
        h.plot()


def test_hooks_reject_bad_epochs():
    cb = em.callbacks.CSVLogger("unused.csv")
    for bad in (None, -1, 1.5, "0"):
        with pytest.raises(EmberError):
            cb.on_epoch_end(bad)
    with pytest.raises(InvalidArgumentError):
        cb.on_epoch_end(0, logs=[1])
