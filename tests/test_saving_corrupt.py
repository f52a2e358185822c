"""THE MALFORMED-FILE SUITE: hundreds of damaged or crafted files, made from real saved
files, must each raise `SerializationError` quickly, with bounded memory, and leave the
target model's weights exactly as they were.

The files come from four real saves of one small model (``.keras`` with npz weights,
``.keras`` with h5 weights, ``.weights.h5``, ``.safetensors``):

* truncations at many offsets of each;
* bit flips where a format can see them: the member data of a ``.keras`` zip (its CRC-32
  covers every byte), a safetensors header length and tensor bytes (Ember records a
  sha256 of them). HDF5 keeps no checksum of its data, so flips inside a ``.weights.h5``
  would load as other numbers; they are left out, as in every HDF5 reader;
* crafted archives, JSON, npy/npz, HDF5 and safetensors headers: path traversal,
  duplicate names, zip bombs, lying sizes, unknown compression, encrypted members,
  pickles, wrong shapes and dtypes, unknown classes, lambdas, oversized headers,
  external links, datasets declaring huge shapes, newer format versions...

Every case is timed on its own (at most 1 s) and its Python allocations traced
(tracemalloc peak at most 64 MiB; numpy reports its buffers to tracemalloc).
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember.errors import SerializationError

h5py = pytest.importorskip("h5py")
pytest.importorskip("safetensors")

PER_FILE_S = 1.0
PEAK_BYTES = 64 * 2**20
MIN_CASES = 200


def _model(seed):
    em.utils.set_random_seed(seed)
    m = em.Sequential([em.Input((4,)), em.layers.Dense(8, activation="relu"), em.layers.BatchNormalization(),
                       em.layers.Dense(2)])
    m.compile("adam", "mse")
    return m


# -- helpers that craft files -----------------------------------------------------------------

def _members(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _zip(items, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate names made on purpose
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for item in items:  # (name, bytes) or (name, bytes, compression)
                name, payload = item[0], item[1]
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = item[2] if len(item) > 2 else compression
                zf.writestr(info, payload)
    return buf.getvalue()


def _replace(data: bytes, **changes) -> bytes:
    """The ``.keras`` archive with members replaced (``name=bytes``) or dropped (None)."""
    members = _members(data)
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            members.pop(name, None)
        else:
            members[name] = value
    return _zip(members.items())


def _data_ranges(data: bytes) -> list:
    """``[(member, start, end)]``: where each member's stored bytes lie in the archive."""
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            off = info.header_offset
            name_len, extra_len = struct.unpack("<HH", data[off + 26:off + 30])
            start = off + 30 + name_len + extra_len
            out.append((info.filename, start, start + info.compress_size))
    return out


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_raw(header: dict, payload: bytes, magic=b"\x93NUMPY\x01\x00") -> bytes:
    text = repr(header).encode("latin1")
    text += b" " * (-(len(magic) + (2 if magic[6] == 1 else 4) + len(text) + 1) % 64) + b"\n"
    size = struct.pack("<H", len(text)) if magic[6] == 1 else struct.pack("<I", len(text))
    return magic + size + text + payload


def _h5(build) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def _copy_h5(src: bytes, edit) -> bytes:
    """An HDF5 file holding ``src``'s datasets, passed through ``edit(f)`` afterwards."""
    def build(f):
        def copy(name, obj):  # returns None: visititems stops at the first other value
            if isinstance(obj, h5py.Dataset):
                f.create_dataset(name, data=obj[()])
            else:
                f.require_group(name)

        with h5py.File(io.BytesIO(src), "r") as g:
            g.visititems(copy)
        edit(f)
    return _h5(build)


def _st_parts(data: bytes):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def _st(header, body: bytes, raw_header: bytes | None = None) -> bytes:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + body


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# -- the cases ------------------------------------------------------------------------------

class Case:
    def __init__(self, name, kind, data, weights_too=True):
        self.name, self.kind, self.data = name, kind, data
        # for a .keras: whether load_weights_only must refuse it too (False for damage
        # confined to config.json or metadata.json, which that loader never reads)
        self.weights_too = weights_too


def _base_files(tmp: Path) -> dict:
    m = _model(1)
    m.fit(np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32), epochs=1, batch_size=4, verbose=0)
    paths = {"keras_npz": tmp / "m_npz.keras", "keras_h5": tmp / "m_h5.keras", "h5": tmp / "m.weights.h5",
             "safetensors": tmp / "m.safetensors"}
    m.save(paths["keras_npz"], weights_format="npz")
    m.save(paths["keras_h5"], weights_format="h5")
    m.save_weights(paths["h5"])
    m.save_weights(paths["safetensors"])
    return {k: p.read_bytes() for k, p in paths.items()}


def _truncations(base: dict) -> list:
    cases = []
    for kind, data in base.items():
        n = len(data)
        offsets = {0, 1, 4, 7, 8, 9, 16, 64, n // 2, n - 22, n - 8, n - 1}
        offsets |= {int(o) for o in np.linspace(0, n - 1, 16)}
        for off in sorted(o for o in offsets if 0 <= o < n):
            cases.append(Case(f"{kind}: truncated at {off}/{n}", kind, data[:off]))
    return cases


def _bit_flips(base: dict) -> list:
    rng = np.random.default_rng(1234)
    cases = []
    for kind in ("keras_npz", "keras_h5"):
        data = base[kind]
        for member, start, end in _data_ranges(data):
            count = 14 if member.startswith("model.weights") else 6
            for pos in rng.integers(start, end, size=count):
                bit = int(pos) * 8 + int(rng.integers(0, 8))
                cases.append(Case(f"{kind}: bit {bit} flipped in {member}", kind, _flip(data, bit),
                                  weights_too=member.startswith("model.weights")))
    data = base["safetensors"]
    n = int.from_bytes(data[:8], "little")
    for bit in (0, 1, 2, 3, 5, 9, 17, 30, 40, 63):
        cases.append(Case(f"safetensors: bit {bit} of the header length flipped", "safetensors", _flip(data, bit)))
    for pos in rng.integers(8 + n, len(data), size=16):
        bit = int(pos) * 8 + int(rng.integers(0, 8))
        cases.append(Case(f"safetensors: bit {bit} flipped in the tensor bytes", "safetensors", _flip(data, bit)))
    return cases


def _crafted_zip(base: dict) -> list:
    good = base["keras_npz"]
    members = _members(good)
    cfg, meta, npz = members["config.json"], members["metadata.json"], members["model.weights.npz"]
    K = "keras_npz"
    cases = [
        Case("zip: empty file", K, b""),
        Case("zip: not a zip", K, b"PK\x03\x04 this is no archive" * 4),
        Case("zip: empty archive", K, _zip([])),
        Case("zip: traversal name", K, _zip([("../evil.txt", b"x"), ("config.json", cfg), ("model.weights.npz", npz)])),
        Case("zip: deep traversal name", K, _zip([("a/../../evil", b"x"), ("config.json", cfg),
                                                  ("model.weights.npz", npz)])),
        Case("zip: absolute name", K, _zip([("/etc/evil", b"x"), ("config.json", cfg), ("model.weights.npz", npz)])),
        Case("zip: drive name", K, _zip([("C:/evil", b"x"), ("config.json", cfg), ("model.weights.npz", npz)])),
        Case("zip: backslash name", K, _zip([("..\\evil", b"x"), ("config.json", cfg), ("model.weights.npz", npz)])),
        Case("zip: control character in a name", K, _zip([("a\x01b", b"x"), ("config.json", cfg),
                                                          ("model.weights.npz", npz)])),
        Case("zip: duplicate config", K, _zip([("config.json", cfg), ("config.json", b"{}"),
                                               ("model.weights.npz", npz)])),
        Case("zip: duplicate weights", K, _zip([("config.json", cfg), ("model.weights.npz", npz),
                                                ("model.weights.npz", npz)])),
        Case("zip: no weights", K, _replace(good, model__weights__npz=None)),
        Case("zip: weights member is a folder", K, _zip([("config.json", cfg), ("model.weights.npz/", b"")])),
        Case("zip: weights member is empty", K, _replace(good, model__weights__npz=b"")),
        Case("zip bomb: weights member declares 300 MiB", K,
             _zip([("config.json", cfg), ("model.weights.npz", b"\0" * (300 * 2**20), zipfile.ZIP_DEFLATED)])),
        Case("zip bomb: config.json declares 100 MiB", K,
             _zip([("config.json", b" " * (100 * 2**20), zipfile.ZIP_DEFLATED), ("model.weights.npz", npz)]),
             weights_too=False),
        Case("zip bomb inside the npz", K, _replace(good, model__weights__npz=_zip(
            [("layers/dense/vars/0.npy", b"\0" * (300 * 2**20))], zipfile.ZIP_DEFLATED))),
    ]
    # lying sizes and methods, patched into the headers of a real archive
    arch = bytearray(_zip([("config.json", cfg), ("metadata.json", meta), ("model.weights.npz", npz)]))
    cd = arch.rfind(b"PK\x01\x02", 0, len(arch))  # the last central directory entry: the weights
    lh = struct.unpack("<I", arch[cd + 42:cd + 46])[0]
    for label, edit in [
        ("declared size too small", lambda a: (a.__setitem__(slice(cd + 24, cd + 28), struct.pack("<I", 10)),
                                               a.__setitem__(slice(lh + 22, lh + 26), struct.pack("<I", 10)))),
        ("declared size 4 GiB", lambda a: (a.__setitem__(slice(cd + 24, cd + 28), struct.pack("<I", 2**32 - 2)),)),
        ("unknown compression method", lambda a: (a.__setitem__(slice(cd + 10, cd + 12), struct.pack("<H", 99)),
                                                  a.__setitem__(slice(lh + 8, lh + 10), struct.pack("<H", 99)))),
        ("encrypted flag", lambda a: (a.__setitem__(slice(cd + 8, cd + 10), struct.pack("<H", 1)),
                                      a.__setitem__(slice(lh + 6, lh + 8), struct.pack("<H", 1)))),
        ("local header offset past the end", lambda a: (a.__setitem__(slice(cd + 42, cd + 46),
                                                                      struct.pack("<I", len(a) + 100)),)),
        ("wrong CRC", lambda a: (a.__setitem__(slice(cd + 16, cd + 20), b"\0\0\0\0"),
                                 a.__setitem__(slice(lh + 14, lh + 18), b"\0\0\0\0"))),
        ("local name differs", lambda a: a.__setitem__(slice(lh + 30, lh + 31), b"X")),
    ]:
        patched = bytearray(arch)
        edit(patched)
        cases.append(Case(f"zip: {label}", K, bytes(patched)))
    return cases


def _crafted_json(base: dict) -> list:
    good = base["keras_npz"]
    cfg = json.loads(_members(good)["config.json"])
    layers = cfg["config"]["layers"]

    def with_layer(i, **changes):
        c = json.loads(json.dumps(cfg))
        c["config"]["layers"][i]["config"].update(changes)
        return json.dumps(c).encode()

    def edited(fn):
        c = json.loads(json.dumps(cfg))
        fn(c)
        return json.dumps(c).encode()

    dense = next(i for i, l in enumerate(layers) if l["class_name"] == "Dense")
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam", "function": {
        "class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}}}
    bad_configs = {
        "not JSON": b"{not json",
        "not UTF-8": b"\xff\xfe{}",
        "a list": b"[1, 2]",
        "a number": b"3",
        "deeply nested": b"[" * 100_000 + b"]" * 100_000,
        "unknown class": edited(lambda c: c.__setitem__("class_name", "NoSuchModel")),
        "unknown layer class": edited(lambda c: c["config"]["layers"][dense].__setitem__("class_name", "NoSuchLayer")),
        "unknown module": edited(lambda c: c.__setitem__("module", "os")),
        "registered name of nothing": edited(lambda c: c["config"]["layers"][dense].update(
            {"class_name": "Thing", "module": None, "registered_name": "evil>Thing"})),
        "a lambda layer": edited(lambda c: c["config"]["layers"].insert(1, lam)),
        "negative units": with_layer(dense, units=-3),
        "units as text": with_layer(dense, units="eight"),
        "unknown activation": with_layer(dense, activation="os.system"),
        "other units": with_layer(dense, units=9),
        "wrong input shape": with_layer(0, batch_shape=[None, 5]),
        "layers not a list": edited(lambda c: c["config"].__setitem__("layers", {"a": 1})),
        "unknown optimizer": edited(lambda c: c["compile_config"].__setitem__(
            "optimizer", {"module": "keras.optimizers", "class_name": "NoSuchOpt", "config": {}})),
    }
    cases = [Case(f"config.json: {k}", "keras_npz", _replace(good, config__json=v), weights_too=False)
             for k, v in bad_configs.items()]
    cases.append(Case("config.json: missing", "keras_npz", _replace(good, config__json=None), weights_too=False))
    for label, meta in [("not an object", b"[]"), ("not JSON", b"{"), ("format_version 99", b'{"format_version": 99}'),
                        ("format_version text", b'{"format_version": "1"}'), ("format_version 0", b'{"format_version": 0}')]:
        cases.append(Case(f"metadata.json: {label}", "keras_npz", _replace(good, metadata__json=meta)))
    return cases


def _crafted_npz(base: dict) -> list:
    good = base["keras_npz"]
    arrays = dict(np.load(io.BytesIO(_members(good)["model.weights.npz"]), allow_pickle=False))

    def changed(**edits):
        a = dict(arrays)
        for key, value in edits.items():
            key = key.replace("__", "/")
            if value is None:
                a.pop(key)
            else:
                a[key] = value
        return _replace(good, model__weights__npz=_npz(a))

    k0 = "layers__dense__vars__0"
    npz_cases = {
        "wrong shape": changed(**{k0: np.zeros((4, 9), np.float32)}),
        "transposed": changed(**{k0: np.zeros((8, 4), np.float32)}),
        "scalar for a kernel": changed(**{k0: np.float32(1)}),
        "int for float": changed(**{k0: np.zeros((4, 8), np.int32)}),
        "bool for float": changed(**{k0: np.zeros((4, 8), bool)}),
        "complex": changed(**{k0: np.zeros((4, 8), np.complex64)}),
        "strings": changed(**{k0: np.full((4, 8), "a")}),
        "NaN": changed(**{k0: np.full((4, 8), np.nan, np.float32)}),
        "inf in BatchNorm variance": changed(**{"layers__batch_normalization__vars__3": np.full(8, np.inf, np.float32)}),
        "missing variable": changed(**{"layers__dense_1__vars__1": None}),
        "extra variable": changed(**{"layers__dense_1__vars__2": np.zeros(2, np.float32)}),
        "extra layer": changed(**{"layers__dense_7__vars__0": np.zeros(2, np.float32)}),
        "gap in the numbering": changed(**{"layers__dense__vars__1": None,
                                           "layers__dense__vars__2": np.zeros(8, np.float32)}),
        "index with a leading zero": changed(**{"layers__dense__vars__01": np.zeros(8, np.float32)}),
        "optimizer slot of the wrong shape": changed(**{"optimizer__vars__3": np.zeros((1, 1), np.float32)}),
        "negative step counter": changed(**{"optimizer__vars__0": np.array(-5, np.int64)}),
        "not a zip": _replace(good, model__weights__npz=b"PK\x05\x06" + b"\0" * 18),
    }
    # load_weights_only leaves the optimizer alone, so only load_model must refuse these
    optimizer_only = ("optimizer slot of the wrong shape", "negative step counter")
    cases = [Case(f"npz: {k}", "keras_npz", v, weights_too=k not in optimizer_only) for k, v in npz_cases.items()]
    # pickles: Keras's own NpzIOStore layout, and an object array under a valid name
    pickle_member = io.BytesIO()
    np.save(pickle_member, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    keras_npz = io.BytesIO()
    np.savez(keras_npz, **{"layers/dense": np.array({"0": np.zeros((4, 8))}, dtype=object)})
    raw = {n + ".npy": io.BytesIO() for n in arrays}
    for n, a in arrays.items():
        np.save(raw[n + ".npy"], a)
    raw = {n: b.getvalue() for n, b in raw.items()}

    def npz_with(**members):
        m = dict(raw)
        for key, value in members.items():
            m[key.replace("__", "/").replace("/npy", ".npy")] = value
        return _replace(good, model__weights__npz=_zip(m.items()))

    member = "layers__dense__vars__0__npy"
    hdr = {"descr": "<f4", "fortran_order": False, "shape": (4, 8)}
    payload = np.zeros((4, 8), np.float32).tobytes()
    for label, data in [
        ("Keras's pickled layout", _replace(good, model__weights__npz=keras_npz.getvalue())),
        ("object array (pickle)", npz_with(**{member: pickle_member.getvalue()})),
        ("npy header claims 10**10 elements", npz_with(**{member: _npy_raw({**hdr, "shape": (10**10,)}, payload)})),
        ("npy header claims 2**62 elements", npz_with(**{member: _npy_raw({**hdr, "shape": (2**31, 2**31)}, payload)})),
        ("npy payload short", npz_with(**{member: _npy_raw(hdr, payload[:-4])})),
        ("npy payload long", npz_with(**{member: _npy_raw(hdr, payload + b"\0" * 8)})),
        ("npy bad magic", npz_with(**{member: b"\x93NUMPX" + _npy_raw(hdr, payload)[6:]})),
        ("npy version 9", npz_with(**{member: _npy_raw(hdr, payload, magic=b"\x93NUMPY\x09\x00")})),
        ("npy header not a dict", npz_with(**{member: b"\x93NUMPY\x01\x00" + struct.pack("<H", 64)
                                              + b"[1, 2]".ljust(63) + b"\n" + payload})),
        ("npy header calls code", npz_with(**{member: b"\x93NUMPY\x01\x00" + struct.pack("<H", 64)
                                              + b"__import__('os').system('true')".ljust(63) + b"\n" + payload})),
        ("npy structured dtype", npz_with(**{member: _npy_raw({**hdr, "descr": [("a", "<f4")]}, payload)})),
        ("npy header 60 KiB", npz_with(**{member: _npy_raw({**hdr, "pad": "x" * 60_000}, payload)})),
        ("npy v2 header 1 MiB", npz_with(**{member: _npy_raw({**hdr, "pad": "x" * 2**20}, payload,
                                                             magic=b"\x93NUMPY\x02\x00")})),
        ("npz member not .npy", npz_with(**{"layers__dense__vars__0": payload})),
        ("npz traversal name", npz_with(**{"../layers/dense/vars/0.npy": raw["layers/dense/vars/0.npy"]})),
        ("npz duplicate member", _replace(good, model__weights__npz=_zip(
            list(raw.items()) + [("layers/dense/vars/0.npy", raw["layers/dense/vars/0.npy"])]))),
    ]:
        cases.append(Case(f"npz: {label}", "keras_npz", data))
    return cases


def _crafted_h5(base: dict) -> list:
    cases = []
    wh5 = base["h5"]
    keras_h5 = base["keras_h5"]
    inner = _members(keras_h5)["model.weights.h5"]

    def del_(path):
        return lambda f: f.__delitem__(path)

    def put(path, value, **kw):
        def edit(f):
            if path in f:
                del f[path]
            f.create_dataset(path, data=value, **kw)
        return edit

    k0 = "layers/dense/vars/0"
    edits = {
        "wrong shape": put(k0, np.zeros((4, 9), np.float32)),
        "float64 for float32": put(k0, np.zeros((4, 8), np.float64)),
        "int for float": put(k0, np.zeros((4, 8), np.int32)),
        "strings": put(k0, np.array([b"a"] * 4)),
        "missing dataset": del_(k0),
        "extra dataset": put("layers/dense/vars/5", np.zeros(3, np.float32)),
        "extra layer": put("layers/dense_9/vars/0", np.zeros(3, np.float32)),
        "a group for a dataset": lambda f: (f.__delitem__(k0), f.create_group(k0)),
        "soft link": lambda f: (f.__delitem__(k0), f.__setitem__(k0, h5py.SoftLink("/layers/dense/vars/1"))),
        "external link": lambda f: (f.__delitem__(k0), f.__setitem__(k0, h5py.ExternalLink("/etc/passwd", "/x"))),
        "dataset declaring 2**40 elements": lambda f: (f.__delitem__(k0), f.create_dataset(
            k0, shape=(2**20, 2**20), dtype="f4", chunks=(1, 1024))),
        "NaN": put(k0, np.full((4, 8), np.nan, np.float32)),
    }
    for label, edit in edits.items():
        cases.append(Case(f"weights.h5: {label}", "h5", _copy_h5(wh5, edit)))
        if label not in ("float64 for float32",):  # .keras casts float64 -> float32 (Keras's loader does too)
            cases.append(Case(f"keras h5: {label}", "keras_h5",
                              _replace(keras_h5, model__weights__h5=_copy_h5(inner, edit))))
    cases.append(Case("weights.h5: not HDF5", "h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 200))
    cases.append(Case("weights.h5: a zip", "h5", base["keras_npz"]))
    cases.append(Case("keras h5: not HDF5", "keras_h5", _replace(keras_h5, model__weights__h5=b"\x89HDF" + b"\0" * 64)))
    return cases


def _crafted_safetensors(base: dict) -> list:
    data = base["safetensors"]
    header, body = _st_parts(data)
    meta = header.pop("__metadata__")
    names = sorted(header)
    k = next(n for n in names if n.endswith("kernel"))

    def with_(fn, keep_meta=True):
        h = json.loads(json.dumps(header))
        fn(h)
        if keep_meta:
            h["__metadata__"] = meta
        return _st(h, body)

    ST = "safetensors"
    raw_cases = {
        "shorter than the length field": data[:5],
        "header length 2**63": (2**63).to_bytes(8, "little") + data[8:],
        "header length past the end": (len(data)).to_bytes(8, "little") + data[8:],
        "header 17 MiB (oversized)": _st(None, body, raw_header=b"{" + b" " * (17 * 2**20) + b"}"),
        "header not JSON": _st(None, body, raw_header=b"{nope"),
        "header not UTF-8": _st(None, body, raw_header=b'{"\xff": 1}'),
        "header a list": _st(None, body, raw_header=b"[]"),
        "duplicate tensor name": _st(None, body, raw_header=json.dumps({**header, "__metadata__": meta})[:-1].encode()
                                     + b', ' + json.dumps({k: header[k]})[1:].encode()),
        "dtype F64 for float32": with_(lambda h: h[k].__setitem__("dtype", "F64")),
        "dtype I32 for float32": with_(lambda h: h[k].__setitem__("dtype", "I32")),
        "unknown dtype": with_(lambda h: h[k].__setitem__("dtype", "Q7")),
        "shape mismatch": with_(lambda h: h[k].__setitem__("shape", [8, 4])),
        "shape larger than the data": with_(lambda h: h[k].__setitem__("shape", [4, 8000])),
        "shape 2**40": with_(lambda h: h[k].__setitem__("shape", [2**20, 2**20])),
        "negative offsets": with_(lambda h: h[k].__setitem__("data_offsets", [-4, 0])),
        "offsets past the end": with_(lambda h: h[k].__setitem__("data_offsets",
                                                                 [h[k]["data_offsets"][0], len(body) + 64])),
        "overlapping offsets": with_(lambda h: h[names[1]].__setitem__("data_offsets", h[names[0]]["data_offsets"])),
        "missing tensor": with_(lambda h: h.pop(names[0])),
        "renamed tensor": with_(lambda h: h.__setitem__("other/kernel", h.pop(k))),
        "metadata not strings": with_(lambda h: h.__setitem__("__metadata__", {"ember.sha256": 5}), keep_meta=False),
        "digest of other data": with_(lambda h: h.__setitem__("__metadata__", {**meta, "ember.sha256": "0" * 64}),
                                      keep_meta=False),
        "trailing bytes": data + b"\0" * 16,
    }
    return [Case(f"safetensors: {k_}", ST, v) for k_, v in raw_cases.items()]


SUFFIX = {"keras_npz": ".keras", "keras_h5": ".keras", "h5": ".weights.h5", "safetensors": ".safetensors"}


def _all_cases(tmp: Path) -> list:
    base = _base_files(tmp)
    return (_truncations(base) + _bit_flips(base) + _crafted_zip(base) + _crafted_json(base) + _crafted_npz(base)
            + _crafted_h5(base) + _crafted_safetensors(base))


def _load(case: Case, path: Path, target) -> list:
    """Runs the loaders that must refuse ``path``; returns what went wrong (empty: all
    refused it with a SerializationError)."""
    problems = []
    loaders = []
    if case.kind.startswith("keras"):
        loaders.append(("load_model", lambda: em.models.load_model(path)))
        if case.weights_too:
            loaders.append(("load_weights_only", lambda: em.saving.saving_lib.load_weights_only(target, path)))
    else:
        loaders.append(("load_weights", lambda: target.load_weights(path)))
    for label, fn in loaders:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                fn()
        except SerializationError:
            continue
        except Exception as e:  # noqa: BLE001 - any other exception is a finding
            problems.append(f"{label} raised {type(e).__name__}: {str(e)[:200]}")
        else:
            problems.append(f"{label} accepted it")
    return problems


@pytest.mark.timeout(120)
def test_malformed_files_raise_serialization_error_fast_with_bounded_memory(tmp_path):
    cases = _all_cases(tmp_path)
    assert len(cases) >= MIN_CASES, len(cases)
    target = _model(99)  # the same architecture, other values: a partial load would show
    before = [w.copy() for w in target.get_weights()]
    failures, slowest, heaviest = [], (0.0, ""), (0, "")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        for i, case in enumerate(cases):
            path = tmp_path / f"case_{i}{SUFFIX[case.kind]}"
            path.write_bytes(case.data)
            tracemalloc.reset_peak()
            base_mem = tracemalloc.get_traced_memory()[0]
            # CPU seconds of this process, not wall time: the bound is on the work a file
            # makes the reader do (a bomb, a huge header), which other jobs on a loaded
            # machine must not turn into a false failure.
            t0 = time.process_time()
            problems = _load(case, path, target)
            dt = time.process_time() - t0
            peak = tracemalloc.get_traced_memory()[1] - base_mem
            os.unlink(path)
            slowest = max(slowest, (dt, case.name))
            heaviest = max(heaviest, (peak, case.name))
            if dt > PER_FILE_S:
                problems.append(f"took {dt:.2f} s")
            if peak > PEAK_BYTES:
                problems.append(f"allocated {peak / 2**20:.1f} MiB")
            if not all(np.array_equal(a, b) for a, b in zip(before, target.get_weights())):
                problems.append("changed the target's weights")
                target.set_weights(before)
            if problems:
                failures.append(f"{case.name}: {'; '.join(problems)}")
    finally:
        tracemalloc.stop()
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(f"\n{len(cases)} corrupt files; slowest {slowest[0] * 1000:.0f} ms ({slowest[1]}); "
          f"largest traced peak {heaviest[0] / 2**20:.2f} MiB ({heaviest[1]}); max RSS grew {rss_growth_mib:.0f} MiB")
    assert not failures, f"{len(failures)} of {len(cases)} malformed files were mishandled:\n" + "\n".join(failures)
    assert rss_growth_mib < 512


def test_the_good_files_load():
    """The control: the files the corruptions start from load, so each refusal above is
    caused by the damage."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        base = _base_files(Path(d))
        target = _model(99)
        for kind, data in base.items():
            path = Path(d) / f"good{SUFFIX[kind]}"
            path.write_bytes(data)
            if kind.startswith("keras"):
                em.models.load_model(path)
                em.saving.saving_lib.load_weights_only(target, path)
            else:
                target.load_weights(path)
