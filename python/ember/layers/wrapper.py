"""`Wrapper`: the base of layers that wrap another layer (Keras 3's
``keras.layers.Wrapper``; `SpectralNormalization` derives from it)."""

from __future__ import annotations

from ..errors import InvalidArgumentError, InvalidConfigError
from .layer import Layer


class Wrapper(Layer):
    """Abstract base of the layers that take another layer and augment it (Keras 3's
    ``keras.layers.Wrapper``): it stores ``layer``, builds it with the wrapper's input
    shape, calls it by default, and (de)serializes it inside its own config.

    Args:
        layer: the `Layer` to wrap.
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> class Doubled(em.layers.Wrapper):
        ...     def call(self, x):
        ...         return self.layer(x) * 2.0
        >>> Doubled(em.layers.Dense(3))(em.ones((2, 4))).shape
        (2, 3)
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"Layer {layer!r} supplied to Wrapper isn't a supported layer type; please "
                                       "ensure the wrapped layer is an ember Layer")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer._device = self._device
            self.layer._maybe_build(input_shape)

    def call(self, inputs, training=None):
        if training is not None and self.layer._call_has_training:
            return self.layer(inputs, training=training)
        return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        from .. import saving

        return {**super().get_config(), "layer": saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .. import saving

        if not isinstance(config, dict) or "layer" not in config:
            raise InvalidConfigError(f"{cls.__name__}.from_config: expected a dict with a 'layer' entry, got "
                                     f"{type(config).__name__}")
        config = dict(config)
        layer = saving.deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)


__all__ = ["Wrapper"]
