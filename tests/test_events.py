"""Tests of course_lib.events: chapter 07's event tokens with CC automation, and CC curves."""
from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.events import CONTROLLERS, EventVocab, cc_curves

V = EventVocab()
Q = 0.0625  # seconds per 1/32 step at 120 bpm


def perf(notes_=(), ccs=(), tempo: float = 120.0, drums=(), program: int = 0) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from (pitch, start_s, end_s, velocity) notes and (number, value, time_s) CCs."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=program)
    inst.notes += [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for p, s, e, v in notes_]
    inst.control_changes += [pretty_midi.ControlChange(number=n, value=v, time=t) for n, v, t in ccs]
    pm.instruments.append(inst)
    if drums:
        drum = pretty_midi.Instrument(program=0, is_drum=True)
        drum.notes += [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for p, s, e, v in drums]
        drum.control_changes.append(pretty_midi.ControlChange(number=7, value=1, time=0.0))
        pm.instruments.append(drum)
    return pm


def note_rows(pm) -> list[tuple]:
    return [(n.pitch, n.start, n.end, n.velocity) for i in pm.instruments for n in i.notes]


def cc_rows(pm) -> list[tuple]:
    return [(c.number, c.value, c.time) for i in pm.instruments for c in i.control_changes]


def assert_same(a, b) -> None:
    na, nb = note_rows(a), note_rows(b)
    assert len(na) == len(nb)
    for x, y in zip(na, nb):
        assert x[0] == y[0] and x[3] == y[3] and x[1] == pytest.approx(y[1], abs=1e-6)
        assert x[2] == pytest.approx(y[2], abs=1e-6)
    ca, cb = cc_rows(a), cc_rows(b)
    assert len(ca) == len(cb)
    for x, y in zip(ca, cb):
        assert x[:2] == y[:2] and x[2] == pytest.approx(y[2], abs=1e-6)


def test_event_vocab_layout_names_and_kinds():
    assert V.size == 3 + 128 + 128 + 32 + 32 + 128 * len(CONTROLLERS) == 1603
    assert len(V.names) == V.size == len(set(V.names))
    assert V.names[V.on(60)] == "on 60" and V.names[V.off(60)] == "off 60"
    assert V.names[V.velocity(20)] == "vel 20" and V.names[V.shift(4)] == "shift 4"
    assert V.names[V.cc(74, 100)] == "cc74=100" and V.cc(1, 0) == V.offsets["cc"]
    firsts = {"pad": 0, "bos": 1, "eos": 2, "on": 3, "off": 131, "velocity": 259, "shift": 291, "cc": 323}
    assert V.offsets == firsts
    for kind, first in firsts.items():
        assert V.kind(first) == kind
    assert V.kind(V.on(127)) == "on" and V.kind(V.velocity(31)) == "velocity" and V.kind(V.size - 1) == "cc"
    small = EventVocab(controllers=(7,), n_velocity_bins=8, max_shift=4)
    assert small.size == 3 + 256 + 8 + 4 + 128
    for bad in (-1, V.size):
        with pytest.raises(ValueError, match=f"{bad} is outside 0..{V.size - 1}"):
            V.kind(bad)
        with pytest.raises(ValueError, match="outside"):
            V.decode([1, bad, 2])


def test_velocity_bins_and_representatives():
    for bins in (1, 7, 32, 64):
        v = EventVocab(n_velocity_bins=bins)
        for b in range(bins):
            assert v.velocity_bin(v.bin_velocity(b)) == b and 1 <= v.bin_velocity(b) <= 127
    assert V.velocity_bin(127) == 31 and V.bin_velocity(20) == 82  # 80..83 -> 82
    with pytest.raises(ValueError, match="n_velocity_bins"):
        EventVocab(n_velocity_bins=128)


def test_encode_chord_with_different_velocities_and_cc_at_the_same_step():
    pm = perf([(64, 0.0, 0.25, 100), (60, 0.0, 0.25, 40), (67, 0.0, 0.25, 41)], [(74, 90, 0.0), (7, 80, 0.0)])
    t = V.encode(pm)
    assert V.describe(t) == ["bos", "cc7=80", "cc74=90", "vel 10", "on 60", "vel 25", "on 64", "vel 10", "on 67",
                             "shift 4", "off 60", "off 64", "off 67", "eos"]
    assert_same(V.decode(t), V.quantize(pm))
    assert [n[3] for n in note_rows(V.decode(t))] == [42, 102, 42]


def test_decode_assumes_the_default_velocity_bin_and_ignores_pad_bos_and_after_eos():
    t = [V.PAD, V.BOS, V.on(60), V.shift(2), V.off(60), V.off(61), V.EOS, V.on(70), V.shift(3)]
    assert note_rows(V.decode(t)) == [(60, 0.0, 2 * Q, V.bin_velocity(V.velocity_bin(80)))]
    assert note_rows(V.decode([V.on(60), V.shift(5), V.on(62)])) == [(60, 0.0, 5 * Q, 82), (62, 5 * Q, 6 * Q, 82)]


def test_overlapping_notes_of_one_pitch_pair_first_in_first_out():
    pm = perf([(60, 0.0, 1.0, 80), (60, 0.25, 0.5, 80)])
    t = V.encode(pm)
    assert V.describe(t)[1:-1] == ["vel 20", "on 60", "shift 4", "on 60", "shift 4", "off 60", "shift 8", "off 60"]
    assert [r[1:3] for r in note_rows(V.decode(t))] == [(0.0, 0.5), (0.25, 1.0)]  # ends exchanged
    assert_same(V.decode(t), V.quantize(pm))


def test_a_note_ending_where_the_next_of_its_pitch_starts():
    pm = perf([(60, 0.0, 0.5, 80), (60, 0.5, 1.0, 80)])
    t = V.encode(pm)
    assert V.describe(t)[1:-1] == ["vel 20", "on 60", "shift 8", "off 60", "on 60", "shift 8", "off 60"]
    assert [r[1:3] for r in note_rows(V.decode(t))] == [(0.0, 0.5), (0.5, 1.0)]


def test_long_silence_uses_several_shifts_and_tempo_scales_times():
    pm = perf([(60, 0.0, 0.125, 80), (62, 10.0, 10.125, 80)])  # 5 bars at 120 bpm = 160 steps
    t = V.encode(pm)
    names = V.describe(t)
    assert names[names.index("off 60") + 1:names.index("on 62")] == ["shift 32"] * 4 + ["shift 30"]
    slow = V.decode(t, tempo=90.0)
    assert note_rows(slow)[1][1] == pytest.approx(10.0 * 120 / 90)
    assert slow.get_tempo_changes()[1][0] == pytest.approx(90.0)
    assert np.array_equal(V.encode(slow), t)  # the grid is in ticks: the tempo does not move it


def test_ccs_last_wins_unknown_controllers_and_drums_dropped():
    pm = perf([(60, 0.5, 1.0, 80)], [(7, 10, 0.0), (7, 20, 0.01), (64, 127, 0.0), (10, 0, 0.5), (10, 0, 0.75)],
              drums=[(36, 0.0, 0.1, 100)])
    t = V.encode(pm)
    assert V.describe(t) == ["bos", "cc7=20", "shift 8", "cc10=0", "vel 20", "on 60", "shift 4", "cc10=0",
                             "shift 4", "off 60", "eos"]  # repeated equal values are kept
    assert cc_rows(V.decode(t)) == [(7, 20, 0.0), (10, 0, 0.5), (10, 0, 0.75)]
    assert_same(V.decode(t), V.quantize(pm))
    assert V.counts([t, t[:3]]) == {"pad": 0, "bos": 2, "eos": 1, "on": 1, "off": 1, "velocity": 1, "shift": 4,
                                    "cc": 4}  # t[:3] adds bos, cc7=20, shift 8


def test_off_grid_and_zero_length_notes():
    pm = perf([(60, 0.03, 0.04, 80), (62, 0.1, 0.3, 80)])  # 0.03 s -> step 0, end rounds to 1 step at least
    rows = note_rows(V.quantize(pm))
    assert rows == [(60, 0.0, Q, 82), (62, 2 * Q, 5 * Q, 82)]
    assert_same(V.decode(V.encode(pm)), V.quantize(pm))
    assert list(V.encode(perf())) == [V.BOS, V.EOS] and list(V.encode(perf(), bos_eos=False)) == []


@st.composite
def performances(draw) -> pretty_midi.PrettyMIDI:
    on_grid = draw(st.booleans())
    tempo = draw(st.sampled_from([60.0, 90.0, 120.0, 137.0]))
    step = 60.0 / (tempo * 8)
    time = (st.integers(0, 120).map(lambda k: k * step) if on_grid
            else st.floats(0.0, 120 * step, allow_nan=False, allow_infinity=False))
    notes_ = []
    for _ in range(draw(st.integers(0, 12))):
        s = draw(time)
        d = draw(st.integers(0, 40).map(lambda k: k * step) if on_grid else st.floats(0.0, 40 * step))
        notes_.append((draw(st.integers(55, 65)), s, s + d, draw(st.integers(1, 127))))
    numbers = st.sampled_from([1, 7, 10, 64, 74, 91])  # 64 is not in the vocabulary
    ccs = [(draw(numbers), draw(st.integers(0, 127)), draw(time)) for _ in range(draw(st.integers(0, 10)))]
    return perf(notes_, ccs, tempo=tempo)


@settings(max_examples=60, deadline=None)
@given(performances())
def test_decode_encode_equals_quantize_and_round_trips(pm):
    t = V.encode(pm)
    q = V.quantize(pm)
    assert_same(V.decode(t), q)
    assert np.array_equal(V.encode(V.decode(t)), t)  # idempotent
    assert_same(V.quantize(q), q)
    assert np.array_equal(V.encode(q), t)


def test_cc_curves_sample_and_hold():
    pm = perf([(60, 0.0, 1.0, 80)], [(7, 50, 0.25), (7, 60, 0.5), (74, 0, 0.5), (64, 1, 0.0)])
    c = cc_curves(pm)
    assert c.shape == (len(CONTROLLERS), 16) and c.dtype == np.float64
    vol, cutoff, mod = c[CONTROLLERS.index(7)], c[CONTROLLERS.index(74)], c[CONTROLLERS.index(1)]
    assert list(vol) == [100] * 4 + [50] * 4 + [60] * 8
    assert list(cutoff) == [64] * 8 + [0] * 8 and list(mod) == [0] * 16
    assert cc_curves(pm, controllers=(7,), n_steps=6).tolist() == [[100] * 4 + [50] * 2]
    assert cc_curves(perf([], [(10, 0, 1.0)])).shape == (len(CONTROLLERS), 17)  # last CC step + 1
    assert cc_curves(perf()).shape == (len(CONTROLLERS), 0)
