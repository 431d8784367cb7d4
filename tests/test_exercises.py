from types import SimpleNamespace

import torch

from course_lib import exercises as E


def not_yet(*a, **k):
    raise NotImplementedError


def test_not_attempted_is_reported_not_raised(capsys):
    for check in (E.check_ch01_mu_law, E.check_ch01_alias, E.check_ch01_n_frames, E.check_ch01_interleave):
        assert check(not_yet) is False
        assert "Not attempted yet" in capsys.readouterr().out


def test_learner_errors_are_shown_without_crashing(capsys):
    def broken(x, mu):
        return x.undefined_attribute

    assert E.check_ch01_mu_law(broken) is False
    assert "AttributeError" in capsys.readouterr().out


def test_mu_law_right_and_wrong(capsys):
    def right(x, mu):
        return torch.sign(x) * torch.log1p(mu * x.abs()) / torch.log1p(torch.tensor(float(mu)))

    def no_sign(x, mu):
        return torch.log1p(mu * x.abs()) / torch.log1p(torch.tensor(float(mu)))

    def no_norm(x, mu):
        return torch.sign(x) * torch.log1p(mu * x.abs())

    assert E.check_ch01_mu_law(right)
    assert not E.check_ch01_mu_law(no_sign)
    assert "sign(x)" in capsys.readouterr().out
    assert not E.check_ch01_mu_law(no_norm)
    assert "ln(1 + mu)" in capsys.readouterr().out


def test_alias_right_and_wrong(capsys):
    def right(f, sr):
        f = f % sr
        return sr - f if f > sr / 2 else f

    assert E.check_ch01_alias(right)
    assert not E.check_ch01_alias(lambda f, sr: f % sr)
    assert "reflect" in capsys.readouterr().out


def test_n_frames_right_and_wrong(capsys):
    def right(n, n_fft, hop, center):
        if center:
            n += 2 * (n_fft // 2)
        return 1 + (n - n_fft) // hop

    assert E.check_ch01_n_frames(right)
    assert not E.check_ch01_n_frames(lambda n, n_fft, hop, center: 1 + (n - n_fft) // hop)
    assert "padded" in capsys.readouterr().out


def test_interleave_right_and_wrong(capsys):
    def right(x):
        X = torch.fft.rfft(x)[..., :-1]
        return torch.stack([X.real, X.imag], -1).flatten(-2)

    def blocks(x):
        X = torch.fft.rfft(x)[..., :-1]
        return torch.cat([X.real, X.imag], -1)

    assert E.check_ch01_interleave(right)
    assert not E.check_ch01_interleave(blocks)
    assert "concatenated" in capsys.readouterr().out
    assert not E.check_ch01_interleave(lambda x: torch.view_as_real(torch.fft.rfft(x)).flatten(-2))
    assert "Nyquist" in capsys.readouterr().out


def test_family_counts(capsys):
    notes = SimpleNamespace(family=torch.tensor([0, 0, 2, 9]), family_names=("bass", "brass", "flute") + ("x",) * 6
                            + ("synth_lead", "vocal"))
    assert E.check_ch00_family_counts({"bass": 2, "flute": 1, "synth_lead": 1}, notes)
    assert not E.check_ch00_family_counts({"bass": 1, "flute": 1, "synth_lead": 1}, notes)
    assert not E.check_ch00_family_counts({"bass": 2, "flute": 1, "synth_lead": 1, "organ": 0}, notes)
    assert "not in the split" in capsys.readouterr().out
    assert not E.check_ch00_family_counts(not_yet, notes)


def test_ch02_mrstft_loss(capsys):
    from course_lib import audio

    def right(z, z_hat, n, weight):
        x = audio.rfft_deinterleave(z, n, nyquist_dropped=True)
        x_hat = audio.rfft_deinterleave(z_hat, n, nyquist_dropped=True)
        return ((z - z_hat) ** 2).mean() + weight * audio.multi_resolution_stft_distance(x, x_hat)

    assert E.check_ch02_mrstft_loss(right)
    assert not E.check_ch02_mrstft_loss(lambda z, z_hat, n, weight: ((z - z_hat) ** 2).mean())
    assert "multi_resolution_stft_distance" in capsys.readouterr().out
    assert not E.check_ch02_mrstft_loss(not_yet)


def test_ch02_matched_conv(capsys):
    from torch import nn

    fc = nn.Sequential(nn.Linear(64, 100), nn.Linear(100, 64))

    class Same(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.a, self.b = nn.Linear(64, hidden), nn.Linear(hidden, 64)

        def forward(self, x):
            return self.b(self.a(x))

    assert E.check_ch02_matched_conv(lambda: Same(100), fc, 64)
    assert not E.check_ch02_matched_conv(lambda: Same(50), fc, 64)
    assert "parameters vs" in capsys.readouterr().out
    assert not E.check_ch02_matched_conv(not_yet, fc, 64)


def test_ch02_overlap_add(capsys):
    def right(segs, hop):
        n, L = segs.shape
        out = torch.zeros((n - 1) * hop + L)
        w = torch.hann_window(L)
        for i, s in enumerate(segs):
            out[i * hop: i * hop + L] += s * w
        return out

    def no_window(segs, hop):
        n, L = segs.shape
        out = torch.zeros((n - 1) * hop + L)
        for i, s in enumerate(segs):
            out[i * hop: i * hop + L] += s / 2
        return out

    assert E.check_ch02_overlap_add(right)
    assert not E.check_ch02_overlap_add(no_window)
    assert "hann_window" in capsys.readouterr().out


def test_checks_accept_numpy_numbers_and_explain_detached_losses(capsys):
    import numpy as np

    def right(f, sr):
        f = f % sr
        return np.float32(sr - f if f > sr / 2 else f)

    assert E.check_ch01_alias(right)
    assert not E.check_ch01_alias(lambda f, sr: "1410 Hz")
    assert "number" in capsys.readouterr().out
    from course_lib import audio

    def detached(z, z_hat, n, weight):
        x = audio.rfft_deinterleave(z, n, nyquist_dropped=True)
        x_hat = audio.rfft_deinterleave(z_hat, n, nyquist_dropped=True)
        return (((z - z_hat) ** 2).mean() + weight * audio.multi_resolution_stft_distance(x, x_hat)).detach()

    assert not E.check_ch02_mrstft_loss(detached)
    assert "no gradient" in capsys.readouterr().out
