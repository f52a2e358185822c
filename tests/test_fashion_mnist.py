"""A BatchNormalization + Dropout MLP learns Fashion-MNIST (Debian's
``dataset-fashion-mnist``, installed by ``.ci/run``).

The full run (15 epochs with a step-down learning rate, >= 0.88 test accuracy; it
measured 0.904-0.906 for seeds 0, 1 and 2, about a minute on two cores) is marked ``slow``; the reduced run (one epoch on
4,000 images, scored on 2,000 test images) proves learning on every backend in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

import ember as em


@pytest.fixture(scope="module")
def fashion():
    (xtr, ytr), (xte, yte) = em.datasets.fashion_mnist.load_data()
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    prep = lambda x: (x.reshape(len(x), -1) / 255.0).astype(np.float32)  # noqa: E731
    return prep(xtr), ytr.astype(np.int32), prep(xte), yte.astype(np.int32)


def bn_dropout_mlp(units=(256, 128), rate=0.2) -> em.Sequential:
    layers = [em.Input((784,))]
    for u in units:
        layers += [em.layers.Dense(u), em.layers.BatchNormalization(), em.layers.Activation("relu"),
                   em.layers.Dropout(rate)]
    layers.append(em.layers.Dense(10, activation="softmax"))
    model = em.Sequential(layers)
    model.compile(em.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fashion_mnist_bn_dropout_mlp_learns_in_one_short_epoch(fashion, backend_name):
    xtr, ytr, xte, yte = fashion
    em.utils.set_random_seed(0)
    with em.device(backend_name):
        model = bn_dropout_mlp()
    before = model.evaluate(xte[:2000], yte[:2000], batch_size=500, verbose=0)[1]
    hist = model.fit(xtr[:4000], ytr[:4000], epochs=1, batch_size=64, verbose=0)
    loss, acc = model.evaluate(xte[:2000], yte[:2000], batch_size=500, verbose=0)
    assert before < 0.3, "untrained accuracy should be near chance (0.1)"
    assert acc >= 0.65, f"test accuracy {acc:.4f} after one short epoch"
    assert np.isfinite(hist.history["loss"][0]) and loss < 1.2
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean.numpy(), 0.0), "training updated the moving statistics"


@pytest.mark.slow
def test_fashion_mnist_bn_dropout_mlp_full(fashion):
    xtr, ytr, xte, yte = fashion
    em.utils.set_random_seed(0)
    model = bn_dropout_mlp(units=(512, 256))

    def step_down(epoch):  # 1e-3, then 3e-4 from epoch 11, 1e-4 from epoch 14
        return 1e-3 if epoch < 10 else (3e-4 if epoch < 13 else 1e-4)

    hist = model.fit(xtr, ytr, epochs=15, batch_size=128, verbose=0,
                     callbacks=[em.callbacks.LearningRateScheduler(step_down)])
    loss, acc = model.evaluate(xte, yte, batch_size=1000, verbose=0)
    print(f"Fashion-MNIST BN+Dropout MLP, 15 epochs: test accuracy {acc:.4f}, loss {loss:.4f}")
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert acc >= 0.88, f"test accuracy {acc:.4f}"
