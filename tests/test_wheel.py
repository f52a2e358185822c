"""The release wheel built by scripts/build_wheels.sh (set EMBER_WHEEL to its path; .ci/run
does): a manylinux tag no newer than 2_28 that its shared object actually satisfies, abi3,
stripped, LICENSE and README inside, no build-time dependency, and (in CI's wheel stage)
the ember under test is that wheel, installed where no Rust toolchain is on PATH.

The shared object is read with a small ELF reader rather than with auditwheel, so the
tag is checked independently of the tool that chose it (`auditwheel show` also runs when
it is installed).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

WHEEL = os.environ.get("EMBER_WHEEL")
pytestmark = pytest.mark.skipif(not WHEEL, reason="no wheel given: build one with scripts/build_wheels.sh and set EMBER_WHEEL")
NAME = re.compile(r"ember-(?P<version>[^-]+)-cp311-abi3-manylinux_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>x86_64|aarch64)\.whl")
# Libraries every manylinux system provides (PEP 600's policy list, the ones a Rust cdylib uses).
SYSTEM_LIBS = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1",
               "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


def _wheel() -> zipfile.ZipFile:
    assert WHEEL and Path(WHEEL).is_file(), f"EMBER_WHEEL={WHEEL!r} is not a file"
    return zipfile.ZipFile(WHEEL)


def _dist_info(z: zipfile.ZipFile, name: str) -> str:
    matches = [n for n in z.namelist() if re.fullmatch(rf"ember-[^/]+\.dist-info/{name}", n)]
    assert len(matches) == 1, (name, z.namelist())
    return z.read(matches[0]).decode()


def _elf(data: bytes) -> dict:
    """Section names, DT_NEEDED libraries and the GLIBC symbol versions a 64-bit
    little-endian ELF shared object requires."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit little-endian ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = []
    for i in range(shnum):
        name, typ, _flags, _addr, off, size, link, _info, _align, _entsize = struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        sections.append({"name_off": name, "type": typ, "off": off, "size": size, "link": link})
    strtab = sections[shstrndx]

    def cstr(base: int, off: int) -> str:
        end = data.index(b"\0", base + off)
        return data[base + off:end].decode()

    for s in sections:
        s["name"] = cstr(strtab["off"], s["name_off"])
    by_name = {s["name"]: s for s in sections}
    needed = []
    dyn = by_name[".dynamic"]
    dynstr = sections[dyn["link"]]
    for off in range(dyn["off"], dyn["off"] + dyn["size"], 16):
        tag, val = struct.unpack_from("<qQ", data, off)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            needed.append(cstr(dynstr["off"], val))
    versions = set()
    verneed = by_name.get(".gnu.version_r")
    if verneed is not None:
        vstr = sections[verneed["link"]]
        off = verneed["off"]
        while True:
            _ver, cnt, _file, aux, nxt = struct.unpack_from("<HHIII", data, off)
            a = off + aux
            for _ in range(cnt):
                _hash, _flags, _other, name, anext = struct.unpack_from("<IHHII", data, a)
                versions.add(cstr(vstr["off"], name))
                a += anext
            if not nxt:
                break
            off += nxt
    return {"sections": set(by_name), "needed": needed, "versions": versions}


def test_wheel_name_and_tag_are_manylinux_2_28_or_older_abi3():
    m = NAME.fullmatch(Path(WHEEL).name)
    assert m, f"{Path(WHEEL).name} is not an abi3 manylinux wheel name"
    assert (int(m["major"]), int(m["minor"])) <= (2, 28)
    with _wheel() as z:
        wheel = _dist_info(z, "WHEEL")
    tag = f"cp311-abi3-manylinux_{m['major']}_{m['minor']}_{m['arch']}"
    assert f"Tag: {tag}" in wheel.splitlines()
    assert "Root-Is-Purelib: false" in wheel


def test_shared_object_is_stripped_and_needs_only_old_system_libraries():
    m = NAME.fullmatch(Path(WHEEL).name)
    with _wheel() as z:
        so = [n for n in z.namelist() if n.startswith("ember/_core") and n.endswith(".so")]
        assert so == ["ember/_core.abi3.so"], so
        info = _elf(z.read(so[0]))
    assert ".symtab" not in info["sections"], "not stripped: a symbol table is present"
    assert not any(s.startswith(".debug") for s in info["sections"]), "not stripped: debug sections are present"
    assert set(info["needed"]) <= SYSTEM_LIBS, f"links libraries outside the manylinux policy: {info['needed']}"
    assert not any("python" in lib for lib in info["needed"]), "abi3 extensions must not link libpython"
    glibc = [tuple(int(x) for x in v[6:].split(".")) for v in info["versions"] if v.startswith("GLIBC_")]
    assert glibc and max(glibc) <= (int(m["major"]), int(m["minor"])), \
        f"needs GLIBC {'.'.join(map(str, max(glibc)))}, newer than the wheel's tag"


def test_auditwheel_agrees_with_the_tag():
    auditwheel = shutil.which("auditwheel") or str(Path(__file__).parents[1] / "build" / "wheel-tools" / "bin" / "auditwheel")
    if not Path(auditwheel).is_file():
        pytest.skip("auditwheel is not installed (scripts/build_wheels.sh installs it in build/wheel-tools)")
    m = NAME.fullmatch(Path(WHEEL).name)
    out = subprocess.run([auditwheel, "show", WHEEL], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f'consistent with\nthe following platform tag: "manylinux_{m["major"]}_{m["minor"]}_{m["arch"]}"' in out.stdout, out.stdout


def test_metadata_license_readme_and_no_build_dependency():
    with _wheel() as z:
        meta = _dist_info(z, "METADATA")
        license_text = _dist_info(z, "licenses/LICENSE")
        names = z.namelist()
    import ember

    assert f"Version: {ember.__version__}" in meta.splitlines()
    assert "License-Expression: MIT" in meta.splitlines()
    assert license_text.startswith("MIT License")
    assert "\n# Ember\n" in meta, "the README is the wheel's description"
    requires = [ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    # The runtime needs only numpy and safetensors (weights files); both ship wheels, no toolchain.
    assert runtime and all(r.startswith(("numpy", "safetensors")) for r in runtime), runtime
    for tool in ("maturin", "setuptools-rust", "cargo", "ziglang"):
        assert not any(r.startswith(tool) for r in requires), requires
    assert "ember/_core.pyi" in names and "ember/py.typed" in names
    assert not any(n.endswith((".rs", ".wgsl", "Cargo.toml")) for n in names)


@pytest.mark.skipif(os.environ.get("EMBER_TEST_INSTALLED_WHEEL") != "1",
                    reason="the installed-wheel stage of .ci/run sets EMBER_TEST_INSTALLED_WHEEL=1")
def test_the_suite_runs_against_the_installed_wheel_without_a_toolchain():
    import ember
    import ember._core

    assert shutil.which("cargo") is None and shutil.which("rustc") is None, "a Rust toolchain is on PATH"
    assert "site-packages" in Path(ember.__file__).parts, ember.__file__
    with _wheel() as z:
        want = hashlib.sha256(z.read("ember/_core.abi3.so")).hexdigest()
    got = hashlib.sha256(Path(ember._core.__file__).read_bytes()).hexdigest()
    assert got == want, "the imported _core is not the wheel's"
