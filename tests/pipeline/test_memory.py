"""The memory a round asks for, checked before anything is allocated."""

from __future__ import annotations

import pytest

from pipeline.data.dataset import load_dataset
from pipeline.machine import check_round_memory, check_selection_memory, round_bytes
from pipeline.selection import run_selection
from pipeline.settings import SelectionSettings
from vaec.config import ConfigError, ModelSettings


def test_the_estimate_grows_with_every_size_it_names():
    model = ModelSettings()
    base = round_bytes(1000, 30, 60, 3, model)
    assert round_bytes(2000, 30, 60, 3, model) > base
    assert round_bytes(1000, 60, 60, 3, model) > base
    assert round_bytes(1000, 30, 120, 3, model) > base
    assert round_bytes(1000, 30, 60, 6, model) > base
    assert round_bytes(1000, 30, 60, 3, model.replace(encoder_widths=(256, 16))) > base
    assert round_bytes(1000, 30, 60, 3, model.replace(latent_dim=64)) > base


def test_a_round_over_the_available_memory_is_one_line_saying_what_to_lower():
    model = ModelSettings(encoder_widths=(60_000, 60_000))
    with pytest.raises(ConfigError) as info:
        check_round_memory(1000, 50, 100, 64, model, available=8 * 2**30)
    message = str(info.value)
    assert "\n" not in message
    assert "of memory" in message and "8.0 GB available" in message
    assert "--n-trials" in message and "--encoder-widths" in message
    assert check_round_memory(1000, 50, 100, 3, ModelSettings(), available=8 * 2**30) < 2**30


def test_the_defaults_on_the_built_in_sets_fit_in_a_gigabyte():
    for name in ("breast_cancer", "wine", "digits", "madelon"):
        assert check_selection_memory(load_dataset(name), SelectionSettings()) < 2**30


def test_a_selection_too_large_for_the_memory_stops_before_it_trains(monkeypatch):
    import pipeline.machine
    import pipeline.selection

    def split_dataset(*args, **kwargs):
        raise AssertionError("the selection started")

    monkeypatch.setattr(pipeline.machine, "available_bytes", lambda: 2**20)
    monkeypatch.setattr(pipeline.selection, "split_dataset", split_dataset)
    with pytest.raises(ConfigError, match="of memory"):
        run_selection(load_dataset("wine"), SelectionSettings())
