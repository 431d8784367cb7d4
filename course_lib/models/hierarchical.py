"""Hierarchical diffusion autoencoders over log-mel spectrograms (Chapter 09, paper 004) and the HDAE baseline.

Input: log-mel spectrograms x of shape (B, n_mels, T) (default 64 x 32), normalised by the caller. Three latent
levels, ordered coarse to fine: h1 of length T/8, h2 of length T/4, h3 of length T/2, each `latent_channels`
wide and tanh-bounded. The decoder is `EDMDenoiser(UNet1d(...))`: each latent level is upsampled x2 in time and
CONCATENATED to the U-Net's decoder block at the level of matching length (h3 at length T, h2 at T/2, h1 at T/4,
coarse near the bottleneck); see `course_lib.models.unet1d`.

- kind="hdae" (the HDAE baseline, Lu et al. 2023, adapted to audio): one encoder; codes taken at three depths.
- kind="multiscale" (paper 004): three encoders on the spectrogram at three resolutions (x3 = x, x2 = x averaged
  over 2 x 2 bins of time and frequency, x1 over 4 x 4); the decoder sees coarse-to-fine residual latents
  h~1 = h1, h~k = hk + upsample(h~(k-1)) (`refine`), and the encoders are trained progressively (`set_stage`).

Two faults of the paper's code can be switched on to see what they do: `upsample_mode="repeat"` tiles a latent
([a, b] -> [a, b, a, b]) where `repeat_interleave` ([a, a, b, b]) was meant, so the conditions are misaligned in
time; and level dropout (p = 0.14), a no-op in the paper's code, works here (`level_dropout`; p_level_dropout=0
turns it off). A dropped level is fed to the U-Net as zeros, like a level not yet active in progressive training.

Training with the course loop: `train(model, loss_fn, (x,), ...)` with this module's `loss_fn(model, batch,
state=None)`, which calls model(x) = model.loss(x). Progressive training is three calls of train, each after
`model.set_stage(s)` (train builds its optimizer from the parameters that require grad). A fresh model is at
stage 3 with every parameter trainable: plain joint training.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import is_int, positive_int, probability
from ..diffusion import EDMDenoiser, edm_loss, karras_sigmas, sample_euler, sample_heun
from .common import evaluating
from .unet1d import UNet1d, group_norm

UPSAMPLE_MODES = ("repeat_interleave", "repeat")
KINDS = ("multiscale", "hdae")
N_LEVELS = 3


# ------------------------------------------------------------------------------------------- latent operations

def upsample_time(z: Tensor, factor: int, mode: str = "repeat_interleave") -> Tensor:
    """(B, C, L) -> (B, C, L * factor): "repeat_interleave" [a,a,b,b]; "repeat" [a,b,a,b] (the bug)."""
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"mode must be one of {UPSAMPLE_MODES}, got {mode!r}")
    positive_int("factor", factor)
    if z.dim() != 3:
        raise ValueError(f"upsample_time expects (batch, channels, length), got shape {tuple(z.shape)}")
    return z.repeat_interleave(int(factor), dim=-1) if mode == "repeat_interleave" else z.repeat(1, 1, int(factor))


def refine(raw: Sequence[Tensor], mode: str = "repeat_interleave") -> list[Tensor]:
    """Coarse-to-fine residual latents: h~1 = h1, h~k = hk + upsample_time(h~(k-1), 2, mode)."""
    if len(raw) == 0:
        raise ValueError("refine needs at least one level")
    out = [raw[0]]
    for k in range(1, len(raw)):
        expected = (*out[-1].shape[:2], 2 * out[-1].shape[-1])
        if tuple(raw[k].shape) != expected:
            raise ValueError(f"refine: level {k + 1} must have shape {expected} (twice as long as level {k}), "
                             f"got {tuple(raw[k].shape)}")
        out.append(raw[k] + upsample_time(out[-1], 2, mode))
    return out


def level_dropout(latents: Sequence[Tensor], p: float, generator: torch.Generator | None = None) -> list[Tensor]:
    """Zero each level of each example independently with probability p (per example, per level).

    p = 0 returns the inputs unchanged. The keep/drop draws are made on the generator's device (CPU by default).
    """
    probability("p", p)
    latents = list(latents)
    if p == 0 or not latents:
        return latents
    sizes = {z.shape[0] for z in latents}
    if len(sizes) != 1:
        raise ValueError(f"level_dropout: every level needs the same batch size, got {[z.shape[0] for z in latents]}")
    n = sizes.pop()
    where = generator.device if generator is not None else torch.device("cpu")
    out = []
    for z in latents:
        keep = torch.rand(n, generator=generator, device=where) >= p
        out.append(z * keep.to(device=z.device, dtype=z.dtype).reshape(n, *([1] * (z.dim() - 1))))
    return out


# ---------------------------------------------------------------------------------------------------- encoders

class ConvBlock1d(nn.Module):
    """Residual block of the encoders: (GroupNorm, SiLU, conv k=3) twice, plus the input."""

    def __init__(self, channels: int, groups: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(group_norm(channels, groups), nn.SiLU(), nn.Conv1d(channels, channels, 3, padding=1),
                                  group_norm(channels, groups), nn.SiLU(), nn.Conv1d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, L) -> (B, C, L)."""
        return x + self.body(x)


def _down(in_ch: int, out_ch: int) -> nn.Conv1d:
    return nn.Conv1d(in_ch, out_ch, 3, stride=2, padding=1)


def _check_sizes(name: str, n_mels: int, latent_channels: int, channels: Sequence[int]) -> tuple[int, ...]:
    channels = tuple(channels)
    ok = is_int(n_mels) and n_mels >= 1 and is_int(latent_channels) and latent_channels >= 1
    if not ok or len(channels) != N_LEVELS or not all(is_int(c) and c >= 1 for c in channels):
        raise ValueError(f"{name}: n_mels and latent_channels must be positive integers and channels three of them, "
                         f"got n_mels={n_mels!r}, latent_channels={latent_channels!r}, channels={channels}")
    return channels


def _check_input(x: Tensor, n_mels: int, divisor: int, name: str) -> None:
    if x.dim() != 3 or x.shape[1] != n_mels or x.shape[2] % divisor or x.shape[2] == 0:
        raise ValueError(f"{name} expects x of shape (batch, {n_mels}, T) with T a positive multiple of {divisor}, "
                         f"got {tuple(x.shape)}")


class HDAEEncoder(nn.Module):
    """HDAE baseline: ONE encoder, codes taken at three depths (T/2, T/4, T/8) by 1x1 conv + tanh.

    conv_in (n_mels -> channels[0]) at length T, then three stages, each a stride-2 conv to channels[i] and a
    ConvBlock1d; stage i's output (length T / 2^(i+1)) gives a code. Returns [h1 (T/8), h2 (T/4), h3 (T/2)].
    """

    def __init__(self, n_mels: int = 64, latent_channels: int = 8, channels: Sequence[int] = (64, 128, 128),
                 groups: int = 8) -> None:
        super().__init__()
        channels = _check_sizes("HDAEEncoder", n_mels, latent_channels, channels)
        self.n_mels, self.latent_channels = int(n_mels), int(latent_channels)
        self.conv_in = nn.Conv1d(n_mels, channels[0], 3, padding=1)
        self.stages = nn.ModuleList()
        self.heads = nn.ModuleList()
        prev = channels[0]
        for c in channels:
            self.stages.append(nn.Sequential(_down(prev, c), ConvBlock1d(c, groups)))
            self.heads.append(nn.Conv1d(c, latent_channels, 1))
            prev = c

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, n_mels, T) -> [h1 (B, latent, T/8), h2 (B, latent, T/4), h3 (B, latent, T/2)]."""
        _check_input(x, self.n_mels, 8, "HDAEEncoder")
        h, codes = self.conv_in(x), []
        for stage, head in zip(self.stages, self.heads):
            h = stage(h)
            codes.append(torch.tanh(head(h)))
        return codes[::-1]


class LevelEncoder(nn.Module):
    """One encoder of the multi-scale model: conv k=3, stride-2 conv, ConvBlock1d, 1x1 conv, tanh.

    (B, in_channels, L) -> (B, latent_channels, L / 2).
    """

    def __init__(self, in_channels: int, width: int, latent_channels: int, groups: int = 8) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.net = nn.Sequential(nn.Conv1d(in_channels, width, 3, padding=1), _down(width, width),
                                 ConvBlock1d(width, groups), nn.Conv1d(width, latent_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, L) -> (B, latent_channels, L / 2), in [-1, 1]."""
        return torch.tanh(self.net(x))


class MultiScaleEncoder(nn.Module):
    """Paper 004's three encoders: E1(x1) -> h1 (T/8), E2(x2) -> h2 (T/4), E3(x3) -> h3 (T/2).

    x3 = x (n_mels x T); x2 = x average-pooled 2 x 2 in frequency and time (n_mels/2 x T/2); x1 pooled 4 x 4
    (n_mels/4 x T/4). Widths: E3 channels[0], E2 channels[1], E1 channels[2] (the same width per latent length
    as in HDAEEncoder). Attributes e1, e2, e3 are the three LevelEncoders (frozen one by one in progressive training).
    """

    def __init__(self, n_mels: int = 64, latent_channels: int = 8, channels: Sequence[int] = (64, 128, 128),
                 groups: int = 8) -> None:
        super().__init__()
        channels = _check_sizes("MultiScaleEncoder", n_mels, latent_channels, channels)
        if n_mels % 4:
            raise ValueError(f"MultiScaleEncoder: n_mels must be divisible by 4 (pooled 4x), got {n_mels}")
        self.n_mels, self.latent_channels = int(n_mels), int(latent_channels)
        self.e1 = LevelEncoder(n_mels // 4, channels[2], latent_channels, groups)
        self.e2 = LevelEncoder(n_mels // 2, channels[1], latent_channels, groups)
        self.e3 = LevelEncoder(n_mels, channels[0], latent_channels, groups)

    @staticmethod
    def pyramid(x: Tensor) -> list[Tensor]:
        """[x1, x2, x3]: x pooled 4 x 4, 2 x 2 (frequency x time) and x itself."""
        img = x.unsqueeze(1)
        return [F.avg_pool2d(img, 4).squeeze(1), F.avg_pool2d(img, 2).squeeze(1), x]

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, n_mels, T) -> [h1 (B, latent, T/8), h2 (B, latent, T/4), h3 (B, latent, T/2)]."""
        _check_input(x, self.n_mels, 8, "MultiScaleEncoder")
        x1, x2, x3 = self.pyramid(x)
        return [self.e1(x1), self.e2(x2), self.e3(x3)]


# ------------------------------------------------------------------------------------------------------- model

class HierarchicalDiffusionAE(nn.Module):
    """Hierarchical diffusion autoencoder (kind="multiscale", paper 004) or the HDAE baseline ("hdae").

    encode(x)["raw"] = [h1, h2, h3] (coarse to fine); the EDM decoder is conditioned through `conditions(raw)`:
    refinement (multiscale only), stage masking, level dropout (training only), x2 upsampling in time and placement
    at U-Net levels 2, 1, 0 (lengths T/4, T/2, T). U-Net levels deeper than 2 get no condition.

    Notebook: 09_hierarchical_diffusion
    """

    def __init__(self, kind: str = "multiscale", n_mels: int = 64, n_frames: int = 32, latent_channels: int = 8,
                 enc_channels: Sequence[int] = (64, 128, 128), unet_channels: Sequence[int] = (64, 128, 128, 128),
                 sigma_data: float = 0.5, upsample_mode: str = "repeat_interleave", p_level_dropout: float = 0.14,
                 emb_dim: int = 128, dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if upsample_mode not in UPSAMPLE_MODES:
            raise ValueError(f"upsample_mode must be one of {UPSAMPLE_MODES}, got {upsample_mode!r}")
        probability("p_level_dropout", p_level_dropout)
        if not is_int(n_frames) or n_frames < 8 or n_frames % 8:
            raise ValueError(f"n_frames must be a positive multiple of 8 (latents of T/8, T/4, T/2), got {n_frames!r}")
        unet_channels = tuple(unet_channels)
        if len(unet_channels) < N_LEVELS:
            raise ValueError(f"unet_channels needs at least {N_LEVELS} levels (lengths T, T/2, T/4), "
                             f"got {unet_channels}")
        if n_frames % 2 ** (len(unet_channels) - 1):
            raise ValueError(f"n_frames = {n_frames} must be divisible by 2^(U-Net levels - 1) = "
                             f"{2 ** (len(unet_channels) - 1)}")
        self.kind, self.upsample_mode, self.p_level_dropout = kind, upsample_mode, float(p_level_dropout)
        self.n_mels, self.n_frames, self.latent_channels = int(n_mels), int(n_frames), int(latent_channels)
        self.sigma_data = float(sigma_data)
        encoder = MultiScaleEncoder if kind == "multiscale" else HDAEEncoder
        self.encoder = encoder(n_mels, latent_channels, enc_channels, groups)
        cond_channels = (latent_channels,) * N_LEVELS + (0,) * (len(unet_channels) - N_LEVELS)
        self.unet = UNet1d(n_mels, unet_channels, emb_dim=emb_dim, cond_channels=cond_channels, dropout=dropout,
                           groups=groups)
        self.denoiser = EDMDenoiser(self.unet, sigma_data)
        self.stage = N_LEVELS

    # ------------------------------------------------------------------ shapes and progressive training

    @property
    def latent_shapes(self) -> list[tuple[int, int]]:
        """(channels, length) of h1, h2, h3."""
        return [(self.latent_channels, self.n_frames // 2 ** (N_LEVELS - k)) for k in range(N_LEVELS)]

    def set_stage(self, stage: int) -> None:
        """Progressive training (multiscale): stage s uses levels 1..s; only E_s and the U-Net train.

        Stage 1: E1 trainable; E2, E3 unused and frozen. Stage 2: E1 frozen, E2 trainable. Stage 3: E1, E2 frozen,
        E3 trainable. The U-Net trains in every stage. HDAE has no stages: only set_stage(3) (all trainable) is valid.

        Notebook: 09_hierarchical_diffusion
        """
        if not is_int(stage) or not 1 <= stage <= N_LEVELS:
            raise ValueError(f"stage must be 1, 2 or 3, got {stage!r}")
        if self.kind == "hdae" and stage != N_LEVELS:
            raise ValueError(f"kind='hdae' always uses all levels (stage 3), got stage {stage}")
        self.unet.requires_grad_(True)
        if self.kind == "hdae":
            self.encoder.requires_grad_(True)
        else:
            for k, enc in enumerate((self.encoder.e1, self.encoder.e2, self.encoder.e3), start=1):
                enc.requires_grad_(k == stage)
        self.stage = int(stage)

    # ------------------------------------------------------------------ encoding and conditions

    def _check_x(self, x: Tensor) -> None:
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.n_mels, self.n_frames):
            raise ValueError(f"expected x of shape (batch, {self.n_mels}, {self.n_frames}), got {tuple(x.shape)}")

    def encode(self, x: Tensor) -> dict[str, list[Tensor]]:
        """Dict(raw=[h1, h2, h3], refined=[h~1, h~2, h~3]); for hdae refined is raw.

        Notebook: 09_hierarchical_diffusion
        """
        self._check_x(x)
        raw = self.encoder(x)
        refined = refine(raw, self.upsample_mode) if self.kind == "multiscale" else list(raw)
        return {"raw": raw, "refined": refined}

    def conditions(self, raw: Sequence[Tensor], generator: torch.Generator | None = None,
                   drop: bool | None = None) -> list[Tensor | None]:
        """The U-Net conditions from raw latents [h1, h2, h3], one entry per U-Net level.

        Refine (multiscale), zero the levels above the current stage, drop active levels with probability
        p_level_dropout (only if drop, which defaults to self.training), upsample x2 in time with upsample_mode,
        and place h3, h2, h1 at U-Net levels 0, 1, 2 (None for deeper levels).
        """
        raw = list(raw)
        if len(raw) != N_LEVELS:
            raise ValueError(f"expected {N_LEVELS} latent levels [h1, h2, h3], got {len(raw)}")
        b = raw[0].shape[0]
        for k, (z, (c, n)) in enumerate(zip(raw, self.latent_shapes), start=1):
            if tuple(z.shape) != (b, c, n):
                raise ValueError(f"latent level {k}: expected shape {(b, c, n)}, got {tuple(z.shape)}")
        lat = refine(raw, self.upsample_mode) if self.kind == "multiscale" else raw
        lat = [z if k < self.stage else torch.zeros_like(z) for k, z in enumerate(lat)]
        if (self.training if drop is None else drop) and self.p_level_dropout > 0:
            lat = level_dropout(lat[:self.stage], self.p_level_dropout, generator) + lat[self.stage:]
        ups = [upsample_time(z, 2, self.upsample_mode) for z in lat]
        return ups[::-1] + [None] * (self.unet.n_levels - N_LEVELS)

    # ------------------------------------------------------------------ training

    def loss(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """EDM denoising loss of x0 given the conditions from encode(x0) (the paper's only loss)."""
        conds = self.conditions(self.encode(x0)["raw"], generator)
        return edm_loss(self.denoiser, x0, generator=generator, sigma_data=self.sigma_data, cond=(conds,))

    def forward(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Same as loss(x0, generator), so that DistributedDataParallel sees a forward call."""
        return self.loss(x0, generator)

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def decode(self, raw_latents: Sequence[Tensor], n_steps: int = 18, generator: torch.Generator | None = None,
               sampler: str = "heun") -> Tensor:
        """Sample (B, n_mels, n_frames) from karras_sigmas(n_steps) given raw [h1, h2, h3] (eval mode).

        Refinement is recomputed here, so a level swap is decode([h1_a, h2_b, h3_a]). The start noise is drawn
        with `generator` on the generator's device (CPU by default).

        Notebook: 09_hierarchical_diffusion
        """
        if sampler not in ("heun", "euler"):
            raise ValueError(f"sampler must be 'heun' or 'euler', got {sampler!r}")
        with evaluating(self):
            device = next(self.parameters()).device
            conds = self.conditions([z.to(device) for z in raw_latents], drop=False)
            shape = (raw_latents[0].shape[0], self.n_mels, self.n_frames)
            sigmas = karras_sigmas(n_steps)
            where = generator.device if generator is not None else device
            x_init = (sigmas[0] * torch.randn(shape, generator=generator, device=where)).to(device)
            sample = sample_heun if sampler == "heun" else sample_euler
            return sample(lambda x, s: self.denoiser(x, s, conds), shape, sigmas, device=device, x_init=x_init)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, n_steps: int = 18, generator: torch.Generator | None = None,
                    sampler: str = "heun") -> Tensor:
        """Decode(encode(x)["raw"]) in eval mode. Notebook: 06_lstm_vae_melodies."""
        with evaluating(self):
            return self.decode(self.encode(x)["raw"], n_steps, generator, sampler)


def loss_fn(model: nn.Module, batch: Sequence[Tensor], state: object = None) -> Tensor:
    """The course_lib.train LossFn of HierarchicalDiffusionAE: model(batch[0]) = EDM loss (global RNG).

    Notebook: 09_hierarchical_diffusion
    """
    return model(batch[0])


# -------------------------------------------------------------------------------------------- clip classifier

class ClipClassifier(nn.Module):
    """Small conv net on log-mel clips with one linear head per attribute (to score swaps and FD).

    conv_in (n_mels -> channels[0]), then per width a stride-2 conv and a ConvBlock1d; the flattened map goes
    through Linear + SiLU to `feature_dim` features (kept time-ordered, so melody and rhythm stay readable), then
    dropout and one head per attribute.

    Notebook: 09_hierarchical_diffusion
    """

    def __init__(self, n_mels: int = 64, n_frames: int = 32, n_classes: Mapping[str, int] | None = None,
                 channels: Sequence[int] = (32, 64), feature_dim: int = 128, dropout: float = 0.1,
                 groups: int = 8) -> None:
        super().__init__()
        n_classes = dict(n_classes or {})
        if not n_classes or not all(isinstance(k, str) and is_int(v) and v >= 1 for k, v in n_classes.items()):
            raise ValueError(f"n_classes must map attribute names to positive class counts, got {n_classes}")
        channels = tuple(channels)
        if not channels or not all(is_int(c) and c >= 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels}")
        div = 2 ** len(channels)
        if not is_int(n_frames) or n_frames < div or n_frames % div:
            raise ValueError(f"n_frames must be a positive multiple of 2^len(channels) = {div}, got {n_frames!r}")
        probability("dropout", dropout)
        self.n_mels, self.n_frames, self.n_classes = int(n_mels), int(n_frames), n_classes
        layers: list[nn.Module] = [nn.Conv1d(n_mels, channels[0], 3, padding=1)]
        prev = channels[0]
        for c in channels:
            layers += [_down(prev, c), ConvBlock1d(c, groups)]
            prev = c
        layers += [group_norm(prev, groups), nn.SiLU(), nn.Flatten(), nn.Linear(prev * n_frames // div, feature_dim),
                   nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.feature_dim = int(feature_dim)
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(feature_dim, n) for name, n in n_classes.items()})

    def features(self, x: Tensor) -> Tensor:
        """(B, n_mels, n_frames) -> (B, feature_dim) penultimate features (e.g. for a Frechet distance).

        Notebook: 09_hierarchical_diffusion
        """
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.n_mels, self.n_frames):
            raise ValueError(f"expected x of shape (batch, {self.n_mels}, {self.n_frames}), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """(B, n_mels, n_frames) -> {attribute: logits (B, n_classes[attribute])}."""
        h = self.drop(self.features(x))
        return {name: head(h) for name, head in self.heads.items()}


def classifier_loss(model: nn.Module, batch: Sequence[Tensor], state: object = None) -> Tensor:
    """Batch = (x, y_1, ..., y_n) in the order of n_classes' keys: the sum of the cross-entropies.

    Notebook: 09_hierarchical_diffusion
    """
    names = list(getattr(model, "module", model).n_classes)
    x, *ys = batch
    if len(ys) != len(names):
        raise ValueError(f"batch needs x and one label tensor per attribute {names}, got {len(ys)} label tensors")
    logits = model(x)
    return sum(F.cross_entropy(logits[name], y.long()) for name, y in zip(names, ys))
