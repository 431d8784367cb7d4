"""Checks for the exercises of notebook 03_spectrogram_autoencoders."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._harness import NOT_YET, call, float_tensor, verdict


def check_ch03_rows_to_pad(rows_to_pad: Callable[[int], int]) -> bool:
    """Check the rows a 3-layer stride-2 conv encoder/decoder (k3, p1, no output_padding) must pad."""
    from ..models.spectral import spectral_shapes

    sizes = (251, 800, 1500, 2048, 4000, 129, 9, 1)
    got = {}
    for n in sizes:
        g = call(rows_to_pad, n)
        if g is NOT_YET:
            return False
        got[n] = g
    want = {n: spectral_shapes(n)["pad"] for n in sizes}
    wrong = {n: (got[n], want[n]) for n in sizes if got[n] != want[n]}
    if not wrong:
        return verdict(True, f"right: e.g. 1500 -> pad {want[1500]}, 251 -> pad {want[251]}, 2048 -> pad {want[2048]}.", "")
    if all(got[n] == -want[n] for n in wrong):
        hint = "the sign is flipped: return n minus the decoder's output size (positive = pad)."
    elif all(got[n] == 0 for n in wrong):
        hint = ("a ConvTranspose2d(3, 2, 1) without output_padding maps m rows to 2m - 1, not 2m: "
                "the way back falls short.")
    else:
        hint = "encoder: m -> floor((m + 2*1 - 3) / 2) + 1 three times; decoder: m -> (m - 1) * 2 - 2*1 + 3 three times."
    return verdict(False, "", f"{len(wrong)} sizes are off, e.g. {dict(list(wrong.items())[:3])} as (yours, right). {hint}")


def check_ch03_thesis_accuracy(accuracy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check paper 002's eq. 4.1: max(0, 1 - ||x - x_hat||^2 / (||x||^2 + eps)) per example."""
    from ..metrics import thesis_accuracy

    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 6, 7, generator=g)
    x_hat = x + torch.randn(5, 1, 1, 1, generator=g).abs() * 0.8 * torch.randn(5, 2, 6, 7, generator=g)
    x_hat[0] = -x[0]  # a terrible reconstruction: the raw formula goes negative
    got = call(accuracy, x.clone(), x_hat.clone())
    if got is NOT_YET:
        return False
    got = float_tensor(got)
    want = thesis_accuracy(x, x_hat)
    if got is None or got.numel() != 5:
        n = None if got is None else got.numel()
        return verdict(False, "", f"expected one accuracy per example (5 values), got {n}: sum over every dim but "
                                  "the batch (x.flatten(1)), then one value per row.")
    got = got.reshape(-1)
    if torch.allclose(got, want, atol=1e-5):
        return verdict(True, f"right: {[round(float(v), 3) for v in want]} (the first, a sign-flipped "
                             "reconstruction, is clipped to 0).", "")
    raw = 1 - (x - x_hat).flatten(1).pow(2).sum(1) / x.flatten(1).pow(2).sum(1)
    if torch.allclose(got, raw, atol=1e-5):
        return verdict(False, "", "negative values: clip with .clamp_min(0) (the thesis's max(0, ...)).")
    norms = 1 - (x - x_hat).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    if torch.allclose(got, norms.clamp_min(0), atol=1e-5):
        return verdict(False, "", "use squared norms (sum of squares), not norms.")
    return verdict(False, "", f"values {got.tolist()} vs expected {want.tolist()}: per example, "
                              "1 - sum((x - x_hat)^2) / (sum(x^2) + eps), clipped at 0.")


def check_ch03_instantaneous_frequency(inst_freq: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check instantaneous frequency: wrapped phase difference over frames / pi; frame 0 = phase / pi."""
    from ..audio import instantaneous_frequency, phase_from_if

    g = torch.Generator().manual_seed(4)
    phase = (torch.rand(3, 10, 12, generator=g) * 2 - 1) * math.pi
    got = call(inst_freq, phase.clone())
    if got is NOT_YET:
        return False
    got = float_tensor(got)
    want = instantaneous_frequency(phase)
    if got is None or got.shape != want.shape:
        shape = None if got is None else tuple(got.shape)
        return verdict(False, "", f"shape {shape}, expected {tuple(want.shape)} (same as the phase): prepend frame 0 "
                                  "(torch.diff(..., prepend=...)) so no frame is lost.")
    if torch.allclose(got, want, atol=1e-5):
        back = torch.remainder(phase_from_if(got) - phase + math.pi, 2 * math.pi) - math.pi
        return verdict(bool(back.abs().max() < 1e-4), "right, and its cumulative sum gives the phase back modulo 2 pi.",
                       "values match but the round trip fails: check the dtype.")
    if got.abs().max() > 1.0 + 1e-5:
        hint = ("values beyond [-1, 1]: wrap the difference to (-pi, pi] (torch.remainder(d + pi, 2 pi) - pi) "
                "and divide by pi.")
    elif torch.allclose(got[..., 1:], want[..., 1:], atol=1e-5):
        hint = "frames 1 onwards are right; frame 0 should keep phase[..., 0] / pi (the difference from zero)."
    else:
        hint = "take differences along the LAST dim (frames), then wrap and divide by pi."
    return verdict(False, "", hint)
