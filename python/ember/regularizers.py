"""Weight and activity penalties with Keras 3 names, arguments and numerics.

``L1(l1)`` is ``l1 * sum(|x|)``, ``L2(l2)`` is ``l2 * sum(x**2)`` (no factor 1/2, as in
Keras; PyTorch's ``weight_decay`` differs), ``L1L2(l1, l2)`` is both. A layer's
``kernel_regularizer``/``bias_regularizer`` penalise its weights; its
``activity_regularizer`` penalises its output, divided by the batch size (Keras 3's
``Layer.__call__``). ``Model.fit`` adds ``sum(model.losses)`` to the loss once per
step, and the reported ``loss`` includes it, as Keras does.

The gradient of ``|x|`` at 0 is 0 (``sign(0) = 0``).

Example:
    >>> import ember as em
    >>> import numpy as np
    >>> reg = em.regularizers.L2(0.01)
    >>> round(float(reg(em.tensor(np.array([1.0, -2.0], np.float32)))), 6)
    0.05
"""

from __future__ import annotations

import math
import numbers

from ._boundary import construct_from_config as _construct_from_config
from .errors import InvalidArgumentError, InvalidConfigError
from .ops import core
from .saving import serialization_lib as _serialization
from .tensor import Tensor, as_tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2", "orthogonal_regularizer",
           "get", "serialize", "deserialize"]


def _factor(value, name: str, owner: str) -> float:
    """A penalty factor as a float, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"{owner}: invalid value for argument {name}: expected a non-negative float, received {name}={value!r}"
        )
    value = float(value)
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise InvalidArgumentError(
            f"{owner}: invalid value for argument {name}: expected a non-negative float, received {name}={value!r}"
        )
    return value


def _as_float_tensor(x) -> Tensor:
    x = as_tensor(x)
    return x if x.dtype == "float32" else core.cast(x, "float32")


class Regularizer:
    """Base class: a callable mapping a tensor to a scalar penalty tensor."""

    def __call__(self, x) -> Tensor:
        return core.multiply(core.sum(_as_float_tensor(x)), 0.0)

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return _construct_from_config(cls, config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``.

    Args:
        l1: L1 factor, a non-negative float (default 0.0; None means 0).
        l2: L2 factor, a non-negative float (default 0.0; None means 0).

    Example:
        >>> import ember as em
        >>> r = em.regularizers.L1L2(l1=0.01, l2=0.02)
        >>> round(float(r(em.tensor([1.0, -2.0]))), 6)
        0.13
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", type(self).__name__)
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", type(self).__name__)

    def __call__(self, x) -> Tensor:
        x = _as_float_tensor(x)
        out = None
        if self.l1:
            out = core.multiply(core.sum(core.abs(x)), self.l1)
        if self.l2:
            t = core.multiply(core.sum(core.square(x)), self.l2)
            out = t if out is None else core.add(out, t)
        if out is None:
            out = core.multiply(core.sum(x), 0.0)
        return out

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``.

    Args:
        l1: a non-negative float (default 0.01; None means 0.01, as in Keras).
    """

    def __init__(self, l1=0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1", "L1")

    def __call__(self, x) -> Tensor:
        return core.multiply(core.sum(core.abs(_as_float_tensor(x))), self.l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)`` (no 1/2 factor, as in Keras).

    Args:
        l2: a non-negative float (default 0.01; None means 0.01, as in Keras).
    """

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2", "L2")

    def __call__(self, x) -> Tensor:
        return core.multiply(core.sum(core.square(_as_float_tensor(x))), self.l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D kernel towards orthogonality (Keras 3's
    ``keras.regularizers.OrthogonalRegularizer``): with the rows L2-normalized (``x /
    sqrt(max(sum(x^2), 1e-7))``) and ``P`` their Gram matrix,
    ``factor * 0.5 * sum(|P - diag(P)|) / (n (n - 1) / 2)``: ``factor`` times the mean
    absolute cosine between distinct rows.

    Args:
        factor: a non-negative float (default 0.01).
        mode: "rows" (the default) or "columns".

    Example:
        >>> import ember as em
        >>> reg = em.regularizers.OrthogonalRegularizer(factor=1.0)
        >>> float(reg(em.tensor([[1.0, 0.0], [1.0, 0.0]])))   # two parallel rows: cosine 1
        1.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise InvalidArgumentError(f"OrthogonalRegularizer: invalid value for argument `mode`; expected one of "
                                       f"{{'rows', 'columns'}}, received mode={mode!r}")
        self.mode = mode

    def __call__(self, x) -> Tensor:
        import numpy as np

        from .ops.array_ops import rsqrt
        from .ops.nn import matmul

        x = _as_float_tensor(x)
        if x.ndim != 2:
            raise InvalidArgumentError(f"OrthogonalRegularizer: inputs must have rank 2, got inputs.shape={x.shape}")
        axis = 1 if self.mode == "rows" else 0
        n = x.shape[1 - axis]
        if n < 2:
            return core.multiply(core.sum(x), 0.0)  # one row: no pair to decorrelate
        x = core.multiply(x, rsqrt(core.maximum(core.sum(core.square(x), axis=axis, keepdims=True), 1e-7)))
        product = matmul(x, core.transpose(x)) if self.mode == "rows" else matmul(core.transpose(x), x)
        off = core.multiply(product, as_tensor(1.0 - np.eye(n, dtype=np.float32), device=x.device))
        pairs = n * (n - 1.0) / 2.0
        return core.multiply(core.sum(core.abs(off)), self.factor * 0.5 / pairs)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


# Keras's lowercase aliases.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2, "Regularizer": Regularizer,
            "OrthogonalRegularizer": OrthogonalRegularizer, "orthogonal_regularizer": OrthogonalRegularizer}


def _unknown(identifier) -> InvalidConfigError:
    valid = sorted(k for k in _BY_NAME if k.islower())
    return InvalidConfigError(f"Unknown regularizer {identifier!r}; valid regularizers: {', '.join(valid)} "
                              "(register custom ones with @ember.saving.register_serializable() or pass custom_objects)")


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2', 'L2'...), a config dict, a
    class, an instance or a callable. Names are looked up in the custom objects first
    (`ember.saving`), then among the built-ins, then as a registered ``"package>name"``.

    Raises:
        InvalidArgumentError: (a ValueError) for an unknown name or an uninterpretable identifier.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, _BY_NAME)
        if obj is None or obj is Regularizer:
            raise _unknown(identifier)
    else:
        obj = identifier
    if isinstance(obj, type):
        obj = obj()
    if callable(obj):
        return obj
    raise InvalidArgumentError(f"Could not interpret regularizer identifier: {identifier!r}")


def serialize(regularizer):
    """Keras's serialized form (`ember.saving.serialize`) of a regularizer, None for None.

    Example:
        >>> import ember as em
        >>> em.regularizers.serialize(em.regularizers.L2(0.5))
        {'module': 'keras.regularizers', 'class_name': 'L2', 'config': {'l2': 0.5}, 'registered_name': None}
    """
    if regularizer is None:
        return None
    if not callable(regularizer):
        raise InvalidArgumentError(f"serialize: expected a regularizer, got {regularizer!r}")
    return _serialization.serialize_keras_object(regularizer)


def deserialize(config, custom_objects=None):
    """The regularizer described by ``config`` (a serialized dict or a name).

    Raises:
        InvalidConfigError: (an InvalidArgumentError) for an unknown or malformed config.
    """
    return _serialization.deserialize_family(config, custom_objects, _BY_NAME, "regularizer", _unknown, excluded=(Regularizer,))
