"""What people see of a run: the command line's progress bars (on a terminal only; the log lines say
the same) and summary, one line per warning or log record on the console (tracebacks go to the run's
log in the UI), and the run's artifacts in Prefect's UI (the report's sentences and tables).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from pipeline.machine import NoProgress
from pipeline.rounds.record import SCORE_LABELS, PruningRound

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
        return Text(f"{count} · {elapsed} · ETA {_clock(task.time_remaining)}", style="progress.elapsed")


class RoundProgress(NoProgress):
    """Bars for the rounds and their epochs (a stability selection's: its resamples), and a line per
    finished round or resample, on stderr; a context manager, handed to the flow as its display.
    ``enabled`` says whether to draw at all (the command line passes whether stderr is a terminal);
    ``console``, where to: by default stderr, keeping stdout for the results.
    """

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console if console is not None else Console(stderr=True)
        # a disabled display keeps count all the same, and draws nothing
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(), CountAndTime(),
                              console=self.console, transient=True, disable=not enabled)
        self._epochs = self._bars.add_task("starting", total=None, unit="")

    def __enter__(self) -> RoundProgress:
        self._bars.start()
        return self

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        self._bars.reset(self._epochs, total=epochs, unit="epochs",
                         description=f"round {index}: training on {n_channels} channels")

    def epoch(self, epoch: int, epochs: int) -> None:
        self._bars.update(self._epochs, completed=epoch, total=epochs)

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        if self.enabled:
            self.console.print(record.summary(n_kept), highlight=False)

    def resamples_started(self, total: int, done: int) -> None:
        self._bars.reset(self._epochs, total=total, completed=done, unit="resamples",
                         description=f"stability selection on {total} resamples")

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        self._bars.update(self._epochs, completed=done, total=total)
        if self.enabled:
            self.console.print(f"{done}/{total}: {selection.summary()}", highlight=False)

    def final_started(self, n_channels: int) -> None:
        self.stage(f"final model on {n_channels} channels", "epochs")

    def stage(self, what: str, unit: str = "") -> None:
        """A bar with no total yet (reset() would keep the last round's, ``0/300``)."""
        self._bars.remove_task(self._epochs)
        self._epochs = self._bars.add_task(what, total=None, unit=unit)

    def __exit__(self, *_: object) -> None:
        self._bars.stop()


def print_summary(out: dict[str, Any]) -> None:
    """Print what the run kept and dropped, what it cost, what weighed the rows, where its report is
    (``out``: what the flow returned)."""
    selected = out["selected"]
    if stability := out.get("stability"):
        print(f"kept {len(selected)} columns, each kept in at least "
              f"{100 * stability['keep_frequency']:g} % of {stability['n_resamples']} resamples "
              f"(Nogueira stability index {_maybe(stability['nogueira'])}, 95 % interval "
              f"{_maybe(stability['nogueira_low'])} to {_maybe(stability['nogueira_high'])}):")
    else:
        rounds = f"{out['n_rounds']} round{'s' * (out['n_rounds'] != 1)}"
        print(f"kept {len(selected)} columns after {rounds} (stop: {out['stop_reason']}):")
    print("  " + ", ".join(selected))
    dropped = out.get("dropped") or []
    print(f"dropped {len(dropped)}" + (":\n  " + ", ".join(dropped) if dropped else ""))
    if cost := out.get("cost"):
        label = SCORE_LABELS.get(cost["score"], cost["score"])
        print(f"cost: validation {label} {cost['all']:.3f} with all {cost['n_all']} columns, "
              f"{cost['kept']:.3f} with the {cost['n_kept']} kept (the round models)")
    if metrics := out.get("metrics"):
        print("final model: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    if out["added"] or out["removed"]:
        print(f"since the previous run: added {', '.join(out['added']) or 'none'}; "
              f"removed {', '.join(out['removed']) or 'none'}")
    if out.get("weight_column"):
        print(f"rows weighted by column {out['weight_column']!r} (not a feature)")
    print(f"report: {(Path(out['run_folder']) / 'report.html').resolve()}")


def _maybe(value: float | None) -> str:
    """A measure that may be undefined (NaN, or null in report.json)."""
    return "undefined" if value is None or math.isnan(value) else f"{value:.2f}"


@contextmanager
def warnings_to_log(logger: logging.Logger | logging.LoggerAdapter[Any]) -> Iterator[None]:
    """Within the block, every warning (the pipeline's :func:`warnings.warn`, e.g. a checkpoint set
    aside) is logged by ``logger`` as one WARNING line: a flow run's log is where people look."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *_: logger.warning("%s", message)
        yield


class _WithoutTraceback(logging.Formatter):
    """Formats a record with another formatter, leaving out its traceback and stack."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        # the record is shared with the other handlers: hide its traceback only while this
        # handler formats it
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextmanager
def console_without_tracebacks() -> Iterator[None]:
    """Within the block, Prefect's console handlers print log records without tracebacks (the
    command line reports a failure itself, in one line); its API handler, the UI's log, keeps them."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [logger for logger in logging.root.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    handlers = dict.fromkeys(handler for logger in loggers for handler in logger.handlers  # each once
                             if isinstance(handler, PrefectConsoleHandler))
    saved = [(handler, handler.formatter) for handler in handlers]
    for handler, formatter in saved:
        handler.setFormatter(_WithoutTraceback(formatter or logging.Formatter()))
    try:
        yield
    finally:
        for handler, formatter in saved:
            handler.setFormatter(formatter)


def publish_artifacts(report: dict[str, Any], folder: Path, key_prefix: str) -> None:
    """Markdown of the rounds (key ``<prefix>-rounds``; a stability selection's keep frequencies,
    ``<prefix>-stability``) with the selection and the change since the previous run, a table of
    every channel (``<prefix>-channels``) and the report's path (``<prefix>-report``)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from pipeline.report.tables import Table
    from pipeline.report.writer import diff_text

    key = "".join(ch if ch.isalnum() else "-" for ch in key_prefix.lower()).strip("-")
    tables = {name: Table.model_validate(table) for name, table in report["tables"].items()}
    name = report["data"]["name"]
    selection = (f"**Selected ({len(report['selected'])}):** {', '.join(report['selected'])}\n\n"
                 f"**Dropped ({len(report['dropped'])}):** {', '.join(report['dropped']) or 'none'}"
                 f"\n\n**Stop reason:** {report['stop_reason']}\n\n"
                 f"**Change since the previous run:** {diff_text(report.get('diff'))}\n")
    if report["data"].get("weight_column"):
        selection += f"\n**Rows weighted by column:** {report['data']['weight_column']} (not a feature)\n"
    notes = "\n".join(f"- {line}" for line in report["notes"])
    if "keep_frequency" in tables:
        kind, title, shown = "stability", "Stability selection", ["keep_frequency", "resamples"]
        about = "keep frequency of every channel over the resamples, how stable"
    else:
        kind, title, shown, about = "rounds", "Pruning rounds", ["rounds"], "rounds of the pruning loop"
    shown_tables = "".join(f"{tables[t].render('markdown')}\n\n" for t in shown)
    create_markdown_artifact(key=f"{key}-{kind}", description=about,
                             markdown=f"## {title}: {name}\n\n{notes}\n\n{shown_tables}{selection}")
    channels = tables["channels"]
    create_table_artifact(
        key=f"{key}-channels", table=[dict(zip(channels.columns, row, strict=True)) for row in channels.rows],
        description="every channel: kept, dropped (the round, why, its scores then) or constant")
    create_markdown_artifact(
        key=f"{key}-report",
        markdown=(f"Report folder: `{folder.resolve()}`\n\n"
                  f"- [report.html]({(folder / 'report.html').resolve().as_uri()})\n"
                  f"- selected features: `{(folder / 'selected_features.json').resolve()}`\n"),
        description="where the report of this run is")
