"""Checks for the exercises of notebook 09_hierarchical_diffusion."""
from __future__ import annotations

from typing import Callable

import torch

from ._harness import NOT_YET, call, float_tensor, tensor_list, verdict


def check_ch09_upsample(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Check fn(z (B, C, L), factor) = time-aligned upsampling: each frame repeated `factor` times in place."""
    from ..models.hierarchical import upsample_time

    g = torch.Generator().manual_seed(9)
    for shape, factor in (((1, 1, 2), 2), ((2, 3, 4), 2), ((2, 2, 3), 4)):
        z = torch.randn(shape, generator=g)
        got = call(fn, z.clone(), factor)
        if got is NOT_YET:
            return False
        got, want = float_tensor(got), upsample_time(z, factor)
        if got is None or got.shape != want.shape:
            return verdict(False, "", f"z of shape {shape}, factor {factor}: expected shape {tuple(want.shape)}, got "
                                      f"{None if got is None else tuple(got.shape)}")
        if not torch.allclose(got, want):
            tiled = upsample_time(z, factor, "repeat")
            hint = ("that is `repeat`, paper 004's bug: it tiles the whole sequence ([a, b] -> [a, b, a, b]), so "
                    "output frame 1 already comes from the second half of the clip and the conditions lose their timing"
                    if torch.allclose(got, tiled) else
                    "each latent frame must cover `factor` consecutive output frames: [a, b] -> [a, a, b, b]")
            return verdict(False, "", f"values differ for z of shape {shape}. Hint: {hint}.")
    return verdict(True, "[a, b] -> [a, a, b, b]: output frame t comes from latent frame t // factor, aligned in time.", "")


def check_ch09_refine(fn: Callable[[list], list]) -> bool:
    """Check fn([h1, h2, h3]) = coarse-to-fine residual latents h~1 = h1, h~k = hk + upsample(h~(k-1))."""
    from ..models.hierarchical import refine

    g = torch.Generator().manual_seed(10)
    raw = [torch.randn(2, 3, n, generator=g) for n in (4, 8, 16)]
    got = call(fn, [r.clone() for r in raw])
    if got is NOT_YET:
        return False
    got = tensor_list(got, 3)
    want = refine(raw)
    if got is None:
        return verdict(False, "", "return a list of three tensors: the refined levels, coarse to fine")
    for k, (a, b) in enumerate(zip(got, want)):
        if a.shape != b.shape or not torch.allclose(a, b, atol=1e-5):
            hint = ("the first level is not refined: h~1 = h1" if k == 0 else
                    "add the upsampled REFINED coarser level (h~(k-1)), not the raw one: the sum runs down the whole "
                    "hierarchy" if torch.allclose(a, raw[k] + _upsample2(raw[k - 1]), atol=1e-5) else
                    "upsample the coarser level in time with repeat_interleave (x2) before adding it")
            return verdict(False, "", f"level {k + 1} differs. Hint: {hint}.")
    return verdict(True, "h~3 = h3 + up(h2) + up(up(h1)): the finest refined latent contains every coarser code, "
                         "which is why a probe on refined latents finds coarse attributes at every level.", "")


def _upsample2(z: torch.Tensor) -> torch.Tensor:
    return z.repeat_interleave(2, dim=-1)


def check_ch09_level_dropout(fn: Callable[[list, float, torch.Generator], list]) -> bool:
    """Check fn(levels, p, generator): zero each level of each example independently with probability p."""
    levels = [torch.ones(4000, 2, n) for n in (4, 8, 16)]
    for p in (0.0, 0.3):
        got = call(fn, [x.clone() for x in levels], p, torch.Generator().manual_seed(4))
        if got is NOT_YET:
            return False
        got = tensor_list(got, 3)
        if got is None or any(a.shape != b.shape for a, b in zip(got, levels)):
            return verdict(False, "", "return a list of three tensors shaped like the inputs")
        kept = torch.stack([x.flatten(1).abs().sum(1) > 0 for x in got], 1).float()  # (examples, levels)
        partial = any(((x != 0) & (x != 1)).any() or ((x == 0).any(dim=(1, 2)) & (x != 0).any(dim=(1, 2))).any()
                      for x in got)
        if partial:
            return verdict(False, "", "drop whole levels: an example's level is either kept as it is or all zeros "
                                      "(no rescaling, no per-element dropout)")
        rate = 1 - kept.mean().item()
        if p == 0 and rate != 0:
            return verdict(False, "", "with p = 0 nothing may be dropped")
        if p > 0:
            if abs(rate - p) > 0.03:
                return verdict(False, "", f"p = {p}: you drop {rate:.1%} of the levels, expected about {p:.0%}")
            both = (1 - kept[:, 0]) * (1 - kept[:, 1])
            if abs(both.mean().item() - p * p) > 0.03:
                return verdict(False, "", f"levels 1 and 2 are dropped together in {both.mean().item():.1%} of the examples; "
                                          f"independent draws give about {p * p:.0%}. Draw per example AND per level.")
    return verdict(True, "each (example, level) pair is dropped with probability p, independently: the decoder "
                         "learns to work with any level missing.", "")
