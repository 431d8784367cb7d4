"""Tests of course_lib.losses: reparameterisation moments and gradients, KL closed form vs Monte-Carlo and
torch.distributions, the ELBO's reconstruction conventions and paper 002's effective beta, bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from course_lib import losses as L


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- reparameterisation

def test_reparameterize_moments_per_dimension():
    n = 200_000
    mu0, var0 = torch.tensor([1.5, -2.0, 0.0]), torch.tensor([0.25, 4.0, 1e-2])
    z = L.reparameterize(mu0.repeat(n, 1), var0.log().repeat(n, 1), gen(0))
    assert z.shape == (n, 3) and z.dtype == torch.float32
    sd = var0.sqrt()
    assert ((z.mean(0) - mu0).abs() < 4 * sd / math.sqrt(n)).all()
    assert ((z.std(0) - sd).abs() < 4 * sd / math.sqrt(2 * n)).all()  # s.e. of a normal sample's std
    r = torch.corrcoef(z.T)[0, 1]  # independent dimensions
    assert abs(float(r)) < 4 / math.sqrt(n)


def test_reparameterize_gradients_reach_mu_and_logvar():
    mu = torch.tensor([[0.3, -1.0], [2.0, 0.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 1.0], [-2.0, 0.5]], requires_grad=True)
    z = L.reparameterize(mu, logvar, gen(1))
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))
    # dz/dlogvar = 0.5 * eps * sigma = 0.5 * (z - mu)
    assert torch.allclose(logvar.grad, 0.5 * (z - mu).detach())
    assert (logvar.grad != 0).all()


def test_reparameterize_is_seeded_by_its_generator_and_keeps_dtype():
    mu, logvar = torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64)
    a, b, c = (L.reparameterize(mu, logvar, gen(s)) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64
    with pytest.raises(ValueError, match="same shape"):
        L.reparameterize(mu, logvar[:, :3])


def test_paper_001_numpy_reparameterisation_is_a_type_error():
    """Paper 001 writes eps = np.random.randn(std): randn takes a SHAPE, so an array of stds is refused."""
    std = np.exp(0.5 * np.log(np.array([0.25, 4.0])))
    with pytest.raises(TypeError):
        np.random.randn(std)
    n = 100_000
    z = L.reparameterize(torch.zeros(n, 2), torch.tensor(np.log([0.25, 4.0]), dtype=torch.float32).repeat(n, 1),
                         gen(2))
    assert torch.allclose(z.std(0), torch.tensor(std, dtype=torch.float32), rtol=0.02)
    assert z.mean(0).abs().max() < 0.03


# ---------------------------------------------------------------- KL

def test_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    z = torch.zeros(4, 6)
    assert torch.equal(L.gaussian_kl(z, z), torch.zeros(4))
    mu, logvar = torch.randn(4, 6, generator=gen(3)), torch.randn(4, 6, generator=gen(4))
    assert (L.gaussian_kl(mu, logvar) > 0).all()


def test_kl_closed_form_by_hand():
    # one dimension: KL = 0.5 * (mu^2 + s^2 - 1 - log s^2)
    mu, var = 1.0, 4.0
    kl = L.gaussian_kl(torch.tensor([[mu]]), torch.tensor([[math.log(var)]]))
    assert float(kl) == pytest.approx(0.5 * (mu ** 2 + var - 1 - math.log(var)), rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_closed_form_matches_monte_carlo(seed):
    g = gen(seed)
    mu, logvar = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    n = 200_000
    mc = L.gaussian_kl_monte_carlo(mu, logvar, n, gen(100 + seed))
    exact = L.gaussian_kl(mu, logvar)
    # per dimension the log-ratio has variance 0.5 (1 - s^2)^2 + mu^2 s^2; dimensions are independent
    s2 = logvar.exp()
    se = ((0.5 * (1 - s2) ** 2 + mu ** 2 * s2).sum(1) / n).sqrt()
    assert ((mc - exact).abs() < 4 * se).all()
    assert mc.shape == exact.shape == (4,)


def test_monte_carlo_kl_is_exact_at_the_prior_and_checks_n_samples():
    z = torch.zeros(2, 3)
    assert torch.allclose(L.gaussian_kl_monte_carlo(z, z, 10, gen(0)), torch.zeros(2))  # q = p: log-ratio is 0
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="n_samples"):
            L.gaussian_kl_monte_carlo(z, z, bad)


def test_kl_matches_torch_distributions_and_sums_all_non_batch_dims():
    g = gen(5)
    mu, logvar = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).flatten(1).sum(1)
    kl = L.gaussian_kl(mu, logvar)
    assert kl.shape == (3,)
    assert torch.allclose(kl, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        L.gaussian_kl(mu, logvar[:, :1])
    with pytest.raises(ValueError, match="batch"):
        L.gaussian_kl(torch.tensor(0.0), torch.tensor(0.0))


def test_kl_per_dim_sums_to_the_batch_mean_kl_and_finds_collapsed_dims():
    g = gen(6)
    mu, logvar = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    mu[:, 2], logvar[:, 2] = 0.0, 0.0  # a collapsed unit: q = p for every example
    per_dim = L.kl_per_dim(mu, logvar)
    assert per_dim.shape == (5,)
    assert float(per_dim.sum()) == pytest.approx(float(L.gaussian_kl(mu, logvar).mean()), rel=1e-5)
    assert per_dim[2] == 0 and (per_dim[[0, 1, 3, 4]] > 0).all()
    with pytest.raises(ValueError, match="batch, latent"):
        L.kl_per_dim(mu.reshape(8, 5, 1), logvar.reshape(8, 5, 1))


# ---------------------------------------------------------------- ELBO

def elbo_case():
    x = torch.zeros(2, 4)
    x_hat = torch.tensor([[1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])  # SSE 2 and 4, MSE 0.5 and 1
    mu = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # with logvar 0: KL = 0.5 |mu|^2 = 0.5 and 2
    return x, x_hat, mu, torch.zeros(2, 3)


def test_elbo_values_by_hand():
    x, x_hat, mu, logvar = elbo_case()
    loss, parts = L.elbo_loss(x, x_hat, mu, logvar)  # mse, beta 1
    assert float(parts["recon"]) == pytest.approx(0.75) and float(parts["kl"]) == pytest.approx(1.25)
    assert float(loss) == pytest.approx(2.0)
    loss, parts = L.elbo_loss(x, x_hat, mu, logvar, beta=2.0)
    assert float(loss) == pytest.approx(0.75 + 2 * 1.25)
    loss, parts = L.elbo_loss(x, x_hat, mu, logvar, beta=1.0, reconstruction="sse")
    assert float(parts["recon"]) == pytest.approx(0.5 * (2 + 4) / 2)
    assert float(loss) == pytest.approx(1.5 + 1.25)
    loss, parts = L.elbo_loss(x, x_hat, mu, logvar, beta=0.0, reconstruction="sse")
    assert float(loss) == pytest.approx(1.5) and isinstance(parts["kl"], torch.Tensor)


def test_sse_is_the_unit_variance_gaussian_likelihood_and_mse_does_not_grow_with_length():
    g = gen(7)
    x, x_hat = torch.randn(3, 2, 50, generator=g, dtype=torch.float64), torch.randn(3, 2, 50, generator=g,
                                                                                      dtype=torch.float64)
    z = torch.zeros(3, 4, dtype=torch.float64)
    _, parts = L.elbo_loss(x, x_hat, z, z, reconstruction="sse")
    nll = -Normal(x_hat, 1.0).log_prob(x).flatten(1).sum(1) - 100 * 0.5 * math.log(2 * math.pi)
    assert float(parts["recon"]) == pytest.approx(float(nll.mean()), rel=1e-9)
    longer = [t.repeat(1, 1, 3) for t in (x, x_hat)]
    mse = float(L.elbo_loss(x, x_hat, z, z)[0])
    assert float(L.elbo_loss(*longer, z, z)[0]) == pytest.approx(mse)
    assert float(L.elbo_loss(*longer, z, z, reconstruction="sse")[0]) == pytest.approx(
        3 * float(L.elbo_loss(x, x_hat, z, z, reconstruction="sse")[0]))


def test_elbo_has_gradients_for_decoder_and_encoder():
    x, x_hat, mu, logvar = elbo_case()
    for t in (x_hat, mu, logvar):
        t.requires_grad_(True)
    loss, parts = L.elbo_loss(x, x_hat, mu, logvar, beta=0.5)
    loss.backward()
    assert torch.allclose(x_hat.grad, 2 * x_hat.detach() / (2 * 4))  # d/dx_hat of mean_b mean_i (x_hat - x)^2
    assert torch.allclose(mu.grad, 0.5 * mu.detach() / 2)  # beta * mu / batch
    assert torch.allclose(logvar.grad, torch.zeros(2, 3))  # 0.5 (exp(logvar) - 1) = 0 at logvar 0
    assert not parts["recon"].requires_grad


def test_elbo_bad_inputs():
    x, x_hat, mu, logvar = elbo_case()
    with pytest.raises(ValueError, match="beta"):
        L.elbo_loss(x, x_hat, mu, logvar, beta=-0.1)
    for bad in (float("nan"), True, "1"):  # neither NaN nor bool passes as a number
        with pytest.raises(ValueError, match="beta must be >= 0"):
            L.elbo_loss(x, x_hat, mu, logvar, beta=bad)
    with pytest.raises(ValueError, match="reconstruction"):
        L.elbo_loss(x, x_hat, mu, logvar, reconstruction="bce")
    with pytest.raises(ValueError, match="x and x_hat"):
        L.elbo_loss(x, x_hat[:, :3], mu, logvar)
    with pytest.raises(ValueError, match="batch size"):
        L.elbo_loss(x, x_hat, mu[:1], logvar[:1])
    with pytest.raises(ValueError, match="same shape"):
        L.elbo_loss(x, x_hat, mu, logvar[:, :2])


def test_effective_beta_of_paper_002():
    n = 2 * 1500 * 251
    assert n == 753_000
    assert L.effective_beta(1.0, n) == pytest.approx(2.66e-6, rel=2e-3)
    assert L.effective_beta(1.0, n, "mse") == 1.0
    # the same objective: 0.5 SSE + beta KL = (N/2) (MSE + beta_eff KL)
    x, x_hat, mu, logvar = elbo_case()
    beta = 3.0
    sse = float(L.elbo_loss(x, x_hat, mu, logvar, beta, "sse")[0])
    mse = float(L.elbo_loss(x, x_hat, mu, logvar, L.effective_beta(beta, 4), "mse")[0])
    assert sse == pytest.approx(4 / 2 * mse)
    for bad, name in (((-1.0, n), "beta"), ((1.0, 0), "n_elements"), ((1.0, 2.5), "n_elements"),
                      ((1.0, True), "n_elements")):
        with pytest.raises(ValueError, match=name):
            L.effective_beta(*bad)
    with pytest.raises(ValueError, match="reconstruction"):
        L.effective_beta(1.0, n, "l1")


# ---------------------------------------------------------------- free bits and sequence NLL (Chapter 05)

def test_free_bits_zero_is_the_plain_kl():
    mu, logvar = torch.randn(16, 6, generator=gen(1)), torch.randn(16, 6, generator=gen(2)) * 0.3
    plain = L.gaussian_kl(mu, logvar).mean()
    for mode in L.FREE_BITS_MODES:
        assert torch.allclose(L.free_bits_kl(mu, logvar, 0.0, mode), plain, rtol=1e-6)


def test_free_bits_per_dim_clamps_each_dimension():
    mu = torch.zeros(4, 3)
    mu[:, 0] = 2.0  # KL of dim 0 = 0.5 * 4 = 2 nats; dims 1, 2 are the prior (0 nats)
    logvar = torch.zeros(4, 3)
    assert float(L.free_bits_kl(mu, logvar, 0.5, "dim")) == pytest.approx(2.0 + 0.5 + 0.5)
    assert float(L.free_bits_kl(mu, logvar, 3.0, "dim")) == pytest.approx(9.0)
    mu.requires_grad_(True)
    L.free_bits_kl(mu, logvar, 3.0, "dim").backward()  # every dim under the threshold: no gradient at all
    assert float(mu.grad.abs().sum()) == 0.0


def test_free_bits_total_is_a_hinge_per_example():
    mu = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # per-example KL: 2 and 0 nats
    logvar = torch.zeros(2, 2)
    assert float(L.free_bits_kl(mu, logvar, 0.5, "total")) == pytest.approx((1.5 + 0.0) / 2)
    assert float(L.free_bits_kl(mu, logvar, 5.0, "total")) == 0.0
    bits = 48 * math.log(2)  # MusicVAE states its threshold in bits
    assert float(L.free_bits_kl(mu * 10, logvar, bits, "total")) == pytest.approx((200 - bits) / 2, rel=1e-6)


def test_free_bits_bad_inputs():
    mu = torch.zeros(2, 3)
    for bad in (-1.0, float("nan"), True):
        with pytest.raises(ValueError, match="free_nats must be >= 0"):
            L.free_bits_kl(mu, mu, bad)
    with pytest.raises(ValueError, match="mode"):
        L.free_bits_kl(mu, mu, 1.0, "bits")


def test_sequence_nll_matches_log_softmax_sum():
    logits = torch.randn(3, 5, 7, generator=gen(3))
    targets = torch.randint(0, 7, (3, 5), generator=gen(4))
    want = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1).sum(1)
    assert torch.allclose(L.sequence_nll(logits, targets), want, atol=1e-5)
    uniform = torch.zeros(2, 4, 90)
    assert torch.allclose(L.sequence_nll(uniform, torch.zeros(2, 4, dtype=torch.long)),
                          torch.full((2,), 4 * math.log(90)))
    with pytest.raises(ValueError, match="batch, steps"):
        L.sequence_nll(logits, targets[:, :4])


def test_sequence_nll_ignore_index_skips_those_targets():
    logits = torch.randn(3, 6, 5, generator=gen(5))
    targets = torch.randint(1, 5, (3, 6), generator=gen(6))
    targets[0, 4:] = 0
    targets[2, 2:] = 0
    per_step = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
    want = (per_step * (targets != 0)).sum(1)
    got = L.sequence_nll(logits, targets, ignore_index=0)
    assert torch.allclose(got, want, atol=1e-5)
    other = logits.clone()
    other[targets == 0] = torch.randn(int((targets == 0).sum()), 5, generator=gen(7))
    assert torch.allclose(L.sequence_nll(other, targets, ignore_index=0), got, atol=1e-5)  # ignored steps add 0
    assert torch.equal(L.sequence_nll(logits, targets, ignore_index=None), L.sequence_nll(logits, targets))
    assert torch.allclose(L.sequence_nll(logits, targets, ignore_index=9), per_step.sum(1), atol=1e-5)  # never seen
    for bad in (0.5, True):
        with pytest.raises(ValueError, match="ignore_index"):
            L.sequence_nll(logits, targets, ignore_index=bad)
