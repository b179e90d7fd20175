"""Write a run's report folder: report.json, report.md, report.html, selections, final model."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pipeline.report.content import jsonable, report_content
from pipeline.report.figures import plot_keep_frequency, plot_round_scores, plot_rounds_summary
from pipeline.report.html import figure_data_uri, render_html
from pipeline.report.markdown import render_markdown
from pipeline.report.runs import REPORT_FILE
from pipeline.result import PruningResult
from vaec.atomic_files import atomic_write_text
from vaec.plots import plot_latent_grid, plot_learning_curves
from vaec.plots_domain import plot_latent_domain

SELECTION_FILE = "selected_features.json"
MODEL_FOLDER = "final_model"
MAX_LATENT_GRIDS = 4


def _uri(fig: Figure) -> str:
    try:
        return figure_data_uri(fig)
    finally:
        fig.clear()


def _chosen_snapshots(epochs: Sequence[int], best: int) -> list[int]:
    """A few snapshot epochs: the first, the one at or after the best, and the last."""
    if len(epochs) <= MAX_LATENT_GRIDS:
        return list(epochs)
    at_best = next((e for e in epochs if e >= best), epochs[-1])
    middle = epochs[len(epochs) // 2]
    return sorted({epochs[0], middle, at_best, epochs[-1]})


def figures(result: PruningResult, class_names: Sequence[str] | None) -> dict[str, str]:
    """Every figure of the report as a data URI."""
    images = {}
    if result.rounds:  # a stability selection has none of its own
        images["summary"] = _uri(plot_rounds_summary(result.rounds))
    for record in result.rounds:
        images[f"round_{record.index}"] = _uri(plot_round_scores(record, result.config.threshold))
    stability = result.stability
    if stability is not None:
        images["stability"] = _uri(plot_keep_frequency(
            stability.ranked(), stability.frequency, stability.keep_frequency,
            stability.selected, stability.n_resamples))
    final = result.final
    if final is None or final.training is None:
        return images
    training = final.training
    images["curves"] = _uri(plot_learning_curves(training.history, training.strategy))
    model = final.model
    if model.latent_domain_ is not None:
        data = result.split.columns(final.channels)
        z_mean, _ = model.encode(data.X_train)
        labels = np.searchsorted(model.classes_, data.y_train)
        images["domain"] = _uri(plot_latent_domain(z_mean, labels, model.latent_domain_, class_names))
    by_epoch = {s.epoch: s for s in training.snapshots}
    for epoch in _chosen_snapshots(sorted(by_epoch), training.history.best_epoch):
        images[f"latent_{epoch}"] = _uri(plot_latent_grid(by_epoch[epoch], class_names=class_names))
    return images


def default_run_name(dataset_name: str) -> str:
    """``<dataset>-<UTC timestamp>``."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{dataset_name}-{stamp}"


def write_report(
    result: PruningResult,
    data_summary: dict[str, Any],
    reports_dir: str | os.PathLike[str] = "reports",
    *,
    run_name: str | None = None,
    fingerprint: str | None = None,
    diff: dict[str, Any] | None = None,
    truth: dict[str, list[str]] | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write the run folder; return it and the report's content (what report.json holds).

    Every file is written atomically and report.json comes last, so a folder with a
    report.json is complete and a failed write leaves the previous files intact.
    """
    if result.final is None:
        raise ValueError("a report needs the final model: run the selection with fit_final")
    folder = Path(reports_dir) / (run_name or default_run_name(data_summary["name"]))
    folder.mkdir(parents=True, exist_ok=True)
    images = figures(result, class_names)
    files = {"markdown": "report.md", "html": "report.html", "selection": SELECTION_FILE,
             "final_model": MODEL_FOLDER}
    result.final.save(folder / MODEL_FOLDER)
    report = report_content(
        result, data_summary, fingerprint=fingerprint, diff=diff, truth=truth, files=files
    )
    selection = jsonable({
        "selected": result.selected,
        "target": data_summary.get("target"),
        "dataset": data_summary.get("name"),
        "fingerprint": fingerprint,
    })
    atomic_write_text(folder / SELECTION_FILE, json.dumps(selection, indent=2))
    atomic_write_text(folder / "report.md", render_markdown(report))
    atomic_write_text(folder / "report.html", render_html(report, images))
    atomic_write_text(folder / REPORT_FILE, json.dumps(report, indent=2))
    return folder, report
