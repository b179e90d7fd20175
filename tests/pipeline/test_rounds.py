"""The rule that decides what a pruning round drops, on hand-made trial scores."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.pruning_config import PruningConfig
from pipeline.result import ranking_from_rounds
from pipeline.rounds import (
    STOP_ACCURACY_GUARD,
    STOP_ALL_PASS,
    STOP_MIN_FEATURES,
    STOP_N_FEATURES,
    PruningRound,
    decide_round,
)
from pipeline.trials import TrialScores
from vaec import ConfigError


def scores(r2_by_channel: dict[str, list[float]], f1: float = 0.9) -> TrialScores:
    channels = list(r2_by_channel)
    r2 = np.array([r2_by_channel[c] for c in channels]).T
    n = r2.shape[0]
    return TrialScores(list(range(n)), channels, r2, np.full(n, f1), np.full(n, f1), 0.1)


def test_channels_below_threshold_are_dropped_worst_first():
    s = scores({"a": [0.9, 0.8], "b": [0.1, 0.2], "c": [0.3, 0.2], "d": [0.95, 0.9], "e": [0.7, 0.7]})
    record = decide_round(1, s, PruningConfig(threshold=0.5, max_drop_fraction=0.5), None)
    assert record.dropped == ["b", "c"]
    assert record.stop_reason is None
    assert record.score_mean["b"] == pytest.approx(0.15)
    assert record.score_std["a"] == pytest.approx(0.05)


def test_at_most_the_drop_fraction_leaves_per_round_but_at_least_one():
    failing = {f"n{i}": [0.0] for i in range(8)}
    s = scores({**failing, "k1": [0.9], "k2": [0.9]})
    assert len(decide_round(1, s, PruningConfig(max_drop_fraction=0.2), None).dropped) == 2
    assert len(decide_round(1, s, PruningConfig(max_drop_fraction=0.01), None).dropped) == 1


def test_all_channels_passing_stops_the_loop():
    record = decide_round(3, scores({"a": [0.9], "b": [0.7]}), PruningConfig(threshold=0.5), 0.9)
    assert record.stop_reason == STOP_ALL_PASS
    assert record.dropped == []


def test_min_features_floor_stops_instead_of_dropping():
    s = scores({"a": [0.1], "b": [0.2], "c": [0.9]})
    record = decide_round(1, s, PruningConfig(min_features=3), None)
    assert record.stop_reason == STOP_MIN_FEATURES
    partial = decide_round(1, s, PruningConfig(min_features=2, max_drop_fraction=1.0), None)
    assert partial.dropped == ["a"]


def test_n_features_to_select_drops_passing_channels_too():
    s = scores({"a": [0.99], "b": [0.95], "c": [0.9], "d": [0.8]})
    config = PruningConfig(n_features_to_select=2, max_drop_fraction=1.0)
    assert decide_round(1, s, config, None).dropped == ["d", "c"]
    done = decide_round(2, scores({"a": [0.99], "b": [0.95]}), config, None)
    assert done.stop_reason == STOP_N_FEATURES


def test_accuracy_guard_fires_when_f1_falls_beyond_tolerance():
    s = scores({"a": [0.1], "b": [0.9], "c": [0.9]}, f1=0.85)
    guarded = decide_round(2, s, PruningConfig(accuracy_tolerance=0.02), best_previous_f1=0.9)
    assert guarded.stop_reason == STOP_ACCURACY_GUARD
    assert guarded.dropped == []
    within = decide_round(2, s, PruningConfig(accuracy_tolerance=0.1), best_previous_f1=0.9)
    assert within.stop_reason is None
    off = decide_round(2, s, PruningConfig(accuracy_tolerance=None), best_previous_f1=0.99)
    assert off.dropped == ["a"]


def test_ties_are_broken_by_name_not_column_order():
    first = decide_round(1, scores({"x": [0.1], "y": [0.1], "z": [0.9]}), PruningConfig(), None)
    second = decide_round(1, scores({"y": [0.1], "x": [0.1], "z": [0.9]}), PruningConfig(), None)
    assert first.dropped == second.dropped == ["x"]


def test_ranking_counts_rounds_backwards_and_guard_restores_channels():
    rounds = [
        PruningRound(1, ["a", "b", "c", "d"], {}, {}, ["d"], 0.9, 0.9, 0.0, 1.0),
        PruningRound(2, ["a", "b", "c"], {}, {}, ["c"], 0.9, 0.9, 0.0, 1.0),
        PruningRound(3, ["a", "b"], {}, {}, [], 0.9, 0.9, 0.0, 1.0, STOP_ALL_PASS),
    ]
    assert ranking_from_rounds(["a", "b", "c", "d"], rounds, ["a", "b"], ["k"]) == {
        "a": 1, "b": 1, "c": 2, "d": 3, "k": 4,
    }
    # the guard kept the channels of round 2: "c" is back
    assert ranking_from_rounds(["a", "b", "c", "d"], rounds, ["a", "b", "c"]) == {
        "a": 1, "b": 1, "c": 1, "d": 2,
    }


def test_round_record_survives_a_json_round_trip():
    record = PruningRound(1, ["a"], {"a": 0.5}, {"a": 0.1}, [], 0.9, 0.8, 0.01, 2.0, STOP_ALL_PASS)
    assert PruningRound.from_dict(record.to_dict()) == record


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n_trials", 0),
        ("threshold", 2.0),
        ("max_drop_fraction", 0.0),
        ("min_features", 0),
        ("n_features_to_select", 0),
        ("accuracy_tolerance", -0.1),
        ("final_strategy", "autoencoder"),
        ("val_size", 0.0),
        ("test_size", 1.0),
    ],
)
def test_bad_pruning_option_names_itself(option, value):
    with pytest.raises(ConfigError, match=option):
        PruningConfig(**{option: value})


def test_bad_model_option_fails_before_training():
    with pytest.raises(ConfigError, match="latent_dims"):
        PruningConfig(model_options={"latent_dims": 3})
    with pytest.raises(ConfigError, match="n_inputs"):
        PruningConfig(model_options={"n_inputs": 3})
    with pytest.raises(ConfigError, match="kl_weight"):
        PruningConfig(model_options={"kl_weight": -1.0})
    with pytest.raises(ConfigError, match="latent_dim: each is a setting of its own"):
        PruningConfig(model_options={"latent_dim": 3})
    with pytest.raises(ConfigError, match="latent_dim"):
        PruningConfig(latent_dim=0)


def test_numpy_numbers_are_plain_numbers_to_the_settings():
    config = PruningConfig(n_trials=np.int64(2), threshold=np.float32(0.5), seed=np.uint8(3))
    assert type(config.n_trials) is int and type(config.threshold) is float
    assert config.to_dict()["seed"] == 3
    with pytest.raises(ConfigError, match="n_trials must be an integer"):
        PruningConfig(n_trials=2.0)
    with pytest.raises(ConfigError, match="n_trials"):
        PruningConfig(n_trials=True)
