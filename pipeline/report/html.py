"""report.html: one self-contained page (inline CSS, images as data URIs)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from matplotlib.figure import Figure

from pipeline.report.channel_table import COLUMNS as CHANNEL_COLUMNS
from pipeline.report.channel_table import channel_cells
from pipeline.report.markdown import diff_text
from pipeline.report.round_table import COLUMNS, round_rows
from pipeline.report.stability_table import (
    FREQUENCY_COLUMNS,
    RESAMPLE_COLUMNS,
    frequency_rows,
    resample_rows,
    summary_lines,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f0f0f0; } tr.dropped td { color: #a33; } tr.constant td { color: #888; }
.chips span { display: inline-block; background: #e6f0fa; border-radius: 4px; padding: 2px 6px;
  margin: 2px; font-size: 0.9em; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
.metric { font-size: 1.3em; margin-right: 1.5em; }
"""


def figure_data_uri(fig: Figure, dpi: int = 80) -> str:
    """PNG of a figure as a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))


def _table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    e = html.escape
    header = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def _stability_section(stability: dict[str, Any], image: str) -> str:
    """The summary, the keep-frequency chart with the cut, every channel and every resample."""
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(stability))
    return (f"<h2>Stability selection</h2><ul>{summary}</ul>"
            + _img(image, "keep frequency of every channel, with the cut")
            + _table(FREQUENCY_COLUMNS, frequency_rows(stability))
            + "<h3>Resamples</h3>" + _table(RESAMPLE_COLUMNS, resample_rows(stability)))


def render_html(report: dict[str, Any], images: dict[str, str]) -> str:
    """The page; ``images`` maps figure names (``summary``, ``round_<k>``, ``stability``,
    ``curves``, ``latent_<epoch>``) to data URIs."""
    data, final = report["data"], report["final_model"]
    e = html.escape
    metrics = "".join(f'<span class="metric">{e(k)} <b>{v:.3f}</b></span>'
                      for k, v in final["metrics"].items())
    parts = [
        f"<h1>Feature selection: {e(data['name'])}</h1>",
        f'<p class="meta">{e(report["created"])} · {data["n_rows"]} rows · {data["n_features"]} '
        f'channels · {data["n_classes"]} classes · stop reason <b>{e(report["stop_reason"])}</b>'
        f' · fingerprint {e(str(report.get("fingerprint")))}</p>',
        f"<h2>Selected: {len(report['selected'])} of {data['n_features']} channels</h2>",
        '<p class="chips">' + "".join(f"<span>{e(c)}</span>" for c in report["selected"]) + "</p>",
        f"<h2>Change since the previous run</h2><p>{e(diff_text(report.get('diff')))}</p>",
    ]
    if report.get("truth"):
        t = report["truth"]
        parts.append(f"<p>Against the known truth: recall <b>{_fmt(t['recall'], 2)}</b>, precision "
                     f"<b>{_fmt(t['precision'], 2)}</b>.</p>")
    if report["rounds"]:  # a stability selection has none of its own
        parts.append("<h2>Rounds</h2>" + _img(images["summary"], "kept count and accuracy per round"))
        parts.append(_table(COLUMNS, [row.cells() for row in round_rows(report["rounds"])]))
    for r in report["rounds"]:
        parts.append(_img(images[f"round_{r['index']}"], f"channel scores of round {r['index']}"))
    if report.get("stability"):
        parts.append(_stability_section(report["stability"], images["stability"]))
    header = "".join(f"<th>{e(c)}</th>" for c in CHANNEL_COLUMNS)
    fates = "".join(
        f'<tr class="{e(f["status"].split()[0])}">'
        + "".join(f"<td>{e(c)}</td>" for c in channel_cells(f)) + "</tr>"
        for f in report["channel_fates"]
    )
    parts.append(f"<h2>Every channel</h2><table><tr>{header}</tr>{fates}</table>")
    parts.append(f"<h2>Final model</h2><p>{e(final['strategy'])} on {len(final['channels'])} "
                 f"channels, best epoch {final['best_epoch']} of {final['epochs_run']}.</p>"
                 f"<p>{metrics}</p>" + _img(images["curves"], "learning curves"))
    for name in sorted((k for k in images if k.startswith("latent_")),
                       key=lambda k: int(k.split("_")[1])):
        parts.append(_img(images[name], f"latent space, epoch {name.split('_')[1]}"))
    if "domain" in images:
        parts.append("<h3>Latent domain of validity</h3>" + _img(images["domain"], "latent domain"))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>vaec-select: "
            f"{e(data['name'])}</title><style>{STYLE}</style></head><body>{body}</body></html>")
