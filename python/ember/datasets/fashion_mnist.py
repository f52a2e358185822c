"""Fashion-MNIST, in Keras's layout (uint8 images (n, 28, 28), labels (n,)).

Files come from ``EMBER_DATA`` or Debian's ``dataset-fashion-mnist`` package
(``apt-get install dataset-fashion-mnist``)."""

from __future__ import annotations

from ._files import find, read_idx
from .mnist import FILES


def load_data(path: str | None = None):
    candidates = [path, "/usr/share/dataset-fashion-mnist", "/usr/share/fashion-mnist", "/usr/share/datasets/fashion-mnist"]
    xtr, ytr, xte, yte = (read_idx(p) for p in find(FILES, candidates, "Install it with `apt-get install dataset-fashion-mnist`."))
    return (xtr, ytr), (xte, yte)
