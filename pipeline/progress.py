"""What a selection tells a progress display: rounds starting and ending, epochs, the final model.

:func:`pipeline.selection.run_selection` calls a :class:`Progress`; the command line draws bars
on a terminal, the selector's ``verbose`` prints a line per round, and by default nothing is
shown.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from pipeline.report.round_table import RoundRow


class Progress(Protocol):
    """Receives the events of a selection."""

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        """Round ``index`` starts training on ``n_channels`` for at most ``epochs``."""

    def epoch(self, epoch: int, epochs: int) -> None:
        """An epoch of the current round's training finished."""

    def round_finished(self, row: RoundRow) -> None:
        """A round was decided."""

    def final_started(self, n_channels: int) -> None:
        """The final model starts training."""


class NoProgress:
    """Shows nothing."""

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        pass

    def epoch(self, epoch: int, epochs: int) -> None:
        pass

    def round_finished(self, row: RoundRow) -> None:
        pass

    def final_started(self, n_channels: int) -> None:
        pass


class LineProgress(NoProgress):
    """One line per round and one for the final model, with the elapsed time.

    Parameters
    ----------
    stream : text stream, default sys.stderr
        Where the lines go.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def round_finished(self, row: RoundRow) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] {row.summary()}", file=self.stream, flush=True)

    def final_started(self, n_channels: int) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:7.1f} s] final model on {n_channels} channels ...",
              file=self.stream, flush=True)
