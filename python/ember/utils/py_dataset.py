"""``PyDataset`` (Keras 3's ``keras.utils.PyDataset``, formerly ``Sequence``): a dataset
of batches indexed ``0 .. len(ds) - 1``, for ``fit``, ``evaluate`` and ``predict``.

Example:
    >>> import ember as em, numpy as np
    >>> class Halves(em.utils.PyDataset):
    ...     def __init__(self, x, y, batch_size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, i):
    ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
    ...         return self.x[s], self.y[s]
    >>> x = np.random.rand(10, 3).astype("float32")
    >>> ds = Halves(x, x.sum(1, keepdims=True), batch_size=4)
    >>> model = em.Sequential([em.Input((3,)), em.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> model.predict(ds, verbose=0).shape
    (10, 1)
"""

from __future__ import annotations

from ..errors import InvalidArgumentError

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class of datasets of batches: override ``__getitem__(index)`` (a batch ``x``,
    ``(x, y)`` or ``(x, y, sample_weight)``) and ``__len__`` (the number of batches); the
    optional ``on_epoch_begin``/``on_epoch_end`` run around every epoch (shuffle there).

    Args:
        workers: threads fetching batches ahead (1: in the training loop's thread).
        use_multiprocessing: must be False: Ember fetches on threads (a process pool would
            have to pickle the dataset, and Ember's tensors are not picklable).
        max_queue_size: how many batches the workers fetch ahead (default 10).
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        if use_multiprocessing:
            raise NotImplementedError(f"{type(self).__name__}: use_multiprocessing=True is not supported; Ember fetches "
                                      "batches on threads (workers=n)")
        self._workers = workers
        self._use_multiprocessing = False
        self._max_queue_size = max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)  # a subclass may skip super().__init__()

    @workers.setter
    def workers(self, value) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index), returning a batch")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__(), the number of batches")

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``), as Keras 3's property."""
        try:
            return len(self)
        except NotImplementedError:
            return None

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch."""


Sequence = PyDataset  # Keras 2's name
