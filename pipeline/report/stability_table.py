"""A stability selection in words and tables, one wording for report.md, report.html, the Prefect
artifact and ``vaec-select report``.

Everything here reads the ``stability`` section of report.json (a
:meth:`pipeline.stability.result.StabilityResult.to_dict` made JSON-native: undefined measures
are null).
"""

from __future__ import annotations

from typing import Any

FREQUENCY_COLUMNS = ("rank", "channel", "keep frequency", "kept in", "mean rank", "decision")
RESAMPLE_COLUMNS = ("resample", "seed", "train rows", "val rows", "kept", "rounds", "stop",
                    "seconds")
HOW = {"subsample": "half of every class, without replacement",
       "bootstrap": "training rows drawn with replacement"}


def _number(value: float | None, digits: int = 2) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def _percent(value: float) -> str:
    return f"{100 * value:g} %"


def summary_lines(stability: dict[str, Any]) -> list[str]:
    """The run in a few sentences: the cut and the count, the Nogueira index with its interval,
    pairwise Jaccard, the error bound and what it is worth."""
    n, p = stability["n_resamples"], len(stability["channels"])
    selected = stability["selected"]
    lines = [
        f"Selected the channels kept in at least {_percent(stability['keep_frequency'])} of "
        f"{n} resamples ({stability['resample']}: {HOW[stability['resample']]}): "
        f"{len(selected)} of {p}.",
    ]
    if stability["nogueira"] is None:
        lines.append("Nogueira stability index: undefined (every resample kept nothing, or "
                     "everything).")
    else:
        lines.append(
            f"Nogueira stability index {_number(stability['nogueira'])} (95 % interval "
            f"{_number(stability['nogueira_low'])} to {_number(stability['nogueira_high'])}): 1 "
            "when every resample keeps the same channels, about 0 for selections of the same "
            "size drawn at random.")
    lines.append(f"Pairwise Jaccard over the resamples: mean {_number(stability['jaccard_mean'])}, "
                 f"smallest {_number(stability['jaccard_min'])}.")
    bound = stability["error_bound"]
    text = (f"Expected number of noise channels among those at or over the cut: at most "
            f"{bound:.2f} (Meinshausen & Bühlmann: q² / ((2π - 1) p) with q = "
            f"{stability['mean_selected']:.1f} channels kept per resample, π = "
            f"{stability['keep_frequency']:g}, p = {p}).")
    if bound >= max(len(selected), 1):
        text += (" That is no less than the selection's size, so it promises nothing here: the "
                 "bound bites when a resample keeps few of many channels.")
    lines.append(text)
    if stability["beyond_k"]:
        lines.append(f"At or over the cut but left out to keep n_features_to_select: "
                     f"{', '.join(stability['beyond_k'])}.")
    if stability["floor"]:
        lines.append(f"Under the cut but kept to reach min_features: "
                     f"{', '.join(stability['floor'])}.")
    return lines


def ranked_channels(stability: dict[str, Any]) -> list[str]:
    """Every channel best first: by keep frequency, then mean rank, then column order."""
    position = {c: i for i, c in enumerate(stability["channels"])}
    return sorted(stability["channels"], key=lambda c: (
        -stability["frequency"][c], stability["mean_rank"][c], position[c]))


def frequency_rows(stability: dict[str, Any]) -> list[list[str]]:
    """One row per channel, most often kept first, in :data:`FREQUENCY_COLUMNS` order."""
    n = stability["n_resamples"]
    selected, floor, beyond = (set(stability[k]) for k in ("selected", "floor", "beyond_k"))
    rows = []
    for rank, channel in enumerate(ranked_channels(stability), start=1):
        frequency = stability["frequency"][channel]
        decision = ("selected (under the cut, for min_features)" if channel in floor
                    else "selected" if channel in selected
                    else "over the cut, beyond n_features_to_select" if channel in beyond
                    else "under the cut")
        rows.append([str(rank), channel, f"{frequency:.2f}", f"{round(frequency * n)} of {n}",
                     f"{stability['mean_rank'][channel]:.1f}", decision])
    return rows


def resample_rows(stability: dict[str, Any]) -> list[list[str]]:
    """One row per resample, in :data:`RESAMPLE_COLUMNS` order."""
    return [[str(r["index"]), str(r["seed"]), str(r["n_train"]), str(r["n_val"]),
             str(len(r["selected"])), str(r["n_rounds"]), r["stop_reason"], f"{r['seconds']:.1f}"]
            for r in stability["resamples"]]


def _markdown_table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(stability: dict[str, Any]) -> str:
    """The summary, the keep frequency of every channel and the resamples, as Markdown."""
    return "\n\n".join([
        "\n".join(f"- {line}" for line in summary_lines(stability)),
        _markdown_table(FREQUENCY_COLUMNS, frequency_rows(stability)),
        _markdown_table(RESAMPLE_COLUMNS, resample_rows(stability)),
    ])
