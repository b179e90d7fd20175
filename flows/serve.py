"""Scheduled runs: serve the flow on a cron schedule."""

from __future__ import annotations

from flows.parameters import SelectionParameters


def check_cron(expression: str) -> None:
    """Raise a one-line error for a cron expression that does not parse."""
    from croniter import croniter

    from flows.cli import UsageError

    if not croniter.is_valid(expression):
        raise UsageError(f"--cron {expression!r} is not a valid cron expression")


def serve(params: SelectionParameters, *, cron: str, name: str) -> None:
    """Serve ``vaec-feature-selection`` with these parameters until interrupted."""
    from flows.feature_selection import feature_selection

    feature_selection.serve(
        name=name,
        cron=cron,
        parameters={"params": params.model_dump()},
        description="vaec-select feature selection on a schedule",
    )
