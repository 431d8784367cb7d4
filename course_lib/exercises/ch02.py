"""Checks for the exercises of notebook 02_fc_vs_conv_autoencoders."""
from __future__ import annotations

from typing import Callable

import torch

from ._harness import NOT_YET, call, verdict


def check_ch02_mrstft_loss(loss_fn: Callable[..., torch.Tensor]) -> bool:
    """Check loss_fn(z, z_hat, n, weight) = MSE(z, z_hat) + weight * MR-STFT(waveforms)."""
    from ..audio import multi_resolution_stft_distance, rfft_deinterleave, rfft_interleave

    g = torch.Generator().manual_seed(2)
    n = 4410
    x = torch.randn(3, n, generator=g) * 0.1
    z = rfft_interleave(x, drop_nyquist=True)
    z_hat = (z + 0.5 * torch.randn(z.shape, generator=g)).requires_grad_(True)
    for weight in (0.0, 10.0):
        got = call(loss_fn, z, z_hat, n, weight)
        if got is NOT_YET:
            return False
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            return verdict(False, "", "return a single-number tensor (a loss), e.g. mse + weight * mrstft")
        ref = torch.mean((z - z_hat) ** 2) + weight * multi_resolution_stft_distance(
            rfft_deinterleave(z, n, nyquist_dropped=True), rfft_deinterleave(z_hat, n, nyquist_dropped=True))
        if not torch.allclose(got.detach().float(), ref.detach().float(), rtol=1e-3):
            hint = ("with weight 0 the loss must be the plain MSE over the features" if weight == 0 else
                    "turn both feature vectors back into waveforms with audio.rfft_deinterleave(z, n, "
                    "nyquist_dropped=True) and add weight * audio.multi_resolution_stft_distance(x, x_hat)")
            return verdict(False, "", f"weight={weight}: you give {float(got.detach()):.4f}, expected {float(ref.detach()):.4f}. Hint: {hint}.")
    if not got.requires_grad:
        return verdict(False, "", "the value is right but the loss has no gradient: keep every step in torch "
                                  "(no .detach(), .item() or numpy) so training can use it")
    got.backward()
    if z_hat.grad is None or not torch.isfinite(z_hat.grad).all():
        return verdict(False, "", "the loss has no finite gradient with respect to z_hat: keep everything in torch")
    return verdict(True, "your loss adds the multi-resolution STFT distance of the waveforms and has a gradient.", "")


def check_ch02_matched_conv(make_model: Callable[[], torch.nn.Module], fc_model: torch.nn.Module, n_in: int) -> bool:
    """Check make_model() builds a conv autoencoder with the FC model's parameter count (within 1 %)."""
    model = call(make_model)
    if model is NOT_YET:
        return False
    p, q = (sum(t.numel() for t in m.parameters()) for m in (model, fc_model))
    if abs(p - q) > 0.01 * q:
        return verdict(False, "", f"{p:,} parameters vs the FC model's {q:,} ({100 * (p - q) / q:+.1f} %). Hint: the two "
                                  "Linear layers dominate; solve 2 * flat * latent + flat + latent = target for the latent.")
    x = torch.randn(2, 1, n_in)
    with torch.no_grad():
        y = call(model, x)
    if y is NOT_YET:
        return False
    if tuple(y.shape) != tuple(x.shape):
        return verdict(False, "", f"output shape {tuple(y.shape)} should equal the input shape {tuple(x.shape)}")
    return verdict(True, f"{p:,} parameters vs {q:,} for the FC model ({100 * (p - q) / q:+.2f} %), output shape right.", "")


def check_ch02_overlap_add(ola: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Check overlap-add of 50 %-overlapping segments with a periodic Hann window."""
    from ..metrics import seam_click_ratio

    L, hop = 400, 200
    t = torch.arange(12 * hop + L) / 4410.0
    x = torch.sin(2 * torch.pi * 110 * t) + 0.3 * torch.sin(2 * torch.pi * 345 * t)
    segs = x.unfold(0, L, hop).clone()
    y = call(ola, segs, hop)
    if y is NOT_YET:
        return False
    y = torch.as_tensor(y).reshape(-1)
    want = (segs.shape[0] - 1) * hop + L
    if y.numel() != want:
        return verdict(False, "", f"length {y.numel()}, expected (n_segments - 1) * hop + L = {want}")
    err = float((y[L:-L] - x[L:want - L]).abs().max())
    if err > 1e-4:
        return verdict(False, "", f"interior error {err:.3g}: multiply each segment by torch.hann_window(L) (periodic) "
                                  "before adding it at i * hop; at 50 % overlap the windows sum to 1.")
    g = torch.Generator().manual_seed(0)
    noisy = segs + 0.2 * torch.randn(segs.shape[0], 1, generator=g)  # each segment off by its own level
    hard = torch.cat([s[:hop] for s in noisy])  # plain concatenation of half segments: a step at every seam
    smooth = torch.as_tensor(call(ola, noisy, hop)).reshape(-1)
    r_hard, r_smooth = seam_click_ratio(hard, hop), seam_click_ratio(smooth[: hard.numel()], hop)
    return verdict(r_smooth < r_hard / 2, f"exact in the interior; seam clicks {r_hard:.1f} -> {r_smooth:.1f} "
                                          "(ratio of the jump at seams to elsewhere).",
                   f"seam clicks not reduced enough ({r_hard:.1f} -> {r_smooth:.1f}): a flat window still steps at "
                   "segment edges; taper each segment with torch.hann_window(L) so edges fade in and out.")
