"""``split_dataset`` and the batch packing helpers of ``keras.utils``.

Example:
    >>> import ember as em, numpy as np
    >>> left, right = em.utils.split_dataset(np.arange(10), left_size=0.8)
    >>> len(left), len(right)
    (8, 2)
"""

from __future__ import annotations

import numpy as np

from .. import tree
from ..errors import InvalidArgumentError, ShapeError

__all__ = ["split_dataset", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "get_source_inputs"]


def _size(value, name: str, total: int):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"split_dataset: {name} must be an int, a float or None, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not 0 < value < 1:
            raise InvalidArgumentError(f"split_dataset: {name} as a fraction must lie in (0, 1), got {value}")
        return round(float(value) * total)
    if not 0 < value < total:
        raise InvalidArgumentError(f"split_dataset: {name} as a count must lie in (0, {total}), got {value}")
    return int(value)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None, preferred_backend=None):
    """Splits arrays (or a tuple, list or dict of arrays sharing their first axis) into a
    left and a right part, in the same structure (Keras returns tf.data datasets; Ember
    returns the arrays, which ``fit`` takes directly).

    Args:
        dataset: an array, or a tuple/list/dict of arrays with the same number of samples.
        left_size: the left part's size: a count, or a fraction in (0, 1). None: the rest.
        right_size: the right part's size, likewise. Both None: half and half.
        shuffle: shuffle the samples before splitting.
        seed: the shuffle's seed.
        preferred_backend: must be None (Keras picks tf.data or torch datasets with it).

    Returns:
        ``(left, right)``.
    """
    if preferred_backend is not None:
        raise NotImplementedError(f"split_dataset: preferred_backend={preferred_backend!r} is not supported; Ember "
                                  "returns arrays")
    leaves = tree.flatten(dataset if isinstance(dataset, (list, tuple, dict)) else [dataset])
    try:
        arrays = [np.asarray(a.numpy() if hasattr(a, "numpy") else a) for a in leaves]
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"split_dataset: dataset must be arrays ({e})") from None
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise InvalidArgumentError("split_dataset: dataset must be one or more arrays with a sample axis")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ShapeError(f"split_dataset: all arrays must have the same number of samples, got {[a.shape[0] for a in arrays]}")
    if left_size is None and right_size is None:
        left_size = 0.5
    if left_size == 0 and right_size == 0:
        raise InvalidArgumentError("split_dataset: left_size and right_size are both zero")
    left, right = _size(left_size, "left_size", n), _size(right_size, "right_size", n)
    left = n - right if left is None else left
    right = n - left if right is None else right
    if left + right > n:
        raise InvalidArgumentError(f"split_dataset: left_size + right_size = {left + right} exceeds the {n} samples")
    if left == 0 or right == 0:
        raise InvalidArgumentError(f"split_dataset: with {n} samples the sizes give an empty split ({left}, {right})")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    li, ri = order[:left], order[n - right:]

    def part(idx):
        parts = [a[idx] for a in arrays]
        if isinstance(dataset, (list, tuple, dict)):
            out = tree.pack_sequence_as(dataset, parts)
            return tuple(out) if isinstance(dataset, tuple) else out
        return parts[0]

    return part(li), part(ri)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``: the batch tuple ``train_step`` takes.

    Example:
        >>> import ember as em
        >>> em.utils.pack_x_y_sample_weight(1, 2)
        (1, 2)
    """
    if y is None:
        # Keras: a lone tuple/list x is wrapped so that it is not read as (x, y).
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``.

    Example:
        >>> import ember as em
        >>> em.utils.unpack_x_y_sample_weight((1, 2))
        (1, 2, None)
    """
    from ..models.model import unpack_x_y_sample_weight as _unpack

    if isinstance(data, list):
        data = tuple(data)
    return _unpack(data)


def get_source_inputs(tensor):
    """The `Input` tensors a symbolic tensor is computed from, in graph order.

    Example:
        >>> import ember as em
        >>> a = em.Input((2,)); b = em.Input((2,))
        >>> out = em.layers.Add()([em.layers.Dense(2)(a), b])
        >>> [t is a or t is b for t in em.utils.get_source_inputs(out)]
        [True, True]
    """
    from ..keras_tensor import KerasTensor

    if not isinstance(tensor, KerasTensor) or tensor._keras_history is None:
        raise InvalidArgumentError(f"get_source_inputs: expected a symbolic KerasTensor, got {type(tensor).__name__}")
    found, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop(0)
        if id(t) in seen:
            continue
        seen.add(id(t))
        node = t._keras_history.node if t._keras_history is not None else None
        if node is None or node.is_input:
            if not any(t is f for f in found):
                found.append(t)
            continue
        stack.extend(node.input_tensors)
    return found
