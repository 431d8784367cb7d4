"""Checks for the exercises of notebook 08_diffusion_basics."""
from __future__ import annotations

from typing import Any, Callable

import torch

from ._harness import NOT_YET, call, float_tensor, tensor_list, verdict


def check_ch08_ddpm_sigma(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(alpha_bar) = sqrt((1 - alpha_bar) / alpha_bar), the EDM noise level of a DDPM step."""
    from ..diffusion import ddpm_alpha_bar, ddpm_betas, ddpm_sigma

    ab = ddpm_alpha_bar(ddpm_betas(1000))[torch.tensor([0, 9, 99, 499, 999])]
    got = call(fn, ab.clone())
    if got is NOT_YET:
        return False
    got, want = float_tensor(got), ddpm_sigma(ab)
    if got is None or got.shape != want.shape:
        return verdict(False, "", f"return one sigma per alpha_bar (shape {tuple(want.shape)}), got "
                                  f"{None if got is None else tuple(got.shape)}")
    if not torch.allclose(got.double(), want.double(), rtol=1e-3):
        hint = ("that is the noise's share sqrt(1 - ab) of x_t; divide x_t by sqrt(ab) first, so the clean part has scale 1"
                if torch.allclose(got.double(), (1 - ab).sqrt().double(), rtol=1e-3) else
                "that is sigma^2: take the square root" if torch.allclose(got.double(), (want ** 2).double(), rtol=1e-3) else
                "x_t = sqrt(ab) x0 + sqrt(1 - ab) eps; divide by sqrt(ab) and read off the noise's standard deviation")
        return verdict(False, "", f"you give {[round(v, 4) for v in got.tolist()]}, expected "
                                  f"{[round(v, 4) for v in want.tolist()]}. Hint: {hint}.")
    return verdict(True, f"DDPM's 1000 steps span sigma {want[0]:.3f} to {want[-1]:.0f}: nearly EDM's 0.002 to 80.", "")


def check_ch08_precond(fn: Callable[[torch.Tensor, float], Any]) -> bool:
    """Check fn(sigma, sigma_data) = (c_skip, c_out, c_in, c_noise) of EDM's preconditioning."""
    from ..diffusion import edm_precond

    sigma = torch.tensor([0.002, 0.1, 0.5, 1.0, 10.0, 80.0])
    names = ("c_skip", "c_out", "c_in", "c_noise")
    for sd in (0.5, 1.3):
        got = call(fn, sigma.clone(), sd)
        if got is NOT_YET:
            return False
        got = tensor_list(got, 4)
        if got is None:
            return verdict(False, "", "return four tensors: (c_skip, c_out, c_in, c_noise), one value per sigma each")
        for name, g, w in zip(names, got, edm_precond(sigma, sd)):
            if g.shape != w.shape or not torch.allclose(g.double(), w.double(), rtol=1e-4, atol=1e-7):
                hints = {"c_skip": "c_skip = sigma_data^2 / (sigma^2 + sigma_data^2): 1 at low noise (keep x), 0 at high",
                         "c_out": "c_out = sigma * sigma_data / sqrt(sigma^2 + sigma_data^2)",
                         "c_in": "c_in = 1 / sqrt(sigma^2 + sigma_data^2): it gives the network unit-variance input",
                         "c_noise": "c_noise = ln(sigma) / 4 (natural log)"}
                return verdict(False, "", f"sigma_data = {sd}: {name} is {[round(v, 5) for v in g.flatten().tolist()]}, "
                                          f"expected {[round(v, 5) for v in w.tolist()]}. Hint: {hints[name]}.")
    return verdict(True, "all four constants match for sigma_data 0.5 and 1.3: the network sees unit-variance input and "
                         "learns a unit-variance target at every noise level.", "")


def check_ch08_karras(fn: Callable[[int, float, float, float], torch.Tensor]) -> bool:
    """Check fn(n_steps, sigma_min, sigma_max, rho) = the Karras schedule, n_steps values then a final 0."""
    from ..diffusion import karras_sigmas

    for n, lo, hi, rho in ((18, 0.002, 80.0, 7.0), (5, 0.01, 10.0, 3.0), (2, 0.002, 80.0, 7.0)):
        got = call(fn, n, lo, hi, rho)
        if got is NOT_YET:
            return False
        got, want = float_tensor(got), karras_sigmas(n, lo, hi, rho)
        if got is None or got.numel() != want.numel():
            return verdict(False, "", f"n_steps = {n}: return {n + 1} values ({n} noise levels, then 0), got "
                                      f"{None if got is None else got.numel()}")
        got = got.flatten()
        if not torch.allclose(got.double(), want.double(), rtol=1e-4, atol=1e-6):
            hint = ("the schedule starts at sigma_max and ends with 0 after sigma_min" if float(got[0]) < float(got[-1]) else
                    "append a final 0: the last step goes to the clean data" if float(got[-1]) != 0 else
                    "interpolate linearly between sigma_max^(1/rho) and sigma_min^(1/rho), then raise to the power rho")
            return verdict(False, "", f"n={n}, rho={rho}: you give {[round(v, 4) for v in got.tolist()[:4]]}..., expected "
                                      f"{[round(v, 4) for v in want.tolist()[:4]]}.... Hint: {hint}.")
    return verdict(True, "the steps crowd near sigma_min, where the sampler's decisions are fine detail.", "")
