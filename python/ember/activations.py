"""Activation functions with Keras 3 names, arguments and numerics.

Each one is usable as a string on any layer (``Dense(4, activation="gelu")``), as a
function here, and through ``get``. The parameterless ones and ``leaky_relu``/``elu`` are
single fused kernels on every device (``ember.ops``); ``relu`` with ``max_value`` or
``threshold`` and the softmax over several axes are composites of kernels, built exactly
as Keras builds them.

Ember's own addition is ``step`` (Heaviside, 1 for ``x >= 0``, zero gradient), the
activation of Rosenblatt's perceptron; Keras has no step activation.

Where Keras and other frameworks differ, Keras wins: ``hard_sigmoid`` is Keras 3's
``relu6(x + 3) / 6`` (Keras 2 and TF used ``0.2 x + 0.5``), ``gelu`` is exact by default
here (``keras.activations.gelu``) while ``ember.ops.gelu`` defaults to the tanh
approximation (``keras.ops.gelu``), and ``leaky_relu``'s default slope is 0.2 (the
``LeakyReLU`` layer's is 0.3). Derivatives at kinks follow the TensorFlow kernels:
relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, selu'(0) = scale.

Example:
    >>> import ember as em
    >>> em.activations.get("relu")(em.tensor([-1.0, 2.0])).numpy().tolist()
    [0.0, 2.0]
    >>> [round(v, 4) for v in em.activations.gelu(em.tensor([1.0])).numpy().tolist()]
    [0.8413]
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

from .errors import InvalidArgumentError, InvalidConfigError
from .ops import core, nn
from .saving import serialization_lib as _serialization
from .tensor import as_tensor

__all__ = [
    "linear", "step", "sigmoid", "hard_sigmoid", "tanh", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu",
    "silu", "swish", "hard_silu", "hard_swish", "softplus", "softsign", "mish", "log_sigmoid", "exponential",
    "softmax", "log_softmax", "get", "serialize", "deserialize", "ALL",
]


def _number(value, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidArgumentError(f"{op}: argument {name} must be a finite number, got {value!r}")
    return float(value)


def linear(x):
    """The identity, ``x`` unchanged."""
    return x


def step(x):
    """Heaviside step: 1 for ``x >= 0``, else 0, with a zero gradient.

    Ember's own (Keras has none): the activation of Rosenblatt's perceptron, which fires
    at a zero net input. NaN propagates.

    Example:
        >>> import ember as em
        >>> em.activations.step(em.tensor([-0.5, 0.0, 2.0])).numpy().tolist()
        [0.0, 1.0, 1.0]
    """
    return core.step(x)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, computed without overflow."""
    return core.sigmoid(x)


def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid ``relu6(x + 3) / 6``: 0 below -3, 1 above 3."""
    return core.hard_sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return core.tanh(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit with Keras' options.

    With the defaults, ``max(x, 0)``. Otherwise ``x`` for ``threshold < x`` (clipped to
    ``max_value`` when given), and ``negative_slope * (x - threshold)`` below the
    threshold, exactly as ``keras.activations.relu`` composes it.

    Args:
        x: Input tensor.
        negative_slope: Slope below the threshold. Defaults to 0.
        max_value: Saturation value, or None for no upper bound.
        threshold: Values at or below it are damped (or zeroed). Defaults to 0.

    Example:
        >>> import ember as em
        >>> em.activations.relu(em.tensor([-10.0, -5.0, 0.0, 5.0, 10.0]), negative_slope=0.5, max_value=6.0).numpy().tolist()
        [-5.0, -2.5, 0.0, 5.0, 6.0]
    """
    negative_slope = _number(negative_slope, "negative_slope", "relu")
    threshold = _number(threshold, "threshold", "relu")
    if max_value is not None:
        max_value = _number(max_value, "max_value", "relu")
    x = as_tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return core.relu(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0.0:
            return core.leaky_relu(x, negative_slope)
        negative_part = core.relu(core.subtract(threshold, x) if threshold != 0.0 else core.negative(x))
    clip_max = max_value is not None
    if threshold != 0.0:
        y = core.multiply(x, core.greater(x, threshold))
    elif max_value == 6.0:
        y = core.relu6(x)
        clip_max = False
    else:
        y = core.relu(x)
    if clip_max:
        y = core.clip(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = core.subtract(y, core.multiply(negative_part, negative_slope))
    return y


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return core.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (Keras' default slope 0.2)."""
    return core.leaky_relu(x, _number(negative_slope, "negative_slope", "leaky_relu"))


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return core.elu(x, _number(alpha, "alpha", "elu"))


def selu(x):
    """Scaled ELU, ``scale * elu(x, alpha)`` with alpha = 1.67326324 and
    scale = 1.05070099 (Klambauer et al., 2017)."""
    return core.selu(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit ``x * Phi(x)``.

    Args:
        x: Input tensor.
        approximate: Use the tanh approximation
            ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``. Defaults to False, as
            ``keras.activations.gelu`` (``ember.ops.gelu`` defaults to True, as ``keras.ops``).
    """
    return core.gelu(x, approximate=bool(approximate))


def silu(x):
    """Sigmoid linear unit (swish), ``x * sigmoid(x)``."""
    return core.silu(x)


swish = silu


def hard_silu(x):
    """Hard SiLU (hard swish), ``x * relu6(x + 3) / 6``."""
    x = as_tensor(x)
    return core.multiply(x, core.hard_sigmoid(x))


hard_swish = hard_silu


def softplus(x):
    """``log(exp(x) + 1)``, computed as ``max(x, 0) + log1p(exp(-|x|))``."""
    return core.softplus(x)


def softsign(x):
    """``x / (|x| + 1)``."""
    return core.softsign(x)


def mish(x):
    """``x * tanh(softplus(x))`` (Misra, 2019)."""
    return core.mish(x)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return core.negative(core.softplus(core.negative(x)))


def exponential(x):
    """``exp(x)``."""
    return core.exp(x)


def _over_axes(fn, x, axis, op: str):
    """``fn`` (softmax or log_softmax over one axis) over ``axis``: an int, or a tuple of
    axes normalised together (moved last and flattened, as ``keras.ops.softmax`` does)."""
    x = as_tensor(x)
    if isinstance(axis, (list, tuple)):
        axes = []
        for a in axis:
            if isinstance(a, bool) or not isinstance(a, numbers.Integral):
                raise InvalidArgumentError(f"{op}: argument axis must hold integers, got {axis!r}")
            if not -x.ndim <= a < x.ndim:
                raise InvalidArgumentError(f"{op}: axis {a} is out of bounds for a tensor of rank {x.ndim}")
            axes.append(int(a) % x.ndim)
        if not axes or len(set(axes)) != len(axes):
            raise InvalidArgumentError(f"{op}: argument axis must name distinct axes, got {axis!r}")
        if len(axes) == 1:
            return fn(x, axes[0])
        keep = [i for i in range(x.ndim) if i not in axes]
        perm = keep + axes
        xt = core.transpose(x, perm)
        moved = xt.shape
        flat = core.reshape(xt, tuple(moved[: len(keep)]) + (-1,))
        y = core.reshape(fn(flat, -1), moved)
        inverse = [perm.index(i) for i in range(x.ndim)]
        return core.transpose(y, inverse)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise InvalidArgumentError(f"{op}: argument axis must be an integer or a tuple of integers, got {axis!r}")
    if x.ndim and not -x.ndim <= axis < x.ndim:
        raise InvalidArgumentError(f"{op}: axis {axis} is out of bounds for a tensor of rank {x.ndim}")
    return fn(x, int(axis))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (an int or a tuple of ints), max-subtracted
    so large logits do not overflow.

    Example:
        >>> import ember as em
        >>> [round(v, 4) for v in em.activations.softmax(em.tensor([[1.0, 2.0, 3.0]])).numpy()[0].tolist()]
        [0.09, 0.2447, 0.6652]
    """
    return _over_axes(nn.softmax, x, axis, "softmax")


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis`` (an int or a tuple of ints)."""
    return _over_axes(nn.log_softmax, x, axis, "log_softmax")


ALL: dict[str, Callable] = {
    "linear": linear,
    "step": step,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "tanh": tanh,
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "silu": silu,
    "swish": silu,
    "hard_silu": hard_silu,
    "hard_swish": hard_silu,
    "softplus": softplus,
    "softsign": softsign,
    "mish": mish,
    "log_sigmoid": log_sigmoid,
    "exponential": exponential,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


def _unknown(identifier) -> InvalidArgumentError:
    return InvalidArgumentError(f"Unknown activation {identifier!r}; valid activations: {', '.join(sorted(ALL))} "
                                "(register custom ones with @ember.saving.register_serializable())")


def get(identifier) -> Callable:
    """An activation function from a name, a Keras serialized dict, a callable, or None
    (linear). Names are looked up in the custom objects first (`ember.saving`: the
    registry, a `CustomObjectScope`), then among the built-ins, then as a registered
    ``"package>name"``.

    Example:
        >>> import ember as em
        >>> em.activations.get("swish") is em.activations.silu
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _serialization.lookup_name(identifier, ALL)
        if obj is None:
            raise _unknown(identifier)
        if isinstance(obj, type):
            obj = obj()
    else:
        obj = identifier
    if callable(obj):
        return obj
    raise InvalidArgumentError(f"Could not interpret activation identifier: {identifier!r}")


def serialize(activation):
    """The Keras form of an activation: a built-in's canonical name (``serialize(swish)
    == "silu"``), else Keras's function dict (``"config"`` the registered
    ``"package>name"`` of a registered function) or, for an object with ``get_config``,
    its class config.

    Example:
        >>> import ember as em
        >>> em.activations.serialize(em.activations.gelu)
        'gelu'
    """
    for name, g in ALL.items():
        if g is activation:
            return name
    if not callable(activation):
        raise InvalidArgumentError(f"serialize: expected an activation function, got {activation!r}")
    return _serialization.serialize_keras_object(activation)


def deserialize(config, custom_objects=None) -> Callable:
    """The activation described by ``config`` (a name or a Keras serialized dict).

    Raises:
        InvalidConfigError: (a ValueError) for an unknown name or a malformed config.
    """
    if config is None or not isinstance(config, (str, dict)):
        raise InvalidConfigError(f"deserialize: expected an activation name or config, got {config!r}")
    if isinstance(config, dict) and "config" not in config and isinstance(config.get("class_name"), str):
        config = config["class_name"]  # tf.keras's {"class_name": "relu"}
    if isinstance(config, str):
        obj = _serialization.lookup_name(config, ALL, custom_objects)
        if obj is None:
            raise InvalidConfigError(str(_unknown(config)))
    else:
        obj = _serialization.deserialize_keras_object(config, custom_objects=custom_objects, module_objects=ALL)
    if isinstance(obj, type):
        obj = obj()
    if not callable(obj):
        raise InvalidConfigError(f"deserialize: {config!r} does not describe an activation (got {obj!r})")
    return obj


# Keras 3's further activations; the math is in ops/numpy_ops.py (defined here so that they
# serialize as keras.activations functions).
from .ops import numpy_ops as _numpy_ops  # noqa: E402


def celu(x, alpha=1.0):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return _numpy_ops.celu(x, alpha)


def glu(x, axis=-1):
    """Gated linear unit: ``a * sigmoid(b)`` of the halves of ``axis``."""
    return _numpy_ops.glu(x, axis)


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    return _numpy_ops.hard_shrink(x, threshold)


def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return _numpy_ops.hard_tanh(x)


def soft_shrink(x, threshold=0.5):
    """``sign(x) * max(|x| - threshold, 0)``."""
    return _numpy_ops.soft_shrink(x, threshold)


def sparse_plus(x):
    """0 below -1, ``x`` above 1, ``(x + 1)^2 / 4`` between."""
    return _numpy_ops.sparse_plus(x)


def sparse_sigmoid(x):
    """0 below -1, 1 above 1, ``(x + 1) / 2`` between."""
    return _numpy_ops.sparse_sigmoid(x)


def sparsemax(x, axis=-1):
    """The projection of ``x`` onto the probability simplex along ``axis``."""
    return _numpy_ops.sparsemax(x, axis)


def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``."""
    return _numpy_ops.squareplus(x, b)


def tanh_shrink(x):
    """``x - tanh(x)``."""
    return _numpy_ops.tanh_shrink(x)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""
    return _numpy_ops.threshold(x, threshold, default_value)


_MORE = {f.__name__: f for f in (celu, glu, hard_shrink, hard_tanh, soft_shrink, sparse_plus, sparse_sigmoid, sparsemax,
                                 squareplus, tanh_shrink, threshold)}
ALL.update(_MORE)
__all__ += list(_MORE)
