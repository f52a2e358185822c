"""`clone_model`: a new model with the same architecture and new layers (Keras 3's
``keras.models.clone_model``)."""

from __future__ import annotations

from .. import tree
from ..errors import InvalidArgumentError
from ..keras_tensor import KerasTensor
from ..layers.core import Input, InputLayer
from ..layers.layer import Layer
from .functional import Functional
from .model import Model
from .sequential import Sequential


def _default_clone(layer: Layer) -> Layer:
    return type(layer).from_config(layer.get_config())


def _cloner(clone_function, recursive: bool, call_function):
    """``layer -> new layer``, memoized (a shared layer is cloned once)."""
    made: dict = {}

    def clone(layer):
        new = made.get(id(layer))
        if new is not None:
            return new
        if recursive and isinstance(layer, (Sequential, Functional)):
            new = clone_model(layer, clone_function=clone_function, call_function=call_function, recursive=True)
        else:
            new = clone_function(layer)
            if not isinstance(new, Layer):
                raise InvalidArgumentError(f"clone_model: clone_function must return a Layer, got "
                                           f"{type(new).__name__} for layer {layer.name!r}")
        made[id(layer)] = new
        return new

    return clone


def _new_input(t: KerasTensor) -> KerasTensor:
    op = t._keras_history.operation if t._keras_history is not None else None
    name = op.name if isinstance(op, InputLayer) else t.name
    return Input(batch_shape=t.shape, dtype=t.dtype, name=name)


def _clone_functional(model: Functional, input_tensors, clone, call_function) -> Functional:
    mapping: dict = {}
    inputs = model._inputs
    if input_tensors is not None:
        given = tree.flatten(input_tensors)
        if len(given) != len(inputs):
            raise InvalidArgumentError(f"clone_model: input_tensors must match the model's {len(inputs)} inputs, got "
                                       f"{len(given)}")
        for t, g in zip(inputs, given):
            if not isinstance(g, KerasTensor):
                raise InvalidArgumentError(f"clone_model: input_tensors must be KerasTensors (keras.Input), got "
                                           f"{type(g).__name__}")
            mapping[id(t)] = g
    else:
        for t in inputs:
            mapping[id(t)] = _new_input(t)

    def swap(x):
        if isinstance(x, KerasTensor):
            new = mapping.get(id(x))
            if new is None:
                raise InvalidArgumentError(f"clone_model: the graph reaches {x!r}, which no earlier layer produced")
            return new
        return x

    for node in model._nodes:
        if node.is_input:
            continue
        layer = clone(node.operation)
        args = tree.map_structure(swap, node.call_args)
        kwargs = tree.map_structure(swap, node.call_kwargs)
        out = call_function(layer, *args, **kwargs) if call_function is not None else layer(*args, **kwargs)
        old_flat, new_flat = tree.flatten(node.outputs), tree.flatten(out)
        if len(old_flat) != len(new_flat):
            raise InvalidArgumentError(f"clone_model: the clone of layer {node.operation.name!r} returned "
                                       f"{len(new_flat)} outputs where the original returned {len(old_flat)}")
        for a, b in zip(old_flat, new_flat):
            mapping[id(a)] = b
    new_inputs = tree.map_structure(swap, model._inputs_struct) if input_tensors is None else input_tensors
    new_outputs = tree.map_structure(swap, model._outputs_struct)
    return Functional(new_inputs, new_outputs, name=model.name)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with ``model``'s architecture and newly initialized layers (Keras 3's
    ``keras.models.clone_model``): each layer is recreated by ``clone_function`` (default
    ``type(layer).from_config(layer.get_config())``, so the weights are new, not copied:
    use ``clone.set_weights(model.get_weights())`` to copy them), and for a functional
    model each layer call of the graph is replayed on the clones (through
    ``call_function(layer, *args, **kwargs)`` when given). A subclassed model is rebuilt
    from its config.

    Args:
        model: a `Sequential`, functional or subclassed `Model`.
        input_tensors: KerasTensors (``keras.Input``) the clone starts from, one per
            input (default: new ones of the same shapes and names).
        clone_function: ``layer -> new layer`` (not applied to input layers).
        call_function: ``(layer, *args, **kwargs) -> outputs``, replaying a functional
            model's calls (Sequential models add the clones in order instead).
        recursive: clone nested Sequential and functional models layer by layer too
            (with the same functions); otherwise ``clone_function`` clones them whole.
        **kwargs: none are accepted (an `InvalidArgumentError` names them).

    Example:
        >>> import ember as em
        >>> model = em.Sequential([em.Input((4,)), em.layers.Dense(3, name="d")])
        >>> twin = em.models.clone_model(model)
        >>> twin.layers[0].name, twin.layers[0] is model.layers[0], twin.count_params()
        ('d', False, 15)
    """
    if kwargs:
        raise InvalidArgumentError(f"clone_model: unexpected keyword arguments {sorted(kwargs)}")
    if not isinstance(model, Model):
        raise InvalidArgumentError(f"clone_model: model must be an ember Model, got {type(model).__name__}")
    if clone_function is not None and not callable(clone_function):
        raise InvalidArgumentError(f"clone_model: clone_function must be callable, got {clone_function!r}")
    if call_function is not None and not callable(call_function):
        raise InvalidArgumentError(f"clone_model: call_function must be callable, got {call_function!r}")
    if not isinstance(recursive, bool):
        raise InvalidArgumentError(f"clone_model: recursive must be True or False, got {recursive!r}")
    clone = _cloner(clone_function or _default_clone, recursive, call_function)
    if isinstance(model, Sequential):
        if call_function is not None:
            raise InvalidArgumentError("clone_model: call_function applies to functional models; a Sequential model "
                                       "adds the cloned layers in order")
        layers = [clone(layer) for layer in model.layers]
        if input_tensors is not None:
            flat = tree.flatten(input_tensors)
            if len(flat) != 1 or not isinstance(flat[0], KerasTensor):
                raise InvalidArgumentError("clone_model: a Sequential model takes one KerasTensor as input_tensors")
            head = [flat[0]]
        else:
            first = next((l for l in model._layers if isinstance(l, InputLayer)), None)
            head = [] if first is None else [Input(batch_shape=first.batch_shape, dtype=first._input_dtype,
                                                   name=first.name)]
        return Sequential(head + layers, name=model.name)
    if isinstance(model, Functional):
        return _clone_functional(model, input_tensors, clone, call_function)
    if input_tensors is not None or call_function is not None or clone_function is not None:
        raise InvalidArgumentError("clone_model: input_tensors, clone_function and call_function apply to Sequential "
                                   "and functional models; a subclassed model is rebuilt from its config")
    return type(model).from_config(model.get_config())


__all__ = ["clone_model"]
