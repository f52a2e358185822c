"""Convolution layers: Conv1D, Conv2D (Keras 3's ``keras.layers.Conv1D/Conv2D``).

Inputs are channels_last (Keras's default); kernels are laid out (kh, kw, in / groups,
filters) as in Keras, so weights move between the two unchanged. The math is
`ember.ops.conv.conv2d` (bias and relu/sigmoid/tanh fused); Conv1D is a Conv2D over a
unit height axis.
"""

from __future__ import annotations

import numbers

from .. import activations, initializers, regularizers
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..ops.conv import conv2d, conv_output_length, normalize_data_format, normalize_padding, normalize_tuple
from .input_spec import InputSpec
from .layer import Layer

__all__ = ["Conv1D", "Conv2D"]

_FUSED = ("linear", "relu", "sigmoid", "tanh")


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
        channels = input_shape[-1]
        if channels is None:
            raise ShapeError(f"{owner} {self.name!r}: the channel dimension of the inputs must be known, got input "
                             f"shape {input_shape}")
        if channels % self.groups:
            raise ShapeError(
                f"{owner} {self.name!r}: the number of input channels must be divisible by the number of groups; "
                f"received groups={self.groups}, input shape {input_shape}"
            )
        self.compute_output_shape(input_shape)  # a window that does not fit fails here, naming the layer
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected an input of rank {self.rank + 2}, got "
                             f"input shape {input_shape}")
        out = []
        for i, size in enumerate(input_shape[1:-1]):
            n = conv_output_length(size, self.kernel_size[i], self.strides[i], self.dilation_rate[i],
                                            self.padding)
            if n is not None and n <= 0:
                raise ShapeError(
                    f"{type(self).__name__} {self.name!r}: computed output size would be {n}: the kernel "
                    f"{self.kernel_size} (dilation_rate {self.dilation_rate}) is larger than the input of shape "
                    f"{input_shape} with padding={self.padding!r}"
                )
            out.append(n)
        return (input_shape[0],) + tuple(out) + (self.filters,)

    def _conv(self, inputs, activation: str):
        if self.rank == 2:
            return conv2d(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                                   self.groups, activation)
        # The unit height axis is never padded (k = stride = dilation = 1), "causal" included.
        x = core.reshape(inputs, (inputs.shape[0], 1) + inputs.shape[1:])
        k = core.reshape(self.kernel, (1,) + self.kernel.shape)
        y = conv2d(x, k, self.bias, (1,) + self.strides, self.padding, (1,) + self.dilation_rate, self.groups,
                            activation)
        return core.reshape(y, (y.shape[0],) + y.shape[2:])

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
        data_format: "channels_last" (or None, the default); "channels_first" raises
            InvalidArgumentError for now.
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
        data_format: "channels_last" (or None, the default); "channels_first" raises
            InvalidArgumentError for now.
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
