"""The parameters of the feature-selection flow: the selection settings, and where the data comes
from, where the report goes and where the trials train (the task runner), with their checks.

:class:`RunParameters` is :class:`pipeline.settings.SelectionSettings` with the run's own fields: one
pydantic model, which Prefect shows as a form and validates, and from whose fields the command line
builds its options. Nothing is declared twice; nothing here imports prefect until it is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from pipeline.data.builtin import BUILTIN_DATASETS
from pipeline.machine import usable_cores
from pipeline.report.store import check_run_name
from pipeline.settings import SelectionSettings
from vaec.config import ConfigError
from vaec.tasks import TASKS

DASK_INSTALL = 'pip install -e ".[dask]" (or pip install prefect-dask)'


class RunParameters(SelectionSettings):
    """What to select features from, how, and where the report goes.

    Exactly one of ``dataset`` (a built-in name) and ``data`` (a CSV/Parquet path, with
    ``target``, and optionally ``weight_column``) names the data; every other field is a
    :class:`SelectionSettings` field.
    """

    dataset: Literal[BUILTIN_DATASETS] | None = Field(  # type: ignore[valid-type]
        "breast_cancer", description="built-in data set")
    data: str | None = Field(None, description="a CSV or Parquet file (needs --target)")
    target: str | None = Field(None, description="the target column of --data (none: select without a "
                               "target, the unsupervised task)")
    weight_column: str | None = Field(
        None, description="a numeric column of --data that weighs its rows (a row of weight 2 counts twice, "
        "0 not at all) in the models' losses and every score; never a feature (none: every row alike)")
    reports_dir: str = Field("reports", description="folder that receives the run folders")
    run_name: str | None = Field(
        None, description="name of the run folder, a single folder name that is not taken yet (none: "
        "<dataset>-<UTC timestamp>, with -2, -3, ... when that is taken)")
    task_runner: Literal["thread", "dask"] = Field(
        "thread", description="where a round's trial groups (a stability selection's resamples) train: "
        "local threads, or Dask (needs prefect-dask)")
    dask_address: str | None = Field(
        None, description="scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (none: a local "
        "cluster started for the run)")
    trial_groups: int | None = Field(
        None, ge=1, description="split a round's trials into N groups trained in parallel (none: 1 with "
        "threads, 2 with Dask; a stability selection runs whole resamples in parallel instead)")
    latent_grids: bool = Field(
        False, description="also write the fixed-range latent grid of every training snapshot of the final "
        "model to final_model/latent/ (they take longer than the rest of the report)")

    @model_validator(mode="after")
    def _one_source(self) -> RunParameters:
        if self.run_name is not None:
            check_run_name(self.run_name)
        if self.dask_address is not None and self.task_runner != "dask":
            raise ValueError("dask_address needs task_runner 'dask' (the thread runner would ignore it), "
                             f"got task_runner {self.task_runner!r}")
        if self.data is not None:
            if self.target is None and self.task in TASKS and TASKS[self.task].has_target:
                raise ValueError(f"target is required with data for task {self.task!r}")
            object.__setattr__(self, "dataset", None)
        elif self.dataset is None:
            raise ValueError("give dataset (a built-in name) or data (a CSV/Parquet file)")
        if self.weight_column is not None and self.data is None:
            raise ValueError("weight_column needs data (a CSV/Parquet file that has the column); "
                             "the built-in data sets have no weight column")
        if self.weight_column is not None and self.target is None:
            raise ValueError("weight_column needs target (the weights count the rows of a selection for "
                             "a target)")
        return self

    @property
    def source(self) -> str:
        """The data source handed to :func:`pipeline.data.dataset.load_dataset`."""
        return self.data if self.data is not None else str(self.dataset)

    @property
    def n_trial_groups(self) -> int:
        """How many trial groups a round is split into (never more than the trials)."""
        return min(self.trial_groups or (2 if self.task_runner == "dask" else 1), self.n_trials)

    @property
    def workers(self) -> int:
        """How many tasks the task runner runs at once (at least 2): a round's trial groups; in a
        stability selection the resamples, one per usable core."""
        return max(2, min(self.n_resamples, usable_cores()) if self.n_resamples > 1 else self.n_trial_groups)

    def load_arguments(self) -> dict[str, Any]:
        """The arguments of :func:`pipeline.data.dataset.load_dataset` that load this run's data."""
        return {"source": self.source, "target": self.target, "val_size": self.val_size,
                "test_size": self.test_size, "task": self.task, "categorical": self.categorical,
                "keep_columns": self.keep_columns, "groups": self.groups, "weight_column": self.weight_column}

    def selection(self) -> SelectionSettings:
        """The selection settings alone (what the pipeline and the run's identity see)."""
        return SelectionSettings(**{n: getattr(self, n) for n in SelectionSettings.model_fields})


def trial_groups(n_trials: int, n_groups: int) -> list[list[int]]:
    """Consecutive trial indices split into ``n_groups`` nearly equal groups."""
    # the first groups take the extra trials
    return [group.tolist() for group in np.array_split(np.arange(n_trials), n_groups)]


def check_dask_installed() -> None:
    """A one-line ConfigError naming the install command when prefect-dask is not installed."""
    import importlib.util

    if importlib.util.find_spec("prefect_dask") is None:
        raise ConfigError(f"task_runner 'dask' needs prefect-dask: {DASK_INSTALL}")


def make_task_runner(kind: str, dask_address: str | None = None, n_workers: int = 2) -> Any:
    """``thread``: a local thread pool; ``dask``: prefect-dask on a LocalCluster or a scheduler."""
    if kind == "thread":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=n_workers)
    check_dask_installed()
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as err:  # installed but broken
        raise ConfigError(f"task_runner 'dask': prefect-dask does not import ({err}); "
                          f"{DASK_INSTALL}") from err
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True})


def served_parameters(params: RunParameters) -> RunParameters:
    """``params`` with the data file and reports folder as absolute paths: a served run executes in a
    process of its own, whose working directory need not be the one ``serve`` was started from."""
    paths = {"reports_dir": params.reports_dir, "data": params.data}
    return params.model_copy(update={k: str(Path(v).resolve()) for k, v in paths.items() if v is not None})


def check_cron(expression: str) -> str:
    """``expression`` (five cron fields such as ``"0 3 * * *"``, or an alias such as ``"@daily"``) if
    Prefect's own schedule model, the one serve uses, accepts it; else a one-line ConfigError."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expression)
    except ValidationError as err:
        raise ConfigError(f"--cron {expression!r} is not a valid cron expression (five fields: "
                          "minute hour day-of-month month day-of-week, e.g. '0 3 * * *')") from err
    return expression
