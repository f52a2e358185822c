"""The Keras layer contract.

``__init__`` stores and validates configuration; ``build(input_shape)`` creates weights
with ``add_weight``; ``call(inputs, training=False)`` is tensor math through ``ops``;
``compute_output_shape`` and ``get_config``/``from_config`` complete it. Calling a layer
builds it on first use from the input's shape; calling it on KerasTensors records a
node of the layer graph (see `ember.keras_tensor` and `ember.models.functional`).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections import defaultdict
from typing import Any

import numpy as np

from .. import initializers, tree
from .. import constraints as _constraints
from .. import regularizers as _regularizers
from ..errors import DTypeError, EmberError, InvalidArgumentError, NotBuiltError, ShapeError
from ..keras_tensor import KerasTensor, any_symbolic
from ..tensor import Tensor, Variable, as_tensor
from .input_spec import InputSpec, assert_input_compatibility

_name_counts: dict[str, int] = defaultdict(int)



class _CallContext(threading.local):
    """Per thread: how many layer calls are in progress (the outermost call, depth 0,
    clears the losses of the layer and its sublayers first, so ``losses`` holds those of
    the latest forward pass) and the ``training`` flag inner calls inherit when they are
    not given one (Keras 3's call context)."""

    depth = 0
    training = None
    device = None  # the device of the innermost call's layer that has one (a model's)


_context = _CallContext()


def _snake(name: str) -> str:
    """Keras's ``to_snake_case``: ``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def _shape_arg(shape, owner: str, allow_minus_one: bool = False) -> tuple:
    """A shape argument as a tuple of ints (None for unknown dimensions)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (int(shape),)
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__iter__"):
        raise InvalidArgumentError(f"{owner}: shape must be a tuple of ints, got {shape!r}")
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)):
            out.append(int(d))
        else:
            raise InvalidArgumentError(f"{owner}: shape must be a tuple of ints, got {shape!r}")
    lowest = -1 if allow_minus_one else 0
    if any(d is not None and d < lowest for d in out):
        raise InvalidArgumentError(f"{owner}: shape has a negative dimension: {tuple(out)}")
    if allow_minus_one and out.count(-1) > 1:
        raise InvalidArgumentError(f"{owner}: at most one dimension can be -1, got {tuple(out)}")
    return tuple(out)


def _input_tensor(inputs, owner: str, layer: "Layer | None" = None, cast_ints: bool = True) -> Tensor:
    """Host data as a Tensor on ``layer``'s device (the one its weights live on, so a
    layer on the gpu takes numpy input), with a clear error for data that is not a
    numeric array. Floats become float32; integers int32 (float32 with ``cast_ints``)."""
    if isinstance(inputs, Tensor):
        return inputs
    device = layer._input_device() if layer is not None else None
    try:
        a = np.asarray(inputs)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{owner}: cannot convert the inputs to an array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{owner}: expected numeric inputs, got dtype {a.dtype}")
    return as_tensor(a, dtype="float32" if cast_ints or a.dtype.kind == "f" else "int32", device=device)


class Layer:
    """Base class of every layer (Keras 3's ``keras.layers.Layer``).

    Subclass it: store the configuration in ``__init__``, create weights in
    ``build(input_shape)`` with `add_weight`, and compute in ``call(inputs)``. ``call``
    receives ``training`` and ``mask`` only when its signature names them. Sublayers
    assigned as attributes (alone, or in lists and dicts) are tracked: their weights
    and losses are this layer's too. Calling a layer on a symbolic `KerasTensor`
    records a node of the layer graph instead of computing (functional models).

    Args:
        trainable: whether the layer's weights are trained (setting it on a layer
            sets it on every sublayer, as in Keras).
        name: the layer's name (unique by default: ``dense``, ``dense_1``...).
        dtype: the compute dtype; only float32 is supported.
        input_shape, input_dim, batch_input_shape, batch_size: the expected input
            shape, for a layer used first in a `Sequential` model.
        activity_regularizer: a regularizer of the layer's output.
        autocast: whether floating-point inputs are cast to the compute dtype (Keras's
            argument; with float32 the only compute dtype, it changes nothing).

    Example:
        >>> import ember as em
        >>> class Scale(em.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
        ...     def call(self, x):
        ...         return x * self.w
        >>> Scale()(em.ones((2, 3))).shape
        (2, 3)
    """

    #: How integer inputs reach ``call``: "keep" (Keras's autocast: floats become the
    #: compute dtype, integers pass unchanged, for Embedding and lookups) or "cast"
    #: (every input becomes float32: layers whose kernels compute in floating point).
    integer_inputs = "keep"

    #: Attributes that hold graph plumbing, not sublayers, so tracking skips them.
    _untracked = frozenset({"_layers", "_inbound_nodes", "_outbound_nodes", "_functional", "_output_layers",
                            "_input_layers", "_nodes_by_depth", "_compile_loss", "_compile_metrics", "optimizer",
                            "_call_cache", "_flat_cache"})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # As Keras does, a direct call of ``layer.build(shape)`` marks the layer built
        # (and records its shapes), so calling it afterwards does not build it again.
        if "build" in cls.__dict__ and not getattr(cls.__dict__["build"], "_marks_built", False):
            cls.build = _marking_built(cls.__dict__["build"])
        if "call" in cls.__dict__:
            try:
                params = inspect.signature(cls.__dict__["call"]).parameters
            except (TypeError, ValueError):
                params = {}
            cls._call_has_training = "training" in params
            cls._call_has_mask = "mask" in params
            cls._call_has_var_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        # Whether the layer makes its own masks (Embedding(mask_zero), Masking, RNNs):
        # read once per class so the fast eager path pays one attribute lookup.
        cls._overrides_compute_mask = cls.compute_mask is not Layer.compute_mask
        _guard_public_methods(cls)

    _call_has_training = True
    _call_has_mask = False
    _call_has_var_kwargs = False
    _overrides_compute_mask = False
    _supports_masking = None  # None: True exactly when the class overrides compute_mask (Keras)

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None, input_shape=None,
                 input_dim=None, batch_input_shape=None, batch_size=None, activity_regularizer=None, autocast=True,
                 **kwargs):
        if kwargs:
            raise InvalidArgumentError(f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}")
        object.__setattr__(self, "_layers", [])
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self._losses: list = []
        self._weight_regularizers: list = []
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise InvalidArgumentError(f"{type(self).__name__}: name must be a non-empty string without '/', got {name!r}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._weights: list[Variable] = []
        self.input_shape_: tuple | None = None
        self.output_shape_: tuple | None = None
        self._build_shapes = None
        self._batch_input_shape: tuple | None = None
        self._device: str | None = None  # set by the owning model; None = the default device
        self._inbound_nodes: list = []
        self._outbound_nodes: list = []
        self.input_spec = None
        self.autocast = bool(autocast)
        self._dtype = _check_dtype(dtype, type(self).__name__)
        if batch_input_shape is not None:
            self._batch_input_shape = _shape_arg(batch_input_shape, type(self).__name__)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + _shape_arg(input_shape, type(self).__name__)
        elif input_dim is not None:
            self._batch_input_shape = (batch_size,) + _shape_arg((input_dim,), type(self).__name__)

    # -- dtypes ---------------------------------------------------------------------------
    @property
    def dtype(self) -> str:
        """The dtype of the layer's weights (float32)."""
        return self._dtype

    @property
    def compute_dtype(self) -> str:
        return self._dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype

    # -- sublayer tracking ------------------------------------------------------------------
    def _sublayers(self) -> list:
        """Direct sublayers: those listed in ``_layers`` (Sequential, Functional) and those
        held in attributes, alone or in lists, tuples and dicts, in assignment order."""
        out = list(self._layers)
        seen = {id(l) for l in out}
        seen.add(id(self))
        skip = self._untracked
        for key, value in self.__dict__.items():
            if key in skip:
                continue
            if isinstance(value, Layer):
                if id(value) not in seen:
                    seen.add(id(value))
                    out.append(value)
            elif isinstance(value, (list, tuple, dict)) and value:
                for v in tree.flatten(value):
                    if isinstance(v, Layer) and id(v) not in seen:
                        seen.add(id(v))
                        out.append(v)
        return out

    def _flat_layers(self) -> list:
        """This layer and every layer under it, each once, depth first."""
        out, seen, stack = [], set(), [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers()))
        return out

    # -- trainability ---------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        """Sets ``trainable`` on this layer and every sublayer (Keras 3)."""
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    # -- weights ------------------------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable: bool = True,
                   regularizer=None, constraint=None, name: str | None = None, autocast=True, aggregation="none",
                   overwrite_with_gradient=False) -> Variable:
        """Creates a weight of this layer, named ``<layer name>/<name>``."""
        if shape is None:
            shape = ()
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"{self.name}.add_weight: shape must be a tuple of known sizes, got {shape!r}"
            ) from None
        if any(d < 0 for d in shape):
            raise InvalidArgumentError(f"{self.name}.add_weight: negative dimension in shape {shape}")
        init = initializers.get(initializer)
        value = init(shape, dtype=dtype)
        v = Variable(value, dtype=dtype or "float32", trainable=trainable, name=f"{self.name}/{name or 'weight'}", device=self._device)
        # The optimizer projects the variable with it after each update (Keras's Variable.constraint).
        v.constraint = _constraints.get(constraint)
        self._weights.append(v)
        reg = _regularizers.get(regularizer)
        if reg is not None:
            self._weight_regularizers.append((v, reg))
        return v

    # -- losses (regularization penalties) --------------------------------------------------
    def add_loss(self, loss) -> None:
        """Adds a scalar loss tensor (kept until this layer's next outermost call)."""
        self._losses.append(loss)

    def _clear_losses(self) -> None:
        for layer in self._flat_layers():
            layer._losses = []

    @property
    def losses(self) -> list:
        """Scalar losses: those added during the latest call (activity regularization,
        ``add_loss``) of this layer and its sublayers, then the weight penalties of the
        trainable weights, computed now (so they are on the tape when called under it)."""
        return _collect_losses(self._flat_layers())

    @property
    def weights(self) -> list[Variable]:
        out = list(self._weights)
        seen = {id(w) for w in out}
        for layer in self._sublayers():
            for w in layer.weights:
                if id(w) not in seen:  # a shared layer counts once
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        out = [w for w in self._weights if w.trainable]
        seen = {id(w) for w in out}
        for layer in self._sublayers():
            for w in layer.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self) -> list[Variable]:
        tw = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in tw]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(w.numpy()) for w in self.weights]

    def set_weights(self, weights) -> None:
        own = self.weights
        if isinstance(weights, (str, bytes, dict)) or not hasattr(weights, "__iter__"):
            raise InvalidArgumentError(f"set_weights: expected a list of arrays, got {type(weights).__name__}")
        weights = list(weights)
        if len(weights) != len(own):
            raise ShapeError(
                f"set_weights: layer {self.name!r} expects {len(own)} weight arrays "
                f"(shapes {[w.shape for w in own]}), got {len(weights)}"
            )
        arrays = []
        for w, a in zip(own, weights):
            try:
                a = np.asarray(a.numpy() if isinstance(a, Tensor) else a)
            except (ValueError, TypeError) as e:
                raise InvalidArgumentError(f"set_weights: weight {w.name!r} cannot be converted to an array: {e}") from None
            if a.dtype.kind not in "biuf":
                raise InvalidArgumentError(f"set_weights: weight {w.name!r} must be numeric, got dtype {a.dtype}")
            if a.shape != w.shape:
                raise ShapeError(f"set_weights: weight {w.name!r} has shape {w.shape}, got an array of shape {a.shape}")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise InvalidArgumentError(f"set_weights: weight {w.name!r} would receive non-finite values")
            arrays.append(a)
        for w, a in zip(own, arrays):
            w.assign(a)

    def count_params(self) -> int:
        if not self.built:
            raise NotBuiltError(f"count_params: layer {self.name!r} is not built yet; call it on data or build it first")
        return int(sum(w.size for w in self.weights))

    # -- building and calling -------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (batch axis included, None if unknown).
        By default: elementwise layers keep the shape; other layers find it by running
        ``call`` on a small placeholder batch (override this where that is costly)."""
        if isinstance(self, _AnyRank):
            return tuple(input_shape) if not tree.is_nested(input_shape) or _is_shape(input_shape) else input_shape
        placeholders = tree.map_structure(lambda s: KerasTensor(s), _as_shape_structure(input_shape))
        out = self._infer_output_spec((placeholders,), {})
        return tree.map_structure(lambda t: t.shape, out)

    def compute_output_spec(self, *args, **kwargs):
        """KerasTensors describing the outputs of ``call(*args, **kwargs)`` on the given
        KerasTensors: from ``compute_output_shape`` where the layer defines it (or keeps
        the shape), else by running ``call`` on placeholders."""
        if _defines_output_shape(self):
            inputs = args[0]
            shapes = tree.map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else None, inputs)
            out_shapes = self.compute_output_shape(shapes if tree.is_nested(inputs) else inputs.shape)
            dtype = self._output_dtype(inputs)
            if _is_shape(out_shapes):
                return KerasTensor(out_shapes, dtype=dtype)
            return tree.map_structure(lambda s: KerasTensor(s, dtype=dtype), _as_shape_structure(out_shapes))
        return self._infer_output_spec(args, kwargs)

    def _output_dtype(self, inputs) -> str:
        first = tree.flatten(inputs)[0]
        dtype = getattr(first, "dtype", "float32")
        if self.integer_inputs == "cast" or dtype not in ("int32",):
            return "float32"
        return dtype

    def _infer_output_spec(self, args: tuple, kwargs: dict):
        """Runs ``call`` on concrete placeholders (ones, zeros for integers) twice, with
        every unknown dimension set to 2 and then 3; output dimensions that differ are
        unknown (None). Weights exist already (the layer is built first)."""
        from ..autograd import no_grad

        runs = []
        for fill in (2, 3):
            def concrete(t, fill=fill):
                if not isinstance(t, KerasTensor):
                    return t
                shape = tuple(fill if d is None else d for d in t.shape)
                a = np.zeros(shape, np.int32) if t.dtype == "int32" else np.ones(shape, np.float32)
                return Tensor(a, device=self._input_device())
            cargs = tree.map_structure(concrete, args)
            ckwargs = tree.map_structure(concrete, kwargs) if kwargs else {}
            try:
                with no_grad(), call_context(self, False):
                    out = self.call(*cargs, **self._call_kwargs(ckwargs))
            except EmberError as e:
                raise type(e)(
                    f"Layer {self.name!r}: could not infer its output shape by running call() on inputs of "
                    f"shape {tree.map_structure(lambda t: getattr(t, 'shape', t), args)}: {e}. "
                    "Define compute_output_shape(input_shape) for this layer."
                ) from e
            runs.append(out)
        def spec(a, b):
            if not isinstance(a, Tensor):
                raise InvalidArgumentError(
                    f"Layer {self.name!r}: call() must return tensors (or lists/dicts of them), got {type(a).__name__}"
                )
            shape = tuple(d if d == e else None for d, e in zip(a.shape, b.shape))
            return KerasTensor(shape, dtype=a.dtype)
        return tree.map_structure(spec, runs[0], runs[1])

    def call(self, inputs, training: bool = False):
        return inputs

    def _maybe_build(self, input_shape) -> None:
        if not self.built:
            if self._device is None and _context.device is not None:
                # A sublayer built inside a model's call makes its weights on the model's
                # device (a subclassed model creates them on its first call).
                self._device = _context.device
            shapes = _as_shape_structure(input_shape)
            if _is_shape(shapes):
                self.input_shape_ = tuple(shapes)
            self._build_shapes = shapes
            self.build(shapes)
            self.built = True

    def _input_device(self) -> str | None:
        if self._device is not None:
            return self._device
        for w in self._weights:
            return w.device
        return None

    def _convert_inputs(self, inputs):
        """Layer inputs as tensors: host data goes to the layer's device; floats are
        float32; integers stay int32 unless the layer casts them (``integer_inputs``)."""
        cast_ints = self.integer_inputs == "cast"
        if isinstance(inputs, Tensor):
            if cast_ints and inputs.dtype != "float32":
                from ..ops import core

                return core.cast(inputs, "float32")
            return inputs
        if _is_structure(inputs):
            if not tree.flatten(inputs):
                raise InvalidArgumentError(f"Layer {self.name!r} was called on an empty {type(inputs).__name__} of inputs")
            out = tree.map_structure(lambda t: None if t is None else self._convert_inputs(t), inputs)
            for t in tree.flatten(out):
                if t is not None and t.ndim == 0:
                    raise ShapeError(f"Input to layer {self.name!r} holds a scalar; layers expect a batch dimension")
            return out
        if isinstance(inputs, dict):
            raise InvalidArgumentError(f"Layer {self.name!r} was called on an empty dict of inputs")
        return _input_tensor(inputs, self.name, self, cast_ints)

    def _call_kwargs(self, kwargs: dict, training=None, mask=None) -> dict:
        if self._call_has_training and training is not None:
            kwargs["training"] = bool(training)
        if mask is not None and (self._call_has_mask or self._call_has_var_kwargs):
            kwargs["mask"] = mask
        return kwargs

    def __call__(self, *args, **kwargs):
        if not args:
            if "inputs" not in kwargs:
                raise InvalidArgumentError(f"Layer {self.name!r} was called without inputs")
            args = (kwargs.pop("inputs"),)
        if any_symbolic(args, kwargs):
            return self._symbolic_call(args, kwargs)
        if len(args) == 1 and not kwargs and self.built and type(args[0]) is Tensor and args[0]._keras_mask is None:
            return self._eager_call_one(args[0])
        training = kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
        explicit_mask = mask is not None
        previous_mask = mask if explicit_mask else _keras_masks(args[0])
        if mask is None and self._call_has_mask and previous_mask is not None and not tree.is_nested(args[0]):
            mask = previous_mask
        state = _context
        if training is None:
            training = state.training
        inputs = self._convert_inputs(args[0])
        if len(args) > 1:
            args = (inputs,) + args[1:]
        else:
            args = (inputs,)
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, inputs, self.name)
        if isinstance(inputs, Tensor):
            if inputs.ndim == 0:
                raise ShapeError(f"Input to layer {self.name!r} is a scalar; layers expect a batch dimension")
            if not self.built:
                self._maybe_build((None,) + inputs.shape[1:])
                if self.input_spec is not None:
                    assert_input_compatibility(self.input_spec, inputs, self.name)
        elif not self.built:
            self._maybe_build(tree.map_structure(lambda t: None if t is None else (None,) + t.shape[1:], inputs))
            if self.input_spec is not None:
                assert_input_compatibility(self.input_spec, inputs, self.name)
        call_kwargs = self._call_kwargs(kwargs, training, mask)
        with call_context(self, training):
            out = self.call(*args, **call_kwargs)
            if self.activity_regularizer is not None and isinstance(out, Tensor):
                self.add_loss(_activity_loss(self.activity_regularizer, out))
        if self.supports_masking and (previous_mask is not None or self._overrides_compute_mask):
            self._set_mask_metadata(inputs, out, previous_mask)
        return out

    # -- masking (Keras 3's compute_mask / supports_masking / _keras_mask) ---------------------
    @property
    def supports_masking(self) -> bool:
        """Whether the layer passes on (or computes) masks: True where the class overrides
        `compute_mask`, or where set (``self.supports_masking = True``), as in Keras."""
        value = self._supports_masking
        return self._overrides_compute_mask if value is None else value

    @supports_masking.setter
    def supports_masking(self, value) -> None:
        self._supports_masking = bool(value)

    def compute_mask(self, inputs, previous_mask=None):
        """The mask of the outputs, from the inputs and their mask (Keras's default: the
        previous mask, unchanged)."""
        return previous_mask

    def _set_mask_metadata(self, inputs, outputs, previous_mask) -> None:
        """Attaches ``compute_mask``'s masks to the outputs as ``_keras_mask`` (outputs
        that carry a mask already keep it, as in Keras)."""
        flat_out = tree.flatten(outputs)
        if all(getattr(t, "_keras_mask", None) is not None for t in flat_out):
            return
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        flat_masks = tree.flatten(masks) if tree.is_nested(masks) else [masks]
        for t, m in zip(flat_out, flat_masks):
            if m is not None and isinstance(t, (Tensor, KerasTensor)) and t._keras_mask is None:
                t._keras_mask = m

    def _symbolic_mask(self, inputs, outputs, previous_mask) -> None:
        """The symbolic twin of `_set_mask_metadata`: masks of KerasTensors are KerasTensors
        (for inspection, ``layer.output._keras_mask``); a functional model computes the real
        masks again as it runs. A custom ``compute_mask`` that cannot take KerasTensors
        leaves the symbolic mask unknown (None); the eager run still computes it."""
        if not self.supports_masking or (previous_mask is None and not self._overrides_compute_mask):
            return
        try:
            self._set_mask_metadata(inputs, outputs, previous_mask)
        except (EmberError, TypeError, AttributeError):
            pass

    def _eager_call_one(self, x: Tensor):
        """``__call__`` for the common case: one tensor, a built layer, no keywords."""
        if self.integer_inputs == "cast" and x.dtype != "float32":
            from ..ops import core

            x = core.cast(x, "float32")
        if x.ndim == 0:
            raise ShapeError(f"Input to layer {self.name!r} is a scalar; layers expect a batch dimension")
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, x, self.name)
        training = _context.training
        with call_context(self, training):
            out = self.call(x, training=bool(training)) if self._call_has_training and training is not None else self.call(x)
            if self.activity_regularizer is not None and isinstance(out, Tensor):
                self.add_loss(_activity_loss(self.activity_regularizer, out))
        if self._overrides_compute_mask and self.supports_masking:
            self._set_mask_metadata(x, out, None)
        return out

    def _symbolic_call(self, args: tuple, kwargs: dict):
        """A call on KerasTensors: builds the layer from their shapes, checks them, and
        records a `Node`; returns KerasTensors for the outputs."""
        from .node import Node

        inputs = args[0]
        if isinstance(inputs, KerasTensor):
            if inputs.ndim == 0:
                raise ShapeError(f"Input to layer {self.name!r} is a scalar; layers expect a batch dimension")
            shapes = inputs.shape
        else:
            shapes = tree.map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else None, inputs)
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, inputs, self.name)
        if not self.built:
            self._maybe_build(shapes)
            if self.input_spec is not None:
                assert_input_compatibility(self.input_spec, inputs, self.name)
        spec_kwargs = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        outputs = self.compute_output_spec(*args, **spec_kwargs)
        Node(self, args, kwargs, outputs)
        given = kwargs.get("mask")
        self._symbolic_mask(inputs, outputs, given if given is not None else _keras_masks(inputs))
        if isinstance(outputs, KerasTensor) and len(self._inbound_nodes) == 1:
            if isinstance(inputs, KerasTensor):
                self.input_shape_ = inputs.shape
            self.output_shape_ = outputs.shape
        return outputs

    @property
    def input(self):
        """The layer's input KerasTensor(s) (for a layer called once in a graph)."""
        return self._single_node("input").call_args[0]

    @property
    def output(self):
        """The layer's output KerasTensor(s) (for a layer called once in a graph)."""
        return self._single_node("output").outputs

    def _single_node(self, what: str):
        if not self._inbound_nodes:
            raise InvalidArgumentError(f"Layer {self.name!r} has never been called and thus has no defined {what}")
        if len(self._inbound_nodes) > 1:
            raise InvalidArgumentError(
                f"Layer {self.name!r} has multiple inbound nodes, hence the notion of \"layer {what}\" is ill-defined"
            )
        return self._inbound_nodes[0]

    @property
    def input_shape(self):
        return self.input_shape_

    @property
    def output_shape(self):
        return self.output_shape_

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict = {"name": self.name, "trainable": self.trainable, "dtype": self._dtype}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        dtype = config.get("dtype")
        if isinstance(dtype, dict):  # Keras 3's DTypePolicy dict
            config["dtype"] = dtype.get("config", {}).get("name")
        return cls(**config)

    def get_build_config(self) -> dict | None:
        """The shapes the layer was built with (Keras's build config), or None."""
        if self._build_shapes is None:
            return None
        return {"input_shape": _jsonable_shapes(self._build_shapes)}

    def build_from_config(self, config: dict | None) -> None:
        if config and not self.built and config.get("input_shape") is not None:
            self._maybe_build(_as_shape_structure(config["input_shape"]))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# The public methods of Ember's own layers and models whose bad arguments must come out as
# `ember.errors` types, never as a TypeError/AttributeError from deep inside (users'
# subclasses keep their own exceptions: only classes defined in the package are guarded).
_GUARDED = ("__init__", "from_config", "build_from_config", "compute_output_spec", "compute_output_shape", "build",
            "call", "get_layer", "predict_on_batch", "to", "train_step", "test_step", "predict_step", "add_weight",
            "set_weights", "summary")


def _guard_public_methods(cls) -> None:
    if not cls.__module__.startswith("ember."):
        return
    from .._boundary import public

    for name in _GUARDED:
        attr = cls.__dict__.get(name)
        if attr is None or getattr(attr, "_ember_guarded", False):
            continue
        label = f"{cls.__name__}.{name}" if name != "__init__" else cls.__name__
        if isinstance(attr, classmethod):
            fn = public(label)(attr.__func__)
            fn._ember_guarded = True
            setattr(cls, name, classmethod(fn))
        elif callable(attr):
            fn = public(label)(attr)
            fn._ember_guarded = True
            for flag in ("_marks_built",):
                if getattr(attr, flag, False):
                    setattr(fn, flag, True)
            setattr(cls, name, fn)


def _check_dtype(dtype, owner: str) -> str:
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None) or str(dtype)
    if name in ("float32", "mixed_float32"):
        return "float32"
    raise DTypeError(f"{owner}: dtype {dtype!r} is not supported; layers compute in float32")


def _is_shape(x) -> bool:
    return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer)) for d in x)


def _as_shape_structure(shapes):
    """Shapes as tuples (a single shape, or lists/dicts of them)."""
    if _is_shape(shapes):
        return tuple(None if d is None else int(d) for d in shapes)
    if isinstance(shapes, dict):
        return {k: _as_shape_structure(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)):
        return [_as_shape_structure(s) for s in shapes]
    return shapes


def _jsonable_shapes(shapes):
    if _is_shape(shapes):
        return list(shapes)
    if isinstance(shapes, dict):
        return {k: _jsonable_shapes(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)):
        return [_jsonable_shapes(s) for s in shapes]
    return shapes


def _is_structure(x) -> bool:
    """A list/tuple/dict of tensors or arrays (several inputs), as opposed to nested
    Python lists of numbers (one input's data)."""
    if isinstance(x, dict):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(t is None or isinstance(t, (Tensor, np.ndarray, list, tuple, dict)) for t in x) and any(
            isinstance(t, (Tensor, np.ndarray, dict)) or (isinstance(t, (list, tuple)) and _is_structure(t)) for t in x
        )
    return False


def _defines_output_shape(layer: "Layer") -> bool:
    return isinstance(layer, _AnyRank) or type(layer).compute_output_shape is not Layer.compute_output_shape


def _collect_losses(layers: list) -> list:
    out = []
    for layer in layers:
        out.extend(layer._losses)
    for layer in layers:
        if not layer.trainable:
            continue
        for v, reg in layer._weight_regularizers:
            if v.trainable:
                out.append(reg(v))
    return out


def _marking_built(build):
    import functools

    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        out = build(self, input_shape, *args, **kwargs)
        if not self.built and input_shape is not None:
            shapes = _as_shape_structure(input_shape)
            if self.input_shape_ is None and _is_shape(shapes):
                self.input_shape_ = shapes
            if self._build_shapes is None:
                self._build_shapes = shapes
            self.built = True
        return out

    wrapper._marks_built = True
    return wrapper


class call_context:
    """Marks a layer call in progress (``with call_context(layer, training):``); the
    outermost one clears the old losses first. Inner calls not given ``training``
    inherit this one's. A class rather than a generator: it runs on every layer call."""

    __slots__ = ("layer", "training", "prev", "prev_device")

    def __init__(self, layer: "Layer", training=None):
        self.layer = layer
        self.training = training

    def __enter__(self):
        state = _context
        if state.depth == 0:
            self.layer._clear_losses()
        self.prev = state.training
        self.prev_device = state.device
        if self.training is not None:
            state.training = self.training
        if self.layer._device is not None:
            state.device = self.layer._device
        state.depth += 1
        return self

    def __exit__(self, *exc):
        state = _context
        state.depth -= 1
        state.training = self.prev
        state.device = self.prev_device
        return False


def _activity_loss(regularizer, output: Tensor):
    """Keras 3: the penalty of a layer's output divided by its batch size (no division
    for a scalar output; a zero batch gives 0, like ``divide_no_nan``)."""
    from ..ops import core

    loss = regularizer(output)
    if output.ndim > 0:
        n = output.shape[0]
        loss = core.multiply(loss, 0.0) if n == 0 else core.divide(loss, float(n))
    return loss


class _AnyRank:
    """Marker: the layer accepts inputs of any rank (Flatten, Dropout, Activation...)."""


_guard_public_methods(Layer)


def _keras_masks(inputs):
    """The ``_keras_mask`` of a tensor, or the structure of masks of a structure (None
    where no input carries one)."""
    if isinstance(inputs, (Tensor, KerasTensor)):
        return inputs._keras_mask
    if tree.is_nested(inputs):
        masks = [getattr(t, "_keras_mask", None) for t in tree.flatten(inputs)]
        if any(m is not None for m in masks):
            return tree.pack_sequence_as(inputs, masks)
    return None
