"""Keras 3's IoU metrics (``iou_metrics.py``), R2Score, and the per-sample metrics that are
running means of a function: CosineSimilarity, LogCoshError, Poisson, KLDivergence, the
hinges, Pearson and concordance correlation.

The IoU confusion matrix is a product of one-hot matrices on the values' device. It
accumulates in float32, where Keras's default ``dtype="int"`` truncates fractional sample
weights; with integer weights (or none) both agree.

Example:
    >>> import ember as em
    >>> m = em.metrics.MeanIoU(num_classes=2)
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1]); round(float(m.result()), 4)
    0.3333
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses
from ._metrics_confusion import EPSILON, StreamingMetric
from ._validation import brief, check_choice, check_num_elements, is_int
from .autograd import no_grad
from .errors import InvalidArgumentError, ShapeError
from .metrics import _FixedFunction
from .ops import array_ops as _array
from .ops import core
from .ops.nn import matmul as _matmul
from .tensor import Tensor, as_tensor

# -- IoU ------------------------------------------------------------------------------------


class _IoUBase(StreamingMetric):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        self.num_classes = _check_num_classes(num_classes, owner)
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self._add_state("total_cm", (self.num_classes, self.num_classes))

    def _labels(self, y_true, y_pred):
        return y_true, y_pred

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            y_pred = as_tensor(y_pred)
            y_true = as_tensor(y_true, device=y_pred.device)
            self._on_device(y_pred.device)
            y_true, y_pred = self._labels(y_true, y_pred)
            if not self.sparse_y_true:
                y_true = core.argmax(y_true, self.axis)
            if not self.sparse_y_pred:
                y_pred = core.argmax(y_pred, self.axis)
            # Class ids compared in float32 (exact for ids below 2**24).
            t = core.reshape(core._float(y_true), (-1,))
            p = core.reshape(core._float(y_pred), (-1,))
            if t.size != p.size:
                raise ShapeError(f"{type(self).__name__}: y_true has {t.size} values and y_pred {p.size}")
            n = self.num_classes
            valid = core.multiply(core.multiply(core.greater_equal(t, 0.0), core.less(t, float(n))),
                                  core.multiply(core.greater_equal(p, 0.0), core.less(p, float(n))))
            if self.ignore_class is not None:
                valid = core.multiply(valid, core.not_equal(t, float(self.ignore_class)))
            if sample_weight is not None:
                w = core.reshape(core._float(as_tensor(sample_weight, device=t.device)), (-1,))
                w = core.broadcast_to(w, t.shape) if w.shape != t.shape else w
                valid = core.multiply(valid, w)
            classes = self._const(("classes", n), np.arange(n, dtype=np.float32))
            t1 = core.equal(core.reshape(t, (-1, 1)), core.reshape(classes, (1, n)))  # (N, n) one-hot, 0 if invalid id
            p1 = core.equal(core.reshape(p, (-1, 1)), core.reshape(classes, (1, n)))
            t1 = core.multiply(t1, core.reshape(valid, (-1, 1)))
            self._add("total_cm", _matmul(core.transpose(t1), p1))

    def _iou(self, ids) -> Tensor:
        cm = self.total_cm
        rows, cols = core.sum(cm, axis=0), core.sum(cm, axis=1)
        tp = _array.take(core.reshape(cm, (-1,)), [i * (self.num_classes + 1) for i in range(self.num_classes)])
        denom = core.subtract(core.add(rows, cols), tp)
        tp, denom = _array.take(tp, ids), _array.take(denom, ids)
        valid = core.greater(denom, 1e-9)
        iou = core.multiply(core.divide(tp, core.add(denom, EPSILON)), valid)
        return core.divide(core.sum(iou), core.add(core.sum(valid), EPSILON))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


def _check_num_classes(num_classes, owner: str) -> int:
    """A positive integer whose (num_classes, num_classes) confusion matrix can be allocated."""
    if not is_int(num_classes) or num_classes < 1:
        raise InvalidArgumentError(f"{owner}: num_classes must be a positive integer, got {brief(num_classes)}")
    n = int(num_classes)
    check_num_elements(n * n, owner, f"a {n} x {n} confusion matrix")
    return n


def _check_ids(ids, num_classes, owner) -> list:
    try:
        ids = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{owner}: target_class_ids must be a list of integers, got {ids!r}") from None
    if not ids or max(ids) >= num_classes or min(ids) < 0:
        raise InvalidArgumentError(f"{owner}: target class ids {ids} must lie in [0, {num_classes})")
    return ids


class IoU(_IoUBase):
    """Intersection over union ``tp / (tp + fp + fn)`` of the classes in
    ``target_class_ids``, averaged over those with data (Keras's ``IoU``).

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes whose IoU is averaged.
        name: the metric's name.
        dtype: the result's dtype (float32).
        ignore_class: a class id left out (a "void" label such as 255).
        sparse_y_true: labels are class ids (else one-hot or scores: argmax over ``axis``).
        sparse_y_pred: predictions are class ids (else scores: argmax over ``axis``).
        axis: the class axis of dense inputs.

    Example:
        >>> import ember as em
        >>> m = em.metrics.IoU(num_classes=2, target_class_ids=[0])
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1]); round(float(m.result()), 4)
        0.3333
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)
        self.target_class_ids = _check_ids(target_class_ids, self.num_classes, type(self).__name__)

    def result(self) -> Tensor:
        return self._iou(self.target_class_ids)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_class_ids": self.target_class_ids}


class BinaryIoU(IoU):
    """IoU of binary labels, predictions thresholded at ``threshold`` (``y_pred >= threshold`` is 1).

    Args:
        target_class_ids: the classes (0 and/or 1) whose IoU is averaged.
        threshold: the decision threshold of the predictions.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
        >>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]); round(float(m.result()), 4)
        0.3333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    def _labels(self, y_true, y_pred):
        return y_true, core.greater_equal(core._float(y_pred), self.threshold)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold}


class MeanIoU(IoU):
    """The mean IoU over all ``num_classes`` classes (Keras's ``MeanIoU``).

    Args:
        num_classes: the number of classes.
        name: the metric's name.
        dtype: the result's dtype (float32).
        ignore_class: a class id left out.
        sparse_y_true: labels are class ids (else argmax over ``axis``).
        sparse_y_pred: predictions are class ids (else argmax over ``axis``).
        axis: the class axis of dense inputs.

    Example:
        >>> import ember as em
        >>> m = em.metrics.MeanIoU(num_classes=2)
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1]); round(float(m.result()), 4)
        0.3333
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        n = _check_num_classes(num_classes, type(self).__name__)
        super().__init__(n, list(range(n)), name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """IoU with one-hot labels and score predictions (argmax over ``axis``).

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes whose IoU is averaged.
        name: the metric's name.
        dtype: the result's dtype (float32).
        ignore_class: a class id left out.
        sparse_y_pred: predictions are class ids rather than scores.
        axis: the class axis.

    Example:
        >>> import ember as em
        >>> m = em.metrics.OneHotIoU(num_classes=2, target_class_ids=[1])
        >>> m.update_state([[1, 0], [0, 1], [0, 1]], [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]); round(float(m.result()), 4)
        0.5
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """The mean IoU over all classes, with one-hot labels and score predictions.

    Args:
        num_classes: the number of classes.
        name: the metric's name.
        dtype: the result's dtype (float32).
        ignore_class: a class id left out.
        sparse_y_pred: predictions are class ids rather than scores.
        axis: the class axis.

    Example:
        >>> import ember as em
        >>> m = em.metrics.OneHotMeanIoU(num_classes=2)
        >>> m.update_state([[1, 0], [0, 1], [0, 1]], [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]); round(float(m.result()), 4)
        0.5
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


# -- R2 ---------------------------------------------------------------------------------------


class R2Score(StreamingMetric):
    """The coefficient of determination ``1 - SS_res / SS_tot`` per output, aggregated
    (Keras's ``R2Score``; 2-D inputs ``(batch, outputs)``).

    Args:
        class_aggregation: ``"uniform_average"``, ``"variance_weighted_average"`` or None
            (one score per output).
        num_regressors: the number of regressors, for the adjusted R2 (0: plain R2).
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.R2Score()
        >>> m.update_state([[1.0], [2.0], [3.0]], [[1.0], [2.5], [2.5]]); float(m.result())
        0.75
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        check_choice(class_aggregation, "class_aggregation", "R2Score",
                     (None, "uniform_average", "variance_weighted_average"))
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise InvalidArgumentError(f"R2Score: num_regressors must be an integer >= 0, got {num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        self._add_state("num_samples", ())
        self._built = False

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            y_pred = core._float(as_tensor(y_pred))
            y_true = core._float(as_tensor(y_true, device=y_pred.device))
            y_true, y_pred = _losses._squeeze_or_expand(y_true, y_pred)
            if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
                raise ShapeError(f"R2Score: expects 2-D inputs of one shape (batch_size, output_dim), got y_true "
                                 f"{y_true.shape} and y_pred {y_pred.shape}")
            if not self._built:
                for s in ("squared_sum", "sum", "total_mse", "count"):
                    self._add_state(s, (y_pred.shape[-1],))
                self._built = True
            self._on_device(y_pred.device)
            if sample_weight is None:
                w = None
            else:
                w = core._float(as_tensor(sample_weight, device=y_pred.device))
                if w.ndim == 1:
                    w = _array.expand_dims(w, 1)
                w = core.broadcast_to(w, y_true.shape)
            wy = y_true if w is None else core.multiply(y_true, w)
            sq = core.square(core.subtract(y_true, y_pred))
            self._add("sum", core.sum(wy, axis=0))
            self._add("squared_sum", core.sum(core.multiply(y_true, wy), axis=0))
            self._add("total_mse", core.sum(sq if w is None else core.multiply(sq, w), axis=0))
            if w is None:
                self._add("count", self._const(("count", y_true.shape[0], y_true.shape[1]),
                                               np.full(y_true.shape[1], y_true.shape[0], np.float32)))
            else:
                self._add("count", core.sum(w, axis=0))
            self._add("num_samples", self._const(("n", y_true.size), np.float32(y_true.size)))

    def result(self) -> Tensor:
        if not self._built:
            return as_tensor(np.float32(0.0))
        mean = core.divide(self.sum, self.count)
        total = core.subtract(self.squared_sum, core.multiply(self.sum, mean))
        raw = core.subtract(1.0, core.divide(self.total_mse, total))
        infinite = core.equal(core.abs(raw), float("inf"))  # Keras sets +-inf (total == 0) to 0
        raw = _array.where(infinite, 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = core.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = core.divide(core.sum(core.multiply(total, raw)), core.sum(total))
        else:
            r2 = raw
        if self.num_regressors:
            n, p = self.num_samples, float(self.num_regressors)
            # Keras: warns and returns plain R2 when p >= n - 1; here the same, on the device.
            adj = core.subtract(1.0, core.divide(core.multiply(core.subtract(1.0, r2), core.subtract(n, 1.0)),
                                                 core.subtract(core.subtract(n, p), 1.0)))
            r2 = _array.where(core.greater(n, p + 1.0), adj, r2)
        return r2

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# -- running means of a function ----------------------------------------------------------------


def _pair(y_true, y_pred):
    y_pred = core._float(as_tensor(y_pred))
    y_true = core._float(as_tensor(y_true, device=y_pred.device))
    return _losses._squeeze_or_expand(y_true, y_pred)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    ss = core.sum(core.square(x), axis=axis, keepdims=True)
    return core.multiply(x, _array.rsqrt(core.maximum(ss, 1e-12)))


def cosine_similarity(y_true, y_pred, axis=-1) -> Tensor:
    """The cosine of the angle between labels and predictions along ``axis``, per sample
    (the metric: +1 for equal directions; the loss of the same name is its negative)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return core.sum(core.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis)), axis=axis)


def pearson_correlation(y_true, y_pred, axis=-1) -> Tensor:
    """Pearson's correlation of labels and predictions along ``axis``, per sample.

    Example:
        >>> import ember as em
        >>> round(float(em.metrics.pearson_correlation([[1.0, 2.0, 3.0]], [[2.0, 4.0, 7.0]])[0]), 4)
        0.9934
    """
    y_true, y_pred = _pair(y_true, y_pred)
    t = core.subtract(y_true, core.mean(y_true, axis=axis, keepdims=True))
    p = core.subtract(y_pred, core.mean(y_pred, axis=axis, keepdims=True))
    t = core.divide(t, _array.std(t, axis=axis, keepdims=True))
    p = core.divide(p, _array.std(p, axis=axis, keepdims=True))
    return core.mean(core.multiply(t, p), axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1) -> Tensor:
    """Lin's concordance correlation of labels and predictions along ``axis``, per sample
    (Keras's formula, including its ``y_true - mean(y_pred)`` in the covariance term).

    Example:
        >>> import ember as em
        >>> round(float(em.metrics.concordance_correlation([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.5]])[0]), 4)
        0.9524
    """
    y_true, y_pred = _pair(y_true, y_pred)
    tm = core.mean(y_true, axis=axis, keepdims=True)
    pm = core.mean(y_pred, axis=axis, keepdims=True)
    tv = _array.var(core.subtract(y_true, tm), axis=axis, keepdims=True)
    pv = _array.var(core.subtract(y_pred, pm), axis=axis, keepdims=True)
    covar = core.multiply(core.subtract(y_true, pm), core.subtract(y_pred, pm))
    norm = core.add(core.add(tv, pv), core.square(core.subtract(tm, pm)))
    return core.mean(core.divide(core.multiply(covar, 2.0), core.add(norm, EPSILON)), axis=axis)


class CosineSimilarity(_FixedFunction):
    """The mean cosine similarity of labels and predictions (Keras's metric: +1 is best).

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).
        axis: the axis of the vectors.

    Example:
        >>> import ember as em
        >>> m = em.metrics.CosineSimilarity()
        >>> m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]); round(float(m.result()), 4)
        0.5
    """

    _config_args = ("axis",)

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name, dtype, axis=axis)


class LogCoshError(_FixedFunction):
    """The mean of ``log(cosh(y_pred - y_true))``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.LogCoshError()
        >>> m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); round(float(m.result()), 4)
        0.2169
    """

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(_losses.log_cosh, name, dtype)


class Poisson(_FixedFunction):
    """The mean Poisson deviance term ``y_pred - y_true * log(y_pred)``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.Poisson()
        >>> m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); round(float(m.result()), 4)
        1.0
    """

    def __init__(self, name="poisson", dtype=None):
        super().__init__(_losses.poisson, name, dtype)


class KLDivergence(_FixedFunction):
    """The mean Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.KLDivergence()
        >>> m.update_state([[0.5, 0.5]], [[0.5, 0.5]]); round(float(m.result()), 4)
        0.0
    """

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(_losses.kl_divergence, name, dtype)


class Hinge(_FixedFunction):
    """The mean hinge ``max(1 - y_true * y_pred, 0)`` (labels -1/1, or 0/1 mapped to -1/1).

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.Hinge()
        >>> m.update_state([[0.0, 1.0]], [[0.6, 0.4]]); round(float(m.result()), 4)
        1.1
    """

    def __init__(self, name="hinge", dtype=None):
        super().__init__(_losses.hinge, name, dtype)


class SquaredHinge(_FixedFunction):
    """The mean of ``max(1 - y_true * y_pred, 0)^2``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.SquaredHinge()
        >>> m.update_state([[0.0, 1.0]], [[0.6, 0.4]]); round(float(m.result()), 4)
        1.46
    """

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(_losses.squared_hinge, name, dtype)


class CategoricalHinge(_FixedFunction):
    """The mean of ``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.CategoricalHinge()
        >>> m.update_state([[0.0, 1.0]], [[0.6, 0.4]]); round(float(m.result()), 4)
        1.2
    """

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(_losses.categorical_hinge, name, dtype)


class PearsonCorrelation(_FixedFunction):
    """The mean over samples of Pearson's correlation along ``axis``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).
        axis: the axis along which each correlation is taken.

    Example:
        >>> import ember as em
        >>> m = em.metrics.PearsonCorrelation()
        >>> m.update_state([[1.0, 2.0, 3.0]], [[2.0, 4.0, 7.0]]); round(float(m.result()), 4)
        0.9934
    """

    _config_args = ("axis",)

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name, dtype, axis=axis)


class ConcordanceCorrelation(_FixedFunction):
    """The mean over samples of Lin's concordance correlation along ``axis``.

    Args:
        name: the metric's name.
        dtype: the result's dtype (float32).
        axis: the axis along which each correlation is taken.

    Example:
        >>> import ember as em
        >>> m = em.metrics.ConcordanceCorrelation()
        >>> m.update_state([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.5]]); round(float(m.result()), 4)
        0.9524
    """

    _config_args = ("axis",)

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name, dtype, axis=axis)


__all__ = [
    "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "R2Score", "CosineSimilarity", "LogCoshError",
    "Poisson", "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge", "PearsonCorrelation",
    "ConcordanceCorrelation", "cosine_similarity", "pearson_correlation", "concordance_correlation",
]
