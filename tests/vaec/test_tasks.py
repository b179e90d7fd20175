"""The model for each task: regression predicts values, the unsupervised model only
reconstructs, and both keep what classification gives (history, save/load, confidence)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaec import VAEC, InputError, VAECConfig
from vaec.config import ConfigError
from vaec.tasks import prediction_losses, r2_and_mae


def linear_table(n_rows: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 5)).astype(np.float32)
    y = (2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n_rows)).astype(np.float32)
    return X, y


def test_the_regression_head_learns_a_linear_target():
    X, y = linear_table()
    model = VAEC(VAECConfig(n_inputs=5, n_classes=1, task="regression", latent_dim=3, epochs=200,
                            seed=0))
    result = model.fit_var_mlp_classifier(X[:300], y[:300], X[300:], y[300:])
    predicted = model.predict(X[300:])
    assert predicted.dtype.kind == "f" and predicted.shape == (100,)
    r2 = 1 - ((predicted - y[300:]) ** 2).sum() / ((y[300:] - y[300:].mean()) ** 2).sum()
    assert r2 > 0.9
    assert {"val_r2", "val_mae", "train_r2_sampled"} <= set(result.history.frame.columns)
    assert result.history.best_row()["val_r2"] == pytest.approx(result.history.frame["val_r2"].max())
    with pytest.raises(InputError, match="classification"):
        model.predict_proba(X)


def test_a_regression_model_round_trips_and_predicts_with_confidence(tmp_path):
    X, y = linear_table(200)
    model = VAEC(VAECConfig(n_inputs=5, n_classes=1, task="regression", epochs=30))
    model.fit_all_parts(X, y)
    model.fit_latent_domain(X)
    loaded = VAEC.load(model.save(tmp_path / "model"))
    frame = loaded.predict_with_confidence(X[:10])
    assert list(frame.columns[:2]) == ["prediction", "sigma_distance"]
    np.testing.assert_allclose(frame["prediction"], model.predict(X[:10]), rtol=1e-5)


def test_an_unsupervised_model_reconstructs_without_a_target():
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(300, 1))
    X = (factor @ rng.normal(size=(1, 6)) + 0.05 * rng.normal(size=(300, 6))).astype(np.float32)
    model = VAEC(VAECConfig(n_inputs=6, n_classes=1, task="unsupervised", latent_dim=1,
                            epochs=150, seed=0))
    result = model.fit_autoencoder(X[:240], None, X[240:], None)
    frame = result.history.for_replica()
    assert frame["val_reconstruction_r2"].iloc[-1] > 0.8 > frame["val_reconstruction_r2"].iloc[0]
    assert frame["train_prediction_loss"].abs().max() == 0.0
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
    np.testing.assert_allclose(prediction_losses(outputs, target, "regression"), [[0.0, 1.0, 1.0]])
    assert prediction_losses(outputs, target, "unsupervised").abs().sum() == 0
    r2, mae = r2_and_mae(outputs.squeeze(-1), target)
    assert r2.item() == pytest.approx(1 - 2 / (8 / 3))
    assert mae.item() == pytest.approx(2 / 3)
