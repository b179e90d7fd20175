"""Per-channel scores of a round's trained models, on the validation rows.

* reconstruction R²: how well each channel comes back out of the neck;
* shared R²: how well it comes back when its own input is held at its mean, i.e. from the
  other channels (redundancy, the structure the neck shares);
* importance: how much the head's loss rises when the channel is held at its mean.

The test against the shadows
----------------------------
For one score (importance, shared R²), every real channel has a mean over the round's trials,
and so does every shadow. The shadows' means are draws from the null (a channel with no
structure and no relevance), so a channel's mean is compared with them by the prediction-interval
t statistic ``t = (m_c - mean_shadow) / (sd_shadow * sqrt(1 + 1/S))`` with ``S - 1`` degrees
of freedom (``S`` shadows): the test of a new draw against a sample whose spread is estimated.
The one-sided p-value says how surprising the channel would be as a shadow.

A round tests two scores for each of ``C`` channels. The ``2 C`` p-values pass or fail together
under the Benjamini-Hochberg procedure at false-discovery rate ``fdr``: among the channels that
pass, the expected share of noise is at most ``fdr`` (precision at least ``1 - fdr``), and when
many channels are relevant the bar is lower than Bonferroni's, so weakly relevant ones are not
lost for the sake of a family-wise guarantee nobody asked for.

* a channel **passes** a score when its p-value is at or under the procedure's bar;
* it is **confidently below** the bar when its ``t`` is at or under 0: it does no better than
  the average permuted copy. A channel whose true ``t`` is 2 (short of most bars) scores that
  low 2.3 % of the time; the bar itself is not the reference, because a round's model may be
  weak (many noise channels around) and see a channel better once they are gone.
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
    mean = shares @ X
    return shares @ X**2 - mean**2


def channel_r2(model: VAEC, X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """R² of every channel for every replica: ``1 - MSE_c / Var_c`` with sampling off.

    Parameters
    ----------
    model : VAEC
        A trained model (any number of replicas).
    X : ndarray of shape (rows, channels)
        Scaled data the model did not train on (the validation split).
    weights : ndarray of shape (replicas, rows) or None
        The rows each replica is scored on (cross-fitting: its own fold); ``None``: all.

    Returns
    -------
    ndarray of shape (replicas, channels)
        1 is a perfect reconstruction, 0 no better than the channel's mean, negative worse.
        A channel (nearly) constant on these rows scores 0.
    """
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
    """Importance, its standard error and shared R² of every ablation unit for every replica,
    each ``(replicas, units)``; ``units`` lists the channel positions held at the mean together
    (``None``: every channel alone), ``weights`` the rows each replica is scored on.

    * importance: the rise of the head's cross-entropy (nats per row, sampling off) when the
      unit is held at its training mean, and its standard error over the rows;
    * shared R²: ``1 - MSE / Var`` of the decoder's output for the unit's channels held at
      their means (both averaged over its channels), i.e. what the neck carries of them from the
      other channels (0 for channels nearly constant on these rows).

    See :func:`vaec.importance.ablation_scores`.
    """
    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    target = model.class_indices(y) if y is not None else torch.zeros(len(x), device=model.device)
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=model.device)
    scores = ablation_scores(model.net, x, target, units, weights=w)
    importance = scores.importance.double().cpu().numpy()
    importance_se = scores.importance_se.double().cpu().numpy()
    own_mse = scores.own_reconstruction_mse.double().cpu().numpy()
    variance = _variance(np.asarray(X, dtype=np.float64),
                         _row_shares(weights, len(importance), len(X)))
    if units is not None:
        variance = np.stack([variance[:, u].mean(axis=1) for u in units], axis=1)
    return importance, importance_se, _r2(own_mse, variance)


def second_moments(X: np.ndarray) -> np.ndarray:
    """``X.T @ X / rows`` of standardised rows (the correlations, on the training rows)."""
    X = np.asarray(X, dtype=np.float64)
    return X.T @ X / max(len(X), 1)


def row_losses(model: VAEC, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The head's Brier score on every row for every replica, ``(replicas, rows)``, sampling
    off: ``sum_k (p_k - [y = k])²`` over the classes (0 for a certain right answer, 0.5 for a
    coin flip between two classes, 2 for a certain wrong one), or the squared error of the
    standardised regression target.

    A proper score bounded per row: the round models are fitted hard and overconfident on a
    few rows (their held-out log-loss can exceed a coin flip's while their accuracy beats a
    logistic regression's), and a log-loss would measure how confidently they are wrong on
    those rows rather than what the channels carry.
    """
    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    target = model.class_indices(y)
    with torch.no_grad():
        model.net.eval()
        logits = model.net(x, decode=False).logits
        return model.config.task.row_losses(logits, target).double().cpu().numpy()


def balanced_accuracy(model: VAEC, X: np.ndarray, y: np.ndarray,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """Balanced accuracy (the mean of the classes' recalls, scikit-learn's
    ``balanced_accuracy_score``) of every replica, ``(replicas,)``, sampling off; each replica's
    rows weighted by its row of ``weights`` (0 leaves a row out)."""
    from sklearn.metrics import balanced_accuracy_score

    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    truth = model.class_indices(y).cpu().numpy()
    with torch.no_grad():
        model.net.eval()
        predicted = predicted_class(model.net(x, decode=False).logits).cpu().numpy()
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
    """One score of every channel tested against the shadows.

    Attributes
    ----------
    mean, std : ndarray of shape (channels,)
        The channel's score: mean and standard deviation over the trials.
    shadow_means : ndarray of shape (shadows,)
        Every shadow's mean over the trials (the null sample).
    shadow_mean, shadow_std : float
        Their mean and standard deviation (the latter at least the score's floor).
    t : ndarray of shape (channels,)
        Prediction-interval t of every channel against the shadows.
    p : ndarray of shape (channels,)
        One-sided p-value of beating the shadows.
    """

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
    """Test every channel's mean score against the shadows' means.

    Parameters
    ----------
    scores : ndarray of shape (trials, channels)
    shadow_scores : ndarray of shape (trials, shadows)
        At least two shadows.
    floor : float
        Smallest spread the shadows are taken to have (a null that scores exactly alike would
        otherwise make any difference significant).
    """
    scores = np.asarray(scores, dtype=np.float64)
    shadow_means = np.asarray(shadow_scores, dtype=np.float64).mean(axis=0)
    n = len(shadow_means)
    if n < 2:
        raise ValueError(f"the shadow test needs at least 2 shadows, got {n}")
    mean = scores.mean(axis=0)
    centre = float(shadow_means.mean())
    spread = max(float(shadow_means.std(ddof=1)), floor)
    t = (mean - centre) / (spread * np.sqrt(1.0 + 1.0 / n))
    return ScoreTest(
        mean=mean, std=scores.std(axis=0), shadow_means=shadow_means,
        shadow_mean=centre, shadow_std=spread, t=t, p=stats.t.sf(t, df=n - 1),
    )


def pooled_t(
    t: np.ndarray, before: np.ndarray, df: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every test's ``t`` averaged with its ``t`` of the previous round, and its p-value.

    A round's t carries the noise of its few trials' training as well as the rows' evidence: on
    a few hundred rows a relevant channel's t wanders by 2 from round to round, and a round
    that draws it low would drop it as uncertain. The mean of two rounds' t is steadier; under
    the null each is a t variable (with ``df`` degrees of freedom, this round's) and the mean of
    two correlated ones spreads no wider, so the bar keeps its level. A test with no t in the
    previous round (NaN in ``before``: the first round, or not tested that way there), or with
    a ``t`` of ``-inf`` now (no such test this round), keeps this round's.

    Parameters
    ----------
    t, before, df : ndarray of shape (tests,)
        This round's t, the previous round's (NaN where it had none) and this round's degrees
        of freedom.
    """
    t = np.asarray(t, dtype=np.float64)
    before = np.asarray(before, dtype=np.float64)
    pooled = np.where(np.isfinite(t) & np.isfinite(before), (t + before) / 2.0, t)
    p = np.where(np.isfinite(pooled), stats.t.sf(pooled, df=np.maximum(df, 1)),
                 np.where(pooled > 0, 0.0, 1.0))
    return pooled, p


def passing_p(p_values: np.ndarray, fdr: float) -> float:
    """The largest p-value that passes at false-discovery rate ``fdr`` (Benjamini-Hochberg).

    With ``m`` tests sorted ``p_(1) <= ... <= p_(m)``, every test up to the largest ``k`` with
    ``p_(k) <= k fdr / m`` passes; the expected share of noise among what passes is at most
    ``fdr`` (independent or positively dependent tests). When nothing passes, the bar is the
    first step, ``fdr / m``.
    """
    p = np.sort(np.asarray(p_values, dtype=np.float64).ravel())
    m = len(p)
    steps = fdr * np.arange(1, m + 1) / m
    below = np.flatnonzero(p <= steps)
    return float(p[below[-1]]) if len(below) else float(steps[0])


def passing_t(p_bar: float, n_shadows: int) -> float:
    """The ``t`` a channel needs to pass when the bar on the p-value is ``p_bar``."""
    return float(stats.t.isf(p_bar, df=n_shadows - 1))
