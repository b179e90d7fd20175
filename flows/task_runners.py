"""The task runner that trains a round's trial groups: threads here, or a Dask cluster."""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from vaec.config import ConfigError

DASK_INSTALL = 'pip install -e ".[dask]" (or pip install prefect-dask)'


def check_dask_installed() -> None:
    """Raise a one-line :class:`~vaec.config.ConfigError` naming the install command when the
    Dask task runner is not installed."""
    import importlib.util

    if importlib.util.find_spec("prefect_dask") is None:
        raise ConfigError(f"task_runner 'dask' needs prefect-dask: {DASK_INSTALL}")


def make_task_runner(kind: str, dask_address: str | None = None, n_workers: int = 2) -> Any:
    """``thread``: a local thread pool; ``dask``: prefect-dask on a LocalCluster or a scheduler."""
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=n_workers)
    if kind == "dask":
        check_dask_installed()
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as err:  # installed but broken
            raise ConfigError(f"task_runner 'dask': prefect-dask does not import ({err}); "
                              f"{DASK_INSTALL}") from err
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True}
        )
    raise ValueError(f"task_runner must be 'thread' or 'dask', got {kind!r}")
