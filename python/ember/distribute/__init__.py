"""Training past one machine: synchronous data parallelism on MPI (``ember[mpi]``).

Launch the same script on every rank with ``mpiexec -n 4 python train.py``; with one
process it trains as usual. mpi4py is imported only when a distribution is made.

Example:
    >>> import ember as em
    >>> em.distribute.distribution() is None
    True
"""

from __future__ import annotations

from .data_parallel import DataParallel, distribution, set_distribution
from .mpi import RemoteRankError, local_ranks_from_env

__all__ = ["DataParallel", "initialize", "set_distribution", "distribution", "RemoteRankError", "rank", "size",
           "is_chief", "local_ranks_from_env"]


def initialize(job_addresses=None, num_processes=None, process_id=None) -> "DataParallel":
    """Detects the MPI world and makes a `DataParallel` the distribution of the script
    (Keras 3's ``keras.distribution.initialize``; the arguments are taken from the MPI
    launcher, so the ones given must agree with it).

    Returns:
        The `DataParallel` now set with `set_distribution`.
    """
    from ..errors import InvalidArgumentError

    dp = DataParallel()
    if num_processes is not None and int(num_processes) != dp.size:
        raise InvalidArgumentError(f"initialize: num_processes={num_processes} but the MPI world has {dp.size} ranks")
    if process_id is not None and int(process_id) != dp.rank:
        raise InvalidArgumentError(f"initialize: process_id={process_id} but this MPI rank is {dp.rank}")
    set_distribution(dp)
    return dp


def rank() -> int:
    """This process's rank (0 without a distribution)."""
    d = distribution()
    return 0 if d is None else d.rank


def size() -> int:
    """The number of ranks (1 without a distribution)."""
    d = distribution()
    return 1 if d is None else d.size


def is_chief() -> bool:
    """True on rank 0 (and without a distribution): the rank that should save files."""
    return rank() == 0
