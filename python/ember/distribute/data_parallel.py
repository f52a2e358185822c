"""`DataParallel`: synchronous data-parallel training over MPI ranks.

What a distributed ``fit`` does differently (each rank runs the same script):

* at the start, rank 0's weights, optimizer state and random streams (numpy's, Python's
  and Ember's Philox counters) are broadcast, so every rank starts identical and draws the
  same shuffle permutation each epoch;
* each global batch of the permutation (``batch_size`` is global, as in Keras's
  ``DataParallel``) is split into ``size`` contiguous shards, one per rank;
* the optimizer's gradients are all-reduced before the update (clipping then sees the
  global gradient, as in PyTorch DDP): each rank's gradient is weighted by its share of
  the global batch, packed into buckets of about ``bucket_bytes`` and summed with
  ``Iallreduce`` in place; each bucket's reduce starts as soon as it is packed, while the
  next is packed;
* the loss and metric states are summed over the ranks before they are read, so every rank
  logs the same numbers; validation batches are sharded the same way;
* only rank 0 shows the progress bar and runs the callbacks that write files
  (ModelCheckpoint, CSVLogger, TensorBoard, BackupAndRestore's saving); the others run the
  rest (EarlyStopping sees the same logs everywhere, so every rank stops together).
"""

from __future__ import annotations

import contextlib
import random as _pyrandom
import threading
import time

import numpy as np

from ..errors import InvalidArgumentError
from ..tensor import Tensor
from .mpi import World, local_rank_from_env, world

__all__ = ["DataParallel", "set_distribution", "distribution"]

_active = threading.local()
_global: list = [None]
_fitting: list = [None]  # the distribution of the fit running now (BatchNormalization(synchronized=True) reads it)


def fitting():
    """The DataParallel of the distributed fit running now, or None."""
    return _fitting[0]


class DataParallel:
    """Data parallelism over the ranks of an MPI job (Keras 3's
    ``keras.distribution.DataParallel``, on MPI).

    Make one in a script launched with ``mpiexec -n N python train.py`` and either
    activate it for the whole script (``ember.distribute.set_distribution(dp)``, as
    Keras does) or around the model's ``compile`` and ``fit`` (``with dp.scope():``).
    Run without ``mpiexec``, the same script is a world of one rank and trains as usual.

    Args:
        devices: accepted for Keras compatibility; each rank trains on its model's device.
            With several GPU adapters, use ``gpu_adapter()`` to pick the rank's own.
        bucket_bytes: the size of a gradient bucket (one all-reduce each).
        overlap: start each bucket's all-reduce during the backward pass, as soon as its
            gradients are final (PyTorch DDP's overlap), instead of after it.

    Example:
        >>> import ember as em
        >>> dp = em.distribute.DataParallel()   # doctest: +SKIP
        >>> with dp.scope():                     # doctest: +SKIP
        ...     model.compile("adam", "sparse_categorical_crossentropy")
        ...     model.fit(x, y, batch_size=128)
    """

    def __init__(self, devices=None, bucket_bytes: int = 1 << 20, overlap: bool = True):
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1024:
            raise InvalidArgumentError(f"DataParallel: bucket_bytes must be an integer >= 1024, got {bucket_bytes!r}")
        if not isinstance(overlap, bool):
            raise InvalidArgumentError(f"DataParallel: overlap must be True or False, got {overlap!r}")
        self.devices = devices
        self.bucket_bytes = int(bucket_bytes)
        self.overlap = overlap
        self._overlap_plans: dict = {}
        self._inflight = None
        self.world: World = world()
        self.rank = self.world.rank
        self.size = self.world.size
        self._weight = 1.0
        self._buckets: dict = {}
        self.steps = 0

    @property
    def is_chief(self) -> bool:
        """True on rank 0, the rank that logs and saves."""
        return self.rank == 0

    @property
    def local_rank(self) -> int:
        return local_rank_from_env()

    def gpu_adapter(self, n_adapters: int) -> int:
        """The adapter index this rank uses out of ``n_adapters`` equally good ones (local
        rank modulo): what the "gpu" device picks by itself under the launcher (or set
        ``EMBER_GPU_ADAPTER``)."""
        return self.local_rank % max(1, int(n_adapters))

    @contextlib.contextmanager
    def scope(self):
        """Makes this the active distribution inside the block (models compiled or fitted
        there use it)."""
        prev = getattr(_active, "dist", None)
        _active.dist = self
        try:
            yield self
        finally:
            _active.dist = prev

    # -- the start of fit ----------------------------------------------------------------------
    def begin_fit(self, model) -> None:
        """Broadcasts rank 0's weights, optimizer state and random streams."""
        if self.size == 1:
            return
        from .. import random as _random

        variables = list(model.variables)
        opt = model.optimizer
        if opt is not None and getattr(opt, "variables", None):
            variables += [v for v in opt.variables if isinstance(v, Tensor)]
        if variables:
            flat = np.concatenate([np.asarray(v.numpy(), dtype=np.float64).reshape(-1) for v in variables])
            self.world.check("broadcast of the initial weights")
            self.world.bcast_(flat, "broadcast of the initial weights")
            off = 0
            for v in variables:
                n = int(np.prod(v.shape))
                v.assign(flat[off:off + n].reshape(v.shape).astype(np.float32 if v.dtype == "float32" else np.int32))
                off += n
        gen = _random.global_generator()
        iterations = getattr(opt, "iterations", None)
        state = self.world.bcast_object((np.random.get_state(), _pyrandom.getstate(), gen.seed, gen.counter, iterations),
                                        "broadcast of the random state")
        np.random.set_state(state[0])
        _pyrandom.setstate(state[1])
        gen.seed, gen.counter = state[2], state[3]
        self.fold_random()
        if opt is not None and state[4] is not None:
            opt.iterations = state[4]
        if opt is not None:
            opt._distribution = self
        _fitting[0] = self

    def fold_random(self) -> None:
        """Every rank shuffles alike (numpy's stream), but the global Philox stream (the
        dropout masks of layers without their own seed) is folded with the rank, so that
        the ranks' shards do not all get the same masks. Rank 0's stream is unchanged."""
        from .. import random as _random

        gen = _random.global_generator()
        gen.seed = (gen.seed ^ (self.rank * 0x9E37_79B9_7F4A_7C15)) & 0xFFFF_FFFF_FFFF_FFFF

    def end_fit(self, model) -> None:
        _fitting[0] = None
        if model.optimizer is not None:
            model.optimizer._distribution = None

    # -- batches ---------------------------------------------------------------------------------
    def shard(self, idx: np.ndarray) -> np.ndarray:
        """This rank's contiguous share of a global batch; sets the gradient weight
        ``len(share) / len(idx)`` (shards differ by at most one row)."""
        if self.size == 1:
            return idx
        n = len(idx)
        lo, hi = (n * self.rank) // self.size, (n * (self.rank + 1)) // self.size
        self._weight = (hi - lo) / n if n else 0.0
        return idx[lo:hi]

    def null_step(self, model) -> None:
        """A rank whose share of the last batch is empty still joins the gradient
        all-reduce (with zeros) and applies the same update as the others."""
        from ..tensor import zeros

        variables = model._train_variables if model._train_variables is not None else model.trainable_variables
        self._weight = 0.0
        model.optimizer.apply([zeros(v.shape, device=v.device) for v in variables], variables)

    # -- gradients -------------------------------------------------------------------------------
    def begin_backward(self, variables: list):
        """With ``overlap``: the ``leaf_ready`` hook for the step's backward walk, which
        packs each final gradient into its bucket and starts the bucket's all-reduce as
        soon as the bucket is full (PyTorch DDP's overlap). Returns None without overlap
        (the gradients are then packed and reduced after the backward)."""
        self._inflight = None
        if self.size == 1 or not self.overlap:
            return None
        return self._start(variables)

    def _layout(self, variables: list):
        """The buckets of ``variables``' gradients, in reverse order (the backward finishes
        the last layers first), and each variable's (bucket, offset, size). Every rank
        computes the same layout from the same model, so the buckets line up."""
        key = tuple(id(v) for v in variables)
        plan = self._overlap_plans.get(key)
        if plan is None:
            order = list(reversed(variables))
            buckets = self._plan(tuple(int(np.prod(v.shape)) for v in order))
            slot = {}
            for b, (_, members) in enumerate(buckets):
                for j, off, n in members:
                    slot[id(order[j])] = (b, off, n)
            plan = self._overlap_plans[key] = (buckets, slot)
        return plan

    def _start(self, variables: list):
        plan = self._layout(variables)
        buckets, slot = plan
        self.world.check("gradient all-reduce")
        t0 = time.perf_counter()
        weight = np.float32(self._weight)
        remaining = [len(m) for _, m in buckets]
        filled: set = set()
        requests: list = [None] * len(buckets)
        world = self.world

        def ready(t, g):
            where = slot.get(id(t))
            if where is None or id(t) in filled:
                return
            b, off, n = where
            buf = buckets[b][0]
            np.multiply(g.numpy().reshape(-1), weight, out=buf[off:off + n])
            filled.add(id(t))
            remaining[b] -= 1
            if remaining[b] == 0:
                requests[b] = world.allreduce_(buf, "gradient all-reduce")
            for r in requests:  # MPI progresses a non-blocking collective only when polled
                if r is not None:
                    r.Test()

        self._inflight = (plan, filled, requests, t0)
        return ready

    def _finish_inflight(self, grads: list, variables: list) -> list:
        (buckets, slot), filled, requests, t0 = self._inflight
        self._inflight = None
        w = self.world
        for b, (buf, members) in enumerate(buckets):
            if requests[b] is None:  # a bucket some of whose variables got no gradient
                for v in variables:
                    where = slot.get(id(v))
                    if where is not None and where[0] == b and id(v) not in filled:
                        buf[where[1]:where[1] + where[2]] = 0.0
                requests[b] = w.allreduce_(buf, "gradient all-reduce")
        for r in requests:
            w.wait(r, "gradient all-reduce")
        out = []
        for g, v in zip(grads, variables):
            where = slot.get(id(v))
            if g is None or where is None:
                out.append(g)
                continue
            b, off, n = where
            out.append(Tensor(buckets[b][0][off:off + n].reshape(g.shape), device=g.device))
        w.comm_seconds += time.perf_counter() - t0
        w.comm_bytes += 4 * sum(int(np.prod(v.shape)) for v in variables)
        self.steps += 1
        return out

    def reduce_gradients(self, grads: list, variables: list) -> list:
        """The global-batch gradient: every rank's ``grads`` (of ``variables``), weighted by
        its share of the batch, summed over the ranks (None entries stay None)."""
        if self.size == 1:
            return grads
        if self._inflight is None:  # no overlapped backward: pack everything now
            ready = self._start(variables)
            for g, v in zip(grads, variables):
                if g is not None:
                    ready(v, g)
        return self._finish_inflight(grads, variables)

    def _plan(self, sizes: tuple) -> list:
        """Buckets of consecutive gradients, about ``bucket_bytes`` each."""
        buckets, members, total = [], [], 0
        limit = max(1, self.bucket_bytes // 4)
        for j, n in enumerate(sizes):
            if members and total + n > limit:
                buckets.append((np.empty(total, np.float32), members))
                members, total = [], 0
            members.append((j, total, n))
            total += n
        if members:
            buckets.append((np.empty(total, np.float32), members))
        return buckets

    # -- logs ------------------------------------------------------------------------------------
    def reduce_logs(self, model, read) -> dict:
        """``read()`` (the logs) computed from the metric states summed over the ranks;
        each metric's local state is restored afterwards so accumulation continues."""
        if self.size == 1:
            return read()
        metrics = _leaf_metrics(model.metrics)
        saved, flat = [], []
        for m in metrics:
            total = float(m.total) + (float(m._total_dev.numpy()) if getattr(m, "_total_dev", None) is not None else 0.0)
            count = float(m.count) + (float(m._count_dev.numpy()) if getattr(m, "_count_dev", None) is not None else 0.0)
            values = [np.asarray(v.numpy(), dtype=np.float64) for v in m.variables]
            saved.append((m.total, m.count, m._total_dev, m._count_dev, [v.numpy().copy() for v in m.variables]))
            flat.append(np.array([total, count]))
            flat.extend(v.reshape(-1) for v in values)
        buf = np.concatenate(flat) if flat else np.zeros(0)
        self.world.check("metric all-reduce")
        req = self.world.allreduce_(buf, "metric all-reduce")
        self.world.wait(req, "metric all-reduce")
        off = 0
        for m in metrics:
            m.total, m.count = float(buf[off]), float(buf[off + 1])
            m._total_dev = m._count_dev = None
            off += 2
            for v in m.variables:
                n = int(np.prod(v.shape))
                summed = buf[off:off + n].reshape(v.shape)
                if getattr(v, "aggregation", "sum") == "mean":
                    summed = summed / self.size
                v.assign(summed.astype(np.float32 if v.dtype == "float32" else np.int32))
                off += n
        try:
            return read()
        finally:
            for m, (total, count, tdev, cdev, values) in zip(metrics, saved):
                m.total, m.count, m._total_dev, m._count_dev = total, count, tdev, cdev
                for v, a in zip(m.variables, values):
                    v.assign(a)

    def shard_batches(self, starts):
        """This rank's share of the evaluation batches (every ``size``-th one)."""
        return starts if self.size == 1 else starts[self.rank::self.size]

    # -- callbacks -------------------------------------------------------------------------------
    def chief_only(self, callback) -> bool:
        """Whether ``callback`` writes files, so that only rank 0 runs it."""
        from .. import callbacks as cb

        kinds = tuple(getattr(cb, n) for n in ("ModelCheckpoint", "CSVLogger", "TensorBoard", "ProgbarLogger")
                      if hasattr(cb, n))
        return isinstance(callback, kinds) or bool(getattr(callback, "_chief_only", False))


def _leaf_metrics(metrics) -> list:
    """The metric objects holding state: containers (the compiled metrics) are opened."""
    out = []
    for m in metrics:
        if hasattr(m, "total") and hasattr(m, "count"):
            out.append(m)
        else:
            out.extend(_leaf_metrics(getattr(m, "metrics", ())))
    return out


def set_distribution(value) -> None:
    """Makes ``value`` (a `DataParallel`, or None) the distribution of every later
    compile/fit (Keras 3's ``keras.distribution.set_distribution``)."""
    if value is not None and not isinstance(value, DataParallel):
        raise InvalidArgumentError(f"set_distribution: expected a DataParallel or None, got {type(value).__name__}")
    _global[0] = value


def distribution():
    """The active distribution: the innermost ``scope()``, else the one set with
    `set_distribution`, else None."""
    return getattr(_active, "dist", None) or _global[0]
