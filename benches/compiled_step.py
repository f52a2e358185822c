"""The compiled training step against eager Ember, PyTorch (eager and torch.compile) and
Keras 3 on JAX, side by side in one run.

    python benches/compiled_step.py [--threads 1,2] [--batches 32,128] [--samples 60000] [--repeat 3]
                                    [--torch-python /tmp/benchvenv/bin/python] [--no-torch] [--no-keras]

Keras's MNIST MLP (784-512-256-10, ReLU, softmax, Adam 1e-3, sparse categorical
crossentropy, accuracy metric) on real MNIST (``ember.datasets.mnist``, scaled to [0, 1]),
one epoch of ``--samples`` samples (cut to whole batches), shuffled. Each framework runs in
its own process pinned to ``threads`` cores (``sched_setaffinity``) with its thread pools
set to the same count: Ember ``fit`` with ``jit_compile=False`` and ``True``; PyTorch's
loop (index gather, forward, loss, backward, Adam, the running loss and accuracy as fit
keeps them) eagerly and with ``torch.compile`` of the model and of the optimizer step;
Keras 3 ``fit`` on JAX (``jit_compile=True``). Each figure is the median of ``--repeat``
epochs after a warm-up epoch (which also triggers every trace and compilation).

For the compiled Ember step it also reports, per step:

* ``replay``: one call of the plan with real kernels on fixed buffers (wall time);
* ``py``: the plan's own Python cost (its kernels swapped for stubs returning the
  recorded outputs), in CPU time of the thread;
* ``host``: the host overhead of a whole ``fit`` step: epochs with the stubbed plan
  (the plan's Python, the batch gather, the running means, the loop), CPU time per step,
  as fit(epochs=2) less fit(epochs=1); ``setup``: what is left, the per-fit setup
  (the data checked for NaNs and copied into tensors), ms per fit;
* ``calls e`` / ``calls c``: Python and C function calls per ``fit`` step, eager and
  compiled (``sys.setprofile`` over a 20-step epoch; includes the per-epoch setup).

The machine this runs on is shared: the figures are medians and still noisy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _pin(threads: int) -> None:
    try:
        os.sched_setaffinity(0, set(range(min(threads, os.cpu_count() or 1))))
    except (AttributeError, OSError):
        pass


def _load(path: str, samples: int, batch: int):
    import numpy as np

    d = np.load(path)
    n = min(samples, len(d["x"])) // batch * batch
    return d["x"][:n], d["y"][:n]


def _timed_epochs(run_epoch, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run_epoch()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- workers (one process each) ----------------------------------------------------------------
def worker_ember(a) -> dict:
    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "python"))
    import ember as em

    em.set_num_threads(a.threads)
    x, y = _load(a.data, a.samples, a.batch)
    out: dict = {}
    for mode, jit in (("ember eager", False), ("ember compiled", True)):
        em.utils.set_random_seed(0)
        model = em.Sequential([em.Input((784,)), em.layers.Dense(512, activation="relu"),
                               em.layers.Dense(256, activation="relu"), em.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=em.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=jit)
        model.fit(x[:a.batch * 20], y[:a.batch * 20], batch_size=a.batch, epochs=1, verbose=0)  # warm-up, traces
        t = _timed_epochs(lambda: model.fit(x, y, batch_size=a.batch, epochs=1, verbose=0), a.repeat)
        steps = len(x) // a.batch
        out[mode] = len(x) / t
        out[f"{mode} calls"] = _python_calls(model, x[:a.batch * 20], y[:a.batch * 20], a.batch) / 20
        if jit:
            plan = model._compiled_train_step.compiler.plans()[0]
            xb, yb = em.tensor(x[:a.batch]), em.tensor(y[:a.batch])
            out["replay_us"], out["py_us"] = _replay_costs(plan, xb._buf, yb._buf)
            out["calls"] = plan.n_calls
            # The host overhead of a whole fit step: one epoch with the plan's kernels
            # stubbed, in CPU time of this thread (less sensitive to a busy machine).
            with _stubbed(plan, xb._buf, yb._buf):
                # fit(epochs=2) less fit(epochs=1): the loop's cost per step, without the
                # per-fit setup (the data's finiteness check and copy into a tensor),
                # which is reported apart, per fit.
                t0 = time.thread_time()
                model.fit(x, y, batch_size=a.batch, epochs=1, verbose=0)
                t1 = time.thread_time()
                model.fit(x, y, batch_size=a.batch, epochs=2, verbose=0)
                t2 = time.thread_time()
                out["host_us"] = 1e6 * ((t2 - t1) - (t1 - t0)) / steps
                out["setup_ms"] = 1e3 * (2 * (t1 - t0) - (t2 - t1))
    return out


def _python_calls(model, x, y, batch: int) -> int:
    """Python and C function calls of one epoch (``sys.setprofile``): deterministic, unlike
    the timings on a busy machine."""
    count = [0]

    def prof(frame, event, arg):
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(prof)
    try:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    finally:
        sys.setprofile(None)
    return count[0]


class _stubbed:
    """Within: the plan's kernel calls return the outputs they gave once (no kernel runs)."""

    def __init__(self, plan, *bufs):
        self.plan, self.bufs = plan, bufs

    def __enter__(self):
        g = self.plan.replay.__globals__
        self.fns = {k: v for k, v in g.items() if re.fullmatch(r"f\d+|R", k)}
        outs: dict = {k: [] for k in self.fns}
        try:
            for k, f in self.fns.items():
                if k == "R":
                    g[k] = _RecordingPlan(f, outs[k])
                else:
                    g[k] = (lambda f, rec: lambda *args, **kw: (rec.append(f(*args, **kw)), rec[-1])[1])(f, outs[k])
            self.plan.replay(*self.bufs)
        finally:
            g.update(self.fns)
        for k in self.fns:
            if k == "R":  # the Rust plan: one call, its kernels run
                g[k] = _StubPlan(outs[k])
            else:
                g[k] = (lambda nxt: lambda *args, **kw: nxt())(itertools.cycle(outs[k]).__next__)
        return self

    def __exit__(self, *exc):
        self.plan.replay.__globals__.update(self.fns)
        return False


class _RecordingPlan:
    """A Rust plan whose ``run`` also keeps what it returned."""

    def __init__(self, plan, rec: list):
        self.plan, self.rec = plan, rec

    def run(self, *args):
        self.rec.append(self.plan.run(*args))
        return self.rec[-1]


class _StubPlan:
    """A Rust plan whose ``run`` returns the outputs one real run gave."""

    def __init__(self, outs):
        self.nxt = itertools.cycle(outs).__next__

    def run(self, *args):
        return self.nxt()


def _replay_costs(plan, *bufs) -> tuple[float, float]:
    """(µs per replay with the real kernels, wall time; µs of CPU time per replay with stub kernels)."""

    def per_call(n: int, clock) -> float:
        ts = []
        for _ in range(5):
            t0 = clock()
            for _ in range(n):
                plan.replay(*bufs)
            ts.append((clock() - t0) / n)
        return 1e6 * statistics.median(ts)

    real = per_call(30, time.perf_counter)
    with _stubbed(plan, *bufs):
        py = per_call(2000, time.thread_time)
    return real, py


def worker_torch(a) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    xn, yn = _load(a.data, a.samples, a.batch)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn.astype(np.int64))
    out: dict = {}
    for mode in ("torch eager", "torch.compile"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()
        fwd, step = model, opt.step
        if mode == "torch.compile":
            try:
                fwd = torch.compile(model)
                step = torch.compile(opt.step)
            except Exception as e:  # noqa: BLE001 - report, do not fail the table
                out[mode] = f"failed: {type(e).__name__}"
                continue

        def epoch(n=len(x)):
            order = torch.randperm(n)
            total, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)
            for s in range(n // a.batch):
                idx = order[s * a.batch:(s + 1) * a.batch]
                xb, yb = x[idx], y[idx]
                opt.zero_grad(set_to_none=True)
                logits = fwd(xb)
                loss = lossf(logits, yb)
                loss.backward()
                step()
                with torch.no_grad():  # the running loss and accuracy, on the device as fit keeps them
                    total += loss.detach()
                    correct += (logits.argmax(1) == yb).sum()
            return float(total), int(correct)

        try:
            epoch(a.batch * 20)
            out[mode] = len(x) / _timed_epochs(epoch, a.repeat)
        except Exception as e:  # noqa: BLE001 - torch.compile may lack a toolchain here
            out[mode] = f"failed: {type(e).__name__}: {str(e)[:60]}"
    return out


def worker_keras(a) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    import keras

    x, y = _load(a.data, a.samples, a.batch)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=True)
    model.fit(x[:a.batch * 20], y[:a.batch * 20], batch_size=a.batch, epochs=1, verbose=0)
    t = _timed_epochs(lambda: model.fit(x, y, batch_size=a.batch, epochs=1, verbose=0), a.repeat)
    return {"keras jax": len(x) / t}


def _thread_env(threads: int) -> dict:
    env = dict(os.environ)
    env.update({"EMBER_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                "OPENBLAS_NUM_THREADS": str(threads),
                "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                             f"intra_op_parallelism_threads={threads}"})
    # OpenMP threads sleep when idle instead of spinning: on a busy machine spinning
    # PyTorch threads slow every step by 10x (measured); Ember's rayon pool already yields.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return env


def _spawn(python: str, which: str, a, threads: int, batch: int) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", which, "--threads", str(threads), "--batch", str(batch),
           "--samples", str(a.samples), "--repeat", str(a.repeat), "--data", a.data]
    env = _thread_env(threads)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        return {which: "timed out"}
    for line in reversed(res.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {which: f"failed: {(res.stderr.strip().splitlines() or ['?'])[-1][:80]}"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batches", default="32,128")
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--torch-python", default="/tmp/benchvenv/bin/python")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-keras", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        a.threads = int(a.threads)
        _pin(a.threads)
        print(json.dumps({"ember": worker_ember, "torch": worker_torch, "keras": worker_keras}[a.worker](a)))
        return

    sys.path.insert(0, os.path.join(ROOT, "python"))
    import numpy as np

    import ember as em

    (x, y), _ = em.datasets.mnist.load_data()
    with tempfile.TemporaryDirectory() as tmp:
        a.data = os.path.join(tmp, "mnist.npz")
        np.savez(a.data, x=(x.reshape(len(x), 784) / 255.0).astype(np.float32), y=y.astype(np.int32))
        cols = ["ember eager", "ember compiled", "torch eager", "torch.compile", "keras jax"]
        print(f"# MNIST MLP 784-512-256-10, Adam, fit 1 epoch of {a.samples} samples; samples/s, median of {a.repeat} "
              f"epochs (shared machine: indicative)")
        print(f"{'thr':>3} {'batch':>5} " + " ".join(f"{c:>14}" for c in cols)
              + f" {'comp/best':>9} {'host us':>8} {'setup ms':>8} {'py us':>6} {'replay us':>9} {'calls e':>8} {'calls c':>8}")
        for threads in (int(t) for t in a.threads.split(",")):
            for batch in (int(b) for b in a.batches.split(",")):
                r = _spawn(sys.executable, "ember", a, threads, batch)
                if not a.no_torch and os.path.exists(a.torch_python):
                    r.update(_spawn(a.torch_python, "torch", a, threads, batch))
                if not a.no_keras:
                    r.update(_spawn(sys.executable, "keras", a, threads, batch))
                others = [v for k, v in r.items() if k in cols[2:] and isinstance(v, float)]
                comp = r.get("ember compiled")
                ratio = f"{comp / max(others):9.2f}" if others and isinstance(comp, float) else f"{'-':>9}"
                cells = [f"{r[c]:14.0f}" if isinstance(r.get(c), float) else f"{str(r.get(c, '-'))[:14]:>14}" for c in cols]
                extra = (f" {r['host_us']:8.1f} {r['setup_ms']:8.1f} {r['py_us']:6.1f} {r['replay_us']:9.1f}" if "host_us" in r else "")
                if "ember eager calls" in r:
                    extra += f" {r['ember eager calls']:8.0f} {r['ember compiled calls']:8.0f}"
                print(f"{threads:>3} {batch:>5} " + " ".join(cells) + f" {ratio}{extra}", flush=True)
                for k, v in r.items():
                    if isinstance(v, str):
                        print(f"#   {k}: {v}")


if __name__ == "__main__":
    main()
