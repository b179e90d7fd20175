"""The outcome of a pruning run: rounds, selection, every channel's fate, the final model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.final_model import FinalModel
from pipeline.pruning_config import PruningConfig
from pipeline.rounds import PruningRound
from pipeline.split import SplitData

KEPT, DROPPED, CONSTANT = "kept", "dropped", "constant"


@dataclass
class PruningResult:
    """Everything a pruning run decided.

    Attributes
    ----------
    config : PruningConfig
        The settings used.
    rounds : list of PruningRound
        Every round, in order; the last carries the stop reason.
    selected : list of str
        The kept channels, in the data's column order.
    stop_reason : str
        Why the loop stopped.
    ranking : dict of str to int
        RFE-style rank: 1 for kept channels, larger for channels dropped earlier; constant
        columns rank last.
    constant_columns : list of str
        Columns dropped before the loop for having no variance.
    split : SplitData
        The scaled data the run trained on.
    final : FinalModel or None
        The model trained on ``selected`` (``None`` when it was not asked for).
    """

    config: PruningConfig
    rounds: list[PruningRound]
    selected: list[str]
    stop_reason: str
    ranking: dict[str, int]
    constant_columns: list[str]
    split: SplitData
    final: FinalModel | None

    @classmethod
    def build(
        cls,
        split: SplitData,
        config: PruningConfig,
        rounds: Sequence[PruningRound],
        kept: Sequence[str],
        final: FinalModel | None,
        constant_columns: Sequence[str] = (),
    ) -> PruningResult:
        """Assemble the result and derive the ranking from the rounds."""
        if not rounds or rounds[-1].stop_reason is None:
            raise ValueError("the pruning loop has not stopped yet")
        kept_set = set(kept)
        selected = [c for c in split.feature_names if c in kept_set]
        return cls(
            config=config,
            rounds=list(rounds),
            selected=selected,
            stop_reason=rounds[-1].stop_reason,
            ranking=ranking_from_rounds(split.feature_names, rounds, kept, constant_columns),
            constant_columns=list(constant_columns),
            split=split,
            final=final,
        )

    @property
    def dropped(self) -> list[str]:
        """Channels dropped by the loop, in the order they left (worst first within a round)."""
        kept = set(self.selected)
        return [c for r in self.rounds for c in r.dropped if c not in kept]

    def channel_fates(self) -> pd.DataFrame:
        """One row per channel: status, the round it left, its score then, its rank."""
        rows: list[dict[str, Any]] = []
        left_in = {c: r for r in self.rounds for c in r.dropped if c not in set(self.selected)}
        for channel, rank in self.ranking.items():
            if channel in self.constant_columns:
                rows.append({"channel": channel, "status": CONSTANT, "round_dropped": None,
                             "score_mean": None, "score_std": None, "rank": rank})
                continue
            record = left_in.get(channel)
            if record is None:
                # kept: its score in the last round that trained on it
                record_for_score = next(r for r in reversed(self.rounds) if channel in r.kept)
                status, round_dropped = KEPT, None
            else:
                record_for_score, status, round_dropped = record, DROPPED, record.index
            rows.append({
                "channel": channel,
                "status": status,
                "round_dropped": round_dropped,
                "score_mean": record_for_score.score_mean[channel],
                "score_std": record_for_score.score_std[channel],
                "rank": rank,
            })
        frame = pd.DataFrame(rows)
        frame["round_dropped"] = frame["round_dropped"].astype("Int64")
        return frame.sort_values(["rank", "channel"], kind="stable").reset_index(drop=True)


def ranking_from_rounds(
    feature_names: Sequence[str],
    rounds: Sequence[PruningRound],
    kept: Sequence[str],
    constant_columns: Sequence[str] = (),
) -> dict[str, int]:
    """RFE-style ranks: kept 1; dropped in the last dropping round 2, the round before 3, ...

    Channels brought back by the accuracy guard count as kept. Constant columns come last.
    """
    kept_set = set(kept)
    dropped_in = {c: r.index for r in rounds for c in r.dropped if c not in kept_set}
    drop_rounds = sorted(set(dropped_in.values()), reverse=True)
    rank_of_round = {index: 2 + position for position, index in enumerate(drop_rounds)}
    ranking = {c: (1 if c in kept_set else rank_of_round[dropped_in[c]]) for c in feature_names}
    worst = max(ranking.values(), default=1) + 1
    ranking.update({c: worst for c in constant_columns})
    return ranking
