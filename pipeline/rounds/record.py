"""A pruning round as a record (what its trials saw and what it decided), and what is read off
the records: what the accuracy guard may restore, and the minimal subset of
``n_features_to_select="auto"``.

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

STOP_ALL_PASS, STOP_MIN_FEATURES, STOP_N_FEATURES = "all_pass", "min_features", "n_features_to_select"
STOP_ACCURACY_GUARD, STOP_AUTO = "accuracy_guard", "auto"

# with a target: relevant alone, or with the partners of its cluster (a redundant copy); without
# a target: reconstructable from the other channels
RELEVANT, REDUNDANT, RECONSTRUCTABLE = "relevant", "redundant", "reconstructable"
REJECTED, UNCERTAIN = "rejected", "uncertain"
PASSES, BELOW = "passes", "below threshold"  # the reconstruction rule's two fates
PASSING = (RELEVANT, REDUNDANT, RECONSTRUCTABLE, PASSES)
# the fates from best to worst: a group takes its best channel's
FATE_ORDER = (RELEVANT, REDUNDANT, RECONSTRUCTABLE, PASSES, UNCERTAIN, BELOW, REJECTED)

# how a summary line names the validation scores, and how many drops it names
SCORE_LABELS = {"accuracy": "acc", "balanced_accuracy": "balanced acc", "f1": "F1", "r2": "R²", "mae": "MAE",
                "reconstruction_r2": "reconstruction R²", "reconstruction_mae": "reconstruction MAE"}
# the round's validation score: the first of these it recorded (balanced accuracy when asked for)
SCORE_ORDER = ("balanced_accuracy", "f1", "r2", "reconstruction_r2")
MAX_NAMED_DROPS = 6
# at or under this t a channel does no better than the average shadow
REJECT_T = 0.0


@dataclass
class PruningRound:
    """What one round saw and decided.

    Attributes
    ----------
    index, seconds : int, float
        Round number (from 1), and the round's wall-clock seconds.
    kept, dropped : list of str
        Channels the round's trials were trained on; those it removed, worst first.
    score_mean, score_std : dict of str to float
        Validation reconstruction R² per channel: mean and standard deviation over trials.
    val_score, val_score_std, val_metrics : float, float, dict of str to float
        The round's validation score (F1, or balanced accuracy on imbalanced or class-weighted
        classes; R²; reconstruction R² without a target), mean and spread over trials; both of
        the task's validation scores, mean over trials (e.g. ``accuracy`` and ``f1``).
    stop_reason, on_path : str or None, bool
        Set on the last round: the stop rule that fired (``STOP_*``); whether the round is on the
        minimal-subset path of ``n_features_to_select="auto"``.
    importance_mean, importance_std, shared_mean, shared_std : dict of str to float
        Importance to the head and shared R² per channel (the relevance rule).
    t_importance, t_shared : dict of str to float
        Their t against the shadows in this round alone (importance on its effect scale); the
        fates read the importance's t pooled with the previous round's (``evidence``).
    clusters, groups : list of list of str
        The clusters of two or more channels the round ablated together, and the groups of
        channels (of one column, or of a user's group) decided as one unit.
    t_cluster, cluster_importance_mean : dict of str to float
        For every channel of a cluster: its cluster's t against the shadow clusters (effect
        scale) and the cluster's importance (mean over trials).
    stand_in_r2, stands_for : dict
        For every channel not relevant alone: its R² from the relevant channels; for every
        stand-in: the relevant channels it copies most.
    importance_lower : dict of str to float
        With a target, every channel's importance minus two standard errors over the rows (what
        ranks the channels on the minimal-subset path and with a budget of k).
    val_row_loss, val_row_weight : list of float
        The head's loss on every validation row the guard compares, mean over trials (empty
        without a target), and what each row counts for (empty: every row alike).
    guard : dict or None
        The guard's test against round 1 (:class:`pipeline.rounds.fate.GuardTest` fields),
        when it was run.
    evidence : dict of str to float
        What ranks the channels, larger is better: the larger of its own and its cluster's
        importance t, each pooled with the previous round's (without a target, its shared R²'s
        t); with a budget of k ``importance_lower``; under the reconstruction rule, the R².
    decision : dict of str to str
        Every channel's fate: ``relevant``, ``redundant`` (relevant with its cluster only),
        ``reconstructable`` (without a target), ``rejected`` or ``uncertain`` (``passes`` /
        ``below threshold`` under the reconstruction rule).
    rejected, spared : list of str
        Channels dropped for being confidently under the shadows (alone and with their cluster);
        channels that did not pass but stayed (the drop cap or the floor kept them).
    shadow : dict
        Per score, the null from the shadows: ``mean``, ``std``, ``n``, the bars ``pass_t`` and
        ``reject_t``, and ``values``; ``cluster_importance`` holds one per size bin (``sizes``).
    trial_scores : dict
        Per score (``r2``, ``importance``, ``shared_r2``), every channel's value in each trial.
    look_again : list of str
        Channels dropped earlier that the next round trains on again beside the kept ones (the
        second look, ``SelectionSettings.second_look``).
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
    look_again: list[str] = field(default_factory=list)

    def channels_after(self, order: Sequence[str]) -> list[str]:
        """The channels the next round trains on: the kept ones but the dropped, with those it looks
        at again back in ``order`` (the data's)."""
        if not self.look_again:
            return [c for c in self.kept if c not in set(self.dropped)]
        back = (set(self.kept) - set(self.dropped)) | set(self.look_again)
        return [str(c) for c in order if c in back]

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
        """For a redundant channel, the relevant channels it copies (reconstructed from them, or
        relevant partners of its cluster)."""
        if channel in self.stands_for:
            return list(self.stands_for[channel])
        return [c for c in self.partners(channel) if self.decision.get(c) == RELEVANT]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def score_name(self) -> str:
        """Name of :attr:`val_score` among :attr:`val_metrics`."""
        return next((n for n in SCORE_ORDER if n in self.val_metrics), "f1")

    def summary(self, n_kept: int) -> str:
        """One line for people: ``round 2: trained on 30, dropped 4 (a, b, c, d) → 26 kept,
        val F1 0.931, 1.2 s``; ``n_kept`` is what the loop kept after it."""
        if self.stop_reason == STOP_ACCURACY_GUARD:
            what = (f"the validation rows predicted worse than in round 1 → the last "
                    f"round's doubtful drops come back, {n_kept} kept")
        else:
            shown = ", ".join(self.dropped[:MAX_NAMED_DROPS])
            more = len(self.dropped) - MAX_NAMED_DROPS
            names = f" ({shown}{f' and {more} more' if more > 0 else ''})" if self.dropped else ""
            what = f"dropped {len(self.dropped)}{names} → {n_kept} kept"
            if self.look_again:
                what += f" (looking again at {len(self.look_again)} dropped earlier)"
        score = next((n for n in SCORE_ORDER if n in self.val_metrics), None)
        value = "" if score is None else f", val {SCORE_LABELS[score]} {self.val_metrics[score]:.3f}"
        line = f"round {self.index}: trained on {len(self.kept)}, {what}{value}, {self.seconds:.1f} s"
        return line + (f", stop: {self.stop_reason}" if self.stop_reason else "")

    def ranked(self) -> list[str]:
        """The channels best first: by evidence, ties by name."""
        score = self.evidence or self.score_mean
        return sorted(self.kept, key=lambda c: (-score[c], c))


def restorable(previous: PruningRound | None) -> list[str]:
    """What the accuracy guard may bring back: the previous round's drops neither rejected nor
    under the shadows' average, by the pooled t and by that round's own tests (a fall in
    accuracy after dropping only noise is validation noise)."""
    if previous is None:
        return []
    rejected = set(previous.rejected)

    def above_shadows(c: str) -> bool:
        own = max(previous.t_importance.get(c, math.inf), previous.t_cluster.get(c, -math.inf))
        return previous.evidence.get(c, 1.0) > REJECT_T and own > REJECT_T

    return [c for c in previous.dropped if c not in rejected and above_shadows(c)]


def row_mean_se(values: Sequence[float], weights: Sequence[float] | None = None
                ) -> tuple[float, float, float]:
    """The mean of per-row values, its standard error and the rows it stands for; with
    ``weights``, the weighted mean, the small-sample-corrected standard error of a weighted mean
    and Kish's effective count ``(sum w)² / sum w²`` (the plain ones for equal weights)."""
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


@dataclass(frozen=True)
class CountScore:
    """One round's point on the score-by-count curve: the ``round`` and the ``n_features`` it
    trained on, the ``mean_loss`` per scored row (Brier score, or squared error of the standardised
    target) and its ``std_error`` over the rows, the round's validation ``score`` (mean over
    trials), and whether it is ``on_path``."""

    round: int
    n_features: int
    mean_loss: float
    std_error: float
    score: float
    on_path: bool


def count_curve(rounds: Sequence[PruningRound]) -> list[CountScore]:
    """Every round that scored rows (rounds without a target score none), in order."""
    points = []
    for record in rounds:
        if record.val_row_loss:
            mean, se, _ = row_mean_se(record.val_row_loss, record.val_row_weight or None)
            points.append(CountScore(round=record.index, n_features=len(record.kept), mean_loss=mean,
                                     std_error=se, score=record.val_score, on_path=record.on_path))
    return points


def path_points(rounds: Sequence[PruningRound]) -> list[CountScore]:
    """The points the minimal count is chosen on: the rounds on the path but the first (trained
    with every shadow, it only turns to the path); the rounds after it are trained alike."""
    return [p for p in count_curve(rounds) if p.on_path][1:]


def minimal_round(rounds: Sequence[PruningRound]) -> PruningRound:
    """The minimal subset: of the rounds on the path (never larger than the all-relevant set),
    the one with the fewest channels whose mean loss per row is at most the best one's plus its
    standard error, going down from the best count and stopping at the first count past that
    limit (the one-standard-error rule of cross-validated model choice: what is within the noise
    of the best is as good, and smaller; a lone low point past a worse count is a round's noise).
    The last round when none scored rows."""
    points = path_points(rounds)
    if not points:
        return rounds[-1]
    best = min(points, key=lambda p: (p.mean_loss, p.n_features))
    limit = best.mean_loss + best.std_error
    chosen = best
    for point in sorted((p for p in points if p.n_features < best.n_features), key=lambda p: -p.n_features):
        if point.mean_loss > limit:
            break
        chosen = point
    return next(r for r in rounds if r.index == chosen.round)
