"""Weight constraints with Keras 3 names, arguments and numerics (``keras.constraints``).

A constraint maps a weight to its projection (``MaxNorm`` rescales columns whose norm is
too large, ``NonNeg`` zeroes negative entries...). Give one to a layer
(``Dense(4, kernel_constraint="non_neg")``) or to ``add_weight(constraint=...)``; the
optimizer applies it to the variable after each update, as Keras's optimizers do. Norms
are taken over ``axis`` (0 for a Dense kernel: one norm per output unit) and divided with
Keras's epsilon (1e-7) added.

Example:
    >>> import ember as em
    >>> import numpy as np
    >>> w = em.tensor(np.array([[3.0, 0.5], [4.0, -0.5]], np.float32))
    >>> [[round(v, 3) for v in row] for row in em.constraints.MaxNorm(max_value=1.0)(w).numpy().tolist()]
    [[0.6, 0.5], [0.8, -0.5]]
"""

from __future__ import annotations

import math
import numbers

from ._boundary import construct_from_config as _construct_from_config
from .errors import InvalidArgumentError, InvalidConfigError
from .ops import core
from .saving import serialization_lib as _serialization
from .tensor import Tensor, as_tensor

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm", "min_max_norm", "non_neg",
           "unit_norm", "get", "serialize", "deserialize"]

EPSILON = 1e-7


def _float_tensor(w) -> Tensor:
    w = as_tensor(w)
    return w if w.dtype == "float32" else core.cast(w, "float32")


def _number(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise InvalidArgumentError(f"{owner}: {name} must be a number, got {value!r}")
    return float(value)


def _axis(axis, owner: str):
    if isinstance(axis, (list, tuple)):
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise InvalidArgumentError(f"{owner}: axis must be an integer or a list of integers, got {axis!r}")
        return list(axis)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise InvalidArgumentError(f"{owner}: axis must be an integer or a list of integers, got {axis!r}")
    return axis


def _norms(w: Tensor, axis) -> Tensor:
    ax = tuple(axis) if isinstance(axis, list) else axis
    return core.sqrt(core.sum(core.square(w), axis=ax, keepdims=True))


class Constraint:
    """Base class: ``constraint(w)`` returns the projected weight (the identity here).

    Subclasses override ``__call__`` and ``get_config``.

    Example:
        >>> import ember as em
        >>> class Clip(em.constraints.Constraint):
        ...     def __call__(self, w):
        ...         return em.ops.clip(w, -1.0, 1.0)
        >>> Clip()(em.tensor([2.0, -0.5])).numpy()
        array([ 1. , -0.5], dtype=float32)
    """

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return _construct_from_config(cls, config)


class MaxNorm(Constraint):
    """Rescales the weights so that the norm over ``axis`` is at most ``max_value``.

    Args:
        max_value: the largest norm allowed (default 2).
        axis: the axis (or axes) the norm is taken over; 0 for a Dense kernel
            ``(input_dim, units)``, ``[0, 1, 2]`` for a Conv2D kernel in ``"channels_last"``.

    Example:
        >>> import ember as em
        >>> em.constraints.MaxNorm(2.0)(em.tensor([[6.0], [8.0]])).numpy().round(3)
        array([[1.2],
               [1.6]], dtype=float32)
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        w = _float_tensor(w)
        norms = _norms(w, self.axis)
        desired = core.clip(norms, 0.0, self.max_value)
        return core.multiply(w, core.divide(desired, core.add(norms, EPSILON)))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zeroes the negative weights.

    Example:
        >>> import ember as em
        >>> em.constraints.NonNeg()(em.tensor([1.0, -2.0, 0.5])).numpy().tolist()  # -0.0, as Keras's w * (w >= 0)
        [1.0, -0.0, 0.5]
    """

    def __call__(self, w):
        w = _float_tensor(w)
        return core.multiply(w, core.greater_equal(w, 0.0))


class UnitNorm(Constraint):
    """Scales the weights to unit norm over ``axis``.

    Args:
        axis: the axis (or axes) the norm is taken over (default 0).

    Example:
        >>> import ember as em
        >>> em.constraints.UnitNorm()(em.tensor([[3.0], [4.0]])).numpy().round(3)
        array([[0.6],
               [0.8]], dtype=float32)
    """

    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        w = _float_tensor(w)
        return core.divide(w, core.add(_norms(w, self.axis), EPSILON))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Keeps the norm over ``axis`` between ``min_value`` and ``max_value``, moving it a
    fraction ``rate`` of the way there at each application.

    Args:
        min_value: the smallest norm allowed (default 0).
        max_value: the largest norm allowed (default 1).
        rate: ``norm <- rate * clip(norm, min, max) + (1 - rate) * norm`` (1: at once).
        axis: the axis (or axes) the norm is taken over (default 0).

    Example:
        >>> import ember as em
        >>> em.constraints.MinMaxNorm(1.0, 2.0)(em.tensor([[0.3], [0.4]])).numpy().round(3)
        array([[0.6],
               [0.8]], dtype=float32)
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _number(max_value, "max_value", "MinMaxNorm")
        self.rate = _number(rate, "rate", "MinMaxNorm")
        if self.min_value > self.max_value:
            raise InvalidArgumentError(f"MinMaxNorm: min_value {min_value} is larger than max_value {max_value}")
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        w = _float_tensor(w)
        norms = _norms(w, self.axis)
        desired = core.add(core.multiply(core.clip(norms, self.min_value, self.max_value), self.rate),
                           core.multiply(norms, 1.0 - self.rate))
        return core.multiply(w, core.divide(desired, core.add(norms, EPSILON)))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


# Keras's lower-case aliases are the classes themselves.
max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

_BY_NAME = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
            "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm,
            "Constraint": Constraint}


def _unknown(identifier) -> InvalidConfigError:
    valid = sorted(k for k in _BY_NAME if k.islower())
    return InvalidConfigError(f"Unknown constraint {identifier!r}; valid constraints: {', '.join(valid)} "
                              "(register custom ones with @ember.saving.register_serializable() or pass custom_objects)")


def get(identifier):
    """A constraint from None, a name (``"max_norm"``, ``"NonNeg"``...), a config dict, a
    class, an instance or a callable.

    Raises:
        InvalidArgumentError: for an unknown name or an uninterpretable identifier.

    Example:
        >>> import ember as em
        >>> type(em.constraints.get("non_neg")).__name__
        'NonNeg'
    """
    if identifier is None:
        return None
    if isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, _BY_NAME)
        if obj is None or obj is Constraint:
            raise _unknown(identifier)
    else:
        obj = identifier
    if isinstance(obj, type):
        obj = obj()
    if callable(obj):
        return obj
    raise InvalidArgumentError(f"Could not interpret constraint identifier: {identifier!r}")


def serialize(constraint):
    """Keras's serialized form of a constraint, None for None.

    Example:
        >>> import ember as em
        >>> em.constraints.serialize(em.constraints.MaxNorm(3.0))["config"]
        {'max_value': 3.0, 'axis': 0}
    """
    if constraint is None:
        return None
    if not callable(constraint):
        raise InvalidArgumentError(f"serialize: expected a constraint, got {constraint!r}")
    return _serialization.serialize_keras_object(constraint)


def deserialize(config, custom_objects=None):
    """The constraint described by ``config`` (a serialized dict or a name).

    Raises:
        InvalidConfigError: for an unknown or malformed config.
    """
    return _serialization.deserialize_family(config, custom_objects, _BY_NAME, "constraint", _unknown,
                                             excluded=(Constraint,))
