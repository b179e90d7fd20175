"""Selection for a regression target and without a target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1

from pipeline.data.dataset import load_dataset
from pipeline.data.split import stratified_indices
from pipeline.selection import run_selection
from pipeline.selector import VAECSelector
from pipeline.settings import SelectionSettings


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(n_samples=600, n_features=12, noise=0.5, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    return frame, y


def test_a_regression_selection_keeps_the_five_relevant_columns(friedman):
    frame, y = friedman
    dataset = load_dataset(frame.assign(y=y), "y")
    assert dataset.task.name == "regression"
    result = run_selection(dataset, SelectionSettings.from_flat(test_size=0.2, epochs=150))
    assert result.selected == [f"f{i}" for i in range(5)]
    assert set(result.rounds[0].val_metrics) == {"r2", "mae"}
    assert result.final.metrics["test_r2"] > 0.8
    assert result.final.metrics["test_mae"] < np.std(y)


def test_the_selector_predicts_values_in_the_targets_units(friedman):
    frame, y = friedman
    selector = VAECSelector(epochs=100, random_state=0).fit(frame, y)
    assert selector.task_ == "regression"
    predicted = selector.predict_with_confidence(frame)["prediction"]
    assert abs(predicted.mean() - y.mean()) < 0.1 * y.std()
    assert np.corrcoef(predicted, y)[0, 1] > 0.85


def test_a_regression_split_keeps_the_targets_distribution():
    y = np.random.default_rng(0).exponential(size=1000)
    train, val, test = stratified_indices(y, val_size=0.2, test_size=0.2, seed=0,
                                          task="regression")
    quartiles = np.quantile(y, [0.25, 0.5, 0.75])
    for part in (train, val, test):
        np.testing.assert_allclose(np.quantile(y[part], [0.25, 0.5, 0.75]), quartiles, rtol=0.1)


def test_without_a_target_the_factor_channels_stay_and_the_noise_goes():
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(600, 2))
    signal = factors @ rng.normal(size=(2, 6)) + 0.2 * rng.normal(size=(600, 6))
    frame = pd.DataFrame(np.hstack([signal, rng.normal(size=(600, 6))]),
                         columns=[f"s{i}" for i in range(6)] + [f"n{i}" for i in range(6)])
    selector = VAECSelector(epochs=150, random_state=0).fit(frame)
    assert selector.task_ == "unsupervised"
    assert list(selector.get_feature_names_out()) == [f"s{i}" for i in range(6)]
    assert "importance" not in {d for r in selector.rounds_ for d in r.decision.values()}
    assert all(d != "relevant" for r in selector.rounds_ for d in r.decision.values())
