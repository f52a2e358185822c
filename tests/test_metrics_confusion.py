"""The confusion-matrix, IoU, R2 and per-sample metric families: worked examples against
float64 numpy definitions, and real Keras 3 values, streamed over several batches on every
backend; on the GPU the updates never read the device back."""

import os
import warnings

import numpy as np
import pytest

import ember as em
from conftest import GPU_UNAVAILABLE

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(7)
N = 48
Y_BIN = RNG.integers(0, 2, N).astype(np.float32)
P_BIN = RNG.random(N).astype(np.float32)
W = RNG.integers(0, 3, N).astype(np.float32)  # integer weights: Keras's int IoU matrix agrees
Y_ML = RNG.integers(0, 2, (N, 3)).astype(np.float32)
P_ML = RNG.random((N, 3)).astype(np.float32)
LAB = RNG.integers(0, 4, N).astype(np.int32)
PRED_LAB = np.where(RNG.random(N) < 0.6, LAB, RNG.integers(0, 4, N)).astype(np.int32)
SCORES = RNG.random((N, 4)).astype(np.float32)
ONEHOT = np.eye(4, dtype=np.float32)[LAB]
REG_T = RNG.normal(size=(N, 3)).astype(np.float32)
REG_P = (REG_T + 0.5 * RNG.normal(size=(N, 3))).astype(np.float32)
POS_T = RNG.random((N, 3)).astype(np.float32) + 0.05
POS_P = RNG.random((N, 3)).astype(np.float32) + 0.05


def _stream(metric, device, y_true, y_pred, sw=None, batches=3):
    with em.device(device):
        for part in np.array_split(np.arange(len(y_true)), batches):
            metric.update_state(em.tensor(y_true[part]), em.tensor(y_pred[part]),
                                None if sw is None else em.tensor(sw[part]))
        return np.asarray(metric.result().numpy(), np.float64)


_KERAS_VALUES: dict = {}


def _keras_stream(label, metric, y_true, y_pred, sw=None, batches=3):
    """Keras's value, computed once per case (both backends compare against it)."""
    if label not in _KERAS_VALUES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jax's int64 -> int32 notice for Keras's int IoU matrix
            for part in np.array_split(np.arange(len(y_true)), batches):
                metric.update_state(y_true[part], y_pred[part], None if sw is None else sw[part])
            _KERAS_VALUES[label] = np.asarray(metric.result(), np.float64)
    return _KERAS_VALUES[label]


# (label, Ember/Keras constructor name, kwargs, data, with sample weights)
CASES = [
    ("tp", "TruePositives", {"thresholds": [0.2, 0.5, 0.8]}, (Y_BIN, P_BIN), True),
    ("fp", "FalsePositives", {}, (Y_BIN, P_BIN), True),
    ("tn", "TrueNegatives", {"thresholds": 0.3}, (Y_BIN, P_BIN), False),
    ("fn", "FalseNegatives", {}, (Y_BIN, P_BIN), True),
    ("precision", "Precision", {}, (Y_BIN, P_BIN), True),
    ("precision-thr", "Precision", {"thresholds": [0.1, 0.6]}, (Y_BIN, P_BIN), False),
    ("precision-topk", "Precision", {"top_k": 2}, (Y_ML, P_ML), False),
    ("precision-class", "Precision", {"class_id": 1}, (Y_ML, P_ML), True),
    ("recall", "Recall", {}, (Y_BIN, P_BIN), True),
    ("recall-topk", "Recall", {"top_k": 1}, (Y_ML, P_ML), False),
    ("auc-roc", "AUC", {}, (Y_BIN, P_BIN), True),
    ("auc-roc-50", "AUC", {"num_thresholds": 50, "summation_method": "minoring"}, (Y_BIN, P_BIN), False),
    ("auc-pr", "AUC", {"curve": "PR"}, (Y_BIN, P_BIN), True),
    ("auc-pr-majoring", "AUC", {"curve": "PR", "summation_method": "majoring"}, (Y_BIN, P_BIN), False),
    ("auc-prgain", "AUC", {"curve": "PRGAIN", "num_thresholds": 20}, (Y_BIN, P_BIN), False),
    ("auc-thresholds", "AUC", {"thresholds": [0.25, 0.5, 0.75]}, (Y_BIN, P_BIN), False),
    ("auc-multilabel", "AUC", {"multi_label": True, "num_labels": 3}, (Y_ML, P_ML), False),
    ("auc-labelweights", "AUC", {"multi_label": True, "label_weights": [1.0, 2.0, 0.5]}, (Y_ML, P_ML), False),
    ("auc-logits", "AUC", {"from_logits": True}, (Y_BIN, (P_BIN - 0.5) * 6), False),
    ("sens@spec", "SensitivityAtSpecificity", {"specificity": 0.6}, (Y_BIN, P_BIN), True),
    ("spec@sens", "SpecificityAtSensitivity", {"sensitivity": 0.7, "num_thresholds": 40}, (Y_BIN, P_BIN), False),
    ("prec@rec", "PrecisionAtRecall", {"recall": 0.5}, (Y_BIN, P_BIN), False),
    ("rec@prec", "RecallAtPrecision", {"precision": 0.55, "class_id": 2}, (Y_ML, P_ML), False),
    ("f1", "F1Score", {}, (ONEHOT, SCORES), False),
    ("f1-micro", "F1Score", {"average": "micro", "threshold": 0.5}, (Y_ML, P_ML), True),
    ("fbeta-macro", "FBetaScore", {"average": "macro", "beta": 2.0, "threshold": 0.4}, (Y_ML, P_ML), False),
    ("fbeta-weighted", "FBetaScore", {"average": "weighted", "beta": 0.5}, (ONEHOT, SCORES), True),
    ("iou", "IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, (LAB, PRED_LAB), True),
    ("iou-ignore", "MeanIoU", {"num_classes": 4, "ignore_class": 1}, (LAB, PRED_LAB), False),
    ("mean-iou", "MeanIoU", {"num_classes": 4}, (LAB, PRED_LAB), True),
    ("binary-iou", "BinaryIoU", {"threshold": 0.4}, (Y_BIN, P_BIN), True),
    ("onehot-iou", "OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, (ONEHOT, SCORES), False),
    ("onehot-mean-iou", "OneHotMeanIoU", {"num_classes": 4}, (ONEHOT, SCORES), False),
    ("r2", "R2Score", {}, (REG_T, REG_P), False),
    ("r2-weighted", "R2Score", {"class_aggregation": "variance_weighted_average"}, (REG_T, REG_P), True),
    ("r2-raw-adjusted", "R2Score", {"class_aggregation": None, "num_regressors": 2}, (REG_T, REG_P), False),
    ("cosine", "CosineSimilarity", {}, (REG_T, REG_P), True),
    ("logcosh", "LogCoshError", {}, (REG_T, REG_P), False),
    ("poisson", "Poisson", {}, (POS_T, POS_P), True),
    ("kld", "KLDivergence", {}, (POS_T, POS_P), False),
    ("hinge", "Hinge", {}, (Y_ML, P_ML), False),
    ("squared-hinge", "SquaredHinge", {}, (Y_ML, P_ML), True),
    ("categorical-hinge", "CategoricalHinge", {}, (ONEHOT, SCORES), False),
    ("pearson", "PearsonCorrelation", {}, (REG_T, REG_P), False),
    ("concordance", "ConcordanceCorrelation", {}, (REG_T, REG_P), False),
]


# The GPU runs one case of each family (lavapipe's dispatches are slow; the ops are shared).
GPU_CASES = [c for c in CASES if c[0] in ("tp", "precision-topk", "recall", "auc-roc", "auc-pr", "auc-multilabel",
                                          "sens@spec", "f1", "fbeta-weighted", "iou", "r2-weighted", "pearson")]


@pytest.mark.parametrize("label,cls,kwargs,data,weighted", CASES, ids=[c[0] for c in CASES])
def test_streamed_against_keras(label, cls, kwargs, data, weighted):
    _check_against_keras("cpu", label, cls, kwargs, data, weighted)


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
@pytest.mark.parametrize("label,cls,kwargs,data,weighted", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_streamed_against_keras_on_gpu(label, cls, kwargs, data, weighted):
    _check_against_keras("gpu", label, cls, kwargs, data, weighted)


def _check_against_keras(backend_name, label, cls, kwargs, data, weighted):
    y_true, y_pred = data
    sw = W if weighted else None
    got = _stream(getattr(em.metrics, cls)(**kwargs), backend_name, y_true, y_pred, sw)
    ksw = sw.astype(np.int32) if sw is not None and "IoU" in cls else sw  # Keras's IoU matrix is int
    want = _keras_stream(label, getattr(keras.metrics, cls)(**kwargs), y_true, y_pred, ksw)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def _np_counts(y, p, thresholds, w=None):
    w = np.ones_like(y, np.float64) if w is None else w.astype(np.float64)
    out = {k: [] for k in ("tp", "fp", "tn", "fn")}
    for t in thresholds:
        pos, pred = y != 0, p > t
        out["tp"].append((w * (pos & pred)).sum())
        out["fp"].append((w * (~pos & pred)).sum())
        out["tn"].append((w * (~pos & ~pred)).sum())
        out["fn"].append((w * (pos & ~pred)).sum())
    return {k: np.array(v) for k, v in out.items()}


def test_counts_precision_recall_against_a_float64_loop():
    thr = [0.0, 0.25, 0.5, 0.9]
    c = _np_counts(Y_BIN, P_BIN, thr, W)
    for cls, key in (("TruePositives", "tp"), ("FalsePositives", "fp"), ("TrueNegatives", "tn"),
                     ("FalseNegatives", "fn")):
        np.testing.assert_allclose(_stream(getattr(em.metrics, cls)(thresholds=thr), "cpu", Y_BIN, P_BIN, W), c[key])
    prec = c["tp"] / (c["tp"] + c["fp"])
    rec = c["tp"] / (c["tp"] + c["fn"])
    np.testing.assert_allclose(_stream(em.metrics.Precision(thresholds=thr), "cpu", Y_BIN, P_BIN, W), prec, rtol=1e-6)
    np.testing.assert_allclose(_stream(em.metrics.Recall(thresholds=thr), "cpu", Y_BIN, P_BIN, W), rec, rtol=1e-6)


def test_auc_roc_against_the_riemann_sum_and_the_exact_rank_statistic():
    n_thr = 200
    thr = [-1e-7] + [(i + 1) / (n_thr - 1) for i in range(n_thr - 2)] + [1 + 1e-7]
    c = _np_counts(Y_BIN, P_BIN, thr)
    tpr, fpr = c["tp"] / (c["tp"] + c["fn"]), c["fp"] / (c["fp"] + c["tn"])
    ref = np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    got = _stream(em.metrics.AUC(), "cpu", Y_BIN, P_BIN)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    # With 200 thresholds the sum is close to the exact area (Mann-Whitney statistic).
    pos, neg = P_BIN[Y_BIN == 1], P_BIN[Y_BIN == 0]
    exact = np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :])
    assert abs(got - exact) < 0.02


def test_iou_confusion_matrix_by_hand():
    # cm rows = true, cols = pred; [[1, 1], [1, 1]] -> IoU 1/3 for each class.
    m = em.metrics.IoU(num_classes=2, target_class_ids=[0])
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert abs(float(m.result()) - 1 / 3) < 1e-6
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])  # float weights: kept exactly
    np.testing.assert_allclose(np.asarray(m.total_cm.numpy()), [[0.3, 0.3], [0.3, 0.1]], rtol=1e-6)
    assert abs(float(m.result()) - 0.3 / 0.9) < 1e-6


def test_reset_state_and_config_round_trip():
    m = em.metrics.AUC(curve="PR", num_thresholds=11)
    m.update_state(Y_BIN, P_BIN)
    m.reset_state()
    assert float(m.result()) == 0.0
    for metric in (em.metrics.AUC(curve="PR", thresholds=[0.3, 0.6]), em.metrics.Precision(top_k=2, class_id=1),
                   em.metrics.F1Score(average="macro"), em.metrics.MeanIoU(num_classes=3),
                   em.metrics.PrecisionAtRecall(0.4), em.metrics.R2Score(num_regressors=1)):
        clone = type(metric).from_config(metric.get_config())
        assert clone.get_config() == metric.get_config()
        kcfg = type(getattr(keras.metrics, type(metric).__name__)(**_ctor_args(metric))).__name__
        assert kcfg == type(metric).__name__
    assert em.metrics.get("auc").name == "auc" and em.metrics.TruePositives().name == "true_positives"
    assert em.metrics.PrecisionAtRecall(0.5).name == "precision_at_recall"  # Keras: the same, made unique


def _ctor_args(metric):
    return {k: v for k, v in metric.get_config().items() if k not in ("name", "dtype")}


def test_bad_arguments_raise():
    with pytest.raises(em.errors.InvalidArgumentError, match="thresholds"):
        em.metrics.Precision(thresholds=1.5)
    with pytest.raises(em.errors.InvalidArgumentError, match="num_thresholds"):
        em.metrics.AUC(num_thresholds=1)
    with pytest.raises(em.errors.InvalidArgumentError, match="curve"):
        em.metrics.AUC(curve="XY")
    with pytest.raises(em.errors.InvalidArgumentError, match="target class ids"):
        em.metrics.IoU(num_classes=2, target_class_ids=[2])
    with pytest.raises(em.errors.ShapeError, match="Precision"):
        em.metrics.Precision().update_state(np.zeros(3), np.zeros(4))


def test_in_fit_with_compile_names():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = em.Sequential([em.Input((4,)), em.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[em.metrics.AUC(), em.metrics.Precision(), "recall"])
    hist = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert {"auc", "precision", "recall"} <= set(hist.history)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0]
    ref = keras.metrics.AUC()
    ref.update_state(y, p)
    assert abs(logs["auc"] - float(ref.result())) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_gpu_updates_never_read_back():
    rt = em.backend.get_backend("gpu").rt
    metrics = [em.metrics.AUC(), em.metrics.Precision(), em.metrics.F1Score(), em.metrics.MeanIoU(num_classes=4),
               em.metrics.R2Score()]
    data = [(Y_BIN, P_BIN), (Y_BIN, P_BIN), (ONEHOT, SCORES), (LAB, PRED_LAB), (REG_T, REG_P)]
    with em.device("gpu"):
        tensors = [(em.tensor(t), em.tensor(p)) for t, p in data]
        for m, (t, p) in zip(metrics, tensors):
            m.update_state(t, p)  # first batch: state moves to the device
        float(metrics[0].result())
        reads = rt.readbacks
        for _ in range(3):
            for m, (t, p) in zip(metrics, tensors):
                m.update_state(t, p)
        assert rt.readbacks == reads
