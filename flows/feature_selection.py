"""The feature-selection flow: load -> rounds (trial groups in parallel) -> final fit -> report.

Orchestration only: the sequence is :func:`pipeline.selection.run_selection`; the flow hands it
a round trainer that fans the trial groups out over the task runner, a checkpoint after every
round, and tasks for the final model and the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.artifacts import publish_artifacts
from flows.checkpoint import checkpoint_path, clear, load_rounds, save_rounds
from flows.parameters import SelectionParameters, trial_groups
from flows.progress_relay import ProgressRelay
from flows.run_warnings import warnings_to_log
from flows.task_runners import make_task_runner
from pipeline.data import Dataset, load_dataset
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.progress import Progress
from pipeline.pruning import PruningRun
from pipeline.pruning_config import PruningConfig
from pipeline.report.preflight import check_reports_folder
from pipeline.report.round_table import round_rows
from pipeline.report.run_folders import new_run_folder
from pipeline.report.runs import previous_selection, resume_key, run_fingerprint, selection_diff
from pipeline.report.writer import write_report
from pipeline.result import PruningResult
from pipeline.rounds import PruningRound
from pipeline.selection import run_selection
from pipeline.split import SplitData
from pipeline.threads import threads_for, torch_threads
from pipeline.trials import TrialScores, train_trials

# The progress displays of this process (the command line's bars) hear of the run through this
# relay; it is the only way the flow and its tasks reach them (see flows.progress_relay).
_PROGRESS = ProgressRelay()


@task(cache_policy=NO_CACHE, persist_result=False)
def load_data(params: SelectionParameters) -> Dataset:
    """Load and validate; bad data fails here, at once, with the pipeline's message."""
    return load_dataset(
        params.source, params.target, val_size=params.val_size, test_size=params.test_size,
        task=params.task,
    )


@task(cache_policy=NO_CACHE, persist_result=False)
def train_trial_group(
    split: SplitData,
    channels: list[str],
    config: PruningConfig,
    round_index: int,
    trials: list[int],
    threads: int | None,
) -> TrialScores:
    """Train one group of a round's trials (one vectorised pass) and score the channels.

    ``threads`` is this group's share of its process's cores (``None``: decide where it runs,
    on a worker of a remote cluster).
    """
    import torch

    torch.set_num_threads(threads if threads is not None else threads_for(config.threads))
    # one group speaks for the round's epochs
    on_epoch = _PROGRESS.epoch if trials[0] == 0 else None
    return train_trials(split, channels, config, round_index, trials, on_epoch)


@task(cache_policy=NO_CACHE, persist_result=False)
def fit_final(
    split: SplitData, channels: list[str], config: PruningConfig, on_epoch: Any = None
) -> FinalModel:
    """The final encoder + head on the kept channels, with all of the process's threads (the
    epochs go to this process's progress display; ``on_epoch`` is the pipeline's hook)."""
    with torch_threads(threads_for(config.threads)):
        return fit_final_model(split, channels, config, on_epoch=_PROGRESS.epoch)


@task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def write_run_report(
    result: PruningResult,
    dataset: Dataset,
    fingerprint: str,
    diff: dict[str, Any] | None,
    folder: Path,
) -> tuple[Path, dict[str, Any]]:
    """Write the report into the run's folder (I/O: retried when the disk hiccups; a retry
    writes into the same folder)."""
    return write_report(
        result, dataset.summary(), folder=folder,
        fingerprint=fingerprint, diff=diff, truth=dataset.truth,
        class_names=(dataset.class_names(result.split.classes)
                     if result.split.classes is not None else None),
    )


def _previous_diff(params: SelectionParameters, fingerprint: str, selected: list[str]) -> dict | None:
    previous = previous_selection(params.reports_dir, fingerprint)
    if previous is None:
        return None
    name, previous_selected = previous
    return selection_diff(previous_selected, selected, previous_run=name)


@flow(name="vaec-feature-selection")
def feature_selection(params: SelectionParameters | None = None) -> dict[str, Any]:
    """Select the channels a joint VAE + classifier reconstructs, and report the run."""
    params = params or SelectionParameters()
    with warnings_to_log(get_run_logger()):
        return _select_and_report(params)


def _select_and_report(params: SelectionParameters) -> dict[str, Any]:
    logger = get_run_logger()
    config = params.pruning_config()
    # before anything trains: the report can be written, and the run name is free
    check_reports_folder(params.reports_dir, params.run_name)
    dataset = load_data(params)
    summary = dataset.summary()
    fingerprint = run_fingerprint(summary, config)
    key = resume_key(summary, config)
    checkpoint = checkpoint_path(params.reports_dir, fingerprint)
    done = load_rounds(checkpoint, key, dataset.feature_names)
    if done:
        logger.info("resuming after round %d (%s)", len(done), checkpoint)
    groups = trial_groups(config.n_trials, params.groups)
    # groups that train at once in one process share its cores; on a remote cluster each
    # worker decides for itself
    remote = params.task_runner == "dask" and params.dask_address
    threads = None if remote else threads_for(config.threads, len(groups))

    def train_round(run: PruningRun) -> TrialScores:
        futures = [
            train_trial_group.submit(run.split, run.kept, config, run.next_index, group, threads)
            for group in groups
        ]
        return TrialScores.combine([f.result() for f in futures])

    def after_round(run: PruningRun, record: PruningRound) -> None:
        save_rounds(checkpoint, key, run.rounds)
        logger.info(round_rows(run.rounds)[-1].summary())

    with torch_threads(threads_for(config.threads)):
        result = run_selection(
            dataset, config, rounds=done, train_round=train_round, on_round=after_round,
            fit_final=fit_final, progress=_PROGRESS,
        )
    diff = _previous_diff(params, fingerprint, result.selected)
    folder = new_run_folder(params.reports_dir, params.run_name, dataset.name)
    folder, report = write_run_report(result, dataset, fingerprint, diff, folder)
    publish_artifacts(result, report, folder, dataset.name)
    clear(checkpoint)
    logger.info("selected %d channels; report: %s/report.html", len(result.selected), folder)
    return {
        "run_folder": str(folder),
        "selected": result.selected,
        "stop_reason": result.stop_reason,
        "n_rounds": len(result.rounds),
        "added": diff["added"] if diff else [],
        "removed": diff["removed"] if diff else [],
        "resumed_rounds": len(done),
        "metrics": result.final.metrics if result.final is not None else {},
    }


def run_feature_selection(
    params: SelectionParameters, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the flow with the task runner the parameters ask for, telling ``progress`` of it."""
    runner = make_task_runner(params.task_runner, params.dask_address, n_workers=max(2, params.groups))
    with _PROGRESS.showing(progress):
        return feature_selection.with_options(task_runner=runner)(params)
