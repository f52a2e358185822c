"""Generators, iterators and PyDataset as fit/evaluate/predict input (Keras 3's data
adapters): the same batches give the same training as arrays; steps_per_epoch, the
epoch hooks, workers, exhaustion; and every callback hook gets a logs dict."""

import numpy as np
import pytest

import ember as em

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype(np.float32)
BS = 8


def _model(seed=0):
    em.utils.set_random_seed(seed)
    m = em.Sequential([em.Input((3,)), em.layers.Dense(4, activation="tanh"), em.layers.Dense(1)])
    m.compile(em.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return m


class Batches(em.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_begun = self.epochs_ended = 0
        self.fetched = []

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.fetched.append(i)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


def _gen(x, y, bs, loop=True):
    while True:
        for i in range(0, len(x), bs):
            yield x[i:i + bs], y[i:i + bs]
        if not loop:
            return


@pytest.mark.parametrize("kind", ["generator", "pydataset", "pydataset-workers", "iterator"])
def test_same_training_as_arrays(backend_name, kind):
    with em.device(backend_name):
        ref = _model()
        want = ref.fit(X, Y, batch_size=BS, epochs=2, shuffle=False, verbose=0).history
        m = _model()
    if kind == "generator":
        source, spe = _gen(X, Y, BS), len(X) // BS
    elif kind == "iterator":
        source, spe = iter([(X[i:i + BS], Y[i:i + BS]) for i in range(0, len(X), BS)] * 2), len(X) // BS
    else:
        source, spe = Batches(X, Y, BS, workers=3 if kind.endswith("workers") else 1, max_queue_size=2), None
    got = m.fit(source, epochs=2, steps_per_epoch=spe, verbose=0).history
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
    np.testing.assert_allclose(got["mae"], want["mae"], rtol=1e-5)
    np.testing.assert_allclose(m.layers[0].kernel.numpy(), ref.layers[0].kernel.numpy(), rtol=1e-5, atol=1e-7)
    if kind.startswith("pydataset"):
        assert source.epochs_begun == source.epochs_ended == 2
        assert sorted(source.fetched) == sorted(list(range(5)) * 2)


def test_evaluate_predict_and_validation_with_steps():
    m = _model()
    ds = Batches(X, Y, BS)
    want_eval = m.evaluate(X[:16], Y[:16], batch_size=BS, verbose=0)
    assert np.allclose(m.evaluate(ds, steps=2, verbose=0), want_eval, rtol=1e-6)
    assert np.allclose(m.evaluate(_gen(X, Y, BS), steps=2, verbose=0), want_eval, rtol=1e-6)
    np.testing.assert_allclose(m.predict(_gen(X, Y, BS), steps=3, verbose=0), m.predict(X[:24], verbose=0), rtol=1e-6)
    np.testing.assert_allclose(m.predict(ds, verbose=0), m.predict(X, verbose=0), rtol=1e-6)
    xs_only = (X[i:i + BS] for i in range(0, len(X), BS))  # predict takes x-only batches too
    assert m.predict(xs_only, verbose=0).shape == (40, 1)
    h = m.fit(_gen(X, Y, BS), steps_per_epoch=2, epochs=2, validation_data=Batches(X, Y, BS), validation_steps=2,
              verbose=0)
    assert len(h.history["val_loss"]) == 2 and len(h.history["val_mae"]) == 2
    h = m.fit(ds, epochs=1, validation_data=(X, Y), verbose=0)
    assert "val_loss" in h.history


def test_generator_without_steps_runs_until_exhausted_then_warns():
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(_gen(X, Y, BS, loop=False), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1  # the first epoch used every batch; the second found none


def test_subclassed_train_step_and_sample_weights():
    calls = []

    class Counting(em.Model):
        def train_step(self, data):
            x, y, sw = em.utils.unpack_x_y_sample_weight(data)
            calls.append((tuple(x.shape), sw is not None))
            return super().train_step(data)

    inp = em.Input((3,))
    m = Counting(inp, em.layers.Dense(1)(inp))
    m.compile("sgd", "mse")
    w = np.ones(len(X), np.float32)
    m.fit(((X[i:i + BS], Y[i:i + BS], w[i:i + BS]) for i in range(0, 40, BS)), epochs=1, verbose=0)
    assert calls == [((BS, 3), True)] * 5


def test_bad_inputs():
    m = _model()
    with pytest.raises(em.errors.InvalidArgumentError, match="y"):
        m.fit(_gen(X, Y, BS), Y, steps_per_epoch=1, verbose=0)
    with pytest.raises(em.errors.InvalidArgumentError, match=r"\(x, y\)"):
        m.fit((X[i:i + BS] for i in range(0, 40, BS)), epochs=1, verbose=0)
    with pytest.raises(NotImplementedError, match="use_multiprocessing"):
        Batches(X, Y, BS, use_multiprocessing=True)
    with pytest.raises(em.errors.InvalidArgumentError, match="workers"):
        Batches(X, Y, BS, workers=0)


def test_every_callback_hook_gets_a_logs_dict():
    seen = []

    class Spy(em.callbacks.Callback):
        def _record(self, hook, logs):
            seen.append((hook, type(logs)))

        def on_train_begin(self, logs=None):
            self._record("train_begin", logs)

        def on_epoch_begin(self, epoch, logs=None):
            self._record("epoch_begin", logs)

        def on_train_batch_begin(self, batch, logs=None):
            self._record("batch_begin", logs)

        def on_train_batch_end(self, batch, logs=None):
            self._record("batch_end", logs)
            assert "loss" in logs

        def on_epoch_end(self, epoch, logs=None):
            self._record("epoch_end", logs)

        def on_train_end(self, logs=None):
            self._record("train_end", logs)
            assert set(logs) == {"loss", "mae"}  # Keras: the last epoch's logs

    for source in ((X, Y), (_gen(X, Y, BS),)):
        seen.clear()
        _model().fit(*source, batch_size=None if len(source) == 1 else BS, steps_per_epoch=5, epochs=1, verbose=0,
                     callbacks=[Spy()])
        assert seen and all(t is dict for _, t in seen)
        assert {h for h, _ in seen} == {"train_begin", "epoch_begin", "batch_begin", "batch_end", "epoch_end",
                                        "train_end"}
    cbl = em.callbacks.CallbackList([Spy()])
    seen.clear()
    cbl.on_epoch_begin(0)
    cbl.on_train_batch_begin(0, None)
    assert [t for _, t in seen] == [dict, dict]


def test_config_caps_apply_to_fit():
    em.config.set_max_epochs(1)
    em.config.set_max_steps_per_epoch(2)
    try:
        ds = Batches(X, Y, BS)
        h = _model().fit(ds, epochs=5, verbose=0)
        assert len(h.history["loss"]) == 1 and sorted(ds.fetched) == [0, 1]
        h = _model().fit(X, Y, batch_size=BS, epochs=5, verbose=0)
        assert len(h.history["loss"]) == 1
    finally:
        em.config.set_max_epochs(None)
        em.config.set_max_steps_per_epoch(None)
