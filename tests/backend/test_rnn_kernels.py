"""The fused whole-sequence recurrences (`Backend.rnn_sequence` / `rnn_sequence_backward`,
reached through `ops.rnn.simple_rnn`, `lstm`, `gru` with standard activations).

Forward values and the gradients of every input (x, kernel, recurrent kernel, biases,
initial states) are checked against a float64 numpy loop of Keras 3's gate equations
written here (gradients by central finite differences of that loop), against the
composite of differentiable ops (the same ops called with activation callables), and
against the golden values; on every backend. Cases cover return_state, go_backwards,
Keras 3 masks on padded batches (with and without zero_output_for_mask), T = 1, both GRU
reset_after modes, initial states, and input and recurrent dropout masks. The backend
composite (`ReferenceCompositeCpuBackend`) is compared with the fused CPU kernel.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError
from ember.ops import rnn

from _conformance import assert_close
from conftest import BACKENDS

FWD = dict(rtol=1e-5, atol=2e-6)
GRAD = dict(rtol=1e-4, atol=2e-5)
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


# -- the float64 reference: Keras 3's equations, step by step -----------------------------------

def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


ACT = {"tanh": np.tanh, "sigmoid": _sig, "relu": lambda z: np.maximum(z, 0.0),
       "hard_sigmoid": lambda z: np.clip(z + 3.0, 0.0, 6.0) / 6.0, "linear": lambda z: z}


def reference(cell, x, kernel, rec, bias, states, act="tanh", ract="sigmoid", go_backwards=False,
              return_sequences=False, reset_after=True, dropout=None, rdrop=None, mask=None, zero_output=False):
    """(outputs, final states) in float64."""
    b, t, f = x.shape
    u = rec.shape[0]
    a, ra = ACT[act], ACT[ract]
    if dropout is not None:
        x = x * dropout[:, None, :]
    states = [s.copy() for s in states]
    outs = []
    order = range(t - 1, -1, -1) if go_backwards else range(t)
    for tt in order:
        h = states[0]
        h_in = h if rdrop is None else h * rdrop
        xt = x[:, tt] @ kernel
        if cell == "simple_rnn":
            new = [a(xt + (0 if bias is None else bias) + h_in @ rec)]
        elif cell == "lstm":
            z = xt + h_in @ rec + (0 if bias is None else bias)
            i, fg, cc, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = ra(fg) * states[1] + ra(i) * a(cc)
            new = [ra(o) * a(c), c]
        else:
            bi = br = 0
            if bias is not None:
                bi, br = (bias[0], bias[1]) if reset_after else (bias, 0)
            xz = xt + bi
            if reset_after:
                rr = h_in @ rec + br
                z = ra(xz[:, :u] + rr[:, :u])
                r = ra(xz[:, u:2 * u] + rr[:, u:2 * u])
                hh = a(xz[:, 2 * u:] + r * rr[:, 2 * u:])
            else:
                z = ra(xz[:, :u] + h_in @ rec[:, :u])
                r = ra(xz[:, u:2 * u] + h_in @ rec[:, u:2 * u])
                hh = a(xz[:, 2 * u:] + (r * h_in) @ rec[:, 2 * u:])
            new = [z * h + (1 - z) * hh]
        if mask is None:
            states, out = new, new[0]
        else:
            keep = mask[:, tt:tt + 1] != 0
            out = np.where(keep, new[0], 0.0 if zero_output else states[0])
            states = [np.where(keep, n, s) for n, s in zip(new, states)]
        outs.append(out)
    if return_sequences:
        return np.stack(outs, 1), states
    return (outs[-1] if outs else states[0]), states


def _case(cell, rng, b=3, t=4, f=3, u=4, reset_after=True, use_bias=True, scale=0.6):
    k = GATES[cell]
    d = dict(x=rng.standard_normal((b, t, f)), kernel=rng.standard_normal((f, k * u)) * scale,
             rec=rng.standard_normal((u, k * u)) * scale)
    d["bias"] = None
    if use_bias:
        shape = (2, 3 * u) if cell == "gru" and reset_after else (k * u,)
        d["bias"] = rng.standard_normal(shape) * 0.3
    d["states"] = [rng.standard_normal((b, u)) * 0.5 for _ in range(2 if cell == "lstm" else 1)]
    return {key: (v if v is None or key == "states" else v.astype(np.float32).astype(np.float64)) for key, v in d.items()}


def _loss_weights(rng, y_shape, u, b, n_states):
    return rng.standard_normal(y_shape), [rng.standard_normal((b, u)) for _ in range(n_states)]


def _ember_call(cell, d, device, act, ract, **kw):
    """The op's outputs and the gradients of sum(wy * y) + sum(ws * states) for each input."""
    t = {k: (None if v is None else em.Variable(v.astype(np.float32), device=device))
         for k, v in d.items() if k != "states"}
    st = [em.Variable(s.astype(np.float32), device=device) for s in d["states"]]
    extra = {} if cell == "simple_rnn" else {"recurrent_activation": ract}
    wy, ws = kw.pop("weights")
    for key in ("mask", "dropout_mask", "recurrent_dropout_mask"):
        if kw.get(key) is not None:
            kw[key] = em.tensor(np.asarray(kw[key], np.float32), device=device)
    with em.GradientTape() as tape:
        y, states = getattr(rnn, cell)(t["x"], t["kernel"], t["rec"], t["bias"], initial_state=st if len(st) > 1 else st[0],
                                       activation=act, **extra, **kw)
        loss = em.ops.sum(y * em.tensor(wy.astype(np.float32), device=device))
        for s, w in zip(states, ws):
            loss = loss + em.ops.sum(s * em.tensor(w.astype(np.float32), device=device))
    srcs = [t["x"], t["kernel"], t["rec"]] + ([t["bias"]] if t["bias"] is not None else []) + st
    grads = tape.gradient(loss, srcs)
    return y.numpy(), [s.numpy() for s in states], [g.numpy() for g in grads]


def _ref_grads(cell, d, act, ract, kw, wy, ws, eps=1e-6):
    """Central finite differences of the float64 reference, for every input."""
    ref_kw = dict(go_backwards=kw.get("go_backwards", False), return_sequences=kw.get("return_sequences", False),
                  reset_after=kw.get("reset_after", True), dropout=kw.get("dropout_mask"),
                  rdrop=kw.get("recurrent_dropout_mask"), mask=kw.get("mask"),
                  zero_output=kw.get("zero_output_for_mask", False))

    def loss(dd):
        y, states = reference(cell, dd["x"], dd["kernel"], dd["rec"], dd["bias"], dd["states"], act, ract, **ref_kw)
        return float(np.sum(y * wy) + sum(np.sum(s * w) for s, w in zip(states, ws)))

    arrays = [d["x"], d["kernel"], d["rec"]] + ([d["bias"]] if d["bias"] is not None else []) + d["states"]
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = loss(d)
            a[idx] = old - eps
            down = loss(d)
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        out.append(g)
    y, states = reference(cell, d["x"], d["kernel"], d["rec"], d["bias"], d["states"], act, ract, **ref_kw)
    return y, states, out


CASES = [
    # (cell, act, ract, options)
    ("simple_rnn", "tanh", "sigmoid", dict(return_sequences=True)),
    ("simple_rnn", "relu", "sigmoid", dict(go_backwards=True, mask="padded")),
    ("lstm", "tanh", "sigmoid", dict()),
    ("lstm", "tanh", "hard_sigmoid", dict(return_sequences=True, go_backwards=True, mask="padded",
                                          zero_output_for_mask=True, recurrent_dropout_mask=True)),
    ("lstm", "tanh", "sigmoid", dict(return_sequences=True, dropout_mask=True, mask="padded")),
    ("gru", "tanh", "sigmoid", dict(return_sequences=True, mask="padded")),
    ("gru", "tanh", "sigmoid", dict(reset_after=False, go_backwards=True, recurrent_dropout_mask=True)),
    ("gru", "linear", "sigmoid", dict(reset_after=False, return_sequences=True, mask="padded",
                                      zero_output_for_mask=True)),
]


def _options(opts, rng, b, t, f, u):
    kw = dict(opts)
    if kw.get("mask") == "padded":
        # Padded batch: row 0 full, row 1 padded at the end, row 2 at the start (pre-padding).
        m = np.ones((b, t), np.float32)
        m[1, t - 2:] = 0
        m[2, :1] = 0
        kw["mask"] = m
    if kw.get("dropout_mask") is True:
        kw["dropout_mask"] = (rng.random((b, f)) > 0.3).astype(np.float64) / 0.7
    if kw.get("recurrent_dropout_mask") is True:
        kw["recurrent_dropout_mask"] = (rng.random((b, u)) > 0.3).astype(np.float64) / 0.7
    return kw


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("cell,act,ract,opts", CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_fused_matches_float64_reference(backend_name, cell, act, ract, opts):
    rng = np.random.default_rng(abs(hash((cell, act, ract, str(sorted(opts))))) % 2**32)
    b, t, f, u = 3, 4, 3, 4
    d = _case(cell, rng, b, t, f, u, reset_after=opts.get("reset_after", True))
    kw = _options(opts, rng, b, t, f, u)
    y_shape = (b, t, u) if kw.get("return_sequences") else (b, u)
    wy, ws = _loss_weights(rng, y_shape, u, b, len(d["states"]))
    y_ref, s_ref, g_ref = _ref_grads(cell, d, act, ract, kw, wy, ws)
    y, states, grads = _ember_call(cell, d, backend_name, act, ract, weights=(wy, ws), **kw)
    assert_close(y, y_ref, **FWD, what=f"{cell} outputs")
    for s, r in zip(states, s_ref):
        assert_close(s, r, **FWD, what=f"{cell} final state")
    names = ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"] if d["bias"] is not None else \
        ["x", "kernel", "recurrent_kernel", "h0", "c0"]
    for g, r, name in zip(grads, g_ref, names):
        assert_close(g, r, **GRAD, what=f"{cell} d{name}")


@pytest.mark.parametrize("cell,reset_after", [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)])
def test_fused_matches_composite(cell, reset_after):
    """The fused node and the per-step composite (the same op called with activation
    callables, which the kernels cannot take) agree on outputs and every gradient."""
    rng = np.random.default_rng(7)
    b, t, f, u = 4, 6, 3, 5
    d = _case(cell, rng, b, t, f, u, reset_after=reset_after)
    kw = dict(return_sequences=True, mask=_options({"mask": "padded"}, rng, b, t, f, u)["mask"],
              recurrent_dropout_mask=(rng.random((b, u)) > 0.3) / 0.7)
    if cell == "gru":
        kw["reset_after"] = reset_after
    wy, ws = _loss_weights(rng, (b, t, u), u, b, len(d["states"]))
    fused = _ember_call(cell, d, "cpu", "tanh", "sigmoid", weights=(wy, ws), **dict(kw))
    comp = _ember_call(cell, d, "cpu", lambda z: em.activations.tanh(z), lambda z: em.activations.sigmoid(z),
                       weights=(wy, ws), **dict(kw))
    assert_close(fused[0], comp[0], **FWD, what="outputs")
    for a, c in zip(fused[1] + fused[2], comp[1] + comp[2]):
        assert_close(a, c, rtol=1e-4, atol=1e-5, what="states and gradients")


def test_backend_composite_matches_fused_cpu_kernel():
    """`Backend.rnn_sequence(_backward)`'s composite bodies (what a backend without a
    fused kernel runs) against the Rust kernels, over the option grid, on the raw
    buffers (outputs, final states, saved gates and states, every gradient)."""
    from ember.backend.cpu import CpuBackend, ReferenceCompositeCpuBackend

    fused, comp = CpuBackend(), ReferenceCompositeCpuBackend()
    rng = np.random.default_rng(3)
    b, t, u = 3, 3, 4
    grid = itertools.product([("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)], [False, True],
                             [False, True], [False, True])
    for (cell, ra), back, rs, masked in grid:
        k = GATES[cell]
        arrs = dict(xw=rng.standard_normal((b, t, k * u)), rk=rng.standard_normal((u, k * u)) * 0.5,
                    rb=rng.standard_normal(k * u) * 0.3 if ra else None, h0=rng.standard_normal((b, u)),
                    c0=rng.standard_normal((b, u)) if cell == "lstm" else None,
                    mask=(rng.random((b, t)) > 0.3) if masked else None,
                    rdm=(rng.random((b, u)) > 0.3) / 0.7 if masked else None,
                    gy=rng.standard_normal((b, t, u) if rs else (b, u)), gh=rng.standard_normal((b, u)),
                    gc=rng.standard_normal((b, u)) if cell == "lstm" else None)
        results = []
        for be in (fused, comp):
            a = {key: None if v is None else be.from_numpy(np.asarray(v, np.float32), "float32") for key, v in arrs.items()}
            spec = (b, t, u, back, "tanh", "sigmoid", ra, masked, rs)
            fw = be.rnn_sequence(cell, a["xw"], a["rk"], a["rb"], a["h0"], a["c0"], a["mask"], a["rdm"], *spec)
            bw = be.rnn_sequence_backward(cell, a["rk"], a["rb"] is not None, a["mask"], a["rdm"], *fw[3:], a["gy"],
                                          a["gh"], a["gc"], *spec)
            results.append([np.frombuffer(v, np.float32) for v in (*fw, *bw) if v is not None])
        for x, y in zip(*results):
            assert_close(x, y, rtol=1e-5, atol=1e-5, what=f"{cell} reset_after={ra} back={back} seq={rs} mask={masked}")


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_single_step_and_initial_states(backend_name):
    """T = 1 from given initial states: one application of the cell equations."""
    rng = np.random.default_rng(11)
    for cell in ("simple_rnn", "lstm", "gru"):
        d = _case(cell, rng, b=2, t=1, f=3, u=3)
        wy, ws = _loss_weights(rng, (2, 3), 3, 2, len(d["states"]))
        y_ref, s_ref, g_ref = _ref_grads(cell, d, "tanh", "sigmoid", {}, wy, ws)
        y, states, grads = _ember_call(cell, d, backend_name, "tanh", "sigmoid", weights=(wy, ws))
        assert_close(y, y_ref, **FWD, what=f"{cell} T=1")
        for g, r in zip(grads, g_ref):
            assert_close(g, r, **GRAD, what=f"{cell} T=1 gradient")


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_golden_values(backend_name, golden):
    """The golden SimpleRNN, LSTM and GRU (both reset_after modes) cases: outputs and the
    gradients of sum(upstream * h_T)."""
    cases = [("simple_rnn", golden["simple_rnn"], True), ("lstm", golden["lstm"], True),
             ("gru", golden["gru"]["reset_after_true"], True), ("gru", golden["gru"]["reset_after_false"], False)]
    for cell, g, reset_after in cases:
        x, k, r, bias = (em.Variable(np.asarray(g[n], np.float32), device=backend_name)
                         for n in ("x", "kernel", "recurrent_kernel", "bias"))
        kw = {"reset_after": reset_after} if cell == "gru" else {}
        with em.GradientTape() as tape:
            y, _ = getattr(rnn, cell)(x, k, r, bias, **kw)
            loss = em.ops.sum(y * em.tensor(np.asarray(g["upstream"], np.float32), device=backend_name))
        grads = tape.gradient(loss, [x, k, r, bias])
        assert_close(y.numpy(), np.asarray(g["output"]), rtol=1e-5, atol=1e-6, what=f"golden {cell} output")
        for name, gr in zip(("x", "kernel", "recurrent_kernel", "bias"), grads):
            assert_close(gr.numpy(), np.asarray(g["grads"][name]), rtol=1e-5, atol=1e-6, what=f"golden {cell} d{name}")


def test_only_unused_outputs_give_zero_gradients():
    """A loss of the final c alone (the outputs and h unused) still reaches every input;
    a loss of nothing recurrent leaves the recurrent kernel without a gradient."""
    rng = np.random.default_rng(5)
    d = _case("lstm", rng, b=2, t=3, f=2, u=2)
    wy = np.zeros((2, 2))
    ws = [np.zeros((2, 2)), rng.standard_normal((2, 2))]
    _, _, g_ref = _ref_grads("lstm", d, "tanh", "sigmoid", {}, wy, ws)
    x = em.Variable(d["x"].astype(np.float32))
    vs = [em.Variable(d[n].astype(np.float32)) for n in ("kernel", "rec", "bias")]
    st = [em.Variable(s.astype(np.float32)) for s in d["states"]]
    with em.GradientTape() as tape:
        _, (_, c) = rnn.lstm(x, *vs, initial_state=st)
        loss = em.ops.sum(c * em.tensor(ws[1].astype(np.float32)))
    for g, r in zip(tape.gradient(loss, [x, *vs, *st]), g_ref):
        assert_close(g.numpy(), r, **GRAD, what="gradient through c alone")


def test_callables_use_the_composite_and_names_the_kernel():
    assert rnn._fused_name("tanh") == "tanh"
    assert rnn._fused_name(em.activations.hard_sigmoid) == "hard_sigmoid"
    assert rnn._fused_name(None) == "linear"
    assert rnn._fused_name("gelu") is None
    assert rnn._fused_name(lambda z: z) is None
    assert set(rnn.FUSED_ACTIVATIONS) == set(em._core.RNN_ACTIVATIONS)


def test_bad_masks_and_states_raise_before_work():
    x = em.ones((2, 3, 4))
    k, r = em.ones((4, 8)) * 0.1, em.ones((2, 8)) * 0.1
    with pytest.raises(ShapeError, match="lstm: mask has shape"):
        rnn.lstm(x, k, r, mask=np.ones((2, 4), bool))
    with pytest.raises(ShapeError, match="recurrent_dropout_mask"):
        rnn.lstm(x, k, r, recurrent_dropout_mask=em.ones((2, 3)))
    with pytest.raises(InvalidArgumentError, match="initial state"):
        rnn.lstm(x, k, r, initial_state=[em.zeros((2, 2))])
    be = em.backend.get_backend("cpu")
    buf = be.full(2 * 3 * 8, 0.0, "float32")
    with pytest.raises(ShapeError, match="rnn_sequence: recurrent_kernel"):
        be.rnn_sequence("lstm", buf, be.full(3, 0.0, "float32"), None, be.full(4, 0.0, "float32"),
                        be.full(4, 0.0, "float32"), None, None, 2, 3, 2, False, "tanh", "sigmoid", True, False, False)
    with pytest.raises(InvalidArgumentError, match="not fused"):
        be.rnn_sequence("lstm", buf, be.full(16, 0.0, "float32"), None, be.full(4, 0.0, "float32"),
                        be.full(4, 0.0, "float32"), None, None, 2, 3, 2, False, "gelu", "sigmoid", True, False, False)


def test_bool_mask_matches_keras_semantics_on_padded_batch():
    """A bool mask from padding: the padded row's final state equals the state at its
    last real step, and with zero_output_for_mask its padded outputs are zeros."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    k, r = (rng.standard_normal(s).astype(np.float32) * 0.5 for s in ((3, 12), (4, 12)))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    y, (h,) = rnn.gru(em.tensor(x), em.tensor(k), em.tensor(r), mask=mask, return_sequences=True,
                      zero_output_for_mask=True)
    y3, (h3,) = rnn.gru(em.tensor(x[1:, :3]), em.tensor(k), em.tensor(r), return_sequences=True)
    assert_close(h.numpy()[1], h3.numpy()[0], **FWD, what="padded row's final state")
    assert_close(y.numpy()[1, :3], y3.numpy()[0], **FWD, what="real steps")
    assert np.all(y.numpy()[1, 3:] == 0)
