"""Backends: one object per device implementing `base.Backend`."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .base import Backend
from .cpu import CpuBackend

__all__ = ["Backend", "CpuBackend", "get_backend", "DEVICES"]

DEVICES = ("cpu", "gpu")
_backends: dict[str, Backend] = {"cpu": CpuBackend()}


def get_backend(device: str) -> Backend:
    """The backend of ``device`` ("cpu" or "gpu")."""
    try:
        b = _backends.get(device)
    except TypeError:  # an unhashable "device" (a list, an array...)
        b = None
    if b is not None:
        return b
    if isinstance(device, str) and device == "gpu":
        # Created on first use: importing ember never touches the GPU. Raises
        # BackendUnavailableError (saying what to install) when no adapter exists.
        from .webgpu import WebGpuBackend

        b = WebGpuBackend()
        _backends["gpu"] = b
        return b
    raise InvalidArgumentError(f"device: unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
