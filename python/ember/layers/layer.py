"""The Keras layer contract.

``__init__`` stores and validates configuration; ``build(input_shape)`` creates weights
with ``add_weight``; ``call(inputs, training=False)`` is tensor math through ``ops``;
``compute_output_shape`` and ``get_config``/``from_config`` complete it. Calling a layer
builds it on first use from the input's shape.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from typing import Any

import numpy as np

from .. import initializers
from .. import regularizers as _regularizers
from ..errors import InvalidArgumentError, NotBuiltError, ShapeError
from ..tensor import Tensor, Variable, as_tensor

_name_counts: dict[str, int] = defaultdict(int)

# How many layer calls are in progress: the outermost call (depth 0) clears the losses of
# the layer and its sublayers first, so ``losses`` holds those of the latest forward pass
# (Keras 3's call context).
_call_depth = [0]


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


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


def _input_tensor(inputs, owner: str, layer: "Layer | None" = None) -> Tensor:
    """Layer inputs as a Tensor (host data goes to ``layer``'s device, the one its weights
    live on, so a layer on the gpu takes numpy input), with a clear error for data that
    is not a numeric array."""
    if isinstance(inputs, Tensor):
        return inputs
    device = None
    if layer is not None:
        own = layer.weights
        device = own[0].device if own else layer._device
    try:
        a = np.asarray(inputs)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{owner}: cannot convert the inputs to an array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{owner}: expected numeric inputs, got dtype {a.dtype}")
    return as_tensor(a, device=device)


class Layer:
    """Base class of every layer."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # As Keras does, a direct call of ``layer.build(shape)`` marks the layer built
        # (and records its shapes), so calling it afterwards does not build it again.
        if "build" in cls.__dict__ and not getattr(cls.__dict__["build"], "_marks_built", False):
            cls.build = _marking_built(cls.__dict__["build"])

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None, input_shape=None,
                 input_dim=None, batch_input_shape=None, batch_size=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise InvalidArgumentError(f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}")
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self._losses: list = []
        self._weight_regularizers: list = []
        self.name = name or unique_name(_snake(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self._weights: list[Variable] = []
        self._layers: list[Layer] = []
        self.input_shape_: tuple | None = None
        self.output_shape_: tuple | None = None
        self._batch_input_shape: tuple | None = None
        self._device: str | None = None  # set by the owning model; None = the default device
        if batch_input_shape is not None:
            self._batch_input_shape = _shape_arg(batch_input_shape, type(self).__name__)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + _shape_arg(input_shape, type(self).__name__)
        elif input_dim is not None:
            self._batch_input_shape = (batch_size,) + _shape_arg((input_dim,), type(self).__name__)

    # -- weights ------------------------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable: bool = True,
                   regularizer=None, constraint=None, name: str | None = None) -> Variable:
        shape = tuple(int(d) for d in (shape or ()))
        init = initializers.get(initializer)
        value = init(shape, dtype=dtype)
        v = Variable(value, dtype=dtype or "float32", trainable=trainable, name=f"{self.name}/{name or 'weight'}", device=self._device)
        self._weights.append(v)
        reg = _regularizers.get(regularizer)
        if reg is not None:
            self._weight_regularizers.append((v, reg))
        return v

    # -- losses (regularization penalties) --------------------------------------------------
    def add_loss(self, loss) -> None:
        """Adds a scalar loss tensor (kept until this layer's next outermost call)."""
        self._losses.append(loss)

    def _flat_layers(self) -> list:
        out, stack = [], [self]
        while stack:
            layer = stack.pop()
            out.append(layer)
            stack.extend(reversed(getattr(layer, "_layers", [])))
        return out

    def _clear_losses(self) -> None:
        for layer in self._flat_layers():
            if hasattr(layer, "_losses"):
                layer._losses = []

    @property
    def losses(self) -> list:
        """Scalar losses: those added during the latest call (activity regularization,
        ``add_loss``) of this layer and its sublayers, then the weight penalties of the
        trainable weights, computed now (so they are on the tape when called under it)."""
        layers = self._flat_layers()
        out = []
        for layer in layers:
            out.extend(getattr(layer, "_losses", []))
        for layer in layers:
            if not layer.trainable:
                continue
            for v, reg in getattr(layer, "_weight_regularizers", []):
                if v.trainable:
                    out.append(reg(v))
        return out

    @property
    def weights(self) -> list[Variable]:
        out = list(self._weights)
        for layer in self._layers:
            out.extend(layer.weights)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        out = [w for w in self._weights if w.trainable]
        for layer in self._layers:
            out.extend(layer.trainable_weights)
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

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training: bool = False):
        return inputs

    def _maybe_build(self, input_shape: tuple) -> None:
        if not self.built:
            self.input_shape_ = tuple(input_shape)
            self.build(tuple(input_shape))
            self.built = True
            self.output_shape_ = tuple(self.compute_output_shape(tuple(input_shape)))

    def __call__(self, inputs, training: bool | None = None, **kwargs):
        x = _input_tensor(inputs, self.name, self)
        if x.ndim == 0:
            raise ShapeError(f"Input to layer {self.name!r} is a scalar; layers expect a batch dimension")
        if x.dtype != "float32" and type(self).__name__ not in ("InputLayer",):
            from ..ops import core

            x = core.cast(x, "float32")
        self._maybe_build((None,) + x.shape[1:])
        self._check_input(x)
        with call_context(self):
            out = self.call(x, training=bool(training), **kwargs)
            if self.activity_regularizer is not None and isinstance(out, Tensor):
                self.add_loss(_activity_loss(self.activity_regularizer, out))
        return out

    def _check_input(self, x: Tensor) -> None:
        spec = self.input_shape_
        if spec is None or isinstance(self, _AnyRank):
            return
        if len(spec) != x.ndim or any(w is not None and w != g for w, g in zip(spec[1:], x.shape[1:])):
            raise ShapeError(
                f"Input to layer {self.name!r} has shape {x.shape} but the layer expects inputs of shape {spec}"
            )

    @property
    def input_shape(self):
        return self.input_shape_

    @property
    def output_shape(self):
        return self.output_shape_

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _marking_built(build):
    import functools

    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        out = build(self, input_shape, *args, **kwargs)
        if not self.built and input_shape is not None:
            shape = tuple(input_shape)
            if self.input_shape_ is None:
                self.input_shape_ = shape
            self.built = True
            self.output_shape_ = tuple(self.compute_output_shape(shape))
        return out

    wrapper._marks_built = True
    return wrapper


@contextlib.contextmanager
def call_context(layer: "Layer"):
    """Marks a layer call in progress; the outermost one clears the old losses first."""
    if _call_depth[0] == 0 and hasattr(layer, "_losses"):
        layer._clear_losses()
    _call_depth[0] += 1
    try:
        yield
    finally:
        _call_depth[0] -= 1


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
