"""The recurrent layers' Keras 3 surface beyond the plain forward pass (which
tests/test_rnn.py covers): masks with padded batches, zero_output_for_mask,
return_state with go_backwards, stateful carry-over and reset_states, the cells and the
generic RNN wrapper (custom cells, stacked cells), Bidirectional in every merge mode,
TimeDistributed, RepeatVector, Masking, T = 1, mask propagation through Sequential and
functional models into the loss and the metrics, configs, bad inputs, and real Keras's
outputs for identical weights.

The references are float64 numpy loops of Keras's equations written here, with the
masking rule of Keras 3's ``backend.rnn``: at a masked step every state keeps its value
and the output repeats the previous output (zeros with zero_output_for_mask)."""

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
L = em.layers


# -- float64 references: one step of each recurrence, and Keras's masked loop -----------------------

def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def step_simple(x, states, w):
    kernel, rec, bias = w
    h = np.tanh(x @ kernel + states[0] @ rec + bias)
    return h, [h]


def step_lstm(x, states, w):
    kernel, rec, bias = w
    h, c = states
    u = rec.shape[0]
    z = x @ kernel + h @ rec + bias
    i, f, g, o = _sig(z[:, :u]), _sig(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), _sig(z[:, 3 * u:])
    c = f * c + i * g
    h = o * np.tanh(c)
    return h, [h, c]


def step_gru(x, states, w):  # reset_after=True, Keras's default
    kernel, rec, bias = w
    h = states[0]
    u = rec.shape[0]
    mx = x @ kernel + bias[0]
    mh = h @ rec + bias[1]
    z = _sig(mx[:, :u] + mh[:, :u])
    r = _sig(mx[:, u:2 * u] + mh[:, u:2 * u])
    hh = np.tanh(mx[:, 2 * u:] + r * mh[:, 2 * u:])
    h = z * h + (1 - z) * hh
    return h, [h]


STEPS = {"SimpleRNN": (step_simple, 1, 1), "LSTM": (step_lstm, 4, 2), "GRU": (step_gru, 3, 1)}


def ref_rnn(step, x, w, states, mask=None, go_backwards=False, zero_output=False):
    """Keras 3's backend.rnn: returns (outputs in processing order, final states)."""
    b, t, _ = x.shape
    order = range(t - 1, -1, -1) if go_backwards else range(t)
    prev = states[0]
    outs = []
    for s in order:
        out, new = step(x[:, s], states, w)
        if mask is not None:
            m = mask[:, s][:, None].astype(np.float64)
            new = [m * n + (1 - m) * o for n, o in zip(new, states)]
            out = m * out if zero_output else m * out + (1 - m) * prev
        states, prev = new, out
        outs.append(out)
    return np.stack(outs, 1), states


def rand_weights(kind, f, u, rng, scale=0.5):
    _, gates, _ = STEPS[kind]
    kernel = rng.uniform(-scale, scale, (f, gates * u))
    rec = rng.uniform(-scale, scale, (u, gates * u))
    bias = rng.uniform(-scale, scale, (2, 3 * u) if kind == "GRU" else (gates * u,))
    return [kernel, rec, bias]


def make(kind, u, f, weights, device="cpu", **kw):
    with em.device(device):
        layer = getattr(L, kind)(u, **kw)
        layer._device = device
        layer.build((None, None, f))
    layer.set_weights([w.astype(np.float32) for w in weights])
    return layer


def padded_batch(rng, b=3, t=6, f=4, lengths=(6, 4, 2)):
    x = rng.uniform(-1, 1, (b, t, f))
    mask = np.arange(t)[None, :] < np.array(lengths)[:, None]
    return x, mask


KINDS = ["SimpleRNN", "LSTM", "GRU"]


# -- masks, go_backwards, return_state ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_masked_padded_batch_matches_reference(backend_name, kind, go_backwards, zero_output):
    rng = np.random.default_rng(10)
    x, mask = padded_batch(rng)
    mask[1, 0] = False  # a masked step before valid ones too (Keras's rule is per step)
    u = 3
    w = rand_weights(kind, 4, u, rng)
    layer = make(kind, u, 4, w, backend_name, return_sequences=True, return_state=True, go_backwards=go_backwards,
                 zero_output_for_mask=zero_output)
    out = layer(em.tensor(x.astype(np.float32), device=backend_name), mask=mask)
    step, _, n_states = STEPS[kind]
    seq, states = ref_rnn(step, x, w, [np.zeros((3, u))] * n_states, mask, go_backwards, zero_output)
    assert_close(out[0].numpy(), seq, what="sequence", **FWD)
    for got, want in zip(out[1:], states):
        assert_close(got.numpy(), want, what="state", **FWD)
    last = make(kind, u, 4, w, backend_name, go_backwards=go_backwards, zero_output_for_mask=zero_output)
    assert_close(last(em.tensor(x.astype(np.float32), device=backend_name), mask=mask).numpy(), seq[:, -1],
                 what="last output", **FWD)


@pytest.mark.parametrize("kind", KINDS)
def test_masked_equals_running_each_sequence_unpadded(kind):
    """The final state of a padded, masked sequence is that of the sequence alone."""
    rng = np.random.default_rng(11)
    x, mask = padded_batch(rng)
    w = rand_weights(kind, 4, 5, rng)
    layer = make(kind, 5, 4, w)
    y = layer(x.astype(np.float32), mask=mask).numpy()
    for i, n in enumerate(mask.sum(1)):
        alone = layer(x[i:i + 1, :n].astype(np.float32)).numpy()
        assert_close(y[i:i + 1], alone, what=f"sequence {i}", **FWD)


@pytest.mark.parametrize("kind", KINDS)
def test_masked_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(12)
    x, mask = padded_batch(rng, b=2, t=4, f=2, lengths=(4, 2))
    u = 2
    w = rand_weights(kind, 2, u, rng, scale=0.8)
    layer = make(kind, u, 2, w, return_sequences=True, go_backwards=True)
    xt = em.tensor(x.astype(np.float32))
    xt.requires_grad = True
    y = layer(xt, mask=mask)
    r = rng.uniform(-1, 1, y.shape)
    loss = em.ops.sum(y * em.tensor(r.astype(np.float32)))
    grads = em.autograd.grad(loss, [xt, layer.kernel, layer.recurrent_kernel, layer.bias])
    step, _, n = STEPS[kind]

    def f(xx, k, rk, bb):
        return ref_rnn(step, xx, [k, rk, bb], [np.zeros((2, u))] * n, mask, True)[0]

    args = [x, w[0], w[1], w[2]]
    for i, g in enumerate(grads):
        assert_close(g.numpy(), numerical_grad(f, args, i, r), what=f"grad {i}", **GRAD)


def test_mask_shape_mismatch_and_bad_inputs_raise_naming_the_layer():
    layer = L.LSTM(3, name="enc")
    x = np.ones((2, 5, 4), np.float32)
    with pytest.raises(ShapeError, match="enc.*mask has shape"):
        layer(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ShapeError, match="lstm|LSTM|enc"):
        L.LSTM(3, name="enc2")(np.ones((2, 4), np.float32))  # a wrong rank
    emb = L.Embedding(10, 3, name="tok")
    with pytest.raises(InvalidArgumentError, match="tok.*NaN"):
        emb(np.array([[np.nan, 2.0]], np.float32))  # float indices are cast as Keras casts them; NaN cannot be
    with pytest.raises(InvalidArgumentError, match="tok.*numeric"):
        emb(np.array([["a", "b"]]))  # strings go through a StringLookup first
    with pytest.raises(InvalidArgumentError, match="tok.*out of range"):
        emb(np.array([[1, 10]]))
    assert emb(np.array([[1.0, 2.0]], np.float32)).shape == (1, 2, 3)  # whole floats cast, as Keras


# -- stateful ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_stateful_carries_states_across_batches_and_resets(backend_name, kind):
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, (2, 6, 3))
    w = rand_weights(kind, 3, 4, rng)
    layer = make(kind, 4, 3, w, backend_name, stateful=True, return_sequences=True)
    first = layer(em.tensor(x[:, :3].astype(np.float32), device=backend_name)).numpy()
    second = layer(em.tensor(x[:, 3:].astype(np.float32), device=backend_name)).numpy()
    step, _, n = STEPS[kind]
    seq, _ = ref_rnn(step, x, w, [np.zeros((2, 4))] * n)
    assert_close(np.concatenate([first, second], 1), seq, what="two batches = one sequence", **FWD)
    layer.reset_states()
    again = layer(em.tensor(x[:, :3].astype(np.float32), device=backend_name)).numpy()
    assert_close(again, first, what="after reset_states", rtol=0, atol=1e-6)
    with pytest.raises(ShapeError, match="stateful"):
        layer(em.tensor(x[:1, :3].astype(np.float32), device=backend_name))


def test_stateful_in_a_model_with_fixed_batch_size():
    rng = np.random.default_rng(14)
    x = rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32)
    model = em.Sequential([em.Input((None, 3), batch_size=2), L.LSTM(4, stateful=True), L.Dense(1)])
    a = model.predict(x, batch_size=2, verbose=0)
    b = model.predict(x, batch_size=2, verbose=0)
    assert not np.allclose(a, b), "the states were not carried over"
    model.layers[0].reset_states()
    assert_close(model.predict(x, batch_size=2, verbose=0), a, what="reset", rtol=0, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((2, 1), np.float32), batch_size=2, epochs=1, verbose=0, shuffle=False)


# -- cells and RNN(cell) ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_rnn_over_builtin_cell_equals_layer_and_cell_steps(backend_name, kind):
    rng = np.random.default_rng(15)
    x, mask = padded_batch(rng)
    w = [a.astype(np.float32) for a in rand_weights(kind, 4, 3, rng)]
    with em.device(backend_name):
        cell = getattr(L, kind + "Cell")(3)
        rnn = L.RNN(cell, return_sequences=True, return_state=True)
        rnn._device = backend_name
        rnn.build((None, 6, 4))
    cell.set_weights(w)
    layer = make(kind, 3, 4, w, backend_name, return_sequences=True, return_state=True)
    xt = em.tensor(x.astype(np.float32), device=backend_name)
    for got, want in zip(rnn(xt, mask=mask), layer(xt, mask=mask)):
        assert_close(got.numpy(), want.numpy(), what="RNN(cell) vs layer", rtol=0, atol=1e-6)
    # One step of the cell by hand.
    n = STEPS[kind][2]
    states = [em.tensor(rng.uniform(-1, 1, (3, 3)).astype(np.float32), device=backend_name) for _ in range(n)]
    out, new = cell(em.tensor(x[:, 0].astype(np.float32), device=backend_name), states)
    ref_out, ref_new = STEPS[kind][0](x[:, 0], [s.numpy().astype(np.float64) for s in states],
                                     [a.astype(np.float64) for a in w])
    assert_close(out.numpy(), ref_out, what="cell output", **FWD)
    for g, r in zip(new, ref_new):
        assert_close(g.numpy(), r, what="cell state", **FWD)


class MinimalRNNCell(L.Layer):
    """Keras's guide example: h = x @ W + h_prev @ U (no activation)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")

    def call(self, inputs, states):
        h = em.ops.tanh(em.ops.matmul(inputs, self.kernel) + em.ops.matmul(states[0], self.recurrent_kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_custom_cell_runs_through_rnn_loop_with_masks_and_gradients():
    rng = np.random.default_rng(16)
    x, mask = padded_batch(rng, b=2, t=4, f=3, lengths=(4, 2))
    rnn = L.RNN(MinimalRNNCell(2), return_sequences=True, go_backwards=True)
    rnn.build((None, 4, 3))
    k, rk = rng.uniform(-0.8, 0.8, (3, 2)), rng.uniform(-0.8, 0.8, (2, 2))
    rnn.cell.set_weights([k.astype(np.float32), rk.astype(np.float32)])
    xt = em.tensor(x.astype(np.float32))
    y = rnn(xt, mask=mask)

    def step(xs, st, w):
        h = np.tanh(xs @ w[0] + st[0] @ w[1])
        return h, [h]

    def f(xx, kk, rr):
        return ref_rnn(step, xx, [kk, rr], [np.zeros((2, 2))], mask, True)[0]

    assert_close(y.numpy(), f(x, k, rk), what="custom cell", **FWD)
    r = rng.uniform(-1, 1, y.shape)
    loss = em.ops.sum(y * em.tensor(r.astype(np.float32)))
    g = em.autograd.grad(loss, [rnn.cell.kernel, rnn.cell.recurrent_kernel])
    assert_close(g[0].numpy(), numerical_grad(f, [x, k, rk], 1, r), what="d kernel", **GRAD)
    assert_close(g[1].numpy(), numerical_grad(f, [x, k, rk], 2, r), what="d recurrent", **GRAD)
    cfg = json.loads(json.dumps(em.saving.serialize(rnn)))
    clone = em.saving.deserialize(cfg, custom_objects={"MinimalRNNCell": MinimalRNNCell})
    assert isinstance(clone.cell, MinimalRNNCell) and clone.go_backwards


def test_stacked_cells_equal_stacked_layers():
    rng = np.random.default_rng(17)
    x = rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)
    rnn = L.RNN([L.LSTMCell(4), L.GRUCell(2)], return_state=True)
    out = rnn(x)
    # As Keras: each cell's states as a list ([h, c] and [h]).
    assert len(out) == 3 and [s.shape for s in out[1]] == [(2, 4), (2, 4)] and [s.shape for s in out[2]] == [(2, 2)]
    lstm = L.LSTM(4, return_sequences=True)
    gru = L.GRU(2)
    lstm.build((None, None, 3))
    gru.build((None, None, 4))
    lstm.set_weights(rnn.cell.cells[0].get_weights())
    gru.set_weights(rnn.cell.cells[1].get_weights())
    assert_close(out[0].numpy(), gru(lstm(x)).numpy(), what="stacked", rtol=1e-5, atol=1e-6)
    clone = L.RNN.from_config(json.loads(json.dumps(rnn.get_config())))
    assert [type(c).__name__ for c in clone.cell.cells] == ["LSTMCell", "GRUCell"]


# -- Bidirectional, TimeDistributed, RepeatVector, Masking, T = 1 -------------------------------------------

@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes_with_mask(backend_name, merge_mode):
    rng = np.random.default_rng(18)
    x, mask = padded_batch(rng)
    with em.device(backend_name):
        bi = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=merge_mode)
        bi._device = backend_name
        bi.build((None, None, 4))
    wf, wb = rand_weights("LSTM", 4, 3, rng), rand_weights("LSTM", 4, 3, rng)
    bi.set_weights([a.astype(np.float32) for a in wf + wb])
    out = bi(em.tensor(x.astype(np.float32), device=backend_name), mask=mask)
    z = [np.zeros((3, 3))] * 2
    # Keras forces zero_output_for_mask = return_sequences in both directions.
    fw, _ = ref_rnn(step_lstm, x, wf, z, mask, False, True)
    bw, _ = ref_rnn(step_lstm, x, wb, z, mask, True, True)
    bw = bw[:, ::-1]
    want = {"concat": np.concatenate([fw, bw], -1), "sum": fw + bw, "mul": fw * bw, "ave": (fw + bw) / 2,
            None: [fw, bw]}[merge_mode]
    if merge_mode is None:
        for g, w in zip(out, want):
            assert_close(g.numpy(), w, what="None", **FWD)
    else:
        assert_close(out.numpy(), want, what=str(merge_mode), **FWD)
        assert out._keras_mask is not None
    clone = L.Bidirectional.from_config(json.loads(json.dumps(bi.get_config())))
    assert clone.merge_mode == merge_mode


def test_bidirectional_return_state_and_backward_layer():
    rng = np.random.default_rng(19)
    x = rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32)
    bi = L.Bidirectional(L.GRU(2, return_state=True), backward_layer=L.GRU(2, return_state=True, go_backwards=True))
    out, hf, hb = bi(x)
    assert out.shape == (2, 4) and hf.shape == (2, 2)
    assert_close(out.numpy(), np.concatenate([hf.numpy(), hb.numpy()], -1), what="final states", rtol=0, atol=0)


def test_time_distributed_repeat_vector_masking(backend_name):
    rng = np.random.default_rng(20)
    x = rng.uniform(-1, 1, (2, 5, 4))
    with em.device(backend_name):
        td = L.TimeDistributed(L.Dense(3))
        y = td(em.tensor(x.astype(np.float32), device=backend_name))
    k, b = (w.numpy().astype(np.float64) for w in td.layer.weights)
    assert_close(y.numpy(), x @ k + b, what="TimeDistributed(Dense)", **FWD)
    assert td.count_params() == 15
    rep = L.RepeatVector(3)(em.tensor(x[:, 0].astype(np.float32), device=backend_name))
    assert_close(rep.numpy(), np.repeat(x[:, None, 0], 3, axis=1), what="RepeatVector", rtol=0, atol=1e-7)
    xm = x.copy()
    xm[0, 3:] = 0.0
    xm[1, 1] = 0.0
    m = L.Masking(0.0)(em.tensor(xm.astype(np.float32), device=backend_name))
    want_mask = np.any(xm != 0.0, axis=-1)
    assert_close(m._keras_mask.numpy(), want_mask.astype(np.float32), what="Masking mask", rtol=0, atol=0)
    assert_close(m.numpy(), xm.astype(np.float32) * want_mask[..., None], what="Masking output", rtol=0, atol=0)
    for layer in (td, L.RepeatVector(3), L.Masking(-1.0)):
        clone = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
        assert clone.get_config() == layer.get_config() or isinstance(layer, L.TimeDistributed)


@pytest.mark.parametrize("kind", KINDS)
def test_single_time_step(kind):
    rng = np.random.default_rng(21)
    x = rng.uniform(-1, 1, (3, 1, 2))
    w = rand_weights(kind, 2, 3, rng)
    layer = make(kind, 3, 2, w, return_sequences=True, go_backwards=True)
    step, _, n = STEPS[kind]
    seq, _ = ref_rnn(step, x, w, [np.zeros((3, 3))] * n)
    assert_close(layer(x.astype(np.float32), mask=np.ones((3, 1))).numpy(), seq, what="T=1", **FWD)


# -- masks through models, into the loss and the metrics ----------------------------------------------

def _masked_model(functional: bool):
    if functional:
        inp = em.Input((None,), dtype="int32")
        h = L.Embedding(12, 4, mask_zero=True)(inp)
        assert h._keras_mask is not None, "the symbolic mask is missing"
        h = L.LSTM(5, return_sequences=True)(h)
        out = L.Dense(1)(h)
        assert out._keras_mask is not None
        return em.Model(inp, out)
    return em.Sequential([L.Embedding(12, 4, mask_zero=True), L.LSTM(5, return_sequences=True), L.Dense(1)])


@pytest.mark.parametrize("functional", [False, True])
def test_masks_propagate_into_loss_and_metrics(functional):
    rng = np.random.default_rng(22)
    ids = np.array([[3, 5, 7, 2, 0, 0], [4, 4, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    y = rng.uniform(-1, 1, (3, 6, 1)).astype(np.float32)
    model = _masked_model(functional)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    pred = model(ids)
    mask = ids != 0
    np.testing.assert_array_equal(pred._keras_mask.numpy(), mask.astype(np.float32))
    p = pred.numpy().astype(np.float64)
    err = (p - y)[..., 0]
    want_loss = (err ** 2)[mask].mean()  # Keras: masked steps neither count nor dilute
    want_mae = np.abs(err)[mask].mean()
    res = model.evaluate(ids, y, batch_size=3, verbose=0, return_dict=True)
    assert res["loss"] == pytest.approx(want_loss, rel=1e-4)
    assert res["mae"] == pytest.approx(want_mae, rel=1e-4)
    # Changing the targets at masked steps changes nothing.
    y2 = y.copy()
    y2[~mask] = 100.0
    assert model.evaluate(ids, y2, batch_size=3, verbose=0, return_dict=True)["loss"] == pytest.approx(res["loss"], rel=1e-6)
    # The padded rows give the outputs of the unpadded sequences.
    alone = model(ids[1:2, :2]).numpy()
    assert_close(p[1:2, :2], alone, what="padded vs alone", **FWD)


def test_rnn_without_sequences_drops_the_mask():
    h = L.Embedding(5, 2, mask_zero=True)(np.array([[1, 0]]))
    out, state = L.GRU(3, return_state=True)(h)
    assert out._keras_mask is None and state._keras_mask is None
    assert L.SimpleRNN(3, return_sequences=True)(h)._keras_mask is not None


# -- configs and real Keras -------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [
    L.LSTM(4, stateful=True, zero_output_for_mask=True, unit_forget_bias=False, go_backwards=True),
    L.GRU(3, reset_after=False, return_state=True), L.SimpleRNN(2, unroll=True, dropout=0.25, seed=3),
    L.LSTMCell(3, dropout=0.1), L.GRUCell(2, reset_after=False), L.SimpleRNNCell(5, activation="relu"),
], ids=lambda l: type(l).__name__)
def test_config_round_trip(layer):
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == layer.get_config()


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("kind", KINDS)
def test_matches_real_keras_with_identical_weights(kind):
    keras = _keras()
    rng = np.random.default_rng(23)
    x, mask = padded_batch(rng)
    x = x.astype(np.float32)
    kw = dict(return_sequences=True, return_state=True, go_backwards=True)
    k_layer = getattr(keras.layers, kind)(3, **kw)
    k_layer.build((None, 6, 4))
    weights = [w.astype(np.float32) for w in rand_weights(kind, 4, 3, rng)]
    k_layer.set_weights(weights)
    e_layer = make(kind, 3, 4, weights, **kw)
    assert [w.shape for w in e_layer.get_weights()] == [tuple(v.shape) for v in k_layer.weights]
    # The masked call (the unmasked one is the mask of all ones; each Keras call costs a jax compile).
    want = k_layer(x, mask=mask)
    got = e_layer(x, mask=mask)
    for g, w in zip(got, want):
        assert_close(g.numpy(), np.asarray(w), what=f"keras {kind} with a mask", rtol=1e-4, atol=1e-5)
    # Keras's own config builds the same layer here (and back).
    cfg = k_layer.get_config()
    assert set(e_layer.get_config()) >= set(cfg) - {"dtype"}
    # (initializer configs left out: this Keras writes GlorotUniform(input_axes=...), which
    # ember.initializers does not read yet)
    clone = getattr(L, kind).from_config({k: v for k, v in cfg.items() if k != "dtype" and "initializer" not in k})
    assert clone.get_config()["zero_output_for_mask"] == cfg["zero_output_for_mask"]


def test_bidirectional_matches_real_keras():
    keras = _keras()
    rng = np.random.default_rng(24)
    x, mask = padded_batch(rng)
    x = x.astype(np.float32)
    k_layer = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True), merge_mode="sum")
    k_layer.build((None, 6, 4))
    weights = [w.astype(np.float32) for w in rand_weights("GRU", 4, 3, rng) + rand_weights("GRU", 4, 3, rng)]
    k_layer.set_weights(weights)
    e_layer = L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum")
    e_layer.build((None, None, 4))
    e_layer.set_weights(weights)
    assert_close(e_layer(x, mask=mask).numpy(), np.asarray(k_layer(x, mask=mask)), what="keras Bidirectional",
                 rtol=1e-4, atol=1e-5)
