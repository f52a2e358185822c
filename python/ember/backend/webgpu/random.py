"""Philox draws on the gpu: the same (seed, counter) addressing as the CPU kernel."""

from __future__ import annotations

from ...errors import InvalidArgumentError
from .runtime import f

KINDS = {"uniform": 0, "normal": 1, "truncated_normal": 2, "bernoulli": 3, "bits": 4}


class RandomKernels:
    def random(self, kind, n, seed, offset, a, b):
        if kind not in KINDS or kind == "bits":
            raise InvalidArgumentError(f"random: unknown distribution {kind!r}; valid: uniform, normal, truncated_normal, bernoulli")
        import math

        if kind == "uniform" and not (math.isfinite(a) and math.isfinite(b) and a <= b):
            raise InvalidArgumentError(f"random_uniform: needs finite low <= high, got [{a}, {b})")
        if kind in ("normal", "truncated_normal") and not (math.isfinite(a) and math.isfinite(b) and b >= 0):
            raise InvalidArgumentError(f"random_{kind}: needs finite mean and stddev >= 0, got {a}, {b}")
        if kind == "bernoulli" and not 0.0 <= a <= 1.0:
            raise InvalidArgumentError(f"dropout_mask: keep probability must be in [0, 1], got {a}")
        out = self.rt.alloc(n, "float32")
        if n:
            seed &= (1 << 64) - 1
            offset &= (1 << 64) - 1
            params = (n, KINDS[kind], seed & 0xFFFFFFFF, seed >> 32, offset & 0xFFFFFFFF, offset >> 32, f(a), f(b))
            self.rt.dispatch("random/philox", "random", [], [out], params, threads=-(-n // 4))
        return out

    def philox_bits(self, n, seed, offset):
        """Raw 32-bit Philox outputs (for checking the CPU twin bit for bit)."""
        buf = self.rt.alloc(n, "int32")
        if n:
            params = (n, KINDS["bits"], seed & 0xFFFFFFFF, seed >> 32, offset & 0xFFFFFFFF, offset >> 32, f(0.0), f(0.0))
            self.rt.dispatch("random/philox", "random", [], [buf], params, threads=-(-n // 4))
        return [int(v) & 0xFFFFFFFF for v in self.rt.download(buf).tolist()]
