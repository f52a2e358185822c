"""More normalization layers with Keras 3's names, arguments, weights and formulas:
`GroupNormalization`, `RMSNormalization`, `UnitNormalization` and the wrapper
`SpectralNormalization`. Each is a composite of `ember.ops`, so it runs and trains on
every device."""

from __future__ import annotations

import numbers

import numpy as np

from .. import constraints, initializers, regularizers
from ..autograd import no_grad
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..ops.array_ops import rsqrt
from ..ops.nn import matmul
from .input_spec import InputSpec
from .layer import Layer, _AnyRank, _input_tensor
from .normalization import _check_bool, _check_float, _initializer, _regularizer
from .wrapper import Wrapper


def _axis_arg(axis, owner: str):
    if isinstance(axis, (list, tuple)):
        if not axis or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axis):
            raise InvalidArgumentError(f"{owner}: argument axis must be an int or a non-empty list of ints, got "
                                       f"{axis!r}")
        return [int(a) for a in axis]
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InvalidArgumentError(f"{owner}: argument axis must be an int or a list of ints, got {axis!r}")
    return int(axis)


def _check_axes(axes: list, rank: int, owner: str) -> list:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"{owner}: axis {a} is out of bounds for inputs of rank {rank}")
        out.append(a % rank)
    return out


class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels (Wu & He 2018; Keras 3's
    ``keras.layers.GroupNormalization``): the ``axis`` channels are split into ``groups``
    groups, each normalized by its mean and variance over the group's channels and every
    other non-batch axis, then ``gamma * x + beta`` per channel. ``groups=-1`` is
    instance normalization (one channel per group); ``groups=1`` is layer normalization
    over all axes.

    Args:
        groups: the number of groups (dividing the channels), or -1.
        axis: the channel axis (default -1).
        epsilon: added to the variance (default 1e-3).
        center, scale: whether to learn ``beta`` and ``gamma`` (one per channel).
        beta_initializer, gamma_initializer: their initializers.
        beta_regularizer, gamma_regularizer: their regularizers.
        beta_constraint, gamma_constraint: their constraints.
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> em.layers.GroupNormalization(groups=2)(em.ones((2, 5, 4))).shape
        (2, 5, 4)
    """

    _supports_masking = True
    integer_inputs = "cast"

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        owner = "GroupNormalization"
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or (groups <= 0 and groups != -1):
            raise InvalidArgumentError(f"{owner}: received an invalid value for argument `groups`, expected a "
                                       f"positive integer (or -1 for instance normalization), got groups={groups!r}")
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise InvalidArgumentError(f"{owner}: argument axis must be an int, got {axis!r}")
        self.groups = int(groups)
        self.axis = int(axis)
        self.epsilon = _check_float(owner, "epsilon", epsilon, 0.0)
        self.center = _check_bool(owner, "center", center)
        self.scale = _check_bool(owner, "scale", scale)
        self.beta_initializer = _initializer(owner, "beta_initializer", beta_initializer)
        self.gamma_initializer = _initializer(owner, "gamma_initializer", gamma_initializer)
        self.beta_regularizer = _regularizer(owner, "beta_regularizer", beta_regularizer)
        self.gamma_regularizer = _regularizer(owner, "gamma_regularizer", gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        owner = f"GroupNormalization {self.name!r}"
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ShapeError(f"{owner}: axis {self.axis} is not a non-batch axis of inputs of shape {input_shape}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ShapeError(f"{owner}: axis {self.axis} of the inputs should have a defined dimension, got input "
                             f"shape {input_shape}")
        if self.groups == -1:
            self.groups = int(dim)
        if dim < self.groups:
            raise ShapeError(f"{owner}: the number of groups ({self.groups}) cannot be more than the number of "
                             f"channels ({dim})")
        if dim % self.groups:
            raise ShapeError(f"{owner}: the number of groups ({self.groups}) must divide the number of channels "
                             f"({dim})")
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: dim})
        if self.scale:
            self.gamma = self.add_weight((int(dim),), self.gamma_initializer, name="gamma",
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight((int(dim),), self.beta_initializer, name="beta",
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        inputs = _input_tensor(inputs, self.name, self)
        if inputs.ndim < 2 or not -inputs.ndim <= self.axis < inputs.ndim:
            raise ShapeError(f"GroupNormalization {self.name!r}: axis {self.axis} is not a non-batch axis of inputs of "
                             f"shape {inputs.shape}")
        shape = inputs.shape
        axis = self.axis % inputs.ndim
        groups = shape[axis] if self.groups == -1 else self.groups
        if shape[axis] % groups:
            raise ShapeError(f"GroupNormalization {self.name!r}: the number of groups ({groups}) must divide "
                             f"the number of channels ({shape[axis]})")
        c = shape[axis]
        group_shape = list(shape)
        group_shape[axis] = c // groups
        group_shape.insert(axis, groups)
        x = core.reshape(inputs, tuple(group_shape))
        # moments over every axis of a group but the groups axis itself
        reduce = tuple(a for a in range(1, x.ndim) if a != axis)
        mean = core.mean(x, axis=reduce, keepdims=True)
        var = core.mean(core.square(core.subtract(x, mean)), axis=reduce, keepdims=True)
        inv = rsqrt(core.add(var, self.epsilon))
        bshape = [1] * x.ndim
        bshape[axis], bshape[axis + 1] = groups, c // groups
        if self.gamma is not None:
            inv = core.multiply(inv, core.reshape(self.gamma, tuple(bshape)))
        res = core.negative(core.multiply(mean, inv))
        if self.beta is not None:
            res = core.add(res, core.reshape(self.beta, tuple(bshape)))
        return core.reshape(core.add(core.multiply(x, inv), res), shape)

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang & Sennrich 2019; Keras 3's
    ``keras.layers.RMSNormalization``): ``x * rsqrt(mean(x^2, axis) + epsilon) * scale``
    with a learned ``scale`` over the normalized axes.

    Args:
        axis: an int or a list of ints, the axes to normalize (default -1).
        epsilon: added to the mean square (default 1e-6).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> [round(v, 4) for v in em.layers.RMSNormalization()(em.tensor([[3.0, 4.0]])).numpy()[0].tolist()]
        [0.8485, 1.1314]
    """

    integer_inputs = "cast"

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        owner = "RMSNormalization"
        self.axis = _axis_arg(axis, owner)
        self.epsilon = _check_float(owner, "epsilon", epsilon, 0.0)
        self.scale = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        norm = sorted(_check_axes(axes, len(input_shape), f"RMSNormalization {self.name!r}"))
        if any(input_shape[a] is None for a in norm):
            raise ShapeError(f"RMSNormalization {self.name!r}: the normalized axes must have known sizes, got input "
                             f"shape {input_shape}")
        self._norm_axes = tuple(norm)
        # the scale spans the normalized axes, broadcast against the inputs
        self.scale = self.add_weight(tuple(int(input_shape[a]) for a in norm), "ones", name="scale")
        self._bshape = tuple(int(input_shape[a]) if a in norm else 1 for a in range(len(input_shape)))

    def compute_output_shape(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _check_axes(axes, len(input_shape), f"RMSNormalization {self.name!r}")
        return tuple(input_shape)

    def call(self, x):
        ms = core.mean(core.square(x), axis=self._norm_axes, keepdims=True)
        y = core.multiply(x, rsqrt(core.add(ms, self.epsilon)))
        return core.multiply(y, core.reshape(self.scale, self._bshape[-(x.ndim):]))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class UnitNormalization(Layer, _AnyRank):
    """Scales each sample to unit L2 norm over ``axis`` (Keras 3's
    ``keras.layers.UnitNormalization``): ``x / sqrt(max(sum(x^2, axis), 1e-12))``.

    Args:
        axis: an int or a list of ints (default -1).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> em.layers.UnitNormalization()(em.tensor([[3.0, 4.0]])).numpy().tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """

    _supports_masking = True
    integer_inputs = "cast"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_arg(axis, "UnitNormalization")
        self.built = True

    def compute_output_shape(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _check_axes(axes, len(input_shape), f"UnitNormalization {self.name!r}")
        return tuple(input_shape)

    def call(self, inputs):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = tuple(_check_axes(axes, inputs.ndim, f"UnitNormalization {self.name!r}"))
        sq = core.sum(core.square(inputs), axis=axes, keepdims=True)
        return core.multiply(inputs, rsqrt(core.maximum(sq, 1e-12)))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize_all(x):
    """``x / sqrt(max(sum(x^2), 1e-12))`` over every axis (Keras's normalize, axis=None)."""
    return core.multiply(x, rsqrt(core.maximum(core.sum(core.square(x)), 1e-12)))


class SpectralNormalization(Wrapper):
    """Divides the wrapped layer's kernel by its largest singular value, estimated by
    power iteration, at every training call (Miyato et al. 2018; Keras 3's
    ``keras.layers.SpectralNormalization``): with the kernel reshaped to (n, units) and the
    non-trainable ``vector_u`` (1, units), each of ``power_iterations`` steps sets
    ``v = normalize(u W^T)``, ``u = normalize(v W)``; then ``sigma = v W u^T``, and the
    kernel is assigned ``W / sigma`` (and ``vector_u`` the new u) before the layer runs.
    At inference the layer runs with the kernel as it is. A kernel that is all zeros
    (sigma 0) is left unchanged, as Keras leaves it.

    Args:
        layer: the layer to wrap; it must have a ``kernel`` (or ``embeddings``).
        power_iterations: the number of power-iteration steps per call (>= 1).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> sn = em.layers.SpectralNormalization(em.layers.Dense(3))
        >>> sn(em.ones((2, 4)), training=True).shape
        (2, 3)
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, numbers.Integral) \
                or power_iterations <= 0:
            raise InvalidArgumentError(f"SpectralNormalization: `power_iterations` should be greater than zero, got "
                                       f"power_iterations={power_iterations!r}")
        self.power_iterations = int(power_iterations)
        self.vector_u = None

    def build(self, input_shape):
        super().build(input_shape)
        kernel = getattr(self.layer, "kernel", None)
        if kernel is None:
            kernel = getattr(self.layer, "embeddings", None)
        if kernel is None:
            raise InvalidArgumentError(f"SpectralNormalization: {type(self.layer).__name__} object has no attribute "
                                       "'kernel' nor 'embeddings'")
        self.kernel = kernel
        self.kernel_shape = tuple(kernel.shape)
        self.vector_u = self.add_weight((1, self.kernel_shape[-1]), initializers.TruncatedNormal(stddev=0.02),
                                        name="vector_u", trainable=False)

    def normalized_weights(self):
        """(new u, the spectrally normalized kernel) for the current kernel and u."""
        w = core.reshape(self.kernel.detach(), (-1, self.kernel_shape[-1]))
        u = self.vector_u.detach()
        v = None
        for _ in range(self.power_iterations):
            v = _l2_normalize_all(matmul(u, core.transpose(w)))
            u = _l2_normalize_all(matmul(v, w))
        sigma = matmul(matmul(v, w), core.transpose(u))  # (1, 1)
        zero = core.equal(sigma, 0.0)
        safe = core.add(sigma, zero)  # 1 where sigma is 0: the kernel then stays as it is
        kernel = core.reshape(core.divide(w, safe), self.kernel_shape)
        u = core.add(core.multiply(u, core.subtract(1.0, zero)), core.multiply(self.vector_u.detach(), zero))
        return u, kernel

    def call(self, inputs, training=False):
        if training:
            with no_grad():
                u, kernel = self.normalized_weights()
                self.vector_u.assign(u)
                self.kernel.assign(kernel)
        return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


__all__ = ["GroupNormalization", "RMSNormalization", "UnitNormalization", "SpectralNormalization"]
