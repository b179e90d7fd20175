"""Losses of the VAE + classifier, each returned per replica (leading dimension)."""

from __future__ import annotations

import torch

from vaec import tasks


def reconstruction_per_channel(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error of every channel over the rows: shape ``(replicas, channels)``."""
    return (reconstruction - x).pow(2).mean(dim=-2)


def reconstruction_loss(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over channels of :func:`reconstruction_per_channel`: shape ``(replicas,)``."""
    return reconstruction_per_channel(reconstruction, x).mean(dim=-1)


def kl_per_dimension(z_mean: torch.Tensor, z_log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per latent dimension, averaged over the rows.

    Uses the closed form ``-log(sigma) + (sigma^2 + mu^2) / 2 - 1/2``; shape
    ``(replicas, latent_dim)``.
    """
    kl = 0.5 * (torch.exp(z_log_var) + z_mean.pow(2) - 1.0 - z_log_var)
    return kl.mean(dim=-2)


def kl_loss(z_mean: torch.Tensor, z_log_var: torch.Tensor) -> torch.Tensor:
    """KL to N(0, I): the per-dimension terms summed; shape ``(replicas,)``."""
    return kl_per_dimension(z_mean, z_log_var).sum(dim=-1)


def prediction_losses(
    logits: torch.Tensor, target: torch.Tensor, task: str = "classification"
) -> torch.Tensor:
    """Loss of every row for ``task`` (see :func:`vaec.tasks.prediction_losses`):
    ``(replicas, rows)``. Classification: cross-entropy, binary (one logit) or multi-class."""
    return tasks.prediction_losses(logits, target, task)


def prediction_loss(
    logits: torch.Tensor, target: torch.Tensor, task: str = "classification"
) -> torch.Tensor:
    """Mean of :func:`prediction_losses` over the rows: shape ``(replicas,)``."""
    return prediction_losses(logits, target, task).mean(dim=-1)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(replicas, rows, n_classes)`` from logits (two columns if binary)."""
    if logits.shape[-1] == 1:
        p1 = torch.sigmoid(logits)
        return torch.cat([1.0 - p1, p1], dim=-1)
    return torch.softmax(logits, dim=-1)


def predicted_class(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class indices ``(replicas, rows)``."""
    if logits.shape[-1] == 1:
        return (logits.squeeze(-1) > 0).long()
    return logits.argmax(dim=-1)
