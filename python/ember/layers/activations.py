"""Activation layers with Keras 3 names, arguments and defaults: ReLU, LeakyReLU, PReLU,
ELU, Softmax.

Each is a thin layer over `ember.activations`, so it runs the same fused kernels on
every device. Configuration is validated at construction (``ValueError`` naming the
argument, as Keras raises) and round-trips through ``get_config``/``from_config``.
"""

from __future__ import annotations

import math
import numbers
import warnings

from .. import activations, initializers, regularizers
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..tensor import Tensor, as_tensor
from .layer import Layer, _AnyRank

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]

#: Keras' ``_large_negative_number`` for float32: added to masked-out logits.
_LARGE_NEGATIVE = -1e9


def _real(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidArgumentError(f"{owner}: argument {name} must be a finite number, got {value!r}")
    return float(value)


class ReLU(Layer, _AnyRank):
    """Rectified linear unit: ``activations.relu(x, negative_slope, max_value, threshold)``.

    Args:
        max_value: Upper bound of the output (>= 0), or None for none.
        negative_slope: Slope below the threshold (>= 0). Defaults to 0.
        threshold: Values at or below it are damped (>= 0). Defaults to 0.

    Example:
        >>> import ember as em
        >>> em.layers.ReLU(max_value=6.0)(em.tensor([[-1.0, 3.0, 9.0]])).numpy().tolist()
        [[0.0, 3.0, 6.0]]
    """

    integer_inputs = "cast"

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            max_value = _real(max_value, "max_value", "ReLU")
            if max_value < 0.0:
                raise InvalidArgumentError(f"ReLU: max_value of a ReLU layer cannot be a negative value, got max_value={max_value}")
        if negative_slope is None or _real(negative_slope, "negative_slope", "ReLU") < 0.0:
            raise InvalidArgumentError(
                f"ReLU: negative_slope of a ReLU layer cannot be None or a negative value, got negative_slope={negative_slope}"
            )
        if threshold is None or _real(threshold, "threshold", "ReLU") < 0.0:
            raise InvalidArgumentError(f"ReLU: threshold of a ReLU layer cannot be None or a negative value, got threshold={threshold}")
        self.max_value = max_value
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        self.supports_masking = True

    def call(self, inputs, training=False):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer, _AnyRank):
    """Leaky ReLU: ``x`` for ``x > 0``, else ``negative_slope * x``.

    Args:
        negative_slope: Slope for negative inputs (>= 0). Defaults to 0.3 (Keras' layer
            default; the function ``activations.leaky_relu`` defaults to 0.2). The
            deprecated Keras 2 name ``alpha`` is accepted with a warning, as Keras does.

    Example:
        >>> import ember as em
        >>> em.layers.LeakyReLU(negative_slope=0.5)(em.tensor([[-2.0, 3.0]])).numpy().tolist()
        [[-1.0, 3.0]]
    """

    integer_inputs = "cast"

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: argument `alpha` is deprecated. Use `negative_slope` instead.", UserWarning, stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or _real(negative_slope, "negative_slope", "LeakyReLU") < 0.0:
            raise InvalidArgumentError(
                "LeakyReLU: the negative_slope value of a Leaky ReLU layer cannot be None or a negative value, "
                f"got negative_slope={negative_slope}"
            )
        self.negative_slope = float(negative_slope)
        self.supports_masking = True

    def call(self, inputs, training=False):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Parametric ReLU: ``relu(x) - alpha * relu(-x)`` with a learned slope ``alpha``.

    ``alpha`` has the shape of one sample (``input_shape[1:]``), with size 1 on each of
    ``shared_axes``, so a conv feature map can share one slope per channel with
    ``shared_axes=[1, 2]``.

    Args:
        alpha_initializer: Initializer of the slopes. Defaults to ``"Zeros"`` (a ReLU).
        alpha_regularizer: Optional regularizer of the slopes.
        alpha_constraint: Not supported yet; must be None.
        shared_axes: Axes (counted with the batch axis as 0, so >= 1) along which the
            slopes are shared.

    Example:
        >>> import ember as em
        >>> layer = em.layers.PReLU(alpha_initializer=em.initializers.Constant(0.25))
        >>> layer(em.tensor([[-4.0, 2.0]])).numpy().tolist()
        [[-1.0, 2.0]]
    """

    integer_inputs = "cast"

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if alpha_constraint is not None:
            raise InvalidArgumentError("PReLU: alpha_constraint is not supported yet")
        self.alpha_constraint = None
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            for a in axes:
                if isinstance(a, bool) or not isinstance(a, numbers.Integral) or a < 1:
                    raise InvalidArgumentError(
                        f"PReLU: shared_axes must hold integers >= 1 (axis 0 is the batch), got shared_axes={shared_axes!r}"
                    )
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ShapeError(f"PReLU: inputs need a batch axis and at least one more, got input shape {shape}")
        param_shape = list(shape[1:])
        for a in self.shared_axes or []:
            if a >= len(shape):
                raise ShapeError(f"PReLU: shared axis {a} is out of range for inputs of shape {shape}")
            param_shape[a - 1] = 1
        if any(d is None for d in param_shape):
            raise ShapeError(f"PReLU: every non-shared axis must have a known size, got input shape {shape}")
        self.alpha = self.add_weight(tuple(param_shape), self.alpha_initializer, name="alpha",
                                     regularizer=self.alpha_regularizer)

    def call(self, inputs, training=False):
        pos = core.relu(inputs)
        neg = core.multiply(core.negative(self.alpha), core.relu(core.negative(inputs)))
        return core.add(pos, neg)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": None if self.alpha_regularizer is None else regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": None,
            "shared_axes": self.shared_axes,
        }


class ELU(Layer, _AnyRank):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: Scale of the negative part. Defaults to 1.0.

    Example:
        >>> import ember as em
        >>> [round(v, 4) for v in em.layers.ELU()(em.tensor([[-1.0, 2.0]])).numpy()[0].tolist()]
        [-0.6321, 2.0]
    """

    integer_inputs = "cast"

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _real(alpha, "alpha", "ELU")
        self.supports_masking = True

    def call(self, inputs, training=False):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        # Keras 3's ELU leaves alpha out of its config, so it is lost on reload; Ember keeps it.
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer, _AnyRank):
    """Softmax over ``axis`` (an int or a tuple of ints normalised together).

    ``call(inputs, mask=None)``: where ``mask`` is 0 (False) the logits get -1e9 added
    before the softmax and the outputs are zeroed after it, as in Keras 3.

    Args:
        axis: the axis (int) or axes (tuple of ints) to normalise over (default -1).

    Example:
        >>> import ember as em
        >>> em.layers.Softmax()(em.tensor([[0.0, 0.0]])).numpy().tolist()
        [[0.5, 0.5]]
    """

    integer_inputs = "cast"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axis):
                raise InvalidArgumentError(f"Softmax: argument axis must be an integer or a tuple of integers, got {axis!r}")
            axis = [int(a) for a in axis]
        elif isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise InvalidArgumentError(f"Softmax: argument axis must be an integer or a tuple of integers, got {axis!r}")
        else:
            axis = int(axis)
        self.axis = axis
        self.supports_masking = True

    def call(self, inputs, training=False, mask=None):
        x = inputs
        m = None
        if mask is not None:
            m = core.cast(mask if isinstance(mask, Tensor) else as_tensor(mask, device=x.device), "float32")
            x = core.add(x, core.multiply(core.subtract(1.0, m), _LARGE_NEGATIVE))
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        y = activations.softmax(x, axis=axis)
        if m is not None:
            return core.multiply(y, m)
        if axis == -1 or axis == inputs.ndim - 1:
            # Keep the logits so a crossentropy loss can use the stable fused kernel.
            y._keras_logits = ("softmax", inputs)
        return y

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
