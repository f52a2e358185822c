"""The fused optimizer kernels of the catalogue (RMSprop, Adagrad, Adadelta, Adamax, Nadam,
AMSGrad) on every backend, over several steps, against float64 numpy implementations of
Keras 3's update formulas (keras/src/optimizers/*.py), with the parameter and every slot
compared. Sizes cross the serial/parallel threshold of the CPU kernels (32,768) and the
GPU's workgroup size; gradients alternate between large and tiny magnitudes so that a
misplaced epsilon or bias correction shows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ember.backend import get_backend
from ember.errors import DTypeError, EmberError, InvalidArgumentError, ShapeError

from _conformance import assert_close, expect_error, f32

SIZES = [0, 1, 37, 40_000]
TOL = dict(rtol=1e-5, atol=1e-6)


def h(x: float) -> float:
    """A learning rate or epsilon as the kernel sees it (float32), widened for the
    reference. Decay rates (beta_1, beta_2, rho) stay float64: the kernels form their
    complements 1 - beta in float64, as Keras does with Python-float hyperparameters."""
    return float(np.float32(x))


def grads(rng, n, steps):
    for t in range(steps):
        scale = 1.0 if t % 2 == 0 else 1e-4
        yield f32(rng.uniform(-1, 1, n) * scale)


# -- float64 references of Keras 3's update_step ------------------------------------------------

def ref_rmsprop(p, g, s, lr, rho, momentum, eps, centered, use_momentum):
    s["v"] = rho * s["v"] + (1 - rho) * g * g
    if centered:
        s["a"] = rho * s["a"] + (1 - rho) * g
        denom = s["v"] - s["a"] ** 2 + eps
    else:
        denom = s["v"] + eps
    inc = lr * g / np.sqrt(denom)
    if use_momentum:
        s["m"] = momentum * s["m"] + inc
        return p - s["m"]
    return p - inc


def ref_adagrad(p, g, s, lr, eps):
    s["acc"] = s["acc"] + g * g
    return p - lr * g / np.sqrt(s["acc"] + eps)


def ref_adadelta(p, g, s, lr, rho, eps):
    s["eg"] = rho * s["eg"] + (1 - rho) * g * g
    d = -np.sqrt(s["ed"] + eps) * g / np.sqrt(s["eg"] + eps)
    s["ed"] = rho * s["ed"] + (1 - rho) * d * d
    return p + lr * d


def ref_adamax(p, g, s, lr, b1, b2, eps, t):
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["u"] = np.maximum(b2 * s["u"], np.abs(g))
    return p - lr * s["m"] / ((1 - b1**t) * (s["u"] + eps))


def ref_adam(p, g, s, lr, b1, b2, eps, t, amsgrad):
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["v"] = s["v"] + (g * g - s["v"]) * (1 - b2)
    v = s["v"]
    if amsgrad:
        s["vhat"] = np.maximum(s["vhat"], s["v"])
        v = s["vhat"]
    alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    return p - alpha * s["m"] / (np.sqrt(v) + eps)


def nadam_u(b1, t):
    return b1 * (1 - 0.5 * 0.96**t)


def ref_nadam(p, g, s, lr, b1, b2, eps, t, u_product):
    u_t, u_t1 = nadam_u(b1, t), nadam_u(b1, t + 1)
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["v"] = s["v"] + (g * g - s["v"]) * (1 - b2)
    mhat = u_t1 * s["m"] / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
    vhat = s["v"] / (1 - b2**t)
    return p - lr * mhat / (np.sqrt(vhat) + eps)


# -- harness -------------------------------------------------------------------------------------

class Run:
    """A parameter and named slots on a backend, mirrored in float64."""

    def __init__(self, backend_name, n, slots, seed=0, init=None):
        self.be = get_backend(backend_name)
        self.n = n
        self.rng = np.random.default_rng(seed)
        p = f32(self.rng.uniform(-1, 1, n))
        self.pb = self.be.from_numpy(p, "float32")
        self.p64 = p.astype(np.float64)
        init = init or {}
        self.bufs = {k: self.be.from_numpy(np.full(n, init.get(k, 0.0), np.float32), "float32") for k in slots}
        self.s64 = {k: np.full(n, h(init.get(k, 0.0))) for k in slots}

    def g(self, g):
        return self.be.from_numpy(g, "float32")

    def check(self, what, slot_atol=1e-7):
        assert_close(self.be.to_numpy(self.pb, (self.n,), "float32"), self.p64, what=f"{what} param", **TOL)
        for k, b in self.bufs.items():
            assert_close(self.be.to_numpy(b, (self.n,), "float32"), self.s64[k], what=f"{what} slot {k}", rtol=1e-5, atol=slot_atol)


@pytest.mark.parametrize("variant", ["plain", "momentum", "centered", "centered_momentum"])
@pytest.mark.parametrize("n", SIZES)
def test_rmsprop_update(backend_name, variant, n):
    centered, use_mom = "centered" in variant, "momentum" in variant
    slots = ["v"] + (["a"] if centered else []) + (["m"] if use_mom else [])
    r = Run(backend_name, n, slots, seed=1)
    lr, rho, mom, eps = 0.01, 0.9, (0.9 if use_mom else 0.0), 1e-7
    for g in grads(r.rng, n, 6):
        r.be.rmsprop_update(r.pb, r.g(g), r.bufs["v"], r.bufs.get("a"), r.bufs.get("m"), lr, rho, mom, eps)
        r.p64 = ref_rmsprop(r.p64, g.astype(np.float64), r.s64, h(lr), rho, h(mom), h(eps), centered, use_mom)
    r.check(f"rmsprop {variant}")


@pytest.mark.parametrize("n", SIZES)
def test_adagrad_update(backend_name, n):
    r = Run(backend_name, n, ["acc"], seed=2, init={"acc": 0.1})
    for g in grads(r.rng, n, 6):
        r.be.adagrad_update(r.pb, r.g(g), r.bufs["acc"], 0.05, 1e-7)
        r.p64 = ref_adagrad(r.p64, g.astype(np.float64), r.s64, h(0.05), h(1e-7))
    r.check("adagrad")


@pytest.mark.parametrize("n", SIZES)
def test_adadelta_update(backend_name, n):
    r = Run(backend_name, n, ["eg", "ed"], seed=3)
    for g in grads(r.rng, n, 6):
        r.be.adadelta_update(r.pb, r.g(g), r.bufs["eg"], r.bufs["ed"], 1.0, 0.95, 1e-7)
        r.p64 = ref_adadelta(r.p64, g.astype(np.float64), r.s64, 1.0, 0.95, h(1e-7))
    r.check("adadelta", slot_atol=1e-9)


@pytest.mark.parametrize("n", SIZES)
def test_adamax_update(backend_name, n):
    r = Run(backend_name, n, ["m", "u"], seed=4)
    for t, g in enumerate(grads(r.rng, n, 6), start=1):
        r.be.adamax_update(r.pb, r.g(g), r.bufs["m"], r.bufs["u"], 0.01, 0.9, 0.999, 1e-7, t)
        r.p64 = ref_adamax(r.p64, g.astype(np.float64), r.s64, h(0.01), 0.9, 0.999, h(1e-7), t)
    r.check("adamax")


@pytest.mark.parametrize("n", SIZES)
def test_adam_amsgrad_update(backend_name, n):
    r = Run(backend_name, n, ["m", "v", "vhat"], seed=5)
    for t, g in enumerate(grads(r.rng, n, 6), start=1):
        r.be.adam_update(r.pb, r.g(g), r.bufs["m"], r.bufs["v"], 0.01, 0.9, 0.9, 1e-7, t, r.bufs["vhat"])
        r.p64 = ref_adam(r.p64, g.astype(np.float64), r.s64, h(0.01), 0.9, 0.9, h(1e-7), t, True)
    r.check("amsgrad")
    # The running maximum differs from v once gradients shrink: the test exercises it.
    if n:
        assert np.any(r.s64["vhat"] > r.s64["v"] * 1.05)


@pytest.mark.parametrize("n", SIZES)
def test_nadam_update(backend_name, n):
    r = Run(backend_name, n, ["m", "v"], seed=6)
    b1 = 0.9
    u_product = 1.0
    for t, g in enumerate(grads(r.rng, n, 6), start=1):
        u_product *= nadam_u(b1, t)
        r.be.nadam_update(r.pb, r.g(g), r.bufs["m"], r.bufs["v"], 0.01, b1, 0.999, 1e-7, t, u_product)
        r.p64 = ref_nadam(r.p64, g.astype(np.float64), r.s64, h(0.01), b1, 0.999, h(1e-7), t, u_product)
    r.check("nadam")


def test_catalogue_kernel_errors(backend_name):
    be = get_backend(backend_name)

    def z(n=3, dtype="float32"):
        return be.from_numpy(np.zeros(n, dtype), dtype)

    p, g, a, b, c = z(), z(), z(), z(), z()
    short, ip = z(2), z(3, "int32")
    expect_error(ShapeError, be.rmsprop_update, p, g, short, None, None, 0.1, 0.9, 0.0, 1e-7, words=("rmsprop_update",))
    expect_error(ShapeError, be.rmsprop_update, p, g, a, short, None, 0.1, 0.9, 0.0, 1e-7, words=("rmsprop_update",))
    expect_error(ShapeError, be.rmsprop_update, p, g, a, None, short, 0.1, 0.9, 0.9, 1e-7, words=("rmsprop_update",))
    expect_error(ShapeError, be.adagrad_update, p, short, a, 0.1, 1e-7, words=("adagrad_update",))
    expect_error(ShapeError, be.adadelta_update, p, g, a, short, 1.0, 0.95, 1e-7, words=("adadelta_update",))
    expect_error(ShapeError, be.adamax_update, p, g, short, a, 0.1, 0.9, 0.999, 1e-7, 1, words=("adamax_update",))
    expect_error(ShapeError, be.nadam_update, p, g, a, short, 0.1, 0.9, 0.999, 1e-7, 1, 0.5, words=("nadam_update",))
    expect_error(ShapeError, be.adam_update, p, g, a, b, 0.1, 0.9, 0.999, 1e-7, 1, short, words=("adam_update",))
    for fn, args in [
        (be.adamax_update, (p, g, a, b, 0.1, 0.9, 0.999, 1e-7, 0)),
        (be.nadam_update, (p, g, a, b, 0.1, 0.9, 0.999, 1e-7, 0, 0.5)),
        (be.adam_update, (p, g, a, b, 0.1, 0.9, 0.999, 1e-7, 0, c)),
    ]:
        expect_error(InvalidArgumentError, fn, *args, words=("step",))
    # Aliased slots would race (and deadlock the CPU's locks): rejected.
    expect_error(EmberError, be.rmsprop_update, p, g, a, a, None, 0.1, 0.9, 0.0, 1e-7)
    expect_error(EmberError, be.adagrad_update, p, g, p, 0.1, 1e-7)
    expect_error(EmberError, be.adam_update, p, g, a, b, 0.1, 0.9, 0.999, 1e-7, 1, a)
    expect_error(DTypeError, be.adagrad_update, ip, g, a, 0.1, 1e-7)
    expect_error(DTypeError, be.adadelta_update, p, g, ip, b, 1.0, 0.95, 1e-7)
    expect_error(DTypeError, be.nadam_update, p, ip, a, b, 0.1, 0.9, 0.999, 1e-7, 1, 0.5)


KERNEL_CALLS = {
    # name: (slot count, call(be, p, g, slots, decay, step))
    "sgd": (0, lambda be, p, g, s, d, t: be.sgd_update(p, g, None, 0.05, 0.0, False, d)),
    "sgd_momentum": (1, lambda be, p, g, s, d, t: be.sgd_update(p, g, s[0], 0.05, 0.9, True, d)),
    "adam": (2, lambda be, p, g, s, d, t: be.adam_update(p, g, s[0], s[1], 0.01, 0.9, 0.999, 1e-7, t, None, d)),
    "amsgrad": (3, lambda be, p, g, s, d, t: be.adam_update(p, g, s[0], s[1], 0.01, 0.9, 0.999, 1e-7, t, s[2], d)),
    "rmsprop": (1, lambda be, p, g, s, d, t: be.rmsprop_update(p, g, s[0], None, None, 0.01, 0.9, 0.0, 1e-7, d)),
    "rmsprop_centered_momentum": (3, lambda be, p, g, s, d, t: be.rmsprop_update(p, g, s[0], s[1], s[2], 0.01, 0.9, 0.9, 1e-7, d)),
    "adagrad": (1, lambda be, p, g, s, d, t: be.adagrad_update(p, g, s[0], 0.05, 1e-7, d)),
    "adadelta": (2, lambda be, p, g, s, d, t: be.adadelta_update(p, g, s[0], s[1], 1.0, 0.95, 1e-7, d)),
    "adamax": (2, lambda be, p, g, s, d, t: be.adamax_update(p, g, s[0], s[1], 0.01, 0.9, 0.999, 1e-7, t, d)),
    "nadam": (2, lambda be, p, g, s, d, t: be.nadam_update(p, g, s[0], s[1], 0.01, 0.9, 0.999, 1e-7, t, nadam_u(0.9, t), d)),
}


@pytest.mark.parametrize("kernel", list(KERNEL_CALLS))
@pytest.mark.parametrize("n", [1, 40_000])
def test_fused_weight_decay(backend_name, kernel, n):
    """``decay`` applies Keras's ``p -= p * decay`` before the rule in the same pass: equal
    to decaying on the host and then running the kernel with decay 0."""
    be = get_backend(backend_name)
    nslots, call = KERNEL_CALLS[kernel]
    rng = np.random.default_rng(8)
    p0 = f32(rng.uniform(-1, 1, n))
    decay = 0.01
    fused = be.from_numpy(p0, "float32")
    split = be.from_numpy(f32(p0.astype(np.float64) - p0.astype(np.float64) * decay), "float32")
    slots_a = [be.from_numpy(np.zeros(n, np.float32), "float32") for _ in range(nslots)]
    slots_b = [be.from_numpy(np.zeros(n, np.float32), "float32") for _ in range(nslots)]
    g = be.from_numpy(f32(rng.uniform(-1, 1, n)), "float32")
    call(be, fused, g, slots_a, decay, 1)
    call(be, split, g, slots_b, 0.0, 1)
    assert_close(be.to_numpy(fused, (n,), "float32"), be.to_numpy(split, (n,), "float32").astype(np.float64),
                 what=f"{kernel} fused decay", rtol=1e-6, atol=1e-7)
    # decay 0 leaves an infinite weight infinite (0 * inf is not computed)
    q = be.from_numpy(f32([np.inf]), "float32")
    call(be, q, be.from_numpy(f32([0.5]), "float32"), [be.from_numpy(np.zeros(1, np.float32), "float32") for _ in range(nslots)], 0.0, 1)
    assert np.isposinf(be.to_numpy(q, (1,), "float32")[0])
