"""Convolution kernels and a small convnet's training throughput, side by side with PyTorch (CPU).

    python benches/conv.py [--threads 1,2] [--repeat 7] [--steps 20] [--skip-composite] [--profile]

Run it where PyTorch is installed, with Ember's ``python/`` on ``PYTHONPATH`` (PyTorch is
a benchmark-only baseline, never a dependency).

(a) Conv2D forward and backward at the shapes of Keras's mnist_convnet example (batch 128:
    28x28x1 -> 32 and 13x13x32 -> 64, 3x3, valid, relu) and of a VGG block (batch 32,
    56x56, 64 -> 64, 3x3 same, relu), in GFLOP/s (2 multiply-adds per output and tap; the
    backward counts gw, and gx where the layer needs it: not for the network's input
    layer), median of ``--repeat`` runs after a warm-up, for Ember's fused CPU kernels, the
    composite they replace (im2col as one strided copy + the fused dense, col2im by
    scatter_add: ``Backend.conv2d``) and PyTorch (NCHW, its fastest CPU layout;
    ``aten.convolution_backward`` + relu's backward). Each (framework, shape) runs in its
    own process so that the peak RSS column is that kernel's.
(b) mnist_convnet training samples/s at batch 128 with Adam (Conv2D(32, 3, relu),
    MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2), Flatten, Dropout(0.5),
    Dense(10, softmax), sparse categorical crossentropy, accuracy): Ember through
    ``model.fit`` over an epoch of ``--steps`` batches, PyTorch through the equivalent loop
    (shuffled gather, forward, loss, backward, Adam step, ``loss.item()``, the accuracy
    count). ``--profile`` adds where Ember's step time goes, per backend kernel.

Timings on a shared machine are noisy: every figure is a median, and ratios compare runs
made in the same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHAPES = {
    # name: (x NHWC, kernel (kh, kw, cin, cout), pads, need_gx)
    "mnist conv1": ((128, 28, 28, 1), (3, 3, 1, 32), ((0, 0), (0, 0)), False),
    "mnist conv2": ((128, 13, 13, 32), (3, 3, 32, 64), ((0, 0), (0, 0)), True),
    "vgg 56x56x64": ((32, 56, 56, 64), (3, 3, 64, 64), ((1, 1), (1, 1)), True),
}


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up: pools, caches, thread start
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _flops(name: str) -> tuple[float, float]:
    xs, ws, pads, need_gx = SHAPES[name]
    oh = xs[1] + sum(pads[0]) - ws[0] + 1
    ow = xs[2] + sum(pads[1]) - ws[1] + 1
    macs = xs[0] * oh * ow * ws[0] * ws[1] * ws[2] * ws[3]
    return 2.0 * macs, 2.0 * macs * (2 if need_gx else 1)


def kernel_child(framework: str, name: str, threads: list[int], repeat: int) -> dict:
    """Times one shape in this process: {threads: (forward s, backward s)} and the peak RSS."""
    xs, ws, pads, need_gx = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
    b = rng.standard_normal(ws[3]).astype(np.float32)
    out = {}
    if framework in ("ember", "composite"):
        import ember as em
        from ember.backend import get_backend
        from ember.backend.base import Backend

        be = get_backend("cpu")
        xb, wb, bb = (be.from_numpy(a, "float32") for a in (x, w, b))
        if framework == "ember":
            fwd, bwd = be.conv2d, be.conv2d_backward
        else:
            def fwd(*a):
                return Backend.conv2d(be, *a)

            def bwd(*a):
                return Backend.conv2d_backward(be, *a)
        args = ((1, 1), pads, (1, 1), 1, "relu")
        y, shape = fwd(xb, xs, wb, ws, bb, *args)
        gy = be.from_numpy(rng.standard_normal(tuple(shape)).astype(np.float32), "float32")
        for t in threads:
            em.set_num_threads(t)
            tf = _median_time(lambda: fwd(xb, xs, wb, ws, bb, *args), repeat)
            tb = _median_time(lambda: bwd(xb, xs, wb, ws, y, gy, *args, need_gx), repeat)
            out[t] = (tf, tb)
    else:
        import torch

        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
        bt = torch.from_numpy(b)
        pad = (pads[0][0], pads[1][0])
        with torch.no_grad():
            y = torch.relu(torch.nn.functional.conv2d(xt, wt, bt, 1, pad))
        gy = torch.randn(y.shape)
        conv_bwd = torch.ops.aten.convolution_backward

        def fwd():
            with torch.no_grad():
                return torch.relu(torch.nn.functional.conv2d(xt, wt, bt, 1, pad))

        def bwd():
            gz = torch.ops.aten.threshold_backward(gy, y, 0.0)
            return conv_bwd(gz, xt, wt, [ws[3]], [1, 1], list(pad), [1, 1], False, [0, 0], 1, [need_gx, True, True])

        for t in threads:
            torch.set_num_threads(t)
            out[t] = (_median_time(fwd, repeat), _median_time(bwd, repeat))
    return {"times": out, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def fma_peak(threads: list[int]) -> dict[int, float] | None:
    """The cores' measured fp32 FMA peak in GFLOP/s per thread count (benches/fma_peak.c,
    compiled here with gcc -march=native), or None without gcc."""
    import shutil
    import tempfile

    if shutil.which("gcc") is None:
        return None
    exe = Path(tempfile.mkdtemp()) / "fma_peak"
    src = Path(__file__).with_name("fma_peak.c")
    r = subprocess.run(["gcc", "-O2", "-march=native", "-fopenmp", str(src), "-o", str(exe)], capture_output=True)
    if r.returncode != 0:
        return None
    return {t: float(subprocess.run([str(exe), str(t), "0.5"], capture_output=True, text=True, check=True).stdout)
            for t in threads}


def kernels_table(threads: list[int], repeat: int, composite: bool) -> None:
    frameworks = ["ember"] + (["composite"] if composite else []) + ["torch"]
    peak = fma_peak(threads)
    if peak:
        print("# measured fp32 FMA peak (benches/fma_peak.c): " +
              ", ".join(f"{t} thread{'s' * (t > 1)} {g:.0f} GFLOP/s" for t, g in peak.items()))
    print(f"# (a) Conv2D + bias + relu, GFLOP/s (median of {repeat}), share of the FMA peak, "
          "peak RSS of the process running the shape")
    print(f"{'shape':<14} {'thr':>3} {'framework':<10} {'fwd GF/s':>9} {'bwd GF/s':>9} {'fwd %pk':>8} {'bwd %pk':>8} "
          f"{'fwd vs torch':>12} {'bwd vs torch':>12} {'peak RSS MiB':>13}")
    for name in SHAPES:
        ff, fb = _flops(name)
        res = {fw: _child(["--child", fw, name, ",".join(map(str, threads)), str(repeat)]) for fw in frameworks}
        for t in threads:
            tt = res["torch"]["times"][str(t)]
            for fw in frameworks:
                tf, tb = res[fw]["times"][str(t)]
                pf, pb = ((f"{100 * ff / tf / 1e9 / peak[t]:7.0f}%", f"{100 * fb / tb / 1e9 / peak[t]:7.0f}%")
                          if peak else ("      -", "      -"))
                print(f"{name:<14} {t:>3} {fw:<10} {ff / tf / 1e9:9.1f} {fb / tb / 1e9:9.1f} {pf} {pb} "
                      f"{tt[0] / tf:12.2f} {tt[1] / tb:12.2f} {res[fw]['rss_mib']:13.0f}")


# -- (b) mnist_convnet training -------------------------------------------------------------------

def _mnist_data(n: int):
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)


def ember_convnet():
    import ember as em

    em.utils.set_random_seed(0)
    model = em.Sequential([
        em.Input((28, 28, 1)),
        em.layers.Conv2D(32, 3, activation="relu"),
        em.layers.MaxPooling2D(2),
        em.layers.Conv2D(64, 3, activation="relu"),
        em.layers.MaxPooling2D(2),
        em.layers.Flatten(),
        em.layers.Dropout(0.5),
        em.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=em.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def ember_samples_per_s(batch: int, steps: int, repeat: int) -> float:
    model = ember_convnet()
    x, y = _mnist_data(batch * steps)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t0)
    return batch * steps / statistics.median(times)


def torch_samples_per_s(batch: int, steps: int, repeat: int) -> float:
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    xn, yn = _mnist_data(batch * steps)
    x, y = torch.from_numpy(np.ascontiguousarray(xn.transpose(0, 3, 1, 2))), torch.from_numpy(yn).long()

    def epoch():
        model.train()
        order = torch.randperm(x.shape[0])
        total, correct = 0.0, 0
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = lossf(out, yb)
            loss.backward()
            opt.step()
            total += loss.item()
            correct += int((out.argmax(1) == yb).sum())

    epoch()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    return batch * steps / statistics.median(times)


def ember_profile(batch: int, steps: int) -> None:
    """Wall time per backend method over one epoch (kernels run on the calling thread's
    pool, so a method's wall time is its kernel's)."""
    from ember.backend import get_backend

    be = get_backend("cpu")
    cls = type(be)
    spent: dict[str, float] = {}
    originals = {}
    for name in dir(cls):
        if name.startswith("_") or not callable(getattr(cls, name, None)) or name in ("name",):
            continue
        orig = cls.__dict__.get(name)
        if orig is None:
            continue
        originals[name] = orig
        fn = getattr(be, name)

        def timed(*a, _fn=fn, _n=name, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                spent[_n] = spent.get(_n, 0.0) + time.perf_counter() - t0

        setattr(be, name, timed)  # instance attribute: the class stays untouched
    try:
        model = ember_convnet()
        x, y = _mnist_data(batch * steps)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        spent.clear()
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        total = time.perf_counter() - t0
    finally:
        for name in originals:
            be.__dict__.pop(name, None)
    print(f"# where an Ember mnist_convnet step goes ({1e3 * total / steps:.2f} ms/step)")
    rest = total - sum(spent.values())
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<28} {1e3 * s / steps:7.2f} ms/step {100 * s / total:5.1f} %")
    print(f"  {'(Python, autograd, fit)':<28} {1e3 * rest / steps:7.2f} ms/step {100 * rest / total:5.1f} %")


def training_table(threads: list[int], batch: int, steps: int, repeat: int, profile: bool) -> None:
    import ember as em
    import torch

    print(f"# (b) mnist_convnet training, batch {batch}, Adam: samples/s (median of {repeat} epochs x {steps} steps)")
    print(f"{'thr':>3} {'ember':>9} {'torch':>9} {'ember/torch':>12}")
    for t in threads:
        em.set_num_threads(t)
        torch.set_num_threads(t)
        e = ember_samples_per_s(batch, steps, repeat)
        p = torch_samples_per_s(batch, steps, repeat)
        print(f"{t:>3} {e:9.0f} {p:9.0f} {e / p:12.2f}")
        if profile:
            ember_profile(batch, steps)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        fw, name, threads, repeat = sys.argv[2:6]
        print(json.dumps(kernel_child(fw, name, [int(t) for t in threads.split(",")], int(repeat))))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--skip-composite", action="store_true")
    p.add_argument("--skip-kernels", action="store_true")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    if not a.skip_kernels:
        kernels_table(threads, a.repeat, not a.skip_composite)
    if not a.skip_training:
        training_table(threads, a.batch, a.steps, a.repeat, a.profile)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
