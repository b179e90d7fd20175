"""What people see of a run in Prefect's UI: the round table (a stability selection's keep
frequencies and stability measures instead), every channel's fate, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline.report.markdown import diff_text
from pipeline.report.round_table import markdown_table
from pipeline.report.stability_table import markdown as stability_markdown
from pipeline.result import PruningResult


def publish_artifacts(
    result: PruningResult, report: dict[str, Any], folder: Path, key_prefix: str
) -> None:
    """A markdown round table with the run-to-run diff (for a stability selection: its keep
    frequencies and stability measures, key ``<prefix>-stability``), a table of channels, the
    report path."""
    key = "".join(ch if ch.isalnum() else "-" for ch in key_prefix.lower()).strip("-")
    selected = (f"**Selected ({len(result.selected)}):** {', '.join(result.selected)}\n\n"
                f"**Stop reason:** {result.stop_reason}\n\n"
                f"**Change since the previous run:** {diff_text(report.get('diff'))}\n")
    if report.get("stability"):
        create_markdown_artifact(
            key=f"{key}-stability",
            markdown=(f"## Stability selection: {report['data']['name']}\n\n"
                      f"{stability_markdown(report['stability'])}\n\n{selected}"),
            description="keep frequency of every channel over the resamples, how stable",
        )
    else:
        create_markdown_artifact(
            key=f"{key}-rounds",
            markdown=(f"## Pruning rounds: {report['data']['name']}\n\n"
                      f"{markdown_table(result.rounds)}\n\n{selected}"),
            description="rounds of the pruning loop",
        )
    fates = result.channel_fates().astype(object).where(lambda f: f.notna(), None)
    create_table_artifact(
        key=f"{key}-channels",
        table=fates.to_dict(orient="records"),
        description="every channel: kept, dropped (round, score then) or constant",
    )
    create_markdown_artifact(
        key=f"{key}-report",
        markdown=(
            f"Report folder: `{folder.resolve()}`\n\n"
            f"- [report.html]({(folder / 'report.html').resolve().as_uri()})\n"
            f"- selected features: `{(folder / 'selected_features.json').resolve()}`\n"
        ),
        description="where the report of this run is",
    )
