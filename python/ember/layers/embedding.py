"""Embedding: turns integer indices into dense vectors (Keras 3's ``keras.layers.Embedding``)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import constraints, initializers, regularizers
from ..errors import InvalidArgumentError
from ..keras_tensor import KerasTensor
from ..ops.core import _record, _scalar, _wrap, not_equal
from ..tensor import Tensor
from .layer import Layer


def _check_dim(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidArgumentError(f"Embedding: {name} must be a positive integer, got {value!r}")
    return int(value)


def _index_buffer(ids: Tensor, input_dim: int, owner: str):
    """The indices as an int32 buffer on ``ids``' device, checked to lie in [0, input_dim).

    Float inputs (``keras.Input`` is float32 by default) must hold whole numbers, which
    are used as indices; a fractional value (1.5: data that was never tokenized, or was
    normalised) is an error, never silently truncated. On the cpu the check runs here, on
    the host, and names the first offending index. On the gpu nothing is read back
    mid-step: negative and fractional indices are mapped to ``input_dim`` on the device,
    and the gather kernel flags any index outside [0, input_dim) (raised as an
    InvalidArgumentError at the next sync or readback, the message giving the index as
    the kernel saw it: ``input_dim`` for a negative or fractional one). The gpu computes
    the check in float32, exact for vocabularies below 2**24 entries.
    """
    be = ids._backend
    if ids.device == "cpu":
        a = np.asarray(ids.numpy())
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise InvalidArgumentError(f"{owner}: the indices hold NaN or infinite values")
            frac = a != np.trunc(a)
            if frac.any():
                pos = tuple(int(i) for i in np.argwhere(frac)[0])
                raise InvalidArgumentError(
                    f"{owner}: index {float(a[pos])!r} at position {list(pos)} (input shape {tuple(a.shape)}) is not a "
                    "whole number: Embedding takes integer indices (tokenize the data, or cast it)")
        bad = (a < 0) | (a >= input_dim)
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidArgumentError(
                f"{owner}: index {a[pos]:.0f} at position {list(pos)} is out of range [0, {input_dim}) "
                f"(input_dim={input_dim})"
            )
        return be.from_numpy(a.astype(np.int32), "int32")
    f = ids._buf if ids.dtype == "float32" else be.cast(ids._buf, "float32")
    neg, _ = be.binary("less_equal", f, ids.shape, _scalar(-1.0, ids)._buf, ())
    fixed, _ = be.where(neg, ids.shape, _scalar(float(input_dim), ids)._buf, (), f, ids.shape)
    if ids.dtype == "float32":  # a fractional index becomes input_dim too, so the kernel flags it
        whole, _ = be.binary("equal", fixed, ids.shape, be.unary("floor", fixed), ids.shape)
        fixed, _ = be.where(whole, ids.shape, fixed, ids.shape, _scalar(float(input_dim), ids)._buf, ())
    return be.cast(fixed, "int32")


def embedding_lookup(embeddings: Tensor, ids: Tensor, owner: str = "embedding") -> Tensor:
    """Rows ``embeddings[ids]`` (shape ``ids.shape + (output_dim,)``), differentiable in
    ``embeddings`` (the gradient is a scatter-add of the output's gradient into the rows
    read, repeated indices accumulating). The indices stay on the device."""
    be = embeddings._backend
    vocab, dim = embeddings.shape
    idx = _index_buffer(ids, vocab, owner)
    n = ids.size
    view = ((n, dim), (0, 1), 0)
    out = _wrap(be.gather(embeddings._buf, *view, idx, (1, 0), [(dim, vocab)], op=owner), ids.shape + (dim,),
                "float32", be)

    def backward(g):
        gbuf = be.scatter_add(g._buf, vocab * dim, *view, idx, (1, 0), [(dim, vocab)], op=f"{owner} backward")
        return (_wrap(gbuf, embeddings.shape, "float32", be),)

    return _record(out, (embeddings,), backward)


class Embedding(Layer):
    """Turns non-negative integers (indices) into dense vectors of fixed size:
    ``output[..., :] = embeddings[input[...]]``, for inputs of any rank (Keras 3's
    ``keras.layers.Embedding``). Float inputs (such as ``keras.Input``'s default float32)
    must hold whole numbers (a fractional, NaN or infinite value is an
    `ember.errors.InvalidArgumentError`); an index outside ``[0, input_dim)`` is an
    `ember.errors.InvalidArgumentError` (on the gpu raised at the next sync).

    Args:
        input_dim: the vocabulary size (the largest index + 1).
        output_dim: the size of each vector.
        embeddings_initializer: the initializer of the ``embeddings`` matrix
            (input_dim, output_dim); default "uniform", Keras's RandomUniform(-0.05, 0.05).
        embeddings_regularizer: an optional regularizer of the matrix.
        embeddings_constraint: an optional constraint applied to the matrix after each update.
        mask_zero: whether index 0 is padding: `compute_mask` then returns ``inputs != 0``
            for later layers (index 0 is still looked up; as in Keras, ``input_dim`` should
            then count it).
        weights: an optional list holding the initial matrix (input_dim, output_dim).
        lora_rank, lora_alpha: Keras's LoRA adapter; must be None (NotImplementedError
            otherwise: Ember has no LoRA).
        quantization_config: must be None (NotImplementedError otherwise: Ember has no
            quantization).
        **kwargs: the base `Layer` arguments (name, trainable, activity_regularizer, ...).

    Example:
        >>> import ember as em
        >>> import numpy as np
        >>> layer = em.layers.Embedding(1000, 64)
        >>> layer(np.array([[4, 20, 7], [0, 1, 999]])).shape
        (2, 3, 64)
        >>> layer.count_params()
        64000
    """

    integer_inputs = "keep"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        if "input_length" in kwargs:
            kwargs.pop("input_length")
            warnings.warn("Embedding: argument input_length is deprecated (Keras 3); just remove it", UserWarning,
                          stacklevel=2)
        super().__init__(**kwargs)
        self.input_dim = _check_dim(input_dim, "input_dim")
        self.output_dim = _check_dim(output_dim, "output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        for arg, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                           ("quantization_config", quantization_config)):
            if value is not None:
                raise NotImplementedError(f"Embedding: argument {arg} is not supported (no LoRA or quantization); "
                                          "it must be None")
        self.lora_rank = None
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.embeddings = None
        if weights is not None:
            self.build()
            self.built = True
            if isinstance(weights, (np.ndarray, Tensor)):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if self.embeddings is not None:
            return
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                          name="embeddings", regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)

    def call(self, inputs):
        return embedding_lookup(self.embeddings, inputs, f"Embedding {self.name!r}")

    def compute_mask(self, inputs, mask=None):
        """``inputs != 0`` (float32 ones and zeros) when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        if isinstance(inputs, KerasTensor):
            return KerasTensor(inputs.shape, dtype="float32")
        return not_equal(inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_output_spec(self, inputs, *args, **kwargs):
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }


__all__ = ["Embedding", "embedding_lookup"]
