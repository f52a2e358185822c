"""Ember's Python benchmark: side-by-side figures measured in one run.

    python benches/run.py [--threads 1,2] [--quick] [--gpu] [--no-cpu] [--optim]

* f32 GEMM GFLOP/s at n = 256..2048: Ember vs numpy (OpenBLAS) vs PyTorch (if importable)
* MLP 784-512-256-10 training throughput (batch 128, Adam), samples/s: Ember vs PyTorch
  (else Keras, if importable; else says so), same thread count
* per-op overhead of a tiny op (4 elements) in microseconds
* with ``--optim`` (alone): optimizer step throughput, parameters/s, for a 10M-parameter
  model, every optimizer, vs PyTorch's fused/foreach implementations (where importable)

Every figure is the median of several timed runs after warm-up; CPU work is synchronous,
so the clock reads after the result exists. Ratios are Ember / baseline (> 1 = Ember
faster). On machines that set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (which slow a current
numpy), the script re-executes itself without them so numpy runs its best kernel.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402

import ember as em  # noqa: E402
from ember import _core  # noqa: E402

try:
    import torch  # noqa: E402
except Exception:  # noqa: BLE001 - any import failure means "not available"
    torch = None

try:
    from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
except ImportError:
    threadpool_limits = None
    threadpool_info = None


def median_time(fn, repeat: int, warmup: int = 2, inner: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def set_threads(n: int):
    """Ember, PyTorch and numpy's BLAS all on ``n`` threads; returns a context manager
    for numpy's limit."""
    import contextlib

    em.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    return threadpool_limits(limits=n) if threadpool_limits else contextlib.nullcontext()


def bench_gemm(threads: int, sizes, repeat: int) -> None:
    print(f"\n## f32 GEMM, {threads} thread(s): GFLOP/s (median of {repeat})")
    print(f"{'n':>6} {'ember':>9} {'numpy':>9} {'torch':>9} {'ember/numpy':>12} {'ember/torch':>12}")
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ea, eb = em.tensor(a), em.tensor(b)
        flop = 2.0 * n**3
        inner = max(1, int(2e9 // flop))
        t_em = median_time(lambda: _core.matmul(ea._buf, (n, n), eb._buf, (n, n), False, False), repeat, inner=inner)
        time.sleep(0.05)
        t_np = median_time(lambda: a @ b, repeat, inner=inner)
        t_th = None
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            time.sleep(0.05)
            t_th = median_time(lambda: ta @ tb, repeat, inner=inner)
        g = lambda t: flop / t / 1e9  # noqa: E731
        th = f"{g(t_th):9.1f}" if t_th else f"{'-':>9}"
        rth = f"{t_th / t_em:12.2f}" if t_th else f"{'-':>12}"
        print(f"{n:>6} {g(t_em):9.1f} {g(t_np):9.1f} {th} {t_np / t_em:12.2f} {rth}")


def ember_mlp_step(batch: int):
    em.utils.set_random_seed(0)
    model = em.Sequential([
        em.Input((784,)),
        em.layers.Dense(512, activation="relu"),
        em.layers.Dense(256, activation="relu"),
        em.layers.Dense(10),
    ])
    model.compile(optimizer=em.optimizers.Adam(1e-3), loss=em.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = em.tensor(rng.random((batch, 784), dtype=np.float32))
    y = em.tensor(rng.integers(0, 10, batch).astype(np.int32))

    def step():
        logs = model.train_step((x, y))
        float(logs["loss"])  # the value exists on the host: the step is complete

    return step


def torch_mlp_step(batch: int):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 784)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return step


def bench_mlp(threads: int, repeat: int, steps: int) -> None:
    batch = 128
    print(f"\n## MLP 784-512-256-10 training, batch {batch}, Adam, {threads} thread(s): samples/s (median of {repeat} x {steps} steps)")
    t_em = median_time(ember_mlp_step(batch), repeat, warmup=5, inner=steps)
    line = f"ember {batch / t_em:10.0f}"
    if torch is not None:
        time.sleep(0.05)
        t_th = median_time(torch_mlp_step(batch), repeat, warmup=5, inner=steps)
        line += f"   torch {batch / t_th:10.0f}   ember/torch {t_th / t_em:5.2f}"
    else:
        line += "   (PyTorch not importable here: no baseline in this run)"
    print(line)


def bench_overhead(repeat: int) -> None:
    print(f"\n## per-op overhead of a tiny op (4 elements), microseconds (median of {repeat})")
    a = em.tensor(np.ones(4, np.float32))
    b = em.tensor(np.ones(4, np.float32))
    n = 20000
    t_op = median_time(lambda: a + b, repeat, inner=n) * 1e6
    t_core = median_time(lambda: _core.binary_op("add", a._buf, (4,), b._buf, (4,)), repeat, inner=n) * 1e6
    na, nb = np.ones(4, np.float32), np.ones(4, np.float32)
    t_np = median_time(lambda: na + nb, repeat, inner=n) * 1e6
    w = em.Variable(np.ones(4, np.float32))
    with em.GradientTape():
        t_rec = median_time(lambda: w + b, repeat, inner=n) * 1e6
    line = f"ember a+b {t_op:.2f}   (recording for autograd {t_rec:.2f}; the Rust call alone {t_core:.2f})   numpy {t_np:.2f}"
    if torch is not None:
        ta, tb = torch.ones(4), torch.ones(4)
        line += f"   torch {median_time(lambda: ta + tb, repeat, inner=n) * 1e6:.2f}"
    print(line)


# -- optimizer step throughput (--optim) ------------------------------------------------------

OPTIM_CASES = [
    # (name, ember constructor kwargs, torch class name, torch kwargs)
    ("SGD momentum", lambda: em.optimizers.SGD(0.01, momentum=0.9), "SGD", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", lambda: em.optimizers.RMSprop(), "RMSprop", {"lr": 1e-3, "alpha": 0.9}),
    ("Adagrad", lambda: em.optimizers.Adagrad(), "Adagrad", {"lr": 1e-3, "initial_accumulator_value": 0.1}),
    ("Adadelta", lambda: em.optimizers.Adadelta(), "Adadelta", {"lr": 1e-3, "rho": 0.95}),
    ("Adam", lambda: em.optimizers.Adam(), "Adam", {"lr": 1e-3}),
    ("AdamW", lambda: em.optimizers.AdamW(), "AdamW", {"lr": 1e-3, "weight_decay": 0.004}),
    ("Adamax", lambda: em.optimizers.Adamax(), "Adamax", {"lr": 1e-3}),
    ("Nadam", lambda: em.optimizers.Nadam(), "NAdam", {"lr": 1e-3}),
]


def _torch_optimizer(cls_name, params, kwargs, sync):
    """PyTorch's fastest implementation of ``cls_name`` here among fused (one kernel over
    all tensors), foreach (multi-tensor ops) and the per-tensor loop: each that constructs
    and steps is timed over two steps after a warm-up step, and the fastest is returned."""
    cls = getattr(torch.optim, cls_name)
    best = None
    for impl, extra in (("fused", {"fused": True}), ("foreach", {"foreach": True}), ("for-loop", {"foreach": False})):
        try:
            opt = cls(params, **kwargs, **extra)
            opt.step()
        except (RuntimeError, TypeError, ValueError):
            continue
        sync()
        t0 = time.perf_counter()
        opt.step()
        opt.step()
        sync()
        t = time.perf_counter() - t0
        if best is None or t < best[0]:
            best = (t, opt, impl)
    if best is None:
        raise RuntimeError(f"torch.optim.{cls_name} would not step")
    return best[1], best[2]


def bench_optim(device: str, threads: int, repeat: int, n_params: int = 10_000_000, n_tensors: int = 10) -> None:
    """Optimizer step throughput in parameters per second: one ``apply`` over ``n_tensors``
    variables totalling ``n_params`` float32 parameters, gradients fixed, state warm. On the
    gpu every timed run ends by synchronising the device. PyTorch runs fused/foreach on the
    CPU, and on CUDA when the "gpu" is compared and a CUDA device is importable; the
    fastest of its implementations is shown. Hyperparameters are each library's defaults
    (the work per element does not depend on them)."""
    sizes = [n_params // n_tensors] * n_tensors
    print(f"\n## optimizer step on {device}, {n_params / 1e6:g}M parameters in {n_tensors} tensors, "
          f"{threads} thread(s): Mparams/s (median of {repeat})")
    rng = np.random.default_rng(0)
    host = [rng.standard_normal(k, dtype=np.float32) for k in sizes]
    grads_np = [rng.standard_normal(k, dtype=np.float32) * 1e-3 for k in sizes]
    sync = (lambda: None)
    if device == "gpu":
        from ember.backend import get_backend

        sync = get_backend("gpu").synchronize
    torch_dev = None
    if torch is not None:
        if device == "cpu":
            torch_dev = "cpu"
        elif torch.cuda.is_available():
            torch_dev = "cuda"
    print(f"{'optimizer':<14} {'ember':>9} {'torch':>9} {'torch impl':>11} {'ember/torch':>12}")
    for name, make, torch_cls, torch_kwargs in OPTIM_CASES:
        variables = [em.Variable(h, device=device) for h in host]
        grads = [em.tensor(g, device=device) for g in grads_np]
        opt = make()

        def step():
            opt.apply(grads, variables)

        for _ in range(2):
            step()
        sync()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
        t_em = statistics.median(times)
        del variables, grads, opt
        line = f"{name:<14} {n_params / t_em / 1e6:9.1f}"
        if torch_dev is not None:
            params = [torch.tensor(h, device=torch_dev, requires_grad=True) for h in host]
            for p, g in zip(params, grads_np):
                p.grad = torch.tensor(g, device=torch_dev)
            tsync = torch.cuda.synchronize if torch_dev == "cuda" else (lambda: None)
            topt, impl = _torch_optimizer(torch_cls, params, torch_kwargs, tsync)
            topt.step()
            tsync()
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                topt.step()
                tsync()
                times.append(time.perf_counter() - t0)
            t_th = statistics.median(times)
            line += f" {n_params / t_th / 1e6:9.1f} {impl:>11} {t_th / t_em:12.2f}"
            del params, topt
        else:
            line += f" {'-':>9} {'-':>11} {'-':>12}"
        print(line)
    if torch_dev is None:
        why = "PyTorch not importable" if torch is None else "no CUDA device for PyTorch"
        print(f"({why}: no baseline for {device} in this run)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="1,2")
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats (smoke run)")
    p.add_argument("--gpu", action="store_true", help="also run the GPU section (benches/gpu.py)")
    p.add_argument("--no-cpu", action="store_true", help="skip the CPU sections")
    p.add_argument("--optim", action="store_true",
                   help="only the optimizer-step section: 10M parameters, every optimizer, cpu (and gpu with --gpu)")
    args = p.parse_args()
    sizes = [256, 1024] if args.quick else [256, 512, 1024, 2048]
    repeat = 3 if args.quick else 7
    print(f"ember {em.__version__}, numpy {np.__version__}, torch {torch.__version__ if torch else 'not importable'}; "
          f"{os.cpu_count()} logical CPUs")
    if threadpool_info:
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info() if i.get("user_api") == "blas"]
        print("numpy BLAS:", ", ".join(blas) or "unknown")
    if args.optim:
        counts = [int(s) for s in args.threads.split(",")]
        for t in counts if not args.no_cpu else []:
            with set_threads(t):
                bench_optim("cpu", t, repeat)
        if args.gpu:
            with set_threads(max(counts)):
                bench_optim("gpu", max(counts), repeat)
        return
    if not args.no_cpu:
        for t in [int(s) for s in args.threads.split(",")]:
            with set_threads(t):
                bench_gemm(t, sizes, repeat)
                bench_mlp(t, repeat, 10 if args.quick else 30)
        with set_threads(1):
            bench_overhead(repeat)
    if args.gpu:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import gpu

        gpu.run(args.quick)


if __name__ == "__main__":
    main()
