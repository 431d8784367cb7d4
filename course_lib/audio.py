"""Audio representations: mu-law, sampling and aliasing, RFFT features, STFT / mel, phase, metrics.

Conventions: waveforms are float32 torch tensors whose last dimension is time (leading batch
dimensions are allowed); spectrograms are (..., freq, frames). Numpy arrays and lists are accepted
wherever a waveform is expected and converted with `to_tensor`.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from .checks import non_negative_int, positive_int, positive_real, probability

EPS = 1e-10  # guard inside logs and ratios (dB, SNR, LSD)
WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window,
           "blackman": torch.blackman_window, "rect": torch.ones}


# ---------------------------------------------------------------- checks and small utilities

def _waveform(x, name: str = "x") -> torch.Tensor:
    x = to_tensor(x)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last (time) dimension, got shape {tuple(x.shape)}")
    if x.is_complex():
        raise ValueError(f"{name} must be a real waveform, got a complex tensor")
    return x


def _real(x, name: str = "x") -> torch.Tensor:
    x = to_tensor(x)
    if x.is_complex():
        raise ValueError(f"{name} must be real, got a complex tensor")
    return x


def _same_shape(ref: torch.Tensor, est: torch.Tensor) -> None:
    if ref.shape != est.shape:
        raise ValueError(f"ref and est must have the same shape, got {tuple(ref.shape)} and {tuple(est.shape)}")


def to_tensor(x) -> torch.Tensor:
    """Numpy array / list / number -> float32 tensor; float32/64 tensors pass through, half/bf16 become float32.

    Spectral work (FFT, logs) always runs in at least float32, also under bf16 autocast.
    """
    if isinstance(x, torch.Tensor):
        return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def normalize_peak(x: torch.Tensor, peak: float = 0.99) -> torch.Tensor:
    """Scale each item (last dim) so that max |x| = peak; silent items come back unchanged."""
    positive_real("peak", peak)
    x = _waveform(x)
    m = x.abs().amax(dim=-1, keepdim=True)
    return torch.where(m > 0, x * (peak / m.clamp_min(torch.finfo(x.dtype).tiny)), x)


def db(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Amplitude in decibels: 20 log10(|x| + eps). Notebook: 01_audio_and_midi."""
    return 20 * torch.log10(to_tensor(x).abs() + eps)


# ---------------------------------------------------------------- mu-law and quantisation

def mu_law_encode(x: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """Mu-law companding y = sign(x) ln(1 + mu|x|) / ln(1 + mu), float in [-1, 1] (not quantised).

    Notebook: 01_audio_and_midi
    """
    mu = positive_int("mu", mu)
    x = _real(x).clamp(-1, 1)
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


def mu_law_decode(y: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """Inverse companding x = sign(y) ((1 + mu)^|y| - 1) / mu."""
    mu = positive_int("mu", mu)
    y = _real(y, "y").clamp(-1, 1)
    return torch.sign(y) * torch.expm1(y.abs() * math.log1p(mu)) / mu


def quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform mid-rise quantiser on [-1, 1]: 2^bits levels, step 2 / 2^bits; returns the level value.

    Notebook: 01_audio_and_midi
    """
    levels = 2 ** positive_int("bits", bits)
    step = 2.0 / levels
    k = torch.floor((_real(x) + 1) / step).clamp(0, levels - 1)
    return -1 + (k + 0.5) * step


def mu_law_quantize(x: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """Mu-law compand then round to integer codes 0..mu (int64), as in WaveNet. Notebook: 01_audio_and_midi."""
    mu = positive_int("mu", mu)
    return AF.mu_law_encoding(_real(x).clamp(-1, 1), mu + 1)


def mu_law_dequantize(codes: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """Integer codes 0..mu back to a float waveform in [-1, 1]. Notebook: 01_audio_and_midi."""
    mu = positive_int("mu", mu)
    codes = torch.as_tensor(codes)
    if codes.numel() and (codes.min() < 0 or codes.max() > mu):
        raise ValueError(f"mu-law codes must lie in 0..{mu}, got range {int(codes.min())}..{int(codes.max())}")
    return AF.mu_law_decoding(codes, mu + 1).float()


# ---------------------------------------------------------------- sampling and aliasing

def resample(x: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited (anti-aliased) resampling with torchaudio's windowed-sinc filter. Notebook: 01_audio_and_midi."""
    orig_sr, new_sr = positive_int("orig_sr", orig_sr), positive_int("new_sr", new_sr)
    return AF.resample(_waveform(x), orig_sr, new_sr)


def decimate_naive(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Keep every `factor`-th sample with no low-pass filter: x[..., ::factor] (aliases).

    Notebook: 01_audio_and_midi
    """
    return _waveform(x)[..., :: positive_int("factor", factor)]


def aliased_frequency(f: float, sr: float) -> float:
    """Where a pure tone at f Hz appears after sampling at sr Hz: fold f into [0, sr/2]. Notebook: 01_audio_and_midi."""
    positive_real("sr", sr)
    r = abs(float(f)) % sr
    return float(min(r, sr - r))


# ---------------------------------------------------------------- paper 001: interleaved RFFT

def rfft_interleave(x: torch.Tensor, drop_nyquist: bool = False) -> torch.Tensor:
    """RFFT of the last dim as a real vector [re0, im0, re1, im1, ...] of length 2 (N//2 + 1).

    drop_nyquist=True removes the last complex bin (the Nyquist bin; N must be even), so the
    feature has exactly N values, as in paper 001 (N = 13230 -> 13230).

    Notebook: 01_audio_and_midi
    """
    x = _waveform(x)
    n = x.shape[-1]
    if drop_nyquist and n % 2:
        raise ValueError(f"drop_nyquist needs an even length (odd N = {n} has no Nyquist bin)")
    X = torch.fft.rfft(x)
    if drop_nyquist:
        X = X[..., :-1]
    return torch.view_as_real(X).flatten(-2)


def rfft_deinterleave(z: torch.Tensor, n: int, nyquist_dropped: bool = False) -> torch.Tensor:
    """Inverse of rfft_interleave: waveform of length n (a dropped Nyquist bin comes back as zero).

    Notebook: 01_audio_and_midi
    """
    n = positive_int("n", n)
    z = _waveform(z, "z")
    bins = n // 2 + 1 - int(nyquist_dropped)
    if nyquist_dropped and n % 2:
        raise ValueError(f"nyquist_dropped needs an even n, got {n}")
    if z.shape[-1] != 2 * bins:
        raise ValueError(f"for n={n} (nyquist_dropped={nyquist_dropped}) the last dim must be {2 * bins}, "
                         f"got {z.shape[-1]}")
    X = torch.view_as_complex(z.reshape(*z.shape[:-1], bins, 2).contiguous())
    if nyquist_dropped:
        X = torch.cat([X, X.new_zeros(*X.shape[:-1], 1)], dim=-1)
    return torch.fft.irfft(X, n=n)


# ---------------------------------------------------------------- STFT

def _window(window: str, win_length: int, device: torch.device) -> torch.Tensor:
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; choose one of {sorted(WINDOWS)}")
    if window == "rect":
        return torch.ones(win_length, device=device)
    return WINDOWS[window](win_length, periodic=True, device=device)


def _stft_sizes(n_fft: int, hop: int, win_length: int | None) -> tuple[int, int, int]:
    n_fft, hop = positive_int("n_fft", n_fft), positive_int("hop", hop)
    win_length = n_fft if win_length is None else positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
    return n_fft, hop, win_length


def stft(x: torch.Tensor, n_fft: int, hop: int, win_length: int | None = None, window: str = "hann",
         center: bool = True, onesided: bool = True) -> torch.Tensor:
    """Complex STFT (..., freq, frames) with a periodic window; freq = n_fft//2 + 1 when onesided.

    Notebook: 01_audio_and_midi
    """
    n_fft, hop, win_length = _stft_sizes(n_fft, hop, win_length)
    x = _waveform(x)
    if not center and x.shape[-1] < n_fft:
        raise ValueError(f"center=False needs at least n_fft={n_fft} samples, got {x.shape[-1]}")
    if center and x.shape[-1] <= n_fft // 2:
        raise ValueError(f"center=True (reflect padding) needs more than n_fft//2={n_fft // 2} samples, "
                         f"got {x.shape[-1]}")
    X = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, win_length, _window(window, win_length, x.device),
                   center=center, pad_mode="reflect", onesided=onesided, return_complex=True)
    return X.reshape(*x.shape[:-1], *X.shape[-2:])


def istft(X: torch.Tensor, n_fft: int, hop: int, win_length: int | None = None, center: bool = True,
          onesided: bool = True, length: int | None = None, window: str = "hann") -> torch.Tensor:
    """Inverse STFT (windowed overlap-add) -> real (..., time); length = istft_length(...) unless given.

    With center=False and a Hann window the first sample has zero window weight and cannot be
    recovered (torch refuses; we raise ValueError): analyse with center=True and pass `length`.

    Notebook: 01_audio_and_midi
    """
    n_fft, hop, win_length = _stft_sizes(n_fft, hop, win_length)
    if not torch.is_complex(X) or X.dim() < 2:
        raise ValueError(f"X must be a complex (..., freq, frames) tensor, got {X.dtype} {tuple(X.shape)}")
    freq = n_fft // 2 + 1 if onesided else n_fft
    if X.shape[-2] != freq:
        raise ValueError(f"X has {X.shape[-2]} frequency rows; n_fft={n_fft} onesided={onesided} needs {freq}")
    if length is not None:
        length = positive_int("length", length)
    try:
        y = torch.istft(X.reshape(-1, *X.shape[-2:]), n_fft, hop, win_length, _window(window, win_length, X.device),
                        center=center, onesided=onesided, length=length)
    except RuntimeError as e:
        if "overlap add" in str(e):
            raise ValueError(f"istft: the window overlap-add is zero somewhere (center={center}, window={window!r}); "
                             "the signal there cannot be recovered. Use center=True and pass length=.") from e
        raise
    return y.reshape(*X.shape[:-2], y.shape[-1])


def n_frames(n_samples: int, n_fft: int, hop: int, center: bool = True) -> int:
    """STFT frame count: 1 + N // hop (center) or 1 + (N - n_fft) // hop (no padding). Notebook: 01_audio_and_midi."""
    n_samples, n_fft, hop = (positive_int(k, v) for k, v in (("n_samples", n_samples), ("n_fft", n_fft), ("hop", hop)))
    if center:
        return 1 + n_samples // hop
    if n_samples < n_fft:
        raise ValueError(f"center=False needs n_samples >= n_fft, got {n_samples} < {n_fft}")
    return 1 + (n_samples - n_fft) // hop


def istft_length(n_frames: int, n_fft: int, hop: int, center: bool = True) -> int:
    """Length istft returns: n_fft + hop (F - 1), minus 2 (n_fft // 2) when center trims the padding.

    Notebook: 03_spectrogram_autoencoders
    """
    n_frames, n_fft, hop = (positive_int(k, v) for k, v in (("n_frames", n_frames), ("n_fft", n_fft), ("hop", hop)))
    full = n_fft + hop * (n_frames - 1)
    return full - 2 * (n_fft // 2) if center else full


def magnitude_phase(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a complex spectrogram into magnitude |X| and phase angle(X) in (-pi, pi]. Notebook: 01_audio_and_midi."""
    if not torch.is_complex(X):
        raise ValueError(f"X must be complex, got {X.dtype}")
    return X.abs(), X.angle()


def from_magnitude_phase(mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Rebuild a complex spectrogram mag * exp(i phase)."""
    if mag.shape != phase.shape:
        raise ValueError(f"mag and phase must have the same shape, got {tuple(mag.shape)} and {tuple(phase.shape)}")
    return torch.polar(mag, phase.to(mag.dtype))


# ---------------------------------------------------------------- mel

@functools.lru_cache(maxsize=32)
def _mel_transform(sr: int, n_fft: int, hop: int, n_mels: int, f_min: float, f_max: float | None, power: float,
                   device: str, dtype: torch.dtype = torch.float32) -> AT.MelSpectrogram:
    return AT.MelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, f_min=f_min, f_max=f_max,
                             power=power, center=True, pad_mode="reflect").to(device=device, dtype=dtype)


def mel_spectrogram(x: torch.Tensor, sr: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 128,
                    f_min: float = 0.0, f_max: float | None = None, power: float = 2.0) -> torch.Tensor:
    """Mel spectrogram (..., n_mels, frames): |STFT|^power (Hann, centred) through an HTK mel filterbank.
    Computed in float64 when x is float64 (as `metrics.timbre_features` does), else in float32.

    Notebook: 01_audio_and_midi
    """
    sr, n_fft, hop, n_mels = (positive_int(k, v) for k, v in (("sr", sr), ("n_fft", n_fft), ("hop", hop),
                                                                ("n_mels", n_mels)))
    if not 0 <= f_min < (f_max if f_max is not None else sr / 2) <= sr / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sr/2, got f_min={f_min}, f_max={f_max}, sr={sr}")
    positive_real("power", power)
    x = _waveform(x)
    if x.dtype != torch.float64:
        x = x.float()
    return _mel_transform(sr, n_fft, hop, n_mels, float(f_min), f_max, float(power), str(x.device), x.dtype)(x)


def log_mel(x: torch.Tensor, sr: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 128, f_min: float = 0.0,
            f_max: float | None = None, power: float = 2.0, eps: float = 1e-5) -> torch.Tensor:
    """Natural-log mel spectrogram: ln(max(mel, eps)), so silence sits at ln(eps) = -11.5.

    Notebook: 01_audio_and_midi
    """
    positive_real("eps", eps)
    return torch.log(mel_spectrogram(x, sr, n_fft, hop, n_mels, f_min, f_max, power).clamp_min(eps))


def log_mel_to_audio(M: torch.Tensor, sr: int, n_fft: int = 1024, hop: int = 256, length: int | None = None,
                     gl_iters: int = 32, f_min: float = 0.0, f_max: float | None = None, power: float = 2.0,
                     seed: int = 0) -> torch.Tensor:
    """Listen to a log-mel (..., n_mels, frames) made by `log_mel`: exp, least-squares inverse mel
    filterbank (torchaudio InverseMelScale, negatives clipped), then Griffin-Lim. Blurry by nature: the mel
    filterbank and the phase both lose information.

    Notebook: 08_diffusion_basics
    """
    M = to_tensor(M).float()
    if M.dim() < 2:
        raise ValueError(f"M must be (..., n_mels, frames), got shape {tuple(M.shape)}")
    sr, n_fft, hop = (positive_int(k, v) for k, v in (("sr", sr), ("n_fft", n_fft), ("hop", hop)))
    inv = AT.InverseMelScale(n_stft=n_fft // 2 + 1, n_mels=M.shape[-2], sample_rate=sr, f_min=f_min, f_max=f_max,
                             driver="gelsd").to(M.device)
    spec = inv(torch.exp(M)).clamp_min(0).pow(1.0 / power)
    y = griffin_lim(spec, n_fft, hop, n_iter=gl_iters, seed=seed)  # hop * (frames - 1) samples: self-consistent
    if length is None:
        return y
    return torch.nn.functional.pad(y, (0, max(0, length - y.shape[-1])))[..., :length]


# ---------------------------------------------------------------- phase reconstruction

def _random_phase(shape: torch.Size, seed: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(shape, generator=g) * 2 - 1) * math.pi).to(device)


def griffin_lim(mag: torch.Tensor, n_fft: int, hop: int, n_iter: int = 32, win_length: int | None = None,
                length: int | None = None, momentum: float = 0.99, init: str = "random",
                seed: int = 0) -> torch.Tensor:
    """Waveform whose STFT magnitude matches `mag` (one-sided, power 1) by Griffin-Lim (torchaudio).

    n_iter=0 means no iterations: the magnitude with uniform random phase (init='random') or zero
    phase (init='zero'), inverted once. torchaudio's own random start is seeded with `seed`.

    Notebook: 01_audio_and_midi
    """
    n_fft, hop, win_length = _stft_sizes(n_fft, hop, win_length)
    n_iter = non_negative_int("n_iter", n_iter)
    if init not in ("random", "zero"):
        raise ValueError(f"init must be 'random' or 'zero', got {init!r}")
    probability("momentum", momentum)
    if torch.is_complex(mag) or mag.dim() < 2 or mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"mag must be a real one-sided magnitude (..., {n_fft // 2 + 1}, frames) for n_fft={n_fft}, "
                         f"got {mag.dtype} {tuple(mag.shape)}")
    if n_iter == 0:
        phase = _random_phase(mag.shape, seed, mag.device) if init == "random" else torch.zeros_like(mag)
        return istft(from_magnitude_phase(mag, phase), n_fft, hop, win_length, length=length)
    gl = AT.GriffinLim(n_fft=n_fft, n_iter=n_iter, win_length=win_length, hop_length=hop, power=1.0,
                       momentum=momentum, length=length, rand_init=init == "random").to(mag.device)
    devices = [mag.device] if mag.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return gl(mag)


PHASES = ("true", "zero", "random", "griffin_lim")


def resynthesize(x: torch.Tensor, n_fft: int, hop: int, phase: str = "true", n_iter: int = 32,
                 seed: int = 0) -> torch.Tensor:
    """Rebuild x (same length) from its one-sided STFT magnitude (Hann, centred) with the chosen phase.

    phase: 'true' (the STFT's own phase, ~exact), 'zero', 'random' (uniform, seeded) or 'griffin_lim'.

    Notebook: 01_audio_and_midi
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    x = _waveform(x)
    length = x.shape[-1]
    X = stft(x, n_fft, hop)
    mag, true_phase = magnitude_phase(X)
    if phase == "griffin_lim":
        return griffin_lim(mag, n_fft, hop, n_iter=n_iter, length=length, seed=seed)
    phi = {"true": lambda: true_phase, "zero": lambda: torch.zeros_like(mag),
           "random": lambda: _random_phase(mag.shape, seed, mag.device)}[phase]()
    return istft(from_magnitude_phase(mag, phi), n_fft, hop, length=length)


# ---------------------------------------------------------------- spectrogram representations (Chapter 03)

# name -> feature channels. "two_sided" is paper 002's input (|X| and angle X over all n_fft rows);
# the others are one-sided (n_fft // 2 + 1 rows) and carry the same information at half the cost or less.
REPRESENTATIONS = {"two_sided": ("magnitude", "phase"), "one_sided": ("magnitude", "phase"),
                   "logmag": ("log magnitude",), "logmag_cossin": ("log magnitude", "cos phase", "sin phase"),
                   "logmag_if": ("log magnitude", "instantaneous frequency")}
LOG_FLOOR = 1e-4  # log(|X| + LOG_FLOOR): about -80 dB below a full-scale sine's peak bin at n_fft 512


def instantaneous_frequency(phase: torch.Tensor) -> torch.Tensor:
    """Phase advance per frame, wrapped to (-pi, pi] and divided by pi; frame 0 keeps phase / pi."""
    d = torch.diff(phase, dim=-1, prepend=torch.zeros_like(phase[..., :1]))
    return torch.remainder(d + math.pi, 2 * math.pi).sub(math.pi) / math.pi


def phase_from_if(inst_freq: torch.Tensor) -> torch.Tensor:
    """Invert instantaneous_frequency: cumulative sum over frames (equal to the phase modulo 2 pi)."""
    return torch.cumsum(inst_freq * math.pi, dim=-1)


def spectral_features(x: torch.Tensor, kind: str, n_fft: int, hop: int, center: bool = True) -> torch.Tensor:
    """Waveforms (B, T) -> features (B, C, F, frames) for one of REPRESENTATIONS (Hann window).

    two_sided: |X|, angle X with F = n_fft (paper 002, no log, no normalisation); one_sided: the same
    with F = n_fft // 2 + 1; logmag: log(|X| + LOG_FLOOR); logmag_cossin adds cos and sin of the phase;
    logmag_if adds the instantaneous frequency. Computed on x's device, in float32.

    Notebook: 03_spectrogram_autoencoders
    """
    if kind not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {kind!r}; choose one of {sorted(REPRESENTATIONS)}")
    x = _waveform(x).float()
    X = stft(x, n_fft, hop, center=center, onesided=kind != "two_sided")
    mag, phase = X.abs(), X.angle()
    if kind in ("two_sided", "one_sided"):
        chans = [mag, phase]
    else:
        logmag = torch.log(mag + LOG_FLOOR)
        chans = {"logmag": [logmag], "logmag_cossin": [logmag, torch.cos(phase), torch.sin(phase)],
                 "logmag_if": [logmag, instantaneous_frequency(phase)]}[kind]
    return torch.stack(chans, dim=-3)


def features_to_audio(S: torch.Tensor, kind: str, n_fft: int, hop: int, length: int, gl_iters: int = 32,
                      seed: int = 0) -> torch.Tensor:
    """Invert spectral_features (center=True analysis) to waveforms (B, length); logmag uses Griffin-Lim.

    A two-sided spectrum of a real signal is conjugate-symmetric: only its first n_fft // 2 + 1 rows are used.
    Magnitudes below zero (a network can output them) are clipped to zero.

    Notebook: 03_spectrogram_autoencoders
    """
    if kind not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {kind!r}; choose one of {sorted(REPRESENTATIONS)}")
    S = to_tensor(S).float()
    n_ch = len(REPRESENTATIONS[kind])
    rows = n_fft if kind == "two_sided" else n_fft // 2 + 1
    if S.dim() < 3 or S.shape[-3] != n_ch or S.shape[-2] != rows:
        raise ValueError(f"{kind} features must be (..., {n_ch}, {rows}, frames) for n_fft={n_fft}, got {tuple(S.shape)}")
    S = S[..., : n_fft // 2 + 1, :]
    if kind in ("two_sided", "one_sided"):
        mag, phase = S[..., 0, :, :].clamp_min(0), S[..., 1, :, :]
    else:
        mag = (torch.exp(S[..., 0, :, :]) - LOG_FLOOR).clamp_min(0)
        if kind == "logmag":
            return griffin_lim(mag, n_fft, hop, n_iter=gl_iters, length=length, seed=seed)
        if kind == "logmag_cossin":
            phase = torch.atan2(S[..., 2, :, :], S[..., 1, :, :])
        else:
            phase = phase_from_if(S[..., 1, :, :])
    return istft(from_magnitude_phase(mag, phase), n_fft, hop, length=length)


# ---------------------------------------------------------------- metrics

def snr_db(ref: torch.Tensor, est: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """SNR in dB per item: 10 log10((sum ref^2 + eps) / (sum (ref - est)^2 + eps)) over the last dim.

    Notebook: 01_audio_and_midi
    """
    ref, est = _waveform(ref, "ref"), _waveform(est, "est")
    _same_shape(ref, est)
    return 10 * torch.log10((ref.pow(2).sum(-1) + eps) / ((ref - est).pow(2).sum(-1) + eps))


def spectral_convergence(ref: torch.Tensor, est: torch.Tensor, n_fft: int = 1024, hop: int = 256) -> torch.Tensor:
    """Per item || |S_ref| - |S_est| ||_F / || |S_ref| ||_F of the Hann STFTs of waveforms (0 = equal).

    Notebook: 01_audio_and_midi
    """
    ref, est = _waveform(ref, "ref"), _waveform(est, "est")
    _same_shape(ref, est)
    A, B = stft(ref, n_fft, hop).abs(), stft(est, n_fft, hop).abs()
    return torch.linalg.vector_norm(A - B, dim=(-2, -1)) / torch.linalg.vector_norm(A, dim=(-2, -1)).clamp_min(EPS)


def log_spectral_distance(ref: torch.Tensor, est: torch.Tensor, n_fft: int = 1024, hop: int = 256,
                          eps: float = EPS) -> torch.Tensor:
    """LSD (dB, per item): mean_frames sqrt(mean_bins (10 log10((P_ref + eps) / (P_est + eps)))^2).

    Notebook: 03_spectrogram_autoencoders
    """
    ref, est = _waveform(ref, "ref"), _waveform(est, "est")
    _same_shape(ref, est)
    P_ref, P_est = stft(ref, n_fft, hop).abs().pow(2), stft(est, n_fft, hop).abs().pow(2)
    d = 10 * torch.log10((P_ref + eps) / (P_est + eps))
    return d.pow(2).mean(-2).sqrt().mean(-1)


def multi_resolution_stft_distance(ref: torch.Tensor, est: torch.Tensor, fft_sizes: Sequence[int] = (1024, 2048, 512),
                                   hops: Sequence[int] = (120, 240, 50),
                                   win_lengths: Sequence[int] = (600, 1200, 240)) -> torch.Tensor:
    """MR-STFT distance (Yamamoto et al. 2020), a scalar: mean_res [SC + mean |ln|S_ref| - ln|S_est||].

    Magnitudes are sqrt(max(|S|^2, 1e-7)) (keeps log and gradient finite); SC is per item, then
    everything is averaged over the batch. Differentiable: usable as a loss.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if not len(fft_sizes) == len(hops) == len(win_lengths) >= 1:
        raise ValueError(f"fft_sizes, hops and win_lengths must be non-empty and of equal length, got "
                         f"{len(fft_sizes)}, {len(hops)}, {len(win_lengths)}")
    ref, est = _waveform(ref, "ref"), _waveform(est, "est")
    _same_shape(ref, est)
    total = ref.new_zeros(())
    for n_fft, hop, win in zip(fft_sizes, hops, win_lengths):
        A = stft(ref, n_fft, hop, win).abs().pow(2).clamp_min(1e-7).sqrt()
        B = stft(est, n_fft, hop, win).abs().pow(2).clamp_min(1e-7).sqrt()
        sc = torch.linalg.vector_norm(A - B, dim=(-2, -1)) / torch.linalg.vector_norm(A, dim=(-2, -1))
        total = total + sc.mean() + (A.log() - B.log()).abs().mean()
    return total / len(fft_sizes)


# ---------------------------------------------------------------- clicks

def hop_click_ratio(y: torch.Tensor, hop: int, skip: int | None = None) -> float:
    """Peak-to-mean of |y| folded at the hop period (1 = no hop-rate pattern; clicks give >> 1).

    Trims `skip` samples (default 4 hop) at both ends, cuts the rest into hop-long rows, averages
    |y| over rows (and over any leading dims) and returns max / mean of that hop-long profile.

    Notebook: 01_audio_and_midi
    """
    hop = positive_int("hop", hop)
    skip = 4 * hop if skip is None else non_negative_int("skip", skip)
    y = _waveform(y, "y")
    y = y.reshape(-1, y.shape[-1])[:, skip: y.shape[-1] - skip]
    rows = y.shape[-1] // hop
    if rows < 1:
        raise ValueError(f"signal too short: after trimming {skip} samples at each end fewer than hop={hop} remain")
    profile = y[:, : rows * hop].abs().reshape(-1, hop).mean(0)
    return float(profile.max() / profile.mean().clamp_min(EPS))
