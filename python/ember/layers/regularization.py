"""Regularization layers: Dropout."""

from __future__ import annotations

from .. import random as _random
from ..errors import InvalidArgumentError
from ..ops import core
from .layer import Layer, _AnyRank


class Dropout(Layer, _AnyRank):
    """Inverted dropout: in training, each value is zeroed with probability ``rate``
    and the rest scaled by 1/(1 - rate); at inference the layer is the identity.

    The mask comes from Philox, so one seed gives the same mask on every device.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise InvalidArgumentError(f"Dropout: argument rate must be a float in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise InvalidArgumentError("Dropout: noise_shape is not supported yet")
        self.rate = float(rate)
        self.seed = seed
        self._gen = _random.SeedGenerator(seed) if seed is not None else None

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        mask = _random.dropout_mask(inputs.shape, self.rate, seed=self._gen, device=inputs.device)
        return core.multiply(inputs, mask)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
