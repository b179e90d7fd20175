"""Small data and configs shared by the vaec tests."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from pipeline.data.split import stratified_indices
from vaec.config import VAECConfig


@pytest.fixture(scope="session")
def cancer():
    """breast_cancer, standardised on a stratified 70/30 split (seed 0)."""
    X, y = load_breast_cancer(return_X_y=True)
    train, val, _ = stratified_indices(y, val_size=0.3, test_size=0.0, seed=0)
    X_train, X_val, y_train, y_val = X[train], X[val], y[train], y[val]
    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train).astype(np.float32), y_train,
        scaler.transform(X_val).astype(np.float32), y_val,
    )


@pytest.fixture
def small_config():
    """A small, quick architecture for breast_cancer, with the light KL weight the tests'
    thresholds were set with."""
    return VAECConfig(
        n_inputs=30, n_classes=2, latent_dim=2, encoder_widths=(16,), head_widths=(8,),
        epochs=40, learning_rate=5e-3, kl_weight=1e-3, seed=0,
    )
