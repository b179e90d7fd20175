"""The records of a stability run: one per resample, and the run's frequencies and measures."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline.stability.measures import (
    false_selection_bound,
    keep_frequencies,
    nogueira_interval,
    nogueira_variance,
    pairwise_jaccard,
    selection_matrix,
    stability_order,
    stable_set,
)


def rfe_ranking(names: Sequence[str], kept: Collection[str], order: Sequence[str],
                constant_columns: Sequence[str] = ()) -> dict[str, int]:
    """RFE-style ranks of ``names`` and ``constant_columns``: 1 for ``kept``, then ``order`` from 2,
    constant columns last."""
    ranking = {c: 1 for c in names if c in kept} | {c: 2 + i for i, c in enumerate(order)}
    ranking |= dict.fromkeys(constant_columns, max(ranking.values(), default=1) + 1)
    return {c: ranking[c] for c in [*names, *constant_columns]}


@dataclass
class ResampleSelection:
    """One whole selection on one resample of the rows (no final model).

    ``index`` counts from 0; ``seed`` seeds its rows and its models
    (:func:`pipeline.selection.resample_seed`); ``n_train`` counts repeated rows under ``bootstrap``;
    ``selected`` is in column order; ``ranking`` is RFE-style (1: kept; constant columns last);
    ``seconds`` is the selection's wall-clock time; ``constant_columns`` have no variance on its rows.
    """

    index: int
    seed: int
    n_train: int
    n_val: int
    selected: list[str]
    ranking: dict[str, int]
    stop_reason: str
    n_rounds: int
    seconds: float
    constant_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``resample 3: kept 12 after 4 rounds (all_pass), 8.1 s``."""
        rounds = f"{self.n_rounds} round{'s' * (self.n_rounds != 1)}"
        return (f"resample {self.index}: kept {len(self.selected)} after {rounds} "
                f"({self.stop_reason}), {self.seconds:.1f} s")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# the stop reason of a stability selection: the keep-frequency cut decided, not a loop
STOP_STABILITY = "stability"


@dataclass
class StabilityResult:
    """What a stability run measured and decided.

    ``channels`` are the ``p`` channels resampled (the varying columns of the whole data), in column
    order like ``selected``, the stable selection: the channels at least ``keep_frequency`` of the
    ``resamples`` kept (their ``frequency``; ``mean_rank``, the rank averaged over the resamples,
    breaks ties), less ``beyond_k`` (left out because ``n_features_to_select`` caps the count), plus
    ``floor`` (under the cut, kept because ``min_features`` is a floor). The measures: Nogueira's
    index with its 95 % interval and asymptotic variance (NaN when every resample kept nothing, or
    everything), the mean and smallest Jaccard index over the pairs of resamples, ``mean_selected``
    (``q``: how many channels a resample kept on average) and ``error_bound``, Meinshausen &
    Bühlmann's bound on the expected number of noise channels at or over the cut,
    ``q² / ((2 keep_frequency - 1) p)``.
    """

    channels: list[str]
    resample: str
    keep_frequency: float
    resamples: list[ResampleSelection]
    frequency: dict[str, float]
    mean_rank: dict[str, float]
    selected: list[str]
    beyond_k: list[str]
    floor: list[str]
    nogueira: float
    nogueira_low: float
    nogueira_high: float
    nogueira_variance: float
    jaccard_mean: float
    jaccard_min: float
    mean_selected: float
    error_bound: float

    @classmethod
    def from_resamples(cls, channels: Sequence[str], resamples: Sequence[ResampleSelection], *, resample: str,
                       keep_frequency: float, n_features_to_select: int | None = None,
                       min_features: int = 1) -> StabilityResult:
        """Frequencies, the stable set and the measures of the resamples' selections."""
        channels = [str(c) for c in channels]
        resamples = sorted(resamples, key=lambda r: r.index)
        Z = selection_matrix([r.selected for r in resamples], channels)
        frequency = keep_frequencies(Z)
        worst = len(channels) + 1
        mean_rank = np.array([np.mean([r.ranking.get(c, worst) for r in resamples]) for c in channels])
        order = stability_order(channels, frequency, mean_rank)
        by_channel = dict(zip(channels, frequency.tolist(), strict=True))
        chosen = stable_set(order, by_channel, keep_frequency, at_most=n_features_to_select,
                            at_least=min_features, channels=channels)
        estimate, low, high = nogueira_interval(Z)
        jaccard_mean, jaccard_min = pairwise_jaccard(Z)
        q = float(Z.sum(axis=1).mean())
        return cls(
            channels=channels, resample=resample, keep_frequency=keep_frequency, resamples=list(resamples),
            frequency=by_channel, mean_rank=dict(zip(channels, mean_rank.tolist(), strict=True)),
            selected=chosen.selected, beyond_k=chosen.beyond_k, floor=chosen.floor, nogueira=estimate,
            nogueira_low=low, nogueira_high=high, nogueira_variance=nogueira_variance(Z),
            jaccard_mean=jaccard_mean, jaccard_min=jaccard_min, mean_selected=q,
            error_bound=false_selection_bound(q, keep_frequency, len(channels)))

    @property
    def n_resamples(self) -> int:
        return len(self.resamples)

    def ranked(self) -> list[str]:
        """Every channel best first: by keep frequency, then mean rank, then column order."""
        return stability_order(self.channels, [self.frequency[c] for c in self.channels],
                               [self.mean_rank[c] for c in self.channels])

    def ranking(self, constant_columns: Sequence[str] = ()) -> dict[str, int]:
        """RFE-style ranks: 1 for the stable selection, then the other channels best first
        (:meth:`ranked`), constant columns last."""
        selected = set(self.selected)
        return rfe_ranking(self.channels, selected, [c for c in self.ranked() if c not in selected],
                           constant_columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN measures stay NaN; the report writes them as null)."""
        return asdict(self) | {"n_resamples": self.n_resamples}
