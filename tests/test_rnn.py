"""Embedding, SimpleRNN, LSTM and GRU: forward against float64 numpy references of
Keras's equations (written here, independently of ember.ops.rnn), gradients against
central finite differences, Keras's weight layouts and parameter counts, variable-length
sequences, configs, and the functional-API guide's multi-input, multi-output model."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "backend"))
from _conformance import assert_close, numerical_grad  # noqa: E402

FWD = dict(rtol=1e-4, atol=1e-5)
GRAD = dict(rtol=2e-3, atol=2e-4)


# -- float64 references of Keras 3's equations ---------------------------------------------------

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, 0.0)}


def ref_simple_rnn(x, kernel, rec, bias, h0=None, activation="tanh", go_backwards=False, return_sequences=False,
                   **_):
    b, t, _ = x.shape
    u = rec.shape[0]
    h = np.zeros((b, u)) if h0 is None else h0
    steps = range(t - 1, -1, -1) if go_backwards else range(t)
    outs = []
    for s in steps:
        h = ACTS[activation](x[:, s] @ kernel + (0 if bias is None else bias) + h @ rec)
        outs.append(h)
    return (np.stack(outs, 1) if return_sequences else h), [h]


def ref_lstm(x, kernel, rec, bias, h0=None, c0=None, activation="tanh", recurrent_activation="sigmoid",
             go_backwards=False, return_sequences=False, **_):
    b, t, _ = x.shape
    u = rec.shape[0]
    a, ra = ACTS[activation], ACTS[recurrent_activation]
    h = np.zeros((b, u)) if h0 is None else h0
    c = np.zeros((b, u)) if c0 is None else c0
    steps = range(t - 1, -1, -1) if go_backwards else range(t)
    outs = []
    for s in steps:
        z = x[:, s] @ kernel + h @ rec + (0 if bias is None else bias)
        i, f, g, o = z[:, :u], z[:, u:2 * u], z[:, 2 * u:3 * u], z[:, 3 * u:]
        c = ra(f) * c + ra(i) * a(g)
        h = ra(o) * a(c)
        outs.append(h)
    return (np.stack(outs, 1) if return_sequences else h), [h, c]


def ref_gru(x, kernel, rec, bias, h0=None, activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
            return_sequences=False, reset_after=True, **_):
    b, t, _ = x.shape
    u = rec.shape[0]
    a, ra = ACTS[activation], ACTS[recurrent_activation]
    h = np.zeros((b, u)) if h0 is None else h0
    steps = range(t - 1, -1, -1) if go_backwards else range(t)
    outs = []
    for s in steps:
        if reset_after:
            bi, br = (0, 0) if bias is None else (bias[0], bias[1])
            mx = x[:, s] @ kernel + bi
            mh = h @ rec + br
            z = ra(mx[:, :u] + mh[:, :u])
            r = ra(mx[:, u:2 * u] + mh[:, u:2 * u])
            hh = a(mx[:, 2 * u:] + r * mh[:, 2 * u:])
        else:
            mx = x[:, s] @ kernel + (0 if bias is None else bias)
            z = ra(mx[:, :u] + h @ rec[:, :u])
            r = ra(mx[:, u:2 * u] + h @ rec[:, u:2 * u])
            hh = a(mx[:, 2 * u:] + (r * h) @ rec[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return (np.stack(outs, 1) if return_sequences else h), [h]


REFS = {"SimpleRNN": ref_simple_rnn, "LSTM": ref_lstm, "GRU": ref_gru}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}

CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu", "return_sequences": True}),
    ("SimpleRNN", {"go_backwards": True, "return_sequences": True, "use_bias": False}),
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True}),
    ("LSTM", {"go_backwards": True, "return_sequences": True}),
    ("LSTM", {"activation": "relu", "recurrent_activation": "tanh", "use_bias": False}),
    ("GRU", {}),
    ("GRU", {"return_sequences": True, "go_backwards": True}),
    ("GRU", {"reset_after": False, "return_sequences": True}),
    ("GRU", {"reset_after": False, "use_bias": False}),
]


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _random_weights(layer_cls, kw, f, u, rng, scale=0.5):
    g = GATES[layer_cls]
    kernel = rng.uniform(-scale, scale, (f, g * u)).astype(np.float32)
    rec = rng.uniform(-scale, scale, (u, g * u)).astype(np.float32)
    weights = [kernel, rec]
    if kw.get("use_bias", True):
        shape = (2, 3 * u) if layer_cls == "GRU" and kw.get("reset_after", True) else (g * u,)
        weights.append(rng.uniform(-scale, scale, shape).astype(np.float32))
    return weights


def _layer(backend_name, layer_cls, kw, f, u, weights):
    with em.device(backend_name):
        layer = getattr(em.layers, layer_cls)(u, **kw)
        layer._device = backend_name
        layer.build((None, None, f))
    layer.set_weights(weights)
    return layer


def _ref(layer_cls, kw, x, weights, **extra):
    w = [a.astype(np.float64) for a in weights]
    bias = w[2] if len(w) == 3 else None
    return REFS[layer_cls](x.astype(np.float64), w[0], w[1], bias, **kw, **extra)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_matches_float64_reference(backend_name, case):
    layer_cls, kw = case
    rng = np.random.default_rng(1)
    b, t, f, u = 3, 6, 5, 4
    weights = _random_weights(layer_cls, kw, f, u, rng)
    layer = _layer(backend_name, layer_cls, kw, f, u, weights)
    x = rng.uniform(-1, 1, (b, t, f)).astype(np.float32)
    y = layer(em.tensor(x, device=backend_name))
    expected, _ = _ref(layer_cls, kw, x, weights)
    assert_close(y.numpy(), expected, what=f"{layer_cls}{kw}", **FWD)


@pytest.mark.parametrize("layer_cls", ["SimpleRNN", "LSTM", "GRU"])
def test_return_state_and_initial_state(backend_name, layer_cls):
    rng = np.random.default_rng(2)
    b, t, f, u = 2, 4, 3, 5
    kw = {"return_sequences": True, "return_state": True}
    weights = _random_weights(layer_cls, {}, f, u, rng)
    layer = _layer(backend_name, layer_cls, kw, f, u, weights)
    x = rng.uniform(-1, 1, (b, t, f)).astype(np.float32)
    n_states = 2 if layer_cls == "LSTM" else 1
    init = [rng.uniform(-1, 1, (b, u)).astype(np.float32) for _ in range(n_states)]
    out = layer(em.tensor(x, device=backend_name),
                initial_state=[em.tensor(s, device=backend_name) for s in init])
    assert isinstance(out, list) and len(out) == 1 + n_states
    extra = {"h0": init[0].astype(np.float64)}
    if layer_cls == "LSTM":
        extra["c0"] = init[1].astype(np.float64)
    seq, states = _ref(layer_cls, {"return_sequences": True}, x, weights, **extra)
    assert_close(out[0].numpy(), seq, what="sequence", **FWD)
    for got, want in zip(out[1:], states):
        assert_close(got.numpy(), want, what="state", **FWD)
    # The last output of the sequence is the final h.
    assert_close(out[1].numpy(), out[0].numpy()[:, -1], what="h == last output", rtol=0, atol=0)


GRAD_CASES = [
    ("SimpleRNN", {"return_sequences": True}),
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True, "go_backwards": True}),
    ("GRU", {"return_sequences": True}),
    ("GRU", {"reset_after": False}),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_gradients_match_finite_differences(backend_name, case):
    layer_cls, kw = case
    rng = np.random.default_rng(3)
    b, t, f, u = 2, 3, 2, 3
    weights = _random_weights(layer_cls, kw, f, u, rng, scale=0.8)
    layer = _layer(backend_name, layer_cls, kw, f, u, weights)
    x = rng.uniform(-1, 1, (b, t, f)).astype(np.float32)
    xt = em.tensor(x, device=backend_name)
    xt.requires_grad = True
    y = layer(xt)
    w_out = rng.uniform(-1, 1, y.shape).astype(np.float32)
    loss = em.ops.sum(y * em.tensor(w_out, device=backend_name))
    params = [layer.kernel, layer.recurrent_kernel] + ([layer.bias] if layer.bias is not None else [])
    grads = em.autograd.grad(loss, [xt] + params)

    arrays = [x] + [np.asarray(w) for w in weights]

    def f64(xx, *ws):
        bias = ws[2] if len(ws) == 3 else None
        return REFS[layer_cls](xx, ws[0], ws[1], bias, **kw)[0]

    for i, (g, name) in enumerate(zip(grads, ["inputs", "kernel", "recurrent_kernel", "bias"])):
        expected = numerical_grad(f64, arrays, i, w_out.astype(np.float64))
        assert g is not None, f"no gradient for {name}"
        assert_close(g.numpy(), expected, what=f"d/d{name}", **GRAD)


def test_unstack_gradient_survives_a_second_backward_pass():
    """The slices' gradients are assembled in one buffer per pass: differentiating the same
    graph twice (retain_graph) gives the same gradient both times."""
    rng = np.random.default_rng(4)
    weights = _random_weights("LSTM", {}, 2, 3, rng)
    layer = _layer("cpu", "LSTM", {"return_sequences": True}, 2, 3, weights)
    x = em.tensor(rng.uniform(-1, 1, (2, 4, 2)).astype(np.float32))
    x.requires_grad = True
    loss = em.ops.sum(layer(x))
    g1 = em.autograd.grad(loss, [x, layer.kernel])
    g2 = em.autograd.grad(loss, [x, layer.kernel])
    for a, c in zip(g1, g2):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    # Only the last step's output: the other steps' slabs of the input gradient are
    # reached only through the recurrence, never left holding stale values.
    last = em.ops.sum(em.ops.getitem(layer(x), (slice(None), -1)))
    gx = em.autograd.grad(last, [x])[0].numpy()
    ref = numerical_grad(lambda xx, *ws: ref_lstm(xx, *ws, return_sequences=False)[0],
                         [x.numpy()] + [w.astype(np.float64) for w in weights], 0, np.ones((2, 3)))
    assert_close(gx, ref, what="d last / d x", **GRAD)


def test_keras_weight_layout_and_parameter_counts():
    lstm = em.layers.LSTM(128)
    lstm.build((None, None, 64))
    assert [w.shape for w in lstm.weights] == [(64, 512), (128, 512), (512,)]
    assert [w.name.split("/")[-1] for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert lstm.count_params() == 98816
    # unit_forget_bias: the forget gate's block (the second) starts at 1, the rest at 0.
    b = lstm.bias.numpy()
    np.testing.assert_array_equal(b[128:256], 1.0)
    np.testing.assert_array_equal(np.concatenate([b[:128], b[256:]]), 0.0)
    no_ufb = em.layers.LSTM(4, unit_forget_bias=False)
    no_ufb.build((None, 3, 2))
    np.testing.assert_array_equal(no_ufb.bias.numpy(), 0.0)
    # The recurrent kernel is orthogonal per Keras's default initializer (one (U, 4U) matrix).
    rk = lstm.recurrent_kernel.numpy().astype(np.float64)
    assert_close(rk @ rk.T, np.eye(128), rtol=0, atol=1e-4, what="orthogonal rows")

    gru = em.layers.GRU(32)
    gru.build((None, None, 16))
    assert [w.shape for w in gru.weights] == [(16, 96), (32, 96), (2, 96)]
    assert gru.count_params() == 16 * 96 + 32 * 96 + 2 * 96
    gru_v1 = em.layers.GRU(32, reset_after=False)
    gru_v1.build((None, None, 16))
    assert gru_v1.bias.shape == (96,)
    rnn = em.layers.SimpleRNN(10)
    rnn.build((None, None, 5))
    assert rnn.count_params() == 5 * 10 + 10 * 10 + 10


@pytest.mark.parametrize("layer_cls", ["SimpleRNN", "LSTM", "GRU"])
def test_variable_length_time_axis(layer_cls):
    inp = em.Input(shape=(None, 3))
    out = getattr(em.layers, layer_cls)(4, return_sequences=True)(inp)
    assert out.shape == (None, None, 4)
    model = em.Model(inp, out)
    rng = np.random.default_rng(5)
    layer = model.layers[-1]
    weights = [np.asarray(w.numpy()) for w in layer.weights]
    for t in (2, 7):
        x = rng.uniform(-1, 1, (2, t, 3)).astype(np.float32)
        y = model(x)
        assert y.shape == (2, t, 4)
        expected, _ = _ref(layer_cls, {"return_sequences": True}, x, weights)
        assert_close(y.numpy(), expected, what=f"T={t}", **FWD)


def test_dropout_training_only_and_masks_fixed_per_sequence():
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 1.0, (4, 5, 6)).astype(np.float32)
    base = em.layers.LSTM(3, dropout=0.5, recurrent_dropout=0.3, seed=7)
    y_inf = base(x).numpy()
    plain = em.layers.LSTM(3)
    plain.build((None, None, 6))
    plain.set_weights(base.get_weights())
    np.testing.assert_allclose(y_inf, plain(x).numpy(), rtol=1e-6, atol=1e-7)
    y_train = base(x, training=True).numpy()
    assert np.isfinite(y_train).all() and not np.allclose(y_train, y_inf)
    # The input mask is one (batch, features) mask for every step (Keras): a SimpleRNN with
    # an identity kernel, no recurrence and a linear activation shows it directly.
    srnn = em.layers.SimpleRNN(6, activation="linear", use_bias=False, dropout=0.5, seed=3,
                               return_sequences=True)
    srnn.build((None, None, 6))
    srnn.set_weights([np.eye(6, dtype=np.float32), np.zeros((6, 6), np.float32)])
    y = srnn(np.ones((4, 5, 6), np.float32), training=True).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, 2.0}
    assert (y == y[:, :1]).all(), "the dropout mask changed between time steps"


def test_rnn_argument_validation():
    with pytest.raises(InvalidArgumentError):
        em.layers.LSTM(0)
    with pytest.raises(InvalidArgumentError):
        em.layers.GRU(4, dropout=1.5)
    stateful = em.layers.SimpleRNN(4, stateful=True)  # the first batch fixes the batch size
    stateful(np.ones((2, 3, 5), np.float32))
    with pytest.raises(ShapeError, match="stateful"):
        stateful(np.ones((3, 3, 5), np.float32))
    with pytest.raises(InvalidArgumentError, match="constraint"):
        em.layers.LSTM(4, kernel_constraint="non_neg")
    with pytest.raises(ShapeError):
        em.layers.LSTM(4)(np.ones((2, 3), np.float32))
    layer = em.layers.LSTM(4)
    layer(np.ones((2, 3, 5), np.float32))
    with pytest.raises(ShapeError):
        layer(np.ones((2, 3, 6), np.float32))


@pytest.mark.parametrize("layer_cls,kw", [
    ("SimpleRNN", {"activation": "relu", "dropout": 0.1, "return_sequences": True}),
    ("LSTM", {"unit_forget_bias": False, "go_backwards": True, "return_state": True, "seed": 3}),
    ("GRU", {"reset_after": False, "recurrent_activation": "hard_sigmoid", "use_bias": False}),
])
def test_rnn_config_round_trip(layer_cls, kw):
    cls = getattr(em.layers, layer_cls)
    layer = cls(5, name=f"my_{layer_cls.lower()}", **kw)
    cfg = json.loads(json.dumps(layer.get_config()))
    for k, v in kw.items():
        assert cfg[k] == v
    clone = cls.from_config(cfg)
    assert clone.get_config() == cfg
    x = np.random.default_rng(7).uniform(-1, 1, (2, 3, 4)).astype(np.float32)
    y = layer(x)
    clone.build((None, None, 4))
    clone.set_weights(layer.get_weights())
    y2 = clone(x)
    for a, c in zip(y if isinstance(y, list) else [y], y2 if isinstance(y2, list) else [y2]):
        np.testing.assert_array_equal(a.numpy(), c.numpy())


# -- Embedding -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_embedding_forward_and_scatter_add_gradient(backend_name, shape):
    rng = np.random.default_rng(8)
    vocab, dim = 6, 3
    table = rng.uniform(-1, 1, (vocab, dim)).astype(np.float32)
    with em.device(backend_name):
        layer = em.layers.Embedding(vocab, dim, weights=[table])
        layer._device = backend_name
    ids = rng.integers(0, vocab, shape)
    ids.reshape(-1)[:2] = 2  # a repeated index: its rows' gradients add up
    for inputs in (ids.astype(np.int32), ids.astype(np.float32)):  # whole-number floats (keras.Input's float32)
        y = layer(em.tensor(inputs, device=backend_name))
        assert y.shape == shape + (dim,) and y.dtype == "float32"
        np.testing.assert_array_equal(y.numpy(), table[ids])
    g = rng.uniform(-1, 1, shape + (dim,)).astype(np.float32)
    loss = em.ops.sum(layer(em.tensor(ids.astype(np.int32), device=backend_name)) * em.tensor(g, device=backend_name))
    (gw,) = em.autograd.grad(loss, [layer.embeddings])
    expected = np.zeros((vocab, dim))
    np.add.at(expected, ids.reshape(-1), g.reshape(-1, dim).astype(np.float64))
    assert_close(gw.numpy(), expected, rtol=1e-6, atol=1e-6, what="embedding gradient")


@pytest.mark.parametrize("bad", [-1, 6, 100])
def test_embedding_out_of_range_index_is_a_clear_error(backend_name, bad):
    with em.device(backend_name):
        layer = em.layers.Embedding(6, 2)
        layer._device = backend_name
    ids = em.tensor(np.array([[0, 1], [bad, 2]], np.int32), device=backend_name)

    def run():
        y = layer(ids)
        em.backend.get_backend(backend_name).synchronize()
        return y.numpy()

    with pytest.raises(InvalidArgumentError, match="out of"):
        run()
    if backend_name == "cpu":
        with pytest.raises(InvalidArgumentError, match=f"index {bad} at position \\[1, 0\\]"):
            layer(ids)
    # The layer still works afterwards.
    assert layer(em.tensor(np.array([[5]], np.int32), device=backend_name)).numpy().shape == (1, 1, 2)


def test_embedding_fractional_float_indices_are_a_clear_error(backend_name):
    """A fractional index (untokenized or normalised data) is an error on both devices,
    never silently truncated; whole-number floats are fine."""
    with em.device(backend_name):
        layer = em.layers.Embedding(6, 2)
        layer._device = backend_name
    ids = em.tensor(np.array([[0, 1], [2.5, 2]], np.float32), device=backend_name)

    def run():
        y = layer(ids)
        em.backend.get_backend(backend_name).synchronize()
        return y.numpy()

    with pytest.raises(InvalidArgumentError, match="not a whole number" if backend_name == "cpu" else "out of"):
        run()
    if backend_name == "cpu":
        with pytest.raises(InvalidArgumentError, match=r"index 2.5 at position \[1, 0\].*Embedding"):
            layer(ids)
    assert layer(em.tensor(np.array([[5.0]], np.float32), device=backend_name)).numpy().shape == (1, 1, 2)


def test_embedding_mask_config_and_defaults():
    layer = em.layers.Embedding(10, 4, mask_zero=True, name="emb")
    ids = np.array([[3, 0, 1], [0, 0, 9]], np.int32)
    np.testing.assert_array_equal(layer.compute_mask(em.tensor(ids)).numpy(), ids != 0)
    assert em.layers.Embedding(10, 4).compute_mask(em.tensor(ids)) is None
    layer(ids)
    emb = layer.embeddings.numpy()
    assert emb.shape == (10, 4) and np.abs(emb).max() <= 0.05 and emb.std() > 0  # RandomUniform(-0.05, 0.05)
    cfg = json.loads(json.dumps(layer.get_config()))
    assert (cfg["input_dim"], cfg["output_dim"], cfg["mask_zero"]) == (10, 4, True)
    clone = em.layers.Embedding.from_config(cfg)
    assert clone.get_config() == cfg
    with pytest.raises(InvalidArgumentError):
        em.layers.Embedding(0, 4)
    with pytest.raises(NotImplementedError, match="lora_rank"):
        em.layers.Embedding(10, 4, lora_rank=2)
    with pytest.raises(InvalidArgumentError):
        em.layers.Embedding(10, 4)(np.array([[1.0, np.nan]], np.float32))
    # Symbolic: float32 Input (Keras's default), unknown length, any rank.
    inp = em.Input(shape=(None, 2))
    out = em.layers.Embedding(10, 4)(inp)
    assert out.shape == (None, None, 2, 4) and out.dtype == "float32"


# -- the functional-API guide's ticket model ------------------------------------------------------

def _ticket_model():
    keras, layers = em, em.layers
    num_tags, num_words, num_departments = 12, 10000, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input],
                        outputs={"priority": priority_pred, "department": department_pred})
    return model


def test_ticket_model_shapes_and_parameter_counts():
    model = _ticket_model()
    out = model.outputs
    shapes = {k: v.shape for k, v in out.items()} if isinstance(out, dict) else [v.shape for v in out]
    if isinstance(shapes, dict):
        assert shapes == {"priority": (None, 1), "department": (None, 4)}
    else:
        assert sorted(shapes) == [(None, 1), (None, 4)]
    counts = {type(layer).__name__ + ":" + layer.name: layer.count_params() for layer in model.layers
              if layer.weights}
    by_kind = sorted(counts.values())
    assert by_kind == sorted([640000, 640000, 98816, 12416, 173, 692]), counts
    assert model.get_layer("priority").count_params() == 173
    assert model.get_layer("department").count_params() == 692
    assert model.count_params() == 2 * 640000 + 98816 + 12416 + 173 + 692
    rng = np.random.default_rng(9)
    pred = model.predict({"title": rng.integers(0, 10000, (3, 7)).astype(np.float32),
                          "body": rng.integers(0, 10000, (3, 11)).astype(np.float32),
                          "tags": rng.integers(0, 2, (3, 12)).astype(np.float32)}, verbose=0)
    assert pred["priority"].shape == (3, 1) and pred["department"].shape == (3, 4)


def test_ticket_model_fits_with_the_guide_compile():
    keras = em
    model = _ticket_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    rng = np.random.default_rng(10)
    n = 8
    title_data = rng.integers(0, 10000, size=(n, 6)).astype(np.float32)
    body_data = rng.integers(0, 10000, size=(n, 12)).astype(np.float32)
    tags_data = rng.integers(0, 2, size=(n, 12)).astype("float32")
    priority_targets = rng.random(size=(n, 1)).astype(np.float32)
    dept_targets = rng.integers(0, 2, size=(n, 4)).astype(np.float32)
    before = [np.array(w.numpy()) for w in model.trainable_weights]
    history = model.fit({"title": title_data, "body": body_data, "tags": tags_data},
                        {"priority": priority_targets, "department": dept_targets},
                        epochs=2, batch_size=4, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
    after = [np.array(w.numpy()) for w in model.trainable_weights]
    changed = [w.name for w, a, b in zip(model.trainable_weights, before, after) if not np.array_equal(a, b)]
    # Every weight trains: the embeddings, both LSTMs (through the concatenation) and the heads.
    assert len(changed) == len(before), f"unchanged: {set(w.name for w in model.trainable_weights) - set(changed)}"


# -- a small real sequence task ------------------------------------------------------------------

def test_lstm_learns_a_sequence_task():
    """An Embedding + LSTM classifier learns whether a token sequence contains token 1
    anywhere (a long-range dependency a bag of the last steps cannot see)."""
    rng = np.random.default_rng(11)
    n, t, vocab = 256, 10, 8
    x = rng.integers(2, vocab, (n, t))
    y = (rng.random(n) < 0.5).astype(np.float32)
    pos = rng.integers(0, t, n)
    x[y == 1, pos[y == 1]] = 1
    inp = em.Input(shape=(None,), dtype="int32")
    out = em.layers.Dense(1, activation="sigmoid")(em.layers.LSTM(16)(em.layers.Embedding(vocab, 8)(inp)))
    model = em.Model(inp, out)
    model.compile(optimizer=em.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x.astype(np.int32), y, epochs=12, batch_size=32, verbose=0)
    xt = rng.integers(2, vocab, (128, t))
    yt = (rng.random(128) < 0.5).astype(np.float32)
    pt = rng.integers(0, t, 128)
    xt[yt == 1, pt[yt == 1]] = 1
    p = model.predict(xt.astype(np.int32), verbose=0).reshape(-1)
    acc = float(np.mean((p > 0.5) == (yt == 1)))
    assert acc >= 0.9, acc


# -- Bidirectional ---------------------------------------------------------------------------------

@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_matches_reference(backend_name, merge_mode):
    rng = np.random.default_rng(12)
    b, t, f, u = 2, 5, 3, 4
    kw = {"return_sequences": True}
    w_f = _random_weights("LSTM", kw, f, u, rng)
    w_b = _random_weights("LSTM", kw, f, u, rng)
    with em.device(backend_name):
        layer = em.layers.Bidirectional(em.layers.LSTM(u, **kw), merge_mode=merge_mode, weights=w_f + w_b)
        layer._device = backend_name
    x = rng.uniform(-1, 1, (b, t, f)).astype(np.float32)
    y = layer(em.tensor(x, device=backend_name))
    fw, _ = _ref("LSTM", kw, x, w_f)
    bw, _ = _ref("LSTM", {**kw, "go_backwards": True}, x, w_b)
    bw = bw[:, ::-1]  # back to the input's time order
    expected = {"concat": np.concatenate([fw, bw], -1), "sum": fw + bw, "mul": fw * bw, "ave": (fw + bw) / 2,
                None: [fw, bw]}[merge_mode]
    if merge_mode is None:
        for got, want in zip(y, expected):
            assert_close(got.numpy(), want, what="bidirectional (None)", **FWD)
    else:
        assert_close(y.numpy(), expected, what=f"bidirectional ({merge_mode})", **FWD)


def test_bidirectional_shapes_params_states_gradient_and_config():
    inp = em.Input(shape=(None, 32))
    layer = em.layers.Bidirectional(em.layers.LSTM(64))
    out = layer(inp)
    assert out.shape == (None, 128)
    assert layer.count_params() == 2 * 4 * 64 * (32 + 64 + 1)
    names = [w.name for w in layer.weights]
    assert names[0] == f"{layer.forward_layer.name}/kernel" and layer.forward_layer.name.startswith("forward_lstm")
    assert names[3] == f"{layer.backward_layer.name}/kernel" and layer.backward_layer.name.startswith("backward_lstm")
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards

    st = em.layers.Bidirectional(em.layers.GRU(3, return_state=True))
    outs = st(np.ones((2, 4, 5), np.float32))
    assert [o.shape for o in outs] == [(2, 6), (2, 3), (2, 3)]
    np.testing.assert_allclose(outs[0].numpy()[:, :3], outs[1].numpy(), rtol=0, atol=0)

    # The input gradient of a tiny bidirectional GRU against finite differences.
    rng = np.random.default_rng(13)
    w_f = _random_weights("GRU", {}, 2, 2, rng, scale=0.8)
    w_b = _random_weights("GRU", {}, 2, 2, rng, scale=0.8)
    bi = em.layers.Bidirectional(em.layers.GRU(2, return_sequences=True), weights=w_f + w_b)
    x = rng.uniform(-1, 1, (2, 3, 2)).astype(np.float32)
    xt = em.tensor(x)
    xt.requires_grad = True
    w_out = rng.uniform(-1, 1, (2, 3, 4))
    loss = em.ops.sum(bi(xt) * em.tensor(w_out.astype(np.float32)))
    (gx,) = em.autograd.grad(loss, [xt])

    def f64(xx):
        fw = _ref("GRU", {"return_sequences": True}, xx, w_f)[0]
        bw = _ref("GRU", {"return_sequences": True, "go_backwards": True}, xx, w_b)[0][:, ::-1]
        return np.concatenate([fw, bw], -1)

    assert_close(gx.numpy(), numerical_grad(f64, [x], 0, w_out.astype(np.float32).astype(np.float64)),
                 what="d bidirectional / d x", **GRAD)

    cfg = json.loads(json.dumps(layer.get_config()))
    clone = em.layers.Bidirectional.from_config(cfg)
    assert clone.get_config() == cfg
    assert clone.forward_layer.name == "forward_" + layer.forward_layer.name[len("forward_"):]
    with pytest.raises(InvalidArgumentError):
        em.layers.Bidirectional(em.layers.Dense(3))
    with pytest.raises(InvalidArgumentError):
        em.layers.Bidirectional(em.layers.LSTM(3), merge_mode="max")


@pytest.mark.parametrize("case", [("LSTM", {"return_sequences": True}), ("GRU", {"go_backwards": True}),
                                  ("GRU", {"reset_after": False, "return_sequences": True}), ("SimpleRNN", {})], ids=_ids)
def test_row_blocks_of_large_batches(case):
    """From a batch of 64 on, the CPU kernels run the rows as independent blocks (of about
    32, in parallel on a pool). A batch of 70 must give the float64 reference's outputs,
    the same gradients as its parts of 30 and 40 rows (one block each), and bit-identical
    values on 1 and 2 threads."""
    layer_cls, kw = case
    rng = np.random.default_rng(7)
    b, t, f, u = 70, 6, 4, 24  # enough work for the kernels to run on the pool
    weights = _random_weights(layer_cls, kw, f, u, rng, scale=0.3)
    x = rng.uniform(-1, 1, (b, t, f)).astype(np.float32)
    w_out = None

    def run(xs, threads):
        nonlocal w_out
        prev = em.get_num_threads()
        em.set_num_threads(threads)
        try:
            layer = _layer("cpu", layer_cls, kw, f, u, weights)
            xt = em.tensor(xs)
            xt.requires_grad = True
            y = layer(xt)
            if w_out is None:
                w_out = rng.uniform(-1, 1, (b,) + y.shape[1:]).astype(np.float32)
            loss = em.ops.sum(y * em.tensor(w_out[:len(xs)] if len(xs) == b else w_out[part]))
            params = [layer.kernel, layer.recurrent_kernel] + ([layer.bias] if layer.bias is not None else [])
            grads = em.autograd.grad(loss, [xt] + params)
            return y.numpy(), [g.numpy() for g in grads]
        finally:
            em.set_num_threads(prev)

    part = slice(0, b)
    y1, g1 = run(x, 1)
    y2, g2 = run(x, 2)
    np.testing.assert_array_equal(y1, y2)
    for a, c in zip(g1, g2):
        np.testing.assert_array_equal(a, c)
    expected, _ = _ref(layer_cls, kw, x, weights)
    assert_close(y1, expected, what=f"{layer_cls}{kw} batch {b}", **FWD)
    parts = []
    for sl in (slice(0, 30), slice(30, 70)):
        part = sl
        parts.append(run(x[sl], 2))
    np.testing.assert_allclose(np.concatenate([p[0] for p in parts]), y1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([p[1][0] for p in parts]), g1[0], rtol=1e-5, atol=1e-6)
    for i in range(1, len(g1)):
        np.testing.assert_allclose(parts[0][1][i] + parts[1][1][i], g1[i], rtol=1e-4, atol=1e-5)
