"""The rule that decides what a pruning round drops, and the accuracy guard.

Two rules (``SelectionSettings.criterion``):

* ``relevance`` (the default): every channel is tested against shadows (permuted copies, a null;
  :mod:`pipeline.rounds.relevance`). It is **relevant** when its importance to the head alone
  beats the shadows'; **redundant** when, not relevant alone, its cluster of correlated channels
  ablated together beats the shadow clusters, or the relevant channels reconstruct it (a
  stand-in); without a target, **reconstructable** when its shared R² beats the shadows' (with
  one, reconstruction never keeps a channel). A channel that passes neither way is **rejected**
  (dropped at once) when its importance and its cluster's are both at or under the shadows'
  average, else **uncertain** (at most ``max_drop_fraction`` of the channels dropped a round,
  worst first). A round's tests form one Benjamini-Hochberg family at ``fdr``; from round 2 on
  (without a budget of k) each reads the mean of this round's t and the previous round's. The
  loop ends when every channel passes.
* ``reconstruction``: channels whose R² is under ``threshold`` go, worst first, at most
  ``max_drop_fraction`` a round.

With ``n_features_to_select`` passing channels go too, worst first, at most ``step`` of them a
round, down to that many; never below ``min_features``. A group (the channels of one column or
user group) takes its best channel's fate and goes whole. With ``"auto"``, once every channel
passes, the rounds go down the minimal-subset path (:func:`path_step`, :data:`PATH_STEP` at
most a round; the subset is chosen by :func:`pipeline.rounds.record.minimal_round`).

The accuracy guard
------------------
On 50-100 validation rows one row moves accuracy by 1-2 points, so the guard compares rounds row
by row: a round fails it when its rows' losses (Brier score, or squared error of the
standardised target; mean over trials) exceed round 1's in a paired one-sided t test at
``guard_level`` **and** the total rise is at least :data:`MIN_ROWS_WORTH` rows' worth (one: a
row from certain to a coin flip, Brier 0.5; for regression one standard deviation). Weighted
rows count as their weight scaled to a mean of 1 (degrees of freedom from Kish's effective
count). Then the loop ends and the previous round's doubtful drops come back. The reference is
round 1, on every channel: the best round so far would be biased low (the lowest of many noisy
losses), and later rounds would fall behind it by chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from pipeline.rounds.record import (
    FATE_ORDER,
    PASSING,
    REJECTED,
    STOP_ACCURACY_GUARD,
    STOP_ALL_PASS,
    STOP_AUTO,
    STOP_MIN_FEATURES,
    STOP_N_FEATURES,
    PruningRound,
    restorable,
    row_mean_se,
)
from pipeline.rounds.relevance import per_channel, per_trial, reconstruction_fates, relevance_fates
from pipeline.rounds.trials import TrialScores
from pipeline.settings import AUTO, SelectionSettings
from vaec.tasks import Task

# Smallest total rise in loss that can fire the guard, in rows' worth.
MIN_ROWS_WORTH = 5
ROW_WORTH = {"classification": 0.5, "regression": 1.0}
PATH_STEP = 0.2  # the largest share of its channels a round on the minimal-subset path drops


@dataclass(frozen=True)
class GuardTest:
    """One round's validation losses against the reference round's (round 1), row by row:
    ``compared_with`` the reference round, ``rows`` the validation rows compared, ``mean_rise`` the
    mean rise of a row's loss (this round minus the reference) and ``rows_worth`` the total in rows'
    worth, ``t`` and ``p`` the paired one-sided t statistic and p-value of the rise, ``fired``
    whether the rise is significant at the level and at least :data:`MIN_ROWS_WORTH` rows' worth.
    """

    compared_with: int
    rows: int
    mean_rise: float
    rows_worth: float
    t: float
    p: float
    fired: bool


def guard_test(losses: np.ndarray, reference: np.ndarray, reference_index: int, level: float, task: Task,
               weights: np.ndarray | None = None) -> GuardTest:
    """Test whether ``losses`` (this round's per-row validation losses) are larger than
    ``reference`` (the reference round's, on the same rows), rows weighted by ``weights``."""
    rise = np.asarray(losses, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    mean, se, n_eff = row_mean_se(rise, weights)
    df = n_eff - 1.0
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(rise.sum()) if w is None else float(w @ rise) / float(w.mean())
    if se > 0 and df > 0:
        t, p = mean / se, float(stats.t.sf(mean / se, df=df))
    else:
        t, p = (math.inf, 0.0) if mean > 0 else (0.0, 1.0)
    worth = total / ROW_WORTH.get(task.name, 1.0)
    return GuardTest(compared_with=reference_index, rows=len(rise), mean_rise=mean, rows_worth=worth,
                     t=float(t), p=p, fired=p < level and worth >= MIN_ROWS_WORTH)


def decide_round(index: int, scores: TrialScores, config: SelectionSettings,
                 reference: PruningRound | None, previous: PruningRound | None = None) -> PruningRound:
    """Turn a round's trial scores into its record: what to drop, or why to stop.

    In order: the accuracy guard against ``reference`` (round 1), when the previous round
    dropped channels that may come back (never without a target, where the channels dropped
    change what is reconstructed); then the rule's fates, as the module docstring says.
    """
    record = _round_record(index, scores)
    if config.criterion == "relevance":
        relevance_fates(record, scores, config, previous)
    else:
        reconstruction_fates(record, config)
    rejected, uncertain = group_fates(record.decision, record.evidence, scores.groups)
    share_best(record.importance_lower, scores.groups)
    record.groups = [list(g) for g in scores.groups]
    # the count the round drops towards (None: until all pass)
    k, target = config.n_features_to_select, config.budget
    if k == AUTO and scores.task.has_target and previous is not None and previous.on_path:
        return path_step(record, config)
    if _guard_fires(record, config, scores.task, reference, previous):
        record.stop_reason = STOP_ACCURACY_GUARD
        return record
    if target is None and not rejected + uncertain:
        if k != AUTO or not scores.task.has_target:
            record.stop_reason = STOP_ALL_PASS
            return record
        # every channel passed: "auto" turns to the path (the next round trains as the path's do)
        record.on_path = True
        if len(record.kept) <= config.min_features:
            record.stop_reason = STOP_AUTO
        return record
    return _drop_step(record, config, target, rejected, uncertain)


def _round_record(index: int, scores: TrialScores) -> PruningRound:
    """The round's record before any decision: its channels, their R² and validation scores."""
    channels, losses, weights = list(scores.channels), scores.row_losses(), scores.val_row_weight
    return PruningRound(
        index=index, kept=channels, score_mean=per_channel(channels, scores.r2.mean(axis=0)),
        score_std=per_channel(channels, scores.r2.std(axis=0)), dropped=[],
        val_score=float(scores.val_score.mean()), val_score_std=float(scores.val_score.std()),
        val_metrics={k: float(v.mean()) for k, v in scores.val_metrics.items()}, seconds=scores.seconds,
        val_row_loss=[] if losses is None else [float(v) for v in losses],
        val_row_weight=[] if losses is None or weights is None else [float(v) for v in weights],
        trial_scores={"r2": per_trial(channels, scores.r2)})


def _guard_fires(record: PruningRound, config: SelectionSettings, task: Task,
                 reference: PruningRound | None, previous: PruningRound | None) -> bool:
    """Whether the guard fires against ``reference`` (its test recorded on ``record``)."""
    level = config.guard_level
    if (level is None or reference is None or not reference.val_row_loss or not record.val_row_loss
            or not restorable(previous)):
        return False
    test = guard_test(record.val_row_loss, reference.val_row_loss, reference.index, level, task,
                      record.val_row_weight or None)
    record.guard = asdict(test)
    return test.fired


def _drop_step(record: PruningRound, config: SelectionSettings, target: int | None,
               rejected: list[str], uncertain: list[str]) -> PruningRound:
    """What a round drops towards the all-relevant set (or the budget ``target``), or why nothing
    can go."""
    channels, failing = record.kept, rejected + uncertain
    floor = config.min_features if target is None else max(target, config.min_features)
    if target is not None and len(channels) <= target:
        record.stop_reason = STOP_N_FEATURES
        return record
    # rejected channels all go; the rest (with a budget, passing ones too) under the cap
    passing = [] if target is None else sorted((c for c in channels if c not in set(failing)),
                                               key=lambda c: (record.evidence[c], c))
    capped = uncertain + passing
    # the cap is a fraction of what the rejections leave (RFE's step with a budget)
    fraction = config.max_drop_fraction if target is None else config.step
    cap = max(1, math.floor(fraction * (len(channels) - len(rejected))))
    drop = whole_groups(rejected + capped[:cap], record.groups, channels, floor)
    if target is not None and len(channels) - len(drop) == target:
        # the budget is reached: no round is needed to find that out
        record.stop_reason = STOP_N_FEATURES
    if not drop:
        record.stop_reason = STOP_N_FEATURES if target is not None and floor == target else STOP_MIN_FEATURES
    record.dropped = drop
    record.rejected = [c for c in rejected if c in set(drop)]
    record.spared = [c for c in failing if c not in set(drop)]
    return record


def group_fates(decision: dict[str, str], evidence: dict[str, float],
                groups: Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
    """Every group's channels decided as one: each takes the group's best fate and evidence (in
    place). Returns the rejected and the uncertain (failing, not rejected) channels, worst first;
    ties by name, so the order never depends on the column order."""
    share_best(evidence, groups)
    for group in groups:
        members = [c for c in group if c in decision]
        if members:
            decision.update(dict.fromkeys(members, min((decision[c] for c in members), key=FATE_ORDER.index)))
    worst_first = sorted(decision, key=lambda c: (evidence[c], c))
    return ([c for c in worst_first if decision[c] == REJECTED],
            [c for c in worst_first if decision[c] not in (*PASSING, REJECTED)])


def share_best(values: dict[str, float], groups: Sequence[Sequence[str]]) -> None:
    """Every channel of a group gets the group's largest value (in place)."""
    for group in groups:
        members = [c for c in group if c in values]
        if members:
            values.update(dict.fromkeys(members, max(values[c] for c in members)))


def whole_groups(drop: Sequence[str], groups: Sequence[Sequence[str]], kept: Sequence[str],
                 floor: int) -> list[str]:
    """``drop`` with every group it touches dropped whole, in order, while ``floor`` channels of
    ``kept`` are left (a group that would cross the floor stays whole)."""
    group_of = {c: tuple(g) for g in groups for c in g}
    present = set(kept)
    out: list[str] = []
    for channel in drop:
        if channel in out:
            continue
        unit = [c for c in group_of.get(channel, (channel,)) if c in present and c not in out]
        if len(present) - len(out) - len(unit) < floor:
            break
        out += unit
    return out


def path_step(record: PruningRound, config: SelectionSettings) -> PruningRound:
    """A round on the minimal-subset path: the channels the head needs least go, by the lower
    bound of their importance (too few shadows to test against), one channel of a correlated
    cluster (twins cover for each other), at most ``step`` and :data:`PATH_STEP` of the channels
    a round (longer strides skip the counts near the minimal one), down to ``min_features``."""
    record.on_path = True
    n_kept = len(record.kept)
    if n_kept <= config.min_features:
        record.stop_reason = STOP_AUTO
        return record
    rank = record.importance_lower or record.evidence
    cluster = {c: i for i, members in enumerate(record.clusters) for c in members}
    first: dict[object, str] = {}  # the worst channel of every cluster (or of itself)
    for channel in sorted(record.kept, key=lambda c: (rank[c], c)):
        first.setdefault(cluster.get(channel, channel), channel)
    cap = max(1, math.floor(min(config.step, PATH_STEP) * n_kept))
    record.dropped = whole_groups(list(first.values())[:cap], record.groups, record.kept, config.min_features)
    return record
