"""Features the models see: a Standardizer that maps features to zero mean and a chosen spread and back, and
fixed-size log-mel spectrograms computed in batches.

Notebook: 03_spectrogram_autoencoders (per-channel statistics), 04_variational_autoencoders (one global mean and
standard deviation), 08_diffusion_basics (scaled to EDM's sigma_data = 0.5).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from . import audio
from .checks import positive_int, positive_real


class Standardizer(nn.Module):
    """(x - mean) / std * target_std, and its inverse; the statistics are buffers, so they travel with a model."""

    def __init__(self, mean: torch.Tensor | float, std: torch.Tensor | float, target_std: float = 1.0):
        super().__init__()
        self.target_std = positive_real("target_std", target_std)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).clone())
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).clone())
        # a target other than 1 is applied as one factor, target_std / std, computed in double precision
        self.register_buffer("scale", (self.target_std / self.std.double()).float())

    @classmethod
    def fit(cls, x: torch.Tensor, dims: Sequence[int] | None = None, target_std: float = 1.0) -> "Standardizer":
        """Statistics of a training set: over every element (dims=None) or over `dims`, kept as broadcastable shapes."""
        x = x.detach()
        if dims is None:
            return cls(x.mean(), x.std(), target_std)
        dims = tuple(dims)
        return cls(x.mean(dim=dims, keepdim=True), x.std(dim=dims, keepdim=True), target_std)

    @classmethod
    def identity(cls, shape: Sequence[int] = ()) -> "Standardizer":
        """A Standardizer that changes nothing (mean 0, std 1) with statistics of the given broadcastable shape."""
        return cls(torch.zeros(tuple(shape)), torch.ones(tuple(shape)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise: (x - mean) / std, or (x - mean) * target_std / std."""
        if self.target_std == 1.0:
            return (x - self.mean) / self.std
        return (x - self.mean) * self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Back to the raw features: y * std + mean, or y / (target_std / std) + mean."""
        if self.target_std == 1.0:
            return y * self.std + self.mean
        return y / self.scale + self.mean

    def extra_repr(self) -> str:
        return f"shape={tuple(self.mean.shape)}, target_std={self.target_std:g}"


def log_mel_frames(x: torch.Tensor, sample_rate: int, n_fft: int, hop: int, n_mels: int, n_frames: int,
                   batch_size: int = 256, device: torch.device | str | None = None) -> torch.Tensor:
    """Log-mel spectrograms (N, n_mels, n_frames) of waveforms (N, samples) by audio.log_mel, in batches.

    Each batch is moved to `device` (default: where x is) before its STFT; the centred STFT's extra frames are
    dropped and a short result is padded by repeating its last frame.
    """
    n_mels, n_frames = positive_int("n_mels", n_mels), positive_int("n_frames", n_frames)
    batch_size = positive_int("batch_size", batch_size)
    if x.dim() != 2:
        raise ValueError(f"x must be (N, samples), got shape {tuple(x.shape)}")
    out = []
    for a in range(0, len(x), batch_size):
        xb = x[a:a + batch_size]
        if device is not None:
            xb = xb.to(device)
        mel = audio.log_mel(xb, sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels)
        if mel.shape[-1] < n_frames:
            mel = nn.functional.pad(mel, (0, n_frames - mel.shape[-1]), mode="replicate")
        out.append(mel[..., :n_frames])
    return torch.cat(out) if out else torch.zeros((0, n_mels, n_frames), device=device or x.device)
