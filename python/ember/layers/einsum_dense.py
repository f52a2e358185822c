"""`EinsumDense`: a dense layer whose kernel contraction is an einsum equation (Keras 3's
``keras.layers.EinsumDense``, the projection of `MultiHeadAttention`)."""

from __future__ import annotations

import re

from .. import activations, constraints, initializers, regularizers
from ..errors import InvalidArgumentError, ShapeError
from ..initializers import VarianceScaling
from ..ops import core
from ..ops.array_ops import einsum
from .input_spec import InputSpec
from .layer import Layer


def analyze_einsum_string(equation: str, bias_axes, input_shape, output_shape, owner: str = "EinsumDense"):
    """Keras's ``_analyze_einsum_string``: (kernel shape, bias shape or None, full output
    shape, kernel input axes, kernel output axes) for ``equation`` (``ab,bc->ac``,
    ``...ab,bc->...ac`` or ``ab...,bc->ac...``) applied to inputs of ``input_shape``, with
    ``output_shape`` the output without its batch axis (None for unknown sizes)."""
    replaced = re.sub(r"\.\.\.", "0", equation)
    for pattern, left in (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
                          ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
                          ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False)):
        m = re.match(pattern, replaced)
        if m:
            return _analyze_split(m, bias_axes, tuple(input_shape), output_shape, left, owner)
    raise InvalidArgumentError(f"{owner}: invalid einsum equation {equation!r}; equations must be in the form "
                               "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...")


def _analyze_split(m, bias_axes, input_shape, output_shape, left_elided, owner):
    input_spec, weight_spec, output_spec = m.group(1), m.group(2), m.group(3)
    elided = len(input_shape) - len(input_spec)
    output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output_shape.insert(1, input_shape[i])
    elif elided > 0:
        for i in range(len(input_shape) - elided, len(input_shape)):
            output_shape.append(input_shape[i])
    if left_elided:
        input_dim_map = {d: (i + elided) - len(input_shape) for i, d in enumerate(input_spec)}
        output_dim_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_dim_map = {d: i for i, d in enumerate(input_spec)}
        output_dim_map = {d: i for i, d in enumerate(output_spec)}
    if len(output_shape) != len(output_spec) + max(elided, 0):
        raise ShapeError(f"{owner}: output_shape {tuple(output_shape[1:])} does not fit the equation's output "
                         f"{output_spec!r} for inputs of shape {input_shape}")
    for d in input_spec:
        size = input_shape[input_dim_map[d]]
        if d in output_dim_map:
            out = output_shape[output_dim_map[d]]
            if out is not None and size is not None and out != size:
                raise ShapeError(f"{owner}: input shape and output shape do not match at shared dimension {d!r}: "
                                 f"the input has {size}, the output {out}")
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise InvalidArgumentError(f"{owner}: dimension {d!r} of the output {output_spec!r} is in neither the "
                                       f"input {input_spec!r} nor the weight {weight_spec!r}")
    weight_shape, input_axes, output_axes = [], [], []
    for i, d in enumerate(weight_spec):
        if d in output_dim_map:
            weight_shape.append(output_shape[output_dim_map[d]])
            output_axes.append(i)
        elif d in input_dim_map:
            weight_shape.append(input_shape[input_dim_map[d]])
            input_axes.append(i)
        else:
            raise InvalidArgumentError(f"{owner}: weight dimension {d!r} matches neither the input {input_spec!r} "
                                       f"nor the output {output_spec!r}; the weight must be fully specified")
    if any(s is None for s in weight_shape):
        raise ShapeError(f"{owner}: the kernel's shape {tuple(weight_shape)} is not fully known from inputs of shape "
                         f"{input_shape} and output_shape {tuple(output_shape[1:])}")
    bias_shape = None
    if bias_axes is not None:
        num_left = elided if left_elided else 0
        idx = {c: output_shape[i + num_left] for i, c in enumerate(output_spec)}
        for c in bias_axes:
            if c not in output_spec:
                raise InvalidArgumentError(f"{owner}: bias dimension {c!r} is not part of the output spec "
                                           f"{output_spec!r}")
        first = min(output_spec.find(c) for c in bias_axes)
        bias_shape = [idx[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias_shape += [1] * max(elided, 0)
    return weight_shape, bias_shape, output_shape, input_axes, output_axes


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)`` (Keras 3's
    ``keras.layers.EinsumDense``): the kernel's shape comes from the equation, the input
    shape and ``output_shape``; ``bias_axes`` names the output letters the bias spans.

    Args:
        equation: an einsum equation ``"ab,bc->ac"``, ``"...b,bc->...c"`` or
            ``"ab...,bc->ac..."`` (the input, the kernel, the output).
        output_shape: the output's shape without the batch axis (an int for a rank-2
            output); None entries take the input's size on that letter.
        activation: an activation name or callable; None is linear.
        bias_axes: a string of output letters the bias spans, or None for no bias.
        kernel_initializer, bias_initializer: initializers (a VarianceScaling kernel
            initializer gets the equation's input and output axes as its fans, as Keras).
        kernel_regularizer, bias_regularizer: optional regularizers.
        kernel_constraint, bias_constraint: optional constraints, applied after each update.
        lora_rank, lora_alpha, gptq_unpacked_column_size, quantization_config: must be
            None (NotImplementedError otherwise: Ember has no LoRA or quantization).
        **kwargs: the base `Layer` arguments (name, activity_regularizer...).

    Example:
        >>> import ember as em
        >>> layer = em.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
        >>> layer(em.ones((2, 5, 16))).shape, layer.kernel.shape, layer.bias.shape
        ((2, 5, 4, 8), (16, 4, 8), (4, 8))
    """

    integer_inputs = "cast"

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, gptq_unpacked_column_size=None,
                 quantization_config=None, **kwargs):
        for arg, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                           ("gptq_unpacked_column_size", gptq_unpacked_column_size),
                           ("quantization_config", quantization_config)):
            if value is not None:
                raise NotImplementedError(f"EinsumDense: argument {arg} is not supported (no LoRA or quantization)")
        super().__init__(**kwargs)
        if not isinstance(equation, str) or "->" not in equation or "," not in equation:
            raise InvalidArgumentError(f"EinsumDense: equation must be an einsum string such as 'ab,bc->ac', got "
                                       f"{equation!r}")
        if isinstance(output_shape, bool):
            raise InvalidArgumentError(f"EinsumDense: output_shape must be an int or a tuple, got {output_shape!r}")
        if isinstance(output_shape, int):
            partial = (output_shape,)
        else:
            try:
                partial = tuple(None if d is None else int(d) for d in output_shape)
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"EinsumDense: output_shape must be an int or a tuple of ints/None, got {output_shape!r}") from None
        if any(d is not None and d <= 0 for d in partial):
            raise InvalidArgumentError(f"EinsumDense: output_shape sizes must be positive, got {output_shape!r}")
        if bias_axes is not None and (not isinstance(bias_axes, str) or not bias_axes.isalpha()):
            raise InvalidArgumentError(f"EinsumDense: bias_axes must be None or a string of letters, got {bias_axes!r}")
        self.equation = equation
        self.partial_output_shape = partial
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = None
        self.bias = None
        self.lora_rank = self.lora_alpha = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        kernel_shape, bias_shape, full, input_axes, output_axes = analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape, f"EinsumDense {self.name!r}")
        self.full_output_shape = tuple(full)
        self.input_spec = InputSpec(ndim=len(input_shape))
        init = self.kernel_initializer
        if isinstance(init, VarianceScaling) and (init.input_axes is None or init.output_axes is None):
            cfg = init.get_config()
            cfg["input_axes"], cfg["output_axes"] = input_axes, output_axes
            init = type(init).from_config(cfg)
        self.kernel = self.add_weight(tuple(kernel_shape), init, name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight(tuple(bias_shape), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        _, _, full, _, _ = analyze_einsum_string(self.equation, self.bias_axes, tuple(input_shape),
                                                 self.partial_output_shape, f"EinsumDense {self.name!r}")
        return tuple(full)

    def call(self, inputs, training=False):
        x = einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = core.add(x, self.bias)
        if self.activation is not activations.linear:
            x = self.activation(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": list(self.partial_output_shape),
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


__all__ = ["EinsumDense", "analyze_einsum_string"]
