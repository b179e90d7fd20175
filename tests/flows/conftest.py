"""One temporary Prefect server (SQLite) for the whole test session, and what the command-line
tests share: a table with structure, ``main`` in this process, a stand-in for the temporary
server and a run that must not train."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def prefect_api_url():
    """Run flows against a temporary local server; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def dask_address():
    """The scheduler address of one two-worker Dask cluster for the in-process flow tests, so each
    does not start (and import torch in) worker processes of its own. The cluster a run starts
    for itself is the command test's (``test_cli``), which gives no address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def structured_table(n_rows: int = 240, seed: int = 0, n_noise: int = 4) -> pd.DataFrame:
    """Four copies of one factor that decides the label, plus pure-noise channels."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=n_rows)
    columns = {f"s{i}": factor + 0.15 * rng.normal(size=n_rows) for i in range(4)}
    columns |= {f"noise{i}": rng.normal(size=n_rows) for i in range(n_noise)}
    columns["label"] = (factor > 0).astype(int)
    return pd.DataFrame(columns)


def run_main(*args: str) -> tuple[int, str, str]:
    """``vaec-select``'s ``main(args)`` in this process, with its stdout and stderr."""
    from flows.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


class FakeServer:
    """Stands in for Prefect's temporary server: what the command did with it, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def answers(self) -> bool:
        return False

    def wait(self) -> None:
        self.events.append("waited")


@pytest.fixture
def fake_server(monkeypatch) -> FakeServer:
    """``run`` starts no server: the temporary server is a :class:`FakeServer`."""
    import flows.server

    server = FakeServer()

    @contextlib.contextmanager
    def temporary_server():
        server.events.append("started")
        try:
            yield server
        finally:
            server.events.append("stopped")

    monkeypatch.setattr(flows.server, "temporary_server", temporary_server)
    return server


@pytest.fixture
def never_trains(monkeypatch, fake_server):
    """``run`` must stop before the flow starts: starting it fails the test."""
    import flows.feature_selection

    def run_feature_selection(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(flows.feature_selection, "run_feature_selection", run_feature_selection)


def interruptible() -> None:
    """``preexec_fn`` of a command a test interrupts as Ctrl-C would: SIGINT's default action, as
    a shell's foreground job has it (a job started in the background inherits SIGINT ignored,
    and the test would then run in such a job)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_artifact(key: str):
    """The newest Prefect artifact under ``key`` (the session's server)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
        )
    assert found, f"no artifact {key}"
    return found[0]


# A Prefect home whose database a temporary server has set up once (migrated, block types
# registered): in a fresh home every command first spends about 12 s on that before its flow
# starts. Made once a test process, in the background from the end of collection when slow
# command tests are to run (beside the first tests, which are not waiting for it), and copied
# into each command's home.
_SET_UP_HOME = Path(os.environ["PREFECT_HOME"]) / "set-up-home"
_setting_up: list[subprocess.Popen] = []


_SET_UP_LOG = _SET_UP_HOME.with_name("set-up-home.log")


def _no_prefect_settings() -> dict[str, str]:
    """This process's environment without its Prefect settings (the session's home and server)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def _start_setting_up_home() -> None:
    if not _setting_up:
        env = {**_no_prefect_settings(), "PREFECT_HOME": str(_SET_UP_HOME),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               # a loaded machine boots it slower than Prefect's 20 s
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "240"}
        _SET_UP_HOME.parent.mkdir(parents=True, exist_ok=True)
        with open(_SET_UP_LOG, "w") as log:
            _setting_up.append(subprocess.Popen(
                [sys.executable, "-c", "from prefect import flow; flow(lambda: 0)()"], env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))


def pytest_collection_finish(session):
    if any(item.get_closest_marker("slow") and "flows" in item.path.parts
           for item in session.items):
        _start_setting_up_home()


def pytest_sessionfinish(session, exitstatus):
    for process in _setting_up:  # no test asked for it: not left running
        if process.poll() is None:
            process.kill()
        process.wait()


def _set_up_home() -> Path:
    _start_setting_up_home()
    assert _setting_up[0].wait(timeout=300) == 0, \
        f"setting up a Prefect home failed:\n{_SET_UP_LOG.read_text()[-3000:]}"
    return _SET_UP_HOME


def fresh_shell_env(tmp_path: Path, home: str = "prefect-home") -> dict[str, str]:
    """The environment of a command run from a fresh shell: no Prefect server configured, a
    Prefect home of its own under ``tmp_path`` (named ``home``) whose database is set up, as after
    a user's first run, one thread."""
    shutil.copytree(_set_up_home(), tmp_path / home, dirs_exist_ok=True)
    return {**_no_prefect_settings(), "PREFECT_HOME": str(tmp_path / home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_NUM_THREADS": "1"}
