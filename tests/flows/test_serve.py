"""Scheduled runs: cron checks, and ``vaec-select serve`` against a real local Prefect server
(the session's)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from flows.parameters import RunParameters, check_cron, served_parameters
from tests.flows.conftest import fresh_shell_env

REPO = Path(__file__).resolve().parents[2]
FLOW_NAME = "vaec-feature-selection"
DEPLOYMENT_TIMEOUT = 120
RUN_TIMEOUT = 180


# the cron check and the served parameters --------------------------------------------------

@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 * * * 1-5", "@daily"])
def test_valid_cron_expressions_pass(cron):
    assert check_cron(cron) == cron


@pytest.mark.parametrize("cron", ["", "not a cron", "61 3 * * *", "0 3 * *", "0 25 * * *"])
def test_invalid_cron_expressions_are_one_line_errors(cron):
    with pytest.raises(ValueError, match="not a valid cron expression") as info:
        check_cron(cron)
    assert "\n" not in str(info.value)


def test_served_runs_get_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = RunParameters(data="in.csv", target="label", reports_dir="reports")
    served = served_parameters(params)
    assert served.reports_dir == str(tmp_path.resolve() / "reports")
    assert served.data == str(tmp_path.resolve() / "in.csv")
    assert served.target == "label" and served.dataset is None


# the process work pool deployment ----------------------------------------------------------

def test_prefect_yaml_deploys_the_flow_to_the_process_pool():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = config["deployments"]
    assert deployment["work_pool"]["name"] == "vaec-process"
    assert deployment["entrypoint"] == "flows/feature_selection.py:feature_selection"
    for schedule in deployment["schedules"]:
        check_cron(schedule["cron"])
    # the parameters are exactly what the flow accepts
    RunParameters(**deployment["parameters"]["params"])


def test_prefect_yaml_entrypoint_loads_the_flow(monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(REPO)
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    flow = load_flow_from_entrypoint(config["deployments"][0]["entrypoint"])
    assert flow.name == FLOW_NAME


# serve against a real server ---------------------------------------------------------------

def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def _wait(condition, timeout: float, what: str, processes: dict[str, tuple]) -> None:
    """Poll ``condition`` until true; fail early (with its log) when a process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for name, (process, log) in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited ({process.returncode}) while waiting for {what}:\n"
                            + Path(log).read_text(errors="replace")[-3000:])
        time.sleep(1)
    pytest.fail(f"no {what} after {timeout} s")


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


@pytest.mark.slow
def test_serve_runs_a_triggered_flow_on_a_local_server(prefect_api_url, tmp_path):
    from prefect.deployments import run_deployment

    api = prefect_api_url
    env = fresh_shell_env(tmp_path)
    # serve talks to the session's server; the served runner looks for due runs every second
    # (its default: every 10 s)
    client_env = {**env, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    name = "test-schedule"
    cron = "0 0 1 1 *"  # once a year: only the triggered run happens during the test
    reports = tmp_path / "reports"
    served = None
    try:
        serve_log = tmp_path / "serve.log"
        with open(serve_log, "w") as log:
            served = subprocess.Popen(
                [sys.executable, "-m", "flows.cli", "serve", "--cron", cron, "--name", name,
                 "--dataset", "wine", "--n-trials", "2", "--epochs", "10",
                 "--threshold", "-1", "--reports-dir", "reports", "--run-name", "served"],
                env=client_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            )
        watched = {"vaec-select serve": (served, serve_log)}
        deployment_url = f"{api}/deployments/name/{FLOW_NAME}/{name}"
        _wait(lambda: (r := _get(deployment_url)) is not None and r.status_code == 200,
              DEPLOYMENT_TIMEOUT, "deployment", watched)

        deployment = httpx.get(deployment_url, timeout=5).json()
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == [cron]
        params = deployment["parameters"]["params"]
        assert params["dataset"] == "wine" and params["model"]["epochs"] == 10
        # served runs write where serve was started, whatever their working directory
        assert params["reports_dir"] == str(reports.resolve())

        assert deployment["parameters"]["run_name_is_prefix"] is True

        # two runs of one served name (triggered as 'prefect deployment run' does, through the
        # API): each writes a folder of its own, served-<timestamp>
        for _ in range(2):
            run_deployment(f"{FLOW_NAME}/{name}", timeout=0)

        def reports_written() -> list[Path]:
            return sorted(reports.glob("served-*/report.json"))

        _wait(lambda: len(reports_written()) == 2, 2 * RUN_TIMEOUT,
              "report.json of both triggered runs", watched)
        assert not (reports / "served").exists()
        for report in reports_written():
            assert (report.parent / "selected_features.json").is_file()
    finally:
        _stop(served)
