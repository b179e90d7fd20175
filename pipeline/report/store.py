"""What a run leaves on disk: its identity, checkpoints, run folders, and report.json read back.

Every JSON file read back is validated by a pydantic model: one that fails is one line naming the
file and the field. Plain Python and pydantic, so the command line loads no torch or pandas.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from pipeline.report.claim import REPORT_FILE, claim_run_folder, taken_error, taken_reason
from pipeline.report.tables import Table
from vaec.config import ConfigError
from vaec.persistence import atomic_write_text

if TYPE_CHECKING:
    from pipeline.rounds.record import PruningRound
    from pipeline.settings import SelectionSettings
    from pipeline.stability.result import ResampleSelection

CHECKPOINT_DIR, CORRUPT_SUFFIX = ".checkpoints", ".corrupt"
REPORT_SCHEMA, CHECKPOINT_SCHEMA = 1, 1  # one schema version per kind of file
MIN_FREE_BYTES = 64 * 2**20  # a report folder holds a few MB, the checkpoints some more
MAX_REPORT_BYTES = 64 * 2**20  # 2000 channels over ten rounds make 20 MB: larger is no report
M = TypeVar("M", bound=BaseModel)  # the model a file is read as


class StoreError(ValueError):
    """A file under the reports folder that cannot be used; the message names it and the field."""


class StoreWarning(UserWarning):
    """A file under the reports folder was skipped, set aside or not written; the run goes on."""


def run_fingerprint(data_summary: dict[str, Any], config: SelectionSettings) -> str:
    """Hash of the data's description (name, source, shape, columns, classes, the column that weighs
    the rows) and the settings: what makes two runs the same job, compared with each other even when
    the values changed (the weights' values are in :func:`resume_key`)."""
    keys = ("name", "source", "target", "n_rows", "feature_names", "class_counts", "constant_columns")
    data = {k: data_summary.get(k) for k in keys}
    if data_summary.get("weight_column") is not None:  # unweighted runs keep their fingerprints
        data["weight_column"] = data_summary["weight_column"]
    text = json.dumps({"data": data, "config": config.model_dump(mode="json")}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def resume_key(data_summary: dict[str, Any], config: SelectionSettings) -> str:
    """:func:`run_fingerprint` and the data's values: rounds are reused on the same data only."""
    if not data_summary.get("content_hash"):
        raise ValueError("the data summary has no content_hash")
    text = f"{run_fingerprint(data_summary, config)}:{data_summary['content_hash']}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class _File(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")  # a number written as text is a damaged file


class StabilitySection(_File):
    """The ``stability`` section of report.json."""

    n_resamples: int
    keep_frequency: float
    selected: list[str]
    frequency: dict[str, float]
    resamples: list[dict[str, Any]]


class DataSection(_File):
    """The ``data`` section of report.json."""

    name: str
    weight_column: str | None = None


class ReportFile(_File):
    """A report.json read back: what its readers rely on is checked, the rest kept as written;
    ``notes`` (its opening sentences) and ``tables`` are the report's own, as rendered."""

    schema_version: Literal[REPORT_SCHEMA]
    created: str
    fingerprint: str | None = None
    data: DataSection
    rounds: list[dict[str, Any]]
    stop_reason: str
    selected: list[str]
    dropped: list[str] = []
    stability: StabilitySection | None = None
    diff: dict[str, Any] | None = None
    notes: list[str] = []
    tables: dict[str, Table] = {}


class CheckpointFile(_File):
    """A checkpoint read back: the finished ``rounds`` of an interrupted run, each continuing the
    one before it from the data's channels, or a stability selection's finished ``resamples``."""

    model_config = ConfigDict(strict=True, extra="forbid")
    schema_version: Literal[CHECKPOINT_SCHEMA]
    key: str
    rounds: list[PruningRound] | None = None
    resamples: list[ResampleSelection] | None = None

    @field_validator("rounds")
    @classmethod
    def _continue(cls, rounds: list[PruningRound] | None, info: ValidationInfo) -> list[PruningRound] | None:
        kept = channels = list(info.context["channels"] or [])
        for n, record in enumerate(rounds or [], start=1):
            if record.index != n or record.kept != kept:
                raise ValueError(f"round {n} does not continue the rounds before it")
            if not set(record.dropped) <= set(kept) or set(record.score_mean) != set(kept):
                raise ValueError(f"round {n} drops or scores channels it did not train on")
            if record.stop_reason is not None and n != len(rounds):
                raise ValueError(f"round {n} stopped the loop but later rounds follow")
            kept = record.channels_after(channels)
        return rounds


def read_json(path: Path, model: type[M], context: dict[str, Any] | None = None,
              max_bytes: int | None = None) -> M:
    """``path`` validated as ``model``, else a :class:`StoreError` of one line naming the file and the
    first field that fails; a file over ``max_bytes`` is refused unread."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise StoreError(f"{path}: {path.stat().st_size / 2**20:.1f} MB, more than the "
                             f"{max_bytes / 2**20:.0f} MB such a file holds; not read")
        return model.model_validate_json(path.read_bytes(), context=context)
    except ValidationError as err:
        first, more = err.errors(include_url=False)[0], err.error_count() - 1
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise StoreError(f"{path}: {where + ': ' if where else ''}{message}"
                         f"{f' (and {more} more)' if more else ''}") from None
    except OSError as err:
        raise StoreError(f"{path}: cannot be read ({err.strerror or err})") from None


@dataclass(frozen=True)
class Checkpoint:
    """What a run finished, saved after every round (or resample) so a rerun resumes there: ``path``
    is ``<reports>/.checkpoints/<fingerprint>.json`` (:meth:`of`), ``key`` the run's
    :func:`resume_key` (a checkpoint written for another is never resumed from)."""

    path: Path
    key: str

    @classmethod
    def of(cls, reports_dir: str | os.PathLike[str], fingerprint: str, key: str) -> Checkpoint:
        """The checkpoint of the job with this :func:`run_fingerprint` under ``reports_dir``."""
        return cls(Path(reports_dir) / CHECKPOINT_DIR / f"{fingerprint}.json", key)

    def load(self, channels: list[str] | None = None) -> list[Any]:
        """The finished rounds, the first trained on ``channels`` (no ``channels``: resamples);
        a checkpoint that cannot be used is set aside as ``*.corrupt`` with one warning."""
        if not self.path.exists():
            return []
        # the checkpoints hold the pipeline's records, loaded only when a run reads one
        from pipeline.rounds.record import PruningRound
        from pipeline.stability.result import ResampleSelection

        CheckpointFile.model_rebuild(_types_namespace={"PruningRound": PruningRound,
                                                       "ResampleSelection": ResampleSelection})
        name = "resamples" if channels is None else "rounds"
        try:
            found = read_json(self.path, CheckpointFile, {"channels": channels})
            if found.key != self.key:
                raise StoreError(f"{self.path}: key: written for other data or settings")
            if getattr(found, name) is None:
                raise StoreError(f"{self.path}: {name}: Field required")
            return getattr(found, name)
        except StoreError as reason:
            names = (self.path.name + CORRUPT_SUFFIX + (f".{n}" if n > 1 else "") for n in itertools.count(1))
            target = next(t for t in map(self.path.with_name, names) if not t.exists())
            try:
                os.replace(self.path, target)
                where = f"renamed to {target.name}"
            except OSError as err:
                where = f"could not be renamed ({err.strerror or err})"
            warnings.warn(f"cannot resume from the checkpoint {reason}; {where}, starting fresh",
                          StoreWarning, stacklevel=2)
            return []

    def save(self, records: list[Any], name: str = "rounds") -> None:
        """Replace the checkpoint with these ``rounds`` (or ``resamples``), atomically; one that
        cannot be written costs the run its resume (a warning), not the run."""
        # json.dumps, not pydantic's: an undefined bar (NaN) must come back as NaN
        payload = {"schema_version": CHECKPOINT_SCHEMA, "key": self.key, name: [r.to_dict() for r in records]}
        try:
            atomic_write_text(self.path, json.dumps(payload))
        except OSError as err:
            warnings.warn(f"cannot write the checkpoint {self.path} ({err}); this run cannot be "
                          "resumed if it stops", StoreWarning, stacklevel=2)

    def clear(self) -> None:
        """Forget the checkpoint once the run has finished, so the next run starts fresh."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            warnings.warn(f"cannot remove the checkpoint {self.path} ({err})", StoreWarning, stacklevel=2)


# a folder name is at most 255 bytes; the run's own suffixes (-2, .partial) need room
MAX_RUN_NAME_BYTES = 200


def check_run_name(name: str, reports_dir: str | os.PathLike[str] | None = None) -> str:
    """``name`` if it is one visible folder name (hidden ones are the runs' own) not taken under
    ``reports_dir`` (see :mod:`pipeline.report.claim`), else a :class:`ConfigError` naming ``run_name``."""
    separators = {"/", "\\", os.sep, os.altsep} - {None}
    if (not isinstance(name, str) or not name.strip() or name.startswith(".") or "\0" in name
            or any(s in name for s in separators) or Path(name).name != name):
        raise ConfigError(f"run_name must be a single folder name (no '/', '\\', '..' or leading '.'), "
                          f"got {name!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(f"run_name must not hold control characters (a newline, a tab), got {name!r}")
    if len(name.encode()) > MAX_RUN_NAME_BYTES:
        raise ConfigError(f"run_name must be at most {MAX_RUN_NAME_BYTES} bytes (a folder name "
                          f"the file system takes), got {len(name.encode())}")
    if reports_dir is not None and (reason := taken_reason(Path(reports_dir) / name)) is not None:
        raise taken_error(name, reason)
    return name


def claim_named_run(reports_dir: str | os.PathLike[str], run_name: str) -> Path:
    """The folder of the run named ``run_name``, created or taken up and claimed by this process before
    it trains (:func:`pipeline.report.claim.claim_run_folder`)."""
    return claim_run_folder(Path(reports_dir) / check_run_name(run_name))


def check_reports_folder(reports_dir: str | os.PathLike[str], run_name: str | None = None) -> Path:
    """Before any training: the reports folder takes a file, has :data:`MIN_FREE_BYTES` free and no run
    named ``run_name``; else one :class:`ConfigError` line naming ``reports_dir``."""
    root = Path(reports_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        # written as a report is; a name of this process's own, as runs may start at once
        atomic_write_text(root / f".write-check-{os.getpid()}", "report").unlink()
        free = shutil.disk_usage(root).free
    except OSError as err:
        raise ConfigError(f"reports_dir {str(root)!r} is not writable: {err.strerror or err}") from err
    if free < MIN_FREE_BYTES:
        raise ConfigError(f"reports_dir {str(root)!r} has {free / 2**20:.1f} MB free; a run "
                          f"needs at least {MIN_FREE_BYTES / 2**20:.0f} MB for its report")
    if run_name is not None:
        check_run_name(run_name, root)
    return root


@dataclass
class RunInfo:
    """One finished run, as listed from its report.json."""

    folder: Path
    created: str
    dataset: str
    selected: list[str]
    stop_reason: str


def read_report(folder: str | os.PathLike[str]) -> ReportFile:
    """A run folder's report.json, validated (over :data:`MAX_REPORT_BYTES`: refused unread)."""
    return read_json(Path(folder) / REPORT_FILE, ReportFile, max_bytes=MAX_REPORT_BYTES)


def list_runs(reports_dir: str | os.PathLike[str], fingerprint: str | None = None) -> list[RunInfo]:
    """Finished runs under ``reports_dir`` (of the job with this ``fingerprint``), newest first; a
    report.json that cannot be read is skipped with one warning, so no run fails on an old one."""
    root, runs = Path(reports_dir), []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / REPORT_FILE).is_file():
            continue
        try:
            report = read_report(folder)
        except StoreError as err:
            warnings.warn(f"skipping {err}", StoreWarning, stacklevel=2)
            continue
        if fingerprint in (None, report.fingerprint):
            runs.append(RunInfo(folder, report.created, report.data.name, report.selected,
                                report.stop_reason))
    return sorted(runs, key=lambda r: (r.created, r.folder.name), reverse=True)
