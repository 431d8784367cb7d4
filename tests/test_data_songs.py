"""Songs dataset (build + any audio folder) and paper 001's preprocessing (course_lib.data.songs)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from course_lib import audio
from course_lib.data import songs
from course_lib.data.common import DataError
from course_lib.data.melodies import MelodySet
from course_lib.synth import Synth, fluidsynth_available

pytestmark = pytest.mark.skipif(not fluidsynth_available(), reason="FluidSynth is not installed")

SECONDS = 3.0
N_SONGS = 5  # 3 train, 1 valid, 1 test


def _tune(pitches: list[int], track: int = 0, step: int = 2) -> np.ndarray:
    rows = [[p, k * step, (k + 1) * step, 80, track] for k, p in enumerate(pitches)]
    return np.array(rows, dtype=np.int32)


def tiny_melodies() -> MelodySet:
    """Seven tunes: four rich train tunes, one poor (8 notes) train tune, one valid and one test tune."""
    rng = np.random.default_rng(5)
    specs = [("a", "train", 20), ("b", "train", 24), ("c", "train", 18), ("d", "train", 32), ("poor", "train", 8),
             ("v", "valid", 20), ("t", "test", 20)]
    notes, meta = [], []
    for name, split, n in specs:
        scale = np.array([0, 2, 4, 5, 7, 9, 11, 12]) + 60
        x = _tune(rng.choice(scale, n).tolist())
        notes.append(x)
        meta.append({"tune_id": name, "split": split, "n_steps": int(x[:, 2].max()), "n_notes": n,
                     "time_signature": "4/4", "source": "test", "title": ""})
    return MelodySet(notes=notes, meta=meta)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("songs") / "songs"
    rep = songs.build_songs(out, tiny_melodies(), N_SONGS, SECONDS, seed=0, progress=False)
    return out, rep


def _index(folder) -> list[dict]:
    return json.loads((folder / "index.json").read_text())


# ---------------------------------------------------------------------------------------------- building

def test_layout_lengths_and_format(built):
    out, rep = built
    index = _index(out)
    assert rep.kept == N_SONGS and len(index) == N_SONGS
    assert (out / "build_report.json").is_file()
    assert not list(out.parent.glob(".songs.*"))  # no temporary folder left behind
    for e in index:
        assert set(e) >= {"song_id", "split", "tune_id", "programs", "tempo", "seconds"}
        info = sf.info(str(out / e["split"] / f"{e['song_id']}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        assert info.frames == round(SECONDS * 44100)
        assert 118 <= e["tempo"] <= 128
        assert e["programs"]["lead"] in songs.LEAD_PROGRAMS and e["programs"]["bass"] in songs.BASS_PROGRAMS
    assert sorted(p.name for p in out.iterdir()) == ["build_report.json", "index.json", "test", "train", "valid"]


def test_same_seed_same_bytes_other_seed_other_songs(built, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    songs.build_songs(again, tiny_melodies(), N_SONGS, SECONDS, seed=0, progress=False)
    assert (again / "index.json").read_bytes() == (out / "index.json").read_bytes()
    for e in _index(out):
        assert (again / e["path"]).read_bytes() == (out / e["path"]).read_bytes()
    other = tmp_path / "other"
    songs.build_songs(other, tiny_melodies(), N_SONGS, SECONDS, seed=1, progress=False)
    assert _index(other) != _index(out)


def test_split_by_song_and_tune(built):
    out, _ = built
    index = _index(out)
    tune_split = {m["tune_id"]: m["split"] for m in tiny_melodies().meta}
    assert all(e["split"] == tune_split[e["tune_id"]] for e in index)
    assert {e["split"] for e in index} == set(songs.SPLITS)
    splits_of_tune: dict[str, set] = {}
    for e in index:
        splits_of_tune.setdefault(e["tune_id"], set()).add(e["split"])
    assert all(len(s) == 1 for s in splits_of_tune.values())
    assert "poor" not in splits_of_tune  # tunes with >= 16 notes are preferred
    assert songs.song_split_counts(N_SONGS) == {"train": 3, "valid": 1, "test": 1}


def test_song_midi_parts_and_drum_grid():
    mset = tiny_melodies()
    pm = songs.song_midi(mset.notes[0], np.random.default_rng(3), seconds=8.0, n_steps=mset.meta[0]["n_steps"])
    parts = {inst.name.split("/")[0]: inst for inst in pm.instruments}
    assert list(parts) == ["lead", "chords", "bass", "drums"]
    drums = parts["drums"]
    assert drums.is_drum and not any(parts[k].is_drum for k in ("lead", "chords", "bass"))
    tempo = songs.song_info(pm)["tempo"]
    beat = 60.0 / tempo
    kicks = np.array([n.start for n in drums.notes if n.pitch == songs.KICK])
    np.testing.assert_allclose(np.diff(kicks), beat, atol=1e-6)  # four on the floor
    backbeat = [n.start for n in drums.notes if n.pitch in (songs.SNARE, songs.CLAP)]
    np.testing.assert_allclose(np.diff(backbeat), 2 * beat, atol=1e-6)
    assert backbeat[0] == pytest.approx(beat)  # beats 2 and 4
    hats = np.array([n.start for n in drums.notes if n.pitch in (songs.CLOSED_HAT, songs.OPEN_HAT)])
    np.testing.assert_allclose(np.diff(hats), beat / 2, atol=1e-6)  # 8ths
    lead = [n.pitch for n in parts["lead"].notes]
    assert 60 <= np.median(lead) <= 84
    assert all(36 <= n.pitch <= 47 for n in parts["bass"].notes)
    assert max(n.start for i in pm.instruments for n in i.notes) < 8.0
    no_drums = songs.song_midi(mset.notes[0], np.random.default_rng(3), 8.0, mset.meta[0]["n_steps"], drums=False)
    assert [i.name for i in no_drums.instruments] == ["lead/melody", *[i.name for i in pm.instruments[1:3]]]


def test_drums_are_heard():
    mset = tiny_melodies()
    with Synth(44100, gain=songs.GAIN) as synth:
        with_drums, without = (synth.render(songs.song_midi(mset.notes[1], np.random.default_rng(0), 3.0,
                                                            drums=d), duration_s=3.0) for d in (True, False))

    def high_band(x):  # hats and snare live above 5 kHz; the melodic parts hardly do
        spec = np.abs(np.fft.rfft(x)) ** 2
        return spec[np.fft.rfftfreq(len(x), 1 / 44100) > 5000].sum()

    assert high_band(with_drums) > 5 * high_band(without)


def test_bar_chords_triads():
    bars = [[60, 64, 67, 72], [57, 60, 64, 69], [55, 59, 62, 67], [62, 65, 69, 74]]  # C, Am, G, Dm
    notes = np.array([[p, b * 16 + k * 4, b * 16 + k * 4 + 4, 80, 0] for b, ps in enumerate(bars)
                      for k, p in enumerate(ps)])
    assert songs.bar_chords(notes, 5) == [(0, True), (9, False), (7, True), (2, False), (2, False)]


def test_no_clipping_and_quiet_rerender(built, tmp_path, monkeypatch):
    out, _ = built
    for e in _index(out):
        x, _ = sf.read(str(out / e["path"]), dtype="float32")
        assert np.abs(x).max() < songs.HEADROOM_PEAK and e["gain"] == songs.GAIN
    monkeypatch.setattr(songs, "HEADROOM_PEAK", 0.05)  # force the guard: every song must be re-rendered quieter
    mset = tiny_melodies()
    rep = songs.build_songs(tmp_path / "quiet", mset.split("train"), 1, 2.0, progress=False)
    e = _index(tmp_path / "quiet")[0]
    assert e["gain"] < songs.GAIN and e["peak"] <= 0.05
    assert rep.fixed and "re-rendered" in rep.fixed[0]["fix"]


# ---------------------------------------------------------------------------------------------- loading

def test_load_built_folder_and_cache(built, isolated, monkeypatch):
    out, _ = built
    a = songs.load_audio_folder(out, progress=False)
    index = {e["song_id"]: e for e in _index(out)}
    assert len(a) == N_SONGS and a.sample_rate == 4410
    for x, m in zip(a.audio, a.meta):
        assert x.dtype == torch.float32 and x.dim() == 1
        assert abs(len(x) - SECONDS * 4410) <= 1
        assert m["split"] == index[m["song_id"]]["split"] and m["tune_id"] == index[m["song_id"]]["tune_id"]
        assert m["seconds"] == pytest.approx(SECONDS, abs=1e-3)
    assert [len(a.split(s)) for s in songs.SPLITS] == [3, 1, 1]
    assert a.split("valid").sample_rate == 4410 and a.total_seconds == pytest.approx(N_SONGS * SECONDS, abs=1e-2)
    assert list((isolated / "data" / "cache" / "audio").glob("*.pt"))

    def no_read(*args, **kw):
        raise AssertionError("read_wav called although the cache is valid")

    monkeypatch.setattr(songs, "read_wav", no_read)
    b = songs.load_audio_folder(out, progress=False)
    assert [m["song_id"] for m in b.meta] == [m["song_id"] for m in a.meta] and not b.report.skipped
    assert all(torch.equal(x, y) for x, y in zip(a.audio, b.audio))


def test_bad_files_are_skipped_or_fixed(isolated):
    root = isolated / "mixed"
    (root / "sub").mkdir(parents=True)
    t = np.arange(2 * 44100) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(str(root / "good.wav"), tone, 44100, subtype="PCM_16")
    sf.write(str(root / "sub" / "deep.flac"), tone[:66150], 44100)
    sf.write(str(root / "sub" / "clip.ogg"), tone, 44100)
    sf.write(str(root / "clip.mp3"), tone, 44100)
    t48 = np.arange(2 * 48000) / 48000
    stereo = np.stack([np.sin(2 * np.pi * 330 * t48), np.sin(2 * np.pi * 550 * t48)], 1) * 0.3
    sf.write(str(root / "stereo48k.wav"), stereo.astype(np.float32), 48000, subtype="PCM_16")
    sf.write(str(root / "short.wav"), tone[:22050], 44100, subtype="PCM_16")
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("this is a text file, renamed\n" * 20)
    (root / "readme.txt").write_text("not audio")
    (root / "cut.wav").write_bytes((root / "good.wav").read_bytes()[:100000])  # header promises 2 s, holds 1.1 s
    a = songs.load_audio_folder(root, progress=False, cache=False)
    assert sorted(m["path"] for m in a.meta) == ["clip.mp3", "good.wav", "stereo48k.wav", "sub/clip.ogg",
                                                  "sub/deep.flac"]
    skipped = {s["file"]: s["reason"] for s in a.report.skipped}
    assert set(skipped) == {"corrupt.wav", "cut.wav", "empty.wav", "notes.wav", "short.wav"}
    assert "truncated" in skipped["cut.wav"]
    assert "0.50 s" in skipped["short.wav"] and "not a readable audio file" in skipped["notes.wav"]
    fixes = [f["fix"] for f in a.report.fixed if f["file"] == "stereo48k.wav"]
    assert any("downmixed 2 channels" in f for f in fixes) and any("48000 Hz -> 4410 Hz" in f for f in fixes)
    stereo_len = len(a.audio[[m["path"] for m in a.meta].index("stereo48k.wav")])
    assert abs(stereo_len - 2 * 4410) <= 1
    assert all(m["split"] in songs.SPLITS for m in a.meta) and a.report.kept == 5


def test_missing_or_empty_folder_names_the_fix(isolated):
    with pytest.raises(DataError, match="make data.*COURSE_SONGS"):
        songs.load_audio_folder(isolated / "nope")
    (isolated / "textonly").mkdir()
    (isolated / "textonly" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no audio files.*COURSE_SONGS"):
        songs.load_audio_folder(isolated / "textonly")


# ---------------------------------------------------------------------------------------------- paper 001

def test_segments_shapes_tail_and_hop():
    x = torch.arange(3 * 13230 + 100, dtype=torch.float32)
    s = songs.segments(x)
    assert s.shape == (3, 13230) and torch.equal(s.flatten(), x[: 3 * 13230])
    o = songs.segments(x, hop=6615)
    assert o.shape == (5, 13230) and torch.equal(o[1], x[6615:6615 + 13230])
    assert songs.segments(x[:1000]).shape == (0, 13230)
    with pytest.raises(ValueError):
        songs.segments(x.reshape(1, -1))


def test_song_segments_keep_song_order(built, isolated):
    out, _ = built
    a = songs.load_audio_folder(out, progress=False)
    per = songs.song_segments(a, seg_len=4410)  # 1-s pieces: 3 per 3-s song
    for s in songs.SPLITS:
        segs, owner = per[s]
        idx = [i for i, m in enumerate(a.meta) if m["split"] == s]
        assert segs.shape == (3 * len(idx), 4410) and segs.dtype == torch.float32
        assert owner.tolist() == [i for i in idx for _ in range(3)]
        assert torch.equal(segs[:3].flatten(), a.audio[idx[0]][: 3 * 4410])
    assert per["train"][0].shape[1] == 4410 and songs.song_segments(a)["train"][0].shape == (3, 13230)


def test_whole_song_rfft_chunks_are_frequency_bands(built, isolated):
    out, _ = built
    index = _index(out)
    song44 = torch.cat([torch.from_numpy(sf.read(str(out / e["path"]), dtype="float32")[0]) for e in index])
    chunks = songs.whole_song_rfft_chunks(song44)  # 15 s at 44.1 kHz -> 50 bands of 441 Hz
    z = audio.rfft_interleave(song44)
    assert chunks.shape == (len(z) // 13230, 13230) and torch.equal(chunks[1], z[13230:26460])
    energy = chunks.pow(2).mean(dim=1)
    assert energy[0] > 1e3 * energy[-1]  # the lowest band dwarfs the highest by orders of magnitude
    a = songs.load_audio_folder(out, progress=False)  # at 4410 Hz, as in the paper: 5 bands of 441 Hz
    song = torch.cat([a.audio[[m["song_id"] for m in a.meta].index(e["song_id"])] for e in index])
    band = songs.whole_song_rfft_chunks(song).pow(2).mean(dim=1)
    seg = audio.rfft_interleave(songs.segments(song), drop_nyquist=True).pow(2).mean(dim=1)
    assert band[0] > 5 * band[-1]
    assert band.max() / band.min() > 2 * seg.max() / seg.min()  # time segments look alike, bands do not


def test_downsample_naive_aliases_anti_does_not():
    t = torch.arange(44100) / 44100
    tone = torch.sin(2 * torch.pi * 3000 * t)
    naive, anti = songs.downsample(tone, method="naive"), songs.downsample(tone, method="anti")
    assert naive.shape == anti.shape == (4410,)
    freqs = np.fft.rfftfreq(4410, 1 / 4410)
    spec_naive = np.abs(np.fft.rfft(naive.numpy()))
    spec_anti = np.abs(np.fft.rfft(anti.numpy()))
    assert freqs[spec_naive.argmax()] == pytest.approx(1410, abs=1)  # 4410 - 3000
    assert spec_anti[np.argmin(np.abs(freqs - 1410))] < 1e-2 * spec_naive.max()
    with pytest.raises(ValueError):
        songs.downsample(tone, 44100, 16000, method="naive")
    with pytest.raises(ValueError):
        songs.downsample(tone, method="cubic")
