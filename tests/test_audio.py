"""Tests of course_lib.audio: round trips, closed forms against torch, aliasing, phase, metrics, bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import audio as A

FAST = settings(max_examples=25, deadline=None)


def tone(f: float, sr: int, seconds: float, phase: float = 0.0) -> torch.Tensor:
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    return torch.sin(2 * math.pi * f * t + phase).float()


def harmonic_note(f0: float = 261.63, sr: int = 16000, seconds: float = 2.0) -> torch.Tensor:
    t = torch.arange(int(sr * seconds)) / sr
    x = sum(torch.sin(2 * math.pi * f0 * k * t + k) / k for k in range(1, 6))
    return (x * torch.exp(-0.5 * t)).float()


def peak_level_db(y: torch.Tensor, sr: int, f: float) -> float:
    """Windowed-FFT level (dB) near f, and nothing else."""
    Y = torch.fft.rfft(y * torch.hann_window(y.shape[-1], periodic=False)).abs()
    k = int(round(f * y.shape[-1] / sr))
    return 20 * math.log10(float(Y[k - 3:k + 4].max()) + 1e-12)


# ---------------------------------------------------------------- utilities

def test_to_tensor_and_db_and_normalize_peak():
    x = A.to_tensor(np.array([0.5, -1.0], dtype=np.float64))
    assert x.dtype == torch.float32 and x.tolist() == [0.5, -1.0]
    assert A.to_tensor([1, 2]).dtype == torch.float32
    t = torch.zeros(3, dtype=torch.float64)
    assert A.to_tensor(t) is t
    assert torch.allclose(A.db(torch.tensor([1.0, 0.1, -10.0])), torch.tensor([0.0, -20.0, 20.0]), atol=1e-4)
    batch = torch.stack([torch.tensor([0.1, -0.5, 0.25]), torch.zeros(3)])
    out = A.normalize_peak(batch, 0.9)
    assert torch.allclose(out[0], torch.tensor([0.18, -0.9, 0.45]))
    assert torch.equal(out[1], torch.zeros(3))  # silence unchanged, no NaN


# ---------------------------------------------------------------- mu-law and quantisation

@FAST
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=200), st.sampled_from([15, 255, 1023]))
def test_mu_law_companding_round_trip(xs, mu):
    x = torch.tensor(xs, dtype=torch.float32)
    y = A.mu_law_encode(x, mu)
    assert y.abs().max() <= 1.0
    assert torch.allclose(A.mu_law_decode(y, mu), x, atol=1e-5)


def test_mu_law_is_odd_monotone_and_expands_quiet_values():
    x = torch.linspace(-1, 1, 2001)
    y = A.mu_law_encode(x)
    assert torch.all(torch.diff(y) > 0)
    assert torch.allclose(y, -A.mu_law_encode(-x))
    assert y[-1] == pytest.approx(1.0) and y[0] == pytest.approx(-1.0)
    assert float(A.mu_law_encode(torch.tensor(0.01))) > 0.2  # 1 % amplitude uses > 20 % of the range


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12])
def test_uniform_quantiser_error_at_most_half_a_step(bits):
    x = torch.linspace(-1, 1, 10001)
    q = A.quantize(x, bits)
    step = 2 / 2 ** bits
    assert (q - x).abs().max() <= step / 2 + 1e-6
    assert len(torch.unique(q)) == 2 ** bits  # every level used, mid-rise: no level at 0
    assert not torch.any(q == 0)


def test_mu_law_quantize_round_trip_and_beats_uniform_8bit_for_quiet_signals():
    x = torch.linspace(-1, 1, 5001)
    codes = A.mu_law_quantize(x)
    assert codes.dtype == torch.int64 and int(codes.min()) == 0 and int(codes.max()) == 255
    assert torch.all(torch.diff(codes) >= 0)
    err = (A.mu_law_dequantize(codes) - x).abs()
    assert err.max() < 0.04  # coarse only near full scale (largest step ~ 0.022 * 2)
    quiet = 0.01 * tone(440, 16000, 0.5)
    snr_mu = float(A.snr_db(quiet, A.mu_law_dequantize(A.mu_law_quantize(quiet))))
    snr_uniform = float(A.snr_db(quiet, A.quantize(quiet, 8)))
    assert snr_mu > snr_uniform + 20, (snr_mu, snr_uniform)


# ---------------------------------------------------------------- sampling and aliasing

@pytest.mark.parametrize("f,sr,expected", [(3000, 4410, 1410), (1000, 8000, 1000), (5000, 8000, 3000),
                                           (8000, 8000, 0), (9000, 8000, 1000), (4000, 8000, 4000)])
def test_aliased_frequency_folds(f, sr, expected):
    assert A.aliased_frequency(f, sr) == pytest.approx(expected)


def test_naive_decimation_aliases_and_resample_suppresses_it():
    x = tone(3000, 44100, 1.0)
    naive = A.decimate_naive(x, 10)
    good = A.resample(x, 44100, 4410)
    assert naive.shape[-1] == 4410 and good.shape[-1] == 4410
    f_alias = A.aliased_frequency(3000, 4410)
    spectrum = torch.fft.rfft(naive).abs()
    assert float(torch.fft.rfftfreq(4410, 1 / 4410)[spectrum.argmax()]) == pytest.approx(f_alias, abs=1)
    assert peak_level_db(naive, 4410, f_alias) - peak_level_db(good, 4410, f_alias) > 40


def test_resample_keeps_in_band_tone_and_batch_dims():
    x = torch.stack([tone(440, 16000, 0.5), tone(1000, 16000, 0.5)])
    y = A.resample(x, 16000, 8000)
    assert y.shape == (2, 4000)
    assert float(torch.fft.rfftfreq(4000, 1 / 8000)[torch.fft.rfft(y[0]).abs().argmax()]) == pytest.approx(440, abs=2)


# ---------------------------------------------------------------- paper 001: interleaved RFFT

@FAST
@given(st.integers(1, 3000), st.integers(0, 2**31 - 1))
def test_rfft_interleave_exact_round_trip(n, seed):
    x = torch.randn(2, n, generator=torch.Generator().manual_seed(seed))
    z = A.rfft_interleave(x)
    assert z.shape == (2, 2 * (n // 2 + 1)) and z.dtype == torch.float32
    y = A.rfft_deinterleave(z, n)
    assert torch.linalg.vector_norm(y - x) <= 1e-5 * torch.linalg.vector_norm(x)


def test_rfft_interleave_layout_matches_re_im_pairs():
    x = torch.randn(16)
    X = torch.fft.rfft(x)
    z = A.rfft_interleave(x)
    assert torch.equal(z[0::2], X.real) and torch.equal(z[1::2], X.imag)


def test_paper001_feature_length_and_dropped_nyquist_component():
    n = 13230
    assert A.rfft_interleave(torch.randn(n), drop_nyquist=True).shape[-1] == 13230
    t = torch.arange(n)
    other = torch.sin(2 * math.pi * 440 * t / 4410)
    nyquist = 0.3 * torch.cos(math.pi * t)  # +0.3, -0.3, ...: all its energy sits in the last bin
    x = other + nyquist
    y = A.rfft_deinterleave(A.rfft_interleave(x, drop_nyquist=True), n, nyquist_dropped=True)
    assert torch.allclose(y, other, atol=1e-4)  # exactly the Nyquist component is gone
    assert torch.allclose(x - y, nyquist, atol=1e-4)


# ---------------------------------------------------------------- STFT

@pytest.mark.parametrize("n,n_fft,hop,center", [(16000, 1024, 256, True), (16000, 1024, 256, False),
                                                (64000, 1500, 250, False), (64000, 800, 100, True),
                                                (4001, 512, 160, True), (4001, 511, 97, False)])
def test_n_frames_and_istft_length_closed_forms_agree_with_torch(n, n_fft, hop, center):
    x = torch.randn(n)
    X = A.stft(x, n_fft, hop, center=center)
    F = A.n_frames(n, n_fft, hop, center)
    assert X.shape == (n_fft // 2 + 1, F)
    rect = torch.ones(n_fft)  # a window with no zeros, so torch can invert center=False too
    y = torch.istft(X, n_fft, hop, window=rect, center=center)
    assert y.shape[-1] == A.istft_length(F, n_fft, hop, center)


def test_stft_istft_round_trip_4s_16k_and_batch_dims():
    x = torch.randn(2, 3, 64000, generator=torch.Generator().manual_seed(0)) * 0.3
    X = A.stft(x, 1024, 256)
    assert X.shape == (2, 3, 513, A.n_frames(64000, 1024, 256)) and X.is_complex()
    y = A.istft(X, 1024, 256, length=64000)
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-5


def test_paper002_center_mismatch_loses_1500_samples():
    x = torch.randn(64000)
    X = A.stft(x, 1500, 250, center=False, onesided=False)
    assert X.shape == (1500, 251)
    y = A.istft(X, 1500, 250, center=True, onesided=False)
    assert y.shape[-1] == 62_500 == A.istft_length(251, 1500, 250, center=True)


def test_istft_center_false_with_hann_explains_itself():
    X = A.stft(torch.randn(4000), 512, 128, center=False)
    with pytest.raises(ValueError, match="center=True"):
        A.istft(X, 512, 128, center=False)


def test_magnitude_phase_round_trip():
    X = A.stft(torch.randn(8000), 512, 128)
    mag, phase = A.magnitude_phase(X)
    assert torch.all(mag >= 0) and phase.abs().max() <= math.pi + 1e-6
    assert torch.allclose(A.from_magnitude_phase(mag, phase), X, atol=1e-4)


# ---------------------------------------------------------------- mel

def test_mel_spectrogram_shape_peak_and_log():
    x = tone(1000, 16000, 1.0)
    M = A.mel_spectrogram(x, 16000, n_fft=1024, hop=256, n_mels=64)
    assert M.shape == (64, A.n_frames(16000, 1024, 256))
    import librosa
    centres = librosa.mel_frequencies(64 + 2, fmin=0, fmax=8000, htk=True)[1:-1]
    assert abs(centres[int(M.mean(-1).argmax())] - 1000) < 150
    L = A.log_mel(torch.zeros(2, 4000), 16000, n_mels=32)
    assert L.shape[:2] == (2, 32) and torch.allclose(L, torch.full_like(L, math.log(1e-5)))
    assert torch.allclose(A.log_mel(x, 16000, n_mels=64), torch.log(M.clamp_min(1e-5)))


# ---------------------------------------------------------------- phase reconstruction

def test_resynthesize_true_phase_is_exact_and_same_length():
    x = harmonic_note(seconds=1.0)[:15999]
    for phase in A.PHASES:
        y = A.resynthesize(x, 1024, 256, phase, n_iter=2)
        assert y.shape == x.shape, phase
    assert (A.resynthesize(x, 1024, 256, "true") - x).abs().max() < 1e-5


def test_griffin_lim_improves_spectral_convergence_and_is_seeded():
    x = harmonic_note(seconds=1.0)
    mag = A.stft(x, 1024, 256).abs()
    sc = {it: float(A.spectral_convergence(x, A.griffin_lim(mag, 1024, 256, n_iter=it, length=x.shape[-1])))
          for it in (0, 32)}
    assert sc[32] < 0.5 * sc[0], sc
    a = A.griffin_lim(mag, 1024, 256, n_iter=4, seed=3)
    b = A.griffin_lim(mag, 1024, 256, n_iter=4, seed=3)
    assert torch.equal(a, b)
    assert torch.equal(A.griffin_lim(mag, 1024, 256, n_iter=0, seed=1), A.griffin_lim(mag, 1024, 256, n_iter=0, seed=1))


def test_zero_phase_makes_hop_rate_clicks_and_true_phase_does_not():
    for f0 in (220.0, 261.63, 440.0):
        x = harmonic_note(f0)
        r_true = A.hop_click_ratio(A.resynthesize(x, 1024, 256, "true"), 256)
        r_zero = A.hop_click_ratio(A.resynthesize(x, 1024, 256, "zero"), 256)
        assert r_true < 1.5, (f0, r_true)
        assert r_zero >= 2 * r_true, (f0, r_zero, r_true)


def test_hop_click_ratio_of_a_click_train():
    y = torch.zeros(256 * 40)
    y[::256] = 1.0
    assert A.hop_click_ratio(y, 256) == pytest.approx(256.0)
    assert A.hop_click_ratio(torch.ones(256 * 40), 256) == pytest.approx(1.0)


# ---------------------------------------------------------------- metrics

def test_snr_db_matches_known_noise_power():
    g = torch.Generator().manual_seed(0)
    x = torch.stack([tone(440, 16000, 4.0), tone(880, 16000, 4.0)])  # power 0.5
    for target in (0.0, 10.0, 30.0):
        noise = torch.randn(x.shape, generator=g) * math.sqrt(0.5 / 10 ** (target / 10))
        snr = A.snr_db(x, x + noise)
        assert snr.shape == (2,)
        assert torch.allclose(snr, torch.full((2,), target), atol=0.2), (target, snr)
    assert float(A.snr_db(x[0], x[0])) > 100


def test_spectral_convergence_and_lsd():
    x = harmonic_note(seconds=1.0)
    assert float(A.spectral_convergence(x, x)) == 0.0
    assert float(A.log_spectral_distance(x, x)) == 0.0
    assert float(A.spectral_convergence(x, 0.5 * x)) == pytest.approx(0.5, abs=1e-4)
    noise = torch.randn(16000, generator=torch.Generator().manual_seed(0))  # power in every bin, eps negligible
    assert float(A.log_spectral_distance(noise, 0.5 * noise)) == pytest.approx(20 * math.log10(2), abs=1e-3)
    assert float(A.log_spectral_distance(x, 0.5 * x)) <= 20 * math.log10(2) + 1e-3
    batch = torch.stack([x, x])
    assert A.spectral_convergence(batch, batch * 0.9).shape == (2,)


def test_multi_resolution_stft_distance_zero_positive_and_differentiable():
    x = harmonic_note(seconds=0.5)
    assert float(A.multi_resolution_stft_distance(x, x)) == 0.0
    est = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    d = A.multi_resolution_stft_distance(x.expand(2, -1), est.expand(2, -1))
    assert d.dim() == 0 and d.item() > 0
    d.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call", [
    lambda: A.quantize(torch.zeros(4), 0),
    lambda: A.mu_law_encode(torch.zeros(4), mu=0),
    lambda: A.mu_law_dequantize(torch.tensor([0, 256])),
    lambda: A.decimate_naive(torch.zeros(4), 0),
    lambda: A.resample(torch.zeros(4), 44100, -1),
    lambda: A.aliased_frequency(100, 0),
    lambda: A.rfft_interleave(torch.zeros(13), drop_nyquist=True),
    lambda: A.rfft_deinterleave(torch.zeros(10), 13230),
    lambda: A.rfft_interleave(torch.zeros(0)),
    lambda: A.stft(torch.zeros(1000), 0, 256),
    lambda: A.stft(torch.zeros(100), 1024, 256, center=False),
    lambda: A.stft(torch.zeros(1000), 256, 64, win_length=512),
    lambda: A.stft(torch.zeros(1000), 256, 64, window="kaiser-ish"),
    lambda: A.istft(torch.zeros(257, 10), 512, 128),  # not complex
    lambda: A.istft(torch.zeros(100, 10, dtype=torch.complex64), 512, 128),  # wrong bin count
    lambda: A.n_frames(100, 1024, 256, center=False),
    lambda: A.istft_length(0, 1024, 256),
    lambda: A.mel_spectrogram(torch.zeros(1000), 16000, f_max=9000),
    lambda: A.griffin_lim(torch.zeros(100, 10), 1024, 256),  # two-sided / wrong size
    lambda: A.griffin_lim(torch.zeros(513, 10), 1024, 256, n_iter=-1),
    lambda: A.resynthesize(torch.zeros(4000), 512, 128, phase="minimum"),
    lambda: A.snr_db(torch.zeros(10), torch.zeros(11)),
    lambda: A.multi_resolution_stft_distance(torch.zeros(4000), torch.zeros(4000), fft_sizes=(512,)),
    lambda: A.hop_click_ratio(torch.zeros(100), 256),
    lambda: A.normalize_peak(torch.ones(3), peak=0),
])
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: A.stft(torch.zeros(1000), True, 256), "n_fft"),  # bool is not a size
    (lambda: A.quantize(torch.zeros(4), 2.0), "bits"),
    (lambda: A.normalize_peak(torch.ones(3), peak=float("nan")), "peak"),
    (lambda: A.aliased_frequency(100, float("nan")), "sr"),
    (lambda: A.log_mel(torch.zeros(4000), 16000, eps=0.0), "eps"),
    (lambda: A.mel_spectrogram(torch.zeros(4000), 16000, power=0), "power"),
    (lambda: A.griffin_lim(torch.zeros(513, 10), 1024, 256, n_iter=2.5), "n_iter"),
    (lambda: A.griffin_lim(torch.zeros(513, 10), 1024, 256, momentum=1.0), "momentum"),
    (lambda: A.hop_click_ratio(torch.zeros(4000), 256, skip=-1), "skip"),
])
def test_bad_arguments_are_named_in_the_message(call, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        call()


def test_half_precision_inputs_are_computed_in_float32():
    # under bf16 autocast a model hands bf16 tensors to the spectral code; FFTs need float32
    x = torch.randn(2, 4410)
    z = A.rfft_interleave(x.bfloat16(), drop_nyquist=False)
    assert z.dtype == torch.float32
    y = A.rfft_deinterleave(z.bfloat16(), 4410)
    assert y.dtype == torch.float32 and y.shape == x.shape
    d = A.multi_resolution_stft_distance(x, x.half())
    assert d.dtype == torch.float32 and float(d) < 0.05


# ---------------------------------------------------------------- Chapter 03 representations

def _tones(n=2, length=4000, sr=16000):
    t = torch.arange(length) / sr
    f = torch.tensor([220.0, 523.0][:n]).unsqueeze(1)
    return 0.5 * torch.sin(2 * math.pi * f * t) * torch.exp(-3 * t)


@pytest.mark.parametrize("kind", ["two_sided", "one_sided", "logmag_cossin", "logmag_if"])
def test_representations_invert_exactly(kind):
    x = _tones()
    S = A.spectral_features(x, kind, 256, 64)
    assert S.shape[:2] == (2, len(A.REPRESENTATIONS[kind]))
    assert S.shape[2] == (256 if kind == "two_sided" else 129)
    y = A.features_to_audio(S, kind, 256, 64, x.shape[-1])
    assert float(A.snr_db(x, y).min()) > 60


def test_logmag_uses_griffin_lim_and_improves_with_iterations():
    x = _tones()
    S = A.spectral_features(x, "logmag", 256, 64)
    assert S.shape[1] == 1
    sc = [float(A.spectral_convergence(x, A.features_to_audio(S, "logmag", 256, 64, x.shape[-1], gl_iters=n)).mean())
          for n in (0, 32)]
    assert sc[1] < 0.5 * sc[0]


def test_two_sided_is_a_mirror_of_one_sided():
    x = _tones()
    two = A.spectral_features(x, "two_sided", 256, 64)
    one = A.spectral_features(x, "one_sided", 256, 64)
    assert torch.allclose(two[:, :, :129], one, atol=1e-5)
    k = torch.arange(1, 128)
    assert torch.allclose(two[:, 0, k], two[:, 0, 256 - k], atol=1e-5)


def test_instantaneous_frequency_of_a_steady_tone_is_constant_and_inverts():
    sr, n_fft, hop, f0 = 16000, 512, 128, 1000.0  # 1000 Hz sits exactly on bin 32
    x = torch.sin(2 * math.pi * f0 * torch.arange(8000) / sr)
    phase = A.stft(x, n_fft, hop).angle()
    inst = A.instantaneous_frequency(phase)
    expected = (2 * math.pi * f0 * hop / sr + math.pi) % (2 * math.pi) - math.pi
    assert torch.allclose(inst[32, 3:-3], torch.full_like(inst[32, 3:-3], expected / math.pi), atol=1e-3)
    assert inst.abs().max() <= 1.0 + 1e-6
    back = A.phase_from_if(inst)
    assert torch.allclose(torch.cos(back), torch.cos(phase), atol=1e-3)
    assert torch.allclose(torch.sin(back), torch.sin(phase), atol=1e-3)


def test_representation_bad_inputs():
    x = _tones()
    with pytest.raises(ValueError, match="unknown representation"):
        A.spectral_features(x, "mel", 256, 64)
    S = A.spectral_features(x, "one_sided", 256, 64)
    with pytest.raises(ValueError, match="two_sided features must be"):
        A.features_to_audio(S, "two_sided", 256, 64, 4000)
    with pytest.raises(ValueError, match="unknown representation"):
        A.features_to_audio(S, "cqt", 256, 64, 4000)


def test_negative_magnitudes_from_a_network_are_clipped():
    x = _tones()
    S = A.spectral_features(x, "one_sided", 256, 64)
    S_bad = S.clone()
    S_bad[:, 0] = -S_bad[:, 0]
    y = A.features_to_audio(S_bad, "one_sided", 256, 64, 4000)
    assert y.abs().max() < 1e-6


def test_log_mel_to_audio_round_trip_of_a_decaying_tone():
    sr = 16000
    t = torch.arange(sr) / sr
    x = (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.2 * torch.sin(2 * math.pi * 440 * t)) * torch.exp(-2 * t)
    M = A.log_mel(x, sr, n_fft=1024, hop=256, n_mels=64)
    errs = {}
    for it in (0, 32):
        y = A.log_mel_to_audio(M, sr, 1024, 256, length=sr, gl_iters=it)
        assert y.shape == (sr,) and torch.isfinite(y).all()
        P, P2 = M.exp(), A.log_mel(y, sr, n_fft=1024, hop=256, n_mels=64).exp()
        errs[it] = ((P - P2).norm() / P.norm()).item()
    assert errs[32] < 0.25 < errs[0]  # Griffin-Lim phase makes the mel power match; random phase does not
    batch = A.log_mel_to_audio(torch.stack([M, M]), sr, 1024, 256, length=sr, gl_iters=2)
    assert batch.shape == (2, sr)
    with pytest.raises(ValueError, match="n_mels, frames"):
        A.log_mel_to_audio(M[0, 0], sr)


def test_log_mel_to_audio_accepts_cropped_frames_and_any_length():
    sr = 16000
    x = torch.sin(2 * math.pi * 330 * torch.arange(sr) / sr)
    M = A.log_mel(x, sr, n_fft=1024, hop=256, n_mels=32)[..., :32]  # cropped: not a whole signal's frame count
    for length in (256 * 32, 256 * 31, 9000):
        y = A.log_mel_to_audio(M, sr, 1024, 256, length=length, gl_iters=2)
        assert y.shape == (length,) and torch.isfinite(y).all()
    assert A.log_mel_to_audio(M, sr, 1024, 256, gl_iters=2).shape == (256 * 31,)
