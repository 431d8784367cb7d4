import math

import pytest
import torch

from course_lib import audio
from course_lib import evaluate as E


def test_feature_metrics_closed_forms():
    z = torch.tensor([[1.0, -2.0, 3.0, 0.0]])
    z_hat = torch.tensor([[1.5, -2.0, 2.0, 0.0]])
    m = E.feature_metrics(z, z_hat)
    assert m["mse"] == pytest.approx((0.25 + 1) / 4)
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(m["mse"]))  # the paper's tables break this identity
    assert m["snr_db"] == pytest.approx(10 * math.log10(14 / 1.25))
    with pytest.raises(ValueError, match="shapes differ"):
        E.feature_metrics(z, z_hat[:, :3])


def test_interleaved_metrics_agree_across_domains_by_parseval():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1000, generator=g)
    x_hat = x + 0.1 * torch.randn(8, 1000, generator=g)
    z, z_hat = audio.rfft_interleave(x, drop_nyquist=True), audio.rfft_interleave(x_hat, drop_nyquist=True)
    m = E.interleaved_metrics(z, z_hat, 1000)
    # SNR is (nearly) domain-free; MSE scales by about N/2 between the domains
    assert m["spec_snr_db"] == pytest.approx(m["wave_snr_db"], abs=0.2)
    assert m["spec_mse"] / m["wave_mse"] == pytest.approx(500, rel=0.05)
    assert m["wave_snr_db"] == pytest.approx(20.0, abs=0.3)


def lowpassed_noise(cut_hz, sr=4410, n=13230, items=6):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(items, n, generator=g)
    X = torch.fft.rfft(x)
    X[..., torch.fft.rfftfreq(n, 1 / sr) > cut_hz] = 0
    return x, torch.fft.irfft(X, n)


@pytest.mark.parametrize("cut", [417.0, 1000.0])
def test_rolloff_finds_a_lowpass(cut):
    x, y = lowpassed_noise(cut)
    assert abs(E.rolloff_hz(y, 4410) - 0.99 * cut) <= 10
    assert E.rolloff_hz(x, 4410) == pytest.approx(0.99 * 2205, abs=15)  # white noise: 99 % of the band
    assert E.rolloff_hz(torch.zeros_like(x), 4410) == 0.0
    with pytest.raises(ValueError, match="fraction"):
        E.rolloff_hz(x, 4410, fraction=0)


def test_band_energy_ratio_of_a_lowpass():
    x, y = lowpassed_noise(417.0)
    centres, ratio = E.band_energy_ratio_db(x, y, 4410)
    assert ratio[centres < 350].abs().max() < 0.01 and (ratio[centres > 500] < -100).all()


def test_seam_clicks_measured():
    sr, seg = 4410, 1000
    t = torch.arange(5 * seg) / sr
    smooth = torch.sin(2 * torch.pi * 220 * t)
    assert E.seam_click_ratio(smooth, seg) < 1.5
    # independently reconstructed segments each start from the wrong level: a step at every seam
    clicky = smooth + torch.repeat_interleave(torch.tensor([0.0, 0.3, -0.2, 0.25, -0.1]), seg)
    assert E.seam_click_ratio(clicky, seg) > 3
    with pytest.raises(ValueError, match="two segments"):
        E.seam_click_ratio(smooth[:1500], seg)


def latent_means(n=500, seed=0):
    """Posterior means with 3 busy units (variance 1), 2 quiet ones (0.02) and 3 constant ones (1e-8)."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([1.0, 0.02 ** 0.5, 1e-4, 1.0, 1e-4, 0.02 ** 0.5, 1.0, 1e-4])
    return torch.tensor([0.0, 1.0, 5.0, -1.0, -3.0, 0.0, 2.0, 0.5]) + scale * torch.randn(n, 8, generator=g)


def test_active_units_counts_units_whose_mean_varies_over_the_data():
    mu = latent_means()
    count, var = E.active_units(mu)
    assert count == 5 and var.shape == (8,)
    assert torch.allclose(var, mu.double().var(0, correction=0))
    assert var[[2, 4, 7]].max() < 1e-7 and var[[1, 5]].sub(0.02).abs().max() < 0.005
    assert E.active_units(mu, threshold=0.05)[0] == 3
    assert E.active_units(mu, threshold=2.0)[0] == 0
    # the offsets of the constant units do not matter: only the spread over the data does
    assert E.active_units(mu + 100.0)[0] == 5


def test_active_units_uses_the_population_variance_and_refuses_bad_inputs():
    count, var = E.active_units(torch.tensor([[0.0, 1.0], [1.0, 1.0]]), threshold=0.2)
    assert var.tolist() == [0.25, 0.0] and count == 1  # unbiased would give 0.5
    with pytest.raises(ValueError, match="at least 2"):
        E.active_units(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"\(N examples, D latent dims\)"):
        E.active_units(torch.zeros(10))
    with pytest.raises(ValueError, match="threshold"):
        E.active_units(torch.zeros(3, 2), threshold=-1.0)


def test_thesis_accuracy_closed_form_and_clipping():
    from course_lib.evaluate import thesis_accuracy

    x = torch.tensor([[3.0, 4.0], [1.0, 0.0], [2.0, 0.0]])
    x_hat = torch.tensor([[3.0, 4.0], [0.5, 0.0], [-2.0, 0.0]])
    acc = thesis_accuracy(x, x_hat)
    assert torch.allclose(acc, torch.tensor([1.0, 0.75, 0.0]), atol=1e-6)  # (1 - 16/4) clips to 0


def test_thesis_accuracy_rewards_loud_inputs():
    from course_lib.evaluate import thesis_accuracy

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, 10, 10, generator=g)
    err = 0.5 * torch.randn(8, 2, 10, 10, generator=g)
    loud = torch.tensor([10.0, 1.0]).view(1, 2, 1, 1)
    # the same absolute error on a louder first channel scores better
    assert thesis_accuracy(x * loud, x * loud + err).mean() > thesis_accuracy(x, x + err).mean()
    with pytest.raises(ValueError):
        thesis_accuracy(x, x[:4])


def test_timbre_probe_separates_sines_from_squares():
    sr = 16000
    t = torch.arange(8000) / sr
    g = torch.Generator().manual_seed(0)
    f0 = 110 * 2 ** (torch.randint(0, 36, (60, 1), generator=g) / 12)
    sines = torch.sin(2 * math.pi * f0 * t)
    squares = torch.sign(torch.sin(2 * math.pi * f0 * t)) * 0.5
    X = E.timbre_features(torch.cat([sines, squares]), sr)
    assert X.shape == (120, 128)
    y = torch.cat([torch.zeros(60), torch.ones(60)]).long()
    idx = torch.randperm(120, generator=g)
    train, test = idx[:80], idx[80:]
    probe = E.fit_probe(X[train], y[train])
    assert probe.score(X[test].numpy(), y[test].numpy()) > 0.9
    again = E.fit_probe(X[train], y[train])
    assert (again.predict(X[test].numpy()) == probe.predict(X[test].numpy())).all()


def test_probe_and_features_refuse_bad_inputs():
    with pytest.raises(ValueError, match="two classes"):
        E.fit_probe(torch.randn(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match="one label each"):
        E.fit_probe(torch.randn(10, 3), torch.zeros(9))
    with pytest.raises(ValueError, match="notes, samples"):
        E.timbre_features(torch.randn(100), 16000)
