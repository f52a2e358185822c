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
# Keras's own variables warn under numpy 2 when read (their __array__ lacks ``copy``).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


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


# -----------------------------------------------------------------------------------------------
# layers: aliases, Conv3DTranspose, attention, normalization, reshaping, encodings, pooling
# -----------------------------------------------------------------------------------------------

def test_layer_aliases_are_the_keras_classes():
    L = em.layers
    for alias, cls in (("Convolution1D", L.Conv1D), ("Convolution2D", L.Conv2D), ("Convolution3D", L.Conv3D),
                       ("Convolution1DTranspose", L.Conv1DTranspose), ("Convolution2DTranspose", L.Conv2DTranspose),
                       ("Convolution3DTranspose", L.Conv3DTranspose), ("SeparableConvolution1D", L.SeparableConv1D),
                       ("SeparableConvolution2D", L.SeparableConv2D), ("MaxPool1D", L.MaxPooling1D),
                       ("MaxPool2D", L.MaxPooling2D), ("MaxPool3D", L.MaxPooling3D), ("AvgPool1D", L.AveragePooling1D),
                       ("AvgPool2D", L.AveragePooling2D), ("AvgPool3D", L.AveragePooling3D),
                       ("GlobalAvgPool1D", L.GlobalAveragePooling1D), ("GlobalAvgPool2D", L.GlobalAveragePooling2D),
                       ("GlobalAvgPool3D", L.GlobalAveragePooling3D), ("GlobalMaxPool1D", L.GlobalMaxPooling1D),
                       ("GlobalMaxPool2D", L.GlobalMaxPooling2D), ("GlobalMaxPool3D", L.GlobalMaxPooling3D),
                       ("GroupQueryAttention", L.GroupQueryAttention)):
        assert getattr(L, alias) is cls


def _conv3d_transpose_reference(x, k, strides):
    """float64 scatter definition of the 'valid' transposed 3-D convolution: each input
    position adds kernel * value to the output window it maps to."""
    n, d, h, w, c = x.shape
    kd, kh, kw, f, _ = k.shape
    sd, sh, sw = strides
    out = np.zeros((n, (d - 1) * sd + max(kd, sd), (h - 1) * sh + max(kh, sh), (w - 1) * sw + max(kw, sw), f))
    for i in range(d):
        for j in range(h):
            for l in range(w):
                contrib = np.einsum("nc,xyzfc->nxyzf", x[:, i, j, l].astype(np.float64), k.astype(np.float64))
                out[:, i * sd:i * sd + kd, j * sh:j * sh + kh, l * sw:l * sw + kw] += contrib
    return out


def test_conv3d_transpose_against_the_scatter_definition_and_gradients(backend_name):
    x = RNG.normal(size=(2, 3, 2, 4, 3)).astype(np.float32)
    layer = em.layers.Conv3DTranspose(2, (2, 3, 2), strides=(2, 1, 3), use_bias=False)
    xt = em.tensor(x, device=backend_name)
    with em.device(backend_name), em.GradientTape() as tape:
        y = layer(xt)
        loss = em.ops.sum(y * y)
    k = layer.kernel.numpy()
    ref = _conv3d_transpose_reference(x, k, (2, 1, 3))
    close(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    # the kernel's gradient against central differences of the float64 reference
    g = tape.gradient(loss, layer.kernel).numpy()
    idx = (1, 2, 0, 1, 2)
    eps = 1e-3
    kp, km = k.astype(np.float64).copy(), k.astype(np.float64).copy()
    kp[idx] += eps
    km[idx] -= eps
    num = ((_conv3d_transpose_reference(x, kp, (2, 1, 3)) ** 2).sum()
           - (_conv3d_transpose_reference(x, km, (2, 1, 3)) ** 2).sum()) / (2 * eps)
    assert abs(g[idx] - num) <= 1e-3 * max(1.0, abs(num))


@pytest.mark.parametrize("kw", [dict(strides=1, padding="valid"), dict(strides=2, padding="same"),
                                dict(strides=(2, 1, 3), padding="valid", output_padding=(1, 0, 2)),
                                dict(strides=1, padding="same", dilation_rate=2),
                                dict(strides=2, padding="same", data_format="channels_first")])
def test_conv3d_transpose_matches_keras(kw):
    keras = _keras()
    x = RNG.normal(size=(2, 3, 4, 5, 3)).astype(np.float32)
    kl = keras.layers.Conv3DTranspose(4, (3, 2, 3), **kw)
    el = em.layers.Conv3DTranspose(4, (3, 2, 3), **kw)
    kl(x)
    el(x)
    el.set_weights([np.asarray(w) for w in kl.get_weights()])
    close(el(x).numpy(), np.asarray(kl(x)), rtol=1e-5, atol=1e-5)
    close(em.ops.conv_transpose(x, el.kernel, **{k: v for k, v in kw.items()}).numpy() + el.bias.numpy()
          if kw.get("data_format") != "channels_first" else el(x).numpy(), np.asarray(kl(x)), rtol=1e-5, atol=1e-5)


def _attention_reference(q, v, k, scale=1.0, v_mask=None, causal=False):
    scores = np.einsum("btd,bsd->bts", q.astype(np.float64), k.astype(np.float64)) * scale
    keep = np.ones_like(scores, bool)
    if v_mask is not None:
        keep &= v_mask[:, None, :].astype(bool)
    if causal:
        keep &= np.tril(np.ones(scores.shape[1:], bool))[None]
    scores = np.where(keep, scores, scores - 1e9)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bts,bsd->btd", w, v.astype(np.float64)), w


def test_attention_against_numpy(backend_name):
    q = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    v = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    k = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    layer = em.layers.Attention()
    t = lambda a: em.tensor(a, device=backend_name)
    out, w = layer([t(q), t(v), t(k)], mask=[None, t(vm)], return_attention_scores=True)
    ref, ref_w = _attention_reference(q, v, k, v_mask=vm)
    close(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    close(w.numpy(), ref_w, rtol=1e-5, atol=1e-6)
    out = layer([t(q), t(v)], use_causal_mask=True)
    close(out.numpy(), _attention_reference(q, v, v, causal=True)[0], rtol=1e-5, atol=1e-6)
    qm = np.array([[1, 0, 1], [1, 1, 1]], np.float32)
    out = layer([t(q), t(v)], mask=[t(qm), None])
    assert np.all(out.numpy()[0, 1] == 0)


def _mha_reference(q, v, weights, heads, key_dim):
    wq, bq, wk, bk, wv, bv, wo, bo = [np.asarray(w, np.float64) for w in weights]
    qh = np.einsum("btd,dnh->btnh", q, wq) + bq
    kh = np.einsum("bsd,dnh->bsnh", v, wk) + bk
    vh = np.einsum("bsd,dnh->bsnh", v, wv) + bv
    s = np.einsum("bsnh,btnh->bnts", kh, qh / math.sqrt(key_dim))
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = np.einsum("bnts,bsnh->btnh", w, vh)
    return np.einsum("btnh,nhd->btd", o, wo) + bo, w


def test_multi_head_attention_against_numpy_and_trains(backend_name):
    q = RNG.normal(size=(2, 3, 8)).astype(np.float32)
    v = RNG.normal(size=(2, 5, 8)).astype(np.float32)
    mha = em.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    with em.device(backend_name):
        out, scores = mha(em.tensor(q, device=backend_name), em.tensor(v, device=backend_name),
                          return_attention_scores=True)
    assert [w.shape for w in mha.get_weights()] == [(8, 2, 4), (2, 4), (8, 2, 4), (2, 4), (8, 2, 4), (2, 4),
                                                    (2, 4, 8), (8,)]
    ref, ref_s = _mha_reference(q.astype(np.float64), v.astype(np.float64), mha.get_weights(), 2, 4)
    close(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    close(scores.numpy(), ref_s, rtol=1e-5, atol=1e-6)
    # a transformer block in a functional model trains, saves and loads
    inp = em.Input((6, 8))
    x = em.layers.MultiHeadAttention(2, 4, dropout=0.1, seed=1)(inp, inp, use_causal_mask=True)
    x = em.layers.LayerNormalization()(em.layers.Add()([inp, x]))
    out = em.layers.Dense(1)(em.layers.GlobalAveragePooling1D()(x))
    model = em.Model(inp, out)
    model.compile("adam", "mse")
    xs = RNG.normal(size=(32, 6, 8)).astype(np.float32)
    ys = xs.mean(axis=(1, 2))[:, None]
    hist = model.fit(xs, ys, epochs=4, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert len(model.trainable_variables) == 12


@pytest.mark.parametrize("cls, kw", [
    ("Attention", {}), ("Attention", dict(use_scale=True, score_mode="concat")), ("AdditiveAttention", {}),
    ("MultiHeadAttention", dict(num_heads=2, key_dim=4)),
    ("MultiHeadAttention", dict(num_heads=3, key_dim=2, value_dim=5, output_shape=6)),
    ("MultiHeadAttention", dict(num_heads=2, key_dim=4, use_gate=True, use_bias=False)),
    ("GroupQueryAttention", dict(head_dim=4, num_query_heads=4, num_key_value_heads=2)),
    ("GroupQueryAttention", dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, use_gate=True,
                                 sliding_window=2)),
])
def test_attention_layers_match_keras(cls, kw):
    keras = _keras()
    q = RNG.normal(size=(2, 3, 8)).astype(np.float32)
    v = RNG.normal(size=(2, 5, 8)).astype(np.float32)
    am = RNG.random((2, 3, 5)) > 0.3
    kl, el = getattr(keras.layers, cls)(**kw), getattr(em.layers, cls)(**kw)
    if cls in ("Attention", "AdditiveAttention"):
        kl([q, v])
        el([q, v])
        weights = [np.asarray(w) * 1.3 for w in kl.get_weights()]
        kl.set_weights(weights)
        el.set_weights(weights)
        vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
        close(el([q, v], mask=[None, vm]).numpy(), np.asarray(kl([q, v], mask=[None, vm])), atol=1e-5)
        close(el([q, v], use_causal_mask=True).numpy(), np.asarray(kl([q, v], use_causal_mask=True)), atol=1e-5)
        return
    kl(q, v, return_attention_scores=True)  # (Keras's fused path fails for value_dim != key_dim)
    el(q, v)
    assert [w.shape for w in el.get_weights()] == [tuple(w.shape) for w in kl.get_weights()]
    el.set_weights([np.asarray(w) for w in kl.get_weights()])
    ko, ks = kl(q, v, attention_mask=am, use_causal_mask=True, return_attention_scores=True)
    eo, es = el(q, v, attention_mask=am, use_causal_mask=True, return_attention_scores=True)
    close(eo.numpy(), np.asarray(ko), atol=1e-5)
    close(es.numpy(), np.asarray(ks), atol=1e-6)


def test_multi_head_attention_keras_files_load_both_ways(tmp_path):
    keras = _keras()
    inp = keras.Input((6, 8))
    out = keras.layers.Dense(1)(keras.layers.MultiHeadAttention(2, 4)(inp, inp))
    km = keras.Model(inp, out)
    km.save(tmp_path / "k.keras")
    x = RNG.normal(size=(4, 6, 8)).astype(np.float32)
    em_model = em.saving.load_model(str(tmp_path / "k.keras"))
    close(em_model.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), atol=1e-5)
    em_model.save(str(tmp_path / "e.keras"))
    back = keras.saving.load_model(tmp_path / "e.keras")
    close(np.asarray(back.predict(x, verbose=0)), em_model.predict(x, verbose=0), atol=1e-5)


def test_einsum_dense_against_numpy():
    x = RNG.normal(size=(2, 3, 4, 8)).astype(np.float32)
    layer = em.layers.EinsumDense("...b,bc->...c", output_shape=6, bias_axes="c", activation="relu")
    y = layer(x).numpy()
    ref = np.maximum(np.einsum("...b,bc->...c", x.astype(np.float64), layer.kernel.numpy()) + layer.bias.numpy(), 0)
    close(y, ref, atol=1e-5)
    layer = em.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 5), bias_axes="de")
    assert layer(x[:, 0]).shape == (2, 4, 2, 5) and layer.kernel.shape == (8, 2, 5)
    cfg = json.loads(json.dumps(layer.get_config()))
    assert em.layers.EinsumDense.from_config(cfg).get_config() == cfg
    with pytest.raises(InvalidArgumentError, match="equation"):
        em.layers.EinsumDense("ab->c", 3)
    with pytest.raises(NotImplementedError, match="lora_rank"):
        em.layers.EinsumDense("ab,bc->ac", 3, lora_rank=2)


def test_normalization_layers_against_numpy(backend_name):
    x = RNG.normal(size=(2, 5, 6, 8)).astype(np.float32)
    x64 = x.astype(np.float64)
    t = em.tensor(x, device=backend_name)
    em.set_default_device(backend_name)  # the layers' weights live there
    try:
        _check_normalization_layers(x, x64, t)
    finally:
        em.set_default_device("cpu")


def _check_normalization_layers(x, x64, t):
    # GroupNormalization: 4 groups of 2 channels, moments over (5, 6, 2)
    g = x64.reshape(2, 5, 6, 4, 2)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    close(em.layers.GroupNormalization(4)(t).numpy(), ((g - mean) / np.sqrt(var + 1e-3)).reshape(x.shape), atol=1e-5)
    ms = (x64 ** 2).mean(axis=-1, keepdims=True)
    close(em.layers.RMSNormalization()(t).numpy(), x64 / np.sqrt(ms + 1e-6), atol=1e-5)
    nrm = np.sqrt((x64 ** 2).sum(axis=(1, 2), keepdims=True))
    close(em.layers.UnitNormalization(axis=[1, 2])(t).numpy(), x64 / nrm, atol=1e-6)
    with pytest.raises(ShapeError, match="groups"):
        em.layers.GroupNormalization(3)(t)


def test_spectral_normalization_normalizes_the_largest_singular_value():
    dense = em.layers.Dense(4)
    sn = em.layers.SpectralNormalization(dense, power_iterations=30)
    x = RNG.normal(size=(3, 5)).astype(np.float32)
    sn(x, training=True)
    assert abs(np.linalg.svd(dense.kernel.numpy(), compute_uv=False)[0] - 1.0) < 1e-3
    before = dense.kernel.numpy().copy()
    sn(x, training=False)
    np.testing.assert_array_equal(dense.kernel.numpy(), before)
    cfg = json.loads(json.dumps(em.layers.serialize(sn)))
    clone = em.layers.deserialize(cfg)
    assert type(clone) is em.layers.SpectralNormalization and clone.power_iterations == 30
    assert isinstance(clone.layer, em.layers.Dense)
    with pytest.raises(InvalidArgumentError, match="kernel"):
        em.layers.SpectralNormalization(em.layers.ReLU())(x)


def test_normalization_and_spectral_layers_match_keras():
    keras = _keras()
    x = RNG.normal(size=(2, 5, 6, 8)).astype(np.float32)
    for cls, kw in (("GroupNormalization", dict(groups=4)), ("GroupNormalization", dict(groups=5, axis=1)),
                    ("GroupNormalization", dict(groups=-1)), ("RMSNormalization", {}),
                    ("RMSNormalization", dict(axis=[2, 3])), ("UnitNormalization", dict(axis=[1, 2]))):
        kl, el = getattr(keras.layers, cls)(**kw), getattr(em.layers, cls)(**kw)
        kl(x)
        el(x)
        weights = [np.asarray(w) + RNG.normal(size=np.shape(w)).astype(np.float32) * 0.1 for w in kl.get_weights()]
        kl.set_weights(weights)
        el.set_weights(weights)
        close(el(x).numpy(), np.asarray(kl(x)), atol=1e-5)
    kd, ed = keras.layers.Dense(4), em.layers.Dense(4)
    ks = keras.layers.SpectralNormalization(kd, power_iterations=3)
    es = em.layers.SpectralNormalization(ed, power_iterations=3)
    xs = x[0, 0, :3, :5]
    ks(xs)
    es(xs)
    es.layer.set_weights([np.asarray(w) for w in ks.layer.get_weights()])
    es.vector_u.assign(np.asarray(ks.vector_u))
    close(es(xs, training=True).numpy(), np.asarray(ks(xs, training=True)), atol=1e-5)
    close(es.layer.kernel.numpy(), np.asarray(ks.layer.kernel), atol=1e-6)


def test_permute_upsampling3d_and_encodings_against_numpy():
    x = RNG.normal(size=(2, 5, 6, 8)).astype(np.float32)
    np.testing.assert_array_equal(em.layers.Permute((3, 1, 2))(x).numpy(), x.transpose(0, 3, 1, 2))
    x5 = RNG.normal(size=(1, 2, 3, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(em.layers.UpSampling3D((2, 1, 3))(x5).numpy(),
                                  x5.repeat(2, 1).repeat(1, 2).repeat(3, 3))
    ids = np.array([[0, 1, 3], [2, 2, 0]])
    eye = np.eye(4)
    np.testing.assert_array_equal(em.layers.CategoryEncoding(4, "one_hot")(np.array([3, 1, 0])).numpy(),
                                  eye[[3, 1, 0]])
    np.testing.assert_array_equal(em.layers.CategoryEncoding(4, "multi_hot")(ids).numpy(), eye[ids].max(axis=1))
    np.testing.assert_array_equal(em.layers.CategoryEncoding(4, "count")(ids).numpy(), eye[ids].sum(axis=1))
    w = np.array([[0.5, 1, 2], [1, 1, 3]], np.float32)
    close(em.layers.CategoryEncoding(4, "count")(ids, count_weights=w).numpy(), (eye[ids] * w[..., None]).sum(axis=1))
    xx = RNG.normal(size=(4, 3)).astype(np.float32)
    bounds = [-0.5, 0.0, 0.7]
    np.testing.assert_array_equal(em.layers.Discretization(bin_boundaries=bounds)(xx).numpy(),
                                  np.digitize(xx, bounds))
    d = RNG.normal(size=(4000,)).astype(np.float32)
    layer = em.layers.Discretization(num_bins=4, epsilon=0.01)
    layer.adapt(d)
    close(layer.bin_boundaries, np.quantile(d, [0.25, 0.5, 0.75]), atol=0.05)
    with pytest.raises(InvalidArgumentError, match="count_weights"):
        em.layers.CategoryEncoding(4, "multi_hot")(ids, count_weights=w)


def test_preprocessing_and_reshaping_layers_match_keras():
    keras = _keras()
    x5 = RNG.normal(size=(1, 2, 3, 4, 2)).astype(np.float32)
    close(em.layers.UpSampling3D(2, data_format="channels_first")(x5).numpy(),
          np.asarray(keras.layers.UpSampling3D(2, data_format="channels_first")(x5)))
    ids = np.array([[0, 1, 3], [2, 2, 0]])
    for mode, data in (("one_hot", np.array([3, 1, 0])), ("multi_hot", ids), ("count", ids),
                       ("multi_hot", np.array([3, 1]))):
        close(em.layers.CategoryEncoding(4, mode)(data).numpy(), np.asarray(keras.layers.CategoryEncoding(4, mode)(data)))
    d = RNG.normal(size=(1000,)).astype(np.float32)
    kd = keras.layers.Discretization(num_bins=5, epsilon=0.01)
    kd.reset_state()
    kd.update_state(d[:600])
    kd.update_state(d[600:])
    kd.finalize_state()
    ed = em.layers.Discretization(num_bins=5, epsilon=0.01)
    ed.adapt([d[:600], d[600:]])
    close(ed.bin_boundaries, kd.bin_boundaries, atol=1e-6)
    xx = RNG.normal(size=(4, 3)).astype(np.float32)
    for mode in ("int", "multi_hot", "count"):
        kl = keras.layers.Discretization(bin_boundaries=[-0.5, 0, 0.7], output_mode=mode)
        el = em.layers.Discretization(bin_boundaries=[-0.5, 0, 0.7], output_mode=mode)
        close(el(xx).numpy(), np.asarray(kl(xx)))


def _adaptive_reference(x, out, mode):
    """PyTorch/Keras adaptive windows over every spatial axis of channels_last x."""
    y = x.astype(np.float64)
    for axis, n in enumerate(out, start=1):
        size = y.shape[axis]
        parts = []
        for i in range(n):
            s, e = (i * size) // n, -((-(i + 1) * size) // n)
            window = np.take(y, np.arange(s, e), axis=axis)
            parts.append(window.mean(axis=axis) if mode == "average" else window.max(axis=axis))
        y = np.stack(parts, axis=axis)
    return y


@pytest.mark.parametrize("rank, out", [(1, (3,)), (2, (3, 4)), (2, (9, 2)), (3, (2, 3, 2))])
def test_adaptive_pooling_against_numpy(rank, out, backend_name):
    shape = {1: (2, 7, 3), 2: (2, 7, 5, 3), 3: (1, 5, 7, 4, 2)}[rank]
    x = RNG.normal(size=shape).astype(np.float32)
    for mode in ("average", "max"):
        cls = getattr(em.layers, f"Adaptive{'Average' if mode == 'average' else 'Max'}Pooling{rank}D")
        got = cls(out)(em.tensor(x, device=backend_name)).numpy()
        close(got, _adaptive_reference(x, out, mode), atol=1e-6)
        fn = em.ops.adaptive_average_pool if mode == "average" else em.ops.adaptive_max_pool
        cf = np.moveaxis(x, -1, 1)
        close(fn(cf, out, data_format="channels_first").numpy(), np.moveaxis(_adaptive_reference(x, out, mode), -1, 1),
              atol=1e-6)


def test_adaptive_pooling_matches_keras():
    keras = _keras()
    x = RNG.normal(size=(2, 7, 5, 3)).astype(np.float32)
    for name in ("AdaptiveAveragePooling2D", "AdaptiveMaxPooling2D"):
        close(getattr(em.layers, name)((3, 4))(x).numpy(), np.asarray(getattr(keras.layers, name)((3, 4))(x)),
              atol=1e-6)


def test_wrapper_base_and_layer_serialize():
    class Doubled(em.layers.Wrapper):
        def call(self, x):
            return self.layer(x) * 2.0

    w = Doubled(em.layers.Dense(3))
    y = w(np.ones((2, 4), np.float32))
    close(y.numpy(), 2.0 * w.layer(np.ones((2, 4), np.float32)).numpy())
    cfg = em.layers.serialize(em.layers.Dense(3, name="d"))
    assert cfg["class_name"] == "Dense" and em.layers.deserialize(cfg).name == "d"
    with pytest.raises(InvalidArgumentError):
        em.layers.Wrapper("dense")
    with pytest.raises(InvalidArgumentError):
        em.layers.serialize("dense")


# -----------------------------------------------------------------------------------------------
# losses (float64 references and gradients: tests/test_losses.py CASES)
# -----------------------------------------------------------------------------------------------

def test_new_losses_match_keras():
    keras = _keras()
    yt = (RNG.random((6, 4)) > 0.5).astype(np.float32)
    yp = (RNG.random((6, 4)) * 0.98 + 0.01).astype(np.float32)
    lg = RNG.normal(size=(6, 4)).astype(np.float32)
    oh = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 6)]
    sm = np.exp(lg) / np.exp(lg).sum(-1, keepdims=True)
    lab = RNG.integers(0, 4, 6)
    emb = RNG.normal(size=(8, 5)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    l8 = np.array([0, 1, 0, 2, 1, 0, 2, 2])
    cases = [
        ("binary_focal_crossentropy", "BinaryFocalCrossentropy", yt, yp, dict(apply_class_balancing=True, alpha=0.3)),
        ("binary_focal_crossentropy", "BinaryFocalCrossentropy", yt, lg, dict(from_logits=True, label_smoothing=0.1)),
        ("categorical_focal_crossentropy", "CategoricalFocalCrossentropy", oh, sm, dict(gamma=1.0)),
        ("categorical_focal_crossentropy", "CategoricalFocalCrossentropy", oh, lg, dict(from_logits=True)),
        ("dice", "Dice", yt, yp, dict(axis=-1)), ("tversky", "Tversky", yt, yp, dict(alpha=0.7, beta=0.3)),
        ("circle", "Circle", l8, emb, dict(gamma=80.0, margin=0.25)),
    ]
    for fn, cls, t, p, kw in cases:
        close(getattr(em.losses, fn)(t, p, **kw).numpy(), np.asarray(getattr(keras.losses, fn)(t, p, **kw)),
              rtol=1e-5, atol=1e-5)
        close(getattr(em.losses, cls)(**kw)(t, p).numpy(), np.asarray(getattr(keras.losses, cls)(**kw)(t, p)),
              rtol=1e-5, atol=1e-5)
    close(em.losses.CategoricalGeneralizedCrossEntropy(0.3)(lab, sm).numpy(),
          np.asarray(keras.losses.CategoricalGeneralizedCrossEntropy(0.3)(lab, sm)), atol=1e-6)
    close(em.metrics.categorical_focal_crossentropy(oh, sm).numpy(),
          np.asarray(keras.metrics.categorical_focal_crossentropy(oh, sm)), atol=1e-6)


def test_new_losses_by_name_config_and_errors():
    for name in ("dice", "tversky", "circle", "binary_focal_crossentropy", "categorical_focal_crossentropy",
                 "categorical_generalized_cross_entropy"):
        loss = em.losses.get(name)
        cfg = json.loads(json.dumps(em.losses.serialize(loss)))
        assert type(em.losses.deserialize(cfg)) is type(loss)
    assert em.metrics.binary_focal_crossentropy is em.losses.binary_focal_crossentropy
    with pytest.raises(InvalidArgumentError, match="q"):
        em.losses.CategoricalGeneralizedCrossEntropy(q=1.5)
    with pytest.raises(InvalidArgumentError, match="alpha"):
        em.losses.BinaryFocalCrossentropy(alpha=2.0)
    with pytest.raises(ShapeError):
        em.losses.circle([0, 1], np.ones((3, 2), np.float32))
    # a model trains with the focal loss
    x = RNG.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = em.Sequential([em.Input((4,)), em.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=em.optimizers.Adam(0.05), loss=em.losses.BinaryFocalCrossentropy())
    hist = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


# -----------------------------------------------------------------------------------------------
# optimizers composed of ops: Lion, Lamb, Ftrl, Adafactor, ScheduleFreeAdamW, Muon, MultiOptimizer
# -----------------------------------------------------------------------------------------------

def _ref_lion(w, gs, lr, b1=0.9, b2=0.99):
    m = np.zeros_like(w)
    for g in gs:
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    return w


def _ref_lamb(w, gs, lr, b1=0.9, b2=0.999, eps=1e-7):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        u = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        wn, gn = np.linalg.norm(w), np.linalg.norm(u)
        ratio = wn / gn if wn > 0 and gn > 0 else 1.0
        w = w - ratio * lr * u
    return w


def _ref_ftrl(w, gs, lr, power=-0.5, init=0.1, l1=0.0, l2=0.0, l2s=0.0, beta=0.0):
    n, z = np.full_like(w, init), np.zeros_like(w)
    l2 = l2 + beta / (2 * lr)
    for g in gs:
        n_new = n + g * g
        z = z + g + 2 * l2s * w - (n_new ** -power - n ** -power) / lr * w
        w = (np.clip(z, -l1, l1) - z) / (n_new ** -power / lr + 2 * l2)
        n = n_new
    return w


def _ref_adafactor(w, gs, lr, decay=-0.8, e1=1e-30, e2=1e-3, clip=1.0, relative=True):
    rms = lambda x: np.sqrt(np.mean(x * x))
    r = np.zeros(w.shape[:-1]) if w.ndim >= 2 else None
    c = np.zeros(w.shape[:-2] + (w.shape[-1],)) if w.ndim >= 2 else None
    v = np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        step_lr = min(lr, 1 / np.sqrt(t)) if relative else lr
        rho = min(step_lr, 1 / np.sqrt(t))
        alpha = max(e2, rms(w)) * rho
        g2 = g * g + e1
        b = 1 - t ** decay
        if w.ndim >= 2:
            r = b * r + (1 - b) * g2.mean(axis=-1)
            c = b * c + (1 - b) * g2.mean(axis=-2)
            v = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = b * v + (1 - b) * g2
        u = g / np.sqrt(v)
        u = u / max(1.0, rms(u) / clip)
        w = w - alpha * u
    return w


def _ref_schedule_free(w, gs, lr, b1=0.9, b2=0.999, eps=1e-8):
    z, v = w.copy(), np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        v = v + (g * g - v) * (1 - b2)
        z_new = z - lr * g / (np.sqrt(v / (1 - b2 ** t)) + eps)
        x = (w - (1 - b1) * z) / b1
        x = (1 - 1 / t) * x + z_new / t
        w = (1 - b1) * z_new + b1 * x
        z = z_new
    return w


def _ref_muon(w, gs, lr, mom=0.95, steps=5, rms_rate=0.2, wd=0.004, a=3.4445, b=-4.775, c=2.0315):
    m = np.zeros_like(w)
    for g in gs:
        w = w - w * wd * lr
        m = m + g + m * (mom - 1)
        x = g + mom * m
        tall = x.shape[0] > x.shape[1]
        x = x.T if tall else x
        x = x / (np.linalg.norm(x) + 1e-7)
        for _ in range(steps):
            A = x @ x.T
            x = a * x + (b * A + c * A @ A) @ x
        x = x.T if tall else x
        w = w - lr * x * np.sqrt(max(w.shape)) * rms_rate
    return w


@pytest.mark.parametrize("cls, kw, ref, shape", [
    ("Lion", dict(learning_rate=0.01), lambda w, gs: _ref_lion(w, gs, 0.01), (3, 4)),
    ("Lamb", dict(learning_rate=0.01), lambda w, gs: _ref_lamb(w, gs, 0.01), (3, 4)),
    ("Ftrl", dict(learning_rate=0.1, learning_rate_power=-0.3, l1_regularization_strength=0.05,
                  l2_regularization_strength=0.1, l2_shrinkage_regularization_strength=0.02, beta=0.5),
     lambda w, gs: _ref_ftrl(w, gs, 0.1, -0.3, 0.1, 0.05, 0.1, 0.02, 0.5), (3, 4)),
    ("Adafactor", dict(learning_rate=0.1), lambda w, gs: _ref_adafactor(w, gs, 0.1), (3, 4)),
    ("Adafactor", dict(learning_rate=0.1), lambda w, gs: _ref_adafactor(w, gs, 0.1), (5,)),
    ("Adafactor", dict(learning_rate=0.01, relative_step=False, clip_threshold=0.5),
     lambda w, gs: _ref_adafactor(w, gs, 0.01, clip=0.5, relative=False), (2, 3, 4)),
    ("ScheduleFreeAdamW", dict(learning_rate=0.01), lambda w, gs: _ref_schedule_free(w, gs, 0.01), (3, 4)),
    ("Muon", dict(learning_rate=0.01), lambda w, gs: _ref_muon(w, gs, 0.01), (4, 3)),
])
def test_composed_optimizers_against_float64_references(cls, kw, ref, shape, backend_name):
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=shape).astype(np.float32)
    gs = [rng.normal(size=shape).astype(np.float32) for _ in range(6)]
    v = em.Variable(w0.copy(), name="dense/kernel", device=backend_name)
    opt = getattr(em.optimizers, cls)(**kw)
    for g in gs:
        opt.apply([em.tensor(g, device=backend_name)], [v])
    close(v.numpy(), ref(w0.astype(np.float64), [g.astype(np.float64) for g in gs]), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("cls, kw", [
    ("Lion", dict(learning_rate=0.01, beta_1=0.5, beta_2=0.9, weight_decay=0.1)),
    ("Lamb", dict(learning_rate=0.01, weight_decay=0.05, clipnorm=1.0)),
    ("Ftrl", dict(learning_rate=0.1, initial_accumulator_value=0.3)),
    ("Adafactor", dict(learning_rate=0.01, beta_2_decay=-0.5)),
    ("ScheduleFreeAdamW", dict(learning_rate=0.01, warmup_steps=3, weight_decay=0.1)),
    ("Muon", dict(learning_rate=0.01, nesterov=False, rms_rate=None, ns_steps=3, weight_decay=0.1,
                  adam_weight_decay=0.2)),
])
@pytest.mark.parametrize("shape", [(3,), (3, 5), (4, 3)])
def test_composed_optimizers_match_keras(cls, kw, shape):
    keras = _keras()
    rng = np.random.default_rng(6)
    w0 = rng.normal(size=shape).astype(np.float32)
    gs = [rng.normal(size=shape).astype(np.float32) for _ in range(6)]
    kv, ko = keras.Variable(w0.copy(), name="kernel"), getattr(keras.optimizers, cls)(**kw)
    ev, eo = em.Variable(w0.copy(), name="kernel"), getattr(em.optimizers, cls)(**kw)
    for g in gs:
        ko.apply([keras.ops.convert_to_tensor(g)], [kv])
        eo.apply([em.tensor(g)], [ev])
    close(ev.numpy(), np.asarray(kv), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["lion", "lamb", "ftrl", "adafactor", "schedulefreeadamw", "muon"])
def test_composed_optimizers_train_save_and_resume(name, tmp_path):
    x = RNG.normal(size=(64, 4)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32)
    lr = {"lion": 0.01, "ftrl": 0.5, "adafactor": 0.05, "schedulefreeadamw": 0.05, "muon": 0.05}.get(name, 0.05)
    model = _regression_model(em.optimizers.get({"class_name": name, "config": {"learning_rate": lr}}))
    hist = model.fit(x, y, batch_size=16, epochs=6, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    model.save(str(tmp_path / "m.keras"))
    again = em.saving.load_model(str(tmp_path / "m.keras"))
    assert type(again.optimizer) is type(model.optimizer) and again.optimizer.iterations == model.optimizer.iterations
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    again.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for p, q in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_composed_optimizer_arguments():
    with pytest.raises(InvalidArgumentError, match="beta_1"):
        em.optimizers.Lion(beta_1=0.0)
    with pytest.raises(InvalidArgumentError, match="learning_rate_power"):
        em.optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(InvalidArgumentError, match="l1_regularization_strength"):
        em.optimizers.Ftrl(l1_regularization_strength=-1.0)
    with pytest.raises(InvalidArgumentError, match="warmup_steps"):
        em.optimizers.ScheduleFreeAdamW(warmup_steps=-1)
    with pytest.raises(InvalidArgumentError, match="exclude_layers"):
        em.optimizers.Muon(exclude_layers="dense")
    opt = em.optimizers.Muon(exclude_layers=["^out/"])
    assert opt._should_use_adamw(em.Variable(np.ones((2, 2), np.float32), name="out/kernel"))
    assert not opt._should_use_adamw(em.Variable(np.ones((2, 2), np.float32), name="hidden/kernel"))
    assert opt._should_use_adamw(em.Variable(np.ones((2, 2), np.float32), name="embedding/embeddings"))


def test_multi_optimizer_routes_variables_and_matches_keras(tmp_path):
    keras = _keras()
    x = RNG.normal(size=(32, 4)).astype(np.float32)
    y = x[:, :1] * 2
    em.utils.set_random_seed(1)
    opt = em.optimizers.MultiOptimizer(em.optimizers.OptimizerMap(em.optimizers.SGD(0.05),
                                                                  {".*enc/.*": em.optimizers.Adam(0.01)}))
    model = em.Sequential([em.Input((4,)), em.layers.Dense(3, name="enc"), em.layers.Dense(1, name="dec")])
    model.compile(optimizer=opt, loss="mse")
    ks = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="enc"), keras.layers.Dense(1, name="dec")])
    ks.compile(optimizer=keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(0.05), {".*enc/.*": keras.optimizers.Adam(0.01)})), loss="mse")
    ks.set_weights(model.get_weights())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ks.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), ks.get_weights()):
        close(a, np.asarray(b), atol=2e-6)
    assert [(o.name, o.iterations) for o in opt.optimizers] == [("adam", 8), ("SGD", 8)] and opt.iterations == 8
    assert getattr(opt, "learning_rate", None) is None
    model.save(str(tmp_path / "m.keras"))
    again = em.saving.load_model(str(tmp_path / "m.keras"))
    assert type(again.optimizer) is em.optimizers.MultiOptimizer
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    again.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a callable map, and the map's errors
    sgd_a, sgd_b = em.optimizers.SGD(0.1), em.optimizers.SGD(1.0)
    multi = em.optimizers.MultiOptimizer(lambda v: sgd_a if "a" in v.path else sgd_b)
    va, vb = em.Variable([1.0], name="a/w"), em.Variable([1.0], name="b/w")
    multi.apply([em.tensor([1.0]), em.tensor([1.0])], [va, vb])
    close(va.numpy(), [0.9])
    close(vb.numpy(), [0.0])
    m = em.optimizers.OptimizerMap(em.optimizers.SGD(), {".*kernel.*": em.optimizers.Adam(),
                                                        ".*dense.*": em.optimizers.Adam()})
    with pytest.raises(InvalidArgumentError, match="multiple"):
        m["dense/kernel"]
    with pytest.raises(InvalidArgumentError, match="already exists"):
        m[".*kernel.*"] = em.optimizers.SGD()
    with pytest.raises(InvalidArgumentError):
        em.optimizers.OptimizerMap("sgd")


# -----------------------------------------------------------------------------------------------
# ops.linalg (host LAPACK through numpy, with gradients)
# -----------------------------------------------------------------------------------------------

def _spd(rng, n, batch=()):
    a = rng.normal(size=batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(np.float32)


def _fd_grad(f, x, eps=1e-3):
    """Central differences of the scalar float64 function f at x (float64)."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f(x)
        flat[i] = old - eps
        lo = f(x)
        flat[i] = old
        gf[i] = (hi - lo) / (2 * eps)
    return g


def _em_grad(fn, x, backend_name, weights):
    """d sum(weights * fn(x)) / dx through ember's autograd."""
    xt = em.tensor(x, device=backend_name, requires_grad=True)
    out = fn(xt)
    loss = em.ops.sum(em.ops.multiply(out, em.tensor(weights, device=backend_name)))
    loss.backward()
    return xt.grad.numpy()


def test_linalg_forward_against_numpy(backend_name):
    rng = np.random.default_rng(21)
    L = em.ops.linalg
    a = rng.normal(size=(2, 3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
    b = rng.normal(size=(2, 3, 2)).astype(np.float32)
    s = _spd(rng, 3, (2,))
    t = lambda x: em.tensor(x, device=backend_name)
    close(L.inv(t(a)).numpy(), np.linalg.inv(a.astype(np.float64)), atol=1e-5)
    close(L.det(t(a)).numpy(), np.linalg.det(a.astype(np.float64)), rtol=1e-5)
    sign, logabs = L.slogdet(t(a))
    ref_sign, ref_log = np.linalg.slogdet(a.astype(np.float64))
    close(sign.numpy(), ref_sign)
    close(logabs.numpy(), ref_log, atol=1e-5)
    close(em.ops.logdet(t(s)).numpy(), np.linalg.slogdet(s.astype(np.float64))[1], atol=1e-5)
    close(L.solve(t(a), t(b)).numpy(), np.linalg.solve(a.astype(np.float64), b), atol=1e-5)
    close(L.solve(t(a[0]), t(b[0, :, 0])).numpy(), np.linalg.solve(a[0].astype(np.float64), b[0, :, 0]), atol=1e-5)
    low = np.tril(a)
    close(L.solve_triangular(t(a), t(b), lower=True).numpy(), np.linalg.solve(low.astype(np.float64), b), atol=1e-5)
    chol = L.cholesky(t(s)).numpy()
    close(chol, np.linalg.cholesky(s.astype(np.float64)), atol=1e-5)
    close(L.cholesky(t(s), upper=True).numpy(), np.swapaxes(chol, -1, -2), atol=1e-5)
    close(L.cholesky_inverse(t(chol)).numpy(), np.linalg.inv(s.astype(np.float64)), atol=1e-5)
    w, v = L.eigh(t(s))
    close(w.numpy(), np.linalg.eigvalsh(s.astype(np.float64)), rtol=1e-5, atol=1e-5)
    vv = v.numpy()
    close(vv @ (w.numpy()[..., None] * np.swapaxes(vv, -1, -2)), s, atol=1e-4)
    m = rng.normal(size=(4, 3)).astype(np.float32)
    u, sv, vh = L.svd(t(m))
    assert u.shape == (4, 4) and vh.shape == (3, 3)
    close(sv.numpy(), np.linalg.svd(m.astype(np.float64), compute_uv=False), atol=1e-5)
    u, sv, vh = L.svd(t(m), full_matrices=False)
    close(u.numpy() @ np.diag(sv.numpy()) @ vh.numpy(), m, atol=1e-5)
    q, r = L.qr(t(m))
    close(q.numpy() @ r.numpy(), m, atol=1e-5)
    assert L.qr(t(m), mode="complete")[0].shape == (4, 4)
    close(L.pinv(t(m)).numpy(), np.linalg.pinv(m.astype(np.float64)), atol=1e-5)
    close(L.lstsq(t(m), t(m[:, 0])).numpy(), np.linalg.lstsq(m.astype(np.float64), m[:, 0], rcond=None)[0],
          atol=1e-5)
    assert int(L.matrix_rank(t(np.outer([1.0, 2.0], [3.0, 4.0, 5.0]).astype(np.float32)))) == 1
    lu, piv = L.lu_factor(t(a))
    for k in range(2):  # P A = L U, rebuilt from the packed factors and the row swaps
        lu_k = lu.numpy()[k].astype(np.float64)
        perm = np.arange(3)
        for i, p in enumerate(piv.numpy()[k]):
            perm[[i, p]] = perm[[p, i]]
        close((np.tril(lu_k, -1) + np.eye(3)) @ np.triu(lu_k), a[k][perm], atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="positive definite"):
        L.cholesky(t(-np.eye(2, dtype=np.float32)))
    with pytest.raises(ShapeError):
        L.inv(t(m))


@pytest.mark.parametrize("name", ["inv", "det", "logdet", "cholesky", "cholesky_upper", "cholesky_inverse",
                                  "eigh_w", "eigh_v", "svd_s", "pinv", "solve_a", "solve_b", "solve_triangular"])
def test_linalg_gradients_against_finite_differences(name, backend_name):
    rng = np.random.default_rng(22)
    spd = _spd(rng, 3).astype(np.float64)
    gen = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    b = rng.normal(size=(3, 2))
    L = em.ops.linalg
    sym = lambda a: 0.5 * (a + a.T)
    cases = {
        "inv": (gen, lambda x: L.inv(x), lambda a: np.linalg.inv(a)),
        "det": (gen, lambda x: L.det(x), lambda a: np.linalg.det(a)),
        "logdet": (spd, lambda x: em.ops.logdet(x), lambda a: np.linalg.slogdet(a)[1]),
        "cholesky": (spd, lambda x: L.cholesky(x), lambda a: np.linalg.cholesky(sym(a))),
        "cholesky_upper": (spd, lambda x: L.cholesky(x, upper=True), lambda a: np.linalg.cholesky(sym(a)).T),
        "cholesky_inverse": (np.linalg.cholesky(spd), lambda x: L.cholesky_inverse(x),
                             lambda f: np.linalg.inv(np.tril(f) @ np.tril(f).T)),
        "eigh_w": (spd, lambda x: L.eigh(x)[0], lambda a: np.linalg.eigh(sym(a))[0]),
        "eigh_v": (spd, lambda x: em.ops.abs(L.eigh(x)[1]), lambda a: np.abs(np.linalg.eigh(sym(a))[1])),
        "svd_s": (gen[:, :2], lambda x: L.svd(x, compute_uv=False), lambda a: np.linalg.svd(a, compute_uv=False)),
        "pinv": (gen[:, :2], lambda x: L.pinv(x), lambda a: np.linalg.pinv(a)),
        "solve_a": (gen, lambda x: L.solve(x, em.tensor(b.astype(np.float32), device=x.device)),
                    lambda a: np.linalg.solve(a, b)),
        "solve_b": (b, lambda x: L.solve(em.tensor(gen.astype(np.float32), device=x.device), x),
                    lambda bb: np.linalg.solve(gen, bb)),
        "solve_triangular": (gen, lambda x: L.solve_triangular(x, em.tensor(b.astype(np.float32), device=x.device),
                                                               lower=True),
                             lambda a: np.linalg.solve(np.tril(a), b)),
    }
    x, fn, ref = cases[name]
    weights = rng.normal(size=np.shape(ref(x))).astype(np.float32)
    got = _em_grad(fn, x.astype(np.float32), backend_name, weights)
    want = _fd_grad(lambda z: float(np.sum(weights * ref(z))), x)
    close(got, want, rtol=2e-3, atol=2e-3)


def test_linalg_undifferentiable_outputs_say_so():
    m = em.tensor(RNG.normal(size=(3, 3)).astype(np.float32), requires_grad=True)
    q, _ = em.ops.linalg.qr(m)
    with pytest.raises(NotImplementedError, match="qr"):
        em.ops.sum(q).backward()


def test_linalg_matches_keras():
    keras = _keras()
    rng = np.random.default_rng(23)
    a = rng.normal(size=(3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
    s = _spd(rng, 3)
    m = rng.normal(size=(4, 3)).astype(np.float32)
    K, E = keras.ops, em.ops
    for name, args in (("inv", (a,)), ("det", (a,)), ("cholesky", (s,)), ("pinv", (m,)), ("solve", (a, m[:3])),
                       ("logdet", (s,)), ("matrix_rank", (m,))):
        close(getattr(E, name)(*args).numpy(), np.asarray(getattr(K, name)(*args)), rtol=1e-4, atol=1e-5)
    close(E.solve_triangular(a, m[:3], lower=True).numpy(), np.asarray(K.solve_triangular(a, m[:3], lower=True)),
          atol=1e-5)
    close(E.cholesky_inverse(np.linalg.cholesky(s)).numpy(), np.asarray(K.cholesky_inverse(np.linalg.cholesky(s))),
          atol=1e-5)
    close(E.svd(m, compute_uv=False).numpy(), np.asarray(K.svd(m, compute_uv=False)), atol=1e-5)
    close(E.eigh(s)[0].numpy(), np.asarray(K.eigh(s)[0]), atol=1e-5)
    lu_e, piv_e = E.lu_factor(a)
    lu_k, piv_k = K.lu_factor(a)
    close(lu_e.numpy(), np.asarray(lu_k), atol=1e-5)
    assert piv_e.numpy().tolist() == np.asarray(piv_k).tolist()
    close(E.lstsq(m, m[:, :2]).numpy(), np.asarray(K.lstsq(m, m[:, :2])), atol=1e-5)


# -----------------------------------------------------------------------------------------------
# regularizers, utils.Progbar, models.clone_model
# -----------------------------------------------------------------------------------------------

def _orthogonal_reference(x, factor, mode):
    x = x.astype(np.float64)
    axis = 1 if mode == "rows" else 0
    x = x / np.sqrt(np.maximum((x ** 2).sum(axis=axis, keepdims=True), 1e-7))
    p = x @ x.T if mode == "rows" else x.T @ x
    n = p.shape[0]
    return factor * 0.5 * np.abs(p * (1 - np.eye(n))).sum() / (n * (n - 1) / 2)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])
@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer(shape, mode, backend_name):
    x = RNG.normal(size=shape).astype(np.float32)
    reg = em.regularizers.OrthogonalRegularizer(0.3, mode)
    close(reg(em.tensor(x, device=backend_name)).numpy(), _orthogonal_reference(x, 0.3, mode), atol=1e-6)
    assert em.regularizers.orthogonal_regularizer is em.regularizers.OrthogonalRegularizer
    cfg = json.loads(json.dumps(em.regularizers.serialize(reg)))
    assert em.regularizers.deserialize(cfg).get_config() == {"factor": 0.3, "mode": mode}
    layer = em.layers.Dense(3, kernel_regularizer=reg)
    layer(np.ones((2, 4), np.float32))
    assert len(layer.losses) == 1
    with pytest.raises(InvalidArgumentError, match="mode"):
        em.regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(InvalidArgumentError, match="rank 2"):
        reg(em.ones((2, 2, 2)))


def test_orthogonal_regularizer_matches_keras():
    keras = _keras()
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    for mode in ("rows", "columns"):
        close(float(em.regularizers.OrthogonalRegularizer(0.3, mode)(x)),
              float(keras.regularizers.OrthogonalRegularizer(0.3, mode)(keras.ops.convert_to_tensor(x))), atol=1e-6)


def test_progbar_averages_like_keras(capsys):
    bar = em.utils.Progbar(4, verbose=2)
    for i, v in enumerate([1.0, 2.0, 3.0]):
        bar.update(i + 1, [("loss", v), ("acc", 0.5)])
    assert capsys.readouterr().out == ""  # verbose=2 prints once, at the end
    assert bar._average("loss") == 2.0  # stateless: the mean of the updates so far
    bar.update(4, [("loss", 9.0), ("acc", 0.25)])
    out = capsys.readouterr().out
    assert out.startswith("4/4 - ") and "loss: 9.0000" in out and "acc: 0.2500" in out  # finalize: the last value
    bar = em.utils.Progbar(10, verbose=1, stateful_metrics=["lr"], interval=0.0)
    bar.update(2, [("loss", 1.0), ("lr", 0.1)])
    bar.add(3, [("loss", 2.0), ("lr", 0.2)])
    assert bar._average("loss") == pytest.approx((1.0 * 2 + 2.0 * 3) / 5) and bar._average("lr") == pytest.approx(0.2)
    assert "5/10" in capsys.readouterr().out
    with pytest.raises(InvalidArgumentError):
        em.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(InvalidArgumentError):
        em.utils.Progbar(3).update(1, [("loss", "high")])


def test_clone_model_sequential_functional_and_options():
    inp = em.Input((4,), name="x")
    a = em.layers.Dense(3, name="a")(inp)
    shared = em.layers.Dense(3, name="s")
    out = em.layers.Add(name="sum")([a, shared(shared(a))])
    model = em.Model(inp, out)
    clone = em.models.clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert all(p is not q for p, q in zip(clone.layers, model.layers))
    assert clone.count_params() == model.count_params()  # the shared layer is cloned once
    clone.set_weights(model.get_weights())
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    close(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    renamed = em.models.clone_model(model, clone_function=lambda l: type(l).from_config({**l.get_config(),
                                                                                          "name": l.name + "_c"}))
    assert [l.name for l in renamed.layers] == ["x", "a_c", "s_c", "sum_c"]
    calls = []
    em.models.clone_model(model, call_function=lambda layer, *a, **k: (calls.append(layer.name), layer(*a, **k))[1])
    assert calls == ["a", "s", "s", "sum"]
    new_in = em.Input((4,), name="y")
    assert em.models.clone_model(model, input_tensors=new_in).inputs[0] is new_in
    seq = em.Sequential([em.Input((4,)), em.layers.Dense(2), em.layers.Dense(1)])
    twin = em.models.clone_model(seq)
    assert isinstance(twin, em.Sequential) and twin.count_params() == seq.count_params()
    nested = em.Sequential([em.Input((4,)), seq])
    deep = em.models.clone_model(nested, recursive=True)
    assert deep.layers[0] is not seq and deep.count_params() == nested.count_params()
    twin.compile("adam", "mse")
    twin.fit(x, x[:, :1], epochs=1, verbose=0)
    with pytest.raises(InvalidArgumentError, match="clone_function"):
        em.models.clone_model(model, clone_function=lambda l: "not a layer")
    with pytest.raises(InvalidArgumentError):
        em.models.clone_model("model")


# -----------------------------------------------------------------------------------------------
# layout ops, ops.numpy, ops.image
# -----------------------------------------------------------------------------------------------

def test_depth_space_unfold_fold_rearrange_against_numpy(backend_name):
    x = RNG.normal(size=(2, 3, 4, 8)).astype(np.float32)
    t = em.tensor(x, device=backend_name)
    ref = x.reshape(2, 3, 4, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 8, 2)
    np.testing.assert_array_equal(em.ops.depth_to_space(t, 2).numpy(), ref)
    np.testing.assert_array_equal(em.ops.space_to_depth(em.ops.depth_to_space(t, 2), 2).numpy(), x)
    xi = RNG.normal(size=(2, 3, 7, 6)).astype(np.float32)
    ti = em.tensor(xi, device=backend_name)
    cols = em.ops.unfold(ti, (2, 3), dilation=(2, 1), padding=1, stride=(2, 1)).numpy()
    xp = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (9 - 2 - 1) // 2 + 1, (8 - 2 - 1) // 1 + 1
    want = np.zeros((2, 3, 2, 3, oh, ow), np.float32)
    for i in range(2):
        for j in range(3):
            want[:, :, i, j] = xp[:, :, i * 2:i * 2 + (oh - 1) * 2 + 1:2, j:j + ow]
    np.testing.assert_array_equal(cols, want.reshape(2, 18, oh * ow))
    # fold is unfold's adjoint: <unfold(x), y> == <x, fold(y)>
    y = RNG.normal(size=cols.shape).astype(np.float32)
    back = em.ops.fold(em.tensor(y, device=backend_name), (7, 6), (2, 3), dilation=(2, 1), padding=1,
                       stride=(2, 1)).numpy()
    close(np.sum(cols * y), np.sum(xi * back), rtol=1e-5)
    im = RNG.normal(size=(4, 6, 8, 3)).astype(np.float32)
    r = em.ops.rearrange(em.tensor(im, device=backend_name), "b (h1 h) (w1 w) c -> (b h1 w1) h w c", h1=2, w1=2)
    np.testing.assert_array_equal(r.numpy(), im.reshape(4, 2, 3, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(16, 3, 4, 3))
    with pytest.raises(InvalidArgumentError):
        em.ops.rearrange(im, "b h w c -> b h w")
    assert em.ops.array([1, 2]).dtype == "int32" and em.ops.array([1.0]).dtype == "float32"


def test_layout_ops_match_keras():
    keras = _keras()
    x = RNG.normal(size=(2, 3, 4, 8)).astype(np.float32)
    xc = np.moveaxis(x, -1, 1).copy()
    close(em.ops.depth_to_space(xc, 2, "channels_first").numpy(),
          np.asarray(keras.ops.depth_to_space(xc, 2, "channels_first")))
    close(em.ops.space_to_depth(x[:, :2], 2).numpy(), np.asarray(keras.ops.space_to_depth(x[:, :2], 2)))
    xi = RNG.normal(size=(2, 3, 7, 6)).astype(np.float32)
    for kw in (dict(kernel_size=3), dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(2, 1))):
        close(em.ops.unfold(xi, **kw).numpy(), np.asarray(keras.ops.unfold(xi, **kw)))
        cols = np.asarray(keras.ops.unfold(xi, **kw))
        close(em.ops.fold(cols, (7, 6), **kw).numpy(), np.asarray(keras.ops.fold(cols, (7, 6), **kw)), atol=1e-5)
    im = RNG.normal(size=(4, 6, 8, 3)).astype(np.float32)
    close(em.ops.rearrange(im, "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=2).numpy(),
          np.asarray(keras.ops.rearrange(im, "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=2)))


def test_ops_numpy_namespace_is_ember_ops():
    assert em.ops.numpy.sum is em.ops.sum and em.ops.numpy.where is em.ops.where
    assert "angle" not in em.ops.numpy.__all__ and len(em.ops.numpy.__all__) > 150


def _rgb_to_hsv_reference(img):
    import colorsys

    flat = img.reshape(-1, 3).astype(np.float64)
    return np.array([colorsys.rgb_to_hsv(*p) for p in flat]).reshape(img.shape)


def test_image_ops_against_references(backend_name):
    img = RNG.uniform(0, 1, size=(2, 5, 6, 3)).astype(np.float32)
    t = em.tensor(img, device=backend_name)
    I = em.ops.image
    close(I.rgb_to_grayscale(t).numpy(), (img @ np.array([0.2989, 0.5870, 0.1140]))[..., None], atol=1e-6)
    hsv = I.rgb_to_hsv(t).numpy()
    close(hsv, _rgb_to_hsv_reference(img), atol=1e-5)
    close(I.hsv_to_rgb(em.tensor(hsv, device=backend_name)).numpy(), img, atol=1e-5)
    close(I.crop_images(t, 1, 2, bottom_cropping=1, right_cropping=1).numpy(), img[:, 1:4, 2:5])
    close(I.pad_images(t, 1, 0, target_height=8, target_width=7).numpy(),
          np.pad(img, ((0, 0), (1, 2), (0, 1), (0, 0))))
    blur = I.gaussian_blur(t, (3, 3), (1.0, 1.0)).numpy()
    g = np.exp(-0.5 * np.arange(-1, 2) ** 2)
    g /= g.sum()
    k = np.outer(g, g)
    pad_img = np.pad(img.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = sum(k[i, j] * pad_img[:, i:i + 5, j:j + 6] for i in range(3) for j in range(3))
    close(blur, ref, atol=1e-5)
    patches = I.extract_patches(t, 2, strides=2).numpy()
    assert patches.shape == (2, 2, 3, 12)
    close(patches[0, 1, 2], img[0, 2:4, 4:6].reshape(-1))
    close(I.resize(t[0], (10, 12)).numpy().shape, (10, 12, 3))
    with pytest.raises(NotImplementedError, match="bicubic"):
        I.resize(t, (3, 3), interpolation="bicubic")


def test_image_ops_match_keras():
    keras = _keras()
    img = RNG.uniform(0, 1, size=(2, 5, 6, 3)).astype(np.float32)
    K, E = keras.ops.image, em.ops.image
    for name, kw in (("rgb_to_grayscale", {}), ("rgb_to_hsv", {}), ("sobel_edges", {}),
                     # (Keras 3.15's gaussian_blur reads data_format=None as channels_first: pass it)
                     ("gaussian_blur", dict(kernel_size=(3, 5), sigma=(1.0, 2.0), data_format="channels_last")),
                     ("extract_patches", dict(size=(2, 3), strides=(1, 2))), ("resize", dict(size=(7, 4))),
                     ("crop_images", dict(top_cropping=1, left_cropping=1, target_height=3, target_width=4)),
                     ("pad_images", dict(top_padding=1, left_padding=2, target_height=7, target_width=9))):
        close(getattr(E, name)(img, **kw).numpy(), np.asarray(getattr(K, name)(img, **kw)), atol=1e-5)
    hsv = np.asarray(K.rgb_to_hsv(img))
    close(E.hsv_to_rgb(hsv).numpy(), np.asarray(K.hsv_to_rgb(hsv)), atol=1e-5)


# -- image augmentation layers (ember/layers/image_augmentation.py) ------------------------------------
# Each random layer is replayed: the draws it documents are taken from a SeedGenerator with
# its seed (on the CPU, as the layer does) and turned into Keras's ``transformation`` dict;
# a numpy reference applies that dict, and where keras is installed so does the Keras
# layer's own ``transform_images``.

class _Replay:
    def __init__(self, seed):
        self.gen = em.random.SeedGenerator(seed)

    def u(self, shape, lo=0.0, hi=1.0):
        return np.asarray(em.random.uniform(shape, lo, hi, seed=self.gen, device="cpu").numpy(), np.float64)

    def randint(self, n, lo, hi):
        return np.asarray(em.random.randint((n,), lo, hi, seed=self.gen, device="cpu").numpy(), np.int64)

    def beta(self, n, a):
        return np.asarray(em.random.beta((n,), a, a, seed=self.gen, device="cpu").numpy(), np.float64)

    def perm(self, n):
        idx = em.tensor(np.arange(n, dtype=np.int32), device="cpu")
        return np.asarray(em.random.shuffle(idx, seed=self.gen).numpy(), np.int64)

    def normal(self, shape):
        return np.asarray(em.random.normal(shape, seed=self.gen, device="cpu").numpy(), np.float64)


def _gray(x):
    return (np.asarray(x, np.float64) @ np.array([0.2989, 0.5870, 0.1140]))[..., None]


def _hsv(x):
    return _rgb_to_hsv_reference(np.asarray(x, np.float64))


def _rgb(hsv):
    import colorsys

    flat = np.asarray(hsv, np.float64).reshape(-1, 3)
    return np.array([colorsys.hsv_to_rgb(*p) for p in flat]).reshape(hsv.shape)


def _same_correlation(x, kernel):
    kh, kw = kernel.shape
    n, h, w, c = x.shape
    p = np.pad(np.asarray(x, np.float64), ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    return sum(kernel[i, j] * p[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw))


def _gauss_kernel(ks, sigma):
    def g1(size, s):
        t = np.arange(size, dtype=np.float64) - (size - 1) / 2
        k = np.exp(-0.5 * (t / s) ** 2)
        return k / k.sum()

    return np.outer(g1(ks[1], sigma[1]), g1(ks[0], sigma[0]))


def _box_masks(n, h, w, c, x0, x1, y0, y1):
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    r = lambda v: np.asarray(v, np.float32).reshape(-1, 1, 1, 1)  # noqa: E731
    m = (gx[None, ..., None] >= r(x0)) & (gx[None, ..., None] < r(x1)) & (gy[None, ..., None] >= r(y0)) & (
        gy[None, ..., None] < r(y1))
    return np.broadcast_to(m, (n, h, w, c))


# name -> (kwargs, the transformation dict from the replayed draws, the numpy reference of it)
def _aug_cases():
    f32 = np.float32
    cases = {}

    def brightness(r, x):
        d = r.u((len(x),), -0.3, 0.4) * 255
        return {"rgb_delta": d.reshape(-1, 1, 1, 1).astype(f32)}
    cases["RandomBrightness"] = (dict(factor=(-0.3, 0.4)), brightness,
                                 lambda x, t: np.clip(x + t["rgb_delta"], 0, 255))

    def grayscale(r, x):
        return (r.u((len(x),)) < 0.6).reshape(-1, 1, 1, 1)
    cases["RandomGrayscale"] = (dict(factor=0.6), grayscale, lambda x, t: np.where(t, _gray(x), x))

    def invert(r, x):
        p = r.u((len(x),), 0.2, 0.9)
        return {"apply_inversion": r.u((len(x),)) < p}
    cases["RandomInvert"] = (dict(factor=(0.2, 0.9)), invert,
                             lambda x, t: np.where(t["apply_inversion"][:, None, None, None], 255 - x, x))

    def solarize(r, x):
        a = r.u((len(x),), 0.1, 0.3 * 255).reshape(-1, 1, 1, 1)
        th = r.u((len(x),), 0.4, 0.6 * 255).reshape(-1, 1, 1, 1)
        return {"additions": a.astype(f32), "thresholds": th.astype(f32)}

    def solarize_ref(x, t):
        y = np.clip(x + t["additions"], 0, 255)
        return np.where(y < t["thresholds"], y, 255 - y)
    cases["Solarization"] = (dict(addition_factor=(0.1, 0.3), threshold_factor=(0.4, 0.6)), solarize, solarize_ref)

    def posterize(r, x):
        return {"shift_factor": (8 - r.randint(len(x), 2, 6)).astype(np.uint8)}

    def posterize_ref(x, t):
        step = (2.0 ** t["shift_factor"].astype(np.float64)).reshape(-1, 1, 1, 1)
        return np.floor(np.floor(x) / step) * step
    cases["RandomPosterization"] = (dict(factor=(2, 6)), posterize, posterize_ref)

    def degenerate(r, x):
        return {"factor": r.u((len(x),), 0.2, 0.8).reshape(-1, 1, 1, 1).astype(f32)}
    cases["RandomColorDegeneration"] = (dict(factor=(0.2, 0.8)), degenerate,
                                        lambda x, t: np.clip(x + t["factor"] * (_gray(x) - x), 0, 255))

    def saturate(r, x):
        u = r.u((len(x),), 0.3, 0.8)
        return {"factor": (u / (1 - u + 1e-7)).astype(f32)}

    def saturate_ref(x, t):
        hsv = _hsv(x)
        hsv[..., 1] = np.clip(hsv[..., 1] * t["factor"][:, None, None], 0, 255)
        return _rgb(hsv)
    cases["RandomSaturation"] = (dict(factor=(0.3, 0.8)), saturate, saturate_ref)

    def hue(r, x):
        inv = np.where(r.u((len(x),)) > 0.5, -1.0, 1.0)
        return {"factor": (inv * r.u((len(x),), 0.2, 0.6) * 0.5).astype(f32)}

    def hue_ref(x, t):
        hsv = _hsv(x / 255.0)
        h = hsv[..., 0] + t["factor"][:, None, None]
        hsv[..., 0] = np.where(h > 1, h - 1, np.where(h < 0, h + 1, h))
        return np.clip(_rgb(hsv), 0, 1) * 255.0
    cases["RandomHue"] = (dict(factor=(0.2, 0.6)), hue, hue_ref)

    def sharpen(r, x):
        return {"factor": r.u((len(x),), 0.1, 0.9).astype(f32)}

    def sharpen_ref(x, t):
        a, b = 1 / 13, 5 / 13
        smooth = _same_correlation(x, np.array([[a, a, a], [a, b, a], [a, a, a]]))
        f = 2 * t["factor"].astype(np.float64).reshape(-1, 1, 1, 1)
        return np.clip(x + (1 - f) * (smooth - x), 0, 255)
    cases["RandomSharpness"] = (dict(factor=(0.1, 0.9)), sharpen, sharpen_ref)

    def blur(r, x):
        p = r.u((len(x),), 0.3, 1.0)
        apply = r.u((len(x),)) < p
        return {"should_apply_blur": apply, "blur_factor": (r.u((2,), 0.5, 1.0) + 1e-6).astype(f32)}

    def blur_ref(x, t):
        y = _same_correlation(x, _gauss_kernel((3, 5), t["blur_factor"].astype(np.float64)))
        return np.clip(np.where(t["should_apply_blur"][:, None, None, None], y, x), 0, 255)
    cases["RandomGaussianBlur"] = (dict(factor=(0.3, 1.0), kernel_size=(3, 5), sigma=(0.5, 1.0)), blur, blur_ref)

    def shear(r, x):
        n = len(x)
        inv = np.where(r.u((n, 1)) > 0.5, -1.0, 1.0)
        sy, sx = r.u((n, 1), -0.2, 0.2), r.u((n, 1), 0.1, 0.3)
        return {"shear_factor": (np.concatenate([sx, sy], axis=1).astype(f32) * inv).astype(f32),
                "input_shape": x.shape}

    def shear_ref(x, t):
        from test_image_preprocessing import affine_ref

        s = t["shear_factor"].astype(np.float64)
        return affine_ref(x, [[1, s[k, 0], 0, s[k, 1], 1, 0, 0, 0] for k in range(len(x))], "reflect")
    cases["RandomShear"] = (dict(x_factor=(0.1, 0.3), y_factor=0.2), shear, shear_ref)

    def erase(r, x):
        n, h, w, c = x.shape
        ratio = np.sqrt(r.u((n, 2), 0.1, 0.3).astype(f32))
        cw, ch = ratio[:, 0] * f32(w), ratio[:, 1] * f32(h)
        x0 = r.u((n,)).astype(f32) * (f32(w) - cw)
        y0 = r.u((n,)).astype(f32) * (f32(h) - ch)
        p = r.u((n,), 0.5, 1.0)
        apply = r.u((n,)) < p
        fill = np.clip(r.normal((n, h, w, c)) * 255, 0, 255).astype(f32)
        return {"apply_erasing": apply, "batch_masks": _box_masks(n, h, w, c, x0, x0 + cw, y0, y0 + ch),
                "fill_value": fill}

    def erase_ref(x, t):
        y = np.where(t["batch_masks"], t["fill_value"], x)
        return np.where(t["apply_erasing"][:, None, None, None], y, x)
    cases["RandomErasing"] = (dict(factor=(0.5, 1.0), scale=(0.1, 0.3)), erase, erase_ref)

    def mixup(r, x):
        perm = r.perm(len(x))
        return {"permutation_order": perm, "mix_weight": r.beta(len(x), 0.4).astype(f32)}

    def mixup_ref(x, t):
        w = t["mix_weight"].astype(np.float64).reshape(-1, 1, 1, 1)
        return w * x + (1 - w) * x[t["permutation_order"]]
    cases["MixUp"] = (dict(alpha=0.4), mixup, mixup_ref)

    def cutmix(r, x):
        n, h, w, c = x.shape
        a = float(r.u((), 0.5, 1.0)) + 1e-6
        mix = r.beta(n, a).astype(f32)
        ratio = np.sqrt(f32(1) - mix)
        cw, ch = ratio * f32(w), ratio * f32(h)
        x0 = r.u((n,)).astype(f32) * (f32(w) - cw)
        y0 = r.u((n,)).astype(f32) * (f32(h) - ch)
        perm = r.perm(n)
        weight = 1 - (cw * ch) / f32(w * h)
        return {"permutation_order": perm, "batch_masks": _box_masks(n, h, w, c, x0, x0 + cw, y0, y0 + ch),
                "mix_weight": weight.reshape(-1, 1, 1, 1)}
    cases["CutMix"] = (dict(factor=(0.5, 1.0)), cutmix,
                       lambda x, t: np.where(t["batch_masks"], x[t["permutation_order"]], x))
    return cases


AUG_CASES = _aug_cases()


def _aug_images(n=3, h=7, w=9, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(AUG_CASES))
def test_augmentation_layers_replay_against_numpy(name, backend_name):
    kwargs, transformation, reference = AUG_CASES[name]
    x = _aug_images()
    layer = getattr(em.layers, name)(seed=21, **kwargs)
    with em.device(backend_name):
        got = layer(em.tensor(x, device=backend_name), training=True).numpy()
        assert np.array_equal(layer(em.tensor(x, device=backend_name), training=False).numpy(), x)
    expected = reference(x.astype(np.float64), transformation(_Replay(21), x))
    close(got, expected, rtol=1e-4, atol=2e-3)
    assert got.shape == x.shape and got.dtype == np.float32
    # a single image works too (one draw), and the layer round-trips its config
    assert layer(x[0], training=True).shape == x[0].shape
    clone = em.layers.deserialize(json.loads(json.dumps(em.layers.serialize(layer))))
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("name", sorted(AUG_CASES))
def test_augmentation_layers_match_keras_transform_images(name):
    keras = _keras()
    kwargs, transformation, _ = AUG_CASES[name]
    x = _aug_images(seed=1)
    got = getattr(em.layers, name)(seed=5, **kwargs)(x, training=True).numpy()
    t = transformation(_Replay(5), x)
    want = np.asarray(getattr(keras.layers, name)(**kwargs).transform_images(x, t, training=True))
    close(got, want, rtol=1e-4, atol=2e-3)


def test_mixing_layers_mix_labels_like_keras():
    x = _aug_images(4)
    labels = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]]
    for name in ("MixUp", "CutMix"):
        kwargs, transformation, reference = AUG_CASES[name]
        out = getattr(em.layers, name)(seed=3, **kwargs)({"images": x, "labels": labels}, training=True)
        t = transformation(_Replay(3), x)
        w = np.asarray(t["mix_weight"], np.float64).reshape(-1, 1)
        close(out["images"].numpy(), reference(x.astype(np.float64), t), rtol=1e-4, atol=2e-3)
        close(out["labels"].numpy(), w * labels + (1 - w) * labels[t["permutation_order"]], atol=1e-6)
        try:
            keras = pytest.importorskip("keras")
        except pytest.skip.Exception:
            continue
        close(out["labels"].numpy(), np.asarray(getattr(keras.layers, name)().transform_labels(labels, t)),
              atol=1e-6)
    # CutMix leaves a single image alone (Keras draws nothing for it)
    assert np.array_equal(em.layers.CutMix(seed=1)(x[0]).numpy(), x[0])
    with pytest.raises(InvalidArgumentError, match="keys"):
        em.layers.MixUp()({"images": x, "boxes": labels})


def _equalize_ref(x, bins=256):
    out = np.empty_like(x, dtype=np.float64)
    for ch in range(x.shape[-1]):
        v = x[..., ch].astype(np.float32)
        hist = np.bincount(np.clip((v * np.float32(bins - 1) / np.float32(255)).astype(np.int64), 0, bins - 1).ravel(),
                           minlength=bins)
        if np.count_nonzero(hist) <= 1:
            out[..., ch] = v
            continue
        cdf = np.cumsum(hist)
        cmin = cdf[np.nonzero(cdf)[0][0]]
        table = np.clip(np.round((cdf - cmin) * 255 / max(cdf[-1] - cmin, 1)), 0, 255)
        out[..., ch] = table[np.clip(v / 255 * (bins - 1), 0, bins - 1).astype(np.int64)]
    return out


def test_auto_contrast_and_equalization_against_numpy(backend_name):
    x = _aug_images(2, 5, 6, seed=4)
    x[1, ..., 2] = 9.0   # a constant channel: AutoContrast keeps it (0/0), Equalization too (one bin)
    with em.device(backend_name):
        t = em.tensor(x, device=backend_name)
        ac = em.layers.AutoContrast()(t, training=False).numpy()
        eq = em.layers.Equalization(bins=64)(t).numpy()
        assert np.array_equal(em.layers.Equalization()(t, training=False).numpy(), x)
    lo, hi = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.clip((x - lo) * (255.0 / (hi - lo)), 0, 255)
    close(ac, np.where(np.isnan(ref), x, ref), atol=1e-3)
    close(eq, _equalize_ref(x, 64), atol=1e-3)
    # value_range (0, 1): the same on the 0-255 scale
    x01 = x / 255.0
    close(em.layers.AutoContrast(value_range=(0, 1))(x01).numpy(), np.where(np.isnan(ref), x, ref) / 255, atol=1e-5)
    keras = pytest.importorskip("keras")
    close(ac, np.asarray(keras.layers.AutoContrast()(x)), atol=1e-3)
    # (Keras under JAX divides by multiplying with a float32 reciprocal, so a lookup value
    # that is exactly k + 0.5 can round the other way: a few values differ by one level)
    diff = np.abs(eq - np.asarray(keras.layers.Equalization(bins=64)(x)))
    assert diff.max() <= 1.0 and np.mean(diff > 1e-3) < 0.05


def test_color_jitter_replays_its_sublayers_in_order():
    x = _aug_images(seed=6)
    layer = em.layers.RandomColorJitter(brightness_factor=(0.1, 0.2), contrast_factor=(0.2, 0.5),
                                        saturation_factor=(0.4, 0.7), hue_factor=(0.1, 0.3), seed=9)
    got = layer(x).numpy()
    r = _Replay(9)
    cases = AUG_CASES
    y = x.astype(np.float64)
    y = np.clip(y + (r.u((3,), 0.1, 0.2) * 255).reshape(-1, 1, 1, 1), 0, 255)
    f = r.u((3,), 1 - 0.2, 1 + 0.5).reshape(-1, 1, 1, 1)
    m = y.mean(axis=(1, 2), keepdims=True)
    y = np.clip((y - m) * f + m, 0, 255)
    u = r.u((3,), 0.4, 0.7)
    y = cases["RandomSaturation"][2](y, {"factor": u / (1 - u + 1e-7)})
    inv = np.where(r.u((3,)) > 0.5, -1.0, 1.0)
    y = cases["RandomHue"][2](y, {"factor": inv * r.u((3,), 0.1, 0.3) * 0.5})
    close(got, y, rtol=1e-4, atol=5e-3)
    assert em.layers.deserialize(em.layers.serialize(layer)).get_config() == layer.get_config()


def test_pipeline_applies_layers_in_order_and_round_trips(tmp_path):
    x = _aug_images(2, 4, 5, seed=7)
    pipe = em.layers.Pipeline([em.layers.RandomInvert((1, 1)), em.layers.Rescaling(0.5)], name="prep")
    close(pipe(x).numpy(), (255 - x) * 0.5)
    close(pipe(x, training=False).numpy(), x * 0.5)   # training reaches RandomInvert
    assert pipe.layers[1].scale == 0.5 and pipe.compute_output_shape((None, 4, 5, 3)) == (None, 4, 5, 3)
    clone = em.layers.deserialize(json.loads(json.dumps(em.layers.serialize(pipe))))
    assert isinstance(clone, em.layers.Pipeline) and clone.name == "prep"
    close(clone(x).numpy(), (255 - x) * 0.5)
    # inside a model: the identity for RandomInvert at predict, applied in fit's forward pass
    model = em.Sequential([em.Input((4, 5, 3)), pipe])
    close(model.predict(x, verbose=0), x * 0.5)
    with pytest.raises(InvalidArgumentError, match="list of layers"):
        em.layers.Pipeline([1, 2])
    keras = pytest.importorskip("keras")
    k = keras.layers.Pipeline([keras.layers.RandomInvert((1, 1)), keras.layers.Rescaling(0.5)])
    close(pipe(x).numpy(), np.asarray(k(x)))


def test_augmentation_layer_arguments_and_errors():
    L = em.layers
    assert L.RandomBrightness(0.3).factor == (-0.3, 0.3)
    assert L.RandomHue(0.3).factor == (0.0, 0.3) and L.RandomPosterization(4).factor == (1, 4)
    assert L.RandomShear(0.2).x_factor == (-0.2, 0.2) and L.RandomGaussianBlur(kernel_size=5).kernel_size == (5, 5)
    assert L.Solarization(0.5).addition_factor == (0.0, 0.5)
    assert L.RandomBrightness(0.1, data_format="channels_first").data_format == "channels_first"  # Keras's config key
    for make, match in ((lambda: L.RandomBrightness(1.5), "factor"), (lambda: L.RandomGrayscale(2.0), "factor"),
                        (lambda: L.RandomPosterization(0.5), "integer"), (lambda: L.RandomPosterization(9), "factor"),
                        (lambda: L.RandomGaussianBlur(kernel_size=4), "odd"),
                        (lambda: L.RandomShear(fill_mode="mirror"), "fill_mode"),
                        (lambda: L.RandomErasing(fill_value=(1, 2)), "fill_value"),
                        (lambda: L.MixUp(alpha=0), "alpha"),
                        (lambda: L.AutoContrast(value_range=(1, 1)), "value_range"),
                        (lambda: L.Equalization(bins=1), "bins")):
        with pytest.raises(InvalidArgumentError, match=match):
            make()
    with pytest.raises(ShapeError):
        L.RandomSaturation(0.5)(np.ones((1, 2, 2, 1), np.float32))
    # channels_first gives the transposed channels_last result
    x = _aug_images(seed=8)
    cl = L.RandomSharpness((0.8, 0.8))(x).numpy()
    cf = L.RandomSharpness((0.8, 0.8), data_format="channels_first")(x.transpose(0, 3, 1, 2)).numpy()
    close(cf, cl.transpose(0, 3, 1, 2), atol=1e-4)
