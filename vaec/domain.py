"""The domain of validity of a model: where its training rows sit in the latent space (Gaussians
of the sampled z and of z_mean) and how well it reconstructs them, and scores of new rows against
both. Nothing here knows the network: ``VAEC`` encodes the rows, and which rows define the domain
is the caller's choice (training does not fit it by itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

DEFAULT_N_DRAWS = 10
# Larger training sets keep this many evenly spaced quantiles of their reconstruction errors.
MAX_STORED_ERRORS = 2000


def _points(z: Any, latent_dim: int | None = None) -> np.ndarray:
    array = np.asarray(z, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"z must be 2-dimensional (rows, latent_dim), got {array.ndim}-D")
    if latent_dim is not None and array.shape[1] != latent_dim:
        raise ValueError(f"z has {array.shape[1]} columns but the fit has {latent_dim}")
    if not np.isfinite(array).all():
        raise ValueError("z holds NaN or infinite values")
    return array


@dataclass(frozen=True)
class IsotropicGaussian:
    """A Gaussian ``N(center, sigma² I)`` with one scalar sigma for every latent dimension.

    :meth:`fit` takes the points' mean and, as ``sigma²``, the mean over dimensions of their
    variances (``ddof=1``): unbiased for a common variance of independent dimensions.
    """

    center: np.ndarray  # (latent_dim,)
    sigma: float  # the common standard deviation
    n_samples: int  # the points the fit used

    @classmethod
    def fit(cls, z: Any) -> IsotropicGaussian:
        """Fit to points ``z`` of shape ``(rows, latent_dim)``, at least two rows."""
        points = _points(z)
        if len(points) < 2:
            raise ValueError(f"z needs at least 2 rows to estimate sigma, got {len(points)}")
        sigma = float(np.sqrt(points.var(axis=0, ddof=1).mean()))
        if not sigma > 0:
            raise ValueError("z has zero spread: sigma cannot be estimated")
        return cls(points.mean(axis=0), sigma, len(points))

    @property
    def latent_dim(self) -> int:
        return len(self.center)

    def distance(self, z: Any) -> np.ndarray:
        """Euclidean distance of every row from the centre, in sigma units: ``(rows,)``."""
        return np.linalg.norm(_points(z, self.latent_dim) - self.center, axis=1) / self.sigma

    def tail_probability(self, z: Any) -> np.ndarray:
        """Probability that a draw of the Gaussian lies at least as far out as each row,
        ``chi2.sf(distance², latent_dim)``: 3 sigma is ordinary in 8 dimensions (~0.26), rare in
        one (~0.003)."""
        return stats.chi2.sf(self.distance(z) ** 2, df=self.latent_dim)

    def within_fraction(self, n_sigma: float) -> float:
        """Share of the Gaussian's own draws that lie within ``n_sigma``: ``chi2.cdf(n², D)``."""
        return float(stats.chi2.cdf(n_sigma**2, df=self.latent_dim))


@dataclass(frozen=True)
class DiagonalGaussian:
    """A Gaussian with a diagonal covariance, and p-values of new points against it.

    A new coordinate ``x`` is one fresh observation against a sample of ``n`` with estimated mean
    ``m`` and deviation ``s``: the prediction-interval ``t = (x - m) / (s * sqrt(1 + 1/n))``
    follows Student's t with ``n - 1`` degrees of freedom; the p-value is two-sided. The aggregate
    confidence is Bonferroni on the smallest, ``min(1, D * min_d p_d)``: valid under any
    dependence between the dimensions (Fisher's method would not be), and it fires when a point is
    far out in a single dimension.
    """

    mean: np.ndarray  # per dimension, (latent_dim,)
    std: np.ndarray  # per dimension (ddof=1), (latent_dim,)
    n_samples: int  # the points the fit used

    @classmethod
    def fit(cls, z: Any) -> DiagonalGaussian:
        """Fit to points ``z`` of shape ``(rows, latent_dim)``, at least three rows."""
        points = _points(z)
        if len(points) < 3:
            raise ValueError(f"z needs at least 3 rows for a t-test, got {len(points)}")
        std = points.std(axis=0, ddof=1)
        flat = np.where(~(std > 0))[0].tolist()
        if flat:
            raise ValueError(f"z has zero spread in latent dimension(s) {flat}")
        return cls(points.mean(axis=0), std, len(points))

    @property
    def latent_dim(self) -> int:
        return len(self.mean)

    def p_values(self, z: Any) -> np.ndarray:
        """Two-sided prediction-interval p-value of every coordinate, ``(rows, latent_dim)``."""
        points = _points(z, self.latent_dim)
        t = (points - self.mean) / (self.std * np.sqrt(1.0 + 1.0 / self.n_samples))
        return 2.0 * stats.t.sf(np.abs(t), df=self.n_samples - 1)

    def confidence(self, z: Any) -> np.ndarray:
        """Bonferroni-combined p-value ``min(1, D * min_d p_d)`` of every row, ``(rows,)``."""
        return np.minimum(1.0, self.latent_dim * self.p_values(z).min(axis=1))


@dataclass(frozen=True)
class LatentDomain:
    """Both fits of one model's training latent points, and how the sampled z was drawn."""

    isotropic: IsotropicGaussian  # of the sampled z, n_draws draws per training row seeded by seed
    diagonal: DiagonalGaussian  # of z_mean (sampling off)
    n_draws: int
    seed: int
    replica: int = 0  # the model replica whose encoder produced the points

    @classmethod
    def fit(cls, z_mean: Any, z_log_var: Any, *, n_draws: int = DEFAULT_N_DRAWS, seed: int = 0,
            replica: int = 0) -> LatentDomain:
        """Fit the isotropic Gaussian to ``n_draws`` draws of z per row (seeded by ``seed``) of the
        rows' encoding ``(z_mean, z_log_var)``, the diagonal one to z_mean."""
        for name, value, low in (("n_draws", n_draws, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        z_mean = np.asarray(z_mean, dtype=np.float64)
        eps = np.random.default_rng(seed).standard_normal((n_draws, *z_mean.shape))
        z_sampled = z_mean + np.exp(0.5 * np.asarray(z_log_var, dtype=np.float64)) * eps
        isotropic = IsotropicGaussian.fit(z_sampled.reshape(-1, z_mean.shape[1]))
        return cls(isotropic, DiagonalGaussian.fit(z_mean), n_draws, seed, replica)

    def scores(self, z_mean: np.ndarray, n_sigma: float = 3.0) -> dict[str, np.ndarray]:
        """The domain's scores of every row's ``z_mean``: ``sigma_distance``, ``tail_probability``,
        ``within_1_sigma``, ``within_2_sigma``, ``within_{n_sigma}_sigma``, ``p_value_z0`` ... and
        ``confidence``."""
        if isinstance(n_sigma, bool) or not isinstance(n_sigma, int | float):
            raise ValueError(f"n_sigma must be a positive number, got {n_sigma!r}")
        if not (math.isfinite(n_sigma) and n_sigma > 0):
            raise ValueError(f"n_sigma must be a positive finite number, got {n_sigma!r}")
        distance = self.isotropic.distance(z_mean)
        columns = {"sigma_distance": distance, "tail_probability": self.isotropic.tail_probability(z_mean)}
        for level in sorted({1.0, 2.0, float(n_sigma)}):
            columns[f"within_{level:g}_sigma"] = distance <= level  # within_3_sigma, within_2.5_sigma
        p_values = self.diagonal.p_values(z_mean)
        columns |= {f"p_value_z{d}": p_values[:, d] for d in range(p_values.shape[1])}
        return columns | {"confidence": self.diagonal.confidence(z_mean)}


@dataclass(frozen=True)
class ReconstructionCheck:
    """Empirical distribution of the training rows' reconstruction errors (mean squared over
    the channels, sampling off), and empirical p-values of new rows against it.
    """

    errors: np.ndarray  # the training errors in ascending order (or evenly spaced quantiles of them)
    n_samples: int  # the training rows behind errors

    @classmethod
    def fit(cls, errors: Any) -> ReconstructionCheck:
        """Keep the (sorted) per-row errors of the training rows."""
        values = np.sort(np.asarray(errors, dtype=np.float64).ravel())
        if len(values) < 2:
            raise ValueError(f"need the errors of at least 2 training rows, got {len(values)}")
        if not np.isfinite(values).all():
            raise ValueError("training reconstruction errors hold NaN or infinite values")
        n_samples = len(values)
        if n_samples > MAX_STORED_ERRORS:
            values = np.quantile(values, np.linspace(0.0, 1.0, MAX_STORED_ERRORS))
        return cls(values, n_samples)

    def p_values(self, errors: Any) -> np.ndarray:
        """``(1 + #{training errors >= e}) / (m + 1)`` of each error ``e``."""
        values = np.asarray(errors, dtype=np.float64).ravel()
        at_least = len(self.errors) - np.searchsorted(self.errors, values, side="left")
        return (1.0 + at_least) / (len(self.errors) + 1.0)


def row_errors(X: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error of every row, ``(rows,)``."""
    return np.mean((np.asarray(reconstruction, np.float64) - np.asarray(X, np.float64)) ** 2, axis=1)
