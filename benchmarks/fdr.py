"""FDR calibration with correlated nulls: how many null channels each selector keeps.

The shadow test compares a channel with permuted copies of the channels, which are independent
of everything. A null channel that is correlated with another null channel is not like its
shadow in that respect, and a selector can be fooled by such a pair or cluster (two nulls that
explain each other reconstruct well and can look useful to the head together). These seeded
tables have a known truth to measure that:

- *relevant* channels, independent standard normals, that drive the target;
- *redundant copies* of relevant channels, ``x + sigma * noise`` with sigma drawn in 0.5-1;
  they count as relevant, since the selector promises all-relevant selection;
- *null* channels, independent of the target and of every relevant channel; some of them come
  in correlated pairs or clusters (``z_j = z_i + 0.7 * noise``), the rest alone.

The target is a binary class drawn from a logistic model of the relevant channels: linear terms,
one product of two relevant channels and one ``|x|`` term, strong enough that a good selector
finds every relevant channel at 600 rows. Nothing is standardised; the columns are shuffled with
the seed and named ``f0..fN``, so neither name nor position gives the truth away. Every table
is a function of its shape and seed alone.

Shapes (:data:`SHAPES`): ``correlated_null_pairs`` (600 rows; 4 relevant + 2 copies, 30 nulls in
15 pairs), ``null_clusters`` (600 rows; 5 relevant + 2 copies, 6 null clusters of 3-5 + 10 lone
nulls), ``relevant_clusters`` (600 rows; 4 relevant with 1-3 copies each, 5 null pairs + 10 lone
nulls) and two of them at other sizes: ``correlated_null_pairs_200`` and
``relevant_clusters_2000``.

Methods (:data:`METHODS`), each fitted in a fresh child process with one torch / BLAS thread:

- ``vaec``: VAECSelector with its defaults (``random_state=seed``, no final model);
- ``vaec_second_look``: the same with ``second_look=True``;
- ``knockoffs_lasso`` and ``knockoffs_rf``: model-X knockoffs (knockpy ``KnockoffFilter``,
  Gaussian knockoffs of the standardised columns; the cross-validated L1-logistic coefficient
  difference, or a 100-tree random forest's swap importance) at FDR 0.05. Knockoff+ (offset 1)
  is the FDR-controlled reference; it cannot select fewer than 1/0.05 = 20 channels, so on these
  tables it mostly selects nothing, and the same statistics are also thresholded with offset 0
  (controls the modified FDR), reported as a second row of the same fit;
- ``boruta``: BorutaPy as in benchmarks/peers.py (confirmed channels, ``random_state=seed``);
- ``cfi``: hidimstat's conditional feature importance, ``CFICV`` (the cross-validated form of
  ``CFI``: a 100-tree random forest per fold of a 5-fold stratified split, log-loss, conditional
  sampling by ridge imputation, Nadeau-Bengio t-test over the folds), selection by
  Benjamini-Hochberg at 0.05 on its p-values. The plain ``CFI`` tests over its permutations
  only, on the rows it is given, which says nothing about the sampling error; the folds do.

Knockoffs and CFI test conditional independence: a redundant copy is a null for them (given its
original, it says nothing more about the target), so they are expected to miss the copies; the
``driver recall`` column counts only the channels that drive the target.

Per shape and method, over the seeds: mean false-discovery proportion (nulls kept / kept, 0 when
nothing is kept) with its standard error, the share of tables where any null was kept, recall
of the relevant channels including the copies, recall of the driving channels alone, mean kept
count and mean seconds (the fit alone).

    python benchmarks/fdr.py [--shapes a,b] [--seeds 8] [--methods vaec,boruta] [--out fdr]
        [--timeout SECONDS] [--note TEXT]

Writes benchmarks/results/<out>.json and .md (default ``fdr``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import peers
import provenance
import torch
from threadpoolctl import threadpool_limits

from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"
FDR = 0.05
NULL_PAIR_NOISE = 0.7  # z_j = z_i + 0.7 * noise
COPY_SIGMA = (0.5, 1.0)  # a redundant copy: x + sigma * noise, sigma drawn in this range
LINEAR_WEIGHT = 1.5
PRODUCT_WEIGHT = 1.5
ABS_WEIGHT = 2.0
DEFAULT_SEEDS = 8
DEFAULT_TIMEOUT = 1800.0


class Table(NamedTuple):
    """A synthetic table: features, binary target, and which columns are what."""

    X: pd.DataFrame
    y: np.ndarray
    truth: dict[str, list[str]]  # relevant (the drivers), copies, null, correlated_null
    layout: dict[str, Any]  # the shape's counts, for the report


def _rng(shape: str, seed: int) -> np.random.Generator:
    """A generator of its own for every (shape, seed): tables of different shapes share no draws."""
    return np.random.default_rng([zlib.crc32(shape.encode()), seed])


def _build(shape: str, seed: int, n_rows: int, n_relevant: int, copies: list[int],
           null_groups: list[int]) -> Table:
    """Draw one table.

    ``copies[k]``: how many redundant copies relevant channel ``k`` gets. ``null_groups``: the
    sizes of the null groups; a group of one is a lone null, a larger one is a correlated
    cluster (a base channel and members ``base + 0.7 * noise``).
    """
    rng = _rng(shape, seed)
    columns: list[np.ndarray] = []
    kinds: list[str] = []
    relevant = rng.normal(size=(n_rows, n_relevant))
    for k in range(n_relevant):
        columns.append(relevant[:, k])
        kinds.append("relevant")
    for k, n_copies in enumerate(copies):
        for _ in range(n_copies):
            sigma = rng.uniform(*COPY_SIGMA)
            columns.append(relevant[:, k] + sigma * rng.normal(size=n_rows))
            kinds.append("copy")
    for size in null_groups:
        base = rng.normal(size=n_rows)
        columns.append(base)
        kinds.append("null" if size == 1 else "correlated_null")
        for _ in range(size - 1):
            columns.append(base + NULL_PAIR_NOISE * rng.normal(size=n_rows))
            kinds.append("correlated_null")
    # linear in all but the last relevant channel; the last two also meet in a product, and the
    # last enters through |x| too, so a purely linear test cannot see it
    a, b = relevant[:, -2], relevant[:, -1]
    signs = np.where(np.arange(n_relevant - 1) % 2 == 0, 1.0, -1.0)
    logit = (LINEAR_WEIGHT * relevant[:, :-1] @ signs + PRODUCT_WEIGHT * a * b
             + ABS_WEIGHT * (np.abs(b) - np.sqrt(2 / np.pi)))
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    values = np.column_stack(columns)
    order = rng.permutation(values.shape[1])
    names = [f"f{i}" for i in range(values.shape[1])]
    X = pd.DataFrame(values[:, order], columns=names)
    shuffled_kinds = [kinds[j] for j in order]
    truth = {
        "relevant": [n for n, kind in zip(names, shuffled_kinds, strict=True) if kind == "relevant"],
        "copies": [n for n, kind in zip(names, shuffled_kinds, strict=True) if kind == "copy"],
        "null": [n for n, kind in zip(names, shuffled_kinds, strict=True)
                 if kind in ("null", "correlated_null")],
        "correlated_null": [n for n, kind in zip(names, shuffled_kinds, strict=True)
                            if kind == "correlated_null"],
        # the relevant channel that enters through the product and |x| alone (no linear term)
        "nonlinear": [names[int(np.flatnonzero(order == n_relevant - 1)[0])]],
    }
    layout = {"rows": n_rows, "columns": len(names), "relevant": n_relevant, "copies": sum(copies),
              "null": len(truth["null"]), "correlated_null": len(truth["correlated_null"]),
              "null_groups": sorted((s for s in null_groups if s > 1), reverse=True),
              "class_1_share": round(float(y.mean()), 3)}
    return Table(X, y, truth, layout)


def _two_copies(rng: np.random.Generator, n_relevant: int) -> list[int]:
    """One redundant copy each for two relevant channels chosen at random."""
    copies = [0] * n_relevant
    for k in rng.choice(n_relevant, size=2, replace=False):
        copies[int(k)] = 1
    return copies


def correlated_null_pairs(seed: int, n_rows: int = 600, name: str = "correlated_null_pairs") -> Table:
    """4 relevant channels + 2 noisy copies of them; 30 nulls in 15 correlated pairs."""
    copies = _two_copies(_rng(name + ".layout", seed), 4)
    return _build(name, seed, n_rows, 4, copies, [2] * 15)


def null_clusters(seed: int, n_rows: int = 600, name: str = "null_clusters") -> Table:
    """5 relevant channels + 2 copies; 6 null clusters of 3-5 channels and 10 lone nulls."""
    layout = _rng(name + ".layout", seed)
    copies = _two_copies(layout, 5)
    clusters = [int(s) for s in layout.integers(3, 6, size=6)]
    return _build(name, seed, n_rows, 5, copies, clusters + [1] * 10)


def relevant_clusters(seed: int, n_rows: int = 600, name: str = "relevant_clusters") -> Table:
    """4 relevant channels with 1-3 redundant copies each; 5 correlated null pairs, 10 lone nulls."""
    copies = [int(c) for c in _rng(name + ".layout", seed).integers(1, 4, size=4)]
    return _build(name, seed, n_rows, 4, copies, [2] * 5 + [1] * 10)


def correlated_null_pairs_200(seed: int) -> Table:
    """``correlated_null_pairs`` at 200 rows: do the nulls get through when evidence is thin?"""
    return correlated_null_pairs(seed, 200, "correlated_null_pairs_200")


def relevant_clusters_2000(seed: int) -> Table:
    """``relevant_clusters`` at 2,000 rows: with more rows, do the copies and the nulls part?"""
    return relevant_clusters(seed, 2000, "relevant_clusters_2000")


SHAPES: dict[str, Callable[[int], Table]] = {
    "correlated_null_pairs": correlated_null_pairs,
    "null_clusters": null_clusters,
    "relevant_clusters": relevant_clusters,
    "correlated_null_pairs_200": correlated_null_pairs_200,
    "relevant_clusters_2000": relevant_clusters_2000,
}


# --- the methods: each returns {row label: support}, the fit's seconds and a note -------------

class Fit(NamedTuple):
    """One method's selections on one table (several when one fit gives several thresholds)."""

    supports: dict[str, np.ndarray]
    seconds: float
    note: str = ""


def vaec(X: pd.DataFrame, y: np.ndarray, seed: int) -> Fit:
    """VAECSelector with its defaults, seeded, without the final model."""
    from pipeline.selector import VAECSelector

    selector = VAECSelector(random_state=seed, n_jobs=1, fit_final_model=False)
    start = time.perf_counter()
    selector.fit(X, y)
    seconds = time.perf_counter() - start
    note = f"stop {selector.stop_reason_}, {len(selector.rounds_)} rounds"
    return Fit({"VAECSelector": np.asarray(selector.get_support(), dtype=bool)}, seconds, note)


def vaec_second_look(X: pd.DataFrame, y: np.ndarray, seed: int) -> Fit:
    """VAECSelector with ``second_look=True``, seeded, without the final model."""
    from pipeline.selector import VAECSelector

    selector = VAECSelector(random_state=seed, n_jobs=1, fit_final_model=False, second_look=True)
    start = time.perf_counter()
    selector.fit(X, y)
    seconds = time.perf_counter() - start
    note = f"stop {selector.stop_reason_}, {len(selector.rounds_)} rounds"
    return Fit({"VAECSelector(second_look)": np.asarray(selector.get_support(), dtype=bool)}, seconds, note)


def _knockoffs(X: pd.DataFrame, y: np.ndarray, seed: int, fstat: str, label: str) -> Fit:
    """Model-X Gaussian knockoffs of the standardised columns, thresholded at FDR 0.05.

    The columns are standardised first so the lasso's one penalty weighs every channel alike
    (the knockoff of a column is drawn on the column's own scale either way). knockpy draws from
    numpy's global generator, seeded here.
    """
    from knockpy.knockoff_filter import KnockoffFilter
    from knockpy.knockoff_stats import data_dependent_threshhold
    from sklearn.preprocessing import StandardScaler

    np.random.seed(seed)  # noqa: NPY002 - knockpy draws from the global generator
    kwargs = {"n_estimators": 100, "random_state": seed, "n_jobs": 1} if fstat == "randomforest" else {}
    start = time.perf_counter()
    values = StandardScaler().fit_transform(X.to_numpy(np.float64))
    knockoff_filter = KnockoffFilter(ksampler="gaussian", fstat=fstat)
    knockoff_filter.forward(X=values, y=y, fdr=FDR, fstat_kwargs=kwargs)
    seconds = time.perf_counter() - start
    W = np.asarray(knockoff_filter.W, dtype=np.float64)
    supports = {f"knockoffs+ {label}": W >= data_dependent_threshhold(W, fdr=FDR, offset=1),
                f"knockoffs {label} (offset 0)": W >= data_dependent_threshhold(W, fdr=FDR, offset=0)}
    return Fit(supports, seconds, f"W > 0 for {int((W > 0).sum())}")


def knockoffs_lasso(X: pd.DataFrame, y: np.ndarray, seed: int) -> Fit:
    """Knockoffs with knockpy's lasso statistic (cross-validated L1-logistic coefficient difference)."""
    return _knockoffs(X, y, seed, "lasso", "lasso")


def knockoffs_rf(X: pd.DataFrame, y: np.ndarray, seed: int) -> Fit:
    """Knockoffs with a 100-tree random forest's swap importance (knockpy's randomforest statistic)."""
    return _knockoffs(X, y, seed, "randomforest", "forest")


def boruta(X: pd.DataFrame, y: np.ndarray, seed: int) -> Fit:
    """BorutaPy as the selection benchmark runs it (benchmarks/peers.py), its confirmed channels."""
    selection = peers.boruta(X, y, seed=seed)
    return Fit({"Boruta": np.asarray(selection.support, dtype=bool)}, selection.seconds, selection.note)


def cfi(X: pd.DataFrame, y: np.ndarray, seed: int) -> Fit:
    """hidimstat CFICV with a random forest; Benjamini-Hochberg at 0.05 on its p-values."""
    from hidimstat import CFICV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    values = X.to_numpy(np.float64)
    importance = CFICV(
        estimators=RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1),
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed),
        method="predict_proba", loss=log_loss, random_state=seed, n_jobs=1,
    )
    start = time.perf_counter()
    importance.fit(values, y)
    importance.importance(values, y)
    selected = np.asarray(importance.fdr_selection(fdr=FDR)) != 0
    seconds = time.perf_counter() - start
    pvalues = np.asarray(importance.pvalues_)
    return Fit({"CFI (forest, BH)": selected}, seconds, f"p < 0.05 for {int((pvalues < FDR).sum())}")


class MethodSpec(NamedTuple):
    """A method of the benchmark and the rows its fit yields, in report order."""

    run: Callable[[pd.DataFrame, np.ndarray, int], Fit]
    labels: tuple[str, ...]


METHODS: dict[str, MethodSpec] = {
    "vaec": MethodSpec(vaec, ("VAECSelector",)),
    "vaec_second_look": MethodSpec(vaec_second_look, ("VAECSelector(second_look)",)),
    "knockoffs_lasso": MethodSpec(knockoffs_lasso, ("knockoffs+ lasso", "knockoffs lasso (offset 0)")),
    "knockoffs_rf": MethodSpec(knockoffs_rf, ("knockoffs+ forest", "knockoffs forest (offset 0)")),
    "boruta": MethodSpec(boruta, ("Boruta",)),
    "cfi": MethodSpec(cfi, ("CFI (forest, BH)",)),
}


# --- running one fit in a child ---------------------------------------------------------------

def _fit_in_child(method: str, X: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, Any]:
    """In the child: one thread for torch and every BLAS, the fit, its peak memory."""
    torch.set_num_threads(1)
    with threadpool_limits(1):
        fit = METHODS[method].run(X, y, seed)
    return {"supports": {k: np.asarray(v, dtype=bool) for k, v in fit.supports.items()},
            "seconds": float(fit.seconds), "note": fit.note,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _context() -> multiprocessing.context.BaseContext:
    """Children forked from a server that imported the libraries once (fast, no inherited threads)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "knockpy", "hidimstat", "boruta", "pipeline.selector"])
    return context


def fit_method(method: str, X: pd.DataFrame, y: np.ndarray, seed: int,
               timeout: float | None) -> dict[str, Any]:
    """Fit ``method`` in a fresh child; on error or timeout, say so instead of supports."""
    pool = _context().Pool(1, maxtasksperchild=1)
    try:
        result = pool.apply_async(_fit_in_child, (method, X, y, seed)).get(timeout)
        pool.close()
    except multiprocessing.TimeoutError:
        result = {"error": f"timeout after {timeout:.0f} s"}
        pool.terminate()  # only this pool's own worker
    except Exception as exc:  # one method failing must not stop the run
        traceback.print_exception(exc)
        result = {"error": f"{type(exc).__name__}: {exc}"}
        pool.terminate()
    pool.join()
    return result


# --- scoring ----------------------------------------------------------------------------------

def score(support: np.ndarray, names: list[str], truth: dict[str, list[str]]) -> dict[str, Any]:
    """FDP, recall (copies included), driver recall, and the counts behind them."""
    kept = {n for n, keep in zip(names, support, strict=True) if keep}
    relevant = set(truth["relevant"]) | set(truth["copies"])
    nulls_kept = len(kept & set(truth["null"]))
    return {
        "kept": len(kept), "nulls_kept": nulls_kept,
        "correlated_nulls_kept": len(kept & set(truth["correlated_null"])),
        "fdp": nulls_kept / len(kept) if kept else 0.0,
        "recall": len(kept & relevant) / len(relevant),
        "driver_recall": len(kept & set(truth["relevant"])) / len(truth["relevant"]),
        "columns": sorted(kept, key=lambda n: int(n[1:])),
    }


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean (and for the FDP, standard error) over the seeds of one method on one shape."""
    done = [r for r in records if "error" not in r]
    out: dict[str, Any] = {"tables": len(done), "failed": len(records) - len(done)}
    if not done:
        return out
    fdp = np.array([r["fdp"] for r in done])
    out |= {
        "kept": float(np.mean([r["kept"] for r in done])),
        "fdp_mean": float(fdp.mean()),
        "fdp_se": float(fdp.std(ddof=1) / np.sqrt(len(fdp))) if len(fdp) > 1 else float("nan"),
        "any_null_share": float(np.mean([r["nulls_kept"] > 0 for r in done])),
        "recall": float(np.mean([r["recall"] for r in done])),
        "driver_recall": float(np.mean([r["driver_recall"] for r in done])),
        "seconds": float(np.mean([r["seconds"] for r in done])),
    }
    return out


def run_shape(shape: str, seeds: list[int], methods: list[str], timeout: float | None) -> dict[str, Any]:
    """Every seed's table of ``shape`` through every method: per-table records and the summary."""
    records: dict[str, list[dict[str, Any]]] = {}
    layouts = []
    for seed in seeds:
        table = SHAPES[shape](seed)
        layouts.append(table.layout)
        names = list(table.X.columns)
        for method in methods:
            result = fit_method(method, table.X, table.y, seed, timeout)
            for label in METHODS[method].labels:
                if "error" in result:
                    record = {"seed": seed, "error": result["error"]}
                else:
                    record = {"seed": seed, **score(result["supports"][label], names, table.truth),
                              "seconds": round(result["seconds"], 2),
                              "peak_rss_mb": round(result["peak_rss_mb"]), "note": result["note"]}
                records.setdefault(label, []).append(record)
            first = records[METHODS[method].labels[0]][-1]
            shown = first.get("error") or (f"kept {first['kept']}, nulls {first['nulls_kept']}, "
                                           f"recall {first['recall']:.2f}, {first['seconds']:.1f} s")
            print(f"[{shape} seed {seed}] {method}: {shown}", flush=True)
    return {"layouts": layouts, "records": records,
            "summary": {label: summarise(rows) for label, rows in records.items()}}


# --- the report -------------------------------------------------------------------------------

def _span(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def _layout_text(layouts: list[dict[str, Any]]) -> str:
    first = layouts[0]
    columns = sorted({lay["columns"] for lay in layouts})
    copies = sorted({lay["copies"] for lay in layouts})
    groups = "; ".join(sorted({" ".join(map(str, lay["null_groups"])) for lay in layouts}))
    share = np.mean([lay["class_1_share"] for lay in layouts])
    return (f"{first['rows']} rows, {_span(columns)} columns: {first['relevant']} relevant, "
            f"{_span(copies)} copies, {first['null']} nulls of which {first['correlated_null']} "
            f"correlated (correlated group sizes over the seeds: {groups}); class 1 share {share:.2f}; "
            f"{len(layouts)} seeds.")


def _cell(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def to_markdown(payload: dict[str, Any]) -> str:
    """The report: the run's provenance, then one table per shape."""
    meta = payload["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines = [f"# {meta['title']}", ""]
    if meta.get("note"):
        lines += [meta["note"], ""]
    load = meta.get("load_average_at_end")
    lines += [
        f"Selector at commit {meta['selector_commit']} (benchmarks at {meta['head_commit']}). "
        f"{meta['machine']}; {meta['threads']}; {versions}; {meta['date']}; "
        f"whole run {meta['total_seconds'] / 60:.1f} min"
        + (f" (1-minute load average {meta['load_average_at_start']:.1f} at the start, {load:.1f} at "
           "the end: the selections are fixed by the seeds, the seconds depend on the load)"
           if load is not None else "") + ".",
        f"Scope: {meta['scope']}", "",
        f"`python benchmarks/fdr.py{meta['arguments']}`. FDP: nulls kept / kept (0 when nothing "
        "is kept), mean ± standard error over the seeds; `any null`: share of the tables where at "
        "least one null was kept; `recall`: of the relevant channels and their redundant copies; "
        "`driver recall`: of the channels that drive the target alone (what knockoffs and CFI "
        f"test for); `seconds`: the fit alone, mean. Nominal FDR {FDR}.", "",
    ]
    header = ["method", "kept", "FDP mean ± se", "any null", "recall", "driver recall", "seconds", "note"]
    for shape, result in payload["shapes"].items():
        lines += [f"## {shape}", "", _layout_text(result["layouts"]), "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for label, s in result["summary"].items():
            note = f"{s['failed']} failed" if s["failed"] else ""
            if not s["tables"]:
                errors = {r["error"] for r in result["records"][label]}
                lines.append(f"| {label} |  |  |  |  |  |  | {'; '.join(sorted(errors))} |")
                continue
            lines.append(
                f"| {label} | {s['kept']:.1f} | {s['fdp_mean']:.3f} ± {_cell(s['fdp_se'], 3)} | "
                f"{s['any_null_share']:.2f} | {s['recall']:.2f} | {s['driver_recall']:.2f} | "
                f"{s['seconds']:.1f} | {note} |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", help=f"comma-separated subset of {','.join(SHAPES)}")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                        help=f"tables per shape, seeds 0..N-1 ({DEFAULT_SEEDS})")
    parser.add_argument("--methods", help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--out", default="fdr", help="file stem under benchmarks/results/ (fdr)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds one fit may take ({DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("--note", help="a line for the report's header (e.g. which selector rule ran)")
    return parser.parse_args(argv)


def _choose(text: str | None, known: dict[str, Any], what: str) -> list[str]:
    if text is None:
        return list(known)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    shapes = _choose(args.shapes, SHAPES, "shapes")
    methods = _choose(args.methods, METHODS, "methods")
    seeds = list(range(args.seeds))
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the children
    os.environ["TQDM_DISABLE"] = "1"  # hidimstat's progress bars
    torch.set_num_threads(1)
    complete = shapes == list(SHAPES) and methods == list(METHODS)
    arguments = "".join(f" --{k} {v}" for k, v in (("shapes", args.shapes), ("seeds", args.seeds),
                                                    ("methods", args.methods), ("out", args.out))
                        if v is not None and not (k == "out" and v == "fdr")
                        and not (k == "seeds" and v == DEFAULT_SEEDS))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    results = {shape: run_shape(shape, seeds, methods, args.timeout) for shape in shapes}
    meta = {
        "title": "FDR calibration with correlated nulls" + ("" if complete else " (partial run)"),
        "scope": ("every shape and method" if complete else
                  f"shapes {', '.join(shapes)}; methods {', '.join(methods)}") + f"; seeds 0-{seeds[-1]}.",
        "selector_commit": provenance.selector_commit(), "head_commit": provenance.head_commit(),
        "machine": provenance.machine(),
        "threads": "one torch / BLAS thread per fit, each fit in a fresh child process, one at a time",
        "versions": provenance.versions("torch", "numpy", "scikit-learn", "knockpy", "hidimstat",
                                        "Boruta"),
        "date": time.strftime("%Y-%m-%d"), "seeds": seeds, "fdr": FDR, "arguments": arguments,
        "load_average_at_start": load, "load_average_at_end": os.getloadavg()[0], "note": args.note,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    payload = {"meta": meta, "shapes": results}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / f"{args.out}.json", json.dumps(payload, indent=2, default=float))
    text = to_markdown(payload)
    atomic_write_text(RESULTS / f"{args.out}.md", text)
    print(text)


if __name__ == "__main__":
    main()
