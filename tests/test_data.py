import copy
import dataclasses
import json

import pytest

from course_lib import data, sizes
from course_lib.data.__main__ import main as data_cli


@pytest.fixture
def tiny(isolated, monkeypatch):
    overrides = copy.deepcopy(sizes.OVERRIDES)
    overrides["smoke"]["data"].update(notes=33, tunes=6, velocities=[100], songs=3, song_seconds=4.0, performances=3,
                                      clips=8)
    monkeypatch.setattr(sizes, "OVERRIDES", overrides)
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
    sizes.OVERRIDES["smoke"]["data"]["notes"] = 22
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
    sizes.OVERRIDES["smoke"]["data"]["notes"] = 10  # the profile's size caps a user's (possibly huge) dataset
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


# ---------------------------------------------------------------------------------------------- the registry

def test_every_kind_is_registered_once_in_build_order():
    assert data.KINDS == tuple(data.REGISTRY) == ("notes", "melodies", "songs", "performances", "clips")
    for position, (name, kind) in enumerate(data.REGISTRY.items()):
        assert kind.name == name and kind.env == f"COURSE_{name.upper()}" and data.dataset_kind(name) is kind
        assert kind.description and "\n" not in kind.description
        assert all(data.KINDS.index(dep) < position for dep in kind.depends)
    assert data.REGISTRY["songs"].depends == data.REGISTRY["performances"].depends == ("melodies",)
    with pytest.raises(ValueError, match="already registered"):
        data.register(data.REGISTRY["notes"])
    with pytest.raises(ValueError, match="unregistered kinds"):
        data.register(dataclasses.replace(data.REGISTRY["songs"], name="remixes", depends=("stems",)))
    assert "remixes" not in data.REGISTRY


def test_build_params_match_the_stamps_of_existing_builds(isolated):
    # the exact dicts earlier builds stored: changing one (or BUILD_VERSION) would rebuild every user's data
    assert data.BUILD_VERSION == 1
    assert data.build_params("notes", "smoke") == {"version": 1, "n_notes": 160, "velocities": [50, 100], "seed": 0}
    assert data.build_params("melodies", "smoke") == {"version": 1, "n_tunes": 40, "seed": 0}
    assert list(data.build_params("songs", "smoke").items()) == [("version", 1), ("n_songs", 6), ("seconds", 12.0),
                                                                  ("seed", 0), ("tunes", 40)]
    assert data.build_params("performances", "smoke") == {"version": 1, "n_pieces": 24, "n_bars": 2, "seed": 0,
                                                           "sample_rate": 16000, "tunes": 40}
    folder = data.dataset_path("melodies", "smoke")
    folder.mkdir(parents=True)
    stamp = folder.parent / "melodies.build.json"
    stamp.write_text(json.dumps({"params": {"version": 1, "n_tunes": 40, "seed": 0}, "seconds": 1.0, "kept": 40,
                                 "skipped": 0}))
    assert data.is_built("melodies", "smoke") and not data.is_built("melodies", "cpu")
    stamp.write_text(json.dumps({"params": {"version": 1, "n_tunes": 41, "seed": 0}}))
    assert not data.is_built("melodies", "smoke")


def test_environment_overrides_every_kind(isolated, monkeypatch):
    loaded = []
    for name, kind in data.REGISTRY.items():
        monkeypatch.setitem(data.REGISTRY, name, dataclasses.replace(
            kind, load=lambda path, **kw: loaded.append((path, kw)) or "loaded",
            build=lambda *a: pytest.fail("a user's dataset must not trigger a build")))
    for name in data.KINDS:
        assert data.dataset_path(name, "smoke") == isolated / "data" / "smoke" / name
        monkeypatch.setenv(f"COURSE_{name.upper()}", str(isolated / f"my_{name}"))
        assert data.dataset_path(name, "cpu") == data.dataset_path(name, "smoke") == isolated / f"my_{name}"
        assert data.get(name, "smoke", option=1) == "loaded" and loaded[-1] == (isolated / f"my_{name}", {"option": 1})
    assert data.get_clips("valid", "smoke") == "loaded" and loaded[-1][1] == {"split": "valid"}
    assert data.get_songs("smoke") == "loaded" and loaded[-1][1] == {"sample_rate": 4410}


def test_unknown_kind_is_refused_everywhere(isolated, capsys):
    for call in (lambda: data.dataset_kind("nope"), lambda: data.dataset_path("nope"), lambda: data.get("nope"),
                 lambda: data.build("smoke", ("nope",)), lambda: data.build_params("nope", "smoke")):
        with pytest.raises(ValueError, match=r"unknown dataset 'nope'; choose from \('notes', 'melodies'"):
            call()
    assert not data.is_built("nope", "smoke")
    with pytest.raises(SystemExit):
        data_cli(["check", str(isolated), "--kind", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_dependencies_are_built_first_and_only_when_missing(isolated, monkeypatch, capsys):
    calls = []

    def fake(name):
        def build(folder, params, profile, progress):
            calls.append(name)
            folder.mkdir(parents=True, exist_ok=True)
            return data.BuildReport(f"{name} build", kept=params.get("n_tunes", 1))
        return build

    for name, kind in data.REGISTRY.items():
        monkeypatch.setitem(data.REGISTRY, name, dataclasses.replace(kind, build=fake(name)))
    out = data.build("smoke", ("songs",), progress=False)
    assert calls == ["melodies", "songs"] and list(out) == ["songs"] and data.is_built("melodies", "smoke")
    log = capsys.readouterr().out
    assert log.index("songs: building") < log.index("melodies: building") < log.index("melodies build: 40 kept")
    assert data.build("smoke", ("performances", "songs"), progress=False)["songs"] is None
    assert calls == ["melodies", "songs", "performances"]  # melodies are built already
    data.build("smoke", ("songs",), force=True, progress=False)
    assert calls[-1] == "songs" and calls.count("melodies") == 1  # force rebuilds what was asked, not its sources
    (isolated / "data" / "smoke" / "melodies.build.json").unlink()
    data.build("smoke", ("songs",), force=True, progress=False)
    assert calls[-2:] == ["melodies", "songs"]  # a source without a valid stamp is built again first


# ---------------------------------------------------------------------------------------------- split sets

class Toy(data.SplitSet):
    NOUN, ID_KEY = "toys", "name"

    def __init__(self, meta):
        self.meta = meta

    def subset(self, idx):
        return Toy([self.meta[i] for i in idx])


def test_split_set_base_gives_len_ids_split_and_repr():
    toys = Toy([{"name": n, "split": s} for n, s in zip("abcde", ["train", "test", "train", "valid", "test"])])
    assert len(toys) == 5 and toys.ids == list("abcde")
    assert toys.per_split() == {"train": 2, "valid": 1, "test": 2}
    test = toys.split("test")
    assert isinstance(test, Toy) and test.ids == ["b", "e"] and toys.split("valid").ids == ["d"]
    assert repr(test) == "Toy(2 toys, {'train': 0, 'valid': 0, 'test': 2})"
    with pytest.raises(ValueError, match=r"unknown split 'dev'; use one of \('train', 'valid', 'test'\)"):
        toys.split("dev")
    with pytest.raises(TypeError, match="subset"):
        type("NoSubset", (data.SplitSet,), {})()
    assert data.SPLITS == ("train", "valid", "test")
