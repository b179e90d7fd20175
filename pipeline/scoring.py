"""Per-channel scores of a round's trained models, on the validation rows.

* reconstruction R²: how well each channel comes back out of the neck;
* shared R²: how well it comes back when its own input is held at its mean, i.e. from the
  other channels (redundancy, the structure the neck shares);
* importance: how much the head's loss rises when the channel is held at its mean.
"""

from __future__ import annotations

import numpy as np
import torch

from vaec import VAEC
from vaec.importance import ablation_scores

# Below this validation variance (the data are standardised on the training rows, where every
# channel has variance 1) a channel is as good as constant on the validation rows: its R² is
# not defined, and it gets 0 (no better than its mean), never a free pass.
MIN_VARIANCE = 1e-6


def channel_r2(model: VAEC, X: np.ndarray) -> np.ndarray:
    """R² of every channel for every replica: ``1 - MSE_c / Var_c`` with sampling off.

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
        A channel (nearly) constant on these rows scores 0.
    """
    X = np.asarray(X, dtype=np.float64)
    reconstruction = model.reconstruct(X, replica=None).astype(np.float64)
    return _r2(((reconstruction - X[None]) ** 2).mean(axis=1), X)


def _r2(mse: np.ndarray, X: np.ndarray) -> np.ndarray:
    variance = X.var(axis=0)
    defined = variance > MIN_VARIANCE
    return np.where(defined[None], 1.0 - mse / np.where(defined, variance, 1.0)[None], 0.0)


def ablation_channel_scores(
    model: VAEC, X: np.ndarray, y: np.ndarray | None, units: list[list[int]] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance, its standard error and shared R² of every ablation unit for every replica,
    each ``(replicas, units)``; ``units`` lists the channel positions held at the mean together
    (``None``: every channel alone).

    * importance: the rise of the head's cross-entropy (nats per row, sampling off) when the
      unit is held at its training mean, and its standard error over the rows;
    * shared R²: ``1 - MSE / Var`` of the decoder's output for the unit's channels held at
      their means (both averaged over its channels), i.e. what the neck carries of them from the
      other channels (0 for channels nearly constant on these rows).

    See :func:`vaec.importance.ablation_scores`.
    """
    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    target = model.class_indices(y) if y is not None else torch.zeros(len(x), device=model.device)
    scores = ablation_scores(model.net, x, target, units)
    importance = scores.importance.double().cpu().numpy()
    importance_se = scores.importance_se.double().cpu().numpy()
    own_mse = scores.own_reconstruction_mse.double().cpu().numpy()
    variance = np.asarray(X, dtype=np.float64).var(axis=0)
    if units is not None:
        variance = np.array([variance[u].mean() for u in units])
    defined = variance > MIN_VARIANCE
    shared = np.where(defined[None], 1.0 - own_mse / np.where(defined, variance, 1.0)[None], 0.0)
    return importance, importance_se, shared


def row_losses(model: VAEC, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The head's Brier score on every row for every replica, ``(replicas, rows)``, sampling
    off: ``sum_k (p_k - [y = k])²`` over the classes (0 for a certain right answer, 0.5 for a
    coin flip between two classes, 2 for a certain wrong one), or the squared error of the
    standardised regression target.

    A proper score bounded per row: the round models are fitted hard and overconfident on a
    few rows (their held-out log-loss can exceed a coin flip's while their accuracy beats a
    logistic regression's), and a log-loss would measure how confidently they are wrong on
    those rows rather than what the channels carry.
    """
    x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=model.device)
    target = model.class_indices(y)
    with torch.no_grad():
        model.net.eval()
        logits = model.net(x, decode=False).logits
        return model.config.task.row_losses(logits, target).double().cpu().numpy()
