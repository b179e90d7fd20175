"""report.md: the run summary as Markdown."""

from __future__ import annotations

from typing import Any

from pipeline.report.channel_table import markdown_table as channel_markdown
from pipeline.report.explain import HOW_TO_READ, stop_note
from pipeline.report.round_table import markdown_table
from pipeline.report.stability_table import markdown as stability_markdown


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: Any, digits: int = 3) -> str:
    return "" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def round_table(report: dict[str, Any]) -> str:
    """The round table of a report (see :mod:`pipeline.report.round_table`)."""
    return markdown_table(report["rounds"])


def diff_text(diff: dict[str, Any] | None) -> str:
    """One paragraph on what changed since the previous run on the same data and settings."""
    if not diff:
        return "No earlier run with the same data and settings."
    added = ", ".join(diff["added"]) or "none"
    removed = ", ".join(diff["removed"]) or "none"
    return (f"Compared with `{diff['previous_run']}`: added {added}; removed {removed}; "
            f"{diff['unchanged']} unchanged.")


def render_markdown(report: dict[str, Any]) -> str:
    """report.md text."""
    data, final = report["data"], report["final_model"]
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in final["metrics"].items())
    task = data.get("task", "classification")
    target = {"classification": f"{data.get('n_classes')} classes",
              "regression": "a numeric target (regression)",
              "unsupervised": "no target (unsupervised)"}.get(task, task)
    parts = [
        f"# Feature selection: {data['name']}",
        f"Created {report['created']} · {data['n_rows']} rows · {data['n_features']} channels · "
        f"{target}",
        f"## Selected ({len(report['selected'])})\n\n" + ", ".join(report["selected"]),
        stop_note(report),
    ]
    if report["rounds"]:  # a stability selection has none of its own
        parts.append("## Rounds\n\n" + round_table(report))
    if report.get("stability"):
        parts.append("## Stability selection\n\n" + stability_markdown(report["stability"]))
    parts += [
        "## Change since the previous run\n\n" + diff_text(report.get("diff")),
        f"## Final model\n\n{final['strategy']} on {len(final['channels'])} channels, best epoch "
        f"{final['best_epoch']} of {final['epochs_run']}: {metrics}",
    ]
    if report.get("truth"):
        t = report["truth"]
        parts.append(f"## Against the known truth\n\nrecall {_fmt(t['recall'], 2)}, precision "
                     f"{_fmt(t['precision'], 2)}; missed: {', '.join(t['missed']) or 'none'}; "
                     f"noise kept: {', '.join(t['noise_kept']) or 'none'}")
    parts.append("## Every channel\n\n" + channel_markdown(report["channel_fates"]))
    if report["constant_columns"]:
        parts.append("Constant columns (dropped before the loop): "
                     + ", ".join(report["constant_columns"]))
    parts.append("## How to read this report\n\n"
                 + "\n".join(f"- **{term}**: {text}" for term, text in HOW_TO_READ))
    return "\n\n".join(parts) + "\n"
