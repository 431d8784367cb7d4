"""Shared pieces of every dataset builder: build reports, checked WAV reading and writing, worker processes."""
from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_path, write_json_atomic


class DataError(ValueError):
    """A file that cannot be used, with the file named and the fix stated."""


@dataclass
class BuildReport:
    """What a build or load did: files kept, skipped with the reason, fixed, kept with a warning; facts; cache.

    `info` holds facts about the whole set (groups of copies, files per subfolder, meters present, quantisation
    totals...); `from_cache` names the cache file a result was served from (None when read afresh).
    """

    name: str
    kept: int = 0
    skipped: list[dict] = field(default_factory=list)
    fixed: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    from_cache: str | None = None

    @staticmethod
    def _strip(file: str | os.PathLike, text: str) -> str:
        """`text` without a leading '<file>: ' (DataError messages name the file; the report line does too)."""
        prefix = f"{file}: "
        return text[len(prefix):] if text.startswith(prefix) else text

    def skip(self, file: str | os.PathLike, reason: str) -> None:
        """Record a file left out, with the reason."""
        self.skipped.append({"file": str(file), "reason": self._strip(file, reason)})

    def fix(self, file: str | os.PathLike, what: str) -> None:
        """Record a change made to a file's content on the way in (resampled, downmixed...)."""
        self.fixed.append({"file": str(file), "fix": self._strip(file, what)})

    def warn(self, file: str | os.PathLike, what: str) -> None:
        """Record a file kept as it is although something about it may surprise (polyphonic, quantised...)."""
        self.warnings.append({"file": str(file), "warning": self._strip(file, what)})

    def merge(self, other: "BuildReport", file: str | os.PathLike | None = None) -> None:
        """Add another report's skips, fixes and warnings (under `file` when given)."""
        for s in other.skipped:
            self.skip(file or s["file"], s["reason"])
        for f in other.fixed:
            self.fix(file or f["file"], f["fix"])
        for w in other.warnings:
            self.warn(file or w["file"], w["warning"])

    def summary(self) -> str:
        """A short text: counts, facts, then the first skipped, fixed and warned files. Notebook: 00_start_here."""
        head = f"{self.name}: {self.kept} kept, {len(self.skipped)} skipped, {len(self.fixed)} fixed"
        lines = [head + (f", {len(self.warnings)} with warnings" if self.warnings else "")]
        if self.from_cache:
            lines.append(f"  served from the cache {self.from_cache} (nothing re-read; delete it to read afresh)")
        for k, v in self.info.items():
            lines.append(f"  {k}: {_info_text(v)}")
        for s in self.skipped[:20]:
            lines.append(f"  skipped {s['file']}: {s['reason']}")
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more skipped (see the report file)")
        for f in self.fixed[:10]:
            lines.append(f"  fixed {f['file']}: {f['fix']}")
        if len(self.fixed) > 10:
            lines.append(f"  ... and {len(self.fixed) - 10} more fixed")
        for w in self.warnings[:10]:
            lines.append(f"  warning {w['file']}: {w['warning']}")
        if len(self.warnings) > 10:
            lines.append(f"  ... and {len(self.warnings) - 10} more warnings (see .report.warnings)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain JSON data."""
        return {"name": self.name, "kept": self.kept, "skipped": self.skipped, "fixed": self.fixed,
                "warnings": self.warnings, "info": self.info}

    @classmethod
    def from_dict(cls, d: dict, from_cache: str | os.PathLike | None = None) -> "BuildReport":
        """A report from to_dict()'s output (older reports without warnings / info too)."""
        return cls(d.get("name", ""), d.get("kept", 0), list(d.get("skipped", [])), list(d.get("fixed", [])),
                   list(d.get("warnings", [])), dict(d.get("info", {})),
                   str(from_cache) if from_cache is not None else None)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically. Notebook: 00_start_here."""
        return write_json_atomic(path, self.to_dict())


def _info_text(v: object) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_info_text(x)}" for k, x in v.items()) or "-"
    if isinstance(v, (list, tuple)):
        return "; ".join(_info_text(x) for x in v) or "-"
    return str(v)


# ---------------------------------------------------------------------------------------------- finding files

def find_files(path: str | os.PathLike, suffixes: tuple[str, ...],
               report: BuildReport) -> tuple[Path, list[tuple[Path, str]]]:
    """The files with one of `suffixes` under a folder, or the one file `path` names: (base, [(file, relative)]).

    Nothing is dropped silently: broken symlinks, symlink loops, folders reached twice through symlinks (each
    folder is read once), unreadable files and folders are listed in report.skipped with the reason ("permission
    denied: chmod +r FILE"). Symlinked folders are followed. Relative paths use '/' and the names as found (a
    file inside a symlinked folder keeps the link's name). Raises DataError when `path` does not exist or is
    a file without one of the suffixes.
    """
    root = Path(path).expanduser()
    if root.is_file():
        if root.suffix.lower() not in suffixes:
            raise DataError(f"{root}: not a {'/'.join(suffixes)} file; pass a folder or a file with one of these "
                            "suffixes")
        reason = unreadable(root)
        if reason:
            report.skip(root.name, reason)
            return root.parent, []
        return root.parent, [(root, root.name)]
    if not root.exists():
        why = _link_problem(root) if root.is_symlink() else "no such file or folder"
        raise DataError(f"{root}: {why}")
    out: list[tuple[Path, str]] = []
    seen: dict[tuple[int, int], str] = {}

    def visit(folder: Path, prefix: str, ancestors: tuple[tuple[int, int], ...]) -> None:
        st = folder.stat()
        key = (st.st_dev, st.st_ino)
        if key in seen:
            where = prefix.rstrip("/") or "."
            if key in ancestors:
                target = os.readlink(folder) if folder.is_symlink() else str(folder)
                report.skip(where, f"symlink loop: leads back to {seen[key] or '.'} (-> {target}); not followed again")
            else:
                report.skip(where, f"the same folder as {seen[key] or '.'} (reached through a symlink); read once")
            return
        seen[key] = prefix.rstrip("/")
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            report.skip(prefix.rstrip("/") or ".", f"permission denied: chmod +rx {folder}")
            return
        except OSError as e:
            report.skip(prefix.rstrip("/") or ".", f"cannot list the folder ({e.strerror or e})")
            return
        for e in entries:
            p, rel = Path(e.path), prefix + e.name
            try:
                st = p.stat()
            except OSError as err:
                report.skip(rel, _link_problem(p) if e.is_symlink() else f"cannot read it ({err.strerror or err})")
                continue
            if stat.S_ISDIR(st.st_mode):
                visit(p, rel + "/", ancestors + (key,))
            elif stat.S_ISREG(st.st_mode) and p.suffix.lower() in suffixes:
                reason = unreadable(p)
                if reason:
                    report.skip(rel, reason)
                else:
                    out.append((p, rel))

    visit(root, "", ())
    return root, out



def scan_folder(path: str | os.PathLike, suffixes: tuple[str, ...], what: str,
                fix: str) -> tuple[Path, Path, list[tuple[Path, str]], BuildReport]:
    """The user folder (or file) `path` scanned for `suffixes`: (given, base, [(file, relative)], report).

    The one entry point of the folder loaders (`load_midi_folder`, `load_audio_folder`): a missing path, a file
    of the wrong kind or a folder without one readable file raises DataError naming the path, `what` was looked
    for and `fix` (what to do instead); everything skipped on the way is in report.skipped (see find_files).
    """
    given = Path(path).expanduser()
    report = BuildReport(f"{what} folder {given}")
    if not given.exists() and not given.is_symlink():
        raise DataError(f"{given}: no such file or folder. {fix}")
    try:
        base, found = find_files(given, suffixes, report)
    except DataError as e:
        raise DataError(f"{e}. {fix}") from None
    if not found:
        more = f"\n{report.summary()}" if report.skipped else ""
        raise DataError(f"{given}: holds no {what} files ({', '.join(suffixes)}, searched recursively) that can be "
                        f"read. {fix}{more}")
    return given, base, found, report

def _link_problem(p: Path) -> str:
    """Why a symlink cannot be followed: broken (target missing) or a loop."""
    try:
        target = os.readlink(p)
    except OSError:
        target = "?"
    try:
        p.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"symlink loop (-> {target}): it never reaches a file"
        return f"broken symlink (-> {target}): the target does not exist"
    return f"symlink -> {target}"


def unreadable(path: str | os.PathLike) -> str | None:
    """Why a file cannot be opened for reading ("permission denied: chmod +r FILE"), else None."""
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        return f"permission denied: chmod +r {path}"
    except OSError as e:
        return f"cannot open it ({e.strerror or e})"
    if not os.access(path, os.R_OK):
        return f"permission denied: chmod +r {path}"
    return None


def file_stamp(path: str | os.PathLike) -> tuple[int, int, int, int]:
    """(size, mtime_ns, ctime_ns, mode) of a file: a cache-key part that changes when its content is rewritten or
    its permissions change (chmod changes ctime), even when size and mtime are kept."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, stat.S_IMODE(st.st_mode)


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


CANCEL_RATIO = 1e-3  # a downmix whose RMS is below this share of its channels' RMS: the channels cancel


def read_wav(path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True,
             report: BuildReport | None = None, allow_silent: bool = False) -> tuple[np.ndarray, int]:
    """Read a WAV/FLAC as float32 with soundfile; downmix and resample (reported) or raise DataError.

    Raises DataError naming the file for an unreadable, empty, all-zero (unless allow_silent) or non-finite file.
    Surprises are fixed and reported (report.fixed): a stereo file whose channels cancel (one is the other
    upside down, so their mean is silence) keeps its first channel instead of the silent mean; a float file
    whose samples peak above 1.0 is scaled down to peak 1.0 (clipping would distort it; the scale is reported).

    Notebook: 02_fc_vs_conv_autoencoders
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        why = _link_problem(path) if path.is_symlink() else "file not found"
        raise DataError(f"{path}: {why}. Check the dataset path (its COURSE_<KIND> variable, e.g. COURSE_NOTES "
                        "or COURSE_SONGS, or the path you passed).")
    reason = unreadable(path)
    if reason:
        raise DataError(f"{path}: {reason}")
    reason = wav_truncated(path)
    if reason:
        raise DataError(f"{path}: {reason}")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError for corrupt files
        why = str(e).replace(f"'{path}'", "it").replace(str(path), "it")  # the file is named once, in front
        raise DataError(f"{path}: not a readable audio file ({why}). Re-download or delete it; the build skips "
                        "it.") from e
    if x.shape[0] == 0:
        raise DataError(f"{path}: the file holds no samples (empty or truncated). Delete or re-export it.")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: contains NaN or infinite samples. Re-export the file.")
    if not allow_silent and not np.any(x):
        raise DataError(f"{path}: every sample is 0 (a silent file). Re-export or delete it; loaders skip it.")
    peak = float(np.abs(x).max())
    if peak > 1.0:
        x = x / np.float32(peak)
        if report is not None:
            report.fix(path, f"float samples peak at {peak:.3g} (> 1.0): scaled by 1/{peak:.3g} to peak 1.0 "
                             "(not clipped)")
    if mono and x.shape[1] > 1:
        channels = x.shape[1]
        mix = x.mean(axis=1, keepdims=True)
        loud = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        if loud > 0 and float(np.sqrt(np.mean(np.square(mix, dtype=np.float64)))) < CANCEL_RATIO * loud:
            x = x[:, :1]
            if report is not None:
                report.fix(path, f"the {channels} channels cancel (out of phase: their mean is silence): "
                                 "kept the first channel instead of downmixing")
        else:
            x = mix
            if report is not None:
                report.fix(path, f"downmixed {channels} channels to mono")
    x = x[:, 0] if mono else x.T
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
    reason = unreadable(path)
    if reason:
        raise DataError(reason)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pretty_midi.PrettyMIDI(str(path))
    except PermissionError:
        raise DataError(f"permission denied: chmod +r {path}") from None
    except Exception as e:  # mido / pretty_midi raise OSError, EOFError, ValueError, KeyError, ...
        why = str(e).strip()[:200] or ("the file ends too early (truncated)" if isinstance(e, EOFError) else "-")
        raise DataError(f"not a readable MIDI file ({type(e).__name__}: {why}){fix}") from None
