"""softmax, the fused cross-entropies and dense's composite backward on the gpu."""

from __future__ import annotations

import numpy as np

from ...errors import InvalidArgumentError, ShapeError
from .elementwise import check_dtype, check_f32, check_len
from .runtime import f


#: Rows up to which batch_norm's statistics are one invocation per channel walking its
#: column (twice for the variance); longer columns go through the chunked reductions, as
#: one invocation must stay within a few ten thousand loop iterations (runtime.LOOP_BUDGET).
BN_LOOP_ROWS = 16384
#: softmax walks its axis up to four times per invocation, cross-entropy its classes four
#: times: softmax composes chunked reductions past SOFTMAX_LOOP_LEN values, cross-entropy
#: checks (`Runtime.check_loops`).
PASSES = 4
SOFTMAX_LOOP_LEN = 8192


def _split(op: str, shape, axis: int):
    shape = tuple(shape)
    if not shape:
        raise ShapeError(f"{op}: needs a tensor of rank >= 1, got a scalar")
    a = axis + len(shape) if axis < 0 else axis
    if not 0 <= a < len(shape):
        raise InvalidArgumentError(f"{op}: axis {axis} is out of bounds for a tensor of rank {len(shape)}")
    outer = int(np.prod(shape[:a])) if a else 1
    inner = int(np.prod(shape[a + 1:])) if a + 1 < len(shape) else 1
    return outer, shape[a], inner


def _label_error(op: str, classes: int):
    def error(label: int) -> InvalidArgumentError:
        return InvalidArgumentError(f"{op}: label {label} is out of range for {classes} classes "
                                    "(found by the gpu kernel, raised at the next readback)")
    return error


class NNKernels:
    def softmax(self, x, shape, axis, log):
        op = "log_softmax" if log else "softmax"
        check_f32(op, x)
        outer, n, inner = _split(op, shape, axis)
        check_len(op, "input", x, shape)
        if n > SOFTMAX_LOOP_LEN and x.n:
            return self._softmax_long(x, outer, n, inner, log)
        out = self.rt.alloc(x.n)
        if x.n:
            self.rt.dispatch("nn/softmax", "softmax", [x], [out], (outer, n, inner, int(log)), threads=outer * inner)
        return out

    def softmax_backward(self, y, gy, shape, axis, log):
        check_f32("softmax_backward", y, gy)
        outer, n, inner = _split("softmax_backward", shape, axis)
        check_len("softmax_backward", "output", y, shape)
        check_len("softmax_backward", "gradient", gy, shape)
        if n > SOFTMAX_LOOP_LEN and y.n:
            return self._softmax_backward_long(y, gy, outer, n, inner, log)
        out = self.rt.alloc(y.n)
        if y.n:
            self.rt.dispatch("nn/softmax", "softmax_backward", [y, gy], [out], (outer, n, inner, int(log)), threads=outer * inner)
        return out

    # Long axes: the fused kernels walk the axis in one invocation (four times forward), so
    # past SOFTMAX_LOOP_LEN values these compose chunked reductions and elementwise kernels.
    def _softmax_long(self, x, outer, n, inner, log):
        full, line = (outer, n, inner), (outer, 1, inner)
        d, _ = self.binary("sub", x, full, self._reduce_axis("max", x, outer, n, inner), line)
        e = self.unary("exp", d)
        s = self._reduce_axis("sum", e, outer, n, inner)
        return (self.binary("sub", d, full, self.unary("log", s), line) if log else self.binary("div", e, full, s, line))[0]

    def _softmax_backward_long(self, y, gy, outer, n, inner, log):
        full, line = (outer, n, inner), (outer, 1, inner)
        if log:  # gx = gy - softmax * sum(gy)
            p = self.unary("exp", y)
            t, _ = self.binary("mul", p, full, self._reduce_axis("sum", gy, outer, n, inner), line)
            return self.binary("sub", gy, full, t, full)[0]
        # gx = y * (gy - sum(gy * y))
        gyy, _ = self.binary("mul", gy, full, y, full)
        c, _ = self.binary("sub", gy, full, self._reduce_axis("sum", gyy, outer, n, inner), line)
        return self.binary("mul", y, full, c, full)[0]

    def softmax_cross_entropy(self, logits, labels, rows, classes):
        check_f32("softmax_cross_entropy", logits)
        if logits.n != rows * classes:
            raise ShapeError(f"softmax_cross_entropy: logits hold {logits.n} values, expected ({rows}, {classes})")
        sparse = labels.dtype == "int32"
        if sparse:
            if labels.n != rows:
                raise ShapeError(f"softmax_cross_entropy: {labels.n} integer labels for logits of shape ({rows}, {classes})")
        elif labels.n != rows * classes:
            raise ShapeError(f"softmax_cross_entropy: labels hold {labels.n} values but logits have shape ({rows}, {classes})")
        self.rt.check_loops("softmax_cross_entropy", PASSES * classes, f"{classes} classes")
        loss, probs = self.rt.alloc(rows), self.rt.alloc(rows * classes)
        if rows and classes:
            slot = self.rt.check_slot(_label_error("softmax_cross_entropy", classes))
            self.rt.dispatch("nn/cross_entropy", "softmax_cross_entropy", [logits, labels], [loss, probs, self.rt.flags],
                             (rows, classes, int(sparse), slot), threads=rows)
        elif rows:
            return self.full(rows, 0.0, "float32"), probs
        return loss, probs

    def softmax_cross_entropy_backward(self, probs, labels, gloss, rows, classes):
        op = "softmax_cross_entropy_backward"
        check_f32(op, probs, gloss)
        if probs.n != rows * classes or gloss.n != rows:
            raise ShapeError(f"{op}: probabilities or loss gradient do not match logits of shape ({rows}, {classes})")
        if labels.dtype == "int32" and labels.n != rows:
            raise ShapeError(f"{op}: {labels.n} integer labels for logits of shape ({rows}, {classes})")
        if labels.dtype == "float32" and labels.n != rows * classes:
            raise ShapeError(f"{op}: labels hold {labels.n} values but logits have shape ({rows}, {classes})")
        out = self.rt.alloc(rows * classes)
        if labels.dtype == "float32":
            self.rt.check_loops(op, classes, f"{classes} classes")
        if out.n:
            slot = self.rt.check_slot(_label_error(op, classes))
            self.rt.dispatch("nn/cross_entropy", "softmax_cross_entropy_backward", [probs, labels, gloss], [out, self.rt.flags],
                             (rows, classes, int(labels.dtype == "int32"), slot), threads=out.n)
        return out

    def sigmoid_bce(self, z, y):
        check_f32("sigmoid_binary_cross_entropy", z, y)
        if z.n != y.n:
            raise ShapeError(f"sigmoid_binary_cross_entropy: {z.n} logits and {y.n} labels")
        out = self.rt.alloc(z.n)
        if z.n:
            self.rt.dispatch("nn/bce", "sigmoid_bce", [z, y], [out], (z.n,), threads=z.n)
        return out

    def sigmoid_bce_backward(self, z, y, g):
        op = "sigmoid_binary_cross_entropy_backward"
        check_dtype(op, "logits", z)
        check_dtype(op, "labels", y)
        check_dtype(op, "gradient", g)
        if not z.n == y.n == g.n:
            raise ShapeError(f"{op}: logits, labels and gradient disagree")
        out = self.rt.alloc(z.n)
        if z.n:
            self.rt.dispatch("nn/bce", "sigmoid_bce_backward", [z, y, g], [out], (z.n,), threads=z.n)
        return out

    # -- batch normalization (shaders/nn/batch_norm.wgsl) ------------------------------------
    def batch_norm(self, x, gamma, beta, rows, channels, epsilon):
        op = "batch_norm"
        check_f32(op, x, *[t for t in (gamma, beta) if t is not None])
        _check_bn(op, x, rows, channels, gamma=gamma, beta=beta)
        mean, var, y = self.rt.alloc(channels), self.rt.alloc(channels), self.rt.alloc(x.n)
        if x.n:
            words = (rows, channels, int(gamma is not None), int(beta is not None), f(epsilon))
            if rows <= BN_LOOP_ROWS:
                self.rt.dispatch("nn/batch_norm", "batch_norm_stats", [x], [mean, var], words, threads=channels)
            else:  # chunked reductions instead of one invocation per channel looping over every row
                mean = self._reduce_axis("mean", x, 1, rows, channels)
                d, _ = self.binary("sub", x, (rows, channels), mean, (channels,))
                var = self._reduce_axis("mean", self.unary("square", d), 1, rows, channels)
            self.rt.dispatch("nn/batch_norm", "batch_norm_apply", [x, mean, var, gamma if gamma is not None else x, beta if beta is not None else x], [y], words, threads=x.n)
        return y, mean, var

    def batch_norm_backward(self, x, gamma, mean, var, gy, rows, channels, epsilon, need_gx):
        op = "batch_norm_backward"
        check_f32(op, x, mean, var, gy, *[t for t in (gamma,) if t is not None])
        _check_bn(op, x, rows, channels, gamma=gamma, mean=mean, variance=var)
        if gy.n != x.n:
            raise ShapeError(f"{op}: the gradient holds {gy.n} values but the input {x.n}")
        ggamma, gbeta = self.rt.alloc(channels), self.rt.alloc(channels)
        words = (rows, channels, int(gamma is not None), 0, f(epsilon))
        if rows <= BN_LOOP_ROWS:
            self.rt.dispatch("nn/batch_norm", "batch_norm_backward_sums", [x, mean, var, gy], [ggamma, gbeta], words, threads=channels)
        else:  # as in batch_norm: chunked reductions for long columns
            gbeta = self._reduce_axis("sum", gy, 1, rows, channels)
            d, _ = self.binary("sub", x, (rows, channels), mean, (channels,))
            gd, _ = self.binary("mul", gy, (rows, channels), d, (rows, channels))
            inv = self.unary("rsqrt", self.binary("add", var, (channels,), self.full(1, float(epsilon), "float32"), (1,))[0])
            ggamma, _ = self.binary("mul", self._reduce_axis("sum", gd, 1, rows, channels), (channels,), inv, (channels,))
        gx = None
        if need_gx:
            gx = self.rt.alloc(x.n)
            self.rt.dispatch("nn/batch_norm", "batch_norm_backward_apply", [x, mean, var, gy, gamma if gamma is not None else x, ggamma, gbeta], [gx],
                             words, threads=x.n)
        return gx, ggamma, gbeta


def _check_bn(op: str, x, rows: int, channels: int, **params) -> None:
    if rows * channels != x.n:
        raise ShapeError(f"{op}: input holds {x.n} values but its view ({rows}, {channels}) needs {rows * channels}")
    if rows == 0:
        raise ShapeError(f"{op}: cannot normalize over 0 rows (view (0, {channels}))")
    for name, p in params.items():
        if p is not None and p.n != channels:
            raise ShapeError(f"{op}: {name} holds {p.n} values but there are {channels} channels")
