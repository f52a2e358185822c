"""`InputSpec`: what a layer accepts (rank, known axis sizes), checked on every call
with Keras 3's messages (``keras/src/layers/input_spec.py``)."""

from __future__ import annotations

from .. import tree
from ..errors import InvalidArgumentError, ShapeError

__all__ = ["InputSpec", "assert_input_compatibility"]

_BATCH_HINT = (
    " (shapes here include the batch axis first; `keras.Input(shape=...)` and `input_shape=` exclude it)"
)


class InputSpec:
    """Constraints on one input of a layer.

    Args:
        dtype: expected dtype, or None.
        shape: the full expected shape (batch axis included), None for any size.
        ndim: exact rank. max_ndim / min_ndim: rank bounds.
        axes: ``{axis: size}`` for axes whose size must match (negative axes count
            from the end).
        allow_last_axis_squeeze: accept a rank one lower or higher when the last axis
            has size 1.
        name: the input's name, optional: whether it may be None.
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.name = name
        self.optional = optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            top = (self.ndim if self.ndim is not None else self.max_ndim) - 1
            if max(self.axes) > top:
                raise InvalidArgumentError(f"InputSpec: axis {max(self.axes)} is out of bounds for ndim {top + 1}")

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
                                         ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim),
                                         ("axes", self.axes or None)) if v is not None]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes}

    @classmethod
    def from_config(cls, config: dict) -> "InputSpec":
        if not isinstance(config, dict):
            raise InvalidArgumentError(f"InputSpec.from_config: expected a dict, got {config!r}")
        unknown = sorted(set(config) - {"dtype", "shape", "ndim", "max_ndim", "min_ndim", "axes", "name", "optional",
                                        "allow_last_axis_squeeze"})
        if unknown:
            raise InvalidArgumentError(f"InputSpec.from_config: unknown keys {unknown}")
        return cls(**config)


def assert_input_compatibility(input_spec, inputs, layer_name: str) -> None:
    """Raises `ShapeError` naming the layer and both shapes when ``inputs`` (tensors
    or KerasTensors, in any structure) do not meet ``input_spec``."""
    if not input_spec:
        return
    if isinstance(input_spec, InputSpec) and not isinstance(inputs, (list, tuple, dict)):
        # One spec, one tensor (most calls): the cheap common checks first.
        shape = getattr(inputs, "shape", None)
        if shape is not None and input_spec.dtype is None and input_spec.shape is None and (
                input_spec.ndim is None or len(shape) == input_spec.ndim) and (
                input_spec.min_ndim is None or len(shape) >= input_spec.min_ndim) and (
                input_spec.max_ndim is None or len(shape) <= input_spec.max_ndim) and all(
                -len(shape) <= a < len(shape) and (v is None or shape[a] is None or shape[a] == v)
                for a, v in input_spec.axes.items()):
            return
    specs = tree.flatten(input_spec)
    flat = tree.flatten(inputs)
    if len(specs) != len(flat):
        raise ShapeError(
            f'Layer "{layer_name}" expects {len(specs)} input(s), but it received {len(flat)} input tensors. '
            f"Inputs received: {[getattr(t, 'shape', t) for t in flat]}"
        )
    for index, (spec, x) in enumerate(zip(specs, flat)):
        if spec is None or (x is None and spec.optional):
            continue
        shape = getattr(x, "shape", None)
        if shape is None:
            raise ShapeError(f'Input {index} of layer "{layer_name}" is not a tensor: {x!r}')
        shape = tuple(shape)
        ndim = len(shape)
        pre = f'Input {index} of layer "{layer_name}" is incompatible with the layer: '
        squeezable = spec.allow_last_axis_squeeze and ndim and shape[-1] == 1
        if spec.ndim is not None and ndim != spec.ndim and not (squeezable and abs(ndim - spec.ndim) == 1):
            raise ShapeError(pre + f"expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape}" + _BATCH_HINT)
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ShapeError(pre + f"expected max_ndim={spec.max_ndim}, found ndim={ndim}. Full shape received: {shape}")
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ShapeError(pre + f"expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full shape received: {shape}" + _BATCH_HINT)
        if spec.dtype is not None and getattr(x, "dtype", None) is not None and str(x.dtype) != str(spec.dtype):
            raise ShapeError(pre + f"expected dtype={spec.dtype}, found dtype={x.dtype}")
        for axis, value in spec.axes.items():
            if value is None:
                continue
            if not -ndim <= axis < ndim:
                raise ShapeError(pre + f"expected axis {axis} of input shape to exist, but received input with shape {shape}")
            got = shape[axis]
            if got is not None and got != value:
                raise ShapeError(
                    pre + f"expected axis {axis} of input shape to have value {value}, but received input with shape {shape}"
                )
        if spec.shape is not None:
            for want, got in zip(spec.shape, shape):
                if want is not None and got is not None and want != got:
                    raise ShapeError(pre + f"expected shape={spec.shape}, found shape={shape}" + _BATCH_HINT)
