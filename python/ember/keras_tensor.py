"""Symbolic tensors: a shape and a dtype, no values (Keras 3's ``KerasTensor``).

``keras.Input(shape)`` returns one. Calling a layer on KerasTensors records a `Node` in
the layer graph and returns new KerasTensors whose shapes come from the layer's
``compute_output_spec``; ``Model(inputs, outputs)`` then runs that graph on real data.
Ops of ``ember.ops`` (and the operators ``+ - * / @ [ ]``) work on KerasTensors too: each
call becomes a small layer in the graph, as Keras 3's ``symbolic_call`` makes a node.

Example:
    >>> import ember as em
    >>> x = em.Input((4,))
    >>> y = em.layers.Dense(3)(x)
    >>> y.shape
    (None, 3)
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from . import tree

__all__ = ["KerasTensor", "KerasHistory", "any_symbolic", "is_keras_tensor", "symbolic_op"]


class KerasHistory:
    """Where a KerasTensor came from: output ``tensor_index`` of ``operation``'s call
    number ``node_index``."""

    __slots__ = ("operation", "node_index", "tensor_index")

    def __init__(self, operation, node_index: int, tensor_index: int):
        self.operation = operation
        self.node_index = node_index
        self.tensor_index = tensor_index

    @property
    def node(self):
        return self.operation._inbound_nodes[self.node_index]

    def __iter__(self):  # unpacks as (operation, node_index, tensor_index), as in Keras
        return iter((self.operation, self.node_index, self.tensor_index))


class KerasTensor:
    """A symbolic tensor: ``shape`` (None for unknown dimensions, usually the batch),
    ``dtype`` and ``name`` (Keras 3's ``keras.KerasTensor``).

    Args:
        shape: a tuple of ints, None for unknown dimensions.
        dtype: the dtype name (default "float32").
        sparse, ragged: must be False (NotImplementedError otherwise: Ember's tensors
            are dense).
        record_history: must be True: ops on a KerasTensor always record graph nodes in
            Ember (False raises NotImplementedError).
        name: an optional name.
        **kwargs: none are accepted (an `InvalidArgumentError` names them).
    """

    def __init__(self, shape, dtype: str = "float32", sparse: bool = False, ragged: bool = False,
                 record_history: bool = True, name: str | None = None, **kwargs):
        from .errors import InvalidArgumentError

        if kwargs:
            raise InvalidArgumentError(f"KerasTensor: unexpected keyword arguments {sorted(kwargs)}")
        for flag, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise NotImplementedError(f"KerasTensor: {flag}=True is not supported (Ember's tensors are dense)")
        if not record_history:
            raise NotImplementedError("KerasTensor: record_history=False is not supported (ops on KerasTensors "
                                      "always record graph nodes in Ember)")
        self.sparse = False
        self.ragged = False
        self.record_history = True

        if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__iter__"):
            raise InvalidArgumentError(f"KerasTensor: shape must be a tuple of ints or None, got {shape!r}")
        try:
            self.shape = tuple(None if d is None else int(d) for d in shape)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"KerasTensor: shape must be a tuple of ints or None, got {shape!r}") from None
        if any(d is not None and d < 0 for d in self.shape):
            raise InvalidArgumentError(f"KerasTensor: negative dimension in shape {self.shape}")
        self.dtype = dtype
        self.name = name
        self._keras_history: KerasHistory | None = None
        self._keras_mask = None  # the symbolic mask a masking layer attaches (Keras's _keras_mask)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __len__(self) -> int:
        if not self.shape or self.shape[0] is None:
            raise TypeError("len() of a KerasTensor with an unknown first dimension")
        return self.shape[0]

    def __bool__(self) -> bool:
        raise TypeError("A symbolic KerasTensor has no truth value; use ember.ops.cond-free math on it")

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A symbolic KerasTensor cannot be converted to a numpy array: it has no values. "
            "It stands for a model input inside a functional model; call the model on data instead."
        )

    # Operators and methods build graph nodes through ember.ops.
    def reshape(self, *shape):
        from . import ops

        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    @property
    def T(self):
        from . import ops

        return ops.transpose(self)

    def __getitem__(self, key):
        from . import ops

        return ops.getitem(self, key)

    def astype(self, dtype):
        from . import ops

        return ops.cast(self, dtype)


def _install_operators() -> None:
    from .tensor import install_operators

    install_operators(KerasTensor)


_install_operators()


def is_keras_tensor(x: Any) -> bool:
    return isinstance(x, KerasTensor)


def any_symbolic(args: tuple, kwargs: dict | None = None) -> bool:
    """Whether a KerasTensor appears anywhere in ``args`` / ``kwargs`` (one level of
    lists, tuples and dicts is looked into directly; deeper ones through `tree`)."""
    for a in args:
        if isinstance(a, KerasTensor):
            return True
        if isinstance(a, (list, tuple, dict)) and any(isinstance(t, KerasTensor) for t in tree.flatten(a)):
            return True
    if kwargs:
        for a in kwargs.values():
            if isinstance(a, KerasTensor):
                return True
            if isinstance(a, (list, tuple, dict)) and any(isinstance(t, KerasTensor) for t in tree.flatten(a)):
                return True
    return False


def symbolic_op(fn: Callable, name: str | None = None) -> Callable:
    """``fn`` (an ``ember.ops`` function) made to accept KerasTensors: with one among
    its arguments, the call becomes an `OpLayer` node of the layer graph; otherwise
    ``fn`` runs as usual (one cheap scan of the arguments)."""
    op_name = name or fn.__name__

    @functools.wraps(fn)
    def dispatch(*args, **kwargs):
        if any_symbolic(args, kwargs):
            from .layers.op_layer import OpLayer

            return OpLayer(fn, op_name)(*args, **kwargs)
        return fn(*args, **kwargs)

    dispatch._ember_symbolic = True  # type: ignore[attr-defined]
    return dispatch
