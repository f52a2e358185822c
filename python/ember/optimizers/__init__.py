"""Optimizers with Keras 3 names and defaults; ``get`` resolves strings."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .adam import Adam
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get"]

_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise InvalidArgumentError(f"Unknown optimizer {identifier!r}; valid optimizers: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise InvalidArgumentError(f"Could not interpret optimizer identifier: {identifier!r}")
