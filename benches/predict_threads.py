"""Throughput of `predict` from several threads against one thread, per device.

    python benches/predict_threads.py [--threads 4] [--calls 200] [--devices cpu,gpu]

Prints predictions per second serially and with N threads sharing one model (the GPU
runtime serializes recording and submission under one lock), after a warm-up, with the
device synchronized before each clock stops (predict returns host arrays).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np

import ember as em


def model_on(device):
    em.utils.set_random_seed(0)
    with em.device(device):
        return em.Sequential([em.Input((64,)), em.layers.Dense(128, activation="relu"), em.layers.Dense(10)])


def run(device, threads, calls, x, repeats=3):
    model = model_on(device)
    for _ in range(10):
        model.predict(x, verbose=0)
    serial, concurrent = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(threads * calls):
            model.predict(x, verbose=0)
        serial.append(threads * calls / (time.perf_counter() - t0))

        def work():
            for _ in range(calls):
                model.predict(x, verbose=0)

        ts = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        concurrent.append(threads * calls / (time.perf_counter() - t0))
    return statistics.median(serial), statistics.median(concurrent)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--devices", default="cpu,gpu")
    a = ap.parse_args()
    x = np.random.default_rng(0).normal(size=(a.batch, 64)).astype(np.float32)
    print(f"predict on a (64-128-10) MLP, batch {a.batch}, {a.threads} threads x {a.calls} calls, median of 3")
    for device in a.devices.split(","):
        s, c = run(device, a.threads, a.calls, x)
        print(f"{device}: serial {s:8.0f} predicts/s   {a.threads} threads {c:8.0f} predicts/s   ratio {c / s:.2f}")


if __name__ == "__main__":
    main()
