"""Tensor layout: copies per op vs one strided copy of a composed view, against numpy.

The chain is ``x[::2, 100:900].T`` (then made contiguous) on a 1024 x 1024 float32
tensor, and a 3-op chain ``x[::2, 100:900].T[::-1]``:

* eager copies (what Ember does): every op materialises its result (one strided_copy per op);
* composed view (a strided-layout design, candle/PyTorch style): the ops only compose
  (shape, strides, offset) and one ``strided_copy`` materialises at the end;
* numpy: views, then ``np.ascontiguousarray``.

Run: ``python benches/layout.py`` (medians of 50 runs after warm-up).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import ember as em
from ember.backend import get_backend


def median_ms(fn, n=50):
    for _ in range(5):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def main(device: str = "cpu") -> None:
    be = get_backend(device)
    x = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    t = em.tensor(x, device=device)
    buf = t._buf
    sync = be.synchronize

    def eager2():
        t[::2, 100:900].T
        sync()

    def eager3():
        t[::2, 100:900].T[::-1]
        sync()

    # Composed views: x[::2, 100:900] is shape (512, 800), strides (2048, 1), offset 100;
    # .T swaps them; [::-1] negates the leading stride and moves the offset to the last row.
    def view2():
        be.strided_copy(buf, (800, 512), [1, 2048], 100)
        sync()

    def view3():
        be.strided_copy(buf, (800, 512), [-1, 2048], 100 + 799)
        sync()

    rows = [
        ("x[::2, 100:900].T", eager2, view2, lambda: np.ascontiguousarray(x[::2, 100:900].T)),
        ("x[::2, 100:900].T[::-1]", eager3, view3, lambda: np.ascontiguousarray(x[::2, 100:900].T[::-1])),
    ]
    print(f"device={device}, threads={em.get_num_threads() if hasattr(em, 'get_num_threads') else '?'}")
    print(f"{'chain':28s} {'eager copies':>13s} {'one view copy':>14s} {'numpy':>8s}  (ms, median)")
    for name, e, v, n in rows:
        print(f"{name:28s} {median_ms(e):13.3f} {median_ms(v):14.3f} {median_ms(n):8.3f}")
    np.testing.assert_array_equal(t[::2, 100:900].T[::-1].numpy(), x[::2, 100:900].T[::-1])


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "cpu")
