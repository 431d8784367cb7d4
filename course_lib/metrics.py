"""Metrics: reconstruction metrics with their domain stated, band-limit and seam-click measures (Chapter 02),
paper 002's "accuracy" (Chapter 03), active latent units and a linear timbre probe (Chapter 04),
token accuracy, music metrics (with the overlap area of their distributions) and trivial baselines for melodies
(Chapter 06)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from . import audio, events, midi


def feature_metrics(z: torch.Tensor, z_hat: torch.Tensor) -> dict[str, float]:
    """MSE, MAE, RMSE, SNR (dB) in the FEATURE domain (e.g. paper 001's interleaved RFFT values).

    mse = mean (z - z_hat)^2; mae = mean |z - z_hat|; rmse = sqrt(mse) (of the whole set, not a mean of per-item
    roots); snr = 10 log10(sum z^2 / sum (z - z_hat)^2) over the whole set.
    """
    if z.shape != z_hat.shape:
        raise ValueError(f"shapes differ: {tuple(z.shape)} vs {tuple(z_hat.shape)}")
    e = (z - z_hat).double()
    mse = float(e.pow(2).mean())
    return {"mse": mse, "mae": float(e.abs().mean()), "rmse": mse ** 0.5,
            "snr_db": float(10 * torch.log10(z.double().pow(2).sum() / e.pow(2).sum().clamp_min(1e-30)))}


def waveform_metrics(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    """The same four metrics in the WAVEFORM domain (samples in [-1, 1])."""
    return feature_metrics(x, x_hat)


def interleaved_metrics(z: torch.Tensor, z_hat: torch.Tensor, n: int) -> dict[str, float]:
    """Metrics of interleaved-RFFT reconstructions in both domains: keys spec_* and wave_*.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    x = audio.rfft_deinterleave(z, n, nyquist_dropped=z.shape[-1] == n)
    x_hat = audio.rfft_deinterleave(z_hat, n, nyquist_dropped=z.shape[-1] == n)
    out = {f"spec_{k}": v for k, v in feature_metrics(z, z_hat).items()}
    out.update({f"wave_{k}": v for k, v in waveform_metrics(x, x_hat).items()})
    return out


def thesis_accuracy(x: torch.Tensor, x_hat: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Paper 002's "accuracy" (its eq. 4.1) per example: max(0, 1 - ||x - x_hat||^2 / (||x||^2 + eps)).

    It is one minus a relative squared error: an input whose energy ||x||^2 grows (a longer FFT gives
    larger magnitudes) scores higher for the same absolute error. Dim 0 is the batch.

    Notebook: 03_spectrogram_autoencoders
    """
    if x.shape != x_hat.shape or x.dim() < 1:
        raise ValueError(f"x and x_hat must have the same shape with a batch dim, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    x, x_hat = x.reshape(x.shape[0], -1).float(), x_hat.reshape(x.shape[0], -1).float()
    rel = (x - x_hat).pow(2).sum(1) / (x.pow(2).sum(1) + eps)
    return (1 - rel).clamp_min(0)


def band_energy_ratio_db(ref: torch.Tensor, est: torch.Tensor, sr: int, band_hz: float = 50.0
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy of est relative to ref (dB) in bands of band_hz, averaged over all leading items.

    Returns (band centre frequencies in Hz, ratio in dB).

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if ref.shape != est.shape:
        raise ValueError(f"shapes differ: {tuple(ref.shape)} vs {tuple(est.shape)}")
    n = ref.shape[-1]
    p_ref = torch.fft.rfft(ref.double()).abs().pow(2).reshape(-1, n // 2 + 1).mean(0)
    p_est = torch.fft.rfft(est.double()).abs().pow(2).reshape(-1, n // 2 + 1).mean(0)
    freqs = torch.fft.rfftfreq(n, 1 / sr)
    band = (freqs / band_hz).long()
    n_bands = int(band.max()) + 1
    e_ref = torch.zeros(n_bands, dtype=torch.float64).index_add_(0, band, p_ref)
    e_est = torch.zeros(n_bands, dtype=torch.float64).index_add_(0, band, p_est)
    centres = (torch.arange(n_bands) + 0.5) * band_hz
    return centres, 10 * torch.log10(e_est.clamp_min(1e-30) / e_ref.clamp_min(1e-30))


def rolloff_hz(x: torch.Tensor, sr: int, fraction: float = 0.99) -> float:
    """Spectral roll-off: the frequency below which `fraction` of the energy lies (mean over items).

    Where a reconstruction's energy stops: paper 001 saw its conv model's output end near 417 Hz.
    Returns 0 for a silent signal.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n = x.shape[-1]
    p = torch.fft.rfft(x.double()).abs().pow(2).reshape(-1, n // 2 + 1).mean(0)
    total = float(p.sum())
    if total <= 0:
        return 0.0
    k = int(torch.searchsorted(torch.cumsum(p, 0), torch.tensor(fraction * total, dtype=torch.float64)))
    return float(torch.fft.rfftfreq(n, 1 / sr)[min(k, p.numel() - 1)])


def seam_click_ratio(y: torch.Tensor, seg_len: int) -> float:
    """Mean |second difference| across segment seams over its median elsewhere (about 1 = no click).

    y is one signal made by concatenating reconstructed segments of seg_len samples. The second difference
    y[i+1] - 2 y[i] + y[i-1] is small for smooth audio and jumps where a segment ends at one level and the next
    starts at another.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    y = y.reshape(-1).double()
    if y.numel() < 2 * seg_len:
        raise ValueError(f"need at least two segments of {seg_len} samples, got {y.numel()} samples")
    d2 = (y[2:] - 2 * y[1:-1] + y[:-2]).abs()  # d2[i] is centred on sample i + 1
    starts = torch.arange(seg_len, y.numel() - 1, seg_len)
    seams = torch.cat([starts - 2, starts - 1])  # the two second differences that straddle each seam
    mask = torch.ones_like(d2, dtype=torch.bool)
    mask[seams] = False
    return float(d2[seams].mean() / d2[mask].median().clamp_min(1e-12))


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Active latent units (Burda et al. 2016): dimensions whose posterior mean varies over the data.

    mu is (N, D), the posterior means of N examples. Returns (number of dimensions with Var_x[mu_d] > threshold,
    the D variances over dim 0, population variance, float64). A unit whose mean ignores the input is inactive.

    Notebook: 04_variational_autoencoders
    """
    if mu.dim() != 2:
        raise ValueError(f"mu must be (N examples, D latent dims), got shape {tuple(mu.shape)}")
    if mu.shape[0] < 2:
        raise ValueError(f"need at least 2 examples to measure a variance, got {mu.shape[0]}")
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    var = mu.detach().double().var(dim=0, correction=0)
    return int((var > threshold).sum()), var


def timbre_features(x: torch.Tensor, sr: int, n_mels: int = 64, n_fft: int = 1024, hop: int = 256) -> torch.Tensor:
    """Per-note features for a timbre classifier: mean and std over time of the log-mel spectrogram (B, 2 n_mels).

    Computed in float64, so that the probe's decisions do not depend on the number of CPU threads (float32
    sums in a different order once moved a note across a decision boundary: 0.4250 vs 0.4275 accuracy).

    Notebook: 04_variational_autoencoders
    """
    x = torch.as_tensor(x).to(torch.float64)
    if x.dim() != 2:
        raise ValueError(f"x must be (notes, samples), got shape {tuple(x.shape)}")
    M = audio.log_mel(x, sr, n_fft=n_fft, hop=hop, n_mels=n_mels)
    return torch.cat([M.mean(-1), M.std(-1)], dim=-1).cpu()


def fit_probe(features: torch.Tensor, labels: torch.Tensor, seed: int = 0, max_iter: int = 2000):
    """A linear probe: scikit-learn StandardScaler + multinomial LogisticRegression fitted on (features, labels).

    Returns the fitted pipeline; `.score(X, y)` is its accuracy and `.predict(X)` its labels.

    Notebook: 04_variational_autoencoders
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"features must be (n, d) with one label each, got {X.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("a probe needs at least two classes in its labels")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed)).fit(X, y)


def _as_numpy(x) -> np.ndarray:
    """A numpy view of a numpy array, a (possibly GPU) torch tensor or a nested list."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_tokens(tokens) -> np.ndarray:
    """Integer melody tokens as int64, ValueError for values outside 0..89."""
    t = _as_numpy(tokens)
    if t.size and not np.issubdtype(t.dtype, np.integer):
        if not np.all(t == np.round(t)):
            raise ValueError("melody tokens must be whole numbers")
    t = t.astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= midi.N_MELODY_TOKENS):
        bad = t[(t < 0) | (t >= midi.N_MELODY_TOKENS)][0]
        raise ValueError(f"melody token {int(bad)} is outside 0..{midi.N_MELODY_TOKENS - 1}")
    return t


def token_accuracy(pred, target) -> float:
    """Fraction of positions where pred == target (numpy arrays or torch tensors of the same shape).

    Raises ValueError naming both shapes when they differ, and for empty inputs.

    Notebook: 06_lstm_vae_melodies
    """
    p, t = _as_numpy(pred), _as_numpy(target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    if p.size == 0:
        raise ValueError("token_accuracy of empty arrays is undefined")
    return float(np.mean(p == t))


def tokens_to_rolls(tokens) -> np.ndarray:
    """Multi-hot piano rolls of melody tokens: (T,) -> bool (88, T); (N, T) -> bool (N, 88, T).

    Each step takes the state of the last non-HOLD token at or before it: a note-on sounds its pitch, a note-off
    (or no event yet) is silence. Equal to midi.piano_roll(midi.tokens_to_notes(t), n_steps=T) row by row.

    Notebook: 06_lstm_vae_melodies
    """
    t = _check_tokens(tokens)
    if t.ndim not in (1, 2):
        raise ValueError(f"tokens must be (T,) or (N, T), got shape {t.shape}")
    T = t.shape[-1]
    steps = np.broadcast_to(np.arange(T), t.shape)
    last_event = np.maximum.accumulate(np.where(t != midi.MELODY_HOLD, steps, -1), axis=-1)
    state = np.take_along_axis(t, np.maximum(last_event, 0), axis=-1)
    state = np.where(last_event >= 0, state, midi.MELODY_HOLD)  # nothing has happened yet: silence
    row = state - midi.MELODY_FIRST_PITCH  # negative for note-off / silence: matches no piano row
    return row[..., None, :] == np.arange(midi.N_PIANO)[:, None]


def trivial_baselines(train_tokens, test_tokens) -> dict[str, float]:
    """Accuracies of predictors that need no model, on test windows (N, T); train_tokens is (M, T').

    Token accuracy (all N x T positions) of: "all_hold" (HOLD everywhere: silence in token space), "most_frequent"
    (the most frequent training token everywhere), "repeat_previous" (the true token t-1, teacher-forced; step 0
    HOLD), "bigram" (the most frequent training successor of the true token t-1, within training rows; ties -> the
    smaller token; a previous token never seen in training -> the most frequent token; step 0 -> the most frequent
    first token of the training rows). Cell accuracy of 88 x T piano rolls for "roll_all_zero" (no note ever
    sounds) and "roll_repeat_previous" (each frame is the true previous frame; frame 0 all zero).

    Notebook: 06_lstm_vae_melodies
    """
    train, test = np.atleast_2d(_check_tokens(train_tokens)), np.atleast_2d(_check_tokens(test_tokens))
    if train.ndim != 2 or test.ndim != 2 or train.size == 0 or test.size == 0:
        raise ValueError(f"train and test tokens must be non-empty (N, T) arrays, got {train.shape} and {test.shape}")
    K = midi.N_MELODY_TOKENS
    most_frequent = int(np.bincount(train.ravel(), minlength=K).argmax())  # argmax: ties -> smaller token
    first = int(np.bincount(train[:, 0], minlength=K).argmax())
    pairs = np.zeros((K, K), dtype=np.int64)
    np.add.at(pairs, (train[:, :-1].ravel(), train[:, 1:].ravel()), 1)
    successor = np.where(pairs.sum(1) > 0, pairs.argmax(1), most_frequent)

    previous = np.concatenate([np.full((len(test), 1), midi.MELODY_HOLD), test[:, :-1]], axis=1)
    bigram = successor[previous]
    bigram[:, 0] = first

    rolls = tokens_to_rolls(test)  # (N, 88, T)
    roll_prev = np.zeros_like(rolls)
    roll_prev[..., 1:] = rolls[..., :-1]
    return {"all_hold": float(np.mean(test == midi.MELODY_HOLD)),
            "most_frequent": float(np.mean(test == most_frequent)),
            "repeat_previous": float(np.mean(test == previous)),
            "bigram": float(np.mean(test == bigram)),
            "roll_all_zero": float(1.0 - rolls.mean()),
            "roll_repeat_previous": float(np.mean(rolls == roll_prev))}


_MAJOR_STEPS = np.array([0, 2, 4, 5, 7, 9, 11])
# _MAJOR_SCALES[r, pc] is True when pitch class pc belongs to the major scale on tonic r
_MAJOR_SCALES = np.zeros((12, 12), dtype=bool)
_MAJOR_SCALES[np.arange(12)[:, None], (np.arange(12)[:, None] + _MAJOR_STEPS) % 12] = True


def music_metrics(tokens, steps_per_bar: int = 16, steps_per_beat: int = 4) -> dict[str, float]:
    """Hand-made statistics of one melody (T,) of tokens; notes come from midi.tokens_to_notes.

    n_notes; pitch_class_entropy: entropy in bits of the notes' pitch-class histogram (0 for one class);
    scale_consistency: the largest fraction of notes inside one of the 12 major scales (so 7/12 for all 12
    classes once); pitch_range: highest minus lowest pitch in semitones; note_density: notes per bar
    (T / steps_per_bar bars); repetition: of the 3-grams of successive pitch intervals (intervals between
    consecutive notes, across rests), the fraction equal to an earlier 3-gram of the same melody: 1 - distinct / all,
    so a melody with k 3-grams scores at most (k - 1) / k; NaN with fewer than two 3-grams (fewer than 5 notes);
    empty_beat_rate: fraction of beats (steps_per_beat steps; a partial last beat counts) in which no note sounds.
    The pitch metrics are NaN for a melody without notes.
    """
    t = _check_tokens(tokens)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"music_metrics takes one non-empty melody (T,), got shape {t.shape}")
    if steps_per_bar < 1 or steps_per_beat < 1:
        raise ValueError(f"steps_per_bar and steps_per_beat must be >= 1, got {steps_per_bar} and {steps_per_beat}")
    T = t.size
    pitches = midi.tokens_to_notes(t)[:, midi.PITCH].astype(np.int64)  # in time order
    n = pitches.size
    nan = float("nan")

    sounding = tokens_to_rolls(t).any(axis=0)
    n_beats = -(-T // steps_per_beat)
    padded = np.zeros(n_beats * steps_per_beat, dtype=bool)
    padded[:T] = sounding
    out = {"n_notes": float(n), "pitch_class_entropy": nan, "scale_consistency": nan, "pitch_range": nan,
           "note_density": n / (T / steps_per_bar), "repetition": nan,
           "empty_beat_rate": float(1.0 - padded.reshape(n_beats, steps_per_beat).any(axis=1).mean())}
    if n == 0:
        return out
    pc = pitches % 12
    p = np.bincount(pc, minlength=12) / n
    p = p[p > 0]
    out["pitch_class_entropy"] = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no "-0.0" for one class
    out["scale_consistency"] = float(_MAJOR_SCALES[:, pc].mean(axis=1).max())
    out["pitch_range"] = float(pitches.max() - pitches.min())
    intervals = np.diff(pitches)
    if intervals.size >= 4:
        grams = np.lib.stride_tricks.sliding_window_view(intervals, 3)
        out["repetition"] = 1.0 - len(np.unique(grams, axis=0)) / len(grams)
    return out


def music_metrics_table(tokens, steps_per_bar: int = 16, steps_per_beat: int = 4) -> dict[str, np.ndarray]:
    """Music_metrics of each of N melodies (N, T): {metric: float64 array (N,)}, NaN where undefined.

    Notebook: 06_lstm_vae_melodies
    """
    t = _check_tokens(tokens)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"tokens must be (N, T) with N >= 1, got shape {t.shape}")
    rows = [music_metrics(row, steps_per_bar, steps_per_beat) for row in t]
    return {k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0]}


def overlap_area(a, b, grid: int = 512) -> float:
    """Overlapping area of two 1-D samples' distributions (Yang & Lerch 2020), in [0, 1].

    The integral (trapezoid rule) of min(p, q), with p and q scipy.stats.gaussian_kde densities (Scott's rule)
    evaluated on `grid` shared points spanning both samples padded by 3 bandwidths. NaN (and inf) values are
    dropped; ValueError if either sample has fewer than 2 finite values. A sample with zero spread (all values
    equal) is a Gaussian bump on its value with the other sample's bandwidth, or, when both are constant,
    1e-3 * max(1, largest |value|): two equal constant samples give about 1 (0.997, the mass within 3
    bandwidths), different ones about 0.

    Notebook: 06_lstm_vae_melodies
    """
    from scipy import integrate, stats

    samples = []
    for name, x in (("a", a), ("b", b)):
        x = _as_numpy(x).astype(np.float64).ravel()
        x = x[np.isfinite(x)]
        if x.size < 2:
            raise ValueError(f"sample {name} needs at least 2 finite values, got {x.size}")
        samples.append(x)
    if grid < 2:
        raise ValueError(f"grid must have at least 2 points, got {grid}")
    kdes = [stats.gaussian_kde(x) if np.ptp(x) > 0 else None for x in samples]
    widths = [float(np.sqrt(k.covariance[0, 0])) if k is not None else None for k in kdes]
    known = [w for w in widths if w is not None]
    fallback = known[0] if len(known) == 1 else 1e-3 * max(1.0, float(max(np.abs(x).max() for x in samples)))
    widths = [fallback if w is None else w for w in widths]

    pad = 3 * max(widths)
    lo = min(x.min() for x in samples) - pad
    hi = max(x.max() for x in samples) + pad
    xs = np.linspace(lo, hi, grid)
    p, q = (k(xs) if k is not None else stats.norm.pdf(xs, loc=x[0], scale=w)
            for k, x, w in zip(kdes, samples, widths))
    return float(np.clip(integrate.trapezoid(np.minimum(p, q), xs), 0.0, 1.0))


# ----------------------------------------------------------------------------------------------
# CC automation (Chapter 07, paper 000).

def cc_modulation_error(pm_ref, pm_est, controllers=None, n_steps: int | None = None) -> dict:
    """CC Modulation Error (CC-ME), paper 000's metric made concrete: the mean absolute difference of each
    controller's sample-and-hold curve on the 1/32-note grid, in CC units (0..127), averaged over the controllers
    that the reference moves (a controller left at its default in both is not counted).

    Counted are the controllers that EITHER performance moves (its curve leaves CC_DEFAULTS somewhere on the
    grid), so inventing automation the reference lacks is penalised too. Both curves come from events.cc_curves on
    the same n_steps (default: the reference's length). Returns {"cc_me": mean over the counted controllers (NaN
    when none is counted), "per_controller": {cc number: MAE} for the counted controllers only}.

    Notebook: 07_transformer_vae_automation
    """
    controllers = events.CONTROLLERS if controllers is None else tuple(int(c) for c in controllers)
    ref = events.cc_curves(pm_ref, controllers, n_steps)
    est = events.cc_curves(pm_est, controllers, ref.shape[1])
    default = np.array([events.CC_DEFAULTS.get(c, 0) for c in controllers], dtype=np.float64)[:, None]
    moved = (ref != default).any(axis=1) | (est != default).any(axis=1)
    per = {c: float(np.abs(ref[i] - est[i]).mean()) for i, c in enumerate(controllers) if moved[i]}
    return {"cc_me": float(np.mean(list(per.values()))) if per else float("nan"), "per_controller": per}


def frechet_distance(a, b, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to features a (n, d) and b (m, d) (the FID/FAD formula).

    |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)); eps is added to the diagonals when the product is singular.

    Notebook: 08_diffusion_basics
    """
    from scipy import linalg

    A, B = _as_numpy(a).astype(np.float64), _as_numpy(b).astype(np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f"a and b must be (n, d) with the same d, got {A.shape} and {B.shape}")
    if len(A) < 2 or len(B) < 2:
        raise ValueError("need at least 2 rows in a and in b to estimate a covariance")
    mu_a, mu_b = A.mean(0), B.mean(0)
    ca, cb = np.atleast_2d(np.cov(A, rowvar=False)), np.atleast_2d(np.cov(B, rowvar=False))
    covmean = linalg.sqrtm(ca @ cb)
    if not np.isfinite(covmean).all():
        off = np.eye(len(ca)) * eps
        covmean = linalg.sqrtm((ca + off) @ (cb + off))
    covmean = np.real(covmean)
    return float(max(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean), 0.0))


def sliced_wasserstein(a, b, n_projections: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance: the mean over random unit directions of the 1-D W1 of the projections.

    Notebook: 08_diffusion_basics
    """
    from scipy.stats import wasserstein_distance

    A, B = _as_numpy(a).astype(np.float64), _as_numpy(b).astype(np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1] or not len(A) or not len(B):
        raise ValueError(f"a and b must be non-empty (n, d) with the same d, got {A.shape} and {B.shape}")
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    dirs = np.random.default_rng(seed).standard_normal((n_projections, A.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pa, pb = A @ dirs.T, B @ dirs.T
    return float(np.mean([wasserstein_distance(pa[:, k], pb[:, k]) for k in range(n_projections)]))


def constant_prediction_mse(train: torch.Tensor, test: torch.Tensor) -> dict[str, float]:
    """Reconstruction MSE on `test` (N, ...) of two predictors that ignore their input, the trivial baselines of an
    autoencoder: "mean_example" predicts the per-element mean of `train` (M, ...) for every example (e.g. the mean
    spectrogram); "zero_output" predicts 0 everywhere (in standardised units: the training set's overall mean).

    Notebook: 04_variational_autoencoders
    """
    if train.dim() < 1 or test.dim() < 1 or train.shape[1:] != test.shape[1:] or not len(train) or not len(test):
        raise ValueError(f"train and test must be non-empty (N, ...) with the same example shape, "
                         f"got {tuple(train.shape)} and {tuple(test.shape)}")
    mean = train.detach().double().mean(0, keepdim=True)
    t = test.detach().double()
    return {"mean_example": float((t - mean.to(t.device)).pow(2).mean()), "zero_output": float(t.pow(2).mean())}


def swap_levels(follow_b, expected: Sequence[int], floor: float = 0.5, lead: float = 0.3) -> list[dict]:
    """Which level moves each factor in a swap matrix, against the expected level of each factor.

    follow_b[k][j]: share of decodes whose factor j follows clip B when level k (0 = coarsest) is taken from B.
    expected[j]: the level (0-based) expected to carry factor j. A factor *follows* level k when at least `floor`
    of the outputs follow B with k swapped, at least `lead` more than with any other level swapped, and swapping k
    carries no other factor across (each below `floor`): a level that carries the whole clip moves no factor alone.
    Returns one dict a factor: {"expected", "level" (or None), "match", "lead"} where lead is the expected level's
    share minus the best other level's share (the selectivity the chapter's score averages).

    Notebook: 09_hierarchical_diffusion
    """
    f = np.asarray(follow_b, dtype=float)
    if f.ndim != 2 or len(expected) != f.shape[1] or not all(0 <= int(k) < f.shape[0] for k in expected):
        raise ValueError(f"follow_b must be (levels, factors) with one expected level in 0..{f.shape[0] - 1} per "
                         f"factor, got shape {f.shape} and expected {list(expected)}")
    out = []
    for j, k_exp in enumerate(int(k) for k in expected):
        k = int(f[:, j].argmax())
        others = [f[i, j] for i in range(f.shape[0]) if i != k]
        clear = f[k, j] >= floor and all(f[k, j] >= o + lead for o in others)
        alone = all(f[k, g] < floor for g in range(f.shape[1]) if g != j)
        level = k if clear and alone else None
        rest = max(f[i, j] for i in range(f.shape[0]) if i != k_exp)
        out.append({"expected": k_exp, "level": level, "match": level == k_exp, "lead": float(f[k_exp, j] - rest)})
    return out
