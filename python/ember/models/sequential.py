"""`Sequential`: a plain stack of layers, each with one input and one output.

As in Keras 3, once the input shape is known (an ``Input`` first, ``input_shape=`` on the
first layer, ``build(shape)``, or the first call) the stack is built as a `Functional`
graph, and calls run through it: one execution path for both kinds of model.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError, SerializationError
from ..keras_tensor import KerasTensor
from ..layers.core import InputLayer
from ..layers.layer import Layer
from .model import Model


class Sequential(Model):
    """Keras's Sequential model.

    Args:
        layers: the layers in order (``keras.Input(...)`` may come first).
        trainable: whether the model's weights are trained.
        name: the model's name.
        **kwargs: ``dtype`` (float32, the only compute dtype); any other keyword is an
            `InvalidArgumentError`.

    Example:
        >>> import ember as em
        >>> model = em.Sequential([em.Input((4,)), em.layers.Dense(8, activation="relu"), em.layers.Dense(3)])
        >>> model.count_params()
        67
    """

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        unknown = sorted(k for k in kwargs if k != "dtype")
        if unknown:
            raise InvalidArgumentError(f"Sequential: unexpected keyword arguments {unknown}")
        super().__init__(trainable=trainable, name=name, **kwargs)
        self._functional = None
        if layers is None:
            layers = []
        if isinstance(layers, (Layer, KerasTensor)):
            layers = [layers]
        if not isinstance(layers, (list, tuple)):
            raise InvalidArgumentError(f"Sequential: layers must be a list of layers, got {type(layers).__name__}")
        for layer in layers:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    @property
    def layers(self) -> list:
        """The layers, without the InputLayer (Keras 3)."""
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def add(self, layer, rebuild: bool = True) -> None:
        """Appends a layer (or a ``keras.Input``, first only)."""
        if isinstance(layer, KerasTensor):
            hist = layer._keras_history
            if hist is not None and isinstance(hist.operation, InputLayer):
                layer = hist.operation
            else:
                layer = InputLayer(batch_shape=layer.shape, dtype=layer.dtype)
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"Sequential.add: expected a Layer, got {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise InvalidArgumentError("Sequential: an Input must come first")
        elif not self._layers and layer._batch_input_shape is not None:
            # ``input_shape=`` on the first layer: Keras makes the InputLayer from it.
            self._layers.append(InputLayer(batch_shape=layer._batch_input_shape))
        if any(layer is l for l in self._layers):
            raise InvalidArgumentError(f"Sequential.add: layer {layer.name!r} is already in the model")
        self._layers.append(layer)
        if rebuild:
            self._maybe_rebuild()
        else:
            self.built = False
            self._functional = None

    def pop(self, rebuild: bool = True) -> Layer:
        """Removes and returns the last layer."""
        if not self.layers:
            raise InvalidArgumentError("Sequential.pop: there are no layers to remove")
        layer = self._layers.pop()
        self.built = False
        self._functional = None
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self) -> None:
        self.built = False
        self._functional = None
        if self._layers and isinstance(self._layers[0], InputLayer) and len(self._layers) > 1:
            self.build(self._layers[0].batch_shape)

    def build(self, input_shape=None) -> None:
        if input_shape is None:
            if self._layers and isinstance(self._layers[0], InputLayer):
                input_shape = self._layers[0].batch_shape
            else:
                raise InvalidArgumentError("Sequential.build: the input shape is unknown")
        shape = (None,) + tuple(input_shape)[1:]
        if not self._layers or not isinstance(self._layers[0], InputLayer):
            self._layers.insert(0, InputLayer(batch_shape=shape))
        elif tuple(self._layers[0].batch_shape)[1:] != shape[1:]:
            if self._functional is not None:
                raise InvalidArgumentError(
                    f"Sequential: the model was built for inputs of shape {self._layers[0].batch_shape}, got {tuple(input_shape)}"
                )
            self._layers[0] = InputLayer(batch_shape=shape, dtype=self._layers[0]._input_dtype)
        for layer in self._layers:
            if layer._device is None or layer._device != self.device:
                layer._device = self.device
        from .functional import Functional

        inputs = self._layers[0].output
        x = inputs
        for layer in self._layers[1:]:
            x = layer(x)
        self._functional = Functional(inputs, x, name=f"{self.name}_graph")
        self.input_shape_ = inputs.shape
        self.output_shape_ = x.shape
        self._build_shapes = inputs.shape
        self.built = True

    def _convert_inputs(self, inputs):
        if self._functional is not None:
            return self._functional._convert_inputs(inputs)[0]
        return super()._convert_inputs(inputs)

    def call(self, inputs, training=None, mask=None):
        if self._functional is not None:
            return self._functional.call([inputs], training=training, mask=mask)
        x = inputs
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        if self._functional is not None:
            return self._functional.compute_output_shape(input_shape)
        return Layer.compute_output_shape(self, input_shape)

    def compute_output_spec(self, *args, **kwargs):
        if self._functional is not None:
            return self._functional.compute_output_spec(*args, **kwargs)
        return super().compute_output_spec(*args, **kwargs)

    @property
    def inputs(self) -> list:
        return self._functional.inputs if self._functional is not None else []

    @property
    def outputs(self) -> list:
        return self._functional.outputs if self._functional is not None else []

    @property
    def input(self):
        return self._functional.input if self._functional is not None else Layer.input.fget(self)

    @property
    def output(self):
        return self._functional.output if self._functional is not None else Layer.output.fget(self)

    @property
    def _outputs(self):
        return self._functional._outputs if self._functional is not None else None

    @property
    def _nodes(self):
        return self._functional._nodes if self._functional is not None else []

    @property
    def output_names(self) -> list[str]:
        return self._functional.output_names if self._functional is not None else []

    def get_config(self) -> dict:
        from ..saving import serialize_keras_object

        cfg = {"name": self.name, "trainable": self.trainable,
               "layers": [serialize_keras_object(l) for l in self._layers]}
        if self._functional is not None:
            cfg["build_input_shape"] = list(self._layers[0].batch_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from ..saving import deserialize_keras_object

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise SerializationError("Sequential.from_config: the config has no 'layers' list")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for spec in config["layers"]:
            layer = deserialize_keras_object(spec, custom_objects=custom_objects)
            if not isinstance(layer, Layer):
                raise SerializationError(f"Sequential.from_config: {spec!r} is not a layer")
            model.add(layer, rebuild=False)
        if model._layers and isinstance(model._layers[0], InputLayer):
            model._maybe_rebuild()
        elif config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        elif config.get("input_shape"):  # Ember's own older configs
            model.build(tuple(config["input_shape"]))
        return model
