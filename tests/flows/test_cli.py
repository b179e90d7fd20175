"""The ``vaec-select`` command line, called in-process through ``main([...])``; one end-to-end
run as a subprocess, the way people run it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from flows.display import RoundProgress
from pipeline.report.tables import Table
from pipeline.rounds.record import PruningRound

from .conftest import fresh_shell_env, interruptible, run_main

CHANNELS = ["size", "size_copy", "tone", "tone_copy", "noise_a", "noise_b"]
RUN_OPTIONS = ["--n-trials", "2", "--epochs", "60", "--latent-dim", "2", "--max-drop-fraction", "0.5",
               "--guard-level", "none"]


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
def finished_run(workspace) -> Path:
    """A run folder written by the pipeline (what ``run`` writes), without Prefect."""
    from pipeline.data.dataset import load_dataset
    from pipeline.report.writer import write_report
    from pipeline.selection import run_selection
    from pipeline.settings import SelectionSettings

    dataset = load_dataset(workspace / "train.csv", "label")
    config = SelectionSettings.from_flat(n_trials=2, epochs=60, latent_dim=2, max_drop_fraction=0.5,
                           guard_level=None)
    result = run_selection(dataset, config)
    return write_report(result, dataset.summary(), workspace / "reports", run_name="tiny")[0]


JUNK_REPORTS = {"schema-only": '{"schema_version": 1}', "a-list": "[]", "garbage": "}{",
                "other-schema": '{"schema_version": 7}'}


def _job_checkpoint(workspace: Path, reports: Path) -> Path:
    """Where ``run`` with RUN_OPTIONS on train.csv keeps its checkpoint."""
    from flows.cli import build_parser
    from flows.options import _parameters
    from pipeline.data.dataset import load_dataset
    from pipeline.report.store import CHECKPOINT_DIR, run_fingerprint

    args = build_parser().parse_args(
        ["run", "--data", str(workspace / "train.csv"), "--target", "label", *RUN_OPTIONS])
    params = _parameters(args)
    summary = load_dataset(params.source, "label").summary()
    return reports / CHECKPOINT_DIR / f"{run_fingerprint(summary, params.selection())}.json"


@pytest.fixture(scope="module")
def command_run(prefect_api_url, workspace) -> tuple[int, str, str]:
    """One tiny ``vaec-select run`` on the session's Prefect server, into a reports folder
    holding junk: report folders nobody can read and a garbled checkpoint of this very job."""
    reports = workspace / "command-reports"
    for name, text in JUNK_REPORTS.items():
        (reports / name).mkdir(parents=True)
        (reports / name / "report.json").write_text(text)
    checkpoint = _job_checkpoint(workspace, reports)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text('{"schema_version": 1, "rounds": [')
    return run_main(
        "run", "--data", str(workspace / "train.csv"), "--target", "label", *RUN_OPTIONS,
        "--reports-dir", str(reports), "--run-name", "tiny",
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
    assert f"kept {len(selected)} columns" in out
    assert ", ".join(selected) in out
    # the dropped columns by name, and what the selection cost against all columns
    dropped = json.loads((report / "report.json").read_text())["dropped"]
    assert f"dropped {len(dropped)}:\n  " + ", ".join(dropped) in out
    cost = next(line for line in out.splitlines() if line.startswith("cost: "))
    assert "with all 6 columns" in cost and f"with the {len(selected)} kept" in cost
    assert f"report: {(report / 'report.html').resolve()}" in out


@pytest.mark.slow
def test_junk_in_the_reports_folder_does_not_fail_a_run(command_run, workspace):
    code, _, err = command_run
    assert code == 0, err[-3000:]
    reports = workspace / "command-reports"
    checkpoint = _job_checkpoint(workspace, reports)
    # set aside, not deleted: the garbled checkpoint is there to be looked at
    assert checkpoint.with_name(checkpoint.name + ".corrupt").is_file()
    assert not checkpoint.exists()
    for name in JUNK_REPORTS:  # left as they were
        assert (reports / name / "report.json").is_file()


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
        (["--threshold", "2"], ["--threshold", "<= 1.0", "2.0"]),
        (["--guard-level", "-1"], ["--guard-level"]),
        (["--val-size", "0.5", "--test-size", "0.5"], ["val_size + test_size"]),
        (["--data", "train.csv", "--target", "no_such_column"], ["no_such_column"]),
        (["--task-runner", "ray"], ["--task-runner"]),
        # a table without a target is refused, naming the way to mean it and the label
        (["--data", "train.csv"], ["--target", "--task unsupervised", "'label' looks like"]),
        (["--dask-address", "tcp://10.0.0.5:8786"], ["--dask-address", "task_runner 'dask'"]),
        (["--n-features-to-select", "few"], ["--n-features-to-select", "'auto'"]),
    ],
)
def test_run_rejects_bad_arguments_before_any_work(args, words, workspace, fake_server,
                                                   monkeypatch):
    monkeypatch.chdir(workspace)
    result = run_main("run", *args, "--reports-dir", "bad-reports")
    assert_usage_error(result, *words)
    assert not (workspace / "bad-reports").exists()
    assert "waited" not in fake_server.events


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


@pytest.mark.parametrize(("args", "words"), [
    (["run", "--bogus"], ["unrecognized arguments: --bogus", "vaec-select run --help"]),
    (["run", "--epochs", "x"], ["--epochs", "'x'", "vaec-select run --help"]),
    (["serve", "--dataset", "wine"], ["--cron", "vaec-select serve --help"]),
    (["no-such-command"], ["'no-such-command'", "vaec-select --help"]),
])
def test_a_bad_option_is_one_line_with_a_help_hint_not_the_usage(args, words):
    result = subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("vaec-select") and ": error: " in line
    assert "usage:" not in result.stderr
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "a/b", "..", ".hidden"])
def test_a_run_name_must_be_a_single_folder_name(workspace, never_trains, name):
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(workspace / "named-reports"), "--run-name", name)
    assert_usage_error(result, "--run-name", "single folder name")
    assert not (workspace / "escaped").exists()


@pytest.mark.parametrize(("name", "words"), [
    ("two\nlines", "control characters"), ("x" * 300, "at most 200 bytes")])
def test_a_run_name_a_file_system_cannot_take_is_refused(workspace, never_trains, name, words):
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(workspace / "named-reports"), "--run-name", name)
    assert_usage_error(result, "--run-name", words)


@pytest.mark.parametrize("points_to", ["outside", "dangling"])
def test_a_run_name_that_is_a_symbolic_link_is_refused(workspace, never_trains, points_to):
    reports = workspace / f"linked-reports-{points_to}"
    reports.mkdir()
    outside = workspace / "outside-folder"
    outside.mkdir(exist_ok=True)
    (reports / "linked").symlink_to(outside if points_to == "outside" else workspace / "gone")
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(reports), "--run-name", "linked")
    assert_usage_error(result, "--run-name", "symbolic link")
    assert not any(outside.iterdir())


def test_a_taken_run_name_is_refused_before_any_training(finished_run, workspace, never_trains):
    before = (finished_run / "report.json").read_bytes()
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(finished_run.parent), "--run-name", finished_run.name)
    assert_usage_error(result, "--run-name", "is taken")
    assert (finished_run / "report.json").read_bytes() == before


@pytest.fixture
def claim_held_elsewhere(tmp_path):
    """Another process holding the claim of ``reports/busy``, as a run training under that name
    does; yields the reports folder and ends the process afterwards."""
    reports = tmp_path / "reports"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\n"
         "from pipeline.report.store import claim_named_run\n"
         "claim_named_run(sys.argv[1], 'busy')\n"
         "print('held', flush=True)\n"
         "sys.stdin.read()\n", str(reports)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield reports
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_run_name_another_run_is_writing_is_refused_before_any_training(
        claim_held_elsewhere, workspace, never_trains):
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(claim_held_elsewhere), "--run-name", "busy")
    assert_usage_error(result, "--run-name 'busy' is taken", "another run is writing")
    assert len(result[2].strip().splitlines()) == 1


def test_an_unfinished_named_run_is_taken_up_again_by_its_name(workspace, never_trains,
                                                               tmp_path):
    from pipeline.report.claim import CLAIM_FILE

    folder = tmp_path / "reports" / "killed"  # what a run killed before its report leaves
    (folder / "final_model").mkdir(parents=True)
    (folder / CLAIM_FILE).touch()
    (folder / "report.md").write_text("half")
    _, _, err = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                         "--reports-dir", str(tmp_path / "reports"), "--run-name", "killed")
    assert "the run started" in err and "is taken" not in err


def test_a_folder_no_run_made_is_not_taken_for_a_run(workspace, never_trains, tmp_path):
    (tmp_path / "reports" / "mine").mkdir(parents=True)
    (tmp_path / "reports" / "mine" / "notes.txt").write_text("my own")
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(tmp_path / "reports"), "--run-name", "mine")
    assert_usage_error(result, "--run-name", "is taken", "no run's folder")
    assert (tmp_path / "reports" / "mine" / "notes.txt").read_text() == "my own"


@pytest.mark.parametrize(("args", "words"), [
    (["--latent-dim", "100000000"], ["--latent-dim", "<= 4096"]),
    (["--encoder-widths", "100000,4"], ["--encoder-widths", "<= 65536"]),
    (["--epochs", "10000000000"], ["--epochs", "<= 1000000"]),
    (["--batch-size", "1000000000"], ["--batch-size", "<="]),
    (["--n-trials", "1000"], ["--n-trials", "<= 64"]),
    (["--max-shadows", "100000"], ["--max-shadows", "<="]),
])
def test_every_size_setting_has_an_upper_bound(workspace, never_trains, args, words):
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      *args, "--reports-dir", str(workspace / "bounded-reports"))
    assert_usage_error(result, *words)


def test_a_round_larger_than_the_memory_is_refused_before_the_flow_waits_for_the_server(
        workspace, never_trains, fake_server, monkeypatch):
    import pipeline.machine

    monkeypatch.setattr(pipeline.machine, "available_bytes", lambda: 2**20)
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(workspace / "memory-reports"))
    assert_usage_error(result, "of memory", "1 MB available", "--n-trials", "--latent-dim")
    assert len(result[2].strip().splitlines()) == 1
    assert fake_server.events == ["started", "stopped"]  # booting meanwhile, never waited for


def test_more_channels_than_the_data_has_is_refused_before_the_flow_waits_for_the_server(
        workspace, never_trains, fake_server):
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--n-features-to-select", "100",
                      "--reports-dir", str(workspace / "count-reports"))
    assert_usage_error(result, "--n-features-to-select is 100", "only 6 varying")
    assert len(result[2].strip().splitlines()) == 1
    assert fake_server.events == ["started", "stopped"]


def test_the_server_starts_before_the_data_loads_and_is_waited_for_before_the_flow(
        workspace, fake_server, monkeypatch):
    import flows.commands
    import flows.feature_selection
    from flows.display import RoundProgress

    real_check = flows.commands._check_data

    def check_data(params):
        fake_server.events.append("data loaded")
        return real_check(params)

    def run_feature_selection(*args, **kwargs):
        fake_server.events.append("flow")
        raise RuntimeError("stop here")

    monkeypatch.setattr(flows.commands, "_check_data", check_data)
    monkeypatch.setattr(flows.feature_selection, "run_feature_selection", run_feature_selection)
    monkeypatch.setattr(RoundProgress, "stage", lambda self, what: fake_server.events.append(what))
    code, _, err = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                            "--reports-dir", str(workspace / "order-reports"))
    assert code == 1 and "stop here" in err
    # the status line first, before anything slow; then the server, booting while the data loads
    assert fake_server.events == [
        "starting the run on train.csv", "started",
        "loading train.csv and the libraries (Prefect's local server is starting)", "data loaded",
        "loading the flow (Prefect's local server is starting)",
        "waiting for Prefect's local server to start", "waited", "starting the flow run", "flow",
        "stopped"]


def test_an_unwritable_reports_folder_is_found_before_any_training(workspace, never_trains):
    (workspace / "a-file").write_text("not a folder")
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(workspace / "a-file" / "reports"))
    assert_usage_error(result, "--reports-dir", "is not writable")


def test_a_full_disk_is_found_before_any_training(workspace, never_trains, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--reports-dir", str(workspace / "full-reports"))
    assert_usage_error(result, "--reports-dir", "1.0 MB free")


def test_dask_without_prefect_dask_names_the_install_command(workspace, never_trains, monkeypatch):
    monkeypatch.setitem(sys.modules, "prefect_dask", None)  # as if it were not installed
    result = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                      "--task-runner", "dask", "--reports-dir", str(workspace / "dask-reports"))
    assert_usage_error(result, "--task-runner", 'pip install -e ".[dask]"')
    assert len(result[2].strip().splitlines()) == 1


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
    report = json.loads((workspace / "reports" / "tiny" / "report.json").read_text())
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("round  trained on  dropped"))
    # the round table as the report stored it: the heading, then one line per round
    assert lines[header + 1:header + 1 + len(report["rounds"])] == [
        line.rstrip() for line in Table(**report["tables"]["rounds"]).render("text").splitlines()[1:]]
    assert f"dropped ({len(report['dropped'])}): " in out
    assert out.splitlines()[0] == report["notes"][0]
    assert str((workspace / "reports" / "tiny" / "report.html").resolve()) in out


def test_report_takes_the_path_of_a_run_folder(finished_run, workspace):
    code, out, _ = run_main("report", str(workspace / "reports" / "tiny"))
    assert code == 0
    assert "round  trained on  dropped" in out


def test_a_reader_that_stops_reading_ends_the_command_quietly(finished_run, workspace):
    # `vaec-select report tiny | head -1`, its reader gone before the report is printed
    process = subprocess.Popen([sys.executable, "-m", "flows.cli", "report", "tiny", "--reports-dir",
                                str(workspace / "reports")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as a Unix tool whose reader has gone
    assert err == ""  # no error line: nothing failed


@pytest.fixture
def junk_reports(finished_run, tmp_path):
    """A copy of a finished run beside report folders nobody can read."""
    import shutil

    root = tmp_path / "reports"
    shutil.copytree(finished_run, root / "tiny")
    for name, text in JUNK_REPORTS.items():
        (root / name).mkdir()
        (root / name / "report.json").write_text(text)
    return root


def test_the_run_listing_skips_unreadable_folders_with_one_warning_each(junk_reports):
    code, out, err = run_main("report", "--reports-dir", str(junk_reports))
    assert code == 0, err
    assert [line.split()[0] for line in out.strip().splitlines()[1:]] == ["tiny"]
    warnings = err.strip().splitlines()
    assert len(warnings) == len(JUNK_REPORTS)
    for name in JUNK_REPORTS:
        assert sum(f"/{name}/report.json" in line for line in warnings) == 1
    assert all(line.startswith("vaec-select: warning: skipping") for line in warnings)


@pytest.mark.parametrize("name", list(JUNK_REPORTS))
def test_the_report_of_an_unreadable_run_is_one_error_naming_its_file(junk_reports, name):
    result = run_main("report", name, "--reports-dir", str(junk_reports))
    assert_usage_error(result, f"{name}/report.json")
    assert len(result[2].strip().splitlines()) == 1


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
    # the prediction and the domain test that works; the method's latent scores are asked for
    assert list(out.columns[len(CHANNELS):]) == [
        "predicted_class", "predicted_probability", "predicted_reconstruction_p_value",
        "predicted_in_domain"]
    truth = raw_table(25, seed=1)["label"]
    assert (out["predicted_class"] == truth).mean() > 0.8
    code, _, err = run_main("predict", "--model", str(model), "--data", str(workspace / "new.csv"),
                            "--out", str(workspace / "predicted-all.csv"), "--n-sigma", "2",
                            "--all-confidence")
    assert code == 0, err
    every = pd.read_csv(workspace / "predicted-all.csv")
    for column in ("predicted_proposed_within_2_sigma", "predicted_proposed_confidence",
                   "predicted_proposed_sigma_distance", "predicted_reconstruction_error"):
        assert column in every.columns
    pd.testing.assert_frame_equal(every[out.columns], out)


def test_predict_takes_a_run_folder_for_its_final_model(finished_run, workspace):
    by_model, by_run = workspace / "by-model.csv", workspace / "by-run.csv"
    for model, out in ((finished_run / "final_model", by_model), (finished_run, by_run)):
        code, _, err = run_main("predict", "--model", str(model),
                                "--data", str(workspace / "new.csv"), "--out", str(out))
        assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_csv(by_run), pd.read_csv(by_model))


def test_predict_names_a_missing_channel(finished_run, workspace):
    model = workspace / "reports" / "tiny" / "final_model"
    channel = json.loads((model / "preprocessing.json").read_text())["channels"][-1]
    pd.read_csv(workspace / "new.csv").drop(columns=channel).to_csv(
        workspace / "new-partial.csv", index=False)
    result = run_main("predict", "--model", str(model), "--data", str(workspace / "new-partial.csv"),
                      "--out", str(workspace / "never.csv"))
    assert_usage_error(result, repr(channel))
    assert not (workspace / "never.csv").exists()


def test_predict_with_damaged_weights_is_one_error_naming_the_file(finished_run, tmp_path):
    import shutil

    model = tmp_path / "final_model"
    shutil.copytree(finished_run / "final_model", model)
    weights = (model / "weights.pt").read_bytes()
    (model / "weights.pt").write_bytes(weights[: len(weights) // 2])
    result = run_main("predict", "--model", str(model), "--data", str(finished_run.parent.parent
                      / "new.csv"), "--out", str(tmp_path / "never.csv"))
    assert_usage_error(result, "weights.pt")
    assert len(result[2].strip().splitlines()) == 1
    assert not (tmp_path / "never.csv").exists()


def test_predict_with_nan_weights_is_one_error_naming_the_file(finished_run, tmp_path):
    import shutil

    import torch

    model = tmp_path / "final_model"
    shutil.copytree(finished_run / "final_model", model)
    state = torch.load(model / "weights.pt", weights_only=True)
    name = next(iter(state))
    state[name].view(-1)[:] = float("nan")
    torch.save(state, model / "weights.pt")
    result = run_main("predict", "--model", str(model), "--data", str(finished_run.parent.parent
                      / "new.csv"), "--out", str(tmp_path / "never.csv"))
    assert_usage_error(result, "weights.pt", name, "NaN", "lower learning_rate")
    assert len(result[2].strip().splitlines()) == 1
    assert not (tmp_path / "never.csv").exists()


@pytest.mark.slow
def test_a_diverged_training_is_one_line_saying_what_to_lower(prefect_api_url, workspace,
                                                              tmp_path):
    env = {**fresh_shell_env(tmp_path), "PREFECT_API_URL": prefect_api_url}
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", *RUN_OPTIONS, "--learning-rate", "1e6",
         "--reports-dir", str(tmp_path / "reports")],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("vaec-select: error: TrainingDivergedError: training diverged: ")
    assert "NaN or infinite" in line and "(lower learning_rate, now 1e+06)" in line, line
    assert "Traceback" not in result.stderr


def test_predict_never_writes_into_the_model_folder(finished_run, workspace):
    model = finished_run / "final_model"
    before = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    result = run_main("predict", "--model", str(model), "--data", str(workspace / "new.csv"),
                      "--out", str(model / "history.csv"))
    assert_usage_error(result, "inside the model folder")
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == before


# failures that are not the user's ------------------------------------------------------------

def test_a_failure_is_one_line_naming_the_cause_and_exit_1(finished_run, workspace):
    (workspace / "blocker").write_text("a file where the output folder should be")
    selection = str(finished_run / "selected_features.json")
    args = ["transform", "--selection", selection, "--data", str(workspace / "train.csv"),
            "--out", str(workspace / "blocker" / "out.csv")]
    code, _, err = run_main(*args)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("vaec-select: error: ")
    assert "blocker" in line and "--debug" in line and "Traceback" not in err
    code, _, err = run_main("--debug", *args)
    assert code == 1
    assert err.count("Traceback (most recent call last)") == 1
    assert err.strip().splitlines()[-1].startswith("vaec-select: error: ")
    assert run_main(*args, "--debug")[2].count("Traceback (most recent call last)") == 1


def test_prefect_console_lines_keep_their_message_and_leave_the_traceback_to_the_run_log():
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    from flows.display import console_without_tracebacks

    console = PrefectConsoleHandler(stream=io.StringIO())
    kept = []

    class RunLog(logging.Handler):  # stands for Prefect's API handler
        def emit(self, record):
            kept.append(self.format(record))

    logger = logging.getLogger("vaec-test-console")
    logger.propagate = False
    for handler in (console, RunLog()):
        logger.addHandler(handler)
    root = logging.getLogger()
    root.addHandler(console)  # where Prefect's configuration puts it
    try:
        with console_without_tracebacks():
            try:
                raise RuntimeError("disk on fire")
            except RuntimeError:
                logger.exception("Encountered exception during execution")
        assert "Encountered exception during execution" in console.stream.getvalue()
        assert "Traceback" not in console.stream.getvalue()
        assert "Traceback" in kept[0] and "disk on fire" in kept[0]
        # afterwards the console is as it was
        try:
            raise RuntimeError("again")
        except RuntimeError:
            logger.exception("once more")
        assert "Traceback" in console.stream.getvalue()
    finally:
        root.removeHandler(console)
        logger.handlers.clear()


# serve, help -------------------------------------------------------------------------------

def test_serve_rejects_a_bad_cron():
    assert_usage_error(run_main("serve", "--cron", "61 3 * * *"), "--cron", "'61 3 * * *'")


@pytest.fixture
def never_serves(monkeypatch):
    """``serve`` must stop before it loads the data or serves."""
    import flows.feature_selection
    import pipeline.data.dataset

    def refuse(*args, **kwargs):
        raise AssertionError("got past the server check")

    monkeypatch.setattr(flows.feature_selection, "serve", refuse)
    monkeypatch.setattr(pipeline.data.dataset, "load_dataset", refuse)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("url", [None, "nobody-listens"])
def test_serve_refuses_to_start_without_a_reachable_server(never_serves, url):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url is None:
        settings = temporary_settings(restore_defaults={PREFECT_API_URL})
    else:
        url = f"http://127.0.0.1:{_free_port()}/api"
        settings = temporary_settings(updates={PREFECT_API_URL: url})
    with settings:
        result = run_main("serve", "--cron", "0 3 * * *", "--dataset", "wine")
    assert_usage_error(result, "prefect server start", "PREFECT_API_URL")
    if url is not None:
        assert url in result[2]
    assert len(result[2].strip().splitlines()) == 1


def test_run_refuses_a_prefect_api_url_nobody_answers_before_loading_the_data(never_serves):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{_free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: url}):
        result = run_main("run", "--dataset", "wine")
    assert_usage_error(result, f"PREFECT_API_URL={url}", "nothing answers (ConnectError)",
                       "unset PREFECT_API_URL")
    assert len(result[2].strip().splitlines()) == 1


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
    for option in ("--n-trials", "--guard-level", "--task-runner", "--dask-address"):
        assert option in run_help
    assert "(default 0.6)" in run_help


def test_serve_help_says_a_run_name_is_a_prefix():
    _, out, _ = run_main("serve", "--help")
    assert "NAME-<UTC timestamp>" in " ".join(out.split())


def test_serve_takes_the_name_of_a_finished_run_as_a_prefix(finished_run, never_serves,
                                                            monkeypatch):
    import flows.commands

    monkeypatch.setattr(flows.commands, "check_server", lambda: "http://127.0.0.1:4200/api")
    result = run_main("serve", "--cron", "0 3 * * *", "--data", "train.csv", "--target", "label",
                      "--reports-dir", str(finished_run.parent), "--run-name", finished_run.name)
    # past the run-name check, stopped by never_serves at the data
    assert "got past the server check" in result[2] and "is taken" not in result[2]


# the progress display ----------------------------------------------------------------------

def _second_round(stop_reason: str | None = None) -> PruningRound:
    return PruningRound(2, ["a", "b", "c", "d"], {"d": 0.25}, {"d": 0.0}, ["d"],
                        0.95, 0.01, {"accuracy": 0.9512, "f1": 0.95}, 3.25, stop_reason)


def test_a_round_line_says_what_the_round_trained_on_dropped_and_kept():
    line = _second_round("all_pass").summary(3)
    assert line == ("round 2: trained on 4, dropped 1 (d) → 3 kept, val F1 0.950, 3.2 s, "
                    "stop: all_pass")


def test_a_guard_stop_says_which_channels_are_kept():
    guard = PruningRound(2, ["a", "b"], {}, {}, [], 0.80, 0.0, {"accuracy": 0.80, "f1": 0.80},
                         1.0, "accuracy_guard")
    assert "doubtful drops come back, 3 kept" in guard.summary(3)


def test_progress_draws_epochs_and_a_line_per_round_only_when_enabled():
    shown = io.StringIO()
    with RoundProgress(True, Console(file=shown, force_terminal=True, width=200)) as progress:
        progress.round_started(2, 4, epochs=300)
        progress.epoch(150, 300)
        progress.console.print(progress._bars.get_renderable())
        progress.round_finished(_second_round(), 3)
    text = shown.getvalue()
    assert "round 2: training on 4 channels" in text and "150/300 epochs" in text
    assert "· ETA " in text
    assert "round 2: trained on 4" in text
    # a step without epochs says what it is instead of a bar sitting still
    with RoundProgress(True, Console(file=io.StringIO(), force_terminal=True)) as progress:
        progress.round_started(3, 4, epochs=300)
        progress.epoch(300, 300)
        progress.stage("writing the report")
        bar = io.StringIO()
        Console(file=bar, width=200).print(progress._bars.get_renderable())
    # nor a count of the epochs before it, nor an empty count or estimate of its own
    assert "writing the report" in bar.getvalue() and "/300" not in bar.getvalue()
    assert "/?" not in bar.getvalue() and "ETA" not in bar.getvalue()
    quiet = io.StringIO()
    with RoundProgress(False, Console(file=quiet, force_terminal=True)) as progress:
        progress.round_started(2, 4, epochs=300)
        progress.epoch(150, 300)
        progress.round_finished(_second_round(), 3)
    assert quiet.getvalue() == ""


# the command as people run it --------------------------------------------------------------

@pytest.mark.slow
def test_the_installed_command_runs_end_to_end_on_its_own_server(workspace, tmp_path):
    env = fresh_shell_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", *RUN_OPTIONS, "--reports-dir", str(tmp_path / "reports"),
         "--run-name", "e2e"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    selected = json.loads(
        (tmp_path / "reports" / "e2e" / "selected_features.json").read_text())["selected"]
    assert f"kept {len(selected)} columns" in result.stdout
    assert (tmp_path / "reports" / "e2e" / "report.html").is_file()


@pytest.mark.slow
def test_a_failed_run_is_one_line_and_exit_1(prefect_api_url, workspace, monkeypatch):
    from prefect import task

    import flows.feature_selection

    @task
    def diverged(split, channels, config, **_):
        raise RuntimeError("the final model diverged")

    monkeypatch.setattr(flows.feature_selection, "fit_final", diverged)
    code, out, err = run_main("run", "--data", str(workspace / "train.csv"), "--target", "label",
                              *RUN_OPTIONS, "--reports-dir", str(workspace / "failed-reports"))
    assert code == 1, err[-3000:]
    assert err.strip().splitlines()[-1].startswith(
        "vaec-select: error: RuntimeError: the final model diverged (run 'vaec-select --debug")
    assert "Traceback" not in err
    assert "kept" not in out


@pytest.mark.slow
def test_the_command_trains_on_a_two_worker_dask_cluster_with_its_progress_bars(
    prefect_api_url, finished_run, workspace, tmp_path
):
    import pty
    import threading

    # stderr on a terminal: the progress bars are drawn, as for a person at a shell; the run
    # starts its own cluster (no --dask-address) on the session's Prefect server
    terminal, child_side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", *RUN_OPTIONS, "--task-runner", "dask", "--trial-groups", "2",
         "--reports-dir", str(tmp_path / "reports"), "--run-name", "dask"],
        env={**fresh_shell_env(tmp_path), "PREFECT_API_URL": prefect_api_url},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=child_side,
    )
    os.close(child_side)
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the child side closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=30)
        os.close(terminal)
    screen = shown.decode(errors="replace")
    assert process.returncode == 0, screen[-3000:]
    assert "cannot pickle" not in screen
    assert "round 1: trained on 6" in screen  # the display drew in the command's process
    selected = json.loads((tmp_path / "reports" / "dask" / "selected_features.json").read_text())
    # the same selection as in one process: every trial has its own seed and noise stream
    expected = json.loads((finished_run / "selected_features.json").read_text())["selected"]
    assert selected["selected"] == expected
    assert f"kept {len(expected)} columns" in out.decode()


@pytest.mark.slow
def test_of_two_runs_of_one_name_at_once_one_trains_and_the_other_stops_before(
        prefect_api_url, workspace, tmp_path):
    command = [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
               "--target", "label", *RUN_OPTIONS, "--reports-dir", str(tmp_path / "reports"),
               "--run-name", "twice"]
    logs = [(tmp_path / f"out{n}", tmp_path / f"err{n}") for n in range(2)]
    runs = []
    for out, err in logs:  # files: a full pipe would stall a run
        with open(out, "w") as stdout, open(err, "w") as stderr:
            runs.append(subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1",
                                                       "PREFECT_API_URL": prefect_api_url},
                                         stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr))
    try:
        done = [(r.wait(timeout=600), out.read_text(), err.read_text())
                for r, (out, err) in zip(runs, logs, strict=True)]
    finally:
        for r in runs:
            if r.poll() is None:
                r.kill()
    assert sorted(code for code, _, _ in done) == [0, 2], [err[-2000:] for _, _, err in done]
    _, _, lost = next(d for d in done if d[0] == 2)
    (line,) = lost.strip().splitlines()  # one line, before the flow started
    assert "--run-name 'twice' is taken: another run is writing" in line
    _, won, _ = next(d for d in done if d[0] == 0)
    selected = json.loads(
        (tmp_path / "reports" / "twice" / "selected_features.json").read_text())["selected"]
    assert f"kept {len(selected)} columns" in won


@pytest.mark.slow
def test_a_killed_run_takes_its_temporary_server_with_it(workspace, tmp_path):
    import psutil

    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", "--epochs", "100000", "--reports-dir", str(tmp_path / "reports")],
        env=fresh_shell_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def servers() -> list[psutil.Process]:
        found = []
        for child in psutil.Process(process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "prefect.server.api.server:create_app" in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def alive(proc: psutil.Process) -> bool:
        try:
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    server = None
    try:
        deadline = time.monotonic() + 300
        while server is None and time.monotonic() < deadline and process.poll() is None:
            found = servers()
            server = found[0] if found else None
            time.sleep(0.2)
        assert server is not None, "no temporary server was started"
        process.kill()  # SIGKILL: nothing of the run gets to clean up
        process.wait(timeout=60)
        deadline = time.monotonic() + 60
        while alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(server), "the temporary server outlived its run"
    finally:
        if process.poll() is None:
            process.kill()
        if server is not None and alive(server):
            server.kill()


@pytest.mark.slow
def test_ctrl_c_stops_the_run_keeps_its_checkpoint_and_stops_its_server(workspace, tmp_path):
    import signal

    import psutil

    reports = tmp_path / "reports"
    # a session of its own, as a shell's foreground job: Ctrl-C signals the whole group
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", "--epochs", "3000", "--max-drop-fraction", "0.2",
         "--reports-dir", str(reports)],
        env=fresh_shell_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=interruptible)
    servers: list[psutil.Process] = []
    try:
        shown = []
        for line in process.stdout:
            shown.append(line)
            if "round 1: trained on" in line:
                servers = [c for c in psutil.Process(process.pid).children(recursive=True)
                           if "prefect.server.api.server:create_app" in " ".join(c.cmdline())]
                os.killpg(process.pid, signal.SIGINT)
                break
        assert servers, "".join(shown)[-3000:]
        shown.append(process.stdout.read())
        process.wait(timeout=120)  # a hang guard, not a measure
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = "".join(shown)
    assert process.returncode == 130, output[-3000:]
    assert output.strip().splitlines()[-1] == "vaec-select: interrupted"
    assert "ConnectError" not in output
    (checkpoint,) = (reports / ".checkpoints").glob("*.json")  # the finished round is kept
    assert json.loads(checkpoint.read_text())["rounds"]
    psutil.wait_procs(servers, timeout=30)
    assert not any(s.is_running() and s.status() != psutil.STATUS_ZOMBIE for s in servers)


def test_the_latent_grids_of_every_snapshot_are_asked_for_not_drawn_by_default():
    from flows.cli import build_parser
    from flows.options import _parameters

    parse = build_parser().parse_args
    assert _parameters(parse(["run"])).latent_grids is False
    assert _parameters(parse(["run", "--latent-grids", "true"])).latent_grids is True


FULL_DISK_RUN = """
import errno, os, sys
from vaec import persistence
real_fsync = persistence.os.fsync

def fsync(fd):  # the disk fills up after the check before training, as the report is written
    path = os.path.realpath(f"/proc/self/fd/{fd}")  # (the checkpoints still fit)
    if os.sep + "reports" + os.sep in path + os.sep and not any(
            part in path for part in (".checkpoints", ".write-check")):
        raise OSError(errno.ENOSPC, "No space left on device")
    real_fsync(fd)

persistence.os.fsync = fsync
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_full_disk_names_the_file_and_leaves_no_half_written_run(prefect_api_url, workspace,
                                                                      tmp_path):
    reports = tmp_path / "reports"
    env = {**fresh_shell_env(tmp_path), "PREFECT_API_URL": prefect_api_url}
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_RUN, "run", "--data", str(workspace / "train.csv"),
         "--target", "label", *RUN_OPTIONS, "--reports-dir", str(reports)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("vaec-select: error: OSError: [Errno 28] No space left on device: ")
    assert f"{reports}{os.sep}train-" in line and "weights.pt" in line, line
    assert "Traceback" not in result.stderr and "report:" not in result.stdout
    # the half-written run folder is gone; the checkpoint of the finished rounds stays
    assert sorted(p.name for p in reports.iterdir()) == [".checkpoints"]
    (checkpoint,) = (reports / ".checkpoints").glob("*.json")
    rounds = len(json.loads(checkpoint.read_text())["rounds"])
    # with room on the disk again, the same command resumes after the finished rounds
    again = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--data", str(workspace / "train.csv"),
         "--target", "label", *RUN_OPTIONS, "--reports-dir", str(reports)],
        env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming after round {rounds}" in again.stderr
    assert "report:" in again.stdout and not checkpoint.exists()


@contextlib.contextmanager
def shared_server(tmp_path: Path):
    """``prefect server start`` in a session of its own (so the whole of it can be killed);
    yields its process and API URL once it answers."""
    import httpx

    port = _free_port()
    env = fresh_shell_env(tmp_path, home="server-home")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1",
         "--port", str(port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert server.poll() is None, "the Prefect server did not start"
            time.sleep(0.5)
        else:
            raise AssertionError("the Prefect server did not answer in 240 s")
        yield server, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 9)
        server.wait(timeout=60)


def _kill_group(process: subprocess.Popen) -> float:
    """SIGKILL a process's whole session; returns when it was sent."""
    os.killpg(process.pid, 9)
    return time.monotonic()


# the watch on the shared server asks every half second and gives a refusing server 1.5 s
# (a run's own: every 2 s, 6 s), so the runs below end soon after the kill
WATCH_SOON = """
import flows.server as watch
watch.POLL_SECONDS, watch.REFUSED_GRACE_SECONDS = 0.5, 1.5
"""

RUN_WATCHING_SOON = WATCH_SOON + """
import sys
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_shared_server_killed_mid_run_ends_the_run_in_seconds_keeping_its_rounds(
        workspace, tmp_path):
    reports = tmp_path / "reports"
    with shared_server(tmp_path) as (server, url):
        run = subprocess.Popen(
            [sys.executable, "-c", RUN_WATCHING_SOON, "run", "--data",
             str(workspace / "train.csv"), "--target", "label", "--epochs", "3000",
             "--max-drop-fraction", "0.2", "--reports-dir", str(reports)],
            env={**fresh_shell_env(tmp_path), "PREFECT_API_URL": url}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            shown = []
            for line in run.stdout:
                shown.append(line)
                if "round 1: trained on" in line:
                    killed = _kill_group(server)
                    break
            else:
                raise AssertionError("".join(shown)[-3000:])
            shown.append(run.stdout.read())
            run.wait(timeout=300)  # a hang guard; the measure is below
            seconds = time.monotonic() - killed
        finally:
            if run.poll() is None:
                run.kill()
    output = "".join(shown)
    assert run.returncode == 1, output[-3000:]
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"vaec-select: error: the Prefect server at {url} is gone (no answer "
                           "for "), last
    assert " s: ConnectError); " in last
    # what was finished is named: the checkpoint of its rounds, or (on a machine fast enough
    # to finish the run in the grace the watch gives the server) the report
    if "the report is written: " in last:
        assert Path(last.split("the report is written: ")[1]).is_file()
    else:
        (checkpoint,) = (reports / ".checkpoints").glob("*.json")
        assert json.loads(checkpoint.read_text())["rounds"]  # round 1 at least
        assert f"the finished work is kept in {checkpoint.resolve()}" in last
    assert seconds < 60, f"{seconds:.0f} s from the kill to the exit"


KILLED_AFTER_THE_REPORT = WATCH_SOON + """
import os, signal, sys, time
import flows.feature_selection as flow
publish = flow.publish_artifacts

def server_dies_then_publish(*args, **kwargs):  # the report is on disk; the server goes
    os.killpg(int(os.environ["SERVER_PGID"]), signal.SIGKILL)
    with open(os.environ["KILLED_AT"], "w") as stamp:
        stamp.write(repr(time.time()))
    return publish(*args, **kwargs)

flow.publish_artifacts = server_dies_then_publish
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_shared_server_killed_after_the_report_ends_the_run_in_seconds_naming_it(
        workspace, tmp_path):
    reports = tmp_path / "reports"
    stamp = tmp_path / "killed-at"
    with shared_server(tmp_path) as (server, url):
        result = subprocess.run(
            [sys.executable, "-c", KILLED_AFTER_THE_REPORT, "run", "--data",
             str(workspace / "train.csv"), "--target", "label", *RUN_OPTIONS,
             "--reports-dir", str(reports), "--run-name", "kept"],
            env={**fresh_shell_env(tmp_path), "PREFECT_API_URL": url, "SERVER_PGID": str(server.pid),
                 "KILLED_AT": str(stamp)}, capture_output=True, text=True, timeout=600)
        seconds = time.time() - float(stamp.read_text())
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    report = (reports / "kept" / "report.html").resolve()
    waited = last.split("no answer for ")[-1].split(" s:")[0]
    assert last == (f"vaec-select: error: the Prefect server at {url} is gone (no answer for "
                    f"{waited} s: ConnectError); the report is written: {report}"), last
    assert (reports / "kept" / "report.json").is_file()
    assert seconds < 60, f"{seconds:.0f} s from the kill to the exit"
