"""`Progbar`: a progress bar for custom loops (Keras 3's ``keras.utils.Progbar``)."""

from __future__ import annotations

import math
import numbers
import sys
import time

import numpy as np

from ..errors import InvalidArgumentError


def _format_time(time_per_unit: float, unit_name: str) -> str:
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1e6:.0f}us/{unit_name}"


def _format_value(avg: float) -> str:
    return f" {avg:.4f}" if abs(avg) > 1e-3 else f" {avg:.4e}"


class Progbar:
    """Displays a progress bar (Keras 3's ``keras.utils.Progbar``, for custom training
    loops): ``update(current, values)`` at step ``current`` of ``target``, with
    ``values`` a list of ``(name, value)``. A metric is averaged over the steps so far
    (weighted by the steps each update covers) unless it is a ``stateful_metrics`` name,
    shown as given; with ``stateless_metrics`` instead, only those names are averaged.
    ``verbose=1`` redraws one line in place on a terminal (a new line per update
    elsewhere), ``verbose=2`` prints one line when the bar completes, 0 prints nothing.

    Args:
        target: the total number of steps, or None when unknown.
        width: the bar's width in characters (default 20).
        verbose: 0, 1 or 2 (default 1).
        interval: the least seconds between two redraws (default 0.05).
        stateful_metrics: names shown as given, not averaged (the others are averaged).
        stateless_metrics: names that are averaged (the others are shown as given); at
            most one of the two lists.
        unit_name: the unit shown per step (default "step").

    Example:
        >>> import ember as em
        >>> bar = em.utils.Progbar(4, verbose=2)
        >>> for i in range(4):
        ...     bar.update(i + 1, [("loss", float(i))])   # doctest: +ELLIPSIS
        4/4 - ...s - ...step - loss: 3.0000
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step"):
        owner = "Progbar"
        if target is not None and (isinstance(target, bool) or not isinstance(target, numbers.Integral) or target < 0):
            raise InvalidArgumentError(f"{owner}: target must be None or an integer >= 0, got {target!r}")
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or not 1 <= width <= 1000:
            raise InvalidArgumentError(f"{owner}: width must be an integer in [1, 1000], got {width!r}")
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise InvalidArgumentError(f"{owner}: verbose must be 0, 1 or 2, got {verbose!r}")
        if isinstance(interval, bool) or not isinstance(interval, numbers.Real) or not interval >= 0:
            raise InvalidArgumentError(f"{owner}: interval must be a number >= 0, got {interval!r}")
        if not isinstance(unit_name, str):
            raise InvalidArgumentError(f"{owner}: unit_name must be a string, got {unit_name!r}")
        if stateful_metrics is not None and stateless_metrics is not None:
            raise InvalidArgumentError(f"{owner}: only one of `stateful_metrics` or `stateless_metrics` can be given")
        for name, names in (("stateful_metrics", stateful_metrics), ("stateless_metrics", stateless_metrics)):
            if names is not None and (isinstance(names, (str, bytes)) or not hasattr(names, "__iter__")):
                raise InvalidArgumentError(f"{owner}: {name} must be a list of names, got {names!r}")
        self.target = None if target is None else int(target)
        self.width = int(width)
        self.verbose = int(verbose)
        self.interval = float(interval)
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = set(stateful_metrics), None
        elif stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics, self.stateless_metrics = set(), None
        from ..callbacks import _dynamic_display

        self._dynamic_display = _dynamic_display()
        self._seen_so_far = 0
        self._values: dict = {}
        self._values_order: list = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _is_stateless(self, name) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _estimate_step_duration(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per = (now - self._time_after_first_step) / (current - 1)
        else:
            per = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per

    def _average(self, name) -> float:
        total, count = self._values[name]
        return float(np.mean(total)) / max(1, count)

    def update(self, current, values=None, finalize=None):
        """Moves the bar to step ``current``, with ``values`` a list of ``(name, value for
        the last step)``; ``finalize`` (default: ``current >= target``) ends the bar."""
        if isinstance(current, bool) or not isinstance(current, numbers.Integral) or current < 0:
            raise InvalidArgumentError(f"Progbar.update: current must be an integer >= 0, got {current!r}")
        current = int(current)
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        values = list(values or [])
        for item in values:
            if not isinstance(item, (tuple, list)) or len(item) != 2 or not isinstance(item[0], str):
                raise InvalidArgumentError(f"Progbar.update: values must be (name, value) pairs, got {item!r}")
            try:
                float(np.mean(item[1]))
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"Progbar.update: the value of {item[0]!r} is not a number: "
                                           f"{item[1]!r}") from None
        for k, v in values:
            v = np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)
            if k not in self._values_order:
                self._values_order.append(k)
            if self._is_stateless(k) and not finalize:
                base = max(current - self._seen_so_far, 1)
                if k not in self._values:
                    self._values[k] = [v * base, base]
                else:
                    self._values[k][0] = self._values[k][0] + v * base
                    self._values[k][1] += base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current
        now = time.time()
        per_step = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            message = "\r" if self._dynamic_display else "\n"
            if self.target:
                digits = int(math.log10(self.target)) + 1
                filled = int(self.width * current / self.target)
                full, empty = "\u2501", "\u2500"
                try:
                    (full + empty).encode(getattr(sys.stdout, "encoding", None) or "ascii")
                except (UnicodeEncodeError, LookupError):
                    full, empty = "=", "."
                bar = f"{current:{digits}d}/{self.target} " + full * min(filled, self.width) + \
                    empty * max(self.width - filled, 0)
            else:
                bar = f"{current:7d}/Unknown"
            if self.target and not finalize:
                eta = per_step * (self.target - current)
                if eta > 3600:
                    info = f" {int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
                elif eta > 60:
                    info = f" {int(eta // 60)}:{int(eta % 60):02d}"
                else:
                    info = f" {int(eta)}s"
            else:
                info = f" {now - self._start:.0f}s"
            info += _format_time(per_step, self.unit_name)
            for k in self._values_order:
                info += f" - {k}:" + _format_value(self._average(k))
            width = len(bar) + len(info)
            line = bar + info + " " * max(0, self._prev_total_width - width)
            self._write(message + line + ("\n" if finalize else ""))
            self._prev_total_width = width
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            info = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
            info += _format_time(per_step, self.unit_name)
            for k in self._values_order:
                info += f" - {k}:" + _format_value(self._average(k))
            self._write(info + "\n")
        self._last_update = now

    def add(self, n, values=None):
        """`update` at ``n`` steps after the last one."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise InvalidArgumentError(f"Progbar.add: n must be an integer >= 0, got {n!r}")
        self.update(self._seen_so_far + int(n), values)


__all__ = ["Progbar"]
