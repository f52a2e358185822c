"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts,
with a "Connected to" column for functional models (``keras/src/utils/summary_utils.py``)."""

from __future__ import annotations

from typing import Callable

__all__ = ["print_summary"]


def _shape_text(layer) -> str:
    if not layer.built and not layer._inbound_nodes:
        return "?"
    if layer._inbound_nodes:
        node = layer._inbound_nodes[-1] if len(layer._inbound_nodes) == 1 else layer._inbound_nodes[0]
        outs = [t.shape for t in node.output_tensors]
        if len(outs) == 1:
            return str(outs[0])
        if outs:
            return ", ".join(str(s) for s in outs)
    shape = layer.output_shape_
    return str(shape) if shape is not None else "?"


def _connections(layer, model) -> str:
    inside = {id(n) for n in getattr(model, "_nodes", [])}
    parts = []
    for node in layer._inbound_nodes:
        if id(node) not in inside:
            continue
        for t in node.input_tensors:
            hist = t._keras_history
            if hist is None:
                continue
            parts.append(f"{hist.operation.name}[{hist.node_index}][{hist.tensor_index}]")
    return ", ".join(parts) if parts else "-"


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def print_summary(model, print_fn: Callable = print, show_trainable: bool = False) -> None:
    from .functional import Functional
    from .sequential import Sequential

    if isinstance(model, Sequential) and model._functional is not None:
        graph = model._functional
        layers = model.layers
        functional = False
    elif isinstance(model, Functional):
        graph = model
        layers = model.layers
        functional = True
    else:
        graph = None
        layers = model.layers
        functional = False
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    if show_trainable:
        headers.append("Trainable")
    rows = []
    for layer in layers:
        params = sum(int(w.size) for w in layer.weights) if layer.built else 0
        row = [f"{layer.name} ({type(layer).__name__})", _shape_text(layer), f"{params:,}"]
        if functional:
            row.append(_connections(layer, graph))
        if show_trainable:
            row.append("Y" if layer.trainable else "N")
        rows.append(row)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) + 2 for i, h in enumerate(headers)]
    right = {2}  # Param # is right-aligned

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(f" {c:>{w - 2}} " if i in right else f" {c:<{w - 2}} ")
        return "│" + "│".join(out) + "│"

    def rule(left, mid, end, fill):
        return left + mid.join(fill * w for w in widths) + end

    out = [f'Model: "{model.name}"']
    out.append(rule("┏", "┳", "┓", "━"))
    out.append("┃" + "┃".join((f" {h:>{w - 2}} " if i in right else f" {h:<{w - 2}} ") for i, (h, w) in enumerate(zip(headers, widths))) + "┃")
    out.append(rule("┡", "╇", "┩", "━"))
    for k, r in enumerate(rows):
        out.append(line(r))
        if k != len(rows) - 1:
            out.append(rule("├", "┼", "┤", "─"))
    out.append(rule("└", "┴", "┘", "─"))
    weights = model.weights if model.built else []
    total = sum(int(w.size) for w in weights)
    trainable_ids = {id(w) for w in model.trainable_weights} if model.built else set()
    trainable = sum(int(w.size) for w in weights if id(w) in trainable_ids)
    out.append(f" Total params: {total:,} ({_bytes(total * 4)})")
    out.append(f" Trainable params: {trainable:,} ({_bytes(trainable * 4)})")
    out.append(f" Non-trainable params: {total - trainable:,} ({_bytes((total - trainable) * 4)})")
    if model.optimizer is not None and getattr(model.optimizer, "variables", None):
        n = sum(int(v.size) for v in model.optimizer.variables)
        if n:
            out.append(f" Optimizer params: {n:,} ({_bytes(n * 4)})")
    for text in out:
        print_fn(text)
