"""The feature-selection flow: load -> rounds (trial groups in parallel) -> final fit -> report.

Orchestration only: the sequence is :func:`pipeline.selection.run_selection`; the flow hands it
a round trainer that fans the trial groups out over the task runner, a checkpoint after every
round, and tasks for the final model and the report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.artifacts import publish_artifacts
from flows.checkpoint import checkpoint_path, clear, load_rounds, save_rounds
from flows.parameters import SelectionParameters, trial_groups
from flows.task_runners import make_task_runner
from pipeline.data import Dataset, load_dataset
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.pruning import PruningRun
from pipeline.pruning_config import PruningConfig
from pipeline.report.round_table import RoundRow, round_rows
from pipeline.report.runs import find_previous_run, read_report, run_fingerprint, selection_diff
from pipeline.report.writer import default_run_name, write_report
from pipeline.result import PruningResult
from pipeline.rounds import PruningRound
from pipeline.selection import run_selection
from pipeline.split import SplitData
from pipeline.trials import TrialScores, train_trials

# In-process listeners (the command line's progress display) told about every finished round.
_ROUND_LISTENERS: list[Callable[[RoundRow], None]] = []


@task(cache_policy=NO_CACHE, persist_result=False)
def load_data(params: SelectionParameters) -> Dataset:
    """Load and validate; bad data fails here, at once, with the pipeline's message."""
    return load_dataset(
        params.source, params.target, val_size=params.val_size, test_size=params.test_size
    )


@task(cache_policy=NO_CACHE, persist_result=False)
def train_trial_group(
    split: SplitData, channels: list[str], config: PruningConfig, round_index: int, trials: list[int]
) -> TrialScores:
    """Train one group of a round's trials (one vectorised pass) and score the channels."""
    return train_trials(split, channels, config, round_index, trials)


@task(cache_policy=NO_CACHE, persist_result=False)
def fit_final(split: SplitData, channels: list[str], config: PruningConfig) -> FinalModel:
    """The final encoder + head on the kept channels."""
    return fit_final_model(split, channels, config)


@task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def write_run_report(
    result: PruningResult,
    dataset: Dataset,
    params: SelectionParameters,
    fingerprint: str,
    diff: dict[str, Any] | None,
) -> tuple[Path, dict[str, Any]]:
    """Write the report folder (I/O: retried when the disk hiccups)."""
    return write_report(
        result, dataset.summary(), params.reports_dir,
        run_name=params.run_name or default_run_name(dataset.name),
        fingerprint=fingerprint, diff=diff, truth=dataset.truth,
        class_names=dataset.class_names(result.split.classes),
    )


def _previous_diff(params: SelectionParameters, fingerprint: str, selected: list[str]) -> dict | None:
    previous = find_previous_run(params.reports_dir, fingerprint)
    if previous is None:
        return None
    return selection_diff(read_report(previous)["selected"], selected, previous_run=previous.name)


@flow(name="vaec-feature-selection")
def feature_selection(params: SelectionParameters | None = None) -> dict[str, Any]:
    """Select the channels a joint VAE + classifier reconstructs, and report the run."""
    params = params or SelectionParameters()
    logger = get_run_logger()
    config = params.pruning_config()
    dataset = load_data(params)
    fingerprint = run_fingerprint(dataset.summary(), config)
    checkpoint = checkpoint_path(params.reports_dir, fingerprint)
    done = load_rounds(checkpoint)
    if done:
        logger.info("resuming after round %d (%s)", len(done), checkpoint)
    groups = trial_groups(config.n_trials, params.groups)

    def train_round(run: PruningRun) -> TrialScores:
        futures = [
            train_trial_group.submit(run.split, run.kept, config, run.next_index, group)
            for group in groups
        ]
        return TrialScores.combine([f.result() for f in futures])

    def after_round(run: PruningRun, record: PruningRound) -> None:
        save_rounds(checkpoint, run.rounds)
        row = round_rows(run.rounds)[-1]
        logger.info(row.summary())
        for listener in list(_ROUND_LISTENERS):
            listener(row)

    result = run_selection(
        dataset, config, rounds=done, train_round=train_round, on_round=after_round,
        fit_final=fit_final,
    )
    diff = _previous_diff(params, fingerprint, result.selected)
    folder, report = write_run_report(result, dataset, params, fingerprint, diff)
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
    params: SelectionParameters, *, on_round: Callable[[RoundRow], None] | None = None
) -> dict[str, Any]:
    """Run the flow with the task runner the parameters ask for, telling ``on_round`` of rounds."""
    runner = make_task_runner(params.task_runner, params.dask_address, n_workers=max(2, params.groups))
    if on_round is not None:
        _ROUND_LISTENERS.append(on_round)
    try:
        return feature_selection.with_options(task_runner=runner)(params)
    finally:
        if on_round is not None:
            _ROUND_LISTENERS.remove(on_round)
