"""The songs dataset and paper 001's raw-audio preprocessing.

* `build_songs(out_dir, melodies, n_songs, seconds)` renders multi-instrument, "electronic-ish" songs at
  44.1 kHz through FluidSynth, so that the data is closer to paper 001's Beatport EDM than a folk tune is:
  one tune of a MelodySet is looped at 118-128 bpm with a lead (the melody), a chord track (a triad per bar),
  a bass (the chord root) and four-on-the-floor drums. Layout (written atomically, as one folder)::

      <out_dir>/<split>/<song_id>.wav   16-bit PCM, mono, 44.1 kHz, exactly round(seconds * 44100) samples
      <out_dir>/index.json              [{song_id, split, tune_id, programs, patterns, tempo, seconds, ...}]
      <out_dir>/build_report.json

  A song inherits the split of its tune, so songs are split by song and no tune is heard in two splits.
* `load_audio_folder(path)` reads any folder of audio (.wav/.flac/.ogg/.mp3: our build, or the Beatport EDM
  Key set) as an `AudioSet` at 4410 Hz (anti-aliased resampling); bad files are skipped and reported, never fatal.
* `segments`, `song_segments`, `whole_song_rfft_chunks`, `downsample`: the preprocessing of paper 001.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import audio, context
from ..midi import END, PITCH, START, STEPS_PER_QUARTER, fold_to_piano, melody_tokens, tokens_to_notes
from ..io import atomic_path, digest, write_json_atomic
from ..synth import Synth, require_fluidsynth
from .base import SPLITS, SplitSet
from .common import BuildReport, DataError, file_stamp, read_wav, scan_folder, write_wav
from .melodies import MelodySet, split_of

SAMPLE_RATE = 44100  # what build_songs renders (paper 001's source rate)
PAPER_SR = 4410  # paper 001: 44.1 kHz "down-sampled by a factor of ten"
SEG_LEN = 13230  # paper 001: 3 s at 4410 Hz
STEPS_PER_BAR = 16  # 4/4 on the 16th grid; other meters are played as if they were 4/4
MIN_NOTES = 16  # tunes with fewer notes are used only when nothing else is left
TEMPO_RANGE = (118, 128)  # bpm, both included
GAIN = 0.5  # FluidSynth gain: fixed, so loudness differs between songs as in real music
HEADROOM_PEAK = 0.9  # a mono peak above this may hide a clipped channel: the song is re-rendered quieter
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # what soundfile (libsndfile >= 1.1) decodes
MIN_SECONDS = 1.0  # shorter files are skipped by load_audio_folder
CACHE_VERSION = 1
DATA_FIX = "run `make data`, or point COURSE_SONGS at a folder of audio files (.wav / .flac / .ogg / .mp3)"

# General MIDI programs each part draws from (all audible in TimGM6mb over the ranges used here).
LEAD_PROGRAMS = (56, 61, 62, 63, 64, 65, 66, 68, 71, 80, 81, 82, 83, 84, 85, 86, 87)  # brass, reeds, synth leads
CHORD_PROGRAMS = (4, 5, 16, 18, 48, 50, 51, 88, 89, 90, 91, 92, 94, 95)  # e-pianos, organs, strings, pads
BASS_PROGRAMS = (33, 34, 35, 36, 38, 39, 87)  # electric, slap and synth basses, bass + lead
CHORD_STYLES = ("sustain", "half", "offbeat")  # one chord a bar, two a bar, stabs on the offbeat 8ths
BASS_PATTERNS = ("offbeat8", "quarter")
KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT = 36, 38, 39, 42, 46


# ---------------------------------------------------------------------------------------------- one song

def bar_chords(notes: np.ndarray, n_bars: int, steps_per_bar: int = STEPS_PER_BAR) -> list[tuple[int, bool]]:
    """One triad per bar, (root pitch class, is_major), from the pitch classes sounding in the bar.

    Each pitch class is weighted by how long it sounds in the bar; the root is the pitch class whose triad
    (root, best third, fifth) collects most weight, major when its major third outweighs its minor third.
    A bar without notes keeps the previous chord (the first one: the chord of the whole tune).
    """
    notes = np.asarray(notes).reshape(-1, 5)
    w = np.zeros((n_bars, 12))
    for p, s, e in notes[:, [PITCH, START, END]].tolist():
        for b in range(s // steps_per_bar, min((e - 1) // steps_per_bar, n_bars - 1) + 1):
            w[b, p % 12] += min(e, (b + 1) * steps_per_bar) - max(s, b * steps_per_bar)
    fallback = _triad(w.sum(axis=0))
    chords, prev = [], fallback
    for b in range(n_bars):
        prev = _triad(w[b]) if w[b].sum() > 0 else prev
        chords.append(prev)
    return chords


def _triad(w: np.ndarray) -> tuple[int, bool]:
    r = np.arange(12)
    score = 1.1 * w[r] + np.maximum(w[(r + 3) % 12], w[(r + 4) % 12]) + w[(r + 7) % 12]
    root = int(np.argmax(score))
    return root, bool(w[(root + 4) % 12] >= w[(root + 3) % 12])


def _lead_notes(notes: np.ndarray, n_steps: int) -> np.ndarray:
    """The tune's top line (monophonic), moved by whole octaves so that its median pitch lies near 72."""
    notes, _ = fold_to_piano(notes)
    lead = tokens_to_notes(melody_tokens(notes, n_steps=n_steps))
    lead[:, PITCH] += 12 * int(round((72 - float(np.median(lead[:, PITCH]))) / 12))
    while lead[:, PITCH].max() > 88 and lead[:, PITCH].min() - 12 >= 48:
        lead[:, PITCH] -= 12
    return lead


def _add(inst, pitch: int, start: int, end: int, velocity: int, sec: float, seconds: float) -> None:
    import pretty_midi

    if start * sec < seconds:
        inst.notes.append(pretty_midi.Note(velocity=int(np.clip(velocity, 1, 127)), pitch=int(pitch),
                                           start=start * sec, end=end * sec))


def song_midi(notes: np.ndarray, rng: np.random.Generator, seconds: float, n_steps: int | None = None,
              drums: bool = True):
    """A looped song from one tune as a PrettyMIDI: lead, chords, bass and drums, drawn from rng.

    Tempo (118-128 bpm), programs and patterns come from `rng`; every draw is made whether or not `drums`
    is set, so drums=False gives the same song without its drum track. Instruments are named
    '<part>/<pattern>' (lead, chords, bass, drums); bars are always 16 steps (4/4).
    """
    import pretty_midi

    notes = np.asarray(notes).reshape(-1, 5)
    if len(notes) == 0:
        raise ValueError("song_midi needs a tune with at least one note")
    n_steps = int(notes[:, END].max()) if n_steps is None else max(int(n_steps), int(notes[:, END].max()))
    tempo = int(rng.integers(TEMPO_RANGE[0], TEMPO_RANGE[1] + 1))
    progs = {"lead": int(rng.choice(LEAD_PROGRAMS)), "chords": int(rng.choice(CHORD_PROGRAMS)),
             "bass": int(rng.choice(BASS_PROGRAMS)), "drums": 0}
    style, bass_pat = str(rng.choice(CHORD_STYLES)), str(rng.choice(BASS_PATTERNS))
    snare, open_hats = int(rng.choice([SNARE, CLAP])), bool(rng.random() < 0.5)
    vel = {"lead": int(rng.integers(95, 116)), "chords": int(rng.integers(60, 81)),
           "bass": int(rng.integers(90, 111)), "drums": int(rng.integers(95, 116))}

    sec = 60.0 / (tempo * STEPS_PER_QUARTER)  # seconds per 16th step
    n_bars = math.ceil(n_steps / STEPS_PER_BAR)
    loop = n_bars * STEPS_PER_BAR
    n_loops = math.ceil(seconds / (loop * sec))
    lead_notes, chords = _lead_notes(notes, n_steps), bar_chords(notes, n_bars)
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=float(tempo))
    lead = pretty_midi.Instrument(progs["lead"], name="lead/melody")
    pad = pretty_midi.Instrument(progs["chords"], name=f"chords/{style}")
    bass = pretty_midi.Instrument(progs["bass"], name=f"bass/{bass_pat}")
    kit = pretty_midi.Instrument(0, is_drum=True, name=f"drums/{'clap' if snare == CLAP else 'snare'}"
                                                       f"{'+open-hats' if open_hats else ''}")
    for k in range(n_loops):
        off = k * loop
        for p, s, e in lead_notes[:, [PITCH, START, END]].tolist():
            _add(lead, p, off + s, off + e, vel["lead"], sec, seconds)
        for b, (root, major) in enumerate(chords):
            t0 = off + b * STEPS_PER_BAR
            low = 48 + root  # triad in 48..66
            triad = (low, low + (4 if major else 3), low + 7)
            hits = {"sustain": [(0, 16)], "half": [(0, 8), (8, 16)], "offbeat": [(s, s + 2) for s in (2, 6, 10, 14)]}
            for a, z in hits[style]:
                for p in triad:
                    _add(pad, p, t0 + a, t0 + z, vel["chords"], sec, seconds)
            steps = (2, 6, 10, 14) if bass_pat == "offbeat8" else (0, 4, 8, 12)
            for s in steps:
                _add(bass, 36 + root, t0 + s, t0 + s + (2 if bass_pat == "offbeat8" else 3), vel["bass"], sec, seconds)
            for s in range(0, STEPS_PER_BAR, 2):
                accent = vel["drums"] if s % 4 == 0 else vel["drums"] - 15
                _add(kit, OPEN_HAT if open_hats and s % 4 == 2 else CLOSED_HAT, t0 + s, t0 + s + 1,
                     accent - 25, sec, seconds)
                if s % 4 == 0:
                    _add(kit, KICK, t0 + s, t0 + s + 1, vel["drums"], sec, seconds)
                if s in (4, 12):
                    _add(kit, snare, t0 + s, t0 + s + 1, vel["drums"], sec, seconds)
    pm.instruments += [lead, pad, bass] + ([kit] if drums else [])
    return pm


def song_info(pm) -> dict:
    """Tempo, programs and patterns of a song made by song_midi (what index.json records)."""
    parts = {inst.name.split("/")[0]: inst for inst in pm.instruments}
    return {"tempo": round(float(pm.get_tempo_changes()[1][0]), 3),
            "programs": {k: int(v.program) for k, v in parts.items()},
            "patterns": {k: v.name.split("/", 1)[1] for k, v in parts.items()}}


# ---------------------------------------------------------------------------------------------- building

def song_split_counts(n_songs: int) -> dict[str, int]:
    """Songs per split for n_songs: about 80/10/10, at least one valid and one test song from 3 on."""
    n_valid = max(1, round(0.1 * n_songs)) if n_songs >= 3 else 0
    n_test = max(1, round(0.1 * n_songs)) if n_songs >= 3 else 0
    return {"train": n_songs - n_valid - n_test, "valid": n_valid, "test": n_test}


def pick_tunes(melodies: MelodySet, n_songs: int, seed: int = 0,
               report: BuildReport | None = None) -> list[int]:
    """Tune indices for n_songs songs, stratified 80/10/10 by the tunes' own splits; seeded.

    Within a split, tunes with >= 16 notes come first (in a seeded order); a tune is reused only when the
    split has fewer tunes than songs. A split without tunes gives its songs to train (reported).
    """
    rng = np.random.default_rng([seed, 0])
    by_split = {s: [i for i, m in enumerate(melodies.meta) if m.get("split") == s and len(melodies.notes[i])]
                for s in SPLITS}
    counts = song_split_counts(n_songs)
    for s in ("valid", "test"):
        if counts[s] and not by_split[s]:
            if report is not None:
                report.fix(s, f"no {s} tunes in the melody set: its {counts[s]} songs go to train")
            counts["train"] += counts.pop(s)
            counts[s] = 0
    if counts["train"] and not by_split["train"]:
        raise DataError("the melody set has no training tunes with notes. Rebuild it (`make data`) or pass "
                        "a bigger MelodySet to build_songs.")
    picked: list[int] = []
    for s in SPLITS:
        pool = by_split[s]
        rich = [pool[i] for i in rng.permutation(len(pool)) if len(melodies.notes[pool[i]]) >= MIN_NOTES]
        poor = sorted(set(pool) - set(rich))
        order = rich + [poor[i] for i in rng.permutation(len(poor))]
        picked += [order[k % len(order)] for k in range(counts[s])] if order else []
    return picked


def build_songs(out_dir: str | os.PathLike, melodies: MelodySet, n_songs: int, seconds: float, seed: int = 0,
                sample_rate: int = SAMPLE_RATE, progress: bool = True) -> BuildReport:
    """Render n_songs looped multi-instrument songs of `seconds` each into out_dir, atomically.

    Layout: <split>/<song_id>.wav (16-bit mono, exactly round(seconds * sample_rate) samples), index.json,
    build_report.json. Fixed synth gain (no normalisation); a song whose peak leaves too little headroom
    is re-rendered at half the gain and reported as a fix.
    """
    from tqdm.auto import tqdm

    require_fluidsynth()
    if n_songs < 1 or seconds <= 0:
        raise ValueError(f"need n_songs >= 1 and seconds > 0, got {n_songs}, {seconds}")
    if len(melodies) == 0:
        raise DataError("the melody set is empty. Run `make data` to build the melodies first.")
    t0, out_dir = time.perf_counter(), Path(out_dir)
    report = BuildReport("songs build")
    n_samples = int(round(seconds * sample_rate))
    index, peaks = [], []
    with atomic_path(out_dir) as tmp, Synth(sample_rate, gain=GAIN) as synth:
        for s in SPLITS:
            (tmp / s).mkdir(parents=True)
        tunes = pick_tunes(melodies, n_songs, seed, report)
        for k, ti in enumerate(tqdm(tunes, desc="rendering songs", unit="song", disable=not progress)):
            meta = melodies.meta[ti]
            song_id = f"song-{k:04d}"
            pm = song_midi(melodies.notes[ti], np.random.default_rng([seed, 1, k]), seconds, meta.get("n_steps"))
            x, gain = _render(synth, pm, seconds, n_samples, f"{meta['split']}/{song_id}", report)
            write_wav(tmp / meta["split"] / f"{song_id}.wav", x, sample_rate)
            peaks.append(float(np.abs(x).max()))
            index.append({"song_id": song_id, "split": meta["split"], "path": f"{meta['split']}/{song_id}.wav",
                          "tune_id": meta["tune_id"], **song_info(pm), "seconds": float(seconds),
                          "sample_rate": sample_rate, "gain": gain, "peak": round(peaks[-1], 4)})
        report.kept = len(index)
        write_json_atomic(tmp / "index.json", index)
        info = {"n_songs": n_songs, "seconds": seconds, "seed": seed, "sample_rate": sample_rate, "gain": GAIN,
                "per_split": {s: sum(e["split"] == s for e in index) for s in SPLITS},
                "n_tunes": len(set(tunes)), "max_peak": round(max(peaks), 4), "soundfont": str(synth.soundfont),
                "wall_s": round(time.perf_counter() - t0, 2)}
        write_json_atomic(tmp / "build_report.json", {**report.to_dict(), **info})
    return report


def _render(synth: Synth, pm, seconds: float, n_samples: int, name: str,
            report: BuildReport) -> tuple[np.ndarray, float]:
    """Render at the fixed gain; re-render at half the gain (reported) while the peak leaves too little headroom."""
    gain, x = GAIN, synth.render(pm, duration_s=seconds)
    while np.abs(x).max() > HEADROOM_PEAK and gain > GAIN / 64:
        peak, gain = float(np.abs(x).max()), gain / 2
        with Synth(synth.sample_rate, gain=gain) as quiet:
            x = quiet.render(pm, duration_s=seconds)
        report.fix(name, f"peak {peak:.3f} > {HEADROOM_PEAK} (risk of clipping): re-rendered at gain {gain:g}")
    return np.pad(x[:n_samples], (0, max(0, n_samples - len(x)))), gain


# ---------------------------------------------------------------------------------------------- loading

class AudioSet(SplitSet):
    """Songs as 1-D float32 tensors of varying length at one sample rate, with metadata and a report."""

    NOUN, ID_KEY = "songs", "song_id"

    def __init__(self, audio: list[torch.Tensor], meta: list[dict], report: BuildReport, sample_rate: int,
                 root: Path | None = None):
        self.audio, self.meta, self.report = audio, meta, report
        self.sample_rate, self.root = int(sample_rate), root

    def subset(self, idx: Sequence[int]) -> "AudioSet":
        """The songs at the positions idx, in that order."""
        return AudioSet([self.audio[i] for i in idx], [self.meta[i] for i in idx], self.report,
                        self.sample_rate, self.root)

    def _repr_parts(self) -> list[str]:
        return [f"{len(self)} songs", f"{self.total_seconds:.0f} s at {self.sample_rate} Hz", str(self.per_split())]

    @property
    def total_seconds(self) -> float:
        """The length of all songs together, in seconds. Notebook: 02_fc_vs_conv_autoencoders."""
        return sum(len(x) for x in self.audio) / self.sample_rate


def _folder_split(rel: str, has_split_dirs: bool) -> str:
    first = rel.split("/", 1)[0]
    return first if has_split_dirs and first in SPLITS and "/" in rel else split_of(rel)


def load_audio_folder(path: str | os.PathLike, sample_rate: int = PAPER_SR, progress: bool = True,
                      cache: bool = True) -> AudioSet:
    """Every audio file under a folder as an AudioSet, mono at sample_rate; bad files are reported.

    Reads .wav/.flac/.ogg/.mp3 recursively. Splits come from train/ valid/ test/ subfolders when the folder
    has them, else from a hash of the
    relative path (80/10/10). Unreadable, empty or < 1 s files are skipped with the reason; downmixing and
    resampling are listed as fixes. The resampled arrays are cached under data_root()/cache/audio/.
    """
    from tqdm.auto import tqdm

    given, root, found, report = scan_folder(path, AUDIO_SUFFIXES, "audio", f"To get songs, {DATA_FIX}.")
    files, rels = [f for f, _ in found], [r for _, r in found]
    stats = [(r, *file_stamp(f)) for r, f in zip(rels, files)]  # ctime and mode: a chmod changes the key
    key = digest(CACHE_VERSION, given.resolve(), json.dumps(stats), json.dumps(report.skipped), sample_rate)
    cache_file = context.data_root() / "cache" / "audio" / f"{key[:16]}.pt"
    if cache and cache_file.exists():
        try:
            return _load_cache(cache_file, root)
        except Exception:  # a damaged cache file is rebuilt
            pass
    has_split_dirs = any((root / s).is_dir() for s in SPLITS)
    known = _read_index(root)
    out, meta = [], []
    for f, rel in zip(tqdm(files, desc="reading audio", unit="file", disable=not progress), rels):
        x = _read_one(f, rel, sample_rate, report)
        if x is None:
            continue
        info = known.get(rel, {})
        out.append(torch.from_numpy(np.ascontiguousarray(x)))
        meta.append({**info, "song_id": info.get("song_id", rel.rsplit(".", 1)[0]), "path": rel,
                     "split": _folder_split(rel, has_split_dirs), "seconds": len(x) / sample_rate})
    report.kept = len(out)
    if not out:
        raise DataError(f"{root}: none of its {len(files)} audio files could be used. To get songs, {DATA_FIX}."
                        f"\n{report.summary()}")
    if cache:
        _save_cache(cache_file, out, meta, report, sample_rate)
    return AudioSet(out, meta, report, sample_rate, root)


def _read_index(root: Path) -> dict[str, dict]:
    """index.json of a build_songs folder, keyed by relative path ({} for any other folder)."""
    try:
        entries = json.loads((root / "index.json").read_text())
        return {e["path"]: {k: v for k, v in e.items() if k not in ("seconds", "sample_rate")} for e in entries}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _read_one(f: Path, rel: str, sample_rate: int, report: BuildReport) -> np.ndarray | None:
    """One file at sample_rate, mono; None (skipped, with the reason in the report) when unusable."""
    local = BuildReport(rel)
    try:
        x, _ = read_wav(f, sample_rate=sample_rate, mono=True, report=local)
    except DataError as e:
        report.skip(rel, str(e).replace(f"{f}: ", "", 1))
        return None
    except Exception as e:  # a decoder or resampler failure: never fatal
        report.skip(rel, f"could not be read ({type(e).__name__}: {e}). Re-export or delete it.")
        return None
    if len(x) < MIN_SECONDS * sample_rate:
        report.skip(rel, f"only {len(x) / sample_rate:.2f} s long (< {MIN_SECONDS:g} s)")
        return None
    report.merge(local, rel)
    return x


def _save_cache(path: Path, out: list[torch.Tensor], meta: list[dict], report: BuildReport,
                sample_rate: int) -> None:
    with atomic_path(path) as tmp:  # a list of tensors: no concatenated copy of a large set in memory
        torch.save({"audio": out, "sample_rate": sample_rate,
                    "meta": json.dumps(meta), "report": json.dumps(report.to_dict())}, tmp)


def _load_cache(path: Path, root: Path) -> AudioSet:
    d = torch.load(path, weights_only=True)
    report = BuildReport.from_dict(json.loads(d["report"]), from_cache=path)
    return AudioSet(list(d["audio"]), json.loads(d["meta"]), report, int(d["sample_rate"]), root)


# ---------------------------------------------------------------------------------------------- paper 001

def segments(x: torch.Tensor, seg_len: int = SEG_LEN, hop: int | None = None) -> torch.Tensor:
    """A 1-D waveform as (n, seg_len) windows every `hop` samples (default: no overlap), tail dropped.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    x = audio.to_tensor(x)
    if x.dim() != 1:
        raise ValueError(f"segments expects a 1-D waveform, got shape {tuple(x.shape)}")
    seg_len = int(seg_len)
    hop = seg_len if hop is None else int(hop)
    if seg_len <= 0 or hop <= 0:
        raise ValueError(f"seg_len and hop must be positive, got {seg_len}, {hop}")
    if len(x) < seg_len:
        return x.new_zeros((0, seg_len))
    return x.unfold(0, seg_len, hop).contiguous()


def song_segments(songs: AudioSet, seg_len: int = SEG_LEN) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per split: (segments float32 (n, seg_len), song index (n,) int64 into `songs`), in time order.

    Consecutive rows with the same song index are consecutive 3-s pieces of that song, so a model's
    outputs can be glued back together (and the seams heard).

    Notebook: 02_fc_vs_conv_autoencoders
    """
    out = {}
    for s in SPLITS:
        idx = [i for i, m in enumerate(songs.meta) if m["split"] == s]
        segs = [segments(songs.audio[i], seg_len).float() for i in idx]
        owner = [torch.full((len(g),), i, dtype=torch.int64) for i, g in zip(idx, segs)]
        out[s] = (torch.cat(segs) if segs else torch.zeros((0, seg_len)),
                  torch.cat(owner) if owner else torch.zeros(0, dtype=torch.int64))
    return out


def whole_song_rfft_chunks(x: torch.Tensor, seg_len: int = SEG_LEN) -> torch.Tensor:
    """Paper 001's failed variant: RFFT of the WHOLE song, re/im interleaved, cut into seg_len chunks.

    Chunk k is not a moment of the song but a frequency band of all of it: chunk 0 holds the lowest
    ~seg_len/2 bins (bass, kick, the fundamentals of every note), the last chunk the highest (little but
    hiss). A model sees every chunk through the same weights, yet their statistics depend on where they
    came from: for music the mean energy of the first chunk is orders of magnitude above the last, and
    the values inside a chunk are the song's spectrum at fine frequency spacing (1 / song length), which
    looks like noise from one song to the next. So there is no shared structure for an autoencoder to
    learn, unlike time segments, which all look alike (same sample rate, same kinds of sounds).

    Notebook: 02_fc_vs_conv_autoencoders
    """
    z = audio.rfft_interleave(audio.to_tensor(x).float())
    n = z.shape[-1] // int(seg_len)
    return z[: n * seg_len].reshape(n, seg_len)


def downsample(x: torch.Tensor, orig_sr: int = SAMPLE_RATE, new_sr: int = PAPER_SR,
               method: str = "anti") -> torch.Tensor:
    """44.1 kHz -> 4410 Hz: 'anti' low-passes first (audio.resample), 'naive' keeps every 10th sample.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if method == "anti":
        return audio.resample(audio.to_tensor(x), orig_sr, new_sr)
    if method == "naive":
        if orig_sr % new_sr:
            raise ValueError(f"naive decimation needs an integer factor; {orig_sr} / {new_sr} is not one")
        return audio.decimate_naive(audio.to_tensor(x), orig_sr // new_sr)
    raise ValueError(f"unknown method {method!r}; use 'anti' or 'naive'")


__all__ = ["AudioSet", "bar_chords", "build_songs", "downsample", "load_audio_folder", "pick_tunes", "segments",
           "song_info", "song_midi", "song_segments", "whole_song_rfft_chunks"]
