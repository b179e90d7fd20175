"""How unusual a row's reconstruction error is, against the training rows' errors.

A model whose decoder was trained (``all_parts``, ``autoencoder``) reconstructs rows like the ones
it was trained on; a row from elsewhere is reconstructed worse. :class:`ReconstructionCheck`
keeps the training rows' errors (mean squared error over the channels, sampling off) and gives
an empirical p-value for new rows: the share of training rows reconstructed at least as badly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT_VERSION = 1
# Larger training sets are summarised by this many evenly spaced quantiles.
MAX_STORED_ERRORS = 2000


@dataclass(frozen=True)
class ReconstructionCheck:
    """Empirical distribution of the training rows' reconstruction errors.

    Attributes
    ----------
    errors : numpy.ndarray
        Training errors in ascending order (or evenly spaced quantiles of them).
    n_samples : int
        Number of training rows behind ``errors``.
    """

    errors: np.ndarray
    n_samples: int

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
        """``(1 + #{training errors >= e}) / (m + 1)`` for every error ``e``."""
        values = np.asarray(errors, dtype=np.float64).ravel()
        at_least = len(self.errors) - np.searchsorted(self.errors, values, side="left")
        return (1.0 + at_least) / (len(self.errors) + 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (stored in ``VAEC.extras["reconstruction_check"]``)."""
        return {
            "format_version": FORMAT_VERSION,
            "errors": [float(e) for e in self.errors],
            "n_samples": self.n_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReconstructionCheck:
        """Inverse of :meth:`to_dict`."""
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"reconstruction_check format_version {version!r} is not {FORMAT_VERSION}"
            )
        return cls(np.asarray(data["errors"], dtype=np.float64), int(data["n_samples"]))


def row_errors(X: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error of every row, ``(rows,)``."""
    return np.mean((np.asarray(reconstruction, np.float64) - np.asarray(X, np.float64)) ** 2, axis=1)
