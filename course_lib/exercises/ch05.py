"""Checks for the exercises of notebook 05_kl_annealing."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._harness import NOT_YET, call, float_tensor, number, verdict


def check_ch05_logistic(fn: Callable[[float, float, float], float]) -> bool:
    """Check fn(e, W, b) is paper 002's logistic schedule b + (1 - b) / (1 + exp(W/2 - e))."""
    from ..annealing import logistic

    logged = [0.11619, 0.14268, 0.20728, 0.34205, 0.55, 0.75795, 0.89272, 0.95732, 0.98381]
    for e, want in enumerate(logged):
        got = call(fn, e, 8, 0.1)
        if got is NOT_YET:
            return False
        got = number(got)
        if got is None:
            return verdict(False, "", "return beta as a number")
        if round(got, 5) != want:
            hint = ("the curve is centred on e = W / 2: the exponent is W/2 - e" if abs(got - logistic(e, 8, 0.0)) < 1e-9
                    and e else "the baseline lifts the curve: b + (1 - b) * sigmoid, not sigmoid alone"
                    if abs(got - 1 / (1 + math.exp(4 - e))) < 1e-9 else
                    "check the sign of the exponent: beta must rise with e" if got < 0.5 and e > 4 else
                    "beta = b + (1 - b) / (1 + exp(W / 2 - e))")
            return verdict(False, "", f"W=8, b=0.1, epoch {e}: you give {got:.5f}, paper 002 logged {want}. Hint: {hint}.")
    for e, W, b in ((3, 4, 0.0), (10, 12, 0.3), (0, 2, 0.5)):
        got = call(fn, e, W, b)
        if got is NOT_YET:
            return False
        got = number(got)
        if got is None or abs(got - logistic(e, W, b)) > 1e-9:
            return verdict(False, "", f"e={e}, W={W}, b={b}: you give {got}, expected {logistic(e, W, b):.6f}: "
                                      "use the arguments W and b, not the constants 8 and 0.1.")
    return verdict(True, "the nine values paper 002 logged for W = 8, b = 0.1, and other settings too.", "")


def check_ch05_cyclical(fn: Callable[[int, int, int, float], float]) -> bool:
    """Check fn(step, total_steps, n_cycles, ratio) is Fu et al.'s cyclical schedule (peak 1)."""
    from ..annealing import cyclical

    for total, cycles, ratio in ((400, 4, 0.5), (90, 3, 0.25), (50, 1, 1.0)):
        for step in sorted({0, 1, total // (2 * cycles), total // cycles - 1, total // cycles, total - 1,
                            int(total * 0.37)}):
            got = call(fn, step, total, cycles, ratio)
            if got is NOT_YET:
                return False
            got = number(got)
            want = cyclical(step, total, cycles, ratio)
            if got is None or abs(got - want) > 1e-6:
                hint = ("beta must restart from 0 at the start of every cycle: use step % (total_steps / n_cycles)"
                        if got is not None and step >= total // cycles and abs(got - min(step * cycles / total / ratio, 1)) < 1e-6
                        else "cap beta at 1 once the ramp is over" if got is not None and got > 1 else
                        "within a cycle, tau = (step % period) / period and beta = min(tau / ratio, 1)")
                return verdict(False, "", f"total {total}, {cycles} cycles, ratio {ratio}, step {step}: you give "
                                          f"{got}, expected {want:.4f}. Hint: {hint}.")
    return verdict(True, "ramps from 0 to 1 over the first `ratio` of every cycle and holds at 1.", "")


def check_ch05_free_bits(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check fn(mu, logvar, lam) = sum_d max(lam, KL_d) with KL_d the batch-mean KL of dimension d."""
    from ..losses import free_bits_kl, gaussian_kl

    g = torch.Generator().manual_seed(5)
    mu = torch.randn(16, 6, generator=g) * torch.tensor([2.0, 1.0, 0.3, 0.05, 0.0, 1.5])
    logvar = 0.3 * torch.randn(16, 6, generator=g)
    for lam in (0.0, 0.1, 0.5, 2.0):
        got = call(fn, mu.clone(), logvar.clone(), lam)
        if got is NOT_YET:
            return False
        got = float_tensor(got)
        if got is None or got.numel() != 1:
            return verdict(False, "", "return one number (a scalar tensor): the KL term for the whole batch")
        want = float(free_bits_kl(mu, logvar, lam, "dim"))
        if abs(float(got) - want) > 1e-4 * max(1.0, abs(want)):
            hinge = float(free_bits_kl(mu, logvar, lam, "total"))
            hint = ("that is the hinge on the total KL (MusicVAE); here floor each dimension separately"
                    if abs(float(got) - hinge) < 1e-4 * max(1.0, abs(hinge)) else
                    "average each dimension's KL over the batch BEFORE flooring it" if lam > 0 and abs(
                        float(got) - float((-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).clamp_min(lam).sum(1).mean()))
                    < 1e-4 * max(1.0, want) else
                    "with lam = 0 this must equal the batch-mean KL" if lam == 0 else
                    "kl_d = mean over the batch of -0.5 (1 + logvar - mu^2 - exp(logvar)); then sum max(kl_d, lam)")
            return verdict(False, "", f"lam = {lam}: you give {float(got):.4f}, expected {want:.4f} "
                                      f"(plain KL {float(gaussian_kl(mu, logvar).mean()):.4f}). Hint: {hint}.")
    return verdict(True, "each dimension's batch-mean KL is floored at lam before summing: under the floor, no gradient.", "")
