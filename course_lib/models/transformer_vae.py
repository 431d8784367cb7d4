"""Transformer encoder-decoder VAE over event tokens.

Sequences are int64 token arrays (B, T), right-padded with PAD (0); each begins with BOS (1) and ends with
EOS (2). The encoder embeds tokens and learned positions, runs a pre-norm Transformer encoder that ignores PAD
keys, and averages its outputs over the non-PAD positions into mu and logvar. The decoder is a causal pre-norm
Transformer decoder that reads z twice: as `n_memory` vectors its cross-attention looks at, and as one vector
added to every input embedding.

Alignment: the logits have the same length T as the tokens and logits[:, t] predicts tokens[:, t]. The
decoder's input at step t is tokens[:, t - 1], and at step 0 a learned START embedding, so step 0 predicts BOS.
Scoring BOS costs almost nothing once learned and keeps `common.make_loss(pad_token=PAD)` model-agnostic:
it compares logits with the tokens themselves, as it does for MelodyVAE (the decode contract of `common`).

The shared token embedding has vocab_size + 2 rows: START (row vocab_size) and MASK (row vocab_size + 1), the
token that word dropout puts in place of a decoder input. Neither id ever appears in data or in samples.
The model trains teacher-forced only (no scheduled sampling). `common.encode_all` and `common.z_sensitivity`
(with pad=PAD) work with this model as with MelodyVAE; `token_accuracy` here counts only non-PAD positions.
Forward passes check shapes only; `common.check_tokens(tokens, vocab_size, name, pad=PAD)` checks the values.

Paper 000's recipe with the course's pieces: train(model, make_loss(beta=make_schedule("cyclical", ...),
free_nats=..., pad_token=PAD), ..., optimizer="adamw", lr=1e-4, betas=(0.9, 0.98)); full size is 6 layers,
8 heads, d_model 512, latent 32..512 (much smaller on a CPU).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checks import is_int, probability
from ..losses import reparameterize
from .common import as_tokens, chunks, draw_token, evaluating, token_tensor

PAD, BOS, EOS = 0, 1, 2


class TransformerVAE(nn.Module):
    """Transformer encoder-decoder VAE over padded event tokens (paper 000), logits aligned with tokens.

    Notebook: 07_transformer_vae_automation
    """

    def __init__(self, vocab_size: int, max_len: int, d_model: int = 512, n_heads: int = 8, n_layers: int = 6,
                 d_ff: int | None = None, latent: int = 256, dropout: float = 0.1, n_memory: int = 4,
                 pad: int = PAD, bos: int = BOS, eos: int = EOS) -> None:
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        sizes = {"vocab_size": vocab_size, "max_len": max_len, "d_model": d_model, "n_heads": n_heads,
                 "n_layers": n_layers, "d_ff": d_ff, "latent": latent, "n_memory": n_memory}
        bad = {k: v for k, v in sizes.items() if not is_int(v) or v < 1}
        if bad:
            raise ValueError(f"TransformerVAE sizes must be positive integers, got {bad}")
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads, got d_model={d_model} and n_heads={n_heads}")
        probability("dropout", dropout)
        specials = {"pad": pad, "bos": bos, "eos": eos}
        ok = all(is_int(v) and 0 <= v < vocab_size for v in specials.values())
        if not ok or len(set(specials.values())) < 3:
            raise ValueError(f"pad, bos and eos must be distinct ids in 0..{vocab_size - 1}, got {specials}")
        self.vocab_size, self.max_len, self.d_model = int(vocab_size), int(max_len), int(d_model)
        self.latent, self.n_memory = int(latent), int(n_memory)
        self.pad, self.bos, self.eos = int(pad), int(bos), int(eos)
        self.start, self.mask = vocab_size, vocab_size + 1  # extra embedding rows, never in data
        self.embedding = nn.Embedding(vocab_size + 2, d_model)
        self.enc_pos = nn.Embedding(max_len, d_model)
        self.dec_pos = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)

        def enc_layer() -> nn.TransformerEncoderLayer:
            return nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu",
                                              batch_first=True, norm_first=True)

        def dec_layer() -> nn.TransformerDecoderLayer:
            return nn.TransformerDecoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu",
                                              batch_first=True, norm_first=True)

        self.encoder = nn.TransformerEncoder(enc_layer(), n_layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.to_mu = nn.Linear(d_model, latent)
        self.to_logvar = nn.Linear(d_model, latent)
        self.z_to_memory = nn.Linear(latent, n_memory * d_model)
        self.z_to_input = nn.Linear(latent, d_model)
        self.decoder = nn.TransformerDecoder(dec_layer(), n_layers, norm=nn.LayerNorm(d_model))
        self.to_logits = nn.Linear(d_model, vocab_size)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters. Notebook: 07_transformer_vae_automation."""
        return next(self.parameters()).device

    def _check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Shape and dtype only (no host sync); values are checked where data enters (`common.check_tokens`)."""
        tokens = token_tensor(tokens, "(batch, length)")
        if tokens.dim() != 2 or tokens.shape[0] < 1 or tokens.shape[1] < 1:
            raise ValueError(f"tokens must have shape (batch, length) with both >= 1, got {tuple(tokens.shape)}")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequences of length {tokens.shape[1]} are longer than max_len={self.max_len}; "
                             "crop them or build the model with a larger max_len")
        return tokens.long()

    def _check_z(self, z: torch.Tensor, batch: int | None = None) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.latent or z.shape[0] < 1:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must have shape (batch, {self.latent}), got {shape}")
        if batch is not None and z.shape[0] != batch:
            raise ValueError(f"z and tokens must share the batch size, got {z.shape[0]} and {batch}")
        if not z.dtype.is_floating_point:
            raise ValueError(f"z must be a floating-point tensor, got dtype {z.dtype}")
        return z

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, T) -> (mu, logvar), each (B, latent): encoder outputs averaged over non-PAD steps.

        Notebook: 07_transformer_vae_automation
        """
        tokens = self._check_tokens(tokens)
        T = tokens.shape[1]
        keep = tokens != self.pad
        x = self.drop(self.embedding(tokens) + self.enc_pos(torch.arange(T, device=tokens.device)))
        h = self.encoder(x, src_key_padding_mask=~keep)
        w = keep.unsqueeze(-1).to(h.dtype)
        pooled = (h * w).sum(1) / w.sum(1)
        return self.to_mu(pooled), self.to_logvar(pooled)

    def decoder_inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder input ids [START, tokens[:, :-1]]: step t reads tokens[:, t - 1]."""
        first = tokens.new_full((tokens.shape[0], 1), self.start)
        return torch.cat([first, tokens[:, :-1]], dim=1)

    def _word_dropout(self, ids: torch.Tensor, word_dropout: float,
                      generator: torch.Generator | None) -> torch.Tensor:
        """Replace each real input token (not START, BOS or PAD) by MASK with probability word_dropout."""
        if word_dropout <= 0:
            return ids
        where = generator.device if generator is not None else ids.device
        coin = torch.rand(ids.shape, generator=generator, device=where).to(ids.device) < word_dropout
        real = (ids != self.start) & (ids != self.bos) & (ids != self.pad)
        return torch.where(coin & real, torch.full_like(ids, self.mask), ids)

    def _run_decoder(self, z: torch.Tensor, ids: torch.Tensor, last: bool = False) -> torch.Tensor:
        """Logits (B, L, V) for decoder input ids (B, L), causal, z as memory and as an added input vector.

        last: project only the final step, (B, 1, V): what free-running sampling needs, without the vocabulary
        projection of every earlier step (most of a small model's cost per sampled token).
        """
        B, L = ids.shape
        pos = self.dec_pos(torch.arange(L, device=ids.device))
        x = self.drop(self.embedding(ids) + pos + self.z_to_input(z).unsqueeze(1))
        memory = self.z_to_memory(z).view(B, self.n_memory, self.d_model)
        causal = torch.triu(torch.ones(L, L, dtype=torch.bool, device=ids.device), diagonal=1)
        h = self.decoder(x, memory, tgt_mask=causal, tgt_key_padding_mask=ids == self.pad, tgt_is_causal=True)
        return self.to_logits(h[:, -1:] if last else h)

    def decode(self, z: torch.Tensor, tokens: torch.Tensor, word_dropout: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) from z: logits[:, t] scores tokens[:, t] given tokens[:, :t].

        word_dropout: the chance that a decoder input token (not START, BOS or PAD) becomes MASK, which makes the
        decoder lean on z (Bowman et al. 2016); applied whenever it is > 0 (make_loss passes it only in training).

        Notebook: 07_transformer_vae_automation
        """
        probability("word_dropout", word_dropout)
        tokens = self._check_tokens(tokens)
        z = self._check_z(z, tokens.shape[0])
        ids = self._word_dropout(self.decoder_inputs(tokens), float(word_dropout), generator)
        return self._run_decoder(z, ids)

    def forward(self, tokens: torch.Tensor, teacher_forcing: float = 1.0,
                word_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced (logits, mu, logvar); z ~ q(z|x) in training mode, z = mu in eval mode."""
        if float(teacher_forcing) != 1.0:
            raise ValueError(f"TransformerVAE trains teacher-forced only: teacher_forcing must be 1.0, got "
                             f"{teacher_forcing}; use sample() or reconstruct() to decode free-running")
        mu, logvar = self.encode(tokens)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decode(z, tokens, word_dropout=word_dropout), mu, logvar

    @torch.no_grad()
    def sample(self, n: int | None = None, z: torch.Tensor | None = None, max_len: int | None = None,
               temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Free-running sequences (B, max_len): BOS, draws up to EOS, then PAD; z ~ N(0, I) when not given.

        Runs in eval mode (dropout off) and restores the previous mode. Step 0 is always BOS; later steps never
        draw PAD or BOS. A row that reaches max_len without EOS ends there. temperature 0 takes the argmax.
        The whole prefix is recomputed at every step (no key/value cache): fine for the small models here.

        Notebook: 07_transformer_vae_automation
        """
        temperature = float(temperature)
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = argmax), got {temperature}")
        L = self.max_len if max_len is None else max_len
        if not is_int(L) or not 1 <= L <= self.max_len:
            raise ValueError(f"max_len must be an integer in 1..{self.max_len}, got {max_len!r}")
        if z is None:
            if not is_int(n) or n < 1:
                raise ValueError(f"sample needs n >= 1 or a z of shape (batch, {self.latent}), got n={n!r}")
            where = generator.device if generator is not None else self.device
            z = torch.randn(int(n), self.latent, generator=generator, device=where)
        else:
            z = self._check_z(z)
            if n is not None and n != z.shape[0]:
                raise ValueError(f"n={n} disagrees with z's batch size {z.shape[0]}; pass one of them")
        z = z.to(self.device, next(self.parameters()).dtype)
        B, L = z.shape[0], int(L)
        out = torch.full((B, L), self.pad, dtype=torch.long, device=self.device)
        out[:, 0] = self.bos
        done = torch.zeros(B, dtype=torch.bool, device=self.device)
        start = torch.full((B, 1), self.start, dtype=torch.long, device=self.device)
        with evaluating(self):
            for t in range(1, L):
                logits = self._run_decoder(z, torch.cat([start, out[:, :t]], dim=1), last=True)[:, -1].float()
                logits[:, [self.pad, self.bos]] = float("-inf")
                nxt = draw_token(logits, temperature, generator)
                out[:, t] = torch.where(done, torch.full_like(nxt, self.pad), nxt)
                done |= nxt == self.eos
                if bool(done.all()):
                    break
        return out

    @torch.no_grad()
    def reconstruct(self, tokens: torch.Tensor, temperature: float = 0.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Encode to mu (eval mode), then sample from it with the input's width (temperature 0 = greedy).

        Notebook: 07_transformer_vae_automation
        """
        with evaluating(self):
            tokens = self._check_tokens(tokens)
            mu, _ = self.encode(tokens)
        return self.sample(z=mu, max_len=tokens.shape[1], temperature=temperature, generator=generator)


@torch.no_grad()
def token_accuracy(model: TransformerVAE, tokens: np.ndarray | torch.Tensor, batch_size: int = 256,
                   pad: int = PAD) -> float:
    """Share of non-PAD tokens (BOS included) whose teacher-forced argmax from z = mu is right.

    It is the "acc" that make_loss(pad_token=pad) logs on validation data, pooled over all tokens.

    Notebook: 07_transformer_vae_automation
    """
    correct, total = 0, 0
    with evaluating(model):
        for x in chunks(as_tokens(tokens), batch_size, model.device):
            mu, _ = model.encode(x)
            pred = model.decode(mu, x).argmax(-1)
            scored = x != pad
            correct += int((pred == x)[scored].sum())
            total += int(scored.sum())
    return correct / max(total, 1)
