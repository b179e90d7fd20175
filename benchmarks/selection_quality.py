"""Selection quality: VAECSelector against RFECV and SelectKBest, in the same run.

On breast_cancer and on madelon (1000 x 50: 5 informative + 5 redundant + 40 noise) every
selector is fitted on the whole set; then a standardised logistic regression (and, on madelon,
a random forest) is scored by repeated stratified 10-fold cross-validation on the kept columns.
On madelon the recall and precision of the relevant columns are known.

    python benchmarks/selection_quality.py [--repeats 3]

Writes benchmarks/results/selection_quality.md and .json. SelectKBest keeps as many columns as
the default VAECSelector, so the two are compared at the same count.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import RFECV, SelectKBest, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.data import load_dataset
from pipeline.selector import VAECSelector
from vaec.atomic_files import atomic_write_text

RESULTS = Path(__file__).parent / "results"


def selectors(n_features: int) -> dict:
    """The selectors compared; SelectKBest keeps as many as the VAEC selector (set later)."""
    return {
        "VAECSelector": VAECSelector(random_state=0),
        # more latent room: keeps breast_cancer's symmetry group, and also some madelon noise
        "VAECSelector(latent_dim=6)": VAECSelector(latent_dim=6, random_state=0),
        "RFECV(logistic)": make_pipeline(
            StandardScaler(),
            RFECV(LogisticRegression(max_iter=5000), cv=StratifiedKFold(5), n_jobs=1),
        ),
        "SelectKBest(mutual_info)": SelectKBest(
            lambda X, y: mutual_info_classif(X, y, random_state=0), k=min(10, n_features)
        ),
    }


def support_of(selector) -> np.ndarray:
    last = selector.steps[-1][1] if hasattr(selector, "steps") else selector
    return last.get_support()


def downstream(X: np.ndarray, y: np.ndarray, repeats: int, forest: bool) -> dict[str, float]:
    cv = RepeatedStratifiedKFold(n_splits=10, n_repeats=repeats, random_state=0)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    scores = {"logistic_cv_accuracy": float(cross_val_score(logistic, X, y, cv=cv).mean())}
    if forest:
        rf = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)
        scores["forest_cv_accuracy"] = float(cross_val_score(rf, X, y, cv=cv).mean())
    return scores


def evaluate(name: str, repeats: int) -> list[dict]:
    dataset = load_dataset(name)
    X, y, names = dataset.X, dataset.y, np.array(dataset.feature_names)
    relevant = None
    if dataset.truth:
        relevant = set(dataset.truth["informative"]) | set(dataset.truth["redundant"])
    rows = []
    baseline = {"selector": "all columns", "kept": len(names), "seconds": 0.0}
    baseline.update(downstream(X, y, repeats, forest=relevant is not None))
    rows.append(baseline)
    k_vaec = None
    for label, selector in selectors(len(names)).items():
        if label.startswith("SelectKBest") and k_vaec is not None:
            selector.set_params(k=k_vaec)
        start = time.perf_counter()
        selector.fit(X, y)
        seconds = time.perf_counter() - start
        support = support_of(selector)
        kept = list(names[support])
        if label == "VAECSelector":
            k_vaec = len(kept)
        row = {"selector": label, "kept": len(kept), "seconds": round(seconds, 2)}
        row.update(downstream(X[:, support], y, repeats, forest=relevant is not None))
        if relevant is not None:
            hits = relevant & set(kept)
            row["recall"] = len(hits) / len(relevant)
            row["precision"] = len(hits) / len(kept) if kept else 0.0
        row["columns"] = kept
        rows.append(row)
    return rows


def to_markdown(results: dict[str, list[dict]], meta: dict) -> str:
    lines = ["# Selection quality", "",
             f"Machine: {meta['machine']}; torch {meta['torch']}; {meta['when']}.",
             "Downstream: repeated stratified 10-fold CV "
             f"({meta['repeats']} repeats) on the kept columns.", ""]
    for name, rows in results.items():
        forest = "forest_cv_accuracy" in rows[0]
        header = ["selector", "kept", "logistic CV acc"] + (["forest CV acc", "recall", "precision"]
                                                            if forest else []) + ["seconds"]
        lines += [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            cells = [r["selector"], str(r["kept"]), f"{r['logistic_cv_accuracy']:.4f}"]
            if forest:
                cells += [f"{r['forest_cv_accuracy']:.4f}", f"{r.get('recall', float('nan')):.2f}",
                          f"{r.get('precision', float('nan')):.2f}"]
            cells.append(f"{r['seconds']:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="CV repeats (3)")
    args = parser.parse_args()
    meta = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
            "torch": torch.__version__, "when": time.strftime("%Y-%m-%d"), "repeats": args.repeats}
    results = {name: evaluate(name, args.repeats) for name in ("breast_cancer", "madelon")}
    atomic_write_text(RESULTS / "selection_quality.json", json.dumps({"meta": meta, **results}, indent=2))
    text = to_markdown(results, meta)
    atomic_write_text(RESULTS / "selection_quality.md", text)
    print(text)


if __name__ == "__main__":
    main()
