"""The rule that decides what a pruning round drops, and the accuracy guard.

Two rules (``SelectionSettings.criterion``):

* ``relevance`` (the default). Every round trains on shadow channels too (permuted copies, a
  null with no relation to anything) and measures two things per channel against them:

  - **importance to the head**, alone: the rise of the head's loss when the channel is held at
    its mean. A channel whose importance beats the shadows' is **relevant**.
  - **importance with its partners**: channels correlated with each other (a cluster, see
    :mod:`pipeline.rounds.shadows`) are also held at their means together, and the cluster's
    loss rise is tested against *shadow clusters* - real clusters with their rows permuted
    together, so they are as correlated inside as the real ones and as empty of the target. A
    channel whose cluster beats them, but which is not relevant alone, is **redundant**: a
    copy that stands in for its partners (its twin covers for it when it is held alone).
  - **as a stand-in**: a channel the relevant channels reconstruct (a noisy copy or a mixture
    of them) is **redundant** too (:mod:`pipeline.rounds.relevance`).

  A channel that passes neither way stays only if it is not confidently below: it is
  **rejected** (dropped at once) when both its importance and its cluster's are at or under the
  shadows' average, **uncertain** otherwise (dropped at most ``max_drop_fraction`` of the
  channels per round, worst first, and looked at again next round). Every channel's test and
  every cluster's form one family under Benjamini-Hochberg at ``fdr``; from the second round on
  (without a budget of k) each test reads the mean of this round's t and the previous round's
  (:func:`pipeline.rounds.scores.pooled_t`), so one round's low draw cannot drop a relevant
  channel. Being reconstructable
  from the other channels never keeps a channel when there is a target: correlated channels
  that say nothing of it are reconstructable too. Without a target (the unsupervised task)
  reconstruction is all there is: a channel stays when its shared R² (what the neck carries
  of it from the other channels) beats the shadows' (**reconstructable**). The loop ends when
  every channel passes.
* ``reconstruction`` (the method's original rule): channels whose R² is under ``threshold``
  are the candidates, dropped worst first, at most ``max_drop_fraction`` per round.

Either way, with ``n_features_to_select`` the passing channels are dropped too, worst first, at
most ``step`` of them per round, until that many are left; never fewer than ``min_features``;
and the accuracy guard (below) ends the loop when the validation rows predict measurably worse
than in round 1 (every channel), after uncertain drops.

The accuracy guard
------------------
Dropping channels should cost the head nothing; when it does, the guard ends the loop and the
previous round's doubtful drops come back. On a validation split of 50-100 rows one row moves
accuracy or F1 by 1-2 points, so a fall in F1 says more about which rows a trial happened to get
right than about the channels. The guard compares the rounds row by row instead: every round
records the head's loss on each validation row (the Brier score of the class probabilities, or
the squared error of the standardised target; sampling off, mean over the trials, see
:func:`pipeline.rounds.scores.row_losses`), and a round fails the guard when its rows' losses are
larger than round 1's in a paired one-sided t test at ``guard_level`` **and** the total
rise is at least :data:`MIN_ROWS_WORTH` rows' worth (one row's worth: a row moved from certain
to a coin flip, a Brier score of 0.5; for regression, one standard deviation of the target). A
rise carried by two or three rows is neither. Weighted rows (``sample_weight`` times
``class_weight``, see :mod:`pipeline.data.weights`) count as many rows as their weight, scaled
to a mean of 1: the weighted mean rise, its standard error over Kish's effective count of rows
(the t test's degrees of freedom) and the rows' worth; a row of weight 0 does not count.

The reference is round 1, whose models saw every channel: the selection should cost nothing
against them. The best of the rounds so far would be a biased one: the lowest of many noisy
round losses lies below what its channels give, the more so the longer the loop, so a later
round would fall "measurably" behind it by chance (on permeability_qsar's 165 rows the guard
fired in 2 of 5 seeds against the best round and ended the loop with 23 and 45 of the 1,069
columns; against round 1, in 1 of 5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from pipeline.rounds.groups import group_fates, share_best, whole_groups
from pipeline.rounds.minimal import path_step
from pipeline.rounds.record import (
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


@dataclass(frozen=True)
class GuardTest:
    """One round's validation losses against the reference round's (round 1), row by row.

    Attributes
    ----------
    compared_with : int
        The reference round (round 1: every channel).
    rows : int
        Validation rows compared.
    mean_rise : float
        Mean rise of a row's loss (Brier score, or squared standard deviations), this round
        minus the reference.
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
    losses: np.ndarray, reference: np.ndarray, reference_index: int, level: float, task: Task,
    weights: np.ndarray | None = None,
) -> GuardTest:
    """Test whether ``losses`` (this round's per-row validation losses) are larger than
    ``reference`` (the reference round's, on the same rows); with ``weights`` (one per row) every row
    counts as that many rows (scaled to a mean of 1: the rows' worth stays in rows), in the
    weighted mean, its standard error and the effective count of rows behind the t test."""
    losses = np.asarray(losses, dtype=np.float64)
    rise = losses - np.asarray(reference, dtype=np.float64)
    if weights is None:
        mean = float(rise.mean())
        spread = float(rise.std(ddof=1)) if len(rise) > 1 else 0.0
        se, df, total = spread / math.sqrt(len(rise)), len(rise) - 1, float(rise.sum())
    else:
        w = np.asarray(weights, dtype=np.float64)
        mean, se, n_eff = row_mean_se(rise, w)
        df, total = n_eff - 1.0, float(w @ rise) / float(w.mean())
    if se > 0 and df > 0:
        t = mean / se
        p = float(stats.t.sf(t, df=df))
    else:
        t, p = (math.inf, 0.0) if mean > 0 else (0.0, 1.0)
    worth = total / ROW_WORTH.get(task.name, 1.0)
    return GuardTest(compared_with=reference_index, rows=len(rise), mean_rise=mean, rows_worth=worth,
                     t=float(t), p=p, fired=p < level and worth >= MIN_ROWS_WORTH)


def _target(
    config: SelectionSettings, task: Task, previous: PruningRound | None
) -> tuple[int | None, bool]:
    """The count a round drops towards (``None``: until every channel passes) and whether the
    round is on the minimal-subset path (``"auto"``, after a round where every channel passed).
    """
    k = config.n_features_to_select
    if k != AUTO:
        return k, False
    return None, task.has_target and previous is not None and previous.on_path


def decide_round(
    index: int,
    scores: TrialScores,
    config: SelectionSettings,
    reference: PruningRound | None,
    previous: PruningRound | None = None,
) -> PruningRound:
    """Turn a round's trial scores into its record: what to drop, or why to stop.

    In order: the accuracy guard (the validation rows predict worse than in ``reference``, the
    first round, on every channel, see :mod:`pipeline.rounds.fate`, when the previous round
    dropped channels that may come back: they do and the loop ends; never without a target,
    where channels dropped change what is reconstructed); then the rule's fates (see the module
    docstring). Rejected channels all go; uncertain ones (then, with
    ``n_features_to_select``, passing ones) at most ``max_drop_fraction`` (``step``) of the
    channels per round, at least one; never below the floor (``min_features``, or
    ``n_features_to_select``).
    """
    channels = list(scores.channels)
    record = _round_record(index, scores)
    if config.criterion == "relevance":
        rejected, uncertain = relevance_fates(record, scores, config, previous)
    else:
        rejected, uncertain = [], reconstruction_fates(record, config)
    if scores.groups:
        # the channels of one column (or of a user's group) are decided as one
        rejected, uncertain = group_fates(record.decision, record.evidence, scores.groups,
                                          rejected, uncertain)
        share_best(record.importance_lower, scores.groups)
    record.groups = [list(g) for g in scores.groups]
    target, on_path = _target(config, scores.task, previous)
    if not on_path and _guard_fires(record, config, scores.task, reference, previous):
        record.stop_reason = STOP_ACCURACY_GUARD
        return record
    n_kept = len(channels)
    failing = rejected + uncertain
    if on_path:
        return path_step(record, config)
    if target is None and not failing:
        if config.n_features_to_select != AUTO or not scores.task.has_target:
            record.stop_reason = STOP_ALL_PASS
            return record
        # every channel passed: "auto" turns to the path; the next round trains on the same
        # channels as the path's rounds train (see pipeline.rounds.minimal)
        record.on_path = True
        if n_kept <= config.min_features:
            record.stop_reason = STOP_AUTO
        return record
    return _drop_step(record, config, target, rejected, uncertain)


def _round_record(index: int, scores: TrialScores) -> PruningRound:
    """The round's record before any decision: its channels, their R² and the validation scores
    (per row, when the trials give them: the guard's evidence)."""
    channels = list(scores.channels)
    record = PruningRound(
        index=index,
        kept=channels,
        score_mean=per_channel(channels, scores.r2.mean(axis=0)),
        score_std=per_channel(channels, scores.r2.std(axis=0)),
        dropped=[],
        val_score=float(scores.val_score.mean()),
        val_score_std=float(scores.val_score.std()),
        val_metrics={k: float(v.mean()) for k, v in scores.val_metrics.items()},
        seconds=scores.seconds,
    )
    if scores.val_row_loss is not None:
        record.val_row_loss = [float(v) for v in scores.row_losses()]
        if scores.val_row_weight is not None:
            record.val_row_weight = [float(v) for v in scores.val_row_weight]
    record.trial_scores = {"r2": per_trial(channels, scores.r2)}
    return record


def _guard_fires(record: PruningRound, config: SelectionSettings, task: Task,
                 reference: PruningRound | None, previous: PruningRound | None) -> bool:
    """Whether the validation rows predict surely worse than in ``reference`` (the guard's paired
    test, recorded on ``record``), when the previous round's drops may come back at all."""
    level = config.guard_level
    if (level is None or reference is None or not reference.val_row_loss or not record.val_row_loss
            or not restorable(previous)):
        return False
    test = guard_test(record.val_row_loss, reference.val_row_loss, reference.index, level, task,
                      record.val_row_weight or None)
    record.guard = test.to_dict()
    return test.fired

def _drop_step(record: PruningRound, config: SelectionSettings, target: int | None,
               rejected: list[str], uncertain: list[str]) -> PruningRound:
    """What a round of the all-relevant rounds (or of the budget ``target``) drops: rejected
    channels all go, uncertain ones (then, with a budget, passing ones) under the cap, whole
    groups only, never below the floor; or why nothing can go."""
    channels, failing = record.kept, rejected + uncertain
    floor = config.min_features if target is None else max(target, config.min_features)
    if target is not None and len(channels) <= target:
        record.stop_reason = STOP_N_FEATURES
        return record
    # rejected channels all go; the rest under the cap; never below the floor
    capped = uncertain
    if target is not None:
        passing = sorted((c for c in channels if c not in set(failing)),
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
        record.stop_reason = STOP_N_FEATURES if target is not None and floor == target else (
            STOP_MIN_FEATURES
        )
        record.spared = failing
        return record
    record.dropped = drop
    record.rejected = [c for c in rejected if c in set(drop)]
    record.spared = [c for c in failing if c not in set(drop)]
    return record
