"""VAECSelector as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.data.tables import DataError
from pipeline.selector import VAECSelector

FAST = {"encoder_widths": (16,), "head_widths": (8,)}


def structured_frame(n_rows: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(n_rows, 1))
    structured = factor + 0.15 * rng.normal(size=(n_rows, 4))
    noise = rng.normal(size=(n_rows, 3))
    columns = [f"s{i}" for i in range(4)] + [f"noise{i}" for i in range(3)]
    frame = pd.DataFrame(np.hstack([structured, noise]), columns=columns)
    frame["flat"] = 1.0
    return frame, (factor[:, 0] > 0).astype(int)


@pytest.fixture(scope="module")
def fitted():
    X, y = structured_frame(n_rows=400)
    selector = VAECSelector(epochs=150)
    return selector.fit(X, y), X, y


def test_selector_keeps_the_structured_columns_by_name(fitted):
    selector, X, _ = fitted
    kept = list(selector.get_feature_names_out())
    # the four copies of the factor, in column order; noise only as the test's false-discovery
    # rate allows (on three noise columns: none, or one at most)
    assert kept[:4] == ["s0", "s1", "s2", "s3"] and len(kept) <= 5 and "flat" not in kept
    assert selector.n_features_ == len(kept)
    assert selector.n_features_in_ == 8
    assert list(selector.feature_names_in_) == list(X.columns)
    assert selector.transform(X).shape == (len(X), len(kept))


def test_ranking_agrees_with_the_rounds(fitted):
    selector, X, _ = fitted
    ranking = dict(zip(X.columns, selector.ranking_, strict=True))
    assert all(ranking[c] == 1 for c in selector.get_feature_names_out())
    assert ranking["flat"] == max(selector.ranking_)
    dropped_in = {c: r.index for r in selector.rounds_ for c in r.dropped}
    for a, round_a in dropped_in.items():
        for b, round_b in dropped_in.items():
            if round_a < round_b:
                assert ranking[a] > ranking[b]
    assert selector.stop_reason_ == "all_pass"


def test_final_model_and_rounds_are_open_for_inspection(fitted):
    selector, _X, _ = fitted
    assert selector.final_model_ is not None
    assert selector.final_model_.config.n_inputs == selector.n_features_
    assert selector.result_.constant_columns == ["flat"]
    assert len(selector.rounds_) >= 2


def test_selector_predicts_with_latent_domain_confidence(fitted):
    selector, X, y = fitted
    frame = selector.predict_with_confidence(X)
    assert list(frame.index) == list(X.index)
    assert (frame["class"].to_numpy() == y).mean() > 0.8
    assert frame["within_3_sigma"].mean() > 0.9
    far = X.copy()
    far[list(selector.get_feature_names_out())] += 50.0
    assert (selector.predict_with_confidence(far)["sigma_distance"] > frame["sigma_distance"]).all()
    with pytest.raises(ValueError, match="missing"):
        selector.predict_with_confidence(X.iloc[:, :3])


def test_selector_works_inside_a_pipeline_with_cross_validation():
    X, y = structured_frame(n_rows=200)
    pipe = make_pipeline(
        VAECSelector(latent_dim=1, epochs=60, n_trials=1, fit_final_model=False, **FAST),
        LogisticRegression(),
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85


def test_same_seed_gives_the_same_support():
    X, y = structured_frame(n_rows=160)
    make = lambda: VAECSelector(  # noqa: E731
        latent_dim=1, epochs=40, n_trials=2, fit_final_model=False, **FAST
    ).fit(X, y)
    first, second = make(), make()
    np.testing.assert_array_equal(first.support_, second.support_)
    np.testing.assert_array_equal(first.ranking_, second.ranking_)
    assert [r.score_mean for r in first.rounds_] == [r.score_mean for r in second.rounds_]


def test_nan_in_an_array_is_refused_before_training():
    # an array has no column kinds to impute by (a DataFrame's gaps are imputed)
    X, y = structured_frame(n_rows=60)
    X.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        VAECSelector(epochs=5).fit(X.to_numpy(), y)


def test_single_class_target_is_refused():
    X, _ = structured_frame(n_rows=60)
    with pytest.raises((DataError, ValueError), match="class"):
        VAECSelector(epochs=5).fit(X, np.zeros(len(X), dtype=int))


# scikit-learn's own checks, all of them: one is expected to fail, by design (below). The one
# pytest reports as skipped is scikit-learn's array-API check, which runs only when
# SCIPY_ARRAY_API is set.
def _expected_failures(estimator: VAECSelector) -> dict[str, str]:
    return {"check_sample_weight_equivalence_on_dense_data":
            "a weight counts a row as its copies in the losses and scores, but the stratified "
            "split, the scaler and the shadows' permutations see every row once: repeated rows "
            "are another split (and a table the check thins to 3 rows a class cannot be split)"}


@parametrize_with_checks(
    [VAECSelector(epochs=3, n_trials=1, latent_dim=1, fit_final_model=False, val_size=0.3)],
    expected_failed_checks=_expected_failures,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_results_are_frames_and_the_round_charts_are_figures(fitted):
    selector, X, _ = fitted
    frame = selector.rounds_frame_
    assert len(frame) == sum(len(r.kept) for r in selector.rounds_)
    first = frame[frame["round"] == 1].set_index("channel")
    record = selector.rounds_[0]
    for channel in record.kept:
        assert first.loc[channel, "importance_mean"] == record.importance_mean[channel]
        assert first.loc[channel, "decision"] == record.decision[channel]
        assert first.loc[channel, "dropped"] == (channel in record.dropped)
    fates = selector.channels_frame_
    assert set(fates["column"]) == set(X.columns)
    assert (fates.set_index("column").loc[list(X.columns), "rank"] == selector.ranking_).all()
    figures = selector.plot_rounds()
    assert len(figures) == len(selector.rounds_)
    assert [ax.get_xlabel() for ax in figures[0].axes[:2]] == [
        "shared R² (own input held at its mean)", "importance to the head (loss rise, nats per row)"]


def test_numpy_numbers_from_a_parameter_grid_are_accepted():
    # GridSearchCV grids are often built with np.arange / np.linspace
    selector = VAECSelector().set_params(n_trials=np.int64(1), epochs=np.int32(5),
                                         threshold=np.float64(0.5), random_state=np.uint8(3))
    config = selector.settings()
    assert (config.n_trials, config.model.epochs, config.seed) == (1, 5, 3)
    assert type(config.n_trials) is int and type(config.threshold) is float


def test_a_fitted_selector_keeps_no_rows_of_the_data():
    import pickle

    X, y = structured_frame(n_rows=2000)
    selector = VAECSelector(epochs=10, n_trials=1, fit_final_model=False, **FAST).fit(X, y)
    split = selector.result_.split
    assert len(split.X_train) == len(split.X_val) == len(split.y_train) == 0
    assert split.classes.tolist() == [0, 1] and split.feature_names == selector.scaled_features_
    # what it pickles is the rounds' scores, not the table
    assert len(pickle.dumps(selector)) < X.to_numpy().nbytes / 2


def test_the_same_command_saves_the_same_weights(tmp_path):
    # the default thread count is fixed (not the machine's load), so the final model's weights
    # are the same bytes from one fit to the next
    X, y = structured_frame(n_rows=120)
    saved = []
    for name in ("first", "second"):
        selector = VAECSelector(latent_dim=1, epochs=30, n_trials=2, **FAST).fit(X, y)
        saved.append(selector.final_model_.save(tmp_path / name) / "weights.pt")
    assert saved[0].read_bytes() == saved[1].read_bytes()
