"""Automatic checks for the chapters' exercises: helpful feedback, never a crash (Chapters 00 and 01).

Each check takes the learner's answer, prints what is right or wrong with a hint, and returns True/False.
An answer that still raises NotImplementedError is reported as "not attempted yet".
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

_NOT_YET = object()


def _call(fn: Callable, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except NotImplementedError:
        print("⏳ Not attempted yet: replace the `raise NotImplementedError` line with your code, then run this cell again.")
        return _NOT_YET
    except Exception as e:  # show the learner's error without a traceback wall
        print(f"❌ Your code raised {type(e).__name__}: {e}")
        return _NOT_YET


def _verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✅ " + good) if ok else ("❌ " + bad))
    return ok


def check_ch00_family_counts(answer: Callable[[], dict[str, int]] | dict[str, int], notes) -> bool:
    """Chapter 00. Compare a {family name: number of notes} dict with the notes actually in `notes`."""
    got = _call(answer) if callable(answer) else answer
    if got is _NOT_YET:
        return False
    if not isinstance(got, dict):
        return _verdict(False, "", f"expected a dict like {{'bass': 12, ...}}, got {type(got).__name__}")
    truth: dict[str, int] = {}
    for f in notes.family.tolist():
        name = notes.family_names[f]
        truth[name] = truth.get(name, 0) + 1
    wrong = {k: (got.get(k), v) for k, v in truth.items() if got.get(k) != v}
    extra = sorted(set(got) - set(truth))
    if extra:
        return _verdict(False, "", f"these families are not in the split: {extra}. Use notes.family_names[i] for the names.")
    return _verdict(not wrong, f"right: {len(truth)} families, {sum(truth.values())} notes.",
                    f"{len(wrong)} families are off, e.g. {dict(list(wrong.items())[:3])} as (yours, true). "
                    "Hint: loop over notes.family and count with a dict or collections.Counter.")


def check_ch01_mu_law(mu_law: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Chapter 01. Check a mu-law compander F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)."""
    from .audio import mu_law_encode

    x = torch.linspace(-1, 1, 201)
    for mu in (255, 15):
        y = _call(mu_law, x.clone(), mu)
        if y is _NOT_YET:
            return False
        y = torch.as_tensor(y, dtype=torch.float32)
        if y.shape != x.shape:
            return _verdict(False, "", f"the output shape {tuple(y.shape)} should equal the input shape {tuple(x.shape)}")
        ref = mu_law_encode(x, mu)
        if not torch.allclose(y, ref, atol=1e-4):
            i = int((y - ref).abs().argmax())
            hint = ("negative inputs must give negative outputs: multiply by sign(x)" if (y[:100] >= 0).all()
                    else "divide by ln(1 + mu) so that F(1) = 1" if abs(float(y[-1]) - 1) > 1e-3
                    else "use ln(1 + mu * |x|) (torch.log1p helps)")
            return _verdict(False, "", f"for mu={mu}, x={float(x[i]):.2f} you give {float(y[i]):.4f}, expected "
                                       f"{float(ref[i]):.4f}. Hint: {hint}.")
    return _verdict(True, "your compander matches F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu) for mu = 255 and 15.", "")


def check_ch01_alias(alias: Callable[[float, float], float]) -> bool:
    """Chapter 01. Check the frequency at which a tone of f Hz appears after sampling at sr Hz."""
    from .audio import aliased_frequency

    cases = [(1000, 4410), (3000, 4410), (2205, 4410), (4410, 4410), (6000, 4410), (440, 44100), (30000, 44100)]
    for f, sr in cases:
        got = _call(alias, f, sr)
        if got is _NOT_YET:
            return False
        ref = aliased_frequency(f, sr)
        try:
            got = float(got)
        except (TypeError, ValueError):
            return _verdict(False, "", f"alias({f}, {sr}) should return a number (Hz), got {type(got).__name__}")
        if math.isnan(got) or abs(got - ref) > 1e-6:
            hint = ("frequencies below sr/2 are unchanged" if f < sr / 2 else
                    "fold: take f modulo sr, then reflect values above sr/2 as sr - f")
            return _verdict(False, "", f"alias({f}, {sr}) gave {got}, expected {ref}. Hint: {hint}.")
    return _verdict(True, f"all {len(cases)} cases right: e.g. 3 kHz sampled at 4410 Hz sounds at "
                          f"{aliased_frequency(3000, 4410):.0f} Hz.", "")


def check_ch01_n_frames(n_frames: Callable[[int, int, int, bool], int]) -> bool:
    """Chapter 01. Check a closed form for the number of STFT frames against torch.stft."""
    cases = [(64000, 1500, 250, False), (64000, 1500, 250, True), (16000, 1024, 256, True), (16000, 1024, 256, False),
             (13230, 512, 128, True), (1000, 1000, 7, False)]
    for n, n_fft, hop, center in cases:
        got = _call(n_frames, n, n_fft, hop, center)
        if got is _NOT_YET:
            return False
        ref = torch.stft(torch.zeros(n), n_fft, hop, window=torch.ones(n_fft), center=center,
                         return_complex=True).shape[-1]
        if got != ref:
            hint = ("with center=True the signal is padded by n_fft//2 on both sides first" if center
                    else "count how many hops fit after the first window: 1 + (n - n_fft) // hop")
            return _verdict(False, "", f"n={n}, n_fft={n_fft}, hop={hop}, center={center}: you say {got}, torch "
                                       f"makes {ref} frames. Hint: {hint}.")
    return _verdict(True, "your formula matches torch.stft for all settings, with and without centring.", "")


def check_ch01_interleave(interleave: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 01. Check paper 001's feature: RFFT, real/imag interleaved, Nyquist pair dropped."""
    from .audio import rfft_interleave

    x = torch.randn(2, 13230, generator=torch.Generator().manual_seed(1))
    got = _call(interleave, x.clone())
    if got is _NOT_YET:
        return False
    got = torch.as_tensor(got)
    ref = rfft_interleave(x, drop_nyquist=True)
    if got.shape != ref.shape:
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}: rfft of 13230 samples has "
                                   "6616 bins = 13232 numbers; drop the last complex bin (the Nyquist pair).")
    if torch.allclose(got, ref, atol=1e-3):
        return _verdict(True, "matches: [re0, im0, re1, im1, ...] with the Nyquist pair dropped, 13230 values.", "")
    swapped = torch.allclose(got[..., 0::2], ref[..., 1::2], atol=1e-3)
    blocks = torch.allclose(got[..., :6615], ref[..., 0::2][..., :6615], atol=1e-3)
    hint = ("real and imaginary parts are swapped" if swapped else
            "you concatenated [re..., im...]; interleave them with torch.stack([re, im], -1).flatten(-2)" if blocks
            else "use torch.fft.rfft on the last dimension, then stack real and imaginary parts")
    return _verdict(False, "", f"values differ. Hint: {hint}.")


def check_ch02_mrstft_loss(loss_fn: Callable[..., torch.Tensor]) -> bool:
    """Chapter 02. Check loss_fn(z, z_hat, n, weight) = MSE(z, z_hat) + weight * MR-STFT(waveforms)."""
    from .audio import multi_resolution_stft_distance, rfft_deinterleave, rfft_interleave

    g = torch.Generator().manual_seed(2)
    n = 4410
    x = torch.randn(3, n, generator=g) * 0.1
    z = rfft_interleave(x, drop_nyquist=True)
    z_hat = (z + 0.5 * torch.randn(z.shape, generator=g)).requires_grad_(True)
    for weight in (0.0, 10.0):
        got = _call(loss_fn, z, z_hat, n, weight)
        if got is _NOT_YET:
            return False
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            return _verdict(False, "", "return a single-number tensor (a loss), e.g. mse + weight * mrstft")
        ref = torch.mean((z - z_hat) ** 2) + weight * multi_resolution_stft_distance(
            rfft_deinterleave(z, n, nyquist_dropped=True), rfft_deinterleave(z_hat, n, nyquist_dropped=True))
        if not torch.allclose(got.detach().float(), ref.detach().float(), rtol=1e-3):
            hint = ("with weight 0 the loss must be the plain MSE over the features" if weight == 0 else
                    "turn both feature vectors back into waveforms with audio.rfft_deinterleave(z, n, "
                    "nyquist_dropped=True) and add weight * audio.multi_resolution_stft_distance(x, x_hat)")
            return _verdict(False, "", f"weight={weight}: you give {float(got.detach()):.4f}, expected {float(ref.detach()):.4f}. Hint: {hint}.")
    if not got.requires_grad:
        return _verdict(False, "", "the value is right but the loss has no gradient: keep every step in torch "
                                   "(no .detach(), .item() or numpy) so training can use it")
    got.backward()
    if z_hat.grad is None or not torch.isfinite(z_hat.grad).all():
        return _verdict(False, "", "the loss has no finite gradient with respect to z_hat: keep everything in torch")
    return _verdict(True, "your loss adds the multi-resolution STFT distance of the waveforms and has a gradient.", "")


def check_ch02_matched_conv(make_model: Callable[[], torch.nn.Module], fc_model: torch.nn.Module, n_in: int) -> bool:
    """Chapter 02. Check make_model() builds a conv autoencoder with the FC model's parameter count (within 1 %)."""
    model = _call(make_model)
    if model is _NOT_YET:
        return False
    p, q = (sum(t.numel() for t in m.parameters()) for m in (model, fc_model))
    if abs(p - q) > 0.01 * q:
        return _verdict(False, "", f"{p:,} parameters vs the FC model's {q:,} ({100 * (p - q) / q:+.1f} %). Hint: the two "
                                   "Linear layers dominate; solve 2 * flat * latent + flat + latent = target for the latent.")
    x = torch.randn(2, 1, n_in)
    with torch.no_grad():
        y = _call(model, x)
    if y is _NOT_YET:
        return False
    if tuple(y.shape) != tuple(x.shape):
        return _verdict(False, "", f"output shape {tuple(y.shape)} should equal the input shape {tuple(x.shape)}")
    return _verdict(True, f"{p:,} parameters vs {q:,} for the FC model ({100 * (p - q) / q:+.2f} %), output shape right.", "")


def check_ch02_overlap_add(ola: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Chapter 02. Check overlap-add of 50 %-overlapping segments with a periodic Hann window."""
    from .evaluate import seam_click_ratio

    L, hop = 400, 200
    t = torch.arange(12 * hop + L) / 4410.0
    x = torch.sin(2 * torch.pi * 110 * t) + 0.3 * torch.sin(2 * torch.pi * 345 * t)
    segs = x.unfold(0, L, hop).clone()
    y = _call(ola, segs, hop)
    if y is _NOT_YET:
        return False
    y = torch.as_tensor(y).reshape(-1)
    want = (segs.shape[0] - 1) * hop + L
    if y.numel() != want:
        return _verdict(False, "", f"length {y.numel()}, expected (n_segments - 1) * hop + L = {want}")
    err = float((y[L:-L] - x[L:want - L]).abs().max())
    if err > 1e-4:
        return _verdict(False, "", f"interior error {err:.3g}: multiply each segment by torch.hann_window(L) (periodic) "
                                   "before adding it at i * hop; at 50 % overlap the windows sum to 1.")
    g = torch.Generator().manual_seed(0)
    noisy = segs + 0.2 * torch.randn(segs.shape[0], 1, generator=g)  # each segment off by its own level
    hard = torch.cat([s[:hop] for s in noisy])  # plain concatenation of half segments: a step at every seam
    smooth = torch.as_tensor(_call(ola, noisy, hop)).reshape(-1)
    r_hard, r_smooth = seam_click_ratio(hard, hop), seam_click_ratio(smooth[: hard.numel()], hop)
    return _verdict(r_smooth < r_hard / 2, f"exact in the interior; seam clicks {r_hard:.1f} -> {r_smooth:.1f} "
                                           "(ratio of the jump at seams to elsewhere).",
                    f"seam clicks not reduced enough ({r_hard:.1f} -> {r_smooth:.1f}): a flat window still steps at "
                    "segment edges; taper each segment with torch.hann_window(L) so edges fade in and out.")
