"""An offline install bundle for machines with Python (and maybe PyTorch) but no package access: `make bundle`.

    python -m course_lib.bundle [--python-version 3.12] [--with-torch] [--have FILE] [--extra test] [--out build/bundle]

writes build/bundle/ with
  wheels/                  the course's dependencies (pyproject.toml) for that Python on manylinux x86-64, fetched
                           with `pip download --only-binary=:all:`; torch and torchaudio only with --with-torch; the
                           packages named in --have (one name a line, `pip freeze` output works) left out
  fluidsynth-libs.tar.xz   libfluidsynth.so.3 from this machine and the libraries `ldd` shows it needs, except the
                           C and C++ runtimes every Linux has (libc, libm, libpthread, libdl, librt, libstdc++, ...)
  install.sh               on the target: pip install --no-index --no-deps of the wheels (into the active environment
                           or --target DIR), registers the libraries the target lacks (ldconfig -p) in a folder listed
                           in /etc/ld.so.conf.d/ (root) or on LD_LIBRARY_PATH (not root), links course_lib, and checks
                           that course_lib imports and FluidSynth renders a note
  bundle.json              what went in: Python version, platforms, wheels, libraries, sizes
"""
from __future__ import annotations

import argparse
import ctypes.util
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

from .io import atomic_path, write_json_atomic

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
TORCH = ("torch", "torchaudio")
# libraries every Linux system has (the C and C++ runtimes and the loader): never bundled
RUNTIME = ("linux-vdso", "linux-gate", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so",
           "libstdc++.so", "libgcc_s.so")
LIB_TAR = "fluidsynth-libs.tar.xz"


def canonical(name: str) -> str:
    """A package name as PEP 503 compares them: lower case, runs of '-', '_', '.' as one '-'."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def requirement_name(req: str) -> str:
    """The package name of a requirement line ('numpy>=1.26,<3' -> 'numpy'; 'torch @ file:...' -> 'torch')."""
    return canonical(re.split(r"[\s<>=!~;@\[(]", req.strip(), maxsplit=1)[0])


def read_have(text: str) -> set[str]:
    """Package names a target already has, from one name or requirement a line (`pip freeze` output works)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {requirement_name(line) for line in lines if line and not line.startswith("-")}


def requirements(pyproject: str | Path, with_torch: bool = False, extras: tuple[str, ...] = (),
                 have: set[str] = frozenset()) -> list[str]:
    """The requirement lines of pyproject.toml (and its `extras`), without torch/torchaudio unless asked, minus `have`."""
    project = tomllib.loads(Path(pyproject).read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            raise ValueError(f"no extra {extra!r} in {pyproject}: {sorted(project.get('optional-dependencies', {}))}")
        reqs += project["optional-dependencies"][extra]
    drop = set(have) | (set() if with_torch else set(TORCH))
    return [r for r in reqs if requirement_name(r) not in drop]


def download_command(requirements_file: str | Path, dest: str | Path, python_version: str = "3.12",
                     platforms: tuple[str, ...] = PLATFORMS) -> list[str]:
    """The `pip download` command fetching binary wheels for another Python and platform."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python_version,
           "--implementation", "cp", "--dest", str(dest), "--requirement", str(requirements_file)]
    for platform in platforms:
        cmd += ["--platform", platform]
    return cmd


def wheel_project(filename: str) -> str:
    """The package name of a wheel file ('scikit_learn-1.9.1-cp312-...whl' -> 'scikit-learn')."""
    return canonical(Path(filename).name.split("-", 1)[0])


def drop_wheels(folder: str | Path, names: set[str]) -> list[str]:
    """Delete the wheels of packages in `names` (pulled in as dependencies of others); the names deleted."""
    gone = []
    for whl in sorted(Path(folder).glob("*.whl")):
        if wheel_project(whl.name) in names:
            whl.unlink()
            gone.append(wheel_project(whl.name))
    return gone


def parse_ldd(text: str) -> list[tuple[str, str]]:
    """(soname, path) of each library in `ldd` output that resolves to a file (the vDSO and the loader line have none)."""
    found = []
    for line in text.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)", line)
        if m:
            found.append((m.group(1), m.group(2)))
    missing = [line.split("=>")[0].strip() for line in text.splitlines() if "=> not found" in line]
    if missing:
        raise FileNotFoundError(f"ldd cannot resolve {', '.join(missing)}: install them here before bundling")
    return found


def is_runtime(soname: str) -> bool:
    """True for the C and C++ runtime libraries and the loader (every target has its own; never bundled)."""
    return any(soname.startswith(prefix) for prefix in RUNTIME)


def fluidsynth_library() -> Path:
    """The file of libfluidsynth.so.3 on this machine (ldconfig's cache, then ctypes' search)."""
    try:
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        cache = ""
    for line in cache.splitlines():
        m = re.match(r"\s*(libfluidsynth\.so\.3)\s.*x86-64.*=>\s*(\S+)", line)
        if m:
            return Path(m.group(2))
    name = ctypes.util.find_library("fluidsynth")
    if name and Path(name).is_absolute() and Path(name).exists():
        return Path(name)
    raise FileNotFoundError("libfluidsynth.so.3 is not on this machine: sudo apt-get install -y libfluidsynth3")


def pack_libraries(library: Path, tar_path: Path) -> list[str]:
    """Write `library` and the non-runtime libraries it needs (ldd) into a tar.xz, each under its soname; the sonames."""
    deps = parse_ldd(subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True).stdout)
    members = [("libfluidsynth.so.3", library)] + [(s, Path(p)) for s, p in deps if not is_runtime(s)]
    names = []
    with atomic_path(tar_path) as tmp, tarfile.open(tmp, "w:xz") as tar:
        for soname, path in members:
            if soname not in names:
                tar.add(path.resolve(), arcname=soname)  # the file itself, not the symlink
                names.append(soname)
    return names


INSTALL_SH = r'''#!/usr/bin/env bash
# Offline install of the course "Generative models for music" from this bundle (written by `make bundle`).
#   ./install.sh [--python PY] [--target DIR] [--libdir DIR] [--user-libs] [--repo DIR] [--no-check]
# Installs the wheels with pip --no-index --no-deps (into PY's environment, or into DIR with --target), adds the
# FluidSynth libraries this machine lacks (ldconfig -p) to a folder listed in /etc/ld.so.conf.d/ (as root) or to
# LD_LIBRARY_PATH (otherwise, or with --user-libs), links course_lib (a .pth file, or PYTHONPATH with --target)
# and checks that course_lib imports and FluidSynth renders a note.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; TARGET=""; LIBDIR=""; USERLIBS=0; CHECK=1
REPO="$(cd "$here/../.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --python) PY="$2"; shift 2;;
    --target) TARGET="$2"; shift 2;;
    --libdir) LIBDIR="$2"; shift 2;;
    --user-libs) USERLIBS=1; shift;;
    --repo) REPO="$2"; shift 2;;
    --no-check) CHECK=0; shift;;
    -h|--help) sed -n 2,7p "$0"; exit 0;;
    *) echo "install.sh: unknown option $1 (see --help)"; exit 2;;
  esac
done
want="@PYTHON_VERSION@"
have="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$have" != "$want" ]; then
  echo "This bundle holds wheels for Python $want; $PY is Python $have. Rebuild it: make bundle PYTHON_VERSION=$have"; exit 1
fi
echo "Installing $(ls "$here"/wheels/*.whl | wc -l) wheels (pip --no-index --no-deps)..."
if [ -n "$TARGET" ]; then
  mkdir -p "$TARGET"; TARGET="$(cd "$TARGET" && pwd)"
  "$PY" -m pip install --quiet --no-index --no-deps --target "$TARGET" "$here"/wheels/*.whl
  export PYTHONPATH="$TARGET:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  "$PY" -m pip install --quiet --no-index --no-deps "$here"/wheels/*.whl
  if [ -f "$REPO/course_lib/__init__.py" ]; then
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$REPO" > "$site/course_lib.pth"; echo "course_lib: linked from $REPO ($site/course_lib.pth)"
  else
    echo "course_lib: not linked (no repository at $REPO; pass --repo DIR)"
  fi
fi
# FluidSynth: only the libraries this machine lacks
if [ "$(id -u)" = 0 ] && [ "$USERLIBS" = 0 ]; then SYSTEM=1; else SYSTEM=0; fi
[ -n "$LIBDIR" ] || { [ "$SYSTEM" = 1 ] && LIBDIR=/opt/course-fluidsynth/lib || LIBDIR="$HOME/.local/lib/course-fluidsynth"; }
mkdir -p "$LIBDIR"; LIBDIR="$(cd "$LIBDIR" && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
tar -xJf "$here/@LIB_TAR@" -C "$tmp"
known="$(ldconfig -p 2>/dev/null || true)"
added=0
for f in "$tmp"/*; do
  so="$(basename "$f")"
  if grep -qF "$(printf '\t')$so " <<< "$known"; then continue; fi
  mv "$f" "$LIBDIR/$so"; added=$((added + 1))
done
[ -e "$LIBDIR/libfluidsynth.so.3" ] && ln -sf libfluidsynth.so.3 "$LIBDIR/libfluidsynth.so"
echo "FluidSynth: $added of $(tar -tJf "$here/@LIB_TAR@" | wc -l) libraries were missing here, copied to $LIBDIR"
if [ "$added" -gt 0 ]; then
  if [ "$SYSTEM" = 1 ]; then
    echo "$LIBDIR" > /etc/ld.so.conf.d/course-fluidsynth.conf && ldconfig
    echo "Registered $LIBDIR in /etc/ld.so.conf.d/course-fluidsynth.conf"
  else
    export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "Not registered system-wide: add this line to ~/.bashrc (or the job script):  export LD_LIBRARY_PATH=\"$LIBDIR:\$LD_LIBRARY_PATH\""
  fi
fi
[ -n "$TARGET" ] && echo "With --target: export PYTHONPATH=\"$TARGET:$REPO:\$PYTHONPATH\" before running the course."
if [ "$CHECK" = 1 ]; then
  "$PY" - <<'EOF'
import numpy as np
import course_lib
from course_lib.synth import Synth
with Synth() as synth:
    a = synth.note(program=0, pitch=60, velocity=100, hold_s=0.5, release_s=0.2)
rms = float(np.sqrt(np.mean(a ** 2)))
assert a.size == 11200 and rms > 1e-3, f"FluidSynth rendered silence ({a.size} samples, rms {rms})"
print(f"Check: course_lib imports from {course_lib.__file__}; FluidSynth rendered a piano C4 (rms {rms:.3f}). Ready.")
EOF
fi
'''


def install_script(python_version: str) -> str:
    """The install.sh of a bundle for Python `python_version`."""
    return INSTALL_SH.replace("@PYTHON_VERSION@", python_version).replace("@LIB_TAR@", LIB_TAR)


def build(out: str | Path, python_version: str = "3.12", with_torch: bool = False, have: set[str] = frozenset(),
          extras: tuple[str, ...] = (), pyproject: str | Path | None = None) -> dict:
    """Write the bundle into `out` (wheels/, fluidsynth-libs.tar.xz, install.sh, bundle.json); its summary."""
    from .context import repo_root

    out = Path(out)
    wheels = out / "wheels"
    if wheels.exists():
        shutil.rmtree(wheels)
    wheels.mkdir(parents=True)
    reqs = requirements(pyproject or repo_root() / "pyproject.toml", with_torch, extras, have)
    with tempfile.TemporaryDirectory() as tmp:
        req_file = Path(tmp) / "requirements.txt"
        req_file.write_text("\n".join(reqs) + "\n")
        subprocess.run(download_command(req_file, wheels, python_version), check=True)
    dropped = drop_wheels(wheels, set(have) | (set() if with_torch else set(TORCH)))
    libs = pack_libraries(fluidsynth_library(), out / LIB_TAR)
    script = out / "install.sh"
    with atomic_path(script) as tmp:
        tmp.write_text(install_script(python_version))
    script.chmod(0o755)
    files = sorted(wheels.glob("*.whl"))
    summary = {"python_version": python_version, "platforms": list(PLATFORMS), "with_torch": with_torch,
               "requirements": reqs, "left_out": sorted(set(dropped)), "wheels": [f.name for f in files],
               "wheels_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1), "libraries": libs,
               "libraries_tar_mb": round((out / LIB_TAR).stat().st_size / 2**20, 1)}
    write_json_atomic(out / "bundle.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line: build the bundle and print what went in."""
    ap = argparse.ArgumentParser(prog="python -m course_lib.bundle", description=__doc__.split("\n\n")[0])
    ap.add_argument("--python-version", default="3.12", help="the target's Python, e.g. 3.11 (default 3.12)")
    ap.add_argument("--with-torch", action="store_true", help="also bundle torch and torchaudio (several GB)")
    ap.add_argument("--have", type=Path, help="file naming packages the target already has (e.g. its pip freeze)")
    ap.add_argument("--extra", action="append", default=[], help="also an optional dependency group, e.g. test")
    ap.add_argument("--out", type=Path, default=None, help="default build/bundle")
    a = ap.parse_args(argv)
    from .context import build_root

    have = read_have(a.have.read_text()) if a.have else set()
    s = build(a.out or build_root() / "bundle", a.python_version, a.with_torch, have, tuple(a.extra))
    print(f"{len(s['wheels'])} wheels ({s['wheels_mb']} MB) for Python {s['python_version']}; "
          f"FluidSynth with {len(s['libraries']) - 1} libraries ({s['libraries_tar_mb']} MB tar.xz); "
          f"left out: {', '.join(s['left_out']) or 'nothing'}. Copy the folder over and run its install.sh.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
