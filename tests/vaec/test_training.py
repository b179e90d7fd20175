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
from vaec.history import History, history_columns, snapshot_epochs


def test_best_epoch_weights_are_restored(cancer, small_config):
    X, y, X_val, y_val = cancer
    config = small_config.replace(epochs=80, learning_rate=2e-2)
    model = VAEC(config)
    history = model.fit_all_parts(X, y, X_val, y_val).history
    columns = history.for_replica(0)
    best = history.best_row()
    assert best["val_f1"] == columns["val_f1"].max()
    assert best["val_f1"] == columns["val_f1"][history.epochs == history.best_epoch][0]
    assert f1_score(y_val, model.predict(X_val)) == pytest.approx(best["val_f1"], abs=1e-6)
    assert accuracy_score(y_val, model.predict(X_val)) == pytest.approx(best["val_accuracy"], abs=1e-6)
    last = VAEC(config.replace(restore_best=False))
    last_columns = last.fit_all_parts(X, y, X_val, y_val).history.for_replica(0)
    assert accuracy_score(y_val, last.predict(X_val)) == pytest.approx(
        last_columns["val_accuracy"][-1], abs=1e-6
    )


def test_same_seed_gives_the_identical_history(cancer, small_config):
    X, y, X_val, y_val = cancer
    config = small_config.replace(batch_size=64)
    a = VAEC(config).fit_all_parts(X, y, X_val, y_val).history
    b = VAEC(config).fit_all_parts(X, y, X_val, y_val).history
    np.testing.assert_array_equal(a.values, b.values)
    assert a.best_epochs == b.best_epochs
    c = VAEC(config.replace(seed=1)).fit_all_parts(X, y, X_val, y_val).history
    assert not np.array_equal(a.values, c.values)


def test_replica_trains_like_a_lone_model_with_its_seed(cancer, small_config):
    X, y, X_val, y_val = cancer
    together = VAEC(small_config, n_replicas=3)
    history = together.fit_all_parts(X, y, X_val, y_val).history
    alone = VAEC(small_config.replace(seed=small_config.seed + 2))
    alone_history = alone.fit_all_parts(X, y, X_val, y_val).history
    np.testing.assert_allclose(history.values[:, 2], alone_history.values[:, 0], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(
        together.predict_proba(X_val, replica=2), alone.predict_proba(X_val), atol=1e-3
    )
    assert together.predict_proba(X_val, replica=None).shape == (3, len(X_val), 2)


def test_history_holds_every_metric_and_writes_csv(cancer, small_config, tmp_path):
    X, y, X_val, y_val = cancer
    result = VAEC(small_config).fit_var_mlp_classifier(X, y, X_val, y_val)
    history = result.history
    assert history.columns == history_columns()
    assert history.values.shape == (small_config.epochs, 1, len(history_columns()))
    np.testing.assert_array_equal(history.epochs, np.arange(1, small_config.epochs + 1))
    unused = [i for i, c in enumerate(history.columns) if "reconstruction" in c]
    assert np.isfinite(np.delete(history.values, unused, axis=2)).all()
    assert (history.for_replica(0)["val_accuracy"][-10:] > 0.85).all()
    back = pd.read_csv(history.to_csv(tmp_path / "history.csv"))
    assert list(back.columns) == ["epoch", "replica", *history_columns()]
    np.testing.assert_array_equal(back["epoch"], history.epochs)
    np.testing.assert_array_equal(back[history.columns].to_numpy(), history.values[:, 0])


def test_the_history_csv_has_a_row_per_epoch_and_replica_and_empty_nan_fields(tmp_path):
    values = np.arange(2 * 3 * 16, dtype=np.float64).reshape(2, 3, 16) / 8
    values[:, :, 8:] = np.nan  # no validation split
    history = History(values, [10, 20, 10], epochs=np.array([10, 20]))
    lines = history.to_csv(tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "replica", "train_total_loss"]
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["10", "0"], ["10", "1"], ["10", "2"], ["20", "0"], ["20", "1"], ["20", "2"]]
    assert lines[2].split(",")[2:4] == ["2.0", "2.125"] and lines[2].endswith(",,,,,,,,")
    assert history.best_row(1)["train_total_loss"] == values[1, 1, 0]
    with pytest.raises(ValueError, match="columns"):
        History(values[:, :, :10], [10, 20, 10], epochs=np.array([10, 20]))


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
    config = VAECConfig(n_inputs=64, n_classes=10, latent_dim=8, epochs=60, learning_rate=5e-3,
                        kl_weight=1e-3)
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
    whole_history = whole.fit_all_parts(X, y, X_val, y_val).history
    subset = VAEC(config.replace(train_metrics_rows=50))
    subset_history = subset.fit_all_parts(X, y, X_val, y_val).history
    val = [i for i, c in enumerate(whole_history.columns) if c.startswith("val_")]
    train = [i for i, c in enumerate(whole_history.columns) if c.startswith("train_")]
    np.testing.assert_array_equal(whole_history.values[:, :, val], subset_history.values[:, :, val])
    np.testing.assert_array_equal(whole.predict_proba(X_val), subset.predict_proba(X_val))
    # the training curves are an estimate on 50 rows: close, finite, not the same numbers
    assert np.isfinite(subset_history.values[:, :, train]).all()
    assert not np.array_equal(whole_history.values[:, :, train], subset_history.values[:, :, train])
    accuracy = whole_history.columns.index("train_accuracy")
    difference = subset_history.values[:, 0, accuracy] - whole_history.values[:, 0, accuracy]
    assert np.abs(difference).max() < 0.2
    with pytest.raises(ValueError, match="train_metrics_rows"):
        config.replace(train_metrics_rows=0)


def test_a_replica_trained_on_its_rows_of_a_mask_trains_like_a_lone_model_on_those_rows(
        cancer, small_config):
    # cross-fitting: replica k trains without fold k and validates on it, all in one pass
    # (a deterministic strategy: the noise of a sampled z would differ with the row count)
    X, y, _, _ = cancer
    folds = np.arange(len(X)) % 3
    train = np.stack([folds != k for k in range(3)]).astype(np.float32)
    together = VAEC(small_config, n_replicas=3)
    history = together.fit("mlp_classifier", X, y, X, y, row_weights=train,
                           val_row_weights=1.0 - train).history
    alone = VAEC(small_config.replace(seed=small_config.seed + 1))
    alone_history = alone.fit("mlp_classifier", X[folds != 1], y[folds != 1], X[folds == 1],
                              y[folds == 1]).history
    # what sampling off measures (the sampled scores and the reconstruction draw noise per row)
    val = ["val_total_loss", "val_kl_loss", "val_prediction_loss", "val_accuracy", "val_f1"]
    together_val, alone_val = history.for_replica(1), alone_history.for_replica(0)
    np.testing.assert_allclose(np.column_stack([together_val[c] for c in val]),
                               np.column_stack([alone_val[c] for c in val]), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(together.predict_proba(X, replica=1), alone.predict_proba(X),
                               atol=1e-3)


def test_a_diverged_training_is_one_error_saying_what_to_lower(cancer, small_config):
    from vaec.training import TrainingDivergedError

    X, y, X_val, y_val = cancer
    model = VAEC(small_config.replace(epochs=20, learning_rate=1e6))
    with pytest.raises(TrainingDivergedError, match=r"lower learning_rate, now 1e\+06") as info:
        model.fit_all_parts(X, y, X_val, y_val)
    assert "NaN or infinite" in str(info.value) and "\n" not in str(info.value)
