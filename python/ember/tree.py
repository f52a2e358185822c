"""Nested structures of tensors (Keras 3's ``keras.tree``): lists, tuples and dicts.

Models take and return such structures (several inputs as a list or a dict, several
outputs); these helpers walk them. Dicts are walked in sorted key order, as Keras does,
so a flattened dict lines up with the same dict built in another order.

Example:
    >>> from ember import tree
    >>> tree.flatten({"b": 1, "a": [2, 3]})
    [2, 3, 1]
    >>> tree.pack_sequence_as({"b": 0, "a": [0, 0]}, [2, 3, 1])
    {'a': [2, 3], 'b': 1}
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import InvalidArgumentError

__all__ = ["is_nested", "flatten", "map_structure", "pack_sequence_as", "assert_same_structure"]


def is_nested(x: Any) -> bool:
    """Whether ``x`` is a list, tuple or dict (a structure rather than a leaf)."""
    return isinstance(x, (list, tuple, dict))


def _children(x: Any) -> list:
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(structure: Any) -> list:
    """The leaves of ``structure`` in order (a leaf alone gives ``[leaf]``)."""
    if not is_nested(structure):
        return [structure]
    out: list = []
    stack = [structure]
    # Iterative depth-first walk, left to right.
    while stack:
        x = stack.pop()
        if is_nested(x):
            stack.extend(reversed(_children(x)))
        else:
            out.append(x)
    return out


def pack_sequence_as(structure: Any, flat: list) -> Any:
    """The leaves of ``flat`` arranged as ``structure``."""
    if isinstance(flat, (str, bytes, dict)) or not hasattr(flat, "__iter__"):
        raise InvalidArgumentError(f"pack_sequence_as: flat must be a list of leaves, got {type(flat).__name__}")
    flat = list(flat)
    it = iter(flat)

    def build(s):
        if isinstance(s, dict):
            return {k: build(s[k]) for k in sorted(s)}
        if isinstance(s, (list, tuple)):
            items = [build(v) for v in s]
            return type(s)(items) if not hasattr(s, "_fields") else type(s)(*items)
        return next(it)

    try:
        out = build(structure)
    except StopIteration:
        raise InvalidArgumentError(
            f"pack_sequence_as: the structure has more leaves than the {len(flat)} given"
        ) from None
    rest = sum(1 for _ in it)
    if rest:
        raise InvalidArgumentError(f"pack_sequence_as: {rest} leaves are left over after filling the structure")
    return out


def map_structure(fn: Callable, *structures: Any) -> Any:
    """``fn`` applied leaf by leaf to structures of the same shape."""
    if not structures:
        raise InvalidArgumentError("map_structure: needs at least one structure")
    for s in structures[1:]:
        assert_same_structure(structures[0], s)
    flats = [flatten(s) for s in structures]
    return pack_sequence_as(structures[0], [fn(*leaves) for leaves in zip(*flats)])


def assert_same_structure(a: Any, b: Any) -> None:
    """Raises `InvalidArgumentError` unless ``a`` and ``b`` nest the same way."""
    if is_nested(a) != is_nested(b):
        raise InvalidArgumentError(f"The two structures don't have the same nested structure: {_describe(a)} and {_describe(b)}")
    if not is_nested(a):
        return
    if isinstance(a, dict) != isinstance(b, dict) or len(a) != len(b):
        raise InvalidArgumentError(f"The two structures don't have the same nested structure: {_describe(a)} and {_describe(b)}")
    if isinstance(a, dict):
        if sorted(a) != sorted(b):
            raise InvalidArgumentError(f"The two structures have different keys: {sorted(a)} and {sorted(b)}")
    for x, y in zip(_children(a), _children(b)):
        assert_same_structure(x, y)


def _describe(x: Any) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in sorted(x.items())) + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(_describe(v) for v in x)
        return f"[{inner}]" if isinstance(x, list) else f"({inner})"
    return type(x).__name__
