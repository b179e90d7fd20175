"""How many threads torch uses: one decision per process, never more than the cores.

Small models gain little from threads and lose a lot when the cores are shared: measured on two
cores with another process busy, two torch threads made a round 10 to 100 times slower than one
(the threads wait for each other on a core that is not theirs). So the count is a setting
(``threads``); left unset it is the number of cores this process may use that are idle (the
one-minute load average says how many are busy), divided among the trial groups that train at
the same time in it.
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


def idle_cores() -> int:
    """Usable cores minus those the one-minute load average says are busy (at least 1)."""
    cores = usable_cores()
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):  # pragma: no cover - no load average here
        busy = 0
    return max(1, cores - busy)


def threads_for(threads: int | None, concurrent: int = 1) -> int:
    """Threads for each of ``concurrent`` trainings sharing this process (``threads`` None:
    the idle cores)."""
    total = idle_cores() if threads is None else threads
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
