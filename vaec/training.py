"""The one training loop. A :class:`~vaec.config.Strategy` tells it what to optimise.

Tensors are placed on the device once; the full batch is one step when ``batch_size`` is None.
A step is the hand-fused one where it applies (:mod:`vaec.steps` chooses, by
``config.training_step``).
Per-epoch metrics stay on the device until the end (no host round trip per epoch), and the best
epoch of every replica is tracked with tensor ops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from vaec.config import Strategy, VAECConfig
from vaec.history import History, LatentSnapshot, TrainingResult, metric_names, snapshot_epochs
from vaec.model import (
    Generators,
    VAECNet,
    Weights,
    kl_loss,
    reconstruction_loss,
    replica_generators,
    row_mean,
)
from vaec.steps import make_step

# The evaluation noise has its own stream, so recording metrics never changes the training.
_EVAL_SEED_OFFSET = 1_000_003
# the training rows' evaluation draws its own noise, so how many rows it evaluates (all, a
# subset, none) never changes the validation split's numbers
_TRAIN_EVAL_SEED_OFFSET = 2_000_003


class TrainingDivergedError(RuntimeError):
    """Training ended with NaN or infinite weights; the message says what to lower."""


def _check_finite(net: VAECNet, strategy: Strategy, epoch: int) -> None:
    """Raise :class:`TrainingDivergedError` when a weight of ``net`` is NaN or infinite."""
    finite = torch.stack([torch.isfinite(p).all() for p in net.parameters()]).all()
    if not bool(finite):
        raise TrainingDivergedError(
            f"training diverged: the {strategy.name} weights hold NaN or infinite values after "
            f"epoch {epoch} (lower learning_rate, now {net.config.learning_rate:g})")


def _weights(config: VAECConfig, strategy: Strategy) -> dict[str, float]:
    """The weight of every loss, 0 for those the strategy does not count."""
    weights = {"reconstruction": config.reconstruction_weight, "kl": config.kl_weight,
               "prediction": config.prediction_weight}
    return {name: (w if name in strategy.losses else 0.0) for name, w in weights.items()}


@torch.no_grad()
def _evaluate(net: VAECNet, x: torch.Tensor, y: torch.Tensor, rows: Weights, strategy: Strategy,
              weights: dict[str, float], generator: Generators) -> torch.Tensor:
    """All metrics of every replica on one split, ``(replicas, metrics)`` in the order of
    :func:`vaec.history.metric_names`: the losses as the strategy trains (sampled z where it
    samples), then the task's scores with sampling off (z_mean) and on (a draw of z), of the
    head's output with a target, of the reconstruction without one."""
    config = net.config
    out = net(x, sample_head=True, sample_decoder=strategy.sample_decoder, generator=generator)
    logits_mean = net.head(out.z_mean)
    logits_trained = out.logits if strategy.sample_head else logits_mean
    rec = reconstruction_loss(out.reconstruction, x, rows)
    kl = kl_loss(out.z_mean, out.z_log_var, rows)
    pred = row_mean(config.task.prediction_losses(logits_trained, y), rows)
    total = weights["reconstruction"] * rec + weights["kl"] * kl + weights["prediction"] * pred
    if config.task.has_target:
        off, on, truth = logits_mean, out.logits, y
    else:
        off, on, truth = net.decoder(out.z_mean), out.reconstruction, x
    scores = [*config.task.scores(off, truth, config.n_classes, rows),
              *config.task.scores(on, truth, config.n_classes, rows)]
    return torch.stack([c.to(torch.float64) for c in [total, rec, kl, pred, *scores]], dim=1)


@torch.no_grad()
def _snapshot(net: VAECNet, epoch: int, x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor | None,
              y_val: torch.Tensor | None, generator: Generators) -> LatentSnapshot:
    def latent(data: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        out = net(data, sample_head=True, generator=generator, decode=False)
        return out.z_head.cpu().numpy(), out.z_mean.cpu().numpy()

    train_z, train_mean = latent(x)
    val_z, val_mean = latent(x_val) if x_val is not None else (None, None)
    y_val_np = y_val.cpu().numpy() if y_val is not None else None
    return LatentSnapshot(epoch, train_z, train_mean, val_z, val_mean, y.cpu().numpy(), y_val_np)


class _Best:
    """The best epoch of every replica so far (by the selection scores) and, when the config
    restores it, its weights; also the epoch of the lowest loss, for early stopping on it."""

    def __init__(self, net: VAECNet, strategy: Strategy, trainable: list[torch.Tensor],
                 offset: int, device: torch.device) -> None:
        config, n = net.config, net.n_replicas
        self.config, self.strategy = config, strategy
        self.names = metric_names(config.task)
        self.offset = offset  # where the split that selects starts in a row
        self.primary = torch.full((n,), -torch.inf, dtype=torch.float64, device=device)
        self.second = self.primary.clone()
        self.epoch = torch.zeros(n, dtype=torch.long, device=device)
        self.loss = torch.full((n,), torch.inf, dtype=torch.float64, device=device)
        self.loss_epoch = torch.zeros(n, dtype=torch.long, device=device)
        # (best copy, parameter) pairs, when the best weights are restored at the end
        self.state = [(p.detach().clone(), p) for p in trainable] if config.restore_best else []

    def _column(self, row: torch.Tensor, name: str) -> torch.Tensor:
        return row[:, self.offset + self.names.index(name)]

    def _scores(self, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(primary, tie-break) scores per replica; larger is better."""
        task = self.config.task
        if not (self.strategy.uses_prediction and task.has_target):
            total = self._column(row, "total_loss")
            return -total, torch.zeros_like(total)
        scores = []
        for name in task.ranked_scores(self.config.selection_metric):
            value = self._column(row, name)
            scores.append(-value if name in task.lower_is_better else value)
        return scores[0], scores[1]

    @torch.no_grad()
    def update(self, row: torch.Tensor, epoch: int) -> None:
        """Take in the metrics of ``epoch``: primary score first, ties broken by the second."""
        primary, second = self._scores(row)
        improved = (primary > self.primary) | ((primary == self.primary) & (second > self.second))
        self.primary = torch.where(improved, primary, self.primary)
        self.second = torch.where(improved, second, self.second)
        self.epoch = torch.where(improved, torch.full_like(self.epoch, epoch), self.epoch)
        for saved, p in self.state:
            saved.copy_(torch.where(improved.view(-1, *([1] * (p.dim() - 1))), p, saved))
        loss = self._column(row, "total_loss")
        lower = loss < self.loss - 1e-4 * self.loss.abs().clamp(max=1e6)
        self.loss = torch.where(lower, loss, self.loss)
        self.loss_epoch = torch.where(lower, torch.full_like(self.loss_epoch, epoch), self.loss_epoch)

    def stalled(self, epoch: int) -> bool:
        """Whether every replica has waited the patience without improving what is watched."""
        patience = self.config.early_stopping_patience
        since = self.loss_epoch if self.config.early_stopping_on == "loss" else self.epoch
        return patience is not None and int((epoch - since).min()) >= patience

    @torch.no_grad()
    def restore(self) -> None:
        """Put the best weights back (nothing without ``restore_best``)."""
        for saved, p in self.state:
            p.copy_(saved)


class _Evaluation:
    """One history row per call: the metrics of the training rows (all, or a fixed seeded subset
    of ``train_metrics_rows``, the same every epoch), then of the validation rows, each split
    drawing its own noise."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float], x: torch.Tensor,
                 y: torch.Tensor, x_val: torch.Tensor | None, y_val: torch.Tensor | None,
                 rows: Weights = None, val_rows: Weights = None) -> None:
        config, n, device = net.config, net.n_replicas, x.device
        self.net, self.strategy, self.weights = net, strategy, weights
        self.modes_matter = _modes_matter(config)
        self.val = (x_val, y_val, val_rows)
        self.train_noise = replica_generators(config.seed + _TRAIN_EVAL_SEED_OFFSET, n, device)
        self.val_noise = replica_generators(config.seed + _EVAL_SEED_OFFSET, n, device)
        self.has_val = x_val is not None and y_val is not None
        n_metrics = len(metric_names(config.task))
        self.select_offset = n_metrics if self.has_val else 0  # the split that picks the best
        self.nan_row = torch.full((n, n_metrics), torch.nan, dtype=torch.float64, device=device)
        self.train = (x, y, rows)
        subset = config.train_metrics_rows
        if subset is not None and x.shape[0] > subset:
            generator = torch.Generator().manual_seed(config.seed + _EVAL_SEED_OFFSET)
            pick = torch.randperm(x.shape[0], generator=generator)[:subset].sort().values.to(device)
            self.train = (x[pick], y[pick], None if rows is None else rows[:, pick])

    def __call__(self) -> torch.Tensor:
        net, strategy, weights = self.net, self.strategy, self.weights
        if self.modes_matter:
            net.eval()
        train = (_evaluate(net, *self.train, strategy, weights, self.train_noise)
                 if net.config.train_metrics else self.nan_row)
        val = _evaluate(net, *self.val, strategy, weights, self.val_noise) if self.has_val else self.nan_row
        return torch.cat([train, val], dim=1)


def _batches(n_rows: int, batch_size: int | None, generator: torch.Generator) -> list[torch.Tensor | None]:
    """Row indices of every step of one epoch; ``[None]``: one full-batch step."""
    if batch_size is None or batch_size >= n_rows:
        return [None]
    return list(torch.randperm(n_rows, generator=generator).split(batch_size))


def _trainable(net: VAECNet, strategy: Strategy) -> list[torch.Tensor]:
    """The parameters of the parts the strategy trains; every other one is frozen."""
    trainable = [p for name in strategy.trains for p in net.part(name).parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    return trainable


def _modes_matter(config: VAECConfig) -> bool:
    """Whether training and evaluation mode compute differently: with dropout only (the
    network has no other layer that looks at the mode), so without it the loop does not switch
    (a switch walks every module)."""
    return config.dropout > 0


def _training_mode(net: VAECNet, strategy: Strategy) -> None:
    # frozen parts stay in evaluation mode (no dropout noise)
    net.eval()
    for name in strategy.trains:
        net.part(name).train()


def _epoch(step: Callable[..., None], x: torch.Tensor, y: torch.Tensor, row_weights: Weights,
           noise: Any, batches: Iterable[torch.Tensor | None]) -> None:
    """One pass over the rows: a step per batch (``None``: the whole split at once)."""
    for index in batches:
        if index is None:
            step(x, y, row_weights, noise, True)
            continue
        index = index.to(x.device)
        step(x[index], y[index], None if row_weights is None else row_weights[:, index], noise,
             False)


def train(net: VAECNet, strategy: Strategy, x: torch.Tensor, y: torch.Tensor,
          x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None, *,
          record_snapshots: bool = True, on_epoch: Callable[[int, int], None] | None = None,
          row_weights: Weights = None, val_row_weights: Weights = None) -> TrainingResult:
    """Train the parts of ``net`` that ``strategy`` names, on already-placed tensors.

    ``x`` is ``(rows, channels)`` float, ``y`` ``(rows,)`` the head's target (class indices,
    values, or a placeholder without a target), on the net's device. Returns the history, the
    best epoch of each replica and the latent snapshots; the best weights are restored unless
    ``net.config.restore_best`` is False.

    The config decides how much is recorded: every epoch on both splits (the default, for
    learning curves), or - for models that only need their final weights and scores, such as a
    pruning round's trials - the validation split every ``eval_every`` epochs, with early
    stopping on the validation loss. ``on_epoch(epoch, epochs)`` is told of every finished
    epoch (a progress display). ``row_weights`` and ``val_row_weights`` (``(replicas, rows)``) weigh each
    replica's training and validation rows: 0/1 masks give every replica rows of its own in
    one vectorised pass (cross-fitting: replica k trains without fold k and validates on it).
    """
    config, start, device = net.config, time.perf_counter(), x.device
    weights = _weights(config, strategy)
    trainable = _trainable(net, strategy)
    step = make_step(net, strategy, weights, trainable)
    noise = replica_generators(config.seed, net.n_replicas, device)
    order = torch.Generator().manual_seed(config.seed)
    evaluate = _Evaluation(net, strategy, weights, x, y, x_val, y_val, row_weights, val_row_weights)
    best = _Best(net, strategy, trainable, evaluate.select_offset, device)
    snap_at = set(snapshot_epochs(config.epochs)) if record_snapshots else set()
    rows, row_epochs, snapshots = [], [], []

    _training_mode(net, strategy)
    for epoch in range(1, config.epochs + 1):
        _epoch(step, x, y, row_weights, noise, _batches(x.shape[0], config.batch_size, order))
        if on_epoch is not None:
            on_epoch(epoch, config.epochs)
        if epoch % config.eval_every and epoch != config.epochs and epoch not in snap_at:
            continue
        rows.append(evaluate())
        row_epochs.append(epoch)
        best.update(rows[-1], epoch)
        stop = best.stalled(epoch)
        if epoch in snap_at or (stop and record_snapshots):
            snapshots.append(_snapshot(net, epoch, x, y, x_val, y_val, evaluate.val_noise))
        if stop:
            break
        if evaluate.modes_matter:
            _training_mode(net, strategy)

    _check_finite(net, strategy, epoch)  # the last weights: a blow-up after the best epoch too
    best.restore()
    for p in net.parameters():
        p.requires_grad_(True)
    net.eval()
    history = History(torch.stack(rows).cpu().numpy(), [int(e) for e in best.epoch.cpu()],
                      epochs=np.asarray(row_epochs), task=config.task)
    return TrainingResult(strategy.name, history, epoch, time.perf_counter() - start, snapshots)

