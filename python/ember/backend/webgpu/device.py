"""Adapter and device selection, and turning WebGPU errors into ember errors."""

from __future__ import annotations

import contextlib

from ...errors import BackendUnavailableError, GpuError, OutOfMemoryError

INSTALL_HINT = (
    "install wgpu-py (`pip install wgpu`) and a Vulkan, Metal or DX12 driver; on a machine without a GPU, "
    "Mesa's software Vulkan: `apt-get install mesa-vulkan-drivers`"
)


# Kept under their old names for the backend's own code.
GpuOutOfMemoryError = OutOfMemoryError


def request_device():
    """(adapter, device, AdapterInfo) with the largest buffer limits the adapter offers.
    The adapter is chosen by `adapters.select_adapter`, which raises
    `BackendUnavailableError` naming what to install when there is none."""
    from .adapters import select_adapter

    adapter, info = select_adapter()
    lim = adapter.limits
    wanted = {
        "max-storage-buffer-binding-size": lim["max-storage-buffer-binding-size"],
        "max-buffer-size": lim["max-buffer-size"],
        "max-compute-workgroup-storage-size": lim["max-compute-workgroup-storage-size"],
        "max-compute-invocations-per-workgroup": lim["max-compute-invocations-per-workgroup"],
        "max-storage-buffers-per-shader-stage": lim["max-storage-buffers-per-shader-stage"],
    }
    try:
        device = adapter.request_device_sync(required_limits=wanted, label="ember")
    except Exception as e:  # noqa: BLE001 - the driver refused: no usable device
        raise BackendUnavailableError(f"gpu: {info.name} ({info.backend}) could not create a device ({e}); {INSTALL_HINT}") from None
    return adapter, device, info


@contextlib.contextmanager
def mapped_errors(op: str):
    """Re-raises wgpu's errors as ember errors naming the op."""
    try:
        yield
    except MemoryError as e:
        raise GpuOutOfMemoryError(f"{op}: out of GPU memory ({e})") from None
    except Exception as e:  # noqa: BLE001
        name = type(e).__name__
        if "OutOfMemory" in name:
            raise GpuOutOfMemoryError(f"{op}: out of GPU memory ({e})") from None
        if name.startswith("GPU") or "wgpu" in type(e).__module__:
            raise GpuError(f"{op}: {e}") from None
        raise
