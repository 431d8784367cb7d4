"""Checks for the exercises of notebook 07_transformer_vae_automation."""
from __future__ import annotations

from typing import Any, Callable

from ._harness import NOT_YET, call, number, verdict


def check_ch07_time_shifts(fn: Callable[[int, int], Any]) -> bool:
    """Check fn(gap, max_shift) splits a gap of `gap` grid steps into time-shift sizes, largest first."""
    for gap, max_shift in ((0, 32), (5, 32), (32, 32), (33, 32), (100, 32), (7, 3)):
        got = call(fn, gap, max_shift)
        if got is NOT_YET:
            return False
        want = [max_shift] * (gap // max_shift) + ([gap % max_shift] if gap % max_shift else [])
        try:
            got = [int(g) for g in got]
        except (TypeError, ValueError):
            return verdict(False, "", f"return a list of shift sizes (ints), got {type(got).__name__}")
        if got != want:
            hint = ("a gap of 0 needs no shift at all: return []" if gap == 0 else
                    "the shifts must add up to the gap" if sum(got) != gap else
                    f"no shift may exceed max_shift = {max_shift}" if max(got, default=0) > max_shift else
                    "use as few shifts as possible: full max_shift steps first, then the remainder")
            return verdict(False, "", f"gap {gap}, max_shift {max_shift}: you give {got}, expected {want}. Hint: {hint}.")
    return verdict(True, "long silences become several maximal shifts and a remainder, in the fewest tokens.", "")


def check_ch07_sample_and_hold(fn: Callable[[list, int, int], Any]) -> bool:
    """Check fn(events [(step, value)], n_steps, default) is the sample-and-hold curve a synth reads."""
    import numpy as np

    cases = [([], 6, 64), ([(0, 10)], 4, 64), ([(2, 100), (5, 20)], 8, 0), ([(3, 7), (3, 9), (6, 1)], 8, 40)]
    for events, n, default in cases:
        got = call(fn, list(events), n, default)
        if got is NOT_YET:
            return False
        want = np.full(n, float(default))
        for step, value in sorted(events, key=lambda e: e[0]):  # stable: the later of two events at one step wins
            want[step:] = value
        try:
            got = np.asarray(got, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            return verdict(False, "", "return the curve as a list or array of n_steps numbers")
        if got.shape != want.shape or not np.allclose(got, want):
            hint = ("return exactly n_steps values" if got.shape != want.shape else
                    "before the first event the controller sits at its default value" if events and not np.isclose(got[0], want[0]) else
                    "a value holds until the next event: do not interpolate between events"
                    if len(events) > 1 else "when two events share a step, the later one wins")
            return verdict(False, "", f"events {events}, n_steps {n}, default {default}: you give {got.tolist()}, "
                                      f"expected {want.tolist()}. Hint: {hint}.")
    return verdict(True, "values hold until the next event, the default before the first, the last one wins.", "")


def check_ch07_velocity_bins(fn: Callable[[int, int], int]) -> bool:
    """Check fn(velocity, n_bins) = velocity * n_bins // 128 (equal-width bins over 0..127)."""
    for n_bins in (32, 8, 128):
        for v in (0, 1, 3, 4, 63, 64, 100, 127):
            got = call(fn, v, n_bins)
            if got is NOT_YET:
                return False
            got = number(got)
            want = v * n_bins // 128
            if got is None or got != want:
                hint = ("bins run from 0 to n_bins - 1: velocity 127 must land in the last bin, not past it"
                        if got is not None and got >= n_bins else
                        "use integer division (//) so a bin is a whole number" if got is not None and got != int(got) else
                        "bin = velocity * n_bins // 128 (equal-width bins over the 128 MIDI velocities)")
                return verdict(False, "", f"velocity {v}, {n_bins} bins: you give {got}, expected {want}. Hint: {hint}.")
    return verdict(True, "128 velocities fall into n_bins equal-width bins.", "")
