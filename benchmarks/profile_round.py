"""Where the time of one pruning round goes, on breast_cancer and on MNIST-5000.

One round (round 1, the default settings, every channel and its shadows) is run under cProfile;
its time is split into the phases of a round by the cumulative time of the functions that do
them:

- data: the kept columns and the shadow channels (``SplitData.columns``, ``make_shadows``);
- training steps: forward, backward and optimizer step of every mini-batch or full batch;
- evaluation: the recorded validation (and training) metrics;
- R²: the reconstruction of every channel on the validation rows;
- importance + shared R²: the batched ablation pass over channels and replicas;
- decision: the shadow test and the round's fates;
- the rest: Python between them (model construction, bookkeeping).

    python benchmarks/profile_round.py [--threads 1]

Writes benchmarks/results/profile_round.md.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import sys
import time
from pathlib import Path

import bench_data
import numpy as np
import pandas as pd
import torch

from pipeline.data.dataset import load_dataset
from pipeline.data.split import split_dataset
from pipeline.rounds.fate import decide_round
from pipeline.rounds.trials import train_trials
from pipeline.settings import SelectionSettings
from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "profile_round.md"
# phase -> functions (file suffix, function name) whose cumulative time it is
PHASES = {
    "data (kept columns, shadows)": [("pipeline/data/split.py", "columns"),
                                      ("pipeline/rounds/shadows.py", "make_shadows")],
    "training steps": [("vaec/fused.py", "__call__"), ("vaec/training.py", "__call__")],
    "evaluation (recorded metrics)": [("vaec/history.py", "_evaluate")],
    "R² of every channel": [("pipeline/rounds/scores.py", "channel_r2")],
    "importance + shared R² (ablation pass)": [("pipeline/rounds/scores.py", "ablation_channel_scores")],
    "decision (shadow test, fates)": [("pipeline/rounds/fate.py", "decide_round")],
}


def load(name: str) -> pd.DataFrame:
    X, y, _ = bench_data.load(name)
    frame = X.copy()
    frame["__target"] = y
    return frame


def profile_round(name: str) -> tuple[float, dict[str, float], dict[str, object]]:
    """Seconds of round 1 and of its phases."""
    dataset = load_dataset(load(name), "__target")
    config = SelectionSettings(test_size=0.0)
    split = split_dataset(dataset, val_size=config.val_size, test_size=0.0, seed=config.seed)
    # one round first, unmeasured: torch's one-time start-up is not a round's cost
    train_trials(split, split.feature_names, config, round_index=0)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    scores = train_trials(split, split.feature_names, config, round_index=1)
    record = decide_round(1, scores, config, None)
    profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    phases = {}
    for phase, functions in PHASES.items():
        phases[phase] = sum(ct for (file, _, func), (_, _, _, ct, _) in stats.items()
                            if any(file.endswith(f) and func == n for f, n in functions))
    phases["the rest (model construction, Python between the phases)"] = max(
        0.0, total - sum(phases.values()))
    shape = {"rows": len(split.X_train) + len(split.X_val), "channels": len(split.feature_names),
             "shadows": len(scores.shadow_sources), "trials": len(scores.trials),
             "rejected": len(record.rejected), "dropped": len(record.dropped)}
    return total, phases, shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--datasets", default="breast_cancer,mnist")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = ["# Where one pruning round's time goes", "",
             f"`python benchmarks/profile_round.py --threads {args.threads}` on "
             f"{platform.machine()}, torch {torch.__version__}, {args.threads} torch thread(s), "
             f"{time.strftime('%Y-%m-%d')}. Round 1 with the default settings, under cProfile "
             "(which adds some overhead of its own to every Python call).", ""]
    for name in args.datasets.split(","):
        total, phases, shape = profile_round(name)
        lines += [f"## {name}", "",
                  f"{shape['rows']} rows x {shape['channels']} channels + {shape['shadows']} "
                  f"shadows, {shape['trials']} trials; the round rejected {shape['rejected']} "
                  f"and dropped {shape['dropped']} channels; **{total:.2f} s**.", "",
                  "| phase | seconds | share |", "|---|---:|---:|"]
        for phase, seconds in phases.items():
            lines.append(f"| {phase} | {seconds:.2f} | {seconds / total:.0%} |")
        lines.append("")
        print("\n".join(lines[-len(phases) - 5:]), flush=True)
    atomic_write_text(RESULTS, "\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
