"""Checks for the exercises of notebook 01_audio_and_midi."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._harness import NOT_YET, call, verdict


def check_ch01_mu_law(mu_law: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Check a mu-law compander F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)."""
    from ..audio import mu_law_encode

    x = torch.linspace(-1, 1, 201)
    for mu in (255, 15):
        y = call(mu_law, x.clone(), mu)
        if y is NOT_YET:
            return False
        y = torch.as_tensor(y, dtype=torch.float32)
        if y.shape != x.shape:
            return verdict(False, "", f"the output shape {tuple(y.shape)} should equal the input shape {tuple(x.shape)}")
        ref = mu_law_encode(x, mu)
        if not torch.allclose(y, ref, atol=1e-4):
            i = int((y - ref).abs().argmax())
            hint = ("negative inputs must give negative outputs: multiply by sign(x)" if (y[:100] >= 0).all()
                    else "divide by ln(1 + mu) so that F(1) = 1" if abs(float(y[-1]) - 1) > 1e-3
                    else "use ln(1 + mu * |x|) (torch.log1p helps)")
            return verdict(False, "", f"for mu={mu}, x={float(x[i]):.2f} you give {float(y[i]):.4f}, expected "
                                      f"{float(ref[i]):.4f}. Hint: {hint}.")
    return verdict(True, "your compander matches F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu) for mu = 255 and 15.", "")


def check_ch01_alias(alias: Callable[[float, float], float]) -> bool:
    """Check the frequency at which a tone of f Hz appears after sampling at sr Hz."""
    from ..audio import aliased_frequency

    cases = [(1000, 4410), (3000, 4410), (2205, 4410), (4410, 4410), (6000, 4410), (440, 44100), (30000, 44100)]
    for f, sr in cases:
        got = call(alias, f, sr)
        if got is NOT_YET:
            return False
        ref = aliased_frequency(f, sr)
        try:
            got = float(got)
        except (TypeError, ValueError):
            return verdict(False, "", f"alias({f}, {sr}) should return a number (Hz), got {type(got).__name__}")
        if math.isnan(got) or abs(got - ref) > 1e-6:
            hint = ("frequencies below sr/2 are unchanged" if f < sr / 2 else
                    "fold: take f modulo sr, then reflect values above sr/2 as sr - f")
            return verdict(False, "", f"alias({f}, {sr}) gave {got}, expected {ref}. Hint: {hint}.")
    return verdict(True, f"all {len(cases)} cases right: e.g. 3 kHz sampled at 4410 Hz sounds at "
                         f"{aliased_frequency(3000, 4410):.0f} Hz.", "")


def check_ch01_n_frames(n_frames: Callable[[int, int, int, bool], int]) -> bool:
    """Check a closed form for the number of STFT frames against torch.stft."""
    cases = [(64000, 1500, 250, False), (64000, 1500, 250, True), (16000, 1024, 256, True), (16000, 1024, 256, False),
             (13230, 512, 128, True), (1000, 1000, 7, False)]
    for n, n_fft, hop, center in cases:
        got = call(n_frames, n, n_fft, hop, center)
        if got is NOT_YET:
            return False
        ref = torch.stft(torch.zeros(n), n_fft, hop, window=torch.ones(n_fft), center=center,
                         return_complex=True).shape[-1]
        if got != ref:
            hint = ("with center=True the signal is padded by n_fft//2 on both sides first" if center
                    else "count how many hops fit after the first window: 1 + (n - n_fft) // hop")
            return verdict(False, "", f"n={n}, n_fft={n_fft}, hop={hop}, center={center}: you say {got}, torch "
                                      f"makes {ref} frames. Hint: {hint}.")
    return verdict(True, "your formula matches torch.stft for all settings, with and without centring.", "")


def check_ch01_interleave(interleave: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check paper 001's feature: RFFT, real/imag interleaved, Nyquist pair dropped."""
    from ..audio import rfft_interleave

    x = torch.randn(2, 13230, generator=torch.Generator().manual_seed(1))
    got = call(interleave, x.clone())
    if got is NOT_YET:
        return False
    got = torch.as_tensor(got)
    ref = rfft_interleave(x, drop_nyquist=True)
    if got.shape != ref.shape:
        return verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}: rfft of 13230 samples has "
                                  "6616 bins = 13232 numbers; drop the last complex bin (the Nyquist pair).")
    if torch.allclose(got, ref, atol=1e-3):
        return verdict(True, "matches: [re0, im0, re1, im1, ...] with the Nyquist pair dropped, 13230 values.", "")
    swapped = torch.allclose(got[..., 0::2], ref[..., 1::2], atol=1e-3)
    blocks = torch.allclose(got[..., :6615], ref[..., 0::2][..., :6615], atol=1e-3)
    hint = ("real and imaginary parts are swapped" if swapped else
            "you concatenated [re..., im...]; interleave them with torch.stack([re, im], -1).flatten(-2)" if blocks
            else "use torch.fft.rfft on the last dimension, then stack real and imaginary parts")
    return verdict(False, "", f"values differ. Hint: {hint}.")
