"""Atomic file writes for every saver (``.keras``, ``.weights.h5``, ``.safetensors``,
checkpoints and backups).

The bytes go to a temporary file in the target's own folder (a rename is atomic only
within one file system), which is flushed and fsynced, given the mode a plain ``open``
would have given it, then renamed over the target with `os.replace`; the folder is then
fsynced so the rename itself survives a power cut. A reader, or a process killed at any
moment, sees the old file or the new one, never a mix; a failed write leaves no
temporary behind.

Example:
    >>> import os, tempfile
    >>> from ember.saving.atomic import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> atomic_write(path, lambda f: f.write(b"new"))
    >>> with open(path, "rb") as f:
    ...     f.read()
    b'new'
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, write) -> None:
    """Calls ``write(binary_file)`` on a temporary file next to ``path``, then renames it
    over ``path``. OSErrors (and anything ``write`` raises) propagate; the temporary
    file is removed on any failure."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:  # mkstemp makes the file 0600; give it the mode the old file (or a plain open) had
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:  # make the rename itself durable (not possible on every platform)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
