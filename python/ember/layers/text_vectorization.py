"""`TextVectorization`: strings to token indices or bag-of-words vectors (Keras 3's
``keras.layers.TextVectorization``: names, arguments, defaults, the standardize / split
/ ngrams / lookup pipeline and its outputs).

The text is processed on the host in Python (``re`` and ``str`` methods standing in for
``tf.strings``); the output is an Ember tensor (int32 indices or float32 encodings) on
the layer's device, so the layer serves as a preprocessing step (``x = vectorize(texts)``)
or as a model's first layer called on string arrays. The vocabulary is a `StringLookup`
with ``mask_token=""`` (index 0 pads sequences) and one OOV index, as in Keras.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from .._validation import brief, check_int
from ..errors import InvalidArgumentError, ShapeError
from ..keras_tensor import KerasTensor
from .lookup import StringLookup, _host_array, _HostLayer

#: Keras's punctuation class (``tf.strings.regex_replace`` in ``_preprocess``).
DEFAULT_STRIP_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_STRIP = re.compile(DEFAULT_STRIP_REGEX)
_STANDARDIZE = (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = (None, "whitespace", "character")


class TextVectorization(_HostLayer):
    """Turns strings into sequences of token indices or into dense token-count vectors.

    Each string is standardized (lower-cased, punctuation stripped), split into tokens
    (on whitespace, or into characters), optionally recombined into ngrams, and looked
    up in a vocabulary built by `adapt` (or given). Index 0 is padding ("" in
    `get_vocabulary`), 1 the out-of-vocabulary token "[UNK]".

    Args:
        max_tokens: the largest vocabulary size (padding and OOV included), or None.
        standardize: "lower_and_strip_punctuation" (default), "lower",
            "strip_punctuation", None, or a callable taking and returning a numpy array
            of str (as Keras hands a callable numpy strings on non-TensorFlow backends).
        split: "whitespace" (default), "character", None, or a callable taking a
            numpy array of str and returning a list of token lists (one per string).
        ngrams: None, an int n (all ngrams of 1..n tokens), or a tuple of ngram sizes;
            an ngram's tokens are joined by one space.
        output_mode: "int" (default), "multi_hot", "count" or "tf_idf".
        output_sequence_length: in int mode, pad or truncate every sequence to this
            length (else the longest sequence of the batch sets it).
        pad_to_max_tokens: encodings have ``max_tokens`` columns.
        vocabulary: a list of tokens, or None to `adapt` one.
        idf_weights: the tf_idf weights of a given vocabulary.
        sparse: must be False (no sparse tensors).
        ragged: must be False (sequences are padded).
        encoding: accepted ("utf-8"); bytes inputs are decoded as UTF-8.
        **kwargs: the base `Layer` arguments (name, ...).

    Example:
        >>> import ember as em
        >>> vectorize = em.layers.TextVectorization(output_sequence_length=4)
        >>> vectorize.adapt(["The cat sat.", "The dog sat on the mat!"])
        >>> vectorize.get_vocabulary()[:4]
        ['', '[UNK]', 'the', 'sat']
        >>> vectorize(["the cat ran"]).numpy().tolist()
        [[2, 7, 1, 0]]
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        if not (standardize in _STANDARDIZE or callable(standardize)):
            raise InvalidArgumentError(f"TextVectorization: invalid standardize {standardize!r}; valid: "
                                       f"{_STANDARDIZE} or a callable")
        if not (split in _SPLIT or callable(split)):
            raise InvalidArgumentError(f"TextVectorization: invalid split {split!r}; valid: {_SPLIT} or a callable")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, numbers.Integral) and not isinstance(ngrams, bool) and ngrams > 0)
                or (isinstance(ngrams, tuple) and ngrams and all(isinstance(n, numbers.Integral) and n > 0 for n in ngrams))):
            raise InvalidArgumentError(f"TextVectorization: ngrams must be None, a positive integer or a tuple of them, "
                                       f"got {ngrams!r}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in ("int", "multi_hot", "count", "tf_idf"):
            raise InvalidArgumentError(f"TextVectorization: invalid output_mode {output_mode!r}; valid: "
                                       "'int', 'multi_hot', 'count', 'tf_idf'")
        if output_sequence_length is not None:
            if output_mode != "int":
                raise InvalidArgumentError("TextVectorization: output_sequence_length may only be set in int mode")
            if (isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length, numbers.Integral)
                    or output_sequence_length < 1):
                raise InvalidArgumentError(f"TextVectorization: output_sequence_length must be a positive integer, "
                                           f"got {output_sequence_length!r}")
        if ragged:
            raise InvalidArgumentError("TextVectorization: ragged=True is not supported (sequences are padded)")
        kwargs.pop("vocabulary_size", None)
        kwargs.pop("has_input_vocabulary", None)
        super().__init__(name=name, **kwargs)
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self._ngrams = tuple(range(1, int(ngrams) + 1)) if isinstance(ngrams, numbers.Integral) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        self.encoding = encoding
        self.ragged = False
        self._lookup_layer = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                          pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
                                          sparse=sparse, name=f"{self.name}_lookup")

    # -- the pipeline ------------------------------------------------------------------------
    def _strings(self, inputs) -> np.ndarray:
        a = _host_array(inputs, f"TextVectorization {self.name!r}", True)
        if a.ndim == 0:
            a = a.reshape(1)
        if self.split is not None and a.ndim > 1:
            if a.shape[-1] != 1:
                raise ShapeError(f"TextVectorization {self.name!r}: to split strings the inputs must be 1-D or have "
                                 f"a last axis of 1, got shape {a.shape}")
            a = a[..., 0]
        return a

    def _standardized(self, a: np.ndarray) -> np.ndarray:
        s = self.standardize
        if s is None:
            return a
        if callable(s):
            out = s(np.asarray(a.tolist(), dtype=str) if a.size else a)
            return _host_array(out, f"TextVectorization {self.name!r}: standardize", True)
        flat = a.reshape(-1).tolist()
        if s in ("lower", "lower_and_strip_punctuation"):
            flat = [t.lower() for t in flat]
        if s in ("strip_punctuation", "lower_and_strip_punctuation"):
            flat = [_STRIP.sub("", t) for t in flat]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(a.shape)

    def _tokens(self, inputs) -> list:
        """One token list per input string (or per element when ``split`` is None)."""
        a = self._standardized(self._strings(inputs))
        if self.split is None:
            docs = [[t] for t in a.reshape(-1).tolist()] if a.ndim <= 1 else [list(r) for r in a.reshape(a.shape[0], -1).tolist()]
        elif self.split == "whitespace":
            docs = [t.split() for t in a.tolist()]  # str.split(): runs of whitespace, no empty tokens (tf.strings.split)
        elif self.split == "character":
            docs = [list(t) for t in a.tolist()]
        else:
            out = self.split(np.asarray(a.tolist(), dtype=str) if a.size else a)
            docs = [[str(t.decode("utf-8") if isinstance(t, bytes) else t) for t in row] for row in
                    (out.tolist() if isinstance(out, np.ndarray) else out)]
        if self._ngrams is not None:
            docs = [_ngrams(d, self._ngrams) for d in docs]
        return docs

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Builds the vocabulary from ``data`` (a list or array of strings, or an
        iterable of such batches, of which ``steps`` are read when given): its tokens by
        decreasing frequency (ties: as Keras orders them), at most ``max_tokens``."""
        docs: list = []
        for batch in _batches(data, steps):
            docs.extend(self._tokens(batch))
        self._lookup_layer._finalize(*self._lookup_layer._count(docs))

    def call(self, inputs):
        docs = self._tokens(inputs)
        lookup = self._lookup_layer
        if self.output_mode != "int":
            if lookup.output_mode == "tf_idf" and lookup.idf_weights is None:
                raise InvalidArgumentError(f"TextVectorization {self.name!r}: tf_idf needs adapt() or a vocabulary "
                                           "with idf_weights")
            depth = lookup._depth()
            out = np.zeros((len(docs), depth), np.float32)
            for r, d in enumerate(docs):
                if d:
                    enc = lookup._encode(lookup._ids(_object_array(d)))
                    out[r] = enc
            return self._out(out, "float32")
        ids = [lookup._ids(_object_array(d)) for d in docs]
        length = self.output_sequence_length
        if length is None:
            length = max((len(i) for i in ids), default=0)
        out = np.zeros((len(ids), length), np.int32)
        for r, i in enumerate(ids):
            i = i[:length]
            out[r, :len(i)] = i
        return self._out(out, "int32")

    # -- vocabulary ------------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The tokens by index ("" for padding and "[UNK]" first, unless excluded)."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Sets the vocabulary (and tf_idf weights) directly instead of `adapt`."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self._lookup_layer._depth())

    def compute_output_spec(self, inputs, *args, **kwargs):
        return KerasTensor(self.compute_output_shape(inputs.shape),
                           dtype="int32" if self.output_mode == "int" else "float32")

    def get_config(self):
        lookup = self._lookup_layer
        tf_idf = self.output_mode == "tf_idf" and lookup.idf_weights is not None and lookup._tokens
        return {
            **super().get_config(),
            "max_tokens": lookup.max_tokens,
            "standardize": self.standardize if not callable(self.standardize) else _serialize_fn(self.standardize),
            "split": self.split if not callable(self.split) else _serialize_fn(self.split),
            "ngrams": self.ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": lookup.pad_to_max_tokens,
            "sparse": False,
            "ragged": False,
            # tf_idf keeps the special tokens so the weights line up with the entries.
            "vocabulary": (lookup.get_vocabulary() if tf_idf else list(lookup._tokens)) or None,
            "idf_weights": [float(w) for w in lookup.idf_weights[:lookup.vocabulary_size()]] if tf_idf else None,
            "encoding": self.encoding,
            "vocabulary_size": lookup.vocabulary_size(),
        }

    @classmethod
    def from_config(cls, config: dict):
        from .. import saving

        config = dict(config)
        for key in ("standardize", "split"):
            if isinstance(config.get(key), dict):
                config[key] = saving.deserialize(config[key])
        return super().from_config(config)


def _batches(data, steps):
    """``data`` as a list of batches: itself when it is an array or a list of strings,
    else the batches an iterable or generator yields (``steps`` of them at most)."""
    if isinstance(data, (str, bytes, np.ndarray)) or (isinstance(data, (list, tuple)) and
                                                       (not data or not _is_batch(data[0]))):
        return [data]
    if hasattr(data, "numpy") and not hasattr(data, "__next__"):
        return [data]
    if steps is not None:
        check_int(steps, "steps", "TextVectorization.adapt", minimum=1)
    try:
        if isinstance(data, dict):
            raise TypeError("a dict")
        batches = iter(data)
    except TypeError:
        raise InvalidArgumentError(f"TextVectorization.adapt: expected strings (a list or array), or an iterable "
                                   f"of batches of strings, got {brief(data)}") from None
    out = []
    for i, batch in enumerate(batches):
        if steps is not None and i >= steps:
            break
        out.append(batch)
    return out


def _is_batch(item) -> bool:
    return isinstance(item, np.ndarray) and item.ndim >= 1 or (isinstance(item, (list, tuple)) and item and
                                                               isinstance(item[0], (list, tuple, np.ndarray)))


def _serialize_fn(fn):
    from .. import saving

    return saving.serialize(fn)


def _object_array(tokens: list) -> np.ndarray:
    a = np.empty(len(tokens), dtype=object)
    a[:] = tokens
    return a


def _ngrams(tokens: list, sizes: tuple) -> list:
    """``tf.strings.ngrams``: for each size in order, every window of that many tokens
    joined by a space."""
    out = []
    for n in sizes:
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


__all__ = ["TextVectorization"]
