"""Random numbers from the counter-based Philox 4x32-10 generator.

A draw is addressed by (seed, counter): the same pair gives the same numbers on every
device. The global generator advances its counter by the blocks each draw consumes;
`ember.utils.set_random_seed` resets it (and seeds Python's and numpy's generators,
as Keras does).

Example:
    >>> import ember as em
    >>> em.utils.set_random_seed(0); a = em.random.uniform((3,)).numpy()
    >>> em.utils.set_random_seed(0); b = em.random.uniform((3,)).numpy()
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

import os
import random as _pyrandom

import numpy as np

from . import _core
from .backend import get_backend
from ._boundary import public
from .errors import InvalidArgumentError
from .tensor import Tensor, _default_device, _shape_tuple

__all__ = ["SeedGenerator", "uniform", "normal", "truncated_normal", "dropout_mask", "set_seed"]


class SeedGenerator:
    """A (seed, counter) stream. Keras-compatible name; ``seed=None`` draws a fresh seed."""

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise InvalidArgumentError(f"SeedGenerator: seed must be an integer, got {seed!r}")
        self.seed = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
        self.counter = 0

    def next(self, n: int) -> tuple[int, int]:
        """Reserves the counters for a draw of ``n`` values; returns (seed, offset)."""
        off = self.counter
        try:
            blocks = _core.random_blocks(n)
        except (TypeError, OverflowError, ValueError):
            raise InvalidArgumentError(f"SeedGenerator.next: n must be an integer >= 0, got {n!r}") from None
        self.counter += blocks
        return self.seed, off


_global = [SeedGenerator()]


def set_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgumentError(f"random.set_seed: seed must be an integer, got {seed!r}")
    _global[0] = SeedGenerator(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed & 0xFFFF_FFFF)


def global_generator() -> SeedGenerator:
    return _global[0]


def _draw(kind: str, shape, a: float, b: float, seed, device) -> Tensor:
    shape = _shape_tuple(shape)
    n = int(np.prod(shape)) if shape else 1
    gen = seed if isinstance(seed, SeedGenerator) else (SeedGenerator(seed) if seed is not None else _global[0])
    s, off = gen.next(n)
    be = get_backend(device or _default_device[0])
    return Tensor._wrap(be.random(kind, n, s, off, float(a), float(b)), shape, "float32", be)


@public("random.uniform")
def uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype=None, seed=None, device=None) -> Tensor:
    return _draw("uniform", shape, minval, maxval, seed, device)


@public("random.normal")
def normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None, device=None) -> Tensor:
    return _draw("normal", shape, mean, stddev, seed, device)


@public("random.truncated_normal")
def truncated_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None, device=None) -> Tensor:
    """Normal values cut at two standard deviations (inverse-CDF sampling)."""
    return _draw("truncated_normal", shape, mean, stddev, seed, device)


@public("random.dropout_mask")
def dropout_mask(shape, rate: float, seed=None, device=None) -> Tensor:
    """Inverted-dropout mask: 1/(1-rate) with probability 1-rate, else 0."""
    if not 0.0 <= rate < 1.0:
        raise InvalidArgumentError(f"dropout: rate must be in [0, 1), got {rate}")
    keep = 1.0 - rate
    return _draw("bernoulli", shape, keep, 1.0 / keep, seed, device)
