"""Keras 3 optimizer base: learning rate (float or schedule), gradient clipping, decoupled
weight decay, slot variables, the step counter, config and state round trips; subclasses
implement ``update_step`` with one fused in-place kernel per device.

Update order per step, as ``keras/src/optimizers/base_optimizer.py`` ``apply()``: clip the
gradients (``clipvalue``, ``clipnorm`` per tensor, or ``global_clipnorm``), apply weight
decay ``theta -= theta * weight_decay * lr``, then the update rule. The built-in optimizers
do the decay and the rule in one pass of their kernel (no rule reads theta, so the result
is the same as two passes). The learning rate is
the schedule evaluated at ``iterations`` (0 at the first step); ``iterations`` counts
applied steps and the rules see ``t = iterations + 1``. Clipping runs through ``ember.ops``
on the gradients' device and never reads values back to the host.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Iterable

import numpy as np

from .. import _boundary
from ..autograd import no_grad
from ..errors import DTypeError, EmberError, InvalidArgumentError, ShapeError
from ..ops import core
from ..tensor import Tensor, Variable, zeros_like
from ..saving import serialization_lib as _serialization
from . import schedules as schedules_module


def check_nonnegative(name: str, value, owner: str) -> float:
    """``value`` as a float if it is a finite real number >= 0, else InvalidArgumentError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value))
            or value < 0):
        raise InvalidArgumentError(f"{owner}: argument {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_unit_interval(name: str, value, owner: str) -> float:
    """``value`` as a float if it lies in [0, 1), else InvalidArgumentError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value))
            or not 0 <= value < 1):
        raise InvalidArgumentError(f"{owner}: argument {name} must be a float in [0, 1), got {value!r}")
    return float(value)


def check_bool(name: str, value, owner: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{owner}: argument {name} must be a bool, got {value!r}")
    return bool(value)


def _optional_int(name: str, value, lowest: int, owner: str):
    """None, or ``value`` as an int >= ``lowest`` (else InvalidArgumentError)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < lowest:
        raise InvalidArgumentError(f"{owner}: argument {name} must be None or an integer >= {lowest}, got {value!r}")
    return int(value)


_REMOVED = {"lr": "learning_rate", "decay": "a learning-rate schedule (ember.optimizers.schedules)"}


def _brief(value) -> str:
    """``value`` for an error message: its repr, or its type and shape for an array."""
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def _checked_update_step(owner: str, f):
    """``update_step`` of a built-in optimizer, checking its arguments first (for direct
    calls; `Optimizer.apply` calls the unchecked rule)."""

    @functools.wraps(f)
    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(variable, Variable):
            raise InvalidArgumentError(f"{owner}.update_step: variable must be an ember Variable, got {_brief(variable)}")
        if not isinstance(gradient, Tensor):
            raise InvalidArgumentError(f"{owner}.update_step: gradient must be a Tensor, got {_brief(gradient)}")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not math.isfinite(learning_rate):
            raise InvalidArgumentError(
                f"{owner}.update_step: learning_rate must be a finite number, got {_brief(learning_rate)}"
            )
        if gradient.dtype != "float32":
            raise DTypeError(f"{owner}.update_step: gradient must be float32, got {gradient.dtype}")
        if gradient.shape != variable.shape:
            raise ShapeError(
                f"{owner}.update_step: gradient of shape {gradient.shape} for variable {variable.name!r} of shape {variable.shape}"
            )
        try:
            return f(self, gradient, variable, float(learning_rate))
        except EmberError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
            raise InvalidArgumentError(f"{owner}.update_step: invalid arguments ({type(e).__name__}: {e})") from e

    update_step._ember_public = True
    return update_step


class Optimizer:
    """Base class of the optimizers (``keras.optimizers.Optimizer``).

    Args:
        learning_rate: a float >= 0, a `schedules.LearningRateSchedule` (called with
            ``iterations``), or a callable of no arguments returning the rate.
        weight_decay: decoupled weight decay, ``theta -= theta * weight_decay * lr`` before
            each update (None: off).
        clipnorm: clip each gradient tensor to this L2 norm (0 or None: off).
        clipvalue: clip gradient elements to [-clipvalue, clipvalue] (0 or None: off).
        global_clipnorm: scale all gradients together so that their joint L2 norm is at
            most this (0 or None: off). At most one of the three clipping arguments.
        use_ema: keep an exponential moving average of every trained variable (Polyak
            averaging): after each update ``average = m * average + (1 - m) * variable``
            with ``m = ema_momentum`` (0 at the first step, so the average starts at the
            variable). ``Model.fit`` then ends by writing the averages into the model's
            weights (`finalize_variable_values`); `ember.callbacks.SwapEMAWeights`
            evaluates with them.
        ema_momentum: the EMA momentum m, in [0, 1] (default 0.99).
        ema_overwrite_frequency: with ``use_ema``, every this many steps the variables are
            overwritten by their averages (None: never during training).
        loss_scale_factor: a positive number the training loss is multiplied by before
            the gradients are taken (`scale_loss`, which ``Model.fit`` calls); `apply`
            divides the gradients by it again (None: off).
        gradient_accumulation_steps: an int >= 2: gradients are summed over this many
            `apply` calls and the variables updated on every last one of them with the
            mean (clipped, decayed and counted as one step: ``iterations`` counts
            updates, as Keras's ``iterations`` property). A learning-rate schedule sees
            the number of `apply` calls, as in Keras. None: off.
        name: the optimizer's name (None: a default from the class name).

    Example:
        >>> import ember as em
        >>> v = em.Variable([0.0]); opt = em.optimizers.SGD(1.0, gradient_accumulation_steps=2)
        >>> _ = opt.apply([em.tensor([1.0])], [v]); v.numpy().tolist()   # accumulated, no update
        [0.0]
        >>> _ = opt.apply([em.tensor([3.0])], [v]); v.numpy().tolist()   # the mean, 2.0
        [-2.0]
    """

    #: The name an instance gets when ``name`` is None (the class name in lower case by
    #: default).
    _default_name: str | None = None

    # The built-in optimizers fold weight decay into their fused kernel (see `_decay`); a
    # subclass that does not gets it applied through ops before its update_step.
    _fused_weight_decay = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        rule = vars(cls).get("update_step")
        if rule is not None:
            # What `apply` runs for every variable each step: the rule itself, without the
            # argument checks of a direct call (apply has checked them already).
            cls._update_step_unchecked = rule
        if _boundary.is_internal(cls):
            # The built-in optimizers' own methods raise ember errors on bad arguments; a
            # user's subclass keeps its own exceptions.
            if rule is not None:
                cls.update_step = _checked_update_step(cls.__name__, rule)
            _boundary.wrap_public_methods(cls)

    def __init__(
        self,
        learning_rate,
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
        for old, new in _REMOVED.items():
            if old in kwargs:
                raise InvalidArgumentError(f"{owner}: argument {old} is no longer supported; use {new} instead")
        if kwargs:
            raise InvalidArgumentError(f"{owner}: argument(s) not recognized: {sorted(kwargs)}")
        self._learning_rate = self._check_learning_rate(learning_rate)
        self.weight_decay = None if weight_decay is None else check_nonnegative("weight_decay", weight_decay, owner)
        given = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm))
                 if v is not None]
        if len(given) > 1:
            raise InvalidArgumentError(
                f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}"
            )
        self.clipnorm = None if clipnorm is None else check_nonnegative("clipnorm", clipnorm, owner)
        self.clipvalue = None if clipvalue is None else check_nonnegative("clipvalue", clipvalue, owner)
        self.global_clipnorm = None if global_clipnorm is None else check_nonnegative("global_clipnorm", global_clipnorm, owner)
        self.use_ema = check_bool("use_ema", use_ema, owner)
        if (isinstance(ema_momentum, bool) or not isinstance(ema_momentum, numbers.Real)
                or not math.isfinite(float(ema_momentum)) or not 0 <= ema_momentum <= 1):
            raise InvalidArgumentError(f"{owner}: argument ema_momentum must be a float in [0, 1], got {ema_momentum!r}")
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = _optional_int("ema_overwrite_frequency", ema_overwrite_frequency, 1, owner)
        if loss_scale_factor is not None:
            loss_scale_factor = check_nonnegative("loss_scale_factor", loss_scale_factor, owner)
            if loss_scale_factor == 0:
                raise InvalidArgumentError(f"{owner}: argument loss_scale_factor must be > 0, got 0")
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = _optional_int("gradient_accumulation_steps", gradient_accumulation_steps, 2,
                                                         owner)
        self._accumulated = 0  # apply calls summed into the accumulators since the last update
        self._ema_started = False  # whether an update has completed (Keras: iterations != 0)
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{owner}: argument name must be a string, got {name!r}")
        self.name = name or type(self)._default_name or owner.lower()
        self.iterations = 0
        self.built = False
        # Keyed by the trained variable's path (``dense_1/kernel``), never by id() or a
        # counter: the same model rebuilt (same layer names) maps onto the same state.
        self._slots: dict[str, dict[str, Variable]] = {}
        self._tracked: dict[str, Variable] = {}
        self._exclude_paths: set[str] = set()
        self._exclude_names: list[str] = []

    # -- learning rate ------------------------------------------------------------------
    def _check_learning_rate(self, value):
        if isinstance(value, schedules_module.LearningRateSchedule):
            return value
        if callable(value) and not isinstance(value, (numbers.Number, str)):
            return value
        return check_nonnegative("learning_rate", value, type(self).__name__)

    @property
    def learning_rate(self) -> float:
        """The rate of the next step: the schedule at ``iterations``, or the constant."""
        return self._current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(self._learning_rate, schedules_module.LearningRateSchedule) and not isinstance(
            value, schedules_module.LearningRateSchedule
        ):
            raise TypeError(
                "This optimizer was created with a LearningRateSchedule as its learning_rate, hence its "
                "learning rate is not settable; pass a new schedule instead"
            )
        self._learning_rate = self._check_learning_rate(value)

    def _current_learning_rate(self) -> float:
        lr = self._learning_rate
        if isinstance(lr, schedules_module.LearningRateSchedule):
            steps = self.gradient_accumulation_steps
            # Keras evaluates a schedule at its raw counter of apply calls.
            value = lr(self.iterations * steps + self._accumulated if steps else self.iterations)
        elif callable(lr):
            value = lr()
        else:
            return lr
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(f"{self.name}: the learning-rate schedule gave {value!r} at step {self.iterations}")
        return value

    # -- slots ----------------------------------------------------------------------------
    def add_variable_from_reference(self, reference_variable: Variable, name: str, initializer="zeros") -> Variable:
        """A slot of ``reference_variable``'s shape and device, filled with ``initializer``
        ("zeros", "ones" or a number), owned by this optimizer.

        Named as Keras 3 names it: ``"<optimizer name>/<reference path with / as _>_<name>"``
        (``adam/dense_1_kernel_momentum``), and keyed by the reference's path."""
        if not isinstance(reference_variable, Variable):
            raise InvalidArgumentError(
                f"{self.name}.add_variable_from_reference: reference_variable must be an ember Variable, "
                f"got {_brief(reference_variable)}"
            )
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{self.name}.add_variable_from_reference: name must be a non-empty string, got {_brief(name)}")
        if isinstance(initializer, str):
            fills = {"zeros": 0.0, "ones": 1.0}
            if initializer not in fills:
                raise InvalidArgumentError(f"{self.name}: unknown slot initializer {initializer!r}; use 'zeros', 'ones' or a number")
            fill = fills[initializer]
        elif isinstance(initializer, bool) or not isinstance(initializer, numbers.Real):
            raise InvalidArgumentError(
                f"{self.name}.add_variable_from_reference: initializer must be 'zeros', 'ones' or a number, got {_brief(initializer)}"
            )
        else:
            fill = float(initializer)
        ref_path = reference_variable.path
        v = Variable(np.full(reference_variable.shape, fill, np.float32), trainable=False,
                     name=f"{self.name}/{ref_path.replace('/', '_')}_{name}", device=reference_variable.device)
        self._slots.setdefault(ref_path, {})[name] = v
        return v

    def slot(self, var: Variable, name: str) -> Variable:
        """The slot ``name`` (``"momentum"``...) of the trained variable ``var``."""
        try:
            return self._slots[var.path][name]
        except (KeyError, TypeError, AttributeError):
            if not isinstance(var, Variable):
                raise InvalidArgumentError(f"{self.name}.slot: var must be an ember Variable, got {_brief(var)}") from None
            raise InvalidArgumentError(f"{self.name}: no slot {name!r} for variable {var.path!r}") from None

    def build(self, var_list: list) -> None:
        """Creates the optimizer state of ``var_list`` (Keras's ``build``). Subclasses call
        ``super().build(var_list)`` and then add their slots; variables already built are
        skipped by `apply`, so building is incremental."""
        seen: dict[str, Variable] = {}
        if isinstance(var_list, (str, bytes, dict)) or not hasattr(var_list, "__iter__"):
            raise InvalidArgumentError(f"{self.name}.build: var_list must be a list of ember Variables, got {_brief(var_list)}")
        var_list = list(var_list)
        for v in var_list:
            if not isinstance(v, Variable):
                raise InvalidArgumentError(f"{self.name}: can only build state for ember Variables, got {type(v).__name__}")
            other = seen.setdefault(v.path, v)
            if other is not v:
                raise InvalidArgumentError(
                    f"{self.name}: two variables share the path {v.path!r}; the optimizer keys its state by path, "
                    "so give them distinct names"
                )
        for v in var_list:
            self._tracked[v.path] = v
            self._slots.setdefault(v.path, {})
            if self.use_ema:
                self.add_variable_from_reference(v, "average")
            if self.gradient_accumulation_steps:
                self.add_variable_from_reference(v, "gradient_accumulator")
        self.built = True

    @property
    def variables(self) -> list:
        """The slot variables, in build order (per trained variable, in slot order)."""
        return [v for slots in self._slots.values() for v in slots.values()]

    # -- state ----------------------------------------------------------------------------
    def _scalar_state(self) -> dict:
        """Host-side scalars that are part of the state besides ``iterations`` (subclasses
        extend the base's dict)."""
        return {"gradient_accumulation_count": self._accumulated} if self.gradient_accumulation_steps else {}

    def _set_scalar_state(self, state: dict) -> None:
        if self.gradient_accumulation_steps:
            count = state["gradient_accumulation_count"]
            if count != int(count) or not 0 <= count < self.gradient_accumulation_steps:
                raise InvalidArgumentError(f"{self.name}: stored gradient_accumulation_count must be an integer in "
                                           f"[0, {self.gradient_accumulation_steps}), got {count!r}")
            self._accumulated = int(count)

    def save_own_variables(self, store: dict) -> None:
        """Writes the state into ``store`` (Keras's layout: string keys "0", "1", ... in
        order): the step counter, any scalar state (Nadam's momentum-cache product), then
        every slot as a float32 numpy array."""
        values = [np.array(self.iterations, np.int64)]
        values += [np.array(v, np.float64) for v in self._scalar_state().values()]
        values += [v.numpy() for v in self.variables]
        if isinstance(store, (str, bytes, list, tuple, np.ndarray)) or not hasattr(store, "__setitem__"):
            raise InvalidArgumentError(f"{self.name}.save_own_variables: store must be a dict, got {_brief(store)}")
        try:
            for i, a in enumerate(values):
                store[str(i)] = a
        except (TypeError, ValueError, IndexError, KeyError) as e:
            raise InvalidArgumentError(f"{self.name}.save_own_variables: cannot write into store ({type(e).__name__}: {e})") from None

    def load_own_variables(self, store: dict) -> None:
        """Restores a state written by `save_own_variables` into an optimizer built for the
        same variables (``optimizer.build(model.trainable_variables)``), checking every
        count and shape."""
        scalars = list(self._scalar_state())
        slots = self.variables
        expected = 1 + len(scalars) + len(slots)
        if isinstance(store, (str, bytes, list, tuple, np.ndarray)) or not hasattr(store, "__getitem__"):
            raise InvalidArgumentError(f"{self.name}.load_own_variables: store must be a dict, got {_brief(store)}")
        try:
            n = len(store)
        except TypeError:
            raise InvalidArgumentError(f"{self.name}.load_own_variables: store must be a dict, got {_brief(store)}") from None
        if n != expected:
            raise InvalidArgumentError(
                f"{self.name}: the stored state has {n} entries but this optimizer expects {expected} "
                f"(build it with the same variables first: optimizer.build(variables))"
            )
        try:
            arrays = [np.asarray(store[str(i)]) for i in range(expected)]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"{self.name}.load_own_variables: store must hold the entries '0'..'{expected - 1}' written by "
                f"save_own_variables ({type(e).__name__}: {e})"
            ) from None
        for i, a in enumerate(arrays):
            if a.dtype.kind not in "biuf" or (i <= len(scalars) and a.size != 1):
                raise InvalidArgumentError(
                    f"{self.name}.load_own_variables: entry {str(i)!r} must be a "
                    f"{'number' if i <= len(scalars) else 'numeric array'}, got {_brief(store[str(i)])}"
                )
        for v, a in zip(slots, arrays[1 + len(scalars):]):
            if a.shape != v.shape:
                raise ShapeError(f"{self.name}: stored state of shape {a.shape} for slot {v.name!r} of shape {v.shape}")
        if not math.isfinite(float(arrays[0].reshape(()))) or float(arrays[0].reshape(())) != int(arrays[0].reshape(())):
            raise InvalidArgumentError(f"{self.name}.load_own_variables: stored iterations must be an integer, got {arrays[0]!r}")
        iterations = int(arrays[0].reshape(()))
        if iterations < 0:
            raise InvalidArgumentError(f"{self.name}: stored iterations must be >= 0, got {iterations}")
        self.iterations = iterations
        self._ema_started = iterations > 0
        self._set_scalar_state({k: float(a) for k, a in zip(scalars, arrays[1:1 + len(scalars)])})
        for v, a in zip(slots, arrays[1 + len(scalars):]):
            v.assign(a.astype(np.float32))

    # -- weight decay ---------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Excludes variables (objects, or any whose name contains one of ``var_names``)
        from weight decay."""
        var_list = self._list_arg("exclude_from_weight_decay", "var_list", var_list)
        var_names = self._list_arg("exclude_from_weight_decay", "var_names", var_names)
        bad = next((v for v in var_list if not isinstance(v, Variable)), None)
        if bad is not None:
            raise InvalidArgumentError(
                f"{self.name}.exclude_from_weight_decay: var_list must hold ember Variables, got {_brief(bad)}"
            )
        bad = next((n for n in var_names if not isinstance(n, str)), None)
        if bad is not None:
            raise InvalidArgumentError(f"{self.name}.exclude_from_weight_decay: var_names must hold strings, got {_brief(bad)}")
        self._exclude_paths.update(v.path for v in var_list)
        self._exclude_names.extend(var_names)

    def _list_arg(self, method: str, arg: str, value) -> list:
        """``value`` (None or an iterable such as a list) as a list, else InvalidArgumentError."""
        if value is None:
            return []
        if isinstance(value, (str, bytes, dict, np.ndarray, Tensor)) or not hasattr(value, "__iter__"):
            raise InvalidArgumentError(f"{self.name}.{method}: {arg} must be a list, got {_brief(value)}")
        return list(value)

    def _use_weight_decay(self, v: Variable) -> bool:
        if v.path in self._exclude_paths:
            return False
        return not any(n in v.name for n in self._exclude_names)

    # -- applying -------------------------------------------------------------------------
    def _untracked(self, variables: list) -> list:
        """The variables with no state yet. A variable whose path is tracked but which is a
        different object (the same model rebuilt: same layer names) takes over that state,
        when the shapes agree."""
        new = []
        seen: dict[str, Variable] = {}
        for v in variables:
            if seen.setdefault(v.path, v) is not v:
                raise InvalidArgumentError(
                    f"{self.name}: two variables share the path {v.path!r}; the optimizer keys its state by path, "
                    "so give them distinct names"
                )
            known = self._tracked.get(v.path)
            if known is None:
                new.append(v)
            elif known is not v:
                for slot in self._slots.get(v.path, {}).values():
                    if slot.shape != v.shape:
                        raise ShapeError(
                            f"{self.name}: variable {v.path!r} of shape {v.shape} does not match the optimizer state "
                            f"of the variable it replaces (slot {slot.name!r} of shape {slot.shape})"
                        )
                self._tracked[v.path] = v
        return new

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
        """One step: clip ``grads``, decay the weights, update ``trainable_variables`` in place."""
        try:
            grads, trainable_variables = list(grads), list(trainable_variables)
        except TypeError:
            raise InvalidArgumentError(
                f"{self.name}.apply: grads and trainable_variables must be lists, got {_brief(grads)} and "
                f"{_brief(trainable_variables)}"
            ) from None
        if len(grads) != len(trainable_variables):
            raise InvalidArgumentError(f"{self.name}: got {len(grads)} gradients for {len(trainable_variables)} variables")
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
            elif g.dtype != "float32":
                g = g.astype("float32")
            pairs.append((g, v))
        if not pairs:
            return self.iterations
        for g, v in pairs:
            if g.shape != v.shape:
                raise ShapeError(f"{self.name}: gradient of shape {g.shape} for variable {v.name!r} of shape {v.shape}")
        dist = self.__dict__.get("_distribution")
        if dist is not None:
            # A distributed fit (ember.distribute): the global batch's gradient, summed over
            # the ranks, before clipping and the update, so every rank applies the same step.
            variables = [v for _, v in pairs]
            pairs = list(zip(dist.reduce_gradients([g for g, _ in pairs], variables), variables))
        new = self._untracked([v for _, v in pairs])
        if new:
            self.build(new)
        with no_grad():
            grads = [g for g, _ in pairs]
            variables = [v for _, v in pairs]
            if self.loss_scale_factor is not None:
                grads = [core.divide(g, self.loss_scale_factor) for g in grads]
            steps = self.gradient_accumulation_steps
            if steps:
                accumulators = [self._slots[v.path]["gradient_accumulator"] for v in variables]
                if self._accumulated + 1 < steps:
                    # Not an update step: sum into the accumulators, the variables unchanged.
                    for g, acc in zip(grads, accumulators):
                        acc.assign(core.add(acc.detach(), g))
                    self._accumulated += 1
                    self._apply_constraints(variables)
                    self._after_apply()
                    return self.iterations
                grads = [core.divide(core.add(g, acc.detach()), float(steps)) for g, acc in zip(grads, accumulators)]
                for acc in accumulators:
                    acc.assign(zeros_like(acc))
            lr = self._current_learning_rate()
            grads = self._clip(grads)
            if not self._fused_weight_decay:
                self._apply_weight_decay(variables, lr)
            self._prepare_step(self.iterations + 1)
            # (an update_step set on the instance itself is honoured, as before)
            rule = self.__dict__.get("update_step") or self._update_step_unchecked
            for g, v in zip(grads, variables):
                rule(g, v, lr)
            self._apply_constraints(variables)
            self._accumulated = 0
            self._after_apply()
        self.iterations += 1
        return self.iterations

    def _after_apply(self) -> None:
        """Keras's end of ``_backend_apply_gradients`` (every apply call, an accumulating
        one too): the moving averages, then every ``ema_overwrite_frequency`` steps the
        variables overwritten by them."""
        if not self.use_ema:
            return
        self._update_ema()
        if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            self._overwrite_with_averages()

    def _apply_weight_decay(self, variables: list, learning_rate: float) -> None:
        """Keras's ``_apply_weight_decay``: ``theta -= theta * weight_decay * lr`` for every
        variable not excluded (optimizers whose kernels fuse the decay skip this)."""
        if not self.weight_decay:
            return
        for v in variables:
            if self._use_weight_decay(v):
                d = v.detach()
                v.assign(core.subtract(d, core.multiply(d, self.weight_decay * learning_rate)))

    @staticmethod
    def _apply_constraints(variables: list) -> None:
        # Keras's BaseOptimizer.apply: each variable's constraint projects it after the update.
        for v in variables:
            constraint = getattr(v, "constraint", None)
            if constraint is not None:
                v.assign(constraint(v.detach()))

    # -- exponential moving average, loss scaling -------------------------------------------
    def _ema_pairs(self) -> list:
        """(variable, average) for every tracked variable, in build order."""
        return [(self._tracked[p], slots["average"]) for p, slots in self._slots.items()
                if "average" in slots and p in self._tracked]

    def _update_ema(self) -> None:
        """Keras's ``_update_model_variables_moving_average``: ``average = m * average +
        (1 - m) * variable`` over every tracked variable, with m = 0 before the first
        completed update (so the average starts at the variable)."""
        if not self.use_ema:
            return
        # A plain host flag rather than a comparison of ``iterations`` (which a compiled
        # step traces as a symbolic number).
        m = self.ema_momentum if self._ema_started else 0.0
        for v, avg in self._ema_pairs():
            avg.assign(core.add(core.multiply(avg.detach(), m), core.multiply(v.detach(), 1.0 - m)))
        if self._accumulated == 0:  # a completed update (always, without accumulation)
            self._ema_started = True

    def _overwrite_with_averages(self, var_list=None) -> None:
        pairs = self._ema_pairs()
        if var_list is not None:
            by_path = {v.path: avg for v, avg in pairs}
            pairs = [(v, by_path[v.path]) for v in var_list if isinstance(v, Variable) and v.path in by_path]
        for v, avg in pairs:
            v.assign(avg.detach())

    def finalize_variable_values(self, var_list) -> None:
        """Sets the final values of ``var_list`` (Keras's method, which ``Model.fit`` calls
        when it ends): with ``use_ema``, each variable takes its moving average; otherwise
        nothing changes."""
        var_list = self._list_arg("finalize_variable_values", "var_list", var_list)
        bad = next((v for v in var_list if not isinstance(v, Variable)), None)
        if bad is not None:
            raise InvalidArgumentError(f"{self.name}.finalize_variable_values: var_list must hold ember Variables, "
                                       f"got {_brief(bad)}")
        if self.use_ema:
            with no_grad():
                self._overwrite_with_averages(var_list)

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (``loss`` unchanged when it is None): what a training
        step differentiates; `apply` divides the gradients by the factor again."""
        if self.loss_scale_factor is None:
            return loss
        if not isinstance(loss, Tensor):
            if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
                raise InvalidArgumentError(f"{self.name}.scale_loss: loss must be a Tensor or a number, got {_brief(loss)}")
            return float(loss) * self.loss_scale_factor
        return core.multiply(loss, self.loss_scale_factor)

    def _untraceable_reason(self) -> str | None:
        """Why a compiled step cannot replay this optimizer's `apply` (its kernels depend
        on host counters), or None."""
        if self.gradient_accumulation_steps:
            return f"optimizer {self.name!r} accumulates gradients (gradient_accumulation_steps)"
        if self.use_ema and self.ema_overwrite_frequency:
            return f"optimizer {self.name!r} overwrites the weights every ema_overwrite_frequency steps"
        return None

    def _decay(self, variable: Variable, learning_rate: float) -> float:
        """The factor ``weight_decay * lr`` that the built-in optimizers' fused kernels apply
        as ``theta -= theta * factor`` before their update (0 when off or excluded)."""
        if not self.weight_decay or not self._use_weight_decay(variable):
            return 0.0
        return self.weight_decay * learning_rate

    def _prepare_step(self, t: int) -> None:
        """Per-step (not per-variable) state updates before the rules run (Nadam's product)."""

    def _clip(self, grads: list) -> list:
        # As Keras: a clipping argument of 0 is off.
        if self.clipvalue:
            return [core.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm:
            # g * c / max(||g||, c) (keras.ops.clip_by_norm): unchanged below the limit.
            return [core.divide(core.multiply(g, self.clipnorm), core.maximum(core.sqrt(core.sum(core.square(g))), self.clipnorm))
                    for g in grads]
        if self.global_clipnorm:
            c = self.global_clipnorm
            sq = [core.sum(core.square(g)) for g in grads]
            total = sq[0]
            for s in sq[1:]:
                total = core.add(total, s)
            norm = core.sqrt(total)
            # Keras's clip_by_global_norm scale c * min(1 / norm, 1 / c), written as
            # c / max(norm, c) so that a zero norm divides nothing by zero, and made NaN by a
            # non-finite norm (+ (norm - norm)) as in Keras.
            scale = core.add(core.divide(c, core.maximum(norm, c)), core.subtract(norm, norm))
            return [core.multiply(g, scale) for g in grads]
        return grads

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: float) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_step")

    _update_step_unchecked = update_step

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, schedules_module.LearningRateSchedule):
            lr = _serialization.serialize_keras_object(lr)
        elif callable(lr):
            lr = self._current_learning_rate()
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        if not isinstance(config, dict):
            raise InvalidArgumentError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules_module.deserialize(config["learning_rate"], custom_objects)
        try:
            return cls(**config)
        except TypeError as e:
            raise InvalidArgumentError(f"{cls.__name__}.from_config: {e}") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate:g} iterations={self.iterations}>"
