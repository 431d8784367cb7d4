"""Fast defaults: determinism switch, the measured compile rule, precision choice, the fp16 scaler path, compile
fallback, and no host synchronisation per training step."""
import sys

import pytest
import torch
from torch import nn

from course_lib import speed
from course_lib.models import autoencoders, spectral
from course_lib import train as T

pytestmark = pytest.mark.usefixtures("one_thread")
CUDA, CPU = torch.device("cuda"), torch.device("cpu")


@pytest.fixture
def no_switches(monkeypatch):
    """No COURSE_* speed switch from the caller's environment; determinism restored afterwards."""
    for name in ("COURSE_DETERMINISTIC", "COURSE_COMPILE", "COURSE_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    yield monkeypatch
    speed.set_deterministic(before)


def named(name: str) -> nn.Module:
    """A module whose class carries a given name (the rule looks at class names only)."""
    return type(name, (nn.Linear,), {})(2, 2)


def regression(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


def mse(model, batch, state):
    x, y = batch
    return ((model(x).float() - y) ** 2).mean()


def test_deterministic_on_cpu_not_on_cuda_unless_asked(no_switches):
    assert speed.deterministic_wanted(CPU) and not speed.deterministic_wanted(CUDA)
    no_switches.setenv("COURSE_DETERMINISTIC", "1")
    assert speed.deterministic_wanted(CUDA)
    assert not speed.deterministic_wanted(CUDA, requested=False)  # an explicit argument wins
    no_switches.setenv("COURSE_DETERMINISTIC", "0")
    assert not speed.deterministic_wanted(CPU)
    no_switches.setenv("COURSE_DETERMINISTIC", "maybe")
    with pytest.raises(ValueError, match="COURSE_DETERMINISTIC"):
        speed.deterministic_wanted(CPU)


def test_set_deterministic_turns_it_on_and_off(no_switches):
    speed.set_deterministic(True)
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    speed.set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic


def test_compile_rule_is_the_measured_data():
    rows = speed.COMPILE_EVIDENCE["rows"]
    assert {r[0] for r in rows} <= set(vars(autoencoders)) | set(vars(spectral))  # real classes
    assert speed.compile_speedups("SpectrogramAE") == pytest.approx([64.2 / 23.4, 34.6 / 13.6])
    assert speed.compile_speedups("FCAutoencoder") == pytest.approx([8.65 / 8.3])
    assert speed.compile_speedups("MelodyVAE") == []


def test_compile_on_cuda_only_where_it_paid(no_switches):
    assert speed.compile_wanted(named("SpectrogramAE"), CUDA)[0]
    for name in ("FCAutoencoder", "ConvAutoencoder", "MelodyVAE"):  # 1.04x, 1.02x, never measured
        assert not speed.compile_wanted(named(name), CUDA)[0], name
    assert not speed.compile_wanted(named("SpectrogramAE"), CPU)[0]
    no_switches.setenv("COURSE_COMPILE", "1")
    assert speed.compile_wanted(named("MelodyVAE"), CPU) == (True, "COURSE_COMPILE=1")
    assert not speed.compile_wanted(named("SpectrogramAE"), CUDA, requested=False)[0]
    no_switches.setenv("COURSE_COMPILE", "0")
    assert not speed.compile_wanted(named("SpectrogramAE"), CUDA)[0]
    assert speed.compile_wanted(named("FCAutoencoder"), CPU, requested=True)[0]


def test_precision_follows_the_gpu_generation(no_switches):
    assert speed.choose_precision(CUDA, capability=(9, 0)) == "bf16"  # H100
    assert speed.choose_precision(CUDA, capability=(8, 0)) == "bf16"  # A100
    assert speed.choose_precision(CUDA, capability=(7, 5)) == "fp16"  # T4 (free Colab)
    assert speed.choose_precision(CUDA, True, capability=(7, 0)) == "fp16"  # V100
    assert speed.choose_precision(CPU) == "fp32" and speed.choose_precision(CUDA, False) == "fp32"
    assert speed.choose_precision(CPU, "fp16") == "fp16"
    no_switches.setenv("COURSE_PRECISION", "fp16")
    assert speed.choose_precision(CUDA, capability=(9, 0)) == "fp16"
    assert speed.choose_precision(CUDA, "bf16", capability=(7, 5)) == "bf16"  # an explicit argument wins
    with pytest.raises(ValueError, match="amp="):
        speed.choose_precision(CPU, "fp8")
    assert not speed.grad_scaler(CPU, "bf16").is_enabled() and speed.grad_scaler(CPU, "fp16").is_enabled()


def test_fp16_with_scaler_trains_on_cpu(no_switches):
    x, y = regression(256)
    torch.manual_seed(0)
    m = nn.Linear(4, 1)
    h = T.train(m, mse, (x, y), (x[:64], y[:64]), epochs=30, batch_size=32, lr=0.05, amp="fp16", progress=False)
    assert h.precision == "fp16" and h.series("train_loss")[-1] < h.series("train_loss")[0] / 20
    assert all(r["grad_scale"] > 1 for r in h.records)
    assert m.weight.dtype == torch.float32  # master weights stay float32


def test_fp16_scaler_skips_steps_with_inf_gradients(no_switches):
    x, y = regression(32)
    torch.manual_seed(0)
    m = nn.Linear(4, 1)

    p = 8  # one step an epoch; the scaler first halves its scale (65536) until gradients fit fp16 (4 steps here)

    def poisoned(model, batch, state):
        out = model(batch[0])
        if state.step == p:  # a finite loss whose gradients overflow
            out.register_hook(lambda g: g * float("inf"))
        return ((out.float() - batch[1]) ** 2).mean()

    weights = []
    h = T.train(m, poisoned, (x, y), epochs=p + 3, batch_size=32, lr=0.05, amp="fp16", progress=False,
                on_epoch_end=lambda e, rec, model: weights.append(model.weight.detach().clone()))
    scales = h.series("grad_scale")
    assert scales[p - 2] == scales[p - 1] and not torch.equal(weights[p - 1], weights[p - 2])  # settled, stepping
    assert torch.equal(weights[p], weights[p - 1]) and scales[p] == scales[p - 1] / 2  # skipped, scale halved
    assert not torch.equal(weights[p + 1], weights[p]) and scales[p + 1] == scales[p]  # stepping again
    assert all(torch.isfinite(w).all() for w in weights)
    with pytest.raises(FloatingPointError, match=f"epoch {p + 1}"):  # without the scaler: NaN weights after step p
        torch.manual_seed(0)
        T.train(nn.Linear(4, 1), poisoned, (x, y), epochs=p + 3, batch_size=32, lr=0.05, amp="fp32", progress=False)


def _with_backend(monkeypatch, backend):
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: real(model, backend=backend))


def compiled_and_eager(progress: bool):
    """(weights, history) of the same seeded regression trained with compile=True, then False."""
    x, y = regression()
    runs = []
    for compile_ in (True, False):
        torch.manual_seed(0)
        m = nn.Linear(4, 1)
        h = T.train(m, mse, (x, y), epochs=2, batch_size=16, lr=0.05, compile=compile_, progress=progress)
        runs.append((m.weight.detach().clone(), h))
    return runs


def test_compile_failure_falls_back_with_one_line(no_switches, capsys):
    def broken(gm, inputs):
        raise RuntimeError("no C++ compiler on this machine")

    _with_backend(no_switches, broken)
    runs = compiled_and_eager(progress=True)
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "torch.compile failed" in line]
    assert len(failed) == 1 and "RuntimeError: no C++ compiler on this machine" in failed[0]
    assert torch.equal(runs[0][0], runs[1][0])  # the fallback trained exactly as the eager run
    assert not runs[0][1].compiled and runs[0][1].series("train_loss") == runs[1][1].series("train_loss")


def test_compiled_training_matches_eager(no_switches):
    _with_backend(no_switches, "eager")  # dynamo's graph capture without a C++ toolchain
    (w_compiled, h_compiled), (w_eager, h_eager) = compiled_and_eager(progress=False)
    assert h_compiled.compiled and not h_eager.compiled
    assert torch.allclose(w_compiled, w_eager, atol=1e-6)


def _count_host_reads(mp: pytest.MonkeyPatch) -> list:
    """Record every tensor-to-host conversion made by code in course_lib/train.py (each one syncs a GPU)."""
    calls = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy"):
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **kw):
            if sys._getframe(1).f_code.co_filename == T.__file__:
                calls.append(_name)
            return _real(self, *a, **kw)

        mp.setattr(torch.Tensor, name, counted)
    return calls


@pytest.mark.parametrize("amp", ["fp32", "fp16"])
def test_no_host_sync_per_step(no_switches, amp):
    def logged(model, batch, state):
        loss = mse(model, batch, state)
        return loss, {"rmse": loss.detach().sqrt()}

    no_switches.setattr(T, "nan_check_every", lambda device: 10**9)  # a GPU's policy, without a GPU
    counts = []
    for n in (64, 512):  # 4 and 32 steps an epoch
        x, y = regression(n)
        torch.manual_seed(0)
        with pytest.MonkeyPatch.context() as mp:
            calls = _count_host_reads(mp)
            T.train(nn.Linear(4, 1), logged, (x, y), (x[:16], y[:16]), epochs=2, batch_size=16, amp=amp,
                    progress=False)
        counts.append(len(calls))
    assert counts[0] == counts[1] and counts[0] > 0  # per-epoch reads only, however many steps


def test_nan_is_still_caught_without_per_step_checks(no_switches):
    no_switches.setattr(T, "nan_check_every", lambda device: 10**9)
    x, y = regression()
    x[5, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="during epoch 0"):
        T.train(nn.Linear(4, 1), mse, (x, y), epochs=2, batch_size=16, progress=False)
