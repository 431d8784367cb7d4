"""Tests of the notes dataset (course_lib.data.notes): NSynth layout, splits, rendering, loader, bad inputs."""
import json
import re
import shutil
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from course_lib.data import common, notes
from course_lib.data.common import DataError
from course_lib.synth import FluidSynthMissing, Synth, fluidsynth_available

pytestmark = pytest.mark.skipif(not fluidsynth_available(), reason="FluidSynth is not installed")

NOTE_STR = re.compile(r"^(?P<family>[a-z_]+)_(?P<source>acoustic|electronic|synthetic)_(?P<n>\d{3})"
                      r"-(?P<pitch>\d{3})-(?P<vel>\d{3})$")
FIELDS = {"note": int, "note_str": str, "instrument": int, "instrument_str": str, "pitch": int, "velocity": int,
          "sample_rate": int, "instrument_family": int, "instrument_family_str": str, "instrument_source": int,
          "instrument_source_str": str, "qualities": list, "qualities_str": list}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The smoke-size dataset (160 notes), built once for the module."""
    out = tmp_path_factory.mktemp("notes") / "notes"
    report = notes.build_notes(out, 160, seed=0, progress=False)
    return out, report


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Every instrument at pitch 64 and velocities 25 and 127 (pools exhausted, so all pairs exist).

    The known hole (alto sax, 64) is let through so that the silent-note check is exercised.
    """
    mp = pytest.MonkeyPatch()
    mp.setattr(notes, "PITCH_RANGE", {f: (64, 64) for f in notes.FAMILIES})
    mp.setattr(notes, "PROGRAM_PITCH_RANGE", {})
    mp.setattr(notes, "SILENT_NOTES", frozenset())
    out = tmp_path_factory.mktemp("pairs") / "notes"
    report = notes.build_notes(out, 10_000, velocities=(25, 127), progress=False)
    mp.undo()
    return out, report


@pytest.fixture(autouse=True)
def _data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))


def examples(root, split):
    return json.loads((root / f"nsynth-{split}" / "examples.json").read_text())


def wav_int16(path):
    x, sr = sf.read(str(path), dtype="int16")
    return x, sr


def copy_split(built_root, dst, n=4, split="valid"):
    """A fresh split folder holding the first n good notes of the built dataset; returns (folder, entries)."""
    src = built_root / f"nsynth-{split}"
    ex = dict(list(examples(built_root, split).items())[:n])
    (dst / "audio").mkdir(parents=True)
    for key in ex:
        shutil.copy(src / "audio" / f"{key}.wav", dst / "audio" / f"{key}.wav")
    (dst / "examples.json").write_text(json.dumps(ex))
    return dst, ex


def add_entry(folder, key, **fields):
    """List one more note in examples.json (a copy of the first entry with fields replaced)."""
    ex = json.loads((folder / "examples.json").read_text())
    entry = dict(next(iter(ex.values())), note_str=key, **fields)
    ex[key] = entry
    (folder / "examples.json").write_text(json.dumps(ex))
    return folder / "audio" / f"{key}.wav"


def load_with_one_bad(folder, n_good):
    ns = notes.load_notes(folder, progress=False, cache=False)
    assert len(ns) == n_good
    return ns


# ------------------------------------------------------------------------------------------------
# Constants and the instrument map


def test_families_sources_and_gm_map():
    assert notes.FAMILIES == ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed",
                              "string", "synth_lead", "vocal")
    assert notes.SOURCES == ("acoustic", "electronic", "synthetic")
    assert all(0 <= p <= 127 for p in notes.GM_FAMILY)
    assert {f for f, _ in notes.GM_FAMILY.values()} == set(notes.FAMILIES)
    assert {s for _, s in notes.GM_FAMILY.values()} == set(notes.SOURCES)
    assert notes.GM_FAMILY[0] == ("keyboard", "acoustic") and notes.GM_FAMILY[80] == ("synth_lead", "synthetic")
    assert notes.instrument_str(33) == "bass_electronic_033"
    assert notes.note_str("bass_electronic_033", 22, 50) == "bass_electronic_033-022-050"
    for p in notes.GM_FAMILY:
        assert notes.program_pitches(p), p


def test_range_ends_are_not_silent():
    with Synth(16000) as synth:
        for p in notes.GM_FAMILY:
            pitches = notes.program_pitches(p)
            for pitch in (pitches[0], pitches[-1]):
                x = synth.note(p, pitch, 25, notes.HOLD_S, notes.RELEASE_S)
                assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) > notes.SILENT_RMS, (p, pitch)


def test_split_instruments_cover_every_family_and_are_disjoint():
    sp = notes.split_instruments(seed=0)
    for family in notes.FAMILIES:
        sets = [set(sp[s][family]) for s in notes.SPLITS]
        assert all(sets), family  # every family has >= 3 instruments: one or more in each split
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        assert set().union(*sets) == {p for p, (f, _) in notes.GM_FAMILY.items() if f == family}
    assert notes.split_instruments(seed=0) == sp
    assert notes.split_counts(160) == {"train": 128, "valid": 16, "test": 16}


# ------------------------------------------------------------------------------------------------
# The built dataset


def test_layout_is_nsynths(built):
    root, report = built
    assert report.kept == 160 and not report.skipped
    assert (root / "README.txt").read_text().count("NSynth") and "TimGM6mb" in (root / "README.txt").read_text()
    assert json.loads((root / "build_report.json").read_text())["kept"] == 160
    ids = []
    for split, n in notes.split_counts(160).items():
        ex = examples(root, split)
        assert len(ex) == n
        assert set(ex) == {p.stem for p in (root / f"nsynth-{split}" / "audio").glob("*.wav")}
        for key, e in ex.items():
            assert set(e) == set(FIELDS)
            assert all(type(e[k]) is t for k, t in FIELDS.items()), e
            m = NOTE_STR.match(key)
            assert m and e["note_str"] == key and key.startswith(e["instrument_str"] + "-")
            assert (int(m["pitch"]), int(m["vel"])) == (e["pitch"], e["velocity"])
            assert notes.FAMILIES[e["instrument_family"]] == e["instrument_family_str"] == m["family"]
            assert notes.SOURCES[e["instrument_source"]] == e["instrument_source_str"] == m["source"]
            assert len(e["qualities"]) == 10 and e["sample_rate"] == 16000
            ids.append(e["note"])
    assert sorted(ids) == list(range(160))


def test_wavs_are_16k_mono_4s_int16(built):
    root, _ = built
    for path in list((root / "nsynth-train" / "audio").glob("*.wav"))[:20]:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 64000, "PCM_16")


def test_splits_are_instrument_disjoint_and_spread_over_families(built):
    root, _ = built
    inst = {s: {e["instrument"] for e in examples(root, s).values()} for s in notes.SPLITS}
    assert not (inst["train"] & inst["valid"] or inst["train"] & inst["test"] or inst["valid"] & inst["test"])
    fams = [e["instrument_family"] for e in examples(root, "train").values()]
    counts = np.bincount(fams, minlength=11)
    assert counts.min() >= 11 and counts.max() <= 12  # 128 notes over 11 families


def test_release_is_visible_for_sustained_families(pairs):
    root, _ = pairs
    for split in notes.SPLITS:
        for key, e in examples(root, split).items():
            if e["instrument_family_str"] in ("organ", "reed") and e["velocity"] == 127:
                x = wav_int16(root / f"nsynth-{split}" / "audio" / f"{key}.wav")[0] / 32768.0
                held = np.sqrt(np.mean(x[16000:48000] ** 2))
                tail = np.sqrt(np.mean(x[-8000:] ** 2))
                assert held > 0.01 and tail < 0.05 * held, (key, held, tail)


def test_silent_notes_are_skipped_and_reported(pairs):
    root, report = pairs
    assert report.kept == 2 * len(notes.GM_FAMILY) - 2
    silent = sorted(s["file"].split("/")[-1] for s in report.skipped if "renders silent" in s["reason"])
    assert silent == ["reed_acoustic_065-064-025", "reed_acoustic_065-064-127"]
    assert any("pool exhausted" in s["reason"] for s in report.skipped)
    assert not any("reed_acoustic_065" in k for split in notes.SPLITS for k in examples(root, split))


def test_loudness_is_kept(pairs):
    root, _ = pairs
    louder = 0
    for split in notes.SPLITS:
        ex = examples(root, split)
        for key, e in ex.items():
            if e["velocity"] == 127:
                soft = key[:-3] + "025"
                rms = [np.sqrt(np.mean((wav_int16(root / f"nsynth-{split}" / "audio" / f"{k}.wav")[0] / 32768.0) ** 2))
                       for k in (key, soft)]
                assert rms[0] > 2 * rms[1], (key, rms)
                louder += 1
    assert louder == len(notes.GM_FAMILY) - 1  # alto sax has no note at 64


def test_build_is_deterministic(tmp_path):
    a = notes.build_notes(tmp_path / "a", 33, seed=3, progress=False)
    notes.build_notes(tmp_path / "b", 33, seed=3, progress=False)
    notes.build_notes(tmp_path / "c", 33, seed=4, progress=False)
    assert a.kept == 33
    for split in notes.SPLITS:
        ja = (tmp_path / "a" / f"nsynth-{split}" / "examples.json").read_text()
        assert ja == (tmp_path / "b" / f"nsynth-{split}" / "examples.json").read_text()
    assert examples(tmp_path / "a", "train") != examples(tmp_path / "c", "train")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary folders left


def test_fluidsynth_missing_raises_with_install_hint_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # `import fluidsynth` now raises ImportError
    with pytest.raises(FluidSynthMissing, match="apt-get install"):
        notes.build_notes(tmp_path / "out" / "notes", 10, progress=False)
    assert not (tmp_path / "out" / "notes").exists()
    assert not list(tmp_path.rglob("*notes*"))


# ------------------------------------------------------------------------------------------------
# The loader


def test_loader_round_trip(built):
    root, _ = built
    ns = notes.load_notes(root, "valid", progress=False)
    ex = examples(root, "valid")
    assert len(ns) == len(ex) == 16 and ns.ids == sorted(ex)
    assert ns.audio.dtype == torch.float32 and ns.audio.shape == (16, 64000) and ns.audio.device.type == "cpu"
    for i, key in enumerate(ns.ids):
        x, sr = wav_int16(root / "nsynth-valid" / "audio" / f"{key}.wav")
        assert sr == 16000
        assert torch.allclose(ns.audio[i], torch.from_numpy(x / 32768.0).float(), atol=1e-4)
        e = ex[key]
        assert ns.meta[i] == e
        assert (ns.pitch[i], ns.velocity[i], ns.family[i], ns.instrument[i], ns.source[i]) == (
            e["pitch"], e["velocity"], e["instrument_family"], e["instrument"], e["instrument_source"])
        assert ns.family_str(i) == e["instrument_family_str"]
    for t in (ns.pitch, ns.velocity, ns.family, ns.instrument, ns.source):
        assert t.dtype == torch.int64 and t.shape == (16,)
    assert ns.family_names == notes.FAMILIES and ns.sample_rate == 16000
    assert ns.report.kept == 16 and not ns.report.skipped and not ns.report.fixed
    # a split folder itself works as root too
    assert notes.load_notes(root / "nsynth-valid", progress=False, cache=False).ids == ns.ids


def test_noteset_subset_and_to(built):
    ns = notes.load_notes(built[0], "test", progress=False)
    sub = ns.subset([3, 0])
    assert sub.ids == [ns.ids[3], ns.ids[0]] and torch.equal(sub.audio[1], ns.audio[0])
    assert torch.equal(sub.pitch, ns.pitch[[3, 0]]) and sub.meta == [ns.meta[3], ns.meta[0]]
    mask = ns.family == ns.family[0]
    assert len(ns.subset(mask)) == int(mask.sum()) and len(ns.subset(slice(0, 5))) == 5
    moved = ns.to("cpu")
    assert len(moved) == len(ns) and moved.audio.device.type == "cpu" and moved.ids == ns.ids


def test_filters_and_max_notes(built):
    root, _ = built
    full = notes.load_notes(root, "train", progress=False)
    ns = notes.load_notes(root, "train", families=["organ", 3], progress=False)
    assert len(ns) and set(ns.family.tolist()) == {3, 6}
    assert len(ns) == sum(f in (3, 6) for f in full.family.tolist())
    ns = notes.load_notes(root, "train", pitch_range=(48, 72), progress=False)
    assert len(ns) and ns.pitch.min() >= 48 and ns.pitch.max() <= 72
    a = notes.load_notes(root, "train", max_notes=10, seed=1, progress=False)
    b = notes.load_notes(root, "train", max_notes=10, seed=1, progress=False, cache=False)
    c = notes.load_notes(root, "train", max_notes=10, seed=2, progress=False)
    assert len(a) == 10 and a.ids == b.ids == sorted(a.ids) and set(a.ids) <= set(full.ids)
    assert a.ids != c.ids and torch.equal(a.audio, b.audio)
    with pytest.raises(ValueError, match="synth_lead"):
        notes.load_notes(root, "train", families=["drums"], progress=False)


def test_cache_is_reused_without_reading_wavs(built, tmp_path, monkeypatch):
    root, _ = built
    first = notes.load_notes(root, "test", progress=False)
    cached = list((tmp_path / "data" / "cache" / "notes").glob("*.pt"))
    assert len(cached) == 1

    calls = []
    real = common.read_wav
    monkeypatch.setattr(common, "read_wav", lambda *a, **k: calls.append(a) or real(*a, **k))
    second = notes.load_notes(root, "test", progress=False)
    assert not calls  # every tensor came from the cache
    assert second.ids == first.ids and torch.equal(second.audio, first.audio)
    assert torch.equal(second.family, first.family) and second.meta == first.meta
    assert "cache" in second.report.name
    notes.load_notes(root, "test", max_notes=3, progress=False)  # another filter, another cache entry
    assert len(calls) == 3 and len(list(cached[0].parent.glob("*.pt"))) == 2


# ------------------------------------------------------------------------------------------------
# Bad inputs: the loader keeps the good files and names every bad one with its reason


def test_corrupt_wav_is_skipped(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    bad = add_entry(folder, "bass_acoustic_032-040-050")
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    ns = load_with_one_bad(folder, 4)
    assert [s["file"] for s in ns.report.skipped] == [str(bad)]
    assert "not a readable audio file" in ns.report.skipped[0]["reason"]


def test_empty_wav_is_skipped(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    bad = add_entry(folder, "bass_acoustic_032-040-050")
    bad.write_bytes(b"")
    ns = load_with_one_bad(folder, 4)
    assert [s["file"] for s in ns.report.skipped] == [str(bad)]


def test_truncated_wav_is_skipped(built, tmp_path):
    folder, ex = copy_split(built[0], tmp_path / "s")
    bad = add_entry(folder, "bass_acoustic_032-040-050")
    good = (folder / "audio" / f"{next(iter(ex))}.wav").read_bytes()
    bad.write_bytes(good[:44 + 2 * 1000])  # header intact, 1000 of 64000 samples left
    ns = load_with_one_bad(folder, 4)
    assert [s["file"] for s in ns.report.skipped] == [str(bad)]
    assert "truncated" in ns.report.skipped[0]["reason"]


def test_missing_wav_is_skipped(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    bad = add_entry(folder, "bass_acoustic_032-040-050")
    ns = load_with_one_bad(folder, 4)
    assert [s["file"] for s in ns.report.skipped] == [str(bad)]
    assert "not found" in ns.report.skipped[0]["reason"]


def test_nan_wav_is_skipped(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    bad = add_entry(folder, "bass_acoustic_032-040-050")
    x = np.zeros(64000, np.float32)
    x[100] = np.nan
    sf.write(str(bad), x, 16000, subtype="FLOAT")
    ns = load_with_one_bad(folder, 4)
    assert [s["file"] for s in ns.report.skipped] == [str(bad)] and "NaN" in ns.report.skipped[0]["reason"]


def test_bad_entries_are_skipped(built, tmp_path):
    folder, ex = copy_split(built[0], tmp_path / "s")
    src = folder / "audio" / f"{next(iter(ex))}.wav"
    for key, fields in (("x-200-050", {"pitch": 200}),
                        ("y-060-050", {"instrument_family": 42, "instrument_family_str": "drums"})):
        shutil.copy(src, add_entry(folder, key, **fields))
    ns = load_with_one_bad(folder, 4)
    reasons = sorted(s["reason"] for s in ns.report.skipped)
    assert len(reasons) == 2 and "pitch 200" in reasons[0] and "unknown instrument family" in reasons[1]


def test_44k_wav_is_resampled(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    path = add_entry(folder, "bass_acoustic_032-045-050")
    t = np.arange(4 * 44100) / 44100
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 110 * t), 44100, subtype="PCM_16")
    ns = load_with_one_bad(folder, 5)
    i = ns.ids.index(path.stem)
    assert ns.audio[i].shape == (64000,) and 0.15 < float(ns.audio[i, :60000].pow(2).mean().sqrt()) < 0.25
    assert any(f["file"] == str(path) and "44100" in f["fix"] for f in ns.report.fixed)


def test_stereo_wav_is_downmixed(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    path = add_entry(folder, "bass_acoustic_032-045-050")
    stereo = np.stack([np.full(64000, 0.25), np.full(64000, 0.75)], axis=1)
    sf.write(str(path), stereo, 16000, subtype="PCM_16")
    ns = load_with_one_bad(folder, 5)
    i = ns.ids.index(path.stem)
    assert torch.allclose(ns.audio[i], torch.full((64000,), 0.5), atol=1e-4)
    assert any(f["file"] == str(path) and "downmixed" in f["fix"] for f in ns.report.fixed)


def test_short_wav_is_padded_and_long_wav_cut(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    short = add_entry(folder, "bass_acoustic_032-045-050")
    long = add_entry(folder, "bass_acoustic_032-046-050")
    sf.write(str(short), np.full(16000, 0.5), 16000, subtype="PCM_16")
    sf.write(str(long), np.full(80000, 0.5), 16000, subtype="PCM_16")
    ns = load_with_one_bad(folder, 6)
    i, j = ns.ids.index(short.stem), ns.ids.index(long.stem)
    assert ns.audio[i, :16000].min() > 0.49 and ns.audio[i, 16000:].abs().max() == 0
    assert ns.audio[j].shape == (64000,) and ns.audio[j].min() > 0.49
    fixes = {f["file"]: f["fix"] for f in ns.report.fixed}
    assert "zero-padded" in fixes[str(short)] and "cut" in fixes[str(long)]


def test_malformed_examples_json_raises(built, tmp_path):
    folder, _ = copy_split(built[0], tmp_path / "s")
    (folder / "examples.json").write_text('{"a": {"pitch": 60,')
    with pytest.raises(DataError, match=re.escape(str(folder / "examples.json"))):
        notes.load_notes(folder, progress=False)


def test_missing_root_raises_with_make_data_hint(tmp_path):
    for root in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(DataError, match="make data") as err:
            notes.load_notes(root, progress=False)
        assert str(root) in str(err.value) and "COURSE_NOTES" in str(err.value)


def test_real_nsynth_like_folder_loads_unchanged(tmp_path):
    """A hand-written folder with the real NSynth's field set and names."""
    split = tmp_path / "nsynth" / "nsynth-valid"
    (split / "audio").mkdir(parents=True)
    ex = {}
    for n, (key, pitch, vel) in enumerate((("bass_synthetic_033-022-050", 22, 50),
                                           ("keyboard_electronic_001-021-127", 21, 127))):
        family, source = key.split("_")[0], key.split("_")[1]
        ex[key] = {"note": 201034 + n, "sample_rate": 16000, "pitch": pitch, "velocity": vel,
                   "instrument_source": notes.SOURCES.index(source), "instrument_source_str": source,
                   "qualities": [0, 1, 0, 0, 0, 0, 0, 0, 0, 0], "qualities_str": ["dark"],
                   "instrument_family": notes.FAMILIES.index(family), "instrument_family_str": family,
                   "instrument": 417 + n, "instrument_str": key.split("-")[0], "note_str": key}
        x = (0.1 * (n + 1) * np.sin(np.arange(64000) / 20)).astype(np.float32)
        sf.write(str(split / "audio" / f"{key}.wav"), x, 16000, subtype="PCM_16")
    (split / "examples.json").write_text(json.dumps(ex))
    ns = notes.load_notes(tmp_path / "nsynth", "valid", progress=False)
    assert ns.ids == sorted(ex) and ns.audio.shape == (2, 64000)
    assert ns.pitch.tolist() == [22, 21] and ns.family.tolist() == [0, 4] and ns.instrument.tolist() == [417, 418]
    assert ns.source.tolist() == [2, 1] and ns.meta[0]["qualities_str"] == ["dark"]
    assert not ns.report.skipped and not ns.report.fixed
    assert abs(float(ns.audio[0].abs().max()) - 0.1) < 1e-3


def test_cache_notices_a_wav_rewritten_in_place(built, tmp_path):
    import shutil

    src, _ = built
    root = tmp_path / "copy"
    shutil.copytree(src / "nsynth-test", root)
    first = notes.load_notes(root, progress=False)
    key = first.ids[0]
    wav = root / "audio" / f"{key}.wav"
    common.write_wav(wav, np.full(notes.N_SAMPLES, 0.25, np.float32), notes.SAMPLE_RATE)
    again = notes.load_notes(root, progress=False)
    assert again.audio[again.ids.index(key)].mean() == pytest.approx(0.25, abs=1e-3)


def test_noteset_sample_is_seeded_ordered_and_covers_families(built):
    ns = notes.load_notes(built[0], "train", progress=False)
    n = len(ns) // 2
    a, b = ns.sample(n, seed=1), ns.sample(n, seed=1)
    assert len(a) == n and a.ids == b.ids
    assert ns.sample(n, seed=2).ids != a.ids
    pos = [ns.ids.index(k) for k in a.ids]
    assert pos == sorted(pos) and len(set(pos)) == n
    assert ns.sample(None) is ns and ns.sample(len(ns) + 5) is ns
    assert len(set(a.family.tolist())) > len(set(ns.subset(slice(0, n)).family.tolist())) or \
        len(set(ns.family.tolist())) == len(set(ns.subset(slice(0, n)).family.tolist()))
    with pytest.raises(ValueError):
        ns.sample(0)
