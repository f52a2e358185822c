"""The gpu backend: the `Backend` interface on WebGPU through wgpu-py.

Kernels are the WGSL shaders embedded in `ember._core` (`_core.shader_source`). The
runtime (`runtime.py`) pools buffers, caches pipelines by (shader, entry point,
constants) and records the dispatches of a step into one command encoder, submitted when
the host reads a value. Kernel families live one per file, mixed into `WebGpuBackend`.
"""

from __future__ import annotations

from ..base import Backend
from .conv import ConvKernels
from .elementwise import ElementwiseKernels
from .index import IndexKernels
from .linalg import LinalgKernels
from .nn import NNKernels
from .optim import OptimKernels
from .random import RandomKernels
from .reduce import ReduceKernels
from .rnn import RnnKernels
from .runtime import get_runtime


class WebGpuBackend(ConvKernels, ElementwiseKernels, IndexKernels, ReduceKernels, LinalgKernels, NNKernels, RandomKernels, OptimKernels, RnnKernels, Backend):
    name = "gpu"

    def __init__(self):
        self.rt = get_runtime()

    @property
    def max_buffer_bytes(self) -> int:  # type: ignore[override]
        return int(self.rt.max_binding)

    def synchronize(self) -> None:
        self.rt.synchronize()


__all__ = ["WebGpuBackend"]
