"""A raw customer table the raw-table tests share: a categorical column that alone decides the
class, numeric noise with gaps, a boolean, a date and an identifier."""

from __future__ import annotations

import numpy as np
import pandas as pd


def customer_table(n_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The feature table and its 0/1 target (``color`` red or green)."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue", "black"], size=n_rows)
    frame = pd.DataFrame({
        "customer": [f"C{i:05d}" for i in range(n_rows)],
        "color": color,
        "noise_a": rng.normal(size=n_rows),
        "noise_b": rng.normal(size=n_rows),
        "flag": rng.random(n_rows) > 0.5,
        "opened": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n_rows), "D"),
    })
    frame.loc[rng.random(n_rows) < 0.1, "noise_a"] = np.nan
    return frame, np.isin(color, ["red", "green"]).astype(int)
