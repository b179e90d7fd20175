"""Predictions of a run's final model on raw tables, with latent-domain confidence."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.transform import check_output_path, read_table, require_columns, write_table
from pipeline.validation import DataError
from vaec import VAEC

# written beside the model by the report writer (pipeline.report.writer.save_final_model)
PREPROCESSING_FILE = "preprocessing.json"
PREDICTION_PREFIX = "predicted_"


def load_final_model(folder: str | os.PathLike[str]) -> tuple[VAEC, list[str], dict[str, Any]]:
    """Load a run's ``final_model`` folder.

    Parameters
    ----------
    folder : path
        ``reports/<run>/final_model``: the saved :class:`vaec.VAEC` and ``preprocessing.json``.

    Returns
    -------
    model : VAEC
        The final model.
    channels : list of str
        Its input channels, in the order it reads them.
    scaling : dict
        ``mean`` and ``scale`` (float arrays, one value per channel) of the training scaler,
        and ``target``, the target column of the training data.

    Raises
    ------
    DataError
        When the folder is not a final model folder or its files disagree.
    """
    folder = Path(folder)
    path = folder / PREPROCESSING_FILE
    if not path.is_file():
        raise DataError(f"not a final model folder: {path} is missing")
    preprocessing = json.loads(path.read_text(encoding="utf-8"))
    channels = [str(c) for c in preprocessing["channels"]]
    scaling = {
        "mean": np.asarray(preprocessing["mean"], dtype=np.float64),
        "scale": np.asarray(preprocessing["scale"], dtype=np.float64),
        "target": preprocessing.get("target"),
    }
    model = VAEC.load(folder)
    sizes = {len(channels), len(scaling["mean"]), len(scaling["scale"]), model.config.n_inputs}
    if len(sizes) != 1:
        raise DataError(f"{folder}: the model and {PREPROCESSING_FILE} disagree on the inputs")
    return model, channels, scaling


def scaled_channels(
    frame: pd.DataFrame, channels: list[str], scaling: dict[str, Any]
) -> np.ndarray:
    """The model's ``channels`` of a raw table, standardised as in training."""
    frame = frame.rename(columns=str)
    require_columns(frame, channels, "of the model's channels")
    try:
        raw = frame[channels].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"the model's channels must be numeric: {err}") from err
    bad = [c for c, ok in zip(channels, np.isfinite(raw).all(axis=0), strict=True) if not ok]
    if bad:
        raise DataError(f"NaN or infinite values in: {', '.join(map(repr, bad))}")
    return (raw - scaling["mean"]) / scaling["scale"]


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
        (``class``, ``probability``, ``sigma_distance``, ``within_*_sigma``, ``p_value_z*``,
        ``confidence``, ...) prefixed ``predicted_`` so they never collide with the input's.
    """
    model, channels, scaling = load_final_model(folder)
    X = scaled_channels(frame, channels, scaling)
    predictions = model.predict_with_confidence(X, n_sigma=n_sigma)
    predictions.index = frame.index
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
    check_output_path(data_path, out_path)
    return write_table(predict_frame(folder, read_table(data_path), n_sigma), out_path)
