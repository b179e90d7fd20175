"""A table whose rows are weighted by a column of its own, shared by the weight-column tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def weighted_halves(n: int, seed: int = 0) -> pd.DataFrame:
    """``a`` tells the class on the first half of the rows only, ``b`` on the second half only;
    ``w`` weighs the first half 1 and the second 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    first = np.arange(n) < n // 2
    signal = 2.0 * y - 1.0
    return pd.DataFrame({
        "a": np.where(first, signal, 0.0) + 0.5 * rng.normal(size=n),
        "b": np.where(first, 0.0, signal) + 0.5 * rng.normal(size=n),
        **{f"noise{i}": rng.normal(size=n) for i in range(3)},
        "label": y, "w": first.astype(float),
    })
