"""Latent-domain statistics on synthetic latent points, and their use on a trained model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from vaec import VAEC, InputError, VAECConfig
from vaec.domain import DiagonalGaussian, IsotropicGaussian, LatentDomain
from vaec.model import VAECNet
from vaec.persistence import SavedModel, load_model, save_model

# statistics on arrays ------------------------------------------------------------------------


def test_isotropic_sigma_recovers_a_known_gaussian():
    rng = np.random.default_rng(0)
    center, sigma = np.array([1.0, -2.0, 0.5, 3.0]), 2.5
    fit = IsotropicGaussian.fit(center + sigma * rng.standard_normal((20_000, 4)))
    assert fit.sigma == pytest.approx(sigma, rel=0.02)
    np.testing.assert_allclose(fit.center, center, atol=0.1)


def test_isotropic_sigma_is_the_root_mean_of_the_per_dimension_variances():
    rng = np.random.default_rng(1)
    scales = np.array([1.0, 2.0, 3.0])
    fit = IsotropicGaussian.fit(scales * rng.standard_normal((20_000, 3)))
    assert fit.sigma == pytest.approx(np.sqrt(np.mean(scales**2)), rel=0.02)


@pytest.mark.parametrize("latent_dim", [1, 2, 8])
def test_within_flags_of_in_domain_points_follow_chi_square(latent_dim):
    rng = np.random.default_rng(latent_dim)
    fit = IsotropicGaussian.fit(3.0 * rng.standard_normal((20_000, latent_dim)) + 1.0)
    distance = fit.distance(3.0 * rng.standard_normal((20_000, latent_dim)) + 1.0)
    for n_sigma in (1.0, 2.0, 3.0):
        expected = stats.chi2.cdf(n_sigma**2, df=latent_dim)
        # 4 binomial standard errors of a 20 000-point fraction, plus the fit's own error
        assert np.mean(distance <= n_sigma) == pytest.approx(expected, abs=0.015)
        assert fit.within_fraction(n_sigma) == pytest.approx(expected)


def test_tail_probability_is_uniform_for_in_domain_points_and_tiny_far_away():
    rng = np.random.default_rng(2)
    fit = IsotropicGaussian.fit(rng.standard_normal((20_000, 5)))
    tail = fit.tail_probability(rng.standard_normal((2_000, 5)))
    assert stats.kstest(tail, "uniform").pvalue > 0.01
    far = np.full((1, 5), 4.0)  # 8.9 sigma from the centre in 5 dimensions
    assert fit.tail_probability(far)[0] < 1e-10


def test_per_dimension_p_values_are_exactly_uniform_even_for_small_fits():
    # one fresh point against a fit of only 5: the prediction-interval t makes this exact,
    # a plain z-score (or a t without sqrt(1 + 1/n)) would give far too many small p-values
    rng = np.random.default_rng(3)
    p = np.array([
        DiagonalGaussian.fit(rng.normal(2.0, 0.5, (5, 2))).p_values(rng.normal(2.0, 0.5, (1, 2)))[0]
        for _ in range(2_000)
    ])
    for d in range(2):
        assert stats.kstest(p[:, d], "uniform").pvalue > 0.01


def test_p_values_are_uniform_for_in_domain_points_of_a_large_fit():
    rng = np.random.default_rng(4)
    mean, std = np.array([0.0, 5.0, -1.0]), np.array([1.0, 0.1, 3.0])
    fit = DiagonalGaussian.fit(mean + std * rng.standard_normal((5_000, 3)))
    p = fit.p_values(mean + std * rng.standard_normal((2_000, 3)))
    for d in range(3):
        assert stats.kstest(p[:, d], "uniform").pvalue > 0.01


def test_bonferroni_confidence_is_a_valid_p_value_for_in_domain_points():
    rng = np.random.default_rng(5)
    fit = DiagonalGaussian.fit(rng.standard_normal((5_000, 4)))
    confidence = fit.confidence(rng.standard_normal((20_000, 4)))
    for alpha in (0.01, 0.05, 0.2):
        # valid: P(confidence <= alpha) <= alpha; with independent dims it is close to alpha
        rate = np.mean(confidence <= alpha)
        assert rate <= alpha + 0.01
        assert rate >= 1 - (1 - alpha / 4) ** 4 - 0.01


def test_far_away_points_get_tiny_p_values_and_confidence():
    rng = np.random.default_rng(6)
    fit = DiagonalGaussian.fit(rng.standard_normal((1_000, 3)))
    far = np.array([[0.0, 10.0, 0.0], [-8.0, 0.0, 0.0]])
    p = fit.p_values(far)
    assert p[0, 1] < 1e-12 and p[1, 0] < 1e-9
    assert p[0, 0] > 0.5 and p[1, 2] > 0.5  # the other dimensions stay unremarkable
    assert (fit.confidence(far) < 1e-8).all()


def test_latent_domain_survives_a_model_folder_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    domain = LatentDomain.fit(rng.standard_normal((50, 3)), rng.standard_normal((50, 3)) - 1.0,
                              n_draws=2, seed=9)
    config = VAECConfig(n_inputs=4, n_classes=2, latent_dim=3)
    save_model(SavedModel(config, 1, None, VAECNet(config).state_dict(), domain), tmp_path)
    again = load_model(tmp_path).latent_domain
    points = rng.standard_normal((10, 3))
    np.testing.assert_array_equal(again.isotropic.distance(points), domain.isotropic.distance(points))
    np.testing.assert_array_equal(again.diagonal.p_values(points), domain.diagonal.p_values(points))
    assert (again.n_draws, again.seed, again.replica) == (2, 9, 0)


def test_the_isotropic_fit_is_on_draws_of_the_encoding():
    z_mean = np.repeat([[0.0, 0.0], [2.0, 2.0]], 500, axis=0)
    domain = LatentDomain.fit(z_mean, np.log(np.full_like(z_mean, 0.25)), n_draws=4, seed=0)
    # the spread of the means (variance ~1 per dimension) plus the encoder's noise (0.25)
    assert domain.isotropic.sigma == pytest.approx(np.sqrt(1.0 + 0.25), rel=0.03)
    assert domain.isotropic.n_samples == 4 * len(z_mean)
    np.testing.assert_allclose(domain.diagonal.std, np.sqrt(1.0 + 1 / 999), rtol=1e-6)
    with pytest.raises(ValueError, match="n_draws"):
        LatentDomain.fit(z_mean, z_mean, n_draws=0)


def test_points_of_the_wrong_width_are_refused():
    fit = IsotropicGaussian.fit(np.random.default_rng(8).standard_normal((100, 3)))
    with pytest.raises(ValueError, match="z has 2 columns but the fit has 3"):
        fit.distance(np.zeros((4, 2)))


# on a trained model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def trained(data):
    X, y = data
    model = VAEC(VAECConfig(n_inputs=30, n_classes=2, latent_dim=3, epochs=60, seed=0,
                            kl_weight=1e-3, learning_rate=3e-3))
    model.fit("var_mlp_classifier", X, y, record_snapshots=False)
    model.fit_latent_domain(X, n_draws=5, seed=0)
    return model


def test_predictions_come_with_one_column_per_flag_and_latent_dimension(trained, data):
    X, _ = data
    frame = trained.predict_with_confidence(X[:20], n_sigma=2.5)
    assert list(frame) == [
        "class", "probability", "sigma_distance", "tail_probability",
        "within_1_sigma", "within_2_sigma", "within_2.5_sigma",
        "p_value_z0", "p_value_z1", "p_value_z2", "confidence",
    ]
    np.testing.assert_array_equal(frame["class"], trained.predict(X[:20]))
    np.testing.assert_allclose(frame["probability"], trained.predict_proba(X[:20]).max(axis=1))
    d = frame["sigma_distance"]
    assert (frame["within_2.5_sigma"] == (d <= 2.5)).all()
    assert (frame["within_1_sigma"] <= frame["within_2_sigma"]).all()


def test_the_sampled_sigma_adds_the_encoder_noise_to_the_z_mean_spread(trained, data):
    X, _ = data
    z_mean, z_log_var = trained.encode(X)
    expected = np.sqrt(np.mean(z_mean.var(axis=0, ddof=1)) + np.mean(np.exp(z_log_var)))
    assert trained.latent_domain_.isotropic.sigma == pytest.approx(expected, rel=0.03)


def test_inputs_far_outside_the_training_data_lie_further_out_in_latent_space(trained, data):
    X, _ = data
    inside = trained.predict_with_confidence(X)
    outside = trained.predict_with_confidence(10.0 * X[:100])
    assert np.median(outside["sigma_distance"]) > np.quantile(inside["sigma_distance"], 0.95)
    assert np.median(outside["confidence"]) < np.median(inside["confidence"])


def test_the_domain_fit_is_reproducible_by_seed(trained, data):
    X, _ = data
    encoded = trained.encode(X)
    first = LatentDomain.fit(*encoded, n_draws=5, seed=0)
    again = LatentDomain.fit(*encoded, n_draws=5, seed=0)
    other = LatentDomain.fit(*encoded, n_draws=5, seed=1)
    assert again.isotropic.sigma == first.isotropic.sigma
    assert other.isotropic.sigma != first.isotropic.sigma
    assert trained.latent_domain_.isotropic.sigma == first.isotropic.sigma


def test_save_and_load_give_identical_predictions_with_confidence(trained, data, tmp_path):
    X, _ = data
    trained.save(tmp_path / "model")
    loaded = VAEC.load(tmp_path / "model")
    frame = pd.DataFrame(X[:50], index=np.arange(100, 150))  # a table goes in like an array
    expected = trained.predict_with_confidence(X[:50])
    got = loaded.predict_with_confidence(frame)
    assert list(got) == list(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values)
        assert len(values) == 50


def test_wrong_column_count_is_a_clear_error(trained, data):
    X, _ = data
    with pytest.raises(InputError, match="X has 29 columns but the model expects n_inputs=30"):
        trained.predict_with_confidence(X[:5, :29])


def test_a_non_positive_n_sigma_is_refused(trained, data):
    X, _ = data
    with pytest.raises(ValueError, match="n_sigma must be a positive"):
        trained.predict_with_confidence(X[:5], n_sigma=0)


def test_an_unfitted_or_retrained_domain_asks_for_fit_latent_domain(data):
    X, y = data
    model = VAEC(VAECConfig(n_inputs=30, n_classes=2, epochs=2, seed=0))
    model.fit("var_mlp_classifier", X, y, record_snapshots=False)
    with pytest.raises(RuntimeError, match="call fit_latent_domain"):
        model.predict_with_confidence(X[:5])
    model.fit_latent_domain(X)
    model.fit("var_mlp_classifier", X, y, record_snapshots=False)
    with pytest.raises(RuntimeError, match="call fit_latent_domain"):
        model.predict_with_confidence(X[:5])
