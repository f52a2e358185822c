"""Shared pytest setup.

* ``slow`` tests (full training runs) run only with ``--runslow`` or EMBER_RUN_SLOW=1.
* ``backend_name`` parametrizes a test over every backend available here; the GPU joins
  the list when a WebGPU adapter exists (lavapipe counts) and is skipped with the
  reason otherwise.
* With ``EMBER_REQUIRE_GPU=1`` (.ci/run sets it) a session in which no GPU test passed fails.
* With ``EMBER_REQUIRE_KERAS=1`` (.ci/run sets it) a test skipped because keras, jax, h5py
  or tensorboardX is not installed fails the session: the Keras interop tests must run in CI.
* ``golden`` is ``tests/reference/golden.json`` (a copy of ``../shared/reference``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import ember as em

REFERENCE = Path(__file__).parent / "reference" / "golden.json"


def _probe_gpu() -> str | None:
    """None when a WebGPU adapter exists (lavapipe counts), else why not. Probed once."""
    try:
        import wgpu
    except Exception as e:  # noqa: BLE001
        return f"wgpu not importable ({e}); pip install wgpu"
    try:
        if wgpu.gpu.request_adapter_sync() is None:
            return "no WebGPU adapter; apt-get install mesa-vulkan-drivers"
    except Exception as e:  # noqa: BLE001
        return f"no WebGPU adapter ({e}); apt-get install mesa-vulkan-drivers"
    return None


GPU_UNAVAILABLE = _probe_gpu()
BACKENDS = ["cpu", pytest.param("gpu", marks=[pytest.mark.gpu, pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))])]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow (full training) tests")


REQUIRE_GPU = os.environ.get("EMBER_REQUIRE_GPU") == "1"
REQUIRE_KERAS = os.environ.get("EMBER_REQUIRE_KERAS") == "1"
_OPTIONAL_FOR_INTEROP = ("keras", "jax", "h5py", "tensorboardx")
_gpu_passed = 0
_interop_skipped: list[str] = []


def _skipped_for_a_missing_package(report) -> bool:
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr).lower()
    missing = "not installed" in reason or "could not import" in reason
    return missing and any(p in reason for p in _OPTIONAL_FOR_INTEROP)


def pytest_runtest_logreport(report):
    global _gpu_passed
    if report.when == "call" and report.passed and "gpu" in report.keywords:
        _gpu_passed += 1
    if REQUIRE_KERAS and report.skipped and _skipped_for_a_missing_package(report):
        _interop_skipped.append(report.nodeid)


def pytest_collectreport(report):
    # a module-level importorskip("keras") skips the whole file at collection
    if REQUIRE_KERAS and report.skipped and _skipped_for_a_missing_package(report):
        _interop_skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """With EMBER_REQUIRE_GPU=1 (set by .ci/run), a run in which no GPU test passed fails:
    CI must never pass by skipping the whole GPU backend."""
    if REQUIRE_GPU and _gpu_passed == 0 and session.testscollected:
        reason = GPU_UNAVAILABLE or "no test marked gpu was selected"
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"EMBER_REQUIRE_GPU=1 but no GPU test ran: {reason}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _interop_skipped:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"EMBER_REQUIRE_KERAS=1 but {len(_interop_skipped)} tests skipped for a missing keras/jax/h5py/"
            f"tensorboardX: " + ", ".join(_interop_skipped[:10]), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("EMBER_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: full training run; use --runslow or EMBER_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def golden() -> dict:
    with open(REFERENCE) as f:
        return json.load(f)


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    em.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
