"""Tests of course_lib.data.melodies: building from music21's corpus, reading MIDI folders, splits and windows."""
from __future__ import annotations

import json
import time

import numpy as np
import pretty_midi
import pytest

from course_lib.data import melodies as M
from course_lib.data.common import DataError
from course_lib.midi import (MELODY_FIRST_PITCH, MELODY_HOLD, MELODY_OFF, N_MELODY_TOKENS, midi_to_notes,
                             notes_to_midi, tokens_to_notes)

N_SMALL, N_BIG = 12, 20

BAD_ABC = """X:1
T:Good little tune
M:4/4
L:1/8
K:G
GABc d2B2 | c2A2 G4 | GABc d2B2 | A2F2 G4 |]

X:2
T:Broken chord
M:4/4
L:1/8
K:C
|: C D E ((( [[[ z/0 ^^^ :|

X:3
T:Zero meter
M:0/0
K:C
CDEF|

X:4
T:No notes
L:1/8
K:C
z8 |]

X:5
T:Too short
L:1/16
K:C
C |]
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the same small set twice (cold cache, then warm) and a bigger one; COURSE_DATA in a temp folder."""
    root = tmp_path_factory.mktemp("course_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA", str(root))
        t0 = time.perf_counter()
        cold = M.build_melodies(root / "small", N_SMALL, progress=False)
        t1 = time.perf_counter()
        warm = M.build_melodies(root / "small_again", N_SMALL, progress=False)
        t2 = time.perf_counter()
        big = M.build_melodies(root / "big", N_BIG, progress=False)
        yield {"root": root, "cold": cold, "warm": warm, "big": big, "t_cold": t1 - t0, "t_warm": t2 - t1,
               "small": M.load_melodies(root / "small"), "again": M.load_melodies(root / "small_again"),
               "bigset": M.load_melodies(root / "big")}


@pytest.fixture()
def data_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "course_data"))
    return tmp_path


# ------------------------------------------------------------------------------------------ building

def test_build_files_agree(built):
    out = built["root"] / "small"
    index = json.loads((out / "index.json").read_text())
    report = json.loads((out / "build_report.json").read_text())
    with np.load(out / "melodies.npz") as z:
        notes, offsets = z["notes"], z["offsets"]
    assert len(index) == N_SMALL == built["cold"].kept == report["kept"] == len(offsets) - 1
    assert notes.dtype == np.int32 and notes.shape[1] == 5 and offsets[-1] == len(notes)
    assert report["per_source"] == {s: N_SMALL // 4 for s in M.SOURCES}  # spread evenly over the sources
    assert sorted(p.stem for p in (out / "midi").glob("*.mid")) == sorted(m["tune_id"] for m in index)
    assert not list(built["root"].glob(".small*"))  # no temporary folder left behind
    for i, m in enumerate(index):
        tune = notes[offsets[i]:offsets[i + 1]]
        assert set(m) >= {"tune_id", "source", "file", "number", "title", "time_signature", "n_steps", "n_notes",
                          "split"}
        assert m["n_notes"] == len(tune) > 0 and m["n_steps"] >= tune[:, 2].max() and m["n_steps"] >= M.MIN_STEPS
        assert m["split"] == M.split_of(m["tune_id"])
        assert (tune[:, 0] >= 21).all() and (tune[:, 0] <= 108).all() and (tune[:, 2] > tune[:, 1]).all()
        back = midi_to_notes(pretty_midi.PrettyMIDI(str(out / "midi" / f"{m['tune_id']}.mid")))
        assert np.array_equal(back, tune), m["tune_id"]
    chorales = [m for m in index if m["source"] == "bach"]
    assert chorales and all(m["file"].startswith("bach/") for m in chorales)
    s = built["small"]
    for i in range(len(s)):
        if s.meta[i]["source"] == "bach":  # four voices as tracks, soprano first; the skyline is the soprano
            assert set(np.unique(s.notes[i][:, 4])) == {0, 1, 2, 3}
            soprano = s.notes[i][s.notes[i][:, 4] == 0]
            assert np.mean(M.melody_tokens(soprano, s.meta[i]["n_steps"]) == s.tokens(i)) > 0.95


def test_build_is_deterministic_and_uses_the_cache(built):
    assert built["small"].ids == built["again"].ids
    assert all(np.array_equal(a, b) for a, b in zip(built["small"].notes, built["again"].notes))
    info = json.loads((built["root"] / "small_again" / "build_report.json").read_text())
    assert info["n_parsed"] == 0  # everything came from the cache
    assert json.loads((built["root"] / "small" / "build_report.json").read_text())["n_parsed"] >= N_SMALL
    assert list((built["root"] / "cache" / "music21").glob("*.npz"))


def test_splits_are_stable_when_the_set_grows(built):
    small, big = built["small"], built["bigset"]
    assert set(small.ids) <= set(big.ids)  # per-source prefixes of one seeded order
    split_big = {m["tune_id"]: m["split"] for m in big.meta}
    assert all(split_big[m["tune_id"]] == m["split"] for m in small.meta)
    assert json.loads((built["root"] / "big" / "build_report.json").read_text())["n_parsed"] < N_BIG


def test_split_of_is_balanced_and_stable():
    ids = [f"tune-{i}" for i in range(4000)]
    splits = [M.split_of(t) for t in ids]
    assert splits == [M.split_of(t) for t in ids]
    assert abs(splits.count("train") / 4000 - 0.8) < 0.03 and abs(splits.count("test") / 4000 - 0.1) < 0.02


def test_bad_abc_source_is_reported(data_env):
    bad = data_env / "bad_tunes.abc"
    bad.write_text(BAD_ABC)
    entries = {e["number"]: e for e in M.parse_source_file(bad, M.abc_numbers(bad))}
    assert entries[1]["error"] is None and len(entries[1]["notes"]) == 18
    assert "ABCHandlerException" in entries[2]["error"] and "ZeroDivisionError" in entries[3]["error"]
    (data_env / "no_scores").mkdir()
    report = M.build_melodies(data_env / "out", 10, sources=[bad, data_env / "missing.abc", data_env / "no_scores"],
                              progress=False)
    assert report.kept == 1
    reasons = {s["file"]: s["reason"] for s in report.skipped}
    assert "could not parse" in reasons[f"{bad}#2"] and "could not parse" in reasons[f"{bad}#3"]
    assert reasons[f"{bad}#4"] == "no notes" and "< 8" in reasons[f"{bad}#5"]
    assert "does not exist" in reasons[str(data_env / "missing.abc")]
    assert "no ABC / MusicXML" in reasons[str(data_env / "no_scores")]
    mset = M.load_melodies(data_env / "out")
    assert mset.meta[0]["title"] == "Good little tune" and mset.meta[0]["time_signature"] == "4/4"
    assert mset.tokens(0).tolist()[:4] == [67 - 19, MELODY_HOLD, 69 - 19, MELODY_HOLD]
    assert len(mset.report.skipped) == len(report.skipped)


def test_score_to_notes_merges_ties_and_pads_pickups():
    from music21 import converter

    score = converter.parseData("X:1\nM:3/4\nL:1/4\nK:C\nG | c2- c | {d}e3- | e2 [ce] |]\n", format="abc")
    notes, n_steps = M.score_to_notes(score)
    # pickup G: a bar of 12 steps padded by 8; tied c (3 beats), grace d dropped, tied e (5 beats), chord
    assert notes[:, :3].tolist() == [[67, 8, 12], [72, 12, 24], [76, 24, 44], [76, 44, 48], [72, 44, 48]]
    assert n_steps == 48


# ------------------------------------------------------------------------------------------ MIDI folders

def _write(path, notes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    notes_to_midi(np.array(notes, dtype=np.int32)).write(str(path))


@pytest.fixture()
def midi_folder(data_env):
    folder = data_env / "my midi"
    rng = np.random.default_rng(0)
    for k in range(4):
        _write(folder / ("sub" if k % 2 else "") / f"good{k}.mid",
               [[int(p), 4 * i, 4 * i + 3, 80, 0] for i, p in enumerate(rng.integers(55, 80, 40))])
    (folder / "upper.MID").write_bytes((folder / "good0.mid").read_bytes())
    good = (folder / "good0.mid").read_bytes()
    (folder / "corrupt.mid").write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    (folder / "empty.mid").write_bytes(b"")
    (folder / "truncated.mid").write_bytes(good[: len(good) // 2])
    (folder / "text.mid").write_text("this is not a MIDI file\n")
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0))
    pm.write(str(folder / "no_notes.mid"))
    _write(folder / "out_of_range.mid", [[10, 0, 4, 80, 0], [60, 4, 8, 80, 0], [120, 8, 16, 80, 0]])
    (folder / "notes.txt").write_text("not a MIDI suffix: ignored")
    return folder


def test_load_midi_folder_skips_and_fixes(midi_folder):
    mset = M.load_midi_folder(midi_folder, progress=False)
    assert sorted(mset.ids) == sorted(["good0.mid", "sub/good1.mid", "good2.mid", "sub/good3.mid",
                                            "upper.MID", "out_of_range.mid"])
    reasons = {s["file"]: s["reason"] for s in mset.report.skipped}
    assert set(reasons) == {"corrupt.mid", "empty.mid", "truncated.mid", "text.mid", "no_notes.mid"}
    assert "empty" in reasons["empty.mid"] and "no notes" in reasons["no_notes.mid"]
    assert "truncated" in reasons["truncated.mid"] and "not a readable MIDI" in reasons["text.mid"]
    assert mset.report.fixed == [{"file": "out_of_range.mid", "fix": "moved 2 notes by octaves into 21..108"}]
    fixed = mset.notes[mset.ids.index("out_of_range.mid")]
    assert fixed[:, 0].tolist() == [22, 60, 108]
    assert all(m["split"] == M.split_of(m["group"]) and m["source"] == "my midi" for m in mset.meta)
    groups = {m["tune_id"]: m["group"] for m in mset.meta}
    assert groups["upper.MID"] == groups["good0.mid"] == "good0.mid"  # same content: one tune, one split
    assert groups["sub/good1.mid"] == "sub/good1.mid"  # no copies: its own path, as before
    good = mset.notes[mset.ids.index("good0.mid")]
    assert good.shape == (40, 5) and np.array_equal(good, mset.notes[mset.ids.index("upper.MID")])


def test_load_midi_folder_cache(midi_folder, data_env):
    first = M.load_midi_folder(midi_folder, progress=False)
    caches = list((data_env / "course_data" / "cache" / "midi").glob("*.npz"))
    assert len(caches) == 1
    again = M.load_melodies(midi_folder)
    assert again.ids == first.ids and again.report.to_dict() == first.report.to_dict()
    assert all(np.array_equal(a, b) for a, b in zip(first.notes, again.notes))
    _write(midi_folder / "new.mid", [[60, 0, 16, 80, 0]])  # a changed folder gets a new cache
    assert "new.mid" in M.load_midi_folder(midi_folder, progress=False).ids
    assert len(list(caches[0].parent.glob("*.npz"))) == 2


def test_load_melodies_errors(data_env):
    with pytest.raises(DataError, match="make data"):
        M.load_melodies(data_env / "nowhere")
    (data_env / "empty_dir").mkdir()
    with pytest.raises(DataError, match="no MIDI files"):
        M.load_melodies(data_env / "empty_dir")
    (data_env / "junk").mkdir()
    (data_env / "junk" / "a.mid").write_text("junk")
    with pytest.raises(DataError, match="a.mid"):
        M.load_melodies(data_env / "junk")


# ------------------------------------------------------------------------------------------ windows

def test_windows_shapes_and_content(built):
    s = built["bigset"]
    w = s.windows(2, meter=False)  # every tune cut every 16 steps from step 0, whatever its meter
    assert w.dtype == np.int64 and w.ndim == 2 and w.shape[1] == 32 and len(w) > 0
    assert w.min() >= 0 and w.max() < N_MELODY_TOKENS
    idx = s.window_tune_index
    assert idx.shape == (len(w),) and set(idx) <= set(range(len(s)))
    assert ((w >= MELODY_FIRST_PITCH).sum(axis=1) >= 1).all()
    # the windows of each tune are its tokens cut every bar, a hold in the middle of a note made a note-on
    for i in range(len(s)):
        tok, sounding = s.tokens(i), tokens_to_notes(s.tokens(i))
        expected = []
        for b in range(0, len(tok) - 32 + 1, 16):
            win = tok[b:b + 32].copy()
            held = sounding[(sounding[:, 1] < b) & (sounding[:, 2] > b)]
            if win[0] == MELODY_HOLD and len(held):
                win[0] = held[0, 0] - 19
            if (win >= MELODY_FIRST_PITCH).any():
                expected.append(win)
        assert np.array_equal(w[idx == i], np.array(expected).reshape(-1, 32)), s.ids[i]
    assert (w[:, 0] != MELODY_HOLD).sum() > 0 and (w[:, 0] == MELODY_OFF).sum() < len(w)
    assert len(s.windows(4, hop_bars=4, meter=False)) < len(s.windows(4, meter=False)) < len(w)
    assert len(s.windows(2, min_notes=8, meter=False)) < len(w)
    # meter-aware (the default): the 4/4 tunes without irregular bars give the same windows, the rest start on
    # their own bar lines
    aware = s.windows(2)
    for i in range(len(s)):
        starts, lengths = s.bars(i)
        mine = aware[s.window_tune_index == i]
        if (lengths == 16).all():
            assert np.array_equal(mine, w[idx == i]), s.ids[i]
        elif len(mine):
            bar_starts = set(starts[lengths == 16].tolist())
            tok = s.tokens(i)
            assert all(any(np.array_equal(row[1:], tok[b + 1:b + 32]) for b in bar_starts) for row in mine)


def test_windows_transpose(built):
    s = built["bigset"]
    w = s.windows(2)
    up = s.windows(2, transpose=3)
    assert len(up) <= len(w)
    on = w >= MELODY_FIRST_PITCH
    if len(up) == len(w):
        assert np.array_equal(up[on], w[on] + 3) and np.array_equal(up[~on], w[~on])
    assert len(s.windows(2, transpose=90)) == 0 and s.windows(2, transpose=90).shape == (0, 32)


def test_no_tune_in_two_splits(built):
    s = built["bigset"]
    seen = {}
    for name in M.SPLITS:
        part = s.split(name)
        assert all(m["split"] == name for m in part.meta)
        part.windows(2)
        seen[name] = {part.ids[i] for i in part.window_tune_index}
    assert not (seen["train"] & seen["valid"]) and not (seen["train"] & seen["test"])
    assert not (seen["valid"] & seen["test"])
    assert sum(len(s.split(n)) for n in M.SPLITS) == len(s)
    assert s.piano_roll(0).shape == (88, s.meta[0]["n_steps"])


def test_sample_windows_is_a_seeded_ordered_subset_pooled_over_shifts():
    import torch

    def tune(n, low):  # n quarter notes rising by a semitone: every window differs from every other
        return np.array([[low + i, 4 * i, 4 * i + 3, 100, 0] for i in range(n)], dtype=np.int32)

    tunes = M.MelodySet([tune(16, 40), tune(10, 70)], [{"split": "train", "tune_id": "a", "n_steps": 64},
                                               {"split": "train", "tune_id": "b", "n_steps": 40}])
    every = np.concatenate([tunes.windows(2, transpose=k) for k in (0, 2)]).tolist()
    got = tunes.sample_windows(2, 5, seed=7, transpose=(0, 2))
    assert got.shape == (5, 32) and got.dtype == torch.int64
    rows = [every.index(r) for r in got.tolist()]
    assert rows == sorted(rows) and len(set(rows)) == 5  # distinct rows, kept in order
    assert torch.equal(got, tunes.sample_windows(2, 5, seed=7, transpose=(0, 2)))  # same seed, same subset
    assert not torch.equal(got, tunes.sample_windows(2, 5, seed=8, transpose=(0, 2)))
    assert len(tunes.sample_windows(2, 10_000, seed=0)) == len(tunes.windows(2))  # more than there are: all
    assert int(got.max()) < N_MELODY_TOKENS
