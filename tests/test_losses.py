"""The loss catalogue on every backend (cpu and gpu).

* every case of golden.json's ``losses`` section: per-sample values, the reduced value
  and the gradient of the reduced value;
* every loss (and its variants: logits, label smoothing, axis, delta, ignore_class) on
  random inputs against a float64 numpy reference of the Keras 3 formula, and its
  y_pred gradient against central finite differences of that reference;
* the Keras reductions with ``sample_weight``, ``ignore_class`` masking, lookup by name,
  ``get_config``/``from_config``/``serialize``/``deserialize``, bad configurations, and
  ``sample_weight`` in ``Model.fit``/``evaluate``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import ember as em
from ember import losses as L
from ember.errors import InvalidArgumentError, ShapeError

EPS = 1e-7
GOLDEN_TOL = dict(rtol=1e-5, atol=1e-6)  # golden.json's stated float32 tolerance
FWD_TOL = dict(rtol=1e-5, atol=1e-6)
GRAD_TOL = dict(rtol=1e-4, atol=1e-6)


def close(actual, expected, what="", **tol):
    tol = tol or FWD_TOL
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               err_msg=what, **tol)


def to_np(t) -> np.ndarray:
    return np.array(t.numpy() if isinstance(t, em.Tensor) else t, dtype=np.float64)


def value_and_grad(loss, y_true, y_pred: np.ndarray, device: str, sample_weight=None):
    """The reduced loss and its gradient w.r.t. y_pred, computed on ``device``."""
    yt = em.tensor(y_true, device=device)
    yp = em.tensor(y_pred.astype(np.float32), device=device, requires_grad=True)
    out = loss(yt, yp, sample_weight=sample_weight)
    assert out.device == device
    out.backward()
    assert yp.grad is not None, "no gradient reached y_pred"
    assert yp.grad.device == device
    return float(out.numpy()), to_np(yp.grad)


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences in float64 (f returns a scalar)."""
    x = x.astype(np.float64).copy()
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        hi = float(f(x))
        flat[k] = old - eps
        lo = float(f(x))
        flat[k] = old
        gflat[k] = (hi - lo) / (2 * eps)
    return g


# ---------------------------------------------------------------------------------------------
# float64 references (Keras 3 formulas)
# ---------------------------------------------------------------------------------------------

def r_mse(t, p):
    return np.mean((p - t) ** 2, axis=-1)


def r_mae(t, p):
    return np.mean(np.abs(p - t), axis=-1)


def r_mape(t, p):
    return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1)


def r_msle(t, p):
    return np.mean((np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)) ** 2, axis=-1)


def r_huber(t, p, delta=1.0):
    x = np.abs(p - t)
    return np.mean(np.where(x <= delta, 0.5 * x**2, delta * x - 0.5 * delta**2), axis=-1)


def r_log_cosh(t, p):
    return np.mean(np.log(np.cosh(p - t)), axis=-1)


def r_bce(t, p, from_logits=False, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-p))
    p = np.clip(p, EPS, 1 - EPS)
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p), axis=-1)


def r_cce(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    t = t * (1 - label_smoothing) + label_smoothing / t.shape[axis]
    if from_logits:
        z = p - p.max(axis=axis, keepdims=True)
        return -np.sum(t * (z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))), axis=axis)
    p = np.clip(p / p.sum(axis=axis, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(p), axis=axis)


def r_scce(t, p, from_logits=False, ignore_class=None):
    t = np.asarray(t)
    keep = np.ones(t.shape, bool) if ignore_class is None else t != ignore_class
    onehot = np.eye(p.shape[-1])[np.where(keep, t, 0)]
    return np.where(keep, r_cce(onehot, p, from_logits), 0.0)


def _hinge_t(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def r_hinge(t, p):
    return np.mean(np.maximum(1 - _hinge_t(t) * p, 0), axis=-1)


def r_squared_hinge(t, p):
    return np.mean(np.maximum(1 - _hinge_t(t) * p, 0) ** 2, axis=-1)


def r_categorical_hinge(t, p):
    pos = np.sum(t * p, axis=-1)
    neg = np.max((1 - t) * p, axis=-1)
    return np.maximum(neg - pos + 1, 0)


def r_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), axis=-1)


def r_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def r_cosine(t, p, axis=-1):
    def norm(x):
        return x / np.maximum(np.sqrt(np.sum(x**2, axis=axis, keepdims=True)), EPS)

    return -np.sum(norm(t) * norm(p), axis=axis)


# ---------------------------------------------------------------------------------------------
# random inputs kept away from kinks (so finite differences are meaningful)
# ---------------------------------------------------------------------------------------------

def _signed(rng, shape, lo, hi):
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def g_regression(rng, shape=(4, 5)):
    t = rng.uniform(-2, 2, shape)
    return t, t + _signed(rng, shape, 0.2, 2.0)


def g_huber(delta):
    def gen(rng, shape=(4, 5)):
        t = rng.uniform(-2, 2, shape)
        mag = rng.uniform(0.05, 2.5 * delta, shape)
        mag = np.where(np.abs(mag - delta) < 0.05 * delta, mag + 0.2 * delta, mag)
        return t, t + mag * rng.choice([-1.0, 1.0], shape)
    return gen


def g_mape(rng, shape=(4, 5)):
    t = _signed(rng, shape, 0.5, 2.0)
    return t, t + _signed(rng, shape, 0.1, 1.0)


def g_msle(rng, shape=(4, 5)):
    t = rng.uniform(0.0, 3.0, shape)
    p = rng.uniform(0.1, 3.0, shape)
    p[0, :2] = [-0.5, -1.5]  # clipped to eps: zero gradient, as max() has
    t[1, :2] = [-1.0, 0.0]
    return t, p


def g_binary_probs(rng, shape=(4, 5)):
    t = rng.integers(0, 2, shape).astype(np.float64)
    t[-1] = rng.uniform(0, 1, shape[-1])  # soft targets too
    return t, rng.uniform(0.05, 0.95, shape)


def g_binary_logits(rng, shape=(4, 5)):
    t = rng.integers(0, 2, shape).astype(np.float64)
    return t, rng.normal(0, 3, shape)


def g_onehot_probs(rng, shape=(4, 5)):
    t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    return t, rng.uniform(0.1, 1.0, shape)  # rows do not sum to 1: the loss renormalises


def g_onehot_logits(rng, shape=(4, 5)):
    t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    t[0] = rng.dirichlet(np.ones(shape[-1]))  # a soft row
    return t, rng.normal(0, 2, shape)


def g_sparse_probs(rng, shape=(6, 4)):
    return rng.integers(0, shape[-1], shape[:-1]).astype(np.int32), rng.uniform(0.1, 1.0, shape)


def g_sparse_logits(rng, shape=(6, 4)):
    return rng.integers(0, shape[-1], shape[:-1]).astype(np.int32), rng.normal(0, 2, shape)


def g_sparse_ignore(rng, shape=(8, 4)):
    t = rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)
    t[[1, 4, 5]] = -1
    return t, rng.uniform(0.1, 1.0, shape)


def g_sparse_ignore_logits_3d(rng, shape=(3, 5, 4)):
    t = rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)
    t[0, 3:] = 2  # ignore_class=2, a valid class index
    t[2, 0] = 2
    return t, rng.normal(0, 2, shape)


def _away_from_hinge_kink(t, p):
    m = 1 - _hinge_t(t) * p
    return np.where(np.abs(m) < 0.05, p + 0.2 * np.sign(p + 1e-3), p)


def g_hinge_pm1(rng, shape=(4, 5)):
    t = rng.choice([-1.0, 1.0], shape)
    p = rng.normal(0, 1.5, shape)
    return t, _away_from_hinge_kink(t, p)


def g_hinge_01(rng, shape=(4, 5)):
    t = rng.integers(0, 2, shape).astype(np.float64)
    p = rng.normal(0, 1.5, shape)
    return t, _away_from_hinge_kink(t, p)


def g_hinge_other(rng, shape=(4, 5)):
    t = rng.choice([0.0, 1.0, 0.5], shape)  # not all in {0, 1}: labels used unchanged
    t[0, 0] = 0.5
    p = rng.normal(0, 1.5, shape)
    return t, _away_from_hinge_kink(t, p)


def g_categorical_hinge(rng, shape=(6, 4)):
    t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    while True:
        p = rng.normal(0, 1, shape)
        q = (1 - t) * p
        top2 = np.sort(q, axis=-1)[:, -2:]
        if np.all(top2[:, 1] - top2[:, 0] > 0.05) and np.all(np.abs(np.max(q, -1) - np.sum(t * p, -1) + 1) > 0.05):
            return t, p


def g_kld(rng, shape=(4, 5)):
    t = rng.dirichlet(np.ones(shape[-1]), shape[0])
    t[0, 0] = 0.0  # clipped to eps
    return t, rng.uniform(0.05, 0.95, shape)


def g_poisson(rng, shape=(4, 5)):
    return rng.integers(0, 5, shape).astype(np.float64), rng.uniform(0.2, 4.0, shape)


def g_cosine(rng, shape=(4, 5)):
    return rng.normal(0, 1, shape), rng.normal(0, 1, shape)


def g_3d(gen, shape):
    return lambda rng: gen(rng, shape)


# id -> (make loss object, per-sample float64 reference, input generator)

# -- the losses issue 15 added (Keras 3's formulas) -------------------------------------------------

def r_bfce(t, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-p))
    pc = np.clip(p, EPS, 1 - EPS)
    bce = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        out = (t * alpha + (1 - t) * (1 - alpha)) * out
    return out.mean(axis=-1)


def r_cfce(t, p, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        z = np.exp(p - p.max(axis=-1, keepdims=True))
        p = z / z.sum(axis=-1, keepdims=True)
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return np.sum(alpha * (1 - p) ** gamma * -t * np.log(p), axis=-1)


def r_gce(t, p, q):
    return (1 - p[np.arange(len(t)), t.astype(int)] ** q) / q


def r_dice(t, p):
    return 1 - 2 * np.sum(t * p) / (np.sum(t) + np.sum(p) + EPS)


def r_tversky(t, p, alpha=0.5, beta=0.5):
    tp, fp, fn = np.sum(t * p), np.sum((1 - p) * t), np.sum(p * (1 - t))
    return 1 - tp / (tp + alpha * fp + beta * fn + EPS)


def _lse(x, mask):
    x = np.where(mask, x, -np.inf)
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (np.log(np.sum(np.exp(x - m), axis=1)) + m[:, 0])


def r_circle(t, e, gamma=80.0, margin=0.4, remove_diagonal=True):
    labels = t.astype(int)
    d = np.maximum(1 - e @ e.T, 0.0)
    pos = labels[:, None] == labels[None, :]
    neg = ~pos
    if remove_diagonal:
        pos = pos & ~np.eye(len(labels), dtype=bool)
    pos_w = np.maximum((margin + d) * pos, 0.0)
    neg_w = np.maximum((1 + margin - d) * neg, 0.0)
    x = _lse(-gamma * pos_w * (margin - d), pos) + _lse(gamma * neg_w * (1 - margin - d), neg)
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def g_circle(rng, n=6, dim=4):
    e = rng.normal(0, 1, (n, dim))
    return np.array([0, 1, 0, 2, 1, 2], np.int32), e / np.linalg.norm(e, axis=1, keepdims=True)


def g_masks(rng, shape=(3, 5)):
    return (rng.uniform(0, 1, shape) > 0.5).astype(np.float64), rng.uniform(0.05, 0.95, shape)

CASES = {
    "mse": (lambda: L.MeanSquaredError(), r_mse, g_regression),
    "mse_3d": (lambda: L.MeanSquaredError(), r_mse, g_3d(g_regression, (2, 3, 4))),
    "mae": (lambda: L.MeanAbsoluteError(), r_mae, g_regression),
    "mape": (lambda: L.MeanAbsolutePercentageError(), r_mape, g_mape),
    "msle": (lambda: L.MeanSquaredLogarithmicError(), r_msle, g_msle),
    "huber": (lambda: L.Huber(), r_huber, g_huber(1.0)),
    "huber_delta_0.5": (lambda: L.Huber(delta=0.5), lambda t, p: r_huber(t, p, 0.5), g_huber(0.5)),
    "huber_delta_2": (lambda: L.Huber(delta=2.0), lambda t, p: r_huber(t, p, 2.0), g_huber(2.0)),
    "log_cosh": (lambda: L.LogCosh(), r_log_cosh, g_regression),
    "bce": (lambda: L.BinaryCrossentropy(), r_bce, g_binary_probs),
    "bce_smoothing": (lambda: L.BinaryCrossentropy(label_smoothing=0.2),
                      lambda t, p: r_bce(t, p, label_smoothing=0.2), g_binary_probs),
    "bce_logits": (lambda: L.BinaryCrossentropy(from_logits=True), lambda t, p: r_bce(t, p, True), g_binary_logits),
    "bce_logits_smoothing": (lambda: L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
                             lambda t, p: r_bce(t, p, True, 0.1), g_binary_logits),
    "cce": (lambda: L.CategoricalCrossentropy(), r_cce, g_onehot_probs),
    "cce_smoothing": (lambda: L.CategoricalCrossentropy(label_smoothing=0.3),
                      lambda t, p: r_cce(t, p, label_smoothing=0.3), g_onehot_probs),
    "cce_logits": (lambda: L.CategoricalCrossentropy(from_logits=True), lambda t, p: r_cce(t, p, True), g_onehot_logits),
    "cce_logits_smoothing": (lambda: L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                             lambda t, p: r_cce(t, p, True, 0.1), g_onehot_logits),
    "cce_axis0": (lambda: L.CategoricalCrossentropy(axis=0), lambda t, p: r_cce(t, p, axis=0), g_onehot_probs),
    "cce_logits_axis0": (lambda: L.CategoricalCrossentropy(from_logits=True, axis=0),
                         lambda t, p: r_cce(t, p, True, axis=0), g_onehot_logits),
    "scce": (lambda: L.SparseCategoricalCrossentropy(), r_scce, g_sparse_probs),
    "scce_logits": (lambda: L.SparseCategoricalCrossentropy(from_logits=True),
                    lambda t, p: r_scce(t, p, True), g_sparse_logits),
    "scce_logits_3d": (lambda: L.SparseCategoricalCrossentropy(from_logits=True),
                       lambda t, p: r_scce(t, p, True), g_3d(g_sparse_logits, (2, 3, 4))),
    "hinge": (lambda: L.Hinge(), r_hinge, g_hinge_pm1),
    "hinge_01_labels": (lambda: L.Hinge(), r_hinge, g_hinge_01),
    "hinge_other_labels": (lambda: L.Hinge(), r_hinge, g_hinge_other),
    "squared_hinge": (lambda: L.SquaredHinge(), r_squared_hinge, g_hinge_pm1),
    "squared_hinge_01_labels": (lambda: L.SquaredHinge(), r_squared_hinge, g_hinge_01),
    "categorical_hinge": (lambda: L.CategoricalHinge(), r_categorical_hinge, g_categorical_hinge),
    "kld": (lambda: L.KLDivergence(), r_kld, g_kld),
    "poisson": (lambda: L.Poisson(), r_poisson, g_poisson),
    "cosine": (lambda: L.CosineSimilarity(), r_cosine, g_cosine),
    "cosine_axis0": (lambda: L.CosineSimilarity(axis=0), lambda t, p: r_cosine(t, p, axis=0), g_cosine),
    "bfce": (lambda: L.BinaryFocalCrossentropy(), r_bfce, g_binary_probs),
    "bfce_balanced": (lambda: L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5),
                      lambda t, p: r_bfce(t, p, True, 0.3, 1.5), g_binary_probs),
    "bfce_logits_smoothing": (lambda: L.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.1),
                              lambda t, p: r_bfce(t, p, from_logits=True, label_smoothing=0.1), g_binary_logits),
    "cfce": (lambda: L.CategoricalFocalCrossentropy(), r_cfce, g_onehot_probs),
    "cfce_logits": (lambda: L.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.0, from_logits=True, label_smoothing=0.1),
                    lambda t, p: r_cfce(t, p, 0.5, 1.0, True, 0.1), g_onehot_logits),
    "gce": (lambda: L.CategoricalGeneralizedCrossEntropy(q=0.7), lambda t, p: r_gce(t, p, 0.7), g_sparse_probs),
    "dice": (lambda: L.Dice(), r_dice, g_masks),
    "tversky": (lambda: L.Tversky(alpha=0.7, beta=0.3), lambda t, p: r_tversky(t, p, 0.7, 0.3), g_masks),
    "circle": (lambda: L.Circle(gamma=2.0), lambda t, e: r_circle(t, e, 2.0), g_circle),
    "circle_margin": (lambda: L.Circle(gamma=8.0, margin=0.25, remove_diagonal=False),
                      lambda t, e: r_circle(t, e, 8.0, 0.25, False), g_circle),
}


def _inputs(name, rng):
    t, p = CASES[name][2](rng)
    t = np.asarray(t)
    t = t.astype(np.int32) if t.dtype.kind in "iu" else t.astype(np.float32)
    return t, np.asarray(p, dtype=np.float32)


def _f64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_float64_reference(backend_name, name, rng):
    make, ref, _ = CASES[name]
    t, p = _inputs(name, rng)
    expected = ref(_f64(t), _f64(p))
    loss = make()
    per_sample = type(loss).from_config({**loss.get_config(), "reduction": None})
    got = per_sample(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name))
    assert got.device == backend_name
    close(to_np(got), expected, f"{name} per-sample")
    close(float(loss(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name)).numpy()),
          np.mean(expected), f"{name} reduced")


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(backend_name, name, rng):
    make, ref, _ = CASES[name]
    t, p = _inputs(name, rng)
    _, grad = value_and_grad(make(), t, p, backend_name)
    expected = numerical_grad(lambda x: np.mean(ref(_f64(t), x)), p)
    close(grad, expected, f"{name} gradient", **GRAD_TOL)


def test_every_issue_loss_is_covered():
    covered = {type(make()) for make, _, _ in CASES.values()}
    assert covered == set(L._CLASSES)


# ---------------------------------------------------------------------------------------------
# golden values
# ---------------------------------------------------------------------------------------------

GOLDEN = {
    "mse": (L.MeanSquaredError, {}, L.mean_squared_error),
    "mae": (L.MeanAbsoluteError, {}, L.mean_absolute_error),
    "huber_delta_1.0": (L.Huber, {"delta": 1.0}, L.huber),
    "log_cosh": (L.LogCosh, {}, L.log_cosh),
    "binary_crossentropy": (L.BinaryCrossentropy, {}, L.binary_crossentropy),
    "binary_crossentropy_from_logits": (L.BinaryCrossentropy, {"from_logits": True}, L.binary_crossentropy),
    "categorical_crossentropy": (L.CategoricalCrossentropy, {}, L.categorical_crossentropy),
    "categorical_crossentropy_from_logits": (L.CategoricalCrossentropy, {"from_logits": True}, L.categorical_crossentropy),
    "categorical_crossentropy_label_smoothing_0.1": (
        L.CategoricalCrossentropy, {"label_smoothing": 0.1}, L.categorical_crossentropy),
    "categorical_crossentropy_from_logits_label_smoothing_0.1": (
        L.CategoricalCrossentropy, {"from_logits": True, "label_smoothing": 0.1}, L.categorical_crossentropy),
    "sparse_categorical_crossentropy": (L.SparseCategoricalCrossentropy, {}, L.sparse_categorical_crossentropy),
    "sparse_categorical_crossentropy_from_logits": (
        L.SparseCategoricalCrossentropy, {"from_logits": True}, L.sparse_categorical_crossentropy),
    "hinge": (L.Hinge, {}, L.hinge),
    "hinge_with_0_1_labels": (L.Hinge, {}, L.hinge),
    "squared_hinge": (L.SquaredHinge, {}, L.squared_hinge),
    "categorical_hinge": (L.CategoricalHinge, {}, L.categorical_hinge),
    "kl_divergence": (L.KLDivergence, {}, L.kl_divergence),
    "poisson": (L.Poisson, {}, L.poisson),
    "cosine_similarity": (L.CosineSimilarity, {}, L.cosine_similarity),
}


def _golden_true(case):
    yt = np.array(case["y_true"])
    return yt.astype(np.int32) if yt.dtype.kind in "iu" else yt.astype(np.float32)


def test_golden_cases_all_mapped(golden):
    """Every golden loss case is checked here (clipping has its own test)."""
    assert set(golden["losses"]["cases"]) == set(GOLDEN) | {"binary_crossentropy_clipping"}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_value_and_gradient(backend_name, golden, name):
    case = golden["losses"]["cases"][name]
    cls, kwargs, fn = GOLDEN[name]
    pred_key = "logits" if "logits" in case else "y_pred"
    t = _golden_true(case)
    p = np.array(case[pred_key], dtype=np.float32)
    fn_kwargs = {k: v for k, v in kwargs.items() if k != "delta"} if fn is not L.huber else kwargs
    per_sample = fn(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name), **fn_kwargs)
    close(to_np(per_sample), case["per_sample"], f"{name} per_sample", **GOLDEN_TOL)
    value, grad = value_and_grad(cls(**kwargs), t, p, backend_name)
    close(value, case["value"], f"{name} value", **GOLDEN_TOL)
    close(grad, case["grad_logits" if pred_key == "logits" else "grad_y_pred"], f"{name} gradient", **GOLDEN_TOL)


def test_golden_bce_clipping(backend_name, golden):
    case = golden["losses"]["cases"]["binary_crossentropy_clipping"]
    t = np.array(case["y_true"], np.float32)
    value, grad = value_and_grad(L.BinaryCrossentropy(), t, np.array(case["y_pred"], np.float32), backend_name)
    close(value, case["value_float32_bounds"], **GOLDEN_TOL)
    close(grad, np.zeros_like(grad), rtol=0, atol=0)


@pytest.mark.parametrize("name,loss", [
    ("huber", L.Huber()), ("log_cosh", L.LogCosh()), ("mean_squared_error", L.MeanSquaredError()),
    ("mean_absolute_error", L.MeanAbsoluteError()), ("categorical_crossentropy", L.CategoricalCrossentropy()),
    ("binary_crossentropy_from_logits", L.BinaryCrossentropy(from_logits=True)),
])
def test_golden_keras_docstring_examples(backend_name, golden, name, loss):
    c = golden["losses"]["extra_examples"][name]
    v = loss(em.tensor(np.array(c["y_true"], np.float32), device=backend_name),
             em.tensor(np.array(c["y_pred"], np.float32), device=backend_name))
    close(float(v.numpy()), c["value"], name, **GOLDEN_TOL)


def test_golden_crossentropy_through_fused_softmax_dense(backend_name, golden):
    """A softmax Dense layer's output takes the fused logits path on every device."""
    case = golden["losses"]["cases"]["categorical_crossentropy_from_logits"]
    logits = np.array(case["logits"], np.float32)
    k = logits.shape[1]
    with em.device(backend_name):
        dense = em.layers.Dense(k, activation="softmax")
        dense.build((None, k))
    dense.set_weights([np.eye(k), np.zeros(k)])
    y = np.array(case["y_true"], np.float32)
    for loss, labels in ((L.CategoricalCrossentropy(), y), (L.SparseCategoricalCrossentropy(), np.argmax(y, -1).astype(np.int32))):
        x = em.tensor(logits, device=backend_name, requires_grad=True)
        v = loss(em.tensor(labels, device=backend_name), dense(x))
        v.backward()
        close(float(v.numpy()), case["value"], **GOLDEN_TOL)
        close(to_np(x.grad), case["grad_logits"], **GOLDEN_TOL)


# ---------------------------------------------------------------------------------------------
# reductions and sample_weight
# ---------------------------------------------------------------------------------------------

def _np_reduce(values, sw, reduction):
    """Keras's reduce_weighted_values on numpy values (same-rank or broadcastable weights)."""
    if sw is not None:
        sw = np.asarray(sw, np.float64)
        if sw.ndim == values.ndim + 1 and sw.shape[-1] == 1:
            if values.ndim == 1:
                values = values[..., None]
            else:
                sw = sw[..., 0]
        values = values * sw
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and sw is not None:
        return values.sum() / np.broadcast_to(sw, values.shape).sum() if sw.ndim else values.sum() / sw
    return values.sum() / values.size


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none"])
@pytest.mark.parametrize("weights", ["none", "per_sample", "per_sample_col", "scalar"])
def test_reductions_with_sample_weight(backend_name, rng, reduction, weights):
    t, p = g_regression(rng, (6, 3))
    t, p = t.astype(np.float32), p.astype(np.float32)
    sw = {"none": None, "per_sample": rng.uniform(0, 2, 6).astype(np.float32),
          "per_sample_col": rng.uniform(0, 2, (6, 1)).astype(np.float32), "scalar": 2.5}[weights]
    loss = L.MeanSquaredError(reduction=reduction)
    got = loss(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name), sample_weight=sw)
    values = r_mse(_f64(t), _f64(p))
    if weights == "scalar" and reduction == "mean_with_sample_weight":
        expected = (values * 2.5).sum() / 2.5
    else:
        expected = _np_reduce(values, sw, reduction)
    close(to_np(got), expected, f"{reduction}, {weights}")


def test_sample_weight_per_timestep(backend_name, rng):
    """(batch, steps) weights on (batch, steps, features) inputs weight each step."""
    t, p = g_regression(rng, (3, 4, 2))
    sw = rng.uniform(0, 1, (3, 4))
    sw[0, 2:] = 0.0
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        loss = L.Huber(reduction=reduction)
        value, grad = value_and_grad(loss, t.astype(np.float32), p.astype(np.float32), backend_name, sw.astype(np.float32))

        def f(x):
            return _np_reduce(r_huber(_f64(t.astype(np.float32)), x), sw.astype(np.float32), reduction)

        close(value, f(_f64(p.astype(np.float32))), reduction)
        close(grad, numerical_grad(f, p.astype(np.float32)), reduction, **GRAD_TOL)
        assert np.all(grad[0, 2:] == 0.0)


def test_mean_with_sample_weight_of_zero_weights_is_zero(backend_name):
    loss = L.MeanSquaredError(reduction="mean_with_sample_weight")
    v = loss(em.tensor(np.ones((2, 3), np.float32), device=backend_name), em.tensor(np.zeros((2, 3), np.float32), device=backend_name),
             sample_weight=np.zeros(2, np.float32))
    assert float(v.numpy()) == 0.0


def test_reduction_none_shape(backend_name, rng):
    t, p = g_onehot_probs(rng, (2, 3, 4))
    v = L.CategoricalCrossentropy(reduction=None)(em.tensor(t.astype(np.float32), device=backend_name),
                                                    em.tensor(p.astype(np.float32), device=backend_name))
    assert v.shape == (2, 3)
    close(to_np(v), r_cce(t.astype(np.float32).astype(np.float64), p.astype(np.float32).astype(np.float64)))


def test_label_rank_reconciled_as_keras(backend_name):
    """y_true (n,) against y_pred (n, 1): expanded to (n, 1) (Keras's squeeze_or_expand_to_same_rank)."""
    t = np.array([0.0, 1.0, 1.0], np.float32)
    p = np.array([[0.2], [0.7], [0.9]], np.float32)
    for loss, ref in ((L.BinaryCrossentropy(), r_bce), (L.MeanSquaredError(), r_mse), (L.Huber(), r_huber)):
        got = loss(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name))
        close(float(got.numpy()), np.mean(ref(_f64(t)[:, None], _f64(p))))


def test_shape_mismatch_raises(backend_name):
    with pytest.raises(ShapeError):
        L.MeanSquaredError()(em.tensor(np.ones((4, 1), np.float32), device=backend_name),
                             em.tensor(np.ones((4, 3), np.float32), device=backend_name))
    with pytest.raises(ShapeError):
        L.CosineSimilarity()(em.tensor(np.ones((4, 2), np.float32), device=backend_name),
                             em.tensor(np.ones((4, 3), np.float32), device=backend_name))


# ---------------------------------------------------------------------------------------------
# sparse_categorical_crossentropy ignore_class
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("from_logits", [False, True])
def test_ignore_class_means_over_kept_rows(backend_name, rng, from_logits):
    t, p = g_sparse_ignore(rng)
    t, p = t, p.astype(np.float32)
    if from_logits:
        p = np.log(p)
    kept = t != -1
    loss = L.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1)
    value, grad = value_and_grad(loss, t, p, backend_name)
    per = r_scce(t, _f64(p), from_logits, ignore_class=-1)
    # Keras: mask * total / (valid + eps), then sum / total
    expected = per.sum() / (kept.sum() + EPS)
    close(value, expected)
    close(value, r_scce(t[kept], _f64(p[kept]), from_logits).mean(), rtol=1e-5)
    assert np.all(grad[~kept] == 0.0)
    close(grad, numerical_grad(lambda x: r_scce(t, x, from_logits, -1).sum() / (kept.sum() + EPS), p), **GRAD_TOL)
    # the function gives 0 for ignored rows
    per_got = L.sparse_categorical_crossentropy(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name),
                                                from_logits=from_logits, ignore_class=-1)
    close(to_np(per_got), per)


def test_ignore_class_3d_with_sample_weight_and_reductions(backend_name, rng):
    t, p = g_sparse_ignore_logits_3d(rng)
    p = p.astype(np.float32)
    sw = rng.uniform(0.5, 2.0, t.shape[0]).astype(np.float32)
    per = r_scce(t, _f64(p), True, ignore_class=2)
    mask = (t != 2).astype(np.float64)
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", None):
        loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2, reduction=reduction)
        got = to_np(loss(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name), sample_weight=sw))
        if reduction == "sum_over_batch_size":
            w = mask * mask.size / (mask.sum() + EPS) * sw[:, None]
            expected = (per * w).sum() / per.size
        elif reduction == "sum":
            expected = (per * mask * sw[:, None]).sum()
        elif reduction == "mean_with_sample_weight":
            w = mask * sw[:, None]
            expected = (per * w).sum() / w.sum()
        else:
            expected = per * mask * sw[:, None]
        close(got, expected, str(reduction))


def test_ignore_class_fit_loss_matches_kept_rows_only(backend_name, rng):
    """A masked label changes nothing: the loss equals the one over the kept rows."""
    t, p = g_sparse_ignore(rng)
    p = p.astype(np.float32)
    kept = t != -1
    full = L.SparseCategoricalCrossentropy(ignore_class=-1)(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name))
    sub = L.SparseCategoricalCrossentropy()(em.tensor(t[kept], device=backend_name), em.tensor(p[kept], device=backend_name))
    close(float(full.numpy()), float(sub.numpy()), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# numerics at the edges
# ---------------------------------------------------------------------------------------------

def test_log_cosh_large_errors_do_not_overflow(backend_name):
    t = np.zeros((1, 3), np.float32)
    p = np.array([[200.0, -300.0, 1e-3]], np.float32)
    value, grad = value_and_grad(L.LogCosh(reduction="sum"), t, p, backend_name)
    expected = np.abs(_f64(p[0, :2])) - np.log(2.0)
    close(value, (expected.sum() + np.log(np.cosh(1e-3))) / 3)
    close(grad, np.tanh(_f64(p)) / 3, **GRAD_TOL)


def test_cosine_similarity_zero_vector_gives_zero(backend_name):
    t = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    p = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    value, grad = value_and_grad(L.CosineSimilarity(reduction="sum"), t, p, backend_name)
    assert value == 0.0
    assert np.all(np.isfinite(grad))


def test_kld_and_poisson_zero_targets_are_finite(backend_name):
    t = np.array([[0.0, 1.0, 0.0]], np.float32)
    p = np.array([[0.0, 1.0, 0.0]], np.float32)
    for loss, ref in ((L.KLDivergence(), r_kld), (L.Poisson(), r_poisson)):
        value, grad = value_and_grad(loss, t, p, backend_name)
        close(value, ref(_f64(t), _f64(p)).mean())
        assert np.all(np.isfinite(grad))


def test_hinge_label_conversion_is_per_batch(backend_name):
    """Labels are converted only when *all* are 0 or 1 (Keras's convert_binary_labels_to_hinge)."""
    p = np.array([[0.5, -0.5]], np.float32)
    binary = L.hinge(em.tensor(np.array([[1.0, 0.0]], np.float32), device=backend_name), em.tensor(p, device=backend_name))
    signed = L.hinge(em.tensor(np.array([[1.0, -1.0]], np.float32), device=backend_name), em.tensor(p, device=backend_name))
    mixed = L.hinge(em.tensor(np.array([[1.0, 0.5]], np.float32), device=backend_name), em.tensor(p, device=backend_name))
    close(to_np(binary), [0.5])
    close(to_np(signed), [0.5])
    close(to_np(mixed), [(0.5 + 1.25) / 2])


def test_integer_targets_are_accepted(backend_name):
    t = np.array([[1, 0, 1]], np.int32)
    p = np.array([[0.8, 0.1, 0.6]], np.float32)
    for name in ("mse", "hinge", "binary_crossentropy", "poisson", "kld"):
        v = L.get(name)(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name))
        assert np.isfinite(float(v.numpy()))
    close(float(L.get("mse")(em.tensor(t, device=backend_name), em.tensor(p, device=backend_name)).numpy()),
          r_mse(_f64(t), _f64(p)).mean())


# ---------------------------------------------------------------------------------------------
# names, get, config, serialization
# ---------------------------------------------------------------------------------------------

NAMES = {
    "mse": L.MeanSquaredError, "MSE": L.MeanSquaredError, "mean_squared_error": L.MeanSquaredError,
    "mae": L.MeanAbsoluteError, "mean_absolute_error": L.MeanAbsoluteError,
    "mape": L.MeanAbsolutePercentageError, "mean_absolute_percentage_error": L.MeanAbsolutePercentageError,
    "msle": L.MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": L.MeanSquaredLogarithmicError,
    "huber": L.Huber, "log_cosh": L.LogCosh, "logcosh": L.LogCosh,
    "binary_crossentropy": L.BinaryCrossentropy, "bce": L.BinaryCrossentropy,
    "categorical_crossentropy": L.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": L.SparseCategoricalCrossentropy,
    "hinge": L.Hinge, "squared_hinge": L.SquaredHinge, "categorical_hinge": L.CategoricalHinge,
    "kld": L.KLDivergence, "KLD": L.KLDivergence, "kl_divergence": L.KLDivergence,
    "kullback_leibler_divergence": L.KLDivergence, "poisson": L.Poisson, "cosine_similarity": L.CosineSimilarity,
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_get_by_name(name):
    assert type(L.get(name)) is NAMES[name]


@pytest.mark.parametrize("cls", L._CLASSES, ids=lambda c: c.__name__)
def test_get_by_class_name_class_and_function(cls):
    assert type(L.get(cls.__name__)) is cls
    assert type(L.get(cls)) is cls
    fn = cls.fn
    assert type(L.get(fn)) is cls
    inst = cls()
    assert L.get(inst) is inst


def test_function_aliases_are_the_functions():
    assert L.mse is L.MSE is L.mean_squared_error
    assert L.mae is L.mean_absolute_error
    assert L.mape is L.mean_absolute_percentage_error
    assert L.msle is L.mean_squared_logarithmic_error
    assert L.kld is L.KLD is L.kl_divergence
    assert L.logcosh is L.log_cosh


def test_string_loss_matches_class_and_function(backend_name, rng):
    for name in ("mape", "msle", "huber", "log_cosh", "hinge", "squared_hinge", "kld", "poisson", "cosine_similarity"):
        fn = L.deserialize(name)
        t, p = g_mape(rng)
        t, p = np.abs(t).astype(np.float32) / 3, np.abs(p).astype(np.float32) / 3
        tt, pp = em.tensor(t, device=backend_name), em.tensor(p, device=backend_name)
        close(float(L.get(name)(tt, pp).numpy()), float(em.ops.mean(fn(tt, pp)).numpy()), name)


CONFIGS = [
    L.MeanSquaredError(reduction="sum"), L.MeanAbsoluteError(name="m"), L.MeanAbsolutePercentageError(),
    L.MeanSquaredLogarithmicError(reduction=None), L.Huber(delta=0.3), L.LogCosh(reduction="mean"),
    L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, axis=-1),
    L.CategoricalCrossentropy(label_smoothing=0.1, axis=0), L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
    L.Hinge(), L.SquaredHinge(reduction="mean_with_sample_weight"), L.CategoricalHinge(), L.KLDivergence(), L.Poisson(),
    L.CosineSimilarity(axis=0, name="cos"),
]


@pytest.mark.parametrize("loss", CONFIGS, ids=lambda x: type(x).__name__)
def test_config_round_trip_through_json(loss):
    config = json.loads(json.dumps(loss.get_config()))
    again = type(loss).from_config(config)
    assert again.get_config() == loss.get_config()
    ser = json.loads(json.dumps(L.serialize(loss)))
    assert ser["class_name"] == type(loss).__name__
    back = L.deserialize(ser)
    assert type(back) is type(loss) and back.get_config() == loss.get_config()
    assert L.get(ser).get_config() == loss.get_config()


def test_keras_default_names_and_configs():
    assert L.Huber().name == "huber_loss"
    assert L.Huber().get_config() == {"name": "huber_loss", "reduction": "sum_over_batch_size", "delta": 1.0}
    assert L.KLDivergence().name == "kl_divergence"
    assert L.CosineSimilarity().get_config()["axis"] == -1
    assert L.SparseCategoricalCrossentropy().get_config()["ignore_class"] is None
    assert L.CategoricalCrossentropy().get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1}


def test_serialize_function():
    ser = L.serialize(L.kl_divergence)
    assert ser["class_name"] == "function" and ser["config"] == "kl_divergence"
    assert L.deserialize(json.loads(json.dumps(ser))) is L.kl_divergence
    assert L.get(None) is None


def test_custom_loss_subclass_and_function(backend_name):
    class Cubed(L.Loss):
        def call(self, y_true, y_pred):
            return em.ops.mean(em.ops.abs(em.ops.subtract(y_pred, y_true)) ** 3, axis=-1)

    t = em.tensor(np.zeros((2, 2), np.float32), device=backend_name)
    p = em.tensor(np.array([[1.0, 2.0], [1.0, 1.0]], np.float32), device=backend_name)
    close(float(Cubed()(t, p).numpy()), (4.5 + 1.0) / 2)
    close(float(Cubed(reduction="sum")(t, p, sample_weight=[1.0, 0.0]).numpy()), 4.5)
    assert Cubed().name == "cubed"

    def my_loss(y_true, y_pred):
        return em.ops.mean(em.ops.square(em.ops.subtract(y_pred, y_true)), axis=-1)

    close(float(L.get(my_loss)(t, p).numpy()), (2.5 + 1.0) / 2)


# ---------------------------------------------------------------------------------------------
# bad configurations
# ---------------------------------------------------------------------------------------------

BAD = [
    (lambda: L.MeanSquaredError(reduction="avg"), "reduction"),
    (lambda: L.Huber(reduction="sum_over_batch"), "reduction"),
    (lambda: L.CosineSimilarity(reduction=3), "reduction"),
    (lambda: L.Loss(reduction="max"), "reduction"),
    (lambda: L.Huber(delta=0.0), "delta"),
    (lambda: L.Huber(delta=-1.0), "delta"),
    (lambda: L.Huber(delta=float("nan")), "delta"),
    (lambda: L.BinaryCrossentropy(label_smoothing=1.5), "label_smoothing"),
    (lambda: L.CategoricalCrossentropy(label_smoothing=-0.1), "label_smoothing"),
    (lambda: L.CategoricalCrossentropy(axis=True), "axis"),
    (lambda: L.CosineSimilarity(axis=1.5), "axis"),
    (lambda: L.SparseCategoricalCrossentropy(ignore_class=1.5), "ignore_class"),
    (lambda: L.BinaryCrossentropy(from_logits="yes"), "from_logits"),
    (lambda: L.MeanSquaredError(dtype="float64"), "dtype"),
    (lambda: L.get("mean_sqared_error"), "mean_sqared_error"),
    (lambda: L.get("nope"), "identifier"),
    (lambda: L.get(42), "identifier"),
    (lambda: L.deserialize({"class_name": "NoSuchLoss", "config": {}}), "NoSuchLoss"),
    (lambda: L.deserialize({"class_name": "Huber", "config": {"delta": 1.0, "bogus": 1}}), "config"),
    (lambda: L.deserialize(5), "config"),
]


@pytest.mark.parametrize("make,word", BAD, ids=[w + str(i) for i, (_, w) in enumerate(BAD)])
def test_bad_configuration_raises_value_error_naming_argument(make, word):
    with pytest.raises(ValueError) as e:
        make()
    assert isinstance(e.value, InvalidArgumentError)
    assert word in str(e.value)


def test_unknown_name_lists_valid_names():
    with pytest.raises(InvalidArgumentError) as e:
        L.get("hubber")
    for name in ("huber", "log_cosh", "kl_divergence", "poisson", "cosine_similarity", "Huber"):
        assert name in str(e.value)


def test_sparse_non_last_axis_raises(backend_name):
    with pytest.raises(InvalidArgumentError, match="axis"):
        L.sparse_categorical_crossentropy(em.tensor(np.zeros(3, np.int32), device=backend_name),
                                          em.tensor(np.ones((3, 4), np.float32), device=backend_name), axis=0)


def test_categorical_crossentropy_single_class_warns_as_keras(backend_name):
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        L.categorical_crossentropy(em.tensor(np.ones((2, 1), np.float32), device=backend_name),
                                   em.tensor(np.ones((2, 1), np.float32), device=backend_name))


# ---------------------------------------------------------------------------------------------
# Model.fit / evaluate with sample_weight and the new losses
# ---------------------------------------------------------------------------------------------

def _model(device, loss, lr=0.1, units=1, activation=None):
    em.utils.set_random_seed(7)
    with em.device(device):
        model = em.Sequential([em.Input((3,)), em.layers.Dense(units, activation=activation)])
    model.compile(optimizer=em.optimizers.SGD(learning_rate=lr), loss=loss)
    return model


@pytest.mark.parametrize("loss", ["huber", "log_cosh", "mape", "msle", "poisson", "hinge", "squared_hinge",
                                  "cosine_similarity", "kld", "mae"])
def test_evaluate_with_sample_weight_matches_loss(backend_name, rng, loss):
    x = rng.uniform(0.1, 1.0, (10, 3)).astype(np.float32)
    y = rng.uniform(0.1, 1.0, (10, 2)).astype(np.float32)
    sw = rng.uniform(0.0, 2.0, 10).astype(np.float32)
    model = _model(backend_name, loss, units=2, activation="sigmoid")  # positive predictions (poisson, kld, msle)
    pred = model.predict(x, verbose=0)
    expected = float(L.get(loss)(y, pred, sample_weight=sw).numpy())
    got = model.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0)
    close(got, expected, loss, rtol=1e-5, atol=1e-6)
    ref_fn = {"huber": r_huber, "log_cosh": r_log_cosh, "mape": r_mape, "msle": r_msle, "poisson": r_poisson,
              "hinge": r_hinge, "squared_hinge": r_squared_hinge, "cosine_similarity": r_cosine, "kld": r_kld,
              "mae": r_mae}[loss]
    close(got, np.mean(ref_fn(_f64(y), _f64(pred)) * sw), loss, rtol=1e-5, atol=1e-5)


def test_fit_sample_weight_scales_the_gradient(backend_name, rng):
    """With SGD, weights of 2 everywhere are the same as twice the learning rate; zero
    weights on some samples remove them from the gradient."""
    x = rng.normal(0, 1, (8, 3)).astype(np.float32)
    y = rng.normal(0, 1, (8, 1)).astype(np.float32)
    a = _model(backend_name, "huber", lr=0.1)
    a.fit(x, y, sample_weight=np.full(8, 2.0, np.float32), epochs=2, batch_size=8, shuffle=False, verbose=0)
    b = _model(backend_name, "huber", lr=0.2)
    b.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        close(wa, wb, rtol=1e-5, atol=1e-6)
    # zero weight on the last 4 samples == half the learning rate on the first 4
    sw = np.array([1, 1, 1, 1, 0, 0, 0, 0], np.float32)
    c = _model(backend_name, "log_cosh", lr=0.2)
    c.fit(x, y, sample_weight=sw, epochs=1, batch_size=8, shuffle=False, verbose=0)
    d = _model(backend_name, "log_cosh", lr=0.1)
    d.fit(x[:4], y[:4], epochs=1, batch_size=4, shuffle=False, verbose=0)
    for wc, wd in zip(c.get_weights(), d.get_weights()):
        close(wc, wd, rtol=1e-5, atol=1e-6)


def test_fit_accepts_ignore_class_labels_outside_the_classes(backend_name):
    """fit's up-front label check skips the rows the loss ignores (Keras: padding labels)."""
    rng = np.random.default_rng(0)
    x = rng.random((16, 4), dtype=np.float32)
    with em.device(backend_name):
        m = em.Sequential([em.Input((4,)), em.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss=em.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    y = np.array([0, 1, 2, -1] * 4)
    hist = m.fit(x, y, epochs=2, verbose=0)
    assert all(np.isfinite(hist.history["loss"]))
    kept = y != -1
    expected = em.losses.SparseCategoricalCrossentropy()(y[kept], m.predict(x, verbose=0)[kept])
    np.testing.assert_allclose(m.evaluate(x, y, verbose=0), float(expected), rtol=1e-5)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(em.errors.InvalidArgumentError, match="class index -1"):
        m.fit(x, y, epochs=1, verbose=0)


def test_fit_class_weight_equals_the_matching_sample_weight(backend_name):
    """Keras 3: class_weight becomes per-sample weights (1.0 for unlisted classes); sparse and
    one-hot labels alike; it cannot be combined with sample_weight."""
    rng = np.random.default_rng(1)
    x = rng.random((24, 5), dtype=np.float32)
    y = rng.integers(0, 3, 24)
    cw = {0: 2.0, 2: 0.5}
    results = []
    for kwargs in ({"class_weight": cw}, {"sample_weight": np.array([cw.get(int(c), 1.0) for c in y], np.float32)}):
        for labels, loss in ((y, "sparse_categorical_crossentropy"), (np.eye(3, dtype=np.float32)[y], "categorical_crossentropy")):
            em.utils.set_random_seed(4)
            with em.device(backend_name):
                m = em.Sequential([em.Input((5,)), em.layers.Dense(3, activation="softmax")])
            m.compile(optimizer=em.optimizers.SGD(0.5), loss=loss)
            h = m.fit(x, labels, epochs=2, batch_size=8, verbose=0, shuffle=False, **kwargs)
            results.append((h.history["loss"], m.get_weights()))
    for loss, weights in results[1:]:
        np.testing.assert_allclose(loss, results[0][0], rtol=1e-5)
        for a, b in zip(weights, results[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        m.fit(x, y, class_weight=cw, sample_weight=np.ones(24), verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, np.eye(3)[y], class_weight={"a": 1.0}, verbose=0)
