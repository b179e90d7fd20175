"""Write a run's report folder: report.json, report.md, report.html, selections, final model."""

from __future__ import annotations

import io
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
from pipeline.report.run_folders import new_run_folder
from pipeline.report.runs import REPORT_FILE
from pipeline.result import PruningResult
from vaec.persistence import atomic_write_bytes, atomic_write_text
from vaec.plots import plot_latent_domain, plot_latent_grid, plot_latent_view, plot_learning_curves

SELECTION_FILE = "selected_features.json"
MODEL_FOLDER = "final_model"
LATENT_FOLDER = "latent"


def _uri(fig: Figure) -> str:
    try:
        return figure_data_uri(fig)
    finally:
        fig.clear()


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
    data = result.split.columns(final.channels)
    z_train, _ = model.encode(data.X_train)
    z_val, _ = model.encode(data.X_val)
    y_train, y_val = _colour_values(model, data.y_train, len(z_train)), _colour_values(
        model, data.y_val, len(z_val))
    images["latent"] = _uri(plot_latent_view(z_train, y_train, z_val, y_val, class_names))
    if training.snapshots:
        images["latent_fixed"] = _uri(plot_latent_grid(training.snapshots[-1],
                                                       class_names=class_names))
    if model.latent_domain_ is not None:
        images["domain"] = _uri(plot_latent_domain(z_train, y_train, model.latent_domain_,
                                                   class_names))
    return images


def _colour_values(model: Any, y: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Class indices to colour by, or the target's values (regression), or nothing."""
    if model.classes_ is not None:
        return np.searchsorted(model.classes_, y)
    return np.asarray(y if y is not None else np.zeros(n_rows), dtype=np.float64)


def save_latent_grids(result: PruningResult, folder: Path, class_names: Sequence[str] | None) -> None:
    """Every latent snapshot of the final model's training as a PNG in ``folder``."""
    training = result.final.training if result.final is not None else None
    if training is None:
        return
    for snapshot in training.snapshots:
        fig = plot_latent_grid(snapshot, class_names=class_names)
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=72)
        finally:
            fig.clear()
        atomic_write_bytes(folder / f"latent_epoch{snapshot.epoch:05d}.png", buffer.getvalue())


def write_report(
    result: PruningResult,
    data_summary: dict[str, Any],
    reports_dir: str | os.PathLike[str] = "reports",
    *,
    run_name: str | None = None,
    folder: str | os.PathLike[str] | None = None,
    fingerprint: str | None = None,
    diff: dict[str, Any] | None = None,
    truth: dict[str, list[str]] | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write the run folder; return it and the report's content (what report.json holds).

    The folder is ``folder`` when given (made by :func:`new_run_folder`, e.g. written again
    after a failed attempt), else a new one under ``reports_dir`` named ``run_name`` (see
    :func:`new_run_folder`). Every file is written atomically and report.json comes last, so a
    folder with a report.json is complete and a failed write leaves the previous files intact.
    """
    if result.final is None:
        raise ValueError("a report needs the final model: run the selection with fit_final")
    if folder is None:
        folder = new_run_folder(reports_dir, run_name, data_summary["name"])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = figures(result, class_names)
    files = {"markdown": "report.md", "html": "report.html", "selection": SELECTION_FILE,
             "final_model": MODEL_FOLDER}
    result.final.save(folder / MODEL_FOLDER)
    save_latent_grids(result, folder / MODEL_FOLDER / LATENT_FOLDER, class_names)
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
