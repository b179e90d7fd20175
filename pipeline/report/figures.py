"""Figures of a run's report: channel scores per round, the score and the minimal subset's loss
against the channels kept, a stability selection's keep frequencies, the final model's
(:mod:`vaec.plots`); each ``plot_*`` function returns a Figure, :func:`figure_png` makes the PNG."""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from pipeline.report.tables import SCORE_LABELS, to_nats
from pipeline.rounds.record import PASSING, REJECTED, PruningRound, path_points
from pipeline.stability.measures import reaches_cut
from vaec.plots import (
    fixed_title,
    plot_latent_domain,
    plot_latent_grid,
    plot_latent_view,
    plot_learning_curves,
)

if TYPE_CHECKING:
    from pipeline.result import PruningResult

# The page is about 1200 px wide; the figures are 6-12.6 inches wide, so 80 dpi fits them
# unscaled (the text stays readable) and keeps each PNG small to draw and to embed.
PNG_DPI = 80
MAX_SHOWN = 80  # wider tables show their best and worst channels, half each
R2_FLOOR = -1.0
COLOURS = {"passes": "tab:blue", "rejected": "tab:red", "dropped": "tab:orange", "spared": "tab:gray"}


def _fate(record: PruningRound, channel: str) -> str:
    if channel in record.dropped:
        return "rejected" if record.decision.get(channel) == REJECTED else "dropped"
    return "passes" if record.decision.get(channel) in PASSING else "spared"


def _boxes(ax: Axes, values: list[list[float]], colours: list[str], low: float) -> int:
    """Horizontal box plots, first on top; returns how many values were clipped at ``low``."""
    # three artists for any number of channels (boxplot draws six per box, barh one per bar)
    data = np.asarray(values, dtype=float)  # channels x trials
    clipped = int((data < low).sum())
    data = np.maximum(data, low)
    positions = np.arange(len(data))[::-1]
    q1, median, q3 = np.quantile(data, [0.25, 0.5, 0.75], axis=1)
    ax.hlines(positions, data.min(axis=1), data.max(axis=1), color="0.3", linewidth=1, zorder=2)
    bottom, top = positions - 0.3, positions + 0.3
    corners = np.stack([np.column_stack(xy) for xy in ((q1, bottom), (q3, bottom), (q3, top), (q1, top))],
                       axis=1)
    ax.add_collection(PolyCollection(corners, facecolors=colours, alpha=0.75, edgecolors="0.3",
                                     linewidths=0.6, zorder=3))
    ax.vlines(median, bottom, top, color="black", linewidth=1.5, zorder=4)
    return clipped


def _shadow_band(ax: Axes, shadow: dict, label: str, effect_scale: bool = False) -> list:
    """The shadows' middle 90 % as a band and the passing bar as a dashed line (importance: in nats)."""
    low, high = np.quantile(np.asarray(shadow["values"], dtype=float), [0.05, 0.95])
    bar = shadow["mean"] + shadow["pass_t"] * shadow["std"] * np.sqrt(1 + 1 / shadow["n"])
    if effect_scale:
        low, high, bar = (to_nats(float(v)) for v in (low, high, bar))
    ax.axvspan(low, high, color="0.6", alpha=0.25, zorder=0)
    ax.axvline(bar, color="black", linestyle="--", linewidth=1)
    return [Patch(color="0.6", alpha=0.4, label=f"{label} of the shadows (middle 90 %)"),
            Line2D([], [], color="black", linestyle="--", label="passing bar")]


def _names_layout(fig: Figure, names: Sequence[str], legend_rows: int, title_lines: int) -> None:
    # a fixed layout: a constrained one costs as much as drawing the chart
    width, height = fig.get_size_inches()
    left = (0.62 * _name_size(names) / 72 * max(map(len, names), default=1) + 0.25) / width
    fig.subplots_adjust(left=left, right=1 - 0.2 / width, wspace=0.04,
                        bottom=(0.6 + 0.2 * legend_rows) / height,
                        top=1 - (0.18 + 0.19 * title_lines) / height)


def _name_size(names: Sequence[str]) -> int:
    return 7 if len(names) > 30 else 8


def plot_round_scores(record: PruningRound, threshold: float) -> Figure:
    """Every channel's scores over the round's trials as horizontal box plots, best first: the shared
    R² (a dot: the plain R²) and the importance to the head, each with the shadows' band and the
    passing bar; under the reconstruction rule R² with the threshold. Colours: the channel's fate."""
    ranked, half = record.ranked(), MAX_SHOWN // 2
    channels = ranked if len(ranked) <= MAX_SHOWN else ranked[:half] + ranked[-half:]
    hidden = len(ranked) - len(channels)
    colours = [COLOURS[_fate(record, c)] for c in channels]
    relevance = "importance" in record.trial_scores
    # each panel's score, the lowest value drawn and the axis label
    panels = ([("shared_r2", R2_FLOOR, "shared R² (own input held at its mean)"),
               ("importance", -np.inf, "importance to the head (loss rise, nats per row)")] if relevance
              else [("r2", R2_FLOOR, "validation reconstruction R²")])
    height = max(3.0, 0.22 * len(channels) + 1.6)
    fig = Figure(figsize=(11.0 if relevance else 7.0, height))
    # not sharey: a shared axis would draw the names' ticks again on the second panel
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    positions = np.arange(len(channels))[::-1]
    notes, clipped = [], 0
    handles: list = [Patch(color=COLOURS[k], alpha=0.75, label=k) for k in COLOURS if COLOURS[k] in colours]
    for ax, (score, low, label) in zip(axes, panels, strict=True):
        clipped += _boxes(ax, [record.trial_scores[score][c] for c in channels], colours, low)
        ax.set_xlabel(label)
        ax.set_ylim(-0.7, len(channels) - 0.3)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, channels, fontsize=_name_size(channels))
    if relevance:
        axes[0].plot(np.maximum([record.score_mean[c] for c in channels], R2_FLOOR), positions, "k.",
                     markersize=5)
        handles += _shadow_band(axes[0], record.shadow["shared_r2"], "shared R²")
        handles.append(Line2D([], [], color="k", marker=".", linestyle="",
                              label="R² with its own input (mean)"))
        _shadow_band(axes[1], record.shadow["importance"], "importance", effect_scale=True)
        axes[1].set_yticks([])
    else:
        axes[0].axvline(threshold, color="black", linestyle="--", linewidth=1)
        handles.append(Line2D([], [], color="black", linestyle="--", label=f"threshold {threshold:g}"))
    if clipped:
        notes.append(f"{clipped} R² values under {R2_FLOOR:g} drawn at {R2_FLOOR:g}")
    if hidden:
        notes.append(f"{hidden} channel{'s' * (hidden > 1)} ranked in between "
                     f"{'are' if hidden > 1 else 'is'} not shown")
    title = (f"round {record.index}: trained on {len(record.kept)}, dropped {len(record.dropped)}"
             + (f" ({len(record.rejected)} rejected with confidence)" if record.rejected else "")
             + (f", {len(record.spared)} spared" if record.spared else ""))
    fig.suptitle(title + ("\n" + "; ".join(notes) if notes else ""), fontsize=10, y=1 - 0.08 / height,
                 va="top")
    fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 4), fontsize=8)
    _names_layout(fig, channels, -(-len(handles) // 4), 1 + bool(notes))
    return fig


def _count_axes(ax: Axes, counts: Sequence[int], ylabel: str, legend: str, title: str) -> None:
    """A count chart's axes: fewer channels to the right, whole counts, labels, grid, legend, title."""
    ax.set_xlim(max(counts) + 0.5, min(counts) - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("channels trained on")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=8)
    fixed_title(ax, title, fontsize=10)


def plot_score_by_count(rounds: Sequence[PruningRound], final: float | None = None,
                        n_final: int | None = None) -> Figure:
    """Every round's validation score (mean and spread over its trials) against the channels it
    trained on; round 1's (all columns) dotted, the final model's a star. The score axis starts at
    most 0.5 under the lowest, so one row does not look like a collapse."""
    label = SCORE_LABELS.get(rounds[0].score_name, rounds[0].score_name)
    counts = [len(r.kept) for r in rounds]
    scores = [r.val_score for r in rounds]
    fig = Figure(figsize=(7.5, 3.4))
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.15, top=0.9)  # short labels: fixed
    ax = fig.subplots()
    ax.errorbar(counts, scores, yerr=[r.val_score_std for r in rounds], fmt="o-", capsize=3,
                color="tab:blue", label="a round's models (mean ± sd over the trials)")
    for record, x, y in zip(rounds, counts, scores, strict=True):
        ax.annotate(str(record.index), (x, y), xytext=(0, 6), textcoords="offset points", ha="center",
                    fontsize=8)
    ax.axhline(scores[0], color="0.4", linestyle=":", linewidth=1, label="all columns (round 1)")
    lowest = min(scores)
    if final is not None and n_final is not None:
        ax.plot([n_final], [final], "*", color="tab:red", markersize=12, label="final model")
        lowest = min(lowest, final)
    ax.set_ylim(min(0.5, lowest - 0.05), 1.0)
    _count_axes(ax, [*counts, n_final or counts[-1]], f"validation {label}", "lower left",
                f"validation {label} against the channels kept (numbers: rounds)")
    return fig


def plot_count_curve(rounds: Sequence[PruningRound], selected_round: int) -> Figure | None:
    """The minimal subset's figure: the loss per scored row (± its standard error) of the rounds on
    its path against the channels they trained on, the best one's loss plus its standard error (the
    limit), and the round whose channels were kept. ``None`` when no round is on the path."""
    points = path_points(rounds)
    if not points:
        return None
    best = min(points, key=lambda p: (p.mean_loss, p.n_features))
    counts = [p.n_features for p in points]
    fig = Figure(figsize=(7.5, 3.2))
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.16, top=0.88)
    ax = fig.subplots()
    ax.errorbar(counts, [p.mean_loss for p in points], yerr=[p.std_error for p in points],
                fmt="o-", capsize=3, color="tab:blue", label="a round's loss per row (± se)")
    ax.axhline(best.mean_loss + best.std_error, color="tab:green", linestyle="--", linewidth=1,
               label="best + one standard error")
    if chosen := [p for p in points if p.round == selected_round]:
        ax.plot([chosen[0].n_features], [chosen[0].mean_loss], "*", color="tab:red", markersize=13,
                label=f"kept: {chosen[0].n_features} channels")
    _count_axes(ax, counts, "loss per row", "upper left",
                "the minimal subset: the fewest channels within one standard error of the best")
    return fig


def plot_keep_frequency(ranked: Sequence[str], frequency: Mapping[str, float], keep_frequency: float,
                        selected: Collection[str], n_resamples: int) -> Figure:
    """A stability selection's keep frequency per channel as bars, ``ranked`` (best first) top to
    bottom, with the cut; selected, over the cut but beyond ``n_features_to_select``, and under the
    cut in three colours. Wider tables show their :data:`MAX_SHOWN` most frequent channels."""
    shown = list(ranked[:MAX_SHOWN])
    hidden = len(ranked) - len(shown)
    chosen = set(selected)
    colours = ["tab:blue" if c in chosen else "tab:orange" if reaches_cut(frequency[c], keep_frequency)
               else "tab:gray" for c in shown]
    fig = Figure(figsize=(7.5, max(2.8, 0.22 * len(shown) + 1.6)))
    ax = fig.subplots()
    positions = np.arange(len(shown))[::-1]
    ax.barh(positions, np.array([frequency[c] for c in shown], dtype=float), color=colours, alpha=0.8)
    ax.axvline(keep_frequency, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(positions, shown, fontsize=_name_size(shown))
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of the {n_resamples} resamples that kept the channel")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=c, alpha=0.8, label=label) for c, label in (
        ("tab:blue", "selected"), ("tab:orange", "over the cut, beyond n_features_to_select"),
        ("tab:gray", "under the cut")) if c in colours]
    handles.append(Line2D([], [], color="black", linestyle="--", label=f"keep_frequency {keep_frequency:g}"))
    title = f"keep frequency: {len(chosen)} of {len(ranked)} channels selected"
    if hidden:
        title += f"\nthe {hidden} channels kept least often are not shown"
    fixed_title(ax, title, fontsize=10)
    fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 3), fontsize=8)
    _names_layout(fig, shown, -(-len(handles) // 3), 1 + bool(hidden))
    return fig


def figure_png(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG bytes (it is no pyplot figure: it goes with its last reference)."""
    if fig.get_layout_engine() is not None:
        # laid out once here: savefig would lay the figure out and draw it twice
        fig.dpi = dpi
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine(None)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def page_figures(result: PruningResult, class_names: Sequence[str] | None) -> dict[str, str]:
    """Every figure the page shows, each drawn once, as data URIs: ``score_by_count``, ``count_curve``,
    ``round_<k>``, ``stability``, ``curves``, ``latent`` and ``domain``."""
    final, stability = result.final, result.stability
    draw: dict[str, Callable[[], Figure]] = {}  # drawn, encoded and freed one at a time
    if result.rounds:  # a stability selection has none of its own
        score = final.metrics.get(f"val_{result.rounds[0].score_name}") if final else None
        draw["score_by_count"] = lambda: plot_score_by_count(
            result.rounds, score, len(final.channels) if final else None)
        if result.selected_round is not None and path_points(result.rounds):
            draw["count_curve"] = functools.partial(plot_count_curve, result.rounds,
                                                    result.selected_round.index)
    for record in result.rounds:
        draw[f"round_{record.index}"] = functools.partial(plot_round_scores, record, result.config.threshold)
    if stability is not None:
        draw["stability"] = lambda: plot_keep_frequency(stability.ranked(), stability.frequency,
                                                        stability.keep_frequency, stability.selected,
                                                        stability.n_resamples)
    if final is not None and final.training is not None:
        data, model = result.split.columns(final.channels), final.model
        z_train, z_val = model.encode(data.X_train)[0], model.encode(data.X_val)[0]
        # coloured by class index, or by the target's value (regression), or not at all
        y_train, y_val = (np.searchsorted(model.classes_, y) if model.classes_ is not None else
                          np.asarray(y if y is not None else np.zeros(len(z)), dtype=np.float64)
                          for y, z in ((data.y_train, z_train), (data.y_val, z_val)))
        draw["curves"] = lambda: plot_learning_curves(final.training.history, final.training.strategy)
        draw["latent"] = lambda: plot_latent_view(z_train, y_train, z_val, y_val, class_names)
        if model.latent_domain_ is not None:
            draw["domain"] = lambda: plot_latent_domain(z_train, y_train, model.latent_domain_, class_names)
    return {name: "data:image/png;base64," + base64.b64encode(figure_png(make())).decode("ascii")
            for name, make in draw.items()}


def latent_grid_pngs(result: PruningResult, class_names: Sequence[str] | None) -> Iterator[tuple[str, bytes]]:
    """``(file name, PNG)`` of every latent snapshot of the final model's training, at fixed ranges."""
    training = result.final.training if result.final is not None else None
    for snapshot in training.snapshots if training is not None else []:
        yield (f"latent_epoch{snapshot.epoch:05d}.png",
               figure_png(plot_latent_grid(snapshot, class_names=class_names), dpi=72))
