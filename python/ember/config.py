"""Ember's environment variables, all read here (and documented in the README).

- ``EMBER_NUM_THREADS``: CPU kernel threads (default: all cores; at most `max_num_threads()`,
  4 per core: a larger number is an error at import). Also `set_num_threads`.
- ``EMBER_DEVICE``: the default device, ``cpu`` (default) or ``gpu``.
- ``EMBER_DATA``: a folder holding dataset files (e.g. MNIST's idx files), searched
  before the installed data packages.
- ``EMBER_MPI_TIMEOUT``: seconds a distributed run's collective may wait for the other
  ranks before the job is aborted (default 300; see `ember.distribute`).
- ``EMBER_GEMM_KERNEL``: ``auto`` (default), ``avx512``, ``avx2`` or ``scalar``: forces the
  CPU matrix product onto the kernels of an older CPU (for testing; see
  docs/performance.md). A kernel this CPU cannot run is an error.
"""

from __future__ import annotations

import os

import numpy as np

from . import _core

__all__ = ["set_num_threads", "get_num_threads", "max_num_threads", "data_dir", "default_device_from_env", "gemm_kernel_from_env"]


def max_num_threads() -> int:
    """The largest thread count `set_num_threads` accepts: 4 per core, and at least 64."""
    return _core._max_num_threads()


def set_num_threads(n: int) -> None:
    """Sets the number of threads Ember's CPU kernels use.

    ``n`` is a positive integer of at most `max_num_threads()` (4 per core, at least 64):
    a larger count is refused at once with `InvalidArgumentError` rather than starting
    thousands of threads.

    Example:
        >>> import ember as em
        >>> em.set_num_threads(1); em.get_num_threads()
        1
    """
    from .errors import InvalidArgumentError

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidArgumentError(f"set_num_threads: n must be a positive integer, got {n!r}")
    cap = max_num_threads()
    if n > cap:
        raise InvalidArgumentError(f"set_num_threads: n must be at most {cap} (4 threads per core, at least 64), got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of threads Ember's CPU kernels use."""
    return _core.get_num_threads()


def data_dir() -> str | None:
    """``EMBER_DATA`` if set."""
    return os.environ.get("EMBER_DATA") or None


def default_device_from_env() -> str:
    return os.environ.get("EMBER_DEVICE", "cpu").strip().lower() or "cpu"


def gemm_kernel_from_env() -> str | None:
    return os.environ.get("EMBER_GEMM_KERNEL", "").strip().lower() or None


def _check_num_threads_env() -> None:
    raw = os.environ.get("EMBER_NUM_THREADS", "").strip()
    if not raw:
        return
    try:
        n = int(raw)
    except ValueError:
        return  # not a number: ignored (all cores), as before
    if n > max_num_threads():
        # The pool would start them one by one until the OS refuses, minutes later.
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"EMBER_NUM_THREADS={raw!r}: at most {max_num_threads()} threads (4 per core, at least 64)"
        )


def local_ranks_from_env() -> int | None:
    """How many ranks of this job run on this machine, from the launcher's environment
    (MPICH/hydra ``MPI_LOCALNRANKS``, Open MPI ``OMPI_COMM_WORLD_LOCAL_SIZE``, Slurm
    ``SLURM_NTASKS_PER_NODE``), or None outside a launcher."""
    for name in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                n = int(raw.split("(")[0].split(",")[0])
            except ValueError:
                continue
            if n >= 1:
                return n
    return None


def local_rank_from_env() -> int:
    for name in ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"):
        raw = os.environ.get(name, "").strip()
        if raw.isdigit():
            return int(raw)
    return 0


def _threads_for_local_ranks() -> None:
    """Under an MPI launcher with several ranks on this machine, each rank's CPU pool
    defaults to ``cores / local ranks`` threads (EMBER_NUM_THREADS still wins), so the
    ranks do not oversubscribe the cores."""
    if os.environ.get("EMBER_NUM_THREADS", "").strip():
        return
    local = local_ranks_from_env()
    if local and local > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        _core.set_num_threads(max(1, cores // local))


_check_num_threads_env()
_threads_for_local_ranks()

_gemm_kernel = gemm_kernel_from_env()
if _gemm_kernel not in (None, "auto"):
    _core._force_gemm_kernel(_gemm_kernel)

# A forked child (multiprocessing, DataLoader-style workers) must not reuse the parent's
# thread pool: its worker threads do not exist in the child.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core._after_fork)


# keras.config's functions (floatx, epsilon, image_data_format, ...), defined in _settings.py.
from ._settings import *  # noqa: E402,F401,F403
from . import _settings as _keras_settings  # noqa: E402

__all__ += _keras_settings.__all__
