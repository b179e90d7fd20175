"""Finished rounds saved after each round, so a run killed mid-way resumes where it stopped.

A checkpoint is ``<reports>/.checkpoints/<fingerprint>.json``, named by the job (data source
and description, settings: :func:`pipeline.report.runs.run_fingerprint`) and holding the resume
key, which also covers the data's values (:func:`pipeline.report.runs.resume_key`): rounds are
reused only for the very same data and settings. A checkpoint that cannot be used (the data
changed since it was written, it is unreadable, of another schema, or its rounds do not
continue each other) is renamed ``*.corrupt`` with one :class:`CheckpointWarning` naming it,
and the run starts fresh.

A stability selection saves its finished resamples instead (each one's selection, not its
rounds): a resample cut short runs again from its start.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.rounds.record import PruningRound
from pipeline.stability.result import ResampleSelection
from vaec.persistence import atomic_write_text

CHECKPOINT_DIR = ".checkpoints"
SCHEMA_VERSION = 1
CORRUPT_SUFFIX = ".corrupt"


class CheckpointWarning(UserWarning):
    """A checkpoint was set aside or could not be written; the run goes on."""


class _Unusable(ValueError):
    """Why a checkpoint cannot be resumed from."""


def checkpoint_path(reports_dir: str | os.PathLike[str], fingerprint: str) -> Path:
    """Where the rounds of the job with this fingerprint are kept."""
    return Path(reports_dir) / CHECKPOINT_DIR / f"{fingerprint}.json"


def _check_header(data: Any, key: str, name: str) -> None:
    if not isinstance(data, dict):
        raise _Unusable(f"not a JSON object but a JSON {type(data).__name__}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise _Unusable(f"schema_version {data.get('schema_version')!r} is not {SCHEMA_VERSION}")
    if data.get("key") != key:
        raise _Unusable("it was written for other data (the values changed) or settings")
    if not isinstance(data.get(name), list):
        raise _Unusable(f"it has no list of {name}")


def _rounds_of(data: Any, key: str, channels: Sequence[str]) -> list[PruningRound]:
    _check_header(data, key, "rounds")
    try:
        rounds = [PruningRound.from_dict(r) for r in data["rounds"]]
    except (TypeError, ValueError, AttributeError) as err:
        raise _Unusable(f"a round is malformed ({err})") from None
    _check_chain(rounds, list(channels))
    return rounds


def _check_chain(rounds: list[PruningRound], channels: list[str]) -> None:
    """Each round trained on what the round before it kept, starting from ``channels``."""
    kept = channels
    for position, record in enumerate(rounds, start=1):
        if record.index != position or not isinstance(record.kept, list) or record.kept != kept:
            raise _Unusable(f"round {position} does not continue the rounds before it")
        dropped = record.dropped if isinstance(record.dropped, list) else [None]
        if not set(dropped) <= set(kept) or not isinstance(record.score_mean, dict) \
                or set(record.score_mean) != set(kept):
            raise _Unusable(f"round {position} is malformed")
        if record.stop_reason is not None and position != len(rounds):
            raise _Unusable(f"round {position} stopped the loop but later rounds follow")
        kept = [c for c in kept if c not in set(dropped)]


def set_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.corrupt`` (``.corrupt.2``, ... when taken) and return the new
    path; nothing is deleted, so the file can still be looked at."""
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{CORRUPT_SUFFIX}.{n}")
    os.replace(path, target)
    return target


def _load(path: Path, parse: Callable[[Any], list[Any]]) -> list[Any]:
    """``parse`` of the checkpoint's JSON; an unusable checkpoint is set aside with a warning."""
    if not path.exists():
        return []
    try:
        if not path.is_file():
            raise _Unusable("it is not a file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _Unusable(f"it cannot be read as JSON ({err})") from None
        return parse(data)
    except _Unusable as reason:
        try:
            where = f"renamed to {set_aside(path).name}"
        except OSError as err:
            where = f"could not be renamed ({err})"
        warnings.warn(f"checkpoint {path} cannot be resumed from: {reason}; {where}, "
                      "starting fresh", CheckpointWarning, stacklevel=3)
        return []


def _save(path: Path, key: str, name: str, records: list[Any]) -> None:
    payload = {"schema_version": SCHEMA_VERSION, "key": key, name: [r.to_dict() for r in records]}
    try:
        atomic_write_text(path, json.dumps(payload))
    except OSError as err:
        warnings.warn(f"cannot write the checkpoint {path} ({err}); this run cannot be resumed "
                      "if it stops", CheckpointWarning, stacklevel=3)


def load_rounds(path: Path, key: str, channels: Sequence[str]) -> list[PruningRound]:
    """Rounds finished by an earlier, interrupted run of the same data and settings.

    Parameters
    ----------
    path : Path
        The checkpoint (see :func:`checkpoint_path`).
    key : str
        The run's resume key; the checkpoint must have been written for it.
    channels : sequence of str
        The data's varying feature columns: the first round must have trained on them.

    Returns
    -------
    list of PruningRound
        Empty when there is no checkpoint or it cannot be used; an unusable one is set aside
        (:func:`set_aside`) with one :class:`CheckpointWarning`.
    """
    return _load(path, lambda data: _rounds_of(data, key, channels))


def save_rounds(path: Path, key: str, rounds: list[PruningRound]) -> None:
    """Replace the checkpoint with these rounds (atomically: a kill never leaves half a file).

    A checkpoint that cannot be written costs the run its resume, not the run: one
    :class:`CheckpointWarning`, and the run goes on.
    """
    _save(path, key, "rounds", rounds)


def _resamples_of(data: Any, key: str) -> list[ResampleSelection]:
    _check_header(data, key, "resamples")
    try:
        return [ResampleSelection.from_dict(r) for r in data["resamples"]]
    except (TypeError, ValueError, AttributeError) as err:
        raise _Unusable(f"a resample is malformed ({err})") from None


def load_resamples(path: Path, key: str) -> list[ResampleSelection]:
    """Resample selections finished by an earlier, interrupted stability selection of the same
    data and settings (as :func:`load_rounds`: an unusable checkpoint is set aside)."""
    return _load(path, lambda data: _resamples_of(data, key))


def save_resamples(path: Path, key: str, resamples: list[ResampleSelection]) -> None:
    """Replace the checkpoint with these finished resamples (atomically)."""
    _save(path, key, "resamples", resamples)


def clear(path: Path) -> None:
    """Forget the checkpoint once the run has finished, so the next run starts fresh."""
    try:
        path.unlink(missing_ok=True)
    except OSError as err:
        warnings.warn(f"cannot remove the finished run's checkpoint {path} ({err})",
                      CheckpointWarning, stacklevel=2)
