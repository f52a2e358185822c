"""Finding a WebGPU adapter, and saying exactly what is missing when there is none.

Nothing here runs at ``import ember``: wgpu is imported, and adapters are enumerated, the
first time the device ``"gpu"`` is asked for (or `ember.devices()` is called). Each way
the GPU can be unavailable raises `BackendUnavailableError` with what to install:

* wgpu-py is not installed (``pip install wgpu``);
* no Vulkan driver (Linux): the Vulkan loader or every driver manifest is missing
  (``apt-get install mesa-vulkan-drivers`` for Mesa's software Vulkan, or the GPU
  vendor's driver);
* no adapter at all.

Ember runs on wgpu's primary backends (Vulkan, Metal, DX12). wgpu's OpenGL fallback
is used only when asked for with ``WGPU_BACKEND_TYPE=OpenGL``: a machine that has only
it is told which Vulkan driver to install instead of silently running on it.

Mesa prints ``error: XDG_RUNTIME_DIR is invalid or not set in the environment.`` (its
window-system code, irrelevant to compute) while an adapter is created; that and similar
known lines are filtered from the native stderr during adapter creation, and anything
else written there is passed through.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field

from ...errors import BackendUnavailableError, InvalidArgumentError, SoftwareRendererWarning

__all__ = ["AdapterInfo", "import_wgpu", "list_adapters", "select_adapter", "quiet_native_stderr"]

PIP_HINT = "pip install wgpu"
DRIVER_HINT = (
    "install your GPU's Vulkan driver, or Mesa's software Vulkan (lavapipe) on a machine without a GPU: "
    "`apt-get install mesa-vulkan-drivers` (Debian/Ubuntu), `dnf install mesa-vulkan-drivers` (Fedora)"
)
PRIMARY_BACKENDS = ("Vulkan", "Metal", "D3D12")
# Lines native code prints to stderr while an adapter is created that mean nothing for compute.
_NOISE = (
    "XDG_RUNTIME_DIR is invalid or not set",
    "MESA-LOADER: failed to open",
    "failed to load driver:",
    "libEGL warning:",
    "WARNING: lavapipe is not a conformant vulkan implementation",
    "ZINK: failed to choose pdev",
    "glx: failed to create drisw screen",
)
_SOFTWARE_NAMES = ("llvmpipe", "lavapipe", "softpipe", "swiftshader", "microsoft basic render driver", "warp")
# Adapter kinds in the order Ember prefers them.
_TYPE_RANK = {"DiscreteGPU": 0, "IntegratedGPU": 1, "VirtualGPU": 2, "Unknown": 3, "CPU": 4}
_warned_software: list[str] = []


@dataclass(frozen=True)
class AdapterInfo:
    """One WebGPU adapter as Ember sees it (an entry of `ember.devices()`)."""

    #: "cpu" or "gpu": the Ember device this entry belongs to
    device: str
    #: the adapter's (or CPU's) name, e.g. "NVIDIA GeForce RTX 4090" or "llvmpipe (LLVM 15.0.6, 256 bits)"
    name: str
    #: "Vulkan", "Metal", "D3D12", "OpenGL" for GPUs; "native" for the CPU
    backend: str
    #: WebGPU's adapter type: "DiscreteGPU", "IntegratedGPU", "VirtualGPU", "CPU" or "Unknown"
    adapter_type: str
    #: a software renderer (lavapipe/llvmpipe, SwiftShader, WARP): much slower than the CPU backend
    software: bool
    #: driver description, e.g. "Mesa 22.3.6 (LLVM 15.0.6)"
    driver: str = ""
    #: whether Ember's "gpu" device uses this adapter
    selected: bool = False
    #: why Ember would not use it (empty when it would)
    note: str = ""
    #: memory in bytes where known (host RAM for the CPU; WebGPU does not report VRAM)
    memory: int | None = None
    #: the limits that bound tensor sizes and kernels (bytes / counts)
    limits: dict = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{self.device}: {self.name}", self.backend]
        if self.device == "gpu":
            parts.append(self.adapter_type + (", software renderer" if self.software else ""))
        if self.driver:
            parts.append(self.driver)
        if self.memory:
            parts.append(f"memory {_bytes(self.memory)}")
        for key, label in (("max_buffer_size", "max buffer"), ("max_storage_buffer_binding_size", "max binding")):
            if key in self.limits:
                parts.append(f"{label} {_bytes(self.limits[key])}")
        if self.selected:
            parts.append("selected")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def import_wgpu():
    """The wgpu module, or `BackendUnavailableError` saying how to install it."""
    try:
        import wgpu
    except ImportError as e:
        raise BackendUnavailableError(
            f"gpu: the GPU backend needs wgpu-py, which is not installed ({e}); `{PIP_HINT}` "
            "(and a Vulkan, Metal or DX12 driver)"
        ) from None
    return wgpu


@contextlib.contextmanager
def quiet_native_stderr():
    """Holds back known native noise written to file descriptor 2 inside the block and
    passes everything else through afterwards."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    tmp = tempfile.TemporaryFile()
    try:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not any(n in line for n in _NOISE)]
            if kept:
                os.write(2, "".join(kept).encode())
    finally:
        tmp.close()


def _is_software(info) -> bool:
    if info.get("adapter_type") == "CPU":
        return True
    text = f"{info.get('vendor', '')} {info.get('device', '')} {info.get('description', '')}".lower()
    return any(name in text for name in _SOFTWARE_NAMES)


def _limits(adapter) -> dict:
    lim = adapter.limits
    keys = {
        "max_buffer_size": "max-buffer-size",
        "max_storage_buffer_binding_size": "max-storage-buffer-binding-size",
        "max_storage_buffers_per_shader_stage": "max-storage-buffers-per-shader-stage",
        "max_compute_workgroup_storage_size": "max-compute-workgroup-storage-size",
        "max_compute_invocations_per_workgroup": "max-compute-invocations-per-workgroup",
        "max_compute_workgroups_per_dimension": "max-compute-workgroups-per-dimension",
    }
    return {k: int(lim[v]) for k, v in keys.items() if v in lim}


def _wanted_backend() -> str | None:
    return os.environ.get("WGPU_BACKEND_TYPE") or None


def _describe(adapter) -> AdapterInfo:
    info = adapter.info
    backend = str(info.get("backend_type", "Unknown"))
    note = ""
    if backend not in PRIMARY_BACKENDS and _wanted_backend() != backend:
        note = f"not used: Ember runs on Vulkan, Metal or DX12 (WGPU_BACKEND_TYPE={backend} to try it)"
    return AdapterInfo(
        device="gpu",
        name=str(info.get("device") or info.get("description") or info.get("vendor") or "unknown adapter"),
        backend=backend,
        adapter_type=str(info.get("adapter_type", "Unknown")),
        software=_is_software(info),
        driver=str(info.get("description", "")),
        note=note,
        limits=_limits(adapter),
    )


def _enumerate(wgpu) -> list:
    with quiet_native_stderr():
        return list(wgpu.gpu.enumerate_adapters_sync())


def _pick(described: list[AdapterInfo], index: int | None = None) -> int | None:
    """The adapter the "gpu" device uses: hardware before software, discrete before
    integrated. With ``index`` (``EMBER_GPU_ADAPTER``; `ember.distribute` sets it to the
    local rank), the ``index % n``-th of the ``n`` equally good adapters, so each rank
    of a multi-GPU machine gets its own."""
    usable = [i for i, d in enumerate(described) if not d.note]
    if not usable:
        return None
    rank = lambda i: (described[i].software, _TYPE_RANK.get(described[i].adapter_type, 3))  # noqa: E731
    best = min(rank(i) for i in usable)
    ties = [i for i in usable if rank(i) == best]
    return ties[(index or 0) % len(ties)]


def _adapter_index() -> int | None:
    """``EMBER_GPU_ADAPTER``, else the local rank under an MPI launcher with several ranks
    on this machine (each rank its own GPU; they share one where there is only one)."""
    raw = os.environ.get("EMBER_GPU_ADAPTER", "").strip()
    if not raw:
        from ... import config

        local = config.local_ranks_from_env()
        return config.local_rank_from_env() if local and local > 1 else None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidArgumentError(f"EMBER_GPU_ADAPTER={raw!r}: expected a non-negative adapter index")
    return value


def list_adapters() -> list[AdapterInfo]:
    """Every adapter wgpu can see (empty without wgpu), with the one Ember uses marked."""
    try:
        wgpu = import_wgpu()
        adapters = _enumerate(wgpu)
    except Exception:  # noqa: BLE001 - no wgpu, or no instance: no GPU adapters
        return []
    described = [_describe(a) for a in adapters]
    chosen = _pick(described, _adapter_index())
    return [AdapterInfo(**{**d.__dict__, "selected": i == chosen}) for i, d in enumerate(described)]


def _vulkan_manifests() -> list[str]:
    """The Vulkan driver manifests (ICD JSON files) the loader would read on Linux."""
    env = os.environ.get("VK_DRIVER_FILES") or os.environ.get("VK_ICD_FILENAMES")
    if env:
        found = []
        for p in env.split(os.pathsep):
            found += glob.glob(os.path.join(p, "*.json")) if os.path.isdir(p) else ([p] if os.path.isfile(p) else [])
        return found
    home = os.path.expanduser("~")
    dirs = [os.environ.get("XDG_CONFIG_HOME", os.path.join(home, ".config")), "/etc/xdg", "/etc",
            os.environ.get("XDG_DATA_HOME", os.path.join(home, ".local", "share")), "/usr/local/share", "/usr/share"]
    dirs += os.environ.get("XDG_DATA_DIRS", "").split(os.pathsep)
    found = []
    for d in dict.fromkeys(x for x in dirs if x):
        found += glob.glob(os.path.join(d, "vulkan", "icd.d", "*.json"))
    return found


def _why_no_adapter(others: list[AdapterInfo]) -> str:
    other = f" (wgpu found only: {', '.join(f'{o.name} on {o.backend}' for o in others)})" if others else ""
    if sys.platform.startswith("linux") and _wanted_backend() in (None, "Vulkan"):
        import ctypes.util

        if ctypes.util.find_library("vulkan") is None:
            return (f"gpu: the Vulkan loader (libvulkan.so.1) is not installed{other}; "
                    f"`apt-get install libvulkan1`, then {DRIVER_HINT}")
        manifests = _vulkan_manifests()
        if not manifests:
            return f"gpu: no Vulkan driver is installed{other}; {DRIVER_HINT}"
        return (f"gpu: no WebGPU adapter: the Vulkan drivers {', '.join(sorted(os.path.basename(m) for m in manifests))} "
                f"found no device{other}; {DRIVER_HINT}")
    return f"gpu: no WebGPU adapter found{other}; install a Vulkan, Metal or DX12 driver ({DRIVER_HINT})"


def _user_stacklevel() -> int:
    """The `warnings.warn` stacklevel of the first caller outside the ember package, so a
    warning names the user's line that asked for the GPU."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def select_adapter():
    """(wgpu adapter, AdapterInfo) of the adapter Ember's "gpu" device uses: hardware before
    software, discrete before integrated. Raises `BackendUnavailableError` naming what to
    install when there is none, and warns once (`SoftwareRendererWarning`) when the choice
    is a software renderer."""
    wgpu = import_wgpu()
    try:
        adapters = _enumerate(wgpu)
    except Exception as e:  # noqa: BLE001 - wgpu-native could not create an instance
        raise BackendUnavailableError(f"gpu: wgpu could not look for adapters ({e}); {DRIVER_HINT}") from None
    described = [_describe(a) for a in adapters]
    chosen = _pick(described, _adapter_index())
    if chosen is None:
        raise BackendUnavailableError(_why_no_adapter(described))
    info = AdapterInfo(**{**described[chosen].__dict__, "selected": True})
    if info.software and info.name not in _warned_software:
        _warned_software.append(info.name)
        warnings.warn(
            f"gpu: the only GPU adapter here is a software renderer, {info.name} ({info.backend}, {info.driver}); "
            "it runs on the CPU and is usually many times slower than Ember's \"cpu\" device. "
            "Install your GPU's driver to use real hardware.",
            SoftwareRendererWarning,
            stacklevel=_user_stacklevel(),
        )
    return adapters[chosen], info
