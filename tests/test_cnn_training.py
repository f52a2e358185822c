"""The CNN examples learn: Keras's MNIST convnet (examples/mnist_cnn.py, the keras.io
script with only the import changed) and the VGG-style Fashion-MNIST net with
augmentation layers in the model (examples/fashion_cnn.py), run as scripts on the real
data.

The reduced runs (one epoch on a subset, scored on the first test images) prove
learning; their thresholds sit well below what they measured with seed 1 on two busy
shared cores: mnist_cnn on 6,000 images (43 steps of 128), 1 epoch: test accuracy 0.850
(0.68 on 3,000 images), 13 s of training; fashion_cnn on 2,000 images in batches of 32
(57 steps: BatchNormalization's moving statistics need a few dozen steps to catch up
with the weights, so fewer, larger batches score near chance at inference): 0.70, 36 s.
The full runs are marked ``slow``. Measured on one thread of a shared 2-core machine:
mnist_convnet, 15 epochs: test accuracy 0.9915 (seed 1) and 0.9918 (seed 2), 332 s of
training; real Keras 3.15 on JAX running the same script (same data, seed 1) scored
0.9918, so Ember matches Keras here and the 99.2% bar (keras.io's published 99.25%) sits
inside the run-to-run spread of both. Fashion CNN, 12 epochs (cosine decay over 12):
0.9127; the 30-epoch default run was not measured.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GPU_UNAVAILABLE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, timeout: int = 600) -> float:
    """Runs ``examples/<name>`` and returns the test accuracy it prints."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--verbose", "0", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    found = re.search(r"Test accuracy: ([0-9.]+)", proc.stdout)
    assert found, proc.stdout[-2000:]
    return float(found.group(1))


def test_mnist_convnet_learns_in_one_reduced_epoch():
    # measured 0.850 (seed 1); chance is 0.10
    assert run_example("mnist_cnn.py", "--epochs", "1", "--subset", "6000", "--test-subset", "2000") >= 0.75


def test_fashion_cnn_learns_in_one_reduced_epoch():
    # measured 0.70 (seed 1); chance is 0.10
    assert run_example("fashion_cnn.py", "--epochs", "1", "--subset", "2000", "--batch-size", "32",
                       "--test-subset", "1000") >= 0.55


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
@pytest.mark.slow
def test_mnist_convnet_reduced_on_gpu():
    assert run_example("mnist_cnn.py", "--epochs", "1", "--subset", "6000", "--test-subset", "2000", "--device",
                       "gpu") >= 0.75


@pytest.mark.slow
def test_mnist_convnet_full_run_reaches_keras_accuracy():
    assert run_example("mnist_cnn.py", "--epochs", "15", timeout=6 * 3600) >= 0.992


@pytest.mark.slow
def test_fashion_cnn_full_run_reaches_92_percent():
    assert run_example("fashion_cnn.py", "--epochs", "30", timeout=12 * 3600) >= 0.92
