"""The reconstruction check: empirical p-values of a row's reconstruction error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vaec import VAEC
from vaec.domain import MAX_STORED_ERRORS, ReconstructionCheck


def test_p_values_are_uniform_for_errors_from_the_training_distribution():
    rng = np.random.default_rng(0)
    check = ReconstructionCheck.fit(rng.exponential(size=100_000))
    p = check.p_values(rng.exponential(size=5000))
    assert stats.kstest(p, "uniform").statistic < 0.03
    for alpha in (0.01, 0.05, 0.1, 0.5):
        assert np.mean(p <= alpha) == pytest.approx(alpha, abs=0.015)
    assert check.n_samples == 100_000 and len(check.errors) == MAX_STORED_ERRORS


def test_p_values_are_exact_ranks_and_tiny_beyond_every_training_error():
    check = ReconstructionCheck.fit([0.3, 0.1, 0.2, 0.4])
    np.testing.assert_allclose(check.p_values([0.0, 0.2, 0.25, 10.0]), [1.0, 0.8, 0.6, 0.2])
    np.testing.assert_array_equal(check.errors, [0.1, 0.2, 0.3, 0.4])
    assert check.n_samples == 4


def test_bad_training_errors_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        ReconstructionCheck.fit([0.1])
    with pytest.raises(ValueError, match="NaN"):
        ReconstructionCheck.fit([0.1, np.nan])


def test_a_model_flags_rows_it_reconstructs_badly_and_keeps_the_check_when_saved(
    cancer, small_config, tmp_path
):
    X, y, X_val, _ = cancer
    model = VAEC(small_config.replace(epochs=150))
    model.fit_all_parts(X, y)
    model.fit_latent_domain(X)
    model.fit_reconstruction_check(X)
    frame = model.predict_with_confidence(X_val)
    assert np.median(frame["reconstruction_p_value"]) > 0.2
    far = X_val.copy()
    far[:, :3] *= 5.0
    shifted = model.predict_with_confidence(far)
    assert (shifted["reconstruction_error"] > frame["reconstruction_error"]).mean() > 0.95
    assert np.median(shifted["reconstruction_p_value"]) < 0.05
    loaded = VAEC.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(
        loaded.predict_with_confidence(far)["reconstruction_p_value"],
        shifted["reconstruction_p_value"],
    )
    model.fit_all_parts(X, y)  # retraining forgets both fitted statistics
    assert model.reconstruction_check_ is None and model.latent_domain_ is None
