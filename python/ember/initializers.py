"""Weight initializers with Keras 3 names, arguments and scales, drawing from Philox.

VarianceScaling follows Keras exactly: uniform limit ``sqrt(3 * scale / n)``; the
normal variants draw a normal truncated at 2 stddev whose stddev parameter is
``sqrt(scale / n) / 0.87962566103423978`` so the realised stddev is ``sqrt(scale / n)``.

Example:
    >>> import ember as em
    >>> w = em.initializers.GlorotUniform(seed=1)((784, 128))
    >>> bool(abs(w.numpy()).max() <= (6 / (784 + 128)) ** 0.5)
    True
"""

from __future__ import annotations

import math

import numpy as np

from . import random as _random
from .errors import InvalidArgumentError
from .tensor import Tensor, full

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
    "get", "serialize",
]

TRUNCATED_STD_FACTOR = 0.87962566103423978


def compute_fans(shape) -> tuple[float, float]:
    """Keras's fan computation: (in, out) for matrices; receptive field times channels
    for convolution kernels (kh, kw, in, out)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _check_shape(shape) -> tuple:
    """``shape`` as a tuple of non-negative ints, or a clear error."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (int(shape),)
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__iter__"):
        raise InvalidArgumentError(f"initializer: shape must be a tuple of ints, got {shape!r}")
    shape = tuple(shape)
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d >= 0 for d in shape):
        raise InvalidArgumentError(f"initializer: shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in shape)


class Initializer:
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_checks_shape", False):
            def checked(self, shape, dtype=None, _call=call):
                return _call(self, _check_shape(shape), dtype)

            checked._checks_shape = True
            checked.__doc__ = call.__doc__
            cls.__call__ = checked

    def __call__(self, shape, dtype=None) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class _Seeded(Initializer):
    def __init__(self, seed=None):
        self.seed = seed
        self._gen = _random.SeedGenerator(seed) if seed is not None else None

    def _g(self):
        return self._gen if self._gen is not None else None


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return full(shape, 0.0, dtype or "float32")


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return full(shape, 1.0, dtype or "float32")


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return full(shape, self.value, dtype or "float32")

    def get_config(self):
        return {"value": self.value}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype=None):
        return _random.uniform(shape, self.minval, self.maxval, seed=self._g())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        return _random.normal(shape, self.mean, self.stddev, seed=self._g())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype=None):
        return _random.truncated_normal(shape, self.mean, self.stddev, seed=self._g())


class VarianceScaling(_Seeded):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise InvalidArgumentError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise InvalidArgumentError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise InvalidArgumentError(
                f"VarianceScaling: distribution must be truncated_normal, untruncated_normal or uniform, got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        s = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * s)
            return _random.uniform(shape, -limit, limit, seed=self._g())
        if self.distribution == "untruncated_normal":
            return _random.normal(shape, 0.0, math.sqrt(s), seed=self._g())
        return _random.truncated_normal(shape, 0.0, math.sqrt(s) / TRUNCATED_STD_FACTOR, seed=self._g())

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _vs(name, scale, mode, distribution):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": f"Keras {name}."})


GlorotUniform = _vs("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _vs("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _vs("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _vs("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _vs("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _vs("LecunNormal", 1.0, "fan_in", "truncated_normal")

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}
for _cls in list(_BY_NAME.values()):
    _BY_NAME[_cls.__name__] = _cls


def get(identifier) -> Initializer:
    if identifier is None:
        return Zeros()
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            valid = sorted(k for k in _BY_NAME if k.islower())
            raise InvalidArgumentError(f"Unknown initializer {identifier!r}; valid initializers: {', '.join(valid)}")
        return cls()
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(identifier.get("class_name", ""))
        if cls is None:
            raise InvalidArgumentError(f"Unknown initializer config {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise InvalidArgumentError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(init) -> dict | str:
    if isinstance(init, Initializer):
        return {"class_name": type(init).__name__, "config": init.get_config()}
    return getattr(init, "__name__", "custom")
