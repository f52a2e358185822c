"""`plot_model` and `model_to_dot` (Keras 3's ``keras.utils.plot_model``): the layer
graph of a model as a Graphviz diagram.

`model_to_dot` needs the ``pydot`` package (``pip install pydot``); `plot_model` also
needs Graphviz's ``dot`` program (Debian/Ubuntu: ``apt-get install graphviz``; macOS:
``brew install graphviz``) to render the image. Without them both raise
`ember.errors.BackendUnavailableError` saying what to install.

Example:
    >>> import ember as em
    >>> a, b = em.Input((3,), name="a"), em.Input((2,), name="b")
    >>> out = em.layers.Dense(1, name="out")(em.layers.Concatenate(name="cat")([a, b]))
    >>> model = em.Model([a, b], out)
    >>> dot = em.utils.model_to_dot(model, show_shapes=True)  # doctest: +SKIP
    >>> sorted(n.get_name() for n in dot.get_nodes())  # doctest: +SKIP
    ['"a"', '"b"', '"cat"', '"out"']
"""

from __future__ import annotations

import os
import shutil

from .._boundary import public
from ..errors import BackendUnavailableError, InvalidArgumentError, NotBuiltError

__all__ = ["model_to_dot", "plot_model"]

_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "gif", "dot", "ps")


def _pydot():
    try:
        import pydot
    except ImportError as e:
        raise BackendUnavailableError(
            f"plot_model / model_to_dot: drawing a model needs the pydot package, which is not installed ({e}); "
            "install it with: pip install pydot  (rendering images also needs Graphviz's `dot` program: "
            "apt-get install graphviz, or brew install graphviz)"
        ) from None
    return pydot


def _quote(name: str) -> str:
    # pydot does not quote names itself; a layer name may hold any character
    return '"' + str(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_format_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")" if len(shape) != 1 else \
        "(" + ("None" if shape[0] is None else str(shape[0])) + ",)"


def _is_graph(model) -> bool:
    from ..models.functional import Functional
    from ..models.sequential import Sequential

    return isinstance(model, (Functional, Sequential))


def _node_shapes(layer, nodes) -> tuple:
    """(input shapes, output shapes, input dtypes) of the layer's calls in this graph."""
    ins, outs, dtypes = [], [], []
    for node in layer._inbound_nodes:
        if id(node) not in nodes:
            continue
        if node.is_input:
            ins.extend(tuple(t.shape) for t in node.output_tensors)
            dtypes.extend(str(t.dtype) for t in node.output_tensors)
        else:
            ins.extend(tuple(t.shape) for t in node.input_tensors)
            dtypes.extend(str(t.dtype) for t in node.input_tensors)
        outs.extend(tuple(t.shape) for t in node.output_tensors)
    one = lambda s: s[0] if len(s) == 1 else (s or None)  # noqa: E731
    return one(ins), one(outs), (dtypes[0] if dtypes else None)


def _label(layer, nodes, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable) -> str:
    cls = type(layer).__name__
    lines = [f"{layer.name} ({cls})" if show_layer_names else cls]
    if show_layer_activations:
        act = getattr(layer, "activation", None)
        if act is not None:
            lines.append(f"Activation: {getattr(act, '__name__', type(act).__name__)}")
    if show_dtype or show_shapes:
        ins, outs, dtype = _node_shapes(layer, nodes)
        if show_dtype:
            lines.append(f"Input dtype: {dtype or '?'}  Output dtype: {getattr(layer, 'dtype', None) or '?'}")
        if show_shapes:
            lines.append(f"Input shape: {_format_shape(ins)}")
            lines.append(f"Output shape: {_format_shape(outs)}")
    if show_trainable:
        lines.append(f"Trainable: {'True' if layer.trainable else 'False'}")
    return "\n".join(lines)


def _graph_of(model):
    """``(layers, node ids, edges)``: the layers of ``model``'s graph and the
    ``(source layer, target layer)`` pairs its calls connect, in order."""
    from ..models.sequential import Sequential

    if isinstance(model, Sequential) and getattr(model, "_functional", None) is not None:
        graph = model._functional
    else:
        graph = model
    layers = list(getattr(graph, "_layers", None) or graph.layers)
    nodes = {id(n) for n in getattr(graph, "_nodes", [])}
    edges, seen = [], set()
    for layer in layers:
        for node in layer._inbound_nodes:
            if id(node) not in nodes or node.is_input:
                continue
            for t in node.input_tensors:
                if t._keras_history is None:
                    continue
                key = (id(t._keras_history.operation), id(layer))
                if key not in seen:
                    seen.add(key)
                    edges.append((t._keras_history.operation, layer))
    if not nodes:  # a Sequential built without an Input: its layers in a chain
        edges = list(zip(layers, layers[1:]))
    return layers, nodes, edges


@public("model_to_dot")
def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho", **kwargs):
    """The model's layer graph as a ``pydot.Dot`` (Keras's ``keras.utils.model_to_dot``).

    Each layer is a node labelled ``name (ClassName)``, with its input and output shapes,
    dtypes, activation and trainability when asked; each call of one layer's output by
    another is an edge. A subclassed model, whose graph is its Python code, is one node.

    Args:
        model: a built ember `Model`.
        show_shapes: add the input and output shapes.
        show_dtype: add the input and output dtypes.
        show_layer_names: label nodes with the layer names (else the class names only).
        rankdir: Graphviz's direction: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        expand_nested: draw nested models' layers inside a box, instead of one node.
        dpi: the image resolution.
        subgraph: return a ``pydot.Cluster`` (used for nested models).
        show_layer_activations: add the layers' activations.
        show_trainable: add whether each layer is trainable.
        splines: Graphviz's edge style (``"ortho"``, the default, ``"line"``,
            ``"polyline"``, ``"curved"``, ``"spline"``...), set on the graph.

    Raises:
        BackendUnavailableError: pydot is not installed.
        InvalidArgumentError: bad arguments. NotBuiltError: an unbuilt model.
    """
    from ..models.model import Model

    if kwargs:
        raise InvalidArgumentError(f"model_to_dot: unexpected keyword arguments {sorted(kwargs)}")
    if not isinstance(model, Model):
        raise InvalidArgumentError(f"model_to_dot: model must be an ember Model, got {type(model).__name__}")
    if not model.built:
        raise NotBuiltError(f"model_to_dot: the model {model.name!r} is not built yet; build it (give it an Input, "
                            "or call it on data) to draw it")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise InvalidArgumentError(f"model_to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or dpi <= 0:
        raise InvalidArgumentError(f"model_to_dot: dpi must be a positive number, got {dpi!r}")
    if not isinstance(splines, str) or not splines.isidentifier():
        raise InvalidArgumentError(f"model_to_dot: splines must be a Graphviz splines name such as 'ortho', got "
                                   f"{splines!r}")
    flags = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                 show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    for name, value in {**flags, "expand_nested": expand_nested, "subgraph": subgraph}.items():
        if not isinstance(value, bool):
            raise InvalidArgumentError(f"model_to_dot: {name} must be True or False, got {value!r}")
    pydot = _pydot()

    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=_quote(model.name), label=_quote(model.name))
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("splines", splines)
        dot.set("dpi", dpi)
        dot.set_node_defaults(shape="record")

    if not _is_graph(model):
        dot.add_node(pydot.Node(_quote(model.name), label=_quote(_label(model, set(), **flags))))
        return dot

    layers, nodes, edges = _graph_of(model)
    entry, exit_ = {}, {}  # a nested model drawn expanded: where edges into / out of it attach
    for layer in layers:
        if expand_nested and _is_graph(layer):
            inner = model_to_dot(layer, rankdir=rankdir, expand_nested=True, dpi=dpi, subgraph=True, splines=splines,
                                 **flags)
            dot.add_subgraph(inner)
            inner_layers, _, inner_edges = _graph_of(layer)
            targets = {id(b) for _, b in inner_edges}
            sources = {id(a) for a, _ in inner_edges}
            from ..layers.core import InputLayer

            firsts = [l for l in inner_layers if id(l) not in targets and not isinstance(l, InputLayer)]
            firsts = firsts or [b for a, b in inner_edges if isinstance(a, InputLayer)]
            entry[id(layer)] = [f.name for f in firsts] or [inner_layers[0].name]
            exit_[id(layer)] = [l.name for l in inner_layers if id(l) not in sources] or [inner_layers[-1].name]
            continue
        dot.add_node(pydot.Node(_quote(layer.name), label=_quote(_label(layer, nodes, **flags))))
    for src, dst in edges:
        for a in exit_.get(id(src), [src.name]):
            for b in entry.get(id(dst), [dst.name]):
                dot.add_edge(pydot.Edge(_quote(a), _quote(b)))
    return dot


@public("plot_model")
def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draws the model's layer graph to an image file (Keras's ``keras.utils.plot_model``).

    Args:
        model: a built ember `Model`.
        to_file: the image to write; its extension picks the format (``.png``,
            ``.svg``, ``.pdf``, ``.jpg``, ``.dot``...).
        show_shapes, show_dtype, rankdir, expand_nested, dpi, show_layer_activations,
            show_trainable, splines: as in `model_to_dot`.
        show_layer_names: label nodes with the layer names (default False, as Keras 3's
            plot_model: the class names only).

    Raises:
        BackendUnavailableError: pydot, or Graphviz's ``dot`` program, is missing.
        InvalidArgumentError: bad arguments or an unknown image format.
    """
    if kwargs:
        raise InvalidArgumentError(f"plot_model: unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(to_file, os.PathLike):
        to_file = os.fspath(to_file)
    if not isinstance(to_file, str) or not to_file:
        raise InvalidArgumentError(f"plot_model: to_file must be a file path, got {to_file!r}")
    _, ext = os.path.splitext(to_file)
    fmt = ext[1:].lower() if ext else "png"
    if fmt not in _FORMATS:
        raise InvalidArgumentError(f"plot_model: cannot write {fmt!r} images; use one of {', '.join(_FORMATS)}")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable, splines=splines)
    if fmt == "dot":
        with open(to_file, "w", encoding="utf-8") as f:
            f.write(dot.to_string())
        return None
    if shutil.which("dot") is None:
        raise BackendUnavailableError(
            "plot_model: rendering an image needs Graphviz's `dot` program, which is not on the PATH; install "
            "Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or write the "
            "graph's source with to_file='model.dot'"
        )
    try:
        dot.write(to_file, format=fmt)
    except Exception as e:  # noqa: BLE001 - pydot raises OSError, AssertionError or bare Exceptions for dot errors
        raise BackendUnavailableError(f"plot_model: Graphviz failed to render {to_file!r}: {e}") from None
    return None
