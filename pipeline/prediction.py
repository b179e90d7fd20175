"""Predictions of a run's final model on raw tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.transform import read_table, write_table
from pipeline.validation import DataError
from vaec import VAEC

PREPROCESSING_FILE = "preprocessing.json"


def load_final_model(folder: str | os.PathLike[str]) -> tuple[VAEC, dict]:
    """The model of a run's ``final_model`` folder and the scaling of its input channels."""
    folder = Path(folder)
    path = folder / PREPROCESSING_FILE
    if not path.is_file():
        raise DataError(f"not a final model folder: {path} is missing")
    return VAEC.load(folder), json.loads(path.read_text(encoding="utf-8"))


def scaled_channels(frame: pd.DataFrame, preprocessing: dict) -> np.ndarray:
    """The model's channels of a raw table, scaled as in training."""
    channels = preprocessing["channels"]
    missing = [c for c in channels if c not in frame.columns]
    if missing:
        raise DataError(f"the model's channels are missing from the data: {', '.join(map(repr, missing))}")
    raw = frame[channels].to_numpy(dtype=np.float64)
    bad = [c for c, ok in zip(channels, np.isfinite(raw).all(axis=0), strict=True) if not ok]
    if bad:
        raise DataError(f"NaN or infinite values in: {', '.join(map(repr, bad))}")
    return (raw - np.asarray(preprocessing["mean"])) / np.asarray(preprocessing["scale"])


def predict_frame(folder: str | os.PathLike[str], frame: pd.DataFrame, n_sigma: float = 3.0) -> pd.DataFrame:
    """The input table with the predicted class and its probability appended."""
    model, preprocessing = load_final_model(folder)
    X = scaled_channels(frame, preprocessing)
    if hasattr(model, "predict_with_confidence"):
        predictions = model.predict_with_confidence(X, n_sigma=n_sigma)
    else:
        proba = model.predict_proba(X)
        predictions = pd.DataFrame({
            "class": model.classes_[proba.argmax(axis=1)],
            "probability": proba.max(axis=1),
        })
    predictions.index = frame.index
    return pd.concat([frame, predictions.add_prefix("predicted_")], axis=1)


def predict_file(
    folder: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    n_sigma: float = 3.0,
) -> Path:
    """Predict every row of a CSV/Parquet file and write the result (never over the input)."""
    if Path(out_path).resolve() == Path(data_path).resolve():
        raise DataError(f"--out {out_path} is the input file; write the result elsewhere")
    return write_table(predict_frame(folder, read_table(data_path), n_sigma), out_path)
