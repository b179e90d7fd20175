"""Column kinds: what each feature column of a raw table is, detected and overridable.

* **numeric**: integer and float columns (gaps allowed; infinite values are refused);
* **boolean**: ``bool`` columns (with gaps they are categorical: the gap is a level);
* **categorical**: object, ``category`` and string columns, and the integer columns the user
  names (``categorical``);
* **datetime**: ``datetime64`` columns, and text columns whose every value is an ISO date
  (``2024-03-01``, ``2024-03-01 12:00``), expanded to numeric parts (see
  :mod:`pipeline.data.encoding`);
* **identifier**: integer or text columns whose every value is different (a row number, a
  customer id), and free text (long strings that nearly never repeat). They carry nothing a
  model can learn from row to row, so they are set aside before training, with one warning
  naming them, unless the user keeps them (``keep_columns``; a kept one is categorical).

Pure pandas: :func:`detect_kinds` looks at the values only, never at the target.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER = (
    "numeric", "boolean", "categorical", "datetime", "identifier")
KINDS = (NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER)

# an all-unique column needs this many rows to count as an identifier (a tiny table's
# integers are often all different by chance)
MIN_IDENTIFIER_ROWS = 20
# free text: strings this long on average, with at least this share of distinct values
FREE_TEXT_LENGTH, FREE_TEXT_DISTINCT = 30, 0.5
ISO_DATE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"


def _is_text(values: pd.Series) -> bool:
    return (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype))


def _all_unique(values: pd.Series) -> bool:
    present = values.dropna()
    return len(values) >= MIN_IDENTIFIER_ROWS and len(present) == len(values) and \
        present.nunique() == len(present)


def _is_free_text(values: pd.Series) -> bool:
    present = values.dropna().astype(str)
    if present.empty:
        return False
    return (present.str.len().mean() >= FREE_TEXT_LENGTH
            and present.nunique() >= FREE_TEXT_DISTINCT * len(present))


def _is_iso_dates(values: pd.Series) -> bool:
    present = values.dropna()
    if present.empty or isinstance(values.dtype, pd.CategoricalDtype):
        return False
    return bool(present.astype(str).str.match(ISO_DATE).all())


def column_kind(values: pd.Series) -> str:
    """The kind of one column, from its dtype and values (see the module docstring)."""
    if pd.api.types.is_bool_dtype(values):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(values):
        return DATETIME
    if pd.api.types.is_numeric_dtype(values):
        integral = pd.api.types.is_integer_dtype(values)
        return IDENTIFIER if integral and _all_unique(values) else NUMERIC
    if _is_text(values):
        if _is_iso_dates(values):
            return DATETIME
        if _all_unique(values) or _is_free_text(values):
            return IDENTIFIER
        return CATEGORICAL
    return CATEGORICAL


def detect_kinds(
    features: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    keep_columns: Sequence[str] = (),
) -> dict[str, str]:
    """The kind of every feature column, in column order.

    Parameters
    ----------
    features : DataFrame
        The feature columns (the target left out).
    categorical : sequence of str
        Columns to treat as categories whatever their dtype (integer codes, say).
    keep_columns : sequence of str
        Columns that look like identifiers but are kept as features (numeric when they are
        numbers, categorical otherwise).

    Names that are not columns are the validation's to report
    (:func:`pipeline.data.tables.validate_frame`); here they are ignored.
    """
    kinds = {}
    for name in features.columns:
        values = features[name]
        kind = column_kind(values)
        if name in set(categorical):
            kind = CATEGORICAL
        elif name in set(keep_columns) and kind == IDENTIFIER:
            numeric = pd.api.types.is_numeric_dtype(values)
            kind = NUMERIC if numeric else CATEGORICAL
        kinds[str(name)] = kind
    return kinds


def identifiers(kinds: dict[str, str]) -> list[str]:
    """The columns set aside as identifiers."""
    return [name for name, kind in kinds.items() if kind == IDENTIFIER]
