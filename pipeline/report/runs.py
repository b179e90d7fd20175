"""Run folders under reports/: finding them, reading them, comparing their selections."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.pruning_config import PruningConfig

SCHEMA_VERSION = 1
REPORT_FILE = "report.json"


@dataclass
class RunInfo:
    """One finished run as listed from its report.json."""

    folder: Path
    name: str
    created: str
    dataset: str
    n_selected: int
    stop_reason: str
    fingerprint: str | None


def run_fingerprint(data_summary: dict[str, Any], config: PruningConfig) -> str:
    """Stable hash of the data (name, source, shape, columns, classes) and the pruning config."""
    keys = ("name", "source", "target", "n_rows", "feature_names", "class_counts",
            "constant_columns")
    payload = {
        "data": {k: data_summary.get(k) for k in keys},
        "config": config.to_dict(),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_report(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed report.json of a run folder (its schema version checked)."""
    path = Path(folder) / REPORT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {REPORT_FILE} in {folder}")
    report = json.loads(path.read_text(encoding="utf-8"))
    if report.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: schema_version {report.get('schema_version')!r} is not {SCHEMA_VERSION}"
        )
    return report


def list_runs(reports_dir: str | os.PathLike[str]) -> list[RunInfo]:
    """Finished runs under ``reports_dir``, newest first; folders without a report are skipped."""
    runs = []
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        try:
            report = read_report(folder)
        except (OSError, ValueError):
            continue
        runs.append(RunInfo(
            folder=folder,
            name=folder.name,
            created=report["created"],
            dataset=report["data"]["name"],
            n_selected=len(report["selected"]),
            stop_reason=report["stop_reason"],
            fingerprint=report.get("fingerprint"),
        ))
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)


def find_previous_run(
    reports_dir: str | os.PathLike[str], fingerprint: str, *, before: str | None = None
) -> Path | None:
    """The newest run with this fingerprint (created before ``before`` when given)."""
    for run in list_runs(reports_dir):
        if run.fingerprint == fingerprint and (before is None or run.created < before):
            return run.folder
    return None


def selection_diff(
    previous_selected: list[str], current_selected: list[str], previous_run: str | None = None
) -> dict[str, Any]:
    """Channels added and removed since the previous run's selection."""
    before, now = set(previous_selected), set(current_selected)
    return {
        "previous_run": previous_run,
        "added": [c for c in current_selected if c not in before],
        "removed": [c for c in previous_selected if c not in now],
        "unchanged": len(before & now),
    }
