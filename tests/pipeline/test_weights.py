"""Row weights: ``sample_weight`` times ``class_weight`` count a row as that many rows in the
models' losses and the selection's scores, from ``VAECSelector.fit`` (or a Pipeline's metadata
routing) through the split, the rounds, the guard and the final model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.pipeline import Pipeline

import pipeline.selector as selector_module
from pipeline.data.dataset import dataset_from_arrays
from pipeline.data.split import IMBALANCE_RATIO, imbalanced, resolved_class_weight, split_dataset
from pipeline.data.tables import DataError
from pipeline.report.tables import report_tables
from pipeline.rounds.fate import guard_test
from pipeline.rounds.record import row_mean_se
from pipeline.rounds.scores import ablation_channel_scores, balanced_accuracy
from pipeline.selection import run_selection
from pipeline.selector import VAECSelector
from pipeline.settings import SelectionSettings
from vaec import VAEC, VAECConfig
from vaec.tasks import CLASSIFICATION


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X[:120, :6].astype(np.float32), y[:120]


def _config(**changes) -> VAECConfig:
    return VAECConfig(n_inputs=6, n_classes=2, latent_dim=2, encoder_widths=(8,), head_widths=(4,),
                      epochs=15, seed=3, **changes)


def _trained(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> VAEC:
    # a deterministic strategy: a sampled z draws noise per row, so a row more changes the draws
    model = VAEC(_config())
    model.fit("mlp_classifier", X, y, X[:40], y[:40],
              row_weights=None if weights is None else weights[None])
    return model


def test_a_row_of_weight_two_trains_the_head_as_the_row_twice_and_weight_zero_as_no_row(cancer):
    X, y = cancer
    weights = np.ones(len(X), dtype=np.float32)
    weights[[5, 17]] = 2.0
    weights[[8, 30, 31]] = 0.0
    twice = np.concatenate([np.arange(len(X)), [5, 17]])
    kept = np.array([i for i in twice if i not in (8, 30, 31)])
    weighted, copied = _trained(X, y, weights), _trained(X[kept], y[kept])
    # the training loss of every epoch is the loss of the copied rows, so the model is theirs
    columns = ["train_prediction_loss", "train_total_loss"]
    ours, theirs = weighted.results[-1].history.for_replica(0), copied.results[-1].history.for_replica(0)
    np.testing.assert_allclose(np.column_stack([ours[c] for c in columns]),
                               np.column_stack([theirs[c] for c in columns]), rtol=1e-4)
    np.testing.assert_allclose(weighted.predict_proba(X), copied.predict_proba(X), atol=1e-4)
    # and the weights do change it: the same rows unweighted train another model
    assert np.abs(_trained(X, y).predict_proba(X) - weighted.predict_proba(X)).max() > 1e-3


def test_the_selections_scores_count_a_weighted_row_as_its_copies(cancer):
    X, y = cancer
    model = _trained(X, y)
    weights = np.ones(len(X))
    weights[:10] = 3.0
    weights[10:20] = 0.0
    rows = np.concatenate([np.repeat(np.arange(10), 3), np.arange(20, len(X))])
    importance, _, shared = ablation_channel_scores(model, X, y, None, weights[None])
    copied_importance, _, copied_shared = ablation_channel_scores(model, X[rows], y[rows])
    np.testing.assert_allclose(importance, copied_importance, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(shared, copied_shared, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(balanced_accuracy(model, X, y, weights[None]),
                               balanced_accuracy(model, X[rows], y[rows]))
    losses = np.random.default_rng(0).random(len(X))
    assert row_mean_se(losses, weights)[0] == pytest.approx(losses[rows].mean())
    # equal weights are the plain mean and standard error
    np.testing.assert_allclose(row_mean_se(losses, np.full(len(X), 4.0)), row_mean_se(losses))


def test_the_guard_counts_rows_by_their_weights():
    rng = np.random.default_rng(1)
    best = rng.random(200) * 0.2
    worse = best.copy()
    worse[:100] += 0.3 + 0.05 * rng.random(100)  # half the rows predicted clearly worse
    assert guard_test(worse, best, 1, 0.01, CLASSIFICATION).fired
    # the worse rows weigh nothing: nothing got worse that counts
    weights = np.r_[np.zeros(100), np.ones(100)]
    assert not guard_test(worse, best, 1, 0.01, CLASSIFICATION, weights).fired
    # equal weights, at any scale, are the unweighted test
    plain = guard_test(worse, best, 1, 0.01, CLASSIFICATION)
    scaled = guard_test(worse, best, 1, 0.01, CLASSIFICATION, np.full(200, 7.0))
    assert scaled.mean_rise == pytest.approx(plain.mean_rise)
    assert scaled.t == pytest.approx(plain.t)
    assert scaled.rows_worth == pytest.approx(plain.rows_worth)


def test_the_split_carries_sample_weight_times_the_class_weight():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(90, dtype=int), np.ones(30, dtype=int)]
    dataset = dataset_from_arrays(rng.normal(size=(120, 3)), y, ["a", "b", "c"])
    assert split_dataset(dataset, test_size=0.2).w_train is None  # no weights: none carried
    dataset.sample_weight = np.arange(1, 121, dtype=np.float64)
    split = split_dataset(dataset, test_size=0.2, class_weight="balanced")
    weights = np.concatenate([split.w_train, split.w_val, split.w_test])
    labels = np.concatenate([split.y_train, split.y_val, split.y_test])
    # balanced: 120 / (2 * 90) for the large class, 120 / (2 * 30) for the small one; what is
    # left is every row's own weight, once each
    own = weights / np.where(labels == 1, 2.0, 2.0 / 3.0)
    np.testing.assert_allclose(np.sort(own), np.arange(1, 121))
    by_label = split_dataset(dataset, test_size=0.2, class_weight={"1": 5.0})
    ratio = by_label.w_train / split.w_train
    assert np.allclose(ratio[by_label.y_train == 1], 5.0 / 2.0)
    assert np.allclose(ratio[by_label.y_train == 0], 1.0 / (2.0 / 3.0))
    with pytest.raises(DataError, match="class_weight names classes the target does not have: '7'"):
        split_dataset(dataset, class_weight={"7": 2.0})


def test_imbalance_is_a_ratio_of_the_classes_weighted_rows():
    y = np.r_[np.zeros(75), np.ones(25)]
    assert IMBALANCE_RATIO == 3.0 and imbalanced(y)  # 75 against 25: just at the ratio
    assert not imbalanced(np.r_[np.zeros(74), np.ones(26)])
    assert not imbalanced(y, np.where(y == 1, 3.0, 1.0))  # weighted back to even


def _two_halves(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``a`` tells the class on the first half of the rows only, ``b`` on the second half only."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    first = np.arange(n) < n // 2
    signal = 2.0 * y - 1.0
    X = pd.DataFrame({
        "a": np.where(first, signal, 0.0) + 0.5 * rng.normal(size=n),
        "b": np.where(first, 0.0, signal) + 0.5 * rng.normal(size=n),
        **{f"noise{i}": rng.normal(size=n) for i in range(3)},
    })
    return X, y, first.astype(float)


def _selector(**changes) -> VAECSelector:
    return VAECSelector(epochs=60, n_trials=2, fit_final_model=False, random_state=0, **changes)


def _first_round_t(selector: VAECSelector) -> dict[str, float]:
    frame = selector.rounds_frame_
    first = frame[frame["round"] == 1]
    return dict(zip(first["channel"], first["t_importance"], strict=True))


def test_sample_weight_decides_what_the_selection_sees_also_through_a_pipeline():
    X, y, first_half = _two_halves()
    unweighted = _selector().fit(X, y)
    assert {"a", "b"} <= set(unweighted.get_feature_names_out())
    weighted = _selector().fit(X, y, sample_weight=first_half)
    # the second half weighs nothing: b, which speaks only there, is near the shadows, far
    # from the clear relevance it has on all the rows; a speaks on the rows that count
    plain_t, weighted_t = _first_round_t(unweighted), _first_round_t(weighted)
    assert plain_t["b"] > 8 and weighted_t["b"] < 4
    assert plain_t["a"] > 8 and weighted_t["a"] > 8
    assert "a" in weighted.get_feature_names_out()
    with sklearn.config_context(enable_metadata_routing=True):
        model = Pipeline([
            ("select", _selector().set_fit_request(sample_weight=True)),
            ("classify", LogisticRegression().set_fit_request(sample_weight=False)),
        ]).fit(X, y, sample_weight=first_half)
    routed = model.named_steps["select"]
    # the same weights, data and seed: the same selection, round by round
    np.testing.assert_array_equal(routed.get_support(), weighted.get_support())
    assert [r.val_row_loss for r in routed.rounds_] == [r.val_row_loss for r in weighted.rounds_]


def test_the_default_class_weight_weighs_the_classes_evenly_only_when_they_are_imbalanced():
    three_to_one, under_three = np.repeat([0, 1], [30, 10]), np.repeat([0, 1], [29, 11])
    assert resolved_class_weight("auto", three_to_one, "classification", None) == "balanced"
    assert resolved_class_weight("auto", under_three, "classification", None) is None
    # as the sample weights weigh the classes: these make them even
    even = np.where(three_to_one == 1, 3.0, 1.0)
    assert resolved_class_weight("auto", three_to_one, "classification", even) is None
    assert resolved_class_weight("auto", np.linspace(0.0, 1.0, 40), "regression", None) is None
    assert resolved_class_weight(None, three_to_one, "classification", None) is None
    assert resolved_class_weight({"1": 2.0}, under_three, "classification", None) == {"1": 2.0}
    # the selector's default: on 3:1 classes the rounds weigh the rows as "balanced" does
    X = np.random.default_rng(0).normal(size=(80, 3))
    y = np.repeat([0, 1], [60, 20])
    fits = [VAECSelector(epochs=5, n_trials=2, fit_final_model=False, **kw).fit(X, y)
            for kw in ({}, {"class_weight": "balanced"}, {"class_weight": None})]
    row_weights = [[r.val_row_weight for r in f.rounds_] for f in fits]
    assert row_weights[0] == row_weights[1] != row_weights[2]


def test_class_weight_balanced_finds_the_minority_class():
    # 5 % positives, two overlapping informative channels, three of noise
    rng = np.random.default_rng(0)

    def table(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.05).astype(int)
        X = np.column_stack([1.5 * y + rng.normal(size=n), 1.5 * y + rng.normal(size=n),
                             rng.normal(size=(n, 3))])
        return X, y

    (X, y), (X_new, y_new) = table(1200), table(4000)

    def scores(**changes) -> tuple[float, float, VAECSelector]:
        selector = VAECSelector(epochs=60, n_trials=2, random_state=0, **changes).fit(X, y)
        predicted = selector.predict_with_confidence(X_new)["class"].to_numpy()
        return (recall_score(y_new, predicted), balanced_accuracy_score(y_new, predicted),
                selector)

    plain_recall, plain_balanced, unweighted = scores(class_weight=None)
    recall, balanced, weighted = scores(class_weight="balanced")
    # unweighted the final model calls most positives negative (recall about 0.45)
    assert recall > plain_recall + 0.2 and recall > 0.6
    assert balanced > plain_balanced + 0.05
    # on imbalanced classes the rounds and the final model report balanced accuracy
    assert weighted.rounds_[0].score_name == unweighted.rounds_[0].score_name == "balanced_accuracy"
    assert {"val_balanced_accuracy", "val_accuracy"} <= set(unweighted.result_.final.metrics)


@pytest.mark.parametrize(("weights", "message"), [
    (-np.ones(50), "Negative values in data passed to `sample_weight`"),
    (np.r_[np.nan, np.ones(49)], "sample_weight contains NaN"),
    (np.ones(7), r"sample_weight.shape == \(7,\), expected \(50,\)"),
    (np.zeros(50), "sample_weight: Sample weights must contain at least one non-zero number"),
    (np.r_[np.inf, np.ones(49)], "sample_weight"),
])
def test_bad_sample_weights_are_refused_in_one_line_before_anything_trains(
        weights, message, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained on bad weights")

    monkeypatch.setattr(selector_module, "run_selection", no_training)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.integers(0, 2, 50)
    for data in (X, pd.DataFrame(X, columns=["a", "b", "c"])):
        with pytest.raises(ValueError, match=message) as error:
            VAECSelector().fit(data, y, sample_weight=weights)
        assert "\n" not in str(error.value) and "sample_weight" in str(error.value)


def test_class_weight_belongs_to_classification():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    with pytest.raises(DataError, match="class_weight applies to classification only"):
        VAECSelector(class_weight="balanced", epochs=5).fit(X, y)


def test_the_report_reads_balanced_accuracy_and_says_why():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    X = np.column_stack([2.0 * y + rng.normal(size=300), rng.normal(size=(300, 2))])
    dataset = dataset_from_arrays(X, y, ["signal", "n1", "n2"])
    dataset.sample_weight = np.where(np.arange(300) % 2 == 0, 2.0, 1.0)
    config = SelectionSettings.from_flat(epochs=20, n_trials=2, class_weight="balanced")
    table = report_tables(run_selection(dataset, config))["scores"]
    labels = [row[0] for row in table.rows]
    assert {"val balanced acc", "test balanced acc"} <= set(labels)
    assert any("balanced accuracy" in note for note in table.notes)
    assert any("sample_weight times class_weight" in note for note in table.notes)
    # an even table without weights reads as before: no balanced score, no notes about it
    even = dataset_from_arrays(X, np.arange(300) % 2, ["signal", "n1", "n2"])
    plain = report_tables(run_selection(even, config.replace(class_weight=None)))["scores"]
    assert not any("balanced" in row[0] for row in plain.rows)
    assert not any("balanced" in note or "sample_weight" in note for note in plain.notes)
