"""Categorical preprocessing layers with Keras 3's names, arguments and outputs:
`CategoryEncoding` (one-hot, multi-hot and count encodings of integer ids) and
`Discretization` (bucketing by boundaries, or by quantiles learnt with ``adapt``).

The encodings are composed of `ember.ops` (``one_hot`` and reductions) on the inputs'
device. Discretization's ``adapt`` runs on the host with Keras's approximate-quantile
summaries (its ``summarize`` / ``merge_summaries`` / ``compress_summary``), so the same
data gives Keras's boundaries.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import InvalidArgumentError, NotBuiltError, ShapeError
from ..keras_tensor import KerasTensor
from ..ops import core
from ..ops.array_ops import one_hot
from ..tensor import Tensor, as_tensor
from .layer import Layer


def encode_categorical_inputs(inputs: Tensor, output_mode: str, depth: int, count_weights=None) -> Tensor:
    """Keras's ``numerical_utils.encode_categorical_inputs`` for "one_hot", "multi_hot"
    and "count" (float32 outputs; ids must lie in [0, depth))."""
    x = inputs if inputs.dtype == "int32" else core.cast(inputs, "int32")
    if x.ndim == 0:
        x = core.reshape(x, (1,))
    if x.ndim > 2:
        raise ShapeError(f"When output_mode is not 'int', maximum supported output rank is 2; got inputs of shape "
                         f"{inputs.shape}")
    if output_mode == "one_hot":
        if x.ndim > 1 and x.shape[-1] == 1:
            x = core.reshape(x, x.shape[:-1])
        return one_hot(x, depth)
    reduction = 1 if x.ndim > 1 else 0
    encoded = one_hot(x, depth)
    if output_mode == "multi_hot":
        return core.max(encoded, axis=reduction)
    if count_weights is not None:
        encoded = core.multiply(encoded, core.expand_dims(count_weights, -1))
    return core.sum(encoded, axis=reduction)


def _int_tensor(inputs, layer) -> Tensor:
    if isinstance(inputs, Tensor):
        return inputs
    try:
        a = np.asarray(inputs)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{type(layer).__name__} {layer.name!r}: cannot convert the inputs to an array "
                                   f"({e})") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{type(layer).__name__} {layer.name!r}: expected numeric inputs, got dtype "
                                   f"{a.dtype}")
    if a.dtype.kind == "f":
        return as_tensor(a.astype(np.float32), device=layer._input_device())
    return as_tensor(a.astype(np.int32), dtype="int32", device=layer._input_device())


class CategoryEncoding(Layer):
    """Encodes integer ids in [0, num_tokens) (Keras 3's ``keras.layers.CategoryEncoding``):
    "one_hot" gives one row per id (a trailing axis of size 1 is replaced), "multi_hot"
    one row per sample with a 1 at every id it holds, "count" the number of times each
    id occurs (weighted by ``count_weights`` when given). Outputs are float32.

    Args:
        num_tokens: the number of ids (required, >= 1).
        output_mode: "multi_hot" (the default; "binary" is its old name), "one_hot" or
            "count".
        sparse: must be False (NotImplementedError otherwise: Ember's tensors are dense).
        **kwargs: the base `Layer` arguments.

    Call arguments:
        inputs: integer ids, rank 0, 1 or 2.
        count_weights: with "count", a weight per input id (the inputs' shape).

    Example:
        >>> import ember as em
        >>> layer = em.layers.CategoryEncoding(num_tokens=4, output_mode="count")
        >>> layer([[0, 1, 1], [3, 3, 3]]).numpy().tolist()
        [[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]]
    """

    integer_inputs = "keep"

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        owner = "CategoryEncoding"
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise InvalidArgumentError(f"{owner}: unknown arg for output_mode: {output_mode!r}")
        if num_tokens is None:
            raise InvalidArgumentError(f"{owner}: num_tokens must be set to use this layer; if the number of tokens is "
                                       "not known beforehand, use the IntegerLookup layer instead")
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, numbers.Integral) or num_tokens < 1:
            raise InvalidArgumentError(f"{owner}: `num_tokens` must be an integer >= 1, got num_tokens={num_tokens!r}")
        if sparse:
            raise NotImplementedError(f"{owner}: sparse=True is not supported (Ember's tensors are dense)")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False
        self.built = True

    def __call__(self, inputs=None, count_weights=None, **kwargs):
        if inputs is None:
            raise InvalidArgumentError(f"Layer {self.name!r} was called without inputs")
        if not isinstance(inputs, KerasTensor):
            inputs = _int_tensor(inputs, self)
        if count_weights is not None:
            kwargs["count_weights"] = count_weights
        return super().__call__(inputs, **kwargs)

    def call(self, inputs, count_weights=None):
        if count_weights is not None:
            if self.output_mode != "count":
                raise InvalidArgumentError(f"CategoryEncoding {self.name!r}: `count_weights` is not used when "
                                           f"`output_mode` is not 'count'; got output_mode={self.output_mode!r}")
            count_weights = core._float(as_tensor(count_weights, device=inputs.device))
            if count_weights.shape != inputs.shape:
                raise ShapeError(f"CategoryEncoding {self.name!r}: count_weights of shape {count_weights.shape} do not "
                                 f"match inputs of shape {inputs.shape}")
        return encode_categorical_inputs(inputs, self.output_mode, self.num_tokens, count_weights)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_tokens,)
        if self.output_mode == "one_hot":
            if input_shape[-1] != 1 or len(input_shape) == 1:
                return input_shape + (self.num_tokens,)
            return input_shape[:-1] + (self.num_tokens,)
        return input_shape[:-1] + (self.num_tokens,)

    def compute_output_spec(self, inputs, count_weights=None):
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": False}


# -- Keras's approximate-quantile summaries (keras/src/layers/preprocessing/discretization.py) -----

def summarize(values, epsilon: float) -> np.ndarray:
    """A (2, n) summary (values, weights) of ``values``: every ``len / (1 / epsilon)``-th
    sorted value with that weight (the whole array, weights 1, when it is short)."""
    values = np.sort(np.reshape(values, [-1]))
    step = max(np.size(values) / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """The summary reduced to about 1 / epsilon bins by interpolating its cumulative
    weight percentages."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_percents, summary[0])
    cum_weights = np.interp(percents, cum_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def merge_summaries(prev_summary: np.ndarray, next_summary: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return compress_summary(merged, epsilon)


def get_bin_boundaries(summary: np.ndarray, num_bins: int) -> np.ndarray:
    return compress_summary(summary, 1.0 / num_bins)[0, :-1]


class Discretization(Layer):
    """Buckets continuous values by boundaries (Keras 3's ``keras.layers.Discretization``):
    value x goes to bucket ``i`` with ``bin_boundaries[i - 1] <= x < bin_boundaries[i]``
    (``numpy.digitize``), len(bin_boundaries) + 1 buckets in all, or, with ``num_bins``,
    boundaries at the approximate quantiles ``adapt`` finds (Keras's summaries, to about
    ``epsilon``). "int" outputs are the int32 bucket ids; "one_hot", "multi_hot" and
    "count" encode them as `CategoryEncoding` does.

    Args:
        bin_boundaries: a sorted list of boundaries, or None (then ``num_bins``).
        num_bins: the number of buckets ``adapt`` makes.
        epsilon: the quantiles' error tolerance for ``adapt`` (default 0.01).
        output_mode: "int" (the default), "one_hot", "multi_hot" or "count".
        sparse: must be False (NotImplementedError otherwise).
        dtype: the output dtype of the encodings (float32).
        name: the layer's name.

    Example:
        >>> import ember as em
        >>> layer = em.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
        >>> layer([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]]).numpy().tolist()
        [[0, 2, 3, 1], [1, 3, 2, 1]]
    """

    integer_inputs = "cast"

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, dtype=None,
                 name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = "Discretization"
        if sparse:
            raise NotImplementedError(f"{owner}: sparse=True is not supported (Ember's tensors are dense)")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise InvalidArgumentError(f"{owner}: output_mode must be one of 'int', 'one_hot', 'multi_hot', 'count'; "
                                       f"got {output_mode!r}")
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral)
                                     or num_bins < 0):
            raise InvalidArgumentError(f"{owner}: `num_bins` must be an integer >= 0, got num_bins={num_bins!r}")
        if num_bins is not None and bin_boundaries is not None:
            raise InvalidArgumentError(f"{owner}: both `num_bins` and `bin_boundaries` should not be set; got "
                                       f"num_bins={num_bins!r} and bin_boundaries={bin_boundaries!r}")
        if num_bins is None and bin_boundaries is None:
            raise InvalidArgumentError(f"{owner}: you need to set either `num_bins` or `bin_boundaries`")
        if bin_boundaries is not None:
            bin_boundaries = self._boundaries(bin_boundaries)
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 < epsilon <= 1:
            raise InvalidArgumentError(f"{owner}: epsilon must be a number in (0, 1], got {epsilon!r}")
        self.bin_boundaries = bin_boundaries
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = False
        self.summary = None if bin_boundaries else np.array([[], []], dtype="float32")
        self.built = True

    @staticmethod
    def _boundaries(values) -> list:
        try:
            b = [float(v) for v in values]
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"Discretization: bin_boundaries must be a list of numbers, got "
                                       f"{values!r}") from None
        if any(not math.isfinite(v) for v in b) or any(x > y for x, y in zip(b, b[1:])):
            raise InvalidArgumentError(f"Discretization: bin_boundaries must be finite and sorted, got {values!r}")
        return b

    def adapt(self, data, steps=None):
        """Learns ``num_bins`` buckets' boundaries from ``data`` (an array, or an iterable
        of batches; ``steps`` limits how many batches are read)."""
        if self.num_bins is None:
            raise InvalidArgumentError("Cannot adapt a Discretization layer that has been initialized with "
                                       "`bin_boundaries`, use `num_bins` instead")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1):
            raise InvalidArgumentError(f"Discretization.adapt: steps must be None or a positive integer, got {steps!r}")
        self.reset_state()
        if isinstance(data, (np.ndarray, Tensor)) or not hasattr(data, "__iter__") or _is_nested_numbers(data):
            self.update_state(data)
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        a = np.asarray(data.numpy() if isinstance(data, Tensor) else data)
        if a.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"Discretization.adapt: expected numeric data, got dtype {a.dtype}")
        if a.size == 0:
            raise InvalidArgumentError("Discretization.adapt: the data is empty")
        a = a.astype("float32")
        if not np.all(np.isfinite(a)):
            raise InvalidArgumentError("Discretization.adapt: the data holds NaN or infinite values")
        self.summary = merge_summaries(summarize(a, self.epsilon), self.summary, self.epsilon)

    def finalize_state(self):
        if self.num_bins is None:
            return
        self.bin_boundaries = get_bin_boundaries(self.summary, self.num_bins).tolist()

    def reset_state(self):
        if self.num_bins is None:
            return
        self.summary = np.array([[], []], dtype="float32")

    def _depth(self) -> int:
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self._depth()
        if self.output_mode == "one_hot":
            if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        if input_shape and len(input_shape) >= 2:
            return (input_shape[0],) + input_shape[2:] + (depth,)
        return (depth,)

    def compute_output_spec(self, inputs, *args, **kwargs):
        return KerasTensor(self.compute_output_shape(inputs.shape),
                           dtype="int32" if self.output_mode == "int" else "float32")

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise NotBuiltError("You need to either pass the `bin_boundaries` argument at construction time or call "
                                "`adapt(dataset)` before you can start using the `Discretization` layer")
        x = core._float(inputs)
        # bucket = the number of boundaries <= x (numpy.digitize, right=False)
        if self.bin_boundaries:
            b = as_tensor(np.asarray(self.bin_boundaries, np.float32), device=x.device)
            ids = core.sum(core.greater_equal(core.expand_dims(x, -1), b), axis=-1)
        else:
            ids = core.multiply(x, 0.0)
        ids = core.cast(ids, "int32")
        if self.output_mode == "int":
            return ids
        return encode_categorical_inputs(ids, self.output_mode, self._depth())

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": False}

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, dict):
            raise InvalidArgumentError(f"Discretization.from_config: expected a dict, got {type(config).__name__}")
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = cls._boundaries(boundaries)
            return layer
        return cls(**config)


def _is_nested_numbers(data) -> bool:
    """Whether ``data`` is a (nested) list of numbers rather than a list of batches."""
    first = data
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, numbers.Number) and not (isinstance(data, (list, tuple)) and data and
                                                       isinstance(data[0], (np.ndarray, Tensor)))


__all__ = ["CategoryEncoding", "Discretization"]
