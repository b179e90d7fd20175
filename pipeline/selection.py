"""The whole selection as one sequence: split, the rounds (or the resamples of a stability selection),
the final model.

:func:`run_selection` is what the selector's ``fit`` and the Prefect flow both call. The flow hands in
how a round's trials are trained (fanned out over its task runner), what happens after each round (a
checkpoint, a log line), how a stability selection's resamples run (one task each) and how the final
model is trained (a task); the selector takes the defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.data.dataset import Dataset
from pipeline.data.split import SplitData, split_dataset
from pipeline.data.tables import DataError
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.machine import NoProgress, Progress, check_selection_memory
from pipeline.result import PruningResult
from pipeline.rounds.loop import OnRound, TrainRound, run_rounds
from pipeline.rounds.record import PruningRound
from pipeline.settings import SelectionSettings
from pipeline.stability.resamples import OnResample, SelectResamples, run_stability_selection
from pipeline.stability.result import ResampleSelection

FitFinal = Callable[..., FinalModel]


def run_selection(
    dataset: Dataset,
    config: SelectionSettings,
    *,
    rounds: Sequence[PruningRound] = (),
    train_round: TrainRound | None = None,
    on_round: OnRound | None = None,
    resamples: Sequence[ResampleSelection] = (),
    select_resamples: SelectResamples | None = None,
    on_resample: OnResample | None = None,
    fit_final: FitFinal | None = fit_final_model,
    progress: Progress | None = None,
) -> PruningResult:
    """Split ``dataset``, select, and train the final model on the selection.

    The selection is the pruning rounds until a stop rule fires (:func:`run_rounds`), or with
    ``config.n_resamples`` of 2 or more a stability selection (:func:`run_stability_selection`).

    Parameters
    ----------
    dataset : Dataset
        The validated data (constant columns already set aside).
    config : SelectionSettings
        The selection settings, split fractions and seed included.
    rounds, train_round, on_round
        The plain selection's: rounds finished by an earlier, interrupted run (the loop resumes after
        them), how a round's trials train, and what hears of every round (see :func:`run_rounds`).
    resamples, select_resamples, on_resample
        A stability selection's: the resamples an earlier run finished, how the others run, and what
        hears of each (see :func:`run_stability_selection`).
    fit_final : callable or None
        ``fit_final(split, kept, config, on_epoch=...) -> FinalModel``; ``None`` skips the final model.
    progress : Progress or None
        Told of rounds or resamples, epochs and the final model.
    """
    check_count(dataset.feature_names, config.n_features_to_select, dataset.constant_columns)
    check_selection_memory(dataset, config)  # before anything is allocated
    stable = config.n_resamples > 1
    if stable and (rounds or train_round is not None or on_round is not None):
        raise ValueError("rounds, train_round and on_round belong to a plain selection; "
                         "n_resamples > 1 asks for resamples")
    progress = progress or NoProgress()
    split = split_dataset(dataset, val_size=config.val_size, test_size=config.test_size, seed=config.seed,
                          max_levels=config.max_levels, class_weight=config.class_weight)
    if stable:
        stability = run_stability_selection(dataset, config, done=resamples, on_resample=on_resample,
                                            select_resamples=select_resamples, progress=progress)
        # the resamples select columns: the final model trains on their channels
        chosen = set(stability.selected)
        kept = [c for c in split.feature_names if split.column_of(c) in chosen]
        return PruningResult.from_stability(split, config, stability,
                                            _final(split, kept, config, fit_final, progress),
                                            dataset.constant_columns)
    run = run_rounds(split, config, constant_columns=dataset.constant_columns, rounds=rounds,
                     train_round=train_round, on_round=on_round, progress=progress)
    return run.finish(_final(split, list(run.kept), config, fit_final, progress))


def _final(split: SplitData, kept: list[str], config: SelectionSettings,
           fit_final: FitFinal | None, progress: Progress) -> FinalModel | None:
    """The final model on the kept channels, or ``None`` when ``fit_final`` is."""
    if fit_final is None:
        return None
    progress.final_started(len(kept))
    return fit_final(split, kept, config, on_epoch=progress.epoch)


def check_count(feature_names: Sequence[str], k: int | str | None,
                constant_columns: Sequence[str] = ()) -> None:
    """Raise :class:`DataError` when ``n_features_to_select`` asks for more channels than vary."""
    if isinstance(k, int) and k > len(feature_names):
        constant = f" ({len(constant_columns)} are constant)" if constant_columns else ""
        raise DataError(f"n_features_to_select is {k} but the data has only {len(feature_names)} "
                        f"varying feature columns{constant}")
