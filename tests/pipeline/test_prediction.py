"""Predicting raw tables with a saved final model: channels, scaling, confidence columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.apply import predict_file, predict_frame
from pipeline.data.dataset import load_dataset
from pipeline.data.tables import DataError
from pipeline.final_model import FinalModel
from pipeline.selection import run_selection
from pipeline.settings import SelectionSettings


def _raw_frame(n_rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """Two informative channels on very different raw scales, a copy of one, and noise."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_rows) % 2
    signal = label + rng.normal(scale=0.3, size=n_rows)
    return pd.DataFrame({
        "size": 1000.0 + 400.0 * signal,
        "size_copy": 2.0 * (1000.0 + 400.0 * signal) + rng.normal(scale=5, size=n_rows),
        "tone": 0.01 * (label + rng.normal(scale=0.4, size=n_rows)),
        "noise": rng.normal(size=n_rows),
        "label": label,
    })


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only contend on a busy machine
    try:
        dataset = load_dataset(_raw_frame(), "label")
        config = SelectionSettings.from_flat(
            n_trials=1, n_features_to_select=3, max_drop_fraction=0.5,
            guard_level=None, epochs=40,
        )
        result = run_selection(dataset, config)
        folder = result.final.save(tmp_path_factory.mktemp("run") / "final_model")
    finally:
        torch.set_num_threads(threads)
    return folder, result


def test_the_saved_final_model_loads_with_its_channels_scaling_and_metrics(model_folder):
    folder, result = model_folder
    loaded = FinalModel.load(folder)
    assert loaded.channels == result.final.channels == result.selected
    assert loaded.target == "label" and loaded.strategy == "all_parts"
    assert loaded.metrics == result.final.metrics
    train = result.split.columns(loaded.channels)
    np.testing.assert_allclose(loaded.mean, train.scaler.mean_)
    np.testing.assert_allclose(loaded.scale, train.scaler.scale_)
    np.testing.assert_array_equal(
        loaded.model.predict_proba(train.X_val), result.final.model.predict_proba(train.X_val)
    )


def test_predictions_add_the_prediction_and_the_domain_test_that_works(model_folder):
    folder, _ = model_folder
    frame = _raw_frame(n_rows=60, seed=1)
    out = predict_frame(folder, frame)
    assert list(out.columns) == [*frame.columns, "predicted_class", "predicted_probability",
                                 "predicted_reconstruction_p_value", "predicted_in_domain"]
    assert (out["predicted_in_domain"] == (out["predicted_reconstruction_p_value"] >= 0.05)).all()
    # unscaled rows far outside the training range fail the domain test
    far = frame.copy()
    far[["size", "size_copy", "tone", "noise"]] *= 1000.0
    assert not predict_frame(folder, far)["predicted_in_domain"].any()


def test_predictions_keep_the_input_columns_and_add_every_score_when_asked(model_folder):
    folder, _ = model_folder
    frame = _raw_frame(n_rows=60, seed=1)
    out = predict_frame(folder, frame, n_sigma=2.5, all_confidence=True)
    assert len(out) == len(frame)
    assert list(out.columns[: frame.shape[1]]) == list(frame.columns)
    for column in ("predicted_class", "predicted_probability", "predicted_proposed_sigma_distance",
                   "predicted_proposed_within_2.5_sigma", "predicted_proposed_confidence",
                   "predicted_proposed_p_value_z0",
                   "predicted_reconstruction_error", "predicted_reconstruction_p_value"):
        assert column in out.columns
    # the predictions are the model's on the rows scaled as in training, and they are right
    final = FinalModel.load(folder)
    proba = final.model.predict_proba(final.scaled(frame))
    np.testing.assert_allclose(out["predicted_probability"], proba.max(axis=1), rtol=1e-6)
    assert (out["predicted_class"] == frame["label"]).mean() > 0.8


def test_raw_values_are_scaled_as_in_training(model_folder):
    model_folder, _ = model_folder
    # the same rows with the column order shuffled and extra columns give the same predictions
    frame = _raw_frame(n_rows=20, seed=2)
    shuffled = frame[frame.columns[::-1]].assign(extra="x")
    a = predict_frame(model_folder, frame)["predicted_probability"].to_numpy()
    b = predict_frame(model_folder, shuffled)["predicted_probability"].to_numpy()
    np.testing.assert_allclose(a, b)
    # and unscaled input far outside the training range is flagged as outside the domain
    far = frame.copy()
    far[["size", "size_copy", "tone", "noise"]] *= 1000.0
    out = predict_frame(model_folder, far, all_confidence=True)
    assert out["predicted_proposed_sigma_distance"].mean() > predict_frame(
        model_folder, frame, all_confidence=True)["predicted_proposed_sigma_distance"].mean()


def test_a_missing_channel_is_named(model_folder):
    folder, _ = model_folder
    channels = FinalModel.load(folder).channels
    frame = _raw_frame(n_rows=10).drop(columns=channels[0])
    with pytest.raises(DataError, match=repr(channels[0])):
        predict_frame(folder, frame)


def test_predict_file_writes_rows_and_never_overwrites_the_input(model_folder, tmp_path):
    model_folder, _ = model_folder
    data = tmp_path / "in.csv"
    _raw_frame(n_rows=12, seed=3).to_csv(data, index=False)
    out = pd.read_csv(predict_file(model_folder, data, tmp_path / "out.csv"))
    assert len(out) == 12 and "predicted_class" in out.columns
    with pytest.raises(DataError, match="input file"):
        predict_file(model_folder, data, data)


def test_a_folder_that_is_no_final_model_is_refused(tmp_path):
    with pytest.raises(DataError, match="not a final model folder"):
        FinalModel.load(tmp_path)


@pytest.mark.parametrize(("change", "named"), [
    ({"scale": [0.0, 1.0, 1.0]}, r"scale\[0\] must be > 0"),
    ({"mean": "0"}, r"mean"),
    ({"channels": None}, r"channels"),
])
def test_a_damaged_preprocessing_file_is_refused_in_one_line_naming_the_field(model_folder, tmp_path,
                                                                             change, named):
    import json
    import shutil

    copy = shutil.copytree(model_folder[0], tmp_path / "model")
    path = copy / "preprocessing.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(DataError, match=named) as caught:
        FinalModel.load(copy)
    assert "preprocessing.json" in str(caught.value) and "\n" not in str(caught.value)


def test_a_table_predicted_before_is_refused_not_given_two_prediction_columns(model_folder, tmp_path):
    folder, _ = model_folder
    data = tmp_path / "in.csv"
    _raw_frame(n_rows=12, seed=3).to_csv(data, index=False)
    once = predict_file(folder, data, tmp_path / "once.csv")
    with pytest.raises(DataError, match=r"already has the prediction column\(s\) 'predicted_class'"):
        predict_file(folder, once, tmp_path / "twice.csv")
    assert not (tmp_path / "twice.csv").exists()


@pytest.mark.parametrize("name", ["history.csv", "preprocessing.json", "model.json", "new.csv", "."])
def test_predictions_are_never_written_into_the_model_folder(model_folder, tmp_path, name):
    folder, _ = model_folder
    data = tmp_path / "in.csv"
    _raw_frame(n_rows=12, seed=3).to_csv(data, index=False)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(DataError):
        predict_file(folder, data, folder / name)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_excel_output_is_refused(model_folder, tmp_path):
    folder, _ = model_folder
    data = tmp_path / "in.csv"
    _raw_frame(n_rows=12, seed=3).to_csv(data, index=False)
    with pytest.raises(DataError, match=r"'\.xlsx'"):
        predict_file(folder, data, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
