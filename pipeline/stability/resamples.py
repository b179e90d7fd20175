"""Stability selection as one sequence: whole selections on resamples, the cut, the final model.

:func:`run_stability_selection` is what :func:`pipeline.selection.run_selection` runs when
``n_resamples`` is 2 or more (the resamples one after the other, as the selector does), and what
the Prefect flow calls with its own way of running them (one task each on its task runner) and a
checkpoint after each. Step by step:

1. the resamples are planned: the rows every resample trains and validates on, drawn from the
   training and validation rows of the run's split (a test part stays unseen by the selection),
   each with its own seed (:func:`pipeline.stability.resample_seed`); data too small for them
   fails here, before any training;
2. every resample runs the whole plain selection (rounds until a stop rule fires, no final
   model) on its rows, with its seed;
3. the keep frequencies of the channels give the stable selection (at least ``keep_frequency``
   of the resamples), and the Nogueira index, Jaccard and the error bound say how stable it is;
4. (in :func:`pipeline.selection.run_selection`) the final model trains on the run's split of
   all the rows with the stable selection.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.data.dataset import Dataset
from pipeline.data.split import encode_rows, strata, stratified_indices
from pipeline.data.tables import DataError, constant_columns, minimum_class_size
from pipeline.machine import NoProgress, Progress
from pipeline.rounds.loop import run_rounds
from pipeline.settings import SelectionSettings
from pipeline.stability.result import ResampleSelection, StabilityResult

# --- drawing the rows ------------------------------------------------------------------------------


def resample_seed(seed: int, index: int) -> int:
    """The seed of resample ``index`` (from 0) of a run seeded ``seed``: its rows and its models.

    Drawn from ``numpy.random.SeedSequence((seed, index))``, so two runs with different seeds
    share no resample seed; below ``2**31``, which every consumer of a seed accepts.
    """
    return int(np.random.SeedSequence((seed, index)).generate_state(1)[0] % 2**31)


def _by_class(y: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(y == label) for label in np.unique(y)]


def half_subsample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half of the rows of every class (rounded down), drawn without replacement; sorted."""
    y = np.asarray(y)
    parts = [rng.choice(rows, len(rows) // 2, replace=False) for rows in _by_class(y)]
    return np.sort(np.concatenate(parts))


def stratified_bootstrap(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As many rows of every class as it has, drawn with replacement; sorted."""
    y = np.asarray(y)
    parts = [rng.choice(rows, len(rows), replace=True) for rows in _by_class(y)]
    return np.sort(np.concatenate(parts))


def check_resamplable(y: np.ndarray, kind: str, val_fraction: float) -> None:
    """Raise :class:`DataError` when a class is too small to give every resample training and
    validation rows of it."""
    if kind not in ("subsample", "bootstrap"):
        raise ValueError(f"resample must be subsample or bootstrap, got {kind!r}")
    need = minimum_class_size(val_fraction, 0.0)
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
        rows = count // 2 if kind == "subsample" else count
        if rows < need:
            detail = f"{count} rows, {rows} in half of them" if kind == "subsample" else f"{count} rows"
            hint = " (or resample='bootstrap')" if kind == "subsample" else ""
            raise DataError(
                f"resample={kind!r}: class {label!r} has {detail}; every resample needs at "
                f"least {need} of each class for its training and validation rows{hint}"
            )


def resample_split(
    y: np.ndarray, kind: str, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation positions (into ``y``) of one resample.

    Parameters
    ----------
    y : ndarray
        The labels of the rows a stability run resamples.
    kind : {"subsample", "bootstrap"}
        ``subsample``: half of every class without replacement (Meinshausen & Bühlmann's
        subsamples of half the size), split stratified into training and validation rows.
        ``bootstrap``: a stratified split of all rows whose training rows are drawn again with
        replacement within each class (as many as there were); the validation rows stay as
        they are, so no row is both trained on and validated on.
    val_fraction : float
        Share of the resample's rows that validate.
    seed : int
        Seeds both the draw and the split (:func:`resample_seed`).

    Returns
    -------
    train, val : ndarray of int
        Sorted positions; ``train`` repeats positions under ``bootstrap``.
    """
    y = np.asarray(y)
    check_resamplable(y, kind, val_fraction)
    rng = np.random.default_rng(seed)
    if kind == "subsample":
        rows = half_subsample(y, rng)
        train, val, _ = stratified_indices(y[rows], val_size=val_fraction, test_size=0.0, seed=seed)
        return np.sort(rows[train]), np.sort(rows[val])
    train, val, _ = stratified_indices(y, val_size=val_fraction, test_size=0.0, seed=seed)
    return np.sort(train[stratified_bootstrap(y[train], rng)]), np.sort(val)



@dataclass(frozen=True)
class Resample:
    """The rows of one resample.

    Attributes
    ----------
    index : int
        Resample number, from 0.
    seed : int
        Its seed, of the draw and of its selection's models.
    train, val : ndarray of int
        Positions of its training rows (repeated under ``bootstrap``) and validation rows in
        the data set.
    constant_columns : tuple of str
        Channels without variance on its rows: its selection runs without them.
    """

    index: int
    seed: int
    train: np.ndarray
    val: np.ndarray
    constant_columns: tuple[str, ...] = ()


SelectResamples = Callable[[Sequence[Resample]], Iterable[ResampleSelection]]
OnResample = Callable[[list[ResampleSelection]], None]


def resample_val_fraction(config: SelectionSettings) -> float:
    """Share of a resample's rows that validate: the run's validation share of the rows it
    draws from (the training and validation rows)."""
    return config.val_size / (1.0 - config.test_size)


def development_rows(dataset: Dataset, config: SelectionSettings) -> np.ndarray:
    """The rows resamples draw from: the training and validation rows of the run's split."""
    if config.test_size == 0:
        return np.arange(len(dataset.frame))
    train, val, _ = stratified_indices(
        dataset.y, val_size=config.val_size, test_size=config.test_size, seed=config.seed,
        task=dataset.task, n_rows=len(dataset.frame),
    )
    return np.sort(np.concatenate([train, val]))


def plan_resamples(dataset: Dataset, config: SelectionSettings) -> list[Resample]:
    """Every resample's rows; raises :class:`DataError` before any training when the data
    cannot give them."""
    rows = development_rows(dataset, config)
    fraction = resample_val_fraction(config)
    # resamples keep what the split keeps: the classes, a regression target's quantile bins
    groups = strata(None if dataset.y is None else dataset.y[rows], dataset.task, fraction, 0.0)
    y = np.zeros(len(rows), dtype=np.int64) if groups is None else groups
    try:
        check_resamplable(y, config.resample, fraction)
    except DataError as err:
        raise DataError(f"n_resamples={config.n_resamples}: {err}") from None
    features = dataset.features
    names = list(dataset.feature_names)
    plan = []
    for index in range(config.n_resamples):
        seed = resample_seed(config.seed, index)
        train, val = resample_split(y, config.resample, fraction, seed)
        train, val = rows[train], rows[val]
        seen = features.iloc[np.concatenate([train, val])]
        constant = tuple(constant_columns(seen))
        varying = [n for n in names if n not in set(constant)]
        if len(varying) < 2 or (config.n_features_to_select or 0) > len(varying):
            raise DataError(
                f"n_resamples={config.n_resamples}: resample {index} leaves only {len(varying)} "
                f"varying feature columns ({len(constant)} are constant on its rows)"
            )
        plan.append(Resample(index, seed, train, val, constant))
    return plan


def resample_config(config: SelectionSettings, resample: Resample) -> SelectionSettings:
    """The settings of one resample's selection: the plain selection (no resampling, no test
    part) with the resample's seed."""
    plain = {name: SelectionSettings.model_fields[name].default
             for name in ("n_resamples", "resample", "keep_frequency")}
    return config.replace(**plain, seed=resample.seed, test_size=0.0,
                          val_size=resample_val_fraction(config))


def select_resample(
    dataset: Dataset, config: SelectionSettings, resample: Resample, progress: Progress | None = None
) -> ResampleSelection:
    """One whole selection on one resample's rows, without a final model.

    Its rounds train in this process; ``progress`` hears of them.
    """
    start = time.perf_counter()
    constant = set(resample.constant_columns)
    varying = [n for n in dataset.feature_names if n not in constant]
    # the resample's own encoder, fitted on its training rows; its selection in the columns
    split = encode_rows(dataclasses.replace(dataset, feature_names=varying), resample.train,
                        resample.val, max_levels=config.max_levels,
                        class_weight=config.class_weight)
    result = run_rounds(split, resample_config(config, resample),
                        constant_columns=list(resample.constant_columns),
                        progress=progress).finish()
    return ResampleSelection(
        index=resample.index, seed=resample.seed, n_train=len(resample.train),
        n_val=len(resample.val), selected=result.selected_columns,
        ranking=result.column_ranking(),
        stop_reason=result.stop_reason, n_rounds=len(result.rounds),
        seconds=time.perf_counter() - start, constant_columns=list(resample.constant_columns),
    )


def run_stability_selection(
    dataset: Dataset,
    config: SelectionSettings,
    *,
    done: Sequence[ResampleSelection] = (),
    select_resamples: SelectResamples | None = None,
    on_resample: OnResample | None = None,
    progress: Progress | None = None,
) -> StabilityResult:
    """Select on ``config.n_resamples`` resamples and keep the stable channels (the final model
    is :func:`pipeline.selection.run_selection`'s).

    Parameters
    ----------
    dataset : Dataset
        The validated data (constant columns already set aside).
    config : SelectionSettings
        The settings; ``n_resamples >= 2``.
    done : sequence of ResampleSelection
        Resamples finished by an earlier, interrupted run: they are not run again.
    select_resamples : callable or None
        ``select_resamples(resamples)`` runs the selections of the resamples left and yields
        each :class:`ResampleSelection` as it finishes, in any order; the default runs them
        one after the other in this process (:func:`select_resample`).
    on_resample : callable or None
        Called with the finished selections (by index) after each one finishes.
    progress : Progress or None
        Told of the resamples finishing.
    """
    if config.n_resamples < 2:
        raise ValueError(f"a stability selection needs n_resamples >= 2, got {config.n_resamples}")
    plan = plan_resamples(dataset, config)
    progress = progress or NoProgress()
    finished: dict[int, ResampleSelection] = {}
    for selection in done:
        if selection.index >= len(plan) or selection.seed != plan[selection.index].seed:
            raise ValueError(f"resample {selection.index} (seed {selection.seed}) does not "
                             "belong to this run")
        finished[selection.index] = selection
    left = [r for r in plan if r.index not in finished]
    if select_resamples is None:
        def select_resamples(resamples: Sequence[Resample]) -> Iterable[ResampleSelection]:
            return (select_resample(dataset, config, r) for r in resamples)
    progress.resamples_started(len(plan), len(finished))
    for selection in select_resamples(left):
        finished[selection.index] = selection
        ordered = [finished[i] for i in sorted(finished)]
        if on_resample is not None:
            on_resample(ordered)
        progress.resample_finished(selection, len(finished), len(plan))
    if len(finished) != len(plan):
        raise RuntimeError(f"{len(plan) - len(finished)} of {len(plan)} resamples did not finish")
    return StabilityResult.from_resamples(
        dataset.feature_names, list(finished.values()), resample=config.resample,
        keep_frequency=config.keep_frequency, n_features_to_select=config.n_features_to_select,
        min_features=min(config.min_features, len(dataset.feature_names)),
    )
