"""The activation catalogue through the public API, on CPU and GPU.

* every activation against the golden file ('activations': values and derivatives at
  7 points, TensorFlow conventions at kinks), through the function, a string on a Dense
  layer (identity kernel) and an Activation layer;
* the Keras options (relu's negative_slope / max_value / threshold, leaky_relu's slope,
  elu's alpha, gelu's approximate) against float64 references, gradients by finite
  differences;
* softmax / log_softmax over every axis and over tuples of axes;
* ``get`` / ``serialize`` / ``deserialize``;
* the layers ReLU, LeakyReLU, PReLU (learned slope, shared_axes), ELU, Softmax (mask):
  values, gradients, validation, and get_config round trips through JSON and saving.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError

sys.path.insert(0, str(Path(__file__).parent / "backend"))
from _conformance import ELEMENTWISE, GRADIENT, assert_close, check_op, expect_error, f32, to_np  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6  # the golden file's float32 tolerances


def close(actual, expected, what=""):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


# golden name -> (function of a tensor, string usable on a layer or None)
GOLDEN = {
    "linear": (em.activations.linear, "linear"),
    "sigmoid": (em.activations.sigmoid, "sigmoid"),
    "hard_sigmoid": (em.activations.hard_sigmoid, "hard_sigmoid"),
    "tanh": (em.activations.tanh, "tanh"),
    "relu": (em.activations.relu, "relu"),
    "leaky_relu_0.2": (em.activations.leaky_relu, "leaky_relu"),
    "leaky_relu_0.3": (lambda x: em.layers.LeakyReLU()(x), None),
    "leaky_relu_0.01": (lambda x: em.activations.leaky_relu(x, negative_slope=0.01), None),
    "elu": (em.activations.elu, "elu"),
    "selu": (em.activations.selu, "selu"),
    "gelu_exact_erf": (em.activations.gelu, "gelu"),
    "gelu_tanh_approximation": (lambda x: em.activations.gelu(x, approximate=True), None),
    "silu": (em.activations.silu, "silu"),
    "softplus": (em.activations.softplus, "softplus"),
    "softsign": (em.activations.softsign, "softsign"),
    "relu6": (em.activations.relu6, "relu6"),
    "step": (em.activations.step, "step"),
    "mish": (em.activations.mish, "mish"),
}


def test_golden_file_covers_the_catalogue(golden):
    assert set(golden["activations"]["values"]) == set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_values(golden, backend_name, name):
    a = golden["activations"]
    fn, string = GOLDEN[name]
    x = em.tensor(np.array([a["x"]], np.float32), device=backend_name)
    want = np.array([a["values"][name]])
    close(to_np(fn(x)), want, f"{name} as a function")
    if string is not None:
        close(to_np(em.activations.get(string)(x)), want, f"{name} through get({string!r})")
        close(to_np(em.layers.Activation(string)(x)), want, f"{name} as Activation({string!r})")
        n = len(a["x"])
        model = em.Sequential([em.Input((n,)), em.layers.Dense(n, activation=string)])
        model.layers[0].set_weights([np.eye(n), np.zeros(n)])
        model.to(backend_name)
        close(to_np(model(x)), want, f"{name} as Dense(activation={string!r})")


@pytest.mark.parametrize("name,through", [(n, "function") for n in sorted(GOLDEN)]
                         + [(n, "dense") for n in sorted(GOLDEN) if GOLDEN[n][1] is not None])
def test_golden_derivatives(golden, backend_name, name, through):
    """All 7 points, kinks included: relu'(0) = relu6'(0) = 0 and step' = 0 as the golden
    file; leaky'(0) = 1 and selu'(0) = scale * alpha as Keras 3 on JAX."""
    a = golden["activations"]
    fn, string = GOLDEN[name]
    n = len(a["x"])
    x = em.Variable(np.array([a["x"]], np.float32), device=backend_name)
    with em.GradientTape() as tape:
        if through == "function":
            y = fn(x)
        else:
            model = em.Sequential([em.Input((n,)), em.layers.Dense(n, activation=string)])
            model.layers[0].set_weights([np.eye(n), np.zeros(n)])
            model.to(backend_name)
            y = model(x)
        s = em.ops.sum(y)
    g = tape.gradient(s, x)
    want = np.array(a["derivatives"][name], np.float64)
    # At the kinks of leaky_relu and selu Ember follows Keras 3 on JAX (leaky_relu'(0) = 1,
    # selu'(0) = scale * alpha) where the golden file states TensorFlow's kernels; it lists
    # those points as nondifferentiable. relu'(0) = 0 and elu'(0) = alpha agree in both.
    kink = {"selu": a["constants"]["selu_scale"] * a["constants"]["selu_alpha"]}
    if name.startswith("leaky_relu") or name in kink:
        for i in a["nondifferentiable_indices"][name]:
            want[i] = kink.get(name, 1.0)
    close(to_np(g)[0], want, f"{name}' through {through}")


@pytest.mark.parametrize("case", ["v_1_2_3", "v_1000_1001_1002", "batch_rows"])
def test_golden_softmax(golden, backend_name, case):
    c = golden["activations"]["softmax"][case]
    x = np.array(c["input"], np.float32).reshape(-1, 3)
    t = em.tensor(x, device=backend_name)
    close(to_np(em.activations.softmax(t)), np.reshape(c["softmax"], x.shape))
    close(to_np(em.activations.log_softmax(t)), np.reshape(c["log_softmax"], x.shape))
    close(to_np(em.layers.Softmax()(t)), np.reshape(c["softmax"], x.shape))
    close(to_np(em.activations.get("softmax")(t)), np.reshape(c["softmax"], x.shape))
    if "softmax_jacobian" in c:
        jac = np.zeros((3, 3))
        for i in range(3):
            v = em.Variable(x, device=backend_name)
            with em.GradientTape() as tape:
                p = em.layers.Softmax()(v)
                s = em.ops.sum(em.ops.multiply(p, em.tensor(np.eye(3, dtype=np.float32)[i:i + 1], device=backend_name)))
            jac[i] = to_np(tape.gradient(s, v))[0]
        close(jac, c["softmax_jacobian"])


# -- the Keras options against float64 references ---------------------------------------------

def _relu_ref(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu, written from its documentation."""
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.minimum(np.maximum(y, 0.0), max_value)
    return y - negative_slope * np.maximum(threshold - x, 0.0)


RELU_CASES = [
    dict(),
    dict(negative_slope=0.1),
    dict(max_value=6.0),
    dict(max_value=2.5),
    dict(threshold=0.7),
    dict(threshold=-0.5),
    dict(negative_slope=0.2, max_value=3.0),
    dict(negative_slope=0.3, threshold=1.0),
    dict(negative_slope=0.5, max_value=2.0, threshold=-1.0),
]


@pytest.mark.parametrize("kw", RELU_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_relu_options(backend_name, kw):
    # Points away from the kinks (0, the threshold, max_value) so finite differences apply.
    x = np.array([[-4.3, -2.1, -1.4, -0.8, -0.3, 0.2, 0.45, 1.3, 1.8, 2.8, 3.9, 7.2]])
    check_op(backend_name, lambda t: em.activations.relu(t, **kw), lambda v: _relu_ref(v, **kw), [x])


def test_relu_options_keras_docstring_example(backend_name):
    """The worked example of keras.activations.relu's documentation."""
    x = em.tensor([-10.0, -5.0, 0.0, 5.0, 10.0], device=backend_name)
    assert to_np(em.activations.relu(x)).tolist() == [0.0, 0.0, 0.0, 5.0, 10.0]
    assert to_np(em.activations.relu(x, negative_slope=0.5)).tolist() == [-5.0, -2.5, 0.0, 5.0, 10.0]
    assert to_np(em.activations.relu(x, max_value=5.0)).tolist() == [0.0, 0.0, 0.0, 5.0, 5.0]
    assert to_np(em.activations.relu(x, threshold=5.0)).tolist() == [-0.0, -0.0, 0.0, 0.0, 10.0]


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


_erf = np.vectorize(math.erf, otypes=[np.float64])
OPTION_CASES = {
    "leaky_relu(0.01)": (lambda t: em.activations.leaky_relu(t, negative_slope=0.01), lambda v: np.where(v > 0, v, 0.01 * v)),
    "elu(0.5)": (lambda t: em.activations.elu(t, alpha=0.5), lambda v: np.where(v > 0, v, 0.5 * np.expm1(np.minimum(v, 0)))),
    "elu(2)": (lambda t: em.activations.elu(t, alpha=2.0), lambda v: np.where(v > 0, v, 2.0 * np.expm1(np.minimum(v, 0)))),
    "gelu": (em.activations.gelu, lambda v: 0.5 * v * (1 + _erf(v / math.sqrt(2)))),
    "gelu(approximate)": (lambda t: em.activations.gelu(t, approximate=True),
                          lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
    "ops.gelu default (tanh)": (em.ops.gelu, lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
    "swish": (em.activations.swish, lambda v: v * _sig(v)),
    "hard_silu": (em.activations.hard_silu, lambda v: v * np.clip(v + 3, 0, 6) / 6),
    "log_sigmoid": (em.activations.log_sigmoid, lambda v: -np.logaddexp(0, -v)),
    "exponential": (em.activations.exponential, np.exp),
    "selu": (em.activations.selu, lambda v: 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * np.expm1(np.minimum(v, 0)))),
    "mish": (em.activations.mish, lambda v: v * np.tanh(np.logaddexp(0, v))),
    "softsign": (em.activations.softsign, lambda v: v / (1 + np.abs(v))),
    "hard_sigmoid": (em.activations.hard_sigmoid, lambda v: np.clip(v + 3, 0, 6) / 6),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_activation_options_and_gradients(backend_name, case):
    fn, ref = OPTION_CASES[case]
    x = np.random.default_rng(11).uniform(-3.9, 3.9, size=(3, 4))
    check_op(backend_name, fn, ref, [x])


def test_bad_arguments_raise_value_errors():
    x = em.tensor([1.0, -1.0])
    for call, word in [
        (lambda: em.activations.relu(x, negative_slope=None), "negative_slope"),
        (lambda: em.activations.relu(x, max_value="6"), "max_value"),
        (lambda: em.activations.relu(x, threshold=float("nan")), "threshold"),
        (lambda: em.activations.leaky_relu(x, negative_slope=float("inf")), "negative_slope"),
        (lambda: em.activations.elu(x, alpha=None), "alpha"),
        (lambda: em.activations.softmax(x, axis=1), "axis"),
        (lambda: em.activations.softmax(x, axis=(0, 0)), "axis"),
        (lambda: em.activations.log_softmax(x, axis="last"), "axis"),
    ]:
        e = expect_error(ValueError, call, words=(word,))
        assert isinstance(e, InvalidArgumentError)


# -- softmax over any axis -------------------------------------------------------------------

def _softmax_ref(v, axis, log=False):
    m = np.max(v, axis=axis, keepdims=True)
    lse = m + np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True))
    return v - lse if log else np.exp(v - lse)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3, (1, 2), (0, 2), (2, 0), (0, 1, 2), [1]])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_over_any_axis(backend_name, axis, log):
    x = np.random.default_rng(12).normal(0, 2, size=(2, 3, 4))
    fn = em.activations.log_softmax if log else em.activations.softmax
    np_axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    check_op(backend_name, lambda t: fn(t, axis=axis), lambda v: _softmax_ref(v, np_axis, log), [x])


def test_softmax_of_large_logits_over_tuple_axes(backend_name):
    x = f32(np.random.default_rng(13).normal(1000, 3, size=(2, 3, 4)))
    y = to_np(em.activations.softmax(em.tensor(x, device=backend_name), axis=(0, 2)))
    assert_close(y, _softmax_ref(x.astype(np.float64), (0, 2)), what="softmax((0, 2)) at 1000", **ELEMENTWISE)


# -- get / serialize / deserialize -----------------------------------------------------------

def test_get_serialize_round_trip():
    for name, fn in em.activations.ALL.items():
        assert em.activations.get(name) is fn
        assert em.activations.get(em.activations.serialize(fn)) is fn
        assert em.activations.deserialize(name) is fn
    assert em.activations.get("swish") is em.activations.silu
    assert em.activations.serialize(em.activations.swish) == "silu"
    assert em.activations.get("hard_swish") is em.activations.hard_silu
    assert em.activations.get(None) is em.activations.linear
    keras_dict = {"module": "keras.activations", "class_name": "function", "config": "gelu", "registered_name": "gelu"}
    assert em.activations.get(keras_dict) is em.activations.gelu
    custom = lambda x: x  # noqa: E731
    assert em.activations.get(custom) is custom
    expect_error(InvalidArgumentError, em.activations.get, "heaviside", words=("heaviside", "step"))
    expect_error(InvalidArgumentError, em.activations.get, 3.5, words=("3.5",))


@pytest.mark.parametrize("name", ["step", "gelu", "selu", "mish", "swish", "leaky_relu", "hard_sigmoid", "softmax"])
def test_string_activation_on_layers_round_trips(name):
    layer = em.layers.Dense(3, activation=name)
    cfg = json.loads(json.dumps(layer.get_config()))
    assert cfg["activation"] == name
    again = em.layers.Dense.from_config(cfg)
    assert again.activation is em.activations.get(name)
    act = em.layers.Activation(name)
    assert em.layers.Activation.from_config(json.loads(json.dumps(act.get_config()))).activation is em.activations.get(name)


def test_callable_activation_serializes_by_name():
    assert em.layers.Dense(2, activation=em.activations.mish).get_config()["activation"] == "mish"


# -- layers ----------------------------------------------------------------------------------

LAYER_CASES = {
    "ReLU()": (lambda: em.layers.ReLU(), lambda v: np.maximum(v, 0)),
    "ReLU(max_value=1.5)": (lambda: em.layers.ReLU(max_value=1.5), lambda v: np.clip(v, 0, 1.5)),
    "ReLU(negative_slope=0.1, threshold=0.5)": (lambda: em.layers.ReLU(negative_slope=0.1, threshold=0.5),
                                                lambda v: np.where(v > 0.5, v, 0.1 * (v - 0.5))),
    "LeakyReLU()": (lambda: em.layers.LeakyReLU(), lambda v: np.where(v > 0, v, 0.3 * v)),
    "LeakyReLU(0.05)": (lambda: em.layers.LeakyReLU(negative_slope=0.05), lambda v: np.where(v > 0, v, 0.05 * v)),
    "ELU()": (lambda: em.layers.ELU(), lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0)))),
    "ELU(0.7)": (lambda: em.layers.ELU(alpha=0.7), lambda v: np.where(v > 0, v, 0.7 * np.expm1(np.minimum(v, 0)))),
    "Softmax()": (lambda: em.layers.Softmax(), lambda v: _softmax_ref(v, -1)),
    "Softmax(axis=1)": (lambda: em.layers.Softmax(axis=1), lambda v: _softmax_ref(v, 1)),
    "Softmax(axis=(1, 2))": (lambda: em.layers.Softmax(axis=(1, 2)), lambda v: _softmax_ref(v, (1, 2))),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_activation_layers(backend_name, case):
    make, ref = LAYER_CASES[case]
    x = np.random.default_rng(14).uniform(-2.9, 2.9, size=(2, 3, 4))
    layer = make()
    check_op(backend_name, lambda t: layer(t), ref, [x])
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)
    cfg = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(cfg)
    assert again.get_config() == cfg
    assert_close(to_np(again(em.tensor(f32(x), device=backend_name))), ref(f32(x).astype(np.float64)),
                 what=f"{case} after from_config", **ELEMENTWISE)


def test_layer_configs_follow_keras():
    assert {k: v for k, v in em.layers.ReLU().get_config().items() if k in ("max_value", "negative_slope", "threshold")} == {
        "max_value": None, "negative_slope": 0.0, "threshold": 0.0}
    assert em.layers.LeakyReLU().get_config()["negative_slope"] == 0.3
    assert em.layers.ELU().get_config()["alpha"] == 1.0
    assert em.layers.Softmax().get_config()["axis"] == -1
    cfg = em.layers.PReLU(shared_axes=[1, 2]).get_config()
    assert cfg["shared_axes"] == [1, 2] and cfg["alpha_regularizer"] is None and cfg["alpha_constraint"] is None
    assert cfg["alpha_initializer"]["class_name"] == "Zeros"


def test_leaky_relu_accepts_keras2_alpha_with_a_warning():
    with pytest.warns(UserWarning, match="negative_slope"):
        layer = em.layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


@pytest.mark.parametrize("make,word", [
    (lambda: em.layers.ReLU(max_value=-1.0), "max_value"),
    (lambda: em.layers.ReLU(negative_slope=-0.1), "negative_slope"),
    (lambda: em.layers.ReLU(negative_slope=None), "negative_slope"),
    (lambda: em.layers.ReLU(threshold=-1.0), "threshold"),
    (lambda: em.layers.ReLU(threshold="0"), "threshold"),
    (lambda: em.layers.LeakyReLU(negative_slope=-0.3), "negative_slope"),
    (lambda: em.layers.LeakyReLU(negative_slope=None), "negative_slope"),
    (lambda: em.layers.ELU(alpha=float("nan")), "alpha"),
    (lambda: em.layers.Softmax(axis="channels"), "axis"),
    (lambda: em.layers.Softmax(axis=()), "axis"),
    (lambda: em.layers.PReLU(shared_axes=[0]), "shared_axes"),
    (lambda: em.layers.PReLU(alpha_initializer="nonsense"), "nonsense"),
    (lambda: em.layers.PReLU(alpha_constraint="non_neg"), "alpha_constraint"),
    (lambda: em.layers.ReLU(unknown_argument=1), "unknown_argument"),
])
def test_layer_validation(make, word):
    e = expect_error(ValueError, make, words=(word,))
    assert isinstance(e, InvalidArgumentError)


def test_prelu_learns_its_slope(backend_name):
    """The slope is a trainable weight of shape input_shape[1:] (size 1 on shared axes);
    its gradient is -sum(relu(-x) * g) over the batch and shared axes."""
    rng = np.random.default_rng(15)
    x = f32(rng.uniform(-3, 3, size=(4, 3, 5)))
    alpha0 = f32(rng.uniform(0, 0.5, size=(1, 5)))
    layer = em.layers.PReLU(shared_axes=[1], alpha_initializer=em.initializers.Constant(0.0))
    model = em.Sequential([em.Input((3, 5)), layer])
    model.to(backend_name)
    assert layer.alpha.shape == (1, 5) and layer.trainable_weights == [layer.alpha]
    assert np.all(to_np(layer.alpha) == 0.0)  # Keras' default: starts as a ReLU
    layer.set_weights([alpha0])

    def ref(v, a):
        return np.maximum(v, 0) - a * np.maximum(-v, 0)

    w = f32(rng.uniform(-1, 1, size=x.shape))
    xt = em.Variable(x, device=backend_name)
    with em.GradientTape() as tape:
        y = model(xt)
        s = em.ops.sum(em.ops.multiply(y, em.tensor(w, device=backend_name)))
    gx, ga = tape.gradient(s, [xt, layer.alpha])
    x64, a64, w64 = x.astype(np.float64), alpha0.astype(np.float64), w.astype(np.float64)
    assert_close(to_np(y), ref(x64, a64), what="PReLU forward", **ELEMENTWISE)
    assert_close(to_np(ga), -np.sum(np.maximum(-x64, 0) * w64, axis=(0, 1))[None, :], what="d alpha", **GRADIENT)
    assert_close(to_np(gx), np.where(x64 > 0, 1.0, a64) * w64, what="d x", **GRADIENT)


def test_prelu_trains_toward_a_leaky_target(backend_name):
    """fit() moves the learned slope from 0 toward the target's 0.25."""
    rng = np.random.default_rng(16)
    x = f32(rng.uniform(-2, 2, size=(256, 4)))
    y = np.where(x > 0, x, 0.25 * x).astype(np.float32)
    model = em.Sequential([em.Input((4,)), em.layers.PReLU()])
    model.to(backend_name)
    model.compile(optimizer=em.optimizers.SGD(learning_rate=0.5), loss="mse")
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    assert_close(model.layers[0].get_weights()[0], np.full((4,), 0.25), what="learned slope", rtol=0, atol=0.02)


def test_prelu_build_errors():
    expect_error(ShapeError, em.layers.PReLU(shared_axes=[3]), np.ones((2, 3), np.float32), words=("shared axis",))


def test_activation_layers_round_trip_in_a_model():
    model = em.Sequential([em.Input((3, 2)), em.layers.PReLU(shared_axes=1), em.layers.Flatten(),
                           em.layers.Dense(2, activation="gelu"), em.layers.LeakyReLU(negative_slope=0.1),
                           em.layers.ELU(alpha=0.5), em.layers.ReLU(max_value=4.0), em.layers.Softmax()])
    model.layers[0].set_weights([np.array([[0.1, 0.2]], np.float32)])
    x = f32(np.random.default_rng(17).normal(size=(5, 3, 2)))
    again = em.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    again.build((None, 3, 2))
    again.set_weights(model.get_weights())
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]
    assert again.layers[0].shared_axes == [1]
    assert again.layers[3].negative_slope == 0.1 and again.layers[4].alpha == 0.5 and again.layers[5].max_value == 4.0
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_softmax_layer_mask(backend_name):
    """Keras 3: masked positions get -1e9 added to their logits and a zero output."""
    x = f32(np.random.default_rng(18).normal(size=(2, 4)))
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 0]], dtype=bool)
    y = to_np(em.layers.Softmax()(em.tensor(x, device=backend_name), mask=mask))
    want = np.zeros((2, 4))
    for r in range(2):
        e = np.exp(x[r, mask[r]].astype(np.float64) - x[r, mask[r]].max())
        want[r, mask[r]] = e / e.sum()
    assert_close(y, want, what="masked softmax", **ELEMENTWISE)


def test_softmax_layer_keeps_logits_for_the_fused_loss(backend_name):
    """Softmax() then categorical crossentropy equals the from_logits loss (no log(0))."""
    z = em.tensor(f32([[1000.0, 0.0, -1000.0]]), device=backend_name)
    p = em.layers.Softmax()(z)
    loss = em.losses.categorical_crossentropy(em.tensor(f32([[0.0, 0.0, 1.0]]), device=backend_name), p)
    assert_close(to_np(loss), np.array([2000.0]), what="crossentropy through the logits", rtol=1e-5, atol=0)


def test_step_activation_has_zero_gradient(backend_name):
    with em.device(backend_name):
        x = em.Variable(f32([[-1.0, 0.0, 2.0]]))
        layer = em.layers.Dense(3, activation="step", kernel_initializer="identity")
        with em.GradientTape() as tape:
            y = layer(x)
            s = em.ops.sum(y)
        g = tape.gradient(s, x)
    assert to_np(y).tolist() == [[0.0, 1.0, 1.0]]
    assert to_np(g).tolist() == [[0.0, 0.0, 0.0]]
