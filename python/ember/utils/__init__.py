"""Utilities with Keras names: to_categorical, set_random_seed, normalize, split_dataset,
PyDataset (Keras's Sequence), the batch packing helpers, clear_session, and the
serialization registry (re-exported from `ember.saving`). ``dir(ember.utils)`` lists
only this API."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, OutOfMemoryError
# Keras exports the registry under keras.utils too.
from ..saving import (
    CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects, get_registered_name,
    get_registered_object, register_keras_serializable, serialize_keras_object,
)
from .sequence_utils import pad_sequences
from .timeseries import timeseries_dataset_from_array
from .dataset_utils import get_source_inputs, pack_x_y_sample_weight, split_dataset, unpack_x_y_sample_weight
from .py_dataset import PyDataset, Sequence
from .config_container import Config
from .._settings import disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled
from ..backend.keras_api import clear_session, is_keras_tensor, standardize_dtype
from .model_visualization import model_to_dot, plot_model
from .progbar import Progbar

__all__ = ["to_categorical", "set_random_seed", "normalize", "register_keras_serializable", "get_custom_objects",
           "CustomObjectScope", "custom_object_scope", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object", "pad_sequences", "timeseries_dataset_from_array",
           "plot_model", "model_to_dot"]
__all__ += ["split_dataset", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "get_source_inputs", "PyDataset",
            "Sequence", "Config", "enable_interactive_logging", "disable_interactive_logging",
            "is_interactive_logging_enabled", "clear_session", "is_keras_tensor", "standardize_dtype", "Progbar"]


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot float32 matrix of integer class labels (Keras's layout and dtype).

    Example:
        >>> import ember as em
        >>> em.utils.to_categorical([0, 2], 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if num_classes is not None and (
        isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
    ):
        raise InvalidArgumentError(f"to_categorical: num_classes must be a positive integer, got {num_classes!r}")
    try:
        y = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"to_categorical: labels must be an array of integers: {e}") from None
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise InvalidArgumentError("to_categorical: labels must be integers")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "biu":
        raise InvalidArgumentError(f"to_categorical: labels must be integers, got dtype {y.dtype}")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise InvalidArgumentError(f"to_categorical: labels must be >= 0, got {int(y.min())}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise InvalidArgumentError(f"to_categorical: label {int(y.max())} is out of range for num_classes={num_classes}")
    try:
        out = np.zeros(y.shape + (num_classes,), dtype=np.float32)
    except (MemoryError, ValueError) as e:  # numpy: the allocation failed, or "array is too big"
        raise OutOfMemoryError(
            f"to_categorical: cannot allocate a one-hot array of shape {y.shape + (num_classes,)} ({e})"
        ) from None
    np.put_along_axis(out, y[..., None].astype(np.int64), 1.0, axis=-1)
    return out


def set_random_seed(seed: int) -> None:
    """Seeds Ember's Philox generator, Python's `random` and numpy (as Keras does)."""
    from .. import random as _random

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgumentError(f"set_random_seed: seed must be an integer, got {seed!r}")
    _random.set_seed(int(seed))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (zero vectors stay zero), as
    float32 (``keras.utils.normalize``).

    Args:
        x: an array-like.
        axis: the axis to normalise along (default -1).
        order: the norm's order (default 2, the Euclidean norm).

    Example:
        >>> import ember as em
        >>> em.utils.normalize([[3.0, 4.0]]).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    try:
        x = np.asarray(x, dtype=np.float32)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"normalize: x must be an array of numbers ({e})") from None
    try:
        n = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    except (ValueError, TypeError, IndexError) as e:  # numpy's AxisError is a ValueError and an IndexError
        raise InvalidArgumentError(
            f"normalize: cannot take the norm of order {order!r} along axis {axis!r} of an array of shape {x.shape} ({e})"
        ) from None
    return x / np.where(n == 0, 1, n)
