from types import SimpleNamespace

import torch

from course_lib import exercises as E


def not_yet(*a, **k):
    raise NotImplementedError


def test_every_chapter_module_check_is_exported_by_the_package():
    import importlib

    exported = set()
    for ch in range(10):
        module = importlib.import_module(f"course_lib.exercises.ch{ch:02d}")
        checks = {n for n in vars(module) if n.startswith("check_")}
        assert len(checks) >= 1 and all(n.startswith(f"check_ch{ch:02d}_") for n in checks), (ch, checks)
        assert all(getattr(E, n) is getattr(module, n) for n in checks)
        exported |= checks
    assert set(E.__all__) == exported == {n for n in dir(E) if n.startswith("check_")}


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


def test_ch04_not_attempted_is_reported(capsys):
    for check in (E.check_ch04_reparameterize, E.check_ch04_gaussian_kl, E.check_ch04_active_units):
        assert check(not_yet) is False
        assert "Not attempted yet" in capsys.readouterr().out


def test_ch04_reparameterize_right_and_wrong(capsys):
    import numpy as np

    def right(mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def variance_as_std(mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(logvar)

    def detached(mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar).detach()

    def with_numpy(mu, logvar):
        std = np.exp(0.5 * logvar.numpy())
        return torch.as_tensor(mu.numpy() + np.random.randn(*std.shape) * std, dtype=torch.float32)

    def reseeded(mu, logvar):
        g = torch.Generator().manual_seed(0)
        return mu + torch.randn(mu.shape, generator=g) * torch.exp(0.5 * logvar)

    state = torch.get_rng_state()
    assert E.check_ch04_reparameterize(right)
    assert "✅" in capsys.readouterr().out
    assert torch.equal(torch.get_rng_state(), state)  # the check leaves the learner's RNG alone
    assert not E.check_ch04_reparameterize(variance_as_std)
    assert "exp(0.5 * logvar)" in capsys.readouterr().out
    assert not E.check_ch04_reparameterize(lambda mu, logvar: mu + torch.randn_like(mu))
    assert "not scaled" in capsys.readouterr().out
    assert not E.check_ch04_reparameterize(lambda mu, logvar: torch.randn_like(mu) * torch.exp(0.5 * logvar))
    assert "add mu" in capsys.readouterr().out
    assert not E.check_ch04_reparameterize(detached)
    out = capsys.readouterr().out
    assert "no gradient reaches logvar" in out and "torch.randn_like" in out
    assert not E.check_ch04_reparameterize(with_numpy)
    out = capsys.readouterr().out
    assert "require gradients" in out and "no numpy" in out
    assert not E.check_ch04_reparameterize(reseeded)
    assert "same z" in capsys.readouterr().out
    assert not E.check_ch04_reparameterize(lambda mu, logvar: mu[:1])
    assert "shape" in capsys.readouterr().out


def test_ch04_gaussian_kl_right_and_wrong(capsys):
    def right(mu, logvar):
        return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)

    cases = [
        (lambda mu, logvar: -(1 + logvar - mu ** 2 - logvar.exp()).sum(1), "factor 0.5"),
        (lambda mu, logvar: -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(), "summed over the batch"),
        (lambda mu, logvar: 0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1), "never negative"),
        (lambda mu, logvar: -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).mean(1), "instead of averaging"),
        (lambda mu, logvar: -0.5 * (1 + 2 * logvar - mu ** 2 - (2 * logvar).exp()).sum(1), "not log(sigma)"),
        (lambda mu, logvar: -0.5 * (1 + (logvar ** 2).log() - mu ** 2 - logvar ** 2).sum(1), "not the std"),
        (lambda mu, logvar: -0.5 * (1 + logvar.log() - mu ** 2 - logvar).sum(1), "NaN"),
    ]
    assert E.check_ch04_gaussian_kl(right)
    assert "✅" in capsys.readouterr().out
    for wrong, hint in cases:
        assert not E.check_ch04_gaussian_kl(wrong)
        assert hint in capsys.readouterr().out, hint


def test_ch04_active_units_right_and_wrong(capsys):
    from course_lib.metrics import active_units

    assert E.check_ch04_active_units(lambda mu, threshold: int((mu.var(0) > threshold).sum()))
    assert E.check_ch04_active_units(active_units)  # a (count, variances) pair is accepted
    assert "✅" in capsys.readouterr().out
    assert not E.check_ch04_active_units(lambda mu, threshold: int((mu.var(1) > threshold).sum()))
    assert "dim=0" in capsys.readouterr().out
    assert not E.check_ch04_active_units(lambda mu, threshold: int((mu.std(0) > threshold).sum()))
    assert "not the standard deviation" in capsys.readouterr().out
    assert not E.check_ch04_active_units(lambda mu, threshold: int((mu.mean(0).abs() > threshold).sum()))
    assert "mu.var(dim=0)" in capsys.readouterr().out
    assert not E.check_ch04_active_units(lambda mu, threshold: "five")
    assert "as an int" in capsys.readouterr().out


def test_ch04_checks_survive_answers_that_are_not_numbers(capsys):
    assert not E.check_ch04_reparameterize(lambda mu, logvar: "z")
    assert "as a tensor" in capsys.readouterr().out
    assert not E.check_ch04_gaussian_kl(lambda mu, logvar: {"kl": 1})
    assert "as a tensor" in capsys.readouterr().out


def test_ch03_checks_right_and_wrong(capsys):
    from course_lib import audio
    from course_lib.metrics import thesis_accuracy
    from course_lib.models.spectral import spectral_shapes

    assert E.check_ch03_rows_to_pad(lambda n: spectral_shapes(n)["pad"])
    assert not E.check_ch03_rows_to_pad(lambda n: 0)
    assert "2m - 1" in capsys.readouterr().out
    assert not E.check_ch03_rows_to_pad(lambda n: -spectral_shapes(n)["pad"])
    assert "sign" in capsys.readouterr().out

    assert E.check_ch03_thesis_accuracy(thesis_accuracy)
    assert not E.check_ch03_thesis_accuracy(lambda x, y: 1 - (x - y).flatten(1).pow(2).sum(1) / x.flatten(1).pow(2).sum(1))
    assert "clamp_min" in capsys.readouterr().out
    assert not E.check_ch03_thesis_accuracy(lambda x, y: thesis_accuracy(x, y).mean())
    assert "one accuracy per example" in capsys.readouterr().out

    assert E.check_ch03_instantaneous_frequency(audio.instantaneous_frequency)
    assert not E.check_ch03_instantaneous_frequency(lambda p: torch.diff(p, dim=-1, prepend=torch.zeros_like(p[..., :1])))
    assert "wrap" in capsys.readouterr().out
    assert not E.check_ch03_instantaneous_frequency(lambda p: audio.instantaneous_frequency(p)[..., 1:])
    assert "shape" in capsys.readouterr().out
    for check in (E.check_ch03_rows_to_pad, E.check_ch03_thesis_accuracy, E.check_ch03_instantaneous_frequency):
        assert check(not_yet) is False
        assert "Not attempted yet" in capsys.readouterr().out


def test_ch05_checks_right_and_wrong(capsys):
    import math

    from course_lib import annealing as A
    from course_lib import losses as L

    assert E.check_ch05_logistic(A.logistic)
    assert E.check_ch05_cyclical(A.cyclical)
    assert E.check_ch05_free_bits(lambda mu, logvar, lam: L.free_bits_kl(mu, logvar, lam, "dim"))
    assert capsys.readouterr().out.count("✅") == 3
    assert not E.check_ch05_logistic(lambda e, W, b: 1 / (1 + math.exp(W / 2 - e)))
    assert "baseline" in capsys.readouterr().out
    assert not E.check_ch05_logistic(lambda e, W, b: A.logistic(e, 8, 0.1))  # ignores its arguments
    assert "use the arguments" in capsys.readouterr().out
    assert not E.check_ch05_cyclical(lambda s, T, M, R: min(s / (T / M) / R, 1.0))  # never restarts
    assert "restart" in capsys.readouterr().out
    assert not E.check_ch05_free_bits(lambda mu, logvar, lam: L.free_bits_kl(mu, logvar, lam, "total"))
    assert "hinge" in capsys.readouterr().out
    assert not E.check_ch05_free_bits(lambda mu, logvar, lam: (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).clamp_min(lam).sum(1).mean())
    assert "BEFORE flooring" in capsys.readouterr().out
    assert not E.check_ch05_logistic(lambda e, W, b: "high")
    assert "as a number" in capsys.readouterr().out


def test_ch06_checks_right_and_wrong(capsys):
    import numpy as np

    from course_lib import metrics as ev

    assert E.check_ch06_roll_zero_accuracy(lambda t: 1 - ev.tokens_to_rolls(t).mean())
    assert E.check_ch06_pitch_class_entropy(lambda t: ev.music_metrics(t)["pitch_class_entropy"])

    def transpose(t, k):
        out = np.where(t >= 2, t + k, t)
        return None if ((t >= 2) & ((out < 2) | (out > 89))).any() else out

    assert E.check_ch06_transpose(transpose)
    assert capsys.readouterr().out.count("✅") == 3
    assert not E.check_ch06_roll_zero_accuracy(lambda t: (t == 0).mean())
    assert "CELLS" in capsys.readouterr().out

    def entropy_nats(t):
        pc = (t[t >= 2] + 19) % 12
        p = np.bincount(pc, minlength=12) / len(pc)
        return float(-(p[p > 0] * np.log(p[p > 0])).sum())

    assert not E.check_ch06_pitch_class_entropy(entropy_nats)
    assert "base 2" in capsys.readouterr().out
    assert not E.check_ch06_transpose(lambda t, k: t + k)
    assert "not pitches" in capsys.readouterr().out
    assert not E.check_ch06_transpose(lambda t, k: np.where(t >= 2, t + k, t))  # never refuses
    assert "return None" in capsys.readouterr().out


def test_ch07_checks_right_and_wrong(capsys):
    import numpy as np

    from course_lib.events import CC_DEFAULTS, EventVocab, cc_curves

    def shifts(gap, m):
        return [m] * (gap // m) + ([gap % m] if gap % m else [])

    def hold(events, n, default):
        out = np.full(n, float(default))
        for step, value in events:
            out[step:] = value
        return out

    def curve_of(events, n):  # the library's curve of controller 74 in a PrettyMIDI with those events
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120)
        inst = pretty_midi.Instrument(0)
        inst.control_changes = [pretty_midi.ControlChange(74, v, s * 60 / (120 * 8)) for s, v in events]
        pm.instruments.append(inst)
        return cc_curves(pm, controllers=(74,), n_steps=n)[0]

    events = [(2, 100), (5, 20)]
    assert np.array_equal(curve_of(events, 8), hold(events, 8, CC_DEFAULTS[74]))  # the check's rule is the library's
    assert E.check_ch07_sample_and_hold(hold)
    assert E.check_ch07_time_shifts(shifts)
    assert E.check_ch07_velocity_bins(lambda v, n: v * n // 128)
    assert E.check_ch07_velocity_bins(lambda v, n: EventVocab(n_velocity_bins=n).velocity_bin(v) if n <= 64 else v * n // 128)
    assert capsys.readouterr().out.count("✅") == 4
    assert not E.check_ch07_time_shifts(lambda gap, m: [1] * gap)
    assert "as few shifts" in capsys.readouterr().out
    assert not E.check_ch07_time_shifts(lambda gap, m: [gap] if gap else [])
    assert "max_shift" in capsys.readouterr().out
    assert not E.check_ch07_sample_and_hold(
        lambda ev, n, d: np.interp(np.arange(n), [e[0] for e in ev] or [0], [e[1] for e in ev] or [d]))
    assert "❌" in capsys.readouterr().out
    assert not E.check_ch07_velocity_bins(lambda v, n: v * n / 128)
    assert "integer division" in capsys.readouterr().out
    assert not E.check_ch07_velocity_bins(lambda v, n: v * n // 127)
    assert "last bin" in capsys.readouterr().out


def test_ch08_checks_right_and_wrong(capsys):
    import math

    def sigma(ab):
        return ((1 - ab) / ab).sqrt()

    def precond(s, sd):
        t = s ** 2 + sd ** 2
        return sd ** 2 / t, s * sd / t.sqrt(), 1 / t.sqrt(), s.log() / 4

    def karras(n, lo, hi, rho):
        r = torch.linspace(0, 1, n)
        s = (hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
        return torch.cat([s, torch.zeros(1)])

    assert E.check_ch08_ddpm_sigma(sigma)
    assert E.check_ch08_precond(precond)
    assert E.check_ch08_karras(karras)
    capsys.readouterr()
    assert not E.check_ch08_ddpm_sigma(lambda ab: (1 - ab).sqrt())
    assert "divide x_t by sqrt(ab)" in capsys.readouterr().out
    assert not E.check_ch08_ddpm_sigma(lambda ab: (1 - ab) / ab)
    assert "square root" in capsys.readouterr().out
    assert not E.check_ch08_precond(lambda s, sd: precond(s, sd)[:3] + (s.log10() / 4,))
    assert "natural log" in capsys.readouterr().out
    assert not E.check_ch08_precond(lambda s, sd: (precond(s, sd)[0], s * sd / (s ** 2 + sd ** 2)) + precond(s, sd)[2:])
    assert "c_out" in capsys.readouterr().out
    assert not E.check_ch08_karras(lambda n, lo, hi, rho: karras(n, lo, hi, rho)[:-1])
    assert "values" in capsys.readouterr().out
    assert not E.check_ch08_karras(lambda n, lo, hi, rho: karras(n, lo, hi, rho).flip(0))
    assert not E.check_ch08_karras(lambda n, lo, hi, rho: torch.cat([torch.exp(torch.linspace(math.log(hi), math.log(lo), n)),
                                                                     torch.zeros(1)]))
    assert "power rho" in capsys.readouterr().out

    def not_yet(*a):
        raise NotImplementedError

    assert not E.check_ch08_karras(not_yet)
    assert "Not attempted" in capsys.readouterr().out


def test_ch09_checks_right_and_wrong(capsys):
    from course_lib.models import hierarchical as H

    up2 = lambda z: z.repeat_interleave(2, -1)  # noqa: E731
    assert E.check_ch09_upsample(lambda z, f: z.repeat_interleave(f, -1))
    assert E.check_ch09_refine(lambda r: [r[0], r[1] + up2(r[0]), r[2] + up2(r[1] + up2(r[0]))])
    assert E.check_ch09_level_dropout(lambda L, p, g: H.level_dropout(L, p, g))
    capsys.readouterr()
    assert not E.check_ch09_upsample(lambda z, f: z.repeat(1, 1, f))
    assert "paper 004's bug" in capsys.readouterr().out
    assert not E.check_ch09_upsample(lambda z, f: torch.nn.functional.interpolate(z, scale_factor=f, mode="linear"))
    assert not E.check_ch09_refine(lambda r: [r[0], r[1] + up2(r[0]), r[2] + up2(r[1])])
    assert "REFINED" in capsys.readouterr().out
    assert not E.check_ch09_refine(lambda r: list(r))
    assert "upsample" in capsys.readouterr().out

    def same_mask(L, p, g):  # one draw per example, shared by all levels
        keep = (torch.rand(L[0].shape[0], generator=g) >= p).float().view(-1, 1, 1)
        return [x * keep for x in L]

    assert not E.check_ch09_level_dropout(same_mask)
    assert "per example AND per level" in capsys.readouterr().out
    assert not E.check_ch09_level_dropout(lambda L, p, g: [torch.nn.functional.dropout(x, p) for x in L])
    assert "whole levels" in capsys.readouterr().out
    assert not E.check_ch09_level_dropout(lambda L, p, g: H.level_dropout(L, p / 3, g))
