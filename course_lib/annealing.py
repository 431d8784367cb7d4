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

from .checks import is_real, non_negative_real, positive_int, positive_real, probability

Schedule = Callable[[int], float]
SCHEDULES = ("constant", "linear", "cosine", "logistic", "cyclical", "restart", "musicvae")


def constant(e: float, beta: float = 1.0) -> float:
    """The plain (beta-)ELBO: the same beta at every step."""
    non_negative_real("e", e)
    return non_negative_real("beta", beta)


def linear(e: float, W: float, b: float = 0.0) -> float:
    """Paper 002's linear warm-up: b + (1 - b) t with t = min(e / W, 1). Notebook: 07_transformer_vae_automation."""
    t = min(non_negative_real("e", e) / positive_real("W", W), 1.0)
    b = probability("b", b, include_one=True)
    return b + (1 - b) * t


def cosine(e: float, W: float, b: float = 0.0) -> float:
    """Paper 002's cosine warm-up: b + (1 - b) (cos(pi (t - 1)) + 1) / 2 with t = min(e / W, 1).
    """
    t = min(non_negative_real("e", e) / positive_real("W", W), 1.0)
    b = probability("b", b, include_one=True)
    return b + (1 - b) * (math.cos(math.pi * (t - 1)) + 1) / 2


def logistic(e: float, W: float, b: float = 0.0) -> float:
    """Paper 002's logistic warm-up: b + (1 - b) / (1 + exp(W / 2 - e)), centred on e = W / 2.

    It is not clamped: at e = W it is still short of 1 (0.98381 for W = 8, b = 0.1, the paper's last logged value).

    Notebook: 05_kl_annealing
    """
    e, W, b = non_negative_real("e", e), positive_real("W", W), probability("b", b, include_one=True)
    return b + (1 - b) / (1 + math.exp(W / 2 - e))


def cyclical(step: float, total_steps: int, n_cycles: int = 4, ratio: float = 0.5, beta_max: float = 1.0) -> float:
    """Fu et al. (2019): n_cycles cycles over total_steps; in each, beta rises linearly from 0 to
    beta_max over the first `ratio` of the cycle and stays there for the rest.

    Notebook: 05_kl_annealing
    """
    step = non_negative_real("step", step)
    total_steps, n_cycles = positive_int("total_steps", total_steps), positive_int("n_cycles", n_cycles)
    if not is_real(ratio) or not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}")
    period = total_steps / n_cycles
    tau = (step % period) / period
    return float(beta_max) * min(tau / ratio, 1.0)


def restart(e: float, W: float, b: float = 0.0, shape: str = "logistic") -> float:
    """Paper 002's "cyclical" schedule: one of its warm-ups with the epoch restarted every W epochs (e mod W).

    Notebook: 05_kl_annealing
    """
    fn = {"linear": linear, "cosine": cosine, "logistic": logistic}.get(shape)
    if fn is None:
        raise ValueError(f"shape must be 'linear', 'cosine' or 'logistic', got {shape!r}")
    W = positive_real("W", W)
    return fn(non_negative_real("e", e) % W, W, b)


def musicvae(step: float, rate: float = 0.99999, beta_max: float = 0.2) -> float:
    """MusicVAE's schedule: (1 - rate^step) * beta_max, an exponential approach to beta_max.
    """
    if not is_real(rate) or not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    return (1 - float(rate) ** non_negative_real("step", step)) * float(beta_max)


def make_schedule(name: str, **kw) -> Schedule:
    """A schedule by name with its settings fixed: make_schedule('logistic', W=8, b=0.1)(4) == 0.55.

    Notebook: 05_kl_annealing
    """
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
    """The schedule at steps start, ..., start + n - 1 as a float64 array (for plots and tests).

    Notebook: 05_kl_annealing
    """
    return np.array([schedule(s) for s in range(start, start + int(n))], dtype=np.float64)
