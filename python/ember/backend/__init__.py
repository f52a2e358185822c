"""Backends: one object per device implementing `base.Backend`."""

from __future__ import annotations

from ..errors import BackendUnavailableError, InvalidArgumentError
from .base import Backend
from .cpu import CpuBackend

__all__ = ["Backend", "CpuBackend", "get_backend", "DEVICES"]

DEVICES = ("cpu", "gpu")
_backends: dict[str, Backend] = {"cpu": CpuBackend()}


def get_backend(device: str) -> Backend:
    """The backend of ``device`` ("cpu" or "gpu")."""
    b = _backends.get(device)
    if b is not None:
        return b
    if device == "gpu":
        raise BackendUnavailableError(
            "gpu: the WebGPU backend is not part of this build yet; use device 'cpu'. "
            "(When available it needs `pip install wgpu` and a Vulkan/Metal/DX12 driver; "
            "on machines without a GPU, Mesa's lavapipe: `apt-get install mesa-vulkan-drivers`.)"
        )
    raise InvalidArgumentError(f"device: unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
