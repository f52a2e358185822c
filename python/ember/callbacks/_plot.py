"""`History.plot`: the curves of a `History`, drawn with the optional matplotlib."""

from __future__ import annotations

import os

from ..errors import BackendUnavailableError, InvalidArgumentError


def plot_history(history, path=None, metrics=None):
    if path is not None:
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path or "\x00" in path:
            raise InvalidArgumentError(f"History.plot: path must be a file path (str or os.PathLike) or None, got {path!r}")
        ext = os.path.splitext(path)[1].lower()
        if ext not in ("", ".png"):
            raise InvalidArgumentError(f"History.plot: the figure is saved as PNG; path must end in .png, got {path!r}")
    logged = [k for k in history.history if isinstance(k, str)]
    if not logged:
        raise InvalidArgumentError("History.plot: nothing to plot: the history is empty (run fit first)")
    bases = list(dict.fromkeys(k[4:] if k.startswith("val_") else k for k in logged))
    if metrics is None:
        names = bases
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)) or not metrics or not all(isinstance(m, str) for m in metrics):
            raise InvalidArgumentError(f"History.plot: metrics must be a non-empty list of logged names or None, got {metrics!r}")
        names = [m[4:] if m.startswith("val_") else m for m in metrics]
        unknown = [m for m in names if m not in history.history and "val_" + m not in history.history]
        if unknown:
            raise InvalidArgumentError(f"History.plot: {unknown} not in the history; it holds {sorted(logged)}")
        names = list(dict.fromkeys(names))
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise BackendUnavailableError(f"History.plot needs matplotlib, which is not installed ({e}); "
                                      "install it with: pip install matplotlib") from None

    fig = Figure(figsize=(5.0 * len(names), 3.6), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, label, style in ((name, "training", "-"), ("val_" + name, "validation", "--")):
            values = history.history.get(key)
            if not values:
                continue
            epochs = list(getattr(history, "_epochs_of", {}).get(key) or history.epoch)
            if len(epochs) != len(values):  # a history filled by hand
                epochs = list(range(len(values)))
            ax.plot([e + 1 for e in epochs], [_num(v) for v in values], style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if path is not None:
        try:
            fig.savefig(path, format="png", dpi=100)
        except OSError as e:
            raise InvalidArgumentError(f"History.plot: cannot write {path!r}: {e.strerror or e}") from None
    return fig


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")
