"""The ``vaec-select`` command line, run as a subprocess the way people run it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from flows.progress import RoundProgress, round_line
from pipeline.rounds import PruningRound

COMMAND_TIMEOUT = 600
CHANNELS = ["size", "size_copy", "tone", "tone_copy", "noise_a", "noise_b"]


def cli_env(prefect_home: Path) -> dict[str, str]:
    """The environment of a command: its own Prefect home, no Prefect server configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    # tiny models: torch threads only contend with each other on a small, busy machine
    env["OMP_NUM_THREADS"] = "1"
    return env


def vaec_select(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
    )


def raw_table(n_rows: int, seed: int) -> pd.DataFrame:
    """Two informative channels with copies, two noise channels and a label."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_rows) % 2
    size = 50.0 + 10.0 * (label + rng.normal(scale=0.3, size=n_rows))
    tone = label - rng.normal(scale=0.5, size=n_rows)
    return pd.DataFrame({
        "size": size, "size_copy": 3.0 * size + rng.normal(scale=0.5, size=n_rows),
        "tone": tone, "tone_copy": tone + rng.normal(scale=0.05, size=n_rows),
        "noise_a": rng.normal(size=n_rows), "noise_b": rng.uniform(size=n_rows),
        "label": label,
    })


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    raw_table(150, seed=0).to_csv(root / "train.csv", index=False)
    raw_table(25, seed=1).drop(columns="label").to_csv(root / "new.csv", index=False)
    return root


@pytest.fixture(scope="module")
def env(workspace) -> dict[str, str]:
    return cli_env(workspace / "prefect-home")


@pytest.fixture(scope="module")
def finished_run(workspace, env) -> subprocess.CompletedProcess:
    """One tiny run on Prefect's temporary local server (no PREFECT_API_URL)."""
    return vaec_select(
        "run", "--data", "train.csv", "--target", "label", "--n-trials", "2", "--epochs", "15",
        "--max-drop-fraction", "0.5", "--accuracy-tolerance", "none",
        "--reports-dir", "reports", "--run-name", "tiny",
        env=env, cwd=workspace,
    )


def assert_usage_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2 and a last stderr line that names the problem."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    assert "error" in lines[-1]
    for word in words:
        assert word in lines[-1], lines[-1]


# run ---------------------------------------------------------------------------------------

def test_run_prints_the_kept_channels_and_the_report(finished_run, workspace):
    assert finished_run.returncode == 0, finished_run.stderr[-3000:]
    out = finished_run.stdout
    report = workspace / "reports" / "tiny"
    selected = json.loads((report / "selected_features.json").read_text())["selected"]
    assert 2 <= len(selected) <= len(CHANNELS)
    assert f"kept {len(selected)} channels" in out
    assert ", ".join(selected) in out
    assert f"report: {(report / 'report.html').resolve()}" in out
    assert (report / "report.html").is_file() and (report / "report.json").is_file()


def test_run_draws_no_progress_when_output_is_not_a_terminal(finished_run):
    assert "training the trials" not in finished_run.stdout + finished_run.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--dataset", "no_such_set"], ["dataset", "no_such_set"]),
        (["--data", "train.csv"], ["--target"]),
        (["--epochs", "-3"], ["--epochs"]),
        (["--data", "train.csv", "--target", "no_such_column"], ["no_such_column"]),
        (["--task-runner", "ray"], ["--task-runner"]),
    ],
)
def test_run_rejects_bad_arguments_before_any_work(args, words, workspace, env):
    result = vaec_select("run", *args, "--reports-dir", "bad-reports", env=env, cwd=workspace)
    assert_usage_error(result, *words)
    assert not (workspace / "bad-reports").exists()


# report ------------------------------------------------------------------------------------

def test_report_lists_the_runs(finished_run, workspace, env):
    result = vaec_select("report", "--reports-dir", "reports", env=env, cwd=workspace)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header.split()[:3] == ["run", "created", "dataset"]
    assert len(rows) == 1
    n_selected = len(json.loads(
        (workspace / "reports" / "tiny" / "selected_features.json").read_text())["selected"])
    assert rows[0].split()[0] == "tiny"
    assert rows[0].split()[2:4] == ["train", str(n_selected)]


def test_report_of_one_run_prints_its_rounds(finished_run, workspace, env):
    result = vaec_select("report", "tiny", "--reports-dir", "reports", env=env, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "| round | kept |" in result.stdout
    assert str((workspace / "reports" / "tiny" / "report.html").resolve()) in result.stdout


def test_report_takes_the_path_of_a_run_folder(finished_run, workspace, capsys):
    from flows.cli import main

    assert main(["report", str(workspace / "reports" / "tiny")]) == 0
    assert "| round | kept |" in capsys.readouterr().out


def test_report_of_an_unknown_run_fails(workspace, env):
    result = vaec_select("report", "no_such_run", "--reports-dir", "reports",
                         env=env, cwd=workspace)
    assert_usage_error(result, "no_such_run")
    assert len(result.stderr.strip().splitlines()) == 1


# transform ---------------------------------------------------------------------------------

def test_transform_keeps_the_selected_columns_and_the_target(finished_run, workspace, env):
    selection = workspace / "reports" / "tiny" / "selected_features.json"
    result = vaec_select("transform", "--selection", str(selection), "--data", "train.csv",
                         "--out", "out/selected.csv", env=env, cwd=workspace)
    assert result.returncode == 0, result.stderr
    selected = json.loads(selection.read_text())["selected"]
    out = pd.read_csv(workspace / "out" / "selected.csv")
    assert list(out.columns) == [*selected, "label"]
    assert len(out) == 150


def test_transform_names_a_missing_selected_column(finished_run, workspace, env):
    selection = workspace / "reports" / "tiny" / "selected_features.json"
    first = json.loads(selection.read_text())["selected"][0]
    pd.read_csv(workspace / "train.csv").drop(columns=first).to_csv(
        workspace / "partial.csv", index=False)
    result = vaec_select("transform", "--selection", str(selection), "--data", "partial.csv",
                         "--out", "partial-out.csv", env=env, cwd=workspace)
    assert_usage_error(result, repr(first))
    assert not (workspace / "partial-out.csv").exists()


def test_transform_refuses_to_overwrite_its_input(finished_run, workspace, env):
    selection = workspace / "reports" / "tiny" / "selected_features.json"
    before = (workspace / "train.csv").read_bytes()
    result = vaec_select("transform", "--selection", str(selection), "--data", "train.csv",
                         "--out", "./train.csv", env=env, cwd=workspace)
    assert_usage_error(result, "input file")
    assert (workspace / "train.csv").read_bytes() == before


# predict -----------------------------------------------------------------------------------

def test_predict_writes_one_row_per_input_row(finished_run, workspace, env):
    model = workspace / "reports" / "tiny" / "final_model"
    result = vaec_select("predict", "--model", str(model), "--data", "new.csv",
                         "--out", "predicted.csv", "--n-sigma", "2", env=env, cwd=workspace)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(workspace / "predicted.csv")
    assert len(out) == 25
    assert list(out.columns[:len(CHANNELS)]) == CHANNELS
    for column in ("predicted_class", "predicted_probability", "predicted_within_2_sigma",
                   "predicted_confidence"):
        assert column in out.columns
    assert set(out["predicted_class"]) <= {0, 1}


def test_predict_names_a_missing_channel(finished_run, workspace, env):
    model = workspace / "reports" / "tiny" / "final_model"
    channel = json.loads((model / "preprocessing.json").read_text())["channels"][-1]
    pd.read_csv(workspace / "new.csv").drop(columns=channel).to_csv(
        workspace / "new-partial.csv", index=False)
    result = vaec_select("predict", "--model", str(model), "--data", "new-partial.csv",
                         "--out", "never.csv", env=env, cwd=workspace)
    assert_usage_error(result, repr(channel))
    assert not (workspace / "never.csv").exists()


# serve, demo, help -------------------------------------------------------------------------

def test_serve_rejects_a_bad_cron(workspace, env):
    result = vaec_select("serve", "--cron", "61 3 * * *", env=env, cwd=workspace)
    assert_usage_error(result, "--cron", "'61 3 * * *'")


def test_version_and_every_help(workspace, env):
    version = vaec_select("--version", env=env, cwd=workspace)
    assert version.returncode == 0 and version.stdout.startswith("vaec-select 0.")
    top = vaec_select("--help", env=env, cwd=workspace)
    for command in ("run", "serve", "report", "transform", "predict", "demo"):
        assert command in top.stdout
        result = vaec_select(command, "--help", env=env, cwd=workspace)
        assert result.returncode == 0, (command, result.stderr)
        assert "--" in result.stdout
    run_help = vaec_select("run", "--help", env=env, cwd=workspace).stdout
    for option in ("--n-trials", "--accuracy-tolerance", "--task-runner", "--dask-address"):
        assert option in run_help


def test_demo_passes_its_arguments_through(workspace, env):
    result = vaec_select("demo", "--dataset", "no_such_set", env=env, cwd=workspace)
    assert result.returncode == 2
    assert "no_such_set" in result.stderr


# the progress display ----------------------------------------------------------------------

def _record(stop_reason: str | None = None) -> PruningRound:
    return PruningRound(
        index=2, kept=["a", "b", "c", "d"], score_mean={}, score_std={}, dropped=["d"],
        val_accuracy=0.9512, val_f1=0.95, val_f1_std=0.01, seconds=3.25,
        stop_reason=stop_reason,
    )


def test_a_round_line_says_what_the_round_did():
    line = round_line(_record("all_pass"))
    assert line == ("round 2: 4 channels, dropped 1 (d), 3 kept, val acc 0.951, 3.2 s, "
                    "stop: all_pass")


def test_progress_prints_a_line_per_round_only_when_enabled():
    shown = io.StringIO()
    with RoundProgress(True, Console(file=shown, force_terminal=True, width=200)) as progress:
        progress.update(_record())
    assert "round 2: 4 channels" in shown.getvalue()
    quiet = io.StringIO()
    with RoundProgress(False, Console(file=quiet, force_terminal=True)) as progress:
        progress.update(_record())
    assert quiet.getvalue() == ""
