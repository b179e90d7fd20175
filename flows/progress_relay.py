"""Progress events of a flow run, relayed to the displays of the process that draws them.

The command line's display (rich bars: a console with locks, a refresh thread) lives in the
command's process. The flow's tasks may be shipped to other processes (Dask workers): Prefect
pickles the flow and its tasks, with the module globals their code refers to, and whenever it
pickles the module by value (a flow whose module the other side cannot import) everything those
globals reach goes too. So the relay keeps its displays on the instance, never in a module
global, and a relay that is pickled arrives empty: the displays stay where they draw, and a
trial group trained elsewhere simply tells nobody of its epochs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.progress import NoProgress, Progress
from pipeline.rounds.record import PruningRound
from pipeline.stability.result import ResampleSelection


class ProgressRelay(NoProgress):
    """Every progress event to every display registered in this process."""

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
