"""The report of a pruning run: one folder per run under reports/."""

from pipeline.report.runs import (
    SCHEMA_VERSION,
    RunInfo,
    find_previous_run,
    list_runs,
    read_report,
    run_fingerprint,
    selection_diff,
)
from pipeline.report.writer import write_report

__all__ = [
    "SCHEMA_VERSION",
    "RunInfo",
    "find_previous_run",
    "list_runs",
    "read_report",
    "run_fingerprint",
    "selection_diff",
    "write_report",
]
