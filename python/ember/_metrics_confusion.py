"""The confusion-matrix metrics (Keras 3's ``confusion_metrics.py`` and ``f_score_metrics.py``):
TruePositives ... FalseNegatives, Precision, Recall, AUC (ROC, PR, PRGAIN), the
sensitivity/specificity family, F1Score and FBetaScore.

State lives in metric variables on the device of the predictions; an update is a few
ember ops (a thresholds-by-values comparison and a matrix product) and never reads the
device back, so a GPU epoch streams its metrics without a host round trip per batch.

Example:
    >>> import ember as em
    >>> m = em.metrics.Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
"""

from __future__ import annotations

import re

import numpy as np

from . import losses as _losses
from ._validation import check_choice, check_int
from .autograd import no_grad
from .errors import InvalidArgumentError, ShapeError
from .metrics import Metric
from .ops import array_ops as _array
from .ops import core
from .ops.nn import matmul as _matmul
from .tensor import Tensor, Variable, as_tensor

NEG_INF = -1e10
EPSILON = 1e-7


def snake_name(cls) -> str:
    """Keras's default metric name: the class name in snake case (``TruePositives`` ->
    ``true_positives``)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls.__name__)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def divide_no_nan(a: Tensor, b: Tensor) -> Tensor:
    """``a / b`` with 0 where ``b == 0`` (``keras.ops.divide_no_nan``)."""
    zero = core.equal(b, 0.0)
    safe = core.add(b, zero)  # 1 where b == 0: no inf/NaN in the quotient
    return core.multiply(core.divide(a, safe), core.subtract(1.0, zero))


class StreamingMetric(Metric):
    """A metric whose state is a set of variables that live on the device of the values
    it is updated with (moved once, when the first batch of a new device arrives)."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name or snake_name(type(self)), dtype=dtype)
        self._state_names: list[str] = []
        self._state_device = None
        self._consts: dict = {}

    def _add_state(self, name: str, shape) -> Variable:
        v = self.add_variable(shape=shape, name=name)
        self._state_names.append(name)
        setattr(self, name, v)
        return v

    def _on_device(self, device: str) -> None:
        if self._state_device == device:
            return
        for name in self._state_names:
            old = getattr(self, name)
            if old.device != device:
                new = Variable(old.numpy(), dtype=old.dtype, trainable=False, name=old.name, device=device)
                self._variables = [new if v is old else v for v in self._variables]
                setattr(self, name, new)
        self._state_device = device
        self._consts = {}

    def _const(self, key, value) -> Tensor:
        """A constant array on the state's device, made once."""
        t = self._consts.get(key)
        if t is None:
            t = Tensor(np.asarray(value, np.float32), device=self._state_device)
            self._consts[key] = t
        return t

    def _add(self, name: str, delta: Tensor) -> None:
        v = getattr(self, name)
        v.assign(core.add(v, delta))

    def reset_state(self) -> None:
        super().reset_state()


# The most evenly spaced thresholds a metric builds (Keras sets no limit: 2**40 of them
# would be a 2**40-long list before any state is allocated).
MAX_THRESHOLDS = 1 << 20


def check_num_thresholds(value, owner: str, minimum: int) -> int:
    """``num_thresholds`` as an int in ``[minimum, MAX_THRESHOLDS]``, else InvalidArgumentError."""
    return check_int(value, "num_thresholds", owner, minimum=minimum, maximum=MAX_THRESHOLDS)


def parse_thresholds(thresholds, default: float, owner: str) -> list[float]:
    """Keras's ``parse_init_thresholds``: None gives ``[default]``; a float or a list of
    floats in [0, 1]."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    for t in values:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or not 0 <= t <= 1:
            raise InvalidArgumentError(f"{owner}: thresholds must be floats in [0, 1], got {thresholds!r}")
    if not values:
        raise InvalidArgumentError(f"{owner}: thresholds must not be empty")
    return [float(t) for t in values]


def _filter_top_k(x: Tensor, k: int) -> Tensor:
    """The ``k`` largest values of the last axis kept, the others set to NEG_INF."""
    _, idx = _array.top_k(x, k)
    mask = core.sum(_array.one_hot(idx, x.shape[-1]), axis=-2)
    return core.add(core.multiply(x, mask), core.multiply(core.subtract(1.0, mask), NEG_INF))


def confusion_update(metric: StreamingMetric, y_true, y_pred, sample_weight, thresholds, top_k=None,
                     class_id=None, multi_label=False, label_weights=None, owner="metric") -> dict:
    """Keras's ``update_confusion_matrix_variables``: the weighted counts of
    ``y_true != 0`` / ``y_pred > threshold`` per threshold, as tensors ``tp, fp, tn, fn``
    of shape ``(num_thresholds,)`` (``(num_thresholds, num_labels)`` with multi_label)."""
    y_pred = core._float(as_tensor(y_pred))
    metric._on_device(y_pred.device)
    y_true = core._float(as_tensor(y_true, device=y_pred.device))
    y_pred, y_true = _losses._squeeze_or_expand(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"{owner}: y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}")
    sw = None
    if sample_weight is not None:
        sw = core._float(as_tensor(sample_weight, device=y_pred.device))
        sw = _array.expand_dims(sw, -1)
        _, sw = _losses._squeeze_or_expand(y_true, sw, expand_rank_1=False)
        try:
            np.broadcast_shapes(sw.shape, y_pred.shape)
        except ValueError:
            raise ShapeError(f"{owner}: sample_weight of shape {tuple(np.shape(sample_weight))} does not broadcast "
                             f"to y_pred of shape {y_pred.shape}") from None
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ShapeError(f"{owner}: class_id needs y_pred of shape (num_samples, num_classes), got {y_pred.shape}")
        if not 0 <= class_id < y_pred.shape[-1]:
            raise InvalidArgumentError(f"{owner}: class_id {class_id} is out of range for {y_pred.shape[-1]} classes")
        y_true = _array.take(y_true, [class_id], axis=-1)
        y_pred = _array.take(y_pred, [class_id], axis=-1)
        if sw is not None and sw.ndim == y_pred.ndim and sw.shape[-1] != 1:
            sw = _array.take(sw, [class_id], axis=-1)
    w = core.broadcast_to(sw, y_pred.shape) if sw is not None and sw.shape != y_pred.shape else sw
    if label_weights is not None and not multi_label:
        lw = metric._const(("label_weights",), label_weights)
        lw = core.broadcast_to(lw, y_pred.shape)
        w = lw if w is None else core.multiply(w, lw)
    pos = core.not_equal(y_true, 0.0)
    n_thr = len(thresholds)
    thr = metric._const(("thresholds", tuple(thresholds)), thresholds)
    if multi_label:
        # (T, N, L): per label, as Keras's multi_label path.
        above = core.greater(_array.expand_dims(y_pred, 0), core.reshape(thr, (n_thr, 1, 1)))
        pw = pos if w is None else core.multiply(pos, w)
        nw = core.subtract(1.0, pos) if w is None else core.multiply(core.subtract(1.0, pos), w)
        tp = core.sum(core.multiply(above, pw), axis=1)
        fp = core.sum(core.multiply(above, nw), axis=1)
        total_p, total_n = core.sum(pw, axis=0), core.sum(nw, axis=0)
    else:
        m = y_pred.size
        pred = core.reshape(y_pred, (1, m))
        above = core.greater(pred, core.reshape(thr, (n_thr, 1)))  # (T, M), 1.0 where y_pred > t
        pos_flat = core.reshape(pos, (m, 1))
        pw = pos_flat if w is None else core.multiply(pos_flat, core.reshape(w, (m, 1)))
        nw = core.subtract(1.0, pos_flat) if w is None else core.multiply(core.subtract(1.0, pos_flat), core.reshape(w, (m, 1)))
        tp = core.reshape(_matmul(above, pw), (n_thr,))
        fp = core.reshape(_matmul(above, nw), (n_thr,))
        total_p, total_n = core.sum(pw), core.sum(nw)
    return {"tp": tp, "fp": fp, "fn": core.subtract(total_p, tp), "tn": core.subtract(total_n, fp)}


# -- counts -------------------------------------------------------------------------------


class _ConfusionMatrixConditionCount(StreamingMetric):
    _cond = "tp"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, 0.5, type(self).__name__)
        self._add_state("accumulator", (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            c = confusion_update(self, y_true, y_pred, sample_weight, self.thresholds, owner=type(self).__name__)
            self._add("accumulator", c[self._cond])

    def result(self) -> Tensor:
        return self.accumulator[0] if len(self.thresholds) == 1 else core.add(self.accumulator, 0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """The weighted number of true positives (``y_true != 0`` and ``y_pred > threshold``).

    Args:
        thresholds: a float or a list of floats in [0, 1] (default 0.5); one count per threshold.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.TruePositives()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); float(m.result())
        2.0
    """

    _cond = "tp"


class FalsePositives(_ConfusionMatrixConditionCount):
    """The weighted number of false positives (``y_true == 0`` and ``y_pred > threshold``).

    Args:
        thresholds: a float or a list of floats in [0, 1] (default 0.5).
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.FalsePositives()
        >>> m.update_state([0, 1, 0, 0], [0, 0, 1, 1]); float(m.result())
        2.0
    """

    _cond = "fp"


class TrueNegatives(_ConfusionMatrixConditionCount):
    """The weighted number of true negatives (``y_true == 0`` and ``y_pred <= threshold``).

    Args:
        thresholds: a float or a list of floats in [0, 1] (default 0.5).
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.TrueNegatives()
        >>> m.update_state([0, 1, 0, 0], [1, 1, 0, 0]); float(m.result())
        2.0
    """

    _cond = "tn"


class FalseNegatives(_ConfusionMatrixConditionCount):
    """The weighted number of false negatives (``y_true != 0`` and ``y_pred <= threshold``).

    Args:
        thresholds: a float or a list of floats in [0, 1] (default 0.5).
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.FalseNegatives()
        >>> m.update_state([0, 1, 1, 1], [0, 1, 0, 0]); float(m.result())
        2.0
    """

    _cond = "fn"


class _PrecisionRecall(StreamingMetric):
    _states: tuple = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise InvalidArgumentError(f"{owner}: top_k must be a positive integer, got {top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer))):
            raise InvalidArgumentError(f"{owner}: class_id must be an integer, got {class_id!r}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF, owner) \
            if thresholds is not None or top_k is None else [NEG_INF]
        for s in self._states:
            self._add_state(s, (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            c = confusion_update(self, y_true, y_pred, sample_weight, self.thresholds, top_k=self.top_k,
                                 class_id=self.class_id, owner=type(self).__name__)
            self._add("true_positives", c["tp"])
            other = self._states[1]
            self._add(other, c["fp" if other == "false_positives" else "fn"])

    def result(self) -> Tensor:
        tp = self.true_positives
        r = divide_no_nan(tp, core.add(tp, getattr(self, self._states[1])))
        return r[0] if len(self.thresholds) == 1 else r

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """``tp / (tp + fp)`` over every batch seen (Keras's ``Precision``).

    Args:
        thresholds: a float or a list of floats in [0, 1]; ``y_pred > threshold`` is a
            positive prediction (default 0.5, or none with ``top_k``).
        top_k: count only the ``top_k`` highest predictions of each sample as positive.
        class_id: compute the metric for this class (column) only.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.Precision()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(float(m.result()), 4)
        0.6667
    """

    _states = ("true_positives", "false_positives")


class Recall(_PrecisionRecall):
    """``tp / (tp + fn)`` over every batch seen (Keras's ``Recall``).

    Args:
        thresholds: a float or a list of floats in [0, 1] (default 0.5, or none with ``top_k``).
        top_k: count only the ``top_k`` highest predictions of each sample as positive.
        class_id: compute the metric for this class (column) only.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.Recall()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(float(m.result()), 4)
        0.6667
    """

    _states = ("true_positives", "false_negatives")


# -- sensitivity / specificity --------------------------------------------------------------


class _SensitivitySpecificityBase(StreamingMetric):
    _value_name = "value"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not 0 <= value <= 1:
            raise InvalidArgumentError(f"{owner}: {self._value_name} must be a number in [0, 1], got {value!r}")
        num_thresholds = check_num_thresholds(num_thresholds, owner, 1)
        self.value = float(value)
        self.class_id = class_id
        self.num_thresholds = int(num_thresholds)
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            self.thresholds = [0.0] + [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
        for s in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            self._add_state(s, (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            c = confusion_update(self, y_true, y_pred, sample_weight, self.thresholds, class_id=self.class_id,
                                 owner=type(self).__name__)
            for k, s in (("tp", "true_positives"), ("fp", "false_positives"), ("tn", "true_negatives"),
                         ("fn", "false_negatives")):
                self._add(s, c[k])

    def _rates(self):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        return {"sensitivity": divide_no_nan(tp, core.add(tp, fn)), "specificity": divide_no_nan(tn, core.add(tn, fp)),
                "precision": divide_no_nan(tp, core.add(tp, fp))}

    def _max_under_constraint(self, constrained: Tensor, dependent: Tensor) -> Tensor:
        """The largest ``dependent`` where ``constrained >= value`` (0 where none is)."""
        feasible = core.greater_equal(constrained, self.value)
        return core.max(core.multiply(core.maximum(dependent, 0.0), feasible))

    def get_config(self) -> dict:
        return {**super().get_config(), self._value_name: self.value, "num_thresholds": self.num_thresholds,
                "class_id": self.class_id}


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (recall) among thresholds whose specificity is ``>= specificity``.

    Args:
        specificity: a number in [0, 1].
        num_thresholds: thresholds evenly spaced over [0, 1] (default 200).
        class_id: compute the metric for this class (column) only.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.SensitivityAtSpecificity(0.5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]); float(m.result())
        0.5
    """

    _value_name = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        r = self._rates()
        return self._max_under_constraint(r["specificity"], r["sensitivity"])


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity among thresholds whose sensitivity is ``>= sensitivity``.

    Args:
        sensitivity: a number in [0, 1].
        num_thresholds: thresholds evenly spaced over [0, 1] (default 200).
        class_id: compute the metric for this class (column) only.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.SpecificityAtSensitivity(0.5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]); round(float(m.result()), 4)
        0.6667
    """

    _value_name = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        r = self._rates()
        return self._max_under_constraint(r["sensitivity"], r["specificity"])


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision among thresholds whose recall is ``>= recall``.

    Args:
        recall: a number in [0, 1].
        num_thresholds: thresholds evenly spaced over [0, 1] (default 200).
        class_id: compute the metric for this class (column) only.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.PrecisionAtRecall(0.5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]); float(m.result())
        0.5
    """

    _value_name = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        r = self._rates()
        return self._max_under_constraint(r["sensitivity"], r["precision"])


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall among thresholds whose precision is ``>= precision``.

    Args:
        precision: a number in [0, 1].
        num_thresholds: thresholds evenly spaced over [0, 1] (default 200).
        class_id: compute the metric for this class (column) only.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.RecallAtPrecision(0.8)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]); float(m.result())
        0.5
    """

    _value_name = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        r = self._rates()
        return self._max_under_constraint(r["precision"], r["sensitivity"])


# -- AUC ------------------------------------------------------------------------------------


class AUC(StreamingMetric):
    """Area under the ROC or precision-recall curve, from confusion counts at
    ``num_thresholds`` thresholds (Keras's ``AUC``, Riemann sums; PR with Davis &
    Goadrich's interpolation by default).

    Args:
        num_thresholds: thresholds evenly spaced over [0, 1] (> 1; default 200), plus
            ``-epsilon`` and ``1 + epsilon``.
        curve: ``"ROC"``, ``"PR"`` or ``"PRGAIN"``.
        summation_method: ``"interpolation"``, ``"minoring"`` or ``"majoring"``.
        name: the metric's name.
        dtype: the result's dtype (float32).
        thresholds: explicit thresholds in [0, 1] instead of ``num_thresholds``.
        multi_label: one curve per label (the columns of a 2-D ``y_pred``), averaged.
        num_labels: the number of labels with ``multi_label`` (else taken from the first batch).
        label_weights: weights of the labels in the average (or of the flattened values).
        from_logits: apply a sigmoid to ``y_pred`` first.

    Example:
        >>> import ember as em
        >>> m = em.metrics.AUC(num_thresholds=3)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]); float(m.result())
        0.75
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        methods = ("interpolation", "minoring", "majoring")
        if not isinstance(curve, str) or curve.lower() not in curves:
            raise InvalidArgumentError(f"AUC: curve must be one of 'ROC', 'PR', 'PRGAIN', got {curve!r}")
        if not isinstance(summation_method, str) or summation_method.lower() not in methods:
            raise InvalidArgumentError(f"AUC: summation_method must be one of {methods}, got {summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, 0.5, "AUC"))
            self.num_thresholds = len(inner) + 2
        else:
            num_thresholds = check_num_thresholds(num_thresholds, "AUC", 2)
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self._thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]
        self.curve = curves[curve.lower()]
        self.summation_method = summation_method.lower()
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else [float(x) for x in np.asarray(label_weights).ravel()]
        self._from_logits = bool(from_logits)
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise InvalidArgumentError("AUC: num_labels is needed only when multi_label is True")
            self._build(None)

    @property
    def thresholds(self) -> list:
        """The thresholds used for evaluating AUC (``-epsilon`` and ``1 + epsilon`` included)."""
        return list(self._thresholds)

    def _build(self, shape) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ShapeError(f"AUC: y_pred must have rank 2 when multi_label=True, got shape {tuple(shape)}")
            self._num_labels = shape[1]
            vshape = (self.num_thresholds, self._num_labels)
        else:
            vshape = (self.num_thresholds,)
        for s in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            self._add_state(s, vshape)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            y_pred = as_tensor(y_pred)
            if not self._built:
                self._build(y_pred.shape)
            if self._from_logits:
                y_pred = core.sigmoid(y_pred)
            c = confusion_update(self, y_true, y_pred, sample_weight, self._thresholds, multi_label=self.multi_label,
                                 label_weights=None if self.multi_label else self.label_weights, owner="AUC")
            for k, s in (("tp", "true_positives"), ("fp", "false_positives"), ("tn", "true_negatives"),
                         ("fn", "false_negatives")):
                self._add(s, c[k])

    def _by_label(self, terms: Tensor) -> Tensor:
        if not self.multi_label:
            return core.sum(terms)
        by_label = core.sum(terms, axis=0)
        if self.label_weights is None:
            return core.mean(by_label)
        lw = self._const(("label_weights",), self.label_weights)
        return divide_no_nan(core.sum(core.multiply(by_label, lw)), core.sum(lw))

    def _interpolate_pr_auc(self) -> Tensor:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        tp_a, tp_b = tp[:-1], tp[1:]
        p = core.add(tp, fp)
        p_a, p_b = p[:-1], p[1:]
        dtp = core.subtract(tp_a, tp_b)
        dp = core.subtract(p_a, p_b)
        slope = divide_no_nan(dtp, core.maximum(dp, 0.0))
        intercept = core.subtract(tp_b, core.multiply(slope, p_b))
        both = core.multiply(core.greater(p_a, 0.0), core.greater(p_b, 0.0))
        ratio = core.add(core.multiply(both, divide_no_nan(p_a, core.maximum(p_b, 0.0))), core.subtract(1.0, both))
        inc = divide_no_nan(core.multiply(slope, core.add(dtp, core.multiply(intercept, core.log(ratio)))),
                            core.maximum(core.add(tp_b, fn[1:]), 0.0))
        return self._by_label(inc)

    def result(self) -> Tensor:
        if not self._built:
            return as_tensor(np.float32(0.0))
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = divide_no_nan(tp, core.add(tp, fn))
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, core.add(fp, tn)), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, core.add(tp, fp))
        else:
            scale = divide_no_nan(core.add(tp, fn), core.add(tn, fp))
            no_tp = core.equal(tp, 0.0)
            rg = core.subtract(1.0, core.multiply(scale, divide_no_nan(fn, tp)))
            pg = core.subtract(1.0, core.multiply(scale, divide_no_nan(fp, tp)))
            rg = core.maximum(core.multiply(rg, core.subtract(1.0, no_tp)), 0.0)
            pg = core.add(core.multiply(pg, core.subtract(1.0, no_tp)), no_tp)
            x, y = rg, pg
        if self.summation_method == "interpolation":
            heights = core.multiply(core.add(y[:-1], y[1:]), 0.5)
        elif self.summation_method == "minoring":
            heights = core.minimum(y[:-1], y[1:])
        else:
            heights = core.maximum(y[:-1], y[1:])
        return self._by_label(core.multiply(core.subtract(x[:-1], x[1:]), heights))

    def reset_state(self) -> None:
        super().reset_state()

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self.label_weights, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


# -- F-scores -------------------------------------------------------------------------------


class FBetaScore(StreamingMetric):
    """The F-beta score ``(1 + beta^2) * p * r / (beta^2 * p + r)`` per class, or
    averaged (Keras's ``FBetaScore``; 2-D inputs ``(batch, classes)``).

    Args:
        average: None (one score per class), ``"micro"``, ``"macro"`` or ``"weighted"``.
        beta: a float > 0 (the weight of recall).
        threshold: ``y_pred > threshold`` is positive; None takes each row's maximum.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.FBetaScore(beta=2.0, average="micro", threshold=0.5)
        >>> m.update_state([[1, 0], [0, 1]], [[0.9, 0.8], [0.2, 0.7]]); round(float(m.result()), 4)
        0.9091
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        check_choice(average, "average", owner, (None, "micro", "macro", "weighted"))
        if not isinstance(beta, float) or beta <= 0.0:
            raise InvalidArgumentError(f"{owner}: beta must be a Python float > 0, got {beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise InvalidArgumentError(f"{owner}: threshold must be a Python float in (0, 1], got {threshold!r}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, true_shape, pred_shape) -> None:
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ShapeError(f"{type(self).__name__}: expects 2-D inputs (batch_size, output_dim), got "
                             f"y_pred {tuple(pred_shape)} and y_true {tuple(true_shape)}")
        shape = (pred_shape[-1],) if self.average != "micro" else ()
        for s in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            self._add_state(s, shape)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            y_pred = core._float(as_tensor(y_pred))
            y_true = core._float(as_tensor(y_true, device=y_pred.device))
            if not self._built:
                self._build(y_true.shape, y_pred.shape)
            if y_true.shape != y_pred.shape:
                raise ShapeError(f"{type(self).__name__}: y_true of shape {y_true.shape} does not match y_pred of "
                                 f"shape {y_pred.shape}")
            self._on_device(y_pred.device)
            if self.threshold is None:
                top = core.max(y_pred, axis=-1, keepdims=True)
                pred = core.multiply(core.greater_equal(y_pred, top), core.greater(core.abs(y_pred), 1e-9))
            else:
                pred = core.greater(y_pred, self.threshold)
            sw = None
            if sample_weight is not None:
                sw = _array.expand_dims(core._float(as_tensor(sample_weight, device=y_pred.device)), 1)

            def wsum(v):
                if sw is not None:
                    v = core.multiply(v, sw)
                return core.sum(v, axis=self.axis)

            not_pred, not_true = core.subtract(1.0, pred), core.subtract(1.0, y_true)
            self._add("true_positives", wsum(core.multiply(pred, y_true)))
            self._add("false_positives", wsum(core.multiply(pred, not_true)))
            self._add("false_negatives", wsum(core.multiply(not_pred, y_true)))
            self._add("intermediate_weights", wsum(y_true))

    def result(self) -> Tensor:
        if not self._built:
            return as_tensor(np.float32(0.0))
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = core.divide(tp, core.add(core.add(tp, fp), EPSILON))
        recall = core.divide(tp, core.add(core.add(tp, fn), EPSILON))
        b2 = self.beta ** 2
        score = core.multiply(core.divide(core.multiply(precision, recall),
                                          core.add(core.add(core.multiply(precision, b2), recall), EPSILON)), 1 + b2)
        if self.average == "weighted":
            iw = self.intermediate_weights
            return core.sum(core.multiply(score, core.divide(iw, core.add(core.sum(iw), EPSILON))))
        if self.average is not None:
            return core.mean(score)
        return score

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, ``2 * p * r / (p + r)`` (`FBetaScore` with ``beta=1``).

    Args:
        average: None (one score per class), ``"micro"``, ``"macro"`` or ``"weighted"``.
        threshold: ``y_pred > threshold`` is positive; None takes each row's maximum.
        name: the metric's name.
        dtype: the result's dtype (float32).

    Example:
        >>> import ember as em
        >>> m = em.metrics.F1Score(average="macro", threshold=0.5)
        >>> m.update_state([[1, 0], [0, 1]], [[0.9, 0.2], [0.6, 0.7]]); round(float(m.result()), 4)
        0.8333
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


__all__ = [
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision", "Recall",
    "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision", "AUC",
    "FBetaScore", "F1Score",
]
