"""The VAE + classifier network (encoder with a Gaussian neck, decoder, classifier head) and
the losses of the autoencoder (the head's loss is its task's, :mod:`vaec.tasks`).

Every layer carries a leading *replica* dimension: ``n_replicas`` independent models of the same
architecture live in one module and run in one batched matmul (``torch.baddbmm``). A single model
is the case ``n_replicas == 1``. Replica ``r`` is initialised exactly like a one-replica model
seeded with ``seed + r``, so trials are reproducible one by one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from vaec.config import VAECConfig

PARTS = ("encoder", "decoder", "head")

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}

# Bounds keep exp(0.5 * log_var) finite early in training, when the encoder is still wild.
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 8.0


class VAECOutput(NamedTuple):
    """What one forward pass gives, each with a leading replica dimension; ``reconstruction``
    or ``logits`` is ``None`` when the pass was asked not to compute it."""

    z_mean: torch.Tensor
    z_log_var: torch.Tensor
    z_decoder: torch.Tensor
    z_head: torch.Tensor
    reconstruction: torch.Tensor | None
    logits: torch.Tensor | None


class ReplicaLinear(nn.Module):
    """``n_replicas`` independent linear layers ``in_features -> out_features`` (as in
    :class:`torch.nn.Linear`) applied as one batched matmul."""

    def __init__(self, n_replicas: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(n_replicas, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_replicas, 1, out_features))

    def reset_parameters(self, generators: list[torch.Generator]) -> None:
        """The default init of :class:`torch.nn.Linear`, one generator per replica."""
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            for r, gen in enumerate(generators):
                shape_w = (self.in_features, self.out_features)
                self.weight[r].copy_(torch.rand(shape_w, generator=gen) * 2 * bound - bound)
                self.bias[r].copy_(torch.rand((1, self.out_features), generator=gen) * 2 * bound - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _mlp(config: VAECConfig, n_replicas: int, sizes: list[int]) -> nn.Sequential:
    """Hidden layers: linear, activation, optional dropout, for each consecutive pair of sizes."""
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers.append(ReplicaLinear(n_replicas, n_in, n_out))
        layers.append(_ACTIVATIONS[config.activation]())
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Input channels -> hidden layers -> (z_mean, z_log_var) of the Gaussian neck."""

    def __init__(self, config: VAECConfig, n_replicas: int) -> None:
        super().__init__()
        sizes = [config.n_inputs, *config.encoder_widths]
        self.trunk = _mlp(config, n_replicas, sizes)
        self.z_mean = ReplicaLinear(n_replicas, sizes[-1], config.latent_dim)
        self.z_log_var = ReplicaLinear(n_replicas, sizes[-1], config.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(x)
        log_var = self.z_log_var(hidden).clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        return self.z_mean(hidden), log_var

    @property
    def input_layer(self) -> ReplicaLinear:
        """The linear layer that reads the input channels (the first of the path to z_mean)."""
        return self.trunk[0] if len(self.trunk) else self.z_mean

    def z_mean_from_input_layer(self, pre_activation: torch.Tensor) -> torch.Tensor:
        """z_mean from the output of :attr:`input_layer` (the rest of the path to z_mean): a
        change of one input channel moves that output by a rank-one term, so changing each
        channel in turn costs one small pass per channel instead of a full one."""
        if not len(self.trunk):
            return pre_activation
        return self.z_mean(self.trunk[1:](pre_activation))


Generators = torch.Generator | Sequence[torch.Generator] | None


def sample_latent(z_mean: torch.Tensor, z_log_var: torch.Tensor,
                  generator: Generators = None) -> torch.Tensor:
    """Reparameterised draw ``z = z_mean + exp(0.5 * z_log_var) * eps``, ``eps ~ N(0, I)``.

    ``generator`` may be one generator per replica: then replica ``r`` draws its noise from its
    own stream, so a model trains the same whether it is alone or one of many replicas.
    """
    options = {"device": z_mean.device, "dtype": z_mean.dtype}
    if isinstance(generator, Sequence):
        eps = torch.stack([torch.randn(z_mean.shape[1:], generator=g, **options) for g in generator])
    else:
        eps = torch.randn(z_mean.shape, generator=generator, **options)
    return z_mean + torch.exp(0.5 * z_log_var) * eps


def replica_generators(seed: int, n_replicas: int,
                       device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One generator per replica, seeded ``seed + r``: the one source of every replica's
    initial weights (on the CPU) and noise streams (on the data's device)."""
    return [torch.Generator(device=device).manual_seed(seed + r) for r in range(n_replicas)]


class LatentMLP(nn.Module):
    """Latent point -> hidden layers -> outputs: the decoder (one value per input channel) and
    the classifier head (class logits, or the predicted value)."""

    def __init__(self, config: VAECConfig, n_replicas: int, widths: Sequence[int], n_out: int) -> None:
        super().__init__()
        sizes = [config.latent_dim, *widths]
        self.trunk = _mlp(config, n_replicas, sizes)
        self.out = ReplicaLinear(n_replicas, sizes[-1], n_out)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(z))


class VAECNet(nn.Module):
    """Encoder, sampling neck, decoder and classifier head, for ``n_replicas`` models at once.

    Parameters
    ----------
    config : VAECConfig
        Architecture (sizes, activation, dropout) and the initialisation seed.
    n_replicas : int, default=1
        Number of independent models stacked on the leading dimension.
    """

    def __init__(self, config: VAECConfig, n_replicas: int = 1) -> None:
        super().__init__()
        if n_replicas < 1:
            raise ValueError(f"n_replicas must be >= 1, got {n_replicas}")
        self.config, self.n_replicas = config, n_replicas
        self.encoder = Encoder(config, n_replicas)
        self.decoder = LatentMLP(config, n_replicas, config.decoder_layer_widths, config.n_inputs)
        n_outputs = config.task.n_outputs(config.n_classes)
        self.head = LatentMLP(config, n_replicas, config.head_widths, n_outputs)
        if self.encoder.z_mean.weight.device.type != "meta":  # meta tensors hold no values
            self.reset_parameters(config.seed)

    @staticmethod
    def state_shapes(config: VAECConfig, n_replicas: int = 1) -> dict[str, tuple[int, ...]]:
        """The shape of every tensor in the state dict of ``VAECNet(config, n_replicas)``,
        worked out on the meta device: nothing is allocated however large the sizes are, so a
        saved model's weights can be checked against its config before the network is built."""
        with torch.device("meta"):
            net = VAECNet(config, n_replicas)
        return {name: tuple(t.shape) for name, t in net.state_dict().items()}

    def reset_parameters(self, seed: int) -> None:
        """Initialise replica ``r`` from a generator seeded ``seed + r``."""
        generators = replica_generators(seed, self.n_replicas)
        for module in self.modules():
            if isinstance(module, ReplicaLinear):
                module.reset_parameters(generators)

    def part(self, name: str) -> nn.Module:
        """One of the three parts by name: ``encoder``, ``decoder`` or ``head``."""
        if name not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}; got {name!r}")
        return getattr(self, name)

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """Give ``(rows, channels)`` input the replica dimension (a view, no copy)."""
        return x.unsqueeze(0).expand(self.n_replicas, -1, -1) if x.dim() == 2 else x

    def forward(self, x: torch.Tensor, *, sample_head: bool = False, sample_decoder: bool | None = None,
                generator: Generators = None, decode: bool = True, classify: bool = True) -> VAECOutput:
        """Encode, route z to the decoder and the head, decode and classify.

        This is the one place that decides which z each part sees; training, evaluation,
        snapshots and inference all call it.

        Parameters
        ----------
        x : Tensor
            ``(rows, channels)`` or ``(replicas, rows, channels)``.
        sample_head : bool
            The head sees a reparameterised draw of z (``True``) or z_mean.
        sample_decoder : bool or None
            The same for the decoder; ``None`` follows ``sample_head``.
        generator : torch.Generator, one per replica, or None
            Noise of the draws. The decoder's draw is taken before the head's, and each part
            that samples gets a draw of its own.
        decode, classify : bool
            Skip the decoder or the head (and their draws) when their output is not needed.
        """
        z_mean, z_log_var = self.encoder(self.expand(x))
        sample_decoder = sample_head if sample_decoder is None else sample_decoder
        z_decoder = z_head = z_mean
        reconstruction = logits = None
        if decode:
            if sample_decoder:
                z_decoder = sample_latent(z_mean, z_log_var, generator)
            reconstruction = self.decoder(z_decoder)
        if classify:
            if sample_head:
                z_head = sample_latent(z_mean, z_log_var, generator)
            logits = self.head(z_head)
        return VAECOutput(z_mean, z_log_var, z_decoder, z_head, reconstruction, logits)


# losses of the autoencoder, each per replica (the leading dimension) ---------------------------

Weights = torch.Tensor | None  # (replicas, rows): what each row counts for in each replica


def row_mean(values: torch.Tensor, weights: Weights = None) -> torch.Tensor:
    """Mean over the rows (dimension 1) of ``(replicas, rows, ...)`` values, each replica's rows
    weighted by its row of ``weights`` when given (0 leaves a row out: cross-fitting)."""
    if weights is None:
        return values.mean(dim=1)
    w = weights.reshape(*weights.shape, *([1] * (values.dim() - 2)))
    return (values * w).sum(dim=1) / w.sum(dim=1)


def reconstruction_per_channel(reconstruction: torch.Tensor, x: torch.Tensor,
                               weights: Weights = None) -> torch.Tensor:
    """Mean squared error of every channel over the rows: ``(replicas, channels)``."""
    return row_mean((reconstruction - x).pow(2), weights)


def reconstruction_loss(reconstruction: torch.Tensor, x: torch.Tensor,
                        weights: Weights = None) -> torch.Tensor:
    """Mean over channels of :func:`reconstruction_per_channel`: ``(replicas,)``."""
    return reconstruction_per_channel(reconstruction, x, weights).mean(dim=-1)


def kl_per_dimension(z_mean: torch.Tensor, z_log_var: torch.Tensor,
                     weights: Weights = None) -> torch.Tensor:
    """KL(N(mu, sigma²) || N(0, 1)) per latent dimension, averaged over the rows, by the closed
    form ``-log(sigma) + (sigma² + mu²) / 2 - 1/2``: ``(replicas, latent_dim)``."""
    return row_mean(0.5 * (torch.exp(z_log_var) + z_mean.pow(2) - 1.0 - z_log_var), weights)


def kl_loss(z_mean: torch.Tensor, z_log_var: torch.Tensor, weights: Weights = None) -> torch.Tensor:
    """KL to N(0, I): the per-dimension terms summed; ``(replicas,)``."""
    return kl_per_dimension(z_mean, z_log_var, weights).sum(dim=-1)
