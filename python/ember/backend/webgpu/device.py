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
    """(adapter, device) with the largest buffer limits the adapter offers."""
    try:
        import wgpu
    except ImportError as e:
        raise BackendUnavailableError(f"gpu: the wgpu package is not importable ({e}); {INSTALL_HINT}") from None
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as e:  # noqa: BLE001 - any failure here means "no adapter"
        raise BackendUnavailableError(f"gpu: no WebGPU adapter could be created ({e}); {INSTALL_HINT}") from None
    if adapter is None:
        raise BackendUnavailableError(f"gpu: no WebGPU adapter found; {INSTALL_HINT}")
    lim = adapter.limits
    wanted = {
        "max-storage-buffer-binding-size": lim["max-storage-buffer-binding-size"],
        "max-buffer-size": lim["max-buffer-size"],
        "max-compute-workgroup-storage-size": lim["max-compute-workgroup-storage-size"],
        "max-compute-invocations-per-workgroup": lim["max-compute-invocations-per-workgroup"],
        "max-storage-buffers-per-shader-stage": lim["max-storage-buffers-per-shader-stage"],
    }
    device = adapter.request_device_sync(required_limits=wanted, label="ember")
    return adapter, device


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
