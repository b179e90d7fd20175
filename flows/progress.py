"""A per-round progress display for the terminal (silent when output is not a terminal)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console

from pipeline.report.round_table import RoundRow


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

    def update(self, row: RoundRow) -> None:
        """Print the finished round and say what is training now."""
        if not self.enabled:
            return
        self.console.print(row.summary(), highlight=False)
        if self._status is not None:
            self._status.update(
                "final model and report ..." if row.stop_reason
                else f"round {row.index + 1}: training the trials ..."
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
