"""The ``vaec-select`` command line, called in-process through ``main([...])``; one end-to-end
run as a subprocess, the way people run it."""

from __future__ import annotations

import contextlib
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

from flows.cli import main
from flows.progress import RoundProgress
from pipeline.report.round_table import round_rows
from pipeline.rounds import PruningRound

CHANNELS = ["size", "size_copy", "tone", "tone_copy", "noise_a", "noise_b"]
RUN_OPTIONS = ["--n-trials", "2", "--epochs", "60", "--latent-dim", "2", "--max-drop-fraction", "0.5",
               "--accuracy-tolerance", "none"]


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


def run_main(*args: str) -> tuple[int, str, str]:
    """``main(args)`` with its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    raw_table(150, seed=0).to_csv(root / "train.csv", index=False)
    raw_table(25, seed=1).drop(columns="label").to_csv(root / "new.csv", index=False)
    return root


@pytest.fixture(scope="module")
def finished_run(workspace) -> Path:
    """A run folder written by the pipeline (what ``run`` writes), without Prefect."""
    from pipeline.data import load_dataset
    from pipeline.pruning_config import PruningConfig
    from pipeline.report.writer import write_report
    from pipeline.selection import run_selection

    dataset = load_dataset(workspace / "train.csv", "label")
    config = PruningConfig(n_trials=2, epochs=60, latent_dim=2, max_drop_fraction=0.5,
                           accuracy_tolerance=None)
    result = run_selection(dataset, config)
    return write_report(result, dataset.summary(), workspace / "reports", run_name="tiny")[0]


@pytest.fixture(scope="module")
def command_run(prefect_api_url, workspace) -> tuple[int, str, str]:
    """One tiny ``vaec-select run`` on the session's Prefect server."""
    return run_main(
        "run", "--data", str(workspace / "train.csv"), "--target", "label", *RUN_OPTIONS,
        "--reports-dir", str(workspace / "command-reports"), "--run-name", "tiny",
    )


def assert_usage_error(result: tuple[int, str, str], *words: str) -> None:
    """Exit code 2 and one last stderr line that names the problem."""
    code, _, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines, "nothing on stderr"
    assert "error" in lines[-1]
    for word in words:
        assert word in lines[-1], lines[-1]


# run ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_run_prints_the_kept_channels_and_the_report(command_run, workspace):
    code, out, err = command_run
    assert code == 0, err[-3000:]
    report = workspace / "command-reports" / "tiny"
    selected = json.loads((report / "selected_features.json").read_text())["selected"]
    # the noise goes; at least one channel of each informative pair stays
    assert not {"noise_a", "noise_b"} & set(selected)
    assert {"size", "size_copy"} & set(selected) and {"tone", "tone_copy"} & set(selected)
    assert f"kept {len(selected)} channels" in out
    assert ", ".join(selected) in out
    assert f"report: {(report / 'report.html').resolve()}" in out


@pytest.mark.slow
def test_run_draws_no_progress_when_output_is_not_a_terminal(command_run):
    _, out, err = command_run
    assert "training the first round" not in out + err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--dataset", "no_such_set"], ["--dataset", "no_such_set"]),
        (["--data", "train.csv", "--task", "regression"], ["--target"]),
        (["--data", "train.csv", "--dataset", "wine", "--target", "label"], ["--dataset", "--data"]),
        (["--epochs", "-3"], ["--epochs", "-3"]),
        (["--epochs", "three"], ["--epochs", "three"]),
        (["--threshold", "2"], ["--threshold", "[-1, 1]"]),
        (["--accuracy-tolerance", "-1"], ["--accuracy-tolerance"]),
        (["--val-size", "0.5", "--test-size", "0.5"], ["val_size + test_size"]),
        (["--data", "train.csv", "--target", "no_such_column"], ["no_such_column"]),
        (["--task-runner", "ray"], ["--task-runner"]),
    ],
)
def test_run_rejects_bad_arguments_before_any_work(args, words, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    result = run_main("run", *args, "--reports-dir", "bad-reports")
    assert_usage_error(result, *words)
    assert not (workspace / "bad-reports").exists()


def test_usage_errors_and_the_run_listing_load_no_heavy_library(tmp_path):
    """Run in a fresh interpreter: this one has torch loaded by other tests."""
    script = (
        "import sys\n"
        "from flows.cli import main\n"
        "codes = [main(['run', '--epochs', '-3']), main(['report', '--reports-dir', sys.argv[1]]),\n"
        "         main(['serve', '--cron', '0 3 * * *', '--n-trials', '0']), main(['--help'])]\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'pandas', 'sklearn') if m in sys.modules]\n"
        "print(codes, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[2, 0, 2, 0] []", result.stderr


# report ------------------------------------------------------------------------------------

def test_report_lists_the_runs(finished_run, workspace):
    code, out, err = run_main("report", "--reports-dir", str(workspace / "reports"))
    assert code == 0, err
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["run", "created", "dataset"]
    assert len(rows) == 1
    n_selected = len(json.loads(
        (workspace / "reports" / "tiny" / "selected_features.json").read_text())["selected"])
    assert rows[0].split()[0] == "tiny"
    assert rows[0].split()[2:4] == ["train", str(n_selected)]


def test_report_of_one_run_prints_its_rounds(finished_run, workspace):
    code, out, err = run_main("report", "tiny", "--reports-dir", str(workspace / "reports"))
    assert code == 0, err
    assert "| round | trained on | dropped | kept |" in out
    rounds = json.loads((workspace / "reports" / "tiny" / "report.json").read_text())["rounds"]
    assert out.count("\n| ") == len(rounds)
    assert str((workspace / "reports" / "tiny" / "report.html").resolve()) in out


def test_report_takes_the_path_of_a_run_folder(finished_run, workspace):
    code, out, _ = run_main("report", str(workspace / "reports" / "tiny"))
    assert code == 0
    assert "| round | trained on |" in out


def test_report_of_an_unknown_run_fails(workspace):
    result = run_main("report", "no_such_run", "--reports-dir", str(workspace / "reports"))
    assert_usage_error(result, "no_such_run")
    assert len(result[2].strip().splitlines()) == 1


# transform ---------------------------------------------------------------------------------

def test_transform_keeps_the_selected_columns_and_the_target(finished_run, workspace):
    selection = workspace / "reports" / "tiny" / "selected_features.json"
    code, _, err = run_main("transform", "--selection", str(selection),
                            "--data", str(workspace / "train.csv"),
                            "--out", str(workspace / "out" / "selected.csv"))
    assert code == 0, err
    selected = json.loads(selection.read_text())["selected"]
    out = pd.read_csv(workspace / "out" / "selected.csv")
    assert list(out.columns) == [*selected, "label"]
    pd.testing.assert_frame_equal(out, pd.read_csv(workspace / "train.csv")[[*selected, "label"]])


def test_transform_names_a_missing_selected_column(finished_run, workspace):
    selection = workspace / "reports" / "tiny" / "selected_features.json"
    first = json.loads(selection.read_text())["selected"][0]
    pd.read_csv(workspace / "train.csv").drop(columns=first).to_csv(
        workspace / "partial.csv", index=False)
    result = run_main("transform", "--selection", str(selection),
                      "--data", str(workspace / "partial.csv"),
                      "--out", str(workspace / "partial-out.csv"))
    assert_usage_error(result, repr(first))
    assert not (workspace / "partial-out.csv").exists()


@pytest.mark.parametrize("out", ["./train.csv", "{selection}"])
def test_transform_refuses_to_overwrite_its_inputs(finished_run, workspace, monkeypatch, out):
    monkeypatch.chdir(workspace)
    selection = workspace / "reports" / "tiny" / "selected_features.json"
    before = {p: p.read_bytes() for p in (workspace / "train.csv", selection)}
    result = run_main("transform", "--selection", str(selection), "--data", "train.csv",
                      "--out", out.format(selection=selection))
    assert_usage_error(result)
    assert {p: p.read_bytes() for p in before} == before


# predict -----------------------------------------------------------------------------------

def test_predict_writes_one_row_per_input_row(finished_run, workspace):
    model = workspace / "reports" / "tiny" / "final_model"
    code, _, err = run_main("predict", "--model", str(model), "--data", str(workspace / "new.csv"),
                            "--out", str(workspace / "predicted.csv"), "--n-sigma", "2")
    assert code == 0, err
    out = pd.read_csv(workspace / "predicted.csv")
    assert len(out) == 25
    assert list(out.columns[:len(CHANNELS)]) == CHANNELS
    for column in ("predicted_class", "predicted_probability", "predicted_within_2_sigma",
                   "predicted_confidence"):
        assert column in out.columns
    truth = raw_table(25, seed=1)["label"]
    assert (out["predicted_class"] == truth).mean() > 0.8


def test_predict_names_a_missing_channel(finished_run, workspace):
    model = workspace / "reports" / "tiny" / "final_model"
    channel = json.loads((model / "preprocessing.json").read_text())["channels"][-1]
    pd.read_csv(workspace / "new.csv").drop(columns=channel).to_csv(
        workspace / "new-partial.csv", index=False)
    result = run_main("predict", "--model", str(model), "--data", str(workspace / "new-partial.csv"),
                      "--out", str(workspace / "never.csv"))
    assert_usage_error(result, repr(channel))
    assert not (workspace / "never.csv").exists()


# serve, help -------------------------------------------------------------------------------

def test_serve_rejects_a_bad_cron():
    assert_usage_error(run_main("serve", "--cron", "61 3 * * *"), "--cron", "'61 3 * * *'")


def test_version_and_every_help():
    code, out, _ = run_main("--version")
    assert code == 0 and out.startswith("vaec-select 0.")
    _, top, _ = run_main("--help")
    for command in ("run", "serve", "report", "transform", "predict", "demo"):
        assert command in top
        code, out, err = run_main(command, "--help")
        assert code == 0, (command, err)
        assert "--" in out
    _, run_help, _ = run_main("run", "--help")
    for option in ("--n-trials", "--accuracy-tolerance", "--task-runner", "--dask-address"):
        assert option in run_help
    assert "(default 0.6)" in run_help


# the progress display ----------------------------------------------------------------------

def _rows(stop_reason: str | None = None):
    first = PruningRound(1, ["a", "b", "c", "d", "e"], {"e": 0.1}, {"e": 0.0}, ["e"],
                         0.96, 0.01, {"accuracy": 0.96, "f1": 0.96}, 2.0)
    second = PruningRound(2, ["a", "b", "c", "d"], {"d": 0.25}, {"d": 0.0}, ["d"],
                          0.95, 0.01, {"accuracy": 0.9512, "f1": 0.95}, 3.25, stop_reason)
    return round_rows([first, second])


def test_a_round_line_says_what_the_round_trained_on_dropped_and_kept():
    line = _rows("all_pass")[-1].summary()
    assert line == ("round 2: trained on 4, dropped 1 (d) → 3 kept, val F1 0.950, 3.2 s, "
                    "stop: all_pass")


def test_a_guard_stop_says_which_channels_are_kept():
    first = PruningRound(1, ["a", "b", "c"], {"c": 0.1}, {"c": 0.0}, ["c"], 0.96, 0.0,
                         {"accuracy": 0.96, "f1": 0.96}, 1.0)
    guard = PruningRound(2, ["a", "b"], {}, {}, [], 0.80, 0.0, {"accuracy": 0.80, "f1": 0.80},
                         1.0, "accuracy_guard")
    row = round_rows([first, guard])[-1]
    assert row.kept == 3
    assert "uncertain drops come back, 3 kept" in row.summary()


def test_progress_draws_epochs_and_a_line_per_round_only_when_enabled():
    shown = io.StringIO()
    with RoundProgress(True, Console(file=shown, force_terminal=True, width=200)) as progress:
        progress.round_started(2, 4, epochs=300)
        progress.epoch(150, 300)
        progress.console.print(progress._bars.get_renderable())
        progress.round_finished(_rows()[-1])
    text = shown.getvalue()
    assert "round 2: training on 4 channels" in text and "150/300" in text
    assert "round 2: trained on 4" in text
    quiet = io.StringIO()
    with RoundProgress(False, Console(file=quiet, force_terminal=True)) as progress:
        progress.round_started(2, 4, epochs=300)
        progress.epoch(150, 300)
        progress.round_finished(_rows()[-1])
    assert quiet.getvalue() == ""


# the command as people run it --------------------------------------------------------------

@pytest.mark.slow
def test_the_installed_command_runs_end_to_end_on_its_own_server(workspace, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_NUM_THREADS": "1"})
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", *RUN_OPTIONS, "--reports-dir", str(tmp_path / "reports"),
         "--run-name", "e2e"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    selected = json.loads(
        (tmp_path / "reports" / "e2e" / "selected_features.json").read_text())["selected"]
    assert f"kept {len(selected)} channels" in result.stdout
    assert (tmp_path / "reports" / "e2e" / "report.html").is_file()
