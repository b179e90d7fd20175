"""Run one arfs selector (Leshy or GrootCV) in the interpreter that has arfs installed.

arfs does not run on the scikit-learn the project uses, so benchmarks/peers.py calls this script
with another interpreter (``ARFS_PYTHON``, an environment with arfs and an older scikit-learn):

    $ARFS_PYTHON benchmarks/arfs_peer.py {leshy,grootcv} IN.npz OUT.json

The environment (arfs 3.0.0 fails on scikit-learn 1.9 and on pandas 3):

    python3 -m venv /work/arfs-venv
    /work/arfs-venv/bin/pip install arfs==3.0.0 scikit-learn==1.6.1 "pandas<3"

``IN.npz`` holds ``X`` and ``y``; ``OUT.json`` gets the support and the fit seconds. Settings are
those of the arfs documentation's classification examples (LightGBM; Leshy with SHAP importance,
100 trees, 10 iterations; GrootCV with 5 folds x 5 repeats), seeded, one thread.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def select(method: str, X: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """Fit ``method`` and return its support."""
    import arfs.feature_selection.allrelevant as arfsgroot
    from lightgbm import LGBMClassifier

    if method == "leshy":
        model = LGBMClassifier(random_state=0, verbose=-1, n_jobs=1)
        selector = arfsgroot.Leshy(model, n_estimators=100, max_iter=10, random_state=0,
                                   importance="shap", verbose=0)
    else:
        objective = "binary" if y.nunique() == 2 else "softmax"  # arfs' name for multiclass
        selector = arfsgroot.GrootCV(objective=objective, cutoff=1, n_folds=5, n_iter=5, silent=True,
                                     n_jobs=1, lgbm_params={"seed": 0})
    selector.fit(X, y)
    return np.asarray(selector.get_support(), dtype=bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=("leshy", "grootcv"))
    parser.add_argument("inputs")
    parser.add_argument("output")
    args = parser.parse_args()
    data = np.load(args.inputs)
    X = pd.DataFrame(data["X"], columns=[f"f{i}" for i in range(data["X"].shape[1])])
    y = pd.Series(data["y"])
    start = time.perf_counter()
    support = select(args.method, X, y)
    seconds = time.perf_counter() - start
    with open(args.output, "w") as out:
        json.dump({"support": support.tolist(), "seconds": seconds}, out)


if __name__ == "__main__":
    main()
