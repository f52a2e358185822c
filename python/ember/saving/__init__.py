"""One serialization module for every kind of object (Keras 3's ``keras.saving``).

* `register_serializable` (alias `register_keras_serializable`) registers a custom class
  or function under ``"package>Name"``; `get_registered_name`, `get_registered_object`,
  `get_custom_objects` and `CustomObjectScope` (alias `custom_object_scope`) complete the
  registry (`ember.saving.object_registration`).
* `serialize_keras_object` / `deserialize_keras_object` (aliases `serialize` /
  `deserialize`) write and read Keras 3's ``{"module", "class_name", "config",
  "registered_name"}`` layout for any object with ``get_config``/``from_config``
  (`ember.saving.serialization_lib`).

Layers, models, optimizers, schedules, losses, metrics, initializers, regularizers and
activations all resolve names and configs through this module, so a registered custom
object works everywhere by name.

Example:
    >>> import json
    >>> import ember as em
    >>> @em.saving.register_serializable(package="docs")
    ... class Halved(em.optimizers.schedules.LearningRateSchedule):
    ...     def __init__(self, rate):
    ...         self.rate = rate
    ...     def __call__(self, step):
    ...         return self.rate / 2
    ...     def get_config(self):
    ...         return {"rate": self.rate}
    >>> opt = em.optimizers.SGD(learning_rate=Halved(0.2))
    >>> cfg = json.loads(json.dumps(em.saving.serialize(opt)))
    >>> cfg["config"]["learning_rate"]["registered_name"]
    'docs>Halved'
    >>> em.saving.deserialize(cfg).learning_rate
    0.1
"""

from __future__ import annotations

from . import object_registration, saving_lib, serialization_lib
from .object_registration import (
    CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name, get_registered_object,
    register_keras_serializable, register_serializable,
)
from .serialization_lib import (
    SafeModeScope, deserialize, deserialize_keras_object, enable_unsafe_deserialization, in_safe_mode, serialize,
    serialize_keras_object,
)
from .saving_lib import load_model, save_model
from . import weights
from .weights import load_torch_state_dict, load_weights, save_weights

__all__ = [
    "register_serializable", "register_keras_serializable", "get_registered_name", "get_registered_object",
    "get_custom_objects", "CustomObjectScope", "custom_object_scope", "serialize_keras_object",
    "deserialize_keras_object", "serialize", "deserialize", "SafeModeScope", "in_safe_mode",
    "enable_unsafe_deserialization", "object_registration", "serialization_lib", "saving_lib", "save_model",
    "load_model",
    "save_weights", "load_weights", "load_torch_state_dict", "weights",
]
