"""Each way the GPU can be missing raises BackendUnavailableError naming what to install,
when the GPU is asked for and never at ``import ember``; `ember.devices()` and
`ember.doctor()` describe the machine; a software adapter warns once; Mesa's stderr noise
stays out of the terminal. Each case runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import GPU_UNAVAILABLE

gpu = [pytest.mark.gpu, pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))]

# Hides wgpu from the interpreter as a machine without it would (import raises ImportError).
NO_WGPU = "import sys; sys.modules['wgpu'] = None\n"
ASK_FOR_GPU = """
import ember as em
print("IMPORTED", em.get_default_device())
try:
    em.tensor([1.0], device="gpu")
except em.errors.BackendUnavailableError as e:
    print("RAISED", e)
"""
# A machine whose Vulkan loader finds no driver.
NO_DRIVER = {"VK_ICD_FILENAMES": "/nonexistent/icd.json", "VK_DRIVER_FILES": "/nonexistent/icd.json"}


def _run(code: str, no_wgpu: bool = False, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    if "EMBER_DEVICE" not in env:
        full_env.pop("EMBER_DEVICE", None)
    source = (NO_WGPU if no_wgpu else "") + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300, env=full_env)


def test_without_wgpu_the_gpu_raises_naming_pip_install():
    r = _run(ASK_FOR_GPU, no_wgpu=True)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED cpu" in r.stdout
    assert "RAISED gpu: the GPU backend needs wgpu-py" in r.stdout and "`pip install wgpu`" in r.stdout, r.stdout


def test_without_wgpu_ember_device_gpu_still_imports_and_raises_at_first_use():
    r = _run("""
        import ember as em
        print("IMPORTED", em.get_default_device())
        try:
            em.ones((2, 2))
        except em.errors.BackendUnavailableError as e:
            print("RAISED", e)
        try:
            em.Sequential([em.Input((3,)), em.layers.Dense(2)])
        except em.errors.BackendUnavailableError as e:
            print("MODEL RAISED", "pip install wgpu" in str(e))
        em.set_default_device("cpu")
        print("CPU", em.ones((2,)).numpy().tolist())
        """, no_wgpu=True, EMBER_DEVICE="gpu")
    assert r.returncode == 0, r.stderr
    assert "IMPORTED gpu" in r.stdout and "ModuleNotFoundError" not in r.stderr
    assert "RAISED gpu: the GPU backend needs wgpu-py" in r.stdout and "pip install wgpu" in r.stdout
    assert "MODEL RAISED True" in r.stdout
    assert "CPU [1.0, 1.0]" in r.stdout


def test_ember_device_gpu_runs_the_example_script_with_a_clear_error_without_wgpu(tmp_path):
    script = tmp_path / "uses_gpu.py"
    script.write_text("import ember as em\nprint(em.ones((2,)).numpy())\n")
    hook = tmp_path / "sitecustomize.py"
    hook.write_text(NO_WGPU)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "EMBER_DEVICE": "gpu", "PYTHONPATH": str(tmp_path)})
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ember.errors.BackendUnavailableError: gpu: the GPU backend needs wgpu-py"), r.stderr
    assert "pip install wgpu" in last


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Vulkan driver search is Linux's")
def test_without_a_vulkan_driver_the_gpu_raises_naming_the_driver_package():
    pytest.importorskip("wgpu")
    r = _run(ASK_FOR_GPU, **NO_DRIVER)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED cpu" in r.stdout
    assert "RAISED gpu: no Vulkan driver is installed" in r.stdout, r.stdout
    assert "apt-get install mesa-vulkan-drivers" in r.stdout
    # wgpu's OpenGL fallback (if any) is named, not silently used
    assert "XDG_RUNTIME_DIR" not in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Vulkan driver search is Linux's")
def test_without_a_driver_and_gpu_by_environment_import_still_works():
    pytest.importorskip("wgpu")
    r = _run(ASK_FOR_GPU, EMBER_DEVICE="gpu", **NO_DRIVER)
    assert "IMPORTED gpu" in r.stdout and "RAISED gpu: no Vulkan driver is installed" in r.stdout, r.stdout + r.stderr


def test_devices_and_doctor_without_wgpu():
    r = _run("""
        import ember as em
        ds = em.devices()
        print("DEVICES", [d.device for d in ds])
        em.doctor()
        """, no_wgpu=True)
    assert r.returncode == 0, r.stderr
    assert "DEVICES ['cpu']" in r.stdout
    assert "wgpu not installed" in r.stdout
    assert "GPU: unavailable. gpu: the GPU backend needs wgpu-py" in r.stdout
    assert "features the Rust core detected:" in r.stdout and "GEMM kernels:" in r.stdout


def test_python_m_ember_prints_the_doctor_report():
    r = subprocess.run([sys.executable, "-m", "ember"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    import ember as em
    import numpy as np

    assert r.stdout.startswith(f"Ember {em.__version__} ")
    assert f"numpy {np.__version__}" in r.stdout
    assert "Devices:\n  cpu: " in r.stdout
    assert "XDG_RUNTIME_DIR" not in r.stderr


@pytest.mark.parametrize("m", [0])
@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_devices_describe_the_adapters(m):
    import ember as em

    ds = em.devices()
    assert ds[0].device == "cpu" and ds[0].limits["threads"] >= 1
    gpus = [d for d in ds if d.device == "gpu"]
    assert gpus, ds
    chosen = [d for d in gpus if d.selected]
    assert len(chosen) == 1
    d = chosen[0]
    assert d.backend in ("Vulkan", "Metal", "D3D12") and d.name
    assert d.limits["max_storage_buffer_binding_size"] > 0 and d.limits["max_buffer_size"] > 0
    assert isinstance(d.software, bool)
    assert d.name in str(d) and d.backend in str(d)


@pytest.mark.parametrize("m", [0])
@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_gpu_run_is_quiet_and_a_software_adapter_warns_once(m):
    r = _run("""
        import warnings
        warnings.simplefilter("always")
        import ember as em
        a = em.tensor([1.0, 2.0], device="gpu")
        b = em.tensor([3.0], device="gpu")
        em.ops.relu(a).numpy()
        print("SOFTWARE", [d.software for d in em.devices() if d.selected and d.device == "gpu"][0])
        """)
    assert r.returncode == 0, r.stderr
    assert "XDG_RUNTIME_DIR" not in r.stderr
    software = r.stdout.split("SOFTWARE ")[1].strip() == "True"
    assert r.stderr.count("SoftwareRendererWarning") == (1 if software else 0), r.stderr
    if software:
        assert "software renderer" in r.stderr and "slower" in r.stderr


def test_native_stderr_filter_drops_known_noise_and_keeps_the_rest():
    r = _run("""
        import os
        from ember.backend.webgpu.adapters import quiet_native_stderr
        with quiet_native_stderr():
            os.write(2, b"error: XDG_RUNTIME_DIR is invalid or not set in the environment.\\n")
            os.write(2, b"a real driver error\\n")
        os.write(2, b"after\\n")
        """)
    assert r.returncode == 0
    assert "XDG_RUNTIME_DIR" not in r.stderr
    assert r.stderr.splitlines() == ["a real driver error", "after"]


def _fake_adapter(name, adapter_type="DiscreteGPU", software=False, note=""):
    from ember.backend.webgpu.adapters import AdapterInfo

    return AdapterInfo(device="gpu", name=name, backend="Vulkan", adapter_type=adapter_type, software=software,
                       note=note)


def test_each_local_rank_takes_its_own_adapter(monkeypatch):
    """Several equally good adapters (a multi-GPU machine): EMBER_GPU_ADAPTER, or the local
    rank under an MPI launcher with several local ranks, picks among them (modulo their
    count); worse ones (integrated, software, unusable) are never picked that way."""
    from ember.backend.webgpu import adapters

    found = [_fake_adapter("llvmpipe", "CPU", software=True), _fake_adapter("gpu0"),
             _fake_adapter("igpu", "IntegratedGPU"), _fake_adapter("gpu1"), _fake_adapter("broken", note="no f32")]
    assert [found[adapters._pick(found, i)].name for i in (None, 0, 1, 2, 3)] == ["gpu0", "gpu0", "gpu1", "gpu0", "gpu1"]
    for var in ("MPI_LOCALNRANKS", "MPI_LOCALRANKID", "EMBER_GPU_ADAPTER", "OMPI_COMM_WORLD_LOCAL_SIZE",
                "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_NTASKS_PER_NODE", "SLURM_LOCALID"):
        monkeypatch.delenv(var, raising=False)
    assert adapters._adapter_index() is None
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    monkeypatch.setenv("MPI_LOCALRANKID", "1")
    assert adapters._adapter_index() == 1
    monkeypatch.setenv("EMBER_GPU_ADAPTER", "0")
    assert adapters._adapter_index() == 0
    monkeypatch.setenv("EMBER_GPU_ADAPTER", "first")
    from ember.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="EMBER_GPU_ADAPTER"):
        adapters._adapter_index()
