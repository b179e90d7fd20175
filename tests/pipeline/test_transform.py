"""Applying a saved selection to a table: column order, the target, missing columns, safety."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.apply import apply_selection, transform_file
from pipeline.data.tables import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = {name: rng.normal(size=8) for name in ["a", "b", "c", "d"]}
    return pd.DataFrame({**data, "label": [0, 1] * 4})


@pytest.fixture
def selection_file(tmp_path):
    path = tmp_path / "selected_features.json"
    path.write_text(json.dumps({"selected": ["d", "b"], "target": "label"}), encoding="utf-8")
    return path


def test_selected_columns_keep_the_selection_order_then_the_target(frame):
    out = apply_selection(frame, {"selected": ["c", "a"], "target": "label"})
    assert list(out.columns) == ["c", "a", "label"]
    np.testing.assert_array_equal(out["c"], frame["c"])


def test_a_weighted_run_keeps_its_weight_column_after_the_target_when_the_table_has_it(frame):
    selection = {"selected": ["c", "a"], "target": "label", "weight_column": "w"}
    weighted = frame.assign(w=np.arange(8.0))
    out = apply_selection(weighted, selection)
    assert list(out.columns) == ["c", "a", "label", "w"]
    np.testing.assert_array_equal(out["w"], weighted["w"])
    # new rows to score come without weights: only the selected columns are required
    assert list(apply_selection(frame, selection).columns) == ["c", "a", "label"]


def test_target_is_left_out_when_the_table_has_none(frame):
    out = apply_selection(frame.drop(columns="label"), {"selected": ["b"], "target": "label"})
    assert list(out.columns) == ["b"]


def test_every_missing_selected_column_is_named(frame):
    with pytest.raises(DataError, match=r"2 selected column.*'x'.*'y'"):
        apply_selection(frame, {"selected": ["a", "x", "y"], "target": "label"})


def test_transform_file_writes_the_selected_columns(frame, selection_file, tmp_path):
    data = tmp_path / "in.csv"
    frame.to_csv(data, index=False)
    out = transform_file(selection_file, data, tmp_path / "sub" / "out.csv")
    written = pd.read_csv(out)
    assert list(written.columns) == ["d", "b", "label"]
    assert len(written) == len(frame)
    # the atomic write leaves no temporary file beside the output
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]


def test_parquet_in_and_out(frame, selection_file, tmp_path):
    data = tmp_path / "in.parquet"
    frame.to_parquet(data, index=False)
    out = transform_file(selection_file, data, tmp_path / "out.parquet")
    assert list(pd.read_parquet(out).columns) == ["d", "b", "label"]


def test_the_input_file_is_never_overwritten(frame, selection_file, tmp_path):
    data = tmp_path / "in.csv"
    frame.to_csv(data, index=False)
    before = data.read_bytes()
    with pytest.raises(DataError, match="input file"):
        transform_file(selection_file, data, tmp_path / "." / "in.csv")
    assert data.read_bytes() == before


def test_a_file_without_a_selected_list_is_refused(frame, tmp_path):
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"rounds": []}), encoding="utf-8")
    data = tmp_path / "in.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(DataError, match="selected"):
        transform_file(bad, data, tmp_path / "out.csv")


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        ({"selected": ["b", "a", "b"], "target": "label"}, "lists 'b' more than once"),
        ({"selected": [], "target": "label"}, "'selected' is empty"),
        ({"selected": ["a"], "target": ["x"]}, r"'target' must be a column name or null, not \['x'\]"),
        ({"selected": ["a"], "weight_column": 3}, "'weight_column' must be a column name or null"),
        ({"selected": [["a"]], "target": "label"}, "must list column names"),
        ({"selected": [None], "target": "label"}, "must list column names"),
    ],
)
def test_a_malformed_selection_is_one_line_and_writes_nothing(frame, tmp_path, selection, words):
    path = tmp_path / "selected_features.json"
    path.write_text(json.dumps(selection), encoding="utf-8")
    data = tmp_path / "in.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(DataError, match=words) as info:
        transform_file(path, data, tmp_path / "out.csv")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out.csv").exists()


def test_an_excel_output_is_refused_not_written_as_csv(frame, selection_file, tmp_path):
    data = tmp_path / "in.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(DataError, match=r"unsupported output file type '\.xlsx'"):
        transform_file(selection_file, data, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
