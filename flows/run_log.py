"""What a run's log and the terminal show of warnings and failures.

Warnings raised while a flow runs go to its run logger: one line each, shown in the UI too.

Log records reach the terminal as one line each; their tracebacks go to the run log only. When
a run fails, Prefect logs the exception with its traceback, and its console handler prints that
traceback on stderr. The command line reports the failure itself, in one line (and the
traceback with ``--debug``), so on the console the records keep their message and lose the
traceback; Prefect's API handler, which feeds the run's log in the UI, still gets it whole.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def warnings_to_log(logger: logging.Logger | logging.LoggerAdapter[Any]) -> Iterator[None]:
    """Within the block, every warning (e.g. a skipped report folder, a checkpoint set aside) is
    logged by ``logger`` as one WARNING line instead of Python's two-line report on stderr.

    The pipeline warns with :func:`warnings.warn` (usable from plain Python and scikit-learn);
    a flow run's log is where people look, so it is forwarded there.
    """

    def log(message: Warning | str, category: type[Warning], filename: str, lineno: int,
            file: Any = None, line: str | None = None) -> None:
        logger.warning("%s", message)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = log
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


def _console_handlers() -> list[logging.Handler]:
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    found: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                found[id(handler)] = handler
    return list(found.values())


@contextmanager
def console_without_tracebacks() -> Iterator[None]:
    """Within the block, Prefect's console handlers print log records without tracebacks."""
    handlers = _console_handlers()
    saved = {id(h): h.formatter for h in handlers}
    for handler in handlers:
        handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
    try:
        yield
    finally:
        for handler in handlers:
            handler.setFormatter(saved[id(handler)])
