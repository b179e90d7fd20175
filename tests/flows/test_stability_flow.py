"""A stability selection through the flow: every resample a task on the thread runner, the same
selection as the in-process loop, the artifact, and resuming after finished resamples."""

from __future__ import annotations

import pytest

from flows.feature_selection import feature_selection, run_feature_selection
from flows.parameters import RunParameters
from pipeline.data.dataset import load_dataset
from pipeline.report.store import CHECKPOINT_DIR, Checkpoint, read_report, resume_key, run_fingerprint
from pipeline.selection import run_selection, run_stability_selection

from .conftest import read_artifact, structured_table

pytestmark = pytest.mark.slow

STRUCTURED = ["s0", "s1", "s2", "s3"]
# one torch thread everywhere, so the in-process loop and the tasks do the same arithmetic
STABLE = {"n_trials": 2, "latent_dim": 1, "epochs": 60, "max_drop_fraction": 0.5, "seed": 0,
          "threads": 1, "n_resamples": 3, "keep_frequency": 0.65}


def params_for(csv, reports, **changes) -> RunParameters:
    return RunParameters.from_flat(data=str(csv), target="label", reports_dir=str(reports),
                               **{**STABLE, **changes})


def frequencies(result):
    return read_report(result["run_folder"]).stability.frequency


def test_the_flow_runs_the_resamples_as_tasks_and_selects_as_the_in_process_loop(
    prefect_api_url, tmp_path
):
    structured_table().to_csv(tmp_path / "stable.csv", index=False)
    params = params_for(tmp_path / "stable.csv", tmp_path / "reports", run_name="stable")
    assert params.workers == 2
    flow = run_feature_selection(params)
    assert flow["selected"] == STRUCTURED
    assert flow["stop_reason"] == "stability" and flow["n_rounds"] == 0
    assert flow["stability"]["n_resamples"] == 3 and flow["resumed_resamples"] == 0
    report = read_report(flow["run_folder"])
    assert [r["index"] for r in report.stability.resamples] == [0, 1, 2]
    assert not any((tmp_path / "reports" / CHECKPOINT_DIR).glob("*.json"))

    # the same data, settings and seed in one process, resamples one after the other
    in_process = run_selection(load_dataset(tmp_path / "stable.csv", "label"),
                               params.selection(), fit_final=None)
    assert in_process.selected == flow["selected"]
    assert in_process.stability.frequency == frequencies(flow)

    artifact = read_artifact("stable-stability").data
    assert "Nogueira stability index" in artifact and "| s0 | 1.00 | 3 of 3 |" in artifact


def test_a_rerun_resumes_after_the_resamples_a_killed_run_finished(prefect_api_url, tmp_path):
    structured_table(seed=1).to_csv(tmp_path / "resume.csv", index=False)
    params = params_for(tmp_path / "resume.csv", tmp_path / "reports", run_name="resumed")
    dataset = load_dataset(tmp_path / "resume.csv", "label")
    config = params.selection()
    # what a run killed during its third resample leaves behind
    finished = []
    run_stability_selection(dataset, config, on_resample=lambda done: finished.append(list(done)))
    checkpoint = Checkpoint.of(params.reports_dir, run_fingerprint(dataset.summary(), config),
                               resume_key(dataset.summary(), config))
    checkpoint.save(finished[1], "resamples")

    resumed = feature_selection(params)
    assert resumed["resumed_resamples"] == 2
    reference = run_selection(dataset, config, fit_final=None)
    assert resumed["selected"] == reference.selected
    assert frequencies(resumed) == reference.stability.frequency
    assert not checkpoint.path.exists()


def test_on_dask_every_resample_is_a_task_and_the_selection_is_the_same(prefect_api_url,
                                                                     dask_address, tmp_path):
    structured_table(seed=2).to_csv(tmp_path / "dask.csv", index=False)
    params = params_for(tmp_path / "dask.csv", tmp_path / "reports", task_runner="dask",
                        dask_address=dask_address)
    flow = run_feature_selection(params)
    reference = run_selection(load_dataset(tmp_path / "dask.csv", "label"),
                              params.selection(), fit_final=None)
    assert flow["selected"] == reference.selected
    assert frequencies(flow) == reference.stability.frequency
