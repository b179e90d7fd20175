"""Where a benchmark's figures come from: the selector's commit, the machine, the package versions.

A figure is only comparable with a later run of the same script when the selector's code, the
machine and the peers' versions are written beside it; these helpers gather them for the
reports' headers.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the selector's code: a change under these folders is a change of the selector
SELECTOR_PATHS = ("pipeline", "vaec")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def selector_commit() -> str:
    """Short hash of the last commit that changed the selector (``pipeline/``, ``vaec/``).

    ``+ local changes`` follows it when those folders differ from that commit, so a figure of
    an uncommitted selector is never taken for a committed one; ``unknown`` outside a checkout.
    """
    sha = _git("log", "-1", "--format=%h", "--", *SELECTOR_PATHS)
    if not sha:
        return "unknown"
    dirty = _git("status", "--porcelain", "--", *SELECTOR_PATHS)
    return sha + (" + local changes" if dirty else "")


def head_commit() -> str:
    """Short hash of the checkout's HEAD (the benchmark scripts' own version)."""
    return _git("rev-parse", "--short", "HEAD") or "unknown"


def machine() -> str:
    """CPU architecture and model, and the core count."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return ", ".join(part for part in (platform.machine(), model, f"{os.cpu_count()} cores") if part)


def versions(*distributions: str) -> dict[str, str]:
    """Installed version of each distribution (``missing`` when it is not installed)."""
    out = {}
    for name in distributions:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def publish(path: Path, lines: list[str]) -> int:
    """Write a report's lines to ``path`` (atomically: a reader never sees half of it), print
    them, and return the script's exit code."""
    from vaec.persistence import atomic_write_text

    text = "\n".join(lines) + "\n"
    atomic_write_text(path, text)
    print(text)
    return 0
