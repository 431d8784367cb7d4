"""Fully connected and convolutional autoencoders on 1-D RFFT features, and their cost in memory and FLOPs.

Paper 001 (FC vs convolutional autoencoders on raw audio) feeds 13230 values per example: the RFFT
of 3 s at 4410 Hz, real and imaginary parts interleaved. Both models accept (B, 1, N) or (B, N) and
return the shape they were given; `encode` gives z of shape (B, latent) and `decode` gives
(B, 1, N), the paper's shape.

At the defaults the models are exactly the paper's: FCAutoencoder 429,657,130 parameters,
ConvAutoencoder 698,357,061. Build them on the meta device to count without allocating memory:
    with torch.device("meta"):
        m = FCAutoencoder()
The cost helpers (`count_parameters`, `training_memory_bytes`, `activation_bytes`,
`linear_conv_flops`) work on meta models too: shapes are traced on the meta device, never computed.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn
from torch.func import functional_call

N_IN = 13230  # 3 s at 4410 Hz, interleaved RFFT features (paper 001)
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "momentum": 1, "sgd": 0}  # tensors the optimizer keeps per parameter
VIEW_LAYERS = (nn.Flatten, nn.Unflatten, nn.Identity)  # reshape only: no new memory, no FLOPs


def _as_rows(x: torch.Tensor, n_in: int, name: str) -> torch.Tensor:
    """(B, 1, N) or (B, N) -> (B, N), with a clear message for anything else."""
    ok = x.dim() == 2 or (x.dim() == 3 and x.shape[1] == 1)
    if not ok or x.shape[-1] != n_in:
        raise ValueError(f"{name} expects input of shape (B, 1, {n_in}) or (B, {n_in}), got {tuple(x.shape)}")
    return x.reshape(x.shape[0], n_in)


class FCAutoencoder(nn.Module):
    """Linear n_in-hidden-latent-reversed hidden-n_in, ReLU after every layer but the last (paper 001).

    Notebook: 02_fc_vs_conv_autoencoders
    """

    def __init__(self, n_in: int = N_IN, hidden: Sequence[int] = (9800, 6500), latent: int = 3300) -> None:
        super().__init__()
        self.n_in, self.hidden, self.latent = int(n_in), tuple(int(h) for h in hidden), int(latent)
        if min((self.n_in, self.latent, *self.hidden)) <= 0:
            raise ValueError(f"FCAutoencoder: sizes must be positive, got n_in={n_in}, hidden={hidden}, latent={latent}")
        widths = [self.n_in, *self.hidden, self.latent]
        self.encoder = _mlp(widths, relu_last=True)  # ReLU on the latent too, as in the paper's summary
        self.decoder = _mlp(widths[::-1], relu_last=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """X (B, 1, N) or (B, N) -> z (B, latent), non-negative (ReLU). Notebook: 04_variational_autoencoders."""
        return self.encoder(_as_rows(x, self.n_in, "FCAutoencoder"))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Z (B, latent) -> x_hat (B, 1, N). Notebook: 04_variational_autoencoders."""
        return self.decoder(z).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction with the input's shape."""
        return self.decode(self.encode(x)).reshape(x.shape)


def _mlp(widths: Sequence[int], relu_last: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if relu_last or i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def conv_lengths(n_in: int, n_layers: int = 3, kernel: int = 4, stride: int = 2,
                 padding: int = 1) -> tuple[list[int], list[int]]:
    """Encoder lengths [n_in, L1, ...] and the output_paddings that bring each ConvTranspose1d back exactly.

    Conv1d: L' = floor((L + 2p - k) / s) + 1. ConvTranspose1d: (L' - 1) s - 2p + k + output_padding, so the
    output_padding that restores L is the remainder the floor dropped (always in [0, s - 1]).
    For the paper (13230, k4 s2 p1): lengths [13230, 6615, 3307, 1653], output_paddings [0, 1, 1] (first layer first).
    """
    lengths, pads = [int(n_in)], []
    for _ in range(n_layers):
        L = lengths[-1]
        nxt = (L + 2 * padding - kernel) // stride + 1
        if nxt < 1:
            raise ValueError(f"ConvAutoencoder: n_in={n_in} is too short for {n_layers} conv layers "
                             f"(kernel {kernel}, stride {stride}, padding {padding}): a length {L} becomes {nxt}; "
                             f"use a longer input or fewer channels")
        op = L - ((nxt - 1) * stride - 2 * padding + kernel)
        if not 0 <= op < stride:
            raise ValueError(f"ConvAutoencoder: length {L} cannot be reconstructed by ConvTranspose1d "
                             f"(kernel {kernel}, stride {stride}, padding {padding}) from {nxt}: "
                             f"it would need output_padding {op}, allowed 0..{stride - 1}")
        lengths.append(nxt)
        pads.append(op)
    return lengths, pads


class ConvAutoencoder(nn.Module):
    """Conv1d encoder, Linear bottleneck (both ways, ReLU), ConvTranspose1d decoder (paper 001).

    Notebook: 02_fc_vs_conv_autoencoders
    """

    def __init__(self, n_in: int = N_IN, channels: Sequence[int] = (16, 32, 64), latent: int = 3300,
                 kernel: int = 4, stride: int = 2, padding: int = 1) -> None:
        super().__init__()
        self.n_in, self.channels, self.latent = int(n_in), tuple(int(c) for c in channels), int(latent)
        if not self.channels or min((self.latent, *self.channels)) <= 0:
            raise ValueError(f"ConvAutoencoder: channels and latent must be positive, got {channels}, {latent}")
        self.lengths, self.output_paddings = conv_lengths(self.n_in, len(self.channels), kernel, stride, padding)
        ch = (1, *self.channels)
        self.n_flat = ch[-1] * self.lengths[-1]  # 64 * 1653 = 105792 for the paper
        enc: list[nn.Module] = []
        for a, b in zip(ch[:-1], ch[1:]):
            enc += [nn.Conv1d(a, b, kernel, stride, padding), nn.ReLU()]
        enc += [nn.Flatten(), nn.Linear(self.n_flat, self.latent), nn.ReLU()]
        dec: list[nn.Module] = [nn.Linear(self.latent, self.n_flat), nn.ReLU(),
                                nn.Unflatten(1, (ch[-1], self.lengths[-1]))]
        for i in reversed(range(len(self.channels))):
            dec.append(nn.ConvTranspose1d(ch[i + 1], ch[i], kernel, stride, padding,
                                          output_padding=self.output_paddings[i]))
            if i > 0:
                dec.append(nn.ReLU())
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """X (B, 1, N) or (B, N) -> z (B, latent), non-negative (ReLU). Notebook: 04_variational_autoencoders."""
        return self.encoder(_as_rows(x, self.n_in, "ConvAutoencoder").unsqueeze(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Z (B, latent) -> x_hat (B, 1, N). Notebook: 04_variational_autoencoders."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction with the input's shape."""
        return self.decode(self.encode(x)).reshape(x.shape)


MODELS = {"fc": FCAutoencoder, "conv": ConvAutoencoder}


def build(kind: str, **sizes: Any) -> nn.Module:
    """Build('fc' | 'conv', **sizes), e.g. build('fc', **ctx.cfg.fc); lists are fine for hidden/channels.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if kind not in MODELS:
        raise ValueError(f"build: unknown kind {kind!r}; use one of {sorted(MODELS)}")
    try:
        return MODELS[kind](**sizes)
    except TypeError as e:
        raise TypeError(f"build({kind!r}): {e}; sizes were {sizes}") from None


def conv_matching_params(target_params: int, n_in: int = N_IN, channels: Sequence[int] = (16, 32, 64),
                         **conv: int) -> ConvAutoencoder:
    """A ConvAutoencoder whose latent size makes its parameter count closest to target_params.

    The count is linear in the latent size d: P(d) = P(1) + (d - 1)(2F + 1), F = channels[-1] * L_last
    (the two Linear layers: F d + d weights and biases in, d F + F out), so d is solved for directly.

    Notebook: 02_solutions
    """
    with torch.device("meta"):
        probe = ConvAutoencoder(n_in, channels, latent=1, **conv)
    slope = 2 * probe.n_flat + 1
    latent = max(1, round((target_params - count_parameters(probe)) / slope) + 1)
    return ConvAutoencoder(n_in, channels, latent=latent, **conv)


# ---------------------------------------------------------------- cost: parameters, memory, FLOPs

def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with requires_grad); works on meta models.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def training_memory_bytes(model: nn.Module, optimizer: str = "adam", dtype_bytes: int = 4) -> dict[str, int]:
    """Theory for one training step without activations: weights, gradients, optimizer state, total.

    Adam keeps two moments per parameter, so fp32 Adam costs 4 + 4 + 8 = 16 bytes a parameter.

    Notebook: 02_fc_vs_conv_autoencoders
    """
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"training_memory_bytes: unknown optimizer {optimizer!r}; use one of {sorted(OPTIMIZER_STATES)}")
    n = count_parameters(model, trainable_only=True)
    weights = count_parameters(model) * dtype_bytes
    grads = n * dtype_bytes
    state = OPTIMIZER_STATES[optimizer] * n * dtype_bytes
    return {"weights": weights, "gradients": grads, "optimizer_state": state, "total": weights + grads + state}


def trace_shapes(model: nn.Module, n_in: int | Sequence[int]) -> list[tuple[str, nn.Module, tuple[int, ...], tuple[int, ...]]]:
    """(name, layer, input shape, output shape) of every leaf layer for one example of length n_in.

    n_in may also be the shape of one example, e.g. (2, 1500, 251) for chapter 03's spectrogram models.
    Runs the model on the meta device (parameters swapped for meta stand-ins), so nothing is computed
    or allocated whatever device the model is on.
    """
    rows: list[tuple[str, nn.Module, tuple[int, ...], tuple[int, ...]]] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        rows.append((names[m], m, tuple(inp[0].shape), tuple(out.shape)))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    meta = {k: torch.empty_like(v, device="meta") for k, v in [*model.named_parameters(), *model.named_buffers()]}
    try:
        with torch.no_grad():
            shape = (1, 1, int(n_in)) if isinstance(n_in, int) else (1, *n_in)
            functional_call(model, meta, (torch.empty(shape, device="meta"),))
    finally:
        for h in handles:
            h.remove()
    return rows


def activation_bytes(model: nn.Module, batch: int, n_in: int = N_IN, dtype_bytes: int = 4) -> int:
    """Activations of a forward pass: sum of every layer's output size x batch x dtype_bytes.

    Counted: the output of every Linear / Conv1d / ConvTranspose1d and of every ReLU (the paper's
    torchsummary rows). Not counted: the input batch and targets, reshapes (Flatten / Unflatten are
    views), the loss, and autograd bookkeeping. This is torchsummary's "Forward/backward pass size"
    divided by 2 (torchsummary doubles it for the gradients). Autograd really keeps a bit less:
    the input, each ReLU output and the final output; pre-activations are freed after the ReLU.
    """
    return sum(math.prod(out) for _, m, _, out in trace_shapes(model, n_in)
               if not isinstance(m, VIEW_LAYERS)) * batch * dtype_bytes


def linear_conv_flops(model: nn.Module, n_in: int | Sequence[int] = N_IN) -> int:
    """Forward FLOPs per example, 2 x multiply-adds of Linear and (transposed) 1-D / 2-D convolutions.

    Linear: out_features x in_features per row. Conv: each output value costs (C_in / groups) x kernel area.
    Transposed conv: each input value is spread over (C_out / groups) x kernel area outputs. Biases, norms
    and activations are ignored. A training step (forward + backward) costs about 3x this.
    n_in: the length of one example, or its shape (e.g. (2, 1500, 251)).

    Notebook: 02_fc_vs_conv_autoencoders
    """
    macs = 0
    for _, m, inp, out in trace_shapes(model, n_in):
        if isinstance(m, nn.Linear):
            macs += math.prod(out) * m.in_features
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            macs += math.prod(out) * (m.in_channels // m.groups) * math.prod(m.kernel_size)
        elif isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            macs += math.prod(inp) * (m.out_channels // m.groups) * math.prod(m.kernel_size)
    return 2 * macs
