"""The optimizer catalogue on every device: golden trajectories (golden.json 'optimizers',
'epsilon_discriminators', 'clipping'), multi-step trajectories against a float64 numpy
implementation of Keras 3's update formulas (with weight decay, clipping and schedules),
separation from the common wrong formulations (misplaced epsilon, wrong bias correction,
Keras 2's Nadam cache, coupled decay), configuration errors, config and state round trips,
learning-rate schedules, and training the sklearn digits MLP to >= 0.9 test accuracy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, ShapeError
from ember.optimizers import schedules

OPT = {
    "sgd": em.optimizers.SGD, "rmsprop": em.optimizers.RMSprop, "adagrad": em.optimizers.Adagrad,
    "adadelta": em.optimizers.Adadelta, "adam": em.optimizers.Adam, "adamw": em.optimizers.AdamW,
    "adamax": em.optimizers.Adamax, "nadam": em.optimizers.Nadam,
}

# golden state names -> Ember slot names (Keras's variable names)
SLOT_NAMES = {
    "sgd": {"m": "momentum"},
    "rmsprop": {"v": "velocity", "mom": "momentum", "ag": "average_gradient"},
    "adagrad": {"acc": "accumulator"},
    "adadelta": {"ag": "accumulated_grad", "ad": "accumulated_delta_var"},
    "adam": {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"},
    "adamw": {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"},
    "adamax": {"m": "m", "u": "u"},
    "nadam": {"m": "momentum", "v": "velocity"},
}


def close(actual, expected, rtol, atol, what=""):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol,
                               err_msg=what)


def rel_distance(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-30)))


# -----------------------------------------------------------------------------------------------
# float64 reference: Keras 3 update_step per optimizer, with optional wrong variants
# -----------------------------------------------------------------------------------------------

DEFAULTS = {
    "sgd": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
    "rmsprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    "adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
    "adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
    "adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "adamw": dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "nadam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
}


class Reference:
    """Keras 3's optimizer in float64 numpy for a list of variables.

    ``variant`` selects a wrong formulation instead (to show the tests would catch it):
    eps_outside_sqrt, eps_on_corrected (PyTorch's Adam placement), no_bias_correction,
    step_off_by_one, keras2_nadam_cache, eps_on_uncorrected (Nadam), decay_after_update,
    decay_not_scaled_by_lr, zero_accumulator (Adagrad).
    """

    def __init__(self, kind, hp, thetas, schedule=None, variant=None):
        self.kind, self.variant = kind, variant
        self.hp = {**DEFAULTS[kind], **hp}
        self.lr = schedule or (lambda step, lr=self.hp["learning_rate"]: lr)
        self.thetas = [np.array(t, np.float64) for t in thetas]
        init = self.hp.get("initial_accumulator_value", 0.0) if variant != "zero_accumulator" else 0.0
        self.state = [{"acc": np.full(t.shape, init)} for t in self.thetas]
        self.iterations = 0
        self.u_product = 1.0

    def clip(self, grads):
        hp = self.hp
        if hp.get("clipvalue"):
            return [np.clip(g, -hp["clipvalue"], hp["clipvalue"]) for g in grads]
        if hp.get("clipnorm"):
            c = hp["clipnorm"]
            return [g * c / max(np.sqrt(np.sum(g * g)), c) for g in grads]
        if hp.get("global_clipnorm"):
            c = hp["global_clipnorm"]
            n = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
            return [g * (c * min(1 / n, 1 / c) if n > 0 else 1.0) for g in grads]
        return grads

    def step(self, grads):
        grads = self.clip([np.asarray(g, np.float64) for g in grads])
        lr = self.lr(self.iterations)
        t = self.iterations + 1
        wd = self.hp.get("weight_decay")
        if self.kind == "nadam":
            self.u_product *= self._u(t)
        for i, g in enumerate(grads):
            if wd and self.variant != "decay_after_update":
                self.thetas[i] = self.thetas[i] - self.thetas[i] * wd * (1.0 if self.variant == "decay_not_scaled_by_lr" else lr)
            self.thetas[i] = self.rule(self.thetas[i], g, self.state[i], lr, t)
            if wd and self.variant == "decay_after_update":
                self.thetas[i] = self.thetas[i] - self.thetas[i] * wd * lr
        self.iterations += 1
        return [t.copy() for t in self.thetas]

    def _u(self, t):
        b1 = self.hp["beta_1"]
        return b1 * (1 - 0.5 * 0.96 ** ((0.004 * t) if self.variant == "keras2_nadam_cache" else t))

    def rule(self, p, g, s, lr, t):
        hp, var, k = self.hp, self.variant, self.kind
        z = np.zeros_like(p)
        if var == "step_off_by_one":
            t = t + 1
        if k == "sgd":
            mom = hp["momentum"]
            if not mom:
                return p - lr * g
            s["m"] = mom * s.get("m", z) - lr * g
            return p + (mom * s["m"] - lr * g if hp["nesterov"] else s["m"])
        if k == "rmsprop":
            rho, eps = hp["rho"], hp["epsilon"]
            s["v"] = rho * s.get("v", z) + (1 - rho) * g * g
            if hp["centered"]:
                s["ag"] = rho * s.get("ag", z) + (1 - rho) * g
                var_ = s["v"] - s["ag"] ** 2
            else:
                var_ = s["v"]
            inc = lr * g / (np.sqrt(var_) + eps if var == "eps_outside_sqrt" else np.sqrt(var_ + eps))
            if hp["momentum"] > 0:
                s["mom"] = hp["momentum"] * s.get("mom", z) + inc
                return p - s["mom"]
            return p - inc
        if k == "adagrad":
            eps = hp["epsilon"]
            s["acc"] = s["acc"] + g * g
            return p - lr * g / (np.sqrt(s["acc"]) + eps if var == "eps_outside_sqrt" else np.sqrt(s["acc"] + eps))
        if k == "adadelta":
            rho, eps = hp["rho"], hp["epsilon"]
            s["ag"] = rho * s.get("ag", z) + (1 - rho) * g * g
            ed = s.get("ad", z)
            if var == "eps_outside_sqrt":
                d = -(np.sqrt(ed) + eps) * g / (np.sqrt(s["ag"]) + eps)
            else:
                d = -np.sqrt(ed + eps) * g / np.sqrt(s["ag"] + eps)
            s["ad"] = rho * ed + (1 - rho) * d * d
            return p + lr * d
        b1, b2, eps = hp["beta_1"], hp["beta_2"], hp["epsilon"]
        s["m"] = s.get("m", z) + (g - s.get("m", z)) * (1 - b1)
        if k in ("adam", "adamw"):
            s["v"] = s.get("v", z) + (g * g - s.get("v", z)) * (1 - b2)
            v = s["v"]
            if hp["amsgrad"]:
                s["vhat"] = np.maximum(s.get("vhat", z), s["v"])
                v = s["vhat"]
            if var == "no_bias_correction":
                return p - lr * s["m"] / (np.sqrt(v) + eps)
            if var == "eps_on_corrected":
                return p - lr * (s["m"] / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            return p - alpha * s["m"] / (np.sqrt(v) + eps)
        if k == "adamax":
            s["u"] = np.maximum(b2 * s.get("u", z), np.abs(g))
            bc = 1.0 if var == "no_bias_correction" else 1 - b1**t
            return p - lr * s["m"] / (bc * (s["u"] + eps))
        if k == "nadam":
            u_t, u_t1 = self._u(t), self._u(t + 1)
            s["v"] = s.get("v", z) + (g * g - s.get("v", z)) * (1 - b2)
            mhat = u_t1 * s["m"] / (1 - self.u_product * u_t1) + (1 - u_t) * g / (1 - self.u_product)
            if var == "eps_on_uncorrected":
                return p - lr * mhat * math.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + eps)
            return p - lr * mhat / (np.sqrt(s["v"] / (1 - b2**t)) + eps)
        raise AssertionError(k)


def run_ember(kind, hp, thetas, grad_seq, device, optimizer=None):
    opt = optimizer or OPT[kind](**hp)
    vs = [em.Variable(np.asarray(t, np.float32), device=device) for t in thetas]
    out = []
    for grads in grad_seq:
        opt.apply_gradients([(em.tensor(np.asarray(g, np.float32), device=device), v) for g, v in zip(grads, vs)])
        out.append([v.numpy().astype(np.float64) for v in vs])
    return opt, vs, out


def run_reference(kind, hp, thetas, grad_seq, **kw):
    ref = Reference(kind, hp, thetas, **kw)
    return ref, [ref.step(g) for g in grad_seq]


# -----------------------------------------------------------------------------------------------
# golden values
# -----------------------------------------------------------------------------------------------

def _golden():
    from pathlib import Path

    return json.loads((Path(__file__).parent / "reference" / "golden.json").read_text())


GOLDEN = _golden()


def _check_golden_case(case, device, rtol, atol):
    opt, (v,), out = run_ember(case["optimizer"], case["hyperparameters"], [case["theta0"]],
                               [[g] for g in case["grads"]], device)
    theta = np.array([o[0] for o in out])
    close(theta, case["theta"], rtol=rtol, atol=atol, what=f"{case['name']} on {device}")
    assert opt.iterations == len(case["grads"])
    names = SLOT_NAMES[case["optimizer"]]
    for key, want in case["state_after_last_step"].items():
        if key == "u_product":
            assert opt._u_product == pytest.approx(want, rel=1e-12)
            continue
        got = opt.slot(v, names[key]).numpy()
        close(got, want, rtol=rtol, atol=atol * 1e-3 if key in ("v", "vhat", "acc", "ag", "ad") else atol,
              what=f"{case['name']} state {key}")
    return theta


@pytest.mark.parametrize("case", GOLDEN["optimizers"]["cases"], ids=lambda c: c["name"])
def test_golden_trajectory(backend_name, case):
    atol = 1e-7 if case["hyperparameters"]["learning_rate"] == 1e-3 else 1e-6
    theta = _check_golden_case(case, backend_name, rtol=1e-5, atol=atol)
    # The float64 reference of this file reproduces the golden values too.
    _, ref = run_reference(case["optimizer"], case["hyperparameters"], [case["theta0"]], [[g] for g in case["grads"]])
    close([r[0] for r in ref], case["theta"], rtol=1e-12, atol=1e-15, what=f"reference {case['name']}")
    _check_far_from_variants(case, theta, rtol=1e-5)


def _check_far_from_variants(case, theta, rtol):
    """Where a listed wrong formulation lands measurably away from the golden values (beyond
    10x the tolerance), Ember's trajectory must be nearer the golden values than the wrong one
    (adamw_default's variants differ from it by ~1e-8, below float32 resolution: skipped)."""
    for name, wrong in case.get("incorrect_variants_for_reference", {}).items():
        if np.shape(wrong) != np.shape(case["theta"]) or rel_distance(case["theta"], wrong) < 10 * rtol:
            continue
        assert rel_distance(theta, case["theta"]) < 0.1 * rel_distance(wrong, case["theta"]), (
            f"{case['name']} is not separated from the incorrect variant {name}")


@pytest.mark.parametrize("case", GOLDEN["optimizers"]["epsilon_discriminators"], ids=lambda c: c["name"])
def test_golden_epsilon_discriminator(backend_name, case):
    theta = _check_golden_case(case, backend_name, rtol=1e-4, atol=0.0)
    assert case["min_relative_separation_from_incorrect_variants"] > 0.5
    _check_far_from_variants(case, theta, rtol=1e-4)


@pytest.mark.parametrize("kind", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_golden_clipping(backend_name, kind):
    for c in GOLDEN["clipping"][kind]:
        groups = [[g] for g in c["grads"]] if kind == "clipnorm" else [c["grads"]]
        wants = [[w] for w in c["clipped"]] if kind == "clipnorm" else [c["clipped"]]
        for grads, want in zip(groups, wants):
            # SGD(lr=1) from zero: the variables end at minus the clipped gradients
            opt = em.optimizers.SGD(learning_rate=1.0, **{kind: c[kind]})
            _, vs, _ = run_ember("sgd", {}, [np.zeros(np.shape(g)) for g in grads], [grads], backend_name, optimizer=opt)
            for v, w in zip(vs, want):
                close(-v.numpy(), w, rtol=1e-5, atol=1e-6, what=f"{kind} {c[kind]}")


def test_golden_sgd_step_with_clipnorm(backend_name):
    c = GOLDEN["clipping"]["sgd_step_with_clipnorm"]
    opt = em.optimizers.SGD(learning_rate=c["learning_rate"], clipnorm=c["clipnorm"])
    _, (v,), _ = run_ember("sgd", {}, [c["theta0"]], [[c["grad"]]], backend_name, optimizer=opt)
    close(v.numpy(), c["theta1"], rtol=1e-5, atol=1e-6)


def test_clipping_non_finite_norm_gives_nan(backend_name):
    """Keras's clip_by_global_norm turns every gradient into NaN when the norm is not finite."""
    opt = em.optimizers.SGD(1.0, global_clipnorm=1.0)
    _, (a, b), _ = run_ember("sgd", {}, [np.zeros(2), np.zeros(1)], [[[np.inf, 1.0], [2.0]]], backend_name, optimizer=opt)
    assert np.all(np.isnan(a.numpy())) and np.all(np.isnan(b.numpy()))


# -----------------------------------------------------------------------------------------------
# trajectories against the float64 reference
# -----------------------------------------------------------------------------------------------

CONFIGS = [
    ("sgd", {}), ("sgd", {"learning_rate": 0.1, "momentum": 0.9}), ("sgd", {"learning_rate": 0.05, "momentum": 0.5, "nesterov": True}),
    ("rmsprop", {}), ("rmsprop", {"learning_rate": 0.01, "momentum": 0.8}), ("rmsprop", {"centered": True, "rho": 0.8}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.9, "epsilon": 1e-4}),
    ("adagrad", {}), ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.0, "epsilon": 1e-3}),
    ("adadelta", {}), ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
    ("adam", {}), ("adam", {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "amsgrad": True}),
    ("adamw", {}), ("adamw", {"learning_rate": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("adamax", {}), ("adamax", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95}),
    ("nadam", {}), ("nadam", {"learning_rate": 0.02, "beta_1": 0.95, "beta_2": 0.99}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.05, "clipnorm": 0.5}),
    ("rmsprop", {"weight_decay": 0.01, "clipvalue": 0.3}),
    ("adam", {"learning_rate": 0.01, "weight_decay": 0.01, "global_clipnorm": 1.0}),
    ("nadam", {"learning_rate": 0.01, "clipnorm": 0.2}),
    ("adadelta", {"learning_rate": 1.0, "global_clipnorm": 0.5}),
    ("adagrad", {"learning_rate": 0.05, "clipvalue": 0.1, "weight_decay": 0.1}),
    ("adamax", {"learning_rate": 0.01, "weight_decay": 0.02, "global_clipnorm": 2.0}),
]


def problem(seed, steps=8):
    """Two variables (a matrix and a vector) and gradients that alternate between unit and
    tiny scales, so epsilon and bias corrections matter in some steps."""
    rng = np.random.default_rng(seed)
    thetas = [rng.uniform(-1, 1, (4, 3)).astype(np.float32), rng.uniform(-1, 1, 5).astype(np.float32)]
    seq = []
    for t in range(steps):
        scale = 1.0 if t % 3 != 2 else 1e-3
        seq.append([(rng.uniform(-1, 1, th.shape) * scale).astype(np.float32) for th in thetas])
    return thetas, seq


@pytest.mark.parametrize("kind,hp", CONFIGS, ids=[f"{k}-{'-'.join(f'{a}{b}' for a, b in h.items()) or 'defaults'}" for k, h in CONFIGS])
def test_trajectory_matches_keras_formulas(backend_name, kind, hp):
    thetas, seq = problem(hash((kind, tuple(sorted(hp)))) % 1000)
    opt, vs, out = run_ember(kind, hp, thetas, seq, backend_name)
    ref, ref_out = run_reference(kind, hp, thetas, seq)
    for step, (got, want) in enumerate(zip(out, ref_out)):
        for i, (a, b) in enumerate(zip(got, want)):
            close(a, b, rtol=2e-5, atol=2e-6, what=f"{kind} {hp} step {step + 1} variable {i}")


def test_trajectory_with_schedule(backend_name):
    """The schedule is evaluated at ``iterations`` (0 for the first step) and also scales
    the weight decay, as in Keras."""
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    hp = {"learning_rate": sched, "momentum": 0.9, "weight_decay": 0.1}
    thetas, seq = problem(7)
    opt, _, out = run_ember("sgd", hp, thetas, seq, backend_name)
    _, ref_out = run_reference("sgd", {"momentum": 0.9, "weight_decay": 0.1}, thetas, seq, schedule=sched)
    for got, want in zip(out, ref_out):
        for a, b in zip(got, want):
            close(a, b, rtol=2e-5, atol=2e-6)
    assert opt.learning_rate == pytest.approx(sched(len(seq)))


# A wrong formulation per optimizer, and a problem on which it separates: Ember must match
# the right formula to 2e-5 and stay far (relative distance > 1e-2) from the wrong one.
VARIANTS = [
    ("adam", {}, "eps_on_corrected", "tiny"), ("adam", {}, "no_bias_correction", "unit"),
    ("adam", {}, "step_off_by_one", "unit"), ("adamw", {"learning_rate": 0.05, "weight_decay": 0.5}, "decay_after_update", "unit"),
    ("adamw", {"learning_rate": 0.05, "weight_decay": 0.5}, "decay_not_scaled_by_lr", "unit"),
    ("rmsprop", {}, "eps_outside_sqrt", "tiny"), ("rmsprop", {"centered": True}, "eps_outside_sqrt", "tiny"),
    ("adagrad", {"initial_accumulator_value": 1e-9}, "eps_outside_sqrt", "tiny"), ("adagrad", {}, "zero_accumulator", "unit"),
    ("adadelta", {}, "eps_outside_sqrt", "tiny"), ("adamax", {}, "no_bias_correction", "unit"),
    ("adamax", {}, "step_off_by_one", "unit"), ("nadam", {}, "keras2_nadam_cache", "unit"),
    ("nadam", {}, "eps_on_uncorrected", "tiny"), ("nadam", {}, "step_off_by_one", "unit"),
]


@pytest.mark.parametrize("kind,hp,variant,scale", VARIANTS, ids=[f"{k}-{v}" for k, _, v, _ in VARIANTS])
def test_wrong_formulations_are_distinguished(backend_name, kind, hp, variant, scale):
    rng = np.random.default_rng(3)
    thetas = [np.zeros(6, np.float32) if scale == "tiny" else rng.uniform(-1, 1, 6).astype(np.float32)]
    mag = 1e-6 if scale == "tiny" else 1.0
    seq = [[(rng.uniform(-1, 1, 6) * mag).astype(np.float32)] for _ in range(4)]
    _, _, out = run_ember(kind, hp, thetas, seq, backend_name)
    _, right = run_reference(kind, hp, thetas, seq)
    _, wrong = run_reference(kind, hp, thetas, seq, variant=variant)
    got = np.array([o[0] for o in out])
    right, wrong = np.array([r[0] for r in right]), np.array([w[0] for w in wrong])
    close(got, right, rtol=2e-5, atol=1e-12 if scale == "tiny" else 1e-6, what=f"{kind} right")
    # compare displacements from the start, which the formulas produce
    t0 = thetas[0].astype(np.float64)
    sep = rel_distance(wrong - t0, right - t0)
    assert sep > 1e-2, f"the problem does not separate ({sep:.2g})"
    assert rel_distance(got - t0, right - t0) < 0.05 * sep, f"{kind} is not separated from the wrong formulation {variant}"


def test_cpu_and_gpu_agree_on_every_optimizer():
    from conftest import GPU_UNAVAILABLE

    if GPU_UNAVAILABLE:
        pytest.skip(GPU_UNAVAILABLE)
    thetas, seq = problem(11)
    for kind, hp in CONFIGS:
        _, _, cpu = run_ember(kind, hp, thetas, seq, "cpu")
        _, _, gpu = run_ember(kind, hp, thetas, seq, "gpu")
        for a, b in zip(cpu[-1], gpu[-1]):
            close(b, a, rtol=1e-5, atol=1e-6, what=f"{kind} {hp} cpu vs gpu")


# -----------------------------------------------------------------------------------------------
# configuration
# -----------------------------------------------------------------------------------------------

def test_keras_defaults():
    for kind, defaults in DEFAULTS.items():
        opt = OPT[kind]()
        for k, v in defaults.items():
            assert getattr(opt, k) == pytest.approx(v), f"{kind}.{k}"
    assert em.optimizers.SGD().name == "SGD" and em.optimizers.Nadam().name == "nadam"
    assert em.optimizers.Adam().weight_decay is None and em.optimizers.AdamW().weight_decay == pytest.approx(0.004)


BAD = [
    (kind, arg, value)
    for kind in OPT
    for arg, value in [("learning_rate", -0.1), ("learning_rate", float("nan")), ("learning_rate", "fast"),
                       ("weight_decay", -1.0), ("clipnorm", -1.0), ("clipvalue", float("inf")), ("global_clipnorm", "1")]
] + [
    ("sgd", "momentum", -0.1), ("sgd", "momentum", 1.0), ("sgd", "momentum", 1.5), ("sgd", "nesterov", "yes"),
    ("rmsprop", "momentum", 1.0), ("rmsprop", "momentum", -0.5), ("rmsprop", "rho", 1.0), ("rmsprop", "epsilon", -1e-7),
    ("rmsprop", "centered", 1), ("adagrad", "initial_accumulator_value", -0.1), ("adagrad", "epsilon", -1.0),
    ("adadelta", "rho", 1.2), ("adadelta", "epsilon", -1e-7), ("adam", "beta_1", 1.0), ("adam", "beta_2", -0.1),
    ("adam", "epsilon", -1e-7), ("adam", "amsgrad", "no"), ("adamw", "weight_decay", None), ("adamw", "beta_1", 2.0),
    ("adamax", "beta_1", 1.0), ("adamax", "beta_2", 1.0), ("adamax", "epsilon", -1.0), ("nadam", "beta_1", -0.5),
    ("nadam", "beta_2", 1.0), ("nadam", "epsilon", float("nan")),
]


@pytest.mark.parametrize("kind,arg,value", BAD, ids=[f"{k}-{a}={v!r}" for k, a, v in BAD])
def test_bad_configuration_raises_naming_the_argument(kind, arg, value):
    with pytest.raises(ValueError) as e:
        OPT[kind](**{arg: value})
    assert isinstance(e.value, InvalidArgumentError)
    assert arg in str(e.value)


def test_other_configuration_errors():
    with pytest.raises(ValueError, match="only one of"):
        em.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="lr"):
        em.optimizers.Adam(lr=0.1)
    with pytest.raises(ValueError, match="learning_rat"):
        em.optimizers.SGD(learning_rat=0.1)
    with pytest.raises(ValueError, match="nosuch"):
        em.optimizers.get("nosuch")
    with pytest.raises(ValueError, match="Nosuch"):
        em.optimizers.deserialize({"class_name": "Nosuch", "config": {}})
    with pytest.raises(ValueError, match="use_ema"):
        em.optimizers.Adam(use_ema="yes")
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        em.optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        em.optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="loss_scale_factor"):
        em.optimizers.Adam(loss_scale_factor=0)
    with pytest.raises(TypeError):
        em.optimizers.SGD(schedules.InverseTimeDecay(0.1, 10, 1.0)).learning_rate = 0.5


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamw", "adamax", "nadam", "Nadam", "AdamW"])
def test_get_by_name(name):
    opt = em.optimizers.get(name)
    assert isinstance(opt, OPT[name.lower()])


@pytest.mark.parametrize("kind", list(OPT))
def test_config_round_trip_through_json(kind):
    hp = {"learning_rate": 0.02, "clipnorm": 1.5, "weight_decay": 0.01}
    extra = {"sgd": {"momentum": 0.5, "nesterov": True}, "rmsprop": {"centered": True, "momentum": 0.3},
             "adagrad": {"initial_accumulator_value": 0.2}, "adadelta": {"rho": 0.9}, "adam": {"amsgrad": True},
             "adamw": {"beta_2": 0.99}, "adamax": {"beta_1": 0.8}, "nadam": {"epsilon": 1e-5}}[kind]
    opt = OPT[kind](**hp, **extra)
    config = json.loads(json.dumps(opt.get_config()))
    again = OPT[kind].from_config(config)
    assert again.get_config() == opt.get_config()
    for k, v in {**hp, **extra}.items():
        assert getattr(again, k) == pytest.approx(v)
    via = em.optimizers.deserialize(json.loads(json.dumps(em.optimizers.serialize(opt))))
    assert type(via) is type(opt) and via.get_config() == opt.get_config()
    assert isinstance(em.optimizers.get(em.optimizers.serialize(opt)), OPT[kind])


def test_config_round_trip_with_schedule():
    sched = schedules.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=10)
    opt = em.optimizers.Adam(learning_rate=sched)
    config = json.loads(json.dumps(opt.get_config()))
    assert config["learning_rate"]["class_name"] == "CosineDecay"
    again = em.optimizers.Adam.from_config(config)
    assert isinstance(again._learning_rate, schedules.CosineDecay)
    assert again._learning_rate.get_config() == sched.get_config()


# -----------------------------------------------------------------------------------------------
# state save / restore
# -----------------------------------------------------------------------------------------------

STATE_CONFIGS = [("sgd", {"momentum": 0.9}), ("rmsprop", {"centered": True, "momentum": 0.5}), ("adagrad", {}),
                 ("adadelta", {"learning_rate": 1.0}), ("adam", {"amsgrad": True}), ("adamw", {}), ("adamax", {}),
                 ("nadam", {"learning_rate": 0.01})]


@pytest.mark.parametrize("kind,hp", STATE_CONFIGS, ids=[k for k, _ in STATE_CONFIGS])
def test_state_round_trip_continues_identically(backend_name, kind, hp):
    """Train 4 steps, save weights and optimizer state, rebuild a fresh optimizer from the
    config, load the state, and continue 4 more steps: bit-identical to not stopping."""
    thetas, seq = problem(21)
    opt, vs, _ = run_ember(kind, hp, thetas, seq[:4], backend_name)
    store: dict = {}
    opt.save_own_variables(store)
    assert store["0"] == 4 and len(store) == 1 + (kind == "nadam") + len(opt.variables)
    weights = [v.numpy() for v in vs]

    fresh = OPT[kind].from_config(json.loads(json.dumps(opt.get_config())))
    vs2 = [em.Variable(w, device=backend_name) for w in weights]
    fresh.build(vs2)
    fresh.load_own_variables(store)
    assert fresh.iterations == 4

    for grads in seq[4:]:
        opt.apply_gradients([(em.tensor(g, device=backend_name), v) for g, v in zip(grads, vs)])
        fresh.apply_gradients([(em.tensor(g, device=backend_name), v) for g, v in zip(grads, vs2)])
    for a, b in zip(vs, vs2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(opt.variables, fresh.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_restore_errors():
    opt, vs, _ = run_ember("adam", {}, [np.zeros(3)], [[np.ones(3)]], "cpu")
    store: dict = {}
    opt.save_own_variables(store)
    unbuilt = em.optimizers.Adam()
    with pytest.raises(ValueError, match="build"):
        unbuilt.load_own_variables(store)
    other = em.optimizers.Adam()
    other.build([em.Variable(np.zeros(4, np.float32))])
    with pytest.raises(ShapeError):
        other.load_own_variables(store)


def test_state_moves_with_the_model_to_gpu():
    from conftest import GPU_UNAVAILABLE

    if GPU_UNAVAILABLE:
        pytest.skip(GPU_UNAVAILABLE)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = em.Sequential([em.Input((3,)), em.layers.Dense(1)])
    model.compile(em.optimizers.Nadam(0.01), "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.to("gpu")
    assert all(v.device == "gpu" for v in model.optimizer.variables)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert model.optimizer.iterations == 6


# -----------------------------------------------------------------------------------------------
# learning-rate schedules
# -----------------------------------------------------------------------------------------------

def _np_cosine_restarts(lr0, first, t_mul, m_mul, alpha, step):
    # explicit period walk (not Keras's closed form) as an independent reference
    start, length, peak = 0.0, float(first), 1.0
    while step >= start + length:
        start += length
        length *= t_mul
        peak *= m_mul
    frac = (step - start) / length
    return lr0 * ((1 - alpha) * 0.5 * peak * (1 + math.cos(math.pi * frac)) + alpha)


SCHEDULE_CASES = [
    (schedules.ExponentialDecay(0.1, 10, 0.5), lambda s: 0.1 * 0.5 ** (s / 10)),
    (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), lambda s: 0.1 * 0.5 ** (s // 10)),
    (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), lambda s: 1.0 if s <= 10 else 0.5 if s <= 20 else 0.1),
    (schedules.PolynomialDecay(0.1, 20), lambda s: (0.1 - 1e-4) * (1 - min(s, 20) / 20) + 1e-4),
    (schedules.PolynomialDecay(0.1, 20, end_learning_rate=0.01, power=2.0, cycle=True),
     lambda s: (0.1 - 0.01) * (1 - s / (20 * max(1, math.ceil(s / 20)))) ** 2 + 0.01),
    (schedules.InverseTimeDecay(0.1, 5, 0.5), lambda s: 0.1 / (1 + 0.5 * s / 5)),
    (schedules.InverseTimeDecay(0.1, 5, 0.5, staircase=True), lambda s: 0.1 / (1 + 0.5 * (s // 5))),
    (schedules.CosineDecay(0.1, 30, alpha=0.1), lambda s: 0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 30) / 30)) + 0.1)),
    (schedules.CosineDecay(0.0, 30, warmup_target=0.2, warmup_steps=10),
     lambda s: 0.2 * s / 10 if s < 10 else 0.2 * 0.5 * (1 + math.cos(math.pi * min(s - 10, 30) / 30))),
    (schedules.CosineDecayRestarts(0.1, 10), lambda s: _np_cosine_restarts(0.1, 10, 2.0, 1.0, 0.0, s)),
    (schedules.CosineDecayRestarts(0.1, 10, t_mul=1.0, m_mul=0.5, alpha=0.05),
     lambda s: _np_cosine_restarts(0.1, 10, 1.0, 0.5, 0.05, s)),
    (schedules.CosineDecayRestarts(0.1, 7, t_mul=1.5, m_mul=0.8), lambda s: _np_cosine_restarts(0.1, 7, 1.5, 0.8, 0.0, s)),
]


@pytest.mark.parametrize("sched,ref", SCHEDULE_CASES, ids=lambda x: type(x).__name__ if isinstance(x, schedules.LearningRateSchedule) else "")
def test_schedule_values(sched, ref):
    for s in range(0, 80):
        assert sched(s) == pytest.approx(ref(s), rel=1e-9, abs=1e-12), f"{sched!r} at step {s}"
    again = type(sched).from_config(json.loads(json.dumps(sched.get_config())))
    assert [again(s) for s in range(40)] == [sched(s) for s in range(40)]
    assert schedules.deserialize(schedules.serialize(sched)).get_config() == sched.get_config()


@pytest.mark.parametrize("make,arg", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
    (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), "initial_learning_rate"),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]), "boundaries"),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), "boundaries"),
    (lambda: schedules.PolynomialDecay(0.1, -5), "decay_steps"),
    (lambda: schedules.InverseTimeDecay(0.1, 5, -1.0), "decay_rate"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), "warmup_steps"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul"),
])
def test_bad_schedule_raises_naming_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_schedule_drives_the_optimizer_through_fit():
    sched = schedules.PiecewiseConstantDecay([2], [0.1, 0.0])
    model = em.Sequential([em.Input((2,)), em.layers.Dense(1)])
    model.compile(em.optimizers.SGD(sched), "mse")
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, shuffle=False)  # steps 0..3: lr 0.1 for steps 0-2, then 0
    w3 = model.get_weights()
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(w3, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.learning_rate == 0.0


# -----------------------------------------------------------------------------------------------
# training: the sklearn digits MLP
# -----------------------------------------------------------------------------------------------

DIGITS_OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9}), ("rmsprop", {"learning_rate": 0.002}),
    ("adagrad", {"learning_rate": 0.05}), ("adadelta", {"learning_rate": 1.0}), ("adam", {"learning_rate": 0.003}),
    ("adamw", {"learning_rate": 0.003}), ("adamax", {"learning_rate": 0.005}), ("nadam", {"learning_rate": 0.003}),
]


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    x, y = (x[idx] / 16.0).astype(np.float32), y[idx].astype(np.int32)
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.mark.parametrize("kind,hp", DIGITS_OPTIMIZERS, ids=[k for k, _ in DIGITS_OPTIMIZERS])
def test_trains_digits_mlp(backend_name, digits, kind, hp):
    xtr, ytr, xte, yte = digits
    em.utils.set_random_seed(7)
    with em.device(backend_name):
        model = em.Sequential([em.Input((64,)), em.layers.Dense(64, activation="relu"), em.layers.Dense(10, activation="softmax")])
        model.compile(OPT[kind](**hp), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(xtr, ytr, batch_size=64, epochs=8, verbose=0)
        pred = np.argmax(model.predict(xte, verbose=0), axis=1)
    acc = float(np.mean(pred == yte))
    assert acc >= 0.9, f"{kind} {hp}: test accuracy {acc:.3f}"


def test_custom_optimizer_subclass(backend_name):
    """A Keras-style subclass (build + update_step through ops) gets clipping, weight decay
    and the step counter from the base class."""

    class PlainSGD(em.optimizers.Optimizer):
        def __init__(self, learning_rate=0.1, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)

        def build(self, var_list):
            super().build(var_list)
            for v in var_list:
                self.add_variable_from_reference(v, "steps")

        def update_step(self, gradient, variable, learning_rate):
            variable.assign(em.ops.subtract(variable.detach(), em.ops.multiply(gradient, learning_rate)))
            s = self.slot(variable, "steps")
            s.assign(em.ops.add(s.detach(), 1.0))

    thetas, seq = problem(5)
    hp = {"learning_rate": 0.1, "weight_decay": 0.05, "clipnorm": 0.5}
    opt, vs, out = run_ember("sgd", hp, thetas, seq, backend_name, optimizer=PlainSGD(**hp))
    _, ref = run_reference("sgd", hp, thetas, seq)
    for got, want in zip(out, ref):
        for a, b in zip(got, want):
            close(a, b, rtol=2e-5, atol=2e-6)
    assert opt.iterations == len(seq)
    np.testing.assert_array_equal(opt.slot(vs[0], "steps").numpy(), len(seq))


def test_exclude_from_weight_decay(backend_name):
    opt = em.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    a = em.Variable(np.ones(3, np.float32), name="dense/kernel", device=backend_name)
    b = em.Variable(np.ones(3, np.float32), name="dense/bias", device=backend_name)
    opt.exclude_from_weight_decay(var_names=["bias"])
    zero = np.zeros(3, np.float32)
    opt.apply_gradients([(em.tensor(zero, device=backend_name), a), (em.tensor(zero, device=backend_name), b)])
    close(a.numpy(), 1 - 0.5 * 0.1, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(b.numpy(), 1.0)
