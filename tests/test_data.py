import copy

import pytest

from course_lib import config, data
from course_lib.data.__main__ import main as data_cli


@pytest.fixture
def tiny(isolated, monkeypatch):
    sizes = copy.deepcopy(config.SIZES)
    sizes["smoke"]["data"].update(notes=33, tunes=6, velocities=[100], songs=3, song_seconds=4.0, performances=3, clips=8)
    monkeypatch.setattr(config, "SIZES", sizes)
    monkeypatch.setattr(data, "SIZES", sizes)
    return isolated


def test_build_once_then_reuse_then_rebuild_when_sizes_change(tiny, capsys):
    reports = data.build("smoke", progress=True)
    assert reports["notes"].kept == 33 and reports["melodies"].kept == 6 and reports["songs"].kept == 3
    assert reports["performances"].kept == 3
    assert all(data.is_built(kind, "smoke") for kind in data.KINDS)
    assert (tiny / "data" / "smoke" / "notes" / "nsynth-train" / "examples.json").exists()
    assert (tiny / "data" / "smoke" / "melodies" / "index.json").exists()
    capsys.readouterr()
    again = data.build("smoke")
    assert again == {k: None for k in data.KINDS}
    assert "up to date" in capsys.readouterr().out
    config.SIZES["smoke"]["data"]["notes"] = 22
    assert not data.is_built("notes", "smoke")
    assert data.build("smoke", ("notes",), progress=False)["notes"].kept == 22


def test_get_builds_on_first_use(tiny):
    assert not data.is_built("notes", "smoke")
    ns = data.get_notes("valid", "smoke", progress=False)
    assert len(ns) > 0 and data.is_built("notes", "smoke")
    tunes = data.get_melodies("smoke", progress=False)
    assert len(tunes) == 6
    songs = data.get_songs("smoke", progress=False)
    assert len(songs) == 3 and songs.sample_rate == 4410
    assert {m["split"] for m in songs.meta} == {"train", "valid", "test"}  # every split gets a song


def test_real_dataset_paths_come_from_the_environment(tiny, monkeypatch):
    data.build("smoke", ("notes",), progress=False)
    built = data.dataset_path("notes", "smoke")
    monkeypatch.setenv("COURSE_NOTES", str(built))
    monkeypatch.setenv("COURSE_MELODIES", str(tiny / "nowhere"))
    assert data.dataset_path("notes", "cpu") == built  # a user's dataset serves every profile
    assert len(data.get_notes("test", "cpu", progress=False)) > 0  # nothing is built for cpu
    assert len(data.get_notes("train", "cpu", max_notes=5, progress=False)) == 5
    everything = data.get_notes("train", "smoke", max_notes=None, progress=False)
    config.SIZES["smoke"]["data"]["notes"] = 10  # the profile's size caps a user's (possibly huge) dataset
    assert len(everything) > 10 and len(data.get_notes("train", "smoke", progress=False)) == 10
    assert not data.is_built("notes", "cpu")
    with pytest.raises(data.DataError, match="nowhere"):
        data.get_melodies("cpu")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.dataset_path("nope")


def test_cli_check_reports_and_fails_clearly(tiny, capsys):
    data.build("smoke", ("notes",), progress=False)
    assert data_cli(["check", str(data.dataset_path("notes", "smoke")), "--kind", "notes", "--split", "test"]) == 0
    assert "items loaded" in capsys.readouterr().out
    assert data_cli(["check", str(tiny / "missing"), "--kind", "notes"]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "make data" in err


def test_cli_checks_an_audio_folder(tiny, capsys):
    data.build("smoke", ("songs",), progress=False)
    assert data_cli(["check", str(data.dataset_path("songs", "smoke")), "--kind", "songs"]) == 0
    out = capsys.readouterr().out
    assert "3 items loaded" in out and "0 skipped" in out
