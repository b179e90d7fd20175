"""The selection settings are declared once; the selector, the flow and the command line derive
their parameters from the declarations."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass

import numpy as np
import pytest

from flows.cli import _parameters, add_settings_options, build_parser, main
from flows.parameters import PARAMETER_SPECS, SelectionParameters
from pipeline.pruning_config import PruningConfig
from pipeline.selector import VAECSelector
from pipeline.settings import (
    CLI,
    FLOW,
    SELECTOR,
    check_settings,
    keyword_init,
    selector_defaults,
    setting,
    setting_specs,
)
from vaec import ConfigError

SPECS = setting_specs(PruningConfig)


def test_the_selector_parameters_are_the_declared_ones_with_their_defaults():
    params = VAECSelector().get_params()
    declared = {(s.selector_name or s.name): (None if s.kind is dict else s.default)
                for s in SPECS if SELECTOR in s.surfaces}
    assert {k: params[k] for k in declared} == declared
    assert set(params) == {*declared, "fit_final_model", "verbose"}
    # and every one of them reaches the pruning config
    selector = VAECSelector(threshold=0.4, latent_dim=3, random_state=7, model_options={"kl_weight": 0.1})
    config = selector.pruning_config()
    assert (config.threshold, config.latent_dim, config.seed) == (0.4, 3, 7)
    assert config.model_options == {"kl_weight": 0.1} and config.test_size == 0.0


def test_the_flow_parameters_are_the_declared_ones_with_their_defaults():
    fields = SelectionParameters.model_fields
    flow_specs = [s for s in SPECS if FLOW in s.surfaces]
    assert [s.name for s in flow_specs] == [s.name for s in PARAMETER_SPECS if s in flow_specs]
    for spec in flow_specs:
        assert fields[spec.name].description == spec.help
        if spec.kind is not dict:
            assert fields[spec.name].default == spec.default, spec.name
    assert SelectionParameters().pruning_config() == PruningConfig()


def test_the_command_line_has_one_option_per_declared_setting():
    run = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {o for action in run.choices["run"]._actions for o in action.option_strings}
    for spec in PARAMETER_SPECS:
        assert (spec.option in options) == (CLI in spec.surfaces), spec.name


@dataclass
class Toy:
    size: int = setting(3, "how big", low=1)
    mode: str = setting("a", "which mode", choices=("a", "b"))
    cap: float | None = setting(None, "an upper bound", low=0, high=1, high_open=True)


def test_a_new_setting_is_an_option_a_parameter_and_a_check_at_once():
    specs = setting_specs(Toy)
    parser = argparse.ArgumentParser()
    add_settings_options(parser, specs)
    assert vars(parser.parse_args(["--size", "5", "--cap", "none"])) == {"size": 5, "cap": None}
    assert vars(parser.parse_args([])) == {}  # left out: the declared default applies
    init = keyword_init(selector_defaults(specs))
    assert list(inspect.signature(init).parameters) == ["self", "size", "mode", "cap"]
    with pytest.raises(ConfigError, match=r"cap must be a number in \[0, 1\) or None, got 1.0"):
        check_settings(Toy(cap=1.0))
    with pytest.raises(ConfigError, match="mode must be one of a, b"):
        check_settings(Toy(mode="c"))
    toy = Toy(size=np.int32(4))
    check_settings(toy)
    assert type(toy.size) is int


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_trials", True, "n_trials must be an integer >= 1, got True"),
        ("n_trials", None, "n_trials must be an integer >= 1, got None"),
        ("threshold", float("nan"), "threshold must be a number in"),
        ("final_strategy", 3, "final_strategy must be one of"),
        ("model_options", [1], "model_options must be a mapping"),
    ],
)
def test_every_check_is_one_line_naming_the_setting(field, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        PruningConfig(**{field: value})
    assert "\n" not in str(info.value)


def test_unknown_selector_parameters_are_refused():
    with pytest.raises(TypeError, match="thresold"):
        VAECSelector(thresold=0.5)


def test_the_stability_settings_reach_the_command_line_the_flow_and_the_selector():
    args = build_parser().parse_args(
        ["run", "--n-resamples", "10", "--resample", "bootstrap", "--keep-frequency", "0.75"])
    config = _parameters(args).pruning_config()
    assert (config.n_resamples, config.resample, config.keep_frequency) == (10, "bootstrap", 0.75)
    fields = SelectionParameters.model_fields
    assert (fields["n_resamples"].default, fields["resample"].default,
            fields["keep_frequency"].default) == (1, "subsample", 0.6)
    selector = VAECSelector(n_resamples=4, keep_frequency=0.9)
    assert selector.get_params()["n_resamples"] == 4
    assert selector.pruning_config().keep_frequency == 0.9


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"keep_frequency": 0.8}, r"keep_frequency must stay at its default \(0.6\) unless "
                                  r"n_resamples >= 2"),
        ({"resample": "bootstrap"}, "resample must stay at its default"),
        ({"n_resamples": 5, "keep_frequency": 0.5}, r"keep_frequency must be a number in \(0.5, 1\]"),
        ({"n_resamples": 0}, "n_resamples must be an integer >= 1"),
        ({"n_resamples": 5, "resample": "jackknife"}, "resample must be one of subsample, bootstrap"),
    ],
)
def test_stability_settings_are_checked_together_before_any_training(changes, message):
    with pytest.raises(ConfigError, match=message):
        PruningConfig(**changes)


def test_a_stability_run_may_also_keep_a_fixed_count():
    config = PruningConfig(n_resamples=5, n_features_to_select=3, keep_frequency=0.9)
    assert (config.n_resamples, config.n_features_to_select) == (5, 3)


def test_the_command_line_names_the_stability_option_it_refuses(capsys):
    assert main(["run", "--keep-frequency", "0.8"]) == 2
    assert "--keep-frequency must stay at its default" in capsys.readouterr().err
