"""The minimal subset of ``n_features_to_select="auto"``: the smallest count within one
standard error of the best.

Once every channel has passed (the all-relevant set), the loop turns to the path: the next
rounds train with the fewest shadows (:func:`path_settings`; a shadow is a noise column the
round models overfit, worst on few channels) and eliminate (:func:`path_step`) - the channels
least needed first, by the lower bound of their importance, one channel of a correlated
cluster and at most ``step`` of the channels a round - down to ``min_features``; the first of
them trains on the all-relevant set itself. Every round records the head's loss on every row it scores (out of
fold on small tables, the validation rows otherwise). Over every round of the
run, all columns included, :func:`count_curve` is the mean loss per row at each count with its
standard error; :func:`minimal_round` picks, among the all-relevant set and the rounds after it,
the round with the fewest channels whose mean loss is at most the best one's plus its standard
error, going down from the best count and stopping at the first count past that limit (the
one-standard-error rule of cross-validated model choice: what is within the noise of the best
is as good, and smaller; a lone low point past a worse count is a round's noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.rounds.groups import whole_groups
from pipeline.rounds.record import STOP_AUTO, PruningRound, row_mean_se
from pipeline.settings import SelectionSettings

# shadows of a round on the path: the fewest there may be (the path ranks by importance, which
# needs none, and every shadow is a noise column the round models overfit: on breast_cancer's
# three best channels the loss per row was 0.145 with ten shadows, 0.083 with two)
PATH_SHADOWS = 2


def path_settings(config: SelectionSettings) -> SelectionSettings:
    """The settings of a round on the path: the fewest shadows."""
    return config.replace(min_shadows=PATH_SHADOWS, max_shadows=PATH_SHADOWS)


@dataclass(frozen=True)
class CountScore:
    """One round's point on the score-by-count curve.

    Attributes
    ----------
    round : int
        The round.
    n_features : int
        Channels it trained on.
    mean_loss, std_error : float
        Mean loss per scored row (Brier score of the class probabilities, or squared error of
        the standardised target) and its standard error over the rows.
    score : float
        The round's validation score (F1, or R²), mean over its trials.
    on_path : bool
        Whether the round is past the all-relevant set.
    """

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
        if not record.val_row_loss:
            continue
        mean, se, _ = row_mean_se(record.val_row_loss, record.val_row_weight or None)
        points.append(CountScore(round=record.index, n_features=len(record.kept),
                                 mean_loss=mean, std_error=se,
                                 score=record.val_score, on_path=record.on_path))
    return points


def path_points(rounds: Sequence[PruningRound]) -> list[CountScore]:
    """The points of the curve the minimal count is chosen on: the rounds on the path but the
    first, which only turns to it (trained with every shadow, it drops nothing); the rounds
    after it are trained alike."""
    return [p for p in count_curve(rounds) if p.on_path][1:]


def minimal_round(rounds: Sequence[PruningRound]) -> PruningRound:
    """Of the rounds on the path (the all-relevant set and after), the one with the fewest
    channels whose mean loss is within one standard error of the best one's, reached from the
    best count down without passing a count outside it (the last round when none scored
    rows). The rounds before the all-relevant set are not candidates: they
    hold channels that failed the shadow test, and the minimal subset is never larger than
    the all-relevant one."""
    points = path_points(rounds)
    if not points:
        return rounds[-1]
    best = min(points, key=lambda p: (p.mean_loss, p.n_features))
    limit = best.mean_loss + best.std_error
    chosen = best
    # down from the best count, while every count on the way stays within the limit: a lone
    # low point further down is a round's noise, not a smaller subset as good
    for point in sorted((p for p in points if p.n_features < best.n_features),
                        key=lambda p: -p.n_features):
        if point.mean_loss > limit:
            break
        chosen = point
    return next(r for r in rounds if r.index == chosen.round)


def _one_per_cluster(worst_first: list[str], clusters: list[list[str]]) -> list[str]:
    """``worst_first`` with only the worst channel of each cluster."""
    cluster = {c: i for i, members in enumerate(clusters) for c in members}
    seen: set[int] = set()
    kept = []
    for channel in worst_first:
        i = cluster.get(channel)
        if i is None or i not in seen:
            kept.append(channel)
            if i is not None:
                seen.add(i)
    return kept


def path_step(record: PruningRound, config: SelectionSettings) -> PruningRound:
    """A round on the minimal-subset path: the channels the head needs least go, by the lower
    bound of their importance (a round on the path has too few shadows to test against), one
    channel of a correlated cluster (twins cover for each other when held out alone) and at
    most ``step`` of the channels a round, down to ``min_features``, where the path ends."""
    record.on_path = True
    n_kept = len(record.kept)
    if n_kept <= config.min_features:
        record.stop_reason = STOP_AUTO
        return record
    rank = record.importance_lower or record.evidence
    worst_first = _one_per_cluster(sorted(record.kept, key=lambda c: (rank[c], c)),
                                   record.clusters)
    cap = max(1, math.floor(config.step * n_kept))
    record.dropped = whole_groups(worst_first[:cap], record.groups, record.kept,
                                  config.min_features)
    return record
