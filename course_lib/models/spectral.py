"""Paper 002's convolutional autoencoder on 2-D spectrograms, plain (Chapter 03) and variational / conditional.

Input (B, C, H, W): C feature channels (2 for paper 002's magnitude + phase), H frequency rows, W frames.
Encoder: Conv2d(3x3, stride 2, padding 1) + ReLU + BatchNorm per layer (2 -> 16 -> 32 -> 64 in the paper),
Flatten, Linear -> latent. Decoder: the mirror, ConvTranspose2d(3x3, stride 2, padding 1) without
output_padding, so every layer gives 2h - 1 rows; the last output is cropped or padded ("zero", "hold"
or "reflect") to the input size, as the thesis did. `final_relu=True` reproduces the thesis's last
ReLU, which makes every negative target value (half of all phase values) unreachable.

At in_shape (2, 1500, 251), latent 200 the two Linear layers hold 77 M parameters each: build on the
meta device (`with torch.device("meta"): ...`) to count without allocating.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import reparameterize

FITS = ("zero", "hold", "reflect")
_PAD_MODE = {"zero": "constant", "hold": "replicate", "reflect": "reflect"}


def encoder_size(n: int) -> int:
    """Conv2d(k3, s2, p1) output size along one axis: floor((n + 2 - 3) / 2) + 1 = ceil(n / 2)."""
    if n < 1:
        raise ValueError(f"size must be >= 1, got {n}")
    return (n - 1) // 2 + 1


def decoder_size(n: int) -> int:
    """ConvTranspose2d(k3, s2, p1, output_padding 0) output size: (n - 1) * 2 - 2 + 3 = 2n - 1."""
    if n < 1:
        raise ValueError(f"size must be >= 1, got {n}")
    return 2 * n - 1


def spectral_shapes(size: int, n_layers: int = 3) -> dict[str, list[int] | int]:
    """Sizes along one axis: encoder [n, ...], decoder [..., out] and the rows to pad (>0) or crop (<0).

    Paper 002 (n_fft 1500): 1500 -> 750 -> 375 -> 188 -> 375 -> 749 -> 1497, so 3 rows are padded.

    Notebook: 03_spectrogram_autoencoders
    """
    enc = [int(size)]
    for _ in range(n_layers):
        enc.append(encoder_size(enc[-1]))
    dec = [enc[-1]]
    for _ in range(n_layers):
        dec.append(decoder_size(dec[-1]))
    return {"encoder": enc, "decoder": dec, "pad": enc[0] - dec[-1]}


def fit_to(x: torch.Tensor, height: int, width: int, mode: str = "zero") -> torch.Tensor:
    """Crop or pad the last two dims of x to (height, width); padding 'zero', 'hold' (edge) or 'reflect'.

    Notebook: 03_spectrogram_autoencoders
    """
    if mode not in FITS:
        raise ValueError(f"fit mode must be one of {FITS}, got {mode!r}")
    x = x[..., :height, :width]
    ph, pw = height - x.shape[-2], width - x.shape[-1]
    if ph or pw:
        if mode == "reflect" and (ph >= x.shape[-2] or pw >= x.shape[-1]):
            raise ValueError(f"reflect padding by ({ph}, {pw}) needs more than that many rows/columns, "
                             f"got {tuple(x.shape[-2:])}; use 'zero' or 'hold'")
        x = F.pad(x, (0, pw, 0, ph), mode=_PAD_MODE[mode])
    return x


class SpectrogramAE(nn.Module):
    """Paper 002's 2-D conv autoencoder; `variational=True` gives its VAE. Notebook: 03_spectrogram_autoencoders.

    forward(x, c=None) returns x_hat for the autoencoder and (x_hat, mu, logvar) for the VAE. With
    `n_conditions` > 0 a condition vector c (B, n_conditions), e.g. one-hot family and pitch, is
    appended to the encoder's features and to z (a conditional VAE).
    """

    def __init__(self, in_shape: Sequence[int] = (2, 1500, 251), channels: Sequence[int] = (16, 32, 64),
                 latent: int = 200, batchnorm: bool = True, final_relu: bool = False, fit: str = "zero",
                 variational: bool = False, n_conditions: int = 0) -> None:
        super().__init__()
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise ValueError(f"in_shape must be (channels, height, width) with positive sizes, got {tuple(in_shape)}")
        if not channels or min(channels) < 1 or latent < 1 or n_conditions < 0:
            raise ValueError(f"channels and latent must be positive, got channels={tuple(channels)}, latent={latent}")
        if fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
        self.in_shape = tuple(int(s) for s in in_shape)
        self.channels, self.latent = tuple(int(c) for c in channels), int(latent)
        self.variational, self.n_conditions, self.fit = variational, int(n_conditions), fit
        c_in, h, w = self.in_shape
        self.shapes = {"height": spectral_shapes(h, len(self.channels)), "width": spectral_shapes(w, len(self.channels))}
        hb, wb = self.shapes["height"]["encoder"][-1], self.shapes["width"]["encoder"][-1]
        self.bottleneck = (self.channels[-1], hb, wb)
        self.n_flat = self.channels[-1] * hb * wb
        ch = (c_in, *self.channels)

        def norm(n: int) -> nn.Module:
            return nn.BatchNorm2d(n) if batchnorm else nn.Identity()

        enc: list[nn.Module] = []
        for a, b in zip(ch[:-1], ch[1:]):
            enc += [nn.Conv2d(a, b, 3, 2, 1), nn.ReLU(), norm(b)]
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        n_head = self.n_flat + self.n_conditions
        self.to_latent = nn.Linear(n_head, self.latent)
        self.to_logvar = nn.Linear(n_head, self.latent) if variational else None
        self.from_latent = nn.Sequential(nn.Linear(self.latent + self.n_conditions, self.n_flat), nn.ReLU(),
                                         nn.Unflatten(1, self.bottleneck))
        dec: list[nn.Module] = []
        for i in reversed(range(len(self.channels))):
            dec.append(nn.ConvTranspose2d(ch[i + 1], ch[i], 3, 2, 1))
            if i > 0:
                dec += [nn.ReLU(), norm(ch[i])]
        if final_relu:
            dec.append(nn.ReLU())
        self.decoder = nn.Sequential(*dec)

    def _check(self, x: torch.Tensor, c: torch.Tensor | None) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"SpectrogramAE expects (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        self._check_c(c, x.shape[0])

    def _check_c(self, c: torch.Tensor | None, batch: int) -> None:
        if self.n_conditions and (c is None or tuple(c.shape) != (batch, self.n_conditions)):
            got = None if c is None else tuple(c.shape)
            raise ValueError(f"this model is conditional: pass c of shape ({batch}, {self.n_conditions}), got {got}")
        if not self.n_conditions and c is not None:
            raise ValueError("this model has no conditions (n_conditions=0) but c was given")

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """X (B, C, H, W) -> z (B, latent); for the VAE (mu, logvar), each (B, latent).

        Notebook: 04_variational_autoencoders
        """
        self._check(x, c)
        h = self.encoder(x)
        if c is not None:
            h = torch.cat([h, c.to(h.dtype)], dim=1)
        if self.variational:
            return self.to_latent(h), self.to_logvar(h)
        return self.to_latent(h)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Z (B, latent) -> x_hat (B, C, H, W), cropped or padded to the input size.

        Notebook: 04_variational_autoencoders
        """
        self._check_c(c, z.shape[0])
        if c is not None:
            z = torch.cat([z, c.to(z.dtype)], dim=1)
        _, h, w = self.in_shape
        return fit_to(self.decoder(self.from_latent(z)), h, w, self.fit)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """Autoencoder: x_hat. VAE (Chapter 04): (x_hat, mu, logvar), z sampled in training, z = mu in eval."""
        if not self.variational:
            return self.decode(self.encode(x, c), c)
        mu, logvar = self.encode(x, c)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decode(z, c), mu, logvar
