"""Losses with Keras 3 names, formulas and reductions.

Each loss exists as a function returning per-sample values (mean over the last axis
where Keras takes it) and as a class whose call reduces them, by default
"sum_over_batch_size": the mean over samples. Probabilities are clipped to
[1e-7, 1 - 1e-7] before logs, as in Keras. When ``y_pred`` came out of a softmax or
sigmoid that Ember fused into a Dense layer, the loss uses the logits underneath
(one stable fused kernel), as Keras does with TensorFlow.

Example:
    >>> import ember as em
    >>> float(em.losses.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]]))
    0.5
"""

from __future__ import annotations

from typing import Callable

from .errors import InvalidArgumentError, ShapeError
from .ops import core, nn
from .tensor import Tensor, as_tensor

__all__ = [
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae", "get", "serialize", "EPSILON",
]

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def _match_rank(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Keras's squeeze_or_expand_to_same_rank for a trailing size-1 axis."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        return core.expand_dims(y_true, -1)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return core.squeeze(y_true, -1)
    return y_true


def _prep(y_true, y_pred, name: str) -> tuple[Tensor, Tensor]:
    y_pred = core._float(as_tensor(y_pred))
    y_true = core._float(as_tensor(y_true, device=y_pred.device))
    y_true = _match_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"{name}: y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}")
    return y_true, y_pred


def mean_squared_error(y_true, y_pred) -> Tensor:
    y_true, y_pred = _prep(y_true, y_pred, "mean_squared_error")
    return core.mean(core.square(core.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    y_true, y_pred = _prep(y_true, y_pred, "mean_absolute_error")
    return core.mean(core.abs(core.subtract(y_pred, y_true)), axis=-1)


def _logits_of(y_pred: Tensor, kind: str):
    lg = getattr(y_pred, "_keras_logits", None)
    if lg is not None and lg[0] == kind:
        return lg[1]
    return None


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    y_pred_t = core._float(as_tensor(y_pred))
    y_true, y_pred_t = _prep(y_true, y_pred_t, "binary_crossentropy")
    if label_smoothing:
        y_true = core.add(core.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    logits = y_pred_t if from_logits else _logits_of(y_pred_t, "sigmoid")
    if logits is not None:
        return core.mean(nn.sigmoid_binary_cross_entropy(logits, y_true), axis=axis)
    p = core.clip(y_pred_t, EPSILON, 1.0 - EPSILON)
    one_minus_t = core.subtract(1.0, y_true)
    bce = core.add(core.multiply(y_true, core.log(p)), core.multiply(one_minus_t, core.log(core.subtract(1.0, p))))
    return core.negative(core.mean(bce, axis=axis))


def _smooth(y_true: Tensor, label_smoothing: float) -> Tensor:
    if not label_smoothing:
        return y_true
    k = y_true.shape[-1]
    return core.add(core.multiply(y_true, 1.0 - label_smoothing), label_smoothing / k)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    y_pred_t = core._float(as_tensor(y_pred))
    y_true_t = core._float(as_tensor(y_true, device=y_pred_t.device))
    if y_true_t.shape != y_pred_t.shape:
        raise ShapeError(
            f"categorical_crossentropy: y_true of shape {y_true_t.shape} does not match y_pred of shape {y_pred_t.shape} "
            "(for integer labels use sparse_categorical_crossentropy)"
        )
    y_true_t = _smooth(y_true_t, label_smoothing)
    logits = y_pred_t if from_logits else _logits_of(y_pred_t, "softmax")
    if logits is not None and axis in (-1, y_pred_t.ndim - 1):
        return nn.softmax_cross_entropy(logits, y_true_t)
    if from_logits:
        return core.negative(core.sum(core.multiply(y_true_t, nn.log_softmax(y_pred_t, axis)), axis=axis))
    p = core.divide(y_pred_t, core.sum(y_pred_t, axis=axis, keepdims=True))
    p = core.clip(p, EPSILON, 1.0 - EPSILON)
    return core.negative(core.sum(core.multiply(y_true_t, core.log(p)), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None, axis: int = -1) -> Tensor:
    y_pred_t = core._float(as_tensor(y_pred))
    y_true_t = as_tensor(y_true, device=y_pred_t.device)
    if y_true_t.ndim == y_pred_t.ndim and y_true_t.shape[-1] == 1:
        y_true_t = core.squeeze(y_true_t, -1)
    if y_true_t.shape != y_pred_t.shape[:-1]:
        raise ShapeError(
            f"sparse_categorical_crossentropy: labels of shape {y_true_t.shape} do not match predictions of shape "
            f"{y_pred_t.shape} (expected labels of shape {y_pred_t.shape[:-1]})"
        )
    if y_true_t.dtype != "int32":
        y_true_t = core.cast(y_true_t, "int32")
    logits = y_pred_t if from_logits else _logits_of(y_pred_t, "softmax")
    if logits is not None:
        return nn.softmax_cross_entropy(logits, y_true_t)
    onehot = nn.one_hot(y_true_t, y_pred_t.shape[-1])
    p = core.divide(y_pred_t, core.sum(y_pred_t, axis=-1, keepdims=True))
    p = core.clip(p, EPSILON, 1.0 - EPSILON)
    return core.negative(core.sum(core.multiply(onehot, core.log(p)), axis=-1))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


def _reduce(values: Tensor, sample_weight, reduction) -> Tensor:
    if sample_weight is not None:
        w = core._float(as_tensor(sample_weight, device=values.device))
        if w.ndim > values.ndim:
            w = core.reshape(w, values.shape)
        values = core.multiply(values, w)
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return core.sum(values)
    if reduction == "mean" and sample_weight is not None:
        return core.divide(core.sum(values), core.sum(as_tensor(sample_weight)))
    return core.mean(values) if values.size else core.sum(values)


class Loss:
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` reduces."""

    fn: Callable | None = None

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype=None, **fn_kwargs):
        if reduction not in REDUCTIONS:
            raise InvalidArgumentError(f"Loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self._fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred) -> Tensor:
        return type(self).fn(y_true, y_pred, **self._fn_kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _snake(name: str) -> str:
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out += "_"
        out += c.lower()
    return out


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name, reduction)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name, reduction)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        _check_smoothing(label_smoothing)
        super().__init__(name, reduction, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        _check_smoothing(label_smoothing)
        super().__init__(name, reduction, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name="sparse_categorical_crossentropy", dtype=None):
        if ignore_class is not None:
            raise InvalidArgumentError("SparseCategoricalCrossentropy: ignore_class is not supported yet")
        super().__init__(name, reduction, from_logits=from_logits)


def _check_smoothing(ls: float) -> None:
    if not 0.0 <= ls <= 1.0:
        raise InvalidArgumentError(f"label_smoothing must be in [0, 1], got {ls}")


_BY_NAME: dict[str, type] = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "MeanSquaredError": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "MeanAbsoluteError": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "BinaryCrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "CategoricalCrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
}
_FN_TO_CLASS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}


class _FunctionLoss(Loss):
    def __init__(self, fn: Callable):
        super().__init__(getattr(fn, "__name__", "custom_loss"))
        self._f = fn

    def call(self, y_true, y_pred):
        return self._f(y_true, y_pred)


def get(identifier) -> Loss:
    """A Loss object from a Keras name, a class, an instance or a function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            valid = sorted(k for k in _BY_NAME if k.islower())
            raise InvalidArgumentError(f"Unknown loss {identifier!r}; valid losses: {', '.join(valid)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if not callable(identifier):
        raise InvalidArgumentError(f"Could not interpret loss identifier: {identifier!r}")
    if identifier in _FN_TO_CLASS:
        return _FN_TO_CLASS[identifier]()
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise InvalidArgumentError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
