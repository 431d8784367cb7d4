"""Raw denoising networks F(x, c_noise, ...) for EDM.

Both networks are the F inside `course_lib.diffusion.EDMDenoiser`, which calls F(c_in x, c_noise, *cond) with
c_noise = ln(sigma) / 4 of shape (batch,). The noise level enters through `NoiseEmbedding`: fixed sinusoidal
features of c_noise (geometric frequencies from 1 to `max_freq` radians per unit of c_noise, which suits
c_noise in about [-1.6, 1.1] for sigma in [0.002, 80]) followed by a two-layer MLP.

- `MLPDenoiser`: for 2-D toy data (B, dim); the noise embedding is concatenated to the input of an MLP.
- `UNet1d`: a 1-D U-Net over time for log-mel spectrograms (B, in_channels = mel bins, T = frames). Resolution
  level k has length T / 2^k and width channels[k]. Every residual block normalises with GroupNorm whose scale and
  shift are predicted from the noise embedding (adaptive group norm, as in paper 004's decoder):
  h = conv(SiLU(GN(x) (1 + s1) + b1)), h = conv(dropout(SiLU(GN(h) (1 + s2) + b2))), out = skip(x) + h.

Conditioning in UNet1d (Chapter 09): `cond_channels[k]` channels arrive at level k as a tensor
(B, cond_channels[k], T / 2^k). They are CONCATENATED to the input of the decoder block of level k: the block's
input is widened, so its 1x1 residual projection and its first conv see them. The decoder block of the deepest
level is the bottleneck (it follows the deepest encoder block directly), so the deepest level's condition enters
at the bottleneck. Skip connections are additive (h + skip_k), which keeps the cost low on a CPU. A level with
cond_channels[k] > 0 that is given None gets zeros: that is how a dropped level looks.
The last conv is zero-initialised, so a fresh UNet1d outputs zeros (D = c_skip x).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import is_int, positive_int, probability


def group_norm(channels: int, groups: int, affine: bool = True) -> nn.GroupNorm:
    """GroupNorm with gcd(groups, channels) groups, so any width works (a widened block input may be odd)."""
    return nn.GroupNorm(math.gcd(groups, channels), channels, affine=affine)


def _noise_batch(c_noise: Tensor | float, x: Tensor) -> Tensor:
    """c_noise as a (batch,) tensor of x's dtype and device; a scalar is broadcast to the batch."""
    c = torch.as_tensor(c_noise, dtype=x.dtype, device=x.device)
    if c.dim() == 0:
        c = c.expand(x.shape[0])
    if c.shape != (x.shape[0],):
        raise ValueError(f"c_noise must be a scalar or have shape (batch,) = ({x.shape[0]},), got {tuple(c.shape)}")
    return c


class NoiseEmbedding(nn.Module):
    """C_noise (B,) -> (B, dim): sinusoidal features at geometric frequencies 1..max_freq, then an MLP."""

    def __init__(self, dim: int, max_freq: float = 100.0) -> None:
        super().__init__()
        if not is_int(dim) or dim < 2 or dim % 2:
            raise ValueError(f"embedding dim must be an even integer >= 2, got {dim!r}")
        self.dim = int(dim)
        self.register_buffer("freqs", torch.logspace(0, math.log10(max_freq), dim // 2), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, c_noise: Tensor) -> Tensor:
        """(B,) -> (B, dim)."""
        angles = c_noise.reshape(-1, 1).to(self.freqs.dtype) * self.freqs
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1).to(c_noise.dtype))


class MLPDenoiser(nn.Module):
    """Raw network F(x, c_noise) for toy data (B, dim): MLP on [x, embedding(c_noise)].

    Notebook: 08_diffusion_basics
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, emb_dim: int = 32) -> None:
        super().__init__()
        bad = {k: v for k, v in {"dim": dim, "hidden": hidden, "layers": layers}.items() if not is_int(v) or v < 1}
        if bad:
            raise ValueError(f"MLPDenoiser sizes must be positive integers, got {bad}")
        self.dim = int(dim)
        self.embed = NoiseEmbedding(emb_dim)
        blocks: list[nn.Module] = []
        width = dim + emb_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        blocks.append(nn.Linear(width, dim))
        self.mlp = nn.Sequential(*blocks)

    def forward(self, x: Tensor, c_noise: Tensor | float) -> Tensor:
        """(B, dim), c_noise scalar or (B,) -> (B, dim)."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MLPDenoiser expects x of shape (batch, {self.dim}), got {tuple(x.shape)}")
        return self.mlp(torch.cat([x, self.embed(_noise_batch(c_noise, x))], dim=1))


class ResBlock1d(nn.Module):
    """Residual block with adaptive GroupNorm (scale and shift from the noise embedding), SiLU, conv k=3."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        self.norm1, self.norm2 = group_norm(in_ch, groups, affine=False), group_norm(out_ch, groups, affine=False)
        self.affine1 = nn.Linear(emb_dim, 2 * in_ch)
        self.affine2 = nn.Linear(emb_dim, 2 * out_ch)
        self.conv1 = nn.Conv1d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv1d(out_ch, out_ch, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    @staticmethod
    def _modulate(h: Tensor, norm: nn.GroupNorm, affine: nn.Linear, emb: Tensor) -> Tensor:
        scale, shift = affine(emb).unsqueeze(-1).chunk(2, dim=1)
        return F.silu(torch.addcmul(shift, norm(h), scale + 1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """(B, in_ch, L), emb (B, emb_dim) -> (B, out_ch, L)."""
        h = self.conv1(self._modulate(x, self.norm1, self.affine1, emb))
        h = self.conv2(self.drop(self._modulate(h, self.norm2, self.affine2, emb)))
        return self.skip(x) + h


class UNet1d(nn.Module):
    """1-D U-Net F(x, c_noise, cond=None) over (B, in_channels, T), with per-level concatenated conditions.

    Encoder: conv_in, then per level k a ResBlock to width channels[k] (its output is skip_k) and, except at the
    deepest level, a stride-2 conv. Decoder, k = deepest..0: ResBlock on [h + skip_k, cond_k] -> channels[k] (at the
    deepest level, the bottleneck, on [h, cond_k]), then (k > 0) nearest x2 + conv k=3 to channels[k - 1].
    Output: GroupNorm, SiLU, zero-initialised conv k=3 back to in_channels. One ResBlock per level and path.

    Notebook: 08_diffusion_basics
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (64, 128, 256), emb_dim: int = 128,
                 cond_channels: Sequence[int] | None = None, dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        channels = tuple(channels)
        if not channels or not all(is_int(c) and c >= 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels}")
        positive_int("in_channels", in_channels)
        positive_int("groups", groups)
        probability("dropout", dropout)
        n = len(channels)
        cond_channels = (0,) * n if cond_channels is None else tuple(cond_channels)
        if len(cond_channels) != n or not all(is_int(c) and c >= 0 for c in cond_channels):
            raise ValueError(f"cond_channels must have one non-negative integer per level ({n}), got {cond_channels}")
        self.in_channels, self.channels, self.cond_channels = int(in_channels), channels, cond_channels
        self.n_levels, self.divisor = n, 2 ** (n - 1)
        self.embed = NoiseEmbedding(emb_dim)
        self.conv_in = nn.Conv1d(in_channels, channels[0], 3, padding=1)
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        prev = channels[0]
        for k, c in enumerate(channels):
            self.enc.append(ResBlock1d(prev, c, emb_dim, dropout, groups))
            if k < n - 1:
                self.down.append(nn.Conv1d(c, c, 3, stride=2, padding=1))
            prev = c
        self.dec = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in reversed(range(n)):  # dec[0] is the deepest level: the bottleneck
            self.dec.append(ResBlock1d(channels[k] + cond_channels[k], channels[k], emb_dim, dropout, groups))
            if k > 0:
                self.up.append(nn.Conv1d(channels[k], channels[k - 1], 3, padding=1))
        self.norm_out = group_norm(channels[0], groups)
        self.conv_out = nn.Conv1d(channels[0], in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _check(self, x: Tensor, cond: Sequence[Tensor | None] | None) -> list[Tensor | None]:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet1d expects x of shape (batch, {self.in_channels}, T), got {tuple(x.shape)}")
        b, _, t = x.shape
        if t % self.divisor:
            raise ValueError(f"UNet1d: T = {t} must be divisible by 2^(levels - 1) = {self.divisor}")
        if cond is None:
            cond = [None] * self.n_levels
        cond = list(cond)
        if len(cond) != self.n_levels:
            raise ValueError(f"cond must have one entry per level ({self.n_levels}), got {len(cond)}")
        out: list[Tensor | None] = []
        for k, (c, width) in enumerate(zip(cond, self.cond_channels)):
            expected = (b, width, t // 2 ** k)
            if width == 0:
                if c is not None:
                    raise ValueError(f"cond at level {k}: this level takes no condition (cond_channels[{k}] = 0), "
                                     f"got shape {tuple(c.shape)}")
                out.append(None)
            elif c is None:
                out.append(x.new_zeros(expected))
            elif tuple(c.shape) != expected:
                raise ValueError(f"cond at level {k}: expected shape {expected}, got {tuple(c.shape)}")
            else:
                out.append(c.to(x.dtype))
        return out

    def forward(self, x: Tensor, c_noise: Tensor | float, cond: Sequence[Tensor | None] | None = None) -> Tensor:
        """(B, in_channels, T), c_noise scalar or (B,), cond per level or None -> (B, in_channels, T)."""
        conds = self._check(x, cond)
        emb = self.embed(_noise_batch(c_noise, x))

        h = self.conv_in(x)
        skips = []
        for k, block in enumerate(self.enc):
            h = block(h, emb)
            skips.append(h)
            if k < self.n_levels - 1:
                h = self.down[k](h)
        for i, k in enumerate(reversed(range(self.n_levels))):
            h = h if k == self.n_levels - 1 else h + skips[k]  # the deepest level has no separate skip
            h = self.dec[i](h if conds[k] is None else torch.cat([h, conds[k]], dim=1), emb)
            if k > 0:
                h = self.up[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))
