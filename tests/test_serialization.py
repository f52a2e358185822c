"""ember.saving: one registry and Keras 3's config layout for every kind of object.

References: Keras 3's ``keras/src/saving/serialization_lib.py`` and
``object_registration.py`` (the ``{"module", "class_name", "config", "registered_name"}``
layout, ``"package>Name"`` keys, the function form ``{"module": "builtins", "class_name":
"function", "config": name, "registered_name": "function"}``) and configs as Keras 3
writes them into ``config.json`` (copied below as JSON text).

* registration, the registry's lookups, scopes (nested, per thread), precedence;
* Keras-written configs load; Ember writes Keras's layout;
* every built-in class of every family round-trips through JSON (found by walking the
  modules, so new classes are covered), with equal configs and equal outputs;
* unregistered classes and malformed configs raise SerializationError;
* optimizer slots are named and keyed by stable variable paths.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import ember as em
from ember.errors import InvalidArgumentError, SerializationError, ShapeError
from ember.saving import object_registration as registration


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test registers what it needs; the global registry is restored afterwards."""
    objects = dict(registration._GLOBAL_CUSTOM_OBJECTS)
    names = dict(registration._GLOBAL_CUSTOM_NAMES)
    yield
    registration._GLOBAL_CUSTOM_OBJECTS.clear()
    registration._GLOBAL_CUSTOM_OBJECTS.update(objects)
    registration._GLOBAL_CUSTOM_NAMES.clear()
    registration._GLOBAL_CUSTOM_NAMES.update(names)


def json_round(x):
    return json.loads(json.dumps(x))


class Scaled(em.regularizers.Regularizer):
    """An unregistered custom class (registered inside the tests that need it)."""

    def __init__(self, factor=0.1):
        self.factor = factor

    def __call__(self, x):
        return em.ops.multiply(em.ops.sum(em.ops.square(x)), self.factor)

    def get_config(self):
        return {"factor": self.factor}


# -- registration ---------------------------------------------------------------------------------

def test_register_under_package_and_name():
    @em.saving.register_serializable(package="my_pkg")
    class A(Scaled):
        pass

    @em.saving.register_serializable("my_pkg", name="renamed")
    def fn(x):
        return x

    @em.saving.register_serializable()
    def plain(x):
        return x

    assert em.saving.get_registered_name(A) == "my_pkg>A"
    assert em.saving.get_registered_name(fn) == "my_pkg>renamed"
    assert em.saving.get_registered_name(plain) == "Custom>plain"  # Keras's default package
    assert em.saving.get_registered_name(Scaled) == "Scaled"  # unregistered: its __name__
    assert em.saving.get_registered_object("my_pkg>A") is A
    assert em.saving.get_registered_object("my_pkg>renamed") is fn
    assert em.saving.get_registered_object("nothing>here") is None
    assert em.saving.get_custom_objects()["Custom>plain"] is plain
    assert em.saving.get_registered_object("x", module_objects={"x": plain}) is plain


def test_aliases_are_the_same_objects():
    s = em.saving
    assert s.register_keras_serializable is s.register_serializable
    assert s.custom_object_scope is s.CustomObjectScope
    assert s.serialize is s.serialize_keras_object and s.deserialize is s.deserialize_keras_object
    u = em.utils
    assert u.register_keras_serializable is s.register_serializable
    assert u.get_custom_objects is s.get_custom_objects and u.CustomObjectScope is s.CustomObjectScope
    assert u.custom_object_scope is s.CustomObjectScope
    assert "saving" in em.__all__ and em.saving.__name__ == "ember.saving"


def test_register_rejects_a_class_without_get_config_and_bad_arguments():
    class NoConfig:
        pass

    with pytest.raises(InvalidArgumentError, match="get_config"):
        em.saving.register_serializable("p")(NoConfig)
    with pytest.raises(InvalidArgumentError, match="package"):
        em.saving.register_serializable(package="")
    with pytest.raises(InvalidArgumentError, match="name"):
        em.saving.register_serializable("p", name=3)


def test_get_custom_objects_is_live_and_used_by_get():
    def doubler(x):
        return em.ops.multiply(x, 2.0)

    em.saving.get_custom_objects()["doubler"] = doubler
    assert em.activations.get("doubler") is doubler
    del em.saving.get_custom_objects()["doubler"]
    with pytest.raises(InvalidArgumentError, match="doubler"):
        em.activations.get("doubler")


# -- scopes and precedence ------------------------------------------------------------------------

def _a(x):
    return x


def _b(x):
    return x


def test_nested_scopes_see_outer_and_inner_wins():
    with em.saving.CustomObjectScope({"act": _a, "only_outer": _a}):
        assert em.activations.get("act") is _a
        with em.saving.custom_object_scope({"act": _b}):
            assert em.activations.get("act") is _b
            assert em.activations.get("only_outer") is _a
        assert em.activations.get("act") is _a
    with pytest.raises(InvalidArgumentError):
        em.activations.get("act")


def test_scope_exits_on_exception():
    with pytest.raises(RuntimeError):
        with em.saving.CustomObjectScope({"act": _a}):
            raise RuntimeError("boom")
    assert em.saving.get_registered_object("act") is None


def test_scopes_are_thread_local():
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def worker():
        seen["worker_before"] = em.saving.get_registered_object("act")
        with em.saving.CustomObjectScope({"act": _b}):
            inside.set()
            release.wait(10)
            seen["worker_inside"] = em.saving.get_registered_object("act")

    with em.saving.CustomObjectScope({"act": _a}):
        t = threading.Thread(target=worker)
        t.start()
        assert inside.wait(10)
        seen["main_while_worker_scoped"] = em.saving.get_registered_object("act")
        release.set()
        t.join(10)
    assert seen == {"worker_before": None, "worker_inside": _b, "main_while_worker_scoped": _a}


def test_scope_rejects_non_dict():
    with pytest.raises(InvalidArgumentError):
        em.saving.CustomObjectScope(["act"])


HUBER = {"module": "keras.losses", "class_name": "Huber",
         "config": {"name": "huber_loss", "reduction": "sum_over_batch_size", "delta": 1.0}, "registered_name": None}


class HuberA(em.losses.Huber):
    pass


class HuberB(em.losses.Huber):
    pass


class HuberC(em.losses.Huber):
    pass


def test_precedence_argument_then_scope_then_registry_then_builtin():
    d = em.saving.deserialize
    assert type(d(HUBER)) is em.losses.Huber
    em.saving.get_custom_objects()["Huber"] = HuberC
    assert type(d(HUBER)) is HuberC
    with em.saving.CustomObjectScope({"Huber": HuberB}):
        assert type(d(HUBER)) is HuberB
        assert type(d(HUBER, custom_objects={"Huber": HuberA})) is HuberA
        assert type(em.losses.deserialize(HUBER, custom_objects={"Huber": HuberA})) is HuberA
        assert type(em.losses.get(HUBER)) is HuberB


def test_custom_objects_reach_nested_from_config():
    """from_config runs inside a scope holding the call's custom_objects, so nested
    lookups (an optimizer's schedule) find them."""

    class Halved(em.optimizers.schedules.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate / 2

        def get_config(self):
            return {"rate": self.rate}

    cfg = json_round(em.saving.serialize(em.optimizers.SGD(learning_rate=Halved(0.4))))
    assert cfg["config"]["learning_rate"]["class_name"] == "Halved"
    with pytest.raises(SerializationError, match="Halved"):
        em.saving.deserialize(cfg)
    opt = em.saving.deserialize(cfg, custom_objects={"Halved": Halved})
    assert isinstance(opt._learning_rate, Halved) and opt.learning_rate == pytest.approx(0.2)


# -- Keras 3's layout ---------------------------------------------------------------------------

# Configs as Keras 3 writes them (null/false as in config.json).
KERAS_ADAM = json.loads("""{"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam",
  "learning_rate": {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
    "config": {"initial_learning_rate": 0.01, "decay_steps": 100, "decay_rate": 0.5, "staircase": false,
               "name": "ExponentialDecay"}, "registered_name": null},
  "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null, "use_ema": false,
  "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null,
  "gradient_accumulation_steps": null, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": false},
  "registered_name": null}""")
KERAS_CCE = json.loads("""{"module": "keras.losses", "class_name": "CategoricalCrossentropy", "config": {
  "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": false,
  "label_smoothing": 0.0, "axis": -1}, "registered_name": null}""")
KERAS_MSE_FN = json.loads("""{"module": "builtins", "class_name": "function", "config": "mean_squared_error",
  "registered_name": "function"}""")
KERAS_BINACC = json.loads("""{"module": "keras.metrics", "class_name": "BinaryAccuracy", "config": {
  "name": "binary_accuracy", "dtype": "float32", "threshold": 0.5}, "registered_name": null}""")
KERAS_GLOROT = json.loads("""{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null},
  "registered_name": null}""")
KERAS_L2 = json.loads("""{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
  "registered_name": null}""")


def test_keras_written_configs_load():
    opt = em.saving.deserialize(KERAS_ADAM)
    assert type(opt) is em.optimizers.Adam and opt.beta_2 == 0.999 and opt.epsilon == 1e-7
    assert isinstance(opt._learning_rate, em.optimizers.schedules.ExponentialDecay)
    assert opt.learning_rate == pytest.approx(0.01)
    assert type(em.saving.deserialize(KERAS_CCE)) is em.losses.CategoricalCrossentropy
    assert em.saving.deserialize(KERAS_MSE_FN) is em.losses.mean_squared_error
    assert type(em.losses.get(KERAS_MSE_FN)) is em.losses.MeanSquaredError
    m = em.saving.deserialize(KERAS_BINACC)
    assert type(m) is em.metrics.BinaryAccuracy and m.get_config() == KERAS_BINACC["config"]
    assert type(em.saving.deserialize(KERAS_GLOROT)) is em.initializers.GlorotUniform
    r = em.saving.deserialize(KERAS_L2)
    assert type(r) is em.regularizers.L2 and r.l2 == 0.01


def test_ember_writes_keras_layout():
    assert em.saving.serialize(em.optimizers.Adam()) == {
        "module": "keras.optimizers", "class_name": "Adam", "registered_name": None,
        "config": {**KERAS_ADAM["config"], "learning_rate": 0.001}}
    assert em.saving.serialize(em.losses.CategoricalCrossentropy()) == KERAS_CCE
    assert em.saving.serialize(em.losses.mean_squared_error) == KERAS_MSE_FN
    assert em.saving.serialize(em.metrics.BinaryAccuracy()) == KERAS_BINACC
    assert em.saving.serialize(em.initializers.GlorotUniform()) == KERAS_GLOROT
    assert em.initializers.serialize(em.initializers.get("glorot_uniform")) == KERAS_GLOROT
    assert em.saving.serialize(em.regularizers.L2()) == KERAS_L2
    sched = em.saving.serialize(em.optimizers.schedules.ExponentialDecay(0.01, 100, 0.5))
    assert sched["module"] == "keras.optimizers.schedules" and sched["registered_name"] is None
    assert em.saving.serialize(em.activations.relu) == {
        "module": "builtins", "class_name": "function", "config": "relu", "registered_name": "function"}
    assert em.activations.serialize(em.activations.relu) == "relu"  # keras.activations.serialize of a built-in
    # Keras's module for Sequential and Model is "keras" (keras.Sequential).
    assert em.saving.serialization_lib.keras_module_of(em.Sequential) == ("keras", "Sequential", None)
    assert em.saving.serialization_lib.keras_module_of(em.layers.Dense) == ("keras.layers", "Dense", None)


def test_registered_class_and_function_layout():
    R = em.saving.register_serializable("my_pkg")(Scaled)
    cfg = em.saving.serialize(R(0.5))
    assert cfg == {"module": __name__, "class_name": "Scaled", "config": {"factor": 0.5},
                   "registered_name": "my_pkg>Scaled"}
    assert type(em.saving.deserialize(json_round(cfg))) is Scaled

    @em.saving.register_serializable("my_pkg")
    def cube(x):
        return em.ops.multiply(em.ops.multiply(x, x), x)

    fcfg = em.saving.serialize(cube)
    assert fcfg == {"module": "builtins", "class_name": "function", "config": "my_pkg>cube",
                    "registered_name": "function"}
    assert em.saving.deserialize(json_round(fcfg)) is cube
    # Keras's own form of a registered function (bare name) resolves too.
    assert em.saving.deserialize({**fcfg, "config": "cube"}) is cube


def test_module_strings_keras_src_and_ember_are_accepted():
    for module in ("keras.losses", "keras.src.losses.losses", "ember.losses"):
        assert type(em.saving.deserialize({**KERAS_CCE, "module": module})) is em.losses.CategoricalCrossentropy
    for module in ("keras.optimizers.schedules", "keras.src.optimizers.schedules.learning_rate_schedule",
                   "ember.optimizers.schedules"):
        cfg = {**KERAS_ADAM["config"]["learning_rate"], "module": module}
        assert type(em.saving.deserialize(cfg)) is em.optimizers.schedules.ExponentialDecay
    assert type(em.saving.deserialize({**KERAS_ADAM, "module": "ember.optimizers"})) is em.optimizers.Adam
    # keras.metrics vs keras.losses: same class name, different classes.
    mse = {"class_name": "MeanSquaredError", "config": {"name": "mse"}, "registered_name": None}
    assert type(em.saving.deserialize({**mse, "module": "keras.metrics"})) is em.metrics.MeanSquaredError
    assert type(em.saving.deserialize({**mse, "module": "keras.losses"})) is em.losses.MeanSquaredError


def test_plain_string_forms():
    assert em.activations.get("relu") is em.activations.relu
    assert type(em.optimizers.get("adam")) is em.optimizers.Adam
    assert type(em.optimizers.get({"class_name": "adam", "config": {}})) is em.optimizers.Adam
    assert type(em.initializers.get("glorot_uniform")) is em.initializers.GlorotUniform
    assert type(em.regularizers.get("l1_l2")) is em.regularizers.L1L2
    assert type(em.losses.get("categorical_crossentropy")) is em.losses.CategoricalCrossentropy
    assert type(em.metrics.get("mae")) is em.metrics.MeanAbsoluteError
    # Plain values, lists and dicts pass through (Keras).
    assert em.saving.deserialize({"a": [1, "relu", None], "b": 2.5}) == {"a": [1, "relu", None], "b": 2.5}


def test_special_values_round_trip():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    values = {"arr": arr, "scalar": np.float32(1.5), "bytes": b"hi", "slice": slice(1, None, 2), "dots": Ellipsis,
              "tuple": (1, 2), "tensor": em.tensor([[1.0, 2.0]])}
    back = em.saving.deserialize(json_round(em.saving.serialize(values)))
    np.testing.assert_array_equal(back["arr"], arr)
    assert back["arr"].dtype == np.float32 and back["scalar"] == 1.5 and back["bytes"] == b"hi"
    assert back["slice"] == slice(1, None, 2) and back["dots"] is Ellipsis and back["tuple"] == [1, 2]
    assert isinstance(back["tensor"], em.Tensor) and back["tensor"].numpy().tolist() == [[1.0, 2.0]]


# -- every built-in object round-trips through JSON ------------------------------------------------

FAMILIES = [
    (em.losses, em.losses.Loss), (em.metrics, em.metrics.Metric), (em.initializers, em.initializers.Initializer),
    (em.regularizers, em.regularizers.Regularizer), (em.optimizers, em.optimizers.Optimizer),
    (em.optimizers.schedules, em.optimizers.schedules.LearningRateSchedule),
]
S = em.optimizers.schedules
# Instances for classes that have required arguments (or would otherwise be trivial). A new
# class that cannot be built with no arguments must be added here (the test says so).
MADE = {
    em.losses.LossFunctionWrapper: lambda: em.losses.LossFunctionWrapper(em.losses.mean_absolute_error, reduction="sum"),
    em.losses.Huber: lambda: em.losses.Huber(delta=0.5, name="h"),
    em.metrics.MeanMetricWrapper: lambda: em.metrics.MeanMetricWrapper(em.losses.mean_squared_error, name="w"),
    em.metrics.BinaryAccuracy: lambda: em.metrics.BinaryAccuracy(threshold=0.3),
    em.metrics.IoU: lambda: em.metrics.IoU(num_classes=3, target_class_ids=[0, 2]),
    em.metrics.MeanIoU: lambda: em.metrics.MeanIoU(num_classes=3),
    em.metrics.OneHotIoU: lambda: em.metrics.OneHotIoU(num_classes=2, target_class_ids=[1]),
    em.metrics.OneHotMeanIoU: lambda: em.metrics.OneHotMeanIoU(num_classes=2),
    em.metrics.PrecisionAtRecall: lambda: em.metrics.PrecisionAtRecall(0.4, num_thresholds=20),
    em.metrics.RecallAtPrecision: lambda: em.metrics.RecallAtPrecision(0.6),
    em.metrics.SensitivityAtSpecificity: lambda: em.metrics.SensitivityAtSpecificity(0.5, num_thresholds=50),
    em.metrics.SpecificityAtSensitivity: lambda: em.metrics.SpecificityAtSensitivity(0.7),
    em.initializers.Constant: lambda: em.initializers.Constant(0.25),
    em.regularizers.L1L2: lambda: em.regularizers.L1L2(0.1, 0.2),
    S.ExponentialDecay: lambda: S.ExponentialDecay(0.1, 10, 0.5, staircase=True),
    S.PiecewiseConstantDecay: lambda: S.PiecewiseConstantDecay([5, 20], [0.1, 0.05, 0.01]),
    S.PolynomialDecay: lambda: S.PolynomialDecay(0.1, 30, power=2.0, cycle=True),
    S.InverseTimeDecay: lambda: S.InverseTimeDecay(0.1, 10, 0.5),
    S.CosineDecay: lambda: S.CosineDecay(0.1, 40, alpha=0.1, warmup_target=0.2, warmup_steps=5),
    S.CosineDecayRestarts: lambda: S.CosineDecayRestarts(0.1, 10, t_mul=1.5, m_mul=0.8),
    em.optimizers.SGD: lambda: em.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
    em.optimizers.Adam: lambda: em.optimizers.Adam(learning_rate=S.CosineDecay(0.01, 100), amsgrad=True),
    em.optimizers.Optimizer: lambda: em.optimizers.Optimizer(0.01, use_ema=True, gradient_accumulation_steps=3),
    em.optimizers.MultiOptimizer: lambda: em.optimizers.MultiOptimizer(
        em.optimizers.OptimizerMap(em.optimizers.SGD(0.1), {"dense_9/.*": em.optimizers.Adam(0.01)})),
}
# Abstract bases: no get_config or no behaviour of their own.
ABSTRACT = {em.regularizers.Regularizer, S.LearningRateSchedule}
NO_NUMERICS = {em.losses.Loss, em.metrics.Metric, em.metrics.Mean, em.initializers.Initializer, em.optimizers.Optimizer}


def _builtin_classes():
    out = []
    for module, base in FAMILIES:
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if (not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, base)
                    and obj.__module__.startswith("ember") and obj not in [c for c, _ in out]):
                out.append((obj, module))
    return out


BUILTIN_CLASSES = _builtin_classes()


def _make(cls):
    if cls in MADE:
        return MADE[cls]()
    params = inspect.signature(cls).parameters
    try:
        return cls(seed=7) if "seed" in params else cls()
    except TypeError as e:
        pytest.fail(f"{cls.__name__} needs arguments: add it to MADE in {__file__} ({e})")


def _outputs(obj):
    """What ``obj`` computes on a small fixed input, by family."""
    rng = np.random.default_rng(0)
    if isinstance(obj, em.losses.Loss):
        p = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
        p /= p.sum(-1, keepdims=True)
        if isinstance(obj, (em.losses.SparseCategoricalCrossentropy, em.losses.CategoricalGeneralizedCrossEntropy,
                            em.losses.Circle)):  # integer labels
            t = np.array([0, 2, 1, 1], np.int32)
        else:
            t = np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
        return obj(t, p).numpy()
    if isinstance(obj, em.metrics.Metric):
        p = rng.uniform(0.0, 1.0, (6, 1)).astype(np.float32)
        t = (rng.uniform(0.0, 1.0, (6, 1)) > 0.5).astype(np.float32)
        obj.reset_state()
        if isinstance(obj, (em.metrics.SparseCategoricalAccuracy, em.metrics.SparseCategoricalCrossentropy,
                            em.metrics.SparseTopKCategoricalAccuracy)):
            obj.update_state(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], np.float32))
        elif isinstance(obj, (em.metrics.CategoricalAccuracy, em.metrics.CategoricalCrossentropy,
                              em.metrics.TopKCategoricalAccuracy)):
            obj.update_state(np.eye(2, dtype=np.float32)[[0, 1, 1]], np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], np.float32))
        else:
            obj.update_state(t, p)
        return obj.result().numpy()
    if isinstance(obj, em.initializers.Initializer):
        return obj((3, 3)).numpy()
    if isinstance(obj, em.regularizers.Regularizer):
        return obj(em.tensor(np.array([[1.0, -2.0], [0.5, 3.0]], np.float32))).numpy()
    if isinstance(obj, S.LearningRateSchedule):
        return np.array([obj(s) for s in (0, 3, 7, 25, 60)])
    if isinstance(obj, em.optimizers.Optimizer):
        v = em.Variable(np.array([1.0, -2.0, 3.0], np.float32), name="dense_9/kernel")
        for g in ([0.5, -1.0, 0.25], [1.0, 0.5, -0.5]):
            obj.apply_gradients([(em.tensor(np.array(g, np.float32)), v)])
        return v.numpy()
    raise AssertionError(f"no numeric check for {type(obj).__name__}")


def test_the_walk_finds_every_family():
    found = {c for c, _ in BUILTIN_CLASSES}
    for cls in (em.losses.Huber, em.losses.LossFunctionWrapper, em.metrics.BinaryAccuracy, em.initializers.Orthogonal,
                em.regularizers.L1L2, em.optimizers.Nadam, S.CosineDecayRestarts):
        assert cls in found
    assert len(found) >= 50


@pytest.mark.parametrize("cls,module", BUILTIN_CLASSES, ids=[f"{m.__name__}.{c.__name__}" for c, m in BUILTIN_CLASSES])
def test_every_builtin_round_trips_through_json(cls, module):
    if cls in ABSTRACT:
        with pytest.raises(NotImplementedError):
            cls().get_config()
        return
    obj = _make(cls)
    config = obj.get_config()
    # get_config / from_config through JSON
    again = cls.from_config(json_round(config))
    assert type(again) is cls and again.get_config() == config
    # the Keras layout through ember.saving, and through the family's own deserialize
    ser = json_round(em.saving.serialize(obj))
    assert ser["class_name"] == cls.__name__ and ser["registered_name"] is None
    # the base classes Keras 3 exports at the top level (keras.Loss...) serialize under "keras", as in Keras
    top_level = getattr(em, cls.__name__, None) is cls
    assert ser["module"] == ("keras" if top_level else "keras." + module.__name__.split(".", 1)[1])
    via = em.saving.deserialize(ser)
    assert type(via) is cls and via.get_config() == config
    fam = module.deserialize(ser)
    assert type(fam) is cls and fam.get_config() == config
    if cls not in NO_NUMERICS:
        np.testing.assert_array_equal(_outputs(via), _outputs(obj), err_msg=cls.__name__)


def test_every_builtin_function_round_trips():
    for fn in set(em.activations.ALL.values()):
        ser = json_round(em.saving.serialize(fn))
        assert em.saving.deserialize(ser) is fn and em.activations.deserialize(ser) is fn
        assert em.activations.get(em.activations.serialize(fn)) is fn
    for module in (em.losses, em.metrics):
        for name in module.__all__:
            fn = getattr(module, name)
            if inspect.isfunction(fn) and name not in ("get", "serialize", "deserialize", "resolve_accuracy"):
                ser = json_round(em.saving.serialize(fn))
                assert ser["class_name"] == "function" and em.saving.deserialize(ser) is fn, name
                assert module.deserialize(ser) is fn


def test_nested_configs_deserialize_through_the_same_function():
    layer_cfg = json_round(em.saving.serialize(
        em.layers.Dense(3, activation="gelu", kernel_initializer=em.initializers.RandomNormal(0.0, 0.5, seed=3),
                        kernel_regularizer=em.regularizers.L1(0.25), name="dense_x")))
    assert layer_cfg["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert layer_cfg["config"]["kernel_regularizer"] == {
        "module": "keras.regularizers", "class_name": "L1", "config": {"l1": 0.25}, "registered_name": None}
    layer = em.saving.deserialize(layer_cfg)
    assert type(layer) is em.layers.Dense and layer.activation is em.activations.gelu
    assert layer.kernel_initializer.get_config() == {"mean": 0.0, "stddev": 0.5, "seed": 3}
    assert layer.kernel_regularizer.l1 == 0.25

    R = em.saving.register_serializable("my_pkg")(Scaled)
    dense = em.layers.Dense(2, kernel_regularizer=R(0.5))
    again = em.saving.deserialize(json_round(em.saving.serialize(dense)))
    assert type(again.kernel_regularizer) is Scaled and again.kernel_regularizer.factor == 0.5


# -- custom objects by name in every family -------------------------------------------------------

def test_registered_custom_objects_work_by_name_everywhere():
    reg = em.saving.register_serializable("my_pkg")

    @reg
    def my_act(x):
        return em.ops.multiply(x, 3.0)

    @reg
    def my_loss(y_true, y_pred):
        return em.ops.mean(em.ops.abs(em.ops.subtract(y_pred, y_true)), axis=-1)

    @reg
    def my_metric(y_true, y_pred):
        return em.ops.mean(em.ops.square(em.ops.subtract(y_pred, y_true)), axis=-1)

    @reg
    class MyLoss(em.losses.Loss):
        def call(self, y_true, y_pred):
            return my_loss(y_true, y_pred)

    @reg
    class MyInit(em.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return em.ops.full(shape, 0.5)

    @reg
    class MyOpt(em.optimizers.SGD):
        pass

    @reg
    class MySchedule(S.ExponentialDecay):
        pass

    reg(Scaled)
    assert em.activations.get("my_act") is my_act and em.activations.get("my_pkg>my_act") is my_act
    assert em.activations.deserialize("my_act") is my_act
    assert em.layers.Dense(2, activation="my_act").activation is my_act
    loss = em.losses.get("my_loss")
    assert isinstance(loss, em.losses.LossFunctionWrapper) and loss.fn_wrapped is my_loss
    assert type(em.losses.get("MyLoss")) is MyLoss and type(em.losses.get("my_pkg>MyLoss")) is MyLoss
    assert em.losses.deserialize("my_loss") is my_loss
    metric = em.metrics.get("my_metric")
    assert isinstance(metric, em.metrics.MeanMetricWrapper) and metric._fn is my_metric
    assert type(em.initializers.get("MyInit")) is MyInit
    assert type(em.regularizers.get("Scaled")) is Scaled
    assert type(em.optimizers.get("MyOpt")) is MyOpt
    sched = S.deserialize(json_round(S.serialize(MySchedule(0.1, 10, 0.5))))
    assert type(sched) is MySchedule
    # and they round-trip inside their containers
    wrapped = em.saving.deserialize(json_round(em.saving.serialize(em.losses.LossFunctionWrapper(my_loss))))
    assert wrapped.fn_wrapped is my_loss
    mw = em.metrics.deserialize(json_round(em.metrics.serialize(em.metrics.MeanMetricWrapper(my_metric))))
    assert mw._fn is my_metric
    act_cfg = json_round(em.layers.Dense(2, activation=my_act).get_config())
    assert act_cfg["activation"]["config"] == "my_pkg>my_act"
    assert em.layers.Dense.from_config(act_cfg).activation is my_act


# -- errors --------------------------------------------------------------------------------------

def test_unregistered_custom_class_raises_serialization_error_naming_it():
    cfg = json_round(em.saving.serialize(Scaled(0.5)))  # serializing works (as in Keras)
    assert cfg["registered_name"] == "Scaled" and cfg["module"] == __name__
    for load in (em.saving.deserialize, em.regularizers.deserialize, em.regularizers.get):
        with pytest.raises(SerializationError) as e:
            load(cfg)
        msg = str(e.value)
        assert "Scaled" in msg and "@ember.saving.register_serializable()" in msg and "custom_objects" in msg
        assert isinstance(e.value, InvalidArgumentError)  # the families' contract
    assert type(em.saving.deserialize(cfg, custom_objects={"Scaled": Scaled})) is Scaled
    em.saving.register_serializable("my_pkg")(Scaled)
    cfg2 = json_round(em.saving.serialize(Scaled(0.5)))
    assert type(em.saving.deserialize(cfg2)) is Scaled


def test_unregistered_custom_function_raises():
    def secret(x):
        return x

    with pytest.raises(SerializationError, match="secret"):
        em.saving.deserialize(json_round(em.saving.serialize(secret)))
    with pytest.raises(SerializationError, match="lambda"):
        em.saving.deserialize(json_round(em.saving.serialize(lambda x: x)))


MALFORMED = [
    {"class_name": 3, "config": {}},
    {"class_name": "", "config": {}},
    {"module": 5, "class_name": "Adam", "config": {}},
    {"module": "keras.optimizers", "class_name": "Adam", "config": [1, 2]},
    {"module": "keras.optimizers", "class_name": "Adam", "config": {"bogus": 1}},
    {"module": "keras.optimizers", "class_name": "Adam", "config": {"beta_1": "x"}},
    {"module": "keras.optimizers", "class_name": "NoSuchOptimizer", "config": {}},
    {"module": "keras.layers", "class_name": "Dense", "config": {"units": "three"}},
    {"module": "keras.layers", "class_name": "Dense", "config": {}},
    {"module": "builtins", "class_name": "function", "config": 5},
    {"module": "builtins", "class_name": "function", "config": "no_such_function"},
    {"module": "os", "class_name": "system", "config": {}},
    {"module": "ember_never_imported_module", "class_name": "X", "config": {}},
    {"module": "keras.optimizers", "class_name": "__class__", "config": {}},
    {"class_name": "__numpy__", "config": {"value": [1, 2]}},
    {"class_name": "__numpy__", "config": "not a dict"},
    {"class_name": "__tensor__", "config": {"value": [[1], [2, 3]], "dtype": "float32"}},
    {"class_name": "__bytes__", "config": {"value": 3}},
    {"class_name": "__lambda__", "config": {"value": "4wEAAAAAAAAA"}},
    {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "config": {"decay_steps": 1}},
    3 + 4j,
    object(),
]


@pytest.mark.parametrize("config", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
def test_malformed_configs_raise_serialization_error(config):
    with pytest.raises(SerializationError) as e:
        em.saving.deserialize(config)
    assert not isinstance(e.value, (KeyError, TypeError))
    assert "ember_never_imported_module" not in sys.modules


def test_lambda_refused_even_without_safe_mode():
    cfg = {"class_name": "__lambda__", "config": {"value": "x"}}
    with pytest.raises(SerializationError, match="safe mode"):
        em.saving.deserialize(cfg)
    with pytest.raises(SerializationError, match="named function"):
        em.saving.deserialize(cfg, safe_mode=False)
    with em.saving.SafeModeScope(True):
        assert em.saving.in_safe_mode() is True
        with pytest.raises(SerializationError, match="safe mode"):
            em.saving.deserialize(cfg, safe_mode=False)  # an enclosing scope wins (Keras)
    assert em.saving.in_safe_mode() is None


def test_family_errors_stay_invalid_argument_errors():
    for call in (lambda: em.losses.deserialize({"class_name": "Nope", "config": {}}),
                 lambda: em.optimizers.deserialize({"class_name": "Nope", "config": {}}),
                 lambda: em.initializers.deserialize(5), lambda: em.metrics.deserialize([1]),
                 lambda: em.regularizers.deserialize({"class_name": "Regularizer", "config": {}}),
                 lambda: S.deserialize({"class_name": "Nope"}), lambda: em.activations.deserialize("nope")):
        with pytest.raises(InvalidArgumentError) as e:
            call()
        assert isinstance(e.value, SerializationError)


def test_serialize_errors():
    with pytest.raises(SerializationError, match="get_config"):
        em.saving.serialize(object())
    with pytest.raises(SerializationError, match="string"):
        em.saving.serialize({1: 2})

    class BadConfig:
        def get_config(self):
            return [1]

    with pytest.raises(SerializationError, match="dict"):
        em.saving.serialize(BadConfig())


# -- optimizer slots: stable paths --------------------------------------------------------------

def _named_vars(prefix="dense_1"):
    return [em.Variable(np.array([[1.0, -2.0], [0.5, 0.25]], np.float32), name=f"{prefix}/kernel"),
            em.Variable(np.array([0.1, -0.1], np.float32), name=f"{prefix}/bias")]


def _grads(seed):
    rng = np.random.default_rng(seed)
    return [em.tensor(rng.normal(size=(2, 2)).astype(np.float32)), em.tensor(rng.normal(size=2).astype(np.float32))]


def test_slot_names_follow_keras():
    vs = _named_vars()
    adam = em.optimizers.Adam()
    adam.apply(_grads(0), vs)
    assert [v.name for v in adam.variables] == [
        "adam/dense_1_kernel_momentum", "adam/dense_1_kernel_velocity",
        "adam/dense_1_bias_momentum", "adam/dense_1_bias_velocity"]
    assert all(v.path == v.name for v in adam.variables)
    sgd = em.optimizers.SGD(momentum=0.9)
    sgd.apply(_grads(0), vs)
    assert [v.name for v in sgd.variables] == ["SGD/dense_1_kernel_momentum", "SGD/dense_1_bias_momentum"]
    assert adam.slot(vs[0], "momentum").name == "adam/dense_1_kernel_momentum"
    assert set(adam._slots) == {"dense_1/kernel", "dense_1/bias"}  # keyed by path, not id()


SLOT_SCRIPT = """
import json, sys
import numpy as np
import ember as em
for _ in range(int(sys.argv[1])):
    m = em.Sequential([em.Input((2,)), em.layers.Dense(3), em.layers.Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)
    for _ in range(3):
        em.Variable(np.zeros(2, np.float32))
model = em.Sequential([em.Input((2,)), em.layers.Dense(3, name="dense_1"), em.layers.Dense(1, name="head")])
model.compile(optimizer=em.optimizers.Adam(), loss="mse")
model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)
print(json.dumps([v.name for v in model.optimizer.variables]))
"""


def test_slot_paths_are_stable_across_processes():
    runs = []
    for before in ("0", "3"):
        out = subprocess.run([sys.executable, "-c", SLOT_SCRIPT, before], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert runs[0] == ["adam/dense_1_kernel_momentum", "adam/dense_1_kernel_velocity",
                       "adam/dense_1_bias_momentum", "adam/dense_1_bias_velocity",
                       "adam/head_kernel_momentum", "adam/head_kernel_velocity",
                       "adam/head_bias_momentum", "adam/head_bias_velocity"]


def test_state_continues_on_a_rebuilt_model_with_the_same_names():
    """The same model rebuilt (new Variables, same paths) continues from the optimizer's
    state, both by handing the variables to the same optimizer and by save/load into a
    fresh optimizer: identical to never rebuilding."""
    ref_vars, ref = _named_vars(), em.optimizers.Adam(0.05)
    old_vars, opt = _named_vars(), em.optimizers.Adam(0.05)
    for s in range(3):
        ref.apply(_grads(s), ref_vars)
        opt.apply(_grads(s), old_vars)
    store: dict = {}
    opt.save_own_variables(store)

    new_vars = [em.Variable(v.numpy(), name=v.name) for v in old_vars]  # a fresh model, same layer names
    fresh_vars = [em.Variable(v.numpy(), name=v.name) for v in old_vars]
    fresh = em.optimizers.Adam.from_config(json_round(opt.get_config()))
    fresh.build(fresh_vars)
    fresh.load_own_variables(store)
    for s in range(3, 6):
        ref.apply(_grads(s), ref_vars)
        opt.apply(_grads(s), new_vars)
        fresh.apply(_grads(s), fresh_vars)
    assert len(opt.variables) == 4  # no second set of slots
    for a, b, c in zip(ref_vars, new_vars, fresh_vars):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    for a, b, c in zip(ref.variables, opt.variables, fresh.variables):
        assert a.name == b.name == c.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())


def test_path_collisions_and_mismatches_are_errors():
    opt = em.optimizers.Adam()
    a = em.Variable(np.zeros(2, np.float32), name="w")
    b = em.Variable(np.zeros(2, np.float32), name="w")
    with pytest.raises(InvalidArgumentError, match="share the path"):
        opt.build([a, b])
    with pytest.raises(InvalidArgumentError, match="share the path"):
        opt.apply([np.ones(2), np.ones(2)], [a, b])
    opt.apply([np.ones(2)], [a])
    bigger = em.Variable(np.zeros(3, np.float32), name="w")
    with pytest.raises(ShapeError, match="'w'"):
        opt.apply([np.ones(3)], [bigger])


def test_weight_decay_exclusion_is_by_path():
    opt = em.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    old = em.Variable(np.ones(2, np.float32), name="dense/bias")
    opt.exclude_from_weight_decay(var_list=[old])
    new = em.Variable(np.ones(2, np.float32), name="dense/bias")  # rebuilt, same path
    assert not opt._use_weight_decay(new)
    assert opt._use_weight_decay(em.Variable(np.ones(2, np.float32), name="dense/kernel"))
