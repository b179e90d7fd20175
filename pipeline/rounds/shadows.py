"""Shadow channels: permuted copies of real channels, trained alongside them as a null.

A shadow keeps the marginal distribution of its source channel but, permuted across the rows
independently of everything else, shares nothing with the other channels or the target. The
scores shadows get from the same models (reconstruction R², importance to the head) are what a
channel with no structure and no relevance scores, so a real channel is judged against them
(Boruta's idea, applied to both scores; see :mod:`pipeline.rounds.scores`).

Clusters of correlated channels
-------------------------------
A redundant copy of a relevant channel adds little to the head once the original is there:
held at its mean alone, it costs the head almost nothing (its twin covers for it), and a rule
that asks each channel alone drops it. Held at its mean *together with* its twin, the two cost
what the signal is worth. Two correlated channels that say nothing of the target cost nothing
alone or together. So a round measures every channel's importance twice: alone, and ablated
together with its cluster of correlated partners (tested against shadow clusters built the same
way, see :mod:`pipeline.rounds.shadows`).

A cluster is a set of channels whose absolute Pearson correlations on the training rows are all
at least ``threshold`` (complete linkage, cut at ``1 - threshold``). Clusters hold at most
:data:`MAX_CLUSTER_SIZE` channels: a larger one (a spectrum, a bank of sensors) is cut again
into its most correlated parts, each scored as a unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

SHADOW_PREFIX = "shadow:"


@dataclass(frozen=True)
class Shadows:
    """The shadow columns of one round.

    Attributes
    ----------
    sources : ndarray of int
        For every shadow, the position (among the round's channels) of its source channel.
    train, val : ndarray of float32, shape (rows, n_shadows)
        The shadow columns of the training and validation rows, each permuted on its own.
    """

    sources: np.ndarray
    train: np.ndarray
    val: np.ndarray

    def names(self, channels: list[str]) -> list[str]:
        """``shadow:<source>`` (with ``#k`` when a source has more than one shadow)."""
        seen: dict[int, int] = {}
        names = []
        for s in self.sources:
            k = seen.get(int(s), 0)
            seen[int(s)] = k + 1
            names.append(f"{SHADOW_PREFIX}{channels[s]}" + (f"#{k}" if k else ""))
        return names


def n_shadows(n_channels: int, min_shadows: int, max_shadows: int) -> int:
    """How many shadows a round of ``n_channels`` gets: one per channel, within the bounds.

    Small tables get more shadows than channels (the null needs enough draws to estimate its
    spread); wide tables a random subset (the null does not need a shadow of every channel, and
    each shadow costs a column of training).
    """
    return int(min(max(n_channels, min_shadows), max_shadows))


def make_shadows(
    X_train: np.ndarray, X_val: np.ndarray, count: int, seed: int
) -> Shadows:
    """``count`` shadows of the columns of ``X_train``/``X_val``, reproducible by ``seed``.

    Sources are drawn without replacement while there are enough channels, then again from
    all channels. Every shadow column is permuted with its own permutation, separately within
    the training and the validation rows (so each split keeps its own marginal).
    """
    rng = np.random.default_rng(seed)
    n_channels = X_train.shape[1]
    full, rest = divmod(count, n_channels)
    sources = np.concatenate(
        [rng.permutation(n_channels) for _ in range(full)]
        + [rng.choice(n_channels, size=rest, replace=False)]
    ).astype(np.int64)

    def permuted(X: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], count), dtype=np.float32)
        for j, source in enumerate(sources):
            out[:, j] = X[rng.permutation(X.shape[0]), source]
        return out

    return Shadows(sources=sources, train=permuted(X_train), val=permuted(X_val))


# Shadow clusters are drawn per size bin: a real cluster is tested against shadow clusters of
# sizes in its own bin (the null importance of ablating k channels grows with k).
CLUSTER_SIZE_BINS = ((2, 2), (3, 4), (5, 8))


def size_bin(size: int) -> int:
    """Index of the bin of :data:`CLUSTER_SIZE_BINS` that holds a cluster of ``size`` channels
    (the last bin for anything larger)."""
    for b, (low, high) in enumerate(CLUSTER_SIZE_BINS):
        if low <= size <= high:
            return b
    return len(CLUSTER_SIZE_BINS) - 1


@dataclass(frozen=True)
class ShadowClusters:
    """Shadow clusters: real clusters of correlated channels with their rows permuted together.

    A shadow cluster keeps what its source cluster's channels share with each other (it is as
    reconstructable from itself as the cluster) but nothing with the other channels or the
    target: ablated together, its channels cost the head what a correlated group of noise
    channels costs.

    Attributes
    ----------
    sources : list of list of int
        For every shadow cluster, the positions (among the round's channels) it copies.
    train, val : ndarray of float32, shape (rows, total columns)
        The shadow clusters' columns side by side, in the order of ``sources``.
    """

    sources: list[list[int]]
    train: np.ndarray
    val: np.ndarray

    @property
    def units(self) -> list[list[int]]:
        """Column positions (within :attr:`train`) of every shadow cluster."""
        units, start = [], 0
        for members in self.sources:
            units.append(list(range(start, start + len(members))))
            start += len(members)
        return units

    @property
    def bins(self) -> list[int]:
        """The size bin of every shadow cluster."""
        return [size_bin(len(s)) for s in self.sources]


def make_cluster_shadows(
    X_train: np.ndarray,
    X_val: np.ndarray,
    clusters: list[list[int]],
    min_count: int,
    max_columns: int,
    seed: int,
) -> ShadowClusters:
    """Shadow clusters for the real ``clusters`` (of two channels or more), per size bin.

    Each bin that holds real clusters gets as many shadow clusters as it has real ones, at
    least ``min_count`` (the null needs draws to estimate its spread) and, past that, no more
    than ``max_columns`` columns; each is a real cluster of the bin (drawn in a seeded order,
    again when the bin needs more) with one permutation of the rows for all its columns,
    separately within the training and the validation rows.
    """
    rng = np.random.default_rng(seed)
    by_bin: dict[int, list[list[int]]] = {}
    for members in clusters:
        if len(members) >= 2:
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
        width = sum(len(m) for m in sources)
        return (np.hstack(blocks) if blocks else np.empty((X.shape[0], width))).astype(np.float32)

    return ShadowClusters(sources=sources, train=permuted(X_train), val=permuted(X_val))


MAX_CLUSTER_SIZE = 8
# Correlations are estimated on at most this many training rows (a seeded subset).
MAX_CORRELATION_ROWS = 4000


def _correlation(X: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlations of the columns; a constant column correlates with none."""
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
    """A part larger than the cap, split along its own tree until every piece fits."""
    if len(part) <= MAX_CLUSTER_SIZE:
        return [part]
    labels = fcluster(_tree(C, part), t=2, criterion="maxclust")
    if len(np.unique(labels)) < 2:  # all equally correlated: split in column order
        labels = np.arange(len(part)) >= len(part) // 2
    return [piece for label in np.unique(labels) for piece in _halves(C, part[labels == label])]


def _cut(C: np.ndarray, members: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Complete-linkage clusters of ``members`` at ``threshold``, none larger than the cap."""
    labels = fcluster(_tree(C, members), t=1.0 - threshold, criterion="distance")
    return [piece for label in np.unique(labels) for piece in _halves(C, members[labels == label])]


def correlation_clusters(
    X: np.ndarray, threshold: float | None, seed: int = 0
) -> list[list[int]]:
    """The channels of ``X`` (training rows) partitioned into clusters of correlated channels.

    Parameters
    ----------
    X : ndarray of shape (rows, channels)
    threshold : float or None
        Smallest absolute correlation between any two channels of a cluster; ``None`` puts
        every channel in a cluster of its own.
    seed : int
        Seed of the row subset when there are more than :data:`MAX_CORRELATION_ROWS` rows.

    Returns
    -------
    list of list of int
        Every channel position exactly once, each cluster sorted, clusters ordered by their
        first channel: the same data always gives the same clusters.
    """
    n_channels = X.shape[1]
    if threshold is None or n_channels < 2:
        return [[c] for c in range(n_channels)]
    if len(X) > MAX_CORRELATION_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), MAX_CORRELATION_ROWS, replace=False))
        X = X[rows]
    C = _correlation(X)
    clusters = [sorted(int(c) for c in part)
                for part in _cut(C, np.arange(n_channels), threshold)]
    return sorted(clusters, key=lambda members: members[0])
