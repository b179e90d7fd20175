"""Statistics of the latent domain of validity, on plain arrays of latent points.

Two Gaussians are fitted to the training data's latent points (the method's "suggested use of the
result"):

* :class:`IsotropicGaussian` - a centre and one scalar sigma, fitted to the *sampled* z. It tells
  how many sigmas an encoded point lies from the centre of the region the head was trained on.
* :class:`DiagonalGaussian` - a mean and a standard deviation per latent dimension, fitted to
  z_mean. It gives a p-value per dimension and one aggregate confidence.

Nothing here knows about the network: the functions take ``(rows, latent_dim)`` arrays, so they are
tested on synthetic data, and the fitted objects round-trip through JSON-ready dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

FORMAT_VERSION = 1


def _points(z: Any, name: str, latent_dim: int | None = None) -> np.ndarray:
    array = np.asarray(z, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (rows, latent_dim), got {array.ndim}-D")
    if latent_dim is not None and array.shape[1] != latent_dim:
        raise ValueError(f"{name} has {array.shape[1]} columns but the fit has {latent_dim}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


@dataclass(frozen=True)
class IsotropicGaussian:
    """A Gaussian ``N(center, sigma^2 I)`` with one scalar sigma for every latent dimension.

    Fitted by :meth:`fit`: ``center`` is the mean of the points and ``sigma^2`` the pooled
    per-dimension variance, ``sigma^2 = mean over dims of var_d`` (each ``var_d`` with ``ddof=1``),
    i.e. the unbiased estimate of a common variance when the dimensions are independent with equal
    spread. When they are not, sigma is the root-mean-square spread of the dimensions.

    Attributes
    ----------
    center : numpy.ndarray
        Centre, shape ``(latent_dim,)``.
    sigma : float
        The common standard deviation.
    n_samples : int
        Number of points the fit used.
    """

    center: np.ndarray
    sigma: float
    n_samples: int

    @classmethod
    def fit(cls, z: Any) -> IsotropicGaussian:
        """Fit to points ``z`` of shape ``(rows, latent_dim)``, at least two rows."""
        points = _points(z, "z")
        if len(points) < 2:
            raise ValueError(f"z needs at least 2 rows to estimate sigma, got {len(points)}")
        sigma = float(np.sqrt(points.var(axis=0, ddof=1).mean()))
        if not sigma > 0:
            raise ValueError("z has zero spread: sigma cannot be estimated")
        return cls(points.mean(axis=0), sigma, len(points))

    @property
    def latent_dim(self) -> int:
        """Number of latent dimensions."""
        return len(self.center)

    def distance(self, z: Any) -> np.ndarray:
        """Euclidean distance of every row from the centre, in sigma units: ``(rows,)``."""
        points = _points(z, "z", self.latent_dim)
        return np.linalg.norm(points - self.center, axis=1) / self.sigma

    def tail_probability(self, z: Any) -> np.ndarray:
        """Probability that a draw of the Gaussian lies at least as far out as each row.

        Under the fit, the squared sigma distance of a draw follows chi-square with
        ``latent_dim`` degrees of freedom, so this is ``chi2.sf(distance^2, latent_dim)``. It
        calibrates the raw distance, which grows like ``sqrt(latent_dim)`` for typical points:
        in 8 dimensions a point 3 sigma out is ordinary (tail probability ~0.26), in 1
        dimension it is rare (~0.003).
        """
        return stats.chi2.sf(self.distance(z) ** 2, df=self.latent_dim)

    def within_fraction(self, n_sigma: float) -> float:
        """Share of the Gaussian's own draws that lie within ``n_sigma``: ``chi2.cdf(n^2, D)``."""
        return float(stats.chi2.cdf(n_sigma**2, df=self.latent_dim))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "center": [float(c) for c in self.center],
            "sigma": self.sigma,
            "n_samples": self.n_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsotropicGaussian:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["center"], dtype=np.float64), float(data["sigma"]),
                   int(data["n_samples"]))


@dataclass(frozen=True)
class DiagonalGaussian:
    """A Gaussian with a diagonal covariance, and p-values of new points against it.

    **Per-dimension test.** A new point's coordinate ``x`` is one fresh observation, compared with
    a sample of ``n`` whose mean ``m`` and standard deviation ``s`` (``ddof=1``) are estimates.
    The right statistic is the prediction-interval t, ``t = (x - m) / (s * sqrt(1 + 1/n))``, which
    follows Student's t with ``n - 1`` degrees of freedom when ``x`` comes from the same normal
    population; the p-value is two-sided, ``2 * t.sf(|t|, n - 1)``. (A one-sample t-test of the
    mean would ask a different question, about the mean of many new points.)

    **Aggregate confidence.** Bonferroni on the smallest p-value: ``min(1, D * min_d p_d)``. It is a
    valid p-value under any dependence between the dimensions (the latent coordinates of z_mean
    are correlated in general, and a diagonal fit ignores that), whereas Fisher's method assumes
    independent p-values and would be anti-conservative here. It also fires when a point is far
    out in a single dimension, which is how a point leaves the domain along one latent direction.
    Small values mean "unlikely to be a sample of the training latent distribution".

    Attributes
    ----------
    mean, std : numpy.ndarray
        Per-dimension mean and standard deviation (``ddof=1``), shape ``(latent_dim,)``.
    n_samples : int
        Number of points the fit used.
    """

    mean: np.ndarray
    std: np.ndarray
    n_samples: int

    @classmethod
    def fit(cls, z: Any) -> DiagonalGaussian:
        """Fit to points ``z`` of shape ``(rows, latent_dim)``, at least three rows."""
        points = _points(z, "z")
        if len(points) < 3:
            raise ValueError(f"z needs at least 3 rows for a t-test, got {len(points)}")
        std = points.std(axis=0, ddof=1)
        flat = np.where(~(std > 0))[0].tolist()
        if flat:
            raise ValueError(f"z has zero spread in latent dimension(s) {flat}")
        return cls(points.mean(axis=0), std, len(points))

    @property
    def latent_dim(self) -> int:
        """Number of latent dimensions."""
        return len(self.mean)

    def t_statistics(self, z: Any) -> np.ndarray:
        """Prediction-interval t of every coordinate, shape ``(rows, latent_dim)``."""
        points = _points(z, "z", self.latent_dim)
        return (points - self.mean) / (self.std * np.sqrt(1.0 + 1.0 / self.n_samples))

    def p_values(self, z: Any) -> np.ndarray:
        """Two-sided p-value of every coordinate, shape ``(rows, latent_dim)``."""
        return 2.0 * stats.t.sf(np.abs(self.t_statistics(z)), df=self.n_samples - 1)

    def confidence(self, z: Any) -> np.ndarray:
        """Bonferroni-combined p-value ``min(1, D * min_d p_d)`` of every row, ``(rows,)``."""
        p = self.p_values(z)
        return np.minimum(1.0, self.latent_dim * p.min(axis=1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "n_samples": self.n_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiagonalGaussian:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["std"], dtype=np.float64), int(data["n_samples"]))


@dataclass(frozen=True)
class LatentDomain:
    """Both fits of one model's training latent points, and how the sampled z was drawn.

    Attributes
    ----------
    isotropic : IsotropicGaussian
        Fitted to the sampled z (``n_draws`` draws per training row).
    diagonal : DiagonalGaussian
        Fitted to z_mean (sampling off).
    n_draws : int
        Draws per training row behind ``isotropic``.
    seed : int
        Seed of those draws.
    replica : int
        The model replica whose encoder produced the points.
    """

    isotropic: IsotropicGaussian
    diagonal: DiagonalGaussian
    n_draws: int
    seed: int
    replica: int = 0

    @classmethod
    def fit(
        cls, z_sampled: Any, z_mean: Any, *, n_draws: int, seed: int, replica: int = 0
    ) -> LatentDomain:
        """Fit both Gaussians: ``z_sampled`` (all draws stacked as rows) and ``z_mean``."""
        isotropic = IsotropicGaussian.fit(z_sampled)
        diagonal = DiagonalGaussian.fit(z_mean)
        if isotropic.latent_dim != diagonal.latent_dim:
            raise ValueError(
                f"z_sampled has {isotropic.latent_dim} columns but z_mean {diagonal.latent_dim}"
            )
        return cls(isotropic, diagonal, n_draws, seed, replica)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (stored in ``VAEC.extras["latent_domain"]``)."""
        return {
            "format_version": FORMAT_VERSION,
            "isotropic": self.isotropic.to_dict(),
            "diagonal": self.diagonal.to_dict(),
            "n_draws": self.n_draws,
            "seed": self.seed,
            "replica": self.replica,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentDomain:
        """Inverse of :meth:`to_dict`."""
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"latent_domain format_version {version!r} is not {FORMAT_VERSION}")
        return cls(
            IsotropicGaussian.from_dict(data["isotropic"]),
            DiagonalGaussian.from_dict(data["diagonal"]),
            int(data["n_draws"]),
            int(data["seed"]),
            int(data.get("replica", 0)),
        )
