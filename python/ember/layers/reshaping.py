"""Reshaping layers: Flatten, Reshape, and the spatial ones: ZeroPadding1D/2D/3D,
Cropping1D/2D/3D, UpSampling1D/2D/3D and Permute (Keras 3's names, arguments and configs)."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from .input_spec import InputSpec
from .layer import Layer, _AnyRank, _shape_arg


class Flatten(Layer, _AnyRank):
    """Flattens every axis but the batch axis.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"`` (channels are
            moved last before flattening, as Keras does).
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else int(np.prod(rest)))

    def call(self, inputs, training=False):
        return core.reshape(inputs, (inputs.shape[0], -1) if inputs.shape[0] else (0, int(np.prod(inputs.shape[1:]))))


class Reshape(Layer, _AnyRank):
    """Reshapes each sample to ``target_shape`` (one -1 may be inferred).

    Args:
        target_shape: the per-sample output shape, a tuple of ints (the batch axis excluded).
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = _shape_arg(target_shape, "Reshape: target_shape", allow_minus_one=True)
        if any(d is None for d in target):
            raise InvalidArgumentError(f"Reshape: invalid target_shape {target_shape!r}")
        self.target_shape = target

    def compute_output_shape(self, input_shape):
        n = int(np.prod(input_shape[1:])) if all(d is not None for d in input_shape[1:]) else None
        t = list(self.target_shape)
        if -1 in t and n is not None:
            known = int(np.prod([d for d in t if d != -1]))
            t[t.index(-1)] = n // known if known else 0
        if n is not None and -1 not in t and int(np.prod(t)) != n:
            raise ShapeError(f"Reshape: cannot reshape samples of shape {input_shape[1:]} into {self.target_shape}")
        return (input_shape[0],) + tuple(t)

    def call(self, inputs, training=False):
        return core.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}



# -- padding, cropping, upsampling of spatial axes -----------------------------------------------

def _pairs(value, rank: int, name: str, owner: str) -> tuple:
    """Keras's padding/cropping argument as ``rank`` (before, after) pairs of ints >= 0:
    an int (the same everywhere), ``rank`` ints (symmetric per axis) or ``rank`` pairs
    (for rank 1 also one pair)."""
    def bad():
        return InvalidArgumentError(f"{owner}: {name} must be an int, a tuple of {rank} ints or {rank} (before, "
                                    f"after) pairs of non-negative ints, got {value!r}")

    def as_int(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise bad()
        return int(v)

    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        v = as_int(value)
        return ((v, v),) * rank
    try:
        items = tuple(value)
    except TypeError:
        raise bad() from None
    if rank == 1 and len(items) == 2 and all(isinstance(v, numbers.Integral) for v in items):
        return ((as_int(items[0]), as_int(items[1])),)
    if len(items) != rank:
        raise bad()
    out = []
    for item in items:
        if isinstance(item, numbers.Integral) and not isinstance(item, bool):
            out.append((as_int(item), as_int(item)))
        else:
            try:
                pair = tuple(item)
            except TypeError:
                raise bad() from None
            if len(pair) != 2:
                raise bad()
            out.append((as_int(pair[0]), as_int(pair[1])))
    return tuple(out)


class _Spatial(Layer):
    """A layer over the ``rank`` spatial axes of (batch, *spatial, channels) inputs
    (or (batch, channels, *spatial) for channels_first)."""

    rank = 2

    def _init_format(self, data_format) -> None:
        from ..ops.conv import normalize_data_format

        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _spatial_axes(self) -> range:
        return range(2, 2 + self.rank) if self.data_format == "channels_first" else range(1, 1 + self.rank)

    def _check_rank(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        return input_shape


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_format(data_format)
        self.padding = _pairs(padding, self.rank, "padding", type(self).__name__)

    def compute_output_shape(self, input_shape):
        out = list(self._check_rank(input_shape))
        for a, (lo, hi) in zip(self._spatial_axes(), self.padding):
            out[a] = None if out[a] is None else out[a] + lo + hi
        return tuple(out)

    def call(self, inputs):
        from ..ops.array_ops import pad

        widths = [(0, 0)] * inputs.ndim
        for a, pair in zip(self._spatial_axes(), self.padding):
            widths[a] = pair
        return pad(inputs, widths)

    def get_config(self):
        cfg = {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}
        if self.rank == 1:
            cfg["padding"] = list(self.padding[0])
        return cfg


class ZeroPadding1D(_ZeroPadding):
    """Zeros added before and after the steps of (batch, steps, channels) inputs (Keras
    3's ``keras.layers.ZeroPadding1D``).

    Args:
        padding: an int (both sides) or a pair (before, after).
        data_format: "channels_last" (or None) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.ZeroPadding1D((1, 2))(em.ones((2, 5, 3))).shape
        (2, 8, 3)
    """

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Rows and columns of zeros around (batch, height, width, channels) images (Keras
    3's ``keras.layers.ZeroPadding2D``).

    Args:
        padding: an int, a pair (symmetric height, width padding) or ((top, bottom),
            (left, right)).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.ZeroPadding2D(((1, 0), (2, 3)))(em.ones((1, 4, 4, 2))).shape
        (1, 5, 9, 2)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around the depth, height and width of (batch, depth, height, width,
    channels) volumes (Keras 3's ``keras.layers.ZeroPadding3D``).

    Args:
        padding: an int, a triple (symmetric per axis) or three (before, after) pairs.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.ZeroPadding3D(1)(em.ones((1, 2, 3, 4, 2))).shape
        (1, 4, 5, 6, 2)
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_format(data_format)
        self.cropping = _pairs(cropping, self.rank, "cropping", type(self).__name__)

    def compute_output_shape(self, input_shape):
        input_shape = self._check_rank(input_shape)
        out = list(input_shape)
        for a, (lo, hi) in zip(self._spatial_axes(), self.cropping):
            if out[a] is None:
                continue
            if lo + hi >= out[a]:
                raise ShapeError(f"{type(self).__name__} {self.name!r}: cropping {self.cropping} leaves nothing of "
                                 f"axis {a} of the input of shape {input_shape} (size {out[a]} <= {lo} + {hi})")
            out[a] -= lo + hi
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)
        key = [slice(None)] * inputs.ndim
        for a, (lo, hi) in zip(self._spatial_axes(), self.cropping):
            key[a] = slice(lo, inputs.shape[a] - hi)
        return core.getitem(inputs, tuple(key))

    def get_config(self):
        cfg = {**super().get_config(), "cropping": [list(p) for p in self.cropping]}
        if self.rank == 1:
            cfg["cropping"] = list(self.cropping[0])
        else:
            cfg["data_format"] = self.data_format
        return cfg


class Cropping1D(_Cropping):
    """Crops steps off the start and end of (batch, steps, channels) inputs (Keras 3's
    ``keras.layers.Cropping1D``).

    Args:
        cropping: an int (both ends) or a pair (start, end).

    Example:
        >>> import ember as em
        >>> em.layers.Cropping1D((1, 2))(em.ones((2, 6, 3))).shape
        (2, 3, 3)
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)


class Cropping2D(_Cropping):
    """Crops rows and columns off the borders of images (Keras 3's
    ``keras.layers.Cropping2D``).

    Args:
        cropping: an int, a pair (symmetric height, width) or ((top, bottom), (left,
            right)).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.Cropping2D(((2, 2), (4, 4)))(em.ones((2, 28, 28, 3))).shape
        (2, 24, 20, 3)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crops the depth, height and width of volumes (Keras 3's ``keras.layers.Cropping3D``).

    Args:
        cropping: an int, a triple (symmetric per axis) or three (before, after) pairs.
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.Cropping3D(1)(em.ones((1, 4, 5, 6, 2))).shape
        (1, 2, 3, 4, 2)
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class UpSampling1D(Layer):
    """Repeats each step ``size`` times (Keras 3's ``keras.layers.UpSampling1D``).

    Args:
        size: the upsampling factor, a positive int.

    Example:
        >>> import ember as em
        >>> em.layers.UpSampling1D(3)(em.ones((2, 4, 5))).shape
        (2, 12, 5)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        from ..ops.conv import normalize_tuple

        self.size = normalize_tuple(size, 1, "size", "UpSampling1D")[0]
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        n, steps, c = tuple(input_shape)
        return (n, None if steps is None else steps * self.size, c)

    def call(self, inputs):
        from ..ops.array_ops import repeat

        return repeat(inputs, self.size, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling2D(_Spatial):
    """Upsamples images by integer factors (Keras 3's ``keras.layers.UpSampling2D``):
    "nearest" repeats rows and columns; "bilinear" interpolates with half-pixel centres
    (``ops.image.resize``'s, as Keras: source coordinate (i + 0.5) / factor - 0.5,
    clamped at the borders).

    Args:
        size: an int or a pair (height factor, width factor).
        data_format: "channels_last" (or None, the default) or "channels_first".
        interpolation: "nearest" (the default) or "bilinear".

    Example:
        >>> import ember as em
        >>> em.layers.UpSampling2D((2, 3), interpolation="bilinear")(em.ones((1, 4, 4, 2))).shape
        (1, 8, 12, 2)
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        from ..ops.conv import normalize_tuple

        self._init_format(data_format)
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        if interpolation not in ("nearest", "bilinear"):
            raise InvalidArgumentError(f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', got "
                                       f"{interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        out = list(self._check_rank(input_shape))
        for a, f in zip(self._spatial_axes(), self.size):
            out[a] = None if out[a] is None else out[a] * f
        return tuple(out)

    def call(self, inputs):
        from ..ops.array_ops import repeat
        from .image_preprocessing import resize_images

        if self.interpolation == "nearest":
            (ha, wa), (fh, fw) = self._spatial_axes(), self.size
            return repeat(repeat(inputs, fh, axis=ha), fw, axis=wa)
        h, w = (inputs.shape[a] for a in self._spatial_axes())
        return resize_images(inputs, (h * self.size[0], w * self.size[1]), "bilinear", self.data_format)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling3D(_Spatial):
    """Repeats each depth, row and column slice of 5-D inputs by integer factors
    (Keras 3's ``keras.layers.UpSampling3D``, nearest-neighbour).

    Args:
        size: an int or a triple (depth, height, width factors); default (2, 2, 2).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.UpSampling3D((1, 2, 3))(em.ones((1, 2, 3, 4, 5))).shape
        (1, 2, 6, 12, 5)
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        from ..ops.conv import normalize_tuple

        self._init_format(data_format)
        self.size = normalize_tuple(size, 3, "size", "UpSampling3D")

    def compute_output_shape(self, input_shape):
        out = list(self._check_rank(input_shape))
        for a, f in zip(self._spatial_axes(), self.size):
            out[a] = None if out[a] is None else out[a] * f
        return tuple(out)

    def call(self, inputs):
        from ..ops.array_ops import repeat

        y = inputs
        for a, f in zip(self._spatial_axes(), self.size):
            if f != 1:
                y = repeat(y, f, axis=a)
        return y

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format}


class Permute(Layer):
    """Permutes the non-batch axes (Keras 3's ``keras.layers.Permute``): ``dims`` is a
    permutation of 1..rank-1 (the batch axis is 0 and stays first).

    Args:
        dims: a tuple of ints, the permutation, 1-indexed (``(2, 1)`` swaps the first
            two non-batch axes).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> em.layers.Permute((2, 1))(em.ones((4, 10, 64))).shape
        (4, 64, 10)
    """

    _supports_masking = True

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            raise InvalidArgumentError(f"Permute: dims must be a tuple of ints, got {dims!r}") from None
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims):
            raise InvalidArgumentError(f"Permute: dims must be a tuple of ints, got {dims!r}")
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise InvalidArgumentError(f"Permute: invalid permutation argument `dims`: it should contain all "
                                       f"integers from 1 to {len(dims)}; received dims={dims}")
        self.dims = dims
        self.input_spec = InputSpec(ndim=len(dims) + 1)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != len(self.dims) + 1:
            raise ShapeError(f"Permute {self.name!r}: dims {self.dims} need inputs of rank {len(self.dims) + 1}, got "
                             f"input shape {input_shape}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        return core.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
