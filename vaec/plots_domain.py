"""The latent domain of validity: training z_mean with the fitted Gaussian's sigma contours."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from sklearn.decomposition import PCA

from vaec.domain import LatentDomain
from vaec.plots import scatter_by_target

CONTOURS = (1, 2, 3)


def plot_latent_domain(
    z_mean: np.ndarray,
    labels: np.ndarray,
    domain: LatentDomain,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Scatter of z_mean coloured by class, with circles at 1, 2 and 3 sigma of the isotropic
    Gaussian fitted to the sampled z. With more than two latent dimensions the view is a PCA of
    z_mean: an orthonormal projection, so the k-sigma ball still projects onto a disk of radius
    k sigma, but a point drawn inside a disk may lie outside the ball in the hidden directions.
    """
    gaussian = domain.isotropic
    centre = np.asarray(gaussian.center, dtype=float)
    points = np.asarray(z_mean, dtype=float)
    if points.shape[1] > 2:
        pca = PCA(n_components=2).fit(points)
        points, centre = pca.transform(points), pca.transform(centre[None])[0]
        axes_names = ("PC1 of z_mean", "PC2 of z_mean")
    elif points.shape[1] == 1:
        points = np.column_stack([points[:, 0], np.zeros(len(points))])
        centre = np.array([centre[0], 0.0])
        axes_names = ("z_mean (1-D)", "")
    else:
        axes_names = ("z_mean[0]", "z_mean[1]")
    labels = np.asarray(labels)
    names = class_names
    if names is None and labels.dtype.kind != "f":
        names = [str(i) for i in range(int(labels.max()) + 1)]
    fig = Figure(figsize=(6.0, 6.4), layout="constrained")
    ax = fig.subplots()
    scatter_by_target(ax, points, labels, names)
    for k, style in zip(CONTOURS, ("-", "--", ":"), strict=True):
        ax.add_patch(Circle(tuple(centre), k * gaussian.sigma, fill=False, color="black",
                            linestyle=style, label=f"{k} sigma"))
    reach = 3.2 * gaussian.sigma
    low = np.minimum(points.min(axis=0), centre - reach)
    high = np.maximum(points.max(axis=0), centre + reach)
    # one span on both axes: circles stay round without blank margins
    middle, half = (low + high) / 2, float((high - low).max()) / 2
    ax.set_xlim(middle[0] - half, middle[0] + half)
    ax.set_ylim(middle[1] - half, middle[1] + half)
    ax.set_aspect("equal")
    ax.set_xlabel(axes_names[0])
    ax.set_ylabel(axes_names[1])
    handles, legend_labels = ax.get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="outside lower center", ncols=min(len(handles), 6),
               fontsize=8, markerscale=2)
    ax.set_title(f"domain of validity: sigma {gaussian.sigma:.2f} (fitted to the sampled z)")
    ax.grid(alpha=0.3)
    return fig
