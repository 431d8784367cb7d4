import random

import numpy as np
import pytest
import torch

from course_lib import config


def test_profile_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert config.profile_name() == "smoke"
    assert config.profile_name("CPU") == "cpu"
    monkeypatch.delenv("COURSE_PROFILE")
    assert config.profile_name() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        config.profile_name()


def test_every_profile_has_the_same_keys():
    keys = {p: set(config.SIZES[p]) for p in config.PROFILES}
    assert keys["smoke"] == keys["cpu"] == keys["gpu"]
    for chapter in keys["smoke"] - {"seeds", "data"}:
        assert set(config.SIZES["smoke"][chapter]) == set(config.SIZES["gpu"][chapter]), chapter


def test_profiles_grow():
    s, c, g = (config.SIZES[p]["data"] for p in config.PROFILES)
    assert s["notes"] <= 200 and 1000 <= c["notes"] < g["notes"] and g["notes"] >= 20000
    assert s["tunes"] < c["tunes"] <= g["tunes"]


def test_cfg_attribute_access_and_helpful_error():
    cfg = config.Cfg({"a": 1, "b": {"c": 2}})
    assert cfg.a == 1 and cfg.b.c == 2
    with pytest.raises(AttributeError, match="known: \\['a', 'b'\\]"):
        cfg.missing


def test_paths_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "b"))
    assert config.data_dir("notes", "cpu") == tmp_path / "d" / "cpu" / "notes"
    assert config.build_root() == tmp_path / "b"
    assert (config.repo_root() / "pyproject.toml").exists()


def test_seed_everything_is_deterministic():
    config.seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(3))
    config.seed_everything(3)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_setup_returns_chapter_config(isolated, capsys):
    ctx = config.setup(chapter=1, profile="smoke")
    out = capsys.readouterr().out
    assert "Chapter 01" in out and "profile smoke" in out and "device" in out
    assert ctx.chapter == "01" and ctx.profile == "smoke"
    assert ctx.cfg.gl_iters == config.SIZES["smoke"]["ch01"]["gl_iters"]
    assert ctx.data.notes == config.SIZES["smoke"]["data"]["notes"]
    assert ctx.findings.chapter == "01" and ctx.device.type in ("cpu", "cuda", "mps")
    assert ctx.data_dir("notes") == isolated / "data" / "smoke" / "notes"


def test_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.pick_device() == torch.device("cpu")
    assert config.describe_device(torch.device("cpu")).startswith("cpu (")
