import math

import pytest
import torch
from torch import nn

from course_lib import train as T


def regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    y = x @ w + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def mse(model, batch, state):
    x, y = batch
    err = model(x) - y
    return (err ** 2).mean(), {"mae": err.abs().mean()}


def make_model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(4, 1)


def test_learns_least_squares_solution():
    x, y = regression()
    m = make_model()
    h = T.train(m, mse, (x, y), (x[:64], y[:64]), epochs=60, batch_size=32, lr=0.05, progress=False)
    w_ls = torch.linalg.lstsq(torch.cat([x, torch.ones(len(x), 1)], 1), y).solution
    assert torch.allclose(m.weight.detach().T, w_ls[:4], atol=0.05)
    assert h.series("train_loss")[-1] < h.series("train_loss")[0] / 10
    rec = h.records[-1]
    assert {"epoch", "train_loss", "train_mae", "val_loss", "val_mae", "time_s", "peak_mem_mb", "lr"} <= set(rec)
    assert rec["time_s"] > 0 and rec["peak_mem_mb"] > 0 and h.seconds_per_epoch > 0


def test_validation_metrics_are_weighted_means():
    x, y = regression(n=70)
    m = make_model()
    logs = T.evaluate(m, mse, T.as_batch((x, y), torch.device("cpu")), batch_size=32)
    with torch.no_grad():
        assert logs["loss"] == pytest.approx(float(((m(x) - y) ** 2).mean()), rel=1e-5)
        assert logs["mae"] == pytest.approx(float((m(x) - y).abs().mean()), rel=1e-5)


def test_batches_cover_every_example_once():
    data = (torch.arange(103), torch.arange(103) * 2)
    seen = torch.cat([b[0] for b in T.batches(data, 10, torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(103))
    for a, b in T.batches(data, 10, torch.Generator().manual_seed(1)):
        assert torch.equal(b, a * 2)  # tensors gathered with the same index
    assert sum(1 for _ in T.batches(data, 10, drop_last=True)) == 10


def test_early_stopping_restores_the_best_weights():
    x, y = regression()
    m = make_model()
    w0 = m.weight.detach().clone()
    # validation targets are the negation of training targets: learning makes validation worse
    h = T.train(m, mse, (x, y), (x, -y), epochs=50, batch_size=32, lr=0.05, patience=3, progress=False)
    assert h.stopped_early and h.finished
    assert h.best_epoch == 0 and h.epochs_run == 4
    assert not torch.equal(m.weight.detach(), w0)  # epoch 0 already moved the weights
    assert h.best()["val_loss"] == min(h.series("val_loss"))


def test_same_seed_same_result():
    x, y = regression()
    m1, m2 = make_model(), make_model()
    T.train(m1, mse, (x, y), epochs=3, batch_size=16, lr=0.01, seed=5, progress=False)
    T.train(m2, mse, (x, y), epochs=3, batch_size=16, lr=0.01, seed=5, progress=False)
    assert torch.equal(m1.weight, m2.weight)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    x, y = regression()
    full = make_model()
    h_full = T.train(full, mse, (x, y), (x, y), epochs=6, batch_size=16, lr=0.01, progress=False, restore_best=False)

    class Stop(Exception):
        pass

    def interrupt(epoch, rec, model):
        if epoch == 2:
            raise Stop

    ckpt = tmp_path / "run.pt"
    part = make_model()
    with pytest.raises(Stop):
        T.train(part, mse, (x, y), (x, y), epochs=6, batch_size=16, lr=0.01, progress=False, restore_best=False,
                checkpoint=ckpt, on_epoch_end=interrupt)
    assert ckpt.exists()
    resumed = make_model(seed=99)  # fresh weights: everything must come from the checkpoint
    h = T.train(resumed, mse, (x, y), (x, y), epochs=6, batch_size=16, lr=0.01, progress=False, restore_best=False,
                checkpoint=ckpt)
    assert h.epochs_run == 6 and h.finished
    assert torch.allclose(resumed.weight, full.weight, atol=1e-6)
    assert h.series("val_loss") == pytest.approx(h_full.series("val_loss"), rel=1e-5)
    # a third call finds a finished run and trains nothing
    again = make_model(seed=7)
    h3 = T.train(again, mse, (x, y), (x, y), epochs=6, batch_size=16, progress=False, restore_best=False,
                 checkpoint=ckpt)
    assert h3.epochs_run == 6 and torch.allclose(again.weight, full.weight, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary files left behind


def test_failed_checkpoint_write_keeps_the_old_one(tmp_path, monkeypatch):
    ckpt = tmp_path / "c.pt"
    T.save_checkpoint(ckpt, value=1)

    def broken_save(obj, f, *a, **k):
        open(f, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        T.save_checkpoint(ckpt, value=2)
    monkeypatch.undo()
    assert torch.load(ckpt)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_plateau_scheduler_halves_the_learning_rate():
    x, y = regression()
    m = make_model()
    h = T.train(m, mse, (x, y), (x, -y), epochs=8, batch_size=64, lr=0.01, scheduler="plateau", progress=False)
    lrs = h.series("lr")
    assert lrs[0] == pytest.approx(0.01) and min(lrs) == pytest.approx(0.005)


def test_state_reaches_the_loss_function():
    seen = []

    def loss(model, batch, state):
        seen.append((state.epoch, state.step, state.training))
        return model(batch[0]).pow(2).mean()

    x = torch.randn(10, 4)
    T.train(make_model(), loss, x, x, epochs=2, batch_size=5, progress=False)
    assert [s for s in seen if s[2]] == [(0, 0, True), (0, 1, True), (1, 2, True), (1, 3, True)]
    assert sum(1 for s in seen if not s[2]) == 4  # two validation batches per epoch


def test_bad_inputs_are_explained():
    m = make_model()
    with pytest.raises(ValueError, match="disagree"):
        T.train(m, mse, (torch.randn(10, 4), torch.randn(9, 1)), epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        T.train(m, mse, (torch.randn(10, 4), torch.randn(10, 1)), epochs=1, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        T.train(m, mse, (torch.randn(10, 4), torch.randn(10, 1)), epochs=1, batch_size=4, optimizer="rmsprop",
                progress=False)

    def nan_loss(model, batch, state):
        return model(batch[0]).sum() * math.nan

    with pytest.raises(FloatingPointError, match="learning rate"):
        T.train(m, nan_loss, torch.randn(8, 4), epochs=1, batch_size=4, progress=False)


def test_checkpoint_from_other_settings_is_not_resumed(tmp_path, capsys):
    x, y = regression()
    ckpt = tmp_path / "run.pt"
    T.train(make_model(), mse, (x, y), epochs=2, batch_size=16, lr=0.01, checkpoint=ckpt, fingerprint="a", progress=False)
    h = T.train(make_model(), mse, (x, y), epochs=2, batch_size=16, lr=0.01, checkpoint=ckpt, fingerprint="a")
    assert "nothing left to do" in capsys.readouterr().out and h.epochs_run == 2
    h = T.train(make_model(), mse, (x, y), epochs=3, batch_size=16, lr=0.01, checkpoint=ckpt, fingerprint="b")
    assert "training afresh" in capsys.readouterr().out and h.epochs_run == 3
    assert torch.load(ckpt, weights_only=False)["fingerprint"] == "b"


class Pickled:
    """A Python object: torch.load(weights_only=True) refuses to unpickle it."""

    def __init__(self):
        self.note = "not a tensor"


def test_checkpoints_hold_plain_data_and_a_pickled_object_is_refused(tmp_path):
    x, y = regression()
    ckpt = tmp_path / "run.pt"
    T.train(make_model(), mse, (x, y), (x[:32], y[:32]), epochs=2, batch_size=32, lr=0.01, scheduler="plateau",
            checkpoint=ckpt, fingerprint="a", progress=False)
    saved = torch.load(ckpt, weights_only=True)  # tensors and plain data only: the History as a dict
    assert saved["history"]["records"][-1]["epoch"] == 1 and saved["fingerprint"] == "a"
    assert T.train(make_model(), mse, (x, y), (x[:32], y[:32]), epochs=2, batch_size=32, lr=0.01,
                   scheduler="plateau", checkpoint=ckpt, fingerprint="a", progress=False).epochs_run == 2
    bad = tmp_path / "old.pt"
    torch.save({**saved, "extra": Pickled()}, bad)
    with pytest.raises(T.CheckpointError) as err:
        T.train(make_model(), mse, (x, y), epochs=1, batch_size=32, checkpoint=bad, fingerprint="a", progress=False)
    msg = str(err.value)
    assert str(bad) in msg and "pickled" in msg and "Delete it" in msg and "retrain" in msg
    with pytest.raises(T.CheckpointError, match="pickled"):
        T.load_checkpoint(bad)
    h = T.train(make_model(), mse, (x, y), epochs=1, batch_size=32, checkpoint=bad, fingerprint="a", resume=False,
                progress=False)  # the fix the message names: retrain (overwrites the file)
    assert h.epochs_run == 1 and T.load_checkpoint(bad)["epoch"] == 0


def test_checkpoint_timer_saves_the_last_epoch_only(tmp_path, monkeypatch):
    x, y = regression()
    saved = []
    real = T.save_checkpoint
    monkeypatch.setattr(T, "save_checkpoint", lambda path, **st: saved.append(st["epoch"]) or real(path, **st))
    T.train(make_model(), mse, (x, y), epochs=4, batch_size=64, lr=0.01, checkpoint=tmp_path / "c.pt",
            checkpoint_every_s=3600, progress=False)
    assert saved == [3]
    saved.clear()
    T.train(make_model(), mse, (x, y), epochs=3, batch_size=64, lr=0.01, checkpoint=tmp_path / "d.pt", progress=False)
    assert saved == [0, 1, 2]


def test_peak_memory_is_positive_and_in_megabytes():
    mb = T.peak_memory_mb(torch.device("cpu"))
    assert 10 < mb < 1e6


def test_steps_per_epoch_rounds_up_or_drops():
    assert T.steps_per_epoch(100, 32) == 4
    assert T.steps_per_epoch(96, 32) == 3
    assert T.steps_per_epoch(100, 32, drop_last=True) == 3
    with pytest.raises(ValueError):
        T.steps_per_epoch(10, 0)


def test_batched_map_matches_one_call_and_keeps_structure():
    x = torch.arange(10.0).reshape(10, 1)
    y = torch.arange(10)
    out = T.batched_map(lambda a, b: (a * 2, {"b": b + 1}), x, y, batch_size=3)
    assert torch.equal(out[0], x * 2) and torch.equal(out[1]["b"], y + 1)
    starts = T.batched_map(lambda a, start: torch.full((len(a),), start), x, batch_size=4, with_start=True)
    assert starts.tolist() == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8]
    w = torch.ones(1, requires_grad=True)
    assert not T.batched_map(lambda a: a * w, x, batch_size=4).requires_grad  # no graph is kept
    with pytest.raises(ValueError, match="disagree"):
        T.batched_map(lambda a, b: a, x, y[:5])


def test_finish_distributed_tears_the_group_down(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "one_rank.py"
    script.write_text(
        "import torch.distributed as dist\n"
        "from course_lib.train import finish_distributed, init_distributed\n"
        "assert init_distributed() == (0, 1) and dist.is_initialized()\n"
        "finish_distributed()\n"
        "assert not dist.is_initialized()\n"
        "finish_distributed()  # a second call is a no-op\n"
        "init_distributed()\n"
        "print('ok')  # the group left alive here is destroyed at exit\n")
    env = {**__import__("os").environ, "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": "29533", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    T.finish_distributed()  # no group in this process: nothing happens


def test_progress_prints_one_summary_line_and_no_epoch_lines(capsys, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("COURSE_STATIC", "1")
    shown = []
    monkeypatch.setattr(T, "show_loss", lambda h: shown.append(h))
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    m = torch.nn.Linear(3, 1)
    h = T.train(m, mse, (x, y), (x, y), epochs=5, batch_size=16, lr=0.05, log_epochs=lambda e: True)
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if line.strip()]
    secs = float(lines[0].split(" in ")[1].split(" s;")[0])
    assert lines == [T.summary_line(h, secs)] and f"best val_loss {h.best_value:.4g}" in lines[0]
    assert "epoch " not in out.err and "*best*" not in out.out + out.err
    assert shown == [h]
    T.train(torch.nn.Linear(3, 1), mse, (x, y), epochs=2, batch_size=16, progress=False, log_epochs=lambda e: True)
    assert capsys.readouterr().out == "" and len(shown) == 1


def test_summary_line_names_best_last_and_early_stop():
    h = T.History(records=[{"epoch": 0, "val_loss": 2.0}, {"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 1.5}],
                  best_epoch=1, best_value=1.0, stopped_early=True)
    assert T.summary_line(h, 12.4) == "3 epochs in 12 s; best val_loss 1 at epoch 1 (last 1.5); stopped early"
