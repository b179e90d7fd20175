"""The outcome of a pruning run: rounds, selection, every channel's fate, the final model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.data.split import SplitData
from pipeline.final_model import FinalModel
from pipeline.rounds.record import PASSING, PruningRound, count_curve
from pipeline.settings import SelectionSettings
from pipeline.stability.measures import reaches_cut
from pipeline.stability.result import STOP_STABILITY, StabilityResult, rfe_ranking

KEPT, DROPPED, CUT, CONSTANT = "kept", "dropped", "cut to k", "constant"
STABLE, UNSTABLE = "stable", "unstable"  # a stability run's decisions: at or over the cut, or under
# a round's scores of a channel in the frames: the column, and the record's field it reads
SCORE_COLUMNS = (("r2_mean", "score_mean"), ("r2_std", "score_std"), ("shared_r2_mean", "shared_mean"),
                 ("shared_r2_std", "shared_std"), ("t_shared", "t_shared"),
                 ("importance_mean", "importance_mean"), ("importance_std", "importance_std"),
                 ("t_importance", "t_importance"), ("evidence", "evidence"))


@dataclass
class PruningResult:
    """Everything a pruning run decided.

    Attributes
    ----------
    config, split : SelectionSettings, SplitData
        The settings used, and the scaled data the run trained on.
    rounds, stop_reason : list of PruningRound, str
        Every round, in order (empty for a stability selection: its resamples ran their own
        rounds, summarised in ``stability``), and why the loop stopped, carried by the last
        (``stability`` for a stability selection).
    selected, constant_columns : list of str
        The kept channels, in the data's column order, and the columns dropped before the loop
        for having no variance.
    ranking : dict of str to int
        RFE-style rank: 1 for kept channels; then the channels of the last cut to
        ``n_features_to_select``, then those dropped in the last round, ..., the first round,
        each group best first (by the evidence of the round they left); constant columns last.
        For a stability selection: 1 for the stable selection, then the other channels by keep
        frequency (ties: dropped later on average over the resamples); constant columns last.
    final : FinalModel or None
        The model trained on ``selected`` (``None`` when it was not asked for).
    cut, restored : list of str
        Channels removed by the last cut to ``n_features_to_select`` after an accuracy-guard
        stop, best first (in a stability selection: at or over the keep-frequency cut, left
        out to keep ``n_features_to_select``); channels the accuracy guard brought back
        (dropped by the round before its stop).
    stability : StabilityResult or None
        The resamples, keep frequencies and stability measures of a stability selection
        (``n_resamples`` of 2 or more); ``None`` for the plain selection.
    """

    config: SelectionSettings
    rounds: list[PruningRound]
    selected: list[str]
    stop_reason: str
    ranking: dict[str, int]
    constant_columns: list[str]
    split: SplitData
    final: FinalModel | None
    cut: list[str] = field(default_factory=list)
    stability: StabilityResult | None = None
    restored: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, split: SplitData, config: SelectionSettings, rounds: Sequence[PruningRound],
              kept: Sequence[str], final: FinalModel | None, constant_columns: Sequence[str] = (),
              cut: Sequence[str] = (), restored: Sequence[str] = ()) -> PruningResult:
        """Assemble the result and derive the ranking from the rounds."""
        kept_set = set(kept)
        return cls(config=config, rounds=list(rounds), stop_reason=rounds[-1].stop_reason,
                   selected=[c for c in split.feature_names if c in kept_set],
                   ranking=ranking_from_rounds(split.feature_names, rounds, kept, constant_columns, cut),
                   constant_columns=list(constant_columns), split=split, final=final, cut=list(cut),
                   restored=list(restored))

    @classmethod
    def from_stability(cls, split: SplitData, config: SelectionSettings, stability: StabilityResult,
                       final: FinalModel | None, constant_columns: Sequence[str] = ()) -> PruningResult:
        """The result of a stability selection: no rounds of its own, the stable selection, ranked
        by keep frequency."""
        return cls(config=config, rounds=[], selected=list(stability.selected), stop_reason=STOP_STABILITY,
                   ranking=stability.ranking(constant_columns), constant_columns=list(constant_columns),
                   split=split, final=final, cut=list(stability.beyond_k), stability=stability)

    @property
    def dropped(self) -> list[str]:
        """Channels dropped by the loop, in the order they left (worst first within a round),
        then those of the last cut. In a stability selection: the channels under the cut,
        most frequent first, then those cut to ``n_features_to_select``."""
        kept = set(self.selected) | set(self.cut)
        if self.stability is not None:
            return [c for c in self.stability.ranked() if c not in kept] + list(self.cut)
        return [c for r in self.rounds for c in r.dropped if c not in kept] + list(self.cut)

    @property
    def unconfirmed(self) -> list[str]:
        """Selected channels that passed no test in the last round that scored them: the drop
        cap, a floor, ``n_features_to_select`` or the accuracy guard kept them, not their
        evidence. In a stability selection: those under the cut kept for ``min_features``."""
        if self.stability is not None:
            return [c for c in self.selected if c in set(self.stability.floor)]
        # past the all-relevant set (the minimal subset's path) no round tests the channels
        first_on_path = next((i for i, r in enumerate(self.rounds) if r.on_path), None)
        tested = self.rounds if first_on_path is None else self.rounds[: first_on_path + 1]
        last = {c: record for record in tested for c in record.kept}
        return [c for c in self.selected if last[c].decision.get(c) not in PASSING]

    def column_of(self, channel: str) -> str:
        """The user's column a channel comes from."""
        return channel if self.split is None else self.split.column_of(channel)

    @property
    def columns(self) -> list[str]:
        """The user's feature columns the run trained on, in the table's order."""
        encoder = None if self.split is None else self.split.encoder
        if encoder is not None:
            return list(encoder.encodings_)
        return list(dict.fromkeys(self.column_of(c) for c in self.ranking
                                  if c not in set(self.constant_columns)))

    @property
    def selected_columns(self) -> list[str]:
        """The user's columns whose channels were kept (all or none of a column's go), in the
        table's order."""
        kept = {self.column_of(c) for c in self.selected}
        return [c for c in self.columns if c in kept]

    @property
    def dropped_columns(self) -> list[str]:
        """The user's columns none of whose channels was kept, in the order they left."""
        kept = set(self.selected_columns)
        return list(dict.fromkeys(c for c in map(self.column_of, self.dropped) if c not in kept))

    def column_ranking(self) -> dict[str, int]:
        """:attr:`ranking` of the user's columns: a column ranks as its best channel, and the
        ranks are made consecutive again (1 for the selected columns); constant columns last."""
        best: dict[str, int] = {}
        for channel, rank in self.ranking.items():
            column = self.column_of(channel)
            best[column] = min(best.get(column, rank), rank)
        dense = {rank: i for i, rank in enumerate(sorted(set(best.values())), start=1)}
        return {c: dense[r] for c, r in best.items()}

    def column_fates(self) -> pd.DataFrame:
        """:meth:`channel_fates` of the user's columns, best rank first: a column's row is its
        best channel's, with the column's ``kind``, ``encoding``, its ``channels`` and the
        ``missing_rows`` of its training rows."""
        fates = self.channel_fates()
        fates.insert(0, "column", [self.column_of(c) for c in fates["channel"]])
        fates = fates.drop_duplicates("column", keep="first").reset_index(drop=True)
        encoder = None if self.split is None else self.split.encoder
        encodings = {} if encoder is None else encoder.encodings_
        ranks = self.column_ranking()

        def of(column: str, name: str, default: Any = None) -> Any:
            encoding = encodings.get(column)
            return default if encoding is None else getattr(encoding, name)

        fates["rank"] = [ranks[c] for c in fates["column"]]
        fates["kind"] = [of(c, "kind", "numeric") for c in fates["column"]]
        fates["encoding"] = [of(c, "encoding", "as is") for c in fates["column"]]
        fates["channels"] = [of(c, "channels", [c]) for c in fates["column"]]
        fates["missing_rows"] = [of(c, "missing_rows", 0) for c in fates["column"]]
        return fates.drop(columns=["channel"])

    @property
    def selected_round(self) -> PruningRound | None:
        """The last round that trained on exactly the selected channels (``None`` when none
        did: the guard brought channels back, a last cut made the count, or a stability
        selection, which has no rounds of its own)."""
        selected = set(self.selected)
        return next((r for r in reversed(self.rounds) if set(r.kept) == selected), None)

    def count_frame(self) -> pd.DataFrame:
        """The score by count, ``cv_results_``-style: one row per round that scored rows (all
        columns first), with ``n_features``, ``mean_test_loss`` and its ``std_error`` over the
        rows, ``mean_test_score`` (F1 or R²), ``on_path`` (past the all-relevant set, with
        ``n_features_to_select="auto"``) and ``selected`` (the round whose channels were kept)."""
        chosen = self.selected_round
        columns = ["round", "n_features", "mean_test_loss", "std_error", "mean_test_score", "on_path",
                   "selected"]
        rows = [(p.round, p.n_features, p.mean_loss, p.std_error, p.score, p.on_path,
                 chosen is not None and p.round == chosen.index) for p in count_curve(self.rounds)]
        return pd.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], columns=columns)

    def rounds_frame(self) -> pd.DataFrame:
        """One row per channel per round: its scores (mean and standard deviation over the
        trials), their t against the shadows, the shadows' level and the passing bar, its
        cluster's partners and importance (with its t against the shadow clusters), the evidence
        that ranks it, its decision and whether the round dropped it."""
        rows: list[dict[str, Any]] = []
        for record in self.rounds:
            shadows = {f"shadow_{score}_{k}": record.shadow.get(score, {}).get(k)
                       for score in ("shared_r2", "importance") for k in ("mean", "std")}
            for channel in record.kept:
                rows.append({
                    "round": record.index, "channel": channel, "decision": record.decision.get(channel),
                    "dropped": channel in record.dropped,
                    **{column: getattr(record, name).get(channel) for column, name in SCORE_COLUMNS},
                    "partners": record.partners(channel),
                    "cluster_importance_mean": record.cluster_importance_mean.get(channel),
                    "t_cluster": record.t_cluster.get(channel), **shadows,
                    "pass_t": record.shadow.get("importance", {}).get("pass_t")})
        return pd.DataFrame(rows)

    def channel_fates(self) -> pd.DataFrame:
        """One row per channel, best rank first: status, the round it left, the decision and the
        scores of the last round that scored it, the partners of its cluster then (and, for a
        redundant channel, those of them relevant alone: what it stands in for), its rank.

        In a stability selection no round scored the whole data: the decision is ``stable``
        (kept in at least ``keep_frequency`` of the resamples) or ``unstable``, the evidence is
        the keep frequency, and the scores are empty.
        """
        if self.stability is not None:
            return self._stability_fates()
        rows: list[dict[str, Any]] = []
        kept = set(self.selected) | set(self.cut)
        left_in = {c: r for r in self.rounds for c in r.dropped if c not in kept}
        for channel, rank in self.ranking.items():
            row: dict[str, Any] = {"channel": channel, "rank": rank, "round_dropped": None}
            if channel in self.constant_columns:
                rows.append({**row, "status": CONSTANT})
                continue
            record = left_in.get(channel)
            if record is None:
                # kept or cut: its scores in the last round that trained on it
                record = next(r for r in reversed(self.rounds) if channel in r.kept)
                row["status"] = CUT if channel in self.cut else KEPT
            else:
                row.update(status=DROPPED, round_dropped=record.index)
            # the scores _fates_frame has columns for (it leaves out the others)
            row.update({column: getattr(record, name).get(channel) for column, name in SCORE_COLUMNS},
                       decision=record.decision.get(channel), partners=record.partners(channel),
                       stands_in_for=record.stands_in_for(channel))
            rows.append(row)
        return _fates_frame(rows)

    def _stability_fates(self) -> pd.DataFrame:
        stability, rows = self.stability, []
        assert stability is not None
        for channel, rank in self.ranking.items():
            if channel in self.constant_columns:
                rows.append({"channel": channel, "rank": rank, "status": CONSTANT})
                continue
            frequency = stability.frequency[channel]
            status = KEPT if channel in self.selected else CUT if channel in self.cut else DROPPED
            decision = STABLE if reaches_cut(frequency, stability.keep_frequency) else UNSTABLE
            rows.append({"channel": channel, "rank": rank, "status": status, "decision": decision,
                         "evidence": frequency})
        return _fates_frame(rows)


def _fates_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[
        "channel", "status", "round_dropped", "decision", "r2_mean", "r2_std",
        "importance_mean", "importance_std", "shared_r2_mean", "evidence", "partners",
        "stands_in_for", "rank"])
    frame["round_dropped"] = frame["round_dropped"].astype("Int64")
    return frame.sort_values(["rank", "channel"], kind="stable").reset_index(drop=True)


def ranking_from_rounds(feature_names: Sequence[str], rounds: Sequence[PruningRound], kept: Sequence[str],
                        constant_columns: Sequence[str] = (), cut: Sequence[str] = ()) -> dict[str, int]:
    """RFE-style ranks: kept 1; then the last cut, then each round's drops from the last round to
    the first, each group best first by the evidence of its round; constant columns last.

    Channels brought back by the accuracy guard count as kept.
    """
    kept_set = set(kept)
    order: list[str] = list(cut)
    placed = kept_set | set(cut)
    for record in reversed(rounds):
        # a channel the guard brought back left again in the cut, not in that round; a channel the
        # second look tried again ranks by the last round that dropped it
        dropped = [c for c in record.dropped if c not in placed]
        score = record.evidence or record.score_mean
        order += sorted(dropped, key=lambda c: (-score[c], c))
        placed.update(dropped)
    return rfe_ranking(feature_names, kept_set, order, constant_columns)
