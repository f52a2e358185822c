"""Reverse-mode automatic differentiation: a tape of nodes over `ops`.

Each op that gets an input requiring gradients attaches a `Node` to its output: the
inputs it read and a closure computing their gradients from the output's gradient.
`backward` walks the graph in reverse topological order and accumulates gradients
(micrograd's design, with vector-Jacobian products on whole tensors).

Example:
    >>> import ember as em
    >>> w = em.Variable([[1.0, 2.0]])
    >>> with em.GradientTape() as tape:
    ...     loss = em.ops.sum(w * w)
    >>> tape.gradient(loss, [w])[0].numpy().tolist()
    [[2.0, 4.0]]
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Sequence

__all__ = ["Node", "no_grad", "enable_grad", "is_grad_enabled", "backward", "grad", "GradientTape"]


class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradMode:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _state.enabled
        _state.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False


def no_grad() -> _GradMode:
    """Context manager in which ops record nothing (inference, optimizer updates)."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    return _GradMode(True)


class Node:
    """How to push an output's gradient back to the op's inputs."""

    __slots__ = ("inputs", "backward")

    def __init__(self, inputs: tuple, backward: Callable):
        self.inputs = inputs
        self.backward = backward


def _topo_order(root) -> list:
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        node = t._node
        if node is not None:
            for p in node.inputs:
                if p is not None and p.requires_grad and id(p) not in seen:
                    stack.append((p, False))
    return order


def _run(root, seed, retain_graph: bool = True, leaf_ready: Callable | None = None) -> dict:
    """Gradients of every tensor reachable from ``root``, keyed by id.

    With ``retain_graph=False`` each node is dropped once used (PyTorch's default). Besides
    freeing the graph early, this breaks the reference cycles of ops whose backward reads
    their own output (exp, softmax, ...: output -> node -> closure -> output), so the
    step's intermediate buffers are freed by reference counting when the step ends, in
    the same order every step, instead of whenever the garbage collector runs.

    ``leaf_ready(t, g)``, when given, is called as soon as the gradient ``g`` of a leaf
    ``t`` is final: in reverse topological order every consumer of ``t`` has run by the
    time the walk reaches it (a distributed step starts reducing it then)."""
    from .ops import core

    grads = {id(root): seed}
    with no_grad():
        for t in reversed(_topo_order(root)):
            g = grads.get(id(t))
            node = t._node
            if node is not None and not retain_graph:
                t._node = None
            if node is None and g is not None and leaf_ready is not None:
                leaf_ready(t, g)
            if g is None or node is None:
                continue
            for p, gp in zip(node.inputs, node.backward(g)):
                if p is None or gp is None or not p.requires_grad:
                    continue
                prev = grads.get(id(p))
                grads[id(p)] = gp if prev is None else core.add(prev, gp)
    return grads


def _seed(root, grad_output):
    from .tensor import Tensor, ones_like

    if grad_output is None:
        if root.size != 1:
            from .errors import ShapeError

            raise ShapeError(
                f"backward: gradients can be implicitly created only for a single value, got shape {root.shape}; "
                "pass grad_output"
            )
        return ones_like(root)
    return grad_output if isinstance(grad_output, Tensor) else Tensor(grad_output, device=root.device)


def backward(root, grad_output=None) -> None:
    """Accumulates d root / d leaf into ``leaf.grad`` for every leaf requiring grad."""
    from .ops import core

    grads = _run(root, _seed(root, grad_output))
    for t in _topo_order(root):
        if t._node is None and t.requires_grad:
            g = grads.get(id(t))
            if g is not None:
                t.grad = g if t.grad is None else core.add(t.grad, g)


def grad(target, sources: Sequence, grad_output=None, retain_graph: bool = True,
         leaf_ready: Callable | None = None) -> list:
    """d target / d source for each source (None where it does not depend on it).
    ``retain_graph=False`` releases the graph as it goes (it cannot be differentiated again);
    ``leaf_ready(leaf, gradient)`` is called as each leaf's gradient becomes final."""
    grads = _run(target, _seed(target, grad_output), retain_graph, leaf_ready)
    return [grads.get(id(s)) for s in sources]


class GradientTape:
    """Keras/TensorFlow-style recording scope for custom training loops.

    Ops record while the tape is open; `gradient(target, sources)` differentiates the
    recorded computation. Variables are watched automatically; call `watch(t)` for other
    tensors *before* using them.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self._used = False
        self._mode = enable_grad()

    def __enter__(self) -> "GradientTape":
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        return False

    def watch(self, tensor) -> None:
        from .errors import InvalidArgumentError
        from .tensor import Tensor

        ts = list(tensor) if isinstance(tensor, (list, tuple)) else [tensor]
        for t in ts:
            if not isinstance(t, Tensor):
                raise InvalidArgumentError(f"GradientTape.watch: expects a Tensor or a list of Tensors, got {type(t).__name__}")
        for t in ts:
            t.requires_grad = True

    def gradient(self, target, sources, output_gradients=None):
        from .errors import EmberError, InvalidArgumentError
        from .tensor import Tensor

        if self._used and not self.persistent:
            raise EmberError("GradientTape.gradient can only be called once on a non-persistent tape")
        if not isinstance(target, Tensor):
            raise InvalidArgumentError(f"GradientTape.gradient: target must be a Tensor, got {type(target).__name__}")
        self._used = True
        single = not isinstance(sources, (list, tuple))
        srcs = [sources] if single else list(sources)
        # A non-persistent tape is used once: release its graph as it is walked.
        out = grad(target, srcs, output_gradients, retain_graph=self.persistent)
        return out[0] if single else out


def iter_leaves(root) -> Iterable:
    return (t for t in _topo_order(root) if t._node is None)
