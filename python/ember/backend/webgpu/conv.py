"""Convolution and pooling kernels of the gpu backend (``shaders/conv/conv.wgsl``,
``shaders/pool/pool.wgsl``).

They override `Backend`'s composites (im2col as a strided copy, the dense GEMM, col2im as
a scatter-add) with the same semantics in fewer dispatches and no intermediate buffers:
a conv2d forward is one dispatch, its backward two or three (input gradient, filter and
bias gradients, and the sum of the filter gradient's split partial sums when the
reduction over N*OH*OW is split), a pooling pass one. Everything is recorded into the
runtime's encoder like any other kernel: no readback, no extra submission.

Each conv pass has two schedules (see the shader's header): the implicit GEMM tiled in
workgroup memory (64x64 tiles, or 128x32 for groups of at most 32 columns), and a direct
kernel for the shapes where even a 32-wide tile would be mostly empty (depthwise and
other groups of fewer than 16 channels).
"""

from __future__ import annotations

from ...errors import DTypeError, InvalidArgumentError, ShapeError
from .elementwise import check_dtype, check_f32, check_len
from .linalg import ACT
from .runtime import MAX_WORKGROUPS

TK = 16  # the tiled kernels' reduction slice
#: Their output tiles, (rows, columns): 64x64, or 128x32 (NARROW) for GEMMs of at most 32
#: columns, which would leave half of a 64-wide tile idle.
WIDE, NARROW = (64, 64), (128, 32)
#: The tiled schedule runs when the group's GEMM has at least this many columns (output
#: channels per group; input channels per group for the input gradient). Narrower groups
#: (depthwise) leave most of a 64-wide tile empty, and the direct kernels win there. On
#: lavapipe, 16 x 28 x 28 x 32 inputs, 3x3: the direct forward ran 14x faster for 1
#: channel per group, 2.6x for 8, and 1.4x slower for 16; a one-channel first layer with
#: 32 filters (depth 9, less than one slice) still ran 1.8x faster tiled.
MIN_TILED_COLS = 16
#: The filter gradient splits its reduction over N*OH*OW into chunks (at least this many
#: rows each) until about SPLIT_TARGET workgroups run; a second pass adds the partials.
SPLIT_TARGET = 128
MIN_SPLIT_ROWS = 256
#: ... and into chunks of at most this many rows whatever the tile count, so one
#: invocation's loop stays short (runtime.LOOP_BUDGET: lavapipe stops a loop after 65,535
#: iterations in total): 256 slices of 16 rows.
MAX_SPLIT_ROWS = 4096
#: Loop iterations a tiled pass may spend per 16-deep slice of its reduction (the slice's
#: staging and multiply-add loops, unrolled or not), for `Runtime.check_loops`.
SLICE_LOOPS = 48
#: "tiled" or "direct" pins the schedule of every conv pass (the tests run both); None
#: chooses by shape.
SCHEDULE: str | None = None


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _grid_1d(n: int) -> tuple[int, int, int]:
    """Workgroups for one workgroup per item, split over x and y past 65,535."""
    gx = max(1, min(n, MAX_WORKGROUPS))
    return gx, max(1, _cdiv(n, gx)), 1


class ConvKernels:
    # -- conv2d --------------------------------------------------------------------------
    def _conv_geometry(self, op: str, x, x_shape, w, w_shape, b, strides, pads, dilation, groups, activation):
        """Validates like the composite (same errors, before any work) and returns the
        Params words shared by every conv kernel, with ``total`` (word 20) left 0."""
        if activation not in ACT:
            raise InvalidArgumentError(f"{op}: activation {activation!r} is not fused; fused ones: {', '.join(ACT)}")
        if len(tuple(w_shape)) != 4:
            raise ShapeError(f"{op}: expected a kernel of rank 4 (kh, kw, in_channels // groups, filters), "
                             f"got shape {tuple(w_shape)}")
        _, _, oh, ow = self._window_geometry(op, x_shape, tuple(w_shape)[:2], strides, pads, dilation)
        n, h, wd, c = (int(d) for d in x_shape)
        kh, kw, cg, o = (int(d) for d in w_shape)
        g = int(groups)
        if g < 1 or cg * g != c or o % g:
            raise ShapeError(f"{op}: input of shape {tuple(x_shape)} does not fit kernel of shape {tuple(w_shape)} "
                             f"with groups={groups} (kernel input channels x groups must equal the input's channels "
                             "and output channels divide by groups)")
        check_f32(op, x, w, *([b] if b is not None else []))
        check_len(op, "input", x, x_shape)
        check_len(op, "kernel", w, w_shape)
        if b is not None and b.n != o:
            raise ShapeError(f"{op}: bias holds {b.n} values but the kernel of shape {tuple(w_shape)} has {o} filters")
        return [n, h, wd, c, oh, ow, o, g, kh, kw, cg, o // g, int(strides[0]), int(strides[1]), int(dilation[0]),
                int(dilation[1]), int(pads[0][0]), int(pads[1][0]), int(b is not None), ACT[activation], 0, 1, 0, 0]

    @staticmethod
    def _tile(rows: int, cols: int, consts: dict) -> tuple[int, int, dict]:
        """(tile rows, tile columns, the pipeline's override constants) for a GEMM of
        ``rows`` x ``cols``: narrow tiles where they idle fewer invocations."""
        narrow = cols <= NARROW[1] and rows >= NARROW[0]
        tm, tn = NARROW if narrow else WIDE
        return tm, tn, {**consts, "NARROW": int(narrow)}

    @staticmethod
    def _tiled(cols: int, depth: int, rows: int, groups: int) -> bool:
        if _cdiv(rows, WIDE[0]) > MAX_WORKGROUPS or groups > MAX_WORKGROUPS or not depth:
            # Past the grid's limits (the direct kernels split theirs over x and y), or an
            # empty reduction (the tiled filter gradient would have no row tile for the bias).
            return False
        if SCHEDULE is not None:
            return SCHEDULE == "tiled"
        return cols >= MIN_TILED_COLS

    @staticmethod
    def _vec_constants(words) -> dict:
        """vec4 loads where the channel axes allow them (see the shader's header)."""
        c, o, cg, og = words[3], words[6], words[10], words[11]
        return {"VEC_X": int(c % 4 == 0 and cg % 4 == 0), "VEC_O": int(o % 4 == 0 and og % 4 == 0)}

    def conv2d(self, x, x_shape, w, w_shape, b, strides, pads, dilation, groups, activation):
        words = self._conv_geometry("conv2d", x, x_shape, w, w_shape, b, strides, pads, dilation, groups, activation)
        n, h, wd, c, oh, ow, o, g, kh, kw, cg, og = words[:12]
        rows = n * oh * ow
        y = self.rt.alloc(rows * o)
        if y.n:
            words[20] = y.n
            inputs = [x, w, b if b is not None else x]
            if self._tiled(og, kh * kw * cg, rows, g):
                self.rt.check_loops("conv2d", _cdiv(kh * kw * cg, TK) * SLICE_LOOPS, f"a reduction over {kh * kw * cg} taps")
                tm, tn, consts = self._tile(rows, og, self._vec_constants(words))
                self.rt.dispatch("conv/conv", "conv2d_tiled", inputs, [y], tuple(words),
                                 groups=(_cdiv(og, tn), _cdiv(rows, tm), g), constants=consts)
            else:
                self.rt.check_loops("conv2d", kh * kw * (cg + 1) + kh, f"a reduction over {kh * kw * cg} taps")
                self.rt.dispatch("conv/conv", "conv2d_direct", inputs, [y], tuple(words), threads=y.n)
        return y, (n, oh, ow, o)

    def conv2d_backward(self, x, x_shape, w, w_shape, y, gy, strides, pads, dilation, groups, activation, need_gx):
        op = "conv2d_backward"
        words = self._conv_geometry(op, x, x_shape, w, w_shape, None, strides, pads, dilation, groups, activation)
        n, h, wd, c, oh, ow, o, g, kh, kw, cg, og = words[:12]
        rows, depth = n * oh * ow, kh * kw * cg
        check_f32(op, y, gy)
        check_len(op, "output", y, (n, oh, ow, o))
        check_len(op, "output gradient", gy, (n, oh, ow, o))
        consts = self._vec_constants(words)
        gx = None
        if need_gx:
            gx = self.rt.alloc(x.n)
            if gx.n:
                words[20] = gx.n
                self.rt.check_loops(op, max(_cdiv(kh * kw * og, TK) * SLICE_LOOPS, kh * kw * (og + 1) + kh),
                                    f"an input gradient over {kh * kw * og} taps")
                if self._tiled(cg, kh * kw * og, n * h * wd, g):
                    tm, tn, c_in = self._tile(n * h * wd, cg, consts)
                    self.rt.dispatch("conv/conv", "conv2d_backward_input_tiled", [gy, y, w], [gx], tuple(words),
                                     groups=(_cdiv(cg, tn), _cdiv(n * h * wd, tm), g), constants=c_in)
                else:
                    self.rt.dispatch("conv/conv", "conv2d_backward_input_direct", [gy, y, w], [gx], tuple(words),
                                     threads=gx.n)
        gw, gb = self.rt.alloc(w.n), self.rt.alloc(o)
        if not o:
            return gx, gw, gb
        if self._tiled(og, depth, depth, g):
            tm, tn, consts = self._tile(depth, og, consts)
            tiles = _cdiv(depth, tm) * _cdiv(og, tn) * g
            splits = max(1, min(_cdiv(rows, MIN_SPLIT_ROWS), _cdiv(SPLIT_TARGET, tiles), MAX_WORKGROUPS // g),
                         min(_cdiv(rows, MAX_SPLIT_ROWS), MAX_WORKGROUPS // g))
            self.rt.check_loops(op, _cdiv(_cdiv(rows, splits), TK) * SLICE_LOOPS, f"a filter gradient over {rows} rows")
            chunk = _cdiv(_cdiv(rows, splits), TK) * TK if rows else TK
            splits = max(1, _cdiv(rows, chunk))
            words[21], words[22] = splits, chunk
            grid = (_cdiv(og, tn), _cdiv(depth, tm), g * splits)
            if splits == 1:
                self.rt.dispatch("conv/conv", "conv2d_backward_filter_tiled", [x, gy, y], [gw, gb], tuple(words),
                                 groups=grid, constants=consts)
            else:
                pw, pb = self.rt.alloc(splits * w.n), self.rt.alloc(splits * o)
                self.rt.dispatch("conv/conv", "conv2d_backward_filter_tiled", [x, gy, y], [pw, pb], tuple(words),
                                 groups=grid, constants=consts)
                words[20] = w.n + o
                self.rt.dispatch("conv/conv", "conv2d_backward_filter_reduce", [pw, pb], [gw, gb], tuple(words),
                                 threads=w.n + o)
        else:
            self.rt.check_loops(op, _cdiv(rows, 256) + 8, f"a filter gradient over {rows} rows")
            self.rt.dispatch("conv/conv", "conv2d_backward_filter_direct", [x, gy, y], [gw, gb], tuple(words),
                             groups=_grid_1d(w.n + o))
        return gx, gw, gb

    # -- pooling -------------------------------------------------------------------------
    def _pool_words(self, op: str, x_shape, pool_size, strides, pads) -> list[int]:
        _, _, oh, ow = self._window_geometry(op, x_shape, pool_size, strides, pads, (1, 1))
        n, h, wd, c = (int(d) for d in x_shape)
        # The window loops (and the backward's loops over the windows covering an input).
        self.rt.check_loops(op, int(pool_size[0]) * (int(pool_size[1]) + 1), f"a {tuple(pool_size)} window")
        return [n, h, wd, c, oh, ow, int(pool_size[0]), int(pool_size[1]), int(strides[0]), int(strides[1]),
                int(pads[0][0]), int(pads[1][0]), 0, 0, 0, 0]

    def max_pool2d(self, x, x_shape, pool_size, strides, pads, need_argmax=False):
        op = "max_pool2d"
        words = self._pool_words(op, x_shape, pool_size, strides, pads)
        check_f32(op, x)
        check_len(op, "input", x, x_shape)
        n, _, _, c, oh, ow = words[:6]
        total = n * oh * ow * c
        y = self.rt.alloc(total)
        am = self.rt.alloc(total, "int32") if need_argmax else None
        if total:
            words[12] = total
            if need_argmax:
                self.rt.dispatch("pool/pool", "max_pool2d_argmax", [x], [y, am], tuple(words), threads=total)
            else:
                self.rt.dispatch("pool/pool", "max_pool2d", [x], [y], tuple(words), threads=total)
        return y, (n, oh, ow, c), am

    def max_pool2d_backward(self, argmax, gy, x_shape, pool_size, strides, pads):
        op = "max_pool2d_backward"
        words = self._pool_words(op, x_shape, pool_size, strides, pads)
        n, h, wd, c, oh, ow = words[:6]
        if argmax.dtype != "int32":
            raise DTypeError(f"{op}: argmax must be int32, got {argmax.dtype}")
        check_dtype(op, "output gradient", gy)
        check_len(op, "argmax", argmax, (n, oh, ow, c))
        check_len(op, "output gradient", gy, (n, oh, ow, c))
        gx = self.rt.alloc(n * h * wd * c)
        if gx.n:
            words[12] = gx.n
            self.rt.dispatch("pool/pool", "max_pool2d_backward", [argmax, gy], [gx], tuple(words), threads=gx.n)
        return gx

    def average_pool2d(self, x, x_shape, pool_size, strides, pads):
        op = "average_pool2d"
        words = self._pool_words(op, x_shape, pool_size, strides, pads)
        check_f32(op, x)
        check_len(op, "input", x, x_shape)
        n, _, _, c, oh, ow = words[:6]
        y = self.rt.alloc(n * oh * ow * c)
        if y.n:
            words[12] = y.n
            self.rt.dispatch("pool/pool", "average_pool2d", [x], [y], tuple(words), threads=y.n)
        return y, (n, oh, ow, c)

    def average_pool2d_backward(self, gy, x_shape, pool_size, strides, pads):
        op = "average_pool2d_backward"
        words = self._pool_words(op, x_shape, pool_size, strides, pads)
        n, h, wd, c, oh, ow = words[:6]
        check_dtype(op, "output gradient", gy)
        check_len(op, "output gradient", gy, (n, oh, ow, c))
        gx = self.rt.alloc(n * h * wd * c)
        if gx.n:
            words[12] = gx.n
            self.rt.dispatch("pool/pool", "average_pool2d_backward", [gy], [gx], tuple(words), threads=gx.n)
        return gx
