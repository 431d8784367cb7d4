"""MIDI with pretty_midi, and rendering through FluidSynth with the soundfont pretty_midi ships (Chapter 01)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FLUIDSYNTH_FIX = (
    "FluidSynth (the C library) is missing. Install it with:\n"
    "    sudo apt-get install -y libfluidsynth3      # Debian / Ubuntu\n"
    "    conda install -c conda-forge fluidsynth     # conda\n"
    "    brew install fluid-synth                    # macOS\n"
    "then run the command again (`make setup` does the Debian step for you when it may)."
)


class FluidSynthMissing(RuntimeError):
    """FluidSynth cannot be loaded; the message holds the install command (Chapter 00)."""


def soundfont_path() -> Path:
    """Chapter 01. The General MIDI soundfont that pretty_midi ships (TimGM6mb.sf2), or $COURSE_SOUNDFONT."""
    env = os.environ.get("COURSE_SOUNDFONT")
    if env:
        p = Path(env)
        if not p.exists():
            raise FileNotFoundError(f"COURSE_SOUNDFONT={env} does not exist. Point it at a .sf2 file or unset it.")
        return p
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def require_fluidsynth():
    """Chapter 00. Import pyfluidsynth or raise FluidSynthMissing with the install command."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth)
    except (ImportError, OSError) as e:
        raise FluidSynthMissing(f"{FLUIDSYNTH_FIX}\n(import error: {e})") from None
    if not hasattr(fluidsynth, "Synth"):
        raise FluidSynthMissing(
            "The `fluidsynth` module found is not pyfluidsynth (no Synth class). "
            "Run `pip uninstall fluidsynth && pip install pyfluidsynth`.")
    return fluidsynth


def fluidsynth_available() -> bool:
    """Chapter 00. True when FluidSynth can render."""
    try:
        require_fluidsynth()
        return True
    except FluidSynthMissing:
        return False


class Synth:
    """Chapter 00. A FluidSynth instance with the course soundfont loaded; renders mono float32 without normalising.

    Loudness is kept: the output is the synthesiser's int16 output divided by 32768 (no peak normalisation).
    """

    def __init__(self, sample_rate: int = 16000, gain: float = 0.5, soundfont: str | os.PathLike | None = None,
                 reverb: bool = False, chorus: bool = False):
        fs = require_fluidsynth()
        self.sample_rate = int(sample_rate)
        self._fs = fs.Synth(gain=gain, samplerate=float(sample_rate))
        for key, on in (("synth.reverb.active", reverb), ("synth.chorus.active", chorus)):
            try:
                self._fs.setting(key, int(on))
            except Exception:
                pass
        self.soundfont = Path(soundfont) if soundfont else soundfont_path()
        self._sfid = self._fs.sfload(str(self.soundfont))
        if self._sfid == -1:
            raise FileNotFoundError(f"FluidSynth could not load the soundfont {self.soundfont}.")

    def _samples(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        s = np.asarray(self._fs.get_samples(n), dtype=np.float32).reshape(-1, 2)
        return s.mean(axis=1) / 32768.0

    def note(self, program: int, pitch: int, velocity: int, hold_s: float, release_s: float,
             channel: int = 0, is_drum: bool = False) -> np.ndarray:
        """Chapter 00. One note: key held for hold_s, then released and rendered for release_s."""
        bank = 128 if is_drum else 0
        self._fs.program_select(channel, self._sfid, bank, int(program))
        hold = int(round(hold_s * self.sample_rate))
        rel = int(round(release_s * self.sample_rate))
        self._fs.noteon(channel, int(pitch), int(velocity))
        a = self._samples(hold)
        self._fs.noteoff(channel, int(pitch))
        b = self._samples(rel)
        self._fs.all_sounds_off(channel)
        self._samples(self.sample_rate // 10)  # flush tails so the next note starts from silence
        return np.concatenate([a, b])

    MELODIC_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15)  # channel 9 is General MIDI's drums

    def render(self, pm, duration_s: float | None = None) -> np.ndarray:
        """Chapter 01. Render a pretty_midi.PrettyMIDI to mono float32 audio, loudness kept.

        Each melodic instrument gets a channel of its own; files with more than 15 melodic instruments (common in
        Lakh) are rendered 15 at a time and mixed, so no two instruments ever share a channel's program.
        """
        end = pm.get_end_time() + 1.0 if duration_s is None else duration_s
        total = int(round(end * self.sample_rate))
        melodic = [i for i in pm.instruments if not i.is_drum]
        drums = [i for i in pm.instruments if i.is_drum]
        n = len(self.MELODIC_CHANNELS)
        groups = [melodic[k:k + n] for k in range(0, len(melodic), n)] or [[]]
        groups[0] = groups[0] + drums
        return np.sum([self._render_group(g, total) for g in groups], axis=0).astype(np.float32)

    def _render_group(self, instruments: list, total: int) -> np.ndarray:
        sr = self.sample_rate
        self._fs.system_reset()
        events = []  # (time, order, kind, args)
        melodic_channels = iter(self.MELODIC_CHANNELS)
        for inst in instruments:
            channel = 9 if inst.is_drum else next(melodic_channels)
            events.append((0.0, 0, "program", (channel, inst.program, inst.is_drum)))
            for cc in inst.control_changes:
                events.append((cc.time, 1, "cc", (channel, cc.number, cc.value)))
            for pb in inst.pitch_bends:
                events.append((pb.time, 1, "bend", (channel, pb.pitch)))
            for note in inst.notes:
                events.append((note.end, 2, "off", (channel, note.pitch)))
                events.append((note.start, 3, "on", (channel, note.pitch, note.velocity)))
        events.sort(key=lambda e: (e[0], e[1]))
        out, t_samples = [], 0
        for time, _, kind, args in events:
            target = int(round(time * sr))
            if target >= total:
                break
            if target > t_samples:
                out.append(self._samples(target - t_samples))
                t_samples = target
            if kind == "program":
                ch, prog, drum = args
                self._fs.program_select(ch, self._sfid, 128 if drum else 0, int(prog))
            elif kind == "cc":
                self._fs.cc(*args)
            elif kind == "bend":
                self._fs.pitch_bend(args[0], int(args[1]))
            elif kind == "off":
                self._fs.noteoff(*args)
            else:
                self._fs.noteon(*args)
        if total > t_samples:
            out.append(self._samples(total - t_samples))
        for ch in range(16):
            self._fs.all_sounds_off(ch)
        self._samples(sr // 10)
        return np.concatenate(out)[:total] if out else np.zeros(total, np.float32)

    def close(self) -> None:
        """Chapter 00. Free the synthesiser (also done on leaving a `with` block)."""
        if getattr(self, "_fs", None) is not None:
            self._fs.delete()
            self._fs = None

    def __enter__(self) -> "Synth":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


# ----------------------------------------------------------------------------------------------
# Notes arrays, melody tokens and piano rolls on a 16th-note grid (Chapters 01 and 06).
#
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
    """Chapter 01. A notes array with no notes: shape (0, 5), int32."""
    return np.zeros((0, 5), dtype=np.int32)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Chapter 01. Rows sorted by (start, -pitch), then end, track, velocity: the canonical order."""
    notes = np.asarray(notes, dtype=np.int32).reshape(-1, 5)
    order = np.lexsort((notes[:, VELOCITY], notes[:, TRACK], notes[:, END], -notes[:, PITCH], notes[:, START]))
    return notes[order]


def check_piano_range(notes: np.ndarray) -> None:
    """Chapter 01. Raise ValueError naming the first pitch outside the piano range 21..108."""
    pitches = np.asarray(notes).reshape(-1, 5)[:, PITCH]
    bad = pitches[(pitches < PIANO_LOW) | (pitches > PIANO_HIGH)]
    if bad.size:
        raise ValueError(f"pitch {int(bad[0])} is outside the piano range {PIANO_LOW}..{PIANO_HIGH} "
                         f"({bad.size} such notes); fold it in with fold_to_piano(notes) first")


def fold_to_piano(notes: np.ndarray) -> tuple[np.ndarray, int]:
    """Chapter 01. Move notes outside 21..108 by whole octaves into range; return (notes, how many moved)."""
    notes = np.array(notes, dtype=np.int32).reshape(-1, 5)
    p = notes[:, PITCH]
    low, high = p < PIANO_LOW, p > PIANO_HIGH
    p[low] += 12 * ((PIANO_LOW - p[low] + 11) // 12)
    p[high] -= 12 * ((p[high] - PIANO_HIGH + 11) // 12)
    return sort_notes(notes), int(low.sum() + high.sum())


def midi_to_notes(pm, steps_per_quarter: int = STEPS_PER_QUARTER, include_drums: bool = False) -> np.ndarray:
    """Chapter 01. Quantise a PrettyMIDI to a notes array [pitch, start, end, velocity, track] in grid steps.

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
                  steps_per_quarter: int = STEPS_PER_QUARTER):
    """Chapter 01. A PrettyMIDI with one instrument per track value present (program: int or {track: program})."""
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
    """Chapter 06. MusicVAE melody tokens of a notes array, one per step: the "skyline" (top line) of all tracks.

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
    """Chapter 06. Melody tokens back to a notes array (track 0): a note-on lasts until the next note-on or note-off.

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
    """Chapter 06. Multi-hot piano roll, bool (88, T): row p - 21 is on while a note of pitch p sounds."""
    notes = np.asarray(notes).reshape(-1, 5)
    check_piano_range(notes)
    T = int(notes[:, END].max(initial=0)) if n_steps is None else int(n_steps)
    roll = np.zeros((N_PIANO, T), dtype=bool)
    for p, s, e in notes[:, :3]:
        roll[p - PIANO_LOW, s:e] = True
    return roll


def piano_roll_to_notes(roll: np.ndarray, velocity: int = DEFAULT_VELOCITY) -> np.ndarray:
    """Chapter 06. Notes (track 0) from a piano roll: each run of active cells becomes one note.

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


def render(pm, sample_rate: int = 16000) -> np.ndarray:
    """Chapter 01. Render a PrettyMIDI with FluidSynth to mono float32 (loudness kept), end time + 1 s long."""
    with Synth(sample_rate=sample_rate) as synth:
        return synth.render(pm)


# ----------------------------------------------------------------------------------------------
# Event tokens with continuous-controller (CC) automation, on a 1/32-note grid (Chapter 07, paper 000).
#
# Steps are counted in MIDI ticks like midi_to_notes: step = round(tick / ticks_per_step), ticks_per_step =
# pm.resolution / steps_per_quarter, so tempo changes do not move the grid.

EVENT_STEPS_PER_QUARTER = 8  # 1/32 notes
CONTROLLERS = (1, 7, 10, 11, 71, 72, 73, 74, 91, 93)
CONTROLLER_NAMES = {1: "mod wheel", 7: "volume", 10: "pan", 11: "expression", 71: "resonance", 72: "release",
                    73: "attack", 74: "cutoff", 91: "reverb send", 93: "chorus send"}
# Power-on values of General MIDI Level 2 (MMA RP-024, "GM2 default values"): volume 100, pan 64 (centre),
# expression 127, sound controllers 71-74 at 64 (no change), modulation 0, reverb send 40, chorus send 0.
# (RP-015 "Reset All Controllers" agrees on modulation 0 and expression 127 and leaves the others alone.)
CC_DEFAULTS = {1: 0, 7: 100, 10: 64, 11: 127, 71: 64, 72: 64, 73: 64, 74: 64, 91: 40, 93: 0}
EVENT_KINDS = ("pad", "bos", "eos", "on", "off", "velocity", "shift", "cc")


def _to_step(pm, seconds: float, ticks_per_step: float) -> int:
    return int(round(pm.time_to_tick(seconds) / ticks_per_step))


def _performance_steps(pm, controllers, steps_per_quarter: int) -> tuple[list, list]:
    """Chapter 07. Notes [(pitch, start, end, velocity)] and CCs [(step, controller, value)] in grid steps.

    Non-drum instruments merged; a note lasts at least 1 step; CCs of other controllers dropped; of several
    events of one controller at one step the last in time order (stable over instrument and list order) wins.
    """
    tps = pm.resolution / steps_per_quarter
    notes, last = [], {}
    changes = []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for n in inst.notes:
            s, e = _to_step(pm, n.start, tps), _to_step(pm, n.end, tps)
            notes.append((int(n.pitch), s, max(e, s + 1), int(n.velocity)))
        changes += [cc for cc in inst.control_changes if cc.number in controllers]
    for cc in sorted(changes, key=lambda c: c.time):
        last[(cc.number, _to_step(pm, cc.time, tps))] = int(cc.value)
    order = {c: i for i, c in enumerate(controllers)}
    ccs = sorted(((s, c, v) for (c, s), v in last.items()), key=lambda x: (x[0], order[x[1]]))
    return notes, ccs


class EventVocab:
    """Chapter 07. The event vocabulary of paper 000: specials, note-on/off, velocity, time-shift, CC (controller, value).

    Ids: PAD=0, BOS=1, EOS=2, then 128 note-on (pitch 0..127), 128 note-off, n_velocity_bins VELOCITY,
    max_shift TIME_SHIFT (1..max_shift steps), then 128 CC values per controller (controller-major).
    Encoding: times become steps through ticks (round(tick / ticks_per_step)); non-drum instruments are merged
    into one stream, drum tracks dropped; a note whose end rounds to its start lasts 1 step. Velocity bin =
    velocity * n_velocity_bins // 128, decoded as the bin's middle value (clamped to 1..127); a VELOCITY token
    precedes a note-on only when its bin differs from the last one emitted (none before the first note), and
    decode assumes the bin of DEFAULT_VELOCITY (80) until the first VELOCITY token. CCs: only the vocabulary's
    controllers, values 0..127 exact; of several events of one controller at one step the last (in time order)
    wins; repeated equal values are kept. Within a step: note-offs (by pitch), CCs (vocabulary order), then
    note-ons (by pitch, then end, then velocity), each preceded by its VELOCITY token when needed. Time moves
    by TIME_SHIFT tokens (max_shift first for long gaps); step 0 needs none. Decode: a note-off closes the
    earliest open note of its pitch (FIFO), an unmatched note-off is ignored, notes still open close at the last
    step reached (at least 1 step long); PAD and BOS are ignored, and everything after EOS.
    """

    PAD, BOS, EOS = 0, 1, 2

    def __init__(self, controllers=CONTROLLERS, n_velocity_bins: int = 32, max_shift: int = 32,
                 steps_per_quarter: int = EVENT_STEPS_PER_QUARTER):
        if not 1 <= n_velocity_bins <= 64:
            raise ValueError(f"n_velocity_bins must be in 1..64 (every bin needs a velocity >= 1), "
                             f"got {n_velocity_bins}")
        if max_shift < 1 or steps_per_quarter < 1:
            raise ValueError(f"max_shift and steps_per_quarter must be >= 1, got {max_shift}, {steps_per_quarter}")
        self.controllers = tuple(int(c) for c in controllers)
        if len(set(self.controllers)) != len(self.controllers) or not all(0 <= c < 128 for c in self.controllers):
            raise ValueError(f"controllers must be distinct numbers in 0..127, got {controllers}")
        self.n_velocity_bins, self.max_shift = int(n_velocity_bins), int(max_shift)
        self.steps_per_quarter = int(steps_per_quarter)
        sizes = (1, 1, 1, 128, 128, self.n_velocity_bins, self.max_shift, 128 * len(self.controllers))
        starts = np.cumsum((0,) + sizes)
        self.offsets = {k: int(o) for k, o in zip(EVENT_KINDS, starts)}
        self.size = int(starts[-1])
        self._starts = starts[:-1]
        self.names = (["pad", "bos", "eos"] + [f"on {p}" for p in range(128)] + [f"off {p}" for p in range(128)]
                      + [f"vel {b}" for b in range(self.n_velocity_bins)]
                      + [f"shift {s}" for s in range(1, self.max_shift + 1)]
                      + [f"cc{c}={v}" for c in self.controllers for v in range(128)])

    # ---- token ids
    def on(self, pitch: int) -> int:
        """Chapter 07. The NOTE_ON token of a pitch 0..127."""
        return self.offsets["on"] + int(pitch)

    def off(self, pitch: int) -> int:
        """Chapter 07. The NOTE_OFF token of a pitch 0..127."""
        return self.offsets["off"] + int(pitch)

    def velocity(self, bin_: int) -> int:
        """Chapter 07. The VELOCITY token of a bin 0..n_velocity_bins-1."""
        return self.offsets["velocity"] + int(bin_)

    def shift(self, steps: int) -> int:
        """Chapter 07. The TIME_SHIFT token of 1..max_shift steps."""
        return self.offsets["shift"] + int(steps) - 1

    def cc(self, controller: int, value: int) -> int:
        """Chapter 07. The CC token of (controller, value 0..127); the controller must be in the vocabulary."""
        return self.offsets["cc"] + 128 * self.controllers.index(int(controller)) + int(value)

    def velocity_bin(self, velocity: int) -> int:
        """Chapter 07. The bin of a MIDI velocity: velocity * n_velocity_bins // 128."""
        return int(velocity) * self.n_velocity_bins // 128

    def bin_velocity(self, bin_: int) -> int:
        """Chapter 07. A bin's representative velocity: the middle of its range, clamped to 1..127."""
        lo = -(-128 * bin_ // self.n_velocity_bins)
        hi = -(-128 * (bin_ + 1) // self.n_velocity_bins) - 1
        return min(max((lo + hi + 1) // 2, 1), 127)

    # ---- inspection
    def _check(self, tokens) -> np.ndarray:
        t = np.asarray(tokens, dtype=np.int64).reshape(-1)
        bad = t[(t < 0) | (t >= self.size)]
        if bad.size:
            raise ValueError(f"event token {int(bad[0])} is outside 0..{self.size - 1}")
        return t

    def kind(self, token: int) -> str:
        """Chapter 07. The kind of a token: "pad", "bos", "eos", "on", "off", "velocity", "shift" or "cc"."""
        t = int(self._check([token])[0])
        return EVENT_KINDS[int(np.searchsorted(self._starts, t, side="right")) - 1]

    def describe(self, tokens) -> list[str]:
        """Chapter 07. The human-readable name of each token, e.g. ["bos", "vel 20", "on 60", "shift 4", ...]."""
        return [self.names[t] for t in self._check(tokens).tolist()]

    def counts(self, token_arrays) -> dict[str, int]:
        """Chapter 07. How many tokens of each kind a list of token arrays holds (every kind listed, 0 included)."""
        total = np.zeros(len(EVENT_KINDS), dtype=np.int64)
        for tokens in token_arrays:
            kinds = np.searchsorted(self._starts, self._check(tokens), side="right") - 1
            total += np.bincount(kinds, minlength=len(EVENT_KINDS))
        return {k: int(n) for k, n in zip(EVENT_KINDS, total)}

    # ---- encode / decode
    def encode(self, pm, bos_eos: bool = True) -> np.ndarray:
        """Chapter 07. A PrettyMIDI as int64 event tokens (rules in the class docstring), [BOS, ..., EOS] if bos_eos."""
        notes, ccs = _performance_steps(pm, self.controllers, self.steps_per_quarter)
        order = {c: i for i, c in enumerate(self.controllers)}
        events = [(e, 0, p, 0, 0) for p, s, e, v in notes]
        events += [(s, 1, order[c], v, 0) for s, c, v in ccs]
        events += [(s, 2, p, e, self.velocity_bin(v)) for p, s, e, v in notes]
        out = [self.BOS] if bos_eos else []
        now, last_bin = 0, None
        for step, kind, a, b, c in sorted(events):
            while step > now:
                jump = min(step - now, self.max_shift)
                out.append(self.shift(jump))
                now += jump
            if kind == 0:
                out.append(self.off(a))
            elif kind == 1:
                out.append(self.cc(self.controllers[a], b))
            else:
                if c != last_bin:
                    out.append(self.velocity(c))
                    last_bin = c
                out.append(self.on(a))
        if bos_eos:
            out.append(self.EOS)
        return np.array(out, dtype=np.int64)

    def _new_pm(self, tempo: float, program: int):
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(resolution=60 * self.steps_per_quarter, initial_tempo=float(tempo))
        pm.instruments.append(pretty_midi.Instrument(program=int(program)))
        return pm

    def _fill(self, pm, notes: list, ccs: list, tempo: float) -> None:
        import pretty_midi

        sec = 60.0 / (float(tempo) * self.steps_per_quarter)
        inst = pm.instruments[0]
        for p, s, e, v in sorted(notes, key=lambda n: (n[1], n[0], n[2], n[3])):
            inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=s * sec, end=e * sec))
        for s, c, v in ccs:
            inst.control_changes.append(pretty_midi.ControlChange(number=int(c), value=int(v), time=s * sec))

    def decode(self, tokens, tempo: float = 120.0, program: int = 0):
        """Chapter 07. Event tokens back to a PrettyMIDI with one instrument; step k lies at k * 60 / (tempo * spq) s.

        Raises ValueError naming the first token outside 0..size-1. Notes sorted by (start, pitch, end, velocity).
        """
        tokens = self._check(tokens)
        off = self.offsets
        now, vel_bin = 0, self.velocity_bin(DEFAULT_VELOCITY)
        open_notes: dict[int, list] = {}
        notes, ccs = [], []
        for t in tokens.tolist():
            kind = EVENT_KINDS[int(np.searchsorted(self._starts, t, side="right")) - 1]
            if kind == "eos":
                break
            if kind == "on":
                open_notes.setdefault(t - off["on"], []).append((now, self.bin_velocity(vel_bin)))
            elif kind == "off" and open_notes.get(t - off["off"]):
                start, v = open_notes[t - off["off"]].pop(0)
                notes.append((t - off["off"], start, now, v))
            elif kind == "velocity":
                vel_bin = t - off["velocity"]
            elif kind == "shift":
                now += t - off["shift"] + 1
            elif kind == "cc":
                i, v = divmod(t - off["cc"], 128)
                ccs.append((now, self.controllers[i], v))
        for p, stack in open_notes.items():
            notes += [(p, s, max(now, s + 1), v) for s, v in stack]
        pm = self._new_pm(tempo, program)
        self._fill(pm, notes, ccs, tempo)
        return pm

    def quantize(self, pm, tempo: float = 120.0, program: int = 0):
        """Chapter 07. The PrettyMIDI that decode(encode(pm)) gives, computed directly: the stated quantisation.

        Grid steps, velocity bins, the vocabulary's controllers with the last value per step, and note-offs paired
        with note-ons first-in-first-out per pitch (overlapping notes of one pitch exchange their ends).
        """
        notes, ccs = _performance_steps(pm, self.controllers, self.steps_per_quarter)
        out = []
        for pitch in sorted({n[0] for n in notes}):
            mine = sorted((s, e, self.velocity_bin(v)) for p, s, e, v in notes if p == pitch)
            ends = sorted(e for _, e, _ in mine)
            out += [(pitch, s, e, self.bin_velocity(b)) for (s, _, b), e in zip(mine, ends)]
        q = self._new_pm(tempo, program)
        self._fill(q, out, ccs, tempo)
        return q


def cc_curves(pm, controllers=CONTROLLERS, n_steps: int | None = None,
              steps_per_quarter: int = EVENT_STEPS_PER_QUARTER) -> np.ndarray:
    """Chapter 07. Each controller's value on the step grid (len(controllers), n_steps), float: the last value set at or
    before the step (sample-and-hold, as a synthesiser reads it), CC_DEFAULTS before the first event.

    Steps through ticks as in EventVocab.encode (drum tracks dropped, last event per step wins); controllers
    without a CC_DEFAULTS entry start at 0. n_steps defaults to max(last note end, last CC step + 1).
    """
    controllers = tuple(int(c) for c in controllers)
    notes, ccs = _performance_steps(pm, controllers, steps_per_quarter)
    if n_steps is None:
        n_steps = max([e for _, _, e, _ in notes] + [s + 1 for s, _, _ in ccs] + [0])
    curves = np.empty((len(controllers), int(n_steps)), dtype=np.float64)
    for i, c in enumerate(controllers):
        curves[i] = CC_DEFAULTS.get(c, 0)
        for s, cc, v in ccs:  # in step order, so later events overwrite the tail
            if cc == c and s < n_steps:
                curves[i, s:] = v
    return curves
