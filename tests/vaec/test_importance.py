"""Ablation scores of every channel at once agree with one forward pass per channel."""

from __future__ import annotations

import pytest
import torch

from vaec.config import VAECConfig
from vaec.model import VAECNet, ablation_scores
from vaec.tasks import CLASSIFICATION


def prediction_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return CLASSIFICATION.prediction_losses(logits, target).mean(dim=-1)


@pytest.mark.parametrize("encoder_widths", [(16, 8), ()])
def test_the_batched_pass_equals_a_forward_pass_per_channel(encoder_widths):
    torch.manual_seed(0)
    config = VAECConfig(n_inputs=7, n_classes=3, latent_dim=2, encoder_widths=encoder_widths)
    net = VAECNet(config, n_replicas=2).eval()
    x, y = torch.randn(50, 7), torch.randint(0, 3, (50,))
    # a budget of 100 row-channels forces several batches of channels
    scores = ablation_scores(net, x, y, rows_times_channels=100)
    importance, own = [], []
    with torch.no_grad():
        base = prediction_loss(net(x).logits, y)
        for c in range(7):
            held = x.clone()
            held[:, c] = 0.0
            out = net(held)
            importance.append(prediction_loss(out.logits, y) - base)
            own.append((out.reconstruction[:, :, c] - x[:, c]).pow(2).mean(dim=-1))
    torch.testing.assert_close(scores.importance, torch.stack(importance, 1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(scores.own_reconstruction_mse, torch.stack(own, 1), atol=1e-5,
                               rtol=1e-4)
    assert scores.importance.shape == (2, 7)


def test_a_channel_the_network_ignores_scores_zero_importance():
    config = VAECConfig(n_inputs=3, n_classes=2, latent_dim=1, encoder_widths=(4,))
    net = VAECNet(config).eval()
    with torch.no_grad():
        net.encoder.input_layer.weight[:, 2, :] = 0.0  # the input layer never reads channel 2
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    scores = ablation_scores(net, x, y)
    assert scores.importance[0, 2].item() == pytest.approx(0.0, abs=1e-6)
    assert abs(scores.importance[0, 0].item()) > 1e-4


@pytest.mark.parametrize("encoder_widths", [(16, 8), ()])
def test_a_group_scores_as_its_members_held_at_zero_together(encoder_widths):
    torch.manual_seed(1)
    config = VAECConfig(n_inputs=6, n_classes=2, latent_dim=2, encoder_widths=encoder_widths)
    net = VAECNet(config, n_replicas=3).eval()
    x, y = torch.randn(40, 6), torch.randint(0, 2, (40,))
    units = [[0, 3], [5], [1, 2, 4]]
    scores = ablation_scores(net, x, y, units, rows_times_channels=90)
    with torch.no_grad():
        base = prediction_loss(net(x).logits, y)
        for u, members in enumerate(units):
            held = x.clone()
            held[:, members] = 0.0
            out = net(held)
            rise = prediction_loss(out.logits, y) - base
            own = (out.reconstruction[:, :, members] - x[:, members]).pow(2).mean(dim=(-2, -1))
            torch.testing.assert_close(scores.importance[:, u], rise, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(scores.own_reconstruction_mse[:, u], own, atol=1e-5,
                                       rtol=1e-4)
    assert scores.importance.shape == (3, 3)


def test_units_must_name_channels_of_the_input():
    net = VAECNet(VAECConfig(n_inputs=3, n_classes=2, latent_dim=1)).eval()
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    with pytest.raises(ValueError, match="outside"):
        ablation_scores(net, x, y, [[0, 3]])
    with pytest.raises(ValueError, match="at least one"):
        ablation_scores(net, x, y, [[0], []])


def test_row_weights_score_each_replica_on_its_own_rows():
    torch.manual_seed(2)
    net = VAECNet(VAECConfig(n_inputs=5, n_classes=2, latent_dim=2), n_replicas=2).eval()
    x, y = torch.randn(60, 5), torch.randint(0, 2, (60,))
    mask = torch.zeros(2, 60)
    mask[0, :25], mask[1, 25:] = 1.0, 1.0  # replica 0 is scored on rows 0-24, replica 1 on the rest
    weighted = ablation_scores(net, x, y, [[0], [1, 3]], weights=mask)
    for replica, rows in ((0, slice(0, 25)), (1, slice(25, 60))):
        alone = ablation_scores(net, x[rows], y[rows], [[0], [1, 3]])
        for name in ("importance", "importance_se", "own_reconstruction_mse"):
            torch.testing.assert_close(getattr(weighted, name)[replica],
                                       getattr(alone, name)[replica], atol=1e-5, rtol=1e-4)
