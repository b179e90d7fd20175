"""The machine-readable content of a run's report (report.json)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from pipeline.report.runs import SCHEMA_VERSION
from pipeline.result import PruningResult


def jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and NaN made JSON-native (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def truth_scores(selected: list[str], truth: dict[str, list[str]]) -> dict[str, Any]:
    """Recall and precision of the relevant (informative + redundant) columns."""
    relevant = set(truth.get("informative", [])) | set(truth.get("redundant", []))
    hits = relevant & set(selected)
    return {
        "relevant": sorted(relevant),
        "recall": len(hits) / len(relevant) if relevant else None,
        "precision": len(hits) / len(selected) if selected else None,
        "missed": sorted(relevant - set(selected)),
        "noise_kept": sorted(set(selected) - relevant),
    }


def report_content(
    result: PruningResult,
    data_summary: dict[str, Any],
    *,
    fingerprint: str | None,
    diff: dict[str, Any] | None,
    truth: dict[str, list[str]] | None,
    files: dict[str, str],
) -> dict[str, Any]:
    """Everything report.json holds, JSON-native."""
    final = result.final
    history = final.training.history
    fates = result.channel_fates().astype(object).where(lambda f: f.notna(), None)
    return jsonable({
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
        "config": result.config.model_dump(mode="json"),
        "data": data_summary,
        "rounds": [r.to_dict() for r in result.rounds],
        "stop_reason": result.stop_reason,
        "cut": result.cut,
        "selected": result.selected,
        "dropped": result.dropped,
        "constant_columns": result.constant_columns,
        "ranking": result.ranking,
        "channel_fates": fates.to_dict(orient="records"),
        "rounds_frame": result.rounds_frame().astype(object).where(
            lambda f: f.notna(), None).to_dict(orient="records"),
        "final_model": {
            "strategy": final.strategy,
            "channels": final.channels,
            "metrics": final.metrics,
            "best_epoch": history.best_epoch,
            "epochs_run": final.training.epochs_run,
            "seconds": final.seconds,
        },
        "stability": result.stability.to_dict() if result.stability is not None else None,
        "truth": truth_scores(result.selected, truth) if truth else None,
        "diff": diff,
        "files": files,
    })
