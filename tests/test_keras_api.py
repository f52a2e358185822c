"""The Keras contract: a typical Keras Sequential script runs with ``import ember as keras``.

Each test checks one promise of the Keras 3 API (names, defaults, return types, output
text) through Ember's public surface.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember as em
import ember as keras


def as_np(t):
    return np.array(t.numpy() if isinstance(t, em.Tensor) else t)


def blobs(n=120, d=4, k=3, seed=0):
    """k well-separated Gaussian blobs: (x float32 (n, d), integer labels (n,))."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = centers[y] + rng.normal(0, 0.5, size=(n, d))
    return x.astype(np.float32), y.astype(np.int64)


def small_model(d=4, k=3, act="softmax"):
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(k, activation=act)])


# ---------------------------------------------------------------------------------------------
# construction and building
# ---------------------------------------------------------------------------------------------

def test_sequential_list_and_add_are_equivalent():
    a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    b = keras.Sequential()
    b.add(keras.Input((4,)))
    b.add(keras.layers.Dense(8, activation="relu"))
    b.add(keras.layers.Dense(3))
    assert a.built and b.built
    assert len(a.layers) == len(b.layers) == 2  # the Input is not a layer of the model (Keras 3)
    assert a.count_params() == b.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()] == [(4, 8), (8,), (8, 3), (3,)]


@pytest.mark.parametrize("how", ["Input", "input_shape", "input_dim", "InputLayer"])
def test_input_spec_builds_immediately(how):
    first = {
        "Input": [keras.Input(shape=(5,)), keras.layers.Dense(2)],
        "input_shape": [keras.layers.Dense(2, input_shape=(5,))],
        "input_dim": [keras.layers.Dense(2, input_dim=5)],
        "InputLayer": [keras.layers.InputLayer(shape=(5,)), keras.layers.Dense(2)],
    }[how]
    model = keras.Sequential(first + [keras.layers.Dense(1)])
    assert model.built
    assert model.count_params() == 5 * 2 + 2 + 2 + 1
    assert model.output_shape == (None, 1)
    assert model.layers[0].kernel.shape == (5, 2)


def test_model_builds_on_first_call():
    model = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    assert not model.built
    with pytest.raises(em.errors.EmberError):
        model.get_weights()
    y = model(np.zeros((3, 7), np.float32))
    assert model.built
    assert y.shape == (3, 2)
    assert [w.shape for w in model.get_weights()] == [(7, 4), (4,), (4, 2), (2,)]


def test_model_builds_on_fit_and_predict():
    x, y = blobs(d=6)
    m = small_model(d=6)
    m2 = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    assert m2.predict(x, verbose=0).shape == (len(x), 3)
    m3 = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    m3.compile("adam", "sparse_categorical_crossentropy")
    m3.fit(x, y, epochs=1, verbose=0)
    assert m3.built and m3.layers[0].kernel.shape == (6, 3)
    assert m.built


def test_layer_call_builds_and_kernel_layout():
    layer = keras.layers.Dense(3, activation="relu")
    out = layer(np.ones((2, 5), np.float32))
    assert out.shape == (2, 3)
    assert layer.kernel.shape == (5, 3)  # Keras layout (in, out)
    assert layer.bias.shape == (3,)
    np.testing.assert_array_equal(as_np(layer.bias), 0.0)


def test_keras_default_arguments():
    d = keras.layers.Dense(3)
    assert d.use_bias is True
    adam = keras.optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == pytest.approx((0.001, 0.9, 0.999, 1e-7))
    sgd = keras.optimizers.SGD()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (pytest.approx(0.01), 0.0, False)
    rms = keras.optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon) == pytest.approx((0.001, 0.9, 0.0, 1e-7))


def test_flatten_and_reshape_layers():
    model = keras.Sequential([keras.Input((4, 6)), keras.layers.Flatten(), keras.layers.Reshape((3, 8)),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    assert model.output_shape == (None, 2)
    assert model.layers[0].output_shape == (None, 24)
    assert model.layers[1].output_shape == (None, 3, 8)
    x = np.arange(2 * 24, dtype=np.float32).reshape(2, 4, 6)
    np.testing.assert_array_equal(as_np(model.layers[0](x)), x.reshape(2, 24))
    assert model.predict(x, verbose=0).shape == (2, 2)


# ---------------------------------------------------------------------------------------------
# compile
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "Adam", keras.optimizers.Adam(0.01),
                                       keras.optimizers.SGD, "default"])
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(),
                                  keras.losses.sparse_categorical_crossentropy])
def test_compile_with_strings_and_objects(optimizer, loss):
    x, y = blobs()
    model = small_model()
    if optimizer == "default":
        model.compile(loss=loss)
        assert isinstance(model.optimizer, keras.optimizers.RMSprop)  # Keras's default
    else:
        if isinstance(optimizer, keras.optimizers.Optimizer):
            optimizer = type(optimizer)(learning_rate=0.01)  # fresh per test
        model.compile(optimizer=optimizer, loss=loss)
        assert isinstance(model.optimizer, keras.optimizers.Optimizer)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert isinstance(before, float) and isinstance(after, float)
    assert after < before


def test_compile_with_custom_loss_function():
    def my_mse(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(keras.ops.subtract(y_pred, y_true)), axis=-1)

    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss=my_mse)
    l1 = model.evaluate(x, y, verbose=0)
    model2 = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model2.set_weights(model.get_weights())
    model2.compile(keras.optimizers.SGD(0.1), loss="mse")
    assert l1 == pytest.approx(model2.evaluate(x, y, verbose=0), rel=1e-6)
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 1e-2


# ---------------------------------------------------------------------------------------------
# fit / evaluate / predict
# ---------------------------------------------------------------------------------------------

def test_fit_returns_history_with_keras_keys():
    x, y = blobs()
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert isinstance(hist, keras.callbacks.History)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in hist.history.values())
    assert hist.epoch == [0, 1, 2]
    assert model.history is hist
    assert all(isinstance(v, float) for vs in hist.history.values() for v in vs)
    assert all(0.0 <= a <= 1.0 for a in hist.history["accuracy"])


def test_fit_without_validation_has_no_val_keys():
    x, y = blobs()
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert set(hist.history) == {"loss"}


def _frozen_model(k=3):
    """A model that does not move (SGD with learning rate 0), so logged losses can be
    compared with evaluate()."""
    model = small_model(k=k)
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_validation_split_takes_the_last_fraction():
    x, y = blobs(n=100)
    model = _frozen_model()
    hist = model.fit(x, y, epochs=1, batch_size=10, validation_split=0.2, shuffle=True, verbose=0)
    tr_loss, tr_acc = model.evaluate(x[:80], y[:80], verbose=0)
    va_loss, va_acc = model.evaluate(x[80:], y[80:], verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(va_loss, rel=1e-5)
    assert hist.history["val_accuracy"][0] == pytest.approx(va_acc, rel=1e-6)
    assert hist.history["loss"][0] == pytest.approx(tr_loss, rel=1e-5)
    assert hist.history["accuracy"][0] == pytest.approx(tr_acc, rel=1e-6)
    # and not the first fraction
    assert hist.history["val_loss"][0] != pytest.approx(model.evaluate(x[:20], y[:20], verbose=0)[0], rel=1e-5)


def test_validation_data():
    x, y = blobs(n=100)
    xv, yv = blobs(n=30, seed=1)
    model = _frozen_model()
    hist = model.fit(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    loss, acc = model.evaluate(xv, yv, verbose=0)
    assert hist.history["val_loss"] == pytest.approx([loss, loss], rel=1e-5)
    assert hist.history["val_accuracy"] == pytest.approx([acc, acc], rel=1e-6)


def test_shuffle_false_is_batches_in_order():
    x, y = blobs(n=40)
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    a.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    b.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    a.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for start in range(0, 40, 16):  # the last batch is partial (8 samples), as in Keras
        b.train_on_batch(x[start:start + 16], y[start:start + 16])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_shuffle_true_changes_batch_order():
    x, y = blobs(n=40)
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    a.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    b.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    a.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=True, verbose=0)
    assert any(not np.allclose(wa, wb) for wa, wb in zip(a.get_weights(), b.get_weights()))


def test_evaluate_returns_float_without_metrics_and_list_with():
    x, y = blobs()
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    r = model.evaluate(x, y, verbose=0)
    assert isinstance(r, float)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    r = model.evaluate(x, y, verbose=0)
    assert isinstance(r, list) and len(r) == 2
    assert all(isinstance(v, float) for v in r)
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    assert d["loss"] == pytest.approx(r[0]) and d["accuracy"] == pytest.approx(r[1])
    assert model.metrics_names == ["loss", "accuracy"]


def test_evaluate_loss_is_the_mean_over_samples():
    x, y = blobs(n=50)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    p = model.predict(x, verbose=0).astype(np.float64)
    want = float(np.mean(-np.log(np.clip(p[np.arange(50), y], 1e-7, 1))))
    for bs in (7, 32, 50):  # a partial last batch must not change the mean
        assert model.evaluate(x, y, batch_size=bs, verbose=0) == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("n,bs", [(1, None), (10, 3), (100, 32), (33, 33), (65, 64)])
def test_predict_shapes(n, bs):
    model = small_model()
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    p = model.predict(x, batch_size=bs, verbose=0)
    assert isinstance(p, np.ndarray)
    assert p.shape == (n, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # predict in batches equals one call
    np.testing.assert_allclose(p, as_np(model(x)), rtol=1e-5, atol=1e-6)


def test_predict_accepts_lists_and_float64_and_ints():
    model = small_model()
    x = [[1, 2, 3, 4], [0, 0, 0, 0]]
    p1 = model.predict(x, verbose=0)
    p2 = model.predict(np.array(x, np.float64), verbose=0)
    np.testing.assert_allclose(p1, p2)


def test_train_on_batch():
    x, y = blobs(n=32)
    model = small_model()
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    r = model.train_on_batch(x, y)
    assert isinstance(r, float) and r == pytest.approx(before, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) < before
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    r = model.train_on_batch(x, y)
    assert isinstance(r, list) and len(r) == 2
    assert set(model.train_on_batch(x, y, return_dict=True)) == {"loss", "accuracy"}
    r = model.test_on_batch(x, y)
    assert isinstance(r, list) and len(r) == 2


def test_get_set_weights_round_trip():
    a, b = small_model(), small_model()
    wa = a.get_weights()
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float32 for w in wa)
    assert not all(np.array_equal(x, z) for x, z in zip(wa, b.get_weights()))
    b.set_weights(wa)
    for x, z in zip(wa, b.get_weights()):
        np.testing.assert_array_equal(x, z)
    xin = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(xin, verbose=0), b.predict(xin, verbose=0))
    # get_weights returns copies: mutating them does not touch the model
    wa[0][...] = 0
    assert not np.all(a.get_weights()[0] == 0)
    # layer-level round trip
    layer = a.layers[0]
    layer.set_weights([np.ones((4, 8)), np.full((8,), 2.0)])
    np.testing.assert_array_equal(layer.get_weights()[1], 2.0)


def test_summary_text_mnist_mlp(capsys):
    model = keras.Sequential([
        keras.layers.Dense(512, activation="relu", input_shape=(784,)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 669,706" in out
    assert "Trainable params: 669,706" in out
    assert "Non-trainable params: 0" in out
    for params in ("401,920", "262,656", "5,130"):
        assert params in out
    assert "(None, 512)" in out and "(None, 10)" in out
    assert "Dense" in out and "Dropout" in out
    assert model.count_params() == 669_706
    lines = []
    model.summary(print_fn=lines.append)
    assert any("669,706" in line for line in lines)


def test_summary_counts_non_trainable():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.layers[0].trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 21" in text
    assert "Trainable params: 5" in text
    assert "Non-trainable params: 16" in text


def test_trainable_variables_and_freezing():
    x, y = blobs(n=32)
    model = small_model()
    assert len(model.trainable_variables) == 4
    assert all(isinstance(v, keras.Variable) for v in model.trainable_variables)
    model.layers[0].trainable = False
    assert len(model.trainable_variables) == 2
    assert len(model.non_trainable_variables) == 2
    frozen = [w.copy() for w in model.layers[0].get_weights()]
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    before_last = model.layers[1].get_weights()[0].copy()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before_last, model.layers[1].get_weights()[0])


# ---------------------------------------------------------------------------------------------
# "accuracy" resolution
# ---------------------------------------------------------------------------------------------

def test_accuracy_resolves_to_binary():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    for yy in (y, y[:, None]):
        _, acc = model.evaluate(x, yy, verbose=0)
        p = model.predict(x, verbose=0)[:, 0]
        assert acc == pytest.approx(np.mean((p > 0.5) == (y > 0.5)), abs=1e-6)


def test_accuracy_resolves_to_sparse_categorical():
    x, y = blobs(n=90)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    _, acc = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean(p.argmax(1) == y), abs=1e-6)
    _, acc2 = model.evaluate(x, y[:, None], verbose=0)
    assert acc2 == pytest.approx(acc, abs=1e-6)


def test_accuracy_resolves_to_categorical():
    x, y = blobs(n=90)
    model = small_model()
    model.compile("adam", "categorical_crossentropy", metrics=["acc"])
    _, acc = model.evaluate(x, keras.utils.to_categorical(y, 3), verbose=0)
    p = model.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean(p.argmax(1) == y), abs=1e-6)
    assert model.metrics_names == ["loss", "acc"]


def test_metric_objects_and_names():
    x, y = blobs(n=60)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc_obj"), "sparse_categorical_accuracy"])
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "acc_obj", "sparse_categorical_accuracy"]
    assert d["acc_obj"] == pytest.approx(d["sparse_categorical_accuracy"])
    assert d["acc_obj"] == pytest.approx(np.mean(model.predict(x, verbose=0).argmax(1) == y), abs=1e-6)


def test_mse_mae_metrics():
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae", "mse"])
    loss, mae, mse = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)
    assert mae == pytest.approx(np.mean(np.abs(p - y)), rel=1e-5)
    assert mse == pytest.approx(np.mean((p - y) ** 2), rel=1e-5)
    assert loss == pytest.approx(mse, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Dropout, verbosity, callbacks
# ---------------------------------------------------------------------------------------------

def test_dropout_is_identity_at_inference():
    body = [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)]
    with_dropout = keras.Sequential([keras.Input((4,)), body[0], keras.layers.Dropout(0.5), body[1]])
    without = keras.Sequential([keras.Input((4,)), body[0], body[1]])
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    p1 = with_dropout.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, with_dropout.predict(x, verbose=0))
    np.testing.assert_array_equal(p1, without.predict(x, verbose=0))
    np.testing.assert_array_equal(as_np(with_dropout(x)), p1)
    assert not np.allclose(as_np(with_dropout(x, training=True)), p1)


def test_dropout_active_during_fit():
    """A loss tracked in training differs from evaluate's when dropout is on and lr=0."""
    x, y = blobs(n=64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=1, batch_size=64, verbose=0, shuffle=False)
    assert h.history["loss"][0] != pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_verbose_0_prints_nothing(capsys):
    x, y = blobs(n=40)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = blobs(n=40)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=8, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.strip()]
    # one line per epoch (keras-team/keras#13716): "Epoch 1/3 - 4/4 - 0s - 3ms/step - loss: ..."
    epoch_lines = [l.split(" - ")[0] for l in lines if re.match(r"^Epoch \d+/3 - ", l)]
    metric_lines = [l for l in lines if "loss:" in l]
    assert [l for l in epoch_lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert len(metric_lines) == 3
    for l in metric_lines:
        assert re.search(r"\bloss: \d+\.\d{4}", l)
        assert "accuracy:" in l and "val_loss:" in l and "val_accuracy:" in l
        assert re.match(r"^Epoch \d/3 - 4/4 - ", l)  # steps
    assert "█" not in out and "\r" not in out


def test_verbose_1_shows_progress_bar_with_loss(capsys):
    x, y = blobs(n=40)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "5/5" in out
    assert re.search(r"loss: \d+\.\d{4}", out)
    assert "accuracy:" in out


def test_verbose_auto_is_progress_bar(capsys):
    x, y = blobs(n=16)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8)
    cap = capsys.readouterr()
    assert "loss:" in cap.out + cap.err


def test_early_stopping_patience():
    x, y = blobs(n=40)
    model = _frozen_model()  # loss never improves
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=2)
    hist = model.fit(x, y, epochs=20, verbose=0, callbacks=[es])
    assert len(hist.history["loss"]) == 3  # epoch 0 sets the best, then `patience` epochs without improvement
    assert es.stopped_epoch == 2


def test_early_stopping_restore_best_weights():
    x, y = blobs(n=60)
    model = small_model()
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")

    class Diverge(keras.callbacks.Callback):
        """After epoch 1, sets a huge learning rate so val_loss gets worse."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.learning_rate = 50.0

    snapshots = []

    class Snap(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["val_loss"], self.model.get_weights()))

    es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(x, y, epochs=30, verbose=0, validation_data=(x, y), callbacks=[Snap(), Diverge(), es])
    n = len(hist.history["val_loss"])
    assert n < 30
    best = int(np.argmin(hist.history["val_loss"]))
    for a, b in zip(snapshots[best][1], model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_mode_max_on_accuracy():
    es = keras.callbacks.EarlyStopping(monitor="val_accuracy")
    assert es._better(0.9, 0.8)  # auto mode maximises accuracy


def test_custom_callback_hooks_order():
    x, y = blobs(n=20)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    events = []

    class Rec(keras.callbacks.Callback):
        def on_train_begin(self, logs=None): events.append("train_begin")
        def on_epoch_begin(self, epoch, logs=None): events.append(f"epoch_begin{epoch}")
        def on_train_batch_end(self, batch, logs=None): events.append(f"batch{batch}")
        def on_epoch_end(self, epoch, logs=None): events.append(f"epoch_end{epoch}")
        def on_train_end(self, logs=None): events.append("train_end")

    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[Rec()])
    assert events == ["train_begin", "epoch_begin0", "batch0", "batch1", "epoch_end0",
                      "epoch_begin1", "batch0", "batch1", "epoch_end1", "train_end"]


# ---------------------------------------------------------------------------------------------
# custom training loop, utilities, seeding
# ---------------------------------------------------------------------------------------------

def test_gradient_tape_custom_training_loop():
    x, y = blobs(n=96)
    model = small_model()
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer, loss_fn)
    first = model.evaluate(x, y, verbose=0)
    for _epoch in range(20):
        for start in range(0, len(x), 32):
            xb, yb = x[start:start + 32], y[start:start + 32]
            with keras.GradientTape() as tape:
                logits = model(xb, training=True)
                loss_value = loss_fn(yb, logits)
            grads = tape.gradient(loss_value, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
    assert model.evaluate(x, y, verbose=0) < 0.5 * first
    assert optimizer.iterations == 20 * 3


def test_gradient_tape_matches_fit_step():
    x, y = blobs(n=32)
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    a.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    a.train_on_batch(x, y)
    opt = keras.optimizers.SGD(0.1)
    with keras.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(y, b(x, training=True))
    grads = tape.gradient(loss, b.trainable_variables)
    opt.apply_gradients(zip(grads, b.trainable_variables))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)


def test_to_categorical():
    out = keras.utils.to_categorical([0, 2, 1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1, 2]])
    assert keras.utils.to_categorical(np.array([1, 0]), num_classes=5).shape == (2, 5)
    assert keras.utils.to_categorical(np.array([[1], [3]]), 4).shape == (2, 4)  # trailing 1 squeezed
    assert keras.utils.to_categorical(np.array([[0, 1], [1, 0]]), 2).shape == (2, 2, 2)


def _seeded_run(seed):
    keras.utils.set_random_seed(seed)
    x, y = blobs(n=64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.3),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=True)
    return model.get_weights(), hist.history["loss"]


def test_set_random_seed_reproducibility():
    w1, l1 = _seeded_run(42)
    w2, l2 = _seeded_run(42)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert l1 == l2
    w3, _ = _seeded_run(43)
    assert not np.array_equal(w1[0], w3[0])


def test_namespaces_exist():
    for name in ("Sequential", "Model", "Input", "Variable", "GradientTape", "layers", "models", "losses", "metrics",
                 "optimizers", "activations", "initializers", "callbacks", "ops", "utils", "datasets"):
        assert hasattr(keras, name), name
    assert keras.models.Sequential is keras.Sequential
    assert callable(keras.datasets.mnist.load_data)
    assert keras.activations.get("relu") is keras.activations.relu


KERAS_SCRIPT = '''
import numpy as np
import ember as keras

# The Keras "simple MNIST MLP" tutorial, on a slice of MNIST to stay quick.
keras.utils.set_random_seed(1337)
num_classes = 10
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train[:6000].reshape(-1, 784).astype("float32") / 255
x_test = x_test[:1000].reshape(-1, 784).astype("float32") / 255
y_train = keras.utils.to_categorical(y_train[:6000], num_classes)
y_test = keras.utils.to_categorical(y_test[:1000], num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=128, epochs=5, validation_split=0.1)
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
predictions = model.predict(x_test[:5])
print("predictions", predictions.shape)
'''


def test_keras_tutorial_script_runs_with_import_swap(tmp_path):
    script = tmp_path / "mnist_mlp.py"
    script.write_text(textwrap.dedent(KERAS_SCRIPT))
    proc = subprocess.run([sys.executable, "-W", "error", str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "Total params: 101,770" in out
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.87
    assert "predictions (5, 10)" in out
    assert "Epoch 5/5" in out
