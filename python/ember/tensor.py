"""`Tensor`: a backend buffer plus shape, dtype and device, with autograd links.

Tensors are immutable values (ops return new tensors); `Variable` adds in-place
`assign` for model weights. Memory is contiguous row-major, so `reshape` shares the
buffer and costs nothing.

Example:
    >>> import ember as em
    >>> x = em.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> (x @ x.T).numpy().tolist()
    [[5.0, 11.0], [11.0, 25.0]]
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from . import autograd
from .backend import get_backend
from .errors import DTypeError, InvalidArgumentError, ShapeError

__all__ = ["Tensor", "Variable", "tensor", "as_tensor", "zeros", "ones", "full", "ones_like", "zeros_like"]

_DTYPES = ("float32", "int32")
_default_device = ["cpu"]


def normalize_dtype(dtype: Any) -> str:
    if dtype is None:
        return "float32"
    try:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except (TypeError, ValueError):
        raise DTypeError(f"tensor: unsupported dtype {dtype!r}; ember supports float32 and int32") from None
    if name in ("float32", "float64", "float16", "float", "double", "half"):
        return "float32"
    if name in ("int32", "int64", "int16", "int8", "uint8", "uint16", "uint32", "int", "bool"):
        return "int32"
    raise DTypeError(f"tensor: unsupported dtype {dtype!r}; ember supports float32 and int32")


_I32 = np.iinfo(np.int32)


def check_int32_range(a: np.ndarray, what: str = "tensor") -> None:
    """Raises `DTypeError` if the integers in ``a`` do not fit int32, Ember's integer
    dtype (numpy's cast would wrap them silently: 2**32 + 1 -> 1)."""
    if a.dtype.kind not in "iu" or a.size == 0 or np.can_cast(a.dtype, np.int32):
        return
    lo, hi = a.min(), a.max()
    if lo < _I32.min or hi > _I32.max:
        bad = hi if hi > _I32.max else lo
        idx = tuple(int(i) for i in np.argwhere(a == bad)[0])
        raise DTypeError(f"{what}: value {int(bad)} at index {idx} of the {a.dtype} data does not fit int32 "
                         f"([{_I32.min}, {_I32.max}]); convert it to float first if it is not an index")


def _infer_dtype(a: np.ndarray) -> str:
    if a.dtype.kind in "biu":
        return "int32"
    if a.dtype.kind == "f":
        return "float32"
    raise DTypeError(f"tensor: cannot make a tensor from data of dtype {a.dtype}")


class Tensor:
    """An n-dimensional array on a device, differentiable through `ember.ops`."""

    __slots__ = ("_buf", "shape", "dtype", "device", "_backend", "requires_grad", "grad", "_node", "_keras_logits", "_keras_mask", "__weakref__")
    __array_priority__ = 100  # numpy defers `ndarray op Tensor` to our reflected operators

    def __init__(self, data: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False):
        device = device or _default_device[0]
        backend = get_backend(device)
        if isinstance(data, Tensor):
            a = data.numpy()
        else:
            try:
                a = np.asarray(data)
            except ValueError as e:  # ragged nested sequences
                raise ShapeError(f"tensor: data does not form a rectangular array: {e}") from None
        dt = normalize_dtype(dtype) if dtype is not None else _infer_dtype(a)
        if dt == "int32" and a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise InvalidArgumentError("tensor: cannot convert non-finite values to int32")
            if a.size and (a.min() < _I32.min or a.max() > _I32.max):
                raise DTypeError(f"tensor: values up to {float(np.abs(a).max())!r} of the {a.dtype} data do not fit int32")
        if dt == "int32":
            check_int32_range(a)
        self._buf = backend.from_numpy(a, dt)
        self.shape = tuple(int(d) for d in a.shape)
        self.dtype = dt
        self.device = device
        self._backend = backend
        self.requires_grad = requires_grad
        self.grad = None
        self._node = None
        self._keras_logits = None
        self._keras_mask = None  # Keras's mask metadata, set by layers that produce masks

    @classmethod
    def _wrap(cls, buf, shape: tuple, dtype: str, backend) -> "Tensor":
        """Internal: a tensor around an existing buffer (no copy, no checks)."""
        t = object.__new__(Tensor)
        t._buf = buf
        t.shape = shape
        t.dtype = dtype
        t.device = backend.name
        t._backend = backend
        t.requires_grad = False
        t.grad = None
        t._node = None
        t._keras_logits = None
        t._keras_mask = None
        return t

    # -- basic properties ---------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def numpy(self) -> np.ndarray:
        """The values as a numpy array. On the CPU this is a read-only view of the
        tensor's memory (no copy); use ``np.array(t)`` for a writable copy."""
        return self._backend.to_numpy(self._buf, self.shape, self.dtype)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        if copy:
            return a.copy()
        return a

    def item(self) -> float | int:
        if self.size != 1:
            raise ShapeError(f"item: only a one-element tensor converts to a Python scalar, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", precision=4, threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}, shape={self.shape}, dtype={self.dtype}, device={self.device!r}{extra})"

    # -- autograd -----------------------------------------------------------------------
    def backward(self, grad_output=None) -> None:
        """Accumulates gradients of this tensor into ``.grad`` of the leaves."""
        autograd.backward(self, grad_output)

    def detach(self) -> "Tensor":
        return Tensor._wrap(self._buf, self.shape, self.dtype, self._backend)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        self.requires_grad = flag
        return self

    # -- conversions --------------------------------------------------------------------
    def to(self, device: str) -> "Tensor":
        """This tensor on ``device`` (a copy when the device differs)."""
        backend = get_backend(device)
        if backend is self._backend:
            return self
        return Tensor(self.numpy(), dtype=self.dtype, device=device)

    def astype(self, dtype) -> "Tensor":
        from .ops import core

        return core.cast(self, dtype)

    # -- shape and math through ops -------------------------------------------------------
    def reshape(self, *shape) -> "Tensor":
        from .ops import core

        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return core.reshape(self, shape)

    @property
    def T(self) -> "Tensor":
        from .ops import core

        return core.transpose(self)

    # numpy's method names and keywords (``t.mean(axis=0, keepdims=True, dtype="float32")``),
    # through ember.ops; an argument Ember cannot honour raises instead of being ignored.
    def _reduce_method(self, op: str, axis, keepdims, dtype=None, out=None, **more):
        from . import ops

        _no_out(op, out)
        for name, value in more.items():
            if value is not None and value is not False:
                raise NotImplementedError(f"Tensor.{op}: argument {name}={value!r} is not supported")
        result = getattr(ops, op)(self, axis=axis, keepdims=keepdims)
        return _as_dtype(result, dtype, op)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        r = self._reduce_method("sum", axis, keepdims, dtype, out, where=where)
        return r if initial is None else r + initial

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, where=None):
        return self._reduce_method("mean", axis, keepdims, dtype, out, where=where)

    def max(self, axis=None, out=None, keepdims=False, initial=None, where=None):
        from . import ops

        r = self._reduce_method("max", axis, keepdims, None, out, where=where)
        return r if initial is None else ops.maximum(r, initial)

    def min(self, axis=None, out=None, keepdims=False, initial=None, where=None):
        from . import ops

        r = self._reduce_method("min", axis, keepdims, None, out, where=where)
        return r if initial is None else ops.minimum(r, initial)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        r = self._reduce_method("prod", axis, keepdims, dtype, out, where=where)
        return r if initial is None else r * initial

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None):
        r = self._reduce_method("var", axis, keepdims, dtype, out, where=where)
        return r if not ddof else r * (_count(self, axis) / (_count(self, axis) - ddof))

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None):
        from . import ops

        return ops.sqrt(self.var(axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where))

    def any(self, axis=None, out=None, keepdims=False, where=None):
        return self._reduce_method("any", axis, keepdims, None, out, where=where)

    def all(self, axis=None, out=None, keepdims=False, where=None):
        return self._reduce_method("all", axis, keepdims, None, out, where=where)

    def argmax(self, axis=-1, out=None, keepdims=False):
        """The index of the maximum along ``axis`` (Ember's default: the last axis; None
        flattens, as numpy's default does)."""
        from . import ops

        _no_out("argmax", out)
        return ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=-1, out=None, keepdims=False):
        from . import ops

        _no_out("argmin", out)
        return ops.argmin(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        from . import ops

        _no_out("cumsum", out)
        return _as_dtype(ops.cumsum(self, axis=axis), dtype, "cumsum")

    def cumprod(self, axis=None, dtype=None, out=None):
        from . import ops

        _no_out("cumprod", out)
        return _as_dtype(ops.cumprod(self, axis=axis), dtype, "cumprod")

    def clip(self, min=None, max=None, out=None):  # noqa: A002 - numpy's names
        from . import ops

        _no_out("clip", out)
        r = self
        if min is not None:
            r = ops.maximum(r, min)
        if max is not None:
            r = ops.minimum(r, max)
        return r

    def round(self, decimals=0, out=None):
        from . import ops

        _no_out("round", out)
        return ops.round(self, decimals)

    def flatten(self) -> "Tensor":
        return self.reshape(-1)

    def ravel(self) -> "Tensor":
        return self.reshape(-1)

    def squeeze(self, axis=None) -> "Tensor":
        from . import ops

        return ops.squeeze(self, axis)

    def transpose(self, *axes) -> "Tensor":
        from . import ops

        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return ops.transpose(self, tuple(axes) if axes else None)

    def swapaxes(self, axis1, axis2) -> "Tensor":
        from . import ops

        return ops.swapaxes(self, axis1, axis2)

    def copy(self) -> "Tensor":
        from . import ops

        return ops.copy(self)

    def __getitem__(self, key):
        from . import ops

        return ops.getitem(self, key)


def _no_out(op: str, out) -> None:
    if out is not None:
        raise NotImplementedError(f"Tensor.{op}: out= is not supported (Ember's ops return new tensors)")


def _as_dtype(result, dtype, op: str):
    """numpy's ``dtype=`` of a reduction: float32 and int32 results; other dtypes raise."""
    if dtype is None:
        return result
    name = normalize_dtype(dtype) if dtype not in ("float64", "float16", "bfloat16", np.float64, np.float16) else None
    if name is None:
        raise NotImplementedError(f"Tensor.{op}: dtype={dtype!r} is not supported; Ember computes in float32 "
                                  "(dtype='float32' or 'int32')")
    return result if result.dtype == name else result.astype(name)


def _count(t, axis) -> float:
    if axis is None:
        return float(t.size)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    n = 1
    for a in axes:
        n *= t.shape[a]
    return float(n)


def _binop(name: str, reflected: bool = False):
    def method(self, other):
        from . import ops

        f = getattr(ops, name)
        return f(other, self) if reflected else f(self, other)

    method.__name__ = name
    return method


def install_operators(cls) -> None:
    """Python's arithmetic and comparison operators on ``cls`` through ``ember.ops``
    (`Tensor` and the symbolic `KerasTensor` share them). ``==`` and ``!=`` are elementwise
    (ops.equal / ops.not_equal), as in Keras, numpy and PyTorch; hashing stays by
    identity, as PyTorch's does, so tensors can still key a dict or sit in a set (lookups
    and ``list == list`` try identity before ``==``)."""
    for name, op in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "divide"),
                     ("pow", "power"), ("matmul", "matmul")]:
        setattr(cls, f"__{name}__", _binop(op))
        setattr(cls, f"__r{name}__", _binop(op, reflected=True))
    for name, op in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
                     ("eq", "equal"), ("ne", "not_equal")]:
        setattr(cls, f"__{name}__", _binop(op))
    cls.__neg__ = lambda self: __import__("ember.ops", fromlist=["negative"]).negative(self)
    cls.__abs__ = lambda self: __import__("ember.ops", fromlist=["abs"]).abs(self)
    cls.__hash__ = object.__hash__


install_operators(Tensor)

_var_ids = itertools.count()
_AGGREGATIONS = ("none", "mean", "sum", "only_first_replica")
_SYNCHRONIZATIONS = ("auto", "on_read", "on_write", "none")


class Variable(Tensor):
    """A mutable, named tensor: a model weight or optimizer slot (Keras ``keras.Variable``).

    Args:
        initializer: the initial value (array-like or Tensor), or a callable
            ``initializer(shape, dtype=dtype)`` (an `ember.initializers` object).
        shape: the expected shape (checked), or None.
        dtype: the dtype (float32 for floating-point values by default).
        trainable: whether optimizers train it (and gradients flow to it).
        autocast: Keras's flag for casting to a layer's compute dtype; recorded
            (float32 is the only compute dtype, so nothing is cast).
        aggregation: "none" (default), "mean", "sum" or "only_first_replica"; recorded
            as ``variable.aggregation``, as Keras's JAX and torch backends record it (Ember's
            data parallelism all-reduces gradients and metric states itself).
        synchronization: "auto" (default), "on_read", "on_write" or "none"; recorded
            likewise.
        name: the variable's name (its ``path``).
        layout: must be None (NotImplementedError otherwise: Ember has no tensor layouts).
        device: the device ("cpu", "gpu"); the default device when None.
        **kwargs: none are accepted (an `InvalidArgumentError` names them).

    Example:
        >>> import ember as em
        >>> v = em.Variable([1.0, 2.0], name="w")
        >>> _ = v.assign([3.0, 4.0]); v.numpy().tolist()
        [3.0, 4.0]
    """

    __slots__ = ("name", "trainable", "_id", "constraint", "autocast", "aggregation", "synchronization")

    def __init__(self, initializer: Any, shape=None, dtype=None, trainable: bool = True, autocast: bool = True,
                 aggregation: str = "none", synchronization: str = "auto", name: str | None = None, layout=None,
                 device: str | None = None, **kwargs):
        from ._boundary import public
        from .errors import InvalidArgumentError

        if kwargs:
            raise InvalidArgumentError(f"Variable: unexpected keyword arguments {sorted(kwargs)}")
        if layout is not None:
            raise NotImplementedError(f"Variable: layout={layout!r} is not supported (Ember has no tensor layouts)")
        if aggregation not in _AGGREGATIONS:
            raise InvalidArgumentError(f"Variable: aggregation must be one of {_AGGREGATIONS}, got {aggregation!r}")
        if synchronization not in _SYNCHRONIZATIONS:
            raise InvalidArgumentError(
                f"Variable: synchronization must be one of {_SYNCHRONIZATIONS}, got {synchronization!r}")
        if not isinstance(autocast, (bool, np.bool_)):
            raise InvalidArgumentError(f"Variable: autocast must be True or False, got {autocast!r}")
        public("Variable")(self._init)(initializer, shape, dtype, trainable, name, device)
        self.autocast = bool(autocast)
        self.aggregation = aggregation
        self.synchronization = synchronization

    def _init(self, initializer, shape, dtype, trainable, name, device):
        value = initializer(shape, dtype=dtype) if callable(initializer) else initializer
        if isinstance(value, Tensor):
            device = device or value.device
            value = value.numpy()
        super().__init__(value, dtype=dtype if dtype is not None else ("float32" if np.asarray(value).dtype.kind == "f" else None), device=device)
        if shape is not None and tuple(shape) != self.shape:
            raise ShapeError(f"Variable: initial value has shape {self.shape}, expected {tuple(shape)}")
        self._id = next(_var_ids)
        self.name = name or f"variable_{self._id}"
        self.trainable = trainable
        self.requires_grad = trainable and self.dtype == "float32"
        self.constraint = None  # applied by the optimizer after each update (set by Layer.add_weight)

    @property
    def path(self) -> str:
        return self.name

    @property
    def value(self) -> Tensor:
        return self.detach()

    def assign(self, value) -> "Variable":
        """Overwrites the values in place (shape and dtype must match)."""
        from ._boundary import public

        return public("Variable.assign")(self._assign)(value)

    def _assign(self, value) -> "Variable":
        if isinstance(value, Tensor):
            if value.shape != self.shape:
                raise ShapeError(f"assign: value of shape {value.shape} does not match variable {self.name!r} of shape {self.shape}")
            src = value.to(self.device)
            if src.dtype != self.dtype:
                src = src.astype(self.dtype)
            self._backend.assign(self._buf, src._buf)
            return self
        a = np.asarray(value)
        if a.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"assign: expected real numbers, got dtype {a.dtype}")
        if a.shape != self.shape:
            raise ShapeError(f"assign: value of shape {a.shape} does not match variable {self.name!r} of shape {self.shape}")
        if self.dtype == "int32":
            check_int32_range(a, "assign")
        self._backend.assign(self._buf, self._backend.from_numpy(a, self.dtype))
        return self

    def assign_add(self, value) -> "Variable":
        return self.assign(self.detach() + value)

    def assign_sub(self, value) -> "Variable":
        return self.assign(self.detach() - value)

    def __repr__(self) -> str:
        return f"<Variable path={self.name}, shape={self.shape}, dtype={self.dtype}, value={np.array2string(self.numpy(), threshold=10)}>"


def as_tensor(x: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """``x`` as a Tensor (no copy when it already is one of that dtype). A Tensor on
    another device than an explicit ``device`` is an error, never a silent copy."""
    if isinstance(x, Tensor):
        if device is not None and x.device != device:
            from .errors import DeviceError

            raise DeviceError(f"a tensor on {x.device!r} was given where one on {device!r} is needed; move it with .to({device!r})")
        if dtype is not None and normalize_dtype(dtype) != x.dtype:
            return x.astype(dtype)
        return x
    return Tensor(x, dtype=dtype, device=device)


def tensor(data: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Copies ``data`` (array-like) into a new tensor.

    Floats become float32 and integers int32 unless ``dtype`` says otherwise.
    """
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _shape_tuple(shape) -> tuple:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list)) or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in shape):
        raise InvalidArgumentError(f"full: shape must be an int or a tuple of ints, got {shape!r}")
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ShapeError(f"full: negative dimension in shape {shape}")
    return shape


def full(shape, value: float, dtype: Any = "float32", device: str | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``."""
    shape = _shape_tuple(shape)
    if isinstance(value, Tensor):
        value = value.item() if value.size == 1 else value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"full: fill_value must be a real number, got {value!r}")
    backend = get_backend(device or _default_device[0])
    n = 1
    for d in shape:
        n *= d
    dt = normalize_dtype(dtype)
    return Tensor._wrap(backend.full(n, value, dt), shape, dt, backend)


def zeros(shape, dtype: Any = "float32", device: str | None = None) -> Tensor:
    return full(shape, 0.0, dtype, device)


def ones(shape, dtype: Any = "float32", device: str | None = None) -> Tensor:
    return full(shape, 1.0, dtype, device)


def ones_like(t: Tensor) -> Tensor:
    """Ones of ``t``'s shape and dtype (``t`` a tensor or array-like, as in Keras)."""
    t = t if isinstance(t, Tensor) else as_tensor(t)
    return full(t.shape, 1.0, t.dtype, t.device)


def zeros_like(t: Tensor) -> Tensor:
    """Zeros of ``t``'s shape and dtype (``t`` a tensor or array-like, as in Keras)."""
    t = t if isinstance(t, Tensor) else as_tensor(t)
    return full(t.shape, 0.0, t.dtype, t.device)
