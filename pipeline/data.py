"""Data sources: scikit-learn's bundled sets, the synthetic madelon set, CSV/Parquet, DataFrames."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets

from pipeline.madelon import make_madelon
from pipeline.validation import DataError, validate_frame

BUILTIN_DATASETS = ("breast_cancer", "digits", "wine", "madelon")
FILE_SUFFIXES = (".csv", ".parquet", ".pq")
BUILTIN_TARGET = "target"


@dataclass
class Dataset:
    """A validated table: features, target, and what was dropped up front.

    Attributes
    ----------
    name : str
        ``breast_cancer`` etc., the file stem, or ``dataframe``.
    frame : DataFrame
        The feature columns (constant ones already dropped) and the target column.
    target : str
        Name of the target column.
    feature_names : list of str
        Feature columns in frame order.
    constant_columns : list of str
        Columns without variance, dropped before any training.
    truth : dict or None
        For madelon: the informative / redundant / noise column names.
    source : str
        ``builtin:<name>``, the resolved file path, or ``dataframe``.
    label_names : dict or None
        Readable names of the target's values (built-in sets, e.g. 0 -> ``malignant``).
    """

    name: str
    frame: pd.DataFrame
    target: str
    feature_names: list[str]
    constant_columns: list[str]
    truth: dict[str, list[str]] | None
    source: str
    label_names: dict[Any, str] | None = None

    def class_names(self, classes: Any) -> list[str]:
        """Names of ``classes`` (labels in index order) for legends: readable when known."""
        names = self.label_names or {}
        return [names.get(c, str(c)) for c in classes]

    @property
    def X(self) -> np.ndarray:
        """Feature matrix (float64)."""
        return self.frame[self.feature_names].to_numpy(dtype=np.float64)

    @property
    def y(self) -> np.ndarray:
        """Target labels."""
        return self.frame[self.target].to_numpy()

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the data."""
        counts = self.frame[self.target].value_counts().sort_index()
        return {
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "n_rows": len(self.frame),
            "n_features": len(self.feature_names),
            "n_classes": len(counts),
            "class_counts": {str(k): int(v) for k, v in counts.items()},
            "feature_names": list(self.feature_names),
            "constant_columns": list(self.constant_columns),
        }


def _builtin_frame(
    name: str, madelon_options: dict[str, Any] | None
) -> tuple[pd.DataFrame, Any, dict[Any, str] | None]:
    if name == "madelon":
        return *make_madelon(**(madelon_options or {})), None
    if name == "digits":
        bunch = sk_datasets.load_digits()
        columns = [f"pixel_{i // 8}_{i % 8}" for i in range(bunch.data.shape[1])]
    else:
        loader = {"breast_cancer": sk_datasets.load_breast_cancer, "wine": sk_datasets.load_wine}
        bunch = loader[name]()
        columns = [str(c) for c in bunch.feature_names]
    frame = pd.DataFrame(bunch.data, columns=columns)
    frame[BUILTIN_TARGET] = bunch.target
    return frame, None, {i: str(n) for i, n in enumerate(bunch.target_names)}


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DataError(
            f"unsupported data file type {suffix!r} ({path.name}); use one of {', '.join(FILE_SUFFIXES)}"
        )
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read {path}: {err}".splitlines()[0]) from err


def load_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    target: str | None = None,
    *,
    madelon_options: dict[str, Any] | None = None,
    val_size: float = 0.2,
    test_size: float = 0.2,
) -> Dataset:
    """Load and validate a data set; raises :class:`DataError` before any training.

    Parameters
    ----------
    source : str, path or DataFrame
        A built-in name (``breast_cancer``, ``digits``, ``wine``, ``madelon``), a ``.csv`` or
        ``.parquet`` path, or a DataFrame.
    target : str or None
        Target column; required for files and DataFrames (built-ins use ``target``).
    madelon_options : dict or None
        Arguments of :func:`pipeline.madelon.make_madelon`.
    val_size, test_size : float
        The split the data must support (every class needs a row in every part).
    """
    truth = label_names = None
    if isinstance(source, pd.DataFrame):
        name, origin, frame = "dataframe", "dataframe", source.copy()
    elif isinstance(source, str) and source in BUILTIN_DATASETS:
        frame, truth, label_names = _builtin_frame(source, madelon_options)
        name, origin = source, f"builtin:{source}"
        target = target or BUILTIN_TARGET
    else:
        path = Path(source)
        if path.suffix.lower() not in FILE_SUFFIXES and not path.exists():
            raise DataError(
                f"unknown dataset {str(source)!r}: use one of {', '.join(BUILTIN_DATASETS)} "
                f"or a {'/'.join(FILE_SUFFIXES)} file"
            )
        frame = _read_file(path)
        name, origin = path.stem, str(path.resolve())
    if target is None:
        raise DataError(f"a target column is required for {origin}")
    frame.columns = [str(c) for c in frame.columns]
    constant = validate_frame(frame, target, val_size=val_size, test_size=test_size)
    frame = frame.drop(columns=constant)
    features = [c for c in frame.columns if c != target]
    return Dataset(name, frame, target, features, constant, truth, origin, label_names)
