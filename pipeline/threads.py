"""How many threads torch uses: one decision per process, never more than the cores.

Small models gain little from threads and lose a lot when the cores are shared, so the count is
a setting (``threads``). Left unset it is the number of cores this process may use, divided
among the trial groups that train at the same time in it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def threads_for(threads: int | None, concurrent: int = 1) -> int:
    """Threads for each of ``concurrent`` trainings sharing this process."""
    total = usable_cores() if threads is None else threads
    return max(1, total // max(1, concurrent))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """Run the block with ``count`` torch threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(before)
