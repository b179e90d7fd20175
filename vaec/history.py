"""What a training run records and how: per-epoch metrics of both splits (the evaluation,
with noise of its own so recording never changes the training), latent snapshots, the result."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaec.config import Strategy
from vaec.model import (
    Generators,
    VAECNet,
    Weights,
    kl_loss,
    reconstruction_loss,
    replica_generators,
    row_mean,
)
from vaec.persistence import atomic_write_text
from vaec.tasks import CLASSIFICATION, Task

# Each split's evaluation has a noise stream of its own: recording never changes the training, and
# how many training rows are evaluated never changes the validation numbers.
_EVAL_SEED_OFFSET, _TRAIN_EVAL_SEED_OFFSET = 1_000_003, 2_000_003


def metric_names(task: Task = CLASSIFICATION) -> tuple[str, ...]:
    """The metrics recorded for ``task``: the four losses, then its two scores with sampling
    off and on (classification: ``accuracy``, ``f1``, ``accuracy_sampled``, ``f1_sampled``)."""
    first, second = task.score_names
    return ("total_loss", "reconstruction_loss", "kl_loss", "prediction_loss", first, second,
            f"{first}_sampled", f"{second}_sampled")


def history_columns(task: Task = CLASSIFICATION) -> list[str]:
    """Metric columns of the history, ``train_<metric>`` then ``val_<metric>``."""
    return [f"{split}_{metric}" for split in ("train", "val") for metric in metric_names(task)]


@dataclass
class History:
    """Metrics of every replica on the training and validation splits at every evaluated epoch.

    Losses are taken as trained (sampled z where the strategy samples); the task's scores
    (``accuracy``/``f1``, ``r2``/``mae``, ...) have sampling off, ``*_sampled`` on. Validation
    columns are NaN without a validation split.
    """

    values: np.ndarray  # (evaluations, replicas, columns), the columns in :attr:`columns` order
    best_epochs: list[int]  # of each replica, 1-based
    epochs: np.ndarray | None = None  # the evaluated epochs, one per row of values (default 1, 2, ...)
    task: Task = CLASSIFICATION  # the task the head was trained for (it names the score columns)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        n_rows = self.values.shape[0]
        self.epochs = np.arange(1, n_rows + 1) if self.epochs is None else np.asarray(self.epochs)
        if self.values.shape[2] != len(self.columns) or len(self.epochs) != n_rows:
            raise ValueError(f"values of shape {self.values.shape} do not fit {len(self.epochs)} "
                             f"epochs and the {len(self.columns)} columns of task {self.task.name}")

    @property
    def columns(self) -> list[str]:
        """Names of the last axis of :attr:`values` (:func:`history_columns` of the task)."""
        return history_columns(self.task)

    @property
    def best_epoch(self) -> int:
        """Best epoch of the first replica."""
        return self.best_epochs[0]

    @property
    def n_replicas(self) -> int:
        return len(self.best_epochs)

    def for_replica(self, replica: int = 0) -> dict[str, np.ndarray]:
        """Every column of one replica over the evaluated epochs (:attr:`epochs`)."""
        return dict(zip(self.columns, self.values[:, replica].T, strict=True))

    def best_row(self, replica: int = 0) -> dict[str, float]:
        """Metrics of one replica at its best epoch."""
        (row,) = np.flatnonzero(self.epochs == self.best_epochs[replica])
        return {name: float(v) for name, v in zip(self.columns, self.values[row, replica], strict=True)}

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write ``epoch, replica, <columns>`` with a row per (epoch, replica), atomically;
        NaN is an empty field."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", "replica", *self.columns])
        for epoch, row in zip(self.epochs.tolist(), self.values.tolist(), strict=True):
            for replica, metrics in enumerate(row):
                writer.writerow([epoch, replica, *("" if math.isnan(v) else v for v in metrics)])
        return atomic_write_text(path, buffer.getvalue())


def snapshot_epochs(epochs: int) -> list[int]:
    """Epochs 8, 16, ..., 512, then 1000, 2000, ... up to ``epochs``, and the last one."""
    chosen = [e for e in (8, 16, 32, 64, 128, 256, 512) if e <= epochs]
    chosen += list(range(1000, epochs + 1, 1000))
    return chosen if epochs in chosen else [*chosen, epochs]


@dataclass
class LatentSnapshot:
    """Where the rows sit in the neck at one epoch: sampled z and z_mean of the training and
    validation rows, each ``(replicas, rows, latent_dim)``; ``y_train`` / ``y_val`` hold the
    head's targets (class indices, or values)."""

    epoch: int
    train_z: np.ndarray
    train_z_mean: np.ndarray
    val_z: np.ndarray | None
    val_z_mean: np.ndarray | None
    y_train: np.ndarray
    y_val: np.ndarray | None


@dataclass
class TrainingResult:
    """What one call of the training loop produced."""

    strategy: str  # the name of the strategy trained
    history: History
    epochs_run: int  # fewer than configured after early stopping
    seconds: float  # wall-clock
    snapshots: list[LatentSnapshot] = field(default_factory=list)  # at :func:`snapshot_epochs`


@torch.no_grad()
def _evaluate(net: VAECNet, x: Tensor, y: Tensor, rows: Weights, strategy: Strategy,
              weights: dict[str, float], generator: Generators) -> Tensor:
    """All metrics of every replica on one split, ``(replicas, metrics)`` in :func:`metric_names`
    order: the losses as trained, then the task's scores (of the head's output, or without a
    target of the reconstruction) with sampling off and on."""
    config = net.config
    out = net(x, sample=True, generator=generator)
    logits_mean = net.head(out.z_mean)
    logits_trained = out.logits if strategy.sample else logits_mean
    rec = reconstruction_loss(out.reconstruction, x, rows)
    kl = kl_loss(out.z_mean, out.z_log_var, rows)
    pred = row_mean(config.task.prediction_losses(logits_trained, y), rows)
    total = weights["reconstruction"] * rec + weights["kl"] * kl + weights["prediction"] * pred
    off, on, truth = ((logits_mean, out.logits, y) if config.task.has_target
                      else (net.decoder(out.z_mean), out.reconstruction, x))
    scores = [*config.task.scores(off, truth, config.n_classes, rows),
              *config.task.scores(on, truth, config.n_classes, rows)]
    return torch.stack([c.to(torch.float64) for c in [total, rec, kl, pred, *scores]], dim=1)


@torch.no_grad()
def take_snapshot(net: VAECNet, epoch: int, x: Tensor, y: Tensor, x_val: Tensor | None, y_val: Tensor | None,
                  generator: Generators) -> LatentSnapshot:
    def latent(data: Tensor) -> tuple[np.ndarray, np.ndarray]:
        out = net(data, sample=True, generator=generator, decode=False)
        return out.z_head.cpu().numpy(), out.z_mean.cpu().numpy()

    train_z, train_mean = latent(x)
    val_z, val_mean = latent(x_val) if x_val is not None else (None, None)
    y_val_np = y_val.cpu().numpy() if y_val is not None else None
    return LatentSnapshot(epoch, train_z, train_mean, val_z, val_mean, y.cpu().numpy(), y_val_np)


class Evaluation:
    """One history row per call: the metrics of the training rows (all, or a fixed seeded subset
    of ``train_metrics_rows``), then of the validation rows, each split drawing its own noise."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float], x: Tensor, y: Tensor,
                 x_val: Tensor | None, y_val: Tensor | None, rows: Weights, val_rows: Weights) -> None:
        config, n, device = net.config, net.n_replicas, x.device
        self.net, self.strategy, self.weights = net, strategy, weights
        # only dropout looks at the mode: without it the loop does not switch (that walks every module)
        self.modes_matter = config.dropout > 0
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

    def __call__(self) -> Tensor:
        net, strategy, weights = self.net, self.strategy, self.weights
        if self.modes_matter:
            net.eval()
        train = (_evaluate(net, *self.train, strategy, weights, self.train_noise)
                 if net.config.train_metrics else self.nan_row)
        val = _evaluate(net, *self.val, strategy, weights, self.val_noise) if self.has_val else self.nan_row
        return torch.cat([train, val], dim=1)
