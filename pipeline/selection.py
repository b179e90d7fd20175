"""The whole selection as one sequence: split, pruning rounds, final model.

:func:`run_selection` is what the selector's ``fit`` and the Prefect flow both call. The flow
hands in how a round's trials are trained (fanned out over its task runner), what happens after
each round (a checkpoint, a log line) and how the final model is trained (a task); the selector
takes the defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

from pipeline.data import Dataset
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.progress import NoProgress, Progress
from pipeline.pruning import PruningRun
from pipeline.pruning_config import PruningConfig
from pipeline.report.round_table import round_rows
from pipeline.result import PruningResult
from pipeline.rounds import PruningRound
from pipeline.split import split_dataset
from pipeline.trials import TrialScores
from pipeline.validation import DataError

TrainRound = Callable[[PruningRun], TrialScores]


class SmallValidationWarning(UserWarning):
    """The validation split is too small for the accuracy guard's tolerance to mean much."""


def check_guard_resolution(n_val: int, tolerance: float | None) -> None:
    """Warn when one validation row moves the validation accuracy by more than half the accuracy
    guard's tolerance: the guard then fires on which rows one trial happens to get right."""
    if tolerance is None or n_val == 0 or 1.0 / n_val <= tolerance / 2:
        return
    warnings.warn(
        f"the validation split has {n_val} rows: one row moves validation accuracy by "
        f"{1.0 / n_val:.3f}, more than half of accuracy_tolerance={tolerance:g}, so the accuracy "
        "guard may stop on noise (more rows, a larger val_size or accuracy_tolerance help)",
        SmallValidationWarning, stacklevel=3,
    )


FitFinal = Callable[..., FinalModel]


def run_selection(
    dataset: Dataset,
    config: PruningConfig,
    *,
    rounds: Sequence[PruningRound] = (),
    train_round: TrainRound | None = None,
    on_round: Callable[[PruningRun, PruningRound], None] | None = None,
    fit_final: FitFinal | None = fit_final_model,
    progress: Progress | None = None,
) -> PruningResult:
    """Split ``dataset``, run the pruning rounds until a stop rule fires, train the final model.

    Parameters
    ----------
    dataset : Dataset
        The validated data (constant columns already set aside).
    config : PruningConfig
        The selection settings, split fractions and seed included.
    rounds : sequence of PruningRound
        Rounds finished by an earlier, interrupted run; the loop resumes after them.
    train_round : callable or None
        ``train_round(run) -> TrialScores`` trains the next round's trials; the default trains
        them all in this process (:meth:`PruningRun.train_trials`) and tells ``progress`` of
        every epoch.
    on_round : callable or None
        Called as ``on_round(run, record)`` after every round is recorded.
    fit_final : callable or None
        ``fit_final(split, kept, config, on_epoch=...) -> FinalModel``; ``None`` skips the
        final model.
    progress : Progress or None
        Told of rounds starting and ending, epochs, and the final model.

    Returns
    -------
    PruningResult
    """
    k = config.n_features_to_select
    if k is not None and k > len(dataset.feature_names):
        constant = f" ({len(dataset.constant_columns)} are constant)" if dataset.constant_columns else ""
        raise DataError(
            f"n_features_to_select={k} but the data has only {len(dataset.feature_names)} "
            f"varying feature columns{constant}"
        )
    split = split_dataset(
        dataset, val_size=config.val_size, test_size=config.test_size, seed=config.seed
    )
    if split.task == "classification":
        check_guard_resolution(len(split.y_val), config.accuracy_tolerance)
    run = PruningRun(split, config, rounds=rounds, constant_columns=dataset.constant_columns)
    progress = progress or NoProgress()
    while not run.done:
        progress.round_started(run.next_index, len(run.kept), config.epochs)
        if train_round is not None:
            scores = train_round(run)
        else:
            scores = run.train_trials(on_epoch=progress.epoch)
        record = run.record_round(scores)
        progress.round_finished(round_rows(run.rounds)[-1])
        if on_round is not None:
            on_round(run, record)
    final = None
    if fit_final is not None:
        progress.final_started(len(run.kept))
        final = fit_final(split, list(run.kept), config, on_epoch=progress.epoch)
    return run.finish(final)
