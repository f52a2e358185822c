"""`timeseries_dataset_from_array`: sliding windows over a series, in batches
(``keras.utils.timeseries_dataset_from_array``, without tf.data).

Keras returns a ``tf.data.Dataset``; Ember returns a `TimeseriesDataset`, an
`ember.utils.PyDataset` of numpy batches: ``model.fit(ds)`` / ``evaluate(ds)`` /
``predict(ds)`` take it as they take a Keras dataset, iterating it yields ``(inputs,
targets)`` batches (or ``inputs`` alone without targets), and ``arrays()`` gives every
window at once (``model.fit(*ds.arrays())``).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["timeseries_dataset_from_array", "TimeseriesDataset"]

try:  # fit/evaluate/predict take a PyDataset as a stream of batches
    from .py_dataset import PyDataset as _Base
except ImportError:  # pragma: no cover - a build without the data adapters
    _Base = object


class TimeseriesDataset(_Base):
    """Windows of a series, in batches: iterate for ``(inputs, targets)`` numpy
    batches, ``len()`` for the number of batches, ``arrays()`` for all windows.

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> ds = em.utils.timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10,
        ...                                             sequence_length=3, batch_size=4)
        >>> x, y = next(iter(ds))
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30])
    """

    def __init__(self, data, targets, windows: np.ndarray, starts: np.ndarray, batch_size):
        if _Base is not object:
            super().__init__()
        self._data = data
        self._targets = targets
        self._windows = windows
        self._starts = starts
        self.batch_size = batch_size

    def __len__(self) -> int:
        n = len(self._windows)
        if self.batch_size is None:
            return n
        return -(-n // self.batch_size)

    def _batch(self, rows: np.ndarray):
        x = self._data[self._windows[rows]]
        if self._targets is None:
            return x
        return x, self._targets[self._starts[rows]]

    def __getitem__(self, index: int):
        """Batch ``index`` (a PyDataset is indexed 0 .. len - 1)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"TimeseriesDataset: batch {index} out of range for {len(self)} batches")
        index %= len(self)
        if self.batch_size is None:
            return self._batch(np.array(index))
        n = len(self._windows)
        return self._batch(np.arange(index * self.batch_size, min(n, (index + 1) * self.batch_size)))

    def __iter__(self):
        n = len(self._windows)
        if self.batch_size is None:
            for i in range(n):
                yield self._batch(np.array(i))
            return
        for lo in range(0, n, self.batch_size):
            yield self._batch(np.arange(lo, min(n, lo + self.batch_size)))

    def arrays(self):
        """Every window: ``(inputs, targets)`` (or ``inputs`` without targets), in the
        dataset's order."""
        return self._batch(np.arange(len(self._windows)))


def _host_array(value, name: str) -> np.ndarray:
    """``value`` (an array, a tensor or nested lists) as a numpy array."""
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray) else value)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"timeseries_dataset_from_array: {name} is not array-like ({e})") from None


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidArgumentError(f"timeseries_dataset_from_array: {name} must be an integer >= {minimum}, "
                                   f"got {value!r}")
    return int(value)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None,
                                  end_index=None, format="tf") -> TimeseriesDataset:
    """Sliding windows over ``data`` with Keras 3's arguments and indexing: window i
    holds ``data[start_index + p_i + k * sampling_rate]`` for k < sequence_length, with
    start positions ``p_i = i * sequence_stride``, and its target is
    ``targets[start_index + p_i]``. Windows that would run past ``end_index`` are left out.

    Args:
        data: an array of timesteps along axis 0 (shape (steps, ...)).
        targets: an array of targets aligned with ``data`` (``targets[i]`` is the target
            of the window starting at ``i``), or None.
        sequence_length: the number of timesteps per window.
        sequence_stride: the offset between successive windows' starts.
        sampling_rate: the step between timesteps inside a window.
        batch_size: windows per batch (default 128), or None for single windows.
        shuffle: shuffle the windows' start positions (numpy ``RandomState(seed)``, as
            Keras draws them).
        seed: the shuffle seed.
        start_index, end_index: use only ``data[start_index:end_index]``.
        format: "tf" (Keras's default, a ``tf.data.Dataset`` there): Ember's
            `TimeseriesDataset`, which `fit` takes and which iterates batch by batch as
            the tf.data one does; Keras's "grain" raises NotImplementedError.

    Returns:
        A `TimeseriesDataset` (iterate it for batches, or ``arrays()`` for `fit`).

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> ds = em.utils.timeseries_dataset_from_array(np.arange(99), None, sequence_length=10,
        ...                                            sampling_rate=2, sequence_stride=3, batch_size=None)
        >>> windows = [w.tolist() for w in ds]
        >>> windows[1], len(windows)
        ([3, 5, 7, 9, 11, 13, 15, 17, 19, 21], 27)
    """
    what = "timeseries_dataset_from_array"
    if format == "grain":
        raise NotImplementedError(f"{what}: format='grain' (a Grain dataset) is not supported; use format='tf'")
    if format != "tf":
        raise InvalidArgumentError(f"{what}: format must be 'tf' or 'grain', got {format!r}")
    data = _host_array(data, "data")
    if data.ndim == 0:
        raise InvalidArgumentError(f"{what}: data must have a time axis, got a scalar")
    n = len(data)
    if targets is not None:
        targets = _host_array(targets, "targets")
        if targets.ndim == 0:
            raise InvalidArgumentError(f"{what}: targets must have a time axis, got a scalar")
    sequence_length = _check_int(sequence_length, "sequence_length", 1)
    sampling_rate = _check_int(sampling_rate, "sampling_rate", 1)
    sequence_stride = _check_int(sequence_stride, "sequence_stride", 1)
    if sampling_rate >= n:
        raise InvalidArgumentError(f"{what}: sampling_rate must be lower than the length of the data ({n}), "
                                   f"got {sampling_rate}")
    if sequence_stride >= n:
        raise InvalidArgumentError(f"{what}: sequence_stride must be lower than the length of the data ({n}), "
                                   f"got {sequence_stride}")
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size", 1)
    if start_index:
        start_index = _check_int(start_index, "start_index", 0)
        if start_index >= n:
            raise InvalidArgumentError(f"{what}: start_index must be lower than the length of the data ({n}), "
                                       f"got {start_index}")
    if end_index:
        end_index = _check_int(end_index, "end_index", 1)
        if start_index and end_index <= start_index:
            raise InvalidArgumentError(f"{what}: end_index ({end_index}) must be higher than start_index "
                                       f"({start_index})")
        if end_index >= n:
            raise InvalidArgumentError(f"{what}: end_index must be lower than the length of the data ({n}), "
                                       f"got {end_index}")
    start = start_index or 0
    end = end_index or n
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets) - start)
    starts = np.arange(0, max(num_seqs, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = np.random.randint(int(1e6))
        np.random.RandomState(seed).shuffle(starts)
    if starts.size:  # else no window fits (a sequence_length past the data's: none is built)
        windows = start + starts[:, None] + np.arange(sequence_length, dtype=np.int64)[None, :] * sampling_rate
    else:
        windows = np.zeros((0, sequence_length), np.int64)
    return TimeseriesDataset(data, targets, windows, start + starts, batch_size)
