"""The one registry of custom objects (Keras 3's ``keras/src/saving/object_registration.py``).

Three places hold custom objects, looked up in this order by every ``get``,
``deserialize`` and `get_registered_object` in Ember:

1. the ``custom_objects`` dict passed to the call;
2. the `CustomObjectScope` blocks the current thread is inside, innermost first (each
   thread has its own stack of scopes, as Keras keeps its scope in thread-local state);
3. the global registry: what `register_serializable` registered (under
   ``"package>Name"``) plus whatever was put into `get_custom_objects()` by hand.

Keras 3 itself looks at the scope and the global registry before the ``custom_objects``
argument, and a nested Keras 3 scope replaces the outer one for its duration; Ember lets
the argument win (the most explicit choice the caller made) and lets an inner scope
see the outer ones, as tf.keras did. Only names that collide are affected.

Example:
    >>> import ember as em
    >>> @em.saving.register_serializable(package="my_pkg")
    ... def cube(x):
    ...     return x * x * x
    >>> em.saving.get_registered_name(cube)
    'my_pkg>cube'
    >>> em.saving.get_registered_object("my_pkg>cube") is cube
    True
    >>> em.activations.get("cube") is cube
    True
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

from ..errors import InvalidArgumentError

__all__ = [
    "CustomObjectScope", "custom_object_scope", "get_custom_objects", "register_serializable",
    "register_keras_serializable", "get_registered_name", "get_registered_object",
]

# "package>Name" (or any key a user put in by hand) -> object.
_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
# object -> "package>Name", for the objects registered with `register_serializable`.
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}

_local = threading.local()


def _scope_stack() -> list[dict]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class CustomObjectScope:
    """Makes custom classes and functions visible to deserialization inside a ``with`` block.

    Scopes nest (an inner scope sees the outer ones, and wins where names collide) and
    belong to the thread that entered them: another thread does not see them.

    Args:
        custom_objects: a dict ``{name: class or function}`` (required, as in Keras; None
            is an empty scope).

    Example:
        >>> import ember as em
        >>> def halve(x):
        ...     return x * 0.5
        >>> with em.saving.CustomObjectScope({"halve": halve}):
        ...     em.activations.get("halve") is halve
        True
    """

    def __init__(self, custom_objects: dict | None):
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise InvalidArgumentError(
                f"CustomObjectScope: custom_objects must be a dict of name -> object, got {type(custom_objects).__name__}"
            )
        self.custom_objects = dict(custom_objects or {})
        self._entered: list[dict] = []

    def __enter__(self) -> "CustomObjectScope":
        frame = dict(self.custom_objects)
        _scope_stack().append(frame)
        self._entered.append(frame)
        return self

    def __exit__(self, *exc) -> None:
        frame = self._entered.pop()
        stack = _scope_stack()
        # Remove exactly the frame this block pushed (scopes exit in LIFO order, but be
        # robust to a scope object re-entered or exited out of order).
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is frame:
                del stack[i]
                break


custom_object_scope = CustomObjectScope


def get_custom_objects() -> dict:
    """The live global dict of custom objects (registered ones are keyed ``"package>Name"``).

    Objects of a `CustomObjectScope` are not in it. Putting an entry in by hand
    (``get_custom_objects()["MyLayer"] = MyLayer``) makes it resolvable by that key.
    """
    return _GLOBAL_CUSTOM_OBJECTS


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator registering a class or function under ``"package>name"`` (``name``
    defaults to the object's ``__name__``), so that `ember.saving.serialize` records that
    key as ``registered_name`` and `ember.saving.deserialize` (and every family's ``get``)
    finds it without ``custom_objects``. Classes must define ``get_config``.

    Registering a second object under the same key replaces the first (as Keras).

    Example:
        >>> import ember as em
        >>> @em.saving.register_serializable("my_pkg")
        ... class Scaled(em.regularizers.Regularizer):
        ...     def __init__(self, factor=0.1):
        ...         self.factor = factor
        ...     def __call__(self, x):
        ...         return em.ops.multiply(em.ops.sum(em.ops.square(x)), self.factor)
        ...     def get_config(self):
        ...         return {"factor": self.factor}
        >>> em.saving.serialize(Scaled(0.5))["registered_name"]
        'my_pkg>Scaled'
    """
    if not isinstance(package, str) or not package:
        raise InvalidArgumentError(f"register_serializable: package must be a non-empty string, got {package!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidArgumentError(f"register_serializable: name must be None or a non-empty string, got {name!r}")

    def decorator(arg):
        if not callable(arg):
            raise InvalidArgumentError(f"register_serializable: can only register classes and functions, got {arg!r}")
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise InvalidArgumentError(
                f"register_serializable: cannot register class {arg.__name__} because it has no get_config() method"
            )
        key = f"{package}>{name if name is not None else arg.__name__}"
        _GLOBAL_CUSTOM_OBJECTS[key] = arg
        try:
            _GLOBAL_CUSTOM_NAMES[arg] = key
        except TypeError:  # an unhashable callable object: resolvable by key only
            pass
        return arg

    return decorator


register_keras_serializable = register_serializable


def _registered_key(obj) -> str | None:
    try:
        return _GLOBAL_CUSTOM_NAMES.get(obj)
    except TypeError:
        return None


def get_registered_name(obj) -> str:
    """The key ``obj`` was registered under (``"package>Name"``), else its ``__name__``."""
    key = _registered_key(obj)
    if key is not None:
        return key
    return getattr(obj, "__name__", type(obj).__name__)


def _lookup_custom(name, custom_objects: dict | None = None):
    """The custom object named ``name`` (exact key): the argument, the thread's scopes
    innermost first, then the global registry; None if none has it."""
    if not isinstance(name, str):
        return None
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for frame in reversed(_scope_stack()):
        if name in frame:
            return frame[name]
    return _GLOBAL_CUSTOM_OBJECTS.get(name)


def _lookup_custom_suffix(name, custom_objects: dict | None = None):
    """A custom object registered as ``"<any package>>name"`` (how Keras finds a
    registered function serialized by its bare name), in the same precedence order."""
    if not isinstance(name, str) or ">" in name:
        return None
    suffix = ">" + name
    sources = [custom_objects or {}] + list(reversed(_scope_stack())) + [_GLOBAL_CUSTOM_OBJECTS]
    for source in sources:
        for key, value in source.items():
            if isinstance(key, str) and key.endswith(suffix):
                return value
    return None


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects: dict | None = None):
    """The object registered (or given in ``custom_objects``, or in an enclosing
    `CustomObjectScope`) under ``name``, else ``module_objects[name]``, else None."""
    obj = _lookup_custom(name, custom_objects)
    if obj is not None:
        return obj
    if module_objects and isinstance(name, str) and name in module_objects:
        return module_objects[name]
    return None


def _current_scope_objects() -> dict:
    """The thread's scopes merged (inner entries win), for propagating into nested calls."""
    merged: dict = {}
    for frame in _scope_stack():
        merged.update(frame)
    return merged
