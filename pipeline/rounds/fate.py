"""One pruning round as a record, and the rule that decides what a round drops.

Two rules (``PruningConfig.criterion``):

* ``relevance`` (the default). Every round trains on shadow channels too (permuted copies, a
  null with no relation to anything) and measures two things per channel against them:

  - **importance to the head**, alone: the rise of the head's loss when the channel is held at
    its mean. A channel whose importance beats the shadows' is **relevant**.
  - **importance with its partners**: channels correlated with each other (a cluster, see
    :mod:`pipeline.rounds.clusters`) are also held at their means together, and the cluster's loss
    rise is tested against *shadow clusters* - real clusters with their rows permuted
    together, so they are as correlated inside as the real ones and as empty of the target. A
    channel whose cluster beats them, but which is not relevant alone, is **redundant**: a
    copy that stands in for its partners (its twin covers for it when it is held alone).

  A channel that passes neither way stays only if it is not confidently below: it is
  **rejected** (dropped at once) when both its importance and its cluster's are at or under the
  shadows' average, **uncertain** otherwise (dropped at most ``max_drop_fraction`` of the
  channels per round, worst first, and looked at again next round). Every channel's test and
  every cluster's form one family under Benjamini-Hochberg at ``fdr``. Being reconstructable
  from the other channels never keeps a channel when there is a target: correlated channels
  that say nothing of it are reconstructable too. Without a target (the unsupervised task)
  reconstruction is all there is: a channel stays when its shared R² (what the neck carries
  of it from the other channels) beats the shadows' (**reconstructable**). The loop ends when
  every channel passes.
* ``reconstruction`` (the method's original rule): channels whose R² is under ``threshold``
  are the candidates, dropped worst first, at most ``max_drop_fraction`` per round.

Either way, with ``n_features_to_select`` the passing channels are dropped too, worst first, at
most ``step`` of them per round, until that many are left; never fewer than ``min_features``;
and the accuracy guard (:mod:`pipeline.rounds.guard`) ends the loop when the validation rows predict
measurably worse than in the best round, after uncertain drops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline.pruning_config import PruningConfig
from pipeline.rounds.guard import guard_test
from pipeline.rounds.shadows import CLUSTER_SIZE_BINS, size_bin
from pipeline.rounds.significance import (
    REJECT_T,
    ScoreTest,
    passing_p,
    passing_t,
    test_against_shadows,
)
from pipeline.rounds.stand_in import named_partners, stand_in_r2
from pipeline.rounds.trials import TrialScores

STOP_ALL_PASS = "all_pass"
STOP_MIN_FEATURES = "min_features"
STOP_N_FEATURES = "n_features_to_select"
STOP_ACCURACY_GUARD = "accuracy_guard"
STOP_REASONS = (STOP_ALL_PASS, STOP_MIN_FEATURES, STOP_N_FEATURES, STOP_ACCURACY_GUARD)

# with a target: relevant alone, or with the partners of its cluster (a redundant copy); without
# a target: reconstructable from the other channels
RELEVANT, REDUNDANT, RECONSTRUCTABLE = "relevant", "redundant", "reconstructable"
REJECTED, UNCERTAIN = "rejected", "uncertain"
PASSES, BELOW = "passes", "below threshold"  # the reconstruction rule's two fates
PASSING = (RELEVANT, REDUNDANT, RECONSTRUCTABLE, PASSES)

# Smallest spread of the shadows' scores: importance on its effect scale (the square root of
# nats per row), R² in its own unit.
EFFECT_FLOOR, R2_FLOOR = 1e-2, 1e-3
# How many standard errors under its importance a channel is ranked with a budget of k.
LOWER_BOUND_Z = 2.0


def effect_scale(importance: np.ndarray) -> np.ndarray:
    """Signed square root of a loss rise: the scale of the channel's effect, where the shadows'
    scores are close enough to normal for the t test."""
    return np.sign(importance) * np.sqrt(np.abs(importance))


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
        The validation score the accuracy guard watches (F1; R² for regression; the
        reconstruction's R² without a target), sampling off, best epoch, mean over trials.
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
        Their prediction-interval t against the shadows (importance on its effect scale, the
        signed square root, see :func:`effect_scale`).
    clusters : list of list of str
        The clusters of correlated channels the round ablated together (clusters of one
        channel are left out).
    t_cluster, cluster_importance_mean : dict of str to float
        For every channel of a cluster: its cluster's t against the shadow clusters (effect
        scale) and the cluster's importance (mean over trials).
    stand_in_r2 : dict of str to float
        For every channel not relevant alone: its R² on the validation rows from the relevant
        channels (:mod:`pipeline.rounds.stand_in`).
    stands_for : dict of str to list of str
        For every channel that passed as a stand-in: the relevant channels it copies most.
    val_row_loss : list of float
        The head's loss on every validation row the guard compares, mean over trials (empty
        without a target).
    guard : dict or None
        The guard's test against the best earlier round (:class:`pipeline.rounds.guard.GuardTest`
        fields), when it was run.
    evidence : dict of str to float
        What ranks the channels, larger is better: the larger of its own and its cluster's
        importance t (without a target, its shared R²'s t); with
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
    guard: dict[str, Any] | None = None
    stand_in_r2: dict[str, float] = field(default_factory=dict)
    stands_for: dict[str, list[str]] = field(default_factory=dict)

    @property
    def mean_row_loss(self) -> float | None:
        """Mean validation loss per row (what picks the best round for the guard)."""
        return float(np.mean(self.val_row_loss)) if self.val_row_loss else None

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
        """Name of :attr:`val_score` among :attr:`val_metrics`."""
        return next((n for n in ("f1", "r2", "reconstruction_r2") if n in self.val_metrics), "f1")

    def ranked(self) -> list[str]:
        """The channels best first: by evidence, ties by name."""
        score = self.evidence or self.score_mean
        return sorted(self.kept, key=lambda c: (-score[c], c))


def _per_channel(channels: list[str], values: np.ndarray) -> dict[str, float]:
    return {c: float(v) for c, v in zip(channels, values, strict=True)}


def _per_trial(channels: list[str], values: np.ndarray) -> dict[str, list[float]]:
    return {c: [float(v) for v in values[:, i]] for i, c in enumerate(channels)}


def _shadow_summary(test: ScoreTest, pass_t: float, reject_t: float) -> dict[str, Any]:
    return {"mean": test.shadow_mean, "std": test.shadow_std, "n": test.n_shadows,
            "pass_t": pass_t, "reject_t": reject_t,
            "values": [float(v) for v in test.shadow_means]}


def _cluster_tests(
    scores: TrialScores,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Every cluster's importance (ablated whole, on the effect scale) tested against the shadow
    clusters of its size bin: ``(t, p, per-bin shadow summaries)``, one t and p per cluster."""
    n_clusters = len(scores.clusters)
    t, p = np.zeros(n_clusters), np.ones(n_clusters)
    summaries: list[dict[str, Any]] = []
    if not n_clusters:
        return t, p, summaries
    real_bins = np.array([size_bin(len(c)) for c in scores.clusters])
    shadow_bins = np.array([size_bin(k) for k in scores.shadow_cluster_sizes])
    for b in np.unique(real_bins):
        test = test_against_shadows(
            effect_scale(scores.cluster_importance[:, real_bins == b]),
            effect_scale(scores.shadow_cluster_importance[:, shadow_bins == b]), EFFECT_FLOOR)
        t[real_bins == b], p[real_bins == b] = test.t, test.p
        low, high = CLUSTER_SIZE_BINS[b]
        summaries.append({"sizes": [low, high], **_shadow_summary(test, math.nan, REJECT_T)})
    return t, p, summaries


def _stand_in_tests(
    scores: TrialScores, relevant: np.ndarray, fdr: float, threshold: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[str]], dict[str, Any]]:
    """Which channels stand in for the relevant ones (see :mod:`pipeline.rounds.stand_in`): their R²
    from the relevant channels tested against the shadows' (Benjamini-Hochberg at ``fdr`` over
    the channels not relevant alone) and at least ``threshold²``.

    Returns ``(passes, r2, t, partners, shadow summary)``; ``r2`` and ``t`` are NaN for the
    relevant channels, ``partners`` names what each passing channel copies most.
    """
    n = len(scores.channels)
    nan = np.full(n, np.nan)
    if scores.moments_train is None or threshold is None or not relevant.any() or relevant.all():
        return np.zeros(n, dtype=bool), nan, nan, {}, {}
    predictors = np.flatnonzero(relevant)
    others = np.flatnonzero(~relevant)
    shadows = np.arange(n, scores.moments_train.shape[0])
    fitted = stand_in_r2(scores.moments_train, scores.moments_val, predictors,
                         np.concatenate([others, shadows]))
    r2, t = nan.copy(), nan.copy()
    test = test_against_shadows(fitted.r2[None, : len(others)], fitted.r2[None, len(others):],
                                R2_FLOOR)
    r2[others], t[others] = test.mean, test.t
    bar = passing_p(test.p, fdr)
    passing = (test.p <= bar) & (test.mean >= threshold**2)
    passes = np.zeros(n, dtype=bool)
    passes[others[passing]] = True
    names = [scores.channels[i] for i in predictors]
    partners = {scores.channels[others[j]]: named_partners(fitted.weights[j], names)
                for j in np.flatnonzero(passing)}
    summary = _shadow_summary(test, passing_t(bar, test.n_shadows), REJECT_T)
    return passes, r2, t, partners, summary


def _relevance_fates(
    record: PruningRound, scores: TrialScores, config: PruningConfig
) -> tuple[list[str], list[str]]:
    """Fill the relevance rule's fields of ``record``; return (rejected, uncertain) channels.

    With a target a channel passes on its importance alone (``relevant``) or on its cluster's,
    ablated whole (``redundant``: it stands in for its partners); reconstruction never keeps a
    channel. Without a target its shared R² decides (``reconstructable``).
    """
    channels = scores.channels
    # importance is a loss rise, quadratic in a channel's effect: its null has a long right tail
    # (a chance correlation counts twice); the test runs on the effect's scale
    importance = test_against_shadows(
        effect_scale(scores.importance), effect_scale(scores.shadow_importance), EFFECT_FLOOR
    )
    shared = test_against_shadows(scores.shared_r2, scores.shadow_shared_r2, R2_FLOOR)
    cluster_t, cluster_p, cluster_shadows = _cluster_tests(scores)
    supervised = scores.task != "unsupervised"
    # one family: every channel's own test and every cluster's (without a target, shared R²)
    p_bar = passing_p(np.concatenate([importance.p, cluster_p]) if supervised else shared.p,
                      config.fdr)
    reject_t = REJECT_T
    # every channel's cluster test (a channel alone has none: it can only pass on its own)
    member_t = np.full(len(channels), -np.inf)
    member_p = np.ones(len(channels))
    position = {c: i for i, c in enumerate(channels)}
    for j, members in enumerate(scores.clusters):
        for c in members:
            member_t[position[c]], member_p[position[c]] = cluster_t[j], cluster_p[j]
    # decided on the p-values (the t bar is for people: the band drawn in the report)
    stand_t, stand_summary = np.full(len(channels), np.nan), {}
    if supervised:
        passes_alone = importance.p <= p_bar
        passes_with = member_p <= p_bar
        stands_in, stand_r2, stand_t, copies, stand_summary = _stand_in_tests(
            scores, passes_alone, config.fdr, config.cluster_threshold)
        redundant = passes_with | stands_in
        rejected = ~passes_alone & ~redundant & (importance.t < reject_t) & (member_t < reject_t)
        fates = np.where(passes_alone, RELEVANT, np.where(
            redundant, REDUNDANT, np.where(rejected, REJECTED, UNCERTAIN)))
        evidence = np.maximum(importance.t, member_t)
        evidence = np.where(stands_in, np.maximum(evidence, stand_t), evidence)
        record.stand_in_r2 = {c: float(v) for c, v in zip(channels, stand_r2, strict=True)
                              if not np.isnan(v)}
        record.stands_for = copies
    else:
        reconstructable = shared.p <= p_bar
        rejected = ~reconstructable & (shared.t < reject_t)
        fates = np.where(reconstructable, RECONSTRUCTABLE, np.where(rejected, REJECTED, UNCERTAIN))
        evidence = shared.t
    if config.n_features_to_select is not None and supervised:
        # k is a budget: the channels the head surely needs most, by the lower bound of their
        # importance (a channel away from its mean on a few rows only has a wide one)
        lower = scores.importance - LOWER_BOUND_Z * scores.importance_se
        evidence = lower.mean(axis=0)
    record.importance_mean = _per_channel(channels, importance.mean)
    record.importance_std = _per_channel(channels, importance.std)
    record.shared_mean = _per_channel(channels, shared.mean)
    record.shared_std = _per_channel(channels, shared.std)
    record.t_importance = _per_channel(channels, importance.t)
    record.t_shared = _per_channel(channels, shared.t)
    record.evidence = _per_channel(channels, evidence)
    record.decision = {c: str(f) for c, f in zip(channels, fates, strict=True)}
    record.clusters = [list(c) for c in scores.clusters]
    record.t_cluster = {c: float(cluster_t[j]) for j, members in enumerate(scores.clusters)
                        for c in members}
    record.cluster_importance_mean = {
        c: float(scores.cluster_importance[:, j].mean())
        for j, members in enumerate(scores.clusters) for c in members}
    pass_t = passing_t(p_bar, importance.n_shadows)
    record.shadow = {"importance": _shadow_summary(importance, pass_t, reject_t),
                     "shared_r2": _shadow_summary(shared, passing_t(p_bar, shared.n_shadows),
                                                  reject_t),
                     "cluster_importance": cluster_shadows, "stand_in_r2": stand_summary}
    record.trial_scores.update(importance=_per_trial(channels, scores.importance),
                               shared_r2=_per_trial(channels, scores.shared_r2))
    worst_first = sorted(channels, key=lambda c: (record.evidence[c], c))
    return ([c for c in worst_first if record.decision[c] == REJECTED],
            [c for c in worst_first if record.decision[c] == UNCERTAIN])


def _reconstruction_fates(record: PruningRound, config: PruningConfig) -> list[str]:
    """Fill the reconstruction rule's fields; return the candidates (under the threshold)."""
    record.evidence = dict(record.score_mean)
    record.decision = {c: (PASSES if m >= config.threshold else BELOW)
                       for c, m in record.score_mean.items()}
    # worst first; ties by name so the order never depends on the column order
    worst_first = sorted(record.kept, key=lambda c: (record.score_mean[c], c))
    return [c for c in worst_first if record.decision[c] == BELOW]


def restorable(previous: PruningRound | None) -> list[str]:
    """What the accuracy guard may bring back: the previous round's drops that were neither
    rejected nor under the shadows' average (a fall in accuracy after dropping only noise is
    validation noise)."""
    if previous is None:
        return []
    rejected = set(previous.rejected)
    return [c for c in previous.dropped
            if c not in rejected and previous.evidence.get(c, 1.0) > REJECT_T]


def decide_round(
    index: int,
    scores: TrialScores,
    config: PruningConfig,
    best: PruningRound | None,
    previous: PruningRound | None = None,
) -> PruningRound:
    """Turn a round's trial scores into its record: what to drop, or why to stop.

    In order: the accuracy guard (the validation rows predict worse than in ``best``, the best
    earlier round, see :mod:`pipeline.rounds.guard`, when the previous round dropped channels that
    may come back: they do and the loop ends; never without a target, where channels dropped
    change what is reconstructed); then the rule's
    fates (see the module docstring). Rejected channels all go; uncertain ones (then, with
    ``n_features_to_select``, passing ones) at most ``max_drop_fraction`` (``step``) of the
    channels per round, at least one; never below the floor (``min_features``, or
    ``n_features_to_select``).
    """
    channels = list(scores.channels)
    val_score = float(scores.val_score.mean())
    record = PruningRound(
        index=index,
        kept=channels,
        score_mean=_per_channel(channels, scores.r2.mean(axis=0)),
        score_std=_per_channel(channels, scores.r2.std(axis=0)),
        dropped=[],
        val_score=val_score,
        val_score_std=float(scores.val_score.std()),
        val_metrics={k: float(v.mean()) for k, v in scores.val_metrics.items()},
        seconds=scores.seconds,
    )
    if scores.val_row_loss is not None:
        record.val_row_loss = [float(v) for v in scores.val_row_loss.mean(axis=0)]
    record.trial_scores = {"r2": _per_trial(channels, scores.r2)}
    if config.criterion == "relevance":
        rejected, uncertain = _relevance_fates(record, scores, config)
    else:
        rejected, uncertain = [], _reconstruction_fates(record, config)
    level = config.guard_level
    if (level is not None and best is not None and best.val_row_loss and record.val_row_loss
            and restorable(previous)):
        test = guard_test(record.val_row_loss, best.val_row_loss, best.index, level, scores.task)
        record.guard = test.to_dict()
        if test.fired:
            record.stop_reason = STOP_ACCURACY_GUARD
            return record

    n_kept = len(channels)
    target = config.n_features_to_select
    floor = config.min_features if target is None else max(target, config.min_features)
    if target is not None and n_kept <= target:
        record.stop_reason = STOP_N_FEATURES
        return record
    failing = rejected + uncertain
    if target is None and not failing:
        record.stop_reason = STOP_ALL_PASS
        return record
    # rejected channels all go; the rest under the cap; never below the floor
    capped = uncertain
    if target is not None:
        passing = sorted((c for c in channels if c not in set(failing)),
                         key=lambda c: (record.evidence[c], c))
        capped = uncertain + passing
    # the cap is a fraction of what the rejections leave (RFE's step with a budget)
    fraction = config.max_drop_fraction if target is None else config.step
    cap = max(1, math.floor(fraction * (n_kept - len(rejected))))
    drop = rejected + capped[:cap]
    drop = drop[: max(0, n_kept - floor)]
    if target is not None and n_kept - len(drop) == target:
        # the budget is reached: no round is needed to find that out
        record.stop_reason = STOP_N_FEATURES
    if not drop:
        record.stop_reason = STOP_N_FEATURES if target is not None and floor == target else (
            STOP_MIN_FEATURES
        )
        record.spared = failing
        return record
    record.dropped = drop
    record.rejected = [c for c in rejected if c in set(drop)]
    record.spared = [c for c in failing if c not in set(drop)]
    return record
