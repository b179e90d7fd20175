"""From the user's columns to the model's channels, fitted on the training rows only.

Every feature column becomes one or more numeric channels (:class:`ColumnEncoding`):

* numeric: the column itself (named as the column); gaps are filled with the training median
  and, when the training rows have gaps, a missing-indicator channel ``<column>[missing]`` says
  where;
* boolean: 0 / 1;
* categorical with at most ``max_levels`` levels: one-hot channels ``<column>=<level>``; a level
  seen on fewer than :data:`MIN_LEVEL_ROWS` training rows is pooled into ``<column>=other``, a
  gap is a level of its own (``<column>=missing``), and a level never seen in training counts as
  ``other`` (the pooled channel when there is one, else none of the known levels);
* categorical with more levels: one channel ``<column>[frequency]``, the share of the training
  rows that have the row's level (target-free and bounded; unseen levels get the pooled rare
  levels' share);
* datetime: ``<column>[day]`` (days since 1970-01-01), the season as a point on a circle,
  ``<column>[season_cos]`` and ``<column>[season_sin]`` (of the day of the year: December
  lies beside January, and summer against winter is a straight cut, where a month number
  makes it a bump a small head fits poorly), and ``<column>[weekday]``; imputed and flagged as
  numeric columns are.

The channels of one column form a **group**: they are scored, kept and dropped together (see
:mod:`pipeline.rounds.groups`), and reported under the column's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.kinds import BOOLEAN, DATETIME, NUMERIC

# a level on fewer training rows than this is pooled into "other"
MIN_LEVEL_ROWS = 5
OTHER, MISSING = "other", "missing"
DATE_PARTS = ("day", "season_cos", "season_sin", "weekday")
ONE_HOT, FREQUENCY, DATE, SCALED, BINARY = "one-hot", "frequency", "date parts", "as is", "0/1"


@dataclass
class ColumnEncoding:
    """How one column becomes channels (learnt from the training rows).

    Attributes
    ----------
    column : str
        The user's column.
    kind : str
        Its kind (:mod:`pipeline.data.kinds`).
    encoding : str
        ``as is``, ``0/1``, ``one-hot``, ``frequency`` or ``date parts``.
    channels : list of str
        The channels it gives, in order.
    levels : list of str
        One-hot: the levels with a channel of their own (``other`` and ``missing`` included
        when they have one); frequency: every level seen in training.
    shares : dict of str to float
        Frequency: the share of the training rows of every level (``other`` for the rare ones).
    medians : list of float
        Numeric and datetime: the training median of every value channel (what fills a gap).
    indicator : bool
        Whether a missing-indicator channel follows the value channels.
    missing_rows : int
        Gaps of the column in the training rows.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the report)."""
        return {"column": self.column, "kind": self.kind, "encoding": self.encoding,
                "channels": list(self.channels), "missing_rows": self.missing_rows}


def _labels(values: pd.Series) -> pd.Series:
    """A categorical column as text labels, a gap as ``missing``."""
    labels = values.astype(object).where(values.notna(), MISSING)
    return labels.map(str)


def _date_parts(values: pd.Series) -> np.ndarray:
    dates = pd.to_datetime(values, errors="coerce", format="ISO8601") \
        if not pd.api.types.is_datetime64_any_dtype(values) else values
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    day = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    angle = 2 * np.pi * (dates.dt.day_of_year.to_numpy(dtype=np.float64, na_value=np.nan) - 1) / 365.25
    return np.column_stack([day.to_numpy(dtype=np.float64, na_value=np.nan),
                            np.cos(angle), np.sin(angle),
                            dates.dt.day_of_week.to_numpy(dtype=np.float64, na_value=np.nan)])


def _values(values: pd.Series, kind: str) -> np.ndarray:
    """The value channels of a numeric or datetime column, gaps as NaN, ``(rows, parts)``."""
    if kind == DATETIME:
        return _date_parts(values)
    return values.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]


class TableEncoder:
    """The channels of a table's feature columns, learnt from the training rows.

    Parameters
    ----------
    kinds : dict of str to str
        The kind of every feature column to encode, in column order.
    max_levels : int
        Most levels (``other`` and ``missing`` included) a categorical column is one-hot
        encoded with; past it, frequency-encoded.
    groups : sequence of sequence of str
        Columns the user asked to be scored as one unit.

    Attributes
    ----------
    encodings_ : dict of str to ColumnEncoding
        Every column's encoding.
    channel_names_ : list of str
        Every channel, column by column.
    column_of_ : dict of str to str
        The column every channel comes from.
    """

    def __init__(self, kinds: dict[str, str], max_levels: int = 10,
                 groups: Sequence[Sequence[str]] = ()) -> None:
        self.kinds = dict(kinds)
        self.max_levels = max_levels
        self.groups = [list(g) for g in groups]

    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        """Learn every column's encoding from ``frame`` (the training rows)."""
        self.encodings_ = {c: self._fit_column(c, frame[c], kind) for c, kind in self.kinds.items()}
        self.channel_names_ = [ch for e in self.encodings_.values() for ch in e.channels]
        self.column_of_ = {ch: e.column for e in self.encodings_.values() for ch in e.channels}
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
        labels = _labels(values)
        counts = labels.value_counts()
        common = sorted(str(level) for level, n in counts.items() if n >= MIN_LEVEL_ROWS)
        rare = int(counts[counts < MIN_LEVEL_ROWS].sum())
        levels = common + ([OTHER] if rare and OTHER not in common else [])
        if len(levels) <= self.max_levels:
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
        return np.column_stack([(labels == level).to_numpy(dtype=np.float64)
                                for level in encoding.levels])

    def unit_of(self) -> dict[str, str]:
        """The unit every channel is scored in: its column, or its user group (``a+b``)."""
        group_of = {c: "+".join(g) for g in self.groups for c in g}
        return {ch: group_of.get(col, col) for ch, col in self.column_of_.items()}

    def channel_groups(self) -> list[list[str]]:
        """The units of two or more channels, each a list of channels in channel order."""
        units: dict[str, list[str]] = {}
        for channel, unit in self.unit_of().items():
            units.setdefault(unit, []).append(channel)
        return [members for members in units.values() if len(members) > 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what :meth:`from_dict` needs to encode new rows (no row of the data)."""
        return {"kinds": self.kinds, "max_levels": self.max_levels, "groups": self.groups,
                "encodings": [asdict(e) for e in self.encodings_.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableEncoder:
        """A fitted encoder from :meth:`to_dict`."""
        encoder = cls(dict(data["kinds"]), int(data["max_levels"]), data.get("groups", ()))
        encoder.encodings_ = {e["column"]: ColumnEncoding(**e) for e in data["encodings"]}
        encoder.channel_names_ = [ch for e in encoder.encodings_.values() for ch in e.channels]
        encoder.column_of_ = {ch: e.column for e in encoder.encodings_.values()
                              for ch in e.channels}
        return encoder

    @property
    def channels_are_columns(self) -> bool:
        """Whether every channel is a column as given (a numeric table without gaps)."""
        return self.channel_names_ == list(self.encodings_)
