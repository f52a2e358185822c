"""keras.random's distributions on Ember's Philox streams: Kolmogorov-Smirnov / chi-square
tests against scipy's distributions, seeds reproduce, and one seed gives the same draws
on every device."""

import numpy as np
import pytest

import ember as em

stats = pytest.importorskip("scipy.stats")
N = 20000


@pytest.mark.parametrize("name,draw,cdf", [
    ("gamma-3", lambda s: em.random.gamma((N,), 3.0, seed=s), lambda x: stats.gamma.cdf(x, 3.0)),
    ("gamma-0.4", lambda s: em.random.gamma((N,), 0.4, seed=s), lambda x: stats.gamma.cdf(x, 0.4)),
    ("beta", lambda s: em.random.beta((N,), 2.0, 5.0, seed=s), lambda x: stats.beta.cdf(x, 2.0, 5.0)),
    ("uniform", lambda s: em.random.uniform((N,), -1.0, 2.0, seed=s), lambda x: stats.uniform.cdf(x, -1.0, 3.0)),
])
def test_continuous_against_scipy(name, draw, cdf):
    x = draw(11).numpy().astype(np.float64)
    assert stats.kstest(x, cdf).pvalue > 1e-3
    np.testing.assert_array_equal(draw(11).numpy(), x.astype(np.float32))  # the seed reproduces


def test_discrete_against_scipy():
    b = em.random.binomial((N,), 12, 0.35, seed=5).numpy()
    freq = np.bincount(b.astype(int), minlength=13)
    expected = stats.binom.pmf(np.arange(13), 12, 0.35) * N
    keep = expected > 5
    assert stats.chisquare(freq[keep], expected[keep] * freq[keep].sum() / expected[keep].sum()).pvalue > 1e-3
    r = em.random.randint((N,), -2, 3, seed=5).numpy()
    assert r.dtype == np.int32 and set(np.unique(r)) == {-2, -1, 0, 1, 2}
    assert stats.chisquare(np.bincount(r + 2)).pvalue > 1e-3
    p = np.array([0.1, 0.6, 0.3])
    c = em.random.categorical(em.tensor(np.log(p)[None].astype(np.float32)), N, seed=5).numpy()
    assert c.shape == (1, N) and stats.chisquare(np.bincount(c[0], minlength=3), p * N).pvalue > 1e-3


def test_shuffle_dropout_and_errors():
    x = em.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    s = em.random.shuffle(x, axis=1, seed=2).numpy()
    assert sorted(s[0].tolist()) == [0, 1, 2, 3]
    np.testing.assert_array_equal(s - s[:, :1], np.broadcast_to(s[0] - s[0, 0], (3, 4)))  # one permutation for all rows
    y = em.random.dropout(em.ones((50, 40)), 0.25, noise_shape=(None, 1), seed=4).numpy()
    assert set(np.unique(y)) <= {np.float32(0.0), np.float32(4 / 3)} and (y == y[:, :1]).all()
    assert abs((y[:, 0] == 0).mean() - 0.25) < 0.2
    with pytest.raises(NotImplementedError, match="float16"):
        em.random.normal((2,), dtype="float16")
    with pytest.raises(em.errors.InvalidArgumentError, match="maxval"):
        em.random.randint((2,), 3, 3)
    with pytest.raises(em.errors.InvalidArgumentError, match="alpha"):
        em.random.gamma((2,), -1.0)
    assert em.random.SeedGenerator(1, name="g").name == "g"


def test_same_draws_on_every_device(backend_name):
    with em.device(backend_name):
        got = [em.random.gamma((64,), 1.5, seed=9).numpy(), em.random.randint((64,), 0, 7, seed=9).numpy(),
               em.random.categorical(em.tensor(np.zeros((2, 5), np.float32)), 16, seed=9).numpy(),
               em.random.shuffle(em.tensor(np.arange(10, dtype=np.float32)), seed=9).numpy()]
    ref = [em.random.gamma((64,), 1.5, seed=9).numpy(), em.random.randint((64,), 0, 7, seed=9).numpy(),
           em.random.categorical(em.tensor(np.zeros((2, 5), np.float32)), 16, seed=9).numpy(),
           em.random.shuffle(em.tensor(np.arange(10, dtype=np.float32)), seed=9).numpy()]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=1e-6)
