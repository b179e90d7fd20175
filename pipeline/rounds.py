"""One pruning round as a record, and the rule that decides what a round drops."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.pruning_config import PruningConfig
from pipeline.trials import TrialScores

STOP_ALL_PASS = "all_pass"
STOP_MIN_FEATURES = "min_features"
STOP_N_FEATURES = "n_features_to_select"
STOP_ACCURACY_GUARD = "accuracy_guard"
STOP_REASONS = (STOP_ALL_PASS, STOP_MIN_FEATURES, STOP_N_FEATURES, STOP_ACCURACY_GUARD)


@dataclass
class PruningRound:
    """What one round saw and decided.

    Attributes
    ----------
    index : int
        Round number, from 1.
    kept : list of str
        Channels the round's trials were trained on.
    score_mean, score_std : dict of str to float
        Validation reconstruction R^2 per channel: mean and standard deviation over trials.
    dropped : list of str
        Channels this round removed, worst first.
    val_accuracy, val_f1 : float
        Validation accuracy and F1 (sampling off, best epoch), mean over trials.
    val_f1_std : float
        Standard deviation of the validation F1 over trials.
    seconds : float
        Wall-clock seconds of the round.
    stop_reason : str or None
        Set on the last round: one of :data:`STOP_REASONS`.
    """

    index: int
    kept: list[str]
    score_mean: dict[str, float]
    score_std: dict[str, float]
    dropped: list[str]
    val_accuracy: float
    val_f1: float
    val_f1_std: float
    seconds: float
    stop_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruningRound:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def decide_round(
    index: int,
    scores: TrialScores,
    config: PruningConfig,
    best_previous_f1: float | None,
) -> PruningRound:
    """Turn a round's trial scores into its record: what to drop, or why to stop.

    The rule, in order: the accuracy guard (validation F1 more than ``accuracy_tolerance`` below
    the best earlier round); the RFE-style target ``n_features_to_select`` (drop the
    worst-scored channels, passing or not); otherwise the channels below ``threshold`` are the
    candidates (none: all pass). At most ``max_drop_fraction`` of the kept channels go (at least
    one), never below ``min_features``.
    """
    channels = scores.channels
    mean = scores.r2.mean(axis=0)
    std = scores.r2.std(axis=0)
    val_f1 = float(scores.val_f1.mean())
    record = PruningRound(
        index=index,
        kept=list(channels),
        score_mean={c: float(m) for c, m in zip(channels, mean, strict=True)},
        score_std={c: float(s) for c, s in zip(channels, std, strict=True)},
        dropped=[],
        val_accuracy=float(scores.val_accuracy.mean()),
        val_f1=val_f1,
        val_f1_std=float(scores.val_f1.std()),
        seconds=scores.seconds,
    )
    guard = config.accuracy_tolerance
    if guard is not None and best_previous_f1 is not None and val_f1 < best_previous_f1 - guard:
        record.stop_reason = STOP_ACCURACY_GUARD
        return record

    # worst first; ties by name so the order never depends on the column order
    order = sorted(range(len(channels)), key=lambda i: (mean[i], channels[i]))
    n_kept = len(channels)
    target = config.n_features_to_select
    if target is not None:
        if n_kept <= target:
            record.stop_reason = STOP_N_FEATURES
            return record
        candidates = order
        floor = max(target, config.min_features)
    else:
        candidates = [i for i in order if mean[i] < config.threshold]
        floor = config.min_features
        if not candidates:
            record.stop_reason = STOP_ALL_PASS
            return record
    n_drop = min(len(candidates), max(1, math.floor(config.max_drop_fraction * n_kept)))
    n_drop = min(n_drop, n_kept - floor)
    if n_drop <= 0:
        record.stop_reason = STOP_N_FEATURES if target is not None and floor == target else (
            STOP_MIN_FEATURES
        )
        return record
    record.dropped = [channels[i] for i in candidates[:n_drop]]
    return record
