"""The golden ``.keras`` file of format_version 1 (``tests/data/golden_v0_1.keras``,
written by ``scripts/make_golden_keras.py`` with Ember 0.1) must load and predict the
same in every later Ember: a failure here means a change broke users' saved models. Do
not regenerate the file to make this pass."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

import ember as em

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden_v0_1.keras"


def test_golden_file_records_its_format_version():
    with zipfile.ZipFile(GOLDEN) as zf:
        meta = json.loads(zf.read("metadata.json"))
    assert meta["format_version"] == 1 and meta["keras_version"].startswith("3.")
    assert em.saving.saving_lib.FORMAT_VERSION >= meta["format_version"]


def test_golden_file_loads_and_predicts_the_same():
    io = np.load(DATA / "golden_v0_1_io.npz", allow_pickle=False)
    model = em.models.load_model(GOLDEN)
    assert [i.name for i in model.inputs] == ["image", "seq"]
    y_reg, y_cls = model.predict([io["x_image"], io["x_seq"]], verbose=0)
    # a tolerance, not equality: faster kernels in later versions may round differently
    np.testing.assert_allclose(y_reg, io["y_reg"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_cls, io["y_cls"], rtol=1e-5, atol=1e-5)
    # its Adam state came back too (2 epochs of 2 batches), so training resumes from step 4
    assert model.optimizer.iterations == 4
    hist = model.fit([io["x_image"], io["x_seq"]], [io["t_reg"], io["t_cls"]], epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"][0]) and model.optimizer.iterations == 6


def test_a_newer_format_version_is_refused(tmp_path):
    bad = tmp_path / "future.keras"
    with zipfile.ZipFile(GOLDEN) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "metadata.json":
                data = json.dumps({**json.loads(data), "format_version": 99}).encode()
            zout.writestr(info.filename, data)
    try:
        em.models.load_model(bad)
    except em.errors.SerializationError as e:
        assert "format_version 99" in str(e) and "upgrade" in str(e)
    else:
        raise AssertionError("a file of a newer format_version loaded")
