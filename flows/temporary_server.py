"""The temporary Prefect server of a run without ``PREFECT_API_URL``, tied to the run's process.

Without ``PREFECT_API_URL`` Prefect starts a temporary local server for a flow run (uvicorn in a
child process, :class:`prefect.server.api.server.SubprocessASGIServer`) and stops it when the
interpreter exits. A run that is killed (SIGKILL, the OOM killer, a scheduler's timeout) never
gets to stop it: the server lives on as an orphan, holding a port and a few hundred MB.

:func:`temporary_server` starts that server itself, from the calling (main) thread, in a child
that the kernel signals when its parent dies (Linux's ``PR_SET_PDEATHSIG``), and registers it
where Prefect looks for its temporary server (``SubprocessASGIServer._instances[None]``, as
Prefect's own test harness does), so the flow uses it instead of starting another. The URL is
also exported to child processes (Dask workers), which then report to this server instead of
each starting a temporary server of their own.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import socket
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
DRAIN_TIMEOUT_SECONDS = 10.0


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


def _tied_server_class() -> type:
    from prefect.server.api import server as prefect_server

    class TiedServer(prefect_server.SubprocessASGIServer):
        """Prefect's temporary server, started in a child that dies with this process."""

        def _run_uvicorn_command(self) -> Any:
            hook = parent_death_hook()
            if hook is None:
                return super()._run_uvicorn_command()
            # Prefect builds the server's command line; only the child's start-up changes, so
            # its Popen call is handed a preexec_fn for the duration of this call.
            real = prefect_server.subprocess
            tied = types.SimpleNamespace(**vars(real))
            # a session of its own: Ctrl-C at a terminal signals the whole foreground process
            # group, and a server stopped under the run leaves it retrying a closed port for
            # minutes; the run stops it itself when it ends, however it ends
            tied.Popen = functools.partial(real.Popen, preexec_fn=hook, start_new_session=True)
            prefect_server.subprocess = tied
            try:
                return super()._run_uvicorn_command()
            finally:
                prefect_server.subprocess = real

    return TiedServer


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
def temporary_server() -> Iterator[str | None]:
    """Within the block, flows of this process use a temporary server that dies with it.

    Yields the server's API URL, or ``None`` when nothing is started here: ``PREFECT_API_URL``
    names a server already, or the platform cannot tie a child to its parent (then Prefect
    starts and stops its temporary server as it always does). Call it from the main thread:
    the kernel signals the child when the *thread* that started it ends.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or parent_death_hook() is None:
        yield None  # a server of its own, or a platform where Prefect's default is all there is
        return
    try:
        server = _tied_server_class()(port=_free_port())
        previous = SubprocessASGIServer._instances.get(None)
    except (AttributeError, TypeError):  # Prefect's internals moved: fall back to its default
        yield None
        return
    SubprocessASGIServer._instances[None] = server
    exported = os.environ.get("PREFECT_API_URL")
    try:
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
        yield server.api_url
    finally:
        if exported is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = exported
        _drain_to_server()
        server.stop()
        if previous is not None:
            SubprocessASGIServer._instances[None] = previous
        else:
            SubprocessASGIServer._instances.pop(None, None)
