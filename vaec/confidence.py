"""Latent-domain confidence of a trained model's predictions.

:func:`fit_latent_domain` encodes the training rows and fits the two Gaussians of
:mod:`vaec.domain`; :func:`confidence_frame` scores new rows against them next to the prediction.
``VAEC.fit_latent_domain`` and ``VAEC.predict_with_confidence`` are the entry points people use;
they keep the fitted statistics JSON-ready in ``VAEC.extras["latent_domain"]`` so that they are
saved and loaded with the model.

Training does not fit the domain by itself: which rows define it (the training split, or training
plus validation) is the caller's choice, and pruning trials would pay for a fit nobody reads.
Retraining a model discards its fitted domain, because the encoder it described has changed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vaec.domain import LatentDomain

if TYPE_CHECKING:
    from vaec.classifier import VAEC

DEFAULT_N_DRAWS = 10


def within_column(n_sigma: float) -> str:
    """Column name of the ``n_sigma`` flag: ``within_3_sigma``, ``within_2.5_sigma``."""
    return f"within_{n_sigma:g}_sigma"


def check_n_sigma(n_sigma: float) -> float:
    """``n_sigma`` as a float, or a one-line error naming it."""
    if isinstance(n_sigma, bool) or not isinstance(n_sigma, (int, float)):
        raise ValueError(f"n_sigma must be a positive number, got {n_sigma!r}")
    if not (math.isfinite(n_sigma) and n_sigma > 0):
        raise ValueError(f"n_sigma must be a positive finite number, got {n_sigma!r}")
    return float(n_sigma)


def fit_latent_domain(
    model: VAEC,
    X: Any,
    *,
    n_draws: int = DEFAULT_N_DRAWS,
    seed: int | None = None,
    replica: int = 0,
) -> LatentDomain:
    """Fit the latent domain of one replica of ``model`` to its training rows ``X``.

    The isotropic Gaussian is fitted to ``n_draws`` reparameterised draws
    ``z = z_mean + exp(0.5 * z_log_var) * eps`` per row (seeded by ``seed``, default the
    config's seed), the diagonal Gaussian to z_mean.

    Parameters
    ----------
    model : VAEC
        A trained model.
    X : array-like of shape (rows, n_inputs)
        The rows that define the domain, normally the training split.
    n_draws : int, default=10
        Sampled z per row for the isotropic fit.
    seed : int or None, default=None
        Seed of the draws; ``None`` uses ``model.config.seed``.
    replica : int, default=0
        Which replica's encoder to describe.

    Returns
    -------
    LatentDomain
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    seed = model.config.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    if model.classes_ is None:
        raise RuntimeError("the model has not been trained yet: train it before fit_latent_domain")
    z_mean, z_log_var = model.encode(X, replica=replica)
    z_mean, z_log_var = z_mean.astype(np.float64), z_log_var.astype(np.float64)
    eps = np.random.default_rng(seed).standard_normal((n_draws, *z_mean.shape))
    z_sampled = (z_mean + np.exp(0.5 * z_log_var) * eps).reshape(-1, z_mean.shape[1])
    return LatentDomain.fit(z_sampled, z_mean, n_draws=n_draws, seed=seed, replica=replica)


def confidence_frame(
    model: VAEC, X: Any, domain: LatentDomain, *, n_sigma: float = 3.0
) -> pd.DataFrame:
    """Predictions of ``model`` on ``X`` with their latent-domain scores, one row per input.

    Columns: ``class``, ``probability`` (of that class), ``sigma_distance`` (of z_mean from the
    isotropic centre), ``tail_probability`` (chi-square calibration of that distance, see
    :meth:`~vaec.domain.IsotropicGaussian.tail_probability`), ``within_1_sigma``,
    ``within_2_sigma``, ``within_{n_sigma}_sigma``, ``p_value_z0`` ... (per latent dimension, see
    :class:`~vaec.domain.DiagonalGaussian`) and ``confidence`` (their Bonferroni combination).
    A DataFrame ``X`` keeps its index.
    """
    n_sigma = check_n_sigma(n_sigma)
    if model.classes_ is None:
        raise RuntimeError("the model has not been trained yet")
    proba, z_mean = model.classify_with_z(X, replica=domain.replica, sample=False)
    distance = domain.isotropic.distance(z_mean)
    columns: dict[str, Any] = {
        "class": model.classes_[proba.argmax(axis=1)],
        "probability": proba.max(axis=1).astype(np.float64),
        "sigma_distance": distance,
        "tail_probability": domain.isotropic.tail_probability(z_mean),
    }
    for level in sorted({1.0, 2.0, n_sigma}):
        columns[within_column(level)] = distance <= level
    p_values = domain.diagonal.p_values(z_mean)
    for d in range(p_values.shape[1]):
        columns[f"p_value_z{d}"] = p_values[:, d]
    columns["confidence"] = domain.diagonal.confidence(z_mean)
    index = X.index if isinstance(X, (pd.DataFrame, pd.Series)) else None
    return pd.DataFrame(columns, index=index)
