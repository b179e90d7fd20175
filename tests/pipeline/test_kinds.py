"""Column kinds of a raw table, and the one message that lists every problem of it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.data.dataset import load_dataset
from pipeline.data.encoding import detect_kinds
from pipeline.data.tables import DataError


def raw_frame(n_rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "size": rng.normal(size=n_rows),
        "count": rng.integers(0, 5, size=n_rows),
        "flag": rng.random(n_rows) > 0.5,
        "color": rng.choice(["red", "green", "blue"], size=n_rows),
        "shape": pd.Categorical(rng.choice(["round", "flat"], size=n_rows)),
        "day": pd.date_range("2024-01-01", periods=n_rows, freq="D"),
        "when": [f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n_rows)],
        "row_id": np.arange(1000, 1000 + n_rows),
        "customer": [f"C{i:05d}" for i in range(n_rows)],
        "label": np.arange(n_rows) % 2,
    })


def test_every_kind_is_detected_from_the_values():
    kinds = detect_kinds(raw_frame().drop(columns="label"))
    assert kinds == {"size": "numeric", "count": "numeric", "flag": "boolean",
                     "color": "categorical", "shape": "categorical", "day": "datetime",
                     "when": "datetime", "row_id": "identifier", "customer": "identifier"}


def test_the_user_names_integer_categories_and_keeps_identifiers():
    kinds = detect_kinds(raw_frame().drop(columns="label"), categorical=["count"],
                         keep_columns=["row_id", "customer"])
    assert kinds["count"] == "categorical"
    assert kinds["row_id"] == "numeric" and kinds["customer"] == "categorical"


def test_free_text_is_an_identifier():
    notes = pd.Series([f"the customer called about order {i % 40} and was unhappy" for i in range(60)])
    assert detect_kinds(pd.DataFrame({"notes": notes}))["notes"] == "identifier"


def test_identifiers_are_set_aside_with_one_warning_naming_them():
    with pytest.warns(UserWarning) as caught:
        dataset = load_dataset(raw_frame(), "label")
    messages = [str(w.message) for w in caught if "identifier" in str(w.message)]
    assert len(messages) == 1 and "'row_id'" in messages[0] and "'customer'" in messages[0]
    assert dataset.identifier_columns == ["row_id", "customer"]
    assert "row_id" not in dataset.feature_names and "color" in dataset.feature_names
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = load_dataset(raw_frame(), "label", keep_columns=["row_id", "customer"])
    assert {"row_id", "customer"} <= set(kept.feature_names)


def test_every_problem_of_a_table_is_reported_in_one_message():
    frame = raw_frame().assign(empty=np.nan)
    frame.loc[3, "size"] = np.inf
    frame.loc[0, "label"] = np.nan
    with pytest.raises(DataError) as caught:
        load_dataset(frame, "label", categorical=["colour"], groups=[["size", "count"],
                                                                     ["count", "flag"]])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("5 problems in the table")
    for part in ("'label' has 1 missing", "categorical names 'colour'",
                 "groups name 'count' more than once", "no values at all in 'empty'",
                 "infinite values in 'size' (1 rows)"):
        assert part in message


def test_gaps_are_no_longer_refused():
    frame = raw_frame()
    frame.loc[[1, 4], "size"] = np.nan
    frame.loc[[2], "color"] = None
    dataset = load_dataset(frame, "label", keep_columns=["row_id", "customer"])
    assert dataset.features.isna().to_numpy().any() and dataset.kinds["color"] == "categorical"
