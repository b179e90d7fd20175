"""The whole selection as one sequence: split, the rounds or the resamples of a stability selection,
the final model.

:func:`run_selection` is what the selector's ``fit`` and the Prefect flow both call; the flow hands in
how a round's trials train (over its task runner), what follows each round (a checkpoint), how the
resamples run (a task each) and how the final model trains. A stability selection (``n_resamples`` of
2 or more) draws every resample's rows from the training and validation rows of the run's split (a
test part stays unseen), runs the plain selection on each with its own seed, and selects the channels
kept in at least ``keep_frequency`` of them; the final model trains on the run's split.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.data.dataset import Dataset
from pipeline.data.split import SplitData, encode_rows, split_dataset, stratified_indices
from pipeline.data.tables import DataError, constant_columns, minimum_class_size
from pipeline.final_model import FinalModel, fit_final_model
from pipeline.machine import NoProgress, Progress, check_selection_memory
from pipeline.result import PruningResult
from pipeline.rounds.loop import OnRound, TrainRound, run_rounds
from pipeline.rounds.record import PruningRound
from pipeline.settings import SelectionSettings
from pipeline.stability.result import ResampleSelection, StabilityResult
from vaec.tasks import get_task

FitFinal = Callable[..., FinalModel]


def run_selection(dataset: Dataset, config: SelectionSettings, *, rounds: Sequence[PruningRound] = (),
                  train_round: TrainRound | None = None, on_round: OnRound | None = None,
                  resamples: Sequence[ResampleSelection] = (), on_resample: OnResample | None = None,
                  select_resamples: SelectResamples | None = None, progress: Progress | None = None,
                  fit_final: FitFinal | None = fit_final_model) -> PruningResult:
    """Split ``dataset``, select, and train the final model on the selection.

    The selection is the pruning rounds until a stop rule fires (:func:`run_rounds`: ``rounds``
    finished by an interrupted run resume, ``train_round`` trains a round's trials, ``on_round``
    hears of each), or with ``config.n_resamples`` of 2 or more a stability selection
    (:func:`run_stability_selection`: ``resamples`` finished earlier, ``select_resamples`` runs the
    others, ``on_resample`` hears of each). ``fit_final(split, kept, config, on_epoch=...)`` trains
    the final model (``None``: none); ``progress`` is told of rounds or resamples, epochs and the
    final model.
    """
    check_count(dataset.feature_names, config.budget, dataset.constant_columns)
    check_selection_memory(dataset, config)  # before anything is allocated
    progress = progress or NoProgress()
    split = split_dataset(dataset, val_size=config.val_size, test_size=config.test_size, seed=config.seed,
                          max_levels=config.max_levels, class_weight=config.class_weight)
    if config.n_resamples > 1:
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


def check_count(feature_names: Sequence[str], k: int | None, constant_columns: Sequence[str] = ()) -> None:
    """Raise :class:`DataError` when ``n_features_to_select`` asks for more channels than vary."""
    if k is not None and k > len(feature_names):
        constant = f" ({len(constant_columns)} are constant)" if constant_columns else ""
        raise DataError(f"n_features_to_select is {k} but the data has only {len(feature_names)} "
                        f"varying feature columns{constant}")


# stability selection: the resamples' rows -------------------------------------------------------

def resample_seed(seed: int, index: int) -> int:
    """The seed of resample ``index`` (from 0) of a run seeded ``seed``, of its rows and its models
    (``SeedSequence((seed, index))``: two runs' seeds share none), below ``2**31``."""
    return int(np.random.SeedSequence((seed, index)).generate_state(1)[0] % 2**31)


def _by_class(y: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(y == label) for label in np.unique(y)]


def half_subsample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half of the rows of every class (rounded down), drawn without replacement; sorted."""
    parts = [rng.choice(rows, len(rows) // 2, replace=False) for rows in _by_class(np.asarray(y))]
    return np.sort(np.concatenate(parts))


def check_resamplable(y: np.ndarray, kind: str, val_fraction: float) -> None:
    """Raise :class:`DataError` when a class is too small to give every resample training and validation
    rows of it."""
    need = minimum_class_size(val_fraction, 0.0)
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
        rows = count // 2 if kind == "subsample" else count
        if rows < need:
            detail = f"{count} rows, {rows} in half of them" if kind == "subsample" else f"{count} rows"
            hint = " (or resample='bootstrap')" if kind == "subsample" else ""
            raise DataError(f"resample={kind!r}: class {label!r} has {detail}; every resample needs at "
                            f"least {need} of each class for its training and validation rows{hint}")


def resample_split(y: np.ndarray, kind: str, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation positions (sorted, into ``y``, the labels of the rows resampled) of one
    resample drawn with ``seed``: ``subsample`` takes half of every class without replacement
    (Meinshausen & Bühlmann's subsamples), split stratified; ``bootstrap`` splits all rows stratified
    and draws the training rows again with replacement within each class (as many as there were), so
    no row is both trained on and validated on."""
    y = np.asarray(y)  # plan_resamples checked the classes are large enough
    rng = np.random.default_rng(seed)
    if kind == "subsample":
        rows = half_subsample(y, rng)
        train, val, _ = stratified_indices(y[rows], val_size=val_fraction, test_size=0.0, seed=seed)
        return np.sort(rows[train]), np.sort(rows[val])
    train, val, _ = stratified_indices(y, val_size=val_fraction, test_size=0.0, seed=seed)
    # as many rows of every class as it has, drawn with replacement
    again = [rng.choice(rows, len(rows), replace=True) for rows in _by_class(y[train])]
    again = np.sort(np.concatenate(again))
    return np.sort(train[again]), np.sort(val)


@dataclass(frozen=True)
class Resample:
    """The rows of one resample: its ``index`` (from 0) and ``seed`` (of the draw and of its
    selection's models), the positions in the data of its ``train`` rows (repeated under
    ``bootstrap``) and ``val`` rows, and its ``constant_columns``, channels without variance on
    its rows, which its selection runs without."""

    index: int
    seed: int
    train: np.ndarray
    val: np.ndarray
    constant_columns: tuple[str, ...] = ()


SelectResamples = Callable[[Sequence[Resample]], Iterable[ResampleSelection]]
OnResample = Callable[[list[ResampleSelection]], None]


def resample_val_fraction(config: SelectionSettings) -> float:
    """Share of a resample's rows that validate: the run's share of the rows resamples draw from."""
    return config.val_size / (1.0 - config.test_size)


def plan_resamples(dataset: Dataset, config: SelectionSettings) -> list[Resample]:
    """Every resample's rows, drawn from the training and validation rows of the run's split; a
    :class:`DataError` before any training when the data cannot give them."""
    rows = np.arange(len(dataset.frame))
    if config.test_size > 0:
        train, val, _ = stratified_indices(dataset.y, val_size=config.val_size, test_size=config.test_size,
                                           seed=config.seed, task=dataset.task, n_rows=len(dataset.frame))
        rows = np.sort(np.concatenate([train, val]))
    fraction = resample_val_fraction(config)
    # resamples keep what the split keeps: the classes, a regression target's quantile bins
    groups = get_task(dataset.task).strata(None if dataset.y is None else dataset.y[rows], fraction, 0.0)
    y = np.zeros(len(rows), dtype=np.int64) if groups is None else groups
    try:
        check_resamplable(y, config.resample, fraction)
    except DataError as err:
        raise DataError(f"n_resamples={config.n_resamples}: {err}") from None
    plan, features = [], dataset.features
    for index in range(config.n_resamples):
        seed = resample_seed(config.seed, index)
        train, val = resample_split(y, config.resample, fraction, seed)
        train, val = rows[train], rows[val]
        constant = tuple(constant_columns(features.iloc[np.concatenate([train, val])]))
        varying = [n for n in dataset.feature_names if n not in set(constant)]
        if len(varying) < 2 or (config.budget or 0) > len(varying):
            raise DataError(f"n_resamples={config.n_resamples}: resample {index} leaves only {len(varying)} "
                            f"varying feature columns ({len(constant)} are constant on its rows)")
        plan.append(Resample(index, seed, train, val, constant))
    return plan


def select_resample(dataset: Dataset, config: SelectionSettings, resample: Resample,
                    progress: Progress | None = None) -> ResampleSelection:
    """One whole selection on one resample's rows (no final model), in this process; ``progress`` hears."""
    start = time.perf_counter()
    constant = set(resample.constant_columns)
    varying = [n for n in dataset.feature_names if n not in constant]
    # the resample's own encoder, fitted on its training rows; its selection in the columns
    split = encode_rows(dataclasses.replace(dataset, feature_names=varying), resample.train, resample.val,
                        max_levels=config.max_levels, class_weight=config.class_weight)
    # the plain selection (no resampling, no test part) with the resample's seed
    plain = {name: SelectionSettings.model_fields[name].default
             for name in ("n_resamples", "resample", "keep_frequency")}
    plain_config = config.replace(**plain, seed=resample.seed, test_size=0.0,
                                  val_size=resample_val_fraction(config))
    result = run_rounds(split, plain_config, constant_columns=list(resample.constant_columns),
                        progress=progress).finish()
    return ResampleSelection(
        index=resample.index, seed=resample.seed, n_train=len(resample.train), n_val=len(resample.val),
        selected=result.selected_columns, ranking=result.column_ranking(), stop_reason=result.stop_reason,
        n_rounds=len(result.rounds), seconds=time.perf_counter() - start,
        constant_columns=list(resample.constant_columns))


def run_stability_selection(dataset: Dataset, config: SelectionSettings, *,
                            done: Sequence[ResampleSelection] = (),
                            select_resamples: SelectResamples | None = None,
                            on_resample: OnResample | None = None,
                            progress: Progress | None = None) -> StabilityResult:
    """Select on ``config.n_resamples`` resamples and keep the stable channels (the final model is
    :func:`run_selection`'s). Resamples ``done`` by an interrupted run are not run again;
    ``select_resamples(resamples)`` runs the others and yields each :class:`ResampleSelection` as it
    finishes, in any order (default: one after the other in this process, :func:`select_resample`);
    ``on_resample`` is called with the finished selections (by index) after each, and ``progress``
    is told of them.
    """
    plan = plan_resamples(dataset, config)
    progress = progress or NoProgress()
    finished: dict[int, ResampleSelection] = {}
    for selection in done:
        if selection.index >= len(plan) or selection.seed != plan[selection.index].seed:
            raise ValueError(f"resample {selection.index} (seed {selection.seed}) does not belong to this "
                             "run")
        finished[selection.index] = selection
    left = [r for r in plan if r.index not in finished]
    progress.resamples_started(len(plan), len(finished))
    selections = (select_resamples(left) if select_resamples is not None
                  else (select_resample(dataset, config, r) for r in left))
    for selection in selections:
        finished[selection.index] = selection
        if on_resample is not None:
            on_resample([finished[i] for i in sorted(finished)])
        progress.resample_finished(selection, len(finished), len(plan))
    if len(finished) != len(plan):
        raise RuntimeError(f"{len(plan) - len(finished)} of {len(plan)} resamples did not finish")
    return StabilityResult.from_resamples(
        dataset.feature_names, list(finished.values()), resample=config.resample,
        keep_frequency=config.keep_frequency, n_features_to_select=config.budget,
        min_features=min(config.min_features, len(dataset.feature_names)))
