"""A figure as PNG bytes, and PNG bytes as the ``data:`` URI a self-contained page embeds."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

# The page is about 1200 px wide; the figures are 6-12.6 inches wide, so 80 dpi fits them
# unscaled (the text stays readable) and keeps each PNG small to draw and to embed.
PNG_DPI = 80


def figure_png(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG bytes (it is no pyplot figure: it goes with its last reference)."""
    if fig.get_layout_engine() is not None:
        # laid out once here: savefig would lay the figure out and draw it twice
        fig.dpi = dpi
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine(None)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, for a page that carries its images."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
