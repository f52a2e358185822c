"""Every ```python block of the README runs (convention 16), and the README starts
with the two commands the repository promises."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


def test_readme_python_blocks_run(capsys):
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
    assert "XOR accuracy: 1.00" in capsys.readouterr().out


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    commands = [l for l in first_block.splitlines() if l and not l.startswith("#")]
    assert len(commands) == 2
    assert "examples/mnist_mlp.py" in commands[0]
    assert "pytest" in commands[1] and "cargo test" in commands[1]


def test_ci_runs_the_readme_test_command():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    test_command = [l for l in first_block.splitlines() if l and not l.startswith("#")][1]
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_ci_also_runs_the_suite_against_the_installed_wheel():
    """After the README's command, .ci/run builds the release wheel with the script,
    installs it where no Rust toolchain is on PATH, and runs the suite again."""
    ci = (README.parent / ".ci" / "run").read_text()
    after_build = ci.split("\nscripts/build_wheels.sh\n", 1)
    assert len(after_build) == 2, "the wheel stage does not build with scripts/build_wheels.sh"
    stage = after_build[1]
    assert "EMBER_TEST_INSTALLED_WHEEL=1" in stage and "EMBER_WHEEL=" in stage
    assert 'pip install -q "$EMBER_WHEEL[test]"' in stage and "python -m pytest" in stage
    assert "command -v cargo" in stage
