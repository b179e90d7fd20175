"""How the minimal subset (``n_features_to_select="auto"``) moves with the selector's seed.

The 1-SE count is read off a curve whose points are separate rounds' models, so it moves with
``random_state``. For each seed this fits the selector on the whole table (breast_cancer by
default, the README's example) and scores the kept columns with a standardised logistic
regression, repeated stratified 10-fold CV (3 repeats), beside all columns. One torch thread.

    python benchmarks/auto_seeds.py [--dataset breast_cancer] [--seeds 8] [--out auto_seeds]
                                    [--note TEXT]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="breast_cancer", choices=["breast_cancer", "wine"])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", default="auto_seeds")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch
    from provenance import head_commit, machine, selector_commit
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pipeline.selector import VAECSelector

    torch.set_num_threads(1)
    X, y = getattr(datasets, f"load_{args.dataset}")(return_X_y=True, as_frame=True)
    cv = RepeatedStratifiedKFold(n_splits=10, n_repeats=3, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))

    def score(columns: list[str]) -> float:
        return float(cross_val_score(model, X[columns], y, cv=cv).mean())

    rows = [f"| all columns | {X.shape[1]} | {score(list(X.columns)):.4f} | | |"]
    counts, scores = [], []
    for seed in range(args.seeds):
        start = time.perf_counter()
        selector = VAECSelector(n_features_to_select="auto", fit_final_model=False,
                                random_state=seed).fit(X, y)
        seconds = time.perf_counter() - start
        kept = list(X.columns[selector.get_support()])
        counts.append(len(kept))
        scores.append(score(kept))
        rows.append(f"| seed {seed} | {len(kept)} | {scores[-1]:.4f} | {len(selector.rounds_)} "
                    f"| {seconds:.1f} |")
        print(rows[-1], flush=True)
    rows.append(f"| median over the seeds | {statistics.median(counts):g} | "
                f"{statistics.median(scores):.4f} | | |")
    text = "\n".join([
        f"# The minimal subset by seed: {args.dataset}", "", args.note, "",
        f"Selector at commit {selector_commit()} (benchmarks at {head_commit()}); "
        f"`python benchmarks/auto_seeds.py --dataset {args.dataset} --seeds {args.seeds}`. "
        f"{machine()}, one torch thread; {date.today().isoformat()}.", "",
        "Logistic: standardised logistic regression, repeated stratified 10-fold CV (3 repeats), "
        "on the kept columns; the selector fitted on the whole table.", "",
        "| selection | kept | logistic CV acc | rounds | seconds |", "|---|---|---|---|---|",
        *rows, ""])
    out = HERE / "results" / f"{args.out}.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
