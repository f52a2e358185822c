"""fit's progress output: one line per epoch where stdout is not a terminal (log files get
no carriage returns, keras-team/keras#13716), Keras's bar layout on a terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember as em
from ember.callbacks import ProgbarLogger

FIT = textwrap.dedent("""
    import numpy as np, ember as em
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int32")
    m = em.Sequential([em.Input((4,)), em.layers.Dense(2, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs={epochs}, batch_size=16{extra})
    """)


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


def _model():
    m = em.Sequential([em.Input((4,)), em.layers.Dense(2, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    return m, x, (x[:, 0] > 0.5).astype("int32")


@pytest.mark.parametrize("epochs", [1, 3, 7])
def test_auto_verbosity_in_a_pipe_gives_one_line_per_epoch(epochs):
    r = subprocess.run([sys.executable, "-c", FIT.format(epochs=epochs, extra="")], capture_output=True, text=True,
                       timeout=120, env={**os.environ})
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stdout
    lines = r.stdout.splitlines()
    assert len(lines) == epochs, r.stdout
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"Epoch {i + 1}/{epochs} - 4/4 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{{4}} - accuracy: \d\.\d{{4}}",
                            line), line


def test_verbose_1_in_a_file_writes_no_carriage_returns(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    m, x, y = _model()
    m.fit(x, y, epochs=2, batch_size=16, verbose=1)
    assert "\r" not in out.getvalue()
    assert len(out.getvalue().splitlines()) == 2


def test_verbose_2_on_a_terminal_is_one_line_per_epoch(monkeypatch):
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    m, x, y = _model()
    m.fit(x, y, epochs=3, batch_size=16, verbose=2)
    assert "\r" not in out.getvalue() and len(out.getvalue().splitlines()) == 3


def test_terminal_bar_has_keras_layout(monkeypatch):
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(ProgbarLogger, "INTERVAL", 0.0)  # draw every step
    m, x, y = _model()
    m.fit(x, y, epochs=2, batch_size=16)  # verbose="auto" on a terminal: the bar
    text = out.getvalue()
    assert text.startswith("Epoch 1/2\n")
    frames = [f.rstrip() for f in re.split(r"[\r\n]", text) if f.strip()]
    running = [f for f in frames if "ETA" in f]
    assert running, text
    # step count, bar, ETA, time per step, then the metrics
    assert re.fullmatch(r"1/4 \u2501{5}\u2500{15} ETA \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}",
                        running[0]), running[0]
    final = [f for f in frames if f.startswith("4/4") and "ETA" not in f]
    assert len(final) == 2
    assert re.fullmatch(r"4/4 \u2501{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}", final[0]), final[0]
    assert text.count("\n") == 4  # two epoch headers, two finished bars


def test_ascii_bar_where_the_terminal_cannot_encode_it(monkeypatch):
    class Latin1(_Terminal):
        encoding = "latin-1"

    out = Latin1()
    monkeypatch.setattr(sys, "stdout", out)
    m, x, y = _model()
    m.fit(x, y, epochs=1, batch_size=16)
    assert "4/4 ====================" in out.getvalue()


def test_progbar_rejects_a_bad_verbosity():
    with pytest.raises(em.errors.InvalidArgumentError):
        ProgbarLogger(verbose=3)
