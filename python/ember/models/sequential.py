"""`Sequential`: a plain stack of layers, each with one input and one output."""

from __future__ import annotations

from ..errors import InvalidArgumentError, ShapeError
from ..layers.core import InputLayer, KerasTensor
from ..layers.layer import Layer
from .model import Model


class Sequential(Model):
    """Keras's Sequential model.

    Example:
        >>> import ember as em
        >>> model = em.Sequential([em.Input((4,)), em.layers.Dense(8, activation="relu"), em.layers.Dense(3)])
        >>> model.count_params()
        67
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._input_shape_spec: tuple | None = None
        if layers is None:
            layers = []
        if isinstance(layers, (Layer, KerasTensor)):
            layers = [layers]
        if not isinstance(layers, (list, tuple)):
            raise InvalidArgumentError(f"Sequential: layers must be a list of layers, got {type(layers).__name__}")
        for layer in layers:
            self.add(layer)

    def add(self, layer) -> None:
        if isinstance(layer, KerasTensor):
            layer = InputLayer(batch_shape=layer.shape)
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"Sequential.add: expected a Layer, got {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_shape_spec is not None:
                raise InvalidArgumentError("Sequential: an Input must come first")
            self._input_shape_spec = layer._batch_input_shape
            self._rebuild()
            return
        if not self._layers and self._input_shape_spec is None and layer._batch_input_shape is not None:
            self._input_shape_spec = layer._batch_input_shape
        self._layers.append(layer)
        self._rebuild()

    def pop(self) -> Layer:
        if not self._layers:
            raise InvalidArgumentError("Sequential.pop: there are no layers to remove")
        layer = self._layers.pop()
        self._rebuild()
        return layer

    def _rebuild(self) -> None:
        self.built = False
        if self._input_shape_spec is not None and self._layers:
            self.build(self._input_shape_spec)

    def build(self, input_shape=None) -> None:
        shape = tuple(input_shape if input_shape is not None else self._input_shape_spec or ())
        if not shape:
            raise InvalidArgumentError("Sequential.build: the input shape is unknown")
        self.input_shape_ = (None,) + tuple(shape[1:])
        s = self.input_shape_
        for layer in self._layers:
            if layer._device is None:
                layer._device = self.device
            if not layer.built:
                layer._maybe_build(s)
            elif layer.input_shape_ is not None and len(layer.input_shape_) == len(s) and any(
                w is not None and g is not None and w != g for w, g in zip(layer.input_shape_[1:], s[1:])
            ) and not hasattr(layer, "_any_rank"):
                raise ShapeError(f"Sequential: layer {layer.name!r} was built for {layer.input_shape_}, got {s}")
            s = tuple(layer.compute_output_shape(s))
            layer.output_shape_ = s
        self.output_shape_ = s
        self.built = True

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        for layer in self._layers:
            s = tuple(layer.compute_output_shape(s))
        return s

    def call(self, inputs, training=False):
        x = inputs
        want = self.input_shape_
        if want is not None and (len(want) != x.ndim or any(w is not None and w != g for w, g in zip(want[1:], x.shape[1:]))):
            raise ShapeError(f"{self.name}: expected inputs of shape {want}, got {x.shape}")
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def get_config(self) -> dict:
        layers = [{"class_name": type(l).__name__, "config": l.get_config()} for l in self._layers]
        cfg = {"name": self.name, "layers": layers}
        if self._input_shape_spec is not None:
            cfg["input_shape"] = list(self._input_shape_spec)
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        from .. import layers as layers_module

        model = cls(name=config.get("name"))
        if config.get("input_shape"):
            model.add(InputLayer(batch_shape=tuple(config["input_shape"])))
        for spec in config["layers"]:
            layer_cls = getattr(layers_module, spec["class_name"], None)
            if layer_cls is None:
                raise InvalidArgumentError(f"Sequential.from_config: unknown layer class {spec['class_name']!r}")
            c = dict(spec["config"])
            c.pop("name", None)
            model.add(layer_cls(**c))
        return model
