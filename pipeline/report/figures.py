"""Figures of a pruning run: channel scores per round, kept count against accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from pipeline.rounds import PruningRound


def plot_round_scores(record: PruningRound, threshold: float) -> Figure:
    """Bar chart of every channel's mean R^2 (std as error bars), threshold line, drops marked."""
    channels = sorted(record.kept, key=lambda c: record.score_mean[c])
    means = np.array([record.score_mean[c] for c in channels])
    stds = np.array([record.score_std[c] for c in channels])
    dropped = set(record.dropped)
    colours = ["tab:red" if c in dropped else "tab:blue" for c in channels]
    width = max(6.0, 0.28 * len(channels) + 2.0)
    fig = Figure(figsize=(min(width, 24.0), 4.2), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(channels))
    ax.bar(positions, np.clip(means, -1.0, None), yerr=stds, color=colours, capsize=2)
    ax.axhline(threshold, color="black", linestyle="--", linewidth=1)
    ax.set_xticks(positions, channels, rotation=90, fontsize=7 if len(channels) > 30 else 8)
    ax.set_ylabel("validation reconstruction R²")
    ax.set_ylim(min(-0.1, float(np.clip(means - stds, -1.0, None).min()) - 0.05), 1.05)
    ax.legend(
        handles=[Patch(color="tab:blue", label="kept"), Patch(color="tab:red", label="dropped"),
                 Patch(facecolor="white", edgecolor="black", label=f"threshold {threshold:g}")],
        loc="lower right", fontsize=8,
    )
    ax.set_title(f"round {record.index}: {len(channels)} channels, {len(dropped)} dropped")
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_rounds_summary(rounds: Sequence[PruningRound]) -> Figure:
    """Kept channel count and validation accuracy/F1 per round, on twin axes."""
    index = [r.index for r in rounds]
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.bar(index, [len(r.kept) for r in rounds], color="tab:gray", alpha=0.5, label="kept channels")
    ax.set_xlabel("round")
    ax.set_ylabel("channels trained on")
    ax.set_xticks(index)
    twin = ax.twinx()
    twin.plot(index, [r.val_accuracy for r in rounds], "o-", color="tab:blue", label="val accuracy")
    twin.plot(index, [r.val_f1 for r in rounds], "s--", color="tab:orange", label="val F1")
    twin.set_ylabel("validation score (mean over trials)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    twin.legend(handles=handles, loc="lower left", fontsize=8)
    ax.set_title("channels kept and validation accuracy per round")
    return fig
