"""The final model: encoder + classifier head trained on the kept channels, and its folder.

A run saves it as ``final_model/``: the :class:`vaec.VAEC` files (``model.json``,
``weights.pt``), ``preprocessing.json`` (its channels, the training scaler's mean and scale for
them, the target column, the metrics) and ``history.csv``. :meth:`FinalModel.save` writes it and
:meth:`FinalModel.load` reads it back; nothing else knows the layout.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, ValidationError
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, mean_absolute_error, r2_score

from pipeline.data.split import SplitData
from pipeline.data.tables import DataError, require_columns
from pipeline.rounds.trials import final_model_config
from pipeline.settings import SelectionSettings
from vaec import VAEC, TrainingResult
from vaec.config import get_strategy, validation_message
from vaec.persistence import atomic_write_text

if TYPE_CHECKING:
    from pipeline.data.encoding import TableEncoder

MODEL_FOLDER, PREPROCESSING_FILE, HISTORY_FILE = "final_model", "preprocessing.json", "history.csv"


class Preprocessing(BaseModel):
    """The ``preprocessing.json`` of a final model folder: how raw rows become the model's inputs
    (the training scaler's ``mean`` and ``scale`` of every channel, a table's ``encoder``) and what
    the model measured."""

    channels: list[str]
    mean: list[Annotated[float, Field(allow_inf_nan=False)]]
    scale: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]]
    target: str | None = None
    target_mean: float = 0.0
    target_scale: float = 1.0
    strategy: str = ""
    metrics: dict[str, float] = {}
    encoder: dict[str, Any] | None = None


@dataclass
class FinalModel:
    """The model trained on the selected channels, how well it does, and how to feed it.

    Attributes
    ----------
    model, channels, strategy : VAEC, list of str, str
        The trained model (one replica), its input channels in order, and how it was trained.
    metrics : dict of str to float
        ``val_accuracy``, ``val_f1`` (and ``test_*`` when the split has a test part, touched only
        here), with ``*_balanced_accuracy`` when the classes are imbalanced or weighted by class; for
        regression ``val_r2``, ``val_mae`` (in the target's units); without a target the
        reconstruction's ``val_reconstruction_r2``, ...; every row weighted as the split weighs it.
    mean, scale : ndarray
        The training scaler's of ``channels``: raw values go in as ``(raw - mean) / scale``.
    target, target_mean, target_scale : str or None, float, float
        The target column; for regression the head predicts ``(y - target_mean) / target_scale``,
        and predictions are given back in the target's units.
    training, seconds : TrainingResult or None, float
        History, best epoch and latent snapshots of its training (``None`` when loaded), and its
        wall-clock seconds.
    encoder : TableEncoder or None
        How a raw table's columns become ``channels`` (categories, dates, gaps); ``None`` when
        the channels are the columns.
    """

    model: VAEC
    channels: list[str]
    strategy: str
    metrics: dict[str, float]
    mean: np.ndarray
    scale: np.ndarray
    target: str | None = None
    target_mean: float = 0.0
    target_scale: float = 1.0
    training: TrainingResult | None = field(default=None, repr=False)
    seconds: float = 0.0
    encoder: TableEncoder | None = None

    def scaled(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's channels of a raw table, standardised as in training (a table that was encoded
        is encoded the same way: unseen levels and gaps included)."""
        frame = frame.rename(columns=str)
        if self.encoder is not None and not set(self.channels) <= set(frame.columns):
            columns = list(self.encoder.encodings_)
            require_columns(frame, columns, "column(s) of the training table")
            frame = pd.DataFrame(self.encoder.transform(frame[columns]), index=frame.index,
                                 columns=self.encoder.channel_names_)
        require_columns(frame, self.channels, "of the model's channels")
        try:
            raw = frame[self.channels].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise DataError(f"the model's channels must be numeric: {err}") from err
        bad = [c for c, ok in zip(self.channels, np.isfinite(raw).all(axis=0), strict=True) if not ok]
        if bad:
            raise DataError(f"NaN or infinite values in: {', '.join(map(repr, bad))}")
        return (raw - self.mean) / self.scale

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the model folder (each file atomically) and return it."""
        folder = Path(folder)
        self.model.save(folder)
        stored = Preprocessing(
            channels=self.channels, mean=self.mean.tolist(), scale=self.scale.tolist(), target=self.target,
            target_mean=self.target_mean, target_scale=self.target_scale, strategy=self.strategy,
            metrics=self.metrics, encoder=None if self.encoder is None else self.encoder.to_dict())
        atomic_write_text(folder / PREPROCESSING_FILE, json.dumps(stored.model_dump(), indent=2))
        if self.training is not None:
            self.training.history.to_csv(folder / HISTORY_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> FinalModel:
        """Read a folder written by :meth:`save` (no code from the files is executed); a
        :class:`DataError` when it is not a final model folder or its files disagree."""
        folder = Path(folder)
        path = folder / PREPROCESSING_FILE
        if not path.is_file():
            raise DataError(f"not a final model folder: {path} is missing")
        try:
            stored = Preprocessing.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as err:
            reason = validation_message(err).strip() if isinstance(err, ValidationError) else err
            raise DataError(f"{path}: not a readable preprocessing file ({reason})".splitlines()[0]) from None
        model = VAEC.load(folder)
        if len({len(stored.channels), len(stored.mean), len(stored.scale), model.config.n_inputs}) != 1:
            raise DataError(f"{folder}: the model and {PREPROCESSING_FILE} disagree on the inputs")
        encoder = None  # the channels are the columns
        if stored.encoder is not None:
            from pipeline.data.encoding import TableEncoder

            try:
                encoder = TableEncoder.from_dict(stored.encoder)
            except (KeyError, TypeError, ValueError) as err:
                raise DataError(f"{path}: not a readable encoder ({type(err).__name__}: {err})") from err
        return cls(model=model, channels=stored.channels, strategy=stored.strategy, metrics=stored.metrics,
                   mean=np.asarray(stored.mean), scale=np.asarray(stored.scale), target=stored.target,
                   target_mean=stored.target_mean, target_scale=stored.target_scale, encoder=encoder)


def _scores(model: VAEC, split: SplitData, X: np.ndarray, y: np.ndarray | None,
            w: np.ndarray | None = None) -> dict[str, float]:
    """The task's scores in the target's units, rows weighted by ``w``: accuracy, F1 (and balanced
    accuracy when the split asks for it); R² and MAE; the reconstruction's R² and MAE."""
    if split.task.has_classes:
        y_pred = model.predict(X)
        binary = len(split.classes) == 2
        average = {"average": "binary", "pos_label": split.classes[1]} if binary else {"average": "macro"}
        f1 = f1_score(y, y_pred, zero_division=0, sample_weight=w, **average)
        scores = {"accuracy": float(accuracy_score(y, y_pred, sample_weight=w)), "f1": float(f1)}
        if split.balanced:
            with warnings.catch_warnings():  # a class absent from these rows: left out
                warnings.simplefilter("ignore", UserWarning)
                scores["balanced_accuracy"] = float(balanced_accuracy_score(y, y_pred, sample_weight=w))
        return scores
    if split.task.has_values:
        y_pred = model.predict(X) * split.target_scale + split.target_mean
        return {"r2": float(r2_score(y, y_pred, sample_weight=w)),
                "mae": float(mean_absolute_error(y, y_pred, sample_weight=w))}
    reconstruction = model.reconstruct(X)
    return {"reconstruction_r2": float(r2_score(X, reconstruction, sample_weight=w)),
            "reconstruction_mae": float(mean_absolute_error(X, reconstruction, sample_weight=w))}


def fit_final_model(split: SplitData, channels: Sequence[str], config: SelectionSettings,
                    on_epoch: Callable[[int, int], None] | None = None) -> FinalModel:
    """Train ``config.final_strategy`` on ``channels`` (the autoencoder without a target); best epoch
    by the task's validation score."""
    start = time.perf_counter()
    data = split.columns(list(channels))
    model_config = final_model_config(config, n_inputs=len(channels), n_classes=split.n_classes,
                                      n_rows=len(data.X_train), task=split.task)
    model = VAEC(model_config, classes=split.classes)
    # without a target the final model is the autoencoder
    strategy = config.final_strategy if split.task.has_target else "autoencoder"
    training = model.fit(strategy, data.X_train, split.head_target(data.y_train), data.X_val,
                         split.head_target(data.y_val), on_epoch=on_epoch,
                         row_weights=None if data.w_train is None else data.w_train[None],
                         val_row_weights=None if data.w_val is None else data.w_val[None])
    # the domain of validity of the head: where the training rows sit in the neck
    model.fit_latent_domain(data.X_train, seed=model_config.seed)
    if "decoder" in get_strategy(strategy).trains:
        # a trained decoder reconstructs rows like the training rows: a second check
        model.fit_reconstruction_check(data.X_train)
    parts = [("val", data.X_val, data.y_val, data.w_val), ("test", data.X_test, data.y_test, data.w_test)]
    metrics = {f"{name}_{k}": v for name, X, y, w in parts if X is not None
               for k, v in _scores(model, split, X, y, w).items()}
    return FinalModel(
        model=model, channels=list(channels), strategy=strategy, metrics=metrics,
        mean=data.scaler.mean_.copy(), scale=data.scaler.scale_.copy(), target=split.target,
        target_mean=split.target_mean, target_scale=split.target_scale, training=training,
        seconds=time.perf_counter() - start,
        encoder=None if split.encoder is None or split.encoder.channels_are_columns else split.encoder)


def predictions_frame(final: FinalModel, frame: pd.DataFrame, n_sigma: float = 3.0) -> pd.DataFrame:
    """Predictions of ``final`` on a raw table with their latent-domain confidence: the columns of
    :meth:`vaec.VAEC.predict_with_confidence`, indexed like ``frame``."""
    columns = final.model.predict_with_confidence(final.scaled(frame), n_sigma=n_sigma)
    predictions = pd.DataFrame(columns, index=frame.index)
    if "prediction" in predictions:  # regression: back in the target's units
        predictions["prediction"] = predictions["prediction"] * final.target_scale + final.target_mean
    return predictions

