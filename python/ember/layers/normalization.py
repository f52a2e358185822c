"""Normalization layers: BatchNormalization and LayerNormalization (Keras 3 semantics)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import constraints, initializers, regularizers
from ..autograd import no_grad
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..ops import normalization as norm_ops
from ..tensor import Tensor
from .layer import Layer


def _check_float(owner: str, name: str, value, lo: float, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not lo <= value <= hi:
        where = f"in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
        raise InvalidArgumentError(f"{owner}: argument {name} must be a finite number {where}, got {value!r}")
    return float(value)


def _check_bool(owner: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{owner}: argument {name} must be True or False, got {value!r}")
    return bool(value)


def _initializer(owner: str, name: str, value):
    try:
        return initializers.get(value)
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"{owner}: argument {name}: {e}") from None


def _regularizer(owner: str, name: str, value):
    try:
        return regularizers.get(value)
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"{owner}: argument {name}: {e}") from None


class BatchNormalization(Layer):
    """Normalizes its inputs per feature with batch statistics in training and moving
    statistics at inference (Keras 3 ``keras.layers.BatchNormalization``).

    In training (``fit``, or ``training=True``) the output is
    ``gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta`` with the mean and the
    *biased* variance of the batch over every axis but ``axis``, and the moving
    statistics are updated in place (outside the tape)::

        moving_mean = moving_mean * momentum + mean * (1 - momentum)
        moving_variance = moving_variance * momentum + var * (1 - momentum)

    At inference the moving statistics replace the batch's. Keras and PyTorch differ
    here, and Ember follows Keras: momentum 0.99 weights the *old* value (PyTorch's
    momentum=0.1 weights the new one), the moving variance is fed the biased batch
    variance (PyTorch: the unbiased one), and epsilon defaults to 1e-3 (PyTorch: 1e-5).

    As in Keras 3, ``trainable = False`` freezes the layer *and* makes it run in
    inference mode: gamma and beta are not trained, the moving statistics are not
    updated, and the moving statistics normalize the batch even inside ``fit``.

    Weights, in Keras's order: gamma (if ``scale``), beta (if ``center``), then the
    non-trainable moving_mean and moving_variance, which ``count_params``, ``summary``
    and ``get_weights`` include.

    Args:
        axis: the features axis (an int; -1 for channels last).
        momentum: in [0, 1]; the weight of the old moving value.
        epsilon: >= 0, added to the variance.
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializer names or objects.
        beta_regularizer, gamma_regularizer: optional regularizers of beta and gamma
            (their penalties join the training loss).
        beta_constraint, gamma_constraint: optional constraints of beta and gamma, applied after each update.
        renorm, renorm_clipping, renorm_momentum: Keras's batch renormalization; not
            supported (``renorm=True`` raises NotImplementedError).
        synchronized: in a distributed ``fit`` (`ember.distribute`), normalise with the
            statistics of the global batch (summed over the ranks) instead of the rank's
            shard; no effect in a single process.

    Example:
        >>> import ember as em
        >>> bn = em.layers.BatchNormalization()
        >>> y = bn(em.tensor([[1.0, 2.0], [3.0, 6.0]]), training=True)
        >>> [round(v, 2) for v in bn.moving_mean.numpy().tolist()]
        [0.02, 0.04]
    """

    _supports_masking = True  # passes a mask on unchanged, as in Keras

    integer_inputs = "cast"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        owner = "BatchNormalization"
        if renorm or renorm_clipping is not None:
            raise NotImplementedError(f"{owner}: batch renormalization (renorm, renorm_clipping) is not supported")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise InvalidArgumentError(f"{owner}: argument axis must be an int, got {axis!r}")
        self.axis = int(axis)
        self.momentum = _check_float(owner, "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_float(owner, "epsilon", epsilon, 0.0)
        self.center = _check_bool(owner, "center", center)
        self.scale = _check_bool(owner, "scale", scale)
        # In a distributed fit (ember.distribute), the batch statistics are those of the
        # global batch, all-reduced over the ranks; elsewhere it changes nothing (Keras).
        self.synchronized = _check_bool(owner, "synchronized", synchronized)
        self.beta_initializer = _initializer(owner, "beta_initializer", beta_initializer)
        self.gamma_initializer = _initializer(owner, "gamma_initializer", gamma_initializer)
        self.moving_mean_initializer = _initializer(owner, "moving_mean_initializer", moving_mean_initializer)
        self.moving_variance_initializer = _initializer(owner, "moving_variance_initializer", moving_variance_initializer)
        self.beta_regularizer = _regularizer(owner, "beta_regularizer", beta_regularizer)
        self.gamma_regularizer = _regularizer(owner, "gamma_regularizer", gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"BatchNormalization: axis {self.axis} is out of bounds for inputs of shape {tuple(input_shape)}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ShapeError(f"BatchNormalization: the size of axis {self.axis} must be known, got input shape {tuple(input_shape)}")
        shape = (int(dim),)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, name="beta")
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                                               name="moving_variance")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        if training and self.trainable:
            dist = _fitting_distribution() if self.synchronized else None
            if dist is not None:
                y, mean, var = self._synchronized_batch_norm(inputs, dist)
            else:
                y, mean, var = norm_ops.batch_norm(inputs, self.gamma, self.beta, self.axis, self.epsilon)
            m = self.momentum
            with no_grad():
                self.moving_mean.assign(core.add(core.multiply(self.moving_mean, m), core.multiply(mean, 1.0 - m)))
                self.moving_variance.assign(core.add(core.multiply(self.moving_variance, m), core.multiply(var, 1.0 - m)))
            return y
        return norm_ops.batch_normalization(inputs, self.moving_mean, self.moving_variance, self.axis,
                                            offset=self.beta, scale=self.gamma, epsilon=self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized,
        }


def _fitting_distribution():
    from ..distribute.data_parallel import fitting

    return fitting()


def _synchronized_batch_norm(self, x, dist):
    """Training-mode batch norm with the global batch's mean and biased variance:
    the per-channel sums of x and x**2 and the row count, all-reduced over the ranks."""
    from ..distribute.sync_ops import all_sum
    from ..ops import array_ops as array

    x = core._float(x)
    axis = self.axis % x.ndim
    axes = [i for i in range(x.ndim) if i != axis]
    rows = float(np.prod([x.shape[i] for i in axes]))
    c = x.shape[axis]
    local = array.concatenate([core.sum(x, axes), core.sum(core.square(x), axes)], 0)
    total = all_sum(local, dist)
    count = all_sum(Tensor(np.array([rows], np.float32), device=x.device), dist)  # rows of the global batch
    n = float(count.numpy()[0])
    mean = core.multiply(array.take(total, np.arange(c), 0), 1.0 / n)
    var = core.subtract(core.multiply(array.take(total, np.arange(c, 2 * c), 0), 1.0 / n), core.square(mean))
    var = core.maximum(var, 0.0)
    y = norm_ops.batch_normalization(x, mean, var, axis, offset=self.beta, scale=self.gamma, epsilon=self.epsilon)
    return y, mean.detach(), var.detach()


BatchNormalization._synchronized_batch_norm = _synchronized_batch_norm


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (Keras 3 ``keras.layers.LayerNormalization``):
    ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and biased variance
    over ``axis``; gamma and beta span the normalized axes. The same in training and
    inference. Keras's default epsilon, 1e-3, differs from PyTorch's 1e-5.

    Args:
        axis: an int or a list of ints, the axes to normalize (not the batch axis).
        epsilon: >= 0, added to the variance.
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned ``gamma``.
        rms_scaling: must be False (RMS normalization is not supported yet).
        beta_initializer, gamma_initializer: initializer names or objects.
        beta_regularizer, gamma_regularizer: optional regularizers of beta and gamma.
        beta_constraint, gamma_constraint: optional constraints of beta and gamma, applied after each update.

    Example:
        >>> import ember as em
        >>> ln = em.layers.LayerNormalization(epsilon=0.0)
        >>> ln(em.tensor([[1.0, 3.0]])).numpy().tolist()
        [[-1.0, 1.0]]
    """

    _supports_masking = True  # passes a mask on unchanged, as in Keras

    integer_inputs = "cast"

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        # Keras 3.15 takes rms_scaling through **kwargs (it was a named argument before).
        rms_scaling = kwargs.pop("rms_scaling", False)
        super().__init__(**kwargs)
        owner = "LayerNormalization"
        if isinstance(axis, (list, tuple)):
            if not axis or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axis):
                raise InvalidArgumentError(f"{owner}: argument axis must be an int or a non-empty list of ints, got {axis!r}")
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise InvalidArgumentError(f"{owner}: argument axis must be an int or a list of ints, got {axis!r}")
        self.epsilon = _check_float(owner, "epsilon", epsilon, 0.0)
        self.center = _check_bool(owner, "center", center)
        self.scale = _check_bool(owner, "scale", scale)
        if _check_bool(owner, "rms_scaling", rms_scaling):
            raise InvalidArgumentError(f"{owner}: argument rms_scaling=True is not supported yet")
        self.rms_scaling = False
        self.beta_initializer = _initializer(owner, "beta_initializer", beta_initializer)
        self.gamma_initializer = _initializer(owner, "gamma_initializer", gamma_initializer)
        self.beta_regularizer = _regularizer(owner, "beta_regularizer", beta_regularizer)
        self.gamma_regularizer = _regularizer(owner, "gamma_regularizer", gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        norm = []
        for a in axes:
            if not -rank <= a < rank:
                raise ShapeError(f"LayerNormalization: axis {a} is out of bounds for inputs of shape {tuple(input_shape)}")
            norm.append(a % rank)
        if 0 in norm or len(set(norm)) != len(norm):
            raise InvalidArgumentError(f"LayerNormalization: argument axis must name distinct non-batch axes, got {self.axis!r}")
        norm.sort()
        if any(input_shape[a] is None for a in norm):
            raise ShapeError(f"LayerNormalization: the normalized axes must have known sizes, got input shape {tuple(input_shape)}")
        self._norm_axes = norm
        shape = tuple(int(input_shape[a]) for a in norm)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, name="beta")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        return norm_ops.layer_norm(inputs, self.gamma, self.beta, self._norm_axes, self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
