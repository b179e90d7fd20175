"""Latent-domain confidence of predictions, on arrays.

:func:`fit_latent_domain` fits the two Gaussians of :mod:`vaec.domain` to the encoding of the
training rows; :func:`confidence_frame` scores new rows against them next to the prediction.
Nothing here knows the network: ``VAEC.fit_latent_domain`` and ``VAEC.predict_with_confidence``
encode the rows and call these, and keep the fitted :class:`~vaec.domain.LatentDomain` as the
model's ``latent_domain_``, saved and loaded with it.

Training does not fit the domain by itself: which rows define it (the training split, or training
plus validation) is the caller's choice, and pruning trials would pay for a fit nobody reads.
Retraining a model discards its fitted domain, because the encoder it described has changed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from vaec.domain import LatentDomain

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
    z_mean: Any,
    z_log_var: Any,
    *,
    n_draws: int = DEFAULT_N_DRAWS,
    seed: int = 0,
    replica: int = 0,
) -> LatentDomain:
    """Fit the latent domain of validity to the encoding of the training rows.

    The isotropic Gaussian is fitted to ``n_draws`` reparameterised draws
    ``z = z_mean + exp(0.5 * z_log_var) * eps`` per row (seeded by ``seed``), the diagonal
    Gaussian to z_mean.

    Parameters
    ----------
    z_mean, z_log_var : array-like of shape (rows, latent_dim)
        The encoder's output for the rows that define the domain, normally the training split.
    n_draws : int, default=10
        Sampled z per row for the isotropic fit.
    seed : int, default=0
        Seed of the draws.
    replica : int, default=0
        Which replica's encoder produced the points (recorded with the fit).

    Returns
    -------
    LatentDomain
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    z_mean = np.asarray(z_mean, dtype=np.float64)
    z_log_var = np.asarray(z_log_var, dtype=np.float64)
    eps = np.random.default_rng(seed).standard_normal((n_draws, *z_mean.shape))
    z_sampled = (z_mean + np.exp(0.5 * z_log_var) * eps).reshape(-1, z_mean.shape[1])
    return LatentDomain.fit(z_sampled, z_mean, n_draws=n_draws, seed=seed, replica=replica)


def confidence_frame(
    z_mean: np.ndarray,
    domain: LatentDomain,
    *,
    n_sigma: float = 3.0,
    index: Any = None,
    predicted: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Latent-domain scores of every row, after its prediction columns.

    Parameters
    ----------
    z_mean : ndarray of shape (rows, latent_dim)
        Where the head saw each row (sampling off).
    domain : LatentDomain
        The fitted domain of the training rows.
    n_sigma : float, default=3.0
        The N of the ``within_N_sigma`` flag.
    index : index or None
        Index of the returned frame (the input's, when it was a DataFrame).
    predicted : dict or None
        The prediction columns that come first (``class`` and ``probability``, or
        ``prediction``).

    Returns
    -------
    DataFrame
        The ``predicted`` columns, then ``sigma_distance`` (of z_mean from the isotropic
        centre), ``tail_probability`` (chi-square calibration of that distance, see
        :meth:`~vaec.domain.IsotropicGaussian.tail_probability`), ``within_1_sigma``,
        ``within_2_sigma``, ``within_{n_sigma}_sigma``, ``p_value_z0`` ... (per latent
        dimension, see :class:`~vaec.domain.DiagonalGaussian`) and ``confidence`` (their
        Bonferroni combination).
    """
    n_sigma = check_n_sigma(n_sigma)
    distance = domain.isotropic.distance(z_mean)
    columns: dict[str, Any] = dict(predicted or {})
    columns["sigma_distance"] = distance
    columns["tail_probability"] = domain.isotropic.tail_probability(z_mean)
    for level in sorted({1.0, 2.0, n_sigma}):
        columns[within_column(level)] = distance <= level
    p_values = domain.diagonal.p_values(z_mean)
    for d in range(p_values.shape[1]):
        columns[f"p_value_z{d}"] = p_values[:, d]
    columns["confidence"] = domain.diagonal.confidence(z_mean)
    return pd.DataFrame(columns, index=index)
