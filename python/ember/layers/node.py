"""`Node`: one call of a layer on KerasTensors, the edge list of the layer graph.

A node keeps the call's arguments as given (KerasTensors inside any structure, plus
plain values such as ``axis=1`` or ``training=True``) and its output KerasTensors. Each
output records ``(layer, node_index, tensor_index)`` in its ``_keras_history``, so a
`Functional` model walks back from its outputs to its inputs (Keras 3's
``keras/src/ops/node.py``).
"""

from __future__ import annotations

from .. import tree
from ..keras_tensor import KerasHistory, KerasTensor

__all__ = ["Node"]


class Node:
    """A call ``operation(*call_args, **call_kwargs) -> outputs`` on symbolic tensors."""

    def __init__(self, operation, call_args: tuple = (), call_kwargs: dict | None = None, outputs=None):
        self.operation = operation
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.outputs = outputs
        self.input_tensors = [t for t in tree.flatten((self.call_args, self.call_kwargs)) if isinstance(t, KerasTensor)]
        self.output_tensors = [t for t in tree.flatten(outputs) if isinstance(t, KerasTensor)] if outputs is not None else []
        # Inputs that are plain KerasTensors with no history (made by hand) belong to no
        # layer; only Input() tensors and layer outputs carry one.
        self.parent_nodes = [t._keras_history.node for t in self.input_tensors if t._keras_history is not None]
        self.is_input = not self.input_tensors
        node_index = len(operation._inbound_nodes)
        operation._inbound_nodes.append(self)
        for t in self.input_tensors:
            if t._keras_history is not None:
                t._keras_history.operation._outbound_nodes.append(self)
        for i, t in enumerate(self.output_tensors):
            t._keras_history = KerasHistory(operation, node_index, i)

    def __repr__(self) -> str:
        return f"<Node {self.operation.name}: {len(self.input_tensors)} inputs -> {len(self.output_tensors)} outputs>"
