"""Metrics added for the Keras guides: values against float64 numpy, on every backend."""

import numpy as np
import pytest

import ember as em

RNG = np.random.default_rng(0)
Y_TRUE = RNG.random((6, 4)).astype(np.float32) + 0.1
Y_PRED = RNG.random((6, 4)).astype(np.float32) + 0.1
LABELS = RNG.integers(0, 4, 6).astype(np.int32)
LOGITS = RNG.normal(size=(6, 4)).astype(np.float32)


def _run(metric, device, y_true, y_pred, batches=2):
    with em.device(device):
        for part in np.array_split(np.arange(len(y_true)), batches):
            metric.update_state(em.tensor(y_true[part]), em.tensor(y_pred[part]))
        return float(metric.result())


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("name,metric,y_true,y_pred,ref", [
    ("mape", lambda: em.metrics.MeanAbsolutePercentageError(), Y_TRUE, Y_PRED,
     lambda t, p: np.mean(100 * np.abs(t - p) / np.abs(t))),
    ("msle", lambda: em.metrics.MeanSquaredLogarithmicError(), Y_TRUE, Y_PRED,
     lambda t, p: np.mean((np.log1p(p) - np.log1p(t)) ** 2)),
    ("rmse", lambda: em.metrics.RootMeanSquaredError(), Y_TRUE, Y_PRED, lambda t, p: np.sqrt(np.mean((t - p) ** 2))),
    ("cce", lambda: em.metrics.CategoricalCrossentropy(from_logits=True), np.eye(4, dtype=np.float32)[LABELS], LOGITS,
     lambda t, p: np.mean(-np.log(_softmax(p.astype(np.float64))[np.arange(6), LABELS]))),
    ("scce", lambda: em.metrics.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS,
     lambda t, p: np.mean(-np.log(_softmax(p.astype(np.float64))[np.arange(6), LABELS]))),
    ("top2", lambda: em.metrics.SparseTopKCategoricalAccuracy(k=2), LABELS, LOGITS,
     lambda t, p: np.mean([(p[i] > p[i, int(t[i])]).sum() < 2 for i in range(6)])),
    ("top1-onehot", lambda: em.metrics.TopKCategoricalAccuracy(k=1), np.eye(4, dtype=np.float32)[LABELS], LOGITS,
     lambda t, p: np.mean(p.argmax(1) == t.argmax(1))),
])
def test_metric_against_numpy(backend_name, name, metric, y_true, y_pred, ref):
    got = _run(metric(), backend_name, y_true, y_pred)
    np.testing.assert_allclose(got, ref(y_true.astype(np.float64), y_pred.astype(np.float64)), rtol=1e-5)


def test_sum_and_reset(backend_name):
    m = em.metrics.Sum()
    with em.device(backend_name):
        m.update_state(em.tensor([1.0, 2.0]))
        m.update_state(em.tensor([3.0]), sample_weight=2.0)
    assert float(m.result()) == 9.0
    m.reset_state()
    assert float(m.result()) == 0.0


def test_string_names_resolve_in_compile():
    model = em.Sequential([em.Input((3,)), em.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mape", "msle", em.metrics.RootMeanSquaredError()])
    logs = model.evaluate(np.ones((4, 3)), np.ones((4, 1)), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mape", "msle", "root_mean_squared_error"}
