"""Vocabulary lookups: `StringLookup` and `IntegerLookup` (Keras 3's names, arguments,
defaults and index layout).

Tokens live on the host: the inputs are numpy arrays (or lists) of strings or integers,
the table a Python dict, and the outputs Ember tensors (int32 indices, float32
encodings) on the layer's device, ready for an `Embedding` or a `Dense` layer; with
``invert=True`` the output is a numpy array of tokens. The index layout is Keras's:
``[mask_token] (int mode only) + [oov_token] * num_oov_indices + vocabulary``, an
adapted vocabulary sorted by decreasing frequency with ties broken as Keras breaks them
(``np.lexsort((tokens, counts))[::-1]``: the larger token first).

Two documented differences from Keras: with ``num_oov_indices > 1``, out-of-vocabulary
strings are spread over the OOV indices by CRC-32 of their UTF-8 bytes (Keras uses
TensorFlow's FarmHash, which is not available without TensorFlow; integers use Keras's
``floormod``); and ``get_config`` stores the current vocabulary (adapted or set), so a
config round trip restores the table without Keras's asset files.
"""

from __future__ import annotations

import collections
import numbers
import zlib

import numpy as np

from .._validation import check_bool
from ..errors import InvalidArgumentError, ShapeError
from ..keras_tensor import KerasTensor
from ..tensor import Tensor, as_tensor
from .layer import Layer

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _host_array(data, owner: str, strings: bool) -> np.ndarray:
    """``data`` (a list, numpy array or Ember tensor) as a numpy array of str or int64."""
    if isinstance(data, Tensor):
        data = data.numpy()
    if isinstance(data, (str, bytes)):
        data = [data]
    try:
        a = np.asarray(data, dtype=object if strings else None)
    except ValueError as e:
        raise ShapeError(f"{owner}: the inputs do not form a rectangular array ({e})") from None
    if strings:
        flat = a.reshape(-1)
        out = np.empty(flat.shape, dtype=object)
        for i, v in enumerate(flat):
            if isinstance(v, bytes):
                v = v.decode("utf-8")
            elif isinstance(v, np.str_):
                v = str(v)
            elif not isinstance(v, str):
                raise InvalidArgumentError(f"{owner}: expected strings, got {type(v).__name__} {v!r}")
            out[i] = v
        return out.reshape(a.shape)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.trunc(a)):
            raise InvalidArgumentError(f"{owner}: expected integers, got non-integral values")
        a = a.astype(np.int64)
    if a.dtype.kind not in "biu":
        raise InvalidArgumentError(f"{owner}: expected integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def _sort_key_bytes(token):
    return token.encode("utf-8") if isinstance(token, str) else token


class _HostLayer(Layer):
    """A layer whose inputs are host data (strings or raw integers): ``__call__`` hands
    them to ``call`` as they are, instead of converting them to a float tensor."""

    def __call__(self, *args, **kwargs):
        if not args:
            if "inputs" not in kwargs:
                raise InvalidArgumentError(f"Layer {self.name!r} was called without inputs")
            args = (kwargs.pop("inputs"),)
        if isinstance(args[0], KerasTensor):
            return self._symbolic_call(args, kwargs)
        kwargs.pop("training", None)
        kwargs.pop("mask", None)
        if kwargs:
            raise InvalidArgumentError(f"Layer {self.name!r}: unexpected call arguments {sorted(kwargs)}")
        self.built = True
        return self.call(args[0])

    def _out(self, a: np.ndarray, dtype: str) -> Tensor:
        return as_tensor(a, dtype=dtype, device=self._input_device())


class _IndexLookup(_HostLayer):
    """Keras's ``IndexLookup``: the shared machinery of `StringLookup` and
    `IntegerLookup`."""

    _strings = True

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                 output_mode, pad_to_max_tokens, sparse, vocabulary_size=None, has_input_vocabulary=None, **kwargs):
        owner = type(self).__name__
        kwargs.pop("vocabulary_dtype", None)
        kwargs.pop("encoding", None)
        oov_method = kwargs.pop("oov_method", "floormod")
        salt = kwargs.pop("salt", None)
        if oov_method != "floormod":
            raise NotImplementedError(
                f"{owner}: oov_method={oov_method!r} is not supported (Keras's 'farmhash' needs TensorFlow's "
                "FarmHash); use the default 'floormod'")
        if salt is not None:
            raise NotImplementedError(f"{owner}: salt={salt!r} is not supported (it salts Keras's FarmHash of "
                                      "out-of-vocabulary tokens, which Ember does not have); leave it None")
        super().__init__(**kwargs)
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, numbers.Integral)
                                       or max_tokens <= 1):
            raise InvalidArgumentError(f"{owner}: if set, max_tokens must be an integer greater than 1, got {max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise InvalidArgumentError(f"{owner}: pad_to_max_tokens=True needs max_tokens")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, numbers.Integral) or num_oov_indices < 0:
            raise InvalidArgumentError(f"{owner}: num_oov_indices must be an integer >= 0, got {num_oov_indices!r}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in _OUTPUT_MODES:
            raise InvalidArgumentError(f"{owner}: invalid output_mode {output_mode!r}; valid: {_OUTPUT_MODES}")
        if invert and output_mode != "int":
            raise InvalidArgumentError(f"{owner}: output_mode must be 'int' when invert=True, got {output_mode!r}")
        if sparse:
            raise InvalidArgumentError(f"{owner}: sparse=True is not supported (Ember has no sparse tensors)")
        if idf_weights is not None and output_mode != "tf_idf":
            raise InvalidArgumentError(f"{owner}: idf_weights may only be set when output_mode is 'tf_idf'")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        self._tokens: list = []  # the vocabulary proper (no special tokens)
        self._index: dict = {}
        self.idf_weights = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif output_mode == "tf_idf" and idf_weights is not None:
            raise InvalidArgumentError(f"{owner}: idf_weights needs a vocabulary")

    # -- the index layout (Keras's _oov_start_index / _token_start_index) --------------------
    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The number of indices, the mask and OOV indices included."""
        return len(self._tokens) + self._token_start()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The tokens by index (with the mask and OOV tokens first unless
        ``include_special_tokens=False``), so ``vocab[i]`` is what index ``i`` stands for."""
        include_special_tokens = check_bool(include_special_tokens, "include_special_tokens",
                                            f"{type(self).__name__}.get_vocabulary")
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        return (special if include_special_tokens else []) + list(self._tokens)

    def _check_token(self, t):
        if self._strings:
            if isinstance(t, bytes):
                t = t.decode("utf-8")
            if not isinstance(t, str):
                raise InvalidArgumentError(f"{type(self).__name__}: vocabulary entries must be strings, got {t!r}")
            return str(t)
        if isinstance(t, bool) or not isinstance(t, (numbers.Integral, np.integer)):
            raise InvalidArgumentError(f"{type(self).__name__}: vocabulary entries must be integers, got {t!r}")
        return int(t)

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Sets the vocabulary (and, for tf_idf, the idf weights) directly. It may start
        with the special tokens in Keras's order (``[mask_token] + [oov_token] *
        num_oov_indices``), or leave them out."""
        owner = type(self).__name__
        if isinstance(vocabulary, str):
            raise InvalidArgumentError(f"{owner}: vocabulary files are not supported; pass a list of tokens")
        if isinstance(vocabulary, Tensor):
            vocabulary = vocabulary.numpy()
        vocab = [self._check_token(t) for t in np.asarray(vocabulary, dtype=object).reshape(-1).tolist()]
        start = self._token_start()
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        found_special = start > 0 and vocab[:start] == special
        tokens = vocab[start:] if found_special else vocab
        seen, repeated = set(), []
        for t in tokens:
            if t in seen:
                repeated.append(t)
            seen.add(t)
        if repeated:
            raise InvalidArgumentError(f"{owner}: the vocabulary repeats the terms {repeated[:10]}")
        if self.mask_token is not None and self.mask_token in seen:
            raise InvalidArgumentError(
                f"{owner}: found the reserved mask token {self.mask_token!r} at an unexpected place in the "
                f"vocabulary; leave the special tokens out, or put them first in this order: {special}"
            )
        if self.oov_token is not None and self.invert and self.oov_token in seen:
            raise InvalidArgumentError(f"{owner}: found the reserved OOV token {self.oov_token!r} inside the vocabulary")
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise InvalidArgumentError(f"{owner}: a vocabulary of {start + len(tokens)} entries (special tokens "
                                       f"included) exceeds max_tokens={self.max_tokens}")
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise InvalidArgumentError(f"{owner}: in tf_idf mode, set_vocabulary needs idf_weights")
            w = np.asarray(idf_weights.numpy() if isinstance(idf_weights, Tensor) else idf_weights, np.float64)
            if w.ndim != 1 or len(w) != len(vocab):
                raise ShapeError(f"{owner}: idf_weights must be 1-D with one weight per vocabulary entry "
                                 f"({len(vocab)}), got shape {w.shape}")
            # Keras: without special tokens given, their weight is the mean idf.
            front = 0 if found_special else start
            self._set_idf(np.pad(w, (front, 0), constant_values=float(np.mean(w)) if w.size else 0.0))

    def _set_tokens(self, tokens: list) -> None:
        self._tokens = list(tokens)
        start = self._token_start()
        self._index = {t: i + start for i, t in enumerate(self._tokens)}

    def _set_idf(self, weights: np.ndarray) -> None:
        depth = self._depth()
        if len(weights) < depth:
            weights = np.pad(weights, (0, depth - len(weights)))
        self.idf_weights = weights.astype(np.float32)

    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    # -- adapt -----------------------------------------------------------------------------
    def _count(self, docs) -> tuple[collections.Counter, collections.Counter, int]:
        counts: collections.Counter = collections.Counter()
        doc_counts: collections.Counter = collections.Counter()
        n_docs = 0
        for doc in docs:
            toks = [t for t in doc]
            counts.update(toks)
            doc_counts.update(set(toks))
            n_docs += 1
        return counts, doc_counts, n_docs

    def _finalize(self, counts, doc_counts, n_docs: int) -> None:
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        tokens = list(counts)
        if tokens:
            keys = np.array([_sort_key_bytes(t) for t in tokens], dtype=object)
            cnt = np.array([counts[t] for t in tokens])
            order = np.lexsort((keys, cnt))[::-1]
            tokens = [tokens[i] for i in order]
        if self.max_tokens is not None:
            tokens = tokens[:max(0, self.max_tokens - self._token_start())]
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            dc = np.array([doc_counts[t] for t in tokens], np.float64)
            idf = np.log(1.0 + n_docs / (1.0 + dc))
            mean = float(np.mean(idf)) if idf.size else 0.0
            self._set_idf(np.concatenate([np.full(self._token_start(), mean), idf]))

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Computes the vocabulary from ``data`` (an array or list of tokens, any shape;
        each row counts as one document for tf_idf): tokens by decreasing frequency, at
        most ``max_tokens`` entries with the special tokens. Replaces any vocabulary."""
        a = _host_array(data, f"{type(self).__name__}.adapt", self._strings)
        rows = a.reshape(a.shape[0], int(np.prod(a.shape[1:]))) if a.ndim > 1 else a.reshape(-1, 1)
        self._finalize(*self._count(row.tolist() for row in rows))

    # -- lookups -----------------------------------------------------------------------------
    def _oov_index(self, token) -> int:
        if self.num_oov_indices == 0:
            raise InvalidArgumentError(
                f"{type(self).__name__} {self.name!r}: with num_oov_indices=0 every input must be in the "
                f"vocabulary, found the out-of-vocabulary value {token!r} (consider num_oov_indices=1)"
            )
        if self.num_oov_indices == 1:
            return self._oov_start()
        if isinstance(token, str):
            bucket = zlib.crc32(token.encode("utf-8")) % self.num_oov_indices
        else:
            bucket = int(token) % self.num_oov_indices  # Keras's floormod for integers
        return self._oov_start() + bucket

    def _ids(self, a: np.ndarray) -> np.ndarray:
        """Indices (int64) of a token array; the mask token gives 0 in int mode and -1
        (dropped by the encodings) otherwise."""
        index, mask = self._index, self.mask_token
        mask_value = 0 if self.output_mode == "int" else -1
        flat = a.reshape(-1).tolist()
        out = np.empty(len(flat), np.int64)
        for i, t in enumerate(flat):
            if mask is not None and t == mask:
                out[i] = mask_value
                continue
            j = index.get(t)
            out[i] = j if j is not None else self._oov_index(t)
        return out.reshape(a.shape)

    def _encode(self, ids: np.ndarray) -> np.ndarray:
        """Keras's ``encode_categorical_inputs`` on the host: one_hot adds an axis (or
        replaces a last axis of 1); multi_hot, count and tf_idf count each row's tokens
        (a 1-D input is one sample)."""
        depth = self._depth()
        mode = self.output_mode
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if mode == "one_hot":
            if ids.shape[-1] == 1 and ids.ndim > 1:
                ids = ids[..., 0]
            out = np.zeros(ids.shape + (depth,), np.float32)
            valid = (ids >= 0) & (ids < depth)
            np.put_along_axis(out, np.where(valid, ids, 0)[..., None], valid[..., None].astype(np.float32), axis=-1)
            return out
        if ids.ndim > 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: output_mode={mode!r} takes inputs of rank <= 2, "
                             f"got shape {ids.shape}")
        rows = ids.reshape(1, -1) if ids.ndim == 1 else ids
        out = np.zeros((rows.shape[0], depth), np.float32)
        for r, row in enumerate(rows):
            row = row[(row >= 0) & (row < depth)]
            if mode == "multi_hot":
                out[r, row] = 1.0
            else:
                np.add.at(out[r], row, 1.0)
        if mode == "tf_idf":
            out *= self.idf_weights[None, :depth]
        return out[0] if ids.ndim == 1 else out

    def _invert(self, a: np.ndarray) -> np.ndarray:
        vocab = self.get_vocabulary()
        flat = a.reshape(-1).tolist()
        out = np.empty(len(flat), dtype=object)
        for i, j in enumerate(flat):
            out[i] = vocab[j] if 0 <= j < len(vocab) else self.oov_token
        if self._strings:
            return np.asarray(out.reshape(a.shape).tolist(), dtype=str) if out.size else out.reshape(a.shape)
        return out.reshape(a.shape).astype(np.int64)

    def call(self, inputs):
        owner = f"{type(self).__name__} {self.name!r}"
        if self.invert:
            return self._invert(_host_array(inputs, owner, False))
        a = _host_array(inputs, owner, self._strings)
        if self.output_mode == "tf_idf" and self.idf_weights is None:
            raise InvalidArgumentError(f"{owner}: tf_idf needs idf weights: call adapt() or set_vocabulary() first")
        ids = self._ids(a)
        if self.output_mode == "int":
            return self._out(ids.astype(np.int32), "int32")
        return self._out(self._encode(ids), "float32")

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self._depth()
        if self.output_mode == "one_hot":
            shape = tuple(input_shape)
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return shape + (depth,)
        return (input_shape[0], depth) if len(input_shape) > 1 else (depth,)

    def compute_output_spec(self, inputs, *args, **kwargs):
        dtype = "int32" if self.output_mode == "int" and not self.invert else "float32"
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=dtype)

    def get_config(self):
        cfg = {
            **super().get_config(),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": False,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary": list(self._tokens) if self._tokens else None,
            "idf_weights": None,
            "vocabulary_size": self.vocabulary_size() if self._tokens else None,
        }
        if self.output_mode == "tf_idf" and self.idf_weights is not None and self._tokens:
            cfg["vocabulary"] = self.get_vocabulary()
            cfg["idf_weights"] = [float(w) for w in self.idf_weights[:self.vocabulary_size()]]
        return cfg


class StringLookup(_IndexLookup):
    """Maps strings to integer indices from a vocabulary (Keras 3's
    ``keras.layers.StringLookup``), or with ``invert=True`` indices back to strings.

    Args:
        max_tokens: the largest vocabulary size (special tokens included), or None.
        num_oov_indices: how many indices out-of-vocabulary tokens share (default 1).
        mask_token: a token meaning "padding" (index 0 in int mode), or None.
        oov_token: the token an OOV index inverts to (default "[UNK]").
        vocabulary: a list of strings, or None to `adapt` one.
        idf_weights: for ``output_mode="tf_idf"`` with a vocabulary: one weight each.
        invert: map indices to strings instead.
        output_mode: "int" (default), "one_hot", "multi_hot", "count" or "tf_idf".
        pad_to_max_tokens: encodings have ``max_tokens`` columns even for a smaller
            vocabulary.
        sparse: must be False (no sparse tensors).
        encoding: accepted; strings are Python str (bytes are decoded as UTF-8).
        name: the layer's name.
        salt: must be None: Keras salts the FarmHash of out-of-vocabulary tokens with
            it, and Ember spreads them by CRC-32 (NotImplementedError otherwise).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> layer = em.layers.StringLookup(vocabulary=["a", "b", "c", "d"])
        >>> layer([["a", "c", "d"], ["d", "z", "b"]]).numpy().tolist()
        [[1, 3, 4], [4, 0, 2]]
        >>> em.layers.StringLookup(vocabulary=["a", "b"], invert=True)([[1, 0, 2]]).tolist()
        [['a', '[UNK]', 'b']]
    """

    _strings = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, **kwargs):
        for what, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None and not isinstance(token, str):
                raise InvalidArgumentError(f"StringLookup: {what} must be a string or None, got {token!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, name=name, salt=salt, **kwargs)
        self.encoding = encoding

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding, "vocabulary_dtype": "string"}


class IntegerLookup(_IndexLookup):
    """Maps integers to contiguous indices from a vocabulary (Keras 3's
    ``keras.layers.IntegerLookup``), or with ``invert=True`` back.

    Args:
        max_tokens, num_oov_indices, vocabulary, idf_weights, invert, output_mode,
            pad_to_max_tokens, sparse: as in `StringLookup`.
        mask_token: an integer meaning "padding" (index 0 in int mode), or None.
        oov_token: the value an OOV index inverts to (default -1).
        vocabulary_dtype: accepted ("int64"); values are Python ints.
        oov_method: "floormod" (the default: an OOV integer goes to index ``value %
            num_oov_indices``); Keras's "farmhash" raises NotImplementedError.
        salt: must be None (it salts Keras's FarmHash; NotImplementedError otherwise).
        name: the layer's name.
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> layer = em.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42])
        >>> layer([[12, 1138, 42], [42, 1000, 36]]).numpy().tolist()
        [[1, 3, 4], [4, 0, 2]]
    """

    _strings = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, **kwargs):
        for what, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None and (isinstance(token, bool) or not isinstance(token, (numbers.Integral, np.integer))):
                raise InvalidArgumentError(f"IntegerLookup: {what} must be an integer or None, got {token!r}")
        super().__init__(max_tokens, num_oov_indices, None if mask_token is None else int(mask_token),
                         None if oov_token is None else int(oov_token), vocabulary, idf_weights, invert, output_mode,
                         pad_to_max_tokens, sparse, name=name, oov_method=oov_method, salt=salt, **kwargs)
        self.vocabulary_dtype = "int64"

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": "int64", "oov_method": "floormod", "salt": None}


__all__ = ["StringLookup", "IntegerLookup"]
