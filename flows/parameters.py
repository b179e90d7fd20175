"""The parameters of the feature-selection flow, derived from the declared settings.

:class:`SelectionParameters` is a pydantic model (Prefect shows it as a form and validates it)
built from :class:`pipeline.pruning_config.PruningConfig`'s settings and the run's own settings
below (data source, output, execution). Nothing is declared twice: a new selection setting
appears here, on the command line and on the selector by itself.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from pipeline.data.builtin import BUILTIN_DATASETS
from pipeline.pruning_config import PruningConfig
from pipeline.report.run_folders import check_run_name
from pipeline.settings import CLI, FLOW, SettingSpec, check_settings, setting, setting_specs
from pipeline.threads import usable_cores
from vaec.config import ConfigError

RUN_SURFACES = frozenset({CLI, FLOW})
TASK_RUNNERS = ("thread", "dask")


@dataclass
class RunSettings:
    """What to select from, where the report goes, and where the trials train."""

    dataset: str | None = setting(
        "breast_cancer", "built-in data set", choices=BUILTIN_DATASETS, metavar="NAME",
        surfaces=RUN_SURFACES, group="data (one of --dataset or --data)")
    data: str | None = setting(
        None, "a CSV or Parquet file (needs --target)", metavar="FILE", surfaces=RUN_SURFACES,
        group="data (one of --dataset or --data)")
    target: str | None = setting(
        None, "the target column of --data (none: select without a target, the unsupervised "
        "task)", metavar="COLUMN", surfaces=RUN_SURFACES,
        group="data (one of --dataset or --data)")
    reports_dir: str = setting(
        "reports", "folder that receives the run folders", metavar="DIR", surfaces=RUN_SURFACES,
        group="output and execution")
    run_name: str | None = setting(
        None, "name of the run folder, a single folder name that is not taken yet (none: "
        "<dataset>-<UTC timestamp>, with -2, -3, ... when that is taken)", metavar="NAME",
        surfaces=RUN_SURFACES, group="output and execution")
    task_runner: str = setting(
        "thread", "where a round's trial groups (a stability selection's resamples) train: "
        "local threads, or Dask (needs prefect-dask)", choices=TASK_RUNNERS, surfaces=RUN_SURFACES,
        group="output and execution")
    dask_address: str | None = setting(
        None, "scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (none: a local "
        "cluster started for the run)", metavar="ADDRESS", surfaces=RUN_SURFACES,
        group="output and execution")
    trial_groups: int | None = setting(
        None, "split a round's trials into N groups trained in parallel (none: 1 with threads, "
        "2 with Dask; a stability selection runs whole resamples in parallel instead)", low=1,
        metavar="N", surfaces=RUN_SURFACES, group="output and execution")


PRUNING_SPECS = tuple(s for s in setting_specs(PruningConfig) if FLOW in s.surfaces)
RUN_SPECS = setting_specs(RunSettings)
PARAMETER_SPECS = RUN_SPECS + PRUNING_SPECS


def _annotation(spec: SettingSpec) -> Any:
    base: Any = Literal[spec.choices] if spec.choices else (
        dict[str, Any] if spec.kind is dict else spec.kind)
    return base | None if spec.optional else base


class _Parameters(BaseModel):
    """The behaviour of :class:`SelectionParameters`; its fields are derived below."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _checked(self) -> _Parameters:
        # the declared checks, the same ones the selector and PruningConfig apply
        try:
            check_settings(RunSettings(**{s.name: getattr(self, s.name) for s in RUN_SPECS}))
            if self.run_name is not None:
                check_run_name(self.run_name)
            self.pruning_config()
        except ConfigError as err:
            raise ValueError(str(err)) from None
        if self.data is not None:
            if self.target is None and self.task in ("classification", "regression"):
                raise ValueError(f"target is required with data for task {self.task!r}")
            self.dataset = None
        elif self.dataset is None:
            raise ValueError("give dataset (a built-in name) or data (a CSV/Parquet file)")
        return self

    @property
    def source(self) -> str:
        """The data source handed to :func:`pipeline.data.dataset.load_dataset`."""
        return self.data if self.data is not None else str(self.dataset)

    @property
    def groups(self) -> int:
        """How many trial groups a round is split into (never more than the trials)."""
        default = 2 if self.task_runner == "dask" else 1
        return min(self.trial_groups or default, self.n_trials)

    @property
    def workers(self) -> int:
        """How many tasks the task runner runs at once: a round's trial groups (at least 2);
        in a stability selection the resamples, one per usable core (at least 2)."""
        if self.n_resamples > 1:
            return max(2, min(self.n_resamples, usable_cores()))
        return max(2, self.groups)

    def pruning_config(self) -> PruningConfig:
        """The :class:`PruningConfig` these parameters stand for."""
        return PruningConfig(**{s.name: getattr(self, s.name) for s in PRUNING_SPECS})


def _field(spec: SettingSpec) -> tuple[Any, Any]:
    if spec.kind is dict:
        return _annotation(spec), Field(default_factory=dict, description=spec.help)
    return _annotation(spec), Field(spec.default, description=spec.help)


SelectionParameters = create_model(
    "SelectionParameters",
    __base__=_Parameters,
    __module__=__name__,
    __doc__="What to select features from, how, and where the report goes.\n\n"
    "Exactly one of ``dataset`` (a built-in name) and ``data`` (a CSV/Parquet path, with "
    "``target``) names the data; the selection fields are :class:`PruningConfig`'s.",
    **{spec.name: _field(spec) for spec in PARAMETER_SPECS},
)
if typing.TYPE_CHECKING:
    SelectionParameters = _Parameters


def trial_groups(n_trials: int, n_groups: int) -> list[list[int]]:
    """Consecutive trial indices split into ``n_groups`` nearly equal groups."""
    size, extra = divmod(n_trials, n_groups)
    groups, start = [], 0
    for g in range(n_groups):
        stop = start + size + (1 if g < extra else 0)
        groups.append(list(range(start, stop)))
        start = stop
    return groups
