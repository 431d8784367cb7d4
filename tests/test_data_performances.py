"""Chapter 07's performances dataset: automation curves, one performance, the build, and loading MIDI folders."""
import json

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from course_lib import data
from course_lib.data import performances as P
from course_lib.data.base import SPLITS
from course_lib.data.common import DataError
from course_lib.data.melodies import load_melodies, split_of
from course_lib.midi import notes_to_midi
from course_lib.synth import fluidsynth_available

needs_fluidsynth = pytest.mark.skipif(not fluidsynth_available(),
                                      reason="FluidSynth (libfluidsynth + pyfluidsynth) is not installed: "
                                             "nothing can be rendered")
SPQ, N_STEPS = 8, 64  # the 1/32 grid, two bars


def _tune(rng: np.random.Generator, n_bars: int = 4) -> np.ndarray:
    """A random monophonic tune on the 16th grid: eighth and quarter notes."""
    rows, t = [], 0
    while t < 16 * n_bars:
        d = int(rng.choice([2, 4]))
        rows.append([int(rng.integers(60, 80)), t, t + d, 80, 0])
        t += d
    return np.array(rows, dtype=np.int32)


@pytest.fixture
def tunes_dir(tmp_path):
    """A folder of 8 small MIDI tunes: a melody set for build_performances."""
    folder = tmp_path / "tunes"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for k in range(8):
        notes_to_midi(_tune(rng)).write(str(folder / f"tune{k}.mid"))
    return folder


# ---------------------------------------------------------------------------------------------- curves

@pytest.mark.parametrize("kind", P.CURVE_KINDS)
def test_curves_stay_in_range_and_are_deterministic(kind):
    for seed in range(20):
        y = P.automation(kind, N_STEPS, SPQ, np.random.default_rng(seed))
        assert y.shape == (N_STEPS,) and y.dtype == np.int64
        assert y.min() >= 0 and y.max() <= 127
        assert np.array_equal(y, P.automation(kind, N_STEPS, SPQ, np.random.default_rng(seed)))
        low = P.automation(kind, N_STEPS, SPQ, np.random.default_rng(seed), value_range=(40, 127))
        assert low.min() >= 40
    with pytest.raises(ValueError, match="unknown curve kind"):
        P.automation("zigzag", N_STEPS, SPQ, np.random.default_rng(0))


@pytest.mark.parametrize("wave", ["sine", "triangle"])
@pytest.mark.parametrize("rate,period", [("1/2", 16), ("1/4", 8), ("1/8", 4)])
def test_lfo_period_matches_the_note_value(rate, period, wave):
    y = P.automation("lfo", N_STEPS, SPQ, np.random.default_rng(0), rate=rate, wave=wave, centre=64, depth=40,
                     phase="peak")
    assert y.max() == 104 and y.min() == 24
    spectrum = np.abs(np.fft.rfft(y - y.mean()))
    assert int(np.argmax(spectrum)) == N_STEPS // period  # cycles in two bars
    assert np.array_equal(np.flatnonzero(y == y.max()), np.arange(0, N_STEPS, period))  # one peak a period
    trough = P.automation("lfo", N_STEPS, SPQ, np.random.default_rng(0), rate=rate, wave=wave, centre=64, depth=40,
                          phase="trough")
    assert trough[0] == 24 and np.array_equal(np.flatnonzero(trough == 104), np.arange(period // 2, N_STEPS, period))


def test_sweep_swell_steps_and_constant_have_their_shape():
    rng = np.random.default_rng(0)
    up = P.automation("sweep", N_STEPS, SPQ, rng, start=10, end=120, shape="linear")
    assert up[0] == 10 and up[-1] == 120 and np.all(np.diff(up) >= 0)
    riser = P.automation("sweep", N_STEPS, SPQ, rng, start=10, end=120, shape="exp")
    assert riser[0] == 10 and riser[-1] == 120 and riser[N_STEPS // 2] < up[N_STEPS // 2]
    down = P.automation("sweep", N_STEPS, SPQ, rng, start=120, end=10, shape="linear")
    assert np.all(np.diff(down) <= 0)
    swell = P.automation("swell", N_STEPS, SPQ, rng, low=20, high=110, peak=0.5)
    assert swell[0] == 20 and swell[-1] == 20 and swell.max() == 110 and abs(int(np.argmax(swell)) - 32) <= 1
    steps = P.automation("steps", N_STEPS, SPQ, rng)
    beats = steps.reshape(-1, SPQ)  # one value held through each beat
    assert np.all(beats == beats[:, :1]) and len(np.unique(beats[:, 0])) > 1
    const = P.automation("constant", N_STEPS, SPQ, rng, value=77)
    assert np.all(const == 77)


# ---------------------------------------------------------------------------------------------- one piece

@pytest.mark.parametrize("seed", range(8))
def test_make_performance_writes_cc_only_for_chosen_controllers_and_only_on_change(seed):
    notes = _tune(np.random.default_rng(100 + seed), n_bars=6)
    controllers = (1, 7, 11, 91, 93)
    pm, meta = P.make_performance(notes, np.random.default_rng(seed), (81, 38, 89), controllers, n_bars=2,
                                  tune_id="t")
    assert len(pm.instruments) == 1 and pm.instruments[0].program == meta["program"] in (81, 38, 89)
    assert abs(pm.get_tempo_changes()[1][0] - 120.0) < 1e-6
    inst = pm.instruments[0]
    assert 0 < len(inst.notes) == meta["n_notes"] and max(n.end for n in inst.notes) <= 4.0 + 1e-9
    assert all(1 <= n.velocity <= 127 for n in inst.notes)
    chosen = sorted(int(c) for c in meta["curves"])
    assert 2 <= len(chosen) <= 4 and set(chosen) <= set(controllers)
    assert sorted({c.number for c in inst.control_changes}) == chosen
    sec = 60.0 / (120.0 * SPQ)
    for cc in chosen:
        curve = meta["curves"][str(cc)]
        y = P.automation(curve["kind"], N_STEPS, SPQ, np.random.default_rng(0), **curve["params"])
        events = [(round(c.time / sec), c.value) for c in inst.control_changes if c.number == cc]
        steps = [s for s, _ in events]
        assert all(s % 2 == 0 for s in steps) and steps[0] == 0  # every cc_every = 2 steps, from the start
        values = [v for _, v in events]
        assert all(a != b for a, b in zip(values, values[1:]))  # written only where the value changes
        held = y[::2]
        assert values == [int(held[0])] + [int(v) for prev, v in zip(held, held[1:]) if v != prev]
        assert steps == [0] + [2 * i for i in range(1, len(held)) if held[i] != held[i - 1]]
    assert meta["tune_id"] == "t" and meta["n_bars"] == 2
    again, meta2 = P.make_performance(notes, np.random.default_rng(seed), (81, 38, 89), controllers, n_bars=2,
                                      tune_id="t")
    assert meta2 == meta and [(c.number, c.value, c.time) for c in again.instruments[0].control_changes] == \
        [(c.number, c.value, c.time) for c in inst.control_changes]


def test_make_performance_rejects_what_it_cannot_play():
    with pytest.raises(ValueError, match="at least one note"):
        P.make_performance(np.zeros((0, 5), np.int32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="multiple of"):
        P.make_performance(_tune(np.random.default_rng(0)), np.random.default_rng(0), steps_per_quarter=6)


# ---------------------------------------------------------------------------------------------- FluidSynth

@needs_fluidsynth
def test_controller_measurement_has_a_value_per_controller_and_finds_volume_and_expression():
    effects = P.controller_effects()
    assert sorted(effects) == sorted(P.CONTROLLERS)
    assert all(np.isfinite(d) and d >= 0 for d in effects.values())
    audible = P.audible_controllers(effects=effects)
    assert 7 in audible and 11 in audible
    assert P.audible_controllers(threshold=1e9, effects=effects) == []


@needs_fluidsynth
def test_build_writes_matching_files_and_is_reproducible(isolated, tunes_dir):
    out = isolated / "perf"
    rep = P.build_performances(out, 6, tunes_dir, n_bars=2, seed=3, progress=False)
    assert rep.kept == 6
    index = json.loads((out / "index.json").read_text())
    ids = [e["id"] for e in index]
    assert len(ids) == len(set(ids)) == 6
    assert sorted(p.stem for p in (out / "midi").glob("*.mid")) == sorted(ids)
    assert sorted(p.stem for p in (out / "audio").glob("*.wav")) == sorted(ids)
    tunes = load_melodies(tunes_dir, progress=False)
    split_of_tune = {m["tune_id"]: m["split"] for m in tunes.meta}
    ctl = json.loads((out / "controllers.json").read_text())
    assert set(ctl["effects"]) == {str(c) for c in P.CONTROLLERS} and 7 in ctl["audible"]
    for e in index:
        assert e["split"] == split_of_tune[e["tune_id"]] in SPLITS
        assert 2 <= len(e["controllers"]) <= 4 and set(e["controllers"]) <= set(ctl["audible"])
        x, sr = sf.read(str(out / e["audio"]))
        assert sr == 16000 and x.ndim == 1 and len(x) == 2 * 2 * 16000 + 8000 == round(e["seconds"] * sr)
        assert np.abs(x).max() > 1e-3  # not silent
        pm = pretty_midi.PrettyMIDI(str(out / e["midi"]))
        assert sorted({c.number for c in pm.instruments[0].control_changes}) == e["controllers"]
    assert json.loads((out / "build_report.json").read_text())["kept"] == 6

    again = isolated / "perf2"
    P.build_performances(again, 6, tunes_dir, n_bars=2, seed=3, progress=False)
    for f in sorted(out.rglob("*")):
        if f.is_file() and f.name != "build_report.json":  # the report holds the wall time
            assert f.read_bytes() == (again / f.relative_to(out)).read_bytes(), f.name

    pset = P.load_performances(out)
    assert len(pset) == 6 and pset.ids == ids and pset.sample_rate == 16000
    assert sum(len(pset.split(s)) for s in SPLITS) == 6
    assert pset.midi(0).instruments[0].control_changes
    assert len(pset.audio(0)) == 72000


@needs_fluidsynth
def test_a_failed_build_leaves_nothing_behind(isolated, tunes_dir, monkeypatch):
    out = isolated / "perf"
    make = P._make_piece

    def fail_on_third(task):
        if task["k"] == 2:
            raise RuntimeError("disk full")
        return make(task)

    monkeypatch.setattr(P, "_make_piece", fail_on_third)
    with pytest.raises(RuntimeError, match="disk full"):
        P.build_performances(out, 4, tunes_dir, progress=False)
    assert not out.exists() and list(isolated.glob(".perf*")) == []


# ---------------------------------------------------------------------------------------------- loading

def _cc_file(path, seed: int, drums: bool = False) -> None:
    rng = np.random.default_rng(seed)
    pm = notes_to_midi(_tune(rng, n_bars=1), program=81)
    for k in range(8):
        pm.instruments[0].control_changes.append(pretty_midi.ControlChange(74, int(rng.integers(0, 128)), 0.25 * k))
    if drums:
        kit = pretty_midi.Instrument(0, is_drum=True)
        kit.notes.append(pretty_midi.Note(100, 36, 0.0, 0.1))
        pm.instruments.append(kit)
    pm.write(str(path))


def test_loading_a_plain_midi_folder_reports_bad_files(tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    _cc_file(folder / "a.mid", 0)
    _cc_file(folder / "sub" / "b.midi", 1, drums=True)
    _cc_file(folder / "c.mid", 2)
    (folder / "empty.mid").write_bytes(b"")
    (folder / "corrupt.mid").write_bytes(b"this is not a MIDI file at all" * 4)
    whole = (folder / "a.mid").read_bytes()
    (folder / "truncated.mid").write_bytes(whole[: len(whole) // 2])
    pset = P.load_performances(folder, render_missing=False, progress=False)
    assert len(pset) == 3 and pset.ids == ["a", "c", "sub/b"]
    skipped = {s["file"]: s["reason"] for s in pset.report.skipped}
    assert set(skipped) == {"empty.mid", "corrupt.mid", "truncated.mid"}
    assert "empty" in skipped["empty.mid"] and "not a readable MIDI" in skipped["corrupt.mid"]
    for i, m in enumerate(pset.meta):
        assert m["split"] == split_of(m["midi"]) and m["controllers"] == [74] and m["n_cc_events"] == 8
        pm = pset.midi(i)
        assert not any(inst.is_drum for inst in pm.instruments) and pm.instruments[0].control_changes
        assert pset.audio(i) is None  # no WAV and render_missing=False
    assert pset.midi(0) is pset.midi(0)  # cached


@needs_fluidsynth
def test_a_plain_midi_folder_is_rendered_on_demand(tmp_path):
    _cc_file(tmp_path / "a.mid", 0)
    pset = P.load_performances(tmp_path, progress=False)
    x = pset.audio(0)
    assert x.dtype == np.float32 and len(x) == round((pset.midi(0).get_end_time() + 0.5) * 16000)
    assert np.abs(x).max() > 1e-3


def test_loading_nothing_usable_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="no such folder.*make data"):
        P.load_performances(tmp_path / "nowhere")
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="holds no MIDI files"):
        P.load_performances(tmp_path / "none")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.mid").write_bytes(b"")
    with pytest.raises(DataError, match=r"bad: none of its MIDI files could be used(.|\n)*x.mid"):
        P.load_performances(tmp_path / "bad", progress=False)


def test_registered_as_a_dataset_after_melodies(isolated, monkeypatch):
    assert data.KINDS.index("performances") > data.KINDS.index("melodies")
    _cc_file(isolated / "a.mid", 0)
    monkeypatch.setenv("COURSE_PERFORMANCES", str(isolated))
    assert data.dataset_path("performances", "smoke") == isolated
    pset = data.get_performances("smoke", render_missing=False, progress=False)
    assert pset.ids == ["a"] and not data.is_built("performances", "smoke")
