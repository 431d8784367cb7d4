"""Notes arrays, melody tokens and piano rolls on a 16th-note grid, and MIDI reading/writing with pretty_midi.

Notebooks: 01_audio_and_midi (notes arrays, MIDI files), 06_lstm_vae_melodies (melody tokens, piano rolls).
Rendering to audio is in course_lib.synth; chapter 07's event tokens and CC curves are in course_lib.events.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pretty_midi

# A "notes array" is an int32 array of shape (N, 5) with columns [pitch, start_step, end_step,
# velocity, track], times in grid steps (STEPS_PER_QUARTER steps per quarter note), end >= start + 1,
# rows sorted by (start, -pitch). Every representation below converts to and from this one.

STEPS_PER_QUARTER = 4  # 16th-note grid
PIANO_LOW, PIANO_HIGH = 21, 108  # A0 .. C8
N_PIANO = PIANO_HIGH - PIANO_LOW + 1  # 88
MELODY_HOLD = 0  # MusicVAE "no event": the previous state (note or silence) continues
MELODY_OFF = 1  # note-off
MELODY_FIRST_PITCH = 2  # token 2 = note-on of MIDI 21 ... token 89 = note-on of MIDI 108
N_MELODY_TOKENS = MELODY_FIRST_PITCH + N_PIANO  # 90
DEFAULT_VELOCITY = 80
PITCH, START, END, VELOCITY, TRACK = range(5)  # column names of a notes array


def empty_notes() -> np.ndarray:
    """A notes array with no notes: shape (0, 5), int32."""
    return np.zeros((0, 5), dtype=np.int32)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Rows sorted by (start, -pitch), then end, track, velocity: the canonical order."""
    notes = np.asarray(notes, dtype=np.int32).reshape(-1, 5)
    order = np.lexsort((notes[:, VELOCITY], notes[:, TRACK], notes[:, END], -notes[:, PITCH], notes[:, START]))
    return notes[order]


def check_piano_range(notes: np.ndarray) -> None:
    """Raise ValueError naming the first pitch outside the piano range 21..108."""
    pitches = np.asarray(notes).reshape(-1, 5)[:, PITCH]
    bad = pitches[(pitches < PIANO_LOW) | (pitches > PIANO_HIGH)]
    if bad.size:
        raise ValueError(f"pitch {int(bad[0])} is outside the piano range {PIANO_LOW}..{PIANO_HIGH} "
                         f"({bad.size} such notes); fold it in with fold_to_piano(notes) first")


def fold_to_piano(notes: np.ndarray) -> tuple[np.ndarray, int]:
    """Move notes outside 21..108 by whole octaves into range; return (notes, how many moved)."""
    notes = np.array(notes, dtype=np.int32).reshape(-1, 5)
    p = notes[:, PITCH]
    low, high = p < PIANO_LOW, p > PIANO_HIGH
    p[low] += 12 * ((PIANO_LOW - p[low] + 11) // 12)
    p[high] -= 12 * ((p[high] - PIANO_HIGH + 11) // 12)
    return sort_notes(notes), int(low.sum() + high.sum())


def midi_to_notes(pm: "pretty_midi.PrettyMIDI", steps_per_quarter: int = STEPS_PER_QUARTER,
                  include_drums: bool = False) -> np.ndarray:
    """Quantise a PrettyMIDI to a notes array [pitch, start, end, velocity, track] in grid steps.

    Steps are counted in MIDI ticks (tempo changes do not move the grid): step = round(tick / ticks_per_step).
    `track` is the instrument's index in pm.instruments; drum tracks are left out unless include_drums.
    """
    ticks_per_step = pm.resolution / steps_per_quarter
    rows = []
    for track, inst in enumerate(pm.instruments):
        if inst.is_drum and not include_drums:
            continue
        for n in inst.notes:
            s = int(round(pm.time_to_tick(n.start) / ticks_per_step))
            e = int(round(pm.time_to_tick(n.end) / ticks_per_step))
            rows.append((n.pitch, s, max(e, s + 1), n.velocity, track))
    return sort_notes(np.array(rows, dtype=np.int32)) if rows else empty_notes()


def notes_to_midi(notes: np.ndarray, tempo: float = 120.0, program: int | dict[int, int] = 0,
                  steps_per_quarter: int = STEPS_PER_QUARTER) -> "pretty_midi.PrettyMIDI":
    """A PrettyMIDI with one instrument per track value present (program: int or {track: program})."""
    import pretty_midi

    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 5)
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=float(tempo))
    sec_per_step = 60.0 / (float(tempo) * steps_per_quarter)
    for track in np.unique(notes[:, TRACK]):
        prog = program.get(int(track), 0) if isinstance(program, dict) else int(program)
        inst = pretty_midi.Instrument(program=int(prog), name=f"track {int(track)}")
        for p, s, e, v, _ in notes[notes[:, TRACK] == track].tolist():
            inst.notes.append(pretty_midi.Note(velocity=min(max(v, 1), 127), pitch=p,
                                               start=s * sec_per_step, end=e * sec_per_step))
        pm.instruments.append(inst)
    return pm


def melody_tokens(notes: np.ndarray, n_steps: int | None = None) -> np.ndarray:
    """MusicVAE melody tokens of a notes array, one per step: the "skyline" (top line) of all tracks.

    At each step where notes start, the highest starting pitch is the candidate; it becomes a note-on token
    (pitch - 19) unless a higher melody note is still sounding (a lower voice moving under a held soprano
    note is ignored). A melody note lasts until its end step or the next melody onset, whichever comes first;
    MELODY_OFF marks its end when no melody note starts there; every other step is MELODY_HOLD (the note or
    the rest continues). n_steps defaults to the last end step; later onsets are dropped. Monophonic input
    comes back unchanged through tokens_to_notes. Raises ValueError for pitches outside 21..108.
    """
    notes = np.asarray(notes).reshape(-1, 5)
    check_piano_range(notes)
    T = int(notes[:, END].max(initial=0)) if n_steps is None else int(n_steps)
    tokens = np.full(T, MELODY_HOLD, dtype=np.int64)
    notes = notes[notes[:, START] < T]
    if len(notes) == 0:
        return tokens
    order = np.lexsort((-notes[:, END], -notes[:, PITCH], notes[:, START]))  # per step: highest, then longest
    notes = notes[order]
    first = np.r_[True, notes[1:, START] != notes[:-1, START]]
    melody, cur_pitch, cur_end = [], -1, -1
    for s, p, e in notes[first][:, [START, PITCH, END]].tolist():
        if s < cur_end and p < cur_pitch:
            continue  # under a melody note that still sounds
        melody.append((s, p, e))
        cur_pitch, cur_end = p, e
    starts, pitches, ends = np.array(melody, dtype=np.int64).T
    next_start = np.r_[starts[1:], T]
    off = np.minimum(ends, next_start)
    tokens[off[off < next_start]] = MELODY_OFF
    tokens[starts] = pitches - PIANO_LOW + MELODY_FIRST_PITCH
    return tokens


def tokens_to_notes(tokens: np.ndarray, velocity: int = DEFAULT_VELOCITY) -> np.ndarray:
    """Melody tokens back to a notes array (track 0): a note-on lasts until the next note-on or note-off.

    A note-off during silence is ignored; a note still sounding at the end stops at len(tokens).
    """
    tokens = np.asarray(tokens).reshape(-1)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= N_MELODY_TOKENS):
        bad = tokens[(tokens < 0) | (tokens >= N_MELODY_TOKENS)][0]
        raise ValueError(f"melody token {int(bad)} is outside 0..{N_MELODY_TOKENS - 1}")
    events = np.flatnonzero(tokens != MELODY_HOLD)
    ons = events[tokens[events] >= MELODY_FIRST_PITCH]
    if ons.size == 0:
        return empty_notes()
    later = np.searchsorted(events, ons, side="right")  # index of the next event after each note-on
    ends = np.where(later < len(events), events[np.minimum(later, len(events) - 1)], len(tokens))
    pitch = tokens[ons] - MELODY_FIRST_PITCH + PIANO_LOW
    out = np.stack([pitch, ons, ends, np.full_like(ons, velocity), np.zeros_like(ons)], axis=1)
    return out.astype(np.int32)


def piano_roll(notes: np.ndarray, n_steps: int | None = None) -> np.ndarray:
    """Multi-hot piano roll, bool (88, T): row p - 21 is on while a note of pitch p sounds."""
    notes = np.asarray(notes).reshape(-1, 5)
    check_piano_range(notes)
    T = int(notes[:, END].max(initial=0)) if n_steps is None else int(n_steps)
    roll = np.zeros((N_PIANO, T), dtype=bool)
    for p, s, e in notes[:, :3]:
        roll[p - PIANO_LOW, s:e] = True
    return roll


def piano_roll_to_notes(roll: np.ndarray, velocity: int = DEFAULT_VELOCITY) -> np.ndarray:
    """Notes (track 0) from a piano roll: each run of active cells becomes one note.

    A roll cannot tell two touching notes of the same pitch from one long note: they come back merged.
    """
    roll = np.asarray(roll, dtype=bool)
    if roll.ndim != 2 or roll.shape[0] != N_PIANO:
        raise ValueError(f"a piano roll has shape (88, T); got {roll.shape}")
    padded = np.pad(roll, ((0, 0), (1, 1))).astype(np.int8)
    d = np.diff(padded, axis=1)
    rows_on, starts = np.nonzero(d == 1)
    rows_off, ends = np.nonzero(d == -1)  # same row-major order, so runs pair up
    out = np.stack([rows_on + PIANO_LOW, starts, ends, np.full_like(starts, velocity), np.zeros_like(starts)], 1)
    return sort_notes(out)
