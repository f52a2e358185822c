"""Image ops (``keras.ops.image``) with Keras 3's names, arguments and formulas: resizing,
affine warps, color-space conversions, cropping and padding, Gaussian blur, Sobel edges
and patch extraction. Each is a composite of `ember.ops` (gathers, convolutions,
elementwise math) on the images' device, single images (rank 3) or batches (rank 4),
channels_last (the default) or channels_first.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor
from . import core
from .array_ops import floor, pad, stack, where
from .conv import conv, depthwise_conv, normalize_data_format

__all__ = ["resize", "affine_transform", "rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb", "crop_images", "pad_images",
           "gaussian_blur", "sobel_edges", "extract_patches"]


def _images(images, op: str) -> Tensor:
    t = images if isinstance(images, Tensor) else as_tensor(images)
    t = core._float(t)
    if t.ndim not in (3, 4):
        raise ShapeError(f"{op}: invalid images rank: expected rank 3 (single image) or rank 4 (batch of images), "
                         f"got images.shape={t.shape}")
    return t


def _batch(t: Tensor):
    """(rank-4 tensor, restore) for a single image or a batch."""
    if t.ndim == 3:
        return core.reshape(t, (1,) + t.shape), lambda y: core.reshape(y, y.shape[1:])
    return t, lambda y: y


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None) -> Tensor:
    """Resizes images to ``size`` (``keras.ops.image.resize``): half-pixel centres,
    "bilinear" (clamped at the borders) or "nearest", optionally first cropping or padding
    to the target aspect ratio.

    Args:
        images: (H, W, C) or (N, H, W, C), or channels first.
        size: (height, width).
        interpolation: "bilinear" or "nearest" (Keras's "bicubic", "lanczos3",
            "lanczos5" and "area" raise NotImplementedError).
        antialias: must be False (NotImplementedError otherwise).
        crop_to_aspect_ratio: crop the largest centred box of the target aspect ratio first.
        pad_to_aspect_ratio: pad (with ``fill_value``) to the target aspect ratio first.
        fill_mode: "constant" (the only mode Keras defines for the padding).
        fill_value: the padding value.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.resize(em.ones((2, 4, 6, 3)), (2, 3)).shape
        (2, 2, 3, 3)
    """
    op = "resize"
    if interpolation in ("bicubic", "lanczos3", "lanczos5", "area"):
        raise NotImplementedError(f"{op}: interpolation={interpolation!r} is not supported; use 'bilinear' or "
                                  "'nearest'")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported")
    if fill_mode != "constant":
        raise InvalidArgumentError(f"{op}: fill_mode must be 'constant', got {fill_mode!r}")
    from ..layers.image_preprocessing import resize_images

    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{op}: size must be a pair (height, width), got {size!r}") from None
    t, restore = _batch(_images(images, op))
    return restore(resize_images(t, (h, w), interpolation, data_format, crop_to_aspect_ratio, pad_to_aspect_ratio,
                                 fill_value))


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None) -> Tensor:
    """Warps images by affine transforms (``keras.ops.image.affine_transform``): output
    pixel (x, y) samples the input at ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` for each
    image's ``[a0, a1, a2, b0, b1, b2, 0, 0]``; bilinear or nearest, with JAX's fill modes.
    The transforms are read on the host; the projective terms must be 0.

    Args:
        images: (H, W, C) or (N, H, W, C), or channels first.
        transform: (8,) or (N, 8).
        interpolation: "bilinear" or "nearest".
        fill_mode: "constant", "reflect", "wrap" or "nearest".
        fill_value: the value outside the image for "constant".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.affine_transform(em.tensor([[[1.0], [2.0], [3.0]]]), [1, 0, -1, 0, 1, 0, 0, 0]).numpy().ravel().tolist()
        [0.0, 1.0, 2.0]
    """
    from ..layers.image_preprocessing import affine_transform as _affine

    t, restore = _batch(_images(images, "affine_transform"))
    tr = np.asarray(transform.numpy() if isinstance(transform, Tensor) else transform, np.float64)
    return restore(_affine(t, tr, interpolation, fill_mode, fill_value, data_format))


def _channel_axis(t: Tensor, data_format, op: str) -> int:
    fmt = normalize_data_format(data_format, op)
    return t.ndim - 1 if fmt == "channels_last" else t.ndim - 3


def rgb_to_grayscale(images, data_format=None) -> Tensor:
    """Luma ``0.2989 R + 0.5870 G + 0.1140 B`` with one channel (``keras.ops.image.
    rgb_to_grayscale``); one-channel images pass through.

    Args:
        images: RGB images (..., H, W, 3) or channels first.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> [round(v, 4) for v in em.ops.image.rgb_to_grayscale(em.tensor([[[1.0, 0.0, 0.0]]])).numpy().ravel().tolist()]
        [0.2989]
    """
    op = "rgb_to_grayscale"
    t = _images(images, op)
    axis = _channel_axis(t, data_format, op)
    if t.shape[axis] not in (1, 3):
        raise ShapeError(f"{op}: invalid channel size: expected 3 (RGB) or 1 (grayscale), got images.shape={t.shape}")
    if t.shape[axis] == 1:
        return t
    shape = [1] * t.ndim
    shape[axis] = 3
    w = as_tensor(np.array([0.2989, 0.5870, 0.1140], np.float32).reshape(shape), device=t.device)
    return core.sum(core.multiply(t, w), axis=axis, keepdims=True)


def _planes(t: Tensor, axis: int):
    return tuple(core.getitem(t, tuple([slice(None)] * axis + [i])) for i in range(3))


def rgb_to_hsv(images, data_format=None) -> Tensor:
    """RGB in [0, 1] to HSV (hue in [0, 1)) (``keras.ops.image.rgb_to_hsv``, Keras's
    formula: ties resolve to red, then green).

    Args:
        images: float RGB images, 3 channels.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> [round(v, 4) for v in em.ops.image.rgb_to_hsv(em.tensor([[[0.0, 1.0, 0.0]]])).numpy().ravel().tolist()]
        [0.3333, 1.0, 1.0]
    """
    op = "rgb_to_hsv"
    t = _images(images, op)
    axis = _channel_axis(t, data_format, op)
    if t.shape[axis] != 3:
        raise ShapeError(f"{op}: expected 3 channels, got images.shape={t.shape}")
    eps = float(np.finfo(np.float32).eps)
    t = core.multiply(t, core.greater_equal(core.abs(t), eps))
    r, g, b = _planes(t, axis)
    value = core.maximum(core.maximum(r, g), b)
    minimum = core.minimum(core.minimum(r, g), b)
    rng = core.subtract(value, minimum)
    pos_v = core.greater(value, 0.0)
    pos_r = core.greater(rng, 0.0)
    safe_v = where(pos_v, value, 1.0)
    safe_r = where(pos_r, rng, 1.0)
    saturation = core.multiply(core.divide(rng, safe_v), pos_v)
    norm = core.divide(1.0, core.multiply(safe_r, 6.0))
    hue = where(core.equal(value, g), core.add(core.multiply(norm, core.subtract(b, r)), 2.0 / 6.0),
                core.add(core.multiply(norm, core.subtract(r, g)), 4.0 / 6.0))
    hue = where(core.equal(value, r), core.multiply(norm, core.subtract(g, b)), hue)
    hue = core.add(core.multiply(hue, pos_r), core.less(hue, 0.0))
    return stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images, data_format=None) -> Tensor:
    """HSV (hue in [0, 1)) to RGB (``keras.ops.image.hsv_to_rgb``, Keras's formula).

    Args:
        images: float HSV images, 3 channels.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.hsv_to_rgb(em.tensor([[[1 / 3, 1.0, 1.0]]])).numpy().round(4).ravel().tolist()
        [0.0, 1.0, 0.0]
    """
    op = "hsv_to_rgb"
    t = _images(images, op)
    axis = _channel_axis(t, data_format, op)
    if t.shape[axis] != 3:
        raise ShapeError(f"{op}: expected 3 channels, got images.shape={t.shape}")
    h, s, v = _planes(t, axis)
    dh = core.multiply(core.subtract(h, floor(h)), 6.0)
    dr = core.clip(core.subtract(core.abs(core.subtract(dh, 3.0)), 1.0), 0.0, 1.0)
    dg = core.clip(core.subtract(2.0, core.abs(core.subtract(dh, 2.0))), 0.0, 1.0)
    db = core.clip(core.subtract(2.0, core.abs(core.subtract(dh, 4.0))), 0.0, 1.0)
    one_minus_s = core.subtract(1.0, s)
    out = [core.multiply(v, core.add(one_minus_s, core.multiply(s, d))) for d in (dr, dg, db)]
    return stack(out, axis=axis)


def _spatial(t: Tensor, data_format, op: str) -> tuple[int, int]:
    fmt = normalize_data_format(data_format, op)
    return (t.ndim - 3, t.ndim - 2) if fmt == "channels_last" else (t.ndim - 2, t.ndim - 1)


def _nonneg(value, name: str, op: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidArgumentError(f"{op}: {name} must be an integer >= 0, got {value!r}")
    return int(value)


def _two_of(a, b, target, names, op):
    if [a, b, target].count(None) != 1:
        raise InvalidArgumentError(f"{op}: must specify exactly two of {', '.join(names)}; got "
                                   f"{names[0]}={a}, {names[1]}={b}, {names[2]}={target}")


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None) -> Tensor:
    """Crops images (``keras.ops.image.crop_images``): two of top_cropping,
    bottom_cropping and target_height, and two of left_cropping, right_cropping and
    target_width.

    Args:
        images: (H, W, C) or (N, H, W, C), or channels first.
        top_cropping, bottom_cropping, target_height: rows removed above / below, or the
            output height (exactly two of them).
        left_cropping, right_cropping, target_width: likewise for the columns.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.crop_images(em.ones((5, 6, 3)), 1, 2, target_height=3, target_width=2).shape
        (3, 2, 3)
    """
    op = "crop_images"
    t = _images(images, op)
    vals = [_nonneg(v, n, op) for v, n in ((top_cropping, "top_cropping"), (left_cropping, "left_cropping"),
                                            (bottom_cropping, "bottom_cropping"), (right_cropping, "right_cropping"),
                                            (target_height, "target_height"), (target_width, "target_width"))]
    top, left, bottom, right, th, tw = vals
    _two_of(top, bottom, th, ("top_cropping", "bottom_cropping", "target_height"), op)
    _two_of(left, right, tw, ("left_cropping", "right_cropping", "target_width"), op)
    ha, wa = _spatial(t, data_format, op)
    h, w = t.shape[ha], t.shape[wa]
    top = h - th - bottom if top is None else top
    th = h - bottom - top if th is None else th
    left = w - tw - right if left is None else left
    tw = w - right - left if tw is None else tw
    if top < 0 or th < 0 or left < 0 or tw < 0 or top + th > h or left + tw > w:
        raise ShapeError(f"{op}: the crop (top {top}, height {th}, left {left}, width {tw}) does not fit images of "
                         f"shape {t.shape}")
    index = [slice(None)] * t.ndim
    index[ha], index[wa] = slice(top, top + th), slice(left, left + tw)
    return core.getitem(t, tuple(index))


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None) -> Tensor:
    """Zero-pads images (``keras.ops.image.pad_images``): two of top_padding,
    bottom_padding and target_height, and two of left_padding, right_padding and
    target_width.

    Args:
        images: (H, W, C) or (N, H, W, C), or channels first.
        top_padding, bottom_padding, target_height: rows added above / below, or the
            output height (exactly two of them).
        left_padding, right_padding, target_width: likewise for the columns.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.pad_images(em.ones((2, 3, 1)), 1, 0, target_height=5, target_width=4).shape
        (5, 4, 1)
    """
    op = "pad_images"
    t = _images(images, op)
    top, left, bottom, right, th, tw = (_nonneg(v, n, op) for v, n in (
        (top_padding, "top_padding"), (left_padding, "left_padding"), (bottom_padding, "bottom_padding"),
        (right_padding, "right_padding"), (target_height, "target_height"), (target_width, "target_width")))
    _two_of(top, bottom, th, ("top_padding", "bottom_padding", "target_height"), op)
    _two_of(left, right, tw, ("left_padding", "right_padding", "target_width"), op)
    ha, wa = _spatial(t, data_format, op)
    h, w = t.shape[ha], t.shape[wa]
    top = th - bottom - h if top is None else top
    bottom = th - top - h if bottom is None else bottom
    left = tw - right - w if left is None else left
    right = tw - left - w if right is None else right
    for name, v in (("top_padding", top), ("bottom_padding", bottom), ("left_padding", left),
                    ("right_padding", right)):
        if v < 0:
            raise ShapeError(f"{op}: {name} would be {v} for images of shape {t.shape}")
    widths = [(0, 0)] * t.ndim
    widths[ha], widths[wa] = (top, bottom), (left, right)
    return pad(t, widths)


def _depthwise(t: Tensor, kernel2d: np.ndarray, data_format, op: str) -> Tensor:
    """Each channel convolved ('same' padding, cross-correlation) with ``kernel2d``."""
    x, restore = _batch(t)
    fmt = normalize_data_format(data_format, op)
    c = x.shape[-1] if fmt == "channels_last" else x.shape[1]
    k = np.repeat(kernel2d.astype(np.float32)[:, :, None, None], c, axis=2)  # (kh, kw, C, 1)
    return restore(depthwise_conv(x, as_tensor(k, device=x.device), 1, "same", fmt))


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None) -> Tensor:
    """Blurs each channel with a Gaussian kernel, 'same' padding (``keras.ops.image.
    gaussian_blur``; Keras's kernel: ``outer(g(kernel_size[1], sigma[1]), g(kernel_size[0],
    sigma[0]))`` of normalized 1-D Gaussians).

    Args:
        images: (H, W, C) or (N, H, W, C), or channels first.
        kernel_size: a pair of positive ints.
        sigma: a pair of positive floats.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> float(em.ops.image.gaussian_blur(em.ones((5, 5, 1)))[2, 2, 0])
        1.0
    """
    op = "gaussian_blur"
    t = _images(images, op)
    try:
        ks = tuple(int(v) for v in kernel_size)
        sg = tuple(float(v) for v in sigma)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{op}: kernel_size and sigma must be pairs, got {kernel_size!r} and "
                                   f"{sigma!r}") from None
    if len(ks) != 2 or len(sg) != 2 or min(ks) < 1 or not all(np.isfinite(sg)) or min(sg) <= 0:
        raise InvalidArgumentError(f"{op}: kernel_size must be two positive ints and sigma two positive floats, got "
                                   f"{kernel_size!r} and {sigma!r}")

    def g1(size, s):
        x = np.arange(size, dtype=np.float64) - (size - 1) / 2
        k = np.exp(-0.5 * (x / s) ** 2)
        return k / k.sum()

    kernel = np.outer(g1(ks[1], sg[1]), g1(ks[0], sg[0]))
    return _depthwise(t, kernel, data_format, op)


def sobel_edges(images, data_format=None) -> Tensor:
    """Sobel gradients of each channel (``keras.ops.image.sobel_edges``): the last axis
    holds (dy, dx), 'same' zero padding.

    Args:
        images: (N, H, W, C), or channels first.
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.sobel_edges(em.ones((1, 4, 4, 3))).shape
        (1, 4, 4, 3, 2)
    """
    op = "sobel_edges"
    t = _images(images, op)
    if t.ndim != 4:
        raise ShapeError(f"{op}: expected a batch of images (N, H, W, C), got shape {t.shape}")
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    return stack([_depthwise(t, sx.T, data_format, op), _depthwise(t, sx, data_format, op)], axis=-1)


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None) -> Tensor:
    """Patches of images as channels (``keras.ops.image.extract_patches``): a convolution
    with the identity kernel, so output channel ``(i kw + j) C + c`` holds channel c at
    patch offset (i, j). 2-D patches only (Keras's 3-D ``size`` raises
    NotImplementedError).

    Args:
        images: (H, W, C) or (N, H, W, C), or channels first.
        size: an int or (height, width) of the patches.
        strides: an int or a pair (default: size).
        dilation_rate: an int or a pair.
        padding: "valid" or "same".
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.image.extract_patches(em.ones((2, 6, 6, 3)), 3).shape
        (2, 2, 2, 27)
    """
    op = "extract_patches"
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        size = tuple(int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{op}: size must be an int or a pair, got {size!r}") from None
    if len(size) == 3:
        raise NotImplementedError(f"{op}: 3-D patches (size {size}) are not supported")
    if len(size) != 2 or min(size) < 1:
        raise InvalidArgumentError(f"{op}: size must be an int or a pair of positive ints, got {size!r}")
    t = _images(images, op)
    fmt = normalize_data_format(data_format, op)
    x, restore = _batch(t)
    c = x.shape[-1] if fmt == "channels_last" else x.shape[1]
    out = size[0] * size[1] * c
    kernel = np.eye(out, dtype=np.float32).reshape(size[0], size[1], c, out)
    y = conv(x, as_tensor(kernel, device=x.device), strides=size if not strides else strides, padding=padding,
             data_format=fmt, dilation_rate=dilation_rate)
    return restore(y)
