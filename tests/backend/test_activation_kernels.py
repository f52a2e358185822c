"""The activation kernels (``Backend.unary`` / ``unary_backward``) on every backend.

Each kernel is checked against a float64 numpy reference written from the definition
(not from the kernel's rewritten stable form): on random inputs, at special values
(+-0, tiny and huge magnitudes, +-inf, NaN) and in the tails where a naive formula
loses its relative precision. Gradients are checked against central finite differences
of the reference (through ``check_op``) and, at special values, against the analytic
float64 derivative with its limits at +-inf. Kink conventions follow TensorFlow, as the
golden file states.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember as em
from ember.backend import get_backend
from ember.errors import InvalidArgumentError

from _conformance import ELEMENTWISE, GRADIENT, assert_close, check_op, expect_error, f32, ref64, to_np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
K = math.sqrt(2.0 / math.pi)
C = 0.044715

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _phi_cdf(x):
    return 0.5 * _erfc(-x / math.sqrt(2.0))


def _sig(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def _lim(x, value, lo, hi):
    """``value`` with its limits at -inf / +inf (where the definition gives inf * 0)."""
    return np.where(np.isneginf(x), lo, np.where(np.isposinf(x), hi, value))


# Forward references, from the definitions.
def r_relu6(x):
    return np.clip(x, 0.0, 6.0)


def r_hard_sigmoid(x):
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def r_step(x):
    return np.where(np.isnan(x), x, (x >= 0).astype(np.float64))


def r_leaky_relu(x, a=0.2):
    return np.where(x > 0, x, a * x)


def r_elu(x, a=1.0):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))


def r_selu(x):
    return SELU_SCALE * r_elu(x, SELU_ALPHA)


def r_gelu(x):
    return _lim(x, x * _phi_cdf(x), 0.0, np.inf)


def r_gelu_tanh(x):
    # 0.5 (1 + tanh(u)) evaluated as sigmoid(2u), the same number without float64's own
    # cancellation in the left tail (the reference must be the more accurate side).
    return _lim(x, x * _sig(2.0 * K * (x + C * x ** 3)), 0.0, np.inf)


def r_silu(x):
    return _lim(x, x * _sig(x), 0.0, np.inf)


def r_softplus(x):
    return np.logaddexp(0.0, x)


def r_softsign(x):
    return _lim(x, x / (1.0 + np.abs(x)), -1.0, 1.0)


def r_mish(x):
    return _lim(x, x * np.tanh(np.logaddexp(0.0, x)), 0.0, np.inf)


# Analytic derivatives (float64), with Keras 3's (JAX's) kink conventions and the limits at +-inf.
def d_relu6(x):
    return ((x > 0) & (x < 6)).astype(np.float64)


def d_hard_sigmoid(x):
    return ((x > -3) & (x < 3)) / 6.0


def d_step(x):
    return np.zeros_like(x)


def d_leaky_relu(x, a=0.2):
    return np.where(x >= 0, 1.0, a)  # Keras 3 / JAX: jnp.where(x >= 0, x, slope * x)


def d_elu(x, a=1.0):
    return np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0.0)))


def d_selu(x):
    # Keras 3 / JAX: scale * elu(x, alpha) with elu's strict x > 0 branch: selu'(0) = scale * alpha.
    return np.where(x <= 0, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(x, 0.0)), SELU_SCALE)


def d_gelu(x):
    return _lim(x, _phi_cdf(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), 0.0, 1.0)


def d_gelu_tanh(x):
    # 0.5 (1 + t) = sigmoid(2u) and 1 - t^2 = 4 sigmoid(2u) sigmoid(-2u), t = tanh(u)
    u = K * (x + C * x ** 3)
    s, sm = _sig(2.0 * u), _sig(-2.0 * u)
    return _lim(x, s + 2.0 * x * s * sm * K * (1 + 3 * C * x * x), 0.0, 1.0)


def d_silu(x):
    s = _sig(x)
    return _lim(x, s * (1 + x * (1 - s)), 0.0, 1.0)


def d_softplus(x):
    return _sig(x)


def d_softsign(x):
    return 1.0 / (1.0 + np.abs(x)) ** 2


def d_mish(x):
    t = np.tanh(np.logaddexp(0.0, x))
    return _lim(x, t + x * _sig(x) * (1 - t * t), 0.0, 1.0)


# op -> (reference, derivative, ember.ops function, input range)
ACTIVATIONS = {
    "relu6": (r_relu6, d_relu6, em.ops.relu6, (-2.0, 8.0)),
    "hard_sigmoid": (r_hard_sigmoid, d_hard_sigmoid, em.ops.hard_sigmoid, (-5.0, 5.0)),
    "step": (r_step, d_step, em.ops.step, (-3.0, 3.0)),
    "leaky_relu": (r_leaky_relu, d_leaky_relu, em.ops.leaky_relu, (-4.0, 4.0)),
    "elu": (r_elu, d_elu, em.ops.elu, (-4.0, 4.0)),
    "selu": (r_selu, d_selu, em.ops.selu, (-4.0, 4.0)),
    "gelu": (r_gelu, d_gelu, lambda x: em.ops.gelu(x, approximate=False), (-5.0, 5.0)),
    "gelu_tanh": (r_gelu_tanh, d_gelu_tanh, lambda x: em.ops.gelu(x, approximate=True), (-5.0, 5.0)),
    "silu": (r_silu, d_silu, em.ops.silu, (-6.0, 6.0)),
    "softplus": (r_softplus, d_softplus, em.ops.softplus, (-6.0, 6.0)),
    "softsign": (r_softsign, d_softsign, em.ops.softsign, (-6.0, 6.0)),
    "mish": (r_mish, d_mish, em.ops.mish, (-6.0, 6.0)),
}
OPS = sorted(ACTIVATIONS)

SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 3.0, -3.0, 6.0, 5.0, -5.0, 20.0, -20.0,
           30.0, -30.0, 88.0, -88.0, 100.0, -100.0, 1000.0, -1000.0, 1e30, -1e30, 3e38, -3e38, np.inf, -np.inf, np.nan]


def _run(be, op, x, alpha=None):
    extra = () if alpha is None else (alpha,)
    return be.to_numpy(be.unary(op, be.from_numpy(x, "float32"), *extra), x.shape, "float32")


def _run_backward(be, op, x, g, alpha=None):
    extra = () if alpha is None else (alpha,)
    xb = be.from_numpy(x, "float32")
    yb = be.unary(op, xb, *extra)
    gx = be.unary_backward(op, xb, yb, be.from_numpy(g, "float32"), *extra)
    return be.to_numpy(gx, x.shape, "float32")


def test_every_activation_is_a_kernel():
    """One op name across the stack: each activation kernel is listed by the Rust core."""
    assert set(OPS) <= set(em._core.UNARY_OPS)


@pytest.mark.parametrize("op", OPS)
def test_activation_kernel_forward(backend_name, op):
    be = get_backend(backend_name)
    ref, _, _, (lo, hi) = ACTIVATIONS[op]
    rng = np.random.default_rng(3)
    for shape in [(), (0,), (7,), (3, 5), (2, 3, 4)]:
        x = f32(rng.uniform(lo, hi, size=shape))
        y = _run(be, op, x)
        assert y.dtype == np.float32
        assert_close(y, ref(ref64(x)), what=f"{op}{shape}", **ELEMENTWISE)


@pytest.mark.parametrize("op", OPS)
def test_activation_kernel_large_input(backend_name, op):
    """Past the parallel threshold (CPU chunks, many GPU workgroups)."""
    be = get_backend(backend_name)
    ref, _, _, (lo, hi) = ACTIVATIONS[op]
    x = f32(np.random.default_rng(4).uniform(lo, hi, size=(1 << 17) + 3))
    assert_close(_run(be, op, x), ref(ref64(x)), what=f"{op} large", **ELEMENTWISE)


@pytest.mark.parametrize("op", OPS)
def test_activation_kernel_special_values(backend_name, op):
    """+-0, tiny and huge magnitudes, +-inf and NaN: the values are the definition's (its
    limits where it reads inf * 0); NaN propagates; the gradient is finite and equals the
    analytic derivative (its limits at +-inf)."""
    be = get_backend(backend_name)
    ref, dref, _, _ = ACTIVATIONS[op]
    x = f32(SPECIAL)
    with np.errstate(all="ignore"):
        want = ref(ref64(x))
        assert_close(_run(be, op, x), want, what=f"{op} special values", **ELEMENTWISE)
        xf = x[~np.isnan(x)]
        g = _run_backward(be, op, xf, np.ones_like(xf))
        assert np.all(np.isfinite(g)), f"{op}: non-finite gradient {g} at {xf}"
        assert_close(g, dref(ref64(xf)), what=f"{op} derivative at special values", **ELEMENTWISE)


TAILS = {
    # op: inputs where the value is small and a naive formula loses relative precision
    "softplus": [-80.0, -50.0, -20.0, -10.0, -1e-3, 1e-3],
    "elu": [-1e-6, -1e-4, -1e-2, -0.3],
    "selu": [-1e-6, -1e-4, -1e-2, -0.3],
    "gelu": [-9.0, -7.0, -5.0, -3.0, -1e-4, 1e-4],
    "gelu_tanh": [-7.0, -5.0, -3.0, -1e-4, 1e-4],
    "silu": [-80.0, -40.0, -20.0, -1e-4, 1e-4],
    "mish": [-80.0, -40.0, -20.0, -1e-4, 1e-4],
    "softsign": [1e-30, -1e-6],
}


@pytest.mark.parametrize("op", sorted(TAILS))
def test_activation_kernel_relative_precision_in_tails(backend_name, op):
    """Relative error <= 1e-5 with no absolute slack: stable forms (log1p, expm1, erfc,
    x * sigmoid(2u)) rather than the cancelling textbook ones."""
    be = get_backend(backend_name)
    x = f32(TAILS[op])
    assert_close(_run(be, op, x), ACTIVATIONS[op][0](ref64(x)), what=f"{op} tail", rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("op", OPS)
def test_activation_gradient_finite_differences(backend_name, op):
    _, _, fn, (lo, hi) = ACTIVATIONS[op]
    x = np.random.default_rng(5).uniform(lo, hi, size=(3, 4))
    check_op(backend_name, fn, ACTIVATIONS[op][0], [x], grad_tol=GRADIENT)


@pytest.mark.parametrize("op,alpha", [("leaky_relu", 0.01), ("leaky_relu", 0.3), ("leaky_relu", 0.0),
                                      ("leaky_relu", -0.5), ("elu", 0.5), ("elu", 2.0), ("elu", 0.0)])
def test_parametric_kernels(backend_name, op, alpha):
    """``alpha`` is leaky_relu's negative slope and elu's alpha, fused into one kernel."""
    be = get_backend(backend_name)
    ref, dref, _, _ = ACTIVATIONS[op]
    x = f32(np.concatenate([np.random.default_rng(6).uniform(-4, 4, 50), [0.0, -0.0, 1e-6, -1e-6, 1e30, -1e30,
                                                                            np.inf, -np.inf]]))
    with np.errstate(invalid="ignore"):  # leaky_relu(-inf) with slope 0 is 0 * -inf = NaN, as in TensorFlow
        want = ref(ref64(x), alpha)
    assert_close(_run(be, op, x, alpha), want, what=f"{op}({alpha})", **ELEMENTWISE)
    g = f32(np.random.default_rng(7).uniform(-1, 1, x.shape))
    assert_close(_run_backward(be, op, x, g, alpha), ref64(g) * dref(ref64(x), alpha), what=f"{op}'({alpha})",
                 **ELEMENTWISE)
    fn = em.ops.leaky_relu if op == "leaky_relu" else em.ops.elu
    xs = np.random.default_rng(8).uniform(-3, 3, size=(2, 5))
    check_op(backend_name, lambda t: fn(t, alpha), lambda v: ref(v, alpha), [xs])


@pytest.mark.parametrize("op,default", [("leaky_relu", 0.2), ("elu", 1.0)])
def test_parametric_kernel_default_is_keras(backend_name, op, default):
    be = get_backend(backend_name)
    x = f32(np.linspace(-3, 3, 13))
    np.testing.assert_array_equal(_run(be, op, x), _run(be, op, x, default))
    np.testing.assert_array_equal(_run_backward(be, op, x, np.ones_like(x)),
                                  _run_backward(be, op, x, np.ones_like(x), default))


def test_alpha_is_validated(backend_name):
    be = get_backend(backend_name)
    buf = be.from_numpy(f32([1.0, -1.0]), "float32")
    expect_error(InvalidArgumentError, be.unary, "relu", buf, 0.5, words=("relu", "alpha"))
    expect_error(InvalidArgumentError, be.unary_backward, "gelu", buf, buf, buf, 0.5, words=("gelu", "alpha"))
    expect_error(InvalidArgumentError, be.unary, "elu", buf, float("nan"), words=("elu", "alpha"))
    expect_error(InvalidArgumentError, be.unary, "leaky_relu", buf, float("inf"), words=("leaky_relu", "alpha"))
    expect_error(InvalidArgumentError, be.unary, "swish", buf, words=("swish", "silu"))
    x = em.tensor([1.0], device=backend_name)
    expect_error(InvalidArgumentError, em.ops.leaky_relu, x, float("nan"), words=("negative_slope",))
    expect_error(InvalidArgumentError, em.ops.elu, x, "1", words=("alpha",))


def test_kink_conventions(backend_name):
    """Derivatives at kinks as Keras 3 on JAX gives them: relu'(0) = 0 (jax.nn.relu's
    custom jvp), leaky_relu'(0) = 1 (jnp.where(x >= 0, ...)), elu'(0) = alpha and
    selu'(0) = scale * alpha (the strict x > 0 branch of jax.nn.elu)."""
    be = get_backend(backend_name)
    cases = {
        "relu6": ([0.0, 6.0], [0.0, 0.0]),
        "hard_sigmoid": ([-3.0, 3.0], [0.0, 0.0]),
        "relu": ([0.0], [0.0]),
        "leaky_relu": ([0.0, -0.0], [1.0, 1.0]),
        "elu": ([0.0], [1.0]),
        "selu": ([0.0], [SELU_SCALE * SELU_ALPHA]),
        "step": ([0.0, -1.0, 1.0], [0.0, 0.0, 0.0]),
    }
    for op, (xs, want) in cases.items():
        x = f32(xs)
        assert_close(_run_backward(be, op, x, np.ones_like(x)), np.array(want), what=f"{op}' at kinks", **ELEMENTWISE)
    x = f32([0.0])
    assert_close(_run_backward(be, "elu", x, np.ones_like(x), 0.5), np.array([0.5]), what="elu(0.5)'(0)", **ELEMENTWISE)
    assert_close(_run_backward(be, "leaky_relu", x, np.ones_like(x), 0.01), np.array([1.0]), what="leaky_relu(0.01)'(0)", **ELEMENTWISE)
    # Through the ops front end too (the tape calls the same kernels).
    for fn, want in ((em.ops.leaky_relu, 1.0), (em.ops.selu, SELU_SCALE * SELU_ALPHA), (em.ops.relu, 0.0), (em.ops.elu, 1.0)):
        v = em.tensor(f32([0.0]), device=backend_name, requires_grad=True)
        fn(v).backward(em.tensor(f32([1.0]), device=backend_name))
        assert_close(to_np(v.grad), np.array([want]), what=f"{fn.__name__}'(0) through ops", **ELEMENTWISE)
    # step(0) = 1: Heaviside with H(0) = 1, as a perceptron fires at a zero net input.
    assert _run(be, "step", f32([0.0, -0.0, -1e-30])).tolist() == [1.0, 1.0, 0.0]


def test_gelu_tanh_is_the_tanh_formula_not_erf(backend_name):
    """The two gelu kernels differ by the approximation error (about 1e-4 near |x| = 2)."""
    be = get_backend(backend_name)
    x = f32([-2.0, 2.0])
    exact, approx = _run(be, "gelu", x), _run(be, "gelu_tanh", x)
    assert_close(exact, r_gelu(ref64(x)), what="gelu", **ELEMENTWISE)
    assert_close(approx, r_gelu_tanh(ref64(x)), what="gelu_tanh", **ELEMENTWISE)
    assert np.all(np.abs(exact - approx) > 5e-5)


def test_tanh_keeps_relative_precision_near_zero(backend_name):
    """tanh (the unary kernel and the fused dense epilogue) has relative precision at
    tiny inputs: the old GPU form (exp(2x) - 1) / (exp(2x) + 1) was 1% off at 1e-6."""
    be = get_backend(backend_name)
    x = f32([1e-6, -1e-5, 1e-4, -1e-3, 1e-2, -0.1])
    assert_close(_run(be, "tanh", x), np.tanh(ref64(x)), what="tanh near 0", rtol=1e-5, atol=0.0)
    xt = em.tensor(x.reshape(1, -1), device=backend_name)
    eye = em.tensor(np.eye(x.size, dtype=np.float32), device=backend_name)
    y = em.ops.dense(xt, eye, None, "tanh")
    assert_close(to_np(y)[0], np.tanh(ref64(x)), what="dense(tanh) near 0", rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("op", OPS)
def test_activation_kernel_sweep(backend_name, op):
    """A dense sweep over [-95, 95] (past exp's overflow points both ways) and tiny
    magnitudes: values and derivatives within the elementwise tolerance everywhere."""
    be = get_backend(backend_name)
    ref, dref, _, _ = ACTIVATIONS[op]
    tiny = np.geomspace(1e-8, 1e-1, 50)
    x = f32(np.concatenate([np.linspace(-95.0, 95.0, 40001), tiny, -tiny]))
    with np.errstate(over="ignore", under="ignore"):
        want, dwant = ref(ref64(x)), dref(ref64(x))
    assert_close(_run(be, op, x), want, what=f"{op} sweep", **ELEMENTWISE)
    assert_close(_run_backward(be, op, x, np.ones_like(x)), dwant, what=f"{op}' sweep", **ELEMENTWISE)
