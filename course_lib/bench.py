"""Training throughput of every chapter model against its roofline, and chapter 03's input paths (`make bench`).

    python -m course_lib.bench [--profile cpu|gpu|smoke] [--compile] [--out build/bench]
    python -m course_lib.bench --plan [--profile gpu] [--gpu H100]     (minutes per chapter: course_lib.plan)

For every chapter model (02 FC and conv, 03 paper AE, 04 VAE, 05 melody LSTM-VAE and spectrogram VAE, 06 flat and
hierarchical LSTM-VAEs, 07 Transformer VAE, 08 toy MLP and U-Net, 09 HDAE and the multiscale model) at the
profile's sizes it times full training steps (forward, backward, Adam) after a warm-up, in several repetitions,
and reports the median. Beside each time stands a roofline: the lower bound max(FLOPs / peak FLOP/s, bytes / memory
bandwidth) of one step, with FLOPs counted by torch.utils.flop_counter.FlopCounterMode over forward and backward
(on the meta device, so paper-size models cost no memory) and bytes counted for the weights and the optimiser
(`PARAM_BYTES`) plus the activations autograd saves (written once, read once). `fraction_of_roofline` = bound /
measured time: 1.0 would be a step at the hardware's limit. On a GPU the peaks come from `GPU_SPECS`; on a CPU from
a short measurement here (`cpu_peaks`). It also times chapter 03's model fed two ways: waveforms held on the device
with the STFT computed per batch (the course's path), and paper 002's path, each note's WAV read from disk and its
STFT taken in `Dataset.__getitem__`, through a DataLoader with 0 and min(8, cores) workers.
Results go to build/bench/<device>.json.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import audio, diffusion, events, midi
from .context import build_root, describe_device, pick_device, seed_everything
from .io import write_json_atomic
from .models import autoencoders as ae
from .models import hierarchical as H
from .models import lstm_vae, spectral, transformer_vae
from .models.unet1d import MLPDenoiser, UNet1d
from .sizes import profile_name, resolve
from .train import peak_memory_mb

NSYNTH_SR = 16000
CH07_MAX_LEN = 256  # the longest 2-bar performance of the cpu build encodes to 249 tokens (mean 131)
TRAIN_SHARE = 0.8  # share of a built dataset's items in its train split (songs, clips)

# Dense (no sparsity) peaks in TFLOP/s and memory bandwidth in TB/s, from the vendors' data sheets (fp32 = plain
# FP32, not TF32; tensor-core bf16 / fp16 with fp32 accumulation). None: the GPU has no such unit. Matched in
# this order against torch.cuda.get_device_name(): "H100 PCIe" before "H100", "A100" before "A10", "L40S" before "L4".
GPU_SPECS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("H100 PCIe", {"bf16": 756.0, "fp16": 756.0, "fp32": 51.2, "tb_s": 2.0, "source": "NVIDIA H100 Tensor Core GPU datasheet (PCIe 80GB)"}),
    ("H100", {"bf16": 989.5, "fp16": 989.5, "fp32": 66.9, "tb_s": 3.35, "source": "NVIDIA H100 Tensor Core GPU datasheet (SXM5 80GB)"}),
    ("H200", {"bf16": 989.5, "fp16": 989.5, "fp32": 66.9, "tb_s": 4.8, "source": "NVIDIA H200 Tensor Core GPU datasheet (SXM 141GB)"}),
    ("A100", {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5, "tb_s": 2.039, "source": "NVIDIA A100 Tensor Core GPU datasheet (SXM 80GB)"}),
    ("A10", {"bf16": 125.0, "fp16": 125.0, "fp32": 31.2, "tb_s": 0.6, "source": "NVIDIA A10 Tensor Core GPU datasheet"}),
    ("L40S", {"bf16": 362.05, "fp16": 362.05, "fp32": 91.6, "tb_s": 0.864, "source": "NVIDIA L40S datasheet"}),
    ("L4", {"bf16": 121.0, "fp16": 121.0, "fp32": 30.3, "tb_s": 0.3, "source": "NVIDIA L4 Tensor Core GPU datasheet"}),
    ("RTX 4090", {"bf16": 165.2, "fp16": 165.2, "fp32": 82.6, "tb_s": 1.008, "source": "NVIDIA Ada GPU architecture whitepaper, Table 2 (FP32 accumulate)"}),
    ("RTX 3090", {"bf16": 71.0, "fp16": 71.0, "fp32": 35.6, "tb_s": 0.936, "source": "NVIDIA Ampere GA102 GPU architecture whitepaper, Table 9 (FP32 accumulate)"}),
    ("V100", {"bf16": None, "fp16": 125.0, "fp32": 15.7, "tb_s": 0.9, "source": "NVIDIA V100 Tensor Core GPU datasheet (SXM2)"}),
    ("T4", {"bf16": None, "fp16": 65.0, "fp32": 8.1, "tb_s": 0.32, "source": "NVIDIA T4 Tensor Core GPU datasheet"}),
)

# Bytes moved per parameter in one training step, weights and optimiser only.
# autocast (bf16/fp16) with fused Adam: fp32 weights read and cast to 16 bits (4 + 2), 16-bit weights read in the
# forward and backward passes (2 + 2), 16-bit gradients written, read and accumulated into fp32 (2 + 2 + 4), Adam
# reading parameter, gradient and two moments (16) and writing parameter and two moments (12): 46.
# fp32 (no autocast): weights read twice (8), gradients written (4), Adam 16 + 12: 40.
PARAM_BYTES = {"autocast": 46, "fp32": 40}


def gpu_spec(device_name: str) -> dict[str, Any] | None:
    """Peaks, bandwidth and source of a GPU named like torch.cuda.get_device_name(), or None if unknown."""
    for key, spec in GPU_SPECS:
        if key.lower() in device_name.lower():
            return {"match": key, **spec}
    return None


def peak_bf16_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU named like torch.cuda.get_device_name(), or None if unknown or absent."""
    spec = gpu_spec(device_name)
    return None if spec is None else spec["bf16"]


def autocast_dtype(spec: dict[str, Any] | None) -> torch.dtype:
    """bf16 where the GPU has bf16 tensor cores, fp16 where it has only fp16 ones (T4, V100)."""
    return torch.float16 if spec is not None and spec["bf16"] is None else torch.bfloat16


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


def cpu_peaks(size: int = 1024, copy_mb: int = 64, repeats: int = 3) -> dict[str, Any]:
    """This CPU's practical peaks, measured: best fp32 matmul TFLOP/s and best copy bandwidth (TB/s, read + write)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    x = torch.empty(copy_mb * 2 ** 20 // 4)
    y = torch.empty_like(x)
    mm = min(time_steps(lambda: torch.mm(a, b), torch.device("cpu"), 1, 1, repeats))
    cp = min(time_steps(lambda: y.copy_(x), torch.device("cpu"), 1, 1, repeats))
    return {"fp32": 2 * size ** 3 / mm / 1e12, "tb_s": 2 * x.numel() * 4 / cp / 1e12,
            "source": f"measured here: best of {repeats} fp32 {size}x{size} matmuls and {copy_mb} MB copies, "
                      f"{torch.get_num_threads()} threads"}


@dataclass
class Case:
    """One chapter model to benchmark: how to build it, its input and its training loss."""

    name: str
    batch: int
    build: Callable[[], nn.Module]
    shape: tuple[int, ...]  # one example as the model reads it (features, tokens or a log-mel)
    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    tokens: int = 0  # > 0: the input is token ids below this
    wave: tuple | None = None  # (kind, samples, n_fft, hop): features computed per batch from waveforms
    audio_s: float | None = None  # seconds of audio one example holds
    linear_len: bool = False  # cost affine in the sequence length (LSTMs): build(length) counts short, extrapolates


def _ae_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if isinstance(out, tuple):  # a VAE: (x_hat, mu, logvar)
        x_hat, mu, logvar = out
        kl = -0.5 * (1 + logvar.float() - mu.float().pow(2) - logvar.float().exp()).sum(-1).mean()
        return (x_hat.float() - x).pow(2).mean() + 1e-3 * kl
    return (out.float() - x).pow(2).mean()


def _seq_loss(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    logits, mu, logvar = model(tokens, teacher_forcing=1.0)
    kl = -0.5 * (1 + logvar.float() - mu.float().pow(2) - logvar.float().exp()).sum(-1).mean()
    return F.cross_entropy(logits.float().transpose(1, 2), tokens) + 0.2 * kl


def _edm_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return diffusion.edm_loss(model, x)


def _h_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


def _spec_case(name: str, c: dict, latent: int, kind: str, batch: int, **kw: Any) -> Case:
    n = int(c["seconds"] * NSYNTH_SR)
    frames = audio.n_frames(n, c["n_fft"], c["hop"])
    shape = (2, c["n_fft"], frames) if kind == "two_sided" else (1, c["n_fft"] // 2 + 1, frames)
    return Case(name, batch, lambda: spectral.SpectrogramAE(shape, c["channels"], latent, **kw), shape, _ae_loss,
                wave=(kind, n, c["n_fft"], c["hop"]), audio_s=c["seconds"])


def _melody_case(name: str, c: dict, bars: int, batch: int, **kw: Any) -> Case:
    t = 16 * bars  # 4/4: 16 sixteenth steps a bar
    return Case(name, batch, lambda n=t: lstm_vae.MelodyVAE(n, embed=c["embed"], enc_hidden=c["hidden"],
                                                            dec_hidden=c["hidden"], latent=c["latent"], **kw),
                (t,), _seq_loss, tokens=midi.N_MELODY_TOKENS, linear_len=True)


def cases(profile: str | None = None) -> list[Case]:
    """Every chapter model at a profile's sizes (chapter 09's built as notebook 09 builds them)."""
    s = resolve(profile)
    c2, c3, c4, c5, c6, c7, c8, c9 = (s[f"ch0{k}"] for k in range(2, 10))
    out = [Case(f"ch02_{k}", c2["batch_size"], lambda k=k: ae.build(k, **c2[k]), (ae.N_IN,), _ae_loss, audio_s=3.0)
           for k in ("fc", "conv")]
    out.append(_spec_case("ch03_paper_ae", c3, c3["latent"], "two_sided", c3["batch_size"], final_relu=True))
    out.append(_spec_case("ch04_vae", c4, c4["main_latent"], "logmag", c4["batch_size"], variational=True))
    out.append(_melody_case("ch05_melody_vae", c5, c5["bars"], c5["batch_size"]))
    out.append(_spec_case("ch05_spec_vae", c5["spec"], c5["spec"]["latent"], "logmag", c5["spec"]["batch_size"],
                          variational=True))
    lg = c6["long"]
    out.append(_melody_case("ch06_flat_2bar", c6, 2, c6["batch_size"]))
    out.append(_melody_case("ch06_flat_long", c6, lg["bars"], c6["batch_size"]))
    out.append(_melody_case("ch06_hier_long", c6, lg["bars"], c6["batch_size"], hierarchical=True,
                            conductor_hidden=lg["conductor_hidden"], conductor_out=lg["conductor_out"]))
    vocab = events.EventVocab().size
    out.append(Case("ch07_transformer_vae", c7["batch_size"], lambda: transformer_vae.TransformerVAE(
        vocab, CH07_MAX_LEN, d_model=c7["d_model"], n_heads=c7["heads"], n_layers=c7["layers"],
        latent=c7["main_latent"], dropout=c7["dropout"]), (CH07_MAX_LEN,), _seq_loss, tokens=vocab))
    toy = c8["toy"]
    out.append(Case("ch08_toy_mlp", toy["batch_size"], lambda: diffusion.EDMDenoiser(
        MLPDenoiser(2, toy["hidden"], toy["layers"])), (2,), _edm_loss))
    out.append(Case("ch08_unet", c8["batch_size"], lambda: diffusion.EDMDenoiser(
        UNet1d(c8["n_mels"], channels=c8["unet_channels"], emb_dim=c8["emb_dim"])), (c8["n_mels"], c8["n_frames"]),
        _edm_loss))
    for kind in ("hdae", "multiscale"):
        out.append(Case(f"ch09_{kind}", c9["batch_size"], lambda kind=kind: H.HierarchicalDiffusionAE(
            kind, c9["n_mels"], c9["n_frames"], c9["latent_channels"], c9["enc_channels"], c9["unet_channels"],
            p_level_dropout=c9["p_level_dropout"], emb_dim=c9["emb_dim"]), (c9["n_mels"], c9["n_frames"]), _h_loss))
    return out


def make_input(case: Case, device: torch.device, g: torch.Generator) -> Callable[[], torch.Tensor]:
    """A function giving one batch of the case's model input on the device (features from device-resident waves)."""
    if case.tokens:
        x = torch.randint(3, case.tokens, (case.batch, *case.shape), generator=g).to(device)
        return lambda: x
    if case.wave is not None:
        kind, n, n_fft, hop = case.wave
        wave = (0.1 * torch.randn(case.batch, n, generator=g)).to(device)
        return lambda: audio.spectral_features(wave, kind, n_fft, hop)
    x = torch.randn(case.batch, *case.shape, generator=g).to(device)
    return lambda: x


def _count(case: Case, batch: int, length: int | None) -> dict[str, int]:
    shape = case.shape if length is None else (length,)
    with torch.device("meta"):
        model = case.build() if length is None else case.build(length)
        x = torch.zeros(batch, *shape, dtype=torch.long) if case.tokens else torch.zeros(batch, *shape)
    saved = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[0] += t.numel() * t.element_size()
        return t

    with FlopCounterMode(display=False) as counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        case.loss(model, x).backward()
    return {"flops": int(counter.get_total_flops()), "saved_bytes": saved[0], "params": ae.count_parameters(model)}


def count_step(case: Case, batch: int | None = None) -> dict[str, int]:
    """FLOPs (forward + backward) and saved-activation bytes (fp32) of one training step, counted on the meta device.

    An LSTM case longer than 32 steps is counted at 16 and 32 steps and extrapolated linearly (its cost is affine
    in the length; counting every step of a 256-step LSTM takes half a minute).
    """
    batch = case.batch if batch is None else batch
    n = case.shape[0]
    if not case.linear_len or n <= 32:
        return _count(case, batch, None)
    a, b = _count(case, batch, 16), _count(case, batch, 32)
    grow = (n - 16) / 16
    return {k: a[k] if k == "params" else int(round(a[k] + (b[k] - a[k]) * grow)) for k in a}


def roofline(counts: dict[str, int], peaks: dict[str, Any], mixed: bool) -> dict[str, Any]:
    """Lower bound of one step: max(FLOPs / peak, bytes / bandwidth), bytes = parameters' traffic + activations."""
    act = 2 * counts["saved_bytes"] // (2 if mixed else 1)  # written in the forward pass, read in the backward
    param = PARAM_BYTES["autocast" if mixed else "fp32"] * counts["params"]
    tflops = peaks.get("bf16" if mixed else "fp32") if mixed else peaks.get("fp32")
    if mixed and peaks.get("bf16") is None:
        tflops = peaks.get("fp16")
    compute_s = counts["flops"] / (tflops * 1e12) if tflops else None
    memory_s = (param + act) / (peaks["tb_s"] * 1e12) if peaks.get("tb_s") else None
    known = [t for t in (compute_s, memory_s) if t is not None]
    bound = max(known) if known else None
    return {"flops": counts["flops"], "bytes_params": param, "bytes_activations": act,
            "compute_ms": None if compute_s is None else 1e3 * compute_s,
            "memory_ms": None if memory_s is None else 1e3 * memory_s, "bound_ms": None if bound is None else 1e3 * bound,
            "bound_by": None if bound is None else ("compute" if bound == compute_s else "memory")}


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, device: torch.device,
               loss: Callable | None = None, dtype: torch.dtype = torch.bfloat16) -> None:
    """One training step: loss (default: an autoencoder's MSE to its input) under autocast on CUDA (fp32
    elsewhere), backward, optimiser step."""
    loss = _ae_loss if loss is None else loss
    with torch.autocast("cuda", dtype=dtype, enabled=device.type == "cuda"):
        value = loss(model, x)
    opt.zero_grad(set_to_none=True)
    value.backward()
    opt.step()


def _optimizer(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type == "cuda")


def bench_model(case: Case, device: torch.device, peaks: dict[str, Any] | None, warmup: int, steps: int,
                repeats: int, compile: bool = False) -> dict[str, Any]:
    """Median training-step time of one chapter model, its throughput, peak memory and roofline fraction."""
    seed_everything(0, deterministic=False)
    g = torch.Generator().manual_seed(0)
    model = case.build().to(device)
    batch_of = make_input(case, device, g)
    net = torch.compile(model) if compile else model
    opt = _optimizer(model, device)
    dtype = autocast_dtype(peaks if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = time_steps(lambda: train_step(net, opt, batch_of(), device, case.loss, dtype), device, warmup, steps,
                       repeats)
    t = statistics.median(times)
    roof = roofline(count_step(case), peaks or {}, mixed=device.type == "cuda")
    row = {"name": case.name + ("_compiled" if compile else ""), "batch": case.batch,
           "params": ae.count_parameters(model), "step_ms_median": 1e3 * t, "step_ms_all": [1e3 * x for x in times],
           "examples_per_s": case.batch / t,
           "audio_s_per_s": None if case.audio_s is None else case.batch * case.audio_s / t,
           "peak_mem_mb": peak_memory_mb(device), "achieved_tflops": roof["flops"] / t / 1e12, "roofline": roof,
           "fraction_of_roofline": None if roof["bound_ms"] is None else roof["bound_ms"] / (1e3 * t)}
    del model, net, opt
    return row


class WavNotes(torch.utils.data.Dataset):
    """Paper 002's input path: each note's WAV read from disk and its STFT taken in __getitem__ (for comparison)."""

    def __init__(self, paths: list[Path], kind: str, n_fft: int, hop: int) -> None:
        self.paths, self.kind, self.n_fft, self.hop = list(paths), kind, n_fft, hop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from .data.common import read_wav

        x, _ = read_wav(self.paths[i], NSYNTH_SR)
        return audio.spectral_features(torch.from_numpy(x).unsqueeze(0), self.kind, self.n_fft, self.hop)[0]


def write_notes(folder: Path, waves: torch.Tensor) -> list[Path]:
    """One 16 kHz WAV per row of `waves` in `folder` (the per-item pipeline's input)."""
    from .data.common import write_wav

    return [write_wav(folder / f"note_{i:05d}.wav", w.numpy(), NSYNTH_SR) for i, w in enumerate(waves)]


def pipeline_workers() -> int:
    """The worker count paper 002 tried (8), at most this machine's cores."""
    return min(8, os.cpu_count() or 1)


def fast_vs_per_item(profile: str, device: torch.device, n_notes: int, repeats: int = 3,
                     workers: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Notes/s of chapter 03's training: device-resident waves + batched STFT vs WAVs read and transformed per item."""
    c3 = resolve(profile)["ch03"]
    case = _spec_case("ch03_paper_ae", c3, c3["latent"], "two_sided", c3["batch_size"], final_relu=True)
    kind, n, n_fft, hop = case.wave
    batch = case.batch
    n_notes = max(n_notes, 2 * batch)
    g = torch.Generator().manual_seed(0)
    waves = 0.1 * torch.randn(n_notes, n, generator=g)
    seed_everything(0, deterministic=False)
    model = case.build().to(device)
    opt = _optimizer(model, device)
    steps = n_notes // batch
    on_device = waves.to(device)

    def fast_epoch() -> None:
        order = torch.randperm(n_notes, generator=g).to(device)
        for i in range(0, steps * batch, batch):
            x = audio.spectral_features(on_device.index_select(0, order[i:i + batch]), kind, n_fft, hop)
            train_step(model, opt, x, device, case.loss)

    out = {"model": case.name, "notes": steps * batch, "batch": batch, "input_shape": list(case.shape),
           "fast_notes_per_s": steps * batch / statistics.median(time_steps(fast_epoch, device, 1, 1, repeats))}
    workers = (0, pipeline_workers()) if workers is None else workers
    with tempfile.TemporaryDirectory() as tmp:
        ds = WavNotes(write_notes(Path(tmp), waves), kind, n_fft, hop)
        for w in workers:
            loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True, generator=g,
                                                 num_workers=w, pin_memory=device.type == "cuda",
                                                 persistent_workers=w > 0)

            def per_item_epoch() -> None:
                for x in loader:
                    train_step(model, opt, x.to(device, non_blocking=True), device, case.loss)

            rate = steps * batch / statistics.median(time_steps(per_item_epoch, device, 1, 1, repeats))
            out[f"wav_per_item_workers_{w}_notes_per_s"] = rate
            out[f"speedup_vs_workers_{w}"] = out["fast_notes_per_s"] / rate
            del loader
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def device_peaks(device: torch.device) -> tuple[dict[str, Any] | None, str | None]:
    """(peaks, None) for a known GPU or a CPU (measured), else (None, why the roofline fraction is missing)."""
    if device.type == "cpu":
        return cpu_peaks(), None
    if device.type == "cuda":
        spec = gpu_spec(describe_device(device))
        return (spec, None) if spec else (None, f"{describe_device(device)} is not in bench.GPU_SPECS")
    return None, f"no stated peak for a {device.type} device"


def run(profile: str | None = None, out_dir: str | Path | None = None, compile: bool = False, warmup: int = 2,
        steps: int = 5, repeats: int = 3, pipeline_notes: int = 256, quiet: bool = False,
        device: torch.device | str | None = None, only: list[str] | None = None,
        workers: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Benchmark every chapter model of a profile (or those named in `only`) on a device; write and return the JSON."""
    prof = profile_name(profile)
    device = torch.device(device) if device is not None else pick_device()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = describe_device(device)
    peaks, why = device_peaks(device)
    rows = []
    for case in cases(prof):
        if only is not None and case.name not in only:
            continue
        for comp in ((False, True) if compile else (False,)):
            rows.append(bench_model(case, device, peaks, warmup, steps, repeats, compile=comp))
            if not quiet:
                r = rows[-1]
                print(f"  {r['name']:24s} {r['step_ms_median']:9.1f} ms/step  {r['examples_per_s']:9.1f} ex/s", flush=True)
    pipeline = fast_vs_per_item(prof, device, pipeline_notes, repeats, workers)
    result = {"device": name, "device_type": device.type, "profile": prof, "torch": torch.__version__,
              "cores": os.cpu_count(), "peaks": peaks, "roofline_missing_why": why,
              "precision": "bf16/fp16 autocast, fused Adam" if device.type == "cuda" else "fp32, Adam",
              "method": f"median of {repeats} repetitions of {steps} steps after {warmup} warm-up steps",
              "models": rows, "pipeline": pipeline}
    out = Path(out_dir) if out_dir is not None else build_root() / "bench"
    path = out / f"{_slug(name)}.json"
    write_json_atomic(path, result)
    if not quiet:
        print(table(result))
        print(f"wrote {path}")
    return result


def _num(x: float | None, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def table(result: dict[str, Any]) -> str:
    """A markdown table of a benchmark result."""
    lines = [f"Benchmark on {result['device']} ({result['profile']} sizes, torch {result['torch']}, "
             f"{result['precision']}; {result['method']})", "",
             "| model | params | batch | ms / step | examples / s | GFLOP / step | GB / step | roofline ms | bound by "
             "| of roofline |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["models"]:
        f = r["roofline"]
        lines.append(f"| {r['name']} | {r['params']:,} | {r['batch']} | {r['step_ms_median']:.1f} | "
                     f"{r['examples_per_s']:.1f} | {f['flops'] / 1e9:.2f} | "
                     f"{(f['bytes_params'] + f['bytes_activations']) / 1e9:.3f} | {_num(f['bound_ms'], '.2f')} | "
                     f"{f['bound_by'] or '—'} | {_num(r['fraction_of_roofline'], '.0%')} |")
    pk = result["peaks"]
    lines += ["", "Peaks: " + (f"{pk['source']}" if pk else result["roofline_missing_why"])]
    p = result["pipeline"]
    rates = ", ".join(f"{k.split('_')[4]} workers {v:.1f} notes/s (the course's path {p['fast_notes_per_s'] / v:.2f}x as fast)"
                      for k, v in p.items() if k.startswith("wav_per_item"))
    lines += [f"Chapter 03 input path ({p['notes']} notes, batch {p['batch']}, input {tuple(p['input_shape'])}): "
              f"device-resident waves + batched STFT {p['fast_notes_per_s']:.1f} notes/s; WAV read and STFT per item "
              f"(paper 002's path): {rates}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line of `make bench` and `bench --plan`."""
    ap = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="sizes to benchmark (default: gpu with CUDA, else cpu)")
    ap.add_argument("--out", default=None, help="folder for <device>.json (default build/bench)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pipeline-notes", type=int, default=256)
    ap.add_argument("--only", nargs="*", default=None, help="model names to time (default: all)")
    ap.add_argument("--plan", action="store_true", help="print each chapter's estimated minutes instead")
    ap.add_argument("--gpu", default="H100", help="--plan without a bench JSON: the GPU of GPU_SPECS to assume")
    ap.add_argument("--bench-json", default=None, help="--plan: measured step times from this bench JSON")
    a = ap.parse_args(argv)
    if a.plan:
        from . import plan

        print(plan.table(plan.estimate(a.profile or "gpu", a.gpu, a.bench_json)))
        return 0
    run(a.profile, a.out, a.compile, a.warmup, a.steps, a.repeats, a.pipeline_notes, only=a.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
