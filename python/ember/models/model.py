"""`Model`: training, evaluation and inference on top of a layer graph.

``Model(inputs, outputs)`` makes a `Functional` model (Keras 3's rule); subclasses of
``Model`` define ``call`` and may override ``train_step``, ``test_step`` and
``compute_loss``, which ``fit`` and ``evaluate`` then use. ``compile`` resolves the
optimizer, the losses and metrics per output (`compile_utils`); ``fit`` runs epochs of
shuffled mini-batches. A step reads nothing back from the device unless a log line or a
callback asks for it: the loss and the metrics accumulate on the device (Keras's metric
state), and are read at the end of the epoch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import callbacks as callbacks_module
from .. import compiled as _compiled
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import tree
from ..autograd import enable_grad, grad, no_grad
from ..errors import InvalidArgumentError, NotBuiltError, ShapeError
from ..layers.layer import Layer, _collect_losses
from ..ops import core
from ..ops.array_ops import take
from ..tensor import Tensor
from . import data_adapters
from .compile_utils import CompileLoss, CompileMetrics, match_targets

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


def _as_float32(a: np.ndarray) -> np.ndarray:
    """``a`` in the compute dtype; values beyond float32's range become inf (checked after)."""
    if a.dtype == np.float32:
        return a
    with np.errstate(over="ignore", invalid="ignore"):
        return a.astype(np.float32)


def _check_finite(a: np.ndarray, what: str) -> None:
    """Raises unless every value of ``a`` is finite in float32, the compute dtype: float64
    data beyond float32's range (1e300) would become inf there."""
    if a.dtype.kind != "f" or not a.size:
        return
    ok = np.isfinite(_as_float32(a))
    if not ok.all():
        bad = int(ok.size - np.count_nonzero(ok))
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        v = a[idx]
        why = f"{v!r} is beyond float32's range" if np.isfinite(v) else f"{v!r}"
        raise InvalidArgumentError(
            f"{what}: contains {bad} non-finite values (NaN or inf) in float32, the first at index {idx}: {why}")


def _check_int_range(model, a: np.ndarray, what: str, targets: bool) -> str:
    """The compute dtype of integer data ``a``: int32 when it fits. Integer targets that do
    not fit int32 become float32 for a regression loss (Keras casts y_true to the
    prediction's dtype); anything else out of range is a `DTypeError` (never a silent wrap)."""
    from ..tensor import check_int32_range

    try:
        check_int32_range(a, what)
    except Exception:
        if targets and not _sparse_spec(getattr(getattr(model, "_compile_loss", None), "_spec", None)):
            return "float32"
        raise
    return "int32"


def _sparse_spec(spec) -> bool:
    """Whether a compiled loss spec names a sparse (class index) loss for some output."""
    if spec is None:
        return False
    leaves = list(spec.values()) if isinstance(spec, dict) else list(spec) if isinstance(spec, (list, tuple)) else [spec]
    for leaf in leaves:
        try:
            if leaf is not None and _is_sparse_loss(losses_module.get(leaf)):
                return True
        except Exception:  # noqa: BLE001 - compile validated the spec already
            continue
    return False


def _check_loss_fits(model, data: "_Data", what: str) -> None:
    """Runs the loss on a couple of rows of ``data`` (no gradients, no update), so targets
    that do not fit the model's outputs are refused before the first training step, not
    when validation first runs after an epoch has changed the weights."""
    if data.y is None or type(model).test_step is not Model.test_step or model._compile_loss is None:
        return
    xb, yb, sw = data.batch(np.arange(min(2, data.n)))
    with no_grad():
        y_pred = model(xb, training=False)
        try:
            model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=sw, training=False)
        except (ShapeError, InvalidArgumentError) as e:
            raise type(e)(f"{what}: {e}") from None
    trackers = getattr(model, "_output_loss_trackers", None) or ()
    for t in trackers:
        t.reset_state()


def _check_steps(value, name: str, what: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{what}: {name} must be a positive integer or None, got {value!r}")
    return int(value)


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


def _leaves_to_numpy(data, what: str):
    """``data`` (an array, or a list/tuple/dict of arrays) with each leaf a numpy array."""
    if isinstance(data, dict) or (isinstance(data, (list, tuple)) and data and all(
            isinstance(d, (np.ndarray, Tensor)) or (isinstance(d, (list, tuple)) and d and hasattr(d[0], "shape"))
            for d in data)):
        return tree.map_structure(lambda a: _to_numpy(a, what), data if not isinstance(data, tuple) else list(data))
    return _to_numpy(data, what)


class _Data:
    """A dataset for fit/evaluate/predict: ``x`` and ``y`` are arrays or structures of
    arrays (several inputs or outputs). Each array is copied once to the model's device
    and batched by row gathers when it fits in one device buffer; otherwise (larger
    than the GPU's largest binding) it stays on the host, and each batch is copied to
    the device as it is used."""

    def __init__(self, model: "Model", x, y, sample_weight=None, what: str = "fit"):
        xs = _leaves_to_numpy(x, f"{what}: x")
        flat_x = tree.flatten(xs)
        if not flat_x:
            raise InvalidArgumentError(f"{what}: x is an empty {type(x).__name__}; pass the input data")
        for a in flat_x:
            if a.ndim == 0:
                raise ShapeError(f"{what}: x must have a batch dimension, got a scalar")
            _check_finite(a, f"{what}: x")
        self.n = flat_x[0].shape[0]
        if self.n == 0 and what != "predict":
            # Keras raises for an empty dataset too; a loss of 0.0 would be made up.
            raise InvalidArgumentError(f"{what}: x has 0 samples (shape {flat_x[0].shape}); there is nothing to compute a loss on")
        for a in flat_x[1:]:
            if a.shape[0] != self.n:
                raise ShapeError(f"{what}: all inputs must have the same number of samples, got {[b.shape[0] for b in flat_x]}")
        self.x_np = xs
        self.y = None
        self.y_np = None
        if y is not None:
            ys = _leaves_to_numpy(y, f"{what}: y")
            if not tree.flatten(ys):
                raise InvalidArgumentError(f"{what}: y is an empty {type(y).__name__}; pass the targets")
            for ya in tree.flatten(ys):
                if ya.ndim == 0 or ya.shape[0] != self.n:
                    raise ShapeError(
                        f"{what}: x and y must have the same number of samples, got x with {self.n} "
                        f"and y with {ya.shape[0] if ya.ndim else 'no'} samples (shapes {flat_x[0].shape} and {ya.shape})"
                    )
                _check_finite(ya, f"{what}: y")
            self.y_np = ys
            self.y = tree.map_structure(
                lambda a: _resident(a, _check_int_range(model, a, f"{what}: y", True) if a.dtype.kind in "biu" else "float32",
                                    model.device), ys)
        self.sw = None
        if sample_weight is not None:
            sw = _to_numpy(sample_weight, f"{what}: sample_weight")
            _check_finite(sw, f"{what}: sample_weight")
            sw = _as_float32(sw)
            if sw.ndim != 1 or sw.shape[0] != self.n:
                raise ShapeError(f"{what}: sample_weight must have shape ({self.n},), one weight per sample, got {sw.shape}")
            _check_finite(sw, f"{what}: sample_weight")
            self.sw = sw
        self.x = tree.map_structure(
            lambda a: _resident(a, _check_int_range(model, a, f"{what}: x", False) if a.dtype.kind in "biu" else "float32",
                                model.device), xs)
        self.x_shape = flat_x[0].shape

    def batch(self, idx: np.ndarray):
        x = _rows(self.x, idx) if not isinstance(self.x, (list, dict)) else tree.map_structure(lambda d: _rows(d, idx), self.x)
        y = None
        if self.y is not None:
            y = _rows(self.y, idx) if not isinstance(self.y, (list, dict)) else tree.map_structure(lambda d: _rows(d, idx), self.y)
        return x, y, None if self.sw is None else self.sw[idx]

    def sample(self, n: int = 2):
        """A few leading rows of x, on the host (to build a subclassed model)."""
        return tree.map_structure(lambda a: a[:n], self.x_np)


def _resident(a: np.ndarray, dtype: str, device: str):
    """``a`` as a tensor on ``device`` if it fits one device buffer, else ``(a, dtype, device)``
    to be batched from the host."""
    from ..backend import get_backend

    limit = get_backend(device).max_buffer_bytes
    if limit is not None and a.size * 4 > limit:
        return (a, dtype, device)
    return Tensor(a, dtype=dtype, device=device)


def _rows(data, idx: np.ndarray) -> Tensor:
    """The batch at ``idx`` (in-range row numbers: an epoch's permutation or a range)."""
    if isinstance(data, tuple):
        a, dtype, device = data
        return Tensor(a[idx], dtype=dtype, device=device)
    if data.device == "cpu" and data.size and idx.ndim == 1:
        # The row-gather kernel directly: the data needs no gradient and the indices no
        # range check, and ops.take's checks cost more than the copy at batch 32.
        be, n = data._backend, data.shape[0]
        buf = be.take_rows(data._buf, data.size // n, idx.tolist())
        return Tensor._wrap(buf, (len(idx),) + data.shape[1:], data.dtype, be)
    return take(data, idx, axis=0)


def _implements(cb, hook: str) -> bool:
    """Whether a callback overrides ``hook`` (so batch logs must be produced for it)."""
    fn = getattr(type(cb), hook, None)
    return fn is not None and fn is not getattr(callbacks_module.Callback, hook, None) or hook in getattr(cb, "__dict__", {})


class Model(Layer):
    """A layer with training and inference: ``compile``, ``fit``, ``evaluate``,
    ``predict``.

    ``Model(inputs, outputs)`` builds a functional model from KerasTensors. Subclass it
    and define ``call`` (and the layers it uses, as attributes, in ``__init__``) for a
    model written as code; ``train_step``, ``test_step`` and ``compute_loss`` can be
    overridden, and ``fit`` uses the overrides.

    Args:
        inputs: with ``outputs``, the KerasTensors of a functional model.
        outputs: the functional model's outputs.
        name: the model's name.
        trainable: whether its weights are trained.

    Example:
        >>> import ember as em
        >>> class TwoLayers(em.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = em.layers.Dense(8, activation="relu")
        ...         self.out = em.layers.Dense(1)
        ...     def call(self, x):
        ...         return self.out(self.hidden(x))
        >>> model = TwoLayers()
        >>> model(em.ones((2, 3))).shape, len(model.weights)
        ((2, 1), 4)
    """

    #: callables ``f(variables, grads)`` run by the training step after the gradients
    #: are computed and before the update (callbacks such as GradientHealth register here).
    _grad_observers: tuple = ()

    def __new__(cls, *args, **kwargs):
        if _functional_init_arguments(args, kwargs):
            from .functional import Functional

            if cls is Model:
                return super().__new__(Functional)
            if not issubclass(cls, Functional):
                # A subclass constructed with inputs and outputs (Keras's "functional
                # subclass", e.g. one overriding train_step): the same class with
                # Functional's graph behind its own methods.
                return super().__new__(_functional_subclass(cls))
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args or _functional_init_arguments(args, kwargs):
            raise InvalidArgumentError(
                f"{type(self).__name__}: inputs and outputs make a functional model; call "
                "keras.Model(inputs, outputs), or define call() in a subclass"
            )
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("name", "trainable", "dtype")})
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        from ..tensor import _default_device

        self.device = _default_device[0]
        self._device = self.device
        self._compile_loss: CompileLoss | None = None
        self._compile_metrics: CompileMetrics | None = None
        self._loss_tracker = None
        self._output_loss_trackers: list = []
        self._train_variables: list | None = None
        self._flat_cache = None

    @property
    def layers(self) -> list:
        return list(self._sublayers())

    def get_layer(self, name=None, index=None):
        """A layer of the model by ``name`` or by ``index`` (in ``model.layers``)."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise InvalidArgumentError("get_layer: pass name or index, not both")
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise InvalidArgumentError(f"get_layer: index must be an integer, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise InvalidArgumentError(f"get_layer: index {index} is out of range; the model has {len(layers)} layers")
            return layers[index]
        if name is None:
            raise InvalidArgumentError("get_layer: pass a layer name or index")
        for layer in layers:
            if layer.name == name:
                return layer
        raise InvalidArgumentError(f"get_layer: no layer named {name!r}; layers: {[l.name for l in layers]}")

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
                if isinstance(layer, Model):
                    layer.device = device
            for m in self.metrics:
                m.reset_state()
        return self

    def _all_layers(self) -> list:
        return self._flat_layers()[1:]

    def _clear_losses(self) -> None:
        for layer in self._flat_cache or self._flat_layers():
            layer._losses = []

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configures training: the optimizer, the loss (one, or per output as a list or
        dict), ``loss_weights`` per output, and the metrics (a list, or per output).
        ``jit_compile`` ("auto", True or False) chooses fit's compiled step
        (`ember.compiled`, docs/compiled_step.md): "auto" compiles the built-in step, True
        also a model's own ``train_step`` and warns when a step cannot be compiled, False
        (or ``run_eagerly=True``) keeps every step eager."""
        self.optimizer = optimizers_module.get(optimizer)
        if loss is not None and not isinstance(loss, (list, tuple, dict)):
            self.loss = losses_module.get(loss)
            self._compile_loss = CompileLoss(self.loss, loss_weights)
        elif loss is not None:
            self.loss = loss
            self._compile_loss = CompileLoss(loss, loss_weights)
        else:
            self.loss = None
            self._compile_loss = None
        if metrics is not None and not isinstance(metrics, (list, tuple, dict, str, metrics_module.Metric)) and not callable(metrics):
            raise InvalidArgumentError(f"compile: metrics must be a list of metric names or objects, got {metrics!r}")
        self._compile_metrics = CompileMetrics(metrics, weighted_metrics) if (metrics or weighted_metrics) else None
        if self._compile_metrics is not None:
            self._compile_metrics._model = self
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers = []
        self.compiled = True
        # The distribution active at compile (a DataParallel scope or set_distribution).
        from ..distribute import distribution as _distribution

        self._distribution = _distribution()
        # The compiled training step (ember.compiled): "auto" and True trace fit's step;
        # run_eagerly=True means eager, as in Keras.
        self._jit_compile = False if run_eagerly is True else _compiled.check_jit_compile(jit_compile)
        self._compiled_train_step = self._compiled_custom_step = None
        # The arguments as given, for get_compile_config (Keras's compile_config).
        self._compile_config = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                                "weighted_metrics": weighted_metrics, "run_eagerly": run_eagerly,
                                "steps_per_execution": steps_per_execution, "jit_compile": jit_compile}

    @property
    def metrics(self) -> list:
        """The model's metrics, as Keras 3 lists them: the loss tracker (``"loss"``), the
        per-output loss trackers of a multi-output model, then the compiled metrics (one
        container whose ``result()`` is a dict by metric name)."""
        out = []
        if self._loss_tracker is not None:
            out.append(self._loss_tracker)
        out.extend(self._output_loss_trackers)
        if self._compile_metrics is not None:
            out.append(self._compile_metrics)
        return out

    @property
    def metrics_names(self) -> list[str]:
        names = []
        for m in self.metrics:
            if isinstance(m, CompileMetrics):
                names.extend(x.name for x in m.metrics)
            else:
                names.append(m.name)
        return names

    def _output_names(self, y_pred) -> list[str]:
        names = getattr(self, "output_names", None)
        flat = tree.flatten(y_pred)
        if names and len(names) == len(flat):
            return list(names)
        if isinstance(y_pred, dict):
            return sorted(y_pred)
        return [f"output_{i}" for i in range(len(flat))] if len(flat) > 1 else ["output"]

    # -- the steps -------------------------------------------------------------------------
    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise InvalidArgumentError(f"{what}: the model must be compiled first (model.compile(optimizer, loss))")

    def _ensure_built(self, data: "_Data", what: str) -> None:
        """Builds the model's weights before the first step. A subclassed model (whose
        layers are made on the first call) is called once on two samples."""
        if not self.built:
            if type(self).build is not Model.build and "build" in type(self).__dict__ or _is_sequential(self):
                self.build((None,) + tuple(data.x_shape[1:]))
            if not self.built or not self.weights:
                with no_grad():
                    self(data.sample(), training=False)
                self.built = True
            return
        want = self.input_shape_
        shape = (None,) + tuple(data.x_shape[1:])
        if isinstance(data.x_np, np.ndarray) and want is not None and _is_flat_shape(want) and (
                len(want) != len(shape) or any(w is not None and w != g for w, g in zip(want[1:], shape[1:]))):
            raise ShapeError(f"{what}: the model expects inputs of shape {want}, got data of shape {tuple(data.x_shape)}")

    def _prediction_shapes(self, data: "_Data") -> list:
        """The output shapes for this data (without running the model where the graph
        knows them)."""
        outs = getattr(self, "_outputs", None)
        if outs:
            return [t.shape for t in outs]
        if self.output_shape_ is not None and _is_flat_shape(self.output_shape_):
            return [self.output_shape_]
        return []

    def _check_targets(self, data: "_Data", what: str) -> None:
        """Checks class indices against the model's outputs before any step runs, so a bad
        label in the last batch cannot fail an epoch halfway (Keras fails inside the step)."""
        if data.y_np is None or self._compile_loss is None:
            return
        shapes = self._prediction_shapes(data)
        if not shapes:
            return
        names = self._output_names([None] * len(shapes)) if len(shapes) > 1 else ["output"]
        self._compile_loss.build(names)
        try:
            ys = match_targets(data.y_np, [None] * len(shapes), names) if len(shapes) > 1 else [data.y_np]
        except (InvalidArgumentError, ShapeError) as e:
            raise type(e)(f"{what}: {e}") from None
        for ya, fn, shape in zip(ys, self._compile_loss.losses, shapes):
            if ya is None or fn is None or ya.size == 0 or not _is_sparse_loss(fn):
                continue
            classes = shape[-1] if shape else None
            if classes is None:
                continue
            ignore = getattr(fn, "_fn_kwargs", {}).get("ignore_class")
            if ignore is not None:
                # Rows labelled ignore_class are masked out by the loss (any value allowed).
                ya = ya[ya != ignore]
                if ya.size == 0:
                    continue
            lo, hi = ya.min(), ya.max()
            if lo < 0 or hi >= classes:
                bad = (lo if lo < 0 else hi).item()
                raise InvalidArgumentError(
                    f"{what}: y holds class index {bad}, outside [0, {classes}) for a model with {classes} outputs "
                    "(sparse_categorical_crossentropy expects integer class indices)"
                )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss of a batch: the compiled losses of the outputs, weighted by
        ``loss_weights``, plus the layers' losses (regularization, ``add_loss``)."""
        total = None
        cl = self._compile_loss
        if cl is not None and y is not None and isinstance(y_pred, Tensor) and cl.single is not None and not tree.is_nested(y):
            total = cl.single(y, y_pred, sample_weight=sample_weight)  # one output: no structure to match
            if cl.weights[0] != 1.0:
                total = core.multiply(total, cl.weights[0])
        elif cl is not None and y is not None:
            flat_pred = tree.flatten(y_pred)
            names = self._output_names(y_pred)
            self._compile_loss.build(names)
            ys = match_targets(y, y_pred, names)
            total, parts = self._compile_loss(ys, flat_pred, sample_weight)
            if len(parts) > 1:
                if not self._output_loss_trackers:
                    self._output_loss_trackers = [metrics_module.Mean(name=f"{n}_loss") for n in names]
                n = _batch_size(x if x is not None else flat_pred[0])
                for tracker, part in zip(self._output_loss_trackers, parts):
                    if part is not None:
                        tracker.update_state(part.detach(), sample_weight=n)
        extra = _collect_losses(self._flat_cache or self._flat_layers())
        if extra:
            for e in extra:
                total = e if total is None else core.add(total, e)
        if total is None:
            # Keras 3: compile() without a loss minimizes the layers' add_loss() losses; with
            # none of those either there is nothing to train on.
            raise InvalidArgumentError(
                "No loss to compute. Provide a `loss` argument in `compile()` (or add losses in call() with add_loss)"
            )
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Updates the compiled metrics with a batch; returns the metric results."""
        self._update_compiled_metrics(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def _update_compiled_metrics(self, y, y_pred, sample_weight) -> None:
        if self._compile_metrics is None or y is None:
            return
        with no_grad():
            self._compile_metrics.update_state(y, y_pred, sample_weight=sample_weight)

    def get_metrics_result(self) -> dict:
        """The current value of every metric, by name (tensors; nested dicts flattened)."""
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    def train_step(self, data):
        """One training step on a batch ``data`` = ``(x, y)`` or ``(x, y, sample_weight)``:
        forward, loss, gradients, optimizer update, metrics. Returns the logs."""
        x, y, sw = unpack_x_y_sample_weight(data)
        self._train_batch(x, y, sw)
        return self.get_metrics_result()

    def _train_batch(self, x, y, sw) -> Tensor:
        """The default step, reading nothing back: the loss and the metrics accumulate on
        the device."""
        loss, y_pred = self._train_forward_backward(x, y, sw)
        self._train_metrics(x, y, sw, loss, y_pred)
        return loss

    def _train_forward_backward(self, x, y, sw):
        """Forward, loss, gradients and the optimizer update: the part of the default step
        that `ember.compiled` traces and replays. Returns the detached loss and outputs."""
        variables = self._train_variables if self._train_variables is not None else self.trainable_variables
        with enable_grad():
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sw, training=True)
        dist = self.optimizer.__dict__.get("_distribution")
        # A distributed step starts all-reducing each gradient bucket as soon as the
        # backward walk has finished its gradients (ember.distribute, overlap=True).
        ready = dist.begin_backward(variables) if dist is not None else None
        # Keras: the optimizer's loss_scale_factor scales the loss differentiated (apply
        # divides the gradients again); the loss reported is the unscaled one.
        scaled = self.optimizer.scale_loss(loss) if getattr(self.optimizer, "loss_scale_factor", None) is not None else loss
        grads = grad(scaled, variables, retain_graph=False, leaf_ready=ready)
        for observe in self._grad_observers:  # e.g. callbacks.GradientHealth; empty on the fast path
            observe(variables, grads)
        self.optimizer.apply(grads, variables)
        return loss.detach(), _detach(y_pred)

    def _train_metrics(self, x, y, sw, loss, y_pred) -> None:
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        self._update_compiled_metrics(y, y_pred, sw)

    def test_step(self, data):
        """One evaluation step: forward without gradients, loss and metrics. Returns the logs."""
        x, y, sw = unpack_x_y_sample_weight(data)
        self._test_batch(x, y, sw)
        return self.get_metrics_result()

    def _test_batch(self, x, y, sw) -> None:
        with no_grad():
            y_pred = self(x, training=False)
            loss = self.compute_loss(x, y, y_pred, sw, training=False)
            self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
            self._update_compiled_metrics(y, y_pred, sw)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        with no_grad():
            return self(x, training=False)

    def _reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def _begin_steps(self) -> None:
        """Computed once per fit/evaluate: the variables to train and the layer walk."""
        self._flat_cache = self._flat_layers()
        self._train_variables = self.trainable_variables

    def _end_steps(self) -> None:
        self._flat_cache = None
        self._train_variables = None

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
        steps_per_epoch = _check_steps(steps_per_epoch, "steps_per_epoch", "fit")
        validation_steps = _check_steps(validation_steps, "validation_steps", "fit")
        if validation_batch_size is not None:
            if (isinstance(validation_batch_size, bool) or not isinstance(validation_batch_size, (int, np.integer))
                    or validation_batch_size < 1):
                raise InvalidArgumentError(f"fit: validation_batch_size must be a positive integer or None, got {validation_batch_size!r}")
            validation_batch_size = int(validation_batch_size)
        if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)) or validation_freq < 1:
            raise InvalidArgumentError(f"fit: validation_freq must be a positive integer (validate every n epochs), got {validation_freq!r}")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
            raise InvalidArgumentError(f"fit: initial_epoch must be a non-negative integer, got {initial_epoch!r}")
        if class_weight is not None:
            if sample_weight is not None:
                raise InvalidArgumentError("fit: you cannot use class_weight and sample_weight at the same time")
            if not isinstance(class_weight, dict):
                raise InvalidArgumentError(f"fit: class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
        epochs, steps_per_epoch = data_adapters.apply_config_caps(epochs, steps_per_epoch)
        if data_adapters.is_iterable_data(x):  # generators, iterators, PyDataset: models/data_adapters.py
            data_adapters.check_iterable_args("fit", y=y, sample_weight=sample_weight, validation_split=validation_split)
            return data_adapters.fit_iterable(self, x, epochs, verbose, callbacks, validation_data, initial_epoch,
                                              steps_per_epoch, validation_steps, validation_batch_size, validation_freq,
                                              class_weight)
        if x is None:
            raise InvalidArgumentError("fit: x is required")
        if y is None and type(self).train_step is Model.train_step:
            raise InvalidArgumentError("fit: x and y are required (or x a generator or PyDataset yielding (x, y) batches)")
        verbose = _verbosity(verbose)
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise InvalidArgumentError(f"fit: callbacks must be a list of Callback objects, got {type(callbacks).__name__}")
        xa = _leaves_to_numpy(x, "fit: x")
        ya = _leaves_to_numpy(y, "fit: y") if y is not None else None
        if validation_split and validation_data is None:
            n = tree.flatten(xa)[0].shape[0]
            ny = tree.flatten(ya)[0].shape[0] if ya is not None and tree.flatten(ya)[0].ndim else -1
            if ya is not None and n != ny:
                raise ShapeError(f"fit: x and y must have the same number of samples, got {n} and {max(ny, 0)}")
            split = int(n * (1.0 - validation_split))
            if split == 0 or split == n:
                raise InvalidArgumentError(
                    f"fit: training data contains {n} samples, which is not sufficient to split it into a "
                    f"validation and training set as specified by validation_split={validation_split}"
                )
            cut = lambda s, lo, hi: tree.map_structure(lambda a: a[lo:hi], s) if s is not None else None  # noqa: E731
            validation_data = (cut(xa, split, None), cut(ya, split, None))
            xa, ya = cut(xa, 0, split), cut(ya, 0, split)
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[:split]
        if class_weight is not None:
            if isinstance(ya, (list, dict)):
                raise InvalidArgumentError("fit: class_weight is only supported for models with a single output")
            sample_weight = _class_weight_to_sample_weight(ya, class_weight)
        data = _Data(self, xa, ya, sample_weight, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise InvalidArgumentError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = _Data(self, *validation_data, what="fit: validation_data")
        self._ensure_built(data, "fit")
        self._check_targets(data, "fit")
        if val is not None:
            self._ensure_built(val, "fit: validation_data")
            self._check_targets(val, "fit: validation_data")
            _check_loss_fits(self, val, "fit: validation_data")
        steps = max(1, math.ceil(data.n / batch_size)) if data.n else 0
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        history = callbacks_module.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        # Batch logs are read back from the device only when a callback reads them.
        batch_logs = any(_implements(cb, "on_train_batch_end") for cb in cbs)
        dist = self._fit_distribution()
        if dist is not None and not dist.is_chief:
            # Only rank 0 shows the bar and runs the callbacks that write files. The batch
            # logs are still made on every rank (they are an all-reduce of the metrics).
            verbose = 0
            cbs = [c for c in cbs if not dist.chief_only(c)]
        cbl = callbacks_module.CallbackList(cbs + [history], model=self, params={"epochs": epochs, "steps": steps, "verbose": verbose})
        custom_step = type(self).train_step is not Model.train_step
        self.stop_training = False
        self._begin_steps()
        self._active_distribution = dist
        try:
            if dist is not None:
                dist.begin_fit(self)  # rank 0's weights, optimizer state and random streams
            logs: dict = {}
            cbl.on_train_begin()
            # callbacks.BackupAndRestore sets where a resumed fit starts: an epoch, and
            # the batches of it already done (skipped after the epoch's permutation is drawn)
            initial_epoch = getattr(self, "_initial_epoch", None) or initial_epoch
            first_step = getattr(self, "_initial_step", None) or 0
            self._initial_epoch = self._initial_step = None
            for epoch in range(initial_epoch, epochs):
                self._reset_metrics()
                cbl.on_epoch_begin(epoch)
                order = np.random.permutation(data.n) if shuffle else np.arange(data.n)
                logs = {}
                for step in range(first_step if epoch == initial_epoch else 0, steps):
                    idx = order[step * batch_size:(step + 1) * batch_size]
                    if idx.size == 0:
                        break
                    cbl.on_train_batch_begin(step)
                    if dist is not None:
                        idx = dist.shard(idx)  # this rank's share of the global batch
                        if idx.size == 0:
                            dist.null_step(self)
                            if batch_logs:  # the logs are an all-reduce every rank joins
                                cbl.on_train_batch_end(step, self._logs())
                            continue
                    xb, yb, sw = data.batch(idx)
                    if custom_step:
                        logs = _compiled.custom_train_step(self, xb, yb, sw)  # eager unless jit_compile=True
                        if batch_logs:
                            cbl.on_train_batch_end(step, _pythonify(logs))
                    else:
                        _compiled.train_batch(self, xb, yb, sw)  # compiled unless jit_compile=False
                        _flush(self.device)
                        if batch_logs:
                            cbl.on_train_batch_end(step, self._logs())
                    if self.stop_training:
                        break
                logs = _pythonify(logs) if custom_step else self._logs()
                if val is not None and validation_freq and (epoch + 1) % validation_freq == 0:
                    # Keras's fit validates through evaluate with fit's callbacks: their
                    # on_test_begin / on_test_end run (SwapEMAWeights swaps there).
                    cbl.on_test_begin()
                    vlogs = self._evaluate_data(val, validation_batch_size or batch_size)
                    cbl.on_test_end(dict(vlogs))
                    logs.update({f"val_{k}": v for k, v in vlogs.items()})
                cbl.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            if epochs > 0:
                # Keras: with use_ema the weights end as their moving averages.
                self.optimizer.finalize_variable_values(self.trainable_variables)
            cbl.on_train_end(logs)  # Keras: the last epoch's logs
        except BaseException as e:
            if dist is not None:
                dist.world.fail(e)  # every other rank stops with this error instead of waiting
            raise
        finally:
            self._end_steps()
            self._active_distribution = None
            if dist is not None:
                dist.end_fit(self)
        self.history = history
        return history

    def _logs(self) -> dict:
        """The metric results as Python floats (one readback each); in a distributed fit,
        of the metric states summed over the ranks."""
        dist = getattr(self, "_active_distribution", None)
        if dist is not None:
            return dist.reduce_logs(self, lambda: _pythonify(self.get_metrics_result()))
        return _pythonify(self.get_metrics_result())

    def _fit_distribution(self):
        """The DataParallel a fit runs under (the one active at compile, else the one
        active now), or None when there is none or it has a single rank."""
        from ..distribute import distribution

        dist = getattr(self, "_distribution", None) or distribution()
        return dist if dist is not None and dist.size > 1 else None

    # -- evaluate / predict ----------------------------------------------------------------------
    def _evaluate_data(self, data: _Data, batch_size: int) -> dict:
        self._reset_metrics()
        custom_step = type(self).test_step is not Model.test_step
        logs: dict = {}
        flat = self._flat_cache
        self._flat_cache = flat or self._flat_layers()
        try:
            starts = range(0, data.n, batch_size)
            dist = getattr(self, "_active_distribution", None)
            if dist is not None:
                starts = dist.shard_batches(starts)  # each rank evaluates every size-th batch
            for start in starts:
                idx = np.arange(start, min(start + batch_size, data.n))
                xb, yb, sw = data.batch(idx)
                if custom_step:
                    logs = self.test_step(_pack(xb, yb, sw))
                else:
                    self._test_batch(xb, yb, sw)
        finally:
            self._flat_cache = flat
        return _pythonify(logs) if custom_step else self._logs()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
                 return_dict=False):
        """The loss (and metrics) on ``(x, y)``: a float without metrics, else ``[loss, *metrics]``."""
        self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size, "evaluate")
        steps = _check_steps(steps, "steps", "evaluate")
        cbl = callbacks_module.CallbackList(callbacks, model=self, params={"verbose": 0}) if callbacks else None
        if data_adapters.is_iterable_data(x):
            data_adapters.check_iterable_args("evaluate", y=y, sample_weight=sample_weight)
            if cbl is not None:
                cbl.on_test_begin()
            result = data_adapters.evaluate_iterable(self, x, steps, callbacks, True)
            if cbl is not None:
                cbl.on_test_end(dict(result))
            return result if return_dict else self._result(result, False)
        if x is None or (y is None and type(self).test_step is Model.test_step):
            raise InvalidArgumentError("evaluate: x and y are required")
        data = _Data(self, x, y, sample_weight, "evaluate")
        self._ensure_built(data, "evaluate")
        self._check_targets(data, "evaluate")
        if cbl is not None:  # the begin/end hooks (SwapEMAWeights); Ember runs no per-batch test hooks
            cbl.on_test_begin()
        logs = self._evaluate_data(data, batch_size)
        if cbl is not None:
            cbl.on_test_end(dict(logs))
        return self._result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x`` as numpy arrays (the model's output structure),
        computed in batches without gradients."""
        batch_size = _check_batch_size(batch_size, "predict")
        cbl = callbacks_module.CallbackList(callbacks, model=self, params={"verbose": 0}) if callbacks else None
        if cbl is not None:  # the begin/end hooks (SwapEMAWeights); Ember runs no per-batch predict hooks
            cbl.on_predict_begin()
            try:
                return self.predict(x, batch_size=batch_size, verbose=verbose, steps=steps)
            finally:
                cbl.on_predict_end()
        if data_adapters.is_iterable_data(x):
            return data_adapters.predict_iterable(self, x, _check_steps(steps, "steps", "predict"))
        data = _Data(self, x, None, None, "predict")
        self._ensure_built(data, "predict")
        outs = []
        with no_grad():
            for start in range(0, data.n, batch_size):
                xb, _, _ = data.batch(np.arange(start, min(start + batch_size, data.n)))
                out = self(xb, training=False)
                outs.append(tree.map_structure(lambda t: np.array(t.numpy()), out) if tree.is_nested(out) else np.array(out.numpy()))
        if not outs:
            shapes = self._prediction_shapes(data)
            if not shapes:
                out_shape = self.compute_output_shape((0,) + tuple(data.x_shape[1:]))
                shapes = [out_shape]
            empty = [np.zeros(tuple(0 if d is None else d for d in (0,) + tuple(s[1:])), np.float32) for s in shapes]
            struct = getattr(self, "_outputs_struct", None)
            return tree.pack_sequence_as(struct, empty) if tree.is_nested(struct) else empty[0]
        if tree.is_nested(outs[0]):
            return tree.map_structure(lambda *parts: np.concatenate(parts, axis=0), *outs)
        return np.concatenate(outs, axis=0)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        if class_weight is not None:
            sample_weight = _class_weight_to_sample_weight(_to_numpy(y, "train_on_batch: y"), class_weight)
        data = _Data(self, x, y, sample_weight, "train_on_batch")
        self._ensure_built(data, "train_on_batch")
        self._check_targets(data, "train_on_batch")
        self._reset_metrics()
        xb, yb, sw = data.batch(np.arange(data.n))
        self._begin_steps()
        try:
            if type(self).train_step is not Model.train_step:
                logs = _pythonify(self.train_step(_pack(xb, yb, sw)))
            else:
                self._train_batch(xb, yb, sw)
                logs = self._logs()
        finally:
            self._end_steps()
        return self._result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        data = _Data(self, x, y, sample_weight, "test_on_batch")
        self._ensure_built(data, "test_on_batch")
        self._check_targets(data, "test_on_batch")
        return self._result(self._evaluate_data(data, max(1, data.n)), return_dict)

    def predict_on_batch(self, x):
        n = len(tree.flatten(x)[0]) if tree.is_nested(x) else len(x)
        return self.predict(x, batch_size=max(1, n))

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

    def save_weights(self, filepath, overwrite=True) -> None:
        """Saves the weights to ``.safetensors`` or Keras 3's ``.weights.h5``
        (`ember.saving.save_weights`)."""
        from ..saving.weights import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False) -> None:
        """Loads weights written by `save_weights` (`ember.saving.load_weights`): all are
        checked before any is assigned."""
        from ..saving.weights import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (Keras's ``to_json``); `ember.models.model_from_json`
        reads it back."""
        from ..saving.weights import model_to_json

        return model_to_json(self, **kwargs)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise NotBuiltError(f"{what}: the model has no weights yet; build it (give input_shape / Input, or call it on data)")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None) -> None:
        """Prints Keras's layer table: name (type), output shape and parameter count, and
        for functional models the layers each one is connected to."""
        from .summary import print_summary

        print_summary(self, print_fn=print_fn or print, show_trainable=show_trainable)

    # -- whole-model files (ember.saving.saving_lib) ----------------------------------------
    def save(self, filepath, overwrite=True, **kwargs) -> None:
        """Saves the model (config, weights, optimizer state) as a Keras 3 ``.keras``
        file; see `ember.saving.save_model`."""
        from ..saving.saving_lib import save_model

        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def get_compile_config(self):
        """The serialized ``compile`` arguments (Keras's ``compile_config``), or None."""
        from ..saving.saving_lib import get_compile_config

        return get_compile_config(self)

    def compile_from_config(self, config) -> None:
        """Compiles the model from a `get_compile_config` dict."""
        from ..saving.saving_lib import compile_from_config

        compile_from_config(self, config)


_FUNCTIONAL_SUBCLASSES: dict = {}


def _functional_init_arguments(args: tuple, kwargs: dict) -> bool:
    """Keras's rule for "this constructor call defines a functional model"."""
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


def _functional_subclass(cls):
    """``cls`` with `Functional` mixed in after it (cached), so that a subclass of Model
    called with ``(inputs, outputs)`` is a graph model keeping its own overrides."""
    made = _FUNCTIONAL_SUBCLASSES.get(cls)
    if made is None:
        from .functional import Functional

        made = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
        _FUNCTIONAL_SUBCLASSES[cls] = made
    return made


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` (Keras's ``keras.utils.unpack_x_y_sample_weight``)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise InvalidArgumentError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: {data!r}")


def _pack(x, y, sw):
    if y is None:
        return (x,)
    if sw is None:
        return (x, y)
    return (x, y, sw)


def _batch_size(x) -> int:
    first = tree.flatten(x)[0]
    return int(first.shape[0]) if getattr(first, "shape", None) else 1


def _detach(y):
    if isinstance(y, Tensor):
        return y.detach()
    return tree.map_structure(lambda t: t.detach() if isinstance(t, Tensor) else t, y)


def _flush(device: str) -> None:
    """Submits the step's recorded GPU work now, so the device runs it while Python
    prepares the next step (no-op on the CPU)."""
    if device != "cpu":
        from ..backend import get_backend

        flush = getattr(getattr(get_backend(device), "rt", None), "flush", None)
        if flush is not None:
            flush()


def _pythonify(logs: dict) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        if isinstance(v, dict):
            out.update(_pythonify(v))
        elif isinstance(v, Tensor):
            out[k] = float(v.item()) if v.size == 1 else np.array(v.numpy())
        elif isinstance(v, (np.floating, np.integer)):
            out[k] = float(v)
        else:
            out[k] = v
    return out


def _is_flat_shape(s) -> bool:
    return isinstance(s, tuple) and all(d is None or isinstance(d, int) for d in s)


def _is_sequential(model) -> bool:
    from .sequential import Sequential

    return isinstance(model, Sequential)


def _is_sparse_loss(loss) -> bool:
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return True
    return getattr(loss, "_f", None) is losses_module.sparse_categorical_crossentropy


def _check_batch_size(batch_size, what: str) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidArgumentError(f"{what}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _verbosity(verbose: Any) -> int:
    if isinstance(verbose, str) and verbose == "auto":
        # A live bar on a terminal, one line per epoch in a file or pipe (keras#13716).
        return callbacks_module._auto_verbosity()
    if isinstance(verbose, np.ndarray) or isinstance(verbose, (str, bytes)) or verbose not in (0, 1, 2):
        raise InvalidArgumentError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)
