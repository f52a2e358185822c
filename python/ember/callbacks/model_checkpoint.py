"""`ModelCheckpoint`: saves the model, or its weights, during ``fit`` (Keras 3
semantics)."""

from __future__ import annotations

import os
import string
import warnings

import numpy as np

from ..errors import InvalidArgumentError
from . import Callback
from ._checks import bool_arg, check_hook, finite_or_none, int_arg, maximize, path_arg, scalar

_WEIGHTS_SUFFIXES = (".weights.h5", ".safetensors")
_MODEL_SUFFIXES = (".keras",)


class ModelCheckpoint(Callback):
    """Saves the model (``model.save``) or its weights (``model.save_weights``) at the
    end of every epoch, or every ``save_freq`` batches; with ``save_best_only``, only when
    ``monitor`` improves on the best value seen so far.

    ``filepath`` may hold ``str.format`` fields filled from ``epoch`` (counted from 1, as
    Keras does), ``batch`` (from 1, when saving every ``save_freq`` batches) and the
    logged values: ``"ckpt/{epoch:02d}-{val_loss:.2f}.keras"`` writes
    ``ckpt/01-0.53.keras``, ``ckpt/02-0.41.keras``, ... Missing folders are created.

    Args:
        filepath: where to save: a path ending in ``.keras`` (the whole model), or with
            ``save_weights_only=True`` in ``.weights.h5`` or ``.safetensors``; may hold
            format fields as above.
        monitor: the logged value ``save_best_only`` watches (default ``"val_loss"``).
        verbose: 0 is quiet, 1 prints a line each time the callback saves or declines to.
        save_best_only: save only when ``monitor`` improves; a ``filepath`` without
            format fields is then overwritten by each better model.
        save_weights_only: save only the weights (``model.save_weights``), not the whole
            model (``model.save``).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names, else min).
        save_freq: ``"epoch"``, or an integer: save every that many training batches.
        initial_value_threshold: the best value to beat at the start (None: the first
            value counts as an improvement).

    Example:
        >>> import pathlib, tempfile, numpy as np, ember as em
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> cb = em.callbacks.ModelCheckpoint(str(d / "{epoch:02d}.keras"), monitor="loss")
        >>> cb.filepath
        '...{epoch:02d}.keras'
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        owner = "ModelCheckpoint"
        self.filepath = path_arg(owner, "filepath", filepath)
        if not isinstance(monitor, str) or not monitor:
            raise InvalidArgumentError(f"{owner}: monitor must be the name of a logged value, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise InvalidArgumentError(f"{owner}: mode must be auto, min or max, got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.verbose = int_arg(owner, "verbose", verbose, 0)
        self.save_best_only = bool_arg(owner, "save_best_only", save_best_only)
        self.save_weights_only = bool_arg(owner, "save_weights_only", save_weights_only)
        if save_freq != "epoch":
            if isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq < 1:
                raise InvalidArgumentError(f"{owner}: save_freq must be 'epoch' or a positive integer (batches), got {save_freq!r}")
            save_freq = int(save_freq)
            # Batch logs are read back from the device only for callbacks that implement
            # on_train_batch_end: only a per-batch checkpoint does.
            self.on_train_batch_end = self._on_train_batch_end
        self.save_freq = save_freq
        self.initial_value_threshold = finite_or_none(owner, "initial_value_threshold", initial_value_threshold)
        suffixes = _WEIGHTS_SUFFIXES if self.save_weights_only else _MODEL_SUFFIXES
        if not self.filepath.endswith(suffixes):
            what = ("with save_weights_only=True, the filepath must end in .weights.h5 or .safetensors"
                    if self.save_weights_only else "the filepath must end in .keras (the Keras model format; use "
                    "save_weights_only=True for .weights.h5 or .safetensors)")
            raise InvalidArgumentError(f"{owner}: {what}, got {self.filepath!r}")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.filepath) if f is not None]
        except ValueError as e:
            raise InvalidArgumentError(f"{owner}: filepath {self.filepath!r} is not a valid format string: {e}") from None
        if any(f == "" or f.isdigit() for f in fields):
            raise InvalidArgumentError(f"{owner}: filepath {self.filepath!r} has a positional field {{}}; "
                                       "name it, e.g. {epoch:02d} or {val_loss:.2f}")
        self._maximize = maximize(monitor, mode)
        self.best = self.initial_value_threshold
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1

    def _is_improvement(self, current: float) -> bool:
        if self.best is None:
            return True
        return current > self.best if self._maximize else current < self.best

    def on_epoch_begin(self, epoch, logs=None):
        check_hook("ModelCheckpoint", "on_epoch_begin", epoch, logs)
        self._current_epoch = int(epoch)
        self._last_batch_seen = -1

    def _on_train_batch_end(self, batch, logs=None):
        logs = check_hook("ModelCheckpoint", "on_train_batch_end", batch, logs, what="batch")
        if batch <= self._last_batch_seen:  # a new epoch
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = int(batch)
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save_model(self._current_epoch, int(batch), logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = check_hook("ModelCheckpoint", "on_epoch_end", epoch, logs)
        if self.save_freq == "epoch":
            self._save_model(int(epoch), None, logs)

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {k: v for k, v in logs.items() if isinstance(k, str)}
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise InvalidArgumentError(f"ModelCheckpoint: cannot fill filepath {self.filepath!r}: no logged value {e}; "
                                       f"the fields available are {sorted(fields)}") from None
        except (ValueError, TypeError, IndexError) as e:
            raise InvalidArgumentError(f"ModelCheckpoint: cannot fill filepath {self.filepath!r} from {fields}: {e}") from None

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        raw = logs.get(self.monitor)
        if raw is None:
            warnings.warn(f"ModelCheckpoint: can save the best model only with {self.monitor} available "
                          f"(the logs hold {sorted(logs)}); saving this epoch's model", UserWarning, stacklevel=3)
            return True
        current = scalar(raw)
        if current is None:
            warnings.warn(f"ModelCheckpoint: can save the best model only when {self.monitor} is a scalar, got {raw!r}; "
                          "saving this epoch's model", UserWarning, stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: dict) -> None:
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise InvalidArgumentError(f"ModelCheckpoint: filepath {filepath!r} is an existing folder; give a file path")
        method = "save_weights" if self.save_weights_only else "save"
        save = getattr(self.model, method, None)
        if save is None:
            raise InvalidArgumentError(f"ModelCheckpoint: the callback has no model with a {method} method "
                                       "(it is set by fit)")
        dirname = os.path.dirname(filepath)
        if dirname:
            try:
                os.makedirs(dirname, exist_ok=True)
            except OSError as e:
                raise InvalidArgumentError(f"ModelCheckpoint: cannot create the folder {dirname!r}: {e.strerror or e}") from None
        save(filepath)
