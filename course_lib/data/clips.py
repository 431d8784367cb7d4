"""The clips dataset: 2-s phrases whose generative factors are known by construction, each on its own time scale.

Chapter 09 asks which level of a hierarchical latent controls what. That can only be measured on data whose
factors are known, so every clip is made from three factors, drawn independently, each changing at its own rate:

* instrument (timbre, constant over the clip): one of INSTRUMENTS, four General MIDI programs of different
  families (piano, church organ, trumpet, flute), all in their real range over the pitches used;
* melody (the note rate, 0.25 s): one of MELODIES, eight 8-note contours of eighth notes at 120 bpm, as semitone
  offsets from a base pitch; no contour is a transposition of another (their interval sequences differ);
* rhythm (the 16th-note rate, 0.125 s, inside every note): one of RHYTHMS, a sequence of eight ARTICULATIONS, one
  per note, each splitting its note into two 16th slots (legato, staccato, two 16ths, offbeat). The four rhythms
  are the same cycle of the four articulations started at a different note, so every rhythm uses every articulation
  equally often: a rhythm changes between notes and inside them, and its time average says nothing about it.

The scales line up with chapter 09's three latent levels on a 32-frame log-mel (62.5 ms a frame): h1 has 4
frames of 0.5 s (nothing but the instrument is constant at that scale), h2 8 frames of 0.25 s (one a note), h3
16 frames of 0.125 s (one a 16th slot). That gives the expected level of each factor, EXPECTED_LEVEL, which the
chapter writes down before it measures.

Nuisance, so that there are more distinct clips than 4 * 8 * 4 = 128: the base pitch moves by TRANSPOSE
(-3..3 semitones around BASE_PITCH = 64, so every pitch lies in 61..79, inside the range of all four programs)
and the velocity is drawn from VELOCITY (70..110).

Held-out combinations: the 16 (instrument, melody, rhythm) combinations with instrument + melody + rhythm
divisible by 8 (`is_held_out`) never occur in train or valid; the test split is made of them only. Every single
value and every pair of values of two factors still occurs in train, so a model that has learned the factors
separately can reconstruct a test clip; one that memorised whole combinations cannot. sample_factors never
draws the same clip twice and cycles through seeded shuffles of the combinations of each group (balanced).

Every clip is rendered by FluidSynth with reverb and chorus OFF (the articulations stay clean) in a fresh
synthesizer: a reused one is not deterministic (measured: a second render of the same MIDI differs by up to
10 % of the peak at note onsets), so a clip's samples would depend on what was rendered before it. A fresh
synthesizer costs about 20 ms, the render itself 4 ms.

Layout of a built folder (written atomically, as one folder)::

    <out_dir>/audio/clip_00000.wav   16-bit PCM mono at sample_rate, exactly 2.0 s (32000 samples at 16 kHz)
    <out_dir>/clips.json             [{id, file, split, instrument, melody, rhythm, *_name, program,
                                       transpose, velocity, pitches, articulations, held_out, sample_rate,
                                       gain, peak}]
    <out_dir>/build_report.json

`load_clips(path)` reads it back as a ClipSet: the audio as one (N, 32000) tensor, the labels as tensors.
"""
from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import context
from ..checks import index, is_int
from ..io import atomic_path, write_json_atomic
from ..synth import Synth, require_fluidsynth, soundfont_path
from .base import SPLITS, SplitSet
from .common import BuildReport, DataError, map_in_processes, read_wav

SAMPLE_RATE = 16000
SECONDS = 2.0
N_SAMPLES = 32000  # at SAMPLE_RATE
TEMPO = 120.0  # bpm: an eighth note (one melody note) lasts 0.25 s
NOTE_S = 0.25
SLOTS_PER_NOTE = 2  # the 16th grid inside an eighth note
SLOT_S = NOTE_S / SLOTS_PER_NOTE  # 0.125 s
N_NOTES = 8
GAIN = 0.5  # FluidSynth gain: a clip peaks around 0.1-0.2, far from clipping
HEADROOM_PEAK = 0.9  # a clip whose peak exceeds this is re-rendered at half the gain (reported; never seen)
BASE_PITCH = 64  # E4
TRANSPOSE = (-3, 3)  # semitones added to BASE_PITCH, both included
VELOCITY = (70, 110)  # both included

# (name, General MIDI program). Measured in TimGM6mb: all four speak within a 16th and are in range over 61..79
# (the flute from 60 up only).
INSTRUMENTS = (("piano", 0), ("organ", 19), ("trumpet", 56), ("flute", 73))
# (name, semitone offsets of the eight notes from the base pitch); pairwise distinct interval sequences, 0..12
MELODIES = (
    ("rise", (0, 2, 4, 5, 7, 9, 11, 12)),
    ("fall", (12, 11, 9, 7, 5, 4, 2, 0)),
    ("arch", (0, 4, 7, 12, 12, 7, 4, 0)),
    ("valley", (12, 7, 4, 0, 0, 4, 7, 12)),
    ("zigzag", (0, 7, 2, 9, 4, 11, 5, 12)),
    ("waves", (0, 4, 2, 5, 4, 7, 5, 9)),
    ("repeated", (7, 7, 7, 7, 0, 0, 0, 0)),
    ("leaps", (0, 12, 2, 10, 4, 9, 5, 7)),
)
# (name, ((onset slot, length in slots), ...)) inside one eighth note; slots of 0.125 s. Short notes are
# half-slot gates: with the instruments' release tails a longer gate leaves too small a dip to be seen at 62.5 ms.
ARTICULATIONS = (
    ("legato", ((0, 2.0),)),
    ("staccato", ((0, 0.5),)),
    ("sixteenths", ((0, 0.5), (1, 0.5))),
    ("offbeat", ((1, 0.5),)),
)
# (name, articulation index of each of the eight notes): one cycle through the articulations, started at note
# k of it for rhythm k, so the rhythms differ at every note and each holds every articulation twice
RHYTHMS = tuple((f"cycle from {ARTICULATIONS[r][0]}", tuple((r + k) % len(ARTICULATIONS) for k in range(N_NOTES)))
                for r in range(len(ARTICULATIONS)))
FACTORS = ("instrument", "melody", "rhythm")
FACTOR_CLASSES = {"instrument": [n for n, _ in INSTRUMENTS], "melody": [n for n, _ in MELODIES],
                  "rhythm": [n for n, _ in RHYTHMS]}
_TABLES = {"instrument": INSTRUMENTS, "melody": MELODIES, "rhythm": RHYTHMS}
N_COMBINATIONS = len(INSTRUMENTS) * len(MELODIES) * len(RHYTHMS)  # 128
HOLD_OUT_MODULUS = 8  # a combination is held out when instrument + melody + rhythm is divisible by this
# the latent level (1 = coarsest, 0.5-s frames; 2: 0.25 s; 3: 0.125 s) whose frame rate matches each factor's scale
EXPECTED_LEVEL = {"instrument": 1, "melody": 2, "rhythm": 3}
TIME_SCALE = {"instrument": "the whole clip (2 s)", "melody": "one note (0.25 s)",
              "rhythm": "one 16th slot (0.125 s), articulation drawn per note"}
N_DISTINCT = N_COMBINATIONS * (TRANSPOSE[1] - TRANSPOSE[0] + 1) * (VELOCITY[1] - VELOCITY[0] + 1)
SPLIT_FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
INDEX = "clips.json"
MAKE_DATA_FIX = ("Run `make data` (or `python -m course_lib.data build --only clips`) to build it, or point "
                 "COURSE_CLIPS at a folder made by build_clips.")


# ---------------------------------------------------------------------------------------------- one clip

def _check_index(factor: str, value) -> int:
    return index(factor, value, len(_TABLES[factor]), ", ".join(FACTOR_CLASSES[factor]))


def clip_pitches(melody: int, transpose: int = 0) -> list[int]:
    """The four MIDI pitches of a melody contour at BASE_PITCH + transpose."""
    offsets = MELODIES[_check_index("melody", melody)][1]
    return [BASE_PITCH + int(transpose) + o for o in offsets]


def clip_articulations(rhythm: int) -> list[str]:
    """The articulation name of each of the eight notes of a rhythm."""
    return [ARTICULATIONS[a][0] for a in RHYTHMS[_check_index("rhythm", rhythm)][1]]


def clip_midi(instrument: int, melody: int, rhythm: int, transpose: int = 0, velocity: int = 90):
    """One clip as a PrettyMIDI (tempo 120, one instrument): 8 melody notes, each played with its articulation.

    Pure (no FluidSynth). Note k of the contour, articulation a = RHYTHMS[rhythm][1][k], sounds at
    k * 0.25 s + slot * 0.125 s for every (slot, gate) of ARTICULATIONS[a] and lasts gate * 0.125 s.
    ValueError for an index outside its range, a velocity outside 1..127 or a pitch outside 0..127.
    """
    import pretty_midi

    instrument, melody, rhythm = (_check_index(f, v) for f, v in zip(FACTORS, (instrument, melody, rhythm)))
    if not 1 <= int(velocity) <= 127:
        raise ValueError(f"velocity must be in 1..127, got {velocity}")
    pitches = clip_pitches(melody, transpose)
    if not all(0 <= p <= 127 for p in pitches):
        raise ValueError(f"transpose {transpose} moves the pitches {pitches} outside MIDI's 0..127")
    name, program = INSTRUMENTS[instrument]
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=TEMPO)
    inst = pretty_midi.Instrument(program=program, name=f"clip/{name}")
    for k, (pitch, art) in enumerate(zip(pitches, RHYTHMS[rhythm][1])):
        for slot, gate in ARTICULATIONS[art][1]:
            start = k * NOTE_S + slot * SLOT_S
            inst.notes.append(pretty_midi.Note(velocity=int(velocity), pitch=int(pitch), start=start,
                                               end=start + gate * SLOT_S))
    pm.instruments.append(inst)
    return pm


def render_clip(pm, sample_rate: int = SAMPLE_RATE, gain: float = GAIN) -> np.ndarray:
    """Render a clip by FluidSynth (reverb, chorus off; fresh synthesizer) to exactly 2.0 s of mono float32.

    A fresh synthesizer per call: a reused one gives different samples for the same MIDI (see the module
    doc), so with a fresh one a clip renders to the same samples whatever was rendered before.
    """
    n = int(round(SECONDS * sample_rate))
    with Synth(sample_rate, gain=gain, reverb=False, chorus=False) as synth:
        x = synth.render(pm, duration_s=SECONDS)
    return np.pad(x[:n], (0, max(0, n - len(x)))).astype(np.float32)


# ---------------------------------------------------------------------------------------------- factors

def split_counts(n: int) -> dict[str, int]:
    """Clips per split for n clips: round(0.1 n) valid, round(0.1 n) test, the rest train."""
    n_valid, n_test = round(SPLIT_FRACTIONS["valid"] * n), round(SPLIT_FRACTIONS["test"] * n)
    return {"train": n - n_valid - n_test, "valid": n_valid, "test": n_test}


def is_held_out(instrument: int, melody: int, rhythm: int) -> bool:
    """Whether a combination is kept out of train and valid (instrument + melody + rhythm divisible by 8)."""
    return (int(instrument) + int(melody) + int(rhythm)) % HOLD_OUT_MODULUS == 0


HELD_OUT = tuple(c for c in itertools.product(range(len(INSTRUMENTS)), range(len(MELODIES)), range(len(RHYTHMS)))
                 if is_held_out(*c))  # the 16 (instrument, melody, rhythm) combinations of the test split


def sample_factors(n: int, seed: int) -> list[dict]:
    """Labels of n distinct clips: {instrument, melody, rhythm, transpose, velocity, split}; seeded.

    Train and valid (the first n - round(0.1 n) clips, train first) cycle through seeded shuffles of the 112
    combinations that are not held out, the test split through shuffles of the 16 held-out ones, so the factors
    are balanced within each group and no test combination is ever in train or valid. Transpose and velocity
    are uniform, redrawn when the clip was already drawn.
    """
    n = int(n)
    if not 1 <= n <= N_DISTINCT:
        raise ValueError(f"n must be in 1..{N_DISTINCT} (the number of distinct clips), got {n}")
    combos = list(itertools.product(range(len(INSTRUMENTS)), range(len(MELODIES)), range(len(RHYTHMS))))
    groups = {False: [c for c in combos if c not in HELD_OUT], True: list(HELD_OUT)}
    order_rng, nuisance_rng = np.random.default_rng([int(seed), 0]), np.random.default_rng([int(seed), 1])
    counts = split_counts(n)
    splits = [s for s in SPLITS for _ in range(counts[s])]

    def cycle(group: list, k: int) -> list:
        order: list = []
        while len(order) < k:
            order += [group[i] for i in order_rng.permutation(len(group)).tolist()]
        return order[:k]

    order = cycle(groups[False], counts["train"] + counts["valid"]) + cycle(groups[True], counts["test"])
    seen: set[tuple[int, ...]] = set()
    out = []
    for k in range(n):
        while True:
            t = int(nuisance_rng.integers(TRANSPOSE[0], TRANSPOSE[1] + 1))
            v = int(nuisance_rng.integers(VELOCITY[0], VELOCITY[1] + 1))
            if (*order[k], t, v) not in seen:
                break
        seen.add((*order[k], t, v))
        i, m, r = order[k]
        out.append({"instrument": i, "melody": m, "rhythm": r, "transpose": t, "velocity": v, "split": splits[k]})
    return out


# ---------------------------------------------------------------------------------------------- building

def _make_clip(task: dict) -> dict:
    """Render one clip into task['folder']/audio and return its clips.json entry (fixes under '_fixes')."""
    import soundfile as sf

    f, sr = task["factors"], task["sample_rate"]
    pm = clip_midi(f["instrument"], f["melody"], f["rhythm"], f["transpose"], f["velocity"])
    fixes = []
    gain, x = GAIN, render_clip(pm, sr, GAIN)
    while np.abs(x).max() > HEADROOM_PEAK and gain > GAIN / 64:
        peak, gain = float(np.abs(x).max()), gain / 2
        x = render_clip(pm, sr, gain)
        fixes.append({"file": task["file"], "fix": f"peak {peak:.3f} > {HEADROOM_PEAK}: re-rendered at gain {gain:g}"})
    sf.write(str(Path(task["folder"]) / task["file"]), x, sr, subtype="PCM_16", format="WAV")
    entry = {"id": task["id"], "file": task["file"], "split": f["split"]}
    for factor in FACTORS:
        entry[factor] = f[factor]
        entry[f"{factor}_name"] = FACTOR_CLASSES[factor][f[factor]]
    entry.update(program=INSTRUMENTS[f["instrument"]][1], transpose=f["transpose"], velocity=f["velocity"],
                 pitches=clip_pitches(f["melody"], f["transpose"]), articulations=clip_articulations(f["rhythm"]),
                 held_out=is_held_out(f["instrument"], f["melody"], f["rhythm"]), sample_rate=sr, gain=gain,
                 peak=round(float(np.abs(x).max()), 4), _fixes=fixes)
    return entry


def build_clips(out_dir: str | os.PathLike, n: int, seed: int = 0, sample_rate: int = SAMPLE_RATE,
                progress: bool = True, workers: int | None = None) -> BuildReport:
    """Render n clips (labels from sample_factors(n, seed)) into out_dir, atomically (see the module doc).

    Each clip gets a fresh synthesizer, so the files do not depend on the order or the number of workers:
    workers > 1 renders in that many fresh Python processes (default: up to 8 from n = 1000 on; a worker
    needs a few seconds to start). A failed build leaves nothing at out_dir. Needs FluidSynth.
    """
    require_fluidsynth()
    if int(sample_rate) < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz (the melodies reach 800 Hz), got {sample_rate}")
    t0, out_dir, sample_rate = time.perf_counter(), Path(out_dir), int(sample_rate)
    factors = sample_factors(n, seed)
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if n >= 1000 else 1
    report = BuildReport("clips build")
    with atomic_path(out_dir) as tmp:
        (tmp / "audio").mkdir(parents=True)
        tasks = [{"id": f"clip_{k:05d}", "file": f"audio/clip_{k:05d}.wav", "folder": str(tmp), "factors": f,
                  "sample_rate": sample_rate} for k, f in enumerate(factors)]
        index = []
        for entry in map_in_processes("course_lib.data.clips:_make_clip", tasks, max(1, int(workers)), tmp.parent / "work",
                                      progress, desc="rendering clips", unit="clip"):
            report.fixed += entry.pop("_fixes")
            index.append(entry)
        report.kept = len(index)
        write_json_atomic(tmp / INDEX, index)
        info = {"n": n, "seed": seed, "sample_rate": sample_rate, "seconds": SECONDS, "gain": GAIN,
                "soundfont": str(soundfont_path()), "workers": workers,
                "per_split": {s: sum(e["split"] == s for e in index) for s in SPLITS},
                "factor_classes": FACTOR_CLASSES, "max_peak": max(e["peak"] for e in index),
                "wall_s": round(time.perf_counter() - t0, 2)}
        write_json_atomic(tmp / "build_report.json", {**report.to_dict(), **info})
    return report


# ---------------------------------------------------------------------------------------------- loading

class ClipSet(SplitSet):
    """Clips with known factors: audio (N, n_samples) float32, labels {factor: (N,) int64}, meta.
    """

    NOUN, ID_KEY = "clips", "id"

    def __init__(self, audio, labels: dict, meta: list[dict], sample_rate: int = SAMPLE_RATE,
                 report: BuildReport | None = None, root: Path | None = None):
        self.audio, self.labels, self.meta = audio, labels, meta
        self.sample_rate, self.root = int(sample_rate), root
        self.report = report or BuildReport("clips")

    def subset(self, idx: Sequence[int]) -> "ClipSet":
        """The clips at the positions idx, in that order (audio and labels indexed alike)."""
        import torch

        keep = torch.tensor(list(idx), dtype=torch.int64)
        return ClipSet(self.audio[keep], {f: v[keep] for f, v in self.labels.items()},
                       [self.meta[i] for i in keep.tolist()], self.sample_rate, self.report, self.root)

    def _repr_parts(self) -> list[str]:
        return [f"{len(self)} clips of {self.audio.shape[-1] / self.sample_rate:g} s", str(self.per_split()),
                f"{self.sample_rate} Hz", f"factors {', '.join(f'{f} ({len(FACTOR_CLASSES[f])})' for f in FACTORS)}"]

    def log_mel(self, n_mels: int = 64, n_frames: int = 32, n_fft: int = 1024, batch_size: int = 256):
        """Log-mel spectrograms (N, n_mels, n_frames) by features.log_mel_frames, hop = n_samples // n_frames.

        n_fft 1024 (64 ms at 16 kHz), not 2048: a 128-ms window spans a whole 16th slot and blurs the
        gate patterns. The centred STFT gives one frame more than n_frames; the last is dropped.
        """
        from ..features import log_mel_frames

        n_samples = self.audio.shape[-1]
        hop = n_samples // int(n_frames) if int(n_frames) > 0 else 0
        if int(n_mels) < 1 or hop < 1:
            raise ValueError(f"need n_mels >= 1 and 1 <= n_frames <= {n_samples}, got {n_mels}, {n_frames}")
        return log_mel_frames(self.audio, self.sample_rate, int(n_fft), hop, int(n_mels), int(n_frames), int(batch_size))


def _read_index(root: Path) -> list[dict]:
    path = root / INDEX
    if not path.is_file():
        raise DataError(f"{path}: missing, so {root} is not a built clips folder. {MAKE_DATA_FIX}")
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, list):
            raise ValueError(f"a list of clips was expected, found {type(meta).__name__}")
        for k, m in enumerate(meta):
            lacking = [key for key in ("file", "split", *FACTORS) if key not in m]
            if lacking:
                raise ValueError(f"entry {k} has no {', '.join(lacking)}")
    except (OSError, ValueError, TypeError) as e:
        raise DataError(f"{path}: the clips index is damaged ({type(e).__name__}: {e}). Delete {root} and build it "
                        f"again: `python -m course_lib.data build --only clips --force`.") from None
    for k, m in enumerate(meta):
        if m["split"] not in SPLITS:
            raise DataError(f"{path}: entry {k} ({m['file']}) has the split {m['split']!r}; allowed: {SPLITS}. "
                            f"Fix the entry or rebuild the folder.")
        for factor in FACTORS:
            v, n = m[factor], len(FACTOR_CLASSES[factor])
            if not is_int(v) or not 0 <= v < n:
                raise DataError(f"{path}: entry {k} ({m['file']}) has the {factor} label {v!r}; allowed 0..{n - 1} "
                                f"({', '.join(FACTOR_CLASSES[factor])}). It was built by another version of "
                                f"course_lib: delete {root} and build it again.")
    return meta


def load_clips(path: str | os.PathLike | None = None, split: str | None = None, progress: bool = False) -> ClipSet:
    """Open a folder made by build_clips (default: this profile's) as a ClipSet, all clips or one split.

    Raises DataError naming the file and the fix for a missing folder, a missing or damaged clips.json,
    a label index outside its classes, and a WAV that is missing, unreadable, truncated, at another sample
    rate or of another length than the others.
    """
    import torch
    from tqdm.auto import tqdm

    root = Path(path).expanduser() if path is not None else context.data_dir("clips")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS} or None for all")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder. {MAKE_DATA_FIX}")
    meta = [m for m in _read_index(root) if split is None or m["split"] == split]
    rebuild = f"Delete {root} and build it again (`python -m course_lib.data build --only clips --force`)."
    waves = []
    sr_want = int(meta[0].get("sample_rate", SAMPLE_RATE)) if meta else SAMPLE_RATE
    n_want = int(round(SECONDS * sr_want))
    for m in tqdm(meta, desc="reading clips", unit="clip", disable=not progress):
        f = root / m["file"]
        if not f.is_file():
            raise DataError(f"{f}: listed in {INDEX} but missing. {rebuild}")
        x, sr = read_wav(f, allow_silent=True)  # DataError naming the file when unreadable or truncated
        if sr != sr_want:
            raise DataError(f"{f}: sampled at {sr} Hz, the clips are at {sr_want} Hz. {rebuild}")
        if len(x) != n_want:
            raise DataError(f"{f}: {len(x)} samples, a clip has exactly {n_want} ({SECONDS:g} s at {sr_want} Hz). "
                            f"{rebuild}")
        waves.append(x)
    report = BuildReport(f"clips {root}", kept=len(meta))
    try:
        report.fixed = list(json.loads((root / "build_report.json").read_text()).get("fixed", []))
    except (OSError, ValueError, AttributeError):
        pass  # the report is informative only
    audio = torch.from_numpy(np.stack(waves)) if waves else torch.zeros((0, n_want))
    labels = {f: torch.tensor([m[f] for m in meta], dtype=torch.int64) for f in FACTORS}
    return ClipSet(audio, labels, meta, sr_want, report, root)


__all__ = ["ARTICULATIONS", "ClipSet", "EXPECTED_LEVEL", "FACTORS", "FACTOR_CLASSES", "HELD_OUT", "INSTRUMENTS", "MELODIES", "RHYTHMS",
           "build_clips", "clip_articulations", "clip_midi", "clip_pitches", "is_held_out", "load_clips", "render_clip",
           "sample_factors", "split_counts"]
