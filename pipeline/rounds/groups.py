"""Groups: the channels of one user column (its one-hot levels, its missing indicator, its date
parts), or of a group of columns the user declared, scored and decided as one unit.

A round treats a group as a cluster that is always ablated together (held at its mean as a
whole, and tested against shadow clusters: real groups and clusters with their rows permuted
together, see :mod:`pipeline.rounds.shadows`); correlation clusters form among the other
channels only. The fate rule then keeps or drops whole groups: a group passes when its best
channel passes (by name: ``relevant`` before ``redundant``, ...), and otherwise leaves as its
best channel's fate says (uncertain when one of them is, rejected when all are), in one piece.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.rounds.record import (
    BELOW,
    PASSES,
    PASSING,
    RECONSTRUCTABLE,
    REDUNDANT,
    REJECTED,
    RELEVANT,
    UNCERTAIN,
)

# the fates from best to worst: a group takes its best channel's
FATE_ORDER = (RELEVANT, REDUNDANT, RECONSTRUCTABLE, PASSES, UNCERTAIN, BELOW, REJECTED)


def cluster_units(groups: Sequence[Sequence[int]], correlated: Sequence[Sequence[int]]
                  ) -> list[list[int]]:
    """The round's clusters: every group of two or more channels, then the correlation clusters
    of the channels in no group (positions, each sorted; clusters ordered by first channel)."""
    units = [sorted(g) for g in groups if len(g) > 1]
    units += [sorted(c) for c in correlated if len(c) > 1]
    return sorted(units, key=lambda members: members[0])


def group_fates(
    decision: dict[str, str],
    evidence: dict[str, float],
    groups: Sequence[Sequence[str]],
    rejected: Sequence[str],
    uncertain: Sequence[str],
) -> tuple[list[str], list[str]]:
    """Every group's channels decided as one: each takes the group's best fate (``decision`` and
    ``evidence`` are updated in place: the group's best) and the (rejected, uncertain) lists are
    returned with whole groups in them."""
    rejected, uncertain = list(rejected), list(uncertain)
    share_best(evidence, groups)
    for group in groups:
        members = [c for c in group if c in decision]
        if len(members) < 2:
            continue
        best = min((decision[c] for c in members), key=FATE_ORDER.index)
        for c in members:
            decision[c] = best
        inside = set(members)
        rejected = [c for c in rejected if c not in inside]
        uncertain = [c for c in uncertain if c not in inside]
        if best == REJECTED:
            rejected += members
        elif best not in PASSING:
            uncertain += members
    return rejected, uncertain


def share_best(values: dict[str, float], groups: Sequence[Sequence[str]]) -> None:
    """Every channel of a group gets the group's largest value (in place): a group is ranked
    by its best channel."""
    for group in groups:
        members = [c for c in group if c in values]
        if members:
            best = max(values[c] for c in members)
            values.update(dict.fromkeys(members, best))


def whole_groups(drop: Sequence[str], groups: Sequence[Sequence[str]], kept: Sequence[str],
                 floor: int) -> list[str]:
    """``drop`` with every group it touches dropped whole, in the order they come, and no more
    than leaves ``floor`` channels of ``kept``: a group that would cross the floor stays whole."""
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
