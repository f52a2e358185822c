"""Object configs in Keras 3's layout (``keras/src/saving/serialization_lib.py``).

`serialize_keras_object` turns an object into JSON-able data, and
`deserialize_keras_object` turns that data back into the object. A class instance
becomes::

    {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": None}

``module`` is the Keras namespace of the matching Keras class (``"keras.layers"``,
``"keras.optimizers"``, ``"keras.optimizers.schedules"``, ``"keras.losses"``,
``"keras.metrics"``, ``"keras.initializers"``, ``"keras.regularizers"``, ``"keras"`` for
``Sequential`` and ``Model``), so files move between Keras and Ember. A class registered
with `register_serializable` is recorded with its Python module and ``registered_name``
``"package>Name"``; any other class with its module and its ``__name__`` (it then needs
``custom_objects`` to load, as in Keras). A function becomes Keras's
``{"module": "builtins", "class_name": "function", "config": "relu", "registered_name":
"function"}`` (a registered one with ``"config": "package>name"``). Plain values, lists
and dicts pass through (dict values serialized); numpy arrays, Ember tensors, bytes,
slices and ``...`` take Keras's ``__numpy__``/``__tensor__``/``__bytes__``/``__slice__``/
``__ellipsis__`` forms.

Loading reads ``"keras.x"``, ``"keras.src.x..."`` and ``"ember.x"`` module strings alike,
and finds built-in classes by name in Ember's public modules *at load time*
(``ember.layers``, ``ember.models``, ``ember.optimizers``...), so classes added later need
no registration. Custom objects are looked up first (see `object_registration`). Only
modules inside the ``ember`` package are ever imported: a file cannot make Ember import or
run other code. ``lambda`` functions are never loaded.

A class's ``from_config`` receives its ``config`` dict as stored (nested objects still
serialized, as in Keras): it rebuilds nested objects itself, through the families'
``get`` or through `deserialize_keras_object`. While it runs, the ``custom_objects`` of
the call are in scope, so nested lookups find them.

Every failure to rebuild an object raises `ember.errors.InvalidConfigError`, which is a
`SerializationError` (and an `InvalidArgumentError`), never a bare KeyError or TypeError.

Example:
    >>> import json
    >>> import ember as em
    >>> cfg = em.saving.serialize(em.optimizers.Adam(learning_rate=0.01))
    >>> cfg["module"], cfg["class_name"], cfg["registered_name"]
    ('keras.optimizers', 'Adam', None)
    >>> em.saving.deserialize(json.loads(json.dumps(cfg))).learning_rate
    0.01
    >>> em.saving.serialize(em.activations.relu)
    {'module': 'builtins', 'class_name': 'function', 'config': 'relu', 'registered_name': 'function'}
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
import types

import numpy as np

from ..errors import InvalidArgumentError, InvalidConfigError, SerializationError
from . import object_registration as _reg

__all__ = [
    "serialize_keras_object", "deserialize_keras_object", "serialize", "deserialize", "SafeModeScope",
    "in_safe_mode", "enable_unsafe_deserialization", "keras_module_of", "find_builtin",
]

PLAIN_TYPES = (str, int, float, bool)

# Ember's public namespaces and the Keras module each corresponds to, in the order a class
# is looked for when serializing (the first namespace exposing the class names it).
_NAMESPACES = (
    ("ember", "keras"),
    ("ember.optimizers.schedules", "keras.optimizers.schedules"),
    ("ember.optimizers", "keras.optimizers"),
    ("ember.losses", "keras.losses"),
    ("ember.metrics", "keras.metrics"),
    ("ember.initializers", "keras.initializers"),
    ("ember.regularizers", "keras.regularizers"),
    ("ember.constraints", "keras.constraints"),
    ("ember.activations", "keras.activations"),
    ("ember.layers", "keras.layers"),
    ("ember.models", "keras.models"),
    ("ember.callbacks", "keras.callbacks"),
)
# Keras classes that are serialized under a non-public module (Keras writes
# ``registered_name`` = the class name for these).
_KERAS_OVERRIDES = {("ember.models", "Functional"): ("keras.src.models.functional", "Functional", "Functional")}
# Where Keras looks for a built-in function serialized with module "builtins".
_FUNCTION_NAMESPACES = ("ember.activations", "ember.losses", "ember.metrics")
# Where a class is looked for when its config has no "module" (tf.keras 2 configs).
_DEFAULT_CLASS_NAMESPACES = ("ember.layers", "ember.models", "ember")

_MISSING = object()


# -- safe mode ----------------------------------------------------------------------------

_safe_local = threading.local()
_unsafe_globally = [False]


class SafeModeScope:
    """Sets the safe mode seen by nested `deserialize_keras_object` calls in this thread."""

    def __init__(self, safe_mode: bool = True):
        try:
            self.safe_mode = bool(safe_mode)
        except (ValueError, TypeError):  # a numpy array of several values
            raise InvalidArgumentError(f"SafeModeScope: safe_mode must be True or False, got {type(safe_mode).__name__}") from None

    def __enter__(self):
        self._saved = getattr(_safe_local, "value", None)
        _safe_local.value = self.safe_mode
        return self

    def __exit__(self, *exc):
        _safe_local.value = self._saved


def in_safe_mode() -> bool | None:
    """The safe mode of the enclosing `SafeModeScope`, False after
    `enable_unsafe_deserialization`, else None (the call's own ``safe_mode`` applies)."""
    value = getattr(_safe_local, "value", None)
    if value is not None:
        return value
    return False if _unsafe_globally[0] else None


def enable_unsafe_deserialization() -> None:
    """Disables safe mode for the whole process (Keras's
    ``keras.config.enable_unsafe_deserialization``)."""
    _unsafe_globally[0] = True


# -- module lookup ----------------------------------------------------------------------------

def _ember_module(name: str):
    """The Ember module ``name`` (imported on demand), or None. Never imports anything
    outside the ``ember`` package."""
    if not isinstance(name, str) or not (name == "ember" or name.startswith("ember.")):
        return None
    if not all(part.isidentifier() for part in name.split(".")):
        return None
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def keras_module_of(cls) -> tuple[str, str, str | None] | None:
    """``(module, class_name, registered_name)`` under which Keras knows the Ember class
    ``cls``, or None when ``cls`` is not one of Ember's public classes or functions."""
    if not str(getattr(cls, "__module__", "")).startswith("ember"):
        return None
    # A class Keras exports under another name than its own (GroupedQueryAttention is
    # keras.layers.GroupQueryAttention) says so in ``_keras_class_name``.
    name = cls.__dict__.get("_keras_class_name") if isinstance(cls, type) else None
    name = name or getattr(cls, "__name__", None)
    if not isinstance(name, str):
        return None
    for ember_name, keras_name in _NAMESPACES:
        mod = _ember_module(ember_name)
        if mod is not None and getattr(mod, name, None) is cls:
            override = _KERAS_OVERRIDES.get((ember_name, name))
            if override is not None:
                return override
            return keras_name, name, None
    return None


def _candidate_modules(module) -> list:
    """Ember modules to look a serialized name up in, given the config's ``module``."""
    if module is _MISSING:
        names = list(_DEFAULT_CLASS_NAMESPACES)
    elif not isinstance(module, str):
        return []
    else:
        parts = module.split(".")
        if parts[0] not in ("keras", "ember"):
            return []
        rest = parts[1:]
        if parts[0] == "keras" and rest[:1] == ["src"]:
            rest = rest[1:]
        # The longest existing prefix first: "keras.src.optimizers.schedules.learning_rate_schedule"
        # -> ember.optimizers.schedules, "keras.src.models.functional" -> ember.models.
        names = ["ember." + ".".join(rest[:i]) for i in range(len(rest), 0, -1)]
        if not rest or rest == ["models"]:
            names += ["ember", "ember.models", "ember.layers"]
        elif rest[:1] == ["models"]:
            names += ["ember"]
    mods = []
    for n in names:
        mod = _ember_module(n.rstrip("."))
        if mod is not None and mod not in mods:
            mods.append(mod)
    return mods


def _public_function(mod, name: str):
    obj = getattr(mod, name, None)
    if not inspect.isfunction(obj) or not str(obj.__module__).startswith("ember"):
        return None
    public = getattr(mod, "__all__", None)
    if public is not None and name not in public:
        return None
    if name in ("get", "serialize", "deserialize"):
        return None
    return obj


def find_builtin(name, module=_MISSING, obj_type: str = "class"):
    """The Ember class (``obj_type="class"``) or function named ``name`` for a config
    whose ``module`` is a Keras or Ember module string, or None."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        return None
    if obj_type == "function":
        if module in ("builtins", None, _MISSING):
            mods = [m for m in (_ember_module(n) for n in _FUNCTION_NAMESPACES) if m is not None]
        else:
            mods = _candidate_modules(module)
        for mod in mods:
            obj = _public_function(mod, name)
            if obj is not None:
                return obj
        return None
    for mod in _candidate_modules(module):
        obj = getattr(mod, name, None)
        if inspect.isclass(obj) and hasattr(obj, "from_config"):
            return obj
    return None


# -- serialize -------------------------------------------------------------------------------

def _function_config(fn) -> dict:
    """Keras's function form; the name is the registered key for a registered function,
    else ``__name__`` (a built-in under an alias, ``swish is silu``, gives its canonical name)."""
    key = _reg._registered_key(fn)
    name = key if key is not None else fn.__name__
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def deserialize_family(config, custom_objects, module_objects: dict, kind: str, unknown, excluded: tuple = ()):
    """The ``deserialize`` of one object family (losses, metrics, initializers,
    regularizers): a name looked up in the custom objects then ``module_objects`` (a class
    found by name is instantiated with its defaults), or a serialized dict. ``unknown(name)``
    makes the family's error for a name it does not know; ``excluded`` names abstract bases
    that are never built."""
    if isinstance(config, str):
        obj = lookup_name(config, module_objects, custom_objects)
        if obj is None or any(obj is e for e in excluded):
            raise unknown(config)
        return obj() if isinstance(obj, type) else obj
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise InvalidConfigError(f"deserialize: expected a {kind} config with 'class_name' and 'config', got {config!r}")
    if any(config["class_name"] == e.__name__ for e in excluded):
        raise unknown(config["class_name"])
    if "config" not in config:
        config = {**config, "config": {}}
    return deserialize_keras_object(config, custom_objects=custom_objects, module_objects=module_objects)


def lookup_name(name, module_objects: dict | None = None, custom_objects: dict | None = None):
    """What a family's ``get`` resolves the bare name ``name`` to: a custom object under
    exactly that key (the argument, the scopes, the registry), else a built-in of
    ``module_objects``, else a custom object registered as ``"<package>>name"``; None if
    nothing has that name."""
    obj = _reg._lookup_custom(name, custom_objects)
    if obj is None and module_objects and isinstance(name, str):
        obj = module_objects.get(name)
    if obj is None:
        obj = _reg._lookup_custom_suffix(name, custom_objects)
    return obj


def _serialize_dict(d: dict) -> dict:
    out = {}
    for key, value in d.items():
        if not isinstance(key, str):
            raise SerializationError(f"serialize: config keys must be strings, got {key!r} ({type(key).__name__})")
        out[key] = serialize_keras_object(value)
    return out


def _is_keras_tensor(obj) -> bool:
    return type(obj).__name__ == "KerasTensor" and str(type(obj).__module__).startswith("ember")


def serialize_keras_object(obj):
    """JSON-able data describing ``obj`` in Keras 3's layout (see the module docstring).

    Raises:
        SerializationError: for an object that has no ``get_config`` and is no function,
            plain value, list, dict, array or tensor, or whose ``get_config`` returns no dict.
    """
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return _serialize_dict(obj)
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__", "config": {"start": serialize_keras_object(obj.start),
                                                       "stop": serialize_keras_object(obj.stop),
                                                       "step": serialize_keras_object(obj.step)}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if _is_keras_tensor(obj):
        history = getattr(obj, "_keras_history", None)
        if history:
            history = list(history)
            history[0] = getattr(history[0], "name", history[0])
        return {"class_name": "__keras_tensor__",
                "config": {"shape": serialize_keras_object(tuple(obj.shape)), "dtype": str(obj.dtype),
                           "keras_history": history}}
    from ..tensor import Tensor

    if isinstance(obj, Tensor):
        return {"class_name": "__tensor__", "config": {"value": obj.numpy().tolist(), "dtype": obj.dtype}}
    if isinstance(obj, (np.ndarray, np.generic)):
        if isinstance(obj, np.ndarray) and obj.ndim > 0:
            return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
        return obj.item()
    if isinstance(obj, types.FunctionType):
        return _function_config(obj)
    if hasattr(obj, "get_config") and not inspect.isclass(obj):
        cls = type(obj)
        try:
            inner = obj.get_config()
        except NotImplementedError as e:
            raise SerializationError(f"serialize: {cls.__name__}.get_config() is not implemented: {e}") from None
        if not isinstance(inner, dict):
            raise SerializationError(f"serialize: {cls.__name__}.get_config() must return a dict, got {type(inner).__name__}")
        inner = _serialize_dict(inner)
        key = _reg._registered_key(cls)
        loc = None if key is not None else keras_module_of(cls)
        if loc is not None:
            module, class_name, registered_name = loc
        else:
            module = cls.__module__ if cls.__module__ != "__main__" else None
            class_name = cls.__name__
            registered_name = key if key is not None else cls.__name__
        config = {"module": module, "class_name": class_name, "config": inner, "registered_name": registered_name}
        build = getattr(obj, "get_build_config", None)
        if callable(build):
            build_config = build()
            if build_config is not None:
                config["build_config"] = _serialize_dict(build_config)
        compile_ = getattr(obj, "get_compile_config", None)
        if callable(compile_):
            compile_config = compile_()
            if compile_config is not None:
                config["compile_config"] = _serialize_dict(compile_config)
        return config
    raise SerializationError(
        f"serialize: cannot serialize {obj!r} of type {type(obj).__name__}: to be serializable an object must "
        "implement get_config() (and from_config()), or be a function"
    )


# -- deserialize -----------------------------------------------------------------------------

def _bad(message: str) -> InvalidConfigError:
    return InvalidConfigError(message)


def _not_found(kind: str, name, module, registered_name, config) -> InvalidConfigError:
    where = f" (module {module!r})" if module not in (None, _MISSING) else ""
    return _bad(
        f"Could not locate {kind} {name!r}{where}. If it is a custom {kind}, decorate it with "
        f"@ember.saving.register_serializable() (keras.saving.register_keras_serializable) before loading, "
        f"or pass it as custom_objects={{{name!r}: ...}}. Config: {_short(config)}"
    )


def _short(config, limit: int = 300) -> str:
    text = repr(config)
    return text if len(text) <= limit else text[:limit] + "..."


def _field(config: dict, key: str, types_, what: str):
    value = config.get(key)
    if not isinstance(value, types_):
        raise _bad(f"deserialize: field {key!r} of a {what} config must be {types_!r}, got {value!r}")
    return value


def _special(class_name: str, inner, config, safe_mode: bool, custom_objects):
    if class_name == "__lambda__":
        if safe_mode:
            raise _bad(
                "deserialize: the config holds a lambda; loading one could execute arbitrary code, so it is "
                "refused in safe mode. Replace the lambda with a named function registered with "
                "@ember.saving.register_serializable()"
            )
        raise _bad(
            "deserialize: Ember cannot rebuild a lambda from Keras's marshalled bytecode; replace it with a "
            "named function registered with @ember.saving.register_serializable()"
        )
    if not isinstance(inner, dict):
        raise _bad(f"deserialize: the config of a {class_name} must be a dict, got {_short(inner)}")
    try:
        if class_name == "__numpy__":
            return np.array(inner["value"], dtype=inner["dtype"])
        if class_name == "__tensor__":
            from ..tensor import tensor

            return tensor(np.array(inner["value"], dtype=inner["dtype"]), dtype=inner["dtype"])
        if class_name == "__bytes__":
            return _field(inner, "value", str, "__bytes__").encode("utf-8")
        if class_name == "__ellipsis__":
            return Ellipsis
        if class_name == "__slice__":
            parts = [deserialize_keras_object(inner.get(k), custom_objects=custom_objects, safe_mode=safe_mode)
                     for k in ("start", "stop", "step")]
            return slice(*parts)
        if class_name == "__keras_tensor__":
            cls = None
            for name in ("ember", "ember.keras_tensor", "ember.layers", "ember.models"):
                mod = _ember_module(name)
                cand = getattr(mod, "KerasTensor", None) if mod is not None else None
                if inspect.isclass(cand):
                    cls = cand
                    break
            if cls is None:
                raise _bad("deserialize: this Ember has no KerasTensor class to rebuild a __keras_tensor__ config")
            obj = cls(tuple(inner["shape"]), dtype=inner.get("dtype"))
            obj._pre_serialization_keras_history = inner.get("keras_history")
            return obj
    except SerializationError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(f"deserialize: malformed {class_name} config {_short(inner)}: {e}") from e
    return _MISSING


def _retrieve_function(fn_name, module, custom_objects, module_objects, config):
    obj = _reg._lookup_custom(fn_name, custom_objects)
    if obj is None and module_objects and isinstance(fn_name, str):
        obj = module_objects.get(fn_name)
    if obj is None:
        obj = find_builtin(fn_name, module, "function")
    if obj is None:
        obj = _reg._lookup_custom_suffix(fn_name, custom_objects)
    if obj is None:
        if fn_name == "<lambda>":
            raise _bad("deserialize: a lambda was serialized by name and cannot be rebuilt; use a named, "
                       "registered function (@ember.saving.register_serializable())")
        raise _not_found("function", fn_name, module, None, config)
    return obj


def _retrieve_class(class_name, registered_name, module, custom_objects, module_objects, config):
    obj = None
    if isinstance(registered_name, str):
        obj = _reg._lookup_custom(registered_name, custom_objects)
    if obj is None:
        obj = _reg._lookup_custom(class_name, custom_objects)
    if obj is None and module_objects:
        obj = module_objects.get(class_name)
    if obj is None:
        obj = find_builtin(class_name, module, "class")
    if obj is None:
        raise _not_found("class", class_name, module, registered_name, config)
    return obj


def _merged_custom(custom_objects) -> dict:
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise InvalidArgumentError(
            f"deserialize: custom_objects must be a dict of name -> class or function, got {type(custom_objects).__name__}"
        )
    return custom_objects


def deserialize_keras_object(config, custom_objects: dict | None = None, safe_mode: bool = True, **kwargs):
    """The object that ``config`` (output of `serialize_keras_object`, or a Keras file's
    config) describes.

    Args:
        config: a dict ``{"module", "class_name", "config", "registered_name"}``, a
            function dict, a plain value, a list, or a dict of those.
        custom_objects: ``{name: class or function}`` consulted before everything else.
        safe_mode: refuse ``lambda`` configs (and tell ``Lambda``-like layers, which read
            `in_safe_mode`, to refuse code). An enclosing `SafeModeScope` overrides it.
        **kwargs: ``module_objects``, ``{name: object}`` of built-ins a family accepts by
            bare name (the families' ``get`` pass theirs; consulted after the custom
            objects), as Keras reads it from its ``**kwargs``; any other keyword is an
            `InvalidArgumentError`.

    Raises:
        InvalidConfigError: (a SerializationError) for an unknown or unregistered class or
            function, a malformed config, or a config its class's ``from_config`` rejects.
    """
    module_objects = kwargs.pop("module_objects", None)
    if kwargs:
        raise InvalidArgumentError(f"deserialize_keras_object: unexpected keyword arguments {sorted(kwargs)}")
    if module_objects is not None and not isinstance(module_objects, dict):
        raise InvalidArgumentError(
            f"deserialize_keras_object: module_objects must be a dict, got {type(module_objects).__name__}")
    scoped = in_safe_mode()
    safe_mode = bool(scoped if scoped is not None else safe_mode)
    custom_objects = _merged_custom(custom_objects)
    if config is None:
        return None
    if isinstance(config, str):
        if module_objects is not None:
            obj = lookup_name(config, module_objects, custom_objects)
            if obj is None:
                raise _not_found("object", config, _MISSING, None, config)
            return obj
        obj = _reg._lookup_custom(config, custom_objects) if custom_objects else None
        return obj if obj is not None else config
    if isinstance(config, PLAIN_TYPES):
        return config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode, module_objects=module_objects) for x in config]
    if not isinstance(config, dict):
        raise _bad(f"deserialize: could not parse config {_short(config)} of type {type(config).__name__}")
    if "class_name" not in config or "config" not in config:
        return {key: deserialize_keras_object(value, custom_objects, safe_mode) for key, value in config.items()}

    class_name = config["class_name"]
    if not isinstance(class_name, str) or not class_name:
        raise _bad(f"deserialize: 'class_name' must be a non-empty string, got {class_name!r} in {_short(config)}")
    inner = config["config"]
    module = config.get("module", _MISSING)
    if module is not _MISSING and module is not None and not isinstance(module, str):
        raise _bad(f"deserialize: 'module' must be a string or None, got {module!r} in {_short(config)}")
    registered_name = config.get("registered_name", class_name)

    if class_name.startswith("__") and class_name.endswith("__"):
        obj = _special(class_name, inner, config, safe_mode, custom_objects)
        if obj is not _MISSING:
            return obj

    if class_name == "function":
        if not isinstance(inner, str):
            raise _bad(f"deserialize: the 'config' of a function must be its name (a string), got {_short(inner)}")
        return _retrieve_function(inner, module, custom_objects, module_objects, config)

    cls = _retrieve_class(class_name, registered_name, module, custom_objects, module_objects, config)
    if inspect.isfunction(cls):
        return cls  # a family's built-in function under a class-style config (tf.keras)
    if not hasattr(cls, "from_config"):
        raise _bad(f"deserialize: {class_name} resolves to {cls!r}, which has no from_config() method")
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        raise _bad(f"deserialize: the 'config' of {class_name} must be a dict, got {_short(inner)}")

    scope_objects = {**_reg._current_scope_objects(), **custom_objects}
    with _reg.CustomObjectScope(scope_objects), SafeModeScope(safe_mode):
        try:
            instance = cls.from_config(dict(inner))
            build_config = config.get("build_config")
            if build_config and hasattr(instance, "build_from_config") and not getattr(instance, "built", False):
                instance.build_from_config(build_config)
            compile_config = config.get("compile_config")
            if compile_config and hasattr(instance, "compile_from_config"):
                instance.compile_from_config(compile_config)
        except SerializationError:
            raise
        except (TypeError, ValueError, LookupError, AttributeError) as e:
            raise _bad(f"deserialize: {class_name}.from_config() rejected its config {_short(inner)}: "
                       f"{type(e).__name__}: {e}") from e
    return instance


serialize = serialize_keras_object
deserialize = deserialize_keras_object
