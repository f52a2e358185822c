"""The MPI world under `ember.distribute`: mpi4py imported only when a distribution is made,
collectives that cannot hang forever, and a coordinated stop when a rank fails.

Every collective Ember issues in a distributed ``fit`` is preceded by a *status check*: a
one-integer ``Allreduce(MAX)`` of "has this rank failed?". A rank that raises calls
`World.fail`, which joins the next status check with the flag set; every rank then sees the
flag, the failing ranks' messages are gathered, and every rank raises `RemoteRankError`
with them (the failing rank re-raises its own exception). Since no rank can be inside any
other collective while a peer waits in a status check, the sequences always match, so a
failure never leaves the others waiting. Anything else (a rank that dies, or one that stops
calling collectives) is caught by the collectives' timeout (``EMBER_MPI_TIMEOUT`` seconds,
default 300), which aborts the whole job with ``MPI.Abort`` rather than hang.
"""

from __future__ import annotations

import os
import sys
import time
import zlib

import numpy as np

from ..config import local_rank_from_env, local_ranks_from_env
from ..errors import BackendUnavailableError, EmberError

__all__ = ["World", "RemoteRankError", "world", "local_rank_from_env", "local_ranks_from_env"]


class RemoteRankError(EmberError, RuntimeError):
    """Another rank of a distributed run raised; its message is in this one's."""


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise BackendUnavailableError(
            "ember.distribute needs mpi4py and an MPI library: pip install 'ember[mpi]' "
            "(mpi4py and mpich from PyPI), or Debian's python3-mpi4py with openmpi-bin / mpich; "
            f"then launch with mpiexec -n 2 python train.py ({e})"
        ) from None
    return MPI


def _timeout() -> float:
    raw = os.environ.get("EMBER_MPI_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else 300.0
    except ValueError:
        return 300.0


class World:
    """The processes of one MPI job: ``rank``, ``size`` and the collectives Ember uses."""

    def __init__(self):
        self.MPI = _import_mpi()
        self.comm = self.MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout = _timeout()
        self._status = np.zeros(3, dtype=np.int32)
        self.comm_seconds = 0.0  # time spent in gradient all-reduces (benchmarks read it)
        self.comm_bytes = 0

    # -- waiting with a deadline -------------------------------------------------------------
    def wait(self, request, what: str) -> None:
        """Waits for a non-blocking collective; aborts the job after the timeout."""
        if request.Test():
            return
        deadline = time.monotonic() + self.timeout
        spins = 0
        while not request.Test():
            spins += 1
            if spins > 2000:  # past a millisecond or so of spinning: stop burning the core
                time.sleep(0.0005)
            if time.monotonic() > deadline:
                self.abort(f"{what}: no answer from the other ranks within {self.timeout:g} s "
                           "(EMBER_MPI_TIMEOUT); a rank died or stopped calling collectives")

    def abort(self, message: str) -> None:
        sys.stderr.write(f"[ember.distribute rank {self.rank}/{self.size}] {message}; aborting the job\n")
        sys.stderr.flush()
        self.comm.Abort(1)

    # -- the status check and coordinated failure -----------------------------------------------
    def check(self, kind: str = "", failed: bool = False, message: str = "") -> None:
        """The status collective every Ember collective starts with (see the module doc).

        It also compares ``kind``, the name of the collective that follows, across the
        ranks: ranks that disagree (a bug: one rank calls a collective the others do not)
        get an error naming both instead of a reduce of mismatched buffers."""
        if self.size == 1:
            return
        code = (zlib.crc32(kind.encode()) & 0x3FFF_FFFF) + 1 if not failed else 0
        _KINDS[code] = kind
        self._status[0] = 1 if failed else 0
        self._status[1] = code
        self._status[2] = -code if not failed else -(1 << 30)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, self._status, op=self.MPI.MAX)
        self.wait(req, f"status check before {kind or 'a collective'}")
        if self._status[0]:
            messages = self.comm.allgather(f"rank {self.rank}: {message}" if failed else None)
            if not failed:
                raise RemoteRankError("a rank of the distributed run failed, so every rank stops: "
                                      + "; ".join(m for m in messages if m))
            return
        if self._status[1] != -self._status[2]:
            names = _KINDS
            raise RemoteRankError(
                f"ranks disagree on the next collective: this rank ({self.rank}) is at {kind!r}, another at "
                f"{names.get(int(self._status[1]), '?')!r} or {names.get(int(-self._status[2]), '?')!r}"
            )

    def fail(self, exc: BaseException) -> None:
        """Called by a rank whose step raised ``exc``: tells every rank to stop."""
        if self.size == 1 or isinstance(exc, RemoteRankError):
            return
        self.check(failed=True, message=f"{type(exc).__name__}: {exc}")

    # -- collectives --------------------------------------------------------------------------
    def allreduce_(self, buf: np.ndarray, what: str):
        """Starts an in-place sum of ``buf`` over the ranks; returns the request."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)

    def bcast_(self, buf: np.ndarray, what: str) -> None:
        req = self.comm.Ibcast(buf, root=0)
        self.wait(req, what)

    def bcast_object(self, obj, what: str):
        self.check(what)
        return self.comm.bcast(obj, root=0)

    def local_size(self) -> int:
        return local_ranks_from_env() or 1


_KINDS: dict = {}  # code -> collective name, for the mismatch message

_world: list = [None]


def world() -> World:
    """The MPI world, made on first use (importing mpi4py initialises MPI)."""
    if _world[0] is None:
        _world[0] = World()
    return _world[0]
