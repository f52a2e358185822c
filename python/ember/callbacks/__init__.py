"""Callbacks with the Keras 3 hook names: History (always attached), ProgbarLogger
(through ``verbose``), EarlyStopping, LambdaCallback, LearningRateScheduler,
ReduceLROnPlateau, TerminateOnNaN and Ember's GradientHealth."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from ..errors import InvalidArgumentError

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "LambdaCallback", "GradientHealth",
    "GradientHealthWarning", "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN",
]


class Callback:
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
    def __init__(self, callbacks, model=None, params=None):
        super().__init__()
        self.callbacks = list(callbacks or [])
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

            def fan_out(*args, **kwargs):
                for c in cbs:
                    getattr(c, name)(*args, **kwargs)

            return fan_out
        return object.__getattribute__(self, name)


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` etc."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


def _fmt(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgbarLogger(Callback):
    """``verbose=1``: a live tqdm bar per epoch with the running loss and metrics;
    ``verbose=2``: one line per epoch."""

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        print(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}", file=sys.stdout, flush=True)
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.params.get("steps"), unit="step", file=sys.stdout, leave=True,
                             dynamic_ncols=True, mininterval=0.2, bar_format="{n_fmt}/{total_fmt} {bar} {elapsed} {rate_fmt}{postfix}")

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt(logs or {}), refresh=False)
            self._bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        dt = time.perf_counter() - self._t0
        steps = self.params.get("steps") or 1
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None
        else:
            print(f"{steps}/{steps} - {dt:.0f}s - {1000 * dt / steps:.0f}ms/step - {_fmt(logs or {})}", file=sys.stdout, flush=True)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; optionally restores the best weights."""

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
        maximize = mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.endswith("auc")))
        self._better = (lambda a, b: a - self.min_delta > b) if maximize else (lambda a, b: a + self.min_delta < b)
        self._worst = -math.inf if maximize else math.inf

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
    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_"):
                raise InvalidArgumentError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


from .gradient_health import GradientHealth, GradientHealthWarning  # noqa: E402  (needs Callback above)
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN  # noqa: E402
