"""Data-parallel training on MPI (ember.distribute), run for real with 2 local ranks.

The jobs are launched with the ``mpiexec`` that ships with the PyPI ``mpich`` package (the
test extra installs mpi4py and mpich), on the worker script tests/distribute_worker.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ember as em

try:
    import mpi4py  # noqa: F401
except ImportError:
    if os.environ.get("EMBER_REQUIRE_MPI"):  # .ci/run sets it: these tests must run there
        raise
    pytest.skip("pip install mpi4py mpich (the test extra installs them)", allow_module_level=True)

WORKER = Path(__file__).parent / "distribute_worker.py"


def _mpiexec() -> str:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else "mpiexec"


def _run(ranks: int, out: Path, *extra, env=None, timeout=120):
    cmd = [sys.executable, str(WORKER), str(out), *map(str, extra)]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks)] + cmd
    e = dict(os.environ, **{"EMBER_MPI_TIMEOUT": "30", **(env or {})})
    e.pop("EMBER_NUM_THREADS", None) if ranks > 1 else e.setdefault("EMBER_NUM_THREADS", "1")
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)
    return res, time.monotonic() - t0


def _weights(path: Path) -> list:
    z = np.load(path)
    return [z[f"arr_{i}"] for i in range(sum(k.startswith("arr_") for k in z.files))]


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    """The same 50 steps (the last one a partial batch of 37) on one process and on 2 ranks."""
    d = tmp_path_factory.mktemp("dist")
    r1, _ = _run(1, d / "one.npz")
    assert r1.returncode == 0, r1.stderr
    r2, _ = _run(2, d / "two.npz")
    assert r2.returncode == 0, r2.stderr
    return np.load(d / "one.npz"), np.load(d / "two.npz"), _weights(d / "one.npz"), _weights(d / "two.npz")


def test_two_ranks_train_like_one_process(one_and_two):
    one, two, w1, w2 = one_and_two
    assert int(two["size"]) == 2 and int(one["size"]) == 1
    assert int(two["steps"]) == 50
    assert len(w1) == len(w2) == 6
    for a, b in zip(w1, w2):
        # float32 summation order differs (two half-batch GEMMs and a sum against one):
        # 1e-5 of the weights' scale.
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(a)), np.max(np.abs(a - b)) / np.max(np.abs(a))
    # The logged losses (all-reduced over the ranks) are the single process's.
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5, atol=1e-6)
    assert len(two["losses"]) == 50
    np.testing.assert_allclose(float(two["accuracy"]), float(one["accuracy"]), rtol=1e-6)


def test_each_rank_gets_its_share_of_the_cores(one_and_two):
    _, two, _, _ = one_and_two
    cores = len(os.sched_getaffinity(0))
    assert int(two["threads"]) == max(1, cores // 2)


def test_a_batch_smaller_than_the_ranks(tmp_path):
    # 129 samples at batch 128: the last global batch has one row, so rank 0's share is
    # empty; it still joins the all-reduce and applies the same update.
    r1, _ = _run(1, tmp_path / "one.npz", "--n", 129)
    r2, _ = _run(2, tmp_path / "two.npz", "--n", 129)
    assert r1.returncode == 0 and r2.returncode == 0, r2.stderr
    for a, b in zip(_weights(tmp_path / "one.npz"), _weights(tmp_path / "two.npz")):
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(a))


def test_a_failing_rank_stops_every_rank_with_its_error(tmp_path):
    res, seconds = _run(2, tmp_path / "x.npz", "--fail-rank", 1, "--fail-step", 10, timeout=60)
    assert res.returncode != 0
    assert seconds < 30
    out = res.stdout + res.stderr
    # rank 1 raises its own error; rank 0 raises RemoteRankError carrying rank 1's message
    assert "ValueError: deliberate failure on rank 1 at step 10" in out
    assert "RemoteRankError" in out and "rank 1: ValueError: deliberate failure" in out
    assert not (tmp_path / "x.npz").exists()


def test_a_rank_that_dies_ends_the_job(tmp_path):
    res, seconds = _run(2, tmp_path / "x.npz", "--die-rank", 1, "--fail-step", 5, env={"EMBER_MPI_TIMEOUT": "20"},
                        timeout=60)
    assert res.returncode != 0
    assert seconds < 30


def test_without_mpiexec_a_distribution_is_one_rank():
    dp = em.distribute.DataParallel()
    assert (dp.rank, dp.size, dp.is_chief) == (0, 1, True)
    with dp.scope():
        assert em.distribute.distribution() is dp
        assert em.distribution.size() == 1
    assert em.distribute.distribution() is None
    idx = np.arange(10)
    assert dp.shard(idx) is idx


def test_sharding_splits_batches_evenly():
    dp = em.distribute.DataParallel()
    dp.rank, dp.size = 1, 3  # the arithmetic only, no collective
    share = dp.shard(np.arange(10))
    assert share.tolist() == [3, 4, 5] and dp._weight == pytest.approx(0.3)
    assert [len(np.arange(10)[(10 * r) // 3:(10 * (r + 1)) // 3]) for r in range(3)] == [3, 3, 4]


def test_bad_arguments():
    with pytest.raises(em.errors.InvalidArgumentError, match="bucket_bytes"):
        em.distribute.DataParallel(bucket_bytes=0)
    with pytest.raises(em.errors.InvalidArgumentError, match="set_distribution"):
        em.distribute.set_distribution("mirrored")
    with pytest.raises(em.errors.InvalidArgumentError, match="num_processes"):
        em.distribute.initialize(num_processes=4)


def test_thread_budget_from_the_launcher_environment(monkeypatch):
    from ember import config

    monkeypatch.setenv("MPI_LOCALNRANKS", "4")
    assert config.local_ranks_from_env() == 4
    monkeypatch.delenv("MPI_LOCALNRANKS")
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    assert config.local_ranks_from_env() == 2


def test_synchronized_batch_norm_uses_the_global_batch(tmp_path):
    # Dense -> BatchNormalization(synchronized=True) -> relu -> Dense. With synchronized
    # statistics, 2 ranks of 64 rows normalise exactly as one process of 128 does.
    r1, _ = _run(1, tmp_path / "one.npz", "--sync-bn", "--n", 2000)
    r2, _ = _run(2, tmp_path / "two.npz", "--sync-bn", "--n", 2000)
    assert r1.returncode == 0 and r2.returncode == 0, r2.stderr
    w1, w2 = _weights(tmp_path / "one.npz"), _weights(tmp_path / "two.npz")
    # [kernel, bias, gamma, beta, moving_mean, moving_variance, kernel, bias]. The first
    # Dense's bias has a gradient of exactly zero (batch norm subtracts the mean), so
    # Adam's steps on it are float noise: it is left out.
    for i in (0, 2, 3, 4, 5, 6, 7):
        a, b = w1[i], w2[i]
        # The global variance is E[x^2] - mean^2 from the summed moments, against the
        # one-process kernel's two-pass variance: agreement to 1e-4 of the scale.
        assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(a)), (i, np.max(np.abs(a - b)) / np.max(np.abs(a)))
    np.testing.assert_allclose(np.load(tmp_path / "two.npz")["losses"], np.load(tmp_path / "one.npz")["losses"],
                               rtol=1e-5, atol=1e-6)


def test_synchronized_batch_norm_alone_is_plain_batch_norm():
    # Outside a distributed fit synchronized=True changes nothing (as in Keras): accepted,
    # kept in the config, and the batch is normalised with its own statistics.
    import subprocess as sp

    code = (
        "import numpy as np, ember as em\n"
        "bn = em.layers.BatchNormalization(synchronized=True)\n"
        "x = em.tensor(np.arange(12, dtype='float32').reshape(6, 2))\n"
        "y = bn(x, training=True).numpy()\n"
        "print(abs(y.mean()) < 1e-5, bn.synchronized)\n"
    )
    out = sp.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_backup_and_restore_resumes_a_preempted_distributed_fit(tmp_path):
    # 2 epochs of 8 steps with dropout and a backup every 3 steps. The job is stopped
    # (every rank raises) at epoch 1, step 5, then rerun: rank 0 wrote the backup, every
    # rank restores it, and the final weights equal those of an uninterrupted 2-rank run.
    common = ("--n", 1000, "--epochs", 2, "--dropout")
    ref, _ = _run(2, tmp_path / "ref.npz", *common)
    assert ref.returncode == 0, ref.stderr
    backup = tmp_path / "backup"
    stopped, _ = _run(2, tmp_path / "x.npz", *common, "--backup", backup, "--interrupt-at", "1:5")
    assert stopped.returncode != 0 and "preempted at epoch 1 step 5" in stopped.stdout
    assert (backup / "latest.backup.zip").exists() and not (tmp_path / "x.npz").exists()
    resumed, _ = _run(2, tmp_path / "resumed.npz", *common, "--backup", backup)
    assert resumed.returncode == 0, resumed.stderr
    # it resumed (fewer steps than the 16 of a fresh run), and exactly
    assert int(np.load(tmp_path / "ref.npz")["steps"]) == 16
    assert 0 < int(np.load(tmp_path / "resumed.npz")["steps"]) < 16
    for a, b in zip(_weights(tmp_path / "ref.npz"), _weights(tmp_path / "resumed.npz")):
        np.testing.assert_array_equal(a, b)
    assert not backup.exists()  # deleted by rank 0 at the end of the finished fit
