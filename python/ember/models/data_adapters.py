"""Batches from Python generators, iterators and `ember.utils.PyDataset` (Keras's
``Sequence``) for ``fit``, ``evaluate`` and ``predict`` (Keras 3's ``GeneratorDataAdapter``
and ``PyDatasetAdapter``).

Each element is a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` of arrays
(or structures of arrays, for several inputs or outputs). A PyDataset is indexed
``0 .. len(ds) - 1`` every epoch, with its ``on_epoch_begin``/``on_epoch_end`` hooks;
``workers > 1`` fetches batches ahead on a thread pool. A generator is consumed as it
goes: with ``steps_per_epoch`` each epoch takes that many batches from it; without, the
first epoch runs until it is exhausted and training stops there with a warning (Keras: "your
input ran out of data"). ``steps_per_epoch`` / ``steps`` cap a PyDataset's epoch too.

Example:
    >>> import ember as em, numpy as np
    >>> def batches():
    ...     while True:
    ...         x = np.random.rand(8, 2).astype("float32")
    ...         yield x, x.sum(1, keepdims=True)
    >>> model = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> len(model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0).history["loss"])
    2
"""

from __future__ import annotations

import inspect
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import callbacks as callbacks_module
from .. import tree
from ..autograd import no_grad
from ..errors import InvalidArgumentError

__all__ = ["is_iterable_data", "fit_iterable", "evaluate_iterable", "predict_iterable", "apply_config_caps",
           "check_iterable_args"]


def apply_config_caps(epochs: int, steps_per_epoch):
    """``keras.config.set_max_epochs`` / ``set_max_steps_per_epoch`` (debugging caps)."""
    from ..config import max_epochs, max_steps_per_epoch

    if max_steps_per_epoch():
        steps_per_epoch = min(steps_per_epoch or max_steps_per_epoch(), max_steps_per_epoch())
    if max_epochs():
        epochs = min(epochs, max_epochs())
    return epochs, steps_per_epoch


def check_iterable_args(what: str, **given) -> None:
    """Arguments that a stream of batches carries itself must not be given too."""
    bad = [k for k, v in given.items() if v is not None and not (isinstance(v, (int, float)) and v == 0)]
    if bad:
        raise InvalidArgumentError(f"{what}: {', '.join(bad)} must not be given when x is a generator, iterator or "
                                   "PyDataset (its batches carry them)")


def _is_pydataset(x) -> bool:
    from ..utils.py_dataset import PyDataset

    return isinstance(x, PyDataset)


def is_iterable_data(x) -> bool:
    """Whether ``x`` is a stream of batches rather than arrays: a PyDataset, a generator,
    or any iterator (an object with ``__next__``)."""
    return _is_pydataset(x) or inspect.isgenerator(x) or (hasattr(x, "__next__") and hasattr(x, "__iter__"))


class _Epochs:
    """The batches of one input, epoch by epoch."""

    def __init__(self, data, steps, what: str):
        self.data = data
        self.pydataset = _is_pydataset(data)
        self.what = what
        self.steps = steps
        if self.pydataset:
            n = len(data)
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise InvalidArgumentError(f"{what}: len() of a PyDataset must be a non-negative integer, got {n!r}")
            self.steps = n if steps is None else min(int(steps), n)
            self.num_batches = n
        else:
            self._it = iter(data)
        self.exhausted = False

    def epoch(self):
        """Yields the batches of one epoch (each as given by the source)."""
        if self.pydataset:
            ds = self.data
            ds.on_epoch_begin()
            try:
                if ds.workers > 1:
                    with ThreadPoolExecutor(ds.workers) as pool:
                        ahead = max(1, ds.max_queue_size)
                        futures = [pool.submit(ds.__getitem__, i) for i in range(min(ahead, self.steps))]
                        for i in range(self.steps):
                            if i + ahead < self.steps:
                                futures.append(pool.submit(ds.__getitem__, i + ahead))
                            yield futures[i].result()
                            futures[i] = None
                else:
                    for i in range(self.steps):
                        yield ds[i]
            finally:
                ds.on_epoch_end()
            return
        count = 0
        while self.steps is None or count < self.steps:
            try:
                batch = next(self._it)
            except StopIteration:
                self.exhausted = True
                return
            count += 1
            yield batch


def _unpack(batch, what: str):
    from .model import unpack_x_y_sample_weight

    if isinstance(batch, list) and len(batch) in (2, 3) and not all(isinstance(b, np.ndarray) for b in batch):
        batch = tuple(batch)
    return unpack_x_y_sample_weight(batch)


def _to_data(model, batch, what: str, need_y: bool, class_weight=None):
    """A batch as a model `_Data` (the array path's conversions and checks)."""
    from .model import _Data, _class_weight_to_sample_weight, _to_numpy

    x, y, sw = _unpack(batch, what)
    from .model import Model

    if need_y and y is None and type(model).train_step is Model.train_step and type(model).test_step is Model.test_step:
        raise InvalidArgumentError(f"{what}: each batch must be (x, y) or (x, y, sample_weight); got only x")
    if class_weight is not None and y is not None:
        if sw is not None:
            raise InvalidArgumentError(f"{what}: you cannot use class_weight and sample_weight at the same time")
        sw = _class_weight_to_sample_weight(_to_numpy(y, f"{what}: y"), class_weight)
    return _Data(model, x, y, sw, what)


def _first(model, data, what: str, check_targets: bool = True) -> None:
    model._ensure_built(data, what)
    if check_targets:
        model._check_targets(data, what)


def fit_iterable(model, x, epochs, verbose, callbacks, validation_data, initial_epoch, steps_per_epoch,
                 validation_steps, validation_batch_size, validation_freq, class_weight):
    """`Model.fit` over a generator, iterator or PyDataset (the caller has checked the
    arguments shared with the array path)."""
    from .model import Model, _flush, _implements, _pack, _pythonify, _verbosity

    what = "fit"
    source = _Epochs(x, steps_per_epoch, what)
    verbose = _verbosity(verbose)
    history = callbacks_module.History()
    cbs = list(callbacks or [])
    if verbose:
        cbs.append(callbacks_module.ProgbarLogger(verbose))
    batch_logs = any(_implements(cb, "on_train_batch_end") for cb in cbs)
    cbl = callbacks_module.CallbackList(cbs + [history], model=model,
                                        params={"epochs": epochs, "steps": source.steps, "verbose": verbose})
    custom_step = type(model).train_step is not Model.train_step
    model.stop_training = False
    built = False
    model._begin_steps()
    try:
        logs: dict = {}
        cbl.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            model._reset_metrics()
            cbl.on_epoch_begin(epoch)
            logs = {}
            seen = 0
            for step, batch in enumerate(source.epoch()):
                data = _to_data(model, batch, what, True, class_weight)
                if not built:
                    _first(model, data, what)
                    model._end_steps()
                    model._begin_steps()  # the variables exist now
                    built = True
                cbl.on_train_batch_begin(step)
                xb, yb, sw = data.batch(np.arange(data.n))
                if custom_step:
                    logs = model.train_step(_pack(xb, yb, sw))
                    if batch_logs:
                        cbl.on_train_batch_end(step, _pythonify(logs))
                else:
                    model._train_batch(xb, yb, sw)
                    _flush(model.device)
                    if batch_logs:
                        cbl.on_train_batch_end(step, model._logs())
                seen += 1
                if model.stop_training:
                    break
            if seen == 0:
                warnings.warn(f"fit: your input ran out of data at epoch {epoch}; interrupting training. Make sure "
                              "it can generate at least steps_per_epoch * epochs batches (give steps_per_epoch to a "
                              "generator that does not end)", UserWarning, stacklevel=3)
                break
            logs = _pythonify(logs) if custom_step else model._logs()
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                vlogs = _validation_logs(model, validation_data, validation_steps, validation_batch_size)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            cbl.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        cbl.on_train_end(logs)
    finally:
        model._end_steps()
    model.history = history
    return history


def _validation_logs(model, validation_data, steps, batch_size) -> dict:
    from .model import _Data

    if is_iterable_data(validation_data):
        return _evaluate_batches(model, validation_data, steps, "fit: validation_data")
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise InvalidArgumentError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                                   "a generator or a PyDataset")
    val = _Data(model, *validation_data, what="fit: validation_data")
    model._ensure_built(val, "fit: validation_data")
    model._check_targets(val, "fit: validation_data")
    return model._evaluate_data(val, batch_size or 32)


def _evaluate_batches(model, x, steps, what: str) -> dict:
    from .model import Model, _pack, _pythonify

    model._reset_metrics()
    custom_step = type(model).test_step is not Model.test_step
    logs: dict = {}
    source = _Epochs(x, steps, what)
    flat = model._flat_cache
    model._flat_cache = None
    seen = 0
    try:
        for batch in source.epoch():
            data = _to_data(model, batch, what, True)
            if seen == 0:
                _first(model, data, what)
            model._flat_cache = model._flat_cache or model._flat_layers()
            xb, yb, sw = data.batch(np.arange(data.n))
            if custom_step:
                logs = model.test_step(_pack(xb, yb, sw))
            else:
                model._test_batch(xb, yb, sw)
            seen += 1
    finally:
        model._flat_cache = flat
    if seen == 0:
        raise InvalidArgumentError(f"{what}: the input produced no batches")
    return _pythonify(logs) if custom_step else model._logs()


def evaluate_iterable(model, x, steps, callbacks, return_dict):
    """`Model.evaluate` over a generator, iterator or PyDataset."""
    logs = _evaluate_batches(model, x, steps, "evaluate")
    return model._result(logs, return_dict)


def predict_iterable(model, x, steps):
    """`Model.predict` over a generator, iterator or PyDataset: the outputs of every batch
    (only ``x`` of an ``(x, y)`` element is used), concatenated."""
    from .model import _Data

    outs = []
    source = _Epochs(x, steps, "predict")
    with no_grad():
        for batch in source.epoch():
            bx, _, _ = _unpack(batch, "predict")
            data = _Data(model, bx, None, None, "predict")
            if not outs:
                model._ensure_built(data, "predict")
            xb, _, _ = data.batch(np.arange(data.n))
            out = model(xb, training=False)
            outs.append(tree.map_structure(lambda t: np.array(t.numpy()), out) if tree.is_nested(out)
                        else np.array(out.numpy()))
    if not outs:
        raise InvalidArgumentError("predict: the input produced no batches")
    if tree.is_nested(outs[0]):
        return tree.map_structure(lambda *parts: np.concatenate(parts, axis=0), *outs)
    return np.concatenate(outs, axis=0)
