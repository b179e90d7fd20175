"""The selection settings are one pydantic model; the selector, the flow and the command line
take their names, defaults and checks from it."""

from __future__ import annotations

import argparse
import inspect

import numpy as np
import pytest

from flows.cli import build_parser
from flows.options import _parameters, settings_fields
from flows.parameters import RunParameters
from pipeline.selector import NOT_ON_SELECTOR, RENAMED, VAECSelector
from pipeline.settings import SelectionSettings, flat_fields
from vaec import ConfigError
from vaec.config import ModelSettings


def test_the_selector_spells_out_every_setting_with_the_declared_default():
    signature = inspect.signature(VAECSelector.__init__).parameters
    declared = {RENAMED.get(name, name): field.get_default(call_default_factory=True)
                for name, field in flat_fields().items() if name not in NOT_ON_SELECTOR}
    own = {"fit_final_model": True, "verbose": False}
    assert {n: p.default for n, p in signature.items() if n != "self"} == declared | own
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in signature.items() if n != "self")
    # and every one of them reaches the settings, the model's in the nested model
    selector = VAECSelector(threshold=0.4, latent_dim=3, random_state=7, kl_weight=0.1, n_jobs=1)
    settings = selector.settings()
    assert (settings.threshold, settings.seed, settings.threads) == (0.4, 7, 1)
    assert (settings.model.latent_dim, settings.model.kl_weight) == (3, 0.1)
    assert settings.test_size == 0.0


def test_the_flow_parameters_are_the_settings_with_the_runs_own_fields():
    assert issubclass(RunParameters, SelectionSettings)
    params = RunParameters()
    assert params.selection() == SelectionSettings()
    assert params.model == ModelSettings()


def test_the_command_line_has_one_option_per_setting_the_models_flattened():
    run = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {o for action in run.choices["run"]._actions for o in action.option_strings}
    expected = {"--" + name.replace("_", "-") for name in settings_fields()}
    assert expected <= options
    assert {"--latent-dim", "--kl-weight", "--encoder-widths", "--fdr", "--data"} <= options
    args = build_parser().parse_args(["run", "--latent-dim", "2", "--encoder-widths", "8,4",
                                      "--guard-level", "none"])
    params = _parameters(args)
    assert params.model.latent_dim == 2 and params.model.encoder_widths == (8, 4)
    assert params.guard_level is None
    # an option left out keeps the declared default
    assert params.model.kl_weight == ModelSettings.model_fields["kl_weight"].default


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_trials": True}, "n_trials must be a valid integer, got True"),
        ({"n_trials": 0}, "n_trials must be >= 1, got 0"),
        ({"n_trials": 10_000}, "n_trials must be <= 64"),
        ({"fdr": float("nan")}, "fdr must be"),
        ({"final_strategy": "autoencoder"}, "final_strategy must be"),
        ({"latent_dim": 0}, "latent_dim must be >= 1, got 0"),
        ({"min_shadows": 20, "max_shadows": 10}, "min_shadows must be <= max_shadows"),
        ({"n_features_to_select": 1}, r"n_features_to_select must be >= min_features \(2\)"),
        ({"val_size": 0.5, "test_size": 0.5}, r"val_size \+ test_size must be < 1"),
        ({"thresold": 0.5}, "thresold is not a setting"),
    ],
)
def test_every_check_is_one_line_naming_the_setting(values, message):
    with pytest.raises(ConfigError, match=message) as info:
        SelectionSettings.from_flat(**values)
    assert "\n" not in str(info.value)


def test_numpy_numbers_are_plain_numbers_to_the_settings():
    settings = SelectionSettings.from_flat(n_trials=np.int64(2), threshold=np.float32(0.5),
                                           seed=np.uint8(3), latent_dim=np.int16(2))
    assert type(settings.n_trials) is int and type(settings.threshold) is float
    assert settings.model_dump(mode="json")["seed"] == 3 and settings.model.latent_dim == 2


def test_unknown_selector_parameters_are_refused():
    with pytest.raises(TypeError, match="thresold"):
        VAECSelector(thresold=0.5)


def test_the_stability_settings_reach_the_command_line_the_flow_and_the_selector():
    args = build_parser().parse_args(
        ["run", "--n-resamples", "10", "--resample", "bootstrap", "--keep-frequency", "0.75"])
    settings = _parameters(args).selection()
    assert (settings.n_resamples, settings.resample, settings.keep_frequency) == (10, "bootstrap", 0.75)
    selector = VAECSelector(n_resamples=4, keep_frequency=0.9)
    assert selector.get_params()["n_resamples"] == 4
    assert selector.settings().keep_frequency == 0.9


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"keep_frequency": 0.8}, r"keep_frequency must stay at its default \(0.6\) unless "
                                  r"n_resamples >= 2"),
        ({"resample": "bootstrap"}, "resample must stay at its default"),
        ({"n_resamples": 5, "keep_frequency": 0.5}, r"keep_frequency must be > 0.5"),
        ({"n_resamples": 0}, "n_resamples must be >= 1"),
        ({"n_resamples": 5, "resample": "jackknife"}, "resample must be one of"),
    ],
)
def test_stability_settings_are_checked_together_before_any_training(changes, message):
    with pytest.raises(ConfigError, match=message):
        SelectionSettings.from_flat(**changes)


def test_a_stability_run_may_also_keep_a_fixed_count():
    settings = SelectionSettings(n_resamples=5, n_features_to_select=3, keep_frequency=0.9)
    assert (settings.n_resamples, settings.n_features_to_select) == (5, 3)


def test_column_settings_take_lists_and_name_a_short_group():
    settings = SelectionSettings(categorical=["zip"], keep_columns="id", groups=[["a", "b"]])
    assert settings.categorical == ("zip",) and settings.keep_columns == ("id",)
    assert settings.groups == (("a", "b"),)
    with pytest.raises(ConfigError, match="groups must each name at least 2 columns"):
        SelectionSettings(groups=[["a"]])
    args = build_parser().parse_args(["run", "--groups", "a,b;c,d", "--categorical", "zip,code"])
    params = _parameters(args)
    assert params.groups == (("a", "b"), ("c", "d")) and params.categorical == ("zip", "code")


def test_class_weight_is_a_word_or_weights_by_label_on_the_command_line_and_in_python():
    def parsed(*argv: str) -> RunParameters:
        return _parameters(build_parser().parse_args(["run", *argv]))

    assert parsed("--class-weight", "balanced").class_weight == "balanced"
    assert parsed("--class-weight", "0:1,1:5").class_weight == {"0": 1.0, "1": 5.0}
    assert parsed().class_weight == "auto"
    assert parsed("--class-weight", "none").class_weight is None
    with pytest.raises(SystemExit):
        parsed("--class-weight", "heavy")
    # labels are matched as text: numbers given in Python become their text
    assert VAECSelector(class_weight={0: 1, 1: 5}).settings().class_weight == {"0": 1.0, "1": 5.0}
    with pytest.raises(ConfigError, match="class_weight must map classes to finite weights >= 0"):
        SelectionSettings(class_weight={"1": -2.0})


@pytest.mark.parametrize(("asked", "budget"), [(None, None), ("auto", None), (3, 3)])
def test_the_budget_is_the_fixed_count_and_never_auto(asked, budget):
    assert SelectionSettings(n_features_to_select=asked).budget == budget
