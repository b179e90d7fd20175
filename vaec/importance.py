"""What each input channel (or group of channels) does for the model, measured by holding it at
its mean: all at once.

For every ablation unit ``g`` (one channel, or a group of channels held together) and every
replica, with the channels of ``g`` held at their training mean (0 on standardised data) and
everything else unchanged, on the given rows:

* **importance** - the rise of the head's loss (cross-entropy with sampling off: the negative
  log-likelihood of the labels). A unit the head does not use scores about 0; one it relies on,
  the information it costs to lose it. A group held together loses what its members share: two
  copies of one signal each score little alone (the other covers for it) and much together.
* **own reconstruction** - the decoder's squared error on the unit's own channels. What the
  decoder still gets right about them came through the neck from the *other* channels: shared
  structure. A channel reconstructed only because the neck spent a dimension on it alone
  (noise, once the neck has room) loses it.

Holding a channel at its mean, rather than permuting it across the rows, removes what the
channel says without injecting values it never takes together with the others: a rare spike
(a pixel lit in 1 % of the images is 10 standard deviations out when lit) moved onto random rows
would make the head's loss jump for reasons that are not information, and the score would be
deterministic less. The mean is the neutral input.

Changing the channels of a unit changes the output of the encoder's input layer by
``-sum_c x[:, c] W[c]`` over its members, so every unit is evaluated from the one shared
input-layer pass plus a small pass through the rest of the encoder, the head and the decoder, in
batches of units and for every replica together: no Python loop of full forward passes per unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from vaec.losses import prediction_losses
from vaec.model import VAECNet

# rows x units evaluated in one batch: bounds its memory to about
# replicas * budget * (hidden width) floats
DEFAULT_ROWS_TIMES_CHANNELS = 250_000


class AblationScores(NamedTuple):
    """Per replica and ablation unit, ``(replicas, units)``."""

    importance: torch.Tensor
    importance_se: torch.Tensor
    own_reconstruction_mse: torch.Tensor


def unit_index(units: Sequence[Sequence[int]] | None, n_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``units`` as a padded index matrix ``(units, widest)`` and its 0/1 mask; ``None``: every
    channel on its own."""
    if units is None:
        return torch.arange(n_channels).unsqueeze(1), torch.ones(n_channels, 1)
    if not units or any(len(u) == 0 for u in units):
        raise ValueError("every ablation unit needs at least one channel")
    widest = max(len(u) for u in units)
    index = torch.zeros(len(units), widest, dtype=torch.long)
    mask = torch.zeros(len(units), widest)
    for i, members in enumerate(units):
        if min(members) < 0 or max(members) >= n_channels:
            raise ValueError(f"ablation unit {i} names a channel outside 0..{n_channels - 1}")
        index[i, : len(members)] = torch.as_tensor(list(members), dtype=torch.long)
        mask[i, : len(members)] = 1.0
    return index, mask


@torch.no_grad()
def ablation_scores(
    net: VAECNet,
    x: torch.Tensor,
    y: torch.Tensor,
    units: Sequence[Sequence[int]] | None = None,
    *,
    rows_times_channels: int = DEFAULT_ROWS_TIMES_CHANNELS,
) -> AblationScores:
    """Importance and own-reconstruction error of every unit held at 0 in turn.

    Parameters
    ----------
    net : VAECNet
        A trained network (any number of replicas), in evaluation mode.
    x : Tensor of shape (rows, channels)
        Standardised rows (0 is every channel's training mean).
    y : Tensor of shape (rows,)
        Class indices, or the values for regression (ignored without a target: importance is
        then 0).
    units : sequence of sequences of int, or None
        The ablation units: the channel positions held at 0 together. ``None``: every channel
        on its own (unit ``c`` is channel ``c``).
    rows_times_channels : int
        Budget of one batch (rows x units evaluated together).

    Returns
    -------
    AblationScores
        ``importance``: mean loss with the unit held at 0 minus the mean loss as it is;
        ``importance_se``: its standard error over the rows (large for a unit that is away
        from its mean on a few rows only: its importance rests on them);
        ``own_reconstruction_mse``: mean squared error of the decoder on the unit's channels
        (against their true values, averaged over them) with the unit's inputs held at 0.
    """
    net.eval()
    encoder, decoder = net.encoder, net.decoder
    layer = encoder.input_layer
    n_replicas = net.n_replicas
    pre = layer(net.expand(x))  # (replicas, rows, hidden)
    task = net.config.task
    base = prediction_losses(net.head(encoder.z_mean_from_input_layer(pre)), y, task)
    n_rows, n_channels = x.shape
    index, mask = unit_index(units, n_channels)
    index, mask = index.to(x.device), mask.to(x.dtype).to(x.device)
    n_units, widest = index.shape
    chunk = max(1, rows_times_channels // max(n_rows * widest, 1))
    importance, importance_se, own_mse = [], [], []
    for start in range(0, n_units, chunk):
        idx, m = index[start:start + chunk], mask[start:start + chunk]  # (chunk, widest)
        width = len(idx)
        held = x[:, idx] * m  # (rows, chunk, widest): the members' values, padding at 0
        weight = layer.weight[:, idx]  # (replicas, chunk, widest, hidden)
        # (replicas, chunk, rows, hidden): the input layer's output with the unit at 0
        shift = -torch.einsum("nus,rush->runh", held, weight)
        changed = (pre.unsqueeze(1) + shift).reshape(n_replicas, width * n_rows, pre.shape[-1])
        z = encoder.z_mean_from_input_layer(changed)
        rise = prediction_losses(net.head(z), y, task).view(n_replicas, width, n_rows) - base.unsqueeze(1)
        importance.append(rise.mean(dim=-1))
        importance_se.append(rise.std(dim=-1) / n_rows**0.5)
        # the decoder's output for the unit's own channels only: its hidden layers, then those
        # columns of the last layer
        hidden = decoder.trunk(z).view(n_replicas, width, n_rows, -1)
        out_w = decoder.out.weight[:, :, idx]  # (replicas, hidden, chunk, widest)
        out_b = decoder.out.bias[:, 0][:, idx]  # (replicas, chunk, widest)
        own = torch.einsum("runh,rhus->runs", hidden, out_w) + out_b.unsqueeze(2)
        error = (own - x[:, idx].unsqueeze(0).transpose(1, 2)).pow(2) * m.unsqueeze(1)
        own_mse.append(error.sum(dim=-1).mean(dim=-1) / m.sum(dim=-1))
    return AblationScores(
        torch.cat(importance, dim=1), torch.cat(importance_se, dim=1), torch.cat(own_mse, dim=1)
    )
