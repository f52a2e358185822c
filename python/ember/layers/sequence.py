"""Layers around sequences: `Masking`, `RepeatVector` and `TimeDistributed` (Keras 3's
``keras.layers`` names, arguments and semantics)."""

from __future__ import annotations

import numbers

from .. import tree
from ..errors import InvalidArgumentError, ShapeError
from ..keras_tensor import KerasTensor
from ..ops import array_ops as array
from ..ops.core import broadcast_to, cast, multiply, not_equal, reshape
from .input_spec import InputSpec
from .layer import Layer, _AnyRank


class Masking(Layer, _AnyRank):
    """Masks the time steps whose features all equal ``mask_value`` (Keras 3's
    ``keras.layers.Masking``): the output is the input with those steps zeroed, and it
    carries the mask ``any(inputs != mask_value, axis=-1)`` (batch, time), which the
    recurrent layers, the losses and the metrics honour.

    Args:
        mask_value: the padding value (default 0.0).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> x = np.array([[[1.0], [2.0], [0.0]]], np.float32)
        >>> y = em.layers.Masking()(x)
        >>> y._keras_mask.numpy().tolist()
        [[1.0, 1.0, 0.0]]
    """

    integer_inputs = "cast"

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise InvalidArgumentError(f"Masking: mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def _keep(self, inputs, keepdims: bool):
        return array.any(not_equal(inputs, self.mask_value), axis=-1, keepdims=keepdims)

    def compute_mask(self, inputs, mask=None):
        if isinstance(inputs, KerasTensor):
            return KerasTensor(inputs.shape[:-1], dtype="float32")
        return self._keep(inputs, False)

    def call(self, inputs):
        if inputs.ndim < 2:
            raise ShapeError(f"Masking {self.name!r}: expected inputs with a feature axis, got shape {inputs.shape}")
        return multiply(inputs, self._keep(inputs, True))

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


class RepeatVector(Layer):
    """Repeats a (batch, features) input ``n`` times: (batch, n, features) (Keras 3's
    ``keras.layers.RepeatVector``).

    Args:
        n: a positive int, the number of repetitions.
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> em.layers.RepeatVector(3)(em.ones((2, 4))).shape
        (2, 3, 4)
    """

    integer_inputs = "cast"

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise InvalidArgumentError(f"RepeatVector: n must be a positive integer, got {n!r}")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        b, f = inputs.shape
        return broadcast_to(reshape(inputs, (b, 1, f)), (b, self.n, f))

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class TimeDistributed(Layer):
    """Applies a layer to every time step of a (batch, time, ...) input (Keras 3's
    ``keras.layers.TimeDistributed``): the batch and time axes are merged, the layer
    runs once on (batch * time, ...), and the result is split back. One set of weights
    serves every step. A mask on the input passes on unchanged.

    Args:
        layer: a `Layer` instance.
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> layer = em.layers.TimeDistributed(em.layers.Dense(8))
        >>> layer(em.ones((2, 10, 16))).shape
        (2, 10, 8)
        >>> layer.count_params()
        136
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"TimeDistributed: layer must be a Layer instance, got {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True
        self.input_spec = None

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ShapeError(f"TimeDistributed {self.name!r}: expected inputs of rank >= 3 (batch, time, ...), "
                             f"got shape {tuple(input_shape)}")
        self.layer._device = self._device
        self.layer._maybe_build((None,) + tuple(input_shape[2:]))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def call(self, inputs, training=None, mask=None):
        if inputs.ndim < 3:
            raise ShapeError(f"TimeDistributed {self.name!r}: expected inputs of rank >= 3 (batch, time, ...), "
                             f"got shape {inputs.shape}")
        b, t = inputs.shape[0], inputs.shape[1]
        kwargs = {}
        if training is not None and self.layer._call_has_training:
            kwargs["training"] = training
        if mask is not None and self.layer._call_has_mask:
            kwargs["mask"] = reshape(cast(mask, "float32"), (b * t,) + tuple(mask.shape[2:]))
        y = self.layer(reshape(inputs, (b * t,) + tuple(inputs.shape[2:])), **kwargs)
        if tree.is_nested(y):
            raise InvalidArgumentError(f"TimeDistributed {self.name!r}: the wrapped layer must return one tensor")
        return reshape(y, (b, t) + tuple(y.shape[1:]))

    def get_config(self):
        from .. import saving

        return {**super().get_config(), "layer": saving.serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict):
        from .. import saving

        config = dict(config)
        config["layer"] = saving.deserialize(config["layer"])
        return super().from_config(config)


__all__ = ["Masking", "RepeatVector", "TimeDistributed"]
