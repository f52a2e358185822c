"""Rosenblatt's perceptron (1958): one threshold unit trained by the perceptron rule.

For each sample in turn, ``y_hat = step(b + w.x)`` with ``step(0) = 1``; then
``w += learning_rate * (y - y_hat) * x`` and ``b += learning_rate * (y - y_hat)``.
Weights and bias start at 0; an epoch visits the samples in the order given (or a seeded
shuffle with ``shuffle=True``); training stops after the first epoch without errors.

By the perceptron convergence theorem the rule reaches such an epoch whenever the data
are linearly separable. When it does not within ``max_epochs``, ``converged`` is False,
``report`` says why and a `NotLinearlySeparableWarning` is issued. With the fixed sample
order, the state (w, b) at the end of an epoch repeating an earlier one while errors
remain proves the rule cycles forever, so the data are not linearly separable (XOR);
``cycle`` then holds the two epochs.

The arithmetic runs through ``ember.ops`` on the chosen device (CPU or GPU), in float32;
only the error count and the state are read back once per epoch.

Example:
    >>> import numpy as np
    >>> import ember as em
    >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    >>> p = em.models.Perceptron(learning_rate=1.0).fit(x, np.array([0, 0, 0, 1]))
    >>> p.converged, p.predict(x).tolist(), p.bias, p.weights.tolist()
    (True, [0, 0, 0, 1], -3.0, [2.0, 1.0])
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..autograd import no_grad
from ..errors import InvalidArgumentError, ShapeError
from ..ops import core, nn
from ..tensor import Tensor, _default_device

__all__ = ["Perceptron", "NotLinearlySeparableWarning"]


class NotLinearlySeparableWarning(UserWarning):
    """The perceptron rule did not separate the training data within ``max_epochs``."""


def _heaviside(z: Tensor) -> Tensor:
    """step(z) = 1 where z >= 0, else 0 (Rosenblatt's threshold, step(0) = 1): the
    ``step`` kernel of ``ember.ops``."""
    return core.step(z)


class Perceptron:
    """A single-layer Rosenblatt perceptron for binary (0/1) targets.

    Args:
        learning_rate: the step of the perceptron rule, a positive float (default 1.0).
        max_epochs: at most this many passes over the data (default 100).
        shuffle: visit the samples in a new seeded random order each epoch (default False:
            the given order, as in the classic rule).
        seed: seed of that shuffle.
        stop_on_cycle: stop as soon as a repeated end-of-epoch state proves the data are not
            linearly separable (default False: run to ``max_epochs``). Only used without shuffle.
        device: "cpu" or "gpu"; default the current default device.

    Attributes:
        weights: numpy float32 array (features,); bias: float.
        converged: True when an epoch ended without errors.
        epochs_run: epochs trained; history: one dict per epoch with
            ``epoch``, ``errors``, ``bias`` and ``weights`` after that epoch.
        linearly_separable: True when converged, False when a cycle was found, else None
            (undecided). report: a sentence saying which.
    """

    def __init__(self, learning_rate=1.0, max_epochs=100, shuffle=False, seed=None, stop_on_cycle=False,
                 device=None):
        if (isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real)
                or not math.isfinite(float(learning_rate)) or learning_rate <= 0):
            raise InvalidArgumentError(f"Perceptron: argument learning_rate must be a positive float, got {learning_rate!r}")
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, numbers.Integral) or max_epochs < 1:
            raise InvalidArgumentError(f"Perceptron: argument max_epochs must be a positive integer, got {max_epochs!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise InvalidArgumentError(f"Perceptron: argument seed must be None or an integer, got {seed!r}")
        if device is not None and device not in ("cpu", "gpu"):
            raise InvalidArgumentError(f"Perceptron: argument device must be 'cpu' or 'gpu', got {device!r}")
        self.learning_rate = float(learning_rate)
        self.max_epochs = int(max_epochs)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.stop_on_cycle = bool(stop_on_cycle)
        self.device = device
        self._w: Tensor | None = None
        self._b: Tensor | None = None
        self.weights: np.ndarray | None = None
        self.bias: float | None = None
        self.converged = False
        self.epochs_run = 0
        self.history: list[dict] = []
        self.cycle: tuple[int, int] | None = None
        self.linearly_separable: bool | None = None
        self.report = "not trained"

    # -- training ----------------------------------------------------------------------------
    def fit(self, x, y, verbose=0) -> "Perceptron":
        """Trains from zero weights by the perceptron rule; returns self.

        Args:
            x: (samples, features) array. y: (samples,) array of 0/1 targets.
            verbose: 1 prints one line per epoch.

        Raises:
            ShapeError: x not 2-D or x and y of different lengths.
            InvalidArgumentError: non-finite x, or targets other than 0 and 1.
        """
        xa = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
        ya = np.asarray(y.numpy() if isinstance(y, Tensor) else y)
        if xa.dtype.kind not in "biuf" or ya.dtype.kind not in "biuf":
            raise InvalidArgumentError("Perceptron.fit: x and y must be numeric arrays")
        if xa.ndim != 2 or xa.shape[0] == 0:
            raise ShapeError(f"Perceptron.fit: x must have shape (samples, features), got {xa.shape}")
        ya = ya.reshape(-1) if ya.ndim == 2 and ya.shape[1] == 1 else ya
        if ya.ndim != 1 or ya.shape[0] != xa.shape[0]:
            raise ShapeError(f"Perceptron.fit: y must have shape ({xa.shape[0]},), got {ya.shape}")
        if not np.all(np.isfinite(xa)):
            raise InvalidArgumentError("Perceptron.fit: x contains non-finite values")
        if not np.all((ya == 0) | (ya == 1)):
            raise InvalidArgumentError(f"Perceptron.fit: y must hold only 0 and 1, got values {np.unique(ya).tolist()}")
        device = self.device or _default_device[0]
        n, d = xa.shape
        lr = self.learning_rate
        rows = [Tensor(xa[i:i + 1].astype(np.float32), dtype="float32", device=device) for i in range(n)]
        cols = [Tensor(xa[i:i + 1].T.astype(np.float32), dtype="float32", device=device) for i in range(n)]
        targets = [Tensor(ya[i:i + 1].reshape(1, 1).astype(np.float32), dtype="float32", device=device) for i in range(n)]
        rng = np.random.default_rng(self.seed)
        w = Tensor(np.zeros((d, 1), np.float32), dtype="float32", device=device)
        b = Tensor(np.zeros((1,), np.float32), dtype="float32", device=device)
        self.history, self.converged, self.cycle, self.epochs_run = [], False, None, 0
        seen: dict[bytes, int] = {}
        with no_grad():
            for epoch in range(1, self.max_epochs + 1):
                order = rng.permutation(n) if self.shuffle else range(n)
                errors = None
                for i in order:
                    y_hat = _heaviside(nn.dense(rows[i], w, b))
                    delta = core.subtract(targets[i], y_hat)
                    step = core.multiply(delta, lr) if lr != 1.0 else delta
                    w = core.add(w, core.multiply(cols[i], step))
                    b = core.add(b, core.reshape(step, (1,)))
                    miss = core.abs(delta)
                    errors = miss if errors is None else core.add(errors, miss)
                n_err = int(round(float(errors.item())))
                wn, bn = np.array(w.numpy()).reshape(-1), float(np.array(b.numpy())[0])
                self.history.append({"epoch": epoch, "errors": n_err, "bias": bn, "weights": wn.tolist()})
                self.epochs_run = epoch
                if verbose:
                    print(f"epoch {epoch}: errors={n_err} bias={bn:.6g} weights={np.array2string(wn, precision=6)}")
                if n_err == 0:
                    self.converged = True
                    break
                if not self.shuffle and self.cycle is None:
                    key = wn.astype(np.float32).tobytes() + np.float32(bn).tobytes()
                    if key in seen:
                        self.cycle = (seen[key], epoch)
                        if self.stop_on_cycle:
                            break
                    else:
                        seen[key] = epoch
        self._w, self._b = w, b
        self.weights = np.array(w.numpy()).reshape(-1).astype(np.float32)
        self.bias = float(np.array(b.numpy())[0])
        self._report(n)
        return self

    def _report(self, n: int) -> None:
        if self.converged:
            self.linearly_separable = True
            self.report = (f"converged: epoch {self.epochs_run} classified all {n} samples correctly; "
                           "the data are linearly separable")
            return
        last = self.history[-1]["errors"]
        if self.cycle is not None:
            a, b = self.cycle
            self.linearly_separable = False
            self.report = (
                f"did not converge: the weights and bias after epoch {b} repeat those after epoch {a} while "
                f"{last} of {n} samples are still misclassified, so the perceptron rule cycles forever: the data "
                "are not linearly separable (no line/hyperplane separates the classes, as for XOR)"
            )
        else:
            self.linearly_separable = None
            self.report = (
                f"did not converge within max_epochs={self.max_epochs} ({last} of {n} samples misclassified in "
                "the last epoch): the data may not be linearly separable"
            )
        warnings.warn(f"Perceptron {self.report}", NotLinearlySeparableWarning, stacklevel=3)

    # -- inference ---------------------------------------------------------------------------
    def _require_fit(self, what: str) -> None:
        if self._w is None:
            raise InvalidArgumentError(f"Perceptron.{what}: call fit() first")

    def decision_function(self, x) -> np.ndarray:
        """``b + w.x`` for each sample, as float32 numpy (samples,)."""
        self._require_fit("decision_function")
        xa = np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float32)
        if xa.ndim != 2 or xa.shape[1] != self.weights.shape[0]:
            raise ShapeError(f"Perceptron: x must have shape (samples, {self.weights.shape[0]}), got {xa.shape}")
        with no_grad():
            z = nn.dense(Tensor(xa, dtype="float32", device=self._w.device), self._w, self._b)
        return np.array(z.numpy()).reshape(-1)

    def predict(self, x) -> np.ndarray:
        """The 0/1 class of each sample (int32), ``step(b + w.x)`` with step(0) = 1."""
        self._require_fit("predict")
        xa = np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float32)
        if xa.ndim != 2 or xa.shape[1] != self.weights.shape[0]:
            raise ShapeError(f"Perceptron: x must have shape (samples, {self.weights.shape[0]}), got {xa.shape}")
        with no_grad():
            y = _heaviside(nn.dense(Tensor(xa, dtype="float32", device=self._w.device), self._w, self._b))
        return np.array(y.numpy()).reshape(-1).astype(np.int32)

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "max_epochs": self.max_epochs, "shuffle": self.shuffle,
                "seed": self.seed, "stop_on_cycle": self.stop_on_cycle, "device": self.device}

    def __repr__(self) -> str:
        return f"Perceptron(learning_rate={self.learning_rate}, max_epochs={self.max_epochs}, converged={self.converged})"


# Bad arguments come out as ember.errors types (numpy's ValueError for ragged data...).
from .._boundary import public as _public  # noqa: E402

Perceptron.fit = _public("Perceptron.fit")(Perceptron.fit)  # type: ignore[method-assign]
Perceptron.predict = _public("Perceptron.predict")(Perceptron.predict)  # type: ignore[method-assign]
