"""Tests of course_lib.synth: rendering MIDI through FluidSynth."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.midi import notes_to_midi
from course_lib.synth import Synth, render


def notes(*rows) -> np.ndarray:
    """Rows of (pitch, start, end[, velocity[, track]]) with velocity 80 and track 0 by default."""
    return np.array([list(r) + [80, 0][len(r) - 3:] for r in rows], dtype=np.int32).reshape(-1, 5)


def test_render_is_audible_and_of_the_right_length():
    pytest.importorskip("fluidsynth")
    pm = notes_to_midi(notes((60, 0, 4), (64, 4, 8), (67, 8, 16)))  # 16 steps = 2 s at 120 bpm
    audio = render(pm, sample_rate=16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == round((pm.get_end_time() + 1.0) * 16000) == 48000
    assert np.sqrt(np.mean(audio[:32000] ** 2)) > 1e-3  # audible while the notes play
    assert np.abs(audio).max() < 1.0  # loudness kept: no peak normalisation


def test_render_gives_every_instrument_its_own_program():
    # Lakh files often hold more than 15 melodic instruments: silent extra tracks must not change the sound
    import pretty_midi

    def song(n_silent):
        pm = pretty_midi.PrettyMIDI()
        piano = pretty_midi.Instrument(program=0)
        piano.notes += [pretty_midi.Note(100, 60 + k, 0.25 * k, 0.25 * k + 0.2) for k in range(6)]
        pm.instruments.append(piano)
        for k in range(n_silent):
            pm.instruments.append(pretty_midi.Instrument(program=40 + k % 40))
        drum = pretty_midi.Instrument(program=0, is_drum=True)
        drum.notes.append(pretty_midi.Note(100, 36, 0.0, 0.1))
        pm.instruments.append(drum)
        return pm

    with Synth(16000) as synth:
        alone = synth.render(song(0), duration_s=2.0)
        crowded = synth.render(song(16), duration_s=2.0)
    assert alone.shape == crowded.shape == (32000,)
    assert np.abs(alone).max() > 0.01
    assert np.corrcoef(alone, crowded)[0, 1] > 0.99
