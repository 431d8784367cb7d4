"""Event tokens with continuous-controller (CC) automation on a 1/32-note grid (paper 000), and CC curves.

Notebook: 07_transformer_vae_automation. Steps are counted in MIDI ticks like midi.midi_to_notes:
step = round(tick / ticks_per_step), ticks_per_step = pm.resolution / steps_per_quarter, so tempo changes do not
move the grid.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from .midi import DEFAULT_VELOCITY

if TYPE_CHECKING:
    import pretty_midi

EVENT_STEPS_PER_QUARTER = 8  # 1/32 notes
CONTROLLERS = (1, 7, 10, 11, 71, 72, 73, 74, 91, 93)
CONTROLLER_NAMES = {1: "mod wheel", 7: "volume", 10: "pan", 11: "expression", 71: "resonance", 72: "release",
                    73: "attack", 74: "cutoff", 91: "reverb send", 93: "chorus send"}
# Power-on values of General MIDI Level 2 (MMA RP-024, "GM2 default values"): volume 100, pan 64 (centre),
# expression 127, sound controllers 71-74 at 64 (no change), modulation 0, reverb send 40, chorus send 0.
# (RP-015 "Reset All Controllers" agrees on modulation 0 and expression 127 and leaves the others alone.)
CC_DEFAULTS = {1: 0, 7: 100, 10: 64, 11: 127, 71: 64, 72: 64, 73: 64, 74: 64, 91: 40, 93: 0}
EVENT_KINDS = ("pad", "bos", "eos", "on", "off", "velocity", "shift", "cc")


def _to_step(pm: "pretty_midi.PrettyMIDI", seconds: float, ticks_per_step: float) -> int:
    return int(round(pm.time_to_tick(seconds) / ticks_per_step))


def _performance_steps(pm: "pretty_midi.PrettyMIDI", controllers: Sequence[int],
                       steps_per_quarter: int) -> tuple[list, list]:
    """Notes [(pitch, start, end, velocity)] and CCs [(step, controller, value)] in grid steps.

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
    """The event vocabulary of paper 000: specials, note-on/off, velocity, time-shift, CC (controller, value).

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

    def __init__(self, controllers: Sequence[int] = CONTROLLERS, n_velocity_bins: int = 32, max_shift: int = 32,
                 steps_per_quarter: int = EVENT_STEPS_PER_QUARTER) -> None:
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
        """The NOTE_ON token of a pitch 0..127."""
        return self.offsets["on"] + int(pitch)

    def off(self, pitch: int) -> int:
        """The NOTE_OFF token of a pitch 0..127."""
        return self.offsets["off"] + int(pitch)

    def velocity(self, bin_: int) -> int:
        """The VELOCITY token of a bin 0..n_velocity_bins-1."""
        return self.offsets["velocity"] + int(bin_)

    def shift(self, steps: int) -> int:
        """The TIME_SHIFT token of 1..max_shift steps."""
        return self.offsets["shift"] + int(steps) - 1

    def cc(self, controller: int, value: int) -> int:
        """The CC token of (controller, value 0..127); the controller must be in the vocabulary."""
        return self.offsets["cc"] + 128 * self.controllers.index(int(controller)) + int(value)

    def velocity_bin(self, velocity: int) -> int:
        """The bin of a MIDI velocity: velocity * n_velocity_bins // 128."""
        return int(velocity) * self.n_velocity_bins // 128

    def bin_velocity(self, bin_: int) -> int:
        """A bin's representative velocity: the middle of its range, clamped to 1..127."""
        lo = -(-128 * bin_ // self.n_velocity_bins)
        hi = -(-128 * (bin_ + 1) // self.n_velocity_bins) - 1
        return min(max((lo + hi + 1) // 2, 1), 127)

    # ---- inspection
    def _check(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        t = np.asarray(tokens, dtype=np.int64).reshape(-1)
        bad = t[(t < 0) | (t >= self.size)]
        if bad.size:
            raise ValueError(f"event token {int(bad[0])} is outside 0..{self.size - 1}")
        return t

    def kind(self, token: int) -> str:
        """The kind of a token: "pad", "bos", "eos", "on", "off", "velocity", "shift" or "cc"."""
        t = int(self._check([token])[0])
        return EVENT_KINDS[int(np.searchsorted(self._starts, t, side="right")) - 1]

    def describe(self, tokens: Sequence[int] | np.ndarray) -> list[str]:
        """The human-readable name of each token, e.g. ["bos", "vel 20", "on 60", "shift 4", ...]."""
        return [self.names[t] for t in self._check(tokens).tolist()]

    def counts(self, token_arrays: Sequence[Sequence[int] | np.ndarray]) -> dict[str, int]:
        """How many tokens of each kind a list of token arrays holds (every kind listed, 0 included)."""
        total = np.zeros(len(EVENT_KINDS), dtype=np.int64)
        for tokens in token_arrays:
            kinds = np.searchsorted(self._starts, self._check(tokens), side="right") - 1
            total += np.bincount(kinds, minlength=len(EVENT_KINDS))
        return {k: int(n) for k, n in zip(EVENT_KINDS, total)}

    # ---- encode / decode
    def encode(self, pm: "pretty_midi.PrettyMIDI", bos_eos: bool = True) -> np.ndarray:
        """A PrettyMIDI as int64 event tokens (rules in the class docstring), [BOS, ..., EOS] if bos_eos."""
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

    def _new_pm(self, tempo: float, program: int) -> "pretty_midi.PrettyMIDI":
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(resolution=60 * self.steps_per_quarter, initial_tempo=float(tempo))
        pm.instruments.append(pretty_midi.Instrument(program=int(program)))
        return pm

    def _fill(self, pm: "pretty_midi.PrettyMIDI", notes: list, ccs: list, tempo: float) -> None:
        import pretty_midi

        sec = 60.0 / (float(tempo) * self.steps_per_quarter)
        inst = pm.instruments[0]
        for p, s, e, v in sorted(notes, key=lambda n: (n[1], n[0], n[2], n[3])):
            inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=s * sec, end=e * sec))
        for s, c, v in ccs:
            inst.control_changes.append(pretty_midi.ControlChange(number=int(c), value=int(v), time=s * sec))

    def decode(self, tokens: Sequence[int] | np.ndarray, tempo: float = 120.0,
               program: int = 0) -> "pretty_midi.PrettyMIDI":
        """Event tokens back to a PrettyMIDI with one instrument; step k lies at k * 60 / (tempo * spq) s.

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

    def quantize(self, pm: "pretty_midi.PrettyMIDI", tempo: float = 120.0,
                 program: int = 0) -> "pretty_midi.PrettyMIDI":
        """The PrettyMIDI that decode(encode(pm)) gives, computed directly: the stated quantisation.

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


def cc_curves(pm: "pretty_midi.PrettyMIDI", controllers: Sequence[int] = CONTROLLERS, n_steps: int | None = None,
              steps_per_quarter: int = EVENT_STEPS_PER_QUARTER) -> np.ndarray:
    """Each controller's value on the step grid (len(controllers), n_steps), float: the last value set at or
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
