"""Ember's environment variables, all read here (and documented in the README).

- ``EMBER_NUM_THREADS``: CPU kernel threads (default: all cores). Also `set_num_threads`.
- ``EMBER_DEVICE``: the default device, ``cpu`` (default) or ``gpu``.
- ``EMBER_DATA``: a folder holding dataset files (e.g. MNIST's idx files), searched
  before the installed data packages.
"""

from __future__ import annotations

import os

from . import _core

__all__ = ["set_num_threads", "get_num_threads", "data_dir", "default_device_from_env"]


def set_num_threads(n: int) -> None:
    """Sets the number of threads Ember's CPU kernels use.

    Example:
        >>> import ember as em
        >>> em.set_num_threads(1); em.get_num_threads()
        1
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads Ember's CPU kernels use."""
    return _core.get_num_threads()


def data_dir() -> str | None:
    """``EMBER_DATA`` if set."""
    return os.environ.get("EMBER_DATA") or None


def default_device_from_env() -> str:
    return os.environ.get("EMBER_DEVICE", "cpu").strip().lower() or "cpu"


# A forked child (multiprocessing, DataLoader-style workers) must not reuse the parent's
# thread pool: its worker threads do not exist in the child.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core._after_fork)
