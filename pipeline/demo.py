"""Demo: the five training strategies on a data set that ships with scikit-learn.

``python -m vaec.demo --dataset breast_cancer`` splits the data (stratified 60/20/20), scales it
on the training rows, trains ``var_mlp_classifier``, ``all_parts``, ``mlp_classifier`` and
``autoencoder`` followed by ``classifier_head`` on the same model, and writes learning curves,
latent grids, histories and a ``summary.json`` to ``<out>/<dataset>-demo/``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from vaec.atomic_files import atomic_write_bytes, atomic_write_text
from vaec.classifier import VAEC
from vaec.config import VAECConfig
from vaec.history import TrainingResult
from vaec.plots import plot_latent_grid, plot_learning_curves

DATASETS = {"breast_cancer": load_breast_cancer, "digits": load_digits}
# (strategy, model key): runs sharing a key train one VAEC object in order, so the head of
# classifier_head sits on the encoder that autoencoder trained.
RUNS = (
    ("var_mlp_classifier", "var_mlp"),
    ("all_parts", "all_parts"),
    ("mlp_classifier", "mlp"),
    ("autoencoder", "vae_then_head"),
    ("classifier_head", "vae_then_head"),
)
# The head-only run leaves the encoder, hence the latent space, unchanged: no grids for it.
LATENT_GRID_STRATEGIES = ("var_mlp_classifier", "all_parts", "autoencoder", "mlp_classifier")
SUMMARY_FILE = "summary.json"
PNG_DPI = 80


@dataclass
class DemoData:
    """A stratified 60/20/20 split of a bundled data set, scaled on its training rows.

    Attributes
    ----------
    name : str
        Data set name.
    class_names : list of str
        Names of the classes in index order.
    X_train, X_val, X_test : ndarray of float32
        Scaled features.
    y_train, y_val, y_test : ndarray of int
        Class indices.
    """

    name: str
    class_names: list[str]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_inputs(self) -> int:
        """Number of input channels."""
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


def load_demo_data(dataset: str, seed: int = 0) -> DemoData:
    """Load ``breast_cancer`` or ``digits``, split 60/20/20 stratified by ``seed``, and scale.

    The :class:`~sklearn.preprocessing.StandardScaler` is fitted on the training rows only.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    bunch = DATASETS[dataset]()
    X, y = bunch.data, bunch.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    # 0.25 of the remaining 80% is 20% of the whole
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    scaled = [scaler.transform(part).astype(np.float32) for part in (X_train, X_val, X_test)]
    return DemoData(
        dataset, [str(n) for n in bunch.target_names],
        scaled[0], y_train, scaled[1], y_val, scaled[2], y_test,
    )


def demo_config(data: DemoData, *, epochs: int, latent_dim: int, seed: int) -> VAECConfig:
    """The demo's model settings for ``data``: the library defaults, sized to the data."""
    return VAECConfig(
        n_inputs=data.n_inputs, n_classes=data.n_classes, latent_dim=latent_dim,
        epochs=epochs, seed=seed,
    )


def score_on_test(model: VAEC, data: DemoData) -> dict[str, float]:
    """Accuracy and F1 on the test rows (binary F1 of class 1 for two classes, else macro)."""
    predicted = model.predict(data.X_test)
    average = "binary" if data.n_classes == 2 else "macro"
    return {
        "test_accuracy": float(accuracy_score(data.y_test, predicted)),
        "test_f1": float(f1_score(data.y_test, predicted, average=average)),
    }


def _save_figure(fig: Figure, path: Path) -> str:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=PNG_DPI)
    finally:
        fig.clear()
    atomic_write_bytes(path, buffer.getvalue())
    return path.name


def _write_run(result: TrainingResult, data: DemoData, folder: Path) -> list[str]:
    """Learning curves, latent grids and history of one run; the file names written."""
    name = result.strategy
    files = [_save_figure(plot_learning_curves(result.history, name), folder / f"curves_{name}.png")]
    if name in LATENT_GRID_STRATEGIES:
        for snapshot in result.snapshots:
            fig = plot_latent_grid(snapshot, class_names=data.class_names)
            files.append(_save_figure(fig, folder / f"latent_{name}_epoch{snapshot.epoch:05d}.png"))
    files.append(result.history.to_csv(folder / f"history_{name}.csv").name)
    return files


def run_demo(
    dataset: str,
    *,
    epochs: int = 300,
    out: str | os.PathLike[str] = "reports",
    latent_dim: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the five strategies on ``dataset`` and write the demo folder.

    Returns
    -------
    dict
        The content of ``summary.json``: the settings, the split sizes, and per strategy the
        test accuracy and F1, the best epoch with its validation scores, the seconds of
        training and the files written.
    """
    data = load_demo_data(dataset, seed)
    config = demo_config(data, epochs=epochs, latent_dim=latent_dim, seed=seed)
    folder = Path(out) / f"{dataset}-demo"
    models: dict[str, VAEC] = {}
    strategies: dict[str, dict[str, Any]] = {}
    for strategy, key in RUNS:
        model = models.setdefault(key, VAEC(config))
        result = model.fit(strategy, data.X_train, data.y_train, data.X_val, data.y_val)
        best = result.history.best_row()
        strategies[strategy] = {
            **score_on_test(model, data),
            "best_epoch": result.history.best_epoch,
            "val_accuracy": float(best["val_accuracy"]),
            "val_f1": float(best["val_f1"]),
            "epochs_run": result.epochs_run,
            "seconds": round(result.seconds, 3),
            "files": _write_run(result, data, folder),
        }
    summary = {
        "dataset": dataset,
        "seed": seed,
        "epochs": epochs,
        "latent_dim": latent_dim,
        "rows": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
        "class_names": data.class_names,
        "config": config.to_dict(),
        "strategies": strategies,
    }
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(summary, indent=2))
    return summary


def summary_table(summary: dict[str, Any]) -> str:
    """A plain-text table of test accuracy and F1 per strategy."""
    lines = [f"{'strategy':<20} {'test acc':>9} {'test F1':>8} {'best epoch':>11} {'seconds':>8}"]
    for name, row in summary["strategies"].items():
        lines.append(
            f"{name:<20} {row['test_accuracy']:>9.4f} {row['test_f1']:>8.4f} "
            f"{row['best_epoch']:>11d} {row['seconds']:>8.1f}"
        )
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vaec.demo",
        description="Train the five VAEC training strategies on a bundled data set and write "
                    "their learning curves, latent grids, histories and a summary.",
    )
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--epochs", type=_positive_int, default=300, help="epochs per run (300)")
    parser.add_argument("--out", default="reports", help="parent folder of <dataset>-demo/")
    parser.add_argument("--latent-dim", type=_positive_int, default=2, help="neck width (2)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="split and model seed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = _parser().parse_args(None if argv is None else list(argv))
    # These models are tiny: one intra-op thread is several times faster than two, whose
    # synchronisation costs more than the matmuls (and collapses when the cores are busy).
    torch.set_num_threads(1)
    summary = run_demo(
        args.dataset, epochs=args.epochs, out=args.out, latent_dim=args.latent_dim, seed=args.seed
    )
    print(summary_table(summary))
    print(f"wrote {Path(args.out) / f'{args.dataset}-demo'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
