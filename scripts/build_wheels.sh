#!/usr/bin/env bash
# Builds Ember's release wheels without Docker: maturin cross-links through zig (PyPI
# `ziglang`) against an old glibc, so the wheels carry a manylinux tag an index accepts.
#
#   scripts/build_wheels.sh                      # x86_64, manylinux_2_28, into dist/
#   TARGETS="x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu" scripts/build_wheels.sh
#
# Each wheel is abi3 (one file for every CPython >= 3.11), its _core.abi3.so is stripped
# (pyproject.toml: [tool.maturin] strip), and it holds LICENSE, the README (as the package
# description) and the type stubs. `auditwheel show` confirms the tag of each Linux wheel.
# Other platforms (built on their own machines, see docs/performance.md#wheels):
#   macOS:   maturin build --release --target universal2-apple-darwin
#   Windows: maturin build --release
#
# Environment:
#   TARGETS        Rust target triples to build (default: x86_64-unknown-linux-gnu)
#   COMPATIBILITY  manylinux policy (default: manylinux_2_28; manylinux2014 = 2_17 also works)
#   OUT            output folder (default: dist)
#   TOOLS_VENV     virtual environment for maturin, ziglang and auditwheel (default: build/wheel-tools)
#   CARGO_TARGET_DIR  defaults to target/wheels, so that these zig-linked builds do not
#                  invalidate the `maturin develop` build in target/
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-x86_64-unknown-linux-gnu}
COMPATIBILITY=${COMPATIBILITY:-manylinux_2_28}
OUT=${OUT:-dist}
TOOLS_VENV=${TOOLS_VENV:-build/wheel-tools}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/wheels}

if [ ! -x "$TOOLS_VENV/bin/maturin" ] || [ ! -x "$TOOLS_VENV/bin/auditwheel" ] \
    || ! "$TOOLS_VENV/bin/python" -c "import ziglang" 2>/dev/null; then
    python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q "maturin>=1.9.4,<2" "ziglang>=0.13" "auditwheel>=6"
fi
# maturin finds zig as `python -m ziglang` of the python on PATH.
export PATH="$PWD/$TOOLS_VENV/bin:$PATH"

mkdir -p "$OUT"
for target in $TARGETS; do
    if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
        echo "build_wheels: the Rust standard library for $target is not installed (rustup target add $target)" >&2
        exit 1
    fi
    echo "build_wheels: $target, $COMPATIBILITY"
    maturin build --release --target "$target" --compatibility "$COMPATIBILITY" --zig --out "$OUT"
done

for whl in "$OUT"/*.whl; do
    case "$whl" in
        *linux*) auditwheel show "$whl" ;;
    esac
    ls -l "$whl"
done
