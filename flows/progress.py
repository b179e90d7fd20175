"""The command line's progress display: bars on a terminal, nothing otherwise.

On a terminal: a bar of the current round's epochs (it ends early when the round stops early),
the round count and the elapsed time, and one line per finished round above the bars; in a
stability selection a bar of the resamples and a line per finished resample. When the output is
not a terminal the display draws nothing; the run's log lines say the same.
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from pipeline.machine import NoProgress
from pipeline.rounds.record import PruningRound

if TYPE_CHECKING:
    from pipeline.stability.result import ResampleSelection


def _clock(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=int(seconds)))


class CountAndTime(ProgressColumn):
    """``12/300 epochs · 0:00:02 · ETA 0:00:03`` for a bar with a total; the elapsed time alone
    for a step without one (a spinning bar has nothing to count and no end to estimate)."""

    def render(self, task: Task) -> Text:
        elapsed = _clock(task.finished_time if task.finished else task.elapsed)
        if task.total is None:
            return Text(elapsed, style="progress.elapsed")
        count = f"{int(task.completed)}/{int(task.total)} {task.fields.get('unit', '')}".rstrip()
        return Text(f"{count} · {elapsed} · ETA {_clock(task.time_remaining)}",
                    style="progress.elapsed")


class RoundProgress(NoProgress):
    """Bars for the rounds and their epochs, and a line per round, on stderr.

    Use as a context manager and hand it to the flow as its progress display.

    Parameters
    ----------
    enabled : bool
        Draw anything at all (the command line passes whether stderr is a terminal).
    console : rich.console.Console or None
        Where to draw; the default writes to stderr, keeping stdout for the results.
    """

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console if console is not None else Console(stderr=True)
        self._bars: Progress | None = None
        self._epochs: TaskID | None = None

    def __enter__(self) -> RoundProgress:
        if self.enabled:
            self._bars = Progress(
                TextColumn("{task.description}"), BarColumn(), CountAndTime(),
                console=self.console, transient=True,
            )
            self._bars.start()
            self._epochs = self._bars.add_task("starting", total=None, unit="")
        return self

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        """A new bar of epochs for the round."""
        if self._bars is not None and self._epochs is not None:
            self._bars.reset(self._epochs, total=epochs, unit="epochs",
                             description=f"round {index}: training on {n_channels} channels")

    def epoch(self, epoch: int, epochs: int) -> None:
        """Move the bar to ``epoch``."""
        if self._bars is not None and self._epochs is not None:
            self._bars.update(self._epochs, completed=epoch, total=epochs)

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        """Print the finished round above the bars."""
        if self.enabled:
            self.console.print(record.summary(n_kept), highlight=False)

    def resamples_started(self, total: int, done: int) -> None:
        """A bar of the resamples (those finished before a crash count as done)."""
        if self._bars is not None and self._epochs is not None:
            self._bars.reset(self._epochs, total=total, completed=done, unit="resamples",
                             description=f"stability selection on {total} resamples")

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        """Print the finished resample above the bar and move the bar."""
        if self._bars is not None and self._epochs is not None:
            self._bars.update(self._epochs, completed=done, total=total)
        if self.enabled:
            self.console.print(f"{done}/{total}: {selection.summary()}", highlight=False)

    def final_started(self, n_channels: int) -> None:
        """A bar of epochs for the final model (the report follows)."""
        self._fresh_bar(f"final model on {n_channels} channels", "epochs")

    def stage(self, what: str) -> None:
        """The bar says what is happening now (a step without epochs: it spins)."""
        self._fresh_bar(what, "")

    def _fresh_bar(self, description: str, unit: str) -> None:
        """A bar with no total yet: reset() would keep the last round's (``0/300``)."""
        if self._bars is not None and self._epochs is not None:
            self._bars.remove_task(self._epochs)
            self._epochs = self._bars.add_task(description, total=None, unit=unit)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
