"""AdamW: Adam with decoupled weight decay, Keras 3 semantics."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .adam import Adam


class AdamW(Adam):
    """``AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
    amsgrad=False)`` (``keras/src/optimizers/adamw.py``).

    Each step first decays ``theta -= theta * weight_decay * lr`` (on the current value,
    before and independent of the gradient), then applies exactly the `Adam` update. Keras
    multiplies the decay by the learning rate (PyTorch's AdamW does too, with a default
    weight_decay of 0.01 rather than Keras's 0.004).

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        weight_decay: float >= 0 (default 0.004); None is rejected as in Keras.
        beta_1, beta_2, epsilon, amsgrad: as `Adam`.
        **kwargs: the common `Optimizer` arguments (clipnorm, ...).
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if weight_decay is None:
            raise InvalidArgumentError("AdamW: argument weight_decay must be a float, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
