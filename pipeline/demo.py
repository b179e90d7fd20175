"""Demo: the five training strategies of the model on a built-in data set.

``vaec-select demo --dataset breast_cancer`` splits the data (stratified 60/20/20, the pipeline's
split), scales it on the training rows, trains ``var_mlp_classifier``, ``all_parts``,
``mlp_classifier`` and ``autoencoder`` followed by ``classifier_head`` on the same model, and
writes learning curves, latent grids, histories and a ``summary.json`` to
``<reports-dir>/<dataset>-demo/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, f1_score

from pipeline.data.builtin import BUILTIN_DATASETS
from pipeline.data.dataset import load_dataset
from pipeline.data.split import SplitData, split_dataset
from pipeline.report.figures import figure_png
from vaec.classifier import VAEC
from vaec.config import VAECConfig
from vaec.history import TrainingResult
from vaec.persistence import atomic_write_bytes, atomic_write_text
from vaec.plots import plot_latent_grid, plot_learning_curves

DATASETS = BUILTIN_DATASETS
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


def load_demo_data(dataset: str, seed: int = 0) -> tuple[SplitData, list[str]]:
    """A built-in set split 60/20/20 (stratified by ``seed``) and scaled on its training rows,
    and its class names."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    data = load_dataset(dataset)
    split = split_dataset(data, val_size=0.2, test_size=0.2, seed=seed)
    return split, data.class_names(split.classes)


# The demo keeps the KL weight and learning rate its strategies were shown with, lighter and
# slower than the model defaults (which are tuned for the pruning rounds).
DEMO_KL_WEIGHT, DEMO_LEARNING_RATE = 1e-3, 3e-3


def demo_config(data: SplitData, *, epochs: int, latent_dim: int, seed: int) -> VAECConfig:
    """The demo's model settings for ``data``: the model defaults with the demo's KL weight and
    learning rate, sized to the data."""
    return VAECConfig(
        n_inputs=len(data.feature_names), n_classes=len(data.classes), latent_dim=latent_dim,
        epochs=epochs, seed=seed, kl_weight=DEMO_KL_WEIGHT, learning_rate=DEMO_LEARNING_RATE,
    )


def score_on_test(model: VAEC, data: SplitData) -> dict[str, float]:
    """Accuracy and F1 on the test rows (binary F1 of class 1 for two classes, else macro)."""
    predicted = model.predict(data.X_test)
    average = "binary" if len(data.classes) == 2 else "macro"
    return {
        "test_accuracy": float(accuracy_score(data.y_test, predicted)),
        "test_f1": float(f1_score(data.y_test, predicted, average=average)),
    }


def _save_figure(fig: Figure, path: Path) -> str:
    atomic_write_bytes(path, figure_png(fig, dpi=PNG_DPI))
    return path.name


def _write_run(result: TrainingResult, class_names: list[str], folder: Path) -> list[str]:
    """Learning curves, latent grids and history of one run; the file names written."""
    name = result.strategy
    files = [_save_figure(plot_learning_curves(result.history, name), folder / f"curves_{name}.png")]
    if name in LATENT_GRID_STRATEGIES:
        for snapshot in result.snapshots:
            fig = plot_latent_grid(snapshot, class_names=class_names)
            files.append(_save_figure(fig, folder / f"latent_{name}_epoch{snapshot.epoch:05d}.png"))
    files.append(result.history.to_csv(folder / f"history_{name}.csv").name)
    return files


def run_demo(
    dataset: str,
    *,
    epochs: int = 300,
    reports_dir: str | os.PathLike[str] = "reports",
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
    data, class_names = load_demo_data(dataset, seed)
    config = demo_config(data, epochs=epochs, latent_dim=latent_dim, seed=seed)
    folder = Path(reports_dir) / f"{dataset}-demo"
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
            "files": _write_run(result, class_names, folder),
        }
    summary = {
        "dataset": dataset,
        "seed": seed,
        "epochs": epochs,
        "latent_dim": latent_dim,
        "rows": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
        "class_names": class_names,
        "config": config.model_dump(mode="json"),
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
