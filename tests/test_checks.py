import math

import numpy as np
import pytest

from course_lib import checks


@pytest.mark.parametrize("good", [1, 7, np.int64(3)])
def test_positive_int_accepts_integers_and_returns_int(good):
    out = checks.positive_int("n", good)
    assert out == int(good) and type(out) is int


@pytest.mark.parametrize("bad", [0, -1, 1.0, True, "3", None])
def test_positive_int_refuses_with_the_name(bad):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        checks.positive_int("steps", bad)


def test_non_negative_int_takes_zero_not_minus_one():
    assert checks.non_negative_int("k", 0) == 0
    with pytest.raises(ValueError, match="k must be a non-negative integer"):
        checks.non_negative_int("k", -1)


@pytest.mark.parametrize("bad", [0, -0.5, math.nan, True, "1"])
def test_positive_real_refuses_zero_nan_bool(bad):
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        checks.positive_real("sigma", bad)
    assert checks.positive_real("sigma", np.float32(0.5)) == 0.5


def test_probability_bounds():
    assert checks.probability("p", 0) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        checks.probability("p", 1)
    assert checks.probability("p", 1, include_one=True) == 1.0
    for bad in (-0.1, math.nan, True, 1.5):
        with pytest.raises(ValueError):
            checks.probability("p", bad, include_one=True)


def test_index_names_the_classes():
    assert checks.index("melody", np.int32(2), 8) == 2
    with pytest.raises(ValueError, match=r"melody must be an index in 0..7 \(up, down\), got 8"):
        checks.index("melody", 8, 8, "up, down")
    with pytest.raises(ValueError):
        checks.index("melody", False, 8)


def test_is_int_and_is_real():
    assert checks.is_int(np.int8(1)) and not checks.is_int(True) and not checks.is_int(1.0)
    assert checks.is_real(1) and checks.is_real(np.float64(2)) and not checks.is_real(False)


def test_non_negative_real():
    assert checks.non_negative_real("beta", 0) == 0.0
    for bad in (-1e-9, math.nan, True, "0"):
        with pytest.raises(ValueError, match="beta must be >= 0"):
            checks.non_negative_real("beta", bad)
