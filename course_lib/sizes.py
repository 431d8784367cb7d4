"""Every size of the course in one place: per chapter the paper's settings, then what each profile changes.

`PAPER` holds the settings at paper scale: what the paper of each chapter used (cited where it says so) and,
where a paper is silent (our datasets, seeds, plots, sweeps), the course's own choice at that scale. `OVERRIDES`
holds, per profile, only the values that differ; a lookup deep-merges them over `PAPER`. An override may only
change a setting that `PAPER` has: a typo raises instead of adding a setting nobody reads.
smoke: CI (< 60 s a notebook); cpu: 2 cores (< 10 min a chapter); gpu: paper scale on one H100-class GPU
(<= 10 min a chapter, data build included: `python -m course_lib.bench --plan`).
"""
from __future__ import annotations

import copy
import os
from typing import Any

import torch

from .checks import is_int, non_negative_int

PROFILES = ("smoke", "cpu", "gpu")

PAPER: dict[str, Any] = {
    "seeds": [0, 1, 2],  # a chapter may set its own `seeds`
    # the datasets built here (the papers used NSynth, Lakh, Slakh ...): sized to fill the gpu budget
    "data": {"notes": 20000, "tunes": 12000, "velocities": [25, 50, 75, 100, 127], "songs": 400, "song_seconds": 60.0,
             "performances": 12000, "performance_bars": 2, "clips": 4096},
    "ch00": {"families_to_play": 11},
    "ch01": {"gl_iters": [0, 4, 16, 32, 64, 128, 256], "n_notes_stats": 128},
    # paper 001 at exact size: FC 9800-6500-3300, conv 16-32-64 channels, latent 3300; batch 40, Adam lr 1e-4,
    # weight decay 1e-5, at most 500 epochs with patience 50, one run each; its 1,300 training songs of 2 minutes
    # give ~52,000 segments, ~1,300 steps an epoch and ~72,800 steps to FC's best epoch 56 [derived]
    "ch02": {"fc": {"hidden": [9800, 6500], "latent": 3300}, "conv": {"channels": [16, 32, 64], "latent": 3300},
             "seeds": [0], "epochs": 500, "patience": 50, "batch_size": 40, "lr": 1e-4, "weight_decay": 1e-5,
             "mrstft": {"epochs": 20, "weight": 10.0},  # ours: fine-tuning the conv model with an MR-STFT term
             "checkpoint_every_s": 300},
    # paper 002 at exact size: 4 s notes, n_fft 1500, hop 250, 16-32-64 channels, latent 200; sweep.stft = the
    # (n_fft, hop) pairs of its Table 4.1; speed = its exact model, timed for `speed.steps` steps of `speed.batch`
    "ch03": {"seeds": [0], "seconds": 4.0, "n_fft": 1500, "hop": 250, "channels": [16, 32, 64], "latent": 200,
             "train_notes": 16000, "eval_notes": 400, "epochs": 10, "batch_size": 64, "lr": 1e-4,
             "sweep": {"stft": [[800, 100], [1500, 200], [2048, 350], [4000, 300]], "notes": 4000, "epochs": 5},
             "gl_iters": 64, "speed": {"batch": 64, "steps": 10, "channels": [16, 32, 64], "latent": 200}},
    # paper 002's VAE input size (n_fft 1500, hop 250, 4 s), one-sided log magnitude; beta is per element of an
    # MSE (see effective_beta)
    "ch04": {"seeds": [0], "seconds": 4.0, "n_fft": 1500, "hop": 250, "channels": [16, 32, 64], "train_notes": 8000,
             "eval_notes": 1000, "epochs": 8, "batch_size": 64, "lr": 3e-4, "latents": [16, 64, 256, 512],
             "betas": [1e-4, 1e-3, 1e-2, 1e-1, 1.0], "main_latent": 256, "main_beta": 1e-3, "cvae_epochs": 15,
             "n_generate": 30, "gl_iters": 64, "mc_samples": 100000},
    # 2-bar melody VAEs (schedules x seeds; warmup_fractions: the linear warm-ups, as fractions of the run), then
    # `spec`: paper 002's per-epoch schedules on chapter 04's spectrogram VAE (paper 002's input size; batch 32 and
    # lr 1e-3 in every profile)
    "ch05": {"seeds": [0, 1, 2], "bars": 2, "train_windows": 40000, "eval_windows": 2000, "embed": 64, "hidden": 256,
             "latent": 128, "epochs": 8, "batch_size": 256, "lr": 1e-3, "free_nats_dim": 0.25, "free_nats_total": 32.0,
             "word_dropout": 0.5, "n_prior": 500, "warmup_fractions": [0.25, 0.5, 0.75],
             "spec": {"seconds": 4.0, "n_fft": 1500, "hop": 250, "channels": [16, 32, 64], "latent": 200,
                      "train_notes": 4000, "eval_notes": 500, "epochs": 10, "batch_size": 32, "lr": 1e-3, "beta": 1e-2},
             "gl_iters": 64},
    # MusicVAE's 2-bar melody model (latent 512, beta 0.2, 48 free bits, +-5 transposition, scheduled sampling,
    # batch 512, lr 1e-3); `long`: flat vs hierarchical (conductor) decoder on `long.bars`-bar windows;
    # transpose = the shifts used for augmentation
    "ch06": {"seeds": [0], "train_windows": 400000, "eval_windows": 5000,
             "transpose": [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5], "embed": 128, "hidden": 1024, "latent": 512,
             "epochs": 6, "batch_size": 512, "lr": 1e-3, "beta": 0.2, "free_bits": 48, "teacher_forcing": 0.9,
             "long": {"bars": 16, "windows": 60000, "epochs": 6, "conductor_hidden": 512, "conductor_out": 256,
                      "seeds": [0, 1, 2]},
             "n_prior": 1000, "temperature": 1.0},
    # paper 000's size: 6 layers, 8 heads, d_model 512, AdamW lr 1e-4, betas (0.9, 0.98); Transformer VAE over
    # event tokens with CC; latents = the sweep, main_latent for the schedule comparison
    "ch07": {"seeds": [0], "d_model": 512, "heads": 8, "layers": 6, "dropout": 0.1, "latents": [32, 128, 256, 512],
             "main_latent": 512, "epochs": 10, "batch_size": 64, "lr": 1e-4, "beta": 0.2, "cycles": 4, "free_nats": 0.0,
             "n_render": 200, "eval_pieces": 500, "n_recon": 200, "temperature": 1.0},
    # `toy`: 2-D data (DDPM and EDM; toy.steps = the sampler sweep, Euler and Heun); then EDM (as paper 004 uses
    # it: Heun, 18 steps) on log-mel notes, the U-Net sized by the top-level settings, `notes` its data and sweep
    "ch08": {"seeds": [0],
             "toy": {"kind": "ring", "n": 65536, "hidden": 256, "layers": 4, "epochs": 200, "batch_size": 2048,
                     "lr": 2e-3, "ddpm_steps": 1000, "samples": 16384,
                     "steps": [2, 3, 4, 6, 8, 12, 18, 24, 32, 48, 64, 128]},
             "notes": {"train": 16000, "eval": 1000, "steps": [4, 8, 18, 32, 64]},
             "n_mels": 64, "n_frames": 64, "n_fft": 1024, "hop": 256, "unet_channels": [128, 256, 256, 512],
             "emb_dim": 128, "epochs": 60, "batch_size": 256, "lr": 5e-4, "main_steps": 18, "ref_steps": 256,
             "n_samples": 1000, "n_listen": 4, "gl_iters": 64,
             "gauss_n": 4096},  # samples of the Gaussian case, judged against its closed-form ODE solution
    # paper 004's sizes: 32 latent channels, U-Net channels [64, 256, 512, 512, 1024]; HDAE baseline vs its
    # multiscale model on clips; stage_epochs = progressive stages 1, 2, 3; `oracle`: our factor classifier
    # (the judge of reconstructions and swaps), trained at the chapter's batch size
    "ch09": {"seeds": [0], "n_mels": 64, "n_frames": 32, "n_fft": 1024, "latent_channels": 32,
             "enc_channels": [64, 128, 256], "unet_channels": [64, 256, 512, 512, 1024], "emb_dim": 256,
             "stage_epochs": [60, 60, 60], "batch_size": 128, "lr": 2e-4, "p_level_dropout": 0.14,
             "oracle": {"epochs": 30, "channels": [64, 128], "lr": 1e-3},
             "decode_steps": 18, "n_eval": 400, "n_swap": 400, "train_repeat": True, "gl_iters": 64,
             # decoding steps: the fewest Heun steps whose ODE error in chapter 08's committed curve for the profile
             # is within ode_tol; decode_steps where the profile has no such curve
             "ode_tol": 0.05},
}

OVERRIDES: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": [0],
        "data": {"notes": 160, "tunes": 40, "velocities": [50, 100], "songs": 6, "song_seconds": 12.0,
                 "performances": 24, "clips": 128},
        "ch00": {"families_to_play": 3},
        "ch01": {"gl_iters": [0, 4, 16], "n_notes_stats": 8},
        # conv/FC parameters 5.11M / 3.23M = 1.58, the paper's order (698M / 430M = 1.63; tests/test_sizes.py checks
        # every profile); a latent of 96 lets Exercise 2.2 match FC's count within 1 % by choosing the conv latent
        "ch02": {"fc": {"hidden": [120, 100], "latent": 96}, "conv": {"channels": [4, 8, 16], "latent": 96},
                 "epochs": 2, "patience": 2, "lr": 1e-3, "mrstft": {"epochs": 1}, "checkpoint_every_s": 0},
        "ch03": {"seconds": 0.5, "n_fft": 256, "hop": 64, "channels": [4, 8, 8], "latent": 16, "train_notes": 96,
                 "eval_notes": 12, "epochs": 1, "batch_size": 16, "lr": 1e-3,
                 "sweep": {"stft": [[128, 32], [256, 64], [512, 128]], "notes": 48, "epochs": 1}, "gl_iters": 4,
                 "speed": {"batch": 1, "steps": 1, "channels": [4, 8, 8], "latent": 16}},
        "ch04": {"seconds": 0.5, "n_fft": 256, "hop": 128, "channels": [4, 8, 8], "train_notes": 96, "eval_notes": 32,
                 "epochs": 1, "batch_size": 16, "lr": 1e-3, "latents": [4, 8], "betas": [1e-3, 1.0], "main_latent": 8,
                 "cvae_epochs": 1, "n_generate": 2, "gl_iters": 4, "mc_samples": 2000},
        "ch05": {"seeds": [0], "train_windows": 256, "eval_windows": 64, "embed": 16, "hidden": 32, "latent": 8,
                 "epochs": 2, "batch_size": 64, "free_nats_total": 2.0, "n_prior": 16,
                 "spec": {"seconds": 0.5, "n_fft": 256, "hop": 128, "channels": [4, 8, 8], "latent": 8,
                          "train_notes": 64, "eval_notes": 16, "epochs": 2},
                 "gl_iters": 4},
        "ch06": {"train_windows": 256, "eval_windows": 64, "transpose": [-2, 0, 2], "embed": 16, "hidden": 32,
                 "latent": 8, "epochs": 2, "batch_size": 64, "free_bits": 8, "teacher_forcing": 1.0,
                 "long": {"bars": 4, "windows": 48, "epochs": 1, "conductor_hidden": 32, "conductor_out": 16, "seeds": [0]},
                 "n_prior": 32},
        "ch07": {"d_model": 32, "heads": 2, "layers": 1, "dropout": 0.0, "latents": [8, 16], "main_latent": 16,
                 "epochs": 2, "batch_size": 8, "lr": 1e-3, "cycles": 2, "n_render": 2, "eval_pieces": 8, "n_recon": 4},
        "ch08": {"toy": {"n": 1024, "hidden": 64, "layers": 2, "epochs": 3, "batch_size": 256, "ddpm_steps": 100,
                         "samples": 512, "steps": [2, 4, 8]},
                 "notes": {"train": 96, "eval": 16, "steps": [4, 8]},
                 "n_frames": 32, "unet_channels": [16, 32, 32], "emb_dim": 32, "epochs": 1, "batch_size": 32,
                 "lr": 1e-3, "main_steps": 8, "ref_steps": 12, "n_samples": 16, "n_listen": 2, "gl_iters": 4,
                 "gauss_n": 512},
        "ch09": {"latent_channels": 4, "enc_channels": [16, 32, 32], "unet_channels": [16, 32, 32, 32], "emb_dim": 32,
                 "stage_epochs": [1, 1, 1], "batch_size": 32, "lr": 1e-3, "oracle": {"epochs": 2, "channels": [8, 16]},
                 "decode_steps": 4, "n_eval": 12, "n_swap": 12, "train_repeat": False, "gl_iters": 4},
    },
    "cpu": {
        "data": {"notes": 3000, "tunes": 1500, "songs": 160, "song_seconds": 15.0, "performances": 1200,
                 "clips": 1024},
        "ch01": {"gl_iters": [0, 4, 16, 32, 64, 128], "n_notes_stats": 48},
        # scaled widths that keep the paper's order of sizes: conv 13.6M vs FC 8.1M parameters (1.67; paper 698M /
        # 430M = 1.63), one latent size for both as in the paper; a training step of the pair costs ~1.2 x the earlier
        # FC 13.9M / conv 6.8M pair's (timed on 2 busy cores). lr 1e-3 instead of the paper's 1e-4 because an epoch
        # here is ~16 steps, not the paper's ~1,300 [derived]; 14 epochs, not 20: 20 took 882 s for 3 seeds of both
        "ch02": {"fc": {"hidden": [300, 200], "latent": 128}, "conv": {"channels": [8, 16, 32], "latent": 128},
                 "seeds": [0, 1, 2], "epochs": 14, "patience": 5, "lr": 1e-3, "mrstft": {"epochs": 3},
                 "checkpoint_every_s": 0},
        # the first second of each note, n_fft 512 (32 ms), hop n_fft / 2, narrower channels. Budget on 2 cores
        # (s / epoch from the committed cpu reference run, validation on eval_notes): 5 variants at seed 0 ~160 s,
        # 2 more seeds of the 3 compared variants (BatchNorm ablation, representation audit) ~190 s, sweep 3 x 3
        # epochs ~40 s, the rest ~60 s: ~450 s. 6 epochs, not 8, keep 3 seeds of the compared models inside it
        "ch03": {"seeds": [0, 1, 2], "seconds": 1.0, "n_fft": 512, "hop": 256, "channels": [8, 16, 32], "latent": 128,
                 "train_notes": 800, "eval_notes": 100, "epochs": 6, "batch_size": 32, "lr": 1e-3,
                 "sweep": {"stft": [[256, 128], [512, 256], [2048, 1024]], "notes": 400, "epochs": 3},
                 "gl_iters": 32, "speed": {"batch": 2, "steps": 1}},
        # one-sided log magnitude of the first second, hop = n_fft / 2; 3 seeds for the latents at main_beta only;
        # beta 1 (one nat of KL costs as much as the whole per-element MSE) is there to close dimensions. Three
        # latents x three betas: 4 x 4 took 688 s on 2 cores (grid 413 s, seeds 200 s)
        "ch04": {"seeds": [0, 1, 2], "seconds": 1.0, "n_fft": 512, "hop": 256, "channels": [8, 16, 32],
                 "train_notes": 800, "eval_notes": 300, "epochs": 6, "batch_size": 32, "lr": 1e-3, "main_latent": 64,
                 "latents": [16, 64, 512], "betas": [1e-3, 1e-1, 1.0], "cvae_epochs": 10, "gl_iters": 32,
                 "mc_samples": 20000},
        # melody setups (2 warm-up lengths) and 5 spectrogram schedules, 3 seeds each: 3000 windows, 3 warm-ups and
        # 500 notes took 697 s on 2 cores
        "ch05": {"train_windows": 2400, "eval_windows": 600, "embed": 32, "hidden": 64, "latent": 32, "epochs": 5,
                 "batch_size": 32, "lr": 2e-3, "free_nats_total": 8.0, "n_prior": 100, "warmup_fractions": [0.25, 0.75],
                 "spec": {"seconds": 1.0, "n_fft": 512, "hop": 256, "channels": [8, 16, 32], "latent": 64,
                          "train_notes": 400, "eval_notes": 200, "epochs": 8},
                 "gl_iters": 32},
        "ch06": {"train_windows": 8000, "eval_windows": 1000, "transpose": [-5, -3, -1, 0, 1, 3, 5], "embed": 64,
                 "hidden": 192, "latent": 64, "batch_size": 128, "lr": 2e-3, "free_bits": 16, "teacher_forcing": 1.0,
                 # 4 bars: long enough for a conductor (4 bar embeddings), short enough to learn in budget, 3 seeds
                 "long": {"bars": 4, "windows": 3000, "epochs": 4, "conductor_hidden": 128, "conductor_out": 64},
                 "n_prior": 300},
        # no dropout on CPU: its random masks cost more than the attention itself here (3.8 s vs 0.6 s a step);
        # 3 seeds of 2 latents (the ends of the paper's range, 32 and 512) plus 3 monotonic runs = 9 runs of 2 epochs
        # (~124 steps of 16) fit the 10 minutes; free-running decoding (O(length^2) per piece) only on n_recon pieces
        "ch07": {"seeds": [0, 1, 2], "d_model": 64, "heads": 4, "layers": 1, "dropout": 0.0, "latents": [32, 512],
                 "epochs": 2, "batch_size": 16, "lr": 3e-3, "cycles": 2, "n_render": 8,
                 "eval_pieces": 60, "n_recon": 16},
        # one seed: 2 more note models (~150 s each) would take the chapter to ~10 min (inconclusive by the rule)
        "ch08": {"toy": {"n": 8192, "hidden": 128, "layers": 3, "epochs": 250, "batch_size": 512, "samples": 4096,
                         "steps": [2, 3, 4, 6, 8, 12, 18, 24, 32, 48, 64]},
                 "notes": {"train": 2000, "eval": 256, "steps": [4, 8, 18, 32]},
                 "unet_channels": [64, 96, 128], "emb_dim": 64, "epochs": 50, "batch_size": 64, "lr": 1e-3,
                 "ref_steps": 128, "n_samples": 256, "n_listen": 3, "gl_iters": 32},
        # one seed: each more seed of HDAE and paper 004's model is ~3.8 min of training plus ~1 min of decodes (the
        # cpu run took 423 s with one; 3 would be ~17 min), so the comparisons stay inconclusive by the rule
        "ch09": {"latent_channels": 16, "enc_channels": [32, 64, 64], "unet_channels": [48, 96, 96, 96], "emb_dim": 64,
                 "stage_epochs": [25, 25, 25], "batch_size": 64, "lr": 1e-3,
                 "oracle": {"epochs": 15, "channels": [32, 64]}, "n_eval": 100, "n_swap": 100,
                 "gl_iters": 32},
    },
    # sized by `python -m course_lib.bench --plan` (course_lib/plan.py) to <= 10 min a chapter on one H100, data
    # builds included: the builds of 12,000 tunes (7 min on 16 cores) and 400 one-minute songs (21 min, one process)
    # did not fit; ch03 / ch04 at paper 002's exact input size take 64 / 35 ms a step (eager, issue 20)
    "gpu": {
        "data": {"notes": 10000, "tunes": 4000, "songs": 64},
        "ch02": {"epochs": 150},  # of the paper's 500 (patience stays 50); 64 songs give ~26 steps an epoch
        "ch03": {"train_notes": 6000, "epochs": 8, "sweep": {"notes": 2000, "epochs": 4}},
        "ch04": {"train_notes": 6000, "epochs": 4, "cvae_epochs": 8},
        "ch08": {"notes": {"train": 8000}},
    },
}


class Cfg(dict):
    """A dict whose keys read as attributes, nested blocks included: `cfg.epochs`, `cfg.spec.n_fft`."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}; known: {sorted(self)}") from None
        return Cfg(value) if isinstance(value, dict) else value


def profile_name(profile: str | None = None) -> str:
    """The active profile: argument, else $COURSE_PROFILE, else gpu with CUDA, else cpu."""
    name = profile or os.environ.get("COURSE_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: set COURSE_PROFILE to one of {', '.join(PROFILES)}")
    return name


def merge(base: dict[str, Any], override: dict[str, Any], where: str = "") -> dict[str, Any]:
    """A copy of `base` with `override` deep-merged in; an override key `base` lacks raises KeyError."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            raise KeyError(f"override {path!r} is not a setting (known here: {sorted(base)}); a typo?")
        if isinstance(base[key], dict) != isinstance(value, dict):
            raise TypeError(f"override {path!r}: a block and a single value cannot replace each other")
        out[key] = merge(base[key], value, path) if isinstance(value, dict) else copy.deepcopy(value)
    return out


def resolve(profile: str | None = None) -> Cfg:
    """Every size of a profile, merged: {"seeds", "data", "ch00", ..., "ch09"}."""
    name = profile_name(profile)
    return Cfg(merge(PAPER, OVERRIDES[name], name))


def chapter_key(chapter: int | str) -> str:
    """The key of a chapter in the sizes: 2, '2', '02' and 'ch02' all give 'ch02'."""
    text = chapter if is_int(chapter) else str(chapter).strip().lower().removeprefix("ch")
    if not is_int(text) and not (isinstance(text, str) and text.isdigit()):
        raise ValueError(f"chapter must be a number such as 2, '02' or 'ch02', got {chapter!r}")
    return f"ch{non_negative_int('chapter', int(text)):02d}"


def chapter_sizes(chapter: int | str, profile: str | None = None) -> Cfg:
    """The sizes of one chapter in a profile (`cfg.epochs`, `cfg.spec.n_fft`)."""
    key, everything = chapter_key(chapter), resolve(profile)
    if key not in everything:
        known = sorted(k for k in everything if k.startswith("ch"))
        raise KeyError(f"no sizes for chapter {chapter!r}; known: {known}")
    return Cfg(everything[key])


def data_sizes(profile: str | None = None) -> Cfg:
    """The sizes of the datasets built for a profile (`notes`, `tunes`, `clips` ...)."""
    return Cfg(resolve(profile)["data"])
