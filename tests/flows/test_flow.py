"""The feature-selection flow under a temporary Prefect server: selection, artifacts, run-to-run
diff, resume after a kill, and the Dask task runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect import task

from flows.feature_selection import feature_selection, run_feature_selection
from flows.parameters import RunParameters
from pipeline.report.store import CHECKPOINT_DIR, read_report

from .conftest import read_artifact, structured_table

# every test here runs flows on the session's Prefect server
pytestmark = pytest.mark.slow

STRUCTURED = ["s0", "s1", "s2", "s3"]
TINY = {"n_trials": 2, "latent_dim": 1, "epochs": 80, "max_drop_fraction": 0.5, "seed": 0}


def params_for(csv: Path, reports: Path, **changes) -> RunParameters:
    return RunParameters.from_flat(
        data=str(csv), target="label", reports_dir=str(reports), **{**TINY, **changes}
    )


@pytest.fixture(scope="module")
def first_run(prefect_api_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("flow")
    structured_table().to_csv(root / "table.csv", index=False)
    params = params_for(root / "table.csv", root / "reports", run_name="first")
    return root, params, feature_selection(params)


def test_flow_drops_the_noise_channels_and_writes_the_report(first_run):
    root, _, result = first_run
    assert result["selected"] == STRUCTURED
    assert result["resumed_rounds"] == 0
    folder = Path(result["run_folder"])
    assert folder == root / "reports" / "first"
    report = read_report(folder)
    assert report.selected == STRUCTURED and result["dropped"] == report.dropped
    assert (folder / "report.html").is_file()
    assert json.loads((folder / "selected_features.json").read_text())["selected"] == STRUCTURED
    assert not any((root / "reports" / CHECKPOINT_DIR).glob("*.json"))


def test_artifacts_hold_the_round_table_the_channel_fates_and_the_report_path(first_run):
    root, _, result = first_run
    rounds = read_artifact("table-rounds").data
    for name in ("noise0", "noise3", "s0"):
        assert name in rounds
    assert f"**Stop reason:** {result['stop_reason']}" in rounds
    table = read_artifact("table-channels").data
    rows = json.loads(table) if isinstance(table, str) else table
    fates = {row["channel"]: row for row in rows}
    assert set(fates) == {*STRUCTURED, "noise0", "noise1", "noise2", "noise3"}
    assert all(fates[c]["status"] == "kept" for c in STRUCTURED)
    assert all(fates[f"noise{i}"]["status"] == "dropped" for i in range(4))
    assert all(fates[f"noise{i}"]["left in round"] == "1" for i in range(4))
    link = read_artifact("table-report").data
    assert str((root / "reports" / "first").resolve()) in link


def test_a_later_run_reports_what_changed_since_the_previous_one(prefect_api_url, tmp_path):
    # its own file name, so its artifacts ("moving-...") are its own whatever the test order
    structured_table().to_csv(tmp_path / "moving.csv", index=False)
    params = params_for(tmp_path / "moving.csv", tmp_path / "reports", run_name="first")
    assert feature_selection(params)["selected"] == STRUCTURED
    changed = structured_table()
    changed["noise0"] = changed["s0"] + 0.05  # the data moved: noise0 now carries the factor
    changed.to_csv(tmp_path / "moving.csv", index=False)
    result = feature_selection(params.model_copy(update={"run_name": "second"}))
    assert result["added"] == ["noise0"]
    assert result["removed"] == []
    diff = read_report(result["run_folder"]).diff
    assert diff["previous_run"] == "first"
    assert diff["added"] == ["noise0"]
    assert "noise0" in read_artifact("moving-rounds").data.split("previous run")[-1]


def test_a_killed_run_resumes_and_ends_with_the_uninterrupted_selection(
    prefect_api_url, tmp_path
):
    structured_table(n_rows=300, n_noise=8).to_csv(tmp_path / "table.csv", index=False)
    slow = {"epochs": 150, "max_drop_fraction": 0.2}
    reference = feature_selection(params_for(tmp_path / "table.csv", tmp_path / "ref", **slow))
    assert reference["n_rounds"] >= 3

    params = params_for(tmp_path / "table.csv", tmp_path / "reports", run_name="resumed", **slow)
    script = tmp_path / "run_flow.py"
    script.write_text(
        "import sys\n"
        "from flows.feature_selection import feature_selection\n"
        "from flows.parameters import RunParameters\n"
        "feature_selection(RunParameters.model_validate_json(sys.argv[1]))\n"
    )
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, str(script), params.model_dump_json()],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    checkpoints = tmp_path / "reports" / CHECKPOINT_DIR
    finished_before_kill = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        for path in checkpoints.glob("*.json"):
            try:
                rounds = json.loads(path.read_text())["rounds"]
            except (OSError, ValueError):
                continue
            if rounds and rounds[-1]["stop_reason"] is None:
                process.send_signal(signal.SIGKILL)
                finished_before_kill = len(rounds)
                break
        if finished_before_kill:
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert finished_before_kill, f"the run ended before it could be killed: {process.stderr.read()!r}"
    assert process.returncode == -signal.SIGKILL
    # the named folder was claimed before training; unfinished, it is taken up again by name
    assert (tmp_path / "reports" / "resumed").is_dir()
    assert not (tmp_path / "reports" / "resumed" / "report.json").exists()

    resumed = feature_selection(params)
    assert resumed["resumed_rounds"] >= finished_before_kill
    assert resumed["selected"] == reference["selected"]
    assert resumed["n_rounds"] == reference["n_rounds"]
    pairs = zip(*(read_report(r["run_folder"]).rounds for r in (resumed, reference)), strict=True)
    for a, b in pairs:
        assert (a["kept"], a["dropped"], a["stop_reason"]) == (b["kept"], b["dropped"], b["stop_reason"])
        assert a["score_mean"] == pytest.approx(b["score_mean"], abs=1e-4)


def test_a_run_on_changed_data_never_resumes_the_rounds_of_the_old_data(
    prefect_api_url, tmp_path, monkeypatch
):
    import flows.feature_selection as module

    structured_table().to_csv(tmp_path / "table.csv", index=False)
    params = params_for(tmp_path / "table.csv", tmp_path / "reports")

    @task
    def killed(split, channels, config, **_):
        raise RuntimeError("killed after the rounds")

    # every round is checkpointed, then the run dies before its final model
    monkeypatch.setattr(module, "fit_final", killed)
    with pytest.raises(RuntimeError, match="killed after the rounds"):
        feature_selection(params)
    monkeypatch.undo()
    (checkpoint,) = (tmp_path / "reports" / CHECKPOINT_DIR).glob("*.json")

    # the data is refreshed: same shape, columns and class counts, but s0 is noise now and
    # noise0 carries the factor that decides the label
    table = structured_table()
    table["s0"], table["noise0"] = table["noise0"].to_numpy(), table["s0"].to_numpy()
    table.to_csv(tmp_path / "table.csv", index=False)
    result = feature_selection(params)
    assert result["resumed_rounds"] == 0
    assert "noise0" in result["selected"] and "s0" not in result["selected"]
    assert checkpoint.with_name(checkpoint.name + ".corrupt").is_file()


def test_the_dask_runner_gives_the_same_selection_as_threads(prefect_api_url, dask_address,
                                                            tmp_path):
    structured_table().to_csv(tmp_path / "table.csv", index=False)
    threads = run_feature_selection(params_for(tmp_path / "table.csv", tmp_path / "threads"))
    dask = run_feature_selection(
        params_for(tmp_path / "table.csv", tmp_path / "dask", task_runner="dask",
                   dask_address=dask_address, trial_groups=2)
    )
    assert dask["selected"] == threads["selected"] == STRUCTURED
    rounds = [read_report(r["run_folder"]).rounds for r in (threads, dask)]
    assert [r["kept"] for r in rounds[0]] == [r["kept"] for r in rounds[1]]
    for a, b in zip(rounds[0], rounds[1], strict=True):
        assert a["score_mean"] == pytest.approx(b["score_mean"], abs=1e-5)
