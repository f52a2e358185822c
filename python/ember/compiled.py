"""Compiled steps: a training step traced once at the Backend seam and replayed without
the Python autograd, layers or op wrappers (``ember.function``; ``Model.fit`` with
``compile(jit_compile=...)``).

How it works (docs/compiled_step.md has the long form):

* **Trace.** The step runs eagerly, for real, while every public method of the backend
  objects is wrapped: each outermost kernel call is recorded as (method, arguments with
  buffers replaced by references, outputs). A buffer is a *parameter* (an input of the
  step, bound anew each call), a *slot* (made by a call of this step) or a *constant*
  (one that existed before: weights, optimizer slots, cached scalars; bound by
  identity, and mutated in place by the in-place kernels as in eager mode).
* **Host values that change per step** do not get baked in: during the trace the
  optimizer's learning rate and step counter, its scalar state (Nadam's momentum
  product) and the random generators' seeds and counters are symbolic numbers (`_Sym`):
  floats and ints that remember the expression they came from (``lr0 * 0.004``,
  ``it0 + 1``). A kernel argument holding one becomes an input of the plan, computed per
  step by a preamble that reads the live optimizer and generators (and advances them as
  eager mode does). Using one in host code the tracer cannot follow (``float()``,
  comparisons, formatting) marks the step untraceable. ``math`` functions read a float's
  value silently: a value baked in that way is caught when it differs between the two
  traces, and a constant learning rate no kernel argument refers to is checked each step.
* **Two consecutive traces must agree** (same calls, same literals, same constants): the
  first step may build state (optimizer slots), and a literal that differs between two
  steps is a host value the tracer cannot explain, so the step stays eager, with a
  warning naming the argument. A readback (``to_numpy``, ``all_finite``) in the step, i.e.
  Python control flow on tensor values, does the same.
* **Replay.** The agreed trace becomes Python source, one line per kernel call, compiled
  once with the bound kernel methods, constants and literals as globals: no tape, no
  layers, no per-call dispatch. The same kernels run in the same order with the same
  arguments, so the weights are bit-identical to eager mode's.
* **Retrace** happens per input signature (shapes, dtypes, structure, non-tensor
  arguments): the last partial batch of an epoch gets its own plan. At most
  ``MAX_SIGNATURES`` plans are kept per function; others run eagerly.

Example:
    >>> import ember as em
    >>> w = em.Variable([1.0, 2.0])
    >>> @em.function
    ... def step(x):
    ...     w.assign(w * x)
    ...     return w * 1.0
    >>> for _ in range(4):
    ...     y = step(em.tensor([2.0, 0.5]))
    >>> y.numpy().tolist()
    [16.0, 0.125]
"""

from __future__ import annotations

import inspect
import math
import os
import re
import warnings
from typing import Any, Callable

import numpy as np

from . import _core
from .ops import core as _ops_core
from . import metrics as metrics_module
from . import random as _random
from . import tree
from .autograd import no_grad
from .backend import _backends
from .errors import InvalidArgumentError
from .tensor import Tensor, Variable

__all__ = ["function", "Function", "CompileWarning"]

#: plans kept per compiled function (one per input signature)
MAX_SIGNATURES = 8
#: traces tried for one signature before giving up (the first may build state)
MAX_TRACES = 3
#: replay CPU plans in one call of the Rust core ("rust", the default) or as the
#: generated Python ("python": every kernel called from Python, for comparison)
REPLAY = os.environ.get("EMBER_COMPILED_REPLAY", "rust")
#: the backend methods that read a buffer back to the host (untraceable in a step)
_READBACKS = frozenset({"to_numpy", "all_finite"})


class CompileWarning(UserWarning):
    """A step could not be compiled and runs eagerly (the message says why)."""


class _Untraceable(Exception):
    pass


class _Stale(Exception):
    """Raised by a plan's preamble when a value it baked in has changed."""


_MISSING = object()


# -- symbolic host scalars --------------------------------------------------------------
_active: list = [None]  # the running _Trace, if any


def _leak(what: str) -> None:
    tr = _active[0]
    if tr is not None and tr.depth == 0 and tr.untraceable is None:
        tr.untraceable = (f"a per-step host value (learning rate, step count or random counter) is used in host "
                          f"code the tracer cannot follow ({what})")


def _src(v) -> str | None:
    """Python source reproducing a plain number exactly, or None."""
    if isinstance(v, _Sym):
        return v._e
    if type(v) is bool or type(v) is int:
        return repr(v)
    if type(v) is float and math.isfinite(v):
        return repr(v)
    return None


def _sym_binop(op: str, pyop: Callable, reflected: bool):
    def f(self, other):
        o = other._v if isinstance(other, _Sym) else other
        os_ = _src(other)
        r = pyop(o, self._v) if reflected else pyop(self._v, o)
        if os_ is None or type(r) not in (int, float):
            _leak(f"{op} with {type(other).__name__}")
            return r
        e = f"({os_} {op} {self._e})" if reflected else f"({self._e} {op} {os_})"
        return _make_sym(r, e)
    return f


def _sym_unop(op: str, pyop: Callable):
    def f(self):
        return _make_sym(pyop(self._v), f"({op}{self._e})")
    return f


def _sym_leaky(name: str, base):
    real = getattr(base, name)

    def f(self, *args):
        _leak(name)
        return real(self._v, *[a._v if isinstance(a, _Sym) else a for a in args])
    return f


class _Sym:
    """Mixin of the symbolic numbers: ``_v`` the plain value, ``_e`` its expression."""

    _v: Any
    _e: str

    def __reduce__(self):  # copies and pickles get the plain value
        return (type(self._v), (self._v,))


_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
        "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a ** b}
_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "%": "mod", "**": "pow"}


def _install(cls, base) -> None:
    for op, fn in _OPS.items():
        setattr(cls, f"__{_NAMES[op]}__", _sym_binop(op, fn, False))
        setattr(cls, f"__r{_NAMES[op]}__", _sym_binop(op, fn, True))
    cls.__neg__ = _sym_unop("-", lambda a: -a)
    cls.__pos__ = _sym_unop("+", lambda a: +a)
    for name in ("__float__", "__int__", "__index__", "__bool__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__",
                 "__ne__", "__hash__", "__round__", "__trunc__", "__floor__", "__ceil__", "__format__", "__abs__",
                 "__str__"):
        if hasattr(base, name):
            setattr(cls, name, _sym_leaky(name, base))


class _SymFloat(_Sym, float):
    def __new__(cls, v: float, e: str):
        s = float.__new__(cls, v)
        s._v, s._e = float(v), e
        return s

    def __repr__(self) -> str:
        return repr(self._v)


class _SymInt(_Sym, int):
    def __new__(cls, v: int, e: str):
        s = int.__new__(cls, v)
        s._v, s._e = int(v), e
        return s

    def __repr__(self) -> str:
        return repr(self._v)


_install(_SymFloat, float)
_install(_SymInt, int)


def _make_sym(v, e: str):
    return _SymFloat(v, e) if type(v) is float else _SymInt(v, e)


def _plain(v):
    if isinstance(v, _Sym):
        return v._v
    if type(v) in (tuple, list) and any(isinstance(x, _Sym) for x in v):
        return type(v)(_plain(x) for x in v)
    return v


# -- buffers -----------------------------------------------------------------------------
def _buffer_types() -> tuple:
    from . import _core

    types = [_core.CpuBuffer]
    try:
        from .backend.webgpu.runtime import GpuBuffer

        types.append(GpuBuffer)
    except Exception:  # noqa: BLE001 - wgpu missing: no GPU buffers exist
        pass
    return tuple(types)


_BUFFERS: list = []


def _is_buffer(v) -> bool:
    if not _BUFFERS:
        _BUFFERS.append(_buffer_types())
    return isinstance(v, _BUFFERS[0])


def _backend_methods(be) -> list[str]:
    names = []
    for name in dir(type(be)):
        if name.startswith("_"):
            continue
        attr = getattr(type(be), name, None)
        if callable(attr) and not isinstance(attr, type):
            names.append(name)
    return names


# -- the trace -----------------------------------------------------------------------------
class _Trace:
    """The record of one eager step."""

    def __init__(self, params: list):
        self.refs: dict[int, tuple] = {}
        self.keep: list = []  # every buffer seen, alive until the trace is dropped (ids stay unique)
        for i, b in enumerate(params):
            if id(b) not in self.refs:
                self.refs[id(b)] = ("p", i)
                self.keep.append(b)
        self.n_params = len(params)
        self.consts: list = []
        self.n_slots = 0
        self.calls: list = []  # (backend, method, args, kwargs, out)
        self.untraceable: str | None = None
        self.depth = 0
        self.opts: list = []  # (optimizer, [scalar-state attributes], custom _prepare_step)
        self.draws: list = []  # (generator or None for the global one, blocks)
        self.out = None
        self.struct = None
        # The same step as recorded by the Rust core (CPU kernels only): a `_core.Plan`,
        # or why there is none; and the per-step expressions its cells hold, in order.
        self.rust = None
        self.rust_why: str | None = None
        self.cells: dict[str, int] = {}
        self.slot_bufs: list = []

    def enc(self, v):
        if isinstance(v, _Sym):
            return ("e", v._e)
        if _is_buffer(v):
            r = self.refs.get(id(v))
            if r is None:
                r = ("c", len(self.consts))
                self.consts.append(v)
                self.refs[id(v)] = r
                self.keep.append(v)
            return r
        if isinstance(v, np.ndarray):
            return ("n", np.array(v, copy=True))
        if type(v) in (tuple, list):
            return (type(v).__name__, tuple(self.enc(x) for x in v))
        if v is None or type(v) in (bool, int, float, str):
            return ("l", v)
        if isinstance(v, np.generic):
            return ("l", v)
        raise _Untraceable(f"a kernel argument of type {type(v).__name__} cannot be recorded")

    def enc_out(self, v):
        if _is_buffer(v):
            r = self.refs.get(id(v))
            if r is None:
                r = ("s", self.n_slots)
                self.n_slots += 1
                self.refs[id(v)] = r
                self.keep.append(v)
                self.slot_bufs.append(v)
                return r
            return ("a", r)  # a buffer the call returned as is (an alias of a known one)
        if type(v) in (tuple, list):
            return (type(v).__name__, tuple(self.enc_out(x) for x in v))
        return ("l", v)


_SIGNATURES: dict = {}


def _name_cells(tr: _Trace, name: str, real: Callable, args: tuple, kwargs: dict) -> None:
    """Tells the Rust recorder which arguments of the next kernel call are per-step
    values (by parameter name, each with its cell and this step's value)."""
    if not any(isinstance(a, _Sym) or type(a) in (tuple, list) for a in (*args, *kwargs.values())):
        return
    fn = getattr(real, "__func__", real)
    sig = _SIGNATURES.get(fn)
    if sig is None:
        try:
            sig = _SIGNATURES[fn] = inspect.signature(real)
        except (TypeError, ValueError):
            tr.rust_why = f"backend.{name} has no signature to name its per-step arguments by"
            return
    try:
        bound = sig.bind(*args, **kwargs).arguments
    except TypeError:
        tr.rust_why = f"backend.{name}: its arguments do not bind to its signature"
        return
    named = {}
    for k, v in bound.items():
        if isinstance(v, _Sym):
            named[k] = (tr.cells.setdefault(v._e, len(tr.cells)), v._v)
        elif type(v) in (tuple, list) and any(isinstance(x, _Sym) for x in v):
            tr.rust_why = f"backend.{name}: argument {k!r} holds a per-step value inside a {type(v).__name__}"
            return
    if named:
        _core._plan_scalars(named)


def _wrap_method(tr: _Trace, be, name: str, real: Callable) -> Callable:
    readback = name in _READBACKS

    def recorded(*args, **kwargs):
        if tr.depth:
            return real(*args, **kwargs)
        if readback:
            if tr.untraceable is None:
                tr.untraceable = (f"the step reads a tensor back to the host (backend.{name}), e.g. Python control "
                                  "flow on tensor values, a float() of a loss or a host-side metric")
            return real(*args, **kwargs)
        n0 = _core._plan_len()
        if tr.rust_why is None:
            _name_cells(tr, name, real, args, kwargs)
        tr.depth += 1
        try:
            out = real(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})
        finally:
            tr.depth -= 1
        if tr.rust_why is None and _core._plan_len() != n0 + 1:
            tr.rust_why = f"backend.{name} is not one call of a CPU kernel"
        if tr.untraceable is None:
            try:
                tr.calls.append((be, name, tuple(tr.enc(a) for a in args),
                                 tuple((k, tr.enc(v)) for k, v in kwargs.items()), tr.enc_out(out)))
            except _Untraceable as e:
                tr.untraceable = f"backend.{name}: {e}"
        return out

    return recorded


class _Tracing:
    """Context: the backends' methods, ``Optimizer.apply`` and ``SeedGenerator.next``
    record into ``tr`` while the step runs."""

    def __init__(self, tr: _Trace, backends: list):
        self.tr, self.backends = tr, backends
        self.patched: list = []

    def __enter__(self):
        from .optimizers.base import Optimizer

        tr = self.tr
        for be in self.backends:
            for name in _backend_methods(be):
                self.patched.append((be, name, be.__dict__.get(name, _MISSING)))
                setattr(be, name, _wrap_method(tr, be, name, getattr(be, name)))
        self.apply, self.next = Optimizer.apply, _random.SeedGenerator.next
        real_apply, real_next = self.apply, self.next

        def apply(opt, grads, variables):
            reason = opt._untraceable_reason()
            if reason is not None:
                if tr.untraceable is None:
                    tr.untraceable = reason
                return real_apply(opt, grads, variables)
            if any(o is opt for o, _, _ in tr.opts):
                if tr.untraceable is None:
                    tr.untraceable = f"optimizer {opt.name!r} is applied twice in one step"
                return real_apply(opt, grads, variables)
            k = len(tr.opts)
            attrs = [f"_{a}" for a in opt._scalar_state() if hasattr(opt, f"_{a}")]
            custom = type(opt)._prepare_step is not Optimizer._prepare_step
            it0 = int(opt.iterations)
            real_lr = type(opt)._current_learning_rate
            real_prep = type(opt)._prepare_step

            def prepare(t):
                real_prep(opt, _plain(t))
                for a in attrs:
                    setattr(opt, a, _make_sym(float(getattr(opt, a)), f"o{k}{a}"))

            opt.iterations = _SymInt(it0, f"it{k}")

            def lr():
                # The schedule sees the plain counter (host code, not recorded).
                opt.iterations = it0
                tr.depth += 1
                try:
                    return _make_sym(float(real_lr(opt)), f"lr{k}")
                finally:
                    tr.depth -= 1
                    opt.iterations = _SymInt(it0, f"it{k}")

            opt._current_learning_rate = lr
            opt._prepare_step = prepare
            try:
                result = real_apply(opt, grads, variables)
            finally:
                stepped = int(_plain(opt.iterations)) != it0
                opt.iterations = it0 + 1 if stepped else it0
                for a in attrs:
                    setattr(opt, a, _plain(getattr(opt, a)))
                del opt._current_learning_rate, opt._prepare_step
            if stepped:
                tr.opts.append((opt, attrs, custom))
            return result if not isinstance(result, _Sym) else _plain(result)

        def next_(gen, n):
            seed, off = real_next(gen, n)
            j = len(tr.draws)
            tr.draws.append((None if gen is _random.global_generator() else gen, gen.counter - off))
            return _SymInt(seed, f"sd{j}"), _SymInt(off, f"d{j}")

        Optimizer.apply = apply
        _random.SeedGenerator.next = next_
        _active[0] = tr
        _ops_core._tracing[0] = True
        _core._plan_record(True)
        return tr

    def __exit__(self, *exc):
        from .optimizers.base import Optimizer

        _active[0] = None
        _ops_core._tracing[0] = False
        plan, why = _core._plan_record(False)
        tr = self.tr
        if tr.rust_why is None:
            tr.rust, tr.rust_why = plan, why
        Optimizer.apply = self.apply
        _random.SeedGenerator.next = self.next
        for be, name, prev in reversed(self.patched):
            if prev is _MISSING:
                be.__dict__.pop(name, None)
            else:
                setattr(be, name, prev)
        return False


def _trace(invoke: Callable, params: list, backends: list):
    """Runs ``invoke()`` (the eager step, for real) while recording it."""
    tr = _Trace(params)
    with _Tracing(tr, backends):
        out = invoke()
    return tr, out


# -- comparing two traces ---------------------------------------------------------------------
def _same_value(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b


def _same_enc(a, b, ca: list, cb: list) -> bool:
    if a[0] != b[0]:
        return False
    kind = a[0]
    if kind in ("p", "s", "e"):
        return a[1] == b[1]
    if kind == "c":
        return ca[a[1]] is cb[b[1]]
    if kind == "a":
        return _same_enc(a[1], b[1], ca, cb)
    if kind == "n":
        return a[1].dtype == b[1].dtype and a[1].shape == b[1].shape and a[1].tobytes() == b[1].tobytes()
    if kind in ("tuple", "list"):
        return len(a[1]) == len(b[1]) and all(_same_enc(x, y, ca, cb) for x, y in zip(a[1], b[1]))
    return _same_value(a[1], b[1])


def _describe(e) -> str:
    kind = e[0]
    if kind == "l":
        return repr(e[1])
    if kind == "n":
        return f"an array of shape {e[1].shape}"
    if kind == "c":
        return "a buffer made before the step"
    if kind == "s":
        return "a buffer made in the step"
    if kind == "p":
        return f"input {e[1]}"
    if kind == "e":
        return e[1]
    return kind


def _difference(a: _Trace, b: _Trace) -> str | None:
    """None when the traces agree, else the first difference in words."""
    if a.n_params != b.n_params or len(a.calls) != len(b.calls):
        return f"the step made {len(a.calls)} kernel calls, then {len(b.calls)}"
    for i, (x, y) in enumerate(zip(a.calls, b.calls)):
        if x[0] is not y[0] or x[1] != y[1] or len(x[2]) != len(y[2]) or [k for k, _ in x[3]] != [k for k, _ in y[3]]:
            return f"kernel call {i} was {x[1]}, then {y[1]}"
        for j, (p, q) in enumerate(list(zip(x[2], y[2])) + [(v, w) for (_, v), (_, w) in zip(x[3], y[3])]):
            if not _same_enc(p, q, a.consts, b.consts):
                why = ""
                if p[0] == "c" and q[0] == "c":
                    why = (" (a state buffer replaced between steps instead of updated in place, e.g. a metric "
                           "accumulating on the device)")
                return (f"argument {j} of kernel call {i} ({x[1]}) changed between steps: {_describe(p)}, then "
                        f"{_describe(q)}{why}")
        if not _same_enc(x[4], y[4], a.consts, b.consts):
            return f"the outputs of kernel call {i} ({x[1]}) changed between steps"
    if [(o is p, aa == bb, c == d) for (o, aa, c), (p, bb, d) in zip(a.opts, b.opts)] != [(True, True, True)] * len(a.opts) \
            or len(a.opts) != len(b.opts):
        return "the step applied other optimizers"
    if len(a.draws) != len(b.draws) or any(g is not h or m != n for (g, m), (h, n) in zip(a.draws, b.draws)):
        return "the step drew other random numbers"
    if not _same_enc(a.out, b.out, a.consts, b.consts):
        return "the step returned other values"
    return None


# -- the plan ------------------------------------------------------------------------------
class _Plan:
    """A trace compiled to one Python function of the input buffers."""

    def __init__(self, tr: _Trace, out_struct):
        g: dict = {"_global_generator": _random.global_generator}
        lines: list[str] = []
        self.n_calls = len(tr.calls)
        self.backends = list({id(c[0]): c[0] for c in tr.calls}.values())

        def lit(v) -> str:
            s = _lit_src(v)
            if s is None:
                name = f"k{len(g)}"
                g[name] = v
                return name
            return s

        def arg(e) -> str:
            kind = e[0]
            if kind == "p":
                return f"p{e[1]}"
            if kind == "s":
                return f"s{e[1]}"
            if kind == "c":
                name = f"c{e[1]}"
                g[name] = tr.consts[e[1]]
                return name
            if kind == "e":
                return e[1]
            if kind == "n":
                name = f"k{len(g)}"
                g[name] = e[1]
                return name
            if kind in ("tuple", "list"):
                inner = ", ".join(arg(x) for x in e[1])
                return f"({inner},)" if kind == "tuple" and len(e[1]) == 1 else (f"({inner})" if kind == "tuple" else f"[{inner}]")
            return lit(e[1])

        def target(e) -> str:
            kind = e[0]
            if kind == "s":
                return f"s{e[1]}"
            if kind in ("tuple", "list") and e[1]:
                return "(" + ", ".join(target(x) for x in e[1]) + ("," if len(e[1]) == 1 else "") + ")"
            return "_"

        # The preamble: each optimizer's rate, counter and scalar state, each random draw's
        # seed and counter (advancing the generator as the eager draw does).
        for k, (opt, attrs, custom) in enumerate(tr.opts):
            g[f"O{k}"] = opt
            lines.append(f"it{k} = O{k}.iterations")
            lines.append(f"lr{k} = O{k}._current_learning_rate()")
            if custom:
                lines.append(f"O{k}._prepare_step(it{k} + 1)")
            for a in attrs:
                lines.append(f"o{k}{a} = O{k}.{a}")
        for j, (gen, blocks) in enumerate(tr.draws):
            if gen is None:
                lines.append(f"g{j} = _global_generator()")
            else:
                g[f"G{j}"] = gen
                lines.append(f"g{j} = G{j}")
            lines.append(f"sd{j} = g{j}.seed")
            lines.append(f"d{j} = g{j}.counter")
            lines.append(f"g{j}.counter = d{j} + {blocks}")
        n_preamble = len(lines)
        fns: dict = {}
        for be, name, args, kwargs, out in tr.calls:
            key = (id(be), name)
            if key not in fns:
                fns[key] = f"f{len(fns)}"
                g[fns[key]] = getattr(be, name)
            call = ", ".join([arg(a) for a in args] + [f"{k}={arg(v)}" for k, v in kwargs])
            lines.append(f"{target(out)} = {fns[key]}({call})")
        #: the Rust form of the kernel calls (one call per step), or why there is none
        self.rust, self.rust_why = None, tr.rust_why
        if tr.rust is not None and REPLAY == "rust":
            self._bind_rust(tr, g, lines, n_preamble)
        # A constant learning rate that no kernel argument refers to symbolically was
        # baked into literals (a custom rule's numpy arithmetic, say): the plan holds only
        # while it is unchanged (a callback setting optimizer.learning_rate retraces).
        body = "\n".join(lines[n_preamble:])
        guards = []
        for k, (opt, _, _) in enumerate(tr.opts):
            lr = opt._learning_rate
            if type(lr) is float and not re.search(rf"\blr{k}\b", body):
                g[f"LR{k}"] = lr
                guards.append(f"if O{k}._learning_rate != LR{k}: raise _Stale")
        g["_Stale"] = _Stale
        lines[:0] = guards
        for k in range(len(tr.opts)):
            lines.append(f"O{k}.iterations = it{k} + 1")
        # The return value: the traced structure, its tensors wrapped around the buffers.
        g["_wrap"] = Tensor._wrap
        assert tr.out is not None  # set by _Compiler.run before a plan is made
        leaves = iter(tr.out[1])

        def build(spec) -> str:
            kind = spec[0]
            if kind == "T":
                name = f"B{len(g)}"
                g[name] = spec[3]
                return f"_wrap({arg(next(leaves))}, {lit(spec[1])}, {lit(spec[2])}, {name})"
            if kind in ("tuple", "list"):
                inner = ", ".join(build(x) for x in spec[1])
                if kind == "list":
                    return f"[{inner}]"
                return f"({inner},)" if len(spec[1]) == 1 else f"({inner})"
            if kind == "dict":
                return "{" + ", ".join(f"{lit(k)}: {build(v)}" for k, v in spec[1]) + "}"
            if kind == "o":
                name = f"V{len(g)}"
                g[name] = spec[1]
                return name
            return lit(spec[1])

        lines.append(f"return {build(out_struct)}")
        params = ", ".join(f"p{i}" for i in range(tr.n_params))
        self.source = f"def _replay({params}):\n" + "".join(f"    {ln}\n" for ln in lines)
        code = compile(self.source, "<ember.compiled plan>", "exec")
        exec(code, g)  # noqa: S102 - our own generated source
        self.replay: Callable = g["_replay"]


    def _bind_rust(self, tr: _Trace, g: dict, lines: list, n_preamble: int) -> None:
        """Replaces the kernel lines by one call of the Rust plan, which hands out the
        returned buffers under their slot names; the Python lines stay as the fallback
        for inputs that alias each other or the step's own buffers."""
        # tr.keep starts with the unique inputs, in order.
        uniq = [b for b in tr.keep if tr.refs.get(id(b), ("",))[0] == "p"]
        params = [tr.refs[id(b)][1] for b in uniq]
        outs = []
        for e in tr.out[1]:
            if e[0] == "s" and e[1] not in outs:
                outs.append(e[1])
        plan = tr.rust
        plan.bind(uniq, [c for c in tr.consts if isinstance(c, _core.CpuBuffer)], [tr.slot_bufs[k] for k in outs])
        g["R"] = plan
        exprs = sorted(tr.cells, key=tr.cells.get)
        cells = "".join(f"{e}, " for e in exprs)
        ins = "".join(f"p{i}, " for i in params)
        targets = "".join(f"s{k}, " for k in outs)
        body = lines[n_preamble:]
        head = [f"_o = R.run(({ins}), ({cells}))", "if _o is not None:", f"    ({targets}) = _o", "else:"]
        lines[n_preamble:] = head + [f"    {ln}" for ln in body] + (["    pass"] if not body else [])
        self.rust = plan
        self.rust_outputs = [tr.slot_bufs[k] for k in outs]


def _lit_src(v) -> str | None:
    if v is None or type(v) in (bool, int, str):
        return repr(v)
    if type(v) is float and math.isfinite(v):
        return repr(v)
    parts = [_lit_src(x) for x in v] if type(v) in (tuple, list) else None
    if parts is not None and all(p is not None for p in parts):
        inner = ", ".join(p for p in parts if p is not None)
        if type(v) is list:
            return f"[{inner}]"
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return None


# -- structures of tensors ----------------------------------------------------------------------
def _flatten(obj, leaves: list):
    """(spec, leaves): tensors of nested tuples/lists/dicts become leaves; other values
    are part of the spec (hashable: they select the plan)."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return ("T", obj.shape, obj.dtype, obj.device)
    if type(obj) in (tuple, list):
        return (type(obj).__name__, tuple(_flatten(x, leaves) for x in obj))
    if type(obj) is dict:
        return ("dict", tuple((k, _flatten(obj[k], leaves)) for k in sorted(obj, key=repr)))
    hash(obj)  # TypeError: unhashable arguments cannot select a plan
    return ("v", type(obj).__name__, obj)


def _out_spec(obj, tr: _Trace):
    """The returned structure with each tensor as (ref, shape, dtype, backend); a
    Variable is returned as itself."""
    if isinstance(obj, Variable):
        return ("o", obj)
    if isinstance(obj, Tensor):
        return ("T", obj.shape, obj.dtype, obj._backend)
    if type(obj) in (tuple, list):
        return (type(obj).__name__, tuple(_out_spec(x, tr) for x in obj))
    if type(obj) is dict:
        return ("dict", tuple((k, _out_spec(v, tr)) for k, v in obj.items()))
    if obj is None or type(obj) in (bool, int, float, str):
        return ("v", obj)
    raise _Untraceable(f"the step returns a {type(obj).__name__}, which cannot be replayed")


def _out_leaves(obj, leaves: list) -> None:
    if isinstance(obj, Variable):
        return
    if isinstance(obj, Tensor):
        leaves.append(obj._buf)
    elif type(obj) in (tuple, list):
        for x in obj:
            _out_leaves(x, leaves)
    elif type(obj) is dict:
        for v in obj.values():
            _out_leaves(v, leaves)


def _same_spec(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "o":
        return a[1] is b[1]
    if a[0] == "T":
        return a[1] == b[1] and a[2] == b[2] and a[3] is b[3]
    if a[0] in ("tuple", "list", "dict"):
        if len(a[1]) != len(b[1]):
            return False
        if a[0] == "dict":
            return all(k == m and _same_spec(s, t) for (k, s), (m, t) in zip(a[1], b[1]))
        return all(_same_spec(s, t) for s, t in zip(a[1], b[1]))
    return _same_value(a[1], b[1])


def _detach(obj, ids: set):
    """``obj`` with each tensor whose buffer is in ``ids`` replaced by a copy."""
    if isinstance(obj, Tensor) and not isinstance(obj, Variable) and id(obj._buf) in ids:
        t = Tensor._wrap(obj._backend.copy(obj._buf), obj.shape, obj.dtype, obj._backend)
        t._keras_logits, t._keras_mask = obj._keras_logits, obj._keras_mask
        return t
    if type(obj) in (tuple, list):
        return type(obj)(_detach(x, ids) for x in obj)
    if type(obj) is dict:
        return {k: _detach(v, ids) for k, v in obj.items()}
    return obj


# -- the cache of plans ------------------------------------------------------------------------------
class _Entry:
    __slots__ = ("plan", "last", "traces", "failed")

    def __init__(self):
        self.plan: _Plan | None = None
        self.last: _Trace | None = None
        self.traces = 0
        self.failed: str | None = None


class _Compiler:
    """Plans by signature for one step function; the eager call is the reference."""

    def __init__(self, name: str, warn: bool):
        self.name, self.warn = name, warn
        self.entries: dict = {}
        #: why the last signature that fell back did (None: every signature compiled)
        self.fallback_reason: str | None = None
        self._warned = False
        #: steps replayed from a plan, and steps traced
        self.replays = 0
        self.traces = 0
        self.n_plans = 0

    def _fail(self, ent: _Entry, reason: str) -> None:
        ent.failed = reason
        ent.last = None
        self.fallback_reason = reason
        if self.warn and not self._warned:
            self._warned = True
            warnings.warn(f"{self.name}: the step runs eagerly, it cannot be compiled: {reason}", CompileWarning,
                          stacklevel=4)

    def run(self, key, tensors: list, backends: dict, invoke: Callable):
        """The step's outputs: replayed from the plan of ``key``, or computed by
        ``invoke()`` (eagerly, tracing while no plan exists, on the ``backends`` by name)."""
        if _active[0] is not None:  # called inside another step's trace: it becomes part of that plan
            return invoke()
        ent = self.entries.get(key)
        if ent is None:
            if len(self.entries) >= MAX_SIGNATURES:
                if self.warn and not self._warned:
                    self._warned = True
                    warnings.warn(f"{self.name}: more than {MAX_SIGNATURES} input signatures (shapes, dtypes, "
                                  "non-tensor arguments); calls with new ones run eagerly", CompileWarning, stacklevel=3)
                return invoke()
            ent = self.entries[key] = _Entry()
        plan = ent.plan
        if plan is not None:
            try:
                out = plan.replay(*[t._buf for t in tensors])
            except _Stale:  # raised before any work: trace again
                ent.plan, ent.traces = None, 0
            else:
                self.replays += 1
                return out
        if ent.failed is not None:
            return invoke()
        params = [t._buf for t in tensors]
        tr, out = _trace(invoke, params, list(backends.values()))
        ent.traces += 1
        self.traces += 1
        if tr.untraceable is None:
            try:
                struct = _out_spec(out, tr)
                leaves: list = []
                _out_leaves(out, leaves)
                tr.out = ("tuple", tuple(tr.enc(b) for b in leaves))
                tr.struct = struct
            except _Untraceable as e:
                tr.untraceable = str(e)
        if tr.untraceable is not None:
            self._fail(ent, tr.untraceable)
            return out
        last = ent.last
        diff = None if last is None else _difference(last, tr)
        if diff is None and last is not None and not _same_spec(last.struct, tr.struct):
            diff = "the step returned another structure"
        if last is not None and diff is None:
            ent.plan = _Plan(tr, tr.struct)
            ent.last = None
            self.n_plans += 1
            if ent.plan.rust is not None:
                # The Rust plan refills (and hands out) the buffers this trace returned:
                # the caller gets copies, which no replay touches.
                out = _detach(out, {id(b) for b in ent.plan.rust_outputs})
        elif ent.traces >= MAX_TRACES:
            self._fail(ent, diff or "no two traces agreed")
        else:
            ent.last = tr
        return out

    def plans(self) -> list[_Plan]:
        return [e.plan for e in self.entries.values() if e.plan is not None]


# -- ember.function ------------------------------------------------------------------------------------
class Function:
    """A function whose calls replay a traced plan of its kernel calls (see `function`)."""

    def __init__(self, fn: Callable, warn: bool = True):
        if not callable(fn):
            raise InvalidArgumentError(f"function: expected a callable, got {fn!r}")
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "function")
        self.__doc__ = getattr(fn, "__doc__", None)
        self._compiler = _Compiler(f"ember.function({self.__name__})", warn)

    @property
    def fallback_reason(self) -> str | None:
        """Why a signature runs eagerly (None when all compiled)."""
        return self._compiler.fallback_reason

    def __call__(self, *args, **kwargs):
        # numpy arrays become tensors (as tf.function converts them): they are data, not
        # part of the signature.
        if any(isinstance(a, np.ndarray) for a in args) or any(isinstance(v, np.ndarray) for v in kwargs.values()):
            args = tuple(Tensor(a) if isinstance(a, np.ndarray) else a for a in args)
            kwargs = {k: Tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        leaves: list = []
        try:
            key = _flatten((args, kwargs), leaves)
            hash(key)
        except TypeError:
            return self.fn(*args, **kwargs)
        return self._compiler.run(key, leaves, _backends, lambda: self.fn(*args, **kwargs))

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        import functools

        return functools.partial(self.__call__, obj)


def function(fn: Callable | None = None, *, warn: bool = True):
    """Compiles ``fn`` (``tf.function`` / ``jax.jit`` for Ember): its first calls run
    eagerly while their kernel calls are traced; once two consecutive calls agree, later
    calls with the same input signature (tensor shapes, dtypes and devices, the other
    arguments' values) replay the recorded kernels directly, without the autograd or
    the layers. Tensors in the arguments are the plan's inputs; everything else the
    function reads (weights, optimizer slots) is bound by identity and must be updated
    in place (``Variable.assign``, the optimizers), as in eager mode. Steps that read
    tensors back to the host (Python control flow on values, ``float(loss)``) run
    eagerly, with one `CompileWarning` naming the reason (``warn=False`` silences it).

    Args:
        fn: the function; its return value is a structure of tensors and constants.
        warn: warn once when a signature cannot be compiled.

    Returns:
        A `Function`.

    Example:
        >>> import ember as em
        >>> v = em.Variable([0.0])
        >>> @em.function
        ... def add(x):
        ...     v.assign(v + x)
        >>> for _ in range(5):
        ...     add(em.tensor([1.0]))
        >>> v.numpy().tolist()
        [5.0]
    """
    if fn is None:
        return lambda f: Function(f, warn=warn)
    return Function(fn, warn=warn)


# -- Model.fit's step ---------------------------------------------------------------------------------------
def check_jit_compile(value) -> Any:
    """``compile(jit_compile=...)``: "auto", True or False."""
    if isinstance(value, str) and value == "auto":
        return "auto"
    if isinstance(value, bool):
        return value
    raise InvalidArgumentError(f"compile: jit_compile must be 'auto', True or False, got {value!r}")


def _sig(t) -> Any:
    if isinstance(t, Tensor):
        return (t.shape, t.dtype, t.device)
    if t is None:
        return None
    if type(t) in (tuple, list):
        return tuple(_sig(x) for x in t)
    if type(t) is dict:
        return tuple((k, _sig(t[k])) for k in sorted(t))
    return ("?", type(t).__name__)


def _first_dim(x) -> int:
    """The batch size, as ``models.model._batch_size``."""
    if type(x) is Tensor:
        return x.shape[0] if x.shape else 1
    first = tree.flatten(x)[0]
    return int(first.shape[0]) if getattr(first, "shape", None) else 1


def _tensors(obj, out: list) -> None:
    if isinstance(obj, Tensor):
        out.append(obj)
    elif type(obj) in (tuple, list):
        for x in obj:
            _tensors(x, out)
    elif type(obj) is dict:
        for k in sorted(obj):
            _tensors(obj[k], out)


class TrainStep:
    """The compiled form of ``Model``'s built-in training step: forward, loss, gradients,
    the optimizer update and the metrics' per-sample values are one plan; the running
    means (the loss tracker's and the metrics', summed on the host on the CPU) are
    updated from the plan's outputs, as the eager step does."""

    def __init__(self, model, warn: bool):
        self.model = model
        self.compiler = _Compiler(f"{type(model).__name__}.fit", warn)
        self._vars_list = None
        self._token = None
        self._metrics = None
        self._metrics_for = None

    def _state_token(self, model) -> tuple:
        variables = model._train_variables if model._train_variables is not None else model.trainable_variables
        opt_vars = getattr(model.optimizer, "variables", [])
        return (id(model.optimizer), tuple(id(v) for v in variables),
                tuple(id(v._buf) for v in list(model.weights) + list(opt_vars)))

    def __call__(self, x, y, sw):
        """One step; returns the loss tensor (as ``Model._train_batch``)."""
        model = self.model
        if model._grad_observers:  # callbacks reading the gradients: the eager step
            return model._train_batch(x, y, sw)
        if model._train_variables is not self._vars_list:
            # A new fit: the plans bind the weights and optimizer slots by identity, so
            # they hold only while those are the same objects as when the plans were made.
            self._vars_list = model._train_variables
            if self._token is not None and self._state_token(model) != self._token:
                self.compiler.entries.clear()
                self._token = None
        swt = None
        if sw is not None:
            swt = Tensor(np.asarray(sw, np.float32), device=model.device)
        if type(x) is Tensor and type(y) is Tensor and swt is None:  # the common case, without the walks
            key = ((x.shape, x.dtype, x.device), (y.shape, y.dtype, y.device), None)
            tensors = [x, y]
        else:
            key = (_sig(x), _sig(y), _sig(swt))
            tensors = []
            _tensors((x, y, swt), tensors)
        n_plans = self.compiler.n_plans
        mfns = self._metric_fns(model, y)
        fsw = sw if swt is None else swt

        def invoke():
            loss, y_pred = model._train_forward_backward(x, y, fsw)
            if mfns is None or tree.is_nested(y_pred):
                return loss, y_pred, None
            with no_grad():  # the outputs are not needed past the metrics' values
                return loss, None, [m._fn(y, y_pred, **m._kwargs) for m, _ in mfns]

        loss, y_pred, values = self.compiler.run(key, tensors, _backends, invoke)
        if self.compiler.n_plans != n_plans:
            self._token = self._state_token(model)
        if values is None:
            model._train_metrics(x, y, sw, loss, y_pred)
        else:
            # What MeanMetricWrapper.update_state does after computing its values.
            model._loss_tracker.update_state(loss, sample_weight=_first_dim(x))
            for (m, weighted), v in zip(mfns, values):
                metrics_module.Mean.update_state(m, v, sw if weighted else None)
        return loss

    def _metric_fns(self, model, y):
        """The compiled metrics as (metric, weighted) when their values can join the plan:
        one output, every metric a `MeanMetricWrapper` (values by a function of y and
        y_pred, then a running mean kept outside the plan); else None (metrics eager)."""
        cm = model._compile_metrics
        if cm is None or y is None:
            return []
        if cm.per_output is None or len(cm.per_output) != 1 or tree.is_nested(y):
            return None
        if self._metrics_for is not cm:
            ms = [(m, False) for m in cm.per_output[0]] + [(m, True) for m in cm.weighted_per_output[0]]
            ok = all(type(m).update_state is metrics_module.MeanMetricWrapper.update_state for m, _ in ms)
            self._metrics, self._metrics_for = (ms if ok else None), cm
        return self._metrics


def train_batch(model, x, y, sw):
    """``Model.fit``'s step: compiled unless ``compile(jit_compile=False)``."""
    jit = getattr(model, "_jit_compile", "auto")
    if (jit is False or model.optimizer.__dict__.get("_distribution") is not None
            or model.optimizer._untraceable_reason() is not None):
        # A distributed step talks to the other ranks on the host (ember.distribute), and an
        # optimizer accumulating gradients branches on its host counter: eager.
        return model._train_batch(x, y, sw)
    step = getattr(model, "_compiled_train_step", None)
    if step is None:
        step = model._compiled_train_step = TrainStep(model, warn=jit is True)
    return step(x, y, sw)


def custom_train_step(model, x, y, sw):
    """``Model.fit``'s step for a model overriding ``train_step``: compiled (with a
    warning when it cannot be) only under ``compile(jit_compile=True)``; "auto" keeps a
    user's step eager, as it may do anything on the host."""
    from .models.model import _pack

    if getattr(model, "_jit_compile", "auto") is not True:
        return model.train_step(_pack(x, y, sw))
    fn = getattr(model, "_compiled_custom_step", None)
    if fn is None:
        fn = model._compiled_custom_step = Function(lambda data: model.train_step(data), warn=True)
        fn._compiler.name = f"{type(model).__name__}.train_step"
    if sw is not None:
        sw = Tensor(np.asarray(sw, np.float32), device=model.device)
    return fn(_pack(x, y, sw))
