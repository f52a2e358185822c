"""Whole-model files in Keras 3's own ``.keras`` format (``keras/src/saving/saving_lib.py``).

A ``.keras`` file is a zip of three members:

* ``metadata.json``: ``{"keras_version", "date_saved"}``, plus Ember's
  ``format_version`` (`FORMAT_VERSION`) and ``ember_version``, which Keras ignores;
* ``config.json``: `serialize_keras_object` of the model, with its ``build_config`` and
  (for a compiled model) ``compile_config``, exactly as Keras writes them;
* the weights, one entry per object of the model's object tree, at Keras's paths: a
  Sequential or functional model's layers under ``layers/<snake_case class name>``
  (``layers/dense``, ``layers/dense_1``..., counted per class as Keras does, not by layer
  name), sublayers held in attributes under the attribute's name, the optimizer under
  ``optimizer``; each entry holds the object's own variables as ``"0"``, ``"1"``... (a
  layer's trainable variables, then its non-trainable ones; the optimizer's step counter,
  its learning rate when it is a constant, then its slots, per variable). A recurrent
  layer's variables sit on its cell's path (``layers/lstm/cell/vars/0``), as in Keras.

  The weights are ``model.weights.h5`` (Keras's default, groups ``<path>/vars`` with
  datasets ``0``, ``1``...) when h5py is installed, else ``model.weights.npz`` with one
  plain array per variable named ``<path>/vars/<i>``. Keras 3 itself reads only the h5
  member: its ``NpzIOStore`` stores pickled object arrays (which Ember never writes or
  reads), so give Keras a file written with h5py installed.

Loading never unpickles (Ember parses each ``.npy`` header itself and accepts only plain
number dtypes, with exactly the bytes the header declares), never extracts to disk, refuses
member names that are absolute or climb out (``..``), caps every member's decompressed
size (zip bombs), accepts only hard-linked, contiguous numeric HDF5 datasets (no external
or virtual storage), and checks every count, shape and dtype against the model before
assigning anything, so a failed load changes nothing. Anything malformed raises
`ember.errors.SerializationError`. A subclassed model is built by calling it once on
zeros of its ``build_config`` shape, as Keras does, before its weights are placed. Saving
goes through `ember.saving.atomic.atomic_write` (a temporary file in the target folder,
fsynced, renamed over the target), so a crash never leaves half a file.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> import ember as em
    >>> model = em.Sequential([em.Input((3,)), em.layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> model.save(path)
    >>> again = em.models.load_model(path)
    >>> x = np.ones((1, 3), np.float32)
    >>> bool(np.array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import zipfile

import numpy as np

from .._boundary import public
from ..errors import EmberError, InvalidArgumentError, SerializationError
from . import serialization_lib
from .atomic import atomic_write

__all__ = ["save_model", "load_model", "load_weights_only", "KERAS_VERSION", "FORMAT_VERSION"]

#: The Keras version recorded in ``metadata.json`` (the Keras 3 format Ember writes).
KERAS_VERSION = "3.15.1"
#: The version of Ember's layout inside that format, recorded in ``metadata.json`` as
#: ``format_version``; raised only by a change that an older Ember could not read, which
#: then refuses the file clearly instead of misreading it. Files without one (Keras's own)
#: are version 1. ``tests/data/golden_v0_1.keras`` pins that every later Ember reads 1.
FORMAT_VERSION = 1

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
VARS_H5 = "model.weights.h5"
VARS_NPZ = "model.weights.npz"

# Caps on what a file may make Ember decompress.
MAX_JSON_BYTES = 64 * 2**20
# The weights member may hold at most what the model needs, plus this slack (npy/h5
# headers, empty groups).
_WEIGHTS_SLACK_BYTES = 16 * 2**20
_MAX_MEMBERS = 100_000

_NUMERIC = "biuf"


# -- the object tree ------------------------------------------------------------------------------

def _snake(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


class _Cell:
    """Where Keras keeps a recurrent layer's variables: ``LSTM``, ``GRU`` and
    ``SimpleRNN`` wrap a cell sublayer (``layers/lstm/cell/vars/0``) that owns the kernel,
    the recurrent kernel and the bias, the layer itself owning none. Ember's recurrent
    layers hold those variables themselves (in the cell's order), so the saving code
    gives them the cell's path."""

    def __init__(self, layer):
        self.layer = layer
        self.name = layer.name


def _is_recurrent(layer) -> bool:
    from ..layers.rnn import _RNN

    return isinstance(layer, _RNN)


def _is_slot(obj) -> bool:
    """Whether ``obj`` (from `_walk`) holds layer variables (else it is the optimizer)."""
    from ..layers.layer import Layer

    return isinstance(obj, (Layer, _Cell))


def _own_variables(layer) -> list:
    """A layer's own variables in Keras's order: trainable, then non-trainable."""
    if isinstance(layer, _Cell):
        layer = layer.layer
    elif _is_recurrent(layer):
        return []  # they are its cell's (see `_Cell`)
    own = list(getattr(layer, "_weights", []))
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def _walk(model, with_optimizer: bool) -> list:
    """``[(path, object)]`` for every layer of ``model``'s object tree (and its optimizer),
    at the paths Keras's ``_save_state`` gives them; each object once (first path wins)."""
    from ..layers.layer import Layer
    from ..models.functional import Functional
    from ..models.model import Model
    from ..models.sequential import Sequential

    out: list = []
    visited: set = set()

    def container(items, path):
        used: dict = {}
        for item in items:
            if isinstance(item, Layer):
                base = _snake(type(item).__name__)
                if base in used:
                    used[base] += 1
                    name = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                    name = base
                visit(item, _join(path, name))

    def visit(layer, path):
        if id(layer) in visited:
            return
        visited.add(id(layer))
        out.append((path, layer))
        if _is_recurrent(layer):
            out.append((_join(path, "cell"), _Cell(layer)))
        if isinstance(layer, (Sequential, Functional)):
            container(layer.layers, _join(path, "layers"))
        skip = Layer._untracked | {"_layers"}
        for attr in sorted(vars(layer), key=_name_key):
            if attr.startswith("__") or attr in skip:
                continue
            value = vars(layer)[attr]
            if isinstance(value, Layer):
                visit(value, _join(path, attr))
            elif isinstance(value, (list, tuple)):
                container(value, _join(path, attr))
            elif isinstance(value, dict):
                container(list(value.values()), _join(path, attr))

    visit(model, "")
    if with_optimizer and isinstance(model, Model) and getattr(model, "optimizer", None) is not None:
        out.append(("optimizer", model.optimizer))
    return out


# -- optimizer state in Keras's layout ----------------------------------------------------------

def _lr_is_constant(optimizer) -> bool:
    from ..optimizers import schedules

    lr = getattr(optimizer, "_learning_rate", None)
    return not isinstance(lr, schedules.LearningRateSchedule) and not callable(lr)


def _optimizer_arrays(optimizer) -> list:
    store: dict = {}
    optimizer.save_own_variables(store)
    arrays = [store[str(i)] for i in range(len(store))]
    if _lr_is_constant(optimizer):
        arrays.insert(1, np.array(optimizer._learning_rate, np.float32))
    return arrays


def _variable_entries(model, with_optimizer: bool) -> list:
    """``[(path, object, arrays)]``: the values ``model`` saves."""
    entries = []
    for path, obj in _walk(model, with_optimizer):
        if _is_slot(obj):
            entries.append((path, obj, [np.asarray(w.numpy()) for w in _own_variables(obj)]))
        else:
            entries.append((path, obj, _optimizer_arrays(obj)))
    return entries


# -- writing --------------------------------------------------------------------------------------

def _have_h5py() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def _h5py():
    try:
        import h5py
    except ImportError:
        raise SerializationError(
            f"this .keras file keeps its weights in {VARS_H5} (HDF5, Keras's default): reading or writing it "
            "needs h5py; install it with `pip install h5py`"
        ) from None
    return h5py


def _weights_h5(entries) -> bytes:
    h5py = _h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for path, obj, arrays in entries:
            group = f.create_group(_join(path, "vars"))
            name = getattr(obj, "name", None)
            if isinstance(name, str):
                group.attrs["name"] = name
            for i, a in enumerate(arrays):
                group.create_dataset(str(i), data=a)
    return buf.getvalue()


def _weights_npz(entries) -> bytes:
    flat = {}
    for path, _obj, arrays in entries:
        for i, a in enumerate(arrays):
            flat[f"{_join(path, 'vars')}/{i}"] = np.asarray(a)
    buf = io.BytesIO()
    np.savez(buf, **flat)
    return buf.getvalue()


def _check_path(filepath, what: str) -> str:
    if isinstance(filepath, os.PathLike):
        filepath = os.fspath(filepath)
    if not isinstance(filepath, str) or not filepath:
        raise InvalidArgumentError(f"{what}: filepath must be a non-empty str or os.PathLike, got {filepath!r:.80}")
    if "\x00" in filepath:
        raise InvalidArgumentError(f"{what}: filepath contains a NUL character")
    return filepath


def _check_flag(value, name: str, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{what}: {name} must be True or False, got {value!r:.80}")
    return bool(value)


def _serialize_model(model) -> dict:
    config = serialization_lib.serialize_keras_object(model)
    if not isinstance(config, dict):  # pragma: no cover - a Model always serializes to a dict
        raise SerializationError("save: the model did not serialize to a dict")
    return config


@public("save_model")
def save_model(model, filepath, overwrite=True, zipped=None, weights_format=None, **kwargs):
    """Saves ``model`` (config, weights, optimizer state) as a Keras 3 ``.keras`` file.

    Args:
        model: an Ember `Model` (Sequential, functional or subclassed).
        filepath: the file to write; it must end in ``.keras``.
        overwrite: whether an existing file may be replaced (else
            `InvalidArgumentError`).
        zipped: None or True: the zipped ``.keras`` archive; False (Keras's unzipped
            folder) raises NotImplementedError.
        weights_format: ``"h5"`` (Keras's default; needs h5py), ``"npz"`` (no extra
            dependency; Ember reads it, Keras 3 does not), or None: ``"h5"`` when h5py
            is installed, else ``"npz"``.

    Raises:
        InvalidArgumentError: for a bad path, flag or format.
        SerializationError: for a model (or custom object) that cannot be serialized.
    """
    from ..models.model import Model

    if kwargs:
        raise InvalidArgumentError(f"save_model: unexpected keyword arguments {sorted(kwargs)}")
    if zipped is not None and not isinstance(zipped, (bool, np.bool_)):
        raise InvalidArgumentError(f"save_model: zipped must be None, True or False, got {zipped!r:.80}")
    if zipped is False or (zipped is not None and not zipped):
        raise NotImplementedError("save_model: zipped=False (an unzipped .keras folder) is not supported; Ember "
                                  "writes the zipped archive (zipped=None or True)")
    if not isinstance(model, Model):
        raise InvalidArgumentError(f"save_model: model must be an ember Model, got {type(model).__name__}")
    filepath = _check_path(filepath, "save_model")
    overwrite = _check_flag(overwrite, "overwrite", "save_model")
    if not filepath.endswith(".keras"):
        raise InvalidArgumentError(
            f"save_model: the filepath must end in .keras (Keras 3's format), got {filepath!r}; "
            "for weights alone use model.save_weights"
        )
    if weights_format is None:
        weights_format = "h5" if _have_h5py() else "npz"
    if weights_format not in ("h5", "npz"):
        raise InvalidArgumentError(f"save_model: weights_format must be 'h5', 'npz' or None, got {weights_format!r:.80}")
    if not model.built:
        from ..errors import NotBuiltError

        raise NotBuiltError("save_model: the model has no weights yet; build it (Input, input_shape, or call it on data)")
    if os.path.exists(filepath) and not overwrite:
        raise InvalidArgumentError(f"save_model: {filepath!r} exists and overwrite=False")

    config = _serialize_model(model)
    config_json = json.dumps(config)
    from .. import __version__

    metadata_json = json.dumps({"keras_version": KERAS_VERSION,
                                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                                "format_version": FORMAT_VERSION, "ember_version": __version__})
    entries = _variable_entries(model, with_optimizer=bool(getattr(model, "compiled", False)))
    if weights_format == "h5":
        weights_name, weights = VARS_H5, _weights_h5(entries)
    else:
        weights_name, weights = VARS_NPZ, _weights_npz(entries)

    def write(fh):
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(METADATA_FILENAME, metadata_json)
            zf.writestr(CONFIG_FILENAME, config_json)
            zf.writestr(zipfile.ZipInfo(weights_name, date_time=(1980, 1, 1, 0, 0, 0)), weights,
                        compress_type=zipfile.ZIP_STORED)

    try:
        atomic_write(filepath, write)
    except OSError as e:
        raise SerializationError(f"save_model: cannot write {filepath!r}: {e}") from e


# -- reading --------------------------------------------------------------------------------------

def _bad(message: str) -> SerializationError:
    return SerializationError(message)


def _check_member_names(zf: zipfile.ZipFile, where: str) -> dict:
    infos = zf.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise _bad(f"{where}: the archive has {len(infos)} members; refusing more than {_MAX_MEMBERS}")
    names: dict = {}
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if (not name or "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name)
                or ".." in parts or any(ord(c) < 32 for c in name)):
            raise _bad(f"{where}: refusing the archive member {name!r}: a member name must be a relative path "
                       "inside the archive")
        if name in names:
            raise _bad(f"{where}: the archive holds the member {name!r} twice")
        if info.flag_bits & 0x1:
            raise _bad(f"{where}: the archive member {name!r} is encrypted")
        names[name] = info
    return names


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """The member's bytes, refusing more than ``limit`` (whatever its header claims)."""
    if info.file_size > limit:
        raise _bad(f"{where}: the member {info.filename!r} declares {info.file_size} bytes uncompressed, more than "
                   f"the {limit} this model can need; refusing a possible zip bomb")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as e:
        raise _bad(f"{where}: cannot read the member {info.filename!r}: {type(e).__name__}: {e}") from None
    except Exception as e:  # zlib.error and friends
        raise _bad(f"{where}: cannot read the member {info.filename!r}: {type(e).__name__}: {e}") from None
    if len(data) > limit:
        raise _bad(f"{where}: the member {info.filename!r} decompresses to more than {limit} bytes; refusing a "
                   "possible zip bomb")
    return data


def _open_zip(filepath: str, where: str):
    try:
        return zipfile.ZipFile(filepath, "r")
    except FileNotFoundError:
        raise _bad(f"{where}: no such file: {filepath!r}") from None
    except IsADirectoryError:
        raise _bad(f"{where}: {filepath!r} is a directory, not a .keras file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise _bad(f"{where}: {filepath!r} is not a valid .keras file (a zip archive): {type(e).__name__}: {e}") from None


def _read_json(zf, names, member: str, where: str, required: bool = True):
    info = names.get(member)
    if info is None:
        if required:
            raise _bad(f"{where}: the archive has no {member} (members: {sorted(names)[:10]})")
        return None
    data = _read_member(zf, info, MAX_JSON_BYTES, where)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _bad(f"{where}: {member} is not valid JSON: {type(e).__name__}: {e}") from None


def _check_metadata(metadata, where: str) -> None:
    """Refuses a file whose ``format_version`` this Ember does not know (a newer one)."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _bad(f"{where}: {METADATA_FILENAME} must hold an object, got {type(metadata).__name__}")
    version = metadata.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad(f"{where}: {METADATA_FILENAME} has format_version {version!r:.40}; expected an integer >= 1")
    if version > FORMAT_VERSION:
        raise _bad(f"{where}: the file has format_version {version}, newer than the {FORMAT_VERSION} this Ember "
                   "reads; upgrade ember")


def _expected(model, with_optimizer: bool) -> list:
    """``[(path, object, [(shape, kind)])]``: what the model holds, to check a file against."""
    out = []
    for path, obj in _walk(model, with_optimizer):
        if _is_slot(obj):
            out.append((path, obj, [tuple(w.shape) for w in _own_variables(obj)]))
        else:
            out.append((path, obj, None))  # checked against the optimizer's own rules
    return out


def _npy_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, where: str, budget: list):
    """One ``.npy`` member, parsed here rather than by ``np.load``: its header is checked
    (numeric dtype, so never a pickle; a shape whose bytes are exactly what the member
    holds, within what the model can need) before any array is allocated, so a crafted
    header cannot make Ember allocate more than the file holds."""
    from numpy.lib import format as npy

    try:
        with zf.open(info) as fh:
            version = npy.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(fh, max_header_size=4096)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy.read_array_header_2_0(fh, max_header_size=4096)
            else:
                raise ValueError(f"unknown .npy format version {version}")
            if dtype.hasobject or dtype.kind not in _NUMERIC or dtype.fields is not None or dtype.subdtype is not None:
                raise _bad(f"{where}: {VARS_NPZ} entry {key!r} has dtype {dtype}, not a plain number type (Ember "
                           "never unpickles)")
            count = 1
            for d in shape:
                count *= int(d)
            nbytes = count * dtype.itemsize
            if nbytes != info.file_size - fh.tell():
                raise _bad(f"{where}: {VARS_NPZ} entry {key!r} declares shape {shape} ({nbytes} bytes) but holds "
                           f"{info.file_size - fh.tell()} bytes of data; the file is corrupt")
            budget[0] -= nbytes
            if budget[0] < 0:
                raise _bad(f"{where}: {VARS_NPZ} holds more data than the model can need; refused")
            raw = fh.read(nbytes + 1)
    except SerializationError:
        raise
    except Exception as e:  # ValueError (bad header), BadZipFile (CRC), EOFError, zlib.error...
        raise _bad(f"{where}: {VARS_NPZ} entry {key!r} is truncated or corrupt: {type(e).__name__}: {e}") from None
    if len(raw) != nbytes:
        raise _bad(f"{where}: {VARS_NPZ} entry {key!r} is truncated: {len(raw)} of {nbytes} bytes")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    if fortran:
        return flat.reshape(shape[::-1]).T.copy()
    return flat.reshape(shape).copy()


def _npz_arrays(data: bytes, where: str, limit: int) -> dict:
    """``{path: {index: array}}`` from a pickle-free npz of ``<path>/vars/<i>`` arrays."""
    try:
        inner = zipfile.ZipFile(io.BytesIO(data), "r")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise _bad(f"{where}: {VARS_NPZ} is not a valid npz archive: {type(e).__name__}: {e}") from None
    inner_names = _check_member_names(inner, f"{where} ({VARS_NPZ})")
    if sum(i.file_size for i in inner_names.values()) > limit:
        raise _bad(f"{where}: {VARS_NPZ} declares more data than the model can hold ({limit} bytes); refusing a "
                   "possible zip bomb")
    out: dict = {}
    budget = [limit]
    with inner:
        for name, info in inner_names.items():
            key = name[:-4] if name.endswith(".npy") else name
            m = re.fullmatch(r"(?:(.*)/)?vars/(0|[1-9][0-9]{0,5})", key)
            if m is None or not name.endswith(".npy"):
                if key == "__root__" or "/vars/" not in key:
                    raise _bad(f"{where}: {VARS_NPZ} entry {key!r} is not a '<path>/vars/<i>' array: this looks like "
                               "Keras's own NpzIOStore layout, which stores pickled Python objects; Ember never "
                               "unpickles. Re-save the model in Keras with the default (h5) weights format")
                raise _bad(f"{where}: {VARS_NPZ} entry {key!r} is not a '<path>/vars/<i>' array")
            out.setdefault(m.group(1) or "", {})[m.group(2)] = _npy_array(inner, info, key, where, budget)
    return out


def _h5_arrays(data: bytes, where: str, limit: int) -> dict:
    """``{path: {index: array}}`` from Keras's HDF5 layout (``<path>/vars/<i>`` datasets)."""
    h5py = _h5py()
    out: dict = {}
    total = [0]
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except Exception as e:  # h5py raises OSError, and others, for a corrupt file
        raise _bad(f"{where}: {VARS_H5} is not a valid HDF5 file: {type(e).__name__}: {e}") from None

    def walk(group, prefix):
        for key in group:
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise _bad(f"{where}: {VARS_H5} entry {prefix + key!r} is a {type(link).__name__}; only plain "
                           "groups and datasets are accepted")
            obj = group[key]
            full = prefix + key
            if isinstance(obj, h5py.Group):
                walk(obj, full + "/")
                continue
            m = re.fullmatch(r"(?:(.*)/)?vars/(0|[1-9][0-9]{0,5})", full)
            if m is None:
                raise _bad(f"{where}: {VARS_H5} entry {full!r} is not a '<path>/vars/<i>' dataset")
            if obj.is_virtual or obj.external:
                raise _bad(f"{where}: {VARS_H5} dataset {full!r} uses external or virtual storage; refused")
            if obj.dtype.kind not in _NUMERIC:
                raise _bad(f"{where}: {VARS_H5} dataset {full!r} has dtype {obj.dtype}, not a number type")
            total[0] += int(np.prod(obj.shape, dtype=np.int64)) * obj.dtype.itemsize
            if total[0] > limit:
                raise _bad(f"{where}: {VARS_H5} declares more data than the model can hold ({limit} bytes); refused")
            out.setdefault(m.group(1) or "", {})[m.group(2)] = np.asarray(obj[()])

    try:
        with f:
            walk(f, "")
    except SerializationError:
        raise
    except Exception as e:
        raise _bad(f"{where}: {VARS_H5} cannot be read: {type(e).__name__}: {e}") from None
    return out


def _read_weights(zf, names, model, where: str, with_optimizer: bool) -> dict:
    budget = sum(int(w.size) * 8 for w in model.weights) * 3 + _WEIGHTS_SLACK_BYTES
    if with_optimizer and getattr(model, "optimizer", None) is not None:
        budget += sum(int(w.size) * 8 for w in model.trainable_weights) * 4
    if VARS_H5 in names:
        return _h5_arrays(_read_member(zf, names[VARS_H5], budget, where), where, budget)
    if VARS_NPZ in names:
        return _npz_arrays(_read_member(zf, names[VARS_NPZ], budget, where), where, budget)
    raise _bad(f"{where}: the archive has no weights ({VARS_H5} or {VARS_NPZ}); members: {sorted(names)[:10]}")


def _indexed(entry: dict, path: str, where: str) -> list:
    n = len(entry)
    if sorted(entry, key=int) != [str(i) for i in range(n)]:
        raise _bad(f"{where}: the variables of {path or '<root>'!r} must be numbered 0..{n - 1}, got {sorted(entry)}")
    return [entry[str(i)] for i in range(n)]


def _plan(model, stored: dict, where: str, with_optimizer: bool, skip_optimizer_mismatch: bool) -> list:
    """Checks ``stored`` against ``model`` and returns ``[(callable, )]`` assignments to
    run; raises (having changed nothing) on any mismatch."""
    assignments = []
    seen_paths = set()
    for path, obj, shapes in _expected(model, with_optimizer):
        seen_paths.add(path)
        entry = stored.get(path, {})
        arrays = _indexed(entry, path, where)
        label = path or "<root>"
        if _is_slot(obj):
            if len(arrays) != len(shapes):
                raise _bad(f"{where}: layer {obj.name!r} (at {label!r}) has {len(shapes)} variables but the file holds "
                           f"{len(arrays)}")
            variables = _own_variables(obj)
            for i, (v, a, shape) in enumerate(zip(variables, arrays, shapes)):
                if a.dtype.kind not in _NUMERIC:
                    raise _bad(f"{where}: variable {i} of {label!r} ({v.name}) has dtype {a.dtype}, not a number type")
                want = np.dtype(v.dtype if isinstance(v.dtype, str) else "float32")
                if (want.kind == "f") != (a.dtype.kind == "f"):
                    raise _bad(f"{where}: variable {i} of {label!r} ({v.name}) is {want} in the model but {a.dtype} in "
                               "the file")
                if tuple(a.shape) != shape:
                    raise _bad(f"{where}: variable {i} of {label!r} ({v.name}) has shape {shape} in the model but "
                               f"{tuple(a.shape)} in the file")
                if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                    raise _bad(f"{where}: variable {i} of {label!r} ({v.name}) holds non-finite values")
                assignments.append((v, a.astype(v.dtype if isinstance(v.dtype, str) else "float32", copy=False)))
        else:
            step = _plan_optimizer(model, obj, arrays, where, skip_optimizer_mismatch)
            if step is not None:
                assignments.append(step)
    extra = sorted(p for p, e in stored.items() if e and p not in seen_paths
                   and not (p == "optimizer" or p.startswith("optimizer/")))
    if extra:
        raise _bad(f"{where}: the file holds variables for {extra[:5]}, which this model does not have")
    return assignments


def _plan_optimizer(model, optimizer, arrays: list, where: str, skip_mismatch: bool):
    """A deferred load of Keras-layout optimizer state, checked now; None when the file
    holds only a never-used optimizer's counters."""
    constant = _lr_is_constant(optimizer)
    head = 1 + (1 if constant else 0)
    if len(arrays) < head:
        if not arrays:
            return None
        raise _bad(f"{where}: the optimizer state holds {len(arrays)} entries, fewer than its counters")
    store_arrays = [arrays[0]] + arrays[head:]
    for i, a in enumerate(arrays):
        if a.dtype.kind not in _NUMERIC:
            raise _bad(f"{where}: optimizer entry {i} has dtype {a.dtype}, not a number type")
    scalars = len(optimizer._scalar_state())
    counters_only = len(store_arrays) == 1 + scalars  # saved before the first step: no slots yet
    if not counters_only and not optimizer.built:
        optimizer.build(model.trainable_variables)
    expected = 1 + scalars + len(optimizer.variables)
    if counters_only:
        expected = len(store_arrays)
    if len(store_arrays) != expected:
        if skip_mismatch:
            return None
        raise _bad(f"{where}: the optimizer {optimizer.name!r} expects {expected - 1 + head} state entries for this "
                   f"model but the file holds {len(arrays)}")
    for v, a in zip(optimizer.variables, store_arrays[1 + scalars:]):
        if tuple(a.shape) != tuple(v.shape):
            raise _bad(f"{where}: optimizer slot {v.name!r} has shape {tuple(v.shape)} but the file holds "
                       f"{tuple(a.shape)}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise _bad(f"{where}: optimizer slot {v.name!r} holds non-finite values")
    it = arrays[0]
    if it.size != 1 or not np.isfinite(float(it.reshape(()))) or float(it.reshape(())) < 0 \
            or float(it.reshape(())) != int(it.reshape(())):
        raise _bad(f"{where}: the optimizer's stored step counter must be an integer >= 0, got {it!r:.80}")
    lr = None
    if constant:
        lr_a = arrays[1]
        if lr_a.size != 1 or not np.isfinite(float(lr_a.reshape(()))) or float(lr_a.reshape(())) < 0:
            raise _bad(f"{where}: the optimizer's stored learning rate must be a number >= 0, got {lr_a!r:.80}")
        lr = float(lr_a.reshape(()))
    store = {str(i): np.asarray(a) for i, a in enumerate(store_arrays)}
    store["0"] = np.array(int(it.reshape(())), np.int64)

    def apply():
        try:
            if counters_only:
                optimizer.iterations = int(store["0"])
                if scalars:
                    optimizer._set_scalar_state({k: float(store[str(i + 1)].reshape(()))
                                                 for i, k in enumerate(optimizer._scalar_state())})
            else:
                optimizer.load_own_variables(store)
        except EmberError as e:
            raise _bad(f"{where}: {e}") from None
        if lr is not None and np.float32(lr) != np.float32(optimizer._learning_rate):
            optimizer._learning_rate = lr  # assigned after compile; keep the config's exact value otherwise

    return (None, apply)


def _apply(assignments: list) -> None:
    # The optimizer first: its own loader validates once more before it assigns; the
    # layers' arrays are already checked and cannot fail.
    for v, a in assignments:
        if v is None:
            a()
    for v, a in assignments:
        if v is not None:
            v.assign(a)


def _load_into(model, zf, names, where: str, with_optimizer: bool, skip_optimizer_mismatch: bool) -> None:
    stored = _read_weights(zf, names, model, where, with_optimizer)
    _apply(_plan(model, stored, where, with_optimizer, skip_optimizer_mismatch))


# Keras 3 config entries that Ember's layers do not take, dropped when they ask for nothing
# (their inert value), so a Keras-written file loads; any other value is left in place and
# the layer's from_config rejects it clearly.
_INERT_KERAS_KEYS = {
    "quantization_config": None, "lora_rank": None, "lora_alpha": None, "kernel_constraint": None,
    "bias_constraint": None, "beta_constraint": None, "gamma_constraint": None, "embeddings_constraint": None,
    "recurrent_constraint": None, "depthwise_constraint": None, "pointwise_constraint": None,
    "synchronized": False, "renorm": False, "renorm_clipping": None, "ragged": False, "input_axes": None,
    "output_axes": None, "zero_output_for_mask": False,
}


def _accepted_arguments(cls):
    import inspect

    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()) and cls.__init__ is not object.__init__:
        # **kwargs forwarded to Layer: Layer's named arguments count too
        from ..layers.layer import Layer

        base = inspect.signature(Layer.__init__).parameters
        return set(params) | set(base)
    return set(params)


def _strip_inert_keras_keys(config):
    """``config`` with Keras-only, inert layer arguments removed (see `_INERT_KERAS_KEYS`)."""
    if isinstance(config, list):
        return [_strip_inert_keras_keys(c) for c in config]
    if not isinstance(config, dict):
        return config
    out = {k: _strip_inert_keras_keys(v) for k, v in config.items()}
    inner = out.get("config")
    if isinstance(out.get("class_name"), str) and isinstance(inner, dict):
        cls = serialization_lib.find_builtin(out["class_name"], out.get("module"))
        accepted = _accepted_arguments(cls) if cls is not None else None
        if accepted is not None:
            renorm_off = inner.get("renorm", False) is False
            for key, inert in _INERT_KERAS_KEYS.items():
                if key in inner and key not in accepted and inner[key] == inert and inner[key] is inert:
                    del inner[key]
            if renorm_off and "renorm_momentum" in inner and "renorm_momentum" not in accepted:
                del inner["renorm_momentum"]
    return out


def _zeros_for(shape):
    """Zeros of ``shape`` (None -> 1), or a list of them for a list of shapes."""
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        return [_zeros_for(s) for s in shape]
    if not isinstance(shape, (list, tuple)) or not all(d is None or (isinstance(d, int) and 0 <= d <= 4096)
                                                       for d in shape):
        raise _bad(f"load_model: build_config input_shape {shape!r:.80} is not a shape")
    return np.zeros(tuple(1 if d is None else d for d in shape), np.float32)


def _build_subclassed(model, build_config) -> None:
    """Builds a subclassed model's sublayers as Keras does, by calling it once on zeros
    of its build shape: its own ``build`` (the base one does nothing) creates none of
    the variables that its layers create on their first call."""
    from ..autograd import no_grad
    from ..models.functional import Functional
    from ..models.sequential import Sequential

    if isinstance(model, (Functional, Sequential)) or not isinstance(build_config, dict):
        return
    shape = build_config.get("input_shape")
    if shape is None or all(layer.built for layer in model._flat_layers() if layer is not model):
        return
    with no_grad():
        model(_zeros_for(shape))


@public("load_model")
def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a ``.keras`` file written by Ember or by Keras 3.

    Args:
        filepath: the ``.keras`` file.
        custom_objects: ``{name: class or function}`` for custom layers, losses...
            not registered with `register_serializable`.
        compile: whether to compile the model as it was saved (optimizer, loss,
            metrics) and restore the optimizer's state, so ``fit`` resumes.
        safe_mode: refuse configs that would run code (``lambda``s).

    Raises:
        SerializationError: for a missing, malformed or mismatching file (nothing of
            the file is half-applied).
        InvalidArgumentError: for bad arguments.
    """
    from ..models.model import Model

    where = "load_model"
    filepath = _check_path(filepath, where)
    compile = _check_flag(compile, "compile", where)
    safe_mode = _check_flag(safe_mode, "safe_mode", where)
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise InvalidArgumentError(f"{where}: custom_objects must be a dict or None, got {type(custom_objects).__name__}")
    if not filepath.endswith(".keras"):
        raise InvalidArgumentError(f"{where}: expected a .keras file, got {filepath!r} (for weights use model.load_weights)")
    with _open_zip(filepath, where) as zf:
        names = _check_member_names(zf, where)
        config = _read_json(zf, names, CONFIG_FILENAME, where)
        _check_metadata(_read_json(zf, names, METADATA_FILENAME, where, required=False), where)
        if not isinstance(config, dict):
            raise _bad(f"{where}: {CONFIG_FILENAME} must hold an object, got {type(config).__name__}")
        config = _strip_inert_keras_keys(config)
        compile_config = config.pop("compile_config", None)
        try:
            with serialization_lib.SafeModeScope(safe_mode):
                model = serialization_lib.deserialize_keras_object(config, custom_objects=custom_objects,
                                                                   safe_mode=safe_mode)
            if not isinstance(model, Model):
                raise _bad(f"{where}: {CONFIG_FILENAME} describes a {type(model).__name__}, not a model")
            _build_subclassed(model, config.get("build_config"))
            if compile and compile_config:
                from . import object_registration

                with object_registration.CustomObjectScope(custom_objects or {}), \
                        serialization_lib.SafeModeScope(safe_mode):
                    model.compile_from_config(compile_config)
        except SerializationError:
            raise
        except EmberError as e:
            raise _bad(f"{where}: the model in {filepath!r} cannot be rebuilt: {type(e).__name__}: {e}") from None
        except (TypeError, ValueError, LookupError, AttributeError, RecursionError) as e:
            raise _bad(f"{where}: the model in {filepath!r} cannot be rebuilt: {type(e).__name__}: {e}") from None
        if not model.built:
            raise _bad(f"{where}: the model in {filepath!r} has no build_config, so its weights cannot be placed")
        _load_into(model, zf, names, where, with_optimizer=compile and bool(getattr(model, "compiled", False)),
                   skip_optimizer_mismatch=False)
    return model


@public("load_weights_only")
def load_weights_only(model, filepath, skip_mismatch=False):
    """Loads the weights of a ``.keras`` file into an existing, built ``model`` (what
    Keras's ``model.load_weights("m.keras")`` does). Every shape is checked first; on
    any error the model is unchanged. The optimizer's state is not loaded.

    Raises:
        SerializationError: for a malformed file or one that does not match the model.
    """
    from ..models.model import Model

    where = "load_weights"
    if not isinstance(model, Model):
        raise InvalidArgumentError(f"{where}: model must be an ember Model, got {type(model).__name__}")
    filepath = _check_path(filepath, where)
    _check_flag(skip_mismatch, "skip_mismatch", where)
    if not model.built:
        from ..errors import NotBuiltError

        raise NotBuiltError(f"{where}: the model has no weights yet; build it before loading weights")
    with _open_zip(filepath, where) as zf:
        names = _check_member_names(zf, where)
        _check_metadata(_read_json(zf, names, METADATA_FILENAME, where, required=False), where)
        _load_into(model, zf, names, where, with_optimizer=False, skip_optimizer_mismatch=True)


# -- compile config (Keras's Model.get_compile_config / compile_from_config) -------------------

def get_compile_config(model):
    """The serialized arguments ``model.compile`` was called with (Keras's layout), or
    None for a model that was never compiled."""
    raw = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or raw is None:
        return None
    cfg = dict(raw)
    cfg["optimizer"] = model.optimizer
    return {key: serialization_lib.serialize_keras_object(value) for key, value in cfg.items()}


def compile_from_config(model, config) -> None:
    """Compiles ``model`` from a `get_compile_config` dict (Keras's keys)."""
    if not isinstance(config, dict):
        raise SerializationError(f"compile_from_config: expected a dict, got {type(config).__name__}")
    known = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
             "steps_per_execution", "jit_compile", "auto_scale_loss")
    kwargs = {}
    for key, value in config.items():
        if key not in known:
            continue
        if key in ("optimizer", "loss", "metrics", "weighted_metrics", "loss_weights"):
            value = serialization_lib.deserialize_keras_object(value)
        kwargs[key] = value
    try:
        model.compile(**kwargs)
    except SerializationError:
        raise
    except (EmberError, TypeError, ValueError) as e:
        raise SerializationError(f"compile_from_config: cannot compile from {sorted(config)}: {type(e).__name__}: {e}") from None
    if model.built and model.optimizer is not None:
        model.optimizer.build(model.trainable_variables)
