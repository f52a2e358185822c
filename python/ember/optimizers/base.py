"""Keras 3 optimizer base: gradient clipping, decoupled weight decay, slot variables
and the step counter; subclasses implement ``update_step`` with one fused kernel.

Update order per step (keras/src/optimizers/base_optimizer.py): clip gradients
(clipvalue, clipnorm per variable, or global_clipnorm), then weight decay
``theta -= theta * weight_decay * lr``, then the update rule. ``iterations`` counts
applied steps; the rule sees ``t = iterations + 1``.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..autograd import no_grad
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core
from ..tensor import Tensor, Variable, zeros


def check_nonnegative(name: str, value, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"{owner}: argument {name} must be a finite number >= 0, got {value!r}")
    return float(value)


class Optimizer:
    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        owner = type(self).__name__
        if kwargs:
            raise InvalidArgumentError(f"{owner}: unexpected arguments {sorted(kwargs)}")
        self._learning_rate = check_nonnegative("learning_rate", learning_rate, owner)
        self.weight_decay = None if weight_decay is None else check_nonnegative("weight_decay", weight_decay, owner)
        given = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise InvalidArgumentError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}")
        self.clipnorm = None if clipnorm is None else check_nonnegative("clipnorm", clipnorm, owner)
        self.clipvalue = None if clipvalue is None else check_nonnegative("clipvalue", clipvalue, owner)
        self.global_clipnorm = None if global_clipnorm is None else check_nonnegative("global_clipnorm", global_clipnorm, owner)
        self.name = name or owner.lower()
        self.iterations = 0
        self._slots: dict[int, dict[str, Variable]] = {}

    # -- learning rate ------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = check_nonnegative("learning_rate", value, type(self).__name__)

    # -- slots ----------------------------------------------------------------------------
    def add_variable_from_reference(self, var: Variable, name: str, initial: float = 0.0) -> Variable:
        slots = self._slots.setdefault(id(var), {})
        v = Variable(zeros(var.shape) if initial == 0.0 else core.add(zeros(var.shape), initial), trainable=False,
                     name=f"{var.name}/{name}", device=var.device)
        slots[name] = v
        return v

    def slot(self, var: Variable, name: str) -> Variable:
        return self._slots[id(var)][name]

    def build(self, variables: list) -> None:
        """Creates the slot variables of ``variables`` (subclasses override)."""

    @property
    def variables(self) -> list:
        return [v for slots in self._slots.values() for v in slots.values()]

    # -- applying -------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable) -> int:
        """Applies ``[(gradient, variable), ...]`` (Keras's ``zip(grads, vars)``)."""
        try:
            items = list(grads_and_vars)
        except TypeError:
            raise InvalidArgumentError(
                f"{self.name}: apply_gradients expects (gradient, variable) pairs, got {type(grads_and_vars).__name__}"
            ) from None
        pairs = []
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise InvalidArgumentError(f"{self.name}: apply_gradients expects (gradient, variable) pairs, got {item!r}")
            pairs.append(tuple(item))
        return self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads: list, trainable_variables: list) -> int:
        grads, trainable_variables = list(grads), list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise InvalidArgumentError(
                f"{self.name}: got {len(grads)} gradients for {len(trainable_variables)} variables"
            )
        pairs = []
        for g, v in zip(grads, trainable_variables):
            if g is None:
                continue
            if not isinstance(v, Variable):
                raise InvalidArgumentError(f"{self.name}: can only update ember Variables, got {type(v).__name__}")
            if not isinstance(g, Tensor):
                try:
                    a = np.asarray(g)
                except (ValueError, TypeError) as e:
                    raise InvalidArgumentError(f"{self.name}: gradient for {v.name!r} is not an array: {e}") from None
                if a.dtype.kind not in "biuf":
                    raise InvalidArgumentError(f"{self.name}: gradient for {v.name!r} must be numeric, got dtype {a.dtype}")
                g = Tensor(a.astype(np.float32), device=v.device)
            pairs.append((g, v))
        if not pairs:
            return self.iterations
        for g, v in pairs:
            if g.shape != v.shape:
                raise ShapeError(f"{self.name}: gradient of shape {g.shape} for variable {v.name!r} of shape {v.shape}")
        new = [v for _, v in pairs if id(v) not in self._slots]
        if new:
            self.build(new)
            for v in new:
                self._slots.setdefault(id(v), {})
        with no_grad():
            grads = self._clip([g for g, _ in pairs])
            lr = self.learning_rate
            for g, v in zip(grads, [v for _, v in pairs]):
                if self.weight_decay:
                    v.assign(core.subtract(v.detach(), core.multiply(v.detach(), self.weight_decay * lr)))
                self.update_step(g, v, lr)
        self.iterations += 1
        return self.iterations

    def _clip(self, grads: list) -> list:
        if self.clipvalue is not None:
            return [core.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [self._scale_to(g, core.sqrt(core.sum(core.square(g))), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            total = math.sqrt(builtin_sum(float(core.sum(core.square(g))) for g in grads))
            if total > self.global_clipnorm:
                return [core.multiply(g, self.global_clipnorm / total) for g in grads]
        return grads

    @staticmethod
    def _scale_to(g: Tensor, norm: Tensor, limit: float) -> Tensor:
        n = float(norm)
        return core.multiply(g, limit / n) if n > limit else g

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: float) -> None:
        raise NotImplementedError

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


builtin_sum = sum
