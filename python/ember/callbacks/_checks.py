"""Argument checks shared by the file-writing callbacks (CSVLogger, ModelCheckpoint,
TensorBoard): each names the callback and the argument it rejects."""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import InvalidArgumentError


def path_arg(owner: str, name: str, value) -> str:
    """``value`` as a non-empty ``str`` path (a ``str`` or an ``os.PathLike`` of one)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidArgumentError(f"{owner}: {name} must be a non-empty path (str or os.PathLike), got {value!r}")
    return value


def int_arg(owner: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def bool_arg(owner: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_hook(owner: str, hook: str, index, logs, what: str = "epoch") -> dict:
    """Validates a hook's ``epoch``/``batch`` index and ``logs``; returns the logs (``{}``
    for None)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise InvalidArgumentError(f"{owner}.{hook}: {what} must be an integer >= 0, got {index!r}")
    if logs is None:
        return {}
    if not isinstance(logs, dict):
        raise InvalidArgumentError(f"{owner}.{hook}: logs must be a dict, got {type(logs).__name__}")
    return logs


def scalar(value) -> float | None:
    """A log value as a Python float, or None if it is not a real scalar."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.number) \
            and not np.iscomplexobj(value):
        return float(value)
    return None


def maximize(monitor: str, mode: str) -> bool:
    """Whether a larger ``monitor`` is better: ``mode="auto"`` reads the name, as Keras
    does (accuracy-like and AUC names are maximised, everything else minimised)."""
    if mode == "max":
        return True
    if mode == "min":
        return False
    return "acc" in monitor or monitor.endswith("auc") or monitor.startswith("fmeasure")


def finite_or_none(owner: str, name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise InvalidArgumentError(f"{owner}: {name} must be a finite number or None, got {value!r}")
    return float(value)
