"""Predicting raw tables with a saved final model: channels, scaling, confidence columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data import load_dataset
from pipeline.prediction import load_final_model, predict_file, predict_frame
from pipeline.pruning import PruningRun
from pipeline.pruning_config import PruningConfig
from pipeline.report.writer import MODEL_FOLDER, save_final_model
from pipeline.split import split_dataset
from pipeline.validation import DataError


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
        split = split_dataset(dataset, seed=0)
        config = PruningConfig(
            n_trials=1, n_features_to_select=3, max_drop_fraction=0.5,
            accuracy_tolerance=None, model_options={"epochs": 15},
        )
        result = PruningRun(split, config).run()
        folder = tmp_path_factory.mktemp("run") / MODEL_FOLDER
        save_final_model(result, folder, split, "label")
    finally:
        torch.set_num_threads(threads)
    return folder


def test_load_final_model_returns_the_model_its_channels_and_scaling(model_folder):
    model, channels, scaling = load_final_model(model_folder)
    assert len(channels) == 3
    assert set(channels) <= {"size", "size_copy", "tone", "noise"}
    assert model.config.n_inputs == len(channels)
    assert scaling["mean"].shape == scaling["scale"].shape == (3,)
    assert scaling["target"] == "label"


def test_predictions_keep_the_input_columns_and_add_confidence(model_folder):
    frame = _raw_frame(n_rows=20, seed=1)
    out = predict_frame(model_folder, frame, n_sigma=2.5)
    assert len(out) == len(frame)
    assert list(out.columns[: frame.shape[1]]) == list(frame.columns)
    for column in ("predicted_class", "predicted_probability", "predicted_sigma_distance",
                   "predicted_within_2.5_sigma", "predicted_confidence",
                   "predicted_reconstruction_error", "predicted_reconstruction_p_value"):
        assert column in out.columns
    assert out["predicted_reconstruction_p_value"].between(0.0, 1.0).all()
    assert set(out["predicted_class"]) <= {0, 1}
    assert out["predicted_probability"].between(0.5, 1.0).all()


def test_raw_values_are_scaled_as_in_training(model_folder):
    # the same rows with the column order shuffled and extra columns give the same predictions
    frame = _raw_frame(n_rows=20, seed=2)
    shuffled = frame[frame.columns[::-1]].assign(extra="x")
    a = predict_frame(model_folder, frame)["predicted_probability"].to_numpy()
    b = predict_frame(model_folder, shuffled)["predicted_probability"].to_numpy()
    np.testing.assert_allclose(a, b)
    # and unscaled input far outside the training range is flagged as outside the domain
    far = frame.copy()
    far[["size", "size_copy", "tone", "noise"]] *= 1000.0
    out = predict_frame(model_folder, far)
    assert out["predicted_sigma_distance"].mean() > predict_frame(
        model_folder, frame)["predicted_sigma_distance"].mean()


def test_a_missing_channel_is_named(model_folder):
    _, channels, _ = load_final_model(model_folder)
    frame = _raw_frame(n_rows=10).drop(columns=channels[0])
    with pytest.raises(DataError, match=repr(channels[0])):
        predict_frame(model_folder, frame)


def test_predict_file_writes_rows_and_never_overwrites_the_input(model_folder, tmp_path):
    data = tmp_path / "in.csv"
    _raw_frame(n_rows=12, seed=3).to_csv(data, index=False)
    out = pd.read_csv(predict_file(model_folder, data, tmp_path / "out.csv"))
    assert len(out) == 12 and "predicted_class" in out.columns
    with pytest.raises(DataError, match="input file"):
        predict_file(model_folder, data, data)


def test_a_folder_that_is_no_final_model_is_refused(tmp_path):
    with pytest.raises(DataError, match="not a final model folder"):
        load_final_model(tmp_path)
