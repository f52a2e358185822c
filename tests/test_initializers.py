"""Initializers on every backend: golden scales, seeds, CPU == GPU values, Orthogonal and
Identity against float64 numpy references, names, configs and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError

I = em.initializers

ALL_NAMES = {
    "zeros": I.Zeros, "ones": I.Ones, "constant": I.Constant, "random_uniform": I.RandomUniform,
    "random_normal": I.RandomNormal, "truncated_normal": I.TruncatedNormal, "glorot_uniform": I.GlorotUniform,
    "glorot_normal": I.GlorotNormal, "he_uniform": I.HeUniform, "he_normal": I.HeNormal,
    "lecun_uniform": I.LecunUniform, "lecun_normal": I.LecunNormal, "orthogonal": I.Orthogonal,
    "identity": I.Identity,
}
SEEDED = ["RandomUniform", "RandomNormal", "TruncatedNormal", "GlorotUniform", "GlorotNormal", "HeUniform",
          "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal"]
FAMILIES = {"glorot": ("GlorotUniform", "GlorotNormal"), "he": ("HeUniform", "HeNormal"),
            "lecun": ("LecunUniform", "LecunNormal")}


def draw(init, shape, device):
    with em.device(device):
        t = init(shape)
    assert t.device == device
    assert t.shape == tuple(shape) and t.dtype == "float32"
    return np.asarray(t.numpy())


def draw_many(cls, shape, device, at_least=100_000):
    out, n, seed = [], 0, 0
    while n < at_least:
        w = draw(cls(seed=seed), shape, device)
        out.append(w.ravel())
        n += w.size
        seed += 1
    return np.concatenate(out)


# -- golden scales on every backend --------------------------------------------------------------

@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_variance_scaling_uniform_limits_golden(golden, backend_name, family):
    uni = getattr(I, FAMILIES[family][0])
    for s in golden["initializer_scales"]["shapes"]:
        shape, limit = tuple(s["shape"]), s[f"{family}_uniform_limit"]
        big = draw_many(uni, shape, backend_name)
        assert np.abs(big).max() <= limit * (1 + 1e-6)
        assert np.abs(big).max() > 0.99 * limit
        # uniform on [-limit, limit]: std = limit / sqrt(3); golden allows ~3% on the std
        assert abs(big.std() / (limit / np.sqrt(3)) - 1) < 0.03
        assert abs(big.mean()) < 0.03 * limit


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_variance_scaling_truncated_normal_golden(golden, backend_name, family):
    normal = getattr(I, FAMILIES[family][1])
    for s in golden["initializer_scales"]["shapes"]:
        shape = tuple(s["shape"])
        big = draw_many(normal, shape, backend_name)
        assert np.abs(big).max() <= s[f"{family}_normal_truncation_bound"] * (1 + 1e-5)
        assert abs(big.std() / s[f"{family}_normal_target_std"] - 1) < 0.03
        assert abs(big.mean()) < 0.03 * s[f"{family}_normal_target_std"]


def test_truncated_stddev_parameter_golden(golden):
    """The stddev parameter VarianceScaling passes to the truncated normal is
    sqrt(scale/n) / 0.8796..., exactly the golden value (rtol 1e-7)."""
    for s in golden["initializer_scales"]["shapes"]:
        fan_in, fan_out = I.compute_fans(tuple(s["shape"]))
        assert (fan_in, fan_out) == (s["fan_in"], s["fan_out"])
        for family, scale, n in (("glorot", 1.0, (fan_in + fan_out) / 2), ("he", 2.0, fan_in), ("lecun", 1.0, fan_in)):
            param = np.sqrt(scale / n) / I.TRUNCATED_STD_FACTOR
            assert param == pytest.approx(s[f"{family}_normal_truncated_stddev_parameter"], rel=1e-7)
            assert np.sqrt(3 * scale / n) == pytest.approx(s[f"{family}_uniform_limit"], rel=1e-7)


def test_random_uniform_normal_truncated_statistics(backend_name):
    shape = (400, 250)
    u = draw(I.RandomUniform(minval=-0.3, maxval=0.7, seed=1), shape, backend_name)
    assert u.min() >= -0.3 and u.max() <= 0.7
    assert abs(u.mean() - 0.2) < 0.01 and abs(u.std() - 1.0 / np.sqrt(12)) < 0.01
    n = draw(I.RandomNormal(mean=1.0, stddev=0.5, seed=2), shape, backend_name)
    assert abs(n.mean() - 1.0) < 0.01 and abs(n.std() / 0.5 - 1) < 0.02
    t = draw(I.TruncatedNormal(mean=-1.0, stddev=0.2, seed=3), shape, backend_name)
    assert t.min() >= -1.0 - 0.4 * (1 + 1e-6) and t.max() <= -1.0 + 0.4 * (1 + 1e-6)
    # a unit normal truncated to [-2, 2] has std 0.8796...
    assert abs(t.std() / (0.2 * I.TRUNCATED_STD_FACTOR) - 1) < 0.02


def test_constant_initializers_exact(backend_name):
    np.testing.assert_array_equal(draw(I.Zeros(), (3, 4), backend_name), np.zeros((3, 4)))
    np.testing.assert_array_equal(draw(I.Ones(), (5,), backend_name), np.ones(5))
    np.testing.assert_array_equal(draw(I.Constant(-2.5), (2, 3, 2), backend_name), np.full((2, 3, 2), -2.5))


# -- seeds and devices ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SEEDED)
def test_same_values_on_cpu_and_every_device(backend_name, name):
    """One seed gives the same values on every device: uniform draws bit for bit; normal
    draws to float32 rounding (the GPU's log/cos may differ by an ulp); Orthogonal is
    computed on the CPU in float64 and uploaded, so bit for bit."""
    shape = (17, 9)
    ref = draw(getattr(I, name)(seed=42), shape, "cpu")
    got = draw(getattr(I, name)(seed=42), shape, backend_name)
    if name in ("RandomUniform", "GlorotUniform", "HeUniform", "LecunUniform", "Orthogonal"):
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SEEDED)
def test_integer_seed_repeats_and_seeds_differ(backend_name, name):
    """Keras 3: an initializer seeded with an integer gives the same values on every call."""
    cls = getattr(I, name)
    init = cls(seed=5)
    a, b = draw(init, (6, 6), backend_name), draw(init, (6, 6), backend_name)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, draw(cls(seed=5), (6, 6), backend_name))
    assert not np.array_equal(a, draw(cls(seed=6), (6, 6), backend_name))


def test_seed_generator_advances_and_global_seed_reproduces(backend_name):
    gen = em.random.SeedGenerator(3)
    init = I.GlorotUniform(seed=gen)
    a, b = draw(init, (8, 8), backend_name), draw(init, (8, 8), backend_name)
    assert not np.array_equal(a, b)
    em.utils.set_random_seed(11)
    c1, c2 = draw(I.HeNormal(), (8, 8), backend_name), draw(I.HeNormal(), (8, 8), backend_name)
    assert not np.array_equal(c1, c2)
    em.utils.set_random_seed(11)
    np.testing.assert_array_equal(draw(I.HeNormal(), (8, 8), backend_name), c1)


# -- Orthogonal and Identity ------------------------------------------------------------------------

def _orthogonal_reference(shape, seed, gain):
    """Keras 3's Orthogonal in float64 from the same Philox normal draw."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    flat = (max(rows, cols), min(rows, cols))
    a = em.random.normal(flat, seed=em.random.SeedGenerator(seed), device="cpu").numpy().astype(np.float64)
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape), a


@pytest.mark.parametrize("shape", [(5, 5), (8, 3), (3, 8), (3, 3, 4, 6), (2, 2, 3, 20)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_matches_float64_reference(backend_name, shape, gain):
    got = draw(I.Orthogonal(gain=gain, seed=9), shape, backend_name).astype(np.float64)
    ref, a = _orthogonal_reference(shape, 9, gain)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    m = got.reshape(-1, shape[-1])
    rows, cols = m.shape
    # (semi-)orthogonal: the short side's Gram matrix is gain^2 * I
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-5)
    # sign correction: R = Q^T A has a positive diagonal
    q = (m if rows >= cols else m.T) / gain
    assert np.all(np.diag(q.T @ a) > 0)


def test_orthogonal_rejects_rank_below_two():
    with pytest.raises(ValueError, match="two-dimensional"):
        I.Orthogonal(seed=1)((5,))


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (4, 1)])
def test_identity_exact(backend_name, shape):
    np.testing.assert_array_equal(draw(I.Identity(), shape, backend_name), np.eye(*shape))
    np.testing.assert_array_equal(draw(I.Identity(gain=-3.0), shape, backend_name), -3.0 * np.eye(*shape))


def test_identity_rejects_other_ranks():
    for shape in [(3,), (2, 2, 2)]:
        with pytest.raises(ValueError, match="2D"):
            I.Identity()(shape)


def test_dense_with_orthogonal_and_identity_kernels(backend_name):
    with em.device(backend_name):
        d = em.layers.Dense(4, kernel_initializer="identity", bias_initializer="ones")
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        np.testing.assert_allclose(np.asarray(d(x).numpy()), x + 1.0)
        o = em.layers.Dense(6, kernel_initializer=I.Orthogonal(seed=2))
        o.build((None, 6))
        k = np.asarray(o.kernel.numpy()).astype(np.float64)
        assert o.kernel.device == backend_name
    np.testing.assert_allclose(k.T @ k, np.eye(6), atol=1e-5)


# -- names, configs, errors -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL_NAMES))
def test_get_by_name_and_config_round_trip(name):
    init = I.get(name)
    assert isinstance(init, ALL_NAMES[name])
    assert isinstance(I.get(type(init).__name__), ALL_NAMES[name])
    again = I.get(I.serialize(init))
    assert type(again) is type(init) and again.get_config() == init.get_config()


def test_config_round_trip_keeps_arguments():
    for init in [I.Constant(0.25), I.RandomUniform(-1.0, 2.0, seed=3), I.RandomNormal(0.5, 0.1, seed=4),
                 I.TruncatedNormal(stddev=2.0, seed=5), I.VarianceScaling(3.0, "fan_out", "uniform", seed=6),
                 I.Orthogonal(gain=2.0, seed=7), I.Identity(gain=0.5), I.HeNormal(seed=8)]:
        again = type(init).from_config(init.get_config())
        assert again.get_config() == init.get_config()
        if "seed" in init.get_config():
            np.testing.assert_array_equal(np.asarray(again((4, 4)).numpy()), np.asarray(init((4, 4)).numpy()))


def test_keras_aliases():
    assert isinstance(I.get("uniform"), I.RandomUniform)
    assert isinstance(I.get("normal"), I.RandomNormal)
    assert I.OrthogonalInitializer is I.Orthogonal and I.IdentityInitializer is I.Identity


@pytest.mark.parametrize("make, arg", [
    (lambda: I.get("glorot"), "glorot"),
    (lambda: I.get("orthogonall"), "orthogonal"),
    (lambda: I.RandomNormal(stddev=-1.0), "stddev"),
    (lambda: I.TruncatedNormal(stddev=float("nan")), "stddev"),
    (lambda: I.RandomUniform(minval=1.0, maxval=0.0), "minval"),
    (lambda: I.Constant("a"), "value"),
    (lambda: I.VarianceScaling(scale=0.0), "scale"),
    (lambda: I.VarianceScaling(mode="fan"), "mode"),
    (lambda: I.VarianceScaling(distribution="normal"), "distribution"),
    (lambda: I.GlorotUniform(seed="1"), "seed"),
    (lambda: I.Orthogonal(gain=float("inf")), "gain"),
    (lambda: I.Identity(gain="x"), "gain"),
    (lambda: em.layers.Dense(2, kernel_initializer="nope"), "nope"),
])
def test_bad_configuration_raises_value_error_naming_argument(make, arg):
    with pytest.raises(ValueError) as e:
        make()
    assert isinstance(e.value, InvalidArgumentError)
    assert arg in str(e.value)
