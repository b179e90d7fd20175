"""What each row counts for: the caller's ``sample_weight`` times the ``class_weight`` of its
class, and whether the classes are imbalanced enough to be scored by balanced accuracy.

A row of weight ``w`` counts as ``w`` copies of it in every loss the models train on and in
every mean the selection scores (importance, shared R², the validation scores, the accuracy
guard's row comparison, the final model's scores): weight 0 leaves the row out of them, weight
2 counts it twice. The split, the scaler and the shadows' permutations see every row alike.

A table can carry its weights as a column of its own (:func:`pop_weight_column`): it is taken out
of the features (never a channel) before the table is checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight

from pipeline.data.tables import DataError, _names
from vaec.tasks import Task, get_task

# The classes are imbalanced when the largest has at least this many times the (weighted)
# rows of the smallest (a 25 % minority of two classes): then accuracy and F1 say more about
# the large class than about the others, and the rounds and the final model report balanced
# accuracy (the mean of the classes' recalls) instead.
IMBALANCE_RATIO = 3.0
BALANCED = "balanced"
ClassWeight = str | Mapping[str, float] | None


def check_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    """``sample_weight`` as float64 rows (``None`` stays ``None``), checked by scikit-learn:
    one value per row, finite, non-negative, not all zero; a bad one raises one line that
    names ``sample_weight``."""
    if sample_weight is None:
        return None
    try:
        w = _check_sample_weight(sample_weight, np.empty((n_rows, 0)), dtype=np.float64,
                                 ensure_non_negative=True)
    except (TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        message = first if "sample_weight" in first else f"sample_weight: {first}"
        raise ValueError(message) from None
    if not np.isfinite(w).all():
        raise ValueError("sample_weight has infinite values")
    return w


def pop_weight_column(frame: pd.DataFrame, name: str,
                      target: str | None) -> tuple[pd.DataFrame, np.ndarray]:
    """The table without its weight column ``name``, and that column as the rows'
    ``sample_weight`` (checked by :func:`check_sample_weight`); a bad one raises one
    :class:`DataError` naming the column: missing (with the close names), the target, not
    numbers, gaps, infinite or negative values, zero on every row."""
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
        raise DataError(f"weight column {name!r} must hold numbers, got {values.dtype} "
                        f"values{such}")
    try:
        weights = check_sample_weight(values.to_numpy(dtype=np.float64, na_value=np.nan),
                                      len(frame))
    except ValueError as err:
        raise DataError(f"weight column {name!r}: {err}") from None
    assert weights is not None
    return frame.drop(columns=[name]), weights


def class_row_weights(y: Any, class_weight: ClassWeight) -> np.ndarray | None:
    """Every row's class weight: ``"balanced"`` as scikit-learn's
    ``compute_sample_weight("balanced", y)`` (``n_rows / (n_classes * rows of the class)``), a
    mapping by the classes' labels as text (classes it leaves out weigh 1), ``None``: none."""
    if class_weight is None:
        return None
    labels = np.asarray(y).ravel()
    if class_weight == BALANCED:
        return compute_sample_weight(BALANCED, labels)
    classes = np.unique(labels)
    named = {str(c): c for c in classes}
    unknown = sorted(set(class_weight) - set(named))
    if unknown:
        raise DataError(f"class_weight names classes the target does not have: "
                        f"{', '.join(map(repr, unknown))} (classes: "
                        f"{', '.join(map(str, named))})")
    return compute_sample_weight({named[k]: float(v) for k, v in class_weight.items()}, labels)


def row_weights(y: Any, task: str | Task, sample_weight: np.ndarray | None,
                class_weight: ClassWeight) -> np.ndarray | None:
    """What every row counts for: ``sample_weight`` times its class weight (``None`` when
    neither is given: every row alike)."""
    if class_weight is not None and not get_task(task).has_classes:
        raise DataError(f"class_weight applies to classification only; the task is "
                        f"{get_task(task).name!r}")
    classes = class_row_weights(y, class_weight)
    if classes is None:
        return sample_weight
    weights = classes if sample_weight is None else sample_weight * classes
    if not weights.sum() > 0:
        raise DataError("sample_weight times class_weight is zero on every row")
    return weights


def imbalanced(y: Any, weights: np.ndarray | None = None) -> bool:
    """Whether the largest class has at least :data:`IMBALANCE_RATIO` times the weight of the
    smallest."""
    labels = np.asarray(y).ravel()
    _, index = np.unique(labels, return_inverse=True)
    totals = np.bincount(index, weights=weights)
    return len(totals) > 1 and totals.max() >= IMBALANCE_RATIO * totals.min()


def balanced_scores(y: Any, task: str | Task, class_weight: Any, weights: np.ndarray | None) -> bool:
    """Whether a classification reports balanced accuracy: a class weight was given, or the
    classes are imbalanced (see :data:`IMBALANCE_RATIO`) with the rows weighted as they are."""
    if not get_task(task).has_classes or y is None:
        return False
    return class_weight is not None or imbalanced(y, weights)
