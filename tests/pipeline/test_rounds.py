"""The rule that decides what a pruning round drops, on hand-made trial scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.result import ranking_from_rounds
from pipeline.rounds.fate import decide_round
from pipeline.rounds.record import (
    STOP_ACCURACY_GUARD,
    STOP_ALL_PASS,
    STOP_MIN_FEATURES,
    STOP_N_FEATURES,
    PruningRound,
)
from pipeline.rounds.scores import pooled_t
from pipeline.rounds.trials import TrialScores
from pipeline.settings import SelectionSettings
from vaec import ConfigError


def scores(r2_by_channel: dict[str, list[float]], f1: float = 0.9) -> TrialScores:
    channels = list(r2_by_channel)
    r2 = np.array([r2_by_channel[c] for c in channels]).T
    n = r2.shape[0]
    return TrialScores(list(range(n)), channels, r2, np.full(n, f1),
                       {"accuracy": np.full(n, f1), "f1": np.full(n, f1)}, 0.1)


def reconstruction_rule(**options) -> SelectionSettings:
    """The method's original rule: R² against the threshold."""
    return SelectionSettings.from_flat(criterion="reconstruction", **options)


def shadowed(importance: dict[str, float], shared: dict[str, float], f1: float = 0.9,
             n_shadows: int = 40, seed: int = 0, task: str = "classification",
             clusters: dict[tuple[str, ...], float] | None = None) -> TrialScores:
    """Three trials of hand-made scores, with shadows whose scores are standard normal noise
    scaled like the channels' (importance 0.01, shared R² 0.05); ``clusters`` maps clusters of
    channels to their importance ablated whole (shadow clusters of the same sizes score noise
    like the shadows)."""
    rng = np.random.default_rng(seed)
    channels = list(importance)
    trials = 3

    def around(values: dict[str, float], scale: float) -> np.ndarray:
        return np.array([[values[c] for c in channels]] * trials) + 0.1 * scale * rng.normal(
            size=(trials, len(channels)))

    clusters = clusters or {}
    sizes = [len(c) for c in clusters for _ in range(n_shadows // 2)]
    extra = {} if not clusters else {
        "clusters": [list(c) for c in clusters],
        "cluster_importance": np.array([list(clusters.values())] * trials)
        + 0.001 * rng.normal(size=(trials, len(clusters))),
        "shadow_cluster_sizes": sizes,
        "shadow_cluster_importance": 0.01 * rng.normal(size=(trials, len(sizes))),
        "shadow_member_importance": 0.01 * rng.normal(size=(trials, sum(sizes))),
    }
    return TrialScores(
        list(range(trials)), channels, around(shared, 0.05), np.full(trials, f1),
        {"accuracy": np.full(trials, f1), "f1": np.full(trials, f1)}, 0.1,
        importance=around(importance, 0.01), importance_se=np.full((trials, len(channels)), 1e-3),
        shared_r2=around(shared, 0.05),
        shadow_sources=[channels[i % len(channels)] for i in range(n_shadows)],
        # [0] was the shadows' own R², scored no more: drawn still, so the later draws stay as they were
        shadow_shared_r2=0.05 * rng.normal(size=(2, trials, n_shadows))[1],
        shadow_importance=0.01 * rng.normal(size=(trials, n_shadows)),
        task=task, **extra,
    )


def test_channels_below_threshold_are_dropped_worst_first():
    s = scores({"a": [0.9, 0.8], "b": [0.1, 0.2], "c": [0.3, 0.2], "d": [0.95, 0.9], "e": [0.7, 0.7]})
    record = decide_round(1, s, reconstruction_rule(threshold=0.5, max_drop_fraction=0.5), None)
    assert record.dropped == ["b", "c"]
    assert record.stop_reason is None
    assert record.score_mean["b"] == pytest.approx(0.15)
    assert record.score_std["a"] == pytest.approx(0.05)


def test_at_most_the_drop_fraction_leaves_per_round_but_at_least_one():
    failing = {f"n{i}": [0.0] for i in range(8)}
    s = scores({**failing, "k1": [0.9], "k2": [0.9]})
    assert len(decide_round(1, s, reconstruction_rule(max_drop_fraction=0.2), None).dropped) == 2
    assert len(decide_round(1, s, reconstruction_rule(max_drop_fraction=0.01), None).dropped) == 1


def test_all_channels_passing_stops_the_loop():
    record = decide_round(3, scores({"a": [0.9], "b": [0.7]}), reconstruction_rule(threshold=0.5), None)
    assert record.stop_reason == STOP_ALL_PASS
    assert record.dropped == []


def test_min_features_floor_stops_instead_of_dropping():
    s = scores({"a": [0.1], "b": [0.2], "c": [0.9]})
    record = decide_round(1, s, reconstruction_rule(min_features=3), None)
    assert record.stop_reason == STOP_MIN_FEATURES
    partial = decide_round(1, s, reconstruction_rule(min_features=2, max_drop_fraction=1.0), None)
    assert partial.dropped == ["a"]


def test_n_features_to_select_drops_passing_channels_too():
    s = scores({"a": [0.99], "b": [0.95], "c": [0.9], "d": [0.8]})
    config = reconstruction_rule(n_features_to_select=2, step=1.0)
    assert decide_round(1, s, config, None).dropped == ["d", "c"]
    done = decide_round(2, scores({"a": [0.99], "b": [0.95]}), config, None)
    assert done.stop_reason == STOP_N_FEATURES


def with_losses(trial_scores: TrialScores, losses: np.ndarray) -> TrialScores:
    """The scores with every trial's validation row losses set to ``losses``."""
    trial_scores.val_row_loss = np.tile(losses, (len(trial_scores.trials), 1))
    return trial_scores


def previous_round(losses: np.ndarray, rejected: tuple[str, ...] = ()) -> PruningRound:
    """Round 1 on a, b, c, d that dropped d (uncertain unless ``rejected``)."""
    return PruningRound(1, ["a", "b", "c", "d"], {}, {}, ["d"], 0.9, 0.0,
                        {"accuracy": 0.9, "f1": 0.9}, 1.0, rejected=list(rejected),
                        evidence={"a": 3.0, "b": 3.0, "c": 3.0, "d": 0.5},
                        val_row_loss=[float(v) for v in losses])


def test_the_accuracy_guard_fires_when_many_rows_predict_worse_after_uncertain_drops():
    rng = np.random.default_rng(0)
    before = 0.3 + 0.05 * rng.random(100)
    after = before + 0.1 + 0.05 * rng.normal(size=100)  # every row a little worse
    previous = previous_round(before)
    s = with_losses(scores({"a": [0.1], "b": [0.9], "c": [0.9]}), after)
    guarded = decide_round(2, s, reconstruction_rule(), previous, previous)
    assert guarded.stop_reason == STOP_ACCURACY_GUARD and guarded.dropped == []
    assert guarded.guard["fired"] and guarded.guard["compared_with"] == 1
    assert guarded.guard["rows"] == 100 and guarded.guard["mean_rise"] == pytest.approx(0.1, abs=0.02)
    off = decide_round(2, s, reconstruction_rule(guard_level=None), previous, previous)
    assert off.dropped == ["a"] and off.guard is None


def test_a_rise_carried_by_a_few_validation_rows_never_fires_the_guard():
    # 50 validation rows; after the drop three rows flip from right to confidently wrong: F1
    # falls by about 6 points, far past the old tolerance of 0.05, yet it is three rows
    before = np.full(50, 0.05)
    after = before.copy()
    after[:3] = 3.0
    previous = previous_round(before)
    s = with_losses(scores({"a": [0.1], "b": [0.9], "c": [0.9]}), after)
    record = decide_round(2, s, reconstruction_rule(), previous, previous)
    assert record.stop_reason is None and record.dropped == ["a"]
    assert record.guard["p"] > 0.01 and not record.guard["fired"]


def test_the_guard_never_brings_back_rejected_or_below_shadow_channels():
    before = np.full(100, 0.3)
    after = before + 0.2
    s = with_losses(scores({"a": [0.1], "b": [0.9], "c": [0.9]}), after)
    # the fall after dropping only a rejected channel is validation noise: the loop goes on
    rejected = previous_round(before, rejected=("d",))
    record = decide_round(2, s, reconstruction_rule(), rejected, rejected)
    assert record.stop_reason is None and record.dropped == ["a"]
    below = previous_round(before)
    below.evidence["d"] = -0.5  # dropped as uncertain, but under the shadows' average
    record = decide_round(2, s, reconstruction_rule(), below, below)
    assert record.stop_reason is None and record.dropped == ["a"]
    # over the shadows only with the round before's t pooled in: under them in its own round
    pooled = previous_round(before)
    pooled.evidence["d"], pooled.t_importance["d"] = 0.5, -0.5
    record = decide_round(2, s, reconstruction_rule(), pooled, pooled)
    assert record.stop_reason is None and record.dropped == ["a"]
    pooled.t_importance["d"] = 0.5  # over them in its own round too: it may come back
    record = decide_round(2, s, reconstruction_rule(), pooled, pooled)
    assert record.stop_reason == STOP_ACCURACY_GUARD


def test_ties_are_broken_by_name_not_column_order():
    config = reconstruction_rule()
    first = decide_round(1, scores({"x": [0.1], "y": [0.1], "z": [0.9]}), config, None)
    second = decide_round(1, scores({"y": [0.1], "x": [0.1], "z": [0.9]}), config, None)
    assert first.dropped == second.dropped == ["x"]


def test_ranking_counts_rounds_backwards_best_first_within_a_round():
    f1 = {"accuracy": 0.9, "f1": 0.9}
    rounds = [
        PruningRound(1, ["a", "b", "c", "d", "e"], {}, {}, ["d", "e"], 0.9, 0.0, f1, 1.0,
                     evidence={"a": 9, "b": 8, "c": 3, "d": -1, "e": 0.5}),
        PruningRound(2, ["a", "b", "c"], {}, {}, ["c"], 0.9, 0.0, f1, 1.0,
                     evidence={"a": 9, "b": 8, "c": 1}),
        PruningRound(3, ["a", "b"], {}, {}, [], 0.9, 0.0, f1, 1.0, STOP_ALL_PASS,
                     evidence={"a": 9, "b": 8}),
    ]
    names = ["a", "b", "c", "d", "e"]
    assert ranking_from_rounds(names, rounds, ["a", "b"], ["k"]) == {
        "a": 1, "b": 1, "c": 2, "e": 3, "d": 4, "k": 5,
    }
    # the guard kept the channels of round 2: "c" is back
    assert ranking_from_rounds(names, rounds, ["a", "b", "c"]) == {
        "a": 1, "b": 1, "c": 1, "e": 2, "d": 3,
    }
    # a last cut to k ranks just under the kept channels, best first
    assert ranking_from_rounds(names, rounds, ["a"], cut=["b"])["b"] == 2


# the relevance rule ------------------------------------------------------------------------

def test_relevant_channels_pass_and_noise_is_rejected():
    s = shadowed(
        importance={"lone_signal": 0.2, "copy_a": 0.0, "copy_b": 0.0, "noise": -0.01,
                    "weak": 0.008},
        shared={"lone_signal": 0.0, "copy_a": 0.8, "copy_b": 0.8, "noise": -0.1, "weak": 0.0},
    )
    record = decide_round(1, s, SelectionSettings(), None)
    assert record.decision["lone_signal"] == "relevant"
    # with a target, being reconstructable from the others keeps nothing
    assert record.decision["copy_a"] in ("rejected", "uncertain")
    assert record.decision["copy_b"] in ("rejected", "uncertain")
    assert record.decision["noise"] == "rejected"
    assert record.decision["weak"] == "uncertain"
    assert record.dropped[0] == "noise" and "noise" in record.rejected
    # the shadows' null is on the record, and the passing bar lies above their mean
    null = record.shadow["importance"]
    assert null["n"] == 40 and len(null["values"]) == 40
    assert null["pass_t"] > 0 and abs(null["mean"]) < 0.01


def test_copies_pass_with_their_cluster_and_a_correlated_pair_of_noise_does_not():
    s = shadowed(
        importance={"signal": 0.2, "copy": 0.0, "null_a": 0.0, "null_b": -0.005},
        shared={"signal": 0.8, "copy": 0.8, "null_a": 0.8, "null_b": 0.8},
        clusters={("signal", "copy"): 0.3, ("null_a", "null_b"): -0.004},
    )
    record = decide_round(1, s, SelectionSettings(), None)
    assert record.decision["signal"] == "relevant"
    assert record.decision["copy"] == "redundant"
    assert record.stands_in_for("copy") == ["signal"] and record.partners("signal") == ["copy"]
    assert record.decision["null_a"] in ("rejected", "uncertain")
    assert record.decision["null_b"] == "rejected"
    assert record.t_cluster["copy"] >= record.shadow["importance"]["pass_t"]
    assert record.clusters == [["signal", "copy"], ["null_a", "null_b"]]
    (null,) = record.shadow["cluster_importance"]
    assert null["sizes"] == [2, 2] and null["n"] == 40


def test_a_round_reads_each_t_pooled_with_the_previous_rounds():
    importance = {"signal": 0.2, "weak": 0.004, "new": 0.004, "fluke": 0.2}
    s = shadowed(importance=importance, shared=dict.fromkeys(importance, 0.0))
    alone = decide_round(2, s, SelectionSettings(), None)
    assert alone.decision["weak"] == alone.decision["new"] == "uncertain"
    assert alone.decision["fluke"] == "relevant"
    previous = decide_round(1, s, SelectionSettings(), None)
    # the round before: "weak" far above the shadows, "fluke" far below, "new" not tested
    previous.t_importance = {"signal": alone.t_importance["signal"], "weak": 60.0,
                             "fluke": -60.0}
    record = decide_round(2, s, SelectionSettings(), None, previous)
    assert record.decision["weak"] == "relevant"
    assert record.decision["fluke"] == "rejected"
    assert record.decision["new"] == "uncertain"  # nothing to pool: this round's t alone
    assert record.decision["signal"] == "relevant"
    assert record.evidence["weak"] == pytest.approx((alone.t_importance["weak"] + 60.0) / 2)
    assert record.evidence["new"] == pytest.approx(alone.evidence["new"])
    # the record keeps this round's own t: the next round pools with it
    assert record.t_importance == alone.t_importance
    # with a budget of k the rounds rank by the importance's lower bound: nothing is pooled
    budget = SelectionSettings(n_features_to_select=3)
    with_budget = decide_round(2, s, budget, None, previous)
    assert with_budget.decision == decide_round(2, s, budget, None).decision
    assert with_budget.decision["weak"] == "uncertain"


def test_pooled_t_keeps_the_false_discovery_rate_of_one_round():
    """Two rounds' t of a null channel are correlated t variables (the same rows); their mean
    passes a one-sided 5 % test no more often than one of them does."""
    rng = np.random.default_rng(0)
    n, df = 200_000, 9
    shared, own = rng.normal(size=(2, n)), rng.normal(size=(2, n))
    z = np.sqrt(0.6) * shared[0] + np.sqrt(0.4) * own  # correlation 0.6 between the rounds
    t = z / np.sqrt(rng.chisquare(df, size=(2, n)) / df)
    pooled, p = pooled_t(t[1], t[0], np.full(n, df))
    assert pooled == pytest.approx((t[0] + t[1]) / 2)
    assert np.mean(p <= 0.05) <= 0.05
    assert np.mean(stats.t.sf(t[1], df) <= 0.05) == pytest.approx(0.05, abs=0.003)
    # a test with no t this round (-inf) stays failed; a channel new to the round keeps its own
    pooled, p = pooled_t(np.array([-np.inf, 2.5]), np.array([9.0, np.nan]), np.array([9.0, 9.0]))
    assert pooled[0] == -np.inf and p[0] == 1.0
    assert pooled[1] == 2.5 and p[1] == pytest.approx(stats.t.sf(2.5, 9))


def test_without_a_target_reconstructable_channels_pass():
    s = shadowed(
        importance=dict.fromkeys(("a", "b", "noise"), 0.0),
        shared={"a": 0.8, "b": 0.8, "noise": -0.1}, task="unsupervised",
    )
    record = decide_round(1, s, SelectionSettings(), None)
    assert record.decision == {"a": "reconstructable", "b": "reconstructable",
                               "noise": "rejected"}


def test_rejected_channels_all_go_and_uncertain_ones_under_the_cap():
    importance = {f"n{i}": -0.01 for i in range(6)} | {f"u{i}": 0.008 for i in range(5)}
    importance |= {f"s{i}": 0.3 for i in range(9)}
    shared = {c: (-0.1 if c.startswith("n") else 0.0) for c in importance}
    s = shadowed(importance=importance, shared=shared)
    record = decide_round(1, s, SelectionSettings(max_drop_fraction=0.2), None)
    assert sorted(record.rejected) == [f"n{i}" for i in range(6)]
    uncertain = [c for c in record.dropped if c.startswith("u")]
    assert len(uncertain) == 2  # 20 % of the 14 that the rejections leave
    assert set(record.spared) == {f"u{i}" for i in range(5)} - set(uncertain)


def test_with_k_passing_channels_go_too_least_important_first():
    importance = {f"s{i}": 0.1 * (i + 1) for i in range(6)}
    s = shadowed(importance=importance, shared=dict.fromkeys(importance, 0.0))
    record = decide_round(1, s, SelectionSettings(n_features_to_select=4, step=0.5), None)
    assert record.dropped == ["s0", "s1"]
    assert record.stop_reason == STOP_N_FEATURES  # the budget is reached: no round to confirm
    assert record.ranked()[:4] == ["s5", "s4", "s3", "s2"]


def test_round_record_survives_a_json_round_trip():
    record = PruningRound(1, ["a"], {"a": 0.5}, {"a": 0.1}, [], 0.8, 0.01,
                          {"accuracy": 0.9, "f1": 0.8}, 2.0, STOP_ALL_PASS)
    assert PruningRound(**record.to_dict()) == record


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n_trials", 0),
        ("threshold", 2.0),
        ("max_drop_fraction", 0.0),
        ("min_features", 0),
        ("n_features_to_select", 0),
        ("guard_level", 1.5),
        ("final_strategy", "autoencoder"),
        ("val_size", 0.0),
        ("test_size", 1.0),
    ],
)
def test_bad_pruning_option_names_itself(option, value):
    with pytest.raises(ConfigError, match=option):
        SelectionSettings.from_flat(**{option: value})


