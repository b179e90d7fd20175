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
from vaec.tasks import score_names

SAMPLED_LIMIT = 5.0
MEAN_LIMIT = 3.0
# A 1-D latent space is drawn as a strip: the vertical position is noise that only spreads the
# points so that overlapping classes stay visible.
STRIP_JITTER = 0.4
BEST_EPOCH_LABEL = "best epoch"


def learning_curve_panels(
    strategy: str | Strategy, task: str = "classification"
) -> list[tuple[str, str]]:
    """``(metric, title)`` of every learning-curve panel drawn for ``strategy``.

    The task's score (accuracy; MAE for regression; reconstruction R² without a target) with
    sampling off and on, total, KL and prediction loss always; reconstruction loss only when
    the strategy counts it.
    """
    strategy = get_strategy(strategy)
    score = score_names(task)[1 if task == "regression" else 0]
    panels = [
        (score, f"{score}, sampling off"),
        (f"{score}_sampled", f"{score}, sampling on"),
        ("total_loss", "total loss"),
        ("kl_loss", "KL loss"),
        ("prediction_loss", "prediction loss"),
    ]
    if "reconstruction" in strategy.losses:
        panels.append(("reconstruction_loss", "reconstruction loss"))
    return panels


def _check_replica(replica: int, n_replicas: int) -> None:
    if not 0 <= replica < n_replicas:
        raise ValueError(f"replica must be in [0, {n_replicas}), got {replica!r}")


def plot_learning_curves(history: History, strategy: str | Strategy, replica: int = 0) -> Figure:
    """Train and validation curves of one replica, the best epoch marked on every panel.

    Parameters
    ----------
    history : History
        Per-epoch metrics of a training run.
    strategy : str or Strategy
        The strategy that was trained; the reconstruction panel is drawn only when it counts
        reconstruction loss.
    replica : int, default=0
        Which replica of the history to draw.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel of :func:`learning_curve_panels`. Validation lines are left out
        when the history has no validation values (all NaN).
    """
    strategy = get_strategy(strategy)
    _check_replica(replica, history.n_replicas)
    frame = history.for_replica(replica)
    panels = learning_curve_panels(strategy, history.task)
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
        ax.axvline(best, color="tab:green", linestyle="--", linewidth=1,
                   label=f"{BEST_EPOCH_LABEL} {best}")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.remove()
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{strategy.name}: learning curves")
    return fig


def _view(points: np.ndarray, projection: PCA | None, jitter: np.ndarray) -> np.ndarray:
    """2-D view: the points themselves (2-D), a jittered strip (1-D), or a PCA (more)."""
    if points.shape[1] == 2:
        return points
    if points.shape[1] == 1:
        return np.column_stack([points[:, 0], jitter])
    assert projection is not None
    return projection.transform(points)


def _axis_labels(latent_dim: int, what: str) -> tuple[str, str]:
    if latent_dim == 1:
        return what, "jitter (no meaning)"
    if latent_dim == 2:
        return f"{what}[0]", f"{what}[1]"
    return f"PC1 of {what}", f"PC2 of {what}"


def scatter_by_target(
    ax: Axes, points: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None
) -> None:
    """Points coloured by class index (a legend entry per class), or, for a continuous target
    (float values: regression), by value on one colour scale."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.6, c=labels, cmap="viridis")
        return
    cmap = matplotlib.colormaps["tab10"]
    for index, name in enumerate(class_names or []):
        mask = labels == index
        if mask.any():
            ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.6,
                       color=cmap(index % 10), label=str(name))


def _class_names(snapshot: LatentSnapshot, class_names: Sequence[str] | None) -> list[str] | None:
    if np.asarray(snapshot.y_train).dtype.kind == "f":
        return None  # a continuous target: no classes
    labels = [snapshot.y_train] + ([snapshot.y_val] if snapshot.y_val is not None else [])
    n_classes = int(max(int(np.max(part)) for part in labels if len(part))) + 1
    if class_names is None:
        return [str(i) for i in range(n_classes)]
    names = [str(name) for name in class_names]
    if len(names) < n_classes:
        raise ValueError(
            f"class_names has {len(names)} names but the labels reach class index {n_classes - 1}"
        )
    return names


def plot_latent_grid(
    snapshot: LatentSnapshot, replica: int = 0, class_names: Sequence[str] | None = None
) -> Figure:
    """Where the rows sit in the neck at one epoch; left column train, right validation.

    Parameters
    ----------
    snapshot : LatentSnapshot
        Sampled z and z_mean of one epoch.
    replica : int, default=0
        Which replica of the snapshot to draw.
    class_names : sequence of str or None, default=None
        Legend names in class-index order; the indices themselves when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
        Three rows of axes: sampled z on fixed [-5, 5] axes, z_mean on fixed [-3, 3], z_mean on
        its own range; one column per split (train, and validation when the snapshot has it).
        Points are coloured by class. With more than two latent dimensions the view is a PCA
        fitted on the training z_mean (axes "PC1 of z_mean", ...); with one, a strip whose
        vertical position is random jitter.
    """
    n_replicas = snapshot.train_z_mean.shape[0]
    _check_replica(replica, n_replicas)
    names = _class_names(snapshot, class_names)
    train_mean = snapshot.train_z_mean[replica]
    latent_dim = train_mean.shape[1]
    projection = PCA(n_components=2).fit(train_mean) if latent_dim > 2 else None
    columns = [("train", snapshot.train_z, snapshot.train_z_mean, snapshot.y_train)]
    if snapshot.val_z is not None and snapshot.val_z_mean is not None:
        columns.append(("validation", snapshot.val_z, snapshot.val_z_mean, snapshot.y_val))
    fig = Figure(figsize=(5.0 * len(columns), 12.5), layout="constrained")
    axes = fig.subplots(3, len(columns), squeeze=False)
    rng = np.random.default_rng(0)
    for col, (part, z, z_mean, labels) in enumerate(columns):
        jitter = rng.uniform(-STRIP_JITTER, STRIP_JITTER, size=len(labels))
        rows = [
            ("sampled z", _view(z[replica], projection, jitter), SAMPLED_LIMIT),
            ("z_mean", _view(z_mean[replica], projection, jitter), MEAN_LIMIT),
            ("z_mean", _view(z_mean[replica], projection, jitter), None),
        ]
        for row, (what, points, limit) in enumerate(rows):
            ax = axes[row, col]
            scatter_by_target(ax, points, labels, names)
            if limit is not None:
                ax.set_xlim(-limit, limit)
                if latent_dim > 1:
                    ax.set_ylim(-limit, limit)
                ax.set_title(f"{part}: {what}, fixed [-{limit:g}, {limit:g}]")
            else:
                ax.set_title(f"{part}: {what}, own range")
            if latent_dim == 1:
                ax.set_ylim(-1.0, 1.0)
            xlabel, ylabel = _axis_labels(latent_dim, what)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    if names is not None:
        axes[0, 0].legend(loc="upper right", fontsize=8, markerscale=2, title="class")
    fig.suptitle(f"latent space at epoch {snapshot.epoch} (latent_dim {latent_dim})")
    return fig


def plot_latent_view(
    z_mean_train: np.ndarray,
    y_train: np.ndarray,
    z_mean_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Where the rows sit in the neck: z_mean of the training (and validation) rows, each
    panel on its own range. Class indices are coloured per class with a legend below; float
    targets by value. A neck wider than two is shown as a PCA fitted on the training z_mean, a
    one-dimensional one as a strip (vertical position: jitter)."""
    z_mean_train = np.asarray(z_mean_train, dtype=float)
    latent_dim = z_mean_train.shape[1]
    projection = PCA(n_components=2).fit(z_mean_train) if latent_dim > 2 else None
    panels = [("training rows", z_mean_train, y_train)]
    if z_mean_val is not None:
        panels.append(("validation rows", np.asarray(z_mean_val, dtype=float), y_val))
    fig = Figure(figsize=(5.2 * len(panels), 4.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    rng = np.random.default_rng(0)
    names = class_names
    if names is None and np.asarray(y_train).dtype.kind in "iub":
        names = [str(i) for i in range(int(np.max(y_train)) + 1)]
    for ax, (title, points, labels) in zip(axes, panels, strict=True):
        jitter = rng.uniform(-STRIP_JITTER, STRIP_JITTER, size=len(points))
        scatter_by_target(ax, _view(points, projection, jitter), labels, names)
        xlabel, ylabel = _axis_labels(latent_dim, "z_mean")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), 6),
                   fontsize=8, markerscale=2)
    return fig
