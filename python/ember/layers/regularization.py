"""Regularization layers: Dropout, SpatialDropout1D/2D/3D, AlphaDropout, GaussianNoise, GaussianDropout.

Each is active only when called with ``training=True`` and is the identity otherwise.
The noise comes from Philox on the input's device, so one seed gives the same mask on
CPU and GPU (normal draws agree to float32 rounding: the GPU's log/cos may differ by an
ulp). A layer built with an integer ``seed`` owns a `SeedGenerator` that advances on each
call, as in Keras 3: two layers with the same seed give the same sequence of masks.

Rates follow Keras's meaning (the fraction dropped). Keras accepts ``rate == 1``; Ember
rejects it (the kept values would be scaled by 1/0), so ``rate`` must lie in [0, 1).
"""

from __future__ import annotations

import math
import numbers

from .. import random as _random
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from .layer import Layer, _AnyRank


def _rate(rate, owner: str) -> float:
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise InvalidArgumentError(f"{owner}: argument rate must be a float in [0, 1), got {rate!r}")
    return float(rate)


def _seed(seed, owner: str):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidArgumentError(f"{owner}: argument seed must be None or an integer, got {seed!r}")
    return int(seed)


class _Noise(Layer, _AnyRank):
    """Shared seed handling of the noise layers."""

    _supports_masking = True  # passes a mask on unchanged, as in Keras

    integer_inputs = "cast"

    def _init_seed(self, seed) -> None:
        self.seed = _seed(seed, type(self).__name__)
        self._gen = _random.SeedGenerator(self.seed) if self.seed is not None else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class Dropout(_Noise):
    """Inverted dropout: in training, each value is zeroed with probability ``rate``
    and the rest scaled by 1/(1 - rate); at inference the layer is the identity.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: shape of the keep mask, broadcast against the inputs (Keras);
            None entries take the input's size on that axis. ``(batch, 1, features)``
            drops the same features at every timestep.
        seed: an integer for reproducible masks.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> y = em.layers.Dropout(0.5, seed=1)(np.ones((2, 4), np.float32), training=True).numpy()
        >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
        True
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rate = _rate(rate, owner)
        if noise_shape is not None:
            if isinstance(noise_shape, (str, bytes)) or not hasattr(noise_shape, "__iter__"):
                raise InvalidArgumentError(f"{owner}: argument noise_shape must be a tuple, got {noise_shape!r}")
            noise_shape = tuple(noise_shape)
            if not all(d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1)
                       for d in noise_shape):
                raise InvalidArgumentError(
                    f"{owner}: argument noise_shape must hold positive integers or None, got {noise_shape!r}"
                )
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.noise_shape = noise_shape
        self._init_seed(seed)

    def _get_noise_shape(self, inputs):
        if self.noise_shape is None:
            return inputs.shape
        if len(self.noise_shape) != inputs.ndim:
            raise ShapeError(
                f"{self.name}: noise_shape {self.noise_shape} must have the rank of the inputs, "
                f"got inputs of shape {inputs.shape}"
            )
        shape = tuple(s if d is None else d for d, s in zip(self.noise_shape, inputs.shape))
        if any(d != 1 and d != s for d, s in zip(shape, inputs.shape)):
            raise ShapeError(f"{self.name}: noise_shape {self.noise_shape} does not broadcast to inputs of shape {inputs.shape}")
        return shape

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        mask = _random.dropout_mask(self._get_noise_shape(inputs), self.rate, seed=self._gen, device=inputs.device)
        return core.multiply(inputs, mask)

    def get_config(self):
        cfg = {**super().get_config(), "rate": self.rate, "seed": self.seed}
        if self.noise_shape is not None:
            cfg["noise_shape"] = list(self.noise_shape)
        return cfg


def _data_format(data_format, owner: str) -> str:
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise InvalidArgumentError(
            f"{owner}: argument data_format must be 'channels_last' or 'channels_first', got {data_format!r}"
        )
    return data_format


class _SpatialDropout(Dropout):
    _rank = 0

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)

    def _check_rank(self, inputs) -> None:
        if inputs.ndim != self._rank:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} expects inputs of rank {self._rank}, got shape {inputs.shape}"
            )

    def call(self, inputs, training=False):
        self._check_rank(inputs)
        return super().call(inputs, training=training)


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, timesteps, channels) inputs: one keep decision per
    (sample, channel), shared by every timestep; kept channels are scaled by 1/(1 - rate).

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        seed: an optional int seed of the dropout masks.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> y = em.layers.SpatialDropout1D(0.5, seed=0)(np.ones((2, 5, 3), np.float32), training=True).numpy()
        >>> bool((y == y[:, :1, :]).all())
        True
    """

    _rank = 3

    def _get_noise_shape(self, inputs):
        return (inputs.shape[0], 1, inputs.shape[2])


class _SpatialDropoutND(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = _data_format(data_format, type(self).__name__)

    def _get_noise_shape(self, inputs):
        s = inputs.shape
        ones = (1,) * (self._rank - 2)
        if self.data_format == "channels_first":
            return (s[0], s[1]) + ones
        return (s[0],) + ones + (s[-1],)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout2D(_SpatialDropoutND):
    """Drops whole feature maps of 4-D inputs: (batch, rows, cols, channels) for
    ``data_format="channels_last"`` (the default), (batch, channels, rows, cols) otherwise.

    Args:
        rate: the fraction of feature maps to drop, in [0, 1).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: an optional int seed of the dropout masks.
    """

    _rank = 4


class SpatialDropout3D(_SpatialDropoutND):
    """Drops whole feature maps of 5-D inputs (channels_last by default).

    Args:
        rate: the fraction of feature maps to drop, in [0, 1).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: an optional int seed of the dropout masks.
    """

    _rank = 5


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of its inputs (Keras 3's
    ``keras.layers.AlphaDropout``, for self-normalising SELU networks): in training each
    value is replaced with probability ``rate`` by SELU's negative saturation value
    ``alpha' = -1.6732632 * 1.0507010``, then the result is mapped by the affine
    ``a * x + b`` with ``a = ((1 - rate) (1 + rate alpha'^2))^-1/2`` and
    ``b = -a alpha' rate``. At inference it is the identity.

    Args:
        rate: the drop probability, in [0, 1).
        noise_shape: the shape of the keep mask, broadcast against the inputs (None
            entries take the input's size), as in `Dropout`.
        seed: an integer for reproducible masks.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> y = em.layers.AlphaDropout(0.2, seed=1)(np.zeros((1000, 8), np.float32), training=True).numpy()
        >>> abs(float(y.mean())) < 0.1
        True
    """

    _ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        u = _random.uniform(self._get_noise_shape(inputs), seed=self._gen, device=inputs.device)
        kept = core.cast(core.greater_equal(u, self.rate), "float32")
        alpha_p = self._ALPHA_P
        a = ((1.0 - self.rate) * (1.0 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        x = core.add(core.multiply(inputs, kept), core.multiply(core.subtract(1.0, kept), alpha_p))
        return core.add(core.multiply(x, a), b)


class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training.

    Args:
        stddev: standard deviation of the noise; Keras 3 requires it in [0, 1].
        seed: an integer for reproducible noise.
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not 0 <= stddev <= 1:
            raise InvalidArgumentError(
                f"GaussianNoise: invalid value received for argument stddev: expected a float between 0 and 1, "
                f"got {stddev!r}"
            )
        self.stddev = float(stddev)
        self._init_seed(seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0.0:
            return inputs
        noise = _random.normal(inputs.shape, 0.0, self.stddev, seed=self._gen, device=inputs.device)
        return core.add(inputs, noise)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """Multiplies the inputs by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` in training (Keras 3).

    Args:
        rate: drop probability of the equivalent dropout, in [0, 1).
        seed: an integer for reproducible noise.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _rate(rate, "GaussianDropout")
        self._init_seed(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = _random.normal(inputs.shape, 1.0, stddev, seed=self._gen, device=inputs.device)
        return core.multiply(inputs, noise)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer, _AnyRank):
    """The identity, adding ``L1L2(l1, l2)`` of its input (divided by the batch size, as
    every activity penalty in Keras 3) to the model's losses.

    Args:
        l1: non-negative L1 factor (default 0.0).
        l2: non-negative L2 factor (default 0.0).
    """

    integer_inputs = "cast"

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        from .. import regularizers

        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
