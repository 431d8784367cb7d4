"""Fast defaults on CUDA and the switches that override them: determinism, torch.compile, mixed precision.

On a CUDA device the course runs seeded but not forced-deterministic kernels, compiles the models for which
`make bench` measured a gain (COMPILE_EVIDENCE below, the rule shipped as data with its source) and trains in
bf16 autocast where the GPU has bf16 tensor cores (compute capability 8.0 and newer: A100, H100, RTX 30xx/40xx)
and in fp16 with a gradient scaler where it does not (T4, V100: free Colab). On a CPU nothing changes: deterministic
kernels, no compile, float32. Switches (environment variables; a function argument given explicitly wins):

  COURSE_DETERMINISTIC=1   bitwise-repeatable runs on CUDA too (slower kernels); =0 turns it off on a CPU as well
  COURSE_COMPILE=1|0       compile every model / none (default: the measured rule on CUDA, never on a CPU)
  COURSE_PRECISION=bf16|fp16|fp32   force the autocast precision (default: chosen from the device)
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any, Callable

import torch
from torch import nn

# The rule for torch.compile, as measured: one NVIDIA H100 80GB HBM3, torch 2.11.0+cu130, `make bench PROFILE=gpu
# BENCH_ARGS=--compile` (median of 3 x 5 training steps after warm-up), reported in issue 20. A model class is
# compiled on CUDA when every bench row of that class got at least MIN_SPEEDUP faster; classes never measured are
# not compiled (no evidence). Add rows here when `make bench` measures more models.
COMPILE_EVIDENCE: dict[str, Any] = {
    "source": "issue 20: make bench PROFILE=gpu --compile on one NVIDIA H100 80GB HBM3, torch 2.11.0+cu130",
    "min_speedup": 1.2,
    "rows": [  # (model class, bench row, eager ms / step, compiled ms / step)
        ("FCAutoencoder", "ch02_fc (paper-exact, batch 40)", 8.65, 8.3),
        ("ConvAutoencoder", "ch02_conv (paper-exact, batch 40)", 17.9, 17.5),
        ("SpectrogramAE", "ch03_paper_ae (n_fft 1500, hop 250, 4 s, batch 64)", 64.2, 23.4),
        ("SpectrogramAE", "ch04_vae (batch 64)", 34.6, 13.6),
    ],
}
# channels-last memory format: not used; no bench has measured it for these models.


def _env_flag(name: str) -> bool | None:
    """An on/off environment switch: True for 1/true/yes/on, False for 0/false/no/off, None when unset or 'auto'."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={os.environ[name]!r}: use 1 or 0 (or unset it for the default)")


def deterministic_wanted(device: torch.device, requested: bool | None = None) -> bool:
    """Whether to force deterministic kernels: `requested`, else $COURSE_DETERMINISTIC, else on everywhere but CUDA."""
    if requested is not None:
        return bool(requested)
    env = _env_flag("COURSE_DETERMINISTIC")
    return env if env is not None else device.type != "cuda"


def set_deterministic(on: bool) -> None:
    """Turn torch's deterministic algorithms (and cuDNN's) on or off for the whole process."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for deterministic matmuls
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = on
    torch.use_deterministic_algorithms(on, warn_only=True)


def compile_speedups(model_class: str) -> list[float]:
    """The measured eager / compiled step-time ratios of a model class (empty when never measured)."""
    return [eager / comp for cls, _, eager, comp in COMPILE_EVIDENCE["rows"] if cls == model_class]


def compile_wanted(model: nn.Module, device: torch.device, requested: bool | str = "auto") -> tuple[bool, str]:
    """(compile?, why): `requested` True/False, else $COURSE_COMPILE, else on CUDA the measured rule, else no."""
    if requested not in ("auto", None):
        return bool(requested), "asked for" if requested else "turned off"
    env = _env_flag("COURSE_COMPILE")
    if env is not None:
        return env, f"COURSE_COMPILE={int(env)}"
    name = type(model).__name__
    if device.type != "cuda":
        return False, f"no compile on {device.type} (measured only on CUDA)"
    gains = compile_speedups(name)
    if not gains:
        return False, f"{name} not measured by make bench"
    ok = min(gains) >= COMPILE_EVIDENCE["min_speedup"]
    return ok, f"{name}: measured {min(gains):.2f}x{'' if ok else ' (under ' + str(COMPILE_EVIDENCE['min_speedup']) + 'x)'}"


def choose_precision(device: torch.device, amp: bool | str = "auto",
                     capability: tuple[int, int] | None = None) -> str:
    """'bf16', 'fp16' or 'fp32' for training on `device`.

    amp: 'auto' (or True) picks from the device: on CUDA bf16 from compute capability 8.0 on, fp16 (with a gradient
    scaler) before it; float32 elsewhere. False means 'fp32'; 'bf16', 'fp16', 'fp32' force that precision.
    $COURSE_PRECISION replaces 'auto'. capability: the GPU's (major, minor), read from the device when not given.
    """
    if amp is False:
        return "fp32"
    if amp in ("auto", True, None):
        amp = os.environ.get("COURSE_PRECISION", "").strip().lower() or "auto"
    if amp in ("bf16", "fp16", "fp32"):
        return amp
    if amp != "auto":
        raise ValueError(f"amp={amp!r}: use 'auto', True, False, 'bf16', 'fp16' or 'fp32'")
    if device.type != "cuda":
        return "fp32"
    major, _ = capability if capability is not None else torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str):
    """The autocast context for a precision ('fp32': none)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for fp16 only (a disabled one passes losses and steps through unchanged)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def _failed(e: Exception) -> str:
    """The one line said when torch.compile fails, naming the root cause (a backend's own exception)."""
    cause = getattr(e, "inner_exception", None) or e.__cause__
    what = f"{type(e).__name__}" + (f" from {type(cause).__name__}" if cause is not None else "")
    first = (str(cause if cause is not None else e).strip().splitlines() or [""])[0][:160]
    return f"torch.compile failed ({what}: {first}); training on without it (eager)."


class CompileGuard:
    """Calls a step with the compiled model until compiling fails once, then with the eager model (one line said)."""

    def __init__(self, eager: nn.Module, compiled: nn.Module | None, say: Callable[[str], Any] = print) -> None:
        self.eager, self.compiled, self.say = eager, compiled, say

    @classmethod
    def build(cls, net: nn.Module, wanted: bool, say: Callable[[str], Any] = print) -> "CompileGuard":
        """A guard around torch.compile(net) when wanted (a failing torch.compile call: said, then eager)."""
        compiled = None
        if wanted:
            try:
                compiled = torch.compile(net)
            except Exception as e:  # noqa: BLE001 - e.g. a Python version this torch cannot compile for
                say(_failed(e))
        return cls(net, compiled, say)

    @property
    def active(self) -> bool:
        """Whether the compiled model is still in use."""
        return self.compiled is not None

    def __call__(self, step: Callable[[nn.Module], Any]) -> Any:
        """step(model) with the compiled model; on an exception, once: say why and redo it with the eager model."""
        if self.compiled is None:
            return step(self.eager)
        try:
            return step(self.compiled)
        except Exception as e:  # noqa: BLE001 - any compile failure; a real error comes back from the eager retry
            self.say(_failed(e))
            self.compiled = None
            return step(self.eager)
