"""The compiled training step (ember.compiled): replaying a traced step gives weights
bit-identical to the eager step, per layer kind, on every backend; plans retrace on a
new input signature; untraceable steps fall back with one warning; ``ember.function``
compiles a custom loop (checked against a float64 numpy loop as well)."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.compiled import CompileWarning



def _run(build, x, y, backend_name, jit, epochs=2, batch_size=8, **compile_kw):
    em.utils.set_random_seed(0)
    with em.device(backend_name):
        model = build()
        # Fresh optimizer and loss objects per run (factories): they hold state.
        model.compile(jit_compile=jit, **{k: v() if callable(v) and k in ("optimizer", "loss") else v
                                          for k, v in compile_kw.items()})
        hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    return model, hist.history


def _both(build, x, y, backend_name, **kw):
    """Fits eagerly and compiled from the same seed; asserts bit-identical weights and
    logs, and that the compiled fit replayed plans (it did not just run eagerly)."""
    eager, h_eager = _run(build, x, y, backend_name, False, **kw)
    comp, h_comp = _run(build, x, y, backend_name, True, **kw)
    we, wc = eager.get_weights(), comp.get_weights()
    assert len(we) == len(wc)
    for a, b in zip(we, wc):
        np.testing.assert_array_equal(a, b)
    assert h_eager == h_comp
    step = comp._compiled_train_step
    assert step.compiler.fallback_reason is None
    assert step.compiler.replays > 0
    opt_e = [np.asarray(v.numpy()) for v in eager.optimizer.variables]
    opt_c = [np.asarray(v.numpy()) for v in comp.optimizer.variables]
    for a, b in zip(opt_e, opt_c):
        np.testing.assert_array_equal(a, b)
    assert eager.optimizer.iterations == comp.optimizer.iterations
    if backend_name == "cpu":  # and every CPU plan replayed as one call of the Rust core
        for plan in step.compiler.plans():
            assert plan.rust is not None, plan.rust_why
            assert len(plan.rust) == plan.n_calls
    return comp


def _data(shape, n=24, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, classes, n).astype(np.int32)


def test_dense_adamw_schedule_metrics(backend_name):
    x, y = _data((6,))
    sched = em.optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)

    def build():
        return em.Sequential([em.Input((6,)), em.layers.Dense(8, activation="relu", kernel_regularizer="l2"),
                              em.layers.Dense(3, activation="softmax")])

    comp = _both(build, x, y, backend_name, optimizer=lambda: em.optimizers.AdamW(sched, weight_decay=0.1),
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # The learning rate is a plan input: the rule saw each step's rate, not the traced one.
    assert "lr0" in comp._compiled_train_step.compiler.plans()[0].source


def test_batchnorm_dropout_piecewise(backend_name):
    x, y = _data((5,))
    sched = em.optimizers.schedules.PiecewiseConstantDecay([4], [0.05, 0.01])  # switches after the plan is made

    def build():
        return em.Sequential([
            em.Input((5,)), em.layers.Dense(8), em.layers.BatchNormalization(), em.layers.Activation("relu"),
            em.layers.Dropout(0.5), em.layers.Dropout(0.25, seed=3), em.layers.Dense(3),
        ])

    comp = _both(build, x, y, backend_name, optimizer=lambda: em.optimizers.SGD(sched, momentum=0.9),
                 loss=lambda: em.losses.SparseCategoricalCrossentropy(from_logits=True))
    # BatchNormalization's moving statistics (non-trainable, assigned in place) match too,
    # through get_weights above; both random generators advanced as in eager mode.
    assert "g0.counter" in comp._compiled_train_step.compiler.plans()[0].source


def test_conv_pool_nadam(backend_name):
    x, y = _data((6, 6, 2), n=16)

    def build():
        return em.Sequential([
            em.Input((6, 6, 2)), em.layers.Conv2D(3, 3, padding="same", activation="relu"), em.layers.MaxPooling2D(2),
            em.layers.Conv2D(2, 2), em.layers.AveragePooling2D(1), em.layers.Flatten(), em.layers.Dense(3),
        ])

    _both(build, x, y, backend_name, optimizer=lambda: em.optimizers.Nadam(0.01),
          loss=lambda: em.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def test_lstm_rmsprop_partial_batch_retraces(backend_name):
    x, _ = _data((4, 3), n=20)
    y = np.random.default_rng(1).standard_normal((20, 2)).astype(np.float32)

    def build():
        return em.Sequential([em.Input((4, 3)), em.layers.LSTM(5), em.layers.Dense(2)])

    # 20 samples in batches of 8: two signatures (8 and the last 4), each with its plan.
    comp = _both(build, x, y, backend_name, epochs=4, optimizer=lambda: em.optimizers.RMSprop(0.01), loss="mse")
    plans = comp._compiled_train_step.compiler.plans()
    assert len(plans) == 2
    assert {p.source.count("p0") > 0 for p in plans} == {True}


def test_sample_weight_and_lr_change_between_fits():
    x, y = _data((4,))
    sw = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    out = {}
    for jit in (False, True):
        em.utils.set_random_seed(0)
        m = em.Sequential([em.Input((4,)), em.layers.Dense(3)])
        m.compile(optimizer=em.optimizers.Adam(0.01), loss=em.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
        m.fit(x, y, sample_weight=sw, batch_size=6, epochs=2, verbose=0)
        m.optimizer.learning_rate = 0.5  # as ReduceLROnPlateau does: read by the plan's preamble
        m.fit(x, y, sample_weight=sw, batch_size=6, epochs=1, verbose=0)
        out[jit] = m
    for a, b in zip(out[False].get_weights(), out[True].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert out[True]._compiled_train_step.compiler.replays > 0


def test_jit_compile_argument():
    m = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
    with pytest.raises(em.errors.InvalidArgumentError, match="jit_compile"):
        m.compile(optimizer="sgd", loss="mse", jit_compile="yes")
    for kw in ({"jit_compile": False}, {"run_eagerly": True, "jit_compile": True}):
        m.compile(optimizer="sgd", loss="mse", **kw)
        m.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)
        assert m._compiled_train_step is None


class _BranchyModel(em.Model):
    """A custom train_step with Python control flow on a tensor value."""

    def __init__(self):
        super().__init__()
        self.d = em.layers.Dense(1)

    def call(self, x):
        return self.d(x)

    def train_step(self, data):
        x, y = data
        with em.GradientTape() as tape:
            loss = em.ops.mean(em.ops.square(self(x, training=True) - y))
        grads = tape.gradient(loss, self.trainable_variables)
        if float(loss) > 0.0:  # reads the loss on the host: untraceable
            self.optimizer.apply(grads, self.trainable_variables)
        return {"loss": loss}


def test_untraceable_custom_train_step_falls_back_with_one_warning():
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    weights = {}
    for jit in (False, True):
        em.utils.set_random_seed(0)
        m = _BranchyModel()
        m.compile(optimizer=em.optimizers.SGD(0.1), jit_compile=jit)
        if jit:
            with pytest.warns(CompileWarning, match="reads a tensor back to the host") as rec:
                m.fit(x, y, batch_size=4, epochs=2, verbose=0)
            assert len([w for w in rec if issubclass(w.category, CompileWarning)]) == 1
        else:
            m.fit(x, y, batch_size=4, epochs=2, verbose=0)
        weights[jit] = m.get_weights()
    for a, b in zip(weights[False], weights[True]):
        np.testing.assert_array_equal(a, b)


class _TraceableModel(_BranchyModel):
    def train_step(self, data):
        x, y = data
        with em.GradientTape() as tape:
            loss = em.ops.mean(em.ops.square(self(x, training=True) - y))
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return {"loss": loss}


def test_traceable_custom_train_step_is_compiled():
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    weights, logs = {}, {}
    for jit in (False, True):
        em.utils.set_random_seed(0)
        m = _TraceableModel()
        m.compile(optimizer=em.optimizers.Adam(0.05), jit_compile=jit)
        logs[jit] = m.fit(x, y, batch_size=4, epochs=3, verbose=0).history
        weights[jit] = m.get_weights()
    assert m._compiled_custom_step._compiler.replays > 0
    assert logs[False] == logs[True]
    for a, b in zip(weights[False], weights[True]):
        np.testing.assert_array_equal(a, b)


def _linreg_data():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0], [0.5]], np.float32) + 0.25).astype(np.float32)
    return x, y


def test_function_custom_loop_matches_eager_and_numpy(backend_name):
    x, y = _linreg_data()
    lr, batch = 0.1, 10

    def train(compiled):
        with em.device(backend_name):
            w = em.Variable(np.zeros((3, 1), np.float32), name="w")
            b = em.Variable(np.zeros((1,), np.float32), name="b")
            opt = em.optimizers.SGD(lr)

            def step(xb, yb):
                with em.GradientTape() as tape:
                    loss = em.ops.mean(em.ops.square(em.ops.matmul(xb, w) + b - yb))
                opt.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
                return loss

            fn = em.function(step) if compiled else step
            for _ in range(3):
                for i in range(0, len(x), batch):
                    loss = fn(em.tensor(x[i:i + batch]), em.tensor(y[i:i + batch]))
        return np.asarray(w.numpy()), np.asarray(b.numpy()), float(loss.numpy()), fn

    we, be_, le, _ = train(False)
    wc, bc, lc, fn = train(True)
    np.testing.assert_array_equal(we, wc)
    np.testing.assert_array_equal(be_, bc)
    assert le == lc
    assert fn._compiler.replays == 12 - 2  # two traced calls, then replays

    # The float64 reference: the same minibatch SGD in numpy.
    w64, b64 = np.zeros((3, 1)), np.zeros((1,))
    for _ in range(3):
        for i in range(0, len(x), batch):
            xb, yb = x[i:i + batch].astype(np.float64), y[i:i + batch].astype(np.float64)
            r = xb @ w64 + b64 - yb
            gw, gb = 2 * xb.T @ r / r.size, 2 * r.sum(axis=0) / r.size
            w64, b64 = w64 - lr * gw, b64 - lr * gb
    np.testing.assert_allclose(wc, w64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bc, b64, rtol=1e-5, atol=1e-6)


def test_function_readback_warns_once_and_stays_eager():
    v = em.Variable([1.0])

    @em.function
    def halve_if_big(x):
        if float(v.numpy()[0]) > 0.5:
            v.assign(v * x)
        return v * 1.0

    with pytest.warns(CompileWarning, match="reads a tensor back"):
        for _ in range(4):
            out = halve_if_big(em.tensor([0.5]))
    assert out.numpy().tolist() == [0.5]  # 1 -> 0.5, then the branch is not taken again
    assert halve_if_big._compiler.replays == 0


def test_function_changing_host_value_is_refused():
    v = em.Variable([0.0])
    box = [0.0]

    def bump(x):
        box[0] += 1.0
        v.assign(v + x * box[0])  # a Python float that changes every call: not explainable

    fn = em.function(bump)
    with pytest.warns(CompileWarning, match="changed between steps"):
        for _ in range(5):
            fn(em.tensor([1.0]))
    assert v.numpy().tolist() == [15.0]  # 1 + 2 + 3 + 4 + 5: every call ran eagerly


def test_function_retraces_per_signature_and_non_tensor_args():
    v = em.Variable(np.zeros((2,), np.float32))

    @em.function
    def acc(x, scale):
        v.assign(v + em.ops.sum(x, axis=0) * scale)

    for _ in range(3):
        acc(em.tensor(np.ones((2, 2), np.float32)), 1.0)
        acc(em.tensor(np.ones((3, 2), np.float32)), 2.0)
    assert v.numpy().tolist() == [3 * (2 + 6.0)] * 2
    assert len(acc._compiler.plans()) == 2 and acc._compiler.replays == 2


def test_docs_page_examples_run():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "compiled_step.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block, str(page), "exec"), {"__name__": "__docs__"})


def test_two_input_functional_model_and_freezing_between_fits():
    rng = np.random.default_rng(3)
    xa, xb = rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    out = {}
    for jit in (False, True):
        em.utils.set_random_seed(0)
        a, b = em.Input((3,)), em.Input((2,))
        hidden = em.layers.Dense(4, activation="tanh")
        z = em.layers.Dense(1)(em.layers.Concatenate()([hidden(a), b]))
        m = em.Model([a, b], z)
        m.compile(optimizer=em.optimizers.Adam(0.02), loss="mse", metrics=["mae"], jit_compile=jit)
        m.fit([xa, xb], y, batch_size=4, epochs=2, verbose=0)
        hidden.trainable = False  # another set of trainable variables: the plans are dropped and retraced
        m.fit([xa, xb], y, batch_size=4, epochs=2, verbose=0)
        out[jit] = m
    for p, q in zip(out[False].get_weights(), out[True].get_weights()):
        np.testing.assert_array_equal(p, q)
    assert out[True]._compiled_train_step.compiler.replays > 0


class _NumpyRuleSGD(em.optimizers.Optimizer):
    """A custom rule doing learning-rate arithmetic the tracer cannot see (math reads a
    float's value directly)."""

    def update_step(self, gradient, variable, learning_rate):
        import math

        variable.assign(variable - gradient * math.fsum([learning_rate]))


def test_baked_learning_rate_retraces_when_changed():
    v = em.Variable([1.0, -2.0])
    opt = _NumpyRuleSGD(0.1)

    @em.function
    def step():
        with em.GradientTape() as tape:
            loss = em.ops.sum(em.ops.square(v))
        opt.apply(tape.gradient(loss, [v]), [v])

    ref = np.array([1.0, -2.0], np.float32)
    for i in range(8):
        if i == 5:
            opt.learning_rate = 0.25  # the plan baked 0.1: it must notice and retrace
        step()
        lr = np.float32(0.1 if i < 5 else 0.25)
        ref = ref - (2 * ref) * lr
    np.testing.assert_allclose(v.numpy(), ref, rtol=1e-6)
    assert step._compiler.replays > 0


def test_function_nested_and_returning_a_variable():
    v = em.Variable([1.0])

    @em.function
    def inner(x):
        v.assign(v + x)

    @em.function
    def outer(x):
        inner(x)  # inlined into outer's plan
        inner(x)
        return v

    for _ in range(5):
        out = outer(em.tensor([1.0]))
    assert out is v and v.numpy().tolist() == [11.0]
    assert outer._compiler.replays == 3 and outer.fallback_reason is None


# -- the Rust replay of CPU plans (rust/src/py/plan.rs) ------------------------------------------
def _affine_fn():
    w = em.Variable(np.array([[2.0, -1.0], [0.5, 3.0]], np.float32))

    @em.function
    def f(x, y):
        w.assign(w * 0.5 + 1.0)
        return em.ops.matmul(x, w) + y, em.ops.sum(x)

    return w, f


def _affine_ref(steps, xs, ys):
    w = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
    outs = []
    for x, y in zip(xs, ys):
        w = (w * np.float32(0.5) + np.float32(1.0)).astype(np.float32)
        outs.append((x @ w + y, x.sum()))
    return w, outs


def test_rust_plan_outputs_kept_by_the_caller_stay_intact():
    """Every call's results are its own buffers: the traced call's too (copied when the
    plan is made), though the Rust plan refills the traced buffers on each replay."""
    w, f = _affine_fn()
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(6)]
    ys = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(6)]
    kept = [f(em.tensor(x), em.tensor(y)) for x, y in zip(xs, ys)]
    plan = f._compiler.plans()[0]
    assert plan.rust is not None, plan.rust_why
    assert "R.run(" in plan.source and f._compiler.replays >= 3
    w_ref, ref = _affine_ref(6, xs, ys)
    for (a, s), (ra, rs) in zip(kept, ref):  # read only now, after all the replays
        np.testing.assert_allclose(a.numpy(), ra, rtol=1e-6)
        np.testing.assert_allclose(s.numpy(), rs, rtol=1e-6)
    np.testing.assert_array_equal(w.numpy(), w_ref)
    t = em.tensor(xs[0])  # an input the replay borrowed is back in its tensor
    f(t, em.tensor(ys[0]))
    np.testing.assert_array_equal(t.numpy(), xs[0])


def test_rust_plan_aliased_inputs_replay_in_python():
    """Inputs that alias each other or a buffer of the plan (a weight) cannot be moved
    into the plan's input buffers: that call runs the Python form, with the same values."""
    w, f = _affine_fn()
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((2, 2)).astype(np.float32)
    for _ in range(3):
        f(em.tensor(x0), em.tensor(x0 + 1))
    assert f._compiler.plans()[0].rust is not None
    w_before = w.numpy().copy()
    t = em.tensor(x0)
    a, s = f(t, t)  # the same tensor twice
    w_now = (w_before * np.float32(0.5) + np.float32(1.0)).astype(np.float32)
    np.testing.assert_allclose(a.numpy(), x0 @ w_now + x0, rtol=1e-6)
    a, s = f(w, em.tensor(x0))  # the weight itself as an input (read after its update, as eagerly)
    w_next = (w_now * np.float32(0.5) + np.float32(1.0)).astype(np.float32)
    np.testing.assert_allclose(a.numpy(), w_next @ w_next + x0, rtol=1e-6)
    np.testing.assert_array_equal(w.numpy(), w_next)


def test_rust_plan_error_in_a_replayed_kernel_raises_and_restores_inputs():
    """A kernel failing inside the Rust replay raises the eager error (an out-of-range
    label, here) and gives the caller's input buffers back."""
    em.utils.set_random_seed(0)
    model = em.Sequential([em.Input((4,)), em.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=em.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 1] * 4, np.int32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    plan = model._compiled_train_step.compiler.plans()[0]
    assert plan.rust is not None, plan.rust_why
    xb, yb = em.tensor(x[:4]), em.tensor(np.array([0, 1, 7, 1], np.int32))
    with pytest.raises(em.errors.EmberError, match="7"):
        plan.replay(xb._buf, yb._buf)
    np.testing.assert_array_equal(xb.numpy(), x[:4])
    assert yb.numpy().tolist() == [0, 1, 7, 1]


def test_rust_plan_is_refused_for_steps_beyond_single_kernels(monkeypatch):
    """A backend call that is not exactly one CPU kernel (a buffer made from host data)
    keeps the Python form of the plan, with the reason; EMBER_COMPILED_REPLAY=python
    (compiled.REPLAY) keeps it for every plan."""
    import ember.compiled as compiled

    v = em.Variable(np.zeros((3,), np.float32))

    @em.function
    def g(x):
        v.assign(v + x * em.tensor(np.array([1.0, 2.0, 3.0], np.float32)))

    for _ in range(3):
        g(em.tensor(np.ones((3,), np.float32)))
    plan = g._compiler.plans()[0]
    assert plan.rust is None and "from_numpy" in plan.rust_why
    assert v.numpy().tolist() == [3.0, 6.0, 9.0]

    monkeypatch.setattr(compiled, "REPLAY", "python")
    w, f = _affine_fn()
    for _ in range(3):
        f(em.tensor(np.ones((2, 2), np.float32)), em.tensor(np.ones((2, 2), np.float32)))
    assert f._compiler.plans()[0].rust is None and "R.run(" not in f._compiler.plans()[0].source


def test_rust_plan_concurrent_replays_take_turns():
    """Two threads replaying the same plan get their own results (the plan's buffers serve
    one replay at a time)."""
    import threading

    w = em.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10)

    @em.function
    def f(x, y):
        return em.ops.tanh(em.ops.matmul(x, w)) + y

    rng = np.random.default_rng(5)
    for _ in range(3):
        f(em.tensor(rng.standard_normal((8, 3)).astype(np.float32)), em.tensor(np.zeros((8, 4), np.float32)))
    assert f._compiler.plans()[0].rust is not None
    errors = []

    def worker(seed):
        r = np.random.default_rng(seed)
        for _ in range(200):
            x = r.standard_normal((8, 3)).astype(np.float32)
            y = r.standard_normal((8, 4)).astype(np.float32)
            got = f(em.tensor(x), em.tensor(y)).numpy()
            want = np.tanh(x.astype(np.float64) @ (np.arange(12).reshape(3, 4) / 10)) + y
            if not np.allclose(got, want, rtol=1e-5, atol=1e-5):
                errors.append(seed)
                return

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
