"""Warnings raised while a flow runs go to its run logger: one line each, shown in the UI too."""

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
