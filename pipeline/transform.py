"""Apply a saved selection to a table: keep the selected columns (and the target) for downstream."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.tables import DataError, check_output_path, read_table, require_columns, write_table


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
        When the selection is malformed (:func:`check_selection`) or selected columns are
        missing from ``frame`` (all of them are named).
    """
    selected, target = check_selection(selection)
    frame = frame.rename(columns=str)
    require_columns(frame, selected, "selected column(s)")
    keep = selected + ([target] if target and target in frame.columns and target not in selected
                       else [])
    return frame[keep]


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_selection(selection: Any, source: str = "the selection") -> tuple[list[str], str | None]:
    """The selected column names and the target of a parsed ``selected_features.json``.

    Raises
    ------
    DataError
        One line naming ``source``: no ``selected`` list, an empty one, an entry that is not a
        column name, a name listed twice, or a ``target`` that is neither a name nor null.
    """
    if not isinstance(selection, dict) or not isinstance(selection.get("selected"), list):
        raise DataError(f"{source} has no 'selected' list; is it a selected_features.json?")
    entries = selection["selected"]
    odd = [c for c in entries if isinstance(c, bool) or not isinstance(c, (str, int, float))]
    if odd:
        raise DataError(f"{source}: 'selected' must list column names, not {_shown(odd[0])}")
    selected = [str(c) for c in entries]
    if not selected:
        raise DataError(f"{source}: 'selected' is empty, there is no column to keep")
    twice = sorted({c for c in selected if selected.count(c) > 1})
    if twice:
        raise DataError(f"{source}: 'selected' lists {', '.join(map(repr, twice[:5]))} "
                        "more than once")
    target = selection.get("target")
    if target is not None and not isinstance(target, str):
        raise DataError(f"{source}: 'target' must be a column name or null, not {_shown(target)}")
    return selected, target


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
    check_output_path(out_path, data_path, selection_path)
    selection = read_selection(selection_path)
    frame = apply_selection(read_table(data_path), selection)
    return write_table(frame, out_path)
