"""Reshaping layers: Flatten, Reshape."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from .layer import Layer, _AnyRank, _shape_arg


class Flatten(Layer, _AnyRank):
    """Flattens every axis but the batch axis.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"`` (channels are
            moved last before flattening, as Keras does).
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else int(np.prod(rest)))

    def call(self, inputs, training=False):
        return core.reshape(inputs, (inputs.shape[0], -1) if inputs.shape[0] else (0, int(np.prod(inputs.shape[1:]))))


class Reshape(Layer, _AnyRank):
    """Reshapes each sample to ``target_shape`` (one -1 may be inferred).

    Args:
        target_shape: the per-sample output shape, a tuple of ints (the batch axis excluded).
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = _shape_arg(target_shape, "Reshape: target_shape", allow_minus_one=True)
        if any(d is None for d in target):
            raise InvalidArgumentError(f"Reshape: invalid target_shape {target_shape!r}")
        self.target_shape = target

    def compute_output_shape(self, input_shape):
        n = int(np.prod(input_shape[1:])) if all(d is not None for d in input_shape[1:]) else None
        t = list(self.target_shape)
        if -1 in t and n is not None:
            known = int(np.prod([d for d in t if d != -1]))
            t[t.index(-1)] = n // known if known else 0
        if n is not None and -1 not in t and int(np.prod(t)) != n:
            raise ShapeError(f"Reshape: cannot reshape samples of shape {input_shape[1:]} into {self.target_shape}")
        return (input_shape[0],) + tuple(t)

    def call(self, inputs, training=False):
        return core.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}

