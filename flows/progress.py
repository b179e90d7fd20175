"""A per-round progress display for the terminal (silent when output is not a terminal)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console

from pipeline.rounds import PruningRound

MAX_NAMED_DROPS = 6


def round_line(record: PruningRound) -> str:
    """One line on a finished round: channels in, dropped, kept, validation accuracy, seconds."""
    drops = record.dropped[:MAX_NAMED_DROPS]
    more = len(record.dropped) - len(drops)
    dropped = ", ".join(drops) + (f" and {more} more" if more else "") if drops else "none"
    line = (
        f"round {record.index}: {len(record.kept)} channels, dropped {len(record.dropped)} "
        f"({dropped}), {len(record.kept) - len(record.dropped)} kept, "
        f"val acc {record.val_accuracy:.3f}, {record.seconds:.1f} s"
    )
    return line + (f", stop: {record.stop_reason}" if record.stop_reason else "")


class RoundProgress:
    """A spinner while a round trains and one line per finished round, on stderr.

    Use as a context manager and pass :meth:`update` as the flow's round listener.

    Parameters
    ----------
    enabled : bool
        Draw anything at all (the command line passes ``sys.stdout.isatty()``, so piped
        output stays clean).
    console : rich.console.Console or None
        Where to draw; the default writes to stderr, keeping stdout for the results.
    """

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console if console is not None else Console(stderr=True)
        self._status: Any = None

    def __enter__(self) -> RoundProgress:
        if self.enabled:
            self._status = self.console.status("loading data and training the first round ...")
            self._status.start()
        return self

    def update(self, record: PruningRound) -> None:
        """Print the finished round and say what is training now."""
        if not self.enabled:
            return
        self.console.print(round_line(record), highlight=False)
        if self._status is not None:
            self._status.update(
                "final model and report ..." if record.stop_reason
                else f"round {record.index + 1}: training the trials ..."
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
