"""Interactive explorers with a static fallback, so nbval and the report still get a picture."""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt


def interactive_enabled() -> bool:
    """False under CI / `make course` (COURSE_STATIC=1) or without ipywidgets."""
    if os.environ.get("COURSE_STATIC", "") not in ("", "0"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def explorer(draw: Callable[..., Any], controls: dict[str, Sequence[Any]], static: Sequence[dict[str, Any]],
             title: str | None = None) -> None:
    """Call draw(**kw) for each static setting (a grid for the report); add sliders when interactive.

    controls maps a keyword to the values its slider or dropdown offers. It displays itself and returns None, so a
    cell that ends with it shows no stray repr (the static figure stays pyplot's current figure).

    Notebook: 03_spectrogram_autoencoders
    """
    n = len(static)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False)
    for ax, kw in zip(axes[0], static):
        draw(ax=ax, **kw)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    if not interactive_enabled():
        return None
    import ipywidgets as w
    from IPython.display import display

    def _one(**kw):
        f, ax = plt.subplots(figsize=(7, 3.2))
        draw(ax=ax, **kw)
        plt.show()

    sliders = {k: w.SelectionSlider(options=list(v), value=static[0].get(k, v[0]), description=k,
                                    continuous_update=False)
               if all(isinstance(o, (int, float)) for o in v) else w.Dropdown(options=list(v), description=k,
                                                                              value=static[0].get(k, v[0]))
               for k, v in controls.items()}
    display(w.interactive(_one, **sliders))
    plt.figure(fig.number)  # the static grid stays the current figure
    return None


def stft_explorer(x: Any, sr: int, static: Sequence[dict[str, Any]] | None = None) -> None:
    """Explore n_fft, hop, window and mel bins on one sound. Notebook: 01_audio_and_midi."""
    import torch

    from . import audio

    t = torch.as_tensor(x, dtype=torch.float32).reshape(-1)

    def draw(ax, n_fft: int, hop: int, window: str, n_mels: int):
        """One spectrogram of the explorer's sound with these settings. Notebook: 03_spectrogram_autoencoders."""
        if n_mels:
            S = audio.mel_spectrogram(t, sr, n_fft=n_fft, hop=hop, n_mels=n_mels)
            img, ylab, top = 10 * torch.log10(S.clamp_min(1e-10)), "mel bin", n_mels
        else:
            S = audio.stft(t, n_fft, hop, window=window).abs()
            img, ylab, top = 20 * torch.log10(S.clamp_min(1e-10)), "Hz", sr / 2
        img = img.clamp_min(img.max() - 80)
        ax.imshow(img.numpy(), origin="lower", aspect="auto", cmap="magma", extent=[0, t.numel() / sr, 0, top])
        ax.set_title(f"n_fft {n_fft}, hop {hop}, {window}" + (f", {n_mels} mels" if n_mels else ""), fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(ylab)

    static = static or [dict(n_fft=256, hop=64, window="hann", n_mels=0),
                        dict(n_fft=2048, hop=512, window="hann", n_mels=0),
                        dict(n_fft=1024, hop=256, window="rect", n_mels=0),
                        dict(n_fft=1024, hop=256, window="hann", n_mels=64)]
    controls = {"n_fft": [128, 256, 512, 1024, 2048, 4096], "hop": [32, 64, 128, 256, 512, 1024],
                "window": ["hann", "hamming", "rect"], "n_mels": [0, 32, 64, 128]}
    return explorer(draw, controls, static, title="STFT explorer")
