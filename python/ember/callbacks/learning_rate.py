"""Callbacks that steer training from its logs (Keras 3 names and semantics):
`LearningRateScheduler`, `ReduceLROnPlateau` and `TerminateOnNaN`.

Example:
    >>> import numpy as np, ember as em
    >>> m = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
    >>> m.compile(optimizer=em.optimizers.SGD(0.1), loss="mse")
    >>> cb = em.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    >>> h = m.fit(np.ones((4, 2), "float32"), np.ones(4, "float32"), epochs=3, verbose=0, callbacks=[cb])
    >>> [round(v, 4) for v in h.history["learning_rate"]]
    [0.05, 0.025, 0.0125]
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError, NonFiniteLossError
from . import Callback


def _optimizer(callback: Callback, owner: str):
    opt = getattr(callback.model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise InvalidArgumentError(f"{owner}: the model has no optimizer with a learning_rate (compile it first)")
    return opt


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to
    ``schedule(epoch, lr)`` (or ``schedule(epoch)`` for a one-argument function); the
    rate used is logged as ``learning_rate``, as in Keras.

    Args:
        schedule: a function of the epoch index (from 0) and the current rate, returning
            the new rate (a finite float).
        verbose: 0 is quiet, 1 prints each change.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise InvalidArgumentError(f"LearningRateScheduler: argument schedule must be callable, got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = _optimizer(self, "LearningRateScheduler")
        lr = float(opt.learning_rate)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # a schedule of the epoch alone
            new = self.schedule(epoch)
        if isinstance(new, bool) or not isinstance(new, (int, float, np.floating, np.integer)) or not math.isfinite(new):
            raise InvalidArgumentError(f"LearningRateScheduler: the schedule must return a finite float, got {new!r}")
        opt.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(_optimizer(self, "LearningRateScheduler").learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs; never below
    ``min_lr``. Keras 3 defaults.

    Args:
        monitor: the logged value to watch (default ``"val_loss"``).
        factor: the multiplier of the rate, in (0, 1).
        patience: epochs without improvement before the rate is reduced.
        verbose: 0 is quiet, 1 prints each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names).
        min_delta: the least change that counts as an improvement.
        cooldown: epochs to wait after a reduction before watching again.
        min_lr: the lower bound of the rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if kwargs:
            raise InvalidArgumentError(f"ReduceLROnPlateau: unknown arguments {sorted(kwargs)}")
        if not isinstance(monitor, str):
            raise InvalidArgumentError(f"ReduceLROnPlateau: argument monitor must be the name of a logged value, got {monitor!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)) or not math.isfinite(min_delta):
            raise InvalidArgumentError(f"ReduceLROnPlateau: argument min_delta must be a finite number, got {min_delta!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0.0 <= factor < 1.0:
            raise InvalidArgumentError(f"ReduceLROnPlateau: argument factor must be in [0, 1), got {factor!r}")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise InvalidArgumentError(f"ReduceLROnPlateau: argument {name} must be an integer >= 0, got {v!r}")
        if mode not in ("auto", "min", "max"):
            raise InvalidArgumentError(f"ReduceLROnPlateau: argument mode must be auto, min or max, got {mode!r}")
        if not isinstance(min_lr, (int, float)) or not min_lr >= 0:
            raise InvalidArgumentError(f"ReduceLROnPlateau: argument min_lr must be >= 0, got {min_lr!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), verbose
        self.min_delta, self.cooldown, self.min_lr = abs(float(min_delta)), int(cooldown), float(min_lr)
        maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self._better = (lambda a, b: a > b + self.min_delta) if maximize else (lambda a, b: a < b - self.min_delta)
        self._worst = -math.inf if maximize else math.inf

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = self._worst, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = _optimizer(self, "ReduceLROnPlateau")
        logs["learning_rate"] = float(opt.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(opt.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    opt.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite.

    Args:
        raise_error: False (the default): stop gracefully (``model.stop_training = True``,
            so every callback's ``on_train_end`` still runs); True: raise
            `ember.errors.NonFiniteLossError` (a RuntimeError, as Keras raises) at once,
            skipping the other callbacks' cleanup (a backup is kept as it was).
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        if not isinstance(raise_error, (bool, np.bool_)):
            raise InvalidArgumentError(f"TerminateOnNaN: raise_error must be True or False, got {raise_error!r}")
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise NonFiniteLossError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                         "Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
