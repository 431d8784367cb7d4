"""Beta schedules for the KL term of a VAE (Chapter 05): each is a plain function of the step (or epoch) number.

Paper 002 steps its schedules once per epoch e with a warm-up of W epochs and a baseline b (t = e / W);
Fu et al. (2019) repeat a linear ramp in M cycles; MusicVAE approaches its maximum beta exponentially.
`make_schedule(name, **kw)` turns any of them into a callable step -> beta, which a loss function reads
through the training loop's TrainState.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

Schedule = Callable[[int], float]
SCHEDULES = ("constant", "linear", "cosine", "logistic", "cyclical", "restart", "musicvae")


def _step(e: float) -> float:
    if not e >= 0:  # also refuses NaN
        raise ValueError(f"the step / epoch must be >= 0, got {e}")
    return float(e)


def _warmup(W: float) -> float:
    if not W > 0:
        raise ValueError(f"the warm-up W must be > 0, got {W}")
    return float(W)


def _baseline(b: float) -> float:
    if not 0 <= b <= 1:
        raise ValueError(f"the baseline b must lie in [0, 1], got {b}")
    return float(b)


def constant(e: float, beta: float = 1.0) -> float:
    """Chapter 05. The plain (beta-)ELBO: the same beta at every step."""
    _step(e)
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return float(beta)


def linear(e: float, W: float, b: float = 0.0) -> float:
    """Chapter 05. Paper 002's linear warm-up: b + (1 - b) t with t = min(e / W, 1)."""
    t = min(_step(e) / _warmup(W), 1.0)
    b = _baseline(b)
    return b + (1 - b) * t


def cosine(e: float, W: float, b: float = 0.0) -> float:
    """Chapter 05. Paper 002's cosine warm-up: b + (1 - b) (cos(pi (t - 1)) + 1) / 2 with t = min(e / W, 1)."""
    t = min(_step(e) / _warmup(W), 1.0)
    b = _baseline(b)
    return b + (1 - b) * (math.cos(math.pi * (t - 1)) + 1) / 2


def logistic(e: float, W: float, b: float = 0.0) -> float:
    """Chapter 05. Paper 002's logistic warm-up: b + (1 - b) / (1 + exp(W / 2 - e)), centred on e = W / 2.

    It is not clamped: at e = W it is still short of 1 (0.98381 for W = 8, b = 0.1, the paper's last logged value).
    """
    e, W, b = _step(e), _warmup(W), _baseline(b)
    return b + (1 - b) / (1 + math.exp(W / 2 - e))


def cyclical(step: float, total_steps: int, n_cycles: int = 4, ratio: float = 0.5, beta_max: float = 1.0) -> float:
    """Chapter 05. Fu et al. (2019): n_cycles cycles over total_steps; in each, beta rises linearly from 0 to
    beta_max over the first `ratio` of the cycle and stays there for the rest."""
    step = _step(step)
    if total_steps <= 0 or n_cycles <= 0:
        raise ValueError(f"total_steps and n_cycles must be > 0, got {total_steps} and {n_cycles}")
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}")
    period = total_steps / n_cycles
    tau = (step % period) / period
    return float(beta_max) * min(tau / ratio, 1.0)


def restart(e: float, W: float, b: float = 0.0, shape: str = "logistic") -> float:
    """Chapter 05. Paper 002's "cyclical" schedule: one of its warm-ups with the epoch restarted every W epochs (e mod W)."""
    fn = {"linear": linear, "cosine": cosine, "logistic": logistic}.get(shape)
    if fn is None:
        raise ValueError(f"shape must be 'linear', 'cosine' or 'logistic', got {shape!r}")
    W = _warmup(W)
    return fn(_step(e) % W, W, b)


def musicvae(step: float, rate: float = 0.99999, beta_max: float = 0.2) -> float:
    """Chapter 05. MusicVAE's schedule: (1 - rate^step) * beta_max, an exponential approach to beta_max."""
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    return (1 - float(rate) ** _step(step)) * float(beta_max)


def make_schedule(name: str, **kw) -> Schedule:
    """Chapter 05. A schedule by name with its settings fixed: make_schedule('logistic', W=8, b=0.1)(4) == 0.55."""
    fns = {"constant": constant, "linear": linear, "cosine": cosine, "logistic": logistic, "cyclical": cyclical,
           "restart": restart, "musicvae": musicvae}
    if name not in fns:
        raise ValueError(f"unknown schedule {name!r}; use one of {', '.join(SCHEDULES)}")
    fn = fns[name]
    fn(0, **kw)  # fail now, with the function's own message, if a setting is missing or out of range

    def schedule(step: float) -> float:
        return fn(step, **kw)

    schedule.__name__ = name
    schedule.settings = dict(kw)  # type: ignore[attr-defined]
    return schedule


def values(schedule: Schedule, n: int, start: int = 0) -> np.ndarray:
    """Chapter 05. The schedule at steps start, ..., start + n - 1 as a float64 array (for plots and tests)."""
    return np.array([schedule(s) for s in range(start, start + int(n))], dtype=np.float64)
