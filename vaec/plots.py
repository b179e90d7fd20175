"""Figures of one model: learning curves, latent grids and views, the latent domain.

matplotlib's object-oriented API on the Agg backend: each function takes data and returns a
:class:`~matplotlib.figure.Figure`, never shows or saves it. The figures a report shows have a
fixed layout (margins in inches, titles at a fixed height: a constrained layout measures every
artist, as much work as drawing the figure). A neck wider than two is drawn as its first two
principal components (fitted on the training z_mean), a one-dimensional one as a jittered strip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from vaec.config import Strategy, get_strategy
from vaec.domain import LatentDomain
from vaec.history import History, LatentSnapshot
from vaec.tasks import CLASSIFICATION, Task

SAMPLED_LIMIT = 5.0
MEAN_LIMIT = 3.0
# A 1-D latent space is drawn as a strip: the vertical position is noise that only spreads the
# points so that overlapping classes stay visible.
STRIP_JITTER = 0.4
BEST_EPOCH_LABEL = "best epoch"
CONTOURS = (1, 2, 3)


def margins(fig: Figure, left: float, bottom: float, top: float,
            gaps: tuple[float, float] = (0.0, 0.0)) -> None:
    """Place the figure's grid of axes by its margins and gaps (between columns, rows), in inches;
    the right margin is 0.15 inches on every figure."""
    (width, height), right = fig.get_size_inches(), 0.15
    n_rows, n_cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    cell_w = (width - left - right - (n_cols - 1) * gaps[0]) / n_cols
    cell_h = (height - bottom - top - (n_rows - 1) * gaps[1]) / n_rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=gaps[0] / cell_w, hspace=gaps[1] / cell_h)


def fixed_title(ax: Axes, text: str, **kwargs: Any) -> None:
    """``ax``'s title just above the axes, not placed by measuring the ticks (none are on top)."""
    ax.set_title(text, y=1.0, **kwargs)


class _PCA:
    """The first two principal components (each sign fixed so its largest coefficient is > 0)."""

    def __init__(self, points: np.ndarray) -> None:
        self.mean = points.mean(axis=0)
        _, _, vt = np.linalg.svd(points - self.mean, full_matrices=False)
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        self.components = (vt * signs[:, None])[:2]

    def transform(self, points: np.ndarray) -> np.ndarray:
        return (points - self.mean) @ self.components.T


def learning_curve_panels(strategy: str | Strategy, task: Task = CLASSIFICATION) -> list[tuple[str, str]]:
    """``(metric, title)`` of every learning-curve panel drawn for ``strategy``: the task's
    :attr:`~vaec.tasks.Task.curve_score` off and on, total and KL loss, the prediction loss, the
    reconstruction loss when counted; none of the head's for a strategy that trains no head."""
    strategy, score = get_strategy(strategy), task.curve_score
    panels = []
    if strategy.uses_prediction or not task.has_target:
        panels += [(score, f"{score}, sampling off"), (f"{score}_sampled", f"{score}, sampling on")]
    panels += [("total_loss", "total loss"), ("kl_loss", "KL loss")]
    if strategy.uses_prediction:
        panels.append(("prediction_loss", "prediction loss"))
    if "reconstruction" in strategy.losses:
        panels.append(("reconstruction_loss", "reconstruction loss"))
    return panels


def _check_replica(replica: int, n_replicas: int) -> None:
    if not 0 <= replica < n_replicas:
        raise ValueError(f"replica must be in [0, {n_replicas}), got {replica!r}")


def plot_learning_curves(history: History, strategy: str | Strategy, replica: int = 0) -> Figure:
    """Train and validation curves of one replica of ``history``, one axes per panel of
    :func:`learning_curve_panels` for the ``strategy`` that was trained, the best epoch marked on
    every panel; validation lines are left out when the history has none (all NaN)."""
    strategy = get_strategy(strategy)
    _check_replica(replica, history.n_replicas)
    columns = history.for_replica(replica)
    panels = learning_curve_panels(strategy, history.task)
    n_rows = -(-len(panels) // 3)
    fig = Figure(figsize=(4.2 * 3, 3.0 * n_rows))
    axes = fig.subplots(n_rows, 3, squeeze=False).ravel()
    margins(fig, left=0.55, bottom=0.45, top=0.75, gaps=(0.65, 0.7))
    best = history.best_epochs[replica]
    for ax, (metric, title) in zip(axes, panels, strict=False):
        ax.plot(history.epochs, columns[f"train_{metric}"], label="train", color="tab:blue")
        if not np.isnan(columns[f"val_{metric}"]).all():
            ax.plot(history.epochs, columns[f"val_{metric}"], label="validation", color="tab:orange")
        ax.axvline(best, color="tab:green", linestyle="--", linewidth=1, label=f"{BEST_EPOCH_LABEL} {best}")
        fixed_title(ax, title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.remove()
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{strategy.name}: learning curves")
    return fig


def _view(points: np.ndarray, projection: _PCA | None, jitter: np.ndarray) -> np.ndarray:
    """2-D view: the points themselves (2-D), a jittered strip (1-D), or a projection (more)."""
    if points.shape[1] == 1:
        return np.column_stack([points[:, 0], jitter])
    return points if projection is None else projection.transform(points)


def _axis_labels(latent_dim: int, what: str) -> dict[str, str]:
    """``xlabel`` and ``ylabel`` of a 2-D view of ``what``."""
    if latent_dim == 1:
        return {"xlabel": what, "ylabel": "jitter (no meaning)"}
    if latent_dim == 2:
        return {"xlabel": f"{what}[0]", "ylabel": f"{what}[1]"}
    return {"xlabel": f"PC1 of {what}", "ylabel": f"PC2 of {what}"}


def scatter_by_target(ax: Axes, points: np.ndarray, labels: np.ndarray,
                      class_names: Sequence[str] | None) -> None:
    """Points coloured by class index (a legend entry per class), or by value (a float target)."""
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


def _class_names(class_names: Sequence[str] | None, *labels: np.ndarray | None) -> list[str] | None:
    """Legend names in class-index order (the indices when ``None``); none for a float target."""
    parts = [np.asarray(part) for part in labels if part is not None and len(part)]
    if not parts or parts[0].dtype.kind == "f":
        return None
    n_classes = max(int(np.max(part)) for part in parts) + 1
    if class_names is None:
        return [str(i) for i in range(n_classes)]
    if len(class_names) < n_classes:
        raise ValueError(f"class_names has {len(class_names)} names but the labels reach class "
                         f"index {n_classes - 1}")
    return [str(name) for name in class_names]


def _legend_below(fig: Figure, ax: Axes) -> None:
    """The legend under the axes, its rows' room taken from the bottom margin."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ncols = min(len(handles), 6)
        fig.legend(handles, labels, loc="lower center", ncols=ncols, fontsize=8, markerscale=2)
        rows = -(-len(handles) // ncols)
        fig.subplots_adjust(bottom=(0.6 + 0.22 * rows) / fig.get_size_inches()[1])


def plot_latent_grid(snapshot: LatentSnapshot, replica: int = 0,
                     class_names: Sequence[str] | None = None) -> Figure:
    """Where the rows sit in the neck at one epoch (one replica of ``snapshot``): sampled z on
    fixed [-5, 5] axes, z_mean on fixed [-3, 3], z_mean on its own range; a column per split.
    Points are coloured by class, named by ``class_names`` in class-index order."""
    _check_replica(replica, snapshot.train_z_mean.shape[0])
    names = _class_names(class_names, snapshot.y_train, snapshot.y_val)
    latent_dim = snapshot.train_z_mean.shape[2]
    projection = _PCA(snapshot.train_z_mean[replica]) if latent_dim > 2 else None
    columns = [("train", snapshot.train_z, snapshot.train_z_mean, snapshot.y_train)]
    if snapshot.val_z is not None and snapshot.val_z_mean is not None:
        columns.append(("validation", snapshot.val_z, snapshot.val_z_mean, snapshot.y_val))
    fig = Figure(figsize=(5.0 * len(columns), 12.5), layout="constrained")
    axes = fig.subplots(3, len(columns), squeeze=False)
    rng = np.random.default_rng(0)
    for col, (part, z, z_mean, labels) in enumerate(columns):
        jitter = rng.uniform(-STRIP_JITTER, STRIP_JITTER, size=len(labels))
        rows = [("sampled z", z, SAMPLED_LIMIT), ("z_mean", z_mean, MEAN_LIMIT), ("z_mean", z_mean, None)]
        for ax, (what, points, limit) in zip(axes[:, col], rows, strict=True):
            scatter_by_target(ax, _view(points[replica], projection, jitter), labels, names)
            if limit is None:  # on the points' range
                fixed_title(ax, f"{part}: {what}, own range")
            else:
                ax.set_xlim(-limit, limit)
                if latent_dim > 1:
                    ax.set_ylim(-limit, limit)
                fixed_title(ax, f"{part}: {what}, fixed [-{limit:g}, {limit:g}]")
            if latent_dim == 1:
                ax.set_ylim(-1.0, 1.0)
            ax.set(**_axis_labels(latent_dim, what))
            ax.grid(alpha=0.3)
    if names is not None:
        axes[0, 0].legend(loc="upper right", fontsize=8, markerscale=2, title="class")
    fig.suptitle(f"latent space at epoch {snapshot.epoch} (latent_dim {latent_dim})")
    return fig


def plot_latent_view(z_mean_train: np.ndarray, y_train: np.ndarray, z_mean_val: np.ndarray | None = None,
                     y_val: np.ndarray | None = None, class_names: Sequence[str] | None = None) -> Figure:
    """Where the rows sit in the neck: z_mean of the training (and validation) rows, each
    panel on its own range. Class indices are coloured per class with a legend below; float
    targets by value."""
    z_mean_train = np.asarray(z_mean_train, dtype=float)
    latent_dim = z_mean_train.shape[1]
    projection = _PCA(z_mean_train) if latent_dim > 2 else None
    panels = [("training rows", z_mean_train, y_train)]
    if z_mean_val is not None:
        panels.append(("validation rows", np.asarray(z_mean_val, dtype=float), y_val))
    fig = Figure(figsize=(5.2 * len(panels), 4.6))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    margins(fig, left=0.8, bottom=0.6, top=0.3, gaps=(0.9, 0.0))
    rng = np.random.default_rng(0)
    names = _class_names(class_names, y_train)
    for ax, (title, points, labels) in zip(axes, panels, strict=True):
        jitter = rng.uniform(-STRIP_JITTER, STRIP_JITTER, size=len(points))
        scatter_by_target(ax, _view(points, projection, jitter), labels, names)
        fixed_title(ax, title)
        ax.set(**_axis_labels(latent_dim, "z_mean"))
        ax.grid(alpha=0.3)
    _legend_below(fig, axes[0])
    return fig


def plot_latent_domain(z_mean: np.ndarray, labels: np.ndarray, domain: LatentDomain,
                       class_names: Sequence[str] | None = None) -> Figure:
    """Scatter of z_mean coloured by class, with the 1, 2 and 3 sigma ellipses of the Gaussian
    the points follow in the plotted view (a wider neck's principal components are a linear
    projection: the projected Gaussian's contours); the title gives the isotropic sigma."""
    z_mean = np.asarray(z_mean, dtype=float)
    latent_dim = z_mean.shape[1]
    # a line is drawn at height 0 (the contours mark the sigmas on it)
    points = _view(z_mean, _PCA(z_mean) if latent_dim > 2 else None, np.zeros(len(z_mean)))
    centre = points.mean(axis=0)
    if np.ptp(points[:, 1]) == 0:  # points on a line: circles
        major = minor = float(points[:, 0].std(ddof=1))
        angle = 0.0
    else:
        values, vectors = np.linalg.eigh(np.cov(points, rowvar=False))
        major, minor = np.sqrt(np.clip(values[::-1], 0.0, None))
        angle = float(np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1])))
    fig = Figure(figsize=(6.0, 6.4))
    ax = fig.subplots()
    margins(fig, left=0.8, bottom=0.6, top=0.55)
    scatter_by_target(ax, points, labels, _class_names(class_names, labels))
    for k, style in zip(CONTOURS, ("-", "--", ":"), strict=True):  # each k-sigma ellipse
        ax.add_patch(Ellipse(tuple(centre), 2 * k * major, 2 * k * minor, angle=angle, fill=False,
                             color="black", linestyle=style, label=f"{k} sigma"))
    reach = 0.55 * (2 * CONTOURS[-1] * major)  # the widest contour's major axis
    low = np.minimum(points.min(axis=0), centre - reach)
    high = np.maximum(points.max(axis=0), centre + reach)
    # one span on both axes: the contours keep their shape without blank margins
    middle, half = (low + high) / 2, float((high - low).max()) / 2
    names = _axis_labels(latent_dim, "z_mean") if latent_dim > 1 else {"xlabel": "z_mean (1-D)"}
    ax.set(xlim=(middle[0] - half, middle[0] + half), ylim=(middle[1] - half, middle[1] + half),
           aspect="equal", **names)
    fixed_title(ax, f"domain of validity: z_mean's Gaussian at 1, 2, 3 sigma\n"
                    f"(isotropic sigma of the sampled z {domain.isotropic.sigma:.2f})")
    _legend_below(fig, ax)
    ax.grid(alpha=0.3)
    return fig

