"""The feature-selection flow: load -> rounds (trial groups in parallel) -> final fit -> report.

Orchestration only: the sequence is :func:`pipeline.selection.run_selection`; the flow hands it a
round trainer that fans the trial groups out over the task runner (in a stability selection, one
task per resample), a checkpoint after every round (resample), and tasks for the final model and the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.utilities.annotations import quote

from flows.display import publish_artifacts, warnings_to_log
from flows.parameters import RunParameters, check_cron, make_task_runner, served_parameters, trial_groups
from pipeline.data.dataset import Dataset, load_dataset
from pipeline.data.split import SplitData
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.machine import Progress, ProgressRelay, threads_for, torch_threads
from pipeline.report.claim import release
from pipeline.report.store import (
    Checkpoint,
    check_reports_folder,
    claim_named_run,
    list_runs,
    resume_key,
    run_fingerprint,
)
from pipeline.report.writer import discard_unfinished, new_run_folder, selection_diff, write_report
from pipeline.result import PruningResult
from pipeline.rounds.loop import PruningRun
from pipeline.rounds.record import PruningRound
from pipeline.rounds.trials import TrialScores, train_trials
from pipeline.selection import Resample, run_selection, select_resample
from pipeline.settings import SelectionSettings
from pipeline.stability.result import ResampleSelection

# the only way the flow and its tasks reach this process's progress displays (the command line's
# bars); see pipeline.machine.ProgressRelay
_PROGRESS = ProgressRelay()
STABILITY_FIELDS = ("n_resamples", "resample", "keep_frequency", "nogueira", "nogueira_low",
                    "nogueira_high", "jaccard_mean", "jaccard_min", "error_bound", "frequency")


@task(cache_policy=NO_CACHE, persist_result=False)
def load_data(params: RunParameters) -> Dataset:
    """Load and validate; bad data fails here, at once, with the pipeline's message."""
    return load_dataset(**params.load_arguments())


def _set_threads(threads: int | None, config: SelectionSettings) -> None:
    """This task's share of its process's cores (``None``: decided where it runs, on a remote worker)."""
    import torch

    torch.set_num_threads(threads if threads is not None else threads_for(config.threads))


@task(cache_policy=NO_CACHE, persist_result=False)
def train_trial_group(split: SplitData, channels: list[str], config: SelectionSettings,
                      round_index: int, trials: list[int], threads: int | None,
                      on_path: bool = False) -> TrialScores:
    """Train one group of a round's trials (one vectorised pass) and score the channels
    (``on_path``: a round on the minimal-subset path), with ``threads`` torch threads."""
    _set_threads(threads, config)
    on_epoch = _PROGRESS.epoch if trials[0] == 0 else None  # one group speaks for the round
    return train_trials(split, channels, config, round_index, trials, on_epoch, on_path=on_path)


@task(cache_policy=NO_CACHE, persist_result=False)
def select_on_resample(dataset: Dataset, config: SelectionSettings, resample: Resample,
                       threads: int | None) -> ResampleSelection:
    """One resample's whole selection (its rounds train in this task)."""
    _set_threads(threads, config)
    return select_resample(dataset, config, resample)


@task(cache_policy=NO_CACHE, persist_result=False)
def fit_final(split: SplitData, channels: list[str], config: SelectionSettings,
              on_epoch: Any = None) -> FinalModel:
    """The final encoder + head on the kept channels, with all of the process's threads; the
    epochs go to ``on_epoch`` (the relay's: nobody hears them when the task runs elsewhere)."""
    with torch_threads(threads_for(config.threads)):
        return fit_final_model(split, channels, config, on_epoch=on_epoch)


@task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2)
def write_run_report(result: PruningResult, dataset: Dataset, fingerprint: str,
                     diff: dict[str, Any] | None, folder: Path,
                     latent_grids: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write the report into the run's folder (retried when the disk hiccups, into that folder)."""
    classes = result.split.classes
    return write_report(result, dataset.summary(), folder=folder, fingerprint=fingerprint,
                        diff=diff, truth=dataset.truth, latent_grids=latent_grids,
                        class_names=dataset.class_names(classes) if classes is not None else None)


def _threads(params: RunParameters, concurrent: int) -> int | None:
    """Torch threads of each of ``concurrent`` tasks in one process (``None``: a remote cluster's)."""
    if params.task_runner == "dask" and params.dask_address:
        return None
    return threads_for(params.threads, concurrent)


def _plain_selection(dataset: Dataset, config: SelectionSettings, params: RunParameters,
                     checkpoint: Checkpoint) -> tuple[PruningResult, int]:
    """The rounds, each one's trial groups fanned out; the result and the rounds resumed."""
    logger = get_run_logger()
    done = checkpoint.load(dataset.feature_names)
    if done:
        logger.info("resuming after round %d (%s)", len(done), checkpoint.path)
    groups = trial_groups(config.n_trials, params.n_trial_groups)
    threads = _threads(params, len(groups))  # groups that train at once share the cores

    def train_round(run: PruningRun, channels: list[str] | None = None) -> TrialScores:
        channels = run.kept if channels is None else channels
        futures = [train_trial_group.submit(run.split, channels, run.round_config, run.next_index,
                                            group, threads, run.on_path) for group in groups]
        return TrialScores.combine([f.result() for f in futures])

    def after_round(run: PruningRun, record: PruningRound) -> None:
        checkpoint.save(run.rounds)
        logger.info(record.summary(len(run.kept)))

    result = run_selection(dataset, config, rounds=done, train_round=train_round,
                           on_round=after_round, fit_final=fit_final, progress=_PROGRESS)
    return result, len(done)


def _stability_selection(dataset: Dataset, config: SelectionSettings, params: RunParameters,
                         checkpoint: Checkpoint) -> tuple[PruningResult, int]:
    """The resamples, one task each; the result and the resamples resumed."""
    logger = get_run_logger()
    done = checkpoint.load()
    if done:
        logger.info("resuming after %d finished resamples (%s)", len(done), checkpoint.path)
    threads = _threads(params, params.workers)

    def select_resamples(resamples: Sequence[Resample]) -> Iterator[ResampleSelection]:
        futures = [select_on_resample.submit(dataset, config, r, threads) for r in resamples]
        for future in as_completed(futures):
            selection = future.result()
            logger.info(selection.summary())
            yield selection

    result = run_selection(dataset, config, resamples=done, select_resamples=select_resamples,
                           on_resample=lambda finished: checkpoint.save(finished, "resamples"),
                           fit_final=fit_final, progress=_PROGRESS)
    stability = result.stability
    assert stability is not None
    logger.info("stable: %d channels kept in at least %g of %d resamples; Nogueira index %.3f (95 %% "
                "interval %.3f to %.3f)", len(result.selected), config.keep_frequency,
                config.n_resamples, stability.nogueira, stability.nogueira_low, stability.nogueira_high)
    return result, len(done)


@flow(name="vaec-feature-selection")
def feature_selection(params: RunParameters | None = None,
                      run_name_is_prefix: bool = False) -> dict[str, Any]:
    """Select the channels a joint VAE + classifier reconstructs, and report the run.

    With ``run_name_is_prefix`` (scheduled runs) ``params.run_name`` starts the folder name of
    every run, ``<run_name>-<UTC timestamp>``, instead of naming one folder.
    """
    params = params or RunParameters()
    run_name = None if run_name_is_prefix else params.run_name
    prefix = params.run_name if run_name_is_prefix else None
    with warnings_to_log(get_run_logger()):
        # before anything trains: the report can be written, and the run name is free
        check_reports_folder(params.reports_dir, run_name)
        # a named run's folder is this run's alone until it ends (a rerun of an unfinished one
        # takes it up again)
        claimed = None if run_name is None else claim_named_run(params.reports_dir, run_name)
        try:
            return _select_and_write(params, run_name, prefix)
        finally:
            if claimed is not None:
                release(claimed)


def _select_and_write(params: RunParameters, run_name: str | None, prefix: str | None) -> dict[str, Any]:
    logger = get_run_logger()
    config = params.selection()
    dataset = load_data(params)
    summary = dataset.summary()
    fingerprint = run_fingerprint(summary, config)
    checkpoint = Checkpoint.of(params.reports_dir, fingerprint, resume_key(summary, config))
    select = _stability_selection if config.n_resamples > 1 else _plain_selection
    with torch_threads(threads_for(config.threads)):
        result, resumed = select(dataset, config, params, checkpoint)
    _PROGRESS.stage("writing the report")
    runs = list_runs(params.reports_dir, fingerprint)  # the newest first
    diff = selection_diff(runs[0].selected, result.selected_columns,
                          previous_run=runs[0].folder.name) if runs else None
    folder = new_run_folder(params.reports_dir, run_name, prefix or dataset.name)
    try:  # quoted: not walked for futures
        folder, report = write_run_report(quote(result), quote(dataset), fingerprint, diff, folder,
                                          params.latent_grids)
    except Exception:
        # no half-written run folder; the checkpoint stays, so the same command resumes
        discard_unfinished(folder)
        raise
    _PROGRESS.stage("publishing the run's artifacts")
    publish_artifacts(report, folder, dataset.name)
    checkpoint.clear()
    logger.info("selected %d columns; dropped %d (%s); report: %s/report.html", len(result.selected_columns),
                len(result.dropped_columns), ", ".join(result.dropped_columns) or "none", folder)
    stability = result.stability
    return {"run_folder": str(folder), "weight_column": dataset.weight_column,
            "selected": result.selected_columns, "dropped": result.dropped_columns,
            "stop_reason": result.stop_reason, "n_rounds": len(result.rounds),
            "added": diff["added"] if diff else [], "removed": diff["removed"] if diff else [],
            "resumed_rounds": 0 if stability is not None else resumed,
            "resumed_resamples": resumed if stability is not None else 0,
            "stability": None if stability is None else {f: getattr(stability, f) for f in STABILITY_FIELDS},
            "metrics": result.final.metrics if result.final is not None else {},
            "cost": selection_cost(result)}


def selection_cost(result: PruningResult) -> dict[str, Any] | None:
    """What the selection cost, by the round models: the validation score with all columns
    (round 1) and with the kept channels (the round that trained on exactly them, if any)."""
    if not result.rounds:
        return None
    first, same = result.rounds[0], result.selected_round
    name = first.score_name
    if name not in first.val_metrics or same is None:
        return None
    columns = {result.column_of(c) for c in first.kept}  # in the user's columns
    return {"score": name, "all": first.val_metrics[name], "n_all": len(columns),
            "kept": same.val_metrics[name], "n_kept": len(result.selected_columns)}


def run_feature_selection(params: RunParameters, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run the flow with the task runner the parameters ask for, telling ``progress`` of it."""
    runner = make_task_runner(params.task_runner, params.dask_address, n_workers=params.workers)
    with _PROGRESS.showing(progress):
        return feature_selection.with_options(task_runner=runner)(params)


def serve(params: RunParameters, *, cron: str, name: str = "scheduled") -> None:
    """Serve the flow as the deployment ``vaec-feature-selection/<name>`` on the ``cron`` schedule
    until interrupted; ``params`` are the defaults of every scheduled (or manually started) run."""
    check_cron(cron)
    params = served_parameters(params)
    feature_selection.serve(
        name=name, cron=cron, tags=["vaec-select"],
        # every run gets a folder of its own: run_name-<UTC timestamp>
        parameters={"params": params.model_dump(mode="json"), "run_name_is_prefix": True},
        description=f"vaec-select feature selection on {params.source}, cron {cron!r}",
        limit=1)  # one run at a time: a run already uses every core for its trials
