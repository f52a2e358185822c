"""Learning-rate schedules with Keras 3 names, arguments and formulas
(``keras/src/optimizers/schedules/learning_rate_schedule.py``).

A schedule maps the optimizer's step counter (``optimizer.iterations``, 0 for the first
update) to a learning rate. Ember's optimizers take the learning rate as a host scalar
for their fused kernels, so schedules are evaluated on the host in float64 and return a
Python float (Keras evaluates them as float32 tensors; the two differ only by rounding).

Example:
    >>> import ember as em
    >>> s = em.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(s(10), 6), round(s(5), 6)
    (0.05, 0.070711)
    >>> opt = em.optimizers.SGD(learning_rate=s)
"""

from __future__ import annotations

import math
import numbers

from ..errors import InvalidArgumentError, InvalidConfigError
from ..saving import serialization_lib as _serialization

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
]


def _number(owner: str, name: str, value, *, positive: bool = False, nonnegative: bool = False, integer: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and integer:
        ok = float(value) == int(value)
    if ok and positive:
        ok = value > 0
    if ok and nonnegative:
        ok = value >= 0
    if not ok:
        what = "a positive" if positive else "a non-negative" if nonnegative else "a finite"
        raise InvalidArgumentError(f"{owner}: argument {name} must be {what} {'integer' if integer else 'number'}, got {value!r}")
    return float(value)


def _step(owner: str, step) -> float:
    try:
        s = float(step)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{owner}: step must be a number, got {step!r}") from None
    if not math.isfinite(s) or s < 0:
        raise InvalidArgumentError(f"{owner}: step must be a finite number >= 0, got {step!r}")
    return s


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config``."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        if not isinstance(config, dict):
            raise InvalidArgumentError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        try:
            return cls(**config)
        except TypeError as e:
            raise InvalidArgumentError(f"{cls.__name__}.from_config: {e}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase``
    the exponent is floored.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive number of steps per decay period.
        decay_rate: the factor per period.
        staircase: decay in discrete intervals.
        name: name of the schedule.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        owner = "ExponentialDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate, nonnegative=True)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.decay_rate = _number(owner, "decay_rate", decay_rate, nonnegative=True)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step) -> float:
        p = _step(self.name, step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` after the last boundary.

    Args:
        boundaries: increasing step boundaries.
        values: one more value than there are boundaries.
        name: name of the schedule.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        owner = "PiecewiseConstantDecay"
        try:
            boundaries, values = list(boundaries), list(values)
        except TypeError:
            raise InvalidArgumentError(f"{owner}: arguments boundaries and values must be lists") from None
        if len(boundaries) != len(values) - 1:
            raise InvalidArgumentError(
                f"{owner}: the length of boundaries should be 1 less than the length of values; "
                f"got {len(boundaries)} boundaries and {len(values)} values"
            )
        self.boundaries = [_number(owner, "boundaries", b) for b in boundaries]
        if any(b1 >= b2 for b1, b2 in zip(self.boundaries, self.boundaries[1:])):
            raise InvalidArgumentError(f"{owner}: argument boundaries must be strictly increasing, got {boundaries}")
        self.values = [_number(owner, "values", v, nonnegative=True) for v in values]
        self.name = name

    def __call__(self, step) -> float:
        s = _step(self.name, step)
        for b, v in zip(self.boundaries, self.values):
            if s <= b:
                return v
        return self.values[-1]

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end`` with the step capped at
    ``decay_steps``; with ``cycle`` the horizon grows to the next multiple of ``decay_steps``
    (``ceil(step / decay_steps)``, 1 at step 0).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive number of steps to decay over.
        end_learning_rate: the final rate (default 0.0001).
        power: the polynomial's power (default 1.0, linear).
        cycle: restart beyond ``decay_steps``.
        name: name of the schedule.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        owner = "PolynomialDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate, nonnegative=True)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.end_learning_rate = _number(owner, "end_learning_rate", end_learning_rate, nonnegative=True)
        self.power = _number(owner, "power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step) -> float:
        s = _step(self.name, step)
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if s == 0 else math.ceil(s / self.decay_steps)
        else:
            s = min(s, decay_steps)
        p = s / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1 - p) ** self.power + self.end_learning_rate

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with ``staircase``
    the quotient ``step / decay_steps`` is floored.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive number of steps per unit of decay.
        decay_rate: the decay rate.
        staircase: decay in discrete intervals.
        name: name of the schedule.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        owner = "InverseTimeDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate, nonnegative=True)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.decay_rate = _number(owner, "decay_rate", decay_rate, nonnegative=True)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step) -> float:
        p = _step(self.name, step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warmup (SGDR without restarts).

    Without ``warmup_target``: ``lr(step) = initial * ((1 - alpha) * 0.5 * (1 + cos(pi *
    min(step, decay_steps) / decay_steps)) + alpha)``. With ``warmup_target``: the rate rises
    linearly from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    decays from ``warmup_target`` by the formula above over ``decay_steps`` more steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive number of steps to decay over.
        alpha: the floor as a fraction of the decayed-from rate (default 0).
        name: name of the schedule.
        warmup_target: the rate reached at the end of the warmup (None: no warmup).
        warmup_steps: number of warmup steps (default 0).
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        owner = "CosineDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate, nonnegative=True)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else _number(owner, "warmup_target", warmup_target, nonnegative=True)
        self.warmup_steps = _number(owner, "warmup_steps", warmup_steps, nonnegative=True)

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        s = _step(self.name, step)
        if self.warmup_target is None:
            return self._decay(min(s, self.decay_steps), self.initial_learning_rate)
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            return (self.warmup_target - self.initial_learning_rate) * (s / self.warmup_steps) + self.initial_learning_rate
        return self._decay(s - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    The first period lasts ``first_decay_steps``; each later one ``t_mul`` times longer and
    starting from ``m_mul`` times the previous peak. Within a period at fraction ``f``:
    ``lr = initial * ((1 - alpha) * 0.5 * m_mul**i * (1 + cos(pi * f)) + alpha)``, where for
    ``t_mul != 1`` the period index is ``i = floor(log(1 - s/first * (1 - t_mul)) / log(t_mul))``
    (Keras's closed form).

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: positive length of the first period.
        t_mul: growth of the period length (default 2.0).
        m_mul: factor of each restart's peak (default 1.0).
        alpha: the floor as a fraction of ``initial_learning_rate`` (default 0).
        name: name of the schedule.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        owner = "CosineDecayRestarts"
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate, nonnegative=True)
        self.first_decay_steps = _number(owner, "first_decay_steps", first_decay_steps, positive=True)
        self.t_mul = _number(owner, "t_mul", t_mul, positive=True)
        self.m_mul = _number(owner, "m_mul", m_mul, nonnegative=True)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name

    def __call__(self, step) -> float:
        fraction = _step(self.name, step) / self.first_decay_steps
        if self.t_mul == 1.0:
            i = math.floor(fraction)
            fraction -= i
        else:
            i = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul**i) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul**i
        cosine = 0.5 * self.m_mul**i * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


# The built-ins (Keras's ALL_OBJECTS_DICT); lookups go through ember.saving, custom objects first.
_SCHEDULES = {c.__name__: c for c in (LearningRateSchedule, ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                      InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """Keras's serialized form (`ember.saving.serialize`) of a schedule:
    ``{"module": "keras.optimizers.schedules", "class_name", "config", "registered_name"}``."""
    if not isinstance(learning_rate_schedule, LearningRateSchedule):
        raise InvalidArgumentError(
            f"serialize: expected a LearningRateSchedule, got {type(learning_rate_schedule).__name__}")
    return _serialization.serialize_keras_object(learning_rate_schedule)


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Inverse of `serialize`; ``custom_objects`` maps names of user schedules (registered
    ones are found without it).

    Raises:
        InvalidConfigError: (an InvalidArgumentError) for an unknown or malformed config.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise InvalidConfigError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    config = {**config, "config": config.get("config") or {}}
    obj = _serialization.deserialize_keras_object(config, custom_objects=custom_objects, module_objects=_SCHEDULES)
    if not isinstance(obj, LearningRateSchedule) and not callable(obj):
        raise InvalidConfigError(f"deserialize: {config['class_name']!r} is not a learning-rate schedule")
    return obj
