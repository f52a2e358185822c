"""Regularizers and the noise/dropout layers on every backend: golden penalties and
gradients, the penalty in the training loss (float64 references of one SGD step), activity
regularization, Dropout/SpatialDropout/GaussianNoise/GaussianDropout, configs, bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError

R = em.regularizers
L = em.layers


def as_np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t, dtype=np.float64)


# -- golden penalties and gradients --------------------------------------------------------------------

def _golden_regularizer(case):
    if case == "l1_0.01":
        return R.L1(0.01)
    if case == "l2_0.01":
        return R.L2(0.01)
    return R.L1L2(l1=0.01, l2=0.02)


@pytest.mark.parametrize("case", ["l1_0.01", "l2_0.01", "l1l2_0.01_0.02"])
def test_penalty_and_gradient_golden(golden, backend_name, case):
    g = golden["regularizers"]
    c = g[case]
    reg = _golden_regularizer(case)
    with em.device(backend_name):
        w = em.Variable(np.array(g["w"], np.float32))
        with em.GradientTape() as tape:
            p = reg(w)
        grad = tape.gradient(p, w)
    assert p.device == backend_name and p.shape == ()
    np.testing.assert_allclose(float(p.item()), c["penalty"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(as_np(grad), c["grad"], rtol=1e-5, atol=1e-7)


def test_keras_defaults_golden(golden):
    d = golden["regularizers"]["keras_defaults"]
    assert R.L1().get_config() == d["L1"]
    assert R.L2().get_config() == d["L2"]
    assert R.L1L2().get_config() == d["L1L2"]
    assert R.L1(None).l1 == 0.01 and R.L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}


def test_penalty_float64_reference_random(backend_name, rng):
    w = rng.standard_normal((7, 5)).astype(np.float32)
    w64 = w.astype(np.float64)
    with em.device(backend_name):
        t = em.tensor(w)
        got = {name: float(r(t).item()) for name, r in
               {"l1": R.L1(0.3), "l2": R.L2(0.2), "l1l2": R.L1L2(0.3, 0.2), "zero": R.L1L2()}.items()}
    np.testing.assert_allclose(got["l1"], 0.3 * np.abs(w64).sum(), rtol=1e-5)
    np.testing.assert_allclose(got["l2"], 0.2 * (w64 ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(got["l1l2"], 0.3 * np.abs(w64).sum() + 0.2 * (w64 ** 2).sum(), rtol=1e-5)
    assert got["zero"] == 0.0


@pytest.mark.parametrize("name, cls, cfg", [("l1", R.L1, {"l1": 0.01}), ("l2", R.L2, {"l2": 0.01}),
                                             ("l1_l2", R.L1L2, {"l1": 0.0, "l2": 0.0})])
def test_get_by_name_and_config_round_trip(name, cls, cfg):
    r = R.get(name)
    assert type(r) is cls and r.get_config() == cfg
    assert type(R.get(cls.__name__)) is cls
    again = R.get(R.serialize(cls(**{k: 0.5 for k in cfg})))
    assert type(again) is cls and again.get_config() == {k: 0.5 for k in cfg}
    assert cls.from_config(r.get_config()).get_config() == cfg
    assert R.l1 is R.L1 and R.l2 is R.L2 and R.l1_l2 is R.L1L2
    assert R.get(None) is None and R.serialize(None) is None


@pytest.mark.parametrize("make, arg", [
    (lambda: R.L1(-0.01), "l1"),
    (lambda: R.L2(-1), "l2"),
    (lambda: R.L1L2(l1=0.1, l2=-0.1), "l2"),
    (lambda: R.L1L2(l1=float("nan")), "l1"),
    (lambda: R.L2(float("inf")), "l2"),
    (lambda: R.L1("0.1"), "l1"),
    (lambda: R.get("l3"), "l3"),
    (lambda: R.get(42), "42"),
    (lambda: L.Dense(2, kernel_regularizer="l2x"), "l2x"),
    (lambda: L.Dense(2, bias_regularizer=R.L1(-2.0)), "l1"),
    (lambda: L.Dense(2, activity_regularizer="bad"), "bad"),
    (lambda: L.ActivityRegularization(l1=-1.0), "l1"),
])
def test_bad_regularizer_configuration(make, arg):
    with pytest.raises(ValueError) as e:
        make()
    assert isinstance(e.value, InvalidArgumentError)
    assert arg in str(e.value)


# -- regularization in layers and in the training loss ----------------------------------------------

def _dense_model(backend_name, **dense_kwargs):
    with em.device(backend_name):
        model = em.Sequential([em.Input((3,)), L.Dense(2, kernel_initializer=em.initializers.RandomNormal(seed=1),
                                                       bias_initializer="ones", **dense_kwargs)])
    return model


def test_layer_losses_kernel_bias_activity(backend_name, rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    model = _dense_model(backend_name, kernel_regularizer=R.L2(0.1), bias_regularizer=R.L1(0.2),
                         activity_regularizer=R.L1L2(0.01, 0.03))
    dense = model.layers[0]
    k, b = as_np(dense.kernel), as_np(dense.bias)
    # before any call: the weight penalties only
    assert len(model.losses) == 2
    out = as_np(model(x))
    losses = [float(v.item()) for v in model.losses]
    assert len(losses) == 3
    act = (0.01 * np.abs(out).sum() + 0.03 * (out ** 2).sum()) / x.shape[0]  # Keras 3: divided by the batch size
    np.testing.assert_allclose(losses[0], act, rtol=1e-5)
    np.testing.assert_allclose(losses[1], 0.1 * (k ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(losses[2], 0.2 * np.abs(b).sum(), rtol=1e-5)
    # a second call replaces the activity loss rather than adding another
    model(x[:2])
    assert len(model.losses) == 3
    with em.device(backend_name):
        out2 = as_np(dense(x[:2]))
    np.testing.assert_allclose(float(dense.losses[0].item()),
                               (0.01 * np.abs(out2).sum() + 0.03 * (out2 ** 2).sum()) / 2, rtol=1e-5)
    dense.trainable = False
    assert len(model.losses) == 1  # frozen weights carry no penalty


def test_fit_adds_penalty_to_loss_and_gradient(backend_name, rng):
    """One SGD step against float64: reported loss = mse + l2*sum(K^2) + l1*sum|b| +
    activity/batch, and K, b move by lr * (their total gradient)."""
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    l2, l1, la, lr = 0.1, 0.05, 0.02, 0.1
    model = _dense_model(backend_name, kernel_regularizer=R.L2(l2), bias_regularizer=R.L1(l1),
                         activity_regularizer=R.L2(la))
    model.compile(optimizer=em.optimizers.SGD(learning_rate=lr), loss="mse")
    k, b = as_np(model.layers[0].kernel), as_np(model.layers[0].bias)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    out = x64 @ k + b
    n = x.shape[0]
    mse = ((out - y64) ** 2).mean()
    penalty = l2 * (k ** 2).sum() + l1 * np.abs(b).sum() + la * (out ** 2).sum() / n
    g_out = 2 * (out - y64) / out.size + 2 * la * out / n
    g_k = x64.T @ g_out + 2 * l2 * k
    g_b = g_out.sum(0) + l1 * np.sign(b)
    hist = model.fit(x, y, batch_size=n, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"][0], mse + penalty, rtol=1e-5)
    np.testing.assert_allclose(as_np(model.layers[0].kernel), k - lr * g_k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(as_np(model.layers[0].bias), b - lr * g_b, rtol=1e-5, atol=1e-6)
    # evaluate reports the penalty too (activity term of the inference forward pass)
    k2, b2 = as_np(model.layers[0].kernel), as_np(model.layers[0].bias)
    out2 = x64 @ k2 + b2
    want = ((out2 - y64) ** 2).mean() + l2 * (k2 ** 2).sum() + l1 * np.abs(b2).sum() + la * (out2 ** 2).sum() / n
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=n, verbose=0), want, rtol=1e-5)


def test_regularized_model_trains_smaller_weights(backend_name, rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[3.0], [-2.0], [1.0]], np.float32)).astype(np.float32)
    norms = {}
    for reg in (None, R.L2(1.0)):
        em.utils.set_random_seed(0)
        with em.device(backend_name):
            model = em.Sequential([em.Input((3,)), L.Dense(1, kernel_regularizer=reg)])
        model.compile(optimizer=em.optimizers.SGD(learning_rate=0.05), loss="mse")
        model.fit(x, y, batch_size=16, epochs=30, verbose=0)
        norms[reg is None] = np.abs(as_np(model.layers[0].kernel)).sum()
    assert norms[False] < 0.8 * norms[True]


def test_dense_config_round_trip_with_regularizers():
    d = L.Dense(3, kernel_regularizer="l2", bias_regularizer=R.L1(0.5), activity_regularizer=R.L1L2(0.1, 0.2))
    cfg = d.get_config()
    # Keras 3's layout (keras.saving.serialize_keras_object of keras.regularizers.L2).
    assert cfg["kernel_regularizer"] == {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
                                         "registered_name": None}
    again = L.Dense.from_config({k: v for k, v in cfg.items() if k != "name"})
    assert again.kernel_regularizer.get_config() == {"l2": 0.01}
    assert again.bias_regularizer.get_config() == {"l1": 0.5}
    assert again.activity_regularizer.get_config() == {"l1": 0.1, "l2": 0.2}
    model = em.Sequential([em.Input((2,)), d])
    clone = em.Sequential.from_config(model.get_config())
    assert clone.layers[0].kernel_regularizer.get_config() == {"l2": 0.01}


def test_activity_regularization_layer(backend_name, rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    with em.device(backend_name):
        layer = L.ActivityRegularization(l1=0.1, l2=0.2)
        out = layer(x)
    np.testing.assert_array_equal(as_np(out), x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(float(layer.losses[0].item()),
                               (0.1 * np.abs(x64).sum() + 0.2 * (x64 ** 2).sum()) / 6, rtol=1e-5)


# -- dropout family ------------------------------------------------------------------------------------

def test_dropout_golden_masks(golden, backend_name):
    for c in golden["dropout"]["examples"]:
        with em.device(backend_name):
            x = em.Variable(np.array(c["x"], np.float32))
            mask = em.tensor(np.array(c["keep_mask"], np.float32) / (1.0 - c["rate"]))
            with em.GradientTape() as tape:
                s = em.ops.sum(em.ops.nn.dropout_with_mask(x, mask))
            out = em.ops.nn.dropout_with_mask(x, mask)
            np.testing.assert_allclose(as_np(out), c["output_training"], rtol=1e-6)
            np.testing.assert_allclose(as_np(tape.gradient(s, x)), c["grad_x_of_sum_output_training"], rtol=1e-6)
            np.testing.assert_array_equal(as_np(L.Dropout(c["rate"])(np.array(c["x"], np.float32))),
                                          c["output_inference"])


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_layer_matches_inverted_formula(backend_name, rate):
    """Training output is x * keep / (1 - rate) with keep ~ Bernoulli(1 - rate); gradient = keep / (1 - rate)."""
    x_np = np.random.default_rng(1).uniform(1, 2, (200, 100)).astype(np.float32)
    with em.device(backend_name):
        x = em.Variable(x_np)
        with em.GradientTape() as tape:
            out = L.Dropout(rate, seed=3)(x, training=True)
            s = em.ops.sum(out)
        g = as_np(tape.gradient(s, x))
    o = as_np(out)
    keep = o != 0
    np.testing.assert_allclose(o[keep], x_np[keep] / (1 - rate), rtol=1e-6)
    np.testing.assert_allclose(g, keep / (1 - rate), rtol=1e-6)
    n = keep.size
    assert abs(keep.mean() - (1 - rate)) < 5 * math.sqrt(rate * (1 - rate) / n)


def test_dropout_same_mask_on_every_device(backend_name):
    x = np.ones((30, 40), np.float32)
    ref = as_np(L.Dropout(0.4, seed=12)(x, training=True))
    with em.device(backend_name):
        got = as_np(L.Dropout(0.4, seed=12)(x, training=True))
    np.testing.assert_array_equal(got, ref)


def test_dropout_noise_shape_broadcasts(backend_name):
    x = np.ones((8, 5, 6), np.float32)
    with em.device(backend_name):
        o = as_np(L.Dropout(0.5, noise_shape=(None, 1, None), seed=2)(x, training=True))
    np.testing.assert_array_equal(o, np.broadcast_to(o[:, :1, :], o.shape))
    assert set(np.unique(o)) <= {0.0, 2.0}
    with pytest.raises(ShapeError, match="noise_shape"):
        L.Dropout(0.5, noise_shape=(None, 3, None))(x, training=True)


@pytest.mark.parametrize("cls, shape, fmt, channel_axes", [
    (L.SpatialDropout1D, (40, 7, 6), None, (0, 2)),
    (L.SpatialDropout2D, (30, 4, 5, 6), None, (0, 3)),
    (L.SpatialDropout2D, (30, 6, 4, 5), "channels_first", (0, 1)),
    (L.SpatialDropout3D, (20, 3, 2, 4, 5), "channels_last", (0, 4)),
])
def test_spatial_dropout_drops_whole_channels(backend_name, cls, shape, fmt, channel_axes):
    rate = 0.5
    kwargs = {} if fmt is None else {"data_format": fmt}
    x = np.random.default_rng(0).uniform(1, 2, shape).astype(np.float32)
    with em.device(backend_name):
        layer = cls(rate, seed=4, **kwargs)
        o = as_np(layer(x, training=True))
        np.testing.assert_array_equal(as_np(layer(x)), x)
    keep = o != 0
    np.testing.assert_allclose(o[keep], x[keep] / (1 - rate), rtol=1e-6)
    # every (sample, channel) map is kept or dropped as a whole
    other = tuple(a for a in range(len(shape)) if a not in channel_axes)
    per_map = keep.mean(axis=other)
    assert set(np.unique(per_map)) <= {0.0, 1.0}
    assert abs(per_map.mean() - (1 - rate)) < 5 * math.sqrt(rate * (1 - rate) / per_map.size)


def test_spatial_dropout_rank_checked():
    with pytest.raises(ShapeError, match="rank 3"):
        L.SpatialDropout1D(0.5)(np.ones((2, 3), np.float32), training=True)
    with pytest.raises(ShapeError, match="rank 4"):
        L.SpatialDropout2D(0.5)(np.ones((2, 3, 4), np.float32), training=True)


def test_gaussian_noise_statistics_and_gradient(backend_name):
    x_np = np.full((400, 250), 2.0, np.float32)
    with em.device(backend_name):
        x = em.Variable(x_np)
        layer = L.GaussianNoise(0.3, seed=5)
        with em.GradientTape() as tape:
            out = layer(x, training=True)
            s = em.ops.sum(out)
        g = as_np(tape.gradient(s, x))
        np.testing.assert_array_equal(as_np(layer(x_np)), x_np)
    noise = as_np(out) - 2.0
    assert abs(noise.mean()) < 0.005 and abs(noise.std() / 0.3 - 1) < 0.02
    np.testing.assert_array_equal(g, np.ones_like(x_np))


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gaussian_dropout_statistics_and_gradient(backend_name, rate):
    x_np = np.full((400, 250), 3.0, np.float32)
    with em.device(backend_name):
        x = em.Variable(x_np)
        layer = L.GaussianDropout(rate, seed=6)
        with em.GradientTape() as tape:
            out = layer(x, training=True)
            s = em.ops.sum(out)
        g = as_np(tape.gradient(s, x))
        np.testing.assert_array_equal(as_np(layer(x_np, training=False)), x_np)
    factor = as_np(out) / 3.0
    std = math.sqrt(rate / (1 - rate))  # Keras 3: multiplicative N(1, rate / (1 - rate))
    assert abs(factor.mean() - 1) < 0.01 and abs(factor.std() / std - 1) < 0.02
    np.testing.assert_allclose(g, factor, rtol=1e-5, atol=1e-6)


def test_noise_layers_seeded_reproducible_and_advancing(backend_name):
    x = np.ones((10, 10), np.float32)
    for make in (lambda: L.GaussianNoise(0.5, seed=1), lambda: L.GaussianDropout(0.3, seed=1),
                 lambda: L.SpatialDropout1D(0.5, seed=1)):
        xin = x.reshape(10, 5, 2) if isinstance(make(), L.SpatialDropout1D) else x
        with em.device(backend_name):
            a, b = make(), make()
            a1, a2 = as_np(a(xin, training=True)), as_np(a(xin, training=True))
            b1 = as_np(b(xin, training=True))
        np.testing.assert_array_equal(a1, b1)
        assert not np.array_equal(a1, a2)


def test_noise_layers_in_a_model_fit(backend_name, rng):
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    with em.device(backend_name):
        model = em.Sequential([em.Input((4,)), L.GaussianNoise(0.1, seed=1), L.Dense(8, activation="relu"),
                               L.GaussianDropout(0.2, seed=2), L.Dropout(0.1, seed=3), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(hist.history["loss"]))
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # inference is deterministic


@pytest.mark.parametrize("make, arg", [
    (lambda: L.Dropout(1.0), "rate"),
    (lambda: L.Dropout(-0.1), "rate"),
    (lambda: L.SpatialDropout1D(1.0), "rate"),
    (lambda: L.SpatialDropout2D(-0.5), "rate"),
    (lambda: L.SpatialDropout3D(1.5), "rate"),
    (lambda: L.GaussianDropout(1.0), "rate"),
    (lambda: L.GaussianDropout(-0.01), "rate"),
    (lambda: L.GaussianNoise(-0.1), "stddev"),
    (lambda: L.GaussianNoise(float("nan")), "stddev"),
    (lambda: L.SpatialDropout2D(0.5, data_format="NHWC"), "data_format"),
    (lambda: L.Dropout(0.5, noise_shape=(0, 1)), "noise_shape"),
    (lambda: L.GaussianNoise(0.1, seed="a"), "seed"),
])
def test_bad_noise_layer_configuration(make, arg):
    with pytest.raises(ValueError) as e:
        make()
    assert isinstance(e.value, InvalidArgumentError)
    assert arg in str(e.value)


@pytest.mark.parametrize("layer", [L.Dropout(0.3, noise_shape=(None, 1), seed=1), L.SpatialDropout1D(0.2, seed=2),
                                   L.SpatialDropout2D(0.2, data_format="channels_first"), L.SpatialDropout3D(0.1),
                                   L.GaussianNoise(0.2, seed=3), L.GaussianDropout(0.4), L.ActivityRegularization(0.1, 0.2)])
def test_noise_layer_config_round_trip(layer):
    cfg = layer.get_config()
    again = type(layer).from_config({k: v for k, v in cfg.items() if k != "name"})
    assert {k: v for k, v in again.get_config().items() if k != "name"} == {k: v for k, v in cfg.items() if k != "name"}
