"""What training records: history, best epoch, snapshots, determinism, replicas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

from pipeline.data.split import stratified_indices
from vaec.classifier import VAEC
from vaec.config import VAECConfig
from vaec.history import history_columns
from vaec.snapshots import snapshot_epochs


def test_best_epoch_weights_are_restored(cancer, small_config):
    X, y, X_val, y_val = cancer
    config = small_config.replace(epochs=80, learning_rate=2e-2)
    model = VAEC(config)
    history = model.fit_all_parts(X, y, X_val, y_val).history
    frame = history.for_replica(0)
    best = history.best_epoch
    assert frame["val_f1"].loc[best] == frame["val_f1"].max()
    assert f1_score(y_val, model.predict(X_val)) == pytest.approx(frame["val_f1"].loc[best], abs=1e-6)
    assert accuracy_score(y_val, model.predict(X_val)) == pytest.approx(
        frame["val_accuracy"].loc[best], abs=1e-6
    )
    last = VAEC(config.replace(restore_best=False))
    last_frame = last.fit_all_parts(X, y, X_val, y_val).history.for_replica(0)
    assert accuracy_score(y_val, last.predict(X_val)) == pytest.approx(
        last_frame["val_accuracy"].iloc[-1], abs=1e-6
    )


def test_same_seed_gives_the_identical_history(cancer, small_config):
    X, y, X_val, y_val = cancer
    config = small_config.replace(batch_size=64)
    a = VAEC(config).fit_all_parts(X, y, X_val, y_val).history.frame
    b = VAEC(config).fit_all_parts(X, y, X_val, y_val).history.frame
    pd.testing.assert_frame_equal(a, b)
    c = VAEC(config.replace(seed=1)).fit_all_parts(X, y, X_val, y_val).history.frame
    assert not a.equals(c)


def test_replica_trains_like_a_lone_model_with_its_seed(cancer, small_config):
    X, y, X_val, y_val = cancer
    together = VAEC(small_config, n_replicas=3)
    history = together.fit_all_parts(X, y, X_val, y_val).history
    alone = VAEC(small_config.replace(seed=small_config.seed + 2))
    alone_frame = alone.fit_all_parts(X, y, X_val, y_val).history.for_replica(0)
    pd.testing.assert_frame_equal(history.for_replica(2), alone_frame, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(
        together.predict_proba(X_val, replica=2), alone.predict_proba(X_val), atol=1e-3
    )
    assert together.predict_proba(X_val, replica=None).shape == (3, len(X_val), 2)


def test_history_holds_every_metric_and_writes_csv(cancer, small_config, tmp_path):
    X, y, X_val, y_val = cancer
    result = VAEC(small_config).fit_var_mlp_classifier(X, y, X_val, y_val)
    frame = result.history.frame
    assert list(frame.columns) == ["epoch", "replica", *history_columns()]
    assert len(frame) == small_config.epochs
    assert frame[[c for c in history_columns() if "reconstruction" not in c]].notna().all().all()
    assert (frame["val_accuracy"].iloc[-10:] > 0.85).all()
    back = pd.read_csv(result.history.to_csv(tmp_path / "history.csv"))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_latent_snapshots_at_the_doubling_epochs():
    assert snapshot_epochs(20) == [8, 16, 20]
    assert snapshot_epochs(1000) == [8, 16, 32, 64, 128, 256, 512, 1000]
    assert snapshot_epochs(2500) == [8, 16, 32, 64, 128, 256, 512, 1000, 2000, 2500]


def test_snapshots_hold_sampled_and_mean_latents(cancer, small_config):
    X, y, X_val, y_val = cancer
    result = VAEC(small_config.replace(epochs=20)).fit_all_parts(X, y, X_val, y_val)
    assert [s.epoch for s in result.snapshots] == [8, 16, 20]
    last = result.snapshots[-1]
    assert last.train_z.shape == last.train_z_mean.shape == (1, len(X), 2)
    assert last.val_z_mean.shape == (1, len(X_val), 2)
    assert not np.array_equal(last.train_z, last.train_z_mean)


def test_early_stopping_ends_training(cancer, small_config):
    X, y, X_val, y_val = cancer
    result = VAEC(small_config.replace(epochs=400, early_stopping_patience=10)).fit_all_parts(
        X, y, X_val, y_val
    )
    assert result.epochs_run < 400
    assert result.epochs_run - result.history.best_epoch <= 10


def test_all_parts_learns_digits_with_many_classes():
    X, y = load_digits(return_X_y=True)
    train, val, _ = stratified_indices(y, val_size=0.3, test_size=0.0, seed=0)
    X_train, X_val, y_train, y_val = X[train], X[val], y[train], y[val]
    scaler = StandardScaler().fit(X_train)
    config = VAECConfig(n_inputs=64, n_classes=10, latent_dim=8, epochs=60, learning_rate=5e-3)
    model = VAEC(config)
    X_val = scaler.transform(X_val)
    result = model.fit_all_parts(scaler.transform(X_train), y_train, X_val, y_val)
    predicted = model.predict(X_val)
    assert accuracy_score(y_val, predicted) > 0.8  # chance is 0.1
    best = result.history.best_row()
    assert best["val_f1"] == pytest.approx(f1_score(y_val, predicted, average="macro"), abs=1e-6)


def test_training_metrics_on_a_subset_leave_the_training_and_the_validation_alone(
    cancer, small_config
):
    X, y, X_val, y_val = cancer
    config = small_config.replace(epochs=30)
    whole = VAEC(config)
    whole_history = whole.fit_all_parts(X, y, X_val, y_val).history.for_replica(0)
    subset = VAEC(config.replace(train_metrics_rows=50))
    subset_history = subset.fit_all_parts(X, y, X_val, y_val).history.for_replica(0)
    val = [c for c in whole_history.columns if c.startswith("val_")]
    train = [c for c in whole_history.columns if c.startswith("train_")]
    pd.testing.assert_frame_equal(whole_history[val], subset_history[val])
    np.testing.assert_array_equal(whole.predict_proba(X_val), subset.predict_proba(X_val))
    # the training curves are an estimate on 50 rows: close, finite, not the same numbers
    assert np.isfinite(subset_history[train].to_numpy()).all()
    assert not whole_history[train].equals(subset_history[train])
    assert (subset_history["train_accuracy"] - whole_history["train_accuracy"]).abs().max() < 0.2
    with pytest.raises(ValueError, match="train_metrics_rows"):
        config.replace(train_metrics_rows=0)
