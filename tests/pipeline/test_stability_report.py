"""The report of a stability selection: report.json's stability section, the keep-frequency chart
with its cut, the sections of report.md and report.html, and ``vaec-select report RUN``."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from pipeline.data.dataset import load_dataset
from pipeline.report.figures import plot_keep_frequency
from pipeline.report.store import read_report
from pipeline.report.tables import report_tables
from pipeline.report.writer import render_page, report_content, write_report
from pipeline.selection import run_selection
from pipeline.settings import SelectionSettings

TINY = {"n_trials": 2, "latent_dim": 1, "epochs": 40, "max_drop_fraction": 0.5, "threads": 1,
        "encoder_widths": (16,), "head_widths": (8,)}


@pytest.fixture(scope="module")
def stability_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(200, 1))
    frame = pd.DataFrame(factor + 0.1 * rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    frame[["noise0", "noise1"]] = rng.normal(size=(200, 2))
    frame["flat"] = 0.0
    frame["label"] = (factor[:, 0] > 0).astype(int)
    dataset = load_dataset(frame, "label")
    result = run_selection(dataset, SelectionSettings.from_flat(**TINY, n_resamples=3, keep_frequency=0.6))
    folder, _ = write_report(result, dataset.summary(), tmp_path_factory.mktemp("reports"),
                             run_name="stable")
    return result, folder


def test_report_json_has_the_stability_section_and_no_rounds(stability_run):
    result, folder = stability_run
    report = read_report(folder).model_dump()
    stability = report["stability"]
    assert report["rounds"] == [] and report["stop_reason"] == "stability"
    assert stability["n_resamples"] == 3 and stability["keep_frequency"] == 0.6
    assert set(stability["frequency"]) == {"a", "b", "c", "noise0", "noise1"}  # not the constant
    assert stability["selected"] == report["selected"] == result.selected
    assert {"nogueira", "nogueira_low", "nogueira_high", "jaccard_mean", "jaccard_min",
            "error_bound", "mean_selected"} <= set(stability)
    assert [r["index"] for r in stability["resamples"]] == [0, 1, 2]
    fates = {f["channel"]: f for f in report["channel_fates"]}
    for channel, frequency in stability["frequency"].items():
        assert fates[channel]["evidence"] == frequency
        assert fates[channel]["decision"] == ("stable" if frequency >= 0.6 else "unstable")
        assert (fates[channel]["status"] == "kept") == (channel in result.selected)
    assert fates["flat"]["status"] == "constant"


def test_markdown_and_html_show_the_measures_and_the_chart(stability_run):
    result, folder = stability_run
    text = (folder / "report.md").read_text()
    assert "## Stability selection" in text and "## Rounds" not in text
    nogueira = result.stability.nogueira
    assert f"Nogueira stability index {nogueira:.2f} (95 % interval" in text
    assert "Pairwise Jaccard over the resamples: mean" in text
    assert "Expected number of noise channels among those at or over the cut: at most" in text
    assert "| rank | channel | keep frequency | kept in | mean rank | decision |" in text
    top = result.stability.frequency[result.selected[0]]
    assert f"| kept |  | stable (kept in {100 * top:.0f} % of the resamples) |" in text
    page = (folder / "report.html").read_text()
    assert '<h2 id="stability">Stability selection</h2>' in page
    assert 'alt="keep frequency of every channel, with the cut"' in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert all(s.startswith("data:image/png;base64,") for s in sources)


def test_the_keep_frequency_chart_sorts_the_bars_and_draws_the_cut():
    frequency = {"a": 0.3, "b": 1.0, "c": 0.7, "d": 0.0}
    ranked = sorted(frequency, key=lambda c: -frequency[c])
    fig = plot_keep_frequency(ranked, frequency, 0.6, ["b", "c"], n_resamples=10)
    ax = fig.axes[0]
    ticks = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True))
    assert [ticks[y] for y in sorted(ticks, reverse=True)] == ["b", "c", "a", "d"]  # top first
    bars = sorted(ax.patches, key=lambda p: -p.get_y())
    assert [round(p.get_width(), 2) for p in bars] == [1.0, 0.7, 0.3, 0.0]
    cuts = [line for line in ax.lines if list(line.get_xdata()) == [0.6, 0.6]]
    assert len(cuts) == 1
    assert "2 of 4 channels selected" in ax.get_title()


def test_the_report_command_prints_the_stability_summary(stability_run):
    _, folder = stability_run
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(folder)]) == 0
    assert "Nogueira stability index" in out.getvalue()
    assert "selected (" in out.getvalue()


def test_a_plain_report_has_no_stability_section():
    rng = np.random.default_rng(1)
    factor = rng.normal(size=(150, 1))
    frame = pd.DataFrame(factor + 0.1 * rng.normal(size=(150, 2)), columns=["a", "b"])
    frame["noise"] = rng.normal(size=150)
    frame["label"] = (factor[:, 0] > 0).astype(int)
    dataset = load_dataset(frame, "label")
    result = run_selection(dataset, SelectionSettings.from_flat(**{**TINY, "epochs": 20}))
    report = report_content(result, dataset.summary(), fingerprint=None, diff=None, truth=None,
                            files={})
    assert report["stability"] is None and report["rounds"]
    text = render_page("md", result, report, report_tables(result), {})
    assert "## Rounds" in text and "Stability selection" not in text
