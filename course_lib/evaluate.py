"""Evaluation: reconstruction metrics with their domain stated, band-limit and seam-click measures (Chapter 02)."""
from __future__ import annotations

import torch

from . import audio


def feature_metrics(z: torch.Tensor, z_hat: torch.Tensor) -> dict[str, float]:
    """Chapter 02. MSE, MAE, RMSE, SNR (dB) in the FEATURE domain (e.g. paper 001's interleaved RFFT values).

    mse = mean (z - z_hat)^2; mae = mean |z - z_hat|; rmse = sqrt(mse) (of the whole set, not a mean of per-item
    roots); snr = 10 log10(sum z^2 / sum (z - z_hat)^2) over the whole set.
    """
    if z.shape != z_hat.shape:
        raise ValueError(f"shapes differ: {tuple(z.shape)} vs {tuple(z_hat.shape)}")
    e = (z - z_hat).double()
    mse = float(e.pow(2).mean())
    return {"mse": mse, "mae": float(e.abs().mean()), "rmse": mse ** 0.5,
            "snr_db": float(10 * torch.log10(z.double().pow(2).sum() / e.pow(2).sum().clamp_min(1e-30)))}


def waveform_metrics(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    """Chapter 02. The same four metrics in the WAVEFORM domain (samples in [-1, 1])."""
    return feature_metrics(x, x_hat)


def interleaved_metrics(z: torch.Tensor, z_hat: torch.Tensor, n: int) -> dict[str, float]:
    """Chapter 02. Metrics of interleaved-RFFT reconstructions in both domains: keys spec_* and wave_*."""
    x = audio.rfft_deinterleave(z, n, nyquist_dropped=z.shape[-1] == n)
    x_hat = audio.rfft_deinterleave(z_hat, n, nyquist_dropped=z.shape[-1] == n)
    out = {f"spec_{k}": v for k, v in feature_metrics(z, z_hat).items()}
    out.update({f"wave_{k}": v for k, v in waveform_metrics(x, x_hat).items()})
    return out


def band_energy_ratio_db(ref: torch.Tensor, est: torch.Tensor, sr: int, band_hz: float = 50.0
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Chapter 02. Energy of est relative to ref (dB) in bands of band_hz, averaged over all leading items.

    Returns (band centre frequencies in Hz, ratio in dB).
    """
    if ref.shape != est.shape:
        raise ValueError(f"shapes differ: {tuple(ref.shape)} vs {tuple(est.shape)}")
    n = ref.shape[-1]
    p_ref = torch.fft.rfft(ref.double()).abs().pow(2).reshape(-1, n // 2 + 1).mean(0)
    p_est = torch.fft.rfft(est.double()).abs().pow(2).reshape(-1, n // 2 + 1).mean(0)
    freqs = torch.fft.rfftfreq(n, 1 / sr)
    band = (freqs / band_hz).long()
    n_bands = int(band.max()) + 1
    e_ref = torch.zeros(n_bands, dtype=torch.float64).index_add_(0, band, p_ref)
    e_est = torch.zeros(n_bands, dtype=torch.float64).index_add_(0, band, p_est)
    centres = (torch.arange(n_bands) + 0.5) * band_hz
    return centres, 10 * torch.log10(e_est.clamp_min(1e-30) / e_ref.clamp_min(1e-30))


def rolloff_hz(x: torch.Tensor, sr: int, fraction: float = 0.99) -> float:
    """Chapter 02. Spectral roll-off: the frequency below which `fraction` of the energy lies (mean over items).

    Where a reconstruction's energy stops: paper 001 saw its conv model's output end near 417 Hz.
    Returns 0 for a silent signal.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n = x.shape[-1]
    p = torch.fft.rfft(x.double()).abs().pow(2).reshape(-1, n // 2 + 1).mean(0)
    total = float(p.sum())
    if total <= 0:
        return 0.0
    k = int(torch.searchsorted(torch.cumsum(p, 0), torch.tensor(fraction * total, dtype=torch.float64)))
    return float(torch.fft.rfftfreq(n, 1 / sr)[min(k, p.numel() - 1)])


def seam_click_ratio(y: torch.Tensor, seg_len: int) -> float:
    """Chapter 02. Mean |second difference| across segment seams over its median elsewhere (about 1 = no click).

    y is one signal made by concatenating reconstructed segments of seg_len samples. The second difference
    y[i+1] - 2 y[i] + y[i-1] is small for smooth audio and jumps where a segment ends at one level and the next
    starts at another.
    """
    y = y.reshape(-1).double()
    if y.numel() < 2 * seg_len:
        raise ValueError(f"need at least two segments of {seg_len} samples, got {y.numel()} samples")
    d2 = (y[2:] - 2 * y[1:-1] + y[:-2]).abs()  # d2[i] is centred on sample i + 1
    starts = torch.arange(seg_len, y.numel() - 1, seg_len)
    seams = torch.cat([starts - 2, starts - 1])  # the two second differences that straddle each seam
    mask = torch.ones_like(d2, dtype=torch.bool)
    mask[seams] = False
    return float(d2[seams].mean() / d2[mask].median().clamp_min(1e-12))
