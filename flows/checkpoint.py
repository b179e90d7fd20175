"""Finished rounds saved after each round, so a run killed mid-way resumes where it stopped.

A stability selection saves its finished resamples instead (each one's selection, not its
rounds): a resample cut short runs again from its start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.rounds import PruningRound
from pipeline.stability_result import ResampleSelection
from vaec.atomic_files import atomic_write_text

CHECKPOINT_DIR = ".checkpoints"


def checkpoint_path(reports_dir: str | os.PathLike[str], fingerprint: str) -> Path:
    """Where the rounds of a run with this data + settings fingerprint are kept."""
    return Path(reports_dir) / CHECKPOINT_DIR / f"{fingerprint}.json"


def load_rounds(path: Path) -> list[PruningRound]:
    """Rounds finished by an earlier, interrupted run (none when there is no checkpoint)."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [PruningRound.from_dict(r) for r in data.get("rounds", [])]


def save_rounds(path: Path, rounds: list[PruningRound]) -> None:
    """Replace the checkpoint with these rounds (atomically: a kill never leaves half a file)."""
    atomic_write_text(path, json.dumps({"rounds": [r.to_dict() for r in rounds]}))


def load_resamples(path: Path) -> list[ResampleSelection]:
    """Resample selections finished by an earlier, interrupted stability selection."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [ResampleSelection.from_dict(r) for r in data.get("resamples", [])]


def save_resamples(path: Path, resamples: list[ResampleSelection]) -> None:
    """Replace the checkpoint with these finished resamples (atomically)."""
    atomic_write_text(path, json.dumps({"resamples": [r.to_dict() for r in resamples]}))


def clear(path: Path) -> None:
    """Forget the checkpoint once the run has finished, so the next run starts fresh."""
    path.unlink(missing_ok=True)
