"""The trials of one pruning round: several joint VAE + classifier models trained together on
the kept channels and their shadows (cross-fitted on small tables: every trial scores its own
fold of the rows), how they (and the final model) train, and the scores they give every channel.

Round models need their final weights and scores, not learning curves: they keep their last
weights (a channel is scored on the converged model, not at the early epoch where validation F1
happens to peak), record the validation split every :data:`ROUND_EVAL_EVERY` epochs only, and
stop once the validation loss has not improved for :data:`ROUND_PATIENCE` epochs. Past
:data:`TALL_ROWS` training rows they train on seeded shuffled mini-batches, the batch growing
with the table so that an epoch is about :data:`TALL_STEPS` steps (a full-batch step per epoch
would need hundreds of epochs; a step's cost is mostly fixed overhead until the batch is large).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pipeline.data.split import SplitData
from pipeline.rounds.scores import (
    ablation_channel_scores,
    balanced_accuracy,
    channel_r2,
    guard_rows,
    row_losses,
    scoring_rows,
    second_moments,
)
from pipeline.rounds.shadows import RoundInputs, round_inputs
from pipeline.settings import SelectionSettings
from vaec import VAEC
from vaec.config import VAECConfig
from vaec.tasks import CLASSIFICATION, Task, get_task

ROUND_EVAL_EVERY, ROUND_PATIENCE = 10, 60
# the round models evaluate the validation rows only: their training curves are never drawn
ROUND_TRAIN_METRICS = False
TALL_ROWS = 2048
TALL_BATCH, MAX_BATCH, TALL_STEPS = 256, 8192, 48
TALL_LEARNING_RATE = 2e-3
TALL_EVAL_EVERY, TALL_PATIENCE = 2, 10
# A round on a tall table trains for at most this many optimizer steps (at least TALL_MIN_EPOCHS
# epochs): each epoch sees many rows, and a round needs scores, not the loss's last digit.
ROUND_STEPS, TALL_MIN_EPOCHS = 1500, 5
# The final model on a tall table records its training metrics on this many training rows (a
# seeded subset): all of them every epoch cost about as much as training (200k x 50: 51 s).
TALL_METRIC_ROWS = 16_384
# The final model evaluates both splits every this many epochs (and at the last): a curve of 60
# points draws as well as one of 300, and evaluating every epoch cost more than training did; it
# stops once its validation score has not risen for FINAL_PATIENCE epochs (the best is kept)
FINAL_EVAL_EVERY, FINAL_PATIENCE = 5, 100
# offset of the round seed for the scoring rows: a stream of its own, whichever way trials group
_ROWS_SEED = 29
# the scores with one row per trial: what joining trial groups concatenates
_PER_TRIAL = ("r2", "val_score", "importance", "importance_se", "shared_r2", "shadow_shared_r2",
              "shadow_importance", "cluster_importance", "shadow_cluster_importance",
              "shadow_member_importance", "val_row_loss")


def tall_batch_size(n_rows: int) -> int:
    """Mini-batch rows for a table of ``n_rows`` training rows: a power of two near
    ``n_rows / TALL_STEPS``, within ``[TALL_BATCH, MAX_BATCH]``."""
    target = max(n_rows / TALL_STEPS, 1.0)
    return int(min(MAX_BATCH, max(TALL_BATCH, 2 ** round(math.log2(target)))))


def _tall(epochs: int, n_rows: int, rounds: bool) -> dict[str, Any]:
    if n_rows <= TALL_ROWS:
        return {}
    batch = tall_batch_size(n_rows)
    options: dict[str, Any] = {"batch_size": batch, "learning_rate": TALL_LEARNING_RATE}
    if not rounds:
        return options | {"train_metrics_rows": TALL_METRIC_ROWS}
    # a mini-batch epoch is many steps: look and give up sooner
    steps_per_epoch = math.ceil(n_rows / batch)
    return options | {"eval_every": TALL_EVAL_EVERY, "early_stopping_patience": TALL_PATIENCE,
                      "epochs": min(epochs, max(TALL_MIN_EPOCHS, math.ceil(ROUND_STEPS / steps_per_epoch)))}


def round_model_config(
    settings: SelectionSettings, n_inputs: int, n_classes: int, round_index: int,
    n_rows: int = 0, task: Task = CLASSIFICATION, on_path: bool = False,
) -> VAECConfig:
    """The model config of one pruning round (replica ``r`` is seeded ``seed + 1000 k + r``).
    A round on the minimal-subset path (``on_path``) scores the best epoch's weights, not the
    last's: its loss per row is a point of the count curve, and the last epoch's weights wander
    by more than the rows' standard error."""
    options = {**settings.model.model_dump(), "restore_best": on_path, "train_metrics": ROUND_TRAIN_METRICS,
               "eval_every": ROUND_EVAL_EVERY, "early_stopping_on": "loss",
               "early_stopping_patience": ROUND_PATIENCE, **_tall(settings.model.epochs, n_rows, rounds=True)}
    return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, task=task,
                      seed=settings.seed + 1000 * round_index, **options)


def final_model_config(settings: SelectionSettings, n_inputs: int, n_classes: int, n_rows: int = 0,
                       task: Task = CLASSIFICATION) -> VAECConfig:
    """The config of the final model on the kept channels (mini-batches on tall tables too)."""
    options = {**settings.final.model_dump(), "eval_every": FINAL_EVAL_EVERY, "early_stopping_patience":
               FINAL_PATIENCE, **_tall(settings.final.epochs, n_rows, rounds=False)}
    return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, task=task, seed=settings.seed, **options)


@dataclass
class TrialScores:
    """What the trials of one round measured (every array ``(n_trials, ...)``).

    Attributes
    ----------
    trials, channels : list of int, list of str
        Trial indices (replica ``r`` of round ``k`` is seeded ``seed + 1000 k + r``), and the channels
        the trials were trained on, in column order (shadows not included).
    r2 : ndarray of shape (n_trials, n_channels)
        Reconstruction R² of every channel, sampling off.
    importance, importance_se, shared_r2 : ndarray of shape (n_trials, n_channels) or None
        The rise of the head's loss (nats per row) when the channel is held at its mean, its
        standard error over the scoring rows, and the channel's R² then (from the others).
    shadow_sources, shadow_cluster_sizes : list of str, list of int
        The source channel of every shadow (empty under the reconstruction rule), and the size
        of every shadow cluster.
    shadow_shared_r2, shadow_importance : ndarray of shape (n_trials, n_shadows)
        The same scores of the shadows.
    clusters, groups : list of list of str
        The clusters of two or more channels ablated together (correlated ones and the groups),
        and the groups of two or more channels decided as one unit (the channels of a column).
    cluster_importance, shadow_cluster_importance : ndarray or None
        Importance of every cluster and every shadow cluster, all its channels held at their
        means together.
    shadow_member_importance : ndarray of shape (n_trials, shadow cluster columns) or None
        Every member of a shadow cluster held at its mean alone (a real member's null).
    val_score, val_metrics : ndarray of shape (n_trials,), dict of str to such
        The task's validation score, and both of its scores, at each trial's best epoch.
    moments_train, moments_val : ndarray of shape (columns, columns) or None
        Second moments of the channels and shadows on the training and validation rows.
    val_row_loss, val_row_weight : ndarray or None
        The head's loss on every validation row the guard compares ``(n_trials, rows)`` (None
        without a target), and what each row counts for (``None``: every row alike).
    seconds, task, cross_fitted
        Wall-clock seconds of the training and scoring, the task trained for, and whether every
        trial was scored on its own fold of the rows.
    """

    trials: list[int]
    channels: list[str]
    r2: np.ndarray
    val_score: np.ndarray
    val_metrics: dict[str, np.ndarray]
    seconds: float
    task: Task = CLASSIFICATION
    importance: np.ndarray | None = None
    importance_se: np.ndarray | None = None
    shared_r2: np.ndarray | None = None
    shadow_sources: list[str] = field(default_factory=list)
    shadow_shared_r2: np.ndarray | None = None
    shadow_importance: np.ndarray | None = None
    clusters: list[list[str]] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    cluster_importance: np.ndarray | None = None
    shadow_cluster_sizes: list[int] = field(default_factory=list)
    shadow_cluster_importance: np.ndarray | None = None
    shadow_member_importance: np.ndarray | None = None
    val_row_loss: np.ndarray | None = None
    val_row_weight: np.ndarray | None = None
    moments_train: np.ndarray | None = None
    moments_val: np.ndarray | None = None
    cross_fitted: bool = False

    def __post_init__(self) -> None:
        self.task = get_task(self.task)

    def row_losses(self) -> np.ndarray | None:
        """The head's loss on every row the guard compares: the mean over the trials, or
        cross-fitted, the trial that did not train on the row."""
        if self.val_row_loss is None:
            return None
        return self.val_row_loss.sum(axis=0) if self.cross_fitted else self.val_row_loss.mean(axis=0)

    @classmethod
    def combine(cls, parts: Sequence[TrialScores]) -> TrialScores:
        """Join the scores of trial groups trained separately (e.g. on several workers)."""
        parts = sorted(parts, key=lambda p: p.trials[0])
        first = parts[0]
        if any(p.channels != first.channels or p.shadow_sources != first.shadow_sources
               or p.clusters != first.clusters for p in parts):
            raise ValueError("trial groups were trained on different channels")
        joined = {name: None if getattr(first, name) is None
                  else np.concatenate([getattr(p, name) for p in parts]) for name in _PER_TRIAL}
        metrics = {k: np.concatenate([p.val_metrics[k] for p in parts]) for k in first.val_metrics}
        return replace(first, trials=[t for p in parts for t in p.trials], val_metrics=metrics,
                       seconds=max(p.seconds for p in parts), **joined)


def train_trials(
    split: SplitData, channels: Sequence[str], config: SelectionSettings, round_index: int,
    trials: Sequence[int] | None = None, on_epoch: Callable[[int, int], None] | None = None,
    on_path: bool = False,
) -> TrialScores:
    """Train the given trials of a round jointly (one vectorised pass) and score every channel
    (``on_path``: a round on the minimal-subset path). Trial ``t`` gets the seed ``round seed +
    t`` (cross-fitted, fold ``t``) whichever group it is trained in, and the shadows and the
    scoring rows depend on the round only: trials split over workers give the same scores."""
    trials = list(range(config.n_trials)) if trials is None else list(trials)
    if not trials or trials != list(range(trials[0], trials[0] + len(trials))):
        raise ValueError(f"trials must be consecutive indices, got {trials}")
    start = time.perf_counter()
    inputs = round_inputs(split, channels, config, round_index)
    picked = slice(trials[0], trials[-1] + 1)
    train_w = None if inputs.train_weights is None else inputs.train_weights[picked]
    val_w = None if inputs.val_weights is None else inputs.val_weights[picked]
    model_config = round_model_config(config, inputs.X_train.shape[1], split.n_classes, round_index,
                                      n_rows=len(inputs.X_train), task=split.task, on_path=on_path)
    model = VAEC(model_config.replace(seed=model_config.seed + trials[0]), n_replicas=len(trials),
                 classes=split.classes)
    # without a target there is nothing to predict: the rounds train the autoencoder
    strategy = "all_parts" if split.task.has_target else "autoencoder"
    history = model.fit(strategy, inputs.X_train, inputs.y_train, inputs.X_val, inputs.y_val,
                        record_snapshots=False, on_epoch=on_epoch, row_weights=train_w,
                        val_row_weights=val_w).history
    best = [history.best_row(r) for r in range(len(trials))]
    metrics = {name: np.array([row[f"val_{name}"] for row in best]) for name in split.task.score_names}
    r2 = channel_r2(model, inputs.X_val, val_w)
    score_name = split.task.guard_score
    if split.balanced:
        metrics["balanced_accuracy"] = balanced_accuracy(model, inputs.X_val, inputs.y_val, val_w)
        score_name = "balanced_accuracy"
    scores = TrialScores(trials=trials, channels=list(channels), r2=r2[:, :inputs.n_channels],
                         val_score=metrics[score_name], val_metrics=metrics, seconds=0.0, task=split.task,
                         cross_fitted=inputs.cross_fitted, groups=split.channel_groups(list(channels)))
    if split.task.has_target:  # every guard row's loss under each trial (cross-fitted: in the one scoring it)
        pick = guard_rows(len(inputs.X_val), config.seed)
        losses = row_losses(model, inputs.X_val[pick], inputs.y_val[pick])
        mask = inputs.fold_mask
        scores.val_row_loss = losses if mask is None else losses * mask[picked][:, pick]
        if inputs.row_weight is not None:
            scores.val_row_weight = inputs.row_weight[pick]
    if inputs.shadows is not None:
        _ablation_scores(scores, model, inputs, config, round_index, val_w)
    scores.seconds = time.perf_counter() - start
    return scores


def _ablation_scores(scores: TrialScores, model: VAEC, inputs: RoundInputs, config: SelectionSettings,
                     round_index: int, val_w: np.ndarray | None) -> None:
    """Importance and shared R² of every channel, shadow, cluster and shadow cluster, into
    ``scores``: cross-fitted on each trial's fold, else on the scoring rows."""
    n, singles, shadows = inputs.n_channels, inputs.singles, inputs.shadows
    X_score, y_score, score_w = inputs.X_val, inputs.y_val, val_w
    if not inputs.cross_fitted:
        X_score, y_score, w_score = scoring_rows(
            inputs.X_train, inputs.y_train, inputs.X_val, inputs.y_val,
            config.seed + 1000 * round_index + _ROWS_SEED, inputs.train_row_weight, inputs.row_weight)
        score_w = None if w_score is None else np.repeat(w_score[None], len(scores.trials), axis=0)
    # every channel and shadow alone (the members of shadow clusters too), then the clusters
    # and the shadow clusters whole
    cluster_shadows = inputs.cluster_shadows
    members = 0 if cluster_shadows is None else cluster_shadows.train.shape[1]
    units = [[c] for c in range(singles + members)] + inputs.clusters
    if cluster_shadows is not None:
        units += [[singles + c for c in unit] for unit in cluster_shadows.units]
    importance, importance_se, shared = ablation_channel_scores(model, X_score, y_score, units, score_w)
    channels = scores.channels
    scores.importance, scores.shadow_importance = importance[:, :n], importance[:, n:singles]
    scores.importance_se = importance_se[:, :n]
    scores.shared_r2, scores.shadow_shared_r2 = shared[:, :n], shared[:, n:singles]
    scores.shadow_sources = [channels[s] for s in shadows.sources]
    if scores.task.has_target:
        # the stand-ins' regressions: fitted on the training rows, scored on the validation rows
        train, val = inputs.X_train[:, :singles], inputs.X_val[:, :singles]
        rows = train if inputs.cross_fitted else np.vstack([train, val])
        scores.moments_train = second_moments(rows[:inputs.n_train_rows])
        scores.moments_val = second_moments(rows[inputs.n_train_rows:])
    if cluster_shadows is not None:
        start, n_clusters = singles + members, len(inputs.clusters)
        scores.clusters = [[channels[c] for c in cluster] for cluster in inputs.clusters]
        scores.shadow_member_importance = importance[:, singles:start]
        scores.cluster_importance = importance[:, start:start + n_clusters]
        scores.shadow_cluster_sizes = [len(s) for s in cluster_shadows.sources]
        scores.shadow_cluster_importance = importance[:, start + n_clusters:]
