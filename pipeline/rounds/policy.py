"""How the round models (and the final model) train, and which rows they are scored on.

Round models need their final weights and scores, not learning curves: they keep their last
weights (a channel is scored on the converged model, not at the early epoch where validation F1
happens to peak), record the validation split every :data:`ROUND_EVAL_EVERY` epochs only, and
stop once the validation loss has not improved for :data:`ROUND_PATIENCE` epochs. Tables with
more than :data:`TALL_ROWS` training rows train on seeded shuffled mini-batches
(:func:`tall_batch_size`): a full-batch step per epoch would need hundreds of epochs over a tall
table, a mini-batch epoch converges in tens; the batch grows with the table so that an epoch is
about :data:`TALL_STEPS` steps (a step's cost is mostly fixed overhead until the batch is large).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.settings import SelectionSettings
from vaec.config import VAECConfig
from vaec.tasks import CLASSIFICATION, Task

ROUND_EVAL_EVERY, ROUND_PATIENCE = 10, 60
# the round models evaluate the validation rows only: their training curves are never drawn
ROUND_TRAIN_METRICS = False
TALL_ROWS = 2048
TALL_BATCH, MAX_BATCH, TALL_STEPS = 256, 8192, 48
TALL_LEARNING_RATE = 2e-3
TALL_EVAL_EVERY, TALL_PATIENCE = 2, 10
# A round on a tall table trains for at most this many optimizer steps (and at least
# TALL_MIN_EPOCHS epochs): each epoch sees many rows, and a round needs scores, not the last
# digit of the loss.
ROUND_STEPS, TALL_MIN_EPOCHS = 1500, 5
# The final model on a tall table records its training metrics on this many of the training
# rows (a fixed seeded subset): evaluating all of them every epoch cost about as much as
# training (200k x 50: 51 s of the final model's time).
TALL_METRIC_ROWS = 16_384
# Rows behind importance and shared R²: all of them up to a budget of rows x columns (the cost
# of the scoring pass), never fewer than MIN_SCORING_ROWS.
SCORING_BUDGET = 1_000_000
MIN_SCORING_ROWS, MAX_SCORING_ROWS = 500, 4000
# Validation rows the accuracy guard compares (a fixed seeded subset of a larger split: the same
# rows in every round).
GUARD_ROWS = 5000


def tall_batch_size(n_rows: int) -> int:
    """Mini-batch rows for a table of ``n_rows`` training rows: a power of two near
    ``n_rows / TALL_STEPS``, within ``[TALL_BATCH, MAX_BATCH]``."""
    target = max(n_rows / TALL_STEPS, 1.0)
    return int(min(MAX_BATCH, max(TALL_BATCH, 2 ** round(math.log2(target)))))


def _tall(epochs: int, n_rows: int, rounds: bool) -> dict[str, Any]:
    if n_rows <= TALL_ROWS:
        return {}
    batch = tall_batch_size(n_rows)
    options: dict[str, Any] = {"batch_size": batch, "learning_rate": TALL_LEARNING_RATE}
    if not rounds:
        return options | {"train_metrics_rows": TALL_METRIC_ROWS}
    # a mini-batch epoch is many steps: look and give up sooner
    steps_per_epoch = math.ceil(n_rows / batch)
    return options | {"eval_every": TALL_EVAL_EVERY, "early_stopping_patience": TALL_PATIENCE,
                      "epochs": min(epochs, max(TALL_MIN_EPOCHS, math.ceil(ROUND_STEPS / steps_per_epoch)))}


def round_model_config(
    settings: SelectionSettings, n_inputs: int, n_classes: int, round_index: int,
    n_rows: int = 0, task: Task = CLASSIFICATION, on_path: bool = False,
) -> VAECConfig:
    """The model config of one pruning round (replica ``r`` is seeded ``seed + 1000 k + r``).

    A round that tests channels against shadows scores the last epoch's weights; a round on
    the minimal-subset path (``on_path``) the best epoch's, since its loss per row is the point
    of the count curve that rounds of different counts are compared by: the last epoch's
    weights wander by more than the rows' standard error (on breast_cancer the 1-SE count
    ranged over 8-30 channels by seed, 6-23 with the best epoch's weights)."""
    options = {**settings.model.model_dump(), "restore_best": on_path,
               "train_metrics": ROUND_TRAIN_METRICS,
               "eval_every": ROUND_EVAL_EVERY, "early_stopping_on": "loss",
               "early_stopping_patience": ROUND_PATIENCE,
               **_tall(settings.model.epochs, n_rows, rounds=True)}
    return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, task=task,
                      seed=settings.seed + 1000 * round_index, **options)


def final_model_config(
    settings: SelectionSettings, n_inputs: int, n_classes: int, n_rows: int = 0,
    task: Task = CLASSIFICATION,
) -> VAECConfig:
    """The config of the final model on the kept channels (mini-batches past
    :data:`TALL_ROWS` training rows, as the rounds)."""
    options = {**settings.final.model_dump(), **_tall(settings.final.epochs, n_rows, rounds=False)}
    return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, task=task, seed=settings.seed,
                      **options)


def scoring_rows(
    X_train: np.ndarray,
    y_train: np.ndarray | None,
    X_val: np.ndarray,
    y_val: np.ndarray | None,
    seed: int,
    w_train: np.ndarray | None = None,
    w_val: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The rows behind importance and shared R²: training and validation rows together, with
    their weights (``None`` when the rows carry none).

    Every row counts: on a small table the validation rows alone leave the test with little
    power, and weakly relevant channels would be lost to noise. Scoring rows the models trained
    on is fair here because the shadows are trained on them too: a model that memorised its
    training rows favours shadows as much as real channels, and each channel is judged against
    the shadows. Past a budget of :data:`SCORING_BUDGET` rows x columns (at least
    :data:`MIN_SCORING_ROWS`, at most :data:`MAX_SCORING_ROWS` rows) a seeded subset is taken:
    the scores are means over rows, and more rows only cost time.
    """
    X = np.vstack([X_train, X_val])
    y = None if y_train is None else np.concatenate([y_train, y_val])
    w = None if w_train is None else np.concatenate([w_train, w_val])
    n_rows = int(np.clip(SCORING_BUDGET // X.shape[1], MIN_SCORING_ROWS, MAX_SCORING_ROWS))
    if len(X) > n_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), n_rows, replace=False))
        X, y, w = X[keep], (None if y is None else y[keep]), (None if w is None else w[keep])
    return X, y, w


def guard_rows(n_val: int, seed: int) -> np.ndarray | None:
    """The validation rows the guard compares (``None``: all of them)."""
    if n_val <= GUARD_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_val, GUARD_ROWS, replace=False))
