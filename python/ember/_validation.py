"""Shared argument checks for the public API: each raises the `ember.errors` class a Keras
user expects (an `InvalidArgumentError`, also a ``ValueError``), with a message naming
the function or layer (``owner``), the argument and the bad value, before any work is
done. A numpy array where a scalar or a name belongs is refused here too, instead of
numpy's "truth value of an array is ambiguous" from deep inside.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidArgumentError, OutOfMemoryError

# The most elements a buffer sized by an integer argument (a window length, a number of
# classes or thresholds, a range's count) may hold: 2**32 float32 values are 16 GiB. A
# count past this is refused at once with OutOfMemoryError (as the allocators refuse a
# tensor they cannot hold) instead of numpy trying, or a Python loop running, for minutes.
MAX_ARG_ELEMENTS = 1 << 32


def brief(value) -> str:
    """A short description of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} ({value.dtype})"
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or numpy; not a bool, not a float)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, owner: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``; an `InvalidArgumentError` naming ``owner`` and ``name``
    if it is not an integer in ``[minimum, maximum]``."""
    if not is_int(value):
        raise InvalidArgumentError(f"{owner}: {name} must be an integer, got {brief(value)}")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        if maximum is None:
            where = f">= {minimum}"
        elif minimum is None:
            where = f"<= {maximum}"
        else:
            where = f"in [{minimum}, {maximum}]"
        raise InvalidArgumentError(f"{owner}: {name} must be an integer {where}, got {v}")
    return v


def check_number(value, name: str, owner: str, finite: bool = True) -> float:
    """``value`` as a ``float``; an `InvalidArgumentError` if it is not a real number
    (a Python or numpy number, a 0-d numeric array or a 0-d tensor), or, with
    ``finite``, if it is NaN or infinite."""
    from .tensor import Tensor

    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    elif isinstance(value, Tensor) and value.ndim == 0:
        value = value.numpy().item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{owner}: {name} must be a number, got {brief(value)}")
    v = float(value)
    if finite and not math.isfinite(v):
        raise InvalidArgumentError(f"{owner}: {name} must be a finite number, got {v}")
    return v


def check_choice(value, name: str, owner: str, choices):
    """``value`` if it is one of ``choices`` (strings, and None where None is one);
    else an `InvalidArgumentError` listing them (an array is refused, never compared
    elementwise)."""
    for c in choices:
        if (c is None and value is None) or (isinstance(c, str) and isinstance(value, str) and value == c):
            return value
    listed = ", ".join(repr(c) for c in choices)
    raise InvalidArgumentError(f"{owner}: {name} must be one of {listed}, got {brief(value)}")


def check_axis(axis, ndim: int, owner: str, name: str = "axis") -> int:
    """``axis`` normalized to ``[0, ndim)``; an `InvalidArgumentError` if it is not an
    integer or is out of bounds (every axis is, on a 0-d tensor)."""
    a = check_int(axis, name, owner)
    if not -ndim <= a < ndim:
        raise InvalidArgumentError(f"{owner}: {name} {a} is out of bounds for a tensor of rank {ndim}")
    return a % ndim


def check_num_elements(count: int, owner: str, what: str) -> None:
    """Refuses, with `OutOfMemoryError`, a buffer of more than `MAX_ARG_ELEMENTS`
    elements (``what`` names it in the message)."""
    if count > MAX_ARG_ELEMENTS:
        raise OutOfMemoryError(f"{owner}: cannot allocate {what} of {count} elements (at most {MAX_ARG_ELEMENTS})")


def check_bool(value, name: str, owner: str) -> bool:
    """``value`` if it is a bool (Python or numpy); else an `InvalidArgumentError` (an
    array's truth value is ambiguous, and a string or a number is more likely a mistake)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{owner}: {name} must be True or False, got {brief(value)}")
    return bool(value)
