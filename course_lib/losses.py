"""ELBO pieces for variational autoencoders: reparameterisation, Gaussian KL, the beta-weighted loss.

Conventions: the encoder gives q(z|x) = N(mu, diag exp(logvar)); mu and logvar have the same shape and dimension 0
is the batch. The prior is p(z) = N(0, I). Per-example quantities are summed over every non-batch dimension.
"""
from __future__ import annotations

import torch

from .checks import is_int, non_negative_real, positive_int

RECONSTRUCTIONS = ("mse", "sse")


def _check_pair(mu: torch.Tensor, logvar: torch.Tensor) -> None:
    if mu.dim() == 0:
        raise ValueError("mu and logvar need a batch dimension (dim 0), got 0-dimensional tensors")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")


def _check_reconstruction(reconstruction: str) -> None:
    if reconstruction not in RECONSTRUCTIONS:
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")


def _sum_after(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over every dimension after `dim` (no-op when there is none)."""
    return t.flatten(dim + 1).sum(-1) if t.dim() > dim + 1 else t


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw z = mu + eps * exp(0.5 logvar) with eps ~ N(0, I): a sample of q that gradients pass through.

    Notebook: 04_variational_autoencoders
    """
    _check_pair(mu, logvar)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, exp(logvar)) || N(0, I)) per example, shape (batch,). Notebook: 04_variational_autoencoders.

    KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)), the sum over all non-batch dimensions.
    """
    _check_pair(mu, logvar)
    return _sum_after(-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()), 0)


def gaussian_kl_monte_carlo(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo KL per example: mean of log q(z) - log p(z) over n_samples draws z ~ q, shape (batch,).

    With z = mu + eps * sigma the log-ratio per dimension is -0.5 (logvar + eps^2 - z^2) (the log 2 pi terms
    cancel). Memory grows as n_samples * mu.numel().

    Notebook: 04_variational_autoencoders
    """
    _check_pair(mu, logvar)
    n_samples = positive_int("n_samples", n_samples)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + eps * torch.exp(0.5 * logvar)
    log_ratio = -0.5 * (logvar + eps.pow(2) - z.pow(2))
    return _sum_after(log_ratio, 1).mean(0)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL of each latent dimension, averaged over the batch: mu (B, D) -> (D,).

    Its sum is the batch mean of gaussian_kl; dimensions near 0 carry no information (posterior collapse).
    """
    _check_pair(mu, logvar)
    if mu.dim() != 2:
        raise ValueError(f"mu and logvar must be (batch, latent), got shape {tuple(mu.shape)}")
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)


def elbo_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0,
              reconstruction: str = "mse") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Negative (beta-)ELBO: batch mean of recon + beta * KL; returns (loss, {"recon", "kl"} batch means).

    reconstruction="mse": mean squared error over the elements of each example (does not grow with their number).
    reconstruction="sse": 0.5 * sum of squared errors per example (paper 002), the negative Gaussian log-likelihood
    with sigma = 1 up to a constant. The dict values are detached, for logging.

    Notebook: 04_variational_autoencoders
    """
    beta = non_negative_real("beta", beta)
    _check_reconstruction(reconstruction)
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    _check_pair(mu, logvar)
    if x.dim() == 0 or x.shape[0] != mu.shape[0]:
        raise ValueError(f"x and mu must share the batch size (dim 0), got shapes {tuple(x.shape)} and {tuple(mu.shape)}")
    sq = (x_hat - x).pow(2)
    sq = sq.flatten(1) if sq.dim() > 1 else sq.unsqueeze(1)
    recon = sq.mean(1) if reconstruction == "mse" else 0.5 * sq.sum(1)
    kl = gaussian_kl(mu, logvar)
    loss = (recon + beta * kl).mean()
    return loss, {"recon": recon.mean().detach(), "kl": kl.mean().detach()}


def effective_beta(beta: float, n_elements: int, reconstruction: str = "sse") -> float:
    """The beta of the same objective written as per-element MSE + beta' * KL. Notebook: 04_variational_autoencoders.

    0.5 * SSE + beta * KL = (N / 2) * (MSE + (2 beta / N) * KL), so "sse" gives 2 beta / N and "mse" gives beta.
    Paper 002: N = 2 x 1500 x 251 = 753,000 elements and beta = 1 weigh the KL like beta' = 2.66e-6 on an MSE.
    """
    beta = non_negative_real("beta", beta)
    _check_reconstruction(reconstruction)
    n_elements = positive_int("n_elements", n_elements)
    return 2 * beta / n_elements if reconstruction == "sse" else beta


FREE_BITS_MODES = ("dim", "total")


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_nats: float, mode: str = "total") -> torch.Tensor:
    """The KL term with "free bits": KL below free_nats costs nothing, so the encoder may use it freely.

    mode="dim" (Kingma et al. 2016, per latent dimension): sum_d max(free_nats, KL_d), KL_d averaged over the batch;
    mode="total" (MusicVAE, a hinge on the whole KL): batch mean of max(KL(x) - free_nats, 0).
    Returns a scalar to add (times beta) to the batch-mean reconstruction loss. free_nats = 0 gives the plain KL
    (both modes). MusicVAE states its threshold in bits: free_nats = free_bits * ln 2.
    """
    _check_pair(mu, logvar)
    free_nats = non_negative_real("free_nats", free_nats)
    if mode == "dim":
        return kl_per_dim(mu, logvar).clamp_min(free_nats).sum()
    if mode == "total":
        return (gaussian_kl(mu, logvar) - free_nats).clamp_min(0.0).mean()
    raise ValueError(f"mode must be one of {FREE_BITS_MODES}, got {mode!r}")


def sequence_nll(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """Negative log-likelihood of token sequences, summed over steps: logits (B, T, C), targets (B, T) -> (B,).

    This is the reconstruction term of a VAE over categorical tokens (cross-entropy in nats per sequence).
    ignore_index (Chapter 07, padded sequences): steps whose target equals it add 0, e.g. the PAD after a
    sequence's end; None (the default) scores every step.

    Notebook: 05_kl_annealing
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (batch, steps, classes) and targets (batch, steps); got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    if ignore_index is None:
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2).float(), targets.long(), reduction="none")
        return ce.sum(1)
    if not is_int(ignore_index):
        raise ValueError(f"ignore_index must be an integer token id or None, got {ignore_index!r}")
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2).float(), targets.long(), reduction="none",
                                           ignore_index=int(ignore_index))
    return ce.sum(1)
