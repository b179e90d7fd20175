"""The one rounds loop: train a round's trials, decide it, repeat until a stop rule fires (for
the plain selection and every resample of a stability selection). :class:`PruningRun` holds its
state, so a run killed mid-way resumes from its finished rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

import numpy as np

from pipeline.data.split import SplitData
from pipeline.final_model import FinalModel
from pipeline.machine import NoProgress, Progress
from pipeline.result import PruningResult
from pipeline.rounds.fate import decide_round, guard_test
from pipeline.rounds.record import (
    PASSING,
    REJECTED,
    STOP_ACCURACY_GUARD,
    STOP_ALL_PASS,
    STOP_AUTO,
    PruningRound,
    minimal_round,
    restorable,
)
from pipeline.rounds.trials import TrialScores, train_trials
from pipeline.settings import SelectionSettings

# train_round(run, channels) trains the next round's trials on the kept channels (channels None)
# or on the given ones (the accuracy guard's control)
TrainRound = Callable[["PruningRun", "list[str] | None"], TrialScores]
OnRound = Callable[["PruningRun", PruningRound], None]
# shadows of a round on the path: the fewest there may be (the path ranks by importance, which
# needs none, and every shadow is a noise column the round models overfit)
PATH_SHADOWS = 2
# The second look: the fewest dropped channels a chunk brings back to the kept ones, and the offset
# of its order's seed (a stream of its own).
MIN_LOOK, _LOOK_SEED = 5, 53


class PruningRun:
    """The state of one pruning run on ``split`` under ``config``, advanced a round at a time;
    ``rounds`` finished earlier (read back after a crash) are applied first, ``constant_columns``
    (dropped before the loop) are listed in the result. ``rounds`` are the finished rounds, in
    order, ``stop_reason`` why the loop ended (once it has), ``kept`` the channels the next round
    will train on (after the last round: the selection), ``cut`` the channels removed after the loop
    by the last cut to ``n_features_to_select`` (when the guard ended elimination with more), best
    first, and ``restored`` the channels the guard brought back.
    """

    def __init__(self, split: SplitData, config: SelectionSettings, rounds: Sequence[PruningRound] = (),
                 constant_columns: Sequence[str] = ()) -> None:
        self.split = split
        self.constant_columns = list(constant_columns)
        self.config = config
        self.rounds: list[PruningRound] = []
        self.kept: list[str] = [str(c) for c in split.feature_names]
        self.stop_reason: str | None = None
        self.cut: list[str] = []
        self.restored: list[str] = []
        for record in rounds:
            self._apply(record)

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def next_index(self) -> int:
        return len(self.rounds) + 1

    @property
    def round_config(self) -> SelectionSettings:
        """The settings the next round trains with: on the minimal-subset path, the fewest shadows."""
        if self.on_path:
            return self.config.replace(min_shadows=PATH_SHADOWS, max_shadows=PATH_SHADOWS)
        return self.config

    @property
    def on_path(self) -> bool:
        """Whether the next round is on the minimal-subset path."""
        return bool(self.rounds) and self.rounds[-1].on_path

    def train_trials(self, trials: Sequence[int] | None = None,
                     on_epoch: Callable[[int, int], None] | None = None,
                     channels: Sequence[str] | None = None) -> TrialScores:
        """Train (some of) the next round's trials on the kept channels (or ``channels``: the
        guard's control); groups trained apart are joined by :meth:`TrialScores.combine`."""
        self._check_open()
        channels = self.kept if channels is None else list(channels)
        return train_trials(self.split, channels, self.round_config, self.next_index, trials,
                            on_epoch, on_path=self.on_path)

    def record_round(self, scores: TrialScores,
                     control: Callable[[list[str]], TrialScores] | None = None) -> PruningRound:
        """Decide the next round from its trial scores and advance the state.

        When the accuracy guard fires and ``control`` is given, round 1's channels are trained
        again under this round's seeds (``control(channels)``): two rounds' models differ by
        their seeds and shadows as much as by their channels, so the guard stops the loop only
        when the control, trained like this round, also predicts the rows measurably better.
        """
        self._check_open()
        if scores.channels != self.kept:
            raise ValueError("the trial scores were not trained on the channels kept now")
        if len(scores.trials) != self.config.n_trials:
            raise ValueError(f"expected scores of {self.config.n_trials} trials, got {len(scores.trials)}")
        # the guard's reference: the first round, on every channel (see pipeline.rounds.fate)
        reference = next((r for r in self.rounds if r.mean_row_loss is not None), None)
        previous = self.rounds[-1] if self.rounds else None
        record = decide_round(self.next_index, scores, self.decision_config, reference, previous)
        if record.stop_reason == STOP_ACCURACY_GUARD and control is not None and reference is not None:
            record = self._confirmed(record, scores, reference, previous, control(list(reference.kept)))
        if self._looks_again():
            self._look(record)
        self._apply(record)
        return record

    def _look(self, record: PruningRound) -> None:
        """The second look's part of a round. While a chunk is looked at, the channels that passed
        before it stay, and a channel of the chunk that fails goes at once (it failed before, among
        more columns); once none fails (or the loop first finds every channel passing) the next
        chunk comes, and the loop ends when none is left."""
        last = next((r for r in reversed(self.rounds) if r.look_again), None)
        if last is not None and record.stop_reason != STOP_ACCURACY_GUARD:
            passed = set(last.kept)
            record.dropped = [c for c in record.kept
                              if c not in passed and record.decision.get(c) not in PASSING]
            record.rejected = [c for c in record.dropped if record.decision.get(c) == REJECTED]
            record.spared = []
            record.stop_reason = None if record.dropped else STOP_ALL_PASS
        if record.stop_reason == STOP_ALL_PASS:
            record.look_again = self._next_look(record)
            if record.look_again:
                record.stop_reason = None

    @property
    def decision_config(self) -> SelectionSettings:
        """The settings a round is decided with. While the second look tries a chunk, its tests run
        at ``fdr`` times the chunk's share of all the channels looked at again: the chunks are one
        family, not a fresh one each (what passed before stays whatever its test says)."""
        looks = [r for r in self.rounds if r.look_again]
        if not looks or not self._looks_again():
            return self.config
        looked = len(self.split.feature_names) - len(looks[0].kept)  # every dropped channel, once
        return self.config.replace(fdr=self.config.fdr * len(looks[-1].look_again) / max(looked, 1))

    def _looks_again(self) -> bool:
        config = self.config
        return (config.second_look and config.criterion == "relevance" and config.n_features_to_select is None
                and self.split.task.has_target)

    def _next_look(self, record: PruningRound) -> list[str]:
        """The next chunk of the second look: dropped channels not looked at again yet, whole
        groups in a seeded order, as many as the kept channels (at least :data:`MIN_LOOK`)."""
        kept = set(record.kept) - set(record.dropped)
        seen = kept.union(*(r.look_again for r in self.rounds))
        names = [str(c) for c in self.split.feature_names]
        groups = self.split.channel_groups(names)
        grouped = {c for g in groups for c in g}
        units = groups + [[c] for c in names if c not in grouped]
        order = np.random.default_rng(self.config.seed + _LOOK_SEED).permutation(len(units))
        chunk: list[str] = []
        for i in order:
            if len(chunk) >= max(len(kept), MIN_LOOK):
                break
            if not set(units[i]) & seen:
                chunk += units[i]
        return chunk

    def _confirmed(self, record: PruningRound, scores: TrialScores, reference: PruningRound,
                   previous: PruningRound | None, control: TrialScores) -> PruningRound:
        """The record after the guard's control: stopped when the control also predicts
        better, decided without the guard otherwise; either way both tests are on it."""
        test = guard_test(record.val_row_loss, control.row_losses(), reference.index,
                          self.config.guard_level, scores.task, record.val_row_weight or None)
        first = record.guard
        if not test.fired:
            record = decide_round(self.next_index, scores, self.config, None, previous)
        record.guard = {**first, "fired": test.fired, "control": asdict(test)}
        return record

    def _apply(self, record: PruningRound) -> None:
        self._check_open()
        if record.index != self.next_index or record.kept != self.kept:
            raise ValueError(f"round {record.index} does not continue this run (expected round "
                             f"{self.next_index} on {len(self.kept)} channels)")
        self.rounds.append(record)
        self.kept = record.channels_after(self.split.feature_names)
        self.stop_reason = record.stop_reason
        if record.stop_reason == STOP_AUTO:
            # the minimal subset: the fewest channels within one standard error of the best
            self.kept = list(minimal_round(self.rounds).kept)
        if record.stop_reason == STOP_ACCURACY_GUARD:
            # the accuracy fell with the last drop: what it dropped without confidence comes back
            before = self.rounds[-2]
            self.restored = restorable(before)
            back = set(record.kept) | set(self.restored)
            self.kept = [c for c in before.kept if c in back]
            target = self.config.budget
            if target is not None and len(self.kept) > target:
                # k is a promise: the last cut keeps the best-ranked of that round
                ranked = before.ranked()
                self.kept = [c for c in before.kept if c in set(ranked[:target])]
                self.cut = ranked[target:]

    def _check_open(self) -> None:
        if self.done:
            raise RuntimeError(f"the pruning loop has stopped ({self.stop_reason})")

    def finish(self, final: FinalModel | None = None) -> PruningResult:
        """The whole result, with the final model trained on the kept channels (if given)."""
        if not self.done:
            raise RuntimeError("the pruning loop has not stopped yet")
        return PruningResult.build(self.split, self.config, self.rounds, self.kept, final,
                                   self.constant_columns, cut=self.cut, restored=self.restored)


def run_rounds(
    split: SplitData, config: SelectionSettings, *, constant_columns: Sequence[str] = (),
    rounds: Sequence[PruningRound] = (), train_round: TrainRound | None = None,
    on_round: OnRound | None = None, progress: Progress | None = None,
) -> PruningRun:
    """Rounds until a stop rule fires, resuming after ``rounds``; returns the stopped run.

    ``train_round(run, channels)`` trains the next round's trials (on the kept channels, or on
    ``channels`` for the accuracy guard's control); the default trains them in this process and
    tells ``progress`` of every epoch. ``on_round(run, record)`` hears of every round decided.
    """
    run = PruningRun(split, config, rounds=rounds, constant_columns=constant_columns)
    progress = progress or NoProgress()

    def train(channels: list[str] | None = None) -> TrialScores:
        if train_round is not None:
            return train_round(run, channels)
        return run.train_trials(on_epoch=progress.epoch, channels=channels)

    while not run.done:
        progress.round_started(run.next_index, len(run.kept), config.model.epochs)
        record = run.record_round(train(), control=train)
        progress.round_finished(record, len(run.kept))
        if on_round is not None:
            on_round(run, record)
    return run
