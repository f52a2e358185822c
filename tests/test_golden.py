"""Golden values from ``tests/reference/golden.json`` checked through the public API.

Only the keys whose features Ember has today: the Mazur backprop walk-through, bias-free
forward passes, activations, losses, the SGD/Adam/RMSprop trajectories, gradient
clipping, dropout, initializer scales, Dense parameter counts and one MLP SGD step.
Float32 tolerances come from each key's description.
"""

from __future__ import annotations

import numpy as np
import pytest

import ember as em

RTOL, ATOL = 1e-5, 1e-6


def close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=""):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol, err_msg=err_msg)


def as_np(t):
    return np.array(t.numpy() if isinstance(t, em.Tensor) else t, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# mazur_backprop
# ---------------------------------------------------------------------------------------------

def mazur_model(g, freeze_biases=False, lr=None):
    c = g["mazur_backprop"]
    model = em.Sequential([
        em.Input((2,)),
        em.layers.Dense(2, activation="sigmoid"),
        em.layers.Dense(2, activation="sigmoid"),
    ])
    model.set_weights([np.array(c["kernel_1"]), np.array(c["bias_1"]), np.array(c["kernel_2"]), np.array(c["bias_2"])])
    if freeze_biases:
        for layer in model.layers:
            layer.bias.trainable = False
    model.compile(optimizer=em.optimizers.SGD(learning_rate=lr or c["learning_rate"]), loss="mse")
    x = np.array([c["inputs"]], dtype=np.float32)
    y = np.array([c["targets"]], dtype=np.float32)
    return model, x, y


def test_mazur_forward(golden):
    c = golden["mazur_backprop"]
    model, x, y = mazur_model(golden)
    f = c["forward"]
    d1, d2 = model.layers
    h = d1(x)
    close(h.numpy()[0], f["out_h"])
    close(d2(h).numpy()[0], f["out_o"])
    close(model.predict(x, verbose=0)[0], f["out_o"])
    close(model(x).numpy()[0], f["out_o"])
    close(model.evaluate(x, y, verbose=0), f["keras_mse"])
    # net values through the linear part of each Dense layer
    net_h = x @ np.array(c["kernel_1"]) + np.array(c["bias_1"])
    close(net_h[0], f["net_h"])


def test_mazur_gradients_via_gradient_tape(golden):
    c = golden["mazur_backprop"]
    model, x, y = mazur_model(golden)
    loss_fn = em.losses.MeanSquaredError()
    with em.GradientTape() as tape:
        pred = model(x, training=True)
        loss = loss_fn(y, pred)
    close(float(loss), c["forward"]["E_total"])
    k1, b1, k2, b2 = model.trainable_variables
    grads = tape.gradient(loss, [k1, b1, k2, b2])
    gg = c["gradients"]
    close(as_np(grads[0]), gg["kernel_1"], atol=1e-8)
    close(as_np(grads[1]), gg["bias_1"], atol=1e-8)
    close(as_np(grads[2]), gg["kernel_2"])
    close(as_np(grads[3]), gg["bias_2"])


@pytest.mark.parametrize("mode", ["biases_frozen", "biases_trained"])
@pytest.mark.parametrize("how", ["fit", "train_on_batch"])
def test_mazur_one_step(golden, mode, how):
    c = golden["mazur_backprop"]
    s = c["after_one_step"]
    model, x, y = mazur_model(golden, freeze_biases=(mode == "biases_frozen"))
    if how == "fit":
        hist = model.fit(x, y, batch_size=1, epochs=1, verbose=0)
        close(hist.history["loss"][0], c["forward"]["E_total"])
    else:
        loss = model.train_on_batch(x, y)
        close(loss, c["forward"]["E_total"])
    k1, b1, k2, b2 = model.get_weights()
    close(k1, s["kernel_1"])
    close(k2, s["kernel_2"])
    if mode == "biases_frozen":
        np.testing.assert_array_equal(b1, np.float32(c["bias_1"]))
        np.testing.assert_array_equal(b2, np.float32(c["bias_2"]))
    else:
        close(b1, s["bias_1_if_trained"])
        close(b2, s["bias_2_if_trained"])
    close(model.predict(x, verbose=0)[0], s[mode]["out_o"])
    close(model.evaluate(x, y, verbose=0), s[mode]["E_total"])


def test_mazur_frozen_bias_is_not_trainable(golden):
    model, _, _ = mazur_model(golden, freeze_biases=True)
    assert len(model.trainable_variables) == 2
    assert len(model.non_trainable_variables) == 2
    assert len(model.weights) == 4
    assert all(v.shape == (2, 2) for v in model.trainable_variables)


@pytest.mark.parametrize("mode", ["biases_frozen", "biases_trained"])
def test_mazur_10000_steps(golden, mode):
    c = golden["mazur_backprop"]
    n = c["after_n_steps"]
    ref = n[mode]
    model, x, y = mazur_model(golden, freeze_biases=(mode == "biases_frozen"))
    steps = n["n"]
    # One epoch of `steps` identical samples at batch_size=1 is `steps` SGD steps on the sample.
    model.fit(np.repeat(x, steps, axis=0), np.repeat(y, steps, axis=0), batch_size=1, epochs=1, shuffle=False, verbose=0)
    w = model.get_weights()
    close(w[0], ref["kernel_1"], rtol=1e-3, atol=1e-6)
    close(w[2], ref["kernel_2"], rtol=1e-3, atol=1e-6)
    if mode == "biases_trained":
        close(w[1], ref["bias_1"], rtol=1e-3, atol=1e-6)
        close(w[3], ref["bias_2"], rtol=1e-3, atol=1e-6)
    else:
        np.testing.assert_array_equal(w[1], np.float32(c["bias_1"]))
        np.testing.assert_array_equal(w[3], np.float32(c["bias_2"]))
    close(model.predict(x, verbose=0)[0], ref["out_o"], rtol=1e-3, atol=1e-6)
    close(model.evaluate(x, y, verbose=0), ref["E_total"], rtol=1e-3, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# forward_no_bias
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["two_hidden_relu", "one_hidden_linear", "one_hidden_relu_batch"])
def test_forward_no_bias(golden, case):
    c = golden["forward_no_bias"][case]
    x = np.array(c["input"], dtype=np.float32)
    layers = [em.layers.Dense(np.shape(k)[1], activation=a, use_bias=False) for k, a in zip(c["kernels"], c["activations"])]
    model = em.Sequential([em.Input((x.shape[1],)), *layers])
    assert model.count_params() == sum(np.size(k) for k in c["kernels"])
    model.set_weights([np.array(k) for k in c["kernels"]])
    h = x
    for i, layer in enumerate(model.layers[:-1]):
        z = h @ np.array(c["kernels"][i])
        close(z, c["pre_activations"][i], atol=1e-6)
        h = layer(h).numpy()
        close(h, c["hidden_activations"][i], atol=1e-6)
    close(model.predict(x, verbose=0), c["output"], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------

EMBER_ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh"]


@pytest.mark.parametrize("name", EMBER_ACTIVATIONS)
def test_activation_values(golden, name):
    a = golden["activations"]
    f = em.activations.get(name)
    x = em.tensor(np.array(a["x"], dtype=np.float32))
    close(as_np(f(x)), a["values"][name])
    # the same through an Activation layer and through a Dense layer with an identity kernel
    close(as_np(em.layers.Activation(name)(x.reshape(1, -1))[0]), a["values"][name])
    dense = em.layers.Dense(len(a["x"]), activation=name)
    dense.build((None, len(a["x"])))
    dense.set_weights([np.eye(len(a["x"])), np.zeros(len(a["x"]))])
    close(as_np(dense(x.reshape(1, -1)))[0], a["values"][name])


@pytest.mark.parametrize("name", EMBER_ACTIVATIONS)
@pytest.mark.parametrize("through", ["function", "dense"])
def test_activation_derivatives(golden, name, through):
    a = golden["activations"]
    n = len(a["x"])
    skip = set(a["nondifferentiable_indices"][name])
    x = em.Variable(np.array([a["x"]], dtype=np.float32))
    if through == "function":
        with em.GradientTape() as tape:
            y = em.activations.get(name)(x)
            s = em.ops.sum(y)
        g = as_np(tape.gradient(s, x))[0]
    else:
        dense = em.layers.Dense(n, activation=name)
        dense.build((None, n))
        dense.set_weights([np.eye(n), np.zeros(n)])
        with em.GradientTape() as tape:
            s = em.ops.sum(dense(x))
        g = as_np(tape.gradient(s, x))[0]
    keep = [i for i in range(n) if i not in skip]
    close(g[keep], np.array(a["derivatives"][name])[keep])


def test_relu_derivative_at_zero_follows_tensorflow(golden):
    """relu'(0) = 0 (the TensorFlow kernel convention the golden file states)."""
    x = em.Variable(np.zeros((1, 3), np.float32))
    with em.GradientTape() as tape:
        s = em.ops.sum(em.activations.relu(x))
    close(as_np(tape.gradient(s, x)), np.zeros((1, 3)), rtol=0, atol=0)


@pytest.mark.parametrize("case", ["v_1_2_3", "v_1000_1001_1002", "batch_rows"])
def test_softmax_and_log_softmax(golden, case):
    c = golden["activations"]["softmax"][case]
    x = np.array(c["input"], dtype=np.float32).reshape(-1, 3)
    want_p = np.reshape(c["softmax"], x.shape)
    want_lp = np.reshape(c["log_softmax"], x.shape)
    close(as_np(em.activations.softmax(em.tensor(x))), want_p)
    close(as_np(em.activations.log_softmax(em.tensor(x))), want_lp)
    close(as_np(em.layers.Activation("softmax")(x)), want_p)
    close(as_np(em.layers.Activation("log_softmax")(x)), want_lp)
    # the same through a softmax Dense layer with an identity kernel
    dense = em.layers.Dense(3, activation="softmax")
    dense.build((None, 3))
    dense.set_weights([np.eye(3), np.zeros(3)])
    close(as_np(dense(x)), want_p)
    if "softmax_jacobian" in c:
        jac = np.zeros((3, 3))
        for i in range(3):
            v = em.Variable(x)
            with em.GradientTape() as tape:
                p = em.activations.softmax(v)
                pi = em.ops.sum(em.ops.multiply(p, em.tensor(np.eye(3, dtype=np.float32)[i:i + 1])))
            jac[i] = as_np(tape.gradient(pi, v))[0]
        close(jac, c["softmax_jacobian"])


def test_softmax_cases_all_checked(golden):
    # every softmax entry in the file is exercised above
    assert set(golden["activations"]["softmax"]) <= {"v_1_2_3", "v_1000_1001_1002", "batch_rows"}


# ---------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------

LOSS_CASES = {
    "mse": (lambda: em.losses.MeanSquaredError(), em.losses.mean_squared_error, "y_pred"),
    "mae": (lambda: em.losses.MeanAbsoluteError(), em.losses.mean_absolute_error, "y_pred"),
    "binary_crossentropy": (lambda: em.losses.BinaryCrossentropy(), em.losses.binary_crossentropy, "y_pred"),
    "binary_crossentropy_from_logits": (
        lambda: em.losses.BinaryCrossentropy(from_logits=True),
        lambda t, p: em.losses.binary_crossentropy(t, p, from_logits=True), "logits"),
    "categorical_crossentropy": (lambda: em.losses.CategoricalCrossentropy(), em.losses.categorical_crossentropy, "y_pred"),
    "categorical_crossentropy_from_logits": (
        lambda: em.losses.CategoricalCrossentropy(from_logits=True),
        lambda t, p: em.losses.categorical_crossentropy(t, p, from_logits=True), "logits"),
    "categorical_crossentropy_label_smoothing_0.1": (
        lambda: em.losses.CategoricalCrossentropy(label_smoothing=0.1),
        lambda t, p: em.losses.categorical_crossentropy(t, p, label_smoothing=0.1), "y_pred"),
    "categorical_crossentropy_from_logits_label_smoothing_0.1": (
        lambda: em.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda t, p: em.losses.categorical_crossentropy(t, p, from_logits=True, label_smoothing=0.1), "logits"),
    "sparse_categorical_crossentropy": (
        lambda: em.losses.SparseCategoricalCrossentropy(), em.losses.sparse_categorical_crossentropy, "y_pred"),
    "sparse_categorical_crossentropy_from_logits": (
        lambda: em.losses.SparseCategoricalCrossentropy(from_logits=True),
        lambda t, p: em.losses.sparse_categorical_crossentropy(t, p, from_logits=True), "logits"),
}


def _y_true(case):
    yt = np.array(case["y_true"])
    return yt.astype(np.int32) if yt.dtype.kind in "iu" else yt.astype(np.float32)


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_loss_value_and_gradient(golden, name):
    case = golden["losses"]["cases"][name]
    make, fn, pred_key = LOSS_CASES[name]
    y_true = _y_true(case)
    pred = em.Variable(np.array(case[pred_key], dtype=np.float32))
    close(as_np(fn(y_true, pred)), case["per_sample"])
    loss = make()
    with em.GradientTape() as tape:
        value = loss(y_true, pred)
    close(float(value), case["value"])
    grad = tape.gradient(value, pred)
    grad_key = "grad_logits" if pred_key == "logits" else "grad_y_pred"
    close(as_np(grad), case[grad_key])


@pytest.mark.parametrize("name", ["mse", "mae", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_loss_by_string_name(golden, name):
    case = golden["losses"]["cases"][name]
    loss = em.losses.get(name)
    close(float(loss(_y_true(case), np.array(case["y_pred"], dtype=np.float32))), case["value"])


def test_loss_binary_crossentropy_clipping(golden):
    case = golden["losses"]["cases"]["binary_crossentropy_clipping"]
    value = float(em.losses.BinaryCrossentropy()(np.array(case["y_true"]), np.array(case["y_pred"], dtype=np.float32)))
    close(value, case["value_float32_bounds"], rtol=1e-5)
    # where the clip is active the gradient is 0
    pred = em.Variable(np.array(case["y_pred"], dtype=np.float32))
    with em.GradientTape() as tape:
        v = em.losses.BinaryCrossentropy()(np.array(case["y_true"], dtype=np.float32), pred)
    g = as_np(tape.gradient(v, pred))
    assert np.all(np.isfinite(g))
    close(g, np.zeros_like(g), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "binary_crossentropy_from_logits",
                                  "categorical_crossentropy"])
def test_loss_keras_docstring_examples(golden, name):
    c = golden["losses"]["extra_examples"][name]
    fn = {
        "mean_squared_error": em.losses.MeanSquaredError(),
        "mean_absolute_error": em.losses.MeanAbsoluteError(),
        "binary_crossentropy_from_logits": em.losses.BinaryCrossentropy(from_logits=True),
        "categorical_crossentropy": em.losses.CategoricalCrossentropy(),
    }[name]
    close(float(fn(np.array(c["y_true"], np.float32), np.array(c["y_pred"], np.float32))), c["value"])


def test_crossentropy_through_fused_softmax_dense_matches_golden(golden):
    """A softmax Dense layer followed by categorical crossentropy gives the loss of
    the probabilities and the logits' gradient (p - t)/n, as in the file."""
    case = golden["losses"]["cases"]["categorical_crossentropy_from_logits"]
    logits = np.array(case["logits"], np.float32)
    n, k = logits.shape
    dense = em.layers.Dense(k, activation="softmax")
    dense.build((None, k))
    dense.set_weights([np.eye(k), np.zeros(k)])
    x = em.Variable(logits)
    for loss in (em.losses.CategoricalCrossentropy(), em.losses.SparseCategoricalCrossentropy()):
        y = np.array(case["y_true"], np.float32)
        if isinstance(loss, em.losses.SparseCategoricalCrossentropy):
            y = np.argmax(y, axis=-1).astype(np.int32)
        with em.GradientTape() as tape:
            v = loss(y, dense(x))
        close(float(v), case["value"])
        close(as_np(tape.gradient(v, x)), case["grad_logits"])


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------

OPTIMIZERS = {"sgd": em.optimizers.SGD, "adam": em.optimizers.Adam, "rmsprop": em.optimizers.RMSprop}


def _opt_cases(golden_key):
    import json
    from pathlib import Path

    g = json.loads((Path(__file__).parent / "reference" / "golden.json").read_text())
    # amsgrad is not implemented yet (Adam refuses amsgrad=True with a clear error)
    return [c for c in g["optimizers"][golden_key]
            if c["optimizer"] in OPTIMIZERS and not c["hyperparameters"].get("amsgrad")]


def _run_trajectory(case):
    hp = dict(case["hyperparameters"])
    opt = OPTIMIZERS[case["optimizer"]](**hp)
    v = em.Variable(np.array(case["theta0"], dtype=np.float32))
    out = []
    for g in case["grads"]:
        opt.apply_gradients([(em.tensor(np.array(g, dtype=np.float32)), v)])
        out.append(np.array(v.numpy(), dtype=np.float64))
    return opt, v, np.array(out)


@pytest.mark.parametrize("case", _opt_cases("cases"), ids=lambda c: c["name"])
def test_optimizer_trajectory(case):
    _, _, theta = _run_trajectory(case)
    lr = case["hyperparameters"]["learning_rate"]
    atol = 1e-7 if lr == 1e-3 else 1e-6
    close(theta, case["theta"], rtol=1e-5, atol=atol, err_msg=case["name"])


@pytest.mark.parametrize("case", _opt_cases("epsilon_discriminators"), ids=lambda c: c["name"])
def test_optimizer_epsilon_discriminator(case):
    _, _, theta = _run_trajectory(case)
    close(theta, case["theta"], rtol=1e-4, atol=0, err_msg=case["name"])
    for name, wrong in case["incorrect_variants_for_reference"].items():
        if isinstance(wrong, list) and np.shape(wrong) == np.shape(case["theta"]):
            assert not np.allclose(theta, wrong, rtol=1e-4, atol=0), f"matches the incorrect variant {name}"


def test_optimizer_iterations_count(golden):
    case = golden["optimizers"]["cases"][0]
    opt, _, _ = _run_trajectory(case)
    assert int(opt.iterations) == len(case["grads"])


def test_optimizer_trajectory_through_fit():
    """The same SGD-with-momentum trajectory as a model trained by fit: a Dense(1)
    without bias on x = 1 with loss 'mse' scaled so that dL/dw = w - target."""
    opt = em.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    model = em.Sequential([em.Input((1,)), em.layers.Dense(1, use_bias=False)])
    model.set_weights([np.array([[1.0]])])
    model.compile(opt, "mse")
    x = np.ones((1, 1), np.float32)
    y = np.zeros((1, 1), np.float32)
    w, vel = 1.0, 0.0
    for _ in range(5):
        model.train_on_batch(x, y)
        g = 2 * w  # d/dw (w*1 - 0)^2
        vel = 0.9 * vel - 0.1 * g
        w = w + vel
        close(model.get_weights()[0][0, 0], w)


# ---------------------------------------------------------------------------------------------
# clipping
# ---------------------------------------------------------------------------------------------

def _clipped(kind, c):
    """Gradients after clipping, read back through an SGD(lr=1) step from zero."""
    opt = em.optimizers.SGD(learning_rate=1.0, **{kind: c[kind]})
    vars_ = [em.Variable(np.zeros(np.shape(g), np.float32)) for g in c["grads"]]
    opt.apply_gradients([(em.tensor(np.array(g, np.float32)), v) for g, v in zip(c["grads"], vars_)])
    return [-as_np(v) for v in vars_]


@pytest.mark.parametrize("kind", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_clipping(golden, kind):
    for c in golden["clipping"][kind]:
        if kind == "clipnorm":
            # the optimizer clips each tensor separately: apply one at a time too
            for g, want in zip(c["grads"], c["clipped"]):
                got = _clipped(kind, {"clipnorm": c["clipnorm"], "grads": [g]})[0]
                close(got, want)
                assert np.all(np.isfinite(got))
        for got, want in zip(_clipped(kind, c), c["clipped"]):
            close(got, want)
            assert np.all(np.isfinite(got))


def test_sgd_step_with_clipnorm(golden):
    c = golden["clipping"]["sgd_step_with_clipnorm"]
    v = em.Variable(np.array(c["theta0"], np.float32))
    opt = em.optimizers.SGD(learning_rate=c["learning_rate"], clipnorm=c["clipnorm"])
    opt.apply_gradients([(em.tensor(np.array(c["grad"], np.float32)), v)])
    close(as_np(v), c["theta1"])


# ---------------------------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------------------------

def test_dropout_mask_formula(golden):
    """Inverted dropout: out = x * mask / (1 - rate), gradient of sum(out) = mask / (1 - rate)."""
    for c in golden["dropout"]["examples"]:
        x = em.Variable(np.array(c["x"], np.float32))
        mask = em.tensor(np.array(c["keep_mask"], np.float32) / (1.0 - c["rate"]))
        with em.GradientTape() as tape:
            out = em.ops.nn.dropout_with_mask(x, mask)
            s = em.ops.sum(out)
        close(as_np(out), c["output_training"])
        close(as_np(tape.gradient(s, x)), c["grad_x_of_sum_output_training"])


def test_dropout_layer_inference_is_identity(golden):
    for c in golden["dropout"]["examples"]:
        layer = em.layers.Dropout(c["rate"])
        x = np.array(c["x"], np.float32)
        close(as_np(layer(x)), c["output_inference"], rtol=0, atol=0)
        close(as_np(layer(x, training=False)), c["output_inference"], rtol=0, atol=0)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_layer_training_statistics(golden, rate):
    """Each output is 0 or x/(1-rate); the kept fraction is 1-rate; the gradient is the
    same mask; the mean is preserved."""
    n = 200_000
    x = em.Variable(np.full((n // 100, 100), 3.0, np.float32))
    layer = em.layers.Dropout(rate)
    with em.GradientTape() as tape:
        out = layer(x, training=True)
        s = em.ops.sum(out)
    o = as_np(out)
    g = as_np(tape.gradient(s, x))
    kept = o != 0
    close(o[kept], np.full(kept.sum(), 3.0 / (1 - rate)))
    frac = kept.mean()
    # binomial standard deviation sqrt(p(1-p)/n) ~ 1e-3: allow 5 sigma
    assert abs(frac - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    assert abs(o.mean() - 3.0) < 0.02
    close(g, np.where(kept, 1.0 / (1 - rate), 0.0))


def test_dropout_masks_differ_between_calls():
    layer = em.layers.Dropout(0.5)
    x = np.ones((10, 100), np.float32)
    a, b = as_np(layer(x, training=True)), as_np(layer(x, training=True))
    assert not np.array_equal(a, b)


def test_dropout_seeded_is_reproducible():
    x = np.ones((10, 100), np.float32)
    a = as_np(em.layers.Dropout(0.3, seed=7)(x, training=True))
    b = as_np(em.layers.Dropout(0.3, seed=7)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_dropout_rate_zero_is_identity_in_training():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(as_np(em.layers.Dropout(0.0)(x, training=True)), x)


# ---------------------------------------------------------------------------------------------
# initializer scales
# ---------------------------------------------------------------------------------------------

INIT_FAMILIES = {"glorot": ("GlorotUniform", "GlorotNormal"), "he": ("HeUniform", "HeNormal"),
                 "lecun": ("LecunUniform", "LecunNormal")}


def _shape_ids(golden_shapes):
    return [tuple(s["shape"]) for s in golden_shapes]


@pytest.mark.parametrize("family", sorted(INIT_FAMILIES))
def test_initializer_uniform_limits(golden, family):
    uni, _ = INIT_FAMILIES[family]
    for s in golden["initializer_scales"]["shapes"]:
        shape = tuple(s["shape"])
        limit = s[f"{family}_uniform_limit"]
        # a large draw with the same fans: draw shape's fan-equivalent many times
        w = as_np(getattr(em.initializers, uni)(seed=3)(shape))
        assert w.shape == shape
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        big = _draw_many(getattr(em.initializers, uni), shape)
        assert np.abs(big).max() <= limit * (1 + 1e-6)
        # uniform on [-limit, limit]: max close to the limit, std = limit/sqrt(3)
        assert np.abs(big).max() > 0.99 * limit
        assert abs(big.std() / (limit / np.sqrt(3)) - 1) < 0.03
        assert abs(big.mean()) < 0.03 * limit


@pytest.mark.parametrize("family", sorted(INIT_FAMILIES))
def test_initializer_truncated_normal_std(golden, family):
    _, normal = INIT_FAMILIES[family]
    for s in golden["initializer_scales"]["shapes"]:
        shape = tuple(s["shape"])
        target = s[f"{family}_normal_target_std"]
        bound = s[f"{family}_normal_truncation_bound"]
        big = _draw_many(getattr(em.initializers, normal), shape)
        assert np.abs(big).max() <= bound * (1 + 1e-5)
        assert abs(big.std() / target - 1) < 0.03, (shape, big.std(), target)
        assert abs(big.mean()) < 0.03 * target


def test_truncated_normal_std_factor(golden):
    c = golden["initializer_scales"]
    assert em.initializers.TRUNCATED_STD_FACTOR == pytest.approx(c["truncated_normal_std_factor"], rel=1e-12)


def test_initializer_by_string_name_in_dense(golden):
    s = golden["initializer_scales"]["shapes"][0]
    layer = em.layers.Dense(s["shape"][1], kernel_initializer="he_uniform")
    layer.build((None, s["shape"][0]))
    k = as_np(layer.kernel)
    assert np.abs(k).max() <= s["he_uniform_limit"] * (1 + 1e-6)
    assert abs(k.std() / (s["he_uniform_limit"] / np.sqrt(3)) - 1) < 0.03
    np.testing.assert_array_equal(as_np(layer.bias), np.zeros(s["shape"][1]))


def _draw_many(cls, shape, at_least=200_000):
    out, n = [], 0
    seed = 0
    while n < at_least:
        w = as_np(cls(seed=seed)(shape))
        assert w.shape == shape
        out.append(w.ravel())
        n += w.size
        seed += 1
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# param_counts (dense models only)
# ---------------------------------------------------------------------------------------------

def _build_dense_model(spec):
    layers = []
    for entry in spec["layers"]:
        kind, *rest = entry["layer"].split()
        if kind == "Dense":
            layers.append(em.layers.Dense(int(rest[0])))
        elif kind == "Dropout":
            layers.append(em.layers.Dropout(0.2))
        else:
            return None
    return em.Sequential([em.Input(tuple(spec["input_shape"])), *layers])


def _dense_param_cases():
    import json
    from pathlib import Path

    g = json.loads((Path(__file__).parent / "reference" / "golden.json").read_text())
    out = []
    for name, spec in g["param_counts"].items():
        if isinstance(spec, dict) and "layers" in spec and all(
                e["layer"].split()[0] in ("Dense", "Dropout") for e in spec["layers"]):
            out.append(name)
    return out


@pytest.mark.parametrize("name", _dense_param_cases())
def test_param_counts(golden, name):
    spec = golden["param_counts"][name]
    model = _build_dense_model(spec)
    assert model.count_params() == spec["total"]
    for layer, entry in zip(model.layers, spec["layers"]):
        assert layer.count_params() == entry["params"]
        assert tuple(layer.output_shape)[1:] == tuple(entry["output_shape"])
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == spec.get("trainable", spec["total"])


def test_param_count_cases_present():
    assert {"iris_dense8_relu_dense3_softmax", "mnist_mlp_dense128_dropout_dense64_dropout_dense10",
            "dense4_dense1_on_3_inputs"} <= set(_dense_param_cases())


# ---------------------------------------------------------------------------------------------
# mlp_cce_sgd_step
# ---------------------------------------------------------------------------------------------

def _mlp(c):
    x = np.array(c["x"], np.float32)
    layers = [em.layers.Dense(np.shape(k)[1], activation=a) for k, a in zip(c["kernels"], c["activations"])]
    model = em.Sequential([em.Input((x.shape[1],)), *layers])
    weights = []
    for k, b in zip(c["kernels"], c["biases"]):
        weights += [np.array(k), np.array(b)]
    model.set_weights(weights)
    model.compile(em.optimizers.SGD(learning_rate=c["learning_rate"]), "categorical_crossentropy")
    return model, x, np.array(c["y_true"], np.float32)


def test_mlp_cce_forward_and_gradients(golden):
    c = golden["mlp_cce_sgd_step"]
    model, x, y = _mlp(c)
    h = x
    for i, layer in enumerate(model.layers[:-1]):
        h = layer(h)
        close(as_np(h), c["hidden_activations"][i])
    close(model.predict(x, verbose=0), c["probabilities"])
    with em.GradientTape() as tape:
        loss = em.losses.CategoricalCrossentropy()(y, model(x, training=True))
    close(float(loss), c["loss"])
    grads = tape.gradient(loss, model.trainable_variables)
    for i in range(3):
        close(as_np(grads[2 * i]), c["grad_kernels"][i])
        close(as_np(grads[2 * i + 1]), c["grad_biases"][i])


@pytest.mark.parametrize("how", ["train_on_batch", "fit", "apply_gradients"])
def test_mlp_cce_sgd_step(golden, how):
    c = golden["mlp_cce_sgd_step"]
    model, x, y = _mlp(c)
    if how == "train_on_batch":
        close(model.train_on_batch(x, y), c["loss"])
    elif how == "fit":
        h = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
        close(h.history["loss"][0], c["loss"])
    else:
        opt = em.optimizers.SGD(learning_rate=c["learning_rate"])
        with em.GradientTape() as tape:
            loss = em.losses.categorical_crossentropy(y, model(x, training=True))
            loss = em.ops.mean(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
    w = model.get_weights()
    for i in range(3):
        close(w[2 * i], c["updated_kernels"][i])
        close(w[2 * i + 1], c["updated_biases"][i])
    close(model.predict(x, verbose=0), c["probabilities_after_step"])
    close(model.evaluate(x, y, verbose=0), c["loss_after_step"])
