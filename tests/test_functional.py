"""The layer graph: symbolic KerasTensors, functional models (several inputs and outputs,
shared layers, nested models), Sequential on the same graph, and their configs.

Examples from Keras's functional API guide run unchanged but for the import; their
shapes and parameter counts are the guide's."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ember as keras
from ember import layers
from ember.errors import InvalidArgumentError, SerializationError, ShapeError

from conftest import GPU_UNAVAILABLE


def test_calling_a_layer_on_an_input_records_a_symbolic_tensor():
    x = keras.Input((4,))
    y = layers.Dense(3)(x)
    assert isinstance(y, keras.layers.KerasTensor)
    assert y.shape == (None, 3) and y.dtype == "float32"
    op, node_index, tensor_index = y._keras_history
    assert op.name.startswith("dense") and (node_index, tensor_index) == (0, 0)


def test_model_of_inputs_and_outputs_computes_the_graph():
    inputs = keras.Input((4,), name="features")
    hidden = layers.Dense(5, activation="relu")(inputs)
    outputs = layers.Dense(2)(hidden)
    model = keras.Model(inputs, outputs)
    assert type(model).__name__ == "Functional"
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense", "Dense"]
    assert model.inputs == [inputs] and model.outputs == [outputs]
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    w1, b1, w2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    ref = np.maximum(x @ w1 + b1, 0) @ w2 + b2  # float64 reference of the graph
    np.testing.assert_allclose(model.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(x).numpy(), ref, rtol=1e-5, atol=1e-5)
    assert model.get_layer(index=1) is hidden._keras_history.operation
    assert model.get_layer("features") is inputs._keras_history.operation


def test_graph_disconnected_and_bad_outputs_are_clear_errors():
    a, b = keras.Input((3,)), keras.Input((3,))
    out = layers.Add()([a, b])
    with pytest.raises(InvalidArgumentError, match="Graph disconnected"):
        keras.Model(a, out)
    with pytest.raises(InvalidArgumentError, match="KerasTensors"):
        keras.Model(a, np.zeros(3))


def test_input_spec_messages_name_the_layer_and_shapes():
    dense = layers.Dense(2)
    dense(keras.Input((4,)))
    with pytest.raises(ShapeError, match=r'layer "dense.*" is incompatible.*axis -1 of input shape to have value 4.*\(None, 5\)'):
        dense(keras.Input((5,)))
    with pytest.raises(ShapeError, match=r"expected min_ndim=2, found ndim=1.*batch axis"):
        layers.Dense(2)(keras.Input(batch_shape=(4,)))


def test_shared_layer_called_twice_has_one_set_of_weights():
    shared = layers.Dense(4, name="shared")
    a, b = keras.Input((3,)), keras.Input((3,))
    out = layers.concatenate([shared(a), shared(b)])
    model = keras.Model([a, b], out)
    assert len(shared._inbound_nodes) == 2
    assert model.count_params() == 16 and len(model.weights) == 2
    xa, xb = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    y = model.predict([xa, xb], verbose=0)
    w, bias = shared.get_weights()
    np.testing.assert_allclose(y[:, :4], xa @ w + bias, rtol=1e-6)
    np.testing.assert_allclose(y[:, 4:], np.broadcast_to(bias, (2, 4)), rtol=1e-6)
    model.summary(print_fn=lambda line: None)


def test_guide_ensembling_nested_models():
    """The guide's "all models are callable, just like layers": three models ensembled."""
    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1, model2, model3 = get_model(), get_model(), get_model()
    inputs = keras.Input(shape=(128,))
    y1, y2, y3 = model1(inputs), model2(inputs), model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)
    assert ensemble_model.count_params() == 3 * 129
    assert outputs.shape == (None, 1)
    x = np.random.default_rng(1).random((5, 128), dtype=np.float32)
    ref = np.mean([m.predict(x, verbose=0) for m in (model1, model2, model3)], axis=0)
    np.testing.assert_allclose(ensemble_model.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)


def test_guide_nested_model_as_a_layer_trains_the_inner_weights():
    encoder_input = keras.Input(shape=(16,), name="original")
    encoded = layers.Dense(4, activation="relu")(encoder_input)
    encoder = keras.Model(encoder_input, encoded, name="encoder")
    decoder_input = keras.Input(shape=(4,), name="encoded")
    decoded = layers.Dense(16)(decoder_input)
    decoder = keras.Model(decoder_input, decoded, name="decoder")
    autoencoder_input = keras.Input(shape=(16,), name="img")
    autoencoder = keras.Model(autoencoder_input, decoder(encoder(autoencoder_input)), name="autoencoder")
    assert [l.name for l in autoencoder.layers] == ["img", "encoder", "decoder"]
    assert autoencoder.count_params() == encoder.count_params() + decoder.count_params() == 68 + 80
    x = np.random.default_rng(0).random((64, 16), dtype=np.float32)
    before = encoder.get_weights()[0].copy()
    autoencoder.compile("adam", "mse")
    h = autoencoder.fit(x, x, epochs=3, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert not np.allclose(encoder.get_weights()[0], before)  # the inner model's weights trained


def test_multi_input_multi_output_with_loss_dicts_and_weights():
    """The guide's ticket-classification pattern on Dense features: list inputs, dict
    outputs, a loss and a loss weight per output; the total loss is the weighted sum."""
    title = keras.Input(shape=(6,), name="title")
    tags = keras.Input(shape=(3,), name="tags")
    x = layers.concatenate([layers.Dense(5, activation="tanh")(title), tags])
    priority = layers.Dense(1, name="priority")(x)
    department = layers.Dense(4, name="department")(x)
    model = keras.Model(inputs=[title, tags], outputs={"priority": priority, "department": department})
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"department": ["accuracy"]},
    )
    rng = np.random.default_rng(0)
    xt, xg = rng.random((24, 6), dtype=np.float32), rng.integers(0, 2, (24, 3)).astype(np.float32)
    yp = rng.random((24, 1)).astype(np.float32)
    yd = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 24)]
    logs = model.evaluate([xt, xg], {"priority": yp, "department": yd}, verbose=0, return_dict=True)
    pred = model.predict({"title": xt, "tags": xg}, verbose=0)
    assert pred["priority"].shape == (24, 1) and pred["department"].shape == (24, 4)
    # float64 references of both losses from the predictions
    z = pred["priority"].astype(np.float64)
    bce = np.mean(np.maximum(z, 0) - z * yp + np.log1p(np.exp(-np.abs(z))))
    d = pred["department"].astype(np.float64)
    lse = np.log(np.exp(d - d.max(1, keepdims=True)).sum(1)) + d.max(1)
    cce = np.mean(lse - (d * yd).sum(1))
    np.testing.assert_allclose(logs["priority_loss"], bce, rtol=1e-5)
    np.testing.assert_allclose(logs["department_loss"], cce, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], bce + 0.2 * cce, rtol=1e-5)
    acc = np.mean(d.argmax(1) == yd.argmax(1))
    np.testing.assert_allclose(logs["department_accuracy"], acc, rtol=1e-6)
    hist = model.fit([xt, xg], {"priority": yp, "department": yd}, epochs=3, batch_size=8, verbose=0)
    assert set(hist.history) == {"loss", "priority_loss", "department_loss", "department_accuracy"}
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_ops_on_keras_tensors_become_graph_nodes():
    inputs = keras.Input((3,))
    x = inputs * 2.0 + 1.0
    x = keras.ops.concatenate([x, keras.ops.square(inputs)], axis=-1)
    model = keras.Model(inputs, x)
    assert x.shape == (None, 6)
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(model.predict(v, verbose=0), np.concatenate([v * 2 + 1, v ** 2], axis=-1))


def test_lambda_and_identity_layers():
    inputs = keras.Input((4,))
    x = layers.Lambda(lambda t: keras.ops.multiply(t, 3.0))(inputs)
    x = layers.Identity()(x)
    model = keras.Model(inputs, x)
    assert x.shape == (None, 4)
    np.testing.assert_allclose(model.predict(np.ones((2, 4)), verbose=0), 3.0)
    ints = keras.Input((2,), dtype="int32")
    assert layers.Identity()(ints).dtype == "int32"


@pytest.mark.parametrize("cls,ref", [
    (layers.Add, lambda a, b: a + b), (layers.Subtract, lambda a, b: a - b), (layers.Multiply, lambda a, b: a * b),
    (layers.Average, lambda a, b: (a + b) / 2), (layers.Maximum, np.maximum), (layers.Minimum, np.minimum),
])
def test_merge_layers_against_numpy_with_gradients(backend_name, cls, ref):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    with keras.device(backend_name):
        ta, tb = keras.tensor(a, requires_grad=True), keras.tensor(b, requires_grad=True)
        out = cls()([ta, tb])
        np.testing.assert_allclose(out.numpy(), ref(a.astype(np.float64), b.astype(np.float64)), rtol=1e-6)
        with keras.GradientTape() as tape:
            tape.watch([ta, tb])
            loss = keras.ops.sum(keras.ops.square(cls()([ta, tb])))
        ga, gb = tape.gradient(loss, [ta, tb])
    # central finite differences in float64 of sum(f(a, b)^2)
    eps = 1e-4
    f = lambda a_, b_: np.sum(ref(a_, b_) ** 2)  # noqa: E731
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for (i, j) in [(0, 0), (2, 3), (3, 4)]:
        d = np.zeros_like(a64)
        d[i, j] = eps
        np.testing.assert_allclose(ga.numpy()[i, j], (f(a64 + d, b64) - f(a64 - d, b64)) / (2 * eps), rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(gb.numpy()[i, j], (f(a64, b64 + d) - f(a64, b64 - d)) / (2 * eps), rtol=2e-3, atol=2e-3)


def test_merge_shape_checks():
    with pytest.raises(ShapeError, match="compatible shapes"):
        layers.Add()([keras.Input((3,)), keras.Input((4,))])
    with pytest.raises(InvalidArgumentError, match="list of at least 2"):
        layers.Add()([keras.Input((3,))])
    with pytest.raises(ShapeError, match="matching shapes except for the concatenation axis"):
        layers.Concatenate(axis=1)([keras.Input((3, 2)), keras.Input((4, 5))])
    assert layers.Concatenate(axis=1)([keras.Input((3, 2)), keras.Input((4, 2))]).shape == (None, 7, 2)


def test_dot_layer_with_normalize_is_cosine_similarity(backend_name):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 6)).astype(np.float32), rng.normal(size=(3, 6)).astype(np.float32)
    with keras.device(backend_name):
        out = layers.Dot(axes=1, normalize=True)([keras.tensor(a), keras.tensor(b)]).numpy()
        plain = layers.Dot(axes=1)([keras.tensor(a), keras.tensor(b)]).numpy()
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(out[:, 0], cos, rtol=1e-5)
    np.testing.assert_allclose(plain[:, 0], (a.astype(np.float64) * b).sum(1), rtol=1e-5)
    x = keras.Input((5, 4))
    y = keras.Input((5, 3))
    assert layers.Dot(axes=1)([x, y]).shape == (None, 4, 3)


def test_sequential_runs_on_a_functional_graph():
    model = keras.Sequential([keras.Input((8,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    assert model._functional is not None
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]  # no InputLayer, as in Keras
    assert model.inputs[0].shape == (None, 8) and model.outputs[0].shape == (None, 2)
    x = np.random.default_rng(0).random((3, 8), dtype=np.float32)
    w1, b1, w2, b2 = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x @ w1 + b1, 0) @ w2 + b2, rtol=1e-5)
    # deferred build: the graph appears on the first call
    lazy = keras.Sequential([layers.Dense(3)])
    assert not lazy.built
    lazy(np.ones((2, 5), np.float32))
    assert lazy.built and lazy._functional is not None and lazy.inputs[0].shape == (None, 5)


def test_subclassed_model_call_without_training_argument_fits():
    class MLP(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [layers.Dense(16, activation="relu") for _ in range(2)]
            self.heads = {"out": layers.Dense(3)}

        def call(self, x):  # no training argument: Keras passes none
            for block in self.blocks:
                x = block(x)
            return self.heads["out"](x)

    model = MLP()
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0).astype(np.int32)
    hist = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert len(model.weights) == 6  # blocks in a list and a head in a dict are tracked
    assert model.count_params() == (5 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3)
    assert hist.history["loss"][-1] < 0.7 * hist.history["loss"][0]
    assert hist.history["accuracy"][-1] > 0.8


def test_call_receives_training_and_mask_only_when_named():
    seen = {}

    class Probe(layers.Layer):
        def call(self, x, training=None):
            seen["training"] = training
            return x

    class Outer(keras.Model):
        def __init__(self):
            super().__init__()
            self.probe = Probe()

        def call(self, x):
            return self.probe(x)  # training is inherited from the outer call

    m = Outer()
    m(np.ones((1, 2)), training=True)
    assert seen["training"] is True
    m(np.ones((1, 2)))
    assert seen["training"] in (None, False)


def test_custom_layer_builds_weights_on_first_call_with_add_weight():
    class Linear(layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.w) + self.b

    layer = Linear(3)
    assert not layer.built and layer.weights == []
    out = layer(keras.Input((5,)))
    assert layer.built and out.shape == (None, 3) and [w.shape for w in layer.weights] == [(5, 3), (3,)]
    assert layer.weights[0].path.endswith("/w")


def test_custom_train_step_from_the_guide():
    """Keras's "Customizing what happens in fit()" guide, with keras.GradientTape for
    tf.GradientTape: a functional subclass overriding train_step."""
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with keras.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply(gradients, trainable_vars)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    assert isinstance(model, CustomModel) and model.count_params() == 33
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x, y = rng.random((1000, 32)), rng.random((1000, 1))
    hist = model.fit(x, y, epochs=3, verbose=0)
    assert set(hist.history) == {"loss", "mae"}
    assert hist.history["loss"][2] < hist.history["loss"][0]
    # the logs are what the step's metrics say: check the last epoch's mae against the model
    assert 0 < hist.history["mae"][-1] < 1


def test_custom_train_step_with_its_own_metrics_and_no_compiled_loss():
    class CustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

        def train_step(self, data):
            x, y = data
            with keras.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = keras.losses.mean_squared_error(y, y_pred)
                loss = keras.ops.mean(loss)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(grads, self.trainable_variables)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    inputs = keras.Input(shape=(8,))
    model = CustomModel(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="adam")
    rng = np.random.default_rng(0)
    hist = model.fit(rng.random((256, 8)), rng.random((256, 1)), epochs=5, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_custom_compute_loss_override_is_used_by_fit():
    calls = []

    class M(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            calls.append(training)
            return keras.ops.mean(keras.ops.abs(keras.ops.subtract(y_pred, y)))

    inputs = keras.Input((3,))
    model = M(inputs, layers.Dense(1)(inputs))
    model.compile("sgd")
    model.fit(np.ones((8, 3)), np.zeros((8, 1)), batch_size=4, epochs=1, verbose=0)
    assert calls == [True, True]


def test_transfer_learning_recipe_freezes_the_base_and_its_batch_norm():
    """Keras's transfer-learning guide: freeze a base, train a head, unfreeze, fine-tune
    with a low learning rate; a frozen BatchNormalization runs in inference mode."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 10)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.float32)[:, None]
    base_model = keras.Sequential([keras.Input((10,)), layers.Dense(16, activation="relu"),
                                   layers.BatchNormalization()], name="base")
    base_model.trainable = False
    assert all(not l.trainable for l in base_model.layers)
    inputs = keras.Input(shape=(10,))
    features = base_model(inputs, training=False)
    outputs = layers.Dense(1)(features)
    model = keras.Model(inputs, outputs)
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6
    frozen = [w.copy() for w in base_model.get_weights()]
    model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy()])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(frozen, base_model.get_weights()):
        np.testing.assert_array_equal(a, b)  # kernel, bias, gamma, beta and the moving statistics
    base_model.trainable = True
    assert len(model.trainable_weights) == 6
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy()])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    after = base_model.get_weights()
    assert not np.allclose(frozen[0], after[0])  # the base trains now
    # training=False was recorded for the base: its BatchNormalization still uses the
    # moving statistics, so they do not move even while fine-tuning (as in Keras).
    np.testing.assert_array_equal(frozen[4], after[4])


def test_frozen_batch_norm_runs_in_inference_mode_even_with_training_true():
    bn = layers.BatchNormalization()
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(32, 4)).astype(np.float32)
    bn(x, training=True)
    bn.trainable = False
    mean = bn.moving_mean.numpy().copy()
    out = bn(x, training=True).numpy()
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    ref = (x - mean) / np.sqrt(bn.moving_variance.numpy() + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_dtypes_at_the_layer_boundary():
    # float64 host data is cast to the layer dtype; integers reach layers that keep them
    dense = layers.Dense(2)
    assert dense(np.ones((1, 3), np.float64)).dtype == "float32"
    assert dense(np.ones((1, 3), np.int64)).dtype == "float32"  # Dense casts integer inputs
    ints = keras.Input((4,), dtype="int32")
    assert ints.dtype == "int32"
    assert layers.Identity()(np.arange(4).reshape(1, 4)).dtype == "int32"

    class Keep(layers.Layer):
        def call(self, x):
            return x

    assert Keep()(np.arange(3).reshape(1, 3)).dtype == "int32"  # Keras's autocast leaves ints alone
    assert Keep()(np.ones((1, 3), np.float64)).dtype == "float32"


def _roundtrip(model):
    cfg = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    return keras.saving.deserialize_keras_object(cfg), cfg


def test_functional_config_round_trip_rebuilds_the_same_graph():
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    shared = layers.Dense(3, name="shared")
    h = layers.concatenate([shared(a), layers.Dense(3)(b)], name="joined")
    h = layers.Dropout(0.1)(h)
    out = {"y": layers.Dense(1, name="y")(h), "z": layers.Add(name="z")([shared(a), shared(a)])}
    model = keras.Model([a, b], out, name="two_heads")
    clone, cfg = _roundtrip(model)
    assert cfg["class_name"] == "Functional" and cfg["config"]["name"] == "two_heads"
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert clone.count_params() == model.count_params()
    clone.set_weights(model.get_weights())
    xa, xb = np.ones((2, 4), np.float32), np.ones((2, 2), np.float32)
    pa, pb = model.predict([xa, xb], verbose=0), clone.predict([xa, xb], verbose=0)
    for k in ("y", "z"):
        np.testing.assert_allclose(pa[k], pb[k], rtol=1e-6)


def test_sequential_config_round_trip_in_keras_layout():
    model = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu"), layers.Dense(1)], name="seq")
    clone, cfg = _roundtrip(model)
    assert cfg["class_name"] == "Sequential" and cfg["config"]["layers"][0]["class_name"] == "InputLayer"
    assert cfg["config"]["layers"][1]["module"] == "keras.layers"
    clone.set_weights(model.get_weights())
    x = np.ones((3, 5), np.float32)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_registered_custom_layer_round_trips_and_unregistered_fails_clearly():
    @keras.saving.register_serializable(package="test_functional")
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Scale(3.0)(layers.Dense(2)(inputs)))
    clone, cfg = _roundtrip(model)
    assert any(l["registered_name"] == "test_functional>Scale" for l in cfg["config"]["layers"])
    assert isinstance(clone.layers[-1], Scale) and clone.layers[-1].factor == 3.0

    class Unregistered(layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((3,))
    cfg = keras.saving.serialize_keras_object(keras.Model(inputs, Unregistered()(inputs)))
    with pytest.raises(SerializationError, match="register_serializable"):
        keras.saving.deserialize_keras_object(json.loads(json.dumps(cfg)))


def test_every_builtin_layer_config_round_trips():
    """Each public layer class, made with its defaults (or the arguments below), goes
    through get_config -> JSON -> from_config to an equal config."""
    needs = {"Dense": (4,), "Activation": ("relu",), "Dropout": (0.5,), "SpatialDropout1D": (0.5,),
             "SpatialDropout2D": (0.5,), "SpatialDropout3D": (0.5,), "GaussianNoise": (0.1,),
             "GaussianDropout": (0.1,), "AlphaDropout": (0.1,), "Reshape": ((2, 2),), "Lambda": (None,), "Dot": (1,),
             "InputLayer": ((3,),), "Conv2D": (2, 3), "Conv1D": (2, 3), "Embedding": (10, 3),
             "SimpleRNN": (3,), "LSTM": (3,), "GRU": (3,), "MaxPooling2D": (), "AveragePooling2D": (2,),
             "AveragePooling1D": (2,), "AveragePooling3D": (2,),
             "Bidirectional": lambda: (keras.layers.LSTM(2),), "RNN": lambda: (keras.layers.LSTMCell(2),),
             "SimpleRNNCell": (2,), "LSTMCell": (2,), "GRUCell": (2,), "RepeatVector": (3,),
             "StackedRNNCells": lambda: ([keras.layers.LSTMCell(2), keras.layers.GRUCell(3)],),
             "TimeDistributed": lambda: (keras.layers.Dense(2),)}
    # the convolutional family and the image preprocessing layers (tests/test_conv_layers.py)
    needs.update({"Conv3D": (2, 3), "Conv1DTranspose": (2, 3), "Conv2DTranspose": (2, 3), "DepthwiseConv1D": (3,),
                  "DepthwiseConv2D": (3,), "SeparableConv1D": (2, 3), "SeparableConv2D": (2, 3), "Rescaling": (0.5,),
                  "Resizing": (4, 5), "CenterCrop": (4, 5), "RandomCrop": (4, 5), "RandomTranslation": (0.1, 0.2),
                  "RandomRotation": (0.1,), "RandomZoom": (0.1,), "RandomContrast": (0.2,)})
    # the layers issue 15 added (tests/test_keras_surface_more.py)
    needs.update({"Conv3DTranspose": (2, 3), "EinsumDense": ("ab,bc->ac", 3), "MultiHeadAttention": (2, 4),
                  "GroupQueryAttention": (2, 2, 1), "SpectralNormalization": lambda: (keras.layers.Dense(2),),
                  "CategoryEncoding": (4,), "Discretization": ([0.0, 1.0],), "Permute": ((2, 1),),
                  **{f"Adaptive{k}Pooling{r}D": (2,) for k in ("Average", "Max") for r in (1, 2, 3)},
                  **{n: (0.2,) for n in ("RandomBrightness", "RandomColorDegeneration", "RandomSaturation", "RandomHue",
                                         "RandomSharpness")},
                  "RandomPosterization": (4,), "Pipeline": lambda: ([keras.layers.RandomInvert()],)})
    skip = {"Layer", "Lambda", "InputSpec", "KerasTensor", "Wrapper"}
    checked = 0
    seen = set()
    for name in keras.layers.__all__:
        cls = getattr(keras.layers, name)
        if not isinstance(cls, type) or not issubclass(cls, keras.layers.Layer) or name in skip or cls in seen:
            continue  # (an alias such as MaxPool2D is the class checked under its first name)
        seen.add(cls)
        args = needs.get(name, needs.get(cls.__name__, ()))
        layer = cls(*(args() if callable(args) else args))
        cfg = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        clone = keras.saving.deserialize_keras_object(cfg)
        assert type(clone) is cls
        assert clone.get_config() == layer.get_config(), name
        checked += 1
    assert checked >= 25


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_functional_model_on_the_gpu_matches_the_cpu():
    rng = np.random.default_rng(0)
    x = rng.random((16, 6), dtype=np.float32)
    y = rng.integers(0, 3, 16).astype(np.int32)
    results = []
    for device in ("cpu", "gpu"):
        keras.utils.set_random_seed(7)
        with keras.device(device):
            a = keras.Input((6,))
            h = layers.Dense(8, activation="relu")(a)
            out = layers.Dense(3)(layers.add([h, layers.Dense(8)(a)]))
            model = keras.Model(a, out)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        results.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-5)


def test_guide_shared_embedding_between_two_inputs():
    """The guide's shared-layer example: one Embedding encodes two text inputs."""
    shared_embedding = layers.Embedding(1000, 128)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    assert encoded_input_a.shape == (None, None, 128)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert model.count_params() == 128_000 and len(shared_embedding._inbound_nodes) == 2
    a = np.array([[1, 2, 3]], np.int32)
    b = np.array([[3, 2, 1, 0, 5]], np.int32)
    ea, eb = model.predict([a, b], verbose=0)
    table = shared_embedding.get_weights()[0]
    np.testing.assert_array_equal(ea[0], table[[1, 2, 3]])
    np.testing.assert_array_equal(eb[0], table[[3, 2, 1, 0, 5]])


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_subclassed_model_made_on_the_gpu_builds_its_weights_there():
    """Sublayers of a subclassed model create their weights on its first call, outside the
    device context it was made in: they follow the model's device."""
    class M(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1 = layers.Dense(16, activation="relu")
            self.d2 = layers.Dense(3)

        def call(self, x):
            return self.d2(self.d1(x))

    with keras.device("gpu"):
        model = M()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    model.fit(rng.random((32, 5), dtype=np.float32), rng.integers(0, 3, 32), epochs=1, batch_size=16, verbose=0)
    assert {w.device for w in model.weights} == {"gpu"}
