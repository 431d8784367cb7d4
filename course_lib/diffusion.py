"""Diffusion fundamentals (Chapter 08): DDPM forward noising (Ho et al. 2020) and EDM (Karras et al. 2022).

Conventions: dimension 0 of a data tensor is the batch. A noise level `sigma` is either a scalar or a tensor of
shape (batch,), broadcast over every other dimension. A denoiser is a callable D(x, sigma) that estimates the clean
x0 from x = x0 + sigma * n, n ~ N(0, I). EDM samplers integrate the probability-flow ODE
dx/dsigma = (x - D(x, sigma)) / sigma from sigmas[0] down to sigmas[-1] (usually 0).

Where values are checked: the per-step code (preconditioning, the denoiser's forward, the loss, noise sampling)
checks shapes only and never reads a tensor's values, which would stall a GPU on every training step. Values are
checked where they enter: Python numbers and lists anywhere (free), schedules in their constructors and samplers.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .checks import index, is_int, is_real, positive_int, positive_real

Denoiser = Callable[[Tensor, Tensor], Tensor]


# ----------------------------------------------------------------------------------------------- input checks

def _check_host_sigma(sigma: Tensor | float, allow_zero: bool = False) -> None:
    """Check a noise level given as a Python number or list; a tensor passes unread (no device sync)."""
    if torch.is_tensor(sigma):
        return
    values = torch.as_tensor(sigma, dtype=torch.float64).flatten().tolist()
    if not all(v >= 0 if allow_zero else v > 0 for v in values):  # NaN fails both
        raise ValueError(f"sigma must be {'>= 0' if allow_zero else '> 0'} everywhere, got {sigma!r}")


def _sigma(sigma: Tensor | float, allow_zero: bool = False) -> Tensor:
    """sigma as a floating tensor (default dtype unless it is one already); only host values are checked."""
    _check_host_sigma(sigma, allow_zero)
    sigma = torch.as_tensor(sigma, dtype=torch.get_default_dtype() if not torch.is_tensor(sigma) else None)
    return sigma if torch.is_floating_point(sigma) else sigma.to(torch.get_default_dtype())


def _per_example(value: Tensor | float, x: Tensor, name: str = "sigma") -> Tensor:
    """Turn a scalar or (batch,) tensor into a tensor that broadcasts over x (batch first)."""
    value = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if value.dim() == 0:
        return value
    if value.dim() != 1 or x.dim() == 0 or value.shape[0] != x.shape[0]:
        raise ValueError(f"{name} must be a scalar or have shape (batch,) = ({x.shape[0] if x.dim() else '?'},), "
                         f"got shape {tuple(value.shape)}")
    return value.reshape(-1, *([1] * (x.dim() - 1)))


# ----------------------------------------------------------------------------------------------------- EDM

def edm_precond(sigma: Tensor | float, sigma_data: float = 0.5) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """EDM: c_skip = s_d^2/T, c_out = s s_d/sqrt(T), c_in = 1/sqrt(T), c_noise = ln(s)/4; T = s^2+s_d^2.

    Notebook: 08_diffusion_basics
    """
    sd = positive_real("sigma_data", sigma_data)
    s = _sigma(sigma)
    total = s.pow(2) + sd ** 2
    return sd ** 2 / total, s * sd / total.sqrt(), 1.0 / total.sqrt(), s.log() / 4


class EDMDenoiser(nn.Module):
    """D(x, sigma) = c_skip x + c_out F(c_in x, c_noise, *cond) around a raw network F.

    Notebook: 08_diffusion_basics
    """

    def __init__(self, net: nn.Module | Callable[..., Tensor], sigma_data: float = 0.5) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = positive_real("sigma_data", sigma_data)

    def forward(self, x: Tensor, sigma: Tensor | float, *cond: Tensor) -> Tensor:
        """D(x, sigma) = c_skip x + c_out F(c_in x, c_noise); sigma is a scalar or (batch,)."""
        if x.dim() == 0:
            raise ValueError("x needs a batch dimension (dim 0), got a 0-dimensional tensor")
        _check_host_sigma(sigma)
        sigma = _sigma(torch.as_tensor(sigma, dtype=x.dtype, device=x.device))
        if sigma.dim() == 0:
            sigma = sigma.expand(x.shape[0])
        c_skip, c_out, c_in, c_noise = edm_precond(sigma, self.sigma_data)
        c_skip, c_out, c_in = (_per_example(c, x) for c in (c_skip, c_out, c_in))
        return c_skip * x + c_out * self.net(c_in * x, c_noise, *cond)


def sample_training_sigma(n: int, p_mean: float = -1.2, p_std: float = 1.2,
                          generator: torch.Generator | None = None,
                          device: torch.device | str | None = None) -> Tensor:
    """Training noise levels: ln(sigma) ~ N(P_mean, P_std^2), shape (n,). Notebook: 08_diffusion_basics."""
    n = positive_int("n", n)
    p_std = positive_real("p_std", p_std)
    if not is_real(p_mean) or not math.isfinite(p_mean):
        raise ValueError(f"p_mean must be finite, got {p_mean!r}")
    return (p_mean + p_std * torch.randn(n, generator=generator, device=device)).exp()


def edm_loss_weight(sigma: Tensor | float, sigma_data: float = 0.5) -> Tensor:
    """EDM loss weight lambda(sigma) = (sigma^2 + s_d^2) / (sigma s_d)^2 (= 1 / c_out^2).

    Notebook: 08_diffusion_basics
    """
    sd = positive_real("sigma_data", sigma_data)
    s = _sigma(sigma)
    return (s.pow(2) + sd ** 2) / (s * sd).pow(2)


def edm_loss(denoiser: Callable[..., Tensor], x0: Tensor, generator: torch.Generator | None = None,
             p_mean: float = -1.2, p_std: float = 1.2, sigma_data: float = 0.5,
             cond: tuple[Tensor, ...] = ()) -> Tensor:
    """EDM loss: batch mean of lambda(s) mean((D(x0 + s n, s) - x0)^2), ln s ~ N(P_mean, P_std^2).

    Notebook: 08_diffusion_basics
    """
    if x0.dim() == 0 or x0.shape[0] == 0:
        raise ValueError(f"x0 needs a non-empty batch dimension (dim 0), got shape {tuple(x0.shape)}")
    sigma = sample_training_sigma(x0.shape[0], p_mean, p_std, generator=generator, device=x0.device).to(x0.dtype)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    denoised = denoiser(x0 + _per_example(sigma, x0) * noise, sigma, *cond)
    if denoised.shape != x0.shape:
        raise ValueError(f"denoiser output shape {tuple(denoised.shape)} differs from x0 shape {tuple(x0.shape)}")
    mse = (denoised - x0).pow(2).reshape(x0.shape[0], -1).mean(1)
    return (edm_loss_weight(sigma, sigma_data) * mse).mean()


def karras_sigmas(n_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> Tensor:
    """Karras: sigma_i = (s_max^(1/rho) + i/(N-1) (s_min^(1/rho) - s_max^(1/rho)))^rho, then sigma_N = 0.

    Returns n_steps + 1 values. With n_steps = 1 the schedule is [sigma_max, 0] (one step straight to zero).

    Notebook: 08_diffusion_basics
    """
    n_steps = positive_int("n_steps", n_steps)
    lo, hi = positive_real("sigma_min", sigma_min), positive_real("sigma_max", sigma_max)
    rho = positive_real("rho", rho)
    if not lo < hi:
        raise ValueError(f"sigma_min must be < sigma_max, got {sigma_min} and {sigma_max}")
    ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)  # n_steps = 1 gives [0]
    sigmas = (hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))).pow(rho)
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(torch.get_default_dtype())


def heun_evaluations(n_steps: int) -> int:
    """Denoiser calls of Heun sampling down to sigma = 0: 2 n_steps - 1 (no correction on the last step).

    Notebook: 08_diffusion_basics
    """
    return 2 * positive_int("n_steps", n_steps) - 1


def _schedule(sigmas: Tensor) -> list[float]:
    """A sampler's noise levels as Python numbers, checked once where they enter (read once, then no device sync)."""
    sigmas = torch.as_tensor(sigmas)
    if sigmas.dim() != 1 or sigmas.numel() < 2:
        raise ValueError(f"sigmas must be 1-D with at least 2 values, got shape {tuple(sigmas.shape)}")
    values = sigmas.tolist()
    if not all(s > 0 for s in values[:-1]) or not values[-1] >= 0:  # NaN fails too
        raise ValueError("sigmas must be > 0, except the last, which may be 0")
    if not all(b < a for a, b in zip(values, values[1:])):
        raise ValueError("sigmas must be strictly decreasing")
    return values


def _start(shape: tuple[int, ...], sigma_max: float, generator: torch.Generator | None,
           device: torch.device | str | None, x_init: Tensor | None) -> Tensor:
    if x_init is not None:
        if tuple(x_init.shape) != tuple(shape):
            raise ValueError(f"x_init shape {tuple(x_init.shape)} differs from shape {tuple(shape)}")
        return x_init.to(device=device or x_init.device).clone()
    return sigma_max * torch.randn(tuple(shape), generator=generator, device=device)


def _ode_slope(denoiser_fn: Denoiser, x: Tensor, sigma: float) -> Tensor:
    """dx/dsigma = (x - D(x, sigma)) / sigma, with sigma passed to D as a (batch,) tensor."""
    sigma_batch = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
    return (x - denoiser_fn(x, sigma_batch)) / sigma


@torch.no_grad()
def sample_euler(denoiser_fn: Denoiser, shape: tuple[int, ...], sigmas: Tensor,
                 generator: torch.Generator | None = None, device: torch.device | str | None = None,
                 x_init: Tensor | None = None) -> Tensor:
    """Euler ODE sampler: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (x_i - D(x_i, sigma_i)) / sigma_i.

    Notebook: 08_diffusion_basics
    """
    sigmas = _schedule(sigmas)
    x = _start(shape, sigmas[0], generator, device, x_init)
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        x = x + (s_next - s) * _ode_slope(denoiser_fn, x, s)
    return x


@torch.no_grad()
def sample_heun(denoiser_fn: Denoiser, shape: tuple[int, ...], sigmas: Tensor,
                generator: torch.Generator | None = None, device: torch.device | str | None = None,
                x_init: Tensor | None = None) -> Tensor:
    """Heun sampler: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (d_i + d'_{i+1})/2; Euler on a step to 0.

    Notebook: 08_diffusion_basics
    """
    sigmas = _schedule(sigmas)
    x = _start(shape, sigmas[0], generator, device, x_init)
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        slope = _ode_slope(denoiser_fn, x, s)
        x_euler = x + (s_next - s) * slope
        if s_next == 0:
            x = x_euler
        else:
            x = x + (s_next - s) * 0.5 * (slope + _ode_slope(denoiser_fn, x_euler, s_next))
    return x


def gaussian_denoiser(mu: Tensor | float, s: float) -> Denoiser:
    """Exact denoiser for data ~ N(mu, s^2 I): D(x, sigma) = (s^2 x + sigma^2 mu) / (s^2 + sigma^2).

    Notebook: 08_diffusion_basics
    """
    s = positive_real("s", s)

    def denoise(x: Tensor, sigma: Tensor | float) -> Tensor:
        sig2 = _per_example(_sigma(sigma, allow_zero=True), x).pow(2)
        return (s ** 2 * x + sig2 * mu) / (s ** 2 + sig2)

    return denoise


# ---------------------------------------------------------------------------------------------------- DDPM

def ddpm_betas(n_steps: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> Tensor:
    """Linear DDPM schedule beta_t = beta_1 + (t - 1)/(T - 1) (beta_T - beta_1), t = 1..T.

    Notebook: 08_diffusion_basics
    """
    n_steps = positive_int("n_steps", n_steps)
    b1, bT = positive_real("beta_1", beta_1), positive_real("beta_T", beta_T)
    if not b1 <= bT < 1:
        raise ValueError(f"need 0 < beta_1 <= beta_T < 1, got {beta_1} and {beta_T}")
    return torch.linspace(b1, bT, n_steps, dtype=torch.float64).to(torch.get_default_dtype())


def ddpm_alpha_bar(betas: Tensor) -> Tensor:
    """Alpha_bar_t = prod_{s <= t} (1 - beta_s). Notebook: 08_diffusion_basics."""
    betas = torch.as_tensor(betas)
    if betas.dim() != 1 or betas.numel() == 0:
        raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
    if not ((betas > 0) & (betas < 1)).all():
        raise ValueError("betas must lie in (0, 1)")
    return torch.cumprod(1 - betas.double(), 0).to(betas.dtype)


def ddpm_noise(x0: Tensor, t: Tensor | int, alpha_bar: Tensor,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Forward noising x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, eps ~ N(0, I); returns (x_t, eps).

    t is a 0-based index into alpha_bar (index 0 is the paper's t = 1): an int or an integer tensor of shape (batch,).
    An int is range-checked here (ValueError); a tensor t is not read (this runs every training step), and one
    outside 0..T-1 fails in the lookup instead (IndexError on CPU, a device-side assert on GPU).

    Notebook: 08_diffusion_basics
    """
    alpha_bar = torch.as_tensor(alpha_bar)
    if alpha_bar.dim() != 1 or alpha_bar.numel() == 0:
        raise ValueError(f"alpha_bar must be a non-empty 1-D tensor, got shape {tuple(alpha_bar.shape)}")
    int_tensor = torch.is_tensor(t) and not torch.is_floating_point(t) and t.dtype != torch.bool
    if not (is_int(t) or int_tensor):
        raise ValueError(f"t must be an int or an integer tensor, got {t!r}")
    if is_int(t):
        t = index("t", t, alpha_bar.numel())
    t = torch.as_tensor(t, device=alpha_bar.device)
    ab = alpha_bar.index_select(0, t.reshape(-1)).reshape(t.shape)  # = alpha_bar[t], but a negative t fails
    ab = _per_example(ab, x0, name="t")
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps, eps


def ddpm_sigma(alpha_bar: Tensor) -> Tensor:
    """The EDM noise level of DDPM step t: x_t / sqrt(ab_t) = x0 + sigma_t n with sigma_t = sqrt((1 - ab_t) / ab_t)."""
    alpha_bar = torch.as_tensor(alpha_bar)
    if not ((alpha_bar > 0) & (alpha_bar <= 1)).all():
        raise ValueError("alpha_bar must lie in (0, 1]")
    return ((1 - alpha_bar) / alpha_bar).sqrt()


@torch.no_grad()
def sample_ddpm(eps_fn: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...], betas: Tensor,
                generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
    """DDPM ancestral sampling (Ho et al. Alg. 2, variance beta_t): T network calls from x_T ~ N(0, I).

    eps_fn(x_t, t) predicts the noise; t is a (batch,) long tensor of 0-based step indices (index 0 = paper's t = 1).
    x_{t-1} = (x_t - beta_t / sqrt(1 - ab_t) eps) / sqrt(1 - beta_t) + sqrt(beta_t) z, with no noise on the last step.

    Notebook: 08_diffusion_basics
    """
    betas = torch.as_tensor(betas)
    alpha_bar = ddpm_alpha_bar(betas)
    beta_list, ab_list = betas.tolist(), alpha_bar.tolist()  # read once, not once per step
    x = torch.randn(tuple(shape), generator=generator, device=device)
    for t in range(betas.numel() - 1, -1, -1):
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        b, ab = beta_list[t], ab_list[t]
        x = (x - b / math.sqrt(1 - ab) * eps_fn(x, tt)) / math.sqrt(1 - b)
        if t > 0:
            x = x + math.sqrt(b) * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x


def gaussian_eps(mu: float, s: float, alpha_bar: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    """The exact noise predictor E[eps | x_t] for data ~ N(mu, s^2 I) under DDPM noising."""
    s = positive_real("s", s)
    alpha_bar = torch.as_tensor(alpha_bar)

    def eps(x: Tensor, t: Tensor) -> Tensor:
        ab = _per_example(alpha_bar.to(x.device, x.dtype)[t], x, name="t")
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s ** 2 + 1 - ab)

    return eps


TOY_KINDS = ("ring", "moons", "spiral")


def toy_data(n: int, kind: str = "ring", generator: torch.Generator | None = None) -> Tensor:
    """2-D toy data (n, 2) with roughly unit scale: 'ring' (8 Gaussians on a circle), 'moons', 'spiral'.

    Notebook: 08_diffusion_basics
    """
    n = positive_int("n", n)
    if kind not in TOY_KINDS:
        raise ValueError(f"unknown toy data {kind!r}; choose one of {TOY_KINDS}")
    u = torch.rand(n, generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    if kind == "ring":
        k = torch.randint(0, 8, (n,), generator=generator).float()
        angle = 2 * math.pi * k / 8
        return torch.stack([angle.cos(), angle.sin()], 1) + 0.08 * noise
    if kind == "moons":
        upper = torch.rand(n, generator=generator) < 0.5
        a = math.pi * u
        x = torch.where(upper, a.cos(), 1 - a.cos())
        y = torch.where(upper, a.sin(), 0.5 - a.sin())
        return (torch.stack([x - 0.5, y - 0.25], 1) + 0.06 * noise) / 1.0
    r = 0.15 + 0.85 * u
    a = 3 * math.pi * u
    return torch.stack([r * a.cos(), r * a.sin()], 1) + 0.03 * noise


def steps_for_ode_error(curve: Sequence[Mapping[str, Any]], tol: float, sampler: str = "heun") -> tuple[int, float] | None:
    """(steps, ODE error) of the fewest steps of `sampler` whose measured ODE error is at most tol, else None.

    curve: rows {"sampler", "steps", "ode_error"} as chapter 08 measures them (its findings' notes curve).

    Notebook: 09_hierarchical_diffusion
    """
    tol = positive_real("tol", tol)
    rows = sorted((int(r["steps"]), float(r["ode_error"])) for r in curve if r["sampler"] == sampler)
    return next(((n, e) for n, e in rows if e <= tol), None)


def nfe_to_reach(nfe, errors, tol: float) -> float | None:
    """The number of network calls at which an error curve first falls to tol (log-log interpolation).

    nfe and errors are matching sequences sorted by nfe; None when the curve never gets down to tol.

    Notebook: 08_diffusion_basics
    """
    nfe, errors = [float(v) for v in nfe], [float(v) for v in errors]
    if len(nfe) != len(errors) or not nfe:
        raise ValueError("nfe and errors must be non-empty and of equal length")
    if any(b <= a for a, b in zip(nfe, nfe[1:])) or min(nfe) <= 0:
        raise ValueError("nfe must be positive and strictly increasing")
    tol = positive_real("tol", tol)
    if errors[0] <= tol:
        return nfe[0]
    for (n0, e0), (n1, e1) in zip(zip(nfe, errors), zip(nfe[1:], errors[1:])):
        if e1 <= tol:
            if e0 <= 0 or e1 <= 0 or e0 == e1:
                return n1
            frac = (math.log(tol) - math.log(e0)) / (math.log(e1) - math.log(e0))
            return math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0)))
    return None
