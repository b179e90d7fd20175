"""The whole selection as one sequence: split, pruning rounds, final model.

:func:`run_selection` is what the selector's ``fit`` and the Prefect flow both call. The flow
hands in how a round's trials are trained (fanned out over its task runner), what happens after
each round (a checkpoint, a log line) and how the final model is trained (a task); the selector
takes the defaults. A stability selection (``n_resamples`` of 2 or more) runs
:func:`select_on_split` once per resample (:mod:`pipeline.resampling`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.data.dataset import Dataset
from pipeline.data.split import SplitData, split_dataset
from pipeline.data.tables import DataError
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.progress import NoProgress, Progress
from pipeline.pruning_config import PruningConfig
from pipeline.report.round_table import round_rows
from pipeline.result import PruningResult
from pipeline.rounds.loop import PruningRun
from pipeline.rounds.record import PruningRound
from pipeline.rounds.trials import TrialScores

# train_round(run, channels) trains the next round's trials on the kept channels (channels None)
# or on the given ones (the accuracy guard's control)
TrainRound = Callable[[PruningRun, "list[str] | None"], TrialScores]


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

    With ``config.n_resamples`` of 2 or more this is a stability selection instead
    (:func:`pipeline.resampling.run_stability_selection`, its resamples one after the
    other in this process); ``rounds``, ``train_round`` and ``on_round`` belong to the plain
    selection.

    Parameters
    ----------
    dataset : Dataset
        The validated data (constant columns already set aside).
    config : PruningConfig
        The selection settings, split fractions and seed included.
    rounds : sequence of PruningRound
        Rounds finished by an earlier, interrupted run; the loop resumes after them.
    train_round : callable or None
        ``train_round(run, channels) -> TrialScores`` trains the next round's trials on the
        kept channels (``channels`` None) or on ``channels`` (the accuracy guard's control);
        the default trains them all in this process (:meth:`PruningRun.train_trials`) and
        tells ``progress`` of every epoch.
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
    check_count(dataset.feature_names, config, dataset.constant_columns)
    if config.n_resamples > 1:
        if rounds or train_round is not None or on_round is not None:
            raise ValueError("rounds, train_round and on_round belong to a plain selection; "
                             "this config asks for resamples (n_resamples > 1)")
        # the stability sequence builds on select_on_split below
        from pipeline.resampling import run_stability_selection

        return run_stability_selection(dataset, config, fit_final=fit_final, progress=progress)
    split = split_dataset(
        dataset, val_size=config.val_size, test_size=config.test_size, seed=config.seed
    )
    return select_on_split(
        split, config, constant_columns=dataset.constant_columns, rounds=rounds,
        train_round=train_round, on_round=on_round, fit_final=fit_final, progress=progress,
    )


def check_count(
    feature_names: Sequence[str], config: PruningConfig, constant_columns: Sequence[str] = ()
) -> None:
    """Raise :class:`DataError` when ``n_features_to_select`` asks for more channels than vary."""
    k = config.n_features_to_select
    if k is not None and k > len(feature_names):
        constant = f" ({len(constant_columns)} are constant)" if constant_columns else ""
        raise DataError(
            f"n_features_to_select={k} but the data has only {len(feature_names)} "
            f"varying feature columns{constant}"
        )


def select_on_split(
    split: SplitData,
    config: PruningConfig,
    *,
    constant_columns: Sequence[str] = (),
    rounds: Sequence[PruningRound] = (),
    train_round: TrainRound | None = None,
    on_round: Callable[[PruningRun, PruningRound], None] | None = None,
    fit_final: FitFinal | None = fit_final_model,
    progress: Progress | None = None,
) -> PruningResult:
    """The pruning rounds and the final model on a ready split (see :func:`run_selection`);
    """
    run = PruningRun(split, config, rounds=rounds, constant_columns=constant_columns)
    progress = progress or NoProgress()
    def train(channels: list[str] | None = None) -> TrialScores:
        if train_round is not None:
            return train_round(run, channels)
        return run.train_trials(on_epoch=progress.epoch, channels=channels)

    while not run.done:
        progress.round_started(run.next_index, len(run.kept), config.epochs)
        record = run.record_round(train(), control=train)
        progress.round_finished(round_rows(run.rounds)[-1])
        if on_round is not None:
            on_round(run, record)
    final = None
    if fit_final is not None:
        progress.final_started(len(run.kept))
        final = fit_final(split, list(run.kept), config, on_epoch=progress.epoch)
    return run.finish(final)
