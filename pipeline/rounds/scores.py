"""Per-channel scores of a round's trained models, which rows they are taken on, and the test
against the shadows.

* reconstruction R²: how well each channel comes back out of the neck;
* shared R²: how well it comes back when its own input is held at its mean (from the others);
* importance: how much the head's loss rises when the channel is held at its mean.

For one score every real channel and every shadow has a mean over the round's trials; the
shadows' means are draws from the null, so a channel's mean is compared with them by the
prediction-interval t ``(m_c - mean_shadow) / (sd_shadow * sqrt(1 + 1/S))`` with ``S - 1``
degrees of freedom (``S`` shadows), one-sided. A round's p-values pass or fail together under
Benjamini-Hochberg at false-discovery rate ``fdr`` (among what passes, the expected share of
noise is at most ``fdr``, with a lower bar than Bonferroni's when many channels are relevant). A
channel is **confidently below** when its ``t`` is at or under 0: no better than the average
permuted copy (a channel whose true ``t`` is 2 scores that low 2.3 % of the time; the bar is no
reference, as a round's model may be weak and see a channel better once noise is gone).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from vaec import VAEC
from vaec.model import ablation_scores
from vaec.tasks import predicted_class

# Rows behind importance and shared R²: all of them up to a budget of rows x columns (the cost
# of the scoring pass), never fewer than MIN_SCORING_ROWS.
SCORING_BUDGET = 1_000_000
MIN_SCORING_ROWS, MAX_SCORING_ROWS = 500, 4000
# Validation rows the accuracy guard compares (a fixed seeded subset of a larger split: the same
# rows in every round).
GUARD_ROWS = 5000
# Below this validation variance (the data are standardised on the training rows, where every
# channel has variance 1) a channel is as good as constant on the validation rows: its R² is
# not defined, and it gets 0 (no better than its mean), never a free pass.
MIN_VARIANCE = 1e-6


def _row_shares(weights: np.ndarray | None, n_replicas: int, n_rows: int) -> np.ndarray:
    """Every replica's row weights as shares summing to 1, ``(replicas, rows)``."""
    w = np.ones((n_replicas, n_rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    return w / w.sum(axis=1, keepdims=True)


def _variance(X: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Every channel's variance on every replica's rows, ``(replicas, channels)``."""
    return shares @ X**2 - (shares @ X) ** 2


def channel_r2(model: VAEC, X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """R² ``1 - MSE_c / Var_c`` of every channel for every replica ``(replicas, channels)``,
    sampling off, on scaled rows ``X`` the model did not train on, each replica's rows weighted
    by its row of ``weights`` (cross-fitting: its own fold); a channel (nearly) constant there
    scores 0."""
    X = np.asarray(X, dtype=np.float64)
    reconstruction = model.reconstruct(X, replica=None).astype(np.float64)
    shares = _row_shares(weights, len(reconstruction), len(X))
    mse = np.einsum("rn,rnc->rc", shares, (reconstruction - X[None]) ** 2)
    return _r2(mse, _variance(X, shares))


def _r2(mse: np.ndarray, variance: np.ndarray) -> np.ndarray:
    defined = variance > MIN_VARIANCE
    return np.where(defined, 1.0 - mse / np.where(defined, variance, 1.0), 0.0)


def ablation_channel_scores(
    model: VAEC, X: np.ndarray, y: np.ndarray | None, units: list[list[int]] | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance (the rise of the head's cross-entropy, nats per row, sampling off, when the
    unit is held at its training mean), its standard error over the rows, and shared R² (of the
    decoder's output for the unit's channels held at their means, averaged over them) of every
    ablation unit for every replica, each ``(replicas, units)``; ``units`` lists the channel
    positions held together (``None``: every channel alone), ``weights`` each replica's rows."""
    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    target = model.class_indices(y) if y is not None else torch.zeros(len(x), device=model.device)
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=model.device)
    scores = ablation_scores(model.net, x, target, units, weights=w)
    importance, importance_se, own_mse = (s.double().cpu().numpy() for s in (
        scores.importance, scores.importance_se, scores.own_reconstruction_mse))
    variance = _variance(np.asarray(X, dtype=np.float64), _row_shares(weights, len(importance), len(X)))
    if units is not None:
        variance = np.stack([variance[:, u].mean(axis=1) for u in units], axis=1)
    return importance, importance_se, _r2(own_mse, variance)


def second_moments(X: np.ndarray) -> np.ndarray:
    """``X.T @ X / rows`` of standardised rows (the correlations, on the training rows)."""
    X = np.asarray(X, dtype=np.float64)
    return X.T @ X / max(len(X), 1)


def row_losses(model: VAEC, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The head's Brier score ``sum_k (p_k - [y = k])²`` on every row for every replica
    ``(replicas, rows)``, sampling off (0 certain and right, 0.5 a coin flip of two classes),
    or the squared error of the standardised regression target: a proper score bounded per row,
    where a log-loss would measure how confidently the overfitted round models are wrong on a
    few rows rather than what the channels carry."""
    return model.config.task.row_losses(_logits(model, X), model.class_indices(y)).double().cpu().numpy()


def _logits(model: VAEC, X: np.ndarray) -> torch.Tensor:
    """The head's logits of every replica on rows ``X``, sampling off."""
    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    with torch.no_grad():
        model.net.eval()
        return model.net(x, decode=False).logits


def balanced_accuracy(model: VAEC, X: np.ndarray, y: np.ndarray,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """Balanced accuracy (the mean of the classes' recalls) of every replica ``(replicas,)``,
    sampling off, each replica's rows weighted by its row of ``weights``."""
    from sklearn.metrics import balanced_accuracy_score

    truth = model.class_indices(y).cpu().numpy()
    predicted = predicted_class(_logits(model, X)).cpu().numpy()
    scores = []
    for r, guess in enumerate(predicted):
        w = None if weights is None else np.asarray(weights[r], dtype=np.float64)
        seen = slice(None) if w is None else w > 0
        with warnings.catch_warnings():  # a class no row of the fold has: its recall is left out
            warnings.simplefilter("ignore", UserWarning)
            scores.append(balanced_accuracy_score(truth[seen], guess[seen],
                                                  sample_weight=None if w is None else w[seen]))
    return np.asarray(scores, dtype=np.float64)


@dataclass(frozen=True)
class ScoreTest:
    """One score of every channel tested against the shadows: the channels' ``mean`` and ``std``
    over the trials, every shadow's mean over the trials (``shadow_means``, the null sample) and
    their ``shadow_mean`` and ``shadow_std`` (at least the score's floor), and every channel's
    prediction-interval ``t`` against the shadows with its one-sided p-value ``p``."""

    mean: np.ndarray
    std: np.ndarray
    shadow_means: np.ndarray
    shadow_mean: float
    shadow_std: float
    t: np.ndarray
    p: np.ndarray

    @property
    def n_shadows(self) -> int:
        """Number of shadows behind the null."""
        return len(self.shadow_means)


def test_against_shadows(scores: np.ndarray, shadow_scores: np.ndarray, floor: float) -> ScoreTest:
    """Test every channel's mean score ``(trials, channels)`` against the means of at least two
    shadows ``(trials, shadows)``, their spread taken as at least ``floor`` (a null that scores
    exactly alike would make any difference significant)."""
    scores = np.asarray(scores, dtype=np.float64)
    shadow_means = np.asarray(shadow_scores, dtype=np.float64).mean(axis=0)
    n = len(shadow_means)
    if n < 2:
        raise ValueError(f"the shadow test needs at least 2 shadows, got {n}")
    mean = scores.mean(axis=0)
    centre = float(shadow_means.mean())
    spread = max(float(shadow_means.std(ddof=1)), floor)
    t = (mean - centre) / (spread * np.sqrt(1.0 + 1.0 / n))
    return ScoreTest(mean=mean, std=scores.std(axis=0), shadow_means=shadow_means, shadow_mean=centre,
                     shadow_std=spread, t=t, p=stats.t.sf(t, df=n - 1))


def pooled_t(t: np.ndarray, before: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every test's ``t`` averaged with its ``t`` of the previous round (``before``), and its
    p-value at this round's ``df``.

    On a few hundred rows a relevant channel's t wanders by 2 from round to round with its few
    trials' training, and a round that draws it low would drop it. The mean of two rounds' t is
    steadier; under the null each is a t variable and the mean of two correlated ones spreads no
    wider, so the bar keeps its level. A test with no t before (NaN) or none now (``-inf``)
    keeps this round's.
    """
    t = np.asarray(t, dtype=np.float64)
    before = np.asarray(before, dtype=np.float64)
    pooled = np.where(np.isfinite(t) & np.isfinite(before), (t + before) / 2.0, t)
    p = np.where(np.isfinite(pooled), stats.t.sf(pooled, df=np.maximum(df, 1)),
                 np.where(pooled > 0, 0.0, 1.0))
    return pooled, p


def passing_p(p_values: np.ndarray, fdr: float) -> float:
    """The largest p-value that passes at false-discovery rate ``fdr`` (Benjamini-Hochberg:
    with the ``m`` p-values sorted, every one up to the largest ``p_(k) <= k fdr / m``); when
    nothing passes, the first step ``fdr / m``."""
    p = np.sort(np.asarray(p_values, dtype=np.float64).ravel())
    m = len(p)
    steps = fdr * np.arange(1, m + 1) / m
    below = np.flatnonzero(p <= steps)
    return float(p[below[-1]]) if len(below) else float(steps[0])


def passing_t(p_bar: float, n_shadows: int) -> float:
    """The ``t`` a channel needs to pass when the bar on the p-value is ``p_bar``."""
    return float(stats.t.isf(p_bar, df=n_shadows - 1))


def scoring_rows(
    X_train: np.ndarray, y_train: np.ndarray | None, X_val: np.ndarray, y_val: np.ndarray | None,
    seed: int, w_train: np.ndarray | None = None, w_val: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The rows behind importance and shared R², with their weights: training and validation
    rows together (on a small table the validation rows alone leave the test little power, and
    the shadows are trained on the same rows: a model that memorised its training rows favours
    them as much as real channels), a seeded subset past :data:`SCORING_BUDGET` rows x columns
    (the scores are means over rows; more rows only cost time)."""
    X = np.vstack([X_train, X_val])
    y = None if y_train is None else np.concatenate([y_train, y_val])
    w = None if w_train is None else np.concatenate([w_train, w_val])
    n_rows = int(np.clip(SCORING_BUDGET // X.shape[1], MIN_SCORING_ROWS, MAX_SCORING_ROWS))
    if len(X) > n_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), n_rows, replace=False))
        X, y, w = X[keep], (None if y is None else y[keep]), (None if w is None else w[keep])
    return X, y, w


def guard_rows(n_val: int, seed: int) -> np.ndarray | slice:
    """The validation rows the guard compares (a slice of all of them when they are few)."""
    if n_val <= GUARD_ROWS:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n_val, GUARD_ROWS, replace=False))
