"""The melodies dataset: folk tunes and chorales from music21's corpus, or any folder of MIDI files.

Two ways in, one form out (a `MelodySet`: one notes array per tune, on the 16th-note grid of course_lib.midi):

* `build_melodies(out_dir, n_tunes)` picks tunes from the corpus that ships with music21 (Essen folk songs,
  O'Neill's 1850, Ryan's Mammoth Collection, Bach chorales; offline), parses them with music21 and writes
  `midi/<tune_id>.mid`, `melodies.npz`, `index.json` and `build_report.json`, all at once (atomic folder).
  Parsing is slow (tens of ms a tune), so each source file's parsed tunes are cached under
  `data_root()/cache/music21/<stem>-<hash>.npz`; rebuilding, or building a bigger profile, reuses them.
* `load_midi_folder(path)` reads any folder of MIDI files (Nottingham, Lakh, MAESTRO...) or one MIDI file;
  unreadable files are skipped and reported, never fatal. Its arrays are cached under
  `data_root()/cache/midi/<hash>.npz`.

`load_melodies(path)` opens either. Splits (80/10/10 train/valid/test) come from a stable hash of the tune's
GROUP key, so a tune never changes split when the dataset grows and copies of one tune share a split: in a MIDI
folder, files with the same name in several subfolders (a folk collection's combined, melody-only and
chords-only copies) or with the same top line (up to transposition) form one group, keyed by its shallowest
member's relative path (a file without copies: its own path). Built sets hold no copies (exact duplicates are
dropped), so a tune's group is its tune id.

Meters: every tune carries `meta["meters"]`, a list of [step, "n/d"] (the meter in force from that 16th step on;
first MIDI time signatures, for built tunes music21's measures, so an incomplete bar at a repeat is its own
meter). A bar of n/d is n * 16 / d sixteenth steps: 4/4 = 16, 2/2 = 16, 3/4 = 12, 6/8 = 12, 2/4 = 8, 9/8 = 18,
12/8 = 24; a meter whose bar is not a whole number of 16ths (5/32...) cannot be placed, and such tunes give no
meter-aware windows (listed in `window_report`).
"""
from __future__ import annotations

import functools
import json
import math
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
from ..midi import (DEFAULT_VELOCITY, END, MELODY_FIRST_PITCH, MELODY_HOLD, N_MELODY_TOKENS, START,
                    STEPS_PER_QUARTER, TRACK, empty_notes, fold_to_piano, melody_tokens, midi_to_notes,
                    notes_to_midi, piano_roll, sort_notes)
from ..io import atomic_path, digest, write_json_atomic
from .base import SPLITS, SplitSet
from .common import BuildReport, DataError, file_stamp, read_pretty_midi, scan_folder

if TYPE_CHECKING:
    import torch

SOURCES = ("essenFolksong", "oneills1850", "ryansMammoth", "bach")
SCORE_SUFFIXES = (".abc", ".mxl", ".xml", ".musicxml", ".krn")
MIDI_SUFFIXES = (".mid", ".midi")
MIN_STEPS = 8  # tunes shorter than this (half a 4/4 bar) are skipped
CACHE_VERSION = 1  # bump when the conversion changes: old cache files are then ignored
MAKE_DATA_FIX = ("Run `make data` to build the course data, or check the path (COURSE_MELODIES, or the path you "
                 "passed).")
OFF_GRID = 0.125  # an onset more than this share of a 16th away from the grid is "off-grid" (triplets, swing)
POLYPHONIC_SHARE = 0.5  # a file with 2+ notes sounding in this share of its sounding steps is polyphonic
CHORD_SIZE, CHORD_SHARE = 3, 0.8  # a track whose onsets start 3+ notes this often is chords (an accompaniment)
MIN_CONTENT_NOTES = 8  # top lines shorter than this are not compared by content when grouping copies


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


# ---------------------------------------------------------------------------------------------- meters

def meter_steps(meter: str | None, steps_per_quarter: int = STEPS_PER_QUARTER) -> int | None:
    """The bar length of a meter 'n/d' in grid steps (n * 4 * steps_per_quarter / d), None when not whole.

    On the 16th grid: 4/4 -> 16, 2/2 -> 16, 3/4 -> 12, 6/8 -> 12, 2/4 -> 8, 3/8 -> 6, 9/8 -> 18, 12/8 -> 24,
    5/32 -> None (2.5 sixteenths).
    """
    try:
        n, d = (int(x) for x in str(meter).split("/"))
    except ValueError:
        return None
    if n <= 0 or d <= 0:
        return None
    q = n * 4 * steps_per_quarter
    return q // d if q % d == 0 else None


def _meter_name(steps: int) -> str:
    """A meter whose bar is `steps` 16ths (for an irregular bar): 4 -> '1/4', 6 -> '3/8', 5 -> '5/16'."""
    return f"{steps // 4}/4" if steps % 4 == 0 else f"{steps // 2}/8" if steps % 2 == 0 else f"{steps}/16"


def tune_meters(meta: dict) -> list[list]:
    """The meter map of a tune, [[step, 'n/d'], ...]: meta['meters'], else its first time signature, else []."""
    if meta.get("meters"):
        return [list(m) for m in meta["meters"]]
    ts = meta.get("time_signature")
    return [[0, ts]] if ts else []


def bar_lines(meters: Sequence[Sequence], n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(start step, length) of every bar from the meter map [[step, 'n/d'], ...], up to n_steps.

    Each meter runs from its step to the next change (a bar cut short by the change is shorter); before the first
    change, and when there is none, 4/4 (MIDI's default). Raises ValueError with the reason when a meter's bar is
    not a whole number of 16ths or a change falls between 16th steps.
    """
    segs = sorted(((float(st), str(m)) for st, m in meters), key=lambda t: t[0])
    if not segs or segs[0][0] > 0:
        segs.insert(0, (0.0, "4/4"))
    starts: list[int] = []
    lengths: list[int] = []
    for i, (st, m) in enumerate(segs):
        if st >= max(n_steps, 1):
            break
        if st != int(st):
            raise ValueError(f"the change to {m} at step {st:g} falls between 16th steps")
        b = meter_steps(m)
        if b is None:
            raise ValueError(f"meter {m}: a bar is not a whole number of 16th steps; it cannot be placed on the grid")
        end = segs[i + 1][0] if i + 1 < len(segs) else math.inf
        pos = int(st)
        while pos < min(end, n_steps):
            starts.append(pos)
            lengths.append(int(min(b, end - pos)))
            pos += b
    return np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64)


def _midi_meters(pm) -> list[list]:
    """The time signatures of a PrettyMIDI as [[step, 'n/d'], ...] (a step is a float when off the 16th grid)."""
    ticks_per_step = pm.resolution / STEPS_PER_QUARTER
    out: dict[float, str] = {}
    for ts in sorted(pm.time_signature_changes, key=lambda t: t.time):
        step = pm.time_to_tick(ts.time) / ticks_per_step
        step = int(round(step)) if abs(step - round(step)) < 1e-6 else round(step, 3)
        out[step] = f"{ts.numerator}/{ts.denominator}"
    merged: list[list] = []
    for step, m in out.items():
        if not merged or merged[-1][1] != m:
            merged.append([step, m])
    return merged


def add_meters(pm, meters: Sequence[Sequence], tempo: float = 120.0) -> None:
    """Write a meter map into a PrettyMIDI as time signature events (meters MIDI cannot store are left out)."""
    import pretty_midi

    sec = 60.0 / (float(tempo) * STEPS_PER_QUARTER)
    for st, m in meters:
        try:
            n, d = (int(x) for x in str(m).split("/"))
        except ValueError:
            continue
        if n > 0 and d > 0 and d & (d - 1) == 0:
            pm.time_signature_changes.append(pretty_midi.TimeSignature(n, d, float(st) * sec))


def top_line_key(notes: np.ndarray, n_steps: int | None = None) -> str | None:
    """A digest of a tune's top line (melody tokens) up to transposition and a leading rest, or None when it holds
    fewer than MIN_CONTENT_NOTES notes: copies of one tune get the same key."""
    tok = melody_tokens(notes, n_steps=n_steps)
    on = np.flatnonzero(tok >= MELODY_FIRST_PITCH)
    if len(on) < MIN_CONTENT_NOTES:
        return None
    return digest("top line", np.diff(tok[on]).astype(np.int64).tobytes(), (on - on[0]).astype(np.int64).tobytes())


def same_tune_groups(ids: Sequence[str], keys: Sequence[str | None]) -> list[str]:
    """The group key of each tune: the first id (alphabetically) of the tunes with its top-line key (top_line_key);
    a tune without a key, or without a twin, is its own group."""
    first: dict[str, str] = {}
    for i, k in zip(ids, keys):
        if k is not None:
            first[k] = min(first.get(k, i), i)
    return [first[k] if k is not None else i for i, k in zip(ids, keys)]


def _groups_text(groups: Sequence[str], what: str) -> str:
    members: dict[str, list[str]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(str(i))
    sizes = [len(v) for v in members.values() if len(v) > 1]
    return f"{len(sizes)} groups hold {sum(sizes)} {what}; each group is in one split"


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


def score_to_notes(score, steps_per_quarter: int = STEPS_PER_QUARTER,
                   losses: dict | None = None) -> tuple[np.ndarray, int]:
    """A music21 score to (notes array, n_steps): one track per part, ties merged, grace notes dropped.

    Times are quarterLength * steps_per_quarter rounded to the grid; a pickup bar is padded so that bar lines
    fall on multiples of the bar length. Chords give one note per pitch. When the parts are named Soprano,
    Alto, Tenor, Bass (chorales) only those are kept (instruments doubling them are dropped).
    `losses` (a dict, when given) receives what the grid cost: 'off_grid' (onsets moved to the nearest step,
    e.g. triplets) and 'collisions' (onsets of one part that landed on a step another onset of it already holds;
    the melody tokens keep one of them), and 'meters' (the meter map, see the module doc).
    """
    parts = _melody_parts(score)
    first_bar = parts[0].getElementsByClass("Measure").first()
    shift = int(round(float(first_bar.paddingLeft) * steps_per_quarter)) if first_bar is not None else 0
    rows: list[list[int]] = []
    off_grid = collisions = 0
    for track, part in enumerate(parts):
        open_ties: dict[int, int] = {}  # pitch -> row of the note a tie continues
        onsets: dict[int, set] = {}  # step -> the exact offsets that landed on it
        for n in part.flatten().getElementsByClass(("Note", "Chord")):
            if n.duration.isGrace or n.quarterLength == 0 or "Harmony" in n.classes:
                continue
            exact = n.offset * steps_per_quarter
            s = int(round(float(exact))) + shift
            if n.tie is None or n.tie.type == "start":
                off_grid += abs(float(exact) - round(float(exact))) > 1e-9
                onsets.setdefault(s, set()).add(exact)
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
        collisions += sum(len(v) - 1 for v in onsets.values())
    notes = sort_notes(np.array(rows, dtype=np.int32)) if rows else empty_notes()
    n_steps = max(int(round(float(score.highestTime) * steps_per_quarter)) + shift, int(notes[:, END].max(initial=0)))
    if losses is not None:
        losses.update(off_grid=int(off_grid), collisions=int(collisions),
                      meters=_score_meters(parts[0], shift, steps_per_quarter))
    return notes, n_steps


def _score_meters(part, shift: int, steps_per_quarter: int = STEPS_PER_QUARTER) -> list[list]:
    """The meter map of a music21 part from its measures: [[step, 'n/d'], ...].

    Bar lines follow the score. A run of short measures that together fill whole bars (the two halves of a bar
    split by a repeat sign: 3/4 + 1/4 in 4/4, 5/8 + 1/8 in 6/8) keeps the meter's bars; a measure of another
    length that does not (a bar with an extra beat, say) gets the meter of its own length (an 18-step bar:
    '9/8'), and the bars after it start where it ends. The first measure counts as a full bar (the pickup is
    padded, see score_to_notes).
    """
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        ts = part.recurse().getElementsByClass("TimeSignature").first()
        return [[0, ts.ratioString]] if ts is not None else []
    starts = [0] + [int(round(float(m.offset) * steps_per_quarter)) + shift for m in measures[1:]]
    rows: list[list] = []  # [start, length, nominal name, nominal bar steps]
    ts = None
    for i, m in enumerate(measures):
        # music21's ABC reader leaves an inline meter ([M:3/4]) inside the measure, not in .timeSignature
        ts = m.timeSignature or m.getElementsByClass("TimeSignature").first() or ts \
            or m.getContextByClass("TimeSignature")
        nominal = ts.ratioString if ts is not None else "4/4"
        bar = meter_steps(nominal, steps_per_quarter)
        if i + 1 < len(measures):
            length = starts[i + 1] - starts[i]
        else:  # the last measure: a full bar, or as long as the one before (a meter change music21 dropped shows
            own = int(round(float(m.duration.quarterLength) * steps_per_quarter))  # only in the measures' lengths)
            length = own if i > 0 and own == starts[i] - starts[i - 1] else bar
        rows.append([starts[i], length, nominal, bar])
    names: list[str] = []
    run: list[int] = []  # indices of the short measures since the last full bar
    for i, (start, length, nominal, bar) in enumerate(rows):
        regular = bar is None or length is None or length <= 0 or length == bar
        if regular:
            names += [_meter_name(rows[j][1]) for j in run] + [nominal]  # an unfinished run keeps its lengths
            run = []
            continue
        run.append(i)
        while run:
            total = sum(rows[j][1] for j in run)
            if total % bar == 0 and all(rows[j][2] == nominal for j in run):  # the run fills whole bars
                names += [nominal] * len(run)
                run = []
            elif total > bar:  # past a bar without filling it: the first measure is a bar of its own length
                names.append(_meter_name(rows[run.pop(0)][1]))
            else:
                break
    names += [_meter_name(rows[j][1]) for j in run]
    out: list[list] = []
    for (start, *_), name in zip(rows, names):
        if not out or out[-1][1] != name:
            out.append([start, name])
    return out


def _score_meta(score) -> dict:
    sigs = list(score.recurse().getElementsByClass("TimeSignature"))
    ts = sigs[0] if sigs else None
    ks = score.recurse().getElementsByClass("KeySignature").first()
    key = None
    if ks is not None:
        try:
            key = ks.name if hasattr(ks, "tonic") else ks.asKey("major").name
        except Exception:
            key = None
    title = score.metadata.title if score.metadata is not None else None
    return {"title": title or "", "time_signature": ts.ratioString if ts is not None else None, "key": key,
            "time_signatures": list(dict.fromkeys(t.ratioString for t in sigs))}


def parse_source_file(path: str | os.PathLike, numbers: Sequence[int] = (0,)) -> list[dict]:
    """Parse tunes of one ABC / MusicXML file with music21: one dict per number, with 'error' on failure.

    Each dict: number, notes, n_steps, title, time_signature (the first), time_signatures (all, in order), key,
    meters (the meter map, see the module doc), quantisation ({'off_grid': n, 'collisions': n}), error (None when
    fine). Number 0 parses the whole file as one tune (the first score if music21 returns several).
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
            losses: dict = {}
            notes, n_steps = score_to_notes(score, losses=losses)
            meters = losses.pop("meters")
            out.append({"number": number, "notes": notes, "n_steps": n_steps, **_score_meta(score), "meters": meters,
                        "quantisation": losses, "error": None})
        except Exception as e:  # music21 raises many kinds (ABCHandlerException, ZeroDivisionError, ...)
            out.append({"number": number, "notes": empty_notes(), "n_steps": 0, "title": "",
                        "time_signature": None, "key": None, "time_signatures": [], "meters": [],
                        "quantisation": {"off_grid": 0, "collisions": 0},
                        "error": f"music21 could not parse it ({type(e).__name__}: {str(e).strip()[:200]})"})
    return out


def _cache_path(path: Path) -> Path:
    return context.data_root() / "cache" / "music21" / _cache_name(str(path.resolve()), *file_stamp(path))


@functools.lru_cache(maxsize=4096)
def _cache_name(path: str, size: int, mtime_ns: int, ctime_ns: int = 0, mode: int = 0) -> str:
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
    entries = [e for e in entries if "meters" in e]  # entries cached before meters were stored: parsed again
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
                    loss = _quantisation_text(entry.get("quantisation") or {})
                    if loss:
                        report.warn(f"{ref.file}#{ref.number}", loss)
                    try:
                        bar_lines(entry.get("meters") or [], int(entry["n_steps"]))
                    except ValueError as e:
                        report.warn(f"{ref.file}#{ref.number}", f"{e}: kept, but it gives no meter-aware windows")
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


def _quantisation_text(q: dict) -> str:
    """What the 16th grid cost a file, in words ('' when nothing)."""
    parts = []
    if q.get("off_grid"):
        parts.append(f"{q['off_grid']} onsets off the 16th grid (triplets, swing or played timing) moved to the "
                     "nearest step")
    if q.get("collisions"):
        parts.append(f"{q['collisions']} collisions (two onsets of one part on one 16th step: the melody tokens "
                     "keep one)")
    return "quantised: " + "; ".join(parts) if parts else ""


def _quantisation_info(qs: Sequence[dict]) -> dict:
    return {"files with off-grid onsets": sum(bool(q.get("off_grid")) for q in qs),
            "off-grid onsets": sum(int(q.get("off_grid", 0)) for q in qs),
            "files with collisions": sum(bool(q.get("collisions")) for q in qs),
            "collisions": sum(int(q.get("collisions", 0)) for q in qs)}


def _meter_info(metas: Sequence[dict]) -> dict:
    """Tunes per stated meter (a tune with several counts once in each; 'none stated' when it states none), and
    how many tunes have bars of more than one length (see the meter maps)."""
    count: dict[str, int] = {}
    for m in metas:
        names = m["time_signatures"] if "time_signatures" in m else [x[1] for x in tune_meters(m)]
        for name in dict.fromkeys(names) or ["none stated"]:
            count[name] = count.get(name, 0) + 1
    changes = sum(len({x[1] for x in tune_meters(m)}) > 1 for m in metas)
    return {**dict(sorted(count.items(), key=lambda kv: -kv[1])),
            "tunes whose bars change length (meter changes, irregular bars)": changes}


def _write_build(out_dir: Path, kept: list[tuple[TuneRef, dict]], report: BuildReport, info: dict) -> None:
    index = []
    # a melody kept twice (a chorale harmonised twice, one tune in two books): one group, one split
    groups = same_tune_groups([ref.tune_id for ref, _ in kept],
                              [top_line_key(e["notes"], int(e["n_steps"])) for _, e in kept])
    with atomic_path(out_dir) as tmp:
        (tmp / "midi").mkdir(parents=True)
        for (ref, e), group in zip(kept, groups):
            pm = notes_to_midi(e["notes"], tempo=120.0)
            add_meters(pm, e.get("meters") or [], tempo=120.0)
            pm.write(str(tmp / "midi" / f"{ref.tune_id}.mid"))
            index.append({"tune_id": ref.tune_id, "source": ref.source, "file": ref.file, "number": ref.number,
                          "title": e["title"], "time_signature": e["time_signature"], "key": e["key"],
                          "n_steps": int(e["n_steps"]), "n_notes": int(len(e["notes"])),
                          "group": group, "split": split_of(group),
                          "time_signatures": e.get("time_signatures") or [],
                          "meters": e.get("meters") or [],
                          "quantisation": e.get("quantisation") or {"off_grid": 0, "collisions": 0}})
        report.info.update({"groups of copies": _groups_text(groups, "tunes with the same top line"),
                            "meters": _meter_info(index),
                            "quantisation": _quantisation_info([m["quantisation"] for m in index])})
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
    """Tunes as notes arrays (16th grid) with metadata; splits, melody tokens, piano rolls, meter-aware windows."""

    NOUN, ID_KEY = "tunes", "tune_id"

    def __init__(self, notes: list[np.ndarray], meta: list[dict], report: BuildReport | None = None,
                 root: Path | None = None):
        self.notes = notes
        self.meta = meta
        self.report = report or BuildReport("melodies")
        self.root = root
        self.window_tune_index: np.ndarray | None = None  # set by windows(): the tune of each window
        self.window_starts: np.ndarray | None = None  # set by windows(): the step each window starts at
        self.window_report: dict = {}  # set by windows(): what its meters let in and left out
        self._tokens: dict[int, np.ndarray] = {}
        self._bars: dict[int, tuple[np.ndarray, np.ndarray] | str] = {}

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

    def bars(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(start step, length in 16ths) of every bar of tune i, from its meter map (see bar_lines).

        Raises ValueError naming the tune when its meter cannot be placed on the 16th grid.
        """
        if i not in self._bars:
            try:
                self._bars[i] = bar_lines(tune_meters(self.meta[i]), int(self.meta[i]["n_steps"]))
            except ValueError as e:
                self._bars[i] = str(e)
        got = self._bars[i]
        if isinstance(got, str):
            raise ValueError(f"{self.meta[i].get('tune_id', i)}: {got}")
        return got

    def midi(self, i: int, tempo: float = 120.0):
        """Tune i as a PrettyMIDI with its meters (to listen to it with course_lib.synth.render).

        Notebook: 06_lstm_vae_melodies
        """
        pm = notes_to_midi(self.notes[i], tempo=tempo)
        add_meters(pm, tune_meters(self.meta[i]), tempo)
        return pm

    def windows(self, n_bars: int, steps_per_bar: int = 16, hop_bars: int | None = None, min_notes: int = 1,
                transpose: int = 0, meter: bool = True) -> np.ndarray:
        """All windows of n_bars bars of melody tokens, int64 (n_windows, n_bars * steps_per_bar).

        A window is n_bars bars in every meter. Bar lines come from each tune's meter map (meta['meters'],
        every change honoured; 4/4 when a tune states none), windows start on bar lines every hop_bars bars
        (default 1, as in MusicVAE) and lie wholly inside the tune. A bar of n/d is n * 16 / d sixteenth steps:
        4/4 and 2/2 = 16, 3/4 and 6/8 = 12, 2/4 = 8, 9/8 = 18, 12/8 = 24. One array holds windows of one length,
        so only bars of `steps_per_bar` steps are taken: the default 16 takes 4/4 and 2/2 bars (MusicVAE's
        melody data is 4/4 only, too); steps_per_bar=12 gives the 3/4 and 6/8 windows (2 bars = 24 steps),
        8 the 2/4 ones, 18 the 9/8 ones. Bars of other lengths (and irregular bars, e.g. a half bar at a
        repeat) give no window; self.window_report counts the tunes left out per meter and lists the tunes
        whose meter cannot be placed (a bar that is not a whole number of 16ths, e.g. 5/32). For a 4/4 tune the
        windows are exactly those of meter=False, which cuts every tune every steps_per_bar steps from step 0
        whatever its meter (the behaviour before meters were read).

        A window that starts in the middle of a note starts with that note's note-on instead of a hold. Windows
        with fewer than min_notes note-ons are skipped; transpose shifts note-ons by semitones, and windows that
        would leave the piano range are dropped. self.window_tune_index gets the tune of each window,
        self.window_starts the step of the tune where it starts.

        Notebook: 06_lstm_vae_melodies
        """
        L, hop = n_bars * steps_per_bar, hop_bars or 1
        out, owner, where = [], [], []
        rep: dict = {"n_bars": n_bars, "steps_per_bar": steps_per_bar, "meter": meter, "windows": 0,
                     "tunes": 0, "tunes_shorter": 0, "other_meters": {}, "unplaced": {}}
        for i in range(len(self)):
            tok = self.tokens(i)
            if meter:
                try:
                    starts_all, lengths = self.bars(i)
                except ValueError as e:
                    rep["unplaced"][self.meta[i].get("tune_id", str(i))] = str(e).split(": ", 1)[-1]
                    continue
                other = {m for st, m in tune_meters(self.meta[i]) or [[0, "4/4"]]
                         if meter_steps(m) not in (None, steps_per_bar)}
                for m in other:
                    rep["other_meters"][m] = rep["other_meters"].get(m, 0) + 1
                if len(tok) < L or len(lengths) < n_bars:
                    rep["tunes_shorter"] += 1
                    continue
                full = np.lib.stride_tricks.sliding_window_view(lengths == steps_per_bar, n_bars).all(axis=1)
                k = np.flatnonzero(full)
                starts = starts_all[k[k % hop == 0]]
                starts = starts[starts + L <= len(tok)]
            else:
                if len(tok) < L:
                    rep["tunes_shorter"] += 1
                    continue
                starts = np.arange(0, len(tok) - L + 1, hop * steps_per_bar)
            if len(starts) == 0:
                continue
            events = np.where(tok != MELODY_HOLD, np.arange(len(tok)), -1)
            last_event = np.maximum.accumulate(events)  # index of the latest note-on/off at or before each step
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
            where.append(starts[keep].astype(np.int64))
            rep["tunes"] += bool(keep.any())
        self.window_tune_index = np.concatenate(owner) if owner else np.zeros(0, np.int64)
        self.window_starts = np.concatenate(where) if where else np.zeros(0, np.int64)
        rep["windows"] = int(len(self.window_tune_index))
        rep["other_meters"] = dict(sorted(rep["other_meters"].items(), key=lambda kv: -kv[1]))
        self.window_report = rep
        return np.concatenate(out).astype(np.int64) if out else np.zeros((0, L), np.int64)

    def window_summary(self) -> str:
        """The last windows() call in words: windows, tunes used, meters left out, tunes whose meter cannot be placed.

        Notebook: 06_lstm_vae_melodies
        """
        r = self.window_report
        if not r:
            return "no windows cut yet (call windows() first)"
        text = (f"{r['n_bars']}-bar windows of {r['steps_per_bar']}-step bars: {r['windows']} windows from "
                f"{r['tunes']} of {len(self)} tunes")
        if r["other_meters"]:
            text += ("; bars of other meters not used (tunes): "
                     + ", ".join(f"{m} = {meter_steps(m)} steps ({n})" for m, n in r["other_meters"].items()))
        if r["unplaced"]:
            text += f"; {len(r['unplaced'])} tunes whose meter cannot be placed: " + ", ".join(
                f"{t} ({why})" for t, why in list(r["unplaced"].items())[:5])
        return text

    def sample_windows(self, n_bars: int, n: int, seed: int, transpose: Sequence[int] = (0,),
                       steps_per_bar: int = 16, meter: bool = True) -> torch.Tensor:
        """A seeded random subset of at most n windows (all shifts in `transpose` pooled), kept in order.

        The windows of every shift are concatenated (shift by shift, as `windows` gives them, meter-aware unless
        meter=False), then n distinct rows are drawn with numpy's default_rng(seed) and sorted, so a subset never
        depends on torch's state.
        """
        import torch

        w = np.concatenate([self.windows(n_bars, steps_per_bar, transpose=k, meter=meter) for k in transpose])
        idx = np.sort(np.random.default_rng(seed).choice(len(w), size=min(int(n), len(w)), replace=False))
        return torch.from_numpy(w[idx])


def split_leaks(mset: MelodySet, n_bars: int = 2, steps_per_bar: int = 16) -> dict:
    """What the splits of a melody set share: tune groups, whole top lines, and windows (not paths).

    Returns {'groups': group keys found in more than one split (meta['group'], else the tune id),
    'same_top_line': lists of tune ids in several splits whose top lines are the same up to transposition,
    'windows_in_train': {split: [valid/test windows whose exact content is also a training window, windows]}}.

    Notebook: 06_lstm_vae_melodies
    """
    groups: dict[str, set[str]] = {}
    contents: dict[str, list[int]] = {}
    for i, m in enumerate(mset.meta):
        groups.setdefault(str(m.get("group") or m[MelodySet.ID_KEY]), set()).add(m["split"])
        key = top_line_key(mset.notes[i], m["n_steps"])
        if key is not None:
            contents.setdefault(key, []).append(i)
    same = [[mset.meta[i][MelodySet.ID_KEY] for i in idx] for idx in contents.values()
            if len({mset.meta[i]["split"] for i in idx}) > 1]
    train = {w.tobytes() for w in mset.split("train").windows(n_bars, steps_per_bar)}
    shared = {}
    for s in SPLITS[1:]:
        w = mset.split(s).windows(n_bars, steps_per_bar)
        shared[s] = [int(sum(x.tobytes() in train for x in w)), int(len(w))]
    return {"groups": sorted(g for g, sp in groups.items() if len(sp) > 1), "same_top_line": same,
            "windows_in_train": shared}


# ---------------------------------------------------------------------------------------------- loading

def _midi_quantisation(pm) -> dict:
    """Off-grid onsets and collisions of a PrettyMIDI on the 16th grid, per track (drums left out)."""
    ticks_per_step = pm.resolution / STEPS_PER_QUARTER
    off = coll = 0
    for inst in pm.instruments:
        if inst.is_drum or not inst.notes:
            continue
        ticks = np.unique([pm.time_to_tick(n.start) for n in inst.notes]) / ticks_per_step
        steps = np.array([int(round(t)) for t in ticks])  # as midi_to_notes rounds
        off += int((np.abs(ticks - steps) > OFF_GRID).sum())
        coll += int(len(ticks) - len(np.unique(steps)))
    return {"off_grid": off, "collisions": coll}


def texture(notes: np.ndarray) -> dict:
    """How a tune's notes sound together: {'kind': 'monophonic' | 'polyphonic' | 'chords', 'polyphony', 'chords'}.

    polyphony: the share of sounding steps with 2+ notes; chords: per track, the share of its onset steps that
    start CHORD_SIZE+ notes (the smallest over tracks). 'chords' (an accompaniment, no melody) when every track is
    mostly chords (>= CHORD_SHARE), 'polyphonic' when 2+ notes sound in >= POLYPHONIC_SHARE of the steps.
    """
    notes = np.asarray(notes).reshape(-1, 5)
    T = int(notes[:, END].max(initial=0))
    delta = np.zeros(T + 1, np.int64)
    np.add.at(delta, notes[:, START], 1)
    np.add.at(delta, notes[:, END], -1)
    sounding = np.cumsum(delta)[:T]
    poly = float((sounding >= 2).sum() / max(int((sounding >= 1).sum()), 1))
    chordal = []
    for t in np.unique(notes[:, TRACK]):
        _, per_onset = np.unique(notes[notes[:, TRACK] == t, START], return_counts=True)
        chordal.append(float((per_onset >= CHORD_SIZE).mean()))
    chords = min(chordal) if chordal else 0.0
    kind = "chords" if chords >= CHORD_SHARE else "polyphonic" if poly >= POLYPHONIC_SHARE else "monophonic"
    return {"kind": kind, "polyphony": round(poly, 3), "chords": round(chords, 3),
            "tracks": int(len(chordal))}


def _read_midi_file(path: Path) -> tuple[np.ndarray, dict, int]:
    """One MIDI file to (notes folded into the piano range, metadata, notes moved); DataError when unusable.

    The metadata holds time_signature (the first), time_signatures, meters (see the module doc), key, n_steps and
    quantisation ({'off_grid': n, 'collisions': n}).
    """
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
    meters = _midi_meters(pm)
    meta = {"time_signature": f"{ts.numerator}/{ts.denominator}" if ts else None,
            "key": pretty_midi.key_number_to_key_name(ks.key_number) if ks else None, "n_steps": n_steps,
            "time_signatures": list(dict.fromkeys(m for _, m in meters)), "meters": meters,
            "quantisation": _midi_quantisation(pm)}
    return notes, meta, moved


def group_copies(files: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """{relative path: group key} for files given as (relative path, content key or None).

    Files with the same name (stem, any case and suffix) in several folders, or the same content key (see
    top_line_key), are one group; the key of a group is its shallowest member's path (then alphabetical), so a
    file without copies is its own group and keeps the split its path gave it.
    """
    rank = {r: (r.count("/"), r) for r, _ in files}
    parent = {r: r for r, _ in files}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    firsts: dict[tuple[str, str], str] = {}
    for rel, content in files:
        for key in (("stem", Path(rel).stem.lower()), ("content", content)):
            if key[1] is None:
                continue
            if key in firsts:
                a, b = find(firsts[key]), find(rel)
                if a != b:
                    lo, hi = sorted((a, b), key=rank.__getitem__)
                    parent[hi] = lo
            else:
                firsts[key] = rel
    return {r: find(r) for r, _ in files}


def _midi_folder_key(base: Path, found: list[tuple[Path, str]], skipped: list[dict]) -> str:
    stats = [(rel, *file_stamp(f)) for f, rel in found]  # ctime and mode: a chmod or a rewrite changes the key
    return digest(CACHE_VERSION, "midi-folder-2", base.resolve(), json.dumps(stats), json.dumps(skipped))[:16]


def load_midi_folder(path: str | os.PathLike, progress: bool = True) -> MelodySet:
    """Read every MIDI file under a folder (recursively), or one MIDI file, into a MelodySet; all is reported.

    Files: symlinked folders are followed once; broken symlinks, symlink loops, unreadable files ("permission
    denied: chmod +r FILE"), empty, truncated or note-less files are skipped and listed in .report.skipped with
    the reason; notes outside 21..108 are moved by octaves (.report.fixed).
    Copies: files holding the same tune (same name in several subfolders, or the same top line up to
    transposition) form a group; the split comes from the group key (group_copies), so copies share a split.
    Texture: a file whose every track is mostly chords (chords only, an accompaniment) is skipped (its top line
    is not a melody; the tune's melody copies are kept); a polyphonic file is kept with a warning (the melody
    tokens keep its top line). Quantisation: onsets moved to the 16th grid and collisions (two onsets on one
    step) are counted per file (.report.warnings). .report.info lists the groups, the files per subfolder, the
    textures, the meters present and the quantisation totals; .meta has each tune's group, meters, texture and
    quantisation.
    The arrays are cached under data_root()/cache/midi/, keyed by the files' sizes, mtimes, ctimes and
    permissions; a set served from the cache says so (.report.from_cache, and the summary).

    Notebook: 06_lstm_vae_melodies
    """
    from tqdm.auto import tqdm

    given, base, found, scan = scan_folder(path, MIDI_SUFFIXES, "MIDI", MAKE_DATA_FIX)
    cache = context.data_root() / "cache" / "midi" / f"{_midi_folder_key(given, found, scan.skipped)}.npz"
    if cache.exists():
        try:
            return _load_npz_set(cache, base)
        except Exception:  # a damaged cache is rebuilt
            pass
    report = scan
    per_folder: dict[str, int] = {}
    for _, rel in found:
        folder = rel.rsplit("/", 1)[0] if "/" in rel else "."
        per_folder[folder] = per_folder.get(folder, 0) + 1
    read: list[tuple[str, np.ndarray, dict, int, dict]] = []
    for f, rel in tqdm(found, desc="reading MIDI", unit="file", disable=not progress):
        try:
            notes, m, moved = _read_midi_file(f)
        except DataError as e:
            report.skip(rel, str(e))
            continue
        read.append((rel, notes, m, moved, texture(notes)))
    # chords-only files are grouped by name only: one progression's top line recurs in many tunes
    groups = group_copies([(rel, top_line_key(notes, m["n_steps"]) if tex["kind"] != "chords" else None)
                           for rel, notes, m, _, tex in read])
    notes_list, meta = [], []
    for rel, notes, m, moved, tex in read:
        if tex["kind"] == "chords":
            report.skip(rel, f"looks like an accompaniment, not a melody: {tex['chords']:.0%} of its onsets start "
                             f"chords of {CHORD_SIZE}+ notes in every track (chords only); skipped, its copies "
                             "with the melody are kept")
            continue
        if tex["kind"] == "polyphonic":
            report.warn(rel, f"polyphonic: 2+ notes sound in {tex['polyphony']:.0%} of its steps ({tex['tracks']} "
                             "tracks); kept, the melody tokens keep its top line")
        if moved:
            report.fix(rel, f"moved {moved} notes by octaves into 21..108")
        loss = _quantisation_text(m["quantisation"])
        if loss:
            report.warn(rel, loss)
        try:
            bar_lines(m["meters"], m["n_steps"])
        except ValueError as e:
            report.warn(rel, f"{e}: kept, but it gives no meter-aware windows")
        notes_list.append(notes)
        meta.append({"tune_id": rel, "source": base.name, "file": rel, "number": 0, "title": Path(rel).stem,
                     **m, "texture": tex["kind"], "group": groups[rel], "n_notes": int(len(notes)),
                     "split": split_of(groups[rel])})
    report.kept = len(notes_list)
    members: dict[str, list[str]] = {}
    for rel, key in groups.items():
        members.setdefault(key, []).append(rel)
    copies = [sorted(v, key=lambda r: (r.count("/"), r)) for v in members.values() if len(v) > 1]
    report.info.update({
        "files per folder": dict(sorted(per_folder.items())),
        "groups of copies": (f"{len(copies)} groups hold {sum(map(len, copies))} files (same name in several "
                             "folders or the same top line); each group is in one split"
                             + (": e.g. " + "; ".join(" + ".join(g[:4]) for g in copies[:3]) if copies else "")),
        "textures": {k: sum(t["kind"] == k for *_, t in read) for k in ("monophonic", "polyphonic", "chords")},
        "meters": _meter_info(meta),
        "quantisation": _quantisation_info([m["quantisation"] for m in meta]),
    })
    offsets = np.cumsum([0] + [len(n) for n in notes_list]).astype(np.int64)
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, notes=np.concatenate(notes_list) if notes_list else empty_notes(), offsets=offsets,
                 meta=np.array(json.dumps(meta)), report=np.array(json.dumps(report.to_dict())))
    return MelodySet(notes_list, meta, report, base)


def _split_notes(notes: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [notes[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def _load_npz_set(path: Path, root: Path) -> MelodySet:
    with np.load(path) as z:
        notes, offsets = z["notes"], z["offsets"]
        meta, rep = json.loads(str(z["meta"])), json.loads(str(z["report"]))
    return MelodySet(_split_notes(notes, offsets), meta, BuildReport.from_dict(rep, from_cache=path), root)


def load_melodies(path: str | os.PathLike | None = None, progress: bool = True) -> MelodySet:
    """Open a built melodies set (index.json), any folder of MIDI files or one MIDI file; default: the profile's set."""
    root = Path(path).expanduser() if path is not None else context.data_dir("melodies")
    if not root.exists():
        raise DataError(f"{root}: not found. {MAKE_DATA_FIX}")
    if root.is_file() or not (root / "index.json").exists():
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
    report = BuildReport.from_dict({"name": "melodies", "kept": len(meta), **rep})
    report.info.setdefault("meters", _meter_info(meta))
    tunes = _split_notes(notes, offsets)
    # copies of one melody share a split (a build made before tunes were grouped stored them apart)
    groups = same_tune_groups([m["tune_id"] for m in meta],
                              [top_line_key(n, int(m["n_steps"])) for n, m in zip(tunes, meta)])
    moved = 0
    for m, g in zip(meta, groups):
        if g != m["tune_id"] and m["split"] != split_of(g):
            m["split"], moved = split_of(g), moved + 1
        m["group"] = g
    text = _groups_text(groups, "tunes with the same top line")
    report.info["groups of copies"] = text + (f"; {moved} tunes moved from the split stored in index.json (built "
                                              "before copies were grouped)" if moved else "")
    if meta and not any("meters" in m for m in meta):
        report.info["meter changes"] = ("not stored in this build (it keeps each tune's first meter only); rebuild "
                                        "with `python -m course_lib.data build --only melodies --force` to honour "
                                        "them")
    return MelodySet(tunes, meta, report, root)
