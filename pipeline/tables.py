"""Reading and writing tables (CSV, Parquet), the one place that knows the file formats."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from pipeline.validation import DataError
from vaec.persistence import atomic_write

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES


def check_table_suffix(path: str | os.PathLike[str], what: str = "data file") -> None:
    """Refuse a file name whose suffix is not a table format this project reads and writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"unsupported {what} type {suffix or '(no suffix)'!r} ({Path(path).name}); "
            f"use one of {', '.join(TABLE_SUFFIXES)}"
        )


def _csv_header(path: Path) -> list[str]:
    """The column names on the first non-blank line of a CSV file, as written."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
        for row in csv.reader(file):
            if any(cell.strip() for cell in row):
                return row
    return []


def check_csv_header(path: str | os.PathLike[str]) -> None:
    """Refuse a CSV file that names a column twice.

    pandas renames the second ``a`` to ``a.1`` while reading, so the duplicate is only visible
    in the file's own header line.
    """
    names = _csv_header(Path(path))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        shown = ", ".join(map(repr, twice[:8])) + (f" and {len(twice) - 8} more" if len(twice) > 8 else "")
        raise DataError(f"duplicate column names in {path}: {shown}")


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
        check_csv_header(path)
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError, csv.Error) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"cannot read {path}: {err}".splitlines()[0]) from err


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically and return the path."""
    path = Path(path)
    check_table_suffix(path, "output file")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise a :class:`DataError` naming every one of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{len(missing)} {what} missing from the data: " + ", ".join(map(repr, missing))
        )


def check_output_path(
    out_path: str | os.PathLike[str], *inputs: str | os.PathLike[str]
) -> None:
    """Refuse an output path that is not a table file, or that is one of the input files (also
    through a link or another spelling)."""
    out = Path(out_path)
    check_table_suffix(out, "output file")
    for data in map(Path, inputs):
        same = out.resolve() == data.resolve() or (
            out.exists() and data.exists() and os.path.samefile(out, data)
        )
        if same:
            raise DataError(f"--out {out} is an input file ({data}); write the result to another file")
