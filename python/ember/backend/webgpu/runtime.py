"""The WebGPU runtime under the gpu backend: buffers from a pool, pipelines from a
cache, and every dispatch recorded into one command encoder that is submitted only when
the host needs a result (`.numpy()`, a metric, a log line) or the batch grows large.

Ordering: all work (uploads included) goes through the encoder in program order, so a
pooled buffer may be handed out again as soon as its Python owner dies: any dispatch that
still reads it was recorded earlier and runs earlier.
"""

from __future__ import annotations

import struct
import weakref
from collections import OrderedDict

import numpy as np

from ... import _core
from ...errors import InvalidArgumentError, OutOfMemoryError
from .device import mapped_errors, request_device

MAX_WORKGROUPS = 65535
PARAM_SLOT = 256  # bytes per dispatch's uniform block (>= minUniformBufferOffsetAlignment)
ARENA_SLOTS = 512
CHECK_SLOTS = 64  # data-dependent checks (label ranges) awaiting the next readback
BIND_GROUP_CACHE = 4096  # bind groups kept for reuse (a training loop repeats its buffers)

_NP = {"float32": np.float32, "int32": np.int32}


class GpuBuffer:
    """A pooled storage buffer holding ``n`` elements of ``dtype``."""

    __slots__ = ("buf", "n", "dtype", "nbytes", "_rt", "__weakref__")

    def __init__(self, rt: "Runtime", buf, n: int, dtype: str, nbytes: int):
        self.buf, self.n, self.dtype, self.nbytes, self._rt = buf, n, dtype, nbytes, rt

    def __len__(self) -> int:
        return self.n

    def __del__(self):
        try:
            self._rt._recycle(self.buf, self.nbytes)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _padded(nbytes: int) -> int:
    # At least 16 bytes (zero-sized bindings are invalid), multiple of 16 (vec4 loads).
    return max(16, (nbytes + 15) // 16 * 16)


class Runtime:
    def __init__(self):
        import wgpu

        self.wgpu = wgpu
        self.adapter, self.device = request_device()
        self.limits = self.device.limits
        self.max_binding = int(self.limits["max-storage-buffer-binding-size"])
        self._free: dict[int, list] = {}
        # Every live wgpu buffer is also held here. Tensors sit in reference cycles (an
        # autograd node's closure refers to its output), and the cycle collector runs
        # the finalizer of every object in a garbage cycle: a wgpu buffer reachable only
        # from such a cycle would be released even after our __del__ put it back in the
        # pool. Holding it from the runtime keeps it out of the garbage.
        self._live: dict[int, object] = {}
        self._pooled_bytes = 0
        self._pipelines: dict = {}
        # Bind groups by (layout, buffers): creating one is most of a dispatch's host cost,
        # and pooled buffers make a training step bind the same buffers every step. The
        # uniform is bound with a dynamic offset, so its arena slot is not part of the key.
        # An entry holds its buffers, so their ids cannot be reused while it lives;
        # `_bg_by_buf` finds the entries to drop when the pool lets a buffer go.
        self._bind_groups: OrderedDict = OrderedDict()
        self._bg_by_buf: dict[int, set] = {}
        self._layouts: dict = {}
        self._modules: dict = {}
        self._encoder = None
        self._pass = None
        self._arena = self.device.create_buffer(size=PARAM_SLOT * ARENA_SLOTS, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        self._params = bytearray()
        self._keepalive: list = []  # staging buffers of uploads until the next submit
        # Device-side checks: a kernel that validates data (labels) records failures in
        # its slot of `flags` (two u32 words: failed, value) instead of the host reading
        # the data back first; the next readback reads the flags and raises. Like CUDA's
        # device asserts, the error surfaces at the first sync after the faulty op.
        self.flags = GpuBuffer(self, self.device.create_buffer(size=8 * CHECK_SLOTS, usage=wgpu.BufferUsage.STORAGE
                                                              | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST),
                               2 * CHECK_SLOTS, "int32", 8 * CHECK_SLOTS)
        self._live[id(self.flags.buf)] = self.flags.buf
        self._checks: list = []  # per slot: value -> the exception to raise
        self.dispatches = 0
        self.submits = 0

    # -- memory ------------------------------------------------------------------------
    def alloc(self, n: int, dtype: str = "float32") -> GpuBuffer:
        nbytes = _padded(4 * n)
        if 4 * n > self.max_binding:
            raise OutOfMemoryError(
                f"gpu: a tensor of {n} elements ({4 * n} bytes) exceeds this adapter's largest storage binding "
                f"({self.max_binding} bytes)"
            )
        free = self._free.get(nbytes)
        if free:
            self._pooled_bytes -= nbytes
            return GpuBuffer(self, free.pop(), n, dtype, nbytes)
        wgpu = self.wgpu
        with mapped_errors("gpu alloc"):
            buf = self.device.create_buffer(size=nbytes, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST)
        self._live[id(buf)] = buf
        return GpuBuffer(self, buf, n, dtype, nbytes)

    def _recycle(self, buf, nbytes: int) -> None:
        if self._pooled_bytes + nbytes > (1 << 30):
            self._live.pop(id(buf), None)
            for key in self._bg_by_buf.pop(id(buf), ()):
                self._drop_bind_group(key)
            return
        self._free.setdefault(nbytes, []).append(buf)
        self._pooled_bytes += nbytes

    def upload(self, array: np.ndarray, dtype: str) -> GpuBuffer:
        a = np.ascontiguousarray(array, dtype=_NP[dtype]).reshape(-1)
        out = self.alloc(a.size, dtype)
        if a.size:
            data = a.tobytes()
            pad = (-len(data)) % 4
            with mapped_errors("gpu upload"):
                staging = self.device.create_buffer_with_data(data=data + b"\0" * pad, usage=self.wgpu.BufferUsage.COPY_SRC)
            self._copy(staging, out.buf, len(data) + pad)
            self._keepalive.append(staging)
        return out

    def download(self, buf: GpuBuffer) -> np.ndarray:
        self.flush()
        if buf.n == 0:
            self.raise_failed_checks()
            return np.zeros(0, _NP[buf.dtype])
        with mapped_errors("gpu readback"):
            data = self.device.queue.read_buffer(buf.buf, 0, 4 * buf.n)
        self.raise_failed_checks()
        return np.frombuffer(data, dtype=_NP[buf.dtype])

    # -- device-side checks ----------------------------------------------------------------------
    def check_slot(self, error) -> int:
        """A slot of `flags` for one checking dispatch; ``error(value)`` builds the exception
        raised if the kernel flags it."""
        if len(self._checks) >= CHECK_SLOTS:
            self.flush()
            self.raise_failed_checks()
        self._checks.append(error)
        return len(self._checks) - 1

    def raise_failed_checks(self) -> None:
        """After a flush: reads the pending check slots (one small readback, only when a
        checking kernel ran since the last one), clears them, raises the first failure."""
        if not self._checks:
            return
        checks, self._checks = self._checks, []
        with mapped_errors("gpu readback"):
            words = np.frombuffer(self.device.queue.read_buffer(self.flags.buf, 0, 8 * len(checks)), dtype=np.uint32)
        failed = [i for i in range(len(checks)) if words[2 * i]]
        if failed:
            self.device.queue.write_buffer(self.flags.buf, 0, bytes(8 * len(checks)))
            i = failed[0]
            raise checks[i](int(words[2 * i + 1].astype(np.int32)))

    def copy(self, src: GpuBuffer, dst: GpuBuffer | None = None) -> GpuBuffer:
        out = dst if dst is not None else self.alloc(src.n, src.dtype)
        if src.n:
            self._copy(src.buf, out.buf, 4 * src.n + (-4 * src.n) % 4)
        return out

    # -- recording ---------------------------------------------------------------------------
    def _enc(self):
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder(label="ember step")
        return self._encoder

    def _copy(self, src, dst, nbytes: int) -> None:
        if self._pass is not None:
            self._pass.end()
            self._pass = None
        self._enc().copy_buffer_to_buffer(src, 0, dst, 0, nbytes)

    def _layout(self, n_in: int, n_out: int):
        """Bind group layout of the house convention: n_in read-only storage buffers,
        n_out read-write storage buffers, then one uniform."""
        key = (n_in, n_out)
        lay = self._layouts.get(key)
        if lay is None:
            wgpu = self.wgpu
            entries = [
                {"binding": i, "visibility": wgpu.ShaderStage.COMPUTE,
                 "buffer": {"type": wgpu.BufferBindingType.read_only_storage if i < n_in else wgpu.BufferBindingType.storage}}
                for i in range(n_in + n_out)
            ]
            entries.append({"binding": n_in + n_out, "visibility": wgpu.ShaderStage.COMPUTE,
                            "buffer": {"type": wgpu.BufferBindingType.uniform, "has_dynamic_offset": True}})
            bgl = self.device.create_bind_group_layout(entries=entries)
            lay = (bgl, self.device.create_pipeline_layout(bind_group_layouts=[bgl]))
            self._layouts[key] = lay
        return lay

    def pipeline(self, shader: str, entry: str, n_in: int, n_out: int, constants: dict | None = None):
        key = (shader, entry, n_in, n_out, tuple(sorted((constants or {}).items())))
        p = self._pipelines.get(key)
        if p is None:
            module = self._modules.get(shader)
            if module is None:
                src = _core.shader_source(shader)
                with mapped_errors(f"compile {shader}"):
                    module = self.device.create_shader_module(code=src, label=shader)
                self._modules[shader] = module
            with mapped_errors(f"pipeline {shader}:{entry}"):
                p = self.device.create_compute_pipeline(
                    layout=self._layout(n_in, n_out)[1],
                    compute={"module": module, "entry_point": entry, "constants": dict(constants or {})},
                    label=entry,
                )
            self._pipelines[key] = p
        return p

    def dispatch(self, shader: str, entry: str, inputs: list, outputs: list, params: tuple = (), threads: int = 0,
                 groups: tuple | None = None, constants: dict | None = None, wg: int = 256) -> None:
        """Records one dispatch. Bindings follow the house order: ``inputs`` (read-only),
        ``outputs`` (read-write), then the uniform holding ``params`` packed as 32-bit words
        (ints, or floats marked with `f(v)`). ``threads`` is the number of invocations of a
        1-D kernel (split over x and y past 65,535 workgroups) unless ``groups`` is given."""
        if groups is None:
            nwg = max(1, -(-threads // wg))
            gx = min(nwg, MAX_WORKGROUPS)
            gy = -(-nwg // gx)
            if gy > MAX_WORKGROUPS:
                raise InvalidArgumentError(f"{entry}: {threads} invocations exceed the dispatch limits")
            groups = (gx, gy, 1)
        consts = {"WG": wg} if constants is None else {"WG": wg, **constants}
        pipe = self.pipeline(shader, entry, len(inputs), len(outputs), consts)
        if len(self._params) >= PARAM_SLOT * ARENA_SLOTS:
            self.flush()
        offset = len(self._params)
        block = b"".join(struct.pack("<f", v[1]) if isinstance(v, tuple) else struct.pack("<I", int(v) & 0xFFFFFFFF) for v in params)
        if len(block) > PARAM_SLOT:
            raise InvalidArgumentError(f"{entry}: {len(block)} bytes of parameters exceed the {PARAM_SLOT}-byte block")
        self._params += block.ljust(PARAM_SLOT, b"\0")
        bufs = list(inputs) + list(outputs)
        for gb in bufs:
            if not isinstance(gb, GpuBuffer):
                from ...errors import DeviceError

                raise DeviceError(f"{entry}: an operand lives on another device ({type(gb).__name__}); move it with .to('gpu')")
        with mapped_errors(entry):
            bg = self._bind_group(len(inputs), len(outputs), bufs)
            if self._pass is None:
                self._pass = self._enc().begin_compute_pass()
            self._pass.set_pipeline(pipe)
            self._pass.set_bind_group(0, bg, [offset])
            self._pass.dispatch_workgroups(*groups)
        self.dispatches += 1

    def _bind_group(self, n_in: int, n_out: int, bufs: list):
        key = (n_in, n_out, tuple((id(gb.buf), gb.nbytes) for gb in bufs))
        hit = self._bind_groups.get(key)
        if hit is not None:
            self._bind_groups.move_to_end(key)
            return hit[0]
        entries = [{"binding": i, "resource": {"buffer": gb.buf, "offset": 0, "size": gb.nbytes}} for i, gb in enumerate(bufs)]
        entries.append({"binding": len(bufs), "resource": {"buffer": self._arena, "offset": 0, "size": PARAM_SLOT}})
        bg = self.device.create_bind_group(layout=self._layout(n_in, n_out)[0], entries=entries)
        self._bind_groups[key] = (bg, [gb.buf for gb in bufs])
        for gb in bufs:
            self._bg_by_buf.setdefault(id(gb.buf), set()).add(key)
        if len(self._bind_groups) > BIND_GROUP_CACHE:
            self._drop_bind_group(next(iter(self._bind_groups)))
        return bg

    def _drop_bind_group(self, key) -> None:
        entry = self._bind_groups.pop(key, None)
        if entry is None:
            return
        for buf in entry[1]:
            keys = self._bg_by_buf.get(id(buf))
            if keys is not None:
                keys.discard(key)
                if not keys and id(buf) not in self._live:
                    del self._bg_by_buf[id(buf)]

    def flush(self) -> None:
        """Submits everything recorded so far (one submission)."""
        if self._encoder is None:
            return
        with mapped_errors("gpu submit"):
            if self._pass is not None:
                self._pass.end()
                self._pass = None
            if self._params:
                self.device.queue.write_buffer(self._arena, 0, bytes(self._params))
            self.device.queue.submit([self._encoder.finish()])
        self._encoder = None
        self._params = bytearray()
        self._keepalive = []
        self.submits += 1

    def synchronize(self) -> None:
        """Waits until the GPU has finished everything submitted, and raises what a
        device-side check found."""
        self.flush()
        tmp = self.alloc(1)
        self.device.queue.read_buffer(tmp.buf, 0, 4)
        self.raise_failed_checks()


_runtime: list = []


def get_runtime() -> Runtime:
    if not _runtime:
        _runtime.append(Runtime())
    return _runtime[0]


def f(v: float) -> tuple:
    """Marks a float parameter for `Runtime.dispatch`."""
    return ("f", float(v))


__all__ = ["Runtime", "GpuBuffer", "get_runtime", "f", "weakref"]
