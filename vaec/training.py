"""The one training loop. A :class:`~vaec.strategies.Strategy` tells it what to optimise.

Tensors are placed on the device once; the full batch is one step when ``batch_size`` is None.
Per-epoch metrics stay on the device until the end (no host round trip per epoch), and the best
epoch of every replica is tracked with tensor ops.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from vaec.config import VAECConfig
from vaec.history import History, TrainingResult, metric_names
from vaec.losses import (
    kl_loss,
    predicted_class,
    prediction_loss,
    reconstruction_loss,
)
from vaec.metrics import accuracy_and_f1
from vaec.model import PARTS, Generators, VAECNet, replica_generators
from vaec.snapshots import LatentSnapshot, snapshot_epochs
from vaec.strategies import Strategy
from vaec.tasks import LOWER_IS_BETTER, r2_and_mae, score_names

# The evaluation noise has its own stream, so recording metrics never changes the training.
_EVAL_SEED_OFFSET = 1_000_003
# the training rows' evaluation draws its own noise, so how many rows it evaluates (all, a
# subset, none) never changes the validation split's numbers
_TRAIN_EVAL_SEED_OFFSET = 2_000_003


def _weights(config: VAECConfig, strategy: Strategy) -> dict[str, float]:
    weights = {
        "reconstruction": config.reconstruction_weight,
        "kl": config.kl_weight,
        "prediction": config.prediction_weight,
    }
    return {name: (w if name in strategy.losses else 0.0) for name, w in weights.items()}


def _training_loss(
    net: VAECNet,
    x: torch.Tensor,
    y: torch.Tensor,
    strategy: Strategy,
    weights: dict[str, float],
    generator: Generators,
) -> torch.Tensor:
    """Weighted total of the counted losses, summed over replicas (replicas stay independent)."""
    out = net(
        x, sample_head=strategy.sample_head, sample_decoder=strategy.sample_decoder,
        generator=generator, decode=bool(weights["reconstruction"]),
        classify=bool(weights["prediction"]),
    )
    total = torch.zeros(net.n_replicas, device=x.device)
    if weights["kl"]:
        total = total + weights["kl"] * kl_loss(out.z_mean, out.z_log_var)
    if out.reconstruction is not None:
        total = total + weights["reconstruction"] * reconstruction_loss(out.reconstruction, x)
    if out.logits is not None:
        total = total + weights["prediction"] * prediction_loss(out.logits, y, net.config.task)
    return total.sum()


def _scores(
    net: VAECNet, out, logits_mean: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> list[torch.Tensor]:
    """The task's two scores with sampling off, then on (see :mod:`vaec.tasks`)."""
    task = net.config.task
    if task == "classification":
        n_classes = net.config.n_classes
        return [*accuracy_and_f1(predicted_class(logits_mean), y, n_classes),
                *accuracy_and_f1(predicted_class(out.logits), y, n_classes)]
    if task == "regression":
        return [*r2_and_mae(logits_mean.squeeze(-1), y), *r2_and_mae(out.logits.squeeze(-1), y)]
    mean_reconstruction = net.decoder(out.z_mean)
    return [*r2_and_mae(mean_reconstruction, x), *r2_and_mae(out.reconstruction, x)]


@torch.no_grad()
def _evaluate(
    net: VAECNet,
    x: torch.Tensor,
    y: torch.Tensor,
    strategy: Strategy,
    weights: dict[str, float],
    generator: Generators,
) -> torch.Tensor:
    """All metrics of every replica on one split: ``(replicas, metrics)``, in the order of
    :func:`vaec.history.metric_names` for the task.

    Losses are taken as the strategy trains (sampled z where it samples); the task's scores
    once with sampling off (the head on z_mean) and once on a draw of z (sampling on).
    """
    task = net.config.task
    out = net(x, sample_head=True, sample_decoder=strategy.sample_decoder, generator=generator)
    logits_mean = net.head(out.z_mean)
    logits_trained = out.logits if strategy.sample_head else logits_mean
    rec = reconstruction_loss(out.reconstruction, x)
    kl = kl_loss(out.z_mean, out.z_log_var)
    pred = prediction_loss(logits_trained, y, task)
    total = weights["reconstruction"] * rec + weights["kl"] * kl + weights["prediction"] * pred
    columns = [total, rec, kl, pred, *_scores(net, out, logits_mean, x, y)]
    return torch.stack([c.to(torch.float64) for c in columns], dim=1)


@torch.no_grad()
def _snapshot(
    net: VAECNet,
    epoch: int,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    generator: Generators,
) -> LatentSnapshot:
    def latent(data: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        out = net(data, sample_head=True, generator=generator, decode=False)
        return out.z_head.cpu().numpy(), out.z_mean.cpu().numpy()

    train_z, train_mean = latent(x)
    val_z, val_mean = latent(x_val) if x_val is not None else (None, None)
    return LatentSnapshot(
        epoch,
        train_z,
        train_mean,
        val_z,
        val_mean,
        y.cpu().numpy(),
        y_val.cpu().numpy() if y_val is not None else None,
    )


def _selection_scores(
    row: torch.Tensor, strategy: Strategy, config: VAECConfig, split_offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(primary, tie-break) scores per replica; larger is better."""
    names = metric_names(config.task)
    if not strategy.uses_prediction or config.task == "unsupervised":
        total = row[:, split_offset + names.index("total_loss")]
        return -total, torch.zeros_like(total)
    first, second = score_names(config.task)
    if config.task == "classification" and config.selection_metric == "f1":
        first, second = second, first

    def score(name: str) -> torch.Tensor:
        value = row[:, split_offset + names.index(name)]
        return -value if name in LOWER_IS_BETTER else value

    return score(first), score(second)


def _batches(
    n_rows: int, batch_size: int | None, generator: torch.Generator
) -> list[torch.Tensor] | None:
    if batch_size is None or batch_size >= n_rows:
        return None
    order = torch.randperm(n_rows, generator=generator)
    return list(order.split(batch_size))


def _adamw(parameters: list[torch.Tensor], config: VAECConfig) -> torch.optim.Optimizer:
    """AdamW as one fused kernel where this torch has it (a step of a small model is mostly
    per-parameter overhead), else the multi-tensor version."""
    options = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    try:
        return torch.optim.AdamW(parameters, fused=True, **options)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or another device
        return torch.optim.AdamW(parameters, foreach=True, **options)


def _improved(primary, second, best_primary, best_second):
    return (primary > best_primary) | ((primary == best_primary) & (second > best_second))


def train(
    net: VAECNet,
    strategy: Strategy,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    record_snapshots: bool = True,
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrainingResult:
    """Train the parts of ``net`` that ``strategy`` names, on already-placed tensors.

    ``x`` is ``(rows, channels)`` float, ``y`` ``(rows,)`` class indices (long), on the net's
    device. Returns the history, the best epoch of each replica and the latent snapshots; the
    best weights are restored unless ``net.config.restore_best`` is False.

    The config decides how much is recorded: every epoch on both splits (the default, for
    learning curves), or - for models that only need their final weights and scores, such as a
    pruning round's trials - the validation split every ``eval_every`` epochs, with early
    stopping on the validation loss. ``on_epoch(epoch, epochs)`` is told of every finished
    epoch (a progress display).
    """
    config = net.config
    start = time.perf_counter()
    device = x.device
    weights = _weights(config, strategy)
    trainable = [p for name in strategy.trains for p in net.part(name).parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    optimizer = _adamw(trainable, config)
    noise = replica_generators(config.seed, net.n_replicas, device)
    eval_noise = replica_generators(config.seed + _EVAL_SEED_OFFSET, net.n_replicas, device)
    train_eval_noise = replica_generators(config.seed + _TRAIN_EVAL_SEED_OFFSET, net.n_replicas,
                                          device)
    order_gen = torch.Generator().manual_seed(config.seed)
    snap_at = set(snapshot_epochs(config.epochs)) if record_snapshots else set()
    has_val = x_val is not None and y_val is not None
    names = metric_names(config.task)
    n_metrics = len(names)
    select_offset = n_metrics if has_val else 0
    on_loss = config.early_stopping_on == "loss"
    loss_column = select_offset + names.index("total_loss")

    best_primary = torch.full((net.n_replicas,), -torch.inf, dtype=torch.float64, device=device)
    best_second = best_primary.clone()
    best_epoch = torch.zeros(net.n_replicas, dtype=torch.long, device=device)
    best_loss = torch.full((net.n_replicas,), torch.inf, dtype=torch.float64, device=device)
    best_loss_epoch = torch.zeros(net.n_replicas, dtype=torch.long, device=device)
    best_state = [p.detach().clone() for p in trainable] if config.restore_best else []
    rows: list[torch.Tensor] = []
    row_epochs: list[int] = []
    snapshots: list[LatentSnapshot] = []
    nan_row = torch.full((net.n_replicas, n_metrics), torch.nan, dtype=torch.float64, device=device)

    def training_mode() -> None:
        # frozen parts stay in evaluation mode (no dropout noise)
        net.eval()
        for name in strategy.trains:
            net.part(name).train()

    x_metrics, y_metrics = x, y
    if config.train_metrics_rows is not None and x.shape[0] > config.train_metrics_rows:
        # a fixed seeded subset of the training rows, the same every epoch
        pick_gen = torch.Generator().manual_seed(config.seed + _EVAL_SEED_OFFSET)
        pick = torch.randperm(x.shape[0], generator=pick_gen)[:config.train_metrics_rows]
        pick = pick.sort().values.to(device)
        x_metrics, y_metrics = x[pick], y[pick]

    training_mode()
    for epoch in range(1, config.epochs + 1):
        batches = _batches(x.shape[0], config.batch_size, order_gen)
        for index in batches if batches is not None else [None]:
            xb, yb = (x, y) if index is None else (x[index.to(device)], y[index.to(device)])
            loss = _training_loss(net, xb, yb, strategy, weights, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch, config.epochs)

        if epoch % config.eval_every and epoch != config.epochs and epoch not in snap_at:
            continue
        # evaluation
        net.eval()
        train_row = (_evaluate(net, x_metrics, y_metrics, strategy, weights, train_eval_noise)
                     if config.train_metrics else nan_row)
        val_row = _evaluate(net, x_val, y_val, strategy, weights, eval_noise) if has_val else nan_row
        row = torch.cat([train_row, val_row], dim=1)
        rows.append(row)
        row_epochs.append(epoch)

        # best epoch per replica: primary score, ties broken by the secondary
        primary, second = _selection_scores(row, strategy, config, select_offset)
        improved = _improved(primary, second, best_primary, best_second)
        best_primary = torch.where(improved, primary, best_primary)
        best_second = torch.where(improved, second, best_second)
        best_epoch = torch.where(improved, torch.full_like(best_epoch, epoch), best_epoch)
        if best_state:
            with torch.no_grad():
                for saved, p in zip(best_state, trainable, strict=True):
                    mask = improved.view(-1, *([1] * (p.dim() - 1)))
                    saved.copy_(torch.where(mask, p, saved))
        lower = row[:, loss_column] < best_loss - 1e-4 * best_loss.abs().clamp(max=1e6)
        best_loss = torch.where(lower, row[:, loss_column], best_loss)
        best_loss_epoch = torch.where(lower, torch.full_like(best_loss_epoch, epoch), best_loss_epoch)

        if epoch in snap_at:
            snapshots.append(_snapshot(net, epoch, x, y, x_val, y_val, eval_noise))
        patience = config.early_stopping_patience
        stalled_since = best_loss_epoch if on_loss else best_epoch
        if patience is not None and int((epoch - stalled_since).min()) >= patience:
            if epoch not in snap_at and record_snapshots:
                snapshots.append(_snapshot(net, epoch, x, y, x_val, y_val, eval_noise))
            break
        training_mode()

    if best_state:
        with torch.no_grad():
            for saved, p in zip(best_state, trainable, strict=True):
                p.copy_(saved)
    for p in net.parameters():
        p.requires_grad_(True)
    net.eval()
    values = torch.stack(rows).cpu().numpy()
    history = History.from_array(values, [int(e) for e in best_epoch.cpu()], epochs=row_epochs,
                                 task=config.task)
    return TrainingResult(
        strategy=strategy.name,
        history=history,
        epochs_run=epoch,
        seconds=time.perf_counter() - start,
        snapshots=snapshots,
    )


__all__ = ["PARTS", "train"]
