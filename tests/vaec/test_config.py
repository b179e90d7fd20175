"""The model's settings: one set of defaults, checks that name the field in one line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vaec.config import ConfigError, ModelSettings, VAECConfig


def test_the_defaults_are_the_pruning_rounds_model():
    config = VAECConfig(n_inputs=30, n_classes=2)
    assert (config.latent_dim, config.encoder_widths, config.head_widths) == (4, (32, 16), (16,))
    assert (config.kl_weight, config.learning_rate, config.epochs) == (0.01, 5e-3, 300)
    assert config.decoder_layer_widths == (16, 32) and config.activation == "elu"
    assert ModelSettings() == ModelSettings.model_validate(config.model_dump(
        include=set(ModelSettings.model_fields)))


def test_every_model_setting_is_described():
    assert all(field.description for field in VAECConfig.model_fields.values())
    assert "latent_dim : int, default=4" in ModelSettings.__doc__
    assert "n_inputs : int\n" in VAECConfig.__doc__


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"latent_dim": 0}, "latent_dim must be >= 1, got 0"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0.0, got 0.0"),
        ({"dropout": 1.0}, "dropout must be < 1.0, got 1.0"),
        ({"encoder_widths": (16, 0)}, "encoder_widths[1] must be >= 1, got 0"),
        ({"epochs": 2.5}, "epochs must be a valid integer, got 2.5"),
        ({"epochs": True}, "epochs must be a valid integer, got True"),
        ({"restore_best": "yes"}, "restore_best must be a valid boolean, got 'yes'"),
        ({"early_stopping_on": "f1"}, "early_stopping_on must be one of 'selection' or 'loss', got 'f1'"),
        ({"latent_dims": 3}, "latent_dims is not a setting"),
        ({"n_classes": 1}, "n_classes must be >= 2 for task 'classification', got 1"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_field(changes, message):
    with pytest.raises(ConfigError) as info:
        VAECConfig(**{"n_inputs": 4, "n_classes": 2, **changes})
    assert str(info.value) == message


def test_numpy_numbers_and_lists_count_as_plain_values():
    config = VAECConfig(n_inputs=np.int64(4), n_classes=2, latent_dim=np.uint8(3),
                        kl_weight=np.float32(0.5), encoder_widths=[np.int32(8), 4], weight_decay=0)
    assert type(config.n_inputs) is int and config.latent_dim == 3
    assert config.encoder_widths == (8, 4) and config.weight_decay == 0.0
    assert isinstance(hash(config), int)  # settings are frozen: a change is a validated copy


def test_replace_is_a_validated_copy():
    config = VAECConfig(n_inputs=4, n_classes=2)
    assert config.replace(seed=3).seed == 3 and config.seed == 0
    with pytest.raises(ConfigError, match="seed must be >= 0"):
        config.replace(seed=-1)
    with pytest.raises(ConfigError, match="n_classes must be 1 for task 'regression', got 2"):
        config.replace(task="regression")


def test_the_json_form_round_trips():
    config = VAECConfig(n_inputs=4, n_classes=1, task="unsupervised", decoder_widths=(5,))
    data = config.model_dump(mode="json")
    assert data["task"] == "unsupervised" and data["encoder_widths"] == [32, 16]
    assert VAECConfig(**data) == config


def test_checking_the_settings_does_not_load_torch():
    script = ("import sys\nfrom vaec.config import VAECConfig\n"
              "VAECConfig(n_inputs=3, n_classes=2)\nprint('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "False", result.stderr
