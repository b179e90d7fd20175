"""Fixed layouts for the figures of :mod:`vaec.plots` and the run report: margins in inches and
titles at a fixed height. Both skip work matplotlib would otherwise do at every draw (a
constrained layout measures every artist, as much work as drawing the figure; an axes title
placed automatically measures the axes' ticks)."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure


def margins(fig: Figure, left: float, bottom: float, top: float, right: float = 0.15,
            gaps: tuple[float, float] = (0.0, 0.0)) -> None:
    """Place the figure's grid of axes by its margins and its gaps (between columns, between
    rows), in inches."""
    width, height = fig.get_size_inches()
    n_rows, n_cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    cell_w = (width - left - right - (n_cols - 1) * gaps[0]) / n_cols
    cell_h = (height - bottom - top - (n_rows - 1) * gaps[1]) / n_rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=gaps[0] / cell_w, hspace=gaps[1] / cell_h)


def fixed_title(ax: Axes, text: str, **kwargs: Any) -> None:
    """``ax``'s title just above the axes (where matplotlib puts it when no ticks or label
    are at the top, which the figures here never have)."""
    ax.set_title(text, y=1.0, **kwargs)
