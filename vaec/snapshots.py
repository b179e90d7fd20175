"""Latent snapshots: where the data sits in the neck at chosen epochs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def snapshot_epochs(epochs: int) -> list[int]:
    """Epochs 8, 16, ..., 512, then 1000, 2000, ... up to ``epochs``, and the last one."""
    chosen = [e for e in (8, 16, 32, 64, 128, 256, 512) if e <= epochs]
    chosen += list(range(1000, epochs + 1, 1000))
    if epochs not in chosen:
        chosen.append(epochs)
    return chosen


@dataclass
class LatentSnapshot:
    """Sampled z and z_mean of the training and validation rows at one epoch.

    Arrays have shape ``(replicas, rows, latent_dim)``; ``y_train`` / ``y_val`` hold class
    indices.
    """

    epoch: int
    train_z: np.ndarray
    train_z_mean: np.ndarray
    val_z: np.ndarray | None
    val_z_mean: np.ndarray | None
    y_train: np.ndarray
    y_val: np.ndarray | None
