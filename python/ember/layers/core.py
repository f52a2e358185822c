"""Core layers: Input / InputLayer, Dense, Activation."""

from __future__ import annotations

from .. import activations, initializers, regularizers
from ..errors import InvalidArgumentError, ShapeError
from ..ops import nn
from .layer import Layer, _AnyRank, _shape_arg


class KerasTensor:
    """The symbolic input returned by ``Input(shape)``: a shape and a name, no values."""

    def __init__(self, shape: tuple, name: str | None = None):
        self.shape = shape
        self.name = name
        self.dtype = "float32"

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, name={self.name}>"


class InputLayer(Layer, _AnyRank):
    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, input_shape=None, **kwargs):
        if shape is None and input_shape is not None:
            shape = input_shape
        if shape is None and batch_shape is None:
            raise InvalidArgumentError("InputLayer: pass shape=(...)")
        bshape = tuple(batch_shape) if batch_shape is not None else (batch_size,) + _shape_arg(shape, "InputLayer")
        super().__init__(name=name, **kwargs)
        self._batch_input_shape = bshape

    def get_config(self):
        return {"name": self.name, "batch_shape": list(self._batch_input_shape)}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, tensor=None, sparse=None, optional=False) -> KerasTensor:
    """A symbolic model input of per-sample ``shape`` (Keras ``keras.Input``)."""
    if shape is None and batch_shape is None:
        raise InvalidArgumentError("Input: pass shape=(...)")
    bshape = tuple(batch_shape) if batch_shape is not None else (batch_size,) + _shape_arg(shape, "Input")
    return KerasTensor(bshape, name)


_FUSED = ("linear", "relu", "tanh")


class Dense(Layer):
    """``output = activation(dot(input, kernel) + bias)``, kernel laid out (in, units).

    Example:
        >>> import ember as em
        >>> layer = em.layers.Dense(3, activation="relu")
        >>> layer(em.ones((2, 4))).shape
        (2, 3)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise InvalidArgumentError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self._activation_name = activation if isinstance(activation, str) else activations.serialize(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ShapeError(f"Dense: the last input dimension must be known, got input shape {input_shape}")
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, inputs, training=False):
        act = self._activation_name
        if act in _FUSED or self.activation is activations.linear:
            return nn.dense(inputs, self.kernel, self.bias, "linear" if self.activation is activations.linear else act)
        z = nn.dense(inputs, self.kernel, self.bias, "linear")
        y = self.activation(z)
        if act in ("softmax", "sigmoid"):
            # Keep the logits so a crossentropy loss can use the stable fused kernel.
            y._keras_logits = (act, z)
        return y

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self._activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
        }


class Activation(Layer, _AnyRank):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._activation_name = activation if isinstance(activation, str) else activations.serialize(self.activation)

    def call(self, inputs, training=False):
        y = self.activation(inputs)
        if self._activation_name in ("softmax", "sigmoid") and y is not inputs:
            y._keras_logits = (self._activation_name, inputs)
        return y

    def get_config(self):
        return {**super().get_config(), "activation": self._activation_name}
