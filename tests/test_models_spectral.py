import pytest
import torch

from course_lib.models import spectral as S
from course_lib.models.autoencoders import count_parameters


@pytest.mark.parametrize("n", [1, 2, 3, 9, 129, 251, 800, 1500, 2048, 4000])
def test_sizes_match_real_layers(n):
    conv = torch.nn.Conv2d(1, 1, 3, 2, 1)
    deconv = torch.nn.ConvTranspose2d(1, 1, 3, 2, 1)
    x = torch.zeros(1, 1, n, 1)
    assert conv(x).shape[2] == S.encoder_size(n)
    m = S.encoder_size(n)
    assert deconv(torch.zeros(1, 1, m, 1)).shape[2] == S.decoder_size(m)


def test_paper_shapes():
    h = S.spectral_shapes(1500)
    assert h["encoder"] == [1500, 750, 375, 188] and h["decoder"] == [188, 375, 749, 1497] and h["pad"] == 3
    assert S.spectral_shapes(251)["pad"] == 2
    with pytest.raises(ValueError):
        S.encoder_size(0)


def test_paper_model_parameter_count_on_meta():
    with torch.device("meta"):
        m = S.SpectrogramAE((2, 1500, 251), (16, 32, 64), 200, final_relu=True)
    assert m.n_flat == 64 * 188 * 32
    linear = 2 * (m.n_flat * 200) + 200 + m.n_flat
    assert count_parameters(m.to_latent) + count_parameters(m.from_latent) == linear
    assert linear / count_parameters(m) > 0.999


@pytest.mark.parametrize("shape", [(2, 31, 17), (1, 16, 16), (3, 9, 40)])
def test_output_has_input_shape_and_grads_flow(shape):
    torch.manual_seed(0)
    m = S.SpectrogramAE(shape, (4, 8, 8), 6)
    x = torch.randn(3, *shape)
    y = m(x)
    assert y.shape == x.shape
    y.pow(2).mean().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_final_relu_makes_outputs_non_negative():
    torch.manual_seed(0)
    m = S.SpectrogramAE((2, 20, 12), (4, 4, 4), 5, final_relu=True)
    with torch.no_grad():
        for p in m.decoder[-2].parameters():  # push the last conv's outputs negative
            p.fill_(-1.0)
    y = m(torch.randn(4, 2, 20, 12))
    assert (y >= 0).all() and (y == 0).any()
    free = S.SpectrogramAE((2, 20, 12), (4, 4, 4), 5, final_relu=False)
    with torch.no_grad():
        for p in free.decoder[-1].parameters():
            p.fill_(-1.0)
    assert (free(torch.randn(4, 2, 20, 12)) < 0).any()


def test_batchnorm_switch():
    on = S.SpectrogramAE((1, 16, 16), (4, 4, 4), 5, batchnorm=True)
    off = S.SpectrogramAE((1, 16, 16), (4, 4, 4), 5, batchnorm=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in on.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in off.modules())


def test_fit_modes():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    z = S.fit_to(x, 5, 6, "zero")
    assert z.shape == (1, 1, 5, 6) and z[..., 3:, :].abs().sum() == 0 and torch.equal(z[..., :3, :4], x)
    h = S.fit_to(x, 5, 6, "hold")
    assert torch.equal(h[..., 4, :4], x[..., 2, :]) and torch.equal(h[..., :3, 5], x[..., :, 3])
    r = S.fit_to(x, 5, 6, "reflect")
    assert torch.equal(r[..., 3, :4], x[..., 1, :])
    assert torch.equal(S.fit_to(x, 2, 3, "zero"), x[..., :2, :3])  # crop
    with pytest.raises(ValueError, match="reflect"):
        S.fit_to(x, 9, 4, "reflect")
    with pytest.raises(ValueError, match="fit mode"):
        S.fit_to(x, 3, 4, "wrap")


def test_variational_and_conditional():
    torch.manual_seed(0)
    m = S.SpectrogramAE((1, 12, 10), (4, 4, 4), 7, variational=True, n_conditions=3)
    x, c = torch.randn(5, 1, 12, 10), torch.eye(3)[[0, 1, 2, 0, 1]]
    x_hat, mu, logvar = m(x, c)
    assert x_hat.shape == x.shape and mu.shape == logvar.shape == (5, 7)
    m.eval()
    a, _, _ = m(x, c)
    b, _, _ = m(x, c)
    assert torch.equal(a, b)  # eval mode decodes the mean
    other = m.decode(mu, torch.eye(3)[[1, 1, 1, 1, 1]])
    assert not torch.allclose(other, a)  # the condition changes the output
    with pytest.raises(ValueError, match="conditional"):
        m(x)
    with pytest.raises(ValueError, match="no conditions"):
        S.SpectrogramAE((1, 12, 10), (4, 4, 4), 7)(x, c)


def test_bad_shapes_are_named():
    m = S.SpectrogramAE((2, 16, 16), (4, 4, 4), 5)
    with pytest.raises(ValueError, match=r"\(B, 2, 16, 16\)"):
        m(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError):
        S.SpectrogramAE((2, 16), (4,), 5)
    with pytest.raises(ValueError):
        S.SpectrogramAE((2, 16, 16), (4,), 0)
