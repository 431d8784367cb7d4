"""Chapter 09's clips dataset: the factors of each clip, the balanced sampling, the build and the loader."""
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
LEGATO, STACCATO, SIXTEENTHS = (C.FACTOR_CLASSES["rhythm"].index(r) for r in ("legato", "staccato", "sixteenths"))


# ---------------------------------------------------------------------------------------------- one clip

def test_constants_describe_the_factors():
    assert C.FACTORS == ("instrument", "melody", "rhythm")
    assert [len(C.FACTOR_CLASSES[f]) for f in C.FACTORS] == [4, 8, 4] and C.N_COMBINATIONS == 128
    assert len({p for _, p in C.INSTRUMENTS}) == 4 and all(0 <= p <= 127 for _, p in C.INSTRUMENTS)
    contours = [tuple(o) for _, o in C.MELODIES]
    assert all(len(c) == 4 for c in contours) and len(set(contours)) == 8
    intervals = {tuple(np.diff(c)) for c in contours}
    assert len(intervals) == 8  # no melody is a transposition of another: transposing never changes the class
    for _, pattern in C.RHYTHMS:  # inside one note, on the 16th grid, in time order, not overlapping
        ends = [s + g for s, g in pattern]
        assert all(0 <= s < 4 and 0 < g and s + g <= 4 for s, g in pattern)
        assert all(e <= s for e, (s, _) in zip(ends, pattern[1:]))
    pitches = [C.BASE_PITCH + t + o for t in range(C.TRANSPOSE[0], C.TRANSPOSE[1] + 1) for c in contours for o in c]
    assert 60 <= min(pitches) and max(pitches) <= 84  # flute needs >= 60 in the soundfont; trumpet <= 84


@pytest.mark.parametrize("rhythm", range(4))
@pytest.mark.parametrize("melody", range(8))
def test_clip_midi_plays_the_contour_with_the_gate_pattern(melody, rhythm):
    instrument, transpose, velocity = (melody + rhythm) % 4, melody % 7 - 3, 70 + 5 * melody
    pm = C.clip_midi(instrument, melody, rhythm, transpose=transpose, velocity=velocity)
    assert len(pm.instruments) == 1 and pm.instruments[0].program == C.INSTRUMENTS[instrument][1]
    assert abs(pm.get_tempo_changes()[1][0] - 120.0) < 1e-9
    pattern = C.RHYTHMS[rhythm][1]
    notes = sorted(pm.instruments[0].notes, key=lambda n: n.start)
    assert len(notes) == 4 * len(pattern)
    contour = C.MELODIES[melody][1]
    for j, n in enumerate(notes):
        k, e = divmod(j, len(pattern))
        slot, gate = pattern[e]
        assert n.pitch == 64 + transpose + contour[k] and n.velocity == velocity
        assert n.start == pytest.approx(0.5 * k + 0.125 * slot, abs=1e-9)
        assert (n.start / 0.125) == pytest.approx(round(n.start / 0.125), abs=1e-9)  # on the 16th grid
        assert n.end - n.start == pytest.approx(0.125 * gate, abs=1e-9)
    assert max(n.end for n in notes) <= 2.0 + 1e-9
    assert C.clip_pitches(melody, transpose) == [64 + transpose + o for o in contour]


def test_the_eight_melodies_make_eight_different_note_sequences():
    seqs = {tuple(n.pitch for n in C.clip_midi(0, m, LEGATO).instruments[0].notes) for m in range(8)}
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

def test_sample_factors_is_seeded_balanced_and_split_by_index():
    a, b, other = C.sample_factors(256, seed=3), C.sample_factors(256, seed=3), C.sample_factors(256, seed=4)
    assert a == b and a != other
    keys = ("instrument", "melody", "rhythm", "transpose", "velocity")
    assert all(set(f) == {*keys, "split"} for f in a)
    assert all(C.TRANSPOSE[0] <= f["transpose"] <= C.TRANSPOSE[1] and C.VELOCITY[0] <= f["velocity"] <= C.VELOCITY[1]
               for f in a)
    assert len({tuple(f[k] for k in keys) for f in a}) == 256  # no clip is drawn twice
    counts = {s: sum(f["split"] == s for f in a) for s in SPLITS}
    assert counts == {"train": 204, "valid": 26, "test": 26}
    assert [f["split"] for f in a] == sorted((f["split"] for f in a), key=SPLITS.index)  # train, valid, test blocks
    train = {(f["instrument"], f["melody"], f["rhythm"]) for f in a if f["split"] == "train"}
    assert len(train) == 128  # every combination in train
    for factor, n in (("instrument", 4), ("melody", 8), ("rhythm", 4)):  # two full cycles: exactly balanced
        assert np.bincount([f[factor] for f in a], minlength=n).tolist() == [256 // n] * n
    assert len({f["transpose"] for f in a}) == 7 and len({f["velocity"] for f in a}) > 30
    first = C.sample_factors(100, seed=3)  # the labels of n clips are the first n of more
    assert [{k: f[k] for k in keys} for f in first] == [{k: f[k] for k in keys} for f in a[:100]]


@pytest.mark.parametrize("n", [1, 9, 10, 16, 1024])
def test_split_fractions(n):
    counts = {s: sum(f["split"] == s for f in C.sample_factors(n, 0)) for s in SPLITS}
    assert sum(counts.values()) == n and counts == C.split_counts(n)
    assert abs(counts["valid"] - 0.1 * n) <= 0.5 and abs(counts["test"] - 0.1 * n) <= 0.5
    with pytest.raises(ValueError, match="n must be in"):
        C.sample_factors(0, 0)


# ---------------------------------------------------------------------------------------------- FluidSynth

def _envelope(x: np.ndarray, hop: int = 500) -> np.ndarray:
    """Log energy per 1/32 note (500 samples at 16 kHz): two frames per 16th slot."""
    return np.log(np.mean(x.reshape(-1, hop) ** 2, axis=1) + 1e-10)


def _peaks(e: np.ndarray, prominence: float = 0.3) -> int:
    """Local maxima of an envelope that stand `prominence` above the lowest point within 2 frames on a side."""
    n = 0
    for t in range(len(e)):
        left, right = e[t - 1] if t else -np.inf, e[t + 1] if t + 1 < len(e) else -np.inf
        if e[t] > left and e[t] >= right and e[t] - max(e[max(t - 2, 0):t + 1].min(), e[t:t + 3].min()) > prominence:
            n += 1
    return n


@needs_fluidsynth
def test_rendering_is_deterministic_and_the_rhythm_is_heard():
    for instrument in range(4):
        x = {r: C.render_clip(C.clip_midi(instrument, 0, r, transpose=-3, velocity=90)) for r in (LEGATO, STACCATO,
                                                                                               SIXTEENTHS)}
        assert all(v.shape == (32000,) and v.dtype == np.float32 and 1e-3 < np.abs(v).max() < 0.9
                   for v in x.values())
        assert np.array_equal(x[LEGATO], C.render_clip(C.clip_midi(instrument, 0, LEGATO, transpose=-3, velocity=90)))
        notes = {r: v.reshape(4, 4, 2000) for r, v in x.items()}  # note, 16th slot, samples
        late = {r: float(np.sum(q[:, 2:] ** 2) / np.sum(q[:, :2] ** 2)) for r, q in notes.items()}
        assert late[STACCATO] < 0.05 * late[LEGATO], (instrument, late)  # a staccato note is silent by its 2nd half
        env = {r: _envelope(v) for r, v in x.items()}
        assert 12 <= _peaks(env[SIXTEENTHS]) <= 17 and _peaks(env[LEGATO]) <= 6, instrument
        mod = {r: np.abs(np.fft.rfft(e - e.mean())) ** 2 for r, e in env.items()}
        share = {r: float(m[16] / m[1:].sum()) for r, m in mod.items()}  # 16 cycles in 2 s: the 16ths
        assert share[SIXTEENTHS] > 0.25 and share[LEGATO] < 0.15 and share[STACCATO] < 0.15, (instrument, share)


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
                                              "sample_rate": 16000}
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
        assert np.bincount(everything.labels[factor].numpy(), minlength=n).tolist() == [128 // n] * n
    assert data.build("smoke", ("clips",)) == {"clips": None}
    assert data_cli(["check", str(data.dataset_path("clips", "smoke")), "--kind", "clips"]) == 0
    assert "128 items loaded" in capsys.readouterr().out
