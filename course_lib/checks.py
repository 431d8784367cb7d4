"""The shared argument validators: one message style, bool never passes as a number, NaN never as a bound.

Each returns the value converted to a plain Python number, so callers can write `n = positive_int("n", n)`.
These check Python-side arguments (sizes, rates, probabilities); they never read a tensor's values, so
calling them costs no device synchronisation.
"""
from __future__ import annotations

import numbers


def is_int(value: object) -> bool:
    """True for a Python or NumPy integer, False for bool and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """True for a Python or NumPy real number (integers included), False for bool and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name: str, value: object) -> int:
    """`value` as an int > 0, else ValueError naming `name`."""
    if not is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """`value` as an int >= 0, else ValueError naming `name`."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_real(name: str, value: object) -> float:
    """`value` as a float > 0 (NaN refused), else ValueError naming `name`."""
    if not is_real(value) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def non_negative_real(name: str, value: object) -> float:
    """`value` as a float >= 0 (NaN refused), else ValueError naming `name`."""
    if not is_real(value) or not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def probability(name: str, value: object, include_one: bool = False) -> float:
    """`value` as a float in [0, 1) (or [0, 1] with include_one), else ValueError naming `name`."""
    ok = is_real(value) and (0 <= value <= 1 if include_one else 0 <= value < 1)
    if not ok:
        raise ValueError(f"{name} must be a number in [0, {'1]' if include_one else '1)'}, got {value!r}")
    return float(value)


def index(name: str, value: object, n: int, names: str = "") -> int:
    """`value` as an int in 0..n-1, else ValueError naming `name` (and, when given, what the indices mean)."""
    if not is_int(value) or not 0 <= int(value) < n:
        extra = f" ({names})" if names else ""
        raise ValueError(f"{name} must be an index in 0..{n - 1}{extra}, got {value!r}")
    return int(value)
