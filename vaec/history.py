"""Per-epoch training history and the result of one training run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vaec.snapshots import LatentSnapshot
from vaec.tasks import score_names

LOSS_METRICS = ("total_loss", "reconstruction_loss", "kl_loss", "prediction_loss")
SPLITS = ("train", "val")


def metric_names(task: str = "classification") -> tuple[str, ...]:
    """The metrics recorded for ``task``: the four losses, then its two scores with sampling
    off and on (classification: ``accuracy``, ``f1``, ``accuracy_sampled``, ``f1_sampled``)."""
    first, second = score_names(task)
    return (*LOSS_METRICS, first, second, f"{first}_sampled", f"{second}_sampled")


METRICS = metric_names("classification")


def history_columns(task: str = "classification") -> list[str]:
    """Metric columns of the history, ``train_<metric>`` then ``val_<metric>``."""
    return [f"{split}_{metric}" for split in SPLITS for metric in metric_names(task)]


@dataclass
class History:
    """Per-epoch metrics of every replica on the training and validation splits.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per evaluated (epoch, replica): ``epoch``, ``replica`` and
        :func:`history_columns` of the task. Losses are taken as trained (sampled z where the
        strategy samples); the scores (``accuracy``/``f1``, ``r2``/``mae``, ...) have sampling
        off, ``*_sampled`` on. Validation columns are NaN without a validation split.
    best_epochs : list of int
        Best epoch of each replica (1-based).
    task : str
        The task the head was trained for (it names the score columns).
    """

    frame: pd.DataFrame
    best_epochs: list[int]
    task: str = "classification"

    @classmethod
    def from_array(
        cls,
        values: np.ndarray,
        best_epochs: list[int],
        epochs: list[int] | None = None,
        task: str = "classification",
    ) -> History:
        """Build from an array ``(rows, replicas, metrics)`` in :func:`history_columns` order.

        ``epochs`` numbers the rows (the evaluated epochs); default ``1, 2, ...``.
        """
        n_rows, n_replicas, _ = values.shape
        epochs = list(range(1, n_rows + 1)) if epochs is None else list(epochs)
        frame = pd.DataFrame(values.reshape(n_rows * n_replicas, -1),
                             columns=history_columns(task))
        frame.insert(0, "replica", np.tile(np.arange(n_replicas), n_rows))
        frame.insert(0, "epoch", np.repeat(epochs, n_replicas))
        return cls(frame, best_epochs, task)

    @property
    def best_epoch(self) -> int:
        """Best epoch of the first replica."""
        return self.best_epochs[0]

    @property
    def n_replicas(self) -> int:
        """Number of replicas recorded."""
        return len(self.best_epochs)

    def for_replica(self, replica: int = 0) -> pd.DataFrame:
        """The rows of one replica, indexed by epoch."""
        rows = self.frame[self.frame["replica"] == replica]
        return rows.drop(columns="replica").set_index("epoch")

    def best_row(self, replica: int = 0) -> pd.Series:
        """Metrics of one replica at its best epoch."""
        return self.for_replica(replica).loc[self.best_epochs[replica]]

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the frame as CSV (atomically) and return the path."""
        from vaec.atomic_files import atomic_write_text

        return atomic_write_text(path, self.frame.to_csv(index=False))


@dataclass
class TrainingResult:
    """What one call of the training loop produced.

    Attributes
    ----------
    strategy : str
        Name of the strategy trained.
    history : History
        Per-epoch metrics.
    epochs_run : int
        Epochs actually run (fewer than configured after early stopping).
    seconds : float
        Wall-clock seconds of the loop.
    snapshots : list of LatentSnapshot
        Latent snapshots at :func:`vaec.snapshots.snapshot_epochs`.
    """

    strategy: str
    history: History
    epochs_run: int
    seconds: float
    snapshots: list[LatentSnapshot] = field(default_factory=list)

    @property
    def best_epochs(self) -> list[int]:
        """Best epoch of every replica."""
        return self.history.best_epochs
