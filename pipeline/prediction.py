"""Predictions of a run's final model on raw tables, with latent-domain confidence."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pipeline.data.tables import DataError, check_output_path, read_table, write_table
from pipeline.final_model import FinalModel, predictions_frame

PREDICTION_PREFIX = "predicted_"
MODEL_FOLDER, PREPROCESSING_FILE = "final_model", "preprocessing.json"


def model_folder(folder: str | os.PathLike[str]) -> Path:
    """The final model's folder of ``folder``: a run folder stands for its ``final_model/``,
    a model folder for itself."""
    folder = Path(folder)
    if not (folder / PREPROCESSING_FILE).is_file() and (folder / MODEL_FOLDER).is_dir():
        return folder / MODEL_FOLDER
    return folder


def predict_frame(
    folder: str | os.PathLike[str], frame: pd.DataFrame, n_sigma: float = 3.0
) -> pd.DataFrame:
    """The input table with the prediction and its latent-domain confidence appended.

    Parameters
    ----------
    folder : path
        A run's folder or its ``final_model`` folder.
    frame : DataFrame
        Raw rows holding (at least) the model's channels, unscaled; other columns are kept.
    n_sigma : float
        The N of the ``within_N_sigma`` flag.

    Returns
    -------
    DataFrame
        ``frame``'s columns, then those of :meth:`vaec.VAEC.predict_with_confidence`
        (``class``, ``probability``, ``sigma_distance``, ``tail_probability``,
        ``within_*_sigma``, ``p_value_z*``, ``confidence``, ...) prefixed ``predicted_``.

    Raises
    ------
    DataError
        When ``frame`` already has one of those columns (a table predicted before): the output
        would hold two columns of one name.
    """
    predictions = predictions_frame(FinalModel.load(model_folder(folder)), frame, n_sigma)
    predictions = predictions.add_prefix(PREDICTION_PREFIX)
    clash = [str(c) for c in predictions.columns if c in set(map(str, frame.columns))]
    if clash:
        shown = ", ".join(map(repr, clash[:3])) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
        raise DataError(f"the input already has the prediction column(s) {shown} (a table "
                        "predicted before?); drop or rename them first")
    return pd.concat([frame, predictions], axis=1)


def check_predict_output(
    out_path: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
) -> None:
    """Refuse an output that is not a table file, is the input table, or lies inside the model
    folder (``--out <model>/history.csv`` would overwrite the model's own files)."""
    check_output_path(out_path, data_path)
    out, model = Path(out_path).resolve(), Path(folder).resolve()
    if out == model or model in out.parents:
        raise DataError(f"--out {out_path} is inside the model folder {folder}; write the "
                        "predictions elsewhere")


def predict_file(
    folder: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    n_sigma: float = 3.0,
) -> Path:
    """Predict every row of a CSV/Parquet file and write the result atomically.

    ``out_path`` must be another file than ``data_path`` and lie outside the model folder
    (:func:`check_predict_output`); see :func:`predict_frame`.
    """
    check_predict_output(out_path, data_path, folder)
    return write_table(predict_frame(folder, read_table(data_path), n_sigma), out_path)
