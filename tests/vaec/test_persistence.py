"""Save/load round trip; loading never runs code from the files; config errors."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

from vaec import classifier
from vaec.classifier import VAEC, InputError
from vaec.config import ConfigError, VAECConfig
from vaec.persistence import ModelFileError


def test_round_trip_gives_identical_predictions(cancer, small_config, tmp_path):
    X, y, X_val, _ = cancer
    model = VAEC(small_config, n_replicas=2, classes=np.array(["benign", "malignant"]))
    labels = np.where(y == 1, "malignant", "benign")
    model.fit_var_mlp_classifier(X, labels)
    model.fit_latent_domain(X, replica=1)
    folder = model.save(tmp_path / "model")
    loaded = VAEC.load(folder)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_val, replica=None), model.predict_proba(X_val, replica=None)
    )
    np.testing.assert_array_equal(loaded.predict(X_val), model.predict(X_val))
    assert loaded.predict(X_val).dtype.kind == "U"
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.latent_domain_.diagonal.std, model.latent_domain_.diagonal.std)
    assert loaded.latent_domain_.isotropic.sigma == model.latent_domain_.isotropic.sigma
    assert loaded.latent_domain_.replica == 1
    assert loaded.reconstruction_check_ is None


class _Payload:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['VAEC_MARKER'], 'w').write('ran')",))


def test_loading_never_executes_code_from_the_weights(cancer, small_config, tmp_path, monkeypatch):
    X, y, _, _ = cancer
    model = VAEC(small_config.replace(epochs=2))
    model.fit_all_parts(X, y)
    folder = model.save(tmp_path / "model")
    marker = tmp_path / "marker"
    monkeypatch.setenv("VAEC_MARKER", str(marker))
    (folder / "weights.pt").write_bytes(pickle.dumps({"encoder": _Payload()}, protocol=2))
    with pytest.raises(ModelFileError, match=r"weights\.pt"):
        VAEC.load(folder)
    assert not marker.exists()


def test_a_folder_without_weights_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved VAEC model folder"):
        VAEC.load(tmp_path)


def test_unknown_config_keys_in_model_json_are_refused(cancer, small_config, tmp_path):
    X, y, _, _ = cancer
    model = VAEC(small_config.replace(epochs=2))
    model.fit_all_parts(X, y)
    folder = model.save(tmp_path / "model")
    meta = json.loads((folder / "model.json").read_text())
    meta["config"]["lambda"] = "__import__('os')"
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"model\.json: config\.lambda is not a setting$"):
        VAEC.load(folder)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"n_classes": 1}, "n_classes"),
        ({"n_inputs": 0}, "n_inputs"),
        ({"latent_dim": -2}, "latent_dim"),
        ({"encoder_widths": (16, 0)}, "encoder_widths"),
        ({"activation": "sigmoidish"}, "activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"kl_weight": -1.0}, "kl_weight"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"selection_metric": "auc"}, "selection_metric"),
    ],
)
def test_bad_config_names_the_parameter(changes, words):
    options = {"n_inputs": 4, "n_classes": 2, **changes}
    with pytest.raises(ConfigError, match=words) as info:
        VAECConfig(**options)
    assert "\n" not in str(info.value)


def test_bad_inputs_are_refused_before_training(small_config):
    model = VAEC(small_config)
    X = np.zeros((10, 29), dtype=np.float32)
    with pytest.raises(InputError, match="n_inputs=30"):
        model.fit_all_parts(X, np.zeros(10))
    X = np.zeros((10, 30), dtype=np.float32)
    X[3, 7] = np.nan
    with pytest.raises(InputError, match=r"\[7\]"):
        model.fit_all_parts(X, np.arange(10) % 2)
    with pytest.raises(InputError, match="rows"):
        model.fit_all_parts(np.zeros((10, 30)), np.arange(9) % 2)
    assert model.results == []


# a damaged or hand-edited model folder --------------------------------------------------------

@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    """A saved two-replica model (untrained: only the files matter here)."""
    config = VAECConfig(n_inputs=6, n_classes=2, encoder_widths=(8, 4), head_widths=(4,))
    return VAEC(config, n_replicas=2).save(tmp_path_factory.mktemp("saved") / "model")


def _copy_with(folder, tmp_path, meta_changes=None, config_changes=None, weights=None):
    target = tmp_path / "model"
    target.mkdir()
    meta = json.loads((folder / "model.json").read_text())
    meta.update(meta_changes or {})
    meta["config"].update(config_changes or {})
    (target / "model.json").write_text(json.dumps(meta))
    data = (folder / "weights.pt").read_bytes()
    (target / "weights.pt").write_bytes(weights(data) if weights else data)
    return target


@pytest.fixture
def nothing_is_built(monkeypatch):
    """The network of a loaded model is never built: a check refuses the folder first."""
    def built(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(classifier, "VAECNet", built)


def test_weights_that_would_expand_far_past_their_tensors_are_refused_unread(tmp_path, monkeypatch):
    import zipfile

    import torch

    def load(*args, **kwargs):
        raise AssertionError("weights.pt was read")

    # a small model: its honest weights are well under a MB, so the bomb's size on disk passes
    # the size check and only what it would expand to gives it away
    config = VAECConfig(n_inputs=100, n_classes=2, encoder_widths=(64, 32), head_widths=(4,))
    folder = VAEC(config, n_replicas=2).save(tmp_path / "model")
    chunk = bytes(2**20)
    with zipfile.ZipFile(folder / "weights.pt", "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive, \
            archive.open("archive/data/0", "w", force_zip64=True) as member:
        for _ in range(64):  # 64 MB of zeros, a few hundred kB on disk
            member.write(chunk)
    assert (folder / "weights.pt").stat().st_size < 2**20
    monkeypatch.setattr(torch, "load", load)
    with pytest.raises(ModelFileError, match="expands to 67108864 bytes") as info:
        VAEC.load(folder)
    assert "weights.pt" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("meta_changes", "config_changes", "words"),
    [
        # a width past ModelSettings' own bound is refused by the config's check
        ({}, {"encoder_widths": [200_000, 200_000]}, r"encoder_widths\[0\] must be <= 65536"),
        ({}, {"n_inputs": 10**9}, "n_inputs 1000000000 is over the limit"),
        ({"n_replicas": 10**6}, {}, "n_replicas 1000000 is over the limit"),
        ({}, {"encoder_widths": [30_000, 30_000]}, "parameters, over the limit"),
    ],
)
def test_sizes_past_the_limits_are_refused_before_anything_is_built(
    saved_folder, tmp_path, nothing_is_built, meta_changes, config_changes, words
):
    folder = _copy_with(saved_folder, tmp_path, meta_changes, config_changes)
    with pytest.raises(ModelFileError, match=words) as info:
        VAEC.load(folder)
    assert "model.json" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("meta_changes", "config_changes", "words"),
    [
        ({}, {"encoder_widths": [64, 32]}, r"encoder.trunk.0.weight has shape \(2, 6, 8\)"),
        ({"n_replicas": 3}, {}, r"has shape \(2, "),
        ({}, {"n_inputs": 7}, "has shape"),
        ({}, {"head_widths": []}, "do not match model.json"),
    ],
)
def test_weights_of_other_shapes_are_refused_before_the_network_is_built(
    saved_folder, tmp_path, nothing_is_built, meta_changes, config_changes, words
):
    folder = _copy_with(saved_folder, tmp_path, meta_changes, config_changes)
    with pytest.raises(ModelFileError, match=words) as info:
        VAEC.load(folder)
    assert "weights.pt" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b"junk" * 10])
def test_damaged_weights_are_one_error_naming_the_file(saved_folder, tmp_path, damage):
    folder = _copy_with(saved_folder, tmp_path, weights=damage)
    with pytest.raises(ModelFileError, match=r"weights\.pt: not a readable weights file") as info:
        VAEC.load(folder)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("meta_changes", "config_changes", "words"),
    [
        ({"format_version": 3}, {}, "format_version must be one of 1 or 2, got 3"),
        ({"n_replicas": "2"}, {}, "n_replicas must be a valid integer, got '2'"),
        ({}, {"latent_dim": 0}, "config.latent_dim must be >= 1, got 0"),
        ({}, {"task": "ranking"}, "task must be one of classification, regression, unsupervised"),
        ({"classes": {"dtype": "int", "values": [0]}}, {}, "classes does not hold n_classes=2"),
        ({"classes": {"dtype": "int", "values": ["a", "b"]}}, {}, "not all of dtype int"),
        ({"latent_domain": {"format_version": 1, "n_draws": 2, "seed": 0,
                            "isotropic": {"center": [0.0], "sigma": -1.0, "n_samples": 5},
                            "diagonal": {"mean": [0.0], "std": [1.0], "n_samples": 5}}},
         {}, "latent_domain.isotropic.sigma must be > 0.0, got -1.0"),
        ({"reconstruction_check": {"format_version": 1, "errors": [0.1], "n_samples": 1}},
         {}, "reconstruction_check.errors must have at least 2 items, got [0.1]"),
    ],
)
def test_an_invalid_model_json_is_one_error_naming_the_file_and_the_field(
    saved_folder, tmp_path, nothing_is_built, meta_changes, config_changes, words
):
    folder = _copy_with(saved_folder, tmp_path, meta_changes, config_changes)
    with pytest.raises(ModelFileError, match=re.escape(words)) as info:
        VAEC.load(folder)
    assert str(info.value).startswith(str(folder / "model.json")) and "\n" not in str(info.value)


def test_a_version_1_model_json_keeps_its_fitted_statistics_under_extras(saved_folder, tmp_path):
    meta = json.loads((saved_folder / "model.json").read_text())
    check = {"format_version": 1, "errors": [0.1, 0.2, 0.4], "n_samples": 3}
    folder = _copy_with(saved_folder, tmp_path, {"format_version": 1,
                                                  "extras": {"reconstruction_check": check}})
    assert meta["reconstruction_check"] is None
    loaded = VAEC.load(folder)
    np.testing.assert_array_equal(loaded.reconstruction_check_.errors, [0.1, 0.2, 0.4])


@pytest.mark.parametrize("text", ["{not json", "[]", '{"format_version": 2}'])
def test_a_damaged_model_json_is_one_error_naming_the_file(saved_folder, tmp_path, text):
    folder = _copy_with(saved_folder, tmp_path)
    (folder / "model.json").write_text(text)
    with pytest.raises(ModelFileError, match=r"model\.json") as info:
        VAEC.load(folder)
    assert "\n" not in str(info.value)


def test_an_untouched_folder_still_loads(saved_folder):
    assert VAEC.load(saved_folder).n_replicas == 2


def test_weights_holding_nan_are_one_error_naming_the_file_and_the_tensor(saved_folder, tmp_path):
    import torch

    folder = _copy_with(saved_folder, tmp_path)
    state = torch.load(folder / "weights.pt", weights_only=True)
    name = next(iter(state))
    state[name].view(-1)[0] = float("nan")
    torch.save(state, folder / "weights.pt")
    with pytest.raises(ModelFileError, match=rf"weights\.pt: {re.escape(name)} holds NaN") as info:
        VAEC.load(folder)
    assert "lower learning_rate" in str(info.value) and "\n" not in str(info.value)
