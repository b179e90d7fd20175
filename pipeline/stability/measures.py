"""Stability selection's arithmetic on plain arrays: from the ``B x p`` 0/1 matrix of the resamples'
selections to the stable set (keep frequencies, order, cut), and how stable the selections were
(Nogueira's index and interval, pairwise Jaccard, Meinshausen & Bühlmann's error bound).

References
----------
N. Meinshausen and P. Bühlmann, "Stability selection", Journal of the Royal Statistical Society B 72
(2010) 417-473.

S. Nogueira, K. Sechidis and G. Brown, "On the Stability of Feature Selection Algorithms", Journal of
Machine Learning Research 18 (2018) 1-54.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

_TOLERANCE = 1e-9  # frequencies are shares of B resamples: compared with the cut up to rounding


def selection_matrix(selections: Iterable[Iterable[str]], channels: Sequence[str]) -> np.ndarray:
    """The ``B x p`` 0/1 matrix of ``B`` selections over ``channels`` (a row per selection)."""
    position = {c: i for i, c in enumerate(channels)}
    selections = [list(selected) for selected in selections]
    Z = np.zeros((len(selections), len(channels)), dtype=np.int8)
    for row, selected in zip(Z, selections, strict=True):
        if unknown := [c for c in selected if c not in position]:
            raise KeyError(f"selected channels not among the channels: {', '.join(map(str, unknown))}")
        row[[position[c] for c in selected]] = 1
    return Z


def _binary(Z: np.ndarray, least: int = 1) -> np.ndarray:
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.shape[0] < least or Z.shape[1] < 1:
        raise ValueError(f"need a 2-D 0/1 matrix with at least {least} rows and a column, "
                         f"got shape {Z.shape}")
    if not np.isin(Z, (0, 1)).all():
        raise ValueError("the selection matrix must hold only 0 and 1")
    return Z.astype(np.float64)


def keep_frequencies(Z: np.ndarray) -> np.ndarray:
    """Share of the selections (rows) that kept each channel (column)."""
    return _binary(Z).mean(axis=0)


def stability_order(channels: Sequence[str], frequency: Sequence[float],
                    mean_rank: Sequence[float]) -> list[str]:
    """The channels best first: most often kept; ties by the better mean rank over the resamples
    (dropped later on average), then by column order."""
    keys = {c: (-float(f), float(r), i)
            for i, (c, f, r) in enumerate(zip(channels, frequency, mean_rank, strict=True))}
    return sorted(channels, key=keys.__getitem__)


def reaches_cut(frequency: float, keep_frequency: float) -> bool:
    """Whether a channel kept in this share of the resamples is stable (3 of 5 reaches 0.6)."""
    return frequency >= keep_frequency - _TOLERANCE


class StableSet(NamedTuple):
    """The stable selection: ``selected`` in the given channel order; ``beyond_k``: channels at
    or over the cut left out to keep ``at_most``; ``floor``: channels under the cut kept to reach
    ``at_least``."""

    selected: list[str]
    beyond_k: list[str]
    floor: list[str]


def stable_set(order: Sequence[str], frequency: dict[str, float], keep_frequency: float, *,
               at_most: int | None = None, at_least: int = 1,
               channels: Sequence[str] | None = None) -> StableSet:
    """The channels kept in at least ``keep_frequency`` (the cut, Meinshausen & Bühlmann's threshold)
    of the resamples, ``frequency`` by channel: no more than ``at_most`` (the best of those at or
    over the cut), at least ``at_least`` (the best under the cut make up the difference). ``order``
    holds every channel, best first (:func:`stability_order`); ``channels`` the order of ``selected``
    (default ``order``)."""
    passing = [c for c in order if reaches_cut(frequency[c], keep_frequency)]
    limit = len(passing) if at_most is None else at_most
    passing, beyond = passing[:limit], passing[limit:]
    floor = [c for c in order if c not in set(passing)][:max(0, at_least - len(passing))]
    kept = set(passing) | set(floor)
    return StableSet([c for c in (channels or order) if c in kept], beyond, floor)


def _nogueira_parts(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The checked 0/1 matrix, its frequencies, k̄ (their sum: the mean selection size), (k̄/d)(1 - k̄/d)."""
    Z = _binary(Z, least=2)
    d = Z.shape[1]
    frequency = Z.mean(axis=0)
    k_bar = float(frequency.sum())
    return Z, frequency, k_bar, (k_bar / d) * (1.0 - k_bar / d)


def nogueira_stability(Z: np.ndarray) -> float:
    """The stability estimate of Nogueira, Sechidis & Brown (2018, Definition 4).

    ``Φ = 1 - mean_f(s_f²) / ((k̄/d)(1 - k̄/d))`` with ``s_f² = M/(M-1) p_f (1 - p_f)`` the unbiased
    variance of channel ``f``'s selection over the ``M`` rows, ``p_f`` its keep frequency and ``k̄``
    the mean selection size over ``d`` channels. 1 for identical selections, about 0 for selections of
    that size at random; with equal-size selections it equals Kuncheva's consistency index. Undefined
    (NaN) when every selection is empty or every selection is everything. ``Z``: the ``M x d`` 0/1
    selections, a row per selection, ``M >= 2``.
    """
    Z, frequency, _, denominator = _nogueira_parts(Z)
    if denominator <= 0:
        return float("nan")
    M = Z.shape[0]
    return float(1.0 - (M / (M - 1)) * np.mean(frequency * (1.0 - frequency)) / denominator)


def nogueira_variance(Z: np.ndarray) -> float:
    """The estimated asymptotic variance of :func:`nogueira_stability` (Nogueira et al. 2018, the
    variance their Corollary 9 builds the interval on): ``4/M² Σ_i (Φ_i - mean Φ)²`` with, for
    selection ``i`` of size ``k_i``,
    ``Φ_i = [mean_f(z_if p_f) - k_i k̄/d² + Φ/2 (2 k_i k̄/d² - k_i/d - k̄/d + 1)] / ((k̄/d)(1 - k̄/d))``.
    NaN where the estimate is undefined."""
    Z, frequency, k_bar, denominator = _nogueira_parts(Z)
    if denominator <= 0:
        return float("nan")
    M, d = Z.shape
    sizes, phi = Z.sum(axis=1), nogueira_stability(Z)
    per_row = (
        (Z @ frequency) / d - sizes * k_bar / d**2
        + phi / 2.0 * (2.0 * sizes * k_bar / d**2 - sizes / d - k_bar / d + 1.0)
    ) / denominator
    return float(4.0 / M**2 * np.sum((per_row - per_row.mean()) ** 2))


def nogueira_interval(Z: np.ndarray) -> tuple[float, float, float]:
    """The estimate and its approximate 95 % confidence interval, ``Φ ± 1.96 σ`` (Nogueira et al.
    2018, Corollary 9), the upper end clipped at 1 (the index never exceeds it); all three NaN when
    the estimate is undefined."""
    estimate, variance = nogueira_stability(Z), nogueira_variance(Z)
    half = float(norm.ppf(0.975)) * np.sqrt(variance)
    if math.isnan(estimate):
        return estimate, estimate, estimate
    return estimate, float(estimate - half), float(min(1.0, estimate + half))


def pairwise_jaccard(Z: np.ndarray) -> tuple[float, float]:
    """Mean and smallest Jaccard index ``|a ∩ b| / |a ∪ b|`` over every pair of selections
    (two empty selections agree: 1)."""
    Z = _binary(Z, least=2).astype(bool)
    values = []
    for a, b in itertools.combinations(Z, 2):
        union = np.sum(a | b)
        values.append(1.0 if union == 0 else np.sum(a & b) / union)
    return float(np.mean(values)), float(np.min(values))


def false_selection_bound(mean_selected: float, keep_frequency: float, n_channels: int) -> float:
    """Meinshausen & Bühlmann's bound on the expected number of noise channels in the stable set,
    ``E[V] <= q² / ((2 π - 1) p)``: ``q`` the number of channels a resample selects (here their mean),
    ``π`` the keep frequency (> 0.5), ``p`` the number of channels. The theorem assumes exchangeable
    noise channels and a selection no worse than random guessing, on subsamples of half the rows."""
    if not 0.5 < keep_frequency <= 1:
        raise ValueError(f"keep_frequency must be in (0.5, 1], got {keep_frequency!r}")
    return float(mean_selected**2 / ((2.0 * keep_frequency - 1.0) * n_channels))
