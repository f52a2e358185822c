"""`Model`: training, evaluation and inference on top of a layer graph.

``compile`` resolves the optimizer, loss and metrics (strings or objects, Keras names);
``fit`` runs epochs of shuffled mini-batches with one fused step each: forward with the
tape on, the loss, gradients by `autograd.grad`, and the optimizer's in-place update.
The whole input is copied to the model's device once; each batch is a row gather.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..autograd import enable_grad, grad, no_grad
from ..errors import InvalidArgumentError, NotBuiltError, ShapeError
from ..layers.layer import Layer, call_context
from ..tensor import Tensor

__all__ = ["Model"]


def _to_numpy(data, what: str) -> np.ndarray:
    if isinstance(data, Tensor):
        return np.asarray(data.numpy())
    try:
        a = np.asarray(data)
    except Exception as e:  # ragged lists and the like
        raise InvalidArgumentError(f"{what}: cannot convert to an array: {e}") from None
    if a.dtype == object:
        raise InvalidArgumentError(f"{what}: expected a numeric array, got ragged or non-numeric data")
    if a.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{what}: expected numeric data, got dtype {a.dtype}")
    return a


def _check_finite(a: np.ndarray, what: str) -> None:
    if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise InvalidArgumentError(f"{what}: contains {bad} non-finite values (NaN or inf)")


def _class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Keras 3's rule: each sample weighs class_weight[its class] (1.0 for classes not in
    the dict); the class is the label, or the argmax of a one-hot / probability row."""
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    if y.ndim != 1:
        raise ShapeError(f"fit: class_weight needs one label per sample, got labels of shape {y.shape}")
    weights = {}
    for k, w in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InvalidArgumentError(f"fit: class_weight keys must be class indices, got {k!r}")
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) or not np.isfinite(w):
            raise InvalidArgumentError(f"fit: class_weight[{k}] must be a finite number, got {w!r}")
        weights[int(k)] = float(w)
    classes = np.round(y).astype(np.int64)
    return np.array([weights.get(int(c), 1.0) for c in classes], dtype=np.float32)


class _Data:
    """A dataset for fit/evaluate/predict. Copied once to the model's device and batched
    by row gathers when it fits in one device buffer; otherwise (a dataset larger than
    the GPU's largest binding) kept on the host, and each batch is copied to the device
    as it is used."""

    def __init__(self, model: "Model", x, y, sample_weight=None, what: str = "fit"):
        xa = _to_numpy(x, f"{what}: x")
        if xa.ndim == 0:
            raise ShapeError(f"{what}: x must have a batch dimension, got a scalar")
        _check_finite(xa, f"{what}: x")
        self.n = xa.shape[0]
        self.y = None
        self.y_np = None
        if y is not None:
            ya = _to_numpy(y, f"{what}: y")
            if ya.ndim == 0 or ya.shape[0] != self.n:
                raise ShapeError(
                    f"{what}: x and y must have the same number of samples, got x with {self.n} "
                    f"and y with {ya.shape[0] if ya.ndim else 'no'} samples (shapes {xa.shape} and {ya.shape})"
                )
            _check_finite(ya, f"{what}: y")
            self.y_np = ya
            self.y = _resident(ya, "int32" if ya.dtype.kind in "biu" else "float32", model.device)
        self.sw = None
        if sample_weight is not None:
            sw = _to_numpy(sample_weight, f"{what}: sample_weight").astype(np.float32)
            if sw.ndim != 1 or sw.shape[0] != self.n:
                raise ShapeError(f"{what}: sample_weight must have shape ({self.n},), one weight per sample, got {sw.shape}")
            _check_finite(sw, f"{what}: sample_weight")
            self.sw = sw
        self.x = _resident(xa, "float32", model.device)
        self.x_shape = xa.shape

    def batch(self, idx: np.ndarray):
        return _rows(self.x, idx), None if self.y is None else _rows(self.y, idx), None if self.sw is None else self.sw[idx]


def _resident(a: np.ndarray, dtype: str, device: str):
    """``a`` as a tensor on ``device`` if it fits one device buffer, else ``(a, dtype, device)``
    to be batched from the host."""
    from ..backend import get_backend

    limit = get_backend(device).max_buffer_bytes
    if limit is not None and a.size * 4 > limit:
        return (a, dtype, device)
    return Tensor(a, dtype=dtype, device=device)


def _rows(data, idx: np.ndarray) -> Tensor:
    if isinstance(data, tuple):
        a, dtype, device = data
        return Tensor(a[idx], dtype=dtype, device=device)
    from ..ops.core import take

    return take(data, idx)


class Model(Layer):
    """Base class of models. Subclass it and define ``call``, or use `Sequential`."""

    #: callables ``f(variables, grads)`` run by ``train_step`` after the gradients are
    #: computed and before the update (callbacks such as GradientHealth register here).
    _grad_observers: tuple = ()

    def __init__(self, *args, **kwargs):
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("name", "trainable", "dtype")})
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        from ..tensor import _default_device

        self.device = _default_device[0]
        self._device = self.device
        self._metric_specs: list = []
        self._metrics: list | None = None

    # -- layers tracked by attribute assignment (subclassed models) ---------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Layer) and name not in ("_layers",) and hasattr(self, "_layers"):
            if all(value is not l for l in self._layers):
                self._layers.append(value)
        object.__setattr__(self, name, value)

    @property
    def layers(self) -> list:
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise InvalidArgumentError(f"get_layer: no layer named {name!r}; layers: {[l.name for l in self._layers]}")

    # -- devices ---------------------------------------------------------------------------
    def to(self, device: str) -> "Model":
        """Moves every weight (and optimizer state) to ``device``."""
        from ..backend import get_backend

        get_backend(device)
        if device != self.device:
            moving = list(self.weights)
            if self.optimizer is not None:
                moving += self.optimizer.variables
            for w in moving:
                t = w.to(device)
                w._buf, w._backend, w.device = t._buf, t._backend, t.device
            self.device = self._device = device
            for layer in self._all_layers():
                layer._device = device
        return self

    def _all_layers(self) -> list:
        out, stack = [], list(self._layers)
        while stack:
            layer = stack.pop()
            out.append(layer)
            stack.extend(layer._layers)
        return out

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss) if loss is not None else None
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics) and not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        if isinstance(metrics, dict):
            raise InvalidArgumentError("compile: metrics for multiple outputs are not supported; pass a list")
        if not isinstance(metrics, (list, tuple)):
            raise InvalidArgumentError(f"compile: metrics must be a list of metric names or objects, got {metrics!r}")
        # Validate names now (fail fast), resolve "accuracy" when the shapes are known.
        for m in metrics:
            if not (isinstance(m, str) and m in ("accuracy", "acc")):
                metrics_module.get(m)
        self._metric_specs = list(metrics)
        self._metrics = None
        self.compiled = True

    def _build_metrics(self, y_true_shape: tuple, y_pred_shape: tuple) -> list:
        if self._metrics is None:
            out = []
            for m in self._metric_specs:
                if isinstance(m, str) and m in ("accuracy", "acc"):
                    out.append(metrics_module.resolve_accuracy(m, y_true_shape, y_pred_shape, self.loss))
                else:
                    out.append(metrics_module.get(m))
            self._metrics = out
        return self._metrics

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [m.name for m in (self._metrics or [])]

    # -- steps -----------------------------------------------------------------------------
    def _require_compiled(self, what: str) -> None:
        if not self.compiled or self.loss is None:
            raise InvalidArgumentError(f"{what}: the model must be compiled with a loss first (model.compile(optimizer, loss))")

    def _ensure_built(self, x_shape: tuple, what: str) -> None:
        shape = (None,) + tuple(x_shape[1:])
        if not self.built:
            self.build(shape)
            return
        want = self.input_shape_
        if want is not None and (len(want) != len(shape) or any(w is not None and w != g for w, g in zip(want[1:], shape[1:]))):
            raise ShapeError(f"{what}: the model expects inputs of shape {want}, got data of shape {tuple(x_shape)}")

    def _check_targets(self, data: "_Data", what: str) -> None:
        """Checks class indices against the model's outputs before any step runs, so a bad
        label in the last batch cannot fail an epoch halfway (Keras fails inside the step)."""
        ya = data.y_np
        if ya is None or ya.size == 0 or not _is_sparse_loss(self.loss):
            return
        out = self.output_shape_ if getattr(self, "output_shape_", None) else self.compute_output_shape((None,) + tuple(data.x_shape[1:]))
        classes = out[-1] if out else None
        if classes is None:
            return
        ignore = getattr(self.loss, "_fn_kwargs", {}).get("ignore_class")
        if ignore is not None:
            # Rows labelled ignore_class are masked out by the loss (any value allowed).
            ya = ya[ya != ignore]
            if ya.size == 0:
                return
        lo, hi = ya.min(), ya.max()
        if lo < 0 or hi >= classes:
            bad = (lo if lo < 0 else hi).item()
            raise InvalidArgumentError(
                f"{what}: y holds class index {bad}, outside [0, {classes}) for a model with {classes} outputs "
                "(sparse_categorical_crossentropy expects integer class indices)"
            )

    def _loss_value(self, y, y_pred, sw):
        loss = self.loss(y, y_pred, sample_weight=sw)
        extra = self.losses
        if extra:
            from ..ops import core

            for e in extra:
                loss = core.add(loss, e)
        return loss

    def train_step(self, x, y, sw=None):
        variables = self.trainable_variables
        with enable_grad():
            y_pred = self(x, training=True)
            loss = self._loss_value(y, y_pred, sw)
        grads = grad(loss, variables, retain_graph=False)
        for observe in self._grad_observers:  # e.g. callbacks.GradientHealth; empty on the fast path
            observe(variables, grads)
        self.optimizer.apply(grads, variables)
        return loss, y_pred

    def _update_metrics(self, y, y_pred, sw) -> None:
        with no_grad():
            for m in self._build_metrics(y.shape, y_pred.shape):
                m.update_state(y, y_pred, sample_weight=sw)

    def _logs(self, loss_mean: float) -> dict:
        logs = {"loss": loss_mean}
        for m in self._metrics or []:
            logs[m.name] = float(m.result())
        return logs

    # -- fit -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Trains for ``epochs`` epochs; returns a `History`."""
        self._require_compiled("fit")
        batch_size = _check_batch_size(batch_size, "fit")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise InvalidArgumentError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise InvalidArgumentError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        if class_weight is not None:
            if sample_weight is not None:
                raise InvalidArgumentError("fit: you cannot use class_weight and sample_weight at the same time")
            if not isinstance(class_weight, dict):
                raise InvalidArgumentError(f"fit: class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
        if x is None or y is None:
            raise InvalidArgumentError("fit: x and y are required (generators are not supported yet)")
        verbose = _verbosity(verbose)
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise InvalidArgumentError(f"fit: callbacks must be a list of Callback objects, got {type(callbacks).__name__}")
        xa, ya = _to_numpy(x, "fit: x"), _to_numpy(y, "fit: y")
        if validation_split and validation_data is None:
            if xa.shape[0] != (ya.shape[0] if ya.ndim else -1):
                raise ShapeError(f"fit: x and y must have the same number of samples, got {xa.shape[0]} and {ya.shape[0] if ya.ndim else 0}")
            split = int(xa.shape[0] * (1.0 - validation_split))
            if split == 0 or split == xa.shape[0]:
                raise InvalidArgumentError(
                    f"fit: training data contains {xa.shape[0]} samples, which is not sufficient to split it into a "
                    f"validation and training set as specified by validation_split={validation_split}"
                )
            validation_data = (xa[split:], ya[split:])
            xa, ya = xa[:split], ya[:split]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[:split]
        if class_weight is not None:
            sample_weight = _class_weight_to_sample_weight(ya, class_weight)
        data = _Data(self, xa, ya, sample_weight, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise InvalidArgumentError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = _Data(self, *validation_data, what="fit: validation_data")
        self._ensure_built(data.x_shape, "fit")
        self._check_targets(data, "fit")
        if val is not None:
            self._ensure_built(val.x_shape, "fit: validation_data")
            self._check_targets(val, "fit: validation_data")
        steps = max(1, math.ceil(data.n / batch_size)) if data.n else 0
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        history = callbacks_module.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        cbl = callbacks_module.CallbackList(cbs + [history], model=self, params={"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        cbl.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for m in self._metrics or []:
                m.reset_state()
            cbl.on_epoch_begin(epoch)
            order = np.random.permutation(data.n) if shuffle else np.arange(data.n)
            loss_sum, seen = 0.0, 0
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                if idx.size == 0:
                    break
                cbl.on_train_batch_begin(step)
                xb, yb, sw = data.batch(idx)
                loss, y_pred = self.train_step(xb, yb, sw)
                # Metrics first, then the loss: on the gpu the whole step (forward,
                # backward, update, metrics) then goes in one submission before the host
                # reads anything.
                self._update_metrics(yb, y_pred.detach(), sw)
                lv = float(loss.item())
                if not math.isfinite(lv):
                    cbl.on_train_batch_end(step, {"loss": lv})
                loss_sum += lv * idx.size
                seen += idx.size
                cbl.on_train_batch_end(step, self._logs(loss_sum / seen))
                if self.stop_training:
                    break
            logs = self._logs(loss_sum / max(seen, 1))
            if val is not None and (epoch + 1) % validation_freq == 0:
                vlogs = self._evaluate_data(val, validation_batch_size or batch_size)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            cbl.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbl.on_train_end()
        self.history = history
        return history

    # -- evaluate / predict ----------------------------------------------------------------------
    def _evaluate_data(self, data: _Data, batch_size: int) -> dict:
        for m in self._metrics or []:
            m.reset_state()
        loss_sum, seen = 0.0, 0
        with no_grad():
            for start in range(0, data.n, batch_size):
                idx = np.arange(start, min(start + batch_size, data.n))
                xb, yb, sw = data.batch(idx)
                y_pred = self(xb, training=False)
                loss_sum += float(self._loss_value(yb, y_pred, sw).item()) * idx.size
                seen += idx.size
                self._update_metrics(yb, y_pred, sw)
        return self._logs(loss_sum / max(seen, 1))

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
                 return_dict=False):
        """The loss (and metrics) on ``(x, y)``: a float without metrics, else ``[loss, *metrics]``."""
        self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size, "evaluate")
        if x is None or y is None:
            raise InvalidArgumentError("evaluate: x and y are required")
        data = _Data(self, x, y, sample_weight, "evaluate")
        self._ensure_built(data.x_shape, "evaluate")
        self._check_targets(data, "evaluate")
        logs = self._evaluate_data(data, batch_size)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
        """Model outputs for ``x`` as a numpy array, computed in batches without gradients."""
        batch_size = _check_batch_size(batch_size, "predict")
        data = _Data(self, x, None, None, "predict")
        self._ensure_built(data.x_shape, "predict")
        outs = []
        with no_grad():
            for start in range(0, data.n, batch_size):
                xb, _, _ = data.batch(np.arange(start, min(start + batch_size, data.n)))
                outs.append(np.array(self(xb, training=False).numpy()))
        if not outs:
            out_shape = self.compute_output_shape((0,) + tuple(data.x_shape[1:]))
            return np.zeros(tuple(0 if d is None else d for d in out_shape), np.float32)
        return np.concatenate(outs, axis=0)

    def __call__(self, inputs, training=None, **kwargs):
        x = inputs if isinstance(inputs, Tensor) else Tensor(_to_numpy(inputs, f"{self.name}: input"), dtype="float32", device=self.device)
        if not self.built:
            self.build((None,) + x.shape[1:])
        if x.dtype != "float32":
            from ..ops import core

            x = core.cast(x, "float32")
        with call_context(self):
            return self.call(x, training=bool(training))

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._require_compiled("train_on_batch")
        data = _Data(self, x, y, sample_weight, "train_on_batch")
        self._ensure_built(data.x_shape, "train_on_batch")
        self._check_targets(data, "train_on_batch")
        for m in self._metrics or []:
            m.reset_state()
        xb, yb, sw = data.batch(np.arange(data.n))
        loss, y_pred = self.train_step(xb, yb, sw)
        self._update_metrics(yb, y_pred.detach(), sw)
        return self._result(self._logs(float(loss.item())), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        data = _Data(self, x, y, sample_weight, "test_on_batch")
        self._ensure_built(data.x_shape, "test_on_batch")
        self._check_targets(data, "test_on_batch")
        return self._result(self._evaluate_data(data, max(1, data.n)), return_dict)

    def predict_on_batch(self, x) -> np.ndarray:
        return self.predict(x, batch_size=max(1, len(x)))

    @staticmethod
    def _result(logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # -- weights and summary ------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        self._require_built("get_weights")
        return super().get_weights()

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        super().set_weights(weights)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise NotBuiltError(f"{what}: the model has no weights yet; build it (give input_shape / Input, or call it on data)")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None) -> None:
        """Prints Keras's layer table: name (type), output shape and parameter count."""
        print_fn = print_fn or print
        rows = []
        for layer in self._layers:
            shape = layer.output_shape_ if layer.built else "?"
            params = layer.count_params() if layer.built else 0
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape), f"{params:,}"))
        w = (max([len(r[0]) for r in rows] + [20]) + 2, max([len(r[1]) for r in rows] + [14]) + 2, 15)
        total = sum(int(wt.size) for wt in self.weights) if self.built else 0
        trainable = sum(int(wt.size) for wt in self.trainable_weights) if self.built else 0
        sep = "─" * (sum(w) + 2)
        lines = [f'Model: "{self.name}"', sep, f"{'Layer (type)':<{w[0]}}{'Output Shape':<{w[1]}}{'Param #':>{w[2]}}", "═" * (sum(w) + 2)]
        for r in rows:
            lines.append(f"{r[0]:<{w[0]}}{r[1]:<{w[1]}}{r[2]:>{w[2]}}")
        lines.append(sep)
        lines.append(f" Total params: {total:,} ({_bytes(total * 4)})")
        lines.append(f" Trainable params: {trainable:,} ({_bytes(trainable * 4)})")
        lines.append(f" Non-trainable params: {total - trainable:,} ({_bytes((total - trainable) * 4)})")
        for line in lines:
            print_fn(line)


def _is_sparse_loss(loss) -> bool:
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return True
    return getattr(loss, "_f", None) is losses_module.sparse_categorical_crossentropy


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _check_batch_size(batch_size, what: str) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidArgumentError(f"{what}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _verbosity(verbose: Any) -> int:
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, np.ndarray) or isinstance(verbose, (str, bytes)) or verbose not in (0, 1, 2):
        raise InvalidArgumentError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)
