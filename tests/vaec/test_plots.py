"""Learning curves and latent grids: panels, fixed limits, best-epoch marks, latent views."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from vaec.config import STRATEGIES
from vaec.domain import LatentDomain
from vaec.history import History, LatentSnapshot, metric_names
from vaec.plots import (
    BEST_EPOCH_LABEL,
    MEAN_LIMIT,
    SAMPLED_LIMIT,
    learning_curve_panels,
    plot_latent_domain,
    plot_latent_grid,
    plot_latent_view,
    plot_learning_curves,
)
from vaec.tasks import REGRESSION

N_EPOCHS = 40


def make_history(best_epochs=(17,), with_validation=True, seed=0) -> History:
    rng = np.random.default_rng(seed)
    n_replicas = len(best_epochs)
    n_metrics = len(metric_names())
    values = rng.uniform(0.0, 1.0, size=(N_EPOCHS, n_replicas, 2 * n_metrics))
    if not with_validation:
        values[:, :, n_metrics:] = np.nan
    return History(values, list(best_epochs))


def make_snapshot(latent_dim=2, n_classes=2, n_replicas=1, with_validation=True, scale=1.0):
    rng = np.random.default_rng(latent_dim)

    def points(rows):
        return scale * rng.standard_normal((n_replicas, rows, latent_dim))

    y_train = np.arange(60) % n_classes
    y_val = np.arange(20) % n_classes
    return LatentSnapshot(
        epoch=64,
        train_z=points(60),
        train_z_mean=points(60),
        val_z=points(20) if with_validation else None,
        val_z_mean=points(20) if with_validation else None,
        y_train=y_train,
        y_val=y_val if with_validation else None,
    )


def axes_by_title(fig: Figure) -> dict[str, object]:
    return {ax.get_title(): ax for ax in fig.axes}


def best_epoch_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().startswith(BEST_EPOCH_LABEL)]


def data_lines(ax):
    return [line for line in ax.get_lines() if line.get_label() in ("train", "validation")]


# learning curves -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_learning_curves_have_one_axes_per_panel(name):
    fig = plot_learning_curves(make_history(), name)
    expected = learning_curve_panels(name)
    assert len(fig.axes) == len(expected)
    assert [ax.get_title() for ax in fig.axes] == [title for _, title in expected]


def test_reconstruction_panel_only_when_the_strategy_counts_reconstruction():
    titles_var = axes_by_title(plot_learning_curves(make_history(), "var_mlp_classifier"))
    titles_all = axes_by_title(plot_learning_curves(make_history(), "all_parts"))
    assert "reconstruction loss" not in titles_var
    assert "reconstruction loss" in titles_all
    assert len(titles_all) == len(titles_var) + 1


def test_every_panel_marks_the_best_epoch_of_the_chosen_replica():
    history = make_history(best_epochs=(5, 31))
    fig = plot_learning_curves(history, "all_parts", replica=1)
    for ax in fig.axes:
        (line,) = best_epoch_lines(ax)
        assert list(line.get_xdata()) == [31, 31]


def test_curves_draw_the_history_values_of_the_chosen_replica():
    history = make_history(best_epochs=(5, 31))
    fig = plot_learning_curves(history, "all_parts", replica=1)
    ax = axes_by_title(fig)["KL loss"]
    train, val = data_lines(ax)
    kl = history.columns.index("train_kl_loss")
    np.testing.assert_allclose(train.get_ydata(), history.values[:, 1, kl])
    np.testing.assert_allclose(val.get_ydata(), history.values[:, 1, kl + len(metric_names())])
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, N_EPOCHS + 1))


def test_curves_are_drawn_at_the_evaluated_epochs_with_the_task_score():
    values = np.random.default_rng(0).uniform(size=(4, 1, 2 * len(metric_names(REGRESSION))))
    history = History(values, [20], epochs=np.array([10, 20, 30, 40]), task=REGRESSION)
    fig = plot_learning_curves(history, "all_parts")
    (train, _) = data_lines(fig.axes[0])
    np.testing.assert_array_equal(train.get_xdata(), [10, 20, 30, 40])
    assert fig.axes[0].get_title() == "mae, sampling off"


def test_all_nan_validation_draws_train_lines_only():
    fig = plot_learning_curves(make_history(with_validation=False), "all_parts")
    for ax in fig.axes:
        assert [line.get_label() for line in data_lines(ax)] == ["train"]
        assert len(best_epoch_lines(ax)) == 1


def test_learning_curves_reject_a_replica_out_of_range():
    with pytest.raises(ValueError, match="replica"):
        plot_learning_curves(make_history(), "all_parts", replica=1)


def test_learning_curves_reject_an_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        plot_learning_curves(make_history(), "no_such_strategy")


# latent grids --------------------------------------------------------------------------------


@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_latent_grid_has_three_rows_of_train_and_validation(latent_dim):
    fig = plot_latent_grid(make_snapshot(latent_dim))
    assert len(fig.axes) == 6
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split(":")[0] for t in titles] == ["train", "validation"] * 3
    assert "epoch 64" in fig.get_suptitle()


@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_latent_grid_top_and_middle_rows_have_fixed_limits(latent_dim):
    # points far outside both windows: fixed limits must not follow the data
    fig = plot_latent_grid(make_snapshot(latent_dim, scale=40.0))
    top, middle = fig.axes[0:2], fig.axes[2:4]
    for ax in top:
        assert ax.get_xlim() == (-SAMPLED_LIMIT, SAMPLED_LIMIT)
        if latent_dim > 1:
            assert ax.get_ylim() == (-SAMPLED_LIMIT, SAMPLED_LIMIT)
    for ax in middle:
        assert ax.get_xlim() == (-MEAN_LIMIT, MEAN_LIMIT)
        if latent_dim > 1:
            assert ax.get_ylim() == (-MEAN_LIMIT, MEAN_LIMIT)


def test_latent_grid_bottom_row_spans_the_z_mean_range():
    snapshot = make_snapshot(2, scale=40.0)
    train_ax = plot_latent_grid(snapshot).axes[4]
    low, high = train_ax.get_xlim()
    x = snapshot.train_z_mean[0][:, 0]
    assert low <= x.min() and high >= x.max()
    # the own-range view hugs the data, unlike a fixed window
    assert high - low < 1.5 * (x.max() - x.min())


def test_latent_dim_above_two_is_a_pca_of_z_mean_labelled_as_such():
    fig = plot_latent_grid(make_snapshot(5))
    middle = fig.axes[2]
    assert middle.get_xlabel() == "PC1 of z_mean"
    assert middle.get_ylabel() == "PC2 of z_mean"
    assert fig.axes[0].get_xlabel() == "PC1 of sampled z"


def test_latent_dim_one_is_a_labelled_strip_with_the_z_values_on_x():
    snapshot = make_snapshot(1)
    fig = plot_latent_grid(snapshot)
    bottom_train = fig.axes[4]
    assert bottom_train.get_ylabel() == "jitter (no meaning)"
    offsets = np.vstack([c.get_offsets() for c in bottom_train.collections])
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(snapshot.train_z_mean[0][:, 0]))
    assert np.abs(offsets[:, 1]).max() < 1.0


def test_points_are_coloured_by_class_with_a_legend_of_class_names():
    snapshot = make_snapshot(2, n_classes=3)
    fig = plot_latent_grid(snapshot, class_names=["setosa", "versicolor", "virginica"])
    train_ax = fig.axes[0]
    assert len(train_ax.collections) == 3
    colours = {tuple(c.get_facecolor()[0][:3]) for c in train_ax.collections}
    assert len(colours) == 3
    legend = train_ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["setosa", "versicolor", "virginica"]


def test_snapshot_without_validation_draws_the_train_column_only():
    fig = plot_latent_grid(make_snapshot(2, with_validation=False))
    assert len(fig.axes) == 3
    assert all(ax.get_title().startswith("train") for ax in fig.axes)


def test_latent_grid_draws_the_chosen_replica():
    snapshot = make_snapshot(2, n_replicas=3)
    fig = plot_latent_grid(snapshot, replica=2)
    offsets = np.vstack([c.get_offsets() for c in fig.axes[2].collections])
    expected = snapshot.train_z_mean[2]
    np.testing.assert_allclose(
        np.sort(offsets, axis=0), np.sort(expected, axis=0)
    )


def test_latent_grid_rejects_too_few_class_names():
    with pytest.raises(ValueError, match="class_names"):
        plot_latent_grid(make_snapshot(2, n_classes=3), class_names=["a", "b"])


def test_latent_grid_rejects_a_replica_out_of_range():
    with pytest.raises(ValueError, match="replica"):
        plot_latent_grid(make_snapshot(2), replica=1)


def test_the_principal_component_view_is_scikit_learns_pca():
    points = np.random.default_rng(3).standard_normal((200, 5)) * [3.0, 2.0, 1.0, 0.5, 0.1]
    fig = plot_latent_view(points, np.arange(200) % 2)
    drawn = np.vstack([c.get_offsets() for c in fig.axes[0].collections])
    expected = PCA(n_components=2).fit_transform(points)
    order = np.r_[np.arange(0, 200, 2), np.arange(1, 200, 2)]  # drawn class by class
    np.testing.assert_allclose(drawn, expected[order], atol=1e-8)
    assert fig.axes[0].get_xlabel() == "PC1 of z_mean"


@pytest.mark.parametrize("latent_dim", [1, 2, 4])
def test_the_latent_domain_is_drawn_with_three_sigma_contours(latent_dim):
    rng = np.random.default_rng(latent_dim)
    z_mean = rng.standard_normal((100, latent_dim))
    domain = LatentDomain.fit(z_mean, np.zeros_like(z_mean) - 2.0, n_draws=2, seed=0)
    fig = plot_latent_domain(z_mean, np.arange(100) % 3, domain, class_names=["a", "b", "c"])
    (ax,) = fig.axes
    widths = sorted(p.width for p in ax.patches)
    np.testing.assert_allclose(np.array(widths) / widths[0], [1, 2, 3])
    assert len(ax.collections) == 3
    assert ax.get_xlim()[1] - ax.get_xlim()[0] == pytest.approx(ax.get_ylim()[1] - ax.get_ylim()[0])


@pytest.mark.parametrize("latent_dim", [2, 4])
def test_the_domain_contours_follow_a_stretched_gaussian(latent_dim):
    """Points stretched 5:1 along a tilted direction: the ellipses lie along it, with axes of
    k standard deviations along and across it, and hold the share of the points a Gaussian's
    k-sigma ellipse holds."""
    rng = np.random.default_rng(0)
    tilt = np.radians(30.0)
    along, across = np.array([np.cos(tilt), np.sin(tilt)]), np.array([-np.sin(tilt), np.cos(tilt)])
    plane = rng.standard_normal((4000, 1)) * 5.0 * along + rng.standard_normal((4000, 1)) * across
    z_mean = np.hstack([plane, 0.1 * rng.standard_normal((4000, latent_dim - 2))])
    domain = LatentDomain.fit(z_mean, np.zeros_like(z_mean) - 4.0, n_draws=1, seed=0)
    (ax,) = plot_latent_domain(z_mean, np.zeros(4000, dtype=int), domain).axes
    one, two, three = sorted(ax.patches, key=lambda p: p.width)
    for k, ellipse in zip((1, 2, 3), (one, two, three), strict=True):
        assert ellipse.width == pytest.approx(2 * k * 5.0, rel=0.05)
        assert ellipse.height == pytest.approx(2 * k * 1.0, rel=0.05)
    expected = 30.0 if latent_dim == 2 else 0.0  # a wider neck is drawn along its PC1
    off = (one.angle - expected) % 180.0
    assert min(off, 180.0 - off) < 2.0
    # the share of the plotted points inside the 2-sigma ellipse is a 2-D Gaussian's, 0.865
    points = np.vstack([c.get_offsets() for c in ax.collections])
    inside = two.contains_points(ax.transData.transform(points))
    assert inside.mean() == pytest.approx(1 - np.exp(-2.0), abs=0.03)


def test_a_strategy_that_trains_no_head_draws_no_panel_of_the_head():
    titles = [title for _, title in learning_curve_panels("autoencoder")]
    assert titles == ["total loss", "KL loss", "reconstruction loss"]
    assert "accuracy, sampling off" in [t for _, t in learning_curve_panels("classifier_head")]
