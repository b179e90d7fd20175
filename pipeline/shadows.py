"""Shadow channels: permuted copies of real channels, trained alongside them as a null.

A shadow keeps the marginal distribution of its source channel but, permuted across the rows
independently of everything else, shares nothing with the other channels or the target. The
scores shadows get from the same models (reconstruction R², importance to the head) are what a
channel with no structure and no relevance scores, so a real channel is judged against them
(Boruta's idea, applied to both scores; see :mod:`pipeline.shadow_test`).
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
