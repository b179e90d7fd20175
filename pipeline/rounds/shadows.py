"""What a round's models train on: the kept channels, their shadows, and the clusters.

A **shadow** is a copy of a real channel permuted across the rows: it keeps the marginal
distribution and shares nothing with the other channels or the target, so its scores are what a
channel with no structure and no relevance gets, the null a real channel is judged against
(Boruta's idea). Held at its mean alone, a redundant copy of a relevant channel costs the head
almost nothing (its twin covers for it), so a round also ablates every **cluster** of correlated
channels together, against shadow clusters (real clusters with their rows permuted together): a
set of channels whose absolute correlations on the training rows are all at least ``threshold``
(complete linkage), of at most :data:`MAX_CLUSTER_SIZE` channels. The channels of one column, or
of a user's group, are a cluster of their own; correlation clusters form among the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from pipeline.data.split import SplitData
from pipeline.settings import SelectionSettings
from vaec.tasks import Task


@dataclass(frozen=True)
class Shadows:
    """The shadow columns of one round, of the ``train`` and ``val`` rows (float32, one column per
    shadow), and every shadow's ``sources``: the position of its channel among the round's."""

    sources: np.ndarray
    train: np.ndarray
    val: np.ndarray


def n_shadows(n_channels: int, min_shadows: int, max_shadows: int) -> int:
    """How many shadows a round of ``n_channels`` gets: one per channel, within the bounds (the
    null needs draws to estimate its spread, and every shadow costs a column of training)."""
    return int(min(max(n_channels, min_shadows), max_shadows))


def make_shadows(X_train: np.ndarray, X_val: np.ndarray, count: int, seed: int) -> Shadows:
    """``count`` shadows of the columns of ``X_train``/``X_val``, reproducible by ``seed``:
    sources drawn without replacement, again from all channels while more are needed, every
    shadow permuted on its own within the training and within the validation rows."""
    rng, n_channels = np.random.default_rng(seed), X_train.shape[1]
    full, rest = divmod(count, n_channels)
    sources = np.concatenate([rng.permutation(n_channels) for _ in range(full)]
                             + [rng.choice(n_channels, size=rest, replace=False)]).astype(np.int64)

    def permuted(X: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], count), dtype=np.float32)
        for j, source in enumerate(sources):
            out[:, j] = X[rng.permutation(X.shape[0]), source]
        return out

    return Shadows(sources=sources, train=permuted(X_train), val=permuted(X_val))


# a real cluster is tested against shadow clusters of its size bin (the null importance of
# ablating k channels grows with k)
CLUSTER_SIZE_BINS = ((2, 2), (3, 4), (5, 8))


def size_bin(size: int) -> int:
    """The bin of :data:`CLUSTER_SIZE_BINS` of a cluster of ``size`` channels (larger: the last)."""
    return next((b for b, (low, high) in enumerate(CLUSTER_SIZE_BINS) if low <= size <= high),
                len(CLUSTER_SIZE_BINS) - 1)


@dataclass(frozen=True)
class ShadowClusters:
    """Shadow clusters: real clusters with their rows permuted together (as correlated inside as
    their sources, as empty of the target and the other channels): ``sources`` holds, for every
    shadow cluster, the positions (among the round's channels) it copies; ``train`` and ``val``
    (float32) its columns side by side, in the order of ``sources``."""

    sources: list[list[int]]
    train: np.ndarray
    val: np.ndarray

    @property
    def units(self) -> list[list[int]]:
        """Column positions (within :attr:`train`) of every shadow cluster."""
        ends = np.cumsum([len(members) for members in self.sources], dtype=int)
        return [list(range(end - len(members), end)) for members, end in zip(self.sources, ends, strict=True)]


def make_cluster_shadows(X_train: np.ndarray, X_val: np.ndarray, clusters: list[list[int]],
                         min_count: int, max_columns: int, seed: int) -> ShadowClusters:
    """Shadow clusters for the real ``clusters`` of two channels or more: per size bin as many
    as it has real ones, at least ``min_count``, past that at most ``max_columns`` columns; each
    a real cluster of the bin (in a seeded order, again when more are needed) with one row
    permutation for all its columns, within the training and within the validation rows."""
    rng = np.random.default_rng(seed)
    by_bin: dict[int, list[list[int]]] = {}
    for members in clusters:
        by_bin.setdefault(size_bin(len(members)), []).append(list(members))
    sources: list[list[int]] = []
    for b in sorted(by_bin):
        real = by_bin[b]
        mean_size = float(np.mean([len(m) for m in real]))
        count = max(min_count, min(len(real), int(max_columns // mean_size)))
        order = np.concatenate([rng.permutation(len(real)) for _ in range(-(-count // len(real)))])
        sources += [real[i] for i in order[:count]]

    def permuted(X: np.ndarray) -> np.ndarray:
        blocks = [X[np.ix_(rng.permutation(X.shape[0]), members)] for members in sources]
        return (np.hstack(blocks) if blocks else np.empty((X.shape[0], 0))).astype(np.float32)

    return ShadowClusters(sources=sources, train=permuted(X_train), val=permuted(X_val))


MAX_CLUSTER_SIZE = 8
# Correlations are estimated on at most this many training rows (a seeded subset).
MAX_CORRELATION_ROWS = 4000


def _correlation(X: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlations of the columns (a constant column's with any is 0)."""
    X = np.asarray(X, dtype=np.float64)
    X = X - X.mean(axis=0)
    norm = np.sqrt((X**2).sum(axis=0))
    live = norm > 1e-12
    Z = np.where(live, X / np.where(live, norm, 1.0), 0.0)
    C = np.abs(Z.T @ Z)
    np.fill_diagonal(C, 1.0)
    return np.clip(C, 0.0, 1.0)


def _tree(C: np.ndarray, members: np.ndarray) -> np.ndarray:
    return linkage(squareform(1.0 - C[np.ix_(members, members)], checks=False), method="complete")


def _halves(C: np.ndarray, part: np.ndarray) -> list[np.ndarray]:
    """A part split along its own tree until every piece fits the cap."""
    if len(part) <= MAX_CLUSTER_SIZE:
        return [part]
    labels = fcluster(_tree(C, part), t=2, criterion="maxclust")
    if len(np.unique(labels)) < 2:  # all equally correlated: split in column order
        labels = np.arange(len(part)) >= len(part) // 2
    return [piece for label in np.unique(labels) for piece in _halves(C, part[labels == label])]


def correlation_clusters(X: np.ndarray, threshold: float | None, seed: int = 0) -> list[list[int]]:
    """The channels of ``X`` (training rows; a seeded subset past :data:`MAX_CORRELATION_ROWS`)
    partitioned into clusters whose channels all correlate at least ``threshold`` (``None``:
    every channel alone): every position once, clusters sorted and ordered by first channel."""
    n_channels = X.shape[1]
    if threshold is None or n_channels < 2:
        return [[c] for c in range(n_channels)]
    if len(X) > MAX_CORRELATION_ROWS:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), MAX_CORRELATION_ROWS, replace=False))]
    C = _correlation(X)
    labels = fcluster(_tree(C, np.arange(n_channels)), t=1.0 - threshold, criterion="distance")
    parts = [piece for label in np.unique(labels) for piece in _halves(C, np.flatnonzero(labels == label))]
    return sorted((sorted(int(c) for c in part) for part in parts), key=lambda members: members[0])


# offsets of the round seed: streams of their own, whichever way the trials are grouped
_SHADOW_SEED, _CLUSTER_SEED, _FOLD_SEED = 17, 43, 61


@dataclass
class RoundInputs:
    """What a round's models train and are scored on: the kept channels, then the shadows' and
    the shadow clusters' columns. Cross-fitted, both parts are all the rows, ``fold_mask``
    ``(n_trials, rows)`` marks trial ``k``'s fold, and ``train_weights`` / ``val_weights`` give
    it the other rows to train on and its fold to be scored on (times the rows' weights)."""

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
        return self.fold_mask is not None

    @property
    def singles(self) -> int:
        """Columns of the channels and the lone shadows."""
        return self.n_channels + (0 if self.shadows is None else len(self.shadows.sources))


def _folds(y: np.ndarray | None, n_rows: int, config: SelectionSettings, round_index: int,
           task: Task) -> np.ndarray:
    """Every trial's fold as a mask ``(n_trials, rows)``, stratified as the split is (the classes,
    a regression target's bins)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    groups = task.strata(y, 1.0 / config.n_trials, 0.0)
    seed = config.seed + 1000 * round_index + _FOLD_SEED
    if groups is not None and np.unique(groups, return_counts=True)[1].min() >= config.n_trials:
        splitter = StratifiedKFold(config.n_trials, shuffle=True, random_state=seed)
    else:
        splitter, groups = KFold(config.n_trials, shuffle=True, random_state=seed), None
    mask = np.zeros((config.n_trials, n_rows), dtype=np.float32)
    for k, (_, rows) in enumerate(splitter.split(np.zeros(n_rows), groups)):
        mask[k, rows] = 1.0
    return mask


def round_inputs(split: SplitData, channels: Sequence[str], config: SelectionSettings,
                 round_index: int) -> RoundInputs:
    """The kept channels with the round's shadows and shadow clusters (the same for every trial
    group: they depend on the round only)."""
    data = split.columns(list(channels))
    y_train, y_val = split.head_target(data.y_train), split.head_target(data.y_val)
    X_train, X_val = data.X_train, data.X_val
    w_train, w_val = split.w_train, split.w_val
    # a table of at most cross_fit_rows rows: the trials train on folds of all the rows
    n_rows = len(split.X_train) + len(split.X_val)
    folded = config.cross_fit_rows is not None and n_rows <= config.cross_fit_rows and config.n_trials >= 2
    if folded:
        X_train = np.vstack([X_train, X_val])
        y_train = None if y_train is None else np.concatenate([y_train, y_val])
        X_val, y_val = X_train[:0], None if y_train is None else y_train[:0]
        w_train = None if w_train is None else np.concatenate([w_train, w_val])
        w_val = w_train
    relevance = config.criterion == "relevance"
    seed = config.seed + 1000 * round_index
    count = n_shadows(len(channels), config.min_shadows, config.max_shadows)
    shadows = make_shadows(X_train, X_val, count, seed + _SHADOW_SEED) if relevance else None
    clusters, cluster_shadows = [], None
    if relevance and split.task.has_target:
        # a group is a cluster ablated whole; correlation clusters form among the rest
        position = {c: i for i, c in enumerate(channels)}
        groups = [[position[c] for c in g] for g in split.channel_groups(list(channels))]
        loose = sorted(set(range(len(channels))) - {i for g in groups for i in g})
        correlated = correlation_clusters(X_train[:, loose], config.cluster_threshold, seed + _CLUSTER_SEED)
        clusters = sorted([sorted(g) for g in groups if len(g) > 1] + [
            sorted(loose[i] for i in c) for c in correlated if len(c) > 1], key=lambda m: m[0])
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
        inputs.fold_mask = _folds(y_train, len(X_train), config, round_index, split.task)
        inputs.val_weights = inputs.fold_mask
        inputs.train_weights = 1.0 - inputs.fold_mask
        inputs.X_val, inputs.y_val = inputs.X_train, inputs.y_train
    if w_train is not None:
        # every trial's rows carry the rows' weights (times its fold's mask when cross-fitted)
        inputs.train_weights = _trial_weights(inputs.train_weights, w_train, config.n_trials)
        inputs.val_weights = _trial_weights(inputs.val_weights, w_val, config.n_trials)
    return inputs


def _trial_weights(mask: np.ndarray | None, weights: np.ndarray, n_trials: int) -> np.ndarray:
    w = weights.astype(np.float32)[None]
    return np.repeat(w, n_trials, axis=0) if mask is None else mask * w
