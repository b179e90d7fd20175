"""What a selection tells a progress display: rounds starting and ending, epochs, resamples
finishing (stability selection), the final model, and the steps without epochs (the report).

:func:`pipeline.selection.run_selection` calls a :class:`Progress`; the command line draws bars
on a terminal, the selector's ``verbose`` prints a line per round, and by default nothing is
shown. A :class:`ProgressRelay` hands every event on to the displays registered with it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TextIO

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


class ProgressRelay(NoProgress):
    """Every progress event to every display registered in this process.

    A display (the command line's rich bars: a console with locks, a refresh thread) lives in
    the process that draws it, while a flow's tasks may be shipped to other processes (Dask
    workers): Prefect pickles the flow and its tasks with the module globals their code refers
    to, and whenever it pickles a module by value everything those globals reach goes too. So
    the relay keeps its displays on the instance, never in a module global, and a relay that is
    pickled arrives empty: the displays stay where they draw, and a trial group trained
    elsewhere simply tells nobody of its epochs.
    """

    def __init__(self) -> None:
        self._displays: list[Progress] = []

    @property
    def displays(self) -> tuple[Progress, ...]:
        """The displays registered now."""
        return tuple(self._displays)

    @contextmanager
    def showing(self, display: Progress | None) -> Iterator[None]:
        """Within the block, ``display`` (if any) is told of every event."""
        if display is None:
            yield
            return
        self._displays.append(display)
        try:
            yield
        finally:
            self._displays.remove(display)

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        for display in self.displays:
            display.round_started(index, n_channels, epochs)

    def epoch(self, epoch: int, epochs: int) -> None:
        for display in self.displays:
            display.epoch(epoch, epochs)

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        for display in self.displays:
            display.round_finished(record, n_kept)

    def resamples_started(self, total: int, done: int) -> None:
        for display in self.displays:
            display.resamples_started(total, done)

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        for display in self.displays:
            display.resample_finished(selection, done, total)

    def final_started(self, n_channels: int) -> None:
        for display in self.displays:
            display.final_started(n_channels)

    def stage(self, what: str) -> None:
        for display in self.displays:
            display.stage(what)

    def __reduce__(self) -> tuple[Any, ...]:
        # another process gets a relay of its own, without this process's displays
        return (type(self), ())
