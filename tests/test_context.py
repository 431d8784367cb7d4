import random

import numpy as np
import pytest
import torch

from course_lib import context, sizes


def test_paths_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "b"))
    assert context.data_dir("notes", "cpu") == tmp_path / "d" / "cpu" / "notes"
    assert context.build_root() == tmp_path / "b"
    assert (context.repo_root() / "pyproject.toml").exists()


def test_seed_everything_is_deterministic():
    context.seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(3))
    context.seed_everything(3)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_setup_returns_chapter_config(isolated, capsys):
    ctx = context.setup(chapter=1, profile="smoke")
    out = capsys.readouterr().out
    assert "Chapter 01" in out and "profile smoke" in out and "device" in out
    assert ctx.chapter == "01" and ctx.profile == "smoke"
    assert ctx.cfg == sizes.chapter_sizes(1, "smoke") and ctx.cfg.gl_iters == [0, 4, 16]
    assert ctx.data == sizes.data_sizes("smoke") and ctx.data.notes == 160
    assert ctx.seeds == [0]
    assert ctx.findings.chapter == "01" and ctx.device.type in ("cpu", "cuda", "mps")
    assert ctx.data_dir("notes") == isolated / "data" / "smoke" / "notes"


def test_setup_takes_a_chapters_own_seeds(isolated):
    assert context.setup(chapter=0, profile="cpu", quiet=True).seeds == [0, 1, 2]  # the profile's seeds
    assert context.setup(chapter=9, profile="cpu", quiet=True).seeds == [0]  # chapter 09 sets its own


def test_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert context.pick_device() == torch.device("cpu")
    assert context.describe_device(torch.device("cpu")).startswith("cpu (")


def _regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-1.0], [2.0]])


def _mse(model, batch, state):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_fit_seeds_builds_names_and_checkpoints(isolated):
    ctx = context.setup(chapter=2, profile="smoke", quiet=True)
    data = _regression()
    a = ctx.fit("lin_a", lambda: torch.nn.Linear(3, 1), _mse, data, data, seed=5, epochs=3, batch_size=16, lr=0.1,
                progress=False)
    b = ctx.fit("lin_b", lambda: torch.nn.Linear(3, 1), _mse, data, data, seed=5, epochs=3, batch_size=16, lr=0.1,
                progress=False)
    model, hist = a
    assert torch.equal(model.weight, b.model.weight)  # the same seed gives the same initial weights and batches
    assert hist.series("val_loss") == b.history.series("val_loss") and hist.epochs_run == 3
    assert ctx.checkpoint("lin_a") == isolated / "build" / "checkpoints" / "02_smoke_lin_a.pt"
    assert ctx.checkpoint("lin_a").exists()
    c = ctx.fit("lin_c", lambda: torch.nn.Linear(3, 1), _mse, data, data, seed=6, epochs=3, batch_size=16, lr=0.1,
                progress=False)
    assert not torch.equal(c.model.weight, model.weight)


def test_fit_takes_sizes_from_the_chapter_or_a_block(isolated, capsys):
    ctx = context.setup(chapter=2, profile="smoke", quiet=True)
    data = _regression()
    run = ctx.fit("defaults", lambda: torch.nn.Linear(3, 1), _mse, data, progress=False)
    assert run.history.epochs_run == ctx.cfg.epochs  # epochs, batch_size and lr from ctx.cfg
    run = ctx.fit("block", lambda: torch.nn.Linear(3, 1), _mse, data, sizes={"epochs": 1, "batch_size": 8, "lr": 0.1},
                  progress=False)
    assert run.history.epochs_run == 1
    with pytest.raises(ValueError, match="no batch_size, lr"):
        ctx.fit("missing", lambda: torch.nn.Linear(3, 1), _mse, data, sizes={"epochs": 1})
    with pytest.raises(TypeError, match="not an nn.Module"):
        ctx.fit("bad", lambda: "model", _mse, data)
    with pytest.raises(ValueError, match="run name"):
        ctx.checkpoint("a/b")


def test_fit_resumes_only_with_the_same_settings_and_data(isolated, capsys):
    ctx = context.setup(chapter=2, profile="smoke", quiet=True)
    data = _regression()
    kw = dict(seed=0, epochs=2, batch_size=16, lr=0.1)
    first = ctx.fit("r", lambda: torch.nn.Linear(3, 1), _mse, data, **kw)
    capsys.readouterr()
    again = ctx.fit("r", lambda: torch.nn.Linear(3, 1), _mse, data, **kw)
    assert "Resumed" in capsys.readouterr().out
    assert torch.equal(again.model.weight, first.model.weight)
    changed = (data[0], data[1] + 1.0)
    ctx.fit("r", lambda: torch.nn.Linear(3, 1), _mse, changed, **kw)
    assert "other settings or data" in capsys.readouterr().out


def test_out_dir_is_per_chapter(isolated):
    ctx = context.setup(chapter=6, profile="smoke", quiet=True)
    assert ctx.out_dir("samples") == isolated / "build" / "06_samples" and ctx.out_dir("samples").is_dir()


def test_findings_record_where_the_data_came_from(isolated, monkeypatch, capsys):
    ctx = context.setup(chapter=6, profile="smoke", quiet=True)
    assert ctx.findings.to_dict()["data"]["melodies"].startswith("built here (smoke sizes")
    monkeypatch.setenv("COURSE_MELODIES", str(isolated / "my_midi"))
    ctx = context.setup(chapter=6, profile="smoke")
    assert ctx.findings.to_dict()["data"]["melodies"] == f"user: {isolated / 'my_midi'}"
    assert "Data sources:" in capsys.readouterr().out


@pytest.fixture
def determinism_restored(monkeypatch):
    monkeypatch.delenv("COURSE_DETERMINISTIC", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    yield monkeypatch
    torch.use_deterministic_algorithms(before, warn_only=True)


def test_setup_keeps_cpu_runs_deterministic_and_has_one_switch(isolated, determinism_restored, capsys):
    determinism_restored.setenv("COURSE_DEVICE", "cpu")
    ctx = context.setup(chapter=1, profile="smoke")
    assert ctx.deterministic and torch.are_deterministic_algorithms_enabled()
    assert "not deterministic" not in capsys.readouterr().out
    ctx = context.setup(chapter=1, profile="smoke", deterministic=False)
    assert not ctx.deterministic and not torch.are_deterministic_algorithms_enabled()
    assert "COURSE_DETERMINISTIC=1" in capsys.readouterr().out
    ctx.fit("fast", lambda: torch.nn.Linear(3, 1), _mse, _regression(), epochs=1, batch_size=16, lr=0.01,
            progress=False)
    assert not torch.are_deterministic_algorithms_enabled()  # fit re-seeds under the context's choice
    determinism_restored.setenv("COURSE_DETERMINISTIC", "0")
    assert not context.setup(chapter=1, profile="smoke", quiet=True).deterministic
    determinism_restored.setenv("COURSE_DETERMINISTIC", "1")
    assert context.setup(chapter=1, profile="smoke", quiet=True).deterministic
