"""Apply a saved selection to a table: keep the selected columns (and the target) for downstream."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.validation import DataError
from vaec.atomic_files import atomic_write

PARQUET_SUFFIXES = (".parquet", ".pq")


def apply_selection(frame: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Keep the selected columns of ``frame``.

    Parameters
    ----------
    frame : DataFrame
        A raw table with (at least) the selected columns.
    selection : dict
        A parsed ``selected_features.json``: ``selected`` (column names, in order) and
        ``target`` (kept as the last column when ``frame`` has it).

    Returns
    -------
    DataFrame
        The selected columns in the selection's order, then the target if present.

    Raises
    ------
    DataError
        When selected columns are missing from ``frame`` (all of them are named).
    """
    selected = [str(c) for c in selection["selected"]]
    frame = frame.rename(columns=str)
    require_columns(frame, selected, "selected column(s)")
    target = selection.get("target")
    keep = selected + ([target] if target and target in frame.columns else [])
    return frame[keep]


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise a :class:`DataError` naming every one of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{len(missing)} {what} missing from the data: " + ", ".join(map(repr, missing))
        )


def read_selection(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``selected_features.json`` written by a run, checked to have a ``selected`` list."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"selection file not found: {path}")
    try:
        selection = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not JSON: {err}") from err
    if not isinstance(selection, dict) or not isinstance(selection.get("selected"), list):
        raise DataError(f"{path} has no 'selected' list; is it a selected_features.json?")
    return selection


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV or Parquet file (by suffix) as a DataFrame; unreadable files raise DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read {path}: {err}".splitlines()[0]) from err


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically and return the path."""
    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def check_output_path(data_path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> None:
    """Refuse an output path that is the input file (also through a link or another spelling)."""
    data, out = Path(data_path), Path(out_path)
    same = out.resolve() == data.resolve() or (
        out.exists() and data.exists() and os.path.samefile(out, data)
    )
    if same:
        raise DataError(f"--out {out} is the input file; write the result to another file")


def transform_file(
    selection_path: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
) -> Path:
    """Keep the selected columns of a CSV/Parquet file and write them to another file.

    Parameters
    ----------
    selection_path : path
        A run's ``selected_features.json``.
    data_path : path
        The input table (CSV or Parquet).
    out_path : path
        The output table (CSV or Parquet by suffix); never the input file.

    Returns
    -------
    Path
        ``out_path``, written atomically.
    """
    check_output_path(data_path, out_path)
    selection = read_selection(selection_path)
    frame = apply_selection(read_table(data_path), selection)
    return write_table(frame, out_path)
