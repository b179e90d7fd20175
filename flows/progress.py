"""A per-round progress display for the terminal (silent when output is not a terminal)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console

from pipeline.rounds import PruningRound


class RoundProgress:
    """Shows which round is training and one line per finished round.

    Parameters
    ----------
    enabled : bool
        Draw anything at all (False when stdout is not a terminal).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._status = None

    def __enter__(self) -> RoundProgress:
        if self.enabled:
            self._status = self.console.status("round 1: training the trials ...")
            self._status.start()
        return self

    def update(self, record: PruningRound) -> None:
        """Print the finished round and move the spinner on."""
        if not self.enabled:
            return
        dropped = ", ".join(record.dropped) or "none"
        self.console.print(
            f"round {record.index}: {len(record.kept)} channels, dropped {dropped}, "
            f"val accuracy {record.val_accuracy:.3f}, {record.seconds:.1f} s"
            + (f" — stop: {record.stop_reason}" if record.stop_reason else "")
        )
        if self._status is not None:
            message = ("final model and report ..." if record.stop_reason
                       else f"round {record.index + 1}: training the trials ...")
            self._status.update(message)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
