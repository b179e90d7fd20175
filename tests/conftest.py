"""Test-session settings: Prefect keeps its state in a temporary home, never the user's."""

from __future__ import annotations

import os
import shutil
import tempfile

# Before anything imports prefect: its settings are read from the environment at import.
_PREFECT_HOME = tempfile.mkdtemp(prefix="vaec-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILES_PATH", None)
# A run in this process boots a temporary server on a fresh home, which first migrates its
# database; on a two-core machine busy with a second test worker that takes longer than the
# 20 s Prefect waits by default (the command line raises it only before prefect's first
# import, which in a test process has already happened).
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "240"


# The test models are tiny: one intra-op thread is faster than two, whose synchronisation costs
# more than the matmuls (and collapses when the other core is busy).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)
