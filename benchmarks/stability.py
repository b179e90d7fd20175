"""Stability of the selection: how alike ten seeds' selections are, per method and data set.

Protocol, the same for every method. For seed s = 0..9 a method sees one stratified half of the
rows (half of every class, drawn without replacement with seed s:
``pipeline.stability.half_subsample``) and runs with random_state s; nothing else differs
between seeds. Over the ten selections of a method:

- the Nogueira stability index with its 95 % interval (Nogueira, Sechidis & Brown, JMLR 2018;
  undefined when every selection is every column: there is nothing to disagree on), and the
  two-sided p-value of their test that its population stability equals that of
  VAECSelector(n_resamples=10);
- mean and smallest pairwise Jaccard, how many columns were kept;
- on madelon (shuffled; 5 informative + 5 redundant of 50 columns): recall of the 10 relevant
  columns (mean and worst seed) and the noise columns kept.

Methods: VAECSelector with its defaults (no resampling); VAECSelector(n_resamples=10), a
stability selection (keep_frequency 0.6, each resample half of the seed's half); Boruta
(benchmarks/peers.py, random_state s); RFECV with a 100-tree random forest (5-fold stratified
CV, one column per step, random_state s). One torch / BLAS thread, methods one after the other.

    python benchmarks/stability.py [--datasets breast_cancer,wine,madelon] [--seeds 10]
        [--resamples 10]

Writes benchmarks/results/stability.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_data
import numpy as np
import pandas as pd
import peers
import torch
from peers import Selection
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from pipeline.report.writer import jsonable
from pipeline.selection import half_subsample
from pipeline.selector import VAECSelector
from pipeline.stability.measures import nogueira_interval, nogueira_variance, pairwise_jaccard
from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"
DATASETS = ("breast_cancer", "wine", "madelon")
REFERENCE = "vaec_resampled"
WITHIN = "within-run index "


def vaec(n_resamples: int, k: int | str | None = None
         ) -> Callable[[pd.DataFrame, np.ndarray, int], Selection]:
    """VAECSelector with its defaults, ``n_resamples`` resamples, random_state ``seed`` (and
    ``n_features_to_select=k``)."""

    def select(X: pd.DataFrame, y: np.ndarray, seed: int) -> Selection:
        selector = VAECSelector(random_state=seed, n_resamples=n_resamples, fit_final_model=False,
                                n_jobs=1, n_features_to_select=k)
        start = time.perf_counter()
        selector.fit(X, y)
        seconds = time.perf_counter() - start
        note = ""
        if selector.stability_ is not None:  # the index over its own resamples
            note = f"{WITHIN}{selector.stability_.nogueira!r}"
        return Selection(selector.get_support(), seconds, note)

    return select


def method_table(resamples: int) -> dict[str, tuple[str, Callable[..., Selection]]]:
    """Key -> (label, ``select(X, y, seed)``)."""
    return {
        "vaec": ("VAECSelector", vaec(1)),
        "vaec_auto": ("VAECSelector(auto)", vaec(1, "auto")),
        REFERENCE: (f"VAECSelector(n_resamples={resamples})", vaec(resamples)),
        "boruta": ("Boruta", lambda X, y, seed: peers.boruta(X, y, seed=seed)),
        "rfecv_forest": ("RFECV(random forest)", lambda X, y, seed: peers.rfecv_forest(X, y, seed=seed)),
    }


def summarise(supports: np.ndarray, names: np.ndarray, truth: dict[str, list[str]] | None
              ) -> dict[str, Any]:
    """The stability measures of a method's selections (a row per seed) and, with a truth, how
    well they found the relevant columns."""
    estimate, low, high = nogueira_interval(supports)
    jaccard_mean, jaccard_min = pairwise_jaccard(supports)
    kept = supports.sum(axis=1)
    out: dict[str, Any] = {
        "nogueira": estimate, "nogueira_low": low, "nogueira_high": high,
        "nogueira_variance": nogueira_variance(supports),
        "jaccard_mean": jaccard_mean, "jaccard_min": jaccard_min,
        "kept_mean": float(kept.mean()), "kept_min": int(kept.min()), "kept_max": int(kept.max()),
    }
    if truth:
        relevant = set(truth["relevant"])
        chosen = [set(names[row.astype(bool)]) for row in supports]
        recall = [len(c & relevant) / len(relevant) for c in chosen]
        out.update(recall_mean=float(np.mean(recall)), recall_min=float(np.min(recall)),
                   noise_kept_mean=float(np.mean([len(c & set(truth["noise"])) for c in chosen])))
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Two-sided p-value of Nogueira et al.'s test that two population stabilities are equal."""
    if any(np.isnan(x) for x in (a["nogueira"], b["nogueira"])):
        return None
    spread = np.sqrt(a["nogueira_variance"] + b["nogueira_variance"])
    if spread == 0:
        return 1.0 if a["nogueira"] == b["nogueira"] else 0.0
    return float(2 * norm.sf(abs(a["nogueira"] - b["nogueira"]) / spread))


def evaluate(name: str, methods: dict[str, tuple[str, Callable[..., Selection]]], seeds: int
             ) -> dict[str, Any]:
    """Every method on ``seeds`` halves of data set ``name``."""
    X, y, truth = bench_data.load(name)
    names = np.array([str(c) for c in X.columns])
    halves = [half_subsample(y, np.random.default_rng(seed)) for seed in range(seeds)]
    results: dict[str, Any] = {}
    for key, (label, select) in methods.items():
        supports, seconds, notes = [], [], []
        for seed, rows in enumerate(halves):
            selection = select(X.iloc[rows].reset_index(drop=True), y[rows], seed)
            supports.append(np.asarray(selection.support, dtype=int))
            seconds.append(selection.seconds)
            notes.append(selection.note)
            print(f"[{name}] {label} seed {seed}: kept {int(supports[-1].sum())} in "
                  f"{selection.seconds:.1f} s", flush=True)
        Z = np.array(supports)
        results[key] = {"label": label, **summarise(Z, names, truth),
                        "seconds_mean": float(np.mean(seconds)),
                        "selections": [names[row.astype(bool)].tolist() for row in Z],
                        "notes": notes,
                        "within_run_nogueira": [float(n.removeprefix(WITHIN)) for n in notes
                                                if n.startswith(WITHIN)] or None}
    for key, row in results.items():
        row["p_vs_resampled"] = (None if key == REFERENCE or REFERENCE not in results
                                 else compare(row, results[REFERENCE]))
    return {"info": {"n_rows": len(y), "half_rows": len(halves[0]), "n_features": len(names),
                     "truth": {k: len(v) for k, v in (truth or {}).items()}},
            "methods": results}


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "undefined"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def to_markdown(payload: dict[str, Any]) -> str:
    """The report: one table per data set, then which method was the most stable where."""
    meta = payload["meta"]
    lines = [
        "# Stability of the selection", "",
        f"{meta['machine']}; torch {meta['torch']}; {meta['when']}; whole run "
        f"{meta['total_seconds'] / 60:.1f} min.", "",
        f"Protocol: for each of {meta['seeds']} seeds every method sees the same stratified half "
        "of the rows (half of every class, drawn with that seed) and runs with that seed as its "
        "random_state. The Nogueira index (95 % interval) and pairwise Jaccard are over the "
        f"{meta['seeds']} selections; `p vs resampled`: two-sided test that the method's "
        "population stability equals the resampled VAECSelector's (Nogueira et al. 2018). "
        "`within-run index`: the resampled selector's index over its own resamples, mean over "
        "the seeds. VAECSelector at its defaults (300 epochs). madelon: recall of the 10 "
        "relevant columns, mean and worst seed.", "",
    ]
    for name, result in payload["datasets"].items():
        info, rows = result["info"], result["methods"]
        truth = "" if not info["truth"] else (
            "; truth: " + ", ".join(f"{n} {k}" for k, n in info["truth"].items()))
        lines += [f"## {name}", "",
                  f"{info['n_rows']} rows x {info['n_features']} columns; each seed selects on "
                  f"{info['half_rows']} rows{truth}.", ""]
        header = ["method", "Nogueira index", "95 % interval", "p vs resampled", "Jaccard mean",
                  "Jaccard min", "kept (mean, range)"]
        madelon = any("recall_mean" in r for r in rows.values())
        if madelon:
            header += ["recall mean", "recall min", "noise kept (mean)"]
        header += ["seconds per fit", "within-run index"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows.values():
            within = row["within_run_nogueira"]
            cells = [row["label"], _f(row["nogueira"], 3),
                     "" if np.isnan(row["nogueira"]) else
                     f"{_f(row['nogueira_low'], 3)} to {_f(row['nogueira_high'], 3)}",
                     "" if row["p_vs_resampled"] is None else _f(row["p_vs_resampled"], 3),
                     _f(row["jaccard_mean"]), _f(row["jaccard_min"]),
                     f"{row['kept_mean']:.1f} ({row['kept_min']}-{row['kept_max']})"]
            if madelon:
                cells += [_f(row["recall_mean"]), _f(row["recall_min"]), _f(row["noise_kept_mean"], 1)]
            cells += [f"{row['seconds_mean']:.1f}",
                      "" if not within else _f(float(np.nanmean(within)), 3)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        undefined = [r["label"] for r in rows.values() if np.isnan(r["nogueira"])]
        if undefined:
            lines += [f"Undefined index: {', '.join(undefined)} kept every column on every seed "
                      "(Jaccard 1.00), so there was no selection to be unstable about.", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated subset of {','.join(DATASETS)}")
    parser.add_argument("--seeds", type=int, default=10, help="seeds, each its own half (10)")
    parser.add_argument("--resamples", type=int, default=10,
                        help="n_resamples of the resampled VAECSelector (10)")
    parser.add_argument("--output", default="stability", help="file stem under benchmarks/results/")
    parser.add_argument("--methods", help="comma-separated subset of vaec, vaec_auto, "
                        f"{REFERENCE}, boruta, rfecv_forest (all but vaec_auto)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in datasets if d not in bench_data.DATASETS]
    if unknown:
        raise SystemExit(f"unknown data sets: {', '.join(unknown)}")
    methods = method_table(args.resamples)
    chosen = [m.strip() for m in (args.methods or "").split(",") if m.strip()] or [
        m for m in methods if m != "vaec_auto"]
    methods = {k: v for k, v in methods.items() if k in chosen}
    start = time.perf_counter()
    with threadpool_limits(1):
        results = {name: evaluate(name, methods, args.seeds) for name in datasets}
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 torch / BLAS thread",
        "torch": torch.__version__, "when": time.strftime("%Y-%m-%d"), "seeds": args.seeds,
        "resamples": args.resamples, "total_seconds": round(time.perf_counter() - start, 1),
    }
    payload = {"meta": meta, "datasets": results}
    atomic_write_text(RESULTS / f"{args.output}.json", json.dumps(jsonable(payload), indent=2))
    text = to_markdown(payload)
    atomic_write_text(RESULTS / f"{args.output}.md", text)
    print(text)


if __name__ == "__main__":
    main()
