"""The selector on a raw table: the user's columns in, the user's columns out."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.selector import VAECSelector

from ..customer_table import customer_table

FAST = {"encoder_widths": (16,), "head_widths": (8,), "latent_dim": 2, "n_trials": 2}


def raw_table(n_rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A categorical column that alone decides the class, numeric noise with gaps, a boolean,
    a date and an identifier."""
    return customer_table(n_rows, seed)


@pytest.fixture(scope="module")
def fitted():
    X, y = raw_table()
    with pytest.warns(UserWarning, match="'customer'"):
        selector = VAECSelector(epochs=80, **FAST).fit(X, y)
    return selector, X, y


def test_the_deciding_categorical_is_kept_and_the_identifier_set_aside(fitted):
    selector, X, _ = fitted
    kept = list(selector.get_feature_names_out())
    assert "color" in kept and "customer" not in kept
    assert selector.identifier_columns_ == ["customer"]
    ranking = dict(zip(X.columns, selector.ranking_, strict=True))
    assert ranking["customer"] == max(selector.ranking_)
    assert list(selector.feature_names_in_) == list(X.columns)


def test_the_fates_speak_the_users_columns_with_their_kinds(fitted):
    selector, X, _ = fitted
    fates = selector.channels_frame_.set_index("column")
    assert set(fates.index) == set(X.columns) - {"customer"}
    assert fates.loc["color", "kind"] == "categorical"
    assert fates.loc["color", "encoding"] == "one-hot"
    assert fates.loc["opened", "channels"] == ["opened[day]", "opened[season_cos]",
                                               "opened[season_sin]", "opened[weekday]"]
    assert fates.loc["noise_a", "channels"] == ["noise_a", "noise_a[missing]"]
    assert fates.loc["noise_a", "missing_rows"] > 0


def test_transform_gives_back_the_original_columns_as_given(fitted):
    selector, X, _ = fitted
    out = selector.transform(X)
    assert list(out.columns) == list(selector.get_feature_names_out())
    pd.testing.assert_frame_equal(out, X[list(out.columns)])


def test_unknown_levels_and_gaps_at_prediction_time_are_encoded_not_refused(fitted):
    selector, X, y = fitted
    new = X.iloc[:20].copy()
    new.loc[new.index[:5], "color"] = "violet"
    new.loc[new.index[5:10], "noise_b"] = np.nan
    new.loc[new.index[10:12], "opened"] = pd.NaT
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predictions = selector.predict_with_confidence(new)
    assert len(predictions) == 20 and predictions["class"].notna().all()
    known = selector.predict_with_confidence(X)
    assert (known["class"].to_numpy() == y).mean() > 0.9


def test_a_raw_table_gives_the_same_selection_twice():
    X, y = raw_table(n_rows=160, seed=3)
    make = lambda: VAECSelector(epochs=20, fit_final_model=False, **FAST).fit(X, y)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = make(), make()
    np.testing.assert_array_equal(first.support_, second.support_)
    np.testing.assert_array_equal(first.ranking_, second.ranking_)


def test_the_saved_final_model_encodes_raw_rows_as_in_training(fitted, tmp_path):
    from pipeline.final_model import FinalModel, predictions_frame

    selector, X, _ = fitted
    final = selector.result_.final
    loaded = FinalModel.load(final.save(tmp_path / "final_model"))
    new = X.iloc[:10].copy()
    new.loc[new.index[:3], "color"] = "violet"
    pd.testing.assert_frame_equal(predictions_frame(loaded, new), predictions_frame(final, new))


def test_a_stability_selection_on_a_raw_table_counts_the_columns():
    X, y = raw_table(n_rows=200, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selector = VAECSelector(epochs=30, n_resamples=2, keep_frequency=1.0, **FAST).fit(X, y)
    frequency = selector.stability_.frequency
    assert set(frequency) == set(X.columns) - {"customer"}
    assert frequency["color"] == 1.0 and "color" in selector.get_feature_names_out()
    assert selector.final_model_ is not None
    assert {selector.result_.split.column_of(c) for c in selector.result_.final.channels} == \
        set(selector.get_feature_names_out())
