"""Tests of course_lib.midi: notes arrays, melody tokens, piano rolls and MIDI files."""
from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import midi
from course_lib.midi import (MELODY_HOLD as H, MELODY_OFF as OFF, fold_to_piano, melody_tokens, midi_to_notes,
                             notes_to_midi, piano_roll, piano_roll_to_notes, tokens_to_notes)


def on(pitch: int) -> int:
    return pitch - 19


def notes(*rows) -> np.ndarray:
    """Rows of (pitch, start, end[, velocity[, track]]) with velocity 80 and track 0 by default."""
    return np.array([list(r) + [80, 0][len(r) - 3:] for r in rows], dtype=np.int32).reshape(-1, 5)


def test_constants():
    assert (midi.STEPS_PER_QUARTER, midi.PIANO_LOW, midi.PIANO_HIGH, midi.N_PIANO) == (4, 21, 108, 88)
    assert (midi.MELODY_HOLD, midi.MELODY_OFF, midi.N_MELODY_TOKENS) == (0, 1, 90)
    assert on(21) == 2 and on(108) == 89


# ------------------------------------------------------------------------------------------ melody tokens

@pytest.mark.parametrize("rows, n_steps, expected", [
    # a single note at step 0, running to the end: no note-off fits
    ([(60, 0, 4)], None, [on(60), H, H, H]),
    # simultaneous onsets: the highest pitch wins and lasts until its own end
    ([(60, 0, 4), (67, 0, 2), (64, 0, 4)], None, [on(67), H, OFF, H]),
    # overlapping notes: a higher onset cuts the sounding note
    ([(60, 0, 6), (62, 2, 4)], None, [on(60), H, on(62), H, OFF, H]),
    # a lower voice moving under a held melody note is not melody
    ([(72, 0, 8), (60, 2, 4), (62, 4, 8)], None, [on(72)] + [H] * 7),
    # ... but once the melody note has ended, a lower onset is melody again
    ([(72, 0, 2), (60, 1, 4), (62, 3, 6)], None, [on(72), H, OFF, on(62), H, H]),
    # long silences: note-off, then holds that mean "rest"
    ([(60, 0, 1), (62, 10, 11)], 14, [on(60), OFF] + [H] * 8 + [on(62), OFF, H, H]),
    # leading silence
    ([(70, 3, 5)], 6, [H, H, H, on(70), H, OFF]),
    # repeated same pitch, touching: a new note-on, no note-off
    ([(60, 0, 2), (60, 2, 4)], None, [on(60), H, on(60), H]),
    # repeated same pitch with a gap
    ([(60, 0, 1), (60, 2, 3)], 4, [on(60), OFF, on(60), OFF]),
    # n_steps shorter than the notes: later onsets are dropped
    ([(60, 0, 2), (62, 4, 6)], 3, [on(60), H, OFF]),
    # the extremes of the piano
    ([(21, 0, 1), (108, 1, 2)], 3, [2, 89, OFF]),
    # nothing at all
    ([], 3, [H, H, H]),
])
def test_melody_tokens_cases(rows, n_steps, expected):
    t = melody_tokens(notes(*rows), n_steps)
    assert t.dtype == np.int64
    assert t.tolist() == expected
    back = tokens_to_notes(t)  # the tokens decode to a monophonic line that encodes to the same tokens
    assert melody_tokens(back, len(t)).tolist() == expected


def test_tokens_to_notes_ends():
    t = np.array([on(60), H, OFF, H, on(62), on(64), H])
    assert tokens_to_notes(t).tolist() == [[60, 0, 2, 80, 0], [62, 4, 5, 80, 0], [64, 5, 7, 80, 0]]
    # a note-off during silence means nothing
    assert tokens_to_notes([OFF, H, OFF]).shape == (0, 5)
    with pytest.raises(ValueError, match="90"):
        tokens_to_notes([0, 90])


def test_pitch_outside_piano_range_is_named():
    with pytest.raises(ValueError, match="pitch 10"):
        melody_tokens(notes((60, 0, 2), (10, 1, 2)))
    with pytest.raises(ValueError, match="pitch 120"):
        piano_roll(notes((120, 0, 2)))


def test_fold_to_piano():
    folded, moved = fold_to_piano(notes((10, 0, 1), (120, 1, 2), (60, 2, 3), (9, 3, 4), (108, 4, 5)))
    assert moved == 3
    assert folded[:, 0].tolist() == [22, 108, 60, 21, 108]
    assert np.all((folded[:, 0] - np.array([10, 120, 60, 9, 108])) % 12 == 0)


@st.composite
def valid_tokens(draw) -> np.ndarray:
    """A valid melody token sequence: a note-off only while a note sounds."""
    raw = draw(st.lists(st.one_of(st.just(H), st.just(OFF), st.integers(2, 89)), max_size=80))
    out, sounding = [], False
    for tok in raw:
        if tok == OFF and not sounding:
            tok = H
        sounding = tok >= 2 or (sounding and tok == H)
        out.append(tok)
    return np.array(out, dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(valid_tokens())
def test_tokens_round_trip_property(t):
    back = melody_tokens(tokens_to_notes(t), n_steps=len(t))
    assert back.tolist() == t.tolist()


@st.composite
def monophonic_notes(draw) -> np.ndarray:
    rows, t = [], draw(st.integers(0, 5))
    for gap, dur, pitch in draw(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 12), st.integers(21, 108)),
                                         max_size=30)):
        t += gap
        rows.append((pitch, t, t + dur, 80, 0))
        t += dur
    return np.array(rows, dtype=np.int32).reshape(-1, 5)


@settings(max_examples=300, deadline=None)
@given(monophonic_notes())
def test_monophonic_notes_round_trip_property(n):
    assert np.array_equal(tokens_to_notes(melody_tokens(n)), n)


# ------------------------------------------------------------------------------------------ piano roll

def test_piano_roll_round_trip():
    n = notes((60, 0, 4), (64, 0, 2), (67, 2, 6), (21, 5, 6), (108, 0, 1), (60, 6, 8))
    roll = piano_roll(n, n_steps=10)
    assert roll.shape == (88, 10) and roll.dtype == bool
    assert roll[60 - 21, :4].all() and not roll[60 - 21, 4:6].any() and roll.sum() == 4 + 2 + 4 + 1 + 1 + 2
    assert np.array_equal(piano_roll_to_notes(roll), midi.sort_notes(n))
    # the documented loss: touching notes of one pitch come back as one note
    merged = piano_roll_to_notes(piano_roll(notes((60, 0, 2), (60, 2, 4))))
    assert merged.tolist() == [[60, 0, 4, 80, 0]]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_piano_roll_from_random_roll(seed):
    roll = np.random.default_rng(seed).random((88, 24)) < 0.1
    assert np.array_equal(piano_roll(piano_roll_to_notes(roll), n_steps=24), roll)


def test_piano_roll_bad_shape():
    with pytest.raises(ValueError, match="88"):
        piano_roll_to_notes(np.zeros((12, 4), bool))


# ------------------------------------------------------------------------------------------ MIDI files

@pytest.mark.parametrize("tempo", [120.0, 97.0])
def test_midi_file_round_trip(tmp_path, tempo):
    n = midi.sort_notes(np.array([
        [60, 0, 4, 100, 0], [64, 0, 2, 90, 0], [67, 2, 3, 64, 0], [60, 8, 16, 1, 0],
        [36, 0, 16, 127, 1], [43, 5, 6, 50, 1], [21, 100, 101, 80, 1], [108, 3, 4, 80, 0]], dtype=np.int32))
    path = tmp_path / "song.mid"
    notes_to_midi(n, tempo=tempo, program={0: 0, 1: 33}).write(str(path))
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [i.program for i in pm.instruments] == [0, 33]
    back = midi_to_notes(pm)
    assert back.dtype == np.int32 and back.shape == n.shape
    assert np.array_equal(back, n)


def test_midi_to_notes_quantises_and_skips_drums():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)  # a 16th = 0.125 s
    piano = pretty_midi.Instrument(0)
    piano.notes += [pretty_midi.Note(80, 62, 0.26, 0.49), pretty_midi.Note(80, 60, 0.0, 0.01)]
    drums = pretty_midi.Instrument(0, is_drum=True)
    drums.notes.append(pretty_midi.Note(80, 36, 0.0, 0.1))
    pm.instruments += [piano, drums]
    assert midi_to_notes(pm).tolist() == [[60, 0, 1, 80, 0], [62, 2, 4, 80, 0]]  # end >= start + 1
    with_drums = midi_to_notes(pm, include_drums=True)
    assert with_drums.tolist() == [[60, 0, 1, 80, 0], [36, 0, 1, 80, 1], [62, 2, 4, 80, 0]]  # (start, -pitch)
    assert midi_to_notes(pretty_midi.PrettyMIDI()).shape == (0, 5)
