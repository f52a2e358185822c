"""Every public layer, loss, optimizer and callback has its own docstring that documents
each argument of its constructor in a Google-style ``Args:`` section, as Keras does.

The walker reads ``__all__`` of the public namespaces, so a class added there is covered
without editing this file. An argument may be documented by the class or by an Ember base
class whose constructor takes it (Keras documents the common optimizer and layer keyword
arguments once, on the base). Entries may name several arguments (``beta_1, beta_2: ...``).
"""

from __future__ import annotations

import inspect
import re

import pytest

import ember as em

NAMESPACES = {
    "ember": em, "ember.layers": em.layers, "ember.models": em.models, "ember.losses": em.losses,
    "ember.optimizers": em.optimizers, "ember.callbacks": em.callbacks,
}
KINDS = (em.layers.Layer, em.losses.Loss, em.optimizers.Optimizer, em.callbacks.Callback)
SECTION = re.compile(r"^(\s*)(Args|Arguments):\s*\n", re.M)
# Headers of the sections that may follow Args (Google style and Keras's own).
NEXT_SECTION = re.compile(r"^\s*(Returns|Raises|Yields|Example|Examples|Call arguments|Input shape|Output shape|Note|Notes|"
                          r"Reference|References|Attributes|Warning|See also)\s*:", re.M)


def documented_args(doc: str | None) -> set[str]:
    """The argument names an ``Args:`` section documents."""
    if not doc:
        return set()
    doc = inspect.cleandoc(doc)
    m = SECTION.search(doc)
    if m is None:
        return set()
    body = doc[m.end():]
    end = NEXT_SECTION.search(body)
    body = body[: end.start()] if end else body
    lines = [ln for ln in body.splitlines() if ln.strip()]
    if not lines:
        return set()
    indent = len(lines[0]) - len(lines[0].lstrip())
    names: set[str] = set()
    header = ""
    for ln in lines:
        if len(ln) - len(ln.lstrip()) < indent:
            break  # dedented past the section: another paragraph
        if len(ln) - len(ln.lstrip()) != indent and not header:
            continue  # a description's continuation
        header += ln.strip() + " "
        if ":" not in header and header.rstrip().endswith(","):
            continue  # an entry naming several arguments over two lines
        head = header.split(":", 1)[0] if ":" in header else ""
        header = ""
        for part in re.split(r"[,/]", head):
            part = re.sub(r"\(.*?\)", "", part).strip().lstrip("*")
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
                names.add(part)
    return names


def public_classes() -> list[tuple[str, type]]:
    seen: dict[type, str] = {}
    for ns, mod in NAMESPACES.items():
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if inspect.isclass(obj) and issubclass(obj, KINDS) and obj not in seen:
                seen[obj] = f"{ns}.{name}"
    return sorted(((path, cls) for cls, path in seen.items()), key=lambda t: t[0])


CLASSES = public_classes()


def constructor_args(cls: type) -> list[str]:
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def test_the_walker_finds_every_kind():
    kinds = {k: [p for p, c in CLASSES if issubclass(c, k)] for k in KINDS}
    assert all(kinds.values()), {k.__name__: len(v) for k, v in kinds.items()}
    assert len(CLASSES) >= 50
    for expected in ("ember.layers.Dense", "ember.losses.MeanSquaredError", "ember.optimizers.Adam",
                     "ember.callbacks.EarlyStopping", "ember.callbacks.ProgbarLogger"):
        assert expected in dict(CLASSES)


def test_documented_args_parser():
    doc = """Summary.

        Args:
            units: a positive int.
            beta_1, beta_2: decay rates,
                continued here: still the same entry.
            beta_initializer, gamma_initializer,
            moving_variance_initializer: initializers.
            **kwargs: base arguments.

        Example:
            >>> 1
            1
        """
    assert documented_args(doc) == {"units", "beta_1", "beta_2", "beta_initializer", "gamma_initializer",
                                    "moving_variance_initializer", "kwargs"}
    assert documented_args("No sections.") == set()


@pytest.mark.parametrize("path, cls", CLASSES, ids=[p for p, _ in CLASSES])
def test_public_class_documents_its_arguments(path, cls):
    own = cls.__dict__.get("__doc__")
    assert own and own.strip(), f"{path} has no docstring of its own"
    documented = set()
    for base in cls.__mro__:
        if base is cls or (base.__module__.startswith("ember") and "__init__" in base.__dict__):
            documented |= documented_args(base.__dict__.get("__doc__"))
    missing = [a for a in constructor_args(cls) if a not in documented]
    assert not missing, f"{path}: constructor arguments without an Args: entry: {', '.join(missing)}"
