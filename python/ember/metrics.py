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
from ._boundary import construct_from_config as _construct_from_config
from .errors import InvalidArgumentError, InvalidConfigError
from .ops import core
from .saving import serialization_lib as _serialization
from .tensor import Tensor, as_tensor

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "accuracy", "get", "serialize", "deserialize",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "Sum", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
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
    """Base class of the metrics (``keras.metrics.Metric``): ``update_state``, ``result``,
    ``reset_state``; ``get_config``/``from_config`` round-trip through JSON."""

    def __init__(self, dtype=None, name: str | None = None):
        from .backend.keras_api import ALLOWED_DTYPES

        if isinstance(dtype, str) and dtype not in ALLOWED_DTYPES + ("float", "int") and name is None:
            # Ember's earlier order was (name, dtype): a positional name still works.
            dtype, name = None, dtype
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{type(self).__name__}: name must be a string, got {type(name).__name__}")
        self.name = name or type(self).__name__.lower()
        self.dtype = "float32" if dtype is None else dtype
        self._variables: list = []
        # The base state only: a subclass's own reset_state may use variables that its
        # __init__ has not made yet (Keras's Metric.__init__ calls no reset_state).
        Metric.reset_state(self)

    def reset_state(self) -> None:
        """Zeroes the running sums and every variable made with `add_variable`."""
        # The running sums: Python floats for values on the host (the CPU device: reading
        # them costs nothing), 0-d tensors on the values' device otherwise, so a GPU
        # training step never waits for a readback (see `Mean.update_state`).
        self.total = 0.0
        self.count = 0.0
        self._total_dev = None
        self._count_dev = None
        for v in getattr(self, "_variables", ()):
            v.assign(np.zeros(v.shape, np.float32 if v.dtype == "float32" else np.int32))

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable of the metric (Keras 3's ``Metric.add_variable``), zeroed by
        the default `reset_state`."""
        from . import initializers
        from .tensor import Variable

        try:
            shape = tuple(int(d) for d in shape) if shape is not None else ()
        except (TypeError, ValueError, OverflowError):
            raise InvalidArgumentError(f"{type(self).__name__}.add_variable: shape must be a tuple of integers, got {shape!r}") from None
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{type(self).__name__}.add_variable: name must be a string, got {name!r}")
        value = initializers.get(initializer)(shape, dtype=dtype)
        v = Variable(value, dtype=dtype or "float32", trainable=False, name=f"{self.name}/{name or 'variable'}")
        self._variables.append(v)
        return v

    add_weight = add_variable

    @property
    def variables(self) -> list:
        return list(self._variables)

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def result(self) -> Tensor:
        """The current value (a 0-d tensor; on a GPU it stays there until read)."""
        if self._total_dev is not None:
            from .tensor import full

            total = self._total_dev if not self.total else core.add(self._total_dev, self.total)
            count = self._count_dev
            if count is None:
                c = self.count
                # A fresh constant (ops cache scalars by value, and the count changes every step).
                return core.multiply(total, full((), 1.0 / c if c else 0.0, "float32", total.device))
            if self.count:
                count = core.add(count, self.count)
            return core.divide(total, core.maximum(count, 1e-30))
        return as_tensor(np.float32(self.total / self.count if self.count else 0.0))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return _construct_from_config(cls, config)


class Mean(Metric):
    """Weighted running mean of the values given to ``update_state``.

    Values on the CPU are summed on the host in float64; values on another device are
    summed there, in float32, so updating the metric never reads the device back (the
    result is read when a log line or a callback needs it).

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(dtype=dtype, name=name)

    def update_state(self, values, sample_weight=None) -> None:
        if isinstance(values, Tensor) and values.device != "cpu":
            self._update_on_device(values, sample_weight)
            return
        if type(values) is Tensor and values.size == 1 and (sample_weight is None or type(sample_weight) in (int, float)):
            # A batch's loss weighted by its size, every step of fit: the sums below, for one value.
            v1 = float(values._backend.to_numpy(values._buf, (1,), values.dtype)[0])
            w1 = 1.0 if sample_weight is None else float(sample_weight)
            self.total += v1 if sample_weight is None else v1 * w1
            self.count += w1
            return
        try:
            v = np.asarray(values.numpy() if isinstance(values, Tensor) else values, dtype=np.float64)
            if sample_weight is not None:
                sw = sample_weight.numpy() if isinstance(sample_weight, Tensor) else sample_weight
                w = np.broadcast_to(np.asarray(sw, dtype=np.float64), v.shape)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"{type(self).__name__}.update_state: values and sample_weight must be numeric arrays "
                                       f"of compatible shapes ({e})") from None
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += float(v.size)
        else:
            self.total += float((v * w).sum())
            self.count += float(w.sum())

    def _update_on_device(self, values: Tensor, sample_weight) -> None:
        v = core._float(values)
        if sample_weight is None:
            s = core.sum(v)
            self.count += float(v.size)
        elif isinstance(sample_weight, Tensor):
            w = core.broadcast_to(core._float(sample_weight.to(v.device)), v.shape) if sample_weight.shape != v.shape else core._float(sample_weight)
            s = core.sum(core.multiply(v, w))
            c = core.sum(w)
            self._count_dev = c if self._count_dev is None else core.add(self._count_dev, c)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == 0:
                s = core.multiply(core.sum(v), float(w))
                self.count += float(w) * v.size
            else:
                wb = np.broadcast_to(w, v.shape)
                s = core.sum(core.multiply(v, Tensor(wb.astype(np.float32), device=v.device)))
                self.count += float(wb.sum())
        self._total_dev = s if self._total_dev is None else core.add(self._total_dev, s)


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise InvalidArgumentError(f"MeanMetricWrapper: fn must be callable, got {fn!r}")
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self._fn = fn
        self._kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "mean_metric_wrapper"), dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        super().update_state(self._fn(y_true, y_pred, **self._kwargs), sample_weight)

    def get_config(self) -> dict:
        """Keras's layout: name, dtype, the function in Keras's function form, and its kwargs."""
        return {**super().get_config(), "fn": _serialization.serialize_keras_object(self._fn),
                **_serialization.serialize_keras_object(self._kwargs)}

    @classmethod
    def from_config(cls, config: dict):
        if not isinstance(config, dict):
            raise InvalidConfigError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return _construct_from_config(cls, config)


class _FixedFunction(MeanMetricWrapper):
    """A MeanMetricWrapper subclass whose function is fixed by the class: its config is
    Keras's ``{"name", "dtype", ...its own arguments}`` without ``fn``."""

    _config_args: tuple = ()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, **{k: self._kwargs[k] for k in self._config_args}}

    @classmethod
    def from_config(cls, config: dict):
        return _construct_from_config(cls, config)


class Accuracy(_FixedFunction):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(_FixedFunction):
    _config_args = ("threshold",)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(_FixedFunction):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(_FixedFunction):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class MeanSquaredError(_FixedFunction):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(_FixedFunction):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(_losses.mean_absolute_error, name, dtype)


class MeanAbsolutePercentageError(_FixedFunction):
    """Mean of ``100 * |y_true - y_pred| / max(|y_true|, eps)`` (Keras's metric)."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(_losses.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(_FixedFunction):
    """Mean of ``(log(1 + y_pred) - log(1 + y_true))^2``."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(_losses.mean_squared_logarithmic_error, name, dtype)


class RootMeanSquaredError(Mean):
    """``sqrt(mean((y_true - y_pred)^2))`` over every value seen (Keras's metric).

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = core._float(as_tensor(y_pred))
        y_true = _losses._match_rank(core._float(as_tensor(y_true, device=y_pred.device)), y_pred)
        super().update_state(core.square(core.subtract(y_true, y_pred)), sample_weight)

    def result(self) -> Tensor:
        return core.sqrt(super().result())


class _CrossentropyMetric(_FixedFunction):
    _config_args = ("from_logits", "label_smoothing")


class BinaryCrossentropy(_CrossentropyMetric):
    """Mean binary crossentropy (Keras's metric; ``from_logits``, ``label_smoothing``)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(_losses.binary_crossentropy, name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_CrossentropyMetric):
    """Mean categorical crossentropy of one-hot labels (``from_logits``, ``label_smoothing``)."""

    _config_args = ("from_logits", "label_smoothing", "axis")

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(_losses.categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_FixedFunction):
    """Mean crossentropy of integer labels (``from_logits``)."""

    _config_args = ("from_logits", "ignore_class", "axis")

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None, axis=-1):
        super().__init__(_losses.sparse_categorical_crossentropy, name, dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)


def _in_top_k(y_pred: Tensor, true_index: Tensor, k: int) -> Tensor:
    """1 where the true class's score is among the ``k`` largest (ties count for it)."""
    from .ops.array_ops import take_along_axis

    true_score = take_along_axis(y_pred, core.reshape(core.cast(true_index, "int32"), true_index.shape + (1,)), axis=-1)
    above = core.sum(core.cast(core.greater(y_pred, true_score), "float32"), axis=-1)
    return core.cast(core.less(above, float(k)), "float32")


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids=False) -> Tensor:
    """Whether the integer label is among the ``k`` top-scored classes, per sample. With
    ``from_sorted_ids``, ``y_pred`` holds class ids sorted by score (best first)."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, device=y_pred.device)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = core.reshape(y_true, y_true.shape[:-1])
    if from_sorted_ids:
        from .ops.array_ops import take

        ids = core._float(take(y_pred, list(range(min(k, y_pred.shape[-1]))), axis=-1))
        hit = core.equal(ids, core.reshape(core._float(y_true), y_true.shape + (1,)))
        return core.max(hit, axis=-1)
    return _in_top_k(core._float(y_pred), y_true, k)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> Tensor:
    """Whether the one-hot label's class is among the ``k`` top-scored classes, per sample."""
    y_pred = core._float(as_tensor(y_pred))
    return _in_top_k(y_pred, core.argmax(as_tensor(y_true, device=y_pred.device), -1), k)


def _check_k(k, owner: str) -> int:
    """``k`` as an int if it is an integer >= 1 (an integral float too, as before), else
    InvalidArgumentError."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, float, np.integer, np.floating)) or not np.isfinite(k) \
            or k != int(k) or k < 1:
        raise InvalidArgumentError(f"{owner}: k must be an integer >= 1, got {k!r}")
    return int(k)


class TopKCategoricalAccuracy(_FixedFunction):
    """How often the one-hot target is in the top ``k`` predictions (``k=5``)."""

    _config_args = ("k",)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=_check_k(k, "TopKCategoricalAccuracy"))


class SparseTopKCategoricalAccuracy(_FixedFunction):
    """How often the integer target is in the top ``k`` predictions (``k=5``)."""

    _config_args = ("k", "from_sorted_ids")

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=_check_k(k, "SparseTopKCategoricalAccuracy"),
                         from_sorted_ids=bool(from_sorted_ids))


class Sum(Mean):
    """The running (weighted) sum of the values given to ``update_state``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)

    def result(self) -> Tensor:
        if self._total_dev is not None:
            return self._total_dev if not self.total else core.add(self._total_dev, self.total)
        return as_tensor(np.float32(self.total))


# The built-ins a name resolves to (Keras's ALL_OBJECTS_DICT); lookups go through
# ember.saving, custom objects first. "mse"/"mae" give metrics named by the alias.
_BY_NAME: dict = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "BinaryAccuracy": BinaryAccuracy, "CategoricalAccuracy": CategoricalAccuracy,
    "SparseCategoricalAccuracy": SparseCategoricalAccuracy, "MeanSquaredError": MeanSquaredError,
    "MeanAbsoluteError": MeanAbsoluteError, "Accuracy": Accuracy,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    **{c.__name__: c for c in (MeanAbsolutePercentageError, MeanSquaredLogarithmicError, RootMeanSquaredError,
                               BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                               TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Sum, Mean)},
}
_MODULE_OBJECTS: dict = {
    **{c.__name__: c for c in (Metric, Mean, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                               SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
                               MeanAbsolutePercentageError, MeanSquaredLogarithmicError, RootMeanSquaredError,
                               BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                               TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Sum)},
    **{f.__name__: f for f in (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, accuracy,
                               top_k_categorical_accuracy, sparse_top_k_categorical_accuracy)},
}


# The confusion-matrix family, IoU, R2 and the per-sample function metrics live in their
# own files; they subclass Metric from here.
from . import _metrics_confusion, _metrics_more  # noqa: E402
from ._metrics_confusion import (  # noqa: E402
    AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives,
)
from ._metrics_more import (  # noqa: E402
    BinaryIoU, CategoricalHinge, ConcordanceCorrelation, CosineSimilarity, Hinge, IoU, KLDivergence, LogCoshError,
    MeanIoU, OneHotIoU, OneHotMeanIoU, PearsonCorrelation, Poisson, R2Score, SquaredHinge, concordance_correlation,
    pearson_correlation,
)
# Keras's keras.metrics re-exports these loss functions under the same names.
from .losses import (  # noqa: E402
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    categorical_hinge, hinge, huber, kl_divergence, log_cosh,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, poisson,
    sparse_categorical_crossentropy, squared_hinge,
)

_LOSS_FUNCTIONS = (binary_crossentropy, categorical_crossentropy, categorical_hinge, hinge, huber, kl_divergence,
                   log_cosh, mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                   mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge,
                   binary_focal_crossentropy, categorical_focal_crossentropy)
_NEW_CLASSES = tuple(getattr(_metrics_confusion, n) for n in _metrics_confusion.__all__) + tuple(
    getattr(_metrics_more, n) for n in _metrics_more.__all__ if isinstance(getattr(_metrics_more, n), type))
_BY_NAME.update({c.__name__: c for c in _NEW_CLASSES})
_BY_NAME.update({"auc": AUC, "precision": Precision, "recall": Recall, "f1_score": F1Score, "fbeta_score": FBetaScore,
                 "r2_score": R2Score, "iou": IoU, "mean_iou": MeanIoU, "binary_iou": BinaryIoU,
                 "cosine_similarity": CosineSimilarity, "logcosh": LogCoshError, "log_cosh": LogCoshError,
                 "poisson": Poisson, "kl_divergence": KLDivergence, "kld": KLDivergence, "hinge": Hinge,
                 "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
                 "pearson_correlation": PearsonCorrelation, "concordance_correlation": ConcordanceCorrelation,
                 "true_positives": TruePositives, "false_positives": FalsePositives,
                 "true_negatives": TrueNegatives, "false_negatives": FalseNegatives})
_MODULE_OBJECTS.update({c.__name__: c for c in _NEW_CLASSES})
_MODULE_OBJECTS.update({f.__name__: f for f in _LOSS_FUNCTIONS + (pearson_correlation, concordance_correlation)})
__all__ += [c.__name__ for c in _NEW_CLASSES] + [f.__name__ for f in _LOSS_FUNCTIONS] + [
    "pearson_correlation", "concordance_correlation"]


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


def _unknown(identifier) -> InvalidConfigError:
    valid = ["accuracy", "acc"] + sorted(k for k in _BY_NAME if k.islower())
    return InvalidConfigError(f"Unknown metric {identifier!r}; valid metrics: {', '.join(valid)} "
                              "(register custom ones with @ember.saving.register_serializable() or pass custom_objects)")


def _as_metric(obj, identifier) -> Metric:
    if isinstance(obj, Metric):
        return obj
    if isinstance(obj, type) and issubclass(obj, Metric):
        return obj()
    if callable(obj) and not isinstance(obj, type):
        return MeanMetricWrapper(obj)
    raise InvalidArgumentError(f"Could not interpret metric identifier: {identifier!r}")


def get(identifier) -> Metric:
    """A `Metric` from a name (``"mae"``, ``"BinaryAccuracy"``...), a serialized dict, a
    class, an instance or a metric function (wrapped in `MeanMetricWrapper`). Names are
    looked up in the custom objects first (`ember.saving`), then among the built-ins, then
    as a registered ``"package>name"``. ``"accuracy"`` is resolved by ``compile``, which
    knows the shapes (`resolve_accuracy`).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return _as_metric(deserialize(identifier), identifier)
    if isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, _BY_NAME)
        if obj is None:
            raise _unknown(identifier)
        if identifier in ("mse", "mae", "mape", "msle") and obj is _BY_NAME[identifier]:
            return obj(name=identifier)  # Keras names the metric by the alias
        return _as_metric(obj, identifier)
    if isinstance(identifier, type) and not issubclass(identifier, Metric):
        raise InvalidArgumentError(f"Could not interpret metric identifier: {identifier!r}")
    if callable(identifier):
        return _as_metric(identifier, identifier)
    raise InvalidArgumentError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric) -> dict:
    """Keras's serialized form (`ember.saving.serialize`) of a metric or metric function.

    Example:
        >>> import ember as em
        >>> em.metrics.serialize(em.metrics.BinaryAccuracy(threshold=0.7))["config"]
        {'name': 'binary_accuracy', 'dtype': 'float32', 'threshold': 0.7}
    """
    if isinstance(metric, Metric) or (callable(metric) and not isinstance(metric, type)):
        return _serialization.serialize_keras_object(metric)
    raise InvalidArgumentError(f"serialize: expected a Metric or a metric function, got {metric!r}")


def deserialize(config, custom_objects=None):
    """The metric (or metric function) described by ``config``, a serialized dict or a name.

    Raises:
        InvalidConfigError: (an InvalidArgumentError) for an unknown or malformed config.
    """
    return _serialization.deserialize_family(config, custom_objects, _MODULE_OBJECTS, "metric", _unknown)
