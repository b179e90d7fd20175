"""The VAE + classifier network (encoder with a Gaussian neck, decoder, head), the autoencoder's
losses and the ablation scores of the input channels. Every layer has a leading *replica*
dimension (``n_replicas`` models in one batched matmul; replica ``r`` initialised as a lone model
seeded ``seed + r``). A unit of channels is ablated by holding it at its mean, 0 on standardised
data (permuting would put a rare spike on rows where it never occurs), from one shared pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vaec.config import VAECConfig

PARTS = ("encoder", "decoder", "head")
# rows x units in one ablation batch (its memory: about replicas * budget * hidden width floats)
DEFAULT_ROWS_TIMES_CHANNELS = 250_000
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh,
                                             "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU}
# Bounds keep exp(0.5 * log_var) finite early in training, when the encoder is still wild.
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 8.0
Generators = torch.Generator | Sequence[torch.Generator] | None


class VAECOutput(NamedTuple):
    """One forward pass, each with a leading replica dimension (``None``: not computed)."""

    z_mean: Tensor
    z_log_var: Tensor
    z_head: Tensor
    reconstruction: Tensor | None
    logits: Tensor | None


class ReplicaLinear(nn.Module):
    """``n_replicas`` independent :class:`torch.nn.Linear` layers applied as one batched matmul."""

    def __init__(self, n_replicas: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_replicas, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_replicas, 1, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _mlp(config: VAECConfig, n_replicas: int, sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [ReplicaLinear(n_replicas, n_in, n_out), _ACTIVATIONS[config.activation]()]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Input channels -> hidden layers -> (z_mean, z_log_var) of the Gaussian neck."""

    def __init__(self, config: VAECConfig, n_replicas: int) -> None:
        super().__init__()
        sizes = [config.n_inputs, *config.encoder_widths]
        self.trunk = _mlp(config, n_replicas, sizes)
        self.z_mean, self.z_log_var = (ReplicaLinear(n_replicas, sizes[-1], config.latent_dim)
                                       for _ in range(2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.trunk(x)
        return self.z_mean(hidden), self.z_log_var(hidden).clamp(LOG_VAR_MIN, LOG_VAR_MAX)

    @property
    def input_layer(self) -> ReplicaLinear:
        """The linear layer that reads the input channels (the first of the path to z_mean)."""
        return self.trunk[0] if len(self.trunk) else self.z_mean

    def z_mean_from_input_layer(self, pre_activation: Tensor) -> Tensor:
        """z_mean from the output of :attr:`input_layer` (the rest of the path to z_mean)."""
        return self.z_mean(self.trunk[1:](pre_activation)) if len(self.trunk) else pre_activation


def sample_latent(z_mean: Tensor, z_log_var: Tensor, generator: Generators = None) -> Tensor:
    """Draw ``z_mean + exp(0.5 * z_log_var) * eps``, ``eps ~ N(0, I)``; a generator per replica or one."""
    options = {"device": z_mean.device, "dtype": z_mean.dtype}
    eps = (torch.stack([torch.randn(z_mean.shape[1:], generator=g, **options) for g in generator])
           if isinstance(generator, Sequence) else torch.randn(z_mean.shape, generator=generator, **options))
    return z_mean + torch.exp(0.5 * z_log_var) * eps


def replica_generators(seed: int, n_replicas: int,
                       device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One generator per replica, seeded ``seed + r`` (weights on the CPU, noise on the device)."""
    return [torch.Generator(device=device).manual_seed(seed + r) for r in range(n_replicas)]


class LatentMLP(nn.Module):
    """Latent point -> hidden layers -> outputs: the decoder and the classifier head."""

    def __init__(self, config: VAECConfig, n_replicas: int, widths: Sequence[int], n_out: int) -> None:
        super().__init__()
        sizes = [config.latent_dim, *widths]
        self.trunk = _mlp(config, n_replicas, sizes)
        self.out = ReplicaLinear(n_replicas, sizes[-1], n_out)

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.trunk(z))


class VAECNet(nn.Module):
    """Encoder, sampling neck, decoder and classifier head, for ``n_replicas`` models at once
    (stacked on the leading dimension), built and initialised as ``config`` says."""

    def __init__(self, config: VAECConfig, n_replicas: int = 1) -> None:
        super().__init__()
        if n_replicas < 1:
            raise ValueError(f"n_replicas must be >= 1, got {n_replicas}")
        self.config, self.n_replicas = config, n_replicas
        self.encoder = Encoder(config, n_replicas)
        self.decoder = LatentMLP(config, n_replicas, config.decoder_layer_widths, config.n_inputs)
        self.head = LatentMLP(config, n_replicas, config.head_widths, config.task.n_outputs(config.n_classes))
        if self.encoder.z_mean.weight.device.type != "meta":  # meta tensors hold no values
            # the default init of torch.nn.Linear, replica r from a generator seeded seed + r
            generators = replica_generators(config.seed, n_replicas)
            layers = [m for m in self.modules() if isinstance(m, ReplicaLinear)]
            with torch.no_grad():
                for layer, (r, gen) in itertools.product(layers, enumerate(generators)):
                    bound = 1.0 / math.sqrt(layer.weight.shape[1])
                    for p in (layer.weight, layer.bias):
                        p[r].copy_(torch.rand(p.shape[1:], generator=gen) * 2 * bound - bound)

    def part(self, name: str) -> nn.Module:
        """One of the three :data:`PARTS` by name: ``encoder``, ``decoder`` or ``head``."""
        return {"encoder": self.encoder, "decoder": self.decoder, "head": self.head}[name]

    def expand(self, x: Tensor) -> Tensor:
        """Give ``(rows, channels)`` input the replica dimension (a view, no copy)."""
        return x.unsqueeze(0).expand(self.n_replicas, -1, -1) if x.dim() == 2 else x

    def forward(self, x: Tensor, *, sample: bool = False, generator: Generators = None,
                decode: bool = True, classify: bool = True) -> VAECOutput:
        """Encode ``(rows, channels)`` or ``(replicas, rows, channels)``, route z to the decoder
        and the head (the one place that decides which z each part sees), decode and classify.
        ``sample``: each part sees a draw of z from ``generator`` (the decoder's first), not
        z_mean; ``decode``/``classify`` False skip that part and its draw."""
        z_mean, z_log_var = self.encoder(self.expand(x))
        z_head, reconstruction, logits = z_mean, None, None
        if decode:
            reconstruction = self.decoder(sample_latent(z_mean, z_log_var, generator) if sample else z_mean)
        if classify:
            if sample:
                z_head = sample_latent(z_mean, z_log_var, generator)
            logits = self.head(z_head)
        return VAECOutput(z_mean, z_log_var, z_head, reconstruction, logits)


# losses of the autoencoder, each per replica (the leading dimension) ---------------------------

Weights = Tensor | None  # (replicas, rows): what each row counts for in each replica


def row_mean(values: Tensor, weights: Weights = None) -> Tensor:
    """Mean over the rows (dimension 1), each replica's rows weighted by its row of ``weights``."""
    if weights is None:
        return values.mean(dim=1)
    w = weights.reshape(*weights.shape, *([1] * (values.dim() - 2)))
    return (values * w).sum(dim=1) / w.sum(dim=1)


def reconstruction_per_channel(reconstruction: Tensor, x: Tensor, weights: Weights = None) -> Tensor:
    """Mean squared error of every channel over the rows: ``(replicas, channels)``."""
    return row_mean((reconstruction - x).pow(2), weights)


def reconstruction_loss(reconstruction: Tensor, x: Tensor, weights: Weights = None) -> Tensor:
    """Mean over channels of :func:`reconstruction_per_channel`: ``(replicas,)``."""
    return reconstruction_per_channel(reconstruction, x, weights).mean(dim=-1)


def kl_per_dimension(z_mean: Tensor, z_log_var: Tensor, weights: Weights = None) -> Tensor:
    """KL(N(mu, sigma²) || N(0, 1)) per latent dimension, mean over the rows: ``(replicas, latent_dim)``."""
    return row_mean(0.5 * (torch.exp(z_log_var) + z_mean.pow(2) - 1.0 - z_log_var), weights)


def kl_loss(z_mean: Tensor, z_log_var: Tensor, weights: Weights = None) -> Tensor:
    """KL to N(0, I): the per-dimension terms summed; ``(replicas,)``."""
    return kl_per_dimension(z_mean, z_log_var, weights).sum(dim=-1)


# ablation of the input channels ----------------------------------------------------------------

class AblationScores(NamedTuple):
    """Per replica and ablation unit, ``(replicas, units)``."""

    importance: Tensor
    importance_se: Tensor
    own_reconstruction_mse: Tensor


@torch.no_grad()
def ablation_scores(net: VAECNet, x: Tensor, y: Tensor, units: Sequence[Sequence[int]] | None = None, *,
                    rows_times_channels: int = DEFAULT_ROWS_TIMES_CHANNELS, weights: Weights = None,
                    ) -> AblationScores:
    """Of every unit (channel positions held at 0 together; ``None``: each channel alone) of
    standardised rows ``x``: ``importance``, the head's mean loss on target ``y`` with the unit held
    at 0 minus as it is, its standard error over the rows, and the decoder's mean squared error on
    the unit's channels with it held. ``weights`` ``(replicas, rows)``: what each row counts for
    in each replica's means; ``rows_times_channels``: the budget of one batch."""
    net.eval()
    pre = net.encoder.input_layer(net.expand(x))  # (replicas, rows, hidden)
    base = net.config.task.prediction_losses(net.head(net.encoder.z_mean_from_input_layer(pre)), y)
    n_channels = x.shape[1]
    # the units as a padded index matrix (units, widest) and its 0/1 mask
    if units is None:
        index, mask = torch.arange(n_channels).unsqueeze(1), torch.ones(n_channels, 1)
    else:
        if not units or any(len(u) == 0 for u in units):
            raise ValueError("every ablation unit needs at least one channel")
        widest = max(len(u) for u in units)
        index, mask = torch.zeros(len(units), widest, dtype=torch.long), torch.zeros(len(units), widest)
        for i, members in enumerate(units):
            if min(members) < 0 or max(members) >= n_channels:
                raise ValueError(f"ablation unit {i} names a channel outside 0..{n_channels - 1}")
            index[i, : len(members)] = torch.as_tensor(list(members), dtype=torch.long)
            mask[i, : len(members)] = 1.0
    index, mask = index.to(x.device), mask.to(x.dtype).to(x.device)
    chunk = max(1, rows_times_channels // max(x.shape[0] * index.shape[1], 1))
    w = (torch.ones(net.n_replicas, x.shape[0], dtype=x.dtype, device=x.device) if weights is None
         else weights.to(x.dtype).to(x.device))
    w = (w / w.sum(dim=1, keepdim=True)).unsqueeze(1)  # (replicas, 1, rows), each summing to 1
    batches = [_batch_scores(net, x, y, pre, base, index[start:start + chunk], mask[start:start + chunk], w)
               for start in range(0, len(index), chunk)]
    return AblationScores(*(torch.cat(parts, dim=1) for parts in zip(*batches, strict=True)))


def _batch_scores(net: VAECNet, x: Tensor, y: Tensor, pre: Tensor, base: Tensor,
                  idx: Tensor, m: Tensor, w: Tensor) -> tuple[Tensor, ...]:
    """:class:`AblationScores` of one batch of units from the shared input-layer pass ``pre``."""
    (n_replicas, n_rows, n_hidden), width = pre.shape, len(idx)
    # the input layer's output with the unit at 0, (replicas, units, rows, hidden), from the members'
    # values (rows, units, widest; padding at 0) and weights (replicas, units, widest, hidden)
    shift = -torch.einsum("nus,rush->runh", x[:, idx] * m, net.encoder.input_layer.weight[:, idx])
    changed = (pre.unsqueeze(1) + shift).reshape(n_replicas, width * n_rows, n_hidden)
    z = net.encoder.z_mean_from_input_layer(changed)
    losses = net.config.task.prediction_losses(net.head(z), y)
    rise = losses.view(n_replicas, width, n_rows) - base.unsqueeze(1)
    # the decoder's output for the unit's own channels only: its trunk, then those columns
    hidden = net.decoder.trunk(z).view(n_replicas, width, n_rows, -1)
    out_w = net.decoder.out.weight[:, :, idx]  # (replicas, hidden, units, widest)
    out_b = net.decoder.out.bias[:, 0][:, idx]  # (replicas, units, widest)
    own = torch.einsum("runh,rhus->runs", hidden, out_w) + out_b.unsqueeze(2)
    error = (own - x[:, idx].unsqueeze(0).transpose(1, 2)).pow(2) * m.unsqueeze(1)
    own_mse = (error.sum(dim=-1) * w).sum(dim=-1) / m.sum(dim=-1)
    mean = (rise * w).sum(dim=-1)
    # the standard error of a weighted mean, sqrt(sum w² (x - mean)²) for weights summing to 1,
    # with the small-sample correction (n equal weights: the rows' standard deviation / sqrt(n))
    n_eff = 1.0 / w.pow(2).sum(dim=-1)
    se = (w * (rise - mean.unsqueeze(-1))).pow(2).sum(dim=-1).sqrt()
    return mean, se * (n_eff / (n_eff - 1.0).clamp_min(1e-12)).sqrt(), own_mse
