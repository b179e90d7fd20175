"""The figure of the minimal subset (``n_features_to_select="auto"``): the loss per row against
the channels kept, with the one-standard-error limit the count was chosen by."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.rounds.record import PruningRound, path_points
from vaec.layout import fixed_title


def plot_count_curve(rounds: Sequence[PruningRound], selected_round: int) -> Figure | None:
    """The rounds on the minimal-subset path: mean loss per scored row (± its standard error)
    against the channels they trained on, the best one's loss plus its standard error (the
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
    chosen = [p for p in points if p.round == selected_round]
    if chosen:
        ax.plot([chosen[0].n_features], [chosen[0].mean_loss], "*", color="tab:red",
                markersize=13, label=f"kept: {chosen[0].n_features} channels")
    ax.set_xlim(max(counts) + 0.5, min(counts) - 0.5)  # fewer channels to the right
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("channels trained on")
    ax.set_ylabel("loss per row")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fixed_title(ax, "the minimal subset: the fewest channels within one standard error of the best",
                fontsize=10)
    return fig
