"""``ember.ops.numpy`` (``keras.ops.numpy``): the numpy-style ops of `ember.ops`, the same
objects under the namespace Keras gives them (``keras.ops.numpy.sum is keras.ops.sum``).
Keras's complex, bitwise and ``view`` functions are not among them (Ember's tensors are
float32 / int32; see docs/keras_compatibility.md)."""

from __future__ import annotations

import sys as _sys

__all__ = [
    'abs', 'absolute', 'add', 'all', 'allclose', 'amax', 'amin', 'any', 'append', 'arange', 'arccos', 'arccosh',
    'arcsin', 'arcsinh', 'arctan', 'arctan2', 'arctanh', 'argmax', 'argmin', 'argpartition', 'argsort', 'array',
    'array_split', 'average', 'bartlett', 'bincount', 'blackman', 'broadcast_to', 'cbrt', 'ceil', 'clip', 'concatenate',
    'copy', 'corrcoef', 'correlate', 'cos', 'cosh', 'count_nonzero', 'cross', 'cumprod', 'cumsum', 'deg2rad', 'diag',
    'diagflat', 'diagonal', 'diff', 'digitize', 'divide', 'divide_no_nan', 'dot', 'dsplit', 'dstack', 'einsum', 'empty',
    'empty_like', 'equal', 'exp', 'exp2', 'expand_dims', 'expm1', 'eye', 'fabs', 'flip', 'fliplr', 'flipud', 'floor',
    'floor_divide', 'fmax', 'fmin', 'fmod', 'full', 'full_like', 'geomspace', 'get_item', 'greater', 'greater_equal',
    'hamming', 'hanning', 'heaviside', 'histogram', 'hsplit', 'hstack', 'hypot', 'i0', 'identity', 'inner', 'isclose',
    'isfinite', 'isin', 'isinf', 'isnan', 'isneginf', 'isposinf', 'kaiser', 'kron', 'ldexp', 'less', 'less_equal',
    'linspace', 'log', 'log10', 'log1p', 'log2', 'logaddexp', 'logaddexp2', 'logical_and', 'logical_not', 'logical_or',
    'logical_xor', 'logspace', 'matmul', 'max', 'maximum', 'mean', 'median', 'meshgrid', 'min', 'minimum', 'mod',
    'moveaxis', 'multiply', 'nan_to_num', 'nanargmax', 'nanargmin', 'nancumprod', 'nancumsum', 'nanmax', 'nanmean',
    'nanmedian', 'nanmin', 'nanpercentile', 'nanprod', 'nanquantile', 'nanstd', 'nansum', 'nanvar', 'ndim', 'negative',
    'nonzero', 'not_equal', 'ones', 'ones_like', 'outer', 'pad', 'percentile', 'power', 'prod', 'ptp', 'quantile',
    'rad2deg', 'ravel', 'reciprocal', 'repeat', 'reshape', 'roll', 'rot90', 'round', 'searchsorted', 'select', 'sign',
    'signbit', 'sin', 'sinc', 'sinh', 'size', 'slogdet', 'sort', 'split', 'sqrt', 'square', 'squeeze', 'stack', 'std',
    'subtract', 'sum', 'swapaxes', 'take', 'take_along_axis', 'tan', 'tanh', 'tensordot', 'tile', 'trace', 'transpose',
    'trapezoid', 'tri', 'tril', 'triu', 'true_divide', 'trunc', 'unique', 'vander', 'var', 'vdot', 'vsplit', 'vstack',
    'where', 'zeros', 'zeros_like',
]

_ops = _sys.modules["ember.ops"]
for _name in __all__:
    globals()[_name] = getattr(_ops, _name)
del _name, _ops, _sys
