"""Stability selection end to end in one process: resamples, the frequency cut, the final model on
all the rows, resuming after finished resamples, and the plain selection left as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data.dataset import load_dataset
from pipeline.data.split import stratified_indices
from pipeline.data.tables import DataError
from pipeline.selection import plan_resamples, run_selection, run_stability_selection, select_resample
from pipeline.selector import VAECSelector
from pipeline.settings import SelectionSettings

FAST = {"encoder_widths": (16,), "head_widths": (8,)}
TINY = {"n_trials": 2, "latent_dim": 1, "epochs": 60, "max_drop_fraction": 0.5, "threads": 1,
        **FAST}
SIGNAL = ["s0", "s1", "s2", "s3"]


def structured_frame(n_rows: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(n_rows, 1))
    columns = SIGNAL + [f"noise{i}" for i in range(4)]
    X = np.hstack([factor + 0.15 * rng.normal(size=(n_rows, 4)), rng.normal(size=(n_rows, 4))])
    return pd.DataFrame(X, columns=columns), (factor[:, 0] > 0).astype(int)


@pytest.fixture(scope="module")
def stable():
    X, y = structured_frame()
    selector = VAECSelector(n_resamples=4, keep_frequency=0.75, fit_final_model=False,
                            **{k: v for k, v in TINY.items() if k != "threads"}, n_jobs=1)
    return selector.fit(X, y), X


def test_a_stability_selection_keeps_the_signal_and_drops_the_noise_by_frequency(stable):
    selector, X = stable
    stability = selector.stability_
    assert stability.n_resamples == 4
    assert all(stability.frequency[c] == 1.0 for c in SIGNAL)
    # the selection is the frequency cut, whatever single resamples kept
    assert stability.selected == [c for c in X.columns if stability.frequency[c] >= 0.75]
    assert list(selector.get_feature_names_out()) == SIGNAL
    assert all(stability.frequency[f"noise{i}"] < 0.75 for i in range(4))
    assert selector.stop_reason_ == "stability" and selector.rounds_ == []
    # every resample trained on its own half of the rows, with its own seed
    assert len({r.seed for r in stability.resamples}) == 4
    assert all(r.n_train + r.n_val == len(X) // 2 for r in stability.resamples)
    assert 0 < stability.nogueira_low <= stability.nogueira <= stability.nogueira_high <= 1


def test_the_ranking_follows_the_keep_frequency(stable):
    selector, X = stable
    frequency = selector.stability_.frequency
    ranked = sorted(X.columns, key=lambda c: selector.ranking_[list(X.columns).index(c)])
    assert [frequency[c] for c in ranked] == sorted(frequency.values(), reverse=True)
    assert sorted(selector.ranking_[4:]) == [2, 3, 4, 5]  # the unselected ranks are distinct


def test_the_final_model_trains_on_all_the_rows_and_the_test_rows_are_never_resampled():
    X, y = structured_frame(n_rows=200)
    dataset = load_dataset(X.assign(label=y), "label")
    config = SelectionSettings.from_flat(**TINY, n_resamples=3, test_size=0.2)
    result = run_selection(dataset, config)
    _, _, test = stratified_indices(dataset.y, val_size=0.2, test_size=0.2, seed=config.seed)
    drawn = np.concatenate([np.concatenate([r.train, r.val]) for r in plan_resamples(dataset, config)])
    assert not set(drawn) & set(test)
    assert result.final.channels == result.selected == SIGNAL
    assert len(result.split.X_train) == 120 and len(result.split.X_test) == 40
    assert result.final.metrics["test_accuracy"] > 0.85


def test_a_killed_run_resumes_after_its_finished_resamples():
    X, y = structured_frame(n_rows=160)
    dataset = load_dataset(X.assign(label=y), "label", test_size=0.0)
    config = SelectionSettings.from_flat(**TINY, n_resamples=3, test_size=0.0)
    saved = []
    whole = run_stability_selection(dataset, config,
                                    on_resample=lambda finished: saved.append(list(finished)))
    assert [len(s) for s in saved] == [1, 2, 3]
    asked = []

    def select_resamples(resamples):
        asked.extend(r.index for r in resamples)
        return (select_resample(dataset, config, r) for r in resamples)

    resumed = run_stability_selection(dataset, config, done=saved[1],
                                      select_resamples=select_resamples)
    assert asked == [2]
    def decided(stability):
        return [(r.index, r.seed, r.selected, r.ranking, r.n_rounds) for r in stability.resamples]

    assert decided(resumed) == decided(whole)
    assert resumed.selected == whole.selected
    assert resumed.frequency == whole.frequency
    other = SelectionSettings.from_flat(**{**TINY, "seed": 1}, n_resamples=3, test_size=0.0)
    with pytest.raises(ValueError, match="does not belong to this run"):
        run_stability_selection(dataset, other, done=saved[1])


def test_a_column_constant_on_a_resample_is_set_aside_there():
    X, y = structured_frame(n_rows=160)
    X["rare"] = 0.0
    X.loc[3, "rare"] = 1.0  # varies in the whole data, constant on a half without row 3
    dataset = load_dataset(X.assign(label=y), "label", test_size=0.0)
    config = SelectionSettings.from_flat(**TINY, n_resamples=4, test_size=0.0)
    plan = plan_resamples(dataset, config)
    assert {("rare" in r.constant_columns) for r in plan} == {True, False}
    resample = next(r for r in plan if "rare" in r.constant_columns)
    selection = select_resample(dataset, config, resample)
    assert "rare" not in selection.selected
    assert selection.ranking["rare"] == max(selection.ranking.values())


def test_data_too_small_for_half_subsamples_fails_before_any_training():
    X, y = structured_frame(n_rows=60)
    y[:5] = 2  # a third class of 5 rows: 2 in half of them
    with pytest.raises(DataError, match=r"n_resamples=3: resample='subsample': class 2 has 5 rows"):
        VAECSelector(n_resamples=3, epochs=5).fit(X, y)


# What the plain selection did before stability selection existed, on this table and these
# settings: with n_resamples = 1 it must do exactly the same.
PLAIN_ROUNDS = [
    (["s0", "s1", "s2", "noise0", "noise1", "noise2", "noise3", "noise4"],
     ["noise1", "noise4", "noise3", "noise2", "noise0"], None),
    (["s0", "s1", "s2"], [], "all_pass"),
]
PLAIN_RANKING = {"s0": 1, "s1": 1, "s2": 1, "noise0": 2, "noise1": 6, "noise2": 3, "noise3": 4,
                 "noise4": 5}


def test_without_resamples_the_selection_is_exactly_the_plain_one():
    rng = np.random.default_rng(5)
    factor = rng.normal(size=200)
    columns = {f"s{i}": factor + 0.2 * rng.normal(size=200) for i in range(3)}
    columns |= {f"noise{i}": rng.normal(size=200) for i in range(5)}
    frame = pd.DataFrame(columns).assign(label=(factor > 0).astype(int))
    config = SelectionSettings.from_flat(n_trials=2, latent_dim=1, epochs=60, max_drop_fraction=0.25,
                                         threads=1, n_resamples=1, **FAST)
    result = run_selection(load_dataset(frame, "label"), config, fit_final=None)
    assert [(r.kept, r.dropped, r.stop_reason) for r in result.rounds] == PLAIN_ROUNDS
    assert result.ranking == PLAIN_RANKING
    assert result.stability is None


def test_resamples_of_a_regression_target_keep_its_spread_and_need_no_target_without_one():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 4)), columns=list("abcd"))
    frame["y"] = np.exp(rng.normal(size=400))  # skewed: a random half could miss the tail
    regression = load_dataset(frame, "y")
    assert regression.task.name == "regression"
    config = SelectionSettings(n_resamples=4, test_size=0.0)
    y = frame["y"].to_numpy()
    for resample in plan_resamples(regression, config):
        drawn = y[resample.train]
        # quantile-bin strata: every resample's training rows span the target like the whole
        assert abs(np.median(drawn) - np.median(y)) < 0.15 * np.std(y)
        assert drawn.max() > np.quantile(y, 0.9)
        assert len(set(resample.train) & set(resample.val)) == 0
    unsupervised = load_dataset(frame.drop(columns="y"), None)
    plan = plan_resamples(unsupervised, config)
    assert len(plan) == 4 and all(len(r.train) + len(r.val) == 200 for r in plan)
    assert len({tuple(r.train) for r in plan}) == 4  # each resample its own rows
