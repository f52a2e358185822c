"""Callbacks with the Keras 3 hook names: History (always attached), ProgbarLogger
(through ``verbose``), EarlyStopping, LambdaCallback, LearningRateScheduler,
ReduceLROnPlateau, TerminateOnNaN, CSVLogger, ModelCheckpoint, TensorBoard, BackupAndRestore,
SwapEMAWeights and Ember's GradientHealth."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from ..errors import InvalidArgumentError

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "LambdaCallback", "GradientHealth",
    "GradientHealthWarning", "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger",
    "ModelCheckpoint", "TensorBoard", "BackupAndRestore", "SwapEMAWeights",
]


class Callback:
    """Base class of callbacks (``keras.callbacks.Callback``): override the ``on_*`` hooks.

    ``fit``, ``evaluate`` and ``predict`` call the hooks with the epoch or batch index and
    a ``logs`` dict (``loss`` and the metrics); ``self.model`` is the model being trained
    and ``self.params`` holds ``epochs``, ``steps`` and ``verbose``.

    Example:
        >>> import ember as em
        >>> class CountEpochs(em.callbacks.Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.n = 0
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         self.n += 1
        >>> m = em.Sequential([em.Input((1,)), em.layers.Dense(1)])
        >>> m.compile(optimizer="sgd", loss="mse")
        >>> cb = CountEpochs()
        >>> _ = m.fit(em.ones((4, 1)).numpy(), em.ones((4, 1)).numpy(), epochs=3, verbose=0, callbacks=[cb])
        >>> cb.n
        3
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class CallbackList(Callback):
    """Calls each hook on every callback of a list, in order (what ``fit`` uses).

    Every hook receives a ``logs`` dict, never None (an empty one where there is nothing
    to report), as in Keras.

    Args:
        callbacks: a list of `Callback` instances (None: none).
        add_history: append a `History` if the list has none.
        add_progbar: append a `ProgbarLogger` if the list has none.
        model: the model, given to every callback's ``set_model``.
        **params: the training parameters (``epochs=``, ``steps=``, ``verbose=``; or one dict
            as ``params=``), given to every callback's ``set_params``.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        # Keras passes the params as keywords (epochs=, steps=, verbose=); Ember's callers
        # pass them as one dict, params=.
        params = params.pop("params") if set(params) == {"params"} else (params or None)
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            raise InvalidArgumentError(f"callbacks: expected a list of callbacks, got a single {type(callbacks).__name__}; "
                                       "wrap it in a list")
        elif isinstance(callbacks, (str, bytes, dict)) or not hasattr(callbacks, "__iter__"):
            raise InvalidArgumentError(f"callbacks: expected a list of ember.callbacks.Callback, got {type(callbacks).__name__}")
        self.callbacks = list(callbacks)
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger((params or {}).get("verbose", 1) or 1))
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise InvalidArgumentError(f"callbacks: {c!r} is not an ember.callbacks.Callback")
            if model is not None:
                c.set_model(model)
            if params is not None:
                c.set_params(params)

    def __getattribute__(self, name):
        if name.startswith("on_"):
            cbs = object.__getattribute__(self, "callbacks")

            # Keras hands every hook a logs dict, never None (custom callbacks index it).
            at = 0 if name.endswith(("_begin", "_end")) and not name.startswith(("on_epoch", "on_train_batch", "on_test_batch", "on_predict_batch")) else 1

            def fan_out(*args, **kwargs):
                if len(args) > at:
                    if args[at] is None:
                        args = args[:at] + ({},) + args[at + 1:]
                elif kwargs.get("logs") is None:
                    kwargs["logs"] = {}
                for c in cbs:
                    getattr(c, name)(*args, **kwargs)

            return fan_out
        return object.__getattribute__(self, name)


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` etc.; `plot` draws them.

    ``fit`` attaches one to every run and returns it.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self._epochs_of: dict[str, list[int]] = {}

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}
        self._epochs_of = {}  # the epochs each key was logged at (fewer for val_ keys with validation_freq > 1)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
            self._epochs_of.setdefault(k, []).append(epoch)
        if self.model is not None:
            self.model.history = self

    def plot(self, path=None, metrics=None):
        """Draws the loss and metric curves, training against validation, one panel
        per metric; needs matplotlib (``pip install matplotlib``).

        Args:
            path: where to save the figure as PNG (a ``str`` or ``os.PathLike``); None
                to only return it.
            metrics: the names to draw (``"loss"``, ``"accuracy"``, ...: a ``val_``
                curve is drawn with its training curve); None for every logged value.

        Returns:
            The ``matplotlib.figure.Figure``.

        Raises:
            BackendUnavailableError: matplotlib is not installed.
            InvalidArgumentError: nothing was recorded yet, or a name was not logged.
        """
        from ._plot import plot_history

        return plot_history(self, path, metrics)


def _fmt_value(v) -> str:
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        v = float(v)
        return f"{v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.4e}"
    return str(v)


def _fmt(logs: dict) -> str:
    return " - ".join(f"{k}: {_fmt_value(v)}" for k, v in logs.items())


def _fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if s >= 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


def _fmt_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _dynamic_display(stream=None) -> bool:
    """Whether ``stream`` (default stdout) shows carriage-return updates in place: a
    terminal, or a Jupyter/IPython kernel's output. A file or a pipe does not: logs there
    get one line per epoch (keras-team/keras#13716)."""
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return type(stream).__module__.startswith("ipykernel")


def _auto_verbosity() -> int:
    """``verbose="auto"``: 1 (a live bar) where stdout updates in place, else 2 (one line
    per epoch)."""
    return 1 if _dynamic_display() else 2


class ProgbarLogger(Callback):
    """Prints training progress, as Keras's ``ProgbarLogger`` does.

    Where stdout is a terminal (or a notebook), ``verbose=1`` shows a bar updated in
    place, in Keras's layout::

        Epoch 3/10
        12/20 ━━━━━━━━━━━━──────── ETA 1s 48ms/step - accuracy: 0.8125 - loss: 0.4210

    and ends each epoch with its total time. Where stdout is a file or a pipe, and with
    ``verbose=2``, each epoch is one line without carriage returns::

        Epoch 3/10 - 20/20 - 1s - 48ms/step - accuracy: 0.8125 - loss: 0.4210

    ``fit(verbose="auto")``, the default, picks 1 on a terminal and 2 elsewhere.

    Args:
        verbose: 1 for the bar (one line per epoch where the output is not a terminal),
            2 for one line per epoch.
    """

    WIDTH = 20  # characters of the bar
    INTERVAL = 0.05  # seconds between two redraws of the bar

    def __init__(self, verbose: int = 1):
        super().__init__()
        if isinstance(verbose, bool) or not isinstance(verbose, int) or verbose not in (1, 2):
            raise InvalidArgumentError(f"ProgbarLogger: verbose must be 1 or 2, got {verbose!r}")
        self.verbose = verbose
        self._live = False
        self._width = 0
        self._t0 = self._last = time.perf_counter()  # an epoch that ends unbegun still reports
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = self._last = time.perf_counter()
        self._epoch = epoch
        self._live = self.verbose == 1 and _dynamic_display()
        self._width = 0
        if self._live:
            self._write(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}\n")

    def _write(self, text: str) -> None:
        from .._settings import is_interactive_logging_enabled

        if not is_interactive_logging_enabled():
            # keras.config.disable_interactive_logging: whole lines to the "ember" logger
            # (Keras uses absl logging), no in-place redraws.
            line = text.strip("\r\n")
            if line and text.endswith("\n"):
                import logging

                logging.getLogger("ember").info(line)
            return
        sys.stdout.write(text)
        sys.stdout.flush()

    def _bar(self, done: int, total: int | None) -> str:
        if not total:
            return ""
        filled = min(self.WIDTH, int(self.WIDTH * done / total))
        full, empty = "\u2501", "\u2500"
        try:
            (full + empty).encode(getattr(sys.stdout, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            full, empty = "=", "."
        return full * filled + empty * (self.WIDTH - filled) + " "

    def on_train_batch_end(self, batch, logs=None):
        if not self._live:
            return
        now = time.perf_counter()
        total = self.params.get("steps")
        done = batch + 1
        if now - self._last < self.INTERVAL and done != total:
            return
        self._last = now
        per_step = (now - self._t0) / done
        eta = f"ETA {_fmt_duration(per_step * (total - done))} " if total else ""
        metrics = _fmt(logs or {})
        line = f"{done}/{total or '?'} {self._bar(done, total)}{eta}{_fmt_per_step(per_step)}"
        line += f" - {metrics}" if metrics else ""
        self._redraw(line)

    def _redraw(self, line: str) -> None:
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self._write("\r" + line + pad)

    def on_epoch_end(self, epoch, logs=None):
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise InvalidArgumentError(f"ProgbarLogger.on_epoch_end: epoch must be an integer, got {epoch!r}")
        if logs is not None and not isinstance(logs, dict):
            raise InvalidArgumentError(f"ProgbarLogger.on_epoch_end: logs must be a dict, got {type(logs).__name__}")
        dt = time.perf_counter() - self._t0
        steps = self.params.get("steps") or 0
        metrics = _fmt(logs or {})
        per_step = _fmt_per_step(dt / max(steps, 1))
        if self._live:
            line = f"{steps}/{steps} {self._bar(steps, steps)}{_fmt_duration(dt)} {per_step}"
            self._redraw(line + (f" - {metrics}" if metrics else ""))
            self._write("\n")
        else:
            line = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')} - {steps}/{steps} - {_fmt_duration(dt)} - {per_step}"
            self._write(line + (f" - {metrics}" if metrics else "") + "\n")
        self._live = False


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; optionally restores the best weights (Keras 3 semantics and defaults).

    Args:
        monitor: the logged value to watch (default ``"val_loss"``).
        min_delta: the least change that counts as an improvement.
        patience: epochs without improvement before training stops.
        verbose: 0 is quiet, 1 prints the epoch training stopped at.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names).
        baseline: a value the monitored quantity must beat; None for none.
        restore_best_weights: whether to restore the weights of the best epoch when
            training stops.
        start_from_epoch: epochs to wait before watching (a warm-up).
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise InvalidArgumentError(f"EarlyStopping: patience must be an integer >= 0, got {patience!r}")
        if not isinstance(monitor, str):
            raise InvalidArgumentError(f"EarlyStopping: monitor must be the name of a logged value, got {monitor!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)) or not math.isfinite(min_delta):
            raise InvalidArgumentError(f"EarlyStopping: min_delta must be a finite number, got {min_delta!r}")
        if isinstance(start_from_epoch, bool) or not isinstance(start_from_epoch, (int, np.integer)) or start_from_epoch < 0:
            raise InvalidArgumentError(f"EarlyStopping: start_from_epoch must be an integer >= 0, got {start_from_epoch!r}")
        if mode not in ("auto", "min", "max"):
            raise InvalidArgumentError(f"EarlyStopping: mode must be auto, min or max, got {mode!r}")
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.verbose, self.baseline, self.restore_best_weights = verbose, baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        # The state of a fit, reset by on_train_begin (set here too, as Keras does, so
        # that the hooks work on a callback that has not seen on_train_begin).
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        maximize = mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.endswith("auc")))
        self._better = (lambda a, b: a - self.min_delta > b) if maximize else (lambda a, b: a + self.min_delta < b)
        self._worst = -math.inf if maximize else math.inf
        self.best = self._worst if baseline is None else baseline

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._worst if self.baseline is None else self.baseline
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class LambdaCallback(Callback):
    """A callback made of functions given by hook name (``keras.callbacks.LambdaCallback``).

    Args:
        on_epoch_begin: ``f(epoch, logs)``, called at the start of each epoch.
        on_epoch_end: ``f(epoch, logs)``, called at the end of each epoch.
        on_train_begin: ``f(logs)``, called when training starts.
        on_train_end: ``f(logs)``, called when training ends.
        on_train_batch_begin: ``f(batch, logs)``, called before each training batch.
        on_train_batch_end: ``f(batch, logs)``, called after each training batch.
        **kwargs: other hooks by name (``on_test_begin``, ..., and Keras 2's
            ``on_batch_begin``/``on_batch_end``); any other name is an error.

    Example:
        >>> import ember as em
        >>> seen = []
        >>> cb = em.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
        >>> m = em.Sequential([em.Input((1,)), em.layers.Dense(1)])
        >>> m.compile(optimizer="sgd", loss="mse")
        >>> _ = m.fit(em.ones((4, 1)).numpy(), em.ones((4, 1)).numpy(), epochs=2, verbose=0, callbacks=[cb])
        >>> seen
        [0, 1]
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        # Keras 2's on_batch_begin/on_batch_end name the train-batch hooks.
        for old, new in (("on_batch_begin", "on_train_batch_begin"), ("on_batch_end", "on_train_batch_end")):
            if old in kwargs:
                hooks[new] = kwargs.pop(old)
        for name, fn in {**hooks, **kwargs}.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise InvalidArgumentError(f"LambdaCallback: unknown hook {name!r}")
            if fn is not None:
                if not callable(fn):
                    raise InvalidArgumentError(f"LambdaCallback: {name} must be callable, got {fn!r}")
                setattr(self, name, fn)


from .gradient_health import GradientHealth, GradientHealthWarning  # noqa: E402  (needs Callback above)
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN  # noqa: E402
from .csv_logger import CSVLogger  # noqa: E402
from .model_checkpoint import ModelCheckpoint  # noqa: E402
from .tensorboard import TensorBoard  # noqa: E402
from .backup_and_restore import BackupAndRestore  # noqa: E402
from .swap_ema_weights import SwapEMAWeights  # noqa: E402
