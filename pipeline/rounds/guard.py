"""The accuracy guard: does a round predict measurably worse than the best round before it?

Dropping channels should cost the head nothing; when it does, the guard ends the loop and the
previous round's doubtful drops come back. On a validation split of 50-100 rows one row moves
accuracy or F1 by 1-2 points, so a fall in F1 says more about which rows a trial happened to get
right than about the channels. The guard compares the rounds row by row instead: every round
records the head's loss on each validation row (the Brier score of the class probabilities, or
the squared error of the standardised target; sampling off, mean over the trials, see
:func:`pipeline.rounds.scores.row_losses`), and a round fails the guard when its rows' losses are
larger than the best round's in a paired one-sided t test at ``guard_level`` **and** the total
rise is at least :data:`MIN_ROWS_WORTH` rows' worth (one row's worth: a row moved from certain
to a coin flip, a Brier score of 0.5; for regression, one standard deviation of the target). A
rise carried by two or three rows is neither.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

# Validation rows the guard compares (a fixed seeded subset of a larger split: the same rows in
# every round).
GUARD_ROWS = 5000
# Smallest total rise in loss that can fire the guard, in rows' worth.
MIN_ROWS_WORTH = 5
ROW_WORTH = {"classification": 0.5, "regression": 1.0}


def guard_rows(n_val: int, seed: int) -> np.ndarray | None:
    """The validation rows the guard compares (``None``: all of them)."""
    if n_val <= GUARD_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_val, GUARD_ROWS, replace=False))


@dataclass(frozen=True)
class GuardTest:
    """One round's validation losses against the best round's, row by row.

    Attributes
    ----------
    compared_with : int
        The best earlier round (lowest mean loss).
    rows : int
        Validation rows compared.
    mean_rise : float
        Mean rise of a row's loss (Brier score, or squared standard deviations), this round
        minus the best.
    rows_worth : float
        The total rise in rows' worth (see the module docstring).
    t, p : float
        Paired one-sided t statistic and p-value of the rise.
    fired : bool
        Whether the rise is significant at the level and at least :data:`MIN_ROWS_WORTH` rows'
        worth.
    """

    compared_with: int
    rows: int
    mean_rise: float
    rows_worth: float
    t: float
    p: float
    fired: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        """JSON-ready dictionary."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people: what fired (or did not fire) the guard."""
        return (f"validation loss {'rose' if self.mean_rise > 0 else 'changed'} by "
                f"{self.mean_rise:+.4f} per row against round {self.compared_with} over "
                f"{self.rows} rows ({self.rows_worth:.1f} rows' worth), paired t {self.t:.2f}, "
                f"p {self.p:.3g}")


def guard_test(
    losses: np.ndarray, best: np.ndarray, best_index: int, level: float, task: str
) -> GuardTest:
    """Test whether ``losses`` (this round's per-row validation losses) are larger than
    ``best`` (the best round's, on the same rows)."""
    losses, best = np.asarray(losses, dtype=np.float64), np.asarray(best, dtype=np.float64)
    rise = losses - best
    mean = float(rise.mean())
    spread = float(rise.std(ddof=1)) if len(rise) > 1 else 0.0
    if spread > 0:
        t = mean / (spread / math.sqrt(len(rise)))
        p = float(stats.t.sf(t, df=len(rise) - 1))
    else:
        t, p = (math.inf, 0.0) if mean > 0 else (0.0, 1.0)
    worth = float(rise.sum()) / ROW_WORTH.get(task, 1.0)
    return GuardTest(compared_with=best_index, rows=len(rise), mean_rise=mean, rows_worth=worth,
                     t=float(t), p=p, fired=p < level and worth >= MIN_ROWS_WORTH)
