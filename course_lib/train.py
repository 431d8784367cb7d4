"""The one training loop every chapter uses: data on the device, early stopping, resumable checkpoints.

The same loop runs on several processes under PyTorch's launcher (`torchrun --nproc_per_node N script.py`, with
`init_distributed()` at the top of the script): the model is wrapped in DistributedDataParallel, each global
batch is split between the ranks, losses and metrics are summed over ranks, and only rank 0 writes checkpoints.
"""
from __future__ import annotations

import atexit
import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .io import atomic_path
from .speed import CompileGuard, autocast, choose_precision, compile_wanted, grad_scaler

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch, "TrainState"], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]


@dataclass
class TrainState:
    """Where training is: passed to the loss function so schedules (e.g. beta) can depend on it."""

    epoch: int = 0
    step: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    training: bool = True


@dataclass
class History:
    """Per-epoch records of a run (losses, validation metrics, seconds, peak memory) and its outcome."""

    records: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1  # epochs count from 0
    best_value: float = math.inf
    monitor: str = "val_loss"
    stopped_early: bool = False
    finished: bool = False
    precision: str = "fp32"  # autocast precision of the training steps: 'bf16', 'fp16' (with a scaler) or 'fp32'
    compiled: bool = False  # whether the steps ran a torch.compile'd model (False after a fallback to eager)

    def series(self, key: str) -> list[float]:
        """One column of the history, e.g. history.series('val_loss'). Notebook: 02_fc_vs_conv_autoencoders."""
        return [r[key] for r in self.records if key in r]

    @property
    def epochs_run(self) -> int:
        """Number of epochs trained. Notebook: 02_fc_vs_conv_autoencoders."""
        return len(self.records)

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training time of an epoch (validation excluded). Notebook: 02_fc_vs_conv_autoencoders."""
        t = self.series("time_s")
        return sum(t) / len(t) if t else float("nan")

    @property
    def peak_mem_mb(self) -> float:
        """Highest peak memory recorded at the end of an epoch. Notebook: 02_fc_vs_conv_autoencoders."""
        m = self.series("peak_mem_mb")
        return max(m) if m else float("nan")

    def best(self) -> dict[str, float]:
        """The record of the best epoch. Notebook: 02_fc_vs_conv_autoencoders."""
        return next(r for r in self.records if r["epoch"] == self.best_epoch)

    def to_dict(self) -> dict[str, Any]:
        """The history as plain data (stored in checkpoints)."""
        return {"records": self.records, "best_epoch": self.best_epoch, "best_value": self.best_value,
                "monitor": self.monitor, "stopped_early": self.stopped_early, "finished": self.finished,
                "precision": self.precision, "compiled": self.compiled}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Rebuild a History from to_dict()'s output."""
        return cls(**d)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory since setup(): CUDA max_memory_allocated on GPU, the process's peak resident set on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # macOS reports bytes, Linux KiB


def as_batch(data: torch.Tensor | Sequence[torch.Tensor], device: torch.device) -> Batch:
    """Normalise a tensor or a tuple of tensors (same first dimension) and move it to the device once."""
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors:
        raise ValueError("train: empty data; pass a tensor or a tuple of tensors with the same first dimension")
    n = tensors[0].shape[0]
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"train: data must be tensors, got {type(t).__name__}")
        if t.shape[0] != n:
            raise ValueError(f"train: tensors disagree on the number of examples: {[x.shape[0] for x in tensors]}")
    return tuple(t.to(device, non_blocking=True) for t in tensors)


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimiser steps in one epoch over n examples: ceil(n / batch_size), or floor with drop_last."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)


def _concat(parts: list) -> Any:
    """Concatenate per-batch outputs along the first dimension, keeping their structure (tuple, list, dict)."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    raise TypeError(f"batched_map: cannot concatenate outputs of type {type(first).__name__}")


@torch.no_grad()
def batched_map(fn: Callable[..., Any], *tensors: torch.Tensor, batch_size: int = 256, with_start: bool = False) -> Any:
    """fn over consecutive slices of `tensors` (same first dimension), outputs concatenated, without gradients.

    Outputs may be tensors or tuples, lists and dicts of them. with_start=True also passes `start=` (the index of
    the slice's first row), e.g. to seed a generator per slice.
    """
    if not tensors:
        raise ValueError("batched_map: give at least one tensor")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"batched_map: tensors disagree on the number of rows: {[len(t) for t in tensors]}")
    if batch_size <= 0:
        raise ValueError(f"batched_map: batch_size must be positive, got {batch_size}")
    parts = [fn(*(t[i:i + batch_size] for t in tensors), **({"start": i} if with_start else {}))
             for i in range(0, n, batch_size)]
    if not parts:
        raise ValueError("batched_map: no rows to map over")
    return _concat(parts)


def batches(data: Batch, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True,
            drop_last: bool = False, shard: tuple[int, int] = (0, 1)):
    """Yield batches by index gathers on the device (no per-item Python loading).

    shard=(rank, world): every rank draws the same order and takes every world-th example of each global
    batch; a last global batch with fewer examples than ranks is dropped so that all ranks take the same steps.
    """
    rank, world = shard
    n = data[0].shape[0]
    if shuffle:
        order = torch.randperm(n, generator=generator).to(data[0].device)
    else:
        order = torch.arange(n, device=data[0].device)
    stop = n - (n % batch_size) if drop_last else n
    for i in range(0, stop, batch_size):
        idx = order[i:min(i + batch_size, stop)]
        if world > 1:
            if idx.numel() < world:
                break
            idx = idx[rank::world]
        yield tuple(t.index_select(0, idx) for t in data)


def init_distributed() -> tuple[int, int]:
    """Under torchrun: join the process group (NCCL on GPUs, gloo on CPUs); (rank, world).

    The group is torn down by finish_distributed(), which also runs when the interpreter exits: a process that
    exits with the group still alive can abort in the middle of the other ranks' shutdown.
    """
    import torch.distributed as dist

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(finish_distributed)
    return dist.get_rank(), dist.get_world_size()


def finish_distributed() -> None:
    """Wait for every rank, then destroy the process group (a no-op without one); safe to call twice."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless a process group is running."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _sum_over_ranks(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum scalar tensors over all ranks in one all_reduce (a no-op on one process)."""
    if distributed()[1] == 1 or not values:
        return values
    import torch.distributed as dist

    keys = list(values)
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flat = torch.stack([torch.as_tensor(values[k]).to(dev, torch.float64).reshape(()) for k in keys])
    dist.all_reduce(flat)
    return dict(zip(keys, flat.unbind()))


def _split_loss(out) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and detached logs; values stay tensors (no device sync per step)."""
    if isinstance(out, tuple):
        loss, logs = out
        return loss, {k: (v.detach().float() if isinstance(v, torch.Tensor) else torch.tensor(float(v)))
                      for k, v in logs.items()}
    return out, {}


def nan_check_every(device: torch.device) -> int:
    """Steps between checks of the loss for NaN: every step on a CPU, every 50th elsewhere (a check syncs a GPU)."""
    return 1 if device.type == "cpu" else 50


def _forward_backward(net: nn.Module, loss_fn: LossFn, batch: Batch, state: TrainState, opt: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler, precision: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One step's gradients: zero them, the loss under autocast, backward through the (fp16) scaler; no host sync."""
    opt.zero_grad(set_to_none=True)
    with autocast(batch[0].device, precision):
        loss, logs = _split_loss(loss_fn(net, batch, state))
    scaler.scale(loss).backward()
    return loss, logs


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: Batch, batch_size: int, state: TrainState | None = None,
             amp: bool | str = False) -> dict[str, float]:
    """Mean loss and logged metrics over a dataset, weighted by batch size, model in eval mode.

    amp: the autocast precision as train() takes it (False: float32; 'auto' or True: chosen from the device).
    """
    precision = choose_precision(data[0].device, amp)
    was_training = model.training
    model.eval()
    state = state or TrainState()
    state.training = False
    totals: dict[str, torch.Tensor] = {}
    n = 0
    device = data[0].device
    rank, world = distributed()
    if world > 1:  # each rank evaluates its share; the sums are added up below
        data = tuple(t[rank::world] for t in data)
    for batch in batches(data, batch_size, shuffle=False):
        with autocast(device, precision):
            loss, logs = _split_loss(loss_fn(model, batch, state))
        b = batch[0].shape[0]
        n += b
        for k, v in {"loss": loss.detach().float(), **logs}.items():
            totals[k] = totals.get(k, 0.0) + v.to(device) * b
    model.train(was_training)
    state.training = True
    totals = _sum_over_ranks({"_n": torch.tensor(float(n)), **totals})
    n_all = max(float(totals.pop("_n")), 1.0)
    return {k: float(v) / n_all for k, v in totals.items()}


def _make_optimizer(model: nn.Module, optimizer: str | torch.optim.Optimizer, lr: float, weight_decay: float,
                    betas: tuple[float, float] | None) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    kw: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if betas is not None:
        kw["betas"] = betas
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer in ("adam", "adamw") and params and all(p.is_cuda for p in params):
        kw["fused"] = True  # one fused CUDA kernel for the whole update
    if optimizer == "adam":
        return torch.optim.Adam(params, **kw)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, **kw)
    if optimizer == "sgd":
        kw.pop("betas", None)
        return torch.optim.SGD(params, **kw)
    raise ValueError(f"unknown optimizer {optimizer!r}: use 'adam', 'adamw', 'sgd' or pass a torch optimizer")


class CheckpointError(RuntimeError):
    """A checkpoint that is not loaded, with the file named and the fix stated."""


def save_checkpoint(path: str | os.PathLike, **state: Any) -> Path:
    """Torch.save written atomically: a crash never leaves a half-written checkpoint.

    Store tensors and plain data only (state dicts, numbers, strings, lists, dicts; a History as to_dict()):
    load_checkpoint reads with torch.load(weights_only=True), which refuses pickled Python objects.
    """
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict[str, Any]:
    """A checkpoint written by save_checkpoint, read with torch.load(weights_only=True) (no code runs on load).

    Raises CheckpointError naming the file and the fix when it holds pickled Python objects (an older or foreign
    checkpoint) or cannot be read.
    """
    import pickle

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: holds pickled Python objects, which are not loaded (torch.load(..., weights_only=True) "
            f"refuses them: unpickling can run code; {first[:160]}). Delete it (rm '{path}') or retrain with "
            "resume=False; checkpoints written now store only tensors and plain data.") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).strip()[:200]}). "
                              f"Delete it (rm '{path}') or retrain with resume=False.") from None


def summary_line(hist: History, seconds: float | None = None) -> str:
    """One line for a finished run: epochs, time, the best monitored value and where training stopped."""
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    line = f"{hist.epochs_run} epochs{took}; best {hist.monitor} {hist.best_value:.4g} at epoch {hist.best_epoch}"
    last = hist.records[-1].get(hist.monitor) if hist.records else None
    if last is not None and hist.best_epoch != hist.records[-1]["epoch"]:
        line += f" (last {last:.4g})"
    return line + ("; stopped early" if hist.stopped_early else "")


def show_loss(hist: History) -> None:
    """A small plot of training (and validation) loss against epoch, shown at once; returns nothing."""
    import matplotlib.pyplot as plt

    from .plots import history

    fig, ax = plt.subplots(figsize=(5.5, 2.4))
    history(hist, keys=[k for k in ("train_loss", "val_loss") if hist.series(k)], ax=ax,
            logy=min(hist.series("train_loss") or [1.0]) > 0)
    fig.tight_layout()
    plt.show()
    plt.close(fig)


def train(model: nn.Module, loss_fn: LossFn, train_data: torch.Tensor | Sequence[torch.Tensor],
          val_data: torch.Tensor | Sequence[torch.Tensor] | None = None, *, epochs: int, batch_size: int,
          lr: float = 1e-3, weight_decay: float = 0.0, optimizer: str | torch.optim.Optimizer = "adam",
          betas: tuple[float, float] | None = None, scheduler: str | Callable | None = None,
          patience: int | None = None, min_delta: float = 0.0, monitor: str = "loss",
          checkpoint: str | os.PathLike | None = None, resume: bool = True, restore_best: bool = True,
          device: torch.device | str | None = None, grad_clip: float | None = None, amp: bool | str = "auto",
          seed: int = 0, progress: bool = True, log_epochs: Callable[[int], bool] | None = None,
          on_epoch_end: Callable[[int, dict, nn.Module], None] | None = None, drop_last: bool = False,
          fingerprint: str | None = None, checkpoint_every_s: float = 0.0, compile: bool | str = "auto") -> History:
    """Train `model` by minimising loss_fn(model, batch, state); returns the History.

    Data (a tensor or tuple of tensors) is moved to the device once and batched by index gathers.
    Validation runs every epoch; early stopping watches val `monitor` (train loss without val data)
    with `patience` epochs; `checkpoint` (a path) saves after every epoch atomically and a second run
    with resume=True continues where the first stopped (or returns at once if it had finished).
    scheduler: None, 'plateau' (ReduceLROnPlateau, patience 3, factor 0.5) or a callable optimizer -> scheduler.
    progress: a live progress line while training (left out under COURSE_STATIC=1, where it would only clutter an
    executed notebook) and one summary line at the end. log_epochs: given (any function of the epoch, kept for
    older calls), the end also shows a plot of the training and validation loss; no per-epoch lines are printed.
    checkpoint_every_s: save at most this often (0 = every epoch); the last epoch is always saved. Large models
    on a GPU want a few minutes: a checkpoint holds the weights, the best weights and the optimiser state.
    fingerprint: a string describing settings and data; a checkpoint saved under another fingerprint is ignored
    (training starts afresh) so a changed profile or dataset never resumes a stale run.
    compile: 'auto' follows the measured rule (course_lib.speed.COMPILE_EVIDENCE: on CUDA for the models `make bench`
    found faster compiled; $COURSE_COMPILE=1/0 forces it), True/False force it. A compile failure falls back to
    the eager model with one line printed.
    amp: 'auto' (default) trains in bf16 autocast on GPUs with bf16 (compute capability >= 8), in fp16 with a
    gradient scaler on older ones (T4, V100), in float32 on a CPU; 'bf16', 'fp16', 'fp32' or False force one
    ($COURSE_PRECISION replaces 'auto'). Steps never wait for the GPU: losses are summed on the device and read
    once per epoch (the NaN check reads the loss every nan_check_every(device) steps).
    Under torchrun (after init_distributed()) batch_size is the global batch, split between the processes.
    """
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"train: epochs must be >= 0 and batch_size > 0 (got {epochs}, {batch_size})")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rank, world = distributed()
    net = model
    if world > 1:  # gradients are averaged over ranks; each rank computes on its share of every batch
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)
        progress = progress and rank == 0
    do_compile, why = compile_wanted(model, device, compile)
    guard = CompileGuard.build(net, do_compile)
    if guard.active and progress:
        print(f"torch.compile: on ({why}; COURSE_COMPILE=0 turns it off)")
    check_every = nan_check_every(device)
    precision = choose_precision(device, amp)
    scaler = grad_scaler(device, precision)
    tr = as_batch(train_data, device)
    va = as_batch(val_data, device) if val_data is not None else None
    opt = _make_optimizer(model, optimizer, lr, weight_decay, betas)
    if scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=3, factor=0.5)
    elif callable(scheduler):
        sched = scheduler(opt)
    elif scheduler is None:
        sched = None
    else:
        raise ValueError(f"unknown scheduler {scheduler!r}: None, 'plateau' or a callable")
    mon_key = ("val_" if va is not None else "train_") + monitor
    hist = History(monitor=mon_key)
    state = TrainState(epochs=epochs, steps_per_epoch=steps_per_epoch(tr[0].shape[0], batch_size, drop_last))
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch, bad_epochs = 0, 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    saved = load_checkpoint(ckpt, map_location=device) if ckpt and resume and ckpt.exists() else None
    if saved is not None and saved.get("fingerprint") != fingerprint:
        if progress:
            print(f"{ckpt} was saved with other settings or data: training afresh.")
        saved = None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if sched is not None and saved.get("scheduler") is not None:
            sched.load_state_dict(saved["scheduler"])
        hist = History.from_dict(saved["history"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        best_state = saved.get("best_model")
        start_epoch, bad_epochs, state.step = saved["epoch"] + 1, saved["bad_epochs"], saved["step"]
        if hist.stopped_early:
            start_epoch = epochs
        if progress:
            done = "nothing left to do" if start_epoch >= epochs else f"continuing to epoch {epochs - 1}"
            print(f"Resumed from {ckpt} after epoch {saved['epoch']}: {done}.")
    gen = torch.Generator().manual_seed(seed)
    bar = None
    if progress and start_epoch < epochs and os.environ.get("COURSE_STATIC", "") in ("", "0"):
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start_epoch, desc="epochs", unit="ep")
    t_start = time.perf_counter()
    model.train()
    epoch = start_epoch
    last_save = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        state.epoch = epoch
        gen.manual_seed(seed * 100003 + epoch)  # per-epoch order: identical whether resumed or not
        t0 = time.perf_counter()
        tot, n = torch.zeros((), device=device), 0
        logs_tot: dict[str, torch.Tensor] = {}
        for batch in batches(tr, batch_size, gen, shuffle=True, drop_last=drop_last, shard=(rank, world)):
            loss, logs = guard(lambda m: _forward_backward(m, loss_fn, batch, state, opt, scaler, precision))
            if state.step % check_every == 0 and not torch.isfinite(loss):
                raise FloatingPointError(f"train: loss became {float(loss.detach())} at epoch {epoch}, step {state.step}; "
                                         "lower the learning rate or check the inputs for NaN")
            if grad_clip is not None:
                scaler.unscale_(opt)  # clip the true gradients (a no-op unless fp16)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(opt)  # fp16: skips the step when a gradient is inf/NaN (fused Adam: without a host sync)
            scaler.update()
            state.step += 1
            b = batch[0].shape[0]
            tot += loss.detach().float() * b
            n += b
            for k, v in logs.items():
                logs_tot[k] = logs_tot.get(k, 0.0) + v * b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        summed = _sum_over_ranks({"_tot": tot, "_n": torch.tensor(float(n)), **logs_tot})
        tot, n = summed.pop("_tot"), int(summed.pop("_n"))
        logs_tot = summed
        if not torch.isfinite(tot):
            raise FloatingPointError(f"train: the loss became {float(tot)} during epoch {epoch}; "
                                     "lower the learning rate or check the inputs for NaN")
        rec: dict[str, float] = {"epoch": epoch, "train_loss": float(tot) / max(n, 1)}
        rec.update({f"train_{k}": float(v) / max(n, 1) for k, v in logs_tot.items()})
        rec["time_s"] = time.perf_counter() - t0
        if scaler.is_enabled():
            rec["grad_scale"] = scaler.get_scale()  # fp16: halves at every skipped step
        hist.precision, hist.compiled = precision, guard.active
        if va is not None:
            rec.update({f"val_{k}": v for k, v in evaluate(model, loss_fn, va, batch_size, state, precision).items()})
        rec["lr"] = opt.param_groups[0]["lr"]
        rec["peak_mem_mb"] = peak_memory_mb(device)
        value = rec.get(mon_key, rec["train_loss"])
        improved = value < hist.best_value - min_delta
        if improved:
            hist.best_value, hist.best_epoch, bad_epochs = value, epoch, 0
            if restore_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        rec["best"] = float(improved)
        hist.records.append(rec)
        if sched is not None:
            sched.step(value) if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) else sched.step()
        stop = patience is not None and bad_epochs >= patience
        hist.stopped_early = stop
        hist.finished = stop or epoch == epochs - 1
        if ckpt is not None and rank == 0 and (hist.finished or time.perf_counter() - last_save >= checkpoint_every_s):
            last_save = time.perf_counter()
            save_checkpoint(ckpt, model=model.state_dict(), optimizer=opt.state_dict(),
                            scheduler=sched.state_dict() if sched is not None else None, history=hist.to_dict(),
                            best_model=best_state, epoch=epoch, bad_epochs=bad_epochs, step=state.step,
                            fingerprint=fingerprint, scaler=scaler.state_dict() if scaler.is_enabled() else None)
        if on_epoch_end is not None:
            on_epoch_end(epoch, rec, model)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({**{k: f"{rec[k]:.4g}" for k in ("train_loss", mon_key) if k in rec},
                             "best": f"{hist.best_value:.4g} @ {hist.best_epoch}"})
        if stop:
            break
    if bar is not None:
        bar.close()
    if progress and start_epoch < epochs and hist.records:
        print(summary_line(hist, time.perf_counter() - t_start))
        if log_epochs is not None:
            show_loss(hist)
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist
