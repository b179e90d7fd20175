"""The claim of a named run's folder: one run at a time writes it, a finished one is never written
again, and an unfinished one (its run killed before report.json) is taken up again.

A named run claims ``<reports>/<name>/`` before it trains: the folder is created (``mkdir`` is atomic:
of two runs asking for one new name, one creates it) and the hidden claim file in it is locked
exclusively (``flock``; the kernel drops the lock when its process ends, however it ends). The lock
decides between runs that find the folder there: the one that holds it writes the folder, any other
is refused. A folder whose report.json exists is finished: taken for good.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from vaec.config import ConfigError

try:
    import fcntl
except ImportError:  # not POSIX: the folder's creation is the only claim
    fcntl = None  # type: ignore[assignment]

CLAIM_FILE = ".run-claim"  # marks a folder a run made, and holds its lock
REPORT_FILE = "report.json"  # a folder with one holds a finished run
_held: dict[Path, int] = {}  # folder -> the locked claim file's descriptor, in this process


def _key(folder: Path) -> Path:
    return Path(os.path.abspath(folder))


def _locked_elsewhere(folder: Path) -> bool:
    """Whether another process holds the claim of ``folder`` now."""
    if fcntl is None or _key(folder) in _held or not (folder / CLAIM_FILE).is_file():
        return False
    try:
        fd = os.open(folder / CLAIM_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken just to look
    return False


def taken_reason(folder: Path) -> str | None:
    """Why a run named by ``folder`` may not write it, or ``None`` when it may: the folder is new or
    empty, this process claimed it, or a run made it and ended before its report."""
    if folder.is_symlink():
        return f"{folder} is a symbolic link (a run writes only a folder of its own under reports_dir)"
    if not folder.exists() or _key(folder) in _held:
        return None
    if not folder.is_dir():
        return f"{folder} already exists and is not a folder"
    if (folder / REPORT_FILE).exists():
        return f"{folder} holds a finished run"
    if _locked_elsewhere(folder):
        return f"another run is writing {folder} now"
    if any(folder.iterdir()) and not (folder / CLAIM_FILE).is_file():
        return f"{folder} already exists and is no run's folder"
    return None  # empty, or an unfinished run's: taken up again


def taken_error(name: str, reason: str) -> ConfigError:
    """The one line that says a run name is taken, and why."""
    return ConfigError(f"run_name {name!r} is taken: {reason} (choose another name, or leave run_name out "
                       "for a new <dataset>-<timestamp> folder)")


def claim_run_folder(folder: str | os.PathLike[str]) -> Path:
    """Create (or take up) ``folder`` and lock it for this process until :func:`release` (a folder it
    holds already is returned); a one-line :class:`ConfigError` naming ``run_name`` when the folder is
    taken (:func:`taken_reason`)."""
    folder = Path(folder)
    if _key(folder) in _held:
        return folder
    with contextlib.suppress(FileExistsError):
        folder.mkdir(parents=True)
    if (reason := taken_reason(folder)) is not None:
        raise taken_error(folder.name, reason)
    fd = os.open(folder / CLAIM_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if (folder / REPORT_FILE).exists():  # finished while this run looked
            raise ConfigError(f"run_name {folder.name!r} is taken: {folder} holds a finished run")
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"run_name {folder.name!r} is taken: another run is writing {folder} now") from None
    except BaseException:
        os.close(fd)
        raise
    _held[_key(folder)] = fd
    return folder


def is_claimed(folder: str | os.PathLike[str]) -> bool:
    """Whether this process holds the claim of ``folder``."""
    return _key(Path(folder)) in _held


def release(folder: str | os.PathLike[str]) -> None:
    """Give up this process's claim of ``folder`` (nothing when it holds none); the claim file stays,
    marking the folder as a run's."""
    if (fd := _held.pop(_key(Path(folder)), None)) is not None:
        os.close(fd)
