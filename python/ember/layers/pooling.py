"""Pooling layers (Keras 3's ``keras.layers.MaxPooling2D`` and friends), 1-, 2- and 3-D,
channels_last or channels_first.

The 2-D layers are `ember.ops.conv.max_pool2d` / ``average_pool2d``; the 1-D ones the
same over a unit height axis; the 3-D ones a 2-D pool of every depth slice then a pool
over the depth (max and mean over input elements are separable over the axes); the
global ones a mean / max over the spatial axes. channels_first inputs are transposed to
channels_last around the kernels.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..ops.conv import (
    adaptive_average_pool, adaptive_max_pool, conv_output_length, normalize_data_format, normalize_padding, normalize_tuple, pool_nd, to_channels_first,
    to_channels_last,
)
from ..ops import core
from .input_spec import InputSpec
from .layer import Layer

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPooling3D", "AveragePooling3D",
    "GlobalAveragePooling3D", "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D",
    "AvgPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
    "GlobalMaxPool3D", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
]


class _Pooling(Layer):
    rank = 2
    mode = "max"
    integer_inputs = "cast"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", owner)
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, self.rank, "strides", owner)
        self.padding = normalize_padding(padding, owner)
        self.data_format = normalize_data_format(data_format, owner)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # a window that does not fit fails here, naming the layer

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        first = self.data_format == "channels_first"
        out = []
        for i, size in enumerate(input_shape[2:] if first else input_shape[1:-1]):
            n = conv_output_length(size, self.pool_size[i], self.strides[i], 1, self.padding)
            if n is not None and n <= 0:
                raise ShapeError(
                    f"{type(self).__name__} {self.name!r}: computed output size would be {n}: pool_size "
                    f"{self.pool_size} is larger than the input of shape {input_shape} with padding={self.padding!r}"
                )
            out.append(n)
        if first:
            return (input_shape[0], input_shape[1]) + tuple(out)
        return (input_shape[0],) + tuple(out) + (input_shape[-1],)

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        y = pool_nd(self.mode, x, self.pool_size, self.strides, self.padding)
        return to_channels_first(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "padding": self.padding,
                "strides": list(self.strides), "data_format": self.data_format}


class MaxPooling2D(_Pooling):
    """The maximum over windows of (batch, height, width, channels) inputs (Keras 3's
    ``keras.layers.MaxPooling2D``); the gradient goes to each window's first maximum.

    Args:
        pool_size: an int or a pair, the window size.
        strides: an int or a pair; None (the default) means pool_size.
        padding: "valid" (windows inside the input) or "same" (output size ceil(input /
            stride), the odd extra padding at the end; padding never wins a window).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.MaxPooling2D(3)(em.ones((2, 28, 28, 64))).shape
        (2, 9, 9, 64)
    """

    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling2D(_Pooling):
    """The mean over windows of (batch, height, width, channels) inputs (Keras 3's
    ``keras.layers.AveragePooling2D``); with "same" padding a window averages only its
    input elements (as Keras/TensorFlow).

    Args:
        pool_size: an int or a pair, the window size.
        strides: an int or a pair; None (the default) means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.AveragePooling2D(2, padding="same")(em.ones((1, 5, 5, 2))).shape
        (1, 3, 3, 2)
    """

    rank, mode = 2, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling1D(_Pooling):
    """The maximum over windows of (batch, steps, channels) inputs (Keras 3's
    ``keras.layers.MaxPooling1D``).

    Args:
        pool_size: an int, the window size.
        strides: an int; None (the default) means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.MaxPooling1D()(em.ones((2, 9, 3))).shape
        (2, 4, 3)
    """

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling1D(_Pooling):
    """The mean over windows of (batch, steps, channels) inputs (Keras 3's
    ``keras.layers.AveragePooling1D``).

    Args:
        pool_size: an int, the window size.
        strides: an int; None (the default) means pool_size.
        padding: "valid" or "same" (a window averages only its input elements).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.AveragePooling1D(3, strides=1)(em.ones((2, 9, 3))).shape
        (2, 7, 3)
    """

    rank, mode = 1, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling3D(_Pooling):
    """The maximum over windows of (batch, depth, height, width, channels) inputs (Keras
    3's ``keras.layers.MaxPooling3D``).

    Args:
        pool_size: an int or a triple, the window size.
        strides: an int or a triple; None (the default) means pool_size.
        padding: "valid" or "same" (padding never wins a window).
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.MaxPooling3D()(em.ones((1, 4, 5, 6, 2))).shape
        (1, 2, 2, 3, 2)
    """

    rank, mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling3D(_Pooling):
    """The mean over windows of (batch, depth, height, width, channels) inputs (Keras 3's
    ``keras.layers.AveragePooling3D``); with "same" padding a window averages only its
    input elements.

    Args:
        pool_size: an int or a triple, the window size.
        strides: an int or a triple; None (the default) means pool_size.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.layers.AveragePooling3D(2, padding="same")(em.ones((1, 3, 3, 3, 2))).shape
        (1, 2, 2, 2, 2)
    """

    rank, mode = 3, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class _GlobalPooling(Layer):
    rank = 2
    mode = "average"
    integer_inputs = "cast"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        first = self.data_format == "channels_first"
        channels = input_shape[1] if first else input_shape[-1]
        if self.keepdims:
            ones = (1,) * self.rank
            return (input_shape[0], channels) + ones if first else (input_shape[0],) + ones + (channels,)
        return (input_shape[0], channels)

    def call(self, inputs):
        start = 2 if self.data_format == "channels_first" else 1
        axes = tuple(range(start, start + self.rank))
        fn = core.mean if self.mode == "average" else core.max
        return fn(inputs, axis=axes, keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over the spatial axes of (batch, height, width, channels) inputs (Keras
    3's ``keras.layers.GlobalAveragePooling2D``).

    Args:
        data_format: "channels_last" (or None, the default) or "channels_first".
        keepdims: keep the spatial axes with size 1: (batch, 1, 1, channels).

    Example:
        >>> import ember as em
        >>> em.layers.GlobalAveragePooling2D()(em.ones((2, 4, 4, 3))).shape
        (2, 3)
    """

    rank, mode = 2, "average"


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over the spatial axes of (batch, height, width, channels) inputs
    (Keras 3's ``keras.layers.GlobalMaxPooling2D``).

    Args:
        data_format: "channels_last" (or None, the default) or "channels_first".
        keepdims: keep the spatial axes with size 1: (batch, 1, 1, channels).

    Example:
        >>> import ember as em
        >>> em.layers.GlobalMaxPooling2D(keepdims=True)(em.ones((2, 4, 4, 3))).shape
        (2, 1, 1, 3)
    """

    rank, mode = 2, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps of (batch, steps, channels) inputs (Keras 3's
    ``keras.layers.GlobalAveragePooling1D``; masks are not supported yet).

    Args:
        data_format: "channels_last" (or None, the default) or "channels_first".
        keepdims: keep the steps axis with size 1: (batch, 1, channels).

    Example:
        >>> import ember as em
        >>> em.layers.GlobalAveragePooling1D()(em.ones((2, 7, 3))).shape
        (2, 3)
    """

    rank, mode = 1, "average"


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps of (batch, steps, channels) inputs (Keras 3's
    ``keras.layers.GlobalMaxPooling1D``).

    Args:
        data_format: "channels_last" (or None, the default) or "channels_first".
        keepdims: keep the steps axis with size 1: (batch, 1, channels).

    Example:
        >>> import ember as em
        >>> em.layers.GlobalMaxPooling1D()(em.ones((2, 7, 3))).shape
        (2, 3)
    """

    rank, mode = 1, "max"


class GlobalAveragePooling3D(_GlobalPooling):
    """The mean over the spatial axes of (batch, depth, height, width, channels) inputs
    (Keras 3's ``keras.layers.GlobalAveragePooling3D``).

    Args:
        data_format: "channels_last" (or None, the default) or "channels_first".
        keepdims: keep the spatial axes with size 1.

    Example:
        >>> import ember as em
        >>> em.layers.GlobalAveragePooling3D()(em.ones((2, 3, 4, 5, 6))).shape
        (2, 6)
    """

    rank, mode = 3, "average"


class GlobalMaxPooling3D(_GlobalPooling):
    """The maximum over the spatial axes of (batch, depth, height, width, channels)
    inputs (Keras 3's ``keras.layers.GlobalMaxPooling3D``).

    Args:
        data_format: "channels_last" (or None, the default) or "channels_first".
        keepdims: keep the spatial axes with size 1.

    Example:
        >>> import ember as em
        >>> em.layers.GlobalMaxPooling3D(keepdims=True)(em.ones((2, 3, 4, 5, 6))).shape
        (2, 1, 1, 1, 6)
    """

    rank, mode = 3, "max"


class _AdaptivePooling(Layer):
    rank = 2
    mode = "average"
    integer_inputs = "cast"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.output_size = normalize_tuple(output_size, self.rank, "output_size", owner)
        self.data_format = normalize_data_format(data_format, owner)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        if self.data_format == "channels_last":
            return (input_shape[0],) + self.output_size + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + self.output_size

    def call(self, inputs):
        fn = adaptive_average_pool if self.mode == "average" else adaptive_max_pool
        return fn(inputs, self.output_size, self.data_format)

    def get_config(self):
        return {**super().get_config(), "output_size": list(self.output_size), "data_format": self.data_format}


_ADAPTIVE_DOC = """{what} pooling to a fixed output size (Keras 3's ``keras.layers.{name}``):
    output position i of each spatial axis is the {stat} of its input window
    ``[floor(i L / out), ceil((i + 1) L / out))`` (PyTorch's adaptive windows), so any input
    size gives ``output_size`` (`ember.ops.adaptive_{op}_pool`).

    Args:
        output_size: an int or {n} ints, the output's spatial size.
        data_format: "channels_last" (or None, the default) or "channels_first".
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> em.layers.{name}({example_size})(em.ones({example_in})).shape
        {example_out}
    """


def _adaptive(name: str, rank: int, mode: str, example_size, example_in, example_out):
    what, stat, op = ("Average", "mean", "average") if mode == "average" else ("Max", "maximum", "max")
    doc = _ADAPTIVE_DOC.format(what=what, name=name, stat=stat, op=op, n=rank, example_size=example_size,
                               example_in=example_in, example_out=example_out)
    return type(name, (_AdaptivePooling,), {"__doc__": doc, "rank": rank, "mode": mode, "__module__": __name__})


AdaptiveAveragePooling1D = _adaptive("AdaptiveAveragePooling1D", 1, "average", 3, (2, 7, 4), (2, 3, 4))
AdaptiveAveragePooling2D = _adaptive("AdaptiveAveragePooling2D", 2, "average", (2, 3), (2, 7, 8, 4), (2, 2, 3, 4))
AdaptiveAveragePooling3D = _adaptive("AdaptiveAveragePooling3D", 3, "average", 2, (1, 5, 6, 7, 2), (1, 2, 2, 2, 2))
AdaptiveMaxPooling1D = _adaptive("AdaptiveMaxPooling1D", 1, "max", 3, (2, 7, 4), (2, 3, 4))
AdaptiveMaxPooling2D = _adaptive("AdaptiveMaxPooling2D", 2, "max", (2, 3), (2, 7, 8, 4), (2, 2, 3, 4))
AdaptiveMaxPooling3D = _adaptive("AdaptiveMaxPooling3D", 3, "max", 2, (1, 5, 6, 7, 2), (1, 2, 2, 2, 2))


# Keras's alternative names of the same classes.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
