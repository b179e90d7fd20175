"""A pruning round as a record: what its trials saw and what it decided.

The fates a round gives (``relevant``, ``redundant``, ``reconstructable``, ``rejected``,
``uncertain``; ``passes`` / ``below threshold`` under the reconstruction rule) and why a loop
stops are named here, once; :mod:`pipeline.rounds.relevance` decides them and
:mod:`pipeline.rounds.fate` turns them into drops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

STOP_ALL_PASS = "all_pass"
STOP_MIN_FEATURES = "min_features"
STOP_N_FEATURES = "n_features_to_select"
STOP_ACCURACY_GUARD = "accuracy_guard"
STOP_AUTO = "auto"
STOP_REASONS = (STOP_ALL_PASS, STOP_MIN_FEATURES, STOP_N_FEATURES, STOP_ACCURACY_GUARD, STOP_AUTO)

# with a target: relevant alone, or with the partners of its cluster (a redundant copy); without
# a target: reconstructable from the other channels
RELEVANT, REDUNDANT, RECONSTRUCTABLE = "relevant", "redundant", "reconstructable"
REJECTED, UNCERTAIN = "rejected", "uncertain"
PASSES, BELOW = "passes", "below threshold"  # the reconstruction rule's two fates
PASSING = (RELEVANT, REDUNDANT, RECONSTRUCTABLE, PASSES)

# how a summary line names the validation scores, and how many drops it names
SCORE_LABELS = {"accuracy": "acc", "balanced_accuracy": "balanced acc", "f1": "F1", "r2": "R²",
                "mae": "MAE",
                "reconstruction_r2": "reconstruction R²", "reconstruction_mae": "reconstruction MAE"}
# the round's validation score is the first of these it recorded (balanced accuracy only when
# the split asks for it: imbalanced classes or a class weight, see pipeline.data.weights)
SCORE_ORDER = ("balanced_accuracy", "f1", "r2", "reconstruction_r2")
MAX_NAMED_DROPS = 6
# at or under this t a channel does no better than the average shadow
REJECT_T = 0.0


@dataclass
class PruningRound:
    """What one round saw and decided.

    Attributes
    ----------
    index : int
        Round number, from 1.
    kept : list of str
        Channels the round's trials were trained on.
    score_mean, score_std : dict of str to float
        Validation reconstruction R² per channel: mean and standard deviation over trials.
    dropped : list of str
        Channels this round removed, worst first.
    val_score : float
        The round's validation score (F1, or balanced accuracy on imbalanced or class-weighted
        classes, see :mod:`pipeline.data.weights`; R² for regression; the reconstruction's R²
        without a target), sampling off, best epoch, mean over trials.
    val_score_std : float
        Its standard deviation over trials.
    val_metrics : dict of str to float
        Both of the task's validation scores, mean over trials (``accuracy`` and ``f1``;
        ``r2`` and ``mae``; ``reconstruction_r2`` and ``reconstruction_mae``).
    seconds : float
        Wall-clock seconds of the round.
    stop_reason : str or None
        Set on the last round: one of :data:`STOP_REASONS`.
    importance_mean, importance_std, shared_mean, shared_std : dict of str to float
        Importance to the head and shared R² per channel (the relevance rule).
    t_importance, t_shared : dict of str to float
        Their prediction-interval t against the shadows in this round alone (importance on its
        effect scale, the signed square root, see :func:`effect_scale`); the fates read the
        importance's t pooled with the previous round's (``evidence``).
    clusters : list of list of str
        The clusters of correlated channels the round ablated together (clusters of one
        channel are left out).
    t_cluster, cluster_importance_mean : dict of str to float
        For every channel of a cluster: its cluster's t against the shadow clusters (effect
        scale) and the cluster's importance (mean over trials).
    stand_in_r2 : dict of str to float
        For every channel not relevant alone: its R² on the validation rows from the relevant
        channels (:mod:`pipeline.rounds.relevance`).
    stands_for : dict of str to list of str
        For every channel that passed as a stand-in: the relevant channels it copies most.
    importance_lower : dict of str to float
        With a target, the lower bound of every channel's importance (mean minus two standard
        errors over the rows): what ranks the channels once every one has passed and
        ``n_features_to_select="auto"`` eliminates on towards the minimal subset.
    groups : list of list of str
        The groups of channels (of one column, or of a user's group) decided as one unit.
    on_path : bool
        Whether the round is past the all-relevant set, on the minimal-subset path of
        ``n_features_to_select="auto"`` (its channels all passed, or it follows such a round).
    val_row_loss : list of float
        The head's loss on every validation row the guard compares, mean over trials (empty
        without a target).
    val_row_weight : list of float
        What each of those rows counts for (empty: every row alike; see
        :mod:`pipeline.data.weights`).
    guard : dict or None
        The guard's test against round 1, every channel (:class:`pipeline.rounds.fate.GuardTest`
        fields), when it was run.
    evidence : dict of str to float
        What ranks the channels, larger is better: the larger of its own and its cluster's
        importance t, each pooled with the previous round's (without a target, its shared R²'s
        t); with
        ``n_features_to_select`` the lower bound of the importance (mean minus two standard
        errors over the rows: a budget of k goes to the channels the head surely needs
        most); under the reconstruction rule, the R².
    decision : dict of str to str
        Every channel's fate: ``relevant``, ``redundant`` (relevant with its cluster only),
        ``reconstructable`` (without a target), ``rejected`` or ``uncertain`` (``passes`` /
        ``below threshold`` under the reconstruction rule).
    rejected : list of str
        Channels dropped because they were confidently under the shadows (alone and with their
        cluster).
    spared : list of str
        Channels that did not pass but stayed (the drop cap or the floor kept them).
    shadow : dict
        Per score, the null from the shadows: ``mean``, ``std``, ``n`` (shadows), ``pass_t``
        and ``reject_t`` (the bars), and ``values`` (every shadow's mean);
        ``cluster_importance`` holds one such summary per size bin of the shadow clusters
        (with its ``sizes``).
    trial_scores : dict
        Per score (``r2``, ``importance``, ``shared_r2``), every channel's value in each trial.
    """

    index: int
    kept: list[str]
    score_mean: dict[str, float]
    score_std: dict[str, float]
    dropped: list[str]
    val_score: float
    val_score_std: float
    val_metrics: dict[str, float]
    seconds: float
    stop_reason: str | None = None
    importance_mean: dict[str, float] = field(default_factory=dict)
    importance_std: dict[str, float] = field(default_factory=dict)
    shared_mean: dict[str, float] = field(default_factory=dict)
    shared_std: dict[str, float] = field(default_factory=dict)
    t_importance: dict[str, float] = field(default_factory=dict)
    t_shared: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, float] = field(default_factory=dict)
    decision: dict[str, str] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    spared: list[str] = field(default_factory=list)
    shadow: dict[str, Any] = field(default_factory=dict)
    trial_scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    clusters: list[list[str]] = field(default_factory=list)
    t_cluster: dict[str, float] = field(default_factory=dict)
    cluster_importance_mean: dict[str, float] = field(default_factory=dict)
    val_row_loss: list[float] = field(default_factory=list)
    val_row_weight: list[float] = field(default_factory=list)
    guard: dict[str, Any] | None = None
    stand_in_r2: dict[str, float] = field(default_factory=dict)
    stands_for: dict[str, list[str]] = field(default_factory=dict)
    importance_lower: dict[str, float] = field(default_factory=dict)
    on_path: bool = False
    groups: list[list[str]] = field(default_factory=list)

    @property
    def mean_row_loss(self) -> float | None:
        """Mean validation loss per row, weighted as the rows are (what the guard compares)."""
        if not self.val_row_loss:
            return None
        return row_mean_se(self.val_row_loss, self.val_row_weight or None)[0]

    def partners(self, channel: str) -> list[str]:
        """The other channels of ``channel``'s cluster (none for a channel alone)."""
        cluster = next((c for c in self.clusters if channel in c), [channel])
        return [c for c in cluster if c != channel]

    def stands_in_for(self, channel: str) -> list[str]:
        """For a redundant channel, the relevant channels it copies: those that reconstruct it
        most, or the partners of its cluster that are relevant alone."""
        if channel in self.stands_for:
            return list(self.stands_for[channel])
        return [c for c in self.partners(channel) if self.decision.get(c) == RELEVANT]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruningRound:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    @property
    def score_name(self) -> str:
        """Name of :attr:`val_score` among :attr:`val_metrics` (the report's score charts and
        round table lead with it)."""
        return next((n for n in SCORE_ORDER if n in self.val_metrics), "f1")

    def summary(self, n_kept: int) -> str:
        """One line for people: ``round 2: trained on 30, dropped 4 (a, b, c, d) → 26 kept,
        val F1 0.931, 1.2 s``; ``n_kept`` is what the loop kept after it (after a guard stop,
        the previous round's channels with the drops that came back)."""
        if self.stop_reason == STOP_ACCURACY_GUARD:
            what = (f"the validation rows predicted worse than in round 1 → the last "
                    f"round's doubtful drops come back, {n_kept} kept")
        else:
            shown = ", ".join(self.dropped[:MAX_NAMED_DROPS])
            more = len(self.dropped) - MAX_NAMED_DROPS
            names = f" ({shown}{f' and {more} more' if more > 0 else ''})" if self.dropped else ""
            what = f"dropped {len(self.dropped)}{names} → {n_kept} kept"
        score = next((n for n in SCORE_ORDER if n in self.val_metrics), None)
        value = "" if score is None else f", val {SCORE_LABELS[score]} {self.val_metrics[score]:.3f}"
        line = f"round {self.index}: trained on {len(self.kept)}, {what}{value}, {self.seconds:.1f} s"
        return line + (f", stop: {self.stop_reason}" if self.stop_reason else "")

    def ranked(self) -> list[str]:
        """The channels best first: by evidence, ties by name."""
        score = self.evidence or self.score_mean
        return sorted(self.kept, key=lambda c: (-score[c], c))


def restorable(previous: PruningRound | None) -> list[str]:
    """What the accuracy guard may bring back: the previous round's drops that were neither
    rejected nor under the shadows' average, by the t the fate read (pooled with the round
    before) and by that round's own tests alone (a fall in accuracy after dropping only noise
    is validation noise)."""
    if previous is None:
        return []
    rejected = set(previous.rejected)

    def above_shadows(c: str) -> bool:
        own = max(previous.t_importance.get(c, math.inf), previous.t_cluster.get(c, -math.inf))
        return previous.evidence.get(c, 1.0) > REJECT_T and own > REJECT_T

    return [c for c in previous.dropped if c not in rejected and above_shadows(c)]


def row_mean_se(values: Sequence[float], weights: Sequence[float] | None = None
                ) -> tuple[float, float, float]:
    """The mean of per-row values, its standard error and the rows it stands for (``n``; with
    ``weights``, Kish's effective count ``(sum w)² / sum w²``): the weighted mean and the
    standard error of a weighted mean with the small-sample correction, which are the plain
    ones for equal weights."""
    x = np.asarray(values, dtype=np.float64)
    if weights is None:
        se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
        return float(x.mean()), se, float(len(x))
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = float(w @ x)
    n_eff = 1.0 / float(w @ w)
    if n_eff <= 1.0:
        return mean, 0.0, n_eff
    se = math.sqrt(float(w**2 @ (x - mean) ** 2) * n_eff / (n_eff - 1.0))
    return mean, se, n_eff
