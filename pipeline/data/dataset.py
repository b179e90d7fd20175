"""Data sources - the built-in sets, CSV/Parquet files, DataFrames and arrays - as a
:class:`Dataset`, and which task a target asks for: with ``task="auto"``, none without a target
(unsupervised), regression for numbers with a fractional part or more than :data:`MAX_CLASSES`
distinct integers, else (strings, bools, a few integers) classification."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.builtin import BUILTIN_DATASETS, BUILTIN_TARGET, builtin_frame
from pipeline.data.encoding import IDENTIFIER, NUMERIC, TableEncoder, detect_kinds
from pipeline.data.tables import (
    TABLE_SUFFIXES,
    DataError,
    check_columns,
    pop_weight_column,
    read_table,
    validate_frame,
)
from pipeline.settings import TASK_CHOICES
from vaec.tasks import CLASSIFICATION, REGRESSION, TASKS, UNSUPERVISED, Task, get_task

# More distinct integer values than this make a numeric target a quantity, not classes.
MAX_CLASSES = 20
HASH_CHUNK_ROWS = 65_536  # a tall table is hashed without a second copy of it


def frame_hash(frame: pd.DataFrame) -> str:
    """Hash of a table's values, column names and dtypes, in order."""
    digest = hashlib.sha256()
    header = [[str(c) for c in frame.columns], [str(t) for t in frame.dtypes], len(frame)]
    digest.update(json.dumps(header).encode("utf-8"))
    for start in range(0, len(frame), HASH_CHUNK_ROWS):
        rows = pd.util.hash_pandas_object(frame.iloc[start:start + HASH_CHUNK_ROWS], index=False)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()[:16]


def resolve_task(task: str | Task, y: Any | None, target: str | None = None) -> Task:
    """The :class:`vaec.tasks.Task` the ``task`` setting stands for with this target."""
    if task not in TASK_CHOICES and not isinstance(task, Task):
        raise DataError(f"task must be one of {', '.join(TASK_CHOICES)}; got {task!r}")
    if task in TASKS:
        chosen = get_task(task)
        if chosen.has_target != (y is not None):
            raise DataError(f"task {chosen.name!r} needs a target column; none was given"
                            if chosen.has_target else f"task {chosen.name!r} takes no target, "
                            f"but target column {target!r} was given")
        return chosen
    if y is None:
        return UNSUPERVISED
    values = pd.Series(np.asarray(y).ravel()).dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return CLASSIFICATION
    numbers = values.to_numpy(dtype=np.float64)
    fractional = not np.allclose(numbers, np.round(numbers))
    return REGRESSION if fractional or values.nunique() > MAX_CLASSES else CLASSIFICATION


@dataclass
class Dataset:
    """A validated table: features, target, and what was dropped up front.

    Attributes
    ----------
    name, source : str
        ``breast_cancer`` etc., the file stem, or ``dataframe``; ``builtin:<name>``, the
        resolved file path, or ``dataframe``.
    frame, feature_names : DataFrame, list of str
        The feature columns (constant ones already dropped) and the target column; the feature
        columns in frame order.
    target, weight_column : str or None
        The target column (None without one: the unsupervised task), and the column
        ``sample_weight`` came from (taken out of ``frame``: never a feature).
    constant_columns, identifier_columns : list of str
        Columns dropped before any training: without variance; set aside as identifiers.
    truth, label_names : dict or None
        For madelon: the informative / redundant / noise column names; readable names of the
        target's values (built-in sets, e.g. 0 -> ``malignant``).
    task : Task
        Classification, regression or unsupervised (``auto``: see the module docstring).
    kinds : dict of str to str
        The kind of every feature column (:mod:`pipeline.data.encoding`), constant ones included.
    groups : list of list of str
        Columns the user asked to be scored as one unit.
    sample_weight : ndarray of shape (rows,) or None
        What every row counts for, as the caller gave it (``None``: every row alike).
    """

    name: str
    frame: pd.DataFrame
    target: str | None
    feature_names: list[str]
    constant_columns: list[str]
    truth: dict[str, list[str]] | None
    source: str
    label_names: dict[Any, str] | None = None
    task: str = "classification"
    kinds: dict[str, str] = field(default_factory=dict)
    identifier_columns: list[str] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    sample_weight: np.ndarray | None = field(default=None, repr=False)
    weight_column: str | None = None

    @property
    def features(self) -> pd.DataFrame:
        """The feature columns as given (before any encoding)."""
        return self.frame[self.feature_names]

    def encoder(self, max_levels: int = 10) -> TableEncoder:
        """An unfitted :class:`pipeline.data.encoding.TableEncoder` of the feature columns."""
        return TableEncoder({c: self.kinds.get(c, NUMERIC) for c in self.feature_names},
                            max_levels=max_levels, groups=self.groups)

    def class_names(self, classes: Any) -> list[str]:
        """Names of ``classes`` (labels in index order) for legends: readable when known."""
        names = self.label_names or {}
        return [names.get(c, str(c)) for c in classes]

    @property
    def y(self) -> np.ndarray | None:
        """Target labels or values (None without a target)."""
        return None if self.target is None else self.frame[self.target].to_numpy()

    @functools.cached_property
    def content_hash(self) -> str:
        """:func:`frame_hash` of the features and target, and of the rows' weights if any."""
        if self.sample_weight is None:
            return frame_hash(self.frame)
        digest = hashlib.sha256(frame_hash(self.frame).encode("utf-8"))
        digest.update(np.ascontiguousarray(self.sample_weight, dtype=np.float64).tobytes())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the data (with the hash of its values)."""
        summary: dict[str, Any] = {
            "name": self.name, "source": self.source, "target": self.target,
            "task": self.task.name, "content_hash": self.content_hash, "n_rows": len(self.frame),
            "n_features": len(self.feature_names), "n_classes": None,
            "feature_names": list(self.feature_names), "constant_columns": list(self.constant_columns),
            "identifier_columns": list(self.identifier_columns),
            "kinds": {c: self.kinds[c] for c in self.feature_names if c in self.kinds},
            "weight_column": self.weight_column}
        if self.task.has_classes:
            counts = self.frame[self.target].value_counts().sort_index()
            summary["n_classes"] = len(counts)
            summary["class_counts"] = {str(k): int(v) for k, v in counts.items()}
        elif self.task.has_values:
            values = self.frame[self.target].astype(np.float64)
            summary["target_stats"] = {k: float(getattr(values, k)()) for k in ("mean", "std", "min", "max")}
        return summary


def _validated(
    frame: pd.DataFrame, target: str | None, *, val_size: float, test_size: float,
    task: str = "auto", categorical: Sequence[str] = (), keep_columns: Sequence[str] = (),
    groups: Sequence[Sequence[str]] = (), weight_column: str | None = None, **fields: Any,
) -> Dataset:
    frame.columns = [str(c) for c in frame.columns]
    check_columns(frame, target)
    weights = None
    if weight_column is not None:  # out of the features before they are judged
        frame, weights = pop_weight_column(frame, weight_column, target)
    y = None if target is None else frame[target].to_numpy()
    task = resolve_task(task, y, target)
    features = frame.drop(columns=[target]) if target is not None else frame
    kinds = detect_kinds(features, categorical=categorical, keep_columns=keep_columns)
    constant = validate_frame(frame, target, val_size=val_size, test_size=test_size, task=task,
                              kinds=kinds, categorical=categorical, keep_columns=keep_columns,
                              groups=groups)
    aside = [c for c, kind in kinds.items() if kind == IDENTIFIER and c not in set(constant)]
    if aside:
        warnings.warn(f"set aside as identifiers (every value different, or free text): "
                      f"{', '.join(map(repr, aside))}; keep_columns keeps them", stacklevel=3)
    frame = frame.drop(columns=constant + aside)
    names = [c for c in frame.columns if c != target]
    kept_groups = [[c for c in g if c in set(names)] for g in groups]
    return Dataset(frame=frame, target=target, feature_names=names, constant_columns=constant, task=task,
                   kinds=kinds, identifier_columns=aside, groups=[g for g in kept_groups if len(g) > 1],
                   sample_weight=weights, weight_column=weight_column, **fields)


# The last built-in set or file loaded, reused while unchanged: the flow reads no file again that
# the command line (in the same process) checked before it started the flow.
_last_file: tuple[tuple[Any, ...], Dataset] | None = None


def load_dataset(
    source: str | os.PathLike[str] | pd.DataFrame, target: str | None = None, *, val_size: float = 0.2,
    test_size: float = 0.2, task: str = "auto", categorical: Sequence[str] = (),
    keep_columns: Sequence[str] = (), groups: Sequence[Sequence[str]] = (), weight_column: str | None = None,
) -> Dataset:
    """Load and validate a data set; raises :class:`DataError` before any training.

    ``source`` is a built-in name (``breast_cancer``, ``digits``, ``wine``, ``madelon``), a
    ``.csv`` or ``.parquet`` path, or a DataFrame; ``target`` its target column (built-ins use ``target``;
    none: unsupervised). The data must support the split ``val_size``, ``test_size``. ``task``
    is ``auto`` (see the module docstring) or a task's name; ``categorical``, ``keep_columns``
    and ``groups`` are as :mod:`pipeline.data.encoding` says; ``weight_column`` holds what every
    row counts for, taken out of the features into :attr:`Dataset.sample_weight`.
    """
    columns = {"categorical": tuple(categorical), "keep_columns": tuple(keep_columns),
               "groups": tuple(tuple(g) for g in groups), "weight_column": weight_column}
    common = {"val_size": val_size, "test_size": test_size, "task": task, **columns}
    if isinstance(source, pd.DataFrame):
        return _validated(source.copy(), target, name="dataframe", truth=None, source="dataframe", **common)
    if isinstance(source, str) and source in BUILTIN_DATASETS:
        def builtin() -> Dataset:
            frame, truth, label_names = builtin_frame(source)
            return _validated(frame, target or BUILTIN_TARGET, name=source, truth=truth,
                              source=f"builtin:{source}", label_names=label_names, **common)

        return _remembered(("builtin", source, target, val_size, test_size, task, repr(columns)), builtin)
    path = Path(source)
    if path.suffix.lower() not in TABLE_SUFFIXES and not path.exists():
        raise DataError(f"unknown dataset {str(source)!r}: use one of {', '.join(BUILTIN_DATASETS)} "
                        f"or a {'/'.join(TABLE_SUFFIXES)} file")
    try:  # a file is the same while its path, time and size are
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, target, val_size, test_size, task,
               repr(columns))
    except OSError:
        key = None
    return _remembered(key, lambda: _validated(read_table(path), target, name=path.stem, truth=None,
                                               source=str(path.resolve()), **common))


def _remembered(key: tuple[Any, ...] | None, load: Callable[[], Dataset]) -> Dataset:
    """The last load's data set when ``key`` is its key, else ``load()`` (``None``: not kept)."""
    global _last_file
    if key is not None and _last_file is not None and _last_file[0] == key:
        return _last_file[1]
    dataset = load()
    if key is not None:
        _last_file = (key, dataset)
    return dataset


def _with_target(frame: pd.DataFrame, y: np.ndarray | None) -> str | None:
    """Add ``y`` to ``frame`` as a column named apart from every feature; return its name."""
    if y is None:
        return None
    y = np.asarray(y).ravel()
    if len(y) != len(frame):
        raise DataError(f"X has {len(frame)} rows but y has {len(y)}")
    target = "y"
    while target in frame.columns:
        target += "_"
    frame[target] = y
    return target


def dataset_from_frame(
    X: pd.DataFrame, y: np.ndarray | None, *, val_size: float = 0.2, test_size: float = 0.0,
    task: str = "auto", categorical: Sequence[str] = (), keep_columns: Sequence[str] = (),
    groups: Sequence[Sequence[str]] = (),
) -> Dataset:
    """A validated :class:`Dataset` of a raw feature table (any kinds, gaps allowed) and ``y``."""
    frame = X.rename(columns=str).reset_index(drop=True)
    return _validated(frame, _with_target(frame, y), val_size=val_size, test_size=test_size, task=task,
                      name="dataframe", truth=None, source="dataframe", categorical=categorical,
                      keep_columns=keep_columns, groups=groups)


def dataset_from_arrays(
    X: np.ndarray, y: np.ndarray | None, feature_names: Sequence[str], *, val_size: float = 0.2,
    test_size: float = 0.0, task: str = "auto",
) -> Dataset:
    """A validated :class:`Dataset` of a feature matrix and its target (``y`` None: unsupervised)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"X must be 2-dimensional, got {X.ndim} dimensions")
    names = [str(n) for n in feature_names]
    if len(names) != X.shape[1]:
        raise DataError(f"{len(names)} feature names for {X.shape[1]} columns")
    frame = pd.DataFrame(X, columns=pd.Index(names))
    return _validated(frame, _with_target(frame, y), val_size=val_size, test_size=test_size, task=task,
                      name="arrays", truth=None, source="arrays")
