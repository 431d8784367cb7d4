"""What every exercise check shares: calling the learner's code safely, printing the verdict, reading answers.

An answer that still raises NotImplementedError is reported as "not attempted yet"; any other error is shown
in one line instead of a traceback.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

NOT_YET = object()  # returned by `call` when the learner's code did not give an answer


def call(fn: Callable, *args: Any, **kw: Any) -> Any:
    """fn(*args, **kw), or NOT_YET after saying why there is no answer (not attempted, or the error raised)."""
    try:
        return fn(*args, **kw)
    except NotImplementedError:
        print("⏳ Not attempted yet: replace the `raise NotImplementedError` line with your code, then run this cell again.")
        return NOT_YET
    except Exception as e:  # show the learner's error without a traceback wall
        print(f"❌ Your code raised {type(e).__name__}: {e}")
        return NOT_YET


def verdict(ok: bool, good: str, bad: str) -> bool:
    """Print `good` after ✅ or `bad` after ❌, and return ok."""
    print(("✅ " + good) if ok else ("❌ " + bad))
    return ok


def float_tensor(x: Any) -> torch.Tensor | None:
    """A learner's answer as a detached float32 tensor, or None when it is not numbers."""
    try:
        return torch.as_tensor(x.detach() if isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        return None


def call_tensor(fn: Callable, *args: Any, not_numbers: str) -> Any:
    """fn(*args) as a float32 tensor, or NOT_YET after saying why not (`not_numbers` when it is not numbers)."""
    got = call(fn, *args)
    if got is NOT_YET:
        return NOT_YET
    got = float_tensor(got)
    if got is None:
        verdict(False, "", not_numbers)
        return NOT_YET
    return got


def number(x: Any) -> float | None:
    """A learner's answer as a float, or None when it is not a number."""
    try:
        return float(x)
    except (TypeError, ValueError, RuntimeError):
        return None


def tensor_list(x: Any, n: int) -> list[torch.Tensor] | None:
    """A learner's answer as a list of n float32 tensors, or None when it is not n tensors of numbers."""
    if not isinstance(x, (tuple, list)) or len(x) != n:
        return None
    out = [float_tensor(v) for v in x]
    return None if any(v is None for v in out) else out
