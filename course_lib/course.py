"""Run the whole course: execute every notebook, gather findings into the report.

    python -m course_lib.course run [--profile cpu] [--only 00 01]
    python -m course_lib.course report [--profile cpu]
    python -m course_lib.course reference --profile cpu
    python -m course_lib.course colab [--check]      stamp (or check) the Colab badge and setup cell of every notebook
    python -m course_lib.course book [--profile cpu] the executed notebooks as a browsable HTML book in build/book
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .context import build_root, repo_root
from .sizes import profile_name
from .results import claims_table, load_findings, results_dir, update_readme, write_report

WORDS_PER_MINUTE = 200  # reading speed for the time estimates (prose only; code is read on top of it)
REFERENCE_PROFILES = ("cpu", "gpu")  # profiles whose runs are committed as notebooks/results/<profile>/NN.json
# The course map: per chapter, its short title, the chapters it needs and what it takes from them.
COURSE_MAP: dict[int, tuple[str, tuple[int, ...], str]] = {
    0: ("Start here", (), "Python and a little PyTorch"),
    1: ("Audio and MIDI", (0,), "profiles, findings and how to read a verdict (00)"),
    2: ("FC vs conv autoencoders", (1,), "sampling, down-sampling and the interleaved RFFT feature (01)"),
    3: ("Spectrogram autoencoders", (1, 2), "the STFT, magnitude and phase, `center`, Griffin-Lim (01); "
                                            "autoencoders, trivial baselines and the 3-seed rule (02)"),
    4: ("Variational autoencoders", (3,), "paper 002's spectrogram autoencoder and the audio metrics (03)"),
    5: ("KL annealing", (1, 4), "melody tokens (01); the ELBO, the KL weight and active units (04)"),
    6: ("LSTM-VAE for melodies", (1, 5), "melody tokens and piano rolls (01); the sequence VAE, free bits and "
                                         "collapse diagnostics (05)"),
    7: ("Transformer VAE with CC automation", (5, 6), "annealing schedules, cyclical included (05); "
                                                     "teacher-forced accuracy and the z-swap test (06)"),
    8: ("Diffusion basics", (1, 4), "log-mel spectrograms and Griffin-Lim (01); Gaussians and reparameterisation (04)"),
    9: ("Hierarchical diffusion", (4, 8), "latent codes and probes (04); EDM's loss, sampler and U-Net (08)"),
}


def course_map() -> str:
    """The course map as a Markdown table: each chapter, the chapters it needs and what it takes from them."""
    rows = ["| chapter | needs | what it takes from them |", "|---|---|---|"]
    for ch, (title, needs, ideas) in sorted(COURSE_MAP.items()):
        rows.append(f"| {ch:02d} {title} | {', '.join(f'{n:02d}' for n in needs) or '—'} | {ideas} |")
    return "\n".join(rows)


def notebook_words(path: str | os.PathLike) -> int:
    """Words of prose in a notebook: whitespace-separated tokens of its markdown cells."""
    nb = json.loads(Path(path).read_text())
    return sum(len("".join(c["source"]).split()) for c in nb["cells"] if c["cell_type"] == "markdown")


def chapter_time(chapter: int, root: str | os.PathLike | None = None) -> dict[str, object]:
    """Reading time (prose words at WORDS_PER_MINUTE) and compute time per reference profile of one chapter.

    compute[profile] is {"wall_s", "device"} from notebooks/results/<profile>/NN.json, or None when that profile
    has no committed run. root: the repository (default: this one).
    """
    root = Path(root) if root else repo_root()
    found = sorted((root / "notebooks").glob(f"{int(chapter):02d}_*.ipynb"))
    if len(found) != 1:
        raise ValueError(f"chapter {chapter}: expected one notebook {int(chapter):02d}_*.ipynb in {root / 'notebooks'}, "
                         f"found {len(found)}")
    words = notebook_words(found[0])
    compute: dict[str, dict[str, object] | None] = {}
    for profile in REFERENCE_PROFILES:
        path = root / "notebooks" / "results" / profile / f"{int(chapter):02d}.json"
        ref = json.loads(path.read_text()) if path.exists() else None
        compute[profile] = ({"wall_s": float(ref["wall_s"]), "device": ref.get("device", "?")}
                            if ref and ref.get("wall_s") is not None else None)
    return {"chapter": f"{int(chapter):02d}", "notebook": found[0].stem, "words": words,
            "reading_min": math.ceil(words / WORDS_PER_MINUTE), "compute": compute}


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def time_note(chapter: int, root: str | os.PathLike | None = None) -> str:
    """One Markdown paragraph: the chapter's reading time and its compute time in each reference run.

    Notebook: 01_audio_and_midi
    """
    t = chapter_time(chapter, root)
    runs = [f"`{p}` {_duration(c['wall_s'])} on {c['device']}" if c else f"`{p}` not yet measured"
            for p, c in t["compute"].items()]
    return (f"**Time.** Reading: about {t['reading_min']} min ({t['words']:,} words of prose at {WORDS_PER_MINUTE} a "
            f"minute, code not counted). Compute, from setup to the findings in the committed reference runs: "
            f"{'; '.join(runs)}. The `smoke` profile (CI) stays under a minute.")


def course_times(root: str | os.PathLike | None = None) -> str:
    """The whole course's time table in Markdown: reading and compute per reference profile, chapter by chapter.

    Notebook: 00_start_here
    """
    times = [chapter_time(ch, root) for ch in sorted(COURSE_MAP)]
    head = "| chapter | reading | " + " | ".join(f"compute, `{p}`" for p in REFERENCE_PROFILES) + " |"
    rows = [head, "|---" * (2 + len(REFERENCE_PROFILES)) + "|"]
    for t in times:
        cells = [_duration(c["wall_s"]) if c else "not yet measured" for c in t["compute"].values()]
        rows.append(f"| {t['notebook']} | {t['reading_min']} min | " + " | ".join(cells) + " |")
    totals = []
    for p in REFERENCE_PROFILES:
        got = [t["compute"][p]["wall_s"] for t in times if t["compute"][p]]
        totals.append(_duration(sum(got)) + ("" if len(got) == len(times) else f" ({len(got)} of {len(times)} chapters)")
                      if got else "not yet measured")
    rows.append(f"| **all** | {sum(t['reading_min'] for t in times)} min | " + " | ".join(totals) + " |")
    return "\n".join(rows)


def check_environment(profile: str | None = None) -> list[dict[str, object]]:
    """Check Python, torch/torchaudio, device, FluidSynth, soundfont and data; each row has a fix.

    Notebook: 00_start_here
    """
    import platform

    import torch

    from . import data, synth
    from .context import describe_device, pick_device

    profile = profile_name(profile)
    rows: list[dict[str, object]] = []

    def row(check: str, ok: bool, detail: str, fix: str = "") -> None:
        rows.append({"check": check, "ok": bool(ok), "detail": detail, "fix": "" if ok else fix})

    py = platform.python_version()
    row("Python", py.startswith(("3.11.", "3.12.")), py, "use Python 3.11 or 3.12: make test PYTHON=python3.11")
    try:
        import torchaudio

        ta = torchaudio.__version__
        same = ta.split("+")[0].rsplit(".", 1)[0] == torch.__version__.split("+")[0].rsplit(".", 1)[0]
    except Exception as e:  # torchaudio's extension fails to load when the pair does not match
        ta, same = f"not importable ({e})", False
    row("torch + torchaudio", same, f"torch {torch.__version__}, torchaudio {ta}",
        "install them as a pair: pip install torch==2.11.0 torchaudio==2.11.0")
    dev = pick_device()
    want_gpu = profile == "gpu"
    row("device", dev.type == "cuda" or not want_gpu, describe_device(dev),
        "the gpu profile needs CUDA: check `nvidia-smi` and the driver (README, Troubleshooting), or use COURSE_PROFILE=cpu")
    fs_ok = synth.fluidsynth_available()
    row("FluidSynth", fs_ok, "renders MIDI" if fs_ok else "missing", synth.FLUIDSYNTH_FIX.splitlines()[1].strip())
    sf2 = synth.soundfont_path()
    row("soundfont", sf2.exists(), str(sf2), "reinstall pretty_midi (it ships TimGM6mb.sf2) or set COURSE_SOUNDFONT")
    for kind in data.KINDS:
        path = data.dataset_path(kind, profile)
        ok = data.is_built(kind, profile) or (bool(os.environ.get(data.dataset_kind(kind).env)) and path.exists())
        row(f"data: {kind}", ok, str(path), f"make data PROFILE={profile}  (or: python -m course_lib.data build --profile {profile})")
    try:
        import ipywidgets

        row("ipywidgets", True, ipywidgets.__version__)
    except ImportError:
        row("ipywidgets", False, "missing", "pip install ipywidgets (the explorers fall back to static plots)")
    return rows


def environment_table(rows: list[dict[str, object]]) -> str:
    """The environment check as a Markdown table. Notebook: 00_start_here."""
    out = ["| check | status | detail | fix |", "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['check']} | {'ok' if r['ok'] else 'MISSING'} | {r['detail']} | {r['fix']} |")
    return "\n".join(out)


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """The course notebooks in order (optionally only those whose number is in `only`)."""
    paths = sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {f"{int(o):02d}" for o in only}
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def _kernel_manager():
    """A kernel manager on local IPC sockets where the OS has them: no TCP port, so the kernel does not warn about
    plain-text TCP in every run (and nothing listens on the network); TCP elsewhere (Windows)."""
    import tempfile

    from jupyter_client.manager import KernelManager

    if os.name != "posix":
        return KernelManager(kernel_name="python3")
    sock_dir = Path(tempfile.mkdtemp(prefix="course-kernel-"))
    return KernelManager(kernel_name="python3", transport="ipc", ip=str(sock_dir / "kernel"))


def run_notebook(path: Path, profile: str, out_dir: Path, timeout: int = 1800) -> tuple[bool, float, str]:
    """Execute one notebook in `profile`; save the executed copy in out_dir; (ok, seconds, error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    os.environ["COURSE_PROFILE"] = profile  # the kernel inherits the environment
    km = _kernel_manager()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", km=km,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    ok, err = True, ""
    try:
        client.execute()
    except CellExecutionError as e:
        ok, err = False, str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
    except Exception as e:  # kernel died, timeout...
        ok, err = False, f"{type(e).__name__}: {e}"
    finally:  # nbclient leaves a kernel it did not start running: stop it now, not at our exit (a warning each)
        if km.has_kernel:
            km.shutdown_kernel(now=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    return ok, time.perf_counter() - t0, err


def run(profile: str | None = None, only: list[str] | None = None) -> int:
    """Execute the notebooks, write build/report.md|html, print the findings table; exit code.
    """
    profile = profile_name(profile)
    out_dir = build_root() / "notebooks"
    paths = notebook_paths(only)
    print(f"Running {len(paths)} notebooks in the '{profile}' profile; executed copies go to {out_dir}")
    failures = []
    for p in paths:
        print(f"  {p.name} ...", end="", flush=True)
        ok, secs, err = run_notebook(p, profile, out_dir)
        print(f" {'ok' if ok else 'FAILED'} ({secs:.0f} s)" + (f": {err}" if err else ""))
        if not ok:
            failures.append(p.name)
    report(profile, readme=False)
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(failures)}. Open the executed copies in {out_dir}.")
        return 1
    return 0


def report(profile: str | None = None, readme: bool = True) -> Path:
    """Rebuild build/report.md and .html from build/results; refresh the README table; print it.

    Notebook: 00_start_here
    """
    profile = profile_name(profile)
    out = write_report(profile)
    found = load_findings(results_dir(profile))
    for f in found:
        print(f"\nChapter {f['chapter']} ({f['profile']}, {f.get('device')}, {f.get('wall_s', 0):.0f} s)")
        print(claims_table(f["claims"]))
    print(f"\nReport: {out} and {out.with_suffix('.html')}")
    if readme:
        changed = update_readme()
        print("README results table " + ("updated from notebooks/results/." if changed else "already up to date."))
    return out


def reference(profile: str | None = None) -> list[Path]:
    """Copy build/results/<profile>/*.json into notebooks/results/<profile>/ (the committed reference).
    """
    profile = profile_name(profile)
    if profile == "smoke":
        raise SystemExit("smoke runs only check that things run; reference results are cpu or gpu runs")
    dest = repo_root() / "notebooks" / "results" / profile
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for f in sorted(results_dir(profile).glob("[0-9][0-9].json")):
        shutil.copy2(f, dest / f.name)
        copied.append(dest / f.name)
    print(f"Copied {len(copied)} findings files to {dest}")
    update_readme()
    return copied


COLAB_BADGE_ID, COLAB_SETUP_ID = "colab-badge", "colab-setup"


def repository() -> tuple[str, str]:
    """(URL, branch) of the course repository, configured once in pyproject.toml's [tool.course]."""
    import tomllib

    conf = tomllib.loads((repo_root() / "pyproject.toml").read_text())["tool"]["course"]
    url = conf["repository"].rstrip("/").removesuffix(".git")
    if not url.startswith("https://github.com/") or url.count("/") != 4:
        raise ValueError(f"[tool.course] repository must look like https://github.com/ORG/REPO, got {url!r}")
    return url, conf.get("branch", "main")


def colab_url(notebook: str) -> str:
    """The Colab address that opens notebooks/<notebook> straight from the configured GitHub repository."""
    url, branch = repository()
    return f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{branch}/notebooks/{notebook}"


def colab_cells(notebook: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two cells stamped at the top of a notebook: an "Open in Colab" badge and Colab's setup cell."""
    url, branch = repository()
    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)})"
             "  \n*Run it in Colab: the first code cell installs the course there (elsewhere it does nothing).*")
    setup = f"""# Colab only: install the course when course_lib is missing (clone, pip, FluidSynth). Does nothing elsewhere.
import importlib.util, os, subprocess, sys

if "google.colab" in sys.modules and importlib.util.find_spec("course_lib") is None:
    subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "{url}", "/content/course"], check=True)
    subprocess.run("apt-get update -qq && apt-get install -y -qq libfluidsynth3", shell=True, check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/course"], check=True)
    sys.path.insert(0, "/content/course")
    os.chdir("/content/course/notebooks")
    print("course installed; build its data with: !cd /content/course && python -m course_lib.data build")"""
    lines = lambda text: text.splitlines(keepends=True)  # noqa: E731  (notebooks store sources as lines)
    return ({"cell_type": "markdown", "id": COLAB_BADGE_ID, "metadata": {"tags": [COLAB_BADGE_ID]},
             "source": lines(badge)},
            {"cell_type": "code", "execution_count": None, "id": COLAB_SETUP_ID,
             "metadata": {"tags": [COLAB_SETUP_ID]}, "outputs": [], "source": lines(setup)})


def stamp_colab(paths: list[Path] | None = None, check: bool = False) -> list[Path]:
    """Put (or refresh) the Colab badge and setup cell at the top of each notebook; the paths changed (or stale).

    Idempotent: cells are found by their ids and replaced; nothing else in the notebook changes.
    With check=True nothing is written: the result names the notebooks that need stamping.
    """
    import json

    changed = []
    for path in paths or notebook_paths():
        text = path.read_text()
        nb = json.loads(text)
        cells = [c for c in nb["cells"] if c.get("id") not in (COLAB_BADGE_ID, COLAB_SETUP_ID)]
        nb["cells"] = [*colab_cells(path.name), *cells]
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: run | report | reference."""
    ap = argparse.ArgumentParser(prog="python -m course_lib.course", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "report", "reference", "colab", "book"])
    ap.add_argument("--check", action="store_true", help="colab: only list the notebooks that need stamping")
    ap.add_argument("--profile", choices=["smoke", "cpu", "gpu"], default=None)
    ap.add_argument("--only", nargs="*", help="chapter numbers, e.g. --only 00 01")
    a = ap.parse_args(argv)
    if a.command == "run":
        return run(a.profile, a.only)
    if a.command == "colab":
        paths = stamp_colab(notebook_paths(a.only), check=a.check)
        print(("Need stamping: " if a.check else "Stamped: ") + (", ".join(p.name for p in paths) or "none"))
        return 1 if a.check and paths else 0
    if a.command == "book":
        from .book import build_book

        print(f"Book: {build_book(a.profile)}")
        return 0
    if a.command == "report":
        report(a.profile)
        return 0
    reference(a.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
