"""A table's own weight column: taken out of the features into the rows' ``sample_weight`` before
the table is checked, refused in one line naming it, part of the run's identity, and what the
rounds train on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data.dataset import dataset_from_frame, load_dataset
from pipeline.data.split import encode_rows, stratified_indices
from pipeline.data.tables import DataError
from pipeline.report.store import resume_key, run_fingerprint
from pipeline.selection import run_selection
from pipeline.settings import SelectionSettings

from ..weighted_table import weighted_halves


def weighted_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two channels that tell the class, three of noise, a label and a weight column."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    return pd.DataFrame({
        "a": label + 0.5 * rng.normal(size=n), "b": label + 0.5 * rng.normal(size=n),
        **{f"noise{i}": rng.normal(size=n) for i in range(3)},
        "label": label, "w": rng.uniform(0.5, 3.0, size=n),
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_weight_column_becomes_the_rows_weights_and_never_a_channel(tmp_path, suffix):
    table = weighted_table()
    path = tmp_path / f"table{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    dataset = load_dataset(path, "label", weight_column="w")
    assert "w" not in dataset.frame.columns and "w" not in dataset.feature_names
    assert dataset.feature_names == ["a", "b", "noise0", "noise1", "noise2"]
    np.testing.assert_array_equal(dataset.sample_weight, table["w"].to_numpy())
    assert dataset.weight_column == dataset.summary()["weight_column"] == "w"
    # the split's parts carry their rows' weights; the channels are the features alone
    train, val, test = stratified_indices(dataset.y, seed=0, task=dataset.task)
    split = encode_rows(dataset, train, val, test)
    assert "w" not in split.feature_names
    for rows, weights in ((train, split.w_train), (val, split.w_val), (test, split.w_test)):
        np.testing.assert_array_equal(weights, table["w"].to_numpy()[rows])


def _damaged(change):
    table = weighted_table()
    change(table)
    return table


def _set(row: int, value: object):
    def change(table: pd.DataFrame) -> None:
        if isinstance(value, str):
            table["w"] = table["w"].astype(object)
        table.loc[row, "w"] = value
    return change


@pytest.mark.parametrize(("name", "change", "words"), [
    ("W", None, ["weight column 'W' not found", "close names: 'w'"]),
    ("ww", None, ["weight column 'ww' not found", "close names: 'w'"]),
    ("zzz", None, ["weight column 'zzz' not found", "columns are 'a', 'b'"]),
    ("label", None, ["weight column 'label' is the target column"]),
    ("w", _set(4, "heavy"), ["weight column 'w' must hold numbers", "'heavy'"]),
    ("w", _set(4, np.nan), ["weight column 'w'", "NaN"]),
    ("w", _set(4, np.inf), ["weight column 'w'", "infinity"]),
    ("w", _set(4, -1.0), ["weight column 'w'", "Negative values"]),
    ("w", lambda t: t.__setitem__("w", 0.0), ["weight column 'w'", "at least one non-zero"]),
])
def test_a_bad_weight_column_is_refused_in_one_line_naming_it(name, change, words):
    table = weighted_table() if change is None else _damaged(change)
    with pytest.raises(DataError) as error:
        load_dataset(table, "label", weight_column=name)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_weight_column_is_not_a_feature_for_the_other_column_settings():
    with pytest.raises(DataError, match="keep_columns names 'w', not feature column"):
        load_dataset(weighted_table(), "label", weight_column="w", keep_columns=["w"])


def test_rows_of_weight_zero_do_not_count_in_the_class_balance():
    table = weighted_table().assign(w=1.0)
    # as many rows again of class 1, five to one, that weigh nothing
    extra = weighted_table(240, seed=1).assign(label=1, w=0.0)
    both = pd.concat([table, extra], ignore_index=True)
    train, val, test = stratified_indices(both["label"].to_numpy(), seed=0,
                                          task="classification")
    unweighted = encode_rows(load_dataset(both.drop(columns="w"), "label"), train, val, test)
    weighted = encode_rows(load_dataset(both, "label", weight_column="w"), train, val, test)
    assert unweighted.balanced and not weighted.balanced
    assert not weighted.w_train[train >= len(table)].any()


def test_the_weights_are_part_of_the_run_and_other_weights_do_not_resume_it():
    config = SelectionSettings()
    table = weighted_table()
    reweighted = table.assign(w=table["w"].where(table.index != 7, 9.0))
    summaries = [load_dataset(t, "label", weight_column="w").summary()
                 for t in (table, reweighted)]
    unweighted = load_dataset(table.drop(columns="w"), "label").summary()
    # the weight column makes another job; other weights are the same job on other data
    assert run_fingerprint(summaries[0], config) != run_fingerprint(unweighted, config)
    assert run_fingerprint(summaries[0], config) == run_fingerprint(summaries[1], config)
    assert resume_key(summaries[0], config) != resume_key(summaries[1], config)
    # a run without weights keeps the fingerprint it had before weight columns existed
    before = {k: v for k, v in unweighted.items() if k != "weight_column"}
    assert run_fingerprint(before, config) == run_fingerprint(unweighted, config)


@pytest.mark.slow
def test_the_rounds_train_on_the_weight_column_as_on_sample_weight():
    table = weighted_halves(400)
    config = SelectionSettings.from_flat(epochs=60, n_trials=2, seed=0, test_size=0.0)
    from_column = run_selection(load_dataset(table, "label", test_size=0.0, weight_column="w"),
                                config, fit_final=None)
    given = dataset_from_frame(table.drop(columns=["label", "w"]), table["label"].to_numpy())
    given.sample_weight = table["w"].to_numpy()
    from_fit = run_selection(given, config, fit_final=None)
    # the same rows counted the same: the same rounds, never a channel for w
    assert [r.val_row_loss for r in from_column.rounds] == [r.val_row_loss for r in from_fit.rounds]
    assert from_column.selected == from_fit.selected
    assert "w" not in from_column.rounds[0].kept
    # the second half weighs nothing: b, which tells the class only there, is near the shadows
    first = from_column.rounds[0].t_importance
    assert first["a"] > 8 and first["b"] < 4
