"""The training loop under torchrun with 2 gloo processes matches 1 process at the same global batch."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import json, sys
    import torch
    from course_lib.train import finish_distributed, init_distributed, train

    rank, world = init_distributed()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=g)
    w = torch.randn(5, 3, generator=g)
    y = x @ w + 0.1 * torch.randn(60, 3, generator=g)
    xv = torch.randn(17, 5, generator=g)
    yv = xv @ w
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))

    def loss(m, batch, state):
        xb, yb = batch
        err = (m(xb) - yb) ** 2
        return err.mean(), {"mae": (m(xb) - yb).abs().mean()}

    ckpt = sys.argv[2] if len(sys.argv) > 2 else None
    h = train(model, loss, (x, y), (xv, yv), epochs=4, batch_size=16, lr=1e-2, seed=0, progress=False,
              device="cpu", restore_best=False, checkpoint=ckpt)
    if rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump({"records": h.records, "world": world,
                       "weights": [p.detach().flatten().tolist() for p in model.parameters()]}, f)
    finish_distributed()  # every rank leaves the group before exiting (an alive group can abort at exit)
''')


def _run(tmp_path, n_proc: int, tag: str) -> dict:
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"{tag}.json"
    ckpt = tmp_path / f"{tag}.pt"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_proc}",
           str(script), str(out), str(ckpt)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    result["checkpoint_written"] = ckpt.exists()
    return result


def test_two_processes_match_one(tmp_path):
    one = _run(tmp_path, 1, "one")
    two = _run(tmp_path, 2, "two")
    assert one["world"] == 1 and two["world"] == 2
    assert one["checkpoint_written"] and two["checkpoint_written"]
    for a, b in zip(one["records"], two["records"]):
        for key in ("train_loss", "val_loss", "val_mae", "train_mae"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    for wa, wb in zip(one["weights"], two["weights"]):
        assert wb == pytest.approx(wa, rel=1e-4, abs=1e-6)
