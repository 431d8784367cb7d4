"""What a notebook's first cell gets: paths, device, seeding, and a Context that trains, names and checkpoints runs.

`ctx = course_lib.setup(chapter=2)` seeds every generator, picks the device, prints the environment and returns a
Context holding the chapter's sizes (`ctx.cfg`, from `course_lib.sizes`), its seeds and its findings. Every
chapter trains through `ctx.fit(...)`, which adds what each notebook used to write by hand: seeding before the
model is built, one run name, a fingerprint of settings and data (a checkpoint written under other settings is
never resumed) and the checkpoint path build/checkpoints/<chapter>_<profile>_<name>.pt.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from .io import digest
from .sizes import Cfg, chapter_sizes, data_sizes, profile_name, resolve
from .speed import deterministic_wanted, set_deterministic

# the training settings ctx.fit takes from the sizes unless a call gives them
FIT_SIZES = ("epochs", "batch_size", "lr")


def repo_root() -> Path:
    """The repository root (where pyproject.toml lives)."""
    return Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Where datasets are built: $COURSE_DATA, else <repo>/data."""
    return Path(os.environ.get("COURSE_DATA") or repo_root() / "data")


def data_dir(kind: str, profile: str | None = None) -> Path:
    """The folder of one built dataset (`notes`, `melodies`, ...) for a profile."""
    return data_root() / profile_name(profile) / kind


def build_root() -> Path:
    """Where executed notebooks, findings, figures and checkpoints go: $COURSE_BUILD or <repo>/build."""
    return Path(os.environ.get("COURSE_BUILD") or repo_root() / "build")


def pick_device(prefer: str | None = None) -> torch.device:
    """$COURSE_DEVICE, else CUDA, else Apple MPS, else CPU."""
    name = prefer or os.environ.get("COURSE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """A short human name for a device, e.g. 'cpu (2 threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def seed_everything(seed: int = 0, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and torch (all devices); force deterministic kernels or not (course_lib.speed).

    deterministic: True or False sets it; None follows the course's rule for the device pick_device() gives
    (on a CPU yes, on CUDA no unless COURSE_DETERMINISTIC=1; course_lib.speed.deterministic_wanted).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    set_deterministic(deterministic_wanted(pick_device(), deterministic))


def chapter_id(chapter: int | str) -> str:
    """Normalise a chapter number to two digits: 1 -> '01'."""
    return f"{int(chapter):02d}"


def _describe(value: Any) -> str:
    """A stable text for a fingerprint: tensors by shape, dtype and sum; callables by name; the rest by repr."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}:{value.dtype}:{float(value.detach().double().abs().sum()):.9g}"
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(_describe(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_describe(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "}"
    if callable(value) and not isinstance(value, nn.Module):
        return getattr(value, "__qualname__", type(value).__name__)
    return repr(value)


class Run(NamedTuple):
    """A trained model and its training History, as ctx.fit returns them."""

    model: nn.Module
    history: Any  # course_lib.train.History


@dataclass
class Context:
    """What `setup` hands a notebook: chapter, profile, device, the chapter's sizes, seeds, findings; fit and paths."""

    chapter: str
    profile: str
    device: torch.device
    cfg: Cfg
    seeds: list[int]
    data: Cfg
    findings: Any = field(default=None, repr=False)
    deterministic: bool = True  # forced deterministic kernels (setup's choice; course_lib.speed)

    def data_dir(self, kind: str) -> Path:
        """The built dataset `kind` of this profile."""
        return data_dir(kind, self.profile)

    def out_dir(self, name: str) -> Path:
        """A folder for this chapter's files (MIDI, audio): build/<chapter>_<name>/, created."""
        path = build_root() / f"{self.chapter}_{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoint(self, name: str) -> Path:
        """The checkpoint path of run `name`: build/checkpoints/<chapter>_<profile>_<name>.pt."""
        if not name or any(c in name for c in "/\\ ") or name.startswith("."):
            raise ValueError(f"run name {name!r}: use letters, digits, '_', '-', '.' and no spaces or slashes")
        return build_root() / "checkpoints" / f"{self.chapter}_{self.profile}_{name}.pt"

    def seed(self, seed: int | None = None) -> int:
        """Seed every generator with `seed` (default: the chapter's first seed) and return it."""
        seed = self.seeds[0] if seed is None else int(seed)
        seed_everything(seed, self.deterministic)
        return seed

    def fit(self, name: str, model: nn.Module | Callable[[], nn.Module], loss_fn: Callable,
            train_data: torch.Tensor | Sequence[torch.Tensor],
            val_data: torch.Tensor | Sequence[torch.Tensor] | None = None, *, seed: int | None = None,
            sizes: Cfg | dict | None = None, **overrides: Any) -> Run:
        """Train through the one loop (course_lib.train.train), seeded, named, fingerprinted and checkpointed.

        model: a module, or a function of no arguments that builds one; a function is called right after every
        generator is seeded with `seed`, so the initial weights depend on the seed alone (a module passed in is
        trained as it is: seed its construction with ctx.seed). The batch order is drawn from `seed` too.
        epochs, batch_size and lr come from `sizes` (default: the chapter's sizes, ctx.cfg) unless given;
        every other keyword goes to train() (patience, scheduler, grad_clip, progress, ...).
        Returns Run(model, history).
        """
        from .train import train

        seed = self.seeds[0] if seed is None else int(seed)
        if not isinstance(model, nn.Module):
            seed_everything(seed, self.deterministic)
            model = model()
            if not isinstance(model, nn.Module):
                raise TypeError(f"fit {name!r}: the model function returned {type(model).__name__}, not an nn.Module")
        model = model.to(self.device)
        source = self.cfg if sizes is None else sizes
        settings = {k: source[k] for k in FIT_SIZES if k in source}
        settings.update(overrides)
        missing = [k for k in FIT_SIZES if k not in settings]
        if missing:
            raise ValueError(f"fit {name!r}: no {', '.join(missing)} in the sizes; pass them or a `sizes` block")
        fingerprint = digest(self.chapter, self.profile, name, seed, _describe(dict(self.cfg)), repr(model),
                             _describe(settings), _describe(loss_fn), _describe(train_data), _describe(val_data))
        history = train(model, loss_fn, train_data, val_data, seed=seed, checkpoint=self.checkpoint(name),
                        fingerprint=fingerprint, **settings)
        return Run(model, history)


def setup(chapter: int | str, profile: str | None = None, seed: int | None = None, quiet: bool = False,
          deterministic: bool | None = None) -> Context:
    """First cell of every notebook: seed, pick the device, print the environment, return the chapter's Context.

    When any COURSE_<KIND> variable (COURSE_NOTES, COURSE_MELODIES...) is set, it also prints where each kind of
    data comes from (course_lib.data.sources). deterministic: force deterministic kernels (bitwise-repeatable runs);
    default $COURSE_DETERMINISTIC, else on a CPU yes and on CUDA no (seeded, faster kernels; course_lib.speed).
    """
    from .results import Findings

    prof = profile_name(profile)
    ch = chapter_id(chapter)
    cfg = chapter_sizes(ch, prof)
    seeds = list(cfg.get("seeds", resolve(prof)["seeds"]))  # a chapter may set its own
    device = pick_device()
    det = deterministic_wanted(device, deterministic)
    seed_everything(seeds[0] if seed is None else seed, det)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    ctx = Context(chapter=ch, profile=prof, device=device, cfg=cfg, seeds=seeds, data=data_sizes(prof),
                  deterministic=det)
    ctx.findings = Findings(ch, prof, describe_device(device), seeds, device.type)
    from .data import sources, user_data_set

    ctx.findings.data = sources(prof)  # findings say which data they came from (a user's own or built here)
    if not quiet:
        mem = ""
        if device.type == "cuda":
            free, total = torch.cuda.mem_get_info()
            mem = f", GPU memory {free / 2**30:.1f} / {total / 2**30:.1f} GiB free"
        else:
            try:
                import psutil  # optional

                mem = f", RAM {psutil.virtual_memory().available / 2**30:.1f} GiB free"
            except ImportError:
                pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                mem = f", RAM {pages / 2**30:.1f} GiB free"
        fast = " | seeded, not deterministic (COURSE_DETERMINISTIC=1 to force)" if not det else ""
        print(f"Chapter {ch} | profile {prof} | device {describe_device(device)}{mem} | torch {torch.__version__}{fast}")
        if user_data_set():  # a user's own data: say which kinds come from where
            print("Data sources: " + "; ".join(f"{k}: {v}" for k, v in sources(prof).items()))
    return ctx
