"""The public ``ember.ops`` functions with Keras 3's exact argument names and defaults
(``add(x1, x2)``, ``argmax(x, axis=None)``, ``reshape(x, newshape)``...), over the
internal ops, whose names the library's own code keeps using.

Example:
    >>> import ember as em
    >>> int(em.ops.argmax(em.tensor([[1.0, 5.0], [7.0, 2.0]])))  # axis=None: the flattened index
    2
"""

from __future__ import annotations

from ..errors import InvalidArgumentError
from ..tensor import Tensor, as_tensor
from ..tensor import full as _full
from . import array_ops as array, core
from .nn import matmul as _matmul


def add(x1, x2) -> Tensor:
    return core.add(x1, x2)


def subtract(x1, x2) -> Tensor:
    return core.subtract(x1, x2)


def multiply(x1, x2) -> Tensor:
    return core.multiply(x1, x2)


def divide(x1, x2) -> Tensor:
    return core.divide(x1, x2)


def power(x1, x2) -> Tensor:
    return core.power(x1, x2)


def maximum(x1, x2) -> Tensor:
    return core.maximum(x1, x2)


def minimum(x1, x2) -> Tensor:
    return core.minimum(x1, x2)


def equal(x1, x2) -> Tensor:
    return core.equal(x1, x2)


def not_equal(x1, x2) -> Tensor:
    return core.not_equal(x1, x2)


def less(x1, x2) -> Tensor:
    return core.less(x1, x2)


def less_equal(x1, x2) -> Tensor:
    return core.less_equal(x1, x2)


def greater(x1, x2) -> Tensor:
    return core.greater(x1, x2)


def greater_equal(x1, x2) -> Tensor:
    return core.greater_equal(x1, x2)


def matmul(x1, x2) -> Tensor:
    """numpy.matmul semantics (rank-1 operands promoted; batch axes broadcast)."""
    return _matmul(x1, x2)


def tensordot(x1, x2, axes=2) -> Tensor:
    return array.tensordot(x1, x2, axes)


def _flat_arg(op, x, axis, keepdims):
    if axis is None:
        x = as_tensor(x)
        out = op(core.reshape(x, (-1,)), 0, False)
        return core.reshape(out, (1,) * x.ndim) if keepdims else out
    return op(x, axis, keepdims)


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """The index of the first maximum along ``axis`` (None: of the flattened tensor; int32)."""
    return _flat_arg(core.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False) -> Tensor:
    """The index of the first minimum along ``axis`` (None: of the flattened tensor; int32)."""
    return _flat_arg(core.argmin, x, axis, keepdims)


def max(x, axis=None, keepdims=False, initial=None) -> Tensor:  # noqa: A001
    """The maximum along ``axis``, at least ``initial`` when given."""
    out = core.max(x, axis=axis, keepdims=keepdims)
    return out if initial is None else core.maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None) -> Tensor:  # noqa: A001
    """The minimum along ``axis``, at most ``initial`` when given."""
    out = core.min(x, axis=axis, keepdims=keepdims)
    return out if initial is None else core.minimum(out, initial)


def reshape(x, newshape) -> Tensor:
    return core.reshape(x, newshape)


def stack(x, axis=0) -> Tensor:
    return array.stack(x, axis)


def stop_gradient(variable) -> Tensor:
    return core.stop_gradient(variable)


def ones(shape, dtype=None) -> Tensor:
    return _full(shape, 1.0, dtype or "float32")


def zeros(shape, dtype=None) -> Tensor:
    return _full(shape, 0.0, dtype or "float32")


def full(shape, fill_value, dtype=None) -> Tensor:
    return _full(shape, fill_value, dtype or "float32")


def ones_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return _full(x.shape, 1.0, dtype or x.dtype, x.device)


def zeros_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return _full(x.shape, 0.0, dtype or x.dtype, x.device)


def eye(N, M=None, k=0, dtype=None) -> Tensor:
    return array.eye(N, M, k, dtype or "float32")


def arange(start, stop=None, step=None, dtype=None) -> Tensor:
    return array.arange(start, stop, 1 if step is None else step, dtype)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False) -> Tensor:
    if sparse:
        raise NotImplementedError("one_hot: sparse=True is not supported (Ember has no sparse tensors)")
    return array.one_hot(x, num_classes, axis, dtype)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None, device=None) -> Tensor:
    """``x`` as a tensor (on ``device``, Ember's addition); sparse and ragged tensors are
    not supported."""
    for name, value in (("sparse", sparse), ("ragged", ragged)):
        if value:
            raise NotImplementedError(f"convert_to_tensor: {name}=True is not supported (Ember's tensors are dense)")
    return as_tensor(x, dtype=dtype, device=device)


def einsum(subscripts, *operands, **kwargs) -> Tensor:
    if kwargs:
        raise InvalidArgumentError(f"einsum: unsupported arguments {sorted(kwargs)}")
    return array.einsum(subscripts, *operands)


__all__ = [
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "matmul", "tensordot", "argmax", "argmin", "max", "min", "reshape", "stack",
    "stop_gradient", "ones", "zeros", "full", "ones_like", "zeros_like", "eye", "arange", "one_hot",
    "convert_to_tensor", "einsum",
]
