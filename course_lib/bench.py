"""Training throughput of the chapter models, and the fast input path against a per-item pipeline (`make bench`).

    python -m course_lib.bench [--profile cpu|gpu|smoke] [--compile] [--out build/bench]

For every chapter model that exists it times full training steps (forward, backward, optimiser) after a
warm-up, in several repetitions, and reports the median: step time, examples/s, seconds of audio per
second, peak memory and, on a GPU, achieved TFLOP/s against the device's dense bf16 peak (FLOPs counted
analytically for the Linear and convolution layers, 3x the forward pass for a training step). It also
times chapter 03's model fed two ways: waveforms held on the device with the STFT computed per batch
(the course's path) and a per-item `Dataset` / `DataLoader` that computes each note's STFT on the CPU
(paper 002's path). Results go to build/bench/<device>.json.
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import audio
from .context import build_root, describe_device, pick_device, seed_everything
from .io import write_json_atomic
from .models import autoencoders as ae
from .models import spectral
from .sizes import profile_name, resolve
from .train import peak_memory_mb

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets; matched in this order.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0), ("B200", 2250.0),
                    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0), ("RTX 4090", 165.0),
                    ("RTX 3090", 71.0), ("V100", 125.0), ("T4", 65.0))
NSYNTH_SR = 16000


def peak_bf16_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU named like torch.cuda.get_device_name(), or None if unknown."""
    for key, peak in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], Any], device: torch.device, warmup: int = 2, steps: int = 5,
               repeats: int = 3) -> list[float]:
    """Seconds per step of `step()`, one median-able value per repetition, warm-up steps excluded."""
    if warmup < 0 or steps < 1 or repeats < 1:
        raise ValueError(f"need warmup >= 0, steps >= 1, repeats >= 1; got {warmup}, {steps}, {repeats}")
    for _ in range(warmup):
        step()
    _sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        out.append((time.perf_counter() - t0) / steps)
    return out


def _optimizer(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type == "cuda")


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, device: torch.device) -> None:
    """One autoencoder training step on x (MSE to the input; bf16 autocast on CUDA, loss in fp32)."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        out = model(x)
    out = out[0] if isinstance(out, tuple) else out  # a VAE returns (x_hat, mu, logvar)
    loss = (out.float() - x).pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _cases(profile: str) -> list[dict[str, Any]]:
    """The chapter models at this profile's sizes, each with its input and the audio one example holds."""
    s = resolve(profile)
    cases = []
    c2 = s["ch02"]
    for kind in ("fc", "conv"):
        cases.append({"name": f"ch02_{kind}", "batch": c2["batch_size"], "audio_s": 3.0,
                      "build": lambda kind=kind: ae.build(kind, **c2[kind]), "input": ("rfft", ae.N_IN)})
    c3 = s["ch03"]
    n3 = int(c3["seconds"] * NSYNTH_SR)
    shape3 = (2, c3["n_fft"], audio.n_frames(n3, c3["n_fft"], c3["hop"]))
    cases.append({"name": "ch03_paper_ae", "batch": c3["batch_size"], "audio_s": c3["seconds"],
                  "build": lambda: spectral.SpectrogramAE(shape3, c3["channels"], c3["latent"], final_relu=True),
                  "input": ("two_sided", n3, c3["n_fft"], c3["hop"])})
    if "ch04" in s:
        c4 = s["ch04"]
        n4 = int(c4["seconds"] * NSYNTH_SR)
        shape4 = (1, c4["n_fft"] // 2 + 1, audio.n_frames(n4, c4["n_fft"], c4["hop"]))
        cases.append({"name": "ch04_vae", "batch": c4["batch_size"], "audio_s": c4["seconds"],
                      "build": lambda: spectral.SpectrogramAE(shape4, c4["channels"], c4["main_latent"], variational=True),
                      "input": ("logmag", n4, c4["n_fft"], c4["hop"])})
    return cases


def _input_fn(spec: tuple, batch: int, device: torch.device, g: torch.Generator) -> Callable[[], torch.Tensor]:
    """A function making one batch of model input on the device (features from device-resident waveforms)."""
    if spec[0] == "rfft":
        x = torch.randn(batch, spec[1], generator=g).to(device)
        return lambda: x
    kind, n, n_fft, hop = spec
    wave = (0.1 * torch.randn(batch, n, generator=g)).to(device)
    return lambda: audio.spectral_features(wave, kind, n_fft, hop)


def bench_model(case: dict[str, Any], device: torch.device, warmup: int, steps: int, repeats: int,
                compile: bool = False) -> dict[str, Any]:
    """Median training-step time, throughput, peak memory and TFLOP/s of one chapter model."""
    seed_everything(0, deterministic=False)
    g = torch.Generator().manual_seed(0)
    model = case["build"]().to(device)
    make_input = _input_fn(case["input"], case["batch"], device, g)
    example = make_input()
    shape = tuple(example.shape[1:])
    flops_fwd = ae.linear_conv_flops(model, shape if len(shape) > 1 else shape[0])
    net = torch.compile(model) if compile else model
    opt = _optimizer(model, device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = time_steps(lambda: train_step(net, opt, make_input(), device), device, warmup, steps, repeats)
    t = statistics.median(times)
    tflops = 3 * flops_fwd * case["batch"] / t / 1e12
    name = describe_device(device)
    peak = peak_bf16_tflops(name) if device.type == "cuda" else None
    row = {"name": case["name"] + ("_compiled" if compile else ""), "batch": case["batch"],
           "params": ae.count_parameters(model), "step_ms_median": 1e3 * t, "step_ms_all": [1e3 * x for x in times],
           "examples_per_s": case["batch"] / t, "audio_s_per_s": case["batch"] * case["audio_s"] / t,
           "peak_mem_mb": peak_memory_mb(device), "train_tflop_per_step": 3 * flops_fwd * case["batch"] / 1e12,
           "achieved_tflops": tflops, "fraction_of_bf16_peak": tflops / peak if peak else None}
    del model, net, opt
    return row


class PerItemNotes(torch.utils.data.Dataset):
    """Paper 002's input path: one note at a time, its STFT computed on the CPU in __getitem__ (for comparison)."""

    def __init__(self, waves: torch.Tensor, kind: str, n_fft: int, hop: int) -> None:
        self.waves, self.kind, self.n_fft, self.hop = waves.cpu().numpy(), kind, n_fft, hop

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int) -> torch.Tensor:
        return audio.spectral_features(torch.from_numpy(self.waves[i]).unsqueeze(0), self.kind, self.n_fft, self.hop)[0]


def fast_vs_per_item(profile: str, device: torch.device, n_notes: int, repeats: int = 3) -> dict[str, Any]:
    """Notes/s of chapter 03's model: device-resident waveforms + batched STFT vs a per-item DataLoader."""
    c3 = resolve(profile)["ch03"]
    n = int(c3["seconds"] * NSYNTH_SR)
    batch = c3["batch_size"]
    n_notes = max(n_notes, 2 * batch)
    g = torch.Generator().manual_seed(0)
    waves = 0.1 * torch.randn(n_notes, n, generator=g)
    shape = (2, c3["n_fft"], audio.n_frames(n, c3["n_fft"], c3["hop"]))
    seed_everything(0, deterministic=False)
    model = spectral.SpectrogramAE(shape, c3["channels"], c3["latent"], final_relu=True).to(device)
    opt = _optimizer(model, device)

    def fit(x: torch.Tensor) -> None:
        train_step(model, opt, x, device)

    on_device = waves.to(device)

    def fast_epoch() -> None:
        order = torch.randperm(n_notes, generator=g).to(device)
        for i in range(0, n_notes - batch + 1, batch):
            fit(audio.spectral_features(on_device.index_select(0, order[i:i + batch]), "two_sided", c3["n_fft"], c3["hop"]))

    loader = torch.utils.data.DataLoader(PerItemNotes(waves, "two_sided", c3["n_fft"], c3["hop"]), batch_size=batch,
                                         shuffle=True, drop_last=True, generator=g)

    def per_item_epoch() -> None:
        for x in loader:
            fit(x.to(device))

    steps = n_notes // batch
    fast = time_steps(fast_epoch, device, warmup=1, steps=1, repeats=repeats)
    slow = time_steps(per_item_epoch, device, warmup=1, steps=1, repeats=repeats)
    fast_rate = steps * batch / statistics.median(fast)
    slow_rate = steps * batch / statistics.median(slow)
    return {"model": "ch03_paper_ae", "notes": steps * batch, "batch": batch, "input_shape": list(shape),
            "fast_notes_per_s": fast_rate, "per_item_notes_per_s": slow_rate, "speedup": fast_rate / slow_rate}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def run(profile: str | None = None, out_dir: str | Path | None = None, compile: bool = False, warmup: int = 2,
        steps: int = 5, repeats: int = 3, pipeline_notes: int = 256, quiet: bool = False) -> dict[str, Any]:
    """Benchmark every chapter model of a profile on this machine's device; write and return the JSON."""
    prof = profile_name(profile)
    device = pick_device()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = describe_device(device)
    rows = []
    for case in _cases(prof):
        for comp in ((False, True) if compile else (False,)):
            rows.append(bench_model(case, device, warmup, steps, repeats, compile=comp))
            if not quiet:
                r = rows[-1]
                print(f"  {r['name']:24s} {r['step_ms_median']:9.1f} ms/step  {r['examples_per_s']:9.1f} ex/s", flush=True)
    pipeline = fast_vs_per_item(prof, device, pipeline_notes, repeats)
    result = {"device": name, "device_type": device.type, "profile": prof, "torch": torch.__version__,
              "peak_bf16_tflops": peak_bf16_tflops(name) if device.type == "cuda" else None,
              "method": f"median of {repeats} repetitions of {steps} steps after {warmup} warm-up steps",
              "models": rows, "pipeline": pipeline}
    out = Path(out_dir) if out_dir is not None else build_root() / "bench"
    path = out / f"{_slug(name)}.json"
    write_json_atomic(path, result)
    if not quiet:
        print(table(result))
        print(f"wrote {path}")
    return result


def table(result: dict[str, Any]) -> str:
    """A markdown table of a benchmark result."""
    lines = [f"Benchmark on {result['device']} ({result['profile']} sizes, torch {result['torch']}; {result['method']})", "",
             "| model | batch | params | ms / step | examples / s | audio s / s | peak MB | TFLOP/s | of bf16 peak |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["models"]:
        frac = "—" if r["fraction_of_bf16_peak"] is None else f"{r['fraction_of_bf16_peak']:.0%}"
        lines.append(f"| {r['name']} | {r['batch']} | {r['params']:,} | {r['step_ms_median']:.1f} | {r['examples_per_s']:.1f} | "
                     f"{r['audio_s_per_s']:.1f} | {r['peak_mem_mb']:.0f} | {r['achieved_tflops']:.3f} | {frac} |")
    p = result["pipeline"]
    lines += ["", f"Chapter 03 input path ({p['notes']} notes, batch {p['batch']}, input {tuple(p['input_shape'])}): "
                  f"device-resident + batched STFT {p['fast_notes_per_s']:.1f} notes/s, per-item DataLoader "
                  f"{p['per_item_notes_per_s']:.1f} notes/s: {p['speedup']:.1f}x"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line of `make bench`."""
    ap = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="sizes to benchmark (default: gpu with CUDA, else cpu)")
    ap.add_argument("--out", default=None, help="folder for <device>.json (default build/bench)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pipeline-notes", type=int, default=256)
    a = ap.parse_args(argv)
    run(a.profile, a.out, a.compile, a.warmup, a.steps, a.repeats, a.pipeline_notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
