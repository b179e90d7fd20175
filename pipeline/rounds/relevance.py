"""The relevance rule (in words: :mod:`pipeline.rounds.fate`). Three tests against the shadows:

* **alone**: the rise of the head's loss when the channel is held at its mean, on the effect
  scale (the signed square root: a loss rise is quadratic in an effect), against the lone
  shadows (a member of a cluster: against the members of shadow clusters of its size bin);
* **with its cluster**: held at its means together, against the shadow clusters of its size bin;
* **as a stand-in**: a channel made of relevant ones (a noisy copy, a mixture) costs nothing
  held at its mean alone; it stands in for them when its out-of-sample R² from the relevant
  channels (a ridge regression fitted on the training rows, scored on the validation rows)
  beats the shadows' and reaches ``cluster_threshold²``. A correlated channel that says nothing
  of the target is reconstructed by its partners, not by the relevant channels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.rounds.record import (
    BELOW,
    PASSES,
    RECONSTRUCTABLE,
    REDUNDANT,
    REJECT_T,
    REJECTED,
    RELEVANT,
    UNCERTAIN,
    PruningRound,
)
from pipeline.rounds.scores import ScoreTest, passing_p, passing_t, pooled_t, test_against_shadows
from pipeline.rounds.shadows import CLUSTER_SIZE_BINS, size_bin
from pipeline.rounds.trials import TrialScores
from pipeline.settings import SelectionSettings

# Smallest spread of the shadows' scores: importance on its effect scale, R² in its own unit.
EFFECT_FLOOR, R2_FLOOR = 1e-2, 1e-3
# How many standard errors under its importance a channel is ranked with a budget of k.
LOWER_BOUND_Z = 2.0
# Ridge penalty relative to the predictors' mean variance: a stable solve, small against signal.
RIDGE = 1e-3
# The partners a stand-in copies: coefficients at least this share of the largest, at most MAX_NAMED.
NAMED_SHARE, MAX_NAMED = 0.3, 3


def stand_in_r2(train: np.ndarray, val: np.ndarray, predictors: np.ndarray,
                targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-sample R² of every ``targets`` column from the ``predictors`` columns
    (positions; NaN for a predictor) and the ridge coefficients ``(targets, predictors)``, from
    the second moments of the training and of the validation rows."""
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
    return r2, weights


def named_partners(weights: np.ndarray, names: list[str]) -> list[str]:
    """The predictors a stand-in copies most (by the size of their coefficients)."""
    size = np.abs(np.asarray(weights, dtype=np.float64))
    if size.size == 0 or size.max() <= 0:
        return []
    order = np.argsort(-size, kind="stable")
    return [names[i] for i in order[:MAX_NAMED] if size[i] >= NAMED_SHARE * size.max()]


def effect_scale(importance: np.ndarray) -> np.ndarray:
    """Signed square root of a loss rise: the effect's scale, where the null is near normal."""
    return np.sign(importance) * np.sqrt(np.abs(importance))


def per_channel(channels: list[str], values: np.ndarray) -> dict[str, float]:
    return {c: float(v) for c, v in zip(channels, values, strict=True)}


def per_trial(channels: list[str], values: np.ndarray) -> dict[str, list[float]]:
    return {c: [float(v) for v in values[:, i]] for i, c in enumerate(channels)}


def _shadow_summary(test: ScoreTest, pass_t: float) -> dict[str, Any]:
    return {"mean": test.shadow_mean, "std": test.shadow_std, "n": test.n_shadows, "pass_t": pass_t,
            "reject_t": REJECT_T, "values": [float(v) for v in test.shadow_means]}


def _binned_test(real: np.ndarray, shadows: np.ndarray, b: int) -> tuple[ScoreTest, dict[str, Any]]:
    """``real`` against the ``shadows`` of size bin ``b`` on the effect scale, and the null's summary."""
    test = test_against_shadows(effect_scale(real), effect_scale(shadows), EFFECT_FLOOR)
    return test, {"sizes": list(CLUSTER_SIZE_BINS[b]), **_shadow_summary(test, math.nan)}


def _cluster_tests(scores: TrialScores) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Every cluster's importance against the shadow clusters of its size bin: ``(t, p, degrees of
    freedom, per-bin shadow summaries)``."""
    n_clusters = len(scores.clusters)
    t, p, df = np.zeros(n_clusters), np.ones(n_clusters), np.ones(n_clusters)
    summaries = []
    real_bins = np.array([size_bin(len(c)) for c in scores.clusters])
    shadow_bins = np.array([size_bin(k) for k in scores.shadow_cluster_sizes])
    for b in np.unique(real_bins):
        test, summary = _binned_test(scores.cluster_importance[:, real_bins == b],
                                     scores.shadow_cluster_importance[:, shadow_bins == b], b)
        t[real_bins == b], p[real_bins == b], df[real_bins == b] = test.t, test.p, test.n_shadows - 1
        summaries.append(summary)
    return t, p, df, summaries


def _own_tests(scores: TrialScores) -> tuple[ScoreTest, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """The lone shadows' test (the band the report draws), every channel's ``t``, ``p`` and degrees
    of freedom against the shadows of its kind (a member of a cluster: the neck spends capacity on
    a correlated group, noise or not, and a lone shadow gets none), and the members' nulls."""
    alone = test_against_shadows(effect_scale(scores.importance),
                                 effect_scale(scores.shadow_importance), EFFECT_FLOOR)
    t, p = alone.t.copy(), alone.p.copy()
    df = np.full(len(t), alone.n_shadows - 1.0)
    summaries = []
    position = {c: i for i, c in enumerate(scores.channels)}
    member_bins = np.array([size_bin(k) for k in scores.shadow_cluster_sizes for _ in range(k)])
    for b in sorted({size_bin(len(c)) for c in scores.clusters}):
        rows = [position[c] for members in scores.clusters if size_bin(len(members)) == b for c in members]
        test, summary = _binned_test(scores.importance[:, rows],
                                     scores.shadow_member_importance[:, member_bins == b], b)
        t[rows], p[rows], df[rows] = test.t, test.p, test.n_shadows - 1
        summaries.append(summary)
    return alone, t, p, df, summaries


def _stand_in_tests(scores: TrialScores, relevant: np.ndarray, fdr: float, threshold: float | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[str]], dict[str, Any]]:
    """Which lone channels stand in for the relevant ones (Benjamini-Hochberg at ``fdr`` over
    the lone channels not relevant alone): ``(passes, r2, t, partners, shadow summary)``."""
    n = len(scores.channels)
    nan = np.full(n, np.nan)
    # a member of a cluster is decided with its cluster: a channel relevant by chance must not
    # carry its correlated partners in as its stand-ins
    clustered = np.isin(scores.channels, [c for members in scores.clusters for c in members])
    others = np.flatnonzero(~relevant & ~clustered)
    if scores.moments_train is None or threshold is None or not relevant.any() or not len(others):
        return np.zeros(n, dtype=bool), nan, nan, {}, {}
    predictors = np.flatnonzero(relevant)
    shadows = np.arange(n, scores.moments_train.shape[0])
    fitted, weights = stand_in_r2(scores.moments_train, scores.moments_val, predictors,
                                  np.concatenate([others, shadows]))
    r2, t = nan.copy(), nan.copy()
    test = test_against_shadows(fitted[None, : len(others)], fitted[None, len(others):], R2_FLOOR)
    r2[others], t[others] = test.mean, test.t
    bar = passing_p(test.p, fdr)
    passing = (test.p <= bar) & (test.mean >= threshold**2)
    passes = np.isin(np.arange(n), others[passing])
    names = [scores.channels[i] for i in predictors]
    partners = {scores.channels[others[j]]: named_partners(weights[j], names)
                for j in np.flatnonzero(passing)}
    return passes, r2, t, partners, _shadow_summary(test, passing_t(bar, test.n_shadows))


def relevance_fates(record: PruningRound, scores: TrialScores, config: SelectionSettings,
                    previous: PruningRound | None = None) -> None:
    """Fill the relevance rule's fields of ``record``, its fates among them.
    With a target and no budget of k the fates read each test's t pooled with the ``previous``
    round's (:func:`pipeline.rounds.scores.pooled_t`); the record keeps this round's own t."""
    channels = scores.channels
    importance, own_t, own_p, own_df, member_shadows = _own_tests(scores)
    shared = test_against_shadows(scores.shared_r2, scores.shadow_shared_r2, R2_FLOOR)
    cluster_t, cluster_p, cluster_df, cluster_shadows = _cluster_tests(scores)
    supervised = scores.task.has_target
    # the all-relevant test pools; with a budget of k the importance's lower bound ranks
    budget = config.budget is not None
    if supervised and previous is not None and not budget:
        before = [previous.t_importance.get(c, np.nan) for c in channels]
        pooled_own_t, own_p = pooled_t(own_t, np.array(before), own_df)
        # a cluster's t before: its members' mean in the previous round
        earlier = [[previous.t_cluster[c] for c in m if c in previous.t_cluster] for m in scores.clusters]
        before_clusters = np.array([np.mean(e) if e else np.nan for e in earlier], dtype=np.float64)
        pooled_cluster_t, cluster_p = pooled_t(cluster_t, before_clusters, cluster_df)
    else:
        pooled_own_t, pooled_cluster_t = own_t, cluster_t
    # one family: every channel's own test and every cluster's (without a target, shared R²)
    p_bar = passing_p(np.concatenate([own_p, cluster_p]) if supervised else shared.p, config.fdr)
    # decided on the p-values (the t bar is for people: the band drawn in the report)
    stand_summary: dict = {}
    if supervised:
        member_t, member_p = _member_tests(scores, pooled_cluster_t, cluster_p)
        fates, evidence, stand_summary = _supervised_fates(
            record, scores, config, (pooled_own_t, own_p), (member_t, member_p), p_bar)
        # k is a budget: the channels the head surely needs most, by the lower bound of their
        # importance (a channel away from its mean on a few rows only has a wide one)
        lower = (scores.importance - LOWER_BOUND_Z * scores.importance_se).mean(axis=0)
        record.importance_lower = per_channel(channels, lower)
        if budget:
            evidence = lower
    else:
        reconstructable = shared.p <= p_bar
        rejected = ~reconstructable & (shared.t < REJECT_T)
        fates = np.where(reconstructable, RECONSTRUCTABLE, np.where(rejected, REJECTED, UNCERTAIN))
        evidence = shared.t
    _record_scores(record, scores, importance, shared, own_t, cluster_t)
    record.evidence = per_channel(channels, evidence)
    record.decision = {c: str(f) for c, f in zip(channels, fates, strict=True)}
    record.shadow = {
        "importance": _shadow_summary(importance, passing_t(p_bar, importance.n_shadows)),
        "shared_r2": _shadow_summary(shared, passing_t(p_bar, shared.n_shadows)),
        "cluster_importance": cluster_shadows, "member_importance": member_shadows,
        "stand_in_r2": stand_summary}


def _member_tests(scores: TrialScores, cluster_t: np.ndarray, cluster_p: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Every channel's cluster test, t and p (a channel alone: -inf and 1)."""
    member_t, member_p = np.full(len(scores.channels), -np.inf), np.ones(len(scores.channels))
    position = {c: i for i, c in enumerate(scores.channels)}
    for j, members in enumerate(scores.clusters):
        for c in members:
            member_t[position[c]], member_p[position[c]] = cluster_t[j], cluster_p[j]
    return member_t, member_p


def _supervised_fates(record: PruningRound, scores: TrialScores, config: SelectionSettings,
                      own: tuple[np.ndarray, np.ndarray], member: tuple[np.ndarray, np.ndarray],
                      p_bar: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """The fates with a target, each channel's evidence (the t it is ranked by) and the stand-in
    test's summary; records which relevant channels each stand-in stands for."""
    (own_t, own_p), (member_t, member_p) = own, member
    channels = scores.channels
    # a channel of a group (one column's channels) is judged by its group's test alone:
    # the group is the unit, and its members' own tests would give it many chances
    grouped = np.isin(channels, [c for g in scores.groups for c in g])
    passes_with = member_p <= p_bar
    passes_alone = np.where(grouped, passes_with, own_p <= p_bar)
    stands_in, stand_r2, stand_t, copies, stand_summary = _stand_in_tests(
        scores, passes_alone, config.fdr, config.cluster_threshold)
    stands_in &= ~grouped
    redundant = passes_with | stands_in
    judged_t = np.where(grouped, member_t, own_t)
    rejected = ~passes_alone & ~redundant & (judged_t < REJECT_T) & (member_t < REJECT_T)
    fates = np.where(passes_alone, RELEVANT, np.where(
        redundant, REDUNDANT, np.where(rejected, REJECTED, UNCERTAIN)))
    evidence = np.maximum(judged_t, member_t)
    evidence = np.where(stands_in, np.maximum(evidence, stand_t), evidence)
    record.stand_in_r2 = {c: float(v) for c, v in zip(channels, stand_r2, strict=True) if not np.isnan(v)}
    record.stands_for = copies
    return fates, evidence, stand_summary


def _record_scores(record: PruningRound, scores: TrialScores, importance: ScoreTest, shared: ScoreTest,
                   own_t: np.ndarray, cluster_t: np.ndarray) -> None:
    """This round's own scores and t of every channel and cluster, and which were ablated together."""
    channels = scores.channels
    record.importance_mean = per_channel(channels, importance.mean)
    record.importance_std = per_channel(channels, importance.std)
    record.shared_mean = per_channel(channels, shared.mean)
    record.shared_std = per_channel(channels, shared.std)
    record.t_importance = per_channel(channels, own_t)
    record.t_shared = per_channel(channels, shared.t)
    record.trial_scores.update(importance=per_trial(channels, scores.importance),
                               shared_r2=per_trial(channels, scores.shared_r2))
    record.clusters = [list(c) for c in scores.clusters]
    record.t_cluster = {c: float(cluster_t[j]) for j, members in enumerate(scores.clusters) for c in members}
    record.cluster_importance_mean = {c: float(scores.cluster_importance[:, j].mean())
                                      for j, members in enumerate(scores.clusters) for c in members}


def reconstruction_fates(record: PruningRound, config: SelectionSettings) -> None:
    """Fill the reconstruction rule's fields: a channel under the threshold is a candidate to drop."""
    record.evidence = dict(record.score_mean)
    record.decision = {c: (PASSES if m >= config.threshold else BELOW) for c, m in record.score_mean.items()}

