"""Evaluation: reconstruction metrics with their domain stated, band-limit and seam-click measures (Chapter 02),
paper 002's "accuracy" (Chapter 03), active latent units and a linear timbre probe (Chapter 04)."""
from __future__ import annotations

import numpy as np
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


def thesis_accuracy(x: torch.Tensor, x_hat: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Chapter 03. Paper 002's "accuracy" (its eq. 4.1) per example: max(0, 1 - ||x - x_hat||^2 / (||x||^2 + eps)).

    It is one minus a relative squared error: an input whose energy ||x||^2 grows (a longer FFT gives
    larger magnitudes) scores higher for the same absolute error. Dim 0 is the batch.
    """
    if x.shape != x_hat.shape or x.dim() < 1:
        raise ValueError(f"x and x_hat must have the same shape with a batch dim, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    x, x_hat = x.reshape(x.shape[0], -1).float(), x_hat.reshape(x.shape[0], -1).float()
    rel = (x - x_hat).pow(2).sum(1) / (x.pow(2).sum(1) + eps)
    return (1 - rel).clamp_min(0)


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


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Chapter 04. Active latent units (Burda et al. 2016): dimensions whose posterior mean varies over the data.

    mu is (N, D), the posterior means of N examples. Returns (number of dimensions with Var_x[mu_d] > threshold,
    the D variances over dim 0, population variance, float64). A unit whose mean ignores the input is inactive.
    """
    if mu.dim() != 2:
        raise ValueError(f"mu must be (N examples, D latent dims), got shape {tuple(mu.shape)}")
    if mu.shape[0] < 2:
        raise ValueError(f"need at least 2 examples to measure a variance, got {mu.shape[0]}")
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    var = mu.detach().double().var(dim=0, correction=0)
    return int((var > threshold).sum()), var


def timbre_features(x: torch.Tensor, sr: int, n_mels: int = 64, n_fft: int = 1024, hop: int = 256) -> torch.Tensor:
    """Chapter 04. Per-note features for a timbre classifier: mean and std over time of the log-mel spectrogram (B, 2 n_mels)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 2:
        raise ValueError(f"x must be (notes, samples), got shape {tuple(x.shape)}")
    M = audio.log_mel(x, sr, n_fft=n_fft, hop=hop, n_mels=n_mels)
    return torch.cat([M.mean(-1), M.std(-1)], dim=-1).cpu()


def fit_probe(features: torch.Tensor, labels: torch.Tensor, seed: int = 0, max_iter: int = 2000):
    """Chapter 04. A linear probe: scikit-learn StandardScaler + multinomial LogisticRegression fitted on (features, labels).

    Returns the fitted pipeline; `.score(X, y)` is its accuracy and `.predict(X)` its labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"features must be (n, d) with one label each, got {X.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("a probe needs at least two classes in its labels")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed)).fit(X, y)
