"""How many threads torch uses: one decision per process, never more than the cores.

Small models gain little from threads and lose a lot when the cores are shared: measured on two
cores with another process busy, two torch threads made a round 10 to 100 times slower than one
(the threads wait for each other on a core that is not theirs). So the count is a setting
(``threads``); left unset it is one thread per training: the round models are bound by the cost
of their many small operations, not by arithmetic, so one thread loses little, and the default
never depends on how busy the machine is (the same command gives byte-identical weights).
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
    """Threads for each of ``concurrent`` trainings sharing this process (``threads`` None:
    one each)."""
    return 1 if threads is None else max(1, threads // max(1, concurrent))


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
