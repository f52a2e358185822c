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

__all__ = ["SeedGenerator", "uniform", "normal", "truncated_normal", "dropout_mask", "set_seed", "randint", "dropout",
           "shuffle", "categorical", "gamma", "beta", "binomial"]


class SeedGenerator:
    """A (seed, counter) stream. Keras-compatible name; ``seed=None`` draws a fresh seed.

    Args:
        seed: the stream's seed (None: a random one).
        name: the generator's name (Keras's ``SeedGenerator`` has one).
        **kwargs: Keras's ``backend=`` is accepted when None; anything else is an error.
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs):
        if kwargs.get("backend") is not None or set(kwargs) - {"backend"}:
            raise InvalidArgumentError(f"SeedGenerator: unsupported arguments {sorted(kwargs)} (Ember is its own backend)")
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"SeedGenerator: name must be a string, got {name!r}")
        self.name = name or "seed_generator"
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


def _float_dtype(dtype, op: str) -> None:
    if dtype is None or dtype == "float32" or dtype is float or getattr(dtype, "name", None) == "float32":
        return
    raise NotImplementedError(f"random.{op}: dtype={dtype!r} is not supported; Ember draws float32")


def _generator(seed) -> SeedGenerator:
    """The stream a draw uses: a SeedGenerator as given, an int seed as a fresh stream
    (so the same int gives the same numbers), None the global stream."""
    return seed if isinstance(seed, SeedGenerator) else (SeedGenerator(seed) if seed is not None else _global[0])


def _draw(kind: str, shape, a: float, b: float, seed, device) -> Tensor:
    shape = _shape_tuple(shape)
    n = int(np.prod(shape)) if shape else 1
    s, off = _generator(seed).next(n)
    be = get_backend(device or _default_device[0])
    return Tensor._wrap(be.random(kind, n, s, off, float(a), float(b)), shape, "float32", be)


@public("random.uniform")
def uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype=None, seed=None, device=None) -> Tensor:
    """Uniform values in ``[minval, maxval)``."""
    _float_dtype(dtype, "uniform")
    return _draw("uniform", shape, minval, maxval, seed, device)


@public("random.normal")
def normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None, device=None) -> Tensor:
    """Normal values of mean ``mean`` and standard deviation ``stddev``."""
    _float_dtype(dtype, "normal")
    return _draw("normal", shape, mean, stddev, seed, device)


@public("random.truncated_normal")
def truncated_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None, device=None) -> Tensor:
    """Normal values cut at two standard deviations (inverse-CDF sampling)."""
    _float_dtype(dtype, "truncated_normal")
    return _draw("truncated_normal", shape, mean, stddev, seed, device)


@public("random.dropout_mask")
def dropout_mask(shape, rate: float, seed=None, device=None) -> Tensor:
    """Inverted-dropout mask: 1/(1-rate) with probability 1-rate, else 0."""
    if not 0.0 <= rate < 1.0:
        raise InvalidArgumentError(f"dropout: rate must be in [0, 1), got {rate}")
    keep = 1.0 - rate
    return _draw("bernoulli", shape, keep, 1.0 / keep, seed, device)


# -- distributions built from the uniform and normal streams, with ember ops (so they run
# on the device of the draw and give the same numbers on every device) -----------------


def _ops():
    from .ops import array_ops as array, core

    return core, array


@public("random.randint")
def randint(shape, minval, maxval, dtype="int32", seed=None, device=None) -> Tensor:
    """Integers drawn uniformly from ``[minval, maxval)`` (int32).

    Example:
        >>> import ember as em
        >>> v = em.random.randint((1000,), 2, 5, seed=0).numpy()
        >>> int(v.min()), int(v.max())
        (2, 4)
    """
    if dtype not in ("int32", None) and getattr(dtype, "name", dtype) != "int32":
        raise NotImplementedError(f"random.randint: dtype={dtype!r} is not supported; Ember draws int32")
    lo, hi = int(minval), int(maxval)
    if hi <= lo:
        raise InvalidArgumentError(f"random.randint: maxval ({maxval}) must be larger than minval ({minval})")
    core, array = _ops()
    u = _draw("uniform", shape, float(lo), float(hi), seed, device)
    return core.cast(core.clip(array.floor(u), float(lo), float(hi - 1)), "int32")


@public("random.dropout")
def dropout(inputs, rate, noise_shape=None, seed=None) -> Tensor:
    """``inputs`` with each value (or each slice along broadcast ``noise_shape`` axes)
    zeroed with probability ``rate`` and the rest scaled by ``1 / (1 - rate)``.

    Example:
        >>> import ember as em
        >>> y = em.random.dropout(em.ones((4, 100)), 0.5, noise_shape=(4, 1), seed=1).numpy()
        >>> sorted(set(y[:, 0].tolist()) | set(y.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
    """
    from .tensor import as_tensor

    core, _ = _ops()
    x = as_tensor(inputs)
    shape = x.shape if noise_shape is None else tuple(x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    if rate == 0:
        return x
    mask = dropout_mask(shape, float(rate), seed=seed, device=x.device)
    return core.multiply(x, mask)


@public("random.shuffle")
def shuffle(x, axis=0, seed=None) -> Tensor:
    """``x`` with its slices along ``axis`` in a random order (a permutation drawn from
    the generator, the same on every device).

    Example:
        >>> import ember as em
        >>> sorted(em.random.shuffle(em.tensor([1.0, 2.0, 3.0]), seed=3).numpy().tolist())
        [1.0, 2.0, 3.0]
    """
    from .tensor import as_tensor

    _, array = _ops()
    x = as_tensor(x)
    ax = axis % x.ndim if x.ndim else 0
    keys = _draw("uniform", (x.shape[ax],), 0.0, 1.0, seed, x.device)
    return array.take(x, array.argsort(keys), axis=ax)


@public("random.categorical")
def categorical(logits, num_samples, dtype="int32", seed=None) -> Tensor:
    """``num_samples`` class indices per row of ``logits`` (batch, classes), drawn with
    probabilities ``softmax(logits)`` (the Gumbel-max trick).

    Example:
        >>> import ember as em
        >>> em.random.categorical(em.tensor([[0.0, -1e9], [-1e9, 0.0]]), 3, seed=0).numpy().tolist()
        [[0, 0, 0], [1, 1, 1]]
    """
    from .tensor import as_tensor

    if dtype not in ("int32", None) and getattr(dtype, "name", dtype) != "int32":
        raise NotImplementedError(f"random.categorical: dtype={dtype!r} is not supported; Ember draws int32")
    core, array = _ops()
    z = core._float(as_tensor(logits))
    if z.ndim != 2:
        from .errors import ShapeError

        raise ShapeError(f"random.categorical: logits must have shape (batch, classes), got {z.shape}")
    n = int(num_samples)
    b, c = z.shape
    u = _draw("uniform", (b, n, c), 1e-20, 1.0, seed, z.device)
    gumbel = core.negative(core.log(core.negative(core.log(u))))
    return core.argmax(core.add(array.expand_dims(z, 1), gumbel), -1)


def _gamma(shape, alpha, seed, device, op: str) -> Tensor:
    """Marsaglia-Tsang, vectorized: 8 candidate rounds per value, the first accepted kept
    (each is accepted with probability > 0.95, so all 8 fail with p < 1e-10; then the last
    candidate is used); alpha < 1 through ``gamma(alpha + 1) * u ** (1 / alpha)``."""
    from .tensor import Tensor as _T

    core, array = _ops()
    shape = _shape_tuple(shape)
    a = np.broadcast_to(np.asarray(alpha, np.float64), shape) if np.ndim(alpha) else np.full(shape, float(alpha))
    if not np.all(a > 0):
        raise InvalidArgumentError(f"random.{op}: alpha must be > 0")
    gen = _generator(seed)
    dev = device or _default_device[0]
    boost = a < 1
    a1 = np.where(boost, a + 1, a)
    d = _T((a1 - 1 / 3).astype(np.float32), device=dev)
    c = _T((1 / np.sqrt(9 * (a1 - 1 / 3))).astype(np.float32), device=dev)
    rounds = 8
    xs = _draw("normal", (rounds,) + shape, 0.0, 1.0, gen, dev)
    us = _draw("uniform", (rounds,) + shape, 1e-20, 1.0, gen, dev)
    v = core.power(core.add(core.multiply(xs, c), 1.0), 3.0)
    pos = core.greater(v, 0.0)
    safe_v = core.add(core.multiply(v, pos), core.subtract(1.0, pos))  # log of 1 where v <= 0
    bound = core.add(core.add(core.multiply(core.square(xs), 0.5), d),
                     core.multiply(d, core.subtract(core.log(safe_v), safe_v)))
    accept = core.multiply(pos, core.less(core.log(us), bound))
    # the first accepted round: accepted and no earlier acceptance
    none_before = array.cumprod(core.subtract(1.0, accept), axis=0)
    first = core.multiply(accept, _shifted(none_before))
    never = array.take(none_before, [rounds - 1], axis=0)[0]
    value = core.multiply(d, safe_v)
    out = core.add(core.sum(core.multiply(first, value), axis=0), core.multiply(never, array.take(value, [rounds - 1], axis=0)[0]))
    if boost.any():
        u = _draw("uniform", shape, 1e-20, 1.0, gen, dev)
        inv = _T(np.where(boost, 1 / a, 1.0).astype(np.float32), device=dev)
        out = core.multiply(out, core.power(u, inv))
    return out


def _shifted(none_before):
    """``prod_{s < r} (1 - accept_s)``: the exclusive cumulative product along axis 0."""
    from .tensor import ones

    core, array = _ops()
    one = ones((1,) + none_before.shape[1:], device=none_before.device)
    return array.concatenate([one, array.take(none_before, list(range(none_before.shape[0] - 1)), axis=0)], axis=0)


@public("random.gamma")
def gamma(shape, alpha, dtype=None, seed=None, device=None) -> Tensor:
    """Gamma(``alpha``, 1) values (shape ``alpha``, scale 1).

    Example:
        >>> import ember as em
        >>> round(float(em.random.gamma((20000,), 3.0, seed=0).numpy().mean()), 1)
        3.0
    """
    _float_dtype(dtype, "gamma")
    return _gamma(shape, alpha, seed, device, "gamma")


@public("random.beta")
def beta(shape, alpha, beta, dtype=None, seed=None, device=None) -> Tensor:
    """Beta(``alpha``, ``beta``) values, as ``X / (X + Y)`` of two gamma draws.

    Example:
        >>> import ember as em
        >>> round(float(em.random.beta((20000,), 2.0, 6.0, seed=0).numpy().mean()), 2)
        0.25
    """
    _float_dtype(dtype, "beta")
    gen = _generator(seed)
    core, _ = _ops()
    x = _gamma(shape, alpha, gen, device, "beta")
    y = _gamma(shape, beta, gen, device, "beta")
    return core.divide(x, core.add(x, y))


@public("random.binomial")
def binomial(shape, counts, probabilities, dtype=None, seed=None, device=None) -> Tensor:
    """Binomial(``counts``, ``probabilities``) values (float32, as Keras's default dtype):
    the number of successes among ``counts`` trials, summed from uniform draws.

    Example:
        >>> import ember as em
        >>> round(float(em.random.binomial((20000,), 10, 0.3, seed=0).numpy().mean()), 1)
        3.0
    """
    from .tensor import Tensor as _T

    _float_dtype(dtype, "binomial")
    core, _ = _ops()
    shape = _shape_tuple(shape)
    n = np.broadcast_to(np.asarray(counts.numpy() if isinstance(counts, _T) else counts, np.float64), shape)
    p = np.broadcast_to(np.asarray(probabilities.numpy() if isinstance(probabilities, _T) else probabilities,
                                   np.float64), shape)
    if np.any(n < 0) or np.any(n != np.round(n)) or np.any((p < 0) | (p > 1)):
        raise InvalidArgumentError("random.binomial: counts must be non-negative integers and probabilities in [0, 1]")
    trials = int(n.max()) if n.size else 0
    dev = device or _default_device[0]
    if trials == 0:
        return _T(np.zeros(shape, np.float32), device=dev)
    u = _draw("uniform", (trials,) + shape, 0.0, 1.0, seed, dev)
    idx = _T(np.arange(trials, dtype=np.float32).reshape((trials,) + (1,) * len(shape)), device=dev)
    live = core.less(idx, _T(n.astype(np.float32), device=dev))
    hit = core.less(u, _T(p.astype(np.float32), device=dev))
    return core.sum(core.multiply(hit, live), axis=0)
