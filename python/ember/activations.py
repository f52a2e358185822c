"""Activation functions by Keras name; ``get`` resolves strings and callables.

Example:
    >>> import ember as em
    >>> em.activations.get("relu")(em.tensor([-1.0, 2.0])).numpy().tolist()
    [0.0, 2.0]
"""

from __future__ import annotations

from typing import Callable

from .errors import InvalidArgumentError
from .ops import core, nn

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "exponential", "get", "serialize", "ALL"]


def linear(x):
    return x


def relu(x):
    return core.relu(x)


def sigmoid(x):
    return core.sigmoid(x)


def tanh(x):
    return core.tanh(x)


def exponential(x):
    return core.exp(x)


def softmax(x, axis: int = -1):
    return nn.softmax(x, axis)


def log_softmax(x, axis: int = -1):
    return nn.log_softmax(x, axis)


ALL: dict[str, Callable] = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "exponential": exponential,
}


def get(identifier) -> Callable:
    """An activation function from a name, a callable or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        f = ALL.get(identifier)
        if f is None:
            raise InvalidArgumentError(f"Unknown activation {identifier!r}; valid activations: {', '.join(sorted(ALL))}")
        return f
    if callable(identifier):
        return identifier
    raise InvalidArgumentError(f"Could not interpret activation identifier: {identifier!r}")


def serialize(f: Callable) -> str:
    for name, g in ALL.items():
        if g is f:
            return name
    return getattr(f, "__name__", "custom")
