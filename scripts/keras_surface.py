"""Measures Ember's coverage of Keras 3's public API and writes docs/keras_compatibility.md.

Run from the repository root in an environment with keras installed (any Keras backend;
jax is the one the test extra installs)::

    python scripts/keras_surface.py            # rewrites docs/keras_compatibility.md
    python scripts/keras_surface.py --check    # exits 1 when the committed file is stale
    python scripts/keras_surface.py --summary  # prints the per-namespace counts only

For every public name of the Keras namespaces in `NAMESPACES` (``dir()`` of the generated
``keras.<ns>`` API module, names without a leading underscore) it reports whether
``ember.<ns>`` has it and whether the signatures agree. The rules, also written at the top
of the generated page (`RULES`):

1. Present: ``ember.<ns>`` has an attribute of that name. A Keras function or class matched
   by an Ember *module* of the same name (``ember.ops.rnn`` the file, say) does not count.
   Keras submodules (``keras.ops.nn``) count when Ember has a module of that name.
2. What is compared: a class's constructor (``inspect.signature(cls)``), a function's own
   signature (decorators that use ``functools.wraps`` are seen through). Objects that are
   neither (constants) count as matching when present.
3. Parameters: ``self`` and ``*args`` are ignored. Keras's named parameters (positional or
   keyword-only alike) must appear in Ember in the same order with the same names; Ember
   may add parameters after them only if they have defaults (``device=None``, say).
   ``**kwargs``: where Keras takes ``**kwargs`` (a layer's ``name``, ``dtype``,
   ``trainable``...) Ember must take ``**kwargs`` too; its own ``**kwargs`` where Keras has
   none is allowed (Ember validates them).
4. Defaults must be equal: lists and tuples compare by items, floats to 1e-9 relative,
   classes and functions by name, other objects by class name.
5. Unsupported: the names in `OUT` stay out of Ember on purpose; the table shows why.
   `IN_PROGRESS` names are owned by other open issues; they are counted like every other
   name (present or missing) and the reason column says which issue has them.

Coverage = signature-matching names / (all names - names listed in `OUT`).
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "keras_compatibility.md"

NAMESPACES = [
    "", "layers", "losses", "metrics", "optimizers", "optimizers.schedules", "callbacks", "activations",
    "initializers", "regularizers", "constraints", "ops", "random", "utils", "backend", "config", "saving", "models",
]

RULES = __doc__.split("The rules, also written at the top\nof the generated page (`RULES`):\n\n")[1].split(
    "\nCoverage =")[0]

# -- names that stay out of Ember, with the reason ---------------------------------------

_TF = "TensorFlow-only (tf.data / SavedModel / TF ops)"
_F32 = "float32/int32 only: Ember has no mixed precision, dtype policies or quantization"
_COMPLEX = "complex dtypes: Ember tensors are float32/int32 only"
_JAX = "specific to Keras's multi-backend machinery (JAX/TF/torch interop, tracing scopes)"
_BITS = "bitwise ops: Ember's int32 kernels have no bitwise family"
_FILES = "reads image/audio/text folders into tf.data datasets (TensorFlow-only in Keras)"
_STR = "string tensors: Ember has no string dtype"

OUT: dict[str, dict[str, str]] = {
    "": {
        "src": "Keras's private implementation package",
        "applications": "pretrained model zoo (downloads weights): out of scope",
        "distribution": "JAX device meshes; Ember's multi-machine training is MPI data parallelism",
        "distillation": "knowledge-distillation API (Keras 3.11+): out of scope",
        "dtype_policies": _F32, "DTypePolicy": _F32, "FloatDTypePolicy": _F32, "mixed_precision": _F32,
        "quantizers": _F32, "Quantizer": _F32,
        "export": "TensorFlow SavedModel / ONNX export: out of scope",
        "legacy": "Keras 2 legacy API", "preprocessing": "Keras 2 legacy preprocessing API",
        "Function": _JAX, "Operation": _JAX, "StatelessScope": _JAX, "SymbolicScope": _JAX, "RematScope": _JAX,
        "remat": _JAX, "name_scope": _JAX,
        "visualization": "bounding-box plotting for KerasCV-style image pipelines: out of scope",
        "wrappers": "scikit-learn estimator wrappers: out of scope",
    },
    "layers": {
        "TFSMLayer": _TF, "JaxLayer": _JAX, "FlaxLayer": _JAX, "TorchModuleWrapper": _JAX,
        "HashedCrossing": _STR, "Hashing": _STR,
        "MelSpectrogram": "audio preprocessing (STFT): out of scope", "STFTSpectrogram": "audio preprocessing (STFT): out of scope",
        "ReversibleEmbedding": "quantization-oriented KerasHub layer: out of scope",
        "MaxNumBoundingBoxes": "KerasCV-style bounding boxes: out of scope (as utils.bounding_boxes)",
    },
    "losses": {"CTC": "connectionist temporal classification: out of scope", "ctc": "connectionist temporal classification: out of scope"},
    "optimizers": {"LossScaleOptimizer": _F32, "legacy": "Keras 2 legacy optimizers"},
    "callbacks": {"OrbaxCheckpoint": _JAX, "RemoteMonitor": "posts logs to an HTTP server: out of scope"},
    "initializers": {"STFT": "audio (STFT) initializer: out of scope", "STFTInitializer": "audio (STFT) initializer: out of scope",
                     "stft": "audio (STFT) initializer: out of scope"},
    "ops": {
        **{n: _COMPLEX for n in ("angle", "conj", "conjugate", "imag", "real", "isreal", "fft", "fft2", "ifft2", "rfft",
                                 "irfft", "stft", "istft", "polar", "view_as_complex", "view_as_real", "eig")},
        **{n: _BITS for n in ("bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or",
                              "bitwise_right_shift", "bitwise_xor", "left_shift", "right_shift", "gcd", "lcm")},
        **{n: _JAX for n in ("custom_gradient", "jvp", "associative_scan", "fori_loop", "while_loop", "scan", "cond",
                             "switch", "map", "vectorized_map", "vectorize", "saturate_cast", "dtype", "is_tensor",
                             "unravel_index", "view")},
        "ctc_decode": "connectionist temporal classification: out of scope",
        "ctc_loss": "connectionist temporal classification: out of scope",
        "extract_sequences": "audio framing (STFT family): out of scope",
        "nextafter": "needs float bit manipulation: Ember has no bitwise kernels",
    },
    "random": {},
    "utils": {
        "audio_dataset_from_directory": _FILES, "image_dataset_from_directory": _FILES,
        "text_dataset_from_directory": _FILES, "FeatureSpace": _TF, "bounding_boxes": "KerasCV-style bounding boxes: out of scope",
        "legacy": "Keras 2 legacy utilities", "array_to_img": "PIL image helpers: out of scope",
        "img_to_array": "PIL image helpers: out of scope", "load_img": "PIL image helpers: out of scope",
        "save_img": "PIL image helpers: out of scope",
        "get_file": "downloads files over the network: out of scope (Ember's datasets read installed packages)",
    },
    "config": {
        "disable_flash_attention": _JAX, "enable_flash_attention": _JAX, "is_flash_attention_enabled": _JAX,
        "is_nnx_enabled": _JAX, "set_backend": "Ember is its own backend; keras.config.set_backend picks JAX/TF/torch",
        "dtype_policy": _F32, "set_dtype_policy": _F32,
    },
    "saving": {"KerasFileEditor": "interactive .keras file editor: out of scope"},
}

# -- why a name is still missing, where that is known (still counted as missing) ------------

NOTES: dict[str, dict[str, str]] = {
    "layers": {
        **{n: "not yet: needs a convolutional LSTM cell over ops.conv (a recurrent loop of convolutions)" for n in (
            "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")},
        **{n: "not yet: Keras's random choice over its table of augmentation layers (the layers it draws from exist)"
           for n in ("AugMix", "RandAugment")},
        "RandomPerspective": "not yet: needs a projective (homography) sampler; the image sampler takes affine "
                             "transforms only",
        "RandomElasticTransform": "not yet: needs a per-pixel displacement-field sampler",
        "ContrastLimitedAdaptiveHistogramEqualization": "not yet: tiled, clipped histograms (CLAHE)",
    },
}


# -- names other open issues own (counted as present or missing, with the issue) ----------
# Issues 9 (conv/pool/image layers), 10 (recurrent and text) and 11 (saving, model plots)
# have landed: their names are ordinary names now. A name another open issue takes on goes
# here as {namespace: {name: "in progress: issue N"}}.

IN_PROGRESS: dict[str, dict[str, str]] = {}


def _in_progress(ns: str, name: str) -> str | None:
    """The open issue that owns ``name`` ("in progress: issue N"), or None."""
    return IN_PROGRESS.get(ns, {}).get(name)


# -- signature comparison ----------------------------------------------------------------

_MISSING = object()


def _norm_default(v):
    if v is inspect.Parameter.empty:
        return _MISSING
    if isinstance(v, (list, tuple)):
        return tuple(_norm_default(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm_default(x)) for k, x in v.items()))
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, type) or callable(v):
        return ("callable", getattr(v, "__name__", type(v).__name__))
    return ("object", type(v).__name__)


def _equal_defaults(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_equal_defaults(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _fmt(v) -> str:
    if v is _MISSING:
        return "(required)"
    if isinstance(v, tuple) and len(v) == 2 and v[0] in ("callable", "object"):
        return str(v[1])
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return repr(int(v))
    return repr(v)


def _signature(obj):
    target = obj
    try:
        if isinstance(obj, type):
            return inspect.signature(obj)
        if callable(obj):
            return inspect.signature(target)
    except (TypeError, ValueError):
        return None
    return None


def compare(kobj, eobj) -> tuple[bool, str]:
    """(match, note) for a Keras object and Ember's object of the same name (rules 2-4)."""
    if isinstance(kobj, types.ModuleType):
        return (isinstance(eobj, types.ModuleType), "" if isinstance(eobj, types.ModuleType) else "not a module")
    if isinstance(eobj, types.ModuleType):
        return False, "Ember's is a module"
    ks, es = _signature(kobj), _signature(eobj)
    if ks is None or not (callable(kobj)):
        return True, ""
    if es is None:
        return False, "Ember's signature is unreadable"
    kp = [p for p in ks.parameters.values() if p.name != "self" and p.kind is not p.VAR_POSITIONAL]
    ep = [p for p in es.parameters.values() if p.name != "self" and p.kind is not p.VAR_POSITIONAL]
    k_varkw = any(p.kind is p.VAR_KEYWORD for p in kp)
    e_varkw = any(p.kind is p.VAR_KEYWORD for p in ep)
    kp = [p for p in kp if p.kind is not p.VAR_KEYWORD]
    ep = [p for p in ep if p.kind is not p.VAR_KEYWORD]
    notes = []
    for i, p in enumerate(kp):
        if i >= len(ep):
            notes.append("missing parameters: " + ", ".join(q.name for q in kp[i:]))
            break
        q = ep[i]
        if q.name != p.name:
            notes.append(f"parameter {i + 1}: Keras `{p.name}`, Ember `{q.name}`")
            break
        kd, ed = _norm_default(p.default), _norm_default(q.default)
        if not (kd is _MISSING and ed is _MISSING) and (kd is _MISSING or ed is _MISSING or not _equal_defaults(kd, ed)):
            notes.append(f"`{p.name}` default: Keras {_fmt(kd)}, Ember {_fmt(ed)}")
    else:
        extra = ep[len(kp):]
        required = [q.name for q in extra if q.default is inspect.Parameter.empty]
        if required:
            notes.append("extra required parameters: " + ", ".join(required))
        elif extra:
            return (not notes and (e_varkw or not k_varkw),
                    "; ".join(notes + ([] if e_varkw or not k_varkw else ["no **kwargs"])) or
                    "extra: " + ", ".join(q.name for q in extra))
    if k_varkw and not e_varkw:
        notes.append("no **kwargs")
    return (not notes, "; ".join(notes))


# -- the measurement ---------------------------------------------------------------------


def _module(root, ns: str):
    m = root
    for part in filter(None, ns.split(".")):
        m = getattr(m, part, None)
        if m is None:
            return None
    return m


def measure():
    import keras

    import ember

    rows: dict[str, list[tuple[str, str, str, str]]] = {}
    for ns in NAMESPACES:
        kmod = _module(keras, ns)
        emod = _module(ember, ns)
        out = OUT.get(ns, {})
        table = []
        for name in sorted(n for n in dir(kmod) if not n.startswith("_")):
            kobj = getattr(kmod, name)
            kind = ("module" if isinstance(kobj, types.ModuleType) else "class" if isinstance(kobj, type)
                    else "function" if callable(kobj) else "value")
            eobj = getattr(emod, name, _MISSING) if emod is not None else _MISSING
            reason = out.get(name) or _in_progress(ns, name) or NOTES.get(ns, {}).get(name, "")
            if eobj is _MISSING or (isinstance(eobj, types.ModuleType) and not isinstance(kobj, types.ModuleType)):
                status = "unsupported" if name in out else "missing"
                note = reason
            else:
                ok, note = compare(kobj, eobj)
                status = "match" if ok else "differs"
                if reason and name not in out:
                    note = "; ".join(x for x in (note, reason) if x)
            table.append((name, kind, status, note))
        rows[ns] = table
    return keras.__version__, rows


def counts(table):
    total = len(table)
    present = sum(s in ("match", "differs") for _, _, s, _ in table)
    match = sum(s == "match" for _, _, s, _ in table)
    out = sum(s == "unsupported" for _, _, s, _ in table)
    missing = sum(s == "missing" for _, _, s, _ in table)
    in_prog = sum(s == "missing" and "in progress" in n for _, _, s, n in table)
    scope = total - out
    scope_now = scope - in_prog
    return dict(total=total, present=present, match=match, out=out, missing=missing, in_progress=in_prog,
                coverage=(match / scope if scope else 1.0), coverage_now=(match / scope_now if scope_now else 1.0))


_STATUS = {"match": "yes", "differs": "signature differs", "unsupported": "unsupported", "missing": "missing"}


def render(version: str, rows) -> str:
    lines = [
        "# Keras 3 compatibility, measured",
        "",
        "Generated by `python scripts/keras_surface.py` (do not edit by hand; "
        "`tests/test_keras_surface.py` fails when this file is stale).",
        f"Measured against Keras {version}.",
        "",
        "## How names are compared",
        "",
        RULES.strip(),
        "",
        "Coverage = signature-matching names / (all names - unsupported names); the last column also leaves out",
        "the missing names that other open issues own (in progress).",
        "",
        "## Summary",
        "",
        "| namespace | Keras names | present | signature matches | unsupported (reason given) | missing "
        "| of which in progress elsewhere | coverage | coverage without the in-progress names |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tot = dict(total=0, present=0, match=0, out=0, missing=0, in_progress=0)
    for ns, table in rows.items():
        c = counts(table)
        for k in tot:
            tot[k] += c[k]
        lines.append(f"| `keras{'.' + ns if ns else ''}` | {c['total']} | {c['present']} | {c['match']} | {c['out']} "
                     f"| {c['missing']} | {c['in_progress']} | {100 * c['coverage']:.1f}% | {100 * c['coverage_now']:.1f}% |")
    scope = tot["total"] - tot["out"]
    lines.append(f"| **all** | {tot['total']} | {tot['present']} | {tot['match']} | {tot['out']} | {tot['missing']} "
                 f"| {tot['in_progress']} | {100 * tot['match'] / scope:.1f}% "
                 f"| {100 * tot['match'] / (scope - tot['in_progress']):.1f}% |")
    for ns, table in rows.items():
        lines += ["", f"## `keras{'.' + ns if ns else ''}`", "", "| name | kind | in Ember | notes / reason |",
                  "|---|---|---|---|"]
        for name, kind, status, note in table:
            lines.append(f"| `{name}` | {kind} | {_STATUS[status]} | {note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/keras_compatibility.md is stale")
    ap.add_argument("--summary", action="store_true", help="print the per-namespace counts only")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "python"))
    version, rows = measure()
    text = render(version, rows)
    if args.summary:
        print("\n".join(line for line in text.splitlines() if line.startswith("| `keras") or line.startswith("| **all")))
        return 0
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run python scripts/keras_surface.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
