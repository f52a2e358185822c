"""Optimizers with Keras 3 names, defaults and update formulas (one fused in-place kernel
per optimizer per device); ``get`` resolves names, configs and instances, and
``schedules`` holds the learning-rate schedules."""

from __future__ import annotations

from ..errors import InvalidArgumentError, InvalidConfigError
from ..saving import serialization_lib as _serialization
from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base import Optimizer
from .composed import Adafactor, Ftrl, Lamb, Lion, Muon, ScheduleFreeAdamW
from .multi import MultiOptimizer, OptimizerMap
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "Lion", "Lamb",
           "Ftrl", "Adafactor", "ScheduleFreeAdamW", "Muon", "MultiOptimizer", "OptimizerMap", "schedules", "get",
           "serialize", "deserialize"]

# The built-ins a name resolves to (Keras's ALL_OBJECTS_DICT: lowercase names, plus the
# class names); lookups go through ember.saving, custom objects first.
_BY_NAME = {c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, Lion, Lamb,
                                            Ftrl, Adafactor, ScheduleFreeAdamW, Muon)}
_MODULE_OBJECTS = {**_BY_NAME, **{c.__name__: c for c in _BY_NAME.values()}, "Optimizer": Optimizer,
                   "MultiOptimizer": MultiOptimizer, "OptimizerMap": OptimizerMap}


def _unknown(identifier) -> InvalidConfigError:
    return InvalidConfigError(
        f"Unknown optimizer {identifier!r}; valid optimizers: {', '.join(sorted(_BY_NAME))} "
        "(register custom ones with @ember.saving.register_serializable() or pass custom_objects)"
    )


def serialize(optimizer: Optimizer) -> dict:
    """Keras's serialized form (`ember.saving.serialize`) of an optimizer:
    ``{"module": "keras.optimizers", "class_name", "config", "registered_name"}``."""
    if not isinstance(optimizer, Optimizer):
        raise InvalidArgumentError(f"serialize: expected an Optimizer, got {type(optimizer).__name__}")
    return _serialization.serialize_keras_object(optimizer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of `serialize`; built-in class names match case-insensitively (``"adam"``,
    ``"Adam"``), as in Keras.

    Raises:
        InvalidConfigError: (an InvalidArgumentError) for an unknown or malformed config.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise InvalidConfigError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    config = {**config, "config": config.get("config") or {}}
    name = config["class_name"]
    if name.lower() in _BY_NAME and _serialization.lookup_name(name, None, custom_objects) is None:
        config["class_name"] = _BY_NAME[name.lower()].__name__
    obj = _serialization.deserialize_keras_object(config, custom_objects=custom_objects, module_objects=_MODULE_OBJECTS)
    if not isinstance(obj, Optimizer):
        raise InvalidConfigError(f"deserialize: {name!r} is not an optimizer (got {type(obj).__name__})")
    return obj


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``), a serialized config, a class or an instance.
    Names are looked up in the custom objects first (`ember.saving`), then among the
    built-ins (case-insensitively), then as a registered ``"package>name"``."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, _MODULE_OBJECTS)
        if obj is None:
            obj = _BY_NAME.get(identifier.lower())
        if obj is None:
            raise _unknown(identifier)
        if isinstance(obj, type) and issubclass(obj, Optimizer):
            return obj()
        if isinstance(obj, Optimizer):
            return obj
        raise InvalidArgumentError(f"Could not interpret optimizer identifier: {identifier!r} names {obj!r}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise InvalidArgumentError(f"Could not interpret optimizer identifier: {identifier!r}")
