"""A finished run on new tables: its selected columns kept for downstream (``transform``), or its final
model's predictions, with latent-domain confidence (``predict``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator

from pipeline.data.tables import DataError, check_output_path, read_table, require_columns, write_table
from pipeline.final_model import MODEL_FOLDER, PREPROCESSING_FILE, FinalModel, predictions_frame


def apply_selection(frame: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """The selected columns of ``frame`` in the selection's order (a parsed ``selected_features.json``),
    then its ``target`` and ``weight_column`` if ``frame`` has them: what a downstream model of the
    same rows trains on. A :class:`DataError` when the selection is malformed
    (:func:`check_selection`) or selected columns are missing (all of them are named)."""
    stored = check_selection(selection)
    frame = frame.rename(columns=str)
    require_columns(frame, stored.selected, "selected column(s)")
    extra = [c for c in (stored.target, stored.weight_column) if c and c in frame.columns]
    return frame[stored.selected + [c for c in extra if c not in stored.selected]]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SelectionFile(BaseModel):
    """What a run's ``selected_features.json`` says of its columns (the rest of the file is for
    people): the ``selected`` column names in order, unique, at least one; the ``target`` and the
    ``weight_column``, each a name or null."""

    selected: list[str]
    target: str | None = None
    weight_column: str | None = None

    @field_validator("selected", mode="before")
    @classmethod
    def _column_names(cls, entries: Any) -> list[str]:
        odd = [c for c in entries if isinstance(c, bool) or not isinstance(c, (str, int, float))]
        if odd:
            raise ValueError(f"'selected' must list column names, not {_shown(odd[0])}")
        selected = [str(c) for c in entries]
        if not selected:
            raise ValueError("'selected' is empty, there is no column to keep")
        twice = sorted({c for c in selected if selected.count(c) > 1})
        if twice:
            raise ValueError(f"'selected' lists {', '.join(map(repr, twice[:5]))} more than once")
        return selected

    @field_validator("target", "weight_column", mode="before")
    @classmethod
    def _column_name(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{info.field_name}' must be a column name or null, not {_shown(value)}")
        return value


def check_selection(selection: Any, source: str = "the selection") -> SelectionFile:
    """A parsed ``selected_features.json`` as a :class:`SelectionFile`, or a one-line
    :class:`DataError` naming ``source``."""
    if not isinstance(selection, dict) or not isinstance(selection.get("selected"), list):
        raise DataError(f"{source} has no 'selected' list; is it a selected_features.json?")
    try:
        return SelectionFile.model_validate(selection)
    except ValidationError as err:
        raise DataError(f"{source}: {err.errors()[0]['ctx']['error']}") from None


def read_selection(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``selected_features.json`` written by a run, checked by :func:`check_selection`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"selection file not found: {path}")
    try:
        selection = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not JSON: {err}") from err
    check_selection(selection, str(path))
    return selection


def transform_file(selection_path: str | os.PathLike[str], data_path: str | os.PathLike[str],
                   out_path: str | os.PathLike[str]) -> Path:
    """Keep the columns a run's ``selected_features.json`` selects of a CSV/Parquet file and write them
    atomically to ``out_path`` (CSV or Parquet by suffix; never the input file); return it."""
    check_output_path(out_path, data_path, selection_path)
    return write_table(apply_selection(read_table(data_path), read_selection(selection_path)), out_path)


# predictions ------------------------------------------------------------------------------------

PREDICTION_PREFIX = "predicted_"


def model_folder(folder: str | os.PathLike[str]) -> Path:
    """The final model's folder of ``folder``: a run folder stands for its ``final_model/``, a model
    folder for itself."""
    folder = Path(folder)
    if not (folder / PREPROCESSING_FILE).is_file() and (folder / MODEL_FOLDER).is_dir():
        return folder / MODEL_FOLDER
    return folder


DOMAIN_LEVEL = 0.05  # a row reconstructed worse than 95 % of the training rows is flagged
PREDICTION_COLUMNS = ("class", "probability", "prediction")
# the domain test that flags out-of-domain rows (benchmarks/confidence.py), and its flag
DOMAIN_COLUMNS = ("reconstruction_p_value", "in_domain")
# the method's proposed latent scores: they place a row among the classes but do not flag
# out-of-domain rows (the encoder maps unknown rows towards the centre)
PROPOSED_PREFIX = "proposed_"


def predict_frame(folder: str | os.PathLike[str], frame: pd.DataFrame, n_sigma: float = 3.0, *,
                  all_confidence: bool = False) -> pd.DataFrame:
    """``frame`` (raw, unscaled rows holding at least the model's channels) with the predictions of
    the final model in ``folder`` (a run's folder or its ``final_model``) appended: ``class`` and
    ``probability`` (``prediction`` for a regression target), ``reconstruction_p_value`` and
    ``in_domain`` (false under :data:`DOMAIN_LEVEL`; models whose decoder was trained), and with
    ``all_confidence`` the reconstruction error and the method's proposed latent scores
    (``proposed_*``, ``within_N_sigma`` at ``n_sigma``); all prefixed ``predicted_``. A
    :class:`DataError` when ``frame`` already has one of them (a table predicted before)."""
    scores = predictions_frame(FinalModel.load(model_folder(folder)), frame, n_sigma)
    if "reconstruction_p_value" in scores:
        scores["in_domain"] = scores["reconstruction_p_value"] >= DOMAIN_LEVEL
    shown = [c for c in (*PREDICTION_COLUMNS, *DOMAIN_COLUMNS) if c in scores]
    predictions = scores[shown]
    if all_confidence:
        rest = [c for c in scores.columns if c not in shown]
        latent = [c for c in rest if not c.startswith("reconstruction_")]
        proposed = scores[latent].add_prefix(PROPOSED_PREFIX)
        predictions = pd.concat([predictions, scores[[c for c in rest if c not in latent]], proposed], axis=1)
    predictions = predictions.add_prefix(PREDICTION_PREFIX)
    clash = [str(c) for c in predictions.columns if c in set(map(str, frame.columns))]
    if clash:
        shown = ", ".join(map(repr, clash[:3])) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
        raise DataError(f"the input already has the prediction column(s) {shown} (a table "
                        "predicted before?); drop or rename them first")
    return pd.concat([frame, predictions], axis=1)


def check_predict_output(out_path: str | os.PathLike[str], data_path: str | os.PathLike[str],
                         folder: str | os.PathLike[str]) -> None:
    """Refuse an output that is not a table file, is the input table, or lies inside the model folder
    (``--out <model>/history.csv`` would overwrite the model's own files)."""
    check_output_path(out_path, data_path)
    out, model = Path(out_path).resolve(), Path(folder).resolve()
    if out == model or model in out.parents:
        raise DataError(f"--out {out_path} is inside the model folder {folder}; write the predictions "
                        "elsewhere")


def predict_file(folder: str | os.PathLike[str], data_path: str | os.PathLike[str],
                 out_path: str | os.PathLike[str], *, n_sigma: float = 3.0,
                 all_confidence: bool = False) -> Path:
    """Predict every row of a CSV/Parquet file (:func:`predict_frame`) and write the result atomically
    to ``out_path``, another file than ``data_path`` outside the model folder
    (:func:`check_predict_output`)."""
    check_predict_output(out_path, data_path, folder)
    return write_table(predict_frame(folder, read_table(data_path), n_sigma, all_confidence=all_confidence),
                       out_path)
