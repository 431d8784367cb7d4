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
