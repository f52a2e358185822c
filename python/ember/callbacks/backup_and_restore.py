"""`BackupAndRestore`: fault-tolerant ``fit`` (Keras 3's
``keras.callbacks.BackupAndRestore``), resuming at the very batch it stopped."""

from __future__ import annotations

import json
import os
import random as _pyrandom
import shutil
import zipfile

import numpy as np

from ..errors import InvalidArgumentError, SerializationError
from . import Callback
from ._checks import bool_arg, check_hook, path_arg

_BACKUP = "latest.backup.zip"
_METADATA = "training_metadata.json"
_FORMAT_VERSION = 1


def _generators(model) -> dict:
    """``{name: SeedGenerator}``: the global one and every one a layer of ``model`` holds
    (a Dropout or recurrent layer built with a ``seed``), named by the layer's saving path."""
    from .. import random as _random
    from ..saving import saving_lib

    out = {"<global>": _random.global_generator()}
    for path, obj in saving_lib._walk(model, with_optimizer=False):
        if isinstance(obj, saving_lib._Cell):
            continue
        for attr, value in sorted(vars(obj).items()):
            if isinstance(value, _random.SeedGenerator):
                out[f"{path}/{attr}"] = value
    return out


def _np_state() -> list:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]


def _set_np_state(state) -> None:
    kind, keys, pos, has_gauss, cached = state
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


_MEAN_TOTALS = ("_total_dev", "_count_dev")  # a Mean's running sums kept on a device


def _metric_state(m) -> dict:
    """A metric's running totals as JSON: its variables, or a `Mean`'s sums (host floats
    and device tensors)."""
    from ..metrics import Mean

    state = {"variables": [np.asarray(v.numpy()).tolist() for v in m.variables]}
    if isinstance(m, Mean):
        state["total"], state["count"] = float(m.total), float(m.count)
        for attr in _MEAN_TOTALS:
            t = getattr(m, attr, None)
            state[attr] = None if t is None else [float(np.asarray(t.numpy())), t.device]
    return state


def _set_metric_state(m, state) -> None:
    from ..metrics import Mean
    from ..tensor import Tensor

    if not isinstance(state, dict) or len(state.get("variables", [])) != len(m.variables):
        return
    for v, value in zip(m.variables, state["variables"]):
        a = np.asarray(value, dtype=np.asarray(v.numpy()).dtype)
        if a.shape == tuple(v.shape):
            v.assign(a)
    if isinstance(m, Mean) and "total" in state:
        m.total, m.count = state["total"], state["count"]
        for attr in _MEAN_TOTALS:
            value = state.get(attr)
            setattr(m, attr, None if value is None else Tensor(np.float32(value[0]), device=value[1]))


def _add_mean_state(m, state) -> None:
    """Adds a `Mean`'s saved sums to the ones it has gathered since."""
    from ..metrics import Mean
    from ..ops import core
    from ..tensor import Tensor

    if not isinstance(m, Mean) or not isinstance(state, dict) or "total" not in state:
        return
    m.total, m.count = m.total + state["total"], m.count + state["count"]
    for attr in _MEAN_TOTALS:
        value, mine = state.get(attr), getattr(m, attr, None)
        if value is not None:
            saved = Tensor(np.float32(value[0]), device=value[1])
            setattr(m, attr, saved if mine is None else core.add(mine, saved))


def _distribution():
    """The distributed fit running now (ember.distribute), or None."""
    from ..distribute.data_parallel import fitting

    return fitting()


def random_state(model) -> dict:
    """Every random stream ``fit`` draws from: Ember's generators (the global one and the
    layers' own), numpy's global one (``fit``'s shuffling) and Python's ``random``."""
    version, internal, gauss = _pyrandom.getstate()
    return {"ember": {name: [g.seed, g.counter] for name, g in _generators(model).items()},
            "numpy": _np_state(), "python": [version, list(internal), gauss]}


def set_random_state(model, state: dict, numpy: bool = True) -> None:
    """Restores what `random_state` returned (numpy's stream too unless ``numpy=False``)."""
    from .. import random as _random

    gens = _generators(model)
    for name, (seed, counter) in state["ember"].items():
        if name == "<global>":
            g = _random.SeedGenerator(seed)
            g.counter = counter
            _random._global[0] = g
        elif name in gens:
            gens[name].seed, gens[name].counter = seed, counter
    if numpy:
        _set_np_state(state["numpy"])
    version, internal, gauss = state["python"]
    _pyrandom.setstate((version, tuple(internal), gauss))


def _check_streams(metadata: dict, where: str) -> None:
    """Raises SerializationError unless the backup's random streams can be restored (tried
    on scratch generators), so a damaged backup fails before anything is assigned."""
    try:
        state = metadata["random"]
        for name, (seed, counter) in state["ember"].items():
            if not (isinstance(name, str) and isinstance(seed, int) and isinstance(counter, int) and counter >= 0):
                raise ValueError(f"bad generator state for {name!r}")
        for np_state in (state["numpy"], metadata["epoch_numpy"]):
            kind, keys, pos, has_gauss, cached = np_state
            np.random.RandomState().set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        version, internal, gauss = state["python"]
        _pyrandom.Random().setstate((version, tuple(internal), gauss))
        if metadata["metrics"] is not None and not isinstance(metadata["metrics"], dict):
            raise ValueError("bad metric states")
    except Exception as e:  # noqa: BLE001 - any malformed entry
        raise SerializationError(f"{where}: the backup's random-stream state is damaged: {type(e).__name__}: {e}") \
            from None


class BackupAndRestore(Callback):
    """Backs up the training state so an interrupted ``fit`` (a crash, a preempted
    machine, a killed process) resumes where it stopped when ``fit`` is called again
    with the same arguments and this callback.

    The state is the model's weights, the optimizer's state, the epoch and the batch,
    the metrics' running totals and every random stream ``fit`` uses (the shuffling
    permutation's numpy generator, Ember's generators that drive Dropout and noise
    layers, Python's ``random``). So, unlike Keras, which restarts the interrupted epoch
    from its first batch, a resumed ``fit`` continues at the next batch and ends with
    exactly the weights an uninterrupted run would have. It is written atomically as
    one file, ``backup_dir/latest.backup.zip`` (``training_metadata.json`` and a
    pickle-free ``model.weights.npz`` in the ``.keras`` layout), so a kill during a
    backup leaves the previous one intact.

    Args:
        backup_dir: the folder for the backup; use it for nothing else (it is deleted
            when training ends, with ``delete_checkpoint=True``).
        save_freq: ``"epoch"`` (back up at the end of each epoch) or an integer: back up
            every that many batches.
        double_checkpoint: keep the previous backup too
            (``latest.backup.zip.bkp``) and fall back to it when the latest cannot be
            read.
        delete_checkpoint: delete ``backup_dir`` when ``fit`` finishes.

    Example:
        >>> import tempfile, numpy as np, ember as em
        >>> class Interrupt(em.callbacks.Callback):
        ...     def on_epoch_begin(self, epoch, logs=None):
        ...         if epoch == 2:
        ...             raise RuntimeError("interrupted")
        >>> backup = em.callbacks.BackupAndRestore(tempfile.mkdtemp())
        >>> model = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
        >>> try:
        ...     model.fit(x, y, epochs=5, verbose=0, callbacks=[backup, Interrupt()])
        ... except RuntimeError:
        ...     pass
        >>> len(model.fit(x, y, epochs=5, verbose=0, callbacks=[backup]).history["loss"])
        3
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        owner = "BackupAndRestore"
        self.backup_dir = path_arg(owner, "backup_dir", backup_dir)
        if not (isinstance(save_freq, str) and save_freq == "epoch"):
            if isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq < 1:
                raise InvalidArgumentError(f"{owner}: save_freq must be 'epoch' or a positive integer (batches), "
                                           f"got {save_freq!r}")
            save_freq = int(save_freq)
            # batch logs are produced only for callbacks with this hook: only a per-batch backup needs it
            self.on_train_batch_end = self._on_train_batch_end
        self.save_freq = save_freq
        self.double_checkpoint = bool_arg(owner, "double_checkpoint", double_checkpoint)
        self.delete_checkpoint = bool_arg(owner, "delete_checkpoint", delete_checkpoint)
        self._backup_path = os.path.join(self.backup_dir, _BACKUP)
        self._prev_backup_path = self._backup_path + ".bkp"
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        self._epoch_numpy_state = None
        self._resume = None  # the metadata of the backup being resumed, until it is applied

    # -- saving ------------------------------------------------------------------------------
    def _flat_metrics(self) -> dict:
        """``{name: metric}``: the loss trackers and the compiled metrics built so far."""
        out = {}
        for m in self.model.metrics:
            for inner in (m.metrics if not hasattr(m, "variables") else [m]):
                out[inner.name] = inner
        return out

    def _metric_states(self) -> dict:
        dist = _distribution()
        if dist is not None:
            # A distributed fit: the sums over every rank (rank 0 restores them, the others
            # start from zero, so the all-reduced logs continue exactly).
            return dist.reduce_logs(self.model, lambda: {name: _metric_state(m) for name, m in self._flat_metrics().items()})
        return {name: _metric_state(m) for name, m in self._flat_metrics().items()}

    def _save(self, epoch: int, step: int) -> None:
        """Backs up the state after ``step`` batches of epoch ``epoch`` (0 = at its start)."""
        from ..saving import saving_lib
        from ..saving.atomic import atomic_write

        model = self.model
        entries = saving_lib._variable_entries(model, with_optimizer=getattr(model, "optimizer", None) is not None)
        metadata = {
            "format_version": _FORMAT_VERSION, "epoch": epoch, "batch": self._last_batch_seen, "step": step,
            "random": random_state(model),
            # numpy's stream as the epoch began: it draws that epoch's shuffling permutation
            "epoch_numpy": self._epoch_numpy_state if step else _np_state(),
            "metrics": self._metric_states() if step else None,
        }
        dist = _distribution()
        if dist is not None and not dist.is_chief:
            return  # every rank took part in the metric all-reduce above; rank 0 writes
        weights = saving_lib._weights_npz(entries)
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._backup_path):
            shutil.copyfile(self._backup_path, self._prev_backup_path + ".part")
            os.replace(self._prev_backup_path + ".part", self._prev_backup_path)

        def write(fh):
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_METADATA, json.dumps(metadata))
                zf.writestr(saving_lib.VARS_NPZ, weights)

        atomic_write(self._backup_path, write)

    def _model(self, hook: str):
        """The model ``fit`` set, or InvalidArgumentError naming ``hook``."""
        from ..models.model import Model

        if not isinstance(self.model, Model):
            raise InvalidArgumentError(
                f"BackupAndRestore.{hook}: the callback has no model (got {type(self.model).__name__}); "
                "pass it to fit(callbacks=[...]) or call set_model(model) first"
            )
        return self.model

    def on_epoch_begin(self, epoch, logs=None):
        check_hook("BackupAndRestore", "on_epoch_begin", epoch, logs)
        if self._resume is not None:
            self._apply_resume(int(epoch))
        self._epoch_numpy_state = _np_state()

    def on_epoch_end(self, epoch, logs=None):
        check_hook("BackupAndRestore", "on_epoch_end", epoch, logs)
        if self.save_freq == "epoch":
            self._model("on_epoch_end")
        self._current_epoch = int(epoch) + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save(self._current_epoch, 0)

    def _on_train_batch_end(self, batch, logs=None):
        check_hook("BackupAndRestore", "on_train_batch_end", batch, logs, "batch")
        self._model("on_train_batch_end")
        if self._pending_metrics is not None:
            # The first resumed batch has built the compiled metrics: add the saved sums
            # (a + b == b + a exactly, so the totals match an uninterrupted run's). Only
            # a per-batch backup resumes mid-epoch, and it always has this hook.
            found = self._flat_metrics()
            for name, state in self._pending_metrics.items():
                if name in found:
                    _add_mean_state(found[name], state)
            self._pending_metrics = None
        batch = int(batch)
        if batch <= self._last_batch_seen:  # a new epoch
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save(self._current_epoch, batch + 1)

    def on_train_batch_begin(self, batch, logs=None):
        if self._resume_numpy is not None:
            # the permutation is drawn: now numpy's stream continues where the backup left it
            _set_np_state(self._resume_numpy)
            self._resume_numpy = None

    _resume_numpy = None
    _pending_metrics = None

    # -- restoring ---------------------------------------------------------------------------
    def _read(self, path: str):
        from ..saving import saving_lib

        where = "BackupAndRestore"
        with saving_lib._open_zip(path, where) as zf:
            names = saving_lib._check_member_names(zf, where)
            metadata = saving_lib._read_json(zf, names, _METADATA, where)
            if (not isinstance(metadata, dict) or metadata.get("format_version") != _FORMAT_VERSION
                    or not all(isinstance(metadata.get(k), int) and metadata[k] >= 0 for k in ("epoch", "step"))):
                raise SerializationError(f"{where}: {path!r} holds no backup this version of Ember wrote")
            _check_streams(metadata, f"{where}: {path!r}")
            with_optimizer = getattr(self.model, "optimizer", None) is not None
            stored = saving_lib._read_weights(zf, names, self.model, where, with_optimizer)
            plan = saving_lib._plan(self.model, stored, where, with_optimizer, skip_optimizer_mismatch=False)
        return metadata, plan

    def on_train_begin(self, logs=None):
        from ..saving import saving_lib

        model = self.model
        if not getattr(model, "built", False):
            raise InvalidArgumentError("BackupAndRestore: the model must be built before fit (give it an Input, or "
                                       "call it on a batch of data)")
        self._current_epoch, self._last_batch_seen, self._batches_seen_since_last_saving = 0, 0, 0
        self._resume = self._resume_numpy = None
        if not os.path.exists(self._backup_path) and not os.path.exists(self._prev_backup_path):
            return
        try:
            metadata, plan = self._read(self._backup_path)
        except SerializationError:
            if not os.path.exists(self._prev_backup_path):
                raise
            metadata, plan = self._read(self._prev_backup_path)  # the latest is damaged: fall back
        saving_lib._apply(plan)  # checked completely above: nothing was assigned on an error
        model._initial_epoch = metadata["epoch"]
        model._initial_step = metadata["step"]
        self._current_epoch = metadata["epoch"]
        self._last_batch_seen = metadata.get("batch", 0)
        self._resume = metadata

    def _apply_resume(self, epoch: int) -> None:
        metadata, self._resume = self._resume, None
        if epoch != metadata["epoch"]:
            return  # fit was asked for other epochs: only the weights carry over
        set_random_state(self.model, metadata["random"], numpy=False)
        _set_np_state(metadata["epoch_numpy"])
        dist = _distribution()
        if dist is not None:
            dist.fold_random()  # the backup holds rank 0's streams: each rank folds in its rank
        chief = dist is None or dist.is_chief
        if metadata["step"]:
            self._epoch_numpy_state = metadata["epoch_numpy"]
            self._resume_numpy = metadata["random"]["numpy"]
            # The running totals of the epoch's metrics: the loss trackers exist now; the
            # compiled metrics of a fresh model only after the first batch (see
            # _on_train_batch_end).
            saved = dict(metadata["metrics"] or {}) if chief else {}
            for name, m in self._flat_metrics().items():
                if name in saved:
                    _set_metric_state(m, saved.pop(name))
            self._pending_metrics = saved or None  # compiled metrics not built yet: see _on_train_batch_end

    def on_train_end(self, logs=None):
        dist = _distribution()
        if dist is not None and not dist.is_chief:
            return
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)
