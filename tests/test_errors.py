"""Bad input raises a clear `ember.errors` exception before any work is done.

Every error is an `EmberError` that is also a `ValueError` or `TypeError` (what a Keras
user catches), its message names what was wrong, and a failed call leaves the model's
weights untouched. A fuzz test throws malformed arguments at the public API and checks
that no pyo3 `PanicException` (a `BaseException`) ever escapes.
"""

from __future__ import annotations

import collections
import copy
import inspect
import itertools
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember.errors import EmberError, InvalidArgumentError, NotBuiltError, ShapeError


def model3(loss="sparse_categorical_crossentropy", compile=True):
    model = em.Sequential([em.Input((4,)), em.layers.Dense(5, activation="relu"), em.layers.Dense(3, activation="softmax")])
    if compile:
        model.compile(em.optimizers.SGD(0.1), loss)
    return model


X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
Y = np.arange(10) % 3


def assert_clear(exc_info, *words, types=(ValueError,)):
    e = exc_info.value
    assert isinstance(e, EmberError), type(e)
    assert isinstance(e, types), type(e).__mro__
    msg = str(e)
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in {msg!r}"


class Unchanged:
    """Context manager asserting the model's weights (and optimizer step) do not change."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.before = [w.copy() for w in self.model.get_weights()]
        self.it = getattr(self.model.optimizer, "iterations", None)
        return self

    def __exit__(self, *exc):
        after = self.model.get_weights()
        assert len(after) == len(self.before)
        for a, b in zip(self.before, after):
            np.testing.assert_array_equal(a, b)
        if self.it is not None:
            assert self.model.optimizer.iterations == self.it
        return False


def test_hierarchy():
    assert issubclass(em.errors.ShapeError, ValueError)
    assert issubclass(em.errors.InvalidArgumentError, ValueError)
    assert issubclass(em.errors.DTypeError, TypeError)
    for name in em.errors.__all__:
        cls = getattr(em.errors, name)
        # errors derive from EmberError; warning categories (SoftwareRendererWarning) from Warning
        assert issubclass(cls, em.errors.EmberError) or (issubclass(cls, Warning) and name.endswith("Warning"))
    assert issubclass(em.errors.EmberError, Exception)


# ---------------------------------------------------------------------------------------------
# data given to fit / evaluate / predict
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_mismatched_x_y_lengths(method):
    model = model3()
    with Unchanged(model), pytest.raises(ShapeError) as e:
        kwargs = {"verbose": 0} if method in ("fit", "evaluate") else {}
        getattr(model, method)(X, Y[:9], **kwargs)
    assert_clear(e, "10", "9")


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "train_on_batch"])
def test_wrong_feature_count(method):
    model = model3()
    x = np.zeros((10, 5), np.float32)
    with Unchanged(model), pytest.raises(ShapeError) as e:
        if method == "predict":
            model.predict(x, verbose=0)
        elif method == "train_on_batch":
            model.train_on_batch(x, Y)
        else:
            getattr(model, method)(x, Y, verbose=0)
    assert_clear(e, "(None, 4)", "5")


@pytest.mark.parametrize("shape", [(10, 4, 1), (4,), (10, 2, 2), (10,)])
def test_predict_on_wrong_shape(shape):
    model = model3()
    with pytest.raises(ShapeError) as e:
        model.predict(np.zeros(shape, np.float32), verbose=0)
    assert_clear(e, "shape")


def test_calling_model_on_wrong_shape():
    model = model3()
    with pytest.raises(ShapeError):
        model(np.zeros((2, 7), np.float32))
    layer = model.layers[0]
    with pytest.raises(ShapeError) as e:
        layer(np.zeros((2, 7), np.float32))
    assert_clear(e, "(2, 7)")


def test_wrong_target_shape_for_loss():
    for loss, y in (("mse", np.zeros((10, 4), np.float32)), ("categorical_crossentropy", np.zeros((10, 2), np.float32))):
        model = model3(loss)
        with Unchanged(model), pytest.raises(ShapeError) as e:
            model.fit(X, y, verbose=0)
        assert_clear(e, "shape")


def test_validation_data_problems_raise_before_training():
    model = model3()
    with Unchanged(model):
        with pytest.raises(ShapeError):
            model.fit(X, Y, validation_data=(np.zeros((3, 5), np.float32), Y[:3]), verbose=0)
        with pytest.raises(ShapeError):
            model.fit(X, Y, validation_data=(X, Y[:3]), verbose=0)
        with pytest.raises(InvalidArgumentError):
            model.fit(X, Y, validation_data=(X,), verbose=0)
        with pytest.raises(InvalidArgumentError):
            model.fit(X, Y, validation_data=(X, np.full(10, 9)), verbose=0)
        with pytest.raises(InvalidArgumentError):
            model.fit(X, Y, validation_data=(np.full((10, 4), np.nan), Y), verbose=0)


# ---------------------------------------------------------------------------------------------
# set_weights
# ---------------------------------------------------------------------------------------------

def test_set_weights_wrong_count():
    model = model3()
    w = model.get_weights()
    for bad in (w[:-1], w + [np.zeros(3)], []):
        with Unchanged(model), pytest.raises(ShapeError) as e:
            model.set_weights(bad)
        assert_clear(e, "4", str(len(bad)))


def test_set_weights_wrong_shape_changes_nothing():
    model = model3()
    w = model.get_weights()
    bad = [np.ones_like(a) for a in w]
    bad[-1] = np.ones((4,))  # only the LAST array is wrong: the earlier ones must not be written
    with Unchanged(model), pytest.raises(ShapeError) as e:
        model.set_weights(bad)
    assert_clear(e, "(3,)", "(4,)")
    bad = [np.ones_like(a) for a in w]
    bad[0] = bad[0].T
    with Unchanged(model), pytest.raises(ShapeError):
        model.set_weights(bad)


def test_set_weights_non_finite():
    model = model3()
    w = model.get_weights()
    w[2] = np.full_like(w[2], np.nan)
    with Unchanged(model), pytest.raises(InvalidArgumentError) as e:
        model.set_weights(w)
    assert_clear(e, "non-finite")


def test_weights_of_unbuilt_model():
    model = em.Sequential([em.layers.Dense(3)])
    with pytest.raises(NotBuiltError) as e:
        model.get_weights()
    assert_clear(e, "build")
    with pytest.raises(NotBuiltError):
        model.set_weights([np.zeros((2, 3)), np.zeros(3)])
    with pytest.raises(NotBuiltError):
        model.count_params()


# ---------------------------------------------------------------------------------------------
# unknown names list the valid ones
# ---------------------------------------------------------------------------------------------

def test_unknown_loss():
    with pytest.raises(InvalidArgumentError) as e:
        model3(compile=False).compile("sgd", "mean_sqared_error")
    assert_clear(e, "mean_sqared_error", "mean_squared_error", "sparse_categorical_crossentropy", "binary_crossentropy")
    with pytest.raises(InvalidArgumentError):
        em.losses.get("nope")


def test_unknown_optimizer():
    with pytest.raises(InvalidArgumentError) as e:
        model3(compile=False).compile("adamm", "mse")
    assert_clear(e, "adamm", "adam", "sgd", "rmsprop")


def test_unknown_activation():
    with pytest.raises(InvalidArgumentError) as e:
        em.layers.Dense(3, activation="rellu")
    assert_clear(e, "rellu", "relu", "sigmoid", "tanh", "softmax")
    with pytest.raises(InvalidArgumentError):
        em.layers.Activation("swishy")
    with pytest.raises(InvalidArgumentError):
        em.activations.get(42)


def test_unknown_metric():
    with pytest.raises(InvalidArgumentError) as e:
        model3(compile=False).compile("sgd", "mse", metrics=["accuracyy"])
    assert_clear(e, "accuracyy", "accuracy", "mae")


def test_unknown_initializer():
    with pytest.raises(InvalidArgumentError) as e:
        em.layers.Dense(3, kernel_initializer="glorot")
    assert_clear(e, "glorot", "glorot_uniform", "he_normal", "zeros")
    with pytest.raises(InvalidArgumentError):
        em.layers.Dense(3, bias_initializer="zero")


# ---------------------------------------------------------------------------------------------
# out-of-range configuration values
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("units", [0, -1, -100, 2.5, "3", None, True])
def test_bad_units(units):
    with pytest.raises((InvalidArgumentError, em.errors.DTypeError)) as e:
        em.layers.Dense(units)
    assert_clear(e, "units", types=(ValueError, TypeError))


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, float("nan"), "0.5", None])
def test_bad_dropout_rate(rate):
    with pytest.raises((InvalidArgumentError, em.errors.DTypeError)) as e:
        em.layers.Dropout(rate)
    assert_clear(e, "rate", types=(ValueError, TypeError))


@pytest.mark.parametrize("cls", [em.optimizers.SGD, em.optimizers.Adam, em.optimizers.RMSprop])
@pytest.mark.parametrize("lr", [-0.1, -1e-9, float("nan"), float("inf"), "0.1"])
def test_bad_learning_rate(cls, lr):
    with pytest.raises(InvalidArgumentError) as e:
        cls(learning_rate=lr)
    assert_clear(e, "learning_rate")


def test_bad_learning_rate_assignment():
    opt = em.optimizers.SGD(0.1)
    with pytest.raises(InvalidArgumentError):
        opt.learning_rate = -1.0
    assert opt.learning_rate == pytest.approx(0.1)


@pytest.mark.parametrize("momentum", [-0.5, 1.5, float("nan"), "0.9"])
def test_bad_momentum(momentum):
    with pytest.raises(InvalidArgumentError) as e:
        em.optimizers.SGD(momentum=momentum)
    assert_clear(e, "momentum")
    with pytest.raises(InvalidArgumentError):
        em.optimizers.RMSprop(momentum=momentum)


@pytest.mark.parametrize("kwargs", [{"beta_1": 1.0}, {"beta_1": -0.1}, {"beta_2": 1.5}, {"epsilon": -1e-7}])
def test_bad_adam_hyperparameters(kwargs):
    with pytest.raises(InvalidArgumentError) as e:
        em.optimizers.Adam(**kwargs)
    assert_clear(e, next(iter(kwargs)))


def test_bad_fit_arguments():
    model = model3()
    with Unchanged(model):
        for kwargs, word in (({"batch_size": 0}, "batch_size"), ({"batch_size": -4}, "batch_size"),
                             ({"batch_size": 2.5}, "batch_size"), ({"epochs": -1}, "epochs"),
                             ({"epochs": 1.5}, "epochs"), ({"validation_split": 1.0}, "validation_split"),
                             ({"validation_split": -0.1}, "validation_split"), ({"verbose": 5}, "verbose")):
            with pytest.raises(InvalidArgumentError) as e:
                model.fit(X, Y, **{"verbose": 0, **kwargs})
            assert_clear(e, word)


def test_validation_split_too_small_to_split():
    model = model3()
    with Unchanged(model), pytest.raises(InvalidArgumentError) as e:
        model.fit(X[:1], Y[:1], validation_split=0.5, verbose=0)
    assert_clear(e, "validation_split")


# ---------------------------------------------------------------------------------------------
# labels and non-finite values
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [3, -1, 100])
@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_sparse_labels_out_of_range(bad, method):
    model = model3()
    y = Y.copy()
    y[-1] = bad  # in the last batch: no earlier batch may have been applied
    with Unchanged(model), pytest.raises(InvalidArgumentError) as e:
        if method == "train_on_batch":
            model.train_on_batch(X, y)
        else:
            getattr(model, method)(X, y, batch_size=2, verbose=0)
    assert_clear(e, str(bad), "3")


def test_sparse_labels_out_of_range_in_loss_function():
    with pytest.raises(InvalidArgumentError) as e:
        em.losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3, np.float32))
    assert_clear(e, "3")
    with pytest.raises(InvalidArgumentError):
        em.losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, -1]), np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("where", ["x_nan", "x_inf", "y_nan", "y_inf", "x_neg_inf"])
@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_non_finite_inputs(where, method):
    model = model3("mse")
    x = X.copy()
    y = np.zeros((10, 3), np.float32)
    value = {"nan": np.nan, "inf": np.inf}.get(where.split("_")[-1], -np.inf)
    if where.startswith("x"):
        x[-1, 2] = value
    else:
        y[-1, 1] = value
    with Unchanged(model), pytest.raises(InvalidArgumentError) as e:
        if method == "train_on_batch":
            model.train_on_batch(x, y)
        else:
            getattr(model, method)(x, y, batch_size=2, verbose=0)
    assert_clear(e, "non-finite", "x" if where.startswith("x") else "y")


def test_non_finite_predict():
    model = model3()
    with pytest.raises(InvalidArgumentError) as e:
        model.predict(np.full((2, 4), np.nan), verbose=0)
    assert_clear(e, "non-finite")


def test_non_numeric_data():
    model = model3()
    with Unchanged(model):
        with pytest.raises(InvalidArgumentError):
            model.fit(np.array([["a"] * 4] * 10), Y, verbose=0)
        with pytest.raises(InvalidArgumentError):
            model.predict([[1, 2], [3]], verbose=0)
        with pytest.raises(InvalidArgumentError):
            model.fit(X, np.array(["cat"] * 10), verbose=0)


def test_to_categorical_bad_labels():
    with pytest.raises(InvalidArgumentError):
        em.utils.to_categorical([-1, 2])
    with pytest.raises(InvalidArgumentError):
        em.utils.to_categorical([3], num_classes=2)
    with pytest.raises(InvalidArgumentError):
        em.utils.to_categorical([0.5, 1])


# ---------------------------------------------------------------------------------------------
# order of calls
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_training_before_compile(method):
    model = model3(compile=False)
    with Unchanged(model), pytest.raises(InvalidArgumentError) as e:
        kwargs = {"verbose": 0} if method in ("fit", "evaluate") else {}
        getattr(model, method)(X, Y, **kwargs)
    assert_clear(e, "compile")


def test_predict_before_compile_is_fine():
    assert model3(compile=False).predict(X, verbose=0).shape == (10, 3)


def test_input_must_come_first():
    model = em.Sequential([em.layers.Dense(2, input_shape=(3,))])
    with pytest.raises(InvalidArgumentError):
        model.add(em.Input((3,)))


def test_sequential_rejects_non_layers():
    with pytest.raises(InvalidArgumentError):
        em.Sequential([em.layers.Dense(2), "relu"])


def test_unexpected_keyword_argument():
    with pytest.raises(InvalidArgumentError) as e:
        em.layers.Dense(3, activaton="relu")
    assert_clear(e, "activaton")
    with pytest.raises(InvalidArgumentError):
        em.optimizers.Adam(lr=0.1)


def test_optimizer_gradient_shape_mismatch():
    v = em.Variable(np.zeros(2, np.float32))
    opt = em.optimizers.Adam()
    with pytest.raises(ShapeError):
        opt.apply_gradients([(em.tensor(np.zeros(3, np.float32)), v)])
    np.testing.assert_array_equal(v.numpy(), 0.0)
    assert opt.iterations == 0


@pytest.mark.parametrize("call", [
    lambda: em.metrics.AUC(2**40),
    lambda: em.metrics.PrecisionAtRecall(0.5, num_thresholds=2**40),
    lambda: em.metrics.MeanIoU(2**40),
    lambda: em.metrics.IoU(2**40, [0]),
    lambda: em.ops.hamming(2**40),
    lambda: em.ops.linspace(0.0, 1.0, 2**40),
    lambda: em.ops.array_split(np.ones(4, np.float32), 2**40),
    lambda: em.ops.split(np.ones(0, np.float32), 2**40),
    lambda: em.ops.diff(np.ones(4, np.float32), 2**40),
    lambda: em.utils.timeseries_dataset_from_array(np.ones(10), None, 2**40),
], ids=["AUC", "PrecisionAtRecall", "MeanIoU", "IoU", "hamming", "linspace", "array_split", "split", "diff",
        "timeseries"])
def test_huge_counts_are_refused_at_once(call):
    """A count of 2**40 (thresholds, classes, a window, sections) is refused, or yields an
    empty result, at once: never a Python loop or an allocation of that size."""
    t0 = time.perf_counter()
    try:
        call()
    except (InvalidArgumentError, em.errors.OutOfMemoryError):
        pass
    assert time.perf_counter() - t0 < 1.0


# ---------------------------------------------------------------------------------------------
# fuzz: no PanicException ever escapes
# ---------------------------------------------------------------------------------------------

BAD_VALUES = [
    None, 0, -1, 1, 2**40, -(2**63), 2.5, float("nan"), float("inf"), -float("inf"), True, "", "relu", "abc",
    b"\x00", [], [[]], [1, [2]], (3, -4), (0,), (2, 0, 3), {}, {"a": 1}, object(),
    np.zeros(0, np.float32), np.zeros((0, 4), np.float32), np.zeros((2, 0), np.float32),
    np.full((2, 4), np.nan, np.float32), np.ones((3, 5), np.float64), np.ones((2, 4), np.int64) * 2**40,
    np.ones((2, 4), np.uint8), np.ones((2, 4), np.complex64), np.array(["x", "y"]), np.ones((1, 1, 1, 1, 1, 1, 1, 1), np.float32),
    np.ones((2, 4), np.float16), np.array([True, False]), np.float32(3.0), np.ones((2, 4), np.float32)[:, ::2],
]


def _fuzz_targets():
    """(name, callable taking one bad value) pairs covering the public API."""

    def built():
        return model3()

    def compiled(loss="mse", metrics=None):
        m = model3(compile=False)
        m.compile("adam", loss, metrics=metrics)
        return m

    t = lambda: em.tensor(np.ones((2, 4), np.float32))  # noqa: E731
    targets = {
        "Dense(units)": lambda v: em.layers.Dense(v),
        "Dense(activation)": lambda v: em.layers.Dense(2, activation=v),
        "Dense(kernel_initializer)": lambda v: em.layers.Dense(2, kernel_initializer=v)(np.ones((2, 3), np.float32)),
        "Dense call": lambda v: em.layers.Dense(2)(v),
        "Dropout(rate)": lambda v: em.layers.Dropout(v),
        "Dropout call": lambda v: em.layers.Dropout(0.5)(v, training=True),
        "Dropout(seed)": lambda v: em.layers.Dropout(0.5, seed=v)(np.ones((2, 2), np.float32), training=True),
        "Flatten call": lambda v: em.layers.Flatten()(v),
        "Reshape(target)": lambda v: em.Sequential([em.Input((4,)), em.layers.Reshape(v)]).predict(np.ones((2, 4)), verbose=0),
        "Reshape call": lambda v: em.layers.Reshape((2, 2))(v),
        "Activation(name)": lambda v: em.layers.Activation(v)(np.ones((2, 2), np.float32)),
        "Input(shape)": lambda v: em.Sequential([em.Input(v), em.layers.Dense(2)]).predict(np.ones((2, 4)), verbose=0),
        "input_shape=": lambda v: em.Sequential([em.layers.Dense(2, input_shape=v)]),
        "Sequential(layers)": lambda v: em.Sequential(v),
        "predict(x)": lambda v: built().predict(v, verbose=0),
        "predict(batch_size)": lambda v: built().predict(X, batch_size=v, verbose=0),
        "call(x)": lambda v: built()(v),
        "fit(x)": lambda v: compiled().fit(v, np.zeros((10, 3)), verbose=0),
        "fit(y)": lambda v: compiled().fit(X, v, verbose=0),
        "fit(y) sparse": lambda v: compiled("sparse_categorical_crossentropy").fit(X[:2], v, verbose=0),
        "fit(y) cce": lambda v: compiled("categorical_crossentropy").fit(X[:2], v, verbose=0),
        "fit(y) bce": lambda v: compiled("binary_crossentropy", ["accuracy"]).fit(X[:2], v, verbose=0),
        # a huge epoch count is a valid (long) request: cap it so the fuzz stays quick
        "fit(epochs)": lambda v: compiled().fit(X, np.zeros((10, 3)), epochs=v, verbose=0,
                                                steps_per_epoch=1, callbacks=[_StopAfterFirstEpoch()]),
        "fit(batch_size)": lambda v: compiled().fit(X, np.zeros((10, 3)), batch_size=v, verbose=0),
        "fit(validation_split)": lambda v: compiled().fit(X, np.zeros((10, 3)), validation_split=v, verbose=0),
        "fit(validation_data)": lambda v: compiled().fit(X, np.zeros((10, 3)), validation_data=v, verbose=0),
        "fit(sample_weight)": lambda v: compiled().fit(X, np.zeros((10, 3)), sample_weight=v, verbose=0),
        "fit(callbacks)": lambda v: compiled().fit(X, np.zeros((10, 3)), callbacks=v, verbose=0),
        "fit(verbose)": lambda v: compiled().fit(X, np.zeros((10, 3)), verbose=v),
        "evaluate(x)": lambda v: compiled().evaluate(v, np.zeros((2, 3)), verbose=0),
        "train_on_batch(y)": lambda v: compiled("sparse_categorical_crossentropy").train_on_batch(X[:2], v),
        "set_weights": lambda v: built().set_weights(v),
        "set_weights[0]": lambda v: built().set_weights([v] + built().get_weights()[1:]),
        "compile(optimizer)": lambda v: model3(compile=False).compile(v, "mse"),
        "compile(loss)": lambda v: model3(compile=False).compile("sgd", v),
        "compile(metrics)": lambda v: model3(compile=False).compile("sgd", "mse", metrics=v),
        "SGD(learning_rate)": lambda v: em.optimizers.SGD(learning_rate=v),
        "SGD(momentum)": lambda v: em.optimizers.SGD(momentum=v),
        "SGD(clipnorm)": lambda v: em.optimizers.SGD(clipnorm=v),
        "Adam(beta_1)": lambda v: em.optimizers.Adam(beta_1=v),
        "Adam(epsilon)": lambda v: em.optimizers.Adam(epsilon=v),
        "RMSprop(rho)": lambda v: em.optimizers.RMSprop(rho=v),
        "apply_gradients": lambda v: em.optimizers.Adam().apply_gradients([(v, em.Variable(np.zeros((2, 4), np.float32)))]),
        "apply_gradients pairs": lambda v: em.optimizers.SGD().apply_gradients(v),
        "losses mse": lambda v: em.losses.MeanSquaredError()(v, np.ones((2, 4), np.float32)),
        "losses cce pred": lambda v: em.losses.CategoricalCrossentropy()(np.ones((2, 4), np.float32), v),
        "losses scce": lambda v: em.losses.SparseCategoricalCrossentropy()(v, np.ones((2, 4), np.float32)),
        "losses scce logits": lambda v: em.losses.SparseCategoricalCrossentropy(from_logits=True)(v, np.ones((2, 4), np.float32)),
        "losses bce logits": lambda v: em.losses.BinaryCrossentropy(from_logits=True)(v, np.ones((2, 4), np.float32)),
        "metrics scce acc": lambda v: em.metrics.SparseCategoricalAccuracy().update_state(v, np.ones((2, 4), np.float32)),
        "metrics get": lambda v: em.metrics.get(v),
        "initializers get": lambda v: em.initializers.get(v)((2, 3)),
        "initializer shape": lambda v: em.initializers.GlorotUniform()(v),
        "to_categorical": lambda v: em.utils.to_categorical(v),
        "to_categorical(num_classes)": lambda v: em.utils.to_categorical([0, 1], v),
        "set_random_seed": lambda v: em.utils.set_random_seed(v),
        "tensor": lambda v: em.tensor(v),
        "Variable": lambda v: em.Variable(v),
        "Variable.assign": lambda v: em.Variable(np.zeros((2, 4), np.float32)).assign(v),
        "ops.matmul": lambda v: em.ops.matmul(t(), v),
        "ops.add": lambda v: em.ops.add(t(), v),
        "ops.reshape": lambda v: em.ops.reshape(t(), v),
        "ops.sum axis": lambda v: em.ops.sum(t(), axis=v),
        "ops.transpose": lambda v: em.ops.transpose(t(), v),
        "ops.take": lambda v: em.ops.take(t(), v),
        "ops.one_hot": lambda v: em.ops.one_hot(v, 3),
        "ops.one_hot classes": lambda v: em.ops.one_hot(em.tensor(np.array([0, 1])), v),
        "ops.softmax axis": lambda v: em.ops.softmax(t(), v),
        "ops.softmax_cross_entropy": lambda v: em.ops.softmax_cross_entropy(t(), v),
        "ops.dense": lambda v: em.ops.dense(t(), v),
        "ops.clip": lambda v: em.ops.clip(t(), v, 1.0),
        "ops.getitem": lambda v: t()[v],
        "ops.concatenate": lambda v: em.ops.concatenate([t(), v]),
        "ops.broadcast_to": lambda v: em.ops.broadcast_to(t(), v),
        "random.uniform": lambda v: em.random.uniform(v),
        "random.dropout_mask": lambda v: em.random.dropout_mask((2, 2), v),
        "GradientTape.gradient": lambda v: _tape_gradient(v),
        "EarlyStopping(patience)": lambda v: em.callbacks.EarlyStopping(patience=v),
    }
    return targets


class _StopAfterFirstEpoch(em.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _tape_gradient(v):
    w = em.Variable(np.ones((2,), np.float32))
    with em.GradientTape() as tape:
        y = em.ops.sum(w * w)
    return tape.gradient(y, v)


FUZZ_TARGETS = _fuzz_targets()


@pytest.mark.parametrize("name", sorted(FUZZ_TARGETS))
def test_fuzz_no_panic_escapes(name):
    fn = FUZZ_TARGETS[name]
    leaks = []
    for value in BAD_VALUES:
        try:
            fn(value)
        except Exception:
            pass  # any ordinary exception is acceptable here; the clear-error tests above check messages
        except BaseException as e:  # noqa: B036 - a pyo3 PanicException derives from BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            leaks.append(f"{name}({_short(value)}): {type(e).__module__}.{type(e).__name__}: {e}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("name", sorted(FUZZ_TARGETS))
def test_fuzz_errors_are_ember_errors(name):
    """Whatever the fuzz corpus makes a public function raise is an EmberError (so also a
    ValueError / TypeError), never a bare IndexError, AttributeError, OverflowError or a
    numpy message from deep inside. Asking for 2**40 classes is refused by the allocator
    with OutOfMemoryError (an EmberError and a MemoryError), on the CPU as on the GPU."""
    stray = []
    for value in BAD_VALUES:
        try:
            FUZZ_TARGETS[name](value)
        except EmberError as e:
            assert isinstance(e, (ValueError, TypeError, RuntimeError, MemoryError))
        except MemoryError:
            pass  # numpy refusing a 4 TiB host array in to_categorical (utils builds it with numpy)
        except Exception as e:  # noqa: BLE001
            stray.append(f"{name}({_short(value)}): {type(e).__name__}: {str(e)[:120]}")
        except BaseException as e:  # noqa: B036
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            stray.append(f"{name}({_short(value)}): PANIC {type(e).__name__}: {e}")
    assert not stray, f"{len(stray)} non-Ember errors:\n" + "\n".join(stray)


def _short(v) -> str:
    if isinstance(v, np.ndarray):
        return f"ndarray{v.shape}:{v.dtype}"
    r = repr(v)
    return r if len(r) < 40 else r[:37] + "..."


def test_fuzz_random_shapes_through_core_ops():
    """Random shape pairs through binary ops, matmul and reductions: either a result or
    an EmberError, never a panic."""
    rng = np.random.default_rng(0)
    leaks = []
    for _ in range(300):
        sa = tuple(int(d) for d in rng.integers(0, 4, size=rng.integers(0, 4)))
        sb = tuple(int(d) for d in rng.integers(0, 4, size=rng.integers(0, 4)))
        a = em.tensor(rng.normal(size=sa).astype(np.float32))
        b = em.tensor(rng.normal(size=sb).astype(np.float32))
        for op in (em.ops.add, em.ops.multiply, em.ops.matmul, em.ops.maximum,
                   lambda p, q: em.ops.sum(p, axis=len(q.shape) - 1),
                   lambda p, q: em.ops.reshape(p, q.shape),
                   lambda p, q: em.ops.softmax_cross_entropy(p, q)):
            try:
                op(a, b)
            except EmberError:
                pass
            except Exception as e:  # noqa: BLE001
                leaks.append(f"{sa} {sb} {getattr(op, '__name__', 'lambda')}: {type(e).__name__}: {e}")
            except BaseException as e:  # noqa: B036
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                leaks.append(f"{sa} {sb} {getattr(op, '__name__', 'lambda')}: PANIC {type(e).__name__}: {e}")
    assert not leaks, "\n".join(leaks[:40])


# ---------------------------------------------------------------------------------------------
# fuzz: every public function, class and method
# ---------------------------------------------------------------------------------------------

FUZZ_MODULES = ("", "layers", "losses", "metrics", "optimizers", "activations", "initializers", "regularizers",
                "callbacks", "ops", "utils", "random", "saving", "models", "tree", "config", "errors")
# Not fuzzed: the data sets read files that may be absent; the errors are classes to raise.
FUZZ_SKIP = {"datasets", "errors"}
CALL_LIMIT_S = 5.0  # no single call may take longer than this


def _good_arg():
    return np.ones((2, 4), np.float32)


def _fuzz_slots(fn) -> int:
    """How many positional slots to fuzz: the required ones, else 1 if ``fn`` takes an
    optional positional argument, else 0 (nothing to fuzz)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if required:
        return len(required)
    return 1 if positional or any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()) else 0


def _public_callables():
    """name -> callable, over every public module's ``__all__`` (each object once)."""
    out, seen = {}, set()
    for m in FUZZ_MODULES:
        if m in FUZZ_SKIP:
            continue
        mod = getattr(em, m) if m else em
        for n in getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]:
            obj = getattr(mod, n, None)
            if not callable(obj) or inspect.ismodule(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            out[f"{m + '.' if m else ''}{n}"] = obj
    return out


def _instance(cls):
    """An instance of ``cls`` made with its defaults (or a small valid argument), or None."""
    for args in ((), (2,), (_good_arg(),), ("relu",)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cls(*args)
        except Exception:  # noqa: BLE001 - try the next guess
            continue
    return None


def _method_targets():
    """Methods of instances of every public class (and of a built model, a tensor and
    a variable): name -> a zero-argument factory of the bound method."""
    out = {}

    def add(prefix, factory, cls):
        for n, member in inspect.getmembers(cls):
            if n.startswith("_") or not callable(member) or isinstance(member, type):
                continue
            out[f"{prefix}.{n}"] = (lambda n=n: getattr(factory(), n))

    for name, obj in _public_callables().items():
        if inspect.isclass(obj) and _instance(obj) is not None:
            add(name, lambda obj=obj: _instance(obj), obj)
    add("Model(built)", lambda: model3(), type(model3()))
    add("Tensor", lambda: em.tensor(_good_arg()), em.Tensor)
    add("Variable", lambda: em.Variable(_good_arg()), em.Variable)
    return out


def _fuzz_calls(fn):
    """(description, thunk) for each bad value in each required positional slot of ``fn``
    (the other slots hold a small valid array), and as a lone argument."""
    slots = _fuzz_slots(fn)
    for value in BAD_VALUES:
        for i in range(slots):
            args = [_good_arg() for _ in range(slots)]
            # a copy: a call may legitimately fill a dict or list it is given (save_own_variables(store)),
            # which must not change the corpus for the calls after it
            args[i] = copy.deepcopy(value)
            yield i, value, (lambda args=args: fn(*args))


class _State:
    """Restores the process-wide settings a fuzzed call may change."""

    def __enter__(self):
        from ember.saving import serialization_lib

        self.threads = em.get_num_threads()
        self.device = em.get_default_device()
        # ember.config's settings (a fuzzed setter given a valid value changes them)
        self.config = (em.config.floatx(), em.config.epsilon(), em.config.image_data_format())
        self.caps = (em.config.max_epochs(), em.config.max_steps_per_epoch())
        self.logging = em.config.is_interactive_logging_enabled()
        self.unsafe = list(serialization_lib._unsafe_globally)
        return self

    def __exit__(self, *exc):
        from ember.saving import serialization_lib

        if em.get_num_threads() != self.threads:  # (setting it rebuilds the CPU pool: only when changed)
            em.set_num_threads(self.threads)
        if em.get_default_device() != self.device:
            em.set_default_device(self.device)
        floatx, epsilon, data_format = self.config
        em.config.set_floatx(floatx)
        em.config.set_epsilon(epsilon)
        em.config.set_image_data_format(data_format)
        em.config.set_max_epochs(self.caps[0])
        em.config.set_max_steps_per_epoch(self.caps[1])
        (em.config.enable_interactive_logging if self.logging else em.config.disable_interactive_logging)()
        serialization_lib._unsafe_globally[:] = self.unsafe
        return False


# Not fuzzed: calls whose work is slow by design on any input.
_SLOW_BY_DESIGN = {"doctor"}  # prints a report of the machine (0.3 s)


def fuzz_target(name, get_fn):
    """Runs the fuzz corpus through one target; returns (stray exceptions, slow calls,
    tally by exception type)."""
    stray, slow, tally = [], [], collections.Counter()
    for i, value, thunk in _fuzz_calls(get_fn()):
        t0 = time.perf_counter()
        try:
            with _State(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # warnings are not what this test is about
                thunk()
            tally["(returned)"] += 1
        except EmberError as e:
            tally[type(e).__name__] += 1
        except NotImplementedError:
            tally["NotImplementedError"] += 1  # an abstract method of a base class (Loss.call), as in Keras
        except BaseException as e:  # noqa: B036 - a pyo3 PanicException derives from BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            tally[f"STRAY {type(e).__name__}"] += 1
            stray.append(f"{name} arg {i} = {_short(value)}: {type(e).__name__}: {str(e)[:150]}")
        dt = time.perf_counter() - t0
        if dt > CALL_LIMIT_S:
            slow.append(f"{name} arg {i} = {_short(value)}: {dt:.1f} s")
    return stray, slow, tally


def _all_fuzz_targets():
    targets = {n: (lambda o=o: o) for n, o in _public_callables().items() if n not in _SLOW_BY_DESIGN}
    targets.update(_method_targets())
    return targets


ALL_FUZZ_TARGETS = _all_fuzz_targets()
_KNOWN_LEAKS_FILE = Path(__file__).with_name("fuzz_known_leaks.txt")
KNOWN_LEAKS = {ln.strip() for ln in _KNOWN_LEAKS_FILE.read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def _fuzz_param(name):
    if name in KNOWN_LEAKS:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="known leak: tests/fuzz_known_leaks.txt"))
    return name


def test_known_leaks_are_real_targets():
    assert KNOWN_LEAKS <= set(ALL_FUZZ_TARGETS), sorted(KNOWN_LEAKS - set(ALL_FUZZ_TARGETS))


@pytest.mark.parametrize("name", [_fuzz_param(n) for n in sorted(ALL_FUZZ_TARGETS)])
def test_fuzz_every_public_callable(name, tmp_path, monkeypatch):
    """Every public function, class and method, given each bad value in each required
    argument: whatever it raises is an `EmberError` (so also a ValueError, TypeError,
    RuntimeError or MemoryError as before), never a builtin from deep inside or a
    panic, and no call takes more than a few seconds."""
    monkeypatch.chdir(tmp_path)  # a save(...) given "abc" writes here, not into the repo
    stray, slow, _ = fuzz_target(name, ALL_FUZZ_TARGETS[name])
    assert not stray, f"{len(stray)} non-Ember exceptions:\n" + "\n".join(stray[:30])
    assert not slow, f"calls slower than {CALL_LIMIT_S} s:\n" + "\n".join(slow)
