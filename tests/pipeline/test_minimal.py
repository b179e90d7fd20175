"""n_features_to_select="auto": elimination past the all-relevant set, and the 1-SE rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.report.figures import plot_count_curve
from pipeline.report.tables import round_table
from pipeline.rounds.record import STOP_AUTO, PruningRound, count_curve, minimal_round, path_points
from pipeline.selector import VAECSelector
from pipeline.settings import SelectionSettings
from vaec import ConfigError


def record(index: int, n: int, losses: np.ndarray, on_path: bool = True) -> PruningRound:
    return PruningRound(index=index, kept=[f"c{i}" for i in range(n)], score_mean={},
                        score_std={}, dropped=[], val_score=0.9, val_score_std=0.0,
                        val_metrics={}, seconds=0.0, val_row_loss=[float(v) for v in losses],
                        on_path=on_path)


def five_rounds() -> tuple[np.ndarray, list[PruningRound]]:
    """Rows' losses and five rounds of 12 to 2 channels; 8 is the best, 5 within one standard
    error of it (the standard error of a round's mean: about 0.008), 3 and 2 outside."""
    base = np.random.default_rng(0).uniform(0.0, 0.4, size=200)
    return base, [record(1, 12, base + 0.010), record(2, 8, base), record(3, 5, base + 0.005),
                  record(4, 3, base + 0.030), record(5, 2, base + 0.060)]


def test_the_fewest_channels_within_one_standard_error_of_the_best_are_chosen():
    base, rounds = five_rounds()
    curve = count_curve(rounds)
    assert [p.n_features for p in curve] == [12, 8, 5, 3, 2]
    assert 0.005 < curve[1].std_error < 0.012
    # 5 channels are within one standard error of the best (8); 3 are not
    assert minimal_round(rounds).index == 3
    # a lone low point past a count outside the limit is a round's noise, not a subset
    noisy = [record(1, 12, base), record(2, 10, base), record(3, 8, base + 0.030),
             record(4, 5, base + 0.002), record(5, 3, base + 0.040)]
    assert minimal_round(noisy).index == 2
    # a curve where the fewest channels are best picks them
    assert minimal_round([record(1, 6, base + 0.02), record(2, 2, base)]).index == 2
    # rounds before the all-relevant set are never chosen, however low their loss
    before = [record(1, 40, base - 0.1, on_path=False), record(2, 8, base), record(3, 4, base + 0.005)]
    assert minimal_round(before).index == 3


def test_the_count_figure_draws_the_limit_the_count_was_chosen_by():
    base, rounds = five_rounds()
    chosen = minimal_round(rounds)
    ax = plot_count_curve(rounds, chosen.index).axes[0]
    best = min(path_points(rounds), key=lambda p: p.mean_loss)
    limit = next(line for line in ax.get_lines() if line.get_linestyle() == "--")
    assert limit.get_ydata()[0] == pytest.approx(best.mean_loss + best.std_error)
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert list(star.get_xdata()) == [5] and star.get_ydata()[0] <= limit.get_ydata()[0]
    # the turning round (the first on the path) is not a point of the curve
    assert 12 not in ax.get_lines()[0].get_xdata()
    # a run with no path has no such figure
    assert plot_count_curve([record(1, 6, base, on_path=False)], 1) is None


def test_auto_is_refused_for_a_stability_selection_and_bad_counts_name_the_setting():
    assert SelectionSettings(n_features_to_select="auto").n_features_to_select == "auto"
    with pytest.raises(ConfigError, match="n_features_to_select='auto' is for a plain"):
        SelectionSettings(n_features_to_select="auto", n_resamples=3)
    with pytest.raises(ConfigError, match="n_features_to_select must be a count >= 1, 'auto'"):
        SelectionSettings(n_features_to_select="most")


def test_auto_keeps_fewer_channels_than_the_all_relevant_set_and_reports_the_curve():
    # two drivers, each with a noisy copy (the all-relevant set: four), and three noise columns
    rng = np.random.default_rng(1)
    n = 500
    x0, x1 = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({"x0": x0, "x1": x1, "copy0": x0 + 0.3 * rng.normal(size=n),
                      "copy1": x1 + 0.3 * rng.normal(size=n),
                      **{f"noise{i}": rng.normal(size=n) for i in range(3)}})
    y = (x0 + x1 + 0.3 * rng.normal(size=n) > 0).astype(int)
    options = dict(n_trials=2, epochs=120, fit_final_model=False, random_state=0)
    auto = VAECSelector(n_features_to_select="auto", **options).fit(X, y)
    assert auto.stop_reason_ == STOP_AUTO
    kept = set(auto.get_feature_names_out())
    assert not kept & {"noise0", "noise1", "noise2"}
    # each driver is kept, or its copy: the minimal subset still predicts
    assert kept & {"x0", "copy0"} and kept & {"x1", "copy1"}
    all_relevant = VAECSelector(**options).fit(X, y)
    assert {"x0", "x1", "copy0", "copy1"} <= set(all_relevant.get_feature_names_out())
    assert auto.n_features_ < all_relevant.n_features_
    curve = auto.cv_results_
    assert curve["n_features"].iloc[0] == 7 and curve["n_features"].iloc[-1] == 2
    assert curve["n_features"].is_monotonic_decreasing
    chosen = curve[curve["selected"]]
    assert list(chosen["n_features"]) == [auto.n_features_]
    best = curve["mean_test_loss"].idxmin()
    limit = curve.loc[best, "mean_test_loss"] + curve.loc[best, "std_error"]
    assert chosen["mean_test_loss"].iloc[0] <= limit
    # the next count down the path is outside the limit (or there is none)
    below = curve[curve["on_path"] & (curve["n_features"] < auto.n_features_)]
    assert below.empty or below["mean_test_loss"].iloc[0] > limit
    # the path tests nothing: its drops read as such, and what it keeps passed before it
    rows = round_table(auto.result_).rows
    path_rows = [r for r, record in zip(rows, auto.rounds_, strict=True) if record.on_path
                 and record.dropped]
    assert path_rows and all("least needed" in " ".join(map(str, r)) for r in path_rows)
    assert auto.result_.unconfirmed == []
    # the report draws the curve the count was chosen on, and only for the minimal subset
    from pipeline.report.figures import page_figures

    assert "count_curve" in page_figures(auto.result_, None)
    assert "count_curve" not in page_figures(all_relevant.result_, None)


def test_a_round_on_the_path_drops_at_most_a_fifth_of_its_channels_the_least_needed_first():
    from pipeline.rounds.fate import path_step

    def stepped(step: float) -> list[str]:
        path = record(1, 20, np.zeros(5))
        path.importance_lower = {f"c{i}": float(i) for i in range(20)}
        return path_step(path, SelectionSettings(n_features_to_select="auto", step=step)).dropped

    # the minimal count is chosen among the counts the path visits: a stride of 7 of 20 would
    # skip most of them
    assert stepped(0.35) == ["c0", "c1", "c2", "c3"]
    assert stepped(0.1) == ["c0", "c1"]
