"""The names and arguments issue 15 added to close the Keras surface: the optimizers' EMA,
gradient accumulation and loss scaling, the new optimizers, losses, layers, ops,
callbacks, regularizers and utilities, each against a float64 numpy reference or the
hand-computed Keras definition, and, where keras is installed, against real Keras."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, NonFiniteLossError, ShapeError

os.environ.setdefault("KERAS_BACKEND", "jax")


def _keras():
    return pytest.importorskip("keras")


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


RNG = np.random.default_rng(15)
W0 = RNG.normal(size=(3,)).astype(np.float32)
GRADS = [RNG.normal(size=(3,)).astype(np.float32) for _ in range(7)]


# -----------------------------------------------------------------------------------------------
# optimizers: EMA, gradient accumulation, loss scaling
# -----------------------------------------------------------------------------------------------

def _sgd_reference(lr, grads, steps=None, ema=None, overwrite=None, scale=None):
    """float64 Keras 3 BaseOptimizer semantics for plain SGD: accumulate ``steps`` calls
    and update with the mean; EMA after every call (momentum 0 until an update has
    completed); overwrite every ``overwrite`` updates."""
    w = W0.astype(np.float64).copy()
    acc = np.zeros_like(w)
    avg = np.zeros_like(w)
    raw = 0
    for g in grads:
        g = g.astype(np.float64) / (scale or 1.0)
        iterations = raw // steps if steps else raw
        if steps:
            if (raw + 1) % steps == 0:
                w = w - lr * (g + acc) / steps
                acc[:] = 0
            else:
                acc += g
        else:
            w = w - lr * g
        if ema is not None:
            m = ema if iterations != 0 else 0.0
            avg = m * avg + (1 - m) * w
            if overwrite and (iterations + 1) % overwrite == 0:
                w = avg.copy()
        raw += 1
    return w, avg


@pytest.mark.parametrize("kw", [dict(gradient_accumulation_steps=3), dict(use_ema=True, ema_momentum=0.6),
                                dict(use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2),
                                dict(gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.7,
                                     ema_overwrite_frequency=3),
                                dict(loss_scale_factor=8.0)])
def test_optimizer_ema_accumulation_and_scaling_against_numpy(kw, backend_name):
    opt = em.optimizers.SGD(0.1, **kw)
    v = em.Variable(W0.copy(), device=backend_name)
    for g in GRADS:
        opt.apply([em.tensor(g, device=backend_name)], [v])
    w, avg = _sgd_reference(0.1, GRADS, kw.get("gradient_accumulation_steps"), kw.get("ema_momentum") if
                            kw.get("use_ema") else None, kw.get("ema_overwrite_frequency"), kw.get("loss_scale_factor"))
    close(v.numpy(), w)
    if kw.get("use_ema"):
        close(opt.slot(v, "average").numpy(), avg)
    steps = kw.get("gradient_accumulation_steps")
    assert opt.iterations == (len(GRADS) // steps if steps else len(GRADS))


@pytest.mark.parametrize("cls, kw", [
    ("Adam", dict(learning_rate=0.1, use_ema=True, ema_momentum=0.7)),
    ("SGD", dict(learning_rate=0.1, momentum=0.5, gradient_accumulation_steps=3)),
    ("Adam", dict(learning_rate=0.1, gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.6,
                  ema_overwrite_frequency=2)),
    ("RMSprop", dict(learning_rate=0.1, loss_scale_factor=4.0)),
    ("Adam", dict(learning_rate="schedule", gradient_accumulation_steps=2)),
])
def test_optimizer_features_match_keras(cls, kw):
    keras = _keras()

    def run(mod, kw):
        kw = dict(kw)
        if kw.get("learning_rate") == "schedule":
            kw["learning_rate"] = mod.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)
        opt = getattr(mod.optimizers, cls)(**kw)
        if mod is keras:
            v = keras.Variable(W0.copy())
            for g in GRADS:
                opt.apply([keras.ops.convert_to_tensor(g)], [v])
            avg = np.asarray(opt._model_variables_moving_average[0]) if kw.get("use_ema") else None
            return np.asarray(v), avg, int(opt.iterations)
        v = em.Variable(W0.copy())
        for g in GRADS:
            opt.apply([em.tensor(g)], [v])
        avg = opt.slot(v, "average").numpy() if kw.get("use_ema") else None
        return v.numpy(), avg, opt.iterations

    k, e = run(keras, kw), run(em, kw)
    close(e[0], k[0], rtol=1e-5, atol=1e-6)
    if k[1] is not None:
        close(e[1], k[1], rtol=1e-5, atol=1e-6)
    assert e[2] == k[2]


def test_optimizer_state_round_trip_with_accumulation_and_ema():
    opt = em.optimizers.Adam(0.05, use_ema=True, gradient_accumulation_steps=3)
    v = em.Variable(W0.copy(), name="w")
    for g in GRADS[:4]:
        opt.apply([em.tensor(g)], [v])
    store = {}
    opt.save_own_variables(store)
    other = em.optimizers.Adam(0.05, use_ema=True, gradient_accumulation_steps=3)
    v2 = em.Variable(v.numpy(), name="w")
    other.build([v2])
    other.load_own_variables(store)
    assert other.iterations == opt.iterations == 1 and other._accumulated == opt._accumulated == 1
    for g in GRADS[4:]:
        opt.apply([em.tensor(g)], [v])
        other.apply([em.tensor(g)], [v2])
    np.testing.assert_array_equal(v.numpy(), v2.numpy())
    np.testing.assert_array_equal(opt.slot(v, "average").numpy(), other.slot(v2, "average").numpy())
    cfg = json.loads(json.dumps(opt.get_config()))
    assert (cfg["use_ema"], cfg["gradient_accumulation_steps"]) == (True, 3)
    assert em.optimizers.Adam.from_config(cfg).gradient_accumulation_steps == 3


def _regression_model(optimizer, **compile_kw):
    em.utils.set_random_seed(3)
    model = em.Sequential([em.Input((4,)), em.layers.Dense(3, activation="tanh"), em.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse", **compile_kw)
    return model


def test_fit_with_ema_ends_on_the_averages_and_swap_ema_weights():
    x = RNG.normal(size=(64, 4)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True).astype(np.float32)
    model = _regression_model(em.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.9))
    seen = {}

    class Spy(em.callbacks.Callback):
        def on_test_begin(self, logs=None):
            seen["test"] = [w.numpy().copy() for w in self.model.trainable_variables]

        def on_train_end(self, logs=None):
            seen["end"] = [w.numpy().copy() for w in self.model.trainable_variables]

    opt = model.optimizer
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y),
              callbacks=[em.callbacks.SwapEMAWeights(), Spy()])
    averages = [opt.slot(v, "average").numpy() for v in model.trainable_variables]
    # during validation the model held the averages; fit ended with the averages as weights
    for a, b in zip(seen["test"], averages):
        close(a, b, rtol=1e-6, atol=1e-7)
    for w, a in zip(model.trainable_variables, averages):
        np.testing.assert_array_equal(w.numpy(), a)
    for a, b in zip(seen["end"], averages):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidArgumentError, match="use_ema"):
        plain = _regression_model("sgd")
        plain.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[em.callbacks.SwapEMAWeights()])


def test_fit_with_gradient_accumulation_equals_the_big_batch():
    """Accumulating 4 batches of 8 with plain SGD takes the same step as one batch of 32
    (the mean loss's gradient is the mean of the batch gradients)."""
    x = RNG.normal(size=(32, 4)).astype(np.float32)
    y = x[:, :1] * 2.0
    big = _regression_model(em.optimizers.SGD(0.1))
    big.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    # jit_compile=True: the step runs eagerly (the accumulation branches on a host counter)
    # without a compile warning, and gives the same weights
    acc = _regression_model(em.optimizers.SGD(0.1, gradient_accumulation_steps=4), jit_compile=True)
    import warnings

    from ember.compiled import CompileWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        acc.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(big.get_weights(), acc.get_weights()):
        close(a, b, rtol=1e-5, atol=1e-6)
    assert acc.optimizer.iterations == 3


def test_ema_step_compiles_and_matches_eager():
    x = RNG.normal(size=(32, 4)).astype(np.float32)
    y = x[:, :1]
    out = {}
    for jit in (False, True):
        m = _regression_model(em.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.8), jit_compile=jit)
        m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        out[jit] = m
    for p, q in zip(out[False].get_weights(), out[True].get_weights()):
        np.testing.assert_array_equal(p, q)
    assert out[True]._compiled_train_step.compiler.replays > 0


def test_fit_with_loss_scale_factor_trains_as_without():
    x = RNG.normal(size=(32, 4)).astype(np.float32)
    y = x[:, 1:2] - x[:, :1]
    a = _regression_model(em.optimizers.Adam(0.01))
    b = _regression_model(em.optimizers.Adam(0.01, loss_scale_factor=128.0))
    ha = a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    close(ha.history["loss"], hb.history["loss"], rtol=1e-4, atol=1e-6)  # the logged loss is the unscaled one
    for p, q in zip(a.get_weights(), b.get_weights()):
        close(p, q, rtol=1e-4, atol=1e-5)
    assert b.optimizer.scale_loss(2.0) == 256.0


def test_optimizer_default_names_and_required_learning_rate():
    assert em.optimizers.Adam().name == "adam" and em.optimizers.SGD().name == "SGD"
    assert em.optimizers.Adam(name=None).name == "adam"
    with pytest.raises(TypeError):
        em.optimizers.Optimizer()  # learning_rate is required, as in Keras


# -----------------------------------------------------------------------------------------------
# callbacks
# -----------------------------------------------------------------------------------------------

def test_terminate_on_nan_raise_error():
    x = np.ones((8, 4), np.float32)
    y = np.full((8, 1), 1e30, np.float32)  # the squared error overflows float32: an infinite loss
    ended = []

    class End(em.callbacks.Callback):
        def on_train_end(self, logs=None):
            ended.append(True)

    model = _regression_model("sgd")
    with pytest.raises(NonFiniteLossError, match="NaN or Inf loss"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[em.callbacks.TerminateOnNaN(raise_error=True), End()])
    assert isinstance(NonFiniteLossError("x"), RuntimeError) and not ended
    model = _regression_model("sgd")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[em.callbacks.TerminateOnNaN(), End()])
    assert ended == [True]
    with pytest.raises(InvalidArgumentError):
        em.callbacks.TerminateOnNaN(raise_error="yes")


def test_tensorboard_writes_the_keras_model_graph(tmp_path):
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto import event_pb2

    model = _regression_model("sgd")
    x = np.ones((8, 4), np.float32)
    model.fit(x, x[:, :1], epochs=2, verbose=0,
              callbacks=[em.callbacks.TensorBoard(log_dir=str(tmp_path), write_steps_per_second=True)])
    graphs, sps = [], []
    for f in (tmp_path / "train").iterdir():
        data = f.read_bytes()
        pos = 0
        while pos < len(data):
            n = int.from_bytes(data[pos:pos + 8], "little")
            ev = event_pb2.Event.FromString(data[pos + 12:pos + 12 + n])
            pos += 12 + n + 4
            for v in ev.summary.value:
                if v.tag == "keras":
                    assert v.metadata.plugin_data.plugin_name == "graph_keras_model"
                    graphs.append(json.loads(v.tensor.string_val[0]))
                if v.tag == "epoch_steps_per_second":
                    sps.append(v.simple_value)
    assert len(graphs) == 1 and graphs[0]["class_name"] == "Sequential"
    assert len(sps) == 2 and all(s > 0 for s in sps)


# -----------------------------------------------------------------------------------------------
# arguments Keras has that the existing names lacked
# -----------------------------------------------------------------------------------------------

def test_variable_keras_arguments():
    v = em.Variable(np.ones(2, np.float32), aggregation="sum", synchronization="on_read", name="v", autocast=False)
    assert (v.aggregation, v.synchronization, v.autocast, v.name) == ("sum", "on_read", False, "v")
    with pytest.raises(InvalidArgumentError, match="aggregation"):
        em.Variable([1.0], aggregation="max")
    with pytest.raises(NotImplementedError, match="layout"):
        em.Variable([1.0], layout=object())
    with pytest.raises(InvalidArgumentError, match="bogus"):
        em.Variable([1.0], bogus=1)


def test_keras_tensor_and_device_arguments():
    t = em.KerasTensor((None, 3), name="t")
    assert t.shape == (None, 3) and t.name == "t" and not t.sparse
    for flag in ("sparse", "ragged"):
        with pytest.raises(NotImplementedError, match=flag):
            em.KerasTensor((2,), **{flag: True})
    with em.device("cpu:0"):
        assert em.get_default_device() == "cpu"
    with pytest.raises(InvalidArgumentError):
        with em.device("cpu:3"):
            pass


def test_pooling_name_and_required_pool_size():
    layer = em.layers.MaxPooling2D(name="pool")
    assert layer.name == "pool"
    with pytest.raises(InvalidArgumentError):
        em.layers.AveragePooling2D()  # pool_size is required, as in Keras
    assert em.layers.AveragePooling1D(3, name="a").name == "a"


def test_saving_arguments(tmp_path):
    model = _regression_model("sgd")
    with pytest.raises(NotImplementedError, match="max_shard_size"):
        em.saving.save_weights(model, str(tmp_path / "w.weights.h5"), max_shard_size=1)
    with pytest.raises(NotImplementedError, match="zipped"):
        em.saving.save_model(model, str(tmp_path / "m.keras"), zipped=False)
    em.saving.save_model(model, str(tmp_path / "m.keras"), zipped=True)
    assert (tmp_path / "m.keras").exists()
    with pytest.raises(InvalidArgumentError, match="by_name"):
        em.saving.load_weights(model, str(tmp_path / "m.keras"), by_name=True)
    with pytest.raises(TypeError):
        em.saving.CustomObjectScope()  # custom_objects is required, as in Keras
    assert em.saving.deserialize_keras_object("relu", module_objects={"relu": em.activations.relu}) \
        is em.activations.relu


def test_lookup_and_embedding_arguments():
    with pytest.raises(NotImplementedError, match="farmhash"):
        em.layers.IntegerLookup(oov_method="farmhash")
    with pytest.raises(NotImplementedError, match="salt"):
        em.layers.StringLookup(salt=3)
    layer = em.layers.IntegerLookup(vocabulary=[5, 9], num_oov_indices=2)
    assert layer(np.array([9, 4, 7])).numpy().tolist() == [3, 0, 1]  # floormod: 4 % 2, 7 % 2
    emb = em.layers.Embedding(4, 2, embeddings_constraint=em.constraints.NonNeg())
    model = em.Sequential([em.Input((3,), dtype="int32"), emb])
    model.compile(optimizer=em.optimizers.SGD(10.0), loss="mse")
    model.fit(np.array([[0, 1, 2]]), np.full((1, 3, 2), -5.0, np.float32), epochs=2, verbose=0)
    assert emb.embeddings.numpy().min() >= 0.0
    assert em.layers.Embedding.from_config(emb.get_config()).embeddings_constraint is not None
    for arg in ("lora_alpha", "quantization_config"):
        with pytest.raises(NotImplementedError, match=arg):
            em.layers.Embedding(4, 2, **{arg: 1})


def test_sparse_categorical_crossentropy_axis_and_timeseries_format():
    loss = em.losses.SparseCategoricalCrossentropy(axis=-1)
    assert loss.get_config()["axis"] == -1
    close(loss([1], [[0.2, 0.8]]), -math.log(0.8))
    with pytest.raises(InvalidArgumentError, match="axis"):
        em.losses.SparseCategoricalCrossentropy(axis=0)([[1]], [[[0.2, 0.8]]])
    with pytest.raises(NotImplementedError, match="grain"):
        em.utils.timeseries_dataset_from_array(np.arange(10), None, 3, format="grain")
    with pytest.raises(InvalidArgumentError, match="format"):
        em.utils.timeseries_dataset_from_array(np.arange(10), None, 3, format="numpy")


def test_alpha_dropout_matches_the_keras_formula(backend_name):
    rate, alpha_p = 0.3, -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    x = RNG.normal(size=(400, 16)).astype(np.float32)
    layer = em.layers.AlphaDropout(rate, seed=4)
    y = layer(em.tensor(x, device=backend_name), training=True).numpy().astype(np.float64)
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    kept = np.isclose(y, a * x + b, atol=1e-5)
    dropped = np.isclose(y, a * alpha_p + b, atol=1e-5)
    assert np.all(kept | dropped) and abs(dropped.mean() - rate) < 0.03
    # self-normalising: zero mean, unit variance inputs keep (about) those moments
    assert abs(y.mean() - x.mean()) < 0.05 and abs(y.std() - x.std()) < 0.05
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    assert em.layers.AlphaDropout.from_config(layer.get_config()).rate == rate
