"""Shadow channels: permuted copies of real channels, trained alongside them as a null.

A shadow keeps the marginal distribution of its source channel but, permuted across the rows
independently of everything else, shares nothing with the other channels or the target. The
scores shadows get from the same models (reconstruction R², importance to the head) are what a
channel with no structure and no relevance scores, so a real channel is judged against them
(Boruta's idea, applied to both scores; see :mod:`pipeline.rounds.significance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
