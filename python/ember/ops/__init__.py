"""Functional ops with Keras 3 ``keras.ops`` names. Each op is differentiable."""

from .core import (
    abs, add, argmax, argmin, broadcast_to, cast, clip, divide, equal, exp,
    greater, greater_equal, less, less_equal, log, max, maximum, mean, min, minimum, multiply, negative,
    not_equal, power, relu, reshape, sigmoid, sqrt, square, squeeze, stop_gradient, subtract, sum, tanh,
    transpose,
)
from .array_ops import (
    all, any, arange, argsort, ceil, concatenate, cumprod, cumsum, dot, einsum, erf, expand_dims, expm1, eye, flip,
    floor, full_like, getitem, log1p, logsumexp, meshgrid, moveaxis, nonzero, norm, one_hot, pad, prod, repeat, roll,
    round, rsqrt, shape, sign, sort, split, stack, std, swapaxes, take, take_along_axis, tensordot, tile, top_k, tril,
    triu, var, where,
)
from .core import elu, gelu, hard_sigmoid, leaky_relu, mish, relu6, selu, silu, softplus, softsign, step, swish
from .nn import (
    dense, log_softmax, matmul, sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy,
)
from .normalization import batch_norm, batch_normalization, layer_norm, moments
from . import rnn  # noqa: F401  (ops.rnn.simple_rnn / lstm / gru: whole-sequence recurrent ops)
from . import linalg  # noqa: F401  (ops.linalg, keras.ops.linalg: host LAPACK through numpy)
from .rearranging import array, depth_to_space, fold, rearrange, space_to_depth, unfold
from .linalg import (
    cholesky, cholesky_inverse, det, eigh, inv, logdet, lstsq, lu_factor, matrix_rank, pinv, qr, slogdet, solve,
    solve_triangular, svd,
)
from .conv import (
    adaptive_average_pool, adaptive_max_pool, average_pool, conv, conv_transpose, depthwise_conv, max_pool,
    separable_conv,
)
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
conv = _public("conv")(conv)
max_pool = _public("max_pool")(max_pool)
average_pool = _public("average_pool")(average_pool)
conv_transpose = _public("conv_transpose")(conv_transpose)
depthwise_conv = _public("depthwise_conv")(depthwise_conv)
separable_conv = _public("separable_conv")(separable_conv)
adaptive_average_pool = _public("adaptive_average_pool")(adaptive_average_pool)
adaptive_max_pool = _public("adaptive_max_pool")(adaptive_max_pool)
transpose = _public("transpose")(transpose)
for _op_name in ("array", "depth_to_space", "space_to_depth", "unfold", "fold", "rearrange"):
    globals()[_op_name] = _public(_op_name)(globals()[_op_name])
for _op_name in ("cholesky", "cholesky_inverse", "det", "eigh", "inv", "logdet", "lstsq", "lu_factor", "matrix_rank",
                 "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd"):
    globals()[_op_name] = _public(_op_name)(globals()[_op_name])
for _op_name in ("all", "any", "argsort", "cumprod", "cumsum", "dot", "einsum", "expand_dims", "flip", "logsumexp",
                 "moveaxis", "norm", "pad", "prod", "repeat", "roll", "sort", "split", "stack", "swapaxes", "take_along_axis",
                 "tensordot", "tile", "top_k", "tril", "triu", "var", "std", "where", "squeeze", "clip"):
    globals()[_op_name] = _public(_op_name)(globals()[_op_name])
del _op_name


def convert_to_numpy(x):
    """A numpy copy of ``x``."""
    import numpy as np

    from ..errors import InvalidArgumentError

    try:
        return np.array(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise InvalidArgumentError(f"convert_to_numpy: {type(x).__name__} is not array-like ({e})") from None


__all__ = [
    "abs", "add", "argmax", "argmin", "broadcast_to", "cast", "clip", "concatenate", "divide", "equal", "exp",
    "expand_dims", "getitem", "greater", "greater_equal", "less", "less_equal", "log", "max", "maximum", "mean",
    "min", "minimum", "multiply", "negative", "not_equal", "power", "relu", "reshape", "sigmoid", "sqrt",
    "square", "squeeze", "stop_gradient", "subtract", "sum", "take", "tanh", "transpose", "dense",
    "log_softmax", "matmul", "one_hot", "sigmoid_binary_cross_entropy", "softmax", "softmax_cross_entropy",
    "batch_norm", "batch_normalization", "layer_norm", "moments",
    "conv", "max_pool", "average_pool", "conv_transpose", "depthwise_conv", "separable_conv",
    "adaptive_average_pool", "adaptive_max_pool",
    # linear algebra (ops/linalg.py), also as the module ops.linalg
    "cholesky", "cholesky_inverse", "det", "eigh", "inv", "logdet", "lstsq", "lu_factor", "matrix_rank", "pinv", "qr",
    "slogdet", "solve", "solve_triangular", "svd",
    # layout (ops/rearranging.py)
    "array", "depth_to_space", "space_to_depth", "unfold", "fold", "rearrange",
    "relu6", "hard_sigmoid", "step", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign",
    "mish",
    "convert_to_tensor", "convert_to_numpy", "full", "ones", "zeros", "ones_like", "zeros_like",
    # layout, indexing, scans and sorting, einsum and composites (ops/array_ops.py)
    "all", "any", "arange", "argsort", "ceil", "cumprod", "cumsum", "dot", "einsum", "erf", "expm1", "eye", "flip",
    "floor", "full_like", "log1p", "logsumexp", "meshgrid", "moveaxis", "nonzero", "norm", "pad", "prod", "repeat",
    "roll", "round", "rsqrt", "shape", "sign", "sort", "split", "stack", "std", "swapaxes", "take_along_axis",
    "tensordot", "tile", "top_k", "tril", "triu", "var", "where",
]


# Keras 3's argument names and defaults for the public functions (ops/keras_signatures.py),
# and the further keras.ops names built from the primitives (ops/numpy_ops.py).
from . import keras_signatures as _keras_signatures, numpy_ops as _numpy_ops  # noqa: E402

for _op_name in _keras_signatures.__all__:
    globals()[_op_name] = _public(_op_name)(getattr(_keras_signatures, _op_name))
for _op_name in _numpy_ops.__all__:
    globals()[_op_name] = _public(_op_name)(getattr(_numpy_ops, _op_name))
    if _op_name not in __all__:
        __all__.append(_op_name)
del _op_name

# Every op accepts KerasTensors too: called on symbolic tensors (inside a functional
# model's definition) it becomes a node of the layer graph instead of computing.
from ..keras_tensor import symbolic_op as _symbolic_op  # noqa: E402

for _name in __all__:
    _fn = globals()[_name]
    if callable(_fn) and not getattr(_fn, "_ember_symbolic", False) and _name != "convert_to_numpy":
        globals()[_name] = _symbolic_op(_fn, _name)
del _name, _fn

# keras.ops.linalg.inv is keras.ops.inv: the module's names are the checked, symbolic ops.
for _name in linalg.__all__:
    setattr(linalg, _name, globals()[_name])
del _name

# The namespace modules keras.ops.numpy and keras.ops.image (the first holds the same
# objects as ember.ops; the second ops of its own).
from . import image, numpy  # noqa: E402
for _name in image.__all__:
    setattr(image, _name, _public(_name)(getattr(image, _name)))
del _name
