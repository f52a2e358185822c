"""BatchNormalization, LayerNormalization and their ops, on every backend.

References: the golden values (``batch_norm`` and ``param_counts`` in golden.json), a
float64 numpy implementation of the Keras formulas, and central finite differences.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError

sys.path.insert(0, str(Path(__file__).parent / "backend"))
from _conformance import GRADIENT, REDUCTION, assert_close, check_op, f32, to_np

GOLDEN = dict(rtol=1e-5, atol=1e-6)


# -- float64 references ------------------------------------------------------------------------

def bn_ref(x, gamma, beta, axis, eps=1e-3):
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    kept = [1] * x.ndim
    kept[axis % x.ndim] = x.shape[axis]
    m = x.mean(axis=axes, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axes, keepdims=True)  # biased, as Keras
    y = (x - m) / np.sqrt(v + eps)
    if gamma is not None:
        y = y * gamma.reshape(kept)
    if beta is not None:
        y = y + beta.reshape(kept)
    return y


def ln_ref(x, gamma, beta, axes, eps=1e-3):
    axes = tuple(a % x.ndim for a in axes)
    kept = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    m = x.mean(axis=axes, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axes, keepdims=True)
    y = (x - m) / np.sqrt(v + eps)
    if gamma is not None:
        y = y * gamma.reshape(kept)
    if beta is not None:
        y = y + beta.reshape(kept)
    return y


def _layer_on(backend_name, layer, input_shape):
    with em.device(backend_name):
        layer._device = backend_name
        layer.build(input_shape)
    return layer


# -- golden values -------------------------------------------------------------------------------

def test_batch_norm_golden_training_moving_stats_inference_and_gradients(backend_name, golden):
    g = golden["batch_norm"]["batch_norm"]
    bn = _layer_on(backend_name, em.layers.BatchNormalization(), (None, 2))
    assert bn.momentum == g["momentum"] and bn.epsilon == g["epsilon"]
    assert_close(to_np(bn.moving_mean), g["moving_mean_initial"], what="moving_mean init", **GOLDEN)
    assert_close(to_np(bn.moving_variance), g["moving_variance_initial"], what="moving_variance init", **GOLDEN)
    bn.gamma.assign(np.array(g["gamma"], np.float32))
    bn.beta.assign(np.array(g["beta"], np.float32))
    x = em.tensor(np.array(g["x"], np.float32), device=backend_name)
    x.requires_grad = True

    y = bn(x, training=True)
    assert_close(to_np(y), g["output_training"], what="training output", **GOLDEN)
    assert_close(to_np(bn.moving_mean), g["moving_mean_after_1_step"], what="moving_mean", **GOLDEN)
    assert_close(to_np(bn.moving_variance), g["moving_variance_after_1_step"], what="moving_variance", **GOLDEN)

    y.backward(em.tensor(np.array(g["upstream_gradient"], np.float32), device=backend_name))
    assert_close(to_np(x.grad), g["grad_x"], what="grad_x", **GOLDEN)
    assert_close(to_np(bn.gamma.grad), g["grad_gamma"], what="grad_gamma", **GOLDEN)
    assert_close(to_np(bn.beta.grad), g["grad_beta"], what="grad_beta", **GOLDEN)

    # Inference (the default) uses the moving statistics and leaves them alone.
    out = bn(x)
    assert_close(to_np(out), g["output_inference_after_1_step"], what="inference output", **GOLDEN)
    assert_close(to_np(bn.moving_mean), g["moving_mean_after_1_step"], what="moving_mean after inference", **GOLDEN)


def test_batch_norm_op_golden_statistics(backend_name, golden):
    g = golden["batch_norm"]["batch_norm"]
    x = em.tensor(np.array(g["x"], np.float32), device=backend_name)
    y, m, v = em.ops.batch_norm(x, em.tensor(g["gamma"], device=backend_name), em.tensor(g["beta"], device=backend_name))
    assert_close(to_np(m), g["batch_mean"], what="batch mean", **GOLDEN)
    assert_close(to_np(v), g["batch_variance_biased"], what="biased batch variance", **GOLDEN)
    assert_close(to_np(y), g["output_training"], what="output", **GOLDEN)
    xh, _, _ = em.ops.batch_norm(x)
    assert_close(to_np(xh), g["x_hat"], what="x_hat (no gamma, no beta)", **GOLDEN)


def test_layer_norm_golden(backend_name, golden):
    g = golden["batch_norm"]["layer_norm"]
    ln = _layer_on(backend_name, em.layers.LayerNormalization(), (None, 4))
    assert ln.epsilon == g["epsilon"]
    ln.gamma.assign(np.array(g["gamma"], np.float32))
    ln.beta.assign(np.array(g["beta"], np.float32))
    x = em.tensor(np.array(g["x"], np.float32), device=backend_name)
    x.requires_grad = True
    y = ln(x, training=True)
    assert_close(to_np(y), g["output"], what="output", **GOLDEN)
    y.backward(em.tensor(np.array(g["upstream_gradient"], np.float32), device=backend_name))
    assert_close(to_np(x.grad), g["grad_x"], what="grad_x", **GOLDEN)
    assert_close(to_np(ln.gamma.grad), g["grad_gamma"], what="grad_gamma", **GOLDEN)
    assert_close(to_np(ln.beta.grad), g["grad_beta"], what="grad_beta", **GOLDEN)
    # PyTorch's default epsilon gives the other golden output.
    y5 = em.ops.layer_norm(x, ln.gamma, ln.beta, epsilon=1e-5)
    assert_close(to_np(y5), g["output_with_epsilon_1e-5"], what="epsilon 1e-5", **GOLDEN)


def test_param_counts_golden_dense16_batchnorm_dense1(golden):
    ref = golden["param_counts"]["dense16_batchnorm_dense1_on_10_inputs"]
    model = em.Sequential([em.Input(tuple(ref["input_shape"])), em.layers.Dense(16), em.layers.BatchNormalization(),
                           em.layers.Dense(1)])
    for layer, spec in zip(model.layers, ref["layers"]):
        assert layer.count_params() == spec["params"], spec
        assert layer.output_shape[1:] == tuple(spec["output_shape"]), spec
    assert model.count_params() == ref["total"]
    assert sum(w.size for w in model.trainable_weights) == ref["trainable"]
    assert sum(w.size for w in model.non_trainable_weights) == ref["non_trainable"]
    bn = model.layers[1]
    assert [w.name.split("/")[-1] for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"Total params: {ref['total']:,}" in text
    assert f"Trainable params: {ref['trainable']:,}" in text
    assert f"Non-trainable params: {ref['non_trainable']:,}" in text


# -- float64 reference and finite differences ------------------------------------------------------

@pytest.mark.parametrize("shape,axis", [((6, 3), -1), ((5, 4), 0 + 1), ((3, 2, 4), -1), ((2, 3, 2, 2), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_op_matches_float64_and_finite_differences(backend_name, shape, axis, affine):
    rng = np.random.default_rng(len(shape) * 10 + axis % len(shape))
    c = shape[axis]
    x = rng.normal(1.0, 2.0, size=shape)
    if affine:
        gamma, beta = rng.uniform(0.5, 1.5, size=c), rng.normal(size=c)
        check_op(backend_name, lambda t, g, b: em.ops.batch_norm(t, g, b, axis=axis)[0],
                 lambda t, g, b: bn_ref(t, g, b, axis), [x, gamma, beta], fwd_tol=REDUCTION, grad_tol=GRADIENT)
    else:
        check_op(backend_name, lambda t: em.ops.batch_norm(t, axis=axis)[0],
                 lambda t: bn_ref(t, None, None, axis), [x], fwd_tol=REDUCTION, grad_tol=GRADIENT)


def test_batch_norm_op_statistics_match_float64(backend_name, rng):
    x = f32(rng.normal(3.0, 2.0, size=(4, 3, 5)))
    _, m, v = em.ops.batch_norm(em.tensor(x, device=backend_name), axis=1)
    x64 = x.astype(np.float64)
    assert_close(to_np(m), x64.mean(axis=(0, 2)), what="mean", **REDUCTION)
    assert_close(to_np(v), x64.var(axis=(0, 2)), what="biased variance", **REDUCTION)
    assert not m.requires_grad and not v.requires_grad


@pytest.mark.parametrize("shape,axes", [((3, 5), [-1]), ((2, 3, 4), [-1]), ((2, 3, 4), [1, 2]), ((4, 3, 2), [1])])
def test_layer_norm_op_matches_float64_and_finite_differences(backend_name, shape, axes):
    rng = np.random.default_rng(sum(shape))
    pshape = tuple(shape[a] for a in axes)
    x = rng.normal(-1.0, 3.0, size=shape)
    gamma, beta = rng.uniform(-1.5, 1.5, size=pshape), rng.normal(size=pshape)
    check_op(backend_name, lambda t, g, b: em.ops.layer_norm(t, g, b, axis=axes),
             lambda t, g, b: ln_ref(t, g, b, axes), [x, gamma, beta], fwd_tol=REDUCTION, grad_tol=GRADIENT)


def test_batch_normalization_op_inference_formula_and_gradients(backend_name, rng):
    x = rng.normal(size=(5, 3))
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    scale, offset = rng.uniform(0.5, 1.5, size=3), rng.normal(size=3)

    def ref(t, m, v, s, o):
        return (t - m) / np.sqrt(v + 1e-3) * s + o

    check_op(backend_name, lambda t, m, v, s, o: em.ops.batch_normalization(t, m, v, axis=-1, offset=o, scale=s),
             ref, [x, mean, var, scale, offset], fwd_tol=REDUCTION, grad_tol=GRADIENT)


def test_moments_match_float64(backend_name, rng):
    x = f32(rng.normal(size=(3, 4, 2)))
    m, v = em.ops.moments(em.tensor(x, device=backend_name), axes=[0, 2])
    assert_close(to_np(m), x.astype(np.float64).mean(axis=(0, 2)), what="mean", **REDUCTION)
    assert_close(to_np(v), x.astype(np.float64).var(axis=(0, 2)), what="variance", **REDUCTION)


# -- the layer's behaviour --------------------------------------------------------------------------

def test_moving_statistics_over_several_steps_follow_keras_momentum(backend_name, rng):
    bn = _layer_on(backend_name, em.layers.BatchNormalization(momentum=0.9, epsilon=1e-2), (None, 3))
    mm, mv = np.zeros(3), np.ones(3)
    for step in range(4):
        x = f32(rng.normal(step, 1.0 + step, size=(8, 3)))
        y = bn(em.tensor(x, device=backend_name), training=True)
        x64 = x.astype(np.float64)
        mm = mm * 0.9 + x64.mean(0) * 0.1
        mv = mv * 0.9 + x64.var(0) * 0.1  # the biased batch variance, as Keras
        assert_close(to_np(y), bn_ref(x64, np.ones(3), np.zeros(3), -1, 1e-2), what=f"step {step}", **REDUCTION)
    assert_close(to_np(bn.moving_mean), mm, what="moving_mean", **REDUCTION)
    assert_close(to_np(bn.moving_variance), mv, what="moving_variance", **REDUCTION)
    xi = f32(rng.normal(size=(4, 3)))
    expected = (xi - mm) / np.sqrt(mv + 1e-2)
    assert_close(to_np(bn(em.tensor(xi, device=backend_name))), expected, what="inference", **REDUCTION)


def test_fit_updates_moving_statistics_as_the_batches_dictate(backend_name, rng):
    """A model's training step runs the layer in training mode: with the layer first and
    shuffle off, the moving statistics after an epoch follow from the batches alone."""
    x = f32(rng.normal(2.0, 3.0, size=(12, 3)))
    y = f32(rng.normal(size=(12, 1)))
    with em.device(backend_name):
        model = em.Sequential([em.Input((3,)), em.layers.BatchNormalization(momentum=0.8), em.layers.Dense(1)])
    model.compile(em.optimizers.SGD(0.01), "mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    mm, mv = np.zeros(3), np.ones(3)
    for b in range(3):
        xb = x[4 * b:4 * b + 4].astype(np.float64)
        mm, mv = mm * 0.8 + xb.mean(0) * 0.2, mv * 0.8 + xb.var(0) * 0.2
    bn = model.layers[0]
    assert_close(to_np(bn.moving_mean), mm, what="moving_mean", **REDUCTION)
    assert_close(to_np(bn.moving_variance), mv, what="moving_variance", **REDUCTION)
    # gamma and beta were trained; evaluate and predict leave the moving stats unchanged.
    assert not np.allclose(to_np(bn.gamma), 1.0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert_close(to_np(bn.moving_mean), mm, what="moving_mean after evaluate/predict", **REDUCTION)


def test_trainable_false_freezes_the_layer_and_runs_it_in_inference_mode(backend_name, rng):
    x = f32(rng.normal(1.0, 2.0, size=(16, 4)))
    y = f32(rng.normal(size=(16, 1)))
    with em.device(backend_name):
        model = em.Sequential([em.Input((4,)), em.layers.Dense(4), em.layers.BatchNormalization(), em.layers.Dense(1)])
    bn = model.layers[1]
    bn.moving_mean.assign(f32(rng.normal(size=4)))
    bn.moving_variance.assign(f32(rng.uniform(0.5, 2.0, size=4)))
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    assert sum(w.size for w in model.trainable_weights) == 20 + 5
    before = [to_np(w).copy() for w in bn.weights]
    dense_before = to_np(model.layers[0].kernel).copy()

    # training=True still normalises with the moving statistics (Keras 3 behaviour).
    h = to_np(model.layers[0](em.tensor(x, device=backend_name)))
    gamma, beta, mm, mv = (b.astype(np.float64) for b in before)
    assert_close(to_np(bn(em.tensor(h, device=backend_name), training=True)),
                 (h - mm) / np.sqrt(mv + 1e-3) * gamma + beta, what="frozen training output", **REDUCTION)

    model.compile(em.optimizers.SGD(0.1), "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for b, w in zip(before, bn.weights):
        np.testing.assert_array_equal(to_np(w), b, err_msg=w.name)
    assert not np.allclose(to_np(model.layers[0].kernel), dense_before), "the other layers still train"


def test_weights_round_trip_and_config(rng):
    model = em.Sequential([em.Input((3,)), em.layers.BatchNormalization(momentum=0.9, epsilon=0.01, center=False),
                           em.layers.LayerNormalization(axis=-1, scale=False)])
    bn = model.layers[0]
    assert bn.beta is None and model.layers[1].gamma is None
    weights = [f32(rng.normal(size=w.shape)) for w in model.get_weights()]
    weights[2] = np.abs(weights[2])
    model.set_weights(weights)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    cfg = json.loads(json.dumps(model.get_config()))
    clone = em.Sequential.from_config(cfg)
    c_bn, c_ln = clone.layers
    assert (c_bn.momentum, c_bn.epsilon, c_bn.center, c_bn.scale) == (0.9, 0.01, False, True)
    assert (c_ln.axis, c_ln.scale, c_ln.center, c_ln.epsilon) == (-1, False, True, 1e-3)
    assert clone.count_params() == model.count_params()


def test_layer_normalization_over_several_axes_builds_matching_weights():
    ln = em.layers.LayerNormalization(axis=[1, 2])
    y = ln(em.ops.ones((2, 3, 4)))
    assert ln.gamma.shape == (3, 4) and ln.beta.shape == (3, 4)
    assert y.shape == (2, 3, 4)
    assert ln.count_params() == 24


def test_layer_normalization_is_the_same_in_training_and_inference(rng):
    x = em.tensor(f32(rng.normal(size=(3, 5))))
    ln = em.layers.LayerNormalization()
    np.testing.assert_array_equal(to_np(ln(x, training=True)), to_np(ln(x, training=False)))


# -- bad configurations ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,word", [
    ({"momentum": -0.1}, "momentum"),
    ({"momentum": 1.5}, "momentum"),
    ({"momentum": float("nan")}, "momentum"),
    ({"momentum": "high"}, "momentum"),
    ({"epsilon": -1e-3}, "epsilon"),
    ({"epsilon": float("inf")}, "epsilon"),
    ({"axis": "channels"}, "axis"),
    ({"center": "yes"}, "center"),
    ({"gamma_initializer": "no_such_initializer"}, "gamma_initializer"),
    ({"beta_initializer": "nope"}, "beta_initializer"),
    ({"moving_mean_initializer": "nope"}, "moving_mean_initializer"),
    ({"moving_variance_initializer": "nope"}, "moving_variance_initializer"),
    ({"synchronized": "yes"}, "synchronized"),
    ({"unknown_argument": 1}, "unknown_argument"),
])
def test_batch_normalization_rejects_bad_configuration(kwargs, word):
    with pytest.raises(ValueError, match=word):
        em.layers.BatchNormalization(**kwargs)


@pytest.mark.parametrize("kwargs,word", [
    ({"epsilon": -1.0}, "epsilon"),
    ({"axis": []}, "axis"),
    ({"axis": 1.5}, "axis"),
    ({"scale": None}, "scale"),
    ({"gamma_initializer": "nope"}, "gamma_initializer"),
    ({"rms_scaling": True}, "rms_scaling"),
])
def test_layer_normalization_rejects_bad_configuration(kwargs, word):
    with pytest.raises(ValueError, match=word):
        em.layers.LayerNormalization(**kwargs)


def test_ops_reject_bad_arguments():
    x = em.ops.ones((4, 3))
    with pytest.raises(ShapeError, match="gamma"):
        em.ops.batch_norm(x, gamma=em.ops.ones((4,)))
    with pytest.raises(InvalidArgumentError, match="epsilon"):
        em.ops.batch_norm(x, epsilon=-1.0)
    with pytest.raises(InvalidArgumentError, match="axis"):
        em.ops.layer_norm(x, axis=5)
    with pytest.raises(ShapeError, match="beta"):
        em.ops.layer_norm(x, beta=em.ops.ones((4,)))
    with pytest.raises(ShapeError, match="no elements"):
        em.ops.batch_norm(em.ops.ones((0, 3)))


def test_building_on_an_unknown_axis_fails_clearly():
    with pytest.raises(ShapeError, match="axis"):
        em.layers.BatchNormalization(axis=3).build((None, 4))
    with pytest.raises(ValueError, match="axis"):
        em.layers.LayerNormalization(axis=0).build((None, 4))


def test_summary_is_printable_for_a_normalized_model():
    model = em.Sequential([em.Input((5,)), em.layers.LayerNormalization(), em.layers.BatchNormalization()])
    buf = io.StringIO()
    model.summary(print_fn=lambda s: buf.write(s + "\n"))
    assert "layer_normalization" in buf.getvalue() and "Non-trainable params: 10" in buf.getvalue()


def test_gamma_and_beta_regularizers_add_their_penalties(rng):
    bn = em.layers.BatchNormalization(gamma_regularizer=em.regularizers.L2(0.1), beta_regularizer="l1")
    ln = em.layers.LayerNormalization(gamma_regularizer=em.regularizers.L1(0.5))
    bn.build((None, 3))
    ln.build((None, 3))
    g, b = f32(rng.normal(size=3)), f32(rng.normal(size=3))
    bn.gamma.assign(g)
    bn.beta.assign(b)
    ln.gamma.assign(g)
    expected_bn = 0.1 * np.sum(g.astype(np.float64) ** 2) + 0.01 * np.sum(np.abs(b.astype(np.float64)))
    assert_close(sum(float(l.item()) for l in bn.losses), expected_bn, what="bn penalties", **REDUCTION)
    assert_close(sum(float(l.item()) for l in ln.losses), 0.5 * np.sum(np.abs(g.astype(np.float64))),
                 what="ln penalty", **REDUCTION)
    cfg = bn.get_config()
    assert cfg["gamma_regularizer"]["class_name"] == "L2"
    with pytest.raises(ValueError, match="gamma_regularizer"):
        em.layers.BatchNormalization(gamma_regularizer="no_such_regularizer")
    with pytest.raises(ValueError, match="constraint"):  # constraints are supported now; an unknown one is refused
        em.layers.LayerNormalization(beta_constraint="no_such_constraint")
