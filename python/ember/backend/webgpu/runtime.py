"""The WebGPU runtime under the gpu backend: buffers from a pool, pipelines from a
cache, and every dispatch recorded into one command encoder that is submitted only when
the host needs a result (`.numpy()`, a metric, a log line) or the batch grows large.

Ordering: all work (uploads included) goes through the encoder in program order, so a
pooled buffer may be handed out again as soon as its Python owner dies: any dispatch that
still reads it was recorded earlier and runs earlier.

Threads: one runtime (one device, one encoder) serves every thread. A single re-entrant
lock covers recording (alloc from the pool, dispatch, copy, upload), submission and
readback, so the dispatches of concurrent callers interleave whole and in program order
per thread, and the ordering rule above holds across threads. A buffer freed by any
thread (its finalizer may run in whichever thread the garbage collector runs) goes back
through a queue that only lock holders drain, so a finalizer never waits on the lock.

Failures: WebGPU invalidates a whole encoder when one command in it is rejected, so the
runtime keeps a log of what the current encoder holds. On an error while recording or
submitting it drops the broken encoder and replays the log one command per submission:
the rejected command and every command that reads its outputs are skipped, everything
else (other threads' work included) runs as recorded. The device stays usable. The
thread whose command was rejected gets `GpuError` (at once, or at its next `flush`,
`download` or `synchronize`); a tensor that was never computed raises `GpuError` when
read or used, instead of yielding garbage; a buffer only updated in place by a skipped
command (a weight) keeps its earlier value.
"""

from __future__ import annotations

import struct
import threading
import weakref
from collections import OrderedDict, deque

import numpy as np

from ... import _core
from ...errors import GpuError, InvalidArgumentError, OutOfMemoryError
from .device import mapped_errors, request_device

MAX_WORKGROUPS = 65535
#: Loop iterations one invocation may run, all loops of the kernel together. Mesa's
#: llvmpipe/lavapipe stops every loop of a shader after 65,535 iterations in total
#: (LP_MAX_TGSI_LOOP_ITERATIONS, one counter per invocation shared by all its loops) and
#: carries on with whatever was accumulated: silently wrong sums past that many terms.
#: Kernels whose loops grow with the data split the work on the host so that no
#: invocation runs more than this many iterations (chunked reductions, split-K); the few
#: that cannot be split check with `Runtime.check_loops`.
LOOP_BUDGET = 65535
PARAM_SLOT = 256  # bytes per dispatch's uniform block (>= minUniformBufferOffsetAlignment)
ARENA_SLOTS = 512
CHECK_SLOTS = 64  # data-dependent checks (label ranges) awaiting the next readback
BIND_GROUP_CACHE = 4096  # bind groups kept for reuse (a training loop repeats its buffers)

_NP = {"float32": np.float32, "int32": np.int32}


class GpuBuffer:
    """A pooled storage buffer holding ``n`` elements of ``dtype``."""

    # gen: the encoder generation that last wrote it (None: never written); held: whether
    # it held a value before that generation; lost: why its value was never computed.
    __slots__ = ("buf", "n", "dtype", "nbytes", "_rt", "gen", "held", "lost", "__weakref__")

    def __init__(self, rt: "Runtime", buf, n: int, dtype: str, nbytes: int):
        self.buf, self.n, self.dtype, self.nbytes, self._rt = buf, n, dtype, nbytes, rt
        self.gen = self.lost = None
        self.held = False

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
        # request_device first: it imports wgpu and turns a missing package, driver or
        # adapter into BackendUnavailableError before anything else touches wgpu.
        self.adapter, self.device, self.info = request_device()
        import wgpu

        self.wgpu = wgpu
        self.limits = self.device.limits
        self.max_binding = int(self.limits["max-storage-buffer-binding-size"])
        # Drivers known to cut loops short (see LOOP_BUDGET); None: no limit known.
        ainfo = self.adapter.info
        desc = " ".join(str(ainfo.get(k, "")) for k in ("vendor", "device", "description")).lower()
        self.loop_limit = LOOP_BUDGET if ("llvmpipe" in desc or "lavapipe" in desc) else None
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
        # See the module docstring: one lock for recording, submission and readback.
        self.lock = threading.RLock()
        self._returned: deque = deque()  # (buf, nbytes) freed by finalizers, drained under the lock
        self._gen = 0  # generation of the current encoder; +1 at each submit
        # What the current encoder holds, to replay it if WebGPU rejects a command:
        # (record(encoder), ids of the wgpu buffers read, [(id of a wgpu buffer written,
        # weakref to its GpuBuffer)], op name, thread id) per command. Weak: the log must
        # not keep dead tensors' buffers out of the pool until the next submit.
        self._log: list = []
        self._notices: dict = {}  # thread id -> the GpuError its rejected command raised
        self.recoveries = 0
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
        self._checks: list = []  # per slot: (value -> the exception to raise, thread id)
        self._deferred: dict = {}  # thread id -> a failed check's exception, raised at its next sync
        self.dispatches = 0
        self.submits = 0
        self.readbacks = 0  # device-to-host reads (tests count them per training step)

    # -- memory ------------------------------------------------------------------------
    def alloc(self, n: int, dtype: str = "float32") -> GpuBuffer:
        nbytes = _padded(4 * n)
        if 4 * n > self.max_binding:
            raise OutOfMemoryError(
                f"gpu: a tensor of {n} elements ({4 * n} bytes) exceeds this adapter's largest storage binding "
                f"({self.max_binding} bytes)"
            )
        with self.lock:
            self._drain_returned()
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
        # Called from finalizers, in any thread and at any point (even inside a locked
        # section of another thread): only queue it. deque.append is atomic.
        self._returned.append((buf, nbytes))

    def _drain_returned(self) -> None:
        """Puts the buffers freed since the last call back in the pool (lock held)."""
        returned = self._returned
        while returned:
            try:
                buf, nbytes = returned.popleft()
            except IndexError:
                break
            self._pool_put(buf, nbytes)

    def _pool_put(self, buf, nbytes: int) -> None:
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
            with self.lock:
                with mapped_errors("gpu upload"):
                    staging = self.device.create_buffer_with_data(data=data + b"\0" * pad, usage=self.wgpu.BufferUsage.COPY_SRC)
                self._keepalive.append(staging)
                self._copy(staging, out.buf, len(data) + pad, (), (out,), "gpu upload")
        return out

    def download(self, buf: GpuBuffer) -> np.ndarray:
        with self.lock:
            self._take_notice()
            self._flush_locked()
            if buf.lost:
                raise GpuError(f"gpu readback: {buf.lost}")
            self.readbacks += 1
            if buf.n == 0:
                self.raise_failed_checks()
                return np.zeros(0, _NP[buf.dtype])
            with mapped_errors("gpu readback"):
                data = self.device.queue.read_buffer(buf.buf, 0, 4 * buf.n)
            self.raise_failed_checks()
        return np.frombuffer(data, dtype=_NP[buf.dtype])

    # -- recovery ----------------------------------------------------------------------------------
    def _logged(self, record, inputs, outputs, op: str) -> None:
        """Notes a command just recorded into the current encoder (lock held)."""
        g = self._gen
        for gb in outputs:
            if gb.gen != g:
                gb.held, gb.gen = gb.gen is not None, g
        self._log.append((record, [id(gb.buf) for gb in inputs], [(id(gb.buf), weakref.ref(gb)) for gb in outputs],
                          op, threading.get_ident()))

    def _take_notice(self) -> None:
        """Raises, once, the error of a command this thread recorded that was rejected when
        another thread submitted it (lock held)."""
        err = self._notices.pop(threading.get_ident(), None)
        if err is not None:
            raise err

    def _recover(self) -> GpuError | None:
        """Drops the broken encoder and replays its log, one command per submission,
        skipping rejected commands and those reading what they did not compute (lock
        held). Returns the calling thread's first error, if any; other threads' errors
        wait in `_notices`."""
        log, params = self._log, self._params
        self._pass = self._encoder = None
        self._log, self._params = [], bytearray()
        keepalive, self._keepalive = self._keepalive, []
        self.recoveries += 1
        cur = self._gen
        self._gen += 1
        if params:
            self.device.queue.write_buffer(self._arena, 0, bytes(params))
        bad: dict = {}  # id(wgpu buffer) -> why its contents were not computed
        me, mine = threading.get_ident(), None
        for record, inputs, outputs, op, tid in log:
            why = next((bad[i] for i in inputs if i in bad), None) if bad else None
            if why is None:
                try:
                    with mapped_errors(op):
                        enc = self.device.create_command_encoder(label="ember replay")
                        record(enc)
                        self.device.queue.submit([enc.finish()])
                    for i, _ in outputs:
                        bad.pop(i, None)  # computed (again)
                    continue
                except (GpuError, OutOfMemoryError) as e:
                    why = f"its value was never computed: {op} was rejected by the device ({e})"
                    err = e
            else:
                err = GpuError(f"{op}: skipped, it reads a tensor whose value is lost ({why})")
            for i, ref in outputs:
                bad[i] = why
                g = ref()
                if g is not None and g.gen == cur and not g.held:
                    g.lost = why  # never computed: reading it raises
            if tid == me:
                mine = mine or err
            else:
                self._notices.setdefault(tid, err)
        del keepalive
        return mine

    # -- device-side checks ----------------------------------------------------------------------
    def check_slot(self, error) -> int:
        """A slot of `flags` for one checking dispatch; ``error(value)`` builds the exception
        raised if the kernel flags it.

        The calling thread keeps the runtime's lock from here until its next `dispatch`
        (the checking kernel) is recorded, so no other thread can read and recycle the
        slot in between."""
        self.lock.acquire()
        try:
            if len(self._checks) >= CHECK_SLOTS:
                self._flush_locked()
                self.raise_failed_checks()
            self._checks.append((error, threading.get_ident()))
            _tls.check_holds = getattr(_tls, "check_holds", 0) + 1
            return len(self._checks) - 1
        except BaseException:
            self.lock.release()
            raise

    def raise_failed_checks(self) -> None:
        """After a flush: reads the pending check slots (one small readback, only when a
        checking kernel ran since the last one), clears them, raises the first failure of
        the calling thread. Another thread's failures are kept and raised at its next sync."""
        with self.lock:
            me = threading.get_ident()
            mine = self._deferred.pop(me, None) if self._deferred else None
            if mine is not None:
                self._checks_readback()
                raise mine
            self._checks_readback()
            mine = self._deferred.pop(me, None) if self._deferred else None
            if mine is not None:
                raise mine

    def _checks_readback(self) -> None:
        if not self._checks:
            return
        checks, self._checks = self._checks, []
        with mapped_errors("gpu readback"):
            words = np.frombuffer(self.device.queue.read_buffer(self.flags.buf, 0, 8 * len(checks)), dtype=np.uint32)
        failed = [i for i in range(len(checks)) if words[2 * i]]
        if failed:
            self.device.queue.write_buffer(self.flags.buf, 0, bytes(8 * len(checks)))
            for i in failed:
                error, tid = checks[i]
                if tid not in self._deferred:  # the first failure of each thread
                    self._deferred[tid] = error(int(words[2 * i + 1].astype(np.int32)))

    def copy(self, src: GpuBuffer, dst: GpuBuffer | None = None) -> GpuBuffer:
        out = dst if dst is not None else self.alloc(src.n, src.dtype)
        if src.n:
            if src.lost:
                raise GpuError(f"gpu copy: {src.lost}")
            with self.lock:
                self._copy(src.buf, out.buf, 4 * src.n + (-4 * src.n) % 4, (src,), (out,), "gpu copy")
        return out

    def check_loops(self, op: str, iterations: int, what: str) -> None:
        """Raises `InvalidArgumentError` when one invocation of ``op`` would run more loop
        iterations than this driver executes (lavapipe stops at 65,535 and returns wrong
        values), for the kernels whose loops are not split on the host."""
        if self.loop_limit is not None and iterations > self.loop_limit:
            raise InvalidArgumentError(
                f"{op}: {what} needs {iterations} loop iterations in one gpu invocation, more than this "
                f"driver ({self.info.name}) runs ({self.loop_limit}); its results would be wrong. "
                "Use the cpu backend for this op or a smaller size")

    # -- recording ---------------------------------------------------------------------------
    def _enc(self):
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder(label="ember step")
        return self._encoder

    def _copy(self, src, dst, nbytes: int, inputs: tuple, outputs: tuple, op: str) -> None:
        """Records a copy (lock held); ``inputs``/``outputs`` are the GpuBuffers involved."""

        def record(enc):
            enc.copy_buffer_to_buffer(src, 0, dst, 0, nbytes)

        try:
            with mapped_errors(op):
                if self._pass is not None:
                    self._pass.end()
                    self._pass = None
                record(self._enc())
        except (GpuError, OutOfMemoryError):
            self._recover()
            raise
        self._logged(record, inputs, outputs, op)

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
            with self.lock:
                return self._make_pipeline(key, shader, entry, n_in, n_out, constants)
        return p

    def _make_pipeline(self, key, shader, entry, n_in, n_out, constants):
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
        with self.lock:
            holds = getattr(_tls, "check_holds", 0)
            if holds:  # taken by check_slot for this dispatch
                _tls.check_holds = 0
            try:
                self._dispatch(shader, entry, inputs, outputs, params, threads, groups, constants, wg)
            finally:
                for _ in range(holds):
                    self.lock.release()

    def _dispatch(self, shader, entry, inputs, outputs, params, threads, groups, constants, wg) -> None:
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
            self._flush_locked()
        offset = len(self._params)
        block = b"".join(struct.pack("<f", v[1]) if isinstance(v, tuple) else struct.pack("<I", int(v) & 0xFFFFFFFF) for v in params)
        if len(block) > PARAM_SLOT:
            raise InvalidArgumentError(f"{entry}: {len(block)} bytes of parameters exceed the {PARAM_SLOT}-byte block")
        bufs = list(inputs) + list(outputs)
        for gb in bufs:
            if not isinstance(gb, GpuBuffer):
                from ...errors import DeviceError

                raise DeviceError(f"{entry}: an operand lives on another device ({type(gb).__name__}); move it with .to('gpu')")
        for gb in inputs:
            if gb.lost:
                raise GpuError(f"{entry}: an input tensor is unusable: {gb.lost}")
        with mapped_errors(entry):
            bg = self._bind_group(len(inputs), len(outputs), bufs)
        self._params += block.ljust(PARAM_SLOT, b"\0")
        try:
            with mapped_errors(entry):
                if self._pass is None:
                    self._pass = self._enc().begin_compute_pass()
                self._pass.set_pipeline(pipe)
                self._pass.set_bind_group(0, bg, [offset])
                self._pass.dispatch_workgroups(*groups)
        except (GpuError, OutOfMemoryError):
            del self._params[offset:]
            self._recover()
            raise

        def record(enc, pipe=pipe, bg=bg, offset=offset, groups=groups):
            p = enc.begin_compute_pass()
            p.set_pipeline(pipe)
            p.set_bind_group(0, bg, [offset])
            p.dispatch_workgroups(*groups)
            p.end()

        self._logged(record, tuple(inputs), tuple(outputs), entry)
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
        """Submits everything recorded so far (one submission). Raises `GpuError` if
        work this thread recorded was discarded after another thread's failure."""
        with self.lock:
            self._take_notice()
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._drain_returned()
        if self._encoder is None:
            return
        try:
            with mapped_errors("gpu submit"):
                if self._pass is not None:
                    self._pass.end()
                    self._pass = None
                if self._params:
                    self.device.queue.write_buffer(self._arena, 0, bytes(self._params))
                self.device.queue.submit([self._encoder.finish()])
        except (GpuError, OutOfMemoryError):
            mine = self._recover()
            if mine is not None:
                raise mine from None
            return
        self._encoder = None
        self._params = bytearray()
        self._keepalive = []
        self._log = []
        self._gen += 1
        self.submits += 1

    def synchronize(self) -> None:
        """Waits until the GPU has finished everything submitted, and raises what a
        device-side check found."""
        with self.lock:
            self._take_notice()
            self._flush_locked()
            tmp = self.alloc(1)
            with mapped_errors("gpu synchronize"):
                self.device.queue.read_buffer(tmp.buf, 0, 4)
            self.raise_failed_checks()


_runtime: list = []
_runtime_lock = threading.Lock()
_tls = threading.local()  # per thread: check_holds (lock holds taken by check_slot)


def get_runtime() -> Runtime:
    if not _runtime:
        with _runtime_lock:  # two threads' first GPU op must not make two devices
            if not _runtime:
                _runtime.append(Runtime())
    return _runtime[0]


def f(v: float) -> tuple:
    """Marks a float parameter for `Runtime.dispatch`."""
    return ("f", float(v))


__all__ = ["Runtime", "GpuBuffer", "get_runtime", "f", "weakref"]
