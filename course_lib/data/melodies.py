"""The melodies dataset: folk tunes and chorales from music21's corpus, or any folder of MIDI files.

Two ways in, one form out (a `MelodySet`: one notes array per tune, on the 16th-note grid of course_lib.midi):

* `build_melodies(out_dir, n_tunes)` picks tunes from the corpus that ships with music21 (Essen folk songs,
  O'Neill's 1850, Ryan's Mammoth Collection, Bach chorales; offline), parses them with music21 and writes
  `midi/<tune_id>.mid`, `melodies.npz`, `index.json` and `build_report.json`, all at once (atomic folder).
  Parsing is slow (tens of ms a tune), so each source file's parsed tunes are cached under
  `data_root()/cache/music21/<stem>-<hash>.npz`; rebuilding, or building a bigger profile, reuses them.
* `load_midi_folder(path)` reads any folder of MIDI files (Nottingham, Lakh, MAESTRO...); unreadable files are
  skipped and reported, never fatal. Its arrays are cached under `data_root()/cache/midi/<hash>.npz`.

`load_melodies(path)` opens either. Splits (80/10/10 train/valid/test) come from a stable hash of the tune id
(a relative path for MIDI folders), so a tune never changes split when the dataset grows.
"""
from __future__ import annotations

import functools
import json
import os
import re
import time
import warnings
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .. import context
from ..midi import (DEFAULT_VELOCITY, END, MELODY_FIRST_PITCH, MELODY_HOLD, N_MELODY_TOKENS, STEPS_PER_QUARTER,
                    empty_notes, fold_to_piano, melody_tokens, midi_to_notes, notes_to_midi,
                    piano_roll, sort_notes)
from ..io import atomic_path, digest, write_json_atomic
from .base import SPLITS, SplitSet
from .common import BuildReport, DataError, read_pretty_midi

if TYPE_CHECKING:
    import torch

SOURCES = ("essenFolksong", "oneills1850", "ryansMammoth", "bach")
SCORE_SUFFIXES = (".abc", ".mxl", ".xml", ".musicxml", ".krn")
MIDI_SUFFIXES = (".mid", ".midi")
MIN_STEPS = 8  # tunes shorter than this (half a 4/4 bar) are skipped
CACHE_VERSION = 1  # bump when the conversion changes: old cache files are then ignored
MAKE_DATA_FIX = "Run `make data` to build the course data, or check the path (COURSE_DATA, or the path you passed)."


# ---------------------------------------------------------------------------------------------- helpers

def split_of(key: str) -> str:
    """The split of a tune, 80/10/10 'train'/'valid'/'test', from a stable hash of its id."""
    bucket = int(digest("split", key)[:8], 16) % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "tune"


def corpus_root() -> Path:
    """The folder of the corpus that ships with music21."""
    import music21

    return Path(music21.__file__).resolve().parent / "corpus"


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# ---------------------------------------------------------------------------------------------- catalogue

@dataclass(frozen=True)
class TuneRef:
    """Where one tune lives: source name, file, number in the book (0: the whole file), id."""

    source: str
    path: Path
    number: int
    file: str  # provenance: path inside music21's corpus, or the path given

    @property
    def tune_id(self) -> str:
        """A stable id: <source>-<file stem>-<number in the book>."""
        return f"{_safe(self.source)}-{_safe(self.path.stem)}-{self.number}"


def abc_numbers(path: str | os.PathLike) -> list[int]:
    """The reference numbers (X: fields) of an ABC file, in order, without repeats; [] if none."""
    seen: dict[int, None] = {}
    for m in re.finditer(r"^\s*X:\s*(\d+)\s*$", _read_text(Path(path)), flags=re.M):
        seen.setdefault(int(m.group(1)), None)
    return list(seen)


def source_tunes(source: str | os.PathLike) -> list[TuneRef]:
    """List the tunes of a source without parsing: a music21 corpus name, or an ABC/MusicXML file/folder."""
    name = str(source)
    if name in SOURCES:
        base, root = corpus_root() / name, corpus_root()
        suffixes = (".mxl", ".xml") if name == "bach" else (".abc",)
    else:
        base = Path(source)
        if not base.exists():
            raise DataError(f"melody source {base} does not exist. Use one of {', '.join(SOURCES)} or a path "
                            f"to ABC / MusicXML files.")
        root, name, suffixes = (base.parent if base.is_file() else base), _safe(base.stem), SCORE_SUFFIXES
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix.lower() in suffixes)
    refs, seen_numbers = [], set()
    for f in files:
        rel = f.relative_to(root).as_posix() if name in SOURCES else str(f)
        numbers = abc_numbers(f) if f.suffix.lower() == ".abc" else []
        if name == "oneills1850":  # O'Neill's numbers are global; some book files overlap: keep the first
            numbers = [n for n in numbers if n not in seen_numbers]
            seen_numbers.update(numbers)
            if not numbers:
                continue
        refs += [TuneRef(name, f, n, rel) for n in (numbers or [0])]
    if not refs:
        raise DataError(f"melody source {source} holds no ABC / MusicXML files ({', '.join(SCORE_SUFFIXES)}).")
    return refs


# ---------------------------------------------------------------------------------------------- parsing

_VOICE = re.compile(r"^\s*(soprano|alto|tenor|bass)\b", re.I)


def _melody_parts(score) -> list:
    """The parts to keep: the sung voices (S, A, T, B) when a score names them, else every part."""
    parts = list(score.parts) or [score]
    voices = [p for p in parts if _VOICE.match(p.partName or "")]
    return voices if len(voices) >= 2 else parts


def score_to_notes(score, steps_per_quarter: int = STEPS_PER_QUARTER) -> tuple[np.ndarray, int]:
    """A music21 score to (notes array, n_steps): one track per part, ties merged, grace notes dropped.

    Times are quarterLength * steps_per_quarter rounded to the grid; a pickup bar is padded so that bar lines
    fall on multiples of the bar length. Chords give one note per pitch. When the parts are named Soprano,
    Alto, Tenor, Bass (chorales) only those are kept (instruments doubling them are dropped).
    """
    parts = _melody_parts(score)
    first_bar = parts[0].getElementsByClass("Measure").first()
    shift = int(round(float(first_bar.paddingLeft) * steps_per_quarter)) if first_bar is not None else 0
    rows: list[list[int]] = []
    for track, part in enumerate(parts):
        open_ties: dict[int, int] = {}  # pitch -> row of the note a tie continues
        for n in part.flatten().getElementsByClass(("Note", "Chord")):
            if n.duration.isGrace or n.quarterLength == 0 or "Harmony" in n.classes:
                continue
            s = int(round(float(n.offset) * steps_per_quarter)) + shift
            e = max(int(round(float(n.offset + n.quarterLength) * steps_per_quarter)) + shift, s + 1)
            tie = n.tie.type if n.tie is not None else None
            for p in n.pitches:
                midi = int(round(p.ps))
                row = open_ties.get(midi)
                if tie in ("continue", "stop") and row is not None and rows[row][2] >= s - 1:
                    rows[row][2] = max(rows[row][2], e)
                else:
                    rows.append([midi, s, e, DEFAULT_VELOCITY, track])
                    row = len(rows) - 1
                if tie in ("start", "continue"):
                    open_ties[midi] = row
                else:
                    open_ties.pop(midi, None)
    notes = sort_notes(np.array(rows, dtype=np.int32)) if rows else empty_notes()
    n_steps = max(int(round(float(score.highestTime) * steps_per_quarter)) + shift, int(notes[:, END].max(initial=0)))
    return notes, n_steps


def _score_meta(score) -> dict:
    ts = score.recurse().getElementsByClass("TimeSignature").first()
    ks = score.recurse().getElementsByClass("KeySignature").first()
    key = None
    if ks is not None:
        try:
            key = ks.name if hasattr(ks, "tonic") else ks.asKey("major").name
        except Exception:
            key = None
    title = score.metadata.title if score.metadata is not None else None
    return {"title": title or "", "time_signature": ts.ratioString if ts is not None else None, "key": key}


def parse_source_file(path: str | os.PathLike, numbers: Sequence[int] = (0,)) -> list[dict]:
    """Parse tunes of one ABC / MusicXML file with music21: one dict per number, with 'error' on failure.

    Each dict: number, notes, n_steps, title, time_signature, key, error (None when fine). Number 0 parses
    the whole file as one tune (the first score if music21 returns several).
    """
    from music21 import converter

    path = Path(path)
    out: list[dict] = []
    text = _read_text(path) if path.suffix.lower() == ".abc" else None
    for number in numbers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if text is not None and number:
                    score = converter.parseData(text, number=number, format="abc")
                else:
                    score = converter.parse(path, forceSource=True, storePickle=False)
                if hasattr(score, "scores"):  # an Opus
                    score = score.scores[0]
            notes, n_steps = score_to_notes(score)
            out.append({"number": number, "notes": notes, "n_steps": n_steps, **_score_meta(score), "error": None})
        except Exception as e:  # music21 raises many kinds (ABCHandlerException, ZeroDivisionError, ...)
            out.append({"number": number, "notes": empty_notes(), "n_steps": 0, "title": "",
                        "time_signature": None, "key": None,
                        "error": f"music21 could not parse it ({type(e).__name__}: {str(e).strip()[:200]})"})
    return out


def _cache_path(path: Path) -> Path:
    st = path.stat()
    return context.data_root() / "cache" / "music21" / _cache_name(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _cache_name(path: str, size: int, mtime_ns: int) -> str:
    import music21

    key = digest(CACHE_VERSION, music21.__version__, Path(path).read_bytes())[:12]
    return f"{_safe(Path(path).stem)}-{key}.npz"


def _save_entries(cache: Path, entries: list[dict]) -> None:
    notes = [e["notes"] for e in entries]
    offsets = np.cumsum([0] + [len(n) for n in notes]).astype(np.int64)
    meta = [{k: v for k, v in e.items() if k != "notes"} for e in entries]
    with atomic_path(cache) as tmp, open(tmp, "wb") as f:
        np.savez(f, notes=np.concatenate(notes) if notes else empty_notes(), offsets=offsets,
                 meta=np.array(json.dumps(meta)))


def _load_entries(cache: Path) -> list[dict]:
    with np.load(cache) as z:
        notes, offsets, meta = z["notes"], z["offsets"], json.loads(str(z["meta"]))
    return [{**m, "notes": notes[offsets[i]:offsets[i + 1]]} for i, m in enumerate(meta)]


def cached_source_file(path: str | os.PathLike, numbers: Sequence[int]) -> tuple[dict[int, dict], int]:
    """Parse_source_file through the per-file cache; returns ({number: tune}, how many were parsed now)."""
    path = Path(path)
    cache = _cache_path(path)
    entries: list[dict] = []
    if cache.exists():
        try:
            entries = _load_entries(cache)
        except Exception:  # an unreadable cache file is rebuilt
            entries = []
    done = {e["number"] for e in entries}
    missing = [n for n in dict.fromkeys(numbers) if n not in done]
    if missing:
        entries += parse_source_file(path, missing)
        _save_entries(cache, entries)
    return {e["number"]: e for e in entries}, len(missing)


def _parse_task(task: tuple[str, list[int], str]) -> tuple[dict[int, dict], int]:
    path, numbers, data_root = task
    os.environ["COURSE_DATA"] = data_root  # the worker writes the cache where the parent reads it
    return cached_source_file(path, numbers)


# ---------------------------------------------------------------------------------------------- building

def _tune_problem(entry: dict) -> str | None:
    if entry.get("error"):
        return entry["error"]
    if len(entry["notes"]) == 0:
        return "no notes"
    if entry["n_steps"] < MIN_STEPS:
        return f"only {entry['n_steps']} steps (< {MIN_STEPS})"
    return None


def _quotas(need: int, active: list[str]) -> dict[str, int]:
    base, extra = divmod(need, len(active))
    return {s: base + (i < extra) for i, s in enumerate(active)}


def build_melodies(out_dir: str | os.PathLike, n_tunes: int, seed: int = 0,
                   sources: Iterable[str | os.PathLike] | None = None, progress: bool = True,
                   workers: int | None = None) -> BuildReport:
    """Build the melodies dataset (n_tunes spread evenly over the sources) into out_dir, atomically.

    Tunes are taken in a seeded order per source; a tune that fails (parse error, no notes, too short, exact
    duplicate) is skipped, reported, and replaced by the next one. Only the tunes needed are parsed, and each
    source file's parsed tunes are cached. workers > 1 parses in parallel processes (default: up to 8 when
    more than 200 tunes must be parsed).
    """
    from tqdm.auto import tqdm

    t0 = time.time()
    out_dir = Path(out_dir)
    sources = [str(s) for s in (sources or SOURCES)]
    report = BuildReport("melodies")
    catalogue: dict[str, list[TuneRef]] = {}
    for s in sources:
        try:
            refs = source_tunes(s)
        except DataError as e:
            report.skip(s, str(e))
            continue
        catalogue[s] = sorted(refs, key=lambda r: digest(seed, r.tune_id))
    pos = {s: 0 for s in catalogue}
    kept: list[tuple[TuneRef, dict]] = []
    seen: dict[str, str] = {}  # content hash -> tune_id, to drop exact duplicates
    n_parsed = 0
    bar = tqdm(total=n_tunes, desc="melodies", unit="tune", disable=not progress)
    while len(kept) < n_tunes:
        active = [s for s in catalogue if pos[s] < len(catalogue[s])]
        if not active:
            break
        batch: list[TuneRef] = []
        for s, q in _quotas(n_tunes - len(kept), active).items():
            batch += catalogue[s][pos[s]:pos[s] + q]
            pos[s] += q
        results, n_new = _parse_batch(batch, workers, progress)
        n_parsed += n_new
        for ref in batch:
            entry = results[ref.path][ref.number]
            problem = _tune_problem(entry)
            if problem is None:
                notes, moved = fold_to_piano(entry["notes"])
                if moved:
                    report.fix(f"{ref.file}#{ref.number}", f"moved {moved} notes by octaves into 21..108")
                fp = digest(notes[:, :3].tobytes())
                if fp in seen:
                    problem = f"exact duplicate of {seen[fp]}"
                else:
                    seen[fp] = ref.tune_id
                    kept.append((ref, {**entry, "notes": notes}))
                    bar.update(1)
            if problem is not None:
                report.skip(f"{ref.file}#{ref.number}", problem)
    bar.close()
    kept = kept[:n_tunes]
    report.kept = len(kept)
    _write_build(out_dir, kept, report, {"n_requested": n_tunes, "seed": seed, "sources": sources,
                                         "n_parsed": n_parsed, "wall_s": round(time.time() - t0, 2)})
    return report


def _parse_batch(batch: list[TuneRef], workers: int | None,
                 progress: bool = True) -> tuple[dict[Path, dict[int, dict]], int]:
    """Parse (through the cache) every tune of a batch; return {path: {number: entry}} and how many were new."""
    from tqdm.auto import tqdm

    by_file: dict[Path, list[int]] = {}
    for ref in batch:
        by_file.setdefault(ref.path, []).append(ref.number)
    todo = [(str(path), numbers, str(context.data_root())) for path, numbers in by_file.items()]
    if workers is None:  # processes pay off only for many uncached files (each worker imports music21)
        cold = sum(len(numbers) for path, numbers in by_file.items() if not _cache_path(path).exists())
        workers = min(8, os.cpu_count() or 1) if cold > 200 else 1
    todo.sort(key=lambda t: -len(t[1]))  # big books first: the workers finish together
    results: dict[Path, tuple[dict[int, dict], int]] = {}
    bar = tqdm(total=len(batch), desc="parsing", unit="tune", leave=False,
               disable=not progress or len(batch) < 100)
    if workers > 1 and len(todo) > 1 and "fork" in mp.get_all_start_methods():
        try:  # fork: the workers need no `if __name__ == "__main__"` guard in the caller's script
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                futures = {pool.submit(_parse_task, t): t for t in todo}
                for fut in as_completed(futures):
                    results[Path(futures[fut][0])] = fut.result()
                    bar.update(len(futures[fut][1]))
        except BrokenProcessPool:
            pass  # parse what is left in this process
    for t in todo:
        if Path(t[0]) not in results:
            results[Path(t[0])] = _parse_task(t)
            bar.update(len(t[1]))
    bar.close()
    return {p: r for p, (r, _) in results.items()}, sum(n for _, n in results.values())


def _write_build(out_dir: Path, kept: list[tuple[TuneRef, dict]], report: BuildReport, info: dict) -> None:
    index = []
    with atomic_path(out_dir) as tmp:
        (tmp / "midi").mkdir(parents=True)
        for ref, e in kept:
            notes_to_midi(e["notes"], tempo=120.0).write(str(tmp / "midi" / f"{ref.tune_id}.mid"))
            index.append({"tune_id": ref.tune_id, "source": ref.source, "file": ref.file, "number": ref.number,
                          "title": e["title"], "time_signature": e["time_signature"], "key": e["key"],
                          "n_steps": int(e["n_steps"]), "n_notes": int(len(e["notes"])),
                          "split": split_of(ref.tune_id)})
        notes = [e["notes"] for _, e in kept]
        offsets = np.cumsum([0] + [len(n) for n in notes]).astype(np.int64)
        np.savez(tmp / "melodies.npz", notes=np.concatenate(notes) if notes else empty_notes(), offsets=offsets)
        write_json_atomic(tmp / "index.json", index)
        per_source = {s: sum(m["source"] == s for m in index) for s in dict.fromkeys(m["source"] for m in index)}
        per_split = {s: sum(m["split"] == s for m in index) for s in SPLITS}
        write_json_atomic(tmp / "build_report.json", {**report.to_dict(), **info, "per_source": per_source,
                                                      "per_split": per_split})


# ---------------------------------------------------------------------------------------------- the set

class MelodySet(SplitSet):
    """Tunes as notes arrays (16th grid) with metadata; splits, melody tokens, piano rolls, windows."""

    NOUN, ID_KEY = "tunes", "tune_id"

    def __init__(self, notes: list[np.ndarray], meta: list[dict], report: BuildReport | None = None,
                 root: Path | None = None):
        self.notes = notes
        self.meta = meta
        self.report = report or BuildReport("melodies")
        self.root = root
        self.window_tune_index: np.ndarray | None = None  # set by windows(): the tune of each window
        self._tokens: dict[int, np.ndarray] = {}

    def subset(self, idx: Sequence[int]) -> "MelodySet":
        """The tunes at the positions idx, in that order."""
        return MelodySet([self.notes[i] for i in idx], [self.meta[i] for i in idx], self.report, self.root)

    def _repr_parts(self) -> list[str]:
        return [*super()._repr_parts(), f"root={self.root}"]

    def tokens(self, i: int) -> np.ndarray:
        """Melody tokens (MusicVAE, 90 classes) of tune i, one per 16th step. Notebook: 06_lstm_vae_melodies."""
        if i not in self._tokens:
            self._tokens[i] = melody_tokens(self.notes[i], n_steps=self.meta[i]["n_steps"])
        return self._tokens[i].copy()

    def piano_roll(self, i: int) -> np.ndarray:
        """Multi-hot piano roll (88, T) of tune i (all tracks). Notebook: 06_lstm_vae_melodies."""
        return piano_roll(self.notes[i], n_steps=self.meta[i]["n_steps"])

    def midi(self, i: int, tempo: float = 120.0):
        """Tune i as a PrettyMIDI (to listen to it with course_lib.synth.render). Notebook: 06_lstm_vae_melodies."""
        return notes_to_midi(self.notes[i], tempo=tempo)

    def windows(self, n_bars: int, steps_per_bar: int = 16, hop_bars: int | None = None, min_notes: int = 1,
                transpose: int = 0) -> np.ndarray:
        """All windows of n_bars bars of melody tokens, int64 (n_windows, n_bars * steps_per_bar).

        Windows start every hop_bars bars (default 1, as in MusicVAE) and lie wholly inside the tune. A window
        that starts in the middle of a note starts with that note's note-on instead of a hold. Windows with fewer
        than min_notes note-ons are skipped; transpose shifts note-ons by semitones, and windows that would leave
        the piano range are dropped. self.window_tune_index gets the tune of each window.

        Notebook: 06_lstm_vae_melodies
        """
        L, hop = n_bars * steps_per_bar, (hop_bars or 1) * steps_per_bar
        out, owner = [], []
        for i in range(len(self)):
            tok = self.tokens(i)
            if len(tok) < L:
                continue
            events = np.where(tok != MELODY_HOLD, np.arange(len(tok)), -1)
            last_event = np.maximum.accumulate(events)  # index of the latest note-on/off at or before each step
            starts = np.arange(0, len(tok) - L + 1, hop)
            w = np.lib.stride_tricks.sliding_window_view(tok, L)[starts].copy()
            prev = last_event[starts]
            carry = (w[:, 0] == MELODY_HOLD) & (prev >= 0)
            carried = np.where(carry, tok[np.maximum(prev, 0)], MELODY_HOLD)
            w[:, 0] = np.where(carry & (carried >= MELODY_FIRST_PITCH), carried, w[:, 0])
            is_on = w >= MELODY_FIRST_PITCH
            if transpose:
                moved = np.where(is_on, w + transpose, w)
                fits = ~np.any(is_on & ((moved < MELODY_FIRST_PITCH) | (moved >= N_MELODY_TOKENS)), axis=1)
                w = moved
            else:
                fits = np.ones(len(w), dtype=bool)
            keep = fits & (is_on.sum(axis=1) >= min_notes)
            out.append(w[keep])
            owner.append(np.full(int(keep.sum()), i, dtype=np.int64))
        self.window_tune_index = np.concatenate(owner) if owner else np.zeros(0, np.int64)
        return np.concatenate(out).astype(np.int64) if out else np.zeros((0, L), np.int64)

    def sample_windows(self, n_bars: int, n: int, seed: int, transpose: Sequence[int] = (0,)) -> torch.Tensor:
        """A seeded random subset of at most n windows (all shifts in `transpose` pooled), kept in order.

        The windows of every shift are concatenated (shift by shift, as `windows` gives them), then n distinct
        rows are drawn with numpy's default_rng(seed) and sorted, so a subset never depends on torch's state.
        """
        import torch

        w = np.concatenate([self.windows(n_bars, transpose=k) for k in transpose])
        idx = np.sort(np.random.default_rng(seed).choice(len(w), size=min(int(n), len(w)), replace=False))
        return torch.from_numpy(w[idx])


# ---------------------------------------------------------------------------------------------- loading

def _read_midi_file(path: Path) -> tuple[np.ndarray, dict, int]:
    """One MIDI file to (notes folded into the piano range, metadata, notes moved); DataError when unusable."""
    import pretty_midi

    pm = read_pretty_midi(path)
    notes = midi_to_notes(pm)
    if len(notes) == 0:
        raise DataError("no notes (empty or drum-only tracks)")
    notes, moved = fold_to_piano(notes)
    n_steps = int(notes[:, END].max())
    if n_steps < MIN_STEPS:
        raise DataError(f"only {n_steps} steps (< {MIN_STEPS})")
    ts = pm.time_signature_changes[0] if pm.time_signature_changes else None
    ks = pm.key_signature_changes[0] if pm.key_signature_changes else None
    meta = {"time_signature": f"{ts.numerator}/{ts.denominator}" if ts else None,
            "key": pretty_midi.key_number_to_key_name(ks.key_number) if ks else None, "n_steps": n_steps}
    return notes, meta, moved


def _midi_folder_key(root: Path, files: list[Path]) -> str:
    stats = [(f.relative_to(root).as_posix(), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return digest(CACHE_VERSION, root.resolve(), json.dumps(stats))[:16]


def load_midi_folder(path: str | os.PathLike, progress: bool = True) -> MelodySet:
    """Read every MIDI file under a folder (recursively) into a MelodySet; bad files are reported.

    Unreadable, empty, truncated or note-less files are skipped and listed in .report.skipped with the reason;
    notes outside 21..108 are moved by octaves (listed in .report.fixed). The split comes from the relative
    path. The arrays are cached under data_root()/cache/midi/, keyed by the folder and its files' sizes/mtimes.

    Notebook: 06_lstm_vae_melodies
    """
    from tqdm.auto import tqdm

    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder. {MAKE_DATA_FIX}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise DataError(f"{root}: holds no MIDI files (.mid / .midi, searched recursively). {MAKE_DATA_FIX}")
    cache = context.data_root() / "cache" / "midi" / f"{_midi_folder_key(root, files)}.npz"
    if cache.exists():
        try:
            return _load_npz_set(cache, root)
        except Exception:  # a damaged cache is rebuilt
            pass
    report = BuildReport(f"midi folder {root}")
    notes_list, meta = [], []
    for f in tqdm(files, desc="reading MIDI", unit="file", disable=not progress):
        rel = f.relative_to(root).as_posix()
        try:
            notes, m, moved = _read_midi_file(f)
        except DataError as e:
            report.skip(rel, str(e))
            continue
        if moved:
            report.fix(rel, f"moved {moved} notes by octaves into 21..108")
        notes_list.append(notes)
        meta.append({"tune_id": rel, "source": root.name, "file": rel, "number": 0, "title": f.stem,
                     **m, "n_notes": int(len(notes)), "split": split_of(rel)})
    report.kept = len(notes_list)
    offsets = np.cumsum([0] + [len(n) for n in notes_list]).astype(np.int64)
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, notes=np.concatenate(notes_list) if notes_list else empty_notes(), offsets=offsets,
                 meta=np.array(json.dumps(meta)), report=np.array(json.dumps(report.to_dict())))
    return MelodySet(notes_list, meta, report, root)


def _split_notes(notes: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [notes[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def _load_npz_set(path: Path, root: Path) -> MelodySet:
    with np.load(path) as z:
        notes, offsets = z["notes"], z["offsets"]
        meta, rep = json.loads(str(z["meta"])), json.loads(str(z["report"]))
    report = BuildReport(rep["name"], rep["kept"], rep["skipped"], rep["fixed"])
    return MelodySet(_split_notes(notes, offsets), meta, report, root)


def load_melodies(path: str | os.PathLike | None = None, progress: bool = True) -> MelodySet:
    """Open a built melodies set (index.json) or any folder of MIDI files; default: this profile's set."""
    root = Path(path) if path is not None else context.data_dir("melodies")
    if not root.exists():
        raise DataError(f"{root}: not found. {MAKE_DATA_FIX}")
    if not (root / "index.json").exists():
        mset = load_midi_folder(root, progress=progress)
        if len(mset) == 0:
            raise DataError(f"{root}: none of its MIDI files could be used.\n{mset.report.summary()}")
        return mset
    try:
        meta = json.loads((root / "index.json").read_text())
        with np.load(root / "melodies.npz") as z:
            notes, offsets = z["notes"], z["offsets"]
        rep = json.loads((root / "build_report.json").read_text())
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{root}: the built melodies set is damaged ({type(e).__name__}: {e}). Delete the folder "
                        f"and run `make data` again.") from None
    if len(offsets) != len(meta) + 1:
        raise DataError(f"{root}: index.json and melodies.npz disagree ({len(meta)} vs {len(offsets) - 1} tunes). "
                        f"Delete the folder and run `make data` again.")
    report = BuildReport(rep.get("name", "melodies"), rep.get("kept", len(meta)), rep.get("skipped", []),
                         rep.get("fixed", []))
    return MelodySet(_split_notes(notes, offsets), meta, report, root)
