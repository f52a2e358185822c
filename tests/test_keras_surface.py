"""docs/keras_compatibility.md is what scripts/keras_surface.py measures now: regenerated
against the installed Keras and compared with the committed page."""

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "keras_surface.py"


def _script():
    spec = importlib.util.spec_from_file_location("keras_surface", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _same_keras(ks):
    committed = ks.DOC.read_text()
    version_line = next(line for line in committed.splitlines() if line.startswith("Measured against Keras"))
    if version_line != f"Measured against Keras {keras.__version__}.":
        pytest.skip(f"the page was measured with another Keras ({version_line}); installed {keras.__version__}: "
                    "rerun python scripts/keras_surface.py")
    return committed


def test_committed_table_is_current():
    ks = _script()
    committed = _same_keras(ks)
    version, rows = ks.measure()
    assert ks.render(version, rows) == committed, "docs/keras_compatibility.md is stale: run python scripts/keras_surface.py"


def test_signature_rules():
    ks = _script()

    def k(x1, x2, axis=-1, **kwargs): ...
    def same(x1, x2, axis=-1, **kwargs): ...
    def extra(x1, x2, axis=-1, device=None, **kwargs): ...
    def renamed(a, b, axis=-1, **kwargs): ...
    def default(x1, x2, axis=0, **kwargs): ...
    def no_kwargs(x1, x2, axis=-1): ...
    def extra_required(x1, x2, axis=-1, *, device, **kwargs): ...

    assert ks.compare(k, same) == (True, "")
    assert ks.compare(k, extra)[0] and "device" in ks.compare(k, extra)[1]
    assert ks.compare(k, renamed) == (False, "parameter 1: Keras `x1`, Ember `a`")
    assert ks.compare(k, default) == (False, "`axis` default: Keras -1, Ember 0")
    assert ks.compare(k, no_kwargs) == (False, "no **kwargs")
    assert not ks.compare(k, extra_required)[0]
    assert ks.compare(lambda x=(1, 2): 0, lambda x=[1, 2]: 0)[0]  # lists and tuples compare by items
    assert ks.compare(lambda x=1e-7: 0, lambda x=1.0000000000001e-7: 0)[0]


def test_every_unsupported_name_has_a_reason_and_exists_in_keras():
    ks = _script()
    _same_keras(ks)
    for ns, names in ks.OUT.items():
        module = ks._module(keras, ns)
        for name, reason in names.items():
            assert reason.strip(), (ns, name)
            assert hasattr(module, name), f"keras.{ns}.{name} is listed as unsupported but Keras has no such name"
