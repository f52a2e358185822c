"""Training throughput of the recurrent layers, side by side with PyTorch on the CPU.

    python benches/rnn.py [--threads 1,2] [--steps 10] [--repeat 5] [--cases lstm,gru,char]

Cases (Keras-style models, Adam, one ``fit`` epoch of ``--steps`` batches per timing,
median of ``--repeat`` epochs after a warm-up epoch; PyTorch runs the equivalent loop,
forward + loss + backward + Adam step + ``loss.item()``, in the same process on the same
thread count):

* ``lstm``: LSTM(128) -> Dense(1), MSE, on sequences of 50 steps x 32 features, batch 64:
  training samples/s;
* ``gru``: the same with GRU(128) (PyTorch's nn.GRU is Keras's ``reset_after=True``);
* ``char``: the char-LSTM: Embedding(65, 64) -> LSTM(256, return_sequences) ->
  Dense(65), sparse categorical crossentropy from logits, sequence 100, batch 64:
  training characters/s.

The ratio is Ember's throughput over PyTorch's (> 1 = Ember faster). Only public API is
used, so the same script measures an older checkout (put its ``python/`` first on
``PYTHONPATH``). torch is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ember as em

try:
    import torch
except Exception:  # noqa: BLE001 - any import failure means "not available"
    torch = None

CASES = {
    # name: (cell, units, time, features or vocab, batch)
    "lstm": ("lstm", 128, 50, 32, 64),
    "gru": ("gru", 128, 50, 32, 64),
    "char": ("char", 256, 100, 65, 64),
}


def data(case: str, n: int):
    cell, units, t, f, b = CASES[case]
    rng = np.random.default_rng(0)
    if cell == "char":
        x = rng.integers(0, f, (n, t)).astype(np.int32)
        return x, np.roll(x, -1, axis=1)
    return rng.standard_normal((n, t, f)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32)


def ember_model(case: str):
    cell, units, t, f, _ = CASES[case]
    em.utils.set_random_seed(0)
    if cell == "char":
        model = em.Sequential([em.Input((t,), dtype="int32"), em.layers.Embedding(f, 64),
                               em.layers.LSTM(units, return_sequences=True), em.layers.Dense(f)])
        model.compile(optimizer=em.optimizers.Adam(1e-3),
                      loss=em.losses.SparseCategoricalCrossentropy(from_logits=True))
    else:
        layer = em.layers.LSTM(units) if cell == "lstm" else em.layers.GRU(units)
        model = em.Sequential([em.Input((t, f)), layer, em.layers.Dense(1)])
        model.compile(optimizer=em.optimizers.Adam(1e-3), loss="mse")
    return model


def ember_seconds(case: str, steps: int, repeat: int) -> float:
    b = CASES[case][4]
    model = ember_model(case)
    x, y = data(case, b * steps)
    model.fit(x, y, batch_size=b, epochs=1, verbose=0, shuffle=False)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=b, epochs=1, verbose=0, shuffle=False)
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def torch_seconds(case: str, steps: int, repeat: int) -> float:
    cell, units, t, f, b = CASES[case]
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if cell == "char":
                self.emb = torch.nn.Embedding(f, 64)
                self.rnn = torch.nn.LSTM(64, units, batch_first=True)
                self.head = torch.nn.Linear(units, f)
            else:
                self.rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(f, units, batch_first=True)
                self.head = torch.nn.Linear(units, 1)

        def forward(self, x):
            if cell == "char":
                y, _ = self.rnn(self.emb(x))
                return self.head(y)
            y, _ = self.rnn(x)
            return self.head(y[:, -1])

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xn, yn = data(case, b * steps)
    x = torch.from_numpy(xn).long() if cell == "char" else torch.from_numpy(xn)
    y = torch.from_numpy(yn).long() if cell == "char" else torch.from_numpy(yn)
    lossf = torch.nn.CrossEntropyLoss() if cell == "char" else torch.nn.MSELoss()

    def epoch():
        for i in range(steps):
            xb, yb = x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = lossf(out.reshape(-1, f), yb.reshape(-1)) if cell == "char" else lossf(out, yb)
            loss.backward()
            opt.step()
            loss.item()

    epoch()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        epoch()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--cases", default="lstm,gru,char")
    a = p.parse_args()
    print(f"ember {em.__version__}; torch {torch.__version__ if torch else 'not installed'}")
    print(f"{'case':<6} {'threads':>7} {'unit':>8} {'ember':>10} {'torch':>10} {'ember/torch':>12}")
    for n in (int(v) for v in a.threads.split(",")):
        em.set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)
        for case in a.cases.split(","):
            _, _, t, _, b = CASES[case]
            per = b * t if case == "char" else b
            unit = "chars/s" if case == "char" else "samples/s"
            e = per / ember_seconds(case, a.steps, a.repeat)
            tr = per / torch_seconds(case, a.steps, a.repeat) if torch is not None else float("nan")
            print(f"{case:<6} {n:>7} {unit:>9} {e:>10.0f} {tr:>10.0f} {e / tr:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
