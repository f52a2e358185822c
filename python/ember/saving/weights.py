"""Weights files, PyTorch state dicts and model JSON (Keras 3's ``save_weights`` /
``load_weights``, ``to_json`` / ``model_from_json``).

Two weights formats, chosen by the file name:

* ``.safetensors``: one tensor per weight, named by its stable path
  (``layer.weights[i].path``, e.g. ``dense_1/kernel``), written with the ``safetensors``
  package's numpy API, so PyTorch, candle and the Hugging Face tools read it. Ember also
  records the order of the weights in the header's metadata (``ember.weights``), which
  lets a file load into a fresh model of the same architecture whose layers got other
  automatic names (``dense_2`` for ``dense``): when the names do not all match, the
  weights are paired in order, each pair agreeing in the variable's own name
  (``kernel``), shape and dtype. The metadata also holds the sha256 of the tensor bytes
  (``ember.sha256``), checked on load, so a damaged file is an error, not wrong weights.
* ``.weights.h5``: Keras 3's layout (``keras.src.saving.saving_lib``'s ``H5IOStore``):
  a group per saveable, addressed by structure rather than by layer name
  (``layers/dense/vars/0``, ``layers/dense_1/vars/1``, counting each class in the
  model's layer list, input layers left out; a recurrent layer's variables on its
  ``cell``, as Keras keeps them), so it loads into a fresh model and to and
  from Keras for layers that own their variables (Dense, convolutions,
  BatchNormalization, Embedding, normalization layers) and nested Sequential or
  functional models. Needs ``h5py`` (``pip install h5py``, or ``pip install
  'ember[keras]'``). The optimizer's state is not written; a Keras file's
  ``optimizer/`` group is ignored.

Loading checks every weight (is it in the file, the same shape, the same dtype) before
assigning any: a mismatch raises `ember.errors.SerializationError` and leaves the
model's weights as they were, or, with ``skip_mismatch=True``, leaves just the
mismatched weights as they were and warns. A truncated or corrupt file is a
`SerializationError` too. Files are written atomically (a temporary file in the same
folder, flushed to disk, then renamed over the target), and nothing is ever pickled.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> import ember as em
    >>> def make():
    ...     return em.Sequential([em.Input((3,)), em.layers.Dense(2)])
    >>> model, fresh = make(), make()
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model.save_weights(path)
    >>> fresh.load_weights(path)
    >>> x = np.ones((1, 3), np.float32)
    >>> bool(np.array_equal(model.predict(x, verbose=0), fresh.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from typing import Any

import numpy as np

from .._boundary import public
from ..errors import InvalidArgumentError, InvalidConfigError, NotBuiltError, SerializationError
from .atomic import atomic_write

__all__ = ["save_weights", "load_weights", "load_torch_state_dict", "model_to_json", "model_from_json"]

_ORDER_KEY = "ember.weights"  # safetensors metadata: JSON list of the weight paths, in model order
_DIGEST_KEY = "ember.sha256"  # safetensors metadata: sha256 of the tensor bytes (everything after the header)
_H5_HINT = "reading and writing .weights.h5 files needs h5py: pip install h5py (or pip install 'ember[keras]')"


# ---------------------------------------------------------------------------------------------
# arguments and files
# ---------------------------------------------------------------------------------------------

def _check_model(model, what: str):
    from ..models.model import Model

    if not isinstance(model, Model):
        raise InvalidArgumentError(f"{what}: expected an ember Model, got {type(model).__name__}")
    if not model.built:
        raise NotBuiltError(f"{what}: the model has no weights yet; build it (give input_shape / Input, or call it on data)")


def _filepath(filepath, what: str) -> tuple[str, str]:
    """``(path, format)`` with format ``"safetensors"`` or ``"h5"``, from the extension."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise InvalidArgumentError(f"{what}: filepath must be a .safetensors or .weights.h5 path (a str or "
                                   f"os.PathLike), got {type(filepath).__name__}")
    path = os.fspath(filepath)
    if not isinstance(path, str):
        raise InvalidArgumentError(f"{what}: filepath must be a .safetensors or .weights.h5 text path, got {path!r}")
    if path.endswith(".safetensors"):
        return path, "safetensors"
    if path.endswith(".weights.h5"):
        return path, "h5"
    raise InvalidArgumentError(f"{what}: filepath must end in .safetensors or .weights.h5, got {path!r}")


def _check_flag(value, name: str, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{what}: {name} must be True or False, got {value!r}")
    return bool(value)


# A safetensors header longer than this is refused (Ember's take ~100 bytes a weight;
# the safetensors package itself caps them at 100 MB).
_MAX_HEADER_BYTES = 16 * 2**20
_SLACK_BYTES = 16 * 2**20  # h5 metadata, padding, Keras's optimizer group...


def _read_bytes(path: str, what: str, limit: int | None = None) -> bytes:
    """The file's bytes; with ``limit``, refuses (before reading) a file larger than that,
    so a crafted file cannot make Ember read more than the model can need."""
    try:
        with open(path, "rb") as f:
            if limit is not None:
                size = os.fstat(f.fileno()).st_size
                if size > limit:
                    raise SerializationError(f"{what}: {path!r} holds {size} bytes, more than the {limit} this model's "
                                             "weights can need; refused")
                return f.read(size)  # not read(limit): that would allocate the whole limit
            return f.read()
    except FileNotFoundError as e:
        raise SerializationError(f"{what}: no such file: {path!r}") from e
    except OSError as e:
        raise SerializationError(f"{what}: cannot read {path!r}: {e}") from e


def _atomic_write(path: str, data: bytes, overwrite: bool, what: str) -> None:
    """Writes ``data`` to a temporary file next to ``path``, flushes it to disk, then
    renames it over ``path``: a reader sees the old file or the new one, never half."""
    if not overwrite and os.path.exists(path):
        raise SerializationError(f"{what}: {path!r} exists and overwrite=False")
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        raise SerializationError(f"{what}: cannot write {path!r}: {e}") from e


def _h5py(what: str):
    try:
        import h5py
    except ImportError:
        h5py = None
    if h5py is None:
        raise SerializationError(f"{what}: {_H5_HINT}")
    return h5py


# ---------------------------------------------------------------------------------------------
# checking, then assigning
# ---------------------------------------------------------------------------------------------

def _short(var) -> str:
    return var.path.rsplit("/", 1)[-1]


def _assign_checked(pairs, unexpected, what: str, skip_mismatch: bool, source: str = "file") -> None:
    """``pairs``: ``(variable, array or None, where)`` for each model weight, ``None``
    meaning the file has no value for it; ``unexpected``: names in the file that no weight
    took. Checks them all, then assigns the good ones (all or nothing unless
    ``skip_mismatch``). ``where`` names the entry each weight was looked up under."""
    problems, good = [], []
    for var, arr, where in pairs:
        if arr is None:
            problems.append(f"{var.path}: not in the {source}" + (f" (no {where!r})" if where != var.path else ""))
            continue
        if tuple(arr.shape) != tuple(var.shape):
            problems.append(f"{var.path}: the model has shape {tuple(var.shape)}, {source} {where!r} has {tuple(arr.shape)}")
            continue
        if np.dtype(arr.dtype) != np.dtype(var.dtype):
            problems.append(f"{var.path}: the model has dtype {var.dtype}, {source} {where!r} has {np.dtype(arr.dtype)}")
            continue
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):  # as load_model: a NaN is damage, not a weight
            problems.append(f"{var.path}: {source} {where!r} holds non-finite values")
            continue
        good.append((var, arr))
    problems += [f"{name}: in the {source} but not in the model" for name in unexpected]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... ({len(problems) - 10} more)" if len(problems) > 10 else "")
        if not skip_mismatch:
            raise SerializationError(f"{what}: {len(problems)} weights do not match, nothing was loaded: {shown}")
        warnings.warn(f"{what}: skipped {len(problems)} mismatched weights (skip_mismatch=True): {shown}", stacklevel=3)
    for var, arr in good:
        var.assign(np.ascontiguousarray(arr))


# ---------------------------------------------------------------------------------------------
# .safetensors
# ---------------------------------------------------------------------------------------------

def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the header names {key!r} twice")
        out[key] = value
    return out


def _read_safetensors(data: bytes, what: str, path: str) -> tuple[dict, dict]:
    """``(tensors, metadata)`` from a safetensors file's bytes."""
    from safetensors.numpy import load as st_load

    if len(data) < 8:
        raise SerializationError(f"{what}: {path!r} is not a safetensors file (only {len(data)} bytes)")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER_BYTES:
        raise SerializationError(f"{what}: {path!r} declares a header of {n} bytes, more than the "
                                 f"{_MAX_HEADER_BYTES} accepted; refused")
    if n > len(data) - 8:
        raise SerializationError(f"{what}: {path!r} is truncated or not a safetensors file (header of {n} bytes, "
                                 f"file of {len(data)})")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        tensors = st_load(data)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError for a bad file
        raise SerializationError(f"{what}: {path!r} is corrupt or not a safetensors file: {e}") from None
    meta = header.get("__metadata__") or {}
    meta = meta if isinstance(meta, dict) else {}
    digest = meta.get(_DIGEST_KEY)
    if digest is not None and digest != hashlib.sha256(data[8 + n:]).hexdigest():
        raise SerializationError(f"{what}: {path!r} is corrupt: its tensor bytes do not match the sha256 recorded "
                                 "when it was saved")
    return tensors, meta


def _save_safetensors(model, path: str, overwrite: bool, what: str) -> None:
    from safetensors.numpy import save as st_save

    tensors, order = {}, []
    for w in model.weights:
        if w.path in tensors:
            raise SerializationError(f"{what}: two weights share the path {w.path!r}; give the layers distinct names")
        tensors[w.path] = np.ascontiguousarray(w.numpy())
        order.append(w.path)
    meta = {"format": "np", _ORDER_KEY: json.dumps(order)}
    # The tensor bytes do not depend on the metadata, so a first pass gives the digest
    # that the second records: a flipped bit anywhere in the data is then caught on load.
    first = st_save(tensors, metadata=meta)
    digest = hashlib.sha256(first[8 + int.from_bytes(first[:8], "little"):]).hexdigest()
    data = st_save(tensors, metadata={**meta, _DIGEST_KEY: digest})
    _atomic_write(path, data, overwrite, what)


def _safetensors_pairs(model, tensors: dict, meta: dict):
    weights = model.weights
    names = [w.path for w in weights]
    if all(n in tensors for n in names):
        by_name = [(w, tensors[w.path], w.path) for w in weights]
        return by_name, sorted(set(tensors) - set(names))
    try:
        order = json.loads(meta.get(_ORDER_KEY, "null"))
    except (TypeError, ValueError):
        order = None
    if (isinstance(order, list) and len(order) == len(weights) and set(order) == set(tensors)
            and all(isinstance(n, str) and n.rsplit("/", 1)[-1] == _short(w) for n, w in zip(order, weights))):
        # same architecture, other automatic layer names: pair the weights in order
        return [(w, tensors[n], n) for n, w in zip(order, weights)], []
    pairs = [(w, tensors.get(w.path), w.path) for w in weights]
    return pairs, sorted(set(tensors) - set(names))


# ---------------------------------------------------------------------------------------------
# .weights.h5 (Keras 3's layout)
# ---------------------------------------------------------------------------------------------

def _name_key(name: str) -> str:
    return "~" + name if name.startswith("_") else name  # Keras visits private attributes last


def _h5_groups(model) -> list[tuple[str, list]]:
    """``(group path, own variables)`` for the model and every layer under it, in Keras
    3's saving order and naming (``saving_lib._save_state``)."""
    from ..layers.core import InputLayer
    from ..layers.layer import Layer, _snake
    from ..layers.rnn import _RNN
    from ..models.functional import Functional
    from ..models.sequential import Sequential

    out: list[tuple[str, list]] = []
    visited: set[int] = set()

    def join(a, b):
        return f"{a}/{b}" if a else b

    def container(items, path):
        used: dict[str, int] = {}
        for item in items:
            if not isinstance(item, Layer):
                continue
            name = _snake(type(item).__name__)
            if name in used:
                used[name] += 1
                name = f"{name}_{used[name]}"
            else:
                used[name] = 0
            walk(item, join(path, name))

    def walk(layer, path):
        if id(layer) in visited:
            return
        visited.add(id(layer))
        own = list(layer._weights)
        own = [w for w in own if w.trainable] + [w for w in own if not w.trainable]
        if isinstance(layer, _RNN):  # Keras keeps them on the layer's cell (saving_lib._Cell)
            out.append((path, []))
            out.append((join(path, "cell"), own))
        else:
            out.append((path, own))
        if isinstance(layer, (Sequential, Functional)):
            container([l for l in layer.layers if not isinstance(l, InputLayer)], join(path, "layers"))
        skip = getattr(layer, "_untracked", frozenset()) | {"_layers"}
        for attr in sorted(layer.__dict__, key=_name_key):
            if attr in skip:
                continue
            value = layer.__dict__[attr]
            if isinstance(value, Layer):
                walk(value, join(path, attr))
            elif isinstance(value, (list, tuple, dict)) and value:
                container(list(value.values()) if isinstance(value, dict) else value, join(path, attr))

    walk(model, "")
    placed = {id(w) for _, ws in out for w in ws}
    missing = [w.path for w in model.weights if id(w) not in placed]
    if missing:
        raise SerializationError(f"the .weights.h5 layout has no place for weights {missing} (held outside a layer's own weights)")
    return out


def _vars_group(path: str) -> str:
    return f"{path}/vars" if path else "vars"


def _save_h5(model, path: str, overwrite: bool, what: str) -> None:
    h5py = _h5py(what)
    groups = _h5_groups(model)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for gpath, ws in groups:
            g = f.create_group(_vars_group(gpath))
            for i, w in enumerate(ws):
                g.create_dataset(str(i), data=np.ascontiguousarray(w.numpy()))
    _atomic_write(path, buf.getvalue(), overwrite, what)


class _Declared:
    """A dataset's declared shape and dtype, standing in for one not read because they
    do not match the model."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def _h5_pairs(model, data: bytes, what: str, path: str):
    h5py = _h5py(what)
    groups = _h5_groups(model)
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except Exception as e:  # noqa: BLE001 - h5py raises OSError (and others) for a bad file
        raise SerializationError(f"{what}: {path!r} is corrupt or not an HDF5 file: {e}") from None
    try:
        pairs, consumed = [], set()
        for gpath, ws in groups:
            vpath = _vars_group(gpath)
            try:
                g = f[vpath] if vpath in f else None
            except Exception:  # noqa: BLE001
                g = None
            for i, w in enumerate(ws):
                key = f"{vpath}/{i}"
                arr = None
                if g is not None and str(i) in g:
                    try:
                        ds = g[str(i)]
                        if not isinstance(ds, h5py.Dataset) or ds.is_virtual or ds.external:
                            raise SerializationError(f"{what}: {path!r}: {key!r} is not a plain dataset; refused")
                        if tuple(ds.shape) != tuple(w.shape) or ds.dtype != np.dtype(w.dtype):
                            # reported by _assign_checked; never read, so a crafted shape allocates nothing
                            arr = _Declared(tuple(ds.shape), ds.dtype)
                        else:
                            arr = np.asarray(ds[()])
                    except SerializationError:
                        raise
                    except Exception as e:  # noqa: BLE001 - a damaged dataset
                        raise SerializationError(f"{what}: {path!r} is corrupt: cannot read {key!r}: {e}") from None
                    consumed.add(key)
                pairs.append((w, arr, key))
        stored: list[str] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and re.fullmatch(r"(layers/.*/)?vars/\d+", name):
                stored.append(name)

        try:
            f.visititems(visit)
        except Exception as e:  # noqa: BLE001
            raise SerializationError(f"{what}: {path!r} is corrupt: {e}") from None
        return pairs, sorted(set(stored) - consumed)
    finally:
        f.close()


# ---------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------

@public("save_weights")
def save_weights(model, filepath, overwrite=True, max_shard_size=None, **kwargs) -> None:
    """Saves ``model``'s weights to ``filepath`` (``.safetensors`` or ``.weights.h5``).

    Args:
        model: a built ember model.
        filepath: the file to write; its extension chooses the format.
        overwrite: when False, an existing file is a `SerializationError`.
        max_shard_size: must be None: Keras's sharded weights (a ``.weights.json``
            manifest and several files) raise NotImplementedError.
        **kwargs: none are accepted (an `InvalidArgumentError` names them).

    Example:
        >>> import os, tempfile
        >>> import ember as em
        >>> from safetensors.numpy import load_file
        >>> model = em.Sequential([em.Input((3,)), em.layers.Dense(2, name="out")])
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> em.saving.save_weights(model, path)
        >>> sorted(load_file(path))
        ['out/bias', 'out/kernel']
    """
    what = "save_weights"
    if kwargs:
        raise InvalidArgumentError(f"{what}: unexpected keyword arguments {sorted(kwargs)}")
    if max_shard_size is not None:
        raise NotImplementedError(f"{what}: max_shard_size={max_shard_size!r} (sharded weights files) is not "
                                  "supported; leave it None")
    path, fmt = _filepath(filepath, what)
    overwrite = _check_flag(overwrite, "overwrite", what)
    _check_model(model, what)
    if fmt == "safetensors":
        _save_safetensors(model, path, overwrite, what)
    else:
        _save_h5(model, path, overwrite, what)


@public("load_weights")
def load_weights(model, filepath, skip_mismatch=False, **kwargs) -> None:
    """Loads weights saved by `save_weights` (or by Keras 3, for ``.weights.h5``).

    Every weight is checked (present, same shape, same dtype) before any is assigned;
    a mismatch is a `SerializationError` and changes nothing. With
    ``skip_mismatch=True`` the mismatched weights keep their values, the others load,
    and a warning lists what was skipped.

    Example:
        >>> import os, tempfile
        >>> import ember as em
        >>> small = em.Sequential([em.Input((3,)), em.layers.Dense(2)])
        >>> big = em.Sequential([em.Input((3,)), em.layers.Dense(4)])
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> small.save_weights(path)
        >>> try:
        ...     big.load_weights(path)
        ... except em.errors.SerializationError as e:
        ...     print(str(e)[:49])
        load_weights: 2 weights do not match, nothing was
    """
    what = "load_weights"
    if kwargs:
        raise InvalidArgumentError(f"{what}: unexpected keyword arguments {sorted(kwargs)}")
    path, fmt = _filepath(filepath, what)
    skip_mismatch = _check_flag(skip_mismatch, "skip_mismatch", what)
    _check_model(model, what)
    limit = sum(int(w.size) * np.dtype(w.dtype).itemsize for w in model.weights) + _MAX_HEADER_BYTES + _SLACK_BYTES
    if fmt == "h5":
        limit += 3 * sum(int(w.size) * 8 for w in model.trainable_weights)  # a Keras file's optimizer slots
    data = _read_bytes(path, what, limit)
    if fmt == "safetensors":
        tensors, meta = _read_safetensors(data, what, path)
        pairs, unexpected = _safetensors_pairs(model, tensors, meta)
    else:
        pairs, unexpected = _h5_pairs(model, data, what, path)
    _assign_checked(pairs, unexpected, what, skip_mismatch)


# PyTorch parameter names -> the Ember variable names they may be, most likely first
_TORCH_PARAMS = {
    "weight": ("kernel", "gamma", "embeddings", "depthwise_kernel"),
    "bias": ("bias", "beta"),
    "running_mean": ("moving_mean",),
    "running_var": ("moving_variance",),
}
_TORCH_IGNORED = ("num_batches_tracked",)  # BatchNorm's step counter: Ember keeps none


def _torch_array(value, name: str, what: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, if torch is at hand
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{what}: tensor {name!r} cannot be converted to an array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{what}: tensor {name!r} must be numeric, got dtype {arr.dtype}")
    return arr


@public("load_torch_state_dict")
def load_torch_state_dict(model, path_or_dict, name_map=None) -> None:
    """Loads a PyTorch ``state_dict`` into a matching ember model.

    ``path_or_dict`` is a ``.safetensors`` file (as written by
    ``safetensors.torch.save_file(module.state_dict(), path)``) or a dict of name ->
    array (numpy arrays, or torch tensors). Each PyTorch name is matched to an Ember
    weight path:

    * ``name_map`` entries first. A key that is a full tensor name maps it to an Ember
      weight path (``{"0.weight": "dense/kernel"}``); a key that is a module prefix maps
      the module to an Ember layer name (``{"0": "dense", "2": "dense_1"}``), its
      parameters translated as below. A value of ``None`` drops the tensor.
    * otherwise the module path itself is the layer name (``fc1.weight`` -> layer
      ``fc1``), so ember layers named like the PyTorch modules need no map.

    Parameters are translated ``weight`` -> ``kernel`` (or ``gamma``, ``embeddings``,
    whichever the layer has), ``bias`` -> ``bias`` (or ``beta``), ``running_mean`` ->
    ``moving_mean``, ``running_var`` -> ``moving_variance``; BatchNorm's
    ``num_batches_tracked`` is dropped. Layouts are converted: a ``kernel`` is
    transposed from PyTorch's ``(out, in, *spatial)`` to Ember's ``(*spatial, in, out)``
    (a Linear's ``(out, in)`` becomes ``(in, out)``). Every weight is checked before any
    is assigned (`SerializationError` on a missing, extra or mismatched tensor; nothing
    changes).

    Example:
        >>> import numpy as np
        >>> import ember as em
        >>> model = em.Sequential([em.Input((3,)), em.layers.Dense(2, name="fc")])
        >>> state = {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        ...          "fc.bias": np.zeros(2, np.float32)}
        >>> em.saving.load_torch_state_dict(model, state)
        >>> model.get_layer("fc").kernel.numpy().shape
        (3, 2)
    """
    what = "load_torch_state_dict"
    _check_model(model, what)
    if name_map is None:
        name_map = {}
    if not isinstance(name_map, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                 for k, v in name_map.items()):
        raise InvalidArgumentError(f"{what}: name_map must be a dict of str -> str (or None), got {name_map!r:.100}")
    if isinstance(path_or_dict, dict):
        if not all(isinstance(k, str) for k in path_or_dict):
            raise InvalidArgumentError(f"{what}: the state dict's keys must be strings")
        state = {k: _torch_array(v, k, what) for k, v in path_or_dict.items()}
    elif isinstance(path_or_dict, (str, os.PathLike)):
        path = os.fspath(path_or_dict)
        if not isinstance(path, str) or not path.endswith(".safetensors"):
            raise InvalidArgumentError(f"{what}: expected a .safetensors file or a dict of tensors, got {path!r}")
        state, _ = _read_safetensors(_read_bytes(path, what), what, path)
    else:
        raise InvalidArgumentError(f"{what}: expected a .safetensors path or a dict of tensors, "
                                   f"got {type(path_or_dict).__name__}")

    weights = model.weights
    by_path = {w.path: w for w in weights}
    layers: dict[str, dict[str, Any]] = {}
    for w in weights:
        layer, _, short = w.path.rpartition("/")
        layers.setdefault(layer, {})[short] = w

    values: dict[str, tuple[np.ndarray, str]] = {}
    unexpected = []
    for name, arr in state.items():
        if name in name_map:
            target = name_map[name]
            if target is None:
                continue
            if target not in by_path:
                raise InvalidArgumentError(f"{what}: name_map maps {name!r} to {target!r}, which is no weight of the "
                                           f"model (its weights: {sorted(by_path)[:20]})")
            var = by_path[target]
        else:
            module, _, param = name.rpartition(".")
            if param in _TORCH_IGNORED:
                continue
            if module in name_map:
                if name_map[module] is None:
                    continue
                module = name_map[module]
            own = layers.get(module, {})
            var = next((own[c] for c in _TORCH_PARAMS.get(param, (param,)) if c in own), None)
            if var is None:
                unexpected.append(name)
                continue
        if var.path in values:
            raise SerializationError(f"{what}: {values[var.path][1]!r} and {name!r} both map to {var.path!r}")
        if _short(var) in ("kernel", "depthwise_kernel") and arr.ndim >= 2:
            arr = np.transpose(arr, tuple(range(2, arr.ndim)) + (1, 0))
        values[var.path] = (arr, name)
    pairs = [(w, values[w.path][0] if w.path in values else None, values[w.path][1] if w.path in values else w.path)
             for w in weights]
    _assign_checked(pairs, unexpected, what, skip_mismatch=False, source="state dict")


@public("model_to_json")
def model_to_json(model, **kwargs) -> str:
    """The model's architecture as JSON: ``json.dumps(serialize_keras_object(model), **kwargs)``
    (Keras's ``Model.to_json``). Weights are not included."""
    from ..models.model import Model
    from .serialization_lib import serialize_keras_object

    if not isinstance(model, Model):
        raise InvalidArgumentError(f"to_json: expected an ember Model, got {type(model).__name__}")
    try:
        return json.dumps(serialize_keras_object(model), **kwargs)
    except TypeError as e:
        raise InvalidArgumentError(f"to_json: {e}") from None


@public("model_from_json")
def model_from_json(json_string, custom_objects=None):
    """A new, freshly initialised model from `model_to_json`'s output (Keras's
    ``keras.models.model_from_json``).

    Example:
        >>> import ember as em
        >>> model = em.Sequential([em.Input((3,)), em.layers.Dense(2, name="out")])
        >>> clone = em.models.model_from_json(model.to_json())
        >>> [w.path for w in clone.weights]
        ['out/kernel', 'out/bias']
    """
    from ..models.model import Model
    from .serialization_lib import deserialize_keras_object

    if not isinstance(json_string, (str, bytes, bytearray)):
        raise InvalidArgumentError(f"model_from_json: expected a JSON string, got {type(json_string).__name__}")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise InvalidArgumentError(f"model_from_json: custom_objects must be a dict, got {type(custom_objects).__name__}")
    try:
        config = json.loads(json_string)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidConfigError(f"model_from_json: not valid JSON: {e}") from None
    model = deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(model, Model):
        raise InvalidConfigError(f"model_from_json: the JSON describes a {type(model).__name__}, not a model")
    return model
