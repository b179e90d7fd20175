"""Scheduled runs: serve the feature-selection flow on a cron schedule."""

from __future__ import annotations

from pathlib import Path

from flows.parameters import RunParameters

DEFAULT_DEPLOYMENT = "scheduled"


def check_cron(expression: str) -> str:
    """Return ``expression`` if Prefect accepts it as a cron schedule.

    Parameters
    ----------
    expression : str
        Five-field cron text such as ``"0 3 * * *"`` (or an alias such as ``"@daily"``).

    Raises
    ------
    ValueError
        One line naming the expression, when it does not parse.
    """
    # Prefect's own schedule model, so what passes here is exactly what serve accepts
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expression)
    except ValidationError as err:
        raise ValueError(
            f"--cron {expression!r} is not a valid cron expression "
            "(five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *')"
        ) from err
    return expression


def served_parameters(params: RunParameters) -> RunParameters:
    """``params`` with the data file and reports folder as absolute paths.

    Served runs execute in a process of their own, whose working directory need not be the one
    ``serve`` was started from; absolute paths keep reports where the user asked for them.
    """
    update: dict[str, str] = {"reports_dir": str(Path(params.reports_dir).resolve())}
    if params.data is not None:
        update["data"] = str(Path(params.data).resolve())
    return params.model_copy(update=update)


def serve(params: RunParameters, *, cron: str, name: str = DEFAULT_DEPLOYMENT) -> None:
    """Serve ``vaec-feature-selection`` with these parameters until interrupted.

    Parameters
    ----------
    params : RunParameters
        The default parameters of every scheduled (and manually triggered) run.
    cron : str
        The schedule, checked with :func:`check_cron` first.
    name : str
        The deployment name; the deployment is ``vaec-feature-selection/<name>``.
    """
    from flows.feature_selection import feature_selection

    check_cron(cron)
    params = served_parameters(params)
    feature_selection.serve(
        name=name,
        cron=cron,
        # every run gets a folder of its own: run_name-<UTC timestamp>
        parameters={"params": params.model_dump(mode="json"), "run_name_is_prefix": True},
        description=f"vaec-select feature selection on {params.source}, cron {cron!r}",
        tags=["vaec-select"],
        # one run at a time: a run already uses every core for its trials
        limit=1,
    )
