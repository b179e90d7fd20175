"""The data sets that ship with the project: scikit-learn's bundled tables and madelon, a
synthetic set whose relevant columns are known by name.

The names are importable without loading scikit-learn or pandas (the command line checks a
``--dataset`` against them before any heavy import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

BUILTIN_DATASETS = ("breast_cancer", "digits", "wine", "madelon")
BUILTIN_TARGET = "target"


def builtin_frame(name: str) -> tuple[pd.DataFrame, dict[str, list[str]] | None, dict[Any, str] | None]:
    """The table of a built-in set (features + ``target``), its known truth, its class names."""
    import pandas as pd
    from sklearn import datasets as sk_datasets

    if name not in BUILTIN_DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(BUILTIN_DATASETS)}, got {name!r}")
    if name == "madelon":
        frame, truth = make_madelon()
        return frame, truth, None
    loaders = {"breast_cancer": sk_datasets.load_breast_cancer, "digits": sk_datasets.load_digits,
               "wine": sk_datasets.load_wine}
    bunch = loaders[name]()  # digits' feature names are pixel_<row>_<column>
    frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
    frame[BUILTIN_TARGET] = bunch.target
    return frame, None, {i: str(n) for i, n in enumerate(bunch.target_names)}


def make_madelon(n_samples: int = 1000, n_informative: int = 5, n_redundant: int = 5, n_noise: int = 40, *,
                 seed: int = 0) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Informative, redundant (linear mixtures of the informative) and pure-noise columns, named
    ``inf_i``, ``red_i``, ``noise_i`` (by :func:`sklearn.datasets.make_classification` without
    shuffling), in a seeded order so position does not give the truth away, and ``target``;
    with the truth ``{"informative": [...], "redundant": [...], "noise": [...]}``."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n_samples, n_features=n_informative + n_redundant + n_noise,
                               n_informative=n_informative, n_redundant=n_redundant, n_repeated=0,
                               shuffle=False, random_state=seed)
    truth = {"informative": [f"inf_{i}" for i in range(n_informative)],
             "redundant": [f"red_{i}" for i in range(n_redundant)],
             "noise": [f"noise_{i}" for i in range(n_noise)]}
    names = truth["informative"] + truth["redundant"] + truth["noise"]
    order = np.random.default_rng(seed).permutation(len(names))
    frame = pd.DataFrame(X[:, order], columns=[names[i] for i in order])
    frame["target"] = y
    return frame, truth
