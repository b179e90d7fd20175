"""The round table: one row per pruning round, in one wording for every place that shows it.

Markdown (report.md, the Prefect artifact, ``vaec-select report RUN``), HTML (report.html) and the
terminal's progress lines all render these rows, so a round is described the same way
everywhere: "trained on N, dropped k -> M kept".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.report.explain import restorable_names

MAX_NAMED_DROPS = 6
GUARD = "accuracy_guard"
# how the validation scores are named for people
SCORE_LABELS = {"accuracy": "acc", "f1": "F1", "r2": "R²", "mae": "MAE",
                "reconstruction_r2": "reconstruction R²", "reconstruction_mae": "reconstruction MAE"}
DEFAULT_METRICS = ("accuracy", "f1")


def columns(rounds: Sequence[Any] = ()) -> tuple[str, ...]:
    """The table's column headings (the validation scores of the rounds' task)."""
    metrics = round_rows(rounds)[0].metric_names if rounds else DEFAULT_METRICS
    return ("round", "trained on", "dropped", "kept",
            *(f"val {SCORE_LABELS.get(m, m)}" for m in metrics), "seconds", "stop")


@dataclass(frozen=True)
class RoundRow:
    """What one round did, ready to render.

    Attributes
    ----------
    index : int
        Round number, from 1.
    trained_on : int
        Channels the round's trials were trained on.
    dropped : tuple of (str, str)
        Channels the round dropped, each with why: ``rejected`` or ``uncertain`` (the
        relevance rule), or its R² (the reconstruction rule).
    kept : int
        Channels left after the round (after an accuracy-guard stop: the previous round's).
    val_metrics : tuple of (str, float)
        The task's validation scores, mean over trials (the guard's first).
    seconds : float
        Wall-clock seconds.
    stop_reason : str or None
        Set on the last round.
    """

    index: int
    trained_on: int
    dropped: tuple[tuple[str, str], ...]
    kept: int
    val_metrics: tuple[tuple[str, float], ...]
    seconds: float
    stop_reason: str | None

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Names of the validation scores, in table order."""
        return tuple(name for name, _ in self.val_metrics)

    def dropped_text(self, limit: int | None = None, scores: bool = True) -> str:
        """``a (rejected), b (uncertain)`` (at most ``limit`` names, then ``and N more``), or
        ``—``."""
        if not self.dropped:
            return "—"
        shown = self.dropped if limit is None else self.dropped[:limit]
        text = ", ".join(f"{c} ({why})" if scores else c for c, why in shown)
        more = len(self.dropped) - len(shown)
        return text + (f" and {more} more" if more else "")

    def summary(self) -> str:
        """One line: ``round 2: trained on 30, dropped 4 (a, b, c, d) → 26 kept, val acc ...``."""
        if self.stop_reason == GUARD:
            what = (f"the validation rows predicted worse than in the best round → the last "
                    f"round's uncertain drops come back, {self.kept} kept")
        else:
            drops = f" ({self.dropped_text(MAX_NAMED_DROPS, scores=False)})" if self.dropped else ""
            what = f"dropped {len(self.dropped)}{drops} → {self.kept} kept"
        name, value = self.val_metrics[0]
        line = (f"round {self.index}: trained on {self.trained_on}, {what}, "
                f"val {SCORE_LABELS.get(name, name)} {value:.3f}, {self.seconds:.1f} s")
        return line + (f", stop: {self.stop_reason}" if self.stop_reason else "")

    def cells(self, limit: int | None = None) -> list[str]:
        """The table cells in :func:`columns` order (at most ``limit`` dropped names)."""
        return [str(self.index), str(self.trained_on), self.dropped_text(limit), str(self.kept),
                *(f"{value:.3f}" for _, value in self.val_metrics), f"{self.seconds:.1f}",
                self.stop_reason or ""]


def round_rows(rounds: Sequence[Any]) -> list[RoundRow]:
    """Rows of the rounds in order; ``rounds`` are :class:`~pipeline.rounds.fate.PruningRound`
    records or their dictionaries (as in report.json)."""
    records = [r if isinstance(r, dict) else r.to_dict() for r in rounds]
    rows = []
    for position, r in enumerate(records):
        if r["stop_reason"] == GUARD and position > 0:
            kept = len(r["kept"]) + len(restorable_names(records[position - 1]))
        else:
            kept = len(r["kept"]) - len(r["dropped"])
        rows.append(RoundRow(
            index=r["index"], trained_on=len(r["kept"]),
            dropped=tuple((c, _why(r, c)) for c in r["dropped"]),
            kept=kept, val_metrics=_ordered_metrics(r["val_metrics"]),
            seconds=r["seconds"], stop_reason=r["stop_reason"],
        ))
    return rows


def _why(record: dict[str, Any], channel: str) -> str:
    decision = record.get("decision", {}).get(channel)
    if decision in ("rejected", "uncertain"):
        return decision
    if decision in (None, "below threshold"):  # the reconstruction rule: its R²
        return f"R² {record['score_mean'][channel]:.2f}"
    return decision  # passing channels cut to reach n_features_to_select


def _ordered_metrics(metrics: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """The guard's score first (F1, R², reconstruction R²), then the other."""
    first = next((n for n in ("f1", "r2", "reconstruction_r2") if n in metrics), None)
    order = ([first] if first else []) + [n for n in metrics if n != first]
    return tuple((n, float(metrics[n])) for n in order)


def markdown_table(rounds: Sequence[Any]) -> str:
    """The round table as Markdown."""
    heads = columns(rounds)
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in round_rows(rounds)]
    return "\n".join(lines)
