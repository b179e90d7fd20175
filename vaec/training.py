"""The one training loop and its step; a :class:`~vaec.config.Strategy` says what to optimise.

Per-epoch metrics stay on the device until the end; the best epoch of every replica is tracked
with tensor ops. ``VAECConfig.training_step`` chooses the step (see its description).
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaec.config import Strategy, VAECConfig
from vaec.fused import FusedStep, fused_step_supported
from vaec.history import Evaluation, History, TrainingResult, metric_names, snapshot_epochs, take_snapshot
from vaec.model import (
    Generators,
    VAECNet,
    Weights,
    kl_loss,
    reconstruction_loss,
    replica_generators,
    row_mean,
)

Step = Callable[[Tensor, Tensor, Weights, Sequence[torch.Generator], bool], None]
# the backend of the compiled step (tests set a cheaper one)
COMPILE_BACKEND = "inductor"


def training_loss(net: VAECNet, x: Tensor, y: Tensor, strategy: Strategy,
                  weights: dict[str, float], generator: Generators, rows: Weights) -> Tensor:
    """Weighted total of the counted losses, summed over replicas (which stay independent);
    ``rows`` weighs each replica's rows (``None``: all alike)."""
    out = net(x, sample=strategy.sample, generator=generator, decode=bool(weights["reconstruction"]),
              classify=bool(weights["prediction"]))
    total = torch.zeros(net.n_replicas, device=x.device)
    if weights["kl"]:
        total = total + weights["kl"] * kl_loss(out.z_mean, out.z_log_var, rows)
    if out.reconstruction is not None:
        total = total + weights["reconstruction"] * reconstruction_loss(out.reconstruction, x, rows)
    if out.logits is not None:
        prediction = row_mean(net.config.task.prediction_losses(out.logits, y), rows)
        total = total + weights["prediction"] * prediction
    return total.sum()


class EagerStep:
    """Forward, ``backward()`` and ``torch.optim.AdamW`` over the ``trainable`` parameters."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float],
                 trainable: list[Tensor]) -> None:
        self.net, self.strategy, self.weights = net, strategy, weights
        options = {"lr": net.config.learning_rate, "weight_decay": net.config.weight_decay}
        try:  # one fused kernel where this torch has it, else the multi-tensor version
            self.optimizer = torch.optim.AdamW(trainable, fused=True, **options)
        except (RuntimeError, TypeError):  # pragma: no cover - older torch or another device
            self.optimizer = torch.optim.AdamW(trainable, foreach=True, **options)

    def __call__(self, x: Tensor, y: Tensor, rows: Weights,
                 generators: Sequence[torch.Generator], full_batch: bool = False) -> None:
        loss = training_loss(self.net, x, y, self.strategy, self.weights, generators, rows)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class CompiledStep(EagerStep):
    """A step under ``torch.compile`` (graph breaks allowed): the fused step's gradients (noise drawn
    outside the graph) where it applies, else the eager step; eager, with one warning, once it fails."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float],
                 trainable: list[Tensor]) -> None:
        super().__init__(net, strategy, weights, trainable)
        fused = fused_step_supported(net, strategy, weights) is None
        self.fused = FusedStep(net, strategy, weights) if fused else None
        target = self.fused.gradients_given if self.fused is not None else super().__call__
        self.compiled: Callable[..., object] | None = None
        try:
            self.compiled = torch.compile(target, fullgraph=False, backend=COMPILE_BACKEND)
        except Exception as err:  # compile unavailable on this platform or Python
            self._give_up(err)

    def _give_up(self, err: BaseException) -> None:
        warnings.warn(f"torch.compile is unavailable here ({type(err).__name__}: {err}); "
                      "training eagerly", RuntimeWarning, stacklevel=3)
        self.compiled = None

    def _run(self, eager: Callable[..., Any], *args: object) -> Any:
        """The compiled target on ``args``, or ``eager`` where compiling is off or fails (then off)."""
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as err:
                self._give_up(err)
        return eager(*args)

    def __call__(self, x: Tensor, y: Tensor, rows: Weights,
                 generators: Sequence[torch.Generator], full_batch: bool = False) -> None:
        if self.fused is None:
            self._run(super().__call__, x, y, rows, generators)
        else:  # noise drawn outside the graph: on a failure, the same draws eagerly
            given = functools.partial(self._run, self.fused.gradients_given)
            self.fused.update(self.fused.gradients(x, y, rows, generators, full_batch, given))


def make_step(net: VAECNet, strategy: Strategy, weights: dict[str, float], trainable: list[Tensor]) -> Step:
    """The step ``net.config.training_step`` asks for (see the module's description)."""
    choice = net.config.training_step
    if choice == "compiled":
        return CompiledStep(net, strategy, weights, trainable)
    if choice == "auto" and fused_step_supported(net, strategy, weights) is None:
        return FusedStep(net, strategy, weights)
    return EagerStep(net, strategy, weights, trainable)


class TrainingDivergedError(RuntimeError):
    """Training ended with NaN or infinite weights; the message says what to lower."""


def _weights(config: VAECConfig, strategy: Strategy) -> dict[str, float]:
    """The weight of every loss, 0 for those the strategy does not count."""
    weights = {"reconstruction": config.reconstruction_weight, "kl": config.kl_weight,
               "prediction": config.prediction_weight}
    return {name: (w if name in strategy.losses else 0.0) for name, w in weights.items()}


class _Best:
    """Every replica's best epoch so far (by the selection scores), its weights when restored, and
    the epoch of the lowest loss (for early stopping on it)."""

    def __init__(self, net: VAECNet, strategy: Strategy, trainable: list[Tensor],
                 offset: int, device: torch.device) -> None:
        config, n = net.config, net.n_replicas
        self.config, self.strategy, self.names = config, strategy, metric_names(config.task)
        self.offset = offset  # where the split that selects starts in a row
        self.primary = torch.full((n,), -torch.inf, dtype=torch.float64, device=device)
        self.second = self.primary.clone()
        self.epoch, self.loss_epoch = (torch.zeros(n, dtype=torch.long, device=device) for _ in range(2))
        self.loss = torch.full((n,), torch.inf, dtype=torch.float64, device=device)
        # (best copy, parameter) pairs, when the best weights are restored at the end
        self.state = [(p.detach().clone(), p) for p in trainable] if config.restore_best else []

    def _column(self, row: Tensor, name: str) -> Tensor:
        return row[:, self.offset + self.names.index(name)]

    def _scores(self, row: Tensor) -> tuple[Tensor, Tensor]:
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
    def update(self, row: Tensor, epoch: int) -> None:
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
        for saved, p in self.state:
            p.copy_(saved)


def _trainable(net: VAECNet, strategy: Strategy) -> list[Tensor]:
    """The parameters of the parts the strategy trains; every other one is frozen."""
    trainable = [p for name in strategy.trains for p in net.part(name).parameters()]
    net.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    return trainable


def _training_mode(net: VAECNet, strategy: Strategy) -> None:
    # frozen parts stay in evaluation mode (no dropout noise)
    net.eval()
    for name in strategy.trains:
        net.part(name).train()


def _epoch(step: Step, x: Tensor, y: Tensor, row_weights: Weights, noise: Any, batch_size: int | None,
           order: torch.Generator) -> None:
    """One full-batch step, or a step per seeded shuffled mini-batch."""
    if batch_size is None or batch_size >= x.shape[0]:
        step(x, y, row_weights, noise, True)
        return
    for index in torch.randperm(x.shape[0], generator=order).split(batch_size):
        index = index.to(x.device)
        step(x[index], y[index], None if row_weights is None else row_weights[:, index], noise, False)


def train(net: VAECNet, strategy: Strategy, x: Tensor, y: Tensor, x_val: Tensor | None = None,
          y_val: Tensor | None = None, *, record_snapshots: bool = True,
          on_epoch: Callable[[int, int], None] | None = None, row_weights: Weights = None,
          val_row_weights: Weights = None) -> TrainingResult:
    """Train the parts of ``net`` that ``strategy`` names, on tensors on the net's device: ``x``
    ``(rows, channels)``, ``y`` ``(rows,)`` the head's target (a placeholder without one). Returns
    the history, each replica's best epoch (its weights restored unless ``config.restore_best`` is
    False) and the latent snapshots. The config says how much is recorded (every epoch on both
    splits, or the validation split every ``eval_every`` epochs). ``on_epoch(epoch, epochs)`` is
    told of every finished epoch. ``row_weights`` and ``val_row_weights`` ``(replicas, rows)``
    weigh each replica's rows: 0/1 masks cross-fit every replica in one vectorised pass."""
    config, start, device = net.config, time.perf_counter(), x.device
    weights, trainable = _weights(config, strategy), _trainable(net, strategy)
    step = make_step(net, strategy, weights, trainable)
    noise = replica_generators(config.seed, net.n_replicas, device)
    order = torch.Generator().manual_seed(config.seed)
    evaluate = Evaluation(net, strategy, weights, x, y, x_val, y_val, row_weights, val_row_weights)
    best = _Best(net, strategy, trainable, evaluate.select_offset, device)
    snap_at = set(snapshot_epochs(config.epochs)) if record_snapshots else set()
    rows, row_epochs, snapshots = [], [], []

    _training_mode(net, strategy)
    for epoch in range(1, config.epochs + 1):
        _epoch(step, x, y, row_weights, noise, config.batch_size, order)
        if on_epoch is not None:
            on_epoch(epoch, config.epochs)
        if epoch % config.eval_every and epoch != config.epochs and epoch not in snap_at:
            continue
        rows.append(evaluate())
        row_epochs.append(epoch)
        best.update(rows[-1], epoch)
        stop = best.stalled(epoch)
        if epoch in snap_at or (stop and record_snapshots):
            snapshots.append(take_snapshot(net, epoch, x, y, x_val, y_val, evaluate.val_noise))
        if stop:
            break
        if evaluate.modes_matter:
            _training_mode(net, strategy)

    # the last weights: a blow-up after the best epoch too
    if not bool(torch.stack([torch.isfinite(p).all() for p in net.parameters()]).all()):
        raise TrainingDivergedError(
            f"training diverged: the {strategy.name} weights hold NaN or infinite values after "
            f"epoch {epoch} (lower learning_rate, now {config.learning_rate:g})")
    best.restore()
    net.requires_grad_(True).eval()
    history = History(torch.stack(rows).cpu().numpy(), [int(e) for e in best.epoch.cpu()],
                      epochs=np.asarray(row_epochs), task=config.task)
    return TrainingResult(strategy.name, history, epoch, time.perf_counter() - start, snapshots)

