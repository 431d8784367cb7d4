"""What the two sequence VAEs share: the decode contract, the loss, and the helpers around them.

Models: `lstm_vae.MelodyVAE` (notebooks 05 and 06) and `transformer_vae.TransformerVAE` (notebook 07). Both follow
`SequenceVAE`:
- `encode(tokens)` -> (mu, logvar), each (batch, latent);
- `decode(z, tokens, word_dropout=0.0, generator=None)` -> logits (batch, steps, vocab), TEACHER-FORCED and aligned
  with the tokens: logits[:, t] scores tokens[:, t] given tokens[:, :t] and z;
- `forward(tokens, teacher_forcing=1.0, word_dropout=0.0)` -> (logits, mu, logvar).
Decoding from the model's own draws has its own names: `MelodyVAE.decode_stepwise` (scheduled sampling and
free-running) and `sample` / `reconstruct` on both models.

Forward passes check shapes and dtypes only, so a training step never waits for the GPU. Token VALUES are checked
once, where data enters, with `check_tokens`.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import index, is_int, non_negative_int, positive_int, probability
from ..losses import FREE_BITS_MODES, free_bits_kl, gaussian_kl, sequence_nll

Number = float | int
ScheduleOr = Number | Callable[[int], float]


class SequenceVAE(Protocol):
    """The interface `make_loss`, `encode_all` and `z_sensitivity` rely on (MelodyVAE and TransformerVAE)."""

    latent: int
    device: torch.device

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode(self, z: torch.Tensor, tokens: torch.Tensor, word_dropout: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor: ...


# ------------------------------------------------------------------------------------------------- helpers

@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block, the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def as_tokens(tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A token array or tensor as a tensor (no copy where none is needed)."""
    return torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens)


def chunks(tokens: torch.Tensor, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Consecutive batches of at most batch_size rows, each moved to device."""
    batch_size = positive_int("batch_size", batch_size)
    for i in range(0, tokens.shape[0], batch_size):
        yield tokens[i:i + batch_size].to(device)


def draw_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of logits (B, V): argmax at temperature 0, else a draw from softmax(logits / temperature).

    The draw is made on the generator's device (the logits' device without one) and returned on the logits' device.
    """
    if temperature == 0:
        return logits.argmax(-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)
    where = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(where), 1, generator=generator).squeeze(1).to(logits.device)


def token_tensor(tokens: object, shape: str) -> torch.Tensor:
    """tokens as an integer tensor, else ValueError; `shape` is the expected shape in words (for the message)."""
    if not isinstance(tokens, torch.Tensor):
        raise ValueError(f"tokens must be a torch tensor {shape}, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be integers, got dtype {tokens.dtype}")
    return tokens


def check_tokens(tokens: np.ndarray | torch.Tensor, vocab_size: int, name: str = "tokens",
                 pad: int | None = None) -> None:
    """ValueError unless tokens (batch, steps) are integers in 0..vocab_size-1 (and, with pad, no row is all pad).

    Run it once where data enters (it reads the values, so on a GPU it waits for them); the models' forward
    passes check shapes only. Notebooks: 05_kl_annealing, 06_lstm_vae_melodies, 07_transformer_vae_automation.
    """
    vocab_size = positive_int("vocab_size", vocab_size)
    if pad is not None:
        index("pad", pad, vocab_size)
    t = as_tokens(tokens)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{name}: tokens must be integers, got dtype {t.dtype}")
    if t.dim() != 2:
        raise ValueError(f"{name}: tokens must have shape (batch, steps), got {tuple(t.shape)}")
    bad = (t < 0) | (t >= vocab_size)
    if bad.any():
        raise ValueError(f"{name}: token {int(t[bad][0])} is outside the vocabulary 0..{vocab_size - 1}")
    if pad is not None and t.shape[1] > 0:
        empty = (t == pad).all(1)
        if empty.any():
            raise ValueError(f"{name}: sequence {int(empty.nonzero()[0])} is all PAD ({pad}); every sequence needs "
                             "at least one token (normally BOS ... EOS)")


# ---------------------------------------------------------------------------------------------------- loss

def _value(x: ScheduleOr, at: int) -> float:
    """A number, or a schedule read at step / epoch `at`."""
    return float(x(at)) if callable(x) else float(x)


def make_loss(beta: ScheduleOr = 1.0, free_nats: float = 0.0, free_bits_mode: str = "total",
              teacher_forcing: ScheduleOr = 1.0, per_epoch: bool = False, word_dropout: float = 0.0,
              pad_token: int | None = None) -> Callable:
    """loss_fn(model, batch, state) for `train`: sum-over-steps NLL + beta * KL (optional free bits).

    Notebook: 05_kl_annealing (also 06 and 07). The model follows `SequenceVAE`: forward(tokens,
    teacher_forcing=..., [word_dropout=...]) -> (logits, mu, logvar) with logits[:, t] scoring tokens[:, t], so the
    loss needs no model-specific target handling and works the same on a DDP- or torch.compile-wrapped model.
    word_dropout (training only) blanks that share of the decoder's input tokens (Bowman et al. 2016).
    pad_token (padded sequences): targets equal to it add nothing to the NLL and are left out of the logged "acc";
    None (the default) scores every step.
    """
    if pad_token is not None and not is_int(pad_token):
        raise ValueError(f"pad_token must be an integer token id or None, got {pad_token!r}")
    probability("word_dropout", word_dropout)
    if free_bits_mode not in FREE_BITS_MODES:
        raise ValueError(f"free_bits_mode must be one of {FREE_BITS_MODES}, got {free_bits_mode!r}")
    if not free_nats >= 0:
        raise ValueError(f"free_nats must be >= 0, got {free_nats}")
    if not callable(beta) and not beta >= 0:
        raise ValueError(f"beta must be >= 0 or a schedule, got {beta}")
    if not callable(teacher_forcing):
        probability("teacher_forcing", teacher_forcing, include_one=True)

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...], state) -> tuple[torch.Tensor, dict]:
        tokens = batch[0]
        at = state.epoch if per_epoch else state.step
        b = _value(beta, at)
        p = _value(teacher_forcing, at) if state.training else 1.0
        extra = {"word_dropout": word_dropout} if word_dropout and state.training else {}
        logits, mu, logvar = model(tokens, teacher_forcing=p, **extra)
        nll = sequence_nll(logits, tokens, ignore_index=pad_token)
        loss = nll.mean() + b * free_bits_kl(mu, logvar, free_nats, free_bits_mode)
        hits = logits.argmax(-1) == tokens
        if pad_token is None:
            acc = hits.float().mean()
        else:
            scored = tokens != pad_token
            acc = (hits & scored).sum().float() / scored.sum().clamp_min(1).float()
        logs = {"recon": nll.mean().detach(), "kl": gaussian_kl(mu, logvar).mean().detach(),
                "beta": torch.tensor(b, device=loss.device), "acc": acc.detach()}
        return loss, logs

    return loss_fn


# ------------------------------------------------------------------------------------------- evaluation

@torch.no_grad()
def encode_all(model: SequenceVAE, tokens: np.ndarray | torch.Tensor,
               batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of every sequence, encoded in batches in eval mode, returned on the CPU.

    Notebooks: 05_kl_annealing, 06_lstm_vae_melodies, 07_transformer_vae_automation.
    """
    mus, logvars = [], []
    with evaluating(model):
        for x in chunks(as_tokens(tokens), batch_size, model.device):
            mu, logvar = model.encode(x)
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    if not mus:
        return torch.zeros(0, model.latent), torch.zeros(0, model.latent)
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def z_sensitivity(model: SequenceVAE, tokens: np.ndarray | torch.Tensor, batch_size: int = 512,
                  pad: int | None = None) -> dict[str, float]:
    """How much the decoder reads z: argmax changes and KL per step when each sequence gets the previous row's mu.

    Teacher-forced decoding from z = mu, in eval mode. "changed": the share of steps whose argmax differs;
    "kl": KL(p_own || p_other) per step, in nats. pad=None scores every step (melody tokens, where 0 is a real
    token); pad=id scores only the steps whose token is not pad (padded sequences: `pad=TransformerVAE.pad`).
    Notebooks: 05_kl_annealing, 07_transformer_vae_automation.
    """
    if pad is not None:
        non_negative_int("pad", pad)
    tokens = as_tokens(tokens)
    changed, kl, total = 0.0, 0.0, 0
    with evaluating(model):
        mus = [model.encode(x)[0] for x in chunks(tokens, batch_size, model.device)]
        if not mus:
            return {"changed": 0.0, "kl": 0.0}
        mu_all = torch.cat(mus)
        other_all = torch.roll(mu_all, 1, dims=0)
        for i, x in enumerate(chunks(tokens, batch_size, model.device)):
            rows = slice(i * batch_size, i * batch_size + x.shape[0])
            own = F.log_softmax(model.decode(mu_all[rows], x).float(), dim=-1)
            other = F.log_softmax(model.decode(other_all[rows], x).float(), dim=-1)
            if pad is None:
                changed += float((own.argmax(-1) != other.argmax(-1)).sum())
                kl += float((own.exp() * (own - other)).sum())
                total += x.numel()
            else:
                scored = x != pad
                changed += float((own.argmax(-1) != other.argmax(-1))[scored].sum())
                kl += float((own.exp() * (own - other)).sum(-1)[scored].sum())
                total += int(scored.sum())
    return {"changed": changed / max(total, 1), "kl": kl / max(total, 1)}
