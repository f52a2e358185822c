"""`MultiOptimizer` and `OptimizerMap`: different optimizers for different variables
(Keras 3's ``keras/src/optimizers/multi_optimizer.py``)."""

from __future__ import annotations

import re
from collections.abc import MutableMapping

import numpy as np

from ..errors import InvalidArgumentError
from ..saving import serialization_lib as _serialization
from ..tensor import Variable
from .base import Optimizer, _brief


class OptimizerMap(MutableMapping):
    """Maps variable paths to optimizers (Keras 3's ``keras.optimizers.OptimizerMap``): a
    key is an exact path (``"dense/kernel"``) or a regular expression matched against the
    whole path (``"encoder/.*"``); a path no key matches goes to ``default_optimizer``, and
    one that several patterns match is an error. Calling the map on a variable gives its
    optimizer.

    Args:
        default_optimizer: the `Optimizer` of the unmatched variables.
        optimizer_map: an optional dict ``{key: Optimizer}``.

    Example:
        >>> import ember as em
        >>> m = em.optimizers.OptimizerMap(em.optimizers.SGD(), {"enc/.*": em.optimizers.Adam()})
        >>> m["enc/dense/kernel"].name, m["dec/dense/kernel"].name
        ('adam', 'SGD')
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer) or isinstance(default_optimizer, MultiOptimizer):
            raise InvalidArgumentError(f"OptimizerMap: default_optimizer must be an ember Optimizer instance, got "
                                       f"{_brief(default_optimizer)}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise InvalidArgumentError(f"OptimizerMap: optimizer_map must be a dictionary, got {_brief(optimizer_map)}")
        self._default_optimizer = default_optimizer
        self._optimizer_map: dict = {}
        for key, opt in (optimizer_map or {}).items():
            self[key] = opt

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        if not isinstance(key, str):
            raise InvalidArgumentError(f"OptimizerMap: keys are variable paths (strings), got {_brief(key)}")
        matching = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise InvalidArgumentError(f"OptimizerMap: multiple optimizers assigned to variable {key!r} (patterns "
                                       f"{matching})")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if not isinstance(key, str):
            raise InvalidArgumentError(f"OptimizerMap: key must be a string, got {_brief(key)}")
        try:
            re.compile(key)
        except re.error as e:
            raise InvalidArgumentError(f"OptimizerMap: key {key!r} is not a valid regular expression ({e})") from None
        if key in self._optimizer_map:
            raise InvalidArgumentError(f"OptimizerMap: {key!r} already exists in the OptimizerMap with value "
                                       f"{self._optimizer_map[key]!r}; do not use duplicated keys")
        if not isinstance(optimizer, Optimizer):
            raise InvalidArgumentError(f"OptimizerMap: optimizer must be an ember Optimizer instance, got "
                                       f"{_brief(optimizer)}")
        if isinstance(optimizer, MultiOptimizer):
            raise InvalidArgumentError("OptimizerMap: optimizer cannot be a MultiOptimizer")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        if not isinstance(variable, Variable):
            raise InvalidArgumentError(f"OptimizerMap: expected an ember Variable, got {_brief(variable)}")
        return self[variable.path]

    def get_config(self):
        return {"default_optimizer": _serialization.serialize_keras_object(self._default_optimizer),
                "optimizer_map": _serialization.serialize_keras_object(self._optimizer_map)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if not isinstance(config, dict) or "default_optimizer" not in config:
            raise InvalidArgumentError("OptimizerMap.from_config: expected a dict with 'default_optimizer'")
        default = _serialization.deserialize_keras_object(config["default_optimizer"], custom_objects=custom_objects)
        mapping = _serialization.deserialize_keras_object(config.get("optimizer_map") or {},
                                                          custom_objects=custom_objects)
        return cls(default, mapping)


class _NoLearningRate(InvalidArgumentError, AttributeError):
    """A MultiOptimizer has no learning rate (an AttributeError too, as in Keras, so
    ``getattr(opt, "learning_rate", None)`` is None)."""


class MultiOptimizer(Optimizer):
    """Delegates each variable to its own optimizer (Keras 3's
    ``keras.optimizers.MultiOptimizer``): ``optimizer_map`` is an `OptimizerMap` or a
    callable ``f(variable) -> Optimizer``; each step hands every inner optimizer its
    variables' gradients (each keeps its own state, rate and step counter). The
    MultiOptimizer has no learning rate of its own; ``optimizers`` lists the inner ones.
    A compiled training step runs eagerly with it.

    Args:
        optimizer_map: an `OptimizerMap`, or a callable returning the `Optimizer` of a
            variable.
        loss_scale_factor: overrides the inner optimizers' factor (see `Optimizer`).
        name: the optimizer's name.

    Example:
        >>> import ember as em
        >>> a, b = em.Variable([1.0], name="enc/w"), em.Variable([1.0], name="dec/w")
        >>> opt = em.optimizers.MultiOptimizer(em.optimizers.OptimizerMap(em.optimizers.SGD(0.5),
        ...                                                               {"enc/.*": em.optimizers.SGD(0.1)}))
        >>> _ = opt.apply([em.tensor([1.0]), em.tensor([1.0])], [a, b]); a.numpy().tolist(), b.numpy().tolist()
        ([0.8999999761581421], [0.5])
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        if not callable(optimizer_map):
            raise InvalidArgumentError(f"MultiOptimizer: optimizer_map must be an OptimizerMap or a callable, got "
                                       f"{_brief(optimizer_map)}")
        self._optimizer_map = optimizer_map
        self._inner_optimizers: list = []
        if isinstance(optimizer_map, OptimizerMap):
            for opt in list(optimizer_map.values()) + [optimizer_map.default_optimizer]:
                self._add_inner(opt)
        self._var_to_opt: dict = {}

    def _add_inner(self, opt) -> None:
        if not any(o is opt for o in self._inner_optimizers):
            opt.loss_scale_factor = self.loss_scale_factor
            self._inner_optimizers.append(opt)

    @property
    def optimizers(self) -> list:
        """The inner optimizers."""
        return list(self._inner_optimizers)

    @property
    def learning_rate(self):
        raise _NoLearningRate("Learning rate cannot be accessed on a MultiOptimizer; access it on the individual "
                                   "sub-optimizers instead (optimizer.optimizers)")

    @learning_rate.setter
    def learning_rate(self, value):
        raise _NoLearningRate("Learning rate cannot be set on a MultiOptimizer; set it on the individual "
                                   "sub-optimizers instead (optimizer.optimizers)")

    def _optimizer_of(self, v):
        opt = self._var_to_opt.get(v.path)
        if opt is None:
            opt = self._optimizer_map(v)
            if not isinstance(opt, Optimizer):
                raise InvalidArgumentError(f"{self.name}: the optimizer for variable {v.path!r} is not an ember "
                                           f"Optimizer instance, got {_brief(opt)}")
            if isinstance(opt, MultiOptimizer):
                raise InvalidArgumentError("MultiOptimizer cannot be used inside a MultiOptimizer")
            self._add_inner(opt)
            self._var_to_opt[v.path] = opt
        return opt

    def build(self, var_list):
        super().build(var_list)
        groups: dict = {}
        for v in var_list:
            groups.setdefault(id(self._optimizer_of(v)), (self._optimizer_of(v), []))[1].append(v)
        for opt, variables in groups.values():
            opt.build([v for v in variables if v.path not in opt._tracked])

    @property
    def variables(self) -> list:
        return [v for opt in self._inner_optimizers for v in opt.variables]

    def apply(self, grads, trainable_variables):
        from .. import compiled

        tr = compiled._active[0]
        if tr is not None and tr.untraceable is None:
            tr.untraceable = f"optimizer {self.name!r} is a MultiOptimizer"
        try:
            grads, trainable_variables = list(grads), list(trainable_variables)
        except TypeError:
            raise InvalidArgumentError(f"{self.name}.apply: grads and trainable_variables must be lists") from None
        if len(grads) != len(trainable_variables):
            raise InvalidArgumentError(f"{self.name}: got {len(grads)} gradients for {len(trainable_variables)} "
                                       "variables")
        bad = next((v for v in trainable_variables if not isinstance(v, Variable)), None)
        if bad is not None:
            raise InvalidArgumentError(f"{self.name}: can only update ember Variables, got {type(bad).__name__}")
        groups: dict = {}
        for g, v in zip(grads, trainable_variables):
            opt = self._optimizer_of(v)
            entry = groups.setdefault(id(opt), (opt, [], []))
            entry[1].append(g)
            entry[2].append(v)
        for v in trainable_variables:
            self._tracked.setdefault(v.path, v)
        self.built = True
        for opt, gs, vs in groups.values():
            opt.apply(gs, vs)
        self.iterations += 1
        return self.iterations

    def finalize_variable_values(self, var_list) -> None:
        var_list = self._list_arg("finalize_variable_values", "var_list", var_list)
        groups: dict = {}
        for v in var_list:
            if isinstance(v, Variable) and v.path in self._var_to_opt:
                opt = self._var_to_opt[v.path]
                groups.setdefault(id(opt), (opt, []))[1].append(v)
        for opt, vs in groups.values():
            opt.finalize_variable_values(vs)

    def _untraceable_reason(self):
        return f"optimizer {self.name!r} is a MultiOptimizer"

    def _scalar_state(self) -> dict:
        """Each inner optimizer's step counter and scalar state (so the base class's
        `save_own_variables` / `load_own_variables` hold every inner state: the counters
        and scalars first, then every inner slot)."""
        out = {}
        for i, opt in enumerate(self._inner_optimizers):
            out[f"optimizer_{i}/iterations"] = float(opt.iterations)
            for k, v in opt._scalar_state().items():
                out[f"optimizer_{i}/{k}"] = v
        return out

    def _set_scalar_state(self, state: dict) -> None:
        for i, opt in enumerate(self._inner_optimizers):
            iterations = state[f"optimizer_{i}/iterations"]
            if iterations != int(iterations) or iterations < 0:
                raise InvalidArgumentError(f"{self.name}: stored iterations of optimizer {i} must be an integer >= 0, "
                                           f"got {iterations!r}")
            opt.iterations = int(iterations)
            opt._ema_started = opt.iterations > 0
            inner = {k: state[f"optimizer_{i}/{k}"] for k in opt._scalar_state()}
            if inner:
                opt._set_scalar_state(inner)

    def get_config(self):
        return {"name": self.name, "loss_scale_factor": self.loss_scale_factor,
                "optimizer_map": _serialization.serialize_keras_object(self._optimizer_map)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if not isinstance(config, dict) or "optimizer_map" not in config:
            raise InvalidArgumentError("MultiOptimizer.from_config: expected a dict with 'optimizer_map'")
        mapping = _serialization.deserialize_keras_object(config["optimizer_map"], custom_objects=custom_objects)
        return cls(mapping, loss_scale_factor=config.get("loss_scale_factor"), name=config.get("name"))

    def __repr__(self) -> str:
        return f"<MultiOptimizer name={self.name!r} optimizers={[o.name for o in self._inner_optimizers]}>"


__all__ = ["MultiOptimizer", "OptimizerMap"]
