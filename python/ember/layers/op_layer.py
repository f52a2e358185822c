"""`OpLayer`: an ``ember.ops`` call on KerasTensors, as a node of the layer graph.

In a functional model, ``ops.concatenate([a, b], axis=-1)`` or ``x * 2.0`` on symbolic
tensors records the op with its arguments (Keras 3 turns every operation into a node
the same way); running the model replays it on real tensors. Output shapes come from
running the op once on placeholders.
"""

from __future__ import annotations

from typing import Callable

from .layer import Layer, unique_name

__all__ = ["OpLayer"]


class OpLayer(Layer):
    """A layer that applies ``fn(*args, **kwargs)``; it has no weights."""

    def __init__(self, fn: Callable, op_name: str, **kwargs):
        super().__init__(name=kwargs.pop("name", None) or unique_name(op_name), **kwargs)
        self.fn = fn
        self.op_name = op_name
        self.built = True

    def __call__(self, *args, **kwargs):
        # The op's own arguments (``training`` is not one) are recorded as given.
        return super().__call__(*args, **kwargs)

    def _convert_inputs(self, inputs):
        return inputs  # the op converts its own arguments

    def call(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        return self._infer_output_spec(args, kwargs)

    def get_config(self):
        return {**super().get_config(), "op": self.op_name}
