"""`ember.devices()` and `ember.doctor()` (also ``python -m ember``): what Ember can run on
here, and the versions a bug report needs. Neither creates a GPU device; both work
without wgpu installed."""

from __future__ import annotations

import os
import platform
import sys
import warnings

from . import _core
from .backend.webgpu.adapters import AdapterInfo, list_adapters, select_adapter

__all__ = ["devices", "doctor"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _host_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_device() -> AdapterInfo:
    return AdapterInfo(
        device="cpu",
        name=_cpu_name(),
        backend="native (Rust, rayon)",
        adapter_type="CPU",
        software=False,
        driver=f"GEMM kernels: {_core.gemm_kernel()}",
        selected=True,
        memory=_host_memory(),
        limits={"threads": _core.get_num_threads()},
    )


def devices() -> list[AdapterInfo]:
    """The devices Ember can run on here: the CPU first, then every WebGPU adapter wgpu
    sees, with its name, backend (Vulkan, Metal, D3D12), whether it is a software renderer,
    its memory where known and its buffer and binding limits. ``selected`` marks the
    adapter the ``"gpu"`` device uses; ``note`` says why an adapter would not be used.
    Without wgpu (or any adapter) only the CPU is listed; `doctor` says why.

    Example:
        >>> import ember as em
        >>> cpu = em.devices()[0]
        >>> cpu.device, cpu.limits["threads"] >= 1
        ('cpu', True)
    """
    return [_cpu_device(), *list_adapters()]


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except ImportError:
        return "not installed"
    return str(getattr(mod, "__version__", "unknown"))


def _gpu_reason() -> str | None:
    """None when the "gpu" device is usable here, else the error it would raise."""
    from .errors import BackendUnavailableError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            select_adapter()
    except BackendUnavailableError as e:
        return str(e)
    return None


def doctor(file=None) -> None:
    """Prints what Ember runs on here: the versions of Ember, Python, numpy and wgpu, the
    CPU features the Rust core detected and the GEMM kernels it chose, every device with
    its limits, and why the GPU is unavailable when it is. ``python -m ember`` prints the
    same. Paste it into bug reports.

    Args:
        file: where to write (default: ``sys.stdout``).
    """
    out = file if file is not None else sys.stdout
    import ember

    def p(line: str = "") -> None:
        print(line, file=out)

    p(f"Ember {ember.__version__} ({os.path.dirname(ember.__file__)})")
    p(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")
    wgpu_v = _version("wgpu")
    if wgpu_v != "not installed":
        try:
            import wgpu.backends.wgpu_native as native

            wgpu_v += f" (wgpu-native {native.__version__})"
        except Exception:  # noqa: BLE001 - an odd wgpu install still gets a report
            pass
    p(f"numpy {_version('numpy')}, wgpu {wgpu_v}")
    cpu = _cpu_device()
    forced = os.environ.get("EMBER_GEMM_KERNEL")
    p(f"CPU: {cpu.name}, {cpu.limits['threads']} threads" + (f", memory {_mem(cpu.memory)}" if cpu.memory else ""))
    p(f"  features the Rust core detected: {' '.join(_core.cpu_features()) or 'none'}")
    p(f"  GEMM kernels: {_core.gemm_kernel()}" + (f" (EMBER_GEMM_KERNEL={forced})" if forced else ""))
    p("Devices:")
    all_devices = devices()
    for d in all_devices:
        p(f"  {d}")
    reason = _gpu_reason()
    if reason is not None:
        p(f"GPU: unavailable. {reason}")
    else:
        chosen = next(d for d in all_devices if d.device == "gpu" and d.selected)
        p(f"GPU: \"gpu\" runs on {chosen.name} ({chosen.backend})")
        if chosen.software:
            p("  warning: this is a software renderer; it runs on the CPU and is usually much slower than the \"cpu\" "
              "device. Install your GPU's driver to use real hardware.")
    p(f"Default device: {ember.get_default_device()}"
      + (f" (EMBER_DEVICE={os.environ['EMBER_DEVICE']})" if os.environ.get("EMBER_DEVICE") else ""))
    env = {k: v for k, v in os.environ.items() if k.startswith(("EMBER_", "WGPU_", "VK_ICD", "VK_DRIVER"))}
    if env:
        p("Environment: " + " ".join(f"{k}={v}" for k, v in sorted(env.items())))


def _mem(n: int | None) -> str:
    from .backend.webgpu.adapters import _bytes

    return _bytes(n) if n else "unknown"

