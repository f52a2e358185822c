"""More image augmentation layers with Keras 3's names, arguments, configs and formulas:
the colour layers RandomBrightness, RandomGrayscale, RandomInvert, Solarization,
RandomPosterization, AutoContrast, Equalization, RandomColorDegeneration,
RandomSaturation, RandomHue, RandomSharpness, RandomGaussianBlur and RandomColorJitter;
the geometric RandomShear; RandomErasing; the batch mixers MixUp and CutMix; and
Pipeline, which applies a list of layers in order.

They follow the conventions of `ember.layers.image_preprocessing`: batches (batch,
height, width, channels) or single images, ``data_format="channels_first"`` where Keras
takes one, integer images become float32, and the random layers transform only with
``training=True`` (the default for a layer called on its own; the identity inside
``predict``/``evaluate``). Equalization and AutoContrast are not random and always apply.

Randomness: each layer draws its parameters from Ember's Philox generator *on the CPU*
(the layer's `SeedGenerator`, or the global one for ``seed=None``) in the order Keras 3
draws them, listed per layer below; the pixels stay on the device (every layer is a
composite of `ember.ops`), except Equalization, whose per-channel histograms are
counted on the host (numpy) and whose lookup runs on the device. Keras draws from
JAX's generator, so the values differ from Keras's for the same seed; the formulas
applied to them are Keras's, quirks included (documented per layer).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as _random
from ..errors import InvalidArgumentError, InvalidConfigError, ShapeError
from ..ops import core
from ..ops import image as _image
from ..ops.array_ops import floor, take, where
from ..ops.numpy_ops import isnan
from ..tensor import Tensor, as_tensor
from .image_preprocessing import _const, _factor_pair, _ImageLayer, \
    _RandomImageLayer, affine_transform
from .layer import Layer

__all__ = [
    "RandomBrightness", "RandomGrayscale", "RandomInvert", "Solarization", "RandomPosterization", "AutoContrast",
    "Equalization", "RandomColorDegeneration", "RandomSaturation", "RandomHue", "RandomSharpness",
    "RandomGaussianBlur", "RandomColorJitter", "RandomShear", "RandomErasing", "MixUp", "CutMix", "Pipeline",
]

_EPSILON = 1e-7   # keras.config.epsilon()


# -- argument helpers ------------------------------------------------------------------------------

def _value_range(value_range, owner: str, sort: bool = True) -> list:
    """Keras's ``_set_value_range``: a pair (sorted where Keras sorts it)."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) for v in value_range):
        raise InvalidArgumentError(f"{owner}: value_range must be a list or tuple of two finite numbers, got "
                                   f"{value_range!r}")
    vr = [v for v in value_range]
    if sort:
        vr = sorted(vr)
    if vr[0] == vr[1]:
        raise InvalidArgumentError(f"{owner}: value_range must have two different values, got {value_range!r}")
    return vr


def _plain_factor(factor):
    return list(factor) if isinstance(factor, (tuple, list)) else factor


def _to_range(x: Tensor, source, target) -> Tensor:
    """Keras's ``_transform_value_range``: (x - s0) / (s1 - s0) * (t1 - t0) + t0."""
    if float(source[0]) == float(target[0]) and float(source[1]) == float(target[1]):
        return x
    s0, s1 = float(source[0]), float(source[1])
    t0, t1 = float(target[0]), float(target[1])
    return core.add(core.multiply(core.divide(core.subtract(x, s0), s1 - s0), t1 - t0), t0)


def _select(mask: np.ndarray, a: Tensor, b: Tensor) -> Tensor:
    """``where(mask, a, b)`` with a host boolean mask broadcasting against the images."""
    if not mask.any():
        return b
    if mask.all() and tuple(a.shape) == tuple(b.shape):
        return a
    return where(as_tensor(np.ascontiguousarray(mask, dtype=bool), device=a.device), a, b)


def _grayscale3(x: Tensor) -> Tensor:
    """Keras's ``rgb_to_grayscale`` of a channels_last batch (one channel)."""
    if x.shape[-1] != 3:
        raise ShapeError(f"expected RGB images (3 channels), got shape {x.shape}")
    return _image.rgb_to_grayscale(x)


class _ColorLayer(_RandomImageLayer):
    """A random layer whose transform is ``_apply(x)`` on a channels_last float batch."""

    def _apply(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        return restore(self._apply(x))


# -- colour layers -----------------------------------------------------------------------------------

class RandomBrightness(_ColorLayer):
    """Adds a random brightness offset to each image while training, then clips to
    ``value_range`` (Keras 3's ``keras.layers.RandomBrightness``).

    The offset is ``uniform(factor) * (value_range[1] - value_range[0])``, one per image
    (draw: ``uniform((batch,))``), added to every pixel and channel.

    Args:
        factor: a number f in [-1, 1] (offsets in [-f, f]) or a pair (lower, upper).
        value_range: (low, high) of the pixel values (default (0, 255)).
        seed: an integer for reproducible offsets.

    Example:
        >>> import ember as em
        >>> layer = em.layers.RandomBrightness((0.1, 0.1), value_range=(0, 1))
        >>> round(float(layer(em.full((1, 2, 2, 3), 0.5))[0, 0, 0, 0]), 4)
        0.6
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        data_format = kwargs.pop("data_format", None)   # in Keras's config (its base class takes it)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(-1.0, 1.0))
        self.value_range = _value_range(value_range, owner)
        self._init_seed(seed)
        self._init_image(data_format)

    def _apply(self, x):
        n = x.shape[0]
        lo, hi = self.value_range
        delta = self._uniform((n,), *self.factor).reshape(n, 1, 1, 1) * (hi - lo)
        return core.clip(core.add(x, _const(delta, x)), lo, hi)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "seed": self.seed, "data_format": self.data_format}


class RandomGrayscale(_ColorLayer):
    """Turns each RGB image to grayscale (kept as three equal channels) with probability
    ``factor`` while training (Keras 3's ``keras.layers.RandomGrayscale``; draw:
    ``uniform((batch,))``, grayscale where the draw is < factor).

    Args:
        factor: the probability, in [0, 1] (default 0.5).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible choices.

    Example:
        >>> import ember as em
        >>> y = em.layers.RandomGrayscale(1.0)(em.ones((2, 4, 4, 3)))
        >>> y.shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 <= factor <= 1:
            raise InvalidArgumentError(f"RandomGrayscale: factor must be a number in [0, 1], got {factor!r}")
        self.factor = factor
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        apply = (self._uniform((n,), 0.0, 1.0) < self.factor).reshape(n, 1, 1, 1)
        gray = _grayscale3(x)
        return _select(np.broadcast_to(apply, (n, 1, 1, x.shape[-1])), gray, x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "data_format": self.data_format, "seed": self.seed}


class RandomInvert(_ColorLayer):
    """Inverts images (``value_range[1] - x``) at random while training (Keras 3's
    ``keras.layers.RandomInvert``).

    Draws: ``uniform((batch,))`` in ``factor`` (each image's inversion probability),
    then ``uniform((batch,))`` in [0, 1); an image is inverted where the second is below
    the first. (So ``factor=1.0``, i.e. (0, 1), inverts about half the images, as in
    Keras; ``factor=(1, 1)`` inverts them all.)

    Args:
        factor: a number f in [0, 1] (probabilities in [0, f]) or a pair.
        value_range: (low, high) of the pixel values (default (0, 255)).
        seed: an integer for reproducible choices.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> float(em.layers.RandomInvert((1.0, 1.0))(em.full((1, 1, 1, 3), 55.0))[0, 0, 0, 0])
        200.0
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, owner, sort=False)
        self._init_seed(seed)
        self._init_image(data_format)

    def _apply(self, x):
        n = x.shape[0]
        prob = self._uniform((n,), *self.factor)
        thr = self._uniform((n,), 0.0, 1.0)
        apply = np.broadcast_to((thr < prob).reshape(n, 1, 1, 1), (n, 1, 1, 1))
        return _select(apply, core.subtract(float(self.value_range[1]), x), x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "seed": self.seed, "data_format": self.data_format}


class Solarization(_ColorLayer):
    """Solarizes images while training (Keras 3's ``keras.layers.Solarization``): on the
    0-255 scale, ``y = clip(x + addition, 0, 255)``, then ``y`` where ``y < threshold``
    else ``255 - y``, and back to ``value_range``.

    Draws: ``uniform((batch,))`` in [addition_factor[0], addition_factor[1] * 255], then
    ``uniform((batch,))`` in [threshold_factor[0], threshold_factor[1] * 255] (Keras
    scales only the upper bound by 255). With the default ``threshold_factor=0`` every
    pixel is >= the threshold, so every image is inverted, as in Keras.

    Args:
        addition_factor: a number f in [0, 1] (the pair (0, f)) or a pair in [0, 1].
        threshold_factor: likewise.
        value_range: (low, high) of the pixel values (default (0, 255)).
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> float(em.layers.Solarization()(em.full((1, 1, 1, 1), 55.0))[0, 0, 0, 0])
        200.0
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        data_format = kwargs.pop("data_format", None)   # in Keras's config (its base class takes it)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.addition_factor = _factor_pair(addition_factor, owner, "addition_factor", bounds=(0.0, 1.0))
        self.threshold_factor = _factor_pair(threshold_factor, owner, "threshold_factor", bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, owner)
        self._init_seed(seed)
        self._init_image(data_format)

    def _apply(self, x):
        n = x.shape[0]
        add = self._uniform((n,), self.addition_factor[0], self.addition_factor[1] * 255).reshape(n, 1, 1, 1)
        thr = self._uniform((n,), self.threshold_factor[0], self.threshold_factor[1] * 255).reshape(n, 1, 1, 1)
        y = core.clip(core.add(_to_range(x, self.value_range, (0, 255)), _const(add, x)), 0.0, 255.0)
        y = where(core.less(y, _const(thr, x)), y, core.subtract(255.0, y))
        return _to_range(y, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range),
                "addition_factor": list(self.addition_factor),
                "threshold_factor": list(self.threshold_factor), "seed": self.seed,
                "data_format": self.data_format}


class RandomPosterization(_ColorLayer):
    """Keeps only the top ``bits`` bits of each 8-bit channel while training (Keras 3's
    ``keras.layers.RandomPosterization``): on the 0-255 scale, ``floor(x / 2**s) * 2**s``
    with ``s = 8 - bits``, and back to ``value_range``.

    Draw: where factor's bounds differ, ``randint((batch,), lower, upper)`` (upper
    excluded, as Keras); else every image keeps ``lower`` bits.

    Args:
        factor: an integer f in [1, 8] (bits drawn from [1, f)) or a pair of integers.
        value_range: (low, high) of the pixel values (default (0, 255)).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> float(em.layers.RandomPosterization((2, 2))(em.full((1, 1, 1, 1), 200.0))[0, 0, 0, 0])
        192.0
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        vals = factor if isinstance(factor, (tuple, list)) else [factor]
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in vals):
            raise InvalidArgumentError(f"{owner}: factor must be an integer or a pair of integers in [1, 8], got "
                                       f"{factor!r}")
        lo, hi = _factor_pair(factor, owner, "factor", bounds=(1.0, 8.0))
        self.factor = (int(lo), int(hi))
        self.value_range = _value_range(value_range, owner)
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        if self.factor[0] != self.factor[1]:
            bits = np.asarray(_random.randint((n,), self.factor[0], self.factor[1], seed=self._gen,
                                              device="cpu").numpy(), np.float64)
        else:
            bits = np.full((n,), float(self.factor[0]))
        step = (2.0 ** (8 - bits)).reshape(n, 1, 1, 1)
        y = floor(core.clip(_to_range(x, self.value_range, (0, 255)), 0.0, 255.0))   # the cast to uint8
        y = core.multiply(floor(core.divide(y, _const(step, x))), _const(step, x))
        return _to_range(y, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "data_format": self.data_format, "seed": self.seed}


class AutoContrast(_ImageLayer):
    """Stretches each image's channels to the full value range (Keras 3's
    ``keras.layers.AutoContrast``): per image and channel, ``(x - min) * 255 / (max -
    min)`` on the 0-255 scale, clipped, back to ``value_range``; a constant channel (0/0)
    keeps its values. Not random: it applies whenever called (training or not, as Keras).

    Args:
        value_range: (low, high) of the pixel values (default (0, 255)).

    Example:
        >>> import ember as em
        >>> y = em.layers.AutoContrast(value_range=(0, 1))(em.tensor([[[[0.25], [0.5], [0.75]]]]))
        >>> [round(v, 3) for v in y.numpy().ravel().tolist()]
        [0.0, 0.5, 1.0]
    """

    def __init__(self, value_range=(0, 255), **kwargs):
        data_format = kwargs.pop("data_format", None)   # in Keras's config (its base class takes it)
        super().__init__(**kwargs)
        self.value_range = _value_range(value_range, type(self).__name__)
        self._init_image(data_format)

    def call(self, inputs, training=True):
        x, restore = self._batched(inputs)
        y = _to_range(x, self.value_range, (0, 255))
        low = core.min(y, axis=(1, 2), keepdims=True)
        high = core.max(y, axis=(1, 2), keepdims=True)
        scale = core.divide(255.0, core.subtract(high, low))
        y = core.clip(core.add(core.multiply(y, scale), core.multiply(core.negative(low), scale)), 0.0, 255.0)
        y = _to_range(y, (0, 255), self.value_range)
        return restore(where(isnan(y), x, y))

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range), "data_format": self.data_format}


class Equalization(_ImageLayer):
    """Histogram equalization of each channel (Keras 3's ``keras.layers.Equalization``).

    As in Keras, one histogram of ``bins`` bins per channel is counted over the whole
    batch, on the 0-255 scale (bin ``clip(int(x * (bins - 1) / 255), 0, bins - 1)``);
    the lookup table is ``round((cdf - cdf_min) * 255 / (cdf[-1] - cdf_min))``, indexed
    by ``int(clip(x / 255 * (bins - 1), 0, bins - 1))``; a channel whose values fall in
    one bin is unchanged. The histograms are counted on the host (numpy); the lookup is
    a gather on the device. Not random: it applies while training (the default for a
    layer called on its own) and is the identity with ``training=False``.

    Args:
        value_range: (low, high) of the pixel values (default (0, 255)).
        bins: the number of histogram bins (default 256).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> y = em.layers.Equalization()(em.tensor([[[[0.0], [64.0], [128.0], [255.0]]]]))
        >>> y.numpy().ravel().tolist()
        [0.0, 85.0, 170.0, 255.0]
    """

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
            raise InvalidArgumentError(f"Equalization: bins must be an integer >= 2, got {bins!r}")
        self.bins = int(bins)
        self.value_range = _value_range(value_range, type(self).__name__)
        self._init_image(data_format)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        y = _to_range(x, self.value_range, (0, 255))
        host = np.asarray(y.numpy(), np.float32)
        c = x.shape[-1]
        nb = self.bins
        tables = np.zeros((c, nb), np.float32)
        for ch in range(c):
            v = host[..., ch].ravel()
            idx = np.clip((v - np.float32(0)) * np.float32(nb - 1) / np.float32(255), -2 ** 31, 2 ** 31 - 1)
            idx = np.clip(idx.astype(np.int64), 0, nb - 1)
            hist = np.bincount(idx, minlength=nb)
            if np.count_nonzero(hist) <= 1:
                tables[ch] = np.nan   # marks "unchanged"
                continue
            cdf = np.cumsum(hist)
            cdf_min = cdf[np.argmax(cdf > 0)]
            den = cdf[-1] - cdf_min
            den = 1 if den == 0 else den
            tables[ch] = np.clip(np.round(((cdf - cdf_min) * 255).astype(np.float32) / np.float32(den)), 0, 255)
        # the lookup on the device: index = int(clip(y / 255 * (bins - 1), 0, bins - 1)) + ch * bins
        scaled = core.clip(core.multiply(core.divide(y, 255.0), float(nb - 1)), 0.0, float(nb - 1))
        offsets = _const((np.arange(c, dtype=np.float32) * nb).reshape(1, 1, 1, c), x)
        index = core.cast(core.add(floor(scaled), offsets), "int32")
        looked = core.reshape(take(_const(np.nan_to_num(tables, nan=0.0).reshape(-1), x), core.reshape(index, (-1,))),
                              y.shape)
        keep = np.isnan(tables[:, 0]).reshape(1, 1, 1, c)
        out = _select(np.broadcast_to(keep, (1, 1, 1, c)), y, looked)
        return restore(_to_range(out, (0, 255), self.value_range))

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": list(self.value_range),
                "data_format": self.data_format}


class RandomColorDegeneration(_ColorLayer):
    """Blends each RGB image with its grayscale version while training (Keras 3's
    ``keras.layers.RandomColorDegeneration``): ``x + f * (gray - x)``, clipped to
    ``value_range``, with ``f`` drawn per image (``uniform((batch,))`` in ``factor``;
    a number f gives (-f, f), as Keras's factor).

    Args:
        factor: a number f in [-1, 1] or a pair.
        value_range: (low, high) of the pixel values (default (0, 255)).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> em.layers.RandomColorDegeneration(0.5, seed=1)(em.ones((2, 4, 4, 3))).shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(-1.0, 1.0))
        self.value_range = _value_range(value_range, owner)
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        f = self._uniform((n,), *self.factor).reshape(n, 1, 1, 1)
        y = core.add(x, core.multiply(_const(f, x), core.subtract(_grayscale3(x), x)))
        return core.clip(y, *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "data_format": self.data_format, "seed": self.seed}


def _hsv_channels(x: Tensor):
    hsv = _image.rgb_to_hsv(x)
    return [core.getitem(hsv, (Ellipsis, slice(i, i + 1))) for i in range(3)]


class RandomSaturation(_ColorLayer):
    """Scales each RGB image's saturation by a random factor while training (Keras 3's
    ``keras.layers.RandomSaturation``).

    Draw: ``u = uniform((batch,))`` in ``factor`` (a number f gives (-f, f), as Keras's
    base factor); the saturation is multiplied by ``u / (1 - u + 1e-7)`` and clipped to
    ``value_range`` (Keras clips the [0, 1] saturation by the pixel value range, so with
    the default (0, 255) only negative factors, which give 0, are affected); the image
    goes through ``rgb_to_hsv`` and back.

    Args:
        factor: a number f in [-1, 1] or a pair; 0.5 leaves images unchanged, 1.0 fully
            saturates.
        value_range: (low, high) of the pixel values (default (0, 255)).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> x = em.tensor(np.array([[[[0.2, 0.4, 0.8]]]], np.float32))
        >>> y = em.layers.RandomSaturation((0.5, 0.5), value_range=(0, 1))(x)
        >>> [round(v, 4) for v in y.numpy().ravel().tolist()]
        [0.2, 0.4, 0.8]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(-1.0, 1.0))
        self.value_range = _value_range(value_range, owner)
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        if x.shape[-1] != 3:
            raise ShapeError(f"RandomSaturation {self.name!r}: expected RGB images (3 channels), got {x.shape}")
        u = self._uniform((n,), *self.factor)
        f = (u / (1 - u + _EPSILON)).reshape(n, 1, 1, 1)
        h, s, v = _hsv_channels(x)
        s = core.clip(core.multiply(s, _const(f, x)), *self.value_range)
        return _image.hsv_to_rgb(core.concatenate([h, s, v], axis=-1))

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "data_format": self.data_format, "seed": self.seed}


class RandomHue(_ColorLayer):
    """Shifts each RGB image's hue by a random amount while training (Keras 3's
    ``keras.layers.RandomHue``).

    Draws: ``uniform((batch,))`` in [0, 1) (a draw > 0.5 makes the shift negative), then
    ``uniform((batch,))`` in ``factor``; the hue (in [0, 1]) moves by ``+-0.5 * draw``,
    wrapping around, on the image scaled from ``value_range`` to [0, 1]; the result is
    clipped to [0, 1] and scaled back.

    Args:
        factor: a number f in [0, 1] (the pair (0, f)) or a pair.
        value_range: (low, high) of the pixel values (default (0, 255)).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> em.layers.RandomHue(0.5, seed=2)(em.ones((2, 4, 4, 3))).shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, owner, sort=False)
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        if x.shape[-1] != 3:
            raise ShapeError(f"RandomHue {self.name!r}: expected RGB images (3 channels), got {x.shape}")
        invert = np.where(self._uniform((n,), 0.0, 1.0) > 0.5, -1.0, 1.0)
        shift = (invert * self._uniform((n,), *self.factor) * 0.5).reshape(n, 1, 1, 1)
        y = _to_range(x, self.value_range, (0, 1))
        h, s, v = _hsv_channels(y)
        h = core.add(h, _const(shift, x))
        h = where(core.greater(h, 1.0), core.subtract(h, 1.0), h)
        h = where(core.less(h, 0.0), core.add(h, 1.0), h)
        y = core.clip(_image.hsv_to_rgb(core.concatenate([h, s, v], axis=-1)), 0.0, 1.0)
        return _to_range(y, (0, 1), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "data_format": self.data_format, "seed": self.seed}


class RandomSharpness(_ColorLayer):
    """Sharpens or blurs each image by a random amount while training (Keras 3's
    ``keras.layers.RandomSharpness``): ``x + (1 - 2 f) * (smooth - x)``, clipped to
    ``value_range``, where ``smooth`` is each channel convolved ('same', zero padding)
    with ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` and ``f`` is drawn per image
    (``uniform((batch,))`` in ``factor``): f = 0.5 leaves it unchanged, 0 blurs, 1
    sharpens.

    Args:
        factor: a number f in [0, 1] (the pair (0, f)) or a pair.
        value_range: (low, high) of the pixel values (default (0, 255)).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> em.layers.RandomSharpness(0.5, seed=3)(em.ones((2, 4, 4, 3))).shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, owner)
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        f = (self._uniform((n,), *self.factor) * 2).reshape(n, 1, 1, 1)
        a, b = 1.0 / 13.0, 5.0 / 13.0
        from ..ops.image import _depthwise
        smooth = _depthwise(x, np.array([[a, a, a], [a, b, a], [a, a, a]]), None, type(self).__name__)
        y = core.add(x, core.multiply(_const(1.0 - f, x), core.subtract(smooth, x)))
        return core.clip(y, *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range),
                "data_format": self.data_format, "seed": self.seed}


def _odd_pair(value, owner: str):
    vals = value if isinstance(value, (tuple, list)) else [value, value]
    if len(vals) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 or v % 2 == 0
                             for v in vals):
        raise InvalidArgumentError(f"{owner}: kernel_size must be an odd positive integer or a pair of them, got "
                                   f"{value!r}")
    return int(vals[0]), int(vals[1])


class RandomGaussianBlur(_ColorLayer):
    """Blurs images with a Gaussian kernel at random while training (Keras 3's
    ``keras.layers.RandomGaussianBlur``), then clips to ``value_range``.

    Draws: ``uniform((batch,))`` in ``factor`` (each image's blur probability), then
    ``uniform((batch,))`` in [0, 1) (blur where it is below the first), then
    ``uniform((2,))`` in ``sigma`` plus 1e-6: the (sigma_y, sigma_x) of one kernel for the
    whole batch, used as ``ops.image.gaussian_blur``'s sigma.

    Args:
        factor: a number f in [0, 1] (probabilities in [0, f]) or a pair.
        kernel_size: an odd integer or a pair of odd integers (default 3).
        sigma: a number s in [0, 1] (sigmas in [0, s]) or a pair (default 1.0).
        value_range: (low, high) of the pixel values (default (0, 255)).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> em.layers.RandomGaussianBlur(seed=4)(em.ones((2, 6, 6, 3))).shape
        (2, 6, 6, 3)
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(0.0, 1.0))
        self.kernel_size = _odd_pair(kernel_size, owner)
        self.sigma = _factor_pair(sigma, owner, "sigma", bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, owner, sort=False)
        self._init_image(data_format)
        self._init_seed(seed)

    def _apply(self, x):
        n = x.shape[0]
        prob = self._uniform((n,), *self.factor)
        thr = self._uniform((n,), 0.0, 1.0)
        sigma = self._uniform((2,), *self.sigma) + 1e-6
        apply = (thr < prob).reshape(n, 1, 1, 1)
        blurred = _image.gaussian_blur(x, self.kernel_size, tuple(float(s) for s in sigma))
        return core.clip(_select(apply, blurred, x), self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "kernel_size": list(self.kernel_size),
                "sigma": list(self.sigma), "value_range": list(self.value_range), "data_format": self.data_format,
                "seed": self.seed}


class RandomColorJitter(_ColorLayer):
    """Random brightness, contrast, saturation and hue, in that order, while training
    (Keras 3's ``keras.layers.RandomColorJitter``): each factor given makes the
    corresponding layer (`RandomBrightness`, `RandomContrast`, `RandomSaturation`,
    `RandomHue`) with this layer's ``value_range``; their draws come from this layer's
    generator, in that order.

    Args:
        value_range: (low, high) of the pixel values (default (0, 255)).
        brightness_factor, contrast_factor, saturation_factor, hue_factor: each
            sublayer's ``factor``, or None to skip it.
        seed: an integer for reproducible draws.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> jitter = em.layers.RandomColorJitter(brightness_factor=0.2, hue_factor=0.1, seed=5)
        >>> jitter(em.ones((2, 4, 4, 3))).shape
        (2, 4, 4, 3)
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        from .image_preprocessing import RandomContrast

        self.value_range = _value_range(value_range, type(self).__name__, sort=False)
        self._init_image(data_format)
        self._init_seed(seed)
        self.brightness_factor = _plain_factor(brightness_factor)
        self.contrast_factor = _plain_factor(contrast_factor)
        self.saturation_factor = _plain_factor(saturation_factor)
        self.hue_factor = _plain_factor(hue_factor)
        vr = tuple(self.value_range)
        subs = []
        if brightness_factor is not None:
            subs.append(RandomBrightness(brightness_factor, value_range=vr, seed=seed))
        if contrast_factor is not None:
            subs.append(RandomContrast(contrast_factor, value_range=vr, seed=seed))
        if saturation_factor is not None:
            subs.append(RandomSaturation(saturation_factor, value_range=vr, seed=seed))
        if hue_factor is not None:
            subs.append(RandomHue(hue_factor, value_range=vr, seed=seed))
        for sub in subs:
            sub._gen = self._gen   # draws from this layer's stream, as Keras passes its seed
        self._jitter_layers = subs

    def _apply(self, x):
        for sub in self._jitter_layers:
            x = sub.call(x, training=True)
        return x

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range),
                "brightness_factor": self.brightness_factor, "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor, "seed": self.seed,
                "data_format": self.data_format}


# -- geometry and erasing ------------------------------------------------------------------------------

class RandomShear(_RandomImageLayer):
    """Shears each image by random amounts while training (Keras 3's
    ``keras.layers.RandomShear``): output pixel (x, y) samples the input at (x + sx y,
    sy x + y), like ``ops.image.affine_transform``.

    Draws: ``uniform((batch, 1))`` in [0, 1) (a draw > 0.5 negates both shears), then
    ``uniform((batch, 1))`` in ``y_factor``, then ``uniform((batch, 1))`` in
    ``x_factor``.

    Args:
        x_factor: a number f in [0, 1] (shears in [-f, f]) or a pair (lower, upper) in [-1, 1].
        y_factor: likewise for the vertical shear.
        interpolation: "bilinear" (the default) or "nearest".
        fill_mode: "reflect" (the default), "wrap", "constant" or "nearest".
        fill_value: the value outside the image for "constant".
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible shears.

    Example:
        >>> import ember as em
        >>> em.layers.RandomShear(0.2, 0.2, seed=6)(em.ones((2, 8, 8, 1))).shape
        (2, 8, 8, 1)
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.x_factor = self._shear_factor(x_factor, "x_factor")
        self.y_factor = self._shear_factor(y_factor, "y_factor")
        self._init_affine(fill_mode, interpolation, fill_value)
        self._init_image(data_format)
        self._init_seed(seed)

    def _shear_factor(self, factor, name):
        if isinstance(factor, (tuple, list)):
            return _factor_pair(factor, type(self).__name__, name, bounds=(-1.0, 1.0))
        f = _factor_pair(factor, type(self).__name__, name, bounds=(0.0, 1.0))[1]
        return -f, f   # Keras's shear factor is symmetric (not clipped at 0)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        n = x.shape[0]
        invert = np.where(self._uniform((n, 1), 0.0, 1.0) > 0.5, -1.0, 1.0)
        sy = self._uniform((n, 1), *self.y_factor)
        sx = self._uniform((n, 1), *self.x_factor)
        shear = np.concatenate([sx, sy], axis=1).astype(np.float32).astype(np.float64) * invert
        one, zero = np.ones(n), np.zeros(n)
        t = np.stack([one, shear[:, 0], zero, shear[:, 1], one, zero, zero, zero], axis=1)
        return restore(affine_transform(x, t, self.interpolation, self.fill_mode, self.fill_value))

    def get_config(self):
        return {**super().get_config(), "x_factor": list(self.x_factor), "y_factor": list(self.y_factor),
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "data_format": self.data_format, "seed": self.seed}


def _boxes_mask(h: int, w: int, x0, x1, y0, y1) -> np.ndarray:
    """(n, h, w, 1): pixel (y, x) inside [x0, x1) x [y0, y1) of each image (Keras's grid test)."""
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    r = (lambda v: np.asarray(v, np.float32).reshape(-1, 1, 1, 1))
    return ((gx[None, :, :, None] >= r(x0)) & (gx[None, :, :, None] < r(x1)) & (gy[None, :, :, None] >= r(y0)) &
            (gy[None, :, :, None] < r(y1)))


class RandomErasing(_RandomImageLayer):
    """Erases a random rectangle of each image at random while training (Keras 3's
    ``keras.layers.RandomErasing``), filling it with ``fill_value`` or, for None, with
    Gaussian noise times ``value_range[1]``, clipped to ``value_range``.

    Draws: ``uniform((batch, 2))`` in ``scale``, whose square roots are the box's width
    and height fractions; ``uniform((batch,))`` in [0, 1) for the left edge (times
    width - box width), then the same for the top; ``uniform((batch,))`` in ``factor``
    (each image's erasing probability) and ``uniform((batch,))`` in [0, 1) (erase where
    it is below); for ``fill_value=None``, ``normal`` noise of the (channels_last) batch's
    shape.

    Args:
        factor: a number f in [0, 1] (probabilities in [0, f]) or a pair (default 1.0).
        scale: a number s in [0, 1] (areas in [0, s]) or a pair (default (0.02, 0.33)).
        fill_value: None (noise), a number, or three numbers (one per channel).
        value_range: (low, high) of the pixel values (default (0, 255)).
        seed: an integer for reproducible draws.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.RandomErasing(fill_value=0.0, seed=7)(em.ones((2, 8, 8, 3))).shape
        (2, 8, 8, 3)
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.factor = _factor_pair(factor, owner, "factor", bounds=(0.0, 1.0))
        self.scale = _factor_pair(scale, owner, "scale", bounds=(0.0, 1.0))
        if fill_value is not None:
            vals = fill_value if isinstance(fill_value, (tuple, list)) else [fill_value]
            if (isinstance(fill_value, (tuple, list)) and len(fill_value) != 3) or any(
                    isinstance(v, bool) or not isinstance(v, numbers.Real) for v in vals):
                raise InvalidArgumentError(f"{owner}: fill_value must be None, a number or three numbers, got "
                                           f"{fill_value!r}")
        self.fill_value = _plain_factor(fill_value)
        self.value_range = _value_range(value_range, owner, sort=False)
        self._init_seed(seed)
        self._init_image(data_format)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        n, h, w, c = x.shape
        ratio = np.sqrt(self._uniform((n, 2), *self.scale).astype(np.float32))
        cw, ch = ratio[:, 0] * np.float32(w), ratio[:, 1] * np.float32(h)
        x0 = self._uniform((n,), 0.0, 1.0).astype(np.float32) * (np.float32(w) - cw)
        y0 = self._uniform((n,), 0.0, 1.0).astype(np.float32) * (np.float32(h) - ch)
        prob = self._uniform((n,), *self.factor)
        thr = self._uniform((n,), 0.0, 1.0)
        lo, hi = float(self.value_range[0]), float(self.value_range[1])
        if self.fill_value is None:
            noise = _random.normal((n, h, w, c), seed=self._gen, device="cpu").numpy() * np.float32(hi)
            fill = as_tensor(np.clip(noise, lo, hi).astype(np.float32), device=x.device)
        else:
            fv = np.broadcast_to(np.asarray(self.fill_value, np.float32), (c,)) if isinstance(
                self.fill_value, list) else np.full((c,), float(self.fill_value), np.float32)
            fill = _const(np.clip(fv, lo, hi).reshape(1, 1, 1, c), x)
        mask = _boxes_mask(h, w, x0, x0 + cw, y0, y0 + ch) & (thr < prob).reshape(n, 1, 1, 1)
        return restore(_select(np.broadcast_to(mask, (n, h, w, c)), fill, x))

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "scale": list(self.scale),
                "fill_value": self.fill_value, "value_range": list(self.value_range), "seed": self.seed,
                "data_format": self.data_format}


# -- batch mixing ---------------------------------------------------------------------------------------

class _MixLayer(_RandomImageLayer):
    """Takes images, or a dict {"images": ..., "labels": ...} whose labels mix alike."""

    def _split(self, inputs):
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"images", "labels"}
            if "images" not in inputs or unknown:
                raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: a dict input takes the keys "
                                           f"'images' and 'labels', got {sorted(inputs)}")
            return inputs["images"], inputs.get("labels"), True
        return inputs, None, False

    def _labels(self, labels, weights: np.ndarray, perm: np.ndarray):
        t = as_tensor(labels)
        if t.dtype != "float32":
            t = core.cast(t, "float32")
        if t.ndim < 1 or t.shape[0] != perm.shape[0]:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: labels of shape {t.shape} do not match a batch "
                             f"of {perm.shape[0]} images")
        wt = _const(weights.reshape((-1,) + (1,) * (t.ndim - 1)), t)
        other = take(t, as_tensor(perm.astype(np.int32), device=t.device), axis=0)
        return core.add(core.multiply(wt, t), core.multiply(core.subtract(1.0, wt), other))

    def _perm(self, n: int) -> np.ndarray:
        idx = as_tensor(np.arange(n, dtype=np.int32), device="cpu")
        return np.asarray(_random.shuffle(idx, seed=self._gen).numpy(), np.int64)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            return dict(input_shape)
        return super().compute_output_shape(input_shape)


class MixUp(_MixLayer):
    """MixUp (Zhang et al., 2017) while training (Keras 3's ``keras.layers.MixUp``):
    each image (and label, for a dict input) becomes ``w x + (1 - w) x[perm]`` with a
    random permutation of the batch and ``w ~ Beta(alpha, alpha)`` per image.

    Draws: ``shuffle(arange(batch))``, then ``beta((batch,), alpha, alpha)``.

    Args:
        alpha: the Beta distribution's parameter (default 0.2).
        data_format: "channels_last" (or None, the default) or "channels_first".
        seed: an integer for reproducible draws.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> out = em.layers.MixUp(seed=8)({"images": em.ones((4, 2, 2, 3)), "labels": np.eye(4, dtype=np.float32)})
        >>> out["images"].shape, out["labels"].shape
        ((4, 2, 2, 3), (4, 4))
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (math.isfinite(alpha) and alpha > 0):
            raise InvalidArgumentError(f"MixUp: alpha must be a positive number, got {alpha!r}")
        self.alpha = alpha
        self._init_image(data_format)
        self._init_seed(seed)

    def call(self, inputs, training=True):
        images, labels, is_dict = self._split(inputs)
        if not training:
            return inputs
        x, restore = self._batched(as_tensor(images) if not isinstance(images, Tensor) else images)
        n = x.shape[0]
        perm = self._perm(n)
        w = np.asarray(_random.beta((n,), float(self.alpha), float(self.alpha), seed=self._gen, device="cpu").numpy(),
                       np.float32)
        wt = _const(w.reshape(n, 1, 1, 1), x)
        other = take(x, as_tensor(perm.astype(np.int32), device=x.device), axis=0)
        y = restore(core.add(core.multiply(wt, x), core.multiply(core.subtract(1.0, wt), other)))
        if not is_dict:
            return y
        out = {"images": y}
        if labels is not None:
            out["labels"] = self._labels(labels, w, perm)
        return out

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "data_format": self.data_format, "seed": self.seed}


class CutMix(_MixLayer):
    """CutMix (Yun et al., 2019) while training (Keras 3's ``keras.layers.CutMix``): a
    random box of each image is replaced by the same box of another image of the batch
    (a random permutation); labels (for a dict input) mix by the kept area fraction.
    A single (unbatched) image is returned unchanged, as Keras.

    Draws: ``uniform(())`` in ``factor`` plus 1e-6 (the Beta parameter a), then
    ``beta((batch,), a, a)`` (the box's area is 1 - that); ``uniform((batch,))`` in
    [0, 1) for the left edge (times width - box width), then the same for the top; then
    ``shuffle(arange(batch))``.

    Args:
        factor: a number f in [0, 1] (the pair (0, f)) or a pair (default 1.0).
        seed: an integer for reproducible draws.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.CutMix(seed=9)(em.ones((4, 8, 8, 3))).shape
        (4, 8, 8, 3)
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = _factor_pair(factor, type(self).__name__, "factor", bounds=(0.0, 1.0))
        self._init_seed(seed)
        self._init_image(data_format)

    def call(self, inputs, training=True):
        images, labels, is_dict = self._split(inputs)
        images = images if isinstance(images, Tensor) else as_tensor(images)
        if not training or images.ndim == 3:
            return inputs
        x, restore = self._batched(images)
        n, h, w, c = x.shape
        alpha = float(self._uniform((), *self.factor)) + 1e-6
        mix = np.asarray(_random.beta((n,), alpha, alpha, seed=self._gen, device="cpu").numpy(), np.float32)
        ratio = np.sqrt(np.float32(1.0) - mix)
        cw, ch = ratio * np.float32(w), ratio * np.float32(h)
        x0 = self._uniform((n,), 0.0, 1.0).astype(np.float32) * (np.float32(w) - cw)
        y0 = self._uniform((n,), 0.0, 1.0).astype(np.float32) * (np.float32(h) - ch)
        x1, y1 = x0 + cw, y0 + ch
        perm = self._perm(n)
        mask = _boxes_mask(h, w, x0, x1, y0, y1)
        weight = (1.0 - (x1 - x0) * (y1 - y0) / np.float32(w * h)).astype(np.float32)
        other = take(x, as_tensor(perm.astype(np.int32), device=x.device), axis=0)
        y = restore(_select(np.broadcast_to(mask, (n, h, w, c)), other, x))
        if not is_dict:
            return y
        out = {"images": y}
        if labels is not None:
            out["labels"] = self._labels(labels, weight, perm)
        return out

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "seed": self.seed,
                "data_format": self.data_format}


# -- Pipeline ----------------------------------------------------------------------------------------------

class Pipeline(Layer):
    """Applies a list of layers in order (Keras 3's ``keras.layers.Pipeline``), passing
    ``training`` (default True, as Keras's preprocessing layers) to those that take it.
    Unlike a `Sequential` model it is a plain layer, meant for preprocessing.

    Args:
        layers: a list of layers.
        name: the layer's name.

    Example:
        >>> import ember as em
        >>> pipe = em.layers.Pipeline([em.layers.Rescaling(2.0), em.layers.RandomInvert((1, 1), value_range=(0, 1))])
        >>> float(pipe(em.full((1, 1, 1, 1), 0.25))[0, 0, 0, 0])
        0.5
    """

    def __init__(self, layers, name=None):
        if not isinstance(layers, (list, tuple)) or any(not isinstance(l, Layer) for l in layers):
            raise InvalidArgumentError(f"Pipeline: layers must be a list of layers, got {layers!r}")
        super().__init__(name=name)
        self._pipeline_layers = list(layers)

    @property
    def layers(self) -> list:
        return self._pipeline_layers

    def build(self, input_shape=None):
        pass

    def call(self, inputs, training=True, mask=None):
        for layer in self._pipeline_layers:
            kwargs = {}
            if layer._call_has_mask and mask is not None:
                kwargs["mask"] = mask
            if layer._call_has_training and training is not None:
                kwargs["training"] = training
            inputs = layer(inputs, **kwargs)
            mask = getattr(inputs, "_keras_mask", None)
        return inputs

    def compute_output_shape(self, input_shape):
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self):
        from .. import saving

        return {"layers": [saving.serialize_keras_object(l) for l in self._pipeline_layers], "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .. import saving

        layers = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(layers, (list, tuple)):
            raise InvalidConfigError("Pipeline config must contain a 'layers' key mapping to a list of serialized "
                                     f"layers, got {config!r}")
        return cls([saving.deserialize_keras_object(l, custom_objects=custom_objects) for l in layers],
                   name=config.get("name"))
