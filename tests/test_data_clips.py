"""Chapter 09's clips dataset: the factors of each clip, the balanced sampling, the build and the loader."""
import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from course_lib import data
from course_lib.data import clips as C
from course_lib.data.base import SPLITS
from course_lib.data.common import DataError
from course_lib.data.__main__ import main as data_cli
from course_lib.synth import fluidsynth_available

needs_fluidsynth = pytest.mark.skipif(not fluidsynth_available(),
                                      reason="FluidSynth (libfluidsynth + pyfluidsynth) is not installed: "
                                             "nothing can be rendered")
LEGATO, STACCATO, SIXTEENTHS, OFFBEAT = (C.FACTOR_CLASSES["rhythm"].index(f"cycle from {a}")
                                        for a in ("legato", "staccato", "sixteenths", "offbeat"))
ARTS = [name for name, _ in C.ARTICULATIONS]


# ---------------------------------------------------------------------------------------------- one clip

def test_constants_describe_the_factors_and_their_time_scales():
    assert C.FACTORS == ("instrument", "melody", "rhythm")
    assert [len(C.FACTOR_CLASSES[f]) for f in C.FACTORS] == [4, 8, 4] and C.N_COMBINATIONS == 128
    assert len({p for _, p in C.INSTRUMENTS}) == 4 and all(0 <= p <= 127 for _, p in C.INSTRUMENTS)
    contours = [tuple(o) for _, o in C.MELODIES]
    assert all(len(c) == C.N_NOTES == 8 for c in contours) and len(set(contours)) == 8
    assert C.N_NOTES * C.NOTE_S == C.SECONDS and C.SLOT_S * C.SLOTS_PER_NOTE == C.NOTE_S == 0.25
    intervals = {tuple(np.diff(c)) for c in contours}
    assert len(intervals) == 8  # no melody is a transposition of another: transposing never changes the class
    for _, pattern in C.ARTICULATIONS:  # inside one note, on the 16th grid, in time order, not overlapping
        ends = [s + g for s, g in pattern]
        assert all(0 <= s < 2 and 0 < g and s + g <= 2 for s, g in pattern)
        assert all(e <= s for e, (s, _) in zip(ends, pattern[1:]))
    seqs = [arts for _, arts in C.RHYTHMS]
    for r, arts in enumerate(seqs):  # every rhythm holds every articulation equally often: its mean is no cue
        assert len(arts) == 8 and np.bincount(arts, minlength=4).tolist() == [2, 2, 2, 2]
        assert all(a != b for a, b in zip(arts, arts[1:]))  # changes from note to note
        for q in range(r):  # two rhythms differ at every note
            assert all(a != b for a, b in zip(arts, seqs[q]))
    assert C.EXPECTED_LEVEL == {"instrument": 1, "melody": 2, "rhythm": 3}
    # the latent frames of a 32-frame log-mel (h1 4, h2 8, h3 16 frames over 2 s) match the factors' scales
    assert (C.SECONDS / 8, C.SECONDS / 16) == (C.NOTE_S, C.SLOT_S)
    pitches = [C.BASE_PITCH + t + o for t in range(C.TRANSPOSE[0], C.TRANSPOSE[1] + 1) for c in contours for o in c]
    assert 60 <= min(pitches) and max(pitches) <= 84  # flute needs >= 60 in the soundfont; trumpet <= 84


@pytest.mark.parametrize("rhythm", range(4))
@pytest.mark.parametrize("melody", range(8))
def test_clip_midi_plays_the_contour_with_one_articulation_per_note(melody, rhythm):
    instrument, transpose, velocity = (melody + rhythm) % 4, melody % 7 - 3, 70 + 5 * melody
    pm = C.clip_midi(instrument, melody, rhythm, transpose=transpose, velocity=velocity)
    assert len(pm.instruments) == 1 and pm.instruments[0].program == C.INSTRUMENTS[instrument][1]
    assert abs(pm.get_tempo_changes()[1][0] - 120.0) < 1e-9
    arts = C.RHYTHMS[rhythm][1]
    assert C.clip_articulations(rhythm) == [ARTS[a] for a in arts]
    expected = [(k, slot, gate) for k, a in enumerate(arts) for slot, gate in C.ARTICULATIONS[a][1]]
    notes = sorted(pm.instruments[0].notes, key=lambda n: n.start)
    assert len(notes) == len(expected)
    contour = C.MELODIES[melody][1]
    for n, (k, slot, gate) in zip(notes, expected):
        assert n.pitch == 64 + transpose + contour[k] and n.velocity == velocity
        assert n.start == pytest.approx(0.25 * k + 0.125 * slot, abs=1e-9)
        assert (n.start / 0.125) == pytest.approx(round(n.start / 0.125), abs=1e-9)  # on the 16th grid
        assert n.end - n.start == pytest.approx(0.125 * gate, abs=1e-9)
    assert max(n.end for n in notes) <= 2.0 + 1e-9
    assert C.clip_pitches(melody, transpose) == [64 + transpose + o for o in contour]


def test_the_eight_melodies_make_eight_different_note_sequences():
    seqs = {tuple(sorted({(int(n.start // 0.25), n.pitch) for n in C.clip_midi(0, m, LEGATO).instruments[0].notes}))
            for m in range(8)}
    assert len(seqs) == 8


def test_clip_midi_rejects_bad_indices_naming_the_range():
    for kwargs, match in [({"instrument": 4}, r"instrument must be an index in 0\.\.3"),
                          ({"instrument": -1}, r"0\.\.3"), ({"melody": 8}, r"melody must be an index in 0\.\.7"),
                          ({"rhythm": 4}, r"rhythm must be an index in 0\.\.3"), ({"melody": 1.0}, r"0\.\.7"),
                          ({"velocity": 0}, r"velocity"), ({"transpose": 100}, r"outside MIDI")]:
        args = {"instrument": 0, "melody": 0, "rhythm": 0, **kwargs}
        with pytest.raises(ValueError, match=match):
            C.clip_midi(**args)


# ---------------------------------------------------------------------------------------------- factors

def test_sample_factors_is_seeded_balanced_and_holds_combinations_out_of_training():
    a, b, other = C.sample_factors(1024, seed=3), C.sample_factors(1024, seed=3), C.sample_factors(1024, seed=4)
    assert a == b and a != other
    keys = ("instrument", "melody", "rhythm", "transpose", "velocity")
    assert all(set(f) == {*keys, "split"} for f in a)
    assert all(C.TRANSPOSE[0] <= f["transpose"] <= C.TRANSPOSE[1] and C.VELOCITY[0] <= f["velocity"] <= C.VELOCITY[1]
               for f in a)
    assert len({tuple(f[k] for k in keys) for f in a}) == 1024  # no clip is drawn twice
    counts = {s: sum(f["split"] == s for f in a) for s in SPLITS}
    assert counts == {"train": 820, "valid": 102, "test": 102}
    assert [f["split"] for f in a] == sorted((f["split"] for f in a), key=SPLITS.index)  # train, valid, test blocks
    combo = {s: {(f["instrument"], f["melody"], f["rhythm"]) for f in a if f["split"] == s} for s in SPLITS}
    held = {c for c in itertools.product(range(4), range(8), range(4)) if C.is_held_out(*c)}
    assert len(held) == 16 and all(sum(c) % 8 == 0 for c in held) and set(C.HELD_OUT) == held
    assert combo["test"] == held and not held & (combo["train"] | combo["valid"])  # test combinations never trained
    assert len(combo["train"]) == 112  # every other combination is
    for i, j in itertools.combinations(range(3), 2):  # yet every pair of two factors' values is in train
        assert {(c[i], c[j]) for c in combo["train"]} == {(c[i], c[j]) for c in itertools.product(range(4), range(8), range(4))}
    from collections import Counter  # balanced: each full cycle holds every seen (or held-out) combination once
    seen = Counter((f["instrument"], f["melody"], f["rhythm"]) for f in a[:112 * 8])
    assert set(seen.values()) == {8} and len(seen) == 112
    test = Counter((f["instrument"], f["melody"], f["rhythm"]) for f in a[-102:][:96])
    assert len(test) == 16 and set(test.values()) == {6}  # the 102 test clips: 6 full cycles of 16, then 6 more
    assert len({f["transpose"] for f in a}) == 7 and len({f["velocity"] for f in a}) > 30


@pytest.mark.parametrize("n", [1, 9, 10, 16, 1024])
def test_split_fractions(n):
    counts = {s: sum(f["split"] == s for f in C.sample_factors(n, 0)) for s in SPLITS}
    assert sum(counts.values()) == n and counts == C.split_counts(n)
    assert abs(counts["valid"] - 0.1 * n) <= 0.5 and abs(counts["test"] - 0.1 * n) <= 0.5
    with pytest.raises(ValueError, match="n must be in"):
        C.sample_factors(0, 0)


# ---------------------------------------------------------------------------------------------- FluidSynth

@needs_fluidsynth
def test_rendering_is_deterministic_and_every_articulation_is_heard():
    for instrument in range(4):
        x = {r: C.render_clip(C.clip_midi(instrument, 0, r, transpose=-3, velocity=90)) for r in range(4)}
        assert all(v.shape == (32000,) and v.dtype == np.float32 and 1e-3 < np.abs(v).max() < 0.9
                   for v in x.values())
        assert np.array_equal(x[LEGATO], C.render_clip(C.clip_midi(instrument, 0, LEGATO, transpose=-3, velocity=90)))
        late, dip = {a: [] for a in ARTS}, {a: [] for a in ARTS}
        for r, v in x.items():
            e = (v.reshape(8, 4, 1000).astype(np.float64) ** 2).sum(-1)  # note, 1/32 quarter of it
            for k, art in enumerate(C.clip_articulations(r)):
                if k or art != "offbeat":  # the first note has nothing before it to compare with
                    late[art].append((e[k, 2] + e[k, 3]) / (e[k, 0] + e[k, 1]))  # 2nd 16th over 1st
                dip[art].append(e[k, 1] / e[k, 0])  # after the first 1/32: a half-slot gate has ended
        assert max(late["staccato"]) < 0.2 and min(late["offbeat"]) > 4, (instrument, late)
        assert all(0.4 < q < 3 for a in ("legato", "sixteenths") for q in late[a]), (instrument, late)
        assert np.mean(dip["sixteenths"]) < 0.8 * np.mean(dip["legato"]), (instrument, dip)  # two onsets, not one


@needs_fluidsynth
def test_build_and_load_round_trip(tmp_path):
    out = tmp_path / "clips"
    rep = C.build_clips(out, 16, seed=1, progress=False)
    assert rep.kept == 16 and not rep.skipped
    index = json.loads((out / "clips.json").read_text())
    factors = C.sample_factors(16, 1)
    assert [e["file"] for e in index] == [f"audio/clip_{k:05d}.wav" for k in range(16)]
    assert sorted(p.name for p in (out / "audio").iterdir()) == [f"clip_{k:05d}.wav" for k in range(16)]
    for e, f in zip(index, factors):
        assert {k: e[k] for k in f} == f
        assert e["pitches"] == C.clip_pitches(f["melody"], f["transpose"])
        assert e["program"] == C.INSTRUMENTS[f["instrument"]][1] and e["rhythm_name"] == C.RHYTHMS[f["rhythm"]][0]
        assert e["articulations"] == C.clip_articulations(f["rhythm"])
        assert e["held_out"] == C.is_held_out(f["instrument"], f["melody"], f["rhythm"]) == (f["split"] == "test")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary folder left

    cs = C.load_clips(out)
    assert len(cs) == 16 and tuple(cs.audio.shape) == (16, 32000) and str(cs.audio.dtype) == "torch.float32"
    assert cs.sample_rate == 16000 and cs.meta == index
    for factor in C.FACTORS:
        assert cs.labels[factor].tolist() == [f[factor] for f in factors]
        assert str(cs.labels[factor].dtype) == "torch.int64"
    assert "16 clips" in repr(cs) and "'train': 12" in repr(cs)
    k = 5  # the built WAV is the rendering, up to 16-bit quantisation
    again = C.render_clip(C.clip_midi(*(factors[k][f] for f in (*C.FACTORS, "transpose", "velocity"))))
    assert np.abs(cs.audio[k].numpy() - again).max() < 1e-4

    valid = cs.split("valid")
    assert len(valid) == 2 and {m["split"] for m in valid.meta} == {"valid"}
    assert valid.labels["melody"].tolist() == [f["melody"] for f in factors[12:14]]
    assert np.array_equal(valid.audio.numpy(), cs.audio[12:14].numpy())
    assert len(C.load_clips(out, split="test")) == 2
    with pytest.raises(ValueError, match="unknown split"):
        cs.split("dev")
    L = cs.log_mel()
    assert tuple(L.shape) == (16, 64, 32) and bool(L.isfinite().all())
    assert tuple(cs.log_mel(n_mels=32, n_frames=20, batch_size=5).shape) == (16, 32, 20)
    assert tuple(C.load_clips(out, split="test").split("valid").log_mel().shape) == (0, 64, 32)


@needs_fluidsynth
def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    make = C._make_clip

    def fail_on_third(task):
        if task["id"] == "clip_00002":
            raise RuntimeError("disk full")
        return make(task)

    monkeypatch.setattr(C, "_make_clip", fail_on_third)
    with pytest.raises(RuntimeError, match="disk full"):
        C.build_clips(tmp_path / "clips", 4, progress=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- bad inputs

def _fake_folder(root, n: int = 3) -> list[dict]:
    """A clips folder without FluidSynth: noise WAVs and a valid clips.json."""
    (root / "audio").mkdir(parents=True)
    rng = np.random.default_rng(0)
    index = []
    for k, f in enumerate(C.sample_factors(n, 0)):
        rel = f"audio/clip_{k:05d}.wav"
        sf.write(str(root / rel), 0.1 * rng.standard_normal(32000), 16000, subtype="PCM_16")
        index.append({"file": rel, **f, "sample_rate": 16000})
    (root / "clips.json").write_text(json.dumps(index))
    return index


def test_load_reads_a_valid_folder_and_names_the_bad_file(tmp_path):
    good = tmp_path / "good"
    _fake_folder(good)
    assert len(C.load_clips(good)) == 3
    with pytest.raises(DataError, match="nowhere: no such folder.*make data"):
        C.load_clips(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown split"):
        C.load_clips(good, split="dev")

    cases = {}
    for name in ("no_index", "corrupt_index", "bad_label", "missing_wav", "truncated", "garbage", "rate", "length"):
        cases[name] = tmp_path / name
        _fake_folder(cases[name])
    (cases["no_index"] / "clips.json").unlink()
    (cases["corrupt_index"] / "clips.json").write_text('[{"file": "audio/clip_00000.wav", "spl')
    index = json.loads((cases["bad_label"] / "clips.json").read_text())
    index[1]["rhythm"] = 9
    (cases["bad_label"] / "clips.json").write_text(json.dumps(index))
    (cases["missing_wav"] / "audio" / "clip_00001.wav").unlink()
    wav = cases["truncated"] / "audio" / "clip_00001.wav"
    wav.write_bytes(wav.read_bytes()[:30000])
    (cases["garbage"] / "audio" / "clip_00001.wav").write_bytes(b"not a wav file" * 100)
    sf.write(str(cases["rate"] / "audio" / "clip_00001.wav"), np.zeros(44100), 22050, subtype="PCM_16")
    sf.write(str(cases["length"] / "audio" / "clip_00001.wav"), np.zeros(31999), 16000, subtype="PCM_16")
    expect = {"no_index": r"no_index/clips\.json: missing.*make data",
              "corrupt_index": r"corrupt_index/clips\.json: the clips index is damaged.*build",
              "bad_label": r"bad_label/clips\.json: entry 1 \(audio/clip_00001\.wav\) has the rhythm label 9; "
                           r"allowed 0\.\.3",
              "missing_wav": r"clip_00001\.wav: listed in clips\.json but missing.*build it again",
              "truncated": r"clip_00001\.wav: truncated",
              "garbage": r"clip_00001\.wav: not a readable audio file",
              "rate": r"clip_00001\.wav: sampled at 22050 Hz, the clips are at 16000 Hz.*build it again",
              "length": r"clip_00001\.wav: 31999 samples, a clip has exactly 32000"}
    for name, match in expect.items():
        with pytest.raises(DataError, match=match):
            C.load_clips(cases[name])
    assert data_cli(["check", str(cases["rate"]), "--kind", "clips"]) == 2


# ---------------------------------------------------------------------------------------------- registration

def test_registered_with_its_profile_sizes(isolated, monkeypatch):
    assert data.KINDS[:4] == ("notes", "melodies", "songs", "performances") and data.KINDS[4] == "clips"
    assert data.build_params("clips", "smoke") == {"version": data.BUILD_VERSION, "n_clips": 128, "seed": 0,
                                              "sample_rate": 16000, "design": 2}
    assert [data.build_params("clips", p)["n_clips"] for p in ("smoke", "cpu", "gpu")] == [128, 1024, 4096]
    _fake_folder(isolated / "mine")
    monkeypatch.setenv("COURSE_CLIPS", str(isolated / "mine"))
    assert data.dataset_path("clips", "smoke") == isolated / "mine"
    assert len(data.get_clips("train", "smoke")) == 3 and not data.is_built("clips", "smoke")


@needs_fluidsynth
def test_get_clips_builds_the_smoke_set_once(isolated, capsys):
    assert not data.is_built("clips", "smoke")
    train = data.get_clips("train", "smoke")
    assert data.is_built("clips", "smoke") and len(train) == 102 and {m["split"] for m in train.meta} == {"train"}
    everything = data.get_clips(profile="smoke")
    assert len(everything) == 128 and "up to date" not in capsys.readouterr().out  # is_built: no build call
    for factor, n in (("instrument", 4), ("melody", 8), ("rhythm", 4)):
        assert np.bincount(everything.labels[factor].numpy(), minlength=n).min() >= 128 // n - 8
    assert all(m["held_out"] == (m["split"] == "test") for m in everything.meta)
    assert data.build("smoke", ("clips",)) == {"clips": None}
    assert data_cli(["check", str(data.dataset_path("clips", "smoke")), "--kind", "clips"]) == 0
    assert "128 items loaded" in capsys.readouterr().out
