"""The selectors VAECSelector is compared with, each behind one function of the same shape.

Every function takes the feature frame ``X``, the labels ``y`` and a count ``k`` and returns a
:class:`Selection`: the boolean support over the columns of ``X`` and the seconds the selection
took (fitting only: no data loading or scoring). ``k=None`` lets a selector that chooses its own
count do so; selectors that need a count (LassoNet, SelectKBest, mRMR, the forest ranking,
random) are always given one. Each keeps its own defaults; everything random is seeded with 0.

On a regression target a peer runs its regression variant (:attr:`PeerSpec.regression`):
RFECV with ridge and Boruta with a random-forest regressor; the peers without one are skipped.

arfs (Leshy, GrootCV) needs an older scikit-learn than the project's, so it runs in its own
environment through benchmarks/arfs_peer.py; without that environment those two are skipped.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_selection import RFE, RFECV, SelectFromModel, SelectKBest, mutual_info_classif
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0
# above this many columns RFE drops 5% of them per step instead of one
RFE_STEP_ONE_MAX_FEATURES = 200
# the ridge penalties RidgeCV chooses from (by its efficient leave-one-out error)
RIDGE_ALPHAS = np.logspace(-3, 3, 13)


class Selection(NamedTuple):
    """A selector's result: kept-column mask, fit seconds, and a remark for the report."""

    support: np.ndarray
    seconds: float
    note: str = ""


def _mask(n_features: int, indices: np.ndarray) -> np.ndarray:
    support = np.zeros(n_features, dtype=bool)
    support[np.asarray(indices, dtype=int)] = True
    return support


def _require_k(k: int | None, name: str) -> int:
    if k is None:
        raise ValueError(f"{name} needs a feature count k")
    return k


def rfecv_logistic(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """Recursive elimination by standardised logistic-regression weights.

    Without ``k``: RFECV (5-fold stratified CV accuracy chooses the count, one column per step).
    With ``k``: RFE down to ``k``. On wide data (more than 200 columns) 5% of the columns go per
    step, else the fits would take hours (MNIST: 734 refits).
    """
    logistic = LogisticRegression(max_iter=5000)
    step = 1 if X.shape[1] <= RFE_STEP_ONE_MAX_FEATURES else 0.05
    if k is None:
        eliminator = RFECV(logistic, step=step, cv=StratifiedKFold(5), n_jobs=1)
    else:
        eliminator = RFE(logistic, n_features_to_select=k, step=step)
    start = time.perf_counter()
    make_pipeline(StandardScaler(), eliminator).fit(X.to_numpy(), y)
    seconds = time.perf_counter() - start
    return Selection(eliminator.get_support(), seconds, "" if step == 1 else f"step {step}")


def rfecv_ridge(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """Recursive elimination by standardised ridge weights (RidgeCV), for a regression target.

    Without ``k``: RFECV (5-fold CV R², rows shuffled with seed 0 since real tables often come
    sorted, one column per step). With ``k``: RFE down to ``k``. On wide data (more than 200
    columns) 5% of the columns go per step, as for the logistic variant.
    """
    ridge = RidgeCV(alphas=RIDGE_ALPHAS)
    step = 1 if X.shape[1] <= RFE_STEP_ONE_MAX_FEATURES else 0.05
    if k is None:
        eliminator = RFECV(ridge, step=step, cv=KFold(5, shuffle=True, random_state=SEED),
                           scoring="r2", n_jobs=1)
    else:
        eliminator = RFE(ridge, n_features_to_select=k, step=step)
    start = time.perf_counter()
    make_pipeline(StandardScaler(), eliminator).fit(X.to_numpy(), y)
    seconds = time.perf_counter() - start
    return Selection(eliminator.get_support(), seconds, "" if step == 1 else f"step {step}")


def rfecv_forest(X: pd.DataFrame, y: np.ndarray, k: int | None = None, *, seed: int = SEED) -> Selection:
    """RFECV with a 100-tree random forest's impurity importance: 5-fold stratified CV accuracy
    chooses the count, one column per step (with ``k``: RFE down to ``k``)."""
    forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    if k is None:
        eliminator = RFECV(forest, step=1, cv=StratifiedKFold(5), n_jobs=1)
    else:
        eliminator = RFE(forest, n_features_to_select=k, step=1)
    start = time.perf_counter()
    eliminator.fit(X.to_numpy(), y)
    return Selection(eliminator.get_support(), time.perf_counter() - start)


def boruta(X: pd.DataFrame, y: np.ndarray, k: int | None = None, *, seed: int = SEED) -> Selection:
    """BorutaPy with a shallow balanced random forest, its documented set-up (``n_estimators='auto'``).

    Boruta keeps every column it confirms (all-relevant, its own count). With ``k`` the ``k``
    best by Boruta's ranking are kept (confirmed, then tentative, then rejected by rank; ties by
    median importance over the iterations).
    """
    from boruta import BorutaPy

    forest = RandomForestClassifier(n_jobs=1, max_depth=5, class_weight="balanced")
    selector = BorutaPy(forest, n_estimators="auto", perc=100, random_state=seed)
    start = time.perf_counter()
    selector.fit(X.to_numpy(), y)
    seconds = time.perf_counter() - start
    note = f"confirmed {int(selector.support_.sum())}, tentative {int(selector.support_weak_.sum())}"
    if k is None:
        return Selection(selector.support_.copy(), seconds, note)
    importance = np.nanmedian(selector.importance_history_[1:], axis=0)
    order = np.lexsort((-np.nan_to_num(importance, nan=-np.inf), selector.ranking_))
    return Selection(_mask(X.shape[1], order[:k]), seconds, f"{note}; best {k} by ranking")


def boruta_regression(X: pd.DataFrame, y: np.ndarray, k: int | None = None, *,
                      seed: int = SEED) -> Selection:
    """BorutaPy with a shallow random-forest regressor (``max_depth=5``), for a regression target.

    The same set-up as :func:`boruta` otherwise: ``n_estimators='auto'``, ``perc=100``, the
    confirmed columns (with ``k``: the ``k`` best by Boruta's ranking).
    """
    from boruta import BorutaPy

    forest = RandomForestRegressor(n_jobs=1, max_depth=5)
    selector = BorutaPy(forest, n_estimators="auto", perc=100, random_state=seed)
    start = time.perf_counter()
    selector.fit(X.to_numpy(), y)
    seconds = time.perf_counter() - start
    note = f"confirmed {int(selector.support_.sum())}, tentative {int(selector.support_weak_.sum())}"
    if k is None:
        return Selection(selector.support_.copy(), seconds, note)
    importance = np.nanmedian(selector.importance_history_[1:], axis=0)
    order = np.lexsort((-np.nan_to_num(importance, nan=-np.inf), selector.ranking_))
    return Selection(_mask(X.shape[1], order[:k]), seconds, f"{note}; best {k} by ranking")


def lassonet(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """LassoNet on standardised columns, library defaults (hidden layer 100, M=10), k columns.

    One path (LassoNetClassifier.path); kept: the ``k`` columns that stay longest on it
    (``feature_importances_``, the penalty at which each column leaves), i.e. the first path
    point with at most ``k`` columns, topped up to exactly ``k`` by the next ones to leave.
    LassoNet has no count of its own worth comparing: LassoNetClassifierCV picks the dense model
    (every column) on breast_cancer and madelon.
    """
    from lassonet import LassoNetClassifier

    k = _require_k(k, "LassoNet")
    Xs = StandardScaler().fit_transform(X.to_numpy())
    labels = np.unique(y, return_inverse=True)[1]
    model = LassoNetClassifier(verbose=0, random_state=SEED, torch_seed=SEED)
    start = time.perf_counter()
    path = model.path(Xs, labels, return_state_dicts=False)
    seconds = time.perf_counter() - start
    importance = model.feature_importances_.cpu().numpy()
    first = next((int(p.selected.sum()) for p in path if int(p.selected.sum()) <= k), 0)
    order = np.argsort(-importance, kind="stable")
    return Selection(_mask(X.shape[1], order[:k]), seconds, f"path point with {first} columns")


def mutual_info_kbest(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """SelectKBest on scikit-learn's nearest-neighbour mutual information."""
    k = _require_k(k, "SelectKBest")
    selector = SelectKBest(partial(mutual_info_classif, random_state=SEED), k=k)
    start = time.perf_counter()
    selector.fit(X.to_numpy(), y)
    return Selection(selector.get_support(), time.perf_counter() - start)


def _mrmr(select: Any, X: pd.DataFrame, y: np.ndarray, k: int | None) -> Selection:
    """The ``k`` columns mrmr-selection's ``select`` (classif or regression) picks."""
    k = _require_k(k, "mRMR")
    start = time.perf_counter()
    chosen = select(X=X, y=pd.Series(y), K=k, n_jobs=1, show_progress=False)
    seconds = time.perf_counter() - start
    return Selection(X.columns.isin(chosen), seconds)


def mrmr(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """mRMR (mrmr-selection's ``mrmr_classif``: F-statistic relevance, correlation redundancy)."""
    from mrmr import mrmr_classif

    return _mrmr(mrmr_classif, X, y, k)


def mrmr_regression(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """mRMR for a numeric target (``mrmr_regression``: F-statistic relevance)."""
    from mrmr import mrmr_regression as select

    return _mrmr(select, X, y, k)


def _forest_top(forest: Any, X: pd.DataFrame, y: np.ndarray, k: int | None) -> Selection:
    """The ``k`` columns of highest impurity importance in ``forest``."""
    selector = SelectFromModel(forest, threshold=-np.inf, max_features=_require_k(k, "forest importance"))
    start = time.perf_counter()
    selector.fit(X.to_numpy(), y)
    return Selection(selector.get_support(), time.perf_counter() - start)


def forest_importance(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """The ``k`` columns of highest impurity importance in a 100-tree random forest."""
    return _forest_top(RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1),
                       X, y, k)


def forest_importance_regression(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """The ``k`` columns of highest impurity importance in a 100-tree regression forest."""
    from sklearn.ensemble import RandomForestRegressor

    return _forest_top(RandomForestRegressor(n_estimators=100, random_state=SEED, n_jobs=1),
                       X, y, k)


def random_columns(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """``k`` columns drawn at random (seeded): the floor any selector should beat."""
    k = _require_k(k, "random")
    start = time.perf_counter()
    chosen = np.random.default_rng(SEED).choice(X.shape[1], size=k, replace=False)
    return Selection(_mask(X.shape[1], chosen), time.perf_counter() - start)


ARFS_SCRIPT = Path(__file__).with_name("arfs_peer.py")


def arfs_python() -> Path | None:
    """The interpreter that has arfs (``ARFS_PYTHON``, default /work/arfs-venv), if it exists."""
    path = Path(os.environ.get("ARFS_PYTHON", "/work/arfs-venv/bin/python"))
    return path if path.exists() else None


def _die_with_parent() -> None:
    """In the arfs interpreter: be sent SIGTERM when the selector's process ends (a timeout)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except OSError:  # not Linux: a timed-out arfs run finishes on its own
        pass


def _arfs(method: str, X: pd.DataFrame, y: np.ndarray) -> Selection:
    python = arfs_python()
    if python is None:
        raise FileNotFoundError("no arfs interpreter: set ARFS_PYTHON")
    with tempfile.TemporaryDirectory() as tmp:
        inputs, output = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(inputs, X=X.to_numpy(np.float64), y=np.unique(y, return_inverse=True)[1])
        done = subprocess.run([str(python), str(ARFS_SCRIPT), method, str(inputs), str(output)],
                              capture_output=True, text=True, preexec_fn=_die_with_parent,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"arfs {method} failed: {done.stderr.strip().splitlines()[-1:]}")
        result = json.loads(output.read_text())
    return Selection(np.asarray(result["support"], dtype=bool), float(result["seconds"]))


def leshy(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """arfs Leshy (Boruta with SHAP importance of a LightGBM model), its own count."""
    return _arfs("leshy", X, y)


def grootcv(X: pd.DataFrame, y: np.ndarray, k: int | None = None) -> Selection:
    """arfs GrootCV (cross-validated LightGBM SHAP importance against shadows), its own count."""
    return _arfs("grootcv", X, y)


Peer = Callable[[pd.DataFrame, np.ndarray, "int | None"], Selection]


class PeerSpec(NamedTuple):
    """How the harness uses a peer.

    ``count``: ``own`` chooses its own count and cannot be given one (skipped where the data set
    fixes k), ``own_or_k`` chooses its own unless given k, ``k`` always needs k. ``regression``:
    the variant for a regression target and its label, ``None`` where the peer has none.
    """

    label: str
    run: Peer
    count: str
    fixed_k_only: bool = False  # only where the data set fixes k (MNIST)
    regression: tuple[str, Peer] | None = None


PEERS: dict[str, PeerSpec] = {
    "rfecv": PeerSpec("RFECV(logistic)", rfecv_logistic, "own_or_k",
                      regression=("RFECV(ridge)", rfecv_ridge)),
    "boruta": PeerSpec("Boruta", boruta, "own_or_k", regression=("Boruta", boruta_regression)),
    "lassonet": PeerSpec("LassoNet", lassonet, "k"),
    "kbest_mi": PeerSpec("SelectKBest(mutual_info)", mutual_info_kbest, "k"),
    "mrmr": PeerSpec("mRMR", mrmr, "k", regression=("mRMR", mrmr_regression)),
    "forest_top": PeerSpec("random-forest importance top-k", forest_importance, "k",
                           regression=("random-forest importance top-k",
                                       forest_importance_regression)),
    "random": PeerSpec("random k columns", random_columns, "k", fixed_k_only=True),
    "leshy": PeerSpec("arfs Leshy", leshy, "own"),
    "grootcv": PeerSpec("arfs GrootCV", grootcv, "own"),
}
