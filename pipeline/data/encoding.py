"""A column's kind and its encoding: what each feature column of a raw table is (from its
values, never the target; overridable) and how it becomes numeric channels, learnt on the
training rows only. The channels of one column are a group, kept and dropped as the column.

* **numeric** (integers, floats): the column itself; a gap is filled with the training median
  and, when the training rows have gaps, flagged by a channel ``<column>[missing]``;
* **boolean**: 0 / 1 (with gaps: categorical, the gap a level);
* **categorical** (object, ``category``, string columns, and ``categorical``): one-hot
  ``<column>=<level>`` up to ``max_levels`` levels (a level on fewer than
  :data:`MIN_LEVEL_ROWS` training rows, or unseen, counts as ``other``; a gap is ``missing``);
  past it, the ``max_levels - 1`` most frequent levels holding :data:`MIN_LEVEL_SHARE` of the rows
  one-hot, the rest ``other``; with fewer than two such levels (a US state among 51: sparse
  channels are noise inputs), ``<column>[frequency]``, the training share of the row's level;
* **datetime** (``datetime64``, or text that is all ISO dates): ``[day]`` since 1970-01-01, the
  season as a point on a circle ``[season_cos]``, ``[season_sin]`` (December beside January),
  and ``[weekday]``; imputed and flagged as numeric columns are;
* **identifier**: integer or text columns whose every value differs (a row number, an id), and
  free text: nothing a model can learn from row to row, so set aside with one warning unless
  kept (``keep_columns``: numeric when it holds numbers, else categorical).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER = (
    "numeric", "boolean", "categorical", "datetime", "identifier")

# an all-unique column needs this many rows to count as an identifier (a tiny table's
# integers are often all different by chance)
MIN_IDENTIFIER_ROWS = 20
# free text: strings this long on average, with at least this share of distinct values
FREE_TEXT_LENGTH, FREE_TEXT_DISTINCT = 30, 0.5
ISO_DATE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
# a level on fewer training rows is pooled into "other"; past max_levels, on a smaller share
MIN_LEVEL_ROWS, MIN_LEVEL_SHARE = 5, 0.05
OTHER, MISSING = "other", "missing"
DATE_PARTS = ("day", "season_cos", "season_sin", "weekday")
ONE_HOT, FREQUENCY, DATE, SCALED, BINARY = "one-hot", "frequency", "date parts", "as is", "0/1"


def _all_unique(values: pd.Series) -> bool:
    return len(values) >= MIN_IDENTIFIER_ROWS and values.notna().all() and values.nunique() == len(values)


def _is_free_text(values: pd.Series) -> bool:
    present = values.dropna().astype(str)
    return (not present.empty and present.str.len().mean() >= FREE_TEXT_LENGTH
            and present.nunique() >= FREE_TEXT_DISTINCT * len(present))


def _is_iso_dates(values: pd.Series) -> bool:
    present = values.dropna()
    return (not present.empty and not isinstance(values.dtype, pd.CategoricalDtype)
            and bool(present.astype(str).str.match(ISO_DATE).all()))


def column_kind(values: pd.Series) -> str:
    """The kind of one column, from its dtype and values (see the module docstring)."""
    if pd.api.types.is_bool_dtype(values):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(values):
        return DATETIME
    if pd.api.types.is_numeric_dtype(values):
        return IDENTIFIER if pd.api.types.is_integer_dtype(values) and _all_unique(values) else NUMERIC
    if (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype)):
        if _is_iso_dates(values):
            return DATETIME
        if _all_unique(values) or _is_free_text(values):
            return IDENTIFIER
    return CATEGORICAL


def detect_kinds(features: pd.DataFrame, *, categorical: Sequence[str] = (),
                 keep_columns: Sequence[str] = ()) -> dict[str, str]:
    """The kind of every feature column (the target left out), in column order; ``categorical``
    columns are categories whatever their dtype, ``keep_columns`` identifier-like columns kept
    as features. Names that are not columns are ignored (the validation reports them)."""
    kinds = {}
    for name in features.columns:
        values = features[name]
        kind = column_kind(values)
        if name in set(categorical):
            kind = CATEGORICAL
        elif name in set(keep_columns) and kind == IDENTIFIER:
            kind = NUMERIC if pd.api.types.is_numeric_dtype(values) else CATEGORICAL
        kinds[str(name)] = kind
    return kinds


@dataclass
class ColumnEncoding:
    """How one column becomes channels (learnt from the training rows).

    Attributes
    ----------
    column, kind, encoding : str
        The user's column, its kind, and ``as is``, ``0/1``, ``one-hot``, ``frequency`` or
        ``date parts``.
    channels : list of str
        The channels it gives, in order.
    levels, shares : list of str, dict of str to float
        One-hot: the levels with a channel of their own; frequency: every level seen in training,
        and the share of the training rows of every level (``other`` for the rare ones).
    medians : list of float
        Numeric and datetime: the training median of every value channel (what fills a gap).
    indicator, missing_rows : bool, int
        Whether a missing-indicator channel follows the value channels, and the column's gaps in
        the training rows.
    """

    column: str
    kind: str
    encoding: str
    channels: list[str]
    levels: list[str] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)
    medians: list[float] = field(default_factory=list)
    indicator: bool = False
    missing_rows: int = 0


def _labels(values: pd.Series) -> pd.Series:
    """A categorical column as text labels, a gap as ``missing``."""
    return values.astype(object).where(values.notna(), MISSING).map(str)


def _values(values: pd.Series, kind: str) -> np.ndarray:
    """The value channels of a numeric or datetime column, gaps as NaN, ``(rows, parts)``."""
    if kind != DATETIME:
        return values.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
    dates = pd.to_datetime(values, errors="coerce", format="ISO8601") \
        if not pd.api.types.is_datetime64_any_dtype(values) else values
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    day = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    angle = 2 * np.pi * (dates.dt.day_of_year.to_numpy(dtype=np.float64, na_value=np.nan) - 1) / 365.25
    return np.column_stack([day.to_numpy(dtype=np.float64, na_value=np.nan), np.cos(angle), np.sin(angle),
                            dates.dt.day_of_week.to_numpy(dtype=np.float64, na_value=np.nan)])


class TableEncoder:
    """The channels of a table's feature columns, learnt from the training rows.

    Parameters
    ----------
    kinds : dict of str to str
        The kind of every feature column to encode, in column order.
    max_levels : int
        Most levels (``other`` and ``missing`` included) a categorical column is one-hot
        encoded with; past it, the most frequent levels (the module says which).
    groups : sequence of sequence of str
        Columns the user asked to be scored as one unit.

    Attributes
    ----------
    encodings_, channel_names_, column_of_ : dict of str to ColumnEncoding, list of str, dict of str to str
        Every column's encoding; every channel, column by column; the column every channel comes from.
    """

    def __init__(self, kinds: dict[str, str], max_levels: int = 10,
                 groups: Sequence[Sequence[str]] = ()) -> None:
        self.kinds = dict(kinds)
        self.max_levels = max_levels
        self.groups = [list(g) for g in groups]

    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        """Learn every column's encoding from ``frame`` (the training rows)."""
        return self._fitted({c: self._fit_column(c, frame[c], kind) for c, kind in self.kinds.items()})

    def _fitted(self, encodings: dict[str, ColumnEncoding]) -> TableEncoder:
        self.encodings_ = encodings
        self.channel_names_ = [ch for e in encodings.values() for ch in e.channels]
        self.column_of_ = {ch: e.column for e in encodings.values() for ch in e.channels}
        return self

    def _fit_column(self, name: str, values: pd.Series, kind: str) -> ColumnEncoding:
        gaps = int(values.isna().sum())
        if kind == BOOLEAN:
            return ColumnEncoding(name, kind, BINARY, [name], missing_rows=gaps)
        if kind in (NUMERIC, DATETIME):
            parts = _values(values, kind)
            medians = [float(m) if np.isfinite(m) else 0.0 for m in np.nanmedian(parts, axis=0)] \
                if np.isfinite(parts).any() else [0.0] * parts.shape[1]
            channels = [name] if kind == NUMERIC else [f"{name}[{p}]" for p in DATE_PARTS]
            indicator = bool(np.isnan(parts).any())
            return ColumnEncoding(name, kind, SCALED if kind == NUMERIC else DATE,
                                  channels + ([f"{name}[missing]"] if indicator else []),
                                  medians=medians, indicator=indicator, missing_rows=gaps)
        counts = _labels(values).value_counts()
        common = sorted(str(level) for level, n in counts.items() if n >= MIN_LEVEL_ROWS)
        rare = int(counts[counts < MIN_LEVEL_ROWS].sum())
        levels = common + ([OTHER] if rare and OTHER not in common else [])
        if len(levels) > self.max_levels:  # the most frequent levels that hold a share of the rows
            least = max(MIN_LEVEL_ROWS, MIN_LEVEL_SHARE * len(values))
            frequent = sorted((k for k, n in counts.items() if n >= least and k != OTHER),
                              key=lambda k: (-counts[k], k))[:self.max_levels - 1]
            levels = [*sorted(frequent), OTHER] if len(frequent) >= 2 else []
        if levels:
            return ColumnEncoding(name, kind, ONE_HOT, [f"{name}={level}" for level in levels],
                                  levels=levels, missing_rows=gaps)
        shares = (counts / counts.sum()).to_dict()
        pooled = {str(k): float(v) for k, v in shares.items() if counts[k] >= MIN_LEVEL_ROWS}
        pooled[OTHER] = float(rare / counts.sum())
        return ColumnEncoding(name, kind, FREQUENCY, [f"{name}[frequency]"],
                              levels=sorted(pooled), shares=pooled, missing_rows=gaps)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The channels of ``frame``'s rows (float64, ``(rows, channels)``); gaps and unseen
        levels are encoded as the module says, never refused."""
        blocks = [self._transform_column(frame[c], e) for c, e in self.encodings_.items()]
        return np.hstack(blocks) if blocks else np.empty((len(frame), 0))

    def _transform_column(self, values: pd.Series, encoding: ColumnEncoding) -> np.ndarray:
        if encoding.encoding == BINARY:
            return values.astype(np.float64).to_numpy()[:, None]
        if encoding.encoding in (SCALED, DATE):
            parts = _values(values, encoding.kind)
            gaps = np.isnan(parts)
            filled = np.where(gaps, np.asarray(encoding.medians)[None, :], parts)
            if encoding.indicator:
                filled = np.hstack([filled, gaps.any(axis=1, keepdims=True).astype(np.float64)])
            return filled
        labels = _labels(values)
        known = set(encoding.levels)
        if encoding.encoding == FREQUENCY:
            shares = labels.map(lambda v: encoding.shares[v if v in known else OTHER])
            return shares.to_numpy(dtype=np.float64)[:, None]
        labels = labels.where(labels.isin(known), OTHER)
        return np.column_stack([(labels == level).to_numpy(dtype=np.float64) for level in encoding.levels])

    def channel_groups(self) -> list[list[str]]:
        """The units of two or more channels (a column's, or a user group's), each a list of
        channels in channel order."""
        group_of = {c: "+".join(g) for g in self.groups for c in g}
        units: dict[str, list[str]] = {}
        for channel, column in self.column_of_.items():
            units.setdefault(group_of.get(column, column), []).append(channel)
        return [members for members in units.values() if len(members) > 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what :meth:`from_dict` needs to encode new rows (no row of the data)."""
        return {"kinds": self.kinds, "max_levels": self.max_levels, "groups": self.groups,
                "encodings": [asdict(e) for e in self.encodings_.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableEncoder:
        """A fitted encoder from :meth:`to_dict`."""
        encoder = cls(dict(data["kinds"]), int(data["max_levels"]), data.get("groups", ()))
        return encoder._fitted({e["column"]: ColumnEncoding(**e) for e in data["encodings"]})

    @property
    def channels_are_columns(self) -> bool:
        """Whether every channel is a column as given (a numeric table without gaps)."""
        return self.channel_names_ == list(self.encodings_)
