"""What each input channel does for the model, measured by holding it at its mean: all at once.

For every channel ``c`` and every replica, with ``c`` held at its training mean (0 on
standardised data) and everything else unchanged, on the given rows:

* **importance** - the rise of the head's loss (cross-entropy with sampling off: the negative
  log-likelihood of the labels). A channel the head does not use scores about 0; one it relies
  on, the information it costs to lose it.
* **own reconstruction** - the decoder's squared error on channel ``c`` itself. What the decoder
  still gets right about ``c`` came through the neck from the *other* channels: shared
  structure. A channel reconstructed only because the neck spent a dimension on it alone
  (noise, once the neck has room) loses it.

Holding a channel at its mean, rather than permuting it across the rows, removes what the
channel says without injecting values it never takes together with the others: a rare spike
(a pixel lit in 1 % of the images is 10 standard deviations out when lit) moved onto random rows
would make the head's loss jump for reasons that are not information, and the score would be
deterministic less. The mean is the neutral input.

Changing one channel changes the output of the encoder's input layer by a rank-one term
``(0 - x[:, c]) * W[c]``, so every channel is evaluated from the one shared input-layer pass
plus a small pass through the rest of the encoder, the head and the decoder, in batches of
channels and for every replica together: no Python loop of full forward passes per channel.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from vaec.losses import prediction_losses
from vaec.model import VAECNet

# rows x channels evaluated in one batch: bounds its memory to about
# replicas * budget * (hidden width) floats
DEFAULT_ROWS_TIMES_CHANNELS = 250_000


class AblationScores(NamedTuple):
    """Per replica and channel, ``(replicas, channels)``."""

    importance: torch.Tensor
    importance_se: torch.Tensor
    own_reconstruction_mse: torch.Tensor


@torch.no_grad()
def ablation_scores(
    net: VAECNet,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    rows_times_channels: int = DEFAULT_ROWS_TIMES_CHANNELS,
) -> AblationScores:
    """Importance and own-reconstruction error of every channel held at 0 in turn.

    Parameters
    ----------
    net : VAECNet
        A trained network (any number of replicas), in evaluation mode.
    x : Tensor of shape (rows, channels)
        Standardised rows (0 is every channel's training mean).
    y : Tensor of shape (rows,)
        Class indices, or the values for regression (ignored without a target: importance is
        then 0).
    rows_times_channels : int
        Budget of one batch (rows x channels evaluated together).

    Returns
    -------
    AblationScores
        ``importance``: mean loss with the channel held at 0 minus the mean loss as it is;
        ``importance_se``: its standard error over the rows (large for a channel that is away
        from its mean on a few rows only: its importance rests on them);
        ``own_reconstruction_mse``: mean squared error of the decoder on the channel itself
        (against its true values) with its input held at 0.
    """
    net.eval()
    encoder, decoder = net.encoder, net.decoder
    layer = encoder.input_layer
    n_replicas = net.n_replicas
    pre = layer(net.expand(x))  # (replicas, rows, hidden)
    task = net.config.task
    base = prediction_losses(net.head(encoder.z_mean_from_input_layer(pre)), y, task)
    n_rows, n_channels = x.shape
    chunk = max(1, rows_times_channels // max(n_rows, 1))
    importance, importance_se, own_mse = [], [], []
    for start in range(0, n_channels, chunk):
        stop = min(start + chunk, n_channels)
        width = stop - start
        # (replicas, chunk, rows, hidden): the input layer's output with one channel at 0
        shift = -x[:, start:stop].T.unsqueeze(0).unsqueeze(-1) * layer.weight[:, start:stop].unsqueeze(2)
        changed = (pre.unsqueeze(1) + shift).reshape(n_replicas, width * n_rows, pre.shape[-1])
        z = encoder.z_mean_from_input_layer(changed)
        rise = prediction_losses(net.head(z), y, task).view(n_replicas, width, n_rows) - base.unsqueeze(1)
        importance.append(rise.mean(dim=-1))
        importance_se.append(rise.std(dim=-1) / n_rows**0.5)
        # the decoder's output for channel c only: its hidden layers, then column c of the last
        hidden = decoder.trunk(z).view(n_replicas, width, n_rows, -1)
        out_w = decoder.out.weight[:, :, start:stop]  # (replicas, hidden, chunk)
        out_b = decoder.out.bias[:, 0, start:stop]  # (replicas, chunk)
        own = torch.einsum("rgnh,rhg->rgn", hidden, out_w) + out_b.unsqueeze(-1)
        own_mse.append((own - x[:, start:stop].T.unsqueeze(0)).pow(2).mean(dim=-1))
    return AblationScores(
        torch.cat(importance, dim=1), torch.cat(importance_se, dim=1), torch.cat(own_mse, dim=1)
    )
