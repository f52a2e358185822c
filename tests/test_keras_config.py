"""keras.config, keras.backend and the keras.utils helpers at their Ember names, against
real Keras where values are comparable."""

import logging
import os

import numpy as np
import pytest

import ember as em

os.environ.setdefault("KERAS_BACKEND", "jax")


def test_settings_and_their_limits():
    assert em.config.floatx() == em.backend.floatx() == "float32"
    assert em.config.epsilon() == em.backend.epsilon() == 1e-7
    assert em.config.image_data_format() == "channels_last"
    assert em.config.backend() == em.backend.backend() == "ember"
    em.config.set_floatx("float32")
    em.config.set_epsilon(1e-7)
    em.backend.set_image_data_format("channels_last")
    with pytest.raises(NotImplementedError, match="float16"):
        em.config.set_floatx("float16")
    with pytest.raises(em.errors.InvalidArgumentError, match="floatx"):
        em.config.set_floatx("float31")
    with pytest.raises(NotImplementedError, match="epsilon = 1e-7"):
        em.config.set_epsilon(1e-4)
    with pytest.raises(NotImplementedError, match="channels_first"):
        em.config.set_image_data_format("channels_first")
    with pytest.raises(em.errors.InvalidArgumentError, match="max_epochs"):
        em.config.set_max_epochs(0)
    assert not em.config.is_traceback_filtering_enabled()
    em.config.disable_traceback_filtering()
    with pytest.raises(NotImplementedError):
        em.config.enable_traceback_filtering()


def test_interactive_logging_routes_the_progress_bar_to_logging(capsys, caplog):
    m = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
    m.compile("sgd", "mse")
    x = np.ones((4, 2), np.float32)
    em.utils.disable_interactive_logging()
    try:
        assert not em.config.is_interactive_logging_enabled()
        with caplog.at_level(logging.INFO, logger="ember"):
            m.fit(x, x[:, :1], epochs=1, verbose=2)
    finally:
        em.config.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    assert any("Epoch 1/1" in r.getMessage() for r in caplog.records)
    assert em.utils.is_interactive_logging_enabled()


def test_clear_session_resets_names_and_uids():
    em.layers.Dense(1)
    em.backend.get_uid("a")
    em.utils.clear_session()
    assert em.layers.Dense(1).name == "dense" and em.layers.Dense(1).name == "dense_1"
    assert em.backend.get_uid("a") == 1 and em.backend.get_uid("a") == 2 and em.backend.get_uid() == 1
    em.backend.clear_session(free_memory=False)


def test_dtype_helpers_against_keras():
    keras = pytest.importorskip("keras")
    for d in (None, int, float, bool, "float32", "int32", np.float64, "uint8", "bfloat16", np.dtype("int16")):
        assert em.backend.standardize_dtype(d) == keras.backend.standardize_dtype(d)
    for ds in (("float32", "int32"), ("int32", "int64"), ("int32", "bool"), (), ("float16", "float32"),
               ("uint8", "int8"), ("bool", "bool"), ("float64", "int32"), ("float16", "bfloat16"), ("uint8", "uint16")):
        assert em.backend.result_type(*ds) == keras.backend.result_type(*ds), ds
    for d in ("float16", "uint8", "bool", "int64", "bfloat16"):
        assert em.backend.is_float_dtype(d) == keras.backend.is_float_dtype(d)
        assert em.backend.is_int_dtype(d) == keras.backend.is_int_dtype(d)
    with pytest.raises(em.errors.InvalidArgumentError, match="Invalid dtype"):
        em.backend.standardize_dtype("float31")
    kt = em.Input((2,))
    assert em.backend.is_keras_tensor(kt) and not em.utils.is_keras_tensor(em.tensor([1.0]))


def test_split_dataset_against_keras():
    # Keras's split itself returns tf.data datasets (TensorFlow); its size rule is compared.
    pytest.importorskip("keras")
    from keras.src.utils.dataset_utils import _rescale_dataset_split_sizes

    x, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    for kwargs in ({"left_size": 0.8}, {"right_size": 3}, {"left_size": 0.5}, {"left_size": 4, "right_size": 0.3},
                   {"left_size": 0.25}):
        (lx, ly), (rx, ry) = em.utils.split_dataset((x, y), **kwargs)
        nl, nr = _rescale_dataset_split_sizes(kwargs.get("left_size"), kwargs.get("right_size"), 10)
        np.testing.assert_array_equal(lx, x[:nl])
        np.testing.assert_array_equal(rx, x[10 - nr:])
        np.testing.assert_array_equal(ly, y[:nl])
    (lx, _), (rx, _) = em.utils.split_dataset((x, y), left_size=0.5, shuffle=True, seed=1)
    assert sorted(np.concatenate([lx[:, 0], rx[:, 0]]).tolist()) == x[:, 0].tolist()
    d = em.utils.split_dataset({"a": x, "b": y}, right_size=2)
    assert d[1]["a"].shape == (2, 2) and d[0]["b"].tolist() == list(range(8))
    with pytest.raises(em.errors.InvalidArgumentError, match="left_size"):
        em.utils.split_dataset(x, left_size=1.5)
    with pytest.raises(em.errors.ShapeError):
        em.utils.split_dataset((x, y[:3]))


def test_packing_config_and_source_inputs():
    assert em.utils.pack_x_y_sample_weight(1) == 1 and em.utils.pack_x_y_sample_weight((1, 2)) == ((1, 2),)
    assert em.utils.pack_x_y_sample_weight(1, 2, 3) == (1, 2, 3)
    assert em.utils.unpack_x_y_sample_weight([1, 2]) == (1, 2, None)
    c = em.utils.Config(a=1)
    c.b = 2
    assert dict(c.items()) == {"a": 1, "b": 2} and c.as_dict() == {"a": 1, "b": 2}
    c.freeze()
    with pytest.raises(em.errors.InvalidArgumentError, match="frozen"):
        c.a = 3
    a, b = em.Input((2,)), em.Input((3,))
    out = em.layers.Concatenate()([em.layers.Dense(2)(a), b])
    src = em.utils.get_source_inputs(out)
    assert len(src) == 2 and {id(t) for t in src} == {id(a), id(b)}
    assert isinstance(em.version(), str)
