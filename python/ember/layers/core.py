"""Core layers: Input / InputLayer, Dense, Activation, Identity, Lambda."""

from __future__ import annotations

import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..keras_tensor import KerasTensor
from ..ops import nn
from .input_spec import InputSpec
from .layer import Layer, _AnyRank, _shape_arg
from .node import Node


class InputLayer(Layer, _AnyRank):
    """The entry point of a layer graph: holds the symbolic input tensor that
    ``keras.Input`` returns (Keras 3's ``keras.layers.InputLayer``).

    Args:
        shape: the per-sample shape (the batch axis excluded).
        batch_size: the fixed batch size, or None.
        dtype: the input's dtype: a float type (float32) or an integer type (int32),
            for integer inputs such as token ids.
        batch_shape: the full shape with the batch axis, instead of shape/batch_size.
        name: the input's name (model inputs given as a dict are matched by it).
        optional: whether the input may be None.
        sparse: Keras's sparse-input flag; Ember's inputs are dense (ignored).
        ragged: Keras's ragged-input flag; only False is accepted.
        input_tensor: an existing `KerasTensor` to use as the input instead of a new one.
        input_shape: Keras 2's name of ``shape``.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, input_shape=None, **kwargs):
        if ragged:
            raise NotImplementedError("InputLayer: ragged=True is not supported (Ember's tensors are dense)")
        if shape is None and input_shape is not None:
            shape = input_shape
        if shape is None and batch_shape is None:
            raise InvalidArgumentError("InputLayer: pass shape=(...) (the shape of one sample, without the batch axis)")
        if shape is not None and batch_shape is not None:
            raise InvalidArgumentError("InputLayer: pass shape or batch_shape, not both")
        if batch_shape is not None:
            bshape = _shape_arg(batch_shape, "InputLayer")
        else:
            bshape = (batch_size,) + _shape_arg(shape, "InputLayer")
        kwargs.pop("trainable", None)
        if kwargs.pop("ragged", False):  # Keras 3 writes ragged=False; Ember has no ragged tensors
            raise InvalidArgumentError("InputLayer: ragged inputs are not supported")
        super().__init__(name=name, **kwargs)
        self._batch_input_shape = bshape
        self._input_dtype = _input_dtype(dtype)
        self.optional = bool(optional)
        self.sparse = False
        self.built = True
        if input_tensor is not None:
            if not isinstance(input_tensor, KerasTensor):
                raise InvalidArgumentError("InputLayer: input_tensor must be a KerasTensor")
            out = input_tensor
        else:
            out = KerasTensor(bshape, dtype=self._input_dtype, name=self.name)
        Node(self, (), {}, out)
        self.input_shape_ = self.output_shape_ = bshape

    @property
    def batch_shape(self) -> tuple:
        return self._batch_input_shape

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {"batch_shape": list(self._batch_input_shape), "dtype": self._input_dtype, "sparse": False,
                "name": self.name, "optional": self.optional}


def _input_dtype(dtype) -> str:
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        raise DTypeError(f"Input: unsupported dtype {dtype!r}") from None
    if kind == "f":
        return "float32"
    if kind in "biu":
        return "int32"
    raise DTypeError(f"Input: unsupported dtype {dtype!r}; inputs are float32 or int32")


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None, name=None, tensor=None,
          optional=False) -> KerasTensor:
    """A symbolic model input of per-sample ``shape`` (Keras ``keras.Input``).

    Args:
        shape: the shape of one sample, without the batch axis (``(784,)``).
        batch_size: a fixed batch size, or None.
        dtype: float32 (default) or an integer type for integer inputs.
        sparse: must be None or False.
        ragged: must be None or False (NotImplementedError otherwise).
        batch_shape: the full shape with the batch axis, instead of shape/batch_size.
        name: the input's name.
        tensor: an existing KerasTensor to wrap.
        optional: whether the input may be None.

    Example:
        >>> import ember as em
        >>> em.Input((28, 28)).shape
        (None, 28, 28)
    """
    if sparse:
        raise InvalidArgumentError("Input: sparse inputs are not supported")
    if ragged:
        raise NotImplementedError("Input: ragged=True is not supported (Ember's tensors are dense)")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name,
                       input_tensor=tensor, optional=optional)
    return layer.output


_FUSED = ("linear", "relu", "tanh")


class Dense(Layer):
    """``output = activation(dot(input, kernel) + bias)``, kernel laid out (in, units).

    Args:
        units: a positive int, the number of outputs.
        activation: an activation name or function (None: linear).
        use_bias: whether to add a bias vector.
        kernel_initializer: the kernel's initializer (name or object).
        bias_initializer: the bias's initializer (name or object).
        kernel_regularizer: an optional regularizer of the kernel.
        bias_regularizer: an optional regularizer of the bias.
        activity_regularizer: an optional regularizer of the output.
        kernel_constraint: an optional constraint applied to the kernel after each update.
        bias_constraint: an optional constraint applied to the bias after each update.
        lora_rank: Keras's LoRA rank; must be None (not implemented).
        lora_alpha, quantization_config: must be None (NotImplementedError otherwise).
        **kwargs: the base `Layer` arguments (name, trainable, input_shape, ...).

    Example:
        >>> import ember as em
        >>> layer = em.layers.Dense(3, activation="relu")
        >>> layer(em.ones((2, 4))).shape
        (2, 3)
    """

    _supports_masking = True  # passes a mask on unchanged, as in Keras

    integer_inputs = "cast"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        for arg, value in (("lora_alpha", lora_alpha), ("quantization_config", quantization_config)):
            if value is not None:
                raise NotImplementedError(f"Dense: argument {arg} is not supported (no LoRA or quantization)")
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
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = None
        self.bias = None
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ShapeError(
                f"Dense: the last input dimension must be known, got input shape {tuple(input_shape)} "
                "(shapes include the batch axis first; keras.Input(shape=...) excludes it)"
            )
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

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
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Activation(Layer, _AnyRank):
    """Applies an activation function to its input (Keras ``keras.layers.Activation``).

    Args:
        activation: an activation name (``"relu"``) or callable.
    """

    _supports_masking = True  # passes a mask on unchanged, as in Keras

    integer_inputs = "cast"

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


class Identity(Layer, _AnyRank):
    """Returns its input unchanged (Keras ``keras.layers.Identity``); integer inputs stay
    integers."""

    _supports_masking = True  # passes a mask on unchanged, as in Keras

    def call(self, inputs):
        return inputs


class Lambda(Layer):
    """Wraps an expression of tensors as a layer (Keras ``keras.layers.Lambda``).

    Args:
        function: ``f(inputs)`` (it may also take ``mask`` and ``training``, which it
            receives when it names them) built from ``ember.ops``.
        output_shape: the output shape (per sample, or with the batch axis), or a
            function of the input shape; inferred by running the function if None.
        mask: a mask, or a function ``f(inputs, mask)`` computing one.
        arguments: extra keyword arguments passed to ``function``.

    A Lambda's function is Python code: a saved config names it, and loading one
    needs it registered (``ember.saving.register_serializable``), passed in
    ``custom_objects``, or ``safe_mode=False``.

    Example:
        >>> import ember as em
        >>> em.layers.Lambda(lambda x: x * 2.0)(em.ones((1, 2))).numpy().tolist()
        [[2.0, 2.0]]
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise InvalidArgumentError(f"Lambda: function must be callable, got {function!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        if output_shape is not None and not callable(output_shape):
            output_shape = _shape_arg(output_shape, "Lambda: output_shape")
        self._output_shape = output_shape
        import inspect as _inspect

        try:
            params = _inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._fn_has_training = "training" in params
        self._fn_has_mask = "mask" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_has_mask:
            kwargs["mask"] = mask
        if self._fn_has_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return Layer.compute_output_shape(self, input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        shape = tuple(self._output_shape)
        first = input_shape[0] if input_shape and not isinstance(input_shape[0], (tuple, list)) else None
        return (first,) + shape

    def compute_output_spec(self, *args, **kwargs):
        if self._output_shape is None:
            return self._infer_output_spec(args, kwargs)
        return Layer.compute_output_spec(self, *args, **kwargs)

    def get_config(self):
        fn = self.function
        name = getattr(fn, "__qualname__", None)
        if name is None or "<lambda>" in name or "<locals>" in name:
            function = {"class_name": "__lambda__", "config": {"name": getattr(fn, "__name__", "lambda")}}
        else:
            function = {"module": getattr(fn, "__module__", None), "class_name": "function", "config": name}
        out = self._output_shape
        return {**super().get_config(), "function": function,
                "output_shape": list(out) if isinstance(out, tuple) else None,
                "arguments": self.arguments}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        from ..errors import SerializationError

        config = dict(config)
        spec = config.pop("function")
        fn = None
        name = spec.get("config") if isinstance(spec, dict) else spec
        if isinstance(name, dict):
            name = name.get("name")
        objects = dict(custom_objects or {})
        try:
            from ..saving import get_custom_objects

            objects = {**get_custom_objects(), **objects}
        except ImportError:  # pragma: no cover - saving is part of the package
            pass
        if isinstance(name, str):
            fn = objects.get(name) or objects.get(name.rsplit(".", 1)[-1])
        if fn is None and isinstance(spec, dict) and spec.get("class_name") == "function" and not safe_mode:
            import importlib

            obj = importlib.import_module(spec["module"])
            for part in name.split("."):
                obj = getattr(obj, part)
            fn = obj
        if fn is None:
            raise SerializationError(
                f"Lambda.from_config: cannot restore the function {name!r}: a Lambda's function is code, which "
                "loading never runs from a file. Register it with @ember.saving.register_serializable(), pass it "
                "in custom_objects, or load with safe_mode=False for a module-level function."
            )
        if config.get("output_shape") is not None:
            config["output_shape"] = tuple(config["output_shape"])
        return cls(fn, **config)
