"""Demo: the five training strategies of the model on a built-in data set.

``vaec-select demo --dataset breast_cancer`` splits the data (stratified 60/20/20, the pipeline's
split), scales it on the training rows, trains ``var_mlp_classifier``, ``all_parts``, ``mlp_classifier``
and ``autoencoder`` followed by ``classifier_head`` on the same model, and writes
``<reports-dir>/<dataset>-demo/``: ``report.html`` (the run report's templates), its learning curves
and latent grids in ``figures/``, every strategy's history in ``histories/``, and ``summary.json``. A
strategy that trains no head (``autoencoder``) has no test scores: its head is as it was initialised.
"""

from __future__ import annotations

import datetime as dt
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
from pipeline.report.tables import Table
from pipeline.report.writer import render_template
from vaec.classifier import VAEC
from vaec.config import VAECConfig, get_strategy
from vaec.history import TrainingResult
from vaec.persistence import atomic_write_bytes, atomic_write_text
from vaec.plots import plot_latent_grid, plot_learning_curves

# (strategy, model key): runs sharing a key train one VAEC object in order, so the head of
# classifier_head sits on the encoder that autoencoder trained.
RUNS = (("var_mlp_classifier", "var_mlp"), ("all_parts", "all_parts"), ("mlp_classifier", "mlp"),
        ("autoencoder", "vae_then_head"), ("classifier_head", "vae_then_head"))
# The head-only run leaves the encoder, hence the latent space, unchanged: no grids for it.
LATENT_GRID_STRATEGIES = ("var_mlp_classifier", "all_parts", "autoencoder", "mlp_classifier")
SUMMARY_FILE, PAGE_FILE = "summary.json", "report.html"
FIGURES, HISTORIES = "figures", "histories"


def load_demo_data(dataset: str, seed: int = 0) -> tuple[SplitData, list[str]]:
    """A built-in set split 60/20/20 (stratified by ``seed``) and scaled on its training rows, and its
    class names."""
    if dataset not in BUILTIN_DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(BUILTIN_DATASETS)}; got {dataset!r}")
    data = load_dataset(dataset)
    split = split_dataset(data, val_size=0.2, test_size=0.2, seed=seed)
    return split, data.class_names(split.classes)


# The demo keeps the KL weight and learning rate its strategies were shown with, lighter and
# slower than the model defaults (which are tuned for the pruning rounds).
DEMO_KL_WEIGHT, DEMO_LEARNING_RATE = 1e-3, 3e-3


def _save_figure(fig: Figure, folder: Path, name: str) -> str:
    atomic_write_bytes(folder / FIGURES / name, figure_png(fig))
    return f"{FIGURES}/{name}"


def _write_run(result: TrainingResult, class_names: list[str], folder: Path) -> dict[str, Any]:
    """Learning curves, latent grids and history of one run: their paths in the folder."""
    name = result.strategy
    grids = [_save_figure(plot_latent_grid(snapshot, class_names=class_names), folder,
                          f"latent_{name}_epoch{snapshot.epoch:05d}.png")
             for snapshot in (result.snapshots if name in LATENT_GRID_STRATEGIES else ())]
    history = result.history.to_csv(folder / HISTORIES / f"history_{name}.csv")
    return {"curves": _save_figure(plot_learning_curves(result.history, name), folder, f"curves_{name}.png"),
            "latent_grids": grids, "history": f"{HISTORIES}/{history.name}"}


def _scores(model: VAEC, result: TrainingResult, data: SplitData) -> dict[str, Any]:
    """Test accuracy and F1 and the best epoch's validation scores; only the best reconstruction loss
    for a run that trains no head (its head is as initialised)."""
    best = result.history.best_row()
    if not get_strategy(result.strategy).uses_prediction:
        return {"val_reconstruction_loss": best["val_reconstruction_loss"]}
    predicted = model.predict(data.X_test)
    average = "binary" if len(data.classes) == 2 else "macro"
    return {"test_accuracy": float(accuracy_score(data.y_test, predicted)),
            "test_f1": float(f1_score(data.y_test, predicted, average=average)),
            "val_accuracy": best["val_accuracy"], "val_f1": best["val_f1"]}


def run_demo(dataset: str, *, epochs: int = 300, reports_dir: str | os.PathLike[str] = "reports",
             latent_dim: int = 2, seed: int = 0) -> dict[str, Any]:
    """Train the five strategies on ``dataset``, write the demo folder (its page, ``report.html``, links
    the figures and histories) and return the content of ``summary.json``: the settings, the split
    sizes, and per strategy the test accuracy and F1 (none for a strategy that trains no head), the
    best epoch with its validation scores, the seconds of training and the files written."""
    data, class_names = load_demo_data(dataset, seed)
    config = VAECConfig(n_inputs=len(data.feature_names), n_classes=len(data.classes), latent_dim=latent_dim,
                        epochs=epochs, seed=seed, kl_weight=DEMO_KL_WEIGHT, learning_rate=DEMO_LEARNING_RATE)
    folder = Path(reports_dir) / f"{dataset}-demo"
    models: dict[str, VAEC] = {}
    strategies: dict[str, dict[str, Any]] = {}
    for strategy, key in RUNS:
        model = models.setdefault(key, VAEC(config))
        result = model.fit(strategy, data.X_train, data.y_train, data.X_val, data.y_val)
        strategies[strategy] = {**_scores(model, result, data), "best_epoch": result.history.best_epoch,
                                "epochs_run": result.epochs_run, "seconds": round(result.seconds, 3),
                                **_write_run(result, class_names, folder)}
    summary = {
        "dataset": dataset, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed, "epochs": epochs, "latent_dim": latent_dim,
        "rows": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
        "class_names": class_names, "config": config.model_dump(mode="json"), "strategies": strategies,
        "page": PAGE_FILE,
    }
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(summary, indent=2))
    descriptions = {name: get_strategy(name).description for name in strategies}
    atomic_write_text(folder / PAGE_FILE, render_template(
        "demo.html.j2", summary=summary, scores=scores_table(summary), descriptions=descriptions))
    return summary


def _number(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.4f}" if key in row else "-"


def scores_table(summary: dict[str, Any]) -> Table:
    """Test accuracy and F1 per strategy ("-" for one that trains no head), the best epoch and the
    seconds of training."""
    rows = [[name, _number(row, "test_accuracy"), _number(row, "test_f1"),
             str(row["best_epoch"]), f"{row['seconds']:.1f}"]
            for name, row in summary["strategies"].items()]
    headless = [name for name, row in summary["strategies"].items() if "test_accuracy" not in row]
    notes = [f"{', '.join(headless)} trains no head: it has no test scores (its best epoch is "
             "by the validation loss)."] if headless else []
    return Table(columns=["strategy", "test accuracy", "test F1", "best epoch", "seconds"],
                 rows=rows, notes=notes)


def summary_table(summary: dict[str, Any]) -> str:
    """A plain-text table of test accuracy and F1 per strategy."""
    return scores_table(summary).render("text")
