"""numpy-style Tensor methods and keywords (``t.mean(axis=0, keepdims=True, dtype=...)``)
against numpy, on every backend; arguments Ember cannot honour raise."""

import numpy as np
import pytest

import ember as em

A = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)

CASES = [
    ("sum", {"axis": 0, "keepdims": True}), ("sum", {"dtype": "float32", "initial": 2.0}), ("mean", {"axis": (0, 1)}),
    ("mean", {"axis": 1, "dtype": "float32", "keepdims": True}), ("max", {"axis": 1, "initial": 0.5}),
    ("min", {"keepdims": True, "axis": 0}), ("prod", {"axis": 0}), ("var", {"axis": 1, "ddof": 1}),
    ("std", {"ddof": 1}), ("std", {"axis": 0, "keepdims": True}), ("any", {"axis": 0}), ("all", {}),
    ("argmax", {"axis": 0}), ("argmin", {"axis": 1, "keepdims": True}), ("argmax", {"axis": None}),
    ("cumsum", {"axis": 1}), ("cumprod", {"axis": 0}), ("clip", {"min": -0.5, "max": 0.5}), ("round", {"decimals": 1}),
    ("flatten", {}), ("ravel", {}), ("copy", {}),
]


@pytest.mark.parametrize("method,kwargs", CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CASES)])
def test_against_numpy(backend_name, method, kwargs):
    t = em.tensor(A, device=backend_name)
    got = np.asarray(getattr(t, method)(**kwargs).numpy(), np.float64)
    ref = getattr(A.astype(np.float64), method)(**{k: v for k, v in kwargs.items() if k != "dtype"})
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_shape_methods_and_dtypes():
    t = em.tensor(A)
    assert t.transpose().shape == (4, 3) and t.transpose(1, 0).shape == (4, 3) and t.transpose((1, 0)).shape == (4, 3)
    assert em.tensor(A[:1]).squeeze().shape == (4,) and em.tensor(A[:1]).squeeze(0).shape == (4,)
    assert t.swapaxes(0, 1).shape == (4, 3)
    assert t.sum(dtype="int32").dtype == "int32"
    labels = em.tensor(np.array([1, 0, 1], np.int32))
    assert abs(float(labels.mean(dtype="float32")) - 2 / 3) < 1e-6
    with pytest.raises(NotImplementedError, match="float64"):
        t.mean(dtype="float64")
    with pytest.raises(NotImplementedError, match="out="):
        t.sum(out=np.zeros(()))
    with pytest.raises(NotImplementedError, match="where"):
        t.mean(where=A > 0)
