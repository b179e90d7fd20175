"""Run folders under reports/: finding them, reading them, comparing their selections.

Whatever else lies under reports/ (a half-copied folder, a hand-edited or truncated
report.json, a report of another schema) must not break the next run or the run listing: a
folder whose report.json cannot be read is skipped with one :class:`SkippedRunWarning` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.report.round_table import round_rows
from pipeline.settings import SelectionSettings

SCHEMA_VERSION = 1
REPORT_FILE = "report.json"
# fields every reader of a report relies on, with their JSON types
_REQUIRED = {"created": str, "data": dict, "rounds": list, "selected": list, "stop_reason": str}


class ReportError(ValueError):
    """A report.json that is not a readable report of this schema; the message names the file."""


class SkippedRunWarning(UserWarning):
    """A folder under the reports folder was skipped: its report.json cannot be read."""


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


def run_fingerprint(data_summary: dict[str, Any], config: SelectionSettings) -> str:
    """Stable hash of the data's description (name, source, shape, columns, classes) and the
    pruning config: what makes two runs the same job, so a run is compared with the previous
    one even when the values of the data have changed (see :func:`resume_key` for the key that
    also covers the values)."""
    keys = ("name", "source", "target", "n_rows", "feature_names", "class_counts",
            "constant_columns")
    payload = {
        "data": {k: data_summary.get(k) for k in keys},
        "config": config.model_dump(mode="json"),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def resume_key(data_summary: dict[str, Any], config: SelectionSettings) -> str:
    """:func:`run_fingerprint` joined with the hash of the data's values
    (``data_summary["content_hash"]``): finished rounds are reused only on the very same data."""
    content = data_summary.get("content_hash")
    if not content:
        raise ValueError("the data summary has no content_hash")
    text = f"{run_fingerprint(data_summary, config)}:{content}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _check_report(report: Any, path: Path) -> dict[str, Any]:
    if not isinstance(report, dict):
        raise ReportError(f"{path}: expected a JSON object, got a JSON {type(report).__name__}")
    if report.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: schema_version {report.get('schema_version')!r} is not {SCHEMA_VERSION}"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(report.get(key), kind):
            raise ReportError(f"{path}: {key!r} is missing or not a JSON {kind.__name__}")
    if not isinstance(report["data"].get("name"), str):
        raise ReportError(f"{path}: 'data' has no 'name'")
    if not all(isinstance(c, str) for c in report["selected"]):
        raise ReportError(f"{path}: 'selected' holds something other than column names")
    if not isinstance(report.get("fingerprint"), (str, type(None))):
        raise ReportError(f"{path}: 'fingerprint' is not a string")
    try:
        round_rows(report["rounds"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ReportError(f"{path}: a round is malformed ({type(err).__name__}: {err})") from err
    return report


def read_report(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed report.json of a run folder, checked to be a report of this schema.

    Raises
    ------
    FileNotFoundError
        When the folder has no report.json.
    ReportError
        When report.json cannot be read, is not JSON, has another schema version or lacks a
        field the readers rely on (one line naming the file).
    """
    path = Path(folder) / REPORT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {REPORT_FILE} in {folder}")
    try:
        text = path.read_text(encoding="utf-8")
        report = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: cannot be read as JSON ({err})") from err
    return _check_report(report, path)


def list_runs(reports_dir: str | os.PathLike[str]) -> list[RunInfo]:
    """Finished runs under ``reports_dir``, newest first.

    Folders without a report.json are not runs (the demo's folder, a run still writing) and
    are left out quietly; a folder whose report.json cannot be read is left out with a
    :class:`SkippedRunWarning` naming it.
    """
    runs = []
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            report = read_report(folder)
        except FileNotFoundError:
            continue
        except (OSError, ReportError) as err:
            warnings.warn(f"skipping {err}", SkippedRunWarning, stacklevel=2)
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
    """The newest readable run with this fingerprint (created before ``before`` when given)."""
    for run in list_runs(reports_dir):
        if run.fingerprint == fingerprint and (before is None or run.created < before):
            return run.folder
    return None


def previous_selection(
    reports_dir: str | os.PathLike[str], fingerprint: str
) -> tuple[str, list[str]] | None:
    """The name and selection of the newest readable run with this fingerprint, or ``None``.

    Never raises for what lies under ``reports_dir``: unreadable folders are skipped with a
    :class:`SkippedRunWarning`, so a new run cannot fail on an old one.
    """
    folder = find_previous_run(reports_dir, fingerprint)
    if folder is None:
        return None
    try:
        return folder.name, read_report(folder)["selected"]
    except (OSError, ReportError) as err:  # changed since it was listed
        warnings.warn(f"skipping {err}", SkippedRunWarning, stacklevel=2)
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
