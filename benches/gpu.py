"""The GPU section of Ember's Python benchmark (``python benches/run.py --gpu``).

* f32 matmul GFLOP/s at n = 256..4096: Ember's WGSL kernel vs PyTorch CUDA with TF32 off
  (cuBLAS's true float32 path), where a CUDA device is importable;
* MLP training samples/s: Ember on "gpu" vs PyTorch CUDA, same model, batch and optimizer;
* per-dispatch overhead in microseconds: many tiny ops recorded into one submission, and
  the round trip of one op plus its readback.

Every timed run ends by synchronising the device (Ember: the runtime waits for the queue;
PyTorch: ``torch.cuda.synchronize()``), so the clock reads after the work is done. Each
figure is the median of several runs after warm-up. On a software adapter (Mesa's
lavapipe) these figures only show overheads: the "GPU" is the CPU.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import ember as em
from ember.backend import get_backend


def _median(fn, sync, repeat: int, warmup: int = 2, inner: int = 1) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def _torch_cuda():
    try:
        import torch
    except Exception:  # noqa: BLE001
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def bench_gpu_matmul(sizes, repeat: int) -> None:
    be = get_backend("gpu")
    torch = _torch_cuda()
    print(f"\n## gpu f32 matmul: GFLOP/s (median of {repeat}; device synchronised before each clock read)")
    print(f"{'n':>6} {'ember':>10} {'torch-cuda':>11} {'ember/torch':>12}")
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ga, gb = be.from_numpy(a, "float32"), be.from_numpy(b, "float32")
        flop = 2.0 * n**3
        # Enough products per timed run to dwarf the submission and the wait.
        inner = max(1, min(200, int(4e11 // flop))) if torch else max(1, int(2e9 // flop))
        # Check the product once against numpy before timing it.
        got = be.to_numpy(be.matmul(ga, (n, n), gb, (n, n), False, False)[0], (n, n), "float32")
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
        t_em = _median(lambda: be.matmul(ga, (n, n), gb, (n, n), False, False), be.synchronize, repeat, inner=inner)
        line = f"{n:>6} {flop / t_em / 1e9:10.1f}"
        if torch:
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            t_th = _median(lambda: ta @ tb, torch.cuda.synchronize, repeat, inner=inner)
            line += f" {flop / t_th / 1e9:11.1f} {t_th / t_em:12.2f}"
        else:
            line += f" {'-':>11} {'-':>12}"
        print(line + f"   (max rel. error vs float64: {err:.1e})")


def _ember_mlp(widths, batch: int):
    em.utils.set_random_seed(0)
    layers = [em.Input((widths[0],))]
    layers += [em.layers.Dense(w, activation="relu") for w in widths[1:-1]]
    layers.append(em.layers.Dense(widths[-1]))
    with em.device("gpu"):
        model = em.Sequential(layers)
        model.compile(optimizer=em.optimizers.Adam(1e-3), loss=em.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        x = em.tensor(rng.random((batch, widths[0]), dtype=np.float32), device="gpu")
        y = em.tensor(rng.integers(0, widths[-1], batch).astype(np.int32), device="gpu")
    model.train_step((x, y))

    def step():
        model.train_step((x, y))

    return step


def _torch_mlp(torch, widths, batch: int):
    torch.manual_seed(0)
    mods = []
    for i in range(len(widths) - 1):
        mods.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, widths[0], device="cuda")
    y = torch.randint(0, widths[-1], (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        lossf(model(x), y).backward()
        opt.step()

    return step


def bench_gpu_mlp(widths, batch: int, repeat: int, steps: int) -> None:
    be = get_backend("gpu")
    torch = _torch_cuda()
    name = "-".join(map(str, widths))
    print(f"\n## gpu MLP {name} training, batch {batch}, Adam: samples/s (median of {repeat} x {steps} steps, synchronised)")
    t_em = _median(_ember_mlp(widths, batch), be.synchronize, repeat, warmup=3, inner=steps)
    line = f"ember {batch / t_em:10.0f}"
    if torch:
        t_th = _median(_torch_mlp(torch, widths, batch), torch.cuda.synchronize, repeat, warmup=3, inner=steps)
        line += f"   torch-cuda {batch / t_th:10.0f}   ember/torch {t_th / t_em:5.2f}"
    else:
        line += "   (no CUDA PyTorch here: no baseline in this run)"
    print(line)


def bench_gpu_overhead(repeat: int) -> None:
    be = get_backend("gpu")
    print(f"\n## gpu per-dispatch overhead, microseconds (median of {repeat})")
    x = be.from_numpy(np.ones(4, np.float32), "float32")
    n = 2000
    # Host side only: recording a dispatch (Python, bind group, encoding), no wait.
    t_host = _median(lambda: be.unary("exp", x), lambda: None, repeat, inner=n) * 1e6
    be.synchronize()
    # Recorded into one submission, then waited for: host cost plus the device's per-dispatch cost.
    t_rec = _median(lambda: be.unary("exp", x), be.synchronize, repeat, inner=n) * 1e6
    # One op, submitted and read back: the full round trip.
    t_rt = _median(lambda: be.to_numpy(be.unary("exp", x), (4,), "float32"), lambda: None, repeat, inner=50) * 1e6
    line = (f"ember: {t_host:.1f} to record one dispatch (host); {t_rec:.1f} per dispatch recorded in a batch and "
            f"executed; {t_rt:.0f} per op + submit + readback")
    torch = _torch_cuda()
    if torch:
        tx = torch.ones(4, device="cuda")
        t_th = _median(lambda: torch.exp(tx), torch.cuda.synchronize, repeat, inner=n) * 1e6
        t_thr = _median(lambda: torch.exp(tx).cpu(), lambda: None, repeat, inner=50) * 1e6
        line += f"   torch-cuda: {t_th:.1f} per launch; {t_thr:.0f} per op + copy to host"
    print(line)


def run(quick: bool) -> None:
    be = get_backend("gpu")
    info = be.rt.adapter.info
    print(f"\n# GPU: {info.get('device', '?')} ({info.get('backend_type', '?')}, {info.get('adapter_type', '?')})")
    software = info.get("adapter_type") == "CPU" or "llvmpipe" in str(info.get("device", ""))
    if software:
        print("(software adapter: these figures show overheads, not GPU speed)")
    sizes = [256, 512] if quick else ([256, 512, 1024] if software else [256, 512, 1024, 2048, 4096])
    repeat = 3 if quick else 5
    bench_gpu_matmul(sizes, repeat)
    if software or quick:
        bench_gpu_mlp([784, 512, 256, 10], 128, repeat, 3 if quick else 10)
    else:
        bench_gpu_mlp([784, 512, 256, 10], 128, repeat, 20)
        bench_gpu_mlp([784, 2048, 2048, 10], 1024, repeat, 20)
    bench_gpu_overhead(repeat)
