"""Next-value forecasting with an LSTM (keras-io's "timeseries forecasting" recipe) on
the monthly mean sunspot numbers 1749-2008, compared with the naive forecast "next
month = this month".

    python examples/timeseries_lstm.py               # ~1-2 minutes on a CPU
    python examples/timeseries_lstm.py --epochs 5 --device gpu
    python examples/timeseries_lstm.py --synthetic   # without the data file

The series is the file ``statsmodels/datasets/sunspots/src/sunspots_monthly.dat`` that
the PyPI package ``statsmodels`` ships (``pip install --no-deps statsmodels``: the file is
read as plain text, statsmodels is never imported). ``--synthetic`` uses instead a
documented stand-in: an 11-year-period sine with a slowly varying amplitude plus noise.

Windows of ``--window`` months predict the next month (``timeseries_dataset_from_array``);
the first 80% of the months train, the rest test. The printed figures are the test MAE
of the LSTM and of the naive last-value forecast, in sunspot numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

import numpy as np

import ember as keras


def sunspots_path() -> str | None:
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "sunspots", "src",
                        "sunspots_monthly.dat")
    return path if os.path.isfile(path) else None


def load_sunspots() -> np.ndarray:
    """The monthly means, in time order (a row per year: the year and 12 months)."""
    path = sunspots_path()
    if path is None:
        raise keras.datasets.DatasetNotFoundError(
            "the sunspot series is not installed: `pip install --no-deps statsmodels` (or pass --synthetic)"
        )
    values = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 13 and parts[0].isdigit() and len(parts[0]) == 4:
                values.extend(float(v) for v in parts[1:])
    return np.asarray(values, np.float32)


def synthetic(n: int = 3000, seed: int = 0) -> np.ndarray:
    """A sunspot-like stand-in: period 132 months, amplitude varying over ~100 years,
    Gaussian noise; non-negative."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    amp = 80 + 40 * np.sin(2 * np.pi * t / 1200)
    return np.maximum(0, amp * (0.5 + 0.5 * np.sin(2 * np.pi * t / 132)) + rng.normal(0, 12, n)).astype(np.float32)


def make_datasets(series: np.ndarray, window: int, batch_size: int, split: float = 0.8):
    cut = int(len(series) * split)
    mean, std = series[:cut].mean(), series[:cut].std()
    z = ((series - mean) / std).astype(np.float32)[:, None]

    def windows(part: np.ndarray):
        # Window i: part[i : i + window], target part[i + window].
        return keras.utils.timeseries_dataset_from_array(part[:-window], part[window:], sequence_length=window,
                                                         batch_size=batch_size)

    return windows(z[:cut]), windows(z[cut - window:]), mean, std


def run(series: np.ndarray, window: int = 24, units: int = 32, epochs: int = 20, batch_size: int = 64,
        device: str = "cpu", seed: int = 1, verbose: int = 0):
    """Trains; returns ``(lstm test MAE, naive test MAE, seconds)`` in the series' units."""
    keras.utils.set_random_seed(seed)
    keras.set_default_device(device)
    train, test, mean, std = make_datasets(series, window, batch_size)
    model = keras.Sequential([keras.Input((window, 1)), keras.layers.LSTM(units), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    t0 = time.perf_counter()
    model.fit(train, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - t0
    x_test, y_test = test.arrays()
    pred = model.predict(x_test, verbose=0)[:, 0]
    lstm_mae = float(np.mean(np.abs(pred - y_test[:, 0]))) * std
    naive_mae = float(np.mean(np.abs(x_test[:, -1, 0] - y_test[:, 0]))) * std
    return lstm_mae, naive_mae, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic stand-in series")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()
    series = synthetic() if args.synthetic else load_sunspots()
    print(f"series: {len(series)} months ({'synthetic' if args.synthetic else 'sunspots 1749-'})")
    lstm_mae, naive_mae, seconds = run(series, args.window, args.units, args.epochs, device=args.device,
                                       verbose=args.verbose)
    print(f"train time: {seconds:.1f}s ({args.epochs} epochs)")
    print(f"test MAE: LSTM {lstm_mae:.2f}, naive last value {naive_mae:.2f} "
          f"({100 * (1 - lstm_mae / naive_mae):+.1f}% vs naive)")


if __name__ == "__main__":
    main()
