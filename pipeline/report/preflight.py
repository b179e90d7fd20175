"""Before any training: can this run's report be written where it is asked to go?

An unwritable or full reports folder, or a run name that is taken, would otherwise be found
after the rounds and the final model have trained. Plain Python (no torch, no matplotlib): the
command line calls it before it starts Prefect.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pipeline.report.run_folders import check_run_folder_free
from vaec.config import ConfigError

# A report folder holds a few MB (the HTML with its figures, the final model); the checkpoints
# and the figures' temporary files need some more while the run goes on.
MIN_FREE_BYTES = 64 * 2**20


def check_reports_folder(
    reports_dir: str | os.PathLike[str], run_name: str | None = None,
    min_free_bytes: int = MIN_FREE_BYTES,
) -> Path:
    """Make sure a run can write its report; return the reports folder.

    The folder is created when missing, a file is written to it (and removed), and its disk
    must have ``min_free_bytes`` free. An explicit ``run_name`` must be a free, single folder
    name.

    Raises
    ------
    ConfigError
        One line naming ``reports_dir`` (or ``run_name``) and the reason.
    """
    root = Path(reports_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root, prefix=".write-check-") as probe:
            probe.write(b"report")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(root).free
    except OSError as err:
        reason = err.strerror or str(err)
        raise ConfigError(f"reports_dir {str(root)!r} is not writable: {reason}") from err
    if free < min_free_bytes:
        raise ConfigError(
            f"reports_dir {str(root)!r} has {free / 2**20:.1f} MB free; a run needs at least "
            f"{min_free_bytes / 2**20:.0f} MB for its report"
        )
    if run_name is not None:
        check_run_folder_free(root, run_name)
    return root
