"""Run folders: their names, and claiming a new one without writing over an earlier run.

Plain Python (no matplotlib, no torch): the command line checks a run name before it starts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from pathlib import Path

from vaec.config import ConfigError


def check_run_name(name: str) -> str:
    """Return ``name`` if it is a single, visible folder name (the run's folder under the
    reports folder); otherwise raise a :class:`~vaec.config.ConfigError` naming ``run_name``.

    No path separators, no ``..``, nothing absolute: a run writes inside the reports folder and
    nowhere else. No leading dot either: hidden folders there are the runs' own
    (``.checkpoints``).
    """
    separators = {"/", "\\", os.sep, os.altsep} - {None}
    if (not isinstance(name, str) or not name.strip() or name.startswith(".")
            or any(s in name for s in separators) or "\0" in name
            or Path(name).is_absolute() or Path(name).name != name):
        raise ConfigError(
            f"run_name must be a single folder name (no '/', '\\', '..' or leading '.'), "
            f"got {name!r}"
        )
    return name


def default_run_name(dataset_name: str) -> str:
    """``<dataset>-<UTC timestamp>`` (a visible, single folder name whatever the data is
    called)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = "".join("_" if c in "/\\\0" else c for c in str(dataset_name)).lstrip(".")
    return f"{name or 'run'}-{stamp}"


def run_folder_taken(folder: Path) -> bool:
    """Whether a run folder already holds something (an empty folder may be reused)."""
    return folder.exists() and (not folder.is_dir() or any(folder.iterdir()))


def check_run_folder_free(reports_dir: str | os.PathLike[str], run_name: str) -> Path:
    """The folder of an explicitly named run, checked to be a valid name that is not taken.

    Raises
    ------
    ConfigError
        Naming ``run_name``, when the name is not a single folder name or the folder exists
        (a run never writes over an earlier one).
    """
    folder = Path(reports_dir) / check_run_name(run_name)
    if run_folder_taken(folder):
        raise ConfigError(
            f"run_name {run_name!r} is taken: {folder} already exists (choose another name, or "
            "leave run_name out for a new <dataset>-<timestamp> folder)"
        )
    return folder


def new_run_folder(
    reports_dir: str | os.PathLike[str], run_name: str | None, dataset_name: str
) -> Path:
    """Create the folder of a new run and return it; an existing run is never written over.

    Parameters
    ----------
    reports_dir : path
        The reports folder (created when missing).
    run_name : str or None
        An explicit name must be free (:func:`check_run_folder_free`, else a
        :class:`~vaec.config.ConfigError`): whoever asked for it expects the report there.
        ``None`` gives ``<dataset>-<UTC timestamp>``, with ``-2``, ``-3``, ... appended when
        another run took that name (two runs started in the same second).
    dataset_name : str
        The data's name, for the default folder name.
    """
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    if run_name is not None:
        folder = check_run_folder_free(root, run_name)
        try:
            folder.mkdir()
        except FileExistsError:  # made since the check: fine only while it is still empty
            check_run_folder_free(root, run_name)
        return folder
    base = default_run_name(dataset_name)
    for n in itertools.count(1):
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()  # atomic: of two runs asking for one name, one gets it
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")
