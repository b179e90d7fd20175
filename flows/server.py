"""The Prefect server a run reports to: the temporary one of a run without ``PREFECT_API_URL``, tied
to its process (Prefect's own outlives a killed run), and the watch that ends a run whose shared
server stops answering (Prefect's client would retry for minutes, printing nothing)."""

from __future__ import annotations

import contextlib
import ctypes.util
import http.client
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

POLL_SECONDS = 2.0  # the watch's
REFUSED_GRACE_SECONDS = 6.0  # nothing listens there: the server is gone (or restarting)
SLOW_GRACE_SECONDS = 60.0  # it does not answer in time: busy, or a host that is down
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
DRAIN_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0  # as Prefect's own stop: then the server is killed
START_POLL_SECONDS = 0.1
STARTUP_FAILURE = 3  # uvicorn's start-up failed: Prefect takes it for a port taken meanwhile
PORT_ATTEMPTS = 3
NO_BLOCK_TYPES = {"PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false"}
HINT = " (PREFECT_API_URL can name a Prefect server that is already running)"

log = logging.getLogger("prefect")


def health_problem(url: str, timeout: float) -> tuple[str, bool] | None:
    """Why the API at ``url`` fails its health check (``"ConnectError"``, ``"HTTP 404"``) and whether
    nothing listens there; ``None`` when it answers (one that wants credentials is there)."""
    import httpx

    try:
        status = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).status_code
    except httpx.HTTPError as err:
        return type(err).__name__, isinstance(err, httpx.ConnectError)
    return None if status in (200, 401, 403) else (f"HTTP {status}", False)


class ServerWatch:
    """Within the block, a thread asks the Prefect API at ``url`` whether it answers, every ``poll``
    seconds, and calls ``on_gone(reason)`` once (it should end the process) when it has not answered
    for ``refused_grace`` seconds with nothing listening, or ``slow_grace`` seconds otherwise (told
    why, e.g. ``"no answer for 6 s: ConnectError"``). Unless given, the periods are this module's
    ``POLL_SECONDS``, ``REFUSED_GRACE_SECONDS`` and ``SLOW_GRACE_SECONDS`` at the time.
    """

    def __init__(self, url: str, on_gone: Callable[[str], None], *, poll: float | None = None,
                 refused_grace: float | None = None, slow_grace: float | None = None) -> None:
        self.url, self.on_gone = url, on_gone
        self.poll = POLL_SECONDS if poll is None else poll
        self.refused_grace = REFUSED_GRACE_SECONDS if refused_grace is None else refused_grace
        self.slow_grace = SLOW_GRACE_SECONDS if slow_grace is None else slow_grace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="prefect-server-watch", daemon=True)

    def __enter__(self) -> ServerWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self.poll)

    def _watch(self) -> None:
        since: float | None = None  # when the server last stopped answering
        while not self._stop.wait(self.poll):
            problem = health_problem(self.url, timeout=self.poll)
            if problem is None:
                since = None
                continue
            now = time.monotonic()
            since = now if since is None else since
            reason, refused = problem
            grace = self.refused_grace if refused else self.slow_grace
            if now - since >= grace and not self._stop.is_set():
                self.on_gone(f"no answer for {now - since:.0f} s: {reason}")
                return


class ServerStartError(RuntimeError):
    """Prefect's temporary server did not start (the command line prints it as one line)."""


def parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when its parent dies (Linux's
    ``PR_SET_PDEATHSIG``), or ``None`` where the platform cannot."""
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
    """The command line and environment ``SubprocessASGIServer._run_uvicorn_command`` builds,
    without importing Prefect (the settings changed in this process passed on when it is loaded),
    but for one change unless the environment sets it: the server registers no block types, which
    only deployments and the UI use (on a new ``PREFECT_HOME`` they are 1.5 s of its start)."""
    site = Path(importlib.util.find_spec("prefect").origin).parent.parent  # prefect.__module_path__'s
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(site),
               "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = {**NO_BLOCK_TYPES, **os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        env.update(get_current_settings().to_environment_variables(exclude_unset=True))
    return command, env


class TemporaryServer:
    """Prefect's temporary local server, started in a child process that dies with this one.

    :meth:`launch` starts it and returns at once; :meth:`wait` blocks until it answers and hands it
    to Prefect; :meth:`stop` ends it. Launch and wait from the main thread: the kernel signals the
    child when the *thread* that started it ends. :meth:`wait` gives the server ``timeout`` seconds
    to answer, counted from the launch.
    """

    def __init__(self, timeout: float = 0.0) -> None:
        self.timeout = timeout
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = False
        self._launched_at = 0.0
        self._named = contextlib.ExitStack()  # where Prefect finds it, undone by stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        """Start the server's process; does not wait for it."""
        command, env = server_command(self.port)
        # a session of its own: Ctrl-C signals the terminal's whole process group, and a server
        # stopped under the run leaves it retrying a closed port for minutes; the run stops it
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
        """Block until the launched server answers, then make it the temporary server of this process's
        flows (and its children's); ServerStartError when it exits or does not answer in ``timeout``."""
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
                raise ServerStartError(f"Prefect's temporary server exited with code {code} while "
                                       f"starting{HINT}")
            if time.monotonic() - self._launched_at > self.timeout:
                raise ServerStartError(f"Prefect's temporary server did not answer within "
                                       f"{self.timeout:g} s{HINT}")
            time.sleep(START_POLL_SECONDS)
        self._register()
        self.ready = True

    def _register(self) -> None:
        """Name it in Prefect's settings as its test harness does: this thread's context, the process's
        (Prefect's threads) and the environment (children, Dask); Prefect never loads its server code
        here (1.5 s). Its flows skip the API version check (a fresh server takes a second to answer
        it; it runs this installation) and heartbeats (they tell of a crashed run, hold its end)."""
        import prefect.context
        from prefect import settings as s

        self._named.enter_context(s.temporary_settings(updates={
            s.PREFECT_API_URL: self.api_url, s.PREFECT_UI_URL: "",  # it serves no UI to link to
            s.PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED: False, s.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        self._named.enter_context(prefect.context._temporary_global_settings_context(
            prefect.context.get_settings_context()))
        os.environ["PREFECT_API_URL"] = self.api_url
        self._named.callback(os.environ.pop, "PREFECT_API_URL", None)

    def stop(self) -> None:
        """End the server: asked to stop once it is up, killed at once while it is still starting
        (it holds nothing yet; each of its database migrations is a transaction of its own)."""
        was_ready, self.ready = self.ready, False
        if was_ready:
            # send the logs and events still queued (else their senders retry a closed port at exit)
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            for worker in (APILogWorker, EventsWorker):
                with contextlib.suppress(Exception):  # a sender that fails loses logs, not the run
                    worker.drain_all(timeout=DRAIN_TIMEOUT_SECONDS)
        self._named.close()
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


@contextlib.contextmanager
def temporary_server() -> Iterator[TemporaryServer | None]:
    """Within the block (entered from the main thread), a temporary server that dies with this
    process is starting; :meth:`~TemporaryServer.wait` for it before a flow runs. ``None`` when
    ``PREFECT_API_URL`` names a server or the platform cannot tie a child to its parent. It is
    launched before Prefect loads unless Prefect is loaded (a second of its start), and stopped if
    Prefect's settings then name a server (a profile, ``prefect.toml``)."""
    if os.environ.get("PREFECT_API_URL") or parent_death_hook() is None:
        yield None
        return
    server = TemporaryServer()
    try:
        if "prefect.settings" not in sys.modules:
            server.launch()  # it boots while Prefect loads
        from prefect import settings

        named = settings.PREFECT_API_URL.value()
        server.timeout = float(settings.PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        if named:
            server.stop()
        elif server.process is None:
            server.launch()
        yield None if named else server
    finally:
        server.stop()
