"""Stand-ins: channels that carry what relevant channels carry.

A channel made of relevant ones (a noisy copy of one, or a mixture of several, as
``make_classification``'s redundant columns are) tells the head nothing the relevant channels do
not: held at its mean, it costs nothing, and its own importance never beats the shadows. Yet it
is relevant in the all-relevant sense - it depends on the target through them - and a
downstream model may prefer it. Such a channel **stands in** for the relevant channels when the
relevant channels reconstruct it: its out-of-sample R² from them (a ridge regression fitted on
the training rows, scored on the validation rows) beats the same R² of the shadows (which
nothing reconstructs) in the shadow test, and reaches ``threshold²`` (a multiple correlation of
at least ``threshold``). A correlated channel that says nothing of the target is reconstructed by
its correlated partners, not by the relevant channels, and is no stand-in.

Everything is computed from the second moments of the standardised rows
(:func:`second_moments`), so the fate rule stays a function of the trial scores.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Ridge penalty relative to the mean variance of the predictors: enough to keep the solve
# stable with many correlated relevant channels, small against their signal.
RIDGE = 1e-3
# The partners a stand-in is said to copy: those of its regression coefficients (in units of the
# predictors' spread) at least this share of the largest, at most MAX_NAMED of them.
NAMED_SHARE, MAX_NAMED = 0.3, 3


def second_moments(X: np.ndarray) -> np.ndarray:
    """``X.T @ X / rows`` of standardised rows (the correlations, on the training rows)."""
    X = np.asarray(X, dtype=np.float64)
    return X.T @ X / max(len(X), 1)


class StandIns(NamedTuple):
    """The out-of-sample R² of columns from a set of predictor columns.

    Attributes
    ----------
    r2 : ndarray of shape (targets,)
        R² on the validation rows of every target column from the predictors (1 is perfect, 0
        no better than its mean; a target that is itself a predictor scores NaN).
    weights : ndarray of shape (targets, predictors)
        The ridge coefficients.
    """

    r2: np.ndarray
    weights: np.ndarray


def stand_in_r2(
    train: np.ndarray, val: np.ndarray, predictors: np.ndarray, targets: np.ndarray
) -> StandIns:
    """R² of every ``targets`` column from the ``predictors`` columns.

    Parameters
    ----------
    train, val : ndarray of shape (columns, columns)
        :func:`second_moments` of the training and of the validation rows (standardised with
        the training rows' scaler).
    predictors, targets : ndarray of int
        Column positions.
    """
    predictors, targets = np.asarray(predictors, dtype=int), np.asarray(targets, dtype=int)
    if len(predictors) == 0:
        return StandIns(np.zeros(len(targets)), np.zeros((len(targets), 0)))
    gram = train[np.ix_(predictors, predictors)]
    penalty = RIDGE * max(float(np.trace(gram)) / len(predictors), 1e-12)
    weights = np.linalg.solve(gram + penalty * np.eye(len(predictors)),
                              train[np.ix_(predictors, targets)]).T  # (targets, predictors)
    cross = val[np.ix_(targets, predictors)]
    explained = (weights * cross).sum(axis=1)
    fitted = np.einsum("tp,pq,tq->t", weights, val[np.ix_(predictors, predictors)], weights)
    own = val[targets, targets]
    mse = own - 2.0 * explained + fitted
    # the validation variance about the training mean (0 on standardised data)
    r2 = np.where(own > 1e-12, 1.0 - mse / np.where(own > 1e-12, own, 1.0), 0.0)
    r2 = np.where(np.isin(targets, predictors), np.nan, r2)
    return StandIns(r2, weights)


def named_partners(weights: np.ndarray, names: list[str]) -> list[str]:
    """The predictors a stand-in copies most (by the size of their coefficients)."""
    size = np.abs(np.asarray(weights, dtype=np.float64))
    if size.size == 0 or size.max() <= 0:
        return []
    order = np.argsort(-size, kind="stable")
    return [names[i] for i in order[:MAX_NAMED] if size[i] >= NAMED_SHARE * size.max()]
