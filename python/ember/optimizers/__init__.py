"""Optimizers with Keras 3 names, defaults and update formulas (one fused in-place kernel
per optimizer per device); ``get`` resolves names, configs and instances, and
``schedules`` holds the learning-rate schedules."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base import Optimizer
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "schedules",
           "get", "serialize", "deserialize"]

_BY_NAME = {c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam)}


def serialize(optimizer: Optimizer) -> dict:
    """``{"module", "class_name", "config"}`` of an optimizer (Keras's serialized form)."""
    if not isinstance(optimizer, Optimizer):
        raise InvalidArgumentError(f"serialize: expected an Optimizer, got {type(optimizer).__name__}")
    return {"module": "ember.optimizers", "class_name": type(optimizer).__name__, "config": optimizer.get_config(),
            "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of `serialize`; class names match case-insensitively (``"adam"``, ``"Adam"``)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise InvalidArgumentError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or (_BY_NAME.get(name.lower()) if isinstance(name, str) else None)
    if cls is None:
        raise InvalidArgumentError(f"Unknown optimizer {name!r}; valid optimizers: {', '.join(sorted(_BY_NAME))}")
    return cls.from_config(config.get("config", {}), custom_objects)


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``), a serialized config, a class or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise InvalidArgumentError(f"Unknown optimizer {identifier!r}; valid optimizers: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise InvalidArgumentError(f"Could not interpret optimizer identifier: {identifier!r}")
