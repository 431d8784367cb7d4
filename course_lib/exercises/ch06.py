"""Checks for the exercises of notebook 06_lstm_vae_melodies."""
from __future__ import annotations

import math
from typing import Any, Callable

from ._harness import NOT_YET, call, number, verdict


def check_ch06_roll_zero_accuracy(fn: Callable[[Any], float]) -> bool:
    """Check fn(tokens (N, T)) = cell accuracy of an all-zero piano roll against the melodies' rolls."""
    import numpy as np

    from ..metrics import trivial_baselines

    rng = np.random.default_rng(6)
    tokens = rng.choice([0, 0, 0, 0, 1, 50, 52, 55, 57], size=(12, 32))
    tokens[:, 0] = 50
    got = call(fn, tokens.copy())
    if got is NOT_YET:
        return False
    got = number(got)
    want = trivial_baselines(tokens, tokens)["roll_all_zero"]
    if got is None or abs(got - want) > 1e-9:
        hint = ("that is the share of HOLD tokens; the baseline scores piano-roll CELLS: 88 pitches x T steps"
                if got is not None and abs(got - float((tokens == 0).mean())) < 1e-9 else
                "count a cell right when the roll is 0 there: 1 - (active cells) / (N * 88 * T)"
                if got is not None and got < 0.5 else "build each roll with metrics.tokens_to_rolls or "
                "midi.piano_roll(midi.tokens_to_notes(t), n_steps=T); a note sounds until the next note-on or note-off")
        return verdict(False, "", f"you give {got}, expected {want:.4f}. Hint: {hint}.")
    return verdict(True, f"an all-zero roll already scores {want:.1%} of cells on these melodies.", "")


def check_ch06_pitch_class_entropy(fn: Callable[[Any], float]) -> bool:
    """Check fn(tokens (T,)) = entropy in bits of the pitch-class histogram of the melody's notes."""
    import numpy as np

    from ..metrics import music_metrics

    cases = [np.array([50, 0, 0, 0, 52, 0, 54, 0, 55, 0, 57, 0, 59, 0, 61, 0, 62, 0, 0, 1]),  # C major + top C
             np.array([50, 0, 1, 0, 62, 0, 1, 0, 74, 0, 0, 0]),  # one pitch class in three octaves
             np.array([30 + i for i in range(12)] * 2)]  # chromatic, twice
    for tokens in cases:
        got = call(fn, tokens.copy())
        if got is NOT_YET:
            return False
        got = number(got)
        want = music_metrics(tokens)["pitch_class_entropy"]
        if got is None or abs(got - want) > 1e-6:
            hint = ("use log base 2 (bits), not the natural log" if got is not None and abs(got - want * math.log(2)) < 1e-6
                    else "count pitch classes (pitch % 12), not pitches: octaves of C are the same class"
                    if got is not None and got > want else
                    "entropy = -sum p log2 p over the pitch classes' shares of the notes (note-ons, tokens >= 2; "
                    "MIDI pitch = token + 19)")
            return verdict(False, "", f"tokens {tokens.tolist()[:12]}...: you give {got}, expected {want:.4f} bits. "
                                      f"Hint: {hint}.")
    return verdict(True, "the entropy of the pitch-class histogram, in bits.", "")


def check_ch06_transpose(fn: Callable[[Any, int], Any]) -> bool:
    """Check fn(tokens, k) shifts note-on tokens by k semitones, keeps HOLD/OFF, returns None off the piano."""
    import numpy as np

    tokens = np.array([50, 0, 0, 1, 0, 62, 0, 55, 0, 0, 1, 0])
    for k in (0, 3, -5, 12):
        got = call(fn, tokens.copy(), k)
        if got is NOT_YET:
            return False
        want = np.where(tokens >= 2, tokens + k, tokens)
        if got is None or not np.array_equal(np.asarray(got), want):
            hint = ("HOLD (0) and note-off (1) are not pitches: shift only tokens >= 2"
                    if got is not None and np.array_equal(np.asarray(got), tokens + k) else
                    "shift the note-on tokens by k" )
            return verdict(False, "", f"k = {k}: you give {None if got is None else np.asarray(got).tolist()}, "
                                      f"expected {want.tolist()}. Hint: {hint}.")
    for k in (45, -50):
        got = call(fn, tokens.copy(), k)
        if got is NOT_YET:
            return False
        if got is not None:
            return verdict(False, "", f"k = {k} moves a note off the piano (tokens 2..89): return None for such a window.")
    return verdict(True, "note-ons move, HOLD and note-off stay, and windows that leave the piano are refused.", "")
