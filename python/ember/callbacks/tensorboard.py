"""`TensorBoard`: event files that TensorBoard reads, written through the optional
``tensorboardX`` package (``pip install "ember[tensorboard]"``)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import BackendUnavailableError, InvalidArgumentError
from . import Callback
from ._checks import bool_arg, check_hook, int_arg, path_arg, scalar


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise BackendUnavailableError(
            "TensorBoard: writing TensorBoard event files needs the tensorboardX package, which is not installed "
            f"({e}); install it with: pip install tensorboardX  (or: pip install \"ember[tensorboard]\")"
        ) from None
    return SummaryWriter


class TensorBoard(Callback):
    """Writes TensorBoard event files during ``fit``, laid out as Keras does.

    Training values go to ``log_dir/train`` and validation values to
    ``log_dir/validation``, with Keras's tags: each epoch writes ``epoch_<name>`` (e.g.
    ``epoch_loss``, ``epoch_accuracy`` and the optimizer's ``epoch_learning_rate``) at
    step ``epoch`` (from 0); ``val_loss`` is written as ``epoch_loss`` under
    ``validation``. With ``update_freq`` set to ``"batch"`` or ``n``, the training values
    are also written as ``batch_<name>`` every ``n`` batches, at the global batch count.
    With ``histogram_freq=n``, every ``n`` epochs a histogram of each weight is written
    under ``train`` as ``<weight name>/histogram`` (``dense/kernel/histogram``).
    Then run ``tensorboard --logdir <log_dir>``.

    The files are written by the optional ``tensorboardX`` package
    (``pip install "ember[tensorboard]"``); without it the constructor raises
    `ember.errors.BackendUnavailableError` saying so.

    Args:
        log_dir: the folder of the event files (created on the first write).
        histogram_freq: write weight histograms every this many epochs; 0 for none.
        write_graph: write the model's conceptual graph when training starts, as Keras
            does on its non-TensorFlow backends: a `Sequential` or functional model's
            JSON config under the tag ``keras`` (the ``graph_keras_model`` plugin
            TensorBoard's graph dashboard reads) in ``train``. Ember has no op graph.
        write_images: must be False (NotImplementedError otherwise: Ember writes no
            weight images).
        write_steps_per_second: also write the training steps per second: each epoch's
            as ``epoch_steps_per_second`` and, with a per-batch ``update_freq``, each
            batch's as ``batch_steps_per_second``.
        update_freq: ``"epoch"`` (values once per epoch), ``"batch"`` (also after every
            batch) or an integer ``n`` (also every ``n`` batches).
        profile_batch: must be 0 (NotImplementedError otherwise: Ember has no profiler
            traces for TensorBoard).
        embeddings_freq, embeddings_metadata: must be 0 and None (NotImplementedError
            otherwise: Ember does not write the embedding projector's files).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        owner = "TensorBoard"
        self.log_dir = path_arg(owner, "log_dir", log_dir)
        self.histogram_freq = int_arg(owner, "histogram_freq", histogram_freq, 0)
        self.write_graph = bool_arg(owner, "write_graph", write_graph)
        if bool_arg(owner, "write_images", write_images):
            raise NotImplementedError("TensorBoard: write_images=True is not supported (Ember writes no weight "
                                      "images); pass write_images=False")
        self.write_images = False
        self.write_steps_per_second = bool_arg(owner, "write_steps_per_second", write_steps_per_second)
        if profile_batch not in (0, None) and not (isinstance(profile_batch, (tuple, list)) and
                                                  all(b == 0 for b in profile_batch)):
            raise NotImplementedError(f"TensorBoard: profile_batch={profile_batch!r} is not supported (Ember has no "
                                      "profiler traces for TensorBoard); pass profile_batch=0")
        self.profile_batch = 0
        if embeddings_freq not in (0, None) or embeddings_metadata is not None:
            raise NotImplementedError("TensorBoard: embeddings_freq and embeddings_metadata are not supported (Ember "
                                      "does not write the embedding projector's files); leave them 0 and None")
        self.embeddings_freq = 0
        self.embeddings_metadata = None
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch":
            if isinstance(update_freq, bool) or not isinstance(update_freq, (int, np.integer)) or update_freq < 1:
                raise InvalidArgumentError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, "
                                           f"got {update_freq!r}")
            update_freq = int(update_freq)
            # Batch logs are read back from the device only for callbacks that implement
            # on_train_batch_end: only a per-batch TensorBoard does.
            self.on_train_batch_end = self._on_train_batch_end
        self.update_freq = update_freq
        self._writer_class = _summary_writer()
        self._writers: dict[str, object] = {}
        self._global_train_batch = 0

    def _writer(self, run: str):
        w = self._writers.get(run)
        if w is None:
            path = os.path.join(self.log_dir, run)
            try:
                os.makedirs(path, exist_ok=True)
                w = self._writer_class(logdir=path)
            except OSError as e:
                raise InvalidArgumentError(f"TensorBoard: cannot write event files in {path!r}: {e.strerror or e}") from None
            self._writers[run] = w
        return w

    def _close(self) -> None:
        writers, self._writers = self._writers, {}
        for w in writers.values():
            w.close()

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        if self.write_graph:
            self._write_model_graph()

    def _write_model_graph(self) -> None:
        """Keras's ``keras_model_summary``: the model's JSON under the tag "keras", with the
        metadata of TensorBoard's ``graph_keras_model`` plugin, at step 0."""
        from ..models.functional import Functional
        from ..models.sequential import Sequential

        if not isinstance(self.model, (Functional, Sequential)):
            return
        try:
            json_string = self.model.to_json()
        except Exception as e:  # noqa: BLE001 - as Keras: a model that cannot serialize writes no graph
            import warnings

            warnings.warn(f"TensorBoard: the model failed to serialize as JSON; no graph written ({e})", stacklevel=2)
            return
        from tensorboardX.proto import summary_pb2, tensor_pb2, tensor_shape_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="graph_keras_model", content=b"1"))
        tensor = tensor_pb2.TensorProto(dtype="DT_STRING", string_val=[json_string.encode("utf-8")],
                                        tensor_shape=tensor_shape_pb2.TensorShapeProto())
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
        writer = self._writer("train")
        writer._get_file_writer().add_summary(summary, 0)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            import time

            self._epoch_start = time.perf_counter()
            self._epoch_iterations = int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0)

    def _steps_per_second(self) -> float | None:
        import time

        start = getattr(self, "_epoch_start", None)
        if start is None:
            return None
        steps = int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0) - self._epoch_iterations
        elapsed = time.perf_counter() - start
        return steps / elapsed if elapsed > 0 else None

    def on_train_end(self, logs=None):
        self._close()

    def __del__(self):
        try:
            self._close()
        except Exception:  # noqa: BLE001 - an interpreter shutting down
            pass

    def on_train_batch_begin(self, batch, logs=None):
        if self.write_steps_per_second and self.update_freq != "epoch":
            import time

            self._batch_start = time.perf_counter()

    def _on_train_batch_end(self, batch, logs=None):
        logs = check_hook("TensorBoard", "on_train_batch_end", batch, logs, what="batch")
        self._global_train_batch += 1
        if self.write_steps_per_second and getattr(self, "_batch_start", None) is not None:
            import time

            elapsed = time.perf_counter() - self._batch_start
            if elapsed > 0:
                self._writer("train").add_scalar("batch_steps_per_second", 1.0 / elapsed, self._global_train_batch)
        if self._global_train_batch % self.update_freq:
            return
        values = {k: scalar(v) for k, v in logs.items() if isinstance(k, str)}
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            w = self._writer("train")
            for name, v in values.items():
                w.add_scalar("batch_" + name, v, self._global_train_batch)

    def _learning_rate(self) -> float | None:
        lr = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
        try:
            return None if lr is None else scalar(float(lr))
        except (TypeError, ValueError):
            return None

    def on_epoch_end(self, epoch, logs=None):
        logs = check_hook("TensorBoard", "on_epoch_end", epoch, logs)
        epoch = int(epoch)
        if logs:
            train = {k: scalar(v) for k, v in logs.items() if isinstance(k, str) and not k.startswith("val_")}
            val = {k[4:]: scalar(v) for k, v in logs.items() if isinstance(k, str) and k.startswith("val_")}
            lr = self._learning_rate()
            if lr is not None:
                train["learning_rate"] = lr
            if self.write_steps_per_second:
                sps = self._steps_per_second()
                if sps is not None:
                    train["steps_per_second"] = sps
            for run, values in (("train", train), ("validation", val)):
                values = {k: v for k, v in values.items() if v is not None}
                if values:
                    w = self._writer(run)
                    for name, v in values.items():
                        w.add_scalar("epoch_" + name, v, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for w in self._writers.values():
            w.flush()

    def _log_weights(self, epoch: int) -> None:
        if self.model is None:
            raise InvalidArgumentError("TensorBoard: histogram_freq > 0 needs the model (set by fit)")
        w = self._writer("train")
        for layer in getattr(self.model, "layers", []):
            for weight in layer.weights:
                values = np.asarray(weight.numpy(), dtype=np.float64).ravel()
                values = values[np.isfinite(values)]  # a histogram has no bin for nan or inf
                if values.size:
                    w.add_histogram(weight.name.replace(":", "_") + "/histogram", values, epoch)
