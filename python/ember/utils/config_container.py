"""``keras.utils.Config``: a dict-like container of named values with attribute access,
freezing and JSON serialization.

Example:
    >>> import ember as em
    >>> c = em.utils.Config(learning_rate=0.1)
    >>> c.momentum = 0.9
    >>> c["learning_rate"], c.to_json()
    (0.1, '{"learning_rate": 0.1, "momentum": 0.9}')
"""

from __future__ import annotations

import copy
import json

from .._validation import brief
from ..errors import InvalidArgumentError

__all__ = ["Config"]


class _MissingKeyError(InvalidArgumentError, KeyError):
    """A key the config does not hold: an `InvalidArgumentError`, and a ``KeyError`` as a
    dict's would be."""


def _key(key, what: str):
    """``key`` if it can be a key (hashable), else InvalidArgumentError."""
    try:
        hash(key)
    except TypeError:
        raise InvalidArgumentError(f"Config.{what}: a key must be hashable (a name), got {brief(key)}") from None
    return key


class Config:
    """Named values reachable as attributes (``c.lr``) and items (``c["lr"]``); `freeze`
    makes it read-only.

    Args:
        **kwargs: the initial values.
    """

    def __init__(self, **kwargs):
        object.__setattr__(self, "_config", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self) -> bool:
        """Whether the config is read-only."""
        return self._frozen

    def freeze(self) -> None:
        """Makes the config read-only."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self) -> None:
        """Makes the config writable again."""
        object.__setattr__(self, "_frozen", False)

    def _check(self) -> None:
        if self._frozen:
            raise InvalidArgumentError("Config: cannot change a frozen config; call unfreeze() first")

    def __setattr__(self, name, value):
        self._check()
        if name in type(self).__dict__:
            raise InvalidArgumentError(f"Config: {name!r} is a method name and cannot be a key")
        self._config[name] = value

    def __getattr__(self, name):
        config = object.__getattribute__(self, "_config")
        try:
            return config[name]
        except KeyError:
            raise AttributeError(f"Config has no key {name!r}") from None

    def __setitem__(self, key, value):
        self._check()
        self._config[_key(key, "__setitem__")] = value

    def __getitem__(self, key):
        if _key(key, "__getitem__") not in self._config:
            raise _MissingKeyError(f"Config has no key {brief(key)}")
        return self._config[key]

    def __delitem__(self, key):
        self._check()
        if _key(key, "__delitem__") not in self._config:
            raise _MissingKeyError(f"Config has no key {brief(key)}")
        del self._config[key]

    def __contains__(self, key) -> bool:
        try:
            return key in self._config
        except TypeError:  # unhashable: not a key of this config
            return False

    def __len__(self) -> int:
        return len(self._config)

    def __iter__(self):
        return iter(self._config)

    def __repr__(self) -> str:
        return f"<Config {self._config}>"

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def get(self, key, default=None):
        return self._config.get(_key(key, "get"), default)

    def pop(self, *args):
        """``pop(key[, default])``: removes ``key`` and returns its value (``default`` if
        given and the key is absent)."""
        self._check()
        if not 1 <= len(args) <= 2:
            raise InvalidArgumentError(f"Config.pop: expected a key and an optional default, got {len(args)} arguments")
        if _key(args[0], "pop") not in self._config and len(args) == 1:
            raise _MissingKeyError(f"Config has no key {brief(args[0])}")
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        """Adds the values of a mapping or of ``(key, value)`` pairs, and of ``kwargs``."""
        self._check()
        if len(args) > 1:
            raise InvalidArgumentError(f"Config.update: expected at most 1 positional argument, got {len(args)}")
        try:
            new = dict(*args, **kwargs)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"Config.update: expected a mapping or (key, value) pairs, got "
                                       f"{brief(args[0])} ({e})") from None
        self._config.update(new)

    def as_dict(self) -> dict:
        """A (deep) copy of the values as a dict."""
        return copy.deepcopy(self._config)

    def to_json(self) -> str:
        """The values as a JSON string."""
        return json.dumps(self._config)
