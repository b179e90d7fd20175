"""Per-channel reconstruction scores: how well each input channel comes back out of the neck."""

from __future__ import annotations

import numpy as np

from vaec import VAEC


def channel_r2(model: VAEC, X: np.ndarray) -> np.ndarray:
    """R^2 of every channel for every replica: ``1 - MSE_c / Var_c`` with sampling off.

    Parameters
    ----------
    model : VAEC
        A trained model (any number of replicas).
    X : ndarray of shape (rows, channels)
        Scaled data the model did not train on (the validation split).

    Returns
    -------
    ndarray of shape (replicas, channels)
        1 is a perfect reconstruction, 0 no better than the channel's mean, negative worse.
    """
    X = np.asarray(X, dtype=np.float64)
    reconstruction = model.reconstruct(X, replica=None).astype(np.float64)
    mse = ((reconstruction - X[None]) ** 2).mean(axis=1)
    variance = X.var(axis=0)
    # a channel constant on the validation rows cannot be scored by R^2; its error alone says
    safe = np.where(variance > 0, variance, 1.0)
    return 1.0 - mse / safe[None]
