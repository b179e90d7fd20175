"""The final model: encoder + classifier head trained on the kept channels."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from pipeline.pruning_config import PruningConfig
from pipeline.split import SplitData
from vaec import VAEC, TrainingResult
from vaec.strategies import get_strategy


@dataclass
class FinalModel:
    """The model trained on the selected channels, and how well it does.

    Attributes
    ----------
    model : VAEC
        The trained model (one replica); its inputs are ``channels`` scaled by the split's
        scaler.
    training : TrainingResult
        History, best epoch and latent snapshots of its training.
    channels : list of str
        Its input channels, in order.
    strategy : str
        Training strategy used.
    metrics : dict of str to float
        ``val_accuracy``, ``val_f1`` and, when the split has a test part, ``test_accuracy``,
        ``test_f1`` (sampling off). The test split is touched only here.
    seconds : float
        Wall-clock seconds of the training.
    """

    model: VAEC
    training: TrainingResult
    channels: list[str]
    strategy: str
    metrics: dict[str, float]
    seconds: float


def _scores(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """Accuracy and F1 as the training loop counts them (binary: the second class positive)."""
    if len(classes) == 2:
        f1 = f1_score(y_true, y_pred, average="binary", pos_label=classes[1], zero_division=0)
    else:
        f1 = f1_score(y_true, y_pred, average="macro", zero_division=0)
    return float(accuracy_score(y_true, y_pred)), float(f1)


def fit_final_model(split: SplitData, channels: Sequence[str], config: PruningConfig) -> FinalModel:
    """Train ``config.final_strategy`` on ``channels``; best epoch by validation F1."""
    start = time.perf_counter()
    data = split.columns(list(channels))
    n_classes = len(split.classes)
    model_config = config.final_model_config(n_inputs=len(channels), n_classes=n_classes)
    model = VAEC(model_config, classes=split.classes)
    training = model.fit(config.final_strategy, data.X_train, data.y_train, data.X_val, data.y_val)
    # the domain of validity of the head: where the training rows sit in the neck
    model.fit_latent_domain(data.X_train, seed=model_config.seed)
    if "decoder" in get_strategy(config.final_strategy).trains:
        # a trained decoder reconstructs rows like the training rows: a second check
        model.fit_reconstruction_check(data.X_train)
    metrics: dict[str, float] = {}
    parts = [("val", data.X_val, data.y_val)]
    if data.X_test is not None:
        parts.append(("test", data.X_test, data.y_test))
    for name, X, y in parts:
        accuracy, f1 = _scores(y, model.predict(X), split.classes)
        metrics[f"{name}_accuracy"], metrics[f"{name}_f1"] = accuracy, f1
    return FinalModel(
        model=model,
        training=training,
        channels=list(channels),
        strategy=config.final_strategy,
        metrics=metrics,
        seconds=time.perf_counter() - start,
    )
