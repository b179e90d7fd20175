"""The shared Prefect server a run reports to: whether it answers, and a watch that ends the run
when it stops answering.

Prefect's client retries a request that finds no server (once it has connected) up to
``PREFECT_CLIENT_MAX_RETRIES`` times with an exponential back-off: a run whose server dies
spends minutes retrying each of its last requests, printing nothing, after its work is done.
:class:`ServerWatch` asks the server's ``/health`` every few seconds from a thread of its own and
calls ``on_gone`` once it has not answered for a grace period: a few seconds when nothing listens
at its address (connection refused, no such host), longer when it only answers slowly (a busy
server is not a dead one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

HEALTH_TIMEOUT_SECONDS = 5.0  # the check before a run or serve starts
POLL_SECONDS = 2.0
REFUSED_GRACE_SECONDS = 6.0  # nothing listens there: the server is gone (or restarting)
SLOW_GRACE_SECONDS = 60.0  # it does not answer in time: busy, or a host that is down


def health_problem(url: str, timeout: float) -> tuple[str, bool] | None:
    """Why the Prefect API at ``url`` does not answer its health check (``"ConnectError"``,
    ``"HTTP 404"``), and whether nothing listens there (``True``: refused, no such host) or it
    is only slow or not Prefect; ``None`` when it answers (a server that wants credentials,
    Prefect Cloud, is there)."""
    import httpx

    try:
        status = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).status_code
    except httpx.HTTPError as err:
        return type(err).__name__, isinstance(err, httpx.ConnectError)
    return None if status in (200, 401, 403) else (f"HTTP {status}", False)


def problem_text(cause: str) -> str:
    """:func:`health_problem`'s cause as a clause: ``nothing answers (ConnectError)``."""
    if cause.startswith("HTTP "):
        return (f"it answers {cause} to a health check, not as a Prefect server's API (it ends "
                "in /api)")
    return f"nothing answers ({cause})"


class ServerWatch:
    """Within the block, a thread asks the Prefect API at ``url`` whether it answers, every
    ``poll`` seconds, and calls ``on_gone(reason)`` once (from that thread) when it has not
    answered for ``refused_grace`` seconds with nothing listening, or ``slow_grace`` seconds
    otherwise. ``on_gone`` is expected to end the process: the run's own requests would retry
    for minutes.

    Parameters
    ----------
    url : str
        The API URL (``PREFECT_API_URL``).
    on_gone : callable
        Told why, e.g. ``"no answer for 6 s: ConnectError"``.
    poll, refused_grace, slow_grace : float, optional
        Seconds between health checks (each waits at most ``poll``), and the grace periods; by
        default this module's ``POLL_SECONDS``, ``REFUSED_GRACE_SECONDS`` and
        ``SLOW_GRACE_SECONDS``, read when the watch is made (so setting them changes the watch
        of every later run in the process).
    """

    def __init__(self, url: str, on_gone: Callable[[str], None], *, poll: float | None = None,
                 refused_grace: float | None = None, slow_grace: float | None = None) -> None:
        self.url, self.on_gone = url, on_gone
        self.poll = POLL_SECONDS if poll is None else poll
        self.refused_grace = REFUSED_GRACE_SECONDS if refused_grace is None else refused_grace
        self.slow_grace = SLOW_GRACE_SECONDS if slow_grace is None else slow_grace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="prefect-server-watch",
                                        daemon=True)

    def __enter__(self) -> ServerWatch:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
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


def no_server_at(url: str, timeout: float) -> str | None:
    """``no Prefect server at PREFECT_API_URL=<url>: <why>`` when nothing answers there as a
    Prefect server's API; ``None`` when one does."""
    problem = health_problem(url, timeout)
    if problem is None:
        return None
    return f"no Prefect server at PREFECT_API_URL={url}: {problem_text(problem[0])}"


def check_run_server(timeout: float = HEALTH_TIMEOUT_SECONDS) -> str | None:
    """``PREFECT_API_URL`` when it is set and a Prefect server answers there; ``None`` when it
    is unset (the run starts a temporary server of its own).

    Raises
    ------
    ConfigError
        One line naming the URL, when nothing answers there as a Prefect server.
    """
    from prefect.settings import PREFECT_API_URL

    from vaec.config import ConfigError

    url = PREFECT_API_URL.value()
    if not url:
        return None
    missing = no_server_at(url, timeout)
    if missing is not None:
        raise ConfigError(f"{missing}; start it, or unset PREFECT_API_URL and the run starts a "
                          "temporary server")
    return url
