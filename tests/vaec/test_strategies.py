"""Each training strategy trains exactly its parts, and its loss falls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaec.classifier import VAEC
from vaec.config import STRATEGIES
from vaec.model import PARTS
from vaec.tasks import probabilities


def part_state(model: VAEC) -> dict[str, dict[str, torch.Tensor]]:
    return {
        part: {k: v.detach().clone() for k, v in model.net.part(part).state_dict().items()}
        for part in PARTS
    }


def changed_parts(before, after) -> set[str]:
    return {
        part for part in PARTS
        if any(not torch.equal(before[part][k], after[part][k]) for k in before[part])
    }


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_changes_exactly_its_parts_and_its_loss_falls(name, cancer, small_config):
    X, y, X_val, y_val = cancer
    model = VAEC(small_config.replace(restore_best=False))
    before = part_state(model)
    result = model.fit(name, X, y, X_val, y_val)
    assert changed_parts(before, part_state(model)) == set(STRATEGIES[name].trains)
    loss = result.history.for_replica(0)["train_total_loss"]
    assert loss[-5:].mean() < 0.95 * loss[:3].mean()


def test_losses_outside_the_strategy_do_not_count(cancer, small_config):
    X, y, X_val, y_val = cancer
    frame = VAEC(small_config).fit("mlp_classifier", X, y, X_val, y_val).history.for_replica(0)
    np.testing.assert_allclose(frame["train_total_loss"], frame["train_prediction_loss"], rtol=1e-5)
    frame = VAEC(small_config).fit("autoencoder", X, y, X_val, y_val).history.for_replica(0)
    expected = frame["train_reconstruction_loss"] + small_config.kl_weight * frame["train_kl_loss"]
    np.testing.assert_allclose(frame["train_total_loss"], expected, rtol=1e-5)


def test_head_on_the_frozen_encoder_of_an_autoencoder(cancer, small_config):
    """The seed's first concept: a VAE first, then the head on its frozen encoder, one object."""
    X, y, X_val, y_val = cancer
    model = VAEC(small_config.replace(epochs=60))
    model.fit_autoencoder(X, y, X_val, y_val)
    encoder_before = part_state(model)["encoder"]
    z_before, _ = model.encode(X_val)
    model.fit_classifier_head(X, y, X_val, y_val)
    after = part_state(model)["encoder"]
    assert all(torch.equal(encoder_before[k], after[k]) for k in encoder_before)
    np.testing.assert_array_equal(model.encode(X_val)[0], z_before)
    assert (model.predict(X_val) == y_val).mean() > 0.85
    assert [r.strategy for r in model.results] == ["autoencoder", "classifier_head"]


def test_var_mlp_head_sees_z_mean_at_inference(cancer, small_config):
    X, y, X_val, y_val = cancer
    model = VAEC(small_config)
    model.fit_var_mlp_classifier(X, y, X_val, y_val)
    proba = model.predict_proba(X_val)
    with torch.no_grad():  # the head on z_mean, by hand
        on_z_mean = probabilities(model.net.head(torch.from_numpy(model.encode(X_val)[0])[None]))
    np.testing.assert_allclose(proba, on_z_mean[0].numpy(), rtol=1e-6)
    sampled_a = model.predict_proba(X_val, sample=True, seed=1)
    sampled_b = model.predict_proba(X_val, sample=True, seed=1)
    np.testing.assert_array_equal(sampled_a, sampled_b)
    assert not np.array_equal(sampled_a, proba)
    assert not np.array_equal(sampled_a, model.predict_proba(X_val, sample=True, seed=2))
