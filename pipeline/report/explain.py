"""The words of a report: how to read it, and why the loop stopped.

Both report.md and report.html print these, so a run is explained the same way in both.
"""

from __future__ import annotations

from typing import Any

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
    ("Two scores per channel", "the shared R² says how much of a channel the network rebuilds "
     "from the other channels (its own input held at its mean): redundant, structured channels "
     "score high. The importance says how much the classifier head's loss rises without the "
     "channel: relevant channels score high. The charts draw each channel's scores over the "
     "trials as a box, the shadows' middle 90 % as a grey band, and the passing bar as a dashed "
     "line. The charts give the importance in nats per row; the tables give it on the test's "
     "scale, the signed square root of that (√nats), where the trials' spread is closer to "
     "normal."),
    ("Fates", "a channel passes when either score beats the shadows (a t test against them, "
     "false-discovery rate controlled over the channels). It is rejected - dropped at once - "
     "when both scores are at or under the shadows' average. Otherwise it is uncertain: at "
     "most a fraction of the channels (the drop cap) leaves per round, worst first; uncertain "
     "channels the cap spares are marked 'spared' and are looked at again next round."),
    ("Stops", "the loop ends when every channel left passes, at n_features_to_select, at "
     "min_features, or when the accuracy guard sees the validation score fall by more than "
     "its tolerance after uncertain drops (those come back)."),
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
        best = max(r["val_score"] for r in rounds[:-1])
        back = [c for c in before["dropped"] if c not in set(before.get("rejected", []))]
        text += (f" in round {last['index']}: the validation score fell to "
                 f"{last['val_score']:.3f}, more than the tolerance under the best round's "
                 f"{best:.3f}, so the {len(back)} channel(s) round {before['index']} dropped "
                 f"without confidence came back ({', '.join(back)})")
    if report.get("cut"):
        text += (f"; the last cut kept the {len(report['selected'])} best-ranked channels "
                 f"(n_features_to_select) and set aside {', '.join(report['cut'])}")
    return text + "."
