"""The notes dataset: single notes in the exact NSynth layout, rendered from a General MIDI soundfont,
and the loader that reads it and the real NSynth alike.

Layout (NSynth's, unchanged)::

    <root>/nsynth-train/examples.json        note_str -> {note, note_str, instrument, pitch, velocity, ...}
    <root>/nsynth-train/audio/<note_str>.wav  16 kHz mono, 4 s = 64000 samples, 16-bit PCM
    <root>/nsynth-valid/...   <root>/nsynth-test/...

Each General MIDI program of the soundfont is one "instrument"; programs map to the 11 NSynth
families (GM_FAMILY). Splits are by instrument, so the test instruments are never seen in training.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import context, io
from ..synth import Synth, require_fluidsynth
from . import common
from .base import SPLITS
from .common import BuildReport, DataError

FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")
SOURCES = ("acoustic", "electronic", "synthetic")
SPLIT_FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
SAMPLE_RATE = 16000
DURATION_S = 4.0
N_SAMPLES = 64000
HOLD_S, RELEASE_S = 3.0, 1.0
SILENT_RMS = 3e-5  # about one 16-bit step; a soundfont hole renders ~1e-5, the quietest real note ~6e-5
N_QUALITIES = 10
CACHE_VERSION = 1
DATA_FIX = ("set COURSE_NOTES to an NSynth folder (nsynth-train/examples.json + audio/) or pass its path; "
            "for the course's own notes, run `make data`")


def _programs(family: str, source: str, programs: Iterable[int]) -> dict[int, tuple[str, str]]:
    return {p: (family, source) for p in programs}


# General MIDI program -> (NSynth family, NSynth source). Left out on purpose: 15 dulcimer (a hammered
# string, neither mallet nor keyboard), 46 harp, 47 timpani, 55 orchestra hit, 88-127 pads, effects,
# ethnic and percussive programs (no NSynth family fits them).
GM_FAMILY: dict[int, tuple[str, str]] = {
    **_programs("keyboard", "acoustic", [0, 1, 3, 6]),
    **_programs("keyboard", "electronic", [2, 4, 5, 7]),        # electric grand, e-pianos, clavinet
    **_programs("mallet", "acoustic", range(8, 15)),           # celesta .. tubular bells
    **_programs("organ", "electronic", [16, 17, 18]),           # drawbar, percussive, rock organ
    **_programs("organ", "acoustic", range(19, 24)),           # church, reed organ, accordions, harmonica
    **_programs("guitar", "acoustic", [24, 25]),
    **_programs("guitar", "electronic", range(26, 32)),
    **_programs("bass", "acoustic", [32]),
    **_programs("bass", "electronic", range(33, 38)),          # finger, pick, fretless, slap 1 and 2
    **_programs("bass", "synthetic", [38, 39]),
    **_programs("string", "acoustic", [*range(40, 46), 48, 49]),
    **_programs("string", "synthetic", [50, 51]),
    **_programs("vocal", "acoustic", [52, 53]),
    **_programs("vocal", "synthetic", [54]),
    **_programs("brass", "acoustic", range(56, 62)),
    **_programs("brass", "synthetic", [62, 63]),
    **_programs("reed", "acoustic", range(64, 72)),
    **_programs("flute", "acoustic", range(72, 80)),
    **_programs("synth_lead", "synthetic", range(80, 88)),
}

# MIDI pitch range (inclusive) per family. Measured in TimGM6mb at velocity 25 (the quietest
# rendered): every (program, pitch) in range has a 4-s RMS above 1e-4, except the overrides below.
PITCH_RANGE: dict[str, tuple[int, int]] = {
    "bass": (28, 67), "brass": (36, 84), "flute": (60, 96), "guitar": (40, 88), "keyboard": (21, 108),
    "mallet": (48, 96), "organ": (36, 96), "reed": (40, 84), "string": (28, 96), "synth_lead": (36, 96),
    "vocal": (40, 84),
}
# Programs whose samples stop short of the family range in TimGM6mb (silent beyond).
PROGRAM_PITCH_RANGE: dict[int, tuple[int, int]] = {67: (40, 79), 78: (60, 78)}  # baritone sax, whistle
# Single silent (program, pitch) holes in TimGM6mb: alto sax has no sample at E4.
SILENT_NOTES: frozenset[tuple[int, int]] = frozenset({(65, 64)})


# ------------------------------------------------------------------------------------------------
# Names


def instrument_str(program: int) -> str:
    """NSynth-style instrument name of a GM program: '<family>_<source>_<program:03d>'."""
    family, source = GM_FAMILY[program]
    return f"{family}_{source}_{program:03d}"


def note_str(instrument: str, pitch: int, velocity: int) -> str:
    """NSynth note name: '<instrument_str>-<pitch:03d>-<velocity:03d>'."""
    return f"{instrument}-{pitch:03d}-{velocity:03d}"


def family_index(family: str | int) -> int:
    """Index of an NSynth family given by name or index; ValueError names the valid ones."""
    if isinstance(family, (int, np.integer)) and 0 <= int(family) < len(FAMILIES):
        return int(family)
    if isinstance(family, str) and family in FAMILIES:
        return FAMILIES.index(family)
    raise ValueError(f"unknown instrument family {family!r}; use one of {', '.join(FAMILIES)} or 0..10")


def program_pitches(program: int) -> list[int]:
    """The MIDI pitches rendered for a GM program (its family range, minus known silent notes)."""
    lo, hi = PROGRAM_PITCH_RANGE.get(program, PITCH_RANGE[GM_FAMILY[program][0]])
    return [p for p in range(lo, hi + 1) if (program, p) not in SILENT_NOTES]


# ------------------------------------------------------------------------------------------------
# Building


def split_instruments(seed: int = 0) -> dict[str, dict[str, list[int]]]:
    """Split -> family -> GM programs, disjoint: per family ~10 % of instruments to valid, ~10 % to test."""
    # At least one instrument per split for a family of 3+ (all 11 families here); a family of 2 would
    # get train + test (unseen test instruments matter more than validation), a family of 1 train only.
    rng = np.random.default_rng([seed, 0])
    out: dict[str, dict[str, list[int]]] = {s: {} for s in SPLITS}
    for family in FAMILIES:
        progs = sorted(p for p, (f, _) in GM_FAMILY.items() if f == family)
        progs = [progs[i] for i in rng.permutation(len(progs))]
        n = len(progs)
        n_test = max(1, round(0.1 * n)) if n >= 2 else 0
        n_valid = max(1, round(0.1 * n)) if n >= 3 else 0
        out["test"][family] = sorted(progs[:n_test])
        out["valid"][family] = sorted(progs[n_test:n_test + n_valid])
        out["train"][family] = sorted(progs[n_test + n_valid:])
    return out


def split_counts(n_notes: int) -> dict[str, int]:
    """Notes per split for a total of n_notes: about 80 / 10 / 10."""
    n_valid = round(SPLIT_FRACTIONS["valid"] * n_notes)
    n_test = round(SPLIT_FRACTIONS["test"] * n_notes)
    return {"train": n_notes - n_valid - n_test, "valid": n_valid, "test": n_test}


def _allocate(n: int, capacities: Sequence[int], rng: np.random.Generator) -> list[int]:
    """Spread n over bins as evenly as their capacities allow (round robin in a seeded order)."""
    quota = [0] * len(capacities)
    order = rng.permutation(len(capacities))
    while n > 0 and any(q < c for q, c in zip(quota, capacities)):
        for i in order:
            if n > 0 and quota[i] < capacities[i]:
                quota[i] += 1
                n -= 1
    return quota


def _pool(programs: Sequence[int], velocities: Sequence[int]) -> list[tuple[int, int, int]]:
    """Every (program, pitch, velocity) triple the given instruments can play."""
    return [(p, pitch, v) for p in programs for pitch in program_pitches(p) for v in velocities]


def _entry(program: int, pitch: int, velocity: int, sample_rate: int) -> dict:
    """One examples.json entry with NSynth's field set ('note' id is filled in later)."""
    family, source = GM_FAMILY[program]
    inst = instrument_str(program)
    return {"note": -1, "note_str": note_str(inst, pitch, velocity), "instrument": program,
            "instrument_str": inst, "pitch": pitch, "velocity": velocity, "sample_rate": sample_rate,
            "instrument_family": FAMILIES.index(family), "instrument_family_str": family,
            "instrument_source": SOURCES.index(source), "instrument_source_str": source,
            "qualities": [0] * N_QUALITIES, "qualities_str": []}


def _readme(n_kept: dict[str, int], seed: int, soundfont: Path) -> str:
    return (
        "Notes dataset of the course 'Generative models for music' (built by course_lib.data.notes.build_notes).\n"
        f"Single notes rendered from the General MIDI soundfont {soundfont.name} through FluidSynth,\n"
        "stored in the exact NSynth layout: nsynth-<split>/examples.json + nsynth-<split>/audio/<note_str>.wav,\n"
        "16 kHz mono, 4 s (key held 3 s, then released for 1 s), 16-bit PCM, loudness kept (no normalisation).\n"
        "Each GM program is one instrument, mapped to an NSynth family; the splits share no instrument.\n"
        f"Notes: {', '.join(f'{s} {n}' for s, n in n_kept.items())}; seed {seed}. See build_report.json.\n"
        "Generated data: delete the folder and run `make data` to rebuild it.\n")


def build_notes(out_dir: str | os.PathLike, n_notes: int, seed: int = 0,
                velocities: Sequence[int] = (25, 50, 75, 100, 127), sample_rate: int = SAMPLE_RATE,
                progress: bool = True) -> BuildReport:
    """Render n_notes single notes into out_dir (NSynth layout), atomically; return the report."""
    require_fluidsynth()  # before anything is written: FluidSynthMissing carries the install command
    velocities = sorted({int(v) for v in velocities})
    if n_notes < 1 or not velocities or not all(1 <= v <= 127 for v in velocities):
        raise ValueError(f"need n_notes >= 1 and velocities in 1..127, got {n_notes}, {velocities}")
    out_dir, t0 = Path(out_dir), time.perf_counter()
    report, rng = BuildReport("notes build"), np.random.default_rng([seed, 1])
    assignment, counts = split_instruments(seed), split_counts(n_notes)
    n_samples = int(round(DURATION_S * sample_rate))
    kept: dict[str, int] = {}
    with common.atomic_path(out_dir) as tmp, Synth(sample_rate) as synth, \
            tqdm(total=n_notes, desc="rendering notes", disable=not progress) as bar:
        for split in SPLITS:
            examples = _render_split(tmp / f"nsynth-{split}", synth, assignment[split], counts[split],
                                     velocities, rng, n_samples, report, bar)
            kept[split] = len(examples)
        _number_notes(tmp)
        report.kept = sum(kept.values())
        info = {"seed": seed, "n_notes_requested": n_notes, "notes_per_split": kept,
                "velocities": velocities, "sample_rate": sample_rate, "soundfont": str(synth.soundfont),
                "instruments_per_split": {s: {f: [instrument_str(p) for p in ps] for f, ps in fam.items()}
                                          for s, fam in assignment.items()},
                "seconds": round(time.perf_counter() - t0, 2)}
        common.write_json_atomic(tmp / "build_report.json", {**report.to_dict(), **info})
        (tmp / "README.txt").write_text(_readme(kept, seed, synth.soundfont))
    return report


def _render_split(split_dir: Path, synth: Synth, programs: dict[str, list[int]], n: int,
                  velocities: Sequence[int], rng: np.random.Generator, n_samples: int,
                  report: BuildReport, bar: tqdm) -> dict[str, dict]:
    """Render one split: n notes spread evenly over families; silent renders are skipped, reported and replaced."""
    (split_dir / "audio").mkdir(parents=True)
    pools = [_pool(programs[f], velocities) for f in FAMILIES]
    quotas = _allocate(n, [len(p) for p in pools], rng)
    if sum(quotas) < n:
        report.skip(split_dir.name, f"asked for {n} notes, its instruments, pitches and velocities give only "
                                    f"{sum(quotas)} (pool exhausted)")
    examples: dict[str, dict] = {}
    for family, pool, quota in zip(FAMILIES, pools, quotas):
        got = 0
        for i in rng.permutation(len(pool)):
            if got == quota:
                break
            program, pitch, velocity = pool[i]
            entry = _entry(program, pitch, velocity, synth.sample_rate)
            x = synth.note(program, pitch, velocity, HOLD_S, RELEASE_S)[:n_samples]
            x = np.pad(x, (0, n_samples - len(x)))
            rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
            if rms < SILENT_RMS:
                report.skip(f"{split_dir.name}/{entry['note_str']}", f"renders silent (RMS {rms:.1e})")
                continue
            common.write_wav(split_dir / "audio" / f"{entry['note_str']}.wav", x, synth.sample_rate)
            examples[entry["note_str"]] = entry
            got += 1
            bar.update(1)
        if got < quota:
            report.skip(f"{split_dir.name}/{family}",
                        f"only {got} of {quota} notes could be rendered (pool exhausted)")
    (split_dir / "examples.json").write_text(json.dumps(dict(sorted(examples.items())), indent=1))
    return examples


def _number_notes(root: Path) -> None:
    """Give every note a unique integer id across splits (NSynth's 'note' field), in split then key order."""
    note_id = 0
    for split in SPLITS:
        path = root / f"nsynth-{split}" / "examples.json"
        examples = json.loads(path.read_text())
        for entry in examples.values():
            entry["note"] = note_id
            note_id += 1
        path.write_text(json.dumps(examples, indent=1))


# ------------------------------------------------------------------------------------------------
# Loading


@dataclass
class NoteSet:
    """Notes of one split: audio (N, 64000) float32, int64 labels, ids, examples.json entries, report."""

    audio: torch.Tensor
    pitch: torch.Tensor
    velocity: torch.Tensor
    family: torch.Tensor
    instrument: torch.Tensor
    source: torch.Tensor
    ids: list[str]  # the examples.json key of every note (its note_str), in order
    meta: list[dict]
    report: BuildReport
    sample_rate: int = SAMPLE_RATE
    family_names: tuple[str, ...] = FAMILIES

    _TENSORS = ("audio", "pitch", "velocity", "family", "instrument", "source")

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: str | torch.device) -> "NoteSet":
        """The same notes with every tensor moved to `device`. Notebook: 02_fc_vs_conv_autoencoders."""
        return dataclasses.replace(self, **{k: getattr(self, k).to(device) for k in self._TENSORS})

    def subset(self, idx: Sequence[int] | torch.Tensor | np.ndarray | slice) -> "NoteSet":
        """The notes at `idx` (indices, boolean mask or slice), in that order."""
        if isinstance(idx, slice):
            idx = range(len(self))[idx]
        idx = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        idx = idx.long().flatten().cpu()
        rows = idx.tolist()
        tensors = {k: getattr(self, k)[idx.to(getattr(self, k).device)] for k in self._TENSORS}
        return dataclasses.replace(self, ids=[self.ids[i] for i in rows], meta=[self.meta[i] for i in rows],
                                   **tensors)

    def sample(self, n: int | None, seed: int = 0) -> "NoteSet":
        """A seeded random subset of n notes in their original order (all of them when n is None or >= len).

        Use it instead of the first n notes: files are stored in instrument order, so a prefix misses families.

        Notebook: 03_spectrogram_autoencoders
        """
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return self.subset(idx.sort().values)

    def family_str(self, i: int) -> str:
        """The family name of note i, e.g. 'organ'. Notebook: 00_start_here."""
        return self.family_names[int(self.family[i])]


def split_dir(root: str | os.PathLike, split: str = "train") -> Path:
    """The folder with examples.json: root itself, else root/nsynth-<split>; else DataError with the fix.

    Notebook: 00_start_here
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder. To get the notes dataset, {DATA_FIX}.")
    for d in (root, root / f"nsynth-{split}"):
        if (d / "examples.json").is_file():
            return d
    raise DataError(f"{root}: holds no examples.json (looked for {root / 'examples.json'} and "
                    f"{root / f'nsynth-{split}' / 'examples.json'}). To get the notes dataset, {DATA_FIX}.")


def read_examples(path: str | os.PathLike) -> dict[str, dict]:
    """Parse an NSynth examples.json (note_str -> entry); DataError naming the file if it is not that."""
    path = Path(path)
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}). Rebuild it (`make data`) or re-download the dataset.") from e
    if not isinstance(examples, dict):
        raise DataError(f"{path}: expected a JSON object note_str -> entry, got {type(examples).__name__}. "
                        "Rebuild it (`make data`) or re-download the dataset.")
    return examples


def _as_int(x: object) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return None


def _labels(entry: object) -> tuple[int, int, int, int, int] | str:
    """(pitch, velocity, family, instrument, source) of an entry, or the reason it cannot be used."""
    if not isinstance(entry, dict):
        return "entry is not a JSON object"
    pitch, velocity = _as_int(entry.get("pitch")), _as_int(entry.get("velocity"))
    if pitch is None or not 0 <= pitch <= 127:
        return f"pitch {entry.get('pitch')!r} is not a MIDI pitch 0..127"
    if velocity is None or not 0 <= velocity <= 127:
        return f"velocity {entry.get('velocity')!r} is not a MIDI velocity 0..127"
    family = _index(entry.get("instrument_family"), entry.get("instrument_family_str"), FAMILIES)
    if family is None:
        return (f"unknown instrument family {entry.get('instrument_family')!r} / "
                f"{entry.get('instrument_family_str')!r}")
    source = _index(entry.get("instrument_source"), entry.get("instrument_source_str"), SOURCES)
    instrument = _as_int(entry.get("instrument"))
    return pitch, velocity, family, -1 if instrument is None else instrument, -1 if source is None else source


def _index(value: object, name: object, names: tuple[str, ...]) -> int | None:
    i = _as_int(value)
    if i is not None and 0 <= i < len(names):
        return i
    return names.index(name) if name in names else None


def _read_note(path: Path, report: BuildReport) -> np.ndarray:
    """One note as float32 (64000,): resampled, downmixed, padded or cut (reported); DataError if unusable."""
    x, _ = common.read_wav(path, sample_rate=SAMPLE_RATE, mono=True, report=report)
    if len(x) < N_SAMPLES:
        report.fix(path, f"zero-padded {len(x)} -> {N_SAMPLES} samples")
        x = np.pad(x, (0, N_SAMPLES - len(x)))
    elif len(x) > N_SAMPLES:
        report.fix(path, f"cut {len(x)} -> {N_SAMPLES} samples")
        x = x[:N_SAMPLES]
    return x


def _cache_file(folder: Path, families: list[int] | None, pitch_range: tuple[int, int] | None,
                max_notes: int | None, seed: int, problems: list[dict] | None = None) -> Path:
    """Cache path keyed by the resolved split folder, examples.json, every WAV's name/size/mtime/ctime/permissions
    and the filters. Audio entries that cannot be followed (broken symlinks, loops) are appended to `problems`."""
    ex, audio = (folder / "examples.json").stat(), folder / "audio"
    key = {"v": CACHE_VERSION, "path": str(folder.resolve()), "mtime": ex.st_mtime_ns, "size": ex.st_size,
           "ctime": ex.st_ctime_ns, "mode": ex.st_mode,
           "audio": io.files_fingerprint(audio, problems) if audio.is_dir() else None, "families": families,
           "pitch_range": pitch_range, "max_notes": max_notes, "seed": seed if max_notes is not None else None}
    return context.data_root() / "cache" / "notes" / f"{io.digest(json.dumps(key, sort_keys=True))[:16]}.pt"


def _as_int16(audio: torch.Tensor, chunk: int = 256) -> torch.Tensor | None:
    """audio * 32768 as int16 when that is exact (16-bit sources), else None; chunked to bound memory."""
    out = torch.empty(audio.shape, dtype=torch.int16)
    for i in range(0, len(audio), chunk):
        s = audio[i:i + chunk] * 32768.0
        if not torch.equal(s, s.round()) or s.min() < -32768 or s.max() > 32767:
            return None
        out[i:i + chunk] = s.to(torch.int16)
    return out


def _save_cache(path: Path, ns: NoteSet) -> None:
    """Write the tensors atomically; audio as int16 when it is exactly 16-bit (half the disk and time)."""
    q = _as_int16(ns.audio) if len(ns) else None
    blob = {k: getattr(ns, k) for k in NoteSet._TENSORS}
    # the ids are stored under 'keys', their name when the cache format was fixed (existing caches stay valid)
    blob.update(audio=ns.audio if q is None else q, audio_int16=q is not None, keys=ns.ids, meta=ns.meta,
                report=ns.report.to_dict(), sample_rate=ns.sample_rate)
    try:
        with common.atomic_path(path) as tmp:
            torch.save(blob, tmp)
    except OSError as e:  # a read-only data root only costs speed
        warnings.warn(f"could not write the notes cache {path}: {e}")


def _load_cache(path: Path) -> NoteSet | None:
    try:
        blob = torch.load(path, weights_only=True)
        audio = blob["audio"].float().div_(32768.0) if blob["audio_int16"] else blob["audio"]
        report = BuildReport.from_dict(blob["report"], from_cache=path)
        report.name += " (from cache)"
        return NoteSet(audio=audio, **{k: blob[k] for k in NoteSet._TENSORS[1:]}, ids=blob["keys"],
                       meta=blob["meta"], report=report, sample_rate=blob["sample_rate"])
    except Exception as e:  # a damaged cache is rebuilt, never trusted
        warnings.warn(f"ignoring the unreadable notes cache {path}: {e}")
        return None


def load_notes(root: str | os.PathLike, split: str = "train", families: Iterable[str | int] | None = None,
               pitch_range: tuple[int, int] | None = None, max_notes: int | None = None, seed: int = 0,
               cache: bool = True, progress: bool = True) -> NoteSet:
    """Load one split of an NSynth-layout folder (ours or the real NSynth); bad files skipped, reported."""
    folder = split_dir(root, split)
    fams = None if families is None else sorted({family_index(f) for f in families})
    prange = None if pitch_range is None else (int(pitch_range[0]), int(pitch_range[1]))
    problems: list[dict] = []
    cache_path = _cache_file(folder, fams, prange, max_notes, seed, problems) if cache else None
    if cache_path is not None and cache_path.is_file():
        ns = _load_cache(cache_path)
        if ns is not None:
            return ns
    if not cache and (folder / "audio").is_dir():
        io.files_fingerprint(folder / "audio", problems)
    ns = _load_folder(folder, fams, prange, max_notes, seed, progress, problems)
    if cache_path is not None:
        _save_cache(cache_path, ns)
    return ns


def _load_folder(folder: Path, families: list[int] | None, pitch_range: tuple[int, int] | None,
                 max_notes: int | None, seed: int, progress: bool, problems: Sequence[dict] = ()) -> NoteSet:
    """Read examples.json and the wavs of the chosen entries (a seeded subset when max_notes is set).

    Audio entries listed in `problems` (broken symlinks, loops: see io.files_fingerprint) that examples.json does
    not reference are listed as skipped; referenced ones are skipped when their turn comes, with the same reason.
    """
    report = BuildReport(f"notes {folder.name}")
    examples = read_examples(folder / "examples.json")
    for p in problems:
        if Path(p["file"]).stem not in examples:
            report.skip(folder / "audio" / p["file"], f"{p['reason']}; not in examples.json: ignored")
    candidates: list[tuple[str, tuple]] = []
    for key in sorted(examples):
        labels = _labels(examples[key])
        if isinstance(labels, str):
            report.skip(folder / "audio" / f"{key}.wav", f"examples.json entry {key!r}: {labels}")
        elif (families is None or labels[2] in families) and \
                (pitch_range is None or pitch_range[0] <= labels[0] <= pitch_range[1]):
            candidates.append((key, labels))
    order = range(len(candidates))
    if max_notes is not None and max_notes < len(candidates):
        order = np.random.default_rng(seed).permutation(len(candidates)).tolist()
    want = len(candidates) if max_notes is None else min(max_notes, len(candidates))
    audio = torch.zeros(want, N_SAMPLES, dtype=torch.float32)
    rows: list[int] = []
    with tqdm(total=want, desc=f"loading {folder.name}", disable=not progress) as bar:
        for i in order:
            if len(rows) == want:
                break
            path = folder / "audio" / f"{candidates[i][0]}.wav"
            try:
                audio[len(rows)] = torch.from_numpy(_read_note(path, report))
            except Exception as e:  # never crash on one bad file: skip it and say why
                report.skip(path, str(e) if isinstance(e, DataError) else f"{type(e).__name__}: {e}")
                continue
            if candidates[i][1][3] == -1:
                key = candidates[i][0]
                report.warn(path, f"examples.json entry {key!r} has no integer 'instrument' "
                                  f"({examples[key].get('instrument')!r}): kept with instrument -1 (unknown); add "
                                  "the field to use instrument labels")
            rows.append(i)
            bar.update(1)
    return _noteset(audio, rows, candidates, examples, report)


def _noteset(audio: torch.Tensor, rows: list[int], candidates: list[tuple[str, tuple]], examples: dict,
             report: BuildReport) -> NoteSet:
    """Assemble a NoteSet from the rows read, in key order."""
    order = sorted(range(len(rows)), key=lambda j: rows[j])
    if order != list(range(len(rows))):
        audio = audio[torch.tensor(order, dtype=torch.long)]
    elif len(rows) < audio.shape[0]:
        audio = audio[:len(rows)].clone()  # a view would keep the unused rows' memory alive
    rows = [rows[j] for j in order]
    labels = torch.tensor([candidates[i][1] for i in rows], dtype=torch.int64).reshape(-1, 5)
    keys = [candidates[i][0] for i in rows]
    report.kept = len(keys)
    return NoteSet(audio=audio.contiguous(), pitch=labels[:, 0].clone(), velocity=labels[:, 1].clone(),
                   family=labels[:, 2].clone(), instrument=labels[:, 3].clone(), source=labels[:, 4].clone(),
                   ids=keys, meta=[examples[k] for k in keys], report=report)
