"""Checks for the exercises of notebook 04_variational_autoencoders."""
from __future__ import annotations

from typing import Callable

import torch

from ._harness import NOT_YET, call, call_tensor, float_tensor, verdict


def check_ch04_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check z = fn(mu, logvar) = mu + eps * exp(0.5 logvar): shape, randomness, moments, gradients."""
    with torch.random.fork_rng(devices=[]):  # a reproducible check that leaves the learner's RNG alone
        torch.manual_seed(4)
        return _check_reparameterize(fn)


def _check_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    n = 20000
    mu0, var0 = torch.tensor([1.5, -2.0]), torch.tensor([0.25, 4.0])
    mu, logvar = mu0.repeat(n, 1), var0.log().repeat(n, 1)
    z = call_tensor(fn, mu.clone(), logvar.clone(), not_numbers="return z as a tensor: mu + eps * torch.exp(0.5 * logvar)")
    if z is NOT_YET:
        return False
    if z.shape != mu.shape:
        return verdict(False, "", f"z has shape {tuple(z.shape)}, expected mu's shape {tuple(mu.shape)}: draw "
                                  "one noise value per element with torch.randn_like(mu)")
    z2 = call(fn, mu.clone(), logvar.clone())
    if z2 is NOT_YET:
        return False
    z2 = float_tensor(z2)
    if z2 is not None and z2.shape == z.shape and torch.equal(z2, z):
        return verdict(False, "", "two calls gave the same z: draw fresh noise eps = torch.randn_like(mu) on "
                                  "every call (no fixed seed, no constant) so z is a sample of q(z|x)")
    std, mean, want_std = z.std(0), z.mean(0), var0.sqrt()
    if not torch.allclose(std, want_std, rtol=0.05):
        hint = ("you scaled the noise by exp(logvar), the variance; the standard deviation is exp(0.5 * logvar)"
                if torch.allclose(std, var0, rtol=0.05) else
                "the noise is not scaled: multiply eps by the standard deviation exp(0.5 * logvar)"
                if torch.allclose(std, torch.ones(2), rtol=0.05) else
                "z = mu + eps * exp(0.5 * logvar) with eps = torch.randn_like(mu)")
        return verdict(False, "", f"the std of z per dimension is {[round(v, 3) for v in std.tolist()]}, expected "
                                  f"{want_std.tolist()} for logvar = log{var0.tolist()}. Hint: {hint}.")
    if ((mean - mu0).abs() > 5 * want_std / n ** 0.5).any():
        return verdict(False, "", f"the mean of z is {[round(v, 3) for v in mean.tolist()]}, expected "
                                  f"{mu0.tolist()}. Hint: add mu: z = mu + eps * exp(0.5 * logvar).")
    grad_hint = ("Hint: build z from mu and logvar with torch operations only: eps = torch.randn_like(mu), "
                 "z = mu + eps * torch.exp(0.5 * logvar); no numpy, no .detach(), no .item()")
    mu_g, logvar_g = mu0.repeat(4, 1).requires_grad_(True), var0.log().repeat(4, 1).requires_grad_(True)
    z = call(fn, mu_g, logvar_g)
    if z is NOT_YET:
        return verdict(False, "", "your function fails on tensors that require gradients. " + grad_hint)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return verdict(False, "", "z has no gradient, so the encoder could not learn. " + grad_hint)
    z.sum().backward()
    if mu_g.grad is None or logvar_g.grad is None:
        which = " and ".join(k for k, t in (("mu", mu_g), ("logvar", logvar_g)) if t.grad is None)
        return verdict(False, "", f"no gradient reaches {which}. " + grad_hint)
    z = z.detach()
    if not (torch.allclose(mu_g.grad, torch.ones_like(mu_g)) and
            torch.allclose(logvar_g.grad, 0.5 * (z - mu_g.detach()), atol=1e-5)):
        return verdict(False, "", "gradients arrive but are not those of mu + eps * exp(0.5 * logvar) "
                                  "(dz/dmu = 1, dz/dlogvar = 0.5 * eps * sigma). " + grad_hint)
    return verdict(True, f"z has mean {mu0.tolist()} and std {want_std.tolist()}, changes on every call, and "
                         "gradients reach both mu and logvar.", "")


def check_ch04_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(mu, logvar) = KL(N(mu, exp(logvar)) || N(0, I)) per example, shape (batch,)."""
    from ..losses import gaussian_kl

    g = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(6, 5, generator=g), 1.2 * torch.randn(6, 5, generator=g)
    got = call_tensor(fn, mu.clone(), logvar.clone(), not_numbers="return the KL values as a tensor of shape (batch,)")
    if got is NOT_YET:
        return False
    ref = gaussian_kl(mu, logvar)
    if got.shape != ref.shape:
        hint = ("you summed over the batch too: sum over the latent dimension only (dim=1)" if got.numel() == 1 else
                "sum the per-dimension terms over the latent dimension (dim=1)" if got.shape == mu.shape else
                "return one KL value per example")
        return verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(ref.shape)} (one value per example). "
                                  f"Hint: {hint}.")
    if torch.allclose(got, ref, rtol=1e-4, atol=1e-5):
        return verdict(True, "matches -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) for every example.", "")
    log_std_kl = gaussian_kl(mu, 2 * logvar)  # logvar taken for log sigma
    hint = ("NaN values: logvar can be negative; do not take its log or square root, the variance is exp(logvar)"
            if not torch.isfinite(got).all() else
            "the factor 0.5 is missing (your values are twice the KL)" if torch.allclose(got, 2 * ref, rtol=1e-4) else
            "a sign is off: KL is never negative; KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))"
            if (got < 0).any() else
            "sum over the latent dimensions instead of averaging" if torch.allclose(got, ref / mu.shape[1], rtol=1e-4)
            else "logvar is log(sigma^2), not log(sigma): the variance is exp(logvar), not exp(2 * logvar)"
            if torch.allclose(got, log_std_kl, rtol=1e-4) else
            "logvar is the log-variance, not the std or the variance: use exp(logvar) for sigma^2 and logvar itself "
            "for log(sigma^2)")
    i = int((got - ref).abs().argmax())
    return verdict(False, "", f"example {i}: you give {float(got[i]):.4f}, expected {float(ref[i]):.4f}. Hint: {hint}.")


def check_ch04_active_units(fn: Callable[[torch.Tensor, float], int]) -> bool:
    """Check fn(mu, threshold) counts latent dims whose mean varies over the data by more than threshold.

    A (count, variances) pair, as metrics.active_units returns, is accepted too.
    """
    g = torch.Generator().manual_seed(4)
    n = 500
    noise = torch.randn(n, 8, generator=g)
    scale = torch.tensor([1.0, 0.02 ** 0.5, 1e-4, 1.0, 1e-4, 0.02 ** 0.5, 1.0, 1e-4])
    offset = torch.tensor([0.0, 0.5, 3.0, -1.0, -2.0, 0.0, 0.5, 1.0])  # constant units sit away from 0
    mu = offset + scale * noise
    for threshold, want in ((0.01, 5), (0.05, 3)):
        got = call(fn, mu.clone(), threshold)
        if got is NOT_YET:
            return False
        if isinstance(got, (tuple, list)) and got:
            got = got[0]
        try:
            got = int(got)
        except (TypeError, ValueError, RuntimeError):
            return verdict(False, "", f"return the number of active units as an int, got {type(got).__name__}")
        if got != want:
            hint = ("take the variance over the data dimension (dim=0), one value per latent unit, not over the "
                    "latent dims of each example" if got == int((mu.var(1) > threshold).sum()) or got > mu.shape[1]
                    else "compare the variance (not the standard deviation) with the threshold"
                    if got == int((mu.std(0) > threshold).sum()) else
                    "count the units whose variance over the examples, mu.var(dim=0), exceeds the threshold")
            return verdict(False, "", f"threshold {threshold}: you count {got} active units, expected {want} "
                                      f"(3 units vary a lot, 2 a little, 3 are constant). Hint: {hint}.")
    return verdict(True, "5 units are active at threshold 0.01 and 3 at 0.05: the variance over the data decides.", "")
