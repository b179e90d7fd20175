"""Which task a target asks for: classification, regression, or none (unsupervised).

``task="auto"`` decides from the target: none -> unsupervised; numbers with a fractional part,
or more than :data:`MAX_CLASSES` distinct integers -> regression; anything else (strings, bools,
a few integers) -> classification.
"""

from __future__ import annotations

from typing import Any

TASK_CHOICES = ("auto", "classification", "regression", "unsupervised")
# More distinct integer values than this make a numeric target a quantity, not classes.
MAX_CLASSES = 20


def resolve_task(task: str, y: Any | None, target: str | None = None) -> str:
    """The task ``task`` stands for with this target (``auto`` decided as the module says)."""
    import numpy as np
    import pandas as pd

    from pipeline.data.validation import DataError

    if task not in TASK_CHOICES:
        raise DataError(f"task must be one of {', '.join(TASK_CHOICES)}; got {task!r}")
    if y is None:
        if task not in ("auto", "unsupervised"):
            raise DataError(f"task {task!r} needs a target column; none was given")
        return "unsupervised"
    if task == "unsupervised":
        raise DataError(
            f"task 'unsupervised' takes no target, but target column {target!r} was given")
    if task != "auto":
        return task
    values = pd.Series(np.asarray(y).ravel()).dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "classification"
    numbers = values.to_numpy(dtype=np.float64)
    fractional = not np.allclose(numbers, np.round(numbers))
    if fractional or values.nunique() > MAX_CLASSES:
        return "regression"
    return "classification"
