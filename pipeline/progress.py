"""What a selection tells a progress display: rounds starting and ending, epochs, resamples
finishing (stability selection), the final model, and the steps without epochs (the report).

:func:`pipeline.selection.run_selection` calls a :class:`Progress`; the command line draws bars
on a terminal, the selector's ``verbose`` prints a line per round, and by default nothing is
shown.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from pipeline.rounds.record import PruningRound
    from pipeline.stability.result import ResampleSelection


class Progress(Protocol):
    """Receives the events of a selection."""

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        """Round ``index`` starts training on ``n_channels`` for at most ``epochs``."""

    def epoch(self, epoch: int, epochs: int) -> None:
        """An epoch of the current round's training finished."""

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        """A round was decided; the loop keeps ``n_kept`` channels after it."""

    def resamples_started(self, total: int, done: int) -> None:
        """A stability selection starts ``total`` resamples, ``done`` of them finished earlier."""

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        """A resample's selection finished; ``done`` of ``total`` are."""

    def final_started(self, n_channels: int) -> None:
        """The final model starts training."""

    def stage(self, what: str) -> None:
        """A step without epochs starts (``writing the report``), so nothing sits still
        silently."""


class NoProgress:
    """Shows nothing."""

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        pass

    def epoch(self, epoch: int, epochs: int) -> None:
        pass

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        pass

    def resamples_started(self, total: int, done: int) -> None:
        pass

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        pass

    def final_started(self, n_channels: int) -> None:
        pass

    def stage(self, what: str) -> None:
        pass


class LineProgress(NoProgress):
    """One line per round (per resample in a stability selection) and one for the final model,
    with the elapsed time.

    Parameters
    ----------
    stream : text stream, default sys.stderr
        Where the lines go.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] {record.summary(n_kept)}", file=self.stream, flush=True)

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] {done}/{total}: {selection.summary()}", file=self.stream,
              flush=True)

    def final_started(self, n_channels: int) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] final model on {n_channels} channels ...",
              file=self.stream, flush=True)

    def stage(self, what: str) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] {what} ...", file=self.stream, flush=True)
