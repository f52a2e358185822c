"""Steady-state cost of one training step through ``Model.fit``, side by side with PyTorch.

    python benches/fit_step.py [--threads 2] [--batches 128,32] [--steps 60] [--repeat 5] [--gpu]

For Keras's MNIST MLP (784-512-256-10, ReLU, Adam, sparse categorical crossentropy with an
accuracy metric) on random MNIST-shaped data:

* milliseconds per step: ``fit`` over one epoch of ``--steps`` steps, median of
  ``--repeat`` epochs after a warm-up epoch; PyTorch runs the equivalent loop in the
  same process (shuffled index gather per batch, forward, loss, backward, Adam step,
  ``loss.item()`` for the running loss, the accuracy count), on the same thread count;
  the ratio is PyTorch's time over Ember's (> 1 = Ember faster);
* Python function calls per step (``sys.setprofile`` over one epoch, divided by steps);
* with ``--gpu``: host readbacks and submissions per step of a ``verbose=0`` GPU epoch.

Only public API is used, so the same script measures an older checkout (run it with that
checkout's ``python/`` first on ``PYTHONPATH``).
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

try:
    import torch  # noqa: E402
except Exception:  # noqa: BLE001 - any import failure means "not available"
    torch = None


def ember_model(device: str = "cpu"):
    em.utils.set_random_seed(0)
    with em.device(device):
        model = em.Sequential([
            em.Input((784,)),
            em.layers.Dense(512, activation="relu"),
            em.layers.Dense(256, activation="relu"),
            em.layers.Dense(10, activation="softmax"),
        ])
    model.compile(optimizer=em.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n: int):
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)


def ember_step_ms(batch: int, steps: int, repeat: int, device: str = "cpu") -> float:
    model = ember_model(device)
    x, y = data(batch * steps)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: slots, pools, pipelines
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # fit returns after its logs are read
        times.append((time.perf_counter() - t0) / steps)
    return 1e3 * statistics.median(times)


def torch_step_ms(batch: int, steps: int, repeat: int) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    xn, yn = data(batch * steps)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn).long()

    def epoch():
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
        return total, correct

    epoch()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        epoch()
        times.append((time.perf_counter() - t0) / steps)
    return 1e3 * statistics.median(times)


def python_calls_per_step(batch: int, steps: int) -> float:
    model = ember_model()
    x, y = data(batch * steps)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    count = [0]

    def prof(frame, event, arg):
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(prof)
    try:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    finally:
        sys.setprofile(None)
    return count[0] / steps


def gpu_counts(batch: int, steps: int) -> tuple[float, float]:
    rt = em.backend.get_backend("gpu").rt
    reads = [0]
    original = type(rt).download

    def counting(self, buf):
        reads[0] += 1
        return original(self, buf)

    type(rt).download = counting
    try:
        model = ember_model("gpu")
        x, y = data(batch * steps)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        reads[0], submits = 0, rt.submits
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        return reads[0] / steps, (rt.submits - submits) / steps
    finally:
        type(rt).download = original


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batches", default="128,32")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--gpu", action="store_true")
    a = p.parse_args()
    em.set_num_threads(a.threads)
    if torch is not None:
        torch.set_num_threads(a.threads)
    print(f"# fit step, MLP 784-512-256-10, Adam, {a.threads} thread(s); ms/step, median of {a.repeat} epochs x {a.steps} steps")
    print(f"{'batch':>6} {'ember':>9} {'torch':>9} {'torch/ember':>12} {'py calls/step':>14}")
    for batch in (int(b) for b in a.batches.split(",")):
        t_em = ember_step_ms(batch, a.steps, a.repeat)
        t_th = torch_step_ms(batch, a.steps, a.repeat) if torch is not None else None
        calls = python_calls_per_step(batch, min(a.steps, 20))
        th = f"{t_th:9.3f}" if t_th else f"{'-':>9}"
        ratio = f"{t_th / t_em:12.2f}" if t_th else f"{'-':>12}"
        print(f"{batch:>6} {t_em:9.3f} {th} {ratio} {calls:14.0f}")
    if a.gpu:
        for batch in (int(b) for b in a.batches.split(",")):
            r, s = gpu_counts(batch, 10)
            print(f"gpu batch {batch}: {r:.2f} readbacks/step, {s:.2f} submissions/step (verbose=0 epoch of 10 steps)")


if __name__ == "__main__":
    main()
