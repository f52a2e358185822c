"""Backends: one object per device implementing `base.Backend`."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .base import Backend
from .cpu import CpuBackend
# keras.backend's public functions (clear_session, floatx, ...), so that `import ember as
# keras; keras.backend.clear_session()` works.
from .keras_api import (
    backend, clear_session, epsilon, floatx, get_uid, image_data_format, is_float_dtype, is_int_dtype, is_keras_tensor,
    result_type, set_epsilon, set_floatx, set_image_data_format, standardize_dtype,
)
from . import keras_api as _keras_api

__all__ = ["Backend", "CpuBackend", "get_backend", "DEVICES"] + _keras_api.__all__

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
