"""The temporary Prefect server of a run without ``PREFECT_API_URL``: started at once, waited for
before the flow, gone when the command ends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flows.server as temporary
from tests.flows.conftest import fresh_shell_env, interruptible, run_main, structured_table

TINY_RUN = ["--n-trials", "2", "--epochs", "40", "--latent-dim", "2", "--max-drop-fraction", "0.5",
            "--guard-level", "none"]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("server") / "table.csv"
    structured_table(n_rows=120).to_csv(path, index=False)
    return path


@pytest.fixture
def no_api_url(monkeypatch):
    """No ``PREFECT_API_URL``, as in a fresh shell (the session's test server may have set it)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


def stand_in(monkeypatch, code: str) -> list[int]:
    """The server's command is ``python -c code``; returns the ports it was launched on."""
    ports: list[int] = []

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        ports.append(port)
        return [sys.executable, "-c", code], dict(os.environ)

    monkeypatch.setattr(temporary, "server_command", command)
    return ports


def test_the_server_is_started_as_prefect_starts_its_temporary_server(monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_REGISTER_BLOCKS_ON_START", raising=False)
    from prefect.server.api import server as prefect_server

    calls = []
    monkeypatch.setattr(prefect_server.subprocess, "Popen", lambda *a, **k: calls.append((a, k)))
    prefect_server.SubprocessASGIServer(port=8123)._run_uvicorn_command()
    prefect_server.SubprocessASGIServer._instances.pop(8123, None)
    ((_, options),) = calls
    command, env = temporary.server_command(8123)
    assert command == options["args"]
    assert env == {**options["env"], "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false"}


def test_the_server_registers_block_types_when_the_user_says_so(monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_REGISTER_BLOCKS_ON_START", "true")
    assert temporary.server_command(8123)[1]["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] == "true"


def test_starting_the_server_returns_before_it_answers(monkeypatch):
    stand_in(monkeypatch, "import time; time.sleep(60)")
    server = temporary.TemporaryServer(timeout=60)
    server.launch()
    process = server.process
    try:
        assert process is not None and process.poll() is None
        assert not server.answers() and not server.ready
    finally:
        server.stop()
    assert process.poll() is not None  # a server still starting is killed, and reaped


def test_a_server_that_exits_while_starting_is_one_error(monkeypatch):
    stand_in(monkeypatch, "raise SystemExit(1)")
    server = temporary.TemporaryServer(timeout=60)
    server.launch()
    with pytest.raises(temporary.ServerStartError, match="exited with code 1 while starting"):
        server.wait()
    server.stop()


def test_a_server_whose_start_fails_is_started_again_on_another_port(monkeypatch):
    ports = stand_in(monkeypatch, f"raise SystemExit({temporary.STARTUP_FAILURE})")
    server = temporary.TemporaryServer(timeout=60)
    server.launch()
    with pytest.raises(temporary.ServerStartError, match="code 3"):
        server.wait()
    server.stop()
    assert len(ports) == temporary.PORT_ATTEMPTS


def test_a_server_that_does_not_answer_in_time_is_one_error(monkeypatch):
    stand_in(monkeypatch, "import time; time.sleep(60)")
    server = temporary.TemporaryServer(timeout=0.3)
    server.launch()
    try:
        with pytest.raises(temporary.ServerStartError, match=r"did not answer within 0\.3 s"):
            server.wait()
    finally:
        server.stop()


def test_a_server_that_fails_to_start_ends_the_run_with_one_line(monkeypatch, no_api_url, table,
                                                                  tmp_path):
    stand_in(monkeypatch, "raise SystemExit(1)")
    code, out, err = run_main("run", "--data", str(table), "--target", "label", *TINY_RUN,
                              "--reports-dir", str(tmp_path / "reports"))
    assert code == 1 and not out
    (line,) = err.strip().splitlines()
    assert line.startswith("vaec-select: error: ServerStartError: Prefect's temporary server "
                           "exited with code 1 while starting (PREFECT_API_URL"), line


def test_nothing_is_started_when_prefect_api_url_names_a_server(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    stand_in(monkeypatch, "raise AssertionError('started')")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}), \
            temporary.temporary_server() as server:
        assert server is None


def test_a_server_launched_before_prefect_loads_is_stopped_when_its_settings_name_one(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    stand_in(monkeypatch, "import time; time.sleep(60)")
    launched: list[subprocess.Popen] = []
    real_launch = temporary.TemporaryServer.launch

    def launch(self):
        real_launch(self)
        launched.append(self.process)

    monkeypatch.setattr(temporary.TemporaryServer, "launch", launch)
    monkeypatch.delitem(sys.modules, "prefect.settings")  # as in a process that has not loaded it
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}), \
            temporary.temporary_server() as server:
        assert server is None
        (process,) = launched  # launched at once, then stopped: a profile names a server
        assert process.poll() is not None


def test_the_server_is_named_to_prefect_once_it_answers_and_its_flows_skip_version_check_and_heartbeats(
        monkeypatch, no_api_url):
    import prefect.context
    from prefect.settings import get_current_settings

    stand_in(monkeypatch, "import time; time.sleep(60)")
    monkeypatch.setattr(temporary.TemporaryServer, "answers", lambda self: True)
    before, before_global = get_current_settings(), prefect.context.GLOBAL_SETTINGS_CONTEXT
    with temporary.temporary_server() as server:
        assert server is not None and get_current_settings().api.url is None
        server.wait()
        for settings in (get_current_settings(), prefect.context.GLOBAL_SETTINGS_CONTEXT.settings):
            assert settings.api.url == server.api_url and not settings.ui_url  # Prefect's threads too
            assert settings.client.server_version_check_enabled is False
            assert settings.flows.heartbeat_frequency is None
        assert os.environ["PREFECT_API_URL"] == server.api_url  # child processes
    after = get_current_settings()
    assert prefect.context.GLOBAL_SETTINGS_CONTEXT is before_global and after.api.url is None
    assert "PREFECT_API_URL" not in os.environ
    assert after.client.server_version_check_enabled == before.client.server_version_check_enabled
    assert after.flows.heartbeat_frequency == before.flows.heartbeat_frequency


# the real server -----------------------------------------------------------------------------

@pytest.mark.slow
def test_the_server_boots_while_the_data_loads_and_is_gone_when_the_run_ends(
        monkeypatch, no_api_url, table, tmp_path):
    import prefect.context

    import flows.commands

    launched: list[temporary.TemporaryServer] = []
    real_launch, real_check = temporary.TemporaryServer.launch, flows.commands._check_data
    at_data: list[bool] = []

    processes = []

    def launch(self):
        real_launch(self)
        launched.append(self)
        processes.append(self.process)

    def check_data(params):
        (server,) = launched
        at_data.append(server.answers())  # data loading begins: does the server answer yet?
        return real_check(params)

    monkeypatch.setattr(temporary.TemporaryServer, "launch", launch)
    monkeypatch.setattr(flows.commands, "_check_data", check_data)
    before = prefect.context.GLOBAL_SETTINGS_CONTEXT
    code, out, err = run_main("run", "--data", str(table), "--target", "label", *TINY_RUN,
                              "--reports-dir", str(tmp_path / "reports"), "--run-name", "early")
    assert code == 0, err[-3000:]
    assert "kept" in out
    assert at_data == [False]  # the data loaded while the server was still starting
    (server,), (process,) = launched, processes
    assert server.process is None and not server.ready
    assert process.poll() is not None  # the server's process ended, and was reaped
    # Prefect's settings are given back: they name no server, here or in the environment
    assert prefect.context.GLOBAL_SETTINGS_CONTEXT is before
    assert prefect.context.get_settings_context().settings.api.url is None
    assert "PREFECT_API_URL" not in os.environ
    assert "View at" not in err  # no link to a UI this server does not serve


@pytest.mark.slow
def test_ctrl_c_while_the_server_starts_exits_130_and_takes_the_server_with_it(table, tmp_path):
    import psutil

    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(table), "--target", "label",
         *TINY_RUN, "--reports-dir", str(tmp_path / "reports")],
        env=fresh_shell_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=interruptible)
    servers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while not servers and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(psutil.Error):
                servers = [c for c in psutil.Process(process.pid).children(recursive=True)
                           if "prefect.server.api.server:create_app" in " ".join(c.cmdline())]
            time.sleep(0.05)
        assert servers, "no temporary server was started"
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C at a shell: the whole group
        output, _ = process.communicate(timeout=120)  # a hang guard, not a measure
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output[-3000:]
    assert output.strip().splitlines()[-1] == "vaec-select: interrupted"
    _, alive = psutil.wait_procs(servers, timeout=30)
    assert not alive, "the temporary server outlived its run"
