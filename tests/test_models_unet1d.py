"""Tests of course_lib.models.unet1d: shapes, the divisibility and condition checks, that c_noise and the
conditions reach the output, determinism, and a tiny EDM overfit of MLPDenoiser on two points."""
from __future__ import annotations

import pytest
import torch

from course_lib.diffusion import EDMDenoiser, edm_loss
from course_lib.models.unet1d import MLPDenoiser, NoiseEmbedding, UNet1d, group_norm

SMALL = dict(channels=(16, 32, 32), emb_dim=32, groups=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


def perturbed(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give the zero-initialised last conv random weights, so that the output depends on the input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.conv_out.weight.copy_(0.1 * torch.randn(net.conv_out.weight.shape, generator=g))
    return net


def unet(seed: int = 0, **kw) -> UNet1d:
    torch.manual_seed(seed)
    return perturbed(UNet1d(6, **{**SMALL, **kw})).eval()


def test_mlp_denoiser_shapes_and_scalar_noise():
    torch.manual_seed(0)
    net = MLPDenoiser(dim=2, hidden=16, layers=2, emb_dim=8)
    x = torch.randn(5, 2)
    out = net(x, torch.zeros(5))
    assert out.shape == (5, 2)
    assert torch.allclose(net(x, 0.3), net(x, torch.full((5,), 0.3)))
    assert MLPDenoiser(dim=3)(torch.randn(4, 3), torch.zeros(4)).shape == (4, 3)
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(5, 3), torch.zeros(5))
    with pytest.raises(ValueError, match="c_noise"):
        net(x, torch.zeros(4))


@pytest.mark.parametrize("t", [4, 8, 12, 32])
def test_unet_output_shapes(t):
    net = unet()
    x = torch.randn(3, 6, t)
    assert net(x, torch.zeros(3)).shape == (3, 6, t)


def test_fresh_unet_outputs_zeros_and_two_level_unet():
    torch.manual_seed(0)
    net = UNet1d(6, **SMALL)
    assert torch.count_nonzero(net(torch.randn(2, 6, 8), torch.zeros(2))) == 0
    assert UNet1d(6, channels=(8,), emb_dim=8, groups=4)(torch.randn(2, 6, 5), torch.zeros(2)).shape == (2, 6, 5)


def test_unet_t_not_divisible():
    net = unet()
    with pytest.raises(ValueError, match=r"T = 10.*4"):
        net(torch.randn(2, 6, 10), torch.zeros(2))
    with pytest.raises(ValueError, match="in_channels|shape"):
        net(torch.randn(2, 5, 8), torch.zeros(2))


def test_cond_shapes_checked_and_none_means_zeros():
    net = unet(cond_channels=(3, 0, 2))
    x = torch.randn(2, 6, 16)
    c0, c2 = torch.randn(2, 3, 16), torch.randn(2, 2, 4)
    assert net(x, torch.zeros(2), [c0, None, c2]).shape == x.shape
    with pytest.raises(ValueError, match=r"level 2.*\(2, 2, 4\).*\(2, 2, 8\)"):
        net(x, torch.zeros(2), [c0, None, torch.randn(2, 2, 8)])
    with pytest.raises(ValueError, match=r"level 0.*\(2, 3, 16\).*\(2, 4, 16\)"):
        net(x, torch.zeros(2), [torch.randn(2, 4, 16), None, c2])
    with pytest.raises(ValueError, match="level 1"):
        net(x, torch.zeros(2), [c0, torch.randn(2, 1, 8), c2])
    with pytest.raises(ValueError, match="one entry per level"):
        net(x, torch.zeros(2), [c0, c2])
    zero = net(x, torch.zeros(2), [torch.zeros_like(c0), None, torch.zeros_like(c2)])
    assert torch.equal(net(x, torch.zeros(2), [None, None, None]), zero)
    assert torch.equal(net(x, torch.zeros(2)), zero)


@pytest.mark.parametrize("level", [0, 2])
def test_cond_matters(level):
    net = unet(cond_channels=(3, 0, 2))
    x = torch.randn(2, 6, 16)
    cond = [torch.randn(2, 3, 16), None, torch.randn(2, 2, 4)]
    base = net(x, torch.zeros(2), cond)
    changed = list(cond)
    changed[level] = cond[level] + 1.0
    out = net(x, torch.zeros(2), changed)
    assert (out - base).abs().max() > 1e-4


def test_c_noise_matters():
    net = unet()
    x = torch.randn(2, 6, 8)
    assert (net(x, torch.zeros(2)) - net(x, torch.full((2,), 0.5))).abs().max() > 1e-4
    assert torch.equal(net(x, 0.5), net(x, torch.full((2,), 0.5)))
    mlp = MLPDenoiser(hidden=16, layers=2, emb_dim=8)
    z = torch.randn(4, 2)
    assert (mlp(z, torch.zeros(4)) - mlp(z, torch.ones(4))).abs().max() > 1e-4
    emb = NoiseEmbedding(8)
    assert emb(torch.tensor([0.0, 1.0])).shape == (2, 8)


def test_deterministic_with_seed():
    x = torch.randn(2, 6, 8)
    assert torch.equal(unet(seed=3)(x, torch.zeros(2)), unet(seed=3)(x, torch.zeros(2)))
    assert not torch.equal(unet(seed=3)(x, torch.zeros(2)), unet(seed=4)(x, torch.zeros(2)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="cond_channels"):
        UNet1d(6, channels=(8, 8), cond_channels=(1,))
    with pytest.raises(ValueError, match="channels"):
        UNet1d(6, channels=())
    with pytest.raises(ValueError, match="dropout"):
        UNet1d(6, dropout=1.0)
    with pytest.raises(ValueError):
        MLPDenoiser(layers=0)


def test_edm_overfits_two_points():
    """200 Adam steps bring the EDM loss from about 1.06 (F = 0 at init) close to the exact denoiser's 0.34."""
    torch.manual_seed(0)
    points = torch.tensor([[-0.5, 0.5], [0.5, -0.5]])
    den = EDMDenoiser(MLPDenoiser(dim=2, hidden=64, layers=2, emb_dim=16), sigma_data=0.5)
    opt = torch.optim.Adam(den.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)

    def exact(x, sigma):  # posterior mean of the two equally likely points
        d2 = (x[:, None, :] - points[None]).pow(2).sum(-1)
        return torch.softmax(-d2 / (2 * sigma[:, None] ** 2), dim=1) @ points

    def score(d):  # the same noise every time
        with torch.no_grad():
            return edm_loss(d, points.repeat(256, 1), generator=torch.Generator().manual_seed(123)).item()

    before, best = score(den), score(exact)
    for _ in range(200):
        loss = edm_loss(den, points.repeat(128, 1), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = score(den)
    assert after < 0.5 * before and after < 1.5 * best


def test_group_norm_uses_gcd_groups_for_any_width():
    assert (group_norm(12, 8).num_groups, group_norm(7, 8).num_groups, group_norm(64, 8).num_groups) == (4, 1, 8)
    assert group_norm(12, 8).affine and group_norm(12, 8, affine=False).weight is None
    x = torch.randn(2, 12, 5)
    y = group_norm(12, 8, affine=False)(x)
    g = y.view(2, 4, 3 * 5)  # each of the 4 groups (3 channels x 5 steps) is normalised on its own
    assert torch.allclose(g.mean(-1), torch.zeros(2, 4), atol=1e-5)
