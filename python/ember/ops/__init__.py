"""Functional ops with Keras 3 ``keras.ops`` names. Each op is differentiable."""

from .core import (
    abs, add, argmax, argmin, broadcast_to, cast, clip, concatenate, divide, equal, exp, expand_dims, getitem,
    greater, greater_equal, less, less_equal, log, max, maximum, mean, min, minimum, multiply, negative,
    not_equal, power, relu, reshape, sigmoid, sqrt, square, squeeze, stop_gradient, subtract, sum, take, tanh,
    transpose,
)
from .core import elu, gelu, hard_sigmoid, leaky_relu, mish, relu6, selu, silu, softplus, softsign, step, swish
from .nn import (
    dense, log_softmax, matmul, one_hot, sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy,
)
from .normalization import batch_norm, batch_normalization, layer_norm, moments
from ..tensor import as_tensor as convert_to_tensor, full, ones, zeros, ones_like, zeros_like


from .._boundary import public as _public

broadcast_to = _public("broadcast_to")(broadcast_to)
concatenate = _public("concatenate")(concatenate)
dense = _public("dense")(dense)
getitem = _public("getitem")(getitem)
one_hot = _public("one_hot")(one_hot)
reshape = _public("reshape")(reshape)
softmax = _public("softmax")(softmax)
log_softmax = _public("log_softmax")(log_softmax)
sum = _public("sum")(sum)  # noqa: A001
mean = _public("mean")(mean)
max = _public("max")(max)  # noqa: A001
min = _public("min")(min)  # noqa: A001
take = _public("take")(take)
batch_norm = _public("batch_norm")(batch_norm)
batch_normalization = _public("batch_normalization")(batch_normalization)
layer_norm = _public("layer_norm")(layer_norm)
moments = _public("moments")(moments)
transpose = _public("transpose")(transpose)


def convert_to_numpy(x):
    """A numpy copy of ``x``."""
    import numpy as np

    return np.array(x)


__all__ = [
    "abs", "add", "argmax", "argmin", "broadcast_to", "cast", "clip", "concatenate", "divide", "equal", "exp",
    "expand_dims", "getitem", "greater", "greater_equal", "less", "less_equal", "log", "max", "maximum", "mean",
    "min", "minimum", "multiply", "negative", "not_equal", "power", "relu", "reshape", "sigmoid", "sqrt",
    "square", "squeeze", "stop_gradient", "subtract", "sum", "take", "tanh", "transpose", "dense",
    "log_softmax", "matmul", "one_hot", "sigmoid_binary_cross_entropy", "softmax", "softmax_cross_entropy",
    "batch_norm", "batch_normalization", "layer_norm", "moments",
    "relu6", "hard_sigmoid", "step", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign",
    "mish",
    "convert_to_tensor", "convert_to_numpy", "full", "ones", "zeros", "ones_like", "zeros_like",
]
