"""The pruning loop end to end on a small structured set with pure-noise columns appended."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.split import split_rows, stratified_indices
from pipeline.final_model import fit_final_model
from pipeline.rounds.loop import PruningRun, run_rounds
from pipeline.rounds.record import STOP_ACCURACY_GUARD, STOP_ALL_PASS, STOP_MIN_FEATURES, STOP_N_FEATURES
from pipeline.rounds.trials import FINAL_EVAL_EVERY, TrialScores
from pipeline.settings import SelectionSettings

STRUCTURED = [f"s{i}" for i in range(6)]
NOISE = [f"noise{i}" for i in range(4)]
FAST = {"epochs": 120, "latent_dim": 2,
        "encoder_widths": (16,), "head_widths": (8,)}


def structured_with_noise(n_rows: int = 300, seed: int = 0):
    """Two latent factors drive six channels; the class is the sign of the first factor."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n_rows, 2))
    mixing = rng.normal(size=(2, 6))
    structured = factors @ mixing + 0.1 * rng.normal(size=(n_rows, 6))
    noise = rng.normal(size=(n_rows, len(NOISE)))
    y = (factors[:, 0] > 0).astype(int)
    return np.hstack([structured, noise]), y, STRUCTURED + NOISE


@pytest.fixture(scope="module")
def split():
    X, y, names = structured_with_noise()
    return split_rows(X, y, names, *stratified_indices(y, val_size=0.25, test_size=0.2, seed=0))


@pytest.fixture(scope="module")
def result(split):
    config = SelectionSettings.from_flat(n_trials=2, **FAST, max_drop_fraction=0.3)
    run = run_rounds(split, config)
    return run.finish(fit_final_model(split, run.kept, config))


def test_noise_columns_are_dropped_and_structured_ones_kept(result):
    assert sorted(result.selected) == sorted(STRUCTURED)
    assert sorted(result.dropped) == sorted(NOISE)
    assert result.stop_reason == STOP_ALL_PASS


def test_every_kept_channel_passes_in_the_last_round(result):
    last = result.rounds[-1]
    assert all(last.decision[c] in ("relevant", "redundant") for c in result.selected)
    first = result.rounds[0]
    worst_structured = min(first.evidence[c] for c in STRUCTURED)
    best_noise = max(first.evidence[c] for c in NOISE)
    assert best_noise < worst_structured


def test_rounds_are_consistent_records(result):
    kept = STRUCTURED + NOISE
    for index, record in enumerate(result.rounds, start=1):
        assert record.index == index
        assert record.kept == kept
        assert set(record.score_mean) == set(kept)
        uncertain = [c for c in record.dropped if c not in record.rejected]
        assert len(uncertain) <= max(1, int(0.3 * (len(kept) - len(record.rejected))))
        assert all(record.decision[c] == "rejected" for c in record.rejected)
        assert 0.5 < record.val_metrics["accuracy"] <= 1.0
        assert record.val_score == record.val_metrics["f1"]
        assert record.seconds > 0
        kept = [c for c in kept if c not in record.dropped]


def test_final_model_is_trained_on_the_selection_and_beats_chance(result):
    final = result.final
    assert final.channels == result.selected
    assert final.model.config.n_inputs == len(result.selected)
    assert final.metrics["test_accuracy"] > 0.8
    assert final.training.history.best_epoch >= 1


def test_final_model_evaluates_every_few_epochs_and_its_best_epoch_is_one_of_them(result):
    history = result.final.training.history
    epochs = set(history.epochs.tolist())
    assert set(range(FINAL_EVAL_EVERY, FAST["epochs"] + 1, FINAL_EVAL_EVERY)) <= epochs
    assert FAST["epochs"] in epochs and len(epochs) < FAST["epochs"] // 2
    assert history.best_epoch in epochs


def test_channel_fates_rank_kept_first(result):
    fates = result.channel_fates()
    kept = fates[fates["status"] == "kept"]
    assert sorted(kept["channel"]) == sorted(STRUCTURED)
    assert (kept["rank"] == 1).all()
    dropped = fates[fates["status"] == "dropped"]
    assert (dropped["rank"] > 1).all()
    assert dropped["round_dropped"].notna().all()


def test_same_seed_gives_the_same_selection(split, result):
    config = SelectionSettings.from_flat(n_trials=2, **FAST, max_drop_fraction=0.3)
    again = run_rounds(split, config)
    assert again.kept == result.selected
    assert [r.score_mean for r in again.rounds] == [r.score_mean for r in result.rounds]


def test_n_features_to_select_stops_at_the_count(split):
    config = SelectionSettings.from_flat(
        n_trials=1, **{**FAST, "epochs": 40}, n_features_to_select=3,
        max_drop_fraction=0.5, guard_level=None,
    )
    run = run_rounds(split, config)
    assert run.stop_reason == STOP_N_FEATURES
    assert len(run.kept) == 3


def test_min_features_floor_stops_the_loop(split):
    config = SelectionSettings.from_flat(
        n_trials=1, **{**FAST, "epochs": 40}, threshold=1.0, min_features=8,
        max_drop_fraction=0.5, guard_level=None,
    )
    run = run_rounds(split, config)
    assert run.stop_reason == STOP_MIN_FEATURES
    assert len(run.kept) == 8


def hand_scores(channels, f1, bad=(), row_loss=0.3):
    r2 = np.array([[0.1 if c in bad else 0.9 for c in channels]])
    return TrialScores([0], list(channels), r2, np.array([f1]),
                       {"accuracy": np.array([f1]), "f1": np.array([f1])}, 0.0,
                       val_row_loss=np.full((1, 60), row_loss)
                       + 0.01 * np.random.default_rng(len(channels)).normal(size=(1, 60)))


def test_accuracy_guard_restores_the_previous_rounds_channels(split):
    config = SelectionSettings(n_trials=1, max_drop_fraction=0.1, criterion="reconstruction")
    run = PruningRun(split, config)
    first = run.record_round(hand_scores(run.kept, 0.95, bad={"noise0"}))
    assert first.dropped == ["noise0"]
    second_kept = list(run.kept)
    run.record_round(hand_scores(run.kept, 0.93, bad={"noise1"}, row_loss=0.31))
    assert run.kept != second_kept
    third = run.record_round(hand_scores(run.kept, 0.80, bad={"noise2"}, row_loss=0.6))
    assert third.stop_reason == STOP_ACCURACY_GUARD
    assert run.done
    assert run.kept == second_kept


def test_the_guard_stops_only_when_round_1s_channels_retrained_like_this_round_predict_better(split):
    config = SelectionSettings(n_trials=1, max_drop_fraction=0.1, criterion="reconstruction")

    def run_until_the_guard(control_loss):
        run = PruningRun(split, config)
        run.record_round(hand_scores(run.kept, 0.95, bad={"noise0"}))
        run.record_round(hand_scores(run.kept, 0.93, bad={"noise1"}, row_loss=0.31))
        asked = []

        def control(channels):
            asked.append(channels)
            return hand_scores(channels, 0.9, row_loss=control_loss)

        record = run.record_round(hand_scores(run.kept, 0.80, bad={"noise2"}, row_loss=0.6),
                                  control=control)
        return run, record, asked

    # retrained under this round's seeds, round 1's channels do as badly: seeds and
    # shadows, not the drop, made this round worse; the loop goes on
    run, record, asked = run_until_the_guard(control_loss=0.6)
    assert asked == [run.rounds[0].kept]  # round 1: every channel
    assert record.stop_reason is None and record.dropped == ["noise2"]
    assert record.guard["control"]["fired"] is False and record.guard["fired"] is False
    # they do better: the guard stops and the drops come back
    run, record, _ = run_until_the_guard(control_loss=0.3)
    assert record.stop_reason == STOP_ACCURACY_GUARD and record.guard["control"]["fired"]


def test_the_guard_compares_with_round_1_not_with_the_lowest_round_so_far(split):
    """The lowest of several noisy round losses is biased low: a later round that merely comes
    back to round 1's level must not fire the guard against it."""
    config = SelectionSettings(n_trials=1, max_drop_fraction=0.1, criterion="reconstruction")
    run = PruningRun(split, config)
    run.record_round(hand_scores(run.kept, 0.95, bad={"noise0"}, row_loss=0.3))
    lucky = run.record_round(hand_scores(run.kept, 0.97, bad={"noise1"}, row_loss=0.2))
    assert lucky.mean_row_loss < run.rounds[0].mean_row_loss
    # 0.1 a row worse than the lucky round, on 60 rows: 12 rows' worth, as sure as can be
    back = run.record_round(hand_scores(run.kept, 0.95, bad={"noise2"}, row_loss=0.3))
    assert back.stop_reason is None and back.dropped == ["noise2"]
    assert back.guard["compared_with"] == 1 and not back.guard["fired"]
    # worse than round 1: the guard fires against it
    worse = run.record_round(hand_scores(run.kept, 0.8, bad={"noise3"}, row_loss=0.6))
    assert worse.stop_reason == STOP_ACCURACY_GUARD and worse.guard["compared_with"] == 1


def test_finished_rounds_can_be_replayed_to_resume(split):
    config = SelectionSettings(n_trials=1, guard_level=None, max_drop_fraction=0.1,
                           criterion="reconstruction")
    run = PruningRun(split, config)
    run.record_round(hand_scores(run.kept, 0.9, bad={"noise0"}))
    resumed = PruningRun(split, config, rounds=run.rounds)
    assert resumed.kept == run.kept
    assert resumed.next_index == 2
    with pytest.raises(ValueError, match="does not continue"):
        PruningRun(split, config, rounds=run.rounds[::-1] + run.rounds)


def test_trials_split_into_groups_give_the_same_scores(split):
    config = SelectionSettings.from_flat(n_trials=3, **{**FAST, "epochs": 30})
    run = PruningRun(split, config)
    together = run.train_trials()
    apart = TrialScores.combine([run.train_trials([2]), run.train_trials([0, 1])])
    assert apart.trials == [0, 1, 2]
    np.testing.assert_allclose(apart.r2, together.r2, rtol=1e-4, atol=1e-5)


def test_k_is_exact_after_a_guard_stop(split):
    from .test_rounds import shadowed, with_losses

    channels = STRUCTURED + NOISE
    strength = dict(zip(channels, [0.5, 0.4, 0.3, 0.2, 0.1, 0.09, 0.006, 0.005, 0.004, 0.003],
                        strict=True))
    config = SelectionSettings(n_trials=3, n_features_to_select=3, max_drop_fraction=0.2)
    run = PruningRun(split, config)
    rows = np.random.default_rng(0).random(80)
    first = run.record_round(with_losses(
        shadowed(strength, dict.fromkeys(channels, 0.0), f1=0.95), 0.3 + 0.1 * rows))
    assert first.dropped and not first.rejected  # uncertain or passing: the guard may restore
    kept = {c: strength[c] for c in run.kept}
    guard = run.record_round(with_losses(
        shadowed(kept, dict.fromkeys(kept, 0.0), f1=0.80, seed=1), 0.6 + 0.1 * rows))
    assert guard.stop_reason == STOP_ACCURACY_GUARD
    result = run.finish(None)
    # the guard brought the uncertain drops back; the last cut kept exactly k, best ranked first
    assert len(result.selected) == 3
    assert result.selected == ["s0", "s1", "s2"]
    assert result.cut and set(result.cut).isdisjoint(result.selected)
    assert sorted(result.ranking[c] for c in result.cut) == list(range(2, 2 + len(result.cut)))


def test_a_guard_stop_on_the_way_to_the_minimal_subset_keeps_the_previous_rounds_channels(split):
    from .test_rounds import shadowed, with_losses

    channels = STRUCTURED + NOISE
    strength = dict(zip(channels, [0.5, 0.4, 0.3, 0.2, 0.1, 0.09, 0.006, 0.005, 0.004, 0.003],
                        strict=True))
    config = SelectionSettings(n_trials=3, n_features_to_select="auto", max_drop_fraction=0.2)
    run = PruningRun(split, config)
    rows = np.random.default_rng(0).random(80)
    first = run.record_round(with_losses(
        shadowed(strength, dict.fromkeys(channels, 0.0), f1=0.95), 0.3 + 0.1 * rows))
    assert first.dropped and not first.rejected
    kept = {c: strength[c] for c in run.kept}
    guard = run.record_round(with_losses(
        shadowed(kept, dict.fromkeys(kept, 0.0), f1=0.80, seed=1), 0.6 + 0.1 * rows))
    assert guard.stop_reason == STOP_ACCURACY_GUARD
    result = run.finish(None)
    # the drops come back and nothing is cut: 'auto' is no count to cut to
    assert result.selected == first.kept and not result.cut


def test_the_final_model_stops_once_its_score_has_waited_the_patience_and_keeps_its_best_epoch():
    from pipeline.data.dataset import load_dataset
    from pipeline.data.split import split_dataset
    from pipeline.rounds.trials import FINAL_PATIENCE

    split = split_dataset(load_dataset("wine"), seed=0)
    final = fit_final_model(split, list(split.feature_names), SelectionSettings.from_flat(epochs=400))
    history = final.training.history
    # wine's validation score peaks early: the training ends well before its 400 epochs
    assert final.training.epochs_run < 400
    assert final.training.epochs_run - history.best_epoch >= FINAL_PATIENCE
    assert final.metrics["test_accuracy"] > 0.9
