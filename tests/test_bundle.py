"""The offline bundle's pure parts: the requirement list, what is left out, ldd filtering, install.sh and its library
registration (run for real against a stand-in bundle), and FluidSynth found on LD_LIBRARY_PATH.
The full build (pip download, ~50-220 MB) is run by hand: see the README's "Offline machines"."""
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from course_lib import bundle, synth
from course_lib.context import repo_root

PYPROJECT = repo_root() / "pyproject.toml"
PYVER = "%d.%d" % sys.version_info[:2]

LDD = """\tlinux-vdso.so.1 (0x00007ffd5a3f1000)
\tlibgomp.so.1 => /lib/x86_64-linux-gnu/libgomp.so.1 (0x00007fbda7376000)
\tlibglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x00007fbda6f09000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fbda6c00000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fbda6b19000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fbda6af9000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fbda6918000)
\tlibmp3lame.so.0 => /lib/x86_64-linux-gnu/libmp3lame.so.0 (0x00007fbda68a0000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fbda74b0000)
"""


def test_requirements_follow_pyproject_without_torch():
    reqs = bundle.requirements(PYPROJECT)
    names = [bundle.requirement_name(r) for r in reqs]
    assert "torch" not in names and "torchaudio" not in names
    assert "music21>=9.1,<11" in reqs and "pyfluidsynth>=1.3.3,<2" in reqs and "pytest" not in names
    with_torch = bundle.requirements(PYPROJECT, with_torch=True)
    assert {"torch==2.11.0", "torchaudio==2.11.0"} <= set(with_torch) and len(with_torch) == len(reqs) + 2
    assert "pytest" in [bundle.requirement_name(r) for r in bundle.requirements(PYPROJECT, extras=("test",))]
    fewer = bundle.requirements(PYPROJECT, have={"numpy", "scipy"})
    assert len(fewer) == len(reqs) - 2 and not any(r.startswith(("numpy", "scipy")) for r in fewer)
    with pytest.raises(ValueError, match="no extra 'gpu'"):
        bundle.requirements(PYPROJECT, extras=("gpu",))


def test_names_from_requirements_freeze_output_and_wheels():
    assert bundle.requirement_name("pretty_midi>=0.2.10,<0.3") == "pretty-midi"
    assert bundle.requirement_name("torch @ file:///wheels/torch.whl") == "torch"
    assert bundle.requirement_name("Jinja2[i18n]==3.1") == "jinja2"
    freeze = "numpy==2.4.6\n# a comment\nPyYAML==6.0\ntorch @ file:///x.whl\n-e git+https://x/y#egg=z\n\n"
    assert bundle.read_have(freeze) == {"numpy", "pyyaml", "torch"}
    assert bundle.wheel_project("scikit_learn-1.9.1-cp312-cp312-manylinux_2_28_x86_64.whl") == "scikit-learn"
    assert bundle.wheel_project("pretty_midi-0.2.11.post0-py3-none-any.whl") == "pretty-midi"


def test_drop_wheels_removes_transitive_packages_the_target_has(tmp_path):
    for name in ("numpy-2.5.5-cp312-cp312-manylinux_2_28_x86_64.whl", "scipy-1.18.1-cp312-cp312-x.whl",
                 "torch-2.11.0-cp312-cp312-manylinux_2_28_x86_64.whl", "music21-10.5.1-py3-none-any.whl"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(bundle.drop_wheels(tmp_path, {"numpy", "torch", "jinja2"})) == ["numpy", "torch"]
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.whl")) == ["music21", "scipy"]


def test_ldd_filtering_keeps_only_what_a_target_may_lack():
    found = bundle.parse_ldd(LDD)
    assert [s for s, _ in found][:2] == ["libgomp.so.1", "libglib-2.0.so.0"] and len(found) == 7  # vDSO, loader: no file
    kept = [s for s, _ in found if not bundle.is_runtime(s)]
    assert kept == ["libgomp.so.1", "libglib-2.0.so.0", "libmp3lame.so.0"]
    for runtime in ("ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2", "librt.so.1", "linux-vdso.so.1"):
        assert bundle.is_runtime(runtime)
    with pytest.raises(FileNotFoundError, match="libinstpatch-1.0.so.2"):
        bundle.parse_ldd(LDD + "\tlibinstpatch-1.0.so.2 => not found\n")


def test_download_command_asks_for_binary_wheels_of_another_python():
    cmd = bundle.download_command("req.txt", "out", "3.12")
    assert cmd[1:4] == ["-m", "pip", "download"] and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "--platform"] == ["manylinux_2_28_x86_64",
                                                                            "manylinux2014_x86_64"]


def _wheel(folder: Path, name: str) -> Path:
    """A minimal valid pure-Python wheel holding one module `name` with VALUE = 42."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{k},,\n" for k in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return path


def test_install_sh_installs_offline_and_registers_only_missing_libraries(tmp_path):
    b = tmp_path / "bundle"
    (b / "wheels").mkdir(parents=True)
    _wheel(b / "wheels", "bundletestpkg")
    libs = tmp_path / "libs"
    libs.mkdir()
    for so in ("libcoursefake.so.1", "libc.so.6"):
        (libs / so).write_bytes(b"\x7fELF fake")
    with tarfile.open(b / bundle.LIB_TAR, "w:xz") as tar:
        for so in ("libcoursefake.so.1", "libc.so.6"):
            tar.add(libs / so, arcname=so)
    (b / "install.sh").write_text(bundle.install_script(PYVER))
    fake_bin = tmp_path / "bin"  # this 'machine' has libc but not libcoursefake
    fake_bin.mkdir()
    (fake_bin / "ldconfig").write_text("#!/bin/sh\necho '1 libs found in cache'\n"
                                       "printf '\\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\\n'\n")
    (fake_bin / "ldconfig").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "PIP_NO_INDEX": "1", "HOME": str(tmp_path)}
    r = subprocess.run(["bash", str(b / "install.sh"), "--python", sys.executable, "--target", str(tmp_path / "t"),
                        "--user-libs", "--libdir", str(tmp_path / "lib"), "--no-check"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "t" / "bundletestpkg.py").read_text() == "VALUE = 42\n"
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["libcoursefake.so.1"]
    assert "1 of 2 libraries were missing" in r.stdout and "LD_LIBRARY_PATH" in r.stdout


def test_install_sh_refuses_another_python(tmp_path):
    script = tmp_path / "install.sh"
    script.write_text(bundle.install_script("3.99"))
    r = subprocess.run(["bash", str(script), "--python", sys.executable], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and f"wheels for Python 3.99; {sys.executable} is Python {PYVER}" in r.stdout
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_fluidsynth_found_on_ld_library_path(tmp_path, monkeypatch):
    real = bundle.fluidsynth_library() if synth.fluidsynth_available() else None
    if real is None:
        pytest.skip("FluidSynth is not installed here")
    (tmp_path / "libfluidsynth.so.3").symlink_to(real)
    monkeypatch.setenv("LD_LIBRARY_PATH", f"/nonexistent:{tmp_path}")
    assert synth._library_on_path() == str(tmp_path / "libfluidsynth.so.3")
    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)  # a machine where the usual search fails
    module = synth._import_pyfluidsynth()
    assert module.lib == str(tmp_path / "libfluidsynth.so.3") and hasattr(module, "Synth")
    assert ctypes.util.find_library("fluidsynth") is None  # the search is put back as it was
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nonexistent")
    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    with pytest.raises(ImportError, match="Couldn't find"):
        synth._import_pyfluidsynth()
