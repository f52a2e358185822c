"""ember.constraints against float64 numpy and real Keras; the optimizer applies a weight's
constraint after each update, as Keras's optimizers do."""

import os

import numpy as np
import pytest

import ember as em

os.environ.setdefault("KERAS_BACKEND", "jax")

RNG = np.random.default_rng(3)
W = (RNG.normal(size=(5, 4)) * 2).astype(np.float32)
EPS = 1e-7


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w.astype(np.float64)), axis=axis, keepdims=True))


REFERENCES = [
    ("max_norm", lambda: em.constraints.MaxNorm(1.5), lambda w: w * np.clip(_norms(w, 0), 0, 1.5) / (EPS + _norms(w, 0))),
    ("max_norm_axis1", lambda: em.constraints.MaxNorm(1.0, axis=1),
     lambda w: w * np.clip(_norms(w, 1), 0, 1.0) / (EPS + _norms(w, 1))),
    ("non_neg", lambda: em.constraints.NonNeg(), lambda w: w * (w >= 0)),
    ("unit_norm", lambda: em.constraints.UnitNorm(), lambda w: w / (EPS + _norms(w, 0))),
    ("unit_norm_axes", lambda: em.constraints.UnitNorm(axis=[0, 1]), lambda w: w / (EPS + _norms(w, (0, 1)))),
    ("min_max_norm", lambda: em.constraints.MinMaxNorm(2.0, 3.0, rate=0.5),
     lambda w: w * (0.5 * np.clip(_norms(w, 0), 2.0, 3.0) + 0.5 * _norms(w, 0)) / (EPS + _norms(w, 0))),
]


@pytest.mark.parametrize("name,make,ref", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_against_float64_numpy(backend_name, name, make, ref):
    got = make()(em.tensor(W, device=backend_name)).numpy()
    np.testing.assert_allclose(got, ref(W), rtol=1e-5, atol=1e-6)


def test_against_keras_and_config_round_trip():
    keras = pytest.importorskip("keras")
    for c in (em.constraints.MaxNorm(1.5, axis=1), em.constraints.NonNeg(), em.constraints.UnitNorm(axis=0),
              em.constraints.MinMaxNorm(0.5, 2.0, rate=0.3)):
        kc = keras.constraints.deserialize(em.constraints.serialize(c))  # Keras reads Ember's config
        np.testing.assert_allclose(c(em.tensor(W)).numpy(), np.asarray(kc(W)), rtol=1e-5, atol=1e-6)
        back = em.constraints.deserialize(keras.constraints.serialize(kc))
        assert type(back) is type(c) and back.get_config() == c.get_config()
    assert isinstance(em.constraints.get("max_norm"), em.constraints.MaxNorm)
    assert em.constraints.get(None) is None
    assert em.constraints.max_norm is em.constraints.MaxNorm  # Keras's aliases are the classes


def test_bad_arguments():
    with pytest.raises(em.errors.InvalidArgumentError, match="max_value"):
        em.constraints.MaxNorm("big")
    with pytest.raises(em.errors.InvalidArgumentError, match="min_value"):
        em.constraints.MinMaxNorm(3.0, 1.0)
    with pytest.raises(em.errors.InvalidArgumentError, match="Unknown constraint"):
        em.constraints.get("no_such_constraint")


def test_optimizer_applies_the_constraint_after_the_update(backend_name):
    with em.device(backend_name):
        layer = em.layers.Dense(4, kernel_constraint="unit_norm", bias_constraint=em.constraints.NonNeg())
        layer.build((None, 5))
    layer.kernel.assign(W)
    layer.bias.assign(np.array([0.1, -0.2, 0.3, 0.0], np.float32))
    gk = RNG.normal(size=W.shape).astype(np.float32)
    gb = np.array([0.5, 0.5, -1.0, 0.0], np.float32)
    opt = em.optimizers.SGD(learning_rate=0.1)
    opt.apply([em.tensor(gk, device=backend_name), em.tensor(gb, device=backend_name)], [layer.kernel, layer.bias])
    k = W - 0.1 * gk
    np.testing.assert_allclose(layer.kernel.numpy(), k / (EPS + _norms(k, 0)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), np.maximum(np.array([0.1, -0.2, 0.3, 0.0]) - 0.1 * gb, 0), atol=1e-6)


def test_fit_keeps_constrained_weights_and_configs_round_trip():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[3.0], [-4.0], [5.0]], np.float32)).astype(np.float32)
    model = em.Sequential([em.Input((3,)), em.layers.Dense(1, kernel_constraint=em.constraints.MaxNorm(1.0)),
                           em.layers.BatchNormalization(gamma_constraint="non_neg", beta_constraint="max_norm")])
    model.compile(em.optimizers.Adam(0.1), "mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.linalg.norm(model.layers[0].kernel.numpy()) <= 1.0 + 1e-5
    assert (model.layers[1].gamma.numpy() >= 0).all()
    clone = em.Sequential.from_config(model.get_config())
    assert isinstance(clone.layers[0].kernel_constraint, em.constraints.MaxNorm)
    assert isinstance(clone.layers[1].gamma_constraint, em.constraints.NonNeg)
    ln = em.layers.LayerNormalization(gamma_constraint="unit_norm")
    assert em.layers.LayerNormalization.from_config(ln.get_config()).gamma_constraint.get_config() == {"axis": 0}
