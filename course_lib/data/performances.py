"""The performances dataset: synthesizer performances with controller (CC) automation.

Paper 000 models synth performances: MIDI notes plus continuous-controller automation (filter sweeps,
tempo-synced LFO "wobble", mod wheel, expression, sends) rendered to audio. Here a performance is
n_bars bars (4/4, tempo 120) of one course melody played by one General MIDI synth program, with 2-4
automated controllers, rendered by FluidSynth with its reverb and chorus ON (the sends CC 91 / CC 93 do
nothing without them).

Which controllers are automated is measured, not assumed: `controller_effects` renders a held note with
each controller at 0 and at 127 and measures the MR-STFT distance between the two renderings. With the
course soundfont (TimGM6mb) and FluidSynth 2.x (measured at 16 kHz, program 81, note 60):

    CC  1 mod wheel   1.44    vibrato depth (FluidSynth's default modulator)
    CC  7 volume      ~2800   0 is silence
    CC 10 pan         0.05    the Synth mixes stereo to mono, so pan mostly cancels
    CC 11 expression  ~1700   0 is silence
    CC 71-74          0.00    resonance, release, attack, cutoff (brightness): no modulator in FluidSynth's defaults
                              nor in the soundfont, so they change nothing at all
    CC 91 reverb send 0.21
    CC 93 chorus send 0.49

A controller counts as audible above AUDIBLE_THRESHOLD = 0.1 (the distance of a 0.5 dB level change, see
below), so only CC 1, 7, 11, 91 and 93 are automated: automating CC 74 ("filter cutoff", the classic
synth sweep) would give a model targets that cannot be heard in the audio. build_performances measures
the table again at build time and stores it in controllers.json with the list it used.

Layout of a built folder (written atomically, as one folder)::

    <out_dir>/midi/<id>.mid        tempo 120, one instrument, notes + CC events
    <out_dir>/audio/<id>.wav       16-bit PCM mono at sample_rate, exactly n_bars * 2 s + 0.5 s
    <out_dir>/index.json           [{id, split, program, controllers, curves, tune_id, seconds, ...}]
    <out_dir>/controllers.json     the controller_effects table, the threshold and the audible list used
    <out_dir>/build_report.json

`load_performances(path)` opens a built folder or ANY folder of MIDI files (with CC data or not); bad
files are skipped and reported, and the audio of a plain MIDI folder is rendered on demand.
"""
from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import context, events
from ..midi import END, PITCH, START, STEPS_PER_QUARTER, fold_to_piano, melody_tokens, tokens_to_notes
from ..io import atomic_path, write_json_atomic
from ..synth import Synth, fluidsynth_available, require_fluidsynth, soundfont_path
from .base import SPLITS, SplitSet
from .common import BuildReport, DataError, map_in_processes, read_pretty_midi, read_wav
from .melodies import MIDI_SUFFIXES, load_melodies, split_of

SAMPLE_RATE = 16000
TEMPO = 120.0  # bpm: one bar of 4/4 lasts 2 s
TAIL_S = 0.5  # seconds rendered after the last bar (release and reverb)
GAIN = 0.5  # FluidSynth gain, fixed (loudness differs between pieces, as in real music)
HEADROOM_PEAK = 0.9  # a piece whose mono peak exceeds this is re-rendered at half the gain (reported)
GRID = 8  # steps per quarter of a performance: the 1/32-note grid
MIN_NOTES = 8  # tunes with fewer notes are not used for performances
# the candidates controller_effects measures: paper 000's ten controllers, as the event vocabulary has them
CONTROLLERS, CONTROLLER_NAMES = events.CONTROLLERS, events.CONTROLLER_NAMES
MEASURE_PROGRAM, MEASURE_PITCH, MEASURE_SECONDS = 81, 60, 2.0  # the held note it measures with (Lead 2, sawtooth)
# Audible = a 0 -> 127 change at least as large, in MR-STFT distance, as a 0.5 dB level change of the same
# note (measured 0.105 for program 81, note 60; 1 dB gives 0.207): 0.5 dB is about the smallest level step
# listeners notice in a side-by-side comparison. The measured values fall far from it on both sides: pan
# 0.05 (a 0.25 dB change), CC 71-74 exactly 0; reverb send 0.21, chorus 0.49, mod wheel 1.4, volume and
# expression > 1000.
AUDIBLE_THRESHOLD = 0.1
# General MIDI synth sounds: leads 80-87, pads 88-95, synth basses 38-39, synth brass 62-63
SYNTH_PROGRAMS = tuple(range(80, 96)) + (38, 39, 62, 63)
CURVE_KINDS = ("sweep", "lfo", "swell", "steps", "constant")
LFO_RATES = {"1/2": 0.5, "1/4": 0.25, "1/8": 0.125}  # period as a fraction of a whole note
ACCENTS = ("downbeat", "offbeat", "three")
# value ranges drawn per controller: volume and expression never fade a performance to silence
CC_RANGES = {7: (40, 127), 11: (40, 127)}
MAKE_DATA_FIX = ("Run `make data` to build the course data, or point COURSE_PERFORMANCES at a folder of MIDI "
                 "files (.mid / .midi).")


# ---------------------------------------------------------------------------------------------- controllers

def _held_note(program: int, pitch: int, seconds: float, cc: int | None = None, value: int = 0):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=TEMPO)
    inst = pretty_midi.Instrument(program=int(program))
    if cc is not None:
        inst.control_changes.append(pretty_midi.ControlChange(int(cc), int(value), 0.0))
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=int(pitch), start=0.0, end=float(seconds)))
    pm.instruments.append(inst)
    return pm


def render_performance(pm, duration_s: float, sample_rate: int = SAMPLE_RATE, gain: float = GAIN) -> np.ndarray:
    """Render a PrettyMIDI with FluidSynth, reverb and chorus ON, to exactly duration_s of mono float32.

    A fresh synthesizer is made for every call (about 30 ms): FluidSynth keeps state between renders (reverb
    tail, dither, block phase), so reusing one would make a piece's audio depend on what was rendered before.
    With a fresh one the same MIDI always gives the same samples.

    Notebook: 07_transformer_vae_automation
    """
    n = int(round(duration_s * sample_rate))
    with Synth(sample_rate, gain=gain, reverb=True, chorus=True) as synth:
        x = synth.render(pm, duration_s=duration_s)
    return np.pad(x[:n], (0, max(0, n - len(x)))).astype(np.float32)


_EFFECTS_CACHE: dict[tuple, dict[int, float]] = {}


def controller_effects(controllers: Sequence[int] = CONTROLLERS, program: int = MEASURE_PROGRAM,
                       pitch: int = MEASURE_PITCH, seconds: float = MEASURE_SECONDS,
                       sample_rate: int = SAMPLE_RATE) -> dict[int, float]:
    """How much each controller changes the sound: MR-STFT distance between a held note at CC 0 and 127.

    The note (velocity 100) is held for `seconds` and rendered with 0.5 s of tail, reverb and chorus ON,
    every other controller at its General MIDI default (the Synth resets before each render). The value
    is course_lib.audio.multi_resolution_stft_distance (0 = identical; a 1 dB level change gives about 0.2).
    Results are memoised per arguments and soundfont. Needs FluidSynth.

    Notebook: 07_transformer_vae_automation
    """
    import torch

    from .. import audio

    require_fluidsynth()
    key = (tuple(int(c) for c in controllers), int(program), int(pitch), float(seconds), int(sample_rate),
           str(soundfont_path()))
    if key not in _EFFECTS_CACHE:
        out = {}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # these STFTs are small: on a busy machine extra threads make them 10x slower
        try:
            for cc in key[0]:
                if not 0 <= cc <= 127:
                    raise ValueError(f"controller numbers lie in 0..127, got {cc}")
                lo, hi = (torch.from_numpy(render_performance(_held_note(program, pitch, seconds, cc, v),
                                                              seconds + TAIL_S, sample_rate)) for v in (0, 127))
                out[cc] = round(float(audio.multi_resolution_stft_distance(lo, hi)), 4)
        finally:
            torch.set_num_threads(threads)
        _EFFECTS_CACHE[key] = out
    return dict(_EFFECTS_CACHE[key])


def audible_controllers(threshold: float = AUDIBLE_THRESHOLD, effects: dict[int, float] | None = None,
                        **kw) -> list[int]:
    """The controllers whose 0 -> 127 change exceeds `threshold` (default: a 0.5 dB level change).

    `effects` is a controller_effects table; without it one is measured (keyword arguments go to
    controller_effects). Sorted controller numbers.

    Notebook: 07_transformer_vae_automation
    """
    effects = controller_effects(**kw) if effects is None else effects
    return sorted(int(cc) for cc, d in effects.items() if d > threshold)


# ---------------------------------------------------------------------------------------------- curves

def curve_params(kind: str, n_steps: int, steps_per_quarter: int, rng: np.random.Generator,
                 value_range: tuple[int, int] = (0, 127)) -> dict:
    """Random parameters of one automation curve of `kind`, values inside value_range (JSON-ready).

    sweep: start, end, shape (linear | exp); lfo: rate (1/2, 1/4, 1/8 note), wave (sine | triangle), centre,
    depth, phase (peak | trough: where the cycle starts); swell: low, high, peak (fraction of the length);
    steps: values (one per beat); constant: value.
    """
    lo, hi = int(value_range[0]), int(value_range[1])
    if not 0 <= lo < hi <= 127:
        raise ValueError(f"value_range must satisfy 0 <= low < high <= 127, got {value_range}")
    span = hi - lo
    if kind == "sweep":
        a = int(rng.integers(lo, lo + span // 3 + 1))
        b = int(rng.integers(hi - span // 3, hi + 1))
        up = bool(rng.random() < 0.5)
        return {"start": a if up else b, "end": b if up else a, "shape": str(rng.choice(["linear", "exp"]))}
    if kind == "lfo":
        rate = str(rng.choice(list(LFO_RATES)))
        wave = str(rng.choice(["sine", "triangle"]))
        centre = int(rng.integers(lo + span // 4, hi - span // 4 + 1))
        room = min(centre - lo, hi - centre)
        depth = int(rng.integers(max(1, room // 3), room + 1))
        return {"rate": rate, "wave": wave, "centre": centre, "depth": depth,
                "phase": str(rng.choice(["peak", "trough"]))}
    if kind == "swell":
        low = int(rng.integers(lo, lo + span // 3 + 1))
        high = int(rng.integers(hi - span // 3, hi + 1))
        return {"low": low, "high": high, "peak": round(float(rng.uniform(0.3, 0.7)), 3)}
    if kind == "steps":
        n_beats = -(-int(n_steps) // int(steps_per_quarter))
        return {"values": [int(v) for v in rng.integers(lo, hi + 1, size=max(n_beats, 1))]}
    if kind == "constant":
        return {"value": int(rng.integers(lo, hi + 1))}
    raise ValueError(f"unknown curve kind {kind!r}; choose from {CURVE_KINDS}")


def automation(kind: str, n_steps: int, steps_per_quarter: int, rng: np.random.Generator,
               **params) -> np.ndarray:
    """One controller curve, int64 values in 0..127, one per grid step; deterministic given rng.

    kind: 'sweep' (linear or exponential ramp from start to end), 'lfo' (tempo-synced sine or triangle with a
    period of a 1/2, 1/4 or 1/8 note: the "wobble"), 'swell' (half-cosine rise from low to high at `peak`,
    then fall back), 'steps' (sample-and-hold: a new random value on each beat), 'constant'. Parameters not
    given are drawn by curve_params (rng is consumed the same way whatever is given); `value_range` bounds
    the drawn ones.
    """
    n_steps, spq = int(n_steps), int(steps_per_quarter)
    if n_steps < 1 or spq < 1:
        raise ValueError(f"need n_steps >= 1 and steps_per_quarter >= 1, got {n_steps}, {spq}")
    value_range = params.pop("value_range", (0, 127))
    p = {**curve_params(kind, n_steps, spq, rng, value_range), **params}
    t = np.arange(n_steps, dtype=np.float64)
    if kind == "sweep":
        x = t / max(n_steps - 1, 1)
        if p["shape"] == "exp":  # slow start, fast finish: the usual "riser"
            k = 4.0
            x = np.expm1(k * x) / np.expm1(k)
        elif p["shape"] != "linear":
            raise ValueError(f"sweep shape is 'linear' or 'exp', got {p['shape']!r}")
        y = p["start"] + (p["end"] - p["start"]) * x
    elif kind == "lfo":
        if p["rate"] not in LFO_RATES:
            raise ValueError(f"lfo rate is one of {list(LFO_RATES)}, got {p['rate']!r}")
        period = 4 * spq * LFO_RATES[p["rate"]]  # in steps
        cycle = t / period + (0.0 if p["phase"] == "peak" else 0.5)
        if p["wave"] == "sine":
            shape = np.cos(2 * np.pi * cycle)
        elif p["wave"] == "triangle":
            shape = 1.0 - 4.0 * np.abs(cycle - np.floor(cycle) - 0.5)
            shape = -shape  # +1 at the cycle's start, like the cosine
        else:
            raise ValueError(f"lfo wave is 'sine' or 'triangle', got {p['wave']!r}")
        y = p["centre"] + p["depth"] * shape
    elif kind == "swell":
        x = t / max(n_steps - 1, 1)
        peak = min(max(float(p["peak"]), 1e-3), 1 - 1e-3)
        up = np.where(x <= peak, x / peak, (1 - x) / (1 - peak))  # 0 -> 1 -> 0
        y = p["low"] + (p["high"] - p["low"]) * 0.5 * (1 - np.cos(np.pi * up))
    elif kind == "steps":
        values = np.asarray(p["values"], dtype=np.float64)
        beat = np.minimum(t.astype(np.int64) // spq, len(values) - 1)
        y = values[beat]
    elif kind == "constant":
        y = np.full(n_steps, float(p["value"]))
    else:  # curve_params has already rejected it
        raise ValueError(f"unknown curve kind {kind!r}; choose from {CURVE_KINDS}")
    return np.clip(np.rint(y), 0, 127).astype(np.int64)


# ---------------------------------------------------------------------------------------------- one piece

def _register_target(program: int) -> int:
    if 32 <= program <= 39:
        return 43  # basses: around G2
    if 80 <= program <= 87:
        return 72  # leads: around C5
    return 64  # pads, brass


def _choose_window(onsets: np.ndarray, n_tune_steps: int, window: int, rng: np.random.Generator) -> int:
    """A bar-aligned window start (16th grid) holding enough note onsets: random among good ones, else the best."""
    bar = 16
    starts = np.arange(0, max(n_tune_steps - window, 0) + 1, bar)
    counts = np.array([np.sum((onsets >= s) & (onsets < s + window)) for s in starts])
    good = starts[counts >= max(2, window // 8)]  # at least one onset per half note on average
    if len(good):
        return int(rng.choice(good))
    return int(starts[int(np.argmax(counts))])


def _velocities(starts: np.ndarray, accent: str, steps_per_quarter: int, rng: np.random.Generator) -> np.ndarray:
    base = int(rng.integers(70, 96))
    bar, sixteenth = 4 * steps_per_quarter, steps_per_quarter // 4
    pos = starts % bar
    if accent == "downbeat":
        boost = np.where(pos == 0, 24, np.where(pos % steps_per_quarter == 0, 12, 0))
    elif accent == "offbeat":
        boost = np.where(pos % steps_per_quarter == steps_per_quarter // 2, 20, 0)
    else:  # "three": every third 16th, the 3-against-4 of electronic music
        boost = np.where((pos // max(sixteenth, 1)) % 3 == 0, 20, 0)
    v = base + boost + rng.integers(-6, 7, size=len(starts))
    return np.clip(v, 1, 127).astype(np.int64)


def make_performance(notes: np.ndarray, rng: np.random.Generator, program_choices: Sequence[int] = SYNTH_PROGRAMS,
                     controllers: Sequence[int] = (1, 7, 11, 91, 93), n_bars: int = 2,
                     steps_per_quarter: int = GRID, cc_every: int = 2, tune_id: str | None = None):
    """One synth performance of n_bars bars from a melody: (PrettyMIDI at tempo 120, metadata dict).

    `notes` is a course notes array on the 16th grid; its top line (melody_tokens) is moved to the 1/32 grid
    (steps_per_quarter = 8: steps doubled), a bar-aligned window of n_bars 4/4 bars with enough onsets is cut
    from it (notes clipped to the window) and moved by octaves into the program's register. The program
    comes from program_choices; velocities are random with an accent pattern (downbeat, offbeat or every
    third 16th); 2-4 controllers from `controllers` get a random curve each (see automation). CC events are
    written every cc_every steps, only where the value changes. Metadata: program, accent, start_bar,
    n_bars, tune_id, steps_per_quarter, cc_every, n_notes and curves {cc: {kind, params}}.
    """
    import pretty_midi

    notes = np.asarray(notes).reshape(-1, 5)
    spq, n_bars, cc_every = int(steps_per_quarter), int(n_bars), int(cc_every)
    if len(notes) == 0:
        raise ValueError("make_performance needs a melody with at least one note")
    if spq % STEPS_PER_QUARTER or spq < 8:
        raise ValueError(f"steps_per_quarter must be a multiple of {STEPS_PER_QUARTER} and >= 8 "
                         f"(the 1/8-note LFO needs whole steps), got {spq}")
    if n_bars < 1 or cc_every < 1:
        raise ValueError(f"need n_bars >= 1 and cc_every >= 1, got {n_bars}, {cc_every}")
    controllers = [int(c) for c in dict.fromkeys(controllers)]
    if not controllers or not program_choices:
        raise ValueError("make_performance needs at least one controller and one program to choose from")
    k = spq // STEPS_PER_QUARTER

    # the melody: top line, a window of n_bars bars on the 16th grid, then the finer grid
    folded, _ = fold_to_piano(notes)
    n_tune = int(folded[:, END].max())
    lead = tokens_to_notes(melody_tokens(folded, n_steps=n_tune))
    window = 16 * n_bars
    start_16 = _choose_window(lead[:, START], n_tune, window, rng)
    inside = lead[(lead[:, START] < start_16 + window) & (lead[:, END] > start_16)].astype(np.int64)
    inside[:, START] = np.maximum(inside[:, START], start_16) - start_16
    inside[:, END] = np.minimum(inside[:, END], start_16 + window) - start_16
    inside[:, [START, END]] *= k
    n_steps = window * k

    program = int(rng.choice(np.asarray(program_choices)))
    if len(inside):
        shift = 12 * int(round((_register_target(program) - float(np.median(inside[:, PITCH]))) / 12))
        inside[:, PITCH] += shift
        inside, _ = fold_to_piano(inside)
    accent = str(rng.choice(ACCENTS))
    vel = _velocities(inside[:, START], accent, spq, rng)

    n_cc = int(rng.integers(2, 5))
    chosen = sorted(int(c) for c in rng.choice(controllers, size=min(n_cc, len(controllers)), replace=False))
    curves: dict[str, dict] = {}
    values: dict[int, np.ndarray] = {}
    for cc in chosen:
        kind = str(rng.choice(CURVE_KINDS))
        params = curve_params(kind, n_steps, spq, rng, CC_RANGES.get(cc, (0, 127)))
        values[cc] = automation(kind, n_steps, spq, rng, **params)
        curves[str(cc)] = {"kind": kind, "params": params}

    sec = 60.0 / (TEMPO * spq)
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=TEMPO)
    inst = pretty_midi.Instrument(program=program, name=f"performance/{program}")
    for cc in chosen:
        last = None
        for step in range(0, n_steps, cc_every):
            v = int(values[cc][step])
            if v != last:
                inst.control_changes.append(pretty_midi.ControlChange(cc, v, step * sec))
                last = v
    for (p, s, e), v in zip(inside[:, [PITCH, START, END]].tolist(), vel.tolist()):
        inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=s * sec, end=e * sec))
    pm.instruments.append(inst)
    meta = {"program": program, "accent": accent, "start_bar": start_16 // 16, "n_bars": n_bars,
            "tune_id": tune_id, "steps_per_quarter": spq, "cc_every": cc_every, "n_notes": int(len(inside)),
            "curves": curves}
    return pm, meta


# ---------------------------------------------------------------------------------------------- building

def _pick_tunes(melodies, n: int, seed: int, report: BuildReport) -> list[int]:
    """Tune indices for n pieces: tunes with >= MIN_NOTES notes in a seeded order, reused in turn when too few."""
    rng = np.random.default_rng([seed, 0])
    rich = [i for i in rng.permutation(len(melodies)).tolist() if len(melodies.notes[i]) >= MIN_NOTES]
    if not rich:
        raise DataError(f"no tune of the melody set has {MIN_NOTES} notes or more. Rebuild the melodies "
                        f"(`make data`) or pass a folder with longer tunes.")
    if n > len(rich):
        report.fix("tunes", f"{len(rich)} tunes for {n} pieces: each tune is used up to {-(-n // len(rich))} "
                            f"times (other window, program and curves)")
    return [rich[k % len(rich)] for k in range(n)]


def _make_piece(task: dict) -> tuple[dict, list[dict]]:
    """Make, render and write one piece into task['folder']; return its index entry and the fixes applied."""
    import soundfile as sf

    pid, folder, seconds, sr = task["id"], Path(task["folder"]), task["seconds"], task["sample_rate"]
    notes = np.asarray(task["notes"], dtype=np.int32).reshape(-1, 5)  # a list when the task went through JSON
    pm, meta = make_performance(notes, np.random.default_rng([task["seed"], 1, task["k"]]), SYNTH_PROGRAMS,
                                task["controllers"], task["n_bars"], tune_id=task["tune_id"])
    fixes = []
    gain, x = GAIN, render_performance(pm, seconds, sr, GAIN)
    while np.abs(x).max() > HEADROOM_PEAK and gain > GAIN / 64:
        peak, gain = float(np.abs(x).max()), gain / 2
        x = render_performance(pm, seconds, sr, gain)
        fixes.append({"file": pid, "fix": f"peak {peak:.3f} > {HEADROOM_PEAK}: re-rendered at gain {gain:g}"})
    pm.write(str(folder / "midi" / f"{pid}.mid"))
    sf.write(str(folder / "audio" / f"{pid}.wav"), x, sr, subtype="PCM_16", format="WAV")
    entry = {"id": pid, "split": task["split"], "midi": f"midi/{pid}.mid", "audio": f"audio/{pid}.wav",
             "program": meta["program"], "controllers": [int(c) for c in meta["curves"]], "curves": meta["curves"],
             "accent": meta["accent"], "tune_id": task["tune_id"], "start_bar": meta["start_bar"],
             "n_bars": task["n_bars"], "n_notes": meta["n_notes"], "seconds": seconds, "sample_rate": sr,
             "gain": gain, "peak": round(float(np.abs(x).max()), 4)}
    return entry, fixes


def build_performances(out_dir: str | os.PathLike, n: int, melodies_dir: str | os.PathLike | None = None,
                       n_bars: int = 2, seed: int = 0, sample_rate: int = SAMPLE_RATE, progress: bool = True,
                       workers: int | None = None) -> BuildReport:
    """Build n synth performances from the melody set into out_dir, atomically (see the module doc).

    Measures controller_effects first and automates only the audible controllers; each piece inherits its
    tune's split; the audio is rendered with reverb and chorus on, exactly n_bars * 2 s + 0.5 s long. A
    piece whose peak exceeds 0.9 is re-rendered at half the gain (reported as a fix). Pieces are independent
    (own seed, fresh synthesizer), so workers > 1 renders them in that many fresh Python processes with the
    same result (default: up to 8 when n > 500). Needs FluidSynth.
    """
    require_fluidsynth()
    if n < 1 or n_bars < 1:
        raise ValueError(f"need n >= 1 and n_bars >= 1, got {n}, {n_bars}")
    t0, out_dir = time.perf_counter(), Path(out_dir)
    melodies = load_melodies(melodies_dir, progress=progress)
    report = BuildReport("performances build")
    effects = controller_effects(sample_rate=sample_rate)
    audible = audible_controllers(effects=effects)
    if not audible:
        raise DataError(f"no controller changes the sound above {AUDIBLE_THRESHOLD} with the soundfont "
                        f"{soundfont_path()} ({effects}). Check the soundfont (COURSE_SOUNDFONT).")
    seconds = n_bars * 4 * 60.0 / TEMPO + TAIL_S
    tunes = _pick_tunes(melodies, n, seed, report)
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if n > 500 else 1  # a worker needs ~3 s to start (imports)
    with atomic_path(out_dir) as tmp:
        (tmp / "midi").mkdir(parents=True)
        (tmp / "audio").mkdir()
        tasks = [{"k": k, "id": f"perf-{k:05d}", "folder": str(tmp), "notes": melodies.notes[ti].tolist(),
                  "tune_id": melodies.meta[ti]["tune_id"], "split": melodies.meta[ti]["split"], "seed": seed,
                  "controllers": audible, "n_bars": n_bars, "seconds": seconds, "sample_rate": sample_rate}
                 for k, ti in enumerate(tunes)]
        index = []
        for entry, fixes in map_in_processes("course_lib.data.performances:_make_piece", tasks, workers, tmp.parent / "work",
                                             progress, desc="rendering performances", unit="piece"):
            index.append(entry)
            report.fixed += fixes
        report.kept = len(index)
        write_json_atomic(tmp / "index.json", index)
        write_json_atomic(tmp / "controllers.json", {
            "metric": "multi_resolution_stft_distance between CC=0 and CC=127 (held note, reverb+chorus on)",
            "program": MEASURE_PROGRAM, "pitch": MEASURE_PITCH, "seconds": MEASURE_SECONDS, "sample_rate": sample_rate,
            "effects": {str(cc): d for cc, d in effects.items()},
            "names": {str(cc): CONTROLLER_NAMES.get(cc, "") for cc in effects},
            "threshold": AUDIBLE_THRESHOLD, "audible": audible})
        info = {"n": n, "n_bars": n_bars, "seed": seed, "sample_rate": sample_rate, "seconds": seconds,
                "gain": GAIN, "soundfont": str(soundfont_path()), "n_tunes": len(set(tunes)),
                "per_split": {s: sum(e["split"] == s for e in index) for s in SPLITS}, "workers": workers,
                "wall_s": round(time.perf_counter() - t0, 2)}
        write_json_atomic(tmp / "build_report.json", {**report.to_dict(), **info})
    return report


# ---------------------------------------------------------------------------------------------- loading

def _read_performance_midi(path: Path):
    """One MIDI file as a PrettyMIDI without drum tracks; DataError (reason only) when unusable."""
    pm = read_pretty_midi(path, fix=". Re-export or delete it.")
    pm.instruments = [i for i in pm.instruments if not i.is_drum]
    if not any(i.notes for i in pm.instruments):
        raise DataError("no notes outside drum tracks")
    return pm


class PerformanceSet(SplitSet):
    """Synth performances: metadata per piece, MIDI read lazily, audio read (or rendered) on demand."""

    NOUN, ID_KEY = "pieces", "id"
    CACHE_SIZE = 64  # MIDI files and waveforms kept in memory (the most recently used)

    def __init__(self, meta: list[dict], root: Path, sample_rate: int = SAMPLE_RATE,
                 report: BuildReport | None = None, render_missing: bool = True):
        self.meta = meta
        self.root = Path(root)
        self.sample_rate = int(sample_rate)
        self.report = report or BuildReport("performances")
        self.render_missing = render_missing
        self._midi: OrderedDict[int, object] = OrderedDict()
        self._audio: OrderedDict[int, np.ndarray] = OrderedDict()

    def subset(self, idx: Sequence[int]) -> "PerformanceSet":
        """The pieces at the positions idx, in that order (MIDI and audio are read again on use)."""
        return PerformanceSet([self.meta[i] for i in idx], self.root, self.sample_rate, self.report,
                              self.render_missing)

    def _repr_parts(self) -> list[str]:
        return [*super()._repr_parts(), f"{self.sample_rate} Hz", f"root={self.root}"]

    def _remember(self, cache: OrderedDict, i: int, value):
        cache[i] = value
        cache.move_to_end(i)
        while len(cache) > self.CACHE_SIZE:
            cache.popitem(last=False)
        return value

    def midi(self, i: int):
        """Piece i as a PrettyMIDI (drum tracks dropped), read from its file on first use.

        Notebook: 07_transformer_vae_automation
        """
        if i in self._midi:
            self._midi.move_to_end(i)
            return self._midi[i]
        path = self.root / self.meta[i]["midi"]
        try:
            pm = _read_performance_midi(path)
        except (DataError, OSError) as e:
            raise DataError(f"{path}: {e}") from None
        return self._remember(self._midi, i, pm)

    def audio(self, i: int) -> np.ndarray | None:
        """Piece i as mono float32 at sample_rate: its WAV, else rendered (reverb+chorus on), else None.

        Rendering happens when there is no WAV, render_missing is set and FluidSynth is available; the
        length is the MIDI's end time + 0.5 s.

        Notebook: 07_transformer_vae_automation
        """
        if i in self._audio:
            self._audio.move_to_end(i)
            return self._audio[i]
        rel = self.meta[i].get("audio")
        if rel and (self.root / rel).exists():
            x, _ = read_wav(self.root / rel, sample_rate=self.sample_rate, allow_silent=True)
        elif self.render_missing and fluidsynth_available():
            pm = self.midi(i)
            x = render_performance(pm, pm.get_end_time() + TAIL_S, self.sample_rate)
        else:
            return None
        return self._remember(self._audio, i, x)


def _load_built(root: Path, render_missing: bool) -> PerformanceSet:
    try:
        meta = json.loads((root / "index.json").read_text())
        rep = json.loads((root / "build_report.json").read_text())
        if not isinstance(meta, list) or not all("id" in m and "split" in m and "midi" in m for m in meta):
            raise ValueError("entries without id, split or midi")
    except (OSError, ValueError, TypeError) as e:
        raise DataError(f"{root}: the built performances set is damaged ({type(e).__name__}: {e}). Delete the "
                        f"folder and run `make data` again.") from None
    report = BuildReport(f"performances {root}")
    kept = []
    for m in meta:
        if not (root / m["midi"]).is_file():
            report.skip(m["midi"], "listed in index.json but missing. Run `make data` again (or --force).")
            continue
        kept.append(m)
    report.kept = len(kept)
    report.fixed = list(rep.get("fixed", []))
    return PerformanceSet(kept, root, int(rep.get("sample_rate", SAMPLE_RATE)), report, render_missing)


def _load_folder(root: Path, render_missing: bool, sample_rate: int, progress: bool) -> PerformanceSet:
    from tqdm.auto import tqdm

    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise DataError(f"{root}: holds no MIDI files (.mid / .midi, searched recursively). {MAKE_DATA_FIX}")
    report = BuildReport(f"midi folder {root}")
    meta: list[dict] = []
    for f in tqdm(files, desc="reading MIDI", unit="file", disable=not progress):
        rel = f.relative_to(root).as_posix()
        try:
            pm = _read_performance_midi(f)
        except DataError as e:
            report.skip(rel, str(e))
            continue
        ccs = sorted({c.number for i in pm.instruments for c in i.control_changes})
        wav = f.with_suffix(".wav")
        meta.append({"id": rel.rsplit(".", 1)[0], "split": split_of(rel), "midi": rel,
                     "audio": wav.relative_to(root).as_posix() if wav.is_file() else None,
                     "programs": [int(i.program) for i in pm.instruments], "controllers": ccs,
                     "n_cc_events": sum(len(i.control_changes) for i in pm.instruments),
                     "n_notes": sum(len(i.notes) for i in pm.instruments),
                     "seconds": round(float(pm.get_end_time()), 3)})
    report.kept = len(meta)
    return PerformanceSet(meta, root, sample_rate, report, render_missing)


def load_performances(path: str | os.PathLike | None = None, render_missing: bool = True,
                      sample_rate: int = SAMPLE_RATE, progress: bool = True) -> PerformanceSet:
    """Open a built performances folder (index.json) or any folder of MIDI files; default: this profile's.

    For a plain folder every .mid/.midi is read (recursively, drum tracks dropped); unreadable, empty,
    truncated or note-less files are skipped and listed in .report.skipped; the split comes from a hash of
    the relative path; a WAV next to a MIDI file is used as its audio, else audio is rendered on demand
    (render_missing and FluidSynth) or None. Raises DataError when nothing usable is found.
    """
    root = Path(path).expanduser() if path is not None else context.data_dir("performances")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder. {MAKE_DATA_FIX}")
    if (root / "index.json").exists():
        pset = _load_built(root, render_missing)
    else:
        pset = _load_folder(root, render_missing, sample_rate, progress)
    if len(pset) == 0:
        raise DataError(f"{root}: none of its MIDI files could be used. {MAKE_DATA_FIX}\n{pset.report.summary()}")
    return pset


__all__ = ["AUDIBLE_THRESHOLD", "CONTROLLERS", "CURVE_KINDS", "PerformanceSet", "SYNTH_PROGRAMS", "audible_controllers",
           "automation", "build_performances", "controller_effects", "curve_params", "load_performances",
           "make_performance", "render_performance"]
