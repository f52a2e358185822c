"""Metrics with Keras 3 names: stateful running means over batches.

``"accuracy"`` in ``compile`` resolves the way Keras resolves it: binary accuracy when
the model outputs one value per sample, sparse categorical accuracy when the labels are
class indices, categorical accuracy when they are one-hot.

Example:
    >>> import ember as em
    >>> m = em.metrics.SparseCategoricalAccuracy()
    >>> m.update_state([1, 0], [[0.1, 0.9], [0.2, 0.8]]); float(m.result())
    0.5
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import losses as _losses
from .errors import InvalidArgumentError
from .ops import core
from .tensor import Tensor, as_tensor

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "get",
]


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> Tensor:
    y_pred = core._float(as_tensor(y_pred))
    y_true = _losses._match_rank(core._float(as_tensor(y_true)), y_pred)
    pred = core.greater(y_pred, threshold)
    return core.mean(core.equal(pred, y_true), axis=-1)


def categorical_accuracy(y_true, y_pred) -> Tensor:
    return core.equal(core.cast(core.argmax(y_true, -1), "float32"), core.cast(core.argmax(y_pred, -1), "float32"))


def sparse_categorical_accuracy(y_true, y_pred) -> Tensor:
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = core.squeeze(y_true, -1)
    return core.equal(core.cast(y_true, "float32"), core.cast(core.argmax(y_pred, -1), "float32"))


def accuracy(y_true, y_pred) -> Tensor:
    """Exact equality of labels and predictions (keras.metrics.Accuracy)."""
    y_pred = core._float(as_tensor(y_pred))
    y_true = _losses._match_rank(core._float(as_tensor(y_true)), y_pred)
    return core.equal(y_true, y_pred)


class Metric:
    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def result(self) -> Tensor:
        return as_tensor(np.float32(self.total / self.count if self.count else 0.0))

    def get_config(self) -> dict:
        return {"name": self.name}


class Mean(Metric):
    """Weighted running mean of the values given to ``update_state``."""

    def update_state(self, values, sample_weight=None) -> None:
        v = np.asarray(values.numpy() if isinstance(values, Tensor) else values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += float(v.size)
        else:
            w = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), v.shape)
            self.total += float((v * w).sum())
            self.count += float(w.sum())


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        self._fn = fn
        self._kwargs = kwargs
        super().__init__(name or fn.__name__)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        super().update_state(self._fn(y_true, y_pred, **self._kwargs), sample_weight)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_losses.mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(_losses.mean_absolute_error, name)


_BY_NAME: dict[str, Callable[[], Metric]] = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": lambda: MeanSquaredError(name="mse"), "mean_squared_error": MeanSquaredError,
    "mae": lambda: MeanAbsoluteError(name="mae"), "mean_absolute_error": MeanAbsoluteError,
    "BinaryAccuracy": BinaryAccuracy, "CategoricalAccuracy": CategoricalAccuracy,
    "SparseCategoricalAccuracy": SparseCategoricalAccuracy, "MeanSquaredError": MeanSquaredError,
    "MeanAbsoluteError": MeanAbsoluteError, "Accuracy": Accuracy,
}


def resolve_accuracy(name: str, y_true_shape: tuple, y_pred_shape: tuple, loss) -> Metric:
    """Keras's choice for the string "accuracy"/"acc" given label and output shapes."""
    is_binary = y_pred_shape[-1:] == (1,) or isinstance(loss, _losses.BinaryCrossentropy)
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (len(y_true_shape) == len(y_pred_shape) and y_true_shape[-1:] == (1,))
    if is_binary:
        m: Metric = BinaryAccuracy(name=name)
    elif is_sparse or isinstance(loss, _losses.SparseCategoricalCrossentropy):
        m = SparseCategoricalAccuracy(name=name)
    else:
        m = CategoricalAccuracy(name=name)
    return m


def get(identifier) -> Metric:
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        f = _BY_NAME.get(identifier)
        if f is None:
            valid = ["accuracy", "acc"] + sorted(k for k in _BY_NAME if k.islower())
            raise InvalidArgumentError(f"Unknown metric {identifier!r}; valid metrics: {', '.join(valid)}")
        return f()
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise InvalidArgumentError(f"Could not interpret metric identifier: {identifier!r}")
