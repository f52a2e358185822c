"""Memory kernels of the gpu backend: upload, download, fill, copy, assign, cast."""

from __future__ import annotations

import struct

import numpy as np

from ...errors import DTypeError, InvalidArgumentError, ShapeError
from .runtime import GpuBuffer


def check_buffer_dtype(dtype) -> str:
    if dtype not in ("float32", "int32"):
        raise DTypeError(f"buffer: unsupported dtype {dtype!r}; supported: float32, int32")
    return dtype


def fill_bits(value: float, dtype: str) -> int:
    if dtype == "int32":
        return int(value) & 0xFFFFFFFF
    return struct.unpack("<I", struct.pack("<f", float(value)))[0]


class MemoryKernels:
    rt: object

    def from_numpy(self, array: np.ndarray, dtype: str) -> GpuBuffer:
        return self.rt.upload(np.asarray(array), check_buffer_dtype(dtype))

    def to_numpy(self, buf: GpuBuffer, shape, dtype: str) -> np.ndarray:
        check_buffer_dtype(dtype)
        return self.rt.download(buf).reshape(shape)

    def full(self, n: int, value: float, dtype: str) -> GpuBuffer:
        out = self.rt.alloc(n, check_buffer_dtype(dtype))
        if n:
            self.rt.dispatch("layout/fill", "fill", [], [out], (n, fill_bits(value, dtype)), threads=n)
        return out

    def copy(self, buf: GpuBuffer) -> GpuBuffer:
        return self.rt.copy(buf)

    def assign(self, dst: GpuBuffer, src: GpuBuffer) -> None:
        if dst.n != src.n or dst.dtype != src.dtype:
            raise ShapeError(f"assign: cannot assign {src.n} {src.dtype} values to a buffer of {dst.n} {dst.dtype} values")
        self.rt.copy(src, dst)

    def cast(self, buf: GpuBuffer, dtype: str) -> GpuBuffer:
        if dtype not in ("float32", "int32"):
            raise DTypeError(f"cast: unsupported dtype {dtype!r}; supported: float32, int32")
        if dtype == buf.dtype:
            return self.rt.copy(buf)
        if dtype == "int32" and buf.n:
            # A readback, but casts to int32 are rare and never inside a training step.
            v = self.rt.download(buf)
            ok = np.isfinite(v) & (v >= -2147483648.0) & (v < 2147483648.0)
            if not ok.all():
                raise InvalidArgumentError(f"cast: cannot cast {v[~ok][0]} to int32 (NaN, infinite or out of range)")
        out = self.rt.alloc(buf.n, dtype)
        if buf.n:
            entry = "cast_f32_to_i32" if dtype == "int32" else "cast_i32_to_f32"
            self.rt.dispatch("layout/cast", entry, [buf], [out], (buf.n,), threads=buf.n)
        return out

    def all_finite(self, buf: GpuBuffer) -> bool:
        if buf.dtype != "float32":
            return True
        return bool(np.isfinite(self.rt.download(buf)).all())
