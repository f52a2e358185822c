"""`SwapEMAWeights`: evaluates (and optionally checkpoints) with the optimizer's moving
averages of the weights (``keras.callbacks.SwapEMAWeights``)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from . import Callback


class SwapEMAWeights(Callback):
    """Swaps the model's weights with the optimizer's exponential moving averages
    (``use_ema=True``) before evaluation and prediction, and back afterwards, as Keras
    3's ``keras.callbacks.SwapEMAWeights``: ``fit``'s validation, ``evaluate`` and
    ``predict`` given this callback see the averaged ("Polyak") weights.

    The swap is in place (each weight and its average trade values through the host).

    Args:
        swap_on_epoch: also hold the averages in the model from each ``on_epoch_end``
            to the next ``on_epoch_begin``, so that callbacks after this one at the end
            of an epoch (a `ModelCheckpoint`, say) see them. At the last epoch the
            averages are made equal to the weights, so that ``fit`` ends on them.

    Raises:
        InvalidArgumentError: when the model's optimizer does not keep averages
            (``use_ema=False``).

    Example:
        >>> import numpy as np, ember as em
        >>> m = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
        >>> m.compile(optimizer=em.optimizers.SGD(0.1, use_ema=True), loss="mse")
        >>> x = np.ones((8, 2), np.float32)
        >>> _ = m.fit(x, x[:, :1], epochs=2, verbose=0, validation_data=(x, x[:, :1]),
        ...           callbacks=[em.callbacks.SwapEMAWeights()])
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        if not isinstance(swap_on_epoch, (bool, np.bool_)):
            raise InvalidArgumentError(f"SwapEMAWeights: swap_on_epoch must be True or False, got {swap_on_epoch!r}")
        self.swap_on_epoch = bool(swap_on_epoch)
        self._ema_weights_in_model = False

    def _optimizer(self):
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not getattr(opt, "use_ema", False):
            raise InvalidArgumentError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. Received: "
                f"use_ema={getattr(opt, 'use_ema', None)}")
        return opt

    def _swap_variables(self) -> None:
        for var, average in self._optimizer()._ema_pairs():
            held = var.numpy().copy()
            var.assign(average.detach())
            average.assign(held)

    def _finalize_ema_values(self) -> None:
        for var, average in self._optimizer()._ema_pairs():
            average.assign(var.detach())

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            # fit ends by writing the averages into the weights: make them the EMA weights
            # the model now holds, not the raw ones swapped out.
            if epoch == self.params.get("epochs", 0) - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
