"""Locating dataset files without downloading: ``EMBER_DATA`` first, then the data
packages the README installs (read as plain files; the packages are never imported)."""

from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np

from ..config import data_dir
from ..errors import EmberError


class DatasetNotFoundError(EmberError, FileNotFoundError):
    """A dataset's files are not on this machine."""


def package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def find(files: list[str], candidates: list[str | None], how_to_get: str) -> list[str]:
    """Paths of ``files`` in the first candidate folder holding all of them (each file
    may also be present without its .gz suffix)."""
    env = data_dir()
    folders = ([env] if env else []) + [c for c in candidates if c]
    for folder in folders:
        found = []
        for f in files:
            for name in (f, f[:-3] if f.endswith(".gz") else f + ".gz"):
                p = os.path.join(folder, name)
                if os.path.isfile(p):
                    found.append(p)
                    break
        if len(found) == len(files):
            return found
    raise DatasetNotFoundError(
        f"could not find {', '.join(files)} in {folders or 'any folder'}. {how_to_get} "
        "Or put the files in a folder and set EMBER_DATA to it."
    )


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (MNIST's format), gzip-compressed or not."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise EmberError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise EmberError(f"{path}: truncated IDX file ({arr.size} bytes of data for shape {dims})")
    return arr.reshape(dims)
