"""Loading data and refusing bad data before any training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score

from pipeline.data.builtin import make_madelon
from pipeline.data.dataset import dataset_from_arrays, load_dataset
from pipeline.data.split import split_dataset, split_rows, stratified_indices
from pipeline.data.tables import DataError


def good_frame(n_rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n_rows, 3)), columns=["a", "b", "c"])
    frame["label"] = np.arange(n_rows) % 2
    return frame


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.drop(columns="label"), r"target column 'label' not found; columns are 'a'"),
        (lambda f: f.assign(b=["x"] * len(f), c=1.0), r"at least 2 non-constant .*'b', 'c'"),
        (lambda f: f.assign(a=[np.nan, np.inf, -np.inf] + [0.5] * (len(f) - 3)),
         r"infinite values in 'a' \(2 rows\)"),
        (lambda f: f.assign(label=0), r"'label' has 1 class"),
        (lambda f: f.assign(label=[2] * 2 + [0] * (len(f) - 2)), r"class 2 has 2 rows"),
        (lambda f: f.assign(b=1.0, c=2.0), r"at least 2 non-constant .*'b', 'c'"),
        (lambda f: f.set_axis(["a", "a", "c", "label"], axis=1), r"duplicate column names: 'a'"),
        (lambda f: f.assign(label=[np.nan] + [1] * (len(f) - 1)), r"'label' has 1 missing"),
    ],
)
def test_bad_table_is_refused_with_a_message_naming_the_columns(damage, message):
    with pytest.raises(DataError, match=message):
        load_dataset(damage(good_frame()), "label")


def test_bad_split_fraction_names_the_parameter():
    with pytest.raises(DataError, match="val_size"):
        load_dataset(good_frame(), "label", val_size=0.0)
    with pytest.raises(DataError, match="test_size"):
        load_dataset(good_frame(), "label", test_size=1.5)


def test_constant_columns_are_dropped_and_listed():
    frame = good_frame().assign(flat=3.0)
    dataset = load_dataset(frame, "label")
    assert dataset.constant_columns == ["flat"]
    assert "flat" not in dataset.feature_names
    assert dataset.summary()["constant_columns"] == ["flat"]


def test_digits_border_pixels_come_out_constant():
    dataset = load_dataset("digits")
    # a pixel is constant when it is ink-free in every one of the 1797 images
    images = load_digits().images
    expected = {f"pixel_{r}_{c}" for r in range(8) for c in range(8) if np.ptp(images[:, r, c]) == 0}
    assert set(dataset.constant_columns) == expected
    assert "pixel_0_0" in expected
    assert len(dataset.feature_names) == 64 - len(dataset.constant_columns)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_files_round_trip_and_are_not_modified(tmp_path, suffix):
    frame = good_frame()
    path = tmp_path / f"table{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    before = path.read_bytes()
    dataset = load_dataset(path, "label")
    assert dataset.name == "table"
    assert dataset.feature_names == ["a", "b", "c"]
    np.testing.assert_allclose(dataset.features.to_numpy(dtype=float), frame[["a", "b", "c"]].to_numpy())
    assert path.read_bytes() == before


def test_unknown_name_and_missing_file_are_clear(tmp_path):
    with pytest.raises(DataError, match=r"unknown dataset 'iris'.*breast_cancer"):
        load_dataset("iris")
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "missing.csv", "label")
    with pytest.raises(DataError, match="task 'regression' needs a target column"):
        load_dataset(good_frame(), task="regression")


def test_the_task_follows_the_target():
    frame = good_frame()
    assert load_dataset(frame, "label").task.name == "classification"
    assert load_dataset(frame.assign(label=frame["a"] * 3.5), "label").task.name == "regression"
    many = frame.assign(label=np.arange(len(frame)))  # 60 distinct integers: a quantity
    assert load_dataset(many, "label").task.name == "regression"
    unlabelled = load_dataset(frame.drop(columns="label"))
    assert unlabelled.task.name == "unsupervised" and unlabelled.target is None
    assert unlabelled.feature_names == ["a", "b", "c"]
    with pytest.raises(DataError, match="takes no target"):
        load_dataset(frame, "label", task="unsupervised")


def test_madelon_truth_matches_columns_and_carries_the_signal():
    frame, truth = make_madelon(n_samples=400, seed=1)
    relevant = truth["informative"] + truth["redundant"]
    assert sorted(frame.columns[:-1]) == sorted(relevant + truth["noise"])
    assert list(frame.columns[:10]) != relevant  # the order does not give the truth away
    y = frame["target"]
    # the classes are clusters at hypercube corners: a forest sees them, a linear model need not
    forest = RandomForestClassifier(n_estimators=50, random_state=0)
    signal = cross_val_score(forest, frame[relevant], y, cv=3).mean()
    noise = cross_val_score(forest, frame[truth["noise"]], y, cv=3).mean()
    assert signal > 0.7
    assert noise < 0.6


def test_split_is_stratified_disjoint_and_scaled_on_train_only():
    dataset = load_dataset("breast_cancer")
    split = split_dataset(dataset, seed=3)
    sizes = [len(split.y_train), len(split.y_val), len(split.y_test)]
    assert sum(sizes) == 569
    assert abs(sizes[1] - 0.2 * 569) <= 1 and abs(sizes[2] - 0.2 * 569) <= 1
    for part in (split.y_train, split.y_val, split.y_test):
        assert abs(part.mean() - dataset.y.mean()) < 0.01
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-5)
    assert np.abs(split.X_val.mean(axis=0)).max() > 0.01
    rows = {tuple(r) for r in split.X_train.round(5)}
    assert not rows & {tuple(r) for r in split.X_val.round(5)}
    again = split_dataset(dataset, seed=3)
    np.testing.assert_array_equal(split.X_val, again.X_val)


def test_column_subset_keeps_rows_and_scaler_consistent():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5, size=(100, 4))
    y = np.arange(100) % 2
    split = split_rows(X, y, ["a", "b", "c", "d"], *stratified_indices(y, test_size=0.0))
    sub = split.columns(["d", "b"])
    assert sub.X_test is None
    np.testing.assert_array_equal(sub.X_train, split.X_train[:, [3, 1]])
    np.testing.assert_allclose(sub.scaler.mean_, split.scaler.mean_[[3, 1]])
    with pytest.raises(KeyError, match="zz"):
        split.columns(["zz"])


def test_arrays_are_validated_like_tables():
    X = np.ones((20, 3))
    X[:, 0] = np.arange(20)
    X[:, 2] = np.arange(20) ** 2
    dataset = dataset_from_arrays(X, np.arange(20) % 2, ["x0", "x1", "y"])
    assert dataset.constant_columns == ["x1"]
    # the target never takes a feature's name
    assert dataset.feature_names == ["x0", "y"] and dataset.target not in ("x0", "x1", "y")
    X[5, 2] = np.inf
    with pytest.raises(DataError, match=r"'x2' \(1 rows\)"):
        dataset_from_arrays(X, np.arange(20) % 2, ["x0", "x1", "x2"])


def test_a_file_is_read_once_while_it_is_unchanged(tmp_path):
    path = tmp_path / "table.csv"
    good_frame().to_csv(path, index=False)
    first = load_dataset(path, "label")
    assert load_dataset(path, "label") is first
    good_frame(n_rows=80).to_csv(path, index=False)
    changed = load_dataset(path, "label")
    assert changed is not first and len(changed.frame) == 80


def test_builtin_classes_have_readable_names_and_files_keep_their_labels(tmp_path):
    cancer = load_dataset("breast_cancer")
    assert cancer.class_names([0, 1]) == ["malignant", "benign"]
    good_frame().to_csv(tmp_path / "table.csv", index=False)
    assert load_dataset(tmp_path / "table.csv", "label").class_names([0, 1]) == ["0", "1"]


@pytest.mark.parametrize("header", ["a,a,b,label", '"a","a",b,label', "\n\nb,a,a,label"])
def test_a_csv_that_names_a_column_twice_is_refused_by_its_header(tmp_path, header):
    # pandas would read the second 'a' as 'a.1' and go on
    rows = "\n".join(f"{i},{i * 2 % 7},{i % 5},{i % 2}" for i in range(30))
    path = tmp_path / "dup.csv"
    path.write_text(f"{header}\n{rows}\n")
    with pytest.raises(DataError, match=r"duplicate column names in .*dup\.csv: 'a'") as info:
        load_dataset(path, "label")
    assert "\n" not in str(info.value)


def test_a_float_target_forced_to_classes_is_one_short_line():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    frame["y"] = rng.normal(size=300)  # a measurement, not classes
    assert load_dataset(frame, "y").task.name == "regression"  # what auto makes of it
    with pytest.raises(DataError) as info:
        load_dataset(frame, "y", task="classification")
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert "300 of 300 classes have too few rows" in message
    assert "and 297 more" in message and "task='regression'" in message


