"""Losses against their formulas: the autoencoder's (vaec.model) and the head's (vaec.tasks)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaec.model import kl_loss, kl_per_dimension, reconstruction_loss, reconstruction_per_channel
from vaec.tasks import CLASSIFICATION, probabilities


def prediction_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss of the rows per replica, as training counts it."""
    return CLASSIFICATION.prediction_losses(logits, target).mean(dim=-1)


def test_kl_matches_the_closed_form_of_the_method_note():
    # KL(N(mu, sigma^2) || N(0, 1)) = -log(sigma) + (sigma^2 + mu^2) / 2 - 1/2, per dimension
    mu, sigma = 0.7, 1.8
    z_mean = torch.full((1, 1, 1), mu, dtype=torch.float64)
    z_log_var = torch.full((1, 1, 1), 2 * math.log(sigma), dtype=torch.float64)
    expected = -math.log(sigma) + (sigma**2 + mu**2) / 2 - 0.5
    assert kl_per_dimension(z_mean, z_log_var).item() == pytest.approx(expected, rel=1e-12)


def test_kl_matches_torch_distributions_and_sums_over_dimensions():
    g = torch.Generator().manual_seed(0)
    z_mean = torch.randn(3, 50, 4, generator=g, dtype=torch.float64)
    z_log_var = torch.randn(3, 50, 4, generator=g, dtype=torch.float64)
    reference = kl_divergence(
        Normal(z_mean, torch.exp(0.5 * z_log_var)), Normal(torch.zeros(()), torch.ones(()))
    )
    per_dim = kl_per_dimension(z_mean, z_log_var)
    torch.testing.assert_close(per_dim, reference.mean(dim=1))
    torch.testing.assert_close(kl_loss(z_mean, z_log_var), reference.mean(dim=1).sum(dim=-1))
    assert kl_loss(torch.zeros(1, 5, 2), torch.zeros(1, 5, 2)).item() == 0.0


def test_reconstruction_is_mean_squared_error_per_channel():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    reconstruction = torch.tensor([[[1.0, 1.0], [2.0, 1.0]]])  # errors: ch0 (1, 0), ch1 (0, 2)
    torch.testing.assert_close(reconstruction_per_channel(reconstruction, x), torch.tensor([[0.5, 2.0]]))
    torch.testing.assert_close(reconstruction_loss(reconstruction, x), torch.tensor([1.25]))


def test_binary_prediction_loss_is_binary_cross_entropy():
    logits = torch.tensor([[[2.0], [-1.0], [0.5]]])
    target = torch.tensor([1, 0, 0])
    p = torch.sigmoid(logits[0, :, 0])
    expected = -(torch.log(p[0]) + torch.log(1 - p[1]) + torch.log(1 - p[2])) / 3
    torch.testing.assert_close(prediction_loss(logits, target), expected.reshape(1))
    torch.testing.assert_close(probabilities(logits)[0].sum(dim=-1), torch.ones(3))


def test_multiclass_prediction_loss_is_cross_entropy_per_replica():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 4, generator=g)
    target = torch.tensor([0, 1, 2, 3, 3, 1])
    expected = torch.stack(
        [torch.nn.functional.cross_entropy(logits[r], target) for r in range(2)]
    )
    torch.testing.assert_close(prediction_loss(logits, target), expected)
