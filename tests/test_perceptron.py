"""Rosenblatt's perceptron against golden.json 'perceptron' on every backend, and the
examples/logic_gates.py script run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError
from ember.models import NotLinearlySeparableWarning, Perceptron

ROOT = Path(__file__).resolve().parent.parent


def _x(golden):
    return np.array(golden["perceptron"]["sample_order"], np.float32)


def _run(golden, lr):
    return next(r for r in golden["perceptron"]["runs"] if r["learning_rate"] == lr)


def _fit(golden, gate, lr, device, **kwargs):
    g = _run(golden, lr)["gates"][gate]
    p = Perceptron(learning_rate=lr, device=device, **kwargs)
    if g["converged"]:
        p.fit(_x(golden), np.array(g["targets"]))
    else:
        with pytest.warns(NotLinearlySeparableWarning, match="not linearly separable"):
            p.fit(_x(golden), np.array(g["targets"]))
    return p, g


def _check_epochs(history, epochs):
    assert len(history) >= len(epochs)
    for got, want in zip(history, epochs):
        assert got["epoch"] == want["epoch"]
        assert got["errors"] == want["errors"], (got, want)
        np.testing.assert_allclose(got["bias"], want["bias"], atol=1e-6)
        np.testing.assert_allclose(got["weights"], want["weights"], atol=1e-6)


@pytest.mark.parametrize("gate", ["AND", "OR"])
@pytest.mark.parametrize("lr", [1.0, 0.1])
def test_linearly_separable_gates_golden(golden, backend_name, gate, lr):
    p, g = _fit(golden, gate, lr, backend_name)
    assert p.converged and p.linearly_separable is True
    assert "linearly separable" in p.report
    if g["float_arithmetic_reproduces_exact"]:
        epochs = g["epochs"]
        assert p.epochs_run == g["first_epoch_with_no_errors"]
        np.testing.assert_allclose(p.bias, g["final_bias"], atol=1e-6)
        np.testing.assert_allclose(p.weights, g["final_weights"], atol=1e-6)
    else:
        # float rounding flips one exact-arithmetic decision: follow the float run
        epochs = g["float_trajectory"]
        assert p.epochs_run == epochs[-1]["epoch"]
    _check_epochs(p.history, epochs)
    assert len(p.history) == len(epochs) and p.history[-1]["errors"] == 0
    np.testing.assert_array_equal(p.predict(_x(golden)), g["predictions"])


@pytest.mark.parametrize("lr", [1.0, 0.1])
def test_xor_never_converges_golden(golden, backend_name, lr):
    p, g = _fit(golden, "XOR", lr, backend_name)
    assert not p.converged and p.linearly_separable is False
    assert p.epochs_run == g["epochs_run"] == p.max_epochs
    _check_epochs(p.history, g["epochs"])
    assert min(h["errors"] for h in p.history) == g["min_errors_per_epoch"]
    cyc = g["weights_cycle"]
    assert p.cycle == (cyc["epoch_a"], cyc["epoch_b"])
    assert "not linearly separable" in p.report and "cycles forever" in p.report
    assert (p.predict(_x(golden)) != np.array(g["targets"])).any()


def test_stop_on_cycle_stops_at_the_repeat(golden, backend_name):
    p, g = _fit(golden, "XOR", 1.0, backend_name, stop_on_cycle=True)
    assert p.epochs_run == g["weights_cycle"]["epoch_b"] and p.linearly_separable is False


def test_undecided_when_max_epochs_too_small(golden):
    g = _run(golden, 1.0)["gates"]["AND"]
    p = Perceptron(learning_rate=1.0, max_epochs=2)
    with pytest.warns(NotLinearlySeparableWarning, match="may not be linearly separable"):
        p.fit(_x(golden), np.array(g["targets"]))
    assert not p.converged and p.linearly_separable is None and p.epochs_run == 2


def test_learns_a_random_separable_problem_float64_reference(backend_name, rng):
    """A separable 3-D problem: the rule converges and separates it; every epoch matches a
    float64 reference of the same rule (integer-valued inputs keep it exact)."""
    x = rng.integers(-3, 4, size=(40, 3)).astype(np.float32)
    y = (x @ np.array([2.0, -1.0, 1.0]) + 0.5 > 0).astype(np.int64)
    p = Perceptron(learning_rate=1.0, max_epochs=200, device=backend_name).fit(x, y)
    w, b, ref = np.zeros(3), 0.0, []
    for epoch in range(1, 201):
        errors = 0
        for xi, yi in zip(x.astype(np.float64), y):
            d = yi - (1.0 if b + w @ xi >= 0 else 0.0)
            w, b, errors = w + d * xi, b + d, errors + int(d != 0)
        ref.append({"epoch": epoch, "errors": errors, "bias": b, "weights": w.tolist()})
        if errors == 0:
            break
    assert p.converged
    _check_epochs(p.history, ref)
    assert len(p.history) == len(ref)
    np.testing.assert_array_equal(p.predict(x), y)
    np.testing.assert_allclose(p.decision_function(x), x.astype(np.float64) @ w + b, rtol=1e-6, atol=1e-5)


def test_shuffle_is_seeded(golden):
    x, y = _x(golden), np.array([0, 1, 1, 1])
    a = Perceptron(shuffle=True, seed=3).fit(x, y)
    b = Perceptron(shuffle=True, seed=3).fit(x, y)
    assert a.history == b.history and a.converged


@pytest.mark.parametrize("make, arg", [
    (lambda: Perceptron(learning_rate=0.0), "learning_rate"),
    (lambda: Perceptron(learning_rate=-1.0), "learning_rate"),
    (lambda: Perceptron(learning_rate=float("nan")), "learning_rate"),
    (lambda: Perceptron(max_epochs=0), "max_epochs"),
    (lambda: Perceptron(max_epochs=2.5), "max_epochs"),
    (lambda: Perceptron(seed="x"), "seed"),
    (lambda: Perceptron(device="tpu"), "device"),
])
def test_bad_configuration(make, arg):
    with pytest.raises(ValueError) as e:
        make()
    assert isinstance(e.value, InvalidArgumentError) and arg in str(e.value)


def test_bad_data():
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(InvalidArgumentError, match="0 and 1"):
        Perceptron().fit(x, np.array([0, 1, 2, 0]))
    with pytest.raises(ShapeError):
        Perceptron().fit(x, np.array([0, 1, 1]))
    with pytest.raises(ShapeError):
        Perceptron().fit(np.zeros(4, np.float32), np.array([0, 1, 1, 0]))
    with pytest.raises(InvalidArgumentError, match="fit"):
        Perceptron().predict(x)
    p = Perceptron().fit(x, np.array([1, 1, 1, 1]))
    with pytest.raises(ShapeError):
        p.predict(np.zeros((2, 3), np.float32))


def test_logic_gates_example(backend_name):
    """The example prints the perceptron's results for AND/OR/XOR, says XOR is not linearly
    separable, and a small MLP then solves XOR."""
    env = {**os.environ, "EMBER_DEVICE": "cpu"}
    cmd = [sys.executable, str(ROOT / "examples" / "logic_gates.py"), "--device", backend_name, "--mlp-epochs", "300"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"device={backend_name}" in out
    lines = {ln.split(":")[0]: ln for ln in out.splitlines() if ln.split(":")[0] in ("AND", "OR", "XOR")}
    assert "converged=True" in lines["AND"] and "predictions=[0, 0, 0, 1]" in lines["AND"]
    assert "converged=True" in lines["OR"] and "predictions=[0, 1, 1, 1]" in lines["OR"]
    assert "converged=False" in lines["XOR"]
    assert "XOR did not converge" in out and "not linearly separable" in out
    assert "MLP XOR predictions=[0, 1, 1, 0] targets=[0, 1, 1, 0] solved=True" in out
