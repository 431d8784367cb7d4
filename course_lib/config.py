"""Profiles, device, seeding and paths: the one place where sizes live (Chapter 00)."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

PROFILES = ("smoke", "cpu", "gpu")

# Every size in the course comes from here. `data` sizes the offline datasets; `chNN` entries hold
# what each chapter needs. smoke: CI (< 60 s a notebook); cpu: 2 cores (< 10 min a chapter);
# gpu: paper scale on one H100-class GPU (< 15 min a chapter).
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": [0],
        "data": {"notes": 160, "tunes": 40, "velocities": [50, 100], "songs": 6, "song_seconds": 12.0,
                 "performances": 24, "performance_bars": 2, "clips": 128},
        "ch00": {"families_to_play": 3},
        "ch01": {"gl_iters": [0, 4, 16], "n_notes_stats": 8},
        "ch02": {"fc": {"hidden": [64, 32], "latent": 16}, "conv": {"channels": [2, 4, 8], "latent": 16},
                 "seeds": [0], "epochs": 2, "patience": 2, "batch_size": 40, "lr": 1e-3, "weight_decay": 1e-5,
                 "mrstft_epochs": 1, "mrstft_weight": 10.0, "checkpoint_every_s": 0},
        "ch03": {"seeds": [0], "seconds": 0.5, "n_fft": 256, "hop": 64, "channels": [4, 8, 8], "latent": 16,
                 "train_notes": 96, "eval_notes": 12, "epochs": 1, "batch_size": 16, "lr": 1e-3,
                 "sweep": [[128, 32], [256, 64], [512, 128]], "sweep_notes": 48, "sweep_epochs": 1, "gl_iters": 4,
                 "speed_batch": 1, "speed_steps": 1, "speed_channels": [4, 8, 8], "speed_latent": 16},
        "ch04": {"seeds": [0], "seconds": 0.5, "n_fft": 256, "hop": 128, "channels": [4, 8, 8], "train_notes": 96,
                 "eval_notes": 32, "epochs": 1, "batch_size": 16, "lr": 1e-3, "latents": [4, 8], "betas": [1e-3, 1e-1],
                 "main_latent": 8, "main_beta": 1e-3, "cvae_epochs": 1, "n_generate": 2, "gl_iters": 4, "mc_samples": 2000},
        # ch05: 2-bar melody VAEs (schedules x seeds), then paper 002's per-epoch schedules on chapter 04's spectrogram VAE
        "ch05": {"seeds": [0], "bars": 2, "train_windows": 256, "eval_windows": 64, "embed": 16, "hidden": 32, "latent": 8,
                 "epochs": 2, "batch_size": 64, "lr": 1e-3, "free_nats_dim": 0.25, "free_nats_total": 2.0, "word_dropout": 0.5,
                 "n_prior": 16, "spec_seconds": 0.5, "spec_n_fft": 256, "spec_hop": 128, "spec_channels": [4, 8, 8],
                 "spec_latent": 8, "spec_notes": 64, "spec_eval_notes": 16, "spec_epochs": 2, "spec_beta": 1e-2, "gl_iters": 4},
        # ch06: 2-bar and long (long_bars) melody VAEs; transpose = the shifts used for augmentation
        "ch06": {"seeds": [0], "train_windows": 256, "eval_windows": 64, "transpose": [-2, 0, 2], "embed": 16, "hidden": 32,
                 "latent": 8, "epochs": 2, "batch_size": 64, "lr": 1e-3, "beta": 0.2, "free_bits": 8, "teacher_forcing": 1.0,
                 "long_bars": 4, "long_windows": 48, "long_epochs": 1, "conductor_hidden": 32, "conductor_out": 16,
                 "n_prior": 32, "temperature": 1.0},
        # ch07: Transformer VAE over event tokens with CC; latents = the sweep, main_latent for the schedule comparison
        "ch07": {"seeds": [0], "d_model": 32, "heads": 2, "layers": 1, "dropout": 0.0, "latents": [8, 16], "main_latent": 16,
                 "epochs": 2, "batch_size": 8, "lr": 1e-3, "beta": 0.2, "cycles": 2, "free_nats": 0.0, "n_render": 2,
                 "eval_pieces": 8, "temperature": 1.0},
        # ch08: 2-D toy (DDPM and EDM), then EDM on log-mel notes; steps = the sampler sweep (Euler and Heun)
        "ch08": {"seeds": [0], "toy": "ring", "toy_n": 1024, "toy_hidden": 64, "toy_layers": 2, "toy_epochs": 3,
                 "toy_batch": 256, "toy_lr": 2e-3, "ddpm_steps": 100, "n_toy_samples": 512, "steps": [2, 4, 8],
                 "note_train": 96, "note_eval": 16, "n_mels": 64, "n_frames": 32, "n_fft": 1024, "hop": 256,
                 "unet_channels": [16, 32, 32], "emb_dim": 32, "epochs": 1, "batch_size": 32, "lr": 1e-3,
                 "note_steps": [4, 8], "main_steps": 8, "ref_steps": 12, "n_samples": 16, "n_listen": 2, "gl_iters": 4},
        # ch09: HDAE baseline vs paper 004's multiscale model on clips; stage_epochs = progressive stages 1, 2, 3
        "ch09": {"seeds": [0], "n_mels": 64, "n_frames": 32, "n_fft": 1024, "latent_channels": 4, "enc_channels": [16, 32, 32],
                 "unet_channels": [16, 32, 32, 32], "emb_dim": 32, "stage_epochs": [1, 1, 1], "batch_size": 32,
                 "lr": 1e-3, "p_level_dropout": 0.14, "oracle_epochs": 2, "oracle_channels": [8, 16],
                 "decode_steps": 4, "n_eval": 12, "n_swap": 12, "train_repeat": False, "gl_iters": 4},
    },
    "cpu": {
        "seeds": [0, 1, 2],
        "data": {"notes": 3000, "tunes": 1500, "velocities": [25, 50, 75, 100, 127], "songs": 160, "song_seconds": 15.0,
                 "performances": 1200, "performance_bars": 2, "clips": 1024},
        "ch00": {"families_to_play": 11},
        "ch01": {"gl_iters": [0, 4, 16, 32, 64, 128], "n_notes_stats": 48},
        # scaled widths; lr 1e-3 instead of the paper's 1e-4 because an epoch here is ~20 steps, not ~3,000
        "ch02": {"fc": {"hidden": [512, 256], "latent": 128}, "conv": {"channels": [4, 8, 16], "latent": 128},
                 "seeds": [0, 1, 2], "epochs": 20, "patience": 5, "batch_size": 40, "lr": 1e-3, "weight_decay": 1e-5,
                 "mrstft_epochs": 3, "mrstft_weight": 10.0, "checkpoint_every_s": 0},
        # the first second of each note, n_fft 512 (32 ms), hop n_fft / 2, narrower channels
        "ch03": {"seeds": [0], "seconds": 1.0, "n_fft": 512, "hop": 256, "channels": [8, 16, 32], "latent": 128,
                 "train_notes": 800, "eval_notes": 100, "epochs": 8, "batch_size": 32, "lr": 1e-3,
                 "sweep": [[256, 128], [512, 256], [1024, 512], [2048, 1024]], "sweep_notes": 400, "sweep_epochs": 4,
                 "gl_iters": 32, "speed_batch": 4, "speed_steps": 2, "speed_channels": [16, 32, 64], "speed_latent": 200},
        # one-sided log magnitude of the first second, hop = n_fft / 2; beta is per element of an MSE (see effective_beta)
        "ch04": {"seeds": [0], "seconds": 1.0, "n_fft": 512, "hop": 256, "channels": [8, 16, 32], "train_notes": 800,
                 "eval_notes": 300, "epochs": 6, "batch_size": 32, "lr": 1e-3, "latents": [16, 64, 256, 512],
                 "betas": [1e-4, 1e-3, 1e-2, 1e-1], "main_latent": 64, "main_beta": 1e-3, "cvae_epochs": 10, "n_generate": 10,
                 "gl_iters": 32, "mc_samples": 20000},
        "ch05": {"seeds": [0, 1, 2], "bars": 2, "train_windows": 3000, "eval_windows": 600, "embed": 32, "hidden": 64,
                 "latent": 32, "epochs": 5, "batch_size": 32, "lr": 2e-3, "free_nats_dim": 0.25, "free_nats_total": 8.0, "word_dropout": 0.5,
                 "n_prior": 100, "spec_seconds": 1.0, "spec_n_fft": 512, "spec_hop": 256, "spec_channels": [8, 16, 32],
                 "spec_latent": 64, "spec_notes": 500, "spec_eval_notes": 200, "spec_epochs": 8, "spec_beta": 1e-2, "gl_iters": 32},
        "ch06": {"seeds": [0], "train_windows": 8000, "eval_windows": 1000, "transpose": [-5, -3, -1, 0, 1, 3, 5], "embed": 64,
                 "hidden": 192, "latent": 64, "epochs": 6, "batch_size": 128, "lr": 2e-3, "beta": 0.2, "free_bits": 16,
                 "teacher_forcing": 1.0, "long_bars": 16, "long_windows": 2000, "long_epochs": 4, "conductor_hidden": 128,
                 "conductor_out": 64, "n_prior": 300, "temperature": 1.0},
        # no dropout on CPU: its random masks cost more than the attention itself here (3.8 s vs 0.6 s a step)
        "ch07": {"seeds": [0], "d_model": 64, "heads": 4, "layers": 1, "dropout": 0.0, "latents": [32, 128, 512],
                 "main_latent": 128, "epochs": 4, "batch_size": 32, "lr": 3e-3, "beta": 0.2, "cycles": 2, "free_nats": 0.0,
                 "n_render": 30, "eval_pieces": 60, "temperature": 1.0},
        "ch08": {"seeds": [0], "toy": "ring", "toy_n": 8192, "toy_hidden": 128, "toy_layers": 3, "toy_epochs": 250,
                 "toy_batch": 512, "toy_lr": 2e-3, "ddpm_steps": 1000, "n_toy_samples": 4096,
                 "steps": [2, 3, 4, 6, 8, 12, 18, 24, 32, 48, 64], "note_train": 2000, "note_eval": 256, "n_mels": 64,
                 "n_frames": 64, "n_fft": 1024, "hop": 256, "unet_channels": [64, 96, 128], "emb_dim": 64, "epochs": 50,
                 "batch_size": 64, "lr": 1e-3, "note_steps": [4, 8, 18, 32], "main_steps": 18, "ref_steps": 128, "n_samples": 256,
                 "n_listen": 3, "gl_iters": 32},
        "ch09": {"seeds": [0], "n_mels": 64, "n_frames": 32, "n_fft": 1024, "latent_channels": 16, "enc_channels": [32, 64, 64],
                 "unet_channels": [48, 96, 96, 96], "emb_dim": 64, "stage_epochs": [25, 25, 25], "batch_size": 64,
                 "lr": 1e-3, "p_level_dropout": 0.14, "oracle_epochs": 15, "oracle_channels": [32, 64],
                 "decode_steps": 10, "n_eval": 100, "n_swap": 100, "train_repeat": True, "gl_iters": 32},
    },
    "gpu": {
        "seeds": [0, 1, 2],
        "data": {"notes": 20000, "tunes": 12000, "velocities": [25, 50, 75, 100, 127], "songs": 400, "song_seconds": 60.0,
                 "performances": 12000, "performance_bars": 2, "clips": 4096},
        "ch00": {"families_to_play": 11},
        "ch01": {"gl_iters": [0, 4, 16, 32, 64, 128, 256], "n_notes_stats": 128},
        # paper 001 at exact size; paper: <= 500 epochs, patience 50 (one seed fits the 15-minute budget)
        "ch02": {"fc": {"hidden": [9800, 6500], "latent": 3300}, "conv": {"channels": [16, 32, 64], "latent": 3300},
                 "seeds": [0], "epochs": 150, "patience": 50, "batch_size": 40, "lr": 1e-4, "weight_decay": 1e-5,
                 "mrstft_epochs": 20, "mrstft_weight": 10.0, "checkpoint_every_s": 300},
        # paper 002 at exact size: 4 s notes, n_fft 1500, hop 250, 16-32-64 channels, latent 200; sweep = its Table 4.1
        "ch03": {"seeds": [0], "seconds": 4.0, "n_fft": 1500, "hop": 250, "channels": [16, 32, 64], "latent": 200,
                 "train_notes": 16000, "eval_notes": 400, "epochs": 10, "batch_size": 64, "lr": 1e-4,
                 "sweep": [[800, 100], [1500, 200], [2048, 350], [4000, 300]], "sweep_notes": 4000, "sweep_epochs": 5,
                 "gl_iters": 64, "speed_batch": 64, "speed_steps": 10, "speed_channels": [16, 32, 64], "speed_latent": 200},
        # paper 002's VAE input size (n_fft 1500, hop 250, 4 s), one-sided log magnitude
        "ch04": {"seeds": [0], "seconds": 4.0, "n_fft": 1500, "hop": 250, "channels": [16, 32, 64], "train_notes": 8000,
                 "eval_notes": 1000, "epochs": 8, "batch_size": 64, "lr": 3e-4, "latents": [16, 64, 256, 512],
                 "betas": [1e-4, 1e-3, 1e-2, 1e-1], "main_latent": 256, "main_beta": 1e-3, "cvae_epochs": 15, "n_generate": 20,
                 "gl_iters": 64, "mc_samples": 100000},
        "ch05": {"seeds": [0, 1, 2], "bars": 2, "train_windows": 40000, "eval_windows": 2000, "embed": 64, "hidden": 256,
                 "latent": 128, "epochs": 8, "batch_size": 256, "lr": 1e-3, "free_nats_dim": 0.25, "free_nats_total": 32.0, "word_dropout": 0.5,
                 "n_prior": 500, "spec_seconds": 4.0, "spec_n_fft": 1500, "spec_hop": 250, "spec_channels": [16, 32, 64],
                 "spec_latent": 200, "spec_notes": 4000, "spec_eval_notes": 500, "spec_epochs": 10, "spec_beta": 1e-2,
                 "gl_iters": 64},
        # MusicVAE's 2-bar melody model (latent 512, beta 0.2, 48 free bits, +-5 transposition, scheduled sampling)
        "ch06": {"seeds": [0], "train_windows": 400000, "eval_windows": 5000, "transpose": [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5],
                 "embed": 128, "hidden": 1024, "latent": 512, "epochs": 6, "batch_size": 512, "lr": 1e-3, "beta": 0.2,
                 "free_bits": 48, "teacher_forcing": 0.9, "long_bars": 16, "long_windows": 60000, "long_epochs": 6,
                 "conductor_hidden": 512, "conductor_out": 256, "n_prior": 1000, "temperature": 1.0},
        # paper 000's size: 6 layers, 8 heads, d_model 512, AdamW lr 1e-4, betas (0.9, 0.98)
        "ch07": {"seeds": [0], "d_model": 512, "heads": 8, "layers": 6, "dropout": 0.1, "latents": [32, 128, 256, 512],
                 "main_latent": 512, "epochs": 10, "batch_size": 64, "lr": 1e-4, "beta": 0.2, "cycles": 4, "free_nats": 0.0,
                 "n_render": 200, "eval_pieces": 500, "temperature": 1.0},
        "ch08": {"seeds": [0], "toy": "ring", "toy_n": 65536, "toy_hidden": 256, "toy_layers": 4, "toy_epochs": 200,
                 "toy_batch": 2048, "toy_lr": 2e-3, "ddpm_steps": 1000, "n_toy_samples": 16384,
                 "steps": [2, 3, 4, 6, 8, 12, 18, 24, 32, 48, 64, 128], "note_train": 16000, "note_eval": 1000,
                 "n_mels": 64, "n_frames": 64, "n_fft": 1024, "hop": 256, "unet_channels": [128, 256, 256, 512],
                 "emb_dim": 128, "epochs": 60, "batch_size": 256, "lr": 5e-4, "note_steps": [4, 8, 18, 32, 64],
                 "main_steps": 18, "ref_steps": 256, "n_samples": 1000, "n_listen": 4, "gl_iters": 64},
        # paper 004's sizes: 32 latent channels, U-Net channels [64, 256, 512, 512, 1024]
        "ch09": {"seeds": [0], "n_mels": 64, "n_frames": 32, "n_fft": 1024, "latent_channels": 32, "enc_channels": [64, 128, 256],
                 "unet_channels": [64, 256, 512, 512, 1024], "emb_dim": 256, "stage_epochs": [60, 60, 60],
                 "batch_size": 128, "lr": 2e-4, "p_level_dropout": 0.14, "oracle_epochs": 30,
                 "oracle_channels": [64, 128], "decode_steps": 18, "n_eval": 400, "n_swap": 400, "train_repeat": True,
                 "gl_iters": 64},
    },
}


class Cfg(dict):
    """A dict whose keys read as attributes: `cfg.epochs` (Chapter 00)."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}; known: {sorted(self)}") from None
        return Cfg(value) if isinstance(value, dict) else value


def repo_root() -> Path:
    """Chapter 00. The repository root (where pyproject.toml lives)."""
    return Path(__file__).resolve().parent.parent


def profile_name(profile: str | None = None) -> str:
    """Chapter 00. The active profile: argument, else $COURSE_PROFILE, else gpu with CUDA, else cpu."""
    name = profile or os.environ.get("COURSE_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: set COURSE_PROFILE to one of {', '.join(PROFILES)}")
    return name


def sizes(profile: str | None = None) -> Cfg:
    """Chapter 00. All sizes of a profile."""
    return Cfg(SIZES[profile_name(profile)])


def data_root() -> Path:
    """Chapter 00. Where datasets are built: $COURSE_DATA, else <repo>/data."""
    return Path(os.environ.get("COURSE_DATA") or repo_root() / "data")


def data_dir(kind: str, profile: str | None = None) -> Path:
    """Chapter 00. The folder of one built dataset (`notes`, `melodies`) for a profile."""
    return data_root() / profile_name(profile) / kind


def build_root() -> Path:
    """Chapter 00. Where executed notebooks, findings, figures and checkpoints go: $COURSE_BUILD or <repo>/build."""
    return Path(os.environ.get("COURSE_BUILD") or repo_root() / "build")


def pick_device(prefer: str | None = None) -> torch.device:
    """Chapter 00. $COURSE_DEVICE, else CUDA, else Apple MPS, else CPU."""
    name = prefer or os.environ.get("COURSE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """Chapter 00. A short human name for a device, e.g. 'cpu (2 threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Chapter 00. Seed Python, NumPy and torch (all devices); ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for deterministic matmuls
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class Context:
    """What `setup` hands a notebook: chapter, profile, device, the chapter's config and paths (Chapter 00)."""

    chapter: str
    profile: str
    device: torch.device
    cfg: Cfg
    seeds: list[int]
    data: Cfg
    findings: Any = field(default=None, repr=False)

    @property
    def build_dir(self) -> Path:
        """Chapter 00. Where this run writes checkpoints, findings and figures."""
        return build_root()

    def data_dir(self, kind: str) -> Path:
        """Chapter 00. The built dataset `kind` of this profile."""
        return data_dir(kind, self.profile)


def chapter_id(chapter: int | str) -> str:
    """Chapter 00. Normalise a chapter number to two digits: 1 -> '01'."""
    return f"{int(chapter):02d}"


def setup(chapter: int | str, profile: str | None = None, seed: int | None = None, quiet: bool = False) -> Context:
    """Chapter 00. First cell of every notebook: seed, pick device, print the environment, return the config."""
    from .results import Findings  # local import: results imports config

    prof = profile_name(profile)
    all_sizes = SIZES[prof]
    ch = chapter_id(chapter)
    seeds = list(all_sizes.get(f"ch{ch}", {}).get("seeds", all_sizes["seeds"]))  # a chapter may set its own
    seed_everything(seeds[0] if seed is None else seed)
    device = pick_device()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    ctx = Context(chapter=ch, profile=prof, device=device, cfg=Cfg(all_sizes.get(f"ch{ch}", {})),
                  seeds=seeds, data=Cfg(all_sizes["data"]))
    ctx.findings = Findings(ch, prof, describe_device(device), seeds, device.type)
    if not quiet:
        mem = ""
        if device.type == "cuda":
            free, total = torch.cuda.mem_get_info()
            mem = f", GPU memory {free / 2**30:.1f} / {total / 2**30:.1f} GiB free"
        else:
            try:
                import psutil  # optional

                mem = f", RAM {psutil.virtual_memory().available / 2**30:.1f} GiB free"
            except ImportError:
                pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                mem = f", RAM {pages / 2**30:.1f} GiB free"
        print(f"Chapter {ch} | profile {prof} | device {describe_device(device)}{mem} | torch {torch.__version__}")
    return ctx
