"""MusicVAE-style recurrent VAE over melody tokens (Chapters 05 and 06).

Tokens are the 90 MusicVAE melody classes of `course_lib.midi` (0 hold, 1 note-off, 2..89 note-ons) on a
16th-note grid. Encoder: a bidirectional LSTM whose two final hidden states give mu and logvar. Decoder: an
autoregressive LSTM fed the previous token and z ("flat"), or MusicVAE's hierarchical decoder, where a conductor
LSTM turns z into one embedding c_b per bar and the bottom LSTM restarts from c_b at every bar. The previous
token always carries on, across bars too; START (index 90) is the input of step 0 only.

Teacher forcing p is the chance, per sequence and step, of feeding the true previous token rather than the
model's own draw (scheduled sampling). With p = 1 the decoder runs in one LSTM call per segment (fast path);
otherwise it loops step by step.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..losses import FREE_BITS_MODES, free_bits_kl, gaussian_kl, reparameterize, sequence_nll
from ..midi import N_MELODY_TOKENS

START = N_MELODY_TOKENS  # 90: the decoder's input at step 0 (the embedding table has n_tokens + 1 rows)

Number = float | int
ScheduleOr = Number | Callable[[int], float]


def _init_state(linear: nn.Linear, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(h0, c0) for a 1-layer LSTM: tanh(Linear(ctx)) split in two halves, each (1, B, hidden)."""
    h, c = torch.tanh(linear(ctx)).chunk(2, dim=-1)
    return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()


def _draw(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else a sample of softmax(logits / temperature)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


class MelodyVAE(nn.Module):
    """Chapter 06. MusicVAE-style LSTM VAE on melody tokens: BiLSTM encoder, Gaussian z, flat or hierarchical LSTM."""

    def __init__(self, seq_len: int, n_tokens: int = N_MELODY_TOKENS, embed: int = 64, enc_hidden: int = 256,
                 dec_hidden: int = 256, latent: int = 128, hierarchical: bool = False, bar_steps: int = 16,
                 conductor_hidden: int = 256, conductor_out: int = 128) -> None:
        super().__init__()
        sizes = {"seq_len": seq_len, "n_tokens": n_tokens, "embed": embed, "enc_hidden": enc_hidden,
                 "dec_hidden": dec_hidden, "latent": latent, "bar_steps": bar_steps,
                 "conductor_hidden": conductor_hidden, "conductor_out": conductor_out}
        bad = {k: v for k, v in sizes.items() if int(v) < 1}
        if bad:
            raise ValueError(f"MelodyVAE sizes must be positive integers, got {bad}")
        if hierarchical and seq_len % bar_steps:
            raise ValueError(f"a hierarchical decoder needs seq_len divisible by bar_steps, got seq_len={seq_len} "
                             f"and bar_steps={bar_steps} ({seq_len} / {bar_steps} is not a whole number of bars)")
        self.seq_len, self.n_tokens, self.latent = int(seq_len), int(n_tokens), int(latent)
        self.hierarchical = bool(hierarchical)
        self.bar_steps = int(bar_steps) if hierarchical else int(seq_len)  # length of one decoder segment
        self.n_bars = self.seq_len // self.bar_steps
        self.start = self.n_tokens  # START's row in the shared embedding table
        self.embedding = nn.Embedding(self.n_tokens + 1, embed)
        self.encoder = nn.LSTM(embed, enc_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * enc_hidden, latent)
        self.to_logvar = nn.Linear(2 * enc_hidden, latent)
        ctx = latent
        if hierarchical:
            self.conductor_init = nn.Linear(latent, 2 * conductor_hidden)
            self.conductor = nn.LSTM(1, conductor_hidden, batch_first=True)  # its input is all zeros
            self.to_bar = nn.Linear(conductor_hidden, conductor_out)
            ctx = conductor_out
        self.decoder_init = nn.Linear(ctx, 2 * dec_hidden)
        self.decoder = nn.LSTM(embed + ctx, dec_hidden, batch_first=True)
        self.to_logits = nn.Linear(dec_hidden, self.n_tokens)

    @property
    def device(self) -> torch.device:
        """Chapter 06. The device of the model's parameters."""
        return next(self.parameters()).device

    def _check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor):
            raise ValueError(f"tokens must be a torch tensor (batch, {self.seq_len}), got {type(tokens).__name__}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise ValueError(f"tokens must be integers, got dtype {tokens.dtype}")
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must have shape (batch, {self.seq_len}), got {tuple(tokens.shape)}")
        bad = (tokens < 0) | (tokens >= self.n_tokens)
        if bad.any():
            raise ValueError(f"token {int(tokens[bad][0])} is outside the range 0..{self.n_tokens - 1}")
        return tokens.long()

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Chapter 06. tokens (B, T) -> (mu, logvar), each (B, latent), from the BiLSTM's two final hidden states."""
        tokens = self._check_tokens(tokens)
        _, (h, _) = self.encoder(self.embedding(tokens))
        last = torch.cat([h[0], h[1]], dim=-1)  # forward direction's final state, backward direction's final state
        return self.to_mu(last), self.to_logvar(last)

    def _contexts(self, z: torch.Tensor) -> list[torch.Tensor]:
        """What each decoder segment reads: [z] (flat), or the conductor's c_b for each bar (hierarchical)."""
        if not self.hierarchical:
            return [z]
        zeros = z.new_zeros(z.shape[0], self.n_bars, 1)
        out, _ = self.conductor(zeros, _init_state(self.conductor_init, z))
        return list(self.to_bar(out).unbind(1))

    def _check_decode(self, z: torch.Tensor, tokens: torch.Tensor | None, teacher_forcing: float,
                      temperature: float) -> torch.Tensor | None:
        if z.dim() != 2 or z.shape[1] != self.latent:
            raise ValueError(f"z must have shape (batch, {self.latent}), got {tuple(z.shape)}")
        if not 0 <= teacher_forcing <= 1:
            raise ValueError(f"teacher_forcing is a probability and must lie in [0, 1], got {teacher_forcing}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = argmax), got {temperature}")
        if tokens is None:
            if teacher_forcing > 0:
                raise ValueError(f"teacher_forcing={teacher_forcing} needs the true tokens; pass tokens or use "
                                 "teacher_forcing=0 to decode free-running")
            return None
        tokens = self._check_tokens(tokens)
        if tokens.shape[0] != z.shape[0]:
            raise ValueError(f"z and tokens must share the batch size, got {z.shape[0]} and {tokens.shape[0]}")
        return tokens

    def _blank(self, prev: torch.Tensor, word_dropout: float, generator: torch.Generator | None) -> torch.Tensor:
        """Word dropout (Bowman et al. 2016): each input token becomes START with probability word_dropout."""
        if word_dropout <= 0:
            return prev
        drop = torch.rand(prev.shape, generator=generator, device=prev.device) < word_dropout
        return torch.where(drop, torch.full_like(prev, self.start), prev)

    def _decode_forced(self, contexts: list[torch.Tensor], tokens: torch.Tensor, word_dropout: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Fast path, teacher forcing 1: one LSTM call per segment over all its steps."""
        first = tokens.new_full((tokens.shape[0], 1), self.start)
        prev = self.embedding(self._blank(torch.cat([first, tokens[:, :-1]], dim=1), word_dropout, generator))
        L, out = self.bar_steps, []
        for b, ctx in enumerate(contexts):
            x = torch.cat([prev[:, b * L:(b + 1) * L], ctx.unsqueeze(1).expand(-1, L, -1)], dim=-1)
            h, _ = self.decoder(x, _init_state(self.decoder_init, ctx))
            out.append(self.to_logits(h))
        return torch.cat(out, dim=1)

    def _decode_loop(self, contexts: list[torch.Tensor], tokens: torch.Tensor | None, teacher_forcing: float,
                     temperature: float, generator: torch.Generator | None,
                     word_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Step by step: each step's output token (true or drawn) is the next step's input."""
        B = contexts[0].shape[0]
        prev = torch.full((B,), self.start, dtype=torch.long, device=contexts[0].device)
        logits, fed = [], []
        for b, ctx in enumerate(contexts):
            state = _init_state(self.decoder_init, ctx)
            for s in range(self.bar_steps):
                x = torch.cat([self.embedding(self._blank(prev, word_dropout, generator)), ctx], dim=-1).unsqueeze(1)
                h, state = self.decoder(x, state)
                step_logits = self.to_logits(h[:, 0])
                t = b * self.bar_steps + s
                if tokens is not None and teacher_forcing >= 1:
                    prev = tokens[:, t]
                else:
                    prev = _draw(step_logits.detach(), temperature, generator)
                    if tokens is not None and teacher_forcing > 0:
                        coin = torch.rand(B, generator=generator, device=prev.device) < teacher_forcing
                        prev = torch.where(coin, tokens[:, t], prev)
                logits.append(step_logits)
                fed.append(prev)
        return torch.stack(logits, dim=1), torch.stack(fed, dim=1)

    def decode(self, z: torch.Tensor, tokens: torch.Tensor | None = None, teacher_forcing: float = 1.0,
               temperature: float = 1.0, generator: torch.Generator | None = None,
               step_by_step: bool = False, word_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Chapter 06. z (B, latent) -> (logits (B, T, n_tokens), tokens (B, T): what each step passes to the next).

        word_dropout: the chance that an input token is replaced by START (Bowman et al. 2016), which forces the
        decoder to lean on z; the returned tokens are the undropped ones.
        """
        teacher_forcing, temperature = float(teacher_forcing), float(temperature)
        if not 0 <= word_dropout < 1:
            raise ValueError(f"word_dropout is a probability in [0, 1), got {word_dropout}")
        tokens = self._check_decode(z, tokens, teacher_forcing, temperature)
        contexts = self._contexts(z)
        if tokens is not None and teacher_forcing >= 1 and not step_by_step:
            return self._decode_forced(contexts, tokens, word_dropout, generator), tokens
        return self._decode_loop(contexts, tokens, teacher_forcing, temperature, generator, word_dropout)

    def forward(self, tokens: torch.Tensor, teacher_forcing: float = 1.0,
                word_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Chapter 06. (logits, mu, logvar); z is drawn from q(z|x) in training mode and is mu in eval mode."""
        mu, logvar = self.encode(tokens)
        z = reparameterize(mu, logvar) if self.training else mu
        logits, _ = self.decode(z, tokens, teacher_forcing, word_dropout=word_dropout)
        return logits, mu, logvar

    @torch.no_grad()
    def sample(self, n: int | None = None, z: torch.Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Chapter 06. Free-running melodies (B, T) from z, or from n draws z ~ N(0, I) when z is None."""
        if z is None:
            if n is None or int(n) < 1:
                raise ValueError(f"sample needs n >= 1 or a z of shape (batch, {self.latent}), got n={n}")
            z = torch.randn(int(n), self.latent, generator=generator, device=self.device)
        elif n is not None and int(n) != z.shape[0]:
            raise ValueError(f"n={n} disagrees with z's batch size {z.shape[0]}; pass one of them")
        return self.decode(z.to(self.device), None, 0.0, temperature, generator)[1]

    @torch.no_grad()
    def reconstruct(self, tokens: torch.Tensor, temperature: float = 0.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Chapter 06. Encode to mu, then decode free-running (temperature 0 = greedy): the model's reconstruction."""
        mu, _ = self.encode(tokens)
        return self.decode(mu, None, 0.0, temperature, generator)[1]


def _value(x: ScheduleOr, at: int) -> float:
    """A number, or a schedule read at step / epoch `at`."""
    return float(x(at)) if callable(x) else float(x)


def make_loss(beta: ScheduleOr = 1.0, free_nats: float = 0.0, free_bits_mode: str = "total",
              teacher_forcing: ScheduleOr = 1.0, per_epoch: bool = False, word_dropout: float = 0.0,
              pad_token: int | None = None) -> Callable:
    """Chapter 05. loss_fn(model, batch, state) for `train`: sum-over-steps NLL + beta * KL (optional free bits).

    The model is any module with forward(tokens, teacher_forcing=..., [word_dropout=...]) -> (logits, mu, logvar)
    whose logits (B, T, C) are aligned with its input: logits[:, t] scores tokens[:, t] (MelodyVAE, and
    Chapter 07's TransformerVAE, which predicts BOS at step 0). So the loss needs no model-specific target
    handling and works the same on a DDP- or torch.compile-wrapped model.
    word_dropout (training only) blanks that share of the decoder's input tokens (Bowman et al. 2016).
    pad_token (Chapter 07, padded sequences): targets equal to it add nothing to the NLL and are left out of the
    logged "acc"; None (the default) scores every step, as before.
    """
    if pad_token is not None and (isinstance(pad_token, bool) or not isinstance(pad_token, int)):
        raise ValueError(f"pad_token must be an integer token id or None, got {pad_token!r}")
    if not 0 <= word_dropout < 1:
        raise ValueError(f"word_dropout must lie in [0, 1), got {word_dropout}")
    if free_bits_mode not in FREE_BITS_MODES:
        raise ValueError(f"free_bits_mode must be one of {FREE_BITS_MODES}, got {free_bits_mode!r}")
    if not free_nats >= 0:
        raise ValueError(f"free_nats must be >= 0, got {free_nats}")
    if not callable(beta) and not beta >= 0:
        raise ValueError(f"beta must be >= 0 or a schedule, got {beta}")
    if not callable(teacher_forcing) and not 0 <= teacher_forcing <= 1:
        raise ValueError(f"teacher_forcing must lie in [0, 1] or be a schedule, got {teacher_forcing}")

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


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block, the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _as_tokens(tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens)


def _chunks(tokens: torch.Tensor, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, tokens.shape[0], batch_size):
        yield tokens[i:i + batch_size].to(device)


@torch.no_grad()
def step_accuracy(model: MelodyVAE, tokens: np.ndarray | torch.Tensor, teacher_forced: bool = True,
                  batch_size: int = 512, temperature: float = 0.0,
                  generator: torch.Generator | None = None) -> float:
    """Chapter 06. Fraction of steps reconstructed exactly from z = mu, teacher-forced or free-running ("sampled")."""
    tokens = _as_tokens(tokens)
    correct, total = 0, 0
    with _evaluating(model):
        for x in _chunks(tokens, batch_size, model.device):
            mu, _ = model.encode(x)
            if teacher_forced:
                pred = model.decode(mu, x, 1.0)[0].argmax(-1)
            else:
                pred = model.decode(mu, None, 0.0, temperature, generator)[1]
            correct += int((pred == x).sum())
            total += x.numel()
    return correct / max(total, 1)


@torch.no_grad()
def encode_all(model: MelodyVAE, tokens: np.ndarray | torch.Tensor,
               batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Chapter 06. (mu, logvar) of every sequence, encoded in batches, returned on the CPU."""
    mus, logvars = [], []
    with _evaluating(model):
        for x in _chunks(_as_tokens(tokens), batch_size, model.device):
            mu, logvar = model.encode(x)
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    if not mus:
        return torch.zeros(0, model.latent), torch.zeros(0, model.latent)
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def z_sensitivity(model: MelodyVAE, tokens: np.ndarray | torch.Tensor, batch_size: int = 512) -> dict[str, float]:
    """Chapter 06. How much the decoder reads z: argmax changes and per-step KL when each sequence gets another's mu."""
    tokens = _as_tokens(tokens)
    mu_all, _ = encode_all(model, tokens, batch_size)
    other_all = torch.roll(mu_all, 1, dims=0)
    changed, kl, total = 0.0, 0.0, 0
    with _evaluating(model):
        for i, x in enumerate(_chunks(tokens, batch_size, model.device)):
            rows = slice(i * batch_size, i * batch_size + x.shape[0])
            own = F.log_softmax(model.decode(mu_all[rows].to(x.device), x, 1.0)[0].float(), dim=-1)
            other = F.log_softmax(model.decode(other_all[rows].to(x.device), x, 1.0)[0].float(), dim=-1)
            changed += float((own.argmax(-1) != other.argmax(-1)).sum())
            kl += float((own.exp() * (own - other)).sum())
            total += x.numel()
    return {"changed": changed / max(total, 1), "kl": kl / max(total, 1)}
