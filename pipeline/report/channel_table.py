"""The table of every channel's fate, in one wording for report.md, report.html and the CLI.

Rows are the ``channel_fates`` of a report, best rank first: kept channels, then those cut to
``n_features_to_select``, then the dropped ones from the last round to the first, then the
constant columns.
"""

from __future__ import annotations

from typing import Any

COLUMNS = ("rank", "channel", "status", "left in round", "decision", "R²", "shared R²",
           "importance (√nats)")


def _number(value: Any, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _decision(fate: dict[str, Any]) -> str:
    """The decision; a stability selection's with the keep frequency it rests on; a redundant
    channel's with the relevant channels it stands in for (or its partners)."""
    decision = fate.get("decision") or ""
    if decision in ("stable", "unstable") and fate.get("evidence") is not None:
        decision += f" (kept in {100 * fate['evidence']:.0f} % of the resamples)"
    if decision == "redundant":
        copies = list(fate.get("stands_in_for") or [])
        partners = list(fate.get("partners") or [])
        if copies:
            decision += f" (stands in for {', '.join(copies)})"
        elif partners:
            decision += f" (relevant together with {', '.join(partners)})"
    return decision


def channel_cells(fate: dict[str, Any]) -> list[str]:
    """The cells of one channel in :data:`COLUMNS` order."""
    return [
        str(fate["rank"]), str(fate["channel"]), str(fate["status"]),
        "" if fate.get("round_dropped") is None else str(fate["round_dropped"]),
        _decision(fate), _number(fate.get("r2_mean")),
        _number(fate.get("shared_r2_mean")), _number(fate.get("importance_mean"), 4),
    ]


def markdown_table(fates: list[dict[str, Any]]) -> str:
    """The channel table as Markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(channel_cells(f)) + " |" for f in fates]
    return "\n".join(lines)
