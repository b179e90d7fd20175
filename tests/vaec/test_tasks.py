"""The model for each task: regression predicts values, the unsupervised model only
reconstructs, and both keep what classification gives (history, save/load, confidence)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from vaec import VAEC, InputError, VAECConfig
from vaec.config import ConfigError
from vaec.tasks import CLASSIFICATION, REGRESSION, TASKS, UNSUPERVISED, get_task, r2_and_mae

# the KL weight and learning rate these models' thresholds were set with
LIGHT = {"kl_weight": 1e-3, "learning_rate": 3e-3}


def linear_table(n_rows: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 5)).astype(np.float32)
    y = (2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n_rows)).astype(np.float32)
    return X, y


def test_the_regression_head_learns_a_linear_target():
    X, y = linear_table()
    model = VAEC(VAECConfig(n_inputs=5, n_classes=1, task="regression", latent_dim=3, epochs=200,
                            seed=0, **LIGHT))
    result = model.fit_var_mlp_classifier(X[:300], y[:300], X[300:], y[300:])
    predicted = model.predict(X[300:])
    assert predicted.dtype.kind == "f" and predicted.shape == (100,)
    r2 = 1 - ((predicted - y[300:]) ** 2).sum() / ((y[300:] - y[300:].mean()) ** 2).sum()
    assert r2 > 0.9
    assert {"val_r2", "val_mae", "train_r2_sampled"} <= set(result.history.columns)
    assert result.history.best_row()["val_r2"] == result.history.for_replica()["val_r2"].max()
    with pytest.raises(InputError, match="classification"):
        model.predict_proba(X)


def test_a_regression_model_round_trips_and_predicts_with_confidence(tmp_path):
    X, y = linear_table(200)
    model = VAEC(VAECConfig(n_inputs=5, n_classes=1, task="regression", epochs=30, **LIGHT))
    model.fit_all_parts(X, y)
    model.fit_latent_domain(X)
    loaded = VAEC.load(model.save(tmp_path / "model"))
    columns = loaded.predict_with_confidence(X[:10])
    assert list(columns)[:2] == ["prediction", "sigma_distance"]
    np.testing.assert_allclose(columns["prediction"], model.predict(X[:10]), rtol=1e-5)


def test_an_unsupervised_model_reconstructs_without_a_target():
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(300, 1))
    X = (factor @ rng.normal(size=(1, 6)) + 0.05 * rng.normal(size=(300, 6))).astype(np.float32)
    model = VAEC(VAECConfig(n_inputs=6, n_classes=1, task="unsupervised", latent_dim=1,
                            epochs=150, seed=0, **LIGHT))
    result = model.fit_autoencoder(X[:240], None, X[240:], None)
    columns = result.history.for_replica()
    assert columns["val_reconstruction_r2"][-1] > 0.8 > columns["val_reconstruction_r2"][0]
    assert np.abs(columns["train_prediction_loss"]).max() == 0.0
    with pytest.raises(InputError, match="task"):
        model.predict(X)


def test_the_task_is_checked_with_the_class_count():
    with pytest.raises(ConfigError, match="task must be one of"):
        VAECConfig(n_inputs=3, n_classes=2, task="ranking")
    with pytest.raises(ConfigError, match="n_classes must be 1 for task 'regression'"):
        VAECConfig(n_inputs=3, n_classes=2, task="regression")


def test_losses_and_scores_per_task():
    outputs = torch.tensor([[[1.0], [2.0], [4.0]]])
    target = torch.tensor([1.0, 3.0, 3.0])
    np.testing.assert_allclose(REGRESSION.prediction_losses(outputs, target), [[0.0, 1.0, 1.0]])
    assert UNSUPERVISED.prediction_losses(outputs, target).abs().sum() == 0
    r2, mae = r2_and_mae(outputs.squeeze(-1), target)
    assert r2.item() == pytest.approx(1 - 2 / (8 / 3))
    assert mae.item() == pytest.approx(2 / 3)
    np.testing.assert_allclose(torch.stack(REGRESSION.scores(outputs, target, 1)), torch.stack([r2, mae]))


def test_the_guard_row_loss_is_the_brier_score_for_classes_and_the_squared_error_otherwise():
    # a certain right answer, a coin flip, a certain wrong answer
    logits = torch.tensor([[[30.0], [0.0], [-30.0]]])
    np.testing.assert_allclose(CLASSIFICATION.row_losses(logits, torch.tensor([1, 1, 1])),
                               [[0.0, 0.5, 2.0]], atol=1e-6)
    three = torch.log(torch.tensor([[[0.7, 0.2, 0.1]]]))
    np.testing.assert_allclose(CLASSIFICATION.row_losses(three, torch.tensor([0])),
                               [[0.3**2 + 0.2**2 + 0.1**2]], rtol=1e-5)
    values = torch.tensor([[[1.0], [2.0]]])
    np.testing.assert_allclose(REGRESSION.row_losses(values, torch.tensor([0.0, 0.0])), [[1.0, 4.0]])


def test_the_best_epoch_and_the_guard_follow_the_task():
    assert CLASSIFICATION.ranked_scores("f1") == ("f1", "accuracy")
    assert CLASSIFICATION.ranked_scores("accuracy") == ("accuracy", "f1")
    assert REGRESSION.ranked_scores("f1") == ("r2", "mae") and "mae" in REGRESSION.lower_is_better
    assert [t.guard_score for t in TASKS.values()] == ["f1", "r2", "reconstruction_r2"]
    assert [t.n_outputs(2) for t in TASKS.values()] == [1, 1, 1]
    assert CLASSIFICATION.n_outputs(5) == 5
    assert [(t.has_target, t.has_classes) for t in TASKS.values()] == [
        (True, True), (True, False), (False, False)]


def test_a_split_stratifies_on_the_classes_on_quantile_bins_or_on_nothing():
    y = np.array([0, 1, 1, 0, 2])
    np.testing.assert_array_equal(CLASSIFICATION.strata(y), y)
    values = np.linspace(0.0, 1.0, 200)
    bins = REGRESSION.strata(values, val_size=0.2, test_size=0.2)
    assert sorted(np.unique(bins)) == list(range(10)) and np.all(np.diff(bins) >= 0)
    assert len(np.unique(REGRESSION.strata(values[:30], val_size=0.2, test_size=0.2))) == 3
    assert UNSUPERVISED.strata(None) is None and REGRESSION.strata(None) is None


def test_a_task_is_one_object_by_name_also_after_pickling_and_in_the_config():
    assert get_task("regression") is REGRESSION and get_task(REGRESSION) is REGRESSION
    assert pickle.loads(pickle.dumps(UNSUPERVISED)) is UNSUPERVISED
    assert copy.deepcopy(CLASSIFICATION) is CLASSIFICATION
    with pytest.raises(ValueError, match="task must be one of classification, regression, unsupervised"):
        get_task("ranking")
    config = VAECConfig(n_inputs=3, n_classes=1, task="regression")
    assert config.task is REGRESSION and config.model_dump(mode="json")["task"] == "regression"
    assert VAECConfig(n_inputs=3, n_classes=1, task=REGRESSION) == config
