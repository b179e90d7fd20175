"""The temporary Prefect server of a run without ``PREFECT_API_URL``: started at once, waited for
only when the flow needs it, tied to the run's process.

Without ``PREFECT_API_URL`` Prefect starts a temporary local server for a flow run (uvicorn in a
child process, :class:`prefect.server.api.server.SubprocessASGIServer`) when the flow starts,
waits for it to answer (seconds: its imports, and its database's migrations on a first run),
and stops it when the interpreter exits. A run that is killed (SIGKILL, the OOM killer, a
scheduler's timeout) never gets to stop it: the server lives on as an orphan, holding a port and
a few hundred MB.

:class:`TemporaryServer` starts that server itself, from the calling (main) thread, in a child
that the kernel signals when its parent dies (Linux's ``PR_SET_PDEATHSIG``), with the command
line and environment Prefect gives it. Starting returns at once, so the server boots while the
command line imports its libraries and loads the data; :meth:`TemporaryServer.wait` blocks until
it answers and registers it where Prefect looks for its temporary server
(``SubprocessASGIServer._instances[None]``, as Prefect's own test harness does), so the flow uses
it instead of starting another. The URL is also exported to child processes (Dask workers),
which then report to this server instead of each starting a temporary server of their own.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
DRAIN_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0  # as Prefect's own stop: then the server is killed
POLL_SECONDS = 0.1
# uvicorn's exit code when its start-up fails; Prefect takes it for a port taken meanwhile and
# starts the server again on another
STARTUP_FAILURE = 3
PORT_ATTEMPTS = 3
HINT = " (PREFECT_API_URL can name a Prefect server that is already running)"

log = logging.getLogger("prefect")


class ServerStartError(RuntimeError):
    """Prefect's temporary server did not start (the command line prints it as one line)."""


def parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when the process that started it
    dies, or ``None`` where the platform cannot (anything but Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return die_with_parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of Prefect's temporary server on ``port``: those
    ``SubprocessASGIServer._run_uvicorn_command`` builds, without importing Prefect's server
    (seconds of imports this process would do before the server could start)."""
    import prefect
    from prefect.settings import get_current_settings

    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
               "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1",
           **get_current_settings().to_environment_variables(exclude_unset=True)}
    return command, env


class TemporaryServer:
    """Prefect's temporary local server, started in a child process that dies with this one.

    :meth:`launch` starts it and returns at once; :meth:`wait` blocks until it answers and hands
    it to Prefect; :meth:`stop` ends it. Launch and wait from the main thread: the kernel
    signals the child when the *thread* that started it ends.

    Parameters
    ----------
    timeout : float
        Seconds :meth:`wait` gives the server to answer, counted from the launch.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = False
        self._launched_at = 0.0
        self._exported: str | None = None
        self._previous: Any = None

    @property
    def api_url(self) -> str:
        """The server's API URL."""
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        """Start the server's process; does not wait for it."""
        command, env = server_command(self.port)
        log.info("Starting temporary server on http://127.0.0.1:%s", self.port)
        # a session of its own: Ctrl-C at a terminal signals the whole foreground process
        # group, and a server stopped under the run leaves it retrying a closed port for
        # minutes; the run stops it itself when it ends, however it ends
        self.process = subprocess.Popen(command, env=env, preexec_fn=parent_death_hook(),
                                        start_new_session=True)
        self._launched_at = time.monotonic()

    def answers(self) -> bool:
        """Whether the server answers its health check now."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local: no proxy
        try:
            with opener.open(f"{self.api_url}/health", timeout=1) as response:
                return response.status == 200
        except (OSError, http.client.HTTPException):
            return False

    def wait(self) -> None:
        """Block until the server answers, then make it the temporary server of this process's
        flows (and of its children's).

        Raises
        ------
        ServerStartError
            The server exited, or did not answer within ``timeout`` seconds of its launch.
        """
        if self.ready:
            return
        if self.process is None:
            self.launch()
        attempts = 1
        while not self.answers():
            assert self.process is not None
            code = self.process.poll()
            if code == STARTUP_FAILURE and attempts < PORT_ATTEMPTS:
                attempts += 1
                self.port = _free_port()
                self.launch()
                continue
            if code is not None:
                raise ServerStartError(
                    f"Prefect's temporary server exited with code {code} while starting{HINT}")
            if time.monotonic() - self._launched_at > self.timeout:
                raise ServerStartError(f"Prefect's temporary server did not answer within "
                                       f"{self.timeout:g} s{HINT}")
            time.sleep(POLL_SECONDS)
        self._register()
        self.ready = True

    def _register(self) -> None:
        from prefect.server.api.server import SubprocessASGIServer

        registered = SubprocessASGIServer(port=self.port)
        registered.server_process = self.process
        registered.running = True  # its start() returns at once: the server is up
        self._previous = SubprocessASGIServer._instances.get(None)
        SubprocessASGIServer._instances[None] = registered
        self._exported = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = self.api_url

    def _unregister(self) -> None:
        from prefect.server.api.server import SubprocessASGIServer

        if self._exported is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = self._exported
        registered = SubprocessASGIServer._instances.pop(self.port, None)
        if registered is not None:
            registered.server_process, registered.running = None, False
        if self._previous is not None:
            SubprocessASGIServer._instances[None] = self._previous
        else:
            SubprocessASGIServer._instances.pop(None, None)

    def stop(self) -> None:
        """End the server: asked to stop once it is up, killed at once while it is still starting
        (it holds nothing yet; each of its database migrations is a transaction of its own)."""
        was_ready, self.ready = self.ready, False
        if was_ready:
            _drain_to_server()
            self._unregister()
        process, self.process = self.process, None
        if process is None:
            return
        if was_ready:
            log.info("Stopping temporary server on http://127.0.0.1:%s", self.port)
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
                return
        process.kill()
        process.wait()


def _drain_to_server() -> None:
    """Send the logs and events still queued while the server is up (Prefect's own temporary
    server stops after them, at exit; this one stops first and would leave the senders retrying
    against a closed port for a minute)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):  # a sender that fails loses logs, not the run
            worker.drain_all(timeout=DRAIN_TIMEOUT_SECONDS)


@contextlib.contextmanager
def temporary_server() -> Iterator[TemporaryServer | None]:
    """Within the block, a temporary server that dies with this process is starting; call its
    :meth:`~TemporaryServer.wait` before a flow runs. It is stopped when the block ends, however
    it ends.

    Yields ``None`` when nothing is started here: ``PREFECT_API_URL`` names a server already, or
    the platform cannot tie a child to its parent (then Prefect starts and stops its temporary
    server as it always does). Call it from the main thread.

    The flows of the block skip two things that serve nothing on a server that lives and dies
    with this process: the check of its API version (it runs this very installation; its first
    ``/admin`` request costs a fresh server about a second) and the flow run's heartbeats, which
    tell a server of a run that crashed (this one goes with the run; a heartbeat thread also
    holds the flow's end for up to a second).
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    if PREFECT_API_URL.value() or parent_death_hook() is None:
        yield None  # a server of its own, or a platform where Prefect's default is all there is
        return
    server = TemporaryServer(timeout=float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()))
    try:
        server.launch()
        with temporary_settings(updates={PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED: False,
                                         PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield server
    finally:
        server.stop()
