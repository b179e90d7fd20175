"""Why a relevant channel with no linear effect is missed among correlated nulls: the round's width.

On benchmarks/fdr.py's ``null_clusters`` tables (600 rows; 5 relevant channels, 2 copies, 6 null
clusters of 3-5 channels and 10 lone nulls) the default selector's recall is below 0.95, and the
channel it misses is nearly always the same one: the relevant channel that enters the target only
through a product with another relevant channel and through ``|x|`` (``truth["nonlinear"]``). Its
importance to the head is near zero in the round that drops it: the models did not learn it.

This runs the same seeded tables four ways, each changing one thing, and counts the tables where
that channel is kept:

- ``default``: VAECSelector's defaults;
- ``without the correlated nulls``: the same table with its clustered null columns removed (the
  lone nulls stay);
- ``cluster_threshold=None``: every channel tested alone, so no shadow clusters are built;
- ``cluster_threshold=None, 145 lone shadows``: as wide an input as the default's round 1 (45
  channels, 45 lone shadows and about 100 columns of shadow clusters), but of lone shadows only.

Per way: the tables where the nonlinear channel is kept, recall of the relevant channels and their
copies, the mean false-discovery proportion, and round 1's shadows (lone shadow channels and shadow
clusters). One torch / BLAS thread, the fits one after the other in this process.

    python benchmarks/shadow_width.py [--seeds 20] [--out shadow_width]

Writes benchmarks/results/<out>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import fdr
import numpy as np
import provenance
import torch
from threadpoolctl import threadpool_limits

from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"
WAYS: dict[str, tuple[bool, dict[str, Any]]] = {  # label: (drop the correlated nulls, settings)
    "default": (False, {}),
    "without the correlated nulls": (True, {}),
    "cluster_threshold=None": (False, {"cluster_threshold": None}),
    "cluster_threshold=None, 145 lone shadows": (
        False, {"cluster_threshold": None, "min_shadows": 145, "max_shadows": 145}),
}


def one_fit(table: fdr.Table, seed: int, drop_correlated: bool, settings: dict[str, Any]) -> dict[str, Any]:
    """One seeded fit of one way: what it kept of the truth, and round 1's shadows."""
    from pipeline.selector import VAECSelector

    columns = [c for c in table.X.columns if not (drop_correlated and c in table.truth["correlated_null"])]
    start = time.perf_counter()
    selector = VAECSelector(random_state=seed, n_jobs=1, fit_final_model=False, **settings)
    selector.fit(table.X[columns], table.y)
    seconds = time.perf_counter() - start
    kept = {c for c, keep in zip(columns, selector.get_support(), strict=True) if keep}
    relevant = set(table.truth["relevant"]) | set(table.truth["copies"])
    shadow = selector.rounds_[0].shadow
    return {"seed": seed, "nonlinear_kept": table.truth["nonlinear"][0] in kept,
            "recall": len(kept & relevant) / len(relevant),
            "fdp": len(kept & set(table.truth["null"])) / len(kept) if kept else 0.0,
            "lone_shadows": int(shadow["importance"]["n"]),
            "shadow_clusters": int(sum(b["n"] for b in shadow.get("cluster_importance", []))),
            "seconds": round(seconds, 2)}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    fdp = np.array([r["fdp"] for r in records])
    return {"tables": len(records), "nonlinear_kept": int(sum(r["nonlinear_kept"] for r in records)),
            "recall": float(np.mean([r["recall"] for r in records])),
            "fdp_mean": float(fdp.mean()), "fdp_se": float(fdp.std(ddof=1) / np.sqrt(len(fdp))),
            "lone_shadows": float(np.mean([r["lone_shadows"] for r in records])),
            "shadow_clusters": float(np.mean([r["shadow_clusters"] for r in records])),
            "seconds": float(np.mean([r["seconds"] for r in records]))}


def to_markdown(payload: dict[str, Any]) -> str:
    meta = payload["meta"]
    lines = ["# The nonlinear relevant channel among correlated nulls", "",
             f"Selector at commit {meta['commit']}; {meta['machine']}; torch {meta['torch']}; "
             f"{meta['when']}; "
             f"whole run {meta['total_seconds'] / 60:.1f} min. `{meta['command']}`. "
             f"Tables: `null_clusters` seeds 0-{meta['seeds'] - 1}.", "",
             "| way | nonlinear channel kept | recall | FDP mean ± se | round 1: lone shadows | "
             "round 1: shadow clusters | seconds |", "|---|---|---|---|---|---|---|"]
    for label, s in payload["ways"].items():
        lines.append(f"| {label} | {s['nonlinear_kept']} of {s['tables']} | {s['recall']:.3f} | "
                     f"{s['fdp_mean']:.3f} ± {s['fdp_se']:.3f} | {s['lone_shadows']:.0f} | "
                     f"{s['shadow_clusters']:.0f} | {s['seconds']:.1f} |")
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="tables, seeds 0..N-1 (20)")
    parser.add_argument("--out", default="shadow_width", help="file stem under benchmarks/results/")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    records: dict[str, list[dict[str, Any]]] = {label: [] for label in WAYS}
    with threadpool_limits(1):
        for seed in range(args.seeds):
            table = fdr.SHAPES["null_clusters"](seed)
            for label, (drop, settings) in WAYS.items():
                records[label].append(one_fit(table, seed, drop, settings))
                print(f"[seed {seed}] {label}: {records[label][-1]}", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, 1 torch / BLAS thread"
    meta = {"commit": provenance.selector_commit(), "machine": machine,
            "torch": torch.__version__, "when": time.strftime("%Y-%m-%d"), "seeds": args.seeds,
            "total_seconds": round(time.perf_counter() - start, 1),
            "command": f"python benchmarks/shadow_width.py --seeds {args.seeds} --out {args.out}"}
    payload = {"meta": meta, "ways": {k: summarise(v) for k, v in records.items()}, "records": records}
    atomic_write_text(RESULTS / f"{args.out}.json", json.dumps(payload, indent=2))
    atomic_write_text(RESULTS / f"{args.out}.md", to_markdown(payload))
    print(to_markdown(payload))


if __name__ == "__main__":
    main()
