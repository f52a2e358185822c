"""The public modules export only their API: ``__all__`` lists what exists, and ``dir()``
shows nothing else (no ``np``, ``math``, or the helpers a module imports for itself)."""

from __future__ import annotations

import importlib

import pytest

import ember as em

PUBLIC = ["ember", "ember.activations", "ember.autograd", "ember.callbacks", "ember.datasets", "ember.errors",
          "ember.initializers", "ember.layers", "ember.losses", "ember.metrics", "ember.models", "ember.ops",
          "ember.optimizers", "ember.optimizers.schedules", "ember.random", "ember.regularizers", "ember.saving",
          "ember.utils"]


@pytest.mark.parametrize("name", PUBLIC)
def test_module_exports_only_its_api(name):
    mod = importlib.import_module(name)
    assert isinstance(mod.__all__, list) and mod.__all__, f"{name} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names what does not exist: {missing}"
    extra = [n for n in dir(mod) if not n.startswith("__") and n not in mod.__all__]
    assert not extra, f"dir({name}) shows non-API names: {extra}"


def test_utils_shows_no_numpy():
    assert "np" not in dir(em.utils)
    assert {"to_categorical", "set_random_seed", "normalize"} <= set(dir(em.utils))


def test_top_level_names_the_device_and_doctor_api():
    for n in ("devices", "doctor", "__version__", "set_default_device", "device"):
        assert n in em.__all__
    assert em.__version__ == em._core.__version__
