"""The task runner that trains a round's trial groups: threads here, or a Dask cluster."""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner


def make_task_runner(kind: str, dask_address: str | None = None, n_workers: int = 2) -> Any:
    """``thread``: a local thread pool; ``dask``: prefect-dask on a LocalCluster or a scheduler."""
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=n_workers)
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as err:  # pragma: no cover - depends on the install
            raise RuntimeError("task_runner 'dask' needs prefect-dask: pip install prefect-dask") from err
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True}
        )
    raise ValueError(f"task_runner must be 'thread' or 'dask', got {kind!r}")
