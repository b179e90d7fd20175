"""The trials of one pruning round: several joint VAE + classifier models trained together,
on the kept channels and their shadows, and the scores they give every channel."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.data.split import SplitData
from pipeline.rounds.groups import cluster_units
from pipeline.rounds.policy import guard_rows, round_model_config, scoring_rows
from pipeline.rounds.scores import (
    ablation_channel_scores,
    balanced_accuracy,
    channel_r2,
    row_losses,
    second_moments,
)
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
_SHADOW_SEED, _ROWS_SEED, _CLUSTER_SEED, _FOLD_SEED = 17, 29, 43, 61



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
        The clusters of two or more correlated channels (see :mod:`pipeline.rounds.shadows`) and
        the groups (the channels of one column, see :mod:`pipeline.rounds.groups`); every other
        channel is a cluster of its own.
    groups : list of list of str
        The groups of two or more channels decided as one unit.
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
        The task's validation score (F1, or balanced accuracy when the split asks for it,
        see :mod:`pipeline.data.weights`; R² for regression; reconstruction R² without a
        target), sampling off, at each trial's best epoch (balanced accuracy: at its last).
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
    val_row_weight : ndarray of shape (rows,) or None
        What each of those rows counts for (``None``: every row alike).
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
        """The head's loss on every validation row the guard compares, one value per row: the
        mean over the trials, or cross-fitted, the trial that did not train on the row."""
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
            groups=[list(g) for g in first.groups],
            cluster_importance=joined("cluster_importance"),
            shadow_cluster_sizes=list(first.shadow_cluster_sizes),
            shadow_cluster_importance=joined("shadow_cluster_importance"),
            shadow_member_importance=joined("shadow_member_importance"),
            val_row_loss=joined("val_row_loss"),
            val_row_weight=first.val_row_weight,
            moments_train=first.moments_train,
            moments_val=first.moments_val,
            cross_fitted=first.cross_fitted,
        )


@dataclass
class RoundInputs:
    """What a round's models train and are scored on: the kept channels, then the shadows and
    the shadow clusters' columns, on the training and validation rows.

    Cross-fitted (a small table, :func:`cross_fitted`), the training and validation rows are
    both all the rows, ``fold_mask`` (``(n_trials, rows)``, 0/1) marks fold ``k`` for trial
    ``k``, and ``train_weights`` / ``val_weights`` (``(n_trials, rows)``) give trial ``k`` every
    row but fold ``k`` to train on and fold ``k`` to be scored on. With weighted rows
    (``row_weight``, one per validation row; ``train_row_weight``, one per training row) those
    weights carry them too, cross-fitted or not.
    """

    X_train: np.ndarray
    y_train: np.ndarray | None
    X_val: np.ndarray
    y_val: np.ndarray | None
    n_channels: int
    shadows: Shadows | None
    clusters: list[list[int]]
    cluster_shadows: ShadowClusters | None
    n_train_rows: int
    train_weights: np.ndarray | None = None
    val_weights: np.ndarray | None = None
    fold_mask: np.ndarray | None = None
    row_weight: np.ndarray | None = None
    train_row_weight: np.ndarray | None = None

    @property
    def cross_fitted(self) -> bool:
        """Whether every trial is scored on its own fold of all the rows."""
        return self.fold_mask is not None

    @property
    def singles(self) -> int:
        """Columns of the channels and the lone shadows."""
        return self.n_channels + (0 if self.shadows is None else len(self.shadows.sources))


def cross_fitted(split: SplitData, config: SelectionSettings) -> bool:
    """Whether a round's trials train on folds of the training and validation rows (every row
    scored out of fold) instead of the split: on tables of at most ``cross_fit_rows`` rows."""
    rows = len(split.X_train) + len(split.X_val)
    return config.cross_fit_rows is not None and rows <= config.cross_fit_rows and config.n_trials >= 2


def _folds(y: np.ndarray | None, n_rows: int, config: SelectionSettings, round_index: int,
           task: Task) -> np.ndarray:
    """Every row's fold, stratified as the split is (the classes, a regression target's bins)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    groups = task.strata(y, 1.0 / config.n_trials, 0.0)
    seed = config.seed + 1000 * round_index + _FOLD_SEED
    if groups is not None and np.unique(groups, return_counts=True)[1].min() >= config.n_trials:
        splitter = StratifiedKFold(config.n_trials, shuffle=True, random_state=seed)
    else:
        splitter, groups = KFold(config.n_trials, shuffle=True, random_state=seed), None
    fold = np.empty(n_rows, dtype=np.int64)
    for k, (_, rows) in enumerate(splitter.split(np.zeros(n_rows), groups)):
        fold[rows] = k
    return fold


def round_inputs(
    split: SplitData, channels: Sequence[str], config: SelectionSettings, round_index: int
) -> RoundInputs:
    """The kept channels with the round's shadows and shadow clusters (the same for every trial
    group: they depend on the round only)."""
    data = split.columns(list(channels))
    y_train, y_val = split.head_target(data.y_train), split.head_target(data.y_val)
    X_train, X_val = data.X_train, data.X_val
    w_train, w_val = split.w_train, split.w_val
    folded = cross_fitted(split, config)
    if folded:
        X_train = np.vstack([X_train, X_val])
        y_train = None if y_train is None else np.concatenate([y_train, y_val])
        X_val, y_val = X_train[:0], None if y_train is None else y_train[:0]
        w_train = None if w_train is None else np.concatenate([w_train, w_val])
        w_val = w_train
    relevance = config.criterion == "relevance"
    seed = config.seed + 1000 * round_index
    shadows = make_shadows(X_train, X_val, n_shadows(len(channels), config.min_shadows,
                                                     config.max_shadows), seed + _SHADOW_SEED) \
        if relevance else None
    clusters, cluster_shadows = [], None
    if relevance and split.task.has_target:
        # a group is a cluster ablated whole; correlation clusters form among the rest
        position = {c: i for i, c in enumerate(channels)}
        groups = [[position[c] for c in g] for g in split.channel_groups(list(channels))]
        loose = sorted(set(range(len(channels))) - {i for g in groups for i in g})
        correlated = correlation_clusters(X_train[:, loose], config.cluster_threshold,
                                          seed + _CLUSTER_SEED) if loose else []
        clusters = cluster_units(groups, [[loose[i] for i in c] for c in correlated])
        if clusters:
            cluster_shadows = make_cluster_shadows(X_train, X_val, clusters, max(2, config.min_shadows),
                                                   config.max_shadows, seed + _CLUSTER_SEED)
    extra = [s for s in (shadows, cluster_shadows) if s is not None]
    X_train = np.hstack([X_train, *(s.train for s in extra)])
    X_val = np.hstack([X_val, *(s.val for s in extra)])
    inputs = RoundInputs(X_train, y_train, X_val, y_val, len(channels), shadows, clusters,
                         cluster_shadows, n_train_rows=len(data.X_train), row_weight=w_val,
                         train_row_weight=w_train)
    if folded:
        fold = _folds(y_train, len(X_train), config, round_index, split.task)
        inputs.fold_mask = np.stack([fold == k for k in range(config.n_trials)]).astype(np.float32)
        inputs.val_weights = inputs.fold_mask
        inputs.train_weights = 1.0 - inputs.fold_mask
        inputs.X_val, inputs.y_val = inputs.X_train, inputs.y_train
    if w_train is not None:
        # every trial's rows carry the rows' weights (times its fold's mask when cross-fitted)
        inputs.train_weights = _trial_weights(inputs.train_weights, w_train, config.n_trials)
        inputs.val_weights = _trial_weights(inputs.val_weights, w_val, config.n_trials)
    return inputs


def _trial_weights(mask: np.ndarray | None, weights: np.ndarray, n_trials: int) -> np.ndarray:
    """``(n_trials, rows)`` weights: the rows' weights for every trial, times its mask."""
    w = weights.astype(np.float32)[None]
    return np.repeat(w, n_trials, axis=0) if mask is None else mask * w


def _guard_evidence(scores: TrialScores, model: VAEC, inputs: RoundInputs, seed: int,
                    picked: slice) -> None:
    """Every validation row's loss under each trial (the guard's paired evidence), on the rows
    the guard samples; cross-fitted, a row counts in the trial that did not train on it only."""
    rows = guard_rows(len(inputs.X_val), seed)
    pick = slice(None) if rows is None else rows
    losses = row_losses(model, inputs.X_val[pick], inputs.y_val[pick])
    scores.val_row_loss = losses if inputs.fold_mask is None else \
        losses * inputs.fold_mask[picked][:, pick]
    if inputs.row_weight is not None:
        scores.val_row_weight = inputs.row_weight[pick]


def train_trials(
    split: SplitData,
    channels: Sequence[str],
    config: SelectionSettings,
    round_index: int,
    trials: Sequence[int] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
    on_path: bool = False,
) -> TrialScores:
    """Train the given trials of a round jointly (all parts) and score every channel
    (``on_path``: a round on the minimal-subset path, see
    :func:`pipeline.rounds.policy.round_model_config`).

    The trials share one vectorised pass. Trial ``t`` gets the seed ``round seed + t`` (and,
    cross-fitted, fold ``t``) whichever group it is trained in, and the shadows and the scoring
    rows depend only on the round, so splitting trials over workers gives the same scores.
    """
    trials = list(range(config.n_trials)) if trials is None else list(trials)
    if not trials or trials != list(range(trials[0], trials[0] + len(trials))):
        raise ValueError(f"trials must be consecutive indices, got {trials}")
    start = time.perf_counter()
    inputs = round_inputs(split, channels, config, round_index)
    picked = slice(trials[0], trials[-1] + 1)
    train_w = None if inputs.train_weights is None else inputs.train_weights[picked]
    val_w = None if inputs.val_weights is None else inputs.val_weights[picked]
    model_config = round_model_config(
        config, n_inputs=inputs.X_train.shape[1], n_classes=split.n_classes,
        round_index=round_index, n_rows=len(inputs.X_train), task=split.task, on_path=on_path,
    )
    model = VAEC(model_config.replace(seed=model_config.seed + trials[0]), n_replicas=len(trials),
                 classes=split.classes)
    # without a target there is nothing to predict: the rounds train the autoencoder
    strategy = "all_parts" if split.task.has_target else "autoencoder"
    history = model.fit(strategy, inputs.X_train, inputs.y_train, inputs.X_val, inputs.y_val,
                        record_snapshots=False, on_epoch=on_epoch, row_weights=train_w,
                        val_row_weights=val_w).history
    best = [history.best_row(r) for r in range(len(trials))]
    metrics = {name: np.array([row[f"val_{name}"] for row in best])
               for name in split.task.score_names}
    r2 = channel_r2(model, inputs.X_val, val_w)
    score_name = split.task.guard_score
    if split.balanced:
        metrics["balanced_accuracy"] = balanced_accuracy(model, inputs.X_val, inputs.y_val, val_w)
        score_name = "balanced_accuracy"
    scores = TrialScores(trials=trials, channels=list(channels), r2=r2[:, :inputs.n_channels],
                         val_score=metrics[score_name], val_metrics=metrics,
                         seconds=0.0, task=split.task, cross_fitted=inputs.cross_fitted,
                         groups=split.channel_groups(list(channels)))
    if split.task.has_target:
        _guard_evidence(scores, model, inputs, config.seed, picked)
    if inputs.shadows is not None:
        _ablation_scores(scores, model, inputs, r2, config, round_index, val_w)
    scores.seconds = time.perf_counter() - start
    return scores


def _ablation_scores(scores: TrialScores, model: VAEC, inputs: RoundInputs, r2: np.ndarray,
                     config: SelectionSettings, round_index: int, val_w: np.ndarray | None) -> None:
    """Importance and shared R² of every channel, shadow, cluster and shadow cluster, into
    ``scores``: on every row a trial did not train on when cross-fitted, else on the training
    and validation rows (a seeded subset of a large table)."""
    n, singles, shadows = inputs.n_channels, inputs.singles, inputs.shadows
    score_w = val_w
    if not inputs.cross_fitted:
        X_score, y_score, w_score = scoring_rows(
            inputs.X_train, inputs.y_train, inputs.X_val, inputs.y_val,
            config.seed + 1000 * round_index + _ROWS_SEED,
            inputs.train_row_weight, inputs.row_weight)
        score_w = None if w_score is None else np.repeat(w_score[None], len(scores.trials), axis=0)
    else:
        X_score, y_score = inputs.X_val, inputs.y_val
    # every channel and shadow alone (the members of shadow clusters too), then the clusters
    # and the shadow clusters whole
    cluster_shadows = inputs.cluster_shadows
    members = 0 if cluster_shadows is None else cluster_shadows.train.shape[1]
    units = [[c] for c in range(singles + members)] + inputs.clusters
    if cluster_shadows is not None:
        units += [[singles + c for c in unit] for unit in cluster_shadows.units]
    importance, importance_se, shared = ablation_channel_scores(model, X_score, y_score, units,
                                                                score_w)
    channels = scores.channels
    scores.importance, scores.shadow_importance = importance[:, :n], importance[:, n:singles]
    scores.importance_se = importance_se[:, :n]
    scores.shared_r2, scores.shadow_shared_r2 = shared[:, :n], shared[:, n:singles]
    scores.shadow_sources = [channels[s] for s in shadows.sources]
    scores.shadow_r2 = r2[:, n:singles]
    if scores.task.has_target:
        # the stand-ins' regressions: fitted on the training rows, scored on the validation rows
        rows = np.vstack([inputs.X_train, inputs.X_val])[:, :singles] if not inputs.cross_fitted \
            else inputs.X_train[:, :singles]
        scores.moments_train = second_moments(rows[:inputs.n_train_rows])
        scores.moments_val = second_moments(rows[inputs.n_train_rows:])
    if cluster_shadows is not None:
        start, n_clusters = singles + members, len(inputs.clusters)
        scores.clusters = [[channels[c] for c in cluster] for cluster in inputs.clusters]
        scores.shadow_member_importance = importance[:, singles:start]
        scores.cluster_importance = importance[:, start:start + n_clusters]
        scores.shadow_cluster_sizes = [len(s) for s in cluster_shadows.sources]
        scores.shadow_cluster_importance = importance[:, start + n_clusters:]
