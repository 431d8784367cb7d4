import math

import pytest
import torch

from course_lib import audio
from course_lib import metrics as M


def test_feature_metrics_closed_forms():
    z = torch.tensor([[1.0, -2.0, 3.0, 0.0]])
    z_hat = torch.tensor([[1.5, -2.0, 2.0, 0.0]])
    m = M.feature_metrics(z, z_hat)
    assert m["mse"] == pytest.approx((0.25 + 1) / 4)
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(m["mse"]))  # the paper's tables break this identity
    assert m["snr_db"] == pytest.approx(10 * math.log10(14 / 1.25))
    with pytest.raises(ValueError, match="shapes differ"):
        M.feature_metrics(z, z_hat[:, :3])


def test_interleaved_metrics_agree_across_domains_by_parseval():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1000, generator=g)
    x_hat = x + 0.1 * torch.randn(8, 1000, generator=g)
    z, z_hat = audio.rfft_interleave(x, drop_nyquist=True), audio.rfft_interleave(x_hat, drop_nyquist=True)
    m = M.interleaved_metrics(z, z_hat, 1000)
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
    assert abs(M.rolloff_hz(y, 4410) - 0.99 * cut) <= 10
    assert M.rolloff_hz(x, 4410) == pytest.approx(0.99 * 2205, abs=15)  # white noise: 99 % of the band
    assert M.rolloff_hz(torch.zeros_like(x), 4410) == 0.0
    with pytest.raises(ValueError, match="fraction"):
        M.rolloff_hz(x, 4410, fraction=0)


def test_band_energy_ratio_of_a_lowpass():
    x, y = lowpassed_noise(417.0)
    centres, ratio = M.band_energy_ratio_db(x, y, 4410)
    assert ratio[centres < 350].abs().max() < 0.01 and (ratio[centres > 500] < -100).all()


def test_seam_clicks_measured():
    sr, seg = 4410, 1000
    t = torch.arange(5 * seg) / sr
    smooth = torch.sin(2 * torch.pi * 220 * t)
    assert M.seam_click_ratio(smooth, seg) < 1.5
    # independently reconstructed segments each start from the wrong level: a step at every seam
    clicky = smooth + torch.repeat_interleave(torch.tensor([0.0, 0.3, -0.2, 0.25, -0.1]), seg)
    assert M.seam_click_ratio(clicky, seg) > 3
    with pytest.raises(ValueError, match="two segments"):
        M.seam_click_ratio(smooth[:1500], seg)


def latent_means(n=500, seed=0):
    """Posterior means with 3 busy units (variance 1), 2 quiet ones (0.02) and 3 constant ones (1e-8)."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([1.0, 0.02 ** 0.5, 1e-4, 1.0, 1e-4, 0.02 ** 0.5, 1.0, 1e-4])
    return torch.tensor([0.0, 1.0, 5.0, -1.0, -3.0, 0.0, 2.0, 0.5]) + scale * torch.randn(n, 8, generator=g)


def test_active_units_counts_units_whose_mean_varies_over_the_data():
    mu = latent_means()
    count, var = M.active_units(mu)
    assert count == 5 and var.shape == (8,)
    assert torch.allclose(var, mu.double().var(0, correction=0))
    assert var[[2, 4, 7]].max() < 1e-7 and var[[1, 5]].sub(0.02).abs().max() < 0.005
    assert M.active_units(mu, threshold=0.05)[0] == 3
    assert M.active_units(mu, threshold=2.0)[0] == 0
    # the offsets of the constant units do not matter: only the spread over the data does
    assert M.active_units(mu + 100.0)[0] == 5


def test_active_units_uses_the_population_variance_and_refuses_bad_inputs():
    count, var = M.active_units(torch.tensor([[0.0, 1.0], [1.0, 1.0]]), threshold=0.2)
    assert var.tolist() == [0.25, 0.0] and count == 1  # unbiased would give 0.5
    with pytest.raises(ValueError, match="at least 2"):
        M.active_units(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"\(N examples, D latent dims\)"):
        M.active_units(torch.zeros(10))
    with pytest.raises(ValueError, match="threshold"):
        M.active_units(torch.zeros(3, 2), threshold=-1.0)


def test_thesis_accuracy_closed_form_and_clipping():
    from course_lib.metrics import thesis_accuracy

    x = torch.tensor([[3.0, 4.0], [1.0, 0.0], [2.0, 0.0]])
    x_hat = torch.tensor([[3.0, 4.0], [0.5, 0.0], [-2.0, 0.0]])
    acc = thesis_accuracy(x, x_hat)
    assert torch.allclose(acc, torch.tensor([1.0, 0.75, 0.0]), atol=1e-6)  # (1 - 16/4) clips to 0


def test_thesis_accuracy_rewards_loud_inputs():
    from course_lib.metrics import thesis_accuracy

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
    X = M.timbre_features(torch.cat([sines, squares]), sr)
    assert X.shape == (120, 128)
    y = torch.cat([torch.zeros(60), torch.ones(60)]).long()
    idx = torch.randperm(120, generator=g)
    train, test = idx[:80], idx[80:]
    probe = M.fit_probe(X[train], y[train])
    assert probe.score(X[test].numpy(), y[test].numpy()) > 0.9
    again = M.fit_probe(X[train], y[train])
    assert (again.predict(X[test].numpy()) == probe.predict(X[test].numpy())).all()


def test_probe_and_features_refuse_bad_inputs():
    with pytest.raises(ValueError, match="two classes"):
        M.fit_probe(torch.randn(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match="one label each"):
        M.fit_probe(torch.randn(10, 3), torch.zeros(9))
    with pytest.raises(ValueError, match="notes, samples"):
        M.timbre_features(torch.randn(100), 16000)


# ---- Chapter 06: melody metrics and baselines ----------------------------------------------------------------

import numpy as np  # noqa: E402

from course_lib import midi  # noqa: E402


def melody(events, T):
    """Tokens (T,) from {step: MIDI pitch, or "off"}; every other step is HOLD."""
    t = np.full(T, midi.MELODY_HOLD, dtype=np.int64)
    for s, p in events.items():
        t[s] = midi.MELODY_OFF if p == "off" else p - midi.PIANO_LOW + midi.MELODY_FIRST_PITCH
    return t


C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def test_token_accuracy_numpy_torch_and_shapes():
    assert M.token_accuracy(np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0])) == 0.5
    assert M.token_accuracy(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 0]])) == 0.75
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        M.token_accuracy(np.zeros((2, 3)), np.zeros((3, 2)))


def test_tokens_to_rolls_matches_the_midi_composition():
    rng = np.random.default_rng(0)
    # mostly HOLD, some note-offs (some during silence), a few note-ons
    tokens = rng.choice([0, 1, 2, 40, 41, 89], size=(20, 24), p=[0.6, 0.15, 0.05, 0.1, 0.05, 0.05])
    tokens[0] = melody({3: "off", 5: 60, 9: "off", 10: "off", 12: 60, 13: 60}, 24)  # starts with HOLD, off in silence
    tokens[1, 0] = midi.MELODY_OFF
    rolls = M.tokens_to_rolls(tokens)
    assert rolls.shape == (20, midi.N_PIANO, 24) and rolls.dtype == bool
    for row, roll in zip(tokens, rolls):
        assert np.array_equal(roll, midi.piano_roll(midi.tokens_to_notes(row), n_steps=24))
        assert np.array_equal(M.tokens_to_rolls(row), roll)
    assert not rolls[0, :, :5].any() and rolls[0, 60 - 21, 5:9].all() and not rolls[0, :, 9:12].any()
    with pytest.raises(ValueError, match="outside"):
        M.tokens_to_rolls(np.array([0, 90]))


def test_trivial_baselines_by_hand():
    # training counts: 5 x4, 0 x2, 1 x1, 7 x1 -> most frequent 5; first tokens 5, 5
    # successors: 5 -> 0 (twice, vs 5 once); 0 -> 5 or 1 (tie -> 1); 1 -> 7; 7 and the rest unseen -> 5
    train = np.array([[5, 0, 5, 5], [5, 0, 1, 7]])
    test = np.array([[5, 0, 1, 7], [7, 7, 0, 0]])
    b = M.trivial_baselines(train, test)
    assert b["all_hold"] == pytest.approx(3 / 8)
    assert b["most_frequent"] == pytest.approx(1 / 8)
    # previous tokens [0 5 0 1] and [0 7 7 0]: matches at (1, 1) and (1, 3)
    assert b["repeat_previous"] == pytest.approx(2 / 8)
    # bigram predictions [5 0 1 7] (all right) and [5 5 5 1] (all wrong)
    assert b["bigram"] == pytest.approx(4 / 8)
    # tokens 5, 7 sound pitches 24, 26: row 1 sounds 3 cells (5 held once, then off, then 7), row 2 four cells
    assert b["roll_all_zero"] == pytest.approx(1 - 7 / (2 * 88 * 4))
    # wrong frames: row 1 at steps 0, 2, 3 (one cell each), row 2 at step 0 (the repeated 7 sounds the same)
    assert b["roll_repeat_previous"] == pytest.approx(1 - 4 / (2 * 88 * 4))


def test_music_metrics_of_a_c_major_scale():
    m = M.music_metrics(melody({4 * i: p for i, p in enumerate(C_MAJOR)}, 32))
    assert m["n_notes"] == 8 and m["scale_consistency"] == 1.0 and m["pitch_range"] == 12
    # pitch classes: C twice, six others once -> -(1/4 log2 1/4 + 6/8 log2 1/8) = 0.5 + 2.25
    assert m["pitch_class_entropy"] == pytest.approx(2.75)
    assert m["note_density"] == 4.0 and m["empty_beat_rate"] == 0.0  # 8 notes in 2 bars, every beat sounds
    # intervals 2 2 1 2 2 2 1: 3-grams 221 212 122 222 221 -> one of five repeats an earlier one
    assert m["repetition"] == pytest.approx(0.2)


def test_music_metrics_of_silence_chromatic_and_repeated_patterns():
    silent = M.music_metrics(np.zeros(32, dtype=np.int64))
    assert silent["n_notes"] == 0 and silent["empty_beat_rate"] == 1.0 and silent["note_density"] == 0.0
    for k in ("pitch_class_entropy", "scale_consistency", "pitch_range", "repetition"):
        assert math.isnan(silent[k])

    chromatic = M.music_metrics(melody({**{i: 60 + i for i in range(12)}, 12: "off"}, 16))
    assert chromatic["scale_consistency"] == pytest.approx(7 / 12)
    assert chromatic["pitch_class_entropy"] == pytest.approx(math.log2(12))
    assert chromatic["pitch_range"] == 11 and chromatic["empty_beat_rate"] == 0.25  # steps 12..15 are silent

    # pitches 60 62 64 | 60 62 64 | 60 with rests between: intervals 2 2 -4 2 2 -4, 3-grams (2 2 -4) (2 -4 2)
    # (-4 2 2) (2 2 -4): one of four repeats
    pattern = melody({0: 60, 2: 62, 3: "off", 4: 64, 8: 60, 10: 62, 12: 64, 13: "off", 16: 60}, 20)
    assert M.music_metrics(pattern)["repetition"] == pytest.approx(0.25)
    assert M.music_metrics(pattern)["scale_consistency"] == 1.0 and M.music_metrics(pattern)["n_notes"] == 7
    # four notes give three intervals: a single 3-gram, nothing to repeat -> NaN
    assert math.isnan(M.music_metrics(melody({0: 60, 4: 62, 8: 64, 12: 60}, 16))["repetition"])
    # one pitch class: entropy 0; a partial last beat counts (T = 10: beats 0-3, 4-7, 8-9)
    one = M.music_metrics(melody({0: 60, 1: 72, 2: "off"}, 10))
    assert one["pitch_class_entropy"] == 0.0 and one["empty_beat_rate"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one non-empty melody"):
        M.music_metrics(np.zeros((2, 16), dtype=np.int64))


def test_music_metrics_table_stacks_rows():
    scale = melody({4 * i: p for i, p in enumerate(C_MAJOR)}, 32)
    table = M.music_metrics_table(np.stack([scale, np.zeros(32, dtype=np.int64)]))
    assert set(table) == set(M.music_metrics(scale)) and all(v.shape == (2,) for v in table.values())
    assert table["n_notes"].tolist() == [8.0, 0.0] and table["pitch_class_entropy"][0] == pytest.approx(2.75)
    assert math.isnan(table["pitch_range"][1]) and table["empty_beat_rate"].tolist() == [0.0, 1.0]


def test_overlap_area():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 300), rng.normal(0.5, 1, 200)
    assert M.overlap_area(a, a) > 0.97
    assert M.overlap_area(a, a + 100) < 0.01
    ab = M.overlap_area(a, b)
    assert 0.5 < ab < 0.97 and ab == pytest.approx(M.overlap_area(b, a))
    assert M.overlap_area(np.r_[a, np.nan], b) == pytest.approx(ab)  # NaNs dropped
    # zero spread: no crash; equal constants overlap fully, different ones not at all
    assert M.overlap_area(np.full(10, 3.0), np.full(5, 3.0)) > 0.97
    assert M.overlap_area(np.full(10, 3.0), np.full(5, 4.0)) < 0.01
    assert 0.0 <= M.overlap_area(np.full(10, 0.0), a) <= 1.0
    with pytest.raises(ValueError, match="at least 2 finite"):
        M.overlap_area([1.0, np.nan], a)
    with pytest.raises(ValueError, match="at least 2 finite"):
        M.overlap_area(a, [])


# ------------------------------------------------------------------------------------------ CC-ME (Chapter 07)

import pretty_midi  # noqa: E402


def cc_perf(ccs, end_s: float = 2.0) -> pretty_midi.PrettyMIDI:
    """One piano note lasting end_s (32 steps at 120 bpm for 2 s) with (number, value, time_s) CCs."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    inst.notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=end_s))
    inst.control_changes += [pretty_midi.ControlChange(number=n, value=v, time=t) for n, v, t in ccs]
    pm.instruments.append(inst)
    return pm


def test_cc_modulation_error_identical_offset_and_invented_automation():
    sweep = [(74, v, 0.0625 * k) for k, v in enumerate(range(20, 52))]
    ref = cc_perf(sweep + [(7, 90, 0.0)])
    same = M.cc_modulation_error(ref, ref)
    assert same == {"cc_me": 0.0, "per_controller": {7: 0.0, 74: 0.0}}
    shifted = cc_perf([(n, v + 10, t) for n, v, t in sweep] + [(7, 90, 0.0)])
    m = M.cc_modulation_error(ref, shifted)
    assert m["per_controller"] == {7: 0.0, 74: pytest.approx(10.0)} and m["cc_me"] == pytest.approx(5.0)
    # a pan move only in the estimate is counted: inventing automation costs
    invented = M.cc_modulation_error(ref, cc_perf(sweep + [(7, 90, 0.0), (10, 0, 1.0)]))
    assert invented["per_controller"][10] == pytest.approx(64 * 16 / 32)
    assert invented["cc_me"] == pytest.approx(32 / 3)
    # a CC that sets its default value does not move the controller
    assert set(M.cc_modulation_error(ref, cc_perf(sweep + [(7, 90, 0.0), (11, 127, 0.5)]))["per_controller"]) == {7, 74}


def test_cc_modulation_error_nan_without_automation_and_options():
    m = M.cc_modulation_error(cc_perf([]), cc_perf([(64, 127, 0.0)]))  # sustain pedal is not in the vocabulary
    assert math.isnan(m["cc_me"]) and m["per_controller"] == {}
    ref, est = cc_perf([(7, 50, 1.0)]), cc_perf([(7, 50, 0.5)])  # the estimate is 8 steps early
    assert M.cc_modulation_error(ref, est)["cc_me"] == pytest.approx(50 * 8 / 32)
    assert M.cc_modulation_error(ref, est, n_steps=16)["cc_me"] == pytest.approx(50 * 8 / 16)
    assert math.isnan(M.cc_modulation_error(ref, est, controllers=(74,))["cc_me"])


def test_frechet_distance_closed_form_for_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20_000, 3, generator=g)
    b = 2 * torch.randn(20_000, 3, generator=g) + torch.tensor([1.0, 0.0, -1.0])
    # N(0, I) vs N(m, 4I): |m|^2 + tr(I + 4I - 2 * 2I) = 2 + 3
    assert M.frechet_distance(a, b) == pytest.approx(5.0, rel=0.03)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert M.frechet_distance(a[:, :1], b[:, :1]) == pytest.approx(1 + 1, rel=0.05)  # 1-D: (mu diff)^2 + (s_a - s_b)^2
    with pytest.raises(ValueError, match="same d"):
        M.frechet_distance(a, b[:, :2])
    with pytest.raises(ValueError, match="at least 2"):
        M.frechet_distance(a[:1], b)


def test_sliced_wasserstein_of_a_shift_and_identity():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5000, 2, generator=g)
    shift = torch.tensor([3.0, 0.0])
    # W1 of a shifted copy along direction u is |<shift, u>|; its mean over uniform directions in 2-D is 3 * 2/pi
    sw = M.sliced_wasserstein(a, a + shift, n_projections=2000)
    assert sw == pytest.approx(3 * 2 / math.pi, rel=0.03)
    assert M.sliced_wasserstein(a, a) == pytest.approx(0.0, abs=1e-12)
    assert M.sliced_wasserstein(a, a + shift, seed=3) == M.sliced_wasserstein(a, a + shift, seed=3)
    with pytest.raises(ValueError, match="n_projections"):
        M.sliced_wasserstein(a, a, n_projections=0)


def test_constant_prediction_mse_by_hand():
    train = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean example [2, 3]
    test = torch.tensor([[2.0, 5.0], [0.0, 3.0]])
    out = M.constant_prediction_mse(train, test)
    assert out["mean_example"] == pytest.approx((0 + 4 + 4 + 0) / 4)
    assert out["zero_output"] == pytest.approx((4 + 25 + 0 + 9) / 4)
    same = torch.randn(64, 3, 5, generator=torch.Generator().manual_seed(0))
    assert M.constant_prediction_mse(same, same)["mean_example"] <= M.constant_prediction_mse(same, same)["zero_output"]
    with pytest.raises(ValueError, match="same example shape"):
        M.constant_prediction_mse(train, test[:, :1])


def test_timbre_features_float64_and_independent_of_thread_count():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 8000, generator=g) * 0.1
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = M.timbre_features(x, 16000)
        torch.set_num_threads(2)
        two = M.timbre_features(x, 16000)
    finally:
        torch.set_num_threads(threads)
    assert one.dtype == torch.float64 and one.shape == (6, 128)
    assert torch.allclose(one, two, rtol=0, atol=1e-12)
    # the float64 path computes the same mel spectrogram as the float32 one, only more exactly
    from course_lib import audio as A
    m64, m32 = A.mel_spectrogram(x.double(), 16000, n_mels=64), A.mel_spectrogram(x, 16000, n_mels=64)
    assert m64.dtype == torch.float64 and m32.dtype == torch.float32
    assert torch.allclose(m64.float(), m32, rtol=1e-4, atol=1e-6)


def test_swap_levels_reads_the_level_of_each_factor_against_the_expected_one():
    diag = [[0.9, 0.1, 0.2], [0.1, 0.8, 0.1], [0.0, 0.2, 0.95]]
    out = M.swap_levels(diag, [0, 1, 2])
    assert [o["level"] for o in out] == [0, 1, 2] and all(o["match"] for o in out)
    assert [round(o["lead"], 6) for o in out] == [0.8, 0.6, 0.75]
    wrong = M.swap_levels(diag, [1, 0, 2])  # measured diagonal, expected swapped: two misses, negative leads
    assert [o["match"] for o in wrong] == [False, False, True] and wrong[0]["lead"] == pytest.approx(-0.8)
    whole = [[0.9, 0.8, 0.9], [0.1, 0.1, 0.1], [0.0, 0.0, 0.1]]  # h1 turns A into B in every respect: no factor alone
    assert [o["level"] for o in M.swap_levels(whole, [0, 1, 2])] == [None, None, None]
    close = [[0.6, 0.0, 0.0], [0.4, 0.0, 0.0], [0.0, 0.0, 0.0]]  # 20 points ahead is not clearly
    assert M.swap_levels(close, [0, 1, 2])[0]["level"] is None
    with pytest.raises(ValueError, match="one expected level"):
        M.swap_levels(diag, [0, 1])
    with pytest.raises(ValueError, match="one expected level"):
        M.swap_levels(diag, [0, 1, 3])
