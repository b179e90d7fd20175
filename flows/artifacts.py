"""What people see of a run in Prefect's UI: the round table (a stability selection's keep
frequencies and measures instead) with the selection, every channel's fate, the report folder.

Every artifact shows the report's own sentences and tables, as report.json holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline.report.tables import Table
from pipeline.report.writer import diff_text


def publish_artifacts(report: dict[str, Any], folder: Path, key_prefix: str) -> None:
    """Markdown of the rounds (key ``<prefix>-rounds``; a stability selection's keep
    frequencies, ``<prefix>-stability``) with the selection and the change since the previous
    run, a table of every channel (``<prefix>-channels``) and the report's path
    (``<prefix>-report``)."""
    key = "".join(ch if ch.isalnum() else "-" for ch in key_prefix.lower()).strip("-")
    tables = {name: Table.model_validate(table) for name, table in report["tables"].items()}
    name = report["data"]["name"]
    selection = (f"**Selected ({len(report['selected'])}):** {', '.join(report['selected'])}\n\n"
                 f"**Dropped ({len(report['dropped'])}):** {', '.join(report['dropped']) or 'none'}"
                 f"\n\n**Stop reason:** {report['stop_reason']}\n\n"
                 f"**Change since the previous run:** {diff_text(report.get('diff'))}\n")
    if report["data"].get("weight_column"):
        selection += (f"\n**Rows weighted by column:** {report['data']['weight_column']} "
                      "(not a feature)\n")
    notes = "\n".join(f"- {line}" for line in report["notes"])
    if "keep_frequency" in tables:
        create_markdown_artifact(
            key=f"{key}-stability",
            markdown=(f"## Stability selection: {name}\n\n{notes}\n\n"
                      f"{tables['keep_frequency'].render('markdown')}\n\n"
                      f"{tables['resamples'].render('markdown')}\n\n{selection}"),
            description="keep frequency of every channel over the resamples, how stable")
    else:
        create_markdown_artifact(
            key=f"{key}-rounds",
            markdown=(f"## Pruning rounds: {name}\n\n{notes}\n\n"
                      f"{tables['rounds'].render('markdown')}\n\n{selection}"),
            description="rounds of the pruning loop")
    channels = tables["channels"]
    create_table_artifact(
        key=f"{key}-channels",
        table=[dict(zip(channels.columns, row, strict=True)) for row in channels.rows],
        description="every channel: kept, dropped (the round, why, its scores then) or constant")
    create_markdown_artifact(
        key=f"{key}-report",
        markdown=(f"Report folder: `{folder.resolve()}`\n\n"
                  f"- [report.html]({(folder / 'report.html').resolve().as_uri()})\n"
                  f"- selected features: `{(folder / 'selected_features.json').resolve()}`\n"),
        description="where the report of this run is")
