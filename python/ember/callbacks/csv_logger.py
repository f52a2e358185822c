"""`CSVLogger`: one row of epoch results per epoch, in Keras 3's CSV format."""

from __future__ import annotations

import collections.abc
import csv
import os

import numpy as np

from ..errors import InvalidArgumentError
from . import Callback
from ._checks import bool_arg, check_hook, path_arg


class CSVLogger(Callback):
    """Streams the epoch results of ``fit`` to a CSV file, in Keras 3's format.

    The header is ``epoch`` then the sorted log keys; each epoch adds one row (``epoch``
    counts from 0, values as Python writes them) and the file is flushed and closed after
    every row, so it can be read while training runs. As in Keras, when the first epoch
    has no ``val_`` keys (no validation data, or ``validation_freq > 1``) a ``val_``
    column is added for each key, holding ``NA`` until validation runs. Rows end in
    ``\\r\\n`` (the ``csv`` module's excel dialect, which Keras uses).

    Args:
        filename: the CSV file's path, e.g. ``"run/log.csv"`` (its folder must exist).
        separator: the one-character string between fields.
        append: True to append to an existing file (the header is written only when
            the file is empty), False to overwrite it.

    Example:
        >>> import pathlib, tempfile, numpy as np, ember as em
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> m = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
        >>> m.compile(optimizer="sgd", loss="mse")
        >>> _ = m.fit(np.ones((4, 2), "float32"), np.ones(4, "float32"), epochs=2, verbose=0,
        ...           callbacks=[em.callbacks.CSVLogger(path)])
        >>> path.read_text().splitlines()[0]
        'epoch,loss,val_loss'
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = path_arg("CSVLogger", "filename", filename)
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise InvalidArgumentError(f"CSVLogger: separator must be one character (not a quote or a newline), got {separator!r}")
        self.sep = separator
        self.append = bool_arg("CSVLogger", "append", append)
        self.keys: list[str] | None = None
        self.append_header = True
        self._mode = "a" if self.append else "w"

    def _open(self, mode):
        try:
            return open(self.filename, mode, newline="", encoding="utf-8")
        except OSError as e:
            raise InvalidArgumentError(f"CSVLogger: cannot open {self.filename!r} for writing: {e.strerror or e}") from None

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append and os.path.isfile(self.filename):
            try:
                with open(self.filename, encoding="utf-8", newline="") as f:
                    self.append_header = not f.readline()
            except (OSError, UnicodeDecodeError) as e:
                raise InvalidArgumentError(f"CSVLogger: cannot read {self.filename!r} to append to it: {e}") from None
        if not self.append:
            self._open("w").close()  # truncate now, as Keras does at the start of training
        self._mode = "a"
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = check_hook("CSVLogger", "on_epoch_end", epoch, logs)
        if self.keys is None:
            self.keys = sorted(str(k) for k in logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]
            write_header = self.append_header
        else:
            write_header = False

        class Dialect(csv.excel):
            delimiter = self.sep

        with self._open(self._mode) as f:
            self._mode = "a"
            writer = csv.DictWriter(f, fieldnames=["epoch"] + self.keys, dialect=Dialect, extrasaction="ignore")
            if write_header:
                writer.writeheader()
            row = {"epoch": int(epoch)}
            row.update((k, _handle_value(logs.get(k, "NA"))) for k in self.keys)
            writer.writerow(row)

    def on_train_end(self, logs=None):
        self.keys = None


def _handle_value(v):
    """Keras's cell format: strings as they are, 1-D iterables as ``"[a, b]"``."""
    if isinstance(v, str):
        return v
    if isinstance(v, collections.abc.Iterable) and not (isinstance(v, np.ndarray) and v.ndim == 0):
        return f'"[{", ".join(map(str, v))}]"'
    return v
