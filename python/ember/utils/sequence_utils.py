"""`pad_sequences`: lists of sequences to one padded array (``keras.utils.pad_sequences``)."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import brief
from ..errors import InvalidArgumentError, ShapeError

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0) -> np.ndarray:
    """Pads (or truncates) sequences of varying lengths to one length: a numpy array
    (num_samples, maxlen) + the samples' trailing shape (Keras 3's semantics).

    Args:
        sequences: a list of sequences (lists or arrays; each element a number or an
            array of the same shape).
        maxlen: the output length; None pads to the longest sequence.
        dtype: the output dtype (default "int32"; ``object`` for strings).
        padding: "pre" (default) or "post": where the padding goes.
        truncating: "pre" (default) or "post": which end of a longer sequence is cut.
        value: the padding value (default 0).

    Returns:
        The padded numpy array.

    Example:
        >>> import ember as em
        >>> em.utils.pad_sequences([[1], [2, 3], [4, 5, 6]]).tolist()
        [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
        >>> em.utils.pad_sequences([[1, 2, 3, 4]], maxlen=2, padding="post", truncating="post").tolist()
        [[1, 2]]
    """
    if not hasattr(sequences, "__len__") or isinstance(sequences, (str, bytes, dict)):
        raise InvalidArgumentError(f"pad_sequences: sequences must be a list of sequences, got {brief(sequences)}")
    if not isinstance(padding, str) or padding not in ("pre", "post"):
        raise InvalidArgumentError(f'pad_sequences: padding type "{padding}" not understood (use "pre" or "post")')
    if not isinstance(truncating, str) or truncating not in ("pre", "post"):
        raise InvalidArgumentError(f'pad_sequences: truncating type "{truncating}" not understood (use "pre" or "post")')
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0):
        raise InvalidArgumentError(f"pad_sequences: maxlen must be None or a non-negative integer, got {maxlen!r}")
    num_samples = len(sequences)
    lengths = []
    sample_shape: tuple = ()
    found = False
    for x in sequences:
        try:
            lengths.append(len(x))
        except TypeError:
            raise InvalidArgumentError(f"pad_sequences: sequences must be a list of iterables; found {x!r}") from None
        if not found and len(x):
            try:
                sample_shape = np.asarray(x).shape[1:]
            except (TypeError, ValueError) as e:
                raise InvalidArgumentError(
                    f"pad_sequences: sequence {len(lengths) - 1} is not array-like ({e})") from None
            found = True
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    try:
        np_dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"pad_sequences: dtype {dtype!r} is not a numpy dtype") from None
    is_str = np.issubdtype(np_dtype, np.str_) or np.issubdtype(np_dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str:
        raise InvalidArgumentError(f"pad_sequences: dtype {dtype} cannot hold the padding value {value!r}; "
                                   "set dtype=object for variable-length strings")
    x = np.full((num_samples, maxlen) + tuple(sample_shape), value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        try:
            trunc = np.asarray(trunc, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"pad_sequences: sequence {idx} cannot be converted to {dtype}: {e}") from None
        if trunc.shape[1:] != tuple(sample_shape):
            raise ShapeError(f"pad_sequences: the samples of sequence {idx} have shape {trunc.shape[1:]}, "
                             f"expected {tuple(sample_shape)}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x
