"""The public-API boundary: argument errors that slip past explicit validation (a
Python TypeError from a None, numpy's ValueError for ragged data...) come out as
`InvalidArgumentError` naming the op, never as a bare builtin from deep inside."""

from __future__ import annotations

import functools
import inspect

from .errors import EmberError, InvalidArgumentError, InvalidConfigError


def public(op: str):
    def wrap(f):
        @functools.wraps(f)
        def checked(*args, **kwargs):
            try:
                return f(*args, **kwargs)
            except EmberError:
                raise
            except (TypeError, ValueError, OverflowError, AttributeError, IndexError, KeyError) as e:
                raise InvalidArgumentError(f"{op}: invalid arguments ({type(e).__name__}: {e})") from e

        return checked

    return wrap


def is_internal(cls) -> bool:
    """Whether ``cls`` is defined inside the ``ember`` package (not a user's subclass)."""
    return cls.__module__ == "ember" or cls.__module__.startswith("ember.")


def wrap_public_methods(cls, skip: tuple = ()) -> None:
    """Applies `public` (named ``"<Class>.<method>"``) to every public plain method defined
    in ``cls`` itself. For classes inside the ember package only (see `is_internal`): a
    user's subclass keeps its own exceptions."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or name in skip or not inspect.isfunction(member):
            continue
        if getattr(member, "_ember_public", False):
            continue
        wrapped = public(f"{cls.__name__}.{name}")(member)
        wrapped._ember_public = True
        setattr(cls, name, wrapped)


def construct_from_config(cls, config, owner: str | None = None):
    """``cls(**config)`` for a ``from_config`` classmethod: a config that is not a dict, or
    whose keys ``cls`` does not accept, is an `InvalidConfigError` naming the class; errors
    raised by ``cls.__init__`` itself pass through unchanged (a user's class keeps its own)."""
    owner = owner or f"{cls.__name__}.from_config"
    if not isinstance(config, dict):
        raise InvalidConfigError(f"{owner}: expected a dict, got {type(config).__name__}")
    bad = [k for k in config if not isinstance(k, str)]
    if bad:
        raise InvalidConfigError(f"{owner}: config keys must be strings, got {bad[0]!r}")
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        try:
            sig.bind(**config)
        except TypeError as e:
            raise InvalidConfigError(f"{owner}: {e} (config keys: {sorted(config)})") from None
    return cls(**config)
