"""GradientHealth: per-layer gradient norms each epoch, with warnings when they vanish or
explode (Ember's own callback; Keras has no equivalent)."""

from __future__ import annotations

import math
import numbers
import warnings

from ..errors import InvalidArgumentError
from . import Callback

__all__ = ["GradientHealth", "GradientHealthWarning"]


class GradientHealthWarning(UserWarning):
    """A layer's gradients vanished or exploded during an epoch (see `GradientHealth`)."""


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"GradientHealth: argument {name} must be a finite number > 0, got {value!r}")
    return float(value)


class GradientHealth(Callback):
    """Records each layer's gradient norm every epoch and warns when it vanishes or
    explodes.

    At every training step the L2 norm of each layer's gradient (all of the layer's
    trainable variables taken together) is computed on the device; the value recorded
    for an epoch is the mean of those per-step norms. It goes into the epoch logs, and
    so into ``History.history``, under ``"grad_norm/<layer name>"``. After each epoch a
    `GradientHealthWarning` naming the layer is issued (``warnings.warn``) when its norm
    is below ``vanish_threshold`` (vanishing) or above ``explode_threshold`` or not
    finite (exploding).

    The norms cost a few small reductions per variable and step, and are only computed
    while this callback is attached (``Model.train_step`` calls the registered
    observers); they are read back from the device once per epoch.

    Args:
        vanish_threshold: a layer whose mean gradient norm is below this is reported
            as vanishing. Default 1e-7.
        explode_threshold: a layer whose mean gradient norm is above this (or NaN/inf)
            is reported as exploding. Default 1e3.
        warn: set False to record the norms without warning.

    Attributes:
        norms: ``{layer name: [mean norm of epoch 0, epoch 1, ...]}`` of the last ``fit``.
        unhealthy: a list of ``(epoch, layer name, "vanishing" | "exploding", norm)``.

    Example:
        >>> import ember as em, numpy as np
        >>> model = em.Sequential([em.Input((3,)), em.layers.Dense(1, name="out")])
        >>> model.compile("sgd", "mse")
        >>> h = model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0,
        ...               callbacks=[em.callbacks.GradientHealth()])
        >>> sorted(k for k in h.history if k.startswith("grad_norm/"))
        ['grad_norm/out']
    """

    def __init__(self, vanish_threshold=1e-7, explode_threshold=1e3, warn=True):
        super().__init__()
        self.vanish_threshold = _positive("vanish_threshold", vanish_threshold)
        self.explode_threshold = _positive("explode_threshold", explode_threshold)
        if self.vanish_threshold >= self.explode_threshold:
            raise InvalidArgumentError(
                f"GradientHealth: argument vanish_threshold ({vanish_threshold!r}) must be smaller than "
                f"explode_threshold ({explode_threshold!r})"
            )
        if not isinstance(warn, bool):
            raise InvalidArgumentError(f"GradientHealth: argument warn must be True or False, got {warn!r}")
        self.warn = warn
        self.norms: dict[str, list[float]] = {}
        self.unhealthy: list[tuple] = []
        self._owner: dict[int, str] = {}
        self._sums: dict = {}
        self._steps = 0

    # -- registration with the model's training step ------------------------------------------
    def _model(self, hook: str):
        from ..models.model import Model

        if not isinstance(self.model, Model):
            raise InvalidArgumentError(
                f"GradientHealth.{hook}: the callback has no model (got {type(self.model).__name__}); "
                "pass it to fit(callbacks=[...]) or call set_model(model) first"
            )
        return self.model

    def on_train_begin(self, logs=None):
        self.norms, self.unhealthy = {}, []
        self._owner = {}
        model = self._model("on_train_begin")
        for layer in [model] + model._all_layers():
            for w in layer._weights:
                self._owner.setdefault(id(w), layer.name)
        model._grad_observers = tuple(o for o in model._grad_observers if getattr(o, "__self__", None) is not self) + (
            self._observe,
        )

    def on_train_end(self, logs=None):
        model = self._model("on_train_end")
        model._grad_observers = tuple(o for o in model._grad_observers if getattr(o, "__self__", None) is not self)

    def _observe(self, variables, grads) -> None:
        from ..autograd import no_grad
        from ..ops import core

        with no_grad():
            sq: dict = {}
            for v, g in zip(variables, grads):
                name = self._owner.get(id(v), v.name.split("/")[0])
                s = core.sum(core.square(g)) if g is not None else None
                if name not in sq or sq[name] is None:
                    sq[name] = s
                elif s is not None:
                    sq[name] = core.add(sq[name], s)
            for name, s in sq.items():
                norm = core.sqrt(s) if s is not None else None
                prev = self._sums.get(name)
                if norm is None:
                    self._sums.setdefault(name, None)
                else:
                    self._sums[name] = norm if prev is None else core.add(prev, norm)
        self._steps += 1

    # -- per epoch -------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._sums, self._steps = {}, 0

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps:
            return
        for name, total in self._sums.items():
            value = 0.0 if total is None else float(total.item()) / self._steps
            self.norms.setdefault(name, []).append(value)
            if logs is not None:
                logs[f"grad_norm/{name}"] = value
            kind = None
            if not math.isfinite(value):
                kind, bound = "exploding", "not finite"
            elif value > self.explode_threshold:
                kind, bound = "exploding", f"above explode_threshold={self.explode_threshold:g}"
            elif value < self.vanish_threshold:
                kind, bound = "vanishing", f"below vanish_threshold={self.vanish_threshold:g}"
            if kind is not None:
                self.unhealthy.append((epoch, name, kind, value))
                if self.warn:
                    warnings.warn(
                        f"GradientHealth: gradients of layer {name!r} are {kind} at epoch {epoch + 1}: "
                        f"mean gradient norm {value:.3g} is {bound}",
                        GradientHealthWarning,
                        stacklevel=2,
                    )
