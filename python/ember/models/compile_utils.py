"""What ``compile`` turns its ``loss``, ``loss_weights`` and ``metrics`` into, for models
with one output or several (Keras 3's ``keras/src/trainers/compile_utils.py``).

With several outputs, ``loss`` and ``metrics`` may be given per output as a list (in
output order) or a dict (by output name); a single loss applies to every output. The
total loss is the ``loss_weights``-weighted sum; logs name each output's loss
``<output>_loss`` and its metrics ``<output>_<metric>``.
"""

from __future__ import annotations

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import tree
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core

__all__ = ["CompileLoss", "CompileMetrics", "match_targets"]


def match_targets(y_true, y_pred, output_names: list[str]) -> list:
    """``y_true`` as a flat list lined up with the flat outputs ``y_pred``."""
    flat_pred = tree.flatten(y_pred)
    n = len(flat_pred)
    if n == 1:
        if isinstance(y_true, (list, tuple)) and len(y_true) == 1 and hasattr(y_true[0], "shape"):
            return [y_true[0]]
        if isinstance(y_true, dict) and len(y_true) == 1:
            return list(y_true.values())
        return [y_true]
    if isinstance(y_true, dict):
        missing = [k for k in output_names if k not in y_true]
        if missing:
            raise InvalidArgumentError(
                f"the targets are a dict with keys {sorted(y_true)}, but the model's outputs are {output_names}"
            )
        return [y_true[k] for k in output_names]
    if isinstance(y_true, (list, tuple)) and len(y_true) == n:
        return list(y_true)
    raise ShapeError(f"the model has {n} outputs {output_names}; pass {n} targets (a list, or a dict by output name)")


def _per_output(spec, output_names: list[str], what: str, default=None) -> list:
    n = len(output_names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in output_names]
        if unknown:
            raise InvalidArgumentError(f"compile: {what} names unknown outputs {unknown}; the model's outputs are {output_names}")
        return [spec.get(k, default) for k in output_names]
    if isinstance(spec, (list, tuple)) and n > 1:
        if len(spec) != n:
            raise InvalidArgumentError(f"compile: {what} is a list of {len(spec)} entries for a model with {n} outputs {output_names}")
        return list(spec)
    return [spec] * n


class CompileLoss:
    """The model's loss: one loss per output, weighted and summed."""

    def __init__(self, loss, loss_weights=None):
        self._spec = loss
        self._weights_spec = loss_weights
        self.losses: list | None = None
        self.weights: list | None = None
        self.output_names: list[str] = []
        # Fail fast on names and objects that cannot be losses.
        for item in tree.flatten(loss) if isinstance(loss, (list, tuple, dict)) else [loss]:
            if item is not None:
                losses_module.get(item)

    def build(self, output_names: list[str]) -> None:
        if self.losses is not None and self.output_names == output_names:
            return
        self.output_names = list(output_names)
        specs = _per_output(self._spec, self.output_names, "loss")
        if isinstance(self._spec, (list, tuple)) and len(self.output_names) == 1:
            if len(self._spec) != 1:
                raise InvalidArgumentError(f"compile: loss is a list of {len(self._spec)} entries for a model with 1 output")
            specs = [self._spec[0]]
        self.losses = [None if s is None else losses_module.get(s) for s in specs]
        weights = _per_output(self._weights_spec, self.output_names, "loss_weights", default=1.0) if self._weights_spec is not None else [1.0] * len(specs)
        if isinstance(self._weights_spec, (list, tuple)) and len(self.output_names) == 1:
            weights = list(self._weights_spec)
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)):
                raise InvalidArgumentError(f"compile: loss_weights must be numbers, got {w!r}")
        self.weights = [float(w) for w in weights]

    @property
    def single(self):
        """The one loss of a one-output model (None otherwise)."""
        return self.losses[0] if self.losses is not None and len(self.losses) == 1 else None

    def __call__(self, y_true: list, y_pred: list, sample_weight=None):
        """The total loss and the per-output losses (tensors)."""
        total = None
        parts = []
        for fn, w, yt, yp in zip(self.losses, self.weights, y_true, y_pred):
            if fn is None or yt is None:
                parts.append(None)
                continue
            value = fn(yt, yp, sample_weight=sample_weight)
            parts.append(value)
            if w != 1.0:
                value = core.multiply(value, w)
            total = value if total is None else core.add(total, value)
        if total is None:
            raise InvalidArgumentError("compile: no output has a loss")
        return total, parts


class CompileMetrics:
    """The compiled metrics of every output, with Keras 3's names."""

    def __init__(self, metrics, weighted_metrics=None):
        self._spec = metrics
        self._weighted_spec = weighted_metrics
        self.per_output: list[list] | None = None
        self.weighted_per_output: list[list] | None = None
        self.name = "compile_metrics"
        self._model = None  # set by Model.compile: output names and losses come from it
        for group in (metrics, weighted_metrics):
            for m in _as_flat_specs(group):
                if not (isinstance(m, str) and m in ("accuracy", "acc")):
                    metrics_module.get(m)

    def build(self, output_names: list[str], y_true: list, y_pred: list, losses: list) -> None:
        if self.per_output is not None:
            return
        n = len(output_names)
        prefix = len(output_names) > 1
        self.per_output = []
        self.weighted_per_output = []
        for group, target in ((self._spec, self.per_output), (self._weighted_spec, self.weighted_per_output)):
            specs = _metric_specs(group, output_names)
            for i in range(n):
                made = []
                for m in specs[i]:
                    if isinstance(m, str) and m in ("accuracy", "acc"):
                        metric = metrics_module.resolve_accuracy(m, tuple(y_true[i].shape), tuple(y_pred[i].shape), losses[i])
                    else:
                        metric = metrics_module.get(m)
                        if isinstance(m, metrics_module.Metric) and n > 1:
                            import copy

                            metric = copy.deepcopy(m) if any(m is x for row in target for x in row) else m
                    if target is self.weighted_per_output and not prefix:
                        metric.name = metric.name if not any(metric.name == x.name for row in self.per_output for x in row) else f"weighted_{metric.name}"
                    if prefix:
                        metric.name = f"{output_names[i]}_{metric.name}"
                    made.append(metric)
                target.append(made)

    @property
    def metrics(self) -> list:
        out = []
        for group in (self.per_output or [], self.weighted_per_output or []):
            for row in group:
                out.extend(row)
        return out

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Updates every output's metrics with a batch (``y_true`` and ``y_pred`` in the
        model's output structure); builds them on the first call, when the shapes are
        known (``"accuracy"`` resolves by shape, as in Keras)."""
        model = self._model
        if self.per_output is not None and len(self.per_output) == 1 and not tree.is_nested(y_pred) and not tree.is_nested(y_true):
            y_true, y_pred = [y_true], [y_pred]  # one output: nothing to match
        else:
            names = model._output_names(y_pred) if model is not None else [f"output_{i}" for i in range(len(tree.flatten(y_pred)))]
            y_true = match_targets(y_true, y_pred, names)
            y_pred = tree.flatten(y_pred)
        if self.per_output is None:
            losses = [None] * len(y_pred)
            if model is not None and model._compile_loss is not None:
                model._compile_loss.build(names)
                losses = model._compile_loss.losses
            self.build(names, y_true, y_pred, losses)
        for i, (yt, yp) in enumerate(zip(y_true, y_pred)):
            if yt is None:
                continue
            mask = getattr(yp, "_keras_mask", None)
            for m in self.per_output[i]:
                m.update_state(yt, yp, sample_weight=_masked_weight(None, mask))
            for m in self.weighted_per_output[i]:
                m.update_state(yt, yp, sample_weight=_masked_weight(sample_weight, mask))

    def reset_state(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def result(self) -> dict:
        return {m.name: m.result() for m in self.metrics}


def _masked_weight(sample_weight, mask):
    """Keras's ``apply_mask(..., reduction="sum")``: the mask a layer attached to the
    predictions (padded steps) becomes the metric's sample weight, times any given one."""
    if mask is None:
        return sample_weight
    mask = core._float(mask)
    if sample_weight is None:
        return mask
    from ..tensor import as_tensor

    sw = core._float(as_tensor(sample_weight, device=mask.device))
    if sw.ndim < mask.ndim:
        sw = core.reshape(sw, tuple(sw.shape) + (1,) * (mask.ndim - sw.ndim))
    return core.multiply(mask, sw)


def _as_flat_specs(group) -> list:
    if group is None:
        return []
    if isinstance(group, (str, metrics_module.Metric)) or (callable(group) and not isinstance(group, (list, tuple, dict))):
        return [group]
    if isinstance(group, dict):
        out = []
        for v in group.values():
            out.extend(_as_flat_specs(v))
        return out
    if isinstance(group, (list, tuple)):
        out = []
        for v in group:
            out.extend(_as_flat_specs(v) if isinstance(v, (list, tuple, dict)) else [v])
        return out
    raise InvalidArgumentError(f"compile: metrics must be a list of metric names or objects, got {group!r}")


def _metric_specs(group, output_names: list[str]) -> list[list]:
    """Per output, its metric specs: a flat list applies to every output; a list of
    lists (one per output) or a dict by output name picks per output."""
    n = len(output_names)
    if group is None:
        return [[] for _ in range(n)]
    if isinstance(group, (str, metrics_module.Metric)) or (callable(group) and not isinstance(group, (list, tuple, dict))):
        return [[group] for _ in range(n)]
    if isinstance(group, dict):
        unknown = [k for k in group if k not in output_names]
        if unknown:
            raise InvalidArgumentError(f"compile: metrics name unknown outputs {unknown}; the model's outputs are {output_names}")
        return [_as_flat_specs(group.get(k)) for k in output_names]
    if isinstance(group, (list, tuple)):
        if n > 1 and len(group) == n and all(isinstance(g, (list, tuple)) or g is None for g in group):
            return [_as_flat_specs(g) for g in group]
        return [list(_as_flat_specs(group)) for _ in range(n)]
    raise InvalidArgumentError(f"compile: metrics must be a list of metric names or objects, got {group!r}")
