"""Image preprocessing layers (Rescaling, Resizing, CenterCrop, RandomFlip, RandomCrop,
RandomTranslation, RandomRotation, RandomZoom, RandomContrast) and Normalization.

References: numpy written pixel by pixel (half-pixel bilinear resizing; the affine
sampler with JAX's ``map_coordinates`` index rules), the affine matrices written from
Keras's formulas, and real Keras (``keras.ops.image.affine_transform`` and
``keras.ops.image.resize``, ``keras.layers.Normalization.adapt``). The random layers are
replayed: a test draws the documented parameters from a `SeedGenerator` with the layer's
seed (on the CPU, as the layer does) and applies the numpy reference; the same seed gives
the same images on the CPU and the GPU.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import ember as em
from ember import layers
from ember.errors import InvalidArgumentError, ShapeError
from ember.layers.image_preprocessing import affine_transform

sys.path.insert(0, str(Path(__file__).parent / "backend"))
from _conformance import GRADIENT, REDUCTION, assert_close, check_op, expect_error, f32, to_np  # noqa: E402
from conftest import GPU_UNAVAILABLE  # noqa: E402


# -- numpy references ------------------------------------------------------------------------------

def resize_ref(x, out_h, out_w, method="bilinear"):
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    y = np.zeros((n, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            if method == "nearest":
                y[:, i, j] = x[:, min(int((i + 0.5) * h / out_h), h - 1), min(int((j + 0.5) * w / out_w), w - 1)]
                continue
            sy = min(max((i + 0.5) * h / out_h - 0.5, 0.0), h - 1)
            sx = min(max((j + 0.5) * w / out_w - 0.5, 0.0), w - 1)
            y0, x0 = int(math.floor(sy)), int(math.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            y[:, i, j] = ((1 - fy) * ((1 - fx) * x[:, y0, x0] + fx * x[:, y0, x1])
                          + fy * ((1 - fx) * x[:, y1, x0] + fx * x[:, y1, x1]))
    return y


def _fix(i, n, mode):
    """JAX map_coordinates: where a neighbour outside the image reads from (None: fill)."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "nearest":
        return min(max(i, 0), n - 1)
    if mode == "wrap":
        return i % n
    period = 2 * n   # "reflect": half-sample symmetric, d c b a | a b c d | d c b a
    i = i % period
    return i if i < n else period - 1 - i


def affine_ref(x, t, mode="reflect", fill=0.0, interpolation="bilinear"):
    """Output (row i, column j) of image k samples the input at column a0 j + a1 i + a2,
    row b0 j + b1 i + b2 (Keras's transform rows [a0, a1, a2, b0, b1, b2, 0, 0])."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    y = np.zeros_like(x)
    for k in range(n):
        a0, a1, a2, b0, b1, b2 = t[k][:6]
        for i in range(h):
            for j in range(w):
                sx, sy = a0 * j + a1 * i + a2, b0 * j + b1 * i + b2
                if interpolation == "nearest":
                    taps = [(int(np.sign(sy) * math.floor(abs(sy) + 0.5)), int(np.sign(sx) * math.floor(abs(sx) + 0.5)),
                             1.0)]
                else:
                    y0, x0 = math.floor(sy), math.floor(sx)
                    fy, fx = sy - y0, sx - x0
                    taps = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx), (y0 + 1, x0, fy * (1 - fx)),
                            (y0 + 1, x0 + 1, fy * fx)]
                for ty, tx, wt in taps:
                    fy_, fx_ = _fix(ty, h, mode), _fix(tx, w, mode)
                    v = fill if fy_ is None or fx_ is None else x[k, fy_, fx_]
                    y[k, i, j] += wt * v
    return y


def rotation_ref(deg, h, w):
    """Keras's _compute_affine_matrix with scale 1, no shear or translation, centre 0.5."""
    th = math.radians(deg)
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    a0, a1, b0, b1 = math.cos(th), -math.sin(th), math.sin(th), math.cos(th)
    return [a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1, 0, 0]


def replay(seed):
    """The stream the layer with ``seed`` draws from: uniform draws on the CPU."""
    gen = em.random.SeedGenerator(seed)
    return lambda shape, lo, hi: np.asarray(em.random.uniform(shape, lo, hi, seed=gen, device="cpu").numpy(),
                                            np.float64)


def _images(rng, shape=(3, 6, 7, 2), scale=1.0):
    return f32(rng.uniform(0.0, scale, shape))


def _run(layer, x, backend_name, training):
    with em.device(backend_name):
        return to_np(layer(em.tensor(x, device=backend_name), training=training))


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    # One XLA thread: on a small shared machine XLA's spinning thread pool and Ember's
    # rayon pool can starve each other (a 2 s comparison once took minutes).
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    return pytest.importorskip("keras")


# -- deterministic layers ----------------------------------------------------------------------------

def test_rescaling_resizing_center_crop(backend_name):
    rng = np.random.default_rng(0)
    x = _images(rng, (2, 8, 5, 3))
    u8 = (x * 255).astype(np.uint8)
    assert_close(_run(layers.Rescaling(1 / 255, offset=-0.5), u8, backend_name, False),
                 u8.astype(np.float64) / 255 - 0.5, what="Rescaling", rtol=1e-6, atol=1e-6)
    for h, w, method in ((5, 7, "bilinear"), (3, 2, "bilinear"), (16, 10, "bilinear"), (5, 7, "nearest"),
                         (16, 3, "nearest")):
        got = _run(layers.Resizing(h, w, interpolation=method), x, backend_name, False)
        assert_close(got, resize_ref(x, h, w, method), what=f"Resizing {h}x{w} {method}", **REDUCTION)
    # crop_to_aspect_ratio: Keras's centred box of the target ratio (8x5 -> 2:4 keeps 2x5 rows 3..4... )
    got = _run(layers.Resizing(3, 6, crop_to_aspect_ratio=True), x, backend_name, False)
    ch = max(min(8, int(5 * 3 / 6)), 1)
    top = int((8 - ch) / 2)
    assert_close(got, resize_ref(x[:, top:top + ch], 3, 6), what="crop_to_aspect_ratio", **REDUCTION)
    got = _run(layers.Resizing(4, 4, data_format="channels_first"), np.moveaxis(x, -1, 1), backend_name, False)
    assert_close(np.moveaxis(got, 1, -1), resize_ref(x, 4, 4), what="Resizing channels_first", **REDUCTION)
    assert_close(_run(layers.CenterCrop(4, 3), x, backend_name, False), x[:, 2:6, 1:4], what="CenterCrop",
                 rtol=0, atol=0)
    assert_close(_run(layers.CenterCrop(4, 3), x[0], backend_name, False), x[0, 2:6, 1:4], what="single image",
                 rtol=0, atol=0)


def test_resize_and_affine_match_keras(keras):
    rng = np.random.default_rng(1)
    x = _images(rng, (3, 7, 9, 2))
    t = np.array([rotation_ref(d, 7, 9) for d in (17.0, -50.0, 133.0)], np.float32)
    t[:, 2] += [0.3, -2.5, 1.7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for interp in ("bilinear", "nearest"):
            for mode in ("constant", "reflect", "wrap", "nearest"):
                want = np.asarray(keras.ops.image.affine_transform(x, t, interp, mode, 0.25))
                assert_close(to_np(affine_transform(x, t, interp, mode, 0.25)), want, what=f"{interp} {mode}",
                             **REDUCTION)
        for kwargs in (dict(size=(4, 13)), dict(size=(11, 4), interpolation="nearest"),
                       dict(size=(3, 6), crop_to_aspect_ratio=True), dict(size=(3, 6), pad_to_aspect_ratio=True,
                                                                          fill_value=0.5)):
            want = np.asarray(keras.ops.image.resize(x, **kwargs))
            got = to_np(layers.Resizing(*kwargs.pop("size"), **kwargs)(x))
            assert_close(got, want, what=f"resize {kwargs}", **REDUCTION)


def test_affine_reference_and_gradients(backend_name):
    rng = np.random.default_rng(2)
    x = _images(rng, (2, 5, 6, 2))
    t = np.array([rotation_ref(25.0, 5, 6), [1.2, 0.1, -0.7, -0.2, 0.9, 1.3, 0, 0]])
    for mode in ("reflect", "constant", "wrap", "nearest"):
        for interp in ("bilinear", "nearest"):
            got = to_np(affine_transform(em.tensor(x, device=backend_name), t, interp, mode, 0.5))
            assert_close(got, affine_ref(x, t, mode, 0.5, interp), what=f"affine {mode} {interp}", **REDUCTION)
    check_op(backend_name, lambda x: affine_transform(x, t, "bilinear", "reflect"), lambda x: affine_ref(x, t),
             [x], fwd_tol=REDUCTION, grad_tol=GRADIENT)
    check_op(backend_name, lambda x: layers.Resizing(3, 8)(x), lambda x: resize_ref(x, 3, 8), [x],
             fwd_tol=REDUCTION, grad_tol=GRADIENT)


# -- random layers: identity at inference, replayed draws in training ------------------------------------

RANDOM_LAYERS = [
    (layers.RandomFlip, dict(mode="horizontal")),
    (layers.RandomFlip, dict()),
    (layers.RandomTranslation, dict(height_factor=0.3, width_factor=(-0.2, 0.4))),
    (layers.RandomRotation, dict(factor=0.25, fill_mode="constant", fill_value=0.5)),
    (layers.RandomZoom, dict(height_factor=(-0.3, 0.4), fill_mode="wrap")),
    (layers.RandomZoom, dict(height_factor=0.2, width_factor=(0.1, 0.3), interpolation="nearest")),
    (layers.RandomContrast, dict(factor=(0.3, 0.6))),
]


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS, ids=[c.__name__ for c, _ in RANDOM_LAYERS])
def test_random_layers_are_the_identity_at_inference(backend_name, cls, kwargs):
    x = _images(np.random.default_rng(3), scale=255.0)
    layer = cls(seed=7, **kwargs)
    np.testing.assert_array_equal(_run(layer, x, backend_name, False), x)
    model = em.Sequential([em.Input(x.shape[1:]), cls(seed=7, **kwargs)])
    with em.device(backend_name):
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def _expected(cls, kwargs, x, seed):
    """The training output of ``cls(seed=seed, **kwargs)`` on x, from the replayed draws."""
    draw = replay(seed)
    n, h, w, _ = x.shape
    if cls is layers.RandomFlip:
        flips = draw((n,), 0.0, 1.0) <= 0.5
        y = x.astype(np.float64).copy()
        mode = kwargs.get("mode", "horizontal_and_vertical")
        for k in np.nonzero(flips)[0]:
            if mode in ("horizontal", "horizontal_and_vertical"):
                y[k] = y[k, :, ::-1]
            if mode in ("vertical", "horizontal_and_vertical"):
                y[k] = y[k, ::-1]
        return y
    if cls is layers.RandomContrast:
        lo, hi = kwargs["factor"]
        f = draw((n,), 1 - lo, 1 + hi)
        m = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
        return np.clip((x - m) * f[:, None, None, None] + m, 0, 255)
    fill_mode = kwargs.get("fill_mode", "reflect")
    fill = kwargs.get("fill_value", 0.0)
    interp = kwargs.get("interpolation", "bilinear")

    def pair(f):
        return tuple(sorted(f)) if isinstance(f, tuple) else (-abs(f), abs(f))

    if cls is layers.RandomTranslation:
        (hl, hu), (wl, wu) = pair(kwargs["height_factor"]), pair(kwargs["width_factor"])
        dy, dx = draw((n,), hl, hu) * h, draw((n,), wl, wu) * w
        t = [[1, 0, -dx[k], 0, 1, -dy[k], 0, 0] for k in range(n)]
    elif cls is layers.RandomRotation:
        lo, hi = pair(kwargs["factor"])
        t = [rotation_ref(a, h, w) for a in draw((n,), lo * 360, hi * 360)]
    else:
        hl, hu = pair(kwargs["height_factor"])
        zy = draw((n,), 1 + hl, 1 + hu)
        if kwargs.get("width_factor") is None:
            zx = zy
        else:
            wl, wu = pair(kwargs["width_factor"])
            zx = draw((n,), 1 + wl, 1 + wu)
        t = [[zx[k], 0, (w - 1) / 2 * (1 - zx[k]), 0, zy[k], (h - 1) / 2 * (1 - zy[k]), 0, 0] for k in range(n)]
    return affine_ref(x, t, fill_mode, fill, interp)


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS, ids=[c.__name__ for c, _ in RANDOM_LAYERS])
def test_random_layers_in_training_match_replayed_numpy_reference(cls, kwargs):
    x = _images(np.random.default_rng(4), (4, 6, 7, 2), scale=255.0)
    layer = cls(seed=11, **kwargs)
    got = to_np(layer(x, training=True))
    assert_close(got, _expected(cls, kwargs, x, 11), what=f"{cls.__name__} {kwargs}", **REDUCTION)
    # the generator advances: a second call draws new parameters, as Keras's SeedGenerator
    again = to_np(layer(x, training=True))
    assert not np.array_equal(got, again) or cls is layers.RandomFlip


def test_random_crop_replays_and_centres_at_inference():
    x = _images(np.random.default_rng(5), (2, 9, 8, 1))
    layer = layers.RandomCrop(5, 4, seed=3)
    draw = replay(3)
    top, left = int(draw((), 0, 9 - 5 + 1)), int(draw((), 0, 8 - 4 + 1))
    np.testing.assert_array_equal(to_np(layer(x, training=True)), x[:, top:top + 5, left:left + 4])
    np.testing.assert_array_equal(to_np(layer(x, training=False)), x[:, 2:7, 2:6])
    assert layer.compute_output_shape((None, 9, 8, 1)) == (None, 5, 4, 1)


@pytest.mark.gpu
@pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=str(GPU_UNAVAILABLE))
def test_the_same_seed_gives_the_same_images_on_cpu_and_gpu():
    x = _images(np.random.default_rng(6), (3, 6, 7, 2), scale=255.0)
    stack = lambda: [layers.RandomFlip(seed=1), layers.RandomTranslation(0.2, 0.2, seed=2),  # noqa: E731
                     layers.RandomRotation(0.1, seed=3), layers.RandomZoom(0.2, seed=4),
                     layers.RandomContrast(0.4, seed=5), layers.RandomCrop(4, 5, seed=6)]
    outs = {}
    for device in ("cpu", "gpu"):
        y = em.tensor(x, device=device)
        with em.device(device):
            for layer in stack():
                y = layer(y, training=True)
        outs[device] = to_np(y)
    assert_close(outs["gpu"], outs["cpu"], what="cpu vs gpu", rtol=1e-5, atol=1e-3)


# -- configs and errors ------------------------------------------------------------------------------------

CONFIG_CASES = [
    ("Rescaling", dict(scale=0.5, offset=1.0)),
    ("Resizing", dict(height=4, width=5, interpolation="nearest", crop_to_aspect_ratio=True)),
    ("CenterCrop", dict(height=3, width=4)),
    ("RandomFlip", dict(mode="vertical", seed=1)),
    ("RandomCrop", dict(height=3, width=4, seed=2)),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=(-0.1, 0.3), fill_mode="nearest", seed=3)),
    ("RandomRotation", dict(factor=(-0.1, 0.2), interpolation="nearest", seed=4)),
    ("RandomZoom", dict(height_factor=0.3, width_factor=0.2, fill_value=1.0, seed=5)),
    ("RandomContrast", dict(factor=0.3, value_range=(0, 1), seed=6)),
    ("Normalization", dict(axis=-1, mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)),
]


@pytest.mark.parametrize("name,kwargs", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_configs_round_trip_and_have_keras_keys(keras, name, kwargs):
    layer = getattr(layers, name)(**kwargs)
    cfg = json.loads(json.dumps(layer.get_config()))
    for key, value in kwargs.items():
        got = cfg[key]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == (list(value) if isinstance(value, tuple)
                                                                        else value), key
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    restored = em.saving.deserialize(json.loads(json.dumps(em.saving.serialize(layer))))
    assert type(restored) is type(layer) and restored.get_config() == cfg
    k = getattr(keras.layers, name)(**kwargs).get_config()
    base = {"name", "trainable", "dtype"}
    assert set(cfg) - base <= set(k) - base | {"data_format"}, set(cfg) ^ set(k)


def test_bad_arguments_and_inputs_raise():
    expect_error(InvalidArgumentError, layers.RandomFlip, "diagonal", words=("RandomFlip", "diagonal"))
    expect_error(InvalidArgumentError, layers.RandomRotation, 1.5, words=("RandomRotation", "factor"))
    expect_error(InvalidArgumentError, layers.RandomZoom, -1.0, words=("RandomZoom", "height_factor"))
    expect_error(InvalidArgumentError, layers.RandomTranslation, 0.1, 0.1, fill_mode="mirror", words=("fill_mode",))
    expect_error(InvalidArgumentError, layers.RandomContrast, 1.5, words=("RandomContrast", "factor"))
    expect_error(InvalidArgumentError, layers.Resizing, 0, 4, words=("Resizing", "height"))
    expect_error(InvalidArgumentError, layers.Resizing, 4, 4, interpolation="bicubic", words=("interpolation",))
    expect_error(InvalidArgumentError, layers.RandomCrop, 4, 4, seed="x", words=("seed",))
    flip = layers.RandomFlip()
    expect_error(ShapeError, flip, np.ones((2, 3), np.float32), training=True, words=(flip.name, "(2, 3)"))
    crop = layers.CenterCrop(2, 2)
    expect_error(ShapeError, crop, np.ones((1, 2, 3, 4, 5), np.float32), words=(crop.name, "(1, 2, 3, 4, 5)"))
    expect_error(ShapeError, affine_transform, np.ones((2, 4, 4, 1), np.float32), np.zeros((3, 8)),
                 words=("affine_transform", "(3, 8)"))
    expect_error(InvalidArgumentError, layers.Normalization, mean=[1.0], words=("mean", "variance"))
    expect_error(ShapeError, layers.Normalization, mean=[1.0, 2.0], variance=[1.0], words=("(2,)", "(1,)"))


# -- Normalization ----------------------------------------------------------------------------------------

def test_normalization_adapt_matches_numpy_and_keras(backend_name, keras):
    rng = np.random.default_rng(7)
    data = f32(rng.normal(3.0, 2.0, (40, 5, 3)))
    for axis in (-1, (1, 2), None):
        norm = layers.Normalization(axis=axis)
        with em.device(backend_name):
            norm.adapt(data)
        keep = () if axis is None else tuple(a % 3 for a in ((axis,) if isinstance(axis, int) else axis))
        red = tuple(d for d in range(3) if d not in keep)
        mean = data.astype(np.float64).mean(axis=red, keepdims=True)
        std = np.maximum(np.sqrt(data.astype(np.float64).var(axis=red, keepdims=True)), 1e-7)
        assert_close(_run(norm, data, backend_name, False), (data - mean) / std, what=f"axis {axis}", **REDUCTION)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            k = keras.layers.Normalization(axis=axis)
            k.adapt(data)
            want = np.asarray(k(data))
        assert_close(_run(norm, data, backend_name, False), want, what=f"keras axis {axis}", **REDUCTION)
    # batches merge to the statistics of all the data
    norm = layers.Normalization()
    norm.adapt([data[:7], data[7:30], data[30:]])
    assert_close(to_np(norm.adapt_mean), data.reshape(-1, 3).astype(np.float64).mean(0), what="mean", **REDUCTION)
    assert_close(to_np(norm.adapt_variance), data.reshape(-1, 3).astype(np.float64).var(0), what="var", **REDUCTION)
    assert [w.name.split("/")[-1] for w in norm.weights] == ["mean", "variance", "count"]
    assert not norm.trainable_weights
    # fixed statistics and invert
    inv = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25], invert=True)
    assert_close(_run(inv, data, backend_name, False), data * np.array([2.0, 1.0, 0.5]) + [1.0, 2.0, 3.0],
                 what="invert", **REDUCTION)
