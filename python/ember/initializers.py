"""Weight initializers with Keras 3 names, arguments and scales, drawing from Philox.

Seeds follow Keras 3: an initializer given an integer ``seed`` returns the same values on
every call (and the same bits on CPU and GPU, since Philox is counter-based); one given
an ``ember.random.SeedGenerator`` advances it, so calls differ; ``seed=None`` draws from
the global generator that ``ember.utils.set_random_seed`` resets.

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
from ._boundary import construct_from_config as _construct_from_config
from .errors import InvalidArgumentError, InvalidConfigError
from .saving import serialization_lib as _serialization
from .tensor import Tensor, _default_device, full

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
    "Orthogonal", "OrthogonalInitializer", "Identity", "IdentityInitializer", "get", "serialize", "deserialize",
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
        return _construct_from_config(cls, config)


def _finite(value, name: str, owner: str, positive: bool = False, non_negative: bool = False) -> float:
    """A float argument, or a ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{owner}: argument {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{owner}: argument {name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise InvalidArgumentError(f"{owner}: argument {name} must be positive, got {value!r}")
    if non_negative and value < 0:
        raise InvalidArgumentError(f"{owner}: argument {name} must be non-negative, got {value!r}")
    return value


def _exact(draw, shape, a, b, seed):
    """Initial weights are drawn by the CPU's Philox kernels, then copied to the default
    device. The GPU draws the same Philox bits, but its log and sqrt (in the normal
    transforms) may differ from the CPU's by an ulp; drawing once on the CPU makes one seed
    give bit-identical weights on every device. Initialization is not a hot path."""
    return draw(shape, a, b, seed=seed, device="cpu").to(_default_device[0])


class _Seeded(Initializer):
    def __init__(self, seed=None):
        if seed is not None and not isinstance(seed, _random.SeedGenerator):
            if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
                raise InvalidArgumentError(
                    f"{type(self).__name__}: argument seed must be None, an integer or a SeedGenerator, got {seed!r}"
                )
            seed = int(seed)
        self.seed = seed

    def _g(self):
        """The stream of one call: a fresh one per call for an integer seed (Keras: the same
        values every call), the given SeedGenerator, or None for the global generator."""
        if self.seed is None or isinstance(self.seed, _random.SeedGenerator):
            return self.seed
        return _random.SeedGenerator(self.seed)

    def _seed_config(self):
        return self.seed if not isinstance(self.seed, _random.SeedGenerator) else self.seed.seed


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return full(shape, 0.0, dtype or "float32")


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return full(shape, 1.0, dtype or "float32")


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = _finite(value, "value", "Constant")

    def __call__(self, shape, dtype=None):
        return full(shape, self.value, dtype or "float32")

    def get_config(self):
        return {"value": self.value}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = _finite(minval, "minval", type(self).__name__), _finite(maxval, "maxval", type(self).__name__)
        if self.minval > self.maxval:
            raise InvalidArgumentError(f"{type(self).__name__}: argument minval ({minval}) must not exceed maxval ({maxval})")

    def __call__(self, shape, dtype=None):
        return _exact(_random.uniform, shape, self.minval, self.maxval, seed=self._g())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self._seed_config()}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        owner = type(self).__name__
        self.mean, self.stddev = _finite(mean, "mean", owner), _finite(stddev, "stddev", owner, non_negative=True)

    def __call__(self, shape, dtype=None):
        return _exact(_random.normal, shape, self.mean, self.stddev, seed=self._g())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self._seed_config()}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype=None):
        return _exact(_random.truncated_normal, shape, self.mean, self.stddev, seed=self._g())


def _axes(value, name: str):
    if value is None:
        return None
    try:
        return [int(a) for a in value]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"VarianceScaling: {name} must be a list of integers or None, got {value!r}") from None


class VarianceScaling(_Seeded):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        super().__init__(seed)
        # Keras 3.12+: the axes whose sizes are the fans (einsum-style kernels); both or neither.
        self.input_axes, self.output_axes = _axes(input_axes, "input_axes"), _axes(output_axes, "output_axes")
        scale = _finite(scale, "scale", "VarianceScaling", positive=True)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise InvalidArgumentError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise InvalidArgumentError(
                f"VarianceScaling: distribution must be truncated_normal, untruncated_normal or uniform, got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        if self.input_axes is not None and self.output_axes is not None:
            fan_in = float(math.prod(shape[a] for a in self.input_axes))
            fan_out = float(math.prod(shape[a] for a in self.output_axes))
        else:
            fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        s = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * s)
            return _exact(_random.uniform, shape, -limit, limit, seed=self._g())
        if self.distribution == "untruncated_normal":
            return _exact(_random.normal, shape, 0.0, math.sqrt(s), seed=self._g())
        return _exact(_random.truncated_normal, shape, 0.0, math.sqrt(s) / TRUNCATED_STD_FACTOR, seed=self._g())

    def _axes_config(self) -> dict:
        # Written only when set, so the configs stay readable by Keras versions before 3.12.
        if self.input_axes is None and self.output_axes is None:
            return {}
        return {"input_axes": self.input_axes, "output_axes": self.output_axes}

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self._seed_config(),
                **self._axes_config()}


def _vs(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self._seed_config(), **self._axes_config()}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": f"Keras {name}."})


GlorotUniform = _vs("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _vs("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _vs("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _vs("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _vs("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _vs("LecunNormal", 1.0, "fan_in", "truncated_normal")

class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix times ``gain`` (Keras 3 ``Orthogonal(gain=1.0, seed=None)``).

    As in Keras: the shape is flattened to (prod(shape[:-1]), shape[-1]); a normal matrix of
    shape (max(rows, cols), min(rows, cols)) is factored as QR; Q's columns are multiplied by
    the signs of R's diagonal (so the result is uniform over orthogonal matrices) and Q is
    transposed when rows < cols. The normal draw comes from Philox on the CPU and the QR is
    computed in float64 numpy, then uploaded, so CPU and GPU get identical values.

    Example:
        >>> import ember as em
        >>> q = em.initializers.Orthogonal(seed=0)((4, 4)).numpy()
        >>> bool(abs(q.T @ q - __import__("numpy").eye(4)).max() < 1e-5)
        True
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = _finite(gain, "gain", "Orthogonal")

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise InvalidArgumentError(
                f"Orthogonal: the tensor to initialize must be at least two-dimensional, got shape={shape} "
                f"of rank {len(shape)}"
            )
        rows = int(np.prod(shape[:-1]))
        cols = int(shape[-1])
        flat = (max(rows, cols), min(rows, cols))
        a = _random.normal(flat, seed=self._g(), device="cpu").numpy().astype(np.float64)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return Tensor(np.ascontiguousarray(self.gain * q.reshape(shape), dtype=np.float32), dtype="float32")

    def get_config(self):
        return {"gain": self.gain, "seed": self._seed_config()}


class Identity(Initializer):
    """``gain`` times the identity matrix (rectangular for a non-square 2-D shape), Keras 3's
    ``Identity(gain=1.0)``; only 2-D shapes are accepted.

    Example:
        >>> import ember as em
        >>> em.initializers.Identity(gain=2.0)((2, 3)).numpy().tolist()
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = _finite(gain, "gain", "Identity")

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise InvalidArgumentError(
                f"Identity: the identity matrix initializer can only be used for 2D matrices, got shape={shape} "
                f"of rank {len(shape)}"
            )
        return Tensor((self.gain * np.eye(*shape)).astype(np.float32), dtype="float32")

    def get_config(self):
        return {"gain": self.gain}


OrthogonalInitializer = Orthogonal
IdentityInitializer = Identity

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity,
}
for _cls in list(_BY_NAME.values()):
    _BY_NAME[_cls.__name__] = _cls
# Keras 3's aliases. Keras also accepts "one" and "zero"; Ember's error tests treat
# "zero" as a typo of "zeros", so those two are left out.
_BY_NAME.update({"uniform": RandomUniform, "normal": RandomNormal, "OrthogonalInitializer": Orthogonal,
                 "orthogonal_initializer": Orthogonal, "IdentityInitializer": Identity})


def _unknown(identifier) -> InvalidConfigError:
    valid = sorted(k for k in _BY_NAME if k.islower())
    return InvalidConfigError(f"Unknown initializer {identifier!r}; valid initializers: {', '.join(valid)} "
                              "(register custom ones with @ember.saving.register_serializable() or pass custom_objects)")


def get(identifier) -> Initializer:
    """An initializer from a Keras name (``"glorot_uniform"``, ``"GlorotUniform"``), a
    serialized dict, a class, an instance or a callable; None gives `Zeros`.

    Names are looked up in the custom objects first (`ember.saving`: the registry, a
    `CustomObjectScope`), then among the built-ins, then as a registered ``"package>name"``.

    Example:
        >>> import ember as em
        >>> type(em.initializers.get("he_normal")).__name__
        'HeNormal'
    """
    if identifier is None:
        return Zeros()
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, _BY_NAME)
        if obj is None:
            raise _unknown(identifier)
    else:
        obj = identifier
    if isinstance(obj, type):
        obj = obj()
    if callable(obj):
        return obj
    raise InvalidArgumentError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(initializer) -> dict:
    """Keras's serialized form (`ember.saving.serialize`) of an initializer:
    ``{"module": "keras.initializers", "class_name", "config", "registered_name"}``.

    Example:
        >>> import ember as em
        >>> em.initializers.serialize(em.initializers.Constant(0.5))["config"]
        {'value': 0.5}
    """
    if not callable(initializer):
        raise InvalidArgumentError(f"serialize: expected an initializer, got {initializer!r}")
    return _serialization.serialize_keras_object(initializer)


def deserialize(config, custom_objects=None):
    """The initializer described by ``config`` (a serialized dict or a name).

    Raises:
        InvalidConfigError: (an InvalidArgumentError) for an unknown or malformed config.
    """
    return _serialization.deserialize_family(config, custom_objects, _BY_NAME, "initializer", _unknown)


# Keras's lower-case aliases (keras.initializers.glorot_uniform ...) are the classes themselves.
constant, zeros, ones = Constant, Zeros, Ones
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal
__all__ += ["constant", "zeros", "ones", "random_uniform", "random_normal", "truncated_normal", "variance_scaling",
            "orthogonal", "identity", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
            "lecun_normal"]
