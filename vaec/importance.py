"""What each input channel (or group of channels) does for the model, measured by holding it at
its mean (0 on standardised data): every ablation unit and every replica at once, on given rows.

* **importance** - the rise of the head's loss (with sampling off). A unit the head does not use
  scores about 0; one it relies on, the information it costs to lose it. A group held together
  loses what its members share: two copies of one signal each score little alone (the other
  covers for it) and much together.
* **own reconstruction** - the decoder's squared error on the unit's own channels. What the
  decoder still gets right about them came through the neck from the *other* channels: shared
  structure. A channel reconstructed only because the neck spent a dimension on it alone
  (noise, once the neck has room) loses it.

Holding a channel at its mean, rather than permuting it across the rows, removes what it says
without injecting values it never takes together with the others: a rare spike (a pixel lit in
1 % of the images is 10 standard deviations out when lit) moved onto random rows would make the
loss jump for reasons that are not information. Holding a unit changes the output of the
encoder's input layer by ``-sum_c x[:, c] W[c]`` over its members, so every unit is scored from
one shared input-layer pass plus a small pass through the rest, in batches of units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

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
    weights: torch.Tensor | None = None,
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
    weights : Tensor of shape (replicas, rows) or None
        What each row counts for in each replica's means (0 leaves it out: a cross-fitted
        replica is scored on the rows it did not train on); ``None``: all rows alike.

    Returns
    -------
    AblationScores
        ``importance``: mean loss with the unit held at 0 minus the mean loss as it is;
        ``importance_se``: its standard error over the rows (large for a unit away from its
        mean on a few rows only); ``own_reconstruction_mse``: the decoder's mean squared error
        on the unit's channels with the unit's inputs held at 0.
    """
    net.eval()
    pre = net.encoder.input_layer(net.expand(x))  # (replicas, rows, hidden)
    base = net.config.task.prediction_losses(net.head(net.encoder.z_mean_from_input_layer(pre)), y)
    index, mask = unit_index(units, x.shape[1])
    index, mask = index.to(x.device), mask.to(x.dtype).to(x.device)
    chunk = max(1, rows_times_channels // max(x.shape[0] * index.shape[1], 1))
    w = (torch.ones(net.n_replicas, x.shape[0], dtype=x.dtype, device=x.device) if weights is None
         else weights.to(x.dtype).to(x.device))
    w = (w / w.sum(dim=1, keepdim=True)).unsqueeze(1)  # (replicas, 1, rows), each summing to 1
    batches = [_batch_scores(net, x, y, pre, base, index[start:start + chunk],
                             mask[start:start + chunk], w)
               for start in range(0, len(index), chunk)]
    return AblationScores(*(torch.cat(parts, dim=1) for parts in zip(*batches, strict=True)))


def _batch_scores(
    net: VAECNet, x: torch.Tensor, y: torch.Tensor, pre: torch.Tensor, base: torch.Tensor,
    idx: torch.Tensor, m: torch.Tensor, w: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:class:`AblationScores` of one batch of units (``idx``, ``m``: ``(units, widest)``)
    from the shared input-layer pass ``pre`` and the loss as it is, ``base``; ``w`` (each
    replica's row weights, summing to 1) makes the means over the rows."""
    (n_replicas, n_rows, n_hidden), width = pre.shape, len(idx)
    held = x[:, idx] * m  # (rows, units, widest): the members' values, padding at 0
    weight = net.encoder.input_layer.weight[:, idx]  # (replicas, units, widest, hidden)
    # (replicas, units, rows, hidden): the input layer's output with the unit at 0
    shift = -torch.einsum("nus,rush->runh", held, weight)
    changed = (pre.unsqueeze(1) + shift).reshape(n_replicas, width * n_rows, n_hidden)
    z = net.encoder.z_mean_from_input_layer(changed)
    losses = net.config.task.prediction_losses(net.head(z), y)
    rise = losses.view(n_replicas, width, n_rows) - base.unsqueeze(1)
    # the decoder's output for the unit's own channels only: its hidden layers, then those
    # columns of the last layer
    decoder = net.decoder
    hidden = decoder.trunk(z).view(n_replicas, width, n_rows, -1)
    out_w = decoder.out.weight[:, :, idx]  # (replicas, hidden, units, widest)
    out_b = decoder.out.bias[:, 0][:, idx]  # (replicas, units, widest)
    own = torch.einsum("runh,rhus->runs", hidden, out_w) + out_b.unsqueeze(2)
    error = (own - x[:, idx].unsqueeze(0).transpose(1, 2)).pow(2) * m.unsqueeze(1)
    own_mse = (error.sum(dim=-1) * w).sum(dim=-1) / m.sum(dim=-1)
    mean = (rise * w).sum(dim=-1)
    # the standard error of a weighted mean, sqrt(sum w² (x - mean)²) for weights summing to 1,
    # with the small-sample correction of the standard deviation: with n equal weights it is
    # the rows' standard deviation over sqrt(n)
    n_eff = 1.0 / w.pow(2).sum(dim=-1)
    se = (w * (rise - mean.unsqueeze(-1))).pow(2).sum(dim=-1).sqrt()
    return mean, se * (n_eff / (n_eff - 1.0).clamp_min(1e-12)).sqrt(), own_mse
