"""Your own MIDI and audio without silent surprises (issue 16): copies of a tune share a split, windows follow the
meter, quantisation losses are counted, odd files are reported, caches notice changes and say they were used,
audio surprises are fixed and listed, messages name the right variable, data sources are stated.

Every file is made here, small, by the test that needs it.
"""
from __future__ import annotations

import builtins
import json
import os

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from course_lib import io
from course_lib.data import common
from course_lib.data import melodies as M
from course_lib.data.__main__ import main as data_main
from course_lib.data.common import DataError
from course_lib.midi import MELODY_FIRST_PITCH

SEC = 0.125  # one 16th at 120 bpm


def midi_file(path, tracks, meters=(), resolution=480):
    """Write a MIDI file: tracks = [[(pitch, start_s, end_s), ...], ...], meters = [(num, den, time_s), ...]."""
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=120.0)
    for k, notes in enumerate(tracks):
        inst = pretty_midi.Instrument(program=0 if k == 0 else 48)
        inst.notes = [pretty_midi.Note(velocity=90, pitch=int(p), start=float(s), end=float(e)) for p, s, e in notes]
        pm.instruments.append(inst)
    pm.time_signature_changes = [pretty_midi.TimeSignature(n, d, t) for n, d, t in meters]
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def scale_tune(n_steps, step=2, low=60, seed=0):
    """A monophonic line of notes `step` 16ths long filling n_steps, pitches drawn from a seeded generator."""
    rng = np.random.default_rng(seed)
    return [(int(low + rng.integers(0, 20)), s * SEC, (s + step) * SEC) for s in range(0, n_steps, step)]


def chords(n_bars, bar_steps=16):
    """A triad (C, E, G below middle C) held for each bar: an accompaniment."""
    return [(p, b * bar_steps * SEC, (b + 1) * bar_steps * SEC) for b in range(n_bars) for p in (48, 52, 55)]


@pytest.fixture(autouse=True)
def _own_data(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "course_data"))
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "build"))
    for kind in ("NOTES", "MELODIES", "SONGS", "PERFORMANCES", "CLIPS"):
        monkeypatch.delenv(f"COURSE_{kind}", raising=False)


# ------------------------------------------------------------------------------------ 1. splits by tune identity

@pytest.fixture()
def folk(tmp_path):
    """30 tunes, each as a combined file at the top plus melody-only and chords-only copies in subfolders, and one
    transposed copy of tune 3 under another name."""
    root = tmp_path / "folk"
    for k in range(30):
        melody = scale_tune(64, seed=k)
        midi_file(root / f"tune{k:02d}.mid", [melody, chords(4)], meters=[(4, 4, 0.0)])
        midi_file(root / "melody" / f"tune{k:02d}.mid", [melody], meters=[(4, 4, 0.0)])
        midi_file(root / "chords" / f"tune{k:02d}.mid", [chords(4)], meters=[(4, 4, 0.0)])
    up = [(p + 2, s, e) for p, s, e in scale_tune(64, seed=3)]
    midi_file(root / "extra" / "renamed.mid", [up], meters=[(4, 4, 0.0)])
    return root


def test_copies_of_a_tune_share_one_split(folk):
    by_path = [{M.split_of(p) for p in (f"tune{k:02d}.mid", f"melody/tune{k:02d}.mid")} for k in range(30)]
    assert any(len(s) > 1 for s in by_path)  # splitting by path would separate some copies
    mset = M.load_midi_folder(folk, progress=False)
    split = {m["tune_id"]: m["split"] for m in mset.meta}
    assert all(split[f"tune{k:02d}.mid"] == split[f"melody/tune{k:02d}.mid"] for k in range(30))
    group = {m["tune_id"]: m["group"] for m in mset.meta}
    for k in range(30):
        top, mel = f"tune{k:02d}.mid", f"melody/tune{k:02d}.mid"
        assert group[top] == group[mel] == top and split[top] == split[mel] == M.split_of(top)
    assert group["extra/renamed.mid"] == "tune03.mid" and split["extra/renamed.mid"] == split["tune03.mid"]
    # the chords-only copies are skipped with the reason, the combined files kept with a warning
    skipped = {s["file"]: s["reason"] for s in mset.report.skipped}
    assert sorted(skipped) == [f"chords/tune{k:02d}.mid" for k in range(30)]
    assert all("accompaniment" in r and "chords only" in r for r in skipped.values())
    warned = {w["file"] for w in mset.report.warnings if w["warning"].startswith("polyphonic")}
    assert warned == {f"tune{k:02d}.mid" for k in range(30)}
    info = mset.report.info
    assert info["files per folder"] == {".": 30, "chords": 30, "extra": 1, "melody": 30}
    assert info["groups of copies"].startswith("30 groups hold 91 files")
    assert info["textures"] == {"monophonic": 31, "polyphonic": 30, "chords": 30}
    assert info["meters"]["4/4"] == 61
    assert M.split_leaks(mset) ["groups"] == [] and M.split_leaks(mset)["same_top_line"] == []


def test_the_checker_reports_groups_folders_textures_and_meters(folk, capsys):
    assert data_main(["check", str(folk), "--kind", "melodies"]) == 0
    out = capsys.readouterr().out
    assert "61 items loaded" in out
    for text in ("groups of copies: 30 groups hold 91 files", "files per folder: . 30, chords 30, extra 1, melody 30",
                 "textures: monophonic 31, polyphonic 30, chords 30", "meters: 4/4 61",
                 "skipped chords/tune00.mid: looks like an accompaniment"):
        assert text in out, text


def test_split_leaks_compares_groups_content_and_windows():
    tune = np.array([[60 + (i % 5), 4 * i, 4 * i + 4, 80, 0] for i in range(16)], dtype=np.int32)
    meta = [{"tune_id": "a.mid", "group": "a.mid", "split": "train", "n_steps": 64},
            {"tune_id": "melody/a.mid", "group": "a.mid", "split": "test", "n_steps": 64},  # a group in two splits
            {"tune_id": "b.mid", "group": "b.mid", "split": "valid", "n_steps": 64}]  # a's tune again, renamed
    leaks = M.split_leaks(M.MelodySet([tune, tune, tune + [3, 0, 0, 0, 0]], meta))
    assert leaks["groups"] == ["a.mid"]
    assert leaks["same_top_line"] == [["a.mid", "melody/a.mid", "b.mid"]]
    assert leaks["windows_in_train"]["test"][0] == leaks["windows_in_train"]["test"][1] > 0


# ------------------------------------------------------------------------------------ 2. meter-aware windows

def test_meter_steps_on_the_16th_grid():
    assert {m: M.meter_steps(m) for m in ("4/4", "2/2", "6/8", "3/4", "2/4", "9/8", "12/8", "5/32")} == \
        {"4/4": 16, "2/2": 16, "6/8": 12, "3/4": 12, "2/4": 8, "9/8": 18, "12/8": 24, "5/32": None}


@pytest.fixture()
def meters_folder(tmp_path):
    root = tmp_path / "meters"
    midi_file(root / "jig.mid", [scale_tune(96, seed=1)], meters=[(6, 8, 0.0)])  # 8 bars of 12 steps
    midi_file(root / "reel.mid", [scale_tune(96, seed=2)], meters=[(4, 4, 0.0)])  # 6 bars of 16
    midi_file(root / "march.mid", [scale_tune(64, seed=3)], meters=[(2, 4, 0.0)])
    midi_file(root / "slip.mid", [scale_tune(108, seed=4)], meters=[(9, 8, 0.0)])
    midi_file(root / "change.mid", [scale_tune(112, seed=5)], meters=[(4, 4, 0.0), (3, 4, 64 * SEC)])
    midi_file(root / "odd.mid", [scale_tune(40, seed=6)], meters=[(5, 32, 0.0)])
    midi_file(root / "between.mid", [scale_tune(64, seed=7)], meters=[(4, 4, 0.0), (3, 4, 8.5 * SEC)])
    return root


def _starts(mset, name, n_bars, steps_per_bar):
    """The steps at which the windows of one tune start; checked against the tune's tokens."""
    i = mset.ids.index(name)
    w = mset.windows(n_bars, steps_per_bar)
    tok, mine = mset.tokens(i), mset.window_tune_index == i
    starts = mset.window_starts[mine].tolist()
    L = n_bars * steps_per_bar
    assert all(np.array_equal(row[1:], tok[b + 1:b + L]) for row, b in zip(w[mine], starts))
    return starts


def test_windows_follow_each_tunes_meter(meters_folder):
    mset = M.load_midi_folder(meters_folder, progress=False)
    assert mset.meta[mset.ids.index("change.mid")]["meters"] == [[0, "4/4"], [64, "3/4"]]
    assert _starts(mset, "jig.mid", 2, 12) == [0, 12, 24, 36, 48, 60, 72]  # 2 bars of 6/8 = 24 steps
    assert _starts(mset, "jig.mid", 2, 16) == []
    assert _starts(mset, "reel.mid", 2, 16) == [0, 16, 32, 48, 64]
    assert _starts(mset, "reel.mid", 2, 12) == []
    assert _starts(mset, "march.mid", 2, 8) == list(range(0, 49, 8))
    assert _starts(mset, "slip.mid", 2, 18) == [0, 18, 36, 54, 72]
    assert _starts(mset, "change.mid", 2, 16) == [0, 16, 32]  # the bar at 48 is followed by a 3/4 bar
    assert _starts(mset, "change.mid", 2, 12) == [64, 76, 88]
    assert mset.windows(2, 12).shape[1] == 24 and mset.windows(3, 18).shape[1] == 54
    mset.windows(2)
    rep = mset.window_report
    assert set(rep["unplaced"]) == {"odd.mid", "between.mid"}
    assert "5/32" in rep["unplaced"]["odd.mid"] and "between 16th steps" in rep["unplaced"]["between.mid"]
    assert rep["other_meters"] == {"6/8": 1, "2/4": 1, "9/8": 1, "3/4": 1}  # (the unplaced tunes: not counted)
    assert "6/8 = 12 steps (1)" in mset.window_summary()
    warned = {w["file"]: w["warning"] for w in mset.report.warnings}
    assert "cannot be placed" in warned["odd.mid"] and "no meter-aware windows" in warned["odd.mid"]
    # 4/4: the meter-aware windows are the 16-steps-per-bar windows of before
    reel = mset.subset([mset.ids.index("reel.mid")])
    assert np.array_equal(reel.windows(2), reel.windows(2, meter=False))
    assert np.array_equal(reel.windows(4, hop_bars=2, transpose=3), reel.windows(4, hop_bars=2, transpose=3,
                                                                                meter=False))


CHANGING_ABC = """X:1
T:Changing meter
M:4/4
L:1/8
K:C
CDEF GABc | cBAG FEDC | CDEF GABc | cBAG FEDC |[M:3/4] CDE FGA | ABc cBA | GFE DCB, | C6 |]

X:2
T:Triplets
M:2/4
L:1/8
K:G
(3GAB c2 | (3dcB A2 | G2 B2 | d4 |]
"""


def test_built_melodies_store_meter_changes_and_quantisation(tmp_path):
    src = tmp_path / "changing.abc"
    src.write_text(CHANGING_ABC)
    out = tmp_path / "built"
    report = M.build_melodies(out, 2, sources=[src], progress=False)
    index = {m["title"]: m for m in json.loads((out / "index.json").read_text())}
    assert index["Changing meter"]["meters"] == [[0, "4/4"], [64, "3/4"]]
    assert index["Changing meter"]["time_signatures"] == ["4/4"]  # music21 drops the [M:3/4]; the bars show it
    assert index["Triplets"]["quantisation"]["off_grid"] == 4
    assert any(w["file"].endswith("#2") and "off the 16th grid" in w["warning"] for w in report.warnings)
    mset = M.load_melodies(out)
    assert _starts(mset, "changing-changing-1", 2, 16) == [0, 16, 32]
    assert _starts(mset, "changing-changing-1", 2, 12) == [64, 76, 88]
    assert mset.report.info["meters"]["tunes whose bars change length (meter changes, irregular bars)"] == 1
    # the MIDI files of the build carry the meters: read back as a MIDI folder, the same windows
    folder = M.load_midi_folder(out / "midi", progress=False)
    assert np.array_equal(folder.windows(2, 12), mset.windows(2, 12))
    # a build made before meters were stored: the first meter only, and the report says so
    old = [{k: v for k, v in m.items() if k not in ("meters", "time_signatures")}
           for m in json.loads((out / "index.json").read_text())]
    (out / "index.json").write_text(json.dumps(old))
    before = M.load_melodies(out)
    assert "rebuild" in before.report.info["meter changes"]
    assert _starts(before, "changing-changing-1", 2, 16) == [0, 16, 32, 48, 64, 80]


# ------------------------------------------------------------------------------------ 3. quantisation losses

def test_off_grid_onsets_and_collisions_are_counted(tmp_path):
    third = 4 * SEC / 3  # an 8th-note triplet
    notes = [(60, 0.0, third), (62, third, 2 * third), (64, 2 * third, 4 * SEC),  # 2 onsets off the grid
             (65, 8 * SEC, 8 * SEC + 0.01), (67, 8 * SEC + 0.0104, 10 * SEC),  # 2 onsets on one 16th step
             (69, 12 * SEC, 16 * SEC)]
    midi_file(tmp_path / "t" / "triplets.mid", [notes], meters=[(4, 4, 0.0)])
    midi_file(tmp_path / "t" / "straight.mid", [scale_tune(32)], meters=[(4, 4, 0.0)])
    mset = M.load_midi_folder(tmp_path / "t", progress=False)
    q = {m["tune_id"]: m["quantisation"] for m in mset.meta}
    assert q == {"straight.mid": {"off_grid": 0, "collisions": 0}, "triplets.mid": {"off_grid": 2, "collisions": 1}}
    warning = {w["file"]: w["warning"] for w in mset.report.warnings}["triplets.mid"]
    assert "2 onsets off the 16th grid" in warning and "1 collisions" in warning
    assert mset.report.info["quantisation"] == {"files with off-grid onsets": 1, "off-grid onsets": 2,
                                                "files with collisions": 1, "collisions": 1}
    assert "quantisation: files with off-grid onsets 1" in mset.report.summary()


# ------------------------------------------------------------------------------------ 4. file-system oddities

@pytest.fixture()
def odd_folder(tmp_path):
    root = tmp_path / "odd"
    midi_file(root / "good.mid", [scale_tune(32, seed=1)])
    other = tmp_path / "elsewhere"
    midi_file(other / "linked_tune.mid", [scale_tune(32, seed=2)])
    os.symlink(other, root / "linked")  # a symlinked folder: followed
    os.symlink(other, root / "linked_again")  # the same folder a second time: read once
    (root / "sub").mkdir()
    midi_file(root / "sub" / "deep.mid", [scale_tune(32, seed=3)])
    os.symlink("..", root / "sub" / "up")  # a loop back to the root
    os.symlink(tmp_path / "missing.mid", root / "gone.mid")  # broken
    os.symlink("loop.mid", root / "loop.mid")  # a symlink to itself
    midi_file(root / "locked.mid", [scale_tune(32, seed=4)])
    return root


def test_symlinks_loops_and_unreadable_files_are_reported(odd_folder, monkeypatch):
    locked = str(odd_folder / "locked.mid")
    real_open = builtins.open

    def deny(file, *a, **k):  # as for a file without read permission (the tests may run as root)
        if str(file) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", deny)
    mset = M.load_midi_folder(odd_folder, progress=False)
    assert sorted(mset.ids) == ["good.mid", "linked/linked_tune.mid", "sub/deep.mid"]
    reasons = {s["file"]: s["reason"] for s in mset.report.skipped}
    assert set(reasons) == {"gone.mid", "loop.mid", "linked_again", "sub/up", "locked.mid"}
    assert reasons["gone.mid"].startswith("broken symlink") and reasons["loop.mid"].startswith("symlink loop")
    assert reasons["sub/up"].startswith("symlink loop") and "read once" in reasons["linked_again"]
    assert reasons["locked.mid"] == f"permission denied: chmod +r {locked}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_a_file_without_read_permission_names_chmod(tmp_path):
    f = midi_file(tmp_path / "p" / "locked.mid", [scale_tune(32)])
    midi_file(tmp_path / "p" / "ok.mid", [scale_tune(32, seed=9)])
    f.chmod(0)
    try:
        mset = M.load_midi_folder(tmp_path / "p", progress=False)
    finally:
        f.chmod(0o644)
    assert mset.report.skipped == [{"file": "locked.mid", "reason": f"permission denied: chmod +r {f}"}]


def test_a_single_midi_file_is_accepted(tmp_path, capsys):
    f = midi_file(tmp_path / "one" / "only.mid", [scale_tune(32)], meters=[(3, 4, 0.0)])
    mset = M.load_melodies(f)
    assert mset.ids == ["only.mid"] and mset.meta[0]["time_signature"] == "3/4"
    assert data_main(["check", str(f), "--kind", "melodies"]) == 0
    assert "1 items loaded" in capsys.readouterr().out
    (tmp_path / "one" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a .mid/.midi file"):
        M.load_melodies(tmp_path / "one" / "notes.txt")


def nsynth_folder(root, entries, seconds=4.0, sr=16000):
    """A small NSynth-layout split: {note_str: entry} plus one 4-s sine WAV per entry (made here)."""
    (root / "audio").mkdir(parents=True)
    t = np.arange(int(seconds * sr)) / sr
    for k, (key, e) in enumerate(entries.items()):
        sf.write(root / "audio" / f"{key}.wav", (0.3 * np.sin(2 * np.pi * (220 + 20 * k) * t)).astype(np.float32),
                 sr, subtype="PCM_16")
    (root / "examples.json").write_text(json.dumps(entries))
    return root


def entry(pitch=60, **kw):
    e = {"pitch": pitch, "velocity": 100, "instrument": 3, "instrument_family": 4, "instrument_family_str": "keyboard",
         "instrument_source": 0, "instrument_source_str": "acoustic"}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def test_fingerprint_and_notes_survive_dangling_and_looping_symlinks(tmp_path):
    from course_lib.data import notes

    split = nsynth_folder(tmp_path / "ns" / "nsynth-valid", {"keyboard_acoustic_003-060-100": entry(60),
                                                             "keyboard_acoustic_003-062-100": entry(62)})
    os.symlink(tmp_path / "nowhere.wav", split / "audio" / "dangling.wav")
    os.symlink("looping.wav", split / "audio" / "looping.wav")
    key = io.files_fingerprint(split / "audio")  # no FileNotFoundError / "Too many levels of symbolic links"
    problems: list[dict] = []
    assert len(key) == 16 and key == io.files_fingerprint(split / "audio", problems)
    assert {p["file"]: p["reason"].split(" (")[0] for p in problems} == {"dangling.wav": "broken symlink",
                                                                       "looping.wav": "symlink loop"}
    ns = notes.load_notes(tmp_path / "ns", split="valid", progress=False)
    assert len(ns) == 2
    reasons = {os.path.basename(s["file"]): s["reason"] for s in ns.report.skipped}
    assert set(reasons) == {"dangling.wav", "looping.wav"} and all("not in examples.json" in r
                                                                   for r in reasons.values())


# ------------------------------------------------------------------------------------ 5. cache keys, cache use

def test_midi_cache_notices_rewrites_and_chmod_and_says_when_it_is_used(tmp_path):
    root = tmp_path / "c"
    f = midi_file(root / "a.mid", [[(60, s * SEC, (s + 2) * SEC) for s in range(0, 32, 2)]])
    midi_file(root / "b.mid", [scale_tune(32, seed=5)])
    first = M.load_midi_folder(root, progress=False)
    st = f.stat()
    midi_file(f, [[(72, s * SEC, (s + 2) * SEC) for s in range(0, 32, 2)]])  # same size, other pitches
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    changed = M.load_midi_folder(root, progress=False)
    assert changed.notes[changed.ids.index("a.mid")][0, 0] == 72  # not the cached 60s
    assert first.report.from_cache is None and changed.report.from_cache is None
    again = M.load_midi_folder(root, progress=False)
    assert again.report.from_cache and "served from the cache" in again.report.summary()
    f.chmod(0o600)  # readability changed: a new key (the ctime moves)
    assert M.load_midi_folder(root, progress=False).report.from_cache is None


# ------------------------------------------------------------------------------------ 6. audio surprises

def test_read_wav_cancelling_channels_silence_and_loud_floats(tmp_path):
    sr = 4410
    x = (0.5 * np.sin(2 * np.pi * 220 * np.arange(2 * sr) / sr)).astype(np.float32)
    sf.write(tmp_path / "cancel.wav", np.stack([x, -x], 1), sr)
    sf.write(tmp_path / "silent.wav", np.zeros(2 * sr, np.float32), sr)
    sf.write(tmp_path / "loud.wav", 6 * x, sr, subtype="FLOAT")  # peaks at 3.0
    rep = common.BuildReport("t")
    y, _ = common.read_wav(tmp_path / "cancel.wav", report=rep)
    assert np.allclose(y, x, atol=1e-4) and "cancel" in rep.fixed[0]["fix"] and "first channel" in rep.fixed[0]["fix"]
    with pytest.raises(DataError, match="every sample is 0"):
        common.read_wav(tmp_path / "silent.wav")
    assert len(common.read_wav(tmp_path / "silent.wav", allow_silent=True)[0]) == 2 * sr
    rep = common.BuildReport("t")
    y, _ = common.read_wav(tmp_path / "loud.wav", report=rep)
    assert abs(float(np.abs(y).max()) - 1.0) < 1e-6 and np.allclose(y, x / 0.5, atol=1e-5)
    assert "peak at 3" in rep.fixed[0]["fix"] and "scaled" in rep.fixed[0]["fix"]


def test_audio_folder_lists_what_it_did_with_surprising_files(tmp_path):
    from course_lib.data import songs

    sr = 4410
    x = (0.5 * np.sin(2 * np.pi * 220 * np.arange(2 * sr) / sr)).astype(np.float32)
    root = tmp_path / "audio"
    root.mkdir()
    sf.write(root / "cancel.wav", np.stack([x, -x], 1), sr)
    sf.write(root / "silent.wav", np.zeros(2 * sr, np.float32), sr)
    sf.write(root / "loud.wav", 6 * x, sr, subtype="FLOAT")
    sf.write(root / "fine.wav", x, sr)
    s = songs.load_audio_folder(root, sample_rate=sr, progress=False)
    assert sorted(m["path"] for m in s.meta) == ["cancel.wav", "fine.wav", "loud.wav"]
    assert s.report.skipped == [{"file": "silent.wav", "reason": "every sample is 0 (a silent file). Re-export or "
                                                                 "delete it; loaders skip it."}]
    fixes = {f["file"]: f["fix"] for f in s.report.fixed}
    assert "cancel" in fixes["cancel.wav"] and "scaled" in fixes["loud.wav"]
    assert float(s.audio[[m["path"] for m in s.meta].index("cancel.wav")].abs().max()) > 0.4
    assert songs.load_audio_folder(root, sample_rate=sr, progress=False).report.from_cache


def test_nsynth_entry_without_instrument_is_kept_with_a_warning(tmp_path):
    from course_lib.data import notes

    nsynth_folder(tmp_path / "ns" / "nsynth-test", {"keyboard_acoustic_003-060-100": entry(60),
                                                    "keyboard_acoustic_xxx-062-100": entry(62, instrument=None)})
    ns = notes.load_notes(tmp_path / "ns", split="test", progress=False)
    assert ns.instrument.tolist() == [3, -1]
    assert len(ns.report.warnings) == 1 and "no integer 'instrument'" in ns.report.warnings[0]["warning"]
    assert "instrument -1" in ns.report.summary()
    # the notes cache: used (and said) while nothing changes, not after a chmod (its key holds ctime and mode)
    again = notes.load_notes(tmp_path / "ns", split="test", progress=False)
    assert again.report.from_cache and "served from the cache" in again.report.summary()
    (tmp_path / "ns" / "nsynth-test" / "audio" / "keyboard_acoustic_003-060-100.wav").chmod(0o600)
    assert notes.load_notes(tmp_path / "ns", split="test", progress=False).report.from_cache is None


# ------------------------------------------------------------------------------------ 7. messages

def test_notes_errors_name_course_notes_and_skip_lines_name_the_file_once(tmp_path):
    from course_lib.data import notes

    with pytest.raises(DataError, match="COURSE_NOTES"):
        notes.load_notes(tmp_path / "nowhere", progress=False)
    split = nsynth_folder(tmp_path / "ns" / "nsynth-valid", {"keyboard_acoustic_003-060-100": entry(60),
                                                             "keyboard_acoustic_003-062-100": entry(62)})
    bad = split / "audio" / "keyboard_acoustic_003-062-100.wav"
    bad.write_bytes(b"RIFF junk")
    ns = notes.load_notes(tmp_path / "ns", split="valid", progress=False)
    line = next(t for t in ns.report.summary().splitlines() if "skipped" in t and "062" in t)
    assert line.count(str(bad)) == 1 and "not a readable audio file" in line


# ------------------------------------------------------------------------------------ 8. provenance

def test_sources_say_built_here_or_user_and_setup_prints_them(tmp_path, monkeypatch, capsys):
    import course_lib
    from course_lib.data import sources

    built = sources("smoke")
    assert set(built) == {"notes", "melodies", "songs", "performances", "clips"}
    assert built["melodies"] == "built here (smoke sizes: n_tunes=40)"
    assert all(v.startswith("built here (smoke sizes: ") for v in built.values())
    course_lib.setup(6, "smoke")
    assert "Data sources" not in capsys.readouterr().out
    monkeypatch.setenv("COURSE_MELODIES", str(tmp_path / "my_midi"))
    assert sources("smoke")["melodies"] == f"user: {tmp_path / 'my_midi'}"
    course_lib.setup(6, "smoke")
    out = capsys.readouterr().out
    assert f"melodies: user: {tmp_path / 'my_midi'}" in out and "notes: built here (smoke sizes:" in out


def test_windows_carry_no_pitch_outside_the_tokens(meters_folder):
    w = M.load_midi_folder(meters_folder, progress=False).windows(2, 12)
    assert w.min() >= 0 and (w >= MELODY_FIRST_PITCH).any()
