"""Plots and audio players: every sound shown as a picture and playable."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def waveform(x: Any, sr: int, ax=None, title: str | None = None, max_seconds: float | None = None):
    """Plot a waveform against time in seconds. Notebook: 02_fc_vs_conv_autoencoders."""
    y = _np(x).reshape(-1)
    if max_seconds is not None:
        y = y[: int(max_seconds * sr)]
    ax = ax or plt.subplots(figsize=(8, 2))[1]
    ax.plot(np.arange(len(y)) / sr, y, lw=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_xlim(0, max(len(y) / sr, 1e-3))
    if title:
        ax.set_title(title)
    return ax


def spectrogram(x: Any, sr: int, ax=None, title: str | None = None, n_fft: int = 1024, hop: int = 256,
                mel: bool = False, n_mels: int = 128, top_db: float = 80.0, colorbar: bool = False):
    """Plot a (mel) spectrogram in dB, time in seconds, frequency in Hz (or mel bins).

    Notebook: 03_spectrogram_autoencoders
    """
    from . import audio

    t = torch.as_tensor(_np(x).reshape(-1))
    if mel:
        S = audio.mel_spectrogram(t, sr, n_fft=n_fft, hop=hop, n_mels=n_mels, power=2.0)
        S_db = 10 * torch.log10(S.clamp_min(1e-10))
        extent = [0, t.numel() / sr, 0, n_mels]
        ylabel = "mel bin"
    else:
        S_db = 20 * torch.log10(audio.stft(t, n_fft, hop).abs().clamp_min(1e-10))
        extent = [0, t.numel() / sr, 0, sr / 2]
        ylabel = "frequency (Hz)"
    S_db = S_db.clamp_min(S_db.max() - top_db).numpy()
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    im = ax.imshow(S_db, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(im, ax=ax, label="dB")
    return ax


def player(x: Any, sr: int, max_seconds: float = 6.0, normalize: bool = False):
    """An IPython audio player; loudness is kept unless normalize=True; clipped to max_seconds.

    Notebook: 03_spectrogram_autoencoders
    """
    from IPython.display import Audio

    y = _np(x).reshape(-1)[: int(max_seconds * sr)]
    if not normalize:
        peak = float(np.abs(y).max()) if y.size else 0.0
        if peak > 1.0:  # Audio cannot play values beyond [-1, 1] without scaling them
            y = y / peak
    return Audio(y, rate=sr, normalize=normalize)


def listen(x: Any, sr: int, title: str | None = None, max_seconds: float = 6.0, mel: bool = False,
           show: bool = True):
    """A spectrogram (with the waveform above it) paired with a player, displayed together. Notebook: 00_start_here."""
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(8, 3.6), height_ratios=[1, 2.2], sharex=True)
    y = _np(x).reshape(-1)[: int(max_seconds * sr)]
    waveform(y, sr, ax=a0, title=title)
    a0.set_xlabel("")
    spectrogram(y, sr, ax=a1, mel=mel)
    fig.tight_layout()
    p = player(y, sr, max_seconds)
    if show:
        from IPython.display import display

        plt.show()
        display(p)
    return fig, p


def piano_roll(roll: Any, ax=None, title: str | None = None, low: int = 21, steps_per_bar: int = 16,
               crop: bool = True):
    """Show an (88, T) piano roll; bar lines every steps_per_bar steps; cropped to the used pitches.

    Notebook: 00_start_here
    """
    r = _np(roll)
    if r.ndim != 2:
        raise ValueError(f"piano_roll expects (pitches, steps), got shape {r.shape}")
    lo, hi = 0, r.shape[0] - 1
    if crop and r.any():
        rows = np.flatnonzero(r.any(axis=1))
        lo, hi = max(rows[0] - 2, 0), min(rows[-1] + 2, r.shape[0] - 1)
    ax = ax or plt.subplots(figsize=(8, 2.5))[1]
    ax.imshow(r[lo:hi + 1], origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=[0, r.shape[1], low + lo - 0.5, low + hi + 0.5])
    for b in range(0, r.shape[1] + 1, steps_per_bar):
        ax.axvline(b, color="tab:blue", lw=0.5, alpha=0.5)
    ax.set_xlabel("step (16th notes)")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title)
    return ax


def curves(series: dict[str, Sequence[float]], ax=None, title: str | None = None, xlabel: str = "epoch",
           ylabel: str | None = None, logy: bool = False, x: Sequence[float] | None = None):
    """Line plot of named series (e.g. training and validation loss). Notebook: 05_kl_annealing."""
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    for name, ys in series.items():
        xs = list(x) if x is not None else list(range(len(ys)))
        ax.plot(xs[: len(ys)], list(ys), marker="o" if len(ys) < 30 else None, ms=3, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def history(hist, keys: Sequence[str] = ("train_loss", "val_loss"), ax=None, title: str | None = None,
            logy: bool = False):
    """Plot columns of a train.History against epoch. Notebook: 08_diffusion_basics."""
    return curves({k: hist.series(k) for k in keys if hist.series(k)}, ax=ax, title=title, logy=logy,
                  x=hist.series("epoch"))


def magnitude_spectrum(x: Any, sr: int, ax=None, label: str | None = None, db: bool = True):
    """|RFFT| of a whole signal against frequency in Hz (dB by default). Notebook: 01_audio_and_midi."""
    y = _np(x).reshape(-1)
    mag = np.abs(np.fft.rfft(y)) / max(len(y), 1)
    f = np.fft.rfftfreq(len(y), 1 / sr)
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    ax.plot(f, 20 * np.log10(mag + 1e-12) if db else mag, lw=0.7, label=label)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("magnitude (dB)" if db else "magnitude")
    if label:
        ax.legend()
    return ax
