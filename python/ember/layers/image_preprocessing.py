"""Image preprocessing and augmentation layers with Keras 3's names, arguments and
configs: Rescaling, Resizing, CenterCrop, RandomFlip, RandomCrop, RandomTranslation,
RandomRotation, RandomZoom, RandomContrast.

Inputs are batches (batch, height, width, channels) or single images (height, width,
channels); ``data_format="channels_first"`` takes (batch, channels, height, width).
Integer images (uint8) become float32.

The random layers transform only when called with ``training=True``; at inference they
are the identity (RandomCrop then crops the centre, so the output shape is the same).
As in Keras 3, a layer called on its own (not inside ``fit``/``evaluate``/``predict``)
defaults to ``training=True``.

Randomness: each random layer draws its parameters (one or two floats per image) from
Ember's Philox generator *on the CPU* (`ember.random.uniform` with the layer's
`SeedGenerator`, or the global one for ``seed=None``), so one seed gives the same
parameters, and the same images, on every device. The pixels never leave the device:
flips are strided views selected by `ops.where`; resizing and the affine transforms
(translation, rotation, zoom) are gathers of the source pixels (`ops.take`) weighted by
the bilinear weights, with index arrays computed on the host from the drawn parameters.
The order of the draws is part of the layer's contract (the tests replay it):

* RandomFlip: ``uniform((batch,))``; an image is flipped where the draw is <= 0.5 (both
  ways for "horizontal_and_vertical", as Keras).
* RandomCrop: ``uniform(())`` scaled to [0, height - crop + 1) for the top, then the
  same for the left (one box for the whole batch, as Keras).
* RandomTranslation: ``uniform((batch,))`` in [height_lower, height_upper] (times the
  height), then the same for the width.
* RandomRotation: ``uniform((batch,))`` in [lower, upper] * 360 degrees.
* RandomZoom: ``uniform((batch,))`` in [1 + height_lower, 1 + height_upper], then (if a
  width_factor is given) the same for the width.
* RandomContrast: ``uniform((batch,))`` in [1 - lower, 1 + upper].

The geometry follows Keras: the affine matrices of ``keras.layers.RandomRotation`` etc.
(output pixel (x, y) samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2)),
sampled like ``keras.ops.image.affine_transform`` (JAX's ``map_coordinates``: bilinear
over the four neighbours, "reflect" / "wrap" / "nearest" remap out-of-range neighbours,
"constant" replaces them by ``fill_value``), and resizing like ``keras.ops.image.resize``
(half-pixel centres; bilinear clamps at the borders; no antialiasing).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as _random
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..ops.array_ops import concatenate, flip, pad, take, where
from ..ops.conv import normalize_data_format, to_channels_first, to_channels_last
from ..tensor import Tensor, as_tensor
from .layer import Layer

__all__ = [
    "Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomCrop", "RandomTranslation", "RandomRotation",
    "RandomZoom", "RandomContrast", "resize_images", "affine_transform",
]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")


# -- host-side geometry ----------------------------------------------------------------------------

def _resize_taps(n_in: int, n_out: int, interpolation: str):
    """(i0, i1, w) such that output i = (1 - w) x[i0] + w x[i1]: half-pixel centres, the
    source coordinate (i + 0.5) n_in / n_out - 0.5 clamped to the input (JAX's resize
    renormalises the triangle kernel at the borders, which is the same)."""
    i = np.arange(n_out, dtype=np.float64)
    if interpolation == "nearest":
        idx = np.minimum(np.floor((i + 0.5) * n_in / n_out), n_in - 1).astype(np.int64)
        return idx, idx, np.zeros(n_out, np.float32)
    src = np.clip((i + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def _fix_index(index: np.ndarray, size: int, mode: str) -> np.ndarray:
    """JAX's ``map_coordinates`` index fixers (``_INDEX_FIXERS``)."""
    if mode == "nearest":
        return np.clip(index, 0, size - 1)
    if mode == "wrap":
        return np.mod(index, size)
    if mode == "reflect":  # half-sample symmetric: (d c b a | a b c d | d c b a)
        n = 2 * size + 1
        s = n - 1
        mirrored = np.abs(np.mod(2 * index + 1 + s, 2 * s) - s)
        return np.floor_divide(mirrored - 1, 2)
    return index


def _crop_box(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """Keras's centred crop to the target aspect ratio: (top, left, crop_h, crop_w)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def _const(values: np.ndarray, like: Tensor) -> Tensor:
    return as_tensor(np.ascontiguousarray(values, dtype=np.float32), device=like.device)


# -- device-side ops (channels_last batches) -------------------------------------------------------

def _interp_axis(x: Tensor, axis: int, n_out: int, interpolation: str) -> Tensor:
    i0, i1, w = _resize_taps(x.shape[axis], n_out, interpolation)
    x0 = take(x, i0, axis=axis)
    if interpolation == "nearest" or not w.any():
        return x0
    shape = [1] * x.ndim
    shape[axis] = n_out
    x1 = take(x, i1, axis=axis)
    return core.add(x0, core.multiply(core.subtract(x1, x0), _const(w.reshape(shape), x)))


def resize_images(images, size, interpolation: str = "bilinear", data_format=None, crop_to_aspect_ratio=False,
                  pad_to_aspect_ratio=False, fill_value=0.0) -> Tensor:
    """Resizes a batch of images (``keras.ops.image.resize`` without antialiasing):
    half-pixel centres; "bilinear" or "nearest".

    Args:
        images: (batch, height, width, channels) (or channels_first).
        size: (height, width) of the output.
        interpolation: "bilinear" or "nearest".
        data_format: "channels_last" (or None) or "channels_first".
        crop_to_aspect_ratio: first crop the largest centred box of the target aspect ratio.
        pad_to_aspect_ratio: first pad (with ``fill_value``) to the target aspect ratio.
        fill_value: the padding value.

    Example:
        >>> import ember as em
        >>> from ember.layers.image_preprocessing import resize_images
        >>> resize_images(em.ones((1, 4, 6, 3)), (2, 3)).shape
        (1, 2, 3, 3)
    """
    fmt = normalize_data_format(data_format, "resize")
    if interpolation not in _INTERPOLATIONS:
        raise InvalidArgumentError(f"resize: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    x = to_channels_last(core.cast(as_tensor(images), "float32") if not isinstance(images, Tensor) or
                         images.dtype != "float32" else images, fmt)
    if x.ndim != 4:
        raise ShapeError(f"resize: expected images of rank 4 (batch, height, width, channels), got shape {x.shape}")
    th, tw = (int(v) for v in size)
    if th <= 0 or tw <= 0:
        raise InvalidArgumentError(f"resize: size must be positive, got {tuple(size)}")
    h, w = x.shape[1:3]
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise InvalidArgumentError("resize: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True")
    if crop_to_aspect_ratio:
        top, left, ch, cw = _crop_box(h, w, th, tw)
        x = core.getitem(x, (slice(None), slice(top, top + ch), slice(left, left + cw)))
    elif pad_to_aspect_ratio:
        ph = max(h, int(float(w * th) / tw))
        pw = max(w, int(float(h * tw) / th))
        top, left = int(float(ph - h) / 2), int(float(pw - w) / 2)
        # Keras pads the same amount on both sides (so an odd difference loses a pixel).
        x = pad(x, [(0, 0), (top, top), (left, left), (0, 0)], constant_values=float(fill_value))
    if x.shape[1] != th:
        x = _interp_axis(x, 1, th, interpolation)
    if x.shape[2] != tw:
        x = _interp_axis(x, 2, tw, interpolation)
    return to_channels_first(x, fmt)


def affine_transform(images, transforms, interpolation: str = "bilinear", fill_mode: str = "constant",
                     fill_value=0.0, data_format=None) -> Tensor:
    """``keras.ops.image.affine_transform`` with host transforms: output pixel (x, y)
    of image n samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2), where
    ``transforms[n] = [a0, a1, a2, b0, b1, b2, 0, 0]``.

    Args:
        images: (batch, height, width, channels) (or channels_first), any device.
        transforms: a host array (8,) or (batch, 8); the projective terms must be 0.
        interpolation: "bilinear" or "nearest".
        fill_mode: "constant", "reflect", "wrap" or "nearest" (JAX's modes).
        fill_value: the value outside the image for "constant".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> from ember.layers.image_preprocessing import affine_transform
        >>> x = em.tensor([[[[1.0], [2.0], [3.0]]]])   # one 1 x 3 image
        >>> affine_transform(x, [1, 0, -1, 0, 1, 0, 0, 0]).numpy().ravel().tolist()   # shift right
        [0.0, 1.0, 2.0]
    """
    op = "affine_transform"
    if interpolation not in _INTERPOLATIONS:
        raise InvalidArgumentError(f"{op}: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    if fill_mode not in _FILL_MODES:
        raise InvalidArgumentError(f"{op}: fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
    fmt = normalize_data_format(data_format, op)
    x = as_tensor(images)
    if x.dtype != "float32":
        x = core.cast(x, "float32")
    x = to_channels_last(x, fmt)
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected images of rank 4 (batch, height, width, channels), got shape {x.shape}")
    n, h, w, c = x.shape
    t = np.asarray(transforms, np.float64)
    if t.ndim == 1:
        t = t[None]
    if t.shape not in ((n, 8), (1, 8)):
        raise ShapeError(f"{op}: transforms must have shape (8,) or ({n}, 8) for images of shape {x.shape}, got "
                         f"{t.shape}")
    if np.any(t[:, 6:] != 0):
        raise InvalidArgumentError(f"{op}: only affine transforms are supported (the last two terms must be 0)")
    t = np.broadcast_to(t, (n, 8))
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    a0, a1, a2, b0, b1, b2 = (t[:, i, None, None] for i in range(6))
    sx = a0 * xx + a1 * yy + a2   # (n, h, w)
    sy = b0 * xx + b1 * yy + b2
    if interpolation == "nearest":
        taps = [(np.sign(sy) * np.floor(np.abs(sy) + 0.5), np.sign(sx) * np.floor(np.abs(sx) + 0.5),
                 np.ones_like(sx))]
    else:
        y0, x0 = np.floor(sy), np.floor(sx)
        dy, dx = sy - y0, sx - x0
        taps = [(y0, x0, (1 - dy) * (1 - dx)), (y0, x0 + 1, (1 - dy) * dx), (y0 + 1, x0, dy * (1 - dx)),
                (y0 + 1, x0 + 1, dy * dx)]
    fill_row = n * h * w  # the index of the appended fill row ("constant")
    base = (np.arange(n) * h * w)[:, None, None]
    idx, wts = [], []
    for ty, tx, wt in taps:
        ty, tx = ty.astype(np.int64), tx.astype(np.int64)
        if fill_mode == "constant":
            valid = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            flat = np.where(valid, base + np.clip(ty, 0, h - 1) * w + np.clip(tx, 0, w - 1), fill_row)
        else:
            flat = base + _fix_index(ty, h, fill_mode) * w + _fix_index(tx, w, fill_mode)
        idx.append(flat.reshape(-1))
        wts.append(wt.reshape(-1))
    idx_a = np.stack(idx, axis=1)                       # (n h w, taps)
    wts_a = np.stack(wts, axis=1)[..., None]            # (n h w, taps, 1)
    rows = core.reshape(x, (n * h * w, c))
    if fill_mode == "constant":
        fill = as_tensor(np.full((1, c), float(fill_value), np.float32), device=x.device)
        rows = concatenate([rows, fill], axis=0)
    # An int32 index tensor takes the general gather kernel: the row-gather path for host
    # indices would turn this many indices into a Python list (slow).
    picked = take(rows, as_tensor(idx_a.astype(np.int32), device=x.device), axis=0)   # (n h w, taps, c)
    y = core.sum(core.multiply(picked, _const(wts_a, x)), axis=1) if len(taps) > 1 else core.reshape(picked, (-1, c))
    return to_channels_first(core.reshape(y, (n, h, w, c)), fmt)


# -- argument handling -------------------------------------------------------------------------------

def _factor_pair(factor, owner: str, name: str, bounds=(-1.0, 1.0), lower_open=False) -> tuple[float, float]:
    """Keras's factor: a number f gives (-f, f) (clipped to the bounds), a pair is sorted."""
    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise InvalidArgumentError(f"{owner}: {name} must be a number or a pair of numbers in [{bounds[0]}, "
                                       f"{bounds[1]}], got {factor!r}")
        if v > bounds[1] or v < bounds[0] or (lower_open and v <= bounds[0]):
            raise InvalidArgumentError(f"{owner}: {name} values must lie in "
                                       f"{'(' if lower_open else '['}{bounds[0]}, {bounds[1]}], got {factor!r}")
        return float(v)

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise InvalidArgumentError(f"{owner}: {name} must be a number or a pair, got {factor!r}")
        lo, hi = sorted(check(v) for v in factor)
        return lo, hi
    f = abs(check(factor))
    return max(-f, bounds[0]), f


def _seed_arg(seed, owner: str):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InvalidArgumentError(f"{owner}: seed must be None or an integer, got {seed!r}")
    return None if seed is None else int(seed)


def _size_arg(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidArgumentError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


class _ImageLayer(Layer):
    """Shared plumbing: batched or single images, channels_first, float32 outputs."""

    integer_inputs = "cast"

    def _init_image(self, data_format) -> None:
        self.data_format = normalize_data_format(data_format, type(self).__name__)

    def _hw_axes(self, ndim: int) -> tuple[int, int]:
        if self.data_format == "channels_first":
            return ndim - 2, ndim - 1
        return ndim - 3, ndim - 2

    def _check_images(self, shape) -> tuple:
        shape = tuple(shape)
        if len(shape) not in (3, 4):
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected images of rank 4 (batch, height, width, "
                             f"channels) or 3 (height, width, channels), got input shape {shape}")
        return shape

    def _batched(self, inputs):
        """(channels_last batch, restore) where restore undoes the layout changes."""
        self._check_images(inputs.shape)
        single = inputs.ndim == 3
        x = core.reshape(inputs, (1,) + inputs.shape) if single else inputs
        x = to_channels_last(x, self.data_format)

        def restore(y):
            y = to_channels_first(y, self.data_format)
            return core.reshape(y, y.shape[1:]) if single else y

        return x, restore

    def compute_output_shape(self, input_shape):
        return self._check_images(input_shape)


class _RandomImageLayer(_ImageLayer):
    def _init_affine(self, fill_mode, interpolation, fill_value) -> None:
        """Checks and keeps the resampling arguments of the geometric layers."""
        owner = type(self).__name__
        if fill_mode not in _FILL_MODES:
            raise InvalidArgumentError(f"{owner}: fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
        if interpolation not in _INTERPOLATIONS:
            raise InvalidArgumentError(f"{owner}: interpolation must be one of {_INTERPOLATIONS}, got "
                                       f"{interpolation!r}")
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise InvalidArgumentError(f"{owner}: fill_value must be a number, got {fill_value!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def _init_seed(self, seed) -> None:
        self.seed = _seed_arg(seed, type(self).__name__)
        self._gen = _random.SeedGenerator(self.seed) if self.seed is not None else None

    def _uniform(self, shape, low: float, high: float) -> np.ndarray:
        """Parameters drawn on the CPU from the layer's Philox stream (the same on
        every device), as float64 for the host geometry."""
        draw = _random.uniform(shape, low, high, seed=self._gen, device="cpu")
        return np.asarray(draw.numpy(), np.float64)


# -- deterministic layers ---------------------------------------------------------------------------

class Rescaling(Layer):
    """``inputs * scale + offset`` (Keras 3's ``keras.layers.Rescaling``), e.g. 1/255 to
    bring uint8 images to [0, 1].

    Args:
        scale: a number (or an array broadcasting against the inputs).
        offset: a number (or an array).

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> em.layers.Rescaling(1 / 127.5, offset=-1)(np.array([[0, 255]], np.uint8)).numpy().tolist()
        [[-1.0, 1.0]]
    """

    integer_inputs = "cast"

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("scale", scale), ("offset", offset)):
            a = np.asarray(v)
            if a.dtype.kind not in "biuf" or not np.all(np.isfinite(a)):
                raise InvalidArgumentError(f"Rescaling: {name} must be a finite number or array, got {v!r}")
        self.scale = scale
        self.offset = offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        scale = np.asarray(self.scale, np.float32)
        offset = np.asarray(self.offset, np.float32)
        y = core.multiply(inputs, float(scale) if scale.ndim == 0 else _const(scale, inputs))
        if offset.ndim == 0 and float(offset) == 0.0:
            return y
        return core.add(y, float(offset) if offset.ndim == 0 else _const(offset, inputs))

    def get_config(self):
        def plain(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else v

        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


class Resizing(_ImageLayer):
    """Resizes images to (height, width) (Keras 3's ``keras.layers.Resizing``), like
    ``keras.ops.image.resize`` without antialiasing.

    Args:
        height, width: the output size.
        interpolation: "bilinear" (the default) or "nearest".
        crop_to_aspect_ratio: first crop the largest centred box of the target aspect
            ratio (no distortion).
        pad_to_aspect_ratio: first pad with ``fill_value`` to the target aspect ratio.
        fill_mode: "constant" (Keras's only mode for the padding).
        fill_value: the padding value.
        antialias: must be False (antialiased downsampling is not supported).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.Resizing(8, 6, crop_to_aspect_ratio=True)(em.ones((2, 20, 10, 3))).shape
        (2, 8, 6, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.height = _size_arg(height, "height", owner)
        self.width = _size_arg(width, "width", owner)
        if interpolation not in _INTERPOLATIONS:
            raise InvalidArgumentError(f"{owner}: interpolation must be one of {_INTERPOLATIONS}, got "
                                       f"{interpolation!r}")
        if fill_mode != "constant":
            raise InvalidArgumentError(f"{owner}: fill_mode must be 'constant', got {fill_mode!r}")
        if antialias:
            raise InvalidArgumentError(f"{owner}: antialias=True is not supported")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise InvalidArgumentError(f"{owner}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = False
        self._init_image(data_format)

    def compute_output_shape(self, input_shape):
        out = list(self._check_images(input_shape))
        ha, wa = self._hw_axes(len(out))
        out[ha], out[wa] = self.height, self.width
        return tuple(out)

    def call(self, inputs):
        x, restore = self._batched(inputs)
        return restore(resize_images(x, (self.height, self.width), self.interpolation, None,
                                     self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias, "data_format": self.data_format}


def _center_crop(x: Tensor, height: int, width: int) -> Tensor:
    """Keras's CenterCrop on a channels_last batch: the centred box where the image is
    large enough, else crop to the aspect ratio and resize (bilinear)."""
    h, w = x.shape[1:3]
    if h >= height and w >= width:
        top, left = (h - height) // 2, (w - width) // 2
        return core.getitem(x, (slice(None), slice(top, top + height), slice(left, left + width)))
    return resize_images(x, (height, width), "bilinear", None, crop_to_aspect_ratio=True)


class CenterCrop(_ImageLayer):
    """Crops the central (height, width) box of each image (Keras 3's
    ``keras.layers.CenterCrop``); an image smaller than that is cropped to the target
    aspect ratio and resized instead.

    Args:
        height, width: the output size.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.CenterCrop(24, 24)(em.ones((2, 28, 28, 1))).shape
        (2, 24, 24, 1)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _size_arg(height, "height", "CenterCrop")
        self.width = _size_arg(width, "width", "CenterCrop")
        self._init_image(data_format)

    def compute_output_shape(self, input_shape):
        out = list(self._check_images(input_shape))
        ha, wa = self._hw_axes(len(out))
        out[ha], out[wa] = self.height, self.width
        return tuple(out)

    def call(self, inputs):
        x, restore = self._batched(inputs)
        return restore(_center_crop(x, self.height, self.width))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


# -- random augmentation ------------------------------------------------------------------------------

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(_RandomImageLayer):
    """Flips each image left-right and/or top-bottom with probability 1/2 while training
    (Keras 3's ``keras.layers.RandomFlip``).

    Args:
        mode: "horizontal", "vertical" or "horizontal_and_vertical" (the default: both
            flips together, for the same images, as Keras).
        seed: an integer for reproducible flips.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> x = np.arange(6, dtype=np.float32).reshape(1, 1, 6, 1)
        >>> flip = em.layers.RandomFlip("horizontal", seed=0)
        >>> bool(np.array_equal(flip(x, training=False).numpy(), x))
        True
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in _FLIP_MODES:
            raise InvalidArgumentError(f"RandomFlip: mode must be one of {_FLIP_MODES}, got {mode!r}")
        self.mode = mode
        self._init_seed(seed)
        self._init_image(data_format)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        n = x.shape[0]
        flips = (self._uniform((n,), 0.0, 1.0) <= 0.5).reshape(n, 1, 1, 1)
        cond = as_tensor(flips, device=x.device)
        y = x
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            y = where(cond, flip(y, axis=2), y)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            y = where(cond, flip(y, axis=1), y)
        return restore(y)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "seed": self.seed, "data_format": self.data_format}


class RandomCrop(_RandomImageLayer):
    """Crops a random (height, width) box (the same for the whole batch, as Keras 3's
    ``keras.layers.RandomCrop``) while training; at inference, and for images not larger
    than the box, the centred crop (resized when the image is smaller) of `CenterCrop`.

    Args:
        height, width: the output size.
        seed: an integer for reproducible crops.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.RandomCrop(24, 24, seed=1)(em.ones((2, 28, 28, 1)), training=True).shape
        (2, 24, 24, 1)
    """

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.height = _size_arg(height, "height", "RandomCrop")
        self.width = _size_arg(width, "width", "RandomCrop")
        self._init_seed(seed)
        self._init_image(data_format)

    def compute_output_shape(self, input_shape):
        out = list(self._check_images(input_shape))
        ha, wa = self._hw_axes(len(out))
        out[ha], out[wa] = self.height, self.width
        return tuple(out)

    def call(self, inputs, training=True):
        x, restore = self._batched(inputs)
        h, w = x.shape[1:3]
        if not training or h <= self.height or w <= self.width:
            return restore(_center_crop(x, self.height, self.width))
        top = int(self._uniform((), 0.0, float(h - self.height + 1)))
        left = int(self._uniform((), 0.0, float(w - self.width + 1)))
        return restore(core.getitem(x, (slice(None), slice(top, top + self.height), slice(left, left + self.width))))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "seed": self.seed,
                "data_format": self.data_format}


class _AffineLayer(_RandomImageLayer):
    """Shared by RandomTranslation/Rotation/Zoom: a per-image affine matrix, sampled
    like ``keras.ops.image.affine_transform``."""

    def _matrices(self, n: int, h: int, w: int) -> np.ndarray:
        raise NotImplementedError

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        n, h, w = x.shape[:3]
        t = self._matrices(n, h, w)
        return restore(affine_transform(x, t, self.interpolation, self.fill_mode, self.fill_value))

    def _affine_config(self) -> dict:
        return {"fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value, "data_format": self.data_format}


def rotation_matrices(angles_deg: np.ndarray, h: int, w: int) -> np.ndarray:
    """Keras's ``_compute_affine_matrix`` for a rotation about the image centre ((w - 1)
    / 2, (h - 1) / 2) by ``angles_deg`` degrees: (n, 8) rows [a0, a1, a2, b0, b1, b2, 0, 0]."""
    a = np.asarray(angles_deg, np.float64) * (math.pi / 180.0)
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    cos, sin = np.cos(a), np.sin(a)
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = cx - cx * a0 - cy * a1
    b2 = cy - cx * b0 - cy * b1
    z = np.zeros_like(a)
    return np.stack([a0, a1, a2, b0, b1, b2, z, z], axis=1)


class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its height and width while training
    (Keras 3's ``keras.layers.RandomTranslation``).

    Args:
        height_factor: a fraction f (shifts in [-f, f] of the height) or a pair (lower,
            upper), in [-1, 1]; positive moves the image down.
        width_factor: likewise for the width; positive moves it right.
        fill_mode: "reflect" (the default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (the default) or "nearest".
        seed: an integer for reproducible shifts.
        fill_value: the value outside the image for "constant".
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.RandomTranslation(0.1, 0.1, seed=2)(em.ones((2, 8, 8, 1)), training=True).shape
        (2, 8, 8, 1)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_lower, self.height_upper = _factor_pair(height_factor, owner, "height_factor")
        self.width_lower, self.width_upper = _factor_pair(width_factor, owner, "width_factor")
        self._init_affine(fill_mode, interpolation, fill_value)
        self._init_seed(seed)
        self._init_image(data_format)

    def _matrices(self, n, h, w):
        dy = self._uniform((n,), self.height_lower, self.height_upper) * h
        dx = self._uniform((n,), self.width_lower, self.width_upper) * w
        one, z = np.ones(n), np.zeros(n)
        return np.stack([one, z, -dx, z, one, -dy, z, z], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                **self._affine_config()}


class RandomRotation(_AffineLayer):
    """Rotates each image by a random angle about its centre while training (Keras 3's
    ``keras.layers.RandomRotation``).

    Args:
        factor: a fraction f of a full turn (angles in [-f, f] * 360 degrees) or a pair
            (lower, upper), in [-1, 1].
        fill_mode: "reflect" (the default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (the default) or "nearest".
        seed: an integer for reproducible rotations.
        fill_value: the value outside the image for "constant".
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.RandomRotation(0.1, seed=3)(em.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = _factor_pair(factor, type(self).__name__, "factor")
        self._factor_arg = factor
        self._init_affine(fill_mode, interpolation, fill_value)
        self._init_seed(seed)
        self._init_image(data_format)

    def _matrices(self, n, h, w):
        angles = self._uniform((n,), self.factor[0] * 360.0, self.factor[1] * 360.0)
        return rotation_matrices(angles, h, w)

    def get_config(self):
        factor = list(self._factor_arg) if isinstance(self._factor_arg, (tuple, list)) else self._factor_arg
        return {**super().get_config(), "factor": factor, **self._affine_config()}


class RandomZoom(_AffineLayer):
    """Zooms each image in or out by a random factor while training (Keras 3's
    ``keras.layers.RandomZoom``): a factor f samples the input over 1 + f times the
    output's extent, so positive values zoom out and negative ones zoom in.

    Args:
        height_factor: a fraction f (zoom in [-f, f]) or a pair (lower, upper), in (-1, 1].
        width_factor: likewise for the width; None (the default) keeps the aspect ratio
            (the height's zoom for both axes).
        fill_mode: "reflect" (the default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (the default) or "nearest".
        seed: an integer for reproducible zooms.
        fill_value: the value outside the image for "constant".
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.RandomZoom(0.2, seed=4)(em.ones((2, 8, 8, 1)), training=True).shape
        (2, 8, 8, 1)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_lower, self.height_upper = _factor_pair(height_factor, owner, "height_factor", lower_open=True)
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_pair(width_factor, owner, "width_factor", lower_open=True)
        self._init_affine(fill_mode, interpolation, fill_value)
        self._init_seed(seed)
        self._init_image(data_format)

    def _matrices(self, n, h, w):
        zy = self._uniform((n,), 1.0 + self.height_lower, 1.0 + self.height_upper)
        zx = zy if self.width_factor is None else self._uniform((n,), 1.0 + self.width_lower, 1.0 + self.width_upper)
        z = np.zeros(n)
        return np.stack([zx, z, (w - 1) / 2.0 * (1.0 - zx), z, zy, (h - 1) / 2.0 * (1.0 - zy), z, z], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                **self._affine_config()}


class RandomContrast(_RandomImageLayer):
    """Scales each image's deviation from its per-channel mean by a random factor while
    training, then clips to ``value_range`` (Keras 3's ``keras.layers.RandomContrast``).

    The factor is uniform in [1 - lower, 1 + upper], where a number f gives (lower,
    upper) = (0, f) (Keras 3 clips the lower bound of its factor range at 0) and a pair
    is taken as (lower, upper), each in [0, 1].

    Args:
        factor: a number or a pair in [0, 1].
        value_range: (low, high) of the pixel values (default (0, 255)).
        seed: an integer for reproducible factors.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.RandomContrast(0.5, seed=5)(em.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self._factor_arg = factor
        self.factor = _factor_pair(factor, owner, "factor", bounds=(0.0, 1.0))
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"{owner}: value_range must be a pair (low, high), got {value_range!r}") from None
        if not lo < hi:
            raise InvalidArgumentError(f"{owner}: value_range must have low < high, got {value_range!r}")
        self.value_range = (lo, hi)
        self._init_seed(seed)
        self._init_image(data_format)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        x, restore = self._batched(inputs)
        n = x.shape[0]
        f = self._uniform((n,), 1.0 - self.factor[0], 1.0 + self.factor[1]).reshape(n, 1, 1, 1)
        mean = core.mean(x, axis=(1, 2), keepdims=True)
        y = core.add(core.multiply(core.subtract(x, mean), _const(f, x)), mean)
        return restore(core.clip(y, self.value_range[0], self.value_range[1]))

    def get_config(self):
        factor = list(self._factor_arg) if isinstance(self._factor_arg, (tuple, list)) else self._factor_arg
        return {**super().get_config(), "factor": factor, "value_range": list(self.value_range), "seed": self.seed,
                "data_format": self.data_format}
