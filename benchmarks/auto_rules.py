"""Rules that choose the minimal subset from the count curve, compared on the same curves.

Every table is selected once per seed with ``n_features_to_select="auto"`` (no final model);
the points of its minimal-subset path (count, out-of-fold loss per row, its standard error, the
channels) are kept, and each rule below picks a count from the same points. Each chosen subset is
scored downstream as in ``selection_quality.py`` (logistic / ridge, and a random forest on the
tables that are not scikit-learn's).

* ``walk from the best`` (the selector's rule, :func:`pipeline.rounds.record.minimal_round`):
  from the lowest loss down, while the loss stays within the best's plus its standard error;
* ``smallest from the best``: the smallest count anywhere within that limit;
* ``walk from the first``: as the first, with the path's first point (the all-relevant set) as
  the reference instead of the lowest, which is the lowest of many noisy losses (biased low);
* ``smallest from the first``: the smallest count within the first point's limit.

    python benchmarks/auto_rules.py [--datasets breast_cancer,hitters] [--seeds 0,1,2]

Writes benchmarks/results/auto_rules.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

import provenance
from selection_quality import REGRESSION, Evaluation

RESULTS = Path(__file__).parent / "results"
DATASETS = ("breast_cancer", "permeability_qsar", "meats", "ad_data", "cells", "hitters")
Point = dict[str, Any]


def _walk(points: list[Point], reference: Point) -> Point:
    limit, chosen = reference["loss"] + reference["se"], reference
    for point in sorted((p for p in points if p["n"] < reference["n"]), key=lambda p: -p["n"]):
        if point["loss"] > limit:
            break
        chosen = point
    return chosen


def _smallest(points: list[Point], reference: Point) -> Point:
    limit = reference["loss"] + reference["se"]
    return min((p for p in points if p["loss"] <= limit and p["n"] <= reference["n"]), key=lambda p: p["n"])


def _best(points: list[Point]) -> Point:
    return min(points, key=lambda p: (p["loss"], p["n"]))


def _first(points: list[Point]) -> Point:
    return max(points, key=lambda p: p["n"])


RULES: dict[str, Callable[[list[Point]], Point]] = {
    "walk from the best (the selector's)": lambda pts: _walk(pts, _best(pts)),
    "smallest from the best": lambda pts: _smallest(pts, _best(pts)),
    "walk from the first": lambda pts: _walk(pts, _first(pts)),
    "smallest from the first": lambda pts: _smallest(pts, _first(pts)),
}


def path_of(name: str, seed: int) -> dict[str, Any]:
    """One auto selection's path points (supports over the data set's columns)."""
    from pipeline.rounds.record import path_points
    from pipeline.selector import VAECSelector

    torch.set_num_threads(1)
    evaluation = Evaluation(name, repeats=1)
    task = {"task": REGRESSION} if evaluation.task == REGRESSION else {}
    selector = VAECSelector(n_features_to_select="auto", random_state=seed, fit_final_model=False,
                            n_jobs=1, **task)
    selector.fit(evaluation.selector_input, evaluation.y[evaluation.train])
    columns = list(evaluation.selector_input.columns)
    points = []
    for point in path_points(selector.rounds_):
        kept = next(r for r in selector.rounds_ if r.index == point.round).kept
        points.append({"n": point.n_features, "loss": point.mean_loss, "se": point.std_error,
                       "support": np.isin(columns, kept)})
    support = np.asarray(selector.get_support(), dtype=bool)
    if points and selector.stop_reason_ == "auto":  # the first rule is the selector's own, rewritten
        rule = next(iter(RULES.values()))
        if not np.array_equal(rule(points)["support"], support):
            raise RuntimeError(f"{name} seed {seed}: the selector's rule and its copy here disagree")
    return {"name": name, "seed": seed, "stop": selector.stop_reason_, "support": support,
            "points": points}


def _job(args: tuple[str, int]) -> dict[str, Any]:
    return path_of(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--processes", type=int, default=2, help="selections run at once (2)")
    args = parser.parse_args(argv)
    names, seeds = args.datasets.split(","), [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    jobs = [(name, seed) for name in names for seed in seeds]
    with multiprocessing.get_context("spawn").Pool(args.processes, maxtasksperchild=1) as pool:
        paths = pool.map(_job, jobs, chunksize=1)
    with open(Path(tempfile.gettempdir()) / "auto_rules_paths.pkl", "wb") as cache:
        pickle.dump(paths, cache)  # the selections, should the scoring fail
    lines = ["# Choosing the minimal subset from the count curve", "",
             f"Selector at commit {provenance.selector_commit()}; "
             f"`python benchmarks/auto_rules.py --datasets {args.datasets} --seeds {args.seeds}` on "
             f"{provenance.machine()}, torch {torch.__version__}, one torch thread per selection, "
             f"{time.strftime('%Y-%m-%d')}. Downstream: repeated 10-fold CV (3 repeats; regression: "
             "repeated 5-fold R²) on the chosen columns, the selection fitted on the whole table. "
             "Cells: kept columns, then the downstream scores (logistic or ridge / forest).", ""]
    for name in names:
        evaluation = Evaluation(name, repeats=3)
        everything = evaluation.downstream(np.ones(len(evaluation.names), dtype=bool))
        scored: dict[bytes, dict[str, float]] = {}
        lines += [f"## {name}", "", "all columns: " + str(len(evaluation.names)) + ", " + ", ".join(
            f"{k} {v:.4f}" for k, v in everything.items() if isinstance(v, float)), "",
            "| seed | " + " | ".join(RULES) + " |", "|---|" + "---|" * len(RULES)]
        for path in (p for p in paths if p["name"] == name):
            cells = []
            for rule in RULES.values():
                # no path when the rounds stopped before it (the accuracy guard): the selection
                point = (rule(path["points"]) if path["points"] else
                         {"n": f"{int(path['support'].sum())} (stop {path['stop']})",
                          "support": path["support"]})
                key = point["support"].tobytes()
                if key not in scored:
                    scored[key] = evaluation.downstream(point["support"])
                values = [v for v in scored[key].values() if isinstance(v, float)]
                cells.append(f"{point['n']}: " + " / ".join(f"{v:.3f}" for v in values))
            lines.append(f"| {path['seed']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"Whole run {(time.perf_counter() - start) / 60:.1f} min.")
    return provenance.publish(RESULTS / "auto_rules.md", lines)


if __name__ == "__main__":
    sys.exit(main())
