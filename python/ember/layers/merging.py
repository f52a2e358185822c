"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot
(Keras 3's ``keras/src/layers/merging/``). Each takes a list of tensors; elementwise
merges broadcast their inputs as numpy does, after Keras's shape check."""

from __future__ import annotations

from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from .layer import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def _broadcast_shape(owner: str, shapes: list) -> tuple:
    """Keras's merge rule on shapes without the batch axis: sizes agree, or one is 1."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = [s[len(s) - rank + axis] if len(s) - rank + axis >= 0 else 1 for s in shapes]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError(f"{owner}: inputs must have compatible shapes; got shapes {[tuple(s) for s in shapes]}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Shared checks and shape rule of the elementwise merges."""

    integer_inputs = "cast"
    _min_inputs = 2

    def _check_list(self, shapes) -> list:
        if not isinstance(shapes, (list, tuple)) or (shapes and not isinstance(shapes[0], (list, tuple))):
            raise InvalidArgumentError(f"{type(self).__name__}: a merge layer should be called on a list of inputs, got {shapes!r}")
        if len(shapes) < self._min_inputs:
            raise InvalidArgumentError(
                f"{type(self).__name__}: a merge layer should be called on a list of at least {self._min_inputs} inputs, "
                f"got {len(shapes)} input(s)"
            )
        return [tuple(s) for s in shapes]

    def build(self, input_shape):
        shapes = self._check_list(input_shape)
        _broadcast_shape(type(self).__name__, [s[1:] for s in shapes])

    def compute_output_shape(self, input_shape):
        shapes = self._check_list(input_shape)
        batch = next((s[0] for s in shapes if s and s[0] is not None), None)
        return (batch,) + _broadcast_shape(type(self).__name__, [s[1:] for s in shapes])

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise InvalidArgumentError(f"{type(self).__name__}: a merge layer should be called on a list of inputs")
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return self._finish(out, len(inputs))

    def _finish(self, out, n: int):
        return out


class Add(_Merge):
    """Sums its inputs elementwise: ``Add()([x1, x2, ...])``.

    Example:
        >>> import ember as em
        >>> em.layers.Add()([em.ones((1, 2)), em.ones((1, 2))]).numpy().tolist()
        [[2.0, 2.0]]
    """

    def _merge(self, a, b):
        return core.add(a, b)


class Subtract(_Merge):
    """Subtracts its second input from its first: ``Subtract()([x1, x2])``."""

    def _check_list(self, shapes):
        shapes = super()._check_list(shapes)
        if len(shapes) != 2:
            raise InvalidArgumentError(f"Subtract: a Subtract layer should be called on exactly 2 inputs, got {len(shapes)}")
        return shapes

    def _merge(self, a, b):
        return core.subtract(a, b)


class Multiply(_Merge):
    """Multiplies its inputs elementwise."""

    def _merge(self, a, b):
        return core.multiply(a, b)


class Average(_Merge):
    """Averages its inputs elementwise."""

    def _merge(self, a, b):
        return core.add(a, b)

    def _finish(self, out, n: int):
        return core.multiply(out, 1.0 / n)


class Maximum(_Merge):
    """The elementwise maximum of its inputs."""

    def _merge(self, a, b):
        return core.maximum(a, b)


class Minimum(_Merge):
    """The elementwise minimum of its inputs."""

    def _merge(self, a, b):
        return core.minimum(a, b)


class Concatenate(Layer):
    """Concatenates its inputs along ``axis`` (the other axes must match).

    Args:
        axis: the axis to join along (default -1, the features).

    Example:
        >>> import ember as em
        >>> em.layers.Concatenate()([em.ones((2, 3)), em.zeros((2, 1))]).shape
        (2, 4)
    """

    integer_inputs = "keep"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise InvalidArgumentError(f"Concatenate: axis must be an integer, got {axis!r}")
        self.axis = axis

    def _shapes(self, input_shape) -> list:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise InvalidArgumentError(f"Concatenate: a Concatenate layer should be called on a list of inputs, got {input_shape!r}")
        if len(input_shape) < 1:
            raise InvalidArgumentError("Concatenate: needs at least one input")
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(
                "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
                f"Received: input_shape={shapes}"
            )
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None:
            raise ShapeError(f"Concatenate: axis {self.axis} is out of range for inputs of rank {rank}")
        for k in range(rank):
            if k == axis or k == 0:
                continue
            dims = {s[k] for s in shapes if s[k] is not None}
            if len(dims) > 1:
                raise ShapeError(
                    "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
                    f"Received: input_shape={shapes}"
                )
        return shapes

    def build(self, input_shape):
        self._shapes(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        rank = len(shapes[0])
        axis = self.axis % rank
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        for k in range(rank):
            if k != axis and out[k] is None:
                out[k] = next((s[k] for s in shapes if s[k] is not None), None)
        return tuple(out)

    def call(self, inputs):
        from .. import ops

        if any(t.dtype != inputs[0].dtype for t in inputs):
            inputs = [core.cast(t, "float32") for t in inputs]
        return ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Layer):
    """The dot product of two inputs along ``axes`` (per sample), optionally of their
    L2-normalized values (cosine similarity).

    Args:
        axes: an int, or a pair of ints, the axis of each input to contract (the batch
            axis is 0 and cannot be one).
        normalize: whether to L2-normalize both inputs along ``axes`` first.
    """

    integer_inputs = "cast"

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, int) and not isinstance(axes, bool):
            axes = (axes, axes)
        if not isinstance(axes, (list, tuple)) or len(axes) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise InvalidArgumentError(f"Dot: axes must be an integer or a list of 2 integers, got {axes!r}")
        self.axes = tuple(axes)
        self.normalize = bool(normalize)

    def _axes(self, shapes) -> tuple[int, int]:
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2 or not isinstance(shapes[0], (list, tuple)):
            raise InvalidArgumentError(f"Dot: a Dot layer should be called on a list of 2 inputs, got {shapes!r}")
        a, b = (tuple(s) for s in shapes)
        if len(a) > 3 or len(b) > 3:
            raise ShapeError(f"Dot: inputs of rank at most 3 (batch included) are supported, got shapes {a} and {b}")
        ax = [ax % len(s) if ax < 0 else ax for ax, s in zip(self.axes, (a, b))]
        if 0 in ax:
            raise ShapeError(f"Dot: cannot contract the batch axis; got axes {self.axes} for shapes {a} and {b}")
        if a[ax[0]] is not None and b[ax[1]] is not None and a[ax[0]] != b[ax[1]]:
            raise ShapeError(
                f"Dot: incompatible input shapes: axis values {a[ax[0]]} (at axis {ax[0]}) != {b[ax[1]]} (at axis {ax[1]}). "
                f"Full input shapes: {a}, {b}"
            )
        return ax[0], ax[1]

    def build(self, input_shape):
        self._axes(input_shape)

    def compute_output_shape(self, input_shape):
        a, b = (tuple(s) for s in input_shape)
        i, j = self._axes(input_shape)
        rest = [d for k, d in enumerate(a) if k not in (0, i)] + [d for k, d in enumerate(b) if k not in (0, j)]
        return (a[0],) + (tuple(rest) if rest else (1,))

    def call(self, inputs):
        x, y = inputs
        i, j = self._axes([x.shape, y.shape])
        if self.normalize:
            x = _l2_normalize(x, i)
            y = _l2_normalize(y, j)
        # Per sample: move the contracted axis last in x and first (after batch) in y,
        # then one batched matmul (batch, m, k) @ (batch, k, n).
        if x.ndim == 2:
            x3 = core.reshape(x, (x.shape[0], 1, x.shape[1]))
        else:
            x3 = x if i == 2 else core.transpose(x, (0, 2, 1))
        if y.ndim == 2:
            y3 = core.reshape(y, (y.shape[0], y.shape[1], 1))
        else:
            y3 = y if j == 1 else core.transpose(y, (0, 2, 1))
        from ..ops import nn

        out = nn.matmul(x3, y3)
        shape = self.compute_output_shape([x.shape, y.shape])
        return core.reshape(out, (x.shape[0],) + tuple(shape[1:]))

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}


def _l2_normalize(x, axis: int):
    sq = core.sum(core.square(x), axis=axis, keepdims=True)
    return core.divide(x, core.sqrt(core.maximum(sq, 1e-12)))


def add(inputs, **kwargs):
    """Functional form of `Add`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of `Subtract`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of `Dot`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
