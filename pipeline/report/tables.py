"""The report's tables, built once from the result objects, in words rendered one way everywhere.

:meth:`Table.render` gives Markdown (report.md, the Prefect artifacts), HTML (report.html) or aligned
text (the command line); report.json stores the tables as rendered, so ``vaec-select report RUN``
prints them as they were. Only pydantic and the round records load here (the command line prints
stored tables without torch or pandas); the builders import the rest where they run.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator

from pipeline.rounds.record import (
    BELOW,
    REDUNDANT,
    REJECTED,
    SCORE_LABELS,
    STOP_ACCURACY_GUARD,
    STOP_ALL_PASS,
    STOP_AUTO,
    STOP_MIN_FEATURES,
    STOP_N_FEATURES,
    UNCERTAIN,
    PruningRound,
)

if TYPE_CHECKING:
    from pipeline.result import PruningResult
    from pipeline.stability.result import StabilityResult

MAX_LISTED = 12  # dropped channels a round's row names (the channel table names every one)
IMPORTANCE_UNIT = "nats per row"  # in the tables and the charts: the loss rise, held at the mean
NEGATIVE_R2 = "†"


class Table(BaseModel):
    """A table of words, ready to render: ``rows`` hold one cell per heading of ``columns``,
    ``classes`` one CSS class per row for report.html (``kept``, ``dropped``, ``unconfirmed``...) or
    none, ``notes`` the sentences under the table."""

    model_config = ConfigDict(frozen=True, strict=True)
    columns: list[str]
    rows: list[list[str]]
    classes: list[str] = []
    notes: list[str] = []

    @model_validator(mode="after")
    def _rectangular(self) -> Table:
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError(f"every row needs {len(self.columns)} cells, one per column")
        if self.classes and len(self.classes) != len(self.rows):
            raise ValueError("classes needs one class per row, or none")
        return self

    def render(self, kind: str = "text") -> str:
        """The table as ``markdown``, ``html`` or ``text`` (aligned columns), its notes under it."""
        if kind == "html":
            e = html.escape
            head = "".join(f"<th>{e(c)}</th>" for c in self.columns)
            body = "".join(
                f'<tr class="{e(css)}">' + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                for row, css in zip(self.rows, self.classes or [""] * len(self.rows), strict=True))
            notes = "".join(f'<p class="note">{e(n)}</p>' for n in self.notes)
            return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"
        table = [self.columns, *self.rows]
        if kind == "markdown":
            lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table]
            lines.insert(1, "|" + "---|" * len(self.columns))
        elif kind == "text":
            widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
            lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in table]
        else:
            raise ValueError(f"kind must be markdown, html or text, got {kind!r}")
        return "\n".join(lines + (["", *self.notes] if self.notes else []))


def kept_after(result: PruningResult) -> list[int]:
    """How many channels the loop kept after each round (after the last: the selection)."""
    kept = [len(r.kept) - len(r.dropped) + len(r.look_again) for r in result.rounds]
    return [*kept[:-1], len(result.selected)] if kept else []


def round_table(result: PruningResult) -> Table:
    """One row per round: trained on, dropped (and why), kept, validation scores, seconds, stop."""

    def why(record: PruningRound, channel: str) -> str:
        decision = record.decision.get(channel)
        if record.on_path:  # the minimal subset's elimination: by importance, not a test
            return "least needed"
        if decision in (None, BELOW):  # the reconstruction rule: its R²
            return f"R² {record.score_mean[channel]:.2f}"
        return decision if decision in (REJECTED, UNCERTAIN) else f"{decision}, cut to k"

    rows, first = [], result.rounds[0] if result.rounds else None
    metrics = sorted(first.val_metrics, key=lambda m: m != first.score_name) if first else []
    for record, kept in zip(result.rounds, kept_after(result), strict=True):
        look = f"looks again at {len(record.look_again)}" if record.look_again else ""
        named = [f"{c} ({why(record, c)})" for c in record.dropped[:MAX_LISTED]]
        more = len(record.dropped) - len(named)
        rows.append([str(record.index), str(len(record.kept)),
                     ", ".join(named) + (f" and {more} more" if more else "") or "—", str(kept),
                     *(f"{record.val_metrics[m]:.3f}" for m in metrics), f"{record.seconds:.1f}",
                     record.stop_reason or look])
    return Table(columns=["round", "trained on", "dropped", "kept",
                          *(f"val {SCORE_LABELS.get(m, m)}" for m in metrics), "seconds", "stop"], rows=rows)


def kept_without_passing(result: PruningResult) -> dict[str, str]:
    """Why each selected channel that passed no test (:attr:`PruningResult.unconfirmed`) stayed."""
    reason = {STOP_ACCURACY_GUARD: "the accuracy guard ended the loop before it could go",
              STOP_MIN_FEATURES: "dropping it would go under min_features",
              STOP_N_FEATURES: "n_features_to_select was reached first",
              STOP_AUTO: "the minimal subset needs it"}.get(
        result.stop_reason, "the drop cap spared it" if result.stability is None else
        "under the keep-frequency cut, kept to reach min_features")
    if result.stop_reason == STOP_ALL_PASS and any(r.look_again for r in result.rounds):
        reason = "it passed before the second look, whose rounds keep what passed"
    return {c: "brought back by the accuracy guard" if c in result.restored else reason
            for c in result.unconfirmed}


def to_nats(importance: float) -> float:
    """An importance on the test's scale (its signed square root) back in nats per row."""
    return math.copysign(importance * importance, importance)


def _number(value: float | None, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def _decision(fate: dict[str, Any], unconfirmed: str | None) -> str:
    """The decision in words: its keep frequency, what a redundant channel stands in for, why it stayed."""
    from pipeline.result import STABLE, UNSTABLE

    decision = fate["decision"] or ""
    if decision in (STABLE, UNSTABLE) and fate["evidence"] is not None:
        decision += f" (kept in {100 * fate['evidence']:.0f} % of the resamples)"
    elif decision == REDUNDANT and (fate["stands_in_for"] or fate["partners"]):
        copies = fate["stands_in_for"] or []
        decision += (f" (stands in for {', '.join(copies)})" if copies else
                     f" (relevant together with {', '.join(fate['partners'])})")
    return decision + (f"; kept without passing: {unconfirmed}" if unconfirmed else "")


def channel_table(result: PruningResult) -> Table:
    """Every channel, best rank first: status, the round it left, the decision in words and the scores
    of the last round that scored it (importance in :data:`IMPORTANCE_UNIT`)."""
    from pipeline.result import CONSTANT, CUT, DROPPED, KEPT

    fates = result.channel_fates()
    records = fates.astype(object).where(fates.notna(), None).to_dict("records")
    unconfirmed = kept_without_passing(result)
    cells: dict[str, list[str]] = {
        "rank": [str(f["rank"]) for f in records],
        "channel": [str(f["channel"]) for f in records],
        "status": [f["status"] for f in records],
        "left in round": [_number(f["round_dropped"], "d") for f in records],
        "decision": [_decision(f, unconfirmed.get(f["channel"])) for f in records],
    }
    negative = [f["channel"] for f in records if f["status"] == KEPT and (f["r2_mean"] or 0) < 0]
    if result.stability is None:  # no round scored the whole data of a stability selection
        cells["R²"] = [_number(f["r2_mean"]) + (f" {NEGATIVE_R2}" if f["channel"] in negative else "")
                       for f in records]
        cells["shared R²"] = [_number(f["shared_r2_mean"]) for f in records]
        cells[f"importance ({IMPORTANCE_UNIT})"] = [
            "" if f["importance_mean"] is None else f"{to_nats(f['importance_mean']):.3g}"
            for f in records]
    css = {KEPT: "kept", DROPPED: "dropped", CUT: "cut", CONSTANT: "constant"}
    classes = [css[f["status"]] + (" unconfirmed" if f["channel"] in unconfirmed else "")
               for f in records]
    notes = [f"{NEGATIVE_R2} Kept with a negative R²: the network rebuilds it from its own input "
             "worse than its mean would. It stays for what it tells the head, not for being "
             f"reconstructed ({', '.join(negative)})."] if negative else []
    return Table(columns=list(cells), rows=[list(row) for row in zip(*cells.values(), strict=True)],
                 classes=classes, notes=notes)


def column_table(result: PruningResult) -> Table:
    """Every user column of a raw table, best rank first: its kind, how it became channels, the gaps of
    its training rows, and its fate (its channels are kept or dropped together)."""
    fates = result.column_fates()
    rows = [[str(f["rank"]), str(f["column"]), str(f["kind"]), str(f["encoding"]),
             ", ".join(f["channels"]) if len(f["channels"]) <= MAX_LISTED
             else f"{len(f['channels'])} channels", str(f["missing_rows"]), str(f["status"])]
            for f in fates.to_dict("records")]
    return Table(columns=["rank", "column", "kind", "encoding", "channels", "gaps (training rows)", "status"],
                 rows=rows)


def stability_tables(stability: StabilityResult) -> dict[str, Table]:
    """A stability selection's ``keep_frequency`` table (every channel, most often kept first) and its
    ``resamples``."""
    n, floor, beyond = stability.n_resamples, set(stability.floor), set(stability.beyond_k)
    rows = []
    for rank, channel in enumerate(stability.ranked(), start=1):
        frequency = stability.frequency[channel]
        decision = ("selected (under the cut, for min_features)" if channel in floor
                    else "selected" if channel in stability.selected
                    else "over the cut, beyond n_features_to_select" if channel in beyond
                    else "under the cut")
        rows.append([str(rank), channel, f"{frequency:.2f}", f"{round(frequency * n)} of {n}",
                     f"{stability.mean_rank[channel]:.1f}", decision])
    resamples = [[str(r.index), str(r.seed), str(r.n_train), str(r.n_val), str(len(r.selected)),
                  str(r.n_rounds), r.stop_reason, f"{r.seconds:.1f}"] for r in stability.resamples]
    return {"keep_frequency": Table(columns=["rank", "channel", "keep frequency", "kept in", "mean rank",
                                             "decision"], rows=rows),
            "resamples": Table(columns=["resample", "seed", "train rows", "val rows", "kept", "rounds",
                                        "stop", "seconds"], rows=resamples)}


def score_table(result: PruningResult) -> Table:
    """The final model's scores beside the all-columns models' (round 1) where the run has them."""
    final, first = result.final, result.rounds[0] if result.rounds else None
    assert final is not None
    columns = ["score", f"final model ({len(final.channels)} channels)",
               *([f"all columns (round 1, {len(first.kept)} channels)"] if first else [])]
    rows = []
    for name, value in final.metrics.items():
        part, metric = name.split("_", 1)
        all_columns = [_number(first.val_metrics.get(metric) if part == "val" else None)] if first else []
        rows.append([f"{part} {SCORE_LABELS.get(metric, metric)}", f"{value:.3f}", *all_columns])
    notes = ["All columns: round 1's trials on every channel and the shadows (their mean), on the same "
             "validation rows. The final model's best epoch is chosen on those rows, which flatters its "
             "validation scores: its test rows, never seen, give the fair one."] if first is not None else []
    if result.split.balanced:
        notes.append("The classes are imbalanced or weighted by class: balanced accuracy (the mean of the "
                     "classes' recalls) is the score to read; accuracy and F1 speak mostly of the large "
                     "class.")
    if result.split.weighted:
        notes.append("Every score weighs the rows as the training did (sample_weight times "
                     "class_weight).")
    return Table(columns=columns, rows=rows, notes=notes)


def report_tables(result: PruningResult) -> dict[str, Table]:
    """Every table of a run's report, by name."""
    tables = {"scores": score_table(result), "channels": channel_table(result)}
    encoder = None if result.split is None else result.split.encoder
    if encoder is not None and not encoder.channels_are_columns:  # a raw table was encoded
        tables["columns"] = column_table(result)
    if result.rounds:
        tables["rounds"] = round_table(result)
    if result.stability is not None:
        tables |= stability_tables(result.stability)
    return tables
