"""The documentation in the repository: the pages exist, the README and docs/ link only
to files inside the repository (nothing outside it, such as ../shared), and the Python
examples in docs/ run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["docs/architecture.md", "docs/devices.md", "docs/saving.md", "docs/performance.md", "docs/distributed.md",
         "docs/compiled_step.md", "docs/keras_compatibility.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _markdown() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES)
def test_doc_page_exists(page):
    text = (ROOT / page).read_text()
    assert text.startswith("# ") and len(text) > 1000


def test_architecture_covers_the_stack_seams_ops_and_layers():
    text = (ROOT / "docs/architecture.md").read_text()
    for heading in ("## The stack", "## The seams", "## How to add an op on both devices", "## How to add a layer"):
        assert heading in text


def test_performance_page_has_the_benchmark_commands():
    text = (ROOT / "docs/performance.md").read_text()
    assert "cargo bench" in text and "python benches/run.py" in text and "scripts/build_wheels.sh" in text


@pytest.mark.parametrize("path", _markdown(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository(path):
    text = path.read_text()
    assert "../shared" not in text
    for target in LINK.findall(text):
        if path.name == "README.md":
            assert not re.match(r"[a-z]+://", target), f"the README links outside the repository: {target}"
        if re.match(r"[a-z]+://|mailto:|#", target):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repository: {target}"
        assert resolved.exists(), f"{path.name} links to a missing file: {target}"


def test_nothing_in_the_repository_links_to_shared():
    offenders = []
    for p in ROOT.rglob("*"):
        if any(part in (".git", ".venv", "target", "build", "dist", "node_modules") or part.startswith(".pytest")
               for part in p.relative_to(ROOT).parts):
            continue
        if p.is_file() and p.suffix in (".md", ".py", ".rs", ".toml", ".wgsl", ".sh") and p != Path(__file__):
            if "](../shared" in p.read_text(errors="replace"):
                offenders.append(str(p.relative_to(ROOT)))
    assert not offenders


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_in_docs_run(page, capsys):
    for block in re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S):
        exec(compile(block, page, "exec"), {"__name__": "__docs__"})
