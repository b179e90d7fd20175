"""Each channel's scores against its shadows: the test behind a round's decisions.

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

from dataclasses import dataclass

import numpy as np
from scipy import stats

# At or under this t a channel does no better than the average shadow.
REJECT_T = 0.0


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
