"""Clusters of correlated channels: the partners a channel's relevance is measured with.

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

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

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
