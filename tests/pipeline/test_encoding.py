"""Columns to channels, learnt from the training rows: one-hot codes (past a level limit, the
most frequent levels and the rest pooled; a column of rare levels by their shares), date parts,
imputed gaps with their indicators, and unseen levels at transform time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.data.dataset import load_dataset
from pipeline.data.encoding import MIN_LEVEL_ROWS, TableEncoder
from pipeline.data.split import split_dataset


def test_a_few_levels_are_one_hot_with_rare_ones_pooled_and_gaps_a_level():
    colors = pd.Series(["red"] * 10 + ["blue"] * 10 + ["teal"] * 2 + [None] * 6)
    encoder = TableEncoder({"color": "categorical"}).fit(pd.DataFrame({"color": colors}))
    assert encoder.channel_names_ == ["color=blue", "color=missing", "color=red", "color=other"]
    X = encoder.transform(pd.DataFrame({"color": ["red", "teal", None, "violet"]}))
    # an unseen level counts as the pooled rare ones
    np.testing.assert_array_equal(X, [[0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]])
    assert encoder.column_of_ == dict.fromkeys(encoder.channel_names_, "color")


def test_past_the_level_limit_the_most_frequent_levels_are_one_hot_and_the_rest_other():
    # twelve towns, the first three on twice the rows of the others, and a rare one
    towns = [f"town{i:02d}" for i in range(12)]
    levels = pd.Series([t for i, t in enumerate(towns) for _ in range(MIN_LEVEL_ROWS * (2 if i < 3 else 1))]
                       + ["rare"])
    encoder = TableEncoder({"town": "categorical"}, max_levels=5).fit(pd.DataFrame({"town": levels}))
    # four levels of their own: the three frequent towns, then the first of the equal ones by name
    assert encoder.channel_names_ == ["town=town00", "town=town01", "town=town02", "town=town03",
                                      "town=other"]
    X = encoder.transform(pd.DataFrame({"town": ["town01", "town07", "rare", "never seen"]}))
    np.testing.assert_array_equal(X, [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]])


def test_past_the_level_limit_a_column_of_rare_levels_is_encoded_by_the_share_of_its_level():
    # forty states on 2.5 % of the rows each, and a rare one: no level holds MIN_LEVEL_SHARE
    states = pd.Series([f"state{i % 40}" for i in range(40 * MIN_LEVEL_ROWS)] + ["rare"])
    encoder = TableEncoder({"state": "categorical"}, max_levels=10).fit(pd.DataFrame({"state": states}))
    assert encoder.channel_names_ == ["state[frequency]"]
    X = encoder.transform(pd.DataFrame({"state": ["state3", "rare", "never seen"]}))
    np.testing.assert_allclose(X[:, 0], [MIN_LEVEL_ROWS / len(states), 1 / len(states), 1 / len(states)])


def test_numeric_gaps_get_the_training_median_and_an_indicator():
    train = pd.DataFrame({"x": [1.0, 2.0, np.nan, 10.0], "clean": [1.0, 2.0, 3.0, 4.0]})
    encoder = TableEncoder({"x": "numeric", "clean": "numeric"}).fit(train)
    assert encoder.channel_names_ == ["x", "x[missing]", "clean"]
    X = encoder.transform(pd.DataFrame({"x": [np.nan, 5.0], "clean": [np.nan, 1.0]}))
    # a gap where training had none is filled all the same, without an indicator
    np.testing.assert_array_equal(X, [[2.0, 1.0, 2.5], [5.0, 0.0, 1.0]])


def test_dates_become_day_season_and_weekday():
    train = pd.DataFrame({"when": pd.to_datetime(["1970-01-02", "2024-03-01", None])})
    encoder = TableEncoder({"when": "datetime"}).fit(train)
    assert encoder.channel_names_ == ["when[day]", "when[season_cos]", "when[season_sin]",
                                      "when[weekday]", "when[missing]"]
    X = encoder.transform(pd.DataFrame({"when": ["1970-01-02", "2023-07-02", "2023-12-31", None]}))
    np.testing.assert_allclose(X[0], [1.0, np.cos(2 * np.pi / 365.25), np.sin(2 * np.pi / 365.25),
                                      4.0, 0.0])  # a Friday
    # midsummer is opposite new year on the circle; new year's eve beside January
    assert X[1, 1] < -0.99 and X[2, 1] > 0.99
    assert X[3, 4] == 1.0


def test_a_numeric_table_without_gaps_has_its_columns_as_channels():
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 3)), columns=list("abc"))
    frame["label"] = np.arange(60) % 2
    split = split_dataset(load_dataset(frame, "label"))
    assert split.feature_names == ["a", "b", "c"] and split.encoder.channels_are_columns
    assert split.channel_groups(split.feature_names) == []


def test_the_encoder_learns_from_the_training_rows_only():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=100), "z": rng.normal(size=100),
                          "label": np.arange(100) % 2})
    frame.loc[frame.index[:10], "x"] = np.nan
    split = split_dataset(load_dataset(frame, "label"), val_size=0.2, test_size=0.2, seed=0)
    encoding = split.encoder.encodings_["x"]
    assert encoding.missing_rows < 10  # some gaps fell into validation and test rows
    train_rows = len(split.X_train)
    assert train_rows == 60
