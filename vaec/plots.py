"""Figures of one model: learning curves and latent grids (matplotlib, Agg, object-oriented).

Each function takes data and returns a :class:`~matplotlib.figure.Figure`; the caller saves it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from vaec.history import History
from vaec.snapshots import LatentSnapshot
from vaec.strategies import Strategy, get_strategy

SAMPLED_LIMIT = 5.0
MEAN_LIMIT = 3.0


def _panels(strategy: Strategy) -> list[tuple[str, str]]:
    """(metric, title) of every learning-curve panel for this strategy."""
    panels = [
        ("accuracy", "accuracy, sampling off"),
        ("accuracy_sampled", "accuracy, sampling on"),
        ("total_loss", "total loss"),
        ("kl_loss", "KL loss"),
        ("prediction_loss", "prediction loss"),
    ]
    if "reconstruction" in strategy.losses:
        panels.append(("reconstruction_loss", "reconstruction loss"))
    return panels


def plot_learning_curves(history: History, strategy: str | Strategy, replica: int = 0) -> Figure:
    """Train vs validation curves of one replica, the best epoch marked on every panel."""
    strategy = get_strategy(strategy)
    frame = history.for_replica(replica)
    panels = _panels(strategy)
    n_cols = 3
    n_rows = -(-len(panels) // n_cols)
    fig = Figure(figsize=(4.2 * n_cols, 3.0 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    best = history.best_epochs[replica]
    for ax, (metric, title) in zip(axes, panels, strict=False):
        ax.plot(frame.index, frame[f"train_{metric}"], label="train", color="tab:blue")
        val = frame[f"val_{metric}"]
        if val.notna().any():
            ax.plot(frame.index, val, label="validation", color="tab:orange")
        ax.axvline(best, color="tab:green", linestyle="--", linewidth=1, label=f"best epoch {best}")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{strategy.name}: learning curves")
    return fig


def _two_d(points: np.ndarray, projection: PCA | None) -> np.ndarray:
    """A 2-D view: the points themselves (2-D), a zero second axis (1-D), or a PCA (more)."""
    if points.shape[1] == 2:
        return points
    if points.shape[1] == 1:
        return np.column_stack([points[:, 0], np.zeros(len(points))])
    assert projection is not None
    return projection.transform(points)


def _axis_labels(latent_dim: int, what: str) -> tuple[str, str]:
    if latent_dim == 1:
        return f"{what} (1-D)", ""
    if latent_dim == 2:
        return f"{what}[0]", f"{what}[1]"
    return f"PC1 of {what}", f"PC2 of {what}"


def _scatter(
    ax: Axes, points: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> None:
    cmap = matplotlib.colormaps["tab10"]
    for index, name in enumerate(class_names):
        mask = labels == index
        if mask.any():
            ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.6, color=cmap(index % 10),
                       label=str(name))


def plot_latent_grid(
    snapshot: LatentSnapshot, replica: int = 0, class_names: Sequence[str] | None = None
) -> Figure:
    """Where the rows sit in the neck at one epoch; left train, right validation.

    Top row: sampled z on fixed [-5, 5] axes; middle: z_mean on fixed [-3, 3]; bottom: z_mean
    on its own range. Points are coloured by class. With more than two latent dimensions the
    view is a PCA fitted on the training z_mean; with one, the second axis is zero.
    """
    n_classes = int(max(snapshot.y_train.max(), -1 if snapshot.y_val is None else snapshot.y_val.max())) + 1
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    train_mean = snapshot.train_z_mean[replica]
    latent_dim = train_mean.shape[1]
    projection = PCA(n_components=2).fit(train_mean) if latent_dim > 2 else None
    columns = [("train", snapshot.train_z, snapshot.train_z_mean, snapshot.y_train)]
    if snapshot.val_z is not None and snapshot.val_z_mean is not None:
        columns.append(("validation", snapshot.val_z, snapshot.val_z_mean, snapshot.y_val))
    fig = Figure(figsize=(5.0 * len(columns), 12.5), layout="constrained")
    axes = fig.subplots(3, len(columns), squeeze=False)
    for col, (part, z, z_mean, labels) in enumerate(columns):
        rows = [
            ("sampled z", _two_d(z[replica], projection), SAMPLED_LIMIT),
            ("z_mean", _two_d(z_mean[replica], projection), MEAN_LIMIT),
            ("z_mean", _two_d(z_mean[replica], projection), None),
        ]
        for row, (what, points, limit) in enumerate(rows):
            ax = axes[row, col]
            _scatter(ax, points, labels, names)
            if limit is not None:
                ax.set_xlim(-limit, limit)
                ax.set_ylim(-limit, limit)
                ax.set_title(f"{part}: {what}, fixed [-{limit:g}, {limit:g}]")
            else:
                ax.set_title(f"{part}: {what}, own range")
            xlabel, ylabel = _axis_labels(latent_dim, what)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, markerscale=2, title="class")
    fig.suptitle(f"latent space at epoch {snapshot.epoch}")
    return fig
