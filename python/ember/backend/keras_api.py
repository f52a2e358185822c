"""The ``keras.backend`` functions, at ``ember.backend``: ``clear_session``, the settings
of `ember.config`, and the dtype helpers (``standardize_dtype``, ``result_type``...).

Example:
    >>> import ember as em
    >>> a = em.layers.Dense(1); b = em.layers.Dense(1)
    >>> em.backend.clear_session()
    >>> em.layers.Dense(1).name
    'dense'
"""

from __future__ import annotations

import gc
from collections import defaultdict

import numpy as np

from .._settings import backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx, set_image_data_format
from ..errors import InvalidArgumentError

__all__ = [
    "backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format", "is_float_dtype", "is_int_dtype",
    "is_keras_tensor", "result_type", "set_epsilon", "set_floatx", "set_image_data_format", "standardize_dtype",
]

_uids: dict[str, int] = defaultdict(int)

# Keras's dtype names (keras.src.backend.common.dtypes.ALLOWED_DTYPES); Ember's tensors
# hold float32 and int32, the names are for code that inspects or compares dtypes.
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                  "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32", complex: "complex64"}


def get_uid(prefix: str = "") -> int:
    """1, 2, 3... per ``prefix``, reset by `clear_session` (Keras's ``get_uid``).

    Example:
        >>> import ember as em
        >>> em.backend.clear_session()
        >>> em.backend.get_uid("x"), em.backend.get_uid("x")
        (1, 2)
    """
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"get_uid: prefix must be a string, got {type(prefix).__name__}")
    _uids[prefix] += 1
    return _uids[prefix]


def clear_session(free_memory: bool = True) -> None:
    """Resets Ember's global state, as ``keras.backend.clear_session`` does: automatic
    layer names start again (``dense``, ``dense_1``...), the `get_uid` counters restart,
    and with ``free_memory`` the garbage collector runs and the CPU buffer pool is
    emptied, so the memory of models no longer referenced is returned."""
    from .. import _core
    from .._validation import check_bool
    from ..layers import layer as _layer

    free_memory = check_bool(free_memory, "free_memory", "clear_session")
    _layer._name_counts.clear()
    _uids.clear()
    if free_memory:
        gc.collect()
        _core.clear_pool()


def standardize_dtype(dtype) -> str:
    """A dtype's Keras name: None is `floatx`, Python's ``int`` is ``"int32"``, numpy dtypes
    by name.

    Example:
        >>> import ember as em, numpy as np
        >>> em.backend.standardize_dtype(None), em.backend.standardize_dtype(int), em.backend.standardize_dtype(np.float64)
        ('float32', 'int32', 'float64')
    """
    if dtype is None:
        return floatx()
    try:
        dtype = _PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:  # unhashable
        pass
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise InvalidArgumentError(f"Invalid dtype: {dtype}")
    return dtype


def is_float_dtype(dtype) -> bool:
    """Whether ``dtype`` is a floating dtype (``float*`` or ``bfloat16``)."""
    d = standardize_dtype(dtype)
    return d.startswith("float") or d.startswith("bfloat")


def is_int_dtype(dtype) -> bool:
    """Whether ``dtype`` is an integer dtype (``int*`` or ``uint*``; not bool)."""
    d = standardize_dtype(dtype)
    return d.startswith("int") or d.startswith("uint")


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic `KerasTensor` (the output of ``Input`` or of a layer
    called on one)."""
    from ..keras_tensor import is_keras_tensor as _is

    return _is(x)


def result_type(*dtypes) -> str:
    """The dtype of an operation on values of ``dtypes``: Keras's promotion as on its JAX
    backend, where 64-bit results canonicalize to 32 bits (Ember's widths): floats win over
    integers, integers promote as numpy's; none gives `floatx`.

    Example:
        >>> import ember as em
        >>> em.backend.result_type("float32", "int32"), em.backend.result_type("uint8", "int8")
        ('float32', 'int16')
    """
    if not dtypes:
        return floatx()
    names = [standardize_dtype(d) for d in dtypes]
    floats = [d for d in names if is_float_dtype(d)]
    if floats:
        if all(d == floats[0] for d in floats) and floats[0] != "float64":
            return floats[0]
        return "float32"  # float16 with bfloat16, or with float32; float64 canonicalized
    ints = [d for d in names if is_int_dtype(d)]
    if ints:
        out = np.dtype(ints[0])
        for d in ints[1:]:
            out = np.promote_types(out, np.dtype(d))
        return {"int64": "int32", "uint64": "uint32"}.get(out.name, out.name)
    if all(d == "bool" for d in names):
        return "bool"
    raise InvalidArgumentError(f"result_type: no common dtype for {names}")
