"""Tests of course_lib.diffusion: EDM preconditioning against hand values and its unit-variance property, the
training-noise distribution, the EDM loss with exact and cheating denoisers, the Karras schedule, Euler and Heun
samplers on Gaussian data (exact denoiser, known ODE solution, convergence order), DDPM forward noising, bad inputs
(checked where values enter) and per-step code that never reads a tensor's values (no device sync)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib import diffusion as Df


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def counting(fn):
    """Wrap a denoiser so that it counts its calls in .calls."""
    def wrapped(x, sigma):
        wrapped.calls += 1
        return fn(x, sigma)
    wrapped.calls = 0
    return wrapped


# ---------------------------------------------------------------- preconditioning

def test_edm_precond_hand_values():
    # sigma = sigma_data = 0.5: s^2 + s_d^2 = 0.5
    c_skip, c_out, c_in, c_noise = Df.edm_precond(0.5)
    assert c_skip.item() == pytest.approx(0.5)
    assert c_out.item() == pytest.approx(0.25 / math.sqrt(0.5))  # 0.35355...
    assert c_in.item() == pytest.approx(math.sqrt(2.0))
    assert c_noise.item() == pytest.approx(math.log(0.5) / 4)  # -0.17329
    # sigma = 1: s^2 + s_d^2 = 1.25
    c_skip, c_out, c_in, c_noise = Df.edm_precond(torch.tensor([1.0]))
    assert c_skip.shape == (1,)
    assert c_skip.item() == pytest.approx(0.2)
    assert c_out.item() == pytest.approx(0.5 / math.sqrt(1.25))
    assert c_in.item() == pytest.approx(1 / math.sqrt(1.25))
    assert c_noise.item() == pytest.approx(0.0)


def test_edm_precond_formulas_and_identities_over_many_sigmas():
    sigma = torch.tensor([0.002, 0.03, 0.2, 1.0, 7.0, 80.0], dtype=torch.float64)
    sd = 0.7
    c_skip, c_out, c_in, c_noise = Df.edm_precond(sigma, sigma_data=sd)
    for i, s in enumerate(sigma.tolist()):
        assert c_skip[i].item() == pytest.approx(sd ** 2 / (s ** 2 + sd ** 2))
        assert c_out[i].item() == pytest.approx(s * sd / math.sqrt(s ** 2 + sd ** 2))
        assert c_in[i].item() == pytest.approx(1 / math.sqrt(s ** 2 + sd ** 2))
        assert c_noise[i].item() == pytest.approx(math.log(s) / 4)
    ones = torch.ones_like(sigma)
    assert torch.allclose(c_skip + (c_out / sd) ** 2, ones)  # the two weights share the unit
    assert torch.allclose(c_in ** 2 * (sigma ** 2 + sd ** 2), ones)
    # small sigma: D(x) -> x (skip everything); large sigma: D -> c_out F (skip nothing)
    assert c_skip[0].item() > 0.9999 and c_out[0].item() < 0.0021
    assert c_skip[-1].item() < 1e-4


def test_edm_precond_gives_unit_variance_input_and_target():
    """For x0 ~ N(0, s_d^2): the network input c_in x and its target (x0 - c_skip x) / c_out both have variance 1."""
    n, sd = 200_000, 0.5
    g = gen(0)
    x0 = sd * torch.randn(n, generator=g)
    noise = torch.randn(n, generator=g)
    se = 4 * math.sqrt(2 / n)  # 4 standard errors of a variance near 1
    for s in (0.01, 0.5, 3.0, 80.0):
        c_skip, c_out, c_in, _ = Df.edm_precond(s)
        x = x0 + s * noise
        assert (c_in * x).var().item() == pytest.approx(1.0, abs=se)
        assert ((x0 - c_skip * x) / c_out).var().item() == pytest.approx(1.0, abs=se)


def test_edm_loss_weight_is_inverse_c_out_squared():
    sigma = torch.tensor([0.002, 0.1, 0.5, 2.0, 80.0], dtype=torch.float64)
    for sd in (0.5, 1.3):
        _, c_out, _, _ = Df.edm_precond(sigma, sd)
        assert torch.allclose(Df.edm_loss_weight(sigma, sd), 1 / c_out ** 2, rtol=1e-12)
    assert Df.edm_loss_weight(0.5).item() == pytest.approx(8.0)  # 0.5 / 0.0625


# ---------------------------------------------------------------- EDMDenoiser

def test_edm_denoiser_wraps_the_raw_network():
    seen = {}

    def net(x_in, c_noise, y):
        seen["x_in"], seen["c_noise"] = x_in, c_noise
        return y

    x = torch.randn(3, 2, 4, generator=gen(1))
    y = torch.randn(3, 2, 4, generator=gen(2))
    sigma = torch.tensor([0.1, 0.5, 10.0])
    out = Df.EDMDenoiser(net)(x, sigma, y)
    c_skip, c_out, c_in, c_noise = Df.edm_precond(sigma)
    b = (-1, 1, 1)
    assert torch.allclose(seen["x_in"], c_in.view(b) * x)
    assert seen["c_noise"].shape == (3,) and torch.allclose(seen["c_noise"], c_noise)
    assert torch.allclose(out, c_skip.view(b) * x + c_out.view(b) * y)
    # a scalar sigma is used for the whole batch
    out = Df.EDMDenoiser(net)(x, 0.5, y)
    assert seen["c_noise"].shape == (3,)
    assert torch.allclose(out, 0.5 * x + 0.25 / math.sqrt(0.5) * y)


def test_edm_denoiser_with_zero_network_is_exact_for_centred_gaussian_data():
    """For x0 ~ N(0, s_d^2) the ideal D is s_d^2 x / (s_d^2 + sigma^2) = c_skip x, so F = 0 is optimal."""
    sd = 0.5
    den = Df.EDMDenoiser(lambda x_in, c_noise: torch.zeros_like(x_in), sigma_data=sd)
    x = torch.randn(5, 3, generator=gen(3))
    sigma = torch.tensor([0.01, 0.3, 1.0, 5.0, 80.0])
    assert torch.allclose(den(x, sigma), Df.gaussian_denoiser(0.0, sd)(x, sigma), atol=1e-6)


def test_edm_denoiser_bad_inputs():
    den = Df.EDMDenoiser(lambda x_in, c_noise: x_in)
    x = torch.zeros(2, 3)
    # values given as Python numbers or lists are checked (free); tensors only by shape (see the no-sync test)
    for bad in (0.0, -1.0, float("nan"), [0.5, 0.0]):
        with pytest.raises(ValueError, match="sigma must be > 0"):
            den(x, bad)
    with pytest.raises(ValueError, match="sigma"):
        den(x, torch.tensor([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="batch"):
        den(torch.tensor(1.0), 0.5)
    with pytest.raises(ValueError, match="sigma_data"):
        Df.EDMDenoiser(lambda x_in, c_noise: x_in, sigma_data=0.0)
    for fn in (Df.edm_precond, Df.edm_loss_weight):
        with pytest.raises(ValueError, match="sigma must be > 0"):
            fn(0.0)
        with pytest.raises(ValueError, match="sigma_data"):
            fn(0.5, sigma_data=True)


VALUE_READS = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy")


def refuse_value_reads(monkeypatch) -> None:
    """From here on, make every way of reading a tensor's values on the host fail: each one syncs a GPU."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("a tensor's values were read on the host (a device sync)")
    for name in VALUE_READS:
        monkeypatch.setattr(torch.Tensor, name, refuse)


def test_per_step_code_reads_no_tensor_values(monkeypatch):
    """The denoiser's forward, the EDM loss and the noise sampling of a training step check shapes only."""
    g = gen(21)
    x0 = torch.randn(4, 3, generator=g)
    sigma = torch.tensor([0.01, 0.5, 2.0, 80.0])
    net = nn.Linear(3, 3)
    den = Df.EDMDenoiser(lambda x_in, c_noise: net(x_in))
    ab = Df.ddpm_alpha_bar(Df.ddpm_betas(10))  # schedules are checked when they are made, before training
    refuse_value_reads(monkeypatch)
    with pytest.raises(AssertionError, match="host"):  # the guard is live: an `if tensor:` is caught
        bool(torch.tensor([0.5]) > 0)
    assert den(x0, sigma).shape == x0.shape
    assert den(x0, torch.tensor(0.5)).shape == x0.shape
    assert len(Df.edm_precond(sigma)) == 4 and Df.edm_loss_weight(sigma).shape == (4,)
    assert Df.sample_training_sigma(4, generator=g).shape == (4,)
    assert Df.edm_loss(den, x0, generator=g).dim() == 0
    assert Df.gaussian_denoiser(0.0, 1.0)(x0, sigma).shape == x0.shape
    xt, eps = Df.ddpm_noise(x0, torch.tensor([0, 3, 9, 5]), ab, generator=g)
    assert xt.shape == eps.shape == x0.shape


def test_per_step_code_gives_the_same_numbers_as_before():
    """The values the checks used to read are not needed for the result: hand values at sigma = sigma_data."""
    den = Df.EDMDenoiser(lambda x_in, c_noise: torch.zeros_like(x_in))
    x = torch.ones(2, 3)
    assert torch.equal(den(x, torch.tensor([0.5, 0.5])), den(x, 0.5))
    assert torch.allclose(den(x, 0.5), torch.full((2, 3), 0.5))  # c_skip = 0.5


# ---------------------------------------------------------------- training noise and loss

def test_sample_training_sigma_is_log_normal():
    n = 100_000
    sigma = Df.sample_training_sigma(n, generator=gen(4))
    assert sigma.shape == (n,) and (sigma > 0).all()
    log_s = sigma.log()
    assert abs(log_s.mean().item() - (-1.2)) < 4 * 1.2 / math.sqrt(n)
    assert abs(log_s.std().item() - 1.2) < 4 * 1.2 / math.sqrt(2 * n)
    assert torch.equal(Df.sample_training_sigma(10, generator=gen(5)), Df.sample_training_sigma(10, generator=gen(5)))
    other = Df.sample_training_sigma(n, p_mean=0.4, p_std=0.3, generator=gen(6)).log()
    assert abs(other.mean().item() - 0.4) < 4 * 0.3 / math.sqrt(n)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n"):
            Df.sample_training_sigma(bad)
    with pytest.raises(ValueError, match="p_std"):
        Df.sample_training_sigma(4, p_std=0.0)


def test_edm_loss_of_exact_denoiser_is_one_in_expectation():
    """With D = c_skip x on N(0, s_d^2) data the error per dimension has variance c_out^2, and lambda = 1 / c_out^2:
    the loss is the mean of B * D chi-square(1) variables, 1 +- sqrt(2 / (B D))."""
    b, d, sd = 4096, 16, 0.5
    x0 = sd * torch.randn(b, d, generator=gen(7))
    den = Df.EDMDenoiser(lambda x_in, c_noise: torch.zeros_like(x_in), sigma_data=sd)
    loss = Df.edm_loss(den, x0, generator=gen(8), sigma_data=sd)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(1.0, abs=4 * math.sqrt(2 / (b * d)))
    # the identity denoiser (D = x) is worse: its expected loss is E[(sigma^2 + s_d^2) / s_d^2] > 1
    ident = Df.edm_loss(lambda x, sigma: x, x0, generator=gen(8), sigma_data=sd)
    assert ident.item() > 1.2


def test_edm_loss_cheating_denoiser_is_zero_and_loss_is_deterministic():
    x0 = torch.randn(8, 2, 5, generator=gen(9))
    assert Df.edm_loss(lambda x, sigma: x0, x0, generator=gen(10)).item() == 0.0
    net = nn.Linear(5, 5)
    den = Df.EDMDenoiser(lambda x_in, c_noise: net(x_in))
    a = Df.edm_loss(den, x0, generator=gen(11))
    assert torch.isfinite(a) and a.item() >= 0
    assert torch.equal(a, Df.edm_loss(den, x0, generator=gen(11)))
    a.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_edm_loss_passes_cond_and_checks_shapes():
    x0 = torch.randn(4, 3, generator=gen(12))
    den = Df.EDMDenoiser(lambda x_in, c_noise, y: y)
    loss_y = Df.edm_loss(den, x0, generator=gen(13), cond=(torch.zeros(4, 3),))
    assert torch.isfinite(loss_y)
    with pytest.raises(ValueError, match="shape"):
        Df.edm_loss(lambda x, sigma: x[:, :2], x0)
    with pytest.raises(ValueError, match="batch"):
        Df.edm_loss(lambda x, sigma: x, torch.tensor(1.0))


# ---------------------------------------------------------------- Karras schedule

def test_karras_sigmas_shape_ends_and_hand_value():
    s = Df.karras_sigmas(18)
    assert s.shape == (19,)
    assert s[0].item() == pytest.approx(80.0) and s[-2].item() == pytest.approx(0.002) and s[-1].item() == 0.0
    assert (s[1:] < s[:-1]).all()
    # 2 steps: [s_max, s_min, 0]; 3 steps: the middle is ((80^(1/7) + 0.002^(1/7)) / 2)^7 = 2.5153...
    assert torch.allclose(Df.karras_sigmas(2), torch.tensor([80.0, 0.002, 0.0]))
    assert Df.karras_sigmas(3)[1].item() == pytest.approx(2.5153, abs=1e-3)
    one = Df.karras_sigmas(1)  # edge case: one step straight from sigma_max to 0
    assert torch.equal(one, torch.tensor([80.0, 0.0]))
    custom = Df.karras_sigmas(5, sigma_min=0.1, sigma_max=2.0, rho=1.0)  # rho = 1: evenly spaced
    assert torch.allclose(custom, torch.tensor([2.0, 1.525, 1.05, 0.575, 0.1, 0.0]))


def test_karras_sigmas_bad_inputs():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_steps"):
            Df.karras_sigmas(bad)
    with pytest.raises(ValueError, match="sigma_min"):
        Df.karras_sigmas(10, sigma_min=0.0)
    with pytest.raises(ValueError, match="sigma_min must be < sigma_max"):
        Df.karras_sigmas(10, sigma_min=5.0, sigma_max=5.0)
    with pytest.raises(ValueError, match="rho"):
        Df.karras_sigmas(10, rho=0.0)


# ---------------------------------------------------------------- samplers

MU, S, SMAX = 1.5, 0.5, 80.0


def test_heun_40_steps_samples_the_gaussian():
    n = 20_000
    den = counting(Df.gaussian_denoiser(MU, S))
    x = Df.sample_heun(den, (n, 1), Df.karras_sigmas(40), generator=gen(14))
    assert den.calls == Df.heun_evaluations(40) == 79
    # exact ODE from x_T = sigma_max z: x_0 = mu + (x_T - mu) s / sqrt(s^2 + sigma_max^2); starting without mu
    # shifts the mean by -mu s / sqrt(s^2 + s_max^2) = -0.0094 (the 40-step gain error is ~0.3 %, see below)
    gain = S / math.sqrt(S ** 2 + SMAX ** 2)
    assert x.mean().item() == pytest.approx(MU * (1 - gain), abs=4 * S / math.sqrt(n) + 0.002)
    assert x.std().item() == pytest.approx(S, abs=4 * S / math.sqrt(2 * n) + 0.01)


def test_samplers_on_a_4d_gaussian_and_image_shaped_batch():
    mu = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    den = Df.gaussian_denoiser(mu, 0.5)
    n = 10_000
    x = Df.sample_heun(den, (n, 4), Df.karras_sigmas(32), generator=gen(15))
    assert x.shape == (n, 4)
    assert ((x.mean(0) - mu).abs() < 4 * 0.5 / math.sqrt(n) + 0.03).all()
    assert ((x.std(0) - 0.5).abs() < 4 * 0.5 / math.sqrt(2 * n) + 0.02).all()
    img = Df.sample_euler(Df.gaussian_denoiser(0.0, 0.5), (3, 2, 4, 4), Df.karras_sigmas(5), generator=gen(16))
    assert img.shape == (3, 2, 4, 4) and torch.isfinite(img).all()


def _gain_error(sampler, n_steps: int) -> float:
    """Relative error of the sampler's map x_T -> x_0, which is affine for Gaussian data (float64, no noise)."""
    den = Df.gaussian_denoiser(MU, S)
    x_init = torch.tensor([[MU], [MU + 1.0]], dtype=torch.float64)
    sigmas = Df.karras_sigmas(n_steps).double()
    out = sampler(den, (2, 1), sigmas, x_init=x_init)
    assert out[0].item() == pytest.approx(MU)  # the data mean is a fixed point of both samplers
    exact = S / math.sqrt(S ** 2 + SMAX ** 2)
    return (out[1] - out[0]).item() / exact - 1


def test_euler_is_first_order_and_heun_second_order():
    """Measured relative errors of the output std: Euler -0.334 (8 steps), -0.184 (15), -0.088 (32), -0.044 (64);
    Heun +0.394 (8 steps), +0.084 (15), +0.016 (32), +0.0037 (64). At 8 steps Heun is the worse of the two, and
    at the same 15 evaluations Euler (15 steps) beats Heun (8 steps); from 16 steps on Heun wins clearly."""
    e = {n: _gain_error(Df.sample_euler, n) for n in (8, 15, 32, 64)}
    h = {n: _gain_error(Df.sample_heun, n) for n in (8, 15, 32, 64)}
    assert e[8] == pytest.approx(-0.334, abs=0.005) and h[8] == pytest.approx(0.394, abs=0.005)
    assert abs(h[8]) > abs(e[8])  # coarse schedule: the correction overshoots
    assert abs(e[15]) < abs(h[8])  # equal cost (15 denoiser calls)
    assert abs(h[32]) < abs(e[32]) / 5
    assert 1.8 < e[32] / e[64] < 2.2  # halving the step halves Euler's error
    assert 3.5 < h[32] / h[64] < 4.6  # and quarters Heun's


def test_samplers_count_calls_are_deterministic_and_respect_x_init():
    den = counting(Df.gaussian_denoiser(0.0, 1.0))
    sig = Df.karras_sigmas(6)
    a = Df.sample_euler(den, (4, 3), sig, generator=gen(17))
    assert den.calls == 6
    den.calls = 0
    Df.sample_heun(den, (4, 3), sig, generator=gen(17))
    assert den.calls == Df.heun_evaluations(6) == 11
    den.calls = 0
    Df.sample_heun(den, (4, 3), sig[:-1], generator=gen(17))  # ends at sigma_min > 0: every step is corrected
    assert den.calls == 2 * 5
    assert torch.equal(a, Df.sample_euler(den, (4, 3), sig, generator=gen(17)))
    assert not torch.equal(a, Df.sample_euler(den, (4, 3), sig, generator=gen(18)))
    # x_init is the starting point itself: one Euler step from sigma_max to 0 returns D(x_init, sigma_max)
    x_init = torch.full((2, 3), 5.0)
    one = Df.sample_euler(Df.gaussian_denoiser(0.0, 1.0), (2, 3), torch.tensor([1.0, 0.0]), x_init=x_init)
    assert torch.allclose(one, torch.full((2, 3), 2.5))  # (1 * 5 + 1 * 0) / 2
    assert torch.equal(x_init, torch.full((2, 3), 5.0))  # not modified in place


def test_samplers_bad_inputs():
    den = Df.gaussian_denoiser(0.0, 1.0)
    for sampler in (Df.sample_euler, Df.sample_heun):
        with pytest.raises(ValueError, match="decreasing"):
            sampler(den, (2,), torch.tensor([1.0, 2.0, 0.0]))
        with pytest.raises(ValueError, match="at least 2"):
            sampler(den, (2,), torch.tensor([1.0]))
        with pytest.raises(ValueError, match="> 0"):
            sampler(den, (2,), torch.tensor([1.0, 0.0, 0.0]))
        with pytest.raises(ValueError, match="x_init"):
            sampler(den, (2, 3), Df.karras_sigmas(3), x_init=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="n_steps"):
        Df.heun_evaluations(0)


def test_gaussian_denoiser_hand_values():
    den = Df.gaussian_denoiser(1.0, 1.0)
    x = torch.tensor([[3.0], [3.0], [3.0]])
    assert torch.allclose(den(x, torch.tensor([0.0, 1.0, 1e4])), torch.tensor([[3.0], [2.0], [1.0]]), atol=1e-6)
    with pytest.raises(ValueError, match="s must"):
        Df.gaussian_denoiser(0.0, 0.0)
    for bad in (-1.0, [1.0, -1.0, 1.0]):
        with pytest.raises(ValueError, match="sigma must be >= 0"):
            den(x, bad)
    with pytest.raises(ValueError, match="> 0"):  # a sampler checks its whole schedule once, before any step
        Df.sample_euler(den, (3, 1), torch.tensor([1.0, -1.0, 0.0]))


# ---------------------------------------------------------------- DDPM

def test_ddpm_betas_and_alpha_bar():
    betas = Df.ddpm_betas()
    assert betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    assert betas[1].item() - betas[0].item() == pytest.approx((0.02 - 1e-4) / 999, rel=1e-3)
    ab = Df.ddpm_alpha_bar(betas)
    assert ab[0].item() == pytest.approx(1 - 1e-4)
    assert (ab[1:] < ab[:-1]).all()
    prod = 1.0
    for t in range(1000):
        prod *= 1 - (1e-4 + t * (0.02 - 1e-4) / 999)
    assert ab[-1].item() == pytest.approx(prod, rel=1e-4)  # about 4.0e-5: x_T is almost pure noise
    assert 3e-5 < prod < 5e-5
    with pytest.raises(ValueError, match="beta"):
        Df.ddpm_betas(10, beta_1=0.1, beta_T=0.01)
    with pytest.raises(ValueError, match="betas"):
        Df.ddpm_alpha_bar(torch.tensor([0.1, 1.0]))


def test_ddpm_noise_moments_for_constant_data():
    ab = Df.ddpm_alpha_bar(Df.ddpm_betas())
    n = 100_000
    x0 = torch.full((3, n), 2.0)
    t = torch.tensor([0, 499, 999])
    x_t, eps = Df.ddpm_noise(x0, t, ab, generator=gen(19))
    assert x_t.shape == eps.shape == (3, n)
    for row, ti in enumerate(t.tolist()):
        a = ab[ti].item()
        assert x_t[row].mean().item() == pytest.approx(2 * math.sqrt(a), abs=4 * math.sqrt((1 - a) / n))
        assert x_t[row].var().item() == pytest.approx(1 - a, rel=4 * math.sqrt(2 / n))
    # the returned eps is the noise that was used
    a = ab[t].view(-1, 1)
    assert torch.allclose(x_t, a.sqrt() * x0 + (1 - a).sqrt() * eps)
    # an int t applies to the whole batch; the same generator gives the same draw
    x1, _ = Df.ddpm_noise(x0[:, :10], 499, ab, generator=gen(20))
    x2, _ = Df.ddpm_noise(x0[:, :10], 499, ab, generator=gen(20))
    assert torch.equal(x1, x2)


def test_ddpm_noise_bad_t():
    ab = Df.ddpm_alpha_bar(Df.ddpm_betas(10))
    x0 = torch.zeros(2, 3)
    for bad in (-1, 10):
        with pytest.raises(ValueError, match=r"t must be an index in 0\.\.9"):
            Df.ddpm_noise(x0, bad, ab)
    for bad in (torch.tensor([0, 10]), torch.tensor([-1, 0])):  # a tensor t is not read; the lookup fails
        with pytest.raises(IndexError):
            Df.ddpm_noise(x0, bad, ab)
    for bad in (2.0, torch.tensor([1.0, 2.0]), True):
        with pytest.raises(ValueError, match="integer"):
            Df.ddpm_noise(x0, bad, ab)
    with pytest.raises(ValueError, match="t must be a scalar or have shape"):
        Df.ddpm_noise(x0, torch.tensor([1, 2, 3]), ab)


# ---------------------------------------------------------------- DDPM sampling, DDPM <-> EDM, toy data

def test_ddpm_sigma_links_ddpm_noising_to_edm():
    ab = Df.ddpm_alpha_bar(Df.ddpm_betas(1000))
    sig = Df.ddpm_sigma(ab)
    assert sig[0].item() == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)), rel=1e-3)  # ab_1 = 1 - beta_1
    assert (sig[1:] > sig[:-1]).all()  # more noise at every step
    assert 80 < sig[-1].item() < 200  # DDPM's last step is about EDM's sigma_max = 80
    # x_t / sqrt(ab_t) - x0 has standard deviation sigma_t
    x0 = torch.full((40_000, 1), 0.7)
    xt, _ = Df.ddpm_noise(x0, 300, ab, generator=gen(3))
    assert ((xt / ab[300].sqrt()) - x0).std().item() == pytest.approx(sig[300].item(), rel=0.02)
    assert Df.ddpm_sigma(torch.tensor(1.0)).item() == 0
    with pytest.raises(ValueError, match="alpha_bar"):
        Df.ddpm_sigma(torch.tensor([0.5, 0.0]))


def test_gaussian_eps_is_the_posterior_mean_of_the_noise():
    ab = Df.ddpm_alpha_bar(Df.ddpm_betas(100))
    x0 = MU + S * torch.randn(200_000, 1, generator=gen(5))
    t = 40
    xt, eps = Df.ddpm_noise(x0, t, ab, generator=gen(6))
    pred = Df.gaussian_eps(MU, S, ab)(xt, torch.full((len(xt),), t))
    # E[eps | x_t] is linear in x_t: the least-squares slope of eps on x_t equals the predictor's slope
    slope = ((xt - xt.mean()) * (eps - eps.mean())).mean() / xt.var()
    pslope = (pred[1] - pred[0]) / (xt[1] - xt[0])
    assert slope.item() == pytest.approx(pslope.item(), rel=0.02)
    # and it beats predicting zero noise by the explained variance
    assert ((pred - eps) ** 2).mean() < ((eps) ** 2).mean()


def test_ddpm_ancestral_sampling_with_the_exact_noise_predictor_samples_the_gaussian():
    betas = Df.ddpm_betas(200, 1e-4, 0.05)
    ab = Df.ddpm_alpha_bar(betas)
    calls = []

    def eps(x, t):
        calls.append(int(t[0]))
        return Df.gaussian_eps(MU, S, ab)(x, t)

    x = Df.sample_ddpm(eps, (20_000, 1), betas, generator=gen(8))
    assert calls == list(range(199, -1, -1))  # T calls, from the noisiest step down
    assert x.mean().item() == pytest.approx(MU, abs=0.03)
    assert x.std().item() == pytest.approx(S, rel=0.05)
    again = Df.sample_ddpm(Df.gaussian_eps(MU, S, ab), (5, 1), betas, generator=gen(8))
    assert torch.equal(again, Df.sample_ddpm(Df.gaussian_eps(MU, S, ab), (5, 1), betas, generator=gen(8)))


@pytest.mark.parametrize("kind", Df.TOY_KINDS)
def test_toy_data_shape_scale_and_determinism(kind):
    x = Df.toy_data(4000, kind, generator=gen(1))
    assert x.shape == (4000, 2)
    assert 0.2 < x.std().item() < 1.5 and x.abs().max() < 3
    assert torch.equal(x, Df.toy_data(4000, kind, generator=gen(1)))
    assert not torch.equal(x, Df.toy_data(4000, kind, generator=gen(2)))


def test_toy_ring_has_eight_modes_on_the_unit_circle():
    x = Df.toy_data(8000, "ring", generator=gen(0))
    assert x.norm(dim=1).mean().item() == pytest.approx(1.0, abs=0.02)
    angle = torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi)
    k = torch.round(angle / (2 * math.pi / 8)) % 8
    counts = torch.bincount(k.long(), minlength=8)
    assert counts.min() > 800  # each of the 8 modes gets about 1000 points
    with pytest.raises(ValueError, match="unknown toy data"):
        Df.toy_data(10, "swirl")


def test_nfe_to_reach_on_power_laws_and_edges():
    nfe = [2, 4, 8, 16, 32]
    first = [1 / n for n in nfe]  # error ~ 1/NFE: reaches 1/10 at NFE 10 exactly (log-log interpolation)
    second = [4 / n ** 2 for n in nfe]  # ~ 1/NFE^2: reaches 1/100 at NFE 20
    assert Df.nfe_to_reach(nfe, first, 0.1) == pytest.approx(10.0)
    assert Df.nfe_to_reach(nfe, second, 0.01) == pytest.approx(20.0)
    assert Df.nfe_to_reach(nfe, first, 0.6) == 2  # already there at the first point
    assert Df.nfe_to_reach(nfe, first, 0.001) is None  # never reached
    assert Df.nfe_to_reach([1, 2, 3], [1.0, 0.5, 0.7], 0.5) == 2  # the first crossing counts
    with pytest.raises(ValueError, match="increasing"):
        Df.nfe_to_reach([4, 2], [1, 1], 0.1)
    with pytest.raises(ValueError, match="equal length"):
        Df.nfe_to_reach([1, 2], [1], 0.1)


def test_steps_for_ode_error_picks_the_fewest_steps_within_tolerance():
    curve = [{"sampler": "heun", "steps": 18, "ode_error": 0.026}, {"sampler": "heun", "steps": 4, "ode_error": 1.4},
             {"sampler": "euler", "steps": 8, "ode_error": 0.01}, {"sampler": "heun", "steps": 8, "ode_error": 0.19},
             {"sampler": "heun", "steps": 32, "ode_error": 0.008}]
    assert Df.steps_for_ode_error(curve, 0.05) == (18, 0.026)  # unsorted input; Euler's rows ignored
    assert Df.steps_for_ode_error(curve, 0.2) == (8, 0.19)
    assert Df.steps_for_ode_error(curve, 0.05, sampler="euler") == (8, 0.01)
    assert Df.steps_for_ode_error(curve, 0.001) is None
    with pytest.raises(ValueError, match="tol"):
        Df.steps_for_ode_error(curve, 0.0)
