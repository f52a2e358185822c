"""`callbacks.BackupAndRestore`: an interrupted ``fit`` (an exception in the process, or
the process SIGKILLed mid-epoch) resumed by calling ``fit`` again ends with exactly the
weights, optimizer state and logs of a run that was never interrupted, with Dropout and
shuffling on (so the random streams must be restored too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, SerializationError
from conftest import BACKENDS

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4)).astype(np.float32)
Y = RNG.normal(size=(40, 2)).astype(np.float32)
FIT = dict(epochs=3, batch_size=8, verbose=0)  # 5 batches an epoch, shuffled


def make():
    em.utils.set_random_seed(5)
    m = em.Sequential([em.Input((4,)), em.layers.Dense(8, activation="relu"), em.layers.Dropout(0.3),
                       em.layers.Dense(8, activation="tanh"), em.layers.Dropout(0.2, seed=11), em.layers.Dense(2)])
    m.compile("adam", "mse", metrics=["mae"])
    return m


class Interrupt(em.callbacks.Callback):
    """Raises at the ``at``-th batch (counted over the whole fit, from 1)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.n = at, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.n += 1
        if self.n == self.at:
            raise RuntimeError("interrupted")


@pytest.fixture(scope="module")
def uninterrupted():
    m = make()
    history = m.fit(X, Y, **FIT).history
    return m.get_weights(), history, int(m.optimizer.iterations)


def backup_metadata(folder):
    with zipfile.ZipFile(os.path.join(folder, "latest.backup.zip")) as zf:
        return json.loads(zf.read("training_metadata.json"))


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("save_freq,at", [(1, 8), (2, 8), (3, 12), ("epoch", 7)])
def test_resumes_at_the_same_epoch_and_batch_exactly(tmp_path, uninterrupted, save_freq, at):
    weights, history, iterations = uninterrupted
    backup = em.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    with pytest.raises(RuntimeError):
        make().fit(X, Y, callbacks=[backup, Interrupt(at)], **FIT)
    meta = backup_metadata(tmp_path / "backup")
    fresh = make()  # as a restarted program would: a new model, the same seeds
    resumed = fresh.fit(X, Y, callbacks=[backup], **FIT).history
    assert_same_weights(fresh.get_weights(), weights)
    assert int(fresh.optimizer.iterations) == iterations
    done = len(history["loss"]) - len(resumed["loss"])  # epochs completed before the interruption
    assert done == meta["epoch"]
    if save_freq != "epoch":  # backed up after the last multiple of save_freq before the interruption
        assert meta["epoch"] * 5 + meta["step"] == (at - 1) // save_freq * save_freq
    for key in history:  # the resumed epoch's logs count the batches before the interruption too
        assert resumed[key] == history[key][done:], key
    assert not (tmp_path / "backup").exists()  # delete_checkpoint=True


def test_resumes_in_the_same_model_object(tmp_path, uninterrupted):
    weights, history, _ = uninterrupted
    model = make()
    backup = em.callbacks.BackupAndRestore(tmp_path, save_freq=1, delete_checkpoint=False)
    with pytest.raises(RuntimeError):
        model.fit(X, Y, callbacks=[backup, Interrupt(9)], **FIT)
    resumed = model.fit(X, Y, callbacks=[backup], **FIT).history
    assert_same_weights(model.get_weights(), weights)
    assert resumed["loss"] == history["loss"][1:]
    assert (tmp_path / "latest.backup.zip").exists()  # delete_checkpoint=False keeps it


def test_keras_epoch_example(tmp_path):
    """Keras's own docstring example: interrupted at epoch 4 of 10, 6 epochs remain."""
    class AtEpoch4(em.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 4:
                raise RuntimeError("Interrupting!")

    callback = em.callbacks.BackupAndRestore(backup_dir=str(tmp_path / "backup"))
    model = em.Sequential([em.layers.Dense(10)])
    model.compile(em.optimizers.SGD(), loss="mse")
    model.build(input_shape=(None, 20))
    x, y = np.arange(100, dtype=np.float32).reshape(5, 20) / 100, np.zeros((5, 10), np.float32)
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=10, batch_size=1, callbacks=[callback, AtEpoch4()], verbose=0)
    history = model.fit(x, y, epochs=10, batch_size=1, callbacks=[callback], verbose=0)
    assert len(history.history["loss"]) == 6


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path, uninterrupted):
    weights, _, _ = uninterrupted
    backup = em.callbacks.BackupAndRestore(tmp_path, save_freq=2, double_checkpoint=True)
    with pytest.raises(RuntimeError):
        make().fit(X, Y, callbacks=[backup, Interrupt(10)], **FIT)
    latest, prev = tmp_path / "latest.backup.zip", tmp_path / "latest.backup.zip.bkp"
    assert prev.exists()
    with zipfile.ZipFile(prev) as a, zipfile.ZipFile(latest) as b:
        assert a.read("training_metadata.json") != b.read("training_metadata.json")
    latest.write_bytes(latest.read_bytes()[:100])  # damaged: the previous backup is used
    fresh = make()
    fresh.fit(X, Y, callbacks=[backup], **FIT)
    assert_same_weights(fresh.get_weights(), weights)


def test_a_damaged_backup_is_a_serialization_error_and_changes_nothing(tmp_path):
    backup = em.callbacks.BackupAndRestore(tmp_path, save_freq=1)
    with pytest.raises(RuntimeError):
        make().fit(X, Y, callbacks=[backup, Interrupt(3)], **FIT)
    path = tmp_path / "latest.backup.zip"
    path.write_bytes(path.read_bytes()[:-30])
    model = make()
    before = model.get_weights()
    with pytest.raises(SerializationError):
        model.fit(X, Y, callbacks=[backup], **FIT)
    assert_same_weights(model.get_weights(), before)


@pytest.mark.parametrize("kwargs", [{"backup_dir": ""}, {"backup_dir": "d", "save_freq": 0},
                                    {"backup_dir": "d", "save_freq": "batch"},
                                    {"backup_dir": "d", "double_checkpoint": 1},
                                    {"backup_dir": "d", "delete_checkpoint": None}])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        em.callbacks.BackupAndRestore(**kwargs)


# -- a process killed in the middle of an epoch ----------------------------------------------

CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
import test_saving_backup as t
import ember as em

class Report(em.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print(f"{self.epoch} {batch}", flush=True)
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

t.make().fit(t.X, t.Y, callbacks=[em.callbacks.BackupAndRestore(sys.argv[1], save_freq=1), Report()], **t.FIT)
print("finished", flush=True)
"""


@pytest.mark.timeout(120)
def test_sigkill_mid_epoch_then_fit_again_matches_uninterrupted(tmp_path, uninterrupted):
    weights, history, _ = uninterrupted
    backup_dir = tmp_path / "backup"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(backup_dir), os.path.dirname(__file__)],
                             stdout=subprocess.PIPE, text=True)
    killed_at = None
    try:
        for line in child.stdout:
            epoch, batch = (int(v) for v in line.split())
            if (epoch, batch) == (1, 2):  # mid-epoch 1, while it backs up after every batch
                os.kill(child.pid, signal.SIGKILL)
                killed_at = (epoch, batch)
                break
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    assert killed_at == (1, 2) and child.returncode == -signal.SIGKILL
    meta = backup_metadata(backup_dir)
    assert meta["epoch"] == 1 and 1 <= meta["step"] <= 5  # backed up mid-epoch 1
    model = make()
    resumed = model.fit(X, Y, callbacks=[em.callbacks.BackupAndRestore(backup_dir, save_freq=1)], **FIT).history
    assert_same_weights(model.get_weights(), weights)
    assert resumed["loss"] == history["loss"][1:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_is_exact_on_each_backend(tmp_path, backend):
    with em.device(backend):
        straight = make()
        history = straight.fit(X, Y, **FIT).history
        backup = em.callbacks.BackupAndRestore(tmp_path, save_freq=2)
        with pytest.raises(RuntimeError):
            make().fit(X, Y, callbacks=[backup, Interrupt(9)], **FIT)
        fresh = make()
        resumed = fresh.fit(X, Y, callbacks=[backup], **FIT).history
    assert_same_weights(fresh.get_weights(), straight.get_weights())
    assert resumed["loss"] == history["loss"][1:]
