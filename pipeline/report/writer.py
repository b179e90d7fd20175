"""Write a run's report folder: report.json, report.md and report.html (from the Jinja2 templates in
``templates/``), selected_features.json and the final model.

Every file is written to a temporary name and renamed, report.json last: a folder with a report.json
is complete. A run whose report cannot be written (a full disk) removes what it wrote with
:func:`discard_unfinished`, so no half-written folder is left for a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from pipeline.final_model import MODEL_FOLDER
from pipeline.report.claim import CLAIM_FILE, is_claimed, release
from pipeline.report.figures import latent_grid_pngs, page_figures
from pipeline.report.store import REPORT_FILE, REPORT_SCHEMA, claim_named_run
from pipeline.report.tables import Table, kept_after, kept_without_passing, report_tables
from pipeline.result import PruningResult
from pipeline.rounds.record import (
    STOP_ACCURACY_GUARD,
    STOP_ALL_PASS,
    STOP_AUTO,
    STOP_MIN_FEATURES,
    STOP_N_FEATURES,
)
from vaec.persistence import atomic_write_bytes, atomic_write_text

SELECTION_FILE, LATENT_FOLDER = "selected_features.json", "latent"
STOP_WORDS = {
    STOP_ALL_PASS: "every channel left passed",
    STOP_MIN_FEATURES: "the floor of min_features channels was reached",
    STOP_N_FEATURES: "the requested number of channels was reached",
    STOP_ACCURACY_GUARD: "the accuracy guard ended the loop",
    STOP_AUTO: "the minimal subset was found: past the all-relevant set, the fewest channels "
               "whose loss per row is within one standard error of the best round's",
}
RESAMPLES = {"subsample": "half of every class, without replacement",
             "bootstrap": "training rows drawn with replacement"}


def jsonable(value: Any) -> Any:
    """Numpy scalars and arrays made JSON-native, NaN and infinities null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


def truth_scores(selected: list[str], truth: dict[str, list[str]]) -> dict[str, Any]:
    """Recall and precision of the relevant (informative + redundant) columns."""
    relevant, kept = set(truth.get("informative", [])) | set(truth.get("redundant", [])), set(selected)
    return {"relevant": sorted(relevant),
            "recall": len(relevant & kept) / len(relevant) if relevant else None,
            "precision": len(relevant & kept) / len(kept) if kept else None,
            "missed": sorted(relevant - kept), "noise_kept": sorted(kept - relevant)}


def selection_diff(previous_selected: list[str], current_selected: list[str],
                   previous_run: str | None = None) -> dict[str, Any]:
    """Channels added and removed since the previous run's selection (see :func:`diff_text`)."""
    before, now = set(previous_selected), set(current_selected)
    return {"previous_run": previous_run,
            "added": [c for c in current_selected if c not in before],
            "removed": [c for c in previous_selected if c not in now],
            "unchanged": len(before & now)}


def diff_text(diff: dict[str, Any] | None) -> str:
    """What changed since the previous run on the same data and settings, in one sentence."""
    if not diff:
        return "No earlier run with the same data and settings."
    return (f"Compared with `{diff['previous_run']}`: added {', '.join(diff['added']) or 'none'}; "
            f"removed {', '.join(diff['removed']) or 'none'}; {diff['unchanged']} unchanged.")


def notes(result: PruningResult) -> list[str]:
    """The report's opening sentences: why the loop stopped (with the guard's evidence, what it
    brought back and the last cut), or what a stability selection ran and measured."""
    text = render_template("notes.j2", result=result, stops=STOP_WORDS, resamples=RESAMPLES)
    return [line for line in text.splitlines() if line]


def default_run_name(dataset_name: str) -> str:
    """``<dataset>-<UTC timestamp>``, a visible single folder name whatever the data is called."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = "".join("_" if c in "/\\\0" else c for c in str(dataset_name)).lstrip(".")
    return f"{name or 'run'}-{stamp}"


def new_run_folder(reports_dir: str | os.PathLike[str], run_name: str | None,
                   dataset_name: str) -> Path:
    """Create the folder of a new run: ``run_name`` (free, claimed by this process already, or an
    unfinished run's), or ``<dataset>-<UTC timestamp>`` with ``-2``, ``-3``, ... when two runs start in
    one second."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    if run_name is not None:  # claimed before training, or now (see pipeline.report.claim)
        return claim_named_run(root, run_name)
    base = default_run_name(dataset_name)
    for n in itertools.count(1):
        folder = root / (base if n == 1 else f"{base}-{n}")
        with contextlib.suppress(FileExistsError):
            folder.mkdir()  # atomic: of two runs asking for one name, one gets it
            return folder
    raise AssertionError("unreachable")


def discard_unfinished(folder: str | os.PathLike[str]) -> None:
    """Remove what a failed report write left in a run folder without report.json, and the folder with
    it; a named run's claim stays, so the same command takes the folder up again. What cannot be
    removed is left as it is (the folder has no report.json: no run lists it)."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / REPORT_FILE).exists():
        return
    for child in (c for c in folder.iterdir() if c.name != CLAIM_FILE):
        with contextlib.suppress(OSError):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty: no claim file in it


def report_content(result: PruningResult, data_summary: dict[str, Any], *, fingerprint: str | None,
                   diff: dict[str, Any] | None, truth: dict[str, list[str]] | None, files: dict[str, str],
                   tables: dict[str, Table] | None = None) -> dict[str, Any]:
    """Everything report.json holds, JSON-native: the run's data, and its opening sentences (``notes``)
    and ``tables`` as rendered."""
    final = result.final
    assert final is not None and final.training is not None
    tables = report_tables(result) if tables is None else tables

    def records(frame: Any) -> list[dict[str, Any]]:
        return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")

    return jsonable({
        "schema_version": REPORT_SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint, "config": result.config.model_dump(mode="json"), "data": data_summary,
        "rounds": [r.to_dict() for r in result.rounds], "stop_reason": result.stop_reason,
        "cut": result.cut, "selected": result.selected_columns,
        "dropped": result.dropped_columns, "selected_channels": result.selected,
        "column_fates": records(result.column_fates()),
        "restored": result.restored, "unconfirmed": result.unconfirmed,
        "constant_columns": result.constant_columns, "ranking": result.ranking,
        "channel_fates": records(result.channel_fates()),
        "rounds_frame": records(result.rounds_frame()),
        "final_model": {"strategy": final.strategy, "channels": final.channels,
                        "metrics": final.metrics, "best_epoch": final.training.history.best_epoch,
                        "epochs_run": final.training.epochs_run, "seconds": final.seconds},
        "stability": result.stability.to_dict() if result.stability is not None else None,
        "truth": truth_scores(result.selected, truth) if truth else None,
        "diff": diff, "files": files, "notes": notes(result),
        "tables": {name: table.model_dump() for name, table in tables.items()}})


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                              autoescape=jinja2.select_autoescape(["html.j2"]), keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def render_template(name: str, **context: Any) -> str:
    """One of the report's templates (``templates/<name>``) rendered with ``context``."""
    return _templates().get_template(name).render(**context)


def render_page(kind: str, result: PruningResult, report: dict[str, Any], tables: dict[str, Table],
                images: dict[str, str], grids: Sequence[str] = ()) -> str:
    """report.md (``kind`` ``md``) or report.html (``html``, its figures ``images``: data URIs by name,
    see :func:`~pipeline.report.figures.page_figures`)."""
    why: dict[str, str] = {}
    for channel, reason in kept_without_passing(result).items():  # by the user's columns
        why.setdefault(result.column_of(channel), reason)
    return render_template(
        f"report.{kind}.j2", report=report, data=report["data"], final=report["final_model"], tables=tables,
        chips=[(c, why.get(c)) for c in result.selected_columns], unconfirmed=list(why.items()),
        diff=diff_text(report["diff"]), images=images, grids=list(grids),
        rows=list(zip(result.rounds, kept_after(result), strict=True)))


def write_report(result: PruningResult, data_summary: dict[str, Any],
                 reports_dir: str | os.PathLike[str] = "reports", *, run_name: str | None = None,
                 folder: str | os.PathLike[str] | None = None, fingerprint: str | None = None,
                 diff: dict[str, Any] | None = None, truth: dict[str, list[str]] | None = None,
                 class_names: Sequence[str] | None = None,
                 latent_grids: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write the run folder; return it and the report's content (what report.json holds).

    The folder is ``folder`` when given (e.g. written again after a failed attempt), else a new one
    under ``reports_dir`` named ``run_name`` (:func:`new_run_folder`). ``latent_grids`` also writes the
    latent grid of every snapshot of the final model's training to ``final_model/latent/`` (off by
    default: they cost more than the rest of the report).
    """
    if result.final is None:
        raise ValueError("a report needs the final model: run the selection with fit_final")
    claimed_here = folder is None and run_name is not None and not is_claimed(Path(reports_dir) / run_name)
    folder = Path(new_run_folder(reports_dir, run_name, data_summary["name"]) if folder is None else folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        images = page_figures(result, class_names)
        result.final.save(folder / MODEL_FOLDER)
        grids = []
        for name, png in latent_grid_pngs(result, class_names) if latent_grids else ():
            grids.append(f"{MODEL_FOLDER}/{LATENT_FOLDER}/{name}")
            atomic_write_bytes(folder / grids[-1], png)
        files = {"markdown": "report.md", "html": "report.html", "selection": SELECTION_FILE,
                 "final_model": MODEL_FOLDER}
        tables = report_tables(result)
        report = report_content(result, data_summary, fingerprint=fingerprint, diff=diff, truth=truth,
                                files=files, tables=tables)
        selection = jsonable({"selected": result.selected_columns, "channels": result.selected,
                              "target": data_summary.get("target"),
                              "weight_column": data_summary.get("weight_column"),
                              "dataset": data_summary.get("name"), "fingerprint": fingerprint})
        atomic_write_text(folder / SELECTION_FILE, json.dumps(selection, indent=2))
        atomic_write_text(folder / "report.md", render_page("md", result, report, tables, {}, grids))
        atomic_write_text(folder / "report.html", render_page("html", result, report, tables, images, grids))
        atomic_write_text(folder / REPORT_FILE, json.dumps(report, indent=2))
        return folder, report
    finally:
        if claimed_here:  # a claim this call took ends with it; a caller's stays the caller's
            release(folder)
