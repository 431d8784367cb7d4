"""Automatic checks for the chapters' exercises: helpful feedback, never a crash (Chapters 00 to 09).

Each check takes the learner's answer, prints what is right or wrong with a hint, and returns True/False.
An answer that still raises NotImplementedError is reported as "not attempted yet".
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

_NOT_YET = object()


def _call(fn: Callable, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except NotImplementedError:
        print("⏳ Not attempted yet: replace the `raise NotImplementedError` line with your code, then run this cell again.")
        return _NOT_YET
    except Exception as e:  # show the learner's error without a traceback wall
        print(f"❌ Your code raised {type(e).__name__}: {e}")
        return _NOT_YET


def _verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✅ " + good) if ok else ("❌ " + bad))
    return ok


def check_ch00_family_counts(answer: Callable[[], dict[str, int]] | dict[str, int], notes) -> bool:
    """Chapter 00. Compare a {family name: number of notes} dict with the notes actually in `notes`."""
    got = _call(answer) if callable(answer) else answer
    if got is _NOT_YET:
        return False
    if not isinstance(got, dict):
        return _verdict(False, "", f"expected a dict like {{'bass': 12, ...}}, got {type(got).__name__}")
    truth: dict[str, int] = {}
    for f in notes.family.tolist():
        name = notes.family_names[f]
        truth[name] = truth.get(name, 0) + 1
    wrong = {k: (got.get(k), v) for k, v in truth.items() if got.get(k) != v}
    extra = sorted(set(got) - set(truth))
    if extra:
        return _verdict(False, "", f"these families are not in the split: {extra}. Use notes.family_names[i] for the names.")
    return _verdict(not wrong, f"right: {len(truth)} families, {sum(truth.values())} notes.",
                    f"{len(wrong)} families are off, e.g. {dict(list(wrong.items())[:3])} as (yours, true). "
                    "Hint: loop over notes.family and count with a dict or collections.Counter.")


def check_ch01_mu_law(mu_law: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Chapter 01. Check a mu-law compander F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)."""
    from .audio import mu_law_encode

    x = torch.linspace(-1, 1, 201)
    for mu in (255, 15):
        y = _call(mu_law, x.clone(), mu)
        if y is _NOT_YET:
            return False
        y = torch.as_tensor(y, dtype=torch.float32)
        if y.shape != x.shape:
            return _verdict(False, "", f"the output shape {tuple(y.shape)} should equal the input shape {tuple(x.shape)}")
        ref = mu_law_encode(x, mu)
        if not torch.allclose(y, ref, atol=1e-4):
            i = int((y - ref).abs().argmax())
            hint = ("negative inputs must give negative outputs: multiply by sign(x)" if (y[:100] >= 0).all()
                    else "divide by ln(1 + mu) so that F(1) = 1" if abs(float(y[-1]) - 1) > 1e-3
                    else "use ln(1 + mu * |x|) (torch.log1p helps)")
            return _verdict(False, "", f"for mu={mu}, x={float(x[i]):.2f} you give {float(y[i]):.4f}, expected "
                                       f"{float(ref[i]):.4f}. Hint: {hint}.")
    return _verdict(True, "your compander matches F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu) for mu = 255 and 15.", "")


def check_ch01_alias(alias: Callable[[float, float], float]) -> bool:
    """Chapter 01. Check the frequency at which a tone of f Hz appears after sampling at sr Hz."""
    from .audio import aliased_frequency

    cases = [(1000, 4410), (3000, 4410), (2205, 4410), (4410, 4410), (6000, 4410), (440, 44100), (30000, 44100)]
    for f, sr in cases:
        got = _call(alias, f, sr)
        if got is _NOT_YET:
            return False
        ref = aliased_frequency(f, sr)
        try:
            got = float(got)
        except (TypeError, ValueError):
            return _verdict(False, "", f"alias({f}, {sr}) should return a number (Hz), got {type(got).__name__}")
        if math.isnan(got) or abs(got - ref) > 1e-6:
            hint = ("frequencies below sr/2 are unchanged" if f < sr / 2 else
                    "fold: take f modulo sr, then reflect values above sr/2 as sr - f")
            return _verdict(False, "", f"alias({f}, {sr}) gave {got}, expected {ref}. Hint: {hint}.")
    return _verdict(True, f"all {len(cases)} cases right: e.g. 3 kHz sampled at 4410 Hz sounds at "
                          f"{aliased_frequency(3000, 4410):.0f} Hz.", "")


def check_ch01_n_frames(n_frames: Callable[[int, int, int, bool], int]) -> bool:
    """Chapter 01. Check a closed form for the number of STFT frames against torch.stft."""
    cases = [(64000, 1500, 250, False), (64000, 1500, 250, True), (16000, 1024, 256, True), (16000, 1024, 256, False),
             (13230, 512, 128, True), (1000, 1000, 7, False)]
    for n, n_fft, hop, center in cases:
        got = _call(n_frames, n, n_fft, hop, center)
        if got is _NOT_YET:
            return False
        ref = torch.stft(torch.zeros(n), n_fft, hop, window=torch.ones(n_fft), center=center,
                         return_complex=True).shape[-1]
        if got != ref:
            hint = ("with center=True the signal is padded by n_fft//2 on both sides first" if center
                    else "count how many hops fit after the first window: 1 + (n - n_fft) // hop")
            return _verdict(False, "", f"n={n}, n_fft={n_fft}, hop={hop}, center={center}: you say {got}, torch "
                                       f"makes {ref} frames. Hint: {hint}.")
    return _verdict(True, "your formula matches torch.stft for all settings, with and without centring.", "")


def check_ch01_interleave(interleave: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 01. Check paper 001's feature: RFFT, real/imag interleaved, Nyquist pair dropped."""
    from .audio import rfft_interleave

    x = torch.randn(2, 13230, generator=torch.Generator().manual_seed(1))
    got = _call(interleave, x.clone())
    if got is _NOT_YET:
        return False
    got = torch.as_tensor(got)
    ref = rfft_interleave(x, drop_nyquist=True)
    if got.shape != ref.shape:
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}: rfft of 13230 samples has "
                                   "6616 bins = 13232 numbers; drop the last complex bin (the Nyquist pair).")
    if torch.allclose(got, ref, atol=1e-3):
        return _verdict(True, "matches: [re0, im0, re1, im1, ...] with the Nyquist pair dropped, 13230 values.", "")
    swapped = torch.allclose(got[..., 0::2], ref[..., 1::2], atol=1e-3)
    blocks = torch.allclose(got[..., :6615], ref[..., 0::2][..., :6615], atol=1e-3)
    hint = ("real and imaginary parts are swapped" if swapped else
            "you concatenated [re..., im...]; interleave them with torch.stack([re, im], -1).flatten(-2)" if blocks
            else "use torch.fft.rfft on the last dimension, then stack real and imaginary parts")
    return _verdict(False, "", f"values differ. Hint: {hint}.")


def check_ch02_mrstft_loss(loss_fn: Callable[..., torch.Tensor]) -> bool:
    """Chapter 02. Check loss_fn(z, z_hat, n, weight) = MSE(z, z_hat) + weight * MR-STFT(waveforms)."""
    from .audio import multi_resolution_stft_distance, rfft_deinterleave, rfft_interleave

    g = torch.Generator().manual_seed(2)
    n = 4410
    x = torch.randn(3, n, generator=g) * 0.1
    z = rfft_interleave(x, drop_nyquist=True)
    z_hat = (z + 0.5 * torch.randn(z.shape, generator=g)).requires_grad_(True)
    for weight in (0.0, 10.0):
        got = _call(loss_fn, z, z_hat, n, weight)
        if got is _NOT_YET:
            return False
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            return _verdict(False, "", "return a single-number tensor (a loss), e.g. mse + weight * mrstft")
        ref = torch.mean((z - z_hat) ** 2) + weight * multi_resolution_stft_distance(
            rfft_deinterleave(z, n, nyquist_dropped=True), rfft_deinterleave(z_hat, n, nyquist_dropped=True))
        if not torch.allclose(got.detach().float(), ref.detach().float(), rtol=1e-3):
            hint = ("with weight 0 the loss must be the plain MSE over the features" if weight == 0 else
                    "turn both feature vectors back into waveforms with audio.rfft_deinterleave(z, n, "
                    "nyquist_dropped=True) and add weight * audio.multi_resolution_stft_distance(x, x_hat)")
            return _verdict(False, "", f"weight={weight}: you give {float(got.detach()):.4f}, expected {float(ref.detach()):.4f}. Hint: {hint}.")
    if not got.requires_grad:
        return _verdict(False, "", "the value is right but the loss has no gradient: keep every step in torch "
                                   "(no .detach(), .item() or numpy) so training can use it")
    got.backward()
    if z_hat.grad is None or not torch.isfinite(z_hat.grad).all():
        return _verdict(False, "", "the loss has no finite gradient with respect to z_hat: keep everything in torch")
    return _verdict(True, "your loss adds the multi-resolution STFT distance of the waveforms and has a gradient.", "")


def check_ch02_matched_conv(make_model: Callable[[], torch.nn.Module], fc_model: torch.nn.Module, n_in: int) -> bool:
    """Chapter 02. Check make_model() builds a conv autoencoder with the FC model's parameter count (within 1 %)."""
    model = _call(make_model)
    if model is _NOT_YET:
        return False
    p, q = (sum(t.numel() for t in m.parameters()) for m in (model, fc_model))
    if abs(p - q) > 0.01 * q:
        return _verdict(False, "", f"{p:,} parameters vs the FC model's {q:,} ({100 * (p - q) / q:+.1f} %). Hint: the two "
                                   "Linear layers dominate; solve 2 * flat * latent + flat + latent = target for the latent.")
    x = torch.randn(2, 1, n_in)
    with torch.no_grad():
        y = _call(model, x)
    if y is _NOT_YET:
        return False
    if tuple(y.shape) != tuple(x.shape):
        return _verdict(False, "", f"output shape {tuple(y.shape)} should equal the input shape {tuple(x.shape)}")
    return _verdict(True, f"{p:,} parameters vs {q:,} for the FC model ({100 * (p - q) / q:+.2f} %), output shape right.", "")


def check_ch02_overlap_add(ola: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Chapter 02. Check overlap-add of 50 %-overlapping segments with a periodic Hann window."""
    from .evaluate import seam_click_ratio

    L, hop = 400, 200
    t = torch.arange(12 * hop + L) / 4410.0
    x = torch.sin(2 * torch.pi * 110 * t) + 0.3 * torch.sin(2 * torch.pi * 345 * t)
    segs = x.unfold(0, L, hop).clone()
    y = _call(ola, segs, hop)
    if y is _NOT_YET:
        return False
    y = torch.as_tensor(y).reshape(-1)
    want = (segs.shape[0] - 1) * hop + L
    if y.numel() != want:
        return _verdict(False, "", f"length {y.numel()}, expected (n_segments - 1) * hop + L = {want}")
    err = float((y[L:-L] - x[L:want - L]).abs().max())
    if err > 1e-4:
        return _verdict(False, "", f"interior error {err:.3g}: multiply each segment by torch.hann_window(L) (periodic) "
                                   "before adding it at i * hop; at 50 % overlap the windows sum to 1.")
    g = torch.Generator().manual_seed(0)
    noisy = segs + 0.2 * torch.randn(segs.shape[0], 1, generator=g)  # each segment off by its own level
    hard = torch.cat([s[:hop] for s in noisy])  # plain concatenation of half segments: a step at every seam
    smooth = torch.as_tensor(_call(ola, noisy, hop)).reshape(-1)
    r_hard, r_smooth = seam_click_ratio(hard, hop), seam_click_ratio(smooth[: hard.numel()], hop)
    return _verdict(r_smooth < r_hard / 2, f"exact in the interior; seam clicks {r_hard:.1f} -> {r_smooth:.1f} "
                                           "(ratio of the jump at seams to elsewhere).",
                    f"seam clicks not reduced enough ({r_hard:.1f} -> {r_smooth:.1f}): a flat window still steps at "
                    "segment edges; taper each segment with torch.hann_window(L) so edges fade in and out.")


def _float_tensor(x: Any) -> torch.Tensor | None:
    """A learner's answer as a detached float32 tensor, or None when it is not numbers."""
    try:
        return torch.as_tensor(x.detach() if isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        return None


def check_ch03_rows_to_pad(rows_to_pad: Callable[[int], int]) -> bool:
    """Chapter 03. Check the rows a 3-layer stride-2 conv encoder/decoder (k3, p1, no output_padding) must pad."""
    from .models.spectral import spectral_shapes

    sizes = (251, 800, 1500, 2048, 4000, 129, 9, 1)
    got = {}
    for n in sizes:
        g = _call(rows_to_pad, n)
        if g is _NOT_YET:
            return False
        got[n] = g
    want = {n: spectral_shapes(n)["pad"] for n in sizes}
    wrong = {n: (got[n], want[n]) for n in sizes if got[n] != want[n]}
    if not wrong:
        return _verdict(True, f"right: e.g. 1500 -> pad {want[1500]}, 251 -> pad {want[251]}, 2048 -> pad {want[2048]}.", "")
    if all(got[n] == -want[n] for n in wrong):
        hint = "the sign is flipped: return n minus the decoder's output size (positive = pad)."
    elif all(got[n] == 0 for n in wrong):
        hint = ("a ConvTranspose2d(3, 2, 1) without output_padding maps m rows to 2m - 1, not 2m: "
                "the way back falls short.")
    else:
        hint = "encoder: m -> floor((m + 2*1 - 3) / 2) + 1 three times; decoder: m -> (m - 1) * 2 - 2*1 + 3 three times."
    return _verdict(False, "", f"{len(wrong)} sizes are off, e.g. {dict(list(wrong.items())[:3])} as (yours, right). {hint}")


def check_ch03_thesis_accuracy(accuracy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 03. Check paper 002's eq. 4.1: max(0, 1 - ||x - x_hat||^2 / (||x||^2 + eps)) per example."""
    from .evaluate import thesis_accuracy

    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 6, 7, generator=g)
    x_hat = x + torch.randn(5, 1, 1, 1, generator=g).abs() * 0.8 * torch.randn(5, 2, 6, 7, generator=g)
    x_hat[0] = -x[0]  # a terrible reconstruction: the raw formula goes negative
    got = _call(accuracy, x.clone(), x_hat.clone())
    if got is _NOT_YET:
        return False
    got = _float_tensor(got)
    want = thesis_accuracy(x, x_hat)
    if got is None or got.numel() != 5:
        n = None if got is None else got.numel()
        return _verdict(False, "", f"expected one accuracy per example (5 values), got {n}: sum over every dim but "
                                   "the batch (x.flatten(1)), then one value per row.")
    got = got.reshape(-1)
    if torch.allclose(got, want, atol=1e-5):
        return _verdict(True, f"right: {[round(float(v), 3) for v in want]} (the first, a sign-flipped "
                              "reconstruction, is clipped to 0).", "")
    raw = 1 - (x - x_hat).flatten(1).pow(2).sum(1) / x.flatten(1).pow(2).sum(1)
    if torch.allclose(got, raw, atol=1e-5):
        return _verdict(False, "", "negative values: clip with .clamp_min(0) (the thesis's max(0, ...)).")
    norms = 1 - (x - x_hat).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    if torch.allclose(got, norms.clamp_min(0), atol=1e-5):
        return _verdict(False, "", "use squared norms (sum of squares), not norms.")
    return _verdict(False, "", f"values {got.tolist()} vs expected {want.tolist()}: per example, "
                               "1 - sum((x - x_hat)^2) / (sum(x^2) + eps), clipped at 0.")


def check_ch03_instantaneous_frequency(inst_freq: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 03. Check instantaneous frequency: wrapped phase difference over frames / pi; frame 0 = phase / pi."""
    from .audio import instantaneous_frequency, phase_from_if

    g = torch.Generator().manual_seed(4)
    phase = (torch.rand(3, 10, 12, generator=g) * 2 - 1) * math.pi
    got = _call(inst_freq, phase.clone())
    if got is _NOT_YET:
        return False
    got = _float_tensor(got)
    want = instantaneous_frequency(phase)
    if got is None or got.shape != want.shape:
        shape = None if got is None else tuple(got.shape)
        return _verdict(False, "", f"shape {shape}, expected {tuple(want.shape)} (same as the phase): prepend frame 0 "
                                   "(torch.diff(..., prepend=...)) so no frame is lost.")
    if torch.allclose(got, want, atol=1e-5):
        back = torch.remainder(phase_from_if(got) - phase + math.pi, 2 * math.pi) - math.pi
        return _verdict(bool(back.abs().max() < 1e-4), "right, and its cumulative sum gives the phase back modulo 2 pi.",
                        "values match but the round trip fails: check the dtype.")
    if got.abs().max() > 1.0 + 1e-5:
        hint = ("values beyond [-1, 1]: wrap the difference to (-pi, pi] (torch.remainder(d + pi, 2 pi) - pi) "
                "and divide by pi.")
    elif torch.allclose(got[..., 1:], want[..., 1:], atol=1e-5):
        hint = "frames 1 onwards are right; frame 0 should keep phase[..., 0] / pi (the difference from zero)."
    else:
        hint = "take differences along the LAST dim (frames), then wrap and divide by pi."
    return _verdict(False, "", hint)


def check_ch04_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 04. Check z = fn(mu, logvar) = mu + eps * exp(0.5 logvar): shape, randomness, moments, gradients."""
    with torch.random.fork_rng(devices=[]):  # a reproducible check that leaves the learner's RNG alone
        torch.manual_seed(4)
        return _check_reparameterize(fn)


def _check_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    n = 20000
    mu0, var0 = torch.tensor([1.5, -2.0]), torch.tensor([0.25, 4.0])
    mu, logvar = mu0.repeat(n, 1), var0.log().repeat(n, 1)
    z = _call(fn, mu.clone(), logvar.clone())
    if z is _NOT_YET:
        return False
    z = _float_tensor(z)
    if z is None:
        return _verdict(False, "", "return z as a tensor: mu + eps * torch.exp(0.5 * logvar)")
    if z.shape != mu.shape:
        return _verdict(False, "", f"z has shape {tuple(z.shape)}, expected mu's shape {tuple(mu.shape)}: draw "
                                   "one noise value per element with torch.randn_like(mu)")
    z2 = _call(fn, mu.clone(), logvar.clone())
    if z2 is _NOT_YET:
        return False
    z2 = _float_tensor(z2)
    if z2 is not None and z2.shape == z.shape and torch.equal(z2, z):
        return _verdict(False, "", "two calls gave the same z: draw fresh noise eps = torch.randn_like(mu) on "
                                   "every call (no fixed seed, no constant) so z is a sample of q(z|x)")
    std, mean, want_std = z.std(0), z.mean(0), var0.sqrt()
    if not torch.allclose(std, want_std, rtol=0.05):
        hint = ("you scaled the noise by exp(logvar), the variance; the standard deviation is exp(0.5 * logvar)"
                if torch.allclose(std, var0, rtol=0.05) else
                "the noise is not scaled: multiply eps by the standard deviation exp(0.5 * logvar)"
                if torch.allclose(std, torch.ones(2), rtol=0.05) else
                "z = mu + eps * exp(0.5 * logvar) with eps = torch.randn_like(mu)")
        return _verdict(False, "", f"the std of z per dimension is {[round(v, 3) for v in std.tolist()]}, expected "
                                   f"{want_std.tolist()} for logvar = log{var0.tolist()}. Hint: {hint}.")
    if ((mean - mu0).abs() > 5 * want_std / n ** 0.5).any():
        return _verdict(False, "", f"the mean of z is {[round(v, 3) for v in mean.tolist()]}, expected "
                                   f"{mu0.tolist()}. Hint: add mu: z = mu + eps * exp(0.5 * logvar).")
    grad_hint = ("Hint: build z from mu and logvar with torch operations only: eps = torch.randn_like(mu), "
                 "z = mu + eps * torch.exp(0.5 * logvar); no numpy, no .detach(), no .item()")
    mu_g, logvar_g = mu0.repeat(4, 1).requires_grad_(True), var0.log().repeat(4, 1).requires_grad_(True)
    z = _call(fn, mu_g, logvar_g)
    if z is _NOT_YET:
        return _verdict(False, "", "your function fails on tensors that require gradients. " + grad_hint)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return _verdict(False, "", "z has no gradient, so the encoder could not learn. " + grad_hint)
    z.sum().backward()
    if mu_g.grad is None or logvar_g.grad is None:
        which = " and ".join(k for k, t in (("mu", mu_g), ("logvar", logvar_g)) if t.grad is None)
        return _verdict(False, "", f"no gradient reaches {which}. " + grad_hint)
    z = z.detach()
    if not (torch.allclose(mu_g.grad, torch.ones_like(mu_g)) and
            torch.allclose(logvar_g.grad, 0.5 * (z - mu_g.detach()), atol=1e-5)):
        return _verdict(False, "", "gradients arrive but are not those of mu + eps * exp(0.5 * logvar) "
                                   "(dz/dmu = 1, dz/dlogvar = 0.5 * eps * sigma). " + grad_hint)
    return _verdict(True, f"z has mean {mu0.tolist()} and std {want_std.tolist()}, changes on every call, and "
                          "gradients reach both mu and logvar.", "")


def check_ch04_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 04. Check fn(mu, logvar) = KL(N(mu, exp(logvar)) || N(0, I)) per example, shape (batch,)."""
    from .losses import gaussian_kl

    g = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(6, 5, generator=g), 1.2 * torch.randn(6, 5, generator=g)
    got = _call(fn, mu.clone(), logvar.clone())
    if got is _NOT_YET:
        return False
    got = _float_tensor(got)
    if got is None:
        return _verdict(False, "", "return the KL values as a tensor of shape (batch,)")
    ref = gaussian_kl(mu, logvar)
    if got.shape != ref.shape:
        hint = ("you summed over the batch too: sum over the latent dimension only (dim=1)" if got.numel() == 1 else
                "sum the per-dimension terms over the latent dimension (dim=1)" if got.shape == mu.shape else
                "return one KL value per example")
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(ref.shape)} (one value per example). "
                                   f"Hint: {hint}.")
    if torch.allclose(got, ref, rtol=1e-4, atol=1e-5):
        return _verdict(True, "matches -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) for every example.", "")
    log_std_kl = gaussian_kl(mu, 2 * logvar)  # logvar taken for log sigma
    hint = ("NaN values: logvar can be negative; do not take its log or square root, the variance is exp(logvar)"
            if not torch.isfinite(got).all() else
            "the factor 0.5 is missing (your values are twice the KL)" if torch.allclose(got, 2 * ref, rtol=1e-4) else
            "a sign is off: KL is never negative; KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))"
            if (got < 0).any() else
            "sum over the latent dimensions instead of averaging" if torch.allclose(got, ref / mu.shape[1], rtol=1e-4)
            else "logvar is log(sigma^2), not log(sigma): the variance is exp(logvar), not exp(2 * logvar)"
            if torch.allclose(got, log_std_kl, rtol=1e-4) else
            "logvar is the log-variance, not the std or the variance: use exp(logvar) for sigma^2 and logvar itself "
            "for log(sigma^2)")
    i = int((got - ref).abs().argmax())
    return _verdict(False, "", f"example {i}: you give {float(got[i]):.4f}, expected {float(ref[i]):.4f}. Hint: {hint}.")


def check_ch04_active_units(fn: Callable[[torch.Tensor, float], int]) -> bool:
    """Chapter 04. Check fn(mu, threshold) counts latent dims whose mean varies over the data by more than threshold.

    A (count, variances) pair, as evaluate.active_units returns, is accepted too.
    """
    g = torch.Generator().manual_seed(4)
    n = 500
    noise = torch.randn(n, 8, generator=g)
    scale = torch.tensor([1.0, 0.02 ** 0.5, 1e-4, 1.0, 1e-4, 0.02 ** 0.5, 1.0, 1e-4])
    offset = torch.tensor([0.0, 0.5, 3.0, -1.0, -2.0, 0.0, 0.5, 1.0])  # constant units sit away from 0
    mu = offset + scale * noise
    for threshold, want in ((0.01, 5), (0.05, 3)):
        got = _call(fn, mu.clone(), threshold)
        if got is _NOT_YET:
            return False
        if isinstance(got, (tuple, list)) and got:
            got = got[0]
        try:
            got = int(got)
        except (TypeError, ValueError, RuntimeError):
            return _verdict(False, "", f"return the number of active units as an int, got {type(got).__name__}")
        if got != want:
            hint = ("take the variance over the data dimension (dim=0), one value per latent unit, not over the "
                    "latent dims of each example" if got == int((mu.var(1) > threshold).sum()) or got > mu.shape[1]
                    else "compare the variance (not the standard deviation) with the threshold"
                    if got == int((mu.std(0) > threshold).sum()) else
                    "count the units whose variance over the examples, mu.var(dim=0), exceeds the threshold")
            return _verdict(False, "", f"threshold {threshold}: you count {got} active units, expected {want} "
                                       f"(3 units vary a lot, 2 a little, 3 are constant). Hint: {hint}.")
    return _verdict(True, "5 units are active at threshold 0.01 and 3 at 0.05: the variance over the data decides.", "")


def _number(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError, RuntimeError):
        return None


def check_ch05_logistic(fn: Callable[[float, float, float], float]) -> bool:
    """Chapter 05. Check fn(e, W, b) is paper 002's logistic schedule b + (1 - b) / (1 + exp(W/2 - e))."""
    from .annealing import logistic

    logged = [0.11619, 0.14268, 0.20728, 0.34205, 0.55, 0.75795, 0.89272, 0.95732, 0.98381]
    for e, want in enumerate(logged):
        got = _call(fn, e, 8, 0.1)
        if got is _NOT_YET:
            return False
        got = _number(got)
        if got is None:
            return _verdict(False, "", "return beta as a number")
        if round(got, 5) != want:
            hint = ("the curve is centred on e = W / 2: the exponent is W/2 - e" if abs(got - logistic(e, 8, 0.0)) < 1e-9
                    and e else "the baseline lifts the curve: b + (1 - b) * sigmoid, not sigmoid alone"
                    if abs(got - 1 / (1 + math.exp(4 - e))) < 1e-9 else
                    "check the sign of the exponent: beta must rise with e" if got < 0.5 and e > 4 else
                    "beta = b + (1 - b) / (1 + exp(W / 2 - e))")
            return _verdict(False, "", f"W=8, b=0.1, epoch {e}: you give {got:.5f}, paper 002 logged {want}. Hint: {hint}.")
    for e, W, b in ((3, 4, 0.0), (10, 12, 0.3), (0, 2, 0.5)):
        got = _call(fn, e, W, b)
        if got is _NOT_YET:
            return False
        got = _number(got)
        if got is None or abs(got - logistic(e, W, b)) > 1e-9:
            return _verdict(False, "", f"e={e}, W={W}, b={b}: you give {got}, expected {logistic(e, W, b):.6f}: "
                                       "use the arguments W and b, not the constants 8 and 0.1.")
    return _verdict(True, "the nine values paper 002 logged for W = 8, b = 0.1, and other settings too.", "")


def check_ch05_cyclical(fn: Callable[[int, int, int, float], float]) -> bool:
    """Chapter 05. Check fn(step, total_steps, n_cycles, ratio) is Fu et al.'s cyclical schedule (peak 1)."""
    from .annealing import cyclical

    for total, cycles, ratio in ((400, 4, 0.5), (90, 3, 0.25), (50, 1, 1.0)):
        for step in sorted({0, 1, total // (2 * cycles), total // cycles - 1, total // cycles, total - 1,
                            int(total * 0.37)}):
            got = _call(fn, step, total, cycles, ratio)
            if got is _NOT_YET:
                return False
            got = _number(got)
            want = cyclical(step, total, cycles, ratio)
            if got is None or abs(got - want) > 1e-6:
                hint = ("beta must restart from 0 at the start of every cycle: use step % (total_steps / n_cycles)"
                        if got is not None and step >= total // cycles and abs(got - min(step * cycles / total / ratio, 1)) < 1e-6
                        else "cap beta at 1 once the ramp is over" if got is not None and got > 1 else
                        "within a cycle, tau = (step % period) / period and beta = min(tau / ratio, 1)")
                return _verdict(False, "", f"total {total}, {cycles} cycles, ratio {ratio}, step {step}: you give "
                                           f"{got}, expected {want:.4f}. Hint: {hint}.")
    return _verdict(True, "ramps from 0 to 1 over the first `ratio` of every cycle and holds at 1.", "")


def check_ch05_free_bits(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Chapter 05. Check fn(mu, logvar, lam) = sum_d max(lam, KL_d) with KL_d the batch-mean KL of dimension d."""
    from .losses import free_bits_kl, gaussian_kl

    g = torch.Generator().manual_seed(5)
    mu = torch.randn(16, 6, generator=g) * torch.tensor([2.0, 1.0, 0.3, 0.05, 0.0, 1.5])
    logvar = 0.3 * torch.randn(16, 6, generator=g)
    for lam in (0.0, 0.1, 0.5, 2.0):
        got = _call(fn, mu.clone(), logvar.clone(), lam)
        if got is _NOT_YET:
            return False
        got = _float_tensor(got)
        if got is None or got.numel() != 1:
            return _verdict(False, "", "return one number (a scalar tensor): the KL term for the whole batch")
        want = float(free_bits_kl(mu, logvar, lam, "dim"))
        if abs(float(got) - want) > 1e-4 * max(1.0, abs(want)):
            hinge = float(free_bits_kl(mu, logvar, lam, "total"))
            hint = ("that is the hinge on the total KL (MusicVAE); here floor each dimension separately"
                    if abs(float(got) - hinge) < 1e-4 * max(1.0, abs(hinge)) else
                    "average each dimension's KL over the batch BEFORE flooring it" if lam > 0 and abs(
                        float(got) - float((-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).clamp_min(lam).sum(1).mean()))
                    < 1e-4 * max(1.0, want) else
                    "with lam = 0 this must equal the batch-mean KL" if lam == 0 else
                    "kl_d = mean over the batch of -0.5 (1 + logvar - mu^2 - exp(logvar)); then sum max(kl_d, lam)")
            return _verdict(False, "", f"lam = {lam}: you give {float(got):.4f}, expected {want:.4f} "
                                       f"(plain KL {float(gaussian_kl(mu, logvar).mean()):.4f}). Hint: {hint}.")
    return _verdict(True, "each dimension's batch-mean KL is floored at lam before summing: under the floor, no gradient.", "")


def check_ch06_roll_zero_accuracy(fn: Callable[[Any], float]) -> bool:
    """Chapter 06. Check fn(tokens (N, T)) = cell accuracy of an all-zero piano roll against the melodies' rolls."""
    import numpy as np

    from .evaluate import trivial_baselines

    rng = np.random.default_rng(6)
    tokens = rng.choice([0, 0, 0, 0, 1, 50, 52, 55, 57], size=(12, 32))
    tokens[:, 0] = 50
    got = _call(fn, tokens.copy())
    if got is _NOT_YET:
        return False
    got = _number(got)
    want = trivial_baselines(tokens, tokens)["roll_all_zero"]
    if got is None or abs(got - want) > 1e-9:
        hint = ("that is the share of HOLD tokens; the baseline scores piano-roll CELLS: 88 pitches x T steps"
                if got is not None and abs(got - float((tokens == 0).mean())) < 1e-9 else
                "count a cell right when the roll is 0 there: 1 - (active cells) / (N * 88 * T)"
                if got is not None and got < 0.5 else "build each roll with evaluate.tokens_to_rolls or "
                "midi.piano_roll(midi.tokens_to_notes(t), n_steps=T); a note sounds until the next note-on or note-off")
        return _verdict(False, "", f"you give {got}, expected {want:.4f}. Hint: {hint}.")
    return _verdict(True, f"an all-zero roll already scores {want:.1%} of cells on these melodies.", "")


def check_ch06_pitch_class_entropy(fn: Callable[[Any], float]) -> bool:
    """Chapter 06. Check fn(tokens (T,)) = entropy in bits of the pitch-class histogram of the melody's notes."""
    import numpy as np

    from .evaluate import music_metrics

    cases = [np.array([50, 0, 0, 0, 52, 0, 54, 0, 55, 0, 57, 0, 59, 0, 61, 0, 62, 0, 0, 1]),  # C major + top C
             np.array([50, 0, 1, 0, 62, 0, 1, 0, 74, 0, 0, 0]),  # one pitch class in three octaves
             np.array([30 + i for i in range(12)] * 2)]  # chromatic, twice
    for tokens in cases:
        got = _call(fn, tokens.copy())
        if got is _NOT_YET:
            return False
        got = _number(got)
        want = music_metrics(tokens)["pitch_class_entropy"]
        if got is None or abs(got - want) > 1e-6:
            hint = ("use log base 2 (bits), not the natural log" if got is not None and abs(got - want * math.log(2)) < 1e-6
                    else "count pitch classes (pitch % 12), not pitches: octaves of C are the same class"
                    if got is not None and got > want else
                    "entropy = -sum p log2 p over the pitch classes' shares of the notes (note-ons, tokens >= 2; "
                    "MIDI pitch = token + 19)")
            return _verdict(False, "", f"tokens {tokens.tolist()[:12]}...: you give {got}, expected {want:.4f} bits. "
                                       f"Hint: {hint}.")
    return _verdict(True, "the entropy of the pitch-class histogram, in bits.", "")


def check_ch06_transpose(fn: Callable[[Any, int], Any]) -> bool:
    """Chapter 06. Check fn(tokens, k) shifts note-on tokens by k semitones, keeps HOLD/OFF, returns None off the piano."""
    import numpy as np

    tokens = np.array([50, 0, 0, 1, 0, 62, 0, 55, 0, 0, 1, 0])
    for k in (0, 3, -5, 12):
        got = _call(fn, tokens.copy(), k)
        if got is _NOT_YET:
            return False
        want = np.where(tokens >= 2, tokens + k, tokens)
        if got is None or not np.array_equal(np.asarray(got), want):
            hint = ("HOLD (0) and note-off (1) are not pitches: shift only tokens >= 2"
                    if got is not None and np.array_equal(np.asarray(got), tokens + k) else
                    "shift the note-on tokens by k" )
            return _verdict(False, "", f"k = {k}: you give {None if got is None else np.asarray(got).tolist()}, "
                                       f"expected {want.tolist()}. Hint: {hint}.")
    for k in (45, -50):
        got = _call(fn, tokens.copy(), k)
        if got is _NOT_YET:
            return False
        if got is not None:
            return _verdict(False, "", f"k = {k} moves a note off the piano (tokens 2..89): return None for such a window.")
    return _verdict(True, "note-ons move, HOLD and note-off stay, and windows that leave the piano are refused.", "")


def check_ch07_time_shifts(fn: Callable[[int, int], Any]) -> bool:
    """Chapter 07. Check fn(gap, max_shift) splits a gap of `gap` grid steps into time-shift sizes, largest first."""
    for gap, max_shift in ((0, 32), (5, 32), (32, 32), (33, 32), (100, 32), (7, 3)):
        got = _call(fn, gap, max_shift)
        if got is _NOT_YET:
            return False
        want = [max_shift] * (gap // max_shift) + ([gap % max_shift] if gap % max_shift else [])
        try:
            got = [int(g) for g in got]
        except (TypeError, ValueError):
            return _verdict(False, "", f"return a list of shift sizes (ints), got {type(got).__name__}")
        if got != want:
            hint = ("a gap of 0 needs no shift at all: return []" if gap == 0 else
                    "the shifts must add up to the gap" if sum(got) != gap else
                    f"no shift may exceed max_shift = {max_shift}" if max(got, default=0) > max_shift else
                    "use as few shifts as possible: full max_shift steps first, then the remainder")
            return _verdict(False, "", f"gap {gap}, max_shift {max_shift}: you give {got}, expected {want}. Hint: {hint}.")
    return _verdict(True, "long silences become several maximal shifts and a remainder, in the fewest tokens.", "")


def check_ch07_sample_and_hold(fn: Callable[[list, int, int], Any]) -> bool:
    """Chapter 07. Check fn(events [(step, value)], n_steps, default) is the sample-and-hold curve a synth reads."""
    import numpy as np

    cases = [([], 6, 64), ([(0, 10)], 4, 64), ([(2, 100), (5, 20)], 8, 0), ([(3, 7), (3, 9), (6, 1)], 8, 40)]
    for events, n, default in cases:
        got = _call(fn, list(events), n, default)
        if got is _NOT_YET:
            return False
        want = np.full(n, float(default))
        for step, value in sorted(events, key=lambda e: e[0]):  # stable: the later of two events at one step wins
            want[step:] = value
        try:
            got = np.asarray(got, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            return _verdict(False, "", "return the curve as a list or array of n_steps numbers")
        if got.shape != want.shape or not np.allclose(got, want):
            hint = ("return exactly n_steps values" if got.shape != want.shape else
                    "before the first event the controller sits at its default value" if events and not np.isclose(got[0], want[0]) else
                    "a value holds until the next event: do not interpolate between events"
                    if len(events) > 1 else "when two events share a step, the later one wins")
            return _verdict(False, "", f"events {events}, n_steps {n}, default {default}: you give {got.tolist()}, "
                                       f"expected {want.tolist()}. Hint: {hint}.")
    return _verdict(True, "values hold until the next event, the default before the first, the last one wins.", "")


def check_ch07_velocity_bins(fn: Callable[[int, int], int]) -> bool:
    """Chapter 07. Check fn(velocity, n_bins) = velocity * n_bins // 128 (equal-width bins over 0..127)."""
    for n_bins in (32, 8, 128):
        for v in (0, 1, 3, 4, 63, 64, 100, 127):
            got = _call(fn, v, n_bins)
            if got is _NOT_YET:
                return False
            got = _number(got)
            want = v * n_bins // 128
            if got is None or got != want:
                hint = ("bins run from 0 to n_bins - 1: velocity 127 must land in the last bin, not past it"
                        if got is not None and got >= n_bins else
                        "use integer division (//) so a bin is a whole number" if got is not None and got != int(got) else
                        "bin = velocity * n_bins // 128 (equal-width bins over the 128 MIDI velocities)")
                return _verdict(False, "", f"velocity {v}, {n_bins} bins: you give {got}, expected {want}. Hint: {hint}.")
    return _verdict(True, "128 velocities fall into n_bins equal-width bins.", "")


def _tensor_list(x: Any, n: int) -> list[torch.Tensor] | None:
    if not isinstance(x, (tuple, list)) or len(x) != n:
        return None
    out = [_float_tensor(v) for v in x]
    return None if any(v is None for v in out) else out


def check_ch08_ddpm_sigma(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Chapter 08. Check fn(alpha_bar) = sqrt((1 - alpha_bar) / alpha_bar), the EDM noise level of a DDPM step."""
    from .diffusion import ddpm_alpha_bar, ddpm_betas, ddpm_sigma

    ab = ddpm_alpha_bar(ddpm_betas(1000))[torch.tensor([0, 9, 99, 499, 999])]
    got = _call(fn, ab.clone())
    if got is _NOT_YET:
        return False
    got, want = _float_tensor(got), ddpm_sigma(ab)
    if got is None or got.shape != want.shape:
        return _verdict(False, "", f"return one sigma per alpha_bar (shape {tuple(want.shape)}), got "
                                   f"{None if got is None else tuple(got.shape)}")
    if not torch.allclose(got.double(), want.double(), rtol=1e-3):
        hint = ("that is the noise's share sqrt(1 - ab) of x_t; divide x_t by sqrt(ab) first, so the clean part has scale 1"
                if torch.allclose(got.double(), (1 - ab).sqrt().double(), rtol=1e-3) else
                "that is sigma^2: take the square root" if torch.allclose(got.double(), (want ** 2).double(), rtol=1e-3) else
                "x_t = sqrt(ab) x0 + sqrt(1 - ab) eps; divide by sqrt(ab) and read off the noise's standard deviation")
        return _verdict(False, "", f"you give {[round(v, 4) for v in got.tolist()]}, expected "
                                   f"{[round(v, 4) for v in want.tolist()]}. Hint: {hint}.")
    return _verdict(True, f"DDPM's 1000 steps span sigma {want[0]:.3f} to {want[-1]:.0f}: nearly EDM's 0.002 to 80.", "")


def check_ch08_precond(fn: Callable[[torch.Tensor, float], Any]) -> bool:
    """Chapter 08. Check fn(sigma, sigma_data) = (c_skip, c_out, c_in, c_noise) of EDM's preconditioning."""
    from .diffusion import edm_precond

    sigma = torch.tensor([0.002, 0.1, 0.5, 1.0, 10.0, 80.0])
    names = ("c_skip", "c_out", "c_in", "c_noise")
    for sd in (0.5, 1.3):
        got = _call(fn, sigma.clone(), sd)
        if got is _NOT_YET:
            return False
        got = _tensor_list(got, 4)
        if got is None:
            return _verdict(False, "", "return four tensors: (c_skip, c_out, c_in, c_noise), one value per sigma each")
        for name, g, w in zip(names, got, edm_precond(sigma, sd)):
            if g.shape != w.shape or not torch.allclose(g.double(), w.double(), rtol=1e-4, atol=1e-7):
                hints = {"c_skip": "c_skip = sigma_data^2 / (sigma^2 + sigma_data^2): 1 at low noise (keep x), 0 at high",
                         "c_out": "c_out = sigma * sigma_data / sqrt(sigma^2 + sigma_data^2)",
                         "c_in": "c_in = 1 / sqrt(sigma^2 + sigma_data^2): it gives the network unit-variance input",
                         "c_noise": "c_noise = ln(sigma) / 4 (natural log)"}
                return _verdict(False, "", f"sigma_data = {sd}: {name} is {[round(v, 5) for v in g.flatten().tolist()]}, "
                                           f"expected {[round(v, 5) for v in w.tolist()]}. Hint: {hints[name]}.")
    return _verdict(True, "all four constants match for sigma_data 0.5 and 1.3: the network sees unit-variance input and "
                          "learns a unit-variance target at every noise level.", "")


def check_ch08_karras(fn: Callable[[int, float, float, float], torch.Tensor]) -> bool:
    """Chapter 08. Check fn(n_steps, sigma_min, sigma_max, rho) = the Karras schedule, n_steps values then a final 0."""
    from .diffusion import karras_sigmas

    for n, lo, hi, rho in ((18, 0.002, 80.0, 7.0), (5, 0.01, 10.0, 3.0), (2, 0.002, 80.0, 7.0)):
        got = _call(fn, n, lo, hi, rho)
        if got is _NOT_YET:
            return False
        got, want = _float_tensor(got), karras_sigmas(n, lo, hi, rho)
        if got is None or got.numel() != want.numel():
            return _verdict(False, "", f"n_steps = {n}: return {n + 1} values ({n} noise levels, then 0), got "
                                       f"{None if got is None else got.numel()}")
        got = got.flatten()
        if not torch.allclose(got.double(), want.double(), rtol=1e-4, atol=1e-6):
            hint = ("the schedule starts at sigma_max and ends with 0 after sigma_min" if float(got[0]) < float(got[-1]) else
                    "append a final 0: the last step goes to the clean data" if float(got[-1]) != 0 else
                    "interpolate linearly between sigma_max^(1/rho) and sigma_min^(1/rho), then raise to the power rho")
            return _verdict(False, "", f"n={n}, rho={rho}: you give {[round(v, 4) for v in got.tolist()[:4]]}..., expected "
                                       f"{[round(v, 4) for v in want.tolist()[:4]]}.... Hint: {hint}.")
    return _verdict(True, "the steps crowd near sigma_min, where the sampler's decisions are fine detail.", "")


def check_ch09_upsample(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Chapter 09. Check fn(z (B, C, L), factor) = time-aligned upsampling: each frame repeated `factor` times in place."""
    from .models.hierarchical import upsample_time

    g = torch.Generator().manual_seed(9)
    for shape, factor in (((1, 1, 2), 2), ((2, 3, 4), 2), ((2, 2, 3), 4)):
        z = torch.randn(shape, generator=g)
        got = _call(fn, z.clone(), factor)
        if got is _NOT_YET:
            return False
        got, want = _float_tensor(got), upsample_time(z, factor)
        if got is None or got.shape != want.shape:
            return _verdict(False, "", f"z of shape {shape}, factor {factor}: expected shape {tuple(want.shape)}, got "
                                       f"{None if got is None else tuple(got.shape)}")
        if not torch.allclose(got, want):
            tiled = upsample_time(z, factor, "repeat")
            hint = ("that is `repeat`, paper 004's bug: it tiles the whole sequence ([a, b] -> [a, b, a, b]), so "
                    "output frame 1 already comes from the second half of the clip and the conditions lose their timing"
                    if torch.allclose(got, tiled) else
                    "each latent frame must cover `factor` consecutive output frames: [a, b] -> [a, a, b, b]")
            return _verdict(False, "", f"values differ for z of shape {shape}. Hint: {hint}.")
    return _verdict(True, "[a, b] -> [a, a, b, b]: output frame t comes from latent frame t // factor, aligned in time.", "")


def check_ch09_refine(fn: Callable[[list], list]) -> bool:
    """Chapter 09. Check fn([h1, h2, h3]) = coarse-to-fine residual latents h~1 = h1, h~k = hk + upsample(h~(k-1))."""
    from .models.hierarchical import refine

    g = torch.Generator().manual_seed(10)
    raw = [torch.randn(2, 3, n, generator=g) for n in (4, 8, 16)]
    got = _call(fn, [r.clone() for r in raw])
    if got is _NOT_YET:
        return False
    got = _tensor_list(got, 3)
    want = refine(raw)
    if got is None:
        return _verdict(False, "", "return a list of three tensors: the refined levels, coarse to fine")
    for k, (a, b) in enumerate(zip(got, want)):
        if a.shape != b.shape or not torch.allclose(a, b, atol=1e-5):
            hint = ("the first level is not refined: h~1 = h1" if k == 0 else
                    "add the upsampled REFINED coarser level (h~(k-1)), not the raw one: the sum runs down the whole "
                    "hierarchy" if torch.allclose(a, raw[k] + _upsample2(raw[k - 1]), atol=1e-5) else
                    "upsample the coarser level in time with repeat_interleave (x2) before adding it")
            return _verdict(False, "", f"level {k + 1} differs. Hint: {hint}.")
    return _verdict(True, "h~3 = h3 + up(h2) + up(up(h1)): the finest refined latent contains every coarser code, "
                          "which is why a probe on refined latents finds coarse attributes at every level.", "")


def _upsample2(z: torch.Tensor) -> torch.Tensor:
    return z.repeat_interleave(2, dim=-1)


def check_ch09_level_dropout(fn: Callable[[list, float, torch.Generator], list]) -> bool:
    """Chapter 09. Check fn(levels, p, generator): zero each level of each example independently with probability p."""
    levels = [torch.ones(4000, 2, n) for n in (4, 8, 16)]
    for p in (0.0, 0.3):
        got = _call(fn, [x.clone() for x in levels], p, torch.Generator().manual_seed(4))
        if got is _NOT_YET:
            return False
        got = _tensor_list(got, 3)
        if got is None or any(a.shape != b.shape for a, b in zip(got, levels)):
            return _verdict(False, "", "return a list of three tensors shaped like the inputs")
        kept = torch.stack([x.flatten(1).abs().sum(1) > 0 for x in got], 1).float()  # (examples, levels)
        partial = any(((x != 0) & (x != 1)).any() or ((x == 0).any(dim=(1, 2)) & (x != 0).any(dim=(1, 2))).any()
                      for x in got)
        if partial:
            return _verdict(False, "", "drop whole levels: an example's level is either kept as it is or all zeros "
                                       "(no rescaling, no per-element dropout)")
        rate = 1 - kept.mean().item()
        if p == 0 and rate != 0:
            return _verdict(False, "", "with p = 0 nothing may be dropped")
        if p > 0:
            if abs(rate - p) > 0.03:
                return _verdict(False, "", f"p = {p}: you drop {rate:.1%} of the levels, expected about {p:.0%}")
            both = (1 - kept[:, 0]) * (1 - kept[:, 1])
            if abs(both.mean().item() - p * p) > 0.03:
                return _verdict(False, "", f"levels 1 and 2 are dropped together in {both.mean().item():.1%} of the examples; "
                                           f"independent draws give about {p * p:.0%}. Draw per example AND per level.")
    return _verdict(True, "each (example, level) pair is dropped with probability p, independently: the decoder "
                          "learns to work with any level missing.", "")
