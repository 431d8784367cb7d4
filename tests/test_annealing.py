"""Tests of course_lib.annealing: paper 002's logged logistic values, the closed forms at their endpoints,
Fu et al.'s cycles, MusicVAE's exponential approach, make_schedule and bad settings."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib import annealing as A

# paper 002, logistic W = 8, b = 0.1, epochs 0..8, as logged in the thesis (5 decimals)
PAPER_LOGISTIC = [0.11619, 0.14268, 0.20728, 0.34205, 0.55, 0.75795, 0.89272, 0.95732, 0.98381]


def test_logistic_matches_paper_002_logged_values():
    got = [A.logistic(e, W=8, b=0.1) for e in range(9)]
    assert np.round(got, 5).tolist() == PAPER_LOGISTIC
    assert A.make_schedule("logistic", W=8, b=0.1)(4) == pytest.approx(0.55, abs=1e-12)


def test_linear_and_cosine_endpoints_and_midpoints():
    for fn in (A.linear, A.cosine):
        assert fn(0, W=10, b=0.2) == pytest.approx(0.2)
        assert fn(10, W=10, b=0.2) == pytest.approx(1.0)
        assert fn(25, W=10, b=0.2) == pytest.approx(1.0)  # held at 1 after the warm-up
        assert fn(5, W=10, b=0.2) == pytest.approx(0.6)  # both pass through the middle at t = 1/2
    assert A.linear(2.5, W=10) == pytest.approx(0.25)
    assert A.cosine(2.5, W=10) == pytest.approx((math.cos(-0.75 * math.pi) + 1) / 2)  # 0.1464..., below linear
    v = A.values(A.make_schedule("cosine", W=20, b=0.0), 21)
    assert np.all(np.diff(v) > 0)


def test_cyclical_fu_et_al():
    s = A.make_schedule("cyclical", total_steps=400, n_cycles=4, ratio=0.5)
    v = A.values(s, 400)
    assert v[0] == 0 and v[25] == pytest.approx(0.5) and v[50] == 1 and v[99] == 1
    assert v[100] == 0 and v[125] == pytest.approx(0.5)  # each cycle restarts at 0
    assert np.allclose(v[:100], v[300:400])
    assert (v == 1).mean() == 0.5  # ramp over the first half of each 100-step cycle, flat for the second
    assert A.cyclical(50, total_steps=100, n_cycles=1, ratio=1.0, beta_max=0.2) == pytest.approx(0.1)


def test_restart_is_paper_002_cyclical():
    for e in range(30):
        assert A.restart(e, W=8, b=0.1) == pytest.approx(A.logistic(e % 8, W=8, b=0.1))
    assert A.restart(13, W=5, shape="linear") == pytest.approx(0.6)


def test_musicvae_schedule():
    assert A.musicvae(0) == 0.0
    assert A.musicvae(10**7, rate=0.99999, beta_max=0.2) == pytest.approx(0.2, abs=1e-12)
    half = math.log(0.5) / math.log(0.999)  # (1 - rate^t) = 1/2
    assert A.musicvae(half, rate=0.999, beta_max=0.5) == pytest.approx(0.25)
    assert np.all(np.diff(A.values(A.make_schedule("musicvae", rate=0.99), 200)) > 0)


def test_constant_and_values():
    s = A.make_schedule("constant", beta=0.3)
    assert A.values(s, 5).tolist() == [0.3] * 5
    assert s.__name__ == "constant" and s.settings == {"beta": 0.3}
    assert A.values(A.make_schedule("linear", W=4), 3, start=2).tolist() == [0.5, 0.75, 1.0]


@pytest.mark.parametrize("call, match", [
    (lambda: A.make_schedule("sigmoid"), "unknown schedule"),
    (lambda: A.make_schedule("linear"), "W"),  # a missing setting fails at once
    (lambda: A.linear(-1, W=8), "e must be >= 0"),
    (lambda: A.linear(float("nan"), W=8), "e must be >= 0"),
    (lambda: A.cosine(True, W=8), "e must be >= 0"),  # bool is not a number
    (lambda: A.logistic(1, W=0), "W must be a positive number"),
    (lambda: A.cosine(1, W=8, b=1.5), r"b must be a number in \[0, 1\]"),
    (lambda: A.cyclical(1, total_steps=0), "total_steps must be a positive integer"),
    (lambda: A.cyclical(1, total_steps=100, n_cycles=2.5), "n_cycles must be a positive integer"),
    (lambda: A.musicvae(-1), "step must be >= 0"),
    (lambda: A.cyclical(1, total_steps=10, ratio=0), "ratio"),
    (lambda: A.musicvae(1, rate=1.0), "rate"),
    (lambda: A.restart(1, W=8, shape="step"), "shape"),
    (lambda: A.constant(0, beta=-1), "beta must be >= 0"),
    (lambda: A.constant(0, beta=True), "beta must be >= 0"),
])
def test_bad_settings(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
