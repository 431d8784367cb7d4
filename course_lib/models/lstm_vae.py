"""MusicVAE-style recurrent VAE over melody tokens.

Tokens are the 90 MusicVAE melody classes of `course_lib.midi` (0 hold, 1 note-off, 2..89 note-ons) on a
16th-note grid. Encoder: a bidirectional LSTM whose two final hidden states give mu and logvar. Decoder: an
autoregressive LSTM fed the previous token and z ("flat"), or MusicVAE's hierarchical decoder, where a conductor
LSTM turns z into one embedding c_b per bar and the bottom LSTM restarts from c_b at every bar. The previous
token always carries on, across bars too; START (index 90) is the input of step 0 only.

`decode(z, tokens)` is teacher-forced and returns logits only, in one LSTM call per segment (the decode contract
of `course_lib.models.common`). `decode_stepwise` loops step by step: teacher forcing p is the chance, per sequence
and step, of feeding the true previous token rather than the model's own draw (scheduled sampling; p = 0 and no
tokens: free-running). The loss, `encode_all` and `z_sensitivity` live in `common`, shared with TransformerVAE.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checks import is_int, probability
from ..losses import reparameterize
from ..midi import N_MELODY_TOKENS
from .common import as_tokens, chunks, draw_token, evaluating, token_tensor

START = N_MELODY_TOKENS  # 90: the decoder's input at step 0 (the embedding table has n_tokens + 1 rows)


def _init_state(linear: nn.Linear, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(h0, c0) for a 1-layer LSTM: tanh(Linear(ctx)) split in two halves, each (1, B, hidden)."""
    h, c = torch.tanh(linear(ctx)).chunk(2, dim=-1)
    return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()


class MelodyVAE(nn.Module):
    """MusicVAE-style LSTM VAE on melody tokens: BiLSTM encoder, Gaussian z, flat or hierarchical LSTM.

    Notebook: 06_lstm_vae_melodies
    """

    def __init__(self, seq_len: int, n_tokens: int = N_MELODY_TOKENS, embed: int = 64, enc_hidden: int = 256,
                 dec_hidden: int = 256, latent: int = 128, hierarchical: bool = False, bar_steps: int = 16,
                 conductor_hidden: int = 256, conductor_out: int = 128) -> None:
        super().__init__()
        sizes = {"seq_len": seq_len, "n_tokens": n_tokens, "embed": embed, "enc_hidden": enc_hidden,
                 "dec_hidden": dec_hidden, "latent": latent, "bar_steps": bar_steps,
                 "conductor_hidden": conductor_hidden, "conductor_out": conductor_out}
        bad = {k: v for k, v in sizes.items() if not is_int(v) or v < 1}
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
        """The device of the model's parameters. Notebook: 06_lstm_vae_melodies."""
        return next(self.parameters()).device

    def _check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Shape and dtype only (no host sync); values are checked where data enters (`common.check_tokens`)."""
        tokens = token_tensor(tokens, f"(batch, {self.seq_len})")
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must have shape (batch, {self.seq_len}), got {tuple(tokens.shape)}")
        return tokens.long()

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, T) -> (mu, logvar), each (B, latent), from the BiLSTM's two final hidden states.

        Notebook: 06_lstm_vae_melodies
        """
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
        probability("teacher_forcing", teacher_forcing, include_one=True)
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
                    prev = draw_token(step_logits.detach(), temperature, generator)
                    if tokens is not None and teacher_forcing > 0:
                        coin = torch.rand(B, generator=generator, device=prev.device) < teacher_forcing
                        prev = torch.where(coin, tokens[:, t], prev)
                logits.append(step_logits)
                fed.append(prev)
        return torch.stack(logits, dim=1), torch.stack(fed, dim=1)

    def decode(self, z: torch.Tensor, tokens: torch.Tensor, word_dropout: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, n_tokens) from z (B, latent): logits[:, t] scores tokens[:, t] given the past.

        One LSTM call per segment. word_dropout: the chance that an input token is replaced by START (Bowman et al.
        2016), which forces the decoder to lean on z. Notebook: 05_kl_annealing.
        """
        if tokens is None:
            raise ValueError("decode is teacher-forced and needs the true tokens; use decode_stepwise(z) or sample(z=z)"
                             " to decode free-running")
        probability("word_dropout", word_dropout)
        tokens = self._check_decode(z, tokens, 1.0, 1.0)
        return self._decode_forced(self._contexts(z), tokens, word_dropout, generator)

    def decode_stepwise(self, z: torch.Tensor, tokens: torch.Tensor | None = None, teacher_forcing: float = 0.0,
                        temperature: float = 1.0, generator: torch.Generator | None = None,
                        word_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Step by step: (logits (B, T, n_tokens), tokens (B, T) that each step passed to the next).

        Each step feeds on the true token with probability teacher_forcing, else the model's own draw at
        `temperature` (0 = argmax); tokens=None with teacher_forcing=0 decodes free-running. word_dropout as in
        decode; the returned tokens are the undropped ones.
        """
        teacher_forcing, temperature = float(teacher_forcing), float(temperature)
        probability("word_dropout", word_dropout)
        tokens = self._check_decode(z, tokens, teacher_forcing, temperature)
        return self._decode_loop(self._contexts(z), tokens, teacher_forcing, temperature, generator, word_dropout)

    def forward(self, tokens: torch.Tensor, teacher_forcing: float = 1.0,
                word_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, mu, logvar); z is drawn from q(z|x) in training mode and is mu in eval mode.

        teacher_forcing 1 runs `decode` (one LSTM call per segment), below 1 `decode_stepwise` (scheduled sampling).
        """
        teacher_forcing = probability("teacher_forcing", float(teacher_forcing), include_one=True)
        mu, logvar = self.encode(tokens)
        z = reparameterize(mu, logvar) if self.training else mu
        if teacher_forcing >= 1:
            return self.decode(z, tokens, word_dropout=word_dropout), mu, logvar
        logits, _ = self.decode_stepwise(z, tokens, teacher_forcing, word_dropout=word_dropout)
        return logits, mu, logvar

    @torch.no_grad()
    def sample(self, n: int | None = None, z: torch.Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Free-running melodies (B, T) from z, or from n draws z ~ N(0, I) when z is None.

        Notebook: 06_lstm_vae_melodies
        """
        if z is None:
            if not is_int(n) or n < 1:
                raise ValueError(f"sample needs n >= 1 or a z of shape (batch, {self.latent}), got n={n}")
            z = torch.randn(int(n), self.latent, generator=generator, device=self.device)
        elif n is not None and int(n) != z.shape[0]:
            raise ValueError(f"n={n} disagrees with z's batch size {z.shape[0]}; pass one of them")
        return self.decode_stepwise(z.to(self.device), None, 0.0, temperature, generator)[1]

    @torch.no_grad()
    def reconstruct(self, tokens: torch.Tensor, temperature: float = 0.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Encode to mu, then decode free-running (temperature 0 = greedy): the model's reconstruction.

        Notebook: 06_lstm_vae_melodies
        """
        mu, _ = self.encode(tokens)
        return self.decode_stepwise(mu, None, 0.0, temperature, generator)[1]


@torch.no_grad()
def step_accuracy(model: MelodyVAE, tokens: np.ndarray | torch.Tensor, teacher_forced: bool = True,
                  batch_size: int = 512, temperature: float = 0.0,
                  generator: torch.Generator | None = None) -> float:
    """Fraction of steps reconstructed exactly from z = mu, teacher-forced or free-running ("sampled").

    Notebook: 06_lstm_vae_melodies
    """
    tokens = as_tokens(tokens)
    correct, total = 0, 0
    with evaluating(model):
        for x in chunks(tokens, batch_size, model.device):
            mu, _ = model.encode(x)
            if teacher_forced:
                pred = model.decode(mu, x).argmax(-1)
            else:
                pred = model.decode_stepwise(mu, None, 0.0, temperature, generator)[1]
            correct += int((pred == x).sum())
            total += x.numel()
    return correct / max(total, 1)
