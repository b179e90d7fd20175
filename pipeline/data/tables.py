"""Tables in and out: reading and writing CSV / Parquet (the one place that knows the file
formats), and the checks a table and its row weights pass before any training, each failure one
line naming the columns."""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vaec.persistence import atomic_write

if TYPE_CHECKING:
    from vaec.tasks import Task


class DataError(ValueError):
    """Bad input data; the one-line message names the offending columns or parameter."""


def _names(columns: Sequence[object], limit: int = 8) -> str:
    shown = ", ".join(repr(str(c)) for c in list(columns)[:limit])
    more = len(columns) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def minimum_class_size(val_size: float, test_size: float) -> int:
    """Smallest class that still puts at least one row into each part of a stratified split."""
    train_size = 1.0 - val_size - test_size
    smallest = min(f for f in (train_size, val_size, test_size) if f > 0)
    return max(2 if test_size == 0 else 3, math.ceil(1.0 / smallest))


def check_target(y: np.ndarray, target: str, *, val_size: float, test_size: float) -> None:
    """At least two classes, none too small for the stratified split, no missing labels."""
    labels = pd.Series(np.asarray(y).ravel())
    missing = int(labels.isna().sum())
    if missing:
        raise DataError(f"target column {target!r} has {missing} missing values")
    counts = labels.value_counts()
    if len(counts) < 2:
        word = "class" if len(counts) == 1 else "classes"
        raise DataError(f"target column {target!r} has {len(counts)} {word}; at least 2 are needed")
    need = minimum_class_size(val_size, test_size)
    small = counts[counts < need]
    if len(small):
        if len(small) == 1:
            label, n = next(iter(small.items()))
            detail = f"class {label!r} has {n} rows"
        else:
            shown = ", ".join(f"{label!r} has {n}" for label, n in list(small.items())[:3])
            more = f", and {len(small) - 3} more" if len(small) > 3 else ""
            detail = f"{len(small)} of {len(counts)} classes have too few rows ({shown}{more})"
        raise DataError(
            f"target column {target!r}: {detail}; a stratified split with val_size={val_size}, "
            f"test_size={test_size} needs at least {need} per class{_measurement_hint(labels)}")


MIN_REGRESSION_VALUES = 3


def check_regression_target(y: np.ndarray, target: str) -> None:
    """A numeric target with no missing or infinite values and some spread."""
    values = pd.Series(np.asarray(y).ravel())
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DataError(f"target column {target!r} must be numeric for regression")
    bad = int((~np.isfinite(values.to_numpy(dtype=np.float64))).sum())
    if bad:
        raise DataError(f"target column {target!r} has {bad} missing or infinite values")
    if values.nunique() < MIN_REGRESSION_VALUES:
        raise DataError(f"target column {target!r} has {values.nunique()} distinct values; "
                        f"regression needs at least {MIN_REGRESSION_VALUES}")


def _measurement_hint(labels: pd.Series) -> str:
    """A hint when the target looks like a measurement rather than classes."""
    if labels.dtype.kind != "f":
        return ""
    values = labels.to_numpy(dtype=np.float64)
    if np.all(values == np.round(values)):
        return ""
    return (f" (it holds {labels.nunique()} distinct non-integer values: a measurement? "
            "task='regression' treats it as one)")


def _unknown(named: Sequence[str], columns: Sequence[str], setting: str) -> list[str]:
    unknown = [n for n in named if n not in set(columns)]
    return [f"{setting} names {_names(unknown)}, not feature column(s) (check the spelling; "
            "the target is not a feature)"] if unknown else []


def column_problems(features: pd.DataFrame, kinds: dict[str, str], *,
                    categorical: Sequence[str] = (), keep_columns: Sequence[str] = (),
                    groups: Sequence[Sequence[str]] = ()) -> list[str]:
    """Every problem of the feature columns, each naming its columns and the fix."""
    columns = [str(c) for c in features.columns]
    problems = _unknown(categorical, columns, "categorical")
    problems += _unknown(keep_columns, columns, "keep_columns")
    grouped = [c for group in groups for c in group]
    problems += _unknown(grouped, columns, "groups")
    twice = sorted({c for c in grouped if grouped.count(c) > 1})
    if twice:
        problems.append(f"groups name {_names(twice)} more than once (a column belongs to one group)")
    empty = [c for c in columns if features[c].isna().all()]
    if empty:
        problems.append(f"no values at all in {_names(empty)} (drop the column)")
    counts = {name: int(np.isinf(features[name].to_numpy(dtype=np.float64, na_value=np.nan)).sum())
              for name, kind in kinds.items() if kind == "numeric" and name not in empty}
    infinite = [f"{name!r} ({n} rows)" for name, n in counts.items() if n]
    if infinite:
        problems.append("infinite values in " + ", ".join(infinite) + " (replace them with a "
                        "number, or leave the cells empty to have them imputed)")
    return problems


def constant_columns(features: pd.DataFrame) -> list[str]:
    """Columns with one value (gaps count as a value) on every row."""
    return [str(c) for c in features.columns if features[c].nunique(dropna=False) <= 1]


def check_columns(frame: pd.DataFrame, target: str | None) -> None:
    """Refuse a table that names a column twice, or lacks its target column."""
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise DataError(f"duplicate column names: {_names(duplicated)}")
    if target is not None and target not in frame.columns:
        raise DataError(f"target column {target!r} not found; columns are {_names(list(frame.columns))}")


def validate_frame(frame: pd.DataFrame, target: str | None, *, val_size: float = 0.2,
                   test_size: float = 0.2, task: Task, kinds: dict[str, str],
                   **settings: Any) -> list[str]:
    """Check a table that passed :func:`check_columns` before any training; return the constant
    feature columns (to drop).

    ``task`` is resolved already (the unsupervised task has no target column), ``kinds`` are the
    feature columns' kinds, ``settings`` are ``categorical``, ``keep_columns`` and ``groups``.
    Every problem of the target and the feature columns is reported in one :class:`DataError`.
    """
    # the validation and test fractions of the whole data set
    if not 0 < val_size < 1:
        raise DataError(f"val_size must be in (0, 1), got {val_size!r}")
    if not 0 <= test_size < 1:
        raise DataError(f"test_size must be in [0, 1), got {test_size!r}")
    if val_size + test_size >= 1:
        raise DataError(f"val_size + test_size must be < 1, got {val_size} + {test_size}")
    features = frame.drop(columns=[target]) if target is not None else frame
    if features.shape[1] < 2:
        besides = f" besides {target!r}" if target is not None else ""
        raise DataError(f"need at least 2 feature columns{besides}, got {features.shape[1]} feature(s)")
    problems = []
    try:
        if task.has_classes:
            check_target(frame[target].to_numpy(), target, val_size=val_size, test_size=test_size)
        elif task.has_values:
            check_regression_target(frame[target].to_numpy(), target)
    except DataError as err:
        problems.append(str(err))
    problems += column_problems(features, kinds, **settings)
    constant = constant_columns(features)
    usable = [c for c, kind in kinds.items() if kind != "identifier" and c not in set(constant)]
    if len(usable) < 2:
        aside = [c for c, kind in kinds.items() if kind == "identifier"]
        detail = f"constant: {_names(constant)}" if constant else "none constant"
        detail += f"; identifiers set aside: {_names(aside)} (keep_columns keeps them)" if aside else ""
        problems.append(f"need at least 2 non-constant feature columns, found {len(usable)} ({detail})")
    if len(problems) == 1:
        raise DataError(problems[0])
    if problems:
        raise DataError(f"{len(problems)} problems in the table: " + "; ".join(problems))
    return constant


PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", *PARQUET_SUFFIXES)


def check_table_suffix(path: str | os.PathLike[str], what: str = "data file") -> None:
    """Refuse a file name whose suffix is not a table format this project reads and writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"unsupported {what} type {suffix or '(no suffix)'!r} ({Path(path).name}); "
                        f"use one of {', '.join(TABLE_SUFFIXES)}")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV or Parquet file (by suffix) as a DataFrame; unreadable files, and CSV files that
    name a column twice, raise DataError."""
    path = Path(path)
    check_table_suffix(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        # pandas would read a second ``a`` as ``a.1``: only the file's first non-blank line shows it
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
            names = next((row for row in csv.reader(file) if any(cell.strip() for cell in row)), [])
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"duplicate column names in {path}: {_names(twice)}")
        return pd.read_csv(path)
    except DataError:
        raise
    except (ValueError, OSError, pd.errors.ParserError, csv.Error) as err:
        raise DataError(f"cannot read {path}: {err}".splitlines()[0]) from err


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically and return the path."""
    path = Path(path)
    check_table_suffix(path, "output file")
    write = frame.to_parquet if path.suffix.lower() in PARQUET_SUFFIXES else frame.to_csv
    return atomic_write(path, lambda tmp: write(tmp, index=False))


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise a :class:`DataError` naming every one of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{len(missing)} {what} missing from the data: " + ", ".join(map(repr, missing)))


def check_output_path(out_path: str | os.PathLike[str], *inputs: str | os.PathLike[str]) -> None:
    """Refuse an output path that is not a table file, or that is one of the input files (also
    through a link or another spelling)."""
    out = Path(out_path)
    check_table_suffix(out, "output file")
    for data in map(Path, inputs):
        if out.resolve() == data.resolve() or (out.exists() and data.exists()
                                                and os.path.samefile(out, data)):
            raise DataError(f"--out {out} is an input file ({data}); write the result to another file")


def check_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    """``sample_weight`` as float64 rows (``None`` stays ``None``), checked by scikit-learn:
    one finite, non-negative value per row, not all zero; a bad one raises one line naming
    ``sample_weight``."""
    from sklearn.utils.validation import _check_sample_weight

    if sample_weight is None:
        return None
    try:
        return _check_sample_weight(sample_weight, np.empty((n_rows, 0)), dtype=np.float64,
                                    ensure_non_negative=True)
    except (TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(first if "sample_weight" in first else f"sample_weight: {first}") from None


def pop_weight_column(frame: pd.DataFrame, name: str, target: str | None) -> tuple[pd.DataFrame, np.ndarray]:
    """The table without its weight column ``name`` (never a feature), and that column as the
    rows' ``sample_weight``; a bad one raises one :class:`DataError` naming the column."""
    columns = [str(c) for c in frame.columns]
    if name not in columns:
        lowered = {c.lower(): c for c in columns}  # 'W' for 'w' is a close name too
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=3)]
        hint = f"close names: {_names(close)}" if close else f"columns are {_names(columns)}"
        raise DataError(f"weight column {name!r} not found; {hint}")
    if name == target:
        raise DataError(f"weight column {name!r} is the target column; the weights need a "
                        "column of their own")
    values = frame[name]
    if not pd.api.types.is_numeric_dtype(values):
        words = values[values.notna() & pd.to_numeric(values, errors="coerce").isna()]
        such = f" such as {str(words.iloc[0])!r}" if len(words) else ""
        raise DataError(f"weight column {name!r} must hold numbers, got {values.dtype} values{such}")
    try:
        weights = check_sample_weight(values.to_numpy(dtype=np.float64, na_value=np.nan), len(frame))
    except ValueError as err:
        raise DataError(f"weight column {name!r}: {err}") from None
    assert weights is not None
    return frame.drop(columns=[name]), weights
