"""The Normalization preprocessing layer (Keras 3's ``keras.layers.Normalization``):
``(inputs - mean) / max(sqrt(variance), epsilon)`` with the statistics given or learned
by `Normalization.adapt` from data.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._boundary import public
from ..errors import InvalidArgumentError, NotBuiltError, ShapeError
from ..ops import core
from ..tensor import Tensor, as_tensor
from .layer import Layer

__all__ = ["Normalization"]

#: Keras's backend epsilon (``keras.config.epsilon()``), the floor of the scale.
EPSILON = 1e-7


def _as_array(batch, owner: str) -> np.ndarray:
    if isinstance(batch, (tuple, list)) and batch and not np.isscalar(batch[0]) and len(batch) in (1, 2, 3) and \
            hasattr(batch[0], "shape") and not isinstance(batch, np.ndarray):
        batch = batch[0]  # (x, y) batches: the features, as Keras's _extract_batch
    a = np.asarray(batch.numpy() if isinstance(batch, Tensor) else batch)
    if a.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{owner}.adapt: data must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64)


class Normalization(Layer):
    """Feature-wise normalization (Keras 3's ``keras.layers.Normalization``):
    ``(inputs - mean) / max(sqrt(variance), epsilon)``, or with ``invert=True``
    ``mean + inputs * max(sqrt(variance), epsilon)``.

    The statistics are per position along ``axis`` (the features by default) and come
    from the ``mean``/``variance`` arguments or from `adapt`, which computes them from a
    numpy array, a tensor or an iterable of batches (merged exactly, as Keras: the
    population variance of all the data). An adapted layer keeps them in its
    non-trainable weights ``mean``, ``variance`` and ``count`` (Keras's), so they are
    saved with the model.

    Args:
        axis: the kept axis or axes (an int, a tuple, or None for one scalar mean and
            variance); every other axis is reduced.
        mean, variance: fixed statistics (both or neither), broadcast against the kept
            axes.
        invert: undo the normalization instead.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> norm = em.layers.Normalization()
        >>> norm.adapt(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32))
        >>> norm(np.array([[2.0, 20.0]], np.float32)).numpy().round(4).tolist()
        [[0.0, 0.0]]
    """

    integer_inputs = "cast"

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            axis = (int(axis),)
        else:
            try:
                axis = tuple(int(a) for a in axis)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"Normalization: axis must be None, an int or a tuple of ints, got "
                                           f"{axis!r}") from None
        self.axis = axis
        if (mean is None) != (variance is None):
            raise InvalidArgumentError(f"Normalization: when setting values directly, both mean and variance must be "
                                       f"set; got mean={mean!r} and variance={variance!r}")
        if mean is not None:
            m, v = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
            if m.shape != v.shape:
                raise ShapeError(f"Normalization: mean of shape {m.shape} and variance of shape {v.shape} must have "
                                 "the same shape")
            if m.ndim > len(self.axis):
                raise ShapeError(f"Normalization: the rank of mean ({m.shape}) must be at most the number of axes "
                                 f"({len(self.axis)}) of axis={self.axis}")
            if np.any(v < 0) or not (np.all(np.isfinite(m)) and np.all(np.isfinite(v))):
                raise InvalidArgumentError("Normalization: mean must be finite and variance finite and >= 0")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self.mean = None
        self.variance = None
        self.adapt_mean = self.adapt_variance = self.count = None
        self._build_input_shape = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ShapeError(f"Normalization {self.name!r}: axis {self.axis} is out of range for inputs of shape "
                             f"{input_shape}")
        keep = tuple(sorted(a % ndim for a in self.axis))
        for d in keep:
            if input_shape[d] is None:
                raise ShapeError(f"Normalization {self.name!r}: the kept axis {d} of the input shape {input_shape} "
                                 "must be known")
        self._build_input_shape = input_shape
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.adapt_variance = self.add_weight(shape, "ones", trainable=False, name="variance")
            self.count = self.add_weight((), "zeros", trainable=False, name="count")
        else:
            m = np.asarray(self.input_mean, np.float64)
            v = np.asarray(self.input_variance, np.float64)
            if m.ndim:
                expanded = [1] * ndim
                for i in range(1, m.ndim + 1):
                    expanded[keep[-i]] = m.shape[-i]
                try:
                    m, v = m.reshape(expanded), v.reshape(expanded)
                    m = np.broadcast_to(m, self._broadcast_shape)
                    v = np.broadcast_to(v, self._broadcast_shape)
                except ValueError:
                    raise ShapeError(f"Normalization {self.name!r}: mean of shape {np.shape(self.input_mean)} does "
                                     f"not broadcast to the kept axes {shape} of inputs {input_shape}") from None
            else:
                m = np.broadcast_to(m, self._broadcast_shape)
                v = np.broadcast_to(v, self._broadcast_shape)
            self._fixed = (m.astype(np.float32), v.astype(np.float32))

    def adapt(self, data) -> None:
        """Computes the mean and variance of ``data`` (a numpy array, a tensor, or an
        iterable of batches) over every axis but ``axis`` and stores them."""
        owner = "Normalization"
        if isinstance(data, (np.ndarray, Tensor)):
            batches = iter([data])
        elif isinstance(data, (list, tuple)) and data and all(hasattr(b, "shape") for b in data):
            batches = iter(data)  # a list of batches
        elif isinstance(data, (list, tuple)):
            batches = iter([np.asarray(data)])  # nested lists of numbers: one array
        elif hasattr(data, "__iter__"):
            batches = iter(data)
        else:
            raise InvalidArgumentError(f"{owner}.adapt: data must be a numpy array, a tensor or an iterable of "
                                       f"batches, got {type(data).__name__}")
        first = next(batches, None)
        if first is None:
            raise InvalidArgumentError(f"{owner}.adapt: received no data (an empty iterable)")
        first = _as_array(first, owner)
        if not self.built:
            self._maybe_build((None,) + first.shape[1:] if first.ndim else first.shape)
        if self.input_mean is not None:
            raise InvalidArgumentError(f"{owner}.adapt: the layer was given a fixed mean and variance")
        total_mean = total_var = None
        total = 0
        for batch in ([first] + [_as_array(b, owner) for b in batches]):
            if batch.ndim != len(self._build_input_shape) or any(
                    batch.shape[d] != self._build_input_shape[d] for d in self._keep_axis):
                raise ShapeError(f"{owner}.adapt: a batch of shape {batch.shape} does not match the layer's input "
                                 f"shape {self._build_input_shape}")
            if batch.size == 0:
                continue
            bm, bv = batch.mean(axis=self._reduce_axis), batch.var(axis=self._reduce_axis)
            count = int(np.prod([batch.shape[d] for d in self._reduce_axis])) if self._reduce_axis else 1
            if total_mean is None:
                total_mean, total_var, total = bm, bv, count
                continue
            # Chan et al.'s pairwise merge: exact population mean and variance.
            new_total = total + count
            wb = count / new_total
            new_mean = total_mean * (1 - wb) + bm * wb
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1 - wb) + (bv + (bm - new_mean) ** 2) * wb
            total_mean, total = new_mean, new_total
        if total_mean is None:
            raise InvalidArgumentError(f"{owner}.adapt: received only empty batches")
        self.adapt_mean.assign(np.asarray(total_mean, np.float32).reshape(self.adapt_mean.shape))
        self.adapt_variance.assign(np.asarray(total_var, np.float32).reshape(self.adapt_variance.shape))
        self.count.assign(np.asarray(total, np.float32))

    # adapt is not among Layer's guarded methods: ragged data and the like come out as
    # InvalidArgumentError naming it, as the rest of the public API.
    adapt = public("Normalization.adapt")(adapt)

    def _stats(self, like: Tensor):
        if self.input_mean is not None:
            m, v = self._fixed
            return as_tensor(np.ascontiguousarray(m), device=like.device), as_tensor(np.ascontiguousarray(v),
                                                                                     device=like.device)
        return core.reshape(self.adapt_mean, self._broadcast_shape), core.reshape(self.adapt_variance,
                                                                                  self._broadcast_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        if not self.built:
            raise NotBuiltError(f"Normalization {self.name!r}: build or adapt the layer before calling it")
        if inputs.ndim != len(self._build_input_shape):
            raise ShapeError(f"Normalization {self.name!r}: inputs of shape {inputs.shape} do not have the rank of "
                             f"the built input shape {self._build_input_shape}")
        mean, var = self._stats(inputs)
        scale = core.maximum(core.sqrt(var), EPSILON)
        if self.invert:
            return core.add(mean, core.multiply(inputs, scale))
        return core.divide(core.subtract(inputs, mean), scale)

    def get_config(self):
        def plain(v):
            return np.asarray(v).tolist() if v is not None and not np.isscalar(v) else v

        axis = self.axis[0] if len(self.axis) == 1 else (None if not self.axis else list(self.axis))
        return {**super().get_config(), "axis": axis, "invert": self.invert, "mean": plain(self.input_mean),
                "variance": plain(self.input_variance)}
