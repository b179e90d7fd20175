"""A second look at the dropped channels, tried from outside the selector before it is built in.

benchmarks/shadow_width.py shows a relevant channel with no linear effect is lost in the wide
first rounds (many null channels and their shadows) and found when the table is narrow. This
tries the remedy with the selector's public API on benchmarks/fdr.py's tables:

1. the default selection (``VAECSelector`` with ``random_state=seed``, no final model);
2. the dropped channels, in a seeded order, in chunks of as many channels as were kept (at least
   :data:`MIN_CHUNK`): each chunk is selected again together with the kept channels, and the
   chunk's channels that pass come back;
3. when any came back, a confirming selection on the kept channels and those: its kept channels
   are the answer (a channel that passed beside the kept ones must pass with all of them).

Per shape: recall (relevant channels and their copies) and mean false-discovery proportion
before and after, the tables where the nonlinear channel is kept, and the seconds of the whole
procedure against the first selection's.

    python benchmarks/second_look.py [--shapes a,b] [--seeds 20] [--out second_look]

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
import pandas as pd
import provenance
import torch
from threadpoolctl import threadpool_limits

from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"
MIN_CHUNK = 5
DEFAULT_SHAPES = ("correlated_null_pairs", "null_clusters", "relevant_clusters", "correlated_null_pairs_200")


def _select(X: pd.DataFrame, y: np.ndarray, columns: list[str], seed: int) -> list[str]:
    from pipeline.selector import VAECSelector

    selector = VAECSelector(random_state=seed, n_jobs=1, fit_final_model=False).fit(X[columns], y)
    return [c for c, keep in zip(columns, selector.get_support(), strict=True) if keep]


def second_look(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[list[str], list[str], float, float]:
    """The first selection, the selection after the second look, and the seconds of each."""
    start = time.perf_counter()
    kept = _select(X, y, list(X.columns), seed)
    first_seconds = time.perf_counter() - start
    dropped = [c for c in X.columns if c not in set(kept)]
    np.random.default_rng(seed).shuffle(dropped)
    size = max(len(kept), MIN_CHUNK)
    back: list[str] = []
    for i in range(0, len(dropped), size):
        chunk = dropped[i:i + size]
        back += [c for c in _select(X, y, kept + chunk, seed + 1 + i) if c in set(chunk)]
    final = _select(X, y, kept + back, seed + 999) if back else kept
    return kept, final, first_seconds, time.perf_counter() - start


def _scores(kept: list[str], truth: dict[str, list[str]]) -> tuple[float, float, bool]:
    relevant = set(truth["relevant"]) | set(truth["copies"])
    chosen = set(kept)
    fdp = len(chosen & set(truth["null"])) / len(chosen) if chosen else 0.0
    return len(chosen & relevant) / len(relevant), fdp, truth["nonlinear"][0] in chosen


def run_shape(shape: str, seeds: int) -> dict[str, Any]:
    records = []
    for seed in range(seeds):
        table = fdr.SHAPES[shape](seed)
        kept, final, first_seconds, seconds = second_look(table.X, table.y, seed)
        (r0, f0, n0), (r1, f1, n1) = _scores(kept, table.truth), _scores(final, table.truth)
        records.append({"seed": seed, "recall_before": r0, "fdp_before": f0, "nonlinear_before": n0,
                        "recall_after": r1, "fdp_after": f1, "nonlinear_after": n1,
                        "kept_before": len(kept), "kept_after": len(final),
                        "seconds_before": round(first_seconds, 2), "seconds_after": round(seconds, 2)})
        print(f"[{shape} seed {seed}] {records[-1]}", flush=True)

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in records]))

    def se(key: str) -> float:
        return float(np.std([r[key] for r in records], ddof=1) / np.sqrt(len(records)))

    summary = {k: mean(k) for k in records[0] if k != "seed"}
    summary |= {"fdp_before_se": se("fdp_before"), "fdp_after_se": se("fdp_after"), "tables": len(records)}
    return {"summary": summary, "records": records}


def to_markdown(payload: dict[str, Any]) -> str:
    meta = payload["meta"]
    lines = ["# A second look at the dropped channels", "",
             f"Selector at commit {meta['commit']}; {meta['machine']}; torch {meta['torch']}; "
             f"{meta['when']}; whole run {meta['total_seconds'] / 60:.1f} min. `{meta['command']}`. "
             "Before: the default selection; after: with the second look (module docstring). "
             "Nominal FDR 0.05.", "",
             "| shape | recall before | recall after | FDP before ± se | FDP after ± se | nonlinear "
             "channel kept, before / after | kept before / after | seconds before / after |",
             "|---|---|---|---|---|---|---|---|"]
    for shape, result in payload["shapes"].items():
        s = result["summary"]
        n = s["tables"]
        lines.append(
            f"| {shape} | {s['recall_before']:.3f} | {s['recall_after']:.3f} | {s['fdp_before']:.3f} ± "
            f"{s['fdp_before_se']:.3f} | {s['fdp_after']:.3f} ± {s['fdp_after_se']:.3f} | "
            f"{round(s['nonlinear_before'] * n)} / {round(s['nonlinear_after'] * n)} of {n} | "
            f"{s['kept_before']:.1f} / {s['kept_after']:.1f} | {s['seconds_before']:.1f} / "
            f"{s['seconds_after']:.1f} |")
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(DEFAULT_SHAPES), help="comma-separated fdr.py shapes")
    parser.add_argument("--seeds", type=int, default=20, help="tables per shape, seeds 0..N-1 (20)")
    parser.add_argument("--out", default="second_look", help="file stem under benchmarks/results/")
    args = parser.parse_args(argv)
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in fdr.SHAPES]
    if unknown:
        raise SystemExit(f"unknown shapes: {', '.join(unknown)}")
    torch.set_num_threads(1)
    start = time.perf_counter()
    with threadpool_limits(1):
        results = {shape: run_shape(shape, args.seeds) for shape in shapes}
    meta = {"commit": provenance.selector_commit(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 torch / BLAS thread",
            "torch": torch.__version__, "when": time.strftime("%Y-%m-%d"),
            "total_seconds": round(time.perf_counter() - start, 1),
            "command": f"python benchmarks/second_look.py --shapes {args.shapes} --seeds {args.seeds} "
                       f"--out {args.out}"}
    payload = {"meta": meta, "shapes": results}
    atomic_write_text(RESULTS / f"{args.out}.json", json.dumps(payload, indent=2))
    atomic_write_text(RESULTS / f"{args.out}.md", to_markdown(payload))
    print(to_markdown(payload))


if __name__ == "__main__":
    main()
