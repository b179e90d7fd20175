"""Regression targets and selection without a target, beside the peers in one run.

Regression: scikit-learn's diabetes (442 x 10) and ``make_friedman1`` (1000 rows, 5 relevant
columns, 20 extra noise columns: 25 in all). Every selector is fitted on the whole set; ridge
and a 200-tree random forest are then scored by repeated 5-fold cross-validated R² on the kept
columns. Peers: RFECV(ridge) and Boruta (random-forest regressor, its defaults). On friedman1
the relevant columns are known: recall and precision.

Without a target: 10 channels driven by 3 latent factors plus 10 noise channels (1000 rows);
the unsupervised selector should keep the 10 and drop the noise.

    python benchmarks/tasks.py

Writes benchmarks/results/tasks.md and .json.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from boruta import BorutaPy
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_selection import RFECV
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, RepeatedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.selector import VAECSelector
from vaec.persistence import atomic_write_text

RESULTS = Path(__file__).parent / "results"


def regression_sets() -> dict[str, tuple[pd.DataFrame, np.ndarray, list[str] | None]]:
    diabetes = load_diabetes(as_frame=True)
    X, y = make_friedman1(n_samples=1000, n_features=25, noise=1.0, random_state=0)
    order = np.random.default_rng(0).permutation(25)  # the relevant columns are not first
    names = [f"f{i}" for i in range(25)]
    friedman = pd.DataFrame(X[:, order], columns=names)
    relevant = [names[j] for j in range(25) if order[j] < 5]
    return {"diabetes": (diabetes.data, diabetes.target.to_numpy(), None),
            "friedman1 + 20 noise": (friedman, y, relevant)}


def selectors() -> dict:
    return {
        "VAECSelector": lambda X, y: VAECSelector(random_state=0).fit(X, y).get_support(),
        "RFECV(ridge)": lambda X, y: RFECV(Ridge(), cv=KFold(5), n_jobs=1).fit(
            StandardScaler().fit_transform(X), y).get_support(),
        "Boruta": lambda X, y: BorutaPy(
            RandomForestRegressor(n_jobs=1, max_depth=5), n_estimators="auto", random_state=0
        ).fit(X.to_numpy(), y).support_,
    }


def downstream(X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    cv = RepeatedKFold(n_splits=5, n_repeats=3, random_state=0)
    ridge = make_pipeline(StandardScaler(), Ridge())
    forest = RandomForestRegressor(n_estimators=200, random_state=0, n_jobs=1)
    return {"ridge_r2": float(cross_val_score(ridge, X, y, cv=cv, scoring="r2").mean()),
            "forest_r2": float(cross_val_score(forest, X, y, cv=cv, scoring="r2").mean())}


def unsupervised() -> dict:
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(1000, 3))
    signal = factors @ rng.normal(size=(3, 10)) + 0.3 * rng.normal(size=(1000, 10))
    frame = pd.DataFrame(np.hstack([signal, rng.normal(size=(1000, 10))]),
                         columns=[f"s{i}" for i in range(10)] + [f"n{i}" for i in range(10)])
    start = time.perf_counter()
    selector = VAECSelector(random_state=0).fit(frame)
    kept = list(selector.get_feature_names_out())
    return {"kept": kept, "factor_kept": sum(c.startswith("s") for c in kept),
            "noise_kept": sum(c.startswith("n") for c in kept),
            "seconds": time.perf_counter() - start, "task": selector.task_}


def main() -> int:
    torch.set_num_threads(1)
    results: dict = {"meta": {"machine": platform.machine(), "torch": torch.__version__,
                              "date": time.strftime("%Y-%m-%d")}, "regression": {}}
    for name, (X, y, relevant) in regression_sets().items():
        rows = [{"method": "all columns", "kept": X.shape[1], "seconds": 0.0, **downstream(X, y)}]
        for label, select in selectors().items():
            start = time.perf_counter()
            support = np.asarray(select(X, y), dtype=bool)
            row = {"method": label, "kept": int(support.sum()),
                   "seconds": time.perf_counter() - start,
                   **downstream(X.loc[:, support], y), "columns": list(X.columns[support])}
            if relevant is not None:
                hits = len(set(relevant) & set(row["columns"]))
                row |= {"recall": hits / len(relevant), "precision": hits / max(1, row["kept"])}
            rows.append(row)
            print(name, {k: v for k, v in row.items() if k != "columns"}, flush=True)
        results["regression"][name] = rows
    results["unsupervised"] = unsupervised()
    print(results["unsupervised"], flush=True)
    atomic_write_text(RESULTS / "tasks.json", json.dumps(results, indent=2))
    atomic_write_text(RESULTS / "tasks.md", to_markdown(results))
    print(to_markdown(results))
    return 0


def to_markdown(results: dict) -> str:
    meta = results["meta"]
    lines = ["# Regression targets and selection without a target", "",
             f"`python benchmarks/tasks.py` on {meta['machine']}, torch {meta['torch']}, one "
             f"thread, {meta['date']}. Downstream: repeated 5-fold CV R² (3 repeats) of ridge and "
             "of a 200-tree random forest on the kept columns.", ""]
    for name, rows in results["regression"].items():
        truth = "recall" in rows[-1]
        head = ["method", "kept", "ridge R²", "forest R²",
                *(["recall", "precision"] if truth else []), "seconds"]
        lines += [f"## {name}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["method"], str(r["kept"]), f"{r['ridge_r2']:.4f}", f"{r['forest_r2']:.4f}"]
            if truth:
                cells += [f"{r[k]:.2f}" if k in r else "" for k in ("recall", "precision")]
            cells.append(f"{r['seconds']:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    u = results["unsupervised"]
    lines += ["## Without a target", "",
              f"10 channels of 3 latent factors + 10 noise channels, 1000 rows: kept "
              f"{u['factor_kept']} of the 10 factor channels and {u['noise_kept']} of the 10 noise "
              f"channels in {u['seconds']:.1f} s (task {u['task']}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
