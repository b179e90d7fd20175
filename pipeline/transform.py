"""Apply a saved selection to a table: keep the selected columns (and the target) for downstream."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.validation import DataError
from vaec.atomic_files import atomic_write


def apply_selection(frame: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """The selected columns in the selection's order, then the target column if present."""
    selected = list(selection["selected"])
    missing = [c for c in selected if c not in frame.columns]
    if missing:
        raise DataError(f"selected columns missing from the data: {', '.join(map(repr, missing))}")
    target = selection.get("target")
    keep = selected + ([target] if target and target in frame.columns else [])
    return frame[keep]


def read_selection(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A selected_features.json written by a run."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"selection file not found: {path}")
    selection = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(selection.get("selected"), list):
        raise DataError(f"{path} has no 'selected' list; is it a selected_features.json?")
    return selection


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV or Parquet file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    return pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write CSV or Parquet (by suffix) atomically."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def transform_file(
    selection_path: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
) -> Path:
    """Keep the selected columns of ``data_path`` and write them to ``out_path``.

    The input is never overwritten: ``out_path`` must be another file.
    """
    if Path(out_path).resolve() == Path(data_path).resolve():
        raise DataError(f"--out {out_path} is the input file; write the result elsewhere")
    frame = apply_selection(read_table(data_path), read_selection(selection_path))
    return write_table(frame, out_path)
