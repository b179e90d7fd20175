"""Predictions of a run's final model on raw tables, with latent-domain confidence."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pipeline.final_model import FinalModel, predictions_frame
from pipeline.tables import check_output_path, read_table, write_table

PREDICTION_PREFIX = "predicted_"


def predict_frame(
    folder: str | os.PathLike[str], frame: pd.DataFrame, n_sigma: float = 3.0
) -> pd.DataFrame:
    """The input table with the prediction and its latent-domain confidence appended.

    Parameters
    ----------
    folder : path
        A run's ``final_model`` folder.
    frame : DataFrame
        Raw rows holding (at least) the model's channels, unscaled; other columns are kept.
    n_sigma : float
        The N of the ``within_N_sigma`` flag.

    Returns
    -------
    DataFrame
        ``frame``'s columns, then those of :meth:`vaec.VAEC.predict_with_confidence`
        (``class``, ``probability``, ``sigma_distance``, ``tail_probability``,
        ``within_*_sigma``, ``p_value_z*``, ``confidence``, ...) prefixed ``predicted_`` so they
        never collide with the input's.
    """
    predictions = predictions_frame(FinalModel.load(folder), frame, n_sigma)
    return pd.concat([frame, predictions.add_prefix(PREDICTION_PREFIX)], axis=1)


def predict_file(
    folder: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    n_sigma: float = 3.0,
) -> Path:
    """Predict every row of a CSV/Parquet file and write the result atomically.

    ``out_path`` must be another file than ``data_path``; see :func:`predict_frame`.
    """
    check_output_path(out_path, data_path)
    return write_table(predict_frame(folder, read_table(data_path), n_sigma), out_path)
