"""Losses with Keras 3 names, formulas, reductions and ``sample_weight``.

Each loss exists as a function returning per-sample values (the mean or sum over the
last axis, as Keras takes it) and as a class whose ``__call__(y_true, y_pred,
sample_weight=None)`` weights and reduces them, by default ``"sum_over_batch_size"``:
the sum of the weighted values divided by their number. The other reductions are
``"sum"``, ``"mean"`` (the same as ``"sum_over_batch_size"`` in Keras 3),
``"mean_with_sample_weight"`` (divides by the sum of the weights) and ``None``/``"none"``.

Numerics follow Keras 3 with its backend epsilon ``1e-7``: probabilities are clipped
to ``[1e-7, 1 - 1e-7]`` before logs; ``msle`` takes ``log(max(x, eps) + 1)``; ``mape``
divides by ``max(|y_true|, eps)``; ``kl_divergence`` clips both arguments to
``[eps, 1]``; ``poisson`` takes ``log(y_pred + eps)``; ``hinge`` and ``squared_hinge``
turn {0, 1} labels into {-1, 1}; ``cosine_similarity`` is the *negative* cosine (the
quantity minimised). When ``y_pred`` came out of a softmax or sigmoid that Ember fused
into a Dense layer, the crossentropies use the logits underneath (one stable fused
kernel), as Keras does with TensorFlow.

Every loss is a composite of `ember.ops`, so it runs on every device and is
differentiable.

Example:
    >>> import ember as em
    >>> float(em.losses.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]]))
    0.5
    >>> round(float(em.losses.get("huber")([[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]])), 6)
    0.155
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable

import numpy as np

from ._boundary import construct_from_config as _construct_from_config
from .errors import InvalidArgumentError, InvalidConfigError, ShapeError
from .ops import core, nn
from .saving import serialization_lib as _serialization
from .tensor import Tensor, as_tensor

__all__ = [
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "Huber", "LogCosh", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge",
    "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson", "CosineSimilarity", "LossFunctionWrapper",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "huber", "log_cosh", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson", "cosine_similarity",
    "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD", "kullback_leibler_divergence",
    "logcosh", "bce", "BCE", "get", "serialize", "deserialize", "EPSILON", "REDUCTIONS",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy", "Circle", "Dice",
    "Tversky", "binary_focal_crossentropy", "categorical_focal_crossentropy", "categorical_generalized_cross_entropy",
    "circle", "dice", "tversky",
]

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_LOG2 = math.log(2.0)


# -- shape helpers ----------------------------------------------------------------------------

def _squeeze_or_expand(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Keras's ``squeeze_or_expand_to_same_rank``: reconciles ranks differing by one
    trailing axis of size 1 (a rank-1 operand is expanded, otherwise the other squeezed)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = core.expand_dims(x2, -1)
        else:
            x1 = core.squeeze(x1, -1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = core.expand_dims(x1, -1)
        else:
            x2 = core.squeeze(x2, -1)
    return x1, x2


def _match_rank(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true`` reshaped to ``y_pred``'s rank where Keras does it (used by metrics)."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        return core.expand_dims(y_true, -1)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return core.squeeze(y_true, -1)
    return y_true


def _prep(y_true, y_pred, name: str, reconcile: bool = True) -> tuple[Tensor, Tensor]:
    """float32 tensors on ``y_pred``'s device with equal shapes.

    Unlike Keras, which broadcasts ``(n, 1)`` against ``(n, k)`` silently, mismatched
    shapes raise `ShapeError` (a classic silent bug in regression code).
    """
    y_pred = core._float(as_tensor(y_pred))
    y_true = core._float(as_tensor(y_true, device=y_pred.device))
    if reconcile:
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"{name}: y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}")
    return y_true, y_pred


def _softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` without overflow: ``relu(x) + log(1 + exp(-|x|))``."""
    return core.add(core.relu(x), core.log(core.add(core.exp(core.negative(core.abs(x))), 1.0)))


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    """``x / max(||x||, eps)`` along ``axis`` (a zero vector stays zero), with a finite
    gradient at zero: the norm is ``sqrt(max(sum(x^2), eps^2))``."""
    sq = core.sum(core.square(x), axis=axis, keepdims=True)
    return core.divide(x, core.sqrt(core.maximum(sq, EPSILON * EPSILON)))


# -- regression losses ------------------------------------------------------------------------

def mean_squared_error(y_true, y_pred) -> Tensor:
    """``mean(square(y_true - y_pred), axis=-1)``.

    Args:
        y_true: Ground truth values, shape ``(batch, d0, .. dN)``.
        y_pred: Predicted values, same shape.

    Returns:
        Per-sample losses of shape ``(batch, d0, .. dN-1)``.

    Example:
        >>> import ember as em
        >>> em.losses.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy().tolist()
        [0.5]
    """
    y_true, y_pred = _prep(y_true, y_pred, "mean_squared_error")
    return core.mean(core.square(core.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """``mean(abs(y_true - y_pred), axis=-1)``.

    Example:
        >>> import ember as em
        >>> em.losses.mean_absolute_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy().tolist()
        [0.5]
    """
    y_true, y_pred = _prep(y_true, y_pred, "mean_absolute_error")
    return core.mean(core.abs(core.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)`` (Keras, eps 1e-7).

    Example:
        >>> import ember as em
        >>> em.losses.mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 5.0]]).numpy().tolist()
        [37.5]
    """
    y_true, y_pred = _prep(y_true, y_pred, "mean_absolute_percentage_error")
    diff = core.abs(core.divide(core.subtract(y_true, y_pred), core.maximum(core.abs(y_true), EPSILON)))
    return core.multiply(core.mean(diff, axis=-1), 100.0)


def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``.

    Non-positive values are replaced by ``eps = 1e-7`` as in Keras.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.msle([[0.0]], [[1.718281828]])[0]), 5)
        1.0
    """
    y_true, y_pred = _prep(y_true, y_pred, "mean_squared_logarithmic_error")
    first = core.log(core.add(core.maximum(y_pred, EPSILON), 1.0))
    second = core.log(core.add(core.maximum(y_true, EPSILON), 1.0))
    return core.mean(core.square(core.subtract(first, second)), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """Huber loss: ``0.5 * x^2`` where ``|x| <= delta``, else ``delta * |x| - 0.5 * delta^2``,
    with ``x = y_pred - y_true``, averaged over the last axis.

    Computed as ``0.5 * q^2 + delta * (|x| - q)`` with ``q = min(|x|, delta)``, the same
    values and gradient as Keras's ``where`` form.

    Args:
        y_true: Ground truth values.
        y_pred: Predicted values.
        delta: Where the loss changes from quadratic to linear. Defaults to 1.0.

    Example:
        >>> import ember as em
        >>> round(float(em.ops.mean(em.losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]))), 6)
        0.155
    """
    y_true, y_pred = _prep(y_true, y_pred, "huber")
    delta = float(delta)
    abs_error = core.abs(core.subtract(y_pred, y_true))
    q = core.minimum(abs_error, delta)
    values = core.add(core.multiply(core.square(q), 0.5), core.multiply(core.subtract(abs_error, q), delta))
    return core.mean(values, axis=-1)


def log_cosh(y_true, y_pred) -> Tensor:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as Keras does,
    ``x + softplus(-2x) - log(2)``, which never overflows.

    Example:
        >>> import ember as em
        >>> round(float(em.ops.mean(em.losses.log_cosh([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]]))), 5)
        0.10845
    """
    y_true, y_pred = _prep(y_true, y_pred, "log_cosh")
    x = core.subtract(y_pred, y_true)
    return core.mean(core.subtract(core.add(x, _softplus(core.multiply(x, -2.0))), _LOG2), axis=-1)


def cosine_similarity(y_true, y_pred, axis: int = -1) -> Tensor:
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: the negative cosine
    similarity, so that minimising it aligns the vectors (Keras). A zero vector gives 0.

    Example:
        >>> import ember as em
        >>> [round(v, 5) for v in em.losses.cosine_similarity([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]]).numpy().tolist()]
        [-0.0, -1.0]
    """
    _check_axis(axis, "cosine_similarity")
    y_true, y_pred = _prep(y_true, y_pred, "cosine_similarity")
    return core.negative(core.sum(core.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis)), axis=axis))


# -- probabilistic losses ---------------------------------------------------------------------

def _logits_of(y_pred: Tensor, kind: str):
    lg = getattr(y_pred, "_keras_logits", None)
    if lg is not None and lg[0] == kind:
        return lg[1]
    return None


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Binary crossentropy averaged over ``axis``.

    Args:
        y_true: Targets in [0, 1].
        y_pred: Probabilities (clipped to ``[1e-7, 1 - 1e-7]``), or logits with ``from_logits=True``.
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: ``y_true * (1 - ls) + 0.5 * ls`` when > 0.
        axis: The axis to average over. Defaults to -1.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.binary_crossentropy([[1.0]], [[0.5]])[0]), 6)
        0.693147
    """
    _check_axis(axis, "binary_crossentropy")
    y_true, y_pred_t = _prep(y_true, y_pred, "binary_crossentropy")
    if label_smoothing:
        y_true = core.add(core.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    logits = y_pred_t if from_logits else _logits_of(y_pred_t, "sigmoid")
    if logits is not None:
        return core.mean(nn.sigmoid_binary_cross_entropy(logits, y_true), axis=axis)
    p = core.clip(y_pred_t, EPSILON, 1.0 - EPSILON)
    one_minus_t = core.subtract(1.0, y_true)
    bce = core.add(core.multiply(y_true, core.log(p)), core.multiply(one_minus_t, core.log(core.subtract(1.0, p))))
    return core.negative(core.mean(bce, axis=axis))


def _smooth(y_true: Tensor, label_smoothing: float, axis: int = -1) -> Tensor:
    if not label_smoothing:
        return y_true
    k = y_true.shape[axis]
    return core.add(core.multiply(y_true, 1.0 - label_smoothing), label_smoothing / k)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Categorical crossentropy summed over ``axis``.

    Probabilities are renormalised to sum 1 along ``axis`` and clipped to
    ``[1e-7, 1 - 1e-7]`` (Keras); with ``from_logits=True`` a stable log-softmax is used.

    Args:
        y_true: One-hot (or soft) targets.
        y_pred: Probabilities, or logits with ``from_logits=True``.
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: ``y_true * (1 - ls) + ls / num_classes`` when > 0.
        axis: The class axis. Defaults to -1.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.categorical_crossentropy([[0., 1., 0.]], [[0.05, 0.95, 0.0]])[0]), 4)
        0.0513
    """
    _check_axis(axis, "categorical_crossentropy")
    y_pred_t = core._float(as_tensor(y_pred))
    y_true_t = core._float(as_tensor(y_true, device=y_pred_t.device))
    if y_true_t.shape != y_pred_t.shape:
        raise ShapeError(
            f"categorical_crossentropy: y_true of shape {y_true_t.shape} does not match y_pred of shape {y_pred_t.shape} "
            "(for integer labels use sparse_categorical_crossentropy)"
        )
    if y_pred_t.ndim and y_pred_t.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={y_pred_t.shape}. Consider using 'binary_crossentropy' "
            "if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    y_true_t = _smooth(y_true_t, label_smoothing, axis)
    logits = y_pred_t if from_logits else _logits_of(y_pred_t, "softmax")
    if logits is not None and axis in (-1, y_pred_t.ndim - 1):
        return nn.softmax_cross_entropy(logits, y_true_t)
    if from_logits:
        return core.negative(core.sum(core.multiply(y_true_t, nn.log_softmax(y_pred_t, axis)), axis=axis))
    p = core.divide(y_pred_t, core.sum(y_pred_t, axis=axis, keepdims=True))
    p = core.clip(p, EPSILON, 1.0 - EPSILON)
    return core.negative(core.sum(core.multiply(y_true_t, core.log(p)), axis=axis))


def _sparse_cce(y_true, y_pred, from_logits: bool, ignore_class, axis: int) -> tuple[Tensor, Tensor | None]:
    """Per-sample sparse crossentropy and, with ``ignore_class``, the float mask of kept rows."""
    y_pred_t = core._float(as_tensor(y_pred))
    if axis not in (-1, y_pred_t.ndim - 1):
        raise InvalidArgumentError(
            f"sparse_categorical_crossentropy: only the last axis can be the class axis, got axis={axis} "
            f"for y_pred of rank {y_pred_t.ndim}"
        )
    y_true_t = as_tensor(y_true, device=y_pred_t.device)
    if y_true_t.ndim == y_pred_t.ndim and y_true_t.ndim and y_true_t.shape[-1] == 1:
        y_true_t = core.squeeze(y_true_t, -1)
    if y_true_t.shape != y_pred_t.shape[:-1]:
        raise ShapeError(
            f"sparse_categorical_crossentropy: labels of shape {y_true_t.shape} do not match predictions of shape "
            f"{y_pred_t.shape} (expected labels of shape {y_pred_t.shape[:-1]})"
        )
    mask = None
    if ignore_class is not None:
        # Ignored rows get label 0 (any valid class) and are zeroed afterwards, so they
        # contribute neither value nor gradient.
        labels_f = core._float(y_true_t)
        mask = core.not_equal(labels_f, float(ignore_class))
        y_true_t = core.multiply(labels_f, mask)
    if y_true_t.dtype != "int32":
        y_true_t = core.cast(y_true_t, "int32")
    logits = y_pred_t if from_logits else _logits_of(y_pred_t, "softmax")
    if logits is not None:
        values = nn.softmax_cross_entropy(logits, y_true_t)
    else:
        onehot = nn.one_hot(y_true_t, y_pred_t.shape[-1])
        p = core.divide(y_pred_t, core.sum(y_pred_t, axis=-1, keepdims=True))
        p = core.clip(p, EPSILON, 1.0 - EPSILON)
        values = core.negative(core.sum(core.multiply(onehot, core.log(p)), axis=-1))
    if mask is not None:
        values = core.multiply(values, mask)
    return values, mask


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None, axis: int = -1) -> Tensor:
    """Categorical crossentropy against integer class indices.

    Args:
        y_true: Class indices of shape ``y_pred.shape[:-1]`` (or with a trailing 1).
        y_pred: Probabilities (renormalised and clipped as in `categorical_crossentropy`),
            or logits with ``from_logits=True``.
        from_logits: Whether ``y_pred`` holds logits.
        ignore_class: A label value whose rows give 0 (e.g. padding). The
            `SparseCategoricalCrossentropy` class then averages over the other rows only.
        axis: The class axis; only the last one is supported (as Keras's TensorFlow backend).

    Example:
        >>> import ember as em
        >>> [round(v, 4) for v in em.losses.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]).numpy().tolist()]
        [0.0513, 2.3026]
    """
    return _sparse_cce(y_true, y_pred, from_logits, ignore_class, axis)[0]


def kl_divergence(y_true, y_pred) -> Tensor:
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to ``[1e-7, 1]`` (Keras).

    Example:
        >>> import ember as em
        >>> round(float(em.losses.kl_divergence([[0.5, 0.5]], [[0.25, 0.75]])[0]), 6)
        0.143841
    """
    y_true, y_pred = _prep(y_true, y_pred, "kl_divergence", reconcile=False)
    y_true = core.clip(y_true, EPSILON, 1.0)
    y_pred = core.clip(y_pred, EPSILON, 1.0)
    return core.sum(core.multiply(y_true, core.log(core.divide(y_true, y_pred))), axis=-1)


def poisson(y_true, y_pred) -> Tensor:
    """``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`` (Keras).

    Example:
        >>> import ember as em
        >>> round(float(em.losses.poisson([[1.0]], [[1.0]])[0]), 6)
        1.0
    """
    y_true, y_pred = _prep(y_true, y_pred, "poisson", reconcile=False)
    return core.mean(core.subtract(y_pred, core.multiply(y_true, core.log(core.add(y_pred, EPSILON)))), axis=-1)


# -- hinge losses -----------------------------------------------------------------------------

def _hinge_labels(y_true: Tensor) -> Tensor:
    """Keras's ``convert_binary_labels_to_hinge``: when every label is 0 or 1, maps them
    to -1/1; otherwise returns them unchanged. Decided on the device (no read-back):
    ``b = min(y == 0 or y == 1)`` and ``y + b * (y - 1)``."""
    if y_true.size == 0:
        return y_true
    b = core.min(core.add(core.equal(y_true, 0.0), core.equal(y_true, 1.0)))
    return core.add(y_true, core.multiply(b, core.subtract(y_true, 1.0)))


def _hinge_margin(y_true, y_pred, name: str) -> Tensor:
    y_true, y_pred = _prep(y_true, y_pred, name, reconcile=False)
    y_true = _hinge_labels(core.stop_gradient(y_true))
    return core.relu(core.subtract(1.0, core.multiply(y_true, y_pred)))


def hinge(y_true, y_pred) -> Tensor:
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; {0, 1} labels become {-1, 1}.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.hinge([[1.0, 0.0]], [[0.3, -0.8]])[0]), 6)
        0.45
    """
    return core.mean(_hinge_margin(y_true, y_pred, "hinge"), axis=-1)


def squared_hinge(y_true, y_pred) -> Tensor:
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; {0, 1} labels become {-1, 1}.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.squared_hinge([[1.0, 0.0]], [[0.3, -0.8]])[0]), 6)
        0.265
    """
    return core.mean(core.square(_hinge_margin(y_true, y_pred, "squared_hinge")), axis=-1)


def categorical_hinge(y_true, y_pred) -> Tensor:
    """``maximum(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred, -1)`` and
    ``neg = max((1 - y_true) * y_pred, -1)`` (Keras).

    Example:
        >>> import ember as em
        >>> round(float(em.losses.categorical_hinge([[0., 1., 0.]], [[0.3, 0.5, 0.2]])[0]), 6)
        0.8
    """
    y_true, y_pred = _prep(y_true, y_pred, "categorical_hinge", reconcile=False)
    pos = core.sum(core.multiply(y_true, y_pred), axis=-1)
    neg = core.max(core.multiply(core.subtract(1.0, y_true), y_pred), axis=-1)
    return core.relu(core.add(core.subtract(neg, pos), 1.0))



# -- focal, generalized, overlap and metric-learning losses -----------------------------------------

def _check_real(value, name: str, owner: str, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidArgumentError(f"{owner}: `{name}` must be a finite number, got {name}={value!r}")
    v = float(value)
    if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and (v > hi or (hi_open and v == hi))):
        lo_b, hi_b = ("(" if lo_open else "[") + f"{lo}", f"{hi}" + (")" if hi_open else "]")
        raise InvalidArgumentError(f"{owner}: `{name}` must be in {lo_b}, {hi_b}, got {name}={value!r}")
    return v


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1) -> Tensor:
    """Binary focal crossentropy (Lin et al. 2017), Keras 3's formula: with ``p_t = y p +
    (1 - y)(1 - p)``, ``mean((1 - p_t)^gamma * bce, axis)``, the crossentropy ``bce`` on
    probabilities clipped to ``[1e-7, 1 - 1e-7]``; with ``apply_class_balancing`` each term
    is also weighted ``alpha`` (positives) or ``1 - alpha`` (negatives).

    Args:
        y_true: Targets in [0, 1].
        y_pred: Probabilities, or logits with ``from_logits=True``.
        apply_class_balancing: Weight the terms by ``alpha`` / ``1 - alpha``.
        alpha: The class-balancing weight of positives, in [0, 1].
        gamma: The focusing exponent, >= 0 (0 is plain binary crossentropy).
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: ``y_true * (1 - ls) + 0.5 * ls`` when > 0.
        axis: The axis to average over.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.binary_focal_crossentropy([[0.0, 1.0]], [[0.4, 0.6]], gamma=2.0)[0]), 6)
        0.081732
    """
    _check_axis(axis, "binary_focal_crossentropy")
    y_true, y_pred = _prep(y_true, y_pred, "binary_focal_crossentropy")
    if label_smoothing:
        y_true = core.add(core.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        y_pred = core.sigmoid(y_pred)
    p = core.clip(y_pred, EPSILON, 1.0 - EPSILON)
    one_minus_t = core.subtract(1.0, y_true)
    bce = core.negative(core.add(core.multiply(y_true, core.log(p)),
                                 core.multiply(one_minus_t, core.log(core.subtract(1.0, p)))))
    p_t = core.add(core.multiply(y_true, y_pred), core.multiply(one_minus_t, core.subtract(1.0, y_pred)))
    focal = core.multiply(core.power(core.subtract(1.0, p_t), float(gamma)), bce)
    if apply_class_balancing:
        weight = core.add(core.multiply(y_true, float(alpha)), core.multiply(one_minus_t, 1.0 - float(alpha)))
        focal = core.multiply(weight, focal)
    return core.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1) -> Tensor:
    """Categorical focal crossentropy, Keras 3's formula: probabilities renormalized along
    ``axis`` and clipped to ``[1e-7, 1 - 1e-7]``, then
    ``sum(alpha * (1 - p)^gamma * -y log p, axis)``.

    Args:
        y_true: One-hot (or soft) targets.
        y_pred: Probabilities, or logits with ``from_logits=True`` (softmax along ``axis``).
        alpha: The weighting factor.
        gamma: The focusing exponent, >= 0.
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: ``y_true * (1 - ls) + ls / num_classes`` when > 0.
        axis: The class axis.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.categorical_focal_crossentropy([[0., 1., 0.]], [[0.1, 0.8, 0.1]])[0]), 6)
        0.002231
    """
    _check_axis(axis, "categorical_focal_crossentropy")
    y_true, y_pred = _prep(y_true, y_pred, "categorical_focal_crossentropy", reconcile=False)
    if y_pred.ndim and y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_focal_crossentropy, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={y_pred.shape}. Consider using 'binary_crossentropy' if you "
            "only have 2 classes.", SyntaxWarning, stacklevel=2)
    y_true = _smooth(y_true, label_smoothing, axis)
    if from_logits:
        y_pred = nn.softmax(y_pred, axis)
    p = core.clip(core.divide(y_pred, core.sum(y_pred, axis=axis, keepdims=True)), EPSILON, 1.0 - EPSILON)
    cce = core.negative(core.multiply(y_true, core.log(p)))
    weight = core.multiply(core.power(core.subtract(1.0, p), float(gamma)), float(alpha))
    return core.sum(core.multiply(weight, cce), axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q) -> Tensor:
    """The generalized cross entropy of Zhang & Sabuncu 2018 (noise-robust; Keras 3):
    ``(1 - p^q) / q`` with ``p`` the predicted probability of the integer label; q -> 0
    approaches crossentropy, q = 1 the mean absolute error.

    Args:
        y_true: Integer class labels (batch,).
        y_pred: Probabilities (batch, num_classes).
        q: In (0, 1).

    Example:
        >>> import ember as em
        >>> round(float(em.losses.categorical_generalized_cross_entropy([1], [[0.2, 0.8]], q=0.5)[0]), 6)
        0.211146
    """
    q = _check_real(q, "q", "categorical_generalized_cross_entropy", 0.0, 1.0, lo_open=True, hi_open=True)
    y_pred = core._float(as_tensor(y_pred))
    labels = as_tensor(y_true, device=y_pred.device)
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = core.squeeze(labels, -1)
    if labels.shape != y_pred.shape[:-1]:
        raise ShapeError(f"categorical_generalized_cross_entropy: labels of shape {labels.shape} do not match "
                         f"predictions of shape {y_pred.shape}")
    onehot = nn.one_hot(core.cast(labels, "int32"), y_pred.shape[-1])
    p = core.sum(core.multiply(y_pred, onehot), axis=-1)
    return core.divide(core.subtract(1.0, core.power(p, q)), q)


def dice(y_true, y_pred, axis=None) -> Tensor:
    """The Dice loss ``1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)``
    over ``axis`` (every axis when None: one value for the batch), Keras 3's formula.

    Args:
        y_true: Targets (masks in [0, 1]).
        y_pred: Predictions, the same shape.
        axis: The axes summed over (an int, a tuple, or None for all).

    Example:
        >>> import ember as em
        >>> round(float(em.losses.dice([[1.0, 0.0, 1.0]], [[0.9, 0.2, 0.6]])), 6)
        0.189189
    """
    y_true, y_pred = _prep(y_true, y_pred, "dice", reconcile=False)
    inter = core.sum(core.multiply(y_true, y_pred), axis=axis)
    denom = core.add(core.add(core.sum(y_true, axis=axis), core.sum(y_pred, axis=axis)), EPSILON)
    return core.subtract(1.0, core.divide(core.multiply(inter, 2.0), denom))


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None) -> Tensor:
    """The Tversky loss (Salehi et al. 2017; Keras 3's formula) ``1 - TP / (TP + alpha FP
    + beta FN + 1e-7)`` with ``TP = sum(y_true y_pred)``, ``FP = sum((1 - y_pred) y_true)``
    and ``FN = sum(y_pred (1 - y_true))`` over ``axis`` (Keras's names: alpha weighs the
    missed positives). alpha = beta = 0.5 is the Dice loss.

    Args:
        y_true: Targets (masks in [0, 1]).
        y_pred: Predictions, the same shape.
        alpha: The weight of ``FP`` as Keras computes it.
        beta: The weight of ``FN`` as Keras computes it.
        axis: The axes summed over (None: all).

    Example:
        >>> import ember as em
        >>> round(float(em.losses.tversky([[1.0, 0.0, 1.0]], [[0.9, 0.2, 0.6]], alpha=0.7, beta=0.3)), 6)
        0.21466
    """
    y_true, y_pred = _prep(y_true, y_pred, "tversky", reconcile=False)
    inter = core.sum(core.multiply(y_true, y_pred), axis=axis)
    fp = core.sum(core.multiply(core.subtract(1.0, y_pred), y_true), axis=axis)
    fn = core.sum(core.multiply(y_pred, core.subtract(1.0, y_true)), axis=axis)
    denom = core.add(core.add(core.add(inter, core.multiply(fp, float(alpha))), core.multiply(fn, float(beta))),
                     EPSILON)
    return core.subtract(1.0, core.divide(inter, denom))


_MASKED = -1e30  # a masked logit of the circle loss's log-sum-exps (finite, so gradients stay finite)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4) -> Tensor:
    """The circle loss (Sun et al. 2020) of L2-normalized embeddings, Keras 3's formula:
    with cosine distances ``d = max(1 - y_pred @ ref^T, 0)``, positives the reference
    embeddings of the same label (the sample itself left out with ``remove_diagonal``) and
    negatives the others, ``softplus(logsumexp_pos(-gamma max(margin + d, 0)(margin - d))
    + logsumexp_neg(gamma max(1 + margin - d, 0)(1 - margin - d)))`` per sample. The
    values carry the mask ``loss > 0`` (`Circle` averages over those, as Keras).

    Args:
        y_true: Integer labels (batch,).
        y_pred: L2-normalized embeddings (batch, dim).
        ref_labels, ref_embeddings: The reference set (default: the batch itself).
        remove_diagonal: Leave each sample out of its own positives.
        gamma: The scale.
        margin: The relaxation margin.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> e = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
        >>> [round(v, 3) for v in em.losses.circle([0, 1, 0], e, gamma=2.0).numpy().tolist()]
        [0.546, 0.0, 1.284]
    """
    y_pred = core._float(as_tensor(y_pred))
    if y_pred.ndim != 2:
        raise ShapeError(f"circle: y_pred must be embeddings (batch, dim), got shape {y_pred.shape}")
    labels = core.reshape(core.cast(as_tensor(y_true, device=y_pred.device), "float32"), (-1, 1))
    if labels.shape[0] != y_pred.shape[0]:
        raise ShapeError(f"circle: {labels.shape[0]} labels for {y_pred.shape[0]} embeddings")
    ref = y_pred if ref_embeddings is None else core._float(as_tensor(ref_embeddings, device=y_pred.device))
    ref_l = labels if ref_labels is None else core.reshape(
        core.cast(as_tensor(ref_labels, device=y_pred.device), "float32"), (-1, 1))
    if ref.ndim != 2 or ref.shape[1] != y_pred.shape[1] or ref_l.shape[0] != ref.shape[0]:
        raise ShapeError(f"circle: reference embeddings of shape {ref.shape} and {ref_l.shape[0]} labels do not "
                         f"match embeddings of shape {y_pred.shape}")
    gamma, margin = float(gamma), float(margin)
    dist = core.maximum(core.subtract(1.0, nn.matmul(y_pred, core.transpose(ref))), 0.0)
    pos = core.equal(labels, core.transpose(ref_l))
    neg = core.subtract(1.0, pos)
    if remove_diagonal:
        n, m = y_pred.shape[0], ref.shape[0]
        pos = core.multiply(pos, as_tensor(1.0 - np.eye(n, m, dtype=np.float32), device=y_pred.device))
    pos_w = core.maximum(core.multiply(core.add(dist, margin), pos), 0.0)
    neg_w = core.maximum(core.multiply(core.subtract(1.0 + margin, dist), neg), 0.0)
    pos_d = core.multiply(core.multiply(pos_w, core.subtract(margin, dist)), -gamma)
    neg_d = core.multiply(core.multiply(neg_w, core.subtract(1.0 - margin, dist)), gamma)
    from .ops.array_ops import logsumexp, where

    p_loss = logsumexp(where(pos, pos_d, _MASKED), axis=1)
    n_loss = logsumexp(where(neg, neg_d, _MASKED), axis=1)
    out = _softplus(core.add(p_loss, n_loss))
    out._keras_mask = core.greater(out, 0.0)
    return out

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
bce = BCE = binary_crossentropy


# -- reduction ----------------------------------------------------------------------------------

def _check_reduction(reduction) -> None:
    if not (reduction is None or isinstance(reduction, str)) or reduction not in REDUCTIONS:
        raise InvalidArgumentError(
            f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. Received: reduction={reduction!r}"
        )


def _reduce_values(values: Tensor, sample_weight, reduction) -> Tensor:
    """Keras's ``reduce_values``: the sum, divided by the number of values (or by the sum
    of the weights for ``mean_with_sample_weight``); 0/0 gives 0."""
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    loss = core.sum(values)
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = core.sum(sample_weight)
        # divide_no_nan: a zero divisor gives 0
        nonzero = core.not_equal(divisor, 0.0)
        return core.multiply(core.divide(loss, core.add(divisor, core.subtract(1.0, nonzero))), nonzero)
    return core.multiply(loss, 1.0 / values.size) if values.size else core.multiply(loss, 0.0)


def _expand_leading(weight: Tensor, values: Tensor) -> Tensor:
    """Per-sample weights ``(batch,)`` against per-step values ``(batch, steps)``: adds
    trailing axes so they broadcast over the steps (Keras 2 did this; Keras 3 leaves
    it to the caller and fails to broadcast)."""
    k = values.ndim - weight.ndim
    if 0 < weight.ndim and k > 0 and tuple(values.shape[: weight.ndim]) == tuple(weight.shape):
        return core.reshape(weight, tuple(weight.shape) + (1,) * k)
    return weight


def _reduce_weighted(values: Tensor, sample_weight=None, mask: Tensor | None = None, reduction="sum_over_batch_size") -> Tensor:
    """Keras's ``reduce_weighted_values``: merges ``mask`` into ``sample_weight`` (for the
    mean reductions a mask rescales by total/valid, so the mean is over kept entries),
    weights the values and reduces them."""
    if sample_weight is not None:
        sample_weight = core._float(as_tensor(sample_weight, device=values.device))
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            total = float(mask.size)
            valid = core.sum(mask)
            mask = core.multiply(mask, core.divide(total, core.add(valid, EPSILON)))
        if sample_weight is not None:
            mask, sample_weight = _squeeze_or_expand(mask, sample_weight)
            sample_weight = core.multiply(_expand_leading(sample_weight, mask), mask)
        else:
            sample_weight = mask
    if sample_weight is not None:
        values, sample_weight = _squeeze_or_expand(values, sample_weight)
        sample_weight = _expand_leading(sample_weight, values)
        values = core.multiply(values, sample_weight)
    return _reduce_values(values, sample_weight, reduction)


# -- classes ---------------------------------------------------------------------------------------

def _check_axis(axis, owner: str) -> None:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise InvalidArgumentError(f"{owner}: `axis` must be an int, got axis={axis!r}")


def _check_dtype(dtype, owner: str) -> None:
    if dtype not in (None, "float32"):
        raise InvalidArgumentError(f"{owner}: dtype must be None or 'float32' (Ember computes in float32), got dtype={dtype!r}")


class Loss:
    """Base class of losses.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses;
    ``__call__(y_true, y_pred, sample_weight=None)`` weights and reduces them.

    Args:
        name: The loss's name.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"`` (Keras 3's
            alias of ``"sum_over_batch_size"``), ``"mean_with_sample_weight"``, or
            ``None``/``"none"`` for the unreduced values.
        dtype: ``None`` or ``"float32"`` (Ember computes losses in float32).

    Example:
        >>> import ember as em
        >>> class Cubed(em.losses.Loss):
        ...     def call(self, y_true, y_pred):
        ...         return em.ops.mean(em.ops.abs(em.ops.subtract(y_pred, y_true)) ** 3, axis=-1)
        >>> float(Cubed()([[0.0, 0.0]], [[1.0, 2.0]]))
        4.5
    """

    fn: Callable | None = None

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype=None, **fn_kwargs):
        _check_reduction(reduction)
        owner = type(self).__name__
        _check_dtype(dtype, owner)
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{owner}: `name` must be a string, got name={name!r}")
        self.name = name or _snake(owner)
        self.reduction = reduction
        self.dtype = dtype
        self._fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred) -> Tensor:
        fn = type(self).fn
        if fn is None:
            raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")
        return fn(y_true, y_pred, **self._fn_kwargs)

    def _call_masked(self, y_true, y_pred) -> tuple[Tensor, Tensor | None]:
        return self.call(y_true, y_pred), None

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        values, mask = self._call_masked(y_true, y_pred)
        if mask is None and getattr(values, "_keras_mask", None) is not None:
            mask = core._float(values._keras_mask)  # Keras: the mask the loss values carry (circle's)
        values = core._float(as_tensor(values))
        # Keras: the mask a layer attached to the predictions (padded time steps) joins
        # the loss's own mask, so masked entries neither count nor dilute the mean.
        in_mask = getattr(y_pred, "_keras_mask", None)
        if in_mask is not None:
            in_mask = core._float(in_mask)
            mask = in_mask if mask is None else core.multiply(mask, in_mask)
        return _reduce_weighted(values, sample_weight, mask, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict):
        return _construct_from_config(cls, config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def _snake(name: str) -> str:
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out += "_"
        out += c.lower()
    return out


_REDUCTION_DOC = """reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``."""


class MeanSquaredError(Loss):
    """Mean of squares of errors: ``mean(square(y_true - y_pred))``.

    Args:
        reduction: See `Loss`.
        name: Defaults to ``"mean_squared_error"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> float(em.losses.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]]))
        0.5
    """

    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanAbsoluteError(Loss):
    """Mean of absolute errors: ``mean(abs(y_true - y_pred))``.

    Example:
        >>> import ember as em
        >>> float(em.losses.MeanAbsoluteError()([[0.0, 1.0]], [[1.0, 1.0]]))
        0.5
    """

    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)))``.

    Example:
        >>> import ember as em
        >>> float(em.losses.MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 5.0]]))
        37.5
    """

    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanSquaredLogarithmicError(Loss):
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)))``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.MeanSquaredLogarithmicError()([[0.0]], [[1.718281828]])), 5)
        1.0
    """

    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name, reduction, dtype)


class Huber(Loss):
    """Huber loss, quadratic for ``|error| <= delta`` and linear beyond.

    Args:
        delta: A positive float, where the loss changes from quadratic to linear.
            Defaults to 1.0.
        reduction: See `Loss`.
        name: Defaults to ``"huber_loss"`` (the Keras name).
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])), 6)
        0.155
    """

    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not math.isfinite(delta) or delta <= 0:
            raise InvalidArgumentError(f"Huber: `delta` must be a positive finite number, got delta={delta!r}")
        super().__init__(name, reduction, dtype, delta=float(delta))


class LogCosh(Loss):
    """Logarithm of the hyperbolic cosine of the error, averaged over the last axis.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.LogCosh()([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]])), 5)
        0.10845
    """

    fn = staticmethod(log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name, reduction, dtype)


def _check_bool(value, arg: str, owner: str) -> None:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise InvalidArgumentError(f"{owner}: `{arg}` must be a bool, got {arg}={value!r}")


def _check_smoothing(ls, owner: str = "Loss") -> None:
    if isinstance(ls, bool) or not isinstance(ls, numbers.Real) or not 0.0 <= float(ls) <= 1.0:
        raise InvalidArgumentError(f"{owner}: `label_smoothing` must be in [0, 1], got label_smoothing={ls!r}")


class BinaryCrossentropy(Loss):
    """Binary crossentropy between targets and predicted probabilities (or logits).

    Args:
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        label_smoothing: In [0, 1]; targets become ``y * (1 - ls) + 0.5 * ls``.
        axis: The axis averaged over. Defaults to -1.
        reduction: See `Loss`.
        name: Defaults to ``"binary_crossentropy"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.BinaryCrossentropy(from_logits=True)([[0., 1.], [0., 0.]], [[-18.6, 0.51], [2.94, -12.8]])), 4)
        0.8655
    """

    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        _check_bool(from_logits, "from_logits", "BinaryCrossentropy")
        _check_smoothing(label_smoothing, "BinaryCrossentropy")
        _check_axis(axis, "BinaryCrossentropy")
        super().__init__(name, reduction, dtype, from_logits=bool(from_logits), label_smoothing=float(label_smoothing), axis=int(axis))


class CategoricalCrossentropy(Loss):
    """Categorical crossentropy between one-hot targets and predicted probabilities (or logits).

    Args:
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        label_smoothing: In [0, 1]; targets become ``y * (1 - ls) + ls / num_classes``.
        axis: The class axis. Defaults to -1.
        reduction: See `Loss`.
        name: Defaults to ``"categorical_crossentropy"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.CategoricalCrossentropy()([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 4)
        1.1769
    """

    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        _check_bool(from_logits, "from_logits", "CategoricalCrossentropy")
        _check_smoothing(label_smoothing, "CategoricalCrossentropy")
        _check_axis(axis, "CategoricalCrossentropy")
        super().__init__(name, reduction, dtype, from_logits=bool(from_logits), label_smoothing=float(label_smoothing), axis=int(axis))


class SparseCategoricalCrossentropy(Loss):
    """Crossentropy between integer class indices and predicted probabilities (or logits).

    Args:
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        ignore_class: An int label whose entries are masked out (e.g. padding): they give
            0 and the mean reductions average over the remaining entries only (Keras's
            mask, ``total / (valid + 1e-7)``). Defaults to None.
        reduction: See `Loss`.
        axis: The class axis of ``y_pred``; only the last one (-1, the default) is
            supported, as in Keras's TensorFlow backend.
        name: Defaults to ``"sparse_categorical_crossentropy"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> loss = em.losses.SparseCategoricalCrossentropy(ignore_class=-1)
        >>> round(float(loss([1, -1], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])), 4)
        0.0513
    """

    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        _check_bool(from_logits, "from_logits", "SparseCategoricalCrossentropy")
        _check_axis(axis, "SparseCategoricalCrossentropy")
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, numbers.Integral)):
            raise InvalidArgumentError(
                f"SparseCategoricalCrossentropy: `ignore_class` must be an int or None, got ignore_class={ignore_class!r}"
            )
        super().__init__(name, reduction, dtype, from_logits=bool(from_logits),
                         ignore_class=None if ignore_class is None else int(ignore_class), axis=int(axis))

    def _call_masked(self, y_true, y_pred):
        kw = self._fn_kwargs
        return _sparse_cce(y_true, y_pred, kw["from_logits"], kw["ignore_class"], kw["axis"])


class Hinge(Loss):
    """``maximum(1 - y_true * y_pred, 0)`` averaged over the last axis; {0, 1} labels become {-1, 1}.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.Hinge()([[1.0, 0.0]], [[0.3, -0.8]])), 6)
        0.45
    """

    fn = staticmethod(hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class SquaredHinge(Loss):
    """``square(maximum(1 - y_true * y_pred, 0))`` averaged over the last axis.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.SquaredHinge()([[1.0, 0.0]], [[0.3, -0.8]])), 6)
        0.265
    """

    fn = staticmethod(squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class CategoricalHinge(Loss):
    """``maximum(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and ``neg = max((1 - y_true) * y_pred)``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.CategoricalHinge()([[0., 1., 0.]], [[0.3, 0.5, 0.2]])), 6)
        0.8
    """

    fn = staticmethod(categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name, reduction, dtype)


class KLDivergence(Loss):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))``, both clipped to ``[1e-7, 1]``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.KLDivergence()([[0.5, 0.5]], [[0.25, 0.75]])), 6)
        0.143841
    """

    fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name, reduction, dtype)


class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + 1e-7))``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.Poisson()([[1.0]], [[1.0]])), 6)
        1.0
    """

    fn = staticmethod(poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name, reduction, dtype)


class CosineSimilarity(Loss):
    """The negative cosine similarity along ``axis`` (between -1 and 1; -1 is best).

    Args:
        axis: The axis along which the similarity is computed. Defaults to -1.
        reduction: See `Loss`.
        name: Defaults to ``"cosine_similarity"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.CosineSimilarity()([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]])), 5)
        -0.5
    """

    fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        _check_axis(axis, "CosineSimilarity")
        super().__init__(name, reduction, dtype, axis=int(axis))



class BinaryFocalCrossentropy(Loss):
    """Binary focal crossentropy (`binary_focal_crossentropy`), averaged over ``axis``.

    Args:
        apply_class_balancing: Weight the terms by ``alpha`` / ``1 - alpha``.
        alpha: The class-balancing weight of positives, in [0, 1] (default 0.25).
        gamma: The focusing exponent, >= 0 (default 2.0).
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: In [0, 1].
        axis: The axis averaged over.
        reduction: See `Loss`.
        name: Defaults to ``"binary_focal_crossentropy"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> loss = em.losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> round(float(loss([[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]])), 4)
        0.6912
    """

    fn = staticmethod(binary_focal_crossentropy)

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        owner = "BinaryFocalCrossentropy"
        _check_bool(apply_class_balancing, "apply_class_balancing", owner)
        _check_bool(from_logits, "from_logits", owner)
        _check_smoothing(label_smoothing, owner)
        _check_axis(axis, owner)
        super().__init__(name, reduction, dtype, apply_class_balancing=bool(apply_class_balancing),
                         alpha=_check_real(alpha, "alpha", owner, 0.0, 1.0), gamma=_check_real(gamma, "gamma", owner, 0.0),
                         from_logits=bool(from_logits), label_smoothing=float(label_smoothing), axis=int(axis))


class CategoricalFocalCrossentropy(Loss):
    """Categorical focal crossentropy (`categorical_focal_crossentropy`), summed over
    ``axis``.

    Args:
        alpha: The weighting factor (default 0.25).
        gamma: The focusing exponent, >= 0 (default 2.0).
        from_logits: Whether ``y_pred`` holds logits.
        label_smoothing: In [0, 1].
        axis: The class axis.
        reduction: See `Loss`.
        name: Defaults to ``"categorical_focal_crossentropy"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.CategoricalFocalCrossentropy()([[0, 1, 0], [0, 0, 1]],
        ...                                                    [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 4)
        0.2332
    """

    fn = staticmethod(categorical_focal_crossentropy)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        owner = "CategoricalFocalCrossentropy"
        _check_bool(from_logits, "from_logits", owner)
        _check_smoothing(label_smoothing, owner)
        _check_axis(axis, owner)
        super().__init__(name, reduction, dtype, alpha=_check_real(alpha, "alpha", owner),
                         gamma=_check_real(gamma, "gamma", owner, 0.0), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=int(axis))


class CategoricalGeneralizedCrossEntropy(Loss):
    """The generalized cross entropy (`categorical_generalized_cross_entropy`) against
    integer labels.

    Args:
        q: In (0, 1) (default 0.5).
        reduction: See `Loss`.
        name: Defaults to ``"categorical_generalized_cross_entropy"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.CategoricalGeneralizedCrossEntropy(q=0.5)([1, 0], [[0.2, 0.8], [0.7, 0.3]])), 6)
        0.268913
    """

    fn = staticmethod(categorical_generalized_cross_entropy)

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        q = _check_real(q, "q", "CategoricalGeneralizedCrossEntropy", 0.0, 1.0, lo_open=True, hi_open=True)
        super().__init__(name, reduction, dtype, q=q)


class Circle(Loss):
    """The circle loss (`circle`) of a batch of L2-normalized embeddings against itself;
    the mean reductions average over the samples whose loss is positive (the mask `circle`
    attaches), as Keras.

    Args:
        gamma: The scale (default 80.0).
        margin: The relaxation margin (default 0.4).
        remove_diagonal: Leave each sample out of its own positives.
        reduction: See `Loss`.
        name: Defaults to ``"circle"``.
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> e = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
        >>> round(float(em.losses.Circle(gamma=2.0)([0, 1, 0], e)), 3)
        0.915
    """

    fn = staticmethod(circle)

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name="circle",
                 dtype=None):
        owner = "Circle"
        _check_bool(remove_diagonal, "remove_diagonal", owner)
        super().__init__(name, reduction, dtype, gamma=_check_real(gamma, "gamma", owner),
                         margin=_check_real(margin, "margin", owner), remove_diagonal=bool(remove_diagonal))

    def _call_masked(self, y_true, y_pred):
        values = self.call(y_true, y_pred)
        return values, core._float(values._keras_mask)


class Dice(Loss):
    """The Dice loss (`dice`).

    Args:
        reduction: See `Loss`.
        name: Defaults to ``"dice"``.
        axis: The axes summed over (None: all, one value per batch).
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.Dice()([[1.0, 0.0, 1.0]], [[0.9, 0.2, 0.6]])), 6)
        0.189189
    """

    fn = staticmethod(dice)

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(name, reduction, dtype, axis=_axes_arg(axis, "Dice"))


class Tversky(Loss):
    """The Tversky loss (`tversky`).

    Args:
        alpha: The weight of Keras's ``FP`` term (default 0.5).
        beta: The weight of Keras's ``FN`` term (default 0.5).
        reduction: See `Loss`.
        name: Defaults to ``"tversky"``.
        axis: The axes summed over (None: all).
        dtype: ``None`` or ``"float32"``.

    Example:
        >>> import ember as em
        >>> round(float(em.losses.Tversky(alpha=0.7, beta=0.3)([[1.0, 0.0, 1.0]], [[0.9, 0.2, 0.6]])), 6)
        0.21466
    """

    fn = staticmethod(tversky)

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        owner = "Tversky"
        super().__init__(name, reduction, dtype, alpha=_check_real(alpha, "alpha", owner),
                         beta=_check_real(beta, "beta", owner), axis=_axes_arg(axis, owner))


def _axes_arg(axis, owner: str):
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axis):
            raise InvalidArgumentError(f"{owner}: `axis` must be None, an int or a list of ints, got axis={axis!r}")
        return [int(a) for a in axis]
    _check_axis(axis, owner)
    return int(axis)


# -- lookup and serialization ---------------------------------------------------------------------

_CLASSES = (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Huber, LogCosh,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge, SquaredHinge, CategoricalHinge,
    KLDivergence, Poisson, CosineSimilarity, BinaryFocalCrossentropy, CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy, Circle, Dice, Tversky,
)
_FN_TO_CLASS: dict = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, huber: Huber, log_cosh: LogCosh,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, kl_divergence: KLDivergence, poisson: Poisson,
    cosine_similarity: CosineSimilarity, binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
    categorical_generalized_cross_entropy: CategoricalGeneralizedCrossEntropy, circle: Circle, dice: Dice,
    tversky: Tversky,
}
_FUNCTIONS: dict = {fn.__name__: fn for fn in _FN_TO_CLASS}
_FUNCTIONS.update({
    "mse": mean_squared_error, "MSE": mean_squared_error, "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    "kld": kl_divergence, "KLD": kl_divergence, "kullback_leibler_divergence": kl_divergence,
    "logcosh": log_cosh, "huber_loss": huber, "bce": binary_crossentropy, "BCE": binary_crossentropy,
})
_BY_NAME: dict = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({name: _FN_TO_CLASS[fn] for name, fn in _FUNCTIONS.items()})


class LossFunctionWrapper(Loss):
    """A `Loss` around a function ``fn(y_true, y_pred, **kwargs) -> per-sample losses``
    (``keras.losses.LossFunctionWrapper``): the reduction and ``sample_weight`` of `Loss`
    applied to it. Its config holds the function in Keras's function form, so a
    registered function round-trips.

    Args:
        fn: the per-sample loss function ``fn(y_true, y_pred, **kwargs)``.
        **kwargs: passed to ``fn`` on every call (besides the `Loss` arguments
            reduction, name and dtype).

    Example:
        >>> import ember as em
        >>> loss = em.losses.LossFunctionWrapper(em.losses.mean_absolute_error, reduction="sum")
        >>> float(loss([[0.0, 1.0]], [[1.0, 1.0]]))
        0.5
    """

    def __init__(self, fn: Callable, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise InvalidArgumentError(f"LossFunctionWrapper: `fn` must be callable, got fn={fn!r}")
        super().__init__(name or getattr(fn, "__name__", "loss_function_wrapper"), reduction, dtype, **kwargs)
        self.fn_wrapped = fn

    def call(self, y_true, y_pred):
        return self.fn_wrapped(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "fn": _serialization.serialize_keras_object(self.fn_wrapped),
                **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict):
        if not isinstance(config, dict):
            raise InvalidConfigError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return _construct_from_config(cls, config)


_FunctionLoss = LossFunctionWrapper
# Every built-in a name, a class name or a serialized function may resolve to (Keras's
# ALL_OBJECTS_DICT; lookups go through ember.saving, custom objects first).
_MODULE_OBJECTS: dict = {**{c.__name__: c for c in _CLASSES}, "LossFunctionWrapper": LossFunctionWrapper, "Loss": Loss,
                         **_FUNCTIONS}


def _unknown(identifier) -> InvalidConfigError:
    valid = sorted(k for k in _BY_NAME if not k[0].isupper() or k in ("MSE", "MAE"))
    return InvalidConfigError(
        f"Unknown loss {identifier!r} (argument `identifier`); valid losses: {', '.join(valid)} "
        f"and the classes {', '.join(c.__name__ for c in _CLASSES)} (register custom ones with "
        "@ember.saving.register_serializable() or pass custom_objects)"
    )


def _as_loss(obj, identifier) -> Loss:
    if isinstance(obj, Loss):
        return obj
    if isinstance(obj, type) and issubclass(obj, Loss):
        return obj()
    if callable(obj) and not isinstance(obj, type):
        try:
            cls = _FN_TO_CLASS.get(obj)
        except TypeError:  # unhashable callable
            cls = None
        return cls() if cls is not None else LossFunctionWrapper(obj)
    raise InvalidArgumentError(f"Could not interpret loss identifier (argument `identifier`): {identifier!r}")


def get(identifier) -> Loss | None:
    """A `Loss` object from a Keras name (``"mse"``, ``"huber"``, ``"MeanSquaredError"``...),
    a class, an instance, a loss function, a serialized dict, or None.

    Names are looked up in the custom objects first (`ember.saving`: the registry, a
    `CustomObjectScope`), then among the built-ins, then as a registered
    ``"package>name"``. Unlike Keras, whose ``get("mse")`` returns the bare function,
    Ember always returns a `Loss` (``get("mse")`` is ``MeanSquaredError()``, a function
    is wrapped in `LossFunctionWrapper`), so the result applies the reduction and
    accepts ``sample_weight`` the way ``compile`` needs.

    Raises:
        InvalidArgumentError: (a ValueError) for an unknown name or an uninterpretable identifier.

    Example:
        >>> import ember as em
        >>> type(em.losses.get("kld")).__name__
        'KLDivergence'
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return _as_loss(deserialize(identifier), identifier)
    if isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, _BY_NAME)
        if obj is None:
            raise _unknown(identifier)
        return _as_loss(obj, identifier)
    if isinstance(identifier, type) and not issubclass(identifier, Loss):
        raise InvalidArgumentError(f"Could not interpret loss identifier (argument `identifier`): {identifier!r}")
    return _as_loss(identifier, identifier)


def serialize(loss) -> dict:
    """Keras's serialized form of ``loss`` (`ember.saving.serialize`): a class config for
    a `Loss`, the function form for a loss function.

    Example:
        >>> import ember as em
        >>> em.losses.serialize(em.losses.Huber(delta=2.0))["config"]["delta"]
        2.0
    """
    if isinstance(loss, Loss) or (callable(loss) and not isinstance(loss, type)):
        return _serialization.serialize_keras_object(loss)
    raise InvalidArgumentError(f"serialize: cannot serialize {loss!r} (argument `loss`): not a Loss or a loss function")


def deserialize(name, custom_objects=None):
    """The inverse of `serialize`: a `Loss`, or the function for a serialized function
    or a function name (``deserialize("mse") is mean_squared_error``). ``name`` is a
    serialized config or a name (Keras's argument name).

    Raises:
        InvalidConfigError: (an InvalidArgumentError) for an unknown class or function
            name, or a malformed config.
    """
    return _serialization.deserialize_family(name, custom_objects, _MODULE_OBJECTS, "loss", _unknown)
