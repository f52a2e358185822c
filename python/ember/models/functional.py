"""`Functional`: a model defined by a graph of layer calls, ``Model(inputs, outputs)``.

Building it walks back from the output KerasTensors through each tensor's
``_keras_history`` to the inputs, keeping the nodes in topological order. Calling it
runs those nodes in order on real tensors; called on KerasTensors (a model used as a
layer of another model) it records one node, as any layer does. Inputs and outputs may
be single tensors, lists or dicts (Keras 3's ``keras/src/models/functional.py``).
"""

from __future__ import annotations

from .. import tree
from ..errors import InvalidArgumentError, SerializationError, ShapeError
from ..keras_tensor import KerasTensor
from ..layers.input_spec import InputSpec
from ..layers.layer import Layer
from ..tensor import Tensor
from .model import Model

__all__ = ["Functional"]


class Functional(Model):
    """A model whose layers form a directed acyclic graph.

    Args:
        inputs: the model's input KerasTensors (from ``keras.Input``): one, a list or a
            dict.
        outputs: the KerasTensors it computes from them: one, a list or a dict.
        name: the model's name.

    Example:
        >>> import ember as em
        >>> inputs = em.Input((4,))
        >>> x = em.layers.Dense(8, activation="relu")(inputs)
        >>> model = em.Model(inputs, em.layers.Dense(2)(x))
        >>> model.count_params(), model.output_shape
        (58, (None, 2))
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and isinstance(inputs[0], KerasTensor) and not isinstance(inputs, dict):
            pass  # a one-element list stays a list: the model is then called with a list, as in Keras
        flat_inputs = tree.flatten(inputs)
        flat_outputs = tree.flatten(outputs)
        for what, flat in (("inputs", flat_inputs), ("outputs", flat_outputs)):
            if not flat:
                raise InvalidArgumentError(f"Model: {what} must not be empty")
            for t in flat:
                if not isinstance(t, KerasTensor):
                    raise InvalidArgumentError(
                        f"Model: all {what} must be KerasTensors (from keras.Input and layer calls on them), "
                        f"got {type(t).__name__}. To build a model from layers, call them on keras.Input(...) first."
                    )
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = flat_inputs
        self._outputs = flat_outputs
        self._nodes, layers = _map_graph(flat_inputs, flat_outputs)
        object.__setattr__(self, "_layers", layers)
        self._input_names = [t._keras_history.operation.name if t._keras_history is not None else t.name for t in flat_inputs]
        self.input_spec = [InputSpec(shape=(None,) + tuple(t.shape[1:]), allow_last_axis_squeeze=True) for t in flat_inputs]
        self._plan = _plan(self._nodes)
        self.built = True
        if len(flat_inputs) == 1:
            self.input_shape_ = flat_inputs[0].shape
            self._build_shapes = flat_inputs[0].shape
        if len(flat_outputs) == 1:
            self.output_shape_ = flat_outputs[0].shape
        for layer in layers:
            if layer._device is None or layer._device != self.device:
                layer._device = self.device

    # -- the graph's public face ------------------------------------------------------------
    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = tree.map_structure(lambda t: t.shape, self._inputs_struct)
        return shapes

    @property
    def output_shape(self):
        return tree.map_structure(lambda t: t.shape, self._outputs_struct)

    @property
    def output_names(self) -> list[str]:
        if isinstance(self._outputs_struct, dict):
            return sorted(self._outputs_struct)
        return [t._keras_history.operation.name for t in self._outputs]

    @property
    def input_names(self) -> list[str]:
        if isinstance(self._inputs_struct, dict):
            return sorted(self._inputs_struct)
        return list(self._input_names)

    def build(self, input_shape=None) -> None:
        self.built = True

    # -- running the graph ------------------------------------------------------------------
    def _convert_inputs(self, inputs):
        """The call's inputs lined up with the model's (dicts by name, lists in order),
        each converted to its Input's dtype on the model's device."""
        flat = self._standardize(inputs)
        out = []
        for t, spec in zip(flat, self._inputs):
            if t is None:
                out.append(None)
                continue
            if not isinstance(t, Tensor):
                from ..layers.layer import _input_tensor

                t = _input_tensor(t, self.name, self, spec.dtype == "float32")
            if t.dtype != spec.dtype:
                from ..ops import core

                t = core.cast(t, spec.dtype)
            out.append(t)
        return out

    def _standardize(self, inputs) -> list:
        struct = self._inputs_struct
        n = len(self._inputs)
        if isinstance(inputs, dict):
            if isinstance(struct, dict):
                missing = [k for k in struct if k not in inputs]
                if missing:
                    raise InvalidArgumentError(f"{self.name}: missing inputs {missing}; the model takes {sorted(struct)}")
                return tree.flatten({k: inputs[k] for k in struct})
            names = self._input_names
            if all(k in inputs for k in names):
                return [inputs[k] for k in names]
            raise InvalidArgumentError(
                f"{self.name}: the inputs are a dict with keys {sorted(inputs)}, but the model's inputs are named {names}"
            )
        if n == 1:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and isinstance(inputs[0], (Tensor, KerasTensor)) or (
                isinstance(inputs, (list, tuple)) and len(inputs) == 1 and hasattr(inputs[0], "shape")
            ):
                return [inputs[0]]
            return [inputs]
        if not isinstance(inputs, (list, tuple)) or len(inputs) != n:
            got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ShapeError(
                f'Layer "{self.name}" expects {n} input(s), but it received {got} input tensors '
                f"(the model's inputs: {self.input_names})"
            )
        return list(inputs)

    def __call__(self, *args, **kwargs):
        if args and not isinstance(args[0], (KerasTensor, Tensor)) and not _has_keras_tensor(args[0]):
            # Host data (numpy, lists, dicts of them) is lined up and converted first, so
            # the base call sees the model's input structure.
            args = (self._convert_inputs(args[0]),) + args[1:]
        return super().__call__(*args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        flat = inputs if isinstance(inputs, list) and len(inputs) == len(self._inputs) else self._convert_inputs(inputs)
        return self._run(flat, symbolic=False)

    def _run(self, flat_inputs: list, symbolic: bool):
        values = {id(kt): v for kt, v in zip(self._inputs, flat_inputs)}
        for op, single, args, kwargs, in_ids, out_ids in self._plan:
            try:
                if single is not None:
                    x = values[single]
                    if symbolic:
                        out = op.compute_output_spec(x, **kwargs)
                    else:
                        out = op(x, **kwargs)
                else:
                    a = tree.map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t, args)
                    k = tree.map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t, kwargs) if kwargs else {}
                    if symbolic:
                        k = {n: v for n, v in k.items() if n not in ("training", "mask")}
                        out = op.compute_output_spec(*a, **k)
                    else:
                        out = op(*a, **k)
            except KeyError:
                raise InvalidArgumentError(f"{self.name}: an input of layer {op.name!r} was not computed (an optional input was None?)") from None
            if len(out_ids) == 1:
                values[out_ids[0]] = out
            else:
                for i, v in zip(out_ids, tree.flatten(out)):
                    values[i] = v
        flat_out = [values[id(t)] for t in self._outputs]
        return tree.pack_sequence_as(self._outputs_struct, flat_out) if tree.is_nested(self._outputs_struct) else flat_out[0]

    def compute_output_spec(self, *args, **kwargs):
        inputs = args[0]
        flat = self._standardize(inputs)
        return self._run(flat, symbolic=True)

    def compute_output_shape(self, input_shape):
        if tree.is_nested(input_shape) and not all(d is None or isinstance(d, int) for d in input_shape):
            shapes = input_shape
        else:
            shapes = input_shape
        flat_shapes = self._standardize(shapes) if not (len(self._inputs) == 1) else [shapes]
        spec = self._run([KerasTensor(s, dtype=t.dtype) for s, t in zip(flat_shapes, self._inputs)], symbolic=True)
        return tree.map_structure(lambda t: t.shape, spec)

    # -- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from ..saving import serialize_keras_object

        node_index = _kept_node_indices(self._nodes, self._layers)
        layer_configs = []
        for layer in self._layers:
            entry = serialize_keras_object(layer)
            entry["name"] = layer.name
            inbound = []
            for node in layer._inbound_nodes:
                if id(node) not in node_index or node.is_input:
                    continue
                inbound.append({
                    "args": _serialize_args(node.call_args, node_index),
                    "kwargs": _serialize_args(node.call_kwargs, node_index),
                })
            entry["inbound_nodes"] = inbound
            layer_configs.append(entry)

        def ref(t):
            op, ni, ti = t._keras_history
            return [op.name, node_index.get(id(op._inbound_nodes[ni]), 0), ti]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layer_configs,
            "input_layers": tree.map_structure(ref, self._inputs_struct) if tree.is_nested(self._inputs_struct) else ref(self._inputs_struct),
            "output_layers": tree.map_structure(ref, self._outputs_struct) if tree.is_nested(self._outputs_struct) else ref(self._outputs_struct),
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from ..saving import deserialize_keras_object

        if not isinstance(config, dict) or "layers" not in config:
            raise SerializationError("Functional.from_config: the config has no 'layers' list")
        created: dict[str, Layer] = {}
        pending: list = []
        for entry in config["layers"]:
            try:
                name = entry["name"]
            except (TypeError, KeyError):
                raise SerializationError(f"Functional.from_config: malformed layer entry {entry!r}") from None
            spec = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
            layer = deserialize_keras_object(spec, custom_objects=custom_objects)
            if not isinstance(layer, Layer):
                raise SerializationError(f"Functional.from_config: entry {name!r} is not a layer")
            created[name] = layer
            pending.extend((layer, node) for node in entry.get("inbound_nodes", []))
        # Keras's rule: process nodes whose inputs exist, until none is left.
        outputs_of: dict[str, list] = {}
        for name, layer in created.items():
            if layer._inbound_nodes and layer._inbound_nodes[0].is_input:
                outputs_of[name] = [layer._inbound_nodes[0].outputs]
        while pending:
            progress = False
            rest = []
            for layer, node in pending:
                try:
                    args = _deserialize_args(node.get("args", []), outputs_of)
                    kwargs = _deserialize_args(node.get("kwargs", {}), outputs_of)
                except _NotYet:
                    rest.append((layer, node))
                    continue
                out = layer(*args, **kwargs)
                outputs_of.setdefault(layer.name, []).append(out)
                progress = True
            if not progress:
                raise SerializationError(
                    f"Functional.from_config: the graph cannot be rebuilt: layers {[l.name for l, _ in rest]} "
                    "wait on inputs that no layer produces"
                )
            pending = rest

        def tensor_of(ref):
            name, ni, ti = ref
            try:
                return tree.flatten(outputs_of[name][ni])[ti]
            except (KeyError, IndexError):
                raise SerializationError(f"Functional.from_config: unknown tensor {ref!r}") from None

        def refs(spec):
            if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
                return tensor_of(spec)
            if isinstance(spec, dict):
                return {k: refs(v) for k, v in spec.items()}
            if isinstance(spec, list):
                return [refs(v) for v in spec]
            raise SerializationError(f"Functional.from_config: malformed tensor reference {spec!r}")

        inputs = refs(config["input_layers"])
        outputs = refs(config["output_layers"])
        return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


class _NotYet(Exception):
    pass


def _has_keras_tensor(x) -> bool:
    return any(isinstance(t, KerasTensor) for t in tree.flatten(x)) if tree.is_nested(x) else isinstance(x, KerasTensor)


def _serialize_args(x, node_index: dict):
    if isinstance(x, KerasTensor):
        op, ni, ti = x._keras_history
        return {"class_name": "__keras_tensor__", "config": {
            "shape": list(x.shape), "dtype": x.dtype,
            "keras_history": [op.name, node_index.get(id(op._inbound_nodes[ni]), 0), ti]}}
    if isinstance(x, dict):
        return {k: _serialize_args(v, node_index) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_serialize_args(v, node_index) for v in x]
    return x


def _deserialize_args(x, outputs_of: dict):
    if isinstance(x, dict):
        if x.get("class_name") == "__keras_tensor__":
            name, ni, ti = x["config"]["keras_history"]
            made = outputs_of.get(name, [])
            if ni >= len(made):
                raise _NotYet()
            return tree.flatten(made[ni])[ti]
        return {k: _deserialize_args(v, outputs_of) for k, v in x.items()}
    if isinstance(x, list):
        return [_deserialize_args(v, outputs_of) for v in x]
    return x


def _kept_node_indices(nodes: list, layers: list) -> dict:
    """Per layer, the position of each of its nodes among those inside this model
    (a shared layer may have nodes in other models too)."""
    inside = {id(n) for n in nodes}
    out = {}
    for layer in layers:
        k = 0
        for node in layer._inbound_nodes:
            if id(node) in inside:
                out[id(node)] = k
                k += 1
    return out


def _map_graph(inputs: list, outputs: list) -> tuple[list, list]:
    """The nodes between ``inputs`` and ``outputs`` in topological order (input layers'
    nodes first), and the layers they call, each once."""
    input_ids = {id(t) for t in inputs}
    order: list = []
    visited: set = set()
    # Iterative post-order DFS over nodes, from each output back to the inputs.
    for out in outputs:
        if id(out) in input_ids:
            continue
        if out._keras_history is None:
            raise InvalidArgumentError(f"Model: output {out!r} was not produced by a layer call on the inputs")
        stack = [(out._keras_history.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for t in node.input_tensors:
                if id(t) in input_ids:
                    continue
                hist = t._keras_history
                if hist is None or hist.node.is_input:
                    accessed = [n.operation.name for n in order]
                    raise InvalidArgumentError(
                        f"Graph disconnected: cannot find parent for tensor {t!r} at layer "
                        f"{node.operation.name!r}: it is not one of the model's inputs. "
                        f"The following previous layers were accessed without issue: {accessed}"
                    )
                if id(hist.node) not in visited:
                    stack.append((hist.node, False))
    layers: list = []
    seen: set = set()
    for t in inputs:
        if t._keras_history is not None:
            op = t._keras_history.operation
            if id(op) not in seen:
                seen.add(id(op))
                layers.append(op)
    for node in order:
        if id(node.operation) not in seen:
            seen.add(id(node.operation))
            layers.append(node.operation)
    return order, layers


def _plan(nodes: list) -> list:
    """Per node, what running it needs, precomputed so a call does little Python: the
    operation, the id of its single plain input (or None), its args and kwargs, and
    the ids of its outputs."""
    plan = []
    for node in nodes:
        single = None
        if len(node.call_args) == 1 and isinstance(node.call_args[0], KerasTensor) and not any(
            isinstance(t, KerasTensor) for t in tree.flatten(node.call_kwargs)
        ):
            single = id(node.call_args[0])
        plan.append((node.operation, single, node.call_args, node.call_kwargs,
                     [id(t) for t in node.input_tensors], [id(t) for t in node.output_tensors]))
    return plan
