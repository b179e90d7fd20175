"""The trials of one pruning round: several joint VAE + classifier models trained together,
on the kept channels and their shadows, and the scores they give every channel."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.data.split import SplitData
from pipeline.rounds.policy import guard_rows, round_model_config, scoring_rows
from pipeline.rounds.scores import ablation_channel_scores, channel_r2, row_losses, second_moments
from pipeline.rounds.shadows import (
    ShadowClusters,
    Shadows,
    correlation_clusters,
    make_cluster_shadows,
    make_shadows,
    n_shadows,
)
from pipeline.settings import SelectionSettings
from vaec import VAEC
from vaec.tasks import CLASSIFICATION, Task, get_task

# Offsets of the round seed: the shadows and the subset of scoring rows draw from streams of
# their own, so they do not depend on how the trials are grouped.
_SHADOW_SEED, _ROWS_SEED, _CLUSTER_SEED = 17, 29, 43



@dataclass
class TrialScores:
    """What the trials of one round measured on the validation rows.

    Attributes
    ----------
    trials : list of int
        Trial indices (replica ``r`` of round ``k`` is seeded ``seed + 1000 k + r``).
    channels : list of str
        The channels the trials were trained on, in column order (shadows not included).
    r2 : ndarray of shape (n_trials, n_channels)
        Reconstruction R² of every channel, sampling off.
    importance : ndarray of shape (n_trials, n_channels) or None
        Importance of every channel: the rise of the head's loss (nats per row) when it is held
        at its mean.
    importance_se : ndarray of shape (n_trials, n_channels) or None
        Its standard error over the scoring rows.
    shared_r2 : ndarray of shape (n_trials, n_channels) or None
        R² of every channel with its own input held at its mean: what the neck carries of it
        from the other channels.
    shadow_sources : list of str
        The source channel of every shadow (empty under the pure reconstruction rule).
    shadow_r2, shadow_shared_r2, shadow_importance : ndarray of shape (n_trials, n_shadows)
        The same scores of the shadows.
    clusters : list of list of str
        The clusters of two or more correlated channels (see :mod:`pipeline.rounds.shadows`); every
        other channel is a cluster of its own.
    cluster_importance : ndarray of shape (n_trials, n_clusters) or None
        Importance of every cluster of ``clusters``: the rise of the head's loss when all its
        channels are held at their means together.
    shadow_cluster_sizes : list of int
        The size of every shadow cluster (real clusters with their rows permuted together).
    shadow_cluster_importance : ndarray of shape (n_trials, n_shadow_clusters) or None
        Their importance, ablated the same way.
    shadow_member_importance : ndarray of shape (n_trials, shadow cluster columns) or None
        The importance of every member of a shadow cluster held at its mean alone: the null of
        a real cluster member's own importance (the neck spends capacity on a correlated group,
        noise or not, and a head can lean on it; a lone shadow gets none).
    val_score : ndarray of shape (n_trials,)
        The task's guard score on validation (F1; R² for regression; reconstruction R²
        without a target), sampling off, at each trial's best epoch.
    val_metrics : dict of str to ndarray of shape (n_trials,)
        Both of the task's validation scores (``accuracy`` and ``f1``; ``r2`` and ``mae``;
        ``reconstruction_r2`` and ``reconstruction_mae``).
    moments_train, moments_val : ndarray of shape (columns, columns) or None
        Second moments of the standardised channels and shadows (in that order) on the
        training and on the validation rows: what a stand-in's R² from the relevant channels
        is computed from (:mod:`pipeline.rounds.relevance`).
    val_row_loss : ndarray of shape (n_trials, rows) or None
        The head's loss on every validation row the accuracy guard compares (see
        :mod:`pipeline.rounds.fate`), sampling off; ``None`` without a target.
    seconds : float
        Wall-clock seconds of the training and scoring.
    task : str
        The task the trials were trained for.
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
    shadow_r2: np.ndarray | None = None
    shadow_shared_r2: np.ndarray | None = None
    shadow_importance: np.ndarray | None = None
    clusters: list[list[str]] = field(default_factory=list)
    cluster_importance: np.ndarray | None = None
    shadow_cluster_sizes: list[int] = field(default_factory=list)
    shadow_cluster_importance: np.ndarray | None = None
    shadow_member_importance: np.ndarray | None = None
    val_row_loss: np.ndarray | None = None
    moments_train: np.ndarray | None = None
    moments_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.task = get_task(self.task)

    @classmethod
    def combine(cls, parts: Sequence[TrialScores]) -> TrialScores:
        """Join the scores of trial groups trained separately (e.g. on several workers)."""
        parts = sorted(parts, key=lambda p: p.trials[0])
        first = parts[0]
        if any(p.channels != first.channels or p.shadow_sources != first.shadow_sources
               or p.clusters != first.clusters for p in parts):
            raise ValueError("trial groups were trained on different channels")

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        return cls(
            trials=[t for p in parts for t in p.trials],
            channels=list(first.channels),
            r2=joined("r2"),
            val_score=joined("val_score"),
            val_metrics={k: np.concatenate([p.val_metrics[k] for p in parts])
                         for k in first.val_metrics},
            seconds=max(p.seconds for p in parts),
            task=first.task,
            importance=joined("importance"),
            importance_se=joined("importance_se"),
            shared_r2=joined("shared_r2"),
            shadow_sources=list(first.shadow_sources),
            shadow_r2=joined("shadow_r2"),
            shadow_shared_r2=joined("shadow_shared_r2"),
            shadow_importance=joined("shadow_importance"),
            clusters=[list(c) for c in first.clusters],
            cluster_importance=joined("cluster_importance"),
            shadow_cluster_sizes=list(first.shadow_cluster_sizes),
            shadow_cluster_importance=joined("shadow_cluster_importance"),
            shadow_member_importance=joined("shadow_member_importance"),
            val_row_loss=joined("val_row_loss"),
            moments_train=first.moments_train,
            moments_val=first.moments_val,
        )


def round_shadows(data: SplitData, config: SelectionSettings, round_index: int) -> Shadows | None:
    """The shadows of a round (the same for every trial group), or None for the pure
    reconstruction rule."""
    if config.criterion != "relevance":
        return None
    count = n_shadows(len(data.feature_names), config.min_shadows, config.max_shadows)
    seed = config.seed + 1000 * round_index + _SHADOW_SEED
    return make_shadows(data.X_train, data.X_val, count, seed)


def round_clusters(
    data: SplitData, config: SelectionSettings, round_index: int
) -> tuple[list[list[int]], ShadowClusters | None]:
    """The round's clusters of two or more correlated channels (positions among its channels)
    and their shadow clusters; none without a target (reconstruction alone decides there) or
    under the pure reconstruction rule."""
    if config.criterion != "relevance" or not data.task.has_target:
        return [], None
    seed = config.seed + 1000 * round_index + _CLUSTER_SEED
    clusters = [c for c in correlation_clusters(data.X_train, config.cluster_threshold, seed)
                if len(c) > 1]
    if not clusters:
        return [], None
    shadows = make_cluster_shadows(data.X_train, data.X_val, clusters,
                                   max(2, config.min_shadows), config.max_shadows, seed)
    return clusters, shadows


def train_trials(
    split: SplitData,
    channels: Sequence[str],
    config: SelectionSettings,
    round_index: int,
    trials: Sequence[int] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrialScores:
    """Train the given trials of a round jointly (all parts) and score every channel.

    The trials share one vectorised pass. Trial ``t`` gets the seed ``round seed + t`` whichever
    group it is trained in, and the shadows and the scoring rows depend only on the
    round, so splitting trials over workers gives the same scores.
    """
    trials = list(range(config.n_trials)) if trials is None else list(trials)
    if not trials or trials != list(range(trials[0], trials[0] + len(trials))):
        raise ValueError(f"trials must be consecutive indices, got {trials}")
    start = time.perf_counter()
    data = split.columns(list(channels))
    shadows = round_shadows(data, config, round_index)
    clusters, cluster_shadows = round_clusters(data, config, round_index)
    X_train, X_val = data.X_train, data.X_val
    if shadows is not None:
        X_train = np.hstack([X_train, shadows.train])
        X_val = np.hstack([X_val, shadows.val])
    if cluster_shadows is not None:
        X_train = np.hstack([X_train, cluster_shadows.train])
        X_val = np.hstack([X_val, cluster_shadows.val])
    model_config = round_model_config(
        config,
        n_inputs=X_train.shape[1], n_classes=split.n_classes, round_index=round_index,
        n_rows=len(X_train), task=split.task,
    )
    model_config = model_config.replace(seed=model_config.seed + trials[0])
    model = VAEC(model_config, n_replicas=len(trials), classes=split.classes)
    y_train, y_val = split.head_target(data.y_train), split.head_target(data.y_val)
    # without a target there is nothing to predict: the rounds train the autoencoder
    strategy = "all_parts" if split.task.has_target else "autoencoder"
    result = model.fit(
        strategy, X_train, y_train, X_val, y_val, record_snapshots=False, on_epoch=on_epoch,
    )
    history = result.history
    best = [history.best_row(r) for r in range(len(trials))]
    r2 = channel_r2(model, X_val)
    n = len(channels)
    metrics = {name: np.array([row[f"val_{name}"] for row in best])
               for name in split.task.score_names}
    scores = TrialScores(
        trials=trials,
        channels=list(channels),
        r2=r2[:, :n],
        val_score=metrics[split.task.guard_score],
        val_metrics=metrics,
        seconds=0.0,
        task=split.task,
    )
    if split.task.has_target:
        rows = guard_rows(len(X_val), config.seed)
        picked = slice(None) if rows is None else rows
        scores.val_row_loss = row_losses(model, X_val[picked], y_val[picked])
    if shadows is not None:
        rows_seed = config.seed + 1000 * round_index + _ROWS_SEED
        X_score, y_score = scoring_rows(X_train, y_train, X_val, y_val, rows_seed)
        # every channel and shadow alone, then the clusters and the shadow clusters whole
        # every channel and shadow alone (the members of shadow clusters too), then the
        # clusters and the shadow clusters whole
        singles = n + len(shadows.sources)
        members = 0 if cluster_shadows is None else cluster_shadows.train.shape[1]
        units = [[c] for c in range(singles + members)] + clusters
        if cluster_shadows is not None:
            units += [[singles + c for c in unit] for unit in cluster_shadows.units]
        importance, importance_se, shared = ablation_channel_scores(model, X_score, y_score, units)
        scores.importance, scores.shadow_importance = importance[:, :n], importance[:, n:singles]
        scores.importance_se = importance_se[:, :n]
        scores.shared_r2, scores.shadow_shared_r2 = shared[:, :n], shared[:, n:singles]
        scores.shadow_sources = [channels[s] for s in shadows.sources]
        scores.shadow_r2 = r2[:, n:singles]
        if split.task.has_target:
            scores.moments_train = second_moments(X_train[:, :singles])
            scores.moments_val = second_moments(X_val[:, :singles])
        if cluster_shadows is not None:
            n_clusters = len(clusters)
            scores.clusters = [[channels[c] for c in members] for members in clusters]
            start = singles + members
            scores.shadow_member_importance = importance[:, singles:start]
            scores.cluster_importance = importance[:, start:start + n_clusters]
            scores.shadow_cluster_sizes = [len(s) for s in cluster_shadows.sources]
            scores.shadow_cluster_importance = importance[:, start + n_clusters:]
    scores.seconds = time.perf_counter() - start
    return scores
