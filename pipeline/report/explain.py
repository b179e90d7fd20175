"""The words of a report: how to read it, and why the loop stopped.

Both report.md and report.html print these, so a run is explained the same way in both.
"""

from __future__ import annotations

from typing import Any

# at or under this evidence a dropped channel was under the shadows' average (never restored)
_BELOW_SHADOWS = 0.0


def restorable_names(record: dict[str, Any]) -> list[str]:
    """The drops of a round record (a dict) the guard brings back."""
    rejected = set(record.get("rejected", []))
    evidence = record.get("evidence", {})
    return [c for c in record["dropped"]
            if c not in rejected and evidence.get(c, 1.0) > _BELOW_SHADOWS]

STOP_WORDS = {
    "all_pass": "every channel left passed",
    "min_features": "the floor of min_features channels was reached",
    "n_features_to_select": "the requested number of channels was reached",
    "accuracy_guard": "the accuracy guard ended the loop",
}

HOW_TO_READ = [
    ("Rounds", "each round trains a few models (trials, different seeds) on the channels left "
     "plus shadow channels: copies of real channels with their rows shuffled, which share "
     "nothing with anything. Whatever a shadow scores is what noise scores."),
    ("Importance, alone and with partners", "the importance says how much the classifier "
     "head's loss rises when a channel is held at its mean: relevant channels score high. "
     "Channels correlated with each other form a cluster, and the cluster is also held at its "
     "mean as a whole: two copies of one signal each cost little alone (the other covers for "
     "it) and much together. Shadow clusters - real clusters with their rows shuffled together "
     "- say what a correlated group of noise costs. The charts draw each channel's scores over "
     "the trials as a box, the shadows' middle 90 % as a grey band, and the passing bar as a "
     "dashed line. The charts give the importance in nats per row; the tables give it on the "
     "test's scale, the signed square root of that (√nats), where the trials' spread is closer "
     "to normal."),
    ("Shared R²", "how much of a channel the network rebuilds from the other channels (its own "
     "input held at its mean). With a target it is shown, never decides: correlated channels "
     "that say nothing of the target are reconstructable too. Without a target it is the "
     "rule."),
    ("Fates", "a channel is relevant when its importance beats the shadows', redundant when "
     "only its cluster's beats the shadow clusters' (the table names the relevant channels it "
     "stands in for); both are t tests, with the false-discovery rate controlled over all of "
     "them. It is rejected - dropped at once - when it and its cluster are at or under the "
     "shadows' average. Otherwise it is uncertain: at most a fraction of the channels (the "
     "drop cap) leaves per round, worst first; uncertain channels the cap spares are marked "
     "'spared' and are looked at again next round."),
    ("Stops", "the loop ends when every channel left passes, at n_features_to_select, at "
     "min_features, or when the accuracy guard sees the validation rows predict worse than in "
     "the best round (a paired test over the rows, never a difference of a few rows) after "
     "uncertain drops (those come back)."),
    ("Rank", "1 for the selected channels; then the rest by the round they left, the last "
     "round first, best first within a round."),
]


def stop_note(report: dict[str, Any]) -> str:
    """One sentence on why the loop stopped, with the guard's and the last cut's details."""
    rounds = report["rounds"]
    reason = report["stop_reason"]
    stability = report.get("stability")
    if stability:
        return (f"A stability selection: the whole selection ran on {stability['n_resamples']} "
                f"resamples of the rows ({stability['resample']}); the channels kept in at least "
                f"{100 * stability['keep_frequency']:g} % of them are selected.")
    text = f"Stopped after {len(rounds)} round{'s' * (len(rounds) != 1)}: "
    text += STOP_WORDS.get(reason, reason)
    if reason == "accuracy_guard" and len(rounds) >= 2:
        last, before = rounds[-1], rounds[-2]
        back = restorable_names(before)
        guard = last.get("guard") or {}
        evidence = (f"its validation rows' Brier score rose by {guard['mean_rise']:.4f} per row "
                    f"against round {guard['compared_with']} ({guard['rows_worth']:.1f} rows' "
                    f"worth over {guard['rows']} rows, paired t {guard['t']:.2f}, p "
                    f"{guard['p']:.2g})") if guard else "its validation rows predicted worse"
        if guard.get("control"):
            control = guard["control"]
            evidence += (f", and round {guard['compared_with']}'s channels retrained under this "
                         f"round's seeds did better by {control['mean_rise']:.4f} per row "
                         f"(p {control['p']:.2g})")
        text += (f" in round {last['index']}: {evidence}, so the {len(back)} channel(s) round "
                 f"{before['index']} dropped without confidence came back ({', '.join(back)})")
    if report.get("cut"):
        text += (f"; the last cut kept the {len(report['selected'])} best-ranked channels "
                 f"(n_features_to_select) and set aside {', '.join(report['cut'])}")
    return text + "."
