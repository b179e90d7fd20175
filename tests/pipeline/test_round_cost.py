"""What makes rounds cheap must not change what they select: recording less often, mini-batches
for tall tables, threads, the device."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data.dataset import load_dataset
from pipeline.data.split import split_dataset
from pipeline.machine import threads_for, usable_cores
from pipeline.rounds import trials as policy
from pipeline.rounds.fate import decide_round
from pipeline.rounds.record import PASSING
from pipeline.rounds.trials import TALL_ROWS, round_model_config, tall_batch_size, train_trials
from pipeline.selection import run_selection
from pipeline.selector import VAECSelector
from pipeline.settings import SelectionSettings
from vaec import ConfigError


def record_everything(monkeypatch):
    """Round models that evaluate every epoch, on the training rows too."""
    monkeypatch.setattr(policy, "ROUND_EVAL_EVERY", 1)
    monkeypatch.setattr(policy, "ROUND_TRAIN_METRICS", True)


@pytest.mark.slow
def test_recording_rounds_less_often_does_not_change_the_selection(monkeypatch):
    dataset = load_dataset("madelon")
    light = run_selection(dataset, SelectionSettings(test_size=0.0), fit_final=None)
    record_everything(monkeypatch)
    full = run_selection(dataset, SelectionSettings(test_size=0.0), fit_final=None)
    # early stopping looks at other epochs, so a noise channel may leave a round sooner or
    # later (one of madelon's 15 noise channels stays a round longer and is kept); every
    # informative and redundant channel is kept either way
    relevant = {c for c in dataset.feature_names if not c.startswith("noise")}
    assert relevant <= set(light.selected) and relevant <= set(full.selected)
    assert len(set(light.selected) ^ set(full.selected)) <= 1


@pytest.mark.slow
def test_recording_rounds_less_often_does_not_change_what_a_round_passes(monkeypatch):
    # breast_cancer's channels are all related to the diagnosis, several only weakly: which of
    # those a whole selection keeps moves with any change in training, the first round's verdict
    # on the channels must not
    dataset = load_dataset("breast_cancer")
    verdicts = []
    for everything in (False, True):
        if everything:
            record_everything(monkeypatch)
        config = SelectionSettings(test_size=0.0)
        split = split_dataset(dataset, val_size=config.val_size, test_size=0.0, seed=0)
        record = decide_round(1, train_trials(split, split.feature_names, config, 1), config, None)
        verdicts.append({c: d in PASSING for c, d in record.decision.items()})
    light, full = verdicts
    assert sum(light[c] == full[c] for c in light) >= 0.9 * len(light)


def test_round_models_record_validation_only_and_stop_on_its_loss():
    config = round_model_config(SelectionSettings(), n_inputs=5, n_classes=2, round_index=1)
    assert not config.train_metrics and config.eval_every > 1
    assert config.early_stopping_on == "loss" and config.early_stopping_patience is not None
    assert not config.restore_best


@pytest.mark.slow
def test_tall_tables_train_on_seeded_mini_batches():
    config = SelectionSettings()
    assert round_model_config(config, 5, 2, 1, n_rows=TALL_ROWS).batch_size is None
    tall = round_model_config(config, 5, 2, 1, n_rows=TALL_ROWS + 1)
    assert tall.batch_size == tall_batch_size(TALL_ROWS + 1)
    rng = np.random.default_rng(0)
    n = TALL_ROWS * 2
    frame = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"c{i}" for i in range(6)])
    frame["label"] = (frame["c0"] + frame["c1"] > 0).astype(int)
    dataset = load_dataset(frame, "label")
    config = SelectionSettings.from_flat(test_size=0.0, epochs=20)
    first = run_selection(dataset, config, fit_final=None)
    again = run_selection(dataset, config, fit_final=None)
    assert first.rounds[0].score_mean == again.rounds[0].score_mean
    assert {"c0", "c1"} <= set(first.selected)


def test_the_default_thread_count_never_follows_the_machines_load(monkeypatch):
    import os

    for load in (0.0, 1.7, 40.0):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert threads_for(None) == 1 and threads_for(None, concurrent=2) == 1


def test_threads_are_shared_among_groups_and_restored_after_a_fit():
    assert 1 <= threads_for(None) <= usable_cores()
    assert threads_for(4, concurrent=2) == 2 and threads_for(1, concurrent=3) == 1
    before = torch.get_num_threads()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    VAECSelector(n_jobs=1, epochs=5, n_trials=1, fit_final_model=False).fit(X, y)
    assert torch.get_num_threads() == before


def test_the_device_is_checked_before_any_training():
    config = SelectionSettings.from_flat(device="cpu")
    assert round_model_config(config, 3, 2, 1).device == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda'"):
            VAECSelector(device="cuda").fit(np.eye(4), [0, 1, 0, 1])


def test_a_verbose_selector_says_what_each_round_did(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] > 0).astype(int)
    selector = VAECSelector(epochs=30, verbose=True).fit(X, y)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == len(selector.rounds_) + 1
    assert "round 1: trained on 5" in lines[0] and "final model on" in lines[-1]
