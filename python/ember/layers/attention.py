"""Attention layers with Keras 3's names, arguments, weights and masks: `Attention`
(Luong, dot or concat scores), `AdditiveAttention` (Bahdanau), `MultiHeadAttention`
and `GroupQueryAttention` (grouped-query: key/value heads shared by groups of query
heads).

Everything is composed of `ember.ops` (einsum contractions on the GEMM kernels, softmax,
where), so it runs and trains on every device. Masks follow Keras: a query mask zeroes
the output rows (and is the output's mask), value/key masks and ``attention_mask`` keep
the positions where they are nonzero, masked scores get -1e9 before the softmax
(`MultiHeadAttention` also zeroes them after it, as Keras's `Softmax` layer does), and
``use_causal_mask`` lets position i attend to positions j <= i.
"""

from __future__ import annotations

import math
import numbers
import string

import numpy as np

from .. import activations, constraints, initializers, random as _random, regularizers
from ..errors import InvalidArgumentError, ShapeError
from ..keras_tensor import KerasTensor
from ..ops import core
from ..ops.array_ops import einsum, repeat, where
from ..ops.nn import matmul
from ..tensor import Tensor, as_tensor
from .einsum_dense import EinsumDense
from .layer import Layer, _input_tensor

_LARGE_NEGATIVE = -1e9


def _seed(seed, owner):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InvalidArgumentError(f"{owner}: seed must be None or an integer, got {seed!r}")
    return None if seed is None else int(seed)


def _rate(rate, owner, name="dropout"):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise InvalidArgumentError(f"{owner}: {name} must be a float in [0, 1), got {rate!r}")
    return float(rate)


def _flag(value, name, owner):
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def _shape_of(x):
    if isinstance(x, (Tensor, KerasTensor)):
        return tuple(x.shape)
    return tuple(np.shape(x))


def _mask_tensor(mask, like: Tensor) -> Tensor:
    """A mask as float32 0/1 on ``like``'s device (booleans, ints or floats > 0.5 keep)."""
    if isinstance(mask, Tensor):
        m = mask if mask.device == like.device else mask.to(like.device)
    else:
        m = as_tensor(np.asarray(mask), device=like.device)
    m = core.cast(m, "float32")
    return core.cast(core.greater(m, 0.5), "float32")


def _causal_mask(t: int, s: int, like: Tensor) -> Tensor:
    """(1, T, S): 1 where the key position j <= the query position i."""
    return Tensor(np.tril(np.ones((t, s), np.float32))[None], device=like.device)


def _sliding_window_mask(t: int, s: int, window: int, like: Tensor) -> Tensor:
    """(1, T, S): 1 where |i - j| < window (Keras's symmetric band)."""
    i = np.arange(t)[:, None]
    j = np.arange(s)[None, :]
    return Tensor((np.abs(i - j) < window).astype(np.float32)[None], device=like.device)


def _dropout(x: Tensor, rate: float, gen) -> Tensor:
    mask = _random.dropout_mask(x.shape, rate, seed=gen, device=x.device)
    return core.multiply(x, mask)


# -----------------------------------------------------------------------------------------------
# Attention / AdditiveAttention
# -----------------------------------------------------------------------------------------------

class Attention(Layer):
    """Dot-product attention (Luong-style; Keras 3's ``keras.layers.Attention``).

    Called on ``[query, value]`` or ``[query, value, key]`` (batch, Tq, dim) / (batch, Tv,
    dim): scores ``query @ key^T`` (times a learned ``scale`` with ``use_scale``) or, with
    ``score_mode="concat"``, ``concat_score_weight * sum(tanh(scale * (q + k)))``; the
    softmax over Tv (value-masked and causal positions get -1e9 first); the weights
    (dropped out while training) times ``value``. A query mask zeroes output rows.

    Args:
        use_scale: learn a scalar ``scale`` of the scores.
        score_mode: "dot" or "concat".
        dropout: the dropout rate of the attention weights while training, in [0, 1).
        seed: an integer seed of that dropout.
        **kwargs: the base `Layer` arguments.

    Call arguments:
        inputs: ``[query, value]`` or ``[query, value, key]``.
        mask: ``[query_mask, value_mask]`` (either may be None); Keras masks of the
            inputs are used when not given.
        return_attention_scores: also return the weights (batch, Tq, Tv).
        training: whether dropout is active.
        use_causal_mask: let query position i attend only to key positions <= i.

    Example:
        >>> import ember as em
        >>> q, v = em.ones((2, 3, 4)), em.ones((2, 5, 4))
        >>> em.layers.Attention()([q, v]).shape
        (2, 3, 4)
    """

    _supports_masking = True
    integer_inputs = "cast"

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.use_scale = _flag(use_scale, "use_scale", owner)
        if score_mode not in ("dot", "concat"):
            raise InvalidArgumentError(f"{owner}: invalid value for argument score_mode; expected one of "
                                       f"{{'dot', 'concat'}}, got score_mode={score_mode!r}")
        self.score_mode = score_mode
        self.dropout = _rate(dropout, owner)
        self.seed = _seed(seed, owner)
        self._gen = _random.SeedGenerator(self.seed) if self.seed is not None else None
        self.scale = None
        self.concat_score_weight = None

    def _validate_inputs(self, inputs, mask=None):
        owner = f"{type(self).__name__} {self.name!r}"
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise InvalidArgumentError(f"{owner}: expects inputs [query, value] or [query, value, key], got "
                                       f"{type(inputs).__name__}")
        if mask is not None and (not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3)):
            raise InvalidArgumentError(f"{owner}: mask must be a list [query_mask, value_mask], got {mask!r}")

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = matmul(query, core.transpose(key, tuple(range(key.ndim - 2)) + (key.ndim - 1, key.ndim - 2)))
            if self.scale is not None:
                scores = core.multiply(scores, self.scale)
            return scores
        q = core.expand_dims(query, -2)
        k = core.expand_dims(key, -3)
        s = core.add(q, k)
        if self.scale is not None:
            s = core.multiply(s, self.scale)
        return core.multiply(self.concat_score_weight, core.sum(core.tanh(s), axis=-1))

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        self._validate_inputs(inputs, mask)
        q = inputs[0]
        v = _input_tensor(inputs[1], self.name, self)
        k = _input_tensor(inputs[2], self.name, self) if len(inputs) > 2 else v
        q_mask = mask[0] if mask else getattr(q, "_keras_mask", None)
        v_mask = mask[1] if mask else getattr(inputs[1], "_keras_mask", None)
        scores = self._calculate_scores(q, k)
        keep = None
        if v_mask is not None:
            keep = core.expand_dims(_mask_tensor(v_mask, scores), -2)
        if use_causal_mask:
            causal = _causal_mask(scores.shape[-2], scores.shape[-1], scores)
            keep = causal if keep is None else core.multiply(keep, causal)
        if keep is not None:
            scores = core.subtract(scores, core.multiply(core.subtract(1.0, keep), 1.0e9))
        weights = activations.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = _dropout(weights, self.dropout, self._gen)
        out = matmul(weights, v)
        if q_mask is not None:
            out = core.multiply(out, core.expand_dims(_mask_tensor(q_mask, out), -1))
        if return_attention_scores:
            return out, weights
        return out

    def __call__(self, inputs=None, mask=None, **kwargs):
        if inputs is None:
            raise InvalidArgumentError(f"Layer {self.name!r} was called without inputs")
        if mask is None and isinstance(inputs, (list, tuple)):
            masks = [getattr(t, "_keras_mask", None) for t in inputs[:2]]
            if any(m is not None for m in masks):
                mask = masks
        if mask is not None:
            kwargs["mask"] = list(mask)
        return super().__call__(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return mask[0]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (input_shape[1][-1],)

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False, training=None,
                            use_causal_mask=False):
        self._validate_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        out = KerasTensor(tuple(query.shape[:-1]) + (value.shape[-1],))
        if return_attention_scores:
            return out, KerasTensor(tuple(query.shape[:-1]) + (key.shape[-2],))
        return out

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau-style; Keras 3's ``keras.layers.AdditiveAttention``):
    scores ``sum(scale * tanh(query[:, :, None] + key[:, None]), axis=-1)`` with a learned
    ``scale`` vector of size dim (``use_scale``), then as `Attention`.

    Args:
        use_scale: learn the ``scale`` vector (default True, glorot_uniform).
        dropout: the dropout rate of the attention weights while training, in [0, 1).
        **kwargs: the base `Layer` arguments, and ``seed`` for the dropout.

    Example:
        >>> import ember as em
        >>> em.layers.AdditiveAttention()([em.ones((2, 3, 4)), em.ones((2, 5, 4))]).shape
        (2, 3, 4)
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        dim = input_shape[0][-1]
        if dim is None:
            raise ShapeError(f"AdditiveAttention {self.name!r}: the query's last dimension must be known")
        if self.use_scale:
            self.scale = self.add_weight((int(dim),), "glorot_uniform", name="scale")

    def _calculate_scores(self, query, key):
        s = core.tanh(core.add(core.expand_dims(query, -2), core.expand_dims(key, -3)))
        if self.use_scale:
            s = core.multiply(s, self.scale)
        return core.sum(s, axis=-1)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("score_mode")
        return cfg


# -----------------------------------------------------------------------------------------------
# MultiHeadAttention (Keras's einsum equations)
# -----------------------------------------------------------------------------------------------

def _letter(i: int) -> str:
    return string.ascii_lowercase[i]


def build_attention_equation(rank: int, attn_axes: tuple) -> tuple[str, str, int]:
    """Keras's ``_build_attention_equation``: the query-key dot product and the
    combination equations for projected tensors of ``rank``, attending over ``attn_axes``."""
    target = "".join(_letter(i) for i in range(rank))
    batch_dims = tuple(np.delete(range(rank), attn_axes + (rank - 1,)))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _letter(offset)
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes] +
                      [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def build_proj_equation(free_dims: int, bound_dims: int, output_dims: int) -> tuple[str, str, int]:
    """Keras's ``_build_proj_equation``: (equation, bias axes, output rank) of a projection."""
    input_str = kernel_str = output_str = bias_axes = ""
    offset = 0
    for i in range(free_dims):
        c = _letter(i + offset)
        input_str += c
        output_str += c
    offset += free_dims
    for i in range(bound_dims):
        c = _letter(i + offset)
        input_str += c
        kernel_str += c
    offset += bound_dims
    for i in range(output_dims):
        c = _letter(i + offset)
        kernel_str += c
        output_str += c
        bias_axes += c
    return f"{input_str},{kernel_str}->{output_str}", bias_axes, len(output_str)


def _output_shape(output_rank: int, known_last_dims) -> list:
    return [None] * (output_rank - len(known_last_dims)) + list(known_last_dims)


class _MultiHeadBase(Layer):
    """Shared by MultiHeadAttention and GroupQueryAttention: the three-tensor call, the
    build from the query/value/key shapes, masks and the sublayers' common arguments."""

    _supports_masking = True
    integer_inputs = "cast"

    def _init_common(self, dropout, use_bias, sliding_window, flash_attention, kernel_initializer,
                     bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer,
                     kernel_constraint, bias_constraint, use_gate, seed) -> None:
        owner = type(self).__name__
        self._dropout = _rate(dropout, owner)
        self._use_bias = _flag(use_bias, "use_bias", owner)
        self._use_gate = _flag(use_gate, "use_gate", owner)
        if sliding_window is not None and (isinstance(sliding_window, bool) or not isinstance(sliding_window, int)
                                           or sliding_window <= 0):
            raise InvalidArgumentError(f"{owner}: `sliding_window` must be `None` or a positive integer, got "
                                       f"sliding_window={sliding_window!r}")
        self._sliding_window = sliding_window
        if flash_attention:
            raise NotImplementedError(f"{owner}: flash_attention=True is not supported (Ember computes the "
                                      "attention with einsum contractions and a softmax)")
        self._flash_attention = flash_attention
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._activity_regularizer_sub = regularizers.get(activity_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        self.seed = _seed(seed, owner)
        self._gen = _random.SeedGenerator(self.seed) if self.seed is not None else None
        self._shapes = None

    def _sub_kwargs(self) -> dict:
        # Fresh initializer objects per sublayer (Keras clones them from their configs).
        return dict(kernel_initializer=type(self._kernel_initializer).from_config(self._kernel_initializer.get_config()),
                    bias_initializer=type(self._bias_initializer).from_config(self._bias_initializer.get_config()),
                    kernel_regularizer=self._kernel_regularizer, bias_regularizer=self._bias_regularizer,
                    activity_regularizer=self._activity_regularizer_sub, kernel_constraint=self._kernel_constraint,
                    bias_constraint=self._bias_constraint)

    def __call__(self, query=None, value=None, key=None, **kwargs):
        if query is None:
            query = kwargs.pop("inputs", None)
        if query is None or value is None:
            raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: call it with query and value, e.g. "
                                       "layer(query, value)")
        if not self.built:
            self.build(_shape_of(query), _shape_of(value), None if key is None else _shape_of(key))
        args = (query, value) if key is None else (query, value, key)
        return super().__call__(*args, **kwargs)

    def get_build_config(self):
        if self._shapes is None:
            return None
        q, v, k = self._shapes
        return {"shapes_dict": {"query_shape": list(q), "value_shape": list(v),
                                "key_shape": None if k is None else list(k)}}

    def build_from_config(self, config):
        shapes = (config or {}).get("shapes_dict")
        if shapes and not self.built:
            self.build(tuple(shapes["query_shape"]), tuple(shapes["value_shape"]),
                       None if shapes.get("key_shape") is None else tuple(shapes["key_shape"]))
        elif config and config.get("input_shape") is not None and not self.built:
            s = tuple(config["input_shape"])
            self.build(s, s)

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras's ``_compute_attention_mask``: the product of the query mask (B, T, 1),
        the value and key masks (B, 1, S), the causal and sliding-window masks (1, T, S)
        and ``attention_mask`` (B, T, S); None when there is none."""
        t, s = query.shape[1], value.shape[1]
        masks = []
        if query_mask is not None:
            masks.append(core.expand_dims(_mask_tensor(query_mask, query), -1))
        if value_mask is not None:
            masks.append(core.expand_dims(_mask_tensor(value_mask, query), -2))
        if key_mask is not None:
            masks.append(core.expand_dims(_mask_tensor(key_mask, query), -2))
        if use_causal_mask:
            masks.append(_causal_mask(t, s, query))
        if self._sliding_window is not None:
            masks.append(_sliding_window_mask(t, s, self._sliding_window, query))
        if attention_mask is not None:
            masks.append(_mask_tensor(attention_mask, query))
        if not masks:
            return None
        out = masks[0]
        for m in masks[1:]:
            out = core.multiply(out, m)
        return out

    def _masked_softmax(self, scores: Tensor, mask, norm_axes: tuple, n_attn: int) -> Tensor:
        """Keras's Softmax layer with a mask: masked scores become -1e9, and are zero
        after the softmax (so a fully masked row gives zeros, not a uniform row)."""
        if mask is not None:
            axis = -n_attn * 2 - 1
            while mask.ndim < scores.ndim:
                mask = core.expand_dims(mask, axis)
            scores = where(mask, scores, _LARGE_NEGATIVE)
        out = activations.softmax(scores, axis=norm_axes if len(norm_axes) > 1 else norm_axes[0])
        if mask is not None:
            out = core.multiply(out, mask)
        return out

    def _dropout_scores(self, scores: Tensor, training) -> Tensor:
        if training and self._dropout > 0:
            return _dropout(scores, self._dropout, self._gen)
        return scores


class MultiHeadAttention(_MultiHeadBase):
    """Multi-head attention (Keras 3's ``keras.layers.MultiHeadAttention``, "Attention Is
    All You Need"): query, key and value are projected to ``num_heads`` heads by
    `EinsumDense` sublayers ("query", "key", "value"), scaled dot-product attention runs
    over ``attention_axes``, and the heads are projected back by "attention_output".
    The sublayers, their weights, equations and order are Keras's, so Keras weights load.

    Args:
        num_heads: the number of heads.
        key_dim: the size of each query and key head.
        value_dim: the size of each value head (default key_dim).
        dropout: the dropout rate of the attention weights while training.
        use_bias: whether the projections have biases.
        output_shape: the size(s) of the output's last axes (default: the query's last
            dimension).
        attention_axes: the axes attention runs over (default: every axis between the
            batch and the feature axes).
        sliding_window: None, or attend only within |i - j| < sliding_window.
        flash_attention: None or False (True raises NotImplementedError).
        kernel_initializer, bias_initializer: the projections' initializers.
        kernel_regularizer, bias_regularizer, activity_regularizer: their regularizers.
        kernel_constraint, bias_constraint: their constraints.
        use_gate: gate the heads by ``sigmoid`` of a further projection of the query
            ("gate") before the output projection.
        seed: an integer seed of the dropout.
        **kwargs: the base `Layer` arguments.

    Call arguments:
        query: (batch, T, dim); value: (batch, S, dim); key: (batch, S, dim), default
        value. attention_mask: (batch, T, S), nonzero = attend. return_attention_scores:
        also return (batch, heads, T, S). training. use_causal_mask. query_mask,
        value_mask, key_mask: (batch, T) / (batch, S) masks (default: the inputs' Keras
        masks).

    Example:
        >>> import ember as em
        >>> mha = em.layers.MultiHeadAttention(num_heads=2, key_dim=4)
        >>> out, scores = mha(em.ones((2, 3, 8)), em.ones((2, 5, 8)), return_attention_scores=True)
        >>> out.shape, scores.shape
        ((2, 3, 8), (2, 2, 3, 5))
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = "MultiHeadAttention"
        for name, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
                raise InvalidArgumentError(f"{owner}: {name} must be a positive integer, got {v!r}")
        if value_dim is not None and (isinstance(value_dim, bool) or not isinstance(value_dim, numbers.Integral)
                                      or value_dim <= 0):
            raise InvalidArgumentError(f"{owner}: value_dim must be None or a positive integer, got {value_dim!r}")
        self._num_heads = int(num_heads)
        self._key_dim = int(key_dim)
        self._value_dim = int(value_dim) if value_dim is not None else self._key_dim
        if output_shape is not None:
            if isinstance(output_shape, numbers.Integral) and not isinstance(output_shape, bool):
                output_shape = (int(output_shape),)
            try:
                output_shape = tuple(int(d) for d in output_shape)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{owner}: output_shape must be None, an int or a tuple of ints, got "
                                           f"{output_shape!r}") from None
        self._output_shape = output_shape
        if attention_axes is not None:
            if isinstance(attention_axes, numbers.Integral) and not isinstance(attention_axes, bool):
                attention_axes = (int(attention_axes),)
            try:
                attention_axes = tuple(int(a) for a in attention_axes)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{owner}: attention_axes must be None, an int or a tuple of ints, got "
                                           f"{attention_axes!r}") from None
        self._attention_axes = attention_axes
        self._init_common(dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                          kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                          bias_constraint, use_gate, seed)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape = query_shape
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ShapeError(f"MultiHeadAttention {self.name!r}: all dimensions of `value` and `key`, except the last "
                             f"one, must be equal; got value_shape={value_shape} and key_shape={key_shape}")
        self._shapes = (query_shape, value_shape, None if key_shape == value_shape else key_shape)
        common = self._sub_kwargs
        eq, bias, rank = build_proj_equation(len(query_shape) - 1, 1, 2)
        self.query_dense = EinsumDense(eq, _output_shape(rank - 1, [self._num_heads, self._key_dim]),
                                        bias_axes=bias if self._use_bias else None, name="query", **common())
        self.query_dense.build(query_shape)
        eq, bias, rank = build_proj_equation(len(key_shape) - 1, 1, 2)
        self.key_dense = EinsumDense(eq, _output_shape(rank - 1, [self._num_heads, self._key_dim]),
                                      bias_axes=bias if self._use_bias else None, name="key", **common())
        self.key_dense.build(key_shape)
        if self._use_gate:
            eq, bias, rank = build_proj_equation(len(query_shape) - 1, 1, 2)
            self._gate_dense = EinsumDense(eq, _output_shape(rank - 1, [self._num_heads, self._value_dim]),
                                           bias_axes=bias if self._use_bias else None, activation="sigmoid",
                                           name="gate", **common())
            self._gate_dense.build(query_shape)
        eq, bias, rank = build_proj_equation(len(value_shape) - 1, 1, 2)
        self.value_dense = EinsumDense(eq, _output_shape(rank - 1, [self._num_heads, self._value_dim]),
                                        bias_axes=bias if self._use_bias else None, name="value", **common())
        self.value_dense.build(value_shape)
        # the attention equations over the projected rank
        if self._attention_axes is None:
            axes = tuple(range(1, rank - 2))
        else:
            axes = tuple(a if a >= 0 else (rank - 1) + a for a in self._attention_axes)
        self._attn_axes = axes
        self._dot_product_equation, self._combine_equation, scores_rank = build_attention_equation(rank, axes)
        self._norm_axes = tuple(range(scores_rank - len(axes), scores_rank))
        out = list(self._output_shape) if self._output_shape else [query_shape[-1]]
        eq, bias, rank_o = build_proj_equation(len(query_shape) - 1, 2, len(out))
        self.output_dense = EinsumDense(eq, _output_shape(rank_o - 1, out), bias_axes=bias if self._use_bias else None,
                                         name="attention_output", **common())
        inner = list(self.query_dense.compute_output_shape(query_shape))
        inner[-1] = self._value_dim
        self.output_dense.build(tuple(inner))
        self.built = True

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        value = _input_tensor(value, self.name, self)
        key = value if key is None else _input_tensor(key, self.name, self)
        query_mask = getattr(query, "_keras_mask", None) if query_mask is None else query_mask
        value_mask = getattr(value, "_keras_mask", None) if value_mask is None else value_mask
        if key_mask is None and key is not value:
            key_mask = getattr(key, "_keras_mask", None)
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask)
        gate = self._gate_dense(query) if self._use_gate else None
        q = self.query_dense(query)
        k = self.key_dense(key)
        v = self.value_dense(value)
        q = core.multiply(q, self._inverse_sqrt_key_dim)
        scores = einsum(self._dot_product_equation, k, q)
        scores = self._masked_softmax(scores, mask, self._norm_axes, len(self._attn_axes))
        out = einsum(self._combine_equation, self._dropout_scores(scores, training), v)
        if gate is not None:
            out = core.multiply(out, gate)
        out = self.output_dense(out)
        if return_attention_scores:
            return out, scores
        return out

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        if self._output_shape:
            return query_shape[:-1] + tuple(self._output_shape)
        return query_shape

    def compute_output_spec(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
                            attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False):
        out = KerasTensor(self.compute_output_shape(query.shape))
        if return_attention_scores:
            return out, KerasTensor((query.shape[0], self._num_heads, query.shape[1], value.shape[1]))
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "output_shape": None if self._output_shape is None else list(self._output_shape),
            "attention_axes": None if self._attention_axes is None else list(self._attention_axes),
            "sliding_window": self._sliding_window,
            "use_gate": self._use_gate,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer_sub),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
            "seed": self.seed,
        }


class GroupedQueryAttention(_MultiHeadBase):
    """Grouped-query attention (Keras 3's ``keras.layers.GroupQueryAttention``, Ainslie et
    al. 2023): ``num_query_heads`` query heads share ``num_key_value_heads`` key/value
    heads (each repeated ``num_query_heads // num_key_value_heads`` times); the
    projections are Keras's EinsumDense sublayers "query" (``bqm,muh->bquh``), "key" and
    "value" (``bkm,mvh->bkvh``), "gate" and "attention_output" (``bquh,uhm->bqm``).

    Args:
        head_dim: the size of each head.
        num_query_heads: the number of query heads.
        num_key_value_heads: the number of key/value heads (divides num_query_heads).
        dropout: the dropout rate of the attention weights while training.
        use_bias: whether the projections have biases.
        sliding_window: None, or attend only within |i - j| < sliding_window.
        flash_attention: None or False (True raises NotImplementedError).
        kernel_initializer, bias_initializer: the projections' initializers.
        kernel_regularizer, bias_regularizer, activity_regularizer: their regularizers.
        kernel_constraint, bias_constraint: their constraints.
        use_gate: gate the heads by ``sigmoid`` of a projection of the query.
        seed: an integer seed of the dropout.
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> gqa = em.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
        >>> gqa(em.ones((2, 3, 8)), em.ones((2, 5, 8))).shape
        (2, 3, 8)
    """

    #: Keras exports the class GroupedQueryAttention as keras.layers.GroupQueryAttention
    #: (its configs' class_name); the saved weights' path is grouped_query_attention.
    _keras_class_name = "GroupQueryAttention"

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = "GroupQueryAttention"
        for name, v in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                        ("num_key_value_heads", num_key_value_heads)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
                raise InvalidArgumentError(f"{owner}: {name} must be a positive integer, got {v!r}")
        if num_query_heads % num_key_value_heads:
            raise InvalidArgumentError(f"{owner}: `num_query_heads` must be divisible by `num_key_value_heads`, got "
                                       f"{num_query_heads} and {num_key_value_heads}")
        self.head_dim = int(head_dim)
        self.num_query_heads = int(num_query_heads)
        self.num_key_value_heads = int(num_key_value_heads)
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self._init_common(dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                          kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                          bias_constraint, use_gate, seed)
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(self.head_dim))

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape = query_shape
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        for name, s in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(s) != 3:
                raise ShapeError(f"GroupQueryAttention {self.name!r}: expected a {name} of rank 3 (batch, seq, dim), "
                                 f"got shape {s}")
        self._shapes = (query_shape, value_shape, None if key_shape == value_shape else key_shape)
        self.feature_dim = query_shape[-1]
        common = self._sub_kwargs
        bias_q = "uh" if self._use_bias else None
        bias_kv = "vh" if self._use_bias else None
        self._query_dense = EinsumDense("bqm,muh->bquh", (None, self.num_query_heads, self.head_dim), bias_axes=bias_q,
                                        name="query", **common())
        self._query_dense.build(query_shape)
        self._key_dense = EinsumDense("bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim),
                                      bias_axes=bias_kv, name="key", **common())
        self._key_dense.build(key_shape)
        if self._use_gate:
            self._gate_dense = EinsumDense("bqm,muh->bquh", (None, self.num_query_heads, self.head_dim),
                                           bias_axes=bias_q, activation="sigmoid", name="gate", **common())
            self._gate_dense.build(query_shape)
        self._value_dense = EinsumDense("bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim),
                                        bias_axes=bias_kv, name="value", **common())
        self._value_dense.build(value_shape)
        self._output_dense = EinsumDense("bquh,uhm->bqm", (None, self.feature_dim),
                                         bias_axes="m" if self._use_bias else None, name="attention_output",
                                         **common())
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))
        self.built = True

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        value = _input_tensor(value, self.name, self)
        key = value if key is None else _input_tensor(key, self.name, self)
        query_mask = getattr(query, "_keras_mask", None) if query_mask is None else query_mask
        value_mask = getattr(value, "_keras_mask", None) if value_mask is None else value_mask
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask)
        gate = self._gate_dense(query) if self._use_gate else None
        q = self._query_dense(query)
        k = repeat(self._key_dense(key), self.num_repeats, axis=2)
        v = repeat(self._value_dense(value), self.num_repeats, axis=2)
        q = core.multiply(q, self._inverse_sqrt_head_dim)
        scores = einsum("bquh,bkuh->buqk", q, k)
        scores = self._masked_softmax(scores, mask, (3,), 1)
        out = einsum("buqk,bkuh->bquh", self._dropout_scores(scores, training), v)
        if gate is not None:
            out = core.multiply(out, gate)
        out = self._output_dense(out)
        if return_attention_scores:
            return out, scores
        return out

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape)

    def compute_output_spec(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
                            attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False):
        out = KerasTensor(tuple(query.shape))
        if return_attention_scores:
            return out, KerasTensor((query.shape[0], self.num_query_heads, query.shape[1], value.shape[1]))
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self._use_bias,
            "dropout": self._dropout,
            "sliding_window": self._sliding_window,
            "use_gate": self._use_gate,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer_sub),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
            "seed": self.seed,
        }


GroupQueryAttention = GroupedQueryAttention

__all__ = ["Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention"]
