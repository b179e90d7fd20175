"""The trials of one pruning round: several joint VAE + classifier models trained together."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.pruning_config import PruningConfig
from pipeline.scoring import channel_r2
from pipeline.split import SplitData
from vaec import VAEC


@dataclass
class TrialScores:
    """What the trials of one round measured.

    Attributes
    ----------
    trials : list of int
        Trial indices (replica ``r`` of round ``k`` is seeded ``seed + 1000 k + r``).
    channels : list of str
        The channels the trials were trained on, in column order.
    r2 : ndarray of shape (n_trials, n_channels)
        Validation reconstruction R^2 of every channel, sampling off.
    val_accuracy, val_f1 : ndarray of shape (n_trials,)
        Validation accuracy and F1 (sampling off) at each trial's best epoch.
    seconds : float
        Wall-clock seconds of the training.
    """

    trials: list[int]
    channels: list[str]
    r2: np.ndarray
    val_accuracy: np.ndarray
    val_f1: np.ndarray
    seconds: float

    @classmethod
    def combine(cls, parts: Sequence[TrialScores]) -> TrialScores:
        """Join the scores of trial groups trained separately (e.g. on several workers)."""
        parts = sorted(parts, key=lambda p: p.trials[0])
        if any(p.channels != parts[0].channels for p in parts):
            raise ValueError("trial groups were trained on different channels")
        return cls(
            trials=[t for p in parts for t in p.trials],
            channels=list(parts[0].channels),
            r2=np.concatenate([p.r2 for p in parts]),
            val_accuracy=np.concatenate([p.val_accuracy for p in parts]),
            val_f1=np.concatenate([p.val_f1 for p in parts]),
            seconds=max(p.seconds for p in parts),
        )


def train_trials(
    split: SplitData,
    channels: Sequence[str],
    config: PruningConfig,
    round_index: int,
    trials: Sequence[int] | None = None,
) -> TrialScores:
    """Train the given trials of a round jointly (all parts) and score every channel.

    The trials share one vectorised pass. Trial ``t`` gets the seed ``round seed + t`` whichever
    group it is trained in, so splitting trials over workers gives the same scores.
    """
    trials = list(range(config.n_trials)) if trials is None else list(trials)
    if not trials or trials != list(range(trials[0], trials[0] + len(trials))):
        raise ValueError(f"trials must be consecutive indices, got {trials}")
    start = time.perf_counter()
    data = split.columns(list(channels))
    model_config = config.round_model_config(
        n_inputs=len(channels), n_classes=len(split.classes), round_index=round_index
    )
    model_config = model_config.replace(seed=model_config.seed + trials[0])
    model = VAEC(model_config, n_replicas=len(trials), classes=split.classes)
    result = model.fit(
        "all_parts", data.X_train, data.y_train, data.X_val, data.y_val, record_snapshots=False
    )
    history = result.history
    best = [history.best_row(r) for r in range(len(trials))]
    return TrialScores(
        trials=trials,
        channels=list(channels),
        r2=channel_r2(model, data.X_val),
        val_accuracy=np.array([row["val_accuracy"] for row in best]),
        val_f1=np.array([row["val_f1"] for row in best]),
        seconds=time.perf_counter() - start,
    )
