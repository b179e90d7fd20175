"""The parameters of the feature-selection flow, validated before any work starts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.data import BUILTIN_DATASETS
from pipeline.pruning_config import PruningConfig


class SelectionParameters(BaseModel):
    """What to select features from, how, and where the report goes.

    Exactly one of ``dataset`` (a built-in name) and ``data`` (a CSV/Parquet path, with
    ``target``) names the data. The pruning fields mirror :class:`PruningConfig`.
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = Field("breast_cancer", description="built-in data set name")
    data: str | None = Field(None, description="CSV or Parquet file")
    target: str | None = Field(None, description="target column (required with data)")
    n_trials: int = Field(3, ge=1)
    threshold: float = Field(0.6, ge=-1, le=1)
    max_drop_fraction: float = Field(0.2, gt=0, le=1)
    min_features: int = Field(2, ge=1)
    n_features_to_select: int | None = Field(None, ge=1)
    accuracy_tolerance: float | None = Field(0.05, ge=0)
    latent_dim: int = Field(4, ge=1)
    epochs: int = Field(300, ge=1)
    final_strategy: Literal["all_parts", "var_mlp_classifier"] = "all_parts"
    val_size: float = Field(0.2, gt=0, lt=1)
    test_size: float = Field(0.2, ge=0, lt=1)
    seed: int = Field(0, ge=0)
    reports_dir: str = "reports"
    run_name: str | None = None
    task_runner: Literal["thread", "dask"] = "thread"
    dask_address: str | None = None
    trial_groups: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> SelectionParameters:
        if self.data is not None:
            if self.target is None:
                raise ValueError("target is required when data is a file")
            self.dataset = None
        elif self.dataset is None:
            raise ValueError("give dataset (a built-in name) or data (a CSV/Parquet file)")
        elif self.dataset not in BUILTIN_DATASETS:
            raise ValueError(
                f"dataset must be one of {', '.join(BUILTIN_DATASETS)}, got {self.dataset!r}"
            )
        if self.val_size + self.test_size >= 1:
            raise ValueError("val_size + test_size must be < 1")
        return self

    @property
    def source(self) -> str:
        """The data source handed to :func:`pipeline.data.load_dataset`."""
        return self.data if self.data is not None else str(self.dataset)

    @property
    def groups(self) -> int:
        """How many trial groups a round is split into (never more than the trials)."""
        default = 2 if self.task_runner == "dask" else 1
        return min(self.trial_groups or default, self.n_trials)

    def pruning_config(self) -> PruningConfig:
        """The :class:`PruningConfig` these parameters stand for."""
        return PruningConfig(
            n_trials=self.n_trials,
            threshold=self.threshold,
            max_drop_fraction=self.max_drop_fraction,
            min_features=self.min_features,
            n_features_to_select=self.n_features_to_select,
            accuracy_tolerance=self.accuracy_tolerance,
            model_options={"latent_dim": self.latent_dim, "epochs": self.epochs},
            final_strategy=self.final_strategy,
            val_size=self.val_size,
            test_size=self.test_size,
            seed=self.seed,
        )


def trial_groups(n_trials: int, n_groups: int) -> list[list[int]]:
    """Consecutive trial indices split into ``n_groups`` nearly equal groups."""
    size, extra = divmod(n_trials, n_groups)
    groups, start = [], 0
    for g in range(n_groups):
        stop = start + size + (1 if g < extra else 0)
        groups.append(list(range(start, stop)))
        start = stop
    return groups
