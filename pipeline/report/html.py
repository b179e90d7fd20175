"""report.html: one self-contained page (inline CSS, images as data URIs)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from matplotlib.figure import Figure

from pipeline.report.channel_table import COLUMNS as CHANNEL_COLUMNS
from pipeline.report.channel_table import channel_cells
from pipeline.report.explain import HOW_TO_READ, stop_note
from pipeline.report.markdown import diff_text
from pipeline.report.round_table import columns, round_rows
from pipeline.report.stability_table import (
    FREQUENCY_COLUMNS,
    RESAMPLE_COLUMNS,
    frequency_rows,
    resample_rows,
    summary_lines,
)

# dropped channels named per round in the table (the channel table lists every one)
MAX_LISTED = 12
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1280px; color: #222;
  padding: 0 1.5em; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta, .note { color: #555; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f0f0f0; position: sticky; top: 0; }
tr.dropped td, tr.cut td { color: #a33; } tr.constant td { color: #888; }
.chips span { display: inline-block; background: #e6f0fa; border-radius: 4px; padding: 2px 6px;
  margin: 2px; font-size: 0.9em; }
img { width: 100%; height: auto; display: block; margin: 0.5em 0 1em; }
img.narrow { width: auto; max-width: 100%; }
details { margin: 0.5em 0 1em; } summary { cursor: pointer; color: #245; }
dl.read dt { font-weight: 600; margin-top: 0.4em; } dl.read dd { margin: 0 0 0 1.2em; }
.metric { font-size: 1.2em; margin-right: 1.5em; white-space: nowrap; }
.scroll { max-height: 34em; overflow-y: auto; display: inline-block; }
"""


def figure_data_uri(fig: Figure, dpi: int = 80) -> str:
    """PNG of a figure as a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, alt: str, narrow: bool = False) -> str:
    css = ' class="narrow"' if narrow else ""
    return f'<img src="{uri}" alt="{html.escape(alt)}"{css}>'


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))


def _table(heads: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    e = html.escape
    header = "".join(f"<th>{e(h)}</th>" for h in heads)
    body = "".join(
        f'<tr class="{e(css)}">' + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
        for cells, css in zip(rows, row_classes or [""] * len(rows), strict=True)
    )
    return f"<table><tr>{header}</tr>{body}</table>"


def _meta(report: dict[str, Any]) -> str:
    data = report["data"]
    task = data.get("task", "classification")
    target = {"classification": f"{data.get('n_classes')} classes",
              "regression": "a numeric target (regression)",
              "unsupervised": "no target (unsupervised)"}.get(task, task)
    return (f"{html.escape(report['created'])} · {data['n_rows']} rows · {data['n_features']} "
            f"channels · {target} · fingerprint {html.escape(str(report.get('fingerprint')))}")


def _stability_section(stability: dict[str, Any], image: str) -> str:
    """The summary, the keep-frequency chart with the cut, every channel and every resample."""
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(stability))
    return ('<h2 id="stability">Stability selection</h2>' + f"<ul>{summary}</ul>"
            + _img(image, "keep frequency of every channel, with the cut")
            + "<details><summary>Every channel's keep frequency</summary>"
            + '<div class="scroll">'
            + _table(list(FREQUENCY_COLUMNS), frequency_rows(stability)) + "</div></details>"
            + "<details><summary>Every resample</summary>"
            + _table(list(RESAMPLE_COLUMNS), resample_rows(stability)) + "</details>")


def render_html(report: dict[str, Any], images: dict[str, str]) -> str:
    """The page; ``images`` maps figure names (``summary``, ``round_<k>``, ``curves``,
    ``latent``, ``latent_fixed``, ``domain``, ``stability``) to data URIs."""
    data, final = report["data"], report["final_model"]
    e = html.escape
    metrics = "".join(f'<span class="metric">{e(k)} <b>{v:.3f}</b></span>'
                      for k, v in final["metrics"].items())
    sections = [("selection", "Selection"),
                ("stability", "Stability") if report.get("stability") else ("rounds", "Rounds"),
                ("channels", "Every channel"), ("model", "Final model"),
                ("read", "How to read this report")]
    parts = [
        f"<h1>Feature selection: {e(data['name'])}</h1>",
        f'<p class="meta">{_meta(report)}</p>',
        "<nav>" + "".join(f'<a href="#{i}">{e(t)}</a>' for i, t in sections) + "</nav>",
        f'<h2 id="selection">Selected: {len(report["selected"])} of {data["n_features"]} '
        "channels</h2>",
        '<p class="chips">' + "".join(f"<span>{e(c)}</span>" for c in report["selected"]) + "</p>",
        f"<p>{e(stop_note(report))}</p>",
        f"<p><b>Change since the previous run.</b> {e(diff_text(report.get('diff')))}</p>",
    ]
    if report.get("truth"):
        t = report["truth"]
        parts.append(f"<p><b>Against the known truth:</b> recall {_fmt(t['recall'], 2)}, "
                     f"precision {_fmt(t['precision'], 2)}; missed: "
                     f"{e(', '.join(t['missed']) or 'none')}; noise kept: "
                     f"{e(', '.join(t['noise_kept']) or 'none')}.</p>")
    if report["constant_columns"]:
        parts.append(f'<p class="note">Constant columns, set aside before the rounds: '
                     f"{e(', '.join(report['constant_columns']))}.</p>")
    # the rounds: the overview, the table, then every round's chart (the first open)
    rows = round_rows(report["rounds"])
    if report["rounds"]:  # a stability selection has none of its own
        parts += ['<h2 id="rounds">Rounds</h2>',
                  _img(images["summary"], "channels and validation score per round", narrow=True),
                  _table(list(columns(report["rounds"])), [row.cells(MAX_LISTED) for row in rows])]
    if report.get("stability"):
        parts.append(_stability_section(report["stability"], images["stability"]))
    for position, r in enumerate(report["rounds"]):
        opened = " open" if position == 0 else ""
        parts.append(f"<details{opened}><summary>{e(rows[position].summary())}</summary>"
                     + _img(images[f"round_{r['index']}"], f"channel scores of round {r['index']}")
                     + "</details>")
    fates = report["channel_fates"]
    parts += ['<h2 id="channels">Every channel</h2>',
              '<p class="note">Best rank first: the selected channels, then the others by the '
              "round they left (the last round first), best first within a round; the scores "
              "are those of the last round that trained on the channel.</p>",
              '<div class="scroll">'
              + _table(list(CHANNEL_COLUMNS), [channel_cells(f) for f in fates],
                       [f["status"].split()[0] for f in fates]) + "</div>"]
    parts += ['<h2 id="model">Final model</h2>',
              f"<p>{e(final['strategy'])} on {len(final['channels'])} channels, best epoch "
              f"{final['best_epoch']} of {final['epochs_run']}.</p><p>{metrics}</p>",
              _img(images["curves"], "learning curves")]
    if "latent" in images:
        parts.append("<h3>Where the rows sit in the neck</h3>"
                     '<p class="note">z_mean of the training and validation rows, each on its own '
                     "range (a PCA of z_mean when the neck is wider than two).</p>"
                     + _img(images["latent"], "latent space of the final model"))
    if "latent_fixed" in images:
        parts.append("<details><summary>The same at fixed ranges (sampled z in [-5, 5], z_mean "
                     "in [-3, 3]), as in the method note; every snapshot's grid is in the "
                     "model folder</summary>" + _img(images["latent_fixed"], "fixed-range grid")
                     + "</details>")
    if "domain" in images:
        parts.append("<h3>Domain of validity</h3>"
                     '<p class="note">The training rows\' z_mean with circles at 1, 2 and 3 '
                     "sigma of the isotropic Gaussian fitted to their sampled z: the region where "
                     "the head was trained. Predictions report each new row's distance from the "
                     "centre in these sigmas, and the reconstruction check's p-value (rows the "
                     "model reconstructs worse than its training rows do not look like them).</p>"
                     + _img(images["domain"], "latent domain", narrow=True))
    parts.append('<h2 id="read">How to read this report</h2><dl class="read">'
                 + "".join(f"<dt>{e(term)}</dt><dd>{e(text)}</dd>" for term, text in HOW_TO_READ)
                 + "</dl>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>vaec-select: "
            f"{e(data['name'])}</title><style>{STYLE}</style></head><body>{body}</body></html>")
