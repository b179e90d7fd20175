"""Figures of a pruning run: channel scores per round, kept count against accuracy, and a
stability selection's keep frequencies.

Each function takes data and returns a :class:`~matplotlib.figure.Figure`; the caller saves it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pipeline.report.round_table import SCORE_LABELS
from pipeline.rounds.record import PASSING, REJECTED, PruningRound
from pipeline.stability.measures import reaches_cut

# wider tables show their best and worst channels, half each
MAX_SHOWN = 80
R2_FLOOR = -1.0
COLOURS = {"passes": "tab:blue", "rejected": "tab:red", "dropped": "tab:orange",
           "spared": "tab:gray"}


def _fate(record: PruningRound, channel: str) -> str:
    if channel in record.dropped:
        return "rejected" if record.decision.get(channel) == REJECTED else "dropped"
    if record.decision.get(channel) in PASSING:
        return "passes"
    return "spared"


def shown_channels(record: PruningRound) -> tuple[list[str], int]:
    """The channels drawn, best first, and how many in the middle are left out."""
    ranked = record.ranked()
    if len(ranked) <= MAX_SHOWN:
        return ranked, 0
    half = MAX_SHOWN // 2
    return ranked[:half] + ranked[-half:], len(ranked) - MAX_SHOWN


def _boxes(ax: Axes, values: list[list[float]], colours: list[str], low: float | None) -> int:
    """Horizontal box plots, the first on top; returns how many values were clipped at ``low``."""
    data = [np.asarray(v, dtype=float) for v in values]
    clipped = 0
    if low is not None:
        clipped = int(sum((d < low).sum() for d in data))
        data = [np.maximum(d, low) for d in data]
    positions = np.arange(len(data))[::-1]
    parts = ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.6,
                       patch_artist=True, showfliers=False, whis=(0, 100))
    for patch, colour in zip(parts["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.75)
    for median in parts["medians"]:
        median.set_color("black")
    return clipped


def _from_effect_scale(value: np.ndarray | float) -> np.ndarray:
    """Back from the importance test's scale (signed square root) to nats per row."""
    return np.sign(value) * np.square(value)


def _shadow_band(ax: Axes, shadow: dict, label: str, effect_scale: bool = False) -> list:
    """The shadows' middle 90 % as a band and the passing bar as a dashed line (both tested
    on the effect scale for importance, drawn in its units)."""
    values = np.asarray(shadow["values"], dtype=float)
    low, high = np.quantile(values, [0.05, 0.95])
    bar = shadow["mean"] + shadow["pass_t"] * shadow["std"] * np.sqrt(1 + 1 / shadow["n"])
    if effect_scale:
        low, high, bar = (float(_from_effect_scale(v)) for v in (low, high, bar))
    ax.axvspan(low, high, color="0.6", alpha=0.25, zorder=0)
    ax.axvline(bar, color="black", linestyle="--", linewidth=1)
    return [Patch(color="0.6", alpha=0.4, label=f"{label} of the shadows (middle 90 %)"),
            Line2D([], [], color="black", linestyle="--", label="passing bar")]


def plot_round_scores(record: PruningRound, threshold: float) -> Figure:
    """Every channel's scores over the round's trials as horizontal box plots, best first.

    Under the relevance rule two panels: the shared R² (what the neck carries of a channel from
    the others; a dot marks the plain R², with its own input) and the importance to the head,
    each with the shadows' band and the passing bar. Under the reconstruction rule one
    panel of R² with the threshold. Colours: passes, rejected (dropped with confidence),
    dropped (uncertain, under the drop cap), spared (did not pass, kept by the cap or a floor).
    """
    channels, hidden = shown_channels(record)
    colours = [COLOURS[_fate(record, c)] for c in channels]
    relevance = "importance" in record.trial_scores
    height = max(3.0, 0.22 * len(channels) + 1.6)
    fig = Figure(figsize=(11.0 if relevance else 7.0, height), layout="constrained")
    axes = fig.subplots(1, 2 if relevance else 1, sharey=True, squeeze=False)[0]
    positions = np.arange(len(channels))[::-1]
    notes = []
    handles: list = [Patch(color=COLOURS[k], alpha=0.75, label=k) for k in COLOURS
                     if COLOURS[k] in colours]
    if relevance:
        ax = axes[0]
        clipped = _boxes(ax, [record.trial_scores["shared_r2"][c] for c in channels], colours,
                         R2_FLOOR)
        r2 = np.maximum([record.score_mean[c] for c in channels], R2_FLOOR)
        ax.plot(r2, positions, "k.", markersize=5)
        handles += _shadow_band(ax, record.shadow["shared_r2"], "shared R²")
        handles.append(Line2D([], [], color="k", marker=".", linestyle="",
                              label="R² with its own input (mean)"))
        ax.set_xlabel("shared R² (own input held at its mean)")
        ax = axes[1]
        _boxes(ax, [record.trial_scores["importance"][c] for c in channels], colours, None)
        _shadow_band(ax, record.shadow["importance"], "importance", effect_scale=True)
        ax.set_xlabel("importance to the head (loss rise, nats per row)")
    else:
        ax = axes[0]
        clipped = _boxes(ax, [record.trial_scores["r2"][c] for c in channels], colours, R2_FLOOR)
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        handles.append(Line2D([], [], color="black", linestyle="--", label=f"threshold {threshold:g}"))
        ax.set_xlabel("validation reconstruction R²")
    axes[0].set_yticks(positions, channels, fontsize=7 if len(channels) > 30 else 8)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    if clipped:
        notes.append(f"{clipped} R² values under {R2_FLOOR:g} drawn at {R2_FLOOR:g}")
    if hidden:
        notes.append(f"{hidden} channel{'s' * (hidden > 1)} ranked in between "
                     f"{'are' if hidden > 1 else 'is'} not shown")
    title = (f"round {record.index}: trained on {len(record.kept)}, dropped {len(record.dropped)}"
             + (f" ({len(record.rejected)} rejected with confidence)" if record.rejected else "")
             + (f", {len(record.spared)} spared" if record.spared else ""))
    fig.suptitle(title + ("\n" + "; ".join(notes) if notes else ""), fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8)
    return fig


def plot_rounds_summary(rounds: Sequence[PruningRound]) -> Figure:
    """Channels trained on and the validation scores per round, on twin axes.

    The accuracy axis starts at a floor that puts the rounds' scores in proportion (never above
    0.5 under the lowest score), so one validation row does not look like a collapse.
    """
    index = [r.index for r in rounds]
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.bar(index, [len(r.kept) for r in rounds], color="tab:gray", alpha=0.5,
           label="channels trained on")
    ax.set_xlabel("round")
    ax.set_ylabel("channels trained on")
    ax.set_xticks(index)
    twin = ax.twinx()
    # scores where higher is better (MAE is left to the table)
    names = [n for n in rounds[0].val_metrics if "mae" not in n]
    lowest = 1.0
    for name, style, colour in zip(names, ("o-", "s--"), ("tab:blue", "tab:orange"), strict=False):
        values = [r.val_metrics[name] for r in rounds]
        lowest = min(lowest, *values)
        twin.plot(index, values, style, color=colour, label=f"val {SCORE_LABELS.get(name, name)}")
    twin.set_ylim(min(0.5, lowest - 0.05), 1.0)
    twin.set_ylabel("validation score (mean over trials)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    ax.set_title("channels and validation accuracy per round")
    return fig


def plot_keep_frequency(
    ranked: Sequence[str],
    frequency: Mapping[str, float],
    keep_frequency: float,
    selected: Collection[str],
    n_resamples: int,
) -> Figure:
    """A stability selection's keep frequency per channel as horizontal bars, most often kept
    on top, with the cut drawn.

    ``ranked`` lists the channels best first. Colours: selected, at or over the cut but not
    selected (``n_features_to_select`` capped the count), under the cut. Wider tables show
    their :data:`MAX_SHOWN` most frequent channels.
    """
    shown = list(ranked[:MAX_SHOWN])
    hidden = len(ranked) - len(shown)
    values = np.array([frequency[c] for c in shown], dtype=float)
    chosen = set(selected)
    colours = ["tab:blue" if c in chosen else
               "tab:orange" if reaches_cut(frequency[c], keep_frequency) else "tab:gray"
               for c in shown]
    fig = Figure(figsize=(7.5, max(2.8, 0.22 * len(shown) + 1.6)), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(shown))[::-1]
    ax.barh(positions, values, color=colours, alpha=0.8)
    ax.axvline(keep_frequency, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(positions, shown, fontsize=7 if len(shown) > 30 else 8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of the {n_resamples} resamples that kept the channel")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=c, alpha=0.8, label=label) for c, label in (
        ("tab:blue", "selected"), ("tab:orange", "over the cut, beyond n_features_to_select"),
        ("tab:gray", "under the cut")) if c in colours]
    handles.append(Line2D([], [], color="black", linestyle="--",
                          label=f"keep_frequency {keep_frequency:g}"))
    title = f"keep frequency: {len(chosen)} of {len(ranked)} channels selected"
    if hidden:
        title += f"\nthe {hidden} channels kept least often are not shown"
    ax.set_title(title, fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8)
    return fig
