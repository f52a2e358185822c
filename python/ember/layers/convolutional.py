"""Convolution layers with Keras 3's names, arguments and weight layouts: Conv1D/2D/3D,
Conv1DTranspose/Conv2DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D.

Kernels are laid out as in Keras (Conv: (*kernel_size, in / groups, filters);
transposed: (*kernel_size, filters, in); depthwise: (*kernel_size, in,
depth_multiplier)), the same for both data formats, so weights move between the two
unchanged. The math is `ember.ops.conv` (`conv2d` with bias and relu/sigmoid/tanh
fused; 1-D over a unit height axis; 3-D as a sum of 2-D convolutions over the depth
taps; transposed as the input gradient of a convolution); channels_first inputs are
transposed to channels_last around it.
"""

from __future__ import annotations

import numbers

from .. import activations, initializers, regularizers
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..ops.conv import (
    _output_padding, conv_nd, conv_output_length, conv_transpose_nd, conv_transpose_padding,
    depthwise_kernel_as_grouped, normalize_data_format, normalize_padding, normalize_tuple, to_channels_first,
    to_channels_last,
)
from .input_spec import InputSpec
from .layer import Layer

__all__ = ["Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D",
           "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Convolution1D", "Convolution2D", "Convolution3D",
           "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConvolution1D",
           "SeparableConvolution2D"]

_FUSED = ("linear", "relu", "sigmoid", "tanh")
# Config keys Keras names depthwise_* in the depthwise and separable layers.
_KERNEL_KEYS = ("kernel_initializer", "kernel_regularizer", "kernel_constraint")


class _Conv(Layer):
    """The shared body of Conv1D and Conv2D (``rank`` spatial axes)."""

    rank = 2
    integer_inputs = "cast"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = type(self).__name__
        r = self.rank
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters <= 0:
            raise InvalidArgumentError(f"{owner}: filters must be a positive integer, got {filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups <= 0:
            raise InvalidArgumentError(f"{owner}: groups must be a positive integer, got {groups!r}")
        if filters % groups:
            raise InvalidArgumentError(
                f"{owner}: the number of filters must be divisible by the number of groups; received "
                f"groups={groups}, filters={filters}"
            )
        self.filters = int(filters)
        self.groups = int(groups)
        self.kernel_size = normalize_tuple(kernel_size, r, "kernel_size", owner)
        self.strides = normalize_tuple(strides, r, "strides", owner)
        self.dilation_rate = normalize_tuple(dilation_rate, r, "dilation_rate", owner)
        self.padding = normalize_padding(padding, owner, allow_causal=(r == 1))
        self.data_format = normalize_data_format(data_format, owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise InvalidArgumentError(
                f"{owner}: strides > 1 not supported in conjunction with dilation_rate > 1 (as in Keras); received "
                f"strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        if kernel_constraint is not None or bias_constraint is not None:
            raise InvalidArgumentError(f"{owner}: kernel_constraint and bias_constraint are not supported yet")
        self.activation = activations.get(activation)
        self._activation_name = activation if isinstance(activation, str) else activations.serialize(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = None
        self.bias = None
        self.input_spec = InputSpec(ndim=r + 2)

    def build(self, input_shape):
        owner = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(
                f"{owner} {self.name!r}: expected an input of rank {self.rank + 2} (batch, "
                f"{'steps' if self.rank == 1 else 'height, width'}, channels), got input shape {input_shape}"
            )
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ShapeError(f"{owner} {self.name!r}: the channel dimension of the inputs must be known, got input "
                             f"shape {input_shape}")
        if channels % self.groups:
            raise ShapeError(
                f"{owner} {self.name!r}: the number of input channels must be divisible by the number of groups; "
                f"received groups={self.groups}, input shape {input_shape}"
            )
        self.compute_output_shape(input_shape)  # a window that does not fit fails here, naming the layer
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    @property
    def _channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1

    def _spatial(self, input_shape) -> tuple:
        return tuple(input_shape[2:] if self.data_format == "channels_first" else input_shape[1:-1])

    def _with_spatial(self, input_shape, spatial, channels) -> tuple:
        if self.data_format == "channels_first":
            return (input_shape[0], channels) + tuple(spatial)
        return (input_shape[0],) + tuple(spatial) + (channels,)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        out = []
        for i, size in enumerate(self._spatial(input_shape)):
            n = conv_output_length(size, self.kernel_size[i], self.strides[i], self.dilation_rate[i], self.padding)
            if n is not None and n <= 0:
                raise ShapeError(
                    f"{type(self).__name__} {self.name!r}: computed output size would be {n}: the kernel "
                    f"{self.kernel_size} (dilation_rate {self.dilation_rate}) is larger than the input of shape "
                    f"{input_shape} with padding={self.padding!r}"
                )
            out.append(n)
        return self._with_spatial(input_shape, out, self._out_channels(input_shape))

    def _out_channels(self, input_shape):
        return self.filters

    def _compute(self, x, activation: str):
        """The channels_last math of the layer on x (channels_last)."""
        return conv_nd(x, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate, self.groups,
                       activation)

    def _conv(self, inputs, activation: str):
        x = to_channels_last(inputs, self.data_format)
        return to_channels_first(self._compute(x, activation), self.data_format)

    def call(self, inputs, training=False):
        act = self._activation_name
        if self.activation is activations.linear:
            return self._conv(inputs, "linear")
        if act in _FUSED:
            return self._conv(inputs, act)
        z = self._conv(inputs, "linear")
        y = self.activation(z)
        if act in ("softmax", "sigmoid"):
            y._keras_logits = (act, z)  # as Dense: a crossentropy loss can use the fused kernel
        return y

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": self._activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels) inputs (Keras 3's
    ``keras.layers.Conv2D``): ``activation(conv2d(inputs, kernel) + bias)``.

    Args:
        filters: the number of output channels.
        kernel_size: an int or a pair (kh, kw).
        strides: an int or a pair; strides > 1 cannot be combined with dilation_rate > 1.
        padding: "valid" (none) or "same" (output size ceil(input / stride); the odd
            extra row/column of padding goes at the end, as in Keras/TensorFlow).
        data_format: "channels_last" (or None, the default: (batch, ..., channels)) or
            "channels_first" ((batch, channels, ...)); the kernel layout is the same.
        dilation_rate: an int or a pair, the spacing of the kernel's taps.
        groups: split the channels into ``groups`` independent convolutions (both the
            input channels and ``filters`` must divide by it).
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializers of the kernel (kh, kw,
            in_channels // groups, filters) and of the bias (filters,).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> layer = em.layers.Conv2D(8, 3, activation="relu")
        >>> layer(em.ones((2, 10, 10, 3))).shape
        (2, 8, 8, 8)
        >>> layer.kernel.shape
        (3, 3, 3, 8)
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels) inputs (Keras 3's
    ``keras.layers.Conv1D``), computed as a Conv2D over a unit height axis.

    Args:
        filters: the number of output channels.
        kernel_size: an int (or a 1-tuple).
        strides: an int; strides > 1 cannot be combined with dilation_rate > 1.
        padding: "valid", "same" or "causal" (left padding only, so output t sees
            inputs up to t).
        data_format: "channels_last" (or None, the default: (batch, ..., channels)) or
            "channels_first" ((batch, channels, ...)); the kernel layout is the same.
        dilation_rate: an int, the spacing of the kernel's taps.
        groups: split the channels into ``groups`` independent convolutions.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializers of the kernel (k,
            in_channels // groups, filters) and of the bias (filters,).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> em.layers.Conv1D(4, 3, padding="causal")(em.ones((2, 10, 3))).shape
        (2, 10, 4)
    """

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv3D(_Conv):
    """3-D convolution over (batch, depth, height, width, channels) inputs (Keras 3's
    ``keras.layers.Conv3D``), computed as a sum over the depth taps of 2-D convolutions.

    Args:
        filters: the number of output channels.
        kernel_size: an int or a triple (kd, kh, kw).
        strides: an int or a triple; strides > 1 cannot be combined with dilation_rate > 1.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first"
            ((batch, channels, depth, height, width)).
        dilation_rate: an int or a triple.
        groups: split the channels into ``groups`` independent convolutions.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializers of the kernel (kd, kh, kw,
            in_channels // groups, filters) and of the bias (filters,).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> em.layers.Conv3D(4, 3, padding="same")(em.ones((1, 5, 6, 7, 2))).shape
        (1, 5, 6, 7, 4)
    """

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


# -- transposed convolutions ----------------------------------------------------------------------

class _ConvTranspose(_Conv):
    """The shared body of Conv1DTranspose and Conv2DTranspose."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)
        owner = type(self).__name__
        if self.padding == "causal":
            raise InvalidArgumentError(f"{owner}: padding must be 'valid' or 'same', got 'causal'")
        self.output_padding = None if output_padding is None else _output_padding(output_padding, self.rank,
                                                                                  self.strides, owner)

    def build(self, input_shape):
        owner = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{owner} {self.name!r}: expected an input of rank {self.rank + 2}, got input shape "
                             f"{input_shape}")
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ShapeError(f"{owner} {self.name!r}: the channel dimension of the inputs must be known, got input "
                             f"shape {input_shape}")
        self.compute_output_shape(input_shape)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})
        # Keras's layout: the output channels (filters) before the input channels.
        self.kernel = self.add_weight(self.kernel_size + (self.filters, channels), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        out = []
        for i, size in enumerate(self._spatial(input_shape)):
            if size is None:
                out.append(None)
                continue
            n, _ = conv_transpose_padding(size, self.kernel_size[i], self.strides[i], self.dilation_rate[i],
                                          self.padding, None if self.output_padding is None else self.output_padding[i])
            if n <= 0:
                raise ShapeError(f"{type(self).__name__} {self.name!r}: computed output size would be {n} for the "
                                 f"input of shape {input_shape}")
            out.append(n)
        return self._with_spatial(input_shape, out, self.filters)

    def _compute(self, x, activation: str):
        return conv_transpose_nd(x, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                                 self.dilation_rate, activation)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("groups")
        cfg["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return cfg


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution (Keras 3's ``keras.layers.Conv2DTranspose``, a
    "deconvolution"): the input gradient of a Conv2D, so a stride-2 layer doubles the
    height and width.

    Output size per axis, with ek = (k - 1) * dilation + 1: "valid" gives
    (size - 1) * stride + max(ek, stride), "same" gives size * stride; with
    ``output_padding`` p it is (size - 1) * stride + ek - 2 * pad + p, pad = ek // 2 for
    "same" and 0 for "valid" (Keras).

    Args:
        filters: the number of output channels.
        kernel_size: an int or a pair.
        strides: an int or a pair.
        padding: "valid" or "same".
        output_padding: None, an int or a pair, each strictly less than its stride.
        data_format: "channels_last" (or None, the default) or "channels_first".
        dilation_rate: an int or a pair.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializers of the kernel (kh, kw,
            filters, in_channels), Keras's layout, and of the bias (filters,).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> layer = em.layers.Conv2DTranspose(4, 3, strides=2, padding="same")
        >>> layer(em.ones((2, 5, 5, 3))).shape
        (2, 10, 10, 4)
        >>> layer.kernel.shape
        (3, 3, 4, 3)
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution (Keras 3's ``keras.layers.Conv1DTranspose``) of
    (batch, steps, channels) inputs; see `Conv2DTranspose` for the output size.

    Args:
        filters: the number of output channels.
        kernel_size: an int.
        strides: an int.
        padding: "valid" or "same".
        output_padding: None or an int strictly less than the stride.
        data_format: "channels_last" (or None, the default) or "channels_first".
        dilation_rate: an int.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializers of the kernel (k, filters,
            in_channels) and of the bias (filters,).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> em.layers.Conv1DTranspose(2, 4, strides=2)(em.ones((1, 6, 3))).shape
        (1, 14, 2)
    """

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


# -- depthwise and separable convolutions -----------------------------------------------------------

def _positive_int(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidArgumentError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution (Keras 3's ``keras.layers.Conv3DTranspose``) of
    (batch, depth, height, width, channels) inputs, composed of 2-D transposed
    convolutions over the depth taps (`ember.ops.conv.conv3d_transpose`); see
    `Conv2DTranspose` for the output size along each axis.

    Args:
        filters: the number of output channels.
        kernel_size: an int or a triple.
        strides: an int or a triple.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first".
        output_padding: None, an int or a triple, each strictly less than its stride.
        dilation_rate: an int or a triple.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializers of the kernel (kd, kh, kw,
            filters, in_channels), Keras's layout, and of the bias (filters,).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> em.layers.Conv3DTranspose(2, 3, strides=2, padding="same")(em.ones((1, 3, 4, 5, 2))).shape
        (1, 6, 8, 10, 2)
    """

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None, output_padding=None,
                 dilation_rate=(1, 1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class _DepthwiseConv(_Conv):
    """The shared body of DepthwiseConv1D/2D: a grouped convolution with groups =
    channels and ``depth_multiplier`` filters per channel."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", type(self).__name__)
        super().__init__(1, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        if self.padding == "causal":
            raise InvalidArgumentError(f"{type(self).__name__}: padding must be 'valid' or 'same', got 'causal'")

    def build(self, input_shape):
        owner = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{owner} {self.name!r}: expected an input of rank {self.rank + 2}, got input shape "
                             f"{input_shape}")
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ShapeError(f"{owner} {self.name!r}: the channel dimension of the inputs must be known, got input "
                             f"shape {input_shape}")
        self.compute_output_shape(input_shape)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})
        self.kernel = self.add_weight(self.kernel_size + (channels, self.depth_multiplier), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((channels * self.depth_multiplier,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    def _out_channels(self, input_shape):
        c = input_shape[self._channel_axis]
        return None if c is None else c * self.depth_multiplier

    def _compute(self, x, activation: str):
        return conv_nd(x, depthwise_kernel_as_grouped(self.kernel), self.bias, self.strides, self.padding,
                       self.dilation_rate, x.shape[-1], activation)

    def get_config(self):
        cfg = super().get_config()
        for key in ("filters", "groups"):
            cfg.pop(key)
        out = {}
        for key, value in cfg.items():
            out["depthwise_" + key[len("kernel_"):] if key in _KERNEL_KEYS else key] = value
        out["depth_multiplier"] = self.depth_multiplier
        return out


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution (Keras 3's ``keras.layers.DepthwiseConv2D``): each
    input channel convolved with its own ``depth_multiplier`` filters (output channel
    ``c * depth_multiplier + j``), a grouped Conv2D with groups = channels.

    Args:
        kernel_size: an int or a pair.
        strides: an int or a pair; strides > 1 cannot be combined with dilation_rate > 1.
        padding: "valid" or "same".
        depth_multiplier: filters per input channel.
        data_format: "channels_last" (or None, the default) or "channels_first".
        dilation_rate: an int or a pair.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per output channel.
        depthwise_initializer, bias_initializer: initializers of the kernel (kh, kw,
            channels, depth_multiplier) and of the bias (channels * depth_multiplier,).
        depthwise_regularizer, bias_regularizer, activity_regularizer: regularizers.
        depthwise_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> layer = em.layers.DepthwiseConv2D(3, depth_multiplier=2)
        >>> layer(em.ones((1, 6, 6, 3))).shape
        (1, 4, 4, 6)
        >>> layer.kernel.shape
        (3, 3, 3, 2)
    """

    rank = 2

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution (Keras 3's ``keras.layers.DepthwiseConv1D``) of (batch,
    steps, channels) inputs; see `DepthwiseConv2D`.

    Args:
        kernel_size: an int.
        strides: an int.
        padding: "valid" or "same".
        depth_multiplier: filters per input channel.
        data_format: "channels_last" (or None, the default) or "channels_first".
        dilation_rate: an int.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per output channel.
        depthwise_initializer, bias_initializer: initializers of the kernel (k,
            channels, depth_multiplier) and of the bias.
        depthwise_regularizer, bias_regularizer, activity_regularizer: regularizers.
        depthwise_constraint, bias_constraint: not supported yet (must be None).

    Example:
        >>> import ember as em
        >>> em.layers.DepthwiseConv1D(3, padding="same")(em.ones((1, 8, 4))).shape
        (1, 8, 4)
    """

    rank = 1

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class _SeparableConv(_Conv):
    """The shared body of SeparableConv1D/2D: a depthwise convolution (strides,
    padding, dilation) then a pointwise 1 x 1 convolution to ``filters``."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        owner = type(self).__name__
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", owner)
        if pointwise_constraint is not None:
            raise InvalidArgumentError(f"{owner}: pointwise_constraint is not supported yet")
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        if self.padding == "causal":
            raise InvalidArgumentError(f"{owner}: padding must be 'valid' or 'same', got 'causal'")
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_kernel = None
        self.pointwise_kernel = None

    def build(self, input_shape):
        owner = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{owner} {self.name!r}: expected an input of rank {self.rank + 2}, got input shape "
                             f"{input_shape}")
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ShapeError(f"{owner} {self.name!r}: the channel dimension of the inputs must be known, got input "
                             f"shape {input_shape}")
        self.compute_output_shape(input_shape)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})
        self.depthwise_kernel = self.add_weight(self.kernel_size + (channels, self.depth_multiplier),
                                                self.kernel_initializer, name="depthwise_kernel",
                                                regularizer=self.kernel_regularizer)
        self.pointwise_kernel = self.add_weight((1,) * self.rank + (channels * self.depth_multiplier, self.filters),
                                                self.pointwise_initializer, name="pointwise_kernel",
                                                regularizer=self.pointwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    def _compute(self, x, activation: str):
        one = (1,) * self.rank
        y = conv_nd(x, depthwise_kernel_as_grouped(self.depthwise_kernel), None, self.strides, self.padding,
                    self.dilation_rate, x.shape[-1])
        return conv_nd(y, self.pointwise_kernel, self.bias, one, "valid", one, 1, activation)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("groups")
        out = {}
        for key, value in cfg.items():
            out["depthwise_" + key[len("kernel_"):] if key in _KERNEL_KEYS else key] = value
        out["depth_multiplier"] = self.depth_multiplier
        out["pointwise_initializer"] = initializers.serialize(self.pointwise_initializer)
        out["pointwise_regularizer"] = regularizers.serialize(self.pointwise_regularizer)
        out["pointwise_constraint"] = None
        return out


class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2-D convolution (Keras 3's ``keras.layers.SeparableConv2D``):
    a depthwise convolution (strides, padding, dilation apply to it) followed by a 1 x 1
    convolution to ``filters``, then the bias and activation.

    Args:
        filters: the number of output channels.
        kernel_size: an int or a pair, the depthwise window.
        strides: an int or a pair; strides > 1 cannot be combined with dilation_rate > 1.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first".
        dilation_rate: an int or a pair.
        depth_multiplier: depthwise filters per input channel.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers of
            depthwise_kernel (kh, kw, channels, depth_multiplier), pointwise_kernel (1, 1,
            channels * depth_multiplier, filters) and bias (filters,).
        depthwise_regularizer, pointwise_regularizer, bias_regularizer,
            activity_regularizer: regularizers.
        depthwise_constraint, pointwise_constraint, bias_constraint: not supported yet.

    Example:
        >>> import ember as em
        >>> layer = em.layers.SeparableConv2D(8, 3, padding="same")
        >>> layer(em.ones((1, 6, 6, 3))).shape
        (1, 6, 6, 8)
        >>> [w.shape for w in layer.weights]
        [(3, 3, 3, 1), (1, 1, 3, 8), (8,)]
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1-D convolution (Keras 3's ``keras.layers.SeparableConv1D``)
    of (batch, steps, channels) inputs; see `SeparableConv2D`.

    Args:
        filters: the number of output channels.
        kernel_size: an int.
        strides: an int.
        padding: "valid" or "same".
        data_format: "channels_last" (or None, the default) or "channels_first".
        dilation_rate: an int.
        depth_multiplier: depthwise filters per input channel.
        activation: an activation name or callable; None is linear.
        use_bias: whether to add a bias per filter.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer,
            activity_regularizer: regularizers.
        depthwise_constraint, pointwise_constraint, bias_constraint: not supported yet.

    Example:
        >>> import ember as em
        >>> em.layers.SeparableConv1D(5, 3, depth_multiplier=2)(em.ones((2, 9, 4))).shape
        (2, 7, 5)
    """

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


# Keras's alternative names of the same classes.
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
