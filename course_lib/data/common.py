"""Shared pieces of every dataset builder: build reports, checked WAV reading and writing, worker processes."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_path, write_json_atomic


class DataError(ValueError):
    """A file that cannot be used, with the file named and the fix stated."""


@dataclass
class BuildReport:
    """What a build or load did: files kept, files skipped with the reason, fixes applied."""

    name: str
    kept: int = 0
    skipped: list[dict] = field(default_factory=list)
    fixed: list[dict] = field(default_factory=list)

    def skip(self, file: str | os.PathLike, reason: str) -> None:
        """Record a file left out, with the reason."""
        self.skipped.append({"file": str(file), "reason": reason})

    def fix(self, file: str | os.PathLike, what: str) -> None:
        """Record a change made to a file's content on the way in (resampled, downmixed...)."""
        self.fixed.append({"file": str(file), "fix": what})

    def summary(self) -> str:
        """A short text: counts, then the first skipped and fixed files. Notebook: 00_start_here."""
        lines = [f"{self.name}: {self.kept} kept, {len(self.skipped)} skipped, {len(self.fixed)} fixed"]
        for s in self.skipped[:20]:
            lines.append(f"  skipped {s['file']}: {s['reason']}")
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more skipped (see the report file)")
        for f in self.fixed[:10]:
            lines.append(f"  fixed {f['file']}: {f['fix']}")
        if len(self.fixed) > 10:
            lines.append(f"  ... and {len(self.fixed) - 10} more fixed")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain JSON data."""
        return {"name": self.name, "kept": self.kept, "skipped": self.skipped, "fixed": self.fixed}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically. Notebook: 00_start_here."""
        return write_json_atomic(path, self.to_dict())


def wav_truncated(path: Path) -> str | None:
    """Why a RIFF/WAVE file is cut short (its data chunk declares more bytes than the file holds), else None.

    soundfile reads such a file without complaint and returns fewer samples, so loaders check the header first.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                n = int.from_bytes(chunk[4:], "little")
                if chunk[:4] == b"data":
                    held = size - f.tell()
                    if 0 < n < 0xFFFFFFFF and held < n:
                        return (f"truncated: the header declares {n} bytes of audio, the file holds {held}. "
                                "Re-download or delete it.")
                    return None
                f.seek(n + (n & 1), 1)
    except OSError:
        return None


def read_wav(path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True,
             report: BuildReport | None = None) -> tuple[np.ndarray, int]:
    """Read a WAV/FLAC as float32 with soundfile; downmix and resample (reported) or raise DataError.

    Raises DataError naming the file for an unreadable, empty or silent-length file.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found. Check the dataset path (COURSE_DATA or the path you passed).")
    reason = wav_truncated(path)
    if reason:
        raise DataError(f"{path}: {reason}")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError for corrupt files
        raise DataError(f"{path}: not a readable audio file ({e}). Re-download or delete it; the build skips it.") from e
    if x.shape[0] == 0:
        raise DataError(f"{path}: the file holds no samples (empty or truncated). Delete or re-export it.")
    if mono and x.shape[1] > 1:
        channels = x.shape[1]
        x = x.mean(axis=1, keepdims=True)
        if report is not None:
            report.fix(path, f"downmixed {channels} channels to mono")
    x = x[:, 0] if mono else x.T
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: contains NaN or infinite samples. Re-export the file.")
    if sample_rate is not None and sr != sample_rate:
        import librosa

        x = librosa.resample(x, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq").astype(np.float32)
        if report is not None:
            report.fix(path, f"resampled {sr} Hz -> {sample_rate} Hz")
        sr = sample_rate
    return x.astype(np.float32, copy=False), int(sr)


def write_wav(path: str | os.PathLike, x: np.ndarray, sample_rate: int) -> Path:
    """Write a mono float waveform as 16-bit PCM WAV, atomically."""
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(x, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


def _target(name: str):
    """'package.module:function' -> the function, looked up at call time (so tests may monkeypatch it)."""
    import importlib

    module, _, func = name.partition(":")
    return getattr(importlib.import_module(module), func)


def run_shard(spec_path: str) -> None:
    """Worker entry point of map_in_processes: run spec['target'] over spec['tasks'], write the results next to it."""
    spec = Path(spec_path)
    d = json.loads(spec.read_text())
    fn = _target(d["target"])
    write_json_atomic(spec.with_suffix(".out.json"), [fn(t) for t in d["tasks"]])


def map_in_processes(target: str, tasks: list[dict], workers: int, work_dir: str | os.PathLike, progress: bool = True,
                     desc: str = "rendering", unit: str = "item") -> list:
    """[f(t) for t in tasks] with f = target ('package.module:function'), in order.

    With workers > 1 the tasks are split over that many fresh Python processes (tasks and results must be
    JSON-serialisable; a worker's tuples come back as lists). Fresh processes, not fork: FluidSynth loads
    soundfonts with OpenMP (torch's libgomp), and a process forked after that hangs in its first sfload.
    A shard whose worker fails is made in this process instead.
    """
    import subprocess
    import sys

    from tqdm.auto import tqdm

    from ..context import repo_root

    done: dict[int, object] = {}
    if workers > 1 and len(tasks) > 1:
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(repo_root()), os.environ.get("PYTHONPATH", "")])}
        code = "import sys; from course_lib.data.common import run_shard; run_shard(sys.argv[1])"
        procs = []
        for w in range(workers):
            spec = work / f"shard-{w}.json"
            spec.write_text(json.dumps({"target": target, "tasks": tasks[w::workers]}))
            procs.append((w, spec, subprocess.Popen([sys.executable, "-c", code, str(spec)], env=env,
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        for w, spec, proc in tqdm(procs, desc=desc, unit="worker", disable=not progress):
            _, err = proc.communicate()
            out = spec.with_suffix(".out.json")
            if proc.returncode == 0 and out.exists():
                for k, result in zip(range(w, len(tasks), workers), json.loads(out.read_text())):
                    done[k] = result
            elif progress:
                print(f"{desc}: worker {w} failed (exit {proc.returncode}): {err.strip()[-500:]}; doing its share here")
    missing = [k for k in range(len(tasks)) if k not in done]
    fn = _target(target)
    for k in tqdm(missing, desc=desc, unit=unit, disable=not progress or not missing):
        done[k] = fn(tasks[k])
    return [done[k] for k in range(len(tasks))]


def read_pretty_midi(path: Path, fix: str = ""):
    """A MIDI file as a PrettyMIDI; DataError with the reason (and `fix`, the advice appended) when unusable."""
    import warnings

    import pretty_midi

    if path.stat().st_size == 0:
        raise DataError(f"empty file (0 bytes){fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # mido / pretty_midi raise OSError, EOFError, ValueError, KeyError, ...
        why = str(e).strip()[:200] or ("the file ends too early (truncated)" if isinstance(e, EOFError) else "-")
        raise DataError(f"not a readable MIDI file ({type(e).__name__}: {why}){fix}") from None
