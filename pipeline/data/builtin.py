"""The data sets that ship with the project: scikit-learn's bundled tables and madelon.

The names are importable without loading scikit-learn or pandas (the command line checks a
``--dataset`` against them before any heavy import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

BUILTIN_DATASETS = ("breast_cancer", "digits", "wine", "madelon")
BUILTIN_TARGET = "target"


def builtin_frame(
    name: str, madelon_options: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, dict[str, list[str]] | None, dict[Any, str] | None]:
    """The table of a built-in set (features + ``target``), its known truth, its class names."""
    import pandas as pd
    from sklearn import datasets as sk_datasets

    from pipeline.data.madelon import make_madelon

    if name not in BUILTIN_DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(BUILTIN_DATASETS)}, got {name!r}")
    if name == "madelon":
        frame, truth = make_madelon(**(madelon_options or {}))
        return frame, truth, None
    if name == "digits":
        bunch = sk_datasets.load_digits()
        columns = [f"pixel_{i // 8}_{i % 8}" for i in range(bunch.data.shape[1])]
    else:
        loader = {"breast_cancer": sk_datasets.load_breast_cancer, "wine": sk_datasets.load_wine}
        bunch = loader[name]()
        columns = [str(c) for c in bunch.feature_names]
    frame = pd.DataFrame(bunch.data, columns=columns)
    frame[BUILTIN_TARGET] = bunch.target
    return frame, None, {i: str(n) for i, n in enumerate(bunch.target_names)}
