"""Stability selection's arithmetic on plain arrays: resamples, frequencies, the stable set, the
Nogueira index with its interval, Jaccard, and Meinshausen & Bühlmann's bound (no torch)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pipeline.data.tables import DataError
from pipeline.selection import check_resamplable, resample_seed, resample_split
from pipeline.stability.measures import (
    false_selection_bound,
    keep_frequencies,
    nogueira_interval,
    nogueira_stability,
    nogueira_variance,
    pairwise_jaccard,
    selection_matrix,
    stability_order,
    stable_set,
)
from pipeline.stability.result import ResampleSelection, StabilityResult

HAND = np.array([[1, 1, 0, 0],
                 [1, 0, 1, 0],
                 [1, 1, 0, 0]])


def test_identical_selections_are_perfectly_stable_with_no_spread():
    Z = np.tile([1, 0, 1, 1, 0], (7, 1))
    assert nogueira_stability(Z) == pytest.approx(1.0)
    assert nogueira_variance(Z) == pytest.approx(0.0)
    assert nogueira_interval(Z) == pytest.approx((1.0, 1.0, 1.0))
    assert pairwise_jaccard(Z) == (1.0, 1.0)


def test_a_hand_computed_case():
    # p = (1, 2/3, 1/3, 0), k̄ = 2, s² = 3/2 p(1 - p) = (0, 1/3, 1/3, 0) -> mean 1/6;
    # (k̄/d)(1 - k̄/d) = 1/4 -> Φ = 1 - (1/6) / (1/4) = 1/3
    assert nogueira_stability(HAND) == pytest.approx(1 / 3)
    # Jaccard: {a,b}~{a,c} 1/3, {a,b}~{a,b} 1, {a,c}~{a,b} 1/3
    mean, smallest = pairwise_jaccard(HAND)
    assert mean == pytest.approx(5 / 9) and smallest == pytest.approx(1 / 3)


def random_selections(rng, M, d, k):
    Z = np.zeros((M, d), dtype=int)
    for row in Z:
        row[rng.choice(d, k, replace=False)] = 1
    return Z


def test_with_equal_sizes_the_index_is_kunchevas_consistency_index():
    rng = np.random.default_rng(0)
    M, d, k = 6, 12, 4
    Z = random_selections(rng, M, d, k)
    overlaps = [np.sum(Z[i] & Z[j]) for i, j in itertools.combinations(range(M), 2)]
    kuncheva = np.mean([(r - k * k / d) / (k - k * k / d) for r in overlaps])
    assert nogueira_stability(Z) == pytest.approx(kuncheva)


def test_random_selections_score_about_zero_on_average():
    rng = np.random.default_rng(1)
    values = [nogueira_stability(random_selections(rng, 10, 20, 5)) for _ in range(300)]
    assert abs(np.mean(values)) < 0.02


def test_the_variance_agrees_with_the_papers_other_form_of_it():
    # the form of the authors' Matlab code: per selection (pa_i - pe_i) / (1 - pe)
    rng = np.random.default_rng(2)
    Z = (rng.random((9, 15)) < rng.random(15)).astype(int)
    M, d = Z.shape
    k, p = Z.sum(axis=1), Z.mean(axis=0)
    pi = k.mean() / d
    pe = 1 - 2 * pi * (1 - pi)
    phi = nogueira_stability(Z)
    pa_i = 1 - k / d - pi + 2 / d * (Z @ p)
    pe_i = (1 - phi) * (pi * k / d + (1 - pi) * (1 - k / d))
    gamma = (pa_i - pe_i) / (1 - pe)
    assert nogueira_variance(Z) == pytest.approx(4 / M**2 * np.sum((gamma - gamma.mean()) ** 2))


def test_the_95_percent_interval_covers_the_population_stability_about_95_percent_of_the_time():
    # channels kept independently with known probabilities: the population stability is known
    rng = np.random.default_rng(3)
    p = np.array([0.95, 0.9, 0.8, 0.6, 0.3, 0.1, 0.05, 0.05, 0.02, 0.02])
    k = p.sum() / len(p)
    population = 1 - np.mean(p * (1 - p)) / (k * (1 - k))
    covered = 0
    for _ in range(400):
        _, low, high = nogueira_interval((rng.random((60, len(p))) < p).astype(int))
        covered += low <= population <= high
    assert 0.9 <= covered / 400 <= 0.99


def test_the_interval_holds_the_estimate_and_narrows_with_more_resamples():
    rng = np.random.default_rng(4)
    p = np.array([0.9, 0.85, 0.7, 0.4, 0.2, 0.1, 0.1, 0.05])
    widths = []
    for M in (5, 20, 80):
        estimate, low, high = nogueira_interval((rng.random((M, len(p))) < p).astype(int))
        assert low <= estimate <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_the_index_is_undefined_when_every_selection_is_empty_or_everything():
    assert math.isnan(nogueira_stability(np.zeros((3, 4), dtype=int)))
    assert math.isnan(nogueira_stability(np.ones((3, 4), dtype=int)))
    assert all(math.isnan(v) for v in nogueira_interval(np.ones((3, 4), dtype=int)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        nogueira_stability(np.ones((1, 4), dtype=int))
    with pytest.raises(ValueError, match="only 0 and 1"):
        nogueira_stability(np.array([[1, 2], [0, 1]]))


def test_the_error_bound_is_meinshausen_and_buhlmanns():
    # E[V] <= q² / ((2 π - 1) p)
    assert false_selection_bound(10, 0.6, 50) == pytest.approx(100 / (0.2 * 50))
    assert false_selection_bound(5, 0.9, 100) == pytest.approx(25 / 80)
    # a stricter cut promises fewer false selections
    assert false_selection_bound(5, 0.9, 100) < false_selection_bound(5, 0.7, 100)
    with pytest.raises(ValueError, match="keep_frequency"):
        false_selection_bound(5, 0.5, 100)


def test_frequencies_and_the_cut():
    channels = ["a", "b", "c", "d", "e"]
    selections = [["a", "b"], ["a", "b", "c"], ["a", "c"], ["a", "b"], ["a", "d"]]
    Z = selection_matrix(selections, channels)
    frequency = dict(zip(channels, keep_frequencies(Z), strict=True))
    assert frequency == pytest.approx({"a": 1.0, "b": 0.6, "c": 0.4, "d": 0.2, "e": 0.0})
    order = stability_order(channels, list(frequency.values()), [1, 1.8, 2.2, 3.4, 4.0])
    assert order == ["a", "b", "c", "d", "e"]
    # 3 of 5 is exactly the cut 0.6: kept
    assert stable_set(order, frequency, 0.6) == (["a", "b"], [], [])
    assert stable_set(order, frequency, 0.8).selected == ["a"]
    # a cap keeps the most frequent, a floor adds the next best under the cut
    assert stable_set(order, frequency, 0.6, at_most=1) == (["a"], ["b"], [])
    assert stable_set(order, frequency, 0.6, at_least=3) == (["a", "b", "c"], [], ["c"])
    with pytest.raises(KeyError, match="zz"):
        selection_matrix([["zz"]], channels)


def test_ties_of_frequency_go_to_the_channel_dropped_later_on_average():
    order = stability_order(["x", "y", "z"], [0.5, 0.5, 0.5], [4.0, 2.0, 3.0])
    assert order == ["y", "z", "x"]


def test_subsamples_are_half_of_every_class_split_without_overlap():
    y = np.array([0] * 40 + [1] * 20 + [2] * 11)
    train, val = resample_split(y, "subsample", 0.25, seed=7)
    rows = np.concatenate([train, val])
    assert len(np.unique(rows)) == len(rows)  # without replacement
    assert not set(train) & set(val)
    assert [int(np.sum(y[rows] == c)) for c in (0, 1, 2)] == [20, 10, 5]
    assert set(y[val]) == {0, 1, 2}
    again = resample_split(y, "subsample", 0.25, seed=7)
    other = resample_split(y, "subsample", 0.25, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again, strict=True))
    assert not np.array_equal(train, other[0])


def test_bootstraps_repeat_training_rows_but_never_validate_on_them():
    y = np.array([0] * 60 + [1] * 40)
    train, val = resample_split(y, "bootstrap", 0.25, seed=3)
    assert len(np.unique(train)) < len(train)  # drawn with replacement
    assert not set(train) & set(val)
    assert len(train) + len(val) == len(y)
    assert [int(np.sum(y[train] == c)) for c in (0, 1)] == [45, 30]  # class counts kept


def test_a_class_too_small_to_halve_is_refused_before_any_training():
    y = np.array([0] * 30 + [1] * 5)
    with pytest.raises(DataError, match=r"class 1 has 5 rows, 2 in half of them.*bootstrap"):
        check_resamplable(y, "subsample", 0.25)
    check_resamplable(y, "bootstrap", 0.25)


def test_resample_seeds_are_fixed_and_distinct():
    seeds = {resample_seed(seed, index) for seed in range(5) for index in range(20)}
    assert len(seeds) == 100
    assert resample_seed(3, 4) == resample_seed(3, 4)
    assert all(0 <= s < 2**31 for s in seeds)


def resample(index, selected, ranking, **extra):
    return ResampleSelection(index=index, seed=index, n_train=30, n_val=10, selected=selected,
                             ranking=ranking, stop_reason="all_pass", n_rounds=2, seconds=0.1,
                             **extra)


def test_the_stability_result_ranks_by_frequency_and_survives_json():
    channels = ["a", "b", "c", "d"]
    runs = [
        resample(1, ["a", "c"], {"a": 1, "b": 3, "c": 1, "d": 2}),
        resample(0, ["a", "b"], {"a": 1, "b": 1, "c": 2, "d": 3}),
        resample(2, ["a"], {"a": 1, "b": 2, "c": 3, "d": 4}, constant_columns=["d"]),
    ]
    result = StabilityResult.from_resamples(channels, runs, resample="subsample",
                                            keep_frequency=0.6)
    assert [r.index for r in result.resamples] == [0, 1, 2]
    assert result.frequency == pytest.approx({"a": 1.0, "b": 1 / 3, "c": 1 / 3, "d": 0.0})
    assert result.selected == ["a"]
    # b and c tie on frequency and on mean rank (2): column order decides
    assert result.ranked() == ["a", "b", "c", "d"]
    assert result.ranking(["flat"]) == {"a": 1, "b": 2, "c": 3, "d": 4, "flat": 5}
    assert result.mean_selected == pytest.approx(5 / 3)
    assert result.error_bound == pytest.approx((5 / 3) ** 2 / (0.2 * 4))
