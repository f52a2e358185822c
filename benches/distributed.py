"""Data-parallel scaling on this machine: 1 rank x T threads against R ranks x T/R threads.

    python benches/distributed.py [--epochs 3] [--batch-size 128] [--model mlp|cnn]

Launches each configuration as its own job (``mpiexec -n R``), trains the MNIST MLP
(784-512-256-10, Adam) or the mnist_convnet CNN on real MNIST for a warm-up epoch plus
``--epochs`` timed epochs, and prints samples/s (median epoch), the all-reduce time per
step with the gradient bytes it carried (as bandwidth), and the ratios. A second part
times a bare ``Allreduce`` of growing buffers between the ranks (latency and bandwidth
of this machine's MPI, the inputs of the model in docs/distributed.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def _mpiexec() -> str:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else "mpiexec"


def worker(args) -> None:
    import numpy as np

    import ember as em

    strategy = em.distribute.DataParallel(overlap=not args.no_overlap)
    em.utils.set_random_seed(1)
    (x, y), _ = em.datasets.mnist.load_data()
    if args.model == "mlp":
        x = x.reshape(-1, 784).astype("float32") / 255
        layers = [em.Input((784,)), em.layers.Dense(512, activation="relu"), em.layers.Dense(256, activation="relu"),
                  em.layers.Dense(10, activation="softmax")]
    else:
        x = x.reshape(-1, 28, 28, 1).astype("float32") / 255
        layers = [em.Input((28, 28, 1)), em.layers.Conv2D(32, 3, activation="relu"), em.layers.MaxPooling2D(2),
                  em.layers.Conv2D(64, 3, activation="relu"), em.layers.MaxPooling2D(2), em.layers.Flatten(),
                  em.layers.Dropout(0.5), em.layers.Dense(10, activation="softmax")]
    y = y.astype("int32")
    if args.samples:
        x, y = x[:args.samples], y[:args.samples]

    class Clock(em.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    clock = Clock()
    with strategy.scope():
        model = em.Sequential(layers)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs + 1, verbose=0, callbacks=[clock])
    steps = strategy.steps
    grad_bytes = 4 * sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    if strategy.is_chief:
        epoch = float(np.median(clock.times[1:]))
        print(json.dumps({"ranks": strategy.size, "overlap": not args.no_overlap, "threads": em.get_num_threads(), "samples_per_s": len(x) / epoch,
                          "epoch_s": epoch, "comm_s_per_step": strategy.world.comm_seconds / steps if steps else 0.0,
                          "grad_bytes": grad_bytes}))


def allreduce_worker(args) -> None:
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    out = []
    for n in (1, 1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 22):  # float32 elements
        buf = np.ones(n, np.float32)
        reps = max(5, min(500, (1 << 24) // max(n, 1) // 4))
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        comm.Barrier()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append((time.perf_counter() - t0) / reps)
        out.append((4 * n, float(np.median(times))))
    if comm.rank == 0:
        print(json.dumps(out))


def run(ranks: int, threads: int, args, mode: str = "--worker", overlap: bool = True) -> dict | list:
    env = dict(os.environ, EMBER_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(HERE), mode, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--model", args.model, "--samples", str(args.samples)] + ([] if overlap else ["--no-overlap"])
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks)] + cmd
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", action="store_true")
    p.add_argument("--allreduce", action="store_true")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--samples", type=int, default=0, help="train on the first N images (0: all 60000)")
    p.add_argument("--no-overlap", action="store_true", help="(worker) reduce after the backward, not during it")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.allreduce:
        return allreduce_worker(args)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.model}, batch {args.batch_size} (global), {args.epochs} timed epochs after one warm-up, {cores} cores")
    base = run(1, cores, args)
    rows = [base]
    for r in (2,):
        if r <= cores:
            rows += [run(r, max(1, cores // r), args), run(r, max(1, cores // r), args, overlap=False)]
    print(f"{'ranks x threads':>16} {'overlap':>8} {'samples/s':>10} {'ratio':>6} {'allreduce/step':>15} {'grad MB':>8} {'GB/s':>6}")
    for r in rows:
        bw = r["grad_bytes"] / r["comm_s_per_step"] / 1e9 if r["comm_s_per_step"] else float("nan")
        ov = "-" if r["ranks"] == 1 else ("on" if r["overlap"] else "off")
        print(f"{r['ranks']:>9} x {r['threads']:<5} {ov:>8} {r['samples_per_s']:>10.0f} {r['samples_per_s'] / base['samples_per_s']:>6.2f} "
              f"{r['comm_s_per_step'] * 1e6:>12.0f} us {r['grad_bytes'] / 1e6:>8.2f} {bw:>6.2f}")
    print("bare MPI Allreduce between 2 ranks (median):")
    for nbytes, t in run(2, 1, args, "--allreduce"):
        print(f"  {nbytes:>10} B  {t * 1e6:>9.1f} us  {nbytes / t / 1e9 if t else 0:>6.2f} GB/s")


if __name__ == "__main__":
    main()
